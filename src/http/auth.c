/* auth.c: who is calling. A key (Authorization: Bearer) is compared by its
 * SHA-256 digest with every API key and every user's secret, in time that
 * says nothing of which matched: an API key is an admin's, named "api"; a
 * user's secret is that user's, with their role. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "leadd/strutil.h"

bool auth_key(const struct config *cfg, const char *key, size_t len, enum role *role,
              char who[AUTH_MAX_NAME])
{
    unsigned char d[SHA256_LEN];
    const void *part = key;
    bool any = false;
    *role = ROLE_PUBLIC;
    who[0] = '\0';
    if (crypto_sha256(&part, &len, 1, d))
        return false;
    /* Every key is compared in full, whichever matched. */
    for (size_t i = 0; i < cfg->napi_keys; i++) {
        if (crypto_equal(cfg->api_keys[i], d, SHA256_LEN)) {
            *role = ROLE_ADMIN;
            snprintf(who, AUTH_MAX_NAME, "api");
            any = true;
        }
    }
    for (size_t i = 0; i < cfg->nusers; i++) {
        if (crypto_equal(cfg->users[i].key, d, SHA256_LEN) && !any) {
            *role = cfg->users[i].role;
            snprintf(who, AUTH_MAX_NAME, "%s", cfg->users[i].name);
            any = true;
        }
    }
    return any;
}

enum role auth_role(struct req *r)
{
    const char *h = header_in(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return r->role = session_role(r);
    const char *k = h + 7;
    size_t n = strlen(k);
    str_trim(&k, &n);
    enum role role = ROLE_PUBLIC;
    if (n > 0)
        auth_key(r->cfg, k, n, &role, r->who);
    return r->role = role;
}
