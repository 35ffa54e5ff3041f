/* field.c: parsing of `field.NAME = TYPE options` lines and form helpers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/lead.h"
#include "leadd/strutil.h"

static const char *const TYPE_NAMES[] = {"text", "email",   "phone", "integer", "number",
                                         "bool", "consent", "url",   "enum"};

const char *field_type_name(enum field_type t)
{
    return TYPE_NAMES[t];
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > LEAD_MAX_NAME_LEN || name[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int parse_choices(struct field_spec *f, const char *p, size_t n)
{
    /* p[0..n) is "a|b|c" */
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '|')
            j++;
        if (j == i)
            return LEADD_EINVAL;
        char **v = realloc(f->choices, (f->nchoices + 1) * sizeof(*v));
        if (!v)
            return LEADD_ENOMEM;
        f->choices = v;
        if (!(v[f->nchoices] = str_dupn(p + i, j - i)))
            return LEADD_ENOMEM;
        f->nchoices++;
        i = j + 1;
    }
    return 0;
}

int field_spec_parse(struct field_spec *f, const char *name, const char *spec, char *err,
                     size_t errlen)
{
    int rc = LEADD_EINVAL;
    memset(f, 0, sizeof(*f));
    if (!valid_name(name)) {
        snprintf(err, errlen, "bad field name '%s' (letters, digits, _ and -; not starting with _)",
                 name);
        goto out;
    }
    if (!(f->name = strdup(name))) {
        rc = LEADD_ENOMEM;
        goto out;
    }
    const char *p = spec;
    p += strspn(p, " \t");
    size_t tn = strcspn(p, " \t");
    if (tn == 0) {
        snprintf(err, errlen, "field '%s' has no type", name);
        goto out;
    }
    size_t t;
    for (t = 0; t < LEADD_ARRAY_LEN(TYPE_NAMES); t++) {
        if (t != FT_ENUM && strlen(TYPE_NAMES[t]) == tn && !strncmp(p, TYPE_NAMES[t], tn))
            break;
    }
    if (t == LEADD_ARRAY_LEN(TYPE_NAMES)) {
        if (tn >= 6 && !strncmp(p, "enum(", 5) && p[tn - 1] == ')') {
            t = FT_ENUM;
            int crc = parse_choices(f, p + 5, tn - 6);
            if (crc == LEADD_ENOMEM) {
                rc = crc;
                goto out;
            }
            if (crc) {
                snprintf(err, errlen, "field '%s': enum needs choices like enum(a|b|c)", name);
                goto out;
            }
        } else {
            snprintf(err, errlen,
                     "field '%s': unknown type '%.*s' (text, email, phone, integer, number, bool, "
                     "consent, url, enum(a|b))",
                     name, (int)tn, p);
            goto out;
        }
    }
    f->type = (enum field_type)t;
    p += tn;
    for (;;) {
        p += strspn(p, " \t");
        size_t on = strcspn(p, " \t");
        if (!on)
            break;
        if (on == 8 && !strncmp(p, "required", 8)) {
            f->required = true;
        } else if (on > 4 && (!strncmp(p, "min=", 4) || !strncmp(p, "max=", 4))) {
            double v;
            bool is_min = p[1] == 'i';
            bool numeric = f->type == FT_INTEGER || f->type == FT_NUMBER;
            long long iv;
            if (!(numeric ? parse_double(p + 4, on - 4, &v)
                          : (parse_ll(p + 4, on - 4, &iv) && iv >= 0 && (v = (double)iv, 1)))) {
                snprintf(err, errlen, "field '%s': bad %.3s value '%.*s'", name, p, (int)(on - 4),
                         p + 4);
                goto out;
            }
            if (f->type == FT_BOOL || f->type == FT_CONSENT || f->type == FT_ENUM) {
                snprintf(err, errlen, "field '%s': %.3s does not apply to %s", name, p,
                         TYPE_NAMES[f->type]);
                goto out;
            }
            if (is_min) {
                f->has_min = true;
                f->min = v;
            } else {
                f->has_max = true;
                f->max = v;
            }
        } else {
            snprintf(err, errlen, "field '%s': unknown option '%.*s' (required, min=N, max=N)",
                     name, (int)on, p);
            goto out;
        }
        p += on;
    }
    if (f->has_min && f->has_max && f->min > f->max) {
        snprintf(err, errlen, "field '%s': min is greater than max", name);
        goto out;
    }
    rc = 0;
out:
    if (rc)
        field_spec_release(f);
    return rc;
}

void field_spec_release(struct field_spec *f)
{
    free(f->name);
    free(f->label);
    for (size_t i = 0; i < f->nchoices; i++)
        free(f->choices[i]);
    free(f->choices);
    memset(f, 0, sizeof(*f));
}

int form_field(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->nfields; i++) {
        if (!strcmp(f->fields[i].name, name))
            return (int)i;
    }
    return -1;
}

bool form_origin_allowed(const struct form *f, const char *origin, size_t len)
{
    if (f->any_origin)
        return true;
    /* Origins compare as written by browsers: scheme://host[:port], lowercase. */
    return strset_hasn(&f->origins, origin, len);
}
