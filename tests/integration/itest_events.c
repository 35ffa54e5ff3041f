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

struct stream {
    int fd;
    char *text; /* everything read so far, NUL-terminated */
    size_t len, cap;
};

/* Opens a stream; rcvbuf > 0 shrinks the socket's receive buffer first (a
 * slow reader that the kernel cannot hide). */
static void open_stream(struct leadd *l, struct stream *s, const char *key, const char *last,
                        int rcvbuf)
{
    char req[512];
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    if (rcvbuf > 0)
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)l->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    snprintf(req, sizeof(req),
             "GET /v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
             "Authorization: Bearer %s\r\n%s%s%s\r\n",
             key, last ? "Last-Event-ID: " : "", last ? last : "", last ? "\r\n" : "");
    h_send(s->fd, req);
}

/* Reads until the text holds needle (counted from `from`), the peer closes
 * or 10 s pass; returns where needle starts, or NULL. */
static const char *read_until(struct stream *s, size_t from, const char *needle)
{
    uint64_t until = h_now_ms() + 10000;
    for (;;) {
        const char *at = s->text ? strstr(s->text + from, needle) : NULL;
        if (at)
            return at;
        int left = (int)(until - h_now_ms());
        struct pollfd p = {s->fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, left) != 1)
            return NULL;
        if (s->cap - s->len < 4096) {
            s->cap = s->cap ? s->cap * 2 : 65536;
            s->text = realloc(s->text, s->cap);
            assert_non_null(s->text);
        }
        ssize_t n = read(s->fd, s->text + s->len, s->cap - s->len - 1);
        if (n <= 0)
            return NULL;
        s->len += (size_t)n;
        s->text[s->len] = '\0';
    }
}

/* The status of the stream's answer, once its headers are in (0: none). */
static int stream_status(struct stream *s)
{
    if (!read_until(s, 0, "\r\n\r\n"))
        return 0;
    return (int)strtol(s->text + 9, NULL, 10); /* "HTTP/1.1 200" */
}

static void close_stream(struct stream *s)
{
    close(s->fd);
    free(s->text);
}

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
    struct stream s, v;
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

    open_stream(&l, &s, H_API_KEY, NULL, 0);
    assert_non_null(read_until(&s, 0, "retry: 1000\n\n"));
    assert_non_null(strstr(s.text, "HTTP/1.1 200"));
    assert_non_null(strstr(s.text, "Content-Type: text/event-stream"));
    assert_non_null(strstr(s.text, "Cache-Control: no-store"));
    /* A viewer may watch too. */
    open_stream(&l, &v, "mia-viewer-key-0123456789", NULL, 0);
    assert_non_null(read_until(&v, 0, "retry: 1000"));

    post(&l, 1, a, sizeof(a));
    snprintf(want, sizeof(want),
             "id: %s\nevent: lead.created\ndata: {\"id\":\"%s\",\"form\":\"contact\","
             "\"spam\":false}\n\n",
             a, a);
    assert_non_null(read_until(&s, 0, want));
    assert_non_null(read_until(&v, 0, want));
    /* A person's change: lead.updated, with no event id (a reconnect
     * resumes by created leads only). */
    snprintf(path, sizeof(path), "/v1/leads/%s", a);
    h_api(&l, "PATCH", path, "{\"status\":\"contacted\"}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    snprintf(want, sizeof(want), "event: lead.updated\ndata: {\"id\":\"%s\"}\n\n", a);
    const char *at = read_until(&s, 0, want), *line = at - 1;
    assert_non_null(at);
    while (line > s.text && line[-1] != '\n')
        line--;
    assert_true(strncmp(line, "id: ", 4) != 0); /* no id: line before it */
    close_stream(&s);

    /* Missed while away: b and c come first on a reconnect after a, in order,
     * each once; then the stream is live again. */
    post(&l, 2, b, sizeof(b));
    post(&l, 3, c, sizeof(c));
    open_stream(&l, &s, H_API_KEY, a, 0);
    char wb[64], wc[64];
    snprintf(wb, sizeof(wb), "id: %s\n", b);
    snprintf(wc, sizeof(wc), "id: %s\n", c);
    const char *pb = read_until(&s, 0, wb), *pc = read_until(&s, 0, wc);
    assert_non_null(pb);
    assert_non_null(pc);
    assert_true(pb < pc);
    snprintf(want, sizeof(want), "id: %s\n", a);
    assert_null(strstr(s.text, want));
    post(&l, 4, d, sizeof(d));
    snprintf(want, sizeof(want), "id: %s\n", d);
    assert_non_null(read_until(&s, 0, want));
    assert_null(strstr(pc + 1, wc)); /* c once */

    /* An erasure is an update too. */
    snprintf(path, sizeof(path), "/v1/leads/%s", d);
    h_api(&l, "DELETE", path, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    snprintf(want, sizeof(want), "data: {\"id\":\"%s\",\"erased\":true}", d);
    assert_non_null(read_until(&s, 0, want));

    /* The stream closed earlier is gone once an event found it closed. */
    bool two = false;
    for (uint64_t until = h_now_ms() + 10000; !two && h_now_ms() < until;) {
        h_api(&l, "GET", "/metrics", NULL, &r);
        two = strstr(r.body, "leadd_event_streams 2\n") != NULL;
        resp_free(&r);
    }
    assert_true(two);
    /* Shutdown ends open streams: leadd stops cleanly with two open. */
    assert_int_equal(h_stop(&l), 0);
    assert_non_null(read_until(&s, 0, "\r\n0\r\n\r\n")); /* the last chunk */
    close_stream(&s);
    close_stream(&v);
    h_cleanup(&l);
}

static void t_slow_reader_capped_and_stream_limit(void **state)
{
    (void)state;
    struct leadd l;
    struct stream slow, s, extra;
    struct resp r;
    char ini[8192], id[32], last[32] = "", want[64];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, USERS);
    h_start(&l, ini, "server.event_buffer_kib=4", "server.event_streams=2", NULL);
    /* A reader that never reads, behind a small socket buffer. */
    open_stream(&l, &slow, H_API_KEY, NULL, 2048);
    open_stream(&l, &s, H_API_KEY, NULL, 0);
    /* Both open (their first bytes came) before a third is tried. */
    assert_non_null(read_until(&slow, 0, "retry: 1000"));
    assert_non_null(read_until(&s, 0, "retry: 1000"));
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
        assert_non_null(read_until(&s, 0, want));
        if (i % 50 == 49) {
            h_api(&l, "GET", "/metrics", NULL, &r);
            cut = strstr(r.body, "leadd_event_streams_behind_total 1\n") != NULL;
            resp_free(&r);
        }
    }
    assert_true(cut);
    fprintf(stderr, "slow stream cut off within %d leads\n", i);
    /* It gets what was buffered, then the end of the stream; the last id it
     * saw is where it resumes, and the next lead is what comes first. */
    assert_non_null(read_until(&slow, 0, "\r\n0\r\n\r\n"));
    const char *p = slow.text, *q;
    while ((q = strstr(p, "id: ")))
        p = q + 4;
    assert_true(p != slow.text);
    snprintf(last, sizeof(last), "%.26s", p);
    close_stream(&slow);
    /* Its slot is free again; resuming replays from the id after last. */
    struct stream again;
    open_stream(&l, &again, H_API_KEY, last, 0);
    assert_non_null(read_until(&again, 0, "event: lead.created"));
    snprintf(want, sizeof(want), "id: %s\n", last);
    assert_null(strstr(again.text, want));
    /* A client that goes away frees its slot once an event finds it gone. */
    close_stream(&again);
    post(&l, 9000, id, sizeof(id));
    open_stream(&l, &extra, H_API_KEY, NULL, 0);
    int st = stream_status(&extra);
    for (int tries = 0; st == 503 && tries < 50; tries++) { /* the close may be seen late */
        close_stream(&extra);
        post(&l, 9001 + tries, id, sizeof(id));
        open_stream(&l, &extra, H_API_KEY, NULL, 0);
        st = stream_status(&extra);
    }
    assert_int_equal(st, 200);
    close_stream(&extra);
    close_stream(&s);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_live_resume_and_roles),
        cmocka_unit_test(t_slow_reader_capped_and_stream_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
