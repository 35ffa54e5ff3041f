/* session.c: signing in to the inbox. POST /v1/session trades a key (a
 * user's secret or an API key) for a session cookie; GET tells who is signed
 * in; DELETE signs out. The cookie holds 32 random bytes; the database keeps
 * only their SHA-256, so a copy of it signs no one in. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

#define SESSION_COOKIE "leadd_session"
#define SESSION_IDLE_MS (12ull * 3600 * 1000) /* signed out after 12 idle hours */
#define SESSION_SEEN_EVERY_MS (60ull * 1000)  /* how often "seen" is written */

enum role auth_user_role(const struct config *cfg, const char *user)
{
    for (size_t i = 0; i < cfg->nusers; i++) {
        if (!strcmp(cfg->users[i].name, user))
            return cfg->users[i].role;
    }
    return ROLE_PUBLIC; /* gone from the config: signed out */
}

/* The cookie's token from a Cookie header, into out (NUL-terminated). */
static bool cookie_token(const char *h, char *out, size_t cap)
{
    for (const char *p = h; p && *p;) {
        p += strspn(p, " ;");
        size_t nl = strlen(SESSION_COOKIE);
        if (!strncmp(p, SESSION_COOKIE, nl) && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t n = strcspn(v, "; ");
            if (!n || n >= cap)
                return false;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p = strchr(p, ';');
    }
    return false;
}

static void seen_done(struct store_job *job, void *arg)
{
    (void)arg;
    free(job);
}

enum role session_role(struct req *r)
{
    const char *h = header_in(r, "Cookie");
    char token[128];
    unsigned char hash[SHA256_LEN];
    struct store_session_row s;
    uint64_t now = now_ms();
    if (!h || !cookie_token(h, token, sizeof(token)) || crypto_token_hash(token, hash) ||
        store_session(r->h->st, hash, now, SESSION_IDLE_MS, &s))
        return ROLE_PUBLIC;
    enum role role = auth_session_role(r->cfg, &s);
    if (role == ROLE_PUBLIC)
        return role;
    snprintf(r->who, sizeof(r->who), "%s", s.user);
    r->by_cookie = true;
    if (now - s.seen_ms > SESSION_SEEN_EVERY_MS) {
        /* Idle time restarts; written in passing, nobody waits for it. */
        struct store_session_job *j = calloc(1, sizeof(*j));
        if (j) {
            *j = (struct store_session_job){.job = {.op = STORE_OP_SESSION, .done = seen_done},
                                            .change = SESSION_SEEN,
                                            .at_ms = now};
            memcpy(j->token_hash, hash, SHA256_LEN);
            j->job.arg = j;
            if (store_submit(r->h->st, &j->job))
                free(j);
        }
    }
    return role;
}

void own_origin(struct req *r, char *out, size_t cap)
{
    const char *pub = r->cfg->public_url;
    if (pub) {
        const char *host = strstr(pub, "://");
        size_t n = host ? (size_t)(host + 3 - pub) + strcspn(host + 3, "/") : strlen(pub);
        snprintf(out, cap, "%.*s", (int)n, pub);
    } else {
        const char *host = header_in(r, "Host");
        snprintf(out, cap, "http://%s", host ? host : "");
    }
}

bool origin_is_own(struct req *r)
{
    const char *origin = header_in(r, "Origin");
    char own[300];
    own_origin(r, own, sizeof(own));
    return origin && !strcasecmp(origin, own);
}

static void set_cookie(struct req *r, const char *token, bool clear)
{
    const char *pub = r->cfg->public_url;
    bool secure = pub && !strncmp(pub, "https://", 8);
    req_header(r, "Set-Cookie", "%s=%s; HttpOnly; SameSite=Strict; Path=/%s%s", SESSION_COOKIE,
               token, secure ? "; Secure" : "", clear ? "; Max-Age=0" : "");
}

enum MHD_Result session_create(struct req *r)
{
    json_error_t je;
    json_t *root = json_loadb(buf_str(&r->body), r->body.len, 0, &je);
    const char *key = json_string_value(json_object_get(root, "key"));
    if (!key) {
        json_decref(root);
        return problem(r, 400, "malformed-body", "Malformed body",
                       "expected a JSON object such as {\"key\":\"...\"}");
    }
    struct principal p;
    bool ok = auth_try(r, key, strlen(key), &p);
    json_decref(root);
    if (!ok && r->auth_retry_s > 0) {
        req_header(r, "Retry-After", "%lld", r->auth_retry_s);
        return problem(r, 429, "rate-limited", "Too many sign-in attempts",
                       "too many wrong keys from this address; try again later");
    }
    if (!ok) {
        log_info("sign-in refused from %s", r->ip);
        return problem(r, 401, "unauthorized", "Unauthorized", "that key opens nothing here");
    }
    char token[CRYPTO_TOKEN_LEN];
    struct store_session_job j = {.job.op = STORE_OP_SESSION,
                                  .change = SESSION_CREATE,
                                  .user = p.who,
                                  .key = p.key,
                                  .credential = p.credential,
                                  .at_ms = now_ms()};
    if (crypto_token(token))
        return problem(r, 503, "unavailable", "Service unavailable", NULL);
    int rc = crypto_token_hash(token, j.token_hash);
    rc = rc ? rc : store_run(r->h->st, &j.job);
    if (rc) {
        req_header(r, "Retry-After", "1");
        return problem(r, 503, "unavailable", "Service unavailable", NULL);
    }
    log_info("signed in: %s (%s)", p.who, role_names[p.role]);
    set_cookie(r, token, false);
    return respond(r, 204, NULL, NULL, 0);
}

enum MHD_Result session_get(struct req *r)
{
    struct buf b = BUF_INIT(64u << 10);
    buf_adds(&b, "{\"user\":");
    jw_str(&b, r->who);
    buf_addf(&b, ",\"role\":\"%s\",\"users\":[", role_names[r->role]);
    /* Whom a lead can be given to (the app's assignment list). */
    const struct config *cfg = r->cfg;
    for (size_t i = 0; i < cfg->nusers; i++) {
        if (i)
            buf_addc(&b, ',');
        jw_str(&b, cfg->users[i].name);
    }
    /* Where each CRM shows a record it made ({id}: its id, crm_ids.NAME):
     * the inbox links a lead to it. */
    buf_adds(&b, "],\"crm_records\":{");
    bool first = true;
    for (size_t i = 0; i < cfg->nwebhooks; i++) {
        if (!cfg->webhooks[i].record_url)
            continue;
        if (!first)
            buf_addc(&b, ',');
        first = false;
        jw_str(&b, cfg->webhooks[i].name);
        buf_addc(&b, ':');
        jw_str(&b, cfg->webhooks[i].record_url);
    }
    buf_adds(&b, "}}");
    return respond_buf(r, 200, "application/json", &b);
}

enum MHD_Result session_delete(struct req *r)
{
    const char *h = header_in(r, "Cookie");
    char token[128];
    if (r->by_cookie && h && cookie_token(h, token, sizeof(token))) {
        struct store_session_job j = {
            .job.op = STORE_OP_SESSION, .change = SESSION_DELETE, .at_ms = now_ms()};
        if (crypto_token_hash(token, j.token_hash) || store_run(r->h->st, &j.job)) {
            req_header(r, "Retry-After", "1");
            return problem(r, 503, "unavailable", "Service unavailable", NULL);
        }
        set_cookie(r, "", true);
    }
    return respond(r, 204, NULL, NULL, 0);
}
