/* itest_reload.c: SIGHUP reads the config again while submissions keep
 * arriving: none fails, new requests score by the new rule and reach the new
 * form; a config with errors is refused (file:line in the log) and the
 * running one stays; a key fixed at start is named; a new webhook and then a
 * changed url take the next deliveries; and every replaced config is freed
 * (ASan's leak check). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "receiver.h"

struct load {
    struct leadd *l;
    atomic_bool stop;
    atomic_int ok, failed;
};

static void *post_loop(void *arg)
{
    struct load *ld = arg;
    for (int i = 0; !atomic_load(&ld->stop); i++) {
        char b[200];
        struct resp r;
        snprintf(
            b, sizeof(b),
            "{\"email\":\"rl%d@example.org\",\"name\":\"R\",\"company\":\"C\",\"consent\":true}",
            i);
        h_post_json(ld->l, "contact", b, &r);
        atomic_fetch_add(r.status == 201 ? &ld->ok : &ld->failed, 1);
        resp_free(&r);
    }
    return NULL;
}

/* The score a new lead with a company gets now. */
static long long score_now(struct leadd *l, int n)
{
    char b[200], id[64];
    struct resp r;
    snprintf(b, sizeof(b),
             "{\"email\":\"probe%d@example.org\",\"name\":\"P\",\"company\":\"Acme\","
             "\"consent\":true}",
             n);
    h_post_json(l, "contact", b, &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    return h_sql_int(l, "SELECT score FROM leads WHERE id = '%s'", id);
}

struct lead_at {
    struct receiver *r;
    const char *id;
};

static bool lead_at(void *arg)
{
    struct lead_at *w = arg;
    return recv_has_lead(w->r, w->id) > 0;
}

static void rewrite(struct leadd *l, const char *extra)
{
    char ini[8192], path[400];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, extra);
    h_write_file(l, "leadd.ini", ini, path, sizeof(path));
}

/* The config with one webhook, to a receiver on port, and a reload. */
static void hook_to(struct leadd *l, int port)
{
    char hook[512];
    snprintf(hook, sizeof(hook),
             "score.partner = company = acme => 5\n[webhook.crm]\nurl = http://127.0.0.1:%d/\n"
             "when = all\nsign = false\n",
             port);
    rewrite(l, hook);
    h_signal(l, SIGHUP);
}

/* One lead, its id into id. */
static void post_one(struct leadd *l, const char *email, char id[64])
{
    char b[200];
    struct resp r;
    snprintf(b, sizeof(b), "{\"email\":\"%s\",\"name\":\"H\",\"consent\":true}", email);
    h_post_json(l, "contact", b, &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, 64));
    resp_free(&r);
}

static int count_log(struct leadd *l, const char *needle)
{
    char *t = h_log_text(l);
    int n = 0;
    for (const char *p = t; (p = strstr(p, needle)); p++)
        n++;
    free(t);
    return n;
}

/* Waits until each node logged needle n times (every node reloads). */
static bool each_logged(struct leadd *l, const char *needle, int n)
{
    return h_wait_log_n(l, needle, n * h_nodes(l), 10000);
}

static void t_reload_under_load(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    struct receiver a = {0}, b = {0};
    recv_start(&a, 0);
    recv_start(&b, 0);
    h_start(&l, H_BASE_INI, NULL);
    long long before = score_now(&l, 0); /* has_company => 20 */
    h_post_json(&l, "newsletter", "{\"email\":\"n@example.org\"}", &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);

    struct load ld = {.l = &l};
    pthread_t th;
    pthread_create(&th, NULL, post_loop, &ld);
    while (atomic_load(&ld.ok) < 20)
        usleep(1000);
    /* A new rule and a new form. */
    rewrite(&l, "score.partner = company = acme => 45\n"
                "[form.newsletter]\nfield.email = email required\n");
    h_signal(&l, SIGHUP);
    assert_true(each_logged(&l, "reload: config reloaded (2 forms, 0 webhooks)", 1));
    assert_true(each_logged(&l, "scoring rules changed", 1));
    long long after = score_now(&l, 1);
    assert_int_equal(after, before + 45);
    h_post_json(&l, "newsletter", "{\"email\":\"n@example.org\"}", &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    /* A config with errors: refused where it is wrong; the running one stays. */
    rewrite(&l, "score.partner = company = acme => 45\nthreads = many\n");
    h_signal(&l, SIGHUP);
    assert_true(each_logged(&l, "reload refused: the config has errors", 1));
    assert_true(h_wait_log(&l, "leadd.ini:", 1000));
    assert_int_equal(score_now(&l, 2), before + 45);
    /* A key fixed at start is named; the rest applies. */
    rewrite(&l, "score.partner = company = acme => 5\n[storage]\nretention_days = 30\n");
    h_signal(&l, SIGHUP);
    assert_true(each_logged(&l, "reload: [storage] retention_days changed: restart leadd", 1));
    assert_true(each_logged(&l, "config reloaded (1 form, 0 webhooks)", 1));
    assert_int_equal(score_now(&l, 3), before + 5);
    /* Webhooks change too: the forwarder moves to them once nothing is in
     * flight. A new target gets the next lead; a changed url, the one after. */
    char id[64];
    hook_to(&l, a.port);
    assert_true(each_logged(&l, "reload: config reloaded (1 form, 1 webhook)", 1));
    post_one(&l, "hooked@example.org", id);
    struct lead_at want = {&a, id};
    assert_true(h_wait(lead_at, &want, 10000));
    hook_to(&l, b.port);
    /* The second time: the forwarder has it (and claims nothing until it
     * has moved to it). The first line is the first reload's. */
    assert_true(each_logged(&l, "webhooks changed", 2));
    post_one(&l, "moved@example.org", id);
    want = (struct lead_at){&b, id};
    assert_true(h_wait(lead_at, &want, 10000));
    assert_int_equal(recv_has_lead(&a, id), 0);
    atomic_store(&ld.stop, true);
    pthread_join(th, NULL);
    fprintf(stderr, "%d submissions answered 201 during the reloads, %d otherwise\n",
            atomic_load(&ld.ok), atomic_load(&ld.failed));
    assert_int_equal(atomic_load(&ld.failed), 0);
    assert_int_equal(count_log(&l, "config reloaded"), 4 * h_nodes(&l));
    assert_int_equal(h_stop(&l), 0); /* leaks of replaced configs would fail here */
    h_cleanup(&l);
    recv_free(&a);
    recv_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_reload_under_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
