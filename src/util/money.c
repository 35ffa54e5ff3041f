/* money.c: see money.h. Quotients are computed in 128-bit integers, so
 * num * 10^places cannot overflow for any int64 num and places <= 8. */
#include <stdio.h>
#include <string.h>

#include "leadd/money.h"

bool money_currency_valid(const char *code)
{
    if (!code || strlen(code) != 3)
        return false;
    for (int i = 0; i < 3; i++) {
        if (code[i] < 'A' || code[i] > 'Z')
            return false;
    }
    return true;
}

int money_exponent(const char *code)
{
    /* ISO 4217's currencies whose minor unit is not a hundredth. */
    static const struct {
        const char code[4];
        int exponent;
    } odd[] = {
        {"BHD", 3}, {"BIF", 0}, {"CLF", 4}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"IQD", 3},
        {"ISK", 0}, {"JOD", 3}, {"JPY", 0}, {"KMF", 0}, {"KRW", 0}, {"KWD", 3}, {"LYD", 3},
        {"OMR", 3}, {"PYG", 0}, {"RWF", 0}, {"TND", 3}, {"UGX", 0}, {"UYI", 0}, {"UYW", 4},
        {"VND", 0}, {"VUV", 0}, {"XAF", 0}, {"XOF", 0}, {"XPF", 0},
    };
    for (size_t i = 0; code && i < LEADD_ARRAY_LEN(odd); i++) {
        if (!strcmp(odd[i].code, code))
            return odd[i].exponent;
    }
    return 2;
}

int money_parse(const char *s, int exponent, int64_t *minor)
{
    int64_t v = 0;
    int places = -1; /* digits after the point; -1 before it */
    bool digits = false;
    for (const char *p = s; *p; p++) {
        if (*p == '.' && places < 0 && digits) {
            places = 0;
            continue;
        }
        if (*p < '0' || *p > '9')
            return LEADD_EINVAL;
        if (places >= 0 && ++places > exponent)
            return LEADD_EINVAL;
        digits = true;
        v = v * 10 + (*p - '0');
        if (v >= MONEY_MAX_MINOR)
            return LEADD_EINVAL;
    }
    if (!digits || places == 0) /* "", ".", "12." */
        return LEADD_EINVAL;
    for (int k = places < 0 ? 0 : places; k < exponent; k++) {
        v *= 10;
        if (v >= MONEY_MAX_MINOR)
            return LEADD_EINVAL;
    }
    *minor = v;
    return 0;
}

/* Writes |q| (an integer count of 10^-places units) as a decimal. */
static void put_decimal(unsigned __int128 q, bool negative, int places, char out[MONEY_STR])
{
    char tmp[MONEY_STR];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(q % 10));
        q /= 10;
    } while (q && n < sizeof(tmp) - 2);
    while ((int)n <= places) /* at least one digit before the point */
        tmp[n++] = '0';
    size_t o = 0;
    if (negative)
        out[o++] = '-';
    for (size_t i = n; i-- > 0;) {
        out[o++] = tmp[i];
        if (places > 0 && (int)i == places)
            out[o++] = '.';
    }
    out[o] = '\0';
}

/* |v|, INT64_MIN included. */
static unsigned __int128 magnitude(int64_t v)
{
    return v < 0 ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
}

int money_read(const char *s, size_t n, int exponent, int64_t *minor)
{
    char t[64];
    size_t k = 0, dots = 0, commas = 0;
    for (size_t i = 0; i < n; i++) { /* the digits and separators, spaces gone */
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\'')
            continue;
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0) { /* no-break space */
            i++;
            continue;
        }
        if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xAF || (unsigned char)s[i + 2] == 0x89)) {
            i += 2; /* narrow no-break space, thin space */
            continue;
        }
        if (!(c >= '0' && c <= '9') && c != '.' && c != ',')
            return LEADD_EINVAL;
        if (k + 1 >= sizeof(t))
            return LEADD_EINVAL;
        dots += c == '.';
        commas += c == ',';
        t[k++] = (char)c;
    }
    t[k] = '\0';
    /* which separator is the decimal point: the last one when both appear;
     * a lone point always; a lone comma unless three digits follow it (then
     * it groups thousands: 1,200) */
    char dec = 0;
    const char *last = NULL;
    for (size_t i = 0; i < k; i++)
        if (t[i] == '.' || t[i] == ',')
            last = &t[i];
    if (dots && commas)
        dec = *last;
    else if (dots == 1 && !commas)
        dec = '.';
    else if (commas == 1 && !dots && (strlen(last + 1) != 3 || exponent == 3))
        dec = ',';
    char out[64];
    size_t o = 0, run = 0;
    bool grouped = false, after_dec = false;
    for (size_t i = 0; i < k; i++) {
        if (t[i] == dec) {
            if (after_dec || (grouped && run != 3))
                return LEADD_EINVAL;
            after_dec = true;
            out[o++] = '.';
            run = 0;
        } else if (t[i] == '.' || t[i] == ',') {
            /* a group separator: not after the point, and 1-3 digits
             * before the first, exactly 3 between the rest */
            if (after_dec || !run || run > 3 || (grouped && run != 3))
                return LEADD_EINVAL;
            grouped = true;
            run = 0;
        } else {
            out[o++] = t[i];
            run++;
        }
    }
    if (grouped && !after_dec && run != 3)
        return LEADD_EINVAL;
    out[o] = '\0';
    return money_parse(out, exponent, minor);
}

void money_format(int64_t minor, int exponent, char out[MONEY_STR])
{
    put_decimal(magnitude(minor), minor < 0, exponent, out);
}

bool decimal_quotient(int64_t num, int64_t den, int scale, int places, char out[MONEY_STR])
{
    out[0] = '\0';
    if (den == 0 || scale < 0 || scale > 8 || places < 0 || places > 8)
        return false;
    bool negative = (num < 0) != (den < 0);
    unsigned __int128 n = magnitude(num), d = magnitude(den);
    for (int i = 0; i < places; i++)
        n *= 10;
    for (int i = 0; i < scale; i++)
        d *= 10;
    unsigned __int128 q = n / d, r = n % d;
    if (r * 2 >= d) /* half away from zero */
        q++;
    put_decimal(q, negative && q != 0, places, out);
    return true;
}
