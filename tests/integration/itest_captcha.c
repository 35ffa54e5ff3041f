/* itest_captcha.c: each provider's siteverify call, answered by a fake
 * siteverify server (the harness's receiver): success, failure, low score,
 * wrong action, wrong hostname, timeout and 5xx; what the visitor is told
 * and what is stored in each case. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "leadd/crypto.h"
#include "receiver.h"

static struct receiver RV;
static struct leadd L;

/* A form verifying `kind` at the fake server, plus extra keys. */
static void start(const char *kind, const char *extra)
{
    char ini[16384];
    setenv("TEST_CAPTCHA_SECRET", "0x-secret-from-env", 1);
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "[form.demo]\nfield.email = email required\nfield.name = text\n"
             "allowed_origins = https://www.example.com\nmin_fill_ms = 0\nrate_limit = 0\n"
             "captcha = %s\ncaptcha_secret = env:TEST_CAPTCHA_SECRET\n"
             "captcha_verify_url = http://127.0.0.1:%d/siteverify\n%s",
             H_BASE_INI, kind, RV.port, extra ? extra : "");
    h_start(&L, ini, NULL);
}

static void stop(void)
{
    assert_int_equal(h_stop(&L), 0);
    h_cleanup(&L);
    recv_clear(&RV);
}

/* Posts a lead with a token in `field`; returns the status, the body into
 * out (when given). */
static long submit(const char *field, const char *token, char *out, size_t cap)
{
    static int seq;
    char body[512], key[64];
    struct resp r;
    seq++;
    if (field)
        snprintf(body, sizeof(body), "{\"email\":\"v%d@example.org\",\"name\":\"V\",\"%s\":\"%s\"}",
                 seq, field, token);
    else
        snprintf(body, sizeof(body), "{\"email\":\"v%d@example.org\",\"name\":\"V\"}", seq);
    snprintf(key, sizeof(key), "Idempotency-Key: key-%d", seq);
    h_req(&L, "POST", "/v1/forms/demo/submissions", body, &r, "Content-Type: application/json", key,
          NULL);
    long st = r.status;
    if (out)
        snprintf(out, cap, "%s", r.body ? r.body : "");
    resp_free(&r);
    return st;
}

static long leads(void)
{
    return h_sql_int(&L, "SELECT count(*) FROM leads WHERE form = 'demo'");
}

/* Turnstile: the documented parameters, and each answer's outcome. */
static void t_turnstile(void **state)
{
    (void)state;
    char out[4096];
    RV.answer = "{\"success\":true,\"hostname\":\"www.example.com\",\"action\":\"contact\"}";
    start("turnstile", "captcha_action = contact\n");
    assert_int_equal(submit("cf-turnstile-response", "tok-1", out, sizeof(out)), 201);
    assert_int_equal(recv_count(&RV), 1);
    pthread_mutex_lock(&RV.mu);
    const char *b = RV.reqs[0].body;
    assert_non_null(strstr(RV.reqs[0].ctype, "application/x-www-form-urlencoded"));
    assert_non_null(strstr(b, "secret=0x-secret-from-env"));
    assert_non_null(strstr(b, "response=tok-1"));
    assert_non_null(strstr(b, "remoteip=127.0.0.1"));
    assert_non_null(strstr(b, "idempotency_key="));
    pthread_mutex_unlock(&RV.mu);
    /* the token is a control, never kept with the lead */
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM leads WHERE extra LIKE '%%tok-1%%'"), 0);
    assert_int_equal(h_sql_int(&L, "SELECT flags FROM leads WHERE form = 'demo'"), 0);

    /* a token solved for another action, or on another site */
    RV.answer = "{\"success\":true,\"hostname\":\"www.example.com\",\"action\":\"login\"}";
    assert_int_equal(submit("cf-turnstile-response", "tok-2", out, sizeof(out)), 422);
    assert_non_null(strstr(out, "\"field\":\"captcha\""));
    assert_non_null(strstr(out, "another action"));
    RV.answer = "{\"success\":true,\"hostname\":\"evil.example\",\"action\":\"contact\"}";
    assert_int_equal(submit("_captcha", "tok-3", out, sizeof(out)), 422);
    assert_non_null(strstr(out, "does not allow"));
    /* failed: the visitor's token is bad */
    RV.answer = "{\"success\":false,\"error-codes\":[\"timeout-or-duplicate\"]}";
    assert_int_equal(submit("cf-turnstile-response", "tok-4", out, sizeof(out)), 422);
    assert_int_equal(leads(), 1);
    /* no token: refused without asking */
    int asked = recv_count(&RV);
    assert_int_equal(submit(NULL, NULL, out, sizeof(out)), 422);
    assert_non_null(strstr(out, "\"field\":\"captcha\",\"code\":\"required\""));
    assert_int_equal(recv_count(&RV), asked);
    /* our secret refused: not the visitor's fault, never a lost lead */
    RV.answer = "{\"success\":false,\"error-codes\":[\"invalid-input-secret\"]}";
    assert_int_equal(submit("cf-turnstile-response", "tok-5", out, sizeof(out)), 201);
    assert_int_equal(leads(), 2);
    char *log = h_log_text(&L);
    assert_null(strstr(log, "0x-secret-from-env")); /* the secret is never logged */
    free(log);
    assert_int_equal(h_metric(&L, "leadd_captcha_checks_total{result=\"passed\"}"), 1);
    assert_int_equal(h_metric(&L, "leadd_captcha_checks_total{result=\"refused\"}"), 3);
    assert_int_equal(h_metric(&L, "leadd_captcha_checks_total{result=\"unavailable\"}"), 1);
    stop();
}

/* A submission whose captcha check never gets an answer, on a thread. */
struct stalled {
    uint64_t t0, took;
    long status;
    char body[1024];
    bool retry_after;
    atomic_bool done;
};

static void *stalled_post(void *arg)
{
    struct stalled *sp = arg;
    struct resp r;
    char v[64];
    h_req(&L, "POST", "/v1/forms/demo/submissions",
          "{\"email\":\"s@example.org\",\"h-captcha-response\":\"tok\"}", &r,
          "Content-Type: application/json", NULL);
    sp->took = h_now_ms() - sp->t0;
    sp->status = r.status;
    snprintf(sp->body, sizeof(sp->body), "%s", r.body ? r.body : "");
    sp->retry_after = h_header(&r, "retry-after", v, sizeof(v)) != NULL;
    resp_free(&r);
    atomic_store(&sp->done, true);
    return NULL;
}

/* The submission is in flight (beside the metrics request asking each node). */
static bool check_in_flight(void *arg)
{
    (void)arg;
    return h_metric(&L, "leadd_http_inflight") == 1 + h_nodes(&L);
}

/* The provider down (5xx) or silent (timeout): accept stores the lead with
 * the flag captcha_unverified, held like spam; reject answers 503. */
static void t_unavailable(void **state)
{
    (void)state;
    char out[4096];
    struct resp r;
    RV.status = 500;
    start("turnstile", NULL);
    assert_int_equal(submit("cf-turnstile-response", "tok", out, sizeof(out)), 201);
    h_api(&L, "GET", "/v1/leads?form=demo&spam=true", NULL, &r);
    assert_non_null(strstr(r.body, "\"captcha_unverified\""));
    resp_free(&r);
    assert_int_equal(h_sql_int(&L, "SELECT qualified FROM leads WHERE form = 'demo'"), 0);
    stop();
    RV.status = 200;

    /* A provider that never answers: the form's timeout. With one HTTP worker,
     * other requests are answered meanwhile: the check holds no thread. */
    struct receiver stall = {0};
    recv_stall(&stall);
    int port = RV.port;
    RV.port = stall.port;
    char ini[16384];
    snprintf(ini, sizeof(ini),
             "%s[form.demo]\nfield.email = email required\nmin_fill_ms = 0\nrate_limit = 0\n"
             "captcha = hcaptcha\ncaptcha_secret = s\ncaptcha_unavailable = reject\n"
             "captcha_timeout_ms = 2000\n"
             "captcha_verify_url = http://127.0.0.1:%d/siteverify\n[auth]\napi_keys = " H_API_KEY
             "\n",
             H_BASE_INI, RV.port);
    h_start(&L, ini, "server.threads=1", NULL);
    struct stalled sp = {0};
    pthread_t th;
    sp.t0 = h_now_ms();
    pthread_create(&th, NULL, stalled_post, &sp);
    assert_true(h_wait(check_in_flight, NULL, 1500));
    uint64_t t1 = h_now_ms();
    h_req(&L, "GET", "/healthz", NULL, &r, NULL);
    uint64_t health = h_now_ms() - t1;
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_false(atomic_load(&sp.done)); /* answered while the check waits */
    assert_true(health < 1000);
    pthread_join(th, NULL);
    assert_int_equal(sp.status, 503);
    assert_non_null(strstr(sp.body, "captcha-unavailable"));
    assert_true(sp.retry_after);
    assert_true(sp.took >= 1980 && sp.took < 10000);
    assert_int_equal(leads(), 0);
    stop();
    RV.port = port;
    recv_stop(&stall);
    recv_free(&stall);
}

/* hCaptcha: urlencoded, with the sitekey; no action or score. */
static void t_hcaptcha(void **state)
{
    (void)state;
    char out[4096];
    RV.answer = "{\"success\":true,\"hostname\":\"www.example.com\"}";
    start("hcaptcha", "captcha_sitekey = 10000000-ffff-ffff-ffff-000000000001\n");
    assert_int_equal(submit("h-captcha-response", "h-tok", out, sizeof(out)), 201);
    pthread_mutex_lock(&RV.mu);
    assert_non_null(strstr(RV.reqs[0].body, "sitekey=10000000-ffff-ffff-ffff-000000000001"));
    assert_non_null(strstr(RV.reqs[0].body, "response=h-tok"));
    assert_null(strstr(RV.reqs[0].body, "idempotency_key"));
    pthread_mutex_unlock(&RV.mu);
    RV.answer = "{\"success\":false,\"error-codes\":[\"invalid-input-response\"]}";
    assert_int_equal(submit("h-captcha-response", "h-tok2", out, sizeof(out)), 422);
    /* A retry of a stored submission (same key, same body) gets the first
     * answer: its token, spent, is not asked about again. */
    static const char BODY[] = "{\"email\":\"r@example.org\",\"h-captcha-response\":\"once\"}";
    struct resp r;
    char id[40], id2[40];
    RV.answer = "{\"success\":true,\"hostname\":\"www.example.com\"}";
    h_req(&L, "POST", "/v1/forms/demo/submissions", BODY, &r, "Content-Type: application/json",
          "Idempotency-Key: retry-me", NULL);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    int asked = recv_count(&RV);
    RV.answer = "{\"success\":false,\"error-codes\":[\"already-seen-response\"]}";
    h_req(&L, "POST", "/v1/forms/demo/submissions", BODY, &r, "Content-Type: application/json",
          "Idempotency-Key: retry-me", NULL);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id2, sizeof(id2)));
    assert_string_equal(id, id2);
    resp_free(&r);
    assert_int_equal(recv_count(&RV), asked);
    stop();
}

/* Every provider, each answer: what the visitor gets and what is stored. */
static void t_each_provider(void **state)
{
    (void)state;
    static const char *const KINDS[] = {"turnstile", "hcaptcha", "recaptcha"};
    static const char *const FIELDS[] = {"cf-turnstile-response", "h-captcha-response",
                                         "g-recaptcha-response"};
    static const struct {
        const char *name;
        int status; /* the provider's; 0: it never answers */
        const char *answer;
        long want;      /* the visitor's */
        int stored;     /* leads stored by it */
        int unverified; /* ... flagged captcha_unverified */
    } cases[] = {
        {"success", 200,
         "{\"success\":true,\"score\":0.9,\"action\":\"join\",\"hostname\":\"www.example.com\"}",
         201, 1, 0},
        {"failure", 200, "{\"success\":false,\"error-codes\":[\"invalid-input-response\"]}", 422, 0,
         0},
        {"low score", 200,
         "{\"success\":true,\"score\":0.1,\"action\":\"join\",\"hostname\":\"www.example.com\"}",
         422, 0, 0}, /* reCAPTCHA only: the others have no score */
        {"wrong action", 200,
         "{\"success\":true,\"score\":0.9,\"action\":\"other\",\"hostname\":\"www.example.com\"}",
         422, 0, 0}, /* hCaptcha has no action */
        {"wrong hostname", 200,
         "{\"success\":true,\"score\":0.9,\"action\":\"join\",\"hostname\":\"evil.example\"}", 422,
         0, 0},
        {"5xx", 502, NULL, 201, 1, 1},
        {"timeout", 0, NULL, 201, 1, 1},
    };
    /* one leadd per provider; the fake provider's answer changes case by
     * case, and "never answers" is an answer slower than the form's
     * captcha_timeout_ms */
    for (size_t k = 0; k < 3; k++) {
        /* the timeout is short, but not so short that a provider's
         * answer under a whole parallel make test misses it (300 ms did
         * once, on two nodes) */
        start(KINDS[k], "captcha_action = join\ncaptcha_timeout_ms = 1500\n");
        long stored_before = 0, flagged_before = 0;
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            bool no_score = k != 2 && !strcmp(cases[c].name, "low score");
            bool no_action = k == 1 && !strcmp(cases[c].name, "wrong action");
            char out[4096];
            RV.delay_ms = cases[c].status ? 0 : 3000;
            RV.status = cases[c].status ? cases[c].status : 200;
            RV.answer = cases[c].answer;
            long got = submit(FIELDS[k], "tok", out, sizeof(out));
            long want = no_score || no_action ? 201 : cases[c].want;
            if (got != want)
                fail_msg("%s, %s: %ld, want %ld (%s)", KINDS[k], cases[c].name, got, want, out);
            long stored = leads(), flagged = h_sql_int(&L, "SELECT count(*) FROM leads WHERE"
                                                           " form = 'demo' AND (flags & 32) != 0");
            if (stored - stored_before != (no_score || no_action ? 1 : cases[c].stored) ||
                flagged - flagged_before != cases[c].unverified)
                fail_msg("%s, %s: %ld stored, %ld flagged", KINDS[k], cases[c].name,
                         stored - stored_before, flagged - flagged_before);
            if (want == 422 && !strstr(out, "\"field\":\"captcha\""))
                fail_msg("%s, %s: %s", KINDS[k], cases[c].name, out);
            stored_before = stored;
            flagged_before = flagged;
        }
        stop();
    }
    RV.delay_ms = 0;
    RV.status = 200;
}

/* reCAPTCHA v3: the score against the form's minimum, and the action. */
static void t_recaptcha(void **state)
{
    (void)state;
    char out[4096];
    RV.answer = "{\"success\":true,\"score\":0.9,\"action\":\"signup\","
                "\"hostname\":\"www.example.com\"}";
    start("recaptcha", "captcha_min_score = 0.7\ncaptcha_action = signup\n");
    assert_int_equal(submit("g-recaptcha-response", "g1", out, sizeof(out)), 201);
    RV.answer = "{\"success\":true,\"score\":0.3,\"action\":\"signup\","
                "\"hostname\":\"www.example.com\"}";
    assert_int_equal(submit("g-recaptcha-response", "g2", out, sizeof(out)), 422);
    assert_non_null(strstr(out, "score"));
    RV.answer = "{\"success\":true,\"score\":0.9,\"action\":\"login\","
                "\"hostname\":\"www.example.com\"}";
    assert_int_equal(submit("g-recaptcha-response", "g3", out, sizeof(out)), 422);
    RV.answer = "not json at all";
    assert_int_equal(submit("g-recaptcha-response", "g4", out, sizeof(out)), 201); /* flagged */
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM leads WHERE (flags & 32) != 0"), 1);
    assert_int_equal(leads(), 2);
    stop();
}

/* A browser's plain form post gets a page naming the captcha. */
static void t_browser_page(void **state)
{
    (void)state;
    struct resp r;
    RV.answer = "{\"success\":false}";
    start("turnstile", NULL);
    h_req(&L, "POST", "/v1/forms/demo/submissions", "email=p%40example.org&cf-turnstile-response=t",
          &r, "Content-Type: application/x-www-form-urlencoded", "Accept: text/html", NULL);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "<b>captcha</b>"));
    resp_free(&r);
    stop();
}

/* Every inline script of page is allowed by csp through its hash, and
 * nothing else inline would be. */
static void scripts_hashed(const char *page, const char *csp)
{
    int inline_scripts = 0;
    for (const char *p = strstr(page, "<script"); p; p = strstr(p + 1, "<script")) {
        const char *gt = strchr(p, '>');
        if (strncmp(p, "<script>", 8))
            continue; /* one with src= */
        const char *end = strstr(gt, "</script>");
        const void *part = gt + 1;
        size_t len = (size_t)(end - gt - 1);
        unsigned char h[SHA256_LEN];
        char b64[CRYPTO_BASE64_LEN(SHA256_LEN)], want[80];
        assert_int_equal(crypto_sha256(&part, &len, 1, h), 0);
        crypto_base64(h, sizeof(h), b64);
        snprintf(want, sizeof(want), "'sha256-%s'", b64);
        if (!strstr(csp, want))
            fail_msg("inline script %d not allowed by '%s'", inline_scripts, csp);
        inline_scripts++;
    }
    assert_true(inline_scripts >= 1);
    assert_null(strstr(csp, "script-src 'unsafe-inline'"));
}

/* The page shows the configured widget; its CSP allows that provider and
 * this page's own scripts, nothing else. */
static void t_page_widget(void **state)
{
    (void)state;
    struct resp r;
    char csp[1024];
    start("turnstile", "captcha_sitekey = 1x00000000000000000000AA\ncaptcha_action = contact\n");
    h_req(&L, "GET", "/forms/demo", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body,
                           "<div class=\"cf-turnstile\" data-sitekey=\"1x00000000000000000000AA\""
                           " data-action=\"contact\"></div>"));
    assert_non_null(
        strstr(r.body, "src=\"https://challenges.cloudflare.com/turnstile/v0/api.js\""));
    assert_non_null(h_header(&r, "content-security-policy", csp, sizeof(csp)));
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(strstr(csp, "frame-src https://challenges.cloudflare.com"));
    assert_null(strstr(csp, "google"));
    scripts_hashed(r.body, csp);
    resp_free(&r);
    stop();
    start("recaptcha", "captcha_sitekey = 6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI\n");
    h_req(&L, "GET", "/forms/demo", NULL, &r, NULL);
    assert_non_null(strstr(r.body, "https://www.google.com/recaptcha/api.js?render="
                                   "6LeIxAcTAAAAAJcZVRqyHh71UMIEGNQ_MXjiZKhI"));
    assert_non_null(strstr(r.body, "g-recaptcha-response"));
    assert_non_null(h_header(&r, "content-security-policy", csp, sizeof(csp)));
    assert_non_null(strstr(csp, "https://www.gstatic.com/recaptcha/"));
    assert_null(strstr(csp, "cloudflare"));
    scripts_hashed(r.body, csp);
    resp_free(&r);
    /* the first form has no captcha: its page names no provider */
    h_req(&L, "GET", "/", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "recaptcha"));
    assert_non_null(h_header(&r, "content-security-policy", csp, sizeof(csp)));
    /* (the sites allowed to frame it are the form's own origins) */
    assert_null(strstr(csp, "google"));
    assert_null(strstr(csp, "cloudflare"));
    assert_null(strstr(csp, "hcaptcha"));
    assert_non_null(strstr(csp, "; frame-ancestors 'self' https://www.example.com"));
    scripts_hashed(r.body, csp);
    resp_free(&r);
    stop();
}

/* A config without the secret is refused at start. */
static void t_config(void **state)
{
    (void)state;
    char out[4096], cmd[1024];
    struct leadd l = {0};
    char ini[8192];
    snprintf(ini, sizeof(ini), "%s[form.x]\nfield.email = email\ncaptcha = turnstile\n",
             H_BASE_INI);
    h_start(&l, H_BASE_INI, NULL);
    h_write_file(&l, "bad.ini", ini, l.cfg, sizeof(l.cfg));
    snprintf(cmd, sizeof(cmd), "%s check-config -c %s", getenv("LEADD_BIN"), l.cfg);
    assert_int_equal(h_run(out, sizeof(out), "%s 2>&1", cmd), 1);
    assert_non_null(strstr(out, "captcha = turnstile needs captcha_secret"));
    snprintf(ini, sizeof(ini),
             "%s[form.x]\nfield.email = email\ncaptcha = recaptcha\ncaptcha_secret = s\n"
             "captcha_min_score = 1.5\n",
             H_BASE_INI);
    h_write_file(&l, "bad.ini", ini, l.cfg, sizeof(l.cfg));
    assert_int_equal(h_run(out, sizeof(out), "%s 2>&1", cmd), 1);
    assert_non_null(strstr(out, "captcha_min_score: expected a score from 0.0 to 1.0"));
    snprintf(ini, sizeof(ini), "%s[form.x]\nfield.name = text\ndouble_opt_in = on\n", H_BASE_INI);
    h_write_file(&l, "bad.ini", ini, l.cfg, sizeof(l.cfg));
    assert_int_equal(h_run(out, sizeof(out), "%s 2>&1", cmd), 1);
    assert_non_null(strstr(out, "double_opt_in needs a field of type email"));
    assert_non_null(strstr(out, "double_opt_in needs [server] public_url"));
    assert_non_null(strstr(out, "confirm_mail must name a [webhook.NAME] with format = email"));
    h_cleanup(&l);
}

int main(void)
{
    recv_start(&RV, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_turnstile),     cmocka_unit_test(t_unavailable),
        cmocka_unit_test(t_hcaptcha),      cmocka_unit_test(t_recaptcha),
        cmocka_unit_test(t_browser_page),  cmocka_unit_test(t_page_widget),
        cmocka_unit_test(t_each_provider), cmocka_unit_test(t_config),
    };
    int rc = h_run_group_tests_name("captcha", tests, NULL, NULL);
    recv_stop(&RV);
    recv_free(&RV);
    return rc;
}
