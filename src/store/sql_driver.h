/* sql_driver.h: what a database engine gives sql.h (one driver a file:
 * sql_sqlite.c, sql_pg.c). sql.c's functions call the connection's driver;
 * no code above sql.h knows which engine it is on. A driver's connection
 * and statement embed struct sqlc and struct sqls as their first member. */
#ifndef LEADD_STORE_SQL_DRIVER_H
#define LEADD_STORE_SQL_DRIVER_H

#include "leadd/embed.h"
#include "sql.h"

enum sql_type { SQL_TEXT, SQL_INT, SQL_BLOB };

struct sql_driver {
    /* dialect: text compared by bytes; rows locked by a SELECT; a write
     * transaction's start; a transaction-scoped lock on a text key (NULL:
     * the write transaction locks the whole database already) */
    const char *bytewise, *for_update, *begin_write, *lock_sql;
    /* a column as a LIKE with a lowercase pattern compares it ignoring
     * the case of ASCII letters: fold_open column fold_close */
    const char *fold_open, *fold_close;
    /* text aggregated in the order rows were added: agg_open x, sep
     * agg_close (SQLite's group_concat keeps the rows' order; PostgreSQL's
     * string_agg is told it) */
    const char *agg_open, *agg_close;
    const char *begin_read; /* a read snapshot's start (sql_begin_read) */
    /* the schema (sql_migrate): the engine's migrations, in order; the
     * table that records them; what keeps other nodes from migrating at
     * the same time, and ends that (NULL: one process has the database) */
    const struct embedded_file *migrations;
    const char *migrations_table, *migrate_lock, *migrate_unlock;
    bool index_hints;   /* the planner takes INDEXED BY (sql_index_hints) */
    bool alone;         /* one process writes the database (sql_alone) */
    unsigned linger_us; /* sql_batch_linger_us */
    void (*close)(struct sqlc *c);
    bool (*ok)(struct sqlc *c);        /* whether c still works */
    bool (*reconnect)(struct sqlc *c); /* the same, trying once again when not */
    bool (*in_tx)(struct sqlc *c);
    int (*exec)(struct sqlc *c, const char *sql); /* no parameters, no rows */
    int (*notify)(struct sqlc *c, const char *channel);
    void (*scrub)(struct sqlc *c);
    int (*prepare)(struct sqlc *c, const char *sql, struct sqls **out);
    void (*finalize)(struct sqls *s);
    void (*bind)(struct sqls *s, int i, enum sql_type t, const void *v, size_t n, bool copy);
    void (*keep)(struct sqls *s);
    void (*stream)(struct sqls *s);
    int (*step)(struct sqls *s);
    int (*send)(struct sqls *s); /* sqls_send's */
    void (*reset)(struct sqls *s);
    const char *(*col)(struct sqls *s, int i);
    size_t (*col_len)(struct sqls *s, int i);
    long long (*col_int)(struct sqls *s, int i);
    bool (*col_null)(struct sqls *s, int i);
    int (*col_blob)(struct sqls *s, int i, void *out, size_t cap, size_t *len);
    long long (*changes)(struct sqls *s);
};

struct sqlc {
    const struct sql_driver *drv;
    struct sqls *lock; /* sql_lock's, kept (prepared at the first lock) */
};

struct sqls {
    struct sqlc *c;
};

#endif
