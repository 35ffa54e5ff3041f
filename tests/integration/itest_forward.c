/* itest_forward.c: qualified leads reach a real receiver, signed; failures
 * retry with the same webhook-id; 4xx is dead at once; a hung endpoint times
 * out without holding up another; an endpoint that is down at first gets its
 * leads later; kill -9 with deliveries pending loses none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "leadd/config.h"
#include "leadd/forward.h"
#include "receiver.h"

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static int seq;

/* A lead that qualifies under H_BASE_INI (company 20 + budget 30 >= 40). */
static void post_qualified(struct leadd *l, char *id, size_t cap)
{
    char body[512];
    struct resp r;
    snprintf(body, sizeof(body),
             "{\"email\":\"q%d-%d@acme.example\",\"name\":\"Q\",\"company\":\"Acme\","
             "\"budget\":50000,\"consent\":true,\"_elapsed_ms\":9000}",
             getpid(), ++seq);
    h_post_json(l, "contact", body, &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, cap));
    resp_free(&r);
}

static void ini_with_webhooks(char *out, size_t cap, const char *hooks)
{
    snprintf(out, cap, "%s%s", H_BASE_INI, hooks);
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    return text;
}

static void t_example_config_delivers_signed_within_a_second(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char url[128], id[64];
    recv_start(&rv, 0);
    snprintf(url, sizeof(url), "webhook.crm.url=http://127.0.0.1:%d/hooks/leads", rv.port);
    char *example = read_file("config.example.ini");
    h_start(&l, example, url, NULL);
    free(example);
    uint64_t t0 = h_now_ms();
    h_post_json(&l, "contact",
                "{\"email\":\"ann@acme.example\",\"name\":\"Ann\",\"company\":\"Acme\","
                "\"budget\":25000,\"consent\":true,\"_elapsed_ms\":4000}",
                &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    assert_true(recv_wait(&rv, 1, 5000));
    uint64_t took = h_now_ms() - t0;
    if (took > 1000)
        fail_msg("delivery took %llu ms", (unsigned long long)took);

    struct recv_req *q = &rv.reqs[0];
    assert_string_equal(q->ctype, "application/json");
    assert_string_equal(q->auth, "Bearer abc123");
    assert_int_equal(strncmp(q->id, "msg_", 4), 0);
    assert_null(strchr(q->id, '.'));
    long long ts = atoll(q->timestamp);
    assert_true(llabs(ts - (long long)time(NULL)) < 30);
    unsigned char key[64];
    long kl = crypto_unbase64(SECRET + 6, key, sizeof(key));
    char sig[FORWARD_SIG_LEN];
    assert_int_equal(webhook_sign(key, (size_t)kl, q->id, ts, q->body, strlen(q->body), sig), 0);
    assert_string_equal(q->signature, sig);
    assert_int_equal(strncmp(q->body, "{\"type\":\"lead.qualified\",\"timestamp\":\"", 38), 0);
    assert_int_equal(recv_has_lead(&rv, id), 1);
    assert_non_null(strstr(q->body, "\"fields\":{\"email\":\"ann@acme.example\""));
    assert_non_null(strstr(q->body, "\"qualified\":true"));
    assert_non_null(strstr(q->body, "\"score_reasons\":[{\"rule\":\"has_company\",\"points\":20}"));
    assert_int_equal(h_stop(&l), 0);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"), 1);
    h_cleanup(&l);
    recv_free(&rv);
}

static void t_only_qualified_clean_leads_arrive(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char ini[8192], hooks[512], id[64], unq[64], spam[64], dup[64], first[64];
    recv_start(&rv, 0);
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET "\nforms = contact\n",
             rv.port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    /* unqualified */
    h_post_json(&l, "contact", "{\"email\":\"u@x.example\",\"name\":\"U\",\"consent\":true}", &r);
    assert_true(h_json_str(r.body, "id", unq, sizeof(unq)));
    resp_free(&r);
    /* spam (honeypot) that would otherwise qualify */
    h_post_json(&l, "contact",
                "{\"email\":\"s@x.example\",\"name\":\"S\",\"company\":\"A\","
                "\"budget\":50000,\"consent\":true,\"_gotcha\":\"x\"}",
                &r);
    assert_true(h_json_str(r.body, "id", spam, sizeof(spam)));
    resp_free(&r);
    /* a qualified lead, then its duplicate */
    h_post_json(&l, "contact",
                "{\"email\":\"d@x.example\",\"name\":\"D\",\"company\":\"A\","
                "\"budget\":50000,\"consent\":true}",
                &r);
    assert_true(h_json_str(r.body, "id", first, sizeof(first)));
    resp_free(&r);
    h_post_json(&l, "contact",
                "{\"email\":\"d@x.example\",\"name\":\"D\",\"company\":\"A\","
                "\"budget\":50000,\"consent\":true}",
                &r);
    assert_true(h_json_str(r.body, "id", dup, sizeof(dup)));
    resp_free(&r);
    post_qualified(&l, id, sizeof(id)); /* the marker: arrives after the others were decided */
    assert_true(recv_wait(&rv, 2, 5000));
    assert_true(h_wait_log(&l, "attempt 1: delivered", 5000));
    assert_int_equal(recv_has_lead(&rv, first), 1);
    assert_int_equal(recv_has_lead(&rv, id), 1);
    assert_int_equal(recv_has_lead(&rv, unq), 0);
    assert_int_equal(recv_has_lead(&rv, spam), 0);
    assert_int_equal(recv_has_lead(&rv, dup), 0);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id IN (%Q,%Q,%Q)",
                               unq, spam, dup),
                     0);
    assert_int_equal(h_stop(&l), 0);
    assert_int_equal(recv_count(&rv), 2);
    h_cleanup(&l);
    recv_free(&rv);
}

static void t_retries_keep_webhook_id_then_deliver(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    char ini[8192], hooks[512], id[64];
    recv_start(&rv, 0);
    rv.fail_first = 3;
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\nretry_schedule = 50ms 50ms 50ms 50ms\n",
             rv.port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    post_qualified(&l, id, sizeof(id));
    assert_true(recv_wait(&rv, 4, 10000));
    assert_true(h_wait_log(&l, "attempt 4: delivered", 5000));
    for (int i = 1; i < 4; i++)
        assert_string_equal(rv.reqs[i].id, rv.reqs[0].id);
    assert_int_equal(h_stop(&l), 0);
    assert_int_equal(h_sql_int(&l, "SELECT attempts FROM deliveries WHERE lead_id = %Q", id), 4);
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON"
                               " d.id = a.delivery_id WHERE d.lead_id = %Q AND a.status = 503",
                               id),
                     3);
    char v[256];
    h_sql_text(&l, v, sizeof(v), "SELECT state FROM deliveries WHERE lead_id = %Q", id);
    assert_string_equal(v, "delivered");
    h_sql_text(&l, v, sizeof(v),
               "SELECT response FROM delivery_attempts ORDER BY rowid DESC LIMIT 1");
    assert_string_equal(v, "{\"received\":true}");
    h_cleanup(&l);
    recv_free(&rv);
}

static void t_4xx_dead_at_once_and_schedule_exhausted(void **state)
{
    (void)state;
    struct receiver bad = {0}, down = {0};
    struct leadd l;
    char ini[8192], hooks[1024], id[64], v[256];
    recv_start(&bad, 0);
    bad.status = 400;
    recv_start(&down, 0);
    down.status = 500;
    snprintf(hooks, sizeof(hooks),
             "[webhook.bad]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET "\n"
             "[webhook.down]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\nretry_schedule = 20ms 20ms\n",
             bad.port, down.port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, "auth.api_keys=" H_API_KEY, NULL);
    post_qualified(&l, id, sizeof(id));
    assert_true(h_wait_log(&l, "forward bad", 5000));
    assert_true(h_wait_log(&l, "attempt 3: dead", 5000));
    /* A death is a warning that says how to send it again, and a counter an
     * alert can watch. */
    assert_true(h_wait_log(&l, " warn forward bad ", 5000));
    assert_true(h_wait_log(&l, "attempt 3: dead after HTTP 500", 5000));
    assert_true(h_wait_log(&l, "/retry sends it again", 5000));
    struct resp r;
    h_api(&l, "GET", "/metrics", NULL, &r);
    assert_non_null(strstr(r.body, "# TYPE leadd_deliveries_dead_total counter\n"));
    assert_int_equal(h_metric(&l, "leadd_deliveries_dead_total{webhook=\"bad\"}"), 1);
    assert_int_equal(h_metric(&l, "leadd_deliveries_dead_total{webhook=\"down\"}"), 1);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    assert_int_equal(recv_count(&bad), 1);
    assert_int_equal(recv_count(&down), 3); /* the first attempt and one per delay */
    h_sql_text(&l, v, sizeof(v),
               "SELECT group_concat(webhook || ':' || state || ':' || attempts) FROM"
               " (SELECT * FROM deliveries ORDER BY webhook) AS d");
    assert_string_equal(v, "bad:dead:1,down:dead:3");
    h_cleanup(&l);
    recv_free(&bad);
    recv_free(&down);
}

static void t_hung_endpoint_times_out_and_never_delays_another(void **state)
{
    (void)state;
    struct receiver stall, fast = {0};
    struct leadd l;
    char ini[8192], hooks[1024], id[64], v[256];
    recv_stall(&stall);
    recv_start(&fast, 0);
    snprintf(hooks, sizeof(hooks),
             "[webhook.slow]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\ntimeout_ms = 1500\nretry_schedule = 1h\n"
             "[webhook.fast]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET "\n",
             stall.port, fast.port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    /* More leads than the slow webhook has slots in flight. */
    for (int i = 0; i < FORWARD_MAX_INFLIGHT + 4; i++)
        post_qualified(&l, id, sizeof(id));
    uint64_t t0 = h_now_ms();
    assert_true(recv_wait(&fast, FORWARD_MAX_INFLIGHT + 4, 5000));
    /* All of them reached the fast one before the slow one's first timeout. */
    assert_true(h_now_ms() - t0 < 1500);
    assert_true(h_wait_log(&l, "Timeout was reached", 10000));
    assert_int_equal(h_stop(&l), 0);
    h_sql_text(&l, v, sizeof(v),
               "SELECT error FROM delivery_attempts a JOIN deliveries d ON"
               " d.id = a.delivery_id WHERE d.webhook = 'slow' LIMIT 1");
    assert_non_null(strstr(v, "Timeout"));
    assert_true(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE webhook = 'slow' AND state = "
                              "'pending'") == FORWARD_MAX_INFLIGHT + 4);
    h_cleanup(&l);
    recv_free(&stall);
    recv_free(&fast);
}

static void t_down_endpoint_gets_leads_when_up(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    char ini[8192], hooks[512], id[64];
    int port = free_port();
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\nretry_schedule = 100ms 100ms 100ms 100ms 100ms 100ms 100ms 100ms 100ms 100ms\n",
             port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    post_qualified(&l, id, sizeof(id));
    assert_true(h_wait_log(&l, "attempt 1: pending after Couldn't connect", 5000));
    recv_start(&rv, port);
    assert_true(recv_wait(&rv, 1, 10000));
    assert_int_equal(recv_has_lead(&rv, id), 1);
    assert_true(h_wait_log(&l, ": delivered", 5000));
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_free(&rv);
}

/* arg: {leadd, lead id, and optionally how many of its deliveries (1)}. */
static bool is_delivered(void *arg)
{
    void **v = arg;
    int want = v[2] ? *(int *)v[2] : 1;
    return h_sql_int(v[0],
                     "SELECT count(*) FROM deliveries WHERE lead_id = %Q AND"
                     " state = 'delivered'",
                     (const char *)v[1]) == want;
}

/* A lead erased while its delivery is in flight: its outcome, when it
 * comes, lands on nothing; the next lead's delivery (which once took the
 * erased one's id) is sent, and shows only its own attempt. */
static void t_erased_in_flight_never_marks_another(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char ini[8192], hooks[512], a[64], b[64], path[128];
    recv_start(&rv, 0);
    rv.delay_ms = 1000; /* the CRM takes a second to answer */
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\n[auth]\napi_keys = " H_API_KEY "\n",
             rv.port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    post_qualified(&l, a, sizeof(a));
    assert_true(recv_wait(&rv, 1, 10000)); /* A's attempt is in flight */
    snprintf(path, sizeof(path), "/v1/leads/%s", a);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    rv.delay_ms = 0;
    post_qualified(&l, b, sizeof(b));
    void *arg[] = {&l, b, NULL};
    assert_true(h_wait(is_delivered, arg, 10000));
    assert_true(recv_wait(&rv, 2, 10000));
    assert_int_equal(recv_has_lead(&rv, b), 1);
    /* B's one attempt, quick: A's second-long one is recorded nowhere */
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM delivery_attempts"), 1);
    assert_int_equal(h_sql_int(&l, "SELECT max(duration_ms) < 1000 FROM delivery_attempts"), 1);
    /* What was on its way reached the CRM once and is not sent again
     * (README, Security): nothing of A is left to send. */
    assert_int_equal(recv_has_lead(&rv, a), 1);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", a), 0);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* A lead's forwarding counts what its name says: two targets each reached
 * at the first try is two deliveries of one attempt, not "2 attempts". */
static void t_two_targets_one_attempt_each(void **state)
{
    (void)state;
    struct receiver a = {0}, b = {0};
    struct leadd l;
    struct resp r;
    char ini[8192], hooks[1024], id[64], path[128];
    recv_start(&a, 0);
    recv_start(&b, 0);
    snprintf(hooks, sizeof(hooks),
             "[webhook.a]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\n[webhook.b]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\n[auth]\napi_keys = " H_API_KEY "\n",
             a.port, b.port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    post_qualified(&l, id, sizeof(id));
    int two = 2;
    void *arg[] = {&l, id, &two};
    assert_true(h_wait(is_delivered, arg, 10000));
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "\"forwarding\":{\"state\":\"delivered\",\"deliveries\":2,\"attempts\":1}"));
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&a);
    recv_stop(&b);
    recv_free(&a);
    recv_free(&b);
}

/* An attempt is recorded when the CRM answers, not at the forwarder's next
 * idle poll (a second): bursts of leads, so several transfers start in one
 * round and one may finish while the others start; each attempt well under
 * that second. */
static void t_attempt_recorded_when_answered(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    char ini[8192], hooks[512], id[64];
    recv_start(&rv, 0);
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET "\n", rv.port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    for (int burst = 0; burst < 4; burst++) {
        for (int i = 0; i < 6; i++)
            post_qualified(&l, id, sizeof(id));
        void *arg[] = {&l, id, NULL};
        assert_true(h_wait(is_delivered, arg, 10000));
    }
    long long slowest = h_sql_int(&l, "SELECT max(duration_ms) FROM delivery_attempts");
    if (slowest >= 900)
        fail_msg("an attempt answered at once took %lld ms", slowest);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

static void t_kill9_with_deliveries_pending(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    char ini[8192], hooks[512], ids[20][64];
    recv_start(&rv, 0);
    rv.fail_first = 1000000; /* the CRM is failing while the leads arrive */
    /* Retried soon, and for long enough that no lead runs out of attempts
     * (and is dead, never sent again) before the kill, however slowly a
     * loaded machine takes the 20: with eight attempts 200 ms apart, the
     * first leads of a slow run were dead by then. */
    const char *schedule = "200ms 200ms 200ms 200ms"
                           " 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s" /* 28 of them */
                           " 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s";
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET
             "\nretry_schedule = %s\n",
             rv.port, schedule);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    for (int i = 0; i < 20; i++)
        post_qualified(&l, ids[i], sizeof(ids[i]));
    assert_true(recv_wait(&rv, 20, 10000));
    h_kill9(&l);
    assert_true(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE state != 'delivered'") == 20);
    pthread_mutex_lock(&rv.mu);
    rv.fail_first = 0; /* the CRM is back */
    pthread_mutex_unlock(&rv.mu);
    recv_clear(&rv);
    h_restart(&l);
    for (int i = 0; i < 20; i++) {
        uint64_t until = h_now_ms() + 10000;
        while (!recv_has_lead(&rv, ids[i]) && h_now_ms() < until)
            recv_wait(&rv, recv_count(&rv) + 1, 100);
        if (!recv_has_lead(&rv, ids[i]))
            fail_msg("lead %s never delivered after the restart", ids[i]);
    }
    assert_int_equal(h_stop(&l), 0);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE state = 'delivered'"),
                     20);
    h_cleanup(&l);
    recv_free(&rv);
}

static void t_rescore_queues_newly_qualified(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char ini[8192], hooks[512], id[64], cmd[2048], out[1024], v[256];
    recv_start(&rv, 0);
    snprintf(hooks, sizeof(hooks),
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsecret = " SECRET "\n", rv.port);
    ini_with_webhooks(ini, sizeof(ini), hooks);
    h_start(&l, ini, NULL);
    /* company only: 20 points, under qualify_at = 40 */
    h_post_json(&l, "contact",
                "{\"email\":\"r@x.example\",\"name\":\"R\",\"company\":\"Acme\","
                "\"consent\":true}",
                &r);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    assert_int_equal(h_sql_int(&l, "SELECT qualified FROM leads WHERE id = %Q", id), 0);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries"), 0);

    snprintf(cmd, sizeof(cmd),
             "%s rescore -c %s --set storage.path=%s --set form.contact.qualify_at=15 "
             "--set form.contact.score.long_name=\"name length >= 1 => 5\"%s 2>&1",
             getenv("LEADD_BIN"), l.cfg, l.db, h_backend_sets(&l));
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "rescored 1 leads: 1 changed qualification, 1 newly qualified, "
                                "1 deliveries queued"));
    assert_int_equal(h_sql_int(&l, "SELECT score FROM leads WHERE id = %Q", id), 25);
    h_sql_text(&l, v, sizeof(v), "SELECT score_reasons FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "[{\"rule\":\"has_company\",\"points\":20},{\"rule\":\"long_name\","
                           "\"points\":5}]");
    /* Running it again queues nothing more. */
    p = popen(cmd, "r");
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "0 newly qualified, 0 deliveries queued"));

    h_restart(&l);
    assert_true(recv_wait(&rv, 1, 5000));
    assert_int_equal(recv_has_lead(&rv, id), 1);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_free(&rv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_example_config_delivers_signed_within_a_second),
        cmocka_unit_test(t_only_qualified_clean_leads_arrive),
        cmocka_unit_test(t_retries_keep_webhook_id_then_deliver),
        cmocka_unit_test(t_4xx_dead_at_once_and_schedule_exhausted),
        cmocka_unit_test(t_hung_endpoint_times_out_and_never_delays_another),
        cmocka_unit_test(t_down_endpoint_gets_leads_when_up),
        cmocka_unit_test(t_kill9_with_deliveries_pending),
        cmocka_unit_test(t_rescore_queues_newly_qualified),
        cmocka_unit_test(t_erased_in_flight_never_marks_another),
        cmocka_unit_test(t_two_targets_one_attempt_each),
        cmocka_unit_test(t_attempt_recorded_when_answered),
    };
    return h_run_group_tests_name("forward", tests, NULL, NULL);
}
