/* batch.c: work over many stored leads for batch commands (leadd rescore)
 * and the API's rescoring of one. Each call opens connections of its own,
 * so it may run beside a serving leadd: SQLite serialises the writes,
 * PostgreSQL's rows are locked as they change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/jsonr.h"
#include "leadd/lead.h"
#include "leadd/log.h"

#define BATCH_ROWS 500

#define STORED_COLUMNS                                                                             \
    "id, form, flags, CASE WHEN duplicate_of IS NULL THEN 0 ELSE 1 END, qualified, fields,"        \
    " attribution, status"
static const char SQL_EACH[] =
    "SELECT " STORED_COLUMNS " FROM leads"
    " WHERE erased_at IS NULL AND (?1 IS NULL OR form = ?1) AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_ONE[] =
    "SELECT " STORED_COLUMNS " FROM leads WHERE id = ?1 AND erased_at IS NULL";

/* A row of STORED_COLUMNS, borrowed until the statement moves on. */
static struct stored_lead stored_row(struct sqls *s)
{
    return (struct stored_lead){
        .id = sqls_col(s, 0),
        .form = sqls_col(s, 1),
        .flags = (unsigned)sqls_col_int(s, 2),
        .duplicate = sqls_col_int(s, 3),
        .qualified = sqls_col_int(s, 4),
        .fields = sqls_col(s, 5),
        .fields_len = sqls_col_len(s, 5),
        .attribution = sqls_col(s, 6),
        .attribution_len = sqls_col_len(s, 6),
        .status = sqls_col(s, 7),
    };
}

int store_stored_lead(struct store *st, const char *id,
                      int (*fn)(const struct stored_lead *sl, void *arg), void *arg)
{
    struct sqls *s = NULL;
    int rc = LEADD_EDB, r;
    struct reader *rd = reader_get(st);
    if (!rd || sqls_prepare(rd->c, SQL_ONE, &s))
        goto out;
    sqls_text(s, 1, id, false);
    if ((r = sqls_step(s)) == SQL_ROW) {
        struct stored_lead sl = stored_row(s);
        rc = fn(&sl, arg);
    } else {
        rc = r == SQL_DONE ? LEADD_ENOTFOUND : LEADD_EDB;
    }
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}

int store_inbound_lead(struct store *st, const char *webhook, const char *record_id,
                       const char *email, char out[ULID_LEN + 1])
{
    static const char *const SQL[2] = {
        "SELECT lead_id FROM crm_records WHERE webhook = ?1 AND crm_id = ?2"
        " ORDER BY lead_id DESC LIMIT 1",
        /* a repeat or spam is not the lead a sale is credited to */
        "SELECT id FROM leads WHERE email = ?1 AND erased_at IS NULL AND duplicate_of IS NULL"
        " AND (flags & ?2) = 0 ORDER BY id DESC LIMIT 1",
    };
    struct sqls *s = NULL;
    int rc = LEADD_EDB;
    struct reader *rd = reader_get(st);
    for (int k = 0; rd && k < 2; k++) {
        if ((k == 0 && (!record_id || !webhook)) || (k == 1 && !email))
            continue;
        if (sqls_prepare(rd->c, SQL[k], &s))
            goto out;
        sqls_text(s, 1, k ? email : webhook, false);
        if (k)
            sqls_int(s, 2, LEAD_FLAGS_SPAM);
        else
            sqls_text(s, 2, record_id, false);
        int r = sqls_step(s);
        if (r == SQL_ROW)
            snprintf(out, ULID_LEN + 1, "%s", sqls_col(s, 0));
        sqls_finalize(&s);
        if (r == SQL_ROW) {
            rc = 0;
            goto out;
        }
        if (r != SQL_DONE)
            goto out;
    }
    rc = rd ? LEADD_ENOTFOUND : LEADD_EDB;
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}

int store_lead_ip(struct store *st, const char *id, char *out, size_t cap)
{
    struct sqls *s = NULL;
    int rc = LEADD_EDB;
    struct reader *rd = reader_get(st);
    out[0] = '\0';
    if (rd &&
        !sqls_prepare(rd->c, "SELECT client FROM leads WHERE id = ?1 AND erased_at IS NULL", &s)) {
        sqls_text(s, 1, id, false);
        int r = sqls_step(s);
        rc = r == SQL_ROW || r == SQL_DONE ? 0 : LEADD_EDB;
        struct jr_key k = {"ip", 2};
        struct jr_value v = {0};
        if (r == SQL_ROW && !sqls_col_null(s, 0) &&
            !jr_pick(sqls_col(s, 0), sqls_col_len(s, 0), &k, 1, &v) && v.kind == 's' && v.n < cap &&
            !memchr(v.p, '\\', v.n)) {
            memcpy(out, v.p, v.n);
            out[v.n] = '\0';
        }
    }
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}

int store_each_lead(struct store *st, const char *form,
                    int (*fn)(const struct stored_lead *sl, void *arg), void *arg)
{
    struct sqlc *c = NULL;
    struct sqls *each = NULL;
    char last[ULID_LEN + 1] = "";
    int rc = db_connect(st, false, false, &c);
    if (rc || (rc = sqls_prepare(c, SQL_EACH, &each)))
        goto out;
    rc = LEADD_EDB;
    /* Keyset pages: the read transaction of each page is short. */
    for (;;) {
        int rows = 0, r;
        sqls_reset(each);
        sqls_text(each, 1, form, false);
        sqls_text(each, 2, last, true); /* copied: last changes while the page is read */
        sqls_int(each, 3, BATCH_ROWS);
        while ((r = sqls_step(each)) == SQL_ROW) {
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
        if (r != SQL_DONE)
            goto out;
        if (rows < BATCH_ROWS)
            break;
    }
    rc = 0;
out:
    sqls_finalize(&each);
    sqlc_close(&c);
    return rc;
}

int store_apply_rescores(struct store *st, const struct store_rescore *v, size_t n, size_t *queued)
{
    struct sqlc *c = NULL;
    struct ulid_gen ids;
    uint64_t ms = now_ms();
    *queued = 0;
    ulid_gen_init(&ids);
    int rc = db_connect(st, false, st->lite.durable_full, &c);
    if (rc)
        return rc;
    /* one transaction; SQLite's takes its write lock at once */
    char upto[ULID_LEN + 1];
    rc = sql_exec(c, NULL, sql_begin_write_sql(c), "");
    rc = rc ? rc : rollup_writing(c, upto); /* PostgreSQL's nodes fold meanwhile */
    for (size_t i = 0; !rc && i < n; i++) {
        rc = sql_exec(c, NULL,
                      "UPDATE leads SET score = ?2, grade = ?3, qualified = ?4, score_reasons = ?5"
                      " WHERE id = ?1",
                      "titit", v[i].id, v[i].score, v[i].grade, (long long)v[i].qualified,
                      v[i].reasons);
        for (size_t k = 0; !rc && k < v[i].ndeliveries; k++) {
            bool one = false;
            rc = admin_queue_once(c, &ids, v[i].id, &v[i].deliveries[k], ms, &one);
            *queued += one;
        }
    }
    rc = rc ? rc : sql_exec(c, NULL, "COMMIT", "");
    if (rc) {
        log_error("rescoring failed: nothing changed");
        if (sql_exec(c, NULL, "ROLLBACK", ""))
            log_error("rescoring: the rollback failed too");
    }
    sqlc_close(&c);
    return rc;
}
