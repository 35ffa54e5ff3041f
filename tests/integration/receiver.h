/* receiver.h: a real HTTP webhook receiver for tests. It records every
 * request, and answers as told: fail the first N with a status, then answer
 * `status`. A "stall" receiver accepts connections and never answers. */
#ifndef LEADD_RECEIVER_H
#define LEADD_RECEIVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#define RECV_MAX 4096

struct recv_req {
    char id[64], timestamp[32], signature[128], auth[128], ctype[64];
    char method[16], path[512];
    unsigned long long at_ms; /* monotonic, when it arrived */
    char *body;
};

struct receiver {
    void *daemon;
    int port;
    pthread_mutex_t mu;
    struct recv_req reqs[RECV_MAX];
    int n;
    int fail_first; /* answer fail_status to this many requests first */
    int fail_status;
    int status;         /* then this */
    int retry_after;    /* seconds, sent with failures when > 0 */
    const char *answer; /* the body of successful answers (default {"received":true}) */
    int delay_ms;       /* each answer waits this long first (a slow peer) */
    int stall_fd;       /* for a stall receiver */
};

/* recv_start: listens on 127.0.0.1 (port 0: any free port). */
void recv_start(struct receiver *r, int port);
void recv_stop(struct receiver *r);
/* recv_stall: a socket that completes connections and never answers. */
void recv_stall(struct receiver *r);
/* recv_count: requests received so far. */
int recv_count(struct receiver *r);
/* recv_wait: polls until at least n requests came (timeout_ms). */
bool recv_wait(struct receiver *r, int n, int timeout_ms);
/* recv_has_lead: how many requests carried lead id in their body. */
int recv_has_lead(struct receiver *r, const char *lead_id);
/* recv_clear: forgets what was received so far. */
void recv_clear(struct receiver *r);
void recv_free(struct receiver *r);
/* free_port: a port nothing listens on right now, below the ephemeral range
 * (so no outgoing connection takes it while its server restarts). */
int free_port(void);

#endif
