/* normalize.c: the normal forms of emails, phones, URLs and truth words; see
 * lead.h for the contract. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/lead.h"
#include "leadd/strutil.h"

static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

int norm_email(const char *s, size_t n, char **out)
{
    *out = NULL;
    if (n > LEAD_MAX_EMAIL_LEN)
        return LEADD_ETOOBIG;
    const char *at = memrchr(s, '@', n);
    if (!at || at == s)
        return LEADD_EINVAL;
    size_t local = (size_t)(at - s), dlen = n - local - 1;
    if (local > 64 || dlen == 0)
        return LEADD_EINVAL;
    /* Local part: printable ASCII without the specials that need quoting. */
    for (size_t i = 0; i < local; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || strchr("()<>[]:;@\\,\"", c))
            return LEADD_EINVAL;
    }
    if (s[0] == '.' || s[local - 1] == '.' || memmem(s, local, "..", 2))
        return LEADD_EINVAL;
    /* Domain: at least two labels, the last one alphabetic (a TLD). */
    const char *d = at + 1;
    size_t i = 0, labels = 0, last = 0;
    while (i <= dlen) {
        size_t j = i;
        while (j < dlen && d[j] != '.')
            j++;
        if (!label_ok(d + i, j - i))
            return LEADD_EINVAL;
        labels++;
        last = i;
        i = j + 1;
    }
    if (labels < 2 || dlen - last < 2)
        return LEADD_EINVAL;
    for (size_t k = last; k < dlen; k++) {
        if (!isalpha((unsigned char)d[k]))
            return LEADD_EINVAL;
    }
    if (!(*out = str_dupn(s, n)))
        return LEADD_ENOMEM;
    str_lower(*out);
    return 0;
}

int norm_phone(const char *s, size_t n, char **out)
{
    *out = NULL;
    char tmp[32];
    size_t w = 0, digits = 0;
    bool plus = n && s[0] == '+';
    if (plus)
        tmp[w++] = '+';
    for (size_t i = plus; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (++digits > 15)
                return LEADD_EINVAL;
            tmp[w++] = c;
        } else if (!strchr(" .-()/", c)) {
            return LEADD_EINVAL;
        }
    }
    if (digits < 7)
        return LEADD_EINVAL;
    tmp[w] = '\0';
    return (*out = strdup(tmp)) ? 0 : LEADD_ENOMEM;
}

/* Whether s[0..n) starts with a bare domain name, as visitors type a
 * website ("bigco.com", "www.bigco.com/about"): letters, digits and
 * hyphens in dot-separated labels, at least two, the last a name of two or
 * more letters, then an optional :port, then the end or / ? #. */
static bool bare_domain(const char *s, size_t n)
{
    size_t i = 0, labels = 0, label = 0, alpha = 0;
    for (; i < n && !strchr(":/?#", s[i]); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (!label || s[i - 1] == '-')
                return false;
            labels++;
            label = alpha = 0;
        } else if (isalnum(c) || (c == '-' && label)) {
            label++;
            alpha = isalpha(c) ? alpha + 1 : 0;
        } else {
            return false;
        }
    }
    if (!label || labels < 1 || alpha < 2 || alpha != label)
        return false;
    if (i < n && s[i] == ':') { /* a port: digits only */
        size_t d = ++i;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
        if (i == d || i - d > 5)
            return false;
    }
    return i == n || strchr("/?#", s[i]);
}

int norm_url(const char *s, size_t n, char **out)
{
    *out = NULL;
    size_t skip;
    if (n > 7 && !strncasecmp(s, "http://", 7))
        skip = 7;
    else if (n > 8 && !strncasecmp(s, "https://", 8))
        skip = 8;
    else if (bare_domain(s, n))
        skip = 0; /* stored as https:// and the domain, below */
    else
        return LEADD_EINVAL;
    if (s[skip] == '/' || s[skip] == '?' || s[skip] == '#')
        return LEADD_EINVAL; /* no host */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '"' || c == '<' || c == '>' || c == '\\')
            return LEADD_EINVAL;
    }
    if (skip)
        return (*out = str_dupn(s, n)) ? 0 : LEADD_ENOMEM;
    if (!(*out = malloc(n + 9)))
        return LEADD_ENOMEM;
    memcpy(*out, "https://", 8);
    memcpy(*out + 8, s, n);
    (*out)[n + 8] = '\0';
    return 0;
}

int norm_truth(const char *s, size_t n)
{
    static const char *const yes[] = {"true", "on", "1", "yes"};
    static const char *const no[] = {"false", "off", "0", "no"};
    for (size_t i = 0; i < 4; i++) {
        if (str_ieqn(yes[i], s, n))
            return 1;
        if (str_ieqn(no[i], s, n))
            return 0;
    }
    return -1;
}

bool domain_listed(const struct strset *set, const char *email)
{
    const char *d = email ? strrchr(email, '@') : NULL;
    if (!d)
        return false;
    /* The domain and each parent: "a.mailinator.com" is listed by "mailinator.com". */
    for (d++; d; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
        if (strset_has(set, d))
            return true;
    }
    return false;
}

const char *const *disposable_builtin(size_t *n)
{
    /* A short list of the throwaway services seen most; operators with a
     * fuller list name it in disposable_domains = FILE. */
    static const char *const list[] = {
        "10minutemail.com",  "33mail.com",        "burnermail.io",
        "discard.email",     "dispostable.com",   "emailondeck.com",
        "fakeinbox.com",     "getnada.com",       "grr.la",
        "guerrillamail.com", "guerrillamail.net", "maildrop.cc",
        "mailinator.com",    "mailnesia.com",     "mintemail.com",
        "mohmal.com",        "mytemp.email",      "sharklasers.com",
        "spam4.me",          "spamgourmet.com",   "temp-mail.org",
        "tempmail.com",      "tempmailo.com",     "tempr.email",
        "throwawaymail.com", "trashmail.com",     "trashmail.de",
        "yopmail.com",
    };
    *n = LEADD_ARRAY_LEN(list);
    return list;
}
