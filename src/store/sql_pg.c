/* sql_pg.c: the statement interface (sql.h) on PostgreSQL. A statement is
 * its SQL with ?N rewritten as $N and its parameters, sent with
 * PQexecParams at the first step (one round trip: parsed each time, which
 * for the reads here costs less than keeping named statements per
 * connection); its rows are read from the one result. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/buf.h"
#include "leadd/log.h"
#include "pgint.h"
#include "sql.h"

#define PGQ_MAX_PARAMS 64

struct pgsql {
    PGconn *conn;
    bool borrowed;    /* pgsql_wrap's: its owner closes it */
    unsigned session; /* counts connections (a reconnect is a new session) */
    unsigned names;   /* kept statements named so far */
};

struct pgq {
    struct pgsql *c;
    char *sql;
    int nparams;
    /* ?N's place among the parameters the SQL uses ($1..$nparams), 0 for
     * one it does not: PostgreSQL must know the type of each it is sent */
    int map[PGQ_MAX_PARAMS + 1];
    char *v[PGQ_MAX_PARAMS]; /* owned copies; NULL: SQL NULL */
    int len[PGQ_MAX_PARAMS], bin[PGQ_MAX_PARAMS];
    /* each parameter's type, from how it was bound: text, bigint or bytea
     * (so "?1 IS NULL OR form = ?1" needs no cast) */
    Oid types[PGQ_MAX_PARAMS];
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
 * durable, whatever the server's default (a 201 means committed). */
static const char SESSION[] = "SET synchronous_commit = on";

int pgsql_connect(const char *url, struct pgsql **out, char *err, size_t cap)
{
    struct pgsql *c = calloc(1, sizeof(*c));
    if (!c)
        return LEADD_ENOMEM;
    if (!(c->conn = pg_connect(url, err, cap)) || !pg_sql(c->conn, SESSION, err, cap)) {
        PQfinish(c->conn);
        free(c);
        *out = NULL;
        return LEADD_EDB;
    }
    c->session = 1;
    *out = c;
    return 0;
}

bool pgsql_reconnect(struct pgsql *c)
{
    if (PQstatus(c->conn) == CONNECTION_OK)
        return true;
    PQreset(c->conn); /* the database went away: its statements went with it */
    c->session++;
    return PQstatus(c->conn) == CONNECTION_OK && pg_sql(c->conn, SESSION, NULL, 0);
}

bool pgsql_in_tx(struct pgsql *c)
{
    return PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) != PQTRANS_IDLE;
}

void pgq_keep(struct pgq *q)
{
    q->keep = true;
    snprintf(q->name, sizeof(q->name), "leadd_%u", ++q->c->names);
}

int pgsql_wrap(struct pg_conn *conn, struct pgsql **out)
{
    if (!(*out = calloc(1, sizeof(**out))))
        return LEADD_ENOMEM;
    (*out)->conn = conn;
    (*out)->borrowed = true;
    return 0;
}

void pgsql_close(struct pgsql *c)
{
    if (!c->borrowed)
        PQfinish(c->conn);
    free(c);
}

bool pgsql_ok(struct pgsql *c)
{
    return PQstatus(c->conn) == CONNECTION_OK;
}

void pgsql_exec(struct pgsql *c, const char *sql)
{
    PGresult *r = PQexec(c->conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        log_error("postgres: %s", PQresultErrorMessage(r));
    PQclear(r);
}

/* Each ?N (a bare ?: the next number) outside quotes, in order: marked in
 * used, and, with b, written as $map[N]. */
static int params(const char *sql, const int *map, struct buf *b, int *used)
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
    int used[PGQ_MAX_PARAMS + 1] = {0};
    int rc = params(sql, NULL, NULL, used);
    for (int k = 1; !rc && k <= PGQ_MAX_PARAMS; k++)
        q->map[k] = used[k] ? ++q->nparams : 0;
    return rc ? rc : params(sql, q->map, b, NULL);
}

int pgq_prepare(struct pgsql *c, const char *sql, struct pgq **out)
{
    struct buf b = BUF_INIT(64 * 1024);
    struct pgq *q = calloc(1, sizeof(*q));
    int rc = q ? rewrite(q, sql, &b) : LEADD_ENOMEM;
    if (!rc && !(q->sql = strdup(buf_str(&b))))
        rc = LEADD_ENOMEM;
    buf_release(&b);
    if (rc) {
        log_error("query failed to prepare: parameters");
        if (q)
            pgq_finalize(q);
        q = NULL;
        rc = LEADD_EDB;
    } else {
        q->c = c;
    }
    *out = q;
    return rc;
}

void pgq_stream(struct pgq *q)
{
    q->stream = true;
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

void pgq_reset(struct pgq *q)
{
    drain(q);
    PQclear(q->res);
    q->res = NULL;
    q->row = q->nrows = 0;
}

void pgq_finalize(struct pgq *q)
{
    pgq_reset(q);
    for (int i = 0; i < PGQ_MAX_PARAMS; i++)
        free(q->v[i]);
    free(q->sql);
    free(q);
}

void pgq_bind(struct pgq *q, int n_th, const char *v, size_t n, enum pgq_type t)
{
    static const Oid OIDS[] = {[PGQ_TEXT] = 25, [PGQ_INT] = 20, [PGQ_BLOB] = 17};
    bool binary = t == PGQ_BLOB;
    if (n_th < 1 || n_th > PGQ_MAX_PARAMS || !q->map[n_th])
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

int pgq_step(struct pgq *q)
{
    if (q->stream)
        return stream_step(q);
    if (q->res)
        return ++q->row < q->nrows ? SQL_ROW : SQL_DONE;
    if (q->keep && q->prepared != q->c->session) {
        /* types from the SQL: a parameter bound NULL one time and a number
         * the next must not fix its type */
        PGresult *p = PQprepare(q->c->conn, q->name, q->sql, q->nparams, NULL);
        if (!pg_done(p, NULL, 0))
            return LEADD_EDB;
        q->prepared = q->c->session;
    }
    q->res = q->keep ? PQexecPrepared(q->c->conn, q->name, q->nparams, (const char *const *)q->v,
                                      q->len, q->bin, 0)
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

const char *pgq_col(struct pgq *q, int i)
{
    if (!q->res || q->row >= q->nrows || PQgetisnull(q->res, q->row, i))
        return NULL;
    return PQgetvalue(q->res, q->row, i);
}

int pgq_col_blob(struct pgq *q, int i, void *out, size_t cap, size_t *len)
{
    const char *v = pgq_col(q, i);
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

long long pgq_changes(struct pgq *q)
{
    return q->res ? strtoll(PQcmdTuples(q->res), NULL, 10) : 0;
}

size_t pgq_col_len(struct pgq *q, int i)
{
    return q->res && q->row < q->nrows ? (size_t)PQgetlength(q->res, q->row, i) : 0;
}
