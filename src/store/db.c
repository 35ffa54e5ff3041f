/* db.c: the store's lifetime: opening either engine's database (each
 * driver opens its own connections: sql_sqlite.c, sql_pg.c), migrating it
 * (migrate.c), and starting the writer and, on PostgreSQL, the listener. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/calendar.h"
#include "leadd/embed.h"
#include "leadd/lead.h"
#include "leadd/log.h"

static int dedupe_load(struct store *st, long long window_ms);

#define PG_POLL_MS 1000 /* a LISTEN's wait; the hook is called at least each ... */
#define PG_POLL_EVERY 5 /* ... fifth of them, NOTIFY or not: one can be missed */

/* A change another node announced (store_announce): "NODE\tID\tERASED". */
static void on_announced(void *arg, const char *payload)
{
    struct store *st = arg;
    size_t nl = strcspn(payload, "\t");
    const char *id = payload + nl + (payload[nl] == '\t');
    char lead[ULID_LEN + 1];
    if ((nl == strlen(st->pg.node) && !strncmp(payload, st->pg.node, nl)) ||
        strlen(id) != ULID_LEN + 2)
        return; /* this node's own, published already; or not leadd's */
    memcpy(lead, id, ULID_LEN);
    lead[ULID_LEN] = '\0';
    if (!ulid_valid(lead))
        return;
    pthread_mutex_lock(&st->mu); /* held through the call: see store_set_update_hook */
    if (st->on_update)
        st->on_update(st->on_update_arg, lead, id[ULID_LEN + 1] == '1');
    pthread_mutex_unlock(&st->mu);
}

/* PostgreSQL's listener: wakes the forwarder when any node queued
 * deliveries (NOTIFY leadd_outbox), and every few seconds anyway, so due
 * retries and the claims of a node that died are found; hands the changes
 * other nodes announce to the update hook. */
static void *pg_listen_main(void *arg)
{
    struct store *st = arg;
    for (unsigned i = 1; !atomic_load(&st->stopping); i++) {
        bool woke = pgstore_outbox_wait(st->pg.listen, PG_POLL_MS, on_announced, st);
        if (!woke && i % PG_POLL_EVERY)
            continue;
        store_outbox_due(st);
    }
    return NULL;
}

static int start_writer(struct store *st)
{
    if (pthread_create(&st->writer, NULL, writer_main, st))
        return LEADD_ENOMEM;
    st->writer_started = true;
    return 0;
}

int db_connect(struct store *st, bool readonly, bool durable, struct sqlc **out)
{
    char err[512];
    if (!st->pg.url)
        return sqlc_sqlite_open(st->lite.path, readonly, durable, out);
    /* its session's TimeZone, the stats' days' zone, is [server] timezone
     * already: calendar_set_zone set PGTZ */
    int rc = sqlc_pg(st->pg.url, out, err, sizeof(err));
    if (rc)
        log_error("%s", err);
    return rc;
}

/* PostgreSQL's store: its writer (migrating the database first), readers
 * made as they are asked for, up to the pool, and, serving, the listener. */
static int open_pg(struct store *st, const struct store_opts *o)
{
    char err[512];
    st->pool = o->pool ? o->pool : 8;
    if (o->node)
        snprintf(st->pg.node, sizeof(st->pg.node), "%s", o->node);
    else
        ulid_next(&st->ids, now_ms(), st->pg.node);
    if (!(st->pg.url = strdup(o->pg_url)))
        return LEADD_ENOMEM;
    /* migrated on the writer's connection: a node start costs the server
     * no session more */
    int applied, rc = sqlc_pg(o->pg_url, &st->wsql, err, sizeof(err));
    rc = rc ? rc : sql_migrate(st->wsql, &applied, err, sizeof(err));
    rc = rc ? rc : pgstore_open(&st->pg.listen, o->pg_url, err, sizeof(err));
    if (rc) {
        log_error("%s", err);
        return rc;
    }
    st->upkeep = shared_upkeep; /* other nodes: the writer may remember nothing */
    st->claims = &outbox_leased;
    /* the writer runs for a batch command too: it writes beside serving
     * nodes as one of them */
    if ((rc = writer_prepare(st)) || (rc = start_writer(st)) || !o->serving)
        return rc;
    struct reader *rd = reader_get(st);
    long long n = 0;
    /* the stats' days in this zone: counted again after a change; and from
     * now on, leads counted as each batch writes them */
    if ((rc = rd ? rollup_sync(rd->c, st->timezone) : LEADD_EDB) ||
        (rc = rollup_count_as_written(rd->c))) {
        reader_put(st, rd);
        return rc;
    }
    /* what this node held when it died: anybody's now */
    if (o->node && sql_exec(rd->c, &n,
                            "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL"
                            " WHERE claimed_by = ?1",
                            "t", st->pg.node))
        log_warn("postgres: the claims of this node's last run wait for their leases");
    else if (n)
        log_info("%lld deliveries claimed by this node's last run are due again", n);
    reader_put(st, rd);
    if (pthread_create(&st->pg.listener, NULL, pg_listen_main, st))
        return LEADD_ENOMEM;
    st->pg.listener_started = true;
    return 0;
}

/* SQLite's store: its writer (migrating the file first) and, serving, the
 * forwarder's connection. The counters are the serving writer's to keep: a
 * batch command (rescore, rollup) opened beside a serving leadd must not
 * wait for its write lock to bring them up to date. */
static int open_lite(struct store *st, const struct store_opts *o)
{
    char err[512];
    int applied, rc = sqlc_sqlite_open(o->path, false, o->durable_full, &st->wsql);
    if (!rc && (rc = sql_migrate(st->wsql, &applied, err, sizeof(err))))
        log_error("%s", err);
    if (rc || (rc = writer_prepare(st)) || !o->serving)
        return rc;
    if ((rc = rollup_sync(st->wsql, st->timezone)) || (rc = rollup_fold_on(st->wsql)) ||
        (rc = dedupe_load(st, o->dedupe_window_ms)) ||
        (rc = sqlc_sqlite_open(o->path, false, o->durable_full, &st->lite.osql)) ||
        (rc = outbox_prepare(st)))
        return rc;
    return start_writer(st);
}

int store_open(struct store **out, const struct store_opts *o)
{
    int rc = LEADD_ENOMEM;
    struct store *st = calloc(1, sizeof(*st));
    *out = NULL;
    if (!st || (o->path && !(st->lite.path = strdup(o->path))))
        goto fail;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->rmu, NULL);
    pthread_cond_init(&st->rcv, NULL);
    jobq_init(&st->q);
    st->lite.durable_full = o->durable_full;
    if (!(st->timezone = strdup(o->timezone ? o->timezone : "UTC")))
        goto fail;
    if (calendar_set_zone(st->timezone)) {
        log_error("timezone '%s' is not a time zone this machine knows", st->timezone);
        rc = LEADD_EINVAL;
        goto fail;
    }
    st->retention_ms = o->retention_days * 24 * 3600 * 1000;
    atomic_store(&st->writable, true);
    ulid_gen_init(&st->ids); /* random: two nodes' ids never meet */
    st->claims = &outbox_local;
    /* the engine, chosen once: what each does at open, and the hooks it sets */
    if ((rc = o->pg_url ? open_pg(st, o) : open_lite(st, o)))
        goto fail;
    *out = st;
    return 0;
fail:
    store_close(&st);
    return rc;
}

/* The duplicate window from the database: every lead of the last window_ms
 * that is first (not a duplicate, not spam), the latest per (form, email). */
static int dedupe_load(struct store *st, long long window_ms)
{
    struct sqls *s = NULL;
    char lo[ULID_LEN + 1];
    int r;
    st->dd_on = sql_alone(st->wsql); /* the only writer: it may remember first leads */
    st->dd_window_ms = window_ms;
    if (window_ms <= 0)
        return 0;
    ulid_floor(now_ms() - (uint64_t)window_ms, lo); /* the id index serves the time range */
    if (sqls_prepare(st->wsql,
                     "SELECT rowid, form, email, created_ms FROM leads WHERE id >= ?1"
                     " AND email IS NOT NULL AND duplicate_of IS NULL AND (flags & ?2) = 0"
                     " ORDER BY id",
                     &s))
        return LEADD_EDB;
    sqls_text(s, 1, lo, false);
    sqls_int(s, 2, LEAD_FLAGS_SPAM);
    while ((r = sqls_step(s)) == SQL_ROW) {
        uint64_t key = dedupe_key(sqls_col(s, 1), sqls_col(s, 2));
        if (dedupe_put(&st->dd, key, sqls_col_int(s, 0), sqls_col_int(s, 3)))
            st->dd_full = true;
    }
    sqls_finalize(&s);
    return r == SQL_DONE ? 0 : LEADD_EDB;
}

void store_close(struct store **sp)
{
    struct store *st = *sp;
    if (!st)
        return;
    jobq_stop(&st->q);
    if (st->writer_started)
        pthread_join(st->writer, NULL);
    atomic_store(&st->stopping, true);
    pgstore_outbox_wake(st->pg.listen);
    if (st->pg.listener_started)
        pthread_join(st->pg.listener, NULL);
    pgstore_close(&st->pg.listen);
    tally_release(&st->tally);
    readers_close(st);
    writer_finalize(st);
    outbox_finalize(st);
    sqlc_close(&st->wsql); /* the last: SQLite's checkpoints the WAL into the main file */
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->rmu);
    pthread_cond_destroy(&st->rcv);
    free(st->pg.url);
    jobq_destroy(&st->q);
    dedupe_release(&st->dd);
    free(st->lite.path);
    free(st->timezone);
    free(st);
    *sp = NULL;
}

bool store_shared(const struct store *st)
{
    return st->pg.listen != NULL;
}

bool store_writable(const struct store *st)
{
    return atomic_load(&((struct store *)st)->writable);
}

void store_get_stats(struct store *st, struct store_stats *out)
{
    writer_stats_get(&st->stats, &st->q, out);
}

void store_set_update_hook(struct store *st, void (*fn)(void *arg, const char *id, bool erased),
                           void *arg)
{
    pthread_mutex_lock(&st->mu); /* waits for a call under way (db.c) */
    st->on_update = fn;
    st->on_update_arg = arg;
    pthread_mutex_unlock(&st->mu);
}

void store_outbox_due(struct store *st)
{
    pthread_mutex_lock(&st->mu);
    void (*fn)(void *) = st->on_outbox;
    void *arg = st->on_outbox_arg;
    pthread_mutex_unlock(&st->mu);
    if (fn)
        fn(arg);
}

void store_set_outbox_hook(struct store *st, void (*fn)(void *arg), void *arg)
{
    /* the writer calls it after a commit that queued deliveries;
     * PostgreSQL's listener (db.c) on any node's NOTIFY, and now and then */
    pthread_mutex_lock(&st->mu);
    st->on_outbox = fn;
    st->on_outbox_arg = arg;
    pthread_mutex_unlock(&st->mu);
}
