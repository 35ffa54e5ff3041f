/* harness.c: see harness.h. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>

#include "harness.h"
#include "leadd/crypto.h"
#include "receiver.h"

const char H_BASE_INI[] = "[server]\n"
                          "threads = 4\n"
                          "max_body_bytes = 65536\n"
                          "[storage]\n"
                          "durability = full\n"
                          "[form.contact]\n"
                          "field.email   = email required\n"
                          "field.name    = text required max=120\n"
                          "field.company = text max=200\n"
                          "field.phone   = phone\n"
                          "field.budget  = integer min=0 max=100000000\n"
                          "field.message = text max=5000\n"
                          "field.consent = consent required\n"
                          "allowed_origins = https://www.example.com\n"
                          "redirect = /thanks\n"
                          "honeypot = _gotcha\n"
                          "min_fill_ms = 1500\n"
                          "dedupe_window_hours = 24\n"
                          "rate_limit = 0\n"
                          "score.has_company = company present => 20\n"
                          "score.big_budget  = budget >= 10000 => 30\n"
                          "score.free_mail   = email domain in gmail.com => -15\n"
                          "score.paid_search = utm_source in google bing => 10\n"
                          "grade.hot = 60\n"
                          "grade.warm = 30\n"
                          "qualify_at = 40\n";

int h_run_group(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
                CMFixtureFunction teardown)
{
    const char *s = getenv("LEADD_TEST_SHARD");
    char *end;
    long i = s ? strtol(s, &end, 10) : 1, of = s && *end == '/' ? strtol(end + 1, NULL, 10) : 1;
    if (i < 1 || of < 1 || i > of) {
        fprintf(stderr, "LEADD_TEST_SHARD: expected I/N with 1 <= I <= N, got '%s'\n", s);
        return 1;
    }
    struct CMUnitTest *mine = calloc(n ? n : 1, sizeof(*mine));
    size_t k = 0;
    assert_non_null(mine);
    for (size_t t = (size_t)i - 1; t < n; t += (size_t)of)
        mine[k++] = tests[t];
    int rc = _cmocka_run_group_tests(name, mine, k, setup, teardown);
    free(mine);
    return rc;
}

uint64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Polls soon at first, then less often: a condition that is met at once
 * costs a millisecond, and one that takes seconds (a retry, a lease) is not
 * asked hundreds of times: each ask reads logs or makes a request, and with
 * the suites side by side on two cores that work is what slows them. */
bool h_wait(bool (*cond)(void *), void *arg, int timeout_ms)
{
    uint64_t until = h_now_ms() + (uint64_t)timeout_ms;
    long pause_us = 1000;
    for (;;) {
        if (cond(arg))
            return true;
        if (h_now_ms() > until)
            return false;
        struct timespec ts = {0, pause_us * 1000};
        nanosleep(&ts, NULL);
        if (pause_us < 50000)
            pause_us += pause_us / 2;
    }
}

/* The logs at paths (NULL-terminated; "" and missing ones left out), one
 * after the other. */
static char *read_logs(const char *const *paths)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_non_null(mem);
    for (; *paths; paths++) {
        FILE *fp = **paths ? fopen(*paths, "rb") : NULL;
        char chunk[4096];
        size_t n;
        while (fp && (n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
            fwrite(chunk, 1, n, mem);
        if (fp)
            fclose(fp);
    }
    fclose(mem);
    return text;
}

char *h_log_text(struct leadd *l)
{
    const char *paths[] = {l->log, l->log_b, NULL};
    return read_logs(paths);
}

struct logwait {
    const char *path; /* one node's log, or NULL: all */
    struct leadd *l;
    const char *needle;
    int n; /* times it must appear */
};

static bool log_has(void *arg)
{
    struct logwait *w = arg;
    const char *one[] = {w->path, NULL};
    char *t = w->path ? read_logs(one) : h_log_text(w->l);
    int n = 0;
    for (const char *p = t; n < w->n && (p = strstr(p, w->needle)); p++)
        n++;
    free(t);
    return n >= w->n;
}

struct startwait {
    struct logwait log;
    pid_t pid;
};

/* The node says it listens, or has exited (not reaped: h_stop does). */
static bool listening_or_gone(void *arg)
{
    struct startwait *w = arg;
    siginfo_t si = {0};
    return log_has(&w->log) ||
           (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid);
}

bool h_wait_log_n(struct leadd *l, const char *needle, int n, int timeout_ms)
{
    struct logwait w = {NULL, l, needle, n};
    if (h_wait(log_has, &w, timeout_ms))
        return true;
    /* what the log said instead: its last lines, for the failure's reader */
    char *t = h_log_text(l);
    size_t len = strlen(t), lines = 0, from = len;
    while (from > 0 && lines < 15)
        lines += t[--from] == '\n';
    fprintf(stderr, "no '%s' %d times in the log within %d ms; it ends:\n%s\n", needle, n,
            timeout_ms, t + from);
    free(t);
    return false;
}

bool h_wait_log(struct leadd *l, const char *needle, int timeout_ms)
{
    return h_wait_log_n(l, needle, 1, timeout_ms);
}

void h_write_file(struct leadd *l, const char *name, const char *text, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", l->dir, name);
    FILE *fp = fopen(out, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Every leadd started and not yet reaped, so a test that fails half-way
 * (cmocka jumps out of it) leaves no server running behind it. */
static pid_t live[64];

static void track(pid_t pid)
{
    for (size_t i = 0; i < 64; i++) {
        if (!live[i]) {
            live[i] = pid;
            return;
        }
    }
}

static void untrack(pid_t pid)
{
    for (size_t i = 0; i < 64; i++) {
        if (live[i] == pid)
            live[i] = 0;
    }
}

static void kill_live(void)
{
    for (size_t i = 0; i < 64; i++) {
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            waitpid(live[i], NULL, 0);
        }
    }
}

/* Starts one node (the second: b) and reads its port from its log. Each
 * node keeps its port across restarts (h_start chose it): tests hold its
 * address, and on PostgreSQL a node is named by it, and a restarted one
 * takes back at once the deliveries it held. The second's port comes
 * last, over a test's own server.listen, which is the first's. */
static void spawn_node(struct leadd *l, bool b)
{
    char listen[48], path[400];
    snprintf(listen, sizeof(listen), "server.listen=127.0.0.1:%d", b ? l->port_b : l->port);
    snprintf(path, sizeof(path), "storage.path=%s", l->db);
    char *argv[64];
    int n = 0;
    argv[n++] = getenv("LEADD_BIN") ? getenv("LEADD_BIN") : "build/leadd";
    argv[n++] = "serve";
    if (l->cfg[0]) {
        argv[n++] = "-c";
        argv[n++] = l->cfg;
    }
    argv[n++] = "--set";
    argv[n++] = listen;
    argv[n++] = "--set";
    argv[n++] = path;
    for (size_t i = 0; i < l->nsets; i++) {
        argv[n++] = "--set";
        argv[n++] = l->sets[i];
    }
    if (b) {
        argv[n++] = "--set";
        argv[n++] = listen;
    }
    argv[n] = NULL;
    /* A fresh log per start, so "listening on" is this start's. */
    const char *log = b ? l->log_b : l->log;
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    /* stdout too: a child must never hold the test's own output pipe */
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    /* systemd gives each service its own NOTIFY_SOCKET; the test's is the
     * first node's */
    char *env[256];
    size_t ne = 0;
    for (char **e = environ; *e && ne < 255; e++)
        if (!b || strncmp(*e, "NOTIFY_SOCKET=", 14))
            env[ne++] = *e;
    env[ne] = NULL;
    /* posix_spawn, not fork: a fork copies this process's page tables (an
     * ASan process holding its quarantine), and each page it writes after
     * faults once more; spawning a node cost the test more than the node's
     * own start did */
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, argv, env), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    *(b ? &l->pid_b : &l->pid) = pid;
    track(pid);
    struct startwait w = {{log, l, "listening on http://", 1}, pid};
    /* Polled: a start takes well under a second, but under a whole
     * parallel make test on two cores one took over 20 s, twice; say what
     * it was doing if it never comes, and at once if it exited (a config
     * refused). */
    if (!h_wait(listening_or_gone, &w, 60000) || !log_has(&w.log)) {
        char proc[64], wchan[128] = "", stat[256] = "";
        const char *one[] = {log, NULL};
        char *t = read_logs(one);
        /* Nodes are given their ports (they keep them across restarts):
         * one free when chosen may be taken by another suite's server
         * before this node binds it. A node that never listened takes
         * another. */
        int *port = b ? &l->port_b : &l->port;
        if (!l->listened[b] && l->rebinds < 5 && t && strstr(t, "Address already in use") &&
            waitpid(pid, NULL, 0) == pid) {
            free(t);
            untrack(pid);
            *(b ? &l->pid_b : &l->pid) = 0;
            *port = free_port();
            l->rebinds++;
            spawn_node(l, b);
            return;
        }
        snprintf(proc, sizeof(proc), "/proc/%d/wchan", (int)pid);
        FILE *fp = fopen(proc, "r");
        if (fp && !fgets(wchan, sizeof(wchan), fp))
            wchan[0] = '\0';
        if (fp)
            fclose(fp);
        snprintf(proc, sizeof(proc), "/proc/%d/stat", (int)pid);
        if ((fp = fopen(proc, "r")) && !fgets(stat, sizeof(stat), fp))
            stat[0] = '\0';
        if (fp)
            fclose(fp);
        fail_msg("leadd (pid %d) did not listen (exited, or not within 60 s); wchan %s; stat %s; "
                 "its log:\n%s",
                 (int)pid, wchan, stat, t ? t : "");
    }
    const char *one[] = {log, NULL};
    char *t = read_logs(one);
    const char *p = strstr(t, "listening on http://");
    p = strchr(p + 20, ':');
    int port = (int)strtol(p + 1, NULL, 10);
    free(t);
    assert_true(port > 0);
    *(b ? &l->port_b : &l->port) = port;
    l->listened[b] = true;
}

static void sq_close(struct leadd *l)
{
    sqlite3_close(l->sq);
    l->sq = NULL;
}

static void spawn(struct leadd *l)
{
    sq_close(l);
    if (l->pid <= 0)
        spawn_node(l, false);
    if (l->log_b[0] && l->pid_b <= 0)
        spawn_node(l, true);
}

/* The port of the node the next request goes to: they take turns (tests
 * make requests from threads of their own too). */
static int next_port(struct leadd *l)
{
    if (l->pid_b <= 0 || l->one)
        return l->port;
    return __atomic_fetch_add(&l->turn, 1, __ATOMIC_RELAXED) & 1 ? l->port_b : l->port;
}

/* LEADD_TEST_BACKEND=postgres (tests/pg-suite.sh, under pg_virtualenv):
 * each h_start's leadd serves from a database of its own in the throwaway
 * cluster (as each has its own SQLite file otherwise: a test that fails
 * and leaves its leadd running disturbs no other), and h_sql_* ask it. */
bool h_pg(void)
{
    const char *b = getenv("LEADD_TEST_BACKEND");
    return b && !strcmp(b, "postgres");
}

bool h_two_nodes(void)
{
    const char *n = getenv("LEADD_TEST_NODES");
    return h_pg() && n && !strcmp(n, "2");
}

int h_nodes(const struct leadd *l)
{
    return (l->pid > 0) + (l->pid_b > 0);
}

const char *h_backend_sets(const struct leadd *l)
{
    static char v[160];
    snprintf(v, sizeof(v), " --set storage.backend=postgres --set storage.url=dbname=%s", l->pgdb);
    return h_pg() ? v : "";
}

/* A connection to the cluster's own database, kept for the whole suite:
 * each test makes its database on it (a session costs the server more
 * than copying the template does). */
static PGconn *pg_admin(void)
{
    static PGconn *c;
    if (!c)
        c = PQconnectdb("");
    else if (PQstatus(c) != CONNECTION_OK)
        PQreset(c); /* itest_pg restarted the server */
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("postgres: %s", PQerrorMessage(c));
    return c;
}

/* Runs sql on database db ("": the cluster's own); the result (PQclear
 * it). */
static PGresult *pg_run_on(const char *db, const char *sql)
{
    char conn[128];
    snprintf(conn, sizeof(conn), "dbname=%s", db);
    PGconn *c = *db ? PQconnectdb(conn) : pg_admin();
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("postgres: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("bad test query '%s': %s", sql, PQresultErrorMessage(r));
    if (*db)
        PQfinish(c);
    return r;
}

/* Runs leadd migrate with config ini (written into dir, removed after) and
 * the --set options sets; a failure fails the test. */
static void migrate_with(const char *dir, const char *ini, const char *sets)
{
    char path[256], out[4096];
    snprintf(path, sizeof(path), "%s/t.ini", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(ini, fp);
    fclose(fp);
    const char *bin = getenv("LEADD_BIN") ? getenv("LEADD_BIN") : "build/leadd";
    if (h_run(out, sizeof(out), "%s migrate -c %s %s 2>&1", bin, path, sets) != 0)
        fail_msg("migrating a template: %s", out);
    unlink(path);
}

/* Makes a directory of its own, named prefix-XXXXXX, in $TMPDIR (tests/run.sh
 * points it at a tmpfs where there is one: the suites' SQLite files and logs
 * then cost no journal commits to a disk; /tmp otherwise). */
static void make_dir(char *buf, size_t cap, const char *prefix)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, cap, "%s/%s-XXXXXX", t && *t ? t : "/tmp", prefix);
    assert_non_null(mkdtemp(buf));
}

/* The database each test's is a copy of, made once a cluster by the first
 * test to need it (the others wait on a lock): leadd's migrations applied,
 * and the SQLite functions the tests' own queries use. A copy of its files
 * costs the cluster about half of an empty database's creation and
 * migration, for each of some 300 databases a make test makes. */
static const char *pg_template(void)
{
    static const char NAME[] = "leadd_test_template";
    static bool made;
    if (made)
        return NAME;
    PGconn *c = pg_admin();
    PQclear(PQexec(c, "SELECT pg_advisory_lock(7240531)"));
    PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'leadd_test_template'");
    bool exists = PQntuples(r) > 0;
    PQclear(r);
    if (!exists) {
        char dir[256];
        PQclear(pg_run_on("", "DROP DATABASE IF EXISTS leadd_test_template_new"));
        PQclear(pg_run_on("", "CREATE DATABASE leadd_test_template_new"));
        PQclear(pg_run_on("leadd_test_template_new",
                          "CREATE FUNCTION hex(bytea) RETURNS text LANGUAGE sql IMMUTABLE AS"
                          " $$ SELECT upper(encode($1, 'hex')) $$;"
                          "CREATE FUNCTION gc_step(acc text, v text) RETURNS text LANGUAGE sql"
                          " IMMUTABLE AS $$ SELECT CASE WHEN v IS NULL THEN acc WHEN acc IS NULL"
                          " THEN v ELSE acc || ',' || v END $$;"
                          "CREATE AGGREGATE group_concat(text) (SFUNC = gc_step, STYPE = text);"
                          "CREATE FUNCTION json_extract(text, text) RETURNS text LANGUAGE sql"
                          " IMMUTABLE AS $$ SELECT $1::jsonb ->> substr($2, 3) $$"));
        make_dir(dir, sizeof(dir), "leadd-tmpl");
        migrate_with(dir,
                     "[storage]\nbackend = postgres\nurl = dbname=leadd_test_template_new\n"
                     "[form.t]\nfield.email = email required\n",
                     "");
        rmdir(dir);
        /* named when whole: a test killed midway leaves no half template */
        PQclear(pg_run_on("", "ALTER DATABASE leadd_test_template_new"
                              " RENAME TO leadd_test_template"));
    }
    PQclear(PQexec(c, "SELECT pg_advisory_unlock(7240531)"));
    made = true;
    return NAME;
}

/* The SQLite file each test's leadd starts from, as pg_template is on
 * PostgreSQL: leadd's migrations applied once a suite, not at every test's
 * first start (under ASan they were a third of a start's CPU, some 250
 * starts a make test). Starting on nothing is tested where it is the point:
 * itest_cli's migrate, the browser test's and install check's leadd. */
static char sq_tmpl_dir[256];
static char sq_tmpl[300];

static void sq_template_remove(void)
{
    unlink(sq_tmpl);
    rmdir(sq_tmpl_dir);
}

static const char *sq_template(void)
{
    if (sq_tmpl[0])
        return sq_tmpl;
    char sets[400];
    make_dir(sq_tmpl_dir, sizeof(sq_tmpl_dir), "leadd-tmpl");
    snprintf(sq_tmpl, sizeof(sq_tmpl), "%s/leadd.db", sq_tmpl_dir);
    atexit(sq_template_remove);
    snprintf(sets, sizeof(sets), "--set storage.path=%s", sq_tmpl);
    migrate_with(sq_tmpl_dir, "[form.t]\nfield.email = email required\n", sets);
    return sq_tmpl;
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char buf[65536];
    ssize_t n;
    assert_true(in >= 0 && out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    close(out);
}

/* The same on l's database, on l's own connection: tests poll with their
 * queries, and a connection each (a server process started and ended) cost
 * the cluster more than the tests themselves. One at a time: tests query
 * from threads too. */
static pthread_mutex_t pg_mu = PTHREAD_MUTEX_INITIALIZER;

static PGresult *pg_run(struct leadd *l, const char *sql)
{
    char conn[128];
    pthread_mutex_lock(&pg_mu);
    if (!l->pgc) {
        snprintf(conn, sizeof(conn), "dbname=%s", l->pgdb);
        l->pgc = PQconnectdb(conn);
    } else if (PQstatus(l->pgc) != CONNECTION_OK) {
        PQreset(l->pgc); /* the server was restarted under it */
    }
    PGresult *r = PQexec(l->pgc, sql);
    ExecStatusType st = PQresultStatus(r);
    pthread_mutex_unlock(&pg_mu);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        fail_msg("bad test query '%s': %s", sql, PQresultErrorMessage(r));
    return r;
}

void h_start(struct leadd *l, const char *ini, ...)
{
    signal(SIGPIPE, SIG_IGN); /* a closed socket is an assertion, not a crash */
    memset(l, 0, sizeof(*l));
    make_dir(l->dir, sizeof(l->dir), "leadd-test");
    snprintf(l->db, sizeof(l->db), "%s/leadd.db", l->dir);
    snprintf(l->log, sizeof(l->log), "%s/leadd.log", l->dir);
    if (h_two_nodes())
        snprintf(l->log_b, sizeof(l->log_b), "%s/leadd-b.log", l->dir);
    l->port = free_port();
    l->port_b = h_two_nodes() ? free_port() : 0;
    if (ini)
        h_write_file(l, "leadd.ini", ini, l->cfg, sizeof(l->cfg));
    va_list ap;
    va_start(ap, ini);
    const char *s;
    while ((s = va_arg(ap, const char *)) && l->nsets < 16)
        l->sets[l->nsets++] = strdup(s);
    va_end(ap);
    if (h_pg() && l->nsets < 14) {
        static int n;
        char url[256], sql[160];
        snprintf(l->pgdb, sizeof(l->pgdb), "leadd_test_%d_%d", (int)getpid(), ++n);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY", l->pgdb,
                 pg_template());
        PQclear(pg_run_on("", sql));
        snprintf(url, sizeof(url), "storage.url=dbname=%s", l->pgdb);
        l->sets[l->nsets++] = strdup("storage.backend=postgres");
        l->sets[l->nsets++] = strdup(url);
    } else {
        copy_file(sq_template(), l->db);
    }
    spawn(l);
}

void h_restart(struct leadd *l)
{
    spawn(l);
}

/* SIGTERM to one node and its exit status (0: clean, no leaks). */
static int stop_node(struct leadd *l, pid_t *pid)
{
    int status = -1;
    if (*pid <= 0)
        return -1;
    kill(*pid, SIGTERM);
    waitpid(*pid, &status, 0);
    untrack(*pid);
    *pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        char *t = h_log_text(l);
        fprintf(stderr, "leadd exited %d; its log:\n%s\n", WEXITSTATUS(status), t);
        free(t);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int h_stop(struct leadd *l)
{
    sq_close(l);
    int b = l->pid_b > 0 ? stop_node(l, &l->pid_b) : 0;
    int a = stop_node(l, &l->pid);
    return a ? a : b;
}

void h_one_node(struct leadd *l)
{
    l->one = true;
}

void h_signal(struct leadd *l, int sig)
{
    if (l->pid > 0)
        kill(l->pid, sig);
    if (l->pid_b > 0)
        kill(l->pid_b, sig);
}

static void kill9_node(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        untrack(*pid);
        *pid = 0;
    }
}

void h_kill9(struct leadd *l)
{
    kill9_node(&l->pid_b);
    kill9_node(&l->pid);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path) ? -1 : 0;
}

void h_cleanup(struct leadd *l)
{
    h_kill9(l);
    sq_close(l);
    PQfinish(l->pgc);
    l->pgc = NULL;
    for (size_t i = 0; i < l->nsets; i++)
        free(l->sets[i]);
    l->nsets = 0;
    /* in process: a shell and an rm for each test cost more than removing */
    if (l->dir[0] && !getenv("LEADD_KEEP") &&
        nftw(l->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "could not remove %s\n", l->dir);
}

struct sink {
    char *p;
    size_t n, cap;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    if (s->n + n + 1 > s->cap) {
        /* Doubling: a 60 MB export must not be copied once per chunk. */
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->n + n + 1)
            cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p)
            return 0;
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->n, ptr, n);
    s->n += n;
    s->p[s->n] = '\0';
    return n;
}

int h_connect_from(struct leadd *l, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)next_port(l))},
                       b = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    if (from) {
        assert_int_equal(inet_pton(AF_INET, from, &b.sin_addr), 1);
        assert_int_equal(bind(fd, (struct sockaddr *)&b, sizeof(b)), 0);
    }
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

int h_connect(struct leadd *l)
{
    return h_connect_from(l, NULL);
}

void h_send(int fd, const char *text)
{
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
}

char *h_read_all(int fd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        fwrite(chunk, 1, (size_t)n, mem);
    fclose(mem);
    return text;
}

/* With LEADD_SPEC_LOG set, every exchange is appended to that file as one
 * JSON line, for tests/node/spec-check to validate against openapi.yaml.
 * Bodies over 1 MB (exports) are left out; their status and type are not. */
#define SPEC_LOG_MAX_BODY (1u << 20)
static void spec_log(const char *method, const char *path, const struct resp *r)
{
    const char *file = getenv("LEADD_SPEC_LOG");
    if (!file || !r->status)
        return;
    json_t *body = r->len <= SPEC_LOG_MAX_BODY ? json_stringn(r->body, r->len) : NULL;
    json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:o,s:I}", "method", method, "path", path, "status",
                          (int)r->status, "headers", r->headers, "body", body ? body : json_null(),
                          "body_len", (json_int_t)r->len);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    assert_non_null(line);
    size_t n = strlen(line);
    line[n] = '\n'; /* replaces the NUL: one write(2) per line, O_APPEND */
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, line, n + 1), (ssize_t)(n + 1));
    close(fd);
    free(line);
}

/* One request to the node on port; host: the port a load balancer's
 * clients name in Host (every node is one site to them), unless the
 * request names one. */
static void vreq(int port, int host, const char *method, const char *path, const char *body,
                 struct resp *out, va_list ap)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    struct sink b = {0}, h = {0};
    char url[1024], own[64];
    const char *hdr;
    bool named = false;
    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    while ((hdr = va_arg(ap, const char *))) {
        named |= !strncasecmp(hdr, "Host:", 5);
        hs = curl_slist_append(hs, hdr);
    }
    snprintf(own, sizeof(own), "Host: 127.0.0.1:%d", host);
    if (!named)
        hs = curl_slist_append(hs, own);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 180L); /* exports under ASan are slow */
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fprintf(stderr, "%s %s: %s\n", method, path, curl_easy_strerror(rc));
    out->status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = b.p ? b.p : strdup("");
    out->len = b.n;
    out->headers = h.p ? h.p : strdup("");
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    spec_log(method, path, out);
}

void h_req(struct leadd *l, const char *method, const char *path, const char *body,
           struct resp *out, ...)
{
    va_list ap;
    va_start(ap, out);
    vreq(next_port(l), l->port, method, path, body, out, ap);
    va_end(ap);
}

/* One request to the node on port. */
static void req_to(int port, const char *method, const char *path, struct resp *out, ...)
{
    va_list ap;
    va_start(ap, out);
    vreq(port, port, method, path, NULL, out, ap);
    va_end(ap);
}

long long h_metric(struct leadd *l, const char *series)
{
    const int ports[] = {l->port, l->pid_b > 0 ? l->port_b : 0};
    long long sum = -1;
    for (size_t i = 0; i < 2 && ports[i]; i++) {
        struct resp r;
        req_to(ports[i], "GET", "/metrics", &r, "Authorization: Bearer " H_API_KEY, NULL);
        assert_int_equal(r.status, 200);
        size_t n = strlen(series);
        for (const char *p = r.body; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (!strncmp(p, series, n) && p[n] == ' ')
                sum = (sum < 0 ? 0 : sum) + strtoll(p + n + 1, NULL, 10);
        }
        resp_free(&r);
    }
    return sum;
}

struct metric_at_least {
    struct leadd *l;
    const char *series;
    long long want;
};

static bool metric_at_least(void *arg)
{
    struct metric_at_least *m = arg;
    return h_metric(m->l, m->series) >= m->want;
}

bool h_wait_metric(struct leadd *l, const char *series, long long want, int timeout_ms)
{
    struct metric_at_least m = {l, series, want};
    return h_wait(metric_at_least, &m, timeout_ms);
}

struct count_is {
    struct leadd *l;
    const char *sql;
    long long want;
};

static bool count_is(void *arg)
{
    struct count_is *c = arg;
    return h_sql_int(c->l, "%s", c->sql) == c->want;
}

bool h_wait_count(struct leadd *l, const char *sql, long long want, int timeout_ms)
{
    struct count_is c = {l, sql, want};
    return h_wait(count_is, &c, timeout_ms);
}

void h_post_json(struct leadd *l, const char *form, const char *json, struct resp *out)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/forms/%s/submissions", form);
    h_req(l, "POST", path, json, out, "Content-Type: application/json", NULL);
}

const char *h_header(const struct resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = r->headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            v += strspn(v, " ");
            size_t n = strcspn(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)n, v);
            return out;
        }
    }
    return NULL;
}

void resp_free(struct resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

bool h_json_str(const char *json, const char *key, char *out, size_t cap)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (!p)
        return false;
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    snprintf(out, cap, "%.*s", (int)n, p);
    return true;
}

/* The test's queries on l's SQLite file, on one connection kept open: a
 * connection each read the whole schema again, and tests that check every
 * lead spent most of their time there. */
static pthread_mutex_t sq_mu = PTHREAD_MUTEX_INITIALIZER;

static sqlite3_stmt *query(struct leadd *l, sqlite3 **db, const char *fmt, va_list ap)
{
    char *sql = sqlite3_vmprintf(fmt, ap);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&sq_mu);
    if (l->sq && strcmp(l->sq_path, l->db)) /* the test pointed l->db elsewhere */
        sq_close(l);
    if (!l->sq) {
        sqlite3 *c = NULL;
        assert_int_equal(sqlite3_open_v2(l->db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        sqlite3_busy_timeout(c, 5000);
        l->sq = c;
        snprintf(l->sq_path, sizeof(l->sq_path), "%s", l->db);
    }
    *db = l->sq;
    pthread_mutex_unlock(&sq_mu);
    if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("bad test query '%s': %s", sql, sqlite3_errmsg(*db));
    sqlite3_free(sql);
    return st;
}

/* The first column of the first row of sql on the test cluster, or NULL
 * (into out). */
static bool pg_first(struct leadd *l, const char *fmt, va_list ap, char *out, size_t cap)
{
    char *sql = sqlite3_vmprintf(fmt, ap); /* %q quotes as PostgreSQL does too */
    PGresult *r = pg_run(l, sql);
    sqlite3_free(sql);
    bool got = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0);
    snprintf(out, cap, "%s", got ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return got;
}

long long h_sql_int(struct leadd *l, const char *fmt, ...)
{
    sqlite3 *db;
    va_list ap;
    va_start(ap, fmt);
    if (h_pg()) {
        char v[64];
        bool got = pg_first(l, fmt, ap, v, sizeof(v));
        va_end(ap);
        return !got ? -1 : !strcmp(v, "t") ? 1 : !strcmp(v, "f") ? 0 : strtoll(v, NULL, 10);
    }
    sqlite3_stmt *st = query(l, &db, fmt, ap);
    va_end(ap);
    long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

void h_sql_text(struct leadd *l, char *out, size_t cap, const char *fmt, ...)
{
    sqlite3 *db;
    va_list ap;
    va_start(ap, fmt);
    if (h_pg()) {
        pg_first(l, fmt, ap, out, cap);
        va_end(ap);
        return;
    }
    sqlite3_stmt *st = query(l, &db, fmt, ap);
    va_end(ap);
    out[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

void h_sql_exec(struct leadd *l, const char *sql)
{
    sqlite3 *db;
    char *err = NULL;
    if (h_pg()) {
        PQclear(pg_run(l, sql));
        return;
    }
    assert_int_equal(sqlite3_open(l->db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("test SQL failed: %s", err);
    sqlite3_close(db);
}

void h_post_signed(struct leadd *l, const char *path, const char *secret, const char *msg_id,
                   long long ts_s, const char *body, struct resp *out)
{
    unsigned char key[256], mac[SHA256_LEN];
    char ts[32], b64[CRYPTO_BASE64_LEN(SHA256_LEN)], h_id[128], h_ts[64], h_sig[160];
    long n = crypto_unbase64(secret + 6, key, sizeof(key));
    assert_true(n > 0);
    snprintf(ts, sizeof(ts), "%lld", ts_s ? ts_s : (long long)time(NULL));
    const void *parts[] = {msg_id, ".", ts, ".", body};
    const size_t lens[] = {strlen(msg_id), 1, strlen(ts), 1, strlen(body)};
    assert_int_equal(crypto_hmac_sha256(key, (size_t)n, parts, lens, 5, mac), 0);
    crypto_base64(mac, sizeof(mac), b64);
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", msg_id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %s", ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: v1,bm90IGl0 v1,%s", b64);
    h_req(l, "POST", path, body, out, "Content-Type: application/json", h_id, h_ts, h_sig, NULL);
}

void h_api(struct leadd *l, const char *method, const char *path, const char *body,
           struct resp *out)
{
    h_req(l, method, path, body, out, "Authorization: Bearer " H_API_KEY,
          body ? "Content-Type: application/json" : "X-No-Body: 1", NULL);
}

long h_peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    while (fgets(line, sizeof(line), fp)) {
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    }
    fclose(fp);
    return kb;
}

/* Progress shows as it happens, even when stdout is a file or a pipe. */
__attribute__((constructor)) static void line_buffered(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    atexit(kill_live);
}

void h_reaped(struct leadd *l)
{
    untrack(l->pid);
    l->pid = 0;
}

int h_run(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- a live event stream (GET /v1/events) ---- */

/* Opens a stream; rcvbuf > 0 shrinks the socket's receive buffer first (a
 * slow reader that the kernel cannot hide). */
void h_stream_open(struct leadd *l, struct h_stream *s, const char *key, const char *last,
                   int rcvbuf)
{
    char req[512];
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    if (rcvbuf > 0)
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)next_port(l))};
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
const char *h_stream_until(struct h_stream *s, size_t from, const char *needle)
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
int h_stream_status(struct h_stream *s)
{
    if (!h_stream_until(s, 0, "\r\n\r\n"))
        return 0;
    return (int)strtol(s->text + 9, NULL, 10); /* "HTTP/1.1 200" */
}

void h_stream_close(struct h_stream *s)
{
    close(s->fd);
    free(s->text);
}

void h_rollup_dump(struct leadd *l, char *out, size_t cap)
{
    h_sql_text(l, out, cap,
               "SELECT %s FROM (SELECT grain || '|' || period || '|' ||"
               " form || '|' || utm_source || '|' || utm_medium || '|' || utm_campaign || '|' ||"
               " currency || '|' || leads || '|' || valid || '|' || qualified || '|' || hot ||"
               " '|' || warm || '|' || cold || '|' || contacted || '|' || converted || '|' ||"
               " rejected || '|' || spam || '|' || duplicates || '|' || revenue_minor AS r"
               " FROM rollup UNION ALL SELECT 'filters|' || rid || '|' || bucket || '|' || score"
               " FROM lead_filters ORDER BY 1) AS t",
               h_pg() ? "string_agg(r, E'\\n' ORDER BY r)" : "group_concat(r, char(10))");
}

int h_rollup_rebuild(struct leadd *l, const char *tz, char *out, size_t cap)
{
    const char *bin = getenv("LEADD_BIN") ? getenv("LEADD_BIN") : "build/leadd";
    char sets[4096] = "";
    size_t n = 0;
    /* the node's own settings too (its config may need them to load) */
    for (size_t i = 0; i < l->nsets && n < sizeof(sets); i++)
        n += (size_t)snprintf(sets + n, sizeof(sets) - n, " --set '%s'", l->sets[i]);
    return h_run(out, cap,
                 "%s rollup -c %s --set storage.path=%s%s --set server.timezone=%s --rebuild%s",
                 bin, l->cfg, l->db, sets, tz, h_backend_sets(l));
}

size_t h_rollup_kept_is_rebuilt(struct leadd *l)
{
    static char kept[1 << 20], rebuilt[1 << 20], out[4096];
    h_rollup_dump(l, kept, sizeof(kept));
    if (h_rollup_rebuild(l, "UTC", out, sizeof(out)) != 0)
        fail_msg("leadd rollup --rebuild: %s", out);
    h_rollup_dump(l, rebuilt, sizeof(rebuilt));
    if (strcmp(kept, rebuilt)) { /* from the row where they part */
        size_t at = 0;
        while (kept[at] == rebuilt[at])
            at++;
        while (at && kept[at - 1] != '\n')
            at--;
        fprintf(stderr, "counters kept:\n%.600s\n\nrebuilt:\n%.600s\n", kept + at, rebuilt + at);
        fail_msg("the counters kept are not the counters rebuilt");
    }
    return strlen(kept);
}
