/* sql_sqlite.c: SQLite's driver of the statement interface (sql.h). One
 * process writes the file (store_lock), so a write transaction locks the
 * whole database and nothing is announced to other nodes. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/log.h"
#include "sql_driver.h"

struct lite {
    struct sqlc base;
    sqlite3 *db;
};

struct lite_stmt {
    struct sqls base;
    sqlite3_stmt *st;
};

#define DB(c) (((struct lite *)(c))->db)
#define ST(s) (((struct lite_stmt *)(s))->st)

/* The last connection's close checkpoints the WAL into the main file. */
static void lite_close(struct sqlc *c)
{
    sqlite3_close(DB(c));
    free(c);
}

static bool lite_ok(struct sqlc *c)
{
    (void)c;
    return true;
}

static bool lite_in_tx(struct sqlc *c)
{
    return !sqlite3_get_autocommit(DB(c));
}

static int lite_exec(struct sqlc *c, const char *sql)
{
    char *err = NULL;
    int r = sqlite3_exec(DB(c), sql, NULL, NULL, &err);
    if (r != SQLITE_OK)
        log_error("query failed: %s", err ? err : sqlite3_errmsg(DB(c)));
    sqlite3_free(err);
    return r == SQLITE_OK ? 0 : r == SQLITE_FULL ? LEADD_EFULL : LEADD_EDB;
}

static int lite_notify(struct sqlc *c, const char *channel)
{
    (void)c;
    (void)channel;
    return 0; /* no other node to tell */
}

/* The erased pages into the main file and the WAL emptied, so the old
 * bytes stay in neither. Readers in the middle of a long read can delay
 * this; the next erasure or the close at shutdown finishes it. */
static void lite_scrub(struct sqlc *c)
{
    int logged, ckpt;
    if (sqlite3_wal_checkpoint_v2(DB(c), NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &ckpt) !=
        SQLITE_OK)
        log_warn("checkpoint after erasure incomplete: %s", sqlite3_errmsg(DB(c)));
}

static int lite_prepare(struct sqlc *c, const char *sql, struct sqls **out)
{
    struct lite_stmt *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s)
        return LEADD_ENOMEM;
    if (sqlite3_prepare_v2(DB(c), sql, -1, &s->st, NULL) != SQLITE_OK) {
        log_error("query failed to prepare: %s", sqlite3_errmsg(DB(c)));
        sqlite3_finalize(s->st);
        free(s);
        return LEADD_EDB;
    }
    *out = &s->base;
    return 0;
}

static void lite_finalize(struct sqls *s)
{
    sqlite3_finalize(ST(s));
    free(s);
}

static void lite_bind(struct sqls *s, int i, enum sql_type t, const void *v, size_t n, bool copy)
{
    switch (t) {
    case SQL_TEXT:
        if (v)
            sqlite3_bind_text(ST(s), i, v, -1, copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
        else
            sqlite3_bind_null(ST(s), i);
        break;
    case SQL_INT: sqlite3_bind_int64(ST(s), i, *(const long long *)v); break;
    case SQL_BLOB: sqlite3_bind_blob(ST(s), i, v, (int)n, SQLITE_TRANSIENT); break;
    }
}

static void lite_nothing(struct sqls *s)
{
    (void)s; /* kept: prepared once already; streamed: steps read as they go */
}

static int lite_step(struct sqls *s)
{
    int r = sqlite3_step(ST(s));
    if (r == SQLITE_ROW || r == SQLITE_DONE)
        return r == SQLITE_ROW ? SQL_ROW : SQL_DONE;
    log_error("query failed: %s", sqlite3_errmsg(DB(s->c)));
    return r == SQLITE_FULL ? LEADD_EFULL : LEADD_EDB;
}

static void lite_reset(struct sqls *s)
{
    sqlite3_reset(ST(s));
}

/* One writer, in process: nothing to save by sending later. */
static int lite_send(struct sqls *s)
{
    int r = lite_step(s);
    lite_reset(s);
    return r < 0 ? r : 0;
}

static const char *lite_col(struct sqls *s, int i)
{
    return (const char *)sqlite3_column_text(ST(s), i);
}

static size_t lite_col_len(struct sqls *s, int i)
{
    return (size_t)sqlite3_column_bytes(ST(s), i);
}

static long long lite_col_int(struct sqls *s, int i)
{
    return (long long)sqlite3_column_int64(ST(s), i);
}

static bool lite_col_null(struct sqls *s, int i)
{
    return sqlite3_column_type(ST(s), i) == SQLITE_NULL;
}

static int lite_col_blob(struct sqls *s, int i, void *out, size_t cap, size_t *len)
{
    const void *v = sqlite3_column_blob(ST(s), i);
    size_t n = (size_t)sqlite3_column_bytes(ST(s), i);
    *len = v ? n : 0;
    if (n > cap)
        return LEADD_ETOOBIG;
    if (v)
        memcpy(out, v, n);
    return 0;
}

static long long lite_changes(struct sqls *s)
{
    return sqlite3_changes(DB(s->c));
}

static const struct sql_driver SQLITE = {
    .bytewise = "",
    .fold_open = "", /* LIKE folds ASCII letters itself */
    .fold_close = "",
    .agg_open = "group_concat(",
    .agg_close = ")",
    .begin_read = "BEGIN",
    .migrations = migrations_files,
    .migrations_table = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY"
                        " KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT"
                        " (strftime('%Y-%m-%dT%H:%M:%fZ','now')))",
    .migrate_lock = NULL, /* one leadd has the file (store_lock), BEGIN IMMEDIATE the rest */
    .migrate_unlock = NULL,
    .index_hints = true,
    .for_update = "",
    .begin_write = "BEGIN IMMEDIATE",
    .lock_sql = NULL,
    .alone = true,
    .linger_us = 0, /* a commit costs little: fuller batches save nothing (bench/ab.sh) */
    .close = lite_close,
    .ok = lite_ok,
    .reconnect = lite_ok,
    .in_tx = lite_in_tx,
    .exec = lite_exec,
    .notify = lite_notify,
    .scrub = lite_scrub,
    .prepare = lite_prepare,
    .finalize = lite_finalize,
    .bind = lite_bind,
    .keep = lite_nothing,
    .stream = lite_nothing,
    .step = lite_step,
    .send = lite_send,
    .reset = lite_reset,
    .col = lite_col,
    .col_len = lite_col_len,
    .col_int = lite_col_int,
    .col_null = lite_col_null,
    .col_blob = lite_col_blob,
    .changes = lite_changes,
};

/* Without this SQLite counts every allocation under one global mutex,
 * which every thread's statements contend on; leadd never reads the
 * counts. Only possible before SQLite initializes: once, first thing. */
static void sqlite_config(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* The file at path, read-only or read-write with leadd's pragmas; logged
 * on failure. */
static int open_file(const char *path, bool readonly, bool durable_full, sqlite3 **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char pragmas[512], *err = NULL;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    pthread_once(&once, sqlite_config);
    *out = NULL;
    if (sqlite3_open_v2(path, out, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        log_error("unable to open database '%s': %s", path,
                  *out ? sqlite3_errmsg(*out) : "no memory");
        return LEADD_EDB;
    }
    sqlite3_busy_timeout(*out, 5000);
    if (readonly)
        return 0;
    /* secure_delete: erased personal data is overwritten, not left in free pages. */
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;"
             "PRAGMA secure_delete=ON; PRAGMA temp_store=MEMORY;",
             durable_full ? "FULL" : "NORMAL");
    if (sqlite3_exec(*out, pragmas, NULL, NULL, &err) == SQLITE_OK)
        return 0;
    log_error("unable to set up database '%s': %s", path, err ? err : "?");
    sqlite3_free(err);
    return LEADD_EDB;
}

int sqlc_sqlite_open(const char *path, bool readonly, bool durable_full, struct sqlc **out)
{
    sqlite3 *db = NULL;
    *out = NULL;
    int rc = open_file(path, readonly, durable_full, &db);
    struct lite *c = rc ? NULL : calloc(1, sizeof(*c));
    if (!c) {
        sqlite3_close(db);
        return rc ? rc : LEADD_ENOMEM;
    }
    c->base.drv = &SQLITE;
    c->db = db;
    *out = &c->base;
    return 0;
}
