/* sql.c: the statement interface (sql.h) on SQLite, and the dispatch to
 * PostgreSQL's driver (sql_pg.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/log.h"
#include "sql.h"

struct sqlc {
    enum sql_backend be;
    sqlite3 *lite;     /* SQL_SQLITE: borrowed */
    struct pgsql *pg;  /* SQL_POSTGRES: owned */
    struct sqls *lock; /* sql_lock's, kept (prepared on the first lock) */
};

struct sqls {
    struct sqlc *c;
    sqlite3_stmt *lite;
    struct pgq *pg;
};

int sqlc_sqlite(sqlite3 *db, struct sqlc **out)
{
    if (!(*out = calloc(1, sizeof(**out))))
        return LEADD_ENOMEM;
    (*out)->be = SQL_SQLITE;
    (*out)->lite = db;
    return 0;
}

int sqlc_pg(const char *url, struct sqlc **out, char *err, size_t cap)
{
    struct sqlc *c = calloc(1, sizeof(*c));
    if (!c)
        return LEADD_ENOMEM;
    c->be = SQL_POSTGRES;
    int rc = pgsql_connect(url, &c->pg, err, cap);
    if (rc)
        free(c);
    *out = rc ? NULL : c;
    return rc;
}

int sqlc_pgconn(struct pg_conn *conn, struct sqlc **out)
{
    struct sqlc *c = calloc(1, sizeof(*c));
    int rc = c ? pgsql_wrap(conn, &c->pg) : LEADD_ENOMEM;
    if (rc) {
        free(c);
        c = NULL;
    } else {
        c->be = SQL_POSTGRES;
    }
    *out = c;
    return rc;
}

void sqlc_close(struct sqlc **cp)
{
    if (!*cp)
        return;
    sqls_finalize(&(*cp)->lock);
    if ((*cp)->pg)
        pgsql_close((*cp)->pg);
    free(*cp);
    *cp = NULL;
}

enum sql_backend sql_backend(const struct sqlc *c)
{
    return c->be;
}

const char *sql_bytewise(const struct sqlc *c)
{
    return c->be == SQL_POSTGRES ? " COLLATE \"C\"" : "";
}

bool sqlc_ok(struct sqlc *c)
{
    return c->be == SQL_SQLITE || pgsql_ok(c->pg);
}

void sql_begin_read(struct sqlc *c)
{
    if (c->be == SQL_SQLITE)
        sqlite3_exec(c->lite, "BEGIN", NULL, NULL, NULL);
    else
        pgsql_exec(c->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

void sql_end_read(struct sqlc *c)
{
    if (c->be == SQL_SQLITE)
        sqlite3_exec(c->lite, "COMMIT", NULL, NULL, NULL);
    else
        pgsql_exec(c->pg, "COMMIT");
}

int sql_exec(struct sqlc *c, long long *changes, const char *sql, const char *types, ...)
{
    struct sqls *s = NULL;
    va_list ap;
    int rc = sqls_prepare(c, sql, &s);
    va_start(ap, types);
    for (int i = 0; !rc && types[i]; i++) {
        switch (types[i]) {
        case 't': sqls_text(s, i + 1, va_arg(ap, const char *), false); break;
        case 'i': sqls_int(s, i + 1, va_arg(ap, long long)); break;
        case 'b': sqls_blob(s, i + 1, va_arg(ap, const unsigned char *), 32); break;
        default: break; /* 'n': NULL (left unbound), taking no argument */
        }
    }
    va_end(ap);
    if (!rc && (rc = sqls_step(s)) > 0)
        rc = 0; /* a row: the statement ran */
    if (!rc && changes)
        *changes = s->pg ? pgq_changes(s->pg) : sqlite3_changes(c->lite);
    sqls_finalize(&s);
    return rc;
}

int sqls_prepare(struct sqlc *c, const char *sql, struct sqls **out)
{
    struct sqls *s = calloc(1, sizeof(*s));
    int rc = s ? 0 : LEADD_ENOMEM;
    if (rc)
        goto out;
    s->c = c;
    if (c->be == SQL_POSTGRES) {
        rc = pgq_prepare(c->pg, sql, &s->pg);
    } else if (sqlite3_prepare_v2(c->lite, sql, -1, &s->lite, NULL) != SQLITE_OK) {
        log_error("query failed to prepare: %s", sqlite3_errmsg(c->lite));
        rc = LEADD_EDB;
    }
out:
    if (rc && s)
        sqls_finalize(&s);
    *out = s;
    return rc;
}

void sqls_finalize(struct sqls **sp)
{
    struct sqls *s = *sp;
    if (!s)
        return;
    sqlite3_finalize(s->lite);
    if (s->pg)
        pgq_finalize(s->pg);
    free(s);
    *sp = NULL;
}

void sqls_text(struct sqls *s, int i, const char *v, bool copy)
{
    if (s->pg)
        pgq_bind(s->pg, i, v, 0, PGQ_TEXT);
    else
        sqlite3_bind_text(s->lite, i, v, -1, copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
}

void sqls_int(struct sqls *s, int i, long long v)
{
    if (s->pg) {
        char t[24];
        snprintf(t, sizeof(t), "%lld", v);
        pgq_bind(s->pg, i, t, 0, PGQ_INT);
    } else {
        sqlite3_bind_int64(s->lite, i, v);
    }
}

void sqls_blob(struct sqls *s, int i, const void *v, size_t n)
{
    if (s->pg)
        pgq_bind(s->pg, i, v, n, PGQ_BLOB);
    else
        sqlite3_bind_blob(s->lite, i, v, (int)n, SQLITE_TRANSIENT);
}

void sqls_stream(struct sqls *s)
{
    if (s->pg)
        pgq_stream(s->pg); /* SQLite's steps read as they go already */
}

int sqls_step(struct sqls *s)
{
    if (s->pg)
        return pgq_step(s->pg);
    int r = sqlite3_step(s->lite);
    if (r == SQLITE_ROW || r == SQLITE_DONE)
        return r == SQLITE_ROW ? SQL_ROW : SQL_DONE;
    log_error("query failed: %s", sqlite3_errmsg(s->c->lite));
    return r == SQLITE_FULL ? LEADD_EFULL : LEADD_EDB;
}

void sqls_reset(struct sqls *s)
{
    if (s->pg)
        pgq_reset(s->pg);
    else
        sqlite3_reset(s->lite);
}

const char *sqls_col(struct sqls *s, int i)
{
    return s->pg ? pgq_col(s->pg, i) : (const char *)sqlite3_column_text(s->lite, i);
}

size_t sqls_col_len(struct sqls *s, int i)
{
    return s->pg ? pgq_col_len(s->pg, i) : (size_t)sqlite3_column_bytes(s->lite, i);
}

long long sqls_col_int(struct sqls *s, int i)
{
    if (!s->pg)
        return (long long)sqlite3_column_int64(s->lite, i);
    const char *v = pgq_col(s->pg, i);
    /* a boolean comes as t or f in PostgreSQL's text format */
    return !v ? 0 : *v == 't' ? 1 : *v == 'f' ? 0 : strtoll(v, NULL, 10);
}

bool sqls_col_null(struct sqls *s, int i)
{
    return s->pg ? !pgq_col(s->pg, i) : sqlite3_column_type(s->lite, i) == SQLITE_NULL;
}

const char *sql_begin_write_sql(const struct sqlc *c)
{
    return c->be == SQL_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN";
}

void sql_rollback(struct sqlc *c)
{
    bool open = c->be == SQL_SQLITE ? !sqlite3_get_autocommit(c->lite) : pgsql_in_tx(c->pg);
    if (open && sql_exec(c, NULL, "ROLLBACK", ""))
        log_warn("rollback failed: the connection ends the transaction");
}

bool sql_reconnect(struct sqlc *c)
{
    return c->be == SQL_SQLITE || pgsql_reconnect(c->pg);
}

bool sql_alone(const struct sqlc *c)
{
    return c->be == SQL_SQLITE;
}

const char *sql_for_update(const struct sqlc *c)
{
    return c->be == SQL_POSTGRES ? " FOR UPDATE" : "";
}

int sql_lock(struct sqlc *c, const char *key)
{
    if (c->be == SQL_SQLITE)
        return 0;
    if (!c->lock) { /* a batch takes one a lead: parsed once */
        if (sqls_prepare(c, "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))::text",
                         &c->lock))
            return LEADD_EDB;
        sqls_keep(c->lock);
    }
    sqls_text(c->lock, 1, key, false);
    int r = sqls_step(c->lock);
    sqls_reset(c->lock);
    return r < 0 ? r : 0;
}

int sql_notify(struct sqlc *c, const char *channel)
{
    if (c->be == SQL_SQLITE)
        return 0;
    return sql_exec(c, NULL, "SELECT pg_notify(?1, '')::text", "t", channel);
}

void sql_scrub(struct sqlc *c)
{
    if (c->be == SQL_POSTGRES) {
        /* WAL and backups still hold the old versions until they age out
         * (README says what PostgreSQL keeps) */
        if (sql_exec(c, NULL, "VACUUM leads, lead_history, consents, deliveries, delivery_attempts",
                     ""))
            log_warn("vacuum after erasure failed: the old versions go at the next vacuum");
        return;
    }
    /* Readers in the middle of a long read can delay this; the next
     * erasure or the close at shutdown finishes it. */
    int logged, ckpt;
    if (sqlite3_wal_checkpoint_v2(c->lite, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &ckpt) !=
        SQLITE_OK)
        log_warn("checkpoint after erasure incomplete: %s", sqlite3_errmsg(c->lite));
}

void sqls_keep(struct sqls *s)
{
    if (s->pg)
        pgq_keep(s->pg); /* SQLite's statements are prepared once already */
}

int sqls_col_blob(struct sqls *s, int i, void *out, size_t cap, size_t *len)
{
    if (s->pg)
        return pgq_col_blob(s->pg, i, out, cap, len);
    size_t n = (size_t)sqlite3_column_bytes(s->lite, i);
    const void *v = sqlite3_column_blob(s->lite, i);
    *len = v ? n : 0;
    if (n > cap)
        return LEADD_ETOOBIG;
    if (v)
        memcpy(out, v, n);
    return 0;
}

long long sqls_changes(struct sqls *s)
{
    return s->pg ? pgq_changes(s->pg) : sqlite3_changes(s->c->lite);
}
