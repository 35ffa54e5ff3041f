/* itest_events.c: GET /v1/events: new and changed leads arrive live, a
 * reconnect with Last-Event-ID gets the leads it missed, a reader that falls
 * behind is cut off at its buffer's cap (and resumes by id), the number of
 * streams is capped, roles hold, and shutdown ends open streams. */
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static const char USERS[] = "[auth]\napi_keys = " H_API_KEY "\n"
                            "user.mia = viewer mia-viewer-key-0123456789\n";

static void post(struct leadd *l, int i, char *id, size_t cap)
{
    char b[256];
    struct resp r;
    snprintf(b, sizeof(b),
             "{\"email\":\"e%d@x.example\",\"name\":\"E\",\"consent\":true,\"company\":\"C\"}", i);
    h_post_json(l, "contact", b, &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, cap));
    resp_free(&r);
}

static void t_live_resume_and_roles(void **state)
{
    (void)state;
    struct leadd l;
    struct h_stream s, v;
    struct resp r;
    char ini[8192], a[32], b[32], c[32], d[32], want[160], path[96];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, USERS);
    h_start(&l, ini, NULL);
    /* Without a key: 401, like every /v1 read. A bad Last-Event-ID: 400. */
    h_req(&l, "GET", "/v1/events", NULL, &r, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    h_req(&l, "GET", "/v1/events", NULL, &r, "Authorization: Bearer " H_API_KEY,
          "Last-Event-ID: not-a-lead", NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "bad-last-event-id"));
    resp_free(&r);

    h_stream_open(&l, &s, H_API_KEY, NULL, 0);
    assert_non_null(h_stream_until(&s, 0, "retry: 1000\n\n"));
    assert_non_null(strstr(s.text, "HTTP/1.1 200"));
    assert_non_null(strstr(s.text, "Content-Type: text/event-stream"));
    assert_non_null(strstr(s.text, "Cache-Control: no-store"));
    /* A viewer may watch too. */
    h_stream_open(&l, &v, "mia-viewer-key-0123456789", NULL, 0);
    assert_non_null(h_stream_until(&v, 0, "retry: 1000"));

    post(&l, 1, a, sizeof(a));
    snprintf(want, sizeof(want),
             "id: %s\nevent: lead.created\ndata: {\"id\":\"%s\",\"form\":\"contact\","
             "\"spam\":false}\n\n",
             a, a);
    assert_non_null(h_stream_until(&s, 0, want));
    assert_non_null(h_stream_until(&v, 0, want));
    /* A person's change: lead.updated, with no event id (a reconnect
     * resumes by created leads only). */
    snprintf(path, sizeof(path), "/v1/leads/%s", a);
    h_api(&l, "PATCH", path, "{\"status\":\"contacted\"}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    snprintf(want, sizeof(want), "event: lead.updated\ndata: {\"id\":\"%s\"}\n\n", a);
    const char *at = h_stream_until(&s, 0, want);
    assert_non_null(at);
    const char *line = at - 1;
    while (line > s.text && line[-1] != '\n')
        line--;
    assert_true(strncmp(line, "id: ", 4) != 0); /* no id: line before it */
    h_stream_close(&s);

    /* Missed while away: b and c come first on a reconnect after a, in order,
     * each once; then the stream is live again. */
    post(&l, 2, b, sizeof(b));
    post(&l, 3, c, sizeof(c));
    h_stream_open(&l, &s, H_API_KEY, a, 0);
    char wb[64], wc[64];
    snprintf(wb, sizeof(wb), "id: %s\n", b);
    snprintf(wc, sizeof(wc), "id: %s\n", c);
    const char *pb = h_stream_until(&s, 0, wb), *pc = h_stream_until(&s, 0, wc);
    assert_non_null(pb);
    assert_non_null(pc);
    assert_true(pb < pc);
    snprintf(want, sizeof(want), "id: %s\n", a);
    assert_null(strstr(s.text, want));
    post(&l, 4, d, sizeof(d));
    snprintf(want, sizeof(want), "id: %s\n", d);
    assert_non_null(h_stream_until(&s, 0, want));
    assert_null(strstr(pc + 1, wc)); /* c once */

    /* An erasure is an update too. */
    snprintf(path, sizeof(path), "/v1/leads/%s", d);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    snprintf(want, sizeof(want), "data: {\"id\":\"%s\",\"erased\":true}", d);
    assert_non_null(h_stream_until(&s, 0, want));

    /* The stream closed earlier is gone once an event found it closed. */
    bool two = false;
    for (uint64_t until = h_now_ms() + 10000; !two && h_now_ms() < until;) {
        two = h_metric(&l, "leadd_event_streams") == 2;
    }
    assert_true(two);
    /* Shutdown ends open streams: leadd stops cleanly with two open. */
    assert_int_equal(h_stop(&l), 0);
    assert_non_null(h_stream_until(&s, 0, "\r\n0\r\n\r\n")); /* the last chunk */
    h_stream_close(&s);
    h_stream_close(&v);
    h_cleanup(&l);
}

static bool one_stream(void *arg)
{
    return h_metric(arg, "leadd_event_streams") == 1;
}

static bool two_streams(void *arg)
{
    return h_metric(arg, "leadd_event_streams") == 2;
}

static void t_slow_reader_capped_and_stream_limit(void **state)
{
    (void)state;
    struct leadd l;
    struct h_stream slow, s, extra;
    struct resp r;
    char ini[8192], id[32], last[32] = "", want[64];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, USERS);
    h_start(&l, ini, "server.event_buffer_kib=4", "server.event_streams=2", NULL);
    h_one_node(&l); /* the cap and the buffers are each node's */
    /* A reader that never reads, behind a small socket buffer. */
    h_stream_open(&l, &slow, H_API_KEY, NULL, 2048);
    h_stream_open(&l, &s, H_API_KEY, NULL, 0);
    /* Both open (their first bytes came) before a third is tried. */
    assert_non_null(h_stream_until(&slow, 0, "retry: 1000"));
    assert_non_null(h_stream_until(&s, 0, "retry: 1000"));
    /* A third stream is one too many. */
    h_req(&l, "GET", "/v1/events", NULL, &r, "Authorization: Bearer " H_API_KEY, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "too-many-streams"));
    char v[16];
    assert_non_null(h_header(&r, "Retry-After", v, sizeof(v)));
    resp_free(&r);
    /* Leads until the slow stream is cut off; the other keeps up. */
    bool cut = false;
    int i = 0;
    for (; i < 5000 && !cut; i++) {
        post(&l, i, id, sizeof(id));
        snprintf(want, sizeof(want), "id: %s\n", id);
        assert_non_null(h_stream_until(&s, 0, want));
        if (i % 50 == 49) {
            cut = h_metric(&l, "leadd_event_streams_behind_total") == 1;
        }
    }
    assert_true(cut);
    fprintf(stderr, "slow stream cut off within %d leads\n", i);
    /* It gets what was buffered, then the end of the stream; the last id it
     * saw is where it resumes, and the next lead is what comes first. */
    assert_non_null(h_stream_until(&slow, 0, "\r\n0\r\n\r\n"));
    const char *p = slow.text, *q;
    while ((q = strstr(p, "id: ")))
        p = q + 4;
    assert_true(p != slow.text);
    snprintf(last, sizeof(last), "%.26s", p);
    h_stream_close(&slow);
    /* Its slot is free again (once the server has let the stream go: its
     * last chunk can reach us first); resuming replays from after last. */
    assert_true(h_wait(one_stream, &l, 10000));
    struct h_stream again;
    h_stream_open(&l, &again, H_API_KEY, last, 0);
    assert_non_null(h_stream_until(&again, 0, "event: lead.created"));
    snprintf(want, sizeof(want), "id: %s\n", last);
    assert_null(strstr(again.text, want));
    /* A client that goes away frees its slot once an event finds it gone. */
    h_stream_close(&again);
    post(&l, 9000, id, sizeof(id));
    h_stream_open(&l, &extra, H_API_KEY, NULL, 0);
    int st = h_stream_status(&extra);
    for (int tries = 0; st == 503 && tries < 50; tries++) { /* the close may be seen late */
        h_stream_close(&extra);
        post(&l, 9001 + tries, id, sizeof(id));
        h_stream_open(&l, &extra, H_API_KEY, NULL, 0);
        st = h_stream_status(&extra);
    }
    assert_int_equal(st, 200);
    h_stream_close(&extra);
    h_stream_close(&s);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void stream_ok(struct leadd *l, struct h_stream *s, const char *key)
{
    h_stream_open(l, s, key, NULL, 0);
    assert_int_equal(h_stream_status(s), 200);
}

/* A stream key may not open: 503, naming the cap (why). */
static void refused(struct leadd *l, const char *key, const char *why)
{
    struct resp r;
    char auth[128];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    h_req(l, "GET", "/v1/events", NULL, &r, auth, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, why));
    resp_free(&r);
}

/* No user and no address holds every stream: past its share a viewer gets
 * 503 and the admin still gets one. */
static void t_streams_capped_per_user_and_address(void **state)
{
    (void)state;
    struct leadd l;
    struct h_stream v[2], a[2], ann;
    char ini[8192];
    snprintf(ini, sizeof(ini), "%s%s%s", H_BASE_INI, USERS,
             "user.ann = sales ann-sales-key-0123456789\n");
    h_start(&l, ini, "server.event_streams=10", "server.event_streams_per_user=2",
            "server.event_streams_per_client=4", NULL);
    h_one_node(&l); /* the caps are each node's */
    for (int i = 0; i < 2; i++)
        stream_ok(&l, &v[i], "mia-viewer-key-0123456789");
    refused(&l, "mia-viewer-key-0123456789", "event_streams_per_user");
    for (int i = 0; i < 2; i++) /* the admin is not shut out by the viewer */
        stream_ok(&l, &a[i], H_API_KEY);
    /* Four from this address: a fifth, whoever's, is one too many. */
    refused(&l, "ann-sales-key-0123456789", "event_streams_per_client");
    /* A stream closed gives its slot back within seconds, with no event to
     * find it gone (a closed tab, a page kept for Back). */
    h_stream_close(&v[0]);
    h_stream_close(&v[1]);
    uint64_t t0 = h_now_ms();
    assert_true(h_wait(two_streams, &l, 10000));
    fprintf(stderr, "two closed streams let go in %llu ms\n",
            (unsigned long long)(h_now_ms() - t0));
    stream_ok(&l, &ann, "ann-sales-key-0123456789");
    h_stream_close(&ann);
    h_stream_close(&a[0]);
    h_stream_close(&a[1]);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_live_resume_and_roles),
        cmocka_unit_test(t_streams_capped_per_user_and_address),
        cmocka_unit_test(t_slow_reader_capped_and_stream_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
