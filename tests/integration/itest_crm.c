/* itest_crm.c: targets in their own dialects, each checked against the
 * request its vendor documents, sent to a real receiver started here: HubSpot
 * (batch upsert, Bearer, 429 then the contact id kept as crm_ids), Salesforce
 * Web-to-Lead (urlencoded, oid, the required-field fallback), Slack (only hot
 * leads, with a working link), email through a real SMTP server, a user's
 * template (typed values, interpolation, absent values, filters, form
 * encoding), a target's rate limit, routing by a condition and by a status
 * change, and bad templates refused at start. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "receiver.h"
#include "smtp.h"

static int seq;

/* A lead under H_BASE_INI's rules: hot (company 20, budget 30, google 10). */
static void post(struct leadd *l, const char *extra, char *id, size_t cap)
{
    char body[1024];
    struct resp r;
    snprintf(body, sizeof(body),
             "{\"email\":\"c%d-%d@acme.example\",\"consent\":true,\"_elapsed_ms\":9000%s%s}",
             getpid(), ++seq, extra && *extra ? "," : "", extra ? extra : "");
    h_post_json(l, "contact", body, &r);
    if (r.status != 201)
        fail_msg("post: %ld %s", r.status, r.body);
    if (id)
        assert_true(h_json_str(r.body, "id", id, cap));
    resp_free(&r);
}

static const char HOT[] =
    "\"name\":\"Ada King Lovelace\",\"company\":\"Analytical Engines\","
    "\"budget\":50000,\"phone\":\"+44 20 7946 0000\",\"utm_source\":\"google\"";

static void start_with(struct leadd *l, const char *hooks)
{
    char ini[16384];
    snprintf(ini, sizeof(ini), "%s[auth]\napi_keys = " H_API_KEY "\n%s", H_BASE_INI, hooks);
    h_start(l, ini, NULL);
}

static json_t *body_json(const struct recv_req *q)
{
    json_error_t je;
    json_t *j = json_loads(q->body, 0, &je);
    if (!j)
        fail_msg("not JSON: %s", q->body);
    return j;
}

static const char *jstr(json_t *j, const char *path)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *save = NULL, *p = strtok_r(tmp, ".", &save); p && j; p = strtok_r(NULL, ".", &save))
        j = json_is_array(j) ? json_array_get(j, (size_t)strtol(p, NULL, 10))
                             : json_object_get(j, p);
    return json_string_value(j);
}

struct delivered {
    struct leadd *l;
    const char *id;
};

static bool is_delivered(void *arg)
{
    struct delivered *d = arg;
    return h_sql_int(d->l,
                     "SELECT count(*) FROM deliveries WHERE lead_id = %Q AND state = "
                     "'delivered'",
                     d->id) == 1;
}

/* HubSpot CRM v3, contacts batch upsert:
 * https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
 * POST /crm/v3/objects/contacts/batch/upsert, Authorization: Bearer <private
 * app token>, {"inputs":[{"idProperty":"email","id":...,"properties":{...}}]},
 * answered {"results":[{"id":"..."}],...}. */
static void t_hubspot(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char hooks[1024], id[64], path[128];
    rv.answer = "{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"551\",\"properties\":{}}]}";
    rv.fail_first = 1;
    rv.fail_status = 429;
    rv.retry_after = 1;
    recv_start(&rv, 0);
    setenv("LEADD_TEST_HUBSPOT_TOKEN", "pat-na1-secret-token-0123456789", 1);
    snprintf(hooks, sizeof(hooks),
             "[webhook.hubspot]\nformat = hubspot\n"
             "url = http://127.0.0.1:%d/crm/v3/objects/contacts/batch/upsert\n"
             "header.Authorization = Bearer env:LEADD_TEST_HUBSPOT_TOKEN\n"
             "retry_schedule = 100ms 5s\nwhen = qualified\n",
             rv.port);
    start_with(&l, hooks);
    post(&l, HOT, id, sizeof(id));
    assert_true(recv_wait(&rv, 2, 15000)); /* 429, then after Retry-After: 1 s */
    struct delivered d = {&l, id};
    assert_true(h_wait(is_delivered, &d, 10000));
    pthread_mutex_lock(&rv.mu);
    assert_true(rv.reqs[1].at_ms - rv.reqs[0].at_ms >= 900); /* Retry-After honoured */
    for (int i = 0; i < 2; i++) {
        struct recv_req *q = &rv.reqs[i];
        assert_string_equal(q->method, "POST");
        assert_string_equal(q->path, "/crm/v3/objects/contacts/batch/upsert");
        assert_string_equal(q->auth, "Bearer pat-na1-secret-token-0123456789");
        assert_string_equal(q->ctype, "application/json");
        assert_string_equal(q->signature, ""); /* presets are not signed */
        json_t *j = body_json(q);
        char want[128];
        snprintf(want, sizeof(want), "c%d-%d@acme.example", getpid(), seq);
        assert_string_equal(jstr(j, "inputs.0.idProperty"), "email");
        assert_string_equal(jstr(j, "inputs.0.id"), want);
        assert_string_equal(jstr(j, "inputs.0.properties.email"), want);
        assert_string_equal(jstr(j, "inputs.0.properties.firstname"), "Ada");
        assert_string_equal(jstr(j, "inputs.0.properties.lastname"), "King Lovelace");
        assert_string_equal(jstr(j, "inputs.0.properties.company"), "Analytical Engines");
        assert_string_equal(jstr(j, "inputs.0.properties.phone"), "+442079460000");
        json_decref(j);
    }
    pthread_mutex_unlock(&rv.mu);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "GET", path, NULL, &r);
    assert_non_null(strstr(r.body, "\"crm_ids\":{\"hubspot\":\"551\"}"));
    resp_free(&r);
    /* ... and in the CSV export, its last column (JSON, as the API shows it) */
    h_api(&l, "GET", "/v1/leads/export?format=csv&form=contact", NULL, &r);
    assert_int_equal(r.status, 200);
    const char *eol = strstr(r.body, "\r\n");
    assert_non_null(eol);
    assert_int_equal(strncmp(eol - 8, ",crm_ids", 8), 0);
    assert_non_null(strstr(r.body, ",\"{\"\"hubspot\"\":\"\"551\"\"}\"\r\n"));
    resp_free(&r);
    /* The token is in no log line, attempt record or config check. */
    h_api(&l, "GET", "/v1/deliveries", NULL, &r);
    assert_null(strstr(r.body, "secret-token"));
    resp_free(&r);
    char *log = h_log_text(&l);
    assert_null(strstr(log, "secret-token"));
    free(log);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* Salesforce Web-to-Lead: POST https://webto.salesforce.com/servlet/
 * servlet.WebToLead?encoding=UTF-8, application/x-www-form-urlencoded, with
 * the org's oid; last_name and company are required by Salesforce. */
static void t_salesforce(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    char hooks[1024];
    recv_start(&rv, 0);
    setenv("LEADD_TEST_SF_OID", "00D5e000000XyZ1", 1);
    snprintf(hooks, sizeof(hooks),
             "[webhook.sf]\nformat = salesforce\n"
             "url = http://127.0.0.1:%d/servlet/servlet.WebToLead?encoding=UTF-8\n"
             "var.oid = env:LEADD_TEST_SF_OID\nwhen = all\n"
             "[form.bare]\nfield.email = email required\nfield.name = text\n",
             rv.port);
    start_with(&l, hooks);
    post(&l, HOT, NULL, 0);
    struct resp r;
    char bare_body[128];
    snprintf(bare_body, sizeof(bare_body), "{\"email\":\"c%d-%d@acme.example\"}", getpid(), ++seq);
    h_post_json(&l, "bare", bare_body, &r); /* no name, no company */
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_true(recv_wait(&rv, 2, 30000));
    pthread_mutex_lock(&rv.mu);
    /* in the order they arrive */
    int hot = strstr(rv.reqs[0].body, "first_name=Ada") ? 0 : 1, bare = 1 - hot;
    for (int i = 0; i < 2; i++) {
        assert_string_equal(rv.reqs[i].path, "/servlet/servlet.WebToLead?encoding=UTF-8");
        assert_string_equal(rv.reqs[i].ctype, "application/x-www-form-urlencoded");
        assert_non_null(strstr(rv.reqs[i].body, "oid=00D5e000000XyZ1&"));
        assert_non_null(strstr(rv.reqs[i].body, "&email=c"));
    }
    const char *b = rv.reqs[hot].body;
    assert_non_null(strstr(b, "first_name=Ada&last_name=King+Lovelace&"));
    assert_non_null(strstr(b, "&company=Analytical+Engines&phone=%2B442079460000&"));
    assert_non_null(strstr(b, "&lead_source=google&"));
    assert_non_null(strstr(b, "&description=leadd+score+60+%28hot%29%3A+has_company+%2B20"));
    /* The required fields' fallbacks: the email's local part, and a marker. */
    char want[128];
    snprintf(want, sizeof(want), "&last_name=c%d-%d&", getpid(), seq); /* no first_name */
    b = rv.reqs[bare].body;
    if (!strstr(b, want))
        fail_msg("%s: want %s", b, want);
    assert_non_null(strstr(b, "&company=%5Bnot+provided%5D&"));
    assert_non_null(strstr(b, "&lead_source=Web&"));
    pthread_mutex_unlock(&rv.mu);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* Slack incoming webhooks: POST {"text": ...} as application/json
 * (https://api.slack.com/messaging/webhooks). Only hot leads are sent here. */
static void t_slack_hot_only(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char hooks[1024], hot_id[64];
    rv.answer = "ok";
    recv_start(&rv, 0);
    /* public_url names leadd's own address: a port chosen up front */
    int port = free_port();
    snprintf(hooks, sizeof(hooks),
             "[webhook.slack]\nformat = slack\nurl = http://127.0.0.1:%d/services/T0/B0/x\n"
             "when = grade = hot\n",
             rv.port);
    char ini[16384], listen[64], pub[80];
    snprintf(ini, sizeof(ini), "%s[auth]\napi_keys = " H_API_KEY "\n%s", H_BASE_INI, hooks);
    snprintf(listen, sizeof(listen), "server.listen=127.0.0.1:%d", port);
    snprintf(pub, sizeof(pub), "server.public_url=http://127.0.0.1:%d/", port);
    h_start(&l, ini, listen, pub, NULL);
    post(&l, "\"name\":\"Cold Call\"", NULL, 0); /* cold: score 0 */
    post(&l, HOT, hot_id, sizeof(hot_id));
    assert_true(recv_wait(&rv, 1, 10000));
    struct delivered d = {&l, hot_id};
    assert_true(h_wait(is_delivered, &d, 10000));
    assert_int_equal(recv_count(&rv), 1);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries"), 1);
    pthread_mutex_lock(&rv.mu);
    json_t *j = body_json(&rv.reqs[0]);
    const char *text = jstr(j, "text");
    assert_non_null(text);
    assert_non_null(strstr(text, "HOT lead: Ada King Lovelace (Analytical Engines), score 60"));
    assert_non_null(strstr(text, "has_company +20"));
    assert_non_null(strstr(text, "Source: google"));
    char link[160];
    snprintf(link, sizeof(link), "http://127.0.0.1:%d/app/leads/%s", port, hot_id);
    assert_non_null(strstr(text, link));
    json_decref(j);
    pthread_mutex_unlock(&rv.mu);
    /* A visitor's markup reaches the channel as text: no mention of
     * everyone, no link that hides where it goes. */
    char evil_id[64];
    post(&l,
         "\"name\":\"<!channel> URGENT <https://evil.example/login|Open this lead in HubSpot>\","
         "\"company\":\"A & B\",\"budget\":50000,\"phone\":\"+44 20 7946 0000\","
         "\"utm_source\":\"google\"",
         evil_id, sizeof(evil_id));
    assert_true(recv_wait(&rv, 2, 30000));
    pthread_mutex_lock(&rv.mu);
    j = body_json(&rv.reqs[1]);
    text = jstr(j, "text");
    assert_non_null(text);
    assert_non_null(strstr(text, "HOT lead: &lt;!channel&gt; URGENT &lt;https://evil.example/login|"
                                 "Open this lead in HubSpot&gt; (A &amp; B), score"));
    assert_null(strstr(text, "<!"));
    json_decref(j);
    pthread_mutex_unlock(&rv.mu);
    /* The link is the lead's own page (the inbox serves it, issue 12; the
     * lead it names is this one). */
    char path[128];
    snprintf(path, sizeof(path), "/v1/leads/%s", hot_id);
    h_api(&l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* Email through SMTP (RFC 5321): MAIL FROM, RCPT TO per recipient, DATA. */
static void t_email(void **state)
{
    (void)state;
    struct smtp s;
    struct leadd l;
    char hooks[1024];
    smtp_start(&s);
    snprintf(hooks, sizeof(hooks),
             "[webhook.mail]\nformat = email\nurl = smtp://127.0.0.1:%d\nsmtp_tls = off\n"
             "mail_from = leads@example.com\nmail_to = ann@example.com bob@example.com\n"
             "when = grade = hot\n",
             s.port);
    start_with(&l, hooks);
    post(&l,
         "\"name\":\"Zoë Müller\",\"company\":\"Acme\",\"budget\":50000,\"utm_source\":\"bing\","
         "\"message\":\".a line that starts with a dot\"",
         NULL, 0);
    assert_true(smtp_wait(&s, 1, 15000));
    pthread_mutex_lock(&s.mu);
    struct smtp_msg *m = &s.msgs[0];
    assert_string_equal(m->from, "<leads@example.com>");
    assert_int_equal(m->nrcpt, 2);
    assert_string_equal(m->rcpt[0], "<ann@example.com>");
    assert_string_equal(m->rcpt[1], "<bob@example.com>");
    /* The subject is not ASCII: RFC 2047 encoded. base64 of
     * "Hot lead: Zoë Müller (Acme), score 60" */
    assert_non_null(strstr(
        m->data, "Subject: =?UTF-8?B?SG90IGxlYWQ6IFpvw6sgTcO8bGxlciAoQWNtZSksIHNjb3JlIDYw?="));
    assert_non_null(strstr(m->data, "From: <leads@example.com>\r\n"));
    assert_non_null(strstr(m->data, "To: <ann@example.com>, <bob@example.com>\r\n"));
    assert_non_null(strstr(m->data, "Content-Type: text/plain; charset=utf-8\r\n"));
    assert_non_null(strstr(m->data, "name: Zoë Müller\r\n"));
    assert_non_null(strstr(m->data, "company: Acme\r\n"));
    assert_non_null(strstr(m->data, "message: .a line that starts with a dot\r\n"));
    assert_non_null(strstr(m->data, "Score 60: has_company +20, big_budget +30, paid_search +10"));
    assert_non_null(strstr(m->data, "Source:   bing / - / -\r\n"));
    pthread_mutex_unlock(&s.mu);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    smtp_stop(&s);
}

/* A user's template: typed values, interpolation, absent values left out,
 * filters; then the same as a form. */
static void t_template(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    char hooks[2048], tpl[400], ftpl[400];
    recv_start(&rv, 0);
    h_start(&l, H_BASE_INI, NULL); /* for its temp dir */
    h_write_file(&l, "pipedrive.json",
                 "{\"title\": \"{{fields.company}} - {{fields.name | upper}}\",\n"
                 " \"value\": \"{{fields.budget}}\", \"hot\": \"{{qualified}}\",\n"
                 " \"phone\": \"{{fields.phone}}\", \"why\": \"{{score_reasons}}\",\n"
                 " \"org\": \"{{var.org}}\", \"src\": \"{{attribution.utm_campaign | "
                 "default:\\\"none\\\"}}\"}\n",
                 tpl, sizeof(tpl));
    h_write_file(&l, "form.json",
                 "{\"who\": \"{{fields.name | last_name}}\", \"score\": \"{{score}}\"}", ftpl,
                 sizeof(ftpl));
    assert_int_equal(h_stop(&l), 0);
    snprintf(hooks, sizeof(hooks),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "[webhook.pd]\nformat = template\ntemplate = %s\nurl = http://127.0.0.1:%d/pd\n"
             "var.org = 42\nsign = false\n"
             "[webhook.pdform]\nformat = template\ntemplate = %s\ncontent_type = form\n"
             "url = http://127.0.0.1:%d/pdform\nsecret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
             H_BASE_INI, tpl, rv.port, ftpl, rv.port);
    h_write_file(&l, "leadd.ini", hooks, l.cfg, sizeof(l.cfg));
    h_restart(&l);
    post(&l, "\"name\":\"Ada Lovelace\",\"company\":\"Acme\",\"budget\":50000", NULL, 0);
    assert_true(recv_wait(&rv, 2, 30000));
    pthread_mutex_lock(&rv.mu);
    for (int i = 0; i < 2; i++) {
        struct recv_req *q = &rv.reqs[i];
        if (!strcmp(q->path, "/pd")) {
            assert_string_equal(q->ctype, "application/json");
            assert_string_equal(q->signature, "");
            assert_string_equal(q->body,
                                "{\"title\":\"Acme - ADA LOVELACE\",\"value\":50000,\"hot\":true,"
                                "\"why\":[{\"rule\":\"has_company\",\"points\":20},{\"rule\":"
                                "\"big_budget\",\"points\":30}],\"org\":\"42\",\"src\":\"none\"}");
        } else {
            assert_string_equal(q->path, "/pdform");
            assert_string_equal(q->ctype, "application/x-www-form-urlencoded");
            assert_string_equal(q->body, "who=Lovelace&score=50");
            assert_int_equal(strncmp(q->signature, "v1,", 3), 0); /* template: signed */
        }
    }
    pthread_mutex_unlock(&rv.mu);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* rate_limit = 3/2s: never more than 3 requests in any 2 s, none lost. */
static void t_rate_limit(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    char hooks[1024];
    recv_start(&rv, 0);
    snprintf(hooks, sizeof(hooks),
             "[webhook.slow]\nformat = slack\nurl = http://127.0.0.1:%d/\nrate_limit = 3/2s\n",
             rv.port);
    start_with(&l, hooks);
    for (int i = 0; i < 7; i++)
        post(&l, HOT, NULL, 0);
    assert_true(recv_wait(&rv, 7, 20000));
    assert_int_equal(recv_count(&rv), 7);
    assert_true(
        h_wait_count(&l, "SELECT count(*) FROM delivery_attempts", 7, 10000)); /* once each */
    /* The promise is about starts: never a 4th within 2 s of a 3rd before
     * it. Each attempt is recorded at the time the limit granted it (when
     * it arrives depends on the machine's load, not on leadd). */
    long long at[7];
    for (int i = 0; i < 7; i++) {
        char text[64];
        struct tm tm = {0};
        int ms = 0;
        h_sql_text(&l, text, sizeof(text),
                   "SELECT at FROM delivery_attempts ORDER BY at LIMIT 1 OFFSET %d", i);
        assert_int_equal(sscanf(text, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                                &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                         7);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        at[i] = (long long)timegm(&tm) * 1000 + ms;
    }
    for (int i = 3; i < 7; i++) {
        if (at[i] - at[i - 3] < 2000)
            fail_msg("attempts %d and %d started only %lld ms apart", i - 3, i, at[i] - at[i - 3]);
    }
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* when = status = contacted: nothing at intake; the PATCH that sets it
 * queues the delivery, once however often it is set. */
static void t_status_change_routes_once(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char hooks[1024], id[64], path[128];
    recv_start(&rv, 0);
    snprintf(hooks, sizeof(hooks),
             "[webhook.sales]\nformat = slack\nurl = http://127.0.0.1:%d/\n"
             "when = status = contacted and grade in hot warm\n",
             rv.port);
    start_with(&l, hooks);
    post(&l, HOT, id, sizeof(id));
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries"), 0);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    for (int i = 0; i < 2; i++) {
        h_api(&l, "PATCH", path, "{\"status\":\"contacted\"}", &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    assert_true(recv_wait(&rv, 1, 10000));
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE lead_id = %Q", id), 1);
    struct delivered d = {&l, id};
    assert_true(h_wait(is_delivered, &d, 10000));
    assert_int_equal(recv_count(&rv), 1);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* A bad template, an unset env variable or an unknown `when` field stops
 * the start, with the file and line; check-config says the same. */
static void t_bad_targets_refused_at_start(void **state)
{
    (void)state;
    struct leadd l;
    char tpl[400], ini[8192], cmd[1200];
    h_start(&l, H_BASE_INI, NULL);
    h_write_file(&l, "bad.json", "{\n  \"a\": \"{{fields.name | shout}}\"\n}\n", tpl, sizeof(tpl));
    assert_int_equal(h_stop(&l), 0);
    static const struct {
        const char *hook, *want;
    } rows[] = {
        {"format = template\ntemplate = ", "bad.json:2: unknown filter 'shout'"},
        {"format = hubspot\nheader.Authorization = Bearer env:LEADD_TEST_UNSET_VAR\n",
         "environment variable 'LEADD_TEST_UNSET_VAR' is not set"},
        {"format = slack\nurl = http://127.0.0.1:9/\nwhen = colour = red\n",
         "when: 'colour' is not a field of its forms"},
        {"format = salesforce\n", "'var.oid' names no var.oid line"},
        {"format = email\nurl = http://127.0.0.1:9/\n", "needs an smtp:// or smtps:// url"},
        {"url = http://127.0.0.1:9/\n", "has no secret"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char hook[512];
        /* the first row names the template file */
        snprintf(hook, sizeof(hook), "%s%s%s", rows[i].hook, i ? "" : tpl, i ? "" : "\n");
        snprintf(ini, sizeof(ini), "%s[webhook.t]\n%s", H_BASE_INI, hook);
        h_write_file(&l, "bad.ini", ini, l.cfg, sizeof(l.cfg));
        snprintf(cmd, sizeof(cmd), "%s check-config -c %s 2>&1", getenv("LEADD_BIN"), l.cfg);
        FILE *p = popen(cmd, "r");
        char out[4096] = "";
        size_t n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = '\0';
        int st = pclose(p);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 1 || !strstr(out, rows[i].want))
            fail_msg("row %zu: exit %d, '%s', want '%s'", i, WEXITSTATUS(st), out, rows[i].want);
        snprintf(cmd, sizeof(cmd), "%s serve -c %s >/dev/null 2>&1", getenv("LEADD_BIN"), l.cfg);
        st = system(cmd);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    }
    h_cleanup(&l);
}

/* What the team qualifies on reaches the CRM under its own names
 * (map.NAME = PROPERTY), in the HubSpot upsert and in HubSpot's Forms API
 * (https://developers.hubspot.com/docs/api/marketing/forms: {"fields":
 * [{objectTypeId, name, value}], "context": {hutk, pageUri, pageName,
 * ipAddress}}), whose context carries the visitor's hubspotutk cookie, the
 * landing page, the page's name and address, so HubSpot's own attribution
 * works; a field with no value is left out. */
static void t_field_map_and_forms_context(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    char hooks[2048];
    rv.answer = "{\"results\":[{\"id\":\"551\"}],\"inlineMessage\":\"Thanks\"}";
    recv_start(&rv, 0);
    snprintf(
        hooks, sizeof(hooks),
        "[webhook.hs]\nformat = hubspot\nurl = http://127.0.0.1:%d/upsert\n"
        "map.budget = annual_budget\nmap.message = message\nmap.utm_campaign = leadd_campaign\n"
        "map.score = leadd_score\nmap.landing_page = leadd_landing_page\n"
        "[webhook.hsf]\nformat = hubspot_forms\n"
        "url = http://127.0.0.1:%d/submissions/v3/integration/secure/submit/62515/f-guid\n"
        "map.budget = annual_budget\nmap.grade = leadd_grade\n",
        rv.port, rv.port);
    start_with(&l, hooks);
    post(&l,
         "\"name\":\"Ada King Lovelace\",\"company\":\"Analytical Engines\",\"budget\":50000,"
         "\"message\":\"Call me\",\"utm_source\":\"google\",\"utm_campaign\":\"spring\","
         "\"hutk\":\"0123456789abcdef0123456789abcdef\","
         "\"landing_page\":\"https://www.example.com/demo?utm_source=google\"",
         NULL, 0);
    assert_true(recv_wait(&rv, 2, 30000));
    pthread_mutex_lock(&rv.mu);
    for (int i = 0; i < 2; i++) {
        struct recv_req *q = &rv.reqs[i];
        json_t *j = body_json(q);
        if (!strcmp(q->path, "/upsert")) {
            json_t *p =
                json_object_get(json_array_get(json_object_get(j, "inputs"), 0), "properties");
            assert_int_equal(json_integer_value(json_object_get(p, "annual_budget")), 50000);
            assert_string_equal(json_string_value(json_object_get(p, "message")), "Call me");
            assert_string_equal(json_string_value(json_object_get(p, "leadd_campaign")), "spring");
            assert_int_equal(json_integer_value(json_object_get(p, "leadd_score")), 60);
            assert_string_equal(json_string_value(json_object_get(p, "leadd_landing_page")),
                                "https://www.example.com/demo?utm_source=google");
            assert_string_equal(json_string_value(json_object_get(p, "company")),
                                "Analytical Engines");
        } else {
            assert_string_equal(q->path, "/submissions/v3/integration/secure/submit/62515/f-guid");
            json_t *fs = json_object_get(j, "fields"), *x;
            size_t k;
            char seen[512] = "";
            json_array_foreach(fs, k, x)
            {
                assert_string_equal(json_string_value(json_object_get(x, "objectTypeId")), "0-1");
                snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s ",
                         json_string_value(json_object_get(x, "name")));
                if (!strcmp(json_string_value(json_object_get(x, "name")), "firstname"))
                    assert_string_equal(json_string_value(json_object_get(x, "value")), "Ada");
                if (!strcmp(json_string_value(json_object_get(x, "name")), "leadd_grade"))
                    assert_string_equal(json_string_value(json_object_get(x, "value")), "hot");
            }
            /* no phone was given: no phone field */
            assert_string_equal(seen,
                                "email firstname lastname company annual_budget leadd_grade ");
            json_t *c = json_object_get(j, "context");
            assert_string_equal(json_string_value(json_object_get(c, "hutk")),
                                "0123456789abcdef0123456789abcdef");
            assert_string_equal(json_string_value(json_object_get(c, "pageUri")),
                                "https://www.example.com/demo?utm_source=google");
            assert_string_equal(json_string_value(json_object_get(c, "pageName")), "contact");
            assert_string_equal(json_string_value(json_object_get(c, "ipAddress")), "127.0.0.1");
            assert_string_equal(q->signature, ""); /* a preset: HubSpot's own auth */
        }
        json_decref(j);
    }
    pthread_mutex_unlock(&rv.mu);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);

    /* a map naming nothing the forms have, or on a target it does not fit */
    char ini[8192], cmd[1200], out[4096];
    h_start(&l, H_BASE_INI, NULL);
    assert_int_equal(h_stop(&l), 0);
    snprintf(ini, sizeof(ini),
             "%s[webhook.hs]\nformat = hubspot\nmap.teamsize = team_size__c\n"
             "[webhook.sl]\nformat = slack\nurl = http://127.0.0.1:9/\nmap.budget = b\n"
             "[webhook.hf]\nformat = hubspot_forms\nmap.budget = bad property!\n",
             H_BASE_INI);
    h_write_file(&l, "bad.ini", ini, l.cfg, sizeof(l.cfg));
    snprintf(cmd, sizeof(cmd), "%s check-config -c %s 2>&1", getenv("LEADD_BIN"), l.cfg);
    assert_int_not_equal(h_run(out, sizeof(out), "%s", cmd), 0);
    if (!strstr(out, "map.teamsize: 'teamsize' is not a field of its forms") ||
        !strstr(out, "[webhook.sl] map.NAME is for the hubspot") ||
        !strstr(out, "map.budget: expected map.NAME = PROPERTY") ||
        !strstr(out, "format = hubspot_forms needs url"))
        fail_msg("check-config said: %s", out);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_hubspot),
        cmocka_unit_test(t_field_map_and_forms_context),
        cmocka_unit_test(t_salesforce),
        cmocka_unit_test(t_slack_hot_only),
        cmocka_unit_test(t_email),
        cmocka_unit_test(t_template),
        cmocka_unit_test(t_rate_limit),
        cmocka_unit_test(t_status_change_routes_once),
        cmocka_unit_test(t_bad_targets_refused_at_start),
    };
    return h_run_group_tests_name("crm", tests, NULL, NULL);
}
