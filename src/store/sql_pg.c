/* sql_pg.c: PostgreSQL's driver of the statement interface (sql.h). A
 * statement is its SQL with ?N rewritten as $N and its parameters, sent
 * with PQexecParams at the first step (one round trip: parsed each time,
 * which for the reads here costs less than keeping named statements per
 * connection), or, kept (a writer's), prepared once per session under a
 * name; its rows are read from the one result. Many nodes write one
 * database: rows and keys are locked, and commits announced.
 *
 * A kept write whose rows nobody reads (sqls_send: a lead's consent
 * records, its deliveries) is sent in libpq's pipeline mode and not waited
 * for: it travels with the next statement that is (the next lead's
 * duplicate check, the commit), and all their results come back in one
 * round trip, where each was one. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/buf.h"
#include "leadd/log.h"
#include "pgint.h"
#include "sql_driver.h"

#define PGQ_MAX_PARAMS 8192 /* ?N at most (PostgreSQL takes 65,535) */
#define PG_AHEAD_MAX 512    /* commands sent ahead before they are read anyway */

struct pgq;

struct pgsql {
    struct sqlc base;
    PGconn *conn;
    unsigned session; /* counts connections (a reconnect is a new session) */
    unsigned names;   /* kept statements named so far */
    /* the commands sent ahead in pipeline mode, whose results are not read
     * yet, in order: the statement each prepares, or NULL for a run */
    struct pgq *ahead[PG_AHEAD_MAX];
    size_t nahead;
};

struct pgq {
    struct sqls base;
    struct pgsql *c;
    char *sql;
    int nparams, nmax; /* the parameters the SQL uses; its highest N */
    /* ?N's place among the parameters the SQL uses ($1..$nparams), 0 for
     * one it does not: PostgreSQL must know the type of each it is sent
     * (map[0..nmax]; the rest [0..nparams), all in one allocation) */
    int *map;
    char **v; /* owned copies; NULL: SQL NULL */
    int *len, *bin;
    /* each parameter's type, from how it was bound: text, bigint or bytea
     * (so "?1 IS NULL OR form = ?1" needs no cast) */
    Oid *types;
    PGresult *res;
    int row, nrows;
    bool stream;  /* rows one at a time (libpq's single-row mode) */
    bool running; /* streaming: sent, and not read to its end */
    /* pgq_keep's: prepared on the server under name, in session prepared */
    bool keep;
    char name[24];
    unsigned prepared;
};

/* What every session of leadd's sets: a write acknowledged only once it is
 * durable, whatever the server's default (a 201 means committed); no
 * parallel workers; and no JIT compiling. leadd's statements each read a
 * few rows by an index, and a plan the server guesses big (a report's
 * leads past the counters' mark, which finds none) started two workers
 * that took 35-50 ms to do 0.1 ms of work on a million leads, and past
 * jit_above_cost, on ten million, was compiled for 13-17 ms each time. */
static const char SESSION[] = "SET synchronous_commit = on;"
                              " SET max_parallel_workers_per_gather = 0; SET jit = off";

static const struct sql_driver POSTGRES;

int sqlc_pg(const char *url, struct sqlc **out, char *err, size_t cap)
{
    struct pgsql *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (!c)
        return LEADD_ENOMEM;
    if (!(c->conn = pg_connect(url, err, cap)) || !pg_sql(c->conn, SESSION, err, cap)) {
        PQfinish(c->conn);
        free(c);
        return LEADD_EDB;
    }
    c->base.drv = &POSTGRES;
    c->session = 1;
    *out = &c->base;
    return 0;
}

#define PG(c) ((struct pgsql *)(c))
#define Q(s) ((struct pgq *)(s))

/* Reads the results of what was sent ahead, and of last (NULL: none) sent
 * after them, to the pipeline's end, and leaves pipeline mode: 0, or
 * LEADD_EDB for the first that failed (those after it were not run, and
 * the transaction has failed). last's result is kept in last->res. */
static int settle(struct pgsql *c, struct pgq *last)
{
    size_t n = c->nahead + (last != NULL), failed = n;
    bool gone = !PQpipelineSync(c->conn);
    int rc = gone ? LEADD_EDB : 0;
    /* each command's result (those after a failure: "aborted"), and the
     * NULL that ends it */
    for (size_t i = 0; !gone && i < n; i++) {
        PGresult *r = PQgetResult(c->conn);
        ExecStatusType st = PQresultStatus(r);
        if ((gone = !r) || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)) {
            if (!rc)
                log_error("postgres: %s", r ? PQresultErrorMessage(r) : PQerrorMessage(c->conn));
            rc = LEADD_EDB;
            failed = i < failed ? i : failed;
        }
        if (!rc && i == c->nahead)
            last->res = r;
        else
            PQclear(r);
        while (r && (r = PQgetResult(c->conn)))
            PQclear(r);
    }
    PGresult *r = gone ? NULL : PQgetResult(c->conn); /* the pipeline's end */
    gone = gone || PQresultStatus(r) != PGRES_PIPELINE_SYNC;
    PQclear(r);
    /* a prepare from the failed command on was not made: made again next time */
    for (size_t i = failed; i < c->nahead; i++)
        if (c->ahead[i])
            c->ahead[i]->prepared = 0;
    c->nahead = 0;
    if ((gone || !PQexitPipelineMode(c->conn)) && !rc) {
        log_error("postgres: %s", PQerrorMessage(c->conn));
        rc = LEADD_EDB;
    }
    return rc;
}

/* Before a command that waits for its answer: what was sent ahead is read
 * (a failure is told by what runs next, the commit at the latest). */
static int settled(struct pgsql *c)
{
    return c->nahead ? settle(c, NULL) : 0;
}

static void pg_close(struct sqlc *c)
{
    PQfinish(PG(c)->conn);
    free(c);
}

static bool pg_ok(struct sqlc *c)
{
    return PQstatus(PG(c)->conn) == CONNECTION_OK;
}

static bool pg_reconnect(struct sqlc *c)
{
    struct pgsql *p = PG(c);
    if (PQstatus(p->conn) == CONNECTION_OK)
        return true;
    PQreset(p->conn); /* the database went away: its statements went with it */
    p->session++;
    p->nahead = 0;
    return PQstatus(p->conn) == CONNECTION_OK && pg_sql(p->conn, SESSION, NULL, 0);
}

static bool pg_in_tx(struct sqlc *c)
{
    (void)settled(PG(c)); /* a failure leaves the transaction open, and failed */
    return pg_ok(c) && PQtransactionStatus(PG(c)->conn) != PQTRANS_IDLE;
}

/* (ROLLBACK runs after a failure already told, whatever the pipeline held) */
static int pg_exec(struct sqlc *c, const char *sql)
{
    int rc = settled(PG(c));
    return pg_sql(PG(c)->conn, sql, NULL, 0) ? rc : LEADD_EDB;
}

static int pg_notify(struct sqlc *c, const char *channel)
{
    const char *v = channel;
    if (settled(PG(c)))
        return LEADD_EDB;
    PGresult *r = PQexecParams(PG(c)->conn, "SELECT pg_notify($1, '')", 1, NULL, &v, NULL, NULL, 0);
    return pg_done(r, NULL, 0) ? 0 : LEADD_EDB;
}

/* The erased rows' old versions go from the tables' pages now, not at
 * autovacuum's leisure (WAL and backups still hold them until they age
 * out: README says what PostgreSQL keeps). */
static void pg_scrub(struct sqlc *c)
{
    if (pg_exec(c, "VACUUM leads, lead_history, consents, deliveries, delivery_attempts"))
        log_warn("vacuum after erasure failed: the old versions go at the next vacuum");
}

static void pgq_keep(struct sqls *s)
{
    struct pgq *q = Q(s);
    q->keep = true;
    snprintf(q->name, sizeof(q->name), "leadd_%u", ++q->c->names);
}

/* Each ?N (a bare ?: the next number) outside quotes, in order: the highest
 * N into *max, each marked in used (when not NULL), and, with b, written as
 * $map[N]. */
static int params(const char *sql, const int *map, struct buf *b, int *used, int *max)
{
    char quote = 0;
    int next = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            quote = *p == quote ? 0 : quote;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            char *end;
            long k = strtol(p + 1, &end, 10);
            if (end == p + 1)
                k = ++next;
            else
                p = end - 1;
            if (k < 1 || k > PGQ_MAX_PARAMS)
                return LEADD_EINVAL;
            *max = (int)k > *max ? (int)k : *max;
            if (used)
                used[k] = 1;
            if (b)
                buf_addf(b, "$%d", map[k]);
            continue;
        }
        if (b)
            buf_addc(b, *p);
    }
    return b ? buf_error(b) : 0;
}

/* The SQL with the parameters it uses numbered $1.. in the order of N. */
static int rewrite(struct pgq *q, const char *sql, struct buf *b)
{
    int max = 0, rc = params(sql, NULL, NULL, NULL, &max);
    if (rc)
        return rc;
    size_t n = (size_t)max + 1;
    /* map and used, then v, len, bin and types for at most max parameters */
    char *mem = calloc(1, n * (2 * sizeof(int) + sizeof(char *) + 2 * sizeof(int) + sizeof(Oid)));
    if (!mem)
        return LEADD_ENOMEM;
    q->nmax = max;
    q->map = (int *)mem;
    int *used = q->map + n;
    q->v = (char **)(used + n);
    q->len = (int *)(q->v + n);
    q->bin = q->len + n;
    q->types = (Oid *)(q->bin + n);
    rc = params(sql, NULL, NULL, used, &max);
    for (int k = 1; !rc && k <= q->nmax; k++)
        q->map[k] = used[k] ? ++q->nparams : 0;
    return rc ? rc : params(sql, q->map, b, NULL, &max);
}

static int pgq_prepare(struct sqlc *sc, const char *sql, struct sqls **out)
{
    struct buf b = BUF_INIT(64 * 1024);
    struct pgq *q = calloc(1, sizeof(*q));
    int rc = q ? rewrite(q, sql, &b) : LEADD_ENOMEM;
    if (!rc && !(q->sql = strdup(buf_str(&b))))
        rc = LEADD_ENOMEM;
    buf_release(&b);
    *out = NULL;
    if (rc) {
        log_error("query failed to prepare: parameters");
        if (q) {
            free(q->sql);
            free(q->map);
            free(q);
        }
        return LEADD_EDB;
    }
    q->c = PG(sc);
    *out = &q->base;
    return 0;
}

static void pgq_stream(struct sqls *s)
{
    Q(s)->stream = true;
}

/* A stream left before its end is cancelled, and what is on its way read
 * and dropped: the connection is then ready for the next statement. */
static void drain(struct pgq *q)
{
    if (!q->running)
        return;
    PGcancel *cancel = PQgetCancel(q->c->conn);
    char why[128];
    if (cancel) {
        PQcancel(cancel, why, sizeof(why));
        PQfreeCancel(cancel);
    }
    PGresult *r;
    while ((r = PQgetResult(q->c->conn)))
        PQclear(r);
    q->running = false;
}

static void pgq_reset(struct sqls *s)
{
    struct pgq *q = Q(s);
    drain(q);
    PQclear(q->res);
    q->res = NULL;
    q->row = q->nrows = 0;
}

static void pgq_finalize(struct sqls *s)
{
    struct pgq *q = Q(s);
    pgq_reset(s);
    for (int i = 0; i < q->nparams; i++)
        free(q->v[i]);
    free(q->sql);
    free(q->map);
    free(q);
}

static void pgq_bind(struct sqls *s, int n_th, enum sql_type t, const void *val, size_t n,
                     bool copy)
{
    static const Oid OIDS[] = {[SQL_TEXT] = 25, [SQL_INT] = 20, [SQL_BLOB] = 17};
    struct pgq *q = Q(s);
    char num[24];
    const char *v = val;
    bool binary = t == SQL_BLOB;
    (void)copy; /* always copied */
    if (t == SQL_INT) {
        snprintf(num, sizeof(num), "%lld", *(const long long *)val);
        v = num;
    }
    if (n_th < 1 || n_th > q->nmax || !q->map[n_th])
        return; /* a parameter the SQL does not use */
    int i = q->map[n_th];
    free(q->v[i - 1]);
    q->v[i - 1] = NULL;
    q->types[i - 1] = OIDS[t];
    if (!v)
        return;
    size_t len = binary ? n : strlen(v);
    if ((q->v[i - 1] = malloc(len + 1))) {
        memcpy(q->v[i - 1], v, len);
        q->v[i - 1][len] = '\0';
    }
    q->len[i - 1] = (int)len;
    q->bin[i - 1] = binary;
}

/* The next row of a stream: each its own result. */
static int stream_step(struct pgq *q)
{
    if (!q->running && !q->res) {
        if (settled(q->c))
            return LEADD_EDB;
        if (!PQsendQueryParams(q->c->conn, q->sql, q->nparams, q->types, (const char *const *)q->v,
                               q->len, q->bin, 0)) {
            log_error("postgres: %s", PQerrorMessage(q->c->conn));
            return LEADD_EDB;
        }
        q->running = true;
        PQsetSingleRowMode(q->c->conn);
    }
    PQclear(q->res);
    q->res = NULL;
    q->nrows = q->row = 0;
    if (!q->running)
        return SQL_DONE;
    q->res = PQgetResult(q->c->conn);
    ExecStatusType st = PQresultStatus(q->res);
    if (st == PGRES_SINGLE_TUPLE) {
        q->nrows = 1;
        return SQL_ROW;
    }
    int rc = st == PGRES_TUPLES_OK ? SQL_DONE : LEADD_EDB;
    if (rc)
        log_error("postgres: %s", PQresultErrorMessage(q->res));
    PGresult *r;
    while ((r = PQgetResult(q->c->conn)))
        PQclear(r);
    q->running = false;
    return rc;
}

static int pgq_step(struct sqls *s);

/* Sends q in pipeline mode, its prepare first when this session has not
 * made it: 0, or LEADD_EDB (libpq's buffer, the connection). */
static int send_ahead(struct pgq *q)
{
    struct pgsql *c = q->c;
    const char *const *v = (const char *const *)q->v;
    if (!c->nahead && !PQenterPipelineMode(c->conn))
        return LEADD_EDB;
    if (q->keep && q->prepared != c->session) {
        /* types from the SQL: a parameter bound NULL one time and a number
         * the next must not fix its type */
        if (!PQsendPrepare(c->conn, q->name, q->sql, q->nparams, NULL))
            return LEADD_EDB;
        c->ahead[c->nahead++] = q;
        q->prepared = c->session;
    }
    return (q->keep
                ? PQsendQueryPrepared(c->conn, q->name, q->nparams, v, q->len, q->bin, 0)
                : PQsendQueryParams(c->conn, q->sql, q->nparams, q->types, v, q->len, q->bin, 0))
               ? 0
               : LEADD_EDB;
}

static int pgq_send(struct sqls *s)
{
    struct pgq *q = Q(s);
    struct pgsql *c = q->c;
    /* room for its prepare and its run, and for the prepare of the
     * statement that will read them */
    int rc = q->keep && !q->stream && c->nahead + 3 > PG_AHEAD_MAX ? settle(c, NULL) : 0;
    if (rc || !q->keep || q->stream) { /* the one round trip it would be anyway */
        rc = rc ? rc : pgq_step(s);
        pgq_reset(s);
        return rc < 0 ? rc : 0;
    }
    if ((rc = send_ahead(q))) {
        log_error("postgres: %s", PQerrorMessage(c->conn));
        settle(c, NULL);
        return rc;
    }
    c->ahead[c->nahead++] = NULL;
    return 0;
}

static int pgq_step(struct sqls *s)
{
    struct pgq *q = Q(s);
    if (q->stream)
        return stream_step(q);
    if (q->res)
        return ++q->row < q->nrows ? SQL_ROW : SQL_DONE;
    if (q->c->nahead) { /* it goes after them, and they come back with it */
        if (send_ahead(q)) {
            log_error("postgres: %s", PQerrorMessage(q->c->conn));
            settle(q->c, NULL);
            return LEADD_EDB;
        }
        if (settle(q->c, q))
            return LEADD_EDB;
    } else if (q->keep && q->prepared != q->c->session) {
        PGresult *p = PQprepare(q->c->conn, q->name, q->sql, q->nparams, NULL);
        if (!pg_done(p, NULL, 0))
            return LEADD_EDB;
        q->prepared = q->c->session;
    }
    if (!q->res)
        q->res = q->keep ? PQexecPrepared(q->c->conn, q->name, q->nparams,
                                          (const char *const *)q->v, q->len, q->bin, 0)
                         : PQexecParams(q->c->conn, q->sql, q->nparams, q->types,
                                        (const char *const *)q->v, q->len, q->bin, 0);
    ExecStatusType st = PQresultStatus(q->res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        log_error("postgres: %s", PQresultErrorMessage(q->res));
        return LEADD_EDB;
    }
    q->nrows = PQntuples(q->res);
    q->row = 0;
    return q->nrows ? SQL_ROW : SQL_DONE;
}

static const char *pgq_col(struct sqls *s, int i)
{
    struct pgq *q = Q(s);
    if (!q->res || q->row >= q->nrows || PQgetisnull(q->res, q->row, i))
        return NULL;
    return PQgetvalue(q->res, q->row, i);
}

static int pgq_col_blob(struct sqls *s, int i, void *out, size_t cap, size_t *len)
{
    const char *v = pgq_col(s, i);
    size_t n = 0;
    *len = 0;
    if (!v)
        return 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)v, &n);
    if (!b)
        return LEADD_ENOMEM;
    int rc = n > cap ? LEADD_ETOOBIG : 0;
    if (!rc) {
        memcpy(out, b, n);
        *len = n;
    }
    PQfreemem(b);
    return rc;
}

static long long pgq_changes(struct sqls *s)
{
    struct pgq *q = Q(s);
    return q->res ? strtoll(PQcmdTuples(q->res), NULL, 10) : 0;
}

static size_t pgq_col_len(struct sqls *s, int i)
{
    struct pgq *q = Q(s);
    return q->res && q->row < q->nrows ? (size_t)PQgetlength(q->res, q->row, i) : 0;
}

static long long pgq_col_int(struct sqls *s, int i)
{
    const char *v = pgq_col(s, i);
    /* a boolean comes as t or f in PostgreSQL's text format */
    return !v ? 0 : *v == 't' ? 1 : *v == 'f' ? 0 : strtoll(v, NULL, 10);
}

static bool pgq_col_null(struct sqls *s, int i)
{
    return !pgq_col(s, i);
}

static const struct sql_driver POSTGRES = {
    .bytewise = " COLLATE \"C\"",
    .fold_open = "lower(", /* "C"'s lower() folds ASCII letters alone */
    .fold_close = " COLLATE \"C\")",
    .agg_open = "string_agg(",
    .agg_close = " ORDER BY rowid)",
    .begin_read = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    .migrations = pg_migrations_files,
    .migrations_table = "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY"
                        " KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    /* a session's lock, held until unlocked or the connection goes: a node
     * that dies midway lets the next take over; "leadd" in ASCII */
    .migrate_lock = "SELECT pg_advisory_lock(465557349476)",
    .migrate_unlock = "SELECT pg_advisory_unlock(465557349476)",
    .index_hints = false,
    .for_update = " FOR UPDATE",
    .begin_write = "BEGIN",
    /* in the array's order: the subquery's rows, by their ordinality */
    .lock_sql = "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0)))::text FROM (SELECT k"
                " FROM unnest(?1::text[]) WITH ORDINALITY AS u(k, i) ORDER BY i) AS s",
    .alone = false,
    .linger_us = 1500,
    .close = pg_close,
    .ok = pg_ok,
    .reconnect = pg_reconnect,
    .in_tx = pg_in_tx,
    .exec = pg_exec,
    .notify = pg_notify,
    .scrub = pg_scrub,
    .prepare = pgq_prepare,
    .finalize = pgq_finalize,
    .bind = pgq_bind,
    .keep = pgq_keep,
    .stream = pgq_stream,
    .step = pgq_step,
    .send = pgq_send,
    .reset = pgq_reset,
    .col = pgq_col,
    .col_len = pgq_col_len,
    .col_int = pgq_col_int,
    .col_null = pgq_col_null,
    .col_blob = pgq_col_blob,
    .changes = pgq_changes,
};
