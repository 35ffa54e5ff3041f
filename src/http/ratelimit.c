/* ratelimit.c: token buckets in a fixed open-addressing table; see ratelimit.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/ratelimit.h"
#include "leadd/strutil.h"

#define KEY_MAX 128

struct slot {
    uint64_t hash;
    uint64_t last_ms;
    double tokens;
    char key[KEY_MAX];
};

struct ratelimit {
    pthread_mutex_t mu;
    struct slot *slots;
};

int ratelimit_new(struct ratelimit **out)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl || !(rl->slots = calloc(RATE_SLOTS, sizeof(*rl->slots)))) {
        free(rl);
        return LEADD_ENOMEM;
    }
    pthread_mutex_init(&rl->mu, NULL);
    *out = rl;
    return 0;
}

void ratelimit_free(struct ratelimit **rp)
{
    if (!*rp)
        return;
    pthread_mutex_destroy(&(*rp)->mu);
    free((*rp)->slots);
    free(*rp);
    *rp = NULL;
}

bool ratelimit_take(struct ratelimit *rl, const char *form, const char *ip, long long limit,
                    long long window_s, uint64_t now, bool take, long long *retry_after_s)
{
    char key[KEY_MAX];
    snprintf(key, sizeof(key), "%s|%s", form, ip);
    uint64_t h = fnv1a(FNV1A_SEED, key, strlen(key)) | 1;      /* 0 marks an empty slot */
    double rate = (double)limit / ((double)window_s * 1000.0); /* tokens per ms */
    bool ok;
    pthread_mutex_lock(&rl->mu);
    struct slot *s = NULL, *stalest = NULL;
    for (size_t i = 0; i < RATE_PROBE; i++) {
        struct slot *c = &rl->slots[(h + i) & (RATE_SLOTS - 1)];
        if (c->hash == h && !strcmp(c->key, key)) {
            s = c;
            break;
        }
        if (!stalest || c->hash == 0 || (stalest->hash && c->last_ms < stalest->last_ms))
            stalest = stalest && stalest->hash == 0 ? stalest : c;
    }
    if (!s) {
        s = stalest;
        s->hash = h;
        memcpy(s->key, key, sizeof(key));
        s->tokens = (double)limit;
        s->last_ms = now;
    }
    if (now > s->last_ms) {
        s->tokens += (double)(now - s->last_ms) * rate;
        if (s->tokens > (double)limit)
            s->tokens = (double)limit;
        s->last_ms = now;
    }
    ok = s->tokens >= 1.0;
    if (ok) {
        s->tokens -= take ? 1.0 : 0.0;
    } else {
        double wait_ms = (1.0 - s->tokens) / rate;
        *retry_after_s = (long long)(wait_ms / 1000.0) + 1;
    }
    pthread_mutex_unlock(&rl->mu);
    return ok;
}
