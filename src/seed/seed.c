/* seed.c: see seed.h. Slots are reused as the writer finishes them, so
 * memory stays bounded however many leads are made. */
#include <pthread.h>
#include <stdint.h>
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

/* xorshift64*: the same leads from one run to the next, so benchmarks
 * compare like with like. */
static uint64_t rnd(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

static const char *pick(uint64_t *st, const char *const *v, size_t n)
{
    return v[rnd(st) % n];
}

/* Traffic as it comes: a few sources bring most leads (weights below), each
 * campaign belongs to one source and runs through its medium, and a
 * campaign's leads vary in size from one to the next. */
static const struct {
    const char *name, *medium;
    unsigned weight;
} SOURCES[SEED_SOURCES] = {
    {"google", "cpc", 300},          {"facebook", "paid_social", 180},
    {"linkedin", "paid_social", 90}, {"bing", "cpc", 60},
    {"newsletter", "email", 60},     {"instagram", "paid_social", 50},
    {"twitter", "social", 30},       {"youtube", "video", 30},
    {"reddit", "paid_social", 25},   {"capterra", "referral", 25},
    {"g2", "referral", 20},          {"producthunt", "referral", 15},
    {"quora", "paid_social", 15},    {"taboola", "native", 15},
    {"outbrain", "native", 15},      {"partner", "referral", 15},
    {"webinar", "event", 10},        {"podcast", "audio", 10},
    {"tiktok", "paid_social", 20},   {"duckduckgo", "organic", 15},
};

static int fill(struct slot *sl, const struct config *cfg, const struct form *f, long long i,
                long long count, uint64_t t0)
{
    static const char *const FIRST[] = {
        "anna", "ben",  "chloe", "david", "emma",   "felix", "grace", "henry", "ines", "jonas",
        "kira", "luca", "mia",   "noah",  "olivia", "paul",  "rosa",  "sam",   "tara", "umar"};
    static const char *const LAST[] = {
        "meyer",  "smith",    "garcia",  "rossi",  "novak",  "kim",    "dubois", "silva",
        "jensen", "kowalski", "ivanova", "okafor", "tanaka", "larsen", "moreau", "fischer"};
    static const char *const DOMAINS[] = {
        "gmail.com",      "outlook.com", "acme.io",          "globex.com", "initech.de",
        "umbrella.co.uk", "hooli.com",   "example-corp.net", "yahoo.com",  "proton.me"};
    static const char *const COMPANIES[] = {"",
                                            "",
                                            "Acme",
                                            "Globex",
                                            "Initech",
                                            "Umbrella",
                                            "Hooli",
                                            "Stark Industries",
                                            "Wayne Enterprises"};
    uint64_t st = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)i * 0xBF58476D1CE4E5B9ULL);
    rnd(&st);
    struct submission sub = {0};
    struct lead_errors *e = malloc(sizeof(*e));
    char email[96], name[64], budget[24], campaign[32];
    int rc = e ? 0 : LEADD_ENOMEM;
    unsigned total = 0, w;
    for (size_t k = 0; k < SEED_SOURCES; k++)
        total += SOURCES[k].weight;
    w = (unsigned)(rnd(&st) % total);
    size_t src = 0;
    while (w >= SOURCES[src].weight)
        w -= SOURCES[src++].weight;
    /* ten campaigns a source, the first ones bigger */
    unsigned c = (unsigned)(rnd(&st) % 10) * (unsigned)(rnd(&st) % 10) / 9;
    snprintf(campaign, sizeof(campaign), "%s-%02u", SOURCES[src].name, c);
    const char *first = pick(&st, FIRST, LEADD_ARRAY_LEN(FIRST));
    const char *last = pick(&st, LAST, LEADD_ARRAY_LEN(LAST));
    snprintf(email, sizeof(email), "%s.%s%u@%s", first, last, (unsigned)(rnd(&st) % 100000),
             pick(&st, DOMAINS, LEADD_ARRAY_LEN(DOMAINS)));
    snprintf(name, sizeof(name), "%c%s %c%s", first[0] - 32, first + 1, last[0] - 32, last + 1);
    snprintf(budget, sizeof(budget), "%u", (unsigned)(rnd(&st) % 60000));
    const char *pairs[][2] = {
        {"email", email},
        {"name", name},
        {"company", pick(&st, COMPANIES, LEADD_ARRAY_LEN(COMPANIES))},
        {"budget", budget},
        {"consent", "true"},
        {"message", "Please call me about pricing."},
        {"utm_source", SOURCES[src].name},
        {"utm_medium", SOURCES[src].medium},
        {"utm_campaign", campaign},
    };
    for (size_t k = 0; !rc && k < LEADD_ARRAY_LEN(pairs); k++)
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
    in->dedupe_window_ms = 0; /* spread over a year: duplicates are flagged below */
    in->status = 201;
    /* a year of leads, oldest first (ids are time-ordered), ending now */
    in->created_ms =
        t0 - SEED_SPAN_MS + (uint64_t)((double)SEED_SPAN_MS * (double)i / (double)count);
    unsigned roll = (unsigned)(rnd(&st) % 1000);
    if (roll < 20)
        in->flags |= LEAD_FLAG_HONEYPOT; /* 2% spam */
    else if (roll < 50)
        in->flags |= LEAD_FLAG_DUPLICATE; /* 3% the same person again */
    if (!(in->flags & (LEAD_FLAGS_SPAM | LEAD_FLAG_DUPLICATE))) {
        roll = (unsigned)(rnd(&st) % 100);
        /* 70% new, 15% contacted, 7% converted with a deal, 8% rejected */
        in->lifecycle = roll < 70   ? NULL
                        : roll < 85 ? "contacted"
                        : roll < 92 ? "converted"
                                    : "rejected";
        if (roll >= 85 && roll < 92) {
            in->value_minor = 50000 + (long long)(rnd(&st) % 5000000);
            in->currency = cfg->currency;
        }
    }
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
    uint64_t t0 = now_ms();
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
        if (!(rc = fill(sl, cfg, f, i, count, t0))) {
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
