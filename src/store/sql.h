/* sql.h: one statement interface over SQLite and PostgreSQL, for the store's
 * code that is the same on both backends (the lead as the API shows it, the
 * query API's reads). A query is written once, in SQL both accept, with its
 * parameters as ?1..?N: PostgreSQL's driver (sql_pg.c, which alone here
 * includes libpq-fe.h) rewrites them as $1..$N. What the two engines say
 * differently the interface says for them (sql_bytewise, sql_fold,
 * sql_for_update...) or hides (a snapshot: sql_begin_read).
 *
 * Errors: functions returning int give 0 or LEADD_EDB (logged); sqls_step
 * gives SQL_ROW, SQL_DONE or LEADD_EDB. */
#ifndef LEADD_STORE_SQL_H
#define LEADD_STORE_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/buf.h"
#include "leadd/common.h"

enum { SQL_DONE = 0, SQL_ROW = 1 };

struct sqlc; /* a connection */
struct sqls; /* a statement prepared on one */

/* sqlc_sqlite_open: a connection of its own to the file at path: read-only,
 * or read-write with leadd's pragmas (WAL, synchronous FULL when
 * durable_full, else NORMAL; foreign keys; secure_delete). Logged on
 * failure. */
LEADD_MUST_CHECK int sqlc_sqlite_open(const char *path, bool readonly, bool durable_full,
                                      struct sqlc **out);
/* sqlc_pg: connects to url (a libpq URI or key=value string); why in err. */
LEADD_MUST_CHECK int sqlc_pg(const char *url, struct sqlc **out, char *err, size_t cap);
/* sqlc_close: closes c (NULL: nothing), frees it and sets *cp to NULL. */
void sqlc_close(struct sqlc **cp);
/* sqlc_ok: whether the connection still works (PostgreSQL's may be lost). */
bool sqlc_ok(struct sqlc *c);

/* sql_bytewise: what makes text compare by its bytes after a column or an
 * expression, as SQLite's does by default: "" there, ' COLLATE "C"' on
 * PostgreSQL (whose database may sort by a locale's rules). */
const char *sql_bytewise(const struct sqlc *c);
/* sql_fold: what goes around a column (open column close) so that a LIKE
 * with a pattern in lowercase ignores the case of ASCII letters, and only
 * theirs, on both engines ("" and "" on SQLite, whose LIKE does so). */
void sql_fold(const struct sqlc *c, const char **open, const char **close);
/* sql_agg_in_order: what goes around "x, sep" (open x, sep close) to join
 * a group's texts in the order their rows were added (rowid). */
void sql_agg_in_order(const struct sqlc *c, const char **open, const char **close);
/* sql_index_hints: whether the planner takes INDEXED BY (SQLite's), which
 * a query may add where it knows better than the statistics. */
bool sql_index_hints(const struct sqlc *c);

/* sql_begin_read / sql_end_read: one snapshot for the reads between them
 * (SQLite's read transaction; PostgreSQL's REPEATABLE READ READ ONLY). */
void sql_begin_read(struct sqlc *c);
void sql_end_read(struct sqlc *c);

/* ---- a writer's transaction (writer.c's, on either engine) ---- */

/* sql_begin_write_sql: what opens a transaction that writes (SQLite's
 * takes the database's write lock at once, so a batch never waits
 * halfway); COMMIT ends it. */
const char *sql_begin_write_sql(const struct sqlc *c);
/* sql_rollback: ends the transaction open on c, if any, undone. */
void sql_rollback(struct sqlc *c);
/* sql_reconnect: whether c works, trying once to connect again when it does
 * not (PostgreSQL's may be lost; prepared statements are prepared again). */
bool sql_reconnect(struct sqlc *c);
/* sql_alone: whether this process is the only one writing c's database
 * (SQLite's file is locked to one leadd): such a writer may remember what
 * it wrote instead of asking; with other writers it must ask, and lock. */
bool sql_alone(const struct sqlc *c);
/* sql_batch_linger_us: how long the writer's next batch, under load, waits
 * for more jobs (0: none). Where a transaction costs the server round
 * trips and CPU of its own (PostgreSQL's), fuller batches cost less a lead
 * and leave the machine more for leads; on SQLite they save nothing. */
unsigned sql_batch_linger_us(const struct sqlc *c);
/* sql_for_update: what a SELECT ends with to lock its rows until the
 * transaction ends (" FOR UPDATE"; "" where the write lock is whole). */
const char *sql_for_update(const struct sqlc *c);
/* sql_lock: takes a lock on each of keys[0..n) until the transaction ends,
 * in one statement, for writers on other nodes (PostgreSQL's advisory
 * locks; nothing on SQLite, whose write transaction holds the whole
 * database). Every writer takes them in one global order, sorted (keys is
 * sorted in place) and each once, so two never deadlock. */
LEADD_MUST_CHECK int sql_lock(struct sqlc *c, char **keys, size_t n);
/* sql_notify: tells the database's other listeners, at commit (NOTIFY;
 * nothing on SQLite, which has no other node). */
LEADD_MUST_CHECK int sql_notify(struct sqlc *c, const char *channel);
/* sql_scrub: after erasures, out of a transaction: the erased rows' old
 * bytes leave the files now (SQLite's WAL checkpointed and truncated;
 * PostgreSQL's tables vacuumed). Failures are logged. */
void sql_scrub(struct sqlc *c);

/* sql_exec: runs one statement to its end; binds are "t" text (a NULL
 * pointer binds NULL), "i" int64 (long long), "b" SHA-256 bytes, each
 * taking its argument, and "n" NULL, taking none. *changes (when not NULL): the rows it changed.
 * 0, LEADD_EFULL (the disk) or LEADD_EDB. */
LEADD_MUST_CHECK int sql_exec(struct sqlc *c, long long *changes, const char *sql,
                              const char *types, ...);

/* sql_rows: into b (reset first), head, then n rows of values (row:
 * "(?, ...)"), then tail: bare ?s, numbered in order (SQLite looks each ?N
 * up among those before it: thousands of them cost it more than the
 * statement's work). 0, or LEADD_ENOMEM. */
LEADD_MUST_CHECK int sql_rows(struct buf *b, const char *head, size_t n, const char *row,
                              const char *tail);

/* sqls_prepare: a statement on c, valid until sqls_finalize or c closes. */
LEADD_MUST_CHECK int sqls_prepare(struct sqlc *c, const char *sql, struct sqls **out);
void sqls_finalize(struct sqls **sp);

/* Binds parameter i (from 1). Text is copied when copy (it may change or
 * go before the last step), else borrowed until sqls_reset; NULL binds NULL. */
void sqls_text(struct sqls *s, int i, const char *v, bool copy);
void sqls_int(struct sqls *s, int i, long long v);
void sqls_blob(struct sqls *s, int i, const void *v, size_t n);

/* sqls_keep: s runs again and again (a writer's): PostgreSQL's driver
 * prepares it on the server once per connection, its parameters' types
 * taken from the SQL. */
void sqls_keep(struct sqls *s);
/* sqls_stream: the statement's rows are read one at a time rather than
 * all at once (an export's); nothing else may run on its connection until
 * its last row, or its reset. */
void sqls_stream(struct sqls *s);
/* sqls_step: the next row of the statement's answer. */
int sqls_step(struct sqls *s);
/* sqls_reset: ready to step again, from its first row (binds kept). */
void sqls_reset(struct sqls *s);
/* sqls_send: runs s, a write in a transaction whose rows are not read, and
 * resets it. A driver may send it on with the statements after it, in one
 * round trip (PostgreSQL's pipeline, for a kept statement): then its
 * failure is told by the next step on its connection, or the commit's,
 * and fails the transaction all the same. 0, LEADD_EFULL or LEADD_EDB. */
LEADD_MUST_CHECK int sqls_send(struct sqls *s);

/* The current row's column i (from 0). Text: NULL for SQL NULL; valid until
 * the next step or reset. */
const char *sqls_col(struct sqls *s, int i);
size_t sqls_col_len(struct sqls *s, int i);
long long sqls_col_int(struct sqls *s, int i);
bool sqls_col_null(struct sqls *s, int i);
/* sqls_col_blob: column i's bytes into out (at most cap); *len: how many
 * it holds (0 for NULL). LEADD_ETOOBIG past cap. */
int sqls_col_blob(struct sqls *s, int i, void *out, size_t cap, size_t *len);
/* sqls_changes: the rows the statement's last run changed. */
long long sqls_changes(struct sqls *s);

/* ---- rows kept: a statement's rows copied, to read once it stepped on ---- */

/* Each kept row's columns as text (NULL stays NULL; an integer as its
 * digits), in one buffer of at most max_text bytes and at most max_rows
 * rows. sql_kept_release frees it. */
struct sql_kept {
    struct buf text;
    size_t *at; /* each row's columns: offset + 1 in text, 0 for NULL */
    size_t n, cap, max_rows;
    int ncols;
};
void sql_kept_init(struct sql_kept *k, int ncols, size_t max_text, size_t max_rows);
/* sql_keep: copies s's columns from..from+ncols-1 as the next row; 0,
 * LEADD_ENOMEM, or LEADD_ETOOBIG past a cap. */
LEADD_MUST_CHECK int sql_keep(struct sql_kept *k, struct sqls *s, int from);
/* sql_kept_col: row r's column c (0-based among those kept), or NULL;
 * valid until the next sql_keep. sql_kept_int: the same as an integer. */
const char *sql_kept_col(const struct sql_kept *k, size_t r, int c);
long long sql_kept_int(const struct sql_kept *k, size_t r, int c);
void sql_kept_release(struct sql_kept *k);

#endif
