/* itest_consent.c: double opt-in by mail through a real SMTP receiver, the
 * consent record (written with the lead, shown by the API, kept through
 * erasure as a salted hash), withdrawal by the API and by the mail's
 * unsubscribe link, and unconfirmed leads erased past their deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "leadd/crypto.h"
#include "receiver.h"
#include "smtp.h"

#define CONSENT_TEXT "I agree that Example GmbH may email me about its products."

/* A newsletter form with double opt-in, its confirmation mail through the
 * test's SMTP server, and a CRM that takes qualified leads. */
static void start_doi(struct leadd *l, struct smtp *s, struct receiver *rv, const char *crm_extra)
{
    char ini[16384];
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "[form.news]\nfield.email = email required\nfield.name = text\n"
             "field.consent = consent required\nconsent_text = " CONSENT_TEXT "\n"
             "title = Our newsletter\nhoneypot = _gotcha\nmin_fill_ms = 0\nrate_limit = 0\n"
             "double_opt_in = on\nconfirm_mail = confirm\nconfirm_redirect = /confirmed\n"
             "confirm_within_hours = 72\nscore.named = name present => 50\nqualify_at = 40\n"
             "[webhook.confirm]\nformat = email\nurl = smtp://127.0.0.1:%d\nsmtp_tls = off\n"
             "mail_from = news@example.com\nforms =\n"
             "[webhook.crm]\nurl = http://127.0.0.1:%d/\nforms = news contact\n"
             "secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n%s",
             H_BASE_INI, s->port, rv->port, crm_extra ? crm_extra : "");
    h_start(l, ini, "server.public_url=https://leads.example.com", NULL);
}

static void sign_up(struct leadd *l, const char *email, char *id, size_t cap)
{
    char body[512];
    struct resp r;
    snprintf(body, sizeof(body),
             "{\"email\":\"%s\",\"name\":\"Ada\",\"consent\":true,"
             "\"landing_page\":\"https://www.example.com/news?utm_source=x\"}",
             email);
    h_post_json(l, "news", body, &r);
    if (r.status != 201)
        fail_msg("sign-up: %ld %s", r.status, r.body);
    assert_true(h_json_str(r.body, "id", id, cap));
    resp_free(&r);
}

/* The token of the n-th mail's confirmation link. */
static void mail_token(struct smtp *s, int n, char *token, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    const char *p = strstr(s->msgs[n].data, "https://leads.example.com/v1/confirm/");
    assert_non_null(p);
    p += strlen("https://leads.example.com/v1/confirm/");
    size_t len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    assert_true(len > 20 && len < cap);
    memcpy(token, p, len);
    token[len] = '\0';
    pthread_mutex_unlock(&s->mu);
}

struct secret_gone {
    struct leadd *l;
    const char *id;
};
static bool secret_gone(void *arg)
{
    struct secret_gone *g = arg;
    return h_sql_int(g->l,
                     "SELECT count(*) FROM deliveries WHERE lead_id = %Q AND state = 'delivered'"
                     " AND secret IS NULL",
                     g->id) == 1;
}

static bool erased(void *arg)
{
    struct secret_gone *g = arg;
    return h_sql_int(g->l, "SELECT erased_at IS NOT NULL FROM leads WHERE id = %Q", g->id) == 1;
}

/* Sign up, get the mail, follow the link: confirmed, scored, forwarded;
 * the link works once. */
static void t_double_opt_in(void **state)
{
    (void)state;
    struct smtp s;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char id[32], token[64], v[256];
    smtp_start(&s);
    recv_start(&rv, 0);
    start_doi(&l, &s, &rv, NULL);
    sign_up(&l, "ada@example.org", id, sizeof(id));

    /* Stored, waiting: unconfirmed, not qualified, owned by nobody, with its
     * consent record written with it. */
    h_api(&l, "GET", "/v1/leads?status=unconfirmed", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, id));
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT qualified FROM leads WHERE id = %Q", id), 0);
    h_api(&l, "GET", "/v1/leads/x/consents", NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/v1/leads/%s/consents", id);
    h_api(&l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"kind\":\"given\""));
    assert_non_null(strstr(r.body, "\"field\":\"consent\""));
    assert_non_null(strstr(r.body, "\"text\":\"" CONSENT_TEXT "\""));
    assert_non_null(strstr(r.body, "\"ip\":\"127.0.0.1\""));
    assert_non_null(strstr(r.body, "\"page\":\"https://www.example.com/news?utm_source=x\""));
    resp_free(&r);

    /* The mail goes to the person, with the link and one-click unsubscribe. */
    assert_true(smtp_wait(&s, 1, 15000));
    pthread_mutex_lock(&s.mu);
    assert_string_equal(s.msgs[0].rcpt[0], "<ada@example.org>");
    assert_int_equal(s.msgs[0].nrcpt, 1);
    assert_non_null(strstr(s.msgs[0].data, "Subject: Please confirm: Our newsletter\r\n"));
    assert_non_null(strstr(s.msgs[0].data, CONSENT_TEXT));
    assert_non_null(strstr(s.msgs[0].data, "List-Unsubscribe: <https://leads.example.com/v1/"
                                           "unsubscribe/"));
    assert_non_null(strstr(s.msgs[0].data, "List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    pthread_mutex_unlock(&s.mu);
    mail_token(&s, 0, token, sizeof(token));
    /* The database keeps the token's hash only, and the mail's copy goes
     * once it is delivered. */
    unsigned char hash[SHA256_LEN];
    char hex[2 * SHA256_LEN + 1];
    assert_int_equal(crypto_token_hash(token, hash), 0);
    crypto_hex(hash, sizeof(hash), hex);
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM confirm_tokens WHERE hex(token_hash) ="
                               " upper(%Q) AND lead_id = %Q",
                               hex, id),
                     1);
    struct secret_gone g = {&l, id};
    assert_true(h_wait(secret_gone, &g, 10000));
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE webhook = 'crm'"), 0);

    /* A mail scanner fetches the link, as GET and as HEAD: it gets the page
     * with the button, and nothing changes. */
    snprintf(path, sizeof(path), "/v1/confirm/%s", token);
    h_req(&l, "HEAD", path, NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_req(&l, "GET", path, NULL, &r, "User-Agent: LinkScanner/1.0", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<form method=\"post\"><button type=\"submit\">Confirm my "
                                   "sign-up</button></form>"));
    assert_string_equal(h_header(&r, "Cache-Control", v, sizeof(v)), "no-store");
    resp_free(&r);
    h_sql_text(&l, v, sizeof(v), "SELECT status FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "unconfirmed");
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM consents WHERE lead_id = %Q AND"
                               " kind = 'confirmed'",
                               id),
                     0);
    /* A person presses the button. */
    h_req(&l, "POST", path, "", &r, "User-Agent: MailClient/1.0",
          "Content-Type: application/x-www-form-urlencoded", NULL);
    assert_int_equal(r.status, 303);
    assert_string_equal(h_header(&r, "location", v, sizeof(v)), "/confirmed");
    resp_free(&r);
    h_sql_text(&l, v, sizeof(v), "SELECT status FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "new");
    assert_int_equal(h_sql_int(&l, "SELECT qualified FROM leads WHERE id = %Q", id), 1);
    assert_int_equal(h_sql_int(&l, "SELECT score FROM leads WHERE id = %Q", id), 50);
    h_sql_text(&l, v, sizeof(v),
               "SELECT user_agent FROM consents WHERE lead_id = %Q AND kind = 'confirmed'", id);
    assert_string_equal(v, "MailClient/1.0");
    /* ... and the CRM gets it, once */
    assert_true(recv_wait(&rv, 1, 15000));
    assert_int_equal(recv_has_lead(&rv, id), 1);

    /* The link is single-use (its page says so); a link that is not one
     * gets a page too. */
    h_req(&l, "POST", path, "", &r, "Content-Type: application/x-www-form-urlencoded", NULL);
    assert_int_equal(r.status, 409);
    resp_free(&r);
    h_req(&l, "GET", path, NULL, &r, NULL);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(h_header(&r, "content-type", v, sizeof(v)), "text/html"));
    assert_non_null(strstr(r.body, "already used"));
    resp_free(&r);
    h_req(&l, "GET", "/v1/confirm/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, &r, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "not valid"));
    resp_free(&r);
    h_req(&l, "GET", "/v1/confirm/%3Cscript%3E", NULL, &r, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* Links mangled on their way (a mail client's line break, an encoder):
     * the token with more after it, a trailing slash, an encoded slash;
     * both links, both methods: a page for a person, never JSON, and the
     * token never in the log. (An encoded NUL ends the path: the link
     * itself, with its own page.) */
    static const char *const MANGLED[] = {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/", "%2Fx"};
    static const char *const LINKS[][2] = {{"GET", "/v1/confirm/"},
                                           {"POST", "/v1/confirm/"},
                                           {"GET", "/v1/unsubscribe/"},
                                           {"POST", "/v1/unsubscribe/"}};
    for (size_t i = 0; i < sizeof(MANGLED) / sizeof(MANGLED[0]); i++) {
        for (size_t k = 0; k < sizeof(LINKS) / sizeof(LINKS[0]); k++) {
            char p2[256];
            snprintf(p2, sizeof(p2), "%s%s%s", LINKS[k][1], token, MANGLED[i]);
            h_req(&l, LINKS[k][0], p2, NULL, &r, NULL);
            if (r.status != 404 ||
                !strstr(h_header(&r, "content-type", v, sizeof(v)), "text/html") ||
                !strstr(r.body, "not valid"))
                fail_msg("%s %s: %ld %s", LINKS[k][0], p2, r.status, v);
            resp_free(&r);
        }
    }
    h_req(&l, "GET", "/confirmed", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(recv_has_lead(&rv, id), 1);
    /* the link's token is a secret: logged as the route's pattern only */
    char *log = h_log_text(&l);
    assert_null(strstr(log, token));
    assert_non_null(strstr(log, "/v1/confirm/{token}"));
    assert_null(strstr(log, "ada@example.org"));
    free(log);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    smtp_stop(&s);
    recv_stop(&rv);
    recv_free(&rv);
}

/* A repeat sign-up of the same address in the dedupe window is stored as a
 * duplicate and mailed nothing; an unconfirmed lead's status is leadd's. */
static void t_repeat_and_status(void **state)
{
    (void)state;
    struct smtp s;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char id[32], id2[32], path[128];
    smtp_start(&s);
    recv_start(&rv, 0);
    start_doi(&l, &s, &rv, NULL);
    sign_up(&l, "bob@example.org", id, sizeof(id));
    sign_up(&l, "bob@example.org", id2, sizeof(id2));
    assert_true(smtp_wait(&s, 1, 15000));
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE webhook = 'confirm'"), 1);
    assert_int_equal(h_sql_int(&l, "SELECT duplicate_of = %Q FROM leads WHERE id = %Q", id, id2),
                     1);
    /* both have their consent record */
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM consents WHERE kind = 'given'"), 2);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"status\":\"contacted\"}", &r);
    assert_int_equal(r.status, 409);
    assert_non_null(strstr(r.body, "lead-unconfirmed"));
    resp_free(&r);
    h_api(&l, "PATCH", path, "{\"status\":\"unconfirmed\"}", &r);
    assert_int_equal(r.status, 422);
    resp_free(&r);
    /* a note is fine, and marking it not spam does not send it anywhere */
    h_api(&l, "PATCH", path, "{\"note\":\"asked by phone\",\"spam\":false}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE webhook = 'crm'"), 0);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    smtp_stop(&s);
    recv_stop(&rv);
    recv_free(&rv);
}

/* A link opened too late gets its page; the unconfirmed lead is erased by
 * the writer's sweep (run at start, then each minute), its records saying
 * why and keeping only the address's hash. */
static void t_expired(void **state)
{
    (void)state;
    struct smtp s;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char id[32], token[64], path[128], v[256];
    smtp_start(&s);
    recv_start(&rv, 0);
    start_doi(&l, &s, &rv, NULL);
    sign_up(&l, "late@example.org", id, sizeof(id));
    assert_true(smtp_wait(&s, 1, 15000));
    mail_token(&s, 0, token, sizeof(token));
    h_sql_exec(&l, "UPDATE confirm_tokens SET expires_ms = 1");
    snprintf(path, sizeof(path), "/v1/confirm/%s", token);
    h_req(&l, "POST", path, "", &r, "Content-Type: application/x-www-form-urlencoded", NULL);
    assert_int_equal(r.status, 410);
    assert_non_null(strstr(r.body, "expired"));
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_restart(&l);
    /* The sweep runs at start (and each minute): a second node's first one
     * may have come after the link's expiry and before this restart, its
     * line in the log the restart began afresh. */
    if (!h_two_nodes())
        assert_true(h_wait_log(&l, "double opt-in: erased 1 leads", 10000));
    assert_true(h_wait(erased, &(struct secret_gone){&l, id}, 10000));
    h_sql_text(&l, v, sizeof(v), "SELECT group_concat(kind) FROM consents WHERE lead_id = %Q", id);
    assert_string_equal(v, "given,expired");
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM consents WHERE lead_id = %Q AND"
                               " length(email_hash) = 64 AND ip IS NULL AND page IS NULL",
                               id),
                     2);
    h_req(&l, "GET", path, NULL, &r, NULL); /* still a page, not an error dump */
    assert_int_equal(r.status, 410);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    smtp_stop(&s);
    recv_stop(&rv);
    recv_free(&rv);
}

static bool pending_crm(void *arg)
{
    return h_sql_int(arg, "SELECT count(*) FROM deliveries WHERE webhook = 'crm' AND"
                          " state = 'pending' AND attempts >= 1") == 1;
}

/* Withdrawal cancels what waits to be sent and keeps the lead from being
 * sent again; the mail's unsubscribe link does the same. */
static void t_withdraw(void **state)
{
    (void)state;
    struct smtp s;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char id[32], token[64], path[128], body[256], v[64];
    smtp_start(&s);
    recv_start(&rv, 0);
    rv.fail_first = 1000; /* the CRM is down: the delivery waits for its retry */
    rv.fail_status = 503;
    start_doi(&l, &s, &rv, "retry_schedule = 1h\n");
    /* a lead of the plain form (no double opt-in), qualified and queued */
    snprintf(body, sizeof(body),
             "{\"email\":\"w@acme.example\",\"name\":\"W\",\"company\":\"Acme\","
             "\"budget\":50000,\"consent\":true}");
    h_post_json(&l, "contact", body, &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    assert_true(h_wait(pending_crm, &l, 15000));
    snprintf(path, sizeof(path), "/v1/leads/%s/consents/withdraw", id);
    h_api(&l, "POST", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"kind\":\"withdrawn\""));
    assert_non_null(strstr(r.body, "\"actor\":\"api\""));
    resp_free(&r);
    /* its delivery is cancelled, not deleted: the attempt it had is kept */
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM deliveries WHERE lead_id = %Q AND"
                               " state = 'cancelled' AND why = 'consent withdrawn'",
                               id),
                     1);
    snprintf(path, sizeof(path), "/v1/deliveries?lead=%s&state=cancelled", id);
    h_api(&l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"state\":\"cancelled\""));
    assert_non_null(strstr(r.body, "\"why\":\"consent withdrawn\""));
    assert_non_null(strstr(r.body, "\"status\":503")); /* the failed attempt before it */
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "GET", path, NULL, &r);
    assert_non_null(strstr(r.body, "\"forwarding\":{\"state\":\"cancelled\""));
    resp_free(&r);
    h_api(&l, "GET", path, NULL, &r);
    assert_non_null(strstr(r.body, "consent_withdrawn"));
    resp_free(&r);
    /* a change that would queue it again does not */
    h_api(&l, "PATCH", path, "{\"spam\":false,\"status\":\"contacted\"}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM deliveries WHERE lead_id = %Q AND"
                               " state <> 'cancelled'",
                               id),
                     0);
    /* a second withdrawal records nothing new */
    snprintf(path, sizeof(path), "/v1/leads/%s/consents/withdraw", id);
    h_api(&l, "POST", path, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(
        h_sql_int(&l, "SELECT count(*) FROM consents WHERE lead_id = %Q AND kind = 'withdrawn'",
                  id),
        1);
    h_api(&l, "POST", "/v1/leads/01ARZ3NDEKTSV4RRFFQ69G5FAV/consents/withdraw", NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);

    /* The unsubscribe link in a confirmation mail: a page, then the button. */
    char id2[32];
    sign_up(&l, "u@example.org", id2, sizeof(id2));
    assert_true(smtp_wait(&s, 1, 15000));
    mail_token(&s, 0, token, sizeof(token));
    snprintf(path, sizeof(path), "/v1/unsubscribe/%s", token);
    h_req(&l, "GET", path, NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<form method=\"post\">"));
    resp_free(&r);
    assert_int_equal(
        h_sql_int(&l, "SELECT count(*) FROM consents WHERE lead_id = %Q AND kind = 'withdrawn'",
                  id2),
        0);
    h_req(&l, "POST", path, "List-Unsubscribe=One-Click", &r,
          "Content-Type: application/x-www-form-urlencoded", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_sql_text(&l, v, sizeof(v),
               "SELECT actor FROM consents WHERE lead_id = %Q AND kind = 'withdrawn'", id2);
    assert_string_equal(v, "unsubscribe link");
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    smtp_stop(&s);
    recv_stop(&rv);
    recv_free(&rv);
}

/* Erasure: the person's traces leave the records, the times and wording
 * stay, with a salted hash of the address that still finds them. */
static void t_erasure_keeps_hash(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char id[32], path[128], ini[8192];
    snprintf(ini, sizeof(ini), "%s[auth]\napi_keys = " H_API_KEY "\n", H_BASE_INI);
    h_start(&l, ini, NULL);
    h_post_json(&l, "contact",
                "{\"email\":\"Erin.Erased@Example.org\",\"name\":\"Erin\",\"consent\":true,"
                "\"_elapsed_ms\":9000}",
                &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    /* Records are append-only, in the database itself (PostgreSQL's
     * triggers: itest_pg) */
    char out[512];
    if (!h_pg()) {
        assert_int_not_equal(
            h_run(out, sizeof(out), "sqlite3 %s/leadd.db \"DELETE FROM consents\" 2>&1", l.dir), 0);
        assert_non_null(strstr(out, "append-only"));
        assert_int_not_equal(h_run(out, sizeof(out),
                                   "sqlite3 %s/leadd.db \"UPDATE consents SET at = 'x'\" 2>&1",
                                   l.dir),
                             0);
    }
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM consents WHERE lead_id = %Q AND ip IS NULL"
                               " AND user_agent IS NULL AND length(email_hash) = 64 AND"
                               " text_hash IS NOT NULL AND at IS NOT NULL",
                               id),
                     1);
    /* the dispute: this address agreed to this wording on this day */
    h_api(&l, "GET", "/v1/consents?email=erin.erased@example.org", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, id));
    assert_non_null(strstr(r.body, "\"kind\":\"given\""));
    resp_free(&r);
    h_api(&l, "GET", "/v1/consents?email=someone.else@example.org", NULL, &r);
    assert_string_equal(r.body, "{\"data\":[]}");
    resp_free(&r);
    h_api(&l, "GET", "/v1/consents", NULL, &r);
    assert_int_equal(r.status, 422);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    /* the address is in no page of the database file */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "grep -c -a -i 'erin.erased@example' %s/leadd.db*", l.dir);
    int st = h_run(out, sizeof(out), "%s", cmd);
    assert_int_not_equal(st, 0); /* grep finds nothing */
    h_cleanup(&l);
}

/* A captcha the provider could not check, on a double opt-in form: the
 * lead is held (captcha_unverified) but still mailed, and following the
 * link (a person at that mailbox) releases it. */
static void t_confirm_releases_unverified(void **state)
{
    (void)state;
    struct smtp s;
    struct receiver rv = {0}, siteverify = {0};
    struct leadd l;
    struct resp r;
    char id[32], token[64], path[128];
    smtp_start(&s);
    recv_start(&rv, 0);
    recv_start(&siteverify, 0);
    siteverify.status = 503; /* the provider is down */
    char extra[512];
    snprintf(extra, sizeof(extra),
             "[form.news2]\nfield.email = email required\nfield.name = text\nmin_fill_ms = 0\n"
             "rate_limit = 0\ndouble_opt_in = on\nconfirm_mail = confirm\n"
             "score.named = name present => 50\nqualify_at = 40\ncaptcha = turnstile\n"
             "captcha_secret = s\ncaptcha_verify_url = http://127.0.0.1:%d/\n"
             "[webhook.crm2]\nurl = http://127.0.0.1:%d/\nforms = news2\nsign = false\n",
             siteverify.port, rv.port);
    start_doi(&l, &s, &rv, extra);
    h_post_json(&l, "news2",
                "{\"email\":\"held@example.org\",\"name\":\"H\",\"cf-turnstile-response\":\"t\"}",
                &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT flags FROM leads WHERE id = %Q", id), 32);
    assert_true(smtp_wait(&s, 1, 15000));
    mail_token(&s, 0, token, sizeof(token));
    snprintf(path, sizeof(path), "/v1/confirm/%s", token);
    h_req(&l, "POST", path, "", &r, "Content-Type: application/x-www-form-urlencoded", NULL);
    assert_int_equal(r.status, 303);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT flags FROM leads WHERE id = %Q", id), 0);
    assert_int_equal(h_sql_int(&l, "SELECT qualified FROM leads WHERE id = %Q", id), 1);
    assert_true(recv_wait(&rv, 1, 15000));
    assert_int_equal(recv_has_lead(&rv, id), 1);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    smtp_stop(&s);
    recv_stop(&rv);
    recv_free(&rv);
    recv_stop(&siteverify);
    recv_free(&siteverify);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_double_opt_in),
        cmocka_unit_test(t_repeat_and_status),
        cmocka_unit_test(t_expired),
        cmocka_unit_test(t_withdraw),
        cmocka_unit_test(t_erasure_keeps_hash),
        cmocka_unit_test(t_confirm_releases_unverified),
    };
    return h_run_group_tests_name("consent", tests, NULL, NULL);
}
