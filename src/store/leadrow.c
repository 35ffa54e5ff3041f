/* leadrow.c: leads read back as rows (struct lead_row) for the API, the
 * webhook payloads and the exports; lead_row_json (src/lead/row.c) writes
 * what they show. A set of leads, one or a page, costs two statements: their
 * histories, then the leads with their read marks and deliveries' summaries. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/lead.h"

#define HISTORY_TEXT_MAX (64u << 20) /* a set's histories' text, at most */
#define HISTORY_MAX (1u << 20)       /* and its entries */

static struct lead_text text(struct sqls *s, int i)
{
    return (struct lead_text){sqls_col(s, i), sqls_col_len(s, i)};
}

void lead_row_read(struct sqls *s, struct lead_row *r)
{
    *r = (struct lead_row){
        .id = sqls_col(s, 0),
        .form = sqls_col(s, 1),
        .created_at = sqls_col(s, 2),
        .status = sqls_col(s, 3),
        .fields = text(s, 4),
        .extra = text(s, 5),
        .attribution = text(s, 6),
        .client = text(s, 7),
        .score = sqls_col_int(s, 8),
        .grade = sqls_col(s, 9),
        .qualified = sqls_col_int(s, 10) != 0,
        .score_reasons = text(s, 11),
        .flags = (unsigned)sqls_col_int(s, 12),
        .duplicate_of = sqls_col(s, 13),
        .crm_ids = text(s, 14),
        .owner = sqls_col(s, 15),
        .read = -1,
    };
    if (!sqls_col_null(s, 16) && !sqls_col_null(s, 17)) {
        r->value_minor = sqls_col_int(s, 16);
        r->currency = sqls_col(s, 17);
    }
}

void leadrows_finalize(struct leadrow_stmts *c)
{
    for (int i = 0; i < 2; i++) {
        sqls_finalize(&c->leads[i]);
        sqls_finalize(&c->hist[i]);
    }
    memset(c, 0, sizeof(*c));
}

/* " IN (?from, ..., ?from+n-1)": the set's ids. */
static void in_list(struct buf *sql, int from, int n)
{
    buf_adds(sql, " IN (");
    for (int i = 0; i < n; i++)
        buf_addf(sql, i ? ", ?%d" : "?%d", from + i);
    buf_addc(sql, ')');
}

/* The two statements for sets of n leads, prepared once per size and kept
 * in slot 0 (one lead) or 1 (a reader's pages are nearly all one size: the
 * limit asked). */
static int prepare(struct leadrow_stmts *c, struct sqlc *db, int n)
{
    int k = n == 1 ? 0 : 1, rc = 0;
    if (c->leads[k] && c->n[k] == n)
        return 0;
    sqls_finalize(&c->leads[k]);
    sqls_finalize(&c->hist[k]);
    struct buf sql = BUF_INIT(64 * 1024);
    buf_adds(&sql, "SELECT lead_id, at, status, note, actor, owner, spam FROM lead_history"
                   " WHERE lead_id");
    in_list(&sql, 1, n);
    buf_adds(&sql, " ORDER BY lead_id, rowid");
    if ((rc = buf_error(&sql)) || (rc = sqls_prepare(db, buf_str(&sql), &c->hist[k])))
        goto out;
    buf_reset(&sql);
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
    buf_adds(&sql, " AND erased_at IS NULL ORDER BY leads.id DESC");
    if (!(rc = buf_error(&sql)) && !(rc = sqls_prepare(db, buf_str(&sql), &c->leads[k])))
        c->n[k] = n;
out:
    buf_release(&sql);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The set's slot of lead id (slots sorted by id), or -1. */
static int slot_of(char **sorted, int n, const char *id)
{
    char **at = bsearch(&id, sorted, (size_t)n, sizeof(*sorted), by_id);
    return at ? (int)(at - sorted) : -1;
}

/* A set's histories, read before its leads (kept: lead_id, at, status,
 * note, actor, owner, spam), then as events. */
struct histories {
    struct sql_kept rows;
    struct lead_event *ev;
    size_t *first, *count; /* each slot's entries: ev[first..first+count) */
};

static int history_read(struct histories *h, struct sqls *s, char **sorted, int n)
{
    int r, rc = 0;
    while (!rc && (r = sqls_step(s)) == SQL_ROW) {
        int k = slot_of(sorted, n, sqls_col(s, 0));
        if (k >= 0 && !(rc = sql_keep(&h->rows, s, 0)) && !h->count[k]++)
            h->first[k] = h->rows.n - 1;
    }
    sqls_reset(s);
    if (rc || r != SQL_DONE)
        return rc ? rc : LEADD_EDB;
    if (h->rows.n && !(h->ev = calloc(h->rows.n, sizeof(*h->ev))))
        return LEADD_ENOMEM;
    for (size_t i = 0; i < h->rows.n; i++) {
        const struct sql_kept *k = &h->rows;
        h->ev[i] = (struct lead_event){
            .at = sql_kept_col(k, i, 1),
            .status = sql_kept_col(k, i, 2),
            .note = sql_kept_col(k, i, 3),
            .by = sql_kept_col(k, i, 4),
            .owner = sql_kept_col(k, i, 5),
            .spam = sql_kept_col(k, i, 6) ? sql_kept_int(k, i, 6) != 0 : -1,
        };
    }
    return 0;
}

/* Columns after LEAD_COLUMNS in the set's statement: */
#define COL_READ 18
#define COL_FWD 19 /* pending, dead, total, attempts, cancelled */

/* The forwarding of a lead from its deliveries' counts, at column i on. */
static void forwarding(struct sqls *s, int i, struct lead_row *r)
{
    long long pending = sqls_col_int(s, i), dead = sqls_col_int(s, i + 1);
    long long cancelled = sqls_col_int(s, i + 4);
    r->deliveries = sqls_col_int(s, i + 2);
    r->attempts = sqls_col_int(s, i + 3);
    r->forwarding = !r->deliveries ? "none"
                    : pending      ? delivery_state_names[DELIVERY_PENDING]
                    : dead         ? delivery_state_names[DELIVERY_DEAD]
                    : cancelled    ? delivery_state_names[DELIVERY_CANCELLED]
                                   : delivery_state_names[DELIVERY_DELIVERED];
}

int leadrows_each(struct leadrow_stmts *c, struct sqlc *db, const char (*ids)[ULID_LEN + 1], int n,
                  const char *viewer, store_lead_fn fn, void *arg)
{
    struct histories h = {.ev = NULL};
    char **sorted = calloc((size_t)n + 1, sizeof(*sorted));
    h.first = calloc((size_t)n + 1, sizeof(*h.first));
    h.count = calloc((size_t)n + 1, sizeof(*h.count));
    sql_kept_init(&h.rows, 7, HISTORY_TEXT_MAX, HISTORY_MAX);
    int k = n == 1 ? 0 : 1, r = SQL_DONE;
    int rc = sorted && h.first && h.count ? 0 : LEADD_ENOMEM;
    if (rc || n <= 0 || (rc = prepare(c, db, n)))
        goto out;
    for (int i = 0; i < n; i++)
        sorted[i] = (char *)ids[i];
    qsort(sorted, (size_t)n, sizeof(*sorted), by_id);
    struct sqls *s = c->hist[k];
    for (int i = 0; i < n; i++)
        sqls_text(s, i + 1, ids[i], false);
    if ((rc = history_read(&h, s, sorted, n)))
        goto out;
    /* the leads, newest first, each with its history; a lead not found
     * (erased) is not there */
    s = c->leads[k];
    sqls_text(s, 1, viewer, false);
    for (int i = 0; i < n; i++)
        sqls_text(s, i + 2, ids[i], false);
    while (!rc && (r = sqls_step(s)) == SQL_ROW) {
        struct lead_row row;
        int slot = slot_of(sorted, n, sqls_col(s, 0));
        if (slot < 0)
            continue;
        lead_row_read(s, &row);
        row.detail = true;
        row.read = viewer ? sqls_col_int(s, COL_READ) != 0 : -1;
        forwarding(s, COL_FWD, &row);
        row.history = h.count[slot] ? h.ev + h.first[slot] : NULL;
        row.nhistory = h.count[slot];
        rc = fn(arg, &row);
    }
    sqls_reset(s);
    if (!rc && r != SQL_DONE && r != SQL_ROW)
        rc = LEADD_EDB;
out:
    free(sorted);
    free(h.first);
    free(h.count);
    free(h.ev);
    sql_kept_release(&h.rows);
    return rc;
}
