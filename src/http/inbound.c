/* inbound.c: POST /v1/inbound/{name}: a CRM's outcomes coming back. Each
 * configured source ([inbound.NAME]) is verified the way its sender signs
 * (HubSpot's v3 signature, Pipedrive's basic auth, Standard Webhooks), its
 * body read into events (a record, a stage, an amount), and each event
 * applied as a person's PATCH would be, once per event id, with the source
 * as the actor in the lead's history. An event about a record leadd does
 * not know, or a stage it has no mapping for, is answered 200 and counted,
 * never an error a CRM would retry forever. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "leadd/crypto.h"
#include "leadd/forward.h"
#include "leadd/log.h"
#include "leadd/money.h"
#include "leadd/strutil.h"

#define INBOUND_MAX_BODY (1u << 20) /* HubSpot sends up to 100 events at once */
#define INBOUND_MAX_EVENTS 1000
#define INBOUND_MAX_AGE_MS (5 * 60 * 1000) /* a signature older than this is refused */
#define INBOUND_TEXT 160                   /* an id, a stage or an amount, as text */

/* One change a CRM reports, each member "" when the event lacks it. */
struct crm_event {
    char id[3 * INBOUND_TEXT]; /* what makes it once: the sender's event id */
    char record[INBOUND_TEXT]; /* the CRM's record id */
    char email[INBOUND_TEXT];
    char stage[INBOUND_TEXT];
    char amount[INBOUND_TEXT]; /* decimal text */
    char currency[8];
};

/* What one request's events came to: the answer's counts. */
struct tally {
    long applied, replayed, unknown_records, unknown_stages, ignored;
};

/* v as text into out: strings as they are, integers and reals in decimal
 * (a real with the currency's places: Pipedrive's 1200.5 is "1200.50").
 * "" for anything else, or text that does not fit. */
static void text_of(const json_t *v, char *out, size_t cap)
{
    int n = 0;
    if (json_is_string(v) && json_string_length(v) < cap)
        n = snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        n = snprintf(out, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e15)
        n = snprintf(out, cap, "%.4f", json_real_value(v));
    else
        out[0] = '\0';
    if (n < 0 || (size_t)n >= cap || strlen(out) != (size_t)n) /* a NUL inside */
        out[0] = '\0';
}

static void member(const json_t *o, const char *key, char *out, size_t cap)
{
    text_of(json_object_get(o, key), out, cap);
}

/* ---- who sent it ---- */

/* HubSpot v3: base64 HMAC-SHA256, keyed with the app's client secret, of
 * method, URI (as HubSpot posted to: public_url and the path), body and the
 * X-HubSpot-Request-Timestamp (ms), which must be within five minutes. */
static bool hubspot_verified(struct req *r, const struct inbound *in, uint64_t now)
{
    const char *sig = header_in(r, "X-HubSpot-Signature-v3");
    const char *ts = header_in(r, "X-HubSpot-Request-Timestamp");
    char uri[512], *end = NULL;
    unsigned char mac[SHA256_LEN];
    char b64[CRYPTO_BASE64_LEN(SHA256_LEN)];
    if (!sig || !ts || !*ts)
        return false;
    unsigned long long t = strtoull(ts, &end, 10);
    if (*end || t + INBOUND_MAX_AGE_MS < now || t > now + INBOUND_MAX_AGE_MS)
        return false;
    int n = snprintf(uri, sizeof(uri), "%s/v1/inbound/%s", r->cfg->public_url, in->name);
    if (n < 0 || (size_t)n >= sizeof(uri))
        return false;
    const void *parts[] = {"POST", uri, r->body.ptr ? r->body.ptr : "", ts};
    const size_t lens[] = {4, (size_t)n, r->body.len, strlen(ts)};
    if (crypto_hmac_sha256(in->secret, in->secret_len, parts, lens, 4, mac))
        return false;
    size_t blen = crypto_base64(mac, sizeof(mac), b64);
    return strlen(sig) == blen && crypto_equal(sig, b64, blen);
}

/* Pipedrive: the user and password its webhook was given (HTTP basic). */
static bool pipedrive_verified(struct req *r, const struct inbound *in)
{
    const char *h = header_in(r, "Authorization");
    unsigned char dec[512];
    char want[512];
    if (!h || strncmp(h, "Basic ", 6) || !in->user || !in->password)
        return false;
    long n = crypto_unbase64(h + 6, dec, sizeof(dec));
    int w = snprintf(want, sizeof(want), "%s:%s", in->user, in->password);
    bool ok = n > 0 && w > 0 && (size_t)w < sizeof(want) && (size_t)n == (size_t)w &&
              crypto_equal(dec, want, (size_t)n);
    explicit_bzero(dec, sizeof(dec));
    explicit_bzero(want, sizeof(want));
    return ok;
}

/* Standard Webhooks, as leadd signs its own (webhook_sign): one of the
 * space-separated signatures; the timestamp (s) within five minutes. */
static bool standard_verified(struct req *r, const struct inbound *in, uint64_t now)
{
    const char *id = header_in(r, "webhook-id"), *ts = header_in(r, "webhook-timestamp");
    const char *sigs = header_in(r, "webhook-signature");
    char *end = NULL, want[FORWARD_SIG_LEN];
    if (!id || !*id || !ts || !*ts || !sigs || !in->secret_len)
        return false;
    unsigned long long t = strtoull(ts, &end, 10);
    if (*end || t * 1000 + INBOUND_MAX_AGE_MS < now || t * 1000 > now + INBOUND_MAX_AGE_MS ||
        webhook_sign(in->secret, in->secret_len, id, (long long)t, r->body.ptr ? r->body.ptr : "",
                     r->body.len, want))
        return false;
    size_t wlen = strlen(want);
    for (const char *p = sigs; *p;) {
        size_t n = strcspn(p, " ");
        if (n == wlen && crypto_equal(p, want, wlen))
            return true;
        p += n;
        p += strspn(p, " ");
    }
    return false;
}

/* ---- what it says ---- */

/* HubSpot: an array of events, each one property of one record changed. */
static size_t hubspot_events(const struct inbound *in, json_t *root, struct crm_event *ev,
                             size_t max)
{
    size_t n = 0;
    for (size_t i = 0; json_is_array(root) && i < json_array_size(root) && n < max; i++) {
        json_t *o = json_array_get(root, i);
        struct crm_event *e = &ev[n];
        char eid[INBOUND_TEXT], prop[INBOUND_TEXT];
        memset(e, 0, sizeof(*e));
        member(o, "eventId", eid, sizeof(eid));
        member(o, "objectId", e->record, sizeof(e->record));
        member(o, "propertyName", prop, sizeof(prop));
        if (!eid[0] || !e->record[0])
            continue;
        /* HubSpot does not promise eventId unique alone: with the record
         * and the property, one change is one key */
        snprintf(e->id, sizeof(e->id), "%s/%s/%s", eid, e->record, prop);
        if (prop[0] && !strcmp(prop, in->stage_property))
            member(o, "propertyValue", e->stage, sizeof(e->stage));
        else if (prop[0] && !strcmp(prop, in->amount_property))
            member(o, "propertyValue", e->amount, sizeof(e->amount));
        n++;
    }
    return n;
}

static const char *stage_status(const struct inbound *in, const char *stage);

/* Pipedrive (webhooks v2): a deal created or changed. `previous` holds only
 * the members that changed: the deal's status (won, lost, open) if it did,
 * else its stage id if that did, is the stage (the first that stage.VALUE
 * maps); its value and currency, if either did, the amount. */
static size_t pipedrive_events(const struct inbound *in, json_t *root, struct crm_event *ev)
{
    json_t *meta = json_object_get(root, "meta"), *data = json_object_get(root, "data");
    json_t *prev = json_object_get(root, "previous");
    struct crm_event *e = &ev[0];
    char entity[32], cand[2][INBOUND_TEXT];
    static const char *const STAGE_KEYS[2] = {"status", "stage_id"};
    memset(e, 0, sizeof(*e));
    member(meta, "entity", entity, sizeof(entity));
    member(meta, "id", e->id, sizeof(e->id));
    member(data, "id", e->record, sizeof(e->record));
    if (strcmp(entity, "deal") || !e->id[0] || !e->record[0])
        return 0;
    bool created = !json_is_object(prev);
    for (int k = 0; k < 2; k++) {
        cand[k][0] = '\0';
        if (created || json_object_get(prev, STAGE_KEYS[k]))
            member(data, STAGE_KEYS[k], cand[k], sizeof(cand[k]));
    }
    int pick = cand[0][0] && stage_status(in, cand[0])   ? 0
               : cand[1][0] && stage_status(in, cand[1]) ? 1
               : cand[0][0]                              ? 0
                                                         : 1;
    snprintf(e->stage, sizeof(e->stage), "%s", cand[pick]);
    if (created || json_object_get(prev, "value") || json_object_get(prev, "currency")) {
        member(data, "value", e->amount, sizeof(e->amount));
        member(data, "currency", e->currency, sizeof(e->currency));
    }
    return 1;
}

/* Standard: {"type", "timestamp", "data": {record_id, email, stage, amount,
 * currency}} (or those members at the top); the event id is webhook-id. */
static size_t standard_events(struct req *r, json_t *root, struct crm_event *ev)
{
    json_t *d = json_object_get(root, "data");
    struct crm_event *e = &ev[0];
    memset(e, 0, sizeof(*e));
    if (!json_is_object(d))
        d = root;
    if (!json_is_object(d))
        return 0;
    snprintf(e->id, sizeof(e->id), "%s", header_in(r, "webhook-id"));
    member(d, "record_id", e->record, sizeof(e->record));
    member(d, "email", e->email, sizeof(e->email));
    member(d, "stage", e->stage, sizeof(e->stage));
    member(d, "amount", e->amount, sizeof(e->amount));
    member(d, "currency", e->currency, sizeof(e->currency));
    return 1;
}

/* ---- applying them ---- */

static const char *stage_status(const struct inbound *in, const char *stage)
{
    for (size_t i = 0; i < in->nstages; i++)
        if (str_ieqn(in->stages[i].value, stage, strlen(stage)))
            return lead_status_names[in->stages[i].status];
    return NULL;
}

/* One event: its lead found, its stage and amount applied once. rc: 0, or a
 * store error (the request answers 503: the CRM sends it again, and what was
 * applied is not applied twice). */
static int apply_event(struct req *r, const struct inbound *in, struct crm_event *e,
                       struct tally *t)
{
    const char *status = e->stage[0] ? stage_status(in, e->stage) : NULL;
    const char *currency = e->currency[0] ? e->currency
                           : in->currency ? in->currency
                                          : r->cfg->currency;
    int64_t minor = 0;
    bool amount = e->amount[0] && money_currency_valid(currency);
    if (amount && money_parse(e->amount, money_exponent(currency), &minor)) {
        /* more places than the currency has (Pipedrive's reals): cut the
         * zeros that text_of added, else it is not an amount */
        char *dot = strchr(e->amount, '.');
        size_t keep = dot ? (size_t)(dot - e->amount) + 1 + (size_t)money_exponent(currency) : 0;
        bool zeros = dot && strlen(e->amount) > keep &&
                     strspn(e->amount + keep, "0") == strlen(e->amount + keep);
        if (zeros)
            e->amount[money_exponent(currency) ? keep : keep - 1] = '\0';
        amount = zeros && !money_parse(e->amount, money_exponent(currency), &minor);
    }
    if (e->stage[0] && !status) {
        t->unknown_stages++;
        log_info("inbound %s: stage '%s' has no stage.VALUE: left as it is", in->name, e->stage);
    }
    if (!status && !amount) {
        t->ignored += !e->stage[0];
        return 0;
    }
    char lead[ULID_LEN + 1], *email = NULL;
    /* the address as the forms keep it: a CRM may write Ada@Example.COM */
    if (e->email[0] && norm_email(e->email, strlen(e->email), &email) == LEADD_ENOMEM)
        return LEADD_ENOMEM;
    int rc = store_inbound_lead(r->h->st, in->webhook ? in->webhook : in->name,
                                e->record[0] ? e->record : NULL, email, lead);
    free(email);
    if (rc == LEADD_ENOTFOUND) {
        t->unknown_records++;
        log_info("inbound %s: an event about a record of no lead here: ignored", in->name);
        return 0;
    }
    if (rc)
        return rc;
    struct store_patch_job job = {.job.op = STORE_OP_PATCH,
                                  .lead_id = lead,
                                  .status = status,
                                  .actor = in->name,
                                  .spam = -1,
                                  .set_value = amount,
                                  .value_minor = minor,
                                  .currency = currency,
                                  .event_source = in->name,
                                  .event_id = e->id};
    bool unconfirmed = false;
    rc = patch_run(r, &job, &unconfirmed);
    if (!rc && unconfirmed)
        t->ignored++; /* not confirmed yet: its status is the double opt-in's */
    else if (!rc)
        t->applied++;
    else if (rc == LEADD_ECONFLICT)
        t->replayed++, rc = 0;
    else if (rc == LEADD_ENOTFOUND) /* erased meanwhile */
        t->unknown_records++, rc = 0;
    return rc;
}

enum MHD_Result inbound_begin(struct req *r)
{
    if (!config_inbound(r->cfg, r->param, strlen(r->param)))
        return problem(r, 404, "unknown-inbound", "No such inbound source",
                       "no [inbound.NAME] section has this name");
    req_body_start(r, INBOUND_MAX_BODY);
    return MHD_YES;
}

enum MHD_Result inbound_answer(struct req *r)
{
    const struct inbound *in = config_inbound(r->cfg, r->param, strlen(r->param));
    uint64_t now = now_ms();
    if (!in) /* removed by a reload while the body came */
        return problem(r, 404, "unknown-inbound", "No such inbound source",
                       "no [inbound.NAME] section has this name");
    bool ok = in->kind == INBOUND_HUBSPOT     ? hubspot_verified(r, in, now)
              : in->kind == INBOUND_PIPEDRIVE ? pipedrive_verified(r, in)
                                              : standard_verified(r, in, now);
    if (!ok) {
        log_warn("inbound %s: a request not signed as the source signs: refused", in->name);
        if (in->kind == INBOUND_PIPEDRIVE)
            req_header(r, "WWW-Authenticate", "Basic realm=\"leadd inbound\"");
        return problem(r, 401, "inbound-unverified", "Not verified",
                       in->kind == INBOUND_HUBSPOT
                           ? "expected X-HubSpot-Signature-v3 over this request, made with the"
                             " app's client secret, and X-HubSpot-Request-Timestamp within 5"
                             " minutes"
                       : in->kind == INBOUND_PIPEDRIVE
                           ? "expected the webhook's HTTP basic auth user and password"
                           : "expected webhook-id, webhook-timestamp (within 5 minutes) and a"
                             " webhook-signature made with the source's secret");
    }
    json_error_t je;
    json_t *root = json_loadb(r->body.ptr ? r->body.ptr : "", r->body.len, 0, &je);
    bool shape = in->kind == INBOUND_HUBSPOT ? json_is_array(root) : json_is_object(root);
    if (!shape) {
        json_decref(root);
        return problem(r, 400, "malformed-body", "Malformed body",
                       in->kind == INBOUND_HUBSPOT ? "expected HubSpot's JSON array of events"
                                                   : "expected a JSON object");
    }
    size_t max = in->kind == INBOUND_HUBSPOT ? INBOUND_MAX_EVENTS : 1;
    if (json_is_array(root) && json_array_size(root) > max) {
        json_decref(root);
        return problem(r, 413, "too-many-events", "Too many events",
                       "at most 1000 events in one request");
    }
    struct crm_event *ev = calloc(max, sizeof(*ev));
    struct tally t = {0};
    int rc = ev ? 0 : LEADD_ENOMEM;
    size_t n = !ev                             ? 0
               : in->kind == INBOUND_HUBSPOT   ? hubspot_events(in, root, ev, max)
               : in->kind == INBOUND_PIPEDRIVE ? pipedrive_events(in, root, ev)
                                               : standard_events(r, root, ev);
    json_decref(root);
    for (size_t i = 0; !rc && i < n; i++)
        rc = apply_event(r, in, &ev[i], &t);
    free(ev);
    if (rc)
        return unavailable(r, rc);
    struct buf b = BUF_INIT(512);
    buf_addf(&b,
             "{\"events\":%zu,\"applied\":%ld,\"replayed\":%ld,\"unknown_records\":%ld,"
             "\"unknown_stages\":%ld,\"ignored\":%ld}",
             n, t.applied, t.replayed, t.unknown_records, t.unknown_stages, t.ignored);
    return respond_buf(r, 200, "application/json", &b);
}
