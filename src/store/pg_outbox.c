/* pg_outbox.c: what PostgreSQL's nodes share besides the writer's tables
 * (the writer is writer.c's, the same on both engines): the outbox's claims,
 * so that nodes sending at once get disjoint deliveries, and the LISTEN
 * that wakes a node's forwarder when any node queued deliveries or changed
 * a lead. pgstore_open migrates the database first. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "pgint.h"
#include "leadd/log.h"

struct pgstore {
    PGconn *oconn; /* LISTEN for queued deliveries and changes (pgstore_outbox_wait's) */
    int wake_fd;   /* an eventfd: pgstore_outbox_wake ends the wait */
    PGconn *cconn; /* claims (pgstore_claim's), under cmu */
    pthread_mutex_t cmu;
};

/* Everything pgstore_open made. */
static void release(struct pgstore *p)
{
    PQfinish(p->oconn);
    PQfinish(p->cconn);
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    pthread_mutex_destroy(&p->cmu);
    free(p);
}

int pgstore_open(struct pgstore **out, const char *url, char *err, size_t cap)
{
    int applied, rc;
    struct pgstore *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p)
        return LEADD_ENOMEM;
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&p->cmu, NULL);
    if ((rc = store_pg_migrate(url, &applied, err, cap)))
        goto fail;
    rc = LEADD_EDB;
    if (p->wake_fd < 0) {
        snprintf(err, cap, "eventfd: %s", strerror(errno));
        rc = LEADD_ENOMEM;
        goto fail;
    }
    if (!(p->oconn = pg_connect(url, err, cap)) ||
        !pg_sql(p->oconn, "LISTEN leadd_outbox; LISTEN leadd_events", err, cap) ||
        !(p->cconn = pg_connect(url, err, cap)))
        goto fail;
    *out = p;
    return 0;
fail:
    release(p);
    return rc;
}

void pgstore_close(struct pgstore **pp)
{
    if (*pp)
        release(*pp);
    *pp = NULL;
}

void pgstore_outbox_wake(struct pgstore *p)
{
    uint64_t one = 1;
    if (p && write(p->wake_fd, &one, sizeof(one)) < 0)
        log_warn("unable to wake the outbox listener: %s", strerror(errno));
}

/* ---- the outbox, for a node's forwarder (one thread) ---- */

/* ids[0..n) as a PostgreSQL array literal, "{1,2,3}" (at most
 * OUTBOX_CLAIM_MAX of them). */
static void id_array(const long long *ids, size_t n, char out[OUTBOX_CLAIM_MAX * 24 + 4])
{
    size_t at = 0, cap = OUTBOX_CLAIM_MAX * 24 + 4;
    out[at++] = '{';
    for (size_t i = 0; i < n && i < OUTBOX_CLAIM_MAX; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%lld", i ? "," : "", ids[i]);
    snprintf(out + at, cap - at, "}");
}

int pgstore_claim(struct pgstore *p, const char *webhook, const char *node, uint64_t now,
                  uint64_t lease_ms, size_t max, const long long *skip, size_t nskip,
                  long long *ids, size_t *n)
{
    char t[24], until[24], lim[24], held[OUTBOX_CLAIM_MAX * 24 + 4];
    snprintf(t, sizeof(t), "%llu", (unsigned long long)now);
    snprintf(until, sizeof(until), "%llu", (unsigned long long)(now + lease_ms));
    snprintf(lim, sizeof(lim), "%zu", max);
    id_array(skip, nskip, held);
    const char *v[] = {webhook, node, t, until, lim, held};
    pthread_mutex_lock(&p->cmu);
    if (PQstatus(p->cconn) != CONNECTION_OK)
        PQreset(p->cconn); /* the database came back: claims go on */
    /* Rows another node is claiming are skipped, not waited for; a claim
     * whose lease ran out (its node died) is anybody's again. */
    PGresult *r = PQexecParams(
        p->cconn,
        "UPDATE deliveries SET claimed_by = $2, claimed_until = $4 WHERE id IN (SELECT id FROM"
        " deliveries WHERE webhook = $1 AND state = 'pending' AND next_attempt_ms <= $3 AND"
        " (claimed_until IS NULL OR claimed_until <= $3) AND id <> ALL($6::bigint[])"
        " ORDER BY next_attempt_ms, id LIMIT $5 FOR UPDATE SKIP LOCKED) RETURNING id",
        6, NULL, v, NULL, NULL, 0);
    pthread_mutex_unlock(&p->cmu);
    *n = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_error("postgres: claim: %s", PQresultErrorMessage(r));
        PQclear(r);
        return LEADD_EDB;
    }
    for (int i = 0; i < PQntuples(r) && *n < max; i++)
        ids[(*n)++] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int pgstore_unclaim(struct pgstore *p, const char *node, const long long *ids, size_t n)
{
    char list[OUTBOX_CLAIM_MAX * 24 + 4];
    id_array(ids, n, list);
    const char *v[] = {list, node};
    pthread_mutex_lock(&p->cmu);
    PGresult *r = PQexecParams(p->cconn,
                               "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL"
                               " WHERE id = ANY($1::bigint[]) AND claimed_by = $2",
                               2, NULL, v, NULL, NULL, 0);
    pthread_mutex_unlock(&p->cmu);
    /* not given back: the leases end them (later, not never) */
    return pg_done(r, NULL, 0) ? 0 : LEADD_EDB;
}

bool pgstore_outbox_wait(struct pgstore *p, unsigned timeout_ms,
                         void (*on_update)(void *arg, const char *payload), void *arg)
{
    /* A NOTIFY can be missed (a reconnect, a pooler in transaction mode):
     * the caller polls after timeout_ms whatever happens. */
    int fd = PQsocket(p->oconn);
    struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = p->wake_fd, .events = POLLIN}};
    bool woke = false;
    uint64_t until = mono_ms() + timeout_ms;
    while (!woke && fd >= 0) {
        PGnotify *nt;
        PQconsumeInput(p->oconn);
        while ((nt = PQnotifies(p->oconn))) {
            if (!strcmp(nt->relname, "leadd_events"))
                on_update(arg, nt->extra);
            else
                woke = true;
            PQfreemem(nt);
        }
        uint64_t now = mono_ms();
        if (woke || now >= until || poll(pfd, 2, (int)(until - now)) <= 0)
            break;
        uint64_t n;
        if (pfd[1].revents && read(p->wake_fd, &n, sizeof(n)) == sizeof(n))
            break;
    }
    return woke;
}
