/* pg_outbox.c: the LISTEN that wakes a PostgreSQL node's forwarder when any
 * node queued deliveries or changed a lead, on a connection of its own.
 * The outbox's claims
 * are outbox.c's, on the pooled connections. */
#include <errno.h>
#include <poll.h>
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
};

/* Everything pgstore_open made. */
static void release(struct pgstore *p)
{
    PQfinish(p->oconn);
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    free(p);
}

int pgstore_open(struct pgstore **out, const char *url, char *err, size_t cap)
{
    int rc;
    struct pgstore *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p)
        return LEADD_ENOMEM;
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (p->wake_fd < 0) {
        snprintf(err, cap, "eventfd: %s", strerror(errno));
        rc = LEADD_ENOMEM;
        goto fail;
    }
    rc = LEADD_EDB;
    if (!(p->oconn = pg_connect(url, err, cap)) ||
        !pg_sql(p->oconn, "LISTEN leadd_outbox; LISTEN leadd_events", err, cap))
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
