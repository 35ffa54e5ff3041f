/* conversions.c: the leads that became sales (or qualified, as the server
 * is configured) in a time range, for the ad platforms' offline-conversion
 * uploads (http/conversions.c writes each platform's file). A read; the
 * rows are borrowed by the callback one at a time. */
#include <stdio.h>

#include "internal.h"
#include "leadd/lead.h"
#include "leadd/log.h"

/* The time a lead converted is its first history entry with that status;
 * a qualified lead's is its arrival. Erased leads are no one's conversion;
 * spam and repeats are none either. */
#define CONVERSION_COLUMNS                                                                         \
    "l.id, l.form, l.attribution, l.email, l.fields, l.value_minor, l.currency, l.flags,"          \
    " EXISTS (SELECT 1 FROM consents c WHERE c.lead_id = l.id AND c.kind = 'given')"
static const char SQL_CONVERTED[] =
    "SELECT h.at, " CONVERSION_COLUMNS
    " FROM (SELECT lead_id, min(at) AS at FROM lead_history WHERE status = 'converted'"
    " GROUP BY lead_id) h JOIN leads l ON l.id = h.lead_id"
    " WHERE l.status = 'converted' AND l.erased_at IS NULL AND h.at >= ?1 AND h.at < ?2"
    " ORDER BY h.at, l.id";
static const char SQL_QUALIFIED[] =
    "SELECT l.created_at, " CONVERSION_COLUMNS " FROM leads l"
    " WHERE l.id >= ?3 AND l.id < ?4 AND l.qualified = 1 AND l.duplicate_of IS NULL"
    " AND (l.flags & ?5) = 0 AND l.erased_at IS NULL ORDER BY l.id";

int store_conversions(struct store *st, bool qualified, uint64_t from_ms, uint64_t to_ms,
                      int (*fn)(const struct conversion_row *c, void *arg), void *arg)
{
    char from[32], to[32], lo[ULID_LEN + 1], hi[ULID_LEN + 1];
    struct sqls *s = NULL;
    int rc = LEADD_EDB, r;
    struct reader *rd = reader_get(st);
    rfc3339_ms(from_ms, from);
    rfc3339_ms(to_ms, to);
    ulid_floor(from_ms, lo);
    ulid_floor(to_ms, hi);
    if (!rd || sqls_prepare(rd->c, qualified ? SQL_QUALIFIED : SQL_CONVERTED, &s))
        goto out;
    if (qualified) {
        sqls_text(s, 3, lo, false);
        sqls_text(s, 4, hi, false);
        sqls_int(s, 5, LEAD_FLAGS_SPAM);
    } else {
        sqls_text(s, 1, from, false);
        sqls_text(s, 2, to, false);
    }
    rc = 0;
    while (!rc && (r = sqls_step(s)) == SQL_ROW) {
        struct conversion_row c = {
            .at = sqls_col(s, 0),
            .id = sqls_col(s, 1),
            .form = sqls_col(s, 2),
            .attribution = sqls_col(s, 3),
            .attribution_len = sqls_col_len(s, 3),
            .email = sqls_col(s, 4),
            .fields = sqls_col(s, 5),
            .fields_len = sqls_col_len(s, 5),
            .has_value = !sqls_col_null(s, 6),
            .value_minor = sqls_col_int(s, 6),
            .currency = sqls_col(s, 7),
            .flags = (unsigned)sqls_col_int(s, 8),
            .consent = sqls_col_int(s, 9) != 0,
        };
        rc = fn(&c, arg);
    }
    if (!rc && r != SQL_DONE)
        rc = LEADD_EDB;
out:
    sqls_finalize(&s);
    reader_put(st, rd);
    return rc;
}
