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
    "SELECT coalesce(sum(state IN (" SQL_PENDING "," SQL_DELIVERING ")), 0),"
    " coalesce(sum(state = " SQL_DEAD "), 0),"
    " count(*), coalesce(sum(attempts), 0) FROM deliveries WHERE lead_id = ?1";
static const char SQL_READ[] = "SELECT 1 FROM lead_reads WHERE user = ?1 AND lead_id = ?2";
static const char SQL_HISTORY[] =
    "SELECT at, status, note, actor, owner, spam FROM lead_history WHERE lead_id = ?1"
    " ORDER BY rowid";

static const char *col(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

/* A stored JSON column, spliced in as it is. */
static void raw(struct buf *b, const char *name, sqlite3_stmt *s, int i)
{
    buf_adds(b, name);
    buf_add(b, col(s, i), (size_t)sqlite3_column_bytes(s, i));
}

/* Built with buf_add()/jw_*() rather than one buf_addf(): a page of fifty leads
 * spent a fifth of its time in vsnprintf copying the stored JSON through. */
int leadjson_row(sqlite3_stmt *s, struct buf *b)
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
    jw_int(b, (long long)sqlite3_column_int64(s, 8));
    buf_adds(b, ",\"grade\":");
    jw_str(b, col(s, 9));
    buf_adds(b, sqlite3_column_int(s, 10) ? ",\"qualified\":true" : ",\"qualified\":false");
    raw(b, ",\"score_reasons\":", s, 11);
    buf_adds(b, ",\"flags\":");
    lead_flags_json((unsigned)sqlite3_column_int(s, 12), b);
    buf_adds(b, ",\"duplicate_of\":");
    jw_str(b, (const char *)sqlite3_column_text(s, 13));
    raw(b, ",\"crm_ids\":", s, 14);
    buf_adds(b, ",\"owner\":");
    jw_str(b, (const char *)sqlite3_column_text(s, 15));
    const char *cur = (const char *)sqlite3_column_text(s, 17);
    if (cur && sqlite3_column_type(s, 16) != SQLITE_NULL) {
        char value[MONEY_STR];
        money_format(sqlite3_column_int64(s, 16), money_exponent(cur), value);
        buf_addf(b, ",\"value\":\"%s\",\"currency\":", value);
        jw_str(b, cur);
    } else {
        buf_adds(b, ",\"value\":null,\"currency\":null");
    }
    return buf_error(b);
}

int leadjson_prepare(struct leadjson_stmts *c, sqlite3 *db)
{
    const struct stmt_def defs[] = {
        {&c->lead, SQL_LEAD}, {&c->fwd, SQL_FWD}, {&c->hist, SQL_HISTORY}, {&c->read, SQL_READ}};
    c->db = db;
    return db_prepare_all(db, defs, LEADD_ARRAY_LEN(defs));
}

void leadjson_finalize(struct leadjson_stmts *c)
{
    sqlite3_finalize(c->lead);
    sqlite3_finalize(c->fwd);
    sqlite3_finalize(c->hist);
    sqlite3_finalize(c->read);
    memset(c, 0, sizeof(*c));
}

int leadjson_get(struct leadjson_stmts *c, const char *id, const char *viewer, struct buf *b)
{
    int rc = LEADD_EDB, r;
    sqlite3_stmt *s = c->lead;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    if (r == SQLITE_DONE) {
        rc = LEADD_ENOTFOUND;
        goto out;
    }
    if (r != SQLITE_ROW || (rc = leadjson_row(s, b)))
        goto out;

    if (viewer) {
        s = c->read;
        sqlite3_bind_text(s, 1, viewer, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
        r = sqlite3_step(s);
        buf_adds(b, r == SQLITE_ROW ? ",\"read\":true" : ",\"read\":false");
        sqlite3_reset(s);
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            goto out;
    }
    rc = LEADD_EDB;
    s = c->fwd;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    long long pending = sqlite3_column_int64(s, 0), dead = sqlite3_column_int64(s, 1);
    long long total = sqlite3_column_int64(s, 2), attempts = sqlite3_column_int64(s, 3);
    const char *state = !total    ? "none"
                        : pending ? delivery_state_names[DELIVERY_PENDING]
                        : dead    ? delivery_state_names[DELIVERY_DEAD]
                                  : delivery_state_names[DELIVERY_DELIVERED];
    buf_adds(b, ",\"forwarding\":{\"state\":\"");
    buf_adds(b, state);
    buf_adds(b, "\",\"attempts\":");
    jw_int(b, attempts);
    buf_adds(b, "},\"history\":[");
    if ((rc = buf_error(b)))
        goto out;

    s = c->hist;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int n = 0;
    while (!buf_error(b) && (r = sqlite3_step(s)) == SQLITE_ROW) {
        buf_adds(b, n++ ? ",{\"at\":" : "{\"at\":");
        jw_str(b, col(s, 0));
        buf_adds(b, ",\"status\":");
        jw_str(b, col(s, 1));
        buf_adds(b, ",\"note\":");
        jw_str(b, (const char *)sqlite3_column_text(s, 2));
        buf_adds(b, ",\"by\":");
        jw_str(b, (const char *)sqlite3_column_text(s, 3));
        buf_adds(b, ",\"owner\":");
        jw_str(b, (const char *)sqlite3_column_text(s, 4));
        buf_adds(b, sqlite3_column_type(s, 5) == SQLITE_NULL ? ",\"spam\":null"
                    : sqlite3_column_int(s, 5)               ? ",\"spam\":true"
                                                             : ",\"spam\":false");
        buf_addc(b, '}');
    }
    buf_adds(b, "]}");
    rc = buf_error(b) ? buf_error(b) : r != SQLITE_DONE ? LEADD_EDB : 0;
out:
    sqlite3_reset(c->lead);
    sqlite3_reset(c->fwd);
    sqlite3_reset(c->hist);
    sqlite3_reset(c->read);
    return rc;
}
