/* auth.c: who is calling. An API key (Authorization: Bearer) is compared by
 * its SHA-256 digest with every configured key in constant time; a key is an
 * admin's. */
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "leadd/strutil.h"

static bool key_ok(const struct config *cfg, const char *key, size_t len)
{
    unsigned char d[SHA256_LEN];
    const void *part = key;
    bool ok = false;
    if (crypto_sha256(&part, &len, 1, d))
        return false;
    /* Every key is compared in full: the time taken says nothing of which
     * key, or how much of one, matched. */
    for (size_t i = 0; i < cfg->napi_keys; i++)
        ok |= crypto_equal(cfg->api_keys[i], d, SHA256_LEN);
    return ok;
}

enum http_role auth_role(struct req *r)
{
    const char *h = header_in(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return HTTP_ROLE_PUBLIC;
    const char *k = h + 7;
    size_t n = strlen(k);
    str_trim(&k, &n);
    return n > 0 && key_ok(r->h->cfg, k, n) ? HTTP_ROLE_ADMIN : HTTP_ROLE_PUBLIC;
}
