/* jsonr.c: see jsonr.h. */
#include <string.h>

#include "leadd/jsonr.h"
#include "leadd/strutil.h"

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p is just past an opening quote; returns the closing quote, or NULL. */
static const char *string_end(const char *p, const char *end)
{
    for (; p < end && *p != '"'; p++) {
        if (*p == '\\' && ++p == end)
            break;
    }
    return p < end ? p : NULL;
}

/* Returns the end of the value at p (with its kind in *v), or NULL. */
static const char *value_end(const char *p, const char *end, struct jr_value *v)
{
    if (p >= end)
        return NULL;
    if (*p == '"') {
        const char *q = string_end(p + 1, end);
        *v = (struct jr_value){p + 1, q ? (size_t)(q - p - 1) : 0, 's'};
        return q ? q + 1 : NULL;
    }
    const char *q = p;
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; q < end; q++) {
            if (*q == '"' && !(q = string_end(q + 1, end)))
                return NULL;
            depth += (*q == '{' || *q == '[') - (*q == '}' || *q == ']');
            if (depth == 0)
                break;
        }
        if (q == end)
            return NULL;
        *v = (struct jr_value){p, (size_t)(q + 1 - p), 'c'};
        return q + 1;
    }
    while (q < end && !strchr(",}] \t\r\n", *q))
        q++;
    *v = (struct jr_value){p, (size_t)(q - p), 'l'};
    return q > p ? q : NULL;
}

int jr_pick(const char *json, size_t n, const struct jr_key *keys, size_t nkeys,
            struct jr_value *out)
{
    for (size_t i = 0; i < nkeys; i++)
        out[i].kind = 0;
    if (!json)
        return LEADD_EINVAL;
    const char *p = json, *end = json + n;
    p = skip_ws(p, end);
    if (p == end || *p++ != '{')
        return LEADD_EINVAL;
    p = skip_ws(p, end);
    if (p < end && *p == '}')
        return 0;
    for (;;) {
        struct jr_value key, v;
        if (p == end || *p != '"' || !(p = value_end(p, end, &key)))
            return LEADD_EINVAL;
        p = skip_ws(p, end);
        if (p == end || *p++ != ':')
            return LEADD_EINVAL;
        if (!(p = value_end(skip_ws(p, end), end, &v)))
            return LEADD_EINVAL;
        for (size_t i = 0; i < nkeys; i++) {
            if (!out[i].kind && keys[i].len == key.n && !memcmp(keys[i].name, key.p, key.n)) {
                out[i] = v;
                break;
            }
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        return p < end && *p == '}' ? 0 : LEADD_EINVAL;
    }
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

static int add_utf8(struct buf *b, unsigned c)
{
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c, n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xc0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3f)), n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xe0 | c >> 12), u[1] = (char)(0x80 | (c >> 6 & 0x3f));
        u[2] = (char)(0x80 | (c & 0x3f)), n = 3;
    } else {
        u[0] = (char)(0xf0 | c >> 18), u[1] = (char)(0x80 | (c >> 12 & 0x3f));
        u[2] = (char)(0x80 | (c >> 6 & 0x3f)), u[3] = (char)(0x80 | (c & 0x3f)), n = 4;
    }
    return buf_add(b, u, n);
}

int jr_unescape(const struct jr_value *v, struct buf *b)
{
    const char *p = v->p, *end = v->p + v->n;
    int rc = 0;
    buf_reset(b);
    while (!rc && p < end) {
        const char *q = memchr(p, '\\', (size_t)(end - p));
        size_t run = q ? (size_t)(q - p) : (size_t)(end - p);
        rc = buf_add(b, p, run);
        p += run;
        if (rc || !q)
            break;
        if (++p == end)
            return LEADD_EINVAL;
        char c = *p++;
        unsigned u;
        switch (c) {
        case 'b': rc = buf_addc(b, '\b'); break;
        case 'f': rc = buf_addc(b, '\f'); break;
        case 'n': rc = buf_addc(b, '\n'); break;
        case 'r': rc = buf_addc(b, '\r'); break;
        case 't': rc = buf_addc(b, '\t'); break;
        case 'u':
            if (hex4(p, end, &u))
                return LEADD_EINVAL;
            p += 4;
            if (u >= 0xd800 && u < 0xdc00) {
                unsigned lo;
                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && !hex4(p + 2, end, &lo) &&
                    lo >= 0xdc00 && lo < 0xe000) {
                    u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                } else {
                    u = 0xfffd;
                }
            } else if (u >= 0xdc00 && u < 0xe000) {
                u = 0xfffd;
            }
            rc = add_utf8(b, u);
            break;
        default: rc = buf_addc(b, c); break; /* \" \\ \/ */
        }
    }
    return rc;
}
