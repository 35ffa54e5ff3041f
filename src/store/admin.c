/* admin.c: the writer's jobs that both backends apply alike, written once on
 * sql.h: a lead worked (PATCH), a dead delivery retried, a session's
 * changes, ad spend; and the dispatch of those consent.c and outbox.c
 * write (a link followed, a withdrawal, delivery attempts). Each runs inside the writer's open
 * transaction (the SQLite writer's or PostgreSQL's) and only there; the job's own result goes into
 * its rc. Capture and erasure are each backend's own: SQLite's writer keeps the duplicate window in
 * memory, PostgreSQL's takes locks that hold across nodes. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "leadd/forward.h"
#include "leadd/lead.h"
#include "leadd/log.h"

#define QUEUE_DELIVERY                                                                             \
    "INSERT INTO deliveries(lead_id, webhook, webhook_id, event, next_attempt_ms, created_ms,"     \
    " updated_ms) SELECT ?1, ?2, ?3, ?4, ?5, ?5, ?5 WHERE "
static const char SQL_QUEUE_ONCE[] =
    QUEUE_DELIVERY "NOT EXISTS (SELECT 1 FROM deliveries WHERE lead_id = ?1 AND webhook = ?2 AND"
                   " state <> " SQL_CANCELLED ")";
/* An update goes to the record the target made, when it made one, and once
 * while one waits: it is rendered from the lead as it is when claimed, and
 * asked again (wanted) when a change comes while it waits, in case it was
 * claimed already (outbox.c sends it anew then). */
static const char SQL_WANT_UPDATE[] =
    "UPDATE deliveries SET wanted = wanted + 1 WHERE lead_id = ?1 AND webhook = ?2 AND event = ?3"
    " AND state = " SQL_PENDING;
static const char SQL_QUEUE_UPDATE[] =
    QUEUE_DELIVERY "EXISTS (SELECT 1 FROM crm_records WHERE webhook = ?2 AND lead_id = ?1)";

int admin_queue_once(struct sqlc *c, struct ulid_gen *ids, const char *lead_id,
                     const struct store_delivery *d, uint64_t ms, bool *queued)
{
    char wid[ULID_LEN + 5] = "msg_";
    long long n = 0;
    ulid_next(ids, ms, wid + 4);
    bool update = !strcmp(d->event, forward_event_names[FORWARD_LEAD_UPDATED]);
    int rc = update ? sql_exec(c, &n, SQL_WANT_UPDATE, "ttt", lead_id, d->webhook, d->event) : 0;
    if (update && !rc && n) /* one waits: asked again, nothing queued */
        return 0;
    rc = rc ? rc
            : sql_exec(c, &n, update ? SQL_QUEUE_UPDATE : SQL_QUEUE_ONCE, "tttti", lead_id,
                       d->webhook, wid, d->event, (long long)ms);
    *queued |= !rc && n > 0;
    return rc;
}

static int patch(struct sqlc *c, struct ulid_gen *ids, struct store_patch_job *p, uint64_t ms,
                 const char *at, bool *queued)
{
    long long n = 0;
    int rc = 0;
    if (p->event_id) { /* first, so two nodes given one event apply it once */
        rc = sql_exec(c, &n,
                      "INSERT INTO inbound_events(source, event_id, at_ms) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT DO NOTHING",
                      "tti", p->event_source, p->event_id, (long long)ms);
        if (!rc && !n)
            p->job.rc = LEADD_ECONFLICT;
        if (rc || !n)
            return rc;
    }
    rc = sql_exec(
        c, &n, "UPDATE leads SET status = coalesce(?2, status) WHERE id = ?1 AND erased_at IS NULL",
        "tt", p->lead_id, p->status);
    if (!rc && !n) {
        p->job.rc = LEADD_ENOTFOUND;
        if (p->event_id) /* the event did nothing: a retry may find the lead */
            rc = sql_exec(c, NULL, "DELETE FROM inbound_events WHERE source = ?1 AND event_id = ?2",
                          "tt", p->event_source, p->event_id);
    }
    if (rc || !n)
        return rc;
    if (p->set_value)
        rc = p->currency
                 ? sql_exec(c, NULL,
                            "UPDATE leads SET value_minor = ?2, currency = ?3 WHERE id = ?1", "tit",
                            p->lead_id, p->value_minor, p->currency)
                 : sql_exec(c, NULL,
                            "UPDATE leads SET value_minor = NULL, currency = NULL"
                            " WHERE id = ?1",
                            "t", p->lead_id);
    if (!rc && p->set_owner)
        rc = sql_exec(c, NULL, "UPDATE leads SET owner = ?2 WHERE id = ?1", "tt", p->lead_id,
                      p->owner);
    if (!rc && p->spam == 1) {
        /* Marked spam: never forwarded from now on. */
        rc = sql_exec(c, NULL, "UPDATE leads SET flags = flags | ?2, qualified = 0 WHERE id = ?1",
                      "ti", p->lead_id, (long long)LEAD_FLAG_MARKED_SPAM);
        rc = rc ? rc : deliveries_cancel(c, p->lead_id, "marked spam", ms);
    } else if (!rc && p->spam == 0) {
        rc = sql_exec(c, NULL,
                      "UPDATE leads SET flags = flags & ~?2, score = ?3, grade = ?4,"
                      " qualified = ?5, score_reasons = ?6 WHERE id = ?1",
                      "tiitit", p->lead_id, (long long)LEAD_FLAGS_SPAM, p->score, p->grade,
                      (long long)p->qualified, p->score_reasons);
    }
    /* spam: NULL unchanged (-1), else the verdict, as a number on both engines */
    if (!rc)
        rc = sql_exec(c, NULL,
                      "INSERT INTO lead_history(lead_id, at, status, note, actor, owner, spam)"
                      " SELECT ?1, ?2, status, ?3, ?4, ?5, CASE WHEN ?6 < 0 THEN NULL ELSE ?6 END"
                      " FROM leads WHERE id = ?1",
                      "ttttti", p->lead_id, at, p->note, p->actor,
                      p->set_owner ? (p->owner ? p->owner : "") : NULL, (long long)p->spam);
    for (size_t i = 0; !rc && i < p->ndeliveries; i++)
        rc = admin_queue_once(c, ids, p->lead_id, &p->deliveries[i], ms, queued);
    return rc;
}

static int retry(struct sqlc *c, struct store_retry_job *j, uint64_t ms, bool *queued)
{
    long long n = 0;
    int rc = sql_exec(c, &n,
                      "UPDATE deliveries SET state = " SQL_PENDING ", attempts = 0,"
                      " next_attempt_ms = ?2, updated_ms = ?2 WHERE id = ?1 AND state = " SQL_DEAD,
                      "ii", j->delivery_id, (long long)ms);
    if (!rc && n) {
        *queued = true;
        return 0;
    }
    struct sqls *s = NULL;
    if (!rc && !(rc = sqls_prepare(c, "SELECT 1 FROM deliveries WHERE id = ?1", &s))) {
        sqls_int(s, 1, j->delivery_id);
        int r = sqls_step(s);
        rc = r < 0 ? r : 0;
        j->job.rc = r == SQL_ROW ? LEADD_ECONFLICT : LEADD_ENOTFOUND;
    }
    sqls_finalize(&s);
    return rc;
}

static int session(struct sqlc *c, const struct store_session_job *j)
{
    switch (j->change) {
    case SESSION_CREATE:
        return sql_exec(c, NULL,
                        "INSERT INTO sessions(token_hash, \"user\", created_ms, seen_ms, kind,"
                        " credential) VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
                        "btitt", j->token_hash, j->user, (long long)j->at_ms,
                        j->key ? "key" : "user", j->credential);
    case SESSION_DELETE:
        return sql_exec(c, NULL, "DELETE FROM sessions WHERE token_hash = ?1", "b", j->token_hash);
    case SESSION_SEEN:
        return sql_exec(c, NULL, "UPDATE sessions SET seen_ms = ?2 WHERE token_hash = ?1", "bi",
                        j->token_hash, (long long)j->at_ms);
    case SESSION_READ:
        return sql_exec(c, NULL,
                        "INSERT INTO lead_reads(\"user\", lead_id, at_ms) VALUES (?1, ?2, ?3)"
                        " ON CONFLICT DO NOTHING",
                        "tti", j->user, j->lead_id, (long long)j->at_ms);
    }
    return LEADD_EINVAL;
}

static int spend(struct sqlc *c, struct store_spend_job *j, const char *at)
{
    int rc = 0;
    long long n = 0;
    if (j->remove) {
        const struct spend_row *v = &j->v[0];
        rc = sql_exec(c, &n,
                      "DELETE FROM spend WHERE day = ?1 AND utm_source = ?2 AND utm_campaign = ?3"
                      " AND currency = ?4",
                      "tttt", v->day, v->utm_source, v->utm_campaign ? v->utm_campaign : "",
                      v->currency);
        if (!rc && !n)
            j->job.rc = LEADD_ENOTFOUND;
        return rc;
    }
    for (size_t i = 0; !rc && i < j->n; i++) {
        const struct spend_row *v = &j->v[i];
        rc = sql_exec(c, NULL,
                      "INSERT INTO spend(day, utm_source, utm_campaign, currency, amount_minor,"
                      " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (day, utm_source,"
                      " utm_campaign, currency) DO UPDATE SET amount_minor ="
                      " excluded.amount_minor, updated_at = excluded.updated_at",
                      "ttttit", v->day, v->utm_source, v->utm_campaign ? v->utm_campaign : "",
                      v->currency, v->amount_minor, at);
    }
    return rc;
}

int admin_apply(struct sqlc *c, struct ulid_gen *ids, struct store_job *j, uint64_t ms,
                bool *queued)
{
    char at[32];
    rfc3339_ms(ms, at);
    switch (j->op) {
    case STORE_OP_PATCH: return patch(c, ids, (struct store_patch_job *)j, ms, at, queued);
    case STORE_OP_RETRY: return retry(c, (struct store_retry_job *)j, ms, queued);
    case STORE_OP_SESSION: return session(c, (const struct store_session_job *)j);
    case STORE_OP_SPEND: return spend(c, (struct store_spend_job *)j, at);
    case STORE_OP_CONFIRM:
        return consent_confirm(c, ids, (struct store_confirm_job *)j, ms, at, queued);
    case STORE_OP_WITHDRAW: return consent_withdraw(c, (struct store_withdraw_job *)j, ms, at);
    case STORE_OP_OUTCOMES:
        return outbox_apply(c, ids, (const struct store_outcome_job *)j, ms, queued);
    default: return LEADD_EINVAL; /* each writer's own: capture and erasure */
    }
}
