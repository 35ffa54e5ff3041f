/* pgcopy.c: leadd copy: a SQLite database into PostgreSQL's schema, table by
 * table, in batches that each commit with their progress (so a copy that
 * dies resumes where it stopped), verified by counts at the end. The one
 * file that holds both libraries: it is the bridge between the two. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "leadd/embed.h"
#include "leadd/log.h"
#include "pgint.h"

#define COPY_MAX_COLS 32
#define COPY_MAX_BATCH_BYTES (256u << 20) /* one batch's COPY data */

/* Every table with data, in an order that respects references (the texts
 * before the consents that name them). rowid: read by SQLite's rowid, which
 * a table with an identity column of that name keeps; else by its key. */
static const struct copy_table {
    const char *name;
    const char *order; /* SQLite's ORDER BY: the same every run */
    bool by_rowid;
    const char *identity; /* the PostgreSQL column that takes the rowid, or NULL */
} TABLES[] = {
    {"leads", "rowid", true, "rowid"},
    {"lead_history", "rowid", true, "rowid"},
    {"idempotency_keys", "form, key", false, NULL},
    {"deliveries", "rowid", true, NULL},
    {"delivery_attempts", "rowid", true, "rowid"},
    {"sessions", "token_hash", false, NULL},
    {"lead_reads", "user, lead_id", false, NULL},
    {"spend", "day, utm_source, utm_campaign, currency", false, NULL},
    {"rollup", "grain, period, form, utm_source, utm_medium, utm_campaign, currency", false, NULL},
    {"rollup_grains", "grain", false, NULL},
    {"rollup_mark", "one", false, NULL},
    {"store_meta", "key", false, NULL},
    {"lead_filters", "rowid", true, NULL},
    {"consent_texts", "hash", false, NULL},
    {"consents", "rowid", true, NULL},
    {"confirm_tokens", "rowid", true, NULL},
    {"crm_records", "webhook, crm_id, lead_id", false, NULL},
    {"inbound_events", "source, event_id", false, NULL},
};

/* Identity columns whose sequence must start past the copied ids. */
static const char *const SEQUENCES[][2] = {{"leads", "rowid"},
                                           {"lead_history", "rowid"},
                                           {"delivery_attempts", "rowid"},
                                           {"deliveries", "id"},
                                           {"consents", "id"}};

struct copy {
    sqlite3 *src;
    PGconn *dst;
    size_t batch;
    char *err;
    size_t cap;
};

/* pg_done and pg_sql with the copy's err (pgint.h). */
static bool pg_ok(struct copy *c, PGresult *r)
{
    return pg_done(r, c->err, c->cap);
}

static bool pg_run(struct copy *c, const char *sql)
{
    return pg_sql(c->dst, sql, c->err, c->cap);
}

/* A one-value query's answer as a number; -1 on failure. */
static long long pg_count(struct copy *c, const char *sql, const char *param)
{
    PGresult *r = PQexecParams(c->dst, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0);
    long long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        n = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        snprintf(c->err, c->cap, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return n;
}

/* How far a table got: rows copied, and the last rowid read (by_rowid);
 * *started is false when its copy has not begun. */
static bool progress(struct copy *c, const char *table, long long *done, long long *last,
                     bool *started)
{
    const char *p = table;
    PGresult *r = PQexecParams(c->dst, "SELECT done, last_rowid FROM leadd_copy WHERE tbl = $1", 1,
                               NULL, &p, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    *started = ok && PQntuples(r) == 1;
    *done = *started ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    *last = *started ? strtoll(PQgetvalue(r, 0, 1), NULL, 10) : 0;
    if (!ok)
        snprintf(c->err, c->cap, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* A text value in COPY's text format: backslash, tab and line ends escaped. */
static void copy_text(struct buf *b, const char *v, int n)
{
    for (int i = 0; i < n; i++) {
        char ch = v[i];
        if (ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r') {
            buf_addc(b, '\\');
            ch = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch;
        }
        buf_addc(b, ch);
    }
}

/* A bytea in COPY's text format: \\x and hex (the backslash escaped). */
static void copy_bytea(struct buf *b, const void *v, int n)
{
    static const char DIGITS[] = "0123456789abcdef";
    const unsigned char *p = v;
    buf_adds(b, "\\\\x");
    for (int i = 0; i < n; i++) {
        buf_addc(b, DIGITS[p[i] >> 4]);
        buf_addc(b, DIGITS[p[i] & 15]);
    }
}

/* Runs sql (a COPY ... FROM STDIN) with data as its rows. */
static bool copy_in(struct copy *c, const char *sql, const struct buf *data)
{
    PGresult *r = PQexec(c->dst, sql);
    bool ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok)
        snprintf(c->err, c->cap, "%s", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok)
        return false;
    ok = PQputCopyData(c->dst, data->ptr, (int)data->len) == 1;
    if (PQputCopyEnd(c->dst, ok ? NULL : "leadd copy: sending failed") != 1)
        ok = false;
    while ((r = PQgetResult(c->dst))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(c->err, c->cap, "%s", PQresultErrorMessage(r));
            ok = false;
        }
        PQclear(r);
    }
    return ok;
}

/* Copies one table from where its progress says, a batch a transaction. */
static int copy_table(struct copy *c, const struct copy_table *t, long long *rows)
{
    char cols[COPY_MAX_COLS][64];
    bool blob[COPY_MAX_COLS] = {0};
    int ncols = 0, rc = LEADD_EDB;
    sqlite3_stmt *q = NULL;
    struct buf sql = BUF_INIT(1 << 20), ins = BUF_INIT(COPY_MAX_BATCH_BYTES);
    long long done, last;
    bool started;
    if (!progress(c, t->name, &done, &last, &started))
        goto out;
    /* The columns, as SQLite names them (tests keep PostgreSQL's equal). */
    buf_addf(&sql, "SELECT name, type FROM pragma_table_info('%s') ORDER BY cid", t->name);
    if (sqlite3_prepare_v2(c->src, buf_str(&sql), -1, &q, NULL) != SQLITE_OK)
        goto sqlerr;
    while (sqlite3_step(q) == SQLITE_ROW && ncols < COPY_MAX_COLS) {
        snprintf(cols[ncols], sizeof(cols[0]), "%s", (const char *)sqlite3_column_text(q, 0));
        blob[ncols++] = !strcmp((const char *)sqlite3_column_text(q, 1), "BLOB");
    }
    sqlite3_finalize(q);
    q = NULL;
    if (!started) {
        /* a first start: what the migrations put there (the grains, the
         * mark) gives way to the copy's rows */
        char del[128];
        const char *name = t->name;
        snprintf(del, sizeof(del), "DELETE FROM %s", t->name);
        if (!pg_run(c, "BEGIN") || !pg_run(c, del) ||
            !pg_ok(c, PQexecParams(c->dst, "INSERT INTO leadd_copy(tbl) VALUES ($1)", 1, NULL,
                                   &name, NULL, NULL, 0)) ||
            !pg_run(c, "COMMIT"))
            goto out;
    }
    /* SQLite: rowid first when it is kept, then the columns */
    buf_reset(&sql);
    buf_addf(&sql, "SELECT %s", t->by_rowid ? "rowid" : "0");
    for (int i = 0; i < ncols; i++)
        buf_addf(&sql, ", \"%s\"", cols[i]);
    buf_addf(&sql, " FROM %s", t->name);
    /* one pass over the table from where the copy stopped, sent in batches */
    if (t->by_rowid)
        buf_addf(&sql, " WHERE rowid > ?1 ORDER BY rowid");
    else
        buf_addf(&sql, " ORDER BY %s LIMIT -1 OFFSET ?1", t->order);
    if (buf_error(&sql) || sqlite3_prepare_v2(c->src, buf_str(&sql), -1, &q, NULL) != SQLITE_OK)
        goto sqlerr;
    /* Each batch goes as one COPY (text format) in its own transaction,
     * with the table's progress: half the time parameterized INSERTs took. */
    buf_reset(&ins);
    buf_addf(&ins, "COPY %s (", t->name);
    if (t->identity)
        buf_addf(&ins, "%s, ", t->identity);
    for (int i = 0; i < ncols; i++)
        buf_addf(&ins, "%s\"%s\"", i ? ", " : "", cols[i]);
    buf_adds(&ins, ") FROM STDIN");
    char copy_sql[4096];
    snprintf(copy_sql, sizeof(copy_sql), "%s", buf_str(&ins));
    if (buf_error(&ins) || strlen(buf_str(&ins)) >= sizeof(copy_sql))
        goto out;
    sqlite3_bind_int64(q, 1, t->by_rowid ? last : done);
    for (int r = SQLITE_ROW; r == SQLITE_ROW;) {
        size_t n = 0;
        long long rowid = last;
        buf_reset(&ins);
        while (n < c->batch && (r = sqlite3_step(q)) == SQLITE_ROW) {
            rowid = sqlite3_column_int64(q, 0);
            if (t->identity)
                buf_addf(&ins, "%lld\t", rowid);
            for (int i = 0; i < ncols; i++) {
                int col = i + 1;
                if (i)
                    buf_addc(&ins, '\t');
                if (sqlite3_column_type(q, col) == SQLITE_NULL)
                    buf_adds(&ins, "\\N");
                else if (blob[i])
                    copy_bytea(&ins, sqlite3_column_blob(q, col), sqlite3_column_bytes(q, col));
                else
                    copy_text(&ins, (const char *)sqlite3_column_text(q, col),
                              sqlite3_column_bytes(q, col));
            }
            buf_addc(&ins, '\n');
            n++;
        }
        if (r != SQLITE_DONE && r != SQLITE_ROW)
            goto sqlerr;
        if (buf_error(&ins)) {
            snprintf(c->err, c->cap, "%s: a batch over %zu bytes: use a smaller --batch", t->name,
                     ins.max);
            rc = LEADD_ETOOBIG;
            goto out;
        }
        if (!n)
            break;
        char d[24], l[24];
        snprintf(d, sizeof(d), "%lld", done + (long long)n);
        snprintf(l, sizeof(l), "%lld", rowid);
        const char *pp[] = {t->name, d, l};
        bool ok = pg_run(c, "BEGIN") && copy_in(c, copy_sql, &ins) &&
                  pg_ok(c, PQexecParams(c->dst,
                                        "UPDATE leadd_copy SET done = $2, last_rowid = $3"
                                        " WHERE tbl = $1",
                                        3, NULL, pp, NULL, NULL, 0)) &&
                  pg_run(c, "COMMIT");
        if (!ok) {
            PQclear(PQexec(c->dst, "ROLLBACK"));
            goto out;
        }
        done += (long long)n;
        last = rowid;
        *rows = done;
    }
    rc = 0;
    goto out;
sqlerr:
    snprintf(c->err, c->cap, "reading %s: %s", t->name, sqlite3_errmsg(c->src));
out:
    sqlite3_finalize(q);
    buf_release(&sql);
    buf_release(&ins);
    return rc;
}

/* Every table's rows counted on both sides; false, with the first that
 * differs in err, when any does. */
static bool verify(struct copy *c, void (*report)(const char *table, long long rows, void *arg),
                   void *arg)
{
    for (size_t i = 0; i < LEADD_ARRAY_LEN(TABLES); i++) {
        char sql[128];
        sqlite3_stmt *q = NULL;
        long long have = -1;
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", TABLES[i].name);
        if (sqlite3_prepare_v2(c->src, sql, -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            have = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        long long got = pg_count(c, sql, NULL);
        if (have < 0 || got != have) {
            snprintf(c->err, c->cap, "%s: %lld rows in the source, %lld copied", TABLES[i].name,
                     have, got);
            return false;
        }
        if (report)
            report(TABLES[i].name, got, arg);
    }
    return true;
}

int store_copy_to_pg(const char *db_path, const char *url, size_t batch,
                     void (*report)(const char *table, long long rows, void *arg), void *arg,
                     char *err, size_t cap)
{
    struct copy c = {.batch = batch ? batch : 10000, .err = err, .cap = cap};
    int rc = LEADD_EDB, applied, lock = -1;
    err[0] = '\0';
    /* The source holds still: nothing serves it while it is copied. */
    if ((rc = lock_unserved(db_path, &lock, err, cap)))
        return rc;
    rc = LEADD_EDB;
    if (sqlite3_open_v2(db_path, &c.src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, cap, "cannot open '%s': %s", db_path, sqlite3_errmsg(c.src));
        goto out;
    }
    sqlite3_stmt *q = NULL;
    int have = -1, known = 0;
    if (sqlite3_prepare_v2(c.src, "SELECT max(version) FROM schema_migrations", -1, &q, NULL) ==
            SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        have = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    for (size_t i = 0; migrations_files[i].name; i++)
        known = (int)strtol(migrations_files[i].name, NULL, 10);
    if (have != known) {
        snprintf(err, cap,
                 have < 0 ? "'%s' is not a leadd database"
                          : "'%s' is at migration %d of %d: run leadd migrate on it first",
                 db_path, have, known);
        rc = LEADD_EINVAL;
        goto out;
    }
    if ((rc = store_pg_migrate(url, &applied, err, cap)))
        goto out;
    rc = LEADD_EDB;
    if (!(c.dst = pg_connect(url, err, cap)))
        goto out;
    if (!pg_run(&c, "CREATE TABLE IF NOT EXISTS leadd_copy (tbl text PRIMARY KEY, done bigint"
                    " NOT NULL DEFAULT 0, last_rowid bigint NOT NULL DEFAULT 0)"))
        goto out;
    /* A database that holds leads of its own is not written over. */
    long long resumed = pg_count(&c, "SELECT count(*) FROM leadd_copy", NULL);
    long long leads = pg_count(&c, "SELECT count(*) FROM leads", NULL);
    if (resumed < 0 || leads < 0)
        goto out;
    if (!resumed && leads) {
        snprintf(err, cap,
                 "the PostgreSQL database already holds %lld leads: copy into an empty"
                 " one",
                 leads);
        rc = LEADD_ECONFLICT;
        goto out;
    }
    if (resumed)
        log_info("copy: resuming (%lld tables begun)", resumed);
    for (size_t i = 0; i < LEADD_ARRAY_LEN(TABLES); i++) {
        long long rows = 0;
        if ((rc = copy_table(&c, &TABLES[i], &rows)))
            goto out;
    }
    rc = LEADD_EDB;
    for (size_t i = 0; i < LEADD_ARRAY_LEN(SEQUENCES); i++) {
        char sql[256];
        snprintf(sql, sizeof(sql),
                 "SELECT setval(pg_get_serial_sequence('%s', '%s'), coalesce(max(%s), 0) + 1,"
                 " false) FROM %s",
                 SEQUENCES[i][0], SEQUENCES[i][1], SEQUENCES[i][1], SEQUENCES[i][0]);
        if (!pg_run(&c, sql))
            goto out;
    }
    if (!verify(&c, report, arg)) {
        rc = LEADD_ECONFLICT;
        goto out;
    }
    /* SQLite folds by rowid and PostgreSQL by id (rollup.c): the first node
     * to serve counts the stats again rather than trust a mark whose meaning
     * differs (a seeded lead's old id may be past SQLite's mark) */
    rc = pg_run(&c, "DELETE FROM store_meta WHERE key = 'timezone'") &&
                 pg_run(&c, "DROP TABLE leadd_copy")
             ? 0
             : LEADD_EDB;
out:
    PQfinish(c.dst);
    sqlite3_close(c.src);
    close(lock);
    return rc;
}
