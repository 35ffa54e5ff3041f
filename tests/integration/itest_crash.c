/* itest_crash.c: kill -9 under concurrent submissions. Every lead answered
 * 201 must be in the database after the crash, and leadd must start again. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "receiver.h"
#include "smtp.h"

#define CLIENTS 8
#define MAX_IDS 100000
#define KILL_AFTER 300

static struct leadd L;
static char (*ids)[32];
static atomic_int nids;
static atomic_bool stop;
static const char *form = "contact";

static void *client(void *arg)
{
    int me = (int)(long)arg;
    char body[256], id[32];
    for (int i = 0; !atomic_load(&stop); i++) {
        struct resp r;
        snprintf(body, sizeof(body),
                 "{\"email\":\"c%d-%d@example.org\",\"name\":\"C\",\"company\":\"Acme\","
                 "\"budget\":50000,\"consent\":true}",
                 me, i);
        h_post_json(&L, form, body, &r);
        if (r.status == 201 && h_json_str(r.body, "id", id, sizeof(id))) {
            int k = atomic_fetch_add(&nids, 1);
            if (k < MAX_IDS)
                snprintf(ids[k], sizeof(ids[k]), "%s", id);
        } else if (r.status == 0) {
            atomic_store(&stop, true); /* leadd is gone */
        }
        resp_free(&r);
    }
    return NULL;
}

static bool enough(void *arg)
{
    (void)arg;
    return atomic_load(&nids) >= KILL_AFTER;
}

static void t_kill9_keeps_every_acknowledged_lead(void **state)
{
    (void)state;
    pthread_t th[CLIENTS];
    struct receiver rv = {0};
    char ini[8192];
    ids = calloc(MAX_IDS, sizeof(*ids));
    recv_start(&rv, 0);
    snprintf(
        ini, sizeof(ini),
        "%s[webhook.crm]\nurl = http://127.0.0.1:%d/\n"
        "secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nretry_schedule = 100ms 100ms 100ms\n",
        H_BASE_INI, rv.port);
    h_start(&L, ini, NULL);
    for (long i = 0; i < CLIENTS; i++)
        pthread_create(&th[i], NULL, client, (void *)i);
    assert_true(h_wait(enough, NULL, 60000));
    h_kill9(&L); /* while requests are in flight */
    atomic_store(&stop, true);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    int n = atomic_load(&nids);
    assert_true(n >= KILL_AFTER);
    int missing = 0;
    for (int i = 0; i < n && i < MAX_IDS; i++) {
        if (h_sql_int(&L, "SELECT count(*) FROM leads WHERE id = %Q", ids[i]) != 1)
            missing++;
    }
    assert_int_equal(missing, 0);
    /* Each lead's consent record is written in its transaction: never a
     * lead without its record, nor a record without its lead. */
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM leads AS l WHERE (SELECT count(*) FROM"
                                   " consents AS c WHERE c.lead_id = l.id AND c.kind = 'given')"
                                   " != 1"),
                     0);
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM consents AS c WHERE NOT EXISTS"
                                   " (SELECT 1 FROM leads AS l WHERE l.id = c.lead_id)"),
                     0);
    /* Restart on the same database: it recovers the WAL and serves again. */
    h_restart(&L);
    struct resp r;
    h_post_json(&L, "contact", "{\"email\":\"after@example.org\",\"name\":\"A\",\"consent\":true}",
                &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_true(h_sql_int(&L, "SELECT count(*) FROM leads") >= n + 1);
    /* Forwarding resumes: every acknowledged (qualified) lead reaches the CRM. */
    uint64_t until = h_now_ms() + 60000;
    for (int i = 0; i < n && i < MAX_IDS; i++) {
        while (!recv_has_lead(&rv, ids[i]) && h_now_ms() < until)
            recv_wait(&rv, recv_count(&rv) + 1, 100);
        if (!recv_has_lead(&rv, ids[i]))
            fail_msg("lead %s was never forwarded after the crash", ids[i]);
    }
    assert_int_equal(h_stop(&L), 0);
    h_cleanup(&L);
    recv_free(&rv);
    free(ids);
}

static long mails_left;
static bool all_mailed(void *arg)
{
    (void)arg;
    return h_sql_int(&L, "SELECT count(*) FROM deliveries WHERE webhook = 'confirm' AND"
                         " state = 'delivered' AND secret IS NULL") == mails_left;
}

/* The same with double opt-in: every lead keeps its consent record, its
 * link's token and (for the first of each address) its mail, and every mail
 * acknowledged in the outbox goes out after the restart. */
static void t_kill9_double_opt_in(void **state)
{
    (void)state;
    pthread_t th[CLIENTS];
    struct smtp s;
    char ini[8192];
    ids = calloc(MAX_IDS, sizeof(*ids));
    atomic_store(&nids, 0);
    atomic_store(&stop, false);
    form = "news";
    smtp_start(&s);
    snprintf(ini, sizeof(ini),
             "%s[form.news]\nfield.email = email required\nfield.name = text\n"
             "field.consent = consent required\nconsent_text = Yes, mail me.\nmin_fill_ms = 0\n"
             "rate_limit = 0\ndouble_opt_in = on\nconfirm_mail = confirm\n"
             "[webhook.confirm]\nformat = email\nurl = smtp://127.0.0.1:%d\nsmtp_tls = off\n"
             "mail_from = news@example.com\nforms =\n",
             H_BASE_INI, s.port);
    h_start(&L, ini, "server.public_url=https://leads.example.com", NULL);
    for (long i = 0; i < CLIENTS; i++)
        pthread_create(&th[i], NULL, client, (void *)i);
    assert_true(h_wait(enough, NULL, 60000));
    h_kill9(&L);
    atomic_store(&stop, true);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    int n = atomic_load(&nids), missing = 0;
    for (int i = 0; i < n && i < MAX_IDS; i++) {
        if (h_sql_int(&L,
                      "SELECT count(*) FROM leads AS l JOIN confirm_tokens AS t ON t.lead_id ="
                      " l.id JOIN consents AS c ON c.lead_id = l.id AND c.kind = 'given' JOIN"
                      " deliveries AS d ON d.lead_id = l.id AND d.webhook = 'confirm' WHERE"
                      " l.id = %Q AND l.status = 'unconfirmed'",
                      ids[i]) != 1)
            missing++;
    }
    assert_int_equal(missing, 0);
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM confirm_tokens AS t WHERE NOT EXISTS"
                                   " (SELECT 1 FROM leads AS l WHERE l.id = t.lead_id)"),
                     0);
    /* after the restart every confirmation mail queued goes out */
    long queued = h_sql_int(&L, "SELECT count(*) FROM deliveries WHERE webhook = 'confirm'");
    assert_true(queued >= n);
    h_restart(&L);
    mails_left = queued;
    assert_true(h_wait(all_mailed, NULL, 60000));
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM deliveries WHERE webhook = 'confirm' AND"
                                   " state = 'delivered' AND secret IS NULL"),
                     queued);
    assert_int_equal(h_stop(&L), 0);
    h_cleanup(&L);
    smtp_stop(&s);
    free(ids);
    form = "contact";
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_kill9_keeps_every_acknowledged_lead),
        cmocka_unit_test(t_kill9_double_opt_in),
    };
    return h_run_group_tests_name("crash", tests, NULL, NULL);
}
