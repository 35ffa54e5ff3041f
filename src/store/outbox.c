/* outbox.c: the forwarder's side of the transactional outbox. Claims are
 * reads on the forwarder's own connection (it keeps what it has in flight in
 * memory); attempts are recorded by the writer (outbox_apply), in batches
 * that share the capture path's commits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/forward.h"
#include "leadd/jsonr.h"
#include "leadd/jsonw.h"
#include "leadd/lead.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

const char *const delivery_state_names[DELIVERY_STATE_COUNT] = {"pending", "delivered", "dead",
                                                                "cancelled"};

/* A delivery as the forwarder takes it (item_of reads these columns). */
#define ITEM_COLUMNS                                                                               \
    "SELECT id, lead_id, webhook, webhook_id, event, attempts, created_ms, secret,"                \
    " CASE WHEN secret IS NOT NULL THEN (SELECT email FROM leads WHERE leads.id = lead_id) END,"   \
    " wanted FROM deliveries"
static const char SQL_CLAIM[] =
    ITEM_COLUMNS " WHERE webhook = ?1 AND state = " SQL_PENDING " AND next_attempt_ms <= ?2"
                 " ORDER BY next_attempt_ms, id LIMIT ?3";
/* An attempt is recorded against its delivery by id and webhook-id: a
 * delivery erased while its attempt was in flight is gone, and its outcome
 * must not land on whatever row has its id now. */
static const char SQL_ATTEMPT[] = /* status 0: none (NULL) */
    "INSERT INTO delivery_attempts(delivery_id, at, status, error, duration_ms, response)"
    " SELECT ?1, ?2, nullif(?3, 0), ?4, ?5, ?6 WHERE EXISTS"
    " (SELECT 1 FROM deliveries WHERE id = ?1 AND webhook_id = ?7)";
/* A delivery cancelled while its attempt ran stays cancelled, unless that
 * attempt delivered it after all. */
#define SQL_OUTCOME_STATE                                                                          \
    "state = CASE WHEN state = " SQL_CANCELLED " AND ?2 <> " SQL_DELIVERED " THEN state ELSE ?2"   \
    " END"
/* The claim's lease ends with its attempt (PostgreSQL's; SQLite's one
 * forwarder claims in memory, and its lease columns stay NULL). */
static const char SQL_UPDATE[] =
    "UPDATE deliveries SET " SQL_OUTCOME_STATE ", attempts = attempts + 1, next_attempt_ms = ?3,"
    " updated_ms = ?4, secret = CASE ?2 WHEN 'delivered' THEN NULL ELSE secret END,"
    " claimed_by = NULL, claimed_until = NULL WHERE id = ?1 AND webhook_id = ?5";
/* When the next delivery is due: a delivery another node holds is due when
 * its lease ends, unless that node records its attempt before. */
static const char SQL_DUE[] =
    "SELECT min(CASE WHEN claimed_until > next_attempt_ms THEN claimed_until"
    " ELSE next_attempt_ms END) FROM deliveries WHERE state = " SQL_PENDING;

int deliveries_cancel(struct sqlc *c, const char *lead_id, const char *why, uint64_t ms)
{
    return sql_exec(c, NULL,
                    "UPDATE deliveries SET state = " SQL_CANCELLED ", why = ?2, updated_ms = ?3"
                    " WHERE lead_id = ?1 AND state IN (" SQL_PENDING "," SQL_DELIVERING ")",
                    "tti", lead_id, why, (long long)ms);
}

int outbox_prepare(struct store *st)
{
    long long n = 0;
    /* Deliveries in flight when the last process died go back to pending. */
    int rc =
        sql_exec(st->lite.osql, &n,
                 "UPDATE deliveries SET state = " SQL_PENDING " WHERE state = " SQL_DELIVERING, "");
    if (rc)
        log_error("unable to reset deliveries");
    if (n > 0)
        log_info("%lld deliveries interrupted by the last stop are pending again", n);
    rc = rc ? rc : sqls_prepare(st->lite.osql, SQL_CLAIM, &st->lite.o_claim);
    rc = rc ? rc : sqls_prepare(st->lite.osql, SQL_DUE, &st->lite.o_due);
    return rc;
}

void outbox_finalize(struct store *st)
{
    sqls_finalize(&st->lite.o_claim);
    sqls_finalize(&st->lite.o_due);
    leadrows_finalize(&st->lite.o_lead);
    sqlc_close(&st->lite.osql);
}

static void item_of(struct sqls *s, struct outbox_item *it)
{
    memset(it, 0, sizeof(*it));
    it->id = sqls_col_int(s, 0);
    snprintf(it->lead_id, sizeof(it->lead_id), "%s", sqls_col(s, 1));
    snprintf(it->webhook, sizeof(it->webhook), "%s", sqls_col(s, 2));
    snprintf(it->webhook_id, sizeof(it->webhook_id), "%s", sqls_col(s, 3));
    snprintf(it->event, sizeof(it->event), "%s", sqls_col(s, 4));
    it->attempts = (int)sqls_col_int(s, 5);
    rfc3339_ms((uint64_t)sqls_col_int(s, 6), it->created_at);
    if (!sqls_col_null(s, 7)) {
        snprintf(it->secret, sizeof(it->secret), "%s", sqls_col(s, 7));
        snprintf(it->mail_to, sizeof(it->mail_to), "%s", sqls_col_null(s, 8) ? "" : sqls_col(s, 8));
    }
    it->version = sqls_col_int(s, 9);
}

/* items_leads' callback: the lead as the API shows it to each item of it. */
struct item_leads {
    struct outbox_item *items;
    size_t n;
    struct buf json;
};

static int item_lead(void *arg, const struct lead_row *lead)
{
    struct item_leads *il = arg;
    buf_reset(&il->json);
    int rc = lead_row_json(lead, &il->json);
    for (size_t k = 0; !rc && k < il->n; k++) {
        struct outbox_item *it = &il->items[k];
        if (it->lead_json || strcmp(it->lead_id, lead->id))
            continue;
        if (!(it->lead_json = malloc(il->json.len + 1)))
            return LEADD_ENOMEM;
        memcpy(it->lead_json, buf_str(&il->json), il->json.len + 1);
    }
    return rc;
}

/* Each item's lead as the API shows it, on db (in the claim's snapshot):
 * the claim's distinct leads read at once, in two statements however many
 * (one lead at a time took three or four round trips each on PostgreSQL).
 * A lead erased since it was queued has nothing left to send: its delivery
 * rows went with it, so that cannot normally happen; its item has none. */
static int items_leads(struct leadrow_stmts *lr, struct sqlc *db, struct outbox_item *out, size_t n)
{
    char ids[OUTBOX_CLAIM_MAX][ULID_LEN + 1];
    int m = 0;
    if (n > OUTBOX_CLAIM_MAX)
        return LEADD_EINVAL; /* claims take at most that many */
    for (size_t i = 0; i < n && m < OUTBOX_CLAIM_MAX; i++) {
        bool seen = false;
        for (int k = 0; k < m && !seen; k++)
            seen = !strcmp(ids[k], out[i].lead_id);
        if (!seen)
            snprintf(ids[m++], ULID_LEN + 1, "%s", out[i].lead_id);
    }
    struct item_leads il = {out, n, BUF_INIT(16u << 20)};
    int rc =
        m ? leadrows_each(lr, db, (const char(*)[ULID_LEN + 1]) ids, m, NULL, item_lead, &il) : 0;
    buf_release(&il.json);
    return rc;
}

/* ids[0..n) as a PostgreSQL array literal, "{1,2,3}". */
static void id_array(const long long *ids, size_t n, char out[OUTBOX_CLAIM_MAX * 24 + 4])
{
    size_t at = 0, cap = OUTBOX_CLAIM_MAX * 24 + 4;
    out[at++] = '{';
    for (size_t i = 0; i < n && i < OUTBOX_CLAIM_MAX; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%lld", i ? "," : "", ids[i]);
    snprintf(out + at, cap - at, "}");
}

/* Leased claims (PostgreSQL's): the rows are leased to this node in the
 * database, so nodes sending at once take disjoint ones. Rows another node
 * is claiming are skipped, not waited for; a lease that ran out (its node
 * died) is anybody's again. Then they and their leads are read like the
 * local claims', on the same pooled connection (a node keeps no connection
 * for claims). */
static int claim_leased(struct store *st, const char *webhook, uint64_t now, uint64_t lease_ms,
                        size_t max, const long long *skip, size_t nskip, struct outbox_item *out,
                        size_t *n)
{
    char held[OUTBOX_CLAIM_MAX * 24 + 4], ids[OUTBOX_CLAIM_MAX * 24 + 4];
    long long claimed[OUTBOX_CLAIM_MAX];
    size_t k = 0;
    struct sqls *s = NULL;
    struct reader *rd = reader_get(st);
    *n = 0;
    max = max < OUTBOX_CLAIM_MAX ? max : OUTBOX_CLAIM_MAX;
    id_array(skip, nskip, held);
    int rc = rd ? sqls_prepare(
                      rd->c,
                      "UPDATE deliveries SET claimed_by = ?2, claimed_until = ?4 WHERE id"
                      " IN (SELECT id FROM deliveries WHERE webhook = ?1 AND state = " SQL_PENDING
                      " AND next_attempt_ms <= ?3 AND (claimed_until IS NULL"
                      " OR claimed_until <= ?3) AND id <> ALL(?6::bigint[]) ORDER BY"
                      " next_attempt_ms, id LIMIT ?5 FOR UPDATE SKIP LOCKED) RETURNING id",
                      &s)
                : LEADD_EDB;
    if (!rc) {
        sqls_text(s, 1, webhook, false);
        sqls_text(s, 2, st->pg.node, false);
        sqls_int(s, 3, (long long)now);
        sqls_int(s, 4, (long long)(now + lease_ms));
        sqls_int(s, 5, (long long)max);
        sqls_text(s, 6, held, false);
        while ((rc = sqls_step(s)) == SQL_ROW) /* ends at SQL_DONE, 0 */
            if (k < max)
                claimed[k++] = sqls_col_int(s, 0);
    }
    sqls_finalize(&s);
    if (rc || !k)
        goto out;
    id_array(claimed, k, ids);
    sql_begin_read(rd->c);
    rc = sqls_prepare(
        rd->c, ITEM_COLUMNS " WHERE id = ANY(?1::bigint[]) ORDER BY next_attempt_ms, id", &s);
    if (!rc) {
        sqls_text(s, 1, ids, false);
        while (*n < k && (rc = sqls_step(s)) == SQL_ROW)
            item_of(s, &out[(*n)++]);
        rc = rc < 0 ? rc : 0;
    }
    sqls_finalize(&s);
    rc = rc ? rc : items_leads(&rd->lead, rd->c, out, *n);
    sql_end_read(rd->c);
out:
    reader_put(st, rd);
    if (rc) {
        log_error("postgres: claiming deliveries failed: they are claimed again later");
        for (size_t i = 0; i < *n; i++) {
            free(out[i].lead_json);
            out[i].lead_json = NULL;
        }
        *n = 0; /* the leases run out, and the rows are claimed again */
    }
    return rc;
}

/* Gives the leases back early; one not given back ends with its lease
 * (later, not never). */
static int unclaim_leased(struct store *st, const long long *ids, size_t k)
{
    char list[OUTBOX_CLAIM_MAX * 24 + 4];
    struct reader *rd = reader_get(st);
    id_array(ids, k, list);
    int rc = rd ? sql_exec(rd->c, NULL,
                           "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL"
                           " WHERE id = ANY(?1::bigint[]) AND claimed_by = ?2",
                           "tt", list, st->pg.node)
                : LEADD_EDB;
    reader_put(st, rd);
    return rc;
}

int store_outbox_unclaim(struct store *st, struct outbox_item *items, size_t n)
{
    long long ids[OUTBOX_CLAIM_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k < OUTBOX_CLAIM_MAX)
            ids[k++] = items[i].id;
        free(items[i].lead_json);
        items[i].lead_json = NULL;
    }
    return st->claims->unclaim && k ? st->claims->unclaim(st, ids, k) : 0;
}

int store_outbox_claim(struct store *st, const char *webhook, uint64_t now, uint64_t lease_ms,
                       size_t max, const long long *skip, size_t nskip, struct outbox_item *out,
                       size_t *n)
{
    return st->claims->claim(st, webhook, now, lease_ms, max, skip, nskip, out, n);
}

uint64_t store_outbox_next_due(struct store *st)
{
    return st->claims->next_due(st);
}

/* Local claims (SQLite's): the one forwarder reads its due deliveries on
 * its own connection and keeps what it has in flight in memory (skip). */
static int claim_local(struct store *st, const char *webhook, uint64_t now, uint64_t lease_ms,
                       size_t max, const long long *skip, size_t nskip, struct outbox_item *out,
                       size_t *n)
{
    int rc, r = SQL_DONE;
    *n = 0;
    /* One read transaction: the deliveries and their leads as of one moment. */
    if ((rc = sql_exec(st->lite.osql, NULL, "BEGIN", "")))
        return rc;
    struct sqls *s = st->lite.o_claim;
    sqls_reset(s);
    sqls_text(s, 1, webhook, false);
    sqls_int(s, 2, (long long)now);
    sqls_int(s, 3, (long long)(max + nskip));
    while (*n < max && (r = sqls_step(s)) == SQL_ROW) {
        long long id = sqls_col_int(s, 0);
        bool busy = false;
        for (size_t i = 0; i < nskip && !busy; i++)
            busy = skip[i] == id;
        if (!busy)
            item_of(s, &out[(*n)++]);
    }
    sqls_reset(s);
    if (r < 0 || (rc = items_leads(&st->lite.o_lead, st->lite.osql, out, *n)))
        goto fail;
    return sql_exec(st->lite.osql, NULL, "COMMIT", ""); /* a read's: nothing to lose */
fail:
    rc = r < 0 ? r : rc;
    sql_rollback(st->lite.osql);
    for (size_t i = 0; i < *n; i++) {
        free(out[i].lead_json);
        out[i].lead_json = NULL;
    }
    *n = 0;
    return rc;
}

/* When the next delivery is due, by s (SQL_DUE's); UINT64_MAX: never. */
static uint64_t due(struct sqls *s)
{
    uint64_t at = UINT64_MAX;
    sqls_reset(s);
    if (sqls_step(s) == SQL_ROW && !sqls_col_null(s, 0))
        at = (uint64_t)sqls_col_int(s, 0);
    sqls_reset(s);
    return at;
}

static uint64_t next_due_local(struct store *st)
{
    return due(st->lite.o_due);
}

static uint64_t next_due_leased(struct store *st)
{
    uint64_t at = UINT64_MAX;
    struct reader *rd = reader_get(st);
    struct sqls *s = NULL;
    if (rd && !sqls_prepare(rd->c, SQL_DUE, &s))
        at = due(s);
    sqls_finalize(&s);
    reader_put(st, rd);
    return at;
}

const struct outbox_claims outbox_local = {claim_local, NULL, next_due_local};
const struct outbox_claims outbox_leased = {claim_leased, unclaim_leased, next_due_leased};

/* crm_ids with key set to value: the stored object as it is (written here
 * only, its values strings) with the member replaced in place, or added
 * last: as SQLite's json_set() left it, the same on both backends. */
static int crm_set(const char *json, const char *key, const char *value, struct buf *out)
{
    struct jr_key k = {key, strlen(key)};
    struct jr_value v = {0};
    size_t n = json ? strlen(json) : 0;
    if (n < 2 || json[0] != '{' || jr_pick(json, n, &k, 1, &v))
        json = "{}", n = 2, v.kind = 0; /* not ours: started anew */
    if (v.kind == 's') {                /* v.p: inside the quotes */
        buf_add(out, json, (size_t)(v.p - 1 - json));
        jw_str(out, value);
        buf_adds(out, v.p + v.n + 1);
    } else {
        buf_add(out, json, n - 1);
        buf_adds(out, n > 2 ? "," : "");
        jw_str(out, key);
        buf_addc(out, ':');
        jw_str(out, value);
        buf_addc(out, '}');
    }
    return buf_error(out);
}

static int crm_apply(struct sqlc *c, const char *lead_id, const char *webhook, const char *crm_id)
{
    struct sqls *s = NULL;
    struct buf b = BUF_INIT(64 * 1024);
    /* Read, merged and written back: on PostgreSQL another node may record
     * another target's id for the same lead at once, and without the row
     * lock one of the two ids was lost (an update then had no record) */
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT crm_ids FROM leads WHERE id = ?1 AND erased_at IS NULL%s",
             sql_for_update(c));
    int rc = sqls_prepare(c, sql, &s);
    if (!rc) {
        sqls_text(s, 1, lead_id, false);
        int r = sqls_step(s);
        rc = r < 0 ? r : r == SQL_ROW ? crm_set(sqls_col(s, 0), webhook, crm_id, &b) : 0;
        if (!rc && r == SQL_ROW)
            rc = sql_exec(c, NULL, "UPDATE leads SET crm_ids = ?2 WHERE id = ?1", "tt", lead_id,
                          buf_str(&b));
        /* and by record, for the CRM's events about it (inbound.c) */
        if (!rc && r == SQL_ROW)
            rc = sql_exec(c, NULL, "DELETE FROM crm_records WHERE webhook = ?1 AND lead_id = ?2",
                          "tt", webhook, lead_id);
        if (!rc && r == SQL_ROW)
            rc = sql_exec(c, NULL,
                          "INSERT INTO crm_records(webhook, crm_id, lead_id) VALUES (?1, ?2, ?3)"
                          " ON CONFLICT DO NOTHING",
                          "ttt", webhook, crm_id, lead_id);
    }
    sqls_finalize(&s);
    buf_release(&b);
    return rc;
}

/* An update is rendered from the lead as it is when claimed, and a change
 * while one waits asks that one (wanted + 1) instead of queueing another
 * (admin_queue_once). A change asked for after the claim read the lead
 * would be lost: so an update delivered that was asked for again since is
 * queued anew. Read after this attempt's UPDATE, which holds the row: on
 * PostgreSQL a change on another node either counted before it or, waiting
 * for it, found the update delivered and queued its own. */
static int update_again(struct sqlc *c, struct ulid_gen *ids, const struct outbox_attempt *a,
                        uint64_t ms, bool *queued)
{
    struct sqls *s = NULL;
    int rc = sqls_prepare(c, "SELECT wanted FROM deliveries WHERE id = ?1 AND webhook_id = ?2", &s);
    if (!rc) {
        sqls_int(s, 1, a->delivery_id);
        sqls_text(s, 2, a->webhook_id, false);
        int r = sqls_step(s);
        rc = r < 0 ? r : 0;
        if (!rc && r == SQL_ROW && sqls_col_int(s, 0) > a->version)
            rc = admin_queue_once(c, ids, a->update_of,
                                  &(struct store_delivery){
                                      a->update_webhook, forward_event_names[FORWARD_LEAD_UPDATED]},
                                  ms, queued);
    }
    sqls_finalize(&s);
    return rc;
}

int outbox_apply(struct sqlc *c, struct ulid_gen *ids, const struct store_outcome_job *j,
                 uint64_t ms, bool *queued)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < j->n; i++) {
        const struct outbox_attempt *a = &j->v[i];
        char at[32];
        rfc3339_ms(a->at_ms, at);
        /* The response may be any bytes; kept as text (PostgreSQL's must be
         * UTF-8, without NUL): what is not, a '?' each byte. */
        struct buf resp = BUF_INIT(1u << 20);
        for (size_t k = 0, q; a->response && k < a->response_len; k += q) {
            q = utf8_seq_len(a->response + k, a->response_len - k);
            if (q && a->response[k])
                buf_add(&resp, a->response + k, q);
            else
                buf_addc(&resp, '?'), q = 1;
        }
        rc = buf_error(&resp);
        rc = rc ? rc
                : sql_exec(c, NULL, SQL_ATTEMPT, "itititt", (long long)a->delivery_id, at,
                           (long long)a->status, a->error, (long long)a->duration_ms,
                           buf_str(&resp), a->webhook_id);
        buf_release(&resp);
        rc = rc ? rc
                : sql_exec(c, NULL, SQL_UPDATE, "itiit", (long long)a->delivery_id,
                           delivery_state_names[a->state], (long long)a->next_ms,
                           (long long)a->at_ms, a->webhook_id);
        if (!rc && a->crm_id && a->lead_id && a->webhook)
            rc = crm_apply(c, a->lead_id, a->webhook, a->crm_id);
        if (!rc && a->update_of && a->state == DELIVERY_DELIVERED)
            rc = update_again(c, ids, a, ms, queued);
    }
    return rc;
}
