/* main.c: wiring only. Parses the command line, loads the config, opens the
 * store, starts the server, and waits for SIGTERM or SIGINT. */
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "leadd/config.h"
#include "leadd/forward.h"
#include "leadd/http.h"
#include "leadd/log.h"
#include "leadd/notify.h"
#include "leadd/rescore.h"
#include "leadd/seed.h"
#include "leadd/store.h"

#define MAX_SETS 256
#define SHUTDOWN_GRACE_MS 15000

static const char USAGE[] =
    "usage: leadd serve [-c FILE] [--set section.key=value]...\n"
    "       leadd migrate -c FILE\n"
    "       leadd check-config -c FILE\n"
    "       leadd rescore -c FILE [--form ID]\n"
    "       leadd seed -c FILE --count N [--form ID]\n"
    "       leadd rollup -c FILE --rebuild\n"
    "       leadd backup -c FILE DEST\n"
    "       leadd restore -c FILE SRC\n"
    "       leadd copy --from FILE.db --to URL [--batch N]\n"
    "       leadd compact -c FILE\n"
    "       leadd --version | --help\n"
    "\n"
    "serve         accept submissions (without -c: the built-in copy of config.example.ini)\n"
    "migrate       apply pending database migrations and exit\n"
    "check-config  print every problem in FILE as file:line: message; exit 1 if any\n"
    "rescore       recompute scores of stored leads after the rules changed, and queue\n"
    "              forwarding for leads that newly qualify\n"
    "seed          make N synthetic leads through the writer (for benchmarks)\n"
    "rollup        --rebuild: count the stats again from the leads (leadd stopped)\n"
    "backup        a consistent, checked copy of the database, while leadd serves\n"
    "restore       put a backup back (leadd stopped)\n"
    "copy          a SQLite database into PostgreSQL (URL: postgresql://..., or env:NAME\n"
    "              holding it), resumable, verified by counts (leadd stopped)\n"
    "compact       PostgreSQL: rewrite the tables holding personal data, so erased leads'\n"
    "              old row versions leave the database's files (while leadd serves)\n";

struct command;
struct args {
    const char *cmd;
    const struct command *command;
    const char *config;
    const char *form;
    const char *file;      /* backup's DEST, restore's SRC */
    const char *from, *to; /* copy's */
    long long count;
    bool rebuild;
    char *sets[MAX_SETS];
    size_t nsets;
};

/* The store a command opens on cfg's database (serving: writes through
 * the writer, as seed's do): one connection for its queries. */
static struct store_opts command_store(const struct config *cfg, bool serving)
{
    return (struct store_opts){cfg->db_path,
                               cfg->durability == DURABILITY_FULL,
                               serving,
                               0,
                               0,
                               cfg->timezone,
                               cfg->backend == BACKEND_POSTGRES ? cfg->db_url : NULL,
                               1,
                               NULL};
}

static int serve(const struct args *a);
static int rescore(const struct args *a);
static int seed(const struct args *a);
static int rollup(const struct args *a);
static int backup_restore(const struct args *a);
static int check_or_migrate(const struct args *a);
static int copy(const struct args *a);
static int compact(const struct args *a);

/* Every command: its name, what runs it, whether it names one file
 * (backup's DEST, restore's SRC), and whether it needs the config's secrets
 * (the others run from cron, without the service's environment). */
static const struct command {
    const char *name;
    int (*run)(const struct args *a);
    bool takes_file;
    bool secrets;
} COMMANDS[] = {
    {"serve", serve, false, true},
    {"migrate", check_or_migrate, false, false},
    {"check-config", check_or_migrate, false, true},
    {"rescore", rescore, false, false},
    {"seed", seed, false, false},
    {"rollup", rollup, false, false},
    {"backup", backup_restore, true, false},
    {"restore", backup_restore, true, false},
    {"copy", copy, false, false},
    {"compact", compact, false, false},
};

static const struct command *command_named(const char *name)
{
    for (size_t i = 0; i < LEADD_ARRAY_LEN(COMMANDS); i++) {
        if (!strcmp(COMMANDS[i].name, name))
            return &COMMANDS[i];
    }
    return NULL;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"form", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},
        {"rebuild", no_argument, NULL, 'r'},
        {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},
        {"batch", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof(*a));
    while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(USAGE, stdout); exit(0);
        case 'V': printf("leadd %s\n", LEADD_VERSION); exit(0);
        default: return -1;
        }
    }
    if (optind >= argc)
        return -1;
    a->cmd = argv[optind];
    if (!(a->command = command_named(a->cmd))) {
        fprintf(stderr, "leadd: unknown command '%s'\n", a->cmd);
        return -1;
    }
    optind++;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'h') { /* leadd serve --help: asked for, so not an error */
            fputs(USAGE, stdout);
            exit(0);
        } else if (c == 'c') {
            a->config = optarg;
        } else if (c == 'f') {
            a->form = optarg;
        } else if (c == 'n') {
            char *end;
            a->count = strtoll(optarg, &end, 10);
            if (*end || a->count < 1)
                return -1;
        } else if (c == 'r') {
            a->rebuild = true;
        } else if (c == 'F') {
            a->from = optarg;
        } else if (c == 'T') {
            a->to = optarg;
        } else if (c == 's' && a->nsets < MAX_SETS) {
            a->sets[a->nsets++] = optarg;
        } else {
            return -1;
        }
    }
    /* backup and restore name one file; the others none */
    bool takes_file = a->command->takes_file;
    if (takes_file && optind + 1 == argc)
        a->file = argv[optind++];
    return optind == argc && (!takes_file || a->file) ? 0 : -1;
}

/* Loads the config a names, each problem printed as file:line: message; to
 * the log (in its format) when to_log, a running leadd's reload. */
static int load_into(const struct args *a, struct config *cfg, bool to_log)
{
    struct config_diag d;
    int rc = a->command->secrets ? config_load(cfg, a->config, a->sets, a->nsets, &d)
                                 : config_load_unserved(cfg, a->config, a->sets, a->nsets, &d);
    for (size_t i = 0; i < d.n; i++) {
        if (to_log)
            log_error("%s", d.msg[i]);
        else
            fprintf(stderr, "%s\n", d.msg[i]);
    }
    /* what does nothing: check-config's to say (serve's log has its format) */
    for (size_t i = 0; !strcmp(a->cmd, "check-config") && i < d.nnote; i++)
        fprintf(stderr, "%s\n", d.note[i]);
    if (rc == LEADD_ENOMEM)
        fprintf(stderr, "leadd: out of memory loading the config\n");
    config_diag_release(&d);
    return rc;
}

static int load(const struct args *a, struct config *cfg)
{
    return load_into(a, cfg, false);
}

/* A command that works on SQLite's file alone so far refuses a config
 * whose backend is PostgreSQL, rather than open a file nobody serves. */
static bool sqlite_only(const struct config *cfg, const char *cmd)
{
    if (cfg->backend != BACKEND_POSTGRES)
        return false;
    fprintf(stderr,
            "leadd %s: not on PostgreSQL yet ([storage] backend = postgres); it works on a"
            " SQLite database\n",
            cmd);
    return true;
}

/* The host of a URL: after the scheme and any user:password@, up to the
 * port or path. */
static const char *url_host(const char *url, size_t *n)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t auth = strcspn(h, "/?#");
    const char *at = memchr(h, '@', auth);
    if (at)
        h = at + 1;
    *n = strcspn(h, ":/?#");
    return h;
}

/* Whether a host is a name reserved for examples (RFC 2606): it cannot be
 * anyone's CRM. */
static bool placeholder_host(const char *h, size_t n)
{
    static const char *const reserved[] = {"example.com", "example.net", "example.org",
                                           "example",     "test",        "invalid"};
    for (size_t i = 0; i < LEADD_ARRAY_LEN(reserved); i++) {
        size_t r = strlen(reserved[i]);
        if (n >= r && !strncasecmp(h + n - r, reserved[i], r) && (n == r || h[n - r - 1] == '.'))
            return true;
    }
    return false;
}

/* Says at start what would otherwise surface days later as dead deliveries:
 * a webhook still pointing at the example's placeholder. Only the host is
 * logged: a URL may carry credentials. */
static void warn_placeholders(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->nwebhooks; i++) {
        const struct webhook *w = &cfg->webhooks[i];
        size_t n = 0;
        const char *h = w->url ? url_host(w->url, &n) : NULL;
        if (h && placeholder_host(h, n))
            log_warn("[webhook.%s] url points at %.*s, a name reserved for examples: its "
                     "deliveries will be retried, then marked dead; set it to your CRM's",
                     w->name, (int)n, h);
    }
}

/* A second stop signal while requests finish: stop at once. Every lead
 * already answered 2xx is committed; a request still arriving gets no answer
 * and its client may send it again. */
static sigset_t stop_signals; /* static: the thread below may outlive serve() */

static void *stop_now(void *arg)
{
    int sig;
    (void)arg;
    sigwait(&stop_signals, &sig);
    log_warn("got %s again: stopping now (every acknowledged lead is committed)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT");
    _exit(1);
}

/* The longest duplicate window of any form, in hours: what the store keeps
 * in memory. */
static long long longest_window_h(const struct config *cfg)
{
    long long h = 0;
    for (size_t i = 0; i < cfg->nforms; i++)
        h = cfg->forms[i].dedupe_window_hours > h ? cfg->forms[i].dedupe_window_hours : h;
    return h;
}

/* One key whose change needs a restart: said, not silently ignored. */
static void restart_key(const char *key, bool changed)
{
    if (changed)
        log_warn("reload: %s changed: restart leadd to apply it (running with the old value)", key);
}

/* SIGHUP: the config file read again. Forms, fields, rules, grades, origins,
 * users, keys and logging apply to new requests at once, webhooks to the
 * forwarder once its deliveries in flight are done; a config with errors is
 * refused and the running one stays; what is fixed at start is named. */
static void reload(const struct args *a, const struct config *now, struct http *h,
                   struct forward *fw)
{
    struct config *next = calloc(1, sizeof(*next));
    struct config_ref *ref = NULL;
    if (!next || load_into(a, next, true)) { /* every problem logged as file:line */
        log_error("reload refused: the config has errors (above); still serving the one "
                  "loaded before");
        free(next);
        return;
    }
    restart_key("[server] listen", strcmp(next->listen, now->listen));
    restart_key("[server] threads", next->threads != now->threads);
    restart_key("[server] timezone", strcmp(next->timezone, now->timezone));
    restart_key("[server] max_connections", next->max_connections != now->max_connections);
    restart_key("[server] connection_timeout_s", next->conn_timeout_s != now->conn_timeout_s);
    restart_key("[server] request_timeout_s", next->request_timeout_s != now->request_timeout_s);
    restart_key("[server] header_timeout_s", next->header_timeout_s != now->header_timeout_s);
    restart_key("[server] connections_per_client",
                next->connections_per_client != now->connections_per_client);
    restart_key("[server] event_streams", next->event_streams != now->event_streams);
    restart_key("[server] event_buffer_kib", next->event_buffer_kib != now->event_buffer_kib);
    restart_key("[server] event_streams_per_user",
                next->event_streams_per_user != now->event_streams_per_user);
    restart_key("[server] event_streams_per_client",
                next->event_streams_per_client != now->event_streams_per_client);
    restart_key("[storage] path", strcmp(next->db_path, now->db_path));
    restart_key("[storage] durability", next->durability != now->durability);
    restart_key("[storage] retention_days", next->retention_days != now->retention_days);
    restart_key("a longer dedupe_window_hours", longest_window_h(next) > longest_window_h(now));
    bool rules = strcmp(buf_str(&next->rules_text), buf_str(&now->rules_text)) != 0;
    bool hooks = strcmp(buf_str(&next->webhook_text), buf_str(&now->webhook_text)) != 0;
    size_t nforms = next->nforms, nhooks = next->nwebhooks;
    if (!(ref = config_ref_new(next, true))) {
        log_error("reload refused: out of memory");
        config_release(next);
        free(next);
        return;
    }
    log_configure((enum log_format)next->log_format, (enum log_level)next->log_level);
    http_reload(h, ref);
    forward_reload(fw, ref);
    config_ref_drop(ref); /* http and the forwarder hold theirs */
    log_start("reload: config reloaded (%zu form%s, %zu webhook%s)", nforms, nforms == 1 ? "" : "s",
              nhooks, nhooks == 1 ? "" : "s");
    if (rules)
        log_info("reload: scoring rules changed; stored leads keep their scores until "
                 "`leadd rescore -c FILE`");
    if (hooks)
        log_info("reload: webhooks changed; deliveries follow them once those in flight are done");
}

/* Memory a request frees is kept for the next one. glibc otherwise gives
 * a thread's heap back to the kernel once 128 KB lie free at its top, and
 * serves larger blocks by mmap: each request then faults its memory in
 * anew, and on a virtual machine page faults are dear. GET /v1/leads (a
 * page of 50 leads) went from about 1,750 to 3,000 requests a second, its
 * page faults from 50,000-260,000 in 3 s to none (README, "Memory kept").
 * The cost: each thread's heap may hold up to M_TRIM_THRESHOLD unused. */
static void keep_freed_memory(void)
{
#ifdef __GLIBC__
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

static int serve(const struct args *a)
{
    struct config cfg;
    struct store *st = NULL;
    struct forward *fw = NULL;
    struct http *h = NULL;
    sigset_t set;
    int sig, rc = 1, lock = -1;
    struct config_ref *boot = NULL; /* the counted handle on cfg, for a reload to replace */
    if (load(a, &cfg))
        return 1;
    log_configure((enum log_format)cfg.log_format, (enum log_level)cfg.log_level);
    /* Block the stop signals in every thread; main waits for them below. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    keep_freed_memory();

    long long window_h = longest_window_h(&cfg);
    /* this node's name among those sharing a database: its claims carry it,
     * and a restarted node takes back what it held. A port the kernel picks
     * (":0") names no node twice: the pid does, and a restart waits for the
     * leases instead. */
    char node[320], host[256] = "";
    gethostname(host, sizeof(host) - 1);
    size_t ll = strlen(cfg.listen);
    if (ll >= 2 && !strcmp(cfg.listen + ll - 2, ":0"))
        snprintf(node, sizeof(node), "%s/%s/%d", host, cfg.listen, (int)getpid());
    else
        snprintf(node, sizeof(node), "%s/%s", host, cfg.listen);
    struct store_opts so = {cfg.db_path,
                            cfg.durability == DURABILITY_FULL,
                            true,
                            cfg.retention_days,
                            window_h * 3600 * 1000,
                            cfg.timezone,
                            cfg.backend == BACKEND_POSTGRES ? cfg.db_url : NULL,
                            (size_t)cfg.db_pool,
                            node};
    bool pg = cfg.backend == BACKEND_POSTGRES;
    int err = http_can_listen(&cfg);
    if (err) { /* before the database is created or migrated */
        fprintf(stderr, "leadd: unable to listen on %s: %s\n", cfg.listen, strerror(err));
        goto out;
    }
    /* many nodes share one PostgreSQL; one SQLite file has one server */
    int lrc = pg ? 0 : store_lock(cfg.db_path, &lock);
    if (lrc) { /* two servers on one file would break the duplicate window */
        fprintf(stderr, "leadd: %s '%s'\n",
                lrc == LEADD_ECONFLICT ? "another leadd is serving the database"
                                       : "unable to open the database",
                cfg.db_path);
        goto out;
    }
    if (store_open(&st, &so)) { /* the URL is never printed: it may hold a password */
        fprintf(stderr, "leadd: unable to open the database '%s'\n",
                pg ? "[storage] url" : cfg.db_path);
        goto out;
    }
    if (!(boot = config_ref_new(&cfg, false)) || forward_start(&fw, boot, st) ||
        http_start(&h, boot, st, fw))
        goto out;
    if (pg)
        log_start("leadd %s listening on http://%s:%d (database PostgreSQL, %zu form%s)",
                  LEADD_VERSION, cfg.listen_host, http_port(h), cfg.nforms,
                  cfg.nforms == 1 ? "" : "s");
    else
        log_start("leadd %s listening on http://%s:%d (database '%s', durability=%s, %zu form%s)",
                  LEADD_VERSION, cfg.listen_host, http_port(h), cfg.db_path,
                  cfg.durability == DURABILITY_FULL ? "full" : "normal", cfg.nforms,
                  cfg.nforms == 1 ? "" : "s");
    if (cfg.napi_keys == 0 && cfg.nusers == 0)
        log_warn("no API keys configured ([auth] api_keys%s%s) and no users: the query API "
                 "answers 401 to everyone",
                 cfg.api_keys_source ? " = " : "", cfg.api_keys_source ? cfg.api_keys_source : "");
    warn_placeholders(&cfg);
    /* The database is open and the port bound: ready, for systemd's notify. */
    if (notify_manager("READY=1"))
        log_warn("unable to tell the service manager leadd is ready ($NOTIFY_SOCKET)");
    while (!sigwait(&set, &sig) && sig == SIGHUP)
        reload(a, &cfg, h, fw);
    int n = http_inflight(h);
    log_info("got %s: waiting for %d request%s in flight (up to %d s; %s again to stop now)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", n, n == 1 ? "" : "s", SHUTDOWN_GRACE_MS / 1000,
             sig == SIGTERM ? "SIGTERM" : "Ctrl-C");
    notify_manager("STOPPING=1");
    pthread_t second;
    stop_signals = set;
    sigdelset(&stop_signals, SIGHUP);
    if (!pthread_create(&second, NULL, stop_now, NULL))
        pthread_detach(second);
    rc = 0;
out:
    http_stop(&h, SHUTDOWN_GRACE_MS);
    forward_stop(&fw); /* deliveries in flight finish within their timeouts */
    store_close(&st);
    config_ref_drop(boot); /* the last count: cfg itself is this frame's */
    if (lock >= 0)
        close(lock);
    if (rc == 0)
        log_start("stopped cleanly");
    config_release(&cfg);
    return rc;
}

static int rescore(const struct args *a)
{
    struct config cfg;
    struct store *st = NULL;
    struct rescore_stats rs;
    int rc = 1;
    if (!a->config) {
        fprintf(stderr, "leadd rescore: -c FILE is required\n");
        return 2;
    }
    if (load(a, &cfg))
        return 1;
    if (a->form && !config_form(&cfg, a->form, strlen(a->form))) {
        fprintf(stderr, "leadd rescore: no [form.%s] in '%s'\n", a->form, a->config);
        goto out;
    }
    struct store_opts so = command_store(&cfg, false);
    if (store_open(&st, &so) || rescore_run(&cfg, st, a->form, &rs))
        goto out;
    printf("rescored %zu leads: %zu changed qualification, %zu newly qualified, %zu deliveries "
           "queued, %zu skipped\n",
           rs.seen, rs.changed, rs.newly_qualified, rs.queued, rs.skipped);
    rc = 0;
out:
    store_close(&st);
    config_release(&cfg);
    return rc;
}

/* leadd rollup --rebuild: the stats' counters recounted from the leads, for
 * after a manual change to the database (the counters of a running leadd
 * are kept exact in each transaction; a test checks both agree). SQLite's
 * file it needs to itself: recounting holds the write lock throughout. On
 * PostgreSQL the serving nodes' writes wait on the fold's lock meanwhile. */
static int rollup(const struct args *a)
{
    struct config cfg;
    struct store *st = NULL;
    int lock = -1, rc = 1;
    long long groups = 0;
    if (!a->config || !a->rebuild) {
        fprintf(stderr, "leadd rollup: -c FILE and --rebuild are required\n");
        return 2;
    }
    if (load(a, &cfg))
        return 1;
    bool pg = cfg.backend == BACKEND_POSTGRES;
    struct store_opts so = command_store(&cfg, false);
    uint64_t t0 = mono_ms();
    int lrc = pg ? 0 : store_lock(cfg.db_path, &lock);
    if (lrc) {
        fprintf(stderr, "leadd rollup: %s '%s'\n",
                lrc == LEADD_ECONFLICT ? "stop the leadd serving" : "unable to open", cfg.db_path);
        goto out;
    }
    if (store_open(&st, &so) || store_rollup_rebuild(st, &groups)) {
        fprintf(stderr, "leadd rollup: unable to count the leads in %s\n",
                pg ? "the PostgreSQL database" : cfg.db_path);
        goto out;
    }
    printf("rollup: %lld groups counted from the leads in %llu ms (days in %s)\n", groups,
           (unsigned long long)(mono_ms() - t0), cfg.timezone);
    rc = 0;
out:
    store_close(&st);
    if (lock >= 0)
        close(lock);
    config_release(&cfg);
    return rc;
}

static int seed(const struct args *a)
{
    struct config cfg;
    struct store *st = NULL;
    int rc = 1;
    if (!a->config || a->count < 1) {
        fprintf(stderr, "leadd seed: -c FILE and --count N are required\n");
        return 2;
    }
    if (load(a, &cfg))
        return 1;
    const struct form *f = a->form ? config_form(&cfg, a->form, strlen(a->form)) : &cfg.forms[0];
    bool pg = cfg.backend == BACKEND_POSTGRES;
    struct store_opts so = command_store(&cfg, true);
    uint64_t t0 = mono_ms();
    if (!f) {
        fprintf(stderr, "leadd seed: no [form.%s]\n", a->form);
    } else if (store_open(&st, &so) == 0 && seed_run(&cfg, st, f, a->count) == 0) {
        printf("seeded %lld leads into %s%s%s in %.1f s\n", a->count, pg ? "" : "'",
               pg ? "PostgreSQL" : cfg.db_path, pg ? "" : "'", (double)(mono_ms() - t0) / 1000.0);
        rc = 0;
    }
    store_close(&st);
    config_release(&cfg);
    return rc;
}

/* leadd backup -c FILE DEST, leadd restore -c FILE SRC: the database is the
 * one FILE names. */
static void copied(const char *table, long long rows, void *arg)
{
    (void)arg;
    printf("%-18s %12lld rows, the same on both sides\n", table, rows);
}

/* leadd copy: the SQLite file into PostgreSQL. The URL may hold a password:
 * env:NAME keeps it off the command line, and it is never printed. */
static int copy(const struct args *a)
{
    char err[1024];
    if (!a->from || !a->to) {
        fprintf(stderr, "leadd copy: --from FILE.db and --to URL are required\n");
        return 2;
    }
    const char *url = a->to;
    if (!strncmp(url, "env:", 4) && !(url = getenv(a->to + 4))) {
        fprintf(stderr, "leadd copy: environment variable '%s' is not set\n", a->to + 4);
        return 2;
    }
    uint64_t t0 = mono_ms();
    int rc = store_copy_to_pg(a->from, url, a->count > 0 ? (size_t)a->count : 10000, copied, NULL,
                              err, sizeof(err));
    if (rc) {
        fprintf(stderr, "leadd copy: %s\n", err);
        return 1;
    }
    printf("copied '%s' in %.1f s\n", a->from, (double)(mono_ms() - t0) / 1000);
    return 0;
}

/* leadd compact: on PostgreSQL, the erased leads' old row versions out of
 * the database's files (store_pg_compact); SQLite overwrites them at the
 * erasure itself. */
static int compact(const struct args *a)
{
    struct config cfg;
    char err[512];
    if (load(a, &cfg))
        return 1;
    int rc = 0;
    if (cfg.backend != BACKEND_POSTGRES)
        printf("nothing to do: SQLite overwrites an erased lead's bytes at the erasure\n");
    else if ((rc = store_pg_compact(cfg.db_url, err, sizeof(err))))
        fprintf(stderr, "leadd compact: %s\n", err);
    else
        printf("compacted: erased leads' old row versions are out of the tables' files\n");
    config_release(&cfg);
    return rc ? 1 : 0;
}

static int backup_restore(const struct args *a)
{
    struct config cfg;
    char err[512];
    if (load(a, &cfg))
        return 1;
    if (sqlite_only(&cfg, a->cmd)) {
        config_release(&cfg);
        return 1;
    }
    bool backup = a->cmd[0] == 'b';
    int rc = backup ? store_backup(cfg.db_path, a->file, err, sizeof(err))
                    : store_restore(cfg.db_path, a->file, err, sizeof(err));
    if (rc)
        fprintf(stderr, "leadd %s: %s\n", a->cmd, err);
    else if (backup)
        printf("backed up '%s' to '%s' (checked, synced)\n", cfg.db_path, a->file);
    else
        printf("restored '%s' from '%s'\n", cfg.db_path, a->file);
    config_release(&cfg);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct args a;
    if (parse_args(argc, argv, &a)) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (forward_global_init()) {
        fprintf(stderr, "leadd: unable to initialise libcurl\n");
        return 1;
    }
    int rc = a.command->run(&a);
    forward_global_cleanup();
    return rc;
}

/* leadd check-config -c FILE, leadd migrate -c FILE */
static int check_or_migrate(const struct args *a)
{
    struct config cfg;
    if (!a->config) {
        fprintf(stderr, "leadd %s: -c FILE is required\n", a->cmd);
        return 2;
    }
    if (load(a, &cfg))
        return 1;
    int rc = 0;
    if (a->cmd[0] == 'm' && cfg.backend == BACKEND_POSTGRES) {
        char err[512];
        int applied = 0;
        rc = store_pg_migrate(cfg.db_url, &applied, err, sizeof(err)) ? 1 : 0;
        if (rc)
            fprintf(stderr, "leadd migrate: %s\n", err);
        else
            printf("%d migration%s applied to PostgreSQL\n", applied, applied == 1 ? "" : "s");
    } else if (a->cmd[0] == 'm') {
        int applied = 0;
        rc = store_migrate(cfg.db_path, &applied) ? 1 : 0;
        if (!rc)
            printf("%d migration%s applied to '%s'\n", applied, applied == 1 ? "" : "s",
                   cfg.db_path);
    } else {
        printf("%s: ok\n", a->config);
    }
    config_release(&cfg);
    return rc;
}
