/* itest_api.c: the query API over real HTTP: auth, every filter, keyset
 * pages while leads arrive, PATCH history, export (streamed, flat memory),
 * CSV escaping, stats, delivery retry, erasure, retention, forms, metrics. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "leadd/http.h"
#include "leadd/log.h"
#include "leadd/ulid.h"
#include "receiver.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static char INI[16384];

static void make_ini(const char *extra)
{
    snprintf(INI, sizeof(INI),
             "%s[auth]\napi_keys = " H_API_KEY " second-key-0123456789\n"
             "[form.newsletter]\nfield.email = email required\nallowed_origins = *\n%s",
             H_BASE_INI, extra ? extra : "");
}

static void post(struct leadd *l, const char *form, const char *json, char *id, size_t cap)
{
    struct resp r;
    h_post_json(l, form, json, &r);
    if (r.status != 201)
        fail_msg("seed post: %ld %s", r.status, r.body);
    if (id)
        assert_true(h_json_str(r.body, "id", id, cap));
    resp_free(&r);
}

/* Counts the leads in a list answer. */
static int count_data(const char *body)
{
    int n = 0;
    for (const char *p = body; (p = strstr(p, "{\"id\":\"")); p++)
        n++;
    return n;
}

static long list_count(struct leadd *l, const char *query)
{
    struct resp r;
    char path[512];
    snprintf(path, sizeof(path), "/v1/leads?limit=500&%s", query);
    h_api(l, "GET", path, NULL, &r);
    if (r.status != 200)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    int n = count_data(r.body);
    resp_free(&r);
    return n;
}

/* The ids of every page of a list (two leads a page, following the
 * cursors), comma-separated (free it). */
static char *list_ids(struct leadd *l, const char *query)
{
    char *ids = calloc(1, 65536), cursor[64] = "";
    for (int page = 0; page < 1000; page++) {
        struct resp r;
        char path[512];
        snprintf(path, sizeof(path), "/v1/leads?limit=2%s%s%s%s", query[0] ? "&" : "", query,
                 cursor[0] ? "&cursor=" : "", cursor);
        h_api(l, "GET", path, NULL, &r);
        if (r.status != 200)
            fail_msg("%s: %ld %s", path, r.status, r.body);
        for (const char *p = r.body; (p = strstr(p, "{\"id\":\"")); p++)
            snprintf(ids + strlen(ids), 65536 - strlen(ids), "%.26s,", p + 7);
        bool more = h_json_str(r.body, "next_cursor", cursor, sizeof(cursor));
        resp_free(&r);
        if (!more)
            return ids;
    }
    fail_msg("%s: pages without end", query);
    return ids;
}

/* The ids of an export, in its order, comma-separated (free it). */
static char *export_ids(struct leadd *l, const char *fmt, const char *query)
{
    char *ids = calloc(1, 65536), path[512];
    struct resp r;
    snprintf(path, sizeof(path), "/v1/leads/export?format=%s%s%s", fmt, query[0] ? "&" : "", query);
    h_api(l, "GET", path, NULL, &r);
    if (r.status != 200)
        fail_msg("%s: %ld %s", path, r.status, r.body);
    const char *p = r.body;
    if (fmt[0] == 'c') /* the header row */
        p = strstr(p, "\r\n") + 2;
    for (; *p; p = strchr(p, '\n') + 1) {
        const char *id = fmt[0] == 'c' ? p : strstr(p, "{\"id\":\"") + 7;
        snprintf(ids + strlen(ids), 65536 - strlen(ids), "%.26s,", id);
    }
    resp_free(&r);
    return ids;
}

/* The duplicate window lives in the writer's memory: it is rebuilt from the
 * database at start, an erased lead is no one's first lead, and a lead of
 * another form or outside the window is not a duplicate. */
static void t_duplicates_across_restart_and_erasure(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char first[64], id[64], path[128], v[64];
    make_ini(NULL);
    h_start(&l, INI, NULL);
    post(&l, "contact", "{\"email\":\"Twice@Dup.example\",\"name\":\"A\",\"consent\":true}", first,
         sizeof(first));
    post(&l, "newsletter", "{\"email\":\"twice@dup.example\"}", id, sizeof(id));
    assert_int_equal(h_sql_int(&l, "SELECT duplicate_of IS NULL FROM leads WHERE id = %Q", id), 1);
    assert_int_equal(h_stop(&l), 0);
    h_restart(&l);
    post(&l, "contact", "{\"email\":\"twice@dup.example\",\"name\":\"B\",\"consent\":true}", id,
         sizeof(id));
    h_sql_text(&l, v, sizeof(v), "SELECT duplicate_of FROM leads WHERE id = %Q", id);
    assert_string_equal(v, first); /* found after a restart */
    snprintf(path, sizeof(path), "/v1/leads/%s", first);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    post(&l, "contact", "{\"email\":\"twice@dup.example\",\"name\":\"C\",\"consent\":true}", id,
         sizeof(id));
    assert_int_equal(h_sql_int(&l, "SELECT duplicate_of IS NULL FROM leads WHERE id = %Q", id), 1);
    /* C is the first lead now: D duplicates C, also after a restart */
    char third[64];
    snprintf(third, sizeof(third), "%s", id);
    assert_int_equal(h_stop(&l), 0);
    h_restart(&l);
    post(&l, "contact", "{\"email\":\"twice@dup.example\",\"name\":\"D\",\"consent\":true}", id,
         sizeof(id));
    h_sql_text(&l, v, sizeof(v), "SELECT duplicate_of FROM leads WHERE id = %Q", id);
    assert_string_equal(v, third);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

/* A repeat caught while serving when the tables' rowids differ: leads of
 * another form first, so the contact form's lead and its consent record
 * have different rowids (the window once kept the consent's). */
static void t_duplicate_after_other_forms(void **state)
{
    (void)state;
    struct leadd l;
    char first[64], id[64], v[64];
    make_ini(NULL);
    h_start(&l, INI, NULL);
    for (int i = 0; i < 3; i++) {
        char b[96];
        snprintf(b, sizeof(b), "{\"email\":\"n%d@news.example\"}", i);
        post(&l, "newsletter", b, id, sizeof(id));
    }
    post(&l, "contact", "{\"email\":\"rep@dup.example\",\"name\":\"A\",\"consent\":true}", first,
         sizeof(first));
    post(&l, "contact", "{\"email\":\"Rep@Dup.example\",\"name\":\"B\",\"consent\":true}", id,
         sizeof(id));
    h_sql_text(&l, v, sizeof(v), "SELECT duplicate_of FROM leads WHERE id = %Q", id);
    assert_string_equal(v, first);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

/* Roles on every route: a viewer reads, sales also works leads, an admin
 * (or an API key) also erases and re-queues; too little is 403, none 401.
 * The history says who made each change. */
static void t_roles(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char id[64], path[128];
    setenv("LEADD_TEST_MIA_KEY", "mia-viewer-key-0123456789", 1);
    make_ini(
        "[auth]\nuser.ann = sales ann-sales-key-0123456789\n"
        "user.mia = viewer env:LEADD_TEST_MIA_KEY\nuser.root = admin root-admin-key-0123456789\n");
    /* make_ini's own [auth] section comes first: the users join it */
    h_start(&l, INI, NULL);
    post(&l, "contact", "{\"email\":\"roles@x.example\",\"name\":\"R\",\"consent\":true}", id,
         sizeof(id));
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    static const struct {
        const char *key, *method, *path, *body; /* path: a lead's when it ends in / */
        long want;
    } rows[] = {
        {"mia-viewer-key-0123456789", "GET", "/v1/leads/", NULL, 200},
        {"mia-viewer-key-0123456789", "GET", "/v1/leads", NULL, 200},
        {"mia-viewer-key-0123456789", "GET", "/metrics", NULL, 200},
        {"mia-viewer-key-0123456789", "PATCH", "/v1/leads/", "{\"status\":\"contacted\"}", 403},
        {"mia-viewer-key-0123456789", "DELETE", "/v1/leads/", NULL, 403},
        {"mia-viewer-key-0123456789", "POST", "/v1/deliveries/1/retry", NULL, 403},
        {"ann-sales-key-0123456789", "PATCH", "/v1/leads/", "{\"status\":\"contacted\"}", 200},
        {"ann-sales-key-0123456789", "DELETE", "/v1/leads/", NULL, 403},
        {"ann-sales-key-0123456789", "POST", "/v1/deliveries/1/retry", NULL, 403},
        {H_API_KEY, "PATCH", "/v1/leads/", "{\"status\":\"converted\"}", 200},
        {"wrong-key-0123456789abcdef", "GET", "/v1/leads", NULL, 401},
        {"root-admin-key-0123456789", "DELETE", "/v1/leads/", NULL, 204},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char p[160], auth[128];
        size_t pl = strlen(rows[i].path);
        snprintf(p, sizeof(p), "%s%s", rows[i].path, rows[i].path[pl - 1] == '/' ? id : "");
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", rows[i].key);
        h_req(&l, rows[i].method, p, rows[i].body, &r, auth, NULL);
        if (r.status != rows[i].want)
            fail_msg("row %zu: %s %s: %ld, want %ld: %s", i, rows[i].method, p, r.status,
                     rows[i].want, r.body);
        if (r.status == 403)
            assert_non_null(strstr(r.body, "\"status\":403"));
        if (i == 9) { /* the history says who */
            assert_non_null(
                strstr(r.body, "\"status\":\"contacted\",\"note\":null,\"by\":\"ann\""));
            assert_non_null(
                strstr(r.body, "\"status\":\"converted\",\"note\":null,\"by\":\"api\""));
        }
        resp_free(&r);
    }
    char *log = h_log_text(&l);
    assert_null(strstr(log, "viewer-key"));
    free(log);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

/* Every route, called by nobody, a viewer, a sales rep and an admin: refused
 * (401 without a key, 403 below the route's role) exactly when the role
 * written here says so. The roles are the contract, written out
 * here rather than read from the server's table; a route added to the
 * server without a line here fails the count. */
static const struct http_route ROLE_OF[] = {
    {"GET", "/", ROLE_PUBLIC},
    {"GET", "/thanks", ROLE_PUBLIC},
    {"GET", "/confirmed", ROLE_PUBLIC},
    {"GET", "/v1/confirm/{token}", ROLE_PUBLIC},
    {"POST", "/v1/confirm/{token}", ROLE_PUBLIC},
    {"GET", "/v1/unsubscribe/{token}", ROLE_PUBLIC},
    {"POST", "/v1/unsubscribe/{token}", ROLE_PUBLIC},
    {"GET", "/forms/{form}", ROLE_PUBLIC},
    {"GET", "/healthz", ROLE_PUBLIC},
    {"GET", "/readyz", ROLE_PUBLIC},
    {"POST", "/v1/forms/{form}/submissions", ROLE_PUBLIC},
    {"OPTIONS", "/v1/forms/{form}/submissions", ROLE_PUBLIC},
    {"GET", "/v1/leads", ROLE_VIEWER},
    {"GET", "/v1/leads/export", ROLE_VIEWER},
    {"GET", "/v1/conversions/export", ROLE_VIEWER},
    {"GET", "/v1/leads/{id}", ROLE_VIEWER},
    {"PATCH", "/v1/leads/{id}", ROLE_SALES},
    {"DELETE", "/v1/leads/{id}", ROLE_ADMIN},
    {"GET", "/v1/leads/{id}/consents", ROLE_VIEWER},
    {"POST", "/v1/leads/{id}/consents/withdraw", ROLE_SALES},
    {"GET", "/v1/consents", ROLE_ADMIN},
    {"POST", "/v1/erasures", ROLE_ADMIN},
    {"GET", "/v1/stats", ROLE_VIEWER},
    {"GET", "/v1/spend", ROLE_VIEWER},
    {"PUT", "/v1/spend", ROLE_ADMIN},
    {"POST", "/v1/spend", ROLE_ADMIN},
    {"DELETE", "/v1/spend", ROLE_ADMIN},
    {"GET", "/v1/forms", ROLE_VIEWER},
    {"GET", "/v1/forms/{form}/embed", ROLE_VIEWER},
    {"GET", "/v1/deliveries", ROLE_VIEWER},
    {"POST", "/v1/deliveries/{id}/retry", ROLE_ADMIN},
    {"GET", "/metrics", ROLE_VIEWER},
    {"POST", "/v1/inbound/{name}", ROLE_PUBLIC}, /* the CRM's own signature, not a role */
    {"POST", "/v1/session", ROLE_PUBLIC},
    {"GET", "/v1/session", ROLE_VIEWER},
    {"DELETE", "/v1/session", ROLE_VIEWER},
    {"GET", "/v1/events", ROLE_VIEWER},
    {"GET", "/app", ROLE_PUBLIC},
    {"GET", "/app/leads/{id}", ROLE_PUBLIC},
    {"GET", "/app/sources", ROLE_PUBLIC},
    {"GET", "/app/spend", ROLE_PUBLIC},
    {"GET", "/app/assets/{file}", ROLE_PUBLIC},
};

static void t_roles_on_every_route(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char id[64];
    assert_int_equal(http_route_count(), LEADD_ARRAY_LEN(ROLE_OF));
    make_ini("[auth]\nuser.ann = sales ann-sales-key-0123456789\n"
             "user.mia = viewer mia-viewer-key-0123456789\n");
    h_start(&l, INI, NULL);
    post(&l, "contact", "{\"email\":\"every@x.example\",\"name\":\"E\",\"consent\":true}", id,
         sizeof(id));
    static const struct {
        const char *key;
        enum role role;
    } callers[] = {{NULL, ROLE_PUBLIC},
                   {"mia-viewer-key-0123456789", ROLE_VIEWER},
                   {"ann-sales-key-0123456789", ROLE_SALES},
                   {H_API_KEY, ROLE_ADMIN}};
    for (size_t i = 0; i < LEADD_ARRAY_LEN(ROLE_OF); i++) {
        const struct http_route *rt = &ROLE_OF[i];
        /* the path, its {param} filled in */
        char path[160] = "";
        for (const char *p = rt->pattern; *p;) {
            size_t n = strlen(path);
            if (*p != '{') {
                path[n] = *p++;
                path[n + 1] = '\0';
                continue;
            }
            const char *name = p + 1;
            p = strchr(p, '}') + 1;
            const char *v = !strncmp(name, "form}", 5)          ? "contact"
                            : !strncmp(name, "file}", 5)        ? "app.js"
                            : strstr(rt->pattern, "deliveries") ? "1"
                            /* an erasure that finds no lead: 404 when allowed */
                            : !strcmp(rt->method, "DELETE") ? "01KAQ3X6Y8R0S9T1V2W3X4Y5Z6"
                                                            : id;
            snprintf(path + n, sizeof(path) - n, "%s", v);
        }
        const char *body = !strcmp(rt->method, "PATCH") ? "{\"note\":\"roles\"}"
                           : !strcmp(rt->method, "POST")
                               ? "{\"email\":\"e2@x.example\",\"name\":\"E\",\"consent\":true}"
                               : NULL;
        for (size_t c = 0; c < LEADD_ARRAY_LEN(callers); c++) {
            bool allowed = callers[c].role >= rt->role;
            /* A live stream never ends by itself: itest_events.c covers the
             * allowed case. */
            if (allowed && rt->role != ROLE_PUBLIC && !strcmp(rt->pattern, "/v1/events"))
                continue;
            /* POST /v1/session answers 401 to a wrong key: that is its job. */
            if (!strcmp(rt->pattern, "/v1/session") && !strcmp(rt->method, "POST"))
                continue;
            char auth[128];
            snprintf(auth, sizeof(auth), "Authorization: Bearer %s", callers[c].key);
            h_req(&l, rt->method, path, body, &r, "Content-Type: application/json",
                  callers[c].key ? auth : NULL, NULL);
            long want = callers[c].role == ROLE_PUBLIC ? 401 : 403;
            if (allowed ? (r.status == 401 || r.status == 403) : r.status != want)
                fail_msg("%s %s as %s: %ld (the route needs %s)", rt->method, path,
                         role_names[callers[c].role], r.status, role_names[rt->role]);
            resp_free(&r);
        }
    }
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_auth(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char v[128];
    make_ini(NULL);
    h_start(&l, INI, NULL);
    for (size_t i = 0; i < http_route_count(); i++) {
        const struct http_route *rt = http_route_at(i);
        if (rt->role == ROLE_PUBLIC)
            continue;
        char path[256];
        const char *brace = strchr(rt->pattern, '{');
        if (brace) /* any id will do: auth comes first */
            snprintf(path, sizeof(path), "%.*s01ARYZ6S41TSV4RRFFQ69G5FAV%s",
                     (int)(brace - rt->pattern), rt->pattern, strchr(brace, '}') + 1);
        else
            snprintf(path, sizeof(path), "%s", rt->pattern);
        h_req(&l, rt->method, path, NULL, &r, NULL);
        if (r.status != 401)
            fail_msg("%s %s without a key: %ld", rt->method, path, r.status);
        assert_non_null(h_header(&r, "WWW-Authenticate", v, sizeof(v)));
        assert_int_equal(strncmp(v, "Bearer", 6), 0);
        assert_non_null(strstr(r.body, "\"status\":401"));
        resp_free(&r);
    }
    const char *bad[] = {"Authorization: Bearer wrong-key-0123456789",
                         "Authorization: Basic dGVzdA==", "Authorization: Bearer ",
                         "Authorization: " H_API_KEY};
    for (size_t i = 0; i < 4; i++) {
        h_req(&l, "GET", "/v1/leads", NULL, &r, bad[i], NULL);
        assert_int_equal(r.status, 401);
        resp_free(&r);
    }
    h_req(&l, "GET", "/v1/leads", NULL, &r, "Authorization: Bearer second-key-0123456789", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"data\":[],\"next_cursor\":null,\"spam_filter\":\"hidden\"}");
    resp_free(&r);
    /* The answer says which spam it holds, for each choice. */
    h_api(&l, "GET", "/v1/leads?spam=true", NULL, &r);
    assert_non_null(strstr(r.body, "\"spam_filter\":\"only\"}"));
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads?spam=any", NULL, &r);
    assert_non_null(strstr(r.body, "\"spam_filter\":\"included\"}"));
    resp_free(&r);
    char *log = h_log_text(&l);
    assert_null(strstr(log, H_API_KEY));
    assert_null(strstr(log, "wrong-key"));
    free(log);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);

    /* No keys: everyone gets 401 that says why, and so does the start-up log. */
    h_start(&l, H_BASE_INI, NULL);
    assert_true(h_wait_log(&l, "no API keys configured", 5000));
    h_api(&l, "GET", "/v1/leads", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "no API key or user configured"));
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    /* Keys from the environment. */
    setenv("LEADD_TEST_KEYS", "zzz-not-it-0123456789," H_API_KEY, 1);
    h_start(&l, "[auth]\napi_keys = env:LEADD_TEST_KEYS\n[form.a]\nfield.email = email\n", NULL);
    h_api(&l, "GET", "/v1/leads", NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_get_patch_history(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char id[64];
    make_ini(NULL);
    h_start(&l, INI, NULL);
    post(&l, "contact",
         "{\"email\":\"g@acme.example\",\"name\":\"G\",\"company\":\"Acme\",\"consent\":true,"
         "\"utm_source\":\"google\",\"x\":\"y\"}",
         id, sizeof(id));
    char path[128];
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    const char *keys[] = {"\"id\":",
                          "\"form\":\"contact\"",
                          "\"created_at\":",
                          "\"status\":\"new\"",
                          "\"fields\":{\"email\":\"g@acme.example\"",
                          "\"extra\":{\"x\":\"y\"}",
                          "\"attribution\":{\"utm_source\":\"google\"}",
                          "\"client\":{\"ip\":\"127.0.0.1\"",
                          "\"score\":30",
                          "\"grade\":\"warm\"",
                          "\"qualified\":false",
                          "\"score_reasons\":[{\"rule\":\"has_company\",\"points\":20},{\"rule\":"
                          "\"paid_search\",\"points\":10}]",
                          "\"flags\":[]",
                          "\"duplicate_of\":null",
                          "\"forwarding\":{\"state\":\"none\",\"deliveries\":0,\"attempts\":0}",
                          "\"history\":[]"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!strstr(r.body, keys[i]))
            fail_msg("lead lacks %s: %s", keys[i], r.body);
    }
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"status\":\"contacted\",\"note\":\"called, wants a demo\"}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"contacted\""));
    assert_non_null(
        strstr(r.body, "\"status\":\"contacted\",\"note\":\"called, wants a demo\",\"by\":\"api\","
                       "\"owner\":null,\"spam\":null}]"));
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"status\":\"converted\"}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"history\":[{\"at\":"));
    assert_non_null(strstr(r.body,
                           "\"status\":\"converted\",\"note\":null,\"by\":\"api\",\"owner\":null,"
                           "\"spam\":null}]"));
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"status\":\"won\"}", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"field\":\"status\",\"code\":\"invalid\""));
    resp_free(&r);
    h_api(&l, "PATCH", path, "{}", &r); /* nothing to change */
    assert_int_equal(r.status, 422);
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"owner\":\"nobody\",\"spam\":\"yes\"}", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"field\":\"owner\",\"code\":\"invalid\""));
    assert_non_null(strstr(r.body, "{\"field\":\"spam\",\"code\":\"invalid\""));
    resp_free(&r);
    h_api(&l, "PATCH", path, "not json", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    h_api(&l, "PATCH", "/v1/leads/01ARYZ6S41TSV4RRFFQ69G5FAV", "{\"status\":\"contacted\"}", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads/nope", NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM lead_history WHERE lead_id = %Q", id), 2);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

/* assign.NAME rules give new leads an owner at intake: the first matching
 * rule, round-robin among its users; spam gets none; a rule naming someone
 * who is not a user stops the start. */
static void t_assignment(void **state)
{
    (void)state;
    struct leadd l;
    char id[64], v[64];
    make_ini("[auth]\nuser.ann = sales ann-sales-key-0123456789\n"
             "user.bob = sales bob-sales-key-0123456789\nuser.cy = sales cy-sales-key-0123456789\n"
             "[form.contact]\nassign.hot = grade = hot => ann bob\nassign.rest = form = contact => "
             "cy\n");
    h_start(&l, INI, NULL);
    static const char *const want[] = {"ann", "bob", "ann", "bob"};
    for (int i = 0; i < 4; i++) {
        char b[256];
        snprintf(b, sizeof(b),
                 "{\"email\":\"a%d@x.example\",\"name\":\"A\",\"company\":\"C\",\"budget\":50000,"
                 "\"utm_source\":\"google\",\"consent\":true}",
                 i);
        post(&l, "contact", b, id, sizeof(id));
        h_sql_text(&l, v, sizeof(v), "SELECT owner FROM leads WHERE id = %Q", id);
        assert_string_equal(v, want[i]);
    }
    post(&l, "contact", "{\"email\":\"cold@x.example\",\"name\":\"C\",\"consent\":true}", id,
         sizeof(id));
    h_sql_text(&l, v, sizeof(v), "SELECT owner FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "cy");
    post(&l, "contact",
         "{\"email\":\"bot@x.example\",\"name\":\"B\",\"consent\":true,\"_gotcha\":\"1\"}", id,
         sizeof(id));
    assert_int_equal(h_sql_int(&l, "SELECT owner IS NULL FROM leads WHERE id = %Q", id), 1);
    assert_int_equal(list_count(&l, "owner=ann"), 2);
    assert_int_equal(h_stop(&l), 0);
    /* a rule naming a stranger stops the start */
    make_ini("[form.contact]\nassign.x = grade = hot => nobody\n");
    h_write_file(&l, "leadd.ini", INI, l.cfg, sizeof(l.cfg));
    char cmd[600];
    snprintf(cmd, sizeof(cmd),
             "%s check-config -c %s 2>&1 | grep -q \"assign.x: 'nobody' is not a user\"",
             getenv("LEADD_BIN"), l.cfg);
    assert_int_equal(system(cmd), 0);
    h_cleanup(&l);
}

/* A note alone; an owner given and taken away, and the owner filter; a lead
 * marked spam loses its pending delivery and is never sent; marked not spam,
 * it loses its spam flags, is scored anew and, qualifying, is sent. */
static void t_patch_note_owner_spam(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char extra[1024], id[64], bot[64], path[128];
    recv_start(&rv, 0);
    snprintf(extra, sizeof(extra),
             "[auth]\nuser.bob = sales bob-sales-key-0123456789\n"
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\nretry_schedule = 1h\n",
             free_port());
    make_ini(extra);
    h_start(&l, INI, NULL);
    post(&l, "contact",
         "{\"email\":\"hot@x.example\",\"name\":\"H\",\"company\":\"C\",\"budget\":50000,"
         "\"consent\":true}",
         id, sizeof(id));
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"note\":\"left a voicemail\"}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"new\",\"note\":\"left a voicemail\""));
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"owner\":\"bob\"}", &r);
    assert_non_null(strstr(r.body, "\"owner\":\"bob\""));
    assert_non_null(strstr(r.body, "\"owner\":\"bob\",\"spam\":null}"));
    resp_free(&r);
    assert_int_equal(list_count(&l, "owner=bob"), 1);
    assert_int_equal(list_count(&l, "owner=none"), 0);
    h_api(&l, "PATCH", path, "{\"owner\":null}", &r);
    assert_non_null(
        strstr(r.body, "\"owner\":null,\"value\":null,\"currency\":null,\"forwarding\""));
    resp_free(&r);
    assert_int_equal(list_count(&l, "owner=none"), 1);
    /* marked spam: its pending delivery is cancelled */
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", id), 1);
    h_api(&l, "PATCH", path, "{\"spam\":true}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"flags\":[\"marked_spam\"]"));
    assert_non_null(strstr(r.body, "\"qualified\":false"));
    resp_free(&r);
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM deliveries WHERE lead_id = %Q AND"
                               " state = 'cancelled' AND why = 'marked spam'",
                               id),
                     1);
    assert_int_equal(list_count(&l, "spam=true"), 1);
    /* the verdict is counted once, however often it is said */
    h_api(&l, "PATCH", path, "{\"spam\":true}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(h_metric(&l, "leadd_lead_flags_total{flag=\"marked_spam\"}"), 1);
    /* a bot's lead (honeypot) marked not spam: scored anew and sent */
    recv_start(&rv, 0);
    post(&l, "contact",
         "{\"email\":\"bot@x.example\",\"name\":\"B\",\"company\":\"C\",\"budget\":50000,"
         "\"consent\":true,\"_gotcha\":\"x\"}",
         bot, sizeof(bot));
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", bot), 0);
    snprintf(path, sizeof(path), "/v1/leads/%s", bot);
    h_api(&l, "PATCH", path, "{\"spam\":false}", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"flags\":[]"));
    assert_non_null(strstr(r.body, "\"qualified\":true"));
    assert_non_null(strstr(r.body, "\"spam\":false}"));
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", bot), 1);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

static void t_filters(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char id[64], path[128];
    make_ini(NULL);
    h_start(&l, INI, NULL);
    /* 3 hot google (qualified), 2 warm bing, 1 cold, 1 honeypot, 1 newsletter */
    for (int i = 0; i < 3; i++) {
        char b[256];
        snprintf(
            b, sizeof(b),
            "{\"email\":\"hot%d@big.example\",\"name\":\"Hot %d\",\"company\":\"Big Co\","
            "\"budget\":20000,\"consent\":true,\"utm_source\":\"google\",\"utm_medium\":\"cpc\","
            "\"utm_campaign\":\"spring\"}",
            i, i);
        post(&l, "contact", b, id, sizeof(id));
    }
    post(&l, "contact",
         "{\"email\":\"w1@mid.example\",\"name\":\"Wanda\",\"company\":\"Mid\",\"consent\":true,"
         "\"utm_source\":\"bing\",\"utm_medium\":\"cpc\"}",
         id, sizeof(id));
    post(&l, "contact",
         "{\"email\":\"w2@mid.example\",\"name\":\"Walt\",\"company\":\"Mid\",\"consent\":true,"
         "\"utm_source\":\"bing\",\"utm_medium\":\"email\"}",
         id, sizeof(id));
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"status\":\"rejected\"}", &r);
    resp_free(&r);
    post(&l, "contact", "{\"email\":\"c@small.example\",\"name\":\"Cold\",\"consent\":true}", id,
         sizeof(id));
    post(&l, "contact",
         "{\"email\":\"bot@spam.example\",\"name\":\"Bot\",\"consent\":true,\"_gotcha\":\"1\"}", id,
         sizeof(id));
    post(&l, "newsletter", "{\"email\":\"n@news.example\"}", id, sizeof(id));
    static const struct {
        const char *q;
        long n;
    } rows[] = {
        {"", 7}, /* spam hidden by default */
        {"spam=any", 8},
        {"spam=true", 1},
        {"form=contact", 6},
        {"form=newsletter", 1},
        {"grade=hot", 3},
        {"grade=warm", 2},
        {"grade=cold", 2},
        {"qualified=true", 3},
        {"qualified=false", 4},
        {"status=rejected", 1},
        {"status=new", 6},
        {"min_score=30", 5},
        {"max_score=0", 2},
        {"min_score=30&max_score=59", 2},
        {"utm_source=google", 3},
        {"utm_source=bing&utm_medium=email", 1},
        {"utm_medium=cpc", 4},
        {"utm_campaign=spring", 3},
        {"q=BIG.example", 3},
        {"q=walt", 1},
        {"q=mid", 2},
        {"q=%25", 0}, /* a literal % matches nothing: LIKE wildcards are escaped */
        {"created_after=2000-01-01T00:00:00Z", 7},
        {"created_before=2000-01-01T00:00:00Z", 0},
        {"created_after=2999-01-01T00:00:00Z", 0},
        {"form=contact&grade=hot&utm_source=google&qualified=true", 3},
        {"created_before=2999-01-01T00:00:00Z", 7},
        {"created_after=2000-01-01T00:00:00Z&created_before=2999-01-01T00:00:00Z&q=mid", 2},
        {"spam=true&grade=cold&form=contact", 1},
        {"spam=any&status=new&min_score=0&max_score=100&utm_medium=cpc&utm_campaign=spring", 3},
        {"q=ACME", 0},
        {"q=Big&grade=hot&created_after=2999-01-01T00:00:00Z", 0},
    };
    /* Twice: as stored, and once the stats have folded them (a stop folds):
     * the lists read folded leads through lead_filters. */
    for (size_t i = 0, round = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        long n = list_count(&l, rows[i].q);
        if (n != rows[i].n)
            fail_msg("filter '%s'%s: %ld leads, want %ld", rows[i].q, round ? " (folded)" : "", n,
                     rows[i].n);
        /* The export is the list, whole: same leads, same order, both formats
         * (CSV needs a form, so it is compared with the list of that form). */
        char *list = list_ids(&l, rows[i].q), *nd = export_ids(&l, "ndjson", rows[i].q);
        if (strcmp(list, nd))
            fail_msg("filter '%s': list [%s], ndjson export [%s]", rows[i].q, list, nd);
        free(list);
        free(nd);
        char q[256];
        bool has_form = strstr(rows[i].q, "form=") != NULL;
        snprintf(q, sizeof(q), "%s%s%s", rows[i].q, rows[i].q[0] && !has_form ? "&" : "",
                 has_form ? "" : "form=contact");
        list = list_ids(&l, q);
        char *csv = export_ids(&l, "csv", q);
        if (strcmp(list, csv))
            fail_msg("filter '%s': list [%s], csv export [%s]", q, list, csv);
        free(list);
        free(csv);
        if (i + 1 == sizeof(rows) / sizeof(rows[0]) && !round++) {
            assert_int_equal(h_stop(&l), 0);
            h_restart(&l);
            i = (size_t)-1;
        }
    }
    static const char *const bad[] = {
        "limit=0",         "limit=501",  "limit=x",     "grade=lukewarm",
        "qualified=maybe", "spam=no",    "min_score=a", "created_after=yesterday",
        "cursor=abc",      "status=won", "colour=red",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char p[256], name[64];
        snprintf(p, sizeof(p), "/v1/leads?%s", bad[i]);
        snprintf(name, sizeof(name), "parameter '%.*s'", (int)strcspn(bad[i], "="), bad[i]);
        h_api(&l, "GET", p, NULL, &r);
        if (r.status != 400 || !strstr(r.body, name))
            fail_msg("%s: %ld %s", p, r.status, r.body);
        resp_free(&r);
    }
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

/* ---- pages while leads arrive ---- */

static struct leadd PL;
static atomic_bool stop_posting;
static atomic_int posted;

static void *poster(void *arg)
{
    (void)arg;
    for (int i = 0; !atomic_load(&stop_posting); i++) {
        char b[256];
        snprintf(b, sizeof(b), "{\"email\":\"new%d@late.example\",\"name\":\"N\",\"consent\":true}",
                 i);
        post(&PL, "contact", b, NULL, 0);
        atomic_fetch_add(&posted, 1);
    }
    return NULL;
}

static void seed_sql(struct leadd *l, int n, const char *form, int message_len)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    struct ulid_gen g;
    char id[ULID_LEN + 1], at[32], fields[8192], email[64];
    char *msg = malloc((size_t)message_len + 1);
    memset(msg, 'm', (size_t)message_len);
    msg[message_len] = '\0';
    ulid_gen_init(&g);
    assert_int_equal(sqlite3_open(l->db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "INSERT INTO leads(id, form, created_at, created_ms, email, name,"
                           " fields, attribution, utm_source, client, score, grade)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, 'Seed', ?6, ?7, 'seed', '{}', 1, 'cold')",
                           -1, &s, NULL),
        SQLITE_OK);
    uint64_t t0 = now_ms() - 3600 * 1000;
    for (int i = 0; i < n; i++) {
        ulid_next(&g, t0 + (uint64_t)i / 50, id);
        rfc3339_ms(ulid_time_ms(id), at);
        snprintf(email, sizeof(email), "seed%d@old.example", i);
        snprintf(fields, sizeof(fields),
                 "{\"email\":\"%s\",\"name\":\"Seed\",\"message\":\"%s\",\"consent\":true}", email,
                 msg);
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, form, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, at, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 4, (sqlite3_int64)ulid_time_ms(id));
        sqlite3_bind_text(s, 5, email, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 6, fields, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 7, "{\"utm_source\":\"seed\"}", -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    }
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    free(msg);
}

/* A page filtered by grade, qualified, score or spam: the leads past the
 * rollup's mark read directly, the older ones through lead_filters (the
 * score by its index when few match, newest first when many): every way
 * gives exactly the leads the filter names, newest first, page after page. */
static void check_pages(struct leadd *l, const char *query, const char *where)
{
    char cursor[64] = "", path[256];
    for (int page = 0; page < 3; page++) {
        char want[4096] = "", got[4096] = "";
        struct resp r;
        h_sql_text(l, want, sizeof(want),
                   "SELECT group_concat(id) FROM (SELECT id FROM leads WHERE erased_at IS NULL AND"
                   " %s%s%s%s ORDER BY id DESC LIMIT 20)",
                   where, *cursor ? " AND id < '" : "", cursor, *cursor ? "'" : "");
        snprintf(path, sizeof(path), "/v1/leads?limit=20&%s%s%s%s", query,
                 strstr(query, "spam=") ? "" : "&spam=any", *cursor ? "&cursor=" : "", cursor);
        h_api(l, "GET", path, NULL, &r);
        assert_int_equal(r.status, 200);
        size_t n = 0;
        for (const char *p = r.body; (p = strstr(p, "{\"id\":\"")); p += 8)
            n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%.26s", n ? "," : "", p + 7);
        if (strcmp(got, want))
            fail_msg("%s page %d: got %s, want %s", query, page, got, want);
        if (!h_json_str(r.body, "next_cursor", cursor, sizeof(cursor)))
            cursor[0] = '\0';
        resp_free(&r);
        if (!*cursor)
            break;
    }
}

static void t_filters_by_every_path(void **state)
{
    (void)state;
    if (h_pg())
        skip(); /* seeds rows into SQLite's file; on PostgreSQL itest_pg reads a copy alike */
    struct leadd l;
    const struct {
        const char *query, *where;
    } cases[] = {
        {"min_score=40", "score >= 40"},
        {"min_score=80", "score >= 80"},
        {"min_score=40&max_score=60", "score BETWEEN 40 AND 60"},
        {"max_score=1", "score <= 1"},
        {"min_score=95", "score >= 95"},
        {"grade=hot", "grade = 'hot'"},
        {"grade=warm&qualified=true", "grade = 'warm' AND qualified = 1"},
        {"qualified=false&min_score=2", "qualified = 0 AND score >= 2"},
        {"spam=true", "(flags & 19) != 0"},
        /* scores of a hundred values: a range of 21 read score by score,
         * one of more than 64 newest first through the table */
        {"min_score=150&max_score=170", "score BETWEEN 150 AND 170"},
        {"min_score=100", "score >= 100"},
        {"min_score=100&qualified=true", "score >= 100 AND qualified = 1"},
    };
    make_ini(NULL);
    h_start(&l, INI, NULL);
    seed_sql(&l, 25000, "contact", 10); /* score 1, cold */
    /* 24,000 of them score 50 (many), every 100th of the rest 90, hot and
     * qualified (few); a few spam */
    h_sql_exec(&l, "UPDATE leads SET score = 50, grade = 'warm' WHERE rowid <= 24000");
    h_sql_exec(&l, "UPDATE leads SET score = 90, grade = 'hot', qualified = 1"
                   " WHERE rowid > 24000 AND rowid % 100 = 0");
    h_sql_exec(&l, "UPDATE leads SET flags = 1 WHERE rowid % 997 = 0");
    h_sql_exec(&l, "UPDATE leads SET score = 100 + rowid % 100, qualified = rowid % 3 = 0"
                   " WHERE rowid > 24500");
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
            check_pages(&l, cases[i].query, cases[i].where);
        /* a restart folds the leads past the mark: then lead_filters serves */
        assert_int_equal(h_stop(&l), 0);
        h_restart(&l);
        assert_int_equal(
            h_sql_int(&l, "SELECT count(*) FROM leads WHERE id > (SELECT upto FROM rollup_mark)"),
            0);
    }
    /* a change to a counted lead reaches its filters */
    char id[64], path[96];
    struct resp r;
    post(&l, "contact", "{\"email\":\"late@x.example\",\"name\":\"L\",\"consent\":true}", id,
         sizeof(id));
    assert_int_equal(h_stop(&l), 0);
    h_restart(&l);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"spam\":true}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    check_pages(&l, "spam=true", "(flags & 19) != 0");
    h_api(&l, "GET", "/v1/leads?limit=1&spam=true", NULL, &r);
    assert_non_null(strstr(r.body, id));
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_pages_while_leads_arrive(void **state)
{
    (void)state;
    if (h_pg())
        skip(); /* seeds rows into SQLite's file; on PostgreSQL itest_pg reads a copy alike */
    struct resp r;
    make_ini(NULL);
    h_start(&PL, INI, NULL);
    seed_sql(&PL, 1000, "contact", 10);
    atomic_store(&stop_posting, false);
    pthread_t th;
    pthread_create(&th, NULL, poster, NULL);
    char cursor[64] = "", path[256], prev[ULID_LEN + 1] = "~";
    int seen = 0, pages = 0;
    for (;;) {
        snprintf(path, sizeof(path), "/v1/leads?utm_source=seed&limit=37%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        h_api(&PL, "GET", path, NULL, &r);
        assert_int_equal(r.status, 200);
        pages++;
        for (const char *p = r.body; (p = strstr(p, "{\"id\":\"")); p++) {
            char id[ULID_LEN + 1];
            memcpy(id, p + 7, ULID_LEN);
            id[ULID_LEN] = '\0';
            if (strcmp(id, prev) >= 0)
                fail_msg("not newest first, or repeated: %s after %s", id, prev);
            memcpy(prev, id, sizeof(id));
            seen++;
        }
        bool more = h_json_str(r.body, "next_cursor", cursor, sizeof(cursor));
        resp_free(&r);
        if (!more)
            break;
    }
    atomic_store(&stop_posting, true);
    pthread_join(th, NULL);
    assert_int_equal(seen, 1000);
    assert_int_equal(pages, 28);
    assert_true(atomic_load(&posted) > 0);
    /* Unfiltered, new leads included: still each exactly once. */
    cursor[0] = '\0';
    seen = 0;
    long total = h_sql_int(&PL, "SELECT count(*) FROM leads");
    for (;;) {
        snprintf(path, sizeof(path), "/v1/leads?limit=500%s%s", cursor[0] ? "&cursor=" : "",
                 cursor);
        h_api(&PL, "GET", path, NULL, &r);
        seen += count_data(r.body);
        bool more = h_json_str(r.body, "next_cursor", cursor, sizeof(cursor));
        resp_free(&r);
        if (!more)
            break;
    }
    assert_int_equal(seen, total);
    assert_int_equal(h_stop(&PL), 0);
    h_cleanup(&PL);
}

/* Lines in a big body. memchr, not strstr: under ASan each strstr call
 * measures the whole rest of the text, which makes a loop of them quadratic. */
static int count_lines(const char *p, size_t n)
{
    int lines = 0;
    for (const char *end = p + n; (p = memchr(p, '\n', (size_t)(end - p))); p++)
        lines++;
    return lines;
}

static void t_export_streams_flat(void **state)
{
    (void)state;
    if (h_pg())
        skip(); /* seeds rows into SQLite's file; on PostgreSQL itest_pg reads a copy alike */
    struct leadd l;
    struct resp r;
    make_ini(NULL);
    /* ASan keeps freed memory in a quarantine (256 MB by default), which would
     * read as growth; a small one lets the peak show what leadd itself holds. */
    char *saved = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    char opts[1024];
    snprintf(opts, sizeof(opts), "%s:quarantine_size_mb=1:thread_local_quarantine_size_kb=64",
             saved ? saved : "");
    setenv("ASAN_OPTIONS", opts, 1);
    h_start(&l, INI, NULL);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    seed_sql(&l, 100000, "contact", 400);
    /* Warm up: the first export opens a reader and fills its page cache. */
    h_api(&l, "GET", "/v1/leads/export?format=csv&form=contact&utm_source=none", NULL, &r);
    resp_free(&r);
    long before = h_peak_rss_kb(l.pid);
    h_api(&l, "GET", "/v1/leads/export?format=csv&form=contact", NULL, &r);
    assert_int_equal(r.status, 200);
    long after_csv = h_peak_rss_kb(l.pid);
    char v[128];
    assert_string_equal(h_header(&r, "Content-Type", v, sizeof(v)), "text/csv; charset=utf-8");
    int lines = count_lines(r.body, r.len);
    assert_int_equal(lines, 100001);
    static const char head[] =
        "\xef\xbb\xbfid,created_at,form,status,score,grade,qualified,email,name,company,"
        "phone,budget,message,consent,utm_source,utm_medium,utm_campaign,utm_term,utm_content,"
        "referrer,landing_page,flags,owner,notes,extra,crm_ids\r\n";
    assert_int_equal(strncmp(r.body, head, strlen(head)), 0);
    size_t csv_bytes = r.len;
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads/export?format=ndjson&utm_source=seed", NULL, &r);
    assert_int_equal(r.status, 200);
    long after_nd = h_peak_rss_kb(l.pid);
    lines = count_lines(r.body, r.len);
    assert_int_equal(lines, 100000);
    size_t nd_bytes = r.len;
    resp_free(&r);
    /* Tens of MB went out; the process's peak grew by far less than that. */
    fprintf(stderr, "export: csv %zu bytes, ndjson %zu bytes; peak RSS %ld -> %ld -> %ld kB\n",
            csv_bytes, nd_bytes, before, after_csv, after_nd);
    assert_true(csv_bytes > 40u << 20 && nd_bytes > 40u << 20);
    assert_true(after_nd - before < 24 * 1024);
    h_api(&l, "GET", "/v1/leads/export?format=csv", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "parameter 'form'"));
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads/export?format=xml", NULL, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_csv_escaping(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    make_ini(NULL);
    h_start(&l, INI, NULL);
    post(
        &l, "contact",
        "{\"email\":\"e@x.example\",\"name\":\"Lee, "
        "\\\"Ann\\\"\",\"company\":\"=HYPERLINK(\\\"http://evil\\\")\","
        "\"message\":\"line1\\nline2\",\"phone\":\"+1 555 0100 999\",\"budget\":5,\"consent\":true,"
        "\"utm_source\":\"@home\",\"utm_campaign\":\"-1\"}",
        NULL, 0);
    h_api(&l, "GET", "/v1/leads/export?format=csv&form=contact", NULL, &r);
    assert_int_equal(r.status, 200);
    /* UTF-8's byte-order mark first (spreadsheets read the file as UTF-8),
     * then the header with every column. */
    const char *head = "\xef\xbb\xbfid,created_at,form,status,score,grade,qualified,email,name,"
                       "company,phone,budget,message,consent,utm_source,utm_medium,utm_campaign,"
                       "utm_term,utm_content,referrer,landing_page,flags,owner,notes,extra,"
                       "crm_ids\r\n";
    if (strncmp(r.body, head, strlen(head)))
        fail_msg("csv header: %.300s", r.body);
    const char *row = strstr(r.body, "\r\n") + 2;
    /* created_at as spreadsheets read a date: 2026-11-30 23:25:49 */
    const char *at = strchr(row, ',') + 1;
    assert_true(at[4] == '-' && at[7] == '-' && at[10] == ' ' && at[13] == ':' && at[19] == ',');
    /* id,created_at,form,status,score,grade,qualified, then the fields */
    const char *fields = row;
    for (int i = 0; i < 7; i++)
        fields = strchr(fields, ',') + 1;
    if (strncmp(fields, "e@x.example", 11))
        fail_msg("csv row: %s", row);
    /* A formula is guarded; a phone number and a negative number are not. */
    const char *want = "e@x.example,\"Lee, \"\"Ann\"\"\",\"'=HYPERLINK(\"\"http://evil\"\")\","
                       "+15550100999,5,\"line1\nline2\",true,\"'@home\",,-1,,,,,,,,,\r\n";
    if (strncmp(fields, want, strlen(want)))
        fail_msg("csv row:\n%s\nwant fields:\n%s", row, want);
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads/export?format=csv&form=contact&bom=false", NULL, &r);
    assert_int_equal(strncmp(r.body, "id,created_at,", 14), 0);
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads/export?format=csv&form=contact&bom=maybe", NULL, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    /* JSON escapes in the stored values come out as the text they stand for:
     * a backslash, quotes, a tab, a surrogate pair, a control character. */
    post(&l, "contact",
         "{\"email\":\"u@x.example\",\"name\":\"Zo\\u00eb \\\\ \\\"q\\\"\",\"consent\":true,"
         "\"message\":\"tab\\there \\ud83d\\ude00 \\u0001 \\/ end\"}",
         NULL, 0);
    h_api(&l, "GET", "/v1/leads/export?format=csv&form=contact", NULL, &r);
    assert_int_equal(r.status, 200);
    row = strstr(r.body, "\r\n") + 2; /* newest first */
    fields = row;
    for (int i = 0; i < 7; i++)
        fields = strchr(fields, ',') + 1;
    want = "u@x.example,\"Zo\xc3\xab \\ \"\"q\"\"\",,,,tab\there \xf0\x9f\x98\x80 \x01 / "
           "end,true,,,,,,,,,,,,\r\n";
    if (strncmp(fields, want, strlen(want)))
        fail_msg("csv row:\n%s\nwant fields:\n%s", row, want);
    resp_free(&r);
    /* The columns a marketer asked for: referrer, landing page, flags, owner,
     * notes and the extra fields. */
    char id[64], path[128];
    h_req(&l, "POST", "/v1/forms/contact/submissions",
          "email=w%40x.example&name=Wu&consent=on&_gotcha=bot&colour=blue&referrer=https%3A%2F%2F"
          "news.example%2F",
          &r, "Content-Type: application/x-www-form-urlencoded",
          "Referer: https://www.example.com/lp", NULL);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"note\":\"called\"}", &r);
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"note\":\"left a voicemail\"}", &r);
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads/export?format=csv&form=contact&spam=any", NULL, &r);
    row = strstr(r.body, "\r\n") + 2; /* newest first */
    want = ",https://news.example/,https://www.example.com/lp,honeypot,,called | left a "
           "voicemail,\"{\"\"colour\"\":\"\"blue\"\"}\",\r\n"; /* no CRM record: crm_ids empty */
    const char *end = strstr(row, "\r\n") + 2;
    if ((size_t)(end - row) < strlen(want) || strncmp(end - strlen(want), want, strlen(want)))
        fail_msg("csv row:\n%.*s\nwant it to end:\n%s", (int)(end - row), row, want);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_stats(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char id[64], path[128];
    make_ini(NULL);
    h_start(&l, INI, NULL);
    for (int i = 0; i < 4; i++) {
        char b[256];
        snprintf(b, sizeof(b),
                 "{\"email\":\"s%d@x.example\",\"name\":\"S\",\"company\":\"C\",\"budget\":%d,"
                 "\"consent\":true,\"utm_source\":\"google\"}",
                 i, i < 3 ? 50000 : 0);
        post(&l, "contact", b, id, sizeof(id));
    }
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"status\":\"converted\"}", &r);
    resp_free(&r);
    post(&l, "contact",
         "{\"email\":\"b@x.example\",\"name\":\"B\",\"consent\":true,\"utm_source\":\"bing\","
         "\"_gotcha\":\"x\"}",
         NULL, 0);
    post(&l, "contact", "{\"email\":\"n@x.example\",\"name\":\"N\",\"consent\":true}", NULL, 0);
    h_api(&l, "GET", "/v1/stats?group_by=utm_source", NULL, &r);
    assert_int_equal(r.status, 200);
    /* The report (itest_stats checks its every figure) keeps the members
     * callers read before it, with the same values, in the same order. */
    const char *rows[] = {"{\"key\":\"google\",\"leads\":4,",
                          "\"qualified\":3,",
                          "\"converted\":1,",
                          "\"total\":4}",
                          "{\"key\":null,\"leads\":1,",
                          "{\"key\":\"bing\",\"leads\":1,",
                          "\"spam\":1,"};
    const char *at = r.body;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *next = strstr(at, rows[i]);
        if (!next)
            fail_msg("no %s after %s", rows[i], at);
        at = next;
    }
    resp_free(&r);
    h_api(&l, "GET", "/v1/stats?group_by=grade&form=contact", NULL, &r);
    assert_non_null(strstr(r.body, "{\"key\":\"hot\",\"total\":3,\"qualified\":3"));
    resp_free(&r);
    h_api(&l, "GET", "/v1/stats?group_by=day", NULL, &r);
    assert_non_null(strstr(r.body, "\"total\":6"));
    resp_free(&r);
    h_api(&l, "GET", "/v1/stats?group_by=colour", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "parameter 'group_by'"));
    resp_free(&r);
    h_api(&l, "GET", "/v1/forms", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body,
                           "{\"id\":\"contact\",\"fields\":[{\"name\":\"email\",\"type\":\"email\","
                           "\"required\":true,\"label\":\"email\"}"));
    assert_non_null(strstr(r.body, "{\"name\":\"budget\",\"type\":\"integer\",\"required\":false,"
                                   "\"label\":\"budget\",\"min\":0,\"max\":100000000}"));
    resp_free(&r);
    assert_int_equal(
        h_metric(
            &l, "leadd_http_requests_total{route=\"/v1/forms/{form}/submissions\",status=\"201\"}"),
        6);
    assert_int_equal(h_metric(&l, "leadd_leads_accepted_total"), 6);
    assert_int_equal(h_metric(&l, "leadd_lead_flags_total{flag=\"honeypot\"}"), 1);
    assert_true(h_metric(&l, "leadd_writer_batches_total") > 0);
    assert_int_equal(h_metric(&l, "leadd_deliveries{state=\"dead\"}"), 0);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_delivery_retry(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char hooks[512], id[64], did[32], path[128];
    recv_start(&rv, 0);
    rv.status = 400;
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET "\n", rv.port);
    make_ini(hooks);
    h_start(&l, INI, NULL);
    post(&l, "contact",
         "{\"email\":\"d@x.example\",\"name\":\"D\",\"company\":\"C\",\"budget\":50000,"
         "\"consent\":true}",
         id, sizeof(id));
    assert_true(h_wait_log(&l, "attempt 1: dead", 5000));
    h_api(&l, "GET", "/v1/deliveries?state=dead", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(h_json_str(r.body, "id", did, sizeof(did)));
    assert_non_null(strstr(
        r.body, "\"state\":\"dead\",\"next_attempt_at\":null,\"why\":null,\"attempts\":[{\"at\":"));
    assert_non_null(strstr(r.body, "\"status\":400,\"error\":\"HTTP 400\",\"duration_ms\":"));
    char lead_field[128];
    snprintf(lead_field, sizeof(lead_field), "\"lead\":\"%s\"", id);
    assert_non_null(strstr(r.body, lead_field));
    resp_free(&r);
    pthread_mutex_lock(&rv.mu);
    rv.status = 200;
    pthread_mutex_unlock(&rv.mu);
    snprintf(path, sizeof(path), "/v1/deliveries/%s/retry", did);
    h_api(&l, "POST", path, NULL, &r);
    assert_int_equal(r.status, 202);
    resp_free(&r);
    assert_true(recv_wait(&rv, 2, 5000));
    assert_string_equal(rv.reqs[1].id, rv.reqs[0].id); /* the same webhook-id */
    assert_string_not_equal(rv.reqs[1].signature, "");
    assert_true(h_wait_log(&l, ": delivered", 5000));
    h_api(&l, "POST", path, NULL, &r);
    assert_int_equal(r.status, 409);
    resp_free(&r);
    h_api(&l, "POST", "/v1/deliveries/999999/retry", NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    char lp[128];
    snprintf(lp, sizeof(lp), "/v1/leads/%s", id);
    h_api(&l, "GET", lp, NULL, &r);
    assert_non_null(
        strstr(r.body, "\"forwarding\":{\"state\":\"delivered\",\"deliveries\":1,\"attempts\":1}"));
    resp_free(&r);
    h_api(&l, "GET", "/v1/deliveries?state=later", NULL, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_free(&rv);
}

/* Whether the raw bytes of a file contain needle (the test databases are small). */
static bool file_contains(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    size_t n = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    bool found = memmem(buf, n, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void t_erasure(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char id[64], keep[64], path[128], hooks[512];
    recv_start(&rv, 0);
    rv.status = 200;
    rv.fail_first = 1000000; /* a payload attempt is on record */
    rv.fail_status = 500;
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET "\n", rv.port);
    make_ini(hooks);
    h_start(&l, INI, NULL);
    post(&l, "contact",
         "{\"email\":\"erase.me.please@private.example\",\"name\":\"Erasmus Private\","
         "\"company\":\"Secret Co\",\"budget\":50000,\"phone\":\"+4915199988877\",\"consent\":true,"
         "\"utm_source\":\"google\",\"utm_campaign\":\"spring\",\"utm_term\":\"zelda private\","
         "\"gclid\":\"Cj0KCQzelda\",\"landing_page\":\"https://www.example.com/"
         "landing?email=zelda%40"
         "private.example&name=Zelda#top\",\"referrer\":\"https://mail.example/read?to=zelda\"}",
         id, sizeof(id));
    post(&l, "contact", "{\"email\":\"keep.me@public.example\",\"name\":\"Kept\",\"consent\":true}",
         keep, sizeof(keep));
    assert_true(h_wait_log(&l, "attempt 1: pending", 5000));
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"status\":\"contacted\",\"note\":\"Erasmus asked for a call\"}",
          &r);
    resp_free(&r);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    h_api(&l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    assert_int_equal(list_count(&l, "q=erase.me"), 0);
    assert_int_equal(h_stop(&l), 0);
    /* A tombstone stays for the stats; nothing personal does. */
    char v[512];
    h_sql_text(&l, v, sizeof(v),
               "SELECT form || ' ' || score || ' ' || grade || ' ' || attribution ||"
               " ' ' || fields || client || extra FROM leads WHERE id = %Q",
               id);
    /* Of its attribution, the campaign's labels and the pages' addresses
     * without their query strings: nothing a person typed or was tagged with. */
    assert_string_equal(v, "contact 60 hot {\"utm_source\":\"google\",\"utm_campaign\":\"spring\","
                           "\"referrer\":\"https://mail.example/read\",\"landing_page\":"
                           "\"https://www.example.com/landing\"} {}{}{}");
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", id), 0);
    /* Scan the database files themselves (PostgreSQL's: itest_pg) */
    char wal[400];
    if (h_pg())
        goto done;
    snprintf(wal, sizeof(wal), "%s-wal", l.db);
    const char *secrets[] = {"erase.me.please", "Erasmus", "Secret Co", "4915199988877", "zelda"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (file_contains(l.db, secrets[i]) || file_contains(wal, secrets[i]))
            fail_msg("'%s' is still readable in the database files", secrets[i]);
    }
    assert_true(file_contains(l.db, "keep.me@public.example")); /* the scan does find data */
done:
    h_cleanup(&l);
    recv_free(&rv);
}

/* An erasure request comes per person: every lead of the address, on any
 * form, whatever its case, erased at once; their pending deliveries go,
 * their consent records keep only the salted hash; other people stay. */
static void t_erasure_by_address(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char a[64], b[64], c[64], other[64], path[128], hooks[512], want[256];
    recv_start(&rv, 0);
    rv.fail_first = 1000000; /* every delivery stays pending */
    rv.fail_status = 500;
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET "\nwhen = all\n",
             rv.port);
    make_ini(hooks);
    h_start(&l, INI, NULL);
    post(&l, "contact", "{\"email\":\"zelda@example.com\",\"name\":\"Zelda\",\"consent\":true}", a,
         sizeof(a));
    post(&l, "newsletter", "{\"email\":\"Zelda@Example.COM\"}", b, sizeof(b));
    post(&l, "contact", "{\"email\":\"other@example.com\",\"name\":\"Otto\",\"consent\":true}",
         other, sizeof(other));
    post(&l, "contact",
         "{\"email\":\"ZELDA@example.com\",\"name\":\"Z\",\"consent\":true,\"landing_page\":"
         "\"https://www.example.com/?email=zelda%40example.com\"}",
         c, sizeof(c));
    /* Viewers may not; a bad address is named. */
    h_req(&l, "POST", "/v1/erasures", "{\"email\":\"zelda@example.com\"}", &r,
          "Authorization: Bearer nobody-0123456789", "Content-Type: application/json", NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    h_api(&l, "POST", "/v1/erasures", "{\"email\":\"not an address\"}", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "\"email\""));
    resp_free(&r);
    h_api(&l, "POST", "/v1/erasures", "{\"mail\":1}", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    h_api(&l, "POST", "/v1/erasures", "{\"email\":\" Zelda@EXAMPLE.com \"}", &r);
    assert_int_equal(r.status, 200);
    const char *ids[] = {a, b, c};
    qsort(ids, 3, sizeof(ids[0]), cmp_str);
    snprintf(want, sizeof(want), "{\"erased\":[\"%s\",\"%s\",\"%s\"]}", ids[0], ids[1], ids[2]);
    assert_string_equal(r.body, want);
    resp_free(&r);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/v1/leads/%s", ids[i]);
        h_api(&l, "GET", path, NULL, &r);
        assert_int_equal(r.status, 404);
        resp_free(&r);
        assert_int_equal(
            h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", ids[i]), 0);
    }
    snprintf(path, sizeof(path), "/v1/leads/%s", other);
    h_api(&l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", other), 1);
    /* The records of consent stay, found by the address through its hash. */
    h_api(&l, "GET", "/v1/consents?email=zelda@example.com", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, a));
    assert_null(strstr(r.body, "\"ip\":\"127"));
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM leads WHERE attribution LIKE '%%zelda%%'"),
                     0);
    /* Asked again: nothing more to erase, said so. */
    h_api(&l, "POST", "/v1/erasures", "{\"email\":\"zelda@example.com\"}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"erased\":[]}");
    resp_free(&r);
    char *log = h_log_text(&l);
    assert_null(strstr(log, "zelda"));
    assert_non_null(strstr(log, "erased 3 leads of one address on request"));
    free(log);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* A page of leads is read at once (leadrows_each), its histories matched to
 * its leads by id; a lead alone is a set of one: each lead of a page must be, byte for byte,
 * what its own GET answers: fields, history (notes, several entries),
 * forwarding (deliveries to a target that refuses), spam, duplicates. */
/* Every delivery has made its first attempt, and none is on the wire. */
static bool deliveries_tried(void *arg)
{
    struct leadd *l = arg;
    return h_sql_int(l, "SELECT count(*) FROM deliveries") > 0 &&
           h_sql_int(l, "SELECT count(*) FROM deliveries WHERE attempts = 0 OR"
                        " state = 'delivering'") == 0;
}

/* The array of a list's answer: from after "data":[ to before its "],". */
static const char *data_of(const char *body, size_t *n)
{
    const char *from = strstr(body, "{\"data\":["), *to = strstr(body, "],\"next_cursor\"");
    assert_true(from && to && to >= from + 9);
    *n = (size_t)(to - from - 9);
    return from + 9;
}

/* The deliveries read two at a time, cursor to cursor, are the whole list:
 * each with its own attempts (read for the page at once), none twice. */
static void deliveries_paged(struct leadd *l)
{
    struct resp all, r;
    char cursor[32] = "", path[128];
    struct buf joined = BUF_INIT(1u << 20);
    size_t n, pages = 0;
    h_api(l, "GET", "/v1/deliveries?limit=50", NULL, &all);
    assert_int_equal(all.status, 200);
    const char *whole = data_of(all.body, &n);
    int attempts = 0;
    for (const char *p = whole; (p = strstr(p, "{\"at\":")) && p < whole + n; p++)
        attempts++;
    assert_int_equal(attempts, h_sql_int(l, "SELECT count(*) FROM delivery_attempts"));
    assert_true(h_sql_int(l, "SELECT count(*) FROM deliveries") >= 5);
    do {
        snprintf(path, sizeof(path), "/v1/deliveries?limit=2%s%s", *cursor ? "&cursor=" : "",
                 cursor);
        h_api(l, "GET", path, NULL, &r);
        assert_int_equal(r.status, 200);
        size_t k;
        const char *d = data_of(r.body, &k);
        buf_adds(&joined, joined.len ? "," : "");
        buf_add(&joined, d, k);
        if (!h_json_str(r.body, "next_cursor", cursor, sizeof(cursor)))
            *cursor = '\0';
        resp_free(&r);
        pages++;
    } while (*cursor && pages < 20);
    assert_int_equal(buf_error(&joined), 0);
    assert_int_equal(joined.len, n);
    assert_memory_equal(joined.ptr, whole, n);
    assert_true(pages >= 3);
    buf_release(&joined);
    resp_free(&all);
}

static void t_page_is_each_leads_own_answer(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r, one;
    char id[8][64], path[128];
    make_ini("[webhook.down]\nurl = http://127.0.0.1:9/hook\nsign = false\nwhen = all\n"
             "retry_schedule = 1h\n");
    h_start(&l, INI, NULL);
    for (int i = 0; i < 8; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"email\":\"p%d@acme.example\",\"name\":\"P%d\",\"company\":\"Acme\","
                 "\"consent\":true%s}",
                 i % 5, i, i == 3 ? ",\"_gotcha\":\"bot\"" : "");
        post(&l, i % 2 ? "contact" : "newsletter", json, id[i], sizeof(id[i]));
    }
    for (int i = 0; i < 8; i += 3) { /* a history of one, two or three entries */
        snprintf(path, sizeof(path), "/v1/leads/%s", id[i]);
        for (int k = 0; k <= i % 3 + i / 3; k++) {
            h_api(&l, "PATCH", path, k % 2 ? "{\"status\":\"contacted\"}" : "{\"note\":\"n\"}", &r);
            assert_int_equal(r.status, 200);
            resp_free(&r);
        }
    }
    /* every delivery's first attempt made: then nothing changes for an hour */
    assert_true(h_wait(deliveries_tried, &l, 10000));
    h_api(&l, "GET", "/v1/leads?limit=50&spam=any", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(count_data(r.body), 8);
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof(path), "/v1/leads/%s", id[i]);
        h_api(&l, "GET", path, NULL, &one);
        assert_int_equal(one.status, 200);
        if (!strstr(r.body, one.body))
            fail_msg("lead %d differs in the page:\n%s\npage:\n%s", i, one.body, r.body);
        resp_free(&one);
    }
    resp_free(&r);
    deliveries_paged(&l);
    /* an erased lead leaves the page; the rest stay as they are */
    snprintf(path, sizeof(path), "/v1/leads/%s", id[6]);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    h_api(&l, "GET", "/v1/leads?limit=3&spam=any", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(count_data(r.body), 3);
    assert_null(strstr(r.body, id[6]));
    const char *a = strstr(r.body, id[7]), *b = strstr(r.body, id[5]), *c = strstr(r.body, id[4]);
    assert_true(a && b && c && a < b && b < c); /* newest first */
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_retention(void **state)
{
    (void)state;
    struct leadd l;
    make_ini(NULL);
    h_start(&l, INI, NULL);
    assert_int_equal(h_stop(&l), 0);
    /* One lead from 3 days ago, one from now. */
    uint64_t old = now_ms() - 3ULL * 24 * 3600 * 1000;
    char id[ULID_LEN + 1], now_id[ULID_LEN + 1], sql[2048], at[32];
    struct ulid_gen g;
    ulid_gen_init(&g);
    ulid_next(&g, old, id);
    ulid_next(&g, now_ms(), now_id);
    rfc3339_ms(old, at);
    snprintf(sql, sizeof(sql),
             "INSERT INTO leads(id, form, created_at, created_ms, email, fields) VALUES"
             " ('%s', 'contact', '%s', %llu, 'old@x.example', '{\"email\":\"old@x.example\"}'),"
             " ('%s', 'contact', '%s', %llu, 'new@x.example', '{\"email\":\"new@x.example\"}')",
             id, at, (unsigned long long)old, now_id, at, (unsigned long long)now_ms());
    h_sql_exec(&l, sql);
    l.sets[l.nsets++] = strdup("storage.retention_days=2");
    h_restart(&l);
    assert_true(h_wait_log(&l, "retention: erased 1 leads older than 2 days", 10000));
    assert_int_equal(
        h_sql_int(&l, "SELECT count(*) FROM leads WHERE erased_at IS NOT NULL AND id = '%s'", id),
        1);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM leads WHERE erased_at IS NULL"), 1);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_auth),
        cmocka_unit_test(t_roles),
        cmocka_unit_test(t_roles_on_every_route),
        cmocka_unit_test(t_patch_note_owner_spam),
        cmocka_unit_test(t_assignment),
        cmocka_unit_test(t_duplicates_across_restart_and_erasure),
        cmocka_unit_test(t_duplicate_after_other_forms),
        cmocka_unit_test(t_get_patch_history),
        cmocka_unit_test(t_page_is_each_leads_own_answer),
        cmocka_unit_test(t_filters),
        cmocka_unit_test(t_pages_while_leads_arrive),
        cmocka_unit_test(t_export_streams_flat),
        cmocka_unit_test(t_csv_escaping),
        cmocka_unit_test(t_stats),
        cmocka_unit_test(t_filters_by_every_path),
        cmocka_unit_test(t_delivery_retry),
        cmocka_unit_test(t_erasure),
        cmocka_unit_test(t_erasure_by_address),
        cmocka_unit_test(t_retention),
    };
    return h_run_group_tests_name("api", tests, NULL, NULL);
}
