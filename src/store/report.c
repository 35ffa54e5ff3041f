/* report.c: ad spend and the stats report. The report reads the rollup
 * table, which triggers keep exact in every transaction that changes a lead
 * (rollup.c, and migrations/0010_analytics.sql which says how a lead
 * counts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/calendar.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"
#include "leadd/money.h"

const char *const report_group_names[REPORT_GROUP_COUNT] = {
    "utm_source", "utm_medium", "utm_campaign", "form", "day", "week", "month",
};

int spend_apply(sqlite3 *db, struct store_spend_job *j, const char *at)
{
    sqlite3_stmt *s = NULL;
    int r = sqlite3_prepare_v2(
        db,
        j->remove ? "DELETE FROM spend WHERE day = ?1 AND utm_source = ?2 AND utm_campaign = ?3"
                    " AND currency = ?4"
                  : "INSERT INTO spend VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO UPDATE SET"
                    " amount_minor = excluded.amount_minor, updated_at = excluded.updated_at",
        -1, &s, NULL);
    for (size_t i = 0; r == SQLITE_OK && i < (j->remove ? 1 : j->n); i++) {
        const struct spend_row *v = &j->v[i];
        sqlite3_reset(s);
        /* The job's rows outlive this loop: SQLITE_STATIC holds. */
        sqlite3_bind_text(s, 1, v->day, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, v->utm_source, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, v->utm_campaign ? v->utm_campaign : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, v->currency, -1, SQLITE_STATIC);
        if (!j->remove) {
            sqlite3_bind_int64(s, 5, v->amount_minor);
            sqlite3_bind_text(s, 6, at, -1, SQLITE_STATIC);
        }
        r = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    if (r == SQLITE_OK && j->remove && sqlite3_changes(db) == 0)
        j->job.rc = LEADD_ENOTFOUND;
    sqlite3_finalize(s);
    return r;
}

int store_list_spend(struct store *st, const char *from, const char *to, const char *utm_source,
                     struct buf *out)
{
    sqlite3_stmt *s = NULL;
    int rc = LEADD_EDB, r = SQLITE_DONE, n = 0;
    struct reader *rd = reader_get(st);
    if (!rd || sqlite3_prepare_v2(rd->db,
                                  "SELECT day, utm_source, nullif(utm_campaign, ''), currency,"
                                  " amount_minor FROM spend WHERE (?1 IS NULL OR day >= ?1) AND"
                                  " (?2 IS NULL OR day <= ?2) AND (?3 IS NULL OR utm_source = ?3)"
                                  " ORDER BY day, utm_source, utm_campaign, currency",
                                  -1, &s, NULL) != SQLITE_OK)
        goto out;
    /* The caller's strings outlive the statement: SQLITE_STATIC holds. */
    sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, utm_source, -1, SQLITE_STATIC);
    buf_adds(out, "{\"data\":[");
    while (!buf_error(out) && (r = sqlite3_step(s)) == SQLITE_ROW) {
        char amount[MONEY_STR];
        const char *cur = (const char *)sqlite3_column_text(s, 3);
        money_format(sqlite3_column_int64(s, 4), money_exponent(cur), amount);
        buf_adds(out, n++ ? ",{\"date\":" : "{\"date\":");
        jw_str(out, (const char *)sqlite3_column_text(s, 0));
        buf_adds(out, ",\"utm_source\":");
        jw_str(out, (const char *)sqlite3_column_text(s, 1));
        buf_adds(out, ",\"utm_campaign\":");
        jw_str(out, (const char *)sqlite3_column_text(s, 2));
        buf_addf(out, ",\"amount\":\"%s\",\"currency\":", amount);
        jw_str(out, cur);
        buf_addc(out, '}');
    }
    buf_adds(out, "]}");
    rc = buf_error(out) ? buf_error(out) : r != SQLITE_DONE ? LEADD_EDB : 0;
out:
    sqlite3_finalize(s);
    reader_put(st, rd);
    return rc;
}

/* ---- the report ---- */

/* The SQL expression of each grouping's key over the rollup's columns, and
 * over spend's (NULL: spend is not kept by it). */
static const struct {
    const char *rollup, *spend;
} KEYS[REPORT_GROUP_COUNT] = {
    [REPORT_UTM_SOURCE] = {"utm_source", "utm_source"},
    [REPORT_UTM_MEDIUM] = {"utm_medium", NULL},
    [REPORT_UTM_CAMPAIGN] = {"utm_campaign", "utm_campaign"},
    [REPORT_FORM] = {"form", NULL},
    [REPORT_DAY] = {"period", "day"},
#define MONDAY(d) "date(" d ", '-' || ((CAST(strftime('%w', " d ") AS INTEGER) + 6) % 7) || ' days')"
    [REPORT_WEEK] = {MONDAY("period"), MONDAY("day")},
    [REPORT_MONTH] = {"substr(period, 1, 7)", "substr(day, 1, 7)"},
#undef MONDAY
};

#define SUMS                                                                                       \
    "sum(leads), sum(valid), sum(qualified), sum(hot), sum(warm), sum(cold), sum(contacted),"      \
    " sum(converted), sum(rejected), sum(spam), sum(duplicates), sum(revenue_minor)"

/* The month (YYYY-MM) after or before m. */
static void month_step(const char *m, int by, char out[8])
{
    int y = atoi(m), mo = atoi(m + 5) + by;
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

/* The row for key k: rows arrive sorted by key, so it is the last one or a
 * new one (NULL on ENOMEM). */
static struct report_row *row_for(struct report *r, size_t *cap, const char *k)
{
    if (r->n && !strcmp(r->rows[r->n - 1].key ? r->rows[r->n - 1].key : "", k))
        return &r->rows[r->n - 1];
    if (r->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        struct report_row *v = realloc(r->rows, ncap * sizeof(*v));
        if (!v)
            return NULL;
        r->rows = v;
        *cap = ncap;
    }
    struct report_row *row = &r->rows[r->n];
    memset(row, 0, sizeof(*row));
    if (*k && !(row->key = strdup(k)))
        return NULL;
    r->n++;
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

/* Merges one query's rows (k, currency, sums...) into r; spend is a query
 * over spend (k, currency, amount) instead. */
static int collect(sqlite3_stmt *s, struct report *r, size_t *cap, const char *cur, bool spend,
                   bool per_row)
{
    int st;
    while ((st = sqlite3_step(s)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *c = (const char *)sqlite3_column_text(s, 1);
        struct report_row *row = per_row ? row_for(r, cap, k ? k : "") : NULL;
        if (per_row && !row)
            return LEADD_ENOMEM;
        long long money = sqlite3_column_int64(s, spend ? 2 : 13);
        bool ours = !*c || !strcmp(c, cur);
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
            long long *f[] = {&x->leads,     &x->valid,     &x->qualified, &x->hot,
                              &x->warm,      &x->cold,      &x->contacted, &x->converted,
                              &x->rejected,  &x->spam,      &x->duplicates};
            for (size_t i = 0; i < LEADD_ARRAY_LEN(f); i++)
                *f[i] += sqlite3_column_int64(s, 2 + (int)i);
            x->revenue_minor += ours ? money : 0;
        }
    }
    return st == SQLITE_DONE ? 0 : LEADD_EDB;
}

int store_report(struct store *st, const struct report_query *q, struct report *out)
{
    const char *from = q->from ? q->from : "0000-01-01", *to = q->to ? q->to : "9999-12-31";
    struct buf sql = BUF_INIT(8192);
    sqlite3_stmt *s = NULL;
    size_t cap = 0;
    int rc = LEADD_EDB;
    memset(out, 0, sizeof(*out));
    out->total_spend = !q->form;
    out->row_spend = out->total_spend && KEYS[q->group].spend;
    struct reader *rd = reader_get(st);
    if (!rd)
        goto out;
    /* One snapshot for the counters and the spend. */
    sqlite3_exec(rd->db, "BEGIN", NULL, NULL, NULL);
    buf_addf(&sql, "SELECT %s AS k, currency, " SUMS " FROM (", KEYS[q->group].rollup);
    rollup_rows(&sql, q->group, from, to);
    buf_adds(&sql, ") GROUP BY k, currency ORDER BY k, currency");
    if ((rc = buf_error(&sql)))
        goto out;
    rc = LEADD_EDB;
    if (sqlite3_prepare_v2(rd->db, buf_str(&sql), -1, &s, NULL) != SQLITE_OK) {
        log_error("stats query failed to prepare: %s", sqlite3_errmsg(rd->db));
        goto out;
    }
    /* q's strings outlive s (finalized below): SQLITE_STATIC holds. */
    sqlite3_bind_text(s, 1, q->form, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, q->utm_source, -1, SQLITE_STATIC);
    if ((rc = collect(s, out, &cap, q->currency, false, true)))
        goto out;
    sqlite3_finalize(s);
    s = NULL;
    if (out->total_spend) {
        /* Spend's groups, merged by key: a source that cost money and
         * brought no lead is a row too (the one a marketer most needs). */
        size_t counted = out->n;
        buf_reset(&sql);
        buf_addf(&sql,
                 "SELECT %s AS k, currency, sum(amount_minor) FROM spend WHERE day >= ?1 AND"
                 " day <= ?2 AND (?3 IS NULL OR utm_source = ?3) GROUP BY k, currency"
                 " ORDER BY k, currency",
                 out->row_spend ? KEYS[q->group].spend : "''");
        if ((rc = buf_error(&sql)))
            goto out;
        rc = LEADD_EDB;
        if (sqlite3_prepare_v2(rd->db, buf_str(&sql), -1, &s, NULL) != SQLITE_OK)
            goto out;
        sqlite3_bind_text(s, 1, from, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, to, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, q->utm_source, -1, SQLITE_STATIC);
        /* Spend rows append after the counted ones; sorted and merged below. */
        struct report tmp = {0};
        size_t tcap = 0;
        rc = collect(s, &tmp, &tcap, q->currency, true, out->row_spend);
        out->total.spend_minor = tmp.total.spend_minor;
        for (size_t i = 0; i < tmp.nother && !rc; i++) {
            struct report_other *o = other_of(out, tmp.other[i].currency);
            rc = o ? 0 : LEADD_ENOMEM;
            if (o)
                o->spend_minor += tmp.other[i].spend_minor;
        }
        /* merge tmp's rows (sorted by key) into out's (sorted by key) */
        size_t i = 0;
        for (size_t k = 0; !rc && k < tmp.n; k++) {
            const char *key = tmp.rows[k].key ? tmp.rows[k].key : "";
            int c = 1;
            while (i < counted && (c = strcmp(out->rows[i].key ? out->rows[i].key : "", key)) < 0)
                i++;
            if (i < counted && c == 0) {
                out->rows[i].spend_minor += tmp.rows[k].spend_minor;
                continue;
            }
            if (out->n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct report_row *v = realloc(out->rows, ncap * sizeof(*v));
                if (!v) {
                    rc = LEADD_ENOMEM;
                    break;
                }
                out->rows = v;
                cap = ncap;
            }
            out->rows[out->n++] = tmp.rows[k];
            tmp.rows[k].key = NULL; /* moved */
        }
        report_release(&tmp);
    }
    if (!rc && out->n)
        qsort(out->rows, out->n, sizeof(out->rows[0]), q->group >= REPORT_DAY ? by_key : by_leads);
out:
    sqlite3_finalize(s);
    if (rd) {
        sqlite3_exec(rd->db, "COMMIT", NULL, NULL, NULL);
        reader_put(st, rd);
    }
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
