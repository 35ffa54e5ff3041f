/* score.c: scoring rules; see score.h for the grammar. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "leadd/score.h"
#include "leadd/strutil.h"

#define MAX_WORDS 64

static const struct {
    const char *text;
    enum rule_op op;
} CMP[] = {{"=", RULE_OP_EQ},  {"!=", RULE_OP_NE}, {">", RULE_OP_GT},
           {">=", RULE_OP_GE}, {"<", RULE_OP_LT},  {"<=", RULE_OP_LE}};

static void rule_free(struct rule *r)
{
    free(r->name);
    free(r->field);
    for (size_t i = 0; i < r->nvals; i++)
        free(r->vals[i]);
    free(r->vals);
    memset(r, 0, sizeof(*r));
}

static int add_val(struct rule *r, const char *s, bool lower)
{
    char **v = realloc(r->vals, (r->nvals + 1) * sizeof(*v));
    if (!v)
        return LEADD_ENOMEM;
    r->vals = v;
    if (!(v[r->nvals] = strdup(s)))
        return LEADD_ENOMEM;
    if (lower)
        str_lower(v[r->nvals]);
    r->nvals++;
    return 0;
}

static int cmp_op(const char *w)
{
    for (size_t i = 0; i < LEADD_ARRAY_LEN(CMP); i++) {
        if (!strcmp(w, CMP[i].text))
            return (int)CMP[i].op;
    }
    return -1;
}

/* Parses CONDITION text[0..len) into r (name set to name); r is released on
 * error. */
static int parse_condition(struct rule *r, const char *name, const char *text, size_t len,
                           char *err, size_t errlen)
{
    char tmp[1024], *w[MAX_WORDS];
    size_t nw = 0;
    int rc = LEADD_EINVAL, op;
    if (len >= sizeof(tmp)) {
        snprintf(err, errlen, "'%s' is too long", name);
        return rc;
    }
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    for (char *save = NULL, *t = strtok_r(tmp, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (nw == MAX_WORDS) {
            snprintf(err, errlen, "'%s' has too many words", name);
            return rc;
        }
        w[nw++] = t;
    }
    if (nw < 2)
        goto syntax;
    if (!(r->name = strdup(name)) || !(r->field = strdup(w[0]))) {
        rc = LEADD_ENOMEM;
        goto out;
    }
    size_t first_val = 2;
    if (nw == 2 && !strcmp(w[1], "present")) {
        r->op = RULE_OP_PRESENT;
    } else if (nw == 2 && !strcmp(w[1], "absent")) {
        r->op = RULE_OP_ABSENT;
    } else if (nw >= 3 && !strcmp(w[1], "in")) {
        r->op = RULE_OP_IN;
    } else if (nw >= 4 && !strcmp(w[1], "domain") && !strcmp(w[2], "in")) {
        r->op = RULE_OP_DOMAIN_IN;
        first_val = 3;
    } else if (nw == 3 && !strcmp(w[1], "contains")) {
        r->op = RULE_OP_CONTAINS;
    } else if (nw == 4 && !strcmp(w[1], "length") && (op = cmp_op(w[2])) >= 0) {
        r->op = (enum rule_op)op;
        r->length = true;
        first_val = 3;
    } else if (nw == 3 && (op = cmp_op(w[1])) >= 0) {
        r->op = (enum rule_op)op;
    } else {
        goto syntax;
    }
    for (size_t i = first_val; i < nw; i++) {
        if (add_val(r, w[i],
                    r->op == RULE_OP_IN || r->op == RULE_OP_DOMAIN_IN ||
                        r->op == RULE_OP_CONTAINS)) {
            rc = LEADD_ENOMEM;
            goto out;
        }
    }
    if (r->nvals == 1)
        r->is_num = parse_double(r->vals[0], strlen(r->vals[0]), &r->num);
    if ((r->length || (r->op >= RULE_OP_GT && r->op <= RULE_OP_LE)) && !r->is_num) {
        snprintf(err, errlen, "'%s': '%s' needs a number", name, w[nw - 2]);
        goto out;
    }
    return 0;
syntax:
    /* Say what was written and, where a word gives it away, what to write. */
    for (size_t i = 0; i < nw; i++) {
        if (!strcasecmp(w[i], "or")) {
            snprintf(err, errlen,
                     "'%s': 'or' is not supported: the tests of a condition all hold (joined"
                     " by 'and'); for either of two, write two rules (or two targets, or"
                     " FIELD in a b)",
                     name);
            goto out;
        }
    }
    if (nw == 3 && (!strcmp(w[1], "is") || !strcmp(w[1], "==") || !strcmp(w[1], "equals")))
        snprintf(err, errlen, "'%s': '%s %s %s': write '%s = %s'", name, w[0], w[1], w[2], w[0],
                 w[2]);
    else
        snprintf(err, errlen,
                 "'%s': cannot read condition '%.*s' (FIELD present|absent, FIELD = v, FIELD >= n,"
                 " FIELD in a b, FIELD domain in d, FIELD length >= n, FIELD contains w)",
                 name, (int)(len > 200 ? 200 : len), text);
out:
    rule_free(r);
    return rc;
}

int score_rule_add(struct form *f, const char *name, const char *text, char *err, size_t errlen)
{
    struct rule r = {0};
    char why[512];
    int rc = LEADD_EINVAL;

    if (f->nrules == SCORE_MAX_RULES) {
        snprintf(err, errlen, "too many scoring rules (at most %d)", SCORE_MAX_RULES);
        return rc;
    }
    for (size_t i = 0; i < f->nrules; i++) {
        if (!strcmp(f->rules[i].name, name)) {
            snprintf(err, errlen, "rule '%s' is defined twice", name);
            return rc;
        }
    }
    const char *arrow = strstr(text, "=>");
    if (!arrow || strstr(arrow + 2, "=>")) {
        snprintf(err, errlen, "rule '%s': expected 'CONDITION => POINTS'", name);
        return rc;
    }
    long long pts;
    const char *ps = arrow + 2;
    size_t pn = strlen(ps);
    str_trim(&ps, &pn);
    if (!parse_ll(ps, pn, &pts) || pts < -1000000 || pts > 1000000) {
        snprintf(err, errlen, "rule '%s': points must be a whole number, got '%.*s'", name, (int)pn,
                 ps);
        return rc;
    }
    if ((rc = parse_condition(&r, name, text, (size_t)(arrow - text), why, sizeof(why)))) {
        snprintf(err, errlen, "rule %s", why);
        return rc;
    }
    r.points = pts;
    struct rule *v = realloc(f->rules, (f->nrules + 1) * sizeof(*v));
    if (!v) {
        rule_free(&r);
        return LEADD_ENOMEM;
    }
    f->rules = v;
    v[f->nrules++] = r;
    return 0;
}

int condition_parse(struct condition *c, const char *text, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    for (const char *p = text;;) {
        /* The next " and " (a word of its own) ends this condition. */
        const char *a = p;
        for (;;) {
            a = strstr(a, "and");
            if (!a || ((a == p || a[-1] == ' ' || a[-1] == '\t') && (a[3] == ' ' || a[3] == '\t')))
                break;
            a += 3;
        }
        size_t n = a ? (size_t)(a - p) : strlen(p);
        if (c->n == SCORE_MAX_RULES) {
            snprintf(err, errlen, "too many conditions (at most %d)", SCORE_MAX_RULES);
            condition_release(c);
            return LEADD_EINVAL;
        }
        struct rule *v = realloc(c->v, (c->n + 1) * sizeof(*v));
        if (!v) {
            condition_release(c);
            return LEADD_ENOMEM;
        }
        c->v = v;
        memset(&v[c->n], 0, sizeof(v[c->n]));
        char name[32];
        snprintf(name, sizeof(name), "condition %zu", c->n + 1);
        int rc = parse_condition(&v[c->n], name, p, n, err, errlen);
        if (rc) {
            condition_release(c);
            return rc;
        }
        c->n++;
        if (!a)
            return 0;
        p = a + 3;
    }
}

bool condition_matches(const struct condition *c, const struct lead *l)
{
    for (size_t i = 0; i < c->n; i++) {
        if (!score_rule_matches(&c->v[i], l))
            return false;
    }
    return true;
}

void condition_release(struct condition *c)
{
    for (size_t i = 0; i < c->n; i++)
        rule_free(&c->v[i]);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

static const char *const SPECIAL_FIELDS[] = {"score", "grade", "form", "status"};

bool condition_field_known(const struct form *f, const char *field)
{
    return form_field(f, field) >= 0 || lead_attr_index(field) >= 0 ||
           str_index(field, SPECIAL_FIELDS, LEADD_ARRAY_LEN(SPECIAL_FIELDS)) >= 0;
}

int condition_values_check(const struct form *f, const struct rule *r, char *err, size_t errlen)
{
    if (r->op != RULE_OP_EQ && r->op != RULE_OP_NE && r->op != RULE_OP_IN)
        return 0;
    const char *const *allowed = NULL;
    size_t nallowed = 0;
    int k = form_field(f, r->field);
    if (!strcmp(r->field, "grade"))
        allowed = lead_grade_names, nallowed = LEAD_GRADE_COUNT;
    else if (!strcmp(r->field, "status"))
        allowed = lead_status_names, nallowed = LEAD_STATUS_COUNT;
    else if (k >= 0 && f->fields[k].type == FT_ENUM)
        allowed = (const char *const *)f->fields[k].choices, nallowed = f->fields[k].nchoices;
    for (size_t i = 0; i < r->nvals; i++) {
        const char *v = r->vals[i];
        double num;
        if (k >= 0 && (f->fields[k].type == FT_INTEGER || f->fields[k].type == FT_NUMBER) &&
            !parse_double(v, strlen(v), &num)) {
            snprintf(err, errlen,
                     "'%s': %s is a number field, and '%s' is not a number: it never matches",
                     r->name, r->field, v);
            return LEADD_EINVAL;
        }
        bool ok = !allowed;
        for (size_t a = 0; a < nallowed && !ok; a++)
            ok = !strcasecmp(v, allowed[a]);
        if (ok)
            continue;
        char list[512] = "";
        for (size_t a = 0; a < nallowed; a++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", a ? ", " : "",
                     allowed[a]);
        snprintf(err, errlen, "'%s': %s is never '%s' (it is one of: %s)", r->name, r->field, v,
                 list);
        return LEADD_EINVAL;
    }
    return 0;
}

int score_rule_check(const struct form *f, const struct rule *r, char *err, size_t errlen)
{
    int k = form_field(f, r->field);
    if (k < 0 && lead_attr_index(r->field) < 0) {
        snprintf(err, errlen, "rule '%s': '%s' is neither a declared field nor an attribution name",
                 r->name, r->field);
        return LEADD_EINVAL;
    }
    if (r->op == RULE_OP_DOMAIN_IN && (k < 0 || f->fields[k].type != FT_EMAIL)) {
        snprintf(err, errlen, "rule '%s': 'domain in' needs an email field", r->name);
        return LEADD_EINVAL;
    }
    char why[600];
    if (condition_values_check(f, r, why, sizeof(why))) {
        snprintf(err, errlen, "rule %s", why);
        return LEADD_EINVAL;
    }
    return 0;
}

void score_rules_release(struct form *f)
{
    for (size_t i = 0; i < f->nrules; i++)
        rule_free(&f->rules[i]);
    free(f->rules);
    f->rules = NULL;
    f->nrules = 0;
}

static bool compare(enum rule_op op, double a, double b)
{
    switch (op) {
    case RULE_OP_EQ: return a == b;
    case RULE_OP_NE: return a != b;
    case RULE_OP_GT: return a > b;
    case RULE_OP_GE: return a >= b;
    case RULE_OP_LT: return a < b;
    case RULE_OP_LE: return a <= b;
    default: return false;
    }
}

bool score_rule_matches(const struct rule *r, const struct lead *l)
{
    char text[64];
    const char *s = NULL;
    double num = 0;
    bool have_num = false;
    const struct value *v = lead_value(l, r->field);
    if (v) {
        switch (v->kind) {
        case VAL_STR: s = v->s; break;
        case VAL_INT:
            snprintf(text, sizeof(text), "%lld", v->i);
            s = text, num = (double)v->i, have_num = true;
            break;
        case VAL_NUM:
            snprintf(text, sizeof(text), "%.15g", v->d);
            s = text, num = v->d, have_num = true;
            break;
        case VAL_BOOL: s = v->b ? "true" : "false"; break;
        case VAL_ABSENT: break;
        }
    } else if (lead_attr_index(r->field) >= 0) {
        s = l->attr[lead_attr_index(r->field)];
    } else if (!strcmp(r->field, "score")) {
        snprintf(text, sizeof(text), "%lld", l->score);
        s = text, num = (double)l->score, have_num = true;
    } else if (!strcmp(r->field, "grade")) {
        s = l->grade;
    } else if (!strcmp(r->field, "form")) {
        s = l->form->id;
    } else if (!strcmp(r->field, "status")) {
        s = l->status ? l->status : lead_status_names[LEAD_STATUS_NEW];
    }
    if (r->op == RULE_OP_PRESENT || r->op == RULE_OP_ABSENT)
        return (s != NULL) == (r->op == RULE_OP_PRESENT);
    if (!s)
        return false;
    if (!have_num)
        have_num = parse_double(s, strlen(s), &num);
    switch (r->op) {
    case RULE_OP_IN:
        for (size_t i = 0; i < r->nvals; i++) {
            if (!strcasecmp(s, r->vals[i]))
                return true;
        }
        return false;
    case RULE_OP_DOMAIN_IN: {
        const char *d = strrchr(s, '@');
        for (d = d ? d + 1 : NULL; d; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
            for (size_t i = 0; i < r->nvals; i++) {
                if (!strcasecmp(d, r->vals[i]))
                    return true;
            }
        }
        return false;
    }
    case RULE_OP_CONTAINS: return strcasestr(s, r->vals[0]) != NULL;
    default: break;
    }
    if (r->length)
        return compare(r->op, (double)utf8_chars(s, strlen(s)), r->num);
    if (r->is_num && have_num)
        return compare(r->op, num, r->num);
    if (r->op == RULE_OP_EQ || r->op == RULE_OP_NE)
        return (strcasecmp(s, r->vals[0]) == 0) == (r->op == RULE_OP_EQ);
    return false;
}

const char *score_grade(const struct form *f, long long score)
{
    if (score >= f->grade_hot)
        return lead_grade_names[LEAD_GRADE_HOT];
    if (score >= f->grade_warm)
        return lead_grade_names[LEAD_GRADE_WARM];
    return lead_grade_names[LEAD_GRADE_COLD];
}

int score_lead(struct lead *l)
{
    const struct form *f = l->form;
    free(l->reasons);
    l->reasons = NULL;
    l->nreasons = 0;
    l->score = 0;
    if (f->nrules && !(l->reasons = calloc(f->nrules, sizeof(*l->reasons))))
        return LEADD_ENOMEM;
    for (size_t i = 0; i < f->nrules; i++) {
        if (score_rule_matches(&f->rules[i], l)) {
            l->reasons[l->nreasons].rule = f->rules[i].name;
            l->reasons[l->nreasons++].points = f->rules[i].points;
            l->score += f->rules[i].points;
        }
    }
    l->grade = score_grade(f, l->score);
    /* a withdrawn consent stops forwarding (lead_held), not the score's verdict */
    l->qualified =
        l->score >= f->qualify_at && !(l->flags & LEAD_FLAGS_SPAM) && !lead_unconfirmed(l);
    return 0;
}

int assign_rule_add(struct form *f, const char *name, const char *text, char *err, size_t errlen)
{
    const char *arrow = strstr(text, "=>");
    if (!arrow || strstr(arrow + 2, "=>")) {
        snprintf(err, errlen, "assign.%s: expected 'CONDITION => USER...'", name);
        return LEADD_EINVAL;
    }
    char cond[1024];
    if ((size_t)(arrow - text) >= sizeof(cond)) {
        snprintf(err, errlen, "assign.%s is too long", name);
        return LEADD_EINVAL;
    }
    memcpy(cond, text, (size_t)(arrow - text));
    cond[arrow - text] = '\0';
    struct assign_rule *v = realloc(f->assign, (f->nassign + 1) * sizeof(*v));
    if (!v)
        return LEADD_ENOMEM;
    f->assign = v;
    struct assign_rule *a = &v[f->nassign];
    memset(a, 0, sizeof(*a));
    char why[512];
    int rc = condition_parse(&a->cond, cond, why, sizeof(why));
    if (rc) {
        snprintf(err, errlen, "assign.%s: %s", name, why);
        return rc;
    }
    rc = LEADD_ENOMEM;
    if (!(a->name = strdup(name)))
        goto fail;
    for (const char *p = arrow + 2; *p;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t");
        if (!n)
            break;
        char **u = realloc(a->users, (a->nusers + 1) * sizeof(*u));
        if (!u)
            goto fail;
        a->users = u;
        if (!(u[a->nusers] = strndup(p, n)))
            goto fail;
        a->nusers++;
        p += n;
    }
    if (!a->nusers) {
        snprintf(err, errlen, "assign.%s: name at least one user after '=>'", name);
        rc = LEADD_EINVAL;
        goto fail;
    }
    f->nassign++;
    return 0;
fail:
    condition_release(&a->cond);
    free(a->name);
    for (size_t i = 0; i < a->nusers; i++)
        free(a->users[i]);
    free(a->users);
    return rc;
}

void assign_rules_release(struct form *f)
{
    for (size_t i = 0; i < f->nassign; i++) {
        struct assign_rule *a = &f->assign[i];
        condition_release(&a->cond);
        free(a->name);
        for (size_t k = 0; k < a->nusers; k++)
            free(a->users[k]);
        free(a->users);
    }
    free(f->assign);
    f->assign = NULL;
    f->nassign = 0;
}

const char *assign_owner(const struct form *f, const struct lead *l,
                         int (*turn)(const char *key, unsigned long *n, void *arg), void *arg)
{
    for (size_t i = 0; i < f->nassign; i++) {
        struct assign_rule *a = &f->assign[i];
        char key[300];
        unsigned long n;
        if (!condition_matches(&a->cond, l))
            continue;
        snprintf(key, sizeof(key), "assign|%s|%s", f->id, a->name);
        if (!turn || turn(key, &n, arg))
            n = atomic_fetch_add(&a->next, 1);
        return a->users[n % a->nusers];
    }
    return NULL;
}
