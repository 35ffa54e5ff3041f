/* receiver.c: see receiver.h. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "receiver.h"

struct conn {
    char *body;
    size_t len;
};

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t cap)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    snprintf(out, cap, "%s", v ? v : "");
}

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    struct receiver *r = cls;
    struct conn *k = *state;
    (void)version;
    if (!k) {
        *state = calloc(1, sizeof(struct conn));
        return MHD_YES;
    }
    if (*size) {
        k->body = realloc(k->body, k->len + *size + 1);
        memcpy(k->body + k->len, data, *size);
        k->len += *size;
        k->body[k->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    int status;
    pthread_mutex_lock(&r->mu);
    if (r->n < RECV_MAX) {
        struct recv_req *q = &r->reqs[r->n++];
        copy_header(c, "webhook-id", q->id, sizeof(q->id));
        copy_header(c, "webhook-timestamp", q->timestamp, sizeof(q->timestamp));
        copy_header(c, "webhook-signature", q->signature, sizeof(q->signature));
        copy_header(c, "Authorization", q->auth, sizeof(q->auth));
        copy_header(c, "Content-Type", q->ctype, sizeof(q->ctype));
        snprintf(q->method, sizeof(q->method), "%s", method);
        const char *query = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "encoding");
        snprintf(q->path, sizeof(q->path), "%s%s%s", url, query ? "?encoding=" : "",
                 query ? query : "");
        q->at_ms = h_now_ms();
        q->body = k->body ? k->body : strdup("");
        k->body = NULL;
    }
    if (r->fail_first > 0) {
        r->fail_first--;
        status = r->fail_status;
    } else {
        status = r->status;
    }
    int retry_after = r->retry_after, delay_ms = r->delay_ms;
    pthread_mutex_unlock(&r->mu);
    if (delay_ms > 0) { /* thread per connection: only this answer waits */
        struct timespec ts = {delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    const char *ok = status < 300 && r->answer ? r->answer : "{\"received\":true}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(ok), (void *)ok, MHD_RESPMEM_PERSISTENT);
    if (status >= 400 && retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode toe)
{
    struct conn *k = *state;
    (void)cls, (void)c, (void)toe;
    if (k) {
        free(k->body);
        free(k);
        *state = NULL;
    }
}

void recv_start(struct receiver *r, int port)
{
    if (!r->status) {
        r->status = 200;
        r->fail_status = 503;
        pthread_mutex_init(&r->mu, NULL);
        r->stall_fd = -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                 (uint16_t)port, NULL, NULL, on_req, r, MHD_OPTION_SOCK_ADDR, &a,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    assert_non_null(r->daemon);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    r->port = di->port;
}

void recv_stop(struct receiver *r)
{
    if (r->daemon)
        MHD_stop_daemon(r->daemon);
    r->daemon = NULL;
}

void recv_stall(struct receiver *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->status = 200;
    r->stall_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    assert_int_equal(bind(r->stall_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(r->stall_fd, 128), 0); /* the kernel completes connections */
    getsockname(r->stall_fd, (struct sockaddr *)&a, &al);
    r->port = ntohs(a.sin_port);
}

int recv_count(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

struct waitarg {
    struct receiver *r;
    int n;
};

static bool reached(void *arg)
{
    struct waitarg *w = arg;
    return recv_count(w->r) >= w->n;
}

bool recv_wait(struct receiver *r, int n, int timeout_ms)
{
    struct waitarg w = {r, n};
    return h_wait(reached, &w, timeout_ms);
}

int recv_has_lead(struct receiver *r, const char *lead_id)
{
    char pat[64];
    int k = 0;
    snprintf(pat, sizeof(pat), "\"data\":{\"id\":\"%s\"", lead_id);
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        k += strstr(r->reqs[i].body, pat) != NULL;
    pthread_mutex_unlock(&r->mu);
    return k;
}

void recv_clear(struct receiver *r)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++)
        free(r->reqs[i].body);
    r->n = 0;
    pthread_mutex_unlock(&r->mu);
}

void recv_free(struct receiver *r)
{
    recv_stop(r);
    if (r->stall_fd >= 0)
        close(r->stall_fd);
    for (int i = 0; i < r->n; i++)
        free(r->reqs[i].body);
    r->n = 0;
    pthread_mutex_destroy(&r->mu);
}

int free_port(void)
{
    /* Below the kernel's ephemeral range: a port from it (bind to 0) is also
     * what each outgoing connection of every suite running alongside takes
     * as its own, so a node restarted on its port found it held by some
     * client's connection ("Address already in use"). */
    static unsigned seed;
    int low = 32768, port = 0; /* the range's first port: Linux's default, or the machine's */
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &low) != 1)
            low = 32768;
        fclose(f);
    }
    if (!seed)
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    int span = low > 10000 + 1024 ? low - 10000 : 0;
    for (int tries = 0; tries < 100 && !port; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        /* no room below the range (a machine set so): the kernel's pick */
        a.sin_port = htons(span ? (uint16_t)(10000 + rand_r(&seed) % span) : 0);
        socklen_t al = sizeof(a);
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &al) == 0)
            port = ntohs(a.sin_port);
        close(fd);
    }
    return port;
}
