/* shared.c: what one node keeps in memory and nodes on one database keep
 * in it instead (store.h): submission and sign-in rate limits, round-robin
 * turns. Each is one statement on a reader's connection, in a transaction
 * of its own: the row's lock lasts that statement, never a capture's batch.
 * The tables are PostgreSQL's alone (migrations/postgres/0003_shared.sql). */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "leadd/crypto.h"
#include "leadd/log.h"

/* A bucket refilled up to now, by the database's clock (nodes' clocks may
 * differ): ?2 tokens at most, ?2 more a ?3 ms. */
#define REFILL                                                                                     \
    "least(?2::float8, b.tokens + greatest(excluded.at_ms - b.at_ms, 0) * ?2::float8 / ?3)"

int store_rate_take(struct store *st, const char *key, long long limit, long long window_s,
                    bool *ok, long long *retry_after_s)
{
    unsigned char hash[SHA256_LEN];
    const void *part = key;
    size_t len = strlen(key);
    struct sqls *s = NULL;
    int rc = LEADD_EINVAL;
    struct reader *rd = NULL;
    if (!store_shared(st) || limit <= 0 || window_s <= 0)
        return rc;
    if ((rc = crypto_sha256(&part, &len, 1, hash))) /* the key names a client's address */
        return rc;
    rc = LEADD_EDB;
    if (!(rd = reader_get(st)) ||
        sqls_prepare(rd->c,
                     "INSERT INTO rate_buckets AS b (key, tokens, at_ms, full_ms, taken)"
                     " SELECT ?1, ?2::float8 - 1, ms, ms + ?3, true FROM"
                     " (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms) AS t"
                     " ON CONFLICT (key) DO UPDATE SET tokens = " REFILL " - CASE WHEN " REFILL
                     " >= 1 THEN 1 ELSE 0 END,"
                     " at_ms = greatest(b.at_ms, excluded.at_ms), full_ms = excluded.full_ms,"
                     " taken = " REFILL " >= 1"
                     " RETURNING taken::int,"
                     " CASE WHEN taken THEN 0 ELSE ceil((1 - tokens) * ?3 / ?2)::bigint END",
                     &s))
        goto out;
    sqls_blob(s, 1, hash, sizeof(hash));
    sqls_int(s, 2, limit);
    sqls_int(s, 3, window_s * 1000);
    if (sqls_step(s) != SQL_ROW)
        goto out;
    *ok = sqls_col_int(s, 0) != 0;
    if (!*ok) /* as ratelimit_take counts it: whole seconds, rounded up past */
        *retry_after_s = sqls_col_int(s, 1) / 1000 + 1;
    rc = 0;
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}

int store_take_sends(struct store *st, const char *key, size_t want, long long limit,
                     long long window_ms, size_t *granted, uint64_t *wait_ms)
{
    struct sqls *s = NULL;
    int rc = LEADD_EINVAL;
    struct reader *rd = NULL;
    if (!store_shared(st))
        return rc;
    rc = LEADD_EDB;
    if (!(rd = reader_get(st)) ||
        sqls_prepare(rd->c, "SELECT granted, wait_ms FROM leadd_take_sends(?1, ?2, ?3, ?4)", &s))
        goto out;
    sqls_text(s, 1, key, false);
    sqls_int(s, 2, (long long)want);
    sqls_int(s, 3, limit);
    sqls_int(s, 4, window_ms);
    if (sqls_step(s) != SQL_ROW)
        goto out;
    *granted = (size_t)sqls_col_int(s, 0);
    *wait_ms = (uint64_t)sqls_col_int(s, 1);
    rc = 0;
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}

void store_announce(struct store *st, const char *id, bool erased)
{
    char payload[sizeof(st->node) + ULID_LEN + 8];
    if (!store_shared(st))
        return;
    struct reader *rd = reader_get(st);
    snprintf(payload, sizeof(payload), "%s\t%s\t%d", st->node, id, erased);
    /* a lost announcement only leaves another node's streams without it */
    if (!rd || sql_exec(rd->c, NULL, "SELECT pg_notify('leadd_events', ?1)", "t", payload))
        log_warn("postgres: a change to lead %s was not announced to the other nodes", id);
    reader_put(st, rd);
}

int store_turn(struct store *st, const char *key, unsigned long *n)
{
    struct sqls *s = NULL;
    int rc = LEADD_EINVAL;
    struct reader *rd = NULL;
    if (!store_shared(st))
        return rc;
    rc = LEADD_EDB;
    if (!(rd = reader_get(st)) ||
        sqls_prepare(rd->c,
                     "INSERT INTO turns AS t (key, n) VALUES (?1, 0)"
                     " ON CONFLICT (key) DO UPDATE SET n = t.n + 1 RETURNING n",
                     &s))
        goto out;
    sqls_text(s, 1, key, false);
    if (sqls_step(s) != SQL_ROW)
        goto out;
    *n = (unsigned long)sqls_col_int(s, 0);
    rc = 0;
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}
