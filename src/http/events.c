/* events.c: GET /v1/events, live updates as Server-Sent Events.
 *
 * Each stream is a chunked answer whose content reader hands libmicrohttpd
 * what is waiting in the stream's buffer. When nothing is, the reader
 * suspends the connection and returns 0 (libmicrohttpd's documented way to
 * wait inside a content reader without busy-polling); events_publish()
 * appends to every stream's buffer and resumes the streams it suspended.
 *
 * lead.created events carry the lead's id as the event id, so a client that
 * reconnects with Last-Event-ID gets the leads created since (ids are
 * time-ordered) from the database, then the live ones. lead.updated events
 * carry none: they do not move where a reconnect resumes.
 *
 * Memory is bounded twice: at most [server] event_streams streams, and each
 * holds at most event_buffer_kib waiting to go out (and its socket's send
 * buffer is set to that size). A client that falls
 * further behind has its stream ended once what is buffered went out; it
 * resumes where it stopped by Last-Event-ID. A comment line every
 * HEARTBEAT_MS keeps proxies from closing a quiet stream and shows
 * libmicrohttpd a client that went away (a suspended connection does not
 * see its client close).
 *
 * Nodes sharing one PostgreSQL each publish the leads they capture and the
 * changes people make through them (announcing those to the other nodes,
 * store_announce: their streams publish them as they hear of them), and
 * follow the others' from the database: every FOLLOW_MS the leads of the
 * last FOLLOW_WINDOW_MS (ids carry their time; two nodes' commits do not
 * come in id order, hence a window, not a cursor) are read, and each one
 * not published yet goes out. What was published is remembered (by a hash
 * of its id) for the window. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "leadd/strutil.h"
#include "leadd/log.h"

#define HEARTBEAT_MS 15000
#define PROBE_MS 1000  /* how soon a client that went away gives its slot back */
#define REPLAY_MAX 200 /* leads replayed a connection; a client behind by more reconnects */
#define CHUNK (16 * 1024)
#define FOLLOW_MS 500
#define FOLLOW_WINDOW_MS 10000
#define FOLLOW_MAX 5000  /* leads read a tick: past it, the newest wait for the next */
#define SEEN_SLOTS 65536 /* a generation of published ids (a power of two) */

struct stream {
    struct stream *prev, *next;
    struct events *ev;
    struct MHD_Connection *conn;
    struct buf out; /* events not yet handed to libmicrohttpd, from sent on */
    size_t sent;
    bool suspended; /* by its reader: the next event resumes it */
    bool ending;    /* behind by more than its buffer, or shutting down */
    /* leads replayed from the database: their live events are not sent again */
    char (*replayed)[ULID_LEN + 1];
    size_t nreplayed;
    /* While the replay runs, live events wait here: sent before it, a lead
     * another node committed would come ahead of older ones, and twice. */
    bool replaying;
    struct buf held;
    char who[AUTH_MAX_NAME]; /* whose it is, and from where: each is capped */
    char ip[NET_MAX_ADDR];
    int fd; /* its socket, probed while suspended; -1 until known */
};

struct events {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t beat;
    bool stopping;
    struct stream head; /* a ring: head.next is the first */
    size_t n, max, per_user, per_client, cap;
    _Atomic uint64_t ended_behind; /* streams ended because their client fell behind */
    struct store *st;              /* followed when shared (store_shared), else NULL */
    /* ids published lately, by hash, in two generations of a window each:
     * the current takes new ones, both are asked (under mu) */
    uint64_t *seen[2];
    size_t nseen[2];
    uint64_t seen_since; /* when the current generation began */
};

static bool seen_in(const uint64_t *set, uint64_t h, size_t *slot)
{
    size_t k = h & (SEEN_SLOTS - 1);
    while (set[k] && set[k] != h)
        k = (k + 1) & (SEEN_SLOTS - 1);
    *slot = k;
    return set[k] == h;
}

/* Whether id was published within the last window or two; marks it when
 * not (under mu). A generation at most half full (open addressing probes
 * stay short); past that, ids go unmarked and may be sent twice. */
static bool seen_mark(struct events *ev, const char *id, uint64_t ms)
{
    if (ms - ev->seen_since >= FOLLOW_WINDOW_MS) { /* the older generation goes */
        uint64_t *old = ev->seen[1];
        ev->seen[1] = ev->seen[0];
        ev->nseen[1] = ev->nseen[0];
        memset(old, 0, SEEN_SLOTS * sizeof(*old));
        ev->seen[0] = old;
        ev->nseen[0] = 0;
        ev->seen_since = ms;
    }
    uint64_t h = fnv1a(FNV1A_SEED, id, strlen(id)) | 1; /* 0 marks a free slot */
    size_t k, k1;
    if (seen_in(ev->seen[1], h, &k1) || seen_in(ev->seen[0], h, &k))
        return true;
    if (ev->nseen[0] < SEEN_SLOTS / 2) {
        ev->seen[0][k] = h;
        ev->nseen[0]++;
    }
    return false;
}

/* Appends one event to what s sends (under ev->mu); a stream that has no
 * room ends. */
static void stream_out(struct stream *s, const char *text, size_t len)
{
    if (s->ending)
        return;
    if (s->sent && s->sent == s->out.len) {
        buf_reset(&s->out);
        s->sent = 0;
    }
    if (buf_add(&s->out, text, len)) {
        s->ending = true;
        atomic_fetch_add(&s->ev->ended_behind, 1);
    }
}

/* A live event for s (under ev->mu): sent, or held while s replays. */
static void stream_add(struct stream *s, const char *text, size_t len)
{
    if (!s->replaying) {
        stream_out(s, text, len);
    } else if (!s->ending && buf_add(&s->held, text, len)) {
        s->ending = true;
        atomic_fetch_add(&s->ev->ended_behind, 1);
    }
}

/* Takes s's connection off the suspended list (under ev->mu): the caller
 * resumes it once the lock is released. */
static struct MHD_Connection *stream_wake(struct stream *s)
{
    if (!s->suspended)
        return NULL;
    s->suspended = false;
    return s->conn;
}

/* Appends text to every stream (a lead.created for a lead some stream
 * replayed is skipped there) and resumes those waiting. */
static void broadcast(struct events *ev, const char *replay_id, const char *text, size_t len)
{
    struct MHD_Connection **wake = NULL;
    size_t nwake = 0;
    pthread_mutex_lock(&ev->mu);
    wake = ev->n ? malloc(ev->n * sizeof(*wake)) : NULL;
    for (struct stream *s = ev->head.next; s != &ev->head; s = s->next) {
        bool seen = false;
        for (size_t i = 0; replay_id && i < s->nreplayed && !seen; i++)
            seen = !strcmp(s->replayed[i], replay_id);
        if (!seen)
            stream_add(s, text, len);
        struct MHD_Connection *c = wake ? stream_wake(s) : NULL;
        if (c)
            wake[nwake++] = c;
    }
    pthread_mutex_unlock(&ev->mu);
    /* Outside the lock: a connection is resumed once, by whoever took it off
     * the list, and stays valid while suspended (libmicrohttpd frees it only
     * after it ends, which needs it resumed). */
    for (size_t i = 0; i < nwake; i++)
        MHD_resume_connection(wake[i]);
    free(wake);
    /* Without memory for the list, the streams wake at the next heartbeat. */
}

void events_publish(struct events *ev, const char *type, const char *id, const char *data)
{
    if (!ev)
        return;
    if (id && ev->st) {
        pthread_mutex_lock(&ev->mu);
        bool dup = seen_mark(ev, id, now_ms());
        pthread_mutex_unlock(&ev->mu);
        if (dup)
            return;
    }
    char text[512];
    int n = snprintf(text, sizeof(text), "%s%s%sevent: %s\ndata: %s\n\n", id ? "id: " : "",
                     id ? id : "", id ? "\n" : "", type, data);
    if (n > 0 && (size_t)n < sizeof(text))
        broadcast(ev, id, text, (size_t)n);
}

void events_lead_updated(struct events *ev, const char *id, bool erased)
{
    char data[96];
    snprintf(data, sizeof(data), "{\"id\":\"%s\"%s}", id, erased ? ",\"erased\":true" : "");
    events_publish(ev, "lead.updated", NULL, data);
}

/* Another node's change (store_set_update_hook). */
static void remote_update(void *arg, const char *id, bool erased)
{
    events_lead_updated(arg, id, erased);
}

static int follow_one(const char *id, const char *form, unsigned flags, void *arg)
{
    char data[160];
    snprintf(data, sizeof(data), "{\"id\":\"%s\",\"form\":\"%s\",\"spam\":%s}", id, form,
             (flags & LEAD_FLAGS_SPAM) ? "true" : "false");
    events_publish(arg, "lead.created", id, data); /* once: published ones are skipped */
    return 0;
}

/* Ends the suspended streams whose client went away (under ev->mu), into
 * wake: a suspended connection is polled by nobody, and a closed tab (or a
 * page the browser keeps for Back) would hold its slot until the next
 * heartbeat's write failed. A peek consumes nothing; on a descriptor reused
 * meanwhile (the stream being freed) it can only end a stream that is
 * ending anyway. */
static size_t probe(struct events *ev, struct MHD_Connection **wake, size_t cap)
{
    size_t n = 0;
    for (struct stream *s = ev->head.next; s != &ev->head && n < cap; s = s->next) {
        char c;
        if (!s->suspended || s->fd < 0)
            continue;
        ssize_t r = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            s->ending = true;
            wake[n++] = stream_wake(s);
        }
    }
    return n;
}

/* The heartbeat every HEARTBEAT_MS, the probe every PROBE_MS; with a shared
 * store, the other nodes' leads every FOLLOW_MS. */
static void *heartbeat(void *arg)
{
    struct events *ev = arg;
    uint64_t beat = mono_ms();
    pthread_mutex_lock(&ev->mu);
    while (!ev->stopping) {
        struct timespec ts;
        unsigned wait = ev->st ? FOLLOW_MS : PROBE_MS;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (long)(wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&ev->cv, &ev->mu, &ts);
        if (ev->stopping)
            break;
        struct MHD_Connection *gone[64];
        size_t ngone = probe(ev, gone, LEADD_ARRAY_LEN(gone));
        pthread_mutex_unlock(&ev->mu);
        for (size_t i = 0; i < ngone; i++)
            MHD_resume_connection(gone[i]);
        if (ev->st && ev->n) {
            char from[ULID_LEN + 1];
            size_t n;
            ulid_floor(now_ms() - FOLLOW_WINDOW_MS, from);
            if (store_leads_since(ev->st, from, FOLLOW_MAX, follow_one, ev, &n))
                log_warn("events: the other nodes' leads could not be read; tried again");
        }
        if (mono_ms() - beat >= HEARTBEAT_MS) {
            beat = mono_ms();
            broadcast(ev, NULL, ":\n\n", 3);
        }
        pthread_mutex_lock(&ev->mu);
    }
    pthread_mutex_unlock(&ev->mu);
    return NULL;
}

int events_start(struct events **out, const struct events_caps *caps, struct store *st)
{
    struct events *ev = calloc(1, sizeof(*ev));
    *out = NULL;
    if (!ev)
        return LEADD_ENOMEM;
    if (st && store_shared(st)) {
        ev->st = st;
        ev->seen[0] = calloc(SEEN_SLOTS, sizeof(uint64_t));
        ev->seen[1] = calloc(SEEN_SLOTS, sizeof(uint64_t));
        if (!ev->seen[0] || !ev->seen[1]) {
            free(ev->seen[0]);
            free(ev->seen[1]);
            free(ev);
            return LEADD_ENOMEM;
        }
    }
    pthread_mutex_init(&ev->mu, NULL);
    pthread_cond_init(&ev->cv, NULL);
    ev->head.next = ev->head.prev = &ev->head;
    ev->max = caps->streams;
    ev->per_user = caps->per_user;
    ev->per_client = caps->per_client;
    ev->cap = caps->buffer_bytes;
    if (pthread_create(&ev->beat, NULL, heartbeat, ev)) {
        pthread_cond_destroy(&ev->cv);
        pthread_mutex_destroy(&ev->mu);
        free(ev->seen[0]);
        free(ev->seen[1]);
        free(ev);
        return LEADD_ENOMEM;
    }
    if (ev->st)
        store_set_update_hook(ev->st, remote_update, ev);
    *out = ev;
    return 0;
}

void events_end_all(struct events *ev)
{
    if (!ev)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->stopping = true;
    pthread_cond_signal(&ev->cv);
    for (struct stream *s = ev->head.next; s != &ev->head; s = s->next)
        s->ending = true;
    pthread_mutex_unlock(&ev->mu);
    broadcast(ev, NULL, "", 0);
}

void events_stop(struct events **evp)
{
    struct events *ev = *evp;
    if (!ev)
        return;
    if (ev->st) /* first: the hook may be running (it takes ev->mu) */
        store_set_update_hook(ev->st, NULL, NULL);
    events_end_all(ev);
    pthread_join(ev->beat, NULL);
    pthread_cond_destroy(&ev->cv);
    pthread_mutex_destroy(&ev->mu);
    free(ev->seen[0]);
    free(ev->seen[1]);
    free(ev);
    *evp = NULL;
}

size_t events_open(struct events *ev, uint64_t *ended_behind)
{
    pthread_mutex_lock(&ev->mu);
    size_t n = ev->n;
    pthread_mutex_unlock(&ev->mu);
    *ended_behind = atomic_load(&ev->ended_behind);
    return n;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *dst, size_t max)
{
    struct stream *s = cls;
    struct events *ev = s->ev;
    ssize_t n = 0;
    (void)pos;
    pthread_mutex_lock(&ev->mu);
    if (s->sent < s->out.len) {
        size_t k = s->out.len - s->sent;
        k = k < max ? k : max;
        memcpy(dst, s->out.ptr + s->sent, k);
        s->sent += k;
        n = (ssize_t)k;
    } else if (s->ending) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        s->suspended = true;
        MHD_suspend_connection(s->conn);
    }
    pthread_mutex_unlock(&ev->mu);
    return n;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    struct events *ev = s->ev;
    pthread_mutex_lock(&ev->mu);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    ev->n--;
    pthread_mutex_unlock(&ev->mu);
    buf_release(&s->out);
    buf_release(&s->held);
    free(s->replayed);
    free(s);
}

/* Ends s's replay (under ev->mu): the live events held meanwhile follow it,
 * but for the leads it replayed. Each event ends at a blank line; a
 * lead.created starts with its id. */
static void replay_end(struct stream *s)
{
    const char *p = buf_str(&s->held), *end = p + s->held.len;
    while (p < end) {
        const char *e = strstr(p, "\n\n");
        e = e ? e + 2 : end;
        bool seen = false;
        for (size_t i = 0; !strncmp(p, "id: ", 4) && i < s->nreplayed && !seen; i++)
            seen = !strncmp(p + 4, s->replayed[i], ULID_LEN);
        if (!seen)
            stream_out(s, p, (size_t)(e - p));
        p = e;
    }
    s->replaying = false;
    buf_release(&s->held);
}

static int replay_one(const char *id, const char *form, unsigned flags, void *arg)
{
    struct stream *s = arg;
    char text[256];
    int n = snprintf(text, sizeof(text),
                     "id: %s\nevent: lead.created\ndata: {\"id\":\"%s\",\"form\":\"%s\","
                     "\"spam\":%s}\n\n",
                     id, id, form, (flags & LEAD_FLAGS_SPAM) ? "true" : "false");
    if (n <= 0 || (size_t)n >= sizeof(text))
        return 0; /* a form id is short: not reached */
    pthread_mutex_lock(&s->ev->mu);
    stream_out(s, text, (size_t)n);
    snprintf(s->replayed[s->nreplayed++], ULID_LEN + 1, "%s", id);
    pthread_mutex_unlock(&s->ev->mu);
    return 0;
}

enum MHD_Result api_events(struct req *r)
{
    struct events *ev = r->h->events;
    const char *last = header_in(r, "Last-Event-ID");
    if (last && !*last)
        last = NULL;
    if (last && (strlen(last) != ULID_LEN || !ulid_valid(last)))
        return problem(r, 400, "bad-last-event-id", "Bad Last-Event-ID",
                       "Last-Event-ID must be the id of a lead.created event");
    struct stream *s = calloc(1, sizeof(*s));
    if (!s || (last && !(s->replayed = calloc(REPLAY_MAX, sizeof(*s->replayed))))) {
        free(s);
        req_header(r, "Retry-After", "1");
        return problem(r, 503, "unavailable", "Service unavailable", NULL);
    }
    s->ev = ev;
    s->conn = r->conn;
    buf_init(&s->out, ev->cap);
    buf_init(&s->held, ev->cap);
    s->replaying = last != NULL;
    /* The client reconnects a second after the stream ends. */
    buf_adds(&s->out, "retry: 1000\n\n");
    s->fd = -1;
    snprintf(s->who, sizeof(s->who), "%s", r->who);
    client_ip(r, s->ip);
    /* One user, or one address, holds no more than its share: a viewer's
     * tabs (or a script) cannot take every stream from the rest. */
    const char *full = NULL;
    size_t mine = 0, theirs = 0;
    pthread_mutex_lock(&ev->mu);
    for (struct stream *o = ev->head.next; o != &ev->head; o = o->next) {
        mine += !strcmp(o->who, s->who);
        theirs += !strcmp(o->ip, s->ip);
    }
    if (ev->n >= ev->max || ev->stopping)
        full = "this server has as many live streams open as [server] event_streams allows";
    else if (mine >= ev->per_user)
        full = "you have as many live streams open as [server] event_streams_per_user allows: "
               "close a tab";
    else if (theirs >= ev->per_client)
        full = "this address has as many live streams open as [server] event_streams_per_client "
               "allows";
    bool room = !full;
    if (room) {
        s->prev = ev->head.prev;
        s->next = &ev->head;
        s->prev->next = s;
        ev->head.prev = s;
        ev->n++;
    }
    pthread_mutex_unlock(&ev->mu);
    if (!room) {
        buf_release(&s->out);
        buf_release(&s->held);
        free(s->replayed);
        free(s);
        req_header(r, "Retry-After", "5");
        return problem(r, 503, "too-many-streams", "Too many event streams", full);
    }
    /* Registered first, then the replay: a lead committed meanwhile is in the
     * replay, or comes live after it, or both (then sent once). */
    size_t n = 0;
    if (last) {
        bool more =
            !store_leads_since(r->h->st, last, REPLAY_MAX, replay_one, s, &n) && n == REPLAY_MAX;
        pthread_mutex_lock(&ev->mu);
        replay_end(s);
        if (more)
            s->ending = true; /* the client comes back for the rest */
        pthread_mutex_unlock(&ev->mu);
    }
    /* The kernel's share is capped too: left alone it grows a socket's send
     * buffer to megabytes for a client that does not read. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int sndbuf = (int)ev->cap;
    if (ci) {
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        pthread_mutex_lock(&ev->mu);
        s->fd = ci->connect_fd;
        pthread_mutex_unlock(&ev->mu);
    }
    req_header(r, "Cache-Control", "no-store");
    req_header(r, "X-Accel-Buffering", "no"); /* nginx: pass each event on at once */
    return respond_callback(r, 200, "text/event-stream", stream_read, s, stream_free, CHUNK);
}
