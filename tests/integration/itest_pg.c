/* itest_pg.c: leadd's schema on a real PostgreSQL (a throwaway cluster that
 * tests/pg.sh starts with Debian's pg_virtualenv and stops afterwards; its
 * PG* variables point libpq at it). The schema equals SQLite's, table by
 * table and column by column; nodes migrating at once migrate once; a newer
 * schema is refused; the counters' triggers count as SQLite's do. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "receiver.h"
#include "leadd/buf.h"
#include "leadd/crypto.h"
#include "leadd/embed.h"
#include "leadd/lead.h"
#include "leadd/log.h"
#include "leadd/store.h"
#include "../../src/store/sql.h" /* the driver itself, for its session */

static PGconn *pg(void)
{
    PGconn *c = PQconnectdb("");
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("no PostgreSQL (run under tests/pg.sh): %s", PQerrorMessage(c));
    return c;
}

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

static long pg_long(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* A fresh database for each test: the schema dropped and made again. */
static void reset(void)
{
    PGconn *c = pg();
    pg_exec(c, "SET client_min_messages = warning;" /* not a NOTICE a table dropped */
               "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    PQfinish(c);
}

/* A fresh database with leadd's schema; a connection to it. */
static PGconn *migrated(void)
{
    char err[512];
    int applied;
    reset();
    if (store_pg_migrate("", &applied, err, sizeof(err)))
        fail_msg("migrate: %s", err);
    return pg();
}

static int migrations(void)
{
    int n = 0;
    while (pg_migrations_files[n].name)
        n++;
    return n;
}

/* "table.column" of every table and view, sorted, one per line. */
static void sqlite_columns(const char *db, char *out, size_t cap)
{
    sqlite3 *s;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(s,
                                        "SELECT m.name || '.' || p.name FROM sqlite_master AS m,"
                                        " pragma_table_info(m.name) AS p WHERE m.type IN"
                                        " ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%'"
                                        " ESCAPE '\\' ORDER BY 1",
                                        -1, &q, NULL),
                     SQLITE_OK);
    out[0] = '\0';
    while (sqlite3_step(q) == SQLITE_ROW)
        snprintf(out + strlen(out), cap - strlen(out), "%s\n", sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(s);
}

static void pg_columns(PGconn *c, char *out, size_t cap)
{
    PGresult *r = PQexec(c, "SELECT table_name || '.' || column_name FROM"
                            " information_schema.columns WHERE table_schema = 'public'"
                            " ORDER BY (table_name || '.' || column_name) COLLATE \"C\"");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s\n", PQgetvalue(r, i, 0));
    PQclear(r);
}

/* Every table and column SQLite's migrations make exists on PostgreSQL,
 * and nothing else but what multi-node serving needs. */
static void t_schema_parity(void **state)
{
    (void)state;
    static char lite[64 * 1024], post[64 * 1024], want[64 * 1024];
    char err[512], dir[] = "/tmp/leadd-pg-XXXXXX", db[300];
    int applied;
    reset();
    assert_int_equal(store_pg_migrate("", &applied, err, sizeof(err)), 0);
    assert_int_equal(applied, migrations());
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/leadd.db", dir);
    assert_int_equal(store_migrate(db, &applied), 0);
    sqlite_columns(db, lite, sizeof(lite));
    PGconn *c = pg();
    pg_columns(c, post, sizeof(post));
    PQfinish(c);
    /* PostgreSQL's own: SQLite's implicit rowids, made columns; rate
     * buckets, send windows and turns that one SQLite server keeps in
     * memory. Nothing else differs. */
    static const char *const EXTRA[] = {"delivery_attempts.rowid\n",
                                        "lead_history.rowid\n",
                                        "leads.rowid\n",
                                        "rate_buckets.at_ms\n",
                                        "rate_buckets.full_ms\n",
                                        "rate_buckets.key\n",
                                        "rate_buckets.taken\n",
                                        "rate_buckets.tokens\n",
                                        "send_windows.key\n",
                                        "send_windows.times\n",
                                        "turns.key\n",
                                        "turns.n\n"};
    snprintf(want, sizeof(want), "%s", post);
    for (size_t i = 0; i < sizeof(EXTRA) / sizeof(EXTRA[0]); i++) {
        char *p = strstr(want, EXTRA[i]);
        assert_non_null(p);
        memmove(p, p + strlen(EXTRA[i]), strlen(p + strlen(EXTRA[i])) + 1);
    }
    if (strcmp(want, lite))
        fail_msg("schemas differ:\n-- sqlite --\n%s\n-- postgres --\n%s", lite, want);
    char cmd[400], out[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    h_run(out, sizeof(out), "%s", cmd);
}

struct migrator {
    int applied, rc;
    char err[512];
};

static void *migrate(void *arg)
{
    struct migrator *m = arg;
    m->rc = store_pg_migrate("", &m->applied, m->err, sizeof(m->err));
    return NULL;
}

/* Nodes starting together: each migration applied exactly once. */
static void t_migrate_once(void **state)
{
    (void)state;
    enum { NODES = 4 };
    pthread_t th[NODES];
    struct migrator m[NODES] = {0};
    reset();
    for (int i = 0; i < NODES; i++)
        pthread_create(&th[i], NULL, migrate, &m[i]);
    int total = 0;
    for (int i = 0; i < NODES; i++) {
        pthread_join(th[i], NULL);
        if (m[i].rc)
            fail_msg("node %d: %s", i, m[i].err);
        total += m[i].applied;
    }
    assert_int_equal(total, migrations());
    PGconn *c = pg();
    assert_int_equal(pg_long(c, "SELECT count(*) FROM schema_migrations"), migrations());
    PQfinish(c);
}

/* A database migrated by a newer leadd is refused, and left as it is. */
static void t_newer_refused(void **state)
{
    (void)state;
    char err[512];
    int applied;
    PGconn *c = migrated();
    pg_exec(c, "INSERT INTO schema_migrations(version, name) VALUES (9999, '9999_future.sql')");
    assert_int_equal(store_pg_migrate("", &applied, err, sizeof(err)), LEADD_ECONFLICT);
    assert_non_null(strstr(err, "9999_future.sql"));
    assert_non_null(strstr(err, "newer than this leadd knows"));
    assert_int_equal(applied, 0);
    PQfinish(c);
    assert_int_equal(
        store_pg_migrate("postgresql://nobody@127.0.0.1:1/x", &applied, err, sizeof(err)),
        LEADD_EDB);
    assert_non_null(strstr(err, "unable to connect"));
}

/* The counters' triggers move a counted lead as SQLite's do, and the
 * consent record refuses changes. */
static void t_triggers(void **state)
{
    (void)state;
    PGconn *c = migrated();
    pg_exec(c, "SET TimeZone = 'UTC'");
    pg_exec(c, "INSERT INTO leads(id, form, created_at, created_ms, utm_source, grade, qualified)"
               " VALUES ('01A', 'contact', '2026-12-01T10:00:00.000Z', 1796119200000, 'google',"
               " 'hot', 1), ('01B', 'contact', '2026-12-01T11:00:00.000Z', 1796122800000,"
               " 'google', 'cold', 0)");
    /* the fold's work, as SQL: count both, then mark them counted */
    pg_exec(c, "INSERT INTO rollup SELECT grain, period, form, utm_source, utm_medium,"
               " utm_campaign, currency, sum(leads), sum(valid), sum(qualified), sum(hot),"
               " sum(warm), sum(cold), sum(contacted), sum(converted), sum(rejected), sum(spam),"
               " sum(duplicates), sum(revenue_minor) FROM lead_rollup GROUP BY 1, 2, 3, 4, 5, 6,"
               " 7");
    pg_exec(c, "UPDATE rollup_mark SET upto = '01B'");
    assert_int_equal(pg_long(c, "SELECT hot FROM rollup WHERE grain = 0 AND period ="
                                " '2026-12-01' AND form = 'contact'"),
                     1);
    pg_exec(c, "UPDATE leads SET status = 'converted', value_minor = 120000, currency = 'EUR'"
               " WHERE id = '01A'");
    assert_int_equal(pg_long(c, "SELECT count(*) FROM rollup WHERE grain = 0"), 2);
    assert_int_equal(pg_long(c, "SELECT revenue_minor FROM rollup WHERE grain = 1 AND currency ="
                                " 'EUR'"),
                     120000);
    assert_int_equal(pg_long(c, "SELECT sum(leads) FROM rollup WHERE grain = 2"), 2);
    pg_exec(c, "UPDATE leads SET flags = 16 WHERE id = '01B'"); /* marked spam */
    assert_int_equal(pg_long(c, "SELECT sum(spam) FROM rollup WHERE grain = 0"), 1);
    assert_int_equal(pg_long(c, "SELECT sum(valid) FROM rollup WHERE grain = 0"), 1);
    /* kept counters equal counters rebuilt from the leads */
    assert_int_equal(pg_long(c, "SELECT count(*) FROM (SELECT grain, period, form, utm_source,"
                                " utm_medium, utm_campaign, currency, sum(leads), sum(valid),"
                                " sum(spam), sum(revenue_minor) FROM lead_rollup GROUP BY 1, 2, 3,"
                                " 4, 5, 6, 7 EXCEPT SELECT grain, period, form, utm_source,"
                                " utm_medium, utm_campaign, currency, leads, valid, spam,"
                                " revenue_minor FROM rollup) AS d"),
                     0);
    pg_exec(c, "INSERT INTO consent_texts VALUES ('h', 'I agree')");
    pg_exec(c, "INSERT INTO consents(lead_id, kind, form, text_hash, at, ip) VALUES ('01A',"
               " 'given', 'contact', 'h', '2026-12-01T10:00:00.000Z', '203.0.113.7')");
    pg_exec(c, "UPDATE consents SET ip = NULL, email_hash = 'x'"); /* erasure may */
    PGresult *r = PQexec(c, "DELETE FROM consents");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorMessage(r), "append-only"));
    PQclear(r);
    r = PQexec(c, "UPDATE consents SET at = 'x'");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    PQfinish(c);
}

/* A digest of a query's rows on each side, to compare contents. */
static void sqlite_digest(const char *db, const char *sql, char *out, size_t cap)
{
    char q[1024];
    snprintf(q, sizeof(q), "sqlite3 %s \"%s\" | md5sum", db, sql);
    assert_int_equal(h_run(out, cap, "%s", q), 0);
}

static void pg_digest(const char *sql, char *out, size_t cap)
{
    char q[1024];
    snprintf(q, sizeof(q), "psql -XAtq -c \"%s\" | md5sum", sql);
    assert_int_equal(h_run(out, cap, "%s", q), 0);
}

static bool copy_begun(void *arg)
{
    (void)arg;
    PGconn *c = pg();
    PGresult *r = PQexec(c, "SELECT done FROM leadd_copy WHERE tbl = 'leads'");
    bool begun = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                 strtol(PQgetvalue(r, 0, 0), NULL, 10) > 0;
    PQclear(r);
    PQfinish(c);
    return begun;
}

/* ---- the query API's reads, the same code on both backends ---- */

/* Two answers that must be equal, byte for byte; the first difference
 * shown when they are not. */
static void same(const char *what, struct buf *a, struct buf *b)
{
    const char *x = buf_str(a), *y = buf_str(b);
    size_t i = 0;
    while (x[i] && x[i] == y[i])
        i++;
    if (x[i] || y[i])
        fail_msg("%s differs at byte %zu:\n sqlite:   %.160s\n postgres: %.160s", what, i,
                 x + (i > 40 ? i - 40 : 0), y + (i > 40 ? i - 40 : 0));
    assert_true(a->len > 0);
    buf_reset(a);
    buf_reset(b);
}

static int since_ids(const char *id, const char *form, unsigned flags, void *arg)
{
    buf_addf(arg, "%s %s %u\n", id, form, flags);
    return 0;
}

/* Each lead read, as the API shows it. */
static int lead_text(void *arg, const struct lead_row *lead)
{
    return lead_row_json(lead, arg);
}

/* A page of leads as text: its leads, then the cursor after it. */
static void page_text(struct store *st, const struct lead_filter *f, struct buf *out,
                      char next[ULID_LEN + 1])
{
    assert_int_equal(store_list_leads(st, f, lead_text, out, next), 0);
    buf_addf(out, "\nnext %s\n", next);
}

static int get_lead(struct store *st, const char *id, const char *viewer, struct buf *out)
{
    return store_get_lead(st, id, viewer, lead_text, out);
}

/* Each of the other reads as a line of text. */
static int group_line(void *arg, const struct store_group *g)
{
    return buf_addf(arg, "%s %lld %lld %lld %lld\n", g->key ? g->key : "-", g->total, g->qualified,
                    g->converted, g->spam);
}

static int spend_line(void *arg, const struct store_spend_row *r)
{
    return buf_addf(arg, "%s %s %s %s %lld\n", r->date, r->utm_source,
                    r->utm_campaign ? r->utm_campaign : "-", r->currency, r->amount_minor);
}

static int delivery_line(void *arg, const struct store_delivery_row *d)
{
    /* times and message ids labelled as on the wire, for mask() */
    buf_addf(arg, "%lld %s %s \"webhook_id\":\"%s\" %s \"next_attempt_at\":\"%llu\" %s:", d->id,
             d->lead, d->webhook, d->webhook_id, d->state, (unsigned long long)d->next_attempt_ms,
             d->why ? d->why : "-");
    for (size_t i = 0; i < d->nattempts; i++)
        buf_addf(arg, " [\"at\":\"%s\" %lld %s %lld]", d->attempts[i].at,
                 d->attempts[i].has_status ? d->attempts[i].status : -1,
                 d->attempts[i].error ? d->attempts[i].error : "-", d->attempts[i].duration_ms);
    return buf_addc(arg, '\n');
}

static int consent_line(void *arg, const struct store_consent_row *c)
{
    const char *v[] = {c->lead_id, c->kind,       c->form, c->field, c->text,      c->text_hash,
                       c->ip,      c->user_agent, c->page, c->actor, c->email_hash};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        buf_addf(arg, "%s|", v[i] ? v[i] : "-");
    return buf_addf(arg, "\"at\":\"%s\"\n", c->at ? c->at : "-");
}

static int deliveries_text(struct store *st, const char *state, const char *lead, int limit,
                           struct buf *out)
{
    long long next;
    int rc = store_list_deliveries(st, state, lead, 0, limit, delivery_line, out, &next);
    buf_addf(out, "next %lld\n", next);
    return rc;
}

/* A report as text: every row's sums, then the total's. */
static void report_text(struct store *st, enum report_group g, struct buf *out)
{
    struct report_query q = {.group = g, .currency = "EUR"};
    struct report r;
    assert_int_equal(store_report(st, &q, &r), 0);
    for (size_t i = 0; i <= r.n; i++) {
        const struct report_row *x = i < r.n ? &r.rows[i] : &r.total;
        buf_addf(out, "%s %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld\n",
                 i < r.n ? (x->key ? x->key : "(none)") : "total", x->leads, x->valid, x->qualified,
                 x->hot, x->warm, x->cold, x->contacted, x->converted, x->rejected, x->spam,
                 x->duplicates, x->revenue_minor, x->spend_minor);
    }
    report_release(&r);
}

static void export_all(struct store *st, enum export_format fmt, struct buf *out)
{
    static const char *const fields[] = {"email", "name", "company", "budget", "consent"};
    static const bool is_bool[] = {false, false, false, false, true};
    struct lead_filter f = {.qualified = -1, .spam = -1, .limit = 50};
    struct store_export *e;
    bool done = false;
    assert_int_equal(store_export_open(st, &f, fmt, fields, is_bool, 5, &e), 0);
    while (!done)
        assert_int_equal(store_export_next(e, out, out->len + 64 * 1024, &done), 0);
    store_export_close(&e);
}

/* The SQLite file at db and the PostgreSQL it was copied into answer every
 * read of the query API alike: pages of leads under each filter (three
 * pages deep, by cursor), a lead with its history, the events' leads,
 * stats by each grouping, deliveries, metrics, and both exports. */
static void same_reads(const char *db, const char *lead_id)
{
    struct store_opts lo = {.path = db}, po = {.pg_url = "", .pool = 2};
    struct store *lite, *post;
    struct buf a = BUF_INIT(64u << 20), b = BUF_INIT(64u << 20);
    assert_int_equal(store_open(&lite, &lo), 0);
    assert_int_equal(store_open(&post, &po), 0);
    const struct lead_filter base = {.qualified = -1, .limit = 50};
    struct lead_filter fs[12];
    for (size_t i = 0; i < 12; i++)
        fs[i] = base;
    fs[1].spam = 1;
    fs[2].spam = -1;
    fs[3].grade = "hot";
    fs[4].qualified = 1;
    fs[5].has_min_score = true, fs[5].min_score = 40;
    fs[6].q = "acme";
    fs[7].owner = "none";
    fs[8].form = "contact", fs[8].utm_source = "google";
    fs[9].status = "converted";
    fs[10].grade = "cold", fs[10].qualified = 0, fs[10].has_max_score = true, fs[10].max_score = 20;
    fs[11].viewer = "admin", fs[11].has_after = true, fs[11].after_ms = 1;
    for (size_t i = 0; i < 12; i++) {
        char at[ULID_LEN + 1], cursor[ULID_LEN + 1] = "", other[ULID_LEN + 1], what[64];
        for (int page = 0; page < 3; page++) {
            memcpy(at, cursor, sizeof(at));
            fs[i].cursor = *at ? at : NULL;
            page_text(lite, &fs[i], &a, cursor);
            page_text(post, &fs[i], &b, other);
            snprintf(what, sizeof(what), "filter %zu, page %d", i, page);
            same(what, &a, &b);
            if (!*cursor)
                break;
        }
    }
    assert_int_equal(get_lead(lite, lead_id, "admin", &a), 0);
    assert_int_equal(get_lead(post, lead_id, "admin", &b), 0);
    assert_non_null(strstr(buf_str(&a), "\"status\":\"converted\""));
    same("a lead", &a, &b);
    assert_int_equal(get_lead(post, "01KAQ3X6Y8R0S9T1V2W3X4Y5Z6", NULL, &b), LEADD_ENOTFOUND);
    size_t n;
    assert_int_equal(store_leads_since(lite, "", 500, since_ids, &a, &n), 0);
    assert_int_equal(store_leads_since(post, "", 500, since_ids, &b, &n), 0);
    same("leads since", &a, &b);
    static const char *const groups[] = {"utm_source", "utm_medium", "utm_campaign", "form",
                                         "grade",      "status",     "day"};
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
        assert_int_equal(store_stats(lite, groups[i], &base, group_line, &a), 0);
        assert_int_equal(store_stats(post, groups[i], &base, group_line, &b), 0);
        same(groups[i], &a, &b);
    }
    for (int g = 0; g < REPORT_GROUP_COUNT; g++) {
        report_text(lite, (enum report_group)g, &a);
        report_text(post, (enum report_group)g, &b);
        same(report_group_names[g], &a, &b);
    }
    assert_int_equal(store_list_spend(lite, NULL, NULL, NULL, spend_line, &a), 0);
    assert_int_equal(store_list_spend(post, NULL, NULL, NULL, spend_line, &b), 0);
    assert_non_null(strstr(buf_str(&a), " 9950\n")); /* 99.50 in minor units */
    same("spend", &a, &b);
    assert_int_equal(deliveries_text(lite, NULL, NULL, 100, &a), 0);
    assert_int_equal(deliveries_text(post, NULL, NULL, 100, &b), 0);
    same("deliveries", &a, &b);
    assert_int_equal(deliveries_text(lite, "pending", lead_id, 5, &a), 0);
    assert_int_equal(deliveries_text(post, "pending", lead_id, 5, &b), 0);
    same("deliveries of a lead", &a, &b);
    assert_int_equal(store_list_consents(lite, lead_id, NULL, consent_line, &a), 0);
    assert_int_equal(store_list_consents(post, lead_id, NULL, consent_line, &b), 0);
    assert_non_null(strstr(buf_str(&a), "|given|"));
    same("a lead's consents", &a, &b);
    assert_int_equal(store_list_consents(lite, NULL, "p3@acme.example", consent_line, &a), 0);
    assert_int_equal(store_list_consents(post, NULL, "p3@acme.example", consent_line, &b), 0);
    same("an address's consents", &a, &b);
    unsigned char token[SHA256_LEN] = {1};
    struct confirm_info ci;
    assert_int_equal(store_confirm_peek(post, token, 0, &ci), LEADD_ENOTFOUND);
    assert_int_equal(store_metrics(lite, &a), 0);
    assert_int_equal(store_metrics(post, &b), 0);
    same("metrics", &a, &b);
    export_all(lite, EXPORT_NDJSON, &a);
    export_all(post, EXPORT_NDJSON, &b);
    same("NDJSON export", &a, &b);
    export_all(lite, EXPORT_CSV, &a);
    export_all(post, EXPORT_CSV, &b);
    same("CSV export", &a, &b);
    buf_release(&a);
    buf_release(&b);
    store_close(&lite);
    store_close(&post);
}

/* Times and webhook-ids each store makes for itself, masked: what is left
 * must be equal. */
static void mask(struct buf *b)
{
    static const char *const KEYS[] = {"\"at\":\"", "\"webhook_id\":\"", "\"next_attempt_at\":\""};
    for (size_t k = 0; k < sizeof(KEYS) / sizeof(KEYS[0]); k++) {
        for (char *p = b->ptr; p && (p = strstr(p, KEYS[k]));) {
            p += strlen(KEYS[k]);
            while (*p && *p != '"')
                *p++ = 'X';
        }
    }
}

static int first_ids(const char *id, const char *form, unsigned flags, void *arg)
{
    char(*v)[40] = arg;
    snprintf(v[*v[0] ? 1 : 0], 40, "%s", id);
    return 0;
}

/* The time in a ULID's first ten characters (Crockford's base32). */
static uint64_t ulid_ms(const char *id)
{
    static const char A[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint64_t ms = 0;
    for (int i = 0; i < 10; i++)
        ms = ms * 32 + (uint64_t)(strchr(A, id[i]) - A);
    return ms;
}

/* The writer's jobs both backends share (admin.c): the same jobs on both
 * copies give the same answers and leave the same leads, history, read
 * markers, sessions and spend behind. */
static void same_jobs(const char *db, const char *x)
{
    struct store_opts lo = {.path = db, .serving = true}, po = {.pg_url = "", .pool = 2};
    struct store *st[2];
    struct buf out[2] = {BUF_INIT(1u << 20), BUF_INIT(1u << 20)};
    char ids[2][40] = {"", ""};
    size_t n;
    assert_int_equal(store_open(&st[0], &lo), 0);
    assert_int_equal(store_open(&st[1], &po), 0);
    assert_int_equal(store_leads_since(st[0], "", 2, first_ids, ids, &n), 0);
    const char *y = ids[1];
    for (int i = 0; i < 2; i++) {
        struct store_delivery d = {"crm", "lead.qualified"};
        struct store_patch_job p = {.job.op = STORE_OP_PATCH,
                                    .lead_id = x,
                                    .status = "contacted",
                                    .note = "called | twice",
                                    .actor = "maria",
                                    .set_owner = true,
                                    .owner = "maria",
                                    .spam = -1,
                                    .set_value = true,
                                    .value_minor = 1234,
                                    .currency = "EUR",
                                    .deliveries = &d,
                                    .ndeliveries = 1};
        assert_int_equal(store_run(st[i], &p.job), 0);
        struct store_patch_job s1 = {
            .job.op = STORE_OP_PATCH, .lead_id = y, .actor = "api", .spam = 1};
        assert_int_equal(store_run(st[i], &s1.job), 0);
        struct store_patch_job s0 = {.job.op = STORE_OP_PATCH,
                                     .lead_id = y,
                                     .actor = "api",
                                     .spam = 0,
                                     .score = 70,
                                     .grade = "hot",
                                     .qualified = true,
                                     .score_reasons = "[]",
                                     .deliveries = &d,
                                     .ndeliveries = 1};
        assert_int_equal(store_run(st[i], &s0.job), 0);
        struct store_patch_job none = {.job.op = STORE_OP_PATCH, .lead_id = "nobody", .spam = -1};
        assert_int_equal(store_run(st[i], &none.job), LEADD_ENOTFOUND);
        struct store_session_job sj = {.job.op = STORE_OP_SESSION,
                                       .change = SESSION_CREATE,
                                       .token_hash = {7, 7, 7},
                                       .user = "maria",
                                       .credential = "c0ffee",
                                       .at_ms = 1000};
        assert_int_equal(store_run(st[i], &sj.job), 0);
        sj.change = SESSION_READ;
        snprintf(sj.lead_id, sizeof(sj.lead_id), "%.26s", x);
        assert_int_equal(store_run(st[i], &sj.job), 0);
        assert_int_equal(store_run(st[i], &sj.job), 0); /* read twice: one marker */
        sj.change = SESSION_SEEN, sj.at_ms = 5000;
        assert_int_equal(store_run(st[i], &sj.job), 0);
        struct store_session_row srow;
        assert_int_equal(store_session(st[i], sj.token_hash, 6000, 2000, &srow), 0);
        assert_string_equal(srow.user, "maria");
        assert_int_equal(srow.seen_ms, 5000);
        assert_false(srow.key);
        assert_string_equal(srow.credential, "c0ffee");
        struct spend_row sp[2] = {{"2026-11-29", "google", "brand", "EUR", 1000},
                                  {"2026-11-30", "google", NULL, "EUR", 2500}};
        struct store_spend_job spj = {.job.op = STORE_OP_SPEND, .v = sp, .n = 2};
        assert_int_equal(store_run(st[i], &spj.job), 0);
        sp[0].amount_minor = 1100; /* again: replaced */
        assert_int_equal(store_run(st[i], &spj.job), 0);
        struct store_spend_job rm = {.job.op = STORE_OP_SPEND, .v = &sp[1], .n = 1, .remove = true};
        assert_int_equal(store_run(st[i], &rm.job), 0);
        assert_int_equal(store_run(st[i], &rm.job), LEADD_ENOTFOUND);
        struct store_retry_job rj = {.job.op = STORE_OP_RETRY, .delivery_id = 1};
        assert_int_equal(store_run(st[i], &rj.job), LEADD_ECONFLICT); /* pending, not dead */
        rj.delivery_id = 99999999;
        assert_int_equal(store_run(st[i], &rj.job), LEADD_ENOTFOUND);
        struct store_withdraw_job wj = {
            .job.op = STORE_OP_WITHDRAW, .lead_id = x, .actor = "maria", .ip = "192.0.2.1"};
        assert_int_equal(store_run(st[i], &wj.job), 0);
        assert_int_equal(store_run(st[i], &wj.job), 0); /* again: nothing more */
        struct store_confirm_job cj = {.job.op = STORE_OP_CONFIRM, .token_hash = {9}};
        assert_int_equal(store_run(st[i], &cj.job), LEADD_ENOTFOUND);
        struct store_retain_job ej = {.job.op = STORE_OP_EXPIRE};
        assert_int_equal(store_run(st[i], &ej.job), 0);
        assert_int_equal(ej.erased, 0);
        /* retention: the leads before y, the first of them */
        struct store_retain_job rt = {.job.op = STORE_OP_RETAIN, .before_ms = ulid_ms(y)};
        assert_int_equal(store_run(st[i], &rt.job), 0);
        assert_true(rt.erased >= 1);
        buf_addf(&out[i], "retention erased %lld\n", rt.erased);
        assert_int_equal(get_lead(st[i], ids[0], NULL, &out[i]), LEADD_ENOTFOUND);
        assert_int_equal(store_list_consents(st[i], x, NULL, consent_line, &out[i]), 0);
        assert_int_equal(get_lead(st[i], x, "maria", &out[i]), 0);
        assert_int_equal(get_lead(st[i], y, "maria", &out[i]), 0);
        assert_int_equal(store_list_spend(st[i], NULL, NULL, NULL, spend_line, &out[i]), 0);
        assert_int_equal(deliveries_text(st[i], NULL, y, 10, &out[i]), 0);
        mask(&out[i]);
        sj.change = SESSION_DELETE;
        assert_int_equal(store_run(st[i], &sj.job), 0);
        assert_int_equal(store_session(st[i], sj.token_hash, 6000, 2000, &srow), LEADD_ENOTFOUND);
    }
    assert_non_null(strstr(buf_str(&out[0]), "\"note\":\"called | twice\""));
    assert_non_null(strstr(buf_str(&out[0]), "\"value\":\"12.34\""));
    assert_non_null(strstr(buf_str(&out[0]), "\"spam\":false}"));
    assert_non_null(strstr(buf_str(&out[0]), " 1100\n")); /* 11.00 in minor units */
    assert_non_null(strstr(buf_str(&out[0]), "|withdrawn|"));
    assert_non_null(strstr(buf_str(&out[0]), "consent_withdrawn"));
    same("after the same jobs", &out[0], &out[1]);
    buf_release(&out[0]);
    buf_release(&out[1]);
    store_close(&st[0]);
    store_close(&st[1]);
}

/* leadd copy: a database leadd made (submissions, changes, an erasure,
 * spend, consents, deliveries, a session, and seeded volume) into
 * PostgreSQL; killed mid-way, run again, it resumes; the rows are the same
 * on both sides, and a second copy into the filled database is refused. */
static void t_copy(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char ini[8192], id[40], path[128], out[4096], a[128], b[128];
    reset();
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n[webhook.crm]\nurl = http://127.0.0.1:9/\n"
             "sign = false\nretry_schedule = 1h\n",
             H_BASE_INI);
    h_start(&l, ini, NULL);
    for (int i = 0; i < 20; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"email\":\"p%d@acme.example\",\"name\":\"P %d\",\"company\":\"Acme\","
                 "\"budget\":50000,\"consent\":true,\"utm_source\":\"google\"}",
                 i, i);
        h_post_json(&l, "contact", body, &r);
        assert_int_equal(r.status, 201);
        assert_true(h_json_str(r.body, "id", id, sizeof(id)));
        resp_free(&r);
    }
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    h_api(&l, "PATCH", path, "{\"status\":\"converted\",\"value\":\"1200.00\"}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_api(&l, "DELETE", "/v1/leads/01KAQ3X6Y8R0S9T1V2W3X4Y5Z6", NULL, &r);
    resp_free(&r);
    h_api(&l, "PUT", "/v1/spend",
          "[{\"date\":\"2026-11-30\",\"utm_source\":\"google\",\"amount\":\"99.50\"}]", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_req(&l, "POST", "/v1/session", "{\"key\":\"" H_API_KEY "\"}", &r,
          "Content-Type: application/json", NULL);
    resp_free(&r);
    char cmd[1024];
    /* a database being served is not copied: it would not hold still */
    snprintf(cmd, sizeof(cmd), "%s copy --from %s --to '' 2>&1", getenv("LEADD_BIN"), l.db);
    assert_int_equal(h_run(out, sizeof(out), "%s", cmd), 1);
    assert_non_null(strstr(out, "leadd is serving"));
    assert_int_equal(h_stop(&l), 0);
    snprintf(cmd, sizeof(cmd), "%s seed -c %s --set storage.path=%s --count 30000 >/dev/null 2>&1",
             getenv("LEADD_BIN"), l.cfg, l.db);
    assert_int_equal(h_run(out, sizeof(out), "%s", cmd), 0);

    /* killed mid-way, then run again */
    snprintf(cmd, sizeof(cmd), "exec %s copy --from %s --to '' --batch 50 >/dev/null 2>&1",
             getenv("LEADD_BIN"), l.db);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_true(h_wait(copy_begun, NULL, 30000));
    assert_int_equal(h_run(out, sizeof(out), "pkill -9 -f -- 'copy --from .* --batch [5]0'"), 0);
    pclose(p);
    PGconn *c = pg();
    long partial = pg_long(c, "SELECT count(*) FROM leads");
    assert_true(partial > 0 && partial < 30020);
    PQfinish(c);
    snprintf(cmd, sizeof(cmd), "%s copy --from %s --to '' --batch 500 2>&1", getenv("LEADD_BIN"),
             l.db);
    if (h_run(out, sizeof(out), "%s", cmd) != 0)
        fail_msg("resumed copy: %s", out);
    assert_non_null(strstr(out, "copy: resuming"));
    assert_non_null(strstr(out, "leads                     30020 rows, the same on both sides"));
    /* the same rows, field by field */
    sqlite_digest(l.db,
                  "SELECT id, email, status, score, grade, flags, fields, value_minor FROM"
                  " leads ORDER BY rowid",
                  a, sizeof(a));
    pg_digest("SELECT id, email, status, score, grade, flags, fields, value_minor FROM leads"
              " ORDER BY rowid",
              b, sizeof(b));
    assert_string_equal(a, b);
    sqlite_digest(l.db, "SELECT lead_id, kind, text_hash, at, ip FROM consents ORDER BY id", a,
                  sizeof(a));
    pg_digest("SELECT lead_id, kind, text_hash, at, ip FROM consents ORDER BY id", b, sizeof(b));
    assert_string_equal(a, b);
    sqlite_digest(l.db, "SELECT hex(token_hash), user FROM sessions ORDER BY 1", a, sizeof(a));
    pg_digest("SELECT upper(encode(token_hash, 'hex')), \\\"user\\\" FROM sessions ORDER BY 1", b,
              sizeof(b));
    assert_string_equal(a, b);
    same_reads(l.db, id);
    same_jobs(l.db, id);
    c = pg();
    /* SQLite's mark is by rowid, PostgreSQL's by id: the first node to
     * serve counts the stats again, every lead once */
    assert_int_equal(pg_long(c, "SELECT count(*) FROM store_meta WHERE key = 'timezone'"), 0);
    struct store *srv;
    struct store_opts so = {.pg_url = "", .pool = 1, .timezone = "UTC", .serving = true};
    assert_int_equal(store_open(&srv, &so), 0);
    store_close(&srv);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM store_meta WHERE key = 'timezone'"), 1);
    assert_int_equal(pg_long(c, "SELECT sum(leads) FROM rollup WHERE grain = 0"),
                     pg_long(c, "SELECT count(*) FROM leads WHERE id <= (SELECT upto FROM"
                                " rollup_mark)"));
    /* new rows after the copied ones: the identities start past them */
    pg_exec(c, "INSERT INTO deliveries(lead_id, webhook, webhook_id, event, next_attempt_ms,"
               " created_ms, updated_ms) VALUES ('x', 'crm', 'msg_new', 'lead.created', 0, 0, 0)");
    assert_int_equal(pg_long(c, "SELECT count(*) FROM pg_tables WHERE tablename = 'leadd_copy'"),
                     0); /* the progress table goes once the copy is verified */
    PQfinish(c);
    /* copying again into a database that holds leads is refused */
    snprintf(cmd, sizeof(cmd), "%s copy --from %s --to '' 2>&1", getenv("LEADD_BIN"), l.db);
    assert_int_equal(h_run(out, sizeof(out), "%s", cmd), 1);
    assert_non_null(strstr(out, "already holds 30020 leads"));
    h_cleanup(&l);
}

/* ---- capture on two nodes sharing one database ---- */

#define RACE 200 /* addresses both nodes get at once */
#define KEYS 50  /* Idempotency-Keys both nodes get at once */

struct cap {
    struct store_lead_job j;
    char email[64], key[32];
    atomic_bool done;
};

static void cap_done(struct store_job *job, void *arg)
{
    (void)job;
    atomic_store((atomic_bool *)arg, true);
}

static void cap_init(struct cap *c, const char *email, const char *key)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->email, sizeof(c->email), "%s", email);
    c->j.job = (struct store_job){.op = STORE_OP_LEAD, .done = cap_done, .arg = &c->done};
    c->j.in = (struct store_lead){.form = "contact",
                                  .email = c->email,
                                  .fields = "{}",
                                  .extra = "{}",
                                  .attribution = "{}",
                                  .client = "{}",
                                  .grade = "cold",
                                  .score_reasons = "[]",
                                  .dedupe_window_ms = 24LL * 3600 * 1000,
                                  .status = 201};
    if (key) {
        snprintf(c->key, sizeof(c->key), "%s", key);
        c->j.in.idem_key = c->key;
        memset(c->j.in.body_hash, 7, SHA256_LEN); /* the same body on both nodes */
    }
}

/* A node: a store of its own (its writer, ids and connection) serving
 * the one database. */
static int node_open(struct store **st)
{
    struct store_opts o = {
        .serving = true, .pg_url = "", .pool = 2, .dedupe_window_ms = 24LL * 3600 * 1000};
    return store_open(st, &o);
}

struct node {
    struct store *st;
    struct cap *caps;
    size_t n;
};

static void *feed(void *arg)
{
    struct node *nd = arg;
    for (size_t i = 0; i < nd->n; i++)
        if (store_submit(nd->st, &nd->caps[i].j.job))
            fail_msg("submit %zu refused", i);
    return NULL;
}

static bool all_done(void *arg)
{
    struct node *nd = arg;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < nd[k].n; i++)
            if (!atomic_load(&nd[k].caps[i].done))
                return false;
    return true;
}

/* The same addresses and keys posted to two nodes at the same moment: one
 * first lead and one flagged duplicate each; one lead for each key, both
 * nodes answering its id; every acknowledged lead committed. */
static void t_capture_across_nodes(void **state)
{
    (void)state;
    char err[512];
    struct node nd[2];
    pthread_t th[2];
    reset();
    (void)err;
    for (int k = 0; k < 2; k++) {
        assert_int_equal(node_open(&nd[k].st), 0);
        nd[k].n = RACE + KEYS;
        nd[k].caps = calloc(nd[k].n, sizeof(struct cap));
        for (size_t i = 0; i < nd[k].n; i++) {
            char email[64], key[32];
            snprintf(email, sizeof(email), "race%zu@example.org", i < RACE ? i : 1000 + i);
            snprintf(key, sizeof(key), "key-%zu", i);
            cap_init(&nd[k].caps[i], email, i < RACE ? NULL : key);
        }
    }
    for (int k = 0; k < 2; k++)
        pthread_create(&th[k], NULL, feed, &nd[k]);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    assert_true(h_wait(all_done, nd, 60000));
    PGconn *c = pg();
    for (size_t i = 0; i < RACE + KEYS; i++) {
        struct store_lead_job *a = &nd[0].caps[i].j, *b = &nd[1].caps[i].j;
        assert_int_equal(a->job.rc, 0);
        assert_int_equal(b->job.rc, 0);
        if (i >= RACE) { /* one lead for the key; both answer it */
            assert_string_equal(a->id, b->id);
            assert_true(a->replayed != b->replayed);
        }
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM leads WHERE id IN ('%s', '%s')", a->id,
                 b->id);
        assert_int_equal(pg_long(c, sql), i < RACE ? 2 : 1); /* acknowledged: committed */
    }
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads"), 2 * RACE + KEYS);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM (SELECT email FROM leads GROUP BY email"
                                " HAVING count(*) FILTER (WHERE duplicate_of IS NULL) = 1) AS f"),
                     RACE + KEYS);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads AS l WHERE duplicate_of IS NOT NULL"
                                " AND NOT EXISTS (SELECT 1 FROM leads AS f WHERE f.id ="
                                " l.duplicate_of AND f.email = l.email AND f.duplicate_of IS"
                                " NULL)"),
                     0);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads WHERE flags & 4 != 0"), RACE);
    PQfinish(c);
    for (int k = 0; k < 2; k++) {
        store_close(&nd[k].st);
        free(nd[k].caps);
    }
}

/* ---- the outbox shared by nodes ---- */

#define DUE 100

struct claimer {
    struct store *st;
    const char *node;
    long long got[DUE];
    size_t n;
};

/* Everything st's node claims at now, 7 at a time as a forwarder would
 * (skipping skip[0..nskip)), appended to got[*n..DUE). */
static void claim_ids(struct store *st, uint64_t now, const long long *skip, size_t nskip,
                      long long got[DUE], size_t *n)
{
    struct outbox_item it[7];
    size_t k;
    do {
        if (store_outbox_claim(st, "crm", now, 60000, 7, skip, nskip, it, &k))
            fail_msg("claim failed");
        for (size_t i = 0; i < k; i++) {
            assert_true(*n < DUE);
            got[(*n)++] = it[i].id;
            free(it[i].lead_json);
        }
    } while (k);
}

static void *claim_all(void *arg)
{
    struct claimer *cl = arg;
    claim_ids(cl->st, 1000, NULL, 0, cl->got, &cl->n);
    return NULL;
}

/* Two nodes claiming at once get disjoint sets that together are all; a
 * node that dies holding claims loses them when their lease runs out. */
static void t_outbox_leases(void **state)
{
    (void)state;
    struct claimer cl[2] = {{.node = "a"}, {.node = "b"}};
    pthread_t th[2];
    reset();
    for (int k = 0; k < 2; k++) {
        struct store_opts o = {.pg_url = "", .pool = 2, .node = cl[k].node};
        assert_int_equal(store_open(&cl[k].st, &o), 0);
    }
    PGconn *c = pg();
    pg_exec(c, "INSERT INTO deliveries(lead_id, webhook, webhook_id, event, next_attempt_ms,"
               " created_ms, updated_ms) SELECT 'l' || g, 'crm', 'msg_' || g, 'lead.created', 0,"
               " 0, 0 FROM generate_series(1, 100) AS g");
    for (int k = 0; k < 2; k++)
        pthread_create(&th[k], NULL, claim_all, &cl[k]);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    assert_int_equal(cl[0].n + cl[1].n, DUE);
    for (size_t i = 0; i < cl[0].n; i++)
        for (size_t j = 0; j < cl[1].n; j++)
            assert_true(cl[0].got[i] != cl[1].got[j]);
    /* node a "dies" holding its claims (made at t=1000, leased 60 s): b gets
     * none of them before the lease ends, and all of them after */
    long long ids[DUE];
    size_t n = 0;
    claim_ids(cl[1].st, 60999, NULL, 0, ids, &n);
    assert_int_equal(n, 0);
    claim_ids(cl[1].st, 61000, NULL, 0, ids, &n);
    assert_int_equal(n, DUE);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM deliveries WHERE claimed_by = 'b'"), DUE);
    /* b's attempts outlast their leases (a slow CRM, a slow record): what b
     * still holds it never claims again; the rest it does */
    long long again[DUE];
    enum { HELD = 32 }; /* FORWARD_MAX_INFLIGHT: the most a node holds of a webhook */
    n = 0;
    claim_ids(cl[1].st, 121000, ids, HELD, again, &n);
    assert_int_equal(n, DUE - HELD);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < HELD; j++)
            assert_true(again[i] != ids[j]);
    PQfinish(c);
    for (int k = 0; k < 2; k++)
        store_close(&cl[k].st);
}

struct waiter {
    struct pgstore *st;
    bool woke;
    uint64_t ms;
};

static void no_update(void *arg, const char *payload)
{
    (void)arg;
    fail_msg("no lead changed, yet heard: %s", payload);
}

static void *wait_outbox(void *arg)
{
    struct waiter *w = arg;
    uint64_t t0 = h_now_ms();
    w->woke = pgstore_outbox_wait(w->st, 10000, no_update, NULL);
    w->ms = h_now_ms() - t0;
    return NULL;
}

static bool cap_acked(void *arg)
{
    return atomic_load(&((struct cap *)arg)->done);
}

/* An idle node wakes when another queues a delivery (LISTEN/NOTIFY), and
 * waits out its timeout when nothing comes. */
static void t_outbox_wakes(void **state)
{
    (void)state;
    char err[512];
    struct waiter w = {0};
    struct store *a;
    pthread_t th;
    reset();
    assert_int_equal(node_open(&a), 0);
    assert_int_equal(pgstore_open(&w.st, "", err, sizeof(err)), 0);
    uint64_t t0 = h_now_ms();
    assert_false(pgstore_outbox_wait(w.st, 300, no_update, NULL));
    assert_true(h_now_ms() - t0 >= 290);
    pthread_create(&th, NULL, wait_outbox, &w);
    struct cap c;
    struct store_delivery d = {"crm", "lead.created"};
    cap_init(&c, "wake@example.org", NULL);
    c.j.in.deliveries = &d;
    c.j.in.ndeliveries = 1;
    assert_int_equal(store_submit(a, &c.j.job), 0);
    pthread_join(th, NULL);
    assert_true(h_wait(cap_acked, &c, 10000));
    assert_int_equal(c.j.job.rc, 0);
    assert_true(w.woke);
    assert_true(w.ms < 5000);
    store_close(&a);
    pgstore_close(&w.st);
}

struct erase {
    struct store_erase_job j;
    atomic_bool done;
};

static bool erase_acked(void *arg)
{
    return atomic_load(&((struct erase *)arg)->done);
}

/* How many files under dir hold needle (grep -l). */
static int files_holding(const char *dir, const char *needle)
{
    char out[8192];
    h_run(out, sizeof(out), "grep -r -l -a -F '%s' '%s' | wc -l", needle, dir);
    return (int)strtol(out, NULL, 10);
}

/* Erasure on PostgreSQL, among hundreds of leads: the person leaves the
 * lead and its records (the salted hash stays) at once; the old row
 * versions VACUUM freed keep the bytes in the tables' files (README says
 * so) until leadd compact rewrites them, after which no file of the
 * database holds the address. */
static void t_erasure_vacuumed(void **state)
{
    (void)state;
    enum { OTHERS = 300 };
    char err[512], out[8192], sql[512], base[1024];
    struct store *st;
    reset();
    assert_int_equal(node_open(&st), 0);
    struct store_consent consent = {.field = "consent", .text = "I agree", .text_hash = "h1"};
    struct cap keep, gone, *others = calloc(OTHERS, sizeof(*others));
    char(*fields)[256] = calloc(OTHERS + 1, sizeof(*fields));
    assert_non_null(others);
    assert_non_null(fields);
    cap_init(&keep, "kept.person@example.org", NULL);
    cap_init(&gone, "erased.person@example.org", NULL);
    gone.j.in.consents = &consent;
    gone.j.in.nconsents = 1;
    gone.j.in.ip = "203.0.113.9";
    gone.j.in.fields = "{\"name\":\"Erased Person\",\"company\":\"Erased Co\",\"message\":\"call "
                       "me about the spring campaign, erased.person@example.org\"}";
    assert_int_equal(store_submit(st, &keep.j.job), 0);
    /* the lead to erase after hundreds of others: the newest row of its
     * page, whose freed space no other row is moved over */
    for (int i = 0; i < OTHERS; i++) {
        char email[64];
        snprintf(email, sizeof(email), "person%03d@example.org", i);
        cap_init(&others[i], email, NULL);
        snprintf(fields[i], sizeof(fields[i]),
                 "{\"name\":\"Person %03d\",\"company\":\"Company %03d\",\"message\":\"we are "
                 "looking at tools for our sales team of %d\"}",
                 i, i, 5 + i % 50);
        others[i].j.in.fields = fields[i];
        assert_int_equal(store_submit(st, &others[i].j.job), 0);
    }
    for (int i = 0; i < OTHERS; i++)
        assert_true(h_wait(cap_acked, &others[i], 10000));
    assert_int_equal(store_submit(st, &gone.j.job), 0);
    assert_true(h_wait(cap_acked, &keep, 10000) && h_wait(cap_acked, &gone, 10000));
    PGconn *c = pg();
    pg_exec(c, "CHECKPOINT"); /* the address is on disk now */
    struct erase e = {.j = {.job = {.op = STORE_OP_ERASE, .done = cap_done}, .lead_id = gone.j.id}};
    e.j.job.arg = &e.done;
    assert_int_equal(store_submit(st, &e.j.job), 0);
    assert_true(h_wait(erase_acked, &e, 10000));
    assert_int_equal(e.j.job.rc, 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM leads WHERE id = '%s' AND email IS NULL AND erased_at IS NOT"
             " NULL",
             gone.j.id);
    assert_int_equal(pg_long(c, sql), 1);
    /* the dispute: the hash kept is the address's under the database's salt */
    PGresult *r = PQexec(c, "SELECT (SELECT value FROM store_meta WHERE key = 'consent_salt'),"
                            " (SELECT email_hash FROM consents), (SELECT ip FROM consents)");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    unsigned char salt[32], mac[SHA256_LEN];
    for (int i = 0; i < 32; i++)
        salt[i] = (unsigned char)strtol(
            (char[3]){PQgetvalue(r, 0, 0)[2 * i], PQgetvalue(r, 0, 0)[2 * i + 1], 0}, NULL, 16);
    const void *part = "erased.person@example.org";
    size_t len = strlen(part);
    char hex[2 * SHA256_LEN + 1];
    assert_int_equal(crypto_hmac_sha256(salt, sizeof(salt), &part, &len, 1, mac), 0);
    crypto_hex(mac, sizeof(mac), hex);
    assert_string_equal(PQgetvalue(r, 0, 1), hex);
    assert_true(PQgetisnull(r, 0, 2));
    PQclear(r);
    /* erasing again: not found */
    e.j.job.rc = 0;
    atomic_store(&e.done, false);
    assert_int_equal(store_submit(st, &e.j.job), 0);
    assert_true(h_wait(erase_acked, &e, 10000));
    assert_int_equal(e.j.job.rc, LEADD_ENOTFOUND);
    /* The database's files: the kept address is there (the grep works);
     * the erased one, freed by the erasure's VACUUM, is still in the
     * table's pages, as README says, until leadd compact. */
    pg_exec(c, "CHECKPOINT");
    r = PQexec(c, "SELECT current_setting('data_directory') || '/base/' || oid FROM pg_database"
                  " WHERE datname = current_database()");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(base, sizeof(base), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    assert_true(files_holding(base, "kept.person@example.org") > 0);
    int before = files_holding(base, "erased.person@example");
    fprintf(stderr, "after the erasure and its VACUUM: %d files of the database hold the address\n",
            before);
    assert_true(before > 0);
    assert_int_equal(store_pg_compact("", err, sizeof(err)), 0);
    pg_exec(c, "CHECKPOINT"); /* the old files, truncated at commit, go */
    assert_int_equal(files_holding(base, "erased.person@example"), 0);
    assert_int_equal(files_holding(base, "Erased Co"), 0);
    assert_true(files_holding(base, "kept.person@example.org") > 0);
    assert_true(files_holding(base, "person150@example.org") > 0);
    (void)out;
    free(others);
    free(fields);
    PQfinish(c);
    store_close(&st);
}

/* Submits one capture and waits for its answer; returns its rc. */
static int capture(struct store *st, struct cap *c, const char *email)
{
    cap_init(c, email, NULL);
    assert_int_equal(store_submit(st, &c->j.job), 0);
    assert_true(h_wait(cap_acked, c, 30000));
    return c->j.job.rc;
}

/* The database stops and starts again: captures meanwhile are refused (never
 * acknowledged), the store says it is not writable, and it recovers by
 * itself; nothing acknowledged before is lost. */
static void t_database_restart(void **state)
{
    (void)state;
    char out[4096];
    struct store *st;
    struct cap before, during, after;
    reset();
    assert_int_equal(node_open(&st), 0);
    assert_int_equal(capture(st, &before, "before@example.org"), 0);
    assert_int_equal(h_run(out, sizeof(out), "%s stop -m fast 2>&1", getenv("LEADD_TEST_PGCTL")),
                     0);
    assert_int_equal(capture(st, &during, "during@example.org"), LEADD_EDB);
    assert_false(store_writable(st));
    assert_int_equal(h_run(out, sizeof(out), "%s start 2>&1", getenv("LEADD_TEST_PGCTL")), 0);
    assert_int_equal(capture(st, &after, "after@example.org"), 0);
    assert_true(store_writable(st));
    PGconn *c = pg();
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads WHERE email IN"
                                " ('before@example.org', 'after@example.org')"),
                     2);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads WHERE email = 'during@example.org'"),
                     0);
    PQfinish(c);
    store_close(&st);
}

/* A lead's consent records and deliveries are sent ahead in the writer's
 * pipeline, their failure told only by what comes after: a failed one
 * fails its lead (no lead kept without its consent record), and the
 * statement whose prepare the failure skipped (this session's first
 * delivery) is prepared again, or every batch after would fail. */
static void t_sent_ahead_fails_its_batch(void **state)
{
    (void)state;
    static const struct store_consent consent = {
        .field = "consent", .text = "I agree", .text_hash = "61"};
    static const struct store_delivery crm = {.webhook = "crm", .event = "lead.created"};
    const char *pages[] = {"https://refused.example/", "https://fine.example/"};
    struct store *st;
    struct cap caps[2];
    reset();
    assert_int_equal(node_open(&st), 0); /* migrated; nothing prepared yet */
    PGconn *c = pg();
    pg_exec(c, "ALTER TABLE consents ADD CONSTRAINT refused"
               " CHECK (page IS DISTINCT FROM 'https://refused.example/')");
    for (int i = 0; i < 2; i++) {
        cap_init(&caps[i], i ? "fine@example.org" : "refused@example.org", NULL);
        caps[i].j.in.consents = &consent;
        caps[i].j.in.nconsents = 1;
        caps[i].j.in.page = pages[i];
        caps[i].j.in.deliveries = &crm;
        caps[i].j.in.ndeliveries = 1;
        assert_int_equal(store_submit(st, &caps[i].j.job), 0);
        assert_true(h_wait(cap_acked, &caps[i], 30000));
        assert_int_equal(caps[i].j.job.rc, i ? 0 : LEADD_EDB);
    }
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads"), 1);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads AS l JOIN consents ON lead_id = l.id"
                                " WHERE email = 'fine@example.org'"),
                     1);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads AS l JOIN deliveries ON lead_id = l.id"
                                " WHERE email = 'fine@example.org'"),
                     1);
    PQfinish(c);
    store_close(&st);
}

/* ---- leadd serving from PostgreSQL, two nodes over HTTP ---- */

/* A node on the test's database: [storage] backend = postgres. */
static void node_start(struct leadd *l, const char *ini, char *url, size_t cap)
{
    snprintf(url, cap, "storage.url=dbname=%s", getenv("PGDATABASE") ? getenv("PGDATABASE") : "");
    h_start(l, ini, "storage.backend=postgres", url, NULL);
}

/* h_wait's condition: the count sql answers is at least n. */
struct at_least {
    const char *sql;
    long n;
};

static bool count_at_least(void *arg)
{
    const struct at_least *w = arg;
    PGconn *c = pg();
    long n = pg_long(c, w->sql);
    PQfinish(c);
    return n >= w->n;
}

#define DELIVERED "SELECT count(*) FROM deliveries WHERE state = 'delivered'"

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void post_one(struct leadd *l, const char *email, char *id, size_t cap)
{
    struct resp r;
    char body[256];
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"name\":\"E\",\"consent\":true}", email);
    h_post_json(l, "contact", body, &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, cap));
    resp_free(&r);
}

/* Two nodes on one database: submissions alternate between them; an
 * address posted to both is one lead and a duplicate; a lead captured on
 * one is listed, read and changed through the other; every qualified lead
 * reaches the CRM once, whichever node queued it; both are ready. */
/* What every leadd session sets, whatever the database's defaults say: a
 * commit acknowledged only once durable, no parallel workers (two started
 * for a report's empty read on a million leads took 35-50 ms), and no JIT
 * (the same read on ten million was compiled for 13-17 ms each time). */
static void t_session_settings(void **state)
{
    (void)state;
    char err[512], sql[512];
    PGconn *c = pg();
    snprintf(sql, sizeof(sql),
             "ALTER DATABASE \"%s\" SET synchronous_commit = off;"
             " ALTER DATABASE \"%s\" SET max_parallel_workers_per_gather = 4;"
             " ALTER DATABASE \"%s\" SET jit = on",
             PQdb(c), PQdb(c), PQdb(c));
    pg_exec(c, sql);
    struct sqlc *db;
    if (sqlc_pg("", &db, err, sizeof(err)))
        fail_msg("connect: %s", err);
    static const char *const want[][2] = {
        {"synchronous_commit", "on"}, {"max_parallel_workers_per_gather", "0"}, {"jit", "off"}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct sqls *q;
        assert_int_equal(sqls_prepare(db, "SELECT current_setting(?1)", &q), 0);
        sqls_text(q, 1, want[i][0], false);
        assert_int_equal(sqls_step(q), SQL_ROW);
        if (strcmp(sqls_col(q, 0), want[i][1]))
            fail_msg("%s is %s in leadd's session", want[i][0], sqls_col(q, 0));
        sqls_finalize(&q);
    }
    sqlc_close(&db);
    snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" RESET ALL", PQdb(c));
    pg_exec(c, sql);
    PQfinish(c);
}

static void t_two_nodes(void **state)
{
    (void)state;
    struct leadd a, b;
    struct receiver rv = {0};
    struct resp r;
    char ini[8192], url[2][256], ids[20][40], path[128];
    reset();
    recv_start(&rv, 0);
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n[webhook.crm]\nurl = http://127.0.0.1:%d/\n"
             "sign = false\n",
             H_BASE_INI, rv.port);
    node_start(&a, ini, url[0], sizeof(url[0]));
    node_start(&b, ini, url[1], sizeof(url[1]));
    assert_true(h_wait_log(&a, "database PostgreSQL", 1000));
    for (int i = 0; i < 20; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"email\":\"n%d@acme.example\",\"name\":\"N %d\",\"company\":\"Acme\","
                 "\"budget\":50000,\"consent\":true}",
                 i, i);
        h_post_json(i % 2 ? &b : &a, "contact", body, &r);
        assert_int_equal(r.status, 201);
        assert_true(h_json_str(r.body, "id", ids[i], sizeof(ids[i])));
        resp_free(&r);
    }
    /* the same address on the other node: a duplicate of the first */
    h_post_json(&b, "contact", "{\"email\":\"n0@acme.example\",\"name\":\"N 0\",\"consent\":true}",
                &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    /* read through the other node */
    snprintf(path, sizeof(path), "/v1/leads/%s", ids[0]);
    h_api(&b, "GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"email\":\"n0@acme.example\""));
    resp_free(&r);
    h_api(&a, "GET", "/v1/leads?limit=100", NULL, &r);
    assert_int_equal(r.status, 200);
    for (int i = 0; i < 20; i++)
        assert_non_null(strstr(r.body, ids[i]));
    assert_non_null(strstr(r.body, "\"duplicate\""));
    resp_free(&r);
    /* worked on B, seen on A */
    snprintf(path, sizeof(path), "/v1/leads/%s", ids[2]);
    h_api(&b, "PATCH", path, "{\"status\":\"contacted\",\"note\":\"called\"}", &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_api(&a, "GET", path, NULL, &r);
    assert_non_null(strstr(r.body, "\"status\":\"contacted\""));
    assert_non_null(strstr(r.body, "\"note\":\"called\""));
    resp_free(&r);
    /* B's live stream shows a lead captured on A, and its own, each once */
    struct h_stream ev;
    char e1[40], e2[40], e3[40], line[64];
    h_stream_open(&b, &ev, H_API_KEY, NULL, 0);
    assert_true(h_stream_until(&ev, 0, "retry: 1000")); /* the stream is registered */
    post_one(&a, "live-a@acme.example", e1, sizeof(e1));
    post_one(&b, "live-b@acme.example", e2, sizeof(e2));
    snprintf(line, sizeof(line), "id: %s\n", e1);
    assert_true(h_stream_until(&ev, 0, line));
    snprintf(line, sizeof(line), "id: %s\n", e2);
    assert_true(h_stream_until(&ev, 0, line));
    post_one(&a, "live-c@acme.example", e3, sizeof(e3)); /* by then B followed again */
    snprintf(line, sizeof(line), "id: %s\n", e3);
    assert_true(h_stream_until(&ev, 0, line));
    snprintf(line, sizeof(line), "id: %s\n", e1);
    assert_int_equal(count_of(ev.text, line), 1);
    snprintf(line, sizeof(line), "id: %s\n", e2);
    assert_int_equal(count_of(ev.text, line), 1);
    h_stream_close(&ev);
    /* every qualified lead reaches the CRM once: 20, the duplicate none */
    struct at_least want = {DELIVERED, 20};
    assert_true(h_wait(count_at_least, &want, 20000));
    assert_int_equal(recv_count(&rv), 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(recv_has_lead(&rv, ids[i]), 1);
    h_req(&a, "GET", "/readyz", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_req(&b, "GET", "/readyz", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(h_stop(&a), 0);
    assert_int_equal(h_stop(&b), 0);
    /* the URL, which may hold a password, is in neither log */
    char *t = h_log_text(&a);
    assert_null(strstr(t, url[0] + strlen("storage.url=")));
    free(t);
    h_cleanup(&a);
    h_cleanup(&b);
    recv_free(&rv);
}

struct acks {
    FILE *p;
    char ids[400][40];
    int n;
};

/* Reads the poster's lines ("201 ID") until at least want are in. */
static void read_acks(struct acks *k, int want)
{
    char line[256];
    while (k->n < want && fgets(line, sizeof(line), k->p)) {
        char id[40];
        if (sscanf(line, "201 %39s", id) == 1 && k->n < 400)
            snprintf(k->ids[k->n++], sizeof(k->ids[0]), "%s", id);
    }
}

/* A node killed (kill -9) while it holds claimed deliveries whose attempts
 * hang, and while submissions to it are being committed: every lead it
 * acknowledged is stored once, the other node goes on serving, and once
 * the dead node's leases end the other delivers each acknowledged lead to
 * the CRM exactly once. */
static void t_node_killed(void **state)
{
    (void)state;
    struct leadd a, b;
    struct receiver stall, rv = {0};
    struct resp r;
    struct acks k = {0};
    char ini[8192], url[2][256], cmd[2048], hook[256];
    reset();
    recv_stall(&stall);
    recv_start(&rv, 0);
    /* the same webhook; from A (cut off from the CRM) its attempts hang */
    snprintf(ini, sizeof(ini),
             "%s[auth]\napi_keys = " H_API_KEY "\n[webhook.crm]\nsign = false\n"
             "timeout_ms = 1000\n"
             /* this test is about claims, not the retry schedule: however
              * many attempts A makes before it dies, B's follow soon */
             "retry_schedule = 200ms 200ms 200ms 200ms 200ms 200ms 200ms 200ms 200ms 200ms"
             " 200ms 200ms 200ms 200ms 200ms 200ms 200ms 200ms 200ms 200ms 200ms 200ms\n",
             H_BASE_INI);
    snprintf(hook, sizeof(hook), "webhook.crm.url=http://127.0.0.1:%d/", stall.port);
    snprintf(url[0], sizeof(url[0]), "storage.url=dbname=%s", getenv("PGDATABASE"));
    h_start(&a, ini, "storage.backend=postgres", url[0], hook, "storage.claim_grace_ms=1000", NULL);
    /* a client posting to A, one line per answer: "STATUS ID" */
    static const char POSTER[] =
        "i=0\n"
        "while [ $i -lt 400 ]; do\n"
        "  i=$((i+1))\n"
        "  out=$(curl -s -w '\\n%{http_code}' -H 'Content-Type: application/json' --data"
        " \"{\\\"email\\\":\\\"k$i@acme.example\\\",\\\"name\\\":\\\"K\\\","
        "\\\"company\\\":\\\"Acme\\\",\\\"budget\\\":50000,\\\"consent\\\":true}\""
        " \"http://127.0.0.1:$1/v1/forms/contact/submissions\")\n"
        "  code=$(printf '%s\\n' \"$out\" | tail -n 1)\n"
        "  id=$(printf '%s\\n' \"$out\" | head -n 1 | sed -n "
        "'s/.*\"id\":\"\\([0-9A-Z]*\\)\".*/\\1/p')\n"
        "  echo \"$code $id\"\n"
        /* A is gone: its port is free, and a server another suite starts
         * beside this one may take it and answer the next post */
        "  [ \"$code\" = 000 ] && break\n"
        "done\n";
    char script[400];
    h_write_file(&a, "poster.sh", POSTER, script, sizeof(script));
    snprintf(cmd, sizeof(cmd), "exec sh %s %d 2>/dev/null", script, a.port);
    assert_non_null(k.p = popen(cmd, "r"));
    read_acks(&k, 20);
    struct at_least held = {"SELECT count(*) FROM deliveries WHERE claimed_until IS NOT NULL", 10};
    assert_true(h_wait(count_at_least, &held, 10000)); /* A holds claims, its attempts hang */
    /* B, which reaches the CRM, starts; then A dies mid-stream */
    snprintf(hook, sizeof(hook), "webhook.crm.url=http://127.0.0.1:%d/", rv.port);
    snprintf(url[1], sizeof(url[1]), "storage.url=dbname=%s", getenv("PGDATABASE"));
    h_start(&b, ini, "storage.backend=postgres", url[1], hook, "storage.claim_grace_ms=1000", NULL);
    read_acks(&k, k.n + 20);
    h_kill9(&a);
    read_acks(&k, 400); /* the rest fail: A is gone */
    pclose(k.p);
    assert_true(k.n >= 40);
    /* B serves throughout */
    h_post_json(&b, "contact",
                "{\"email\":\"after@acme.example\",\"name\":\"A\",\"company\":\"Acme\","
                "\"budget\":50000,\"consent\":true}",
                &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    PGconn *c = pg();
    for (int i = 0; i < k.n; i++) {
        char q[160];
        snprintf(q, sizeof(q), "SELECT count(*) FROM leads WHERE id = '%s'", k.ids[i]);
        if (pg_long(c, q) != 1)
            fail_msg("acknowledgement %d of %d (lead %s) is not stored", i + 1, k.n, k.ids[i]);
    }
    /* every lead committed (acknowledged or not) reaches the CRM once */
    struct at_least all = {DELIVERED, pg_long(c, "SELECT count(*) FROM leads WHERE qualified = 1")};
    if (!h_wait(count_at_least, &all, 60000))
        fail_msg("%lld of %lld delivered; %lld pending, %lld dead, %lld claimed",
                 pg_long(c, DELIVERED), all.n,
                 pg_long(c, "SELECT count(*) FROM deliveries WHERE state = 'pending'"),
                 pg_long(c, "SELECT count(*) FROM deliveries WHERE state = 'dead'"),
                 pg_long(c, "SELECT count(*) FROM deliveries WHERE claimed_until IS NOT NULL"));
    PQfinish(c);
    for (int i = 0; i < k.n; i++)
        assert_int_equal(recv_has_lead(&rv, k.ids[i]), 1);
    assert_int_equal(recv_count(&rv), (int)all.n);
    assert_int_equal(h_stop(&b), 0);
    h_cleanup(&a);
    h_cleanup(&b);
    recv_free(&rv);
    recv_free(&stall);
}

/* The database stopped and started under a serving node: submissions are
 * refused with 503 and Retry-After (never acknowledged), /readyz says so,
 * and both come back by themselves; nothing acknowledged is lost. */
struct ready {
    struct leadd *l;
    int want;
};

static bool ready_is(void *arg)
{
    struct ready *w = arg;
    struct resp r;
    h_req(w->l, "GET", "/readyz", NULL, &r, NULL);
    int st = r.status;
    resp_free(&r);
    return st == w->want;
}

static void t_restart_http(void **state)
{
    (void)state;
    struct leadd a;
    struct resp r;
    char ini[8192], url[256], out[4096], hdr[32];
    reset();
    snprintf(ini, sizeof(ini), "%s[auth]\napi_keys = " H_API_KEY "\n", H_BASE_INI);
    node_start(&a, ini, url, sizeof(url));
    static const char BODY[] = "{\"email\":\"%s@acme.example\",\"name\":\"R\",\"consent\":true}";
    char body[256];
    snprintf(body, sizeof(body), BODY, "before");
    h_post_json(&a, "contact", body, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_int_equal(h_run(out, sizeof(out), "%s stop -m fast 2>&1", getenv("LEADD_TEST_PGCTL")),
                     0);
    snprintf(body, sizeof(body), BODY, "during");
    h_post_json(&a, "contact", body, &r);
    assert_int_equal(r.status, 503);
    assert_non_null(h_header(&r, "Retry-After", hdr, sizeof(hdr)));
    assert_non_null(strstr(r.body, "storage-unavailable"));
    resp_free(&r);
    struct ready w = {&a, 503};
    assert_true(h_wait(ready_is, &w, 5000));
    assert_int_equal(h_run(out, sizeof(out), "%s start 2>&1", getenv("LEADD_TEST_PGCTL")), 0);
    w.want = 200;
    assert_true(h_wait(ready_is, &w, 15000)); /* by itself, no request needed */
    snprintf(body, sizeof(body), BODY, "after");
    h_post_json(&a, "contact", body, &r);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    PGconn *c = pg();
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads"), 2);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads WHERE email = 'during@acme.example'"),
                     0);
    assert_int_equal(h_stop(&a), 0);
    /* leadd seed writes synthetic history into PostgreSQL too */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "%s seed -c %s --count 300 --set storage.backend=postgres --set %s 2>&1",
             getenv("LEADD_BIN"), a.cfg, url);
    assert_int_equal(h_run(out, sizeof(out), "%s", cmd), 0);
    assert_non_null(strstr(out, "seeded 300 leads into PostgreSQL"));
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads"), 302);
    PQfinish(c);
    h_cleanup(&a);
}

/* The counters and the list's filter table, row by row (string_agg: free). */
static char *counters(PGconn *c)
{
    PGresult *r = PQexec(
        c, "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM (SELECT concat_ws('|',"
           " grain, period, form, utm_source, utm_medium, utm_campaign, currency, leads, valid,"
           " qualified, hot, warm, cold, contacted, converted, rejected, spam, duplicates,"
           " revenue_minor) AS x FROM rollup UNION ALL SELECT concat_ws('|', 'f', rid, bucket,"
           " score) FROM lead_filters) AS t");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* Two nodes store leads at once, each batch counting its own into the
 * stats' counters as it commits: no node ever waits for another's count
 * (a third's batch held open holds nobody, where a fold every
 * ROLLUP_FOLD_LEADS leads would have stopped them all), and every lead is
 * counted once, at once. A seeded lead (a past time) counts itself in
 * too. The counters kept equal the counters rebuilt from the leads. */
static void t_counted_as_written(void **state)
{
    (void)state;

    enum { N = 2700 }; /* past ROLLUP_FOLD_LEADS (2,000): each node folds meanwhile */
    struct node nd[2];
    pthread_t th[2];
    reset();
    for (int k = 0; k < 2; k++) {
        assert_int_equal(node_open(&nd[k].st), 0);
        nd[k].n = N;
        nd[k].caps = calloc(N, sizeof(struct cap));
        for (size_t i = 0; i < N; i++) {
            char email[64];
            snprintf(email, sizeof(email), "f%d-%zu@example.org", k, i % 1500);
            cap_init(&nd[k].caps[i], email, NULL);
            nd[k].caps[i].j.in.grade = i % 3 ? "cold" : "hot";
            nd[k].caps[i].j.in.utm_source = i % 2 ? "google" : NULL;
        }
    }
    /* a batch of another node's, open all along */
    PGconn *held = pg();
    pg_exec(held, "BEGIN");
    pg_exec(held, "SELECT pg_advisory_xact_lock_shared(465557349477)"); /* ROLLUP_LOCK */
    for (int k = 0; k < 2; k++)
        pthread_create(&th[k], NULL, feed, &nd[k]);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    assert_true(h_wait(all_done, nd, 120000));
    PGconn *c = pg();
    /* counted, all of them, with both nodes still serving */
    assert_int_equal(pg_long(c, "SELECT sum(leads) FROM rollup WHERE grain = 0"), 2 * N);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM lead_filters"), 2 * N);
    pg_exec(held, "COMMIT");
    PQfinish(held);
    store_close(&nd[0].st);
    /* ROLLUP_ALL: above every id */
    assert_int_equal(
        pg_long(c, "SELECT count(*) FROM rollup_mark WHERE upto = 'ZZZZZZZZZZZZZZZZZZZZZZZZZZ'"),
        1);
    /* a seeding writer of its own: its ids start a day ago, below the mark */
    struct cap old;
    struct store *seeder;
    struct timespec ts;
    cap_init(&old, "seeded@example.org", NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    old.j.in.created_ms = (uint64_t)ts.tv_sec * 1000 - 24ULL * 3600 * 1000;
    assert_int_equal(node_open(&seeder), 0);
    assert_int_equal(store_submit(seeder, &old.j.job), 0);
    assert_true(h_wait(cap_acked, &old, 10000));
    assert_int_equal(old.j.job.rc, 0);
    store_close(&seeder);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads WHERE email = 'seeded@example.org'"
                                " AND id <= (SELECT upto FROM rollup_mark)"),
                     1);
    store_close(&nd[1].st);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM leads WHERE id > (SELECT upto FROM"
                                " rollup_mark)"),
                     0);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM lead_filters"), 2 * N + 1);
    assert_int_equal(pg_long(c, "SELECT sum(leads) FROM rollup WHERE grain = 0"), 2 * N + 1);
    char *kept = counters(c);
    struct store *st;
    struct store_opts po = {.pg_url = "", .pool = 1, .timezone = "UTC"};
    long long groups = 0;
    assert_int_equal(store_open(&st, &po), 0);
    assert_int_equal(store_rollup_rebuild(st, &groups), 0);
    store_close(&st);
    assert_true(groups > 3);
    char *rebuilt = counters(c);
    if (strcmp(kept, rebuilt))
        fail_msg("counters kept:\n%.2000s\n\nrebuilt:\n%.2000s", kept, rebuilt);
    free(kept);
    free(rebuilt);
    PQfinish(c);
    for (int k = 0; k < 2; k++)
        free(nd[k].caps);
}

/* What one SQLite server keeps in memory, two nodes keep in the database
 * (shared.c): a client's submission budget, the round-robin's turns and a
 * webhook's rate window are each one, whichever node asks. */
static void t_shared_state(void **state)
{
    (void)state;
    struct store_opts po = {.pg_url = "", .pool = 2};
    struct store *nd[2];
    char err[512];
    int applied;
    reset();
    assert_int_equal(store_pg_migrate("", &applied, err, sizeof(err)), 0);
    assert_int_equal(store_open(&nd[0], &po), 0);
    assert_int_equal(store_open(&nd[1], &po), 0);
    /* 3 a minute, taken on both nodes by turns: the fourth is refused */
    for (int i = 0; i < 4; i++) {
        bool ok = false;
        long long retry = 0;
        assert_int_equal(store_rate_take(nd[i % 2], "contact|192.0.2.7", 3, 60, true, &ok, &retry),
                         0);
        assert_int_equal(ok, i < 3);
        if (!ok)
            assert_true(retry >= 1 && retry <= 21); /* a token a 20 s, rounded up */
    }
    bool ok = false;
    long long retry = 0;
    assert_int_equal(store_rate_take(nd[1], "contact|192.0.2.8", 3, 60, true, &ok, &retry), 0);
    assert_true(ok); /* another client's own budget */
    /* Asking takes nothing: two left after any number of asks. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(store_rate_take(nd[i % 2], "contact|192.0.2.8", 3, 60, false, &ok, &retry),
                         0);
        assert_true(ok);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_rate_take(nd[0], "contact|192.0.2.8", 3, 60, true, &ok, &retry), 0);
        assert_int_equal(ok, i < 2);
    }
    assert_int_equal(store_rate_take(nd[1], "contact|192.0.2.8", 3, 60, false, &ok, &retry), 0);
    assert_false(ok);
    PGconn *c = pg();
    assert_int_equal(pg_long(c, "SELECT count(*) FROM rate_buckets"), 2);
    assert_int_equal(pg_long(c, "SELECT count(*) FROM rate_buckets WHERE"
                                " position('192.0.2' in key) > 0 OR length(key) != 64"),
                     0); /* keyed by a hash: no address kept */
    PQfinish(c);
    for (unsigned long i = 0; i < 4; i++) {
        unsigned long n = 99;
        assert_int_equal(store_turn(nd[i % 2], "assign|contact|hot", &n), 0);
        assert_int_equal(n, i);
    }
    /* 3 starts a minute: two on one node, then one of the two asked on the other */
    size_t granted = 0;
    uint64_t wait = 1, at[3] = {0, 0, 0}, before = now_ms();
    assert_int_equal(store_take_sends(nd[0], "webhook|crm", 2, 3, 60000, &granted, &wait, &at[0]),
                     0);
    assert_int_equal(granted, 2);
    assert_int_equal(wait, 0);
    assert_int_equal(store_take_sends(nd[1], "webhook|crm", 2, 3, 60000, &granted, &wait, &at[1]),
                     0);
    assert_int_equal(granted, 1);
    assert_true(wait > 50000 && wait <= 60000);
    assert_int_equal(store_take_sends(nd[0], "webhook|crm", 1, 3, 60000, &granted, &wait, &at[2]),
                     0);
    assert_int_equal(granted, 0);
    /* the grants' times, by the database's clock (the same machine's here),
     * never go back */
    assert_true(at[0] >= before - 1000 && at[0] <= at[1] && at[1] <= at[2]);
    assert_true(at[2] <= now_ms() + 1000);
    store_close(&nd[0]);
    store_close(&nd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_schema_parity),
        cmocka_unit_test(t_migrate_once),
        cmocka_unit_test(t_newer_refused),
        cmocka_unit_test(t_triggers),
        cmocka_unit_test(t_copy),
        cmocka_unit_test(t_capture_across_nodes),
        cmocka_unit_test(t_shared_state),
        cmocka_unit_test(t_counted_as_written),
        cmocka_unit_test(t_outbox_leases),
        cmocka_unit_test(t_outbox_wakes),
        cmocka_unit_test(t_erasure_vacuumed),
        cmocka_unit_test(t_database_restart),
        cmocka_unit_test(t_sent_ahead_fails_its_batch),
        cmocka_unit_test(t_session_settings),
        cmocka_unit_test(t_two_nodes),
        cmocka_unit_test(t_node_killed),
        cmocka_unit_test(t_restart_http),
    };
    return h_run_group_tests_name("pg", tests, NULL, NULL);
}
