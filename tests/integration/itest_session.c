/* itest_session.c: signing in: a key for a cookie (HttpOnly, SameSite=Strict,
 * Secure behind https), who is signed in, the Origin rule for changes made
 * with the cookie, sign-out, a restart, idle expiry, and wrong keys limited
 * per client. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char USERS[] = "[auth]\napi_keys = " H_API_KEY "\n"
                            "user.ann = sales ann-sales-key-0123456789\n"
                            "user.mia = viewer mia-viewer-key-0123456789\n";

/* Signs in with key; the cookie ("leadd_session=...") into out. */
static long sign_in(struct leadd *l, const char *key, char *out, size_t cap, char *set_cookie,
                    size_t sc_cap)
{
    struct resp r;
    char body[256], v[512];
    snprintf(body, sizeof(body), "{\"key\":\"%s\"}", key);
    h_req(l, "POST", "/v1/session", body, &r, "Content-Type: application/json", NULL);
    long st = r.status;
    if (st == 401) /* RFC 9110: every 401 names a challenge */
        assert_non_null(h_header(&r, "WWW-Authenticate", v, sizeof(v)));
    if (st == 204) {
        assert_non_null(h_header(&r, "Set-Cookie", v, sizeof(v)));
        snprintf(out, cap, "%.*s", (int)strcspn(v, ";"), v);
        if (set_cookie)
            snprintf(set_cookie, sc_cap, "%s", v);
    }
    resp_free(&r);
    return st;
}

static long with_cookie(struct leadd *l, const char *method, const char *path, const char *body,
                        const char *cookie, const char *origin, struct resp *r)
{
    char ch[512], oh[300];
    snprintf(ch, sizeof(ch), "Cookie: %s", cookie);
    snprintf(oh, sizeof(oh), "Origin: %s", origin ? origin : "");
    h_req(l, method, path, body, r, ch, origin ? oh : NULL, NULL);
    return r->status;
}

static void t_sign_in_out_and_the_origin_rule(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char ini[8192], cookie[256], sc[512], id[64], path[128], own[64];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, USERS);
    h_start(&l, ini, NULL);
    snprintf(own, sizeof(own), "http://127.0.0.1:%d", l.port);
    assert_int_equal(sign_in(&l, "not-a-key-0123456789", cookie, sizeof(cookie), NULL, 0), 401);
    assert_int_equal(
        sign_in(&l, "ann-sales-key-0123456789", cookie, sizeof(cookie), sc, sizeof(sc)), 204);
    assert_int_equal(strncmp(cookie, "leadd_session=", 14), 0);
    assert_true(strlen(cookie) > 14 + 40); /* 32 random bytes, base64url */
    assert_non_null(strstr(sc, "; HttpOnly"));
    assert_non_null(strstr(sc, "; SameSite=Strict"));
    assert_non_null(strstr(sc, "; Path=/"));
    assert_null(strstr(sc, "Secure")); /* no https public_url */
    /* the token is not what is stored */
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM sessions WHERE \"user\" = 'ann'"), 1);
    char *log = h_log_text(&l);
    assert_null(strstr(log, cookie + 14));
    assert_null(strstr(log, "ann-sales-key"));
    free(log);

    assert_int_equal(with_cookie(&l, "GET", "/v1/session", NULL, cookie, NULL, &r), 200);
    assert_string_equal(
        r.body,
        "{\"user\":\"ann\",\"role\":\"sales\",\"users\":[\"ann\",\"mia\"],\"crm_records\":{}}");
    resp_free(&r);
    h_post_json(&l, "contact", "{\"email\":\"s@x.example\",\"name\":\"S\",\"consent\":true}", &r);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    /* read markers are per person: unread, opened, read; not for others */
    assert_int_equal(with_cookie(&l, "GET", "/v1/leads", NULL, cookie, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"read\":false"));
    resp_free(&r);
    assert_int_equal(with_cookie(&l, "GET", path, NULL, cookie, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"read\":false"));
    resp_free(&r);
    assert_true(
        h_wait_count(&l, "SELECT count(*) FROM lead_reads WHERE \"user\" = 'ann'", 1, 5000));
    assert_int_equal(with_cookie(&l, "GET", "/v1/leads", NULL, cookie, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"read\":true"));
    resp_free(&r);
    h_req(&l, "GET", "/v1/leads", NULL, &r, "Authorization: Bearer mia-viewer-key-0123456789",
          NULL);
    assert_non_null(strstr(r.body, "\"read\":false"));
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads", NULL, &r); /* an API key is no person */
    assert_null(strstr(r.body, "\"read\""));
    resp_free(&r);
    /* a change with the cookie needs this server's own Origin */
    const char *patch = "{\"status\":\"contacted\"}";
    assert_int_equal(with_cookie(&l, "PATCH", path, patch, cookie, NULL, &r), 403);
    resp_free(&r);
    assert_int_equal(with_cookie(&l, "PATCH", path, patch, cookie, "https://evil.example", &r),
                     403);
    resp_free(&r);
    assert_int_equal(with_cookie(&l, "PATCH", path, patch, cookie, own, &r), 200);
    assert_non_null(strstr(r.body, "\"by\":\"ann\""));
    resp_free(&r);
    /* sales may not erase, whatever the origin */
    assert_int_equal(with_cookie(&l, "DELETE", path, NULL, cookie, own, &r), 403);
    resp_free(&r);

    /* a restart keeps the session */
    assert_int_equal(h_stop(&l), 0);
    h_restart(&l);
    snprintf(own, sizeof(own), "http://127.0.0.1:%d", l.port);
    assert_int_equal(with_cookie(&l, "GET", "/v1/session", NULL, cookie, NULL, &r), 200);
    resp_free(&r);
    /* sign-out ends it, and clears the cookie */
    char v[256];
    assert_int_equal(with_cookie(&l, "DELETE", "/v1/session", NULL, cookie, own, &r), 204);
    assert_non_null(strstr(h_header(&r, "Set-Cookie", v, sizeof(v)), "Max-Age=0"));
    resp_free(&r);
    assert_int_equal(with_cookie(&l, "GET", "/v1/session", NULL, cookie, NULL, &r), 401);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM sessions"), 0);

    /* 12 idle hours end a session */
    assert_int_equal(sign_in(&l, "mia-viewer-key-0123456789", cookie, sizeof(cookie), NULL, 0),
                     204);
    assert_int_equal(with_cookie(&l, "GET", "/v1/leads", NULL, cookie, NULL, &r), 200);
    resp_free(&r);
    h_sql_exec(&l, "UPDATE sessions SET seen_ms = seen_ms - 12 * 3600 * 1000 - 1000");
    assert_int_equal(with_cookie(&l, "GET", "/v1/leads", NULL, cookie, NULL, &r), 401);
    resp_free(&r);
    /* a Bearer key still says who it is */
    h_api(&l, "GET", "/v1/session", NULL, &r);
    assert_string_equal(
        r.body,
        "{\"user\":\"api\",\"role\":\"admin\",\"users\":[\"ann\",\"mia\"],\"crm_records\":{}}");
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_wrong_keys_limited_and_secure_cookie(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char ini[8192], cookie[256], sc[512];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, USERS);
    h_start(&l, ini, "server.public_url=https://leads.example.com", NULL);
    int refused = 0;
    for (int i = 0; i < 12; i++)
        refused +=
            sign_in(&l, "wrong-key-0123456789abcdef", cookie, sizeof(cookie), NULL, 0) == 429;
    assert_int_equal(refused, 2); /* 10 attempts a minute */
    h_req(&l, "POST", "/v1/session", "{\"key\":\"x\"}", &r, "Content-Type: application/json", NULL);
    assert_int_equal(r.status, 429);
    char v[32];
    assert_non_null(h_header(&r, "Retry-After", v, sizeof(v)));
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);

    /* Wrong keys are counted across both ways in, per client: Bearer
     * guesses and sign-ins share ten a minute; past them not even the right
     * key is tried (a guess gets no answer), and another client is not
     * affected. Clients are told apart by a trusted proxy's header here. */
    h_start(&l, ini, "server.trusted_proxies=127.0.0.1/32", NULL);
    int n401 = 0, n429 = 0;
    for (int i = 0; i < 200; i++) {
        char hdr[96];
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer guess-%03d-0123456789abcdef", i);
        char body[96];
        snprintf(body, sizeof(body), "{\"key\":\"%s\"}", hdr + 22);
        if (i % 2)
            h_req(&l, "POST", "/v1/session", body, &r, "Content-Type: application/json",
                  "X-Forwarded-For: 198.51.100.7", NULL);
        else
            h_req(&l, "GET", "/v1/leads", NULL, &r, hdr, "X-Forwarded-For: 198.51.100.7", NULL);
        n401 += r.status == 401, n429 += r.status == 429;
        if (r.status == 429)
            assert_non_null(h_header(&r, "Retry-After", v, sizeof(v)));
        resp_free(&r);
    }
    assert_int_equal(n401, 10);
    assert_int_equal(n429, 190);
    h_req(&l, "GET", "/v1/leads", NULL, &r, "Authorization: Bearer " H_API_KEY,
          "X-Forwarded-For: 198.51.100.7", NULL);
    assert_int_equal(r.status, 429); /* the right key, from the guesser: not tried */
    resp_free(&r);
    h_req(&l, "GET", "/v1/leads", NULL, &r, "Authorization: Bearer " H_API_KEY,
          "X-Forwarded-For: 198.51.100.8", NULL);
    assert_int_equal(r.status, 200); /* another client */
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);

    /* behind https the cookie is Secure, and the Origin is public_url's */
    h_start(&l, ini, "server.public_url=https://leads.example.com/", NULL);
    assert_int_equal(
        sign_in(&l, "ann-sales-key-0123456789", cookie, sizeof(cookie), sc, sizeof(sc)), 204);
    assert_non_null(strstr(sc, "; Secure"));
    h_req(&l, "POST", "/v1/session", "{\"nokey\":1}", &r, "Content-Type: application/json", NULL);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    assert_int_equal(
        with_cookie(&l, "DELETE", "/v1/session", NULL, cookie, "https://leads.example.com", &r),
        204);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void rewrite(struct leadd *l, const char *auth)
{
    char ini[8192], path[400];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, auth);
    h_write_file(l, "leadd.ini", ini, path, sizeof(path));
}

/* A session is worth what the credential that made it is worth now: a
 * changed secret or a removed key ends its sessions at the reload; a user
 * cannot be named like the API keys' principal. */
static void t_sessions_end_with_their_credential(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char ini[8192], ann[256], k1[256], k2[256];
    static const char KEY2[] = "second-api-key-0123456789abcdef";
    snprintf(ini, sizeof(ini), "%s[auth]\napi_keys = " H_API_KEY " %s\n%s", H_BASE_INI, KEY2,
             "user.ann = sales ann-sales-key-0123456789\n");
    h_start(&l, ini, NULL);
    assert_int_equal(sign_in(&l, "ann-sales-key-0123456789", ann, sizeof(ann), NULL, 0), 204);
    assert_int_equal(sign_in(&l, H_API_KEY, k1, sizeof(k1), NULL, 0), 204);
    assert_int_equal(sign_in(&l, KEY2, k2, sizeof(k2), NULL, 0), 204);
    assert_int_equal(with_cookie(&l, "GET", "/v1/consents?email=a@x.example", NULL, k2, NULL, &r),
                     200);
    resp_free(&r);
    /* A user named like the API keys is refused: the running config stays. */
    rewrite(&l, "[auth]\napi_keys = " H_API_KEY "\nuser.api = viewer api-viewer-key-0123456789\n");
    h_signal(&l, SIGHUP);
    assert_true(h_wait_log_n(&l, "reload refused", h_nodes(&l), 10000));
    assert_true(h_wait_log(&l, "user.api: 'api' is the name of the API keys", 1000));
    assert_int_equal(with_cookie(&l, "GET", "/v1/session", NULL, ann, NULL, &r), 200);
    resp_free(&r);
    /* Ann's secret changes and the second key goes. */
    rewrite(&l, "[auth]\napi_keys = " H_API_KEY "\nuser.ann = sales ann-new-secret-0123456789\n");
    h_signal(&l, SIGHUP);
    assert_true(h_wait_log_n(&l, "config reloaded", h_nodes(&l), 10000));
    for (int i = 0; i < 2; i++) { /* each node */
        assert_int_equal(with_cookie(&l, "GET", "/v1/session", NULL, ann, NULL, &r), 401);
        resp_free(&r);
        assert_int_equal(
            with_cookie(&l, "GET", "/v1/consents?email=a@x.example", NULL, k2, NULL, &r), 401);
        resp_free(&r);
        assert_int_equal(with_cookie(&l, "GET", "/v1/session", NULL, k1, NULL, &r), 200);
        assert_non_null(strstr(r.body, "\"user\":\"api\",\"role\":\"admin\""));
        resp_free(&r);
    }
    /* The old secret opens nothing, the new one a new session. */
    assert_int_equal(sign_in(&l, "ann-sales-key-0123456789", ann, sizeof(ann), NULL, 0), 401);
    assert_int_equal(sign_in(&l, "ann-new-secret-0123456789", ann, sizeof(ann), NULL, 0), 204);
    assert_int_equal(with_cookie(&l, "GET", "/v1/session", NULL, ann, NULL, &r), 200);
    assert_non_null(strstr(r.body, "\"user\":\"ann\",\"role\":\"sales\""));
    resp_free(&r);
    /* What a session row keeps opens nothing: no secret, no name-only role. */
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM sessions WHERE kind = 'key' AND"
                                   " \"user\" = 'api' AND length(credential) = 64"),
                     2);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_sign_in_out_and_the_origin_rule),
        cmocka_unit_test(t_wrong_keys_limited_and_secure_cookie),
        cmocka_unit_test(t_sessions_end_with_their_credential),
    };
    return h_run_group_tests_name("session", tests, NULL, NULL);
}
