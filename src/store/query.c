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
#include "leadd/lead.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

/* A new reader: a read-only connection of its own. */
static struct reader *reader_new(struct store *st)
{
    struct reader *r = calloc(1, sizeof(*r));
    if (r && db_connect(st, true, false, &r->c)) {
        reader_free(r);
        r = NULL;
    }
    return r;
}

void reader_free(struct reader *r)
{
    leadrows_finalize(&r->lead);
    sqlc_close(&r->c);
    free(r);
}

struct reader *reader_get(struct store *st)
{
    pthread_mutex_lock(&st->rmu);
    /* PostgreSQL's connections are a server's resource: at most pool a node */
    while (!st->readers && st->pool && st->nreaders >= st->pool)
        pthread_cond_wait(&st->rcv, &st->rmu);
    struct reader *r = st->readers;
    if (r)
        st->readers = r->next;
    else
        st->nreaders++;
    pthread_mutex_unlock(&st->rmu);
    if (!r && !(r = reader_new(st))) {
        pthread_mutex_lock(&st->rmu);
        st->nreaders--;
        pthread_cond_signal(&st->rcv);
        pthread_mutex_unlock(&st->rmu);
    }
    return r;
}

void reader_put(struct store *st, struct reader *r)
{
    if (!r)
        return;
    bool lost = !sqlc_ok(r->c); /* a lost connection is not kept: the next is made anew */
    if (lost)
        reader_free(r);
    pthread_mutex_lock(&st->rmu);
    if (lost) {
        st->nreaders--;
    } else {
        r->next = st->readers;
        st->readers = r;
    }
    pthread_cond_signal(&st->rcv);
    pthread_mutex_unlock(&st->rmu);
}

void readers_close(struct store *st)
{
    struct reader *r = st->readers;
    while (r) {
        struct reader *next = r->next;
        reader_free(r);
        r = next;
    }
    st->readers = NULL;
    st->nreaders = 0;
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

void where_build(struct where *w, const struct lead_filter *f, unsigned flags, const struct sqlc *c)
{
    buf_init(&w->sql, 4096);
    w->n = 0;
    w->rc = buf_adds(&w->sql, flags & WHERE_ERASED ? " WHERE true" : " WHERE erased_at IS NULL");
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
    /* written so a planner expects what is so, most leads not spam: as
     * "(flags & ?) = 0" PostgreSQL expected 1 in 200 to pass, and read
     * every lead of a source, or a status, to sort them for a page */
    if (f->spam == 0)
        w_int(w, "(CASE WHEN (flags & ?) = 0 THEN 1 END) IS NOT NULL", LEAD_FLAGS_SPAM);
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
        /* A substring, with LIKE's own wildcards escaped, ignoring the
         * case of ASCII letters (only), as SQLite's LIKE does: the pattern
         * in lowercase, each column folded as the engine needs (sql_fold). */
        const char *o = "", *e = "";
        if (c)
            sql_fold(c, &o, &e);
        size_t n = 0;
        w->like[n++] = '%';
        for (const char *p = f->q; *p && n < sizeof(w->like) - 3; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                w->like[n++] = '\\';
            w->like[n++] = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        }
        w->like[n++] = '%';
        w->like[n] = '\0';
        char clause[256];
        snprintf(clause, sizeof(clause),
                 "(%semail%s LIKE ? ESCAPE '\\' OR %sname%s LIKE ? ESCAPE '\\' OR %scompany%s"
                 " LIKE ? ESCAPE '\\')",
                 o, e, o, e, o, e);
        w_text(w, clause, w->like);
    }
}

/* Prepares sql, which holds w's WHERE (once, or in each part of a union),
 * with w's values bound. */
static int where_prepare_sql(struct sqlc *db, const struct where *w, const char *sql,
                             struct sqls **out)
{
    int rc = w->rc ? w->rc : sqls_prepare(db, sql, out);
    for (int i = 0; !rc && i < w->n; i++) {
        if (w->b[i].is_int)
            sqls_int(*out, i + 1, w->b[i].i);
        else
            /* Copied: the statement may be stepped after w is gone (an
             * export steps it from the response callback). */
            sqls_text(*out, i + 1, w->b[i].s, true);
    }
    return rc;
}

int where_prepare(struct sqlc *db, struct where *w, const char *head, const char *tail,
                  struct sqls **out)
{
    struct buf sql = BUF_INIT(8192);
    buf_adds(&sql, head);
    buf_adds(&sql, buf_str(&w->sql));
    buf_adds(&sql, tail);
    int rc = buf_error(&sql);
    rc = rc ? rc : where_prepare_sql(db, w, sql.ptr, out);
    buf_release(&sql);
    return rc;
}

/* A page of leads whose filter few may match (grade, qualified, score, only
 * spam) is read in two parts. The leads past the rollup's mark (SQLite's
 * writer folds them every ROLLUP_FOLD_LEADS or ROLLUP_FOLD_MS) straight
 * from leads; the older ones through lead_filters (by the leads' rowids,
 * which grow as their ids do), kept as leads are counted, not by each
 * insert (an index on leads costs every commit). Its indexes hold each
 * bucket's rows (grade, qualified and spam in one number) and each score's
 * in rowid order, so the newest rows of one key are the start of a range
 * read backwards. The page is the newest of a union: of each score in the
 * filter's range that some lead has (found by one index probe each), or,
 * with no score in the filter, of each bucket it allows; each part stops
 * at a page. It costs the same at every size of the table (a count of the
 * matches first, as this once did, cost their number). A range holding
 * more than FILTER_KEYS scores is read newest first through the table. */
#define FILTER_KEYS 64

static bool bucketed(const struct lead_filter *f)
{
    return f->grade || f->qualified >= 0 || f->spam == 1 || f->has_min_score || f->has_max_score;
}

/* The buckets f allows: their numbers, as migrations/sqlite/0010 makes
 * them (grade * 4 + qualified * 2 + spam); how many. */
static int buckets_of(const struct lead_filter *f, int keys[12])
{
    int g = f->grade ? str_index(f->grade, lead_grade_names, LEAD_GRADE_COUNT) : -1, n = 0;
    _Static_assert(LEAD_GRADE_HOT == 0 && LEAD_GRADE_WARM == 1 && LEAD_GRADE_COLD == 2,
                   "buckets number grades as lead_grade_names does");
    for (int gi = 0; gi < 3; gi++)
        for (int q = 0; q < 2; q++)
            for (int sp = 0; sp < 2; sp++)
                if ((g < 0 || g == gi) && (f->qualified < 0 || f->qualified == q) &&
                    (f->spam < 0 || f->spam == sp))
                    keys[n++] = gi * 4 + q * 2 + sp;
    return n;
}

/* The scores from lo to hi that lead_filters holds, ascending: at most
 * FILTER_KEYS (*n one more when there are more). */
static int scores_in(struct sqlc *db, long long lo, long long hi, long long *v, int *n)
{
    struct sqls *s = NULL;
    int rc = sqls_prepare(db,
                          "SELECT score FROM lead_filters WHERE score >= ?1 AND score <= ?2"
                          " ORDER BY score LIMIT 1",
                          &s);
    *n = 0;
    for (long long from = lo; !rc && *n <= FILTER_KEYS;) {
        sqls_int(s, 1, from);
        sqls_int(s, 2, hi);
        int r = sqls_step(s);
        long long score = r == SQL_ROW ? sqls_col_int(s, 0) : 0;
        sqls_reset(s);
        if (r != SQL_ROW) {
            rc = r == SQL_DONE ? 0 : LEADD_EDB;
            break;
        }
        v[(*n)++] = score;
        if (score == LLONG_MAX)
            break;
        from = score + 1;
    }
    sqls_finalize(&s);
    return rc;
}

/* The lead_filters part of a page: the ids of its want newest leads that
 * match f (w: the filter on the lead itself, its values ?1..?w->n; a
 * cursor below the mark bounds the rowids as ?w->n+1), into b; *none when
 * no key can match. */
static int filters_sql(struct sqlc *db, const struct lead_filter *f, const struct where *w,
                       bool cursor_below, int want, struct buf *b, bool *none)
{
    int bk[12], nb = buckets_of(f, bk), nk = 0, rc = 0;
    long long keys[FILTER_KEYS + 1];
    bool by_score = f->has_min_score || f->has_max_score;
    const char *col = by_score ? "score" : "bucket";
    const char *idx = by_score ? "lead_filters_score" : "lead_filters_bucket";
    char buckets[64] = "", cursor[32] = "";
    for (int i = 0, n = 0; i < nb; i++)
        n += snprintf(buckets + n, sizeof(buckets) - (size_t)n, "%s%d", i ? "," : "", bk[i]);
    if (cursor_below)
        snprintf(cursor, sizeof(cursor), " AND f.rid < ?%d", w->n + 1);
    if (by_score) {
        rc = scores_in(db, f->has_min_score ? f->min_score : LLONG_MIN,
                       f->has_max_score ? f->max_score : LLONG_MAX, keys, &nk);
    } else {
        for (nk = 0; nk < nb; nk++)
            keys[nk] = bk[nk];
    }
    *none = !rc && (!nb || !nk);
    if (rc || *none)
        return rc;
    bool hints = sql_index_hints(db), scan = nk > FILTER_KEYS;
    buf_adds(b, "SELECT (SELECT id FROM leads WHERE rowid = u.r) FROM (");
    for (int i = 0; i < (scan ? 1 : nk); i++) {
        buf_addf(b, "%sSELECT r FROM (SELECT f.rid AS r FROM lead_filters AS f%s%s WHERE",
                 i ? " UNION ALL " : "", hints ? (scan ? " NOT INDEXED" : " INDEXED BY ") : "",
                 hints && !scan ? idx : "");
        if (scan) {
            buf_adds(b, " true");
            if (f->has_min_score)
                buf_addf(b, " AND f.score >= %lld", f->min_score);
            if (f->has_max_score)
                buf_addf(b, " AND f.score <= %lld", f->max_score);
        } else
            buf_addf(b, " f.%s = %lld", col, keys[i]);
        /* the lead's check a subquery each row runs by its key (as EXISTS,
         * PostgreSQL joined every lead matching it first), and written so
         * a planner expects most rows to pass, as they do (as "= 1" it
         * expected few, and sorted the whole key before its LIMIT) */
        if (by_score && nb < 12) /* a bucket key is its own (a planner multiplies them) */
            buf_addf(b, " AND f.bucket IN (%s)", buckets);
        buf_addf(b,
                 "%s AND (SELECT 1 FROM leads%s AND rowid = f.rid) IS NOT NULL"
                 " ORDER BY f.rid DESC LIMIT %d) AS k%d",
                 cursor, buf_str(&w->sql), want, i);
    }
    buf_addf(b, ") AS u ORDER BY u.r DESC LIMIT %d", want);
    return buf_error(b);
}

/* Steps s, adding up to room ids to v; returns how many. */
static int take_ids(struct sqls *s, char (*v)[ULID_LEN + 1], int room, int *r)
{
    int n = 0;
    while (n < room && (*r = sqls_step(s)) == SQL_ROW)
        snprintf(v[n++], ULID_LEN + 1, "%s", sqls_col(s, 0));
    if (n == room)
        *r = SQL_DONE;
    return n;
}

/* The ids of a page (limit + 1, to know if there is more), newest first. */
static int page_ids(struct reader *rd, const struct lead_filter *f, char (*ids)[ULID_LEN + 1],
                    int *n)
{
    struct where w;
    struct buf sql = BUF_INIT(8192);
    struct sqls *s = NULL;
    char limit[48], upto[ULID_LEN + 1] = "";
    int want = f->limit + 1, r = SQL_DONE, rc;
    *n = 0;
    where_build(&w, f, f->cursor ? WHERE_CURSOR : 0, rd->c);
    snprintf(limit, sizeof(limit), " ORDER BY id DESC LIMIT %d", want);
    if (!bucketed(f)) {
        if (!(rc = where_prepare(rd->c, &w, "SELECT id FROM leads", limit, &s)))
            *n = take_ids(s, ids, want, &r);
        goto out;
    }
    /* the mark, and the cursor's rowid (rowids grow as ids do). lead_filters
     * holds the folded leads, all at or below the mark in this snapshot, so
     * only a cursor below the mark bounds its part. (The mark is a lead's id
     * on SQLite, a time on PostgreSQL: no lead's rowid stands for it.) */
    if ((rc = sqls_prepare(
             rd->c, "SELECT upto, (SELECT rowid FROM leads WHERE id = ?1) FROM rollup_mark", &s)))
        goto out;
    rc = LEADD_EDB;
    sqls_text(s, 1, f->cursor, false); /* the caller's, outlives s */
    if (sqls_step(s) != SQL_ROW)
        goto out;
    snprintf(upto, sizeof(upto), "%s", sqls_col(s, 0));
    long long cursor_rid = sqls_col_int(s, 1);
    bool cursor_below = f->cursor && !sqls_col_null(s, 1) && strcmp(f->cursor, upto) <= 0;
    sqls_finalize(&s);
    /* the leads past the mark: the newest */
    char tail[96];
    snprintf(tail, sizeof(tail), " AND id > ?%d%s", w.n + 1, limit);
    if ((rc = where_prepare(rd->c, &w, "SELECT id FROM leads", tail, &s)))
        goto out;
    sqls_text(s, w.n + 1, upto, true);
    *n = take_ids(s, ids, want, &r);
    sqls_finalize(&s);
    if (*n == want || (r != SQL_DONE && r != SQL_ROW) || !*upto)
        goto out;
    /* then the older ones, through lead_filters; each checked on the lead
     * for the rest of the filter (w) */
    bool none = false;
    if ((rc = filters_sql(rd->c, f, &w, cursor_below, want - *n, &sql, &none)) || none ||
        (rc = where_prepare_sql(rd->c, &w, buf_str(&sql), &s)))
        goto out;
    if (cursor_below)
        sqls_int(s, w.n + 1, cursor_rid);
    *n += take_ids(s, ids + *n, want - *n, &r);
out:
    if (!rc && r != SQL_DONE && r != SQL_ROW)
        rc = LEADD_EDB;
    sqls_finalize(&s);
    buf_release(&sql);
    buf_release(&w.sql);
    return rc;
}

int store_list_leads(struct store *st, const struct lead_filter *f, store_lead_fn fn, void *arg,
                     char next[ULID_LEN + 1])
{
    char(*ids)[ULID_LEN + 1] = calloc((size_t)f->limit + 1, sizeof(*ids));
    int rc = LEADD_EDB, n = 0;
    struct reader *rd = ids ? reader_get(st) : NULL;
    if (!rd)
        goto out;
    /* The page's ids and leads in one read transaction: one snapshot. */
    sql_begin_read(rd->c);
    rc = page_ids(rd, f, ids, &n);
    if (!rc && n) /* the page's leads at once: no statement per lead */
        rc = leadrows_each(&rd->lead, rd->c, (const char(*)[ULID_LEN + 1]) ids,
                           n < f->limit ? n : f->limit, f->viewer, fn, arg);
    sql_end_read(rd->c);
out:
    /* last: f->cursor may be next itself */
    snprintf(next, ULID_LEN + 1, "%s", !rc && n > f->limit ? ids[f->limit - 1] : "");
    reader_put(st, rd);
    free(ids);
    return rc;
}

/* store_get_lead's: whether fn saw the lead. */
struct found {
    store_lead_fn fn;
    void *arg;
    bool seen;
};

static int found(void *arg, const struct lead_row *lead)
{
    struct found *f = arg;
    f->seen = true;
    return f->fn(f->arg, lead);
}

int store_get_lead(struct store *st, const char *id, const char *viewer, store_lead_fn fn,
                   void *arg)
{
    char ids[1][ULID_LEN + 1];
    struct found f = {fn, arg, false};
    if (strlen(id) != ULID_LEN)
        return LEADD_ENOTFOUND; /* no lead has that id */
    memcpy(ids[0], id, ULID_LEN + 1);
    struct reader *rd = reader_get(st);
    if (!rd)
        return LEADD_EDB;
    sql_begin_read(rd->c);
    int rc =
        leadrows_each(&rd->lead, rd->c, (const char(*)[ULID_LEN + 1]) ids, 1, viewer, found, &f);
    sql_end_read(rd->c);
    reader_put(st, rd);
    return rc ? rc : f.seen ? 0 : LEADD_ENOTFOUND;
}

int store_leads_since(struct store *st, const char *after, size_t max,
                      int (*fn)(const char *id, const char *form, unsigned flags, void *arg),
                      void *arg, size_t *n)
{
    struct sqls *s = NULL;
    int rc = LEADD_EDB, r = SQL_DONE;
    *n = 0;
    struct reader *rd = reader_get(st);
    if (!rd || sqls_prepare(rd->c,
                            "SELECT id, form, flags FROM leads WHERE id > ?1"
                            " ORDER BY id LIMIT ?2",
                            &s))
        goto out;
    sqls_text(s, 1, after, false); /* the caller's, and outlives the statement */
    sqls_int(s, 2, (long long)max);
    rc = 0;
    while (!rc && (r = sqls_step(s)) == SQL_ROW) {
        rc = fn(sqls_col(s, 0), sqls_col(s, 1), (unsigned)sqls_col_int(s, 2), arg);
        ++*n;
    }
    if (!rc && r != SQL_DONE)
        rc = LEADD_EDB;
out:
    sqls_finalize(&s);
    if (rd)
        reader_put(st, rd);
    return rc;
}

int store_stats(struct store *st, const char *group_by, const struct lead_filter *f,
                store_group_fn fn, void *arg)
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
    struct sqls *s = NULL;
    char head[320];
    int rc = LEADD_EDB, r = SQL_DONE;
    g.spam = -1;
    struct reader *rd = reader_get(st);
    /* tombstones count: erasure removes people, not numbers */
    where_build(&w, &g, WHERE_ERASED, rd ? rd->c : NULL);
    snprintf(head, sizeof(head),
             "SELECT %s AS k, count(*), sum(qualified),"
             " count(CASE WHEN status = 'converted' THEN 1 END),"
             " count(CASE WHEN (flags & %u) != 0 THEN 1 END) FROM leads",
             expr, LEAD_FLAGS_SPAM);
    /* ties in the order of the keys' bytes, as SQLite compares text, whatever
     * the PostgreSQL database's collation */
    char tail[128];
    if (rd) /* ties by the keys' bytes, no key first, on both engines */
        snprintf(tail, sizeof(tail), " GROUP BY k ORDER BY count(*) DESC, %s%s NULLS FIRST", expr,
                 sql_bytewise(rd->c));
    if (!rd || (rc = where_prepare(rd->c, &w, head, tail, &s)))
        goto out;
    while (!rc && (r = sqls_step(s)) == SQL_ROW) {
        struct store_group grp = {sqls_col(s, 0), sqls_col_int(s, 1), sqls_col_int(s, 2),
                                  sqls_col_int(s, 3), sqls_col_int(s, 4)};
        rc = fn(arg, &grp);
    }
    rc = rc ? rc : r != SQL_DONE ? LEADD_EDB : 0;
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    buf_release(&w.sql);
    return rc;
}

/* "delivering" is a moment inside an attempt: the API calls it pending. */
#define API_STATE "(CASE state WHEN " SQL_DELIVERING " THEN " SQL_PENDING " ELSE state END)"

#define ATTEMPTS_TEXT_MAX (16u << 20) /* a page's attempts' text, at most */
#define ATTEMPTS_MAX (1u << 20)       /* and their number */

int store_list_deliveries(struct store *st, const char *state, const char *lead, long long before,
                          int limit, store_delivery_fn fn, void *arg, long long *next)
{
/* the page's deliveries (?4: limit + 1, to know if there is more) */
#define PAGE                                                                                       \
    " FROM deliveries WHERE (CAST(?1 AS text) IS NULL OR " API_STATE " = ?1) AND"                  \
    " (CAST(?2 AS text) IS NULL OR lead_id = ?2) AND (?3 = 0 OR id < ?3)"                          \
    " ORDER BY id DESC LIMIT ?4"
    struct sqls *s = NULL, *a = NULL;
    struct sql_kept k;
    struct store_attempt *att = NULL;
    int rc = LEADD_EDB, r = SQL_DONE, n = 0;
    long long last = 0;
    size_t at = 0; /* the next kept attempt */
    struct reader *rd = reader_get(st);
    sql_kept_init(&k, 5, ATTEMPTS_TEXT_MAX, ATTEMPTS_MAX);
    *next = 0;
    if (!rd ||
        sqls_prepare(rd->c,
                     "SELECT id, lead_id, webhook, webhook_id, " API_STATE " AS st,"
                     " next_attempt_ms, why" PAGE,
                     &s) ||
        sqls_prepare(rd->c,
                     "SELECT delivery_id, at, status, error, duration_ms FROM delivery_attempts"
                     " WHERE delivery_id IN (SELECT id" PAGE ") ORDER BY delivery_id DESC, rowid",
                     &a))
        goto out;
    struct sqls *both[] = {a, s};
    for (int i = 0; i < 2; i++) {
        sqls_text(both[i], 1, state, false);
        sqls_text(both[i], 2, lead, false);
        sqls_int(both[i], 3, before);
        sqls_int(both[i], 4, limit + 1);
    }
    /* one snapshot: the page's attempts (all at once), then its deliveries,
     * both newest first, each delivery's attempts the run of its id */
    sql_begin_read(rd->c);
    rc = 0;
    while (!rc && (r = sqls_step(a)) == SQL_ROW)
        rc = sql_keep(&k, a, 0);
    if (!rc && r != SQL_DONE)
        rc = LEADD_EDB;
    if (!rc && k.n && !(att = calloc(k.n, sizeof(*att))))
        rc = LEADD_ENOMEM;
    while (!rc && (r = sqls_step(s)) == SQL_ROW) {
        if (n++ == limit) {
            *next = last; /* the page after starts below the last shown */
            break;
        }
        struct store_delivery_row d = {
            .id = sqls_col_int(s, 0),
            .lead = sqls_col(s, 1),
            .webhook = sqls_col(s, 2),
            .webhook_id = sqls_col(s, 3),
            .state = sqls_col(s, 4),
            .next_attempt_ms = (uint64_t)sqls_col_int(s, 5),
            .why = sqls_col(s, 6),
            .attempts = att,
        };
        for (; at < k.n && sql_kept_int(&k, at, 0) >= d.id; at++) {
            if (sql_kept_int(&k, at, 0) > d.id)
                continue;
            att[d.nattempts++] = (struct store_attempt){
                .at = sql_kept_col(&k, at, 1),
                .has_status = sql_kept_col(&k, at, 2) != NULL,
                .status = sql_kept_int(&k, at, 2),
                .error = sql_kept_col(&k, at, 3),
                .duration_ms = sql_kept_int(&k, at, 4),
            };
        }
        last = d.id;
        rc = fn(arg, &d);
    }
    if (!rc && r != SQL_ROW && r != SQL_DONE)
        rc = LEADD_EDB;
    sql_end_read(rd->c);
out:
    sqls_finalize(&s);
    sqls_finalize(&a);
    sql_kept_release(&k);
    free(att);
    reader_put(st, rd);
    return rc;
#undef PAGE
}

int store_metrics(struct store *st, struct buf *out)
{
    struct sqls *s = NULL;
    int rc = LEADD_EDB;
    struct reader *rd = reader_get(st);
    if (!rd ||
        sqls_prepare(rd->c,
                     "SELECT s, (SELECT count(*) FROM deliveries WHERE " API_STATE " = s)"
                     " FROM (SELECT " SQL_PENDING " AS s UNION ALL SELECT " SQL_DELIVERED
                     " UNION ALL SELECT " SQL_DEAD " UNION ALL SELECT " SQL_CANCELLED ") AS t",
                     &s))
        goto out;
    rc = buf_adds(out, "# HELP leadd_deliveries Webhook deliveries by state.\n"
                       "# TYPE leadd_deliveries gauge\n");
    while (!rc && sqls_step(s) == SQL_ROW)
        rc = buf_addf(out, "leadd_deliveries{state=\"%s\"} %lld\n", sqls_col(s, 0),
                      sqls_col_int(s, 1));
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}

bool store_idem_known(struct store *st, const char *form, const char *key,
                      const unsigned char body_hash[SHA256_LEN])
{
    struct sqls *s = NULL;
    bool known = false;
    struct reader *rd = reader_get(st);
    if (rd && !sqls_prepare(rd->c,
                            "SELECT 1 FROM idempotency_keys WHERE form = ?1 AND key = ?2"
                            " AND body_hash = ?3 AND created_ms >= ?4",
                            &s)) {
        sqls_text(s, 1, form, false);
        sqls_text(s, 2, key, false);
        sqls_blob(s, 3, body_hash, SHA256_LEN);
        sqls_int(s, 4, (long long)now_ms() - STORE_IDEM_TTL_MS);
        known = sqls_step(s) == SQL_ROW;
    }
    sqls_finalize(&s);
    reader_put(st, rd);
    return known;
}

int store_session(struct store *st, const unsigned char hash[SHA256_LEN], uint64_t now,
                  uint64_t idle_ms, struct store_session_row *out)
{
    struct sqls *s = NULL;
    int rc = LEADD_EDB, r;
    struct reader *rd = reader_get(st);
    if (!rd || sqls_prepare(rd->c,
                            "SELECT \"user\", seen_ms, kind, credential FROM sessions"
                            " WHERE token_hash = ?1 AND seen_ms >= ?2",
                            &s))
        goto out;
    sqls_blob(s, 1, hash, SHA256_LEN);
    sqls_int(s, 2, (long long)(now - idle_ms));
    if ((r = sqls_step(s)) == SQL_ROW) {
        snprintf(out->user, sizeof(out->user), "%s", sqls_col(s, 0));
        out->seen_ms = (uint64_t)sqls_col_int(s, 1);
        out->key = !strcmp(sqls_col(s, 2), "key");
        snprintf(out->credential, sizeof(out->credential), "%s", sqls_col(s, 3));
        rc = 0;
    } else {
        rc = r == SQL_DONE ? LEADD_ENOTFOUND : LEADD_EDB;
    }
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}
