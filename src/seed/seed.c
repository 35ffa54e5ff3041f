/* seed.c: see seed.h. Slots are reused as the writer finishes them, so
 * memory stays bounded however many leads are made. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/log.h"
#include "leadd/record.h"
#include "leadd/score.h"
#include "leadd/seed.h"

struct slot {
    struct lead lead;
    struct lead_record rec;
    struct store_lead_job job;
    struct slot *next_free;
    struct seeder *s;
};

struct seeder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct slot *free;
    int busy;
    int failed;
};

static void done(struct store_job *job, void *arg)
{
    struct slot *sl = arg;
    struct seeder *s = sl->s;
    pthread_mutex_lock(&s->mu);
    if (job->rc)
        s->failed++;
    sl->next_free = s->free;
    s->free = sl;
    s->busy--;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int fill(struct slot *sl, const struct config *cfg, const struct form *f, long long i)
{
    struct submission sub = {0};
    struct lead_errors *e = malloc(sizeof(*e));
    char email[64], src[16], budget[24];
    int rc = e ? 0 : LEADD_ENOMEM;
    snprintf(email, sizeof(email), "seed%lld@example%lld.com", i, i % 997);
    snprintf(src, sizeof(src), "src%lld", i % 10);
    snprintf(budget, sizeof(budget), "%lld", (i * 7919) % 50000);
    const char *pairs[][2] = {
        {"email", email},    {"name", "Seed Lead"}, {"company", i % 3 ? "Acme" : ""},
        {"budget", budget},  {"consent", "true"},   {"message", "Please call me about pricing."},
        {"utm_source", src}, {"utm_medium", "cpc"},
    };
    for (size_t k = 0; !rc && k < sizeof(pairs) / sizeof(pairs[0]); k++)
        rc = submission_add(&sub, pairs[k][0], strlen(pairs[k][0]), pairs[k][1],
                            strlen(pairs[k][1]), IN_STR);
    lead_release(&sl->lead);
    if (!rc)
        rc = lead_build(&sl->lead, f, &sub, &cfg->disposable_default, e);
    submission_release(&sub);
    free(e);
    if (rc)
        return rc; /* the form does not take the seed's fields */
    memset(&sl->job, 0, sizeof(sl->job));
    struct store_lead *in = &sl->job.in;
    if ((rc = score_lead(&sl->lead)) || (rc = lead_record_fill(&sl->rec, &sl->lead, in)))
        return rc;
    in->dedupe_window_ms = 0; /* synthetic emails are unique */
    in->status = 201;
    sl->job.job.op = STORE_OP_LEAD;
    sl->job.job.done = done;
    sl->job.job.arg = sl;
    return 0;
}

int seed_run(const struct config *cfg, struct store *st, const struct form *f, long long count)
{
    struct seeder s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};
    struct slot *slots = calloc(SEED_INFLIGHT, sizeof(*slots));
    int rc = 0;
    if (!slots)
        return LEADD_ENOMEM;
    for (int k = 0; k < SEED_INFLIGHT; k++) {
        slots[k].s = &s;
        lead_record_init(&slots[k].rec);
        slots[k].next_free = s.free;
        s.free = &slots[k];
    }
    for (long long i = 0; !rc && i < count; i++) {
        pthread_mutex_lock(&s.mu);
        while (!s.free)
            pthread_cond_wait(&s.cv, &s.mu);
        struct slot *sl = s.free;
        s.free = sl->next_free;
        s.busy++;
        pthread_mutex_unlock(&s.mu);
        /* The queue may be full: wait for room, as a client would retry. */
        if (!(rc = fill(sl, cfg, f, i))) {
            while ((rc = store_submit(st, &sl->job.job)) == LEADD_EFULL) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
        }
        if (rc) {
            pthread_mutex_lock(&s.mu);
            sl->next_free = s.free;
            s.free = sl;
            s.busy--;
            pthread_mutex_unlock(&s.mu);
        }
        if (i && i % 100000 == 0)
            log_info("seeded %lld leads", i);
    }
    pthread_mutex_lock(&s.mu);
    while (s.busy)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    for (int k = 0; k < SEED_INFLIGHT; k++) {
        lead_release(&slots[k].lead);
        lead_record_release(&slots[k].rec);
    }
    free(slots);
    return rc ? rc : s.failed ? LEADD_EDB : 0;
}
