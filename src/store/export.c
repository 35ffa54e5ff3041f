/* export.c: streaming exports of the leads table as CSV or NDJSON, from one
 * read transaction (one consistent snapshot), a batch of rows at a time.
 *
 * CSV columns come from the lead's stored JSON (fields and attribution),
 * picked out by jr_pick() in one pass over each object rather than by one
 * json_extract() per column in SQL: SQLite parsed the same text a dozen times
 * a row, three quarters of the export's time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/jsonr.h"
#include "leadd/lead.h"
#include "leadd/jsonw.h"
#include "leadd/strutil.h"

static const char *const ATTR_COLS[] = {"utm_source",  "utm_medium", "utm_campaign", "utm_term",
                                        "utm_content", "referrer",   "landing_page"};
#define NATTR LEADD_ARRAY_LEN(ATTR_COLS)
#define BASE_COLS 7 /* id, created_at, form, status, score, grade, qualified */
/* after the fields and attribution: */
static const char TAIL_HEADER[] = ",flags,owner,notes,extra,crm_ids";
#define MAX_VALUE (16u << 20) /* a stored string, unescaped; never longer than the row */

struct store_export {
    struct store *st;
    struct reader *rd;
    struct sqls *s;
    enum export_format fmt;
    struct jr_key *keys; /* the form's fields, then the UTM parameters; names borrowed */
    bool *is_bool;
    struct jr_value *vals; /* a row's values, one per column */
    size_t nfields;
    struct buf text; /* a string value, unescaped */
};

/* A text column of the row itself, as CSV text (NULL: an empty cell). */
static int csv_column(struct buf *b, struct sqls *s, int i)
{
    const char *v = sqls_col(s, i);
    return v ? csv_cell(b, v, sqls_col_len(s, i)) : 0;
}

/* A value from the stored JSON, as json_extract() would have shown it:
 * numbers left alone, true/false as words in a boolean column and 1/0
 * elsewhere, null as an empty cell, arrays and objects as JSON text. */
static int csv_value(struct buf *out, struct buf *text, bool is_bool, const struct jr_value *v)
{
    if (v->kind == 's') {
        int rc = jr_unescape(v, text);
        rc = rc == LEADD_EINVAL ? LEADD_EDB : rc;
        return rc ? rc : csv_cell(out, buf_str(text), text->len);
    }
    if (v->kind == 'c')
        return csv_cell(out, v->p, v->n);
    if (v->kind != 'l' || (v->n == 4 && !memcmp(v->p, "null", 4)))
        return 0;
    bool t = v->n == 4 && !memcmp(v->p, "true", 4), f = v->n == 5 && !memcmp(v->p, "false", 5);
    if (t || f)
        return is_bool ? buf_adds(out, t ? "true" : "false") : buf_addc(out, t ? '1' : '0');
    return buf_add(out, v->p, v->n);
}

/* The keys' values in the JSON object in column i. */
static int pick(struct sqls *s, int i, const struct jr_key *keys, size_t n, struct jr_value *out)
{
    const char *json = sqls_col(s, i);
    int rc = jr_pick(json, sqls_col_len(s, i), keys, n, out);
    return rc == LEADD_EINVAL ? LEADD_EDB : rc;
}

static int csv_row(struct store_export *e, struct buf *out)
{
    struct sqls *s = e->s;
    struct jr_value *v = e->vals;
    for (int i = 0; i < BASE_COLS; i++) {
        if (i)
            buf_addc(out, ',');
        if (i == 1) { /* 2026-11-30 23:25:49: a date and time spreadsheets read (UTC) */
            const char *t = sqls_col(s, 1);
            if (t && strlen(t) >= 19)
                buf_addf(out, "%.10s %.8s", t, t + 11);
        } else if (i == 6) {
            buf_adds(out, sqls_col_int(s, 6) ? "true" : "false");
        } else if (i == 4) { /* the score, a number */
            jw_int(out, sqls_col_int(s, 4));
        } else {
            csv_column(out, s, i);
        }
    }
    /* fields and attribution: columns 7 and 8 */
    int rc = pick(s, 7, e->keys, e->nfields, v);
    rc = rc ? rc : pick(s, 8, e->keys + e->nfields, NATTR, v + e->nfields);
    for (size_t i = 0; !rc && i < e->nfields + NATTR; i++) {
        buf_addc(out, ',');
        rc = csv_value(out, &e->text, e->is_bool[i], &v[i]);
    }
    /* flags (names, space-separated), owner, notes, extra and crm_ids (JSON,
     * when any: {"hubspot":"551"}, each target's record of the lead) */
    buf_addc(out, ',');
    unsigned flags = (unsigned)sqls_col_int(s, 9);
    for (unsigned i = 0, first = 1; i < LEAD_FLAG_COUNT; i++) {
        if (flags & (1u << i)) {
            buf_adds(out, first ? "" : " ");
            buf_adds(out, lead_flag_names[i]);
            first = 0;
        }
    }
    buf_addc(out, ',');
    csv_column(out, s, 10);
    buf_addc(out, ',');
    csv_column(out, s, 11);
    buf_addc(out, ',');
    for (int col = 12; col <= 13; col++) {
        const char *json = sqls_col(s, col);
        if (col > 12)
            buf_addc(out, ',');
        if (json && strcmp(json, "{}"))
            csv_cell(out, json, sqls_col_len(s, col));
    }
    buf_add(out, "\r\n", 2);
    return rc ? rc : buf_error(out);
}

int store_export_open(struct store *st, const struct lead_filter *f, enum export_format fmt,
                      const char *const *fields, const bool *is_bool, size_t nfields,
                      struct store_export **out)
{
    struct where w = {.n = 0}; /* built once the reader says for which engine */
    struct store_export *e = calloc(1, sizeof(*e));
    int rc = LEADD_ENOMEM;
    *out = NULL;
    if (!e)
        goto out;
    e->st = st;
    e->fmt = fmt;
    e->nfields = fmt == EXPORT_CSV ? nfields : 0;
    buf_init(&e->text, MAX_VALUE);
    if (fmt == EXPORT_CSV) {
        if (!(e->keys = calloc(nfields + NATTR, sizeof(*e->keys))) ||
            !(e->is_bool = calloc(nfields + NATTR, sizeof(*e->is_bool))) ||
            !(e->vals = calloc(nfields + NATTR, sizeof(*e->vals))))
            goto out;
        for (size_t i = 0; i < nfields + NATTR; i++) {
            const char *name = i < nfields ? fields[i] : ATTR_COLS[i - nfields];
            e->is_bool[i] = i < nfields && is_bool[i];
            e->keys[i] = (struct jr_key){name, strlen(name)};
        }
    }
    if (!(e->rd = reader_get(st))) {
        rc = LEADD_EDB;
        goto out;
    }
    where_build(&w, f, 0, e->rd->c);
    /* the notes oldest first */
    const char *ao, *ac, *head = "SELECT " LEAD_COLUMNS " FROM leads";
    char csv[512];
    sql_agg_in_order(e->rd->c, &ao, &ac);
    if (fmt != EXPORT_NDJSON) {
        snprintf(csv, sizeof(csv),
                 "SELECT id, created_at, form, status, score, grade, qualified, fields,"
                 " attribution, flags, owner, n.notes, extra, crm_ids FROM leads LEFT JOIN"
                 " (SELECT lead_id, %snote, ' | '%s AS notes FROM lead_history WHERE note <> ''"
                 " GROUP BY lead_id) n ON n.lead_id = leads.id",
                 ao, ac);
        head = csv;
    }
    /* One read transaction: the export is one consistent snapshot. */
    sql_begin_read(e->rd->c);
    if ((rc = where_prepare(e->rd->c, &w, head, " ORDER BY id DESC", &e->s)))
        goto out;
    sqls_stream(e->s);
    *out = e;
    e = NULL;
out:
    store_export_close(&e);
    buf_release(&w.sql);
    return rc;
}

int store_export_next(struct store_export *e, struct buf *out, size_t want, bool *done)
{
    int rc = 0, r = SQL_ROW;
    *done = false;
    while (!rc && out->len < want && (r = sqls_step(e->s)) == SQL_ROW) {
        if (e->fmt == EXPORT_NDJSON) {
            struct lead_row row;
            lead_row_read(e->s, &row);
            lead_row_json(&row, out);
            rc = buf_addc(out, '\n');
        } else {
            rc = csv_row(e, out);
        }
    }
    if (!rc && r == SQL_DONE)
        *done = true;
    else if (!rc && r != SQL_ROW)
        rc = LEADD_EDB;
    return rc;
}

int store_export_csv_header(struct buf *b, const char *const *fields, size_t nfields, bool bom)
{
    if (bom) /* UTF-8's byte-order mark: how spreadsheets know the file is UTF-8 */
        buf_adds(b, "\xef\xbb\xbf");
    buf_adds(b, "id,created_at,form,status,score,grade,qualified");
    for (size_t i = 0; i < nfields; i++) { /* a label may hold a comma or a quote */
        buf_addc(b, ',');
        csv_cell(b, fields[i], strlen(fields[i]));
    }
    for (size_t i = 0; i < NATTR; i++)
        buf_addf(b, ",%s", ATTR_COLS[i]);
    buf_adds(b, TAIL_HEADER);
    return buf_add(b, "\r\n", 2);
}

void store_export_close(struct store_export **ep)
{
    struct store_export *e = *ep;
    if (!e)
        return;
    sqls_finalize(&e->s);
    if (e->rd) {
        sql_end_read(e->rd->c);
        reader_put(e->st, e->rd);
    }
    free(e->keys);
    free(e->is_bool);
    free(e->vals);
    buf_release(&e->text);
    free(e);
    *ep = NULL;
}
