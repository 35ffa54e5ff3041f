/* jsonw.c: JSON text writer; see jsonw.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/jsonw.h"
#include "leadd/strutil.h"

int jw_strn(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_addc(b, '"');
    size_t i = 0, run = 0;
    while (!b->err && i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t ulen = 1;
        const char *esc = NULL;
        char u[7];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            snprintf(u, sizeof(u), "\\u00%c%c", hex[c >> 4], hex[c & 15]);
            esc = u;
        } else if (c >= 0x80) {
            ulen = utf8_seq_len(s + i, n - i);
            if (!ulen) {
                esc = "\xef\xbf\xbd"; /* U+FFFD */
                ulen = 1;
            }
        }
        if (esc) {
            buf_add(b, s + i - run, run);
            buf_adds(b, esc);
            run = 0;
        } else {
            run += ulen;
        }
        i += ulen;
    }
    buf_add(b, s + i - run, run);
    return buf_addc(b, '"');
}

int jw_str(struct buf *b, const char *s)
{
    return s ? jw_strn(b, s, strlen(s)) : buf_adds(b, "null");
}

int jw_key(struct buf *b, const char *key, bool first)
{
    if (!first)
        buf_addc(b, ',');
    jw_str(b, key);
    return buf_addc(b, ':');
}

int jw_strs(struct buf *b, const struct jw_str_member *m, size_t n, bool first)
{
    for (size_t i = 0; i < n; i++) {
        jw_key(b, m[i].key, first && !i);
        jw_str(b, m[i].value);
    }
    return buf_error(b);
}

int jw_int(struct buf *b, long long v)
{
    /* Digits by hand: every lead row and export row carries several numbers,
     * and printf's format parsing cost more than the rest of the row. */
    char tmp[24], *p = tmp + sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return buf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int jw_num(struct buf *b, double v)
{
    if (!isfinite(v))
        return buf_adds(b, "null");
    /* The shortest of %.15g and %.17g that reads back as the same double. */
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof(tmp), "%.17g", v);
    return buf_adds(b, tmp);
}

int jw_bool(struct buf *b, bool v)
{
    return buf_adds(b, v ? "true" : "false");
}
