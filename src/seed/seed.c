/* seed.c: see seed.h. Slots are reused as the writer finishes them, so
 * memory stays bounded however many leads are made. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/log.h"
#include "leadd/score.h"
#include "leadd/seed.h"

enum { J_FIELDS, J_EXTRA, J_ATTR, J_CLIENT, J_REASONS, J_N };

struct slot {
    struct lead lead;
    struct buf json[J_N];
    struct store_job job;
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
    struct lead *l = &sl->lead;
    for (int k = 0; k < J_N; k++)
        buf_reset(&sl->json[k]);
    rc = score_lead(l);
    rc = rc ? rc : lead_fields_json(l, &sl->json[J_FIELDS]);
    rc = rc ? rc : lead_extra_json(l, &sl->json[J_EXTRA]);
    rc = rc ? rc : lead_attr_json(l, &sl->json[J_ATTR]);
    rc = rc ? rc : lead_client_json(l, &sl->json[J_CLIENT]);
    rc = rc ? rc : lead_reasons_json(l, &sl->json[J_REASONS]);
    if (rc)
        return rc;
    const struct value *name = lead_value(l, "name"), *company = lead_value(l, "company");
    memset(&sl->job, 0, sizeof(sl->job));
    struct store_lead *in = &sl->job.in;
    in->form = f->id;
    in->email = lead_email(l);
    in->name = name && name->kind == VAL_STR ? name->s : NULL;
    in->company = company && company->kind == VAL_STR ? company->s : NULL;
    in->fields = buf_str(&sl->json[J_FIELDS]);
    in->extra = buf_str(&sl->json[J_EXTRA]);
    in->attribution = buf_str(&sl->json[J_ATTR]);
    in->client = buf_str(&sl->json[J_CLIENT]);
    in->score_reasons = buf_str(&sl->json[J_REASONS]);
    in->utm_source = l->attr[ATTR_UTM_SOURCE];
    in->utm_medium = l->attr[ATTR_UTM_MEDIUM];
    in->flags = l->flags;
    in->score = l->score;
    in->grade = l->grade;
    in->qualified = l->qualified;
    in->status = 201;
    sl->job.done = done;
    sl->job.arg = sl;
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
        for (int j = 0; j < J_N; j++)
            buf_init(&slots[k].json[j], 1 << 20);
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
            while ((rc = store_submit(st, &sl->job)) == LEADD_EFULL) {
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
        for (int j = 0; j < J_N; j++)
            buf_release(&slots[k].json[j]);
    }
    free(slots);
    return rc ? rc : s.failed ? LEADD_EDB : 0;
}
