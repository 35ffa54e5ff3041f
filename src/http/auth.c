/* auth.c: who is calling. A key (Authorization: Bearer) is compared by its
 * SHA-256 digest with every API key and every user's secret, in time that
 * says nothing of which matched: an API key is an admin's, named "api" (a
 * name the config refuses for a user); a user's secret is that user's, with
 * their role. A session keeps what made it (a key, or which user) and a
 * fingerprint of that credential, and is worth only what that credential is
 * worth under the config of the moment. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "leadd/strutil.h"

/* What a session keeps of the credential that made it: the SHA-256 of the
 * credential's own digest (which opens nothing), as hex. */
static void fingerprint(const unsigned char digest[SHA256_LEN], char out[2 * SHA256_LEN + 1])
{
    static const char tag[] = "leadd session credential";
    const void *parts[] = {tag, digest};
    size_t lens[] = {sizeof(tag), SHA256_LEN};
    unsigned char fp[SHA256_LEN];
    if (crypto_sha256(parts, lens, 2, fp)) {
        out[0] = '\0'; /* matches no session */
        return;
    }
    crypto_hex(fp, SHA256_LEN, out);
}

bool auth_key(const struct config *cfg, const char *key, size_t len, struct principal *p)
{
    unsigned char d[SHA256_LEN];
    const void *part = key;
    bool any = false;
    memset(p, 0, sizeof(*p));
    if (crypto_sha256(&part, &len, 1, d))
        return false;
    /* Every key is compared in full, whichever matched. */
    for (size_t i = 0; i < cfg->napi_keys; i++) {
        if (crypto_equal(cfg->api_keys[i], d, SHA256_LEN)) {
            p->role = ROLE_ADMIN;
            p->key = true;
            snprintf(p->who, AUTH_MAX_NAME, "api");
            any = true;
        }
    }
    for (size_t i = 0; i < cfg->nusers; i++) {
        if (crypto_equal(cfg->users[i].key, d, SHA256_LEN) && !any) {
            p->role = cfg->users[i].role;
            snprintf(p->who, AUTH_MAX_NAME, "%s", cfg->users[i].name);
            any = true;
        }
    }
    if (any)
        fingerprint(d, p->credential);
    return any;
}

enum role auth_session_role(const struct config *cfg, const struct store_session_row *s)
{
    char fp[2 * SHA256_LEN + 1];
    if (s->key) {
        for (size_t i = 0; i < cfg->napi_keys; i++) {
            fingerprint(cfg->api_keys[i], fp);
            if (fp[0] && !strcmp(fp, s->credential))
                return ROLE_ADMIN;
        }
        return ROLE_PUBLIC; /* its key is gone: signed out */
    }
    for (size_t i = 0; i < cfg->nusers; i++) {
        if (strcmp(cfg->users[i].name, s->user))
            continue;
        fingerprint(cfg->users[i].key, fp);
        return fp[0] && !strcmp(fp, s->credential) ? cfg->users[i].role : ROLE_PUBLIC;
    }
    return ROLE_PUBLIC; /* gone from the config: signed out */
}

bool auth_try(struct req *r, const char *key, size_t len, struct principal *p)
{
    long long retry = 0;
    memset(p, 0, sizeof(*p));
    client_ip(r, r->ip);
    if (!rate_bucket(r, "_auth", AUTH_FAILS, AUTH_FAILS_WINDOW_S, false, &retry)) {
        r->auth_retry_s = retry;
        return false;
    }
    if (auth_key(r->cfg, key, len, p))
        return true;
    if (!rate_bucket(r, "_auth", AUTH_FAILS, AUTH_FAILS_WINDOW_S, true, &retry))
        r->auth_retry_s = retry; /* this one was the last allowed */
    return false;
}

enum role auth_role(struct req *r)
{
    const char *h = header_in(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return r->role = session_role(r);
    const char *k = h + 7;
    size_t n = strlen(k);
    str_trim(&k, &n);
    struct principal p = {.role = ROLE_PUBLIC};
    if (n > 0 && auth_try(r, k, n, &p))
        snprintf(r->who, sizeof(r->who), "%s", p.who);
    return r->role = p.role;
}
