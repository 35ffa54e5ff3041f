/* outbox.c: the forwarder's side of the transactional outbox. Claims are
 * reads on the forwarder's own connection (it keeps what it has in flight in
 * memory); attempts are recorded by the writer (outbox_apply), in batches
 * that share the capture path's commits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/log.h"

const char *const delivery_state_names[DELIVERY_STATE_COUNT] = {"pending", "delivered", "dead"};

static const char SQL_CLAIM[] =
    "SELECT id, lead_id, webhook, webhook_id, event, attempts, created_ms, secret,"
    " CASE WHEN secret IS NOT NULL THEN (SELECT email FROM leads WHERE leads.id = lead_id) END"
    " FROM deliveries WHERE webhook = ?1 AND state = " SQL_PENDING " AND next_attempt_ms <= ?2"
    " ORDER BY next_attempt_ms, id LIMIT ?3";
static const char SQL_DUE[] =
    "SELECT min(next_attempt_ms) FROM deliveries WHERE state = " SQL_PENDING;
static const char SQL_ATTEMPT[] =
    "INSERT INTO delivery_attempts(delivery_id, at, status, error, duration_ms, response)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_CRM[] = "UPDATE leads SET crm_ids = json_set(coalesce(crm_ids, '{}'), ?2, ?3)"
                              " WHERE id = ?1 AND erased_at IS NULL";
static const char SQL_UPDATE[] =
    "UPDATE deliveries SET state = ?2, attempts = attempts + 1, next_attempt_ms = ?3,"
    " updated_ms = ?4, secret = CASE ?2 WHEN 'delivered' THEN NULL ELSE secret END"
    " WHERE id = ?1";

int outbox_prepare(struct store *st)
{
    const struct stmt_def s[] = {{&st->o_claim, SQL_CLAIM}, {&st->o_due, SQL_DUE}};
    const struct stmt_def w[] = {
        {&st->w_attempt, SQL_ATTEMPT}, {&st->w_update, SQL_UPDATE}, {&st->w_crm, SQL_CRM}};
    /* Deliveries in flight when the last process died go back to pending. */
    char *err = NULL;
    if (sqlite3_exec(st->odb,
                     "UPDATE deliveries SET state = " SQL_PENDING " WHERE state = " SQL_DELIVERING,
                     NULL, NULL, &err) != SQLITE_OK) {
        log_error("unable to reset deliveries: %s", err ? err : "?");
        sqlite3_free(err);
        return LEADD_EDB;
    }
    if (sqlite3_changes(st->odb) > 0)
        log_info("%d deliveries interrupted by the last stop are pending again",
                 sqlite3_changes(st->odb));
    int rc = db_prepare_all(st->odb, s, LEADD_ARRAY_LEN(s));
    rc = rc ? rc : db_prepare_all(st->wdb, w, LEADD_ARRAY_LEN(w));
    rc = rc ? rc : sqlc_sqlite(st->odb, &st->osql);
    return rc ? rc : leadjson_prepare(&st->o_lead, st->osql);
}

void outbox_finalize(struct store *st)
{
    sqlite3_finalize(st->o_claim);
    sqlite3_finalize(st->o_due);
    sqlite3_finalize(st->w_attempt);
    sqlite3_finalize(st->w_update);
    sqlite3_finalize(st->w_crm);
    leadjson_finalize(&st->o_lead);
    sqlc_close(&st->osql);
}

int store_outbox_claim(struct store *st, const char *webhook, uint64_t now, size_t max,
                       const long long *skip, size_t nskip, struct outbox_item *out, size_t *n)
{
    if (st->pg)
        return LEADD_EINVAL; /* not on PostgreSQL yet (issue 15) */
    int rc = LEADD_EDB, r = SQLITE_DONE;
    struct buf b = BUF_INIT(4 << 20);
    *n = 0;
    /* One read transaction: the deliveries and their leads as of one moment. */
    if (sqlite3_exec(st->odb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(sqlite3_errcode(st->odb));
    sqlite3_stmt *s = st->o_claim;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, webhook, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)(max + nskip));
    while (*n < max && (r = sqlite3_step(s)) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(s, 0);
        bool busy = false;
        for (size_t i = 0; i < nskip && !busy; i++)
            busy = skip[i] == id;
        if (busy)
            continue;
        struct outbox_item *it = &out[*n];
        memset(it, 0, sizeof(*it));
        it->id = id;
        snprintf(it->lead_id, sizeof(it->lead_id), "%s", sqlite3_column_text(s, 1));
        snprintf(it->webhook, sizeof(it->webhook), "%s", sqlite3_column_text(s, 2));
        snprintf(it->webhook_id, sizeof(it->webhook_id), "%s", sqlite3_column_text(s, 3));
        snprintf(it->event, sizeof(it->event), "%s", sqlite3_column_text(s, 4));
        it->attempts = sqlite3_column_int(s, 5);
        rfc3339_ms((uint64_t)sqlite3_column_int64(s, 6), it->created_at);
        if (sqlite3_column_type(s, 7) != SQLITE_NULL) {
            snprintf(it->secret, sizeof(it->secret), "%s", sqlite3_column_text(s, 7));
            snprintf(it->mail_to, sizeof(it->mail_to), "%s",
                     sqlite3_column_type(s, 8) == SQLITE_NULL
                         ? ""
                         : (const char *)sqlite3_column_text(s, 8));
        }
        (*n)++;
    }
    sqlite3_reset(s);
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        goto fail;
    for (size_t i = 0; i < *n; i++) {
        struct outbox_item *it = &out[i];
        buf_reset(&b);
        int jr = leadjson_get(&st->o_lead, it->lead_id, NULL, &b);
        if (jr == 0 && !(it->lead_json = buf_detach(&b)))
            jr = LEADD_ENOMEM;
        /* A lead erased since it was queued has nothing left to send: its
         * delivery rows went with it, so this cannot normally happen. */
        if (jr && jr != LEADD_ENOTFOUND)
            goto fail;
    }
    sqlite3_exec(st->odb, "COMMIT", NULL, NULL, NULL);
    buf_release(&b);
    return 0;
fail:
    rc = db_err(sqlite3_errcode(st->odb));
    sqlite3_exec(st->odb, "ROLLBACK", NULL, NULL, NULL);
    for (size_t i = 0; i < *n; i++) {
        free(out[i].lead_json);
        out[i].lead_json = NULL;
    }
    *n = 0;
    buf_release(&b);
    return rc;
}

uint64_t store_outbox_next_due(struct store *st)
{
    if (st->pg)
        return UINT64_MAX; /* not on PostgreSQL yet (issue 15) */
    uint64_t due = UINT64_MAX;
    sqlite3_stmt *s = st->o_due;
    sqlite3_reset(s);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        due = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return due;
}

int outbox_apply(struct store *st, const struct store_outcome_job *j)
{
    int r = SQLITE_OK;
    for (size_t i = 0; r == SQLITE_OK && i < j->n; i++) {
        const struct outbox_attempt *a = &j->v[i];
        char at[32];
        rfc3339_ms(a->at_ms, at);
        sqlite3_stmt *s = st->w_attempt;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, a->delivery_id);
        sqlite3_bind_text(s, 2, at, -1, SQLITE_STATIC);
        if (a->status)
            sqlite3_bind_int64(s, 3, a->status);
        else
            sqlite3_bind_null(s, 3);
        if (a->error)
            sqlite3_bind_text(s, 4, a->error, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 4);
        sqlite3_bind_int64(s, 5, a->duration_ms);
        /* The response may be any bytes; store them as text only when they are. */
        sqlite3_bind_text(s, 6, a->response ? a->response : "", (int)a->response_len,
                          SQLITE_STATIC);
        if ((r = sqlite3_step(s)) != SQLITE_DONE)
            break;
        s = st->w_update;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, a->delivery_id);
        sqlite3_bind_text(s, 2, delivery_state_names[a->state], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)a->next_ms);
        sqlite3_bind_int64(s, 4, (sqlite3_int64)a->at_ms);
        if ((r = sqlite3_step(s)) != SQLITE_DONE)
            break;
        r = SQLITE_OK;
        if (a->crm_id && a->lead_id && a->webhook) {
            char path[128];
            snprintf(path, sizeof(path), "$.\"%s\"", a->webhook); /* a name: [A-Za-z0-9_-] */
            s = st->w_crm;
            sqlite3_reset(s);
            sqlite3_bind_text(s, 1, a->lead_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
            sqlite3_bind_text(s, 3, a->crm_id, -1, SQLITE_STATIC);
            r = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(st->wdb);
        }
    }
    return r == SQLITE_DONE ? SQLITE_OK : r;
}
