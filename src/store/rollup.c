/* rollup.c: the stats' counters (the rollup table) kept exact, and the lead
 * list's filter table (lead_filters) filled for the same leads. How a lead
 * counts is said by the lead_counts view (migrations/sqlite/0010_analytics.sql) and,
 * for the fold, by count_lead(). The rollup counts the leads up to
 * rollup_mark, and triggers move a counted lead between counters in the
 * transaction that changes it. The report adds the leads past the mark as
 * they are (report.c), so it is exact at every moment.
 *
 * Two ways to count new leads, by how many write the database:
 *  - one writer (SQLite): it folds the leads past the mark in bulk, every
 *    ROLLUP_FOLD_LEADS leads or ROLLUP_FOLD_MS, read in the table's order
 *    and added up in process: cheaper than counting each batch;
 *  - nodes sharing it (PostgreSQL): each batch counts its own leads in its
 *    own transaction (rollup_count_in), with upserts that commute, so no
 *    node ever waits for another's count. The mark is then ROLLUP_ALL,
 *    above every id; a database whose mark is still a lead's (made before
 *    this, or copied from SQLite) is folded up to it once, at a node's
 *    start. */
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

/* Adds a row's counts to its group's, which it makes when new. */
#define UPSERT_SET                                                                                 \
    " ON CONFLICT (grain, period, form, utm_source, utm_medium, utm_campaign, currency)"           \
    " DO UPDATE SET leads = rollup.leads + excluded.leads,"                                        \
    " valid = rollup.valid + excluded.valid, qualified = rollup.qualified + excluded.qualified,"   \
    " hot = rollup.hot + excluded.hot, warm = rollup.warm + excluded.warm,"                        \
    " cold = rollup.cold + excluded.cold, contacted = rollup.contacted + excluded.contacted,"      \
    " converted = rollup.converted + excluded.converted,"                                          \
    " rejected = rollup.rejected + excluded.rejected, spam = rollup.spam + excluded.spam,"         \
    " duplicates = rollup.duplicates + excluded.duplicates,"                                       \
    " revenue_minor = rollup.revenue_minor + excluded.revenue_minor"

static const char SQL_UPSERT[] =
    "INSERT INTO rollup VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,"
    " ?16, ?17, ?18, ?19)" UPSERT_SET;

/* What one lead counts for, from a row of count_rows()' query (columns 5 on:
 * flags, grade, qualified, status, currency, value_minor): exactly what the
 * lead_counts view says, which the triggers and the report's newest leads
 * use; the fold reads thousands of leads at once, and the view's
 * expressions cost more than the rest of reading them. Tests check both
 * agree: the report before and after a fold, and kept counters against
 * rebuilt ones. Returns the revenue's currency ("" for none). */
static const char *count_lead(struct sqls *s, long long c[NCOUNTERS])
{
    unsigned flags = (unsigned)sqls_col_int(s, 5);
    const char *grade = sqls_col(s, 6);
    bool qualified = sqls_col_int(s, 7) != 0;
    const char *status = sqls_col(s, 8);
    const char *currency = sqls_col(s, 9);
    bool has_value = !sqls_col_null(s, 10);
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
    c[11] = converted ? sqls_col_int(s, 10) : 0;
    return converted && has_value && currency ? currency : "";
}

/* Adds one group's counts to its three rows of the rollup (the grains of
 * the lead_rollup view). key: day, form, source, medium, campaign and
 * currency, SEP between them; its parts are cut in place (bound until the
 * step). */
static int upsert_group(struct sqls *s, char *key, const long long c[NCOUNTERS])
{
    char *part[6], month[8];
    for (int i = 0; i < 6; i++) {
        char *e = strchr(key, SEP);
        part[i] = key;
        if (e)
            *e = '\0';
        key = e ? e + 1 : key + strlen(key);
    }
    snprintf(month, sizeof(month), "%.7s", part[0]);
    int r = 0;
    for (int grain = 0; grain < 3 && !r; grain++) {
        sqls_reset(s);
        sqls_int(s, 1, grain);
        sqls_text(s, 2, grain == 1 ? month : part[0], false);
        for (int i = 1; i < 6; i++) {
            bool blank = grain == 2 && (i == 3 || i == 4); /* grain 2: no medium, campaign */
            sqls_text(s, 2 + i, blank ? "" : part[i], false);
        }
        for (int i = 0; i < NCOUNTERS; i++)
            sqls_int(s, 8 + i, c[i]);
        r = sqls_step(s) == SQL_DONE ? 0 : LEADD_EDB;
    }
    return r;
}

/* SQLite: the leads of rowids (from, to] read once and added up here by
 * their day and dimensions (SQL's GROUP BY sorted every lead, three times
 * over, and the view's expressions cost more than the rest of reading
 * them), then each group's three rows updated: in process, each is cheap. */
static int count_rows(struct sqlc *c, long long from, long long to)
{
    struct sqls *s = NULL, *up = NULL;
    struct strmap groups = {0};
    long long(*sums)[NCOUNTERS] = NULL;
    size_t cap = 0;
    struct buf key = BUF_INIT(4096);
    int r = sqls_prepare(c,
                         "SELECT " CALENDAR_DAY_SQL(
                             "created_ms") ", form, coalesce(utm_source, ''),"
                                           " coalesce(utm_medium, ''), coalesce(utm_campaign, ''),"
                                           " flags, grade, qualified, status, currency,"
                                           " value_minor FROM leads WHERE rowid > ?1 AND"
                                           " rowid <= ?2",
                         &s);
    r = r ? r : sqls_prepare(c, SQL_UPSERT, &up);
    if (r)
        goto out;
    sqls_int(s, 1, from);
    sqls_int(s, 2, to);
    while (!r && (r = sqls_step(s)) == SQL_ROW) { /* ends at SQL_DONE, 0 */
        long long cn[NCOUNTERS];
        const char *cur = count_lead(s, cn);
        buf_reset(&key);
        for (int i = 0; i < 5; i++) {
            const char *v = sqls_col(s, i);
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
            r = LEADD_ENOMEM;
            break;
        }
        if (added)
            memset(sums[g], 0, sizeof(sums[g]));
        for (int i = 0; i < NCOUNTERS; i++)
            sums[g][i] += cn[i];
        r = 0;
    }
    for (size_t g = 0; !r && g < groups.n; g++) {
        buf_reset(&key);
        buf_adds(&key, strmap_key(&groups, g));
        r = buf_error(&key) ? LEADD_ENOMEM : upsert_group(up, key.ptr, sums[g]);
    }
out:
    sqls_finalize(&s);
    sqls_finalize(&up);
    strmap_release(&groups);
    free(sums);
    buf_release(&key);
    return r;
}

/* What the database counts itself, where nodes share it (by the
 * lead_rollup view the triggers use), each completed by a WHERE on leads:
 * the list's filters of some leads, and their counters' rows, grouped in
 * one order on every node, so two batches counting the same groups lock
 * their rows alike and never deadlock. */
#define FILTERS_SELECT                                                                             \
    "SELECT rowid, CASE grade WHEN 'hot' THEN 0 WHEN 'warm' THEN 4 ELSE 8 END + CASE WHEN"         \
    " qualified != 0 THEN 2 ELSE 0 END + CASE WHEN (flags & 51) != 0 THEN 1 ELSE 0 END, score"     \
    " FROM leads"
#define ROLLUP_SELECT                                                                              \
    "SELECT grain, period, form, utm_source, utm_medium, utm_campaign, currency, sum(leads),"      \
    " sum(valid), sum(qualified), sum(hot), sum(warm), sum(cold), sum(contacted),"                 \
    " sum(converted), sum(rejected), sum(spam), sum(duplicates), sum(revenue_minor)"               \
    " FROM lead_rollup"
#define GROUPED " GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7"

/* A batch's own leads (?1: "{ID,...}"), in one statement. */
static const char SQL_COUNT_IN[] =
    "WITH f AS (INSERT INTO lead_filters " FILTERS_SELECT " WHERE id = ANY(?1::text[]))"
    " INSERT INTO rollup " ROLLUP_SELECT " WHERE id = ANY(?1::text[])" GROUPED UPSERT_SET;

/* Counts the leads past the mark into the rollup and lead_filters and moves
 * the mark; inside the caller's transaction, either way of counting (see
 * the top). One writer: the leads stored since, as a range of rowids (which
 * grow as ids do: read in the table's own order, not looked up id by id),
 * counted in process (count_rows), the mark the last of them. Nodes: the
 * database counts the leads past the mark up to upto, the new mark (every
 * lead below it committed: the caller holds ROLLUP_LOCK alone). */
static int fold(struct sqlc *c, const char *upto)
{
    struct sqls *s = NULL;
    bool alone = sql_alone(c);
    long long from = 0, to = 0;
    char was[ULID_LEN + 1] = "";
    int r = sqls_prepare(c,
                         "SELECT coalesce((SELECT rowid FROM leads WHERE id = upto), 0),"
                         " coalesce((SELECT max(rowid) FROM leads), 0), upto FROM rollup_mark",
                         &s);
    if (!r && (r = sqls_step(s)) == SQL_ROW) {
        from = sqls_col_int(s, 0);
        to = sqls_col_int(s, 1);
        snprintf(was, sizeof(was), "%s", sqls_col(s, 2) ? sqls_col(s, 2) : "");
        r = 0;
    } else if (!r) {
        r = LEADD_EDB;
    }
    sqls_finalize(&s);
    if (!r && alone)
        r = count_rows(c, from, to);
    if (!r && !alone)
        r = sql_exec(c, NULL,
                     "INSERT INTO rollup " ROLLUP_SELECT
                     " WHERE id > ?1 AND id <= ?2" GROUPED UPSERT_SET,
                     "tt", was, upto);
    /* the list's filters of the same leads (appended in id order) */
    if (!r && alone)
        r = sql_exec(c, NULL,
                     "INSERT INTO lead_filters " FILTERS_SELECT " WHERE rowid > ?1 AND rowid <= ?2",
                     "ii", from, to);
    if (!r && !alone)
        r = sql_exec(c, NULL,
                     "INSERT INTO lead_filters " FILTERS_SELECT " WHERE id > ?1 AND id <= ?2", "tt",
                     was, upto);
    if (!r && alone)
        r = sql_exec(c, NULL,
                     "UPDATE rollup_mark SET upto = coalesce((SELECT id FROM leads"
                     " WHERE rowid = ?1), '')",
                     "i", to);
    if (!r && !alone)
        r = sql_exec(c, NULL, "UPDATE rollup_mark SET upto = ?1", "t", upto);
    return r;
}

/* A write transaction of its own; where nodes share the database, one that
 * takes ROLLUP_LOCK alone, waiting for the transactions that write leads to
 * end and keeping new ones waiting until it commits. Only a start that
 * finds an old mark and a rebuild do: counting as written needs no lock. */
static int begin_fold(struct sqlc *c)
{
    int rc = sql_exec(c, NULL, sql_begin_write_sql(c), "");
    if (rc || sql_alone(c))
        return rc;
    return sql_exec(c, NULL, "SELECT pg_advisory_xact_lock(" ROLLUP_LOCK ")", "");
}

/* Commits, or rolls back and says what failed (what). */
static int end_fold(struct sqlc *c, int r, const char *what)
{
    if (!r && !(r = sql_exec(c, NULL, "COMMIT", "")))
        return 0;
    log_error("%s failed: the counters are as they were", what);
    if (sql_exec(c, NULL, "ROLLBACK", ""))
        log_error("%s: rollback failed too", what);
    return r;
}

int rollup_fold_on(struct sqlc *c)
{
    int r = begin_fold(c);
    return end_fold(c, r ? r : fold(c, ROLLUP_ALL), "counting new leads for the stats");
}

int rollup_count_as_written(struct sqlc *c)
{
    struct sqls *s = NULL;
    bool done = false;
    if (sql_alone(c))
        return 0;
    int r = sqls_prepare(c, "SELECT upto FROM rollup_mark", &s);
    if (!r && sqls_step(s) == SQL_ROW)
        done = sqls_col(s, 0) && !strcmp(sqls_col(s, 0), ROLLUP_ALL);
    else
        r = r ? r : LEADD_EDB;
    sqls_finalize(&s);
    return r || done ? r : rollup_fold_on(c);
}

int rollup_writing(struct sqlc *c, char upto[ULID_LEN + 1])
{
    struct sqls *s = NULL;
    upto[0] = '\0';
    if (sql_alone(c))
        return 0;
    int r = sqls_prepare(
        c, "SELECT pg_advisory_xact_lock_shared(" ROLLUP_LOCK ")::text, upto FROM rollup_mark", &s);
    if (!r && sqls_step(s) == SQL_ROW)
        snprintf(upto, ULID_LEN + 1, "%s", sqls_col(s, 1) ? sqls_col(s, 1) : "");
    else
        r = LEADD_EDB;
    sqls_finalize(&s);
    return r;
}

int rollup_count_in(struct sqlc *c, struct sqls **kept, const char *ids)
{
    struct sqls *s = kept && *kept ? *kept : NULL;
    int r = s ? 0 : sqls_prepare(c, SQL_COUNT_IN, &s);
    if (r)
        return r;
    if (kept && !*kept) {
        sqls_keep(s);
        *kept = s;
    }
    sqls_reset(s);
    sqls_text(s, 1, ids, false);
    r = sqls_step(s) == SQL_DONE ? 0 : LEADD_EDB;
    sqls_reset(s);
    if (!kept)
        sqls_finalize(&s);
    return r;
}

/* Empties the counters and counts every lead again, in one transaction:
 * the same fold as the writer's, from no lead counted. */
static int rebuild(struct sqlc *c, const char *tz, long long *groups)
{
    struct sqls *s = NULL;
    int r = begin_fold(c);
    r = r ? r : sql_exec(c, NULL, "DELETE FROM rollup", "");
    r = r ? r : sql_exec(c, NULL, "DELETE FROM lead_filters", "");
    r = r ? r : sql_exec(c, NULL, "UPDATE rollup_mark SET upto = ''", "");
    r = r ? r : fold(c, ROLLUP_ALL);
    r = r ? r
          : sql_exec(c, NULL,
                     "INSERT INTO store_meta VALUES ('timezone', ?1) ON CONFLICT (key) DO UPDATE"
                     " SET value = excluded.value",
                     "t", tz);
    if (!r && groups && !(r = sqls_prepare(c, "SELECT count(*) FROM rollup", &s)))
        r = sqls_step(s) == SQL_ROW ? (*groups = sqls_col_int(s, 0), 0) : LEADD_EDB;
    sqls_finalize(&s);
    return end_fold(c, r, "counting leads for the stats");
}

int rollup_sync(struct sqlc *c, const char *tz)
{
    struct sqls *s = NULL;
    char was[128] = "";
    int rc = sqls_prepare(c, "SELECT value FROM store_meta WHERE key = 'timezone'", &s);
    if (!rc && sqls_step(s) == SQL_ROW)
        snprintf(was, sizeof(was), "%s", sqls_col(s, 0) ? sqls_col(s, 0) : "");
    sqls_finalize(&s);
    if (!rc && strcmp(was, tz)) {
        /* The days the counters hold are another zone's (or none yet). */
        long long groups = 0;
        if (*was)
            log_info("timezone changed from %s to %s: counting the stats' days again", was, tz);
        rc = rebuild(c, tz, &groups);
        if (!rc && *was)
            log_info("stats counted again in %s: %lld groups", tz, groups);
    }
    return rc;
}

int store_rollup_rebuild(struct store *st, long long *groups)
{
    /* on a connection of its own, beside serving nodes (the fold's lock
     * keeps their writes waiting meanwhile) */
    struct sqlc *c = NULL;
    int rc = db_connect(st, false, st->durable_full, &c);
    rc = rc ? rc : rebuild(c, st->timezone, groups);
    sqlc_close(&c);
    return rc;
}
