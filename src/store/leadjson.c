/* leadjson.c: a lead as the API (and the webhook payload) shows it. The JSON
 * columns are spliced in as stored: they were written by our own writer. */
#include <string.h>

#include "internal.h"
#include "leadd/jsonw.h"
#include "leadd/lead.h"

static const char SQL_LEAD[] =
    "SELECT " LEAD_COLUMNS " FROM leads WHERE id = ?1 AND erased_at IS NULL";
static const char SQL_FWD[] =
    "SELECT coalesce(sum(state IN (" SQL_PENDING "," SQL_DELIVERING ")), 0),"
    " coalesce(sum(state = " SQL_DEAD "), 0),"
    " count(*), coalesce(sum(attempts), 0) FROM deliveries WHERE lead_id = ?1";
static const char SQL_HISTORY[] =
    "SELECT at, status, note FROM lead_history WHERE lead_id = ?1 ORDER BY rowid";

static const char *col(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

/* A stored JSON column, spliced in as it is. */
static int raw(struct buf *b, const char *name, sqlite3_stmt *s, int i)
{
    int rc = buf_adds(b, name);
    const char *t = col(s, i);
    return rc ? rc : buf_add(b, t, (size_t)sqlite3_column_bytes(s, i));
}

/* Built with buf_add()/jw_*() rather than one buf_addf(): a page of fifty leads
 * spent a fifth of its time in vsnprintf copying the stored JSON through. */
int leadjson_row(sqlite3_stmt *s, struct buf *b)
{
    int rc = buf_adds(b, "{\"id\":");
    rc = rc ? rc : jw_str(b, col(s, 0));
    rc = rc ? rc : buf_adds(b, ",\"form\":");
    rc = rc ? rc : jw_str(b, col(s, 1));
    rc = rc ? rc : buf_adds(b, ",\"created_at\":");
    rc = rc ? rc : jw_str(b, col(s, 2));
    rc = rc ? rc : buf_adds(b, ",\"status\":");
    rc = rc ? rc : jw_str(b, col(s, 3));
    rc = rc ? rc : raw(b, ",\"fields\":", s, 4);
    rc = rc ? rc : raw(b, ",\"extra\":", s, 5);
    rc = rc ? rc : raw(b, ",\"attribution\":", s, 6);
    rc = rc ? rc : raw(b, ",\"client\":", s, 7);
    rc = rc ? rc : buf_adds(b, ",\"score\":");
    rc = rc ? rc : jw_int(b, (long long)sqlite3_column_int64(s, 8));
    rc = rc ? rc : buf_adds(b, ",\"grade\":");
    rc = rc ? rc : jw_str(b, col(s, 9));
    rc = rc ? rc
            : buf_adds(b,
                       sqlite3_column_int(s, 10) ? ",\"qualified\":true" : ",\"qualified\":false");
    rc = rc ? rc : raw(b, ",\"score_reasons\":", s, 11);
    rc = rc ? rc : buf_adds(b, ",\"flags\":");
    rc = rc ? rc : lead_flags_json((unsigned)sqlite3_column_int(s, 12), b);
    rc = rc ? rc : buf_adds(b, ",\"duplicate_of\":");
    rc = rc ? rc : jw_str(b, (const char *)sqlite3_column_text(s, 13));
    return rc;
}

int leadjson_prepare(struct leadjson_stmts *c, sqlite3 *db)
{
    const struct stmt_def defs[] = {
        {&c->lead, SQL_LEAD}, {&c->fwd, SQL_FWD}, {&c->hist, SQL_HISTORY}};
    c->db = db;
    return db_prepare_all(db, defs, LEADD_ARRAY_LEN(defs));
}

void leadjson_finalize(struct leadjson_stmts *c)
{
    sqlite3_finalize(c->lead);
    sqlite3_finalize(c->fwd);
    sqlite3_finalize(c->hist);
    memset(c, 0, sizeof(*c));
}

int leadjson_get(struct leadjson_stmts *c, const char *id, struct buf *b)
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

    rc = LEADD_EDB;
    s = c->fwd;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW)
        goto out;
    long long pending = sqlite3_column_int64(s, 0), dead = sqlite3_column_int64(s, 1);
    long long total = sqlite3_column_int64(s, 2), attempts = sqlite3_column_int64(s, 3);
    const char *state = !total  ? "none"
                        : pending ? delivery_state_names[DELIVERY_PENDING]
                        : dead    ? delivery_state_names[DELIVERY_DEAD]
                                  : delivery_state_names[DELIVERY_DELIVERED];
    rc = buf_adds(b, ",\"forwarding\":{\"state\":\"");
    rc = rc ? rc : buf_adds(b, state);
    rc = rc ? rc : buf_adds(b, "\",\"attempts\":");
    rc = rc ? rc : jw_int(b, attempts);
    rc = rc ? rc : buf_adds(b, "},\"history\":[");
    if (rc)
        goto out;

    s = c->hist;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int n = 0;
    while (!rc && (r = sqlite3_step(s)) == SQLITE_ROW) {
        rc = buf_adds(b, n++ ? ",{\"at\":" : "{\"at\":");
        rc = rc ? rc : jw_str(b, col(s, 0));
        rc = rc ? rc : buf_adds(b, ",\"status\":");
        rc = rc ? rc : jw_str(b, col(s, 1));
        rc = rc ? rc : buf_adds(b, ",\"note\":");
        rc = rc ? rc : jw_str(b, (const char *)sqlite3_column_text(s, 2));
        rc = rc ? rc : buf_addc(b, '}');
    }
    if (!rc && r != SQLITE_DONE)
        rc = LEADD_EDB;
    rc = rc ? rc : buf_adds(b, "]}");
out:
    sqlite3_reset(c->lead);
    sqlite3_reset(c->fwd);
    sqlite3_reset(c->hist);
    return rc;
}
