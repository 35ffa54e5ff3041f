/* rollup.c: the stats' counters (the rollup table) kept exact, and the lead
 * list's filter table (lead_filters) filled for the same leads. How a lead
 * counts is said by the lead_counts view (migrations/sqlite/0010_analytics.sql) and,
 * for the fold, by count_lead(). The rollup counts the leads up to
 * rollup_mark; the writer folds newer leads in every ROLLUP_FOLD_LEADS leads
 * or ROLLUP_FOLD_MS, and triggers move a counted lead between counters in
 * the transaction that changes it. The report adds the leads past the mark
 * as they are (report.c), so it is exact at every moment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/calendar.h"
#include "leadd/lead.h"
#include "leadd/log.h"
#include "leadd/strmap.h"

/* The view, the triggers and the fold's filter buckets of migrations/sqlite/0011
 * write these masks as numbers. */
_Static_assert(LEAD_FLAGS_SPAM == 51 && LEAD_FLAG_DUPLICATE == 4, "migrations/sqlite/0011's masks");

#define NCOUNTERS 12 /* leads ... duplicates, revenue_minor: as lead_counts orders them */
#define SEP '\x1f'   /* between the parts of a group's key */

static const char SQL_UPSERT[] =
    "INSERT INTO rollup VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
    " ?16, ?17, ?18, ?19) ON CONFLICT DO UPDATE SET leads = leads + excluded.leads,"
    " valid = valid + excluded.valid, qualified = qualified + excluded.qualified,"
    " hot = hot + excluded.hot, warm = warm + excluded.warm, cold = cold + excluded.cold,"
    " contacted = contacted + excluded.contacted, converted = converted + excluded.converted,"
    " rejected = rejected + excluded.rejected, spam = spam + excluded.spam,"
    " duplicates = duplicates + excluded.duplicates,"
    " revenue_minor = revenue_minor + excluded.revenue_minor";

/* What one lead counts for, from a row of fold()'s query (columns 5 on:
 * flags, grade, qualified, status, currency, value_minor): exactly what the
 * lead_counts view says, which the triggers and the report's newest leads
 * use; the fold reads thousands of leads at once, and the view's
 * expressions cost more than the rest of reading them. Tests check both
 * agree: the report before and after a fold, and kept counters against
 * rebuilt ones. Returns the revenue's currency ("" for none). */
static const char *count_lead(sqlite3_stmt *s, long long c[NCOUNTERS])
{
    unsigned flags = (unsigned)sqlite3_column_int64(s, 5);
    const char *grade = (const char *)sqlite3_column_text(s, 6);
    bool qualified = sqlite3_column_int(s, 7) != 0;
    const char *status = (const char *)sqlite3_column_text(s, 8);
    const char *currency = (const char *)sqlite3_column_text(s, 9);
    bool has_value = sqlite3_column_type(s, 10) != SQLITE_NULL;
    bool valid = (flags & (LEAD_FLAGS_SPAM | LEAD_FLAG_DUPLICATE)) == 0;
    bool converted = valid && status && !strcmp(status, "converted");
    grade = grade ? grade : "";
    status = status ? status : "";
    c[0] = 1;
    c[1] = valid;
    c[2] = valid && qualified;
    c[3] = valid && !strcmp(grade, "hot");
    c[4] = valid && !strcmp(grade, "warm");
    c[5] = valid && !strcmp(grade, "cold");
    c[6] = valid && !strcmp(status, "contacted");
    c[7] = converted;
    c[8] = valid && !strcmp(status, "rejected");
    c[9] = (flags & LEAD_FLAGS_SPAM) != 0;
    c[10] = !(flags & LEAD_FLAGS_SPAM) && (flags & LEAD_FLAG_DUPLICATE);
    c[11] = converted ? sqlite3_column_int64(s, 10) : 0;
    return converted && has_value && currency ? currency : "";
}

/* Adds one group's counts to its three rows of the rollup (the grains of
 * the lead_rollup view). key: day, form, source, medium, campaign and
 * currency, SEP between them. A SQLite code. */
static int upsert_group(sqlite3_stmt *s, const char *key, const long long c[NCOUNTERS])
{
    const char *part[6];
    size_t len[6];
    const char *p = key;
    for (int i = 0; i < 6; i++) {
        const char *e = strchr(p, SEP);
        part[i] = p;
        len[i] = e ? (size_t)(e - p) : strlen(p);
        p = e ? e + 1 : p + len[i];
    }
    int r = SQLITE_OK;
    for (int grain = 0; grain < 3 && r == SQLITE_OK; grain++) {
        sqlite3_reset(s);
        sqlite3_bind_int(s, 1, grain);
        /* key is the caller's until after the step: SQLITE_STATIC holds */
        sqlite3_bind_text(s, 2, part[0], grain == 1 ? 7 : (int)len[0], SQLITE_STATIC);
        for (int i = 1; i < 6; i++) {
            bool blank = grain == 2 && (i == 3 || i == 4); /* grain 2: no medium, campaign */
            sqlite3_bind_text(s, 2 + i, blank ? "" : part[i], blank ? 0 : (int)len[i],
                              SQLITE_STATIC);
        }
        for (int i = 0; i < NCOUNTERS; i++)
            sqlite3_bind_int64(s, 8 + i, c[i]);
        r = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(sqlite3_db_handle(s));
    }
    return r;
}

/* Counts the leads past the mark into the rollup and lead_filters and moves
 * the mark to the newest of them; inside the caller's transaction. The leads
 * are read once, in rowid order, and added up here by their day and
 * dimensions (SQL's GROUP BY sorted every lead, three times over), then each
 * group's three rows are updated. A SQLite code. */
static int fold(sqlite3 *db)
{
    sqlite3_stmt *s = NULL, *up = NULL;
    struct strmap groups = {0};
    long long(*sums)[NCOUNTERS] = NULL;
    size_t cap = 0;
    struct buf key = BUF_INIT(4096);
    /* The leads past the mark, as a range of rowids (which grow as ids do):
     * read in the table's own order, not looked up id by id. */
    long long from = 0, to = 0;
    int r = sqlite3_prepare_v2(db,
                               "SELECT coalesce((SELECT rowid FROM leads WHERE id = upto), 0),"
                               " coalesce((SELECT max(rowid) FROM leads), 0) FROM rollup_mark",
                               -1, &s, NULL);
    if (r == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        from = sqlite3_column_int64(s, 0);
        to = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (r == SQLITE_OK)
        r = sqlite3_prepare_v2(
            db,
            "SELECT " CALENDAR_DAY_SQL(
                "created_ms") ", form,"
                              " coalesce(utm_source, ''), coalesce(utm_medium, ''),"
                              " coalesce(utm_campaign, ''), flags, grade, qualified, status,"
                              " currency, value_minor FROM leads WHERE rowid > ?1 AND rowid <= ?2",
            -1, &s, NULL);
    if (r == SQLITE_OK)
        r = sqlite3_prepare_v2(db, SQL_UPSERT, -1, &up, NULL);
    if (r != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    while (r == SQLITE_OK && (r = sqlite3_step(s)) == SQLITE_ROW) {
        long long c[NCOUNTERS];
        const char *cur = count_lead(s, c);
        buf_reset(&key);
        for (int i = 0; i < 5; i++) {
            const char *v = (const char *)sqlite3_column_text(s, i);
            buf_adds(&key, v ? v : "");
            buf_addc(&key, SEP);
        }
        buf_adds(&key, cur);
        bool added;
        long g = buf_error(&key) ? LEADD_ENOMEM : strmap_index(&groups, key.ptr, key.len, &added);
        if (g >= 0 && added && (size_t)g == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            long long(*v)[NCOUNTERS] = realloc(sums, ncap * sizeof(*v));
            if (v) {
                sums = v;
                cap = ncap;
            } else {
                g = LEADD_ENOMEM;
            }
        }
        if (g < 0) {
            r = SQLITE_NOMEM;
            break;
        }
        if (added)
            memset(sums[g], 0, sizeof(sums[g]));
        for (int i = 0; i < NCOUNTERS; i++)
            sums[g][i] += c[i];
        r = SQLITE_OK;
    }
    if (r == SQLITE_DONE)
        r = SQLITE_OK;
    for (size_t g = 0; r == SQLITE_OK && g < groups.n; g++)
        r = upsert_group(up, strmap_key(&groups, g), sums[g]);
    sqlite3_finalize(s);
    s = NULL;
    /* the list's filters of the same leads (appended in id order) */
    if (r == SQLITE_OK)
        r = sqlite3_prepare_v2(db,
                               "INSERT INTO lead_filters SELECT rowid, CASE grade WHEN 'hot'"
                               " THEN 0 WHEN 'warm' THEN 4 ELSE 8 END + 2 * (qualified != 0) +"
                               " ((flags & 51) != 0), score FROM leads WHERE rowid > ?1 AND"
                               " rowid <= ?2",
                               -1, &s, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, from);
        sqlite3_bind_int64(s, 2, to);
        r = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (r == SQLITE_OK)
        r = sqlite3_prepare_v2(db,
                               "UPDATE rollup_mark SET upto = coalesce((SELECT id FROM leads"
                               " WHERE rowid = ?1), '')",
                               -1, &s, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, to);
        r = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
out:
    sqlite3_finalize(s);
    sqlite3_finalize(up);
    strmap_release(&groups);
    free(sums);
    buf_release(&key);
    return r;
}

int rollup_fold(struct store *st)
{
    sqlite3 *db = st->wdb;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return LEADD_EDB;
    int r = fold(db);
    if (r == SQLITE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        st->unfolded = 0;
        return 0;
    }
    log_error("counting new leads for the stats: %s", sqlite3_errmsg(db));
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return db_err(r);
}

/* Empties the counters and counts every lead again, in one transaction:
 * the same fold as the writer's, from no lead counted. */
static int rebuild(sqlite3 *db, const char *tz, long long *groups)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return LEADD_EDB;
    int r = sqlite3_exec(
        db, "DELETE FROM rollup; DELETE FROM lead_filters; UPDATE rollup_mark SET upto = ''", NULL,
        NULL, NULL);
    if (r == SQLITE_OK)
        r = fold(db);
    if (r == SQLITE_OK)
        r = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO store_meta VALUES ('timezone', ?1)", -1,
                               &s, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_text(s, 1, tz, -1, SQLITE_STATIC);
        r = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (r == SQLITE_OK && groups) {
        r = sqlite3_prepare_v2(db, "SELECT count(*) FROM rollup", -1, &s, NULL);
        if (r == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            *groups = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    if (r == SQLITE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    log_error("counting leads for the stats: %s", sqlite3_errmsg(db));
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
        rc = rebuild(db, tz, &groups);
        if (!rc && *was)
            log_info("stats counted again in %s: %lld groups", tz, groups);
    }
    return rc;
}

int store_rollup_rebuild(struct store *st, long long *groups)
{
    if (st->pg)
        return LEADD_EINVAL; /* SQLite's alone: PostgreSQL's counters are not folded yet */
    return rebuild(st->wdb, st->timezone, groups);
}
