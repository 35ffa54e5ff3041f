/* query.c: reads for the query API on a pool of read-only connections.
 * Lists are keyset-paginated by lead id (ULIDs in commit order), newest
 * first: a page costs the same deep in the table as at its top, and a cursor
 * stays valid while new leads arrive (they sort above it). */
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
    /* "+score" is the same value, but no index can serve it. */
    const bool scan = flags & WHERE_SCORE_SCAN;
    if (f->has_min_score)
        w_int(w, scan ? "+score >= ?" : "score >= ?", f->min_score);
    if (f->has_max_score)
        w_int(w, scan ? "+score <= ?" : "score <= ?", f->max_score);
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

/* A page filtered by score is read either from the score index, sorting the
 * leads it matches, or newest first, skipping those that do not match:
 * SQLite cannot tell which is cheaper without knowing how many match, so
 * they are counted first through the index, up to SCORE_FEW. Few: read
 * them all and sort (at most SCORE_FEW); many: at least SCORE_FEW of the
 * leads match, so newest first meets a page of them soon. */
#define SCORE_FEW 20000
enum score_plan { SCORE_NONE, SCORE_BY_INDEX, SCORE_BY_AGE };
static enum score_plan score_plan(sqlite3 *db, const struct lead_filter *f)
{
    sqlite3_stmt *s = NULL;
    long long n = SCORE_FEW + 1;
    if (!f->has_min_score && !f->has_max_score)
        return SCORE_NONE;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM (SELECT 1 FROM leads WHERE score >= ?1 AND"
                           " score <= ?2 LIMIT ?3)",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, f->has_min_score ? f->min_score : INT64_MIN);
        sqlite3_bind_int64(s, 2, f->has_max_score ? f->max_score : INT64_MAX);
        sqlite3_bind_int64(s, 3, SCORE_FEW + 1);
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return n > SCORE_FEW ? SCORE_BY_AGE : SCORE_BY_INDEX;
}

int store_list_leads(struct store *st, const struct lead_filter *f, struct buf *out)
{
    struct where w;
    sqlite3_stmt *s = NULL;
    char last[ULID_LEN + 1] = "";
    char limit[48];
    int rc = LEADD_EDB, r = SQLITE_DONE, n = 0;
    struct reader *rd = reader_get(st);
    enum score_plan plan = rd ? score_plan(rd->db, f) : SCORE_NONE;
    where_build(&w, f,
                (f->cursor ? WHERE_CURSOR : 0) | (plan == SCORE_BY_AGE ? WHERE_SCORE_SCAN : 0));
    if (!rd)
        goto out;
    snprintf(limit, sizeof(limit), " ORDER BY id DESC LIMIT %d", f->limit + 1);
    if ((rc = where_prepare(rd->db, &w,
                            plan == SCORE_BY_INDEX ? "SELECT id FROM leads INDEXED BY leads_score"
                                                   : "SELECT id FROM leads",
                            limit, &s)))
        goto out;
    /* Read the page's ids and leads in one read transaction: one snapshot. */
    sqlite3_exec(rd->db, "BEGIN", NULL, NULL, NULL);
    buf_adds(out, "{\"data\":[");
    while (!rc && !buf_error(out) && (r = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == f->limit) {
            n++;
            break;
        }
        const char *id = (const char *)sqlite3_column_text(s, 0);
        snprintf(last, sizeof(last), "%s", id);
        if (n++)
            buf_addc(out, ',');
        rc = leadjson_get(&rd->lead, last, f->viewer, out);
    }
    if (!rc && r != SQLITE_ROW && r != SQLITE_DONE)
        rc = LEADD_EDB;
    sqlite3_exec(rd->db, "COMMIT", NULL, NULL, NULL);
    /* Which spam the page holds: by default none (a lead flagged too_fast is
     * not lost, it is in spam=true), so the answer says so. */
    const char *spam = f->spam == 0 ? "hidden" : f->spam == 1 ? "only" : "included";
    if (n > f->limit)
        buf_addf(out, "],\"next_cursor\":\"%s\",\"spam_filter\":\"%s\"}", last, spam);
    else
        buf_addf(out, "],\"next_cursor\":null,\"spam_filter\":\"%s\"}", spam);
    rc = rc ? rc : buf_error(out);
out:
    sqlite3_finalize(s);
    reader_put(st, rd);
    buf_release(&w.sql);
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
