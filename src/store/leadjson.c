/* leadjson.c: a lead as the API (and the webhook payload) shows it. The JSON
 * columns are spliced in as stored: they were written by our own writer. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/jsonw.h"
#include "leadd/money.h"
#include "leadd/lead.h"

static const char SQL_LEAD[] =
    "SELECT " LEAD_COLUMNS " FROM leads WHERE id = ?1 AND erased_at IS NULL";
static const char SQL_FWD[] =
    "SELECT count(CASE WHEN state IN (" SQL_PENDING "," SQL_DELIVERING ") THEN 1 END),"
    " count(CASE WHEN state = " SQL_DEAD " THEN 1 END),"
    " count(*), coalesce(max(attempts), 0),"
    " count(CASE WHEN state = " SQL_CANCELLED " THEN 1 END) FROM deliveries WHERE lead_id = ?1";
static const char SQL_READ[] = "SELECT 1 FROM lead_reads WHERE \"user\" = ?1 AND lead_id = ?2";
static const char SQL_HISTORY[] =
    "SELECT at, status, note, actor, owner, spam FROM lead_history WHERE lead_id = ?1"
    " ORDER BY rowid";

static const char *col(struct sqls *s, int i)
{
    const char *t = sqls_col(s, i);
    return t ? t : "";
}

/* A stored JSON column, spliced in as it is. */
static void raw(struct buf *b, const char *name, struct sqls *s, int i)
{
    buf_adds(b, name);
    buf_add(b, col(s, i), sqls_col_len(s, i));
}

/* Built with buf_add()/jw_*() rather than one buf_addf(): a page of fifty leads
 * spent a fifth of its time in vsnprintf copying the stored JSON through. */
int leadjson_row(struct sqls *s, struct buf *b)
{
    buf_adds(b, "{\"id\":");
    jw_str(b, col(s, 0));
    buf_adds(b, ",\"form\":");
    jw_str(b, col(s, 1));
    buf_adds(b, ",\"created_at\":");
    jw_str(b, col(s, 2));
    buf_adds(b, ",\"status\":");
    jw_str(b, col(s, 3));
    raw(b, ",\"fields\":", s, 4);
    raw(b, ",\"extra\":", s, 5);
    raw(b, ",\"attribution\":", s, 6);
    raw(b, ",\"client\":", s, 7);
    buf_adds(b, ",\"score\":");
    jw_int(b, sqls_col_int(s, 8));
    buf_adds(b, ",\"grade\":");
    jw_str(b, col(s, 9));
    buf_adds(b, sqls_col_int(s, 10) ? ",\"qualified\":true" : ",\"qualified\":false");
    raw(b, ",\"score_reasons\":", s, 11);
    buf_adds(b, ",\"flags\":");
    lead_flags_json((unsigned)sqls_col_int(s, 12), b);
    buf_adds(b, ",\"duplicate_of\":");
    jw_str(b, sqls_col(s, 13));
    raw(b, ",\"crm_ids\":", s, 14);
    buf_adds(b, ",\"owner\":");
    jw_str(b, sqls_col(s, 15));
    const char *cur = sqls_col(s, 17);
    if (cur && !sqls_col_null(s, 16)) {
        char value[MONEY_STR];
        money_format(sqls_col_int(s, 16), money_exponent(cur), value);
        buf_addf(b, ",\"value\":\"%s\",\"currency\":", value);
        jw_str(b, cur);
    } else {
        buf_adds(b, ",\"value\":null,\"currency\":null");
    }
    return buf_error(b);
}

/* The forwarding summary from SQL_FWD's columns, at column i on. */
static void forwarding(struct sqls *s, int i, struct buf *b)
{
    long long pending = sqls_col_int(s, i), dead = sqls_col_int(s, i + 1);
    long long total = sqls_col_int(s, i + 2), attempts = sqls_col_int(s, i + 3);
    long long cancelled = sqls_col_int(s, i + 4);
    const char *state = !total      ? "none"
                        : pending   ? delivery_state_names[DELIVERY_PENDING]
                        : dead      ? delivery_state_names[DELIVERY_DEAD]
                        : cancelled ? delivery_state_names[DELIVERY_CANCELLED]
                                    : delivery_state_names[DELIVERY_DELIVERED];
    buf_adds(b, ",\"forwarding\":{\"state\":\"");
    buf_adds(b, state);
    /* attempts: what the hardest of its deliveries took (two targets each
     * reached at once is 1, not 2); deliveries: how many targets it has */
    buf_adds(b, "\",\"deliveries\":");
    jw_int(b, total);
    buf_adds(b, ",\"attempts\":");
    jw_int(b, attempts);
    buf_addc(b, '}');
}

/* One history entry from SQL_HISTORY's columns, at column i on; n: how
 * many came before it. */
static void history_row(struct sqls *s, int i, int n, struct buf *b)
{
    buf_adds(b, n ? ",{\"at\":" : "{\"at\":");
    jw_str(b, col(s, i));
    buf_adds(b, ",\"status\":");
    jw_str(b, col(s, i + 1));
    buf_adds(b, ",\"note\":");
    jw_str(b, sqls_col(s, i + 2));
    buf_adds(b, ",\"by\":");
    jw_str(b, sqls_col(s, i + 3));
    buf_adds(b, ",\"owner\":");
    jw_str(b, sqls_col(s, i + 4));
    buf_adds(b, sqls_col_null(s, i + 5)  ? ",\"spam\":null"
                : sqls_col_int(s, i + 5) ? ",\"spam\":true"
                                         : ",\"spam\":false");
    buf_addc(b, '}');
}

int leadjson_prepare(struct leadjson_stmts *c, struct sqlc *db)
{
    c->db = db;
    if (sqls_prepare(db, SQL_LEAD, &c->lead) || sqls_prepare(db, SQL_FWD, &c->fwd) ||
        sqls_prepare(db, SQL_HISTORY, &c->hist) || sqls_prepare(db, SQL_READ, &c->read))
        return LEADD_EDB;
    return 0;
}

void leadjson_finalize(struct leadjson_stmts *c)
{
    sqls_finalize(&c->lead);
    sqls_finalize(&c->fwd);
    sqls_finalize(&c->hist);
    sqls_finalize(&c->read);
    sqls_finalize(&c->page);
    sqls_finalize(&c->page_hist);
    memset(c, 0, sizeof(*c));
}

int leadjson_get(struct leadjson_stmts *c, const char *id, const char *viewer, struct buf *b)
{
    int rc = LEADD_EDB, r;
    struct sqls *s = c->lead;
    sqls_text(s, 1, id, false);
    r = sqls_step(s);
    if (r == SQL_DONE) {
        rc = LEADD_ENOTFOUND;
        goto out;
    }
    if (r != SQL_ROW || (rc = leadjson_row(s, b)))
        goto out;

    if (viewer) {
        s = c->read;
        sqls_text(s, 1, viewer, false);
        sqls_text(s, 2, id, false);
        r = sqls_step(s);
        buf_adds(b, r == SQL_ROW ? ",\"read\":true" : ",\"read\":false");
        sqls_reset(s);
        if (r != SQL_ROW && r != SQL_DONE)
            goto out;
    }
    rc = LEADD_EDB;
    s = c->fwd;
    sqls_text(s, 1, id, false);
    if (sqls_step(s) != SQL_ROW)
        goto out;
    forwarding(s, 0, b);
    buf_adds(b, ",\"history\":[");
    if ((rc = buf_error(b)))
        goto out;

    s = c->hist;
    sqls_text(s, 1, id, false);
    int n = 0;
    while (!buf_error(b) && (r = sqls_step(s)) == SQL_ROW)
        history_row(s, 0, n++, b);
    buf_adds(b, "]}");
    rc = buf_error(b) ? buf_error(b) : r != SQL_DONE ? LEADD_EDB : 0;
out:
    sqls_reset(c->lead);
    sqls_reset(c->fwd);
    sqls_reset(c->hist);
    sqls_reset(c->read);
    return rc;
}

/* ---- a page of leads: two statements, whatever its size ---- */

#define PAGE_LEAD_COLUMNS 18 /* LEAD_COLUMNS' count */

/* ids[0..n) as " IN (?from, ..., ?from+n-1)". */
static void in_list(struct buf *sql, int from, int n)
{
    buf_adds(sql, " IN (");
    for (int i = 0; i < n; i++)
        buf_addf(sql, i ? ", ?%d" : "?%d", from + i);
    buf_addc(sql, ')');
}

static int by_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The page's slot of lead id (slots sorted by id), or -1. */
static int slot_of(char **sorted, int n, const char *id)
{
    char **at = bsearch(&id, sorted, (size_t)n, sizeof(*sorted), by_id);
    return at ? (int)(at - sorted) : -1;
}

/* The page's two statements for n leads, prepared once per size (a
 * reader's pages are nearly all one size: the limit asked). */
static int page_prepare(struct leadjson_stmts *c, int n)
{
    struct buf sql = BUF_INIT(64 * 1024);
    int rc = 0;
    if (c->page && c->page_n == n)
        return 0;
    sqls_finalize(&c->page);
    sqls_finalize(&c->page_hist);
    buf_adds(&sql,
             "SELECT " LEAD_COLUMNS ", r.lead_id IS NOT NULL, coalesce(d.pending, 0),"
             " coalesce(d.dead, 0), coalesce(d.total, 0), coalesce(d.attempts, 0),"
             " coalesce(d.cancelled, 0) FROM leads LEFT JOIN lead_reads AS r ON"
             " r.lead_id = leads.id AND r.\"user\" = ?1 LEFT JOIN (SELECT lead_id,"
             " count(CASE WHEN state IN (" SQL_PENDING "," SQL_DELIVERING ") THEN 1 END)"
             " AS pending, count(CASE WHEN state = " SQL_DEAD " THEN 1 END) AS dead,"
             " count(*) AS total, max(attempts) AS attempts, count(CASE WHEN state = " SQL_CANCELLED
             " THEN 1 END) AS cancelled FROM deliveries WHERE lead_id");
    in_list(&sql, 2, n);
    buf_adds(&sql, " GROUP BY lead_id) AS d ON d.lead_id = leads.id WHERE leads.id");
    in_list(&sql, 2, n);
    buf_adds(&sql, " AND erased_at IS NULL");
    if ((rc = buf_error(&sql)) || (rc = sqls_prepare(c->db, buf_str(&sql), &c->page)))
        goto out;
    buf_reset(&sql);
    buf_adds(&sql, "SELECT lead_id, at, status, note, actor, owner, spam FROM lead_history"
                   " WHERE lead_id");
    in_list(&sql, 1, n);
    buf_adds(&sql, " ORDER BY lead_id, rowid");
    if (!(rc = buf_error(&sql)) && !(rc = sqls_prepare(c->db, buf_str(&sql), &c->page_hist)))
        c->page_n = n;
out:
    buf_release(&sql);
    return rc;
}

int leadjson_each(struct leadjson_stmts *c, const char (*ids)[ULID_LEN + 1], int n,
                  const char *viewer, int (*fn)(void *arg, int i, const struct buf *json),
                  void *arg)
{
    struct buf *one = calloc((size_t)n + 1, sizeof(*one));
    char **sorted = calloc((size_t)n + 1, sizeof(*sorted));
    int *order = calloc((size_t)n + 1, sizeof(*order)); /* sorted slot -> page position */
    struct sqls *s = NULL;
    int rc = one && sorted && order ? 0 : LEADD_ENOMEM, r = SQL_DONE;
    for (int i = 0; !rc && i < n; i++)
        sorted[i] = (char *)ids[i];
    if (rc || !n || (rc = page_prepare(c, n)))
        goto out;
    qsort(sorted, (size_t)n, sizeof(*sorted), by_id);
    for (int i = 0; i < n; i++) {
        order[slot_of(sorted, n, ids[i])] = i;
        buf_init(&one[i], 16u << 20);
    }
    /* 1. the leads, each with its read mark and its deliveries' summary */
    s = c->page;
    sqls_text(s, 1, viewer, false);
    for (int i = 0; i < n; i++)
        sqls_text(s, i + 2, ids[i], false);
    while ((r = sqls_step(s)) == SQL_ROW) {
        int k = slot_of(sorted, n, sqls_col(s, 0));
        if (k < 0)
            continue;
        struct buf *b = &one[order[k]];
        leadjson_row(s, b);
        if (viewer)
            buf_adds(b, sqls_col_int(s, PAGE_LEAD_COLUMNS) ? ",\"read\":true" : ",\"read\":false");
        forwarding(s, PAGE_LEAD_COLUMNS + 1, b);
        buf_adds(b, ",\"history\":[");
    }
    sqls_reset(s);
    if (r != SQL_DONE) {
        rc = LEADD_EDB;
        goto out;
    }
    /* 2. their histories, in the order each was written */
    s = c->page_hist;
    for (int i = 0; i < n; i++)
        sqls_text(s, i + 1, ids[i], false);
    int prev = -1, count = 0;
    while ((r = sqls_step(s)) == SQL_ROW) {
        int k = slot_of(sorted, n, sqls_col(s, 0));
        if (k < 0 || !one[order[k]].len) /* erased meanwhile: not on the page */
            continue;
        count = k == prev ? count + 1 : 0;
        prev = k;
        history_row(s, 1, count, &one[order[k]]);
    }
    sqls_reset(s);
    if (r != SQL_DONE) {
        rc = LEADD_EDB;
        goto out;
    }
    /* each lead, in the order asked; a lead not found is not there */
    for (int i = 0; !rc && i < n; i++) {
        if (!one[i].len)
            continue;
        buf_adds(&one[i], "]}");
        rc = buf_error(&one[i]);
        rc = rc ? rc : fn(arg, i, &one[i]);
    }
out:
    for (int i = 0; one && i < n; i++)
        buf_release(&one[i]);
    free(one);
    free(sorted);
    free(order);
    return rc;
}

/* leadjson_page's: each lead after the last, comma-separated. */
struct joined {
    struct buf *out;
    int n;
};

static int join(void *arg, int i, const struct buf *json)
{
    struct joined *j = arg;
    (void)i;
    if (j->n++)
        buf_addc(j->out, ',');
    buf_add(j->out, json->ptr, json->len);
    return buf_error(j->out);
}

int leadjson_page(struct leadjson_stmts *c, const char (*ids)[ULID_LEN + 1], int n,
                  const char *viewer, struct buf *out)
{
    struct joined j = {out, 0};
    return leadjson_each(c, ids, n, viewer, join, &j);
}
