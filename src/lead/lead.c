/* lead.c: a submission becomes a lead; see lead.h for the rules. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/jsonr.h"
#include "leadd/jsonw.h"
#include "leadd/lead.h"
#include "leadd/strutil.h"

const char *const lead_attr_names[ATTR_COUNT] = {
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "gclid",      "gbraid",     "wbraid",       "fbclid",   "msclkid",
    "li_fat_id",  "ttclid",     "hutk",         "referrer", "landing_page",
};

int lead_attr_index(const char *name)
{
    for (int i = 0; i < ATTR_COUNT; i++) {
        if (!strcmp(lead_attr_names[i], name))
            return i;
    }
    return -1;
}

int submission_add(struct submission *s, const char *name, size_t nlen, const char *val,
                   size_t vlen, enum input_kind kind)
{
    if (s->n >= LEAD_MAX_INPUTS) {
        s->too_many = true;
        return 0;
    }
    if (s->n == s->alloc) {
        size_t a = s->alloc ? s->alloc * 2 : 16;
        struct input_field *v = realloc(s->in, a * sizeof(*v));
        if (!v)
            return LEADD_ENOMEM;
        s->in = v;
        s->alloc = a;
    }
    struct input_field *f = &s->in[s->n];
    f->name = str_dupn(name, nlen);
    f->val = str_dupn(val, vlen);
    f->len = vlen;
    f->kind = kind;
    if (!f->name || !f->val) {
        free(f->name);
        free(f->val);
        return LEADD_ENOMEM;
    }
    s->n++;
    return 0;
}

void submission_release(struct submission *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->in[i].name);
        free(s->in[i].val);
    }
    free(s->in);
    free(s->referer);
    free(s->user_agent);
    memset(s, 0, sizeof(*s));
}

const char *const field_code_names[FIELD_CODE_COUNT] = {"required", "invalid", "too_long",
                                                        "too_short", "out_of_range"};

void lead_error_add(struct lead_errors *e, const char *field, enum field_code code, const char *msg)
{
    if (e->n == LEAD_MAX_ERRORS)
        return;
    struct field_error *fe = &e->v[e->n++];
    snprintf(fe->field, sizeof(fe->field), "%s", field);
    fe->code = field_code_names[code];
    snprintf(fe->message, sizeof(fe->message), "%s", msg);
}

static const char *LONG_MSG = "is too long";

/* Checks length options of text-like types, in characters. */
static bool check_len(const struct field_spec *sp, const char *s, size_t n, struct lead_errors *e)
{
    size_t chars = utf8_chars(s, n);
    char msg[96];
    if (sp->has_max && (double)chars > sp->max) {
        snprintf(msg, sizeof(msg), "must be at most %.0f characters", sp->max);
        lead_error_add(e, sp->name, FIELD_TOO_LONG, msg);
        return false;
    }
    if (sp->has_min && (double)chars < sp->min) {
        snprintf(msg, sizeof(msg), "must be at least %.0f characters", sp->min);
        lead_error_add(e, sp->name, FIELD_TOO_SHORT, msg);
        return false;
    }
    return true;
}

static bool check_range(const struct field_spec *sp, double v, struct lead_errors *e)
{
    char msg[96];
    if ((sp->has_min && v < sp->min) || (sp->has_max && v > sp->max)) {
        if (sp->has_min && sp->has_max)
            snprintf(msg, sizeof(msg), "must be between %.15g and %.15g", sp->min, sp->max);
        else if (sp->has_min)
            snprintf(msg, sizeof(msg), "must be at least %.15g", sp->min);
        else
            snprintf(msg, sizeof(msg), "must be at most %.15g", sp->max);
        lead_error_add(e, sp->name, FIELD_OUT_OF_RANGE, msg);
        return false;
    }
    return true;
}

/* Fills *v from one input (or none); returns LEADD_ENOMEM only, field problems go to e. */
static int take_value(const struct field_spec *sp, const struct input_field *in, struct value *v,
                      struct lead_errors *e)
{
    const char *s = in ? in->val : "";
    size_t n = in ? in->len : 0;
    int rc = 0; /* a normaliser's answer */
    char *norm = NULL;

    if (in && in->kind == IN_COMPOSITE) {
        lead_error_add(e, sp->name, FIELD_INVALID,
                       "must be a single value, not an object or array");
        return 0;
    }
    if (in && in->kind == IN_NULL)
        n = 0;
    str_trim(&s, &n);
    if (n == 0) {
        if (sp->required)
            lead_error_add(e, sp->name, FIELD_REQUIRED, "is required");
        return 0;
    }
    if (!utf8_valid(s, n)) {
        lead_error_add(e, sp->name, FIELD_INVALID, "is not valid UTF-8 text");
        return 0;
    }
    bool is_bool = in->kind == IN_BOOL;
    switch (sp->type) {
    case FT_TEXT:
        if (!check_len(sp, s, n, e))
            return 0;
        norm = str_dupn(s, n);
        break;
    case FT_EMAIL:
    case FT_PHONE:
    case FT_URL:
        rc = sp->type == FT_EMAIL   ? norm_email(s, n, &norm)
             : sp->type == FT_PHONE ? norm_phone(s, n, &norm)
                                    : norm_url(s, n, &norm);
        if (rc == LEADD_ENOMEM)
            return rc;
        if (!rc && !check_len(sp, norm, sp->type == FT_URL ? n : strlen(norm), e)) {
            free(norm);
            return 0;
        }
        break;
    case FT_INTEGER: {
        long long i;
        double d;
        if (!is_bool && parse_ll(s, n, &i)) {
            d = (double)i;
        } else if (!is_bool && parse_double(s, n, &d) && d == floor(d) &&
                   fabs(d) < 9007199254740992.0) {
            i = (long long)d;
        } else {
            lead_error_add(e, sp->name, FIELD_INVALID, "must be a whole number");
            return 0;
        }
        if (!check_range(sp, d, e))
            return 0;
        v->kind = VAL_INT;
        v->i = i;
        return 0;
    }
    case FT_NUMBER: {
        double d;
        if (is_bool || !parse_double(s, n, &d)) {
            lead_error_add(e, sp->name, FIELD_INVALID, "must be a number");
            return 0;
        }
        if (!check_range(sp, d, e))
            return 0;
        v->kind = VAL_NUM;
        v->d = d;
        return 0;
    }
    case FT_BOOL:
    case FT_CONSENT: {
        int t = in->kind == IN_NUM ? -1 : norm_truth(s, n);
        if (t < 0) {
            lead_error_add(e, sp->name, FIELD_INVALID, "must be true or false");
            return 0;
        }
        if (sp->type == FT_CONSENT && !t && sp->required) {
            lead_error_add(e, sp->name, FIELD_REQUIRED, "must be given");
            return 0;
        }
        v->kind = VAL_BOOL;
        v->b = t;
        return 0;
    }
    case FT_ENUM:
        for (size_t c = 0; c < sp->nchoices; c++) {
            if (str_ieqn(sp->choices[c], s, n)) {
                norm = strdup(sp->choices[c]);
                goto store;
            }
        }
        rc = LEADD_EINVAL;
        break;
    }
    if (rc) {
        char msg[160];
        if (rc == LEADD_ETOOBIG)
            snprintf(msg, sizeof(msg), "%s", LONG_MSG);
        else if (sp->type == FT_EMAIL)
            snprintf(msg, sizeof(msg), "is not a valid email address");
        else if (sp->type == FT_PHONE)
            snprintf(msg, sizeof(msg), "is not a valid phone number (7 to 15 digits)");
        else if (sp->type == FT_URL)
            snprintf(msg, sizeof(msg), "is not a valid http or https URL");
        else
            snprintf(msg, sizeof(msg), "must be one of the listed choices");
        lead_error_add(e, sp->name, rc == LEADD_ETOOBIG ? FIELD_TOO_LONG : FIELD_INVALID, msg);
        return 0;
    }
store:
    if (!norm)
        return LEADD_ENOMEM;
    v->kind = VAL_STR;
    v->s = norm;
    return 0;
}

/* Clipped, trimmed copy of an attribution or header value; NULL when empty. */
static int take_text(char **dst, const char *s, size_t n, size_t max)
{
    str_trim(&s, &n);
    free(*dst);
    *dst = NULL;
    if (n == 0)
        return 0;
    n = utf8_clip(s, n, max);
    return (*dst = str_dupn(s, n)) ? 0 : LEADD_ENOMEM;
}

/* The campaign parameters (utm_* and the click ids) of the landing
 * page's URL, for those the post did not carry: without JavaScript they
 * reach leadd only there. */
static int attr_from_landing_page(struct lead *l)
{
    const char *url = l->attr[ATTR_LANDING_PAGE], *q = url ? strchr(url, '?') : NULL;
    if (!q)
        return 0;
    size_t end = strcspn(++q, "#");
    while (end) {
        size_t n = strcspn(q, "&");
        n = n < end ? n : end;
        const char *eq = memchr(q, '=', n);
        char name[16];
        size_t kn = eq ? (size_t)(eq - q) : 0;
        if (eq && kn < sizeof(name)) {
            memcpy(name, q, kn);
            name[kn] = '\0';
            int a = lead_attr_index(name);
            if (a >= 0 && a <= ATTR_CLICK_LAST && !l->attr[a]) {
                char *v = str_dupn(eq + 1, n - kn - 1);
                if (!v)
                    return LEADD_ENOMEM;
                size_t vn = url_decode(v, strlen(v));
                int rc = utf8_valid(v, vn) ? take_text(&l->attr[a], v, vn, LEAD_MAX_ATTR_LEN) : 0;
                free(v);
                if (rc)
                    return rc;
            }
        }
        q += n;
        end -= n;
        if (end) { /* the & */
            q++;
            end--;
        }
    }
    return 0;
}

static int take_extra(struct lead *l, const struct input_field *in, struct lead_errors *e)
{
    const char *s = in->val;
    size_t n = in->len;
    if (in->kind == IN_NULL)
        return 0;
    if (strlen(in->name) > LEAD_MAX_NAME_LEN || !utf8_valid(in->name, strlen(in->name))) {
        lead_error_add(e, "extra", FIELD_INVALID,
                       "an undeclared field has a name over 100 characters");
        return 0;
    }
    if (in->kind == IN_COMPOSITE) {
        lead_error_add(e, in->name, FIELD_INVALID,
                       "must be a single value, not an object or array");
        return 0;
    }
    str_trim(&s, &n);
    if (!utf8_valid(s, n)) {
        lead_error_add(e, in->name, FIELD_INVALID, "is not valid UTF-8 text");
        return 0;
    }
    if (utf8_chars(s, n) > LEAD_MAX_EXTRA_LEN) {
        lead_error_add(e, in->name, FIELD_TOO_LONG, "must be at most 1000 characters");
        return 0;
    }
    size_t i;
    for (i = 0; i < l->nextra; i++) {
        if (!strcmp(l->extra[i].name, in->name))
            break;
    }
    if (n == 0)
        return 0;
    if (i == l->nextra) {
        if (l->nextra == LEAD_MAX_EXTRA) {
            if (!e->n || strcmp(e->v[e->n - 1].field, "extra"))
                lead_error_add(e, "extra", FIELD_INVALID, "at most 50 undeclared fields are kept");
            return 0;
        }
        l->extra[i].name = strdup(in->name);
        l->extra[i].val = NULL;
        if (!l->extra[i].name)
            return LEADD_ENOMEM;
        l->nextra++;
    }
    free(l->extra[i].val);
    l->extra[i].kind = in->kind == IN_NUM || in->kind == IN_BOOL ? in->kind : IN_STR;
    l->extra[i].len = n;
    return (l->extra[i].val = str_dupn(s, n)) ? 0 : LEADD_ENOMEM;
}

int lead_build(struct lead *l, const struct form *f, const struct submission *s,
               const struct strset *disposable_default, struct lead_errors *e)
{
    int rc = LEADD_ENOMEM;
    int *last = NULL;
    memset(l, 0, sizeof(*l));
    e->n = 0;
    l->form = f;
    l->grade = lead_grade_names[LEAD_GRADE_COLD];
    l->vals = calloc(f->nfields ? f->nfields : 1, sizeof(*l->vals));
    l->extra = calloc(LEAD_MAX_EXTRA, sizeof(*l->extra));
    last = malloc((f->nfields ? f->nfields : 1) * sizeof(*last));
    if (!l->vals || !l->extra || !last)
        goto out;
    for (size_t k = 0; k < f->nfields; k++)
        last[k] = -1;
    if (s->too_many)
        lead_error_add(e, "body", FIELD_INVALID, "too many fields (at most 200)");

    for (size_t i = 0; i < s->n; i++) {
        const struct input_field *in = &s->in[i];
        int k;
        if (in->kind == IN_FILE) {
            lead_error_add(e, in->name, FIELD_INVALID, "file uploads are not accepted");
        } else if (f->honeypot && !strcmp(in->name, f->honeypot)) {
            const char *v = in->val;
            size_t n = in->len;
            str_trim(&v, &n);
            if (n && in->kind != IN_NULL)
                l->flags |= LEAD_FLAG_HONEYPOT;
        } else if (in->name[0] == '_' || captcha_field(in->name)) {
            long long ms;
            if (!strcmp(in->name, "_elapsed_ms") && f->min_fill_ms > 0 &&
                parse_ll(in->val, in->len, &ms) && ms < f->min_fill_ms)
                l->flags |= LEAD_FLAG_TOO_FAST;
        } else if ((k = form_field(f, in->name)) >= 0) {
            last[k] = (int)i;
        } else if ((k = lead_attr_index(in->name)) >= 0) {
            if (in->kind != IN_COMPOSITE && utf8_valid(in->val, in->len) &&
                take_text(&l->attr[k], in->val, in->len, LEAD_MAX_ATTR_LEN))
                goto out;
        } else if (take_extra(l, in, e)) {
            goto out;
        }
    }
    for (size_t k = 0; k < f->nfields; k++) {
        if (take_value(&f->fields[k], last[k] >= 0 ? &s->in[last[k]] : NULL, &l->vals[k], e))
            goto out;
    }
    if (e->n) {
        rc = LEADD_EINVAL;
        goto out;
    }
    /* The Referer of a form post is the page the form is on: it stands in for
     * landing_page when the page's script sent none (no JavaScript), never
     * for referrer, which is the page before it (the script's
     * document.referrer; empty for a direct visit). */
    if (!l->attr[ATTR_LANDING_PAGE] && s->referer && utf8_valid(s->referer, strlen(s->referer)) &&
        take_text(&l->attr[ATTR_LANDING_PAGE], s->referer, strlen(s->referer), LEAD_MAX_ATTR_LEN))
        goto out;
    if (attr_from_landing_page(l))
        goto out;
    if (s->user_agent && take_text(&l->user_agent, s->user_agent, strlen(s->user_agent), 512))
        goto out;
    if (s->ip[0] && !(l->ip = strdup(s->ip)))
        goto out;
    const char *email = lead_email(l);
    if (email && domain_listed(f->disposable_path ? &f->disposable : disposable_default, email))
        l->flags |= LEAD_FLAG_DISPOSABLE;
    rc = 0;
out:
    free(last);
    if (rc)
        lead_release(l);
    return rc;
}

void lead_release(struct lead *l)
{
    if (l->vals && l->form) {
        for (size_t k = 0; k < l->form->nfields; k++)
            free(l->vals[k].s);
    }
    free(l->vals);
    if (l->extra) {
        for (size_t i = 0; i < l->nextra; i++) {
            free(l->extra[i].name);
            free(l->extra[i].val);
        }
    }
    free(l->extra);
    for (int a = 0; a < ATTR_COUNT; a++)
        free(l->attr[a]);
    free(l->ip);
    free(l->user_agent);
    free(l->reasons);
    memset(l, 0, sizeof(*l));
}

const char *lead_email(const struct lead *l)
{
    for (size_t k = 0; k < l->form->nfields; k++) {
        if (l->form->fields[k].type == FT_EMAIL && l->vals[k].kind == VAL_STR)
            return l->vals[k].s;
    }
    return NULL;
}

const struct value *lead_value(const struct lead *l, const char *name)
{
    int k = form_field(l->form, name);
    return k >= 0 && l->vals[k].kind != VAL_ABSENT ? &l->vals[k] : NULL;
}

static int value_json(struct buf *b, const struct value *v)
{
    switch (v->kind) {
    case VAL_STR: return jw_str(b, v->s);
    case VAL_INT: return jw_int(b, v->i);
    case VAL_NUM: return jw_num(b, v->d);
    case VAL_BOOL: return jw_bool(b, v->b);
    case VAL_ABSENT: break;
    }
    return buf_adds(b, "null");
}

int lead_fields_json(const struct lead *l, struct buf *b)
{
    bool first = true;
    buf_addc(b, '{');
    for (size_t k = 0; k < l->form->nfields; k++) {
        if (l->vals[k].kind == VAL_ABSENT)
            continue;
        jw_key(b, l->form->fields[k].name, first);
        value_json(b, &l->vals[k]);
        first = false;
    }
    return buf_addc(b, '}');
}

int lead_extra_json(const struct lead *l, struct buf *b)
{
    buf_addc(b, '{');
    for (size_t i = 0; i < l->nextra; i++) {
        const struct input_field *x = &l->extra[i];
        jw_key(b, x->name, i == 0);
        /* JSON numbers and booleans keep their type; their text came from our own
         * formatting of a parsed JSON value, so it is valid JSON. */
        if (x->kind == IN_NUM || x->kind == IN_BOOL)
            buf_add(b, x->val, x->len);
        else
            jw_strn(b, x->val, x->len);
    }
    return buf_addc(b, '}');
}

int lead_attr_json(const struct lead *l, struct buf *b)
{
    bool first = true;
    buf_addc(b, '{');
    for (int a = 0; a < ATTR_COUNT; a++) {
        if (!l->attr[a])
            continue;
        jw_key(b, lead_attr_names[a], first);
        jw_str(b, l->attr[a]);
        first = false;
    }
    return buf_addc(b, '}');
}

int lead_attr_erased(const char *json, size_t n, struct buf *b)
{
    static const int KEEP[] = {ATTR_UTM_SOURCE, ATTR_UTM_MEDIUM, ATTR_UTM_CAMPAIGN, ATTR_REFERRER,
                               ATTR_LANDING_PAGE};
    struct jr_key keys[LEADD_ARRAY_LEN(KEEP)];
    struct jr_value v[LEADD_ARRAY_LEN(KEEP)];
    for (size_t i = 0; i < LEADD_ARRAY_LEN(KEEP); i++)
        keys[i] = (struct jr_key){lead_attr_names[KEEP[i]], strlen(lead_attr_names[KEEP[i]])};
    int rc = jr_pick(json, n, keys, LEADD_ARRAY_LEN(KEEP), v);
    struct buf t = BUF_INIT(LEAD_MAX_ATTR_LEN * 6 + 16);
    bool first = true;
    buf_addc(b, '{');
    for (size_t i = 0; !rc && i < LEADD_ARRAY_LEN(KEEP); i++) {
        if (v[i].kind != 's' || (rc = jr_unescape(&v[i], &t)))
            continue;
        const char *s = buf_str(&t);
        size_t len = t.len;
        if (KEEP[i] == ATTR_REFERRER || KEEP[i] == ATTR_LANDING_PAGE)
            len = strcspn(s, "?#");
        if (!len)
            continue;
        jw_key(b, keys[i].name, first);
        jw_strn(b, s, len);
        first = false;
    }
    buf_release(&t);
    buf_addc(b, '}');
    return rc ? rc : buf_error(b);
}

int lead_client_json(const struct lead *l, struct buf *b)
{
    buf_adds(b, "{\"ip\":");
    jw_str(b, l->ip);
    buf_adds(b, ",\"user_agent\":");
    jw_str(b, l->user_agent);
    return buf_addc(b, '}');
}

const char *const lead_status_names[LEAD_STATUS_COUNT] = {"new", "contacted", "converted",
                                                          "rejected", "unconfirmed"};
const char *const lead_grade_names[LEAD_GRADE_COUNT] = {"hot", "warm", "cold"};

const char *const lead_flag_names[LEAD_FLAG_COUNT] = {
    "honeypot",    "too_fast",           "duplicate",        "disposable_email",
    "marked_spam", "captcha_unverified", "consent_withdrawn"};
_Static_assert(LEAD_FLAG_CONSENT_WITHDRAWN == 1u << (LEAD_FLAG_COUNT - 1), "one name per flag bit");

/* The fields each widget posts its token in; _captcha for any. */
static const char *const CAPTCHA_FIELDS[] = {
    [CAPTCHA_OFF] = "_captcha",
    [CAPTCHA_TURNSTILE] = "cf-turnstile-response",
    [CAPTCHA_HCAPTCHA] = "h-captcha-response",
    [CAPTCHA_RECAPTCHA] = "g-recaptcha-response",
};

bool captcha_field(const char *name)
{
    for (size_t i = 0; i < LEADD_ARRAY_LEN(CAPTCHA_FIELDS); i++) {
        if (!strcmp(name, CAPTCHA_FIELDS[i]))
            return true;
    }
    return false;
}

const char *captcha_token(const struct submission *s, enum captcha_kind k, size_t *len)
{
    const struct input_field *found = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const struct input_field *in = &s->in[i];
        if (in->kind == IN_STR && in->len &&
            (!strcmp(in->name, CAPTCHA_FIELDS[k]) || !strcmp(in->name, CAPTCHA_FIELDS[0])))
            found = in;
    }
    *len = found ? found->len : 0;
    return found ? found->val : NULL;
}

bool lead_unconfirmed(const struct lead *l)
{
    return l->status && !strcmp(l->status, lead_status_names[LEAD_STATUS_UNCONFIRMED]);
}

bool lead_held(const struct lead *l)
{
    return (l->flags & (LEAD_FLAGS_SPAM | LEAD_FLAG_CONSENT_WITHDRAWN)) || lead_unconfirmed(l);
}

int lead_flags_json(unsigned flags, struct buf *b)
{
    bool first = true;
    buf_addc(b, '[');
    for (unsigned i = 0; i < LEAD_FLAG_COUNT; i++) {
        if (!(flags & (1u << i)))
            continue;
        if (!first)
            buf_addc(b, ',');
        jw_str(b, lead_flag_names[i]);
        first = false;
    }
    return buf_addc(b, ']');
}

int lead_reasons_json(const struct lead *l, struct buf *b)
{
    buf_addc(b, '[');
    for (size_t i = 0; i < l->nreasons; i++) {
        buf_adds(b, i ? ",{\"rule\":" : "{\"rule\":");
        jw_str(b, l->reasons[i].rule);
        buf_addf(b, ",\"points\":%lld}", l->reasons[i].points);
    }
    return buf_addc(b, ']');
}
