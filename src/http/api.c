/* api.c: the authenticated query API: list, read, work and erase leads,
 * export them as a stream, count them, and see and retry deliveries. A bad
 * parameter is a 400 that names it; an unknown parameter is one too, so a
 * mistyped filter never silently widens a list or an export. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/forward.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"
#include "leadd/money.h"
#include "leadd/rescore.h"
#include "leadd/strutil.h"

#define API_MAX_NOTE 2000
#define EXPORT_CHUNK (64 * 1024)

static const char JSON[] = "application/json";

const char *query_arg(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

enum MHD_Result bad_param(struct req *r, const char *name, const char *why)
{
    char detail[256];
    snprintf(detail, sizeof(detail), "parameter '%s': %s", name, why);
    return problem(r, 400, "bad-parameter", "Bad parameter", detail);
}

/* Answers with a whole JSON buffer that a store call (its result rc) built,
 * or 503. */
static enum MHD_Result send_buf(struct req *r, int status, struct buf *b, int rc)
{
    if (rc) {
        buf_release(b);
        return unavailable(r, rc);
    }
    return respond_buf(r, status, JSON, b);
}

struct unknown {
    const char *const *allowed;
    const char *bad;
};

static enum MHD_Result check_name(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct unknown *u = cls;
    (void)kind;
    (void)value;
    for (size_t i = 0; u->allowed[i]; i++) {
        if (!strcmp(u->allowed[i], key))
            return MHD_YES;
    }
    u->bad = key;
    return MHD_NO;
}

/* The name of the first query parameter not in allowed (NULL-terminated). */
const char *unknown_param(struct req *r, const char *const *allowed)
{
    struct unknown u = {allowed, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, check_name, &u);
    return u.bad;
}

static bool one_of(const char *v, const char *const *set, size_t n)
{
    return str_index(v, set, n) >= 0;
}

/* Reads the lead filters shared by list, export and stats. On a bad value it
 * answers 400 itself and returns false. */
static bool parse_filter(struct req *r, struct lead_filter *f, enum MHD_Result *ret)
{
    static const char *const bools[] = {"true", "false"};
    const char *v;
    memset(f, 0, sizeof(*f));
    f->qualified = -1;
    f->limit = 50;
    f->form = query_arg(r, "form");
    f->utm_source = query_arg(r, "utm_source");
    f->utm_medium = query_arg(r, "utm_medium");
    f->utm_campaign = query_arg(r, "utm_campaign");
    f->q = query_arg(r, "q");
    f->owner = query_arg(r, "owner");
#define BAD(name, why)                                                                             \
    do {                                                                                           \
        *ret = bad_param(r, name, why);                                                            \
        return false;                                                                              \
    } while (0)
    if ((v = query_arg(r, "status"))) {
        if (!one_of(v, lead_status_names, LEAD_STATUS_COUNT))
            BAD("status", "expected new, contacted, converted, rejected or unconfirmed");
        f->status = v;
    }
    if ((v = query_arg(r, "grade"))) {
        if (!one_of(v, lead_grade_names, LEAD_GRADE_COUNT))
            BAD("grade", "expected hot, warm or cold");
        f->grade = v;
    }
    if ((v = query_arg(r, "qualified"))) {
        if (!one_of(v, bools, 2))
            BAD("qualified", "expected true or false");
        f->qualified = v[0] == 't';
    }
    if ((v = query_arg(r, "spam"))) {
        if (!strcmp(v, "any"))
            f->spam = -1;
        else if (one_of(v, bools, 2))
            f->spam = v[0] == 't';
        else
            BAD("spam", "expected true, false or any");
    }
    if ((v = query_arg(r, "min_score"))) {
        if (!parse_ll(v, strlen(v), &f->min_score))
            BAD("min_score", "expected a whole number");
        f->has_min_score = true;
    }
    if ((v = query_arg(r, "max_score"))) {
        if (!parse_ll(v, strlen(v), &f->max_score))
            BAD("max_score", "expected a whole number");
        f->has_max_score = true;
    }
    if ((v = query_arg(r, "created_after"))) {
        if (rfc3339_parse(v, &f->after_ms))
            BAD("created_after", "expected an RFC 3339 date-time such as 2026-01-31T00:00:00Z");
        f->has_after = true;
    }
    if ((v = query_arg(r, "created_before"))) {
        if (rfc3339_parse(v, &f->before_ms))
            BAD("created_before", "expected an RFC 3339 date-time such as 2026-01-31T00:00:00Z");
        f->has_before = true;
    }
    if ((v = query_arg(r, "limit"))) {
        long long n;
        if (!parse_ll(v, strlen(v), &n) || n < 1 || n > STORE_MAX_LIMIT)
            BAD("limit", "expected a whole number from 1 to 500");
        f->limit = (int)n;
    }
    if ((v = query_arg(r, "cursor"))) {
        if (!ulid_valid(v))
            BAD("cursor", "not a cursor this API gave out");
        f->cursor = v;
    }
    if (f->q && strlen(f->q) > 200)
        BAD("q", "at most 200 characters");
#undef BAD
    return true;
}

/* Whose read markers an answer shows: a person's (an API key reads nothing). */
static const char *reader_of(const struct req *r)
{
    return r->who[0] && strcmp(r->who, "api") ? r->who : NULL;
}

#define FILTER_PARAMS                                                                              \
    "form", "status", "grade", "qualified", "spam", "min_score", "max_score", "utm_source",        \
        "utm_medium", "utm_campaign", "created_after", "created_before", "q", "owner"

static int page_lead(void *arg, const struct lead_row *lead)
{
    return lead_row_json(lead, list_next(arg));
}

enum MHD_Result api_leads(struct req *r)
{
    static const char *const allowed[] = {FILTER_PARAMS, "limit", "cursor", NULL};
    struct lead_filter f;
    enum MHD_Result ret;
    const char *bad = unknown_param(r, allowed);
    if (bad)
        return bad_param(r, bad, "unknown parameter");
    if (!parse_filter(r, &f, &ret))
        return ret;
    f.viewer = reader_of(r);
    struct buf b = BUF_INIT(64u << 20);
    struct list page = {&b, 0};
    char next[ULID_LEN + 1];
    buf_adds(&b, "{\"data\":[");
    int rc = store_list_leads(r->h->st, &f, page_lead, &page, next);
    buf_adds(&b, "],\"next_cursor\":");
    jw_str(&b, *next ? next : NULL);
    /* Which spam the page holds: by default none (a lead flagged too_fast
     * is not lost, it is in spam=true), so the answer says so. */
    buf_adds(&b, f.spam == 0   ? ",\"spam_filter\":\"hidden\"}"
                 : f.spam == 1 ? ",\"spam_filter\":\"only\"}"
                               : ",\"spam_filter\":\"included\"}");
    return send_buf(r, 200, &b, rc ? rc : buf_error(&b));
}

static int one_lead(void *arg, const struct lead_row *lead)
{
    return lead_row_json(lead, arg);
}

static enum MHD_Result get_lead(struct req *r, int status)
{
    struct buf b = BUF_INIT(16u << 20);
    int rc = store_get_lead(r->h->st, r->param, reader_of(r), one_lead, &b);
    if (rc == LEADD_ENOTFOUND) {
        buf_release(&b);
        return lead_not_found(r);
    }
    return send_buf(r, status, &b, rc);
}

enum MHD_Result lead_not_found(struct req *r)
{
    return problem(r, 404, "lead-not-found", "Lead not found", NULL);
}

/* A read marker in flight: the job owns a copy of the reader's name. */
struct read_job {
    struct store_session_job j;
    char user[AUTH_MAX_NAME];
};

static void read_done(struct store_job *job, void *arg)
{
    (void)job;
    free(arg);
}

enum MHD_Result api_get_lead(struct req *r)
{
    if (!ulid_valid(r->param))
        return lead_not_found(r);
    enum MHD_Result ret = get_lead(r, 200);
    if (r->status == 200 && reader_of(r)) {
        /* Opened by a person: read, for them, from now on (written in
         * passing; this answer still says whether it was read before). */
        struct read_job *rj = calloc(1, sizeof(*rj));
        if (rj) {
            snprintf(rj->user, sizeof(rj->user), "%s", r->who);
            rj->j = (struct store_session_job){.job = {.op = STORE_OP_SESSION, .done = read_done},
                                               .change = SESSION_READ,
                                               .user = rj->user,
                                               .at_ms = now_ms()};
            snprintf(rj->j.lead_id, sizeof(rj->j.lead_id), "%.26s", r->param);
            rj->j.job.arg = rj;
            if (store_submit(r->h->st, &rj->j.job))
                free(rj);
        }
    }
    return ret;
}

/* Tells the live streams, this node's and the others', that a person
 * changed lead id. */
void lead_updated(struct req *r, const char *id, bool erased)
{
    events_lead_updated(r->h->events, id, erased);
    store_announce(r->h->st, id, erased);
}

enum MHD_Result api_erase_lead(struct req *r)
{
    if (!ulid_valid(r->param))
        return lead_not_found(r);
    struct store_erase_job job = {.job.op = STORE_OP_ERASE, .lead_id = r->param};
    int rc = store_run(r->h->st, &job.job);
    if (rc == LEADD_ENOTFOUND)
        return lead_not_found(r);
    if (rc)
        return unavailable(r, rc);
    log_info("erased lead %s on request", r->param);
    lead_updated(r, r->param, true);
    return respond(r, 204, NULL, NULL, 0);
}

/* POST /v1/erasures {"email"}: a person's request to be forgotten, whatever
 * form they used: every lead of the address erased (as DELETE
 * /v1/leads/{id} erases one) in one transaction, answering which. */
enum MHD_Result api_erase_person(struct req *r)
{
    json_error_t je;
    json_t *root = json_loadb(buf_str(&r->body), r->body.len, 0, &je);
    const char *email = json_string_value(json_object_get(root, "email"));
    char *norm = NULL;
    if (!email) {
        json_decref(root);
        return problem(r, 400, "malformed-body", "Malformed body",
                       "expected a JSON object such as {\"email\":\"someone@example.com\"}");
    }
    size_t n = strlen(email);
    str_trim(&email, &n);
    int rc = norm_email(email, n, &norm);
    json_decref(root);
    if (rc == LEADD_ENOMEM)
        return unavailable(r, rc);
    if (rc) {
        struct lead_errors e = {0};
        lead_error_add(&e, "email", FIELD_INVALID, "is not a valid email address");
        return problem_fields(r, &e);
    }
    struct store_erase_job job = {.job.op = STORE_OP_ERASE, .email = norm};
    rc = store_run(r->h->st, &job.job);
    free(norm);
    if (rc) {
        free(job.ids);
        return unavailable(r, rc);
    }
    struct buf b = BUF_INIT(64u << 20);
    buf_adds(&b, "{\"erased\":[");
    for (size_t i = 0; i < job.nids; i++) {
        buf_addf(&b, "%s\"%s\"", i ? "," : "", job.ids[i]);
        lead_updated(r, job.ids[i], true);
    }
    buf_adds(&b, "]}");
    log_info("erased %zu leads of one address on request", job.nids);
    free(job.ids);
    return respond_buf(r, 200, "application/json", &b);
}

enum MHD_Result api_patch_begin(struct req *r)
{
    if (!ulid_valid(r->param))
        return lead_not_found(r);
    req_body_start(r, (size_t)r->cfg->max_body_bytes);
    return MHD_YES;
}

struct replan {
    const struct config *cfg;
    const char *status; /* NULL: unchanged */
    int spam;           /* -1 unchanged, 0 not spam, 1 spam */
    struct store_delivery *out;
    size_t n;
    /* with spam = 0: the lead scored anew without its spam flags */
    long long score;
    const char *grade;
    bool qualified;
    struct buf reasons;
    bool unconfirmed; /* the lead waits for its double opt-in */
    bool marked;      /* a person had marked it spam already */
};

/* The lead as the change leaves it: which targets it is now eligible for,
 * and, when it is no longer spam, its score. */
static int replan(const struct stored_lead *sl, void *arg)
{
    struct replan *rp = arg;
    rp->marked = sl->flags & LEAD_FLAG_MARKED_SPAM;
    struct lead l;
    struct stored_lead now = *sl;
    rp->unconfirmed = sl->status && !strcmp(sl->status, lead_status_names[LEAD_STATUS_UNCONFIRMED]);
    if (rp->spam == 0)
        now.flags &= ~LEAD_FLAGS_SPAM;
    if (rp->status)
        now.status = rp->status;
    int rc = rescore_rebuild(rp->cfg, &now, &l);
    if (rc == LEADD_EINVAL || rc == LEADD_ENOTFOUND) {
        if (rp->spam == 0) { /* unscored: it keeps its score, and is not sent */
            rp->spam = -2;
        }
        return 0;
    }
    if (rc)
        return rc;
    if (rp->spam == 0) {
        rp->score = l.score;
        rp->grade = l.grade;
        rp->qualified = l.qualified && !sl->duplicate;
        rc = lead_reasons_json(&l, &rp->reasons);
    }
    if (!rc && rp->spam != 1)
        rescore_plan(rp->cfg, &l, sl->duplicate, rp->out, &rp->n);
    lead_release(&l);
    return rc;
}

int patch_run(struct req *r, struct store_patch_job *job, bool *unconfirmed)
{
    /* A change may make the lead eligible for a target (a status its `when`
     * reads, a lead that is not spam after all): those deliveries go in the
     * same transaction. */
    struct store_delivery plan[2 * CONFIG_MAX_WEBHOOKS];
    struct replan rp = {r->cfg, job->status, job->spam,         plan,  0,    0,
                        NULL,   false,       BUF_INIT(1 << 20), false, false};
    int rc = store_stored_lead(r->h->st, job->lead_id, replan, &rp);
    *unconfirmed = !rc && rp.unconfirmed && job->status;
    /* A new status or value goes to the records targets made (update_url),
     * but never back to the CRM it came from. */
    const struct inbound *from =
        job->event_source ? config_inbound(r->cfg, job->event_source, strlen(job->event_source))
                          : NULL;
    const char *echo = from ? (from->webhook ? from->webhook : from->name) : NULL;
    for (size_t i = 0; !rc && (job->status || job->set_value) && i < r->cfg->nwebhooks; i++) {
        const struct webhook *w = &r->cfg->webhooks[i];
        if (w->update_url && (!echo || strcmp(echo, w->name)))
            plan[rp.n++] =
                (struct store_delivery){w->name, forward_event_names[FORWARD_LEAD_UPDATED]};
    }
    if (!rc && !*unconfirmed) {
        job->deliveries = plan;
        job->ndeliveries = rp.n;
        if (rp.spam == -2) /* no longer fits its form: its flags stay */
            job->spam = -1;
        job->score = rp.score;
        job->grade = rp.grade;
        job->qualified = rp.qualified;
        job->score_reasons = buf_str(&rp.reasons);
        rc = store_run(r->h->st, &job->job);
        rc = rc ? rc : job->job.rc;
        job->score_reasons = NULL;
        job->deliveries = NULL;
    }
    buf_release(&rp.reasons);
    if (!rc && job->spam == 1 &&
        !rp.marked) /* a person's verdict, counted as capture counts flags */
        atomic_fetch_add(&r->h->flags[__builtin_ctz(LEAD_FLAG_MARKED_SPAM)], 1);
    if (!rc && !*unconfirmed)
        lead_updated(r, job->lead_id, false);
    return rc;
}

enum MHD_Result api_patch_answer(struct req *r)
{
    json_error_t je;
    json_t *root = json_loadb(buf_str(&r->body), r->body.len, 0, &je);
    enum MHD_Result ret;
    if (!json_is_object(root)) {
        json_decref(root);
        return problem(
            r, 400, "malformed-body", "Malformed body",
            "expected a JSON object such as {\"status\":\"contacted\",\"note\":\"...\"}");
    }
    struct lead_errors e = {0};
    json_t *st = json_object_get(root, "status"), *note = json_object_get(root, "note");
    json_t *owner = json_object_get(root, "owner"), *spam = json_object_get(root, "spam");
    const char *status = json_string_value(st);
    /* unconfirmed is leadd's to set (double opt-in), never a person's */
    if (st && (!status || !one_of(status, lead_status_names, LEAD_STATUS_UNCONFIRMED)))
        lead_error_add(&e, "status", FIELD_INVALID,
                       "must be one of new, contacted, converted, rejected");
    if (note && !json_is_null(note) &&
        (!json_is_string(note) ||
         utf8_chars(json_string_value(note), json_string_length(note)) > API_MAX_NOTE)) {
        char msg[64];
        snprintf(msg, sizeof(msg), "must be text of at most %d characters", API_MAX_NOTE);
        lead_error_add(&e, "note", json_is_string(note) ? FIELD_TOO_LONG : FIELD_INVALID, msg);
    }
    const char *owner_name = json_string_value(owner);
    if (owner && !json_is_null(owner) &&
        (!owner_name || auth_user_role(r->cfg, owner_name) == ROLE_PUBLIC ||
         !strcmp(owner_name, "api")))
        lead_error_add(&e, "owner", FIELD_INVALID, "must be a user of [auth], or null for none");
    if (spam && !json_is_boolean(spam))
        lead_error_add(&e, "spam", FIELD_INVALID, "must be true or false");
    /* A deal value: exact decimal text in a currency (the stats' by default);
     * null removes it. It counts as revenue while the lead is converted. */
    json_t *value = json_object_get(root, "value"), *cur = json_object_get(root, "currency");
    const char *currency = cur ? json_string_value(cur) : r->cfg->currency;
    int64_t value_minor = 0;
    if (cur && (!value || json_is_null(value)))
        lead_error_add(&e, "currency", FIELD_INVALID, "goes with a value");
    else if (cur && !money_currency_valid(currency))
        lead_error_add(&e, "currency", FIELD_INVALID,
                       "must be an ISO 4217 code such as EUR or USD");
    else if (value && !json_is_null(value) &&
             (!json_is_string(value) ||
              money_parse(json_string_value(value), money_exponent(currency), &value_minor))) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "must be an amount as decimal text with at most %d decimal places in %s, such"
                 " as \"12000.00\", or null",
                 money_exponent(currency), currency);
        lead_error_add(&e, "value", FIELD_INVALID, msg);
    }
    if (!st && !json_string_value(note) && !owner && !spam && !value)
        lead_error_add(&e, "status", FIELD_REQUIRED,
                       "give at least one of status, note, owner, spam and value");
    if (e.n) {
        ret = problem_fields(r, &e);
        json_decref(root);
        return ret;
    }
    struct store_patch_job job = {.job.op = STORE_OP_PATCH,
                                  .lead_id = r->param,
                                  .status = status,
                                  .note = json_string_value(note),
                                  .actor = r->who,
                                  .set_owner = owner != NULL,
                                  .owner = owner_name,
                                  .spam = spam ? json_is_true(spam) : -1,
                                  .set_value = value != NULL,
                                  .value_minor = value_minor,
                                  .currency = json_is_null(value) ? NULL : currency};
    bool unconfirmed = false;
    int rc = patch_run(r, &job, &unconfirmed);
    json_decref(root);
    if (!rc && unconfirmed)
        return problem(r, 409, "lead-unconfirmed", "Lead not confirmed",
                       "this lead has not confirmed its double opt-in; its status is leadd's to"
                       " change, when the person follows the confirmation link");
    if (rc == LEADD_ENOTFOUND)
        return lead_not_found(r);
    if (rc)
        return unavailable(r, rc);
    lead_updated(r, r->param, false);
    return get_lead(r, 200);
}

static int group_json(void *arg, const struct store_group *g)
{
    struct buf *b = list_next(arg);
    buf_adds(b, "{\"key\":");
    jw_str(b, g->key);
    return buf_addf(b, ",\"total\":%lld,\"qualified\":%lld,\"converted\":%lld,\"spam\":%lld}",
                    g->total, g->qualified, g->converted, g->spam);
}

/* The report (stats.c) unless a caller asks what it asked before it: a
 * grouping by grade or status, or a time range in RFC 3339 times; those
 * read the leads and answer as they did. */
enum MHD_Result api_stats(struct req *r)
{
    static const char *const allowed[] = {"group_by", "form", "created_after", "created_before",
                                          NULL};
    static const char BAD_GROUP[] = "expected utm_source, utm_medium, utm_campaign, form, day,"
                                    " week, month, grade or status";
    struct lead_filter f;
    enum MHD_Result ret;
    const char *g = query_arg(r, "group_by");
    if (g && strcmp(g, "grade") && strcmp(g, "status") && !query_arg(r, "created_after") &&
        !query_arg(r, "created_before"))
        return stats_report(r);
    const char *bad = unknown_param(r, allowed);
    if (bad)
        return bad_param(r, bad, "unknown parameter");
    if (!g)
        return bad_param(r, "group_by", BAD_GROUP);
    if (!parse_filter(r, &f, &ret))
        return ret;
    struct buf b = BUF_INIT(16u << 20);
    struct list groups = {&b, 0};
    buf_adds(&b, "{\"data\":[");
    int rc = store_stats(r->h->st, g, &f, group_json, &groups);
    if (rc == LEADD_EINVAL) { /* the store owns the list of groupings */
        buf_release(&b);
        return bad_param(r, "group_by", BAD_GROUP);
    }
    buf_adds(&b, "]}");
    return send_buf(r, 200, &b, rc ? rc : buf_error(&b));
}

enum MHD_Result api_forms(struct req *r)
{
    const struct config *cfg = r->cfg;
    struct buf b = BUF_INIT(4u << 20);
    buf_adds(&b, "{\"data\":[");
    for (size_t i = 0; i < cfg->nforms; i++) {
        const struct form *f = &cfg->forms[i];
        buf_adds(&b, i ? ",{\"id\":" : "{\"id\":");
        jw_str(&b, f->id);
        buf_adds(&b, ",\"fields\":[");
        for (size_t k = 0; k < f->nfields; k++) {
            const struct field_spec *s = &f->fields[k];
            buf_adds(&b, k ? ",{\"name\":" : "{\"name\":");
            jw_str(&b, s->name);
            buf_addf(&b, ",\"type\":\"%s\",\"required\":%s", field_type_name(s->type),
                     s->required ? "true" : "false");
            /* the form's words for it (label.NAME), for every place it is shown */
            buf_adds(&b, ",\"label\":");
            jw_str(&b, s->label ? s->label : s->name);
            if (s->has_min) {
                buf_adds(&b, ",\"min\":");
                jw_num(&b, s->min);
            }
            if (s->has_max) {
                buf_adds(&b, ",\"max\":");
                jw_num(&b, s->max);
            }
            if (s->nchoices) {
                buf_adds(&b, ",\"choices\":[");
                for (size_t c = 0; c < s->nchoices; c++) {
                    if (c)
                        buf_addc(&b, ',');
                    jw_str(&b, s->choices[c]);
                }
                buf_addc(&b, ']');
            }
            buf_addc(&b, '}');
        }
        buf_adds(&b, "]}");
    }
    buf_adds(&b, "]}");
    return respond_buf(r, 200, JSON, &b);
}

/* One delivery of a page, after those before it. */
static int delivery_json(void *arg, const struct store_delivery_row *d)
{
    struct buf *b = list_next(arg);
    char next[32];
    rfc3339_ms(d->next_attempt_ms, next);
    const struct jw_str_member m[] = {
        {"lead", d->lead},
        {"webhook", d->webhook},
        {"webhook_id", d->webhook_id},
        {"state", d->state},
        {"next_attempt_at", strcmp(d->state, delivery_state_names[DELIVERY_PENDING]) ? NULL : next},
        {"why", d->why}};
    buf_addf(b, "{\"id\":\"%lld\"", d->id);
    jw_strs(b, m, LEADD_ARRAY_LEN(m), false);
    buf_adds(b, ",\"attempts\":[");
    for (size_t i = 0; i < d->nattempts; i++) {
        const struct store_attempt *a = &d->attempts[i];
        buf_adds(b, i ? ",{\"at\":" : "{\"at\":");
        jw_str(b, a->at);
        buf_adds(b, ",\"status\":");
        if (a->has_status)
            jw_int(b, a->status);
        else
            buf_adds(b, "null");
        buf_adds(b, ",\"error\":");
        jw_str(b, a->error);
        buf_addf(b, ",\"duration_ms\":%lld}", a->duration_ms);
    }
    return buf_adds(b, "]}");
}

enum MHD_Result api_deliveries(struct req *r)
{
    static const char *const allowed[] = {"state", "lead", "limit", "cursor", NULL};
    const char *bad = unknown_param(r, allowed), *state = query_arg(r, "state");
    const char *lead = query_arg(r, "lead"), *cursor = query_arg(r, "cursor"), *v;
    long long limit = 50, c = 0;
    if (bad)
        return bad_param(r, bad, "unknown parameter");
    if (state && !one_of(state, delivery_state_names, DELIVERY_STATE_COUNT))
        return bad_param(r, "state", "expected pending, delivered, dead or cancelled");
    if (lead && !ulid_valid(lead))
        return bad_param(r, "lead", "not a lead id");
    if ((v = query_arg(r, "limit")) &&
        (!parse_ll(v, strlen(v), &limit) || limit < 1 || limit > STORE_MAX_LIMIT))
        return bad_param(r, "limit", "expected a whole number from 1 to 500");
    if (cursor && (!parse_ll(cursor, strlen(cursor), &c) || c < 1))
        return bad_param(r, "cursor", "not a cursor this API gave out");
    struct buf b = BUF_INIT(64u << 20);
    struct list page = {&b, 0};
    long long next;
    buf_adds(&b, "{\"data\":[");
    int rc =
        store_list_deliveries(r->h->st, state, lead, c, (int)limit, delivery_json, &page, &next);
    if (next)
        buf_addf(&b, "],\"next_cursor\":\"%lld\"}", next);
    else
        buf_adds(&b, "],\"next_cursor\":null}");
    return send_buf(r, 200, &b, rc ? rc : buf_error(&b));
}

enum MHD_Result api_retry(struct req *r)
{
    long long id;
    if (!parse_ll(r->param, strlen(r->param), &id) || id < 1)
        return problem(r, 404, "delivery-not-found", "Delivery not found", NULL);
    struct store_retry_job job = {.job.op = STORE_OP_RETRY, .delivery_id = id};
    int rc = store_run(r->h->st, &job.job);
    if (rc == LEADD_ENOTFOUND)
        return problem(r, 404, "delivery-not-found", "Delivery not found", NULL);
    if (rc == LEADD_ECONFLICT)
        return problem(r, 409, "delivery-not-dead", "Delivery is not dead",
                       "only a dead delivery can be retried");
    if (rc)
        return unavailable(r, rc);
    struct buf b = BUF_INIT(256);
    buf_addf(&b, "{\"id\":\"%lld\",\"state\":\"%s\"}", id, delivery_state_names[DELIVERY_PENDING]);
    return respond_buf(r, 202, JSON, &b);
}

/* ---- export: streamed, so memory stays flat however many rows ---- */

struct export_ctx {
    struct store_export *e;
    struct buf pending; /* rows produced and not yet handed to MHD */
    size_t off;
    bool done;
};

static ssize_t export_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct export_ctx *x = cls;
    (void)pos;
    if (x->off == x->pending.len) {
        if (x->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        buf_reset(&x->pending);
        x->off = 0;
        if (store_export_next(x->e, &x->pending, EXPORT_CHUNK, &x->done)) {
            log_error("export stopped: database read failed");
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (x->pending.len == 0 && x->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = x->pending.len - x->off;
    if (n > max)
        n = max;
    memcpy(out, x->pending.ptr + x->off, n);
    x->off += n;
    return (ssize_t)n;
}

static void export_free(void *cls)
{
    struct export_ctx *x = cls;
    store_export_close(&x->e);
    buf_release(&x->pending);
    free(x);
}

enum MHD_Result api_export(struct req *r)
{
    static const char *const allowed[] = {FILTER_PARAMS, "format", "bom", "header", NULL};
    struct lead_filter f;
    enum MHD_Result ret;
    const char *bad = unknown_param(r, allowed), *fmt = query_arg(r, "format");
    const struct form *form = NULL;
    const char *names[CONFIG_MAX_FIELDS], *labels[CONFIG_MAX_FIELDS];
    bool is_bool[CONFIG_MAX_FIELDS];
    if (bad)
        return bad_param(r, bad, "unknown parameter");
    if (!fmt || (strcmp(fmt, "csv") && strcmp(fmt, "ndjson")))
        return bad_param(r, "format", "expected csv or ndjson");
    const char *bom = query_arg(r, "bom");
    if (bom && strcmp(bom, "true") && strcmp(bom, "false"))
        return bad_param(r, "bom", "expected true or false");
    /* header=labels: the form's words atop its columns (label.NAME), for a
     * person's spreadsheet; names (the default) for a program's import */
    const char *header = query_arg(r, "header");
    if (header && strcmp(header, "names") && strcmp(header, "labels"))
        return bad_param(r, "header", "expected names or labels");
    bool by_label = header && header[0] == 'l';
    if (!parse_filter(r, &f, &ret))
        return ret;
    bool csv = fmt[0] == 'c';
    if (csv) {
        if (!f.form)
            return bad_param(r, "form", "required for csv: the columns are the form's fields");
        if (!(form = config_form(r->cfg, f.form, strlen(f.form))))
            return bad_param(r, "form", "no such form");
        for (size_t i = 0; i < form->nfields; i++) { /* nfields <= CONFIG_MAX_FIELDS */
            names[i] = form->fields[i].name;
            labels[i] = by_label && form->fields[i].label ? form->fields[i].label : names[i];
            is_bool[i] = form->fields[i].type == FT_BOOL || form->fields[i].type == FT_CONSENT;
        }
    }
    struct export_ctx *x = calloc(1, sizeof(*x));
    if (!x)
        return unavailable(r, LEADD_ENOMEM);
    buf_init(&x->pending, 4u << 20);
    size_t nf = form ? form->nfields : 0;
    int rc = store_export_open(r->h->st, &f, csv ? EXPORT_CSV : EXPORT_NDJSON, names, is_bool, nf,
                               &x->e);
    if (!rc && csv)
        rc = store_export_csv_header(&x->pending, labels, nf, !bom || bom[0] == 't');
    if (rc) {
        export_free(x);
        return unavailable(r, rc);
    }
    if (csv)
        req_header(r, "Content-Disposition", "attachment; filename=\"leads-%s.csv\"", form->id);
    return respond_callback(r, 200, csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                            export_read, x, export_free, 32 * 1024);
}

/* ---- metrics: Prometheus text format ---- */

enum MHD_Result api_metrics(struct req *r)
{
    struct http *h = r->h;
    struct store_stats ss;
    struct buf b = BUF_INIT(4u << 20);
    uint64_t rejected = 0;
    buf_adds(&b, "# HELP leadd_http_requests_total HTTP requests by route and status.\n"
                 "# TYPE leadd_http_requests_total counter\n");
    for (int rt = 0; rt < R_COUNT; rt++) {
        for (int s = 0; s < HTTP_STATUS_SLOTS; s++) {
            uint64_t n = atomic_load(&h->requests[rt][s]);
            if (!n)
                continue;
            if (rt == R_SUBMIT && s + HTTP_STATUS_MIN >= 400)
                rejected += n;
            buf_addf(&b, "leadd_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                     route_pattern((enum route_id)rt), s + HTTP_STATUS_MIN, (unsigned long long)n);
        }
    }
    store_get_stats(h->st, &ss);
    buf_addf(&b,
             "# HELP leadd_leads_accepted_total Submissions stored.\n"
             "# TYPE leadd_leads_accepted_total counter\n"
             "leadd_leads_accepted_total %llu\n"
             "# HELP leadd_leads_rejected_total Submissions answered 4xx or 5xx.\n"
             "# TYPE leadd_leads_rejected_total counter\n"
             "leadd_leads_rejected_total %llu\n"
             "# HELP leadd_lead_flags_total Leads flagged, by flag: as they were stored, and"
             " marked_spam as a person marks one.\n"
             "# TYPE leadd_lead_flags_total counter\n",
             (unsigned long long)atomic_load(&h->accepted), (unsigned long long)rejected);
    for (unsigned i = 0; i < LEAD_FLAG_COUNT; i++)
        buf_addf(&b, "leadd_lead_flags_total{flag=\"%s\"} %llu\n", lead_flag_names[i],
                 (unsigned long long)atomic_load(&h->flags[i]));
    buf_adds(&b, "# HELP leadd_captcha_checks_total Captcha tokens checked with the provider, by"
                 " verdict.\n# TYPE leadd_captcha_checks_total counter\n");
    for (unsigned i = 0; i < CAPTCHA_RESULT_COUNT; i++)
        buf_addf(&b, "leadd_captcha_checks_total{result=\"%s\"} %llu\n", captcha_result_names[i],
                 (unsigned long long)atomic_load(&h->checks[i]));
    buf_addf(&b,
             "# HELP leadd_writer_batches_total Transactions the writer committed.\n"
             "# TYPE leadd_writer_batches_total counter\n"
             "leadd_writer_batches_total %llu\n"
             "# HELP leadd_writer_jobs_total Jobs in those transactions.\n"
             "# TYPE leadd_writer_jobs_total counter\n"
             "leadd_writer_jobs_total %llu\n"
             "# HELP leadd_writer_batch_size_max Largest batch so far.\n"
             "# TYPE leadd_writer_batch_size_max gauge\n"
             "leadd_writer_batch_size_max %llu\n"
             "# HELP leadd_writer_queue_depth Jobs waiting for the writer.\n"
             "# TYPE leadd_writer_queue_depth gauge\n"
             "leadd_writer_queue_depth %llu\n"
             "# HELP leadd_http_inflight Requests being served.\n"
             "# TYPE leadd_http_inflight gauge\n"
             "leadd_http_inflight %d\n"
             "# HELP leadd_http_request_timeouts_total Connections closed because a"
             " request's headers took longer than header_timeout_s, or the whole request longer"
             " than request_timeout_s, to arrive.\n"
             "# TYPE leadd_http_request_timeouts_total counter\n"
             "leadd_http_request_timeouts_total %llu\n"
             "# HELP leadd_http_connections Connections open.\n"
             "# TYPE leadd_http_connections gauge\n"
             "leadd_http_connections %zu\n"
             "# HELP leadd_http_connections_refused_total Connections closed as they opened:"
             " their address held connections_per_client (per_client), or held a few while the"
             " last quarter of max_connections was all that was left (reserve).\n"
             "# TYPE leadd_http_connections_refused_total counter\n",
             (unsigned long long)ss.batches, (unsigned long long)ss.jobs,
             (unsigned long long)ss.max_batch, (unsigned long long)ss.queue_depth,
             atomic_load(&h->inflight), (unsigned long long)deadlines_expired(h->deadlines),
             deadlines_open(h->deadlines));
    for (int i = 0; i < REFUSED_COUNT; i++)
        buf_addf(&b, "leadd_http_connections_refused_total{why=\"%s\"} %llu\n", refusal_names[i],
                 (unsigned long long)deadlines_refused(h->deadlines, (enum refusal)i));
    uint64_t behind;
    size_t streams = events_open(h->events, &behind);
    buf_addf(&b,
             "# HELP leadd_event_streams Live update streams (GET /v1/events) open.\n"
             "# TYPE leadd_event_streams gauge\n"
             "leadd_event_streams %zu\n"
             "# HELP leadd_event_streams_behind_total Streams ended because their client fell"
             " more than event_buffer_kib behind.\n"
             "# TYPE leadd_event_streams_behind_total counter\n"
             "leadd_event_streams_behind_total %llu\n",
             streams, (unsigned long long)behind);
    int rc = forward_metrics(h->fw, &b);
    rc = rc ? rc : store_metrics(h->st, &b);
    if (rc && !buf_error(&b)) {
        buf_release(&b);
        return unavailable(r, rc);
    }
    return respond_buf(r, 200, "text/plain; version=0.0.4", &b);
}
