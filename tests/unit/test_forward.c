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
    strset_release(&w[2].forms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_signature_spec_vector),
        cmocka_unit_test(t_classify),
        cmocka_unit_test(t_retry_schedule),
        cmocka_unit_test(t_plan),
    };
    return cmocka_run_group_tests_name("forward", tests, NULL, NULL);
}
