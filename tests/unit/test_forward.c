/* test_forward.c: the Standard Webhooks signature against the specification's
 * published vector, attempt classification, the retry schedule, routing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "leadd/captcha.h"
#include "leadd/forward.h"

static void t_signature_spec_vector(void **state)
{
    (void)state;
    unsigned char key[64];
    long n = crypto_unbase64("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, sizeof(key));
    assert_int_equal(n, 24);
    const char *body = "{\"test\": 2432232314}";
    char sig[FORWARD_SIG_LEN];
    assert_int_equal(webhook_sign(key, (size_t)n, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body,
                                  strlen(body), sig),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* any change to id, timestamp or body changes it */
    assert_int_equal(webhook_sign(key, (size_t)n, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body,
                                  strlen(body), sig),
                     0);
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal(crypto_unbase64("not base64!", key, sizeof(key)), -1);
}

static void t_classify(void **state)
{
    (void)state;
    static const struct {
        bool ok;
        long status;
        enum outcome o;
    } rows[] = {
        {true, 200, OUTCOME_DELIVERED}, {true, 204, OUTCOME_DELIVERED},
        {true, 299, OUTCOME_DELIVERED}, {true, 301, OUTCOME_RETRY},
        {true, 302, OUTCOME_RETRY},     {true, 400, OUTCOME_DEAD},
        {true, 401, OUTCOME_DEAD},      {true, 404, OUTCOME_DEAD},
        {true, 408, OUTCOME_RETRY},     {true, 410, OUTCOME_DEAD},
        {true, 422, OUTCOME_DEAD},      {true, 429, OUTCOME_RETRY},
        {true, 500, OUTCOME_RETRY},     {true, 503, OUTCOME_RETRY},
        {false, 0, OUTCOME_RETRY},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (forward_classify(rows[i].ok, rows[i].status) != rows[i].o)
            fail_msg("row %zu: status %ld", i, rows[i].status);
    }
}

static void t_retry_schedule(void **state)
{
    (void)state;
    struct webhook w = {0};
    long long sched[] = {5000, 300000, 1800000};
    memcpy(w.schedule, sched, sizeof(sched));
    w.nschedule = 3;
    static const struct {
        int attempts;
        long long retry_after_s;
        double jitter;
        long long want;
    } rows[] = {
        {1, 0, 0.5, 5000},      /* no jitter at the midpoint */
        {1, 0, 0.0, 4000},      /* -20% */
        {1, 0, 0.999999, 5999}, /* just under +20% */
        {2, 0, 0.5, 300000},      {3, 0, 0.5, 1800000}, {4, 0, 0.5, -1}, /* exhausted: dead */
        {0, 0, 0.5, -1},          {1, 60, 0.5, 60000}, /* a longer Retry-After wins */
        {2, 60, 0.5, 300000},                          /* a shorter one does not */
        {1, 86400, 0.5, 1800000},                      /* capped at the longest delay */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        long long d =
            forward_retry_delay(&w, rows[i].attempts, rows[i].retry_after_s, rows[i].jitter);
        if (d != rows[i].want)
            fail_msg("row %zu: %lld, want %lld", i, d, rows[i].want);
    }
}

static void t_plan(void **state)
{
    (void)state;
    struct config c = {0};
    struct webhook w[3] = {0};
    struct form f = {.id = "contact"};
    w[0].name = "q";
    w[0].all_forms = true;
    w[1].name = "all";
    w[1].all_forms = true;
    w[1].when = WEBHOOK_WHEN_ALL;
    w[2].name = "other";
    assert_int_equal(strset_add_words(&w[2].forms, "signup"), 0);
    strset_finish(&w[2].forms);
    c.webhooks = w;
    c.nwebhooks = 3;
    struct lead l = {.form = &f};
    struct store_delivery out[CONFIG_MAX_WEBHOOKS];
    size_t n;
    l.qualified = true;
    forward_plan(&c, &l, out, &n);
    assert_int_equal(n, 2);
    assert_string_equal(out[0].webhook, "q");
    assert_string_equal(out[0].event, "lead.qualified");
    assert_string_equal(out[1].event, "lead.created");
    l.qualified = false;
    forward_plan(&c, &l, out, &n);
    assert_int_equal(n, 1);
    assert_string_equal(out[0].webhook, "all");
    l.flags = LEAD_FLAG_HONEYPOT;
    forward_plan(&c, &l, out, &n);
    assert_int_equal(n, 0);
    /* held: a captcha not verified, consent withdrawn, an opt-in not confirmed */
    const unsigned held[] = {LEAD_FLAG_CAPTCHA_UNVERIFIED, LEAD_FLAG_CONSENT_WITHDRAWN, 0};
    for (size_t i = 0; i < 3; i++) {
        l.flags = held[i];
        l.qualified = true;
        l.status = i == 2 ? "unconfirmed" : NULL;
        forward_plan(&c, &l, out, &n);
        assert_int_equal(n, 0);
    }
    l.status = "new";
    l.flags = 0;
    forward_plan(&c, &l, out, &n);
    assert_int_equal(n, 2);
    strset_release(&w[2].forms);
}

/* Each provider's answers, and the verdict on each. */
static void t_captcha_judge(void **state)
{
    (void)state;
    struct form f = {.id = "f", .captcha = CAPTCHA_RECAPTCHA, .captcha_min_score = 0.5};
    char action[] = "signup";
    f.captcha_action = action;
    assert_int_equal(
        strset_add_words(&f.origins, "https://www.example.com http://shop.example:8080"), 0);
    strset_finish(&f.origins);
    static const struct {
        enum captcha_kind kind;
        bool ok;
        long status;
        const char *body;
        enum captcha_result want;
    } rows[] = {
        {CAPTCHA_RECAPTCHA, true, 200,
         "{\"success\":true,\"score\":0.9,\"action\":\"signup\",\"hostname\":\"www.example.com\"}",
         CAPTCHA_PASSED},
        {CAPTCHA_RECAPTCHA, true, 200,
         "{\"success\":true,\"score\":0.5,\"action\":\"signup\",\"hostname\":\"shop.example\"}",
         CAPTCHA_PASSED}, /* the minimum itself passes; a port is not a host */
        {CAPTCHA_RECAPTCHA, true, 200,
         "{\"success\":true,\"score\":0.49,\"action\":\"signup\",\"hostname\":\"www.example.com\"}",
         CAPTCHA_REFUSED},
        {CAPTCHA_RECAPTCHA, true, 200,
         "{\"success\":true,\"action\":\"signup\",\"hostname\":\"www.example.com\"}",
         CAPTCHA_REFUSED}, /* no score */
        {CAPTCHA_RECAPTCHA, true, 200,
         "{\"success\":true,\"score\":0.9,\"action\":\"signupx\",\"hostname\":\"www.example.com\"}",
         CAPTCHA_REFUSED},
        {CAPTCHA_TURNSTILE, true, 200,
         "{\"success\":true,\"action\":\"signup\",\"hostname\":\"www.example.com.evil\"}",
         CAPTCHA_REFUSED},
        {CAPTCHA_HCAPTCHA, true, 200, "{\"success\":true,\"hostname\":\"www.example.com\"}",
         CAPTCHA_PASSED}, /* hCaptcha has no action */
        {CAPTCHA_TURNSTILE, true, 200,
         "{\"success\":false,\"error-codes\":[\"invalid-input-response\"]}", CAPTCHA_REFUSED},
        {CAPTCHA_TURNSTILE, true, 200,
         "{\"success\":false,\"error-codes\":[\"invalid-input-secret\"]}", CAPTCHA_UNAVAILABLE},
        {CAPTCHA_TURNSTILE, true, 200, "{\"success\":false,\"error-codes\":[\"internal-error\"]}",
         CAPTCHA_UNAVAILABLE},
        {CAPTCHA_TURNSTILE, true, 503, "", CAPTCHA_UNAVAILABLE},
        {CAPTCHA_TURNSTILE, true, 429, "", CAPTCHA_UNAVAILABLE},
        {CAPTCHA_TURNSTILE, false, 0, "", CAPTCHA_UNAVAILABLE},
        {CAPTCHA_TURNSTILE, true, 200, "<html>", CAPTCHA_UNAVAILABLE},
        {CAPTCHA_TURNSTILE, true, 200, "{\"success\":\"true\"}", CAPTCHA_UNAVAILABLE},
        {CAPTCHA_TURNSTILE, true, 404, "{\"success\":true}", CAPTCHA_UNAVAILABLE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char why[96];
        f.captcha = rows[i].kind;
        enum captcha_result got = captcha_judge(&f, rows[i].ok, rows[i].status, rows[i].body,
                                                strlen(rows[i].body), why, sizeof(why));
        if (got != rows[i].want)
            fail_msg("row %zu: %d, want %d (%s)", i, got, rows[i].want, why);
        assert_true(got == CAPTCHA_PASSED ? why[0] == '\0' : why[0] != '\0');
    }
    f.any_origin = true; /* allowed_origins = *: any hostname */
    f.captcha = CAPTCHA_HCAPTCHA;
    assert_int_equal(captcha_judge(&f, true, 200, "{\"success\":true,\"hostname\":\"x.test\"}", 36,
                                   (char[96]){0}, 96),
                     CAPTCHA_PASSED);
    strset_release(&f.origins);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_signature_spec_vector), cmocka_unit_test(t_classify),
        cmocka_unit_test(t_retry_schedule),        cmocka_unit_test(t_plan),
        cmocka_unit_test(t_captcha_judge),
    };
    return cmocka_run_group_tests_name("forward", tests, NULL, NULL);
}
