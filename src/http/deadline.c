/* deadline.c: every connection, admitted and timed.
 *
 * Admission. One address may hold at most per_client connections, and once
 * three quarters of max_connections are open, an address that already holds
 * RESERVE_FEW gets no more: the last quarter stays for other clients. A
 * connection past its share is shut down as libmicrohttpd reports it open
 * (before a byte of it is read), so a client opening thousands of slow
 * connections holds its share, not the server. Trusted proxies are exempt:
 * each carries many clients (its own limits are its business).
 *
 * Deadlines. libmicrohttpd 0.9.75 bounds only idle time
 * (connection_timeout_s): a client that sends one byte every few seconds is
 * never idle and keeps its slot for as long as it likes. So each connection
 * carries a deadline here, and a sweeper thread shuts down the socket of any
 * that passes it; libmicrohttpd then sees the end of the stream and closes
 * the connection itself. A request's headers have header_s from when the
 * connection opened or its previous answer went out; once they are in, the
 * whole request has request_s from that same moment. The deadline is lifted
 * while leadd has the request (from its last byte until its answer is sent),
 * so a request waiting on the writer, or an export streaming out, is never
 * cut short.
 *
 * A socket is only shut down under the list's mutex, and libmicrohttpd
 * reports a connection closed (which takes it off the list, under the same
 * mutex) before it closes the socket: so the descriptor shut down is always
 * the connection's own, never one reused by a newer connection. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

#define NONE UINT64_MAX
#define SWEEP_MS 200
#define RESERVE_FEW 4 /* connections an address may still open into the reserve */
#define CLIENT_BUCKETS 4096

const char *const refusal_names[REFUSED_COUNT] = {"per_client", "reserve"};

/* The connections one address holds. */
struct client {
    struct client *next; /* in its bucket */
    size_t n;
    char ip[NET_MAX_ADDR];
};

struct track {
    struct track *prev, *next;
    MHD_socket fd;
    struct client *client;        /* NULL: exempt, or refused */
    bool admitted;                /* counted in open */
    uint64_t since_ms;            /* opened, or its previous answer sent */
    _Atomic uint64_t deadline_ms; /* monotonic; NONE while leadd has the request */
};

struct deadlines {
    struct deadline_limits lim;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct track head; /* a ring: head.next is the first */
    size_t open;
    struct client *clients[CLIENT_BUCKETS];
    bool stopping;
    pthread_t sweeper;
    _Atomic uint64_t expired;
    _Atomic uint64_t refused[REFUSED_COUNT];
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

int deadlines_start(struct deadlines **out, const struct deadline_limits *lim)
{
    struct deadlines *d = calloc(1, sizeof(*d));
    *out = NULL;
    if (!d)
        return LEADD_ENOMEM;
    d->lim = *lim;
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
    /* libmicrohttpd has reported every connection closed by now: every
     * client's count is back to 0 and freed. */
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
    *dp = NULL;
}

uint64_t deadlines_expired(const struct deadlines *d)
{
    return d ? atomic_load(&d->expired) : 0;
}

uint64_t deadlines_refused(const struct deadlines *d, enum refusal why)
{
    return d ? atomic_load(&d->refused[why]) : 0;
}

size_t deadlines_open(struct deadlines *d)
{
    pthread_mutex_lock(&d->mu);
    size_t n = d->open;
    pthread_mutex_unlock(&d->mu);
    return n;
}

/* The count of ip, made when absent (under mu); NULL without memory. */
static struct client *client_of(struct deadlines *d, const char *ip)
{
    struct client **b = &d->clients[fnv1a(FNV1A_SEED, ip, strlen(ip)) % CLIENT_BUCKETS];
    for (struct client *c = *b; c; c = c->next) {
        if (!strcmp(c->ip, ip))
            return c;
    }
    struct client *c = calloc(1, sizeof(*c));
    if (c) {
        snprintf(c->ip, sizeof(c->ip), "%s", ip);
        c->next = *b;
        *b = c;
    }
    return c;
}

/* One connection of c gone (under mu): the last one frees its count. */
static void client_drop(struct deadlines *d, struct client *c)
{
    if (--c->n)
        return;
    struct client **p = &d->clients[fnv1a(FNV1A_SEED, c->ip, strlen(c->ip)) % CLIENT_BUCKETS];
    while (*p != c)
        p = &(*p)->next;
    *p = c->next;
    free(c);
}

/* Whether a new connection of c may stay (under mu), else why not. */
static bool admit(struct deadlines *d, const struct client *c, enum refusal *why)
{
    if (c->n >= d->lim.per_client) {
        *why = REFUSED_PER_CLIENT;
        return false;
    }
    if (d->open >= d->lim.max - d->lim.max / 4 && c->n >= RESERVE_FEW) {
        *why = REFUSED_RESERVE;
        return false;
    }
    return true;
}

static void opened(struct deadlines *d, struct MHD_Connection *conn, void **socket_context)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct track *t;
    char ip[NET_MAX_ADDR];
    if (!ci || !(t = calloc(1, sizeof(*t))))
        return; /* untracked: the idle timeout still applies */
    t->fd = ci->connect_fd;
    t->since_ms = mono_ms();
    atomic_store(&t->deadline_ms, t->since_ms + (uint64_t)d->lim.header_s * 1000);
    conn_peer(conn, ip);
    bool exempt = cidr_match(d->lim.proxies, d->lim.nproxies, ip);
    enum refusal why = REFUSED_PER_CLIENT;
    pthread_mutex_lock(&d->mu);
    struct client *c = exempt ? NULL : client_of(d, ip);
    if (exempt || (c && admit(d, c, &why))) {
        if (c)
            c->n++;
        t->client = c;
        t->admitted = true;
        d->open++;
    } else { /* (a count made just now is never refused: it held none) */
        atomic_store(&t->deadline_ms, NONE);
        shutdown(t->fd, SHUT_RDWR); /* libmicrohttpd closes it at its next read */
        atomic_fetch_add(&d->refused[why], 1);
    }
    t->next = d->head.next;
    t->prev = &d->head;
    d->head.next->prev = t;
    d->head.next = t;
    pthread_mutex_unlock(&d->mu);
    *socket_context = t;
}

void deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    struct deadlines *d = cls;
    struct track *t = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        opened(d, conn, socket_context);
    } else if (t) {
        pthread_mutex_lock(&d->mu);
        t->prev->next = t->next;
        t->next->prev = t->prev;
        d->open -= t->admitted;
        if (t->client)
            client_drop(d, t->client);
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

void deadlines_headers(struct deadlines *d, struct MHD_Connection *conn)
{
    struct track *t = track_of(conn);
    if (t && atomic_load(&t->deadline_ms) != NONE)
        atomic_store(&t->deadline_ms, t->since_ms + (uint64_t)d->lim.request_s * 1000);
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
    if (t) {
        t->since_ms = mono_ms();
        atomic_store(&t->deadline_ms, t->since_ms + (uint64_t)d->lim.header_s * 1000);
    }
}
