/* query.c: reads for the query API on a pool of read-only connections.
 * Lists are keyset-paginated by lead id (ULIDs in commit order), newest
 * first: a page costs the same deep in the table as at its top, and a cursor
 * stays valid while new leads arrive (they sort above it). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/jsonw.h"
#include "leadd/lead.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

struct reader *reader_get(struct store *st)
{
    pthread_mutex_lock(&st->rmu);
    struct reader *r = st->readers;
    if (r)
        st->readers = r->next;
    pthread_mutex_unlock(&st->rmu);
    if (r)
        return r;
    if (!(r = calloc(1, sizeof(*r))))
        return NULL;
    if (sqlite3_open_v2(st->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        log_error("unable to open a reader on '%s': %s", st->path, sqlite3_errmsg(r->db));
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    sqlite3_busy_timeout(r->db, 5000);
    if (leadjson_prepare(&r->lead, r->db)) {
        leadjson_finalize(&r->lead);
        sqlite3_close(r->db);
        free(r);
        return NULL;
    }
    return r;
}

void reader_put(struct store *st, struct reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&st->rmu);
    r->next = st->readers;
    st->readers = r;
    pthread_mutex_unlock(&st->rmu);
}

void readers_close(struct store *st)
{
    struct reader *r = st->readers;
    while (r) {
        struct reader *next = r->next;
        leadjson_finalize(&r->lead);
        sqlite3_close(r->db);
        free(r);
        r = next;
    }
    st->readers = NULL;
}

static void w_add(struct where *w, const char *clause, const char *s, long long i, bool is_int)
{
    if (w->rc || w->n == MAX_BINDS) {
        w->rc = w->rc ? w->rc : LEADD_ENOMEM;
        return;
    }
    w->n++;
    w->b[w->n - 1].is_int = is_int;
    w->b[w->n - 1].s = s;
    w->b[w->n - 1].i = i;
    /* Each clause names its parameter ?N, where N is its bind's position. */
    w->rc = buf_adds(&w->sql, " AND ");
    for (const char *p = clause; !w->rc && *p; p++)
        w->rc = *p == '?' ? buf_addf(&w->sql, "?%d", w->n) : buf_addc(&w->sql, *p);
}

static void w_text(struct where *w, const char *clause, const char *s)
{
    if (s)
        w_add(w, clause, s, 0, false);
}

static void w_int(struct where *w, const char *clause, long long i)
{
    w_add(w, clause, NULL, i, true);
}

void where_build(struct where *w, const struct lead_filter *f, unsigned flags)
{
    buf_init(&w->sql, 4096);
    w->n = 0;
    w->rc = buf_adds(&w->sql, flags & WHERE_ERASED ? " WHERE 1" : " WHERE erased_at IS NULL");
    w_text(w, "form = ?", f->form);
    w_text(w, "status = ?", f->status);
    w_text(w, "grade = ?", f->grade);
    w_text(w, "utm_source = ?", f->utm_source);
    w_text(w, "utm_medium = ?", f->utm_medium);
    w_text(w, "utm_campaign = ?", f->utm_campaign);
    if (f->owner && !strcmp(f->owner, "none"))
        w_int(w, "owner IS NULL AND ? = 1", 1);
    else
        w_text(w, "owner = ?", f->owner);
    if (f->qualified >= 0)
        w_int(w, "qualified = ?", f->qualified);
    if (f->spam == 0)
        w_int(w, "(flags & ?) = 0", LEAD_FLAGS_SPAM);
    else if (f->spam == 1)
        w_int(w, "(flags & ?) != 0", LEAD_FLAGS_SPAM);
    if (f->has_min_score)
        w_int(w, "score >= ?", f->min_score);
    if (f->has_max_score)
        w_int(w, "score <= ?", f->max_score);
    /* Time ranges as id ranges: the primary ordering index serves them. */
    if (f->has_after) {
        ulid_floor(f->after_ms > 0 ? (uint64_t)f->after_ms : 0, w->lo);
        w_text(w, "id >= ?", w->lo);
    }
    if (f->has_before) {
        ulid_floor(f->before_ms > 0 ? (uint64_t)f->before_ms : 0, w->hi);
        w_text(w, "id < ?", w->hi);
    }
    if (flags & WHERE_CURSOR)
        w_text(w, "id < ?", f->cursor);
    if (f->q) {
        /* A substring, with LIKE's own wildcards escaped. */
        size_t n = 0;
        w->like[n++] = '%';
        for (const char *p = f->q; *p && n < sizeof(w->like) - 3; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                w->like[n++] = '\\';
            w->like[n++] = *p;
        }
        w->like[n++] = '%';
        w->like[n] = '\0';
        w_text(
            w,
            "(email LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\' OR company LIKE ? ESCAPE '\\')",
            w->like);
    }
}

int where_prepare(sqlite3 *db, struct where *w, const char *head, const char *tail,
                  sqlite3_stmt **out)
{
    struct buf sql = BUF_INIT(8192);
    buf_adds(&sql, head);
    buf_adds(&sql, buf_str(&w->sql));
    buf_adds(&sql, tail);
    int rc = w->rc ? w->rc : buf_error(&sql);
    if (!rc && sqlite3_prepare_v2(db, sql.ptr, -1, out, NULL) != SQLITE_OK) {
        log_error("query failed to prepare: %s", sqlite3_errmsg(db));
        rc = LEADD_EDB;
    }
    for (int i = 0; !rc && i < w->n; i++) {
        if (w->b[i].is_int)
            sqlite3_bind_int64(*out, i + 1, w->b[i].i);
        else
            /* Copied: the statement may be stepped after w is gone (an
             * export steps it from the response callback). */
            sqlite3_bind_text(*out, i + 1, w->b[i].s, -1, SQLITE_TRANSIENT);
    }
    buf_release(&sql);
    return rc;
}

/* A page of leads whose filter few may match (grade, qualified, score, only
 * spam) is read in two parts. The leads past the rollup's mark (at most
 * ROLLUP_FOLD_LEADS or ROLLUP_FOLD_MS of them) straight from leads; the
 * older ones through lead_filters (by the leads' rowids, which grow as their
 * ids do), filled by the fold, not by each insert (an index on leads costs
 * every commit). Its two indexes, by bucket (grade, qualified and spam in
 * one number) and by score, are counted first, up to FILTER_FEW: the one
 * with fewer matches is read and sorted when they are few; when both have
 * many, the table is read newest first, and since at least FILTER_FEW leads
 * match, a page of them is met soon. */
#define FILTER_FEW 20000

static bool bucketed(const struct lead_filter *f)
{
    return f->grade || f->qualified >= 0 || f->spam == 1 || f->has_min_score || f->has_max_score;
}

/* How many leads match pred through index idx, counted up to FILTER_FEW + 1. */
static long long count_upto(sqlite3 *db, const char *idx, const char *pred)
{
    char sql[512];
    sqlite3_stmt *s = NULL;
    long long n = FILTER_FEW + 1;
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT 1 FROM lead_filters AS f INDEXED BY %s WHERE %s"
             " LIMIT %d)",
             idx, pred, FILTER_FEW + 1);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* The lead_filters part: its SQL up to its WHERE's end, the index chosen,
 * and its predicates (numbers lead_filters holds, written in); the rest of
 * the filter is checked on the lead itself. */
static int filters_sql(sqlite3 *db, const struct lead_filter *f, struct buf *b)
{
    char buckets[128] = "", scores[96] = "1";
    size_t n = 0;
    int g = f->grade ? str_index(f->grade, lead_grade_names, LEAD_GRADE_COUNT) : -1;
    /* bucket = grade * 4 + qualified * 2 + spam, as migrations/sqlite/0010 writes it */
    for (int gi = 0; gi < 3; gi++) {
        for (int q = 0; q < 2; q++) {
            for (int sp = 0; sp < 2; sp++) {
                if ((g >= 0 && g != gi) || (f->qualified >= 0 && f->qualified != q) ||
                    (f->spam >= 0 && f->spam != sp))
                    continue;
                n += (size_t)snprintf(buckets + n, sizeof(buckets) - n, "%s%d", n ? "," : "",
                                      gi * 4 + q * 2 + sp);
            }
        }
    }
    _Static_assert(LEAD_GRADE_HOT == 0 && LEAD_GRADE_WARM == 1 && LEAD_GRADE_COLD == 2,
                   "buckets number grades as lead_grade_names does");
    long long lo = f->has_min_score ? f->min_score : LLONG_MIN;
    long long hi = f->has_max_score ? f->max_score : LLONG_MAX;
    if (f->has_min_score || f->has_max_score)
        snprintf(scores, sizeof(scores), "f.score >= %lld AND f.score <= %lld", lo, hi);
    char pred[256];
    snprintf(pred, sizeof(pred), "f.bucket IN (%s) AND %s", buckets, scores);
    bool by_bucket = g >= 0 || f->qualified >= 0 || f->spam == 1;
    bool by_score = f->has_min_score || f->has_max_score;
    long long nb = by_bucket ? count_upto(db, "lead_filters_bucket", pred) : FILTER_FEW + 1;
    long long ns = by_score ? count_upto(db, "lead_filters_score", pred) : FILTER_FEW + 1;
    const char *idx = nb <= FILTER_FEW && nb <= ns ? "INDEXED BY lead_filters_bucket"
                      : ns <= FILTER_FEW           ? "INDEXED BY lead_filters_score"
                                                   : "NOT INDEXED"; /* newest first */
    buf_addf(b,
             "SELECT (SELECT id FROM leads WHERE rowid = f.rid) FROM lead_filters AS f %s"
             " WHERE %s",
             idx, pred);
    return buf_error(b);
}

/* Steps s, adding up to room ids to v; returns how many. */
static int take_ids(sqlite3_stmt *s, char (*v)[ULID_LEN + 1], int room, int *r)
{
    int n = 0;
    while (n < room && (*r = sqlite3_step(s)) == SQLITE_ROW)
        snprintf(v[n++], ULID_LEN + 1, "%s", (const char *)sqlite3_column_text(s, 0));
    if (n == room)
        *r = SQLITE_DONE;
    return n;
}

/* The ids of a page (limit + 1, to know if there is more), newest first. */
static int page_ids(struct reader *rd, const struct lead_filter *f, char (*ids)[ULID_LEN + 1],
                    int *n)
{
    struct where w;
    struct buf sql = BUF_INIT(8192);
    sqlite3_stmt *s = NULL;
    char limit[48], upto[ULID_LEN + 1] = "";
    int want = f->limit + 1, r = SQLITE_DONE, rc;
    *n = 0;
    where_build(&w, f, f->cursor ? WHERE_CURSOR : 0);
    snprintf(limit, sizeof(limit), " ORDER BY id DESC LIMIT %d", want);
    if (!bucketed(f)) {
        if (!(rc = where_prepare(rd->db, &w, "SELECT id FROM leads", limit, &s)))
            *n = take_ids(s, ids, want, &r);
        goto out;
    }
    rc = LEADD_EDB;
    /* the mark, and the rowid of the lead the older part starts at or below
     * (rowids grow as ids do): the mark's, or the cursor's when lower */
    if (sqlite3_prepare_v2(rd->db,
                           "SELECT upto, (SELECT rowid FROM leads WHERE id = upto),"
                           " (SELECT rowid FROM leads WHERE id = ?1) FROM rollup_mark",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(s, 1, f->cursor, -1, SQLITE_STATIC); /* the caller's, outlives s */
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    snprintf(upto, sizeof(upto), "%s", (const char *)sqlite3_column_text(s, 0));
    long long upto_rid = sqlite3_column_int64(s, 1), cursor_rid = sqlite3_column_int64(s, 2);
    bool cursor_below =
        f->cursor && sqlite3_column_type(s, 2) != SQLITE_NULL && strcmp(f->cursor, upto) <= 0;
    sqlite3_finalize(s);
    s = NULL;
    /* the leads past the mark: the newest */
    char tail[96];
    snprintf(tail, sizeof(tail), " AND id > ?%d%s", w.n + 1, limit);
    if ((rc = where_prepare(rd->db, &w, "SELECT id FROM leads", tail, &s)))
        goto out;
    sqlite3_bind_text(s, w.n + 1, upto, -1, SQLITE_TRANSIENT);
    *n = take_ids(s, ids, want, &r);
    sqlite3_finalize(s);
    s = NULL;
    if (*n == want || (r != SQLITE_DONE && r != SQLITE_ROW) || !*upto)
        goto out;
    /* then the older ones, through lead_filters; each checked on the lead
     * for the rest of the filter (w, as the subquery's WHERE) */
    if ((rc = filters_sql(rd->db, f, &sql)))
        goto out;
    buf_addf(&sql, " AND f.rid %s ?%d AND EXISTS (SELECT 1 FROM leads",
             cursor_below ? "<" : "<=", w.n + 1);
    snprintf(tail, sizeof(tail), " AND rowid = f.rid) ORDER BY f.rid DESC LIMIT %d", want - *n);
    if ((rc = buf_error(&sql)) || (rc = where_prepare(rd->db, &w, buf_str(&sql), tail, &s)))
        goto out;
    sqlite3_bind_int64(s, w.n + 1, cursor_below ? cursor_rid : upto_rid);
    *n += take_ids(s, ids + *n, want - *n, &r);
out:
    if (!rc && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = LEADD_EDB;
    sqlite3_finalize(s);
    buf_release(&sql);
    buf_release(&w.sql);
    return rc;
}

int store_list_leads(struct store *st, const struct lead_filter *f, struct buf *out)
{
    char(*ids)[ULID_LEN + 1] = calloc((size_t)f->limit + 1, sizeof(*ids));
    int rc = LEADD_EDB, n = 0;
    struct reader *rd = ids ? reader_get(st) : NULL;
    if (!rd)
        goto out;
    /* The page's ids and leads in one read transaction: one snapshot. */
    sqlite3_exec(rd->db, "BEGIN", NULL, NULL, NULL);
    rc = page_ids(rd, f, ids, &n);
    buf_adds(out, "{\"data\":[");
    for (int i = 0; !rc && !buf_error(out) && i < n && i < f->limit; i++) {
        if (i)
            buf_addc(out, ',');
        rc = leadjson_get(&rd->lead, ids[i], f->viewer, out);
    }
    sqlite3_exec(rd->db, "COMMIT", NULL, NULL, NULL);
    /* Which spam the page holds: by default none (a lead flagged too_fast is
     * not lost, it is in spam=true), so the answer says so. */
    const char *spam = f->spam == 0 ? "hidden" : f->spam == 1 ? "only" : "included";
    if (n > f->limit)
        buf_addf(out, "],\"next_cursor\":\"%s\",\"spam_filter\":\"%s\"}", ids[f->limit - 1], spam);
    else
        buf_addf(out, "],\"next_cursor\":null,\"spam_filter\":\"%s\"}", spam);
    rc = rc ? rc : buf_error(out);
out:
    reader_put(st, rd);
    free(ids);
    return rc;
}

int store_get_lead(struct store *st, const char *id, const char *viewer, struct buf *out)
{
    struct reader *rd = reader_get(st);
    if (!rd)
        return LEADD_EDB;
    sqlite3_exec(rd->db, "BEGIN", NULL, NULL, NULL);
    int rc = leadjson_get(&rd->lead, id, viewer, out);
    sqlite3_exec(rd->db, "COMMIT", NULL, NULL, NULL);
    reader_put(st, rd);
    return rc;
}

int store_leads_since(struct store *st, const char *after, size_t max,
                      int (*fn)(const char *id, const char *form, unsigned flags, void *arg),
                      void *arg, size_t *n)
{
    sqlite3_stmt *s = NULL;
    int rc = LEADD_EDB, r = SQLITE_DONE;
    *n = 0;
    struct reader *rd = reader_get(st);
    if (!rd || sqlite3_prepare_v2(rd->db,
                                  "SELECT id, form, flags FROM leads WHERE id > ?1"
                                  " ORDER BY id LIMIT ?2",
                                  -1, &s, NULL) != SQLITE_OK)
        goto out;
    /* after is the caller's and outlives the statement: SQLITE_STATIC holds. */
    sqlite3_bind_text(s, 1, after, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
    rc = 0;
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        rc = fn((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
                (unsigned)sqlite3_column_int(s, 2), arg);
        ++*n;
    }
    if (!rc && r != SQLITE_DONE)
        rc = LEADD_EDB;
out:
    sqlite3_finalize(s);
    if (rd)
        reader_put(st, rd);
    return rc;
}

int store_stats(struct store *st, const char *group_by, const struct lead_filter *f,
                struct buf *out)
{
    static const struct {
        const char *name, *expr;
    } keys[] = {
        {"utm_source", "utm_source"},
        {"utm_medium", "utm_medium"},
        {"utm_campaign", "utm_campaign"},
        {"form", "form"},
        {"grade", "grade"},
        {"status", "status"},
        {"day", "substr(created_at, 1, 10)"},
    };
    const char *expr = NULL;
    for (size_t i = 0; i < LEADD_ARRAY_LEN(keys); i++) {
        if (!strcmp(keys[i].name, group_by))
            expr = keys[i].expr;
    }
    if (!expr)
        return LEADD_EINVAL;
    struct where w;
    struct lead_filter g = *f;
    sqlite3_stmt *s = NULL;
    char head[256];
    int rc = LEADD_EDB, r = SQLITE_DONE, n = 0;
    g.spam = -1;
    where_build(&w, &g, WHERE_ERASED); /* tombstones count: erasure removes people, not numbers */
    struct reader *rd = reader_get(st);
    snprintf(head, sizeof(head),
             "SELECT %s AS k, count(*), sum(qualified), sum(status = 'converted'),"
             " sum((flags & %u) != 0) FROM leads",
             expr, LEAD_FLAGS_SPAM);
    if (!rd || (rc = where_prepare(rd->db, &w, head, " GROUP BY k ORDER BY count(*) DESC, k", &s)))
        goto out;
    buf_adds(out, "{\"data\":[");
    while (!buf_error(out) && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if (n++)
            buf_addc(out, ',');
        buf_adds(out, "{\"key\":");
        jw_str(out, (const char *)sqlite3_column_text(s, 0));
        buf_addf(out, ",\"total\":%lld,\"qualified\":%lld,\"converted\":%lld,\"spam\":%lld}",
                 (long long)sqlite3_column_int64(s, 1), (long long)sqlite3_column_int64(s, 2),
                 (long long)sqlite3_column_int64(s, 3), (long long)sqlite3_column_int64(s, 4));
    }
    buf_adds(out, "]}");
    rc = buf_error(out) ? buf_error(out) : r != SQLITE_DONE ? LEADD_EDB : 0;
out:
    sqlite3_finalize(s);
    reader_put(st, rd);
    buf_release(&w.sql);
    return rc;
}

int store_list_deliveries(struct store *st, const char *state, const char *lead, const char *cursor,
                          int limit, struct buf *out)
{
    sqlite3_stmt *s = NULL, *a = NULL;
    int rc = LEADD_EDB, r = SQLITE_DONE, n = 0;
    long long last = 0, before = cursor ? strtoll(cursor, NULL, 10) : 0;
    struct reader *rd = reader_get(st);
    if (!rd)
        goto out;
        /* "delivering" is a moment inside an attempt: the API calls it pending. */
#define API_STATE "(CASE state WHEN " SQL_DELIVERING " THEN " SQL_PENDING " ELSE state END)"
    if (sqlite3_prepare_v2(
            rd->db,
            "SELECT id, lead_id, webhook, webhook_id, " API_STATE " AS st, next_attempt_ms"
            " FROM deliveries WHERE (?1 IS NULL OR " API_STATE " = ?1) AND"
            " (?2 IS NULL OR lead_id = ?2) AND (?3 = 0 OR id < ?3) ORDER BY id DESC LIMIT ?4",
            -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(rd->db,
                           "SELECT at, status, error, duration_ms FROM delivery_attempts"
                           " WHERE delivery_id = ?1 ORDER BY rowid",
                           -1, &a, NULL) != SQLITE_OK)
        goto out;
    if (state)
        sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
    if (lead)
        sqlite3_bind_text(s, 2, lead, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, before);
    sqlite3_bind_int(s, 4, limit + 1);
    sqlite3_exec(rd->db, "BEGIN", NULL, NULL, NULL);
    buf_adds(out, "{\"data\":[");
    while (!buf_error(out) && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == limit) {
            n++;
            break;
        }
        char next[32];
        const char *stname = (const char *)sqlite3_column_text(s, 4);
        last = sqlite3_column_int64(s, 0);
        rfc3339_ms((uint64_t)sqlite3_column_int64(s, 5), next);
        if (n++)
            buf_addc(out, ',');
        buf_addf(out, "{\"id\":\"%lld\",\"lead\":", last);
        jw_str(out, (const char *)sqlite3_column_text(s, 1));
        buf_adds(out, ",\"webhook\":");
        jw_str(out, (const char *)sqlite3_column_text(s, 2));
        buf_adds(out, ",\"webhook_id\":");
        jw_str(out, (const char *)sqlite3_column_text(s, 3));
        buf_adds(out, ",\"state\":");
        jw_str(out, stname);
        buf_adds(out, ",\"next_attempt_at\":");
        jw_str(out, strcmp(stname, delivery_state_names[DELIVERY_PENDING]) ? NULL : next);
        buf_adds(out, ",\"attempts\":[");
        sqlite3_reset(a);
        sqlite3_bind_int64(a, 1, last);
        for (int k = 0; !buf_error(out) && sqlite3_step(a) == SQLITE_ROW; k++) {
            if (k)
                buf_addc(out, ',');
            buf_adds(out, "{\"at\":");
            jw_str(out, (const char *)sqlite3_column_text(a, 0));
            buf_adds(out, ",\"status\":");
            if (sqlite3_column_type(a, 1) == SQLITE_NULL)
                buf_adds(out, "null");
            else
                buf_addf(out, "%d", sqlite3_column_int(a, 1));
            buf_adds(out, ",\"error\":");
            jw_str(out, (const char *)sqlite3_column_text(a, 2));
            buf_addf(out, ",\"duration_ms\":%lld}", (long long)sqlite3_column_int64(a, 3));
        }
        buf_adds(out, "]}");
    }
    rc = r != SQLITE_ROW && r != SQLITE_DONE ? LEADD_EDB : 0;
    sqlite3_exec(rd->db, "COMMIT", NULL, NULL, NULL);
    if (n > limit)
        buf_addf(out, "],\"next_cursor\":\"%lld\"}", last);
    else
        buf_adds(out, "],\"next_cursor\":null}");
    rc = buf_error(out) ? buf_error(out) : rc;
out:
    sqlite3_finalize(s);
    sqlite3_finalize(a);
    reader_put(st, rd);
    return rc;
}

int store_metrics(struct store *st, struct buf *out)
{
    sqlite3_stmt *s = NULL;
    int rc = LEADD_EDB;
    struct reader *rd = reader_get(st);
    if (!rd ||
        sqlite3_prepare_v2(rd->db,
                           "SELECT s, (SELECT count(*) FROM deliveries WHERE " API_STATE " = s)"
                           " FROM (SELECT " SQL_PENDING " AS s UNION ALL SELECT " SQL_DELIVERED
                           " UNION ALL SELECT " SQL_DEAD ")",
                           -1, &s, NULL) != SQLITE_OK)
        goto out;
    rc = buf_adds(out, "# HELP leadd_deliveries Webhook deliveries by state.\n"
                       "# TYPE leadd_deliveries gauge\n");
    while (!rc && sqlite3_step(s) == SQLITE_ROW)
        rc = buf_addf(out, "leadd_deliveries{state=\"%s\"} %lld\n", sqlite3_column_text(s, 0),
                      (long long)sqlite3_column_int64(s, 1));
out:
    sqlite3_finalize(s);
    reader_put(st, rd);
    return rc;
}

bool store_idem_known(struct store *st, const char *form, const char *key,
                      const unsigned char body_hash[SHA256_LEN])
{
    sqlite3_stmt *s = NULL;
    bool known = false;
    struct reader *rd = reader_get(st);
    if (rd && sqlite3_prepare_v2(rd->db,
                                 "SELECT 1 FROM idempotency_keys WHERE form = ?1 AND key = ?2"
                                 " AND body_hash = ?3 AND created_ms >= ?4",
                                 -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, form, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, body_hash, SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, (sqlite3_int64)now_ms() - STORE_IDEM_TTL_MS);
        known = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    reader_put(st, rd);
    return known;
}

int store_session(struct store *st, const unsigned char hash[SHA256_LEN], uint64_t now,
                  uint64_t idle_ms, char *user, size_t cap, uint64_t *seen_ms)
{
    sqlite3_stmt *s = NULL;
    int rc = LEADD_EDB, r;
    struct reader *rd = reader_get(st);
    if (!rd || sqlite3_prepare_v2(rd->db,
                                  "SELECT user, seen_ms FROM sessions WHERE token_hash = ?1"
                                  " AND seen_ms >= ?2",
                                  -1, &s, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_blob(s, 1, hash, SHA256_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)(now - idle_ms));
    if ((r = sqlite3_step(s)) == SQLITE_ROW) {
        snprintf(user, cap, "%s", (const char *)sqlite3_column_text(s, 0));
        *seen_ms = (uint64_t)sqlite3_column_int64(s, 1);
        rc = 0;
    } else {
        rc = r == SQLITE_DONE ? LEADD_ENOTFOUND : LEADD_EDB;
    }
out:
    sqlite3_finalize(s);
    reader_put(st, rd);
    return rc;
}
