/* rollup.c: the stats' counters (the rollup table) kept exact. Every lead
 * is counted by one trigger on rollup_delta (migrations/0010_analytics.sql):
 * changes to stored leads reach it through the leads table's triggers, and
 * new leads through the writer, which adds up a batch's leads by what they
 * count for and hands the trigger one row per group: a busy batch of a
 * thousand leads is a few dozen counter updates, not a thousand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/calendar.h"
#include "leadd/lead.h"
#include "leadd/log.h"

#define ACC_SLOTS (2 * STORE_MAX_BATCH) /* a batch has at most STORE_MAX_BATCH groups */

/* A group of a batch's new leads that count alike. Strings are borrowed from
 * the batch's jobs, which outlive the flush (done() runs after the commit). */
struct acc_entry {
    bool used;
    uint64_t hash;
    char day[DAY_LEN + 1];
    const char *form, *source, *medium, *campaign, *grade, *status, *currency;
    unsigned flags;
    bool qualified;
    long long n, value_minor;
};
struct rollup_acc {
    struct acc_entry v[ACC_SLOTS];
    size_t n;
    sqlite3_stmt *ins; /* INSERT INTO rollup_delta, prepared once */
};

static uint64_t mix(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* a separator: "ab","c" is not "a","bc" */
}

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

int rollup_acc_open(struct rollup_acc **out, sqlite3 *db)
{
    struct rollup_acc *a = calloc(1, sizeof(*a));
    *out = NULL;
    if (!a)
        return LEADD_ENOMEM;
    if (sqlite3_prepare_v3(db,
                           "INSERT INTO rollup_delta VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                           " ?10, ?11, ?12)",
                           -1, SQLITE_PREPARE_PERSISTENT, &a->ins, NULL) != SQLITE_OK) {
        log_error("unable to prepare statement: %s", sqlite3_errmsg(db));
        free(a);
        return LEADD_EDB;
    }
    *out = a;
    return 0;
}

void rollup_acc_close(struct rollup_acc **ap)
{
    if (*ap) {
        sqlite3_finalize((*ap)->ins);
        free(*ap);
        *ap = NULL;
    }
}

void rollup_acc_add(struct rollup_acc *a, const struct rollup_lead *l)
{
    struct acc_entry k = {.used = true,
                          .form = l->form,
                          .source = l->source,
                          .medium = l->medium,
                          .campaign = l->campaign,
                          .grade = l->grade,
                          .status = l->status,
                          .currency = l->currency,
                          .flags = l->flags & (LEAD_FLAGS_SPAM | LEAD_FLAG_DUPLICATE),
                          .qualified = l->qualified,
                          .n = 1,
                          .value_minor = l->currency ? l->value_minor : 0};
    calendar_day((int64_t)l->created_ms, k.day);
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {k.day,      k.form,  k.source, k.medium,
                           k.campaign, k.grade, k.status, k.currency};
    for (size_t i = 0; i < LEADD_ARRAY_LEN(parts); i++)
        h = mix(h, parts[i]);
    k.hash = h ^ ((uint64_t)k.flags << 1 | k.qualified) * 0x9E3779B97F4A7C15ULL;
    for (size_t i = k.hash % ACC_SLOTS;; i = (i + 1) % ACC_SLOTS) {
        struct acc_entry *e = &a->v[i];
        if (!e->used) {
            *e = k;
            a->n++;
            return;
        }
        if (e->hash == k.hash && !strcmp(e->day, k.day) && same(e->form, k.form) &&
            same(e->source, k.source) && same(e->medium, k.medium) &&
            same(e->campaign, k.campaign) && same(e->grade, k.grade) && same(e->status, k.status) &&
            same(e->currency, k.currency) && e->flags == k.flags && e->qualified == k.qualified) {
            e->n++;
            e->value_minor += k.value_minor;
            return;
        }
    }
}

static void bind(sqlite3_stmt *s, int i, const char *v)
{
    if (v) /* borrowed from the batch's jobs, alive until after the step */
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

int rollup_acc_flush(struct rollup_acc *a)
{
    int r = SQLITE_OK;
    for (size_t i = 0; a->n && r == SQLITE_OK && i < ACC_SLOTS; i++) {
        struct acc_entry *e = &a->v[i];
        if (!e->used)
            continue;
        sqlite3_stmt *s = a->ins;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, e->n);
        sqlite3_bind_text(s, 2, e->day, DAY_LEN, SQLITE_STATIC);
        bind(s, 3, e->form);
        bind(s, 4, e->source);
        bind(s, 5, e->medium);
        bind(s, 6, e->campaign);
        sqlite3_bind_int(s, 7, (int)e->flags);
        bind(s, 8, e->grade);
        sqlite3_bind_int(s, 9, e->qualified);
        bind(s, 10, e->status);
        bind(s, 11, e->currency);
        if (e->currency)
            sqlite3_bind_int64(s, 12, e->value_minor);
        else
            sqlite3_bind_null(s, 12);
        r = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(sqlite3_db_handle(s));
    }
    rollup_acc_clear(a);
    return r;
}

void rollup_acc_clear(struct rollup_acc *a)
{
    if (a->n)
        memset(a->v, 0, sizeof(a->v));
    a->n = 0;
}

/* Empties the counters and counts every lead again, through the same
 * trigger as incremental changes: one rollup_delta row per group of leads
 * that count alike. Inside the caller's transaction. */
static int rebuild(sqlite3 *db, const char *tz, long long *groups)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_exec(db,
                         "DELETE FROM rollup;"
                         "INSERT INTO rollup_delta SELECT count(*), " CALENDAR_DAY_SQL(
                             "created_ms") " AS d, form, utm_source,"
                                           " utm_medium, utm_campaign, flags & 23 AS f, grade, "
                                           "qualified, status, currency,"
                                           " sum(value_minor) FROM leads"
                                           " GROUP BY d, form, utm_source, utm_medium, "
                                           "utm_campaign, f, grade, qualified, status,"
                                           " currency",
                         NULL, NULL, NULL);
    if (r == SQLITE_OK)
        r = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO store_meta VALUES ('timezone', ?1)", -1,
                               &s, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_text(s, 1, tz, -1, SQLITE_STATIC);
        r = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(s);
    if (r == SQLITE_OK && groups) {
        r = sqlite3_prepare_v2(db, "SELECT count(*) FROM rollup", -1, &s, NULL);
        if (r == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            *groups = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    if (r != SQLITE_OK)
        log_error("counting leads for the stats: %s", sqlite3_errmsg(db));
    return r;
}

/* Runs rebuild() in its own transaction. */
static int rebuild_txn(sqlite3 *db, const char *tz, long long *groups)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return LEADD_EDB;
    int r = rebuild(db, tz, groups);
    if (r == SQLITE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return db_err(r);
}

int rollup_sync(sqlite3 *db, const char *tz)
{
    sqlite3_stmt *s = NULL;
    char was[128] = "";
    int rc = 0;
    if (sqlite3_prepare_v2(db, "SELECT value FROM store_meta WHERE key = 'timezone'", -1, &s,
                           NULL) != SQLITE_OK)
        return LEADD_EDB;
    if (sqlite3_step(s) == SQLITE_ROW)
        snprintf(was, sizeof(was), "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (strcmp(was, tz)) {
        /* The days the counters hold are another zone's (or none yet). */
        long long groups = 0;
        if (*was)
            log_info("timezone changed from %s to %s: counting the stats' days again", was, tz);
        rc = rebuild_txn(db, tz, &groups);
        if (!rc && *was)
            log_info("stats counted again in %s: %lld groups", tz, groups);
    }
    return rc;
}

int store_rollup_rebuild(struct store *st, long long *groups)
{
    return rebuild_txn(st->wdb, st->timezone, groups);
}
