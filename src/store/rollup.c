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
 *  - nodes sharing it (PostgreSQL): each batch tallies its own leads as it
 *    writes them, from what it writes (no read), and adds the tally to the
 *    counters in its own transaction (tally_write), with upserts that
 *    commute, so no node ever waits for another's count. The mark is then ROLLUP_ALL,
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

#define ROWS_AT_ONCE 100     /* rollup rows a statement writes (19 values each) */
#define FILTERS_AT_ONCE 500  /* lead_filters rows a statement writes (3 values each) */
#define TALLY_WRITE_AT 10000 /* leads a fold tallies before writing them */

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

/* The counters a lead adds to its three rollup rows, from what it was
 * stored with: exactly what the lead_counts view says, which the triggers
 * and the report's newest leads use. Tests check both agree: the report
 * before and after a fold, and kept counters against rebuilt ones. Returns
 * the revenue's currency ("" for none). */
static const char *count_lead(const struct counted *l, long long c[TALLY_COUNTERS])
{
    const char *grade = l->grade ? l->grade : "", *status = l->status ? l->status : "";
    bool valid = (l->flags & (LEAD_FLAGS_SPAM | LEAD_FLAG_DUPLICATE)) == 0;
    bool converted = valid && !strcmp(status, "converted");
    c[0] = 1;
    c[1] = valid;
    c[2] = valid && l->qualified;
    c[3] = valid && !strcmp(grade, "hot");
    c[4] = valid && !strcmp(grade, "warm");
    c[5] = valid && !strcmp(grade, "cold");
    c[6] = valid && !strcmp(status, "contacted");
    c[7] = converted;
    c[8] = valid && !strcmp(status, "rejected");
    c[9] = (l->flags & LEAD_FLAGS_SPAM) != 0;
    c[10] = !(l->flags & LEAD_FLAGS_SPAM) && (l->flags & LEAD_FLAG_DUPLICATE);
    c[11] = converted && l->has_value ? l->value_minor : 0;
    return converted && l->has_value && l->currency ? l->currency : "";
}

void tally_reset(struct tally *t)
{
    strmap_release(&t->rows);
    t->nfilters = 0;
}

void tally_release(struct tally *t)
{
    strmap_release(&t->rows);
    free(t->sums);
    free(t->filters);
    memset(t, 0, sizeof(*t));
}

/* Grows *v (of *cap elements of size each) to hold n + 1. */
static int room(void *v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 256;
    void *p = realloc(*(void **)v, ncap * size);
    if (!p)
        return LEADD_ENOMEM;
    *(void **)v = p;
    *cap = ncap;
    return 0;
}

int tally_add(struct tally *t, const struct counted *l)
{
    long long c[TALLY_COUNTERS];
    const char *cur = count_lead(l, c);
    int r = room(&t->filters, &t->capfilters, t->nfilters, sizeof(*t->filters));
    if (r)
        return r;
    /* bucket = grade * 4 + qualified * 2 + spam, as migrations/sqlite/0010 writes it */
    const char *grade = l->grade ? l->grade : "";
    struct tally_filter *f = &t->filters[t->nfilters++];
    snprintf(f->id, sizeof(f->id), "%s", l->id);
    f->bucket = (!strcmp(grade, "hot")    ? 0
                 : !strcmp(grade, "warm") ? 4
                                          : 8) +
                2 * l->qualified + ((l->flags & LEAD_FLAGS_SPAM) != 0);
    f->score = l->score;
    /* its three rows: the day's, the month's, and the day's by source alone
     * (the grains of the lead_rollup view); attribution values are up to
     * LEAD_MAX_ATTR_LEN characters each */
    struct buf key = BUF_INIT(1 << 16);
    for (int grain = 0; grain < 3 && !r; grain++) {
        bool whole = grain != 2;
        const char *part[7] = {grain == 0   ? "0"
                               : grain == 1 ? "1"
                                            : "2",
                               l->day,
                               l->form,
                               l->source,
                               whole ? l->medium : NULL,
                               whole ? l->campaign : NULL,
                               cur};
        /* each part after its length: a value may hold any character */
        buf_reset(&key);
        for (int k = 0; k < 7; k++) {
            size_t n = part[k] ? strlen(part[k]) : 0;
            if (k == 1 && grain == 1 && n > 7)
                n = 7; /* the month of the day */
            buf_addf(&key, "%zu:", n);
            buf_add(&key, part[k] ? part[k] : "", n);
        }
        bool added;
        long i = buf_error(&key) ? LEADD_ENOMEM : strmap_index(&t->rows, key.ptr, key.len, &added);
        if (i < 0 || (added && room(&t->sums, &t->cap, (size_t)i, sizeof(*t->sums)))) {
            r = LEADD_ENOMEM;
            break;
        }
        if (added)
            memset(t->sums[i], 0, sizeof(t->sums[i]));
        for (int k = 0; k < TALLY_COUNTERS; k++)
            t->sums[i][k] += c[k];
    }
    buf_release(&key);
    return r;
}

static int by_key(const void *a, const void *b, void *map)
{
    return strcmp(strmap_key(map, *(const size_t *)a), strmap_key(map, *(const size_t *)b));
}

/* A rollup row's 19 values. */
#define ROLLUP_ROW "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
/* lead_filters' rows, each (id, bucket, score), the rowid found by the id:
 * the writer sends a new lead's insert ahead without waiting for its rowid
 * (sqls_send). */
#define FILTERS_HEAD "INSERT INTO lead_filters SELECT l.rowid, v.column2, v.column3 FROM (VALUES "
#define FILTERS_ROW "(?, CAST(? AS bigint), CAST(? AS bigint))"
#define FILTERS_TAIL ") AS v JOIN leads AS l ON l.id = v.column1"

int tally_write(struct sqlc *c, struct tally *t)
{
    struct buf sql = BUF_INIT(1 << 16);
    struct sqls *s = NULL;
    size_t n = t->rows.n, *order = n ? malloc(n * sizeof(*order)) : NULL;
    int r = n && !order ? LEADD_ENOMEM : 0;
    /* rows in key order, the same on every node: two writers adding to the
     * same rows lock them alike and never deadlock */
    for (size_t i = 0; i < n && order; i++)
        order[i] = i;
    if (order)
        qsort_r(order, n, sizeof(*order), by_key, &t->rows);
    for (size_t at = 0; !r && at < n; at += ROWS_AT_ONCE) {
        size_t m = n - at < ROWS_AT_ONCE ? n - at : ROWS_AT_ONCE;
        r = sql_rows(&sql, "INSERT INTO rollup VALUES ", m, ROLLUP_ROW, UPSERT_SET);
        r = r ? r : sqls_prepare(c, buf_str(&sql), &s);
        for (size_t i = 0; !r && i < m; i++) {
            size_t g = order[at + i];
            char *key = strdup(strmap_key(&t->rows, g)), *part[7], *p = key;
            size_t len[7];
            int v = (int)i * 19;
            if (!key) {
                r = LEADD_ENOMEM;
                break;
            }
            for (int k = 0; k < 7; k++) { /* "N:" and N bytes, each (tally_add) */
                len[k] = strtoull(p, &p, 10);
                part[k] = ++p;
                p += len[k];
            }
            for (int k = 0; k < 7; k++) /* the lengths all read: each part ended */
                part[k][len[k]] = '\0';
            sqls_int(s, v + 1, part[0][0] - '0'); /* the grain: 0, 1 or 2 */
            for (int k = 1; k < 7; k++)
                sqls_text(s, v + 1 + k, part[k], true);
            for (int k = 0; k < TALLY_COUNTERS; k++)
                sqls_int(s, v + 8 + k, t->sums[g][k]);
            free(key); /* its parts were copied */
        }
        r = r ? r : sqls_step(s) == SQL_DONE ? 0 : LEADD_EDB;
        sqls_finalize(&s);
    }
    /* the list's filters of the same leads */
    for (size_t at = 0; !r && at < t->nfilters; at += FILTERS_AT_ONCE) {
        size_t m = t->nfilters - at < FILTERS_AT_ONCE ? t->nfilters - at : FILTERS_AT_ONCE;
        r = sql_rows(&sql, FILTERS_HEAD, m, FILTERS_ROW, FILTERS_TAIL);
        r = r ? r : sqls_prepare(c, buf_str(&sql), &s);
        for (size_t i = 0; !r && i < m; i++) {
            const struct tally_filter *f = &t->filters[at + i];
            sqls_text(s, (int)i * 3 + 1, f->id, false);
            sqls_int(s, (int)i * 3 + 2, f->bucket);
            sqls_int(s, (int)i * 3 + 3, f->score);
        }
        r = r ? r : sqls_step(s) == SQL_DONE ? 0 : LEADD_EDB;
        sqls_finalize(&s);
    }
    free(order);
    buf_release(&sql);
    tally_reset(t);
    return r;
}

/* The one writer's fold: the leads of rowids (from, to] read once, in the
 * table's order, and tallied here (SQL's GROUP BY sorted every lead, three
 * times over, and the view's expressions cost more than the rest of
 * reading them). */
static int count_rows(struct sqlc *c, long long from, long long to)
{
    struct sqls *s = NULL;
    struct tally t = {0};
    int r = sqls_prepare(c,
                         "SELECT " CALENDAR_DAY_SQL(
                             "created_ms") ", form, utm_source, utm_medium, utm_campaign, flags,"
                                           " grade, qualified, status, currency, value_minor,"
                                           " id, score FROM leads WHERE rowid > ?1 AND"
                                           " rowid <= ?2",
                         &s);
    if (!r) {
        sqls_int(s, 1, from);
        sqls_int(s, 2, to);
    }
    while (!r && (r = sqls_step(s)) == SQL_ROW) { /* ends at SQL_DONE, 0 */
        struct counted l = {.day = sqls_col(s, 0),
                            .form = sqls_col(s, 1),
                            .source = sqls_col(s, 2),
                            .medium = sqls_col(s, 3),
                            .campaign = sqls_col(s, 4),
                            .flags = (unsigned)sqls_col_int(s, 5),
                            .grade = sqls_col(s, 6),
                            .qualified = sqls_col_int(s, 7) != 0,
                            .status = sqls_col(s, 8),
                            .currency = sqls_col(s, 9),
                            .has_value = !sqls_col_null(s, 10),
                            .value_minor = sqls_col_int(s, 10),
                            .id = sqls_col(s, 11),
                            .score = sqls_col_int(s, 12)};
        r = l.day ? tally_add(&t, &l) : LEADD_EDB;
        if (!r && t.nfilters >= TALLY_WRITE_AT)
            r = tally_write(c, &t);
    }
    sqls_finalize(&s);
    r = r ? r : tally_write(c, &t);
    tally_release(&t);
    return r;
}

/* What the database counts itself in a fold where nodes share it (by the
 * lead_rollup view the triggers use), each completed by a WHERE on leads:
 * the list's filters of some leads, and their counters' rows. */
#define FILTERS_SELECT                                                                             \
    "SELECT rowid, CASE grade WHEN 'hot' THEN 0 WHEN 'warm' THEN 4 ELSE 8 END + CASE WHEN"         \
    " qualified != 0 THEN 2 ELSE 0 END + CASE WHEN (flags & 51) != 0 THEN 1 ELSE 0 END, score"     \
    " FROM leads"
#define ROLLUP_SELECT                                                                              \
    "SELECT grain, period, form, utm_source, utm_medium, utm_campaign, currency, sum(leads),"      \
    " sum(valid), sum(qualified), sum(hot), sum(warm), sum(cold), sum(contacted),"                 \
    " sum(converted), sum(rejected), sum(spam), sum(duplicates), sum(revenue_minor)"               \
    " FROM lead_rollup"

/* Counts the leads past the mark into the rollup and lead_filters and moves
 * the mark; inside the caller's transaction, either way of counting (see
 * the top). One writer: the leads stored since, as a range of rowids (which
 * grow as ids do: read in the table's own order, not looked up id by id),
 * tallied in process (count_rows), the mark the last of them. Nodes: the
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
                     " WHERE id > ?1 AND id <= ?2 GROUP BY 1, 2, 3, 4, 5, 6, 7" UPSERT_SET,
                     "tt", was, upto);
    /* the list's filters of the same leads (the one writer's tally has them) */
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
    int rc = db_connect(st, false, st->lite.durable_full, &c);
    rc = rc ? rc : rebuild(c, st->timezone, groups);
    sqlc_close(&c);
    return rc;
}
