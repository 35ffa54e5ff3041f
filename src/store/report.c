/* report.c: ad spend and the stats report. The report reads the rollup
 * table (rollup.c keeps it) and adds the leads stored since it was last
 * brought up to date, through the lead_counts view that says how a lead
 * counts (migrations/sqlite/0010_analytics.sql). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/calendar.h"
#include "leadd/log.h"
#include "leadd/strmap.h"

const char *const report_group_names[REPORT_GROUP_COUNT] = {
    "utm_source", "utm_medium", "utm_campaign", "form", "day", "week", "month",
};

int store_list_spend(struct store *st, const char *from, const char *to, const char *utm_source,
                     store_spend_fn fn, void *arg)
{
    struct sqls *s = NULL;
    int rc = LEADD_EDB, r = SQL_DONE;
    struct reader *rd = reader_get(st);
    char sql[512];
    if (!rd)
        goto out;
    /* sources and campaigns in the order of their bytes on both engines */
    snprintf(sql, sizeof(sql),
             "SELECT day, utm_source, nullif(utm_campaign, ''), currency, amount_minor FROM spend"
             " WHERE (?1 IS NULL OR day >= ?1) AND (?2 IS NULL OR day <= ?2) AND (?3 IS NULL OR"
             " utm_source = ?3) ORDER BY day, utm_source%s, utm_campaign%s, currency",
             sql_bytewise(rd->c), sql_bytewise(rd->c));
    if (sqls_prepare(rd->c, sql, &s))
        goto out;
    /* The caller's strings outlive the statement. */
    sqls_text(s, 1, from, false);
    sqls_text(s, 2, to, false);
    sqls_text(s, 3, utm_source, false);
    rc = 0;
    while (!rc && (r = sqls_step(s)) == SQL_ROW) {
        struct store_spend_row row = {sqls_col(s, 0), sqls_col(s, 1), sqls_col(s, 2),
                                      sqls_col(s, 3), sqls_col_int(s, 4)};
        rc = fn(arg, &row);
    }
    rc = rc ? rc : r != SQL_DONE ? LEADD_EDB : 0;
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}

/* ---- the report ---- */

/* The SQL expression of each grouping's key over the rollup's columns,
 * over lead_counts' (the leads past the mark), and over spend's (NULL:
 * spend is not kept by it). Weeks become their Monday in collect(). */
static const struct {
    const char *rollup, *lead, *spend;
} KEYS[REPORT_GROUP_COUNT] = {
    [REPORT_UTM_SOURCE] = {"utm_source", "coalesce(utm_source, '')", "utm_source"},
    [REPORT_UTM_MEDIUM] = {"utm_medium", "coalesce(utm_medium, '')", NULL},
    [REPORT_UTM_CAMPAIGN] = {"utm_campaign", "coalesce(utm_campaign, '')", "utm_campaign"},
    [REPORT_FORM] = {"form", "form", NULL},
    [REPORT_DAY] = {"period", "day", "day"},
    [REPORT_WEEK] = {"period", "day", "day"},
    [REPORT_MONTH] = {"substr(period, 1, 7)", "substr(day, 1, 7)", "substr(day, 1, 7)"},
};

#define COUNTERS                                                                                   \
    "leads, valid, qualified, hot, warm, cold, contacted, converted, rejected, spam, duplicates,"  \
    " revenue_minor"

/* The month (YYYY-MM) after or before m. */
static void month_step(const char *m, int by, char out[8])
{
    int y = (int)strtol(m, NULL, 10), mo = (int)strtol(m + 5, NULL, 10) + by;
    if (mo > 12)
        y++, mo = 1;
    if (mo < 1)
        y--, mo = 12;
    snprintf(out, 8, "%04d-%02d", y < 0 ? 0 : y > 9999 ? 9999 : y, mo);
}

/* Appends a WHERE part for one slice of the rollup: a grain and a period
 * range, with the report's filters. Parameters: ?1 form, ?2 source. */
static int slice(struct buf *sql, int grain, const char *lo, const char *hi, bool first)
{
    return buf_addf(sql,
                    "%s SELECT * FROM rollup WHERE grain = %d AND period >= '%s' AND"
                    " period <= '%s' AND (?1 IS NULL OR form = ?1) AND"
                    " (?2 IS NULL OR utm_source = ?2)",
                    first ? "" : " UNION ALL", grain, lo, hi);
}

/* The rows of the rollup that cover [from, to]: by day and form and source
 * for a time series; otherwise whole months from the monthly counters and
 * only the days at either end from the daily ones. Days and months are
 * validated YYYY-MM-DD / YYYY-MM strings, so they are written in, not bound. */
static int rollup_rows(struct buf *sql, enum report_group g, const char *from, const char *to)
{
    if (g >= REPORT_DAY)
        return slice(sql, 2, from, to, true);
    char m1[8], m2[8], end[DAY_LEN + 1], lo[DAY_LEN + 1], hi[DAY_LEN + 1];
    /* m1..m2: the months wholly inside [from, to] */
    if (!strcmp(from + 8, "01"))
        snprintf(m1, sizeof(m1), "%.7s", from);
    else
        month_step(from, 1, m1);
    calendar_month_end(to, end);
    if (!strcmp(end, to) || !strcmp(to, "9999-12-31"))
        snprintf(m2, sizeof(m2), "%.7s", to);
    else
        month_step(to, -1, m2);
    if (strcmp(m1, m2) > 0)
        return slice(sql, 0, from, to, true);
    snprintf(lo, sizeof(lo), "%s-00", m1); /* before any day of m1 */
    snprintf(hi, sizeof(hi), "%s-32", m2); /* after any day of m2 */
    int rc = slice(sql, 1, m1, m2, true);
    if (!rc && strcmp(from, lo) < 0)
        rc = slice(sql, 0, from, lo, false);
    if (!rc && strcmp(hi, to) < 0)
        rc = slice(sql, 0, hi, to, false);
    return rc;
}

static struct report_other *other_of(struct report *r, const char *cur)
{
    for (size_t i = 0; i < r->nother; i++) {
        if (!strcmp(r->other[i].currency, cur))
            return &r->other[i];
    }
    struct report_other *v = realloc(r->other, (r->nother + 1) * sizeof(*v));
    if (!v)
        return NULL;
    r->other = v;
    v = &v[r->nother++];
    memset(v, 0, sizeof(*v));
    snprintf(v->currency, sizeof(v->currency), "%s", cur);
    return v;
}

/* The report's rows by key: counters arrive row by row, in the index's
 * order, and are added up here rather than by SQL's GROUP BY, whose sort
 * cost more than reading the rows. Row i is the key numbered i. */
struct agg {
    struct report *r;
    size_t cap; /* of r->rows */
    struct strmap keys;
};

/* The row of key k ("" for none), added when new; NULL on ENOMEM. */
static struct report_row *agg_row(struct agg *a, const char *k)
{
    struct report *r = a->r;
    bool added;
    long i = strmap_index(&a->keys, k, strlen(k), &added);
    if (i < 0)
        return NULL;
    if (!added)
        return &r->rows[i];
    if (r->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 64;
        struct report_row *v = realloc(r->rows, ncap * sizeof(*v));
        if (!v)
            return NULL;
        r->rows = v;
        a->cap = ncap;
    }
    struct report_row *row = &r->rows[r->n++];
    memset(row, 0, sizeof(*row));
    if (*k && !(row->key = strdup(k)))
        return NULL;
    return row;
}

static int by_key(const void *a, const void *b)
{
    const struct report_row *x = a, *y = b;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

static int by_leads(const void *a, const void *b)
{
    const struct report_row *x = a, *y = b;
    if (x->leads != y->leads)
        return x->leads > y->leads ? -1 : 1;
    return by_key(a, b);
}

/* Adds one query's rows into the report: the counters' rows (k, currency,
 * leads ... revenue_minor), or spend's (k, currency, amount). Money in
 * another currency than the report's goes to r->other, never into a row. */
static int collect(struct sqls *s, struct agg *a, const char *cur, bool spend, bool per_row,
                   bool week)
{
    struct report *r = a->r;
    char day[DAY_LEN + 1] = "", monday[DAY_LEN + 1] = "";
    int st;
    while ((st = sqls_step(s)) == SQL_ROW) {
        const char *k = sqls_col(s, 0);
        if (week && k) { /* rows come day by day: one conversion a day */
            if (strcmp(day, k)) {
                snprintf(day, sizeof(day), "%s", k);
                calendar_week_start(day, monday);
            }
            k = monday;
        }
        const char *c = sqls_col(s, 1);
        struct report_row *row = per_row ? agg_row(a, k ? k : "") : NULL;
        if (per_row && !row)
            return LEADD_ENOMEM;
        long long money = sqls_col_int(s, spend ? 2 : 13);
        bool ours = !c || !*c || !strcmp(c, cur);
        if (!ours) {
            struct report_other *o = other_of(r, c);
            if (!o)
                return LEADD_ENOMEM;
            *(spend ? &o->spend_minor : &o->revenue_minor) += money;
        }
        struct report_row *dst[2] = {&r->total, row};
        for (int d = 0; d < 2 && dst[d]; d++) {
            struct report_row *x = dst[d];
            if (spend) {
                x->spend_minor += ours ? money : 0;
                continue;
            }
            long long *f[] = {&x->leads,    &x->valid, &x->qualified, &x->hot,
                              &x->warm,     &x->cold,  &x->contacted, &x->converted,
                              &x->rejected, &x->spam,  &x->duplicates};
            for (size_t i = 0; i < LEADD_ARRAY_LEN(f); i++)
                *f[i] += sqls_col_int(s, 2 + (int)i);
            x->revenue_minor += ours ? money : 0;
        }
    }
    return st == SQL_DONE ? 0 : LEADD_EDB;
}

/* The parameters every query of a report takes, by number: ?1 form, ?2
 * source, ?3 the first day, ?4 the last. */
struct params {
    const char *form, *source, *from, *to;
};

/* Runs one of the report's queries (its text in sql, with the parameters by
 * number) and adds its rows into a. */
static int run(struct sqlc *db, struct buf *sql, const struct params *p, struct agg *a,
               const char *cur, bool spend, bool per_row, bool week)
{
    struct sqls *s = NULL;
    int rc = buf_error(sql);
    if (rc || (rc = sqls_prepare(db, buf_str(sql), &s)))
        return rc;
    /* p's strings outlive s (finalized below) */
    const char *v[] = {p->form, p->source, p->from, p->to};
    for (int i = 0; i < 4; i++)
        sqls_text(s, i + 1, v[i], false);
    rc = collect(s, a, cur, spend, per_row, week);
    sqls_finalize(&s);
    buf_reset(sql);
    return rc;
}

int store_report(struct store *st, const struct report_query *q, struct report *out)
{
    struct params p = {q->form, q->utm_source, q->from ? q->from : "0000-01-01",
                       q->to ? q->to : "9999-12-31"};
    struct buf sql = BUF_INIT(8192);
    struct agg a = {.r = out};
    bool week = q->group == REPORT_WEEK;
    int rc = LEADD_EINVAL;
    memset(out, 0, sizeof(*out));
    out->total_spend = !q->form;
    out->row_spend = out->total_spend && KEYS[q->group].spend;
    /* days are written into the SQL below: only real dates get there */
    if ((q->from && !calendar_day_valid(q->from)) || (q->to && !calendar_day_valid(q->to)) ||
        (unsigned)q->group >= REPORT_GROUP_COUNT)
        return rc;
    struct reader *rd = reader_get(st);
    if (!rd)
        return LEADD_EDB;
    /* One snapshot for the counters, the newest leads and the spend. */
    sql_begin_read(rd->c);
    buf_addf(&sql, "SELECT %s, currency, " COUNTERS " FROM (", KEYS[q->group].rollup);
    rollup_rows(&sql, q->group, p.from, p.to);
    buf_adds(&sql, ") AS r");
    rc = run(rd->c, &sql, &p, &a, q->currency, false, true, week);
    /* The leads past the mark (at most ROLLUP_FOLD_LEADS, or ROLLUP_FOLD_MS
     * of them), counted as they are, by the view that says how a lead counts. */
    buf_addf(&sql,
             "SELECT %s, currency, " COUNTERS " FROM lead_counts WHERE"
             " id > (SELECT upto FROM rollup_mark) AND day >= ?3 AND day <= ?4 AND"
             " (?1 IS NULL OR form = ?1) AND (?2 IS NULL OR utm_source = ?2)",
             KEYS[q->group].lead);
    rc = rc ? rc : run(rd->c, &sql, &p, &a, q->currency, false, true, week);
    /* Spend's groups join the same rows: a source that cost money and
     * brought no lead is a row too (the one a marketer most needs). */
    buf_addf(&sql,
             "SELECT %s, currency, amount_minor FROM spend WHERE day >= ?3 AND day <= ?4"
             " AND (?2 IS NULL OR utm_source = ?2)",
             out->row_spend ? KEYS[q->group].spend : "''");
    if (!rc && out->total_spend)
        rc = run(rd->c, &sql, &p, &a, q->currency, true, out->row_spend, week);
    if (!rc && out->n)
        qsort(out->rows, out->n, sizeof(out->rows[0]), q->group >= REPORT_DAY ? by_key : by_leads);
    sql_end_read(rd->c);
    reader_put(st, rd);
    strmap_release(&a.keys);
    buf_release(&sql);
    if (rc)
        report_release(out);
    return rc;
}

void report_release(struct report *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->rows[i].key);
    free(r->rows);
    free(r->other);
    memset(r, 0, sizeof(*r));
}
