/* harness.h: integration-test helpers. Each test starts the real leadd binary
 * (LEADD_BIN) on a free port with a temporary directory and database, talks
 * real HTTP to it with libcurl, and reads the real SQLite file. */
#ifndef LEADD_HARNESS_H
#define LEADD_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

struct leadd {
    pid_t pid;
    int port;
    char dir[256];
    char cfg[320];
    char db[320];
    char log[320];
    char *sets[16];
    size_t nsets;
    char pgdb[64]; /* LEADD_TEST_BACKEND=postgres: its database */
    void *pgc;     /* the test's own connection to it (a PGconn), kept till h_cleanup */
    /* SQLite: the test's own read-only connection to db (a sqlite3), kept
     * while nodes run; closed by a start, a stop and h_cleanup (a restore
     * may put another file in its place) */
    void *sq;
    char sq_path[320];
    bool listened[2]; /* each node has listened once: its port is its own */
    int rebinds;
    /* LEADD_TEST_NODES=2 (on PostgreSQL): a second node on the same
     * database and config; requests, raw sockets and event streams
     * alternate between the two, the log is both nodes' logs, and start,
     * stop, restart and kill take both. pid and port are the first's. */
    pid_t pid_b;
    int port_b;
    char log_b[320];
    unsigned turn;
    bool one; /* h_one_node */
};

struct resp {
    long status;
    char *body;
    size_t len;
    char *headers; /* raw header block, lowercase names */
};

/* h_run_group_tests_name: cmocka_run_group_tests_name over the tests this
 * run's shard takes: LEADD_TEST_SHARD=I/N keeps every N-th test from the
 * I-th (1-based), so a slow suite can run as N jobs side by side. */
#define h_run_group_tests_name(name, tests, setup, teardown)                                       \
    h_run_group(name, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)
int h_run_group(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
                CMFixtureFunction teardown);

/* h_base_ini: a config like config.example.ini but quiet on spam checks that
 * would get in the way of tests (no rate limit, no min fill time). */
extern const char H_BASE_INI[];

/* h_start: writes ini to a fresh temp dir and starts leadd on it; returns once
 * the log says it listens (polled, up to 20 s). sets: extra --set values. */
void h_start(struct leadd *l, const char *ini, ...); /* NULL-terminated sets */
/* h_restart: starts leadd again on the same dir, config and database. */
void h_restart(struct leadd *l);
/* h_stop: SIGTERM and wait; returns the exit status (0 = clean, no leaks). */
int h_stop(struct leadd *l);
/* h_one_node: from now on every request goes to the first node (a test of
 * what each node limits or does on its own: its stream cap, its shutdown). */
void h_one_node(struct leadd *l);
/* h_signal: sends sig to every node (a reload: SIGHUP). */
void h_signal(struct leadd *l, int sig);
/* h_kill9: SIGKILL and reap. */
void h_kill9(struct leadd *l);
/* h_reaped: tells the harness a test reaped l's process itself. */
void h_reaped(struct leadd *l);
/* h_cleanup: removes the temp dir. */
void h_cleanup(struct leadd *l);

/* h_req: one request; headers is a NULL-terminated list of "Name: value". */
void h_req(struct leadd *l, const char *method, const char *path, const char *body,
           struct resp *out, ...);
/* h_post_json: POST a JSON body to /v1/forms/{form}/submissions. */
void h_post_json(struct leadd *l, const char *form, const char *json, struct resp *out);
const char *h_header(const struct resp *r, const char *name, char *out, size_t cap);
void resp_free(struct resp *r);
/* h_json_str: the string value of "key" in a flat JSON text, into out. */
bool h_json_str(const char *json, const char *key, char *out, size_t cap);

/* h_pg: whether the tests run against PostgreSQL (LEADD_TEST_BACKEND). */
bool h_pg(void);
/* h_two_nodes: whether each test runs two nodes (LEADD_TEST_NODES=2);
 * h_nodes: how many l runs now. */
bool h_two_nodes(void);
int h_nodes(const struct leadd *l);
/* h_backend_sets: " --set storage.backend=... --set storage.url=..." for a
 * command run on l's database, or "" on SQLite (static: use at once). */
const char *h_backend_sets(const struct leadd *l);
/* h_sql_int: runs a query on the database and returns the first column of
 * its first row (or -1). Printf-style; use only with test-made values. */
long long h_sql_int(struct leadd *l, const char *fmt, ...);
/* h_sql_text: the same for a text column, into out ("" for NULL). */
void h_sql_text(struct leadd *l, char *out, size_t cap, const char *fmt, ...);
/* h_sql_exec: runs SQL that writes, on a connection of the test's own. */
void h_sql_exec(struct leadd *l, const char *sql);
/* The stats' counters and the list's filter table as a text, row by row. */
void h_rollup_dump(struct leadd *l, char *out, size_t cap);
/* leadd rollup --rebuild on l's database, days in tz; its exit status and
 * its output in out. */
int h_rollup_rebuild(struct leadd *l, const char *tz, char *out, size_t cap);
/* Fails the test unless the counters l kept equal those leadd rollup
 * --rebuild makes from the leads (days in UTC), saying from which row they
 * part; the kept dump's length. */
size_t h_rollup_kept_is_rebuilt(struct leadd *l);
/* h_post_signed: POST body to path signed as Standard Webhooks sign
 * (webhook-id msg_id, webhook-timestamp ts_s: 0 for now, webhook-signature
 * v1,<base64 HMAC-SHA256 of id.ts.body> with secret's key, after another
 * signature that is not it: a receiver must try each). */
void h_post_signed(struct leadd *l, const char *path, const char *secret, const char *msg_id,
                   long long ts_s, const char *body, struct resp *out);
/* h_api: a request to the query API with the test key. */
#define H_API_KEY "test-key-0123456789abcdef"
void h_api(struct leadd *l, const char *method, const char *path, const char *body,
           struct resp *out);
/* h_metric: the value of one series of /metrics ("name{labels}"), summed
 * over the nodes (each counts what it did, as Prometheus' sum() would add
 * them), or -1 when no node has it. */
long long h_metric(struct leadd *l, const char *series);
/* h_wait_metric: polls until h_metric(series) >= want (timeout_ms). */
bool h_wait_metric(struct leadd *l, const char *series, long long want, int timeout_ms);
/* h_wait_count: polls until h_sql_int(sql) (a finished statement, no %
 * conversions) == want (timeout_ms). */
bool h_wait_count(struct leadd *l, const char *sql, long long want, int timeout_ms);
/* h_rss_kb: a process's VmHWM (peak resident set) in kB. */
long h_peak_rss_kb(pid_t pid);
/* h_log_text: the whole log so far, every node's (free it). */
char *h_log_text(struct leadd *l);
/* h_wait_log: polls the log until it contains needle (timeout_ms);
 * h_wait_log_n: n times, over every node's log (each node logs a reload:
 * n * h_nodes(l)). */
bool h_wait_log(struct leadd *l, const char *needle, int timeout_ms);
bool h_wait_log_n(struct leadd *l, const char *needle, int n, int timeout_ms);
/* h_wait: polls cond(arg) every 5 ms until true or timeout_ms passes. */
bool h_wait(bool (*cond)(void *), void *arg, int timeout_ms);
/* h_write_file: writes text to dir/name and returns the path in out. */
void h_write_file(struct leadd *l, const char *name, const char *text, char *out, size_t cap);
uint64_t h_now_ms(void);
/* Raw sockets, for requests curl will not make (slow, partial, malformed);
 * h_connect_from: from another loopback address ("127.0.0.2"), another
 * client to leadd. */
int h_connect(struct leadd *l);
int h_connect_from(struct leadd *l, const char *from);
void h_send(int fd, const char *text);
/* h_run: runs a shell command (printf-style), its stdout and stderr into
 * out; returns its exit status (-1 when it did not exit). */
int h_run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* h_read_all: reads until the peer closes (free it). */
char *h_read_all(int fd);

/* A live event stream (GET /v1/events), read as it comes. */
struct h_stream {
    int fd;
    char *text; /* everything read so far, NUL-terminated */
    size_t len, cap;
};
/* h_stream_open: opens one with key (a Bearer key) and Last-Event-ID last
 * (or NULL); rcvbuf > 0 shrinks the socket's receive buffer first. */
void h_stream_open(struct leadd *l, struct h_stream *s, const char *key, const char *last,
                   int rcvbuf);
/* h_stream_until: reads until the text from `from` holds needle, the peer
 * closes or 10 s pass; where needle starts, or NULL. */
const char *h_stream_until(struct h_stream *s, size_t from, const char *needle);
/* h_stream_status: the answer's status once its headers are in (0: none). */
int h_stream_status(struct h_stream *s);
void h_stream_close(struct h_stream *s);

#endif
