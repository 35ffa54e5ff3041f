/* pgint.h: what the PostgreSQL files of the store share; they alone include
 * libpq-fe.h. */
#ifndef LEADD_STORE_PGINT_H
#define LEADD_STORE_PGINT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* pg_connect: a connection to url ("": libpq's defaults, the PG*
 * variables), or NULL with why in err (libpq's words name the server,
 * never the password). The server's warnings go to the log; its notices
 * ("already exists, skipping") nowhere, where libpq would print them on
 * stderr, outside the log's format. PQfinish() it. */
PGconn *pg_connect(const char *url, char *err, size_t cap);
/* pg_done: whether r (a command or query's result, or NULL) succeeded; r
 * is cleared. On failure, why goes into err, or into the log when err is
 * NULL. */
bool pg_done(PGresult *r, char *err, size_t cap);
/* pg_sql: runs sql, which takes no parameters, as pg_done says. */
bool pg_sql(PGconn *c, const char *sql, char *err, size_t cap);

#endif
