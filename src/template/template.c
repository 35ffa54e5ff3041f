/* template.c: see template.h. A compiled template keeps the parsed
 * document; every placeholder in it was checked at compile time, so
 * rendering walks the document and substitutes, and cannot meet an unknown
 * path or filter. */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leadd/crypto.h"
#include "leadd/log.h"
#include "leadd/strutil.h"
#include "leadd/template.h"

#define MAX_FILTERS 8
#define MAX_PATH 128
#define MAX_ARG 256

struct template
{
    enum template_kind kind;
    enum template_escape esc;
    json_t *root;                  /* JSON and form templates */
    char *text;                    /* text templates */
    struct template_field *fields; /* each fields.NAME it reads, once */
    size_t nfields;
    bool reads_ip; /* {{ip}}: the sender looks up the lead's address only then */
};

enum filter {
    F_FIRST_NAME,
    F_LAST_NAME,
    F_LOWER,
    F_UPPER,
    F_LOCAL_PART,
    F_DEFAULT,
    F_ELSE,
    F_RAW,
    F_SHA256, /* hex SHA-256: the ad platforms' hashed identifiers */
    F_DIGITS, /* the digits alone: a phone as Meta hashes it */
    F_UNIX,   /* an RFC 3339 time as Unix seconds (a number) */
};
static const char *const FILTERS[] = {"first_name", "last_name", "lower", "upper",
                                      "local_part", "default",   "else",  "raw",
                                      "sha256",     "digits",    "unix"};

struct placeholder {
    char path[MAX_PATH];
    struct {
        enum filter f;
        char arg[MAX_ARG];
    } filters[MAX_FILTERS];
    size_t nfilters;
};

/* The paths a lead has at its top level, and the prefixes of named ones. */
static const char *const TOP[] = {
    "id",        "form",         "created_at",  "score",         "grade",
    "qualified", "status",       "flags",       "score_reasons", "duplicate_of",
    "url",       "reasons_text", "fields_text", "value",         "currency",
    "owner",     "ip",           "page_name",   "event_at"};
static const char *const PREFIXES[] = {"fields.", "extra.", "attribution.", "crm_ids.", "var."};

/* Parses the inside of {{ }} at s[0..n). */
static int ph_parse(const char *s, size_t n, struct placeholder *ph, char *why, size_t whylen)
{
    memset(ph, 0, sizeof(*ph));
    const char *end = s + n;
    for (int part = 0; s <= end; part++) {
        const char *bar = memchr(s, '|', (size_t)(end - s));
        /* a quoted default may hold a bar: skip to after its closing quote */
        const char *q = memchr(s, '"', (size_t)(end - s));
        if (q && bar && q < bar) {
            const char *q2 = memchr(q + 1, '"', (size_t)(end - q - 1));
            bar = q2 ? memchr(q2, '|', (size_t)(end - q2)) : NULL;
        }
        const char *stop = bar ? bar : end;
        const char *w = s;
        size_t wn = (size_t)(stop - s);
        str_trim(&w, &wn);
        if (part == 0) {
            if (!wn || wn >= MAX_PATH) {
                snprintf(why, whylen, "empty or over-long path");
                return LEADD_EINVAL;
            }
            memcpy(ph->path, w, wn);
        } else {
            if (ph->nfilters == MAX_FILTERS) {
                snprintf(why, whylen, "more than %d filters", MAX_FILTERS);
                return LEADD_EINVAL;
            }
            size_t k = 0;
            for (; k < LEADD_ARRAY_LEN(FILTERS); k++) {
                size_t fl = strlen(FILTERS[k]);
                bool takes_arg = k == F_DEFAULT || k == F_ELSE;
                if (wn >= fl && !memcmp(w, FILTERS[k], fl) &&
                    (takes_arg ? wn > fl && w[fl] == ':' : wn == fl))
                    break;
            }
            if (k == LEADD_ARRAY_LEN(FILTERS)) {
                snprintf(why, whylen,
                         "unknown filter '%.*s' (first_name, last_name, lower, upper, local_part, "
                         "default:\"text\", else:PATH, raw)",
                         (int)wn, w);
                return LEADD_EINVAL;
            }
            ph->filters[ph->nfilters].f = (enum filter)k;
            const char *a = w + strlen(FILTERS[k]) + 1;
            size_t an = wn - strlen(FILTERS[k]) - 1;
            if (k == F_DEFAULT) {
                if (an < 2 || a[0] != '"' || a[an - 1] != '"' || an - 2 >= MAX_ARG) {
                    snprintf(why, whylen, "default needs quoted text: default:\"...\"");
                    return LEADD_EINVAL;
                }
                memcpy(ph->filters[ph->nfilters].arg, a + 1, an - 2);
            } else if (k == F_ELSE) {
                str_trim(&a, &an);
                if (!an || an >= MAX_ARG) {
                    snprintf(why, whylen, "else needs a path: else:fields.email");
                    return LEADD_EINVAL;
                }
                memcpy(ph->filters[ph->nfilters].arg, a, an);
            }
            ph->nfilters++;
        }
        if (!bar)
            break;
        s = bar + 1;
    }
    return 0;
}

static bool path_known(const char *path, const struct template_var *vars, size_t nvars, char *why,
                       size_t whylen)
{
    if (str_index(path, TOP, LEADD_ARRAY_LEN(TOP)) >= 0)
        return true;
    for (size_t i = 0; i < LEADD_ARRAY_LEN(PREFIXES); i++) {
        size_t pl = strlen(PREFIXES[i]);
        if (strncmp(path, PREFIXES[i], pl) || !path[pl])
            continue;
        if (i + 1 < LEADD_ARRAY_LEN(PREFIXES))
            return true;
        for (size_t v = 0; v < nvars; v++) {
            if (!strcmp(vars[v].name, path + pl))
                return true;
        }
        snprintf(why, whylen, "'%s' names no var.%s line of this webhook", path, path + pl);
        return false;
    }
    snprintf(why, whylen,
             "unknown path '%s' (id, form, created_at, score, grade, qualified, status, flags, "
             "score_reasons, duplicate_of, url, fields.NAME, extra.NAME, attribution.NAME, "
             "crm_ids.NAME, var.NAME)",
             path);
    return false;
}

/* Calls fn for each {{...}} in s; stops at the first error. */
typedef int (*ph_fn)(const struct placeholder *ph, const char *src, size_t srclen, void *arg);
static int each_placeholder(const char *s, ph_fn fn, void *arg, char *why, size_t whylen,
                            const char **where)
{
    for (const char *p = strstr(s, "{{"); p; p = strstr(p, "{{")) {
        const char *e = strstr(p + 2, "}}");
        *where = p;
        if (!e) {
            snprintf(why, whylen, "'{{' without '}}'");
            return LEADD_EINVAL;
        }
        struct placeholder ph;
        int rc = ph_parse(p + 2, (size_t)(e - p - 2), &ph, why, whylen);
        if (rc || (rc = fn(&ph, p, (size_t)(e + 2 - p), arg)))
            return rc;
        p = e + 2;
    }
    return 0;
}

struct check {
    const struct template_var *vars;
    size_t nvars;
    char *why;
    size_t whylen;
    struct template *t; /* its fields.NAME paths, with their lines, go here */
    const char *text;
    size_t len;
};

static int line_of(const char *text, size_t len, const char *needle);

/* Notes path when it is a fields.NAME one (its first line in the text). */
static int note_field(struct check *c, const char *path, const char *src, size_t srclen)
{
    c->t->reads_ip |= !strcmp(path, "ip");
    if (strncmp(path, "fields.", 7))
        return 0;
    for (size_t i = 0; i < c->t->nfields; i++) {
        if (!strcmp(c->t->fields[i].name, path + 7))
            return 0;
    }
    struct template_field *v = realloc(c->t->fields, (c->t->nfields + 1) * sizeof(*v));
    if (!v)
        return LEADD_ENOMEM;
    c->t->fields = v;
    char needle[512];
    snprintf(needle, sizeof(needle), "%.*s", (int)srclen, src);
    snprintf(v[c->t->nfields].name, sizeof(v[0].name), "%s", path + 7);
    v[c->t->nfields++].line = line_of(c->text, c->len, needle);
    return 0;
}

static int check_ph(const struct placeholder *ph, const char *src, size_t srclen, void *arg)
{
    struct check *c = arg;
    if (!path_known(ph->path, c->vars, c->nvars, c->why, c->whylen))
        return LEADD_EINVAL;
    int rc = note_field(c, ph->path, src, srclen);
    for (size_t i = 0; !rc && i < ph->nfilters; i++) {
        if (ph->filters[i].f != F_ELSE)
            continue;
        if (!path_known(ph->filters[i].arg, c->vars, c->nvars, c->why, c->whylen))
            return LEADD_EINVAL;
        rc = note_field(c, ph->filters[i].arg, src, srclen);
    }
    return rc;
}

/* The line of the first occurrence of needle in text (1 when not found). */
static int line_of(const char *text, size_t len, const char *needle)
{
    const char *hit = needle && *needle ? memmem(text, len, needle, strlen(needle)) : NULL;
    int line = 1;
    for (const char *p = text; hit && p < hit; p++)
        line += *p == '\n';
    return line;
}

/* Checks every string (and, in a form template, that the object is flat). */
static int check_node(json_t *n, enum template_kind kind, bool top, struct check *c,
                      const char **where)
{
    if (json_is_string(n))
        return each_placeholder(json_string_value(n), check_ph, c, c->why, c->whylen, where);
    if (kind == TEMPLATE_FORM && !top) {
        snprintf(c->why, c->whylen, "a form template is one flat object of text values");
        return LEADD_EINVAL;
    }
    if (json_is_object(n)) {
        const char *k;
        json_t *v;
        json_object_foreach(n, k, v)
        {
            *where = k;
            int rc = check_node(v, kind, false, c, where);
            if (rc)
                return rc;
        }
    } else if (json_is_array(n)) {
        size_t i;
        json_t *v;
        json_array_foreach(n, i, v)
        {
            int rc = check_node(v, kind, false, c, where);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int template_compile(struct template **out, enum template_kind kind, const char *text, size_t len,
                     const char *file, const struct template_var *vars, size_t nvars, char *err,
                     size_t errlen)
{
    char why[512] = "";
    const char *where = NULL;
    struct template *t = calloc(1, sizeof(*t));
    struct check c = {vars, nvars, why, sizeof(why), t, text, len};
    int rc = LEADD_ENOMEM, line = 1;
    *out = NULL;
    if (!t)
        return rc;
    t->kind = kind;
    if (kind == TEMPLATE_TEXT) {
        if (!(t->text = str_dupn(text, len)))
            goto fail;
        rc = each_placeholder(t->text, check_ph, &c, why, sizeof(why), &where);
        if (rc)
            line = line_of(text, len, where ? where : "");
    } else {
        json_error_t je;
        t->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!t->root) {
            snprintf(why, sizeof(why), "not JSON: %s", je.text);
            line = je.line > 0 ? je.line : 1;
            rc = LEADD_EINVAL;
        } else if (kind == TEMPLATE_FORM && !json_is_object(t->root)) {
            snprintf(why, sizeof(why), "a form template is one flat object of text values");
            rc = LEADD_EINVAL;
        } else if ((rc = check_node(t->root, kind, true, &c, &where))) {
            /* where: the placeholder's text, or the key it sits under */
            char needle[256];
            snprintf(needle, sizeof(needle), "%.*s", (int)strcspn(where ? where : "", "}"),
                     where ? where : "");
            line = line_of(text, len, needle);
        }
    }
    if (rc == LEADD_EINVAL) {
        snprintf(err, errlen, "%s:%d: %s", file, line, why);
        goto fail;
    }
    if (rc)
        goto fail;
    *out = t;
    return 0;
fail:
    template_free(&t);
    return rc;
}

void template_free(struct template **tp)
{
    struct template *t = *tp;
    if (!t)
        return;
    json_decref(t->root);
    free(t->text);
    free(t->fields);
    free(t);
    *tp = NULL;
}

bool template_reads_ip(const struct template *t)
{
    return t && t->reads_ip;
}

const struct template_field *template_fields(const struct template *t, size_t *n)
{
    *n = t->nfields;
    return t->fields;
}

enum template_kind template_kind(const struct template *t)
{
    return t->kind;
}

void template_set_escape(struct template *t, enum template_escape esc)
{
    t->esc = esc;
}

/* ---- rendering ---- */

struct render {
    const struct template_ctx *c;
    json_t *lead;
    enum template_escape esc;
    int rc;
    bool in_array; /* the object being rendered is an array's element */
};

/* s escaped for esc, as a new JSON string (NULL: out of memory). Slack's
 * mrkdwn and HTML both read & < > as markup: "<!channel>" is a mention,
 * "<https://x|text>" a link whose address the reader does not see. */
static json_t *escaped(const char *s, size_t n, enum template_escape esc)
{
    struct buf b = BUF_INIT(6 * n + 1);
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': buf_adds(&b, "&amp;"); break;
        case '<': buf_adds(&b, "&lt;"); break;
        case '>': buf_adds(&b, "&gt;"); break;
        case '"': buf_adds(&b, esc == TEMPLATE_ESC_HTML ? "&quot;" : "\""); break;
        case '\'': buf_adds(&b, esc == TEMPLATE_ESC_HTML ? "&#39;" : "'"); break;
        default: buf_addc(&b, s[i]);
        }
    }
    json_t *v = buf_error(&b) ? NULL : json_stringn(buf_str(&b), b.len);
    buf_release(&b);
    return v;
}

/* A value as text (a new string): strings as they are, others as JSON. */
static char *as_text(json_t *v)
{
    if (json_is_string(v))
        return str_dupn(json_string_value(v), json_string_length(v));
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The value at a path, as a new reference, or NULL when absent. */
static json_t *lookup(struct render *r, const char *path)
{
    const struct template_ctx *c = r->c;
    if (!strcmp(path, "url")) {
        const char *id = json_string_value(json_object_get(r->lead, "id"));
        if (!id || !c->public_url || !*c->public_url)
            return NULL;
        char url[1024];
        size_t pl = strlen(c->public_url);
        while (pl && c->public_url[pl - 1] == '/')
            pl--;
        snprintf(url, sizeof(url), "%.*s/app/leads/%s", (int)pl, c->public_url, id);
        return json_string(url);
    }
    if (!strcmp(path, "ip") || !strcmp(path, "page_name") || !strcmp(path, "event_at")) {
        const char *v = path[0] == 'i' ? c->ip : path[0] == 'p' ? c->page_name : c->event_at;
        return v && *v ? json_string(v) : NULL;
    }
    if (!strcmp(path, "reasons_text")) { /* "has_company +20, free_mail -15" */
        json_t *rs = json_object_get(r->lead, "score_reasons"), *x;
        size_t i;
        struct buf b = BUF_INIT(64 * 1024);
        json_array_foreach(rs, i, x)
        {
            long long pts = json_integer_value(json_object_get(x, "points"));
            buf_addf(&b, "%s%s %s%lld", i ? ", " : "",
                     json_string_value(json_object_get(x, "rule"))
                         ? json_string_value(json_object_get(x, "rule"))
                         : "?",
                     pts >= 0 ? "+" : "", pts);
        }
        json_t *v = b.len && !buf_error(&b) ? json_stringn(buf_str(&b), b.len) : NULL;
        buf_release(&b);
        return v;
    }
    if (!strcmp(path, "fields_text")) { /* one "name: value" line a field */
        json_t *fs = json_object_get(r->lead, "fields"), *x;
        const char *k;
        struct buf b = BUF_INIT(256 * 1024);
        json_object_foreach(fs, k, x)
        {
            char *t = as_text(x);
            buf_addf(&b, "%s: %s\n", k, t ? t : "");
            free(t);
        }
        json_t *v = b.len && !buf_error(&b) ? json_stringn(buf_str(&b), b.len) : NULL;
        buf_release(&b);
        return v;
    }
    if (!strncmp(path, "var.", 4)) {
        for (size_t i = 0; i < c->nvars; i++) {
            if (!strcmp(c->vars[i].name, path + 4))
                return json_string(c->vars[i].value);
        }
        return NULL;
    }
    json_t *v = r->lead;
    const char *dot = strchr(path, '.');
    if (dot) {
        char top[32];
        snprintf(top, sizeof(top), "%.*s", (int)(dot - path), path);
        v = json_object_get(v, top);
        path = dot + 1;
    }
    v = json_object_get(v, path);
    return v && !json_is_null(v) ? json_incref(v) : NULL;
}

static json_t *apply_filters(struct render *r, json_t *v, const struct placeholder *ph)
{
    for (size_t i = 0; i < ph->nfilters; i++) {
        enum filter f = ph->filters[i].f;
        if (f == F_DEFAULT || f == F_ELSE) {
            if (!v || (json_is_string(v) && !json_string_length(v))) {
                json_decref(v);
                v = f == F_DEFAULT ? json_string(ph->filters[i].arg)
                                   : lookup(r, ph->filters[i].arg);
            }
            continue;
        }
        if (!v || f == F_RAW)
            continue;
        char *s = as_text(v);
        json_decref(v);
        v = NULL;
        if (!s)
            return NULL;
        char *res = s;
        if (f == F_FIRST_NAME || f == F_LAST_NAME) {
            const char *t = s;
            size_t n = strlen(s);
            str_trim(&t, &n);
            size_t first = strcspn(t, " \t");
            if (first >= n) /* one word: a last name */
                res = f == F_LAST_NAME ? str_dupn(t, n) : strdup("");
            else if (f == F_FIRST_NAME)
                res = str_dupn(t, first);
            else {
                const char *rest = t + first;
                size_t rn = n - first;
                str_trim(&rest, &rn);
                res = str_dupn(rest, rn);
            }
            free(s);
        } else if (f == F_LOCAL_PART) {
            s[strcspn(s, "@")] = '\0';
        } else if (f == F_SHA256) {
            res = malloc(CRYPTO_SHA256_HEX_LEN);
            if (res && crypto_sha256_hex(s, res)) {
                free(res);
                res = NULL;
            }
            free(s);
        } else if (f == F_DIGITS) {
            size_t k = 0;
            for (char *p = s; *p; p++)
                if (*p >= '0' && *p <= '9')
                    s[k++] = *p;
            s[k] = '\0';
        } else if (f == F_UNIX) {
            int64_t ms;
            bool ok = !rfc3339_parse(s, &ms);
            free(s);
            v = ok ? json_integer((json_int_t)(ms / 1000)) : NULL;
            continue; /* a number, or nothing */
        } else {
            for (char *p = s; *p; p++) {
                if (f == F_LOWER && *p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
                else if (f == F_UPPER && *p >= 'a' && *p <= 'z')
                    *p = (char)(*p - 'a' + 'A');
            }
        }
        if (!res)
            return NULL;
        v = json_string(res);
        free(res);
    }
    return v;
}

/* A placeholder's value: its filters applied, then (a string, unless the
 * placeholder says raw) escaped for the target's markup. */
static json_t *ph_value(struct render *r, const struct placeholder *ph)
{
    json_t *v = apply_filters(r, lookup(r, ph->path), ph);
    bool raw = false;
    for (size_t i = 0; i < ph->nfilters; i++)
        raw |= ph->filters[i].f == F_RAW;
    if (v && r->esc != TEMPLATE_ESC_NONE && !raw && json_is_string(v)) {
        json_t *e = escaped(json_string_value(v), json_string_length(v), r->esc);
        json_decref(v);
        if (!(v = e))
            r->rc = LEADD_ENOMEM;
    }
    return v;
}

struct interp {
    struct render *r;
    struct buf *b;
    const char *from;  /* text not yet copied */
    const char *start; /* a text template's start: its first line is a mail header; else NULL */
};

static int interp_ph(const struct placeholder *ph, const char *src, size_t srclen, void *arg)
{
    struct interp *in = arg;
    buf_add(in->b, in->from, (size_t)(src - in->from));
    in->from = src + srclen;
    json_t *v = ph_value(in->r, ph);
    if (v) {
        char *s = as_text(v);
        /* On the Subject line a value stays on it, whole: line breaks and
         * other control characters become spaces (no header is cut short,
         * and none can be added). */
        if (s && in->start && !memchr(in->start, '\n', (size_t)(src - in->start)))
            for (char *p = s; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                    *p = ' ';
        if (s)
            buf_adds(in->b, s);
        else
            in->r->rc = LEADD_ENOMEM;
        free(s);
        json_decref(v);
    }
    return in->r->rc;
}

/* A string with its placeholders replaced by their values as text; header:
 * s is a text template, whose first line is the mail's Subject header. */
static int interpolate(struct render *r, const char *s, struct buf *b, bool header)
{
    char why[128];
    const char *where;
    struct interp in = {r, b, s, header ? s : NULL};
    int rc = each_placeholder(s, interp_ph, &in, why, sizeof(why), &where);
    buf_adds(b, in.from);
    return rc ? rc : buf_error(b);
}

/* Whether s is exactly one placeholder; parsed into ph when it is. */
static bool whole_placeholder(const char *s, struct placeholder *ph)
{
    size_t n = strlen(s);
    char why[64];
    if (n < 4 || strncmp(s, "{{", 2) || strcmp(s + n - 2, "}}"))
        return false;
    const char *inner = strstr(s + 2, "{{"), *close = strstr(s + 2, "}}");
    if (inner || close != s + n - 2)
        return false;
    return ph_parse(s + 2, n - 4, ph, why, sizeof(why)) == 0;
}

/* The rendered value of a template node; NULL: leave it out. */
static json_t *render_node(struct render *r, json_t *n)
{
    if (json_is_string(n)) {
        const char *s = json_string_value(n);
        struct placeholder ph;
        if (whole_placeholder(s, &ph))
            return ph_value(r, &ph);
        if (!strstr(s, "{{"))
            return json_incref(n);
        struct buf b = BUF_INIT(1 << 20);
        int rc = interpolate(r, s, &b, false);
        json_t *v = rc ? NULL : json_stringn(buf_str(&b), b.len);
        if (rc || !v)
            r->rc = rc ? rc : LEADD_ENOMEM;
        buf_release(&b);
        return v;
    }
    if (json_is_object(n)) {
        json_t *o = json_object();
        const char *k;
        json_t *v;
        size_t holes = 0, filled = 0; /* its members that are placeholders */
        bool element = r->in_array;
        r->in_array = false;
        json_object_foreach(n, k, v)
        {
            json_t *x = render_node(r, v);
            bool ph = json_is_string(v) && strstr(json_string_value(v), "{{");
            holes += ph;
            filled += ph && x;
            if (x && json_object_set_new(o, k, x))
                r->rc = LEADD_ENOMEM;
        }
        /* In an array, an element whose every placeholder had no value is
         * left out whole ({"name":"phone","value":"{{fields.phone}}"}
         * without a phone), as a member is. */
        if (element && holes && !filled) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    if (json_is_array(n)) {
        json_t *a = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(n, i, v)
        {
            bool was = r->in_array;
            r->in_array = json_is_object(v);
            json_t *x = render_node(r, v);
            r->in_array = was;
            if (x && json_array_append_new(a, x))
                r->rc = LEADD_ENOMEM;
        }
        return a;
    }
    return json_incref(n);
}

/* application/x-www-form-urlencoded: unreserved bytes as they are, space as
 * '+', the rest as %XX. */
static void form_escape(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch))
            buf_addc(b, (char)ch);
        else if (ch == ' ')
            buf_addc(b, '+');
        else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            buf_add(b, e, 3);
        }
    }
}

int template_render(const struct template *t, const struct template_ctx *c, struct buf *out)
{
    json_error_t je;
    struct render r = {c, json_loadb(c->lead_json, c->lead_len, 0, &je), t->esc, 0, false};
    if (!r.lead)
        return LEADD_EINVAL;
    if (t->kind == TEMPLATE_TEXT) {
        r.rc = interpolate(&r, t->text, out, true);
    } else {
        json_t *body = render_node(&r, t->root);
        if (!body && !r.rc) /* the whole document is a placeholder with no value */
            body = json_null();
        if (!body) {
            r.rc = r.rc ? r.rc : LEADD_ENOMEM;
        } else if (t->kind == TEMPLATE_JSON) {
            char *s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
            if (s)
                buf_adds(out, s);
            else
                r.rc = LEADD_ENOMEM;
            free(s);
        } else {
            const char *k;
            json_t *v;
            bool first = true;
            json_object_foreach(body, k, v)
            {
                char *s = as_text(v);
                if (!s) {
                    r.rc = LEADD_ENOMEM;
                    break;
                }
                if (!first)
                    buf_addc(out, '&');
                form_escape(out, k);
                buf_addc(out, '=');
                form_escape(out, s);
                free(s);
                first = false;
            }
        }
        json_decref(body);
    }
    json_decref(r.lead);
    return r.rc ? r.rc : buf_error(out);
}

int template_json_path(const char *json, size_t len, const char *path, char *out, size_t cap)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je), *v = root;
    int rc = LEADD_ENOTFOUND;
    if (!root)
        return LEADD_EINVAL;
    for (const char *p = path; v && *p;) {
        size_t n = strcspn(p, ".");
        char seg[128];
        snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
        long long i;
        if (json_is_array(v) && parse_ll(seg, strlen(seg), &i) && i >= 0)
            v = json_array_get(v, (size_t)i);
        else
            v = json_object_get(v, seg);
        p += n + (p[n] == '.');
    }
    if (json_is_string(v)) {
        snprintf(out, cap, "%s", json_string_value(v));
        rc = 0;
    } else if (json_is_integer(v)) {
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
        rc = 0;
    } else if (json_is_real(v)) {
        snprintf(out, cap, "%.17g", json_real_value(v));
        rc = 0;
    }
    json_decref(root);
    return rc;
}
