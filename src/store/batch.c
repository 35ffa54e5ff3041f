/* batch.c: work over many stored leads for batch commands (leadd rescore).
 * Each call opens connections of its own, so it may run beside a serving
 * leadd: SQLite serialises the writes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/log.h"

#define BATCH_ROWS 500

#define STORED_COLUMNS                                                                             \
    "id, form, flags, duplicate_of IS NOT NULL, qualified, fields, attribution, status"
static const char SQL_EACH[] =
    "SELECT " STORED_COLUMNS " FROM leads"
    " WHERE erased_at IS NULL AND (?1 IS NULL OR form = ?1) AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_ONE[] =
    "SELECT " STORED_COLUMNS " FROM leads WHERE id = ?1 AND erased_at IS NULL";

/* A row of STORED_COLUMNS, borrowed until the statement moves on. */
static struct stored_lead stored_row(sqlite3_stmt *s)
{
    return (struct stored_lead){
        .id = (const char *)sqlite3_column_text(s, 0),
        .form = (const char *)sqlite3_column_text(s, 1),
        .flags = (unsigned)sqlite3_column_int(s, 2),
        .duplicate = sqlite3_column_int(s, 3),
        .qualified = sqlite3_column_int(s, 4),
        .fields = (const char *)sqlite3_column_text(s, 5),
        .fields_len = (size_t)sqlite3_column_bytes(s, 5),
        .attribution = (const char *)sqlite3_column_text(s, 6),
        .attribution_len = (size_t)sqlite3_column_bytes(s, 6),
        .status = (const char *)sqlite3_column_text(s, 7),
    };
}

int store_stored_lead(struct store *st, const char *id,
                      int (*fn)(const struct stored_lead *sl, void *arg), void *arg)
{
    if (st->pg)
        return LEADD_EINVAL; /* not on PostgreSQL yet (issue 15) */
    sqlite3_stmt *s = NULL;
    int rc = LEADD_EDB, r;
    struct reader *rd = reader_get(st);
    if (!rd || sqlite3_prepare_v2(rd->db, SQL_ONE, -1, &s, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if ((r = sqlite3_step(s)) == SQLITE_ROW) {
        struct stored_lead sl = stored_row(s);
        rc = fn(&sl, arg);
    } else {
        rc = r == SQLITE_DONE ? LEADD_ENOTFOUND : LEADD_EDB;
    }
out:
    sqlite3_finalize(s);
    reader_put(st, rd);
    return rc;
}
int store_each_lead(struct store *st, const char *form,
                    int (*fn)(const struct stored_lead *sl, void *arg), void *arg)
{
    if (st->pg)
        return LEADD_EINVAL; /* not on PostgreSQL yet (issue 15) */
    sqlite3 *db = NULL;
    sqlite3_stmt *each = NULL;
    char last[ULID_LEN + 1] = "";
    int rc = db_open(st->path, false, &db);
    if (rc)
        return rc;
    rc = LEADD_EDB;
    if (sqlite3_prepare_v2(db, SQL_EACH, -1, &each, NULL) != SQLITE_OK)
        goto out;
    /* Keyset pages: the read transaction of each page is short. */
    for (;;) {
        int rows = 0, r;
        sqlite3_reset(each);
        if (form)
            sqlite3_bind_text(each, 1, form, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(each, 1);
        /* Copied: last changes while this page's rows are stepped. */
        sqlite3_bind_text(each, 2, last, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(each, 3, BATCH_ROWS);
        while ((r = sqlite3_step(each)) == SQLITE_ROW) {
            struct stored_lead sl = stored_row(each);
            int frc = fn(&sl, arg);
            memcpy(last, sl.id, ULID_LEN);
            last[ULID_LEN] = '\0';
            rows++;
            if (frc) {
                rc = frc;
                goto out;
            }
        }
        if (r != SQLITE_DONE)
            goto out;
        if (rows < BATCH_ROWS)
            break;
    }
    rc = 0;
out:
    if (rc == LEADD_EDB)
        log_error("reading leads: %s", sqlite3_errmsg(db));
    sqlite3_finalize(each);
    sqlite3_close(db);
    return rc;
}

static const char SQL_RESCORE[] =
    "UPDATE leads SET score = ?2, grade = ?3, qualified = ?4, score_reasons = ?5 WHERE id = ?1";
static const char SQL_QUEUE[] =
    "INSERT INTO deliveries(lead_id, webhook, webhook_id, event, next_attempt_ms, created_ms,"
    " updated_ms) SELECT ?1, ?2, ?3, ?4, ?5, ?5, ?5 WHERE NOT EXISTS"
    " (SELECT 1 FROM deliveries WHERE lead_id = ?1 AND webhook = ?2)";

int store_apply_rescores(struct store *st, const struct store_rescore *v, size_t n, size_t *queued)
{
    if (st->pg)
        return LEADD_EINVAL; /* not on PostgreSQL yet (issue 15) */
    sqlite3 *db = NULL;
    sqlite3_stmt *up = NULL, *q = NULL;
    struct ulid_gen ids;
    uint64_t ms = now_ms();
    *queued = 0;
    ulid_gen_init(&ids);
    int rc = db_open(st->path, st->durable_full, &db);
    if (rc)
        return rc;
    rc = LEADD_EDB;
    if (sqlite3_prepare_v2(db, SQL_RESCORE, -1, &up, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, SQL_QUEUE, -1, &q, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(up);
        sqlite3_bind_text(up, 1, v[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(up, 2, v[i].score);
        sqlite3_bind_text(up, 3, v[i].grade, -1, SQLITE_STATIC);
        sqlite3_bind_int(up, 4, v[i].qualified);
        sqlite3_bind_text(up, 5, v[i].reasons, -1, SQLITE_STATIC);
        if (sqlite3_step(up) != SQLITE_DONE)
            goto rollback;
        for (size_t k = 0; k < v[i].ndeliveries; k++) {
            char wid[ULID_LEN + 5] = "msg_";
            ulid_next(&ids, ms, wid + 4);
            sqlite3_reset(q);
            sqlite3_bind_text(q, 1, v[i].id, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 2, v[i].deliveries[k].webhook, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 3, wid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(q, 4, v[i].deliveries[k].event, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 5, (sqlite3_int64)ms);
            if (sqlite3_step(q) != SQLITE_DONE)
                goto rollback;
            *queued += (size_t)sqlite3_changes(db);
        }
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    log_error("rescoring: %s", sqlite3_errmsg(db));
    rc = db_err(sqlite3_errcode(db));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(up);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return rc;
}
