/* sql.c: the statement interface (sql.h), each call handed to the
 * connection's driver (sql_driver.h: sql_sqlite.c, sql_pg.c), and what is
 * written once on top of them (sql_exec, sql_lock's kept statement). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/buf.h"
#include "leadd/log.h"
#include "sql_driver.h"

void sqlc_close(struct sqlc **cp)
{
    if (!*cp)
        return;
    sqls_finalize(&(*cp)->lock);
    (*cp)->drv->close(*cp);
    *cp = NULL;
}

const char *sql_bytewise(const struct sqlc *c)
{
    return c->drv->bytewise;
}

void sql_fold(const struct sqlc *c, const char **open, const char **close)
{
    *open = c->drv->fold_open;
    *close = c->drv->fold_close;
}

void sql_agg_in_order(const struct sqlc *c, const char **open, const char **close)
{
    *open = c->drv->agg_open;
    *close = c->drv->agg_close;
}

bool sql_index_hints(const struct sqlc *c)
{
    return c->drv->index_hints;
}

bool sqlc_ok(struct sqlc *c)
{
    return c->drv->ok(c);
}

void sql_begin_read(struct sqlc *c)
{
    /* one snapshot: SQLite's read transaction; PostgreSQL's REPEATABLE READ */
    c->drv->exec(c, c->drv->begin_read);
}

void sql_end_read(struct sqlc *c)
{
    c->drv->exec(c, "COMMIT");
}

const char *sql_begin_write_sql(const struct sqlc *c)
{
    return c->drv->begin_write;
}

void sql_rollback(struct sqlc *c)
{
    if (c->drv->in_tx(c) && c->drv->exec(c, "ROLLBACK"))
        log_warn("rollback failed: the connection ends the transaction");
}

bool sql_reconnect(struct sqlc *c)
{
    return c->drv->reconnect(c);
}

bool sql_alone(const struct sqlc *c)
{
    return c->drv->alone;
}

unsigned sql_batch_linger_us(const struct sqlc *c)
{
    return c->drv->linger_us;
}

const char *sql_for_update(const struct sqlc *c)
{
    return c->drv->for_update;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sql_lock(struct sqlc *c, char **keys, size_t n)
{
    if (!c->drv->lock_sql || !n)
        return 0;
    qsort(keys, n, sizeof(*keys), cmp_str);
    if (!c->lock) { /* every batch locks its keys: parsed once */
        if (sqls_prepare(c, c->drv->lock_sql, &c->lock))
            return LEADD_EDB;
        sqls_keep(c->lock);
    }
    /* the keys as one array literal, {"k1","k2"}: one round trip */
    struct buf a = BUF_INIT(8u << 20);
    buf_addc(&a, '{');
    for (size_t i = 0; i < n; i++) {
        if (i && !strcmp(keys[i - 1], keys[i]))
            continue; /* a key the batch touches twice, locked once */
        buf_adds(&a, a.len > 1 ? ",\"" : "\"");
        for (const char *p = keys[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_addc(&a, '\\');
            buf_addc(&a, *p);
        }
        buf_addc(&a, '"');
    }
    buf_addc(&a, '}');
    int r = buf_error(&a);
    if (!r) {
        sqls_text(c->lock, 1, buf_str(&a), false);
        r = sqls_step(c->lock);
        sqls_reset(c->lock);
    }
    buf_release(&a);
    return r < 0 ? r : 0;
}

int sql_notify(struct sqlc *c, const char *channel)
{
    return c->drv->notify(c, channel);
}

void sql_scrub(struct sqlc *c)
{
    c->drv->scrub(c);
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
        *changes = sqls_changes(s);
    sqls_finalize(&s);
    return rc;
}

int sqls_prepare(struct sqlc *c, const char *sql, struct sqls **out)
{
    int rc = c->drv->prepare(c, sql, out);
    if (!rc)
        (*out)->c = c;
    return rc;
}

void sqls_finalize(struct sqls **sp)
{
    if (*sp)
        (*sp)->c->drv->finalize(*sp);
    *sp = NULL;
}

void sqls_text(struct sqls *s, int i, const char *v, bool copy)
{
    s->c->drv->bind(s, i, SQL_TEXT, v, 0, copy);
}

void sqls_int(struct sqls *s, int i, long long v)
{
    s->c->drv->bind(s, i, SQL_INT, &v, sizeof(v), true);
}

void sqls_blob(struct sqls *s, int i, const void *v, size_t n)
{
    s->c->drv->bind(s, i, SQL_BLOB, v, n, true);
}

void sqls_keep(struct sqls *s)
{
    s->c->drv->keep(s);
}

void sqls_stream(struct sqls *s)
{
    s->c->drv->stream(s);
}

int sqls_step(struct sqls *s)
{
    return s->c->drv->step(s);
}

int sqls_send(struct sqls *s)
{
    return s->c->drv->send(s);
}

void sqls_reset(struct sqls *s)
{
    s->c->drv->reset(s);
}

const char *sqls_col(struct sqls *s, int i)
{
    return s->c->drv->col(s, i);
}

size_t sqls_col_len(struct sqls *s, int i)
{
    return s->c->drv->col_len(s, i);
}

long long sqls_col_int(struct sqls *s, int i)
{
    return s->c->drv->col_int(s, i);
}

bool sqls_col_null(struct sqls *s, int i)
{
    return s->c->drv->col_null(s, i);
}

int sqls_col_blob(struct sqls *s, int i, void *out, size_t cap, size_t *len)
{
    return s->c->drv->col_blob(s, i, out, cap, len);
}

long long sqls_changes(struct sqls *s)
{
    return s->c->drv->changes(s);
}

int sql_rows(struct buf *b, const char *head, size_t n, const char *row, const char *tail)
{
    buf_reset(b);
    buf_adds(b, head);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_adds(b, ", ");
        buf_adds(b, row);
    }
    buf_adds(b, tail);
    return buf_error(b);
}

void sql_kept_init(struct sql_kept *k, int ncols, size_t max_text, size_t max_rows)
{
    *k = (struct sql_kept){.ncols = ncols, .max_rows = max_rows};
    buf_init(&k->text, max_text);
}

int sql_keep(struct sql_kept *k, struct sqls *s, int from)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        if (k->n >= k->max_rows)
            return LEADD_ETOOBIG;
        cap = cap < k->max_rows ? cap : k->max_rows;
        size_t *at = realloc(k->at, cap * (size_t)k->ncols * sizeof(*at));
        if (!at)
            return LEADD_ENOMEM;
        k->at = at;
        k->cap = cap;
    }
    size_t *row = k->at + k->n * (size_t)k->ncols;
    for (int i = 0; i < k->ncols; i++) {
        const char *v = sqls_col(s, from + i);
        row[i] = v ? k->text.len + 1 : 0;
        if (v && buf_add(&k->text, v, sqls_col_len(s, from + i) + 1))
            return buf_error(&k->text);
    }
    k->n++;
    return 0;
}

const char *sql_kept_col(const struct sql_kept *k, size_t r, int c)
{
    size_t at = k->at[r * (size_t)k->ncols + (size_t)c];
    return at ? k->text.ptr + at - 1 : NULL;
}

long long sql_kept_int(const struct sql_kept *k, size_t r, int c)
{
    const char *v = sql_kept_col(k, r, c);
    return v ? strtoll(v, NULL, 10) : 0;
}

void sql_kept_release(struct sql_kept *k)
{
    buf_release(&k->text);
    free(k->at);
    *k = (struct sql_kept){.n = 0};
}
