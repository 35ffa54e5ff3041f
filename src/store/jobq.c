/* jobq.c: the writer's queue of jobs (see internal.h): request threads push
 * (store_submit, or store_run, which waits for the answer), one writer
 * thread takes batches; and what the writer committed. */
#include <time.h>

#include "internal.h"

void jobq_init(struct jobq *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->head = q->tail = NULL;
    q->depth = q->last = 0;
    q->stopping = false;
}

void jobq_destroy(struct jobq *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

int jobq_push(struct jobq *q, struct store_job *job)
{
    int rc = 0;
    job->next = NULL;
    job->rc = 0;
    pthread_mutex_lock(&q->mu);
    if (q->stopping)
        rc = LEADD_ESHUTDOWN;
    else if (q->depth >= STORE_MAX_QUEUE)
        rc = LEADD_EFULL;
    if (!rc) {
        if (q->tail)
            q->tail->next = job;
        else
            q->head = job;
        q->tail = job;
        q->depth++;
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* The time us microseconds from now, for pthread_cond_timedwait. */
static struct timespec after_us(unsigned long long us)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(us / 1000000);
    ts.tv_nsec += (long)(us % 1000000) * 1000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

struct store_job *jobq_take(struct jobq *q, size_t max, unsigned wait_ms, unsigned linger_us,
                            size_t *n, bool *stopped)
{
    struct store_job *batch = NULL;
    *n = 0;
    pthread_mutex_lock(&q->mu);
    if (!q->head && !q->stopping) {
        struct timespec ts = after_us(wait_ms * 1000ULL);
        while (!q->head && !q->stopping && !pthread_cond_timedwait(&q->cv, &q->mu, &ts))
            ;
    }
    /* under load (the last batch took more than one job: they come faster
     * than batches go), a little longer for a fuller batch */
    if (q->head && linger_us && q->last > 1) {
        struct timespec ts = after_us(linger_us);
        while (q->depth < JOBQ_FILL && !q->stopping && !pthread_cond_timedwait(&q->cv, &q->mu, &ts))
            ;
    }
    *stopped = !q->head && q->stopping;
    if (q->head) {
        /* Up to a batch; whoever arrives meanwhile waits for the next. */
        struct store_job *j = batch = q->head;
        *n = 1;
        while (j->next && *n < max) {
            j = j->next;
            (*n)++;
        }
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        j->next = NULL;
        q->depth -= *n;
    }
    q->last = *n;
    pthread_mutex_unlock(&q->mu);
    return batch;
}

void jobq_stop(struct jobq *q)
{
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

size_t jobq_depth(struct jobq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->depth;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void writer_stats_add(struct writer_stats *s, size_t n)
{
    atomic_fetch_add(&s->batches, 1);
    atomic_fetch_add(&s->jobs, n);
    if (n > atomic_load(&s->max_batch)) /* one writer adds: no race to lose */
        atomic_store(&s->max_batch, n);
}

void writer_stats_get(struct writer_stats *s, struct jobq *q, struct store_stats *out)
{
    out->batches = atomic_load(&s->batches);
    out->jobs = atomic_load(&s->jobs);
    out->max_batch = atomic_load(&s->max_batch);
    out->queue_depth = jobq_depth(q);
}

struct sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void sync_done(struct store_job *job, void *arg)
{
    struct sync *s = arg;
    (void)job;
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int store_run(struct store *st, struct store_job *job)
{
    struct sync s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    job->done = sync_done;
    /* s outlives the job's use of it: this function returns only after done. */
    // cppcheck-suppress autoVariables
    job->arg = &s;
    int rc = store_submit(st, job);
    if (rc)
        return rc;
    pthread_mutex_lock(&s.mu);
    while (!s.done)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    return job->rc;
}

int store_submit(struct store *st, struct store_job *job)
{
    return jobq_push(&st->q, job);
}
