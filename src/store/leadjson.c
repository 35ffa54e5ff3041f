/* leadjson.c: a lead as the API (and the webhook payload) shows it. The JSON
 * columns are spliced in as stored: they were written by our own writer. */
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
    long long pending = sqls_col_int(s, 0), dead = sqls_col_int(s, 1);
    long long total = sqls_col_int(s, 2), attempts = sqls_col_int(s, 3);
    long long cancelled = sqls_col_int(s, 4);
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
    buf_adds(b, "},\"history\":[");
    if ((rc = buf_error(b)))
        goto out;

    s = c->hist;
    sqls_text(s, 1, id, false);
    int n = 0;
    while (!buf_error(b) && (r = sqls_step(s)) == SQL_ROW) {
        buf_adds(b, n++ ? ",{\"at\":" : "{\"at\":");
        jw_str(b, col(s, 0));
        buf_adds(b, ",\"status\":");
        jw_str(b, col(s, 1));
        buf_adds(b, ",\"note\":");
        jw_str(b, sqls_col(s, 2));
        buf_adds(b, ",\"by\":");
        jw_str(b, sqls_col(s, 3));
        buf_adds(b, ",\"owner\":");
        jw_str(b, sqls_col(s, 4));
        buf_adds(b, sqls_col_null(s, 5)  ? ",\"spam\":null"
                    : sqls_col_int(s, 5) ? ",\"spam\":true"
                                         : ",\"spam\":false");
        buf_addc(b, '}');
    }
    buf_adds(b, "]}");
    rc = buf_error(b) ? buf_error(b) : r != SQL_DONE ? LEADD_EDB : 0;
out:
    sqls_reset(c->lead);
    sqls_reset(c->fwd);
    sqls_reset(c->hist);
    sqls_reset(c->read);
    return rc;
}
