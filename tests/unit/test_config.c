/* test_config.c: the loader on good files, the built-in example, --set, and
 * every kind of bad line with its file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "leadd/config.h"
#include "leadd/score.h"

static char path[64];

/* The last file write_ini made, removed by the next and at the end. */
static int remove_ini(void **state)
{
    (void)state;
    if (path[0])
        unlink(path);
    path[0] = '\0';
    return 0;
}

static void write_ini(const char *text)
{
    remove_ini(NULL);
    snprintf(path, sizeof(path), "/tmp/leadd-cfg-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* A secret from a file or a systemd credential, read at each load (so a
 * reload sees a new key); one that cannot be read is named with its path,
 * and a command that does not serve is not stopped by it. */
static void t_secrets_from_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/leadd-sec-XXXXXX", f[128], ini[1024];
    assert_non_null(mkdtemp(dir));
    snprintf(f, sizeof(f), "%s/nina", dir);
    FILE *fp = fopen(f, "w");
    assert_non_null(fp);
    fputs("nina-secret-0123456789\n", fp); /* as an editor leaves it */
    fclose(fp);
    snprintf(f, sizeof(f), "%s/hub", dir);
    fp = fopen(f, "w");
    fputs("pat-na1-0123", fp);
    fclose(fp);
    snprintf(
        ini, sizeof(ini),
        "[auth]\nuser.nina = sales file:%s/nina\nuser.tom = viewer credential:tom\n"
        "[form.contact]\nfield.email = email required\nassign.all = email present => nina tom\n"
        "[webhook.crm]\nurl = https://crm.example.com/\nsign = false\nheader.Authorization = "
        "Bearer "
        "credential:hub\n",
        dir);
    write_ini(ini);
    struct config c;
    struct config_diag d;
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    unsetenv("NO_SUCH");
    /* tom's credential is missing: said with its path; no cascade */
    assert_int_equal(config_load(&c, path, NULL, 0, &d), LEADD_EINVAL);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msg[i]);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.msg[0], "user.tom: secret: cannot read '"));
    assert_non_null(strstr(d.msg[0], "/tom': No such file or directory"));
    config_diag_release(&d);
    /* a backup from cron resolves none of them */
    assert_int_equal(config_load_unserved(&c, path, NULL, 0, &d), 0);
    assert_int_equal(c.nusers, 2);
    config_release(&c);
    config_diag_release(&d);
    snprintf(f, sizeof(f), "%s/tom", dir);
    fp = fopen(f, "w");
    fputs("tom-secret-0123456789", fp);
    fclose(fp);
    assert_int_equal(config_load(&c, path, NULL, 0, &d), 0);
    assert_int_equal(c.nusers, 2);
    assert_string_equal(c.webhooks[0].headers[0].value, "Bearer pat-na1-0123");
    config_release(&c);
    config_diag_release(&d);
    unsetenv("CREDENTIALS_DIRECTORY");
    unlink(path);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* What would silently never match is refused with file:line, what to
 * write, and no cascade (issue 28's five). */
static void t_what_never_matches(void **state)
{
    (void)state;
    char tpl[] = "/tmp/leadd-tpl-XXXXXX", ini[2048];
    int fd = mkstemp(tpl);
    assert_true(fd >= 0);
    const char *body = "{\"email\": \"{{fields.email}}\",\n \"size\": \"{{fields.teamsize}}\"}\n";
    assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
    close(fd);
    snprintf(ini, sizeof(ini),
             "[form.demo]\n"
             "field.email = email required\n"
             "field.team_size = enum(1-10|11-50|51-200)\n"
             "feild.phone = phone\n"                   /* line 4 */
             "score.big = team_size in 51-300 => 20\n" /* line 5 */
             "score.phoned = phone present => 10\n"    /* no cascade */
             "score.sure = grade is hot => 5\n"        /* line 7 */
             "score.either = team_size = 1-10 or phone present => 5\n"
             "[webhook.slack]\nformat = slack\nurl = https://hooks.slack.com/x\n"
             "when = grade = hottt\n" /* line 12 */
             "[webhook.crm]\nformat = template\ntemplate = %s\nsign = false\n"
             "url = https://crm.example.com/\n",
             tpl);
    write_ini(ini);
    struct config c;
    struct config_diag d;
    assert_int_equal(config_load(&c, path, NULL, 0, &d), LEADD_EINVAL);
    static const char *const want[] = {
        ":4: unknown key 'feild.phone' in [form.demo] (did you mean 'field.phone'?)",
        ":5: rule 'big': team_size is never '51-300' (it is one of: 1-10, 11-50, 51-200)",
        ":7: rule 'sure': 'grade is hot': write 'grade = hot'",
        ":8: rule 'either': 'or' is not supported",
        ":12: [webhook.slack] when: 'condition 1': grade is never 'hottt' (it is one of: hot, "
        "warm, cold)",
        ":2: fields.teamsize is not a field of the forms it serves (did you mean 'team_size'?)",
    };
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msg[i]);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (size_t k = 0; k < d.n && !found; k++)
            found = strstr(d.msg[k], want[i]) != NULL;
        if (!found)
            fail_msg("no '%s'", want[i]);
    }
    assert_int_equal(d.n, sizeof(want) / sizeof(want[0]));
    /* the template's line, and the config's line that names it */
    assert_non_null(strstr(d.msg[d.n - 1], ":15: [webhook.crm] /tmp/leadd-tpl-"));
    config_diag_release(&d);
    unlink(path);
    unlink(tpl);
}

static void t_builtin_example(void **state)
{
    (void)state;
    struct config c;
    struct config_diag d;
    assert_int_equal(config_load(&c, NULL, NULL, 0, &d), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.threads, 4);
    assert_int_equal(c.max_body_bytes, 65536);
    assert_string_equal(c.db_path, "leadd.db");
    assert_int_equal(c.durability, DURABILITY_FULL);
    assert_int_equal(c.nforms, 1);
    const struct form *f = config_form(&c, "contact", 7);
    assert_non_null(f);
    assert_int_equal(f->nfields, 7);
    assert_int_equal(f->fields[0].type, FT_EMAIL);
    assert_true(f->fields[0].required);
    assert_int_equal(f->fields[4].type, FT_INTEGER);
    assert_true(f->fields[4].has_max);
    assert_true(f->fields[4].max == 100000000.0);
    assert_true(form_origin_allowed(f, "https://www.example.com", 23));
    assert_false(form_origin_allowed(f, "http://evil.example", 19));
    assert_string_equal(f->redirect, "/thanks");
    assert_string_equal(f->honeypot, "_gotcha");
    assert_int_equal(f->min_fill_ms, 1500);
    assert_int_equal(f->dedupe_window_hours, 24);
    assert_int_equal(f->rate_limit, 30);
    assert_int_equal(f->rate_window_s, 60);
    assert_int_equal(f->nrules, 5);
    assert_int_equal(f->grade_hot, 60);
    assert_int_equal(f->qualify_at, 40);
    config_release(&c);
    config_diag_release(&d);
}

static void t_example_file_equals_builtin(void **state)
{
    (void)state;
    struct config c;
    struct config_diag d;
    /* Run from the repository root (make test does). */
    int rc = config_load(&c, "config.example.ini", NULL, 0, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msg[i]);
    assert_int_equal(rc, 0);
    config_release(&c);
    config_diag_release(&d);
}

static void t_sets_override(void **state)
{
    (void)state;
    struct config c;
    struct config_diag d;
    char *sets[] = {"server.listen=[::1]:0",        "storage.durability=normal",
                    "form.contact.min_fill_ms=0",   "form.contact.field.extra_field=text max=3",
                    "form.other.field.email=email", "server.trusted_proxies=10.0.0.0/8 ::1"};
    assert_int_equal(config_load(&c, NULL, sets, 6, &d), 0);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(c.durability, DURABILITY_NORMAL);
    assert_int_equal(c.nforms, 2);
    assert_int_equal(c.forms[0].min_fill_ms, 0);
    assert_int_equal(c.forms[0].nfields, 8);
    assert_int_equal(c.nproxies, 2);
    assert_true(cidr_match(c.proxies, c.nproxies, "10.20.30.40"));
    assert_true(cidr_match(c.proxies, c.nproxies, "::1"));
    assert_false(cidr_match(c.proxies, c.nproxies, "11.0.0.1"));
    assert_false(cidr_match(c.proxies, c.nproxies, "not-an-ip"));
    config_release(&c);
    config_diag_release(&d);
}

/* A form copied without the example's protection lines is protected the
 * same way: the built-in defaults are the example's values; and each can
 * still be turned off. */
static void t_copied_form_is_protected(void **state)
{
    (void)state;
    struct config c;
    struct config_diag d;
    write_ini("[form.bare]\nfield.email = email required\n"
              "[form.off]\nfield.email = email required\nhoneypot =\nmin_fill_ms = 0\n"
              "dedupe_window_hours = 0\nrate_limit = 0\n");
    assert_int_equal(config_load(&c, path, NULL, 0, &d), 0);
    const struct form *f = config_form(&c, "bare", 4);
    assert_non_null(f);
    assert_string_equal(f->honeypot, "_gotcha");
    assert_int_equal(f->min_fill_ms, 1500);
    assert_int_equal(f->dedupe_window_hours, 24);
    assert_int_equal(f->rate_limit, 30);
    assert_int_equal(f->rate_window_s, 60);
    f = config_form(&c, "off", 3);
    assert_non_null(f);
    assert_null(f->honeypot);
    assert_int_equal(f->min_fill_ms, 0);
    assert_int_equal(f->dedupe_window_hours, 0);
    assert_int_equal(f->rate_limit, 0);
    config_release(&c);
    config_diag_release(&d);
    unlink(path);
}

static void t_bad_lines_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *ini;
        int line;
        const char *msg;
    } rows[] = {
        {"[server]\nthreads = 0\n", 2, "threads: expected a whole number from 1 to 256, got '0'"},
        {"[server]\nthreads = many\n", 2, "got 'many'"},
        {"[server]\nlisten = localhost\n", 2, "listen: expected host:port"},
        {"[server]\nlisten = example.com:80\n", 2, "not an IPv4 or IPv6 address"},
        {"[server]\nlisten = 127.0.0.1:70000\n", 2, "listen: expected host:port"},
        {"[server]\ncolour = blue\n", 2, "unknown key 'colour' in [server]"},
        {"[server]\ntrusted_proxies = 10.0.0.0/33\n", 2, "trusted_proxies: '10.0.0.0/33'"},
        {"[storage]\ndurability = sometimes\n", 2, "durability: expected full or normal"},
        {"[cache]\nsize = 1\n", 2, "unknown section [cache]"},
        {"[server]\njust some words\n", 2, "expected 'key = value' or '[section]'"},
        {"[server\n", 1, "section header without ']'"},
        {"[form.contact]\nfield.email = email\nfield.email = text\n", 3,
         "'field.email' is set twice"},
        {"[form.contact]\nfield.email = mail required\n", 2, "unknown type 'mail'"},
        {"[form.contact]\nfield.x = text max=abc\n", 2, "bad max value"},
        {"[form.contact]\nfield.x = text\nrate_limit = 10/fortnight\n", 3, "rate_limit"},
        {"[form.contact]\nfield.x = text\nallowed_origins = example.com\n", 3, "is not an origin"},
        {"[form.contact]\nfield.x = text\nallowed_origins = http://\n", 3, "is not an origin"},
        {"[form.contact]\nfield.x = text\nmin_fill_ms = -1\n", 3, "from 0 to 3600000"},
        {"[form.contact]\nfield.x = text\ndisposable_domains = /nonexistent/list\n", 3,
         "cannot read '/nonexistent/list'"},
        {"[form.contact]\nfield.x = text\nwhatever = 1\n", 3,
         "unknown key 'whatever' in [form.contact]"},
        {"[form.contact]\nfield.x = text\nscore.a = x present\nscore.a = x absent => 1\n", 3,
         "expected 'CONDITION => POINTS'"},
        {"[form.contact]\nfield.x = text\nscore.a = x present => lots\n", 3,
         "points must be a whole number"},
        {"[form.contact]\nfield.x = text\nscore.a = x is big => 1\n", 3,
         "'x is big': write 'x = big'"},
        {"[form.contact]\nfield.x = text\nscore.a = x > big => 1\n", 3, "needs a number"},
        {"[form.contact]\nfield.x = text\n\nscore.a = y present => 1\n", 4,
         "'y' is neither a declared field"},
        {"[form.contact]\nfield.x = text\nscore.a = x domain in a.com => 1\n", 3,
         "needs an email field"},
        {"[form.b@d]\nfield.x = text\n", 2, "bad form id 'b@d'"},
        {"[server]\nthreads = 2\nthreads = 3\n", 3, "'threads' is set twice in [server]"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct config c;
        struct config_diag d;
        char want[256];
        write_ini(rows[i].ini);
        assert_int_equal(config_load(&c, path, NULL, 0, &d), LEADD_EINVAL);
        snprintf(want, sizeof(want), "%s:%d: ", path, rows[i].line);
        int found = 0;
        for (size_t k = 0; k < d.n; k++)
            found |= !strncmp(d.msg[k], want, strlen(want)) && strstr(d.msg[k], rows[i].msg);
        if (!found)
            fail_msg("row %zu: want '%s...%s', got '%s'", i, want, rows[i].msg,
                     d.n ? d.msg[0] : "(nothing)");
        config_diag_release(&d);
        unlink(path);
    }
}

static void t_every_problem_reported(void **state)
{
    (void)state;
    struct config c;
    struct config_diag d;
    write_ini("[server]\nthreads = 0\nmax_body_bytes = 1\n[storage]\ndurability = x\n");
    assert_int_equal(config_load(&c, path, NULL, 0, &d), LEADD_EINVAL);
    /* three bad lines and no form at all: four messages */
    assert_int_equal(d.n, 4);
    config_diag_release(&d);
    unlink(path);
    char long_line[2000];
    memset(long_line, 'a', sizeof(long_line));
    memcpy(long_line, "[server]\nx = ", 13);
    long_line[sizeof(long_line) - 1] = '\0';
    write_ini(long_line);
    assert_int_equal(config_load(&c, path, NULL, 0, &d), LEADD_EINVAL);
    assert_non_null(strstr(d.msg[0], ":2: line is too long"));
    config_diag_release(&d);
    unlink(path);
}

/* What check-config says to a newcomer: the key named in every value
 * error, a likely slip named, one message for a bad url (not also "no url"),
 * the messages in line order, and a directory called one. */
static void t_messages_that_say_what_to_do(void **state)
{
    (void)state;
    struct config c;
    struct config_diag d;
    write_ini("[form.a]\nfield.email = email\nscore.x = nope present => 5\n"
              "honeypt = x\nmin_fill_ms = fourty\n[sever]\nthreads = 2\n"
              "[webhook.y]\nurl = notaurl\nsecret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
              "[form.b]\nfield.email = email\ndedupe_window_hour = 2\n");
    assert_int_equal(config_load(&c, path, NULL, 0, &d), LEADD_EINVAL);
    static const char *const want[] = {
        ":3: rule 'x': 'nope' is neither a declared field",
        ":4: unknown key 'honeypt' in [form.a] (did you mean 'honeypot'?)",
        ":5: min_fill_ms: expected a whole number",
        ":7: unknown section [sever] (server, storage, auth, form.ID, webhook.NAME, inbound.NAME)"
        " (did you mean 'server'?)",
        ":9: url: expected an http://, https://, smtp:// or smtps:// URL, got 'notaurl'",
        ":13: unknown key 'dedupe_window_hour' in [form.b] (did you mean 'dedupe_window_hours'?)",
    };
    if (d.n != LEADD_ARRAY_LEN(want))
        fail_msg("%zu messages, want %zu; first: %s", d.n, LEADD_ARRAY_LEN(want),
                 d.n ? d.msg[0] : "");
    for (size_t i = 0; i < d.n; i++) {
        if (!strstr(d.msg[i], want[i]))
            fail_msg("message %zu: want '%s', got '%s'", i, want[i], d.msg[i]);
    }
    config_diag_release(&d);
    unlink(path);
    /* No suggestion for a word that is not a slip. */
    write_ini("[form.a]\nfield.email = email\ncolour = red\n");
    assert_int_equal(config_load(&c, path, NULL, 0, &d), LEADD_EINVAL);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.msg[i]);
    assert_int_equal(d.n, 1);
    assert_null(strstr(d.msg[0], "did you mean"));
    config_diag_release(&d);
    unlink(path);
    /* A directory is not a config. */
    assert_int_equal(config_load(&c, "/tmp", NULL, 0, &d), LEADD_EINVAL);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.msg[0], "/tmp: cannot read: Is a directory");
    config_diag_release(&d);
}

/* A form's look and a CRM's record link: what each needs, said at load. */
static void t_look_and_record_url(void **state)
{
    (void)state;
    struct config c;
    struct config_diag d;
    char page[96], ini[1024];
    snprintf(page, sizeof(page), "%s.page.html", path);
    FILE *fp = fopen(page, "w");
    assert_non_null(fp);
    fputs("<html><body>{{errors}} {{formm}}</body></html>", fp);
    fclose(fp);
    snprintf(
        ini, sizeof(ini),
        "[form.a]\nfield.email = email\nstylesheet = site.css\nlogo = https://x.example/l.svg\n"
        "page = %s\n[form.b]\nfield.email = email\npage = /nonexistent/p.html\n"
        "[webhook.crm]\nurl = https://crm.example/hook\nsign = false\n"
        "record_url = https://crm.example/records/\n",
        page);
    write_ini(ini);
    assert_int_equal(config_load(&c, path, NULL, 0, &d), LEADD_EINVAL);
    static const char *const want[] = {
        "[form.a] stylesheet: expected an http:// or https:// URL",
        "has no {{form}}: where would the form go?",
        "'{{formm}}' is not {{title}}, {{errors}} or {{form}}",
        "[form.b] page: cannot read '/nonexistent/p.html'",
        "[webhook.crm] record_url: expected an http(s) URL with {id}",
    };
    for (size_t i = 0; i < LEADD_ARRAY_LEN(want); i++) {
        bool found = false;
        for (size_t k = 0; k < d.n; k++)
            found |= strstr(d.msg[k], want[i]) != NULL;
        if (!found)
            fail_msg("no message '%s' among %zu; first: %s", want[i], d.n, d.n ? d.msg[0] : "");
    }
    assert_int_equal(d.n, LEADD_ARRAY_LEN(want));
    config_diag_release(&d);
    /* put right: loaded, the page's text kept */
    fp = fopen(page, "w");
    assert_non_null(fp);
    fputs("<title>{{title}}</title>{{form}}", fp);
    fclose(fp);
    snprintf(ini, sizeof(ini),
             "[form.a]\nfield.email = email\nstylesheet = https://x.example/s.css\npage = %s\n"
             "[webhook.crm]\nurl = https://crm.example/hook\nsign = false\n"
             "record_url = https://crm.example/records/{id}\n",
             page);
    write_ini(ini);
    assert_int_equal(config_load(&c, path, NULL, 0, &d), 0);
    assert_string_equal(c.forms[0].page, "<title>{{title}}</title>{{form}}");
    assert_string_equal(c.webhooks[0].record_url, "https://crm.example/records/{id}");
    config_release(&c);
    unlink(page);
    unlink(path);
}

static void t_bad_set(void **state)
{
    (void)state;
    struct config c;
    struct config_diag d;
    char *sets[] = {"threads=4", "server.threads=999"};
    assert_int_equal(config_load(&c, NULL, sets, 2, &d), LEADD_EINVAL);
    assert_int_equal(d.n, 2);
    assert_non_null(strstr(d.msg[0], "--set:1: expected section.key=value"));
    assert_non_null(strstr(d.msg[1], "--set:2: threads: expected a whole number"));
    config_diag_release(&d);
}

/* Every key of the loader's table is shown in config.example.ini, in a
 * section of its kind, with its default; where the example sets another
 * value, the comment above it says "Default: X" ("Default: empty" for an
 * empty default). A key added to the table without its documentation, or a
 * default changed in one place only, fails here. */
static void t_example_shows_every_key(void **state)
{
    (void)state;
    FILE *fp = fopen("config.example.ini", "r");
    assert_non_null(fp);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[len] = '\0';
    for (size_t i = 0; i < config_key_count(); i++) {
        struct config_key_info k = config_key_at(i);
        char section[32] = "", comment[4096] = "";
        bool found = false;
        for (char *line = text; *line && !found;) {
            char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) : strlen(line);
            char l[1024];
            snprintf(l, sizeof(l), "%.*s", (int)n, line);
            line += n + (nl != NULL);
            if (l[0] == '[') {
                snprintf(section, sizeof(section), "%.*s", (int)strcspn(l + 1, ".]"), l + 1);
                comment[0] = '\0';
                continue;
            }
            const char *p = l + (l[0] == ';');
            size_t kl = strlen(k.name);
            bool is_key = !strncmp(p, k.name, kl) && (p[kl] == ' ' || p[kl] == '=');
            if (!is_key || strcmp(section, k.section)) {
                if (l[0] == ';' || l[0] == '#')
                    snprintf(comment + strlen(comment), sizeof(comment) - strlen(comment), "%s\n",
                             l);
                else
                    comment[0] = '\0';
                continue;
            }
            found = true;
            const char *v = strchr(p, '=') + 1;
            v += strspn(v, " ");
            char want[256];
            snprintf(want, sizeof(want), "Default: %s", k.def && *k.def ? k.def : "empty");
            if (k.def && strcmp(v, k.def) && !strstr(comment, want))
                fail_msg("[%s] %s = %s: the built-in default is '%s'; say '%s' above it", k.section,
                         k.name, v, k.def, want);
        }
        if (!found)
            fail_msg("[%s] %s is not shown in config.example.ini", k.section, k.name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_builtin_example),
        cmocka_unit_test(t_secrets_from_files),
        cmocka_unit_test(t_what_never_matches),
        cmocka_unit_test(t_example_shows_every_key),
        cmocka_unit_test(t_example_file_equals_builtin),
        cmocka_unit_test(t_sets_override),
        cmocka_unit_test(t_copied_form_is_protected),
        cmocka_unit_test(t_messages_that_say_what_to_do),
        cmocka_unit_test(t_bad_lines_name_file_and_line),
        cmocka_unit_test(t_every_problem_reported),
        cmocka_unit_test(t_look_and_record_url),
        cmocka_unit_test(t_bad_set),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, remove_ini);
}
