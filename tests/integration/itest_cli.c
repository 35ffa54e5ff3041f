/* itest_cli.c: the command line: check-config, migrate, --version, --help,
 * and serve with the built-in config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

static const char *bin(void)
{
    static char abs[4096];
    if (!abs[0] && !realpath(getenv("LEADD_BIN") ? getenv("LEADD_BIN") : "build/leadd", abs))
        fail_msg("no leadd binary");
    return abs;
}

/* The line of a file that sets key ("key = ..."), or 0. */
static int line_of(const char *file, const char *key)
{
    char line[512];
    int n = 0, at = 0;
    FILE *fp = fopen(file, "r");
    assert_non_null(fp);
    while (!at && fgets(line, sizeof(line), fp)) {
        n++;
        if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ' ')
            at = n;
    }
    fclose(fp);
    return at;
}

static void t_check_config(void **state)
{
    (void)state;
    char out[8192], path[] = "/tmp/leadd-cli-XXXXXX";
    int fd = mkstemp(path);
    const char *bad = "[server]\nthreads = lots\n[form.contact]\nfield.email = emial\n";
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    assert_int_equal(h_run(out, sizeof(out), "%s check-config -c %s", bin(), path), 1);
    char want[128];
    snprintf(want, sizeof(want), "%s:2: ", path);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof(want), "%s:4: field 'email': unknown type 'emial'", path);
    assert_non_null(strstr(out, want));
    unlink(path);
    assert_int_equal(h_run(out, sizeof(out), "%s check-config -c config.example.ini", bin()), 0);
    assert_non_null(strstr(out, "config.example.ini: ok"));
    assert_null(strstr(out, "note:"));
    /* SQLite's own keys on PostgreSQL: accepted, said to do nothing, at their lines */
    assert_int_equal(h_run(out, sizeof(out),
                           "%s check-config -c config.example.ini --set storage.backend=postgres"
                           " --set storage.url=dbname=x",
                           bin()),
                     0);
    assert_non_null(strstr(out, "config.example.ini: ok"));
    static const char *const KEYS[] = {"path", "durability"};
    for (size_t k = 0; k < 2; k++) {
        snprintf(want, sizeof(want),
                 "config.example.ini:%d: note: [storage] %s does nothing with"
                 " backend = postgres",
                 line_of("config.example.ini", KEYS[k]), KEYS[k]);
        if (!strstr(out, want))
            fail_msg("no '%s' in:\n%s", want, out);
    }
    assert_int_equal(h_run(out, sizeof(out), "%s check-config", bin()), 2);
}

/* The first column of sql's first row, on the SQLite file at path. */
static long long sqlite_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void t_migrate(void **state)
{
    (void)state;
    char out[4096], dir[] = "/tmp/leadd-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(h_run(out, sizeof(out), "cd %s && %s migrate -c %s/config.example.ini", dir,
                           bin(), getcwd((char[512]){0}, 512)),
                     0);
    assert_non_null(strstr(out, "applied to 'leadd.db'"));
    const char *applied = strstr(out, " migrations applied");
    assert_non_null(applied);
    while (applied > out && applied[-1] >= '0' && applied[-1] <= '9')
        applied--;
    assert_true(strtol(applied, NULL, 10) > 0); /* "10 migrations" is not "0 migrations" */
    assert_int_equal(h_run(out, sizeof(out), "cd %s && %s migrate -c %s/config.example.ini", dir,
                           bin(), getcwd((char[512]){0}, 512)),
                     0);
    assert_non_null(strstr(out, "0 migrations applied"));
    /* A file migrated by a newer leadd: refused by migrate and by serve
     * (before it listens), and left as it is. */
    char path[600];
    snprintf(path, sizeof(path), "%s/leadd.db", dir);
    long long had = sqlite_int(path, "SELECT count(*) FROM schema_migrations");
    sqlite_int(path, "INSERT INTO schema_migrations(version, name) VALUES (9999, '9999_future.sql')"
                     " RETURNING 0");
    static const char *const CMDS[] = {"migrate", "serve --set server.listen=127.0.0.1:0"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(h_run(out, sizeof(out),
                               "cd %s && timeout 60 %s %s -c %s/config.example.ini 2>&1", dir,
                               bin(), CMDS[i], getcwd((char[512]){0}, 512)),
                         1);
        if (!strstr(out, "9999_future.sql") || !strstr(out, "newer than this leadd knows"))
            fail_msg("leadd %s: %s", CMDS[i], out);
    }
    assert_int_equal(sqlite_int(path, "SELECT count(*) FROM schema_migrations"), had + 1);
    assert_int_equal(h_run(out, sizeof(out), "rm -rf %s", dir), 0);
}

static void t_version_help(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(h_run(out, sizeof(out), "%s --version", bin()), 0);
    assert_non_null(strstr(out, "leadd 0."));
    assert_int_equal(h_run(out, sizeof(out), "%s --help", bin()), 0);
    assert_non_null(strstr(out, "leadd serve [-c FILE] [--set section.key=value]"));
    assert_int_equal(h_run(out, sizeof(out), "%s frobnicate", bin()), 2);
    assert_non_null(strstr(out, "leadd: unknown command 'frobnicate'"));
    assert_non_null(strstr(out, "usage: leadd serve"));
    assert_int_equal(h_run(out, sizeof(out), "%s serve --help", bin()), 0); /* asked for */
    assert_non_null(strstr(out, "usage: leadd serve"));
    assert_int_equal(h_run(out, sizeof(out), "%s check-config -c /tmp", bin()), 1);
    assert_non_null(strstr(out, "/tmp: cannot read: Is a directory"));
    assert_int_equal(h_run(out, sizeof(out), "%s serve --set threads=1", bin()), 1);
    assert_non_null(strstr(out, "--set:1: expected section.key=value"));
}

static void t_seed_and_rescore_options(void **state)
{
    (void)state;
    char out[4096], dir[] = "/tmp/leadd-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(h_run(out, sizeof(out),
                           "%s seed -c config.example.ini --set storage.path=%s/s.db --count 250 "
                           "--form contact",
                           bin(), dir),
                     0);
    assert_non_null(strstr(out, "seeded 250 leads"));
    assert_int_equal(
        h_run(out, sizeof(out),
              "%s rescore -c config.example.ini --set storage.path=%s/s.db --form contact", bin(),
              dir),
        0);
    assert_non_null(strstr(out, "rescored 250 leads"));
    assert_int_equal(
        h_run(out, sizeof(out),
              "%s rescore -c config.example.ini --set storage.path=%s/s.db --form nope", bin(),
              dir),
        1);
    assert_int_equal(h_run(out, sizeof(out), "%s seed -c config.example.ini --count 0", bin()), 2);
    assert_int_equal(h_run(out, sizeof(out), "rm -rf %s", dir), 0);
}

static void t_serve_builtin_config(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    h_start(&l, NULL, "auth.api_keys=" H_API_KEY, NULL); /* no -c: config.example.ini built in */
    h_req(&l, "GET", "/", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "action=\"/v1/forms/contact/submissions\""));
    /* The form's own words: title, labels, the consent wording, a favicon. */
    assert_non_null(strstr(r.body, "<title>Talk to sales</title><link rel=\"icon\""));
    assert_non_null(strstr(r.body, "<label for=\"email\">Work email *</label>"));
    assert_non_null(strstr(r.body, "<label class=\"consent\" for=\"consent\">I agree that Example "
                                   "Ltd may contact me about my request.</label>"));
    resp_free(&r);
    /* Each form has its page; an unknown one is a page that says so. */
    h_req(&l, "GET", "/forms/contact", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<label for=\"budget\">Budget (EUR)</label>"));
    resp_free(&r);
    h_req(&l, "GET", "/forms/nope", NULL, &r, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "This form does not exist"));
    resp_free(&r);
    /* The snippet for another site: absolute action, honeypot, the script. */
    h_req(&l, "GET", "/v1/forms/contact/embed", NULL, &r, "Host: leads.acme.io", NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    h_req(&l, "GET", "/v1/forms/contact/embed", NULL, &r, "Host: leads.acme.io",
          "Authorization: Bearer " H_API_KEY, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body,
                           "<form method=\"post\" action=\"http://leads.acme.io/v1/forms/contact/"
                           "submissions\">"));
    assert_non_null(strstr(r.body, "name=\"_gotcha\""));
    assert_non_null(strstr(r.body, "document.currentScript.previousElementSibling"));
    resp_free(&r);
    h_req(&l, "GET", "/v1/forms/nope/embed", NULL, &r, "Authorization: Bearer " H_API_KEY, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* The demo page posts from wherever leadd listens (here a random port,
     * not the example's 8080): its own origin is always allowed. */
    char own[96];
    snprintf(own, sizeof(own), "Origin: http://127.0.0.1:%d", l.port);
    h_req(&l, "POST", "/v1/forms/contact/submissions",
          "email=demo%40example.org&name=Demo&consent=on&_elapsed_ms=5000", &r,
          "Content-Type: application/x-www-form-urlencoded", own, "Accept: text/html", NULL);
    assert_int_equal(r.status, 303);
    resp_free(&r);
    assert_int_equal(h_sql_int(&l, "SELECT count(*) FROM leads WHERE email = 'demo@example.org'"),
                     1);
    /* Another site is refused, and the log names it. */
    h_req(&l, "POST", "/v1/forms/contact/submissions",
          "email=evil%40example.org&name=Evil&consent=on&_elapsed_ms=5000", &r,
          "Content-Type: application/x-www-form-urlencoded", "Origin: https://evil.example", NULL);
    assert_int_equal(r.status, 403);
    resp_free(&r);
    assert_true(h_wait_log(&l,
                           "form contact: refused a submission from https://evil.example "
                           "(not in allowed_origins)",
                           5000));
    /* The example's webhook is a placeholder, and leadd says so at start. */
    assert_true(h_wait_log(&l,
                           "warn [webhook.crm] url points at crm.example.com, a name "
                           "reserved for examples",
                           5000));
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
    /* A real host is not warned about; credentials in a URL are never logged. */
    h_start(&l, NULL, "webhook.crm.url=https://hooks.acme.io/x", NULL);
    assert_int_equal(h_stop(&l), 0);
    char *log = h_log_text(&l);
    assert_null(strstr(log, "reserved for examples"));
    free(log);
    h_cleanup(&l);
    h_start(&l, NULL, "webhook.crm.url=https://user:s3cr3tpw@crm.example.com/x", NULL);
    assert_true(h_wait_log(&l, "url points at crm.example.com,", 5000));
    assert_int_equal(h_stop(&l), 0);
    log = h_log_text(&l);
    assert_null(strstr(log, "s3cr3tpw"));
    free(log);
    h_cleanup(&l);
}

/* Under systemd (Type=notify): READY=1 once the database is open and the
 * port bound, STOPPING=1 when a stop begins, to $NOTIFY_SOCKET. */
static void t_notify_ready_and_stopping(void **state)
{
    (void)state;
    struct leadd l;
    char dir[] = "/tmp/leadd-notify-XXXXXX", path[64], got[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setenv("NOTIFY_SOCKET", path, 1);
    h_start(&l, H_BASE_INI, NULL);
    unsetenv("NOTIFY_SOCKET");
    ssize_t n = recv(fd, got, sizeof(got) - 1, 0);
    assert_true(n > 0);
    got[n] = '\0';
    assert_string_equal(got, "READY=1");
    assert_int_equal(h_stop(&l), 0);
    n = recv(fd, got, sizeof(got) - 1, 0);
    assert_true(n > 0);
    got[n] = '\0';
    assert_string_equal(got, "STOPPING=1");
    close(fd);
    unlink(path);
    rmdir(dir);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_check_config),         cmocka_unit_test(t_migrate),
        cmocka_unit_test(t_version_help),         cmocka_unit_test(t_seed_and_rescore_options),
        cmocka_unit_test(t_serve_builtin_config), cmocka_unit_test(t_notify_ready_and_stopping),
    };
    return h_run_group_tests_name("cli", tests, NULL, NULL);
}
