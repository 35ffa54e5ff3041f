/* deadline.c: [server] request_timeout_s, the longest a client may take to
 * send a whole request (headers and body), counted from when its connection
 * opens or its previous answer went out.
 *
 * libmicrohttpd 0.9.75 bounds only idle time (connection_timeout_s): a client
 * that sends one byte every few seconds is never idle and keeps its slot for
 * as long as it likes. So each connection carries a deadline here, and a
 * sweeper thread shuts down the socket of any that passes it; libmicrohttpd
 * then sees the end of the stream and closes the connection itself. The
 * deadline is lifted while leadd has the request (from its last byte until
 * its answer is sent), so a request waiting on the writer, or an export
 * streaming out, is never cut short.
 *
 * A socket is only shut down under the list's mutex, and libmicrohttpd
 * reports a connection closed (which takes it off the list, under the same
 * mutex) before it closes the socket: so the descriptor shut down is always
 * the connection's own, never one reused by a newer connection. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "leadd/log.h"

#define NONE UINT64_MAX
#define SWEEP_MS 200

struct track {
    struct track *prev, *next;
    MHD_socket fd;
    _Atomic uint64_t deadline_ms; /* monotonic; NONE while leadd has the request */
};

struct deadlines {
    uint64_t timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct track head; /* a ring: head.next is the first */
    bool stopping;
    pthread_t sweeper;
    _Atomic uint64_t expired;
};

static void *sweep(void *arg)
{
    struct deadlines *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SWEEP_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        uint64_t now = mono_ms();
        for (struct track *t = d->head.next; t != &d->head; t = t->next) {
            if (atomic_load(&t->deadline_ms) > now)
                continue;
            atomic_store(&t->deadline_ms, NONE); /* once */
            shutdown(t->fd, SHUT_RDWR);
            atomic_fetch_add(&d->expired, 1);
        }
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

int deadlines_start(struct deadlines **out, unsigned timeout_s)
{
    struct deadlines *d = calloc(1, sizeof(*d));
    *out = NULL;
    if (!d)
        return LEADD_ENOMEM;
    d->timeout_ms = (uint64_t)timeout_s * 1000;
    d->head.prev = d->head.next = &d->head;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    if (pthread_create(&d->sweeper, NULL, sweep, d)) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return LEADD_ENOMEM;
    }
    *out = d;
    return 0;
}

void deadlines_stop(struct deadlines **dp)
{
    struct deadlines *d = *dp;
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->sweeper, NULL);
    /* libmicrohttpd has reported every connection closed by now. */
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    *dp = NULL;
}

uint64_t deadlines_expired(const struct deadlines *d)
{
    return d ? atomic_load(&d->expired) : 0;
}

void deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct deadlines *d = cls;
    struct track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(t = calloc(1, sizeof(*t))))
            return; /* untracked: the idle timeout still applies */
        t->fd = ci->connect_fd;
        atomic_store(&t->deadline_ms, mono_ms() + d->timeout_ms);
        pthread_mutex_lock(&d->mu);
        t->next = d->head.next;
        t->prev = &d->head;
        d->head.next->prev = t;
        d->head.next = t;
        pthread_mutex_unlock(&d->mu);
        *socket_context = t;
    } else if (t) {
        pthread_mutex_lock(&d->mu);
        t->prev->next = t->next;
        t->next->prev = t->prev;
        pthread_mutex_unlock(&d->mu);
        free(t);
        *socket_context = NULL;
    }
}

static struct track *track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void deadlines_lift(struct MHD_Connection *conn)
{
    struct track *t = track_of(conn);
    if (t)
        atomic_store(&t->deadline_ms, NONE);
}

void deadlines_renew(struct deadlines *d, struct MHD_Connection *conn)
{
    struct track *t = track_of(conn);
    if (t)
        atomic_store(&t->deadline_ms, mono_ms() + d->timeout_ms);
}
