/* strutil.c: see strutil.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/strutil.h"

size_t utf8_seq_len(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0)
        return 0;
    if (s[0] < 0x80)
        return 1;
    size_t len;
    unsigned cp;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] == '\0')
            return false;
        size_t l = utf8_seq_len(s + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

size_t utf8_clip(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

void str_trim(const char **s, size_t *n)
{
    const char *p = *s;
    size_t len = *n;
    while (len && isspace((unsigned char)p[0])) {
        p++;
        len--;
    }
    while (len && isspace((unsigned char)p[len - 1]))
        len--;
    *s = p;
    *n = len;
}

bool str_ieqn(const char *a, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (!a[i] || tolower((unsigned char)a[i]) != tolower((unsigned char)s[i]))
            return false;
    }
    return a[i] == '\0';
}

char *str_dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

int str_index(const char *v, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(v, names[i]))
            return (int)i;
    }
    return -1;
}

void str_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Copies s[0..n) into a small stack buffer so strtoll/strtod cannot read past n. */
static bool numcopy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return !isspace((unsigned char)dst[0]);
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *hex, size_t len, unsigned char *out, size_t n)
{
    if (len != 2 * n)
        return LEADD_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return LEADD_EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

bool parse_ll(const char *s, size_t n, long long *out)
{
    char tmp[32], *end;
    if (!numcopy(tmp, sizeof(tmp), s, n))
        return false;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end || end == tmp)
        return false;
    *out = v;
    return true;
}

bool parse_double(const char *s, size_t n, double *out)
{
    char tmp[64], *end;
    if (!numcopy(tmp, sizeof(tmp), s, n))
        return false;
    /* Only plain decimal notation: no hex floats, inf or nan. */
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789+-.eE", tmp[i]))
            return false;
    }
    errno = 0;
    double v = strtod(tmp, &end);
    if (errno || *end || end == tmp || !isfinite(v))
        return false;
    *out = v;
    return true;
}

int html_escape(struct buf *b, const char *s)
{
    for (; *s && !b->err; s++) {
        switch (*s) {
        case '&': buf_adds(b, "&amp;"); break;
        case '<': buf_adds(b, "&lt;"); break;
        case '>': buf_adds(b, "&gt;"); break;
        case '"': buf_adds(b, "&quot;"); break;
        case '\'': buf_adds(b, "&#39;"); break;
        default: buf_addc(b, *s);
        }
    }
    return buf_error(b);
}

size_t url_decode(char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '+') {
            s[w++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && (h = hex_digit(s[i + 1])) >= 0 &&
                   (l = hex_digit(s[i + 2])) >= 0) {
            s[w++] = (char)(h << 4 | l);
            i += 2;
        } else {
            s[w++] = s[i];
        }
    }
    return w;
}

/* Whether a spreadsheet would run v as a formula: it starts with = + - @,
 * a tab or a CR, and is not a plain number or phone number (+41 44 668 18 00,
 * -12.5), which spreadsheets read as text or numbers, never as formulas. */
static bool csv_formula(const char *v, size_t n)
{
    if (!n || !strchr("=+-@\t\r", v[0]))
        return false;
    if (v[0] != '+' && v[0] != '-')
        return true;
    size_t digits = 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i] >= '0' && v[i] <= '9')
            digits++;
        else if (!strchr(" .()-/", v[i]))
            return true;
    }
    return digits == 0;
}

int csv_cell(struct buf *b, const char *v, size_t n)
{
    bool formula = csv_formula(v, n);
    bool quote = formula || memchr(v, ',', n) || memchr(v, '"', n) || memchr(v, '\n', n) ||
                 memchr(v, '\r', n);
    if (quote)
        buf_addc(b, '"');
    if (formula)
        buf_addc(b, '\'');
    /* Copy runs between quotes; each quote is doubled. */
    for (const char *p = v, *end = v + n; !b->err && p < end;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        size_t run = q ? (size_t)(q - p) + 1 : (size_t)(end - p);
        buf_add(b, p, run);
        if (q)
            buf_addc(b, '"');
        p += run;
    }
    return quote ? buf_addc(b, '"') : buf_error(b);
}

uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}
