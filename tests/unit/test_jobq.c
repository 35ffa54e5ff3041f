/* test_jobq.c: the writer's queue: a batch under load lingers for more
 * jobs, but never when a lone job waits, never past JOBQ_FILL, and never
 * once the queue stops. Each linger here is a minute: a take that waited
 * it would hold the test that long, and the elapsed time is checked. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "../../src/store/internal.h"

#define MINUTE_US 60000000u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void push(struct jobq *q, struct store_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(jobq_push(q, &jobs[i]), 0);
}

/* A take of everything waiting, with a minute's linger: how many. */
static size_t take(struct jobq *q, size_t *n)
{
    bool stopped;
    struct store_job *b = jobq_take(q, STORE_MAX_BATCH, 1000, MINUTE_US, n, &stopped);
    assert_false(stopped);
    size_t k = 0;
    for (; b; b = b->next)
        k++;
    return k;
}

static void t_linger_only_under_load_and_until_full(void **state)
{
    (void)state;
    static struct store_job jobs[JOBQ_FILL + 3];
    struct jobq q;
    size_t n;
    jobq_init(&q);
    double t0 = now_s();
    /* a lone job, the queue idle before: taken at once, alone */
    push(&q, jobs, 1);
    assert_int_equal(take(&q, &n), 1);
    assert_int_equal(n, 1);
    /* two, then a full batch waiting under load: taken at once, whole */
    push(&q, jobs + 1, 2);
    assert_int_equal(take(&q, &n), 2);
    push(&q, jobs + 3, JOBQ_FILL);
    assert_int_equal(take(&q, &n), JOBQ_FILL);
    assert_true(now_s() - t0 < 30); /* no take waited its minute */
    jobq_destroy(&q);
}

struct taker {
    struct jobq *q;
    size_t n;
    bool stopped;
    struct store_job *batch;
};

static void *taker_main(void *arg)
{
    struct taker *t = arg;
    t->batch = jobq_take(t->q, STORE_MAX_BATCH, 1000, MINUTE_US, &t->n, &t->stopped);
    return NULL;
}

/* Under load, a job waiting: the take lingers; jobs that come meanwhile
 * join its batch, and stopping the queue ends the wait at once. */
static void t_linger_gathers_and_stops(void **state)
{
    (void)state;
    static struct store_job jobs[8];
    struct jobq q;
    size_t n;
    jobq_init(&q);
    push(&q, jobs, 2);
    assert_int_equal(take(&q, &n), 2); /* under load from here */
    double t0 = now_s();
    push(&q, jobs + 2, 1);
    struct taker t = {.q = &q};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, taker_main, &t), 0);
    push(&q, jobs + 3, 2); /* before or during its linger: in its batch either way */
    jobq_stop(&q);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(now_s() - t0 < 30);
    assert_int_equal(t.n, 3);
    assert_false(t.stopped);
    jobq_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_linger_only_under_load_and_until_full),
        cmocka_unit_test(t_linger_gathers_and_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
