/* shared.c: what one node keeps in memory and nodes on one database keep
 * in it instead (store.h): submission and sign-in rate limits, a webhook's
 * rate window, round-robin turns, and the announcement of people's changes.
 * Each is one statement on a reader's connection, in a transaction of its
 * own: a row's lock lasts that statement, never a capture's batch. The
 * tables are PostgreSQL's alone (migrations/postgres/0003_shared.sql). */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "leadd/crypto.h"
#include "leadd/log.h"

/* Runs sql, which takes key as ?1 and ints[0..nints) as ?2.., on a
 * reader's connection; its one row's first nout numbers into out. */
static int one_row(struct store *st, const char *sql, const char *key, const long long *ints,
                   size_t nints, long long *out, size_t nout)
{
    struct sqls *s = NULL;
    int rc = LEADD_EDB;
    struct reader *rd = NULL;
    if (!store_shared(st))
        return LEADD_EINVAL;
    if (!(rd = reader_get(st)) || sqls_prepare(rd->c, sql, &s))
        goto out;
    sqls_text(s, 1, key, false);
    for (size_t i = 0; i < nints; i++)
        sqls_int(s, (int)i + 2, ints[i]);
    if (sqls_step(s) != SQL_ROW)
        goto out;
    for (size_t i = 0; i < nout; i++)
        out[i] = sqls_col_int(s, (int)i);
    rc = 0;
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}

/* A bucket refilled up to now, by the database's clock (nodes' clocks may
 * differ): ?2 tokens at most, ?2 more a ?3 ms. */
#define REFILL                                                                                     \
    "least(?2::float8, b.tokens + greatest(excluded.at_ms - b.at_ms, 0) * ?2::float8 / ?3)"

int store_rate_take(struct store *st, const char *key, long long limit, long long window_s,
                    bool take, bool *ok, long long *retry_after_s)
{
    char hex[CRYPTO_SHA256_HEX_LEN];
    long long ints[] = {limit, window_s * 1000}, row[2];
    int rc;
    if (limit <= 0 || window_s <= 0)
        return LEADD_EINVAL;
    if ((rc = crypto_sha256_hex(key, hex))) /* the key names a client's address */
        return rc;
    if (!take) /* only asking (each right key does): a read, never a row written */
        rc = one_row(st,
                     "SELECT (v >= 1)::int, CASE WHEN v >= 1 THEN 0 ELSE"
                     " ceil((1 - v) * ?3 / ?2)::bigint END FROM (SELECT coalesce(min(least("
                     "?2::float8, tokens + greatest((extract(epoch FROM clock_timestamp()) * 1000)"
                     "::bigint - at_ms, 0) * ?2::float8 / ?3)), ?2::float8) AS v"
                     " FROM rate_buckets WHERE key = ?1) AS t",
                     hex, ints, 2, row, 2);
    else
        rc = one_row(st,
                     "INSERT INTO rate_buckets AS b (key, tokens, at_ms, full_ms, taken)"
                     " SELECT ?1, ?2::float8 - 1, ms, ms + ?3, true FROM"
                     " (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms) AS t"
                     " ON CONFLICT (key) DO UPDATE SET tokens = " REFILL " - CASE WHEN " REFILL
                     " >= 1 THEN 1 ELSE 0 END,"
                     " at_ms = greatest(b.at_ms, excluded.at_ms), full_ms = excluded.full_ms,"
                     " taken = " REFILL " >= 1"
                     " RETURNING taken::int,"
                     " CASE WHEN taken THEN 0 ELSE ceil((1 - tokens) * ?3 / ?2)::bigint END",
                     hex, ints, 2, row, 2);
    if (rc)
        return rc;
    *ok = row[0] != 0;
    if (!*ok) /* as ratelimit_take counts it: whole seconds, rounded up past */
        *retry_after_s = row[1] / 1000 + 1;
    return 0;
}

int store_take_sends(struct store *st, const char *key, size_t want, long long limit,
                     long long window_ms, size_t *granted, uint64_t *wait_ms, uint64_t *at_ms)
{
    long long ints[] = {(long long)want, limit, window_ms}, row[3];
    int rc = one_row(st, "SELECT granted, wait_ms, at_ms FROM leadd_take_sends(?1, ?2, ?3, ?4)",
                     key, ints, 3, row, 3);
    if (rc)
        return rc;
    *granted = (size_t)row[0];
    *wait_ms = (uint64_t)row[1];
    *at_ms = (uint64_t)row[2];
    return 0;
}

int store_turn(struct store *st, const char *key, unsigned long *n)
{
    long long row[2];
    int rc = one_row(st,
                     "INSERT INTO turns AS t (key, n) VALUES (?1, 0)"
                     " ON CONFLICT (key) DO UPDATE SET n = t.n + 1 RETURNING n, 0",
                     key, NULL, 0, row, 2);
    if (!rc)
        *n = (unsigned long)row[0];
    return rc;
}

void store_announce(struct store *st, const char *id, bool erased)
{
    char payload[sizeof(st->pg.node) + ULID_LEN + 8];
    if (!store_shared(st))
        return;
    struct reader *rd = reader_get(st);
    snprintf(payload, sizeof(payload), "%s\t%s\t%d", st->pg.node, id, erased);
    /* a lost announcement only leaves another node's streams without it */
    if (!rd || sql_exec(rd->c, NULL, "SELECT pg_notify('leadd_events', ?1)", "t", payload))
        log_warn("postgres: a change to lead %s was not announced to the other nodes", id);
    reader_put(st, rd);
}

void shared_upkeep(struct sqlc *c)
{
    /* buckets full again say nothing a new one would not */
    if (sql_exec(c, NULL,
                 "DELETE FROM rate_buckets WHERE full_ms <"
                 " (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                 ""))
        log_warn("postgres: full rate buckets not dropped; tried again later");
}
