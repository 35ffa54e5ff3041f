/* itest_inbound.c: outcomes coming back from the CRM (POST /v1/inbound/NAME),
 * from senders that sign as each vendor documents:
 * - HubSpot webhooks, X-HubSpot-Signature-v3: base64 HMAC-SHA256 with the
 *   app's client secret over method + URI + body + X-HubSpot-Request-Timestamp
 *   (ms), refused when older than 5 minutes
 *   (https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests);
 *   the body an array of {eventId, subscriptionType, objectId, propertyName,
 *   propertyValue, occurredAt};
 * - Pipedrive webhooks v2 (https://pipedrive.readme.io/docs/guide-for-webhooks-v2):
 *   HTTP basic auth, {"meta":{"action","entity","id","entity_id"},"data":{...},
 *   "previous":{...}};
 * - Standard Webhooks (https://www.standardwebhooks.com/): webhook-id,
 *   webhook-timestamp (s), webhook-signature "v1,<base64 HMAC of id.ts.body>".
 * Each checks the lead's status, value and history, the stats' revenue and
 * cost per sale, replays, stale or wrong signatures, and unknown records and
 * stages answered without a change. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "harness.h"
#include "leadd/crypto.h"
#include "receiver.h"

#define HS_SECRET "hubspot-client-secret-5f1e"
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define PUBLIC_URL "https://leads.example.com"

static int seq;

/* Signatures carry wall-clock times (h_now_ms is monotonic). */
static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A hot, qualified lead from google; its id into id. */
static void post(struct leadd *l, char *id, size_t cap, char *email, size_t ecap)
{
    char body[1024];
    struct resp r;
    snprintf(email, ecap, "buyer%d-%d@acme.example", getpid(), ++seq);
    snprintf(body, sizeof(body),
             "{\"email\":\"%s\",\"name\":\"Ada Lovelace\",\"company\":\"Engines\","
             "\"budget\":50000,\"utm_source\":\"google\",\"consent\":true,\"_elapsed_ms\":9000}",
             email);
    h_post_json(l, "contact", body, &r);
    if (r.status != 201)
        fail_msg("post: %ld %s", r.status, r.body);
    assert_true(h_json_str(r.body, "id", id, cap));
    resp_free(&r);
}

/* The lead's status and value as the API shows them. */
static void lead_is(struct leadd *l, const char *id, const char *status, const char *value,
                    const char *currency)
{
    char path[128];
    struct resp r;
    json_error_t je;
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), status);
    if (value) {
        assert_string_equal(json_string_value(json_object_get(j, "value")), value);
        assert_string_equal(json_string_value(json_object_get(j, "currency")), currency);
    } else {
        assert_true(json_is_null(json_object_get(j, "value")));
    }
    json_decref(j);
    resp_free(&r);
}

static long long history_by(struct leadd *l, const char *id, const char *actor)
{
    return h_sql_int(l, "SELECT count(*) FROM lead_history WHERE lead_id = '%s' AND actor = '%s'",
                     id, actor);
}

/* One figure of the stats' google row for today, as text ("" for null). */
static void google_figure(struct leadd *l, const char *name, char *out, size_t cap)
{
    struct resp r;
    json_error_t je;
    h_api(l, "GET", "/v1/stats?group_by=utm_source", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, &je), *data = json_object_get(j, "data");
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *row = json_array_get(data, i);
        if (!strcmp(json_string_value(json_object_get(row, "key")), "google"))
            snprintf(out, cap, "%s", json_string_value(json_object_get(row, name)) ?: "");
    }
    json_decref(j);
    resp_free(&r);
}

/* POST a HubSpot-signed body: ts_ms 0 is now; secret NULL is the right one. */
static void hubspot_send(struct leadd *l, const char *body, long long ts_ms, const char *secret,
                         struct resp *out)
{
    char ts[32], uri[256], sig_h[128], ts_h[64], path[64];
    unsigned char mac[SHA256_LEN];
    char b64[CRYPTO_BASE64_LEN(SHA256_LEN)];
    snprintf(ts, sizeof(ts), "%llu", (unsigned long long)(ts_ms ? ts_ms : wall_ms()));
    snprintf(path, sizeof(path), "/v1/inbound/hubspot");
    snprintf(uri, sizeof(uri), PUBLIC_URL "%s", path);
    const char *key = secret ? secret : HS_SECRET;
    const void *parts[] = {"POST", uri, body, ts};
    const size_t lens[] = {4, strlen(uri), strlen(body), strlen(ts)};
    assert_int_equal(crypto_hmac_sha256(key, strlen(key), parts, lens, 4, mac), 0);
    crypto_base64(mac, sizeof(mac), b64);
    snprintf(sig_h, sizeof(sig_h), "X-HubSpot-Signature-v3: %s", b64);
    snprintf(ts_h, sizeof(ts_h), "X-HubSpot-Request-Timestamp: %s", ts);
    h_req(l, "POST", path, body, out, "Content-Type: application/json", sig_h, ts_h, NULL);
}

static void answer_has(const struct resp *r, const char *part)
{
    if (!strstr(r->body, part))
        fail_msg("%ld %s: no %s", r->status, r->body, part);
}

/* A HubSpot target keeps contact 551 for the lead; deal-stage and amount
 * events about 551 convert it with its value, once, as "hubspot". */
static void t_hubspot(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char ini[8192], id[64], email[128], body[1024], v[64];
    rv.answer = "{\"status\":\"COMPLETE\",\"results\":[{\"id\":\"551\"}]}";
    recv_start(&rv, 0);
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "[webhook.hubspot]\nformat = hubspot\nurl = http://127.0.0.1:%d/upsert\n"
             "header.Authorization = Bearer pat-x\n"
             "[inbound.hubspot]\nkind = hubspot\nsecret = " HS_SECRET "\n"
             "stage.closedwon = converted\nstage.closedlost = rejected\ncurrency = EUR\n",
             H_BASE_INI, rv.port);
    h_start(&l, ini, "server.public_url=" PUBLIC_URL, "server.currency=EUR", NULL);
    post(&l, id, sizeof(id), email, sizeof(email));
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM crm_records WHERE lead_id = '%s'", id);
    assert_true(h_wait_count(&l, sql, 1, 30000)); /* delivered: 551 kept */

    /* the sale, in two events of one request, as HubSpot batches them */
    snprintf(body, sizeof(body),
             "[{\"eventId\":1001,\"subscriptionId\":7,\"portalId\":62515,\"occurredAt\":%lld,"
             "\"subscriptionType\":\"deal.propertyChange\",\"attemptNumber\":0,\"objectId\":551,"
             "\"changeSource\":\"CRM\",\"propertyName\":\"dealstage\","
             "\"propertyValue\":\"closedwon\"},"
             "{\"eventId\":1002,\"subscriptionId\":8,\"portalId\":62515,\"occurredAt\":%lld,"
             "\"subscriptionType\":\"deal.propertyChange\",\"attemptNumber\":0,\"objectId\":551,"
             "\"changeSource\":\"CRM\",\"propertyName\":\"amount\",\"propertyValue\":\"1200.5\"}]",
             wall_ms(), wall_ms());
    hubspot_send(&l, body, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"events\":2,\"applied\":2,\"replayed\":0");
    resp_free(&r);
    lead_is(&l, id, "converted", "1200.50", "EUR");
    assert_int_equal(history_by(&l, id, "hubspot"), 2);
    google_figure(&l, "revenue", v, sizeof(v));
    assert_string_equal(v, "1200.50");

    /* HubSpot retries the same events (a new timestamp, signed again):
     * nothing changes */
    hubspot_send(&l, body, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"applied\":0,\"replayed\":2");
    resp_free(&r);
    assert_int_equal(history_by(&l, id, "hubspot"), 2);

    /* stale, wrong secret, tampered: 401, nothing changes */
    const char *lost = "[{\"eventId\":1003,\"objectId\":551,\"propertyName\":\"dealstage\","
                       "\"propertyValue\":\"closedlost\",\"subscriptionType\":"
                       "\"deal.propertyChange\"}]";
    hubspot_send(&l, lost, wall_ms() - 6 * 60 * 1000, NULL, &r);
    assert_int_equal(r.status, 401);
    answer_has(&r, "inbound-unverified");
    resp_free(&r);
    hubspot_send(&l, lost, 0, "not-the-secret", &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    h_req(&l, "POST", "/v1/inbound/hubspot", lost, &r, "Content-Type: application/json", NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    lead_is(&l, id, "converted", "1200.50", "EUR");

    /* a record of no lead, a stage with no mapping, a property not read:
     * answered and counted, never an error */
    hubspot_send(&l,
                 "[{\"eventId\":2001,\"objectId\":999,\"propertyName\":\"dealstage\","
                 "\"propertyValue\":\"closedwon\"},"
                 "{\"eventId\":2002,\"objectId\":551,\"propertyName\":\"dealstage\","
                 "\"propertyValue\":\"appointmentscheduled\"},"
                 "{\"eventId\":2003,\"objectId\":551,\"propertyName\":\"hs_priority\","
                 "\"propertyValue\":\"high\"}]",
                 0, NULL, &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"events\":3,\"applied\":0,\"replayed\":0,\"unknown_records\":1,"
                   "\"unknown_stages\":1,\"ignored\":1");
    resp_free(&r);
    lead_is(&l, id, "converted", "1200.50", "EUR");

    /* a signed body that is not HubSpot's shape */
    hubspot_send(&l, "{\"eventId\":1}", 0, NULL, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    h_req(&l, "POST", "/v1/inbound/nosuch", "[]", &r, "Content-Type: application/json", NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);

    /* lost after all: rejected, revenue gone from the report */
    hubspot_send(&l, lost, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"applied\":1");
    resp_free(&r);
    lead_is(&l, id, "rejected", "1200.50", "EUR");
    google_figure(&l, "revenue", v, sizeof(v));
    assert_string_equal(v, "0.00");

    /* erased: no event finds the person again */
    char path[128];
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM crm_records WHERE lead_id = '%s'", id), 0);
    hubspot_send(&l,
                 "[{\"eventId\":3001,\"objectId\":551,\"propertyName\":\"dealstage\","
                 "\"propertyValue\":\"closedwon\"}]",
                 0, NULL, &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"unknown_records\":1");
    resp_free(&r);
    char *log = h_log_text(&l);
    assert_null(strstr(log, email)); /* no address in the log */
    assert_null(strstr(log, HS_SECRET));
    free(log);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

static void pipedrive_send(struct leadd *l, const char *auth, const char *body, struct resp *out)
{
    char h[256];
    char b64[CRYPTO_BASE64_LEN(128)];
    crypto_base64((const unsigned char *)auth, strlen(auth), b64);
    snprintf(h, sizeof(h), "Authorization: Basic %s", b64);
    h_req(l, "POST", "/v1/inbound/pipedrive", body, out, "Content-Type: application/json", h, NULL);
}

/* A Pipedrive template target made deal 77; the deal won with its value
 * converts the lead and moves the cost per sale; a wrong password is 401. */
static void t_pipedrive(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char ini[8192], id[64], email[128], tpl[512], body[2048], v[64];
    rv.answer = "{\"success\":true,\"data\":{\"id\":77,\"title\":\"Engines deal\"}}";
    recv_start(&rv, 0);
    h_start(&l, H_BASE_INI, "server.currency=EUR", NULL); /* for its temp dir */
    h_write_file(&l, "deal.json",
                 "{\"title\":\"{{fields.company}}\",\"value\":\"{{fields.budget}}\"}", tpl,
                 sizeof(tpl));
    assert_int_equal(h_stop(&l), 0);
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "[webhook.pipedrive]\nformat = template\ntemplate = %s\n"
             "url = http://127.0.0.1:%d/v1/deals\nresponse_id = data.id\nsign = false\n"
             "[inbound.pipedrive]\nkind = pipedrive\nuser = leadd\npassword = env:LEADD_TEST_PD\n"
             "stage.won = converted\nstage.lost = rejected\nstage.3 = contacted\n",
             H_BASE_INI, tpl, rv.port);
    setenv("LEADD_TEST_PD", "pd-hook-password", 1);
    h_write_file(&l, "leadd.ini", ini, l.cfg, sizeof(l.cfg));
    h_restart(&l);
    post(&l, id, sizeof(id), email, sizeof(email));
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM crm_records WHERE lead_id = '%s' AND crm_id = '77'", id);
    assert_true(h_wait_count(&l, sql, 1, 30000));
    struct resp sp;
    char spend[256], today[16];
    h_sql_text(&l, today, sizeof(today),
               "SELECT substr(created_at, 1, 10) FROM leads WHERE id = '%s'", id);
    snprintf(spend, sizeof(spend),
             "[{\"date\":\"%s\",\"utm_source\":\"google\",\"amount\":\"300.00\"}]", today);
    h_api(&l, "PUT", "/v1/spend", spend, &sp);
    assert_int_equal(sp.status, 200);
    resp_free(&sp);
    google_figure(&l, "cost_per_sale", v, sizeof(v));
    assert_string_equal(v, ""); /* no sale yet: null */

    /* moved to stage 3 (status still open): contacted */
    pipedrive_send(&l, "leadd:pd-hook-password",
                   "{\"meta\":{\"action\":\"change\",\"entity\":\"deal\",\"entity_id\":\"77\","
                   "\"id\":\"8c8d2d3a-1\",\"version\":\"2.0\",\"change_source\":\"app\"},"
                   "\"data\":{\"id\":77,\"status\":\"open\",\"stage_id\":3,\"value\":4000,"
                   "\"currency\":\"EUR\"},\"previous\":{\"stage_id\":1}}",
                   &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"applied\":1");
    resp_free(&r);
    lead_is(&l, id, "contacted", NULL, NULL); /* the value did not change: not set */

    /* won, with its value */
    snprintf(body, sizeof(body),
             "{\"meta\":{\"action\":\"change\",\"entity\":\"deal\",\"entity_id\":\"77\","
             "\"id\":\"8c8d2d3a-2\",\"version\":\"2.0\"},"
             "\"data\":{\"id\":77,\"status\":\"won\",\"stage_id\":3,\"value\":5250.5,"
             "\"currency\":\"EUR\"},\"previous\":{\"status\":\"open\",\"value\":4000}}");
    pipedrive_send(&l, "leadd:wrong", body, &r);
    assert_int_equal(r.status, 401);
    char h[128];
    assert_non_null(h_header(&r, "www-authenticate", h, sizeof(h)));
    resp_free(&r);
    lead_is(&l, id, "contacted", NULL, NULL);
    pipedrive_send(&l, "leadd:pd-hook-password", body, &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"applied\":1");
    resp_free(&r);
    lead_is(&l, id, "converted", "5250.50", "EUR");
    google_figure(&l, "cost_per_sale", v, sizeof(v));
    assert_string_equal(v, "300.00");
    google_figure(&l, "revenue", v, sizeof(v));
    assert_string_equal(v, "5250.50");
    assert_int_equal(history_by(&l, id, "pipedrive"), 2);
    /* the same event again (Pipedrive's retry): once */
    pipedrive_send(&l, "leadd:pd-hook-password", body, &r);
    answer_has(&r, "\"replayed\":1");
    resp_free(&r);
    assert_int_equal(history_by(&l, id, "pipedrive"), 2);
    /* a person, not a deal: ignored */
    pipedrive_send(&l, "leadd:pd-hook-password",
                   "{\"meta\":{\"action\":\"change\",\"entity\":\"person\",\"id\":\"p1\"},"
                   "\"data\":{\"id\":5}}",
                   &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"events\":0");
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

static void standard_send(struct leadd *l, const char *msg_id, long long ts_s, const char *body,
                          struct resp *out)
{
    h_post_signed(l, "/v1/inbound/zapier", SW_SECRET, msg_id, ts_s, body, out);
}

/* A generic signed source (a Salesforce flow through Zapier): no CRM id
 * kept, so the lead is found by its address. */
static void t_standard(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char ini[4096], id[64], email[128], body[1024];
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "[inbound.zapier]\nkind = standard\nsecret = " SW_SECRET "\n"
             "stage.closed_won = converted\n",
             H_BASE_INI);
    h_start(&l, ini, "server.currency=EUR", NULL);
    post(&l, id, sizeof(id), email, sizeof(email));
    snprintf(body, sizeof(body),
             "{\"type\":\"opportunity.updated\",\"timestamp\":\"2026-12-07T10:00:00Z\","
             "\"data\":{\"record_id\":\"0065g00000XyZ\",\"email\":\"%s\",\"stage\":\"Closed_Won\","
             "\"amount\":\"300.00\",\"currency\":\"USD\"}}",
             email);
    standard_send(&l, "msg_2a", wall_ms() / 1000 - 600, body, &r); /* stale */
    assert_int_equal(r.status, 401);
    resp_free(&r);
    standard_send(&l, "msg_2a", 0, body, &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"applied\":1");
    resp_free(&r);
    lead_is(&l, id, "converted", "300.00", "USD");
    assert_int_equal(history_by(&l, id, "zapier"), 1);
    standard_send(&l, "msg_2a", 0, body, &r);
    answer_has(&r, "\"replayed\":1");
    resp_free(&r);
    /* another body under the first one's signature: refused */
    char sig_body[1024];
    snprintf(sig_body, sizeof(sig_body), "%s", body);
    sig_body[strlen(sig_body) - 3] = 'X';
    h_req(&l, "POST", "/v1/inbound/zapier", sig_body, &r, "Content-Type: application/json",
          "webhook-id: msg_2b", "webhook-timestamp: 1", "webhook-signature: v1,AAAA", NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* an address of no lead */
    standard_send(&l, "msg_2c", 0,
                  "{\"data\":{\"email\":\"nobody@nowhere.example\",\"stage\":\"closed_won\"}}", &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"unknown_records\":1");
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

/* How many requests of a method to a path the receiver has had. */
static int requests_to(struct receiver *rv, const char *method, const char *path)
{
    int n = 0;
    pthread_mutex_lock(&rv->mu);
    for (int i = 0; i < rv->n; i++)
        n += !strcmp(rv->reqs[i].method, method) && !strcmp(rv->reqs[i].path, path);
    pthread_mutex_unlock(&rv->mu);
    return n;
}

/* The body of the last request of a method to a path (copied into out). */
static void last_body(struct receiver *rv, const char *method, const char *path, char *out,
                      size_t cap)
{
    out[0] = '\0';
    pthread_mutex_lock(&rv->mu);
    for (int i = 0; i < rv->n; i++)
        if (!strcmp(rv->reqs[i].method, method) && !strcmp(rv->reqs[i].path, path))
            snprintf(out, cap, "%s", rv->reqs[i].body ? rv->reqs[i].body : "");
    pthread_mutex_unlock(&rv->mu);
}

/* Changes go out: a rep's change updates the records both targets made
 * (HubSpot's contact by PATCH, a standard target's record with a signed
 * lead.updated); a change that came from HubSpot updates the other target
 * and is not echoed back to HubSpot. */
static void t_updates_out_without_echo(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char ini[8192], id[64], email[128], path[128], body[4096];
    rv.answer = "{\"id\":\"r-9\",\"results\":[{\"id\":\"551\"}]}";
    recv_start(&rv, 0);
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\nuser.ann = sales ann-sales-key-0123456789\n"
             "[webhook.hubspot]\nformat = hubspot\nurl = http://127.0.0.1:%d/upsert\n"
             "update_url = http://127.0.0.1:%d/crm/v3/objects/contacts/{id}\n"
             "[webhook.books]\nurl = http://127.0.0.1:%d/records\nresponse_id = id\n"
             "update_url = http://127.0.0.1:%d/records/{id}\nupdate_method = PUT\n"
             "secret = " SW_SECRET "\n"
             "[inbound.hubspot]\nkind = hubspot\nsecret = " HS_SECRET "\n"
             "stage.closedwon = converted\n",
             H_BASE_INI, rv.port, rv.port, rv.port, rv.port);
    h_start(&l, ini, "server.public_url=" PUBLIC_URL, NULL);
    post(&l, id, sizeof(id), email, sizeof(email));
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM crm_records WHERE lead_id = '%s'", id);
    assert_true(h_wait_count(&l, sql, 2, 30000));
    /* both ids kept on the lead, though two nodes may record them at once */
    char ids[256];
    h_sql_text(&l, ids, sizeof(ids), "SELECT crm_ids FROM leads WHERE id = '%s'", id);
    assert_non_null(strstr(ids, "\"hubspot\":\"551\""));
    assert_non_null(strstr(ids, "\"books\":\"r-9\""));

    /* a rep works the lead: both records hear of it */
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_req(&l, "PATCH", path, "{\"status\":\"contacted\",\"value\":\"800.00\"}", &r,
          "Authorization: Bearer ann-sales-key-0123456789", "Content-Type: application/json", NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    if (!recv_wait(&rv, 4, 30000)) {
        char d[2048];
        h_sql_text(&l, d, sizeof(d),
                   "SELECT group_concat(webhook || ' ' || event || ' ' || state || ' ' || attempts)"
                   " FROM deliveries");
        fail_msg("%d requests; deliveries: %s", recv_count(&rv), d);
    }
    assert_int_equal(requests_to(&rv, "PATCH", "/crm/v3/objects/contacts/551"), 1);
    assert_int_equal(requests_to(&rv, "PUT", "/records/r-9"), 1);
    last_body(&rv, "PATCH", "/crm/v3/objects/contacts/551", body, sizeof(body));
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    assert_non_null(j);
    json_t *props = json_object_get(j, "properties");
    assert_string_equal(json_string_value(json_object_get(props, "leadd_status")), "contacted");
    assert_string_equal(json_string_value(json_object_get(props, "leadd_deal_value")), "800.00");
    assert_true(json_is_integer(json_object_get(props, "leadd_score")));
    json_decref(j);
    last_body(&rv, "PUT", "/records/r-9", body, sizeof(body));
    assert_non_null(strstr(body, "{\"type\":\"lead.updated\""));
    assert_non_null(strstr(body, "\"status\":\"contacted\""));
    pthread_mutex_lock(&rv.mu);
    for (int i = 0; i < rv.n; i++)
        if (!strcmp(rv.reqs[i].path, "/records/r-9"))
            assert_true(rv.reqs[i].signature[0] != '\0'); /* signed as its target signs */
    pthread_mutex_unlock(&rv.mu);
    /* the update answered with another id does not replace the record's */
    assert_int_equal(h_sql_int(&l,
                               "SELECT count(*) FROM crm_records WHERE lead_id = '%s'"
                               " AND crm_id IN ('551', 'r-9')",
                               id),
                     2);

    /* HubSpot closes the deal: the books hear of it, HubSpot does not */
    char ev[512];
    snprintf(ev, sizeof(ev),
             "[{\"eventId\":77,\"objectId\":551,\"propertyName\":\"dealstage\","
             "\"propertyValue\":\"closedwon\",\"subscriptionType\":\"deal.propertyChange\"}]");
    hubspot_send(&l, ev, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    answer_has(&r, "\"applied\":1");
    resp_free(&r);
    assert_true(recv_wait(&rv, 5, 30000));
    assert_true(
        h_wait_count(&l, "SELECT count(*) FROM deliveries WHERE state = 'pending'", 0, 30000));
    assert_int_equal(requests_to(&rv, "PUT", "/records/r-9"), 2);
    assert_int_equal(requests_to(&rv, "PATCH", "/crm/v3/objects/contacts/551"), 1);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM deliveries WHERE webhook = 'hubspot' AND"
                                   " event = 'lead.updated'"),
                     1);
    last_body(&rv, "PUT", "/records/r-9", body, sizeof(body));
    assert_non_null(strstr(body, "\"status\":\"converted\""));
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* A change made while the update before it is on the wire (rendered from
 * the lead as it was) is not lost: once that update is delivered, another
 * carries the change. */
struct puts_wait {
    struct receiver *rv;
    int n;
};

static bool puts_reach(void *arg)
{
    struct puts_wait *w = arg;
    return requests_to(w->rv, "PUT", "/records/r-9") >= w->n;
}

static void t_change_while_update_in_flight(void **state)
{
    (void)state;
    struct receiver rv = {0};
    struct leadd l;
    struct resp r;
    char ini[8192], id[64], email[128], path[128], body[4096];
    rv.answer = "{\"id\":\"r-9\"}";
    recv_start(&rv, 0);
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n"
             "[webhook.books]\nurl = http://127.0.0.1:%d/records\nresponse_id = id\nsign = false\n"
             "update_url = http://127.0.0.1:%d/records/{id}\nupdate_method = PUT\n",
             H_BASE_INI, rv.port, rv.port);
    h_start(&l, ini, NULL);
    post(&l, id, sizeof(id), email, sizeof(email));
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM crm_records WHERE lead_id = '%s'", id);
    assert_true(h_wait_count(&l, sql, 1, 30000));
    /* the books answer slowly from now on: the first update is on the wire
     * while the second change is made */
    pthread_mutex_lock(&rv.mu);
    rv.delay_ms = 1500;
    pthread_mutex_unlock(&rv.mu);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"status\":\"contacted\"}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    struct puts_wait one = {&rv, 1}, two = {&rv, 2};
    assert_true(h_wait(puts_reach, &one, 30000));
    h_api(&l, "PATCH", path, "{\"value\":\"900.00\"}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    if (!h_wait(puts_reach, &two, 30000))
        fail_msg("the change made while an update was on the wire was never sent");
    last_body(&rv, "PUT", "/records/r-9", body, sizeof(body));
    assert_non_null(strstr(body, "\"status\":\"contacted\""));
    assert_non_null(strstr(body, "\"value\":\"900.00\""));
    /* and once: nothing changed after the second was read */
    assert_true(
        h_wait_count(&l, "SELECT count(*) FROM deliveries WHERE state = 'pending'", 0, 30000));
    assert_int_equal(requests_to(&rv, "PUT", "/records/r-9"), 2);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    recv_stop(&rv);
    recv_free(&rv);
}

/* The ad platforms learn: each offline-conversion file, column by column,
 * for leads converted by a person and by the CRM; hashes only with consent. */
static void sha_hex(const char *s, char out[2 * SHA256_LEN + 1])
{
    unsigned char d[SHA256_LEN];
    const void *p = s;
    size_t n = strlen(s);
    assert_int_equal(crypto_sha256(&p, &n, 1, d), 0);
    crypto_hex(d, sizeof(d), out);
}

struct conv_lead {
    const char *extra; /* attribution and phone */
    const char *patch; /* NULL: not converted */
    bool withdraw;
    char id[64], email[128], at[32]; /* at: when it converted, local, as Google writes it */
    long long epoch_ms;
};

static void t_conversion_exports(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char ini[4096];
    struct conv_lead L[] = {
        {"\"gclid\":\"Cj0KCQiA-test-1\",\"phone\":\"+46 8 123 456 78\"",
         "{\"status\":\"converted\",\"value\":\"12000.00\"}", false, "", "", "", 0},
        {"\"fbclid\":\"IwAR0-test-2\"", "{\"status\":\"converted\"}", false, "", "", "", 0},
        {"\"msclkid\":\"ms-test-3\"",
         "{\"status\":\"converted\",\"value\":\"99.50\",\"currency\":"
         "\"USD\"}",
         false, "", "", "", 0},
        {"\"li_fat_id\":\"li-test-4\",\"fbclid\":\"IwAR0-test-4\"", "{\"status\":\"converted\"}",
         true, "", "", "", 0},
        {"\"gclid\":\"Cj0KCQiA-test-5\"", NULL, false, "", "", "", 0},
    };
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    snprintf(ini, sizeof(ini), "%s[auth]\napi_keys = " H_API_KEY "\n", H_BASE_INI);
    h_start(&l, ini, "server.timezone=Europe/Berlin", "server.conversion_name=Closed deal",
            "server.currency=EUR", NULL);
    for (size_t i = 0; i < sizeof(L) / sizeof(L[0]); i++) {
        char body[1024], path[128];
        snprintf(L[i].email, sizeof(L[i].email), "Conv%zu-%d@Example.ORG", i, getpid());
        snprintf(body, sizeof(body),
                 "{\"email\":\"%s\",\"name\":\"C\",\"consent\":true,\"_elapsed_ms\":9000,%s}",
                 L[i].email, L[i].extra);
        h_post_json(&l, "contact", body, &r);
        assert_int_equal(r.status, 201);
        assert_true(h_json_str(r.body, "id", L[i].id, sizeof(L[i].id)));
        resp_free(&r);
        for (char *c = L[i].email; *c; c++) /* as the form keeps it */
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
        if (L[i].withdraw) {
            snprintf(path, sizeof(path), "/v1/leads/%s/consents/withdraw", L[i].id);
            h_api(&l, "POST", path, NULL, &r);
            assert_true(r.status < 300);
            resp_free(&r);
        }
        if (!L[i].patch)
            continue;
        snprintf(path, sizeof(path), "/v1/leads/%s", L[i].id);
        h_api(&l, "PATCH", path, L[i].patch, &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
        char at[64];
        h_sql_text(&l, at, sizeof(at),
                   "SELECT min(at) FROM lead_history WHERE lead_id = '%s' AND status ="
                   " 'converted'",
                   L[i].id);
        struct tm tm = {0}, lt;
        int ms = 0;
        assert_true(sscanf(at, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7);
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        time_t t = timegm(&tm);
        localtime_r(&t, &lt);
        strftime(L[i].at, sizeof(L[i].at), "%Y-%m-%d %H:%M:%S", &lt);
        L[i].epoch_ms = (long long)t * 1000 + ms;
    }
    char e[5][2 * SHA256_LEN + 1], ph[2 * SHA256_LEN + 1], ph_meta[2 * SHA256_LEN + 1];
    char want[8192], today[16];
    for (int i = 0; i < 5; i++)
        sha_hex(L[i].email, e[i]);
    sha_hex("+46812345678", ph);
    sha_hex("46812345678", ph_meta);
    time_t now = time(NULL);
    struct tm lt;
    localtime_r(&now, &lt);
    strftime(today, sizeof(today), "%Y-%m-%d", &lt);

    /* Google Ads: the click's id, the time in the zone its Parameters row names */
    h_api(&l, "GET", "/v1/conversions/export?platform=google_ads", NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want),
             "Parameters:TimeZone=Europe/Berlin\r\n"
             "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion "
             "Currency\r\n"
             "Cj0KCQiA-test-1,Closed deal,%s,12000.00,EUR\r\n",
             L[0].at);
    assert_string_equal(r.body, want);
    resp_free(&r);
    /* Microsoft: its click id, else the hashes (with consent kept) */
    char path[160];
    snprintf(path, sizeof(path), "/v1/conversions/export?platform=microsoft&from=%s&to=%s", today,
             today);
    h_api(&l, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want),
             "Parameters:TimeZone=Europe/Berlin\r\n"
             "Microsoft Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion "
             "Currency,Hashed Email Address,Hashed Phone Number\r\n"
             ",Closed deal,%s,12000.00,EUR,%s,%s\r\n"
             ",Closed deal,%s,,,%s,\r\n"
             "ms-test-3,Closed deal,%s,99.50,USD,%s,\r\n",
             L[0].at, e[0], ph, L[1].at, e[1], L[2].at, e[2]);
    assert_string_equal(r.body, want);
    resp_free(&r);
    /* Meta: Purchase, Unix seconds, hashes, fbc; the withdrawn one by its click alone */
    h_api(&l, "GET", "/v1/conversions/export?platform=meta", NULL, &r);
    assert_int_equal(r.status, 200);
    char fbc2[128], fbc4[128];
    snprintf(
        fbc2, sizeof(fbc2), "fb.1.%llu.IwAR0-test-2",
        (unsigned long long)h_sql_int(&l, "SELECT created_ms FROM leads WHERE id = '%s'", L[1].id));
    snprintf(
        fbc4, sizeof(fbc4), "fb.1.%llu.IwAR0-test-4",
        (unsigned long long)h_sql_int(&l, "SELECT created_ms FROM leads WHERE id = '%s'", L[3].id));
    snprintf(want, sizeof(want),
             "event_name,event_time,email,phone,fbc,value,currency,order_id\r\n"
             "Purchase,%lld,%s,%s,,12000.00,EUR,%s\r\n"
             "Purchase,%lld,%s,,%s,,,%s\r\n"
             "Purchase,%lld,%s,,,99.50,USD,%s\r\n"
             "Purchase,%lld,,,%s,,,%s\r\n",
             L[0].epoch_ms / 1000, e[0], ph_meta, L[0].id, L[1].epoch_ms / 1000, e[1], fbc2,
             L[1].id, L[2].epoch_ms / 1000, e[2], L[2].id, L[3].epoch_ms / 1000, fbc4, L[3].id);
    assert_string_equal(r.body, want);
    resp_free(&r);
    /* LinkedIn: only with a hashed address; amount 1 where none is known */
    h_api(&l, "GET", "/v1/conversions/export?platform=linkedin", NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want),
             "email,firstname,lastname,employeecompany,title,country,timestamp,eventtype,amount,"
             "currency\r\n"
             "%s,,,,,,%lld,purchase,12000.00,EUR\r\n"
             "%s,,,,,,%lld,purchase,1,EUR\r\n"
             "%s,,,,,,%lld,purchase,99.50,USD\r\n",
             e[0], L[0].epoch_ms, e[1], L[1].epoch_ms, e[2], L[2].epoch_ms);
    assert_string_equal(r.body, want);
    resp_free(&r);
    /* none of it before today; bad parameters say which */
    h_api(&l, "GET", "/v1/conversions/export?platform=google_ads&from=2026-01-01&to=2026-01-31",
          NULL, &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "Cj0KCQiA"));
    resp_free(&r);
    const char *bad[] = {"platform=tiktok", "platform=meta&from=2026-13-01",
                         "platform=meta&from=2026-11-30&to=2026-11-01", "platform=meta&x=1", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/v1/conversions/export?%s", bad[i]);
        h_api(&l, "GET", path, NULL, &r);
        if (r.status != 400)
            fail_msg("%s: %ld %s", path, r.status, r.body);
        resp_free(&r);
    }
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    unsetenv("TZ");
    tzset();
}

/* A source without what verifies its sender stops the start. */
static void t_config_refused(void **state)
{
    (void)state;
    char out[4096];
    struct leadd l;
    h_start(&l, H_BASE_INI, NULL); /* for its temp dir */
    assert_int_equal(h_stop(&l), 0);
    char path[512];
    h_write_file(&l, "bad.ini",
                 "[form.x]\nfield.a = text\n[inbound.hubspot]\nkind = hubspot\n"
                 "stage.closedwon = won\n[inbound.pd]\nkind = pipedrive\n[inbound.q]\n"
                 "secret = whsec_short\n",
                 path, sizeof(path));
    int rc = h_run(out, sizeof(out), "%s check-config -c %s 2>&1", getenv("LEADD_BIN"), path);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "stage.closedwon: expected a status"));
    assert_non_null(strstr(out, "[inbound.hubspot] kind = hubspot needs secret"));
    assert_non_null(strstr(out, "[inbound.hubspot] kind = hubspot needs [server] public_url"));
    assert_non_null(strstr(out, "[inbound.pd] kind = pipedrive needs user and password"));
    assert_non_null(strstr(out, "[inbound.q] needs kind"));
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_hubspot),
        cmocka_unit_test(t_pipedrive),
        cmocka_unit_test(t_standard),
        cmocka_unit_test(t_updates_out_without_echo),
        cmocka_unit_test(t_change_while_update_in_flight),
        cmocka_unit_test(t_conversion_exports),
        cmocka_unit_test(t_config_refused),
    };
    return h_run_group_tests_name("itest_inbound", tests, NULL, NULL);
}
