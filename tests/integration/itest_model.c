/* itest_model.c: capture's guarantees amid mixed traffic, checked against a
 * small model. A seeded random mix (LEADD_MODEL_SEED, printed, to replay a
 * failure) of submissions to four forms (one with consent and scoring, one
 * with double opt-in, one without duplicate checks, one whose captcha
 * provider is down), repeats of the same people in other letter cases and
 * of people last seen past the duplicate window,
 * honeypot and too-fast spam, Idempotency-Key replays and conflicts, and
 * erasures while deliveries are in flight (the CRM answers slowly), and
 * the CRM's outcomes coming back (Standard Webhooks, matched by address in
 * any letter case, replayed now and then). Every
 * answer is checked as it comes; then every lead's flags, duplicate_of,
 * qualification and queued deliveries, the confirmation mails (one per
 * person, never to a repeat), and that every delivery marked delivered
 * reached the CRM. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "receiver.h"
#include "smtp.h"

#define OPS 1200
#define PEOPLE 60
#define MAX_LEADS OPS

enum form { F_CONTACT, F_NEWS, F_RAW, F_CAP, F_COUNT };
static const char *const FORMS[F_COUNT] = {"contact", "news", "raw", "cap"};

struct mlead {
    char id[64];
    enum form form;
    int person;
    unsigned flags; /* the spam flags the model expects */
    int dup_of;     /* index of the original, or -1 */
    bool qualified, hot, erased;
    const char *status; /* NULL: as it arrived (new; news: unconfirmed) */
};

static struct mlead leads[MAX_LEADS];
static int nleads;
static int original[F_COUNT][PEOPLE]; /* index of the person's current original, or -1 */

static unsigned long long rng;
static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(rng >> 33) % n;
}

/* The person's address, in a random mix of letter cases: the same person. */
static void email_of(int person, char *out, size_t cap)
{
    snprintf(out, cap, "person%d@%s", person, person % 7 == 0 ? "gmail.com" : "acme.example");
    for (char *p = out; *p; p++)
        if (*p >= 'a' && *p <= 'z' && rnd(4) == 0)
            *p = (char)(*p - 'a' + 'A');
}

static int find(const char *id)
{
    for (int i = 0; i < nleads; i++)
        if (!strcmp(leads[i].id, id))
            return i;
    return -1;
}

struct sub {
    enum form form;
    int person;
    bool company, budget, utm, honeypot, too_fast, named;
};

/* The body of a submission, and what the model expects of it. */
static void body_of(const struct sub *s, char *out, size_t cap, struct mlead *m)
{
    char email[96];
    email_of(s->person, email, sizeof(email));
    size_t n = (size_t)snprintf(out, cap, "{\"email\":\"%s\"", email);
    if (s->form == F_CONTACT || s->named)
        n += (size_t)snprintf(out + n, cap - n, ",\"name\":\"P %d\"", s->person);
    if (s->form == F_CONTACT || s->form == F_NEWS)
        n += (size_t)snprintf(out + n, cap - n, ",\"consent\":true");
    if (s->company && (s->form == F_CONTACT || s->form == F_RAW))
        n += (size_t)snprintf(out + n, cap - n, ",\"company\":\"Co %d\"", s->person);
    if (s->budget && s->form == F_CONTACT)
        n += (size_t)snprintf(out + n, cap - n, ",\"budget\":25000");
    if (s->utm && s->form == F_CONTACT)
        n += (size_t)snprintf(out + n, cap - n, ",\"utm_source\":\"google\"");
    if (s->honeypot && (s->form == F_CONTACT || s->form == F_NEWS))
        n += (size_t)snprintf(out + n, cap - n, ",\"_gotcha\":\"x\"");
    if (s->form == F_CONTACT)
        n += (size_t)snprintf(out + n, cap - n, ",\"_elapsed_ms\":%d", s->too_fast ? 200 : 9000);
    if (s->form == F_CAP)
        n += (size_t)snprintf(out + n, cap - n, ",\"cf-turnstile-response\":\"tok\"");
    snprintf(out + n, cap - n, "}");

    memset(m, 0, sizeof(*m));
    m->form = s->form;
    m->person = s->person;
    m->dup_of = -1;
    if (s->honeypot && (s->form == F_CONTACT || s->form == F_NEWS))
        m->flags |= 1u << 0;
    if (s->too_fast && s->form == F_CONTACT)
        m->flags |= 1u << 1;
    if (s->form == F_CAP)
        m->flags |= 1u << 5; /* captcha_unverified: its provider is down */
    int score = 0;
    if (s->form == F_CONTACT) {
        score = 20 * s->company + 30 * s->budget + 10 * s->utm - 15 * (s->person % 7 == 0);
    } else if (s->form == F_RAW) {
        score = 50 * s->company;
    }
    /* double opt-in leads wait unconfirmed: not qualified at intake */
    m->qualified = s->form != F_NEWS && s->form != F_CAP && score >= 40;
    m->hot = s->form == F_CONTACT && score >= 60;
}

static long post(struct leadd *l, enum form f, const char *body, const char *key, char *id,
                 size_t cap)
{
    struct resp r;
    char path[96], hdr[96];
    snprintf(path, sizeof(path), "/v1/forms/%s/submissions", FORMS[f]);
    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", key ? key : "");
    h_req(l, "POST", path, body, &r, "Content-Type: application/json", key ? hdr : "X-No-Key: 1",
          NULL);
    long st = r.status;
    id[0] = '\0';
    if (st == 201 && !h_json_str(r.body, "id", id, cap))
        fail_msg("201 without an id: %s", r.body);
    resp_free(&r);
    return st;
}

#define OUTCOME_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
/* The people's leads captured before the run (25 hours old, contact form):
 * the status an outcome gave each, NULL for none. */
static const char *old_status[PEOPLE];

/* An outcome from the CRM about a person, signed as Standard Webhooks sign;
 * the answer's body into out. */
static long outcome(struct leadd *l, const char *msg_id, int person, const char *stage, char *out,
                    size_t cap)
{
    char body[256], email[96];
    struct resp r;
    email_of(person, email, sizeof(email));
    snprintf(body, sizeof(body),
             "{\"type\":\"deal.updated\",\"data\":{\"email\":\"%s\",\"stage\":\"%s\"}}", email,
             stage);
    h_post_signed(l, "/v1/inbound/deals", OUTCOME_SECRET, msg_id, 0, body, &r);
    snprintf(out, cap, "%s", r.body ? r.body : "");
    long st = r.status;
    resp_free(&r);
    return st;
}

static bool all_sent(void *arg)
{
    return h_sql_int(arg, "SELECT count(*) FROM deliveries WHERE state IN ('pending',"
                          " 'delivering')") == 0;
}

static void t_mixed_traffic_against_the_model(void **state)
{
    (void)state;
    static struct receiver crm, hot, captcha; /* 4 MB each: not on the stack */
    static struct smtp mail;
    struct leadd l;
    char ini[16384];
    const char *seed_env = getenv("LEADD_MODEL_SEED");
    unsigned long long seed = seed_env ? strtoull(seed_env, NULL, 10) : 20261207;
    rng = seed;
    fprintf(stderr, "LEADD_MODEL_SEED=%llu\n", seed);
    recv_start(&crm, 0);
    crm.delay_ms = 100; /* deliveries in flight while leads are erased */
    recv_start(&hot, 0);
    recv_start(&captcha, 0);
    captcha.status = 500; /* the captcha provider is down: accept, flagged */
    smtp_start(&mail);
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "[form.news]\nfield.email = email required\nfield.name = text\n"
             "field.consent = consent required\nconsent_text = Send me news.\n"
             "honeypot = _gotcha\nmin_fill_ms = 0\nrate_limit = 0\nallowed_origins = *\n"
             "double_opt_in = on\nconfirm_mail = confirm\nscore.named = name present => 50\n"
             "qualify_at = 40\n"
             "[form.raw]\nfield.email = email required\nfield.company = text\n"
             "dedupe_window_hours = 0\nmin_fill_ms = 0\nrate_limit = 0\nallowed_origins = *\n"
             "score.co = company present => 50\nqualify_at = 40\n"
             "[form.cap]\nfield.email = email required\nmin_fill_ms = 0\nrate_limit = 0\n"
             "allowed_origins = *\ncaptcha = turnstile\ncaptcha_secret = s\n"
             "captcha_verify_url = http://127.0.0.1:%d/\ncaptcha_timeout_ms = 1000\n"
             "[webhook.confirm]\nformat = email\nurl = smtp://127.0.0.1:%d\nsmtp_tls = off\n"
             "mail_from = news@example.com\nforms =\n"
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nsign = false\n"
             "[webhook.hot]\nurl = http://127.0.0.1:%d/\nsign = false\nwhen = grade = hot\n"
             "[inbound.deals]\nkind = standard\nsecret = " OUTCOME_SECRET "\n"
             "stage.won = converted\nstage.lost = rejected\n",
             H_BASE_INI, captcha.port, mail.port, crm.port, hot.port);
    h_start(&l, ini, "server.public_url=https://leads.example.com", NULL);
    /* Some people came 25 hours ago, past the contact form's 24-hour window:
     * their next lead is a first one again (the window as a restart loads
     * it). */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long old_ms = (long long)now.tv_sec * 1000 - 25LL * 3600 * 1000;
    for (int p = 0; p < PEOPLE; p += 6) {
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO leads(id, form, created_at, created_ms, email)"
                 " VALUES ('01AAAAAAAAAAAAAAAAAAAAA%03d', 'contact', '2026-01-01T00:00:00.000Z',"
                 " %lld, 'person%d@%s')",
                 p, old_ms, p, p % 7 == 0 ? "gmail.com" : "acme.example");
        h_sql_exec(&l, sql);
    }
    assert_int_equal(h_stop(&l), 0);
    /* written by hand, behind leadd's back: counted as README says to after
     * an edit by hand (the counters are checked at the end) */
    char out[4096];
    assert_int_equal(h_rollup_rebuild(&l, "UTC", out, sizeof(out)), 0);
    h_restart(&l);
    memset(original, 0xff, sizeof(original));
    nleads = 0;
    char body[1024], id[64], last_key[32] = "", last_body[1024] = "", last_id[64] = "";
    int keys = 0, mails = 0, outcomes = 0, applied = 0;
    char last_event[32] = "";
    int last_person = 0;
    const char *last_stage = "won";
    memset(old_status, 0, sizeof(old_status));
    for (int op = 0; op < OPS; op++) {
        unsigned what = rnd(100);
        if (what < 8 && nleads > 0) { /* erase a lead, maybe while it is being delivered */
            int i = (int)rnd((unsigned)nleads);
            /* half the time the newest qualified one: its delivery is on the
             * wire, and the newest (an id a careless store hands out again) */
            for (int k = nleads - 1; k >= 0 && rnd(2); k--) {
                if (leads[k].qualified) {
                    i = k;
                    break;
                }
            }
            if (leads[i].erased || leads[i].form == F_NEWS)
                continue;
            char path[96];
            struct resp r;
            snprintf(path, sizeof(path), "/v1/leads/%s", leads[i].id);
            h_api(&l, "DELETE", path, NULL, &r);
            if (r.status != 204)
                fail_msg("op %d: erase %s: %ld", op, leads[i].id, r.status);
            resp_free(&r);
            leads[i].erased = true;
            if (original[leads[i].form][leads[i].person] == i)
                original[leads[i].form][leads[i].person] = -1;
            continue;
        }
        if (what >= 92) { /* the CRM's outcome about a person, or the last one again */
            char ans[512], want[160], ev[32];
            bool replay = last_event[0] && rnd(4) == 0;
            int person = replay ? last_person : (int)rnd(PEOPLE);
            const char *stage = replay ? last_stage : rnd(2) ? "won" : "lost";
            if (replay) /* the CRM sends the same event again, body and all */
                snprintf(ev, sizeof(ev), "%s", last_event);
            else
                snprintf(ev, sizeof(ev), "evt_%d", ++outcomes);
            /* the model: the person's newest lead that is neither spam, nor
             * a repeat, nor erased, on any form; else the one from before */
            int t = -1;
            for (int k = nleads - 1; k >= 0 && t < 0; k--)
                if (leads[k].person == person && !leads[k].erased && leads[k].dup_of < 0 &&
                    !leads[k].flags)
                    t = k;
            bool old = t < 0 && person % 6 == 0;
            long st = outcome(&l, ev, person, stage, ans, sizeof(ans));
            const char *status = stage[0] == 'w' ? "converted" : "rejected";
            if (t >= 0 && leads[t].form == F_NEWS) /* unconfirmed: the double opt-in's to move */
                snprintf(want, sizeof(want),
                         "\"applied\":0,\"replayed\":0,\"unknown_records\":0,"
                         "\"unknown_stages\":0,\"ignored\":1");
            else if (t < 0 && !old)
                snprintf(want, sizeof(want), "\"unknown_records\":1");
            else if (replay) /* applied once already, whichever lead it finds now */
                snprintf(want, sizeof(want), "\"applied\":0,\"replayed\":1,");
            else
                snprintf(want, sizeof(want), "\"applied\":1,");
            if (st != 200 || !strstr(ans, want))
                fail_msg("op %d: outcome %s %s for person %d (lead %d, old %d): %ld %s, want %s",
                         op, ev, stage, person, t, old, st, ans, want);
            if (replay || !strstr(ans, "\"applied\":1"))
                continue;
            if (t >= 0)
                leads[t].status = status;
            else
                old_status[person] = status;
            applied++;
            snprintf(last_event, sizeof(last_event), "%s", ev);
            last_person = person;
            last_stage = stage;
            continue;
        }
        if (what < 14 && last_key[0]) { /* the last keyed post again: a replay, or a conflict */
            bool same = rnd(2);
            const char *b = same ? last_body : "{\"email\":\"other@acme.example\"}";
            long st = post(&l, F_RAW, b, last_key, id, sizeof(id));
            if (same ? st != 201 || strcmp(id, last_id) : st != 409)
                fail_msg("op %d: %s with key %s: %ld %s (first: %s)", op,
                         same ? "replay" : "conflict", last_key, st, id, last_id);
            continue;
        }
        struct sub s = {(enum form)rnd(F_COUNT),
                        (int)rnd(PEOPLE),
                        rnd(2),
                        rnd(2),
                        rnd(2),
                        rnd(12) == 0,
                        rnd(12) == 0,
                        rnd(2)};
        struct mlead m;
        body_of(&s, body, sizeof(body), &m);
        bool keyed = s.form == F_RAW && rnd(3) == 0;
        char key[32];
        snprintf(key, sizeof(key), "k%d", ++keys);
        long st = post(&l, s.form, body, keyed ? key : NULL, id, sizeof(id));
        if (st != 201)
            fail_msg("op %d: %s %s: %ld", op, FORMS[s.form], body, st);
        if (find(id) >= 0)
            fail_msg("op %d: a new submission answered with a stored lead's id %s", op, id);
        /* the model: the person's original in this form, if the form checks */
        int *orig = &original[s.form][s.person];
        if (s.form != F_RAW && *orig >= 0) {
            m.dup_of = *orig;
            m.qualified = m.hot = false;
        } else if (!m.flags && s.form != F_RAW) {
            *orig = nleads;
        }
        if (m.flags)
            m.qualified = m.hot = false;
        if (s.form == F_NEWS && m.dup_of < 0 && !m.flags)
            mails++; /* one confirmation mail a person */
        snprintf(m.id, sizeof(m.id), "%s", id);
        leads[nleads++] = m;
        if (keyed) {
            snprintf(last_key, sizeof(last_key), "%s", key);
            snprintf(last_body, sizeof(last_body), "%s", body);
            snprintf(last_id, sizeof(last_id), "%s", id);
        }
    }
    /* every lead as the model has it */
    for (int i = 0; i < nleads; i++) {
        const struct mlead *m = &leads[i];
        char dup[64];
        if (m->erased) {
            if (h_sql_int(&l,
                          "SELECT count(*) FROM leads WHERE id = %Q AND email IS NULL AND"
                          " erased_at IS NOT NULL",
                          m->id) != 1 ||
                h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", m->id))
                fail_msg("lead %d (%s) erased, but not gone", i, m->id);
            continue;
        }
        h_sql_text(&l, dup, sizeof(dup), "SELECT duplicate_of FROM leads WHERE id = %Q", m->id);
        char status[32];
        h_sql_text(&l, status, sizeof(status), "SELECT status FROM leads WHERE id = %Q", m->id);
        const char *want_status = m->status                                         ? m->status
                                  : m->form == F_NEWS && !m->flags && m->dup_of < 0 ? "unconfirmed"
                                  : m->form == F_NEWS                               ? NULL
                                                                                    : "new";
        if (want_status && strcmp(status, want_status))
            fail_msg("lead %d (%s, %s, person %d): status %s, want %s", i, m->id, FORMS[m->form],
                     m->person, status, want_status);
        const char *want = m->dup_of >= 0 ? leads[m->dup_of].id : "";
        long long flags = h_sql_int(&l, "SELECT flags & 35 FROM leads WHERE id = %Q", m->id);
        long long q = h_sql_int(&l, "SELECT qualified FROM leads WHERE id = %Q", m->id);
        long long to_crm = h_sql_int(&l,
                                     "SELECT count(*) FROM deliveries WHERE lead_id = %Q AND"
                                     " webhook = 'crm'",
                                     m->id);
        long long to_hot = h_sql_int(&l,
                                     "SELECT count(*) FROM deliveries WHERE lead_id = %Q AND"
                                     " webhook = 'hot'",
                                     m->id);
        if (strcmp(dup, want) || flags != (long long)m->flags || q != m->qualified ||
            to_crm != m->qualified || to_hot != m->hot)
            fail_msg("lead %d (%s, %s, person %d): duplicate_of '%s' want '%s', flags %lld want"
                     " %u, qualified %lld want %d, deliveries crm %lld hot %lld want %d %d",
                     i, m->id, FORMS[m->form], m->person, dup, want, flags, m->flags, q,
                     m->qualified, to_crm, to_hot, m->qualified, m->hot);
    }
    for (int p = 0; p < PEOPLE; p += 6) {
        char status[32];
        h_sql_text(&l, status, sizeof(status),
                   "SELECT status FROM leads WHERE id = '01AAAAAAAAAAAAAAAAAAAAA%03d'", p);
        if (strcmp(status, old_status[p] ? old_status[p] : "new"))
            fail_msg("the earlier lead of person %d: status %s, want %s", p, status,
                     old_status[p] ? old_status[p] : "new");
    }
    /* each outcome applied once, in the lead's history as the CRM's */
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM lead_history WHERE actor = 'deals'"),
                     applied);
    /* what was queued is sent: each delivery marked delivered reached its
     * receiver, and every person got one confirmation mail, no more */
    assert_true(h_wait(all_sent, &l, 60000));
    for (int i = 0; i < nleads; i++) {
        if (leads[i].erased)
            continue;
        if (leads[i].qualified && recv_has_lead(&crm, leads[i].id) < 1)
            fail_msg("lead %s delivered to the CRM in the database, never received", leads[i].id);
        if (leads[i].hot && recv_has_lead(&hot, leads[i].id) < 1)
            fail_msg("lead %s delivered to hot in the database, never received", leads[i].id);
    }
    assert_true(smtp_wait(&mail, mails, 30000));
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE webhook = 'confirm'"),
                     mails);
    assert_int_equal(mail.n, mails);
    fprintf(stderr, "%d leads (%d erased), %d mails, %d to the CRM, %d outcomes (%d applied)\n",
            nleads, (int)h_sql_int(&l, "SELECT count(*) FROM leads WHERE erased_at IS NOT NULL"),
            mails, recv_count(&crm), outcomes, applied);
    assert_int_equal(h_stop(&l), 0);
    /* the stats' counters kept through all of it (folded by SQLite's writer
     * at the stop, counted batch by batch on PostgreSQL) are the counters
     * rebuilt from the leads */
    h_rollup_kept_is_rebuilt(&l);
    h_cleanup(&l);
    smtp_stop(&mail);
    recv_stop(&crm);
    recv_stop(&hot);
    recv_stop(&captcha);
    recv_free(&crm);
    recv_free(&hot);
    recv_free(&captcha);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_mixed_traffic_against_the_model),
    };
    return h_run_group_tests_name("model", tests, NULL, NULL);
}
