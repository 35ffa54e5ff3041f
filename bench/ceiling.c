/* ceiling: the bare-server ceiling for `make bench`. A minimal libmicrohttpd
 * server with leadd's daemon options and threads: it reads the POST body and
 * answers a fixed 201, doing no other work.
 * Usage: ceiling PORT THREADS */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct body {
    size_t len;
};

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    static const char answer[] = "{\"id\":\"01KAQ3X6Y8R0S9T1V2W3X4Y5Z6\"}";
    struct body *b = *state;
    (void)cls, (void)url, (void)method, (void)version, (void)data;
    if (!b) {
        *state = calloc(1, sizeof(*b));
        return *state ? MHD_YES : MHD_NO;
    }
    if (*size) {
        b->len += *size; /* read, as leadd reads it */
        *size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof(answer) - 1, (void *)answer, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, 201, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    free(*state);
    *state = NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        (uint16_t)strtol(argv[1], NULL, 10), NULL, NULL, on_req, NULL, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)strtol(argv[2], NULL, 10), MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 4096u,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d)
        return 1;
    fprintf(stderr, "ceiling listening on %s\n", argv[1]);
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
