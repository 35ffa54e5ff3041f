/* consent.c: the consent record (append-only, written in the transactions
 * that store and change leads), double opt-in tokens, and the erasure of a
 * person from both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/lead.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

static const char SQL_INS_CONSENT[] =
    "INSERT INTO consents(lead_id, kind, form, field, text_hash, at, ip, user_agent, page, actor)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/* The kinds of record, as stored and shown. */
enum consent_kind { CONSENT_GIVEN, CONSENT_CONFIRMED, CONSENT_WITHDRAWN, CONSENT_EXPIRED };
static const char *const KINDS[] = {"given", "confirmed", "withdrawn", "expired"};

/* The lead a token's hash names, and its deadline and use. */
/* A token's lead, deadline and use, on the writer's connection or a
 * reader's (either backend); 0 or LEADD_EDB. */
static int find_token(struct sqlc *db, const unsigned char hash[SHA256_LEN], char id[ULID_LEN + 1],
                      char *form, size_t form_cap, long long *expires, long long *used,
                      bool *erased, bool *found)
{
    struct sqls *s = NULL;
    int r = sqls_prepare(db,
                         "SELECT t.lead_id, t.expires_ms, t.confirmed_ms, l.form,"
                         " CASE WHEN l.erased_at IS NULL THEN 0 ELSE 1 END FROM confirm_tokens"
                         " AS t JOIN leads AS l ON l.id = t.lead_id WHERE t.token_hash = ?1",
                         &s);
    *found = false;
    if (!r) {
        sqls_blob(s, 1, hash, SHA256_LEN);
        r = sqls_step(s);
        if (r == SQL_ROW) {
            *found = true;
            snprintf(id, ULID_LEN + 1, "%s", sqls_col(s, 0));
            *expires = sqls_col_int(s, 1);
            *used = sqls_col_int(s, 2); /* 0 when NULL */
            snprintf(form, form_cap, "%s", sqls_col(s, 3));
            *erased = sqls_col_int(s, 4) != 0;
        }
        r = r == SQL_ROW || r == SQL_DONE ? 0 : LEADD_EDB;
    }
    sqls_finalize(&s);
    return r;
}

/* Appends one record (a capture's "given" are the writer's). */
static int record_on(struct sqlc *c, const char *lead_id, enum consent_kind kind, const char *form,
                     const char *at, const char *ip, const char *ua, const char *actor)
{
    return sql_exec(c, NULL, SQL_INS_CONSENT, "tttnntttnt", lead_id, KINDS[kind], form, at, ip, ua,
                    actor);
}

int consent_confirm(struct sqlc *c, struct ulid_gen *ids, struct store_confirm_job *j, uint64_t ms,
                    const char *at, bool *queued)
{
    char id[ULID_LEN + 1], form[80];
    long long expires = 0, used = 0;
    bool erased = false, found;
    int rc = find_token(c, j->token_hash, id, form, sizeof(form), &expires, &used, &erased, &found);
    if (rc)
        return rc;
    /* Checked again here, in the writer's transaction: of two clicks at
     * once, one confirms and the other finds the link used. */
    if (!found || (erased && !used)) {
        j->job.rc = !found ? LEADD_ENOTFOUND : LEADD_ETOOBIG;
        return 0;
    }
    if (used) {
        j->job.rc = LEADD_ECONFLICT;
        return 0;
    }
    if ((long long)ms >= expires) {
        j->job.rc = LEADD_ETOOBIG;
        return 0;
    }
    rc = sql_exec(c, NULL, "UPDATE confirm_tokens SET confirmed_ms = ?2 WHERE lead_id = ?1", "ti",
                  id, (long long)ms);
    rc = rc ? rc : record_on(c, id, CONSENT_CONFIRMED, form, at, j->ip, j->user_agent, NULL);
    /* A person followed the link from their mailbox: what a captcha that
     * could not be asked would have shown. */
    rc = rc ? rc
            : sql_exec(c, NULL,
                       "UPDATE leads SET status = 'new', flags = flags & ~?2, score = ?3,"
                       " grade = ?4, qualified = CASE WHEN ?5 != 0 AND duplicate_of IS NULL"
                       " THEN 1 ELSE 0 END, score_reasons = ?6, owner = ?7"
                       " WHERE id = ?1 AND status = 'unconfirmed'",
                       "tiititt", id, (long long)LEAD_FLAG_CAPTCHA_UNVERIFIED, j->score, j->grade,
                       (long long)j->qualified, j->score_reasons, j->owner);
    rc = rc ? rc
            : sql_exec(c, NULL,
                       "INSERT INTO lead_history(lead_id, at, status, note, actor) VALUES (?1, ?2,"
                       " 'new', 'confirmed the double opt-in', 'confirmation link')",
                       "tt", id, at);
    for (size_t i = 0; !rc && i < j->ndeliveries; i++)
        rc = admin_queue_once(c, ids, id, &j->deliveries[i], ms, queued);
    return rc;
}

int consent_withdraw(struct sqlc *c, struct store_withdraw_job *j, uint64_t ms, const char *at)
{
    char id[ULID_LEN + 1] = "", form[80] = "";
    struct sqls *s = NULL;
    int rc = 0;
    if (j->by_token) {
        long long expires, used;
        bool erased, found;
        rc = find_token(c, j->token_hash, id, form, sizeof(form), &expires, &used, &erased, &found);
        if (!rc && (!found || erased))
            j->job.rc = LEADD_ENOTFOUND;
    } else {
        snprintf(id, sizeof(id), "%s", j->lead_id);
    }
    if (rc || j->job.rc)
        return rc;
    snprintf(j->found_id, sizeof(j->found_id), "%s", id);
    unsigned flags = 0;
    if (!(rc = sqls_prepare(c, "SELECT form, flags FROM leads WHERE id = ?1 AND erased_at IS NULL",
                            &s))) {
        sqls_text(s, 1, id, false);
        int r = sqls_step(s);
        if (r == SQL_ROW) {
            snprintf(form, sizeof(form), "%s", sqls_col(s, 0));
            flags = (unsigned)sqls_col_int(s, 1);
        } else if (r == SQL_DONE) {
            j->job.rc = LEADD_ENOTFOUND;
        } else {
            rc = r;
        }
    }
    sqls_finalize(&s);
    if (rc || j->job.rc || (flags & LEAD_FLAG_CONSENT_WITHDRAWN))
        return rc;
    rc = record_on(c, id, CONSENT_WITHDRAWN, form, at, j->ip, j->user_agent, j->actor);
    rc = rc ? rc
            : sql_exec(c, NULL, "UPDATE leads SET flags = flags | ?2 WHERE id = ?1", "ti", id,
                       (long long)LEAD_FLAG_CONSENT_WITHDRAWN);
    /* never forwarded again: what waits is cancelled (what is on the wire
     * finishes, and its outcome is recorded) */
    rc = rc ? rc : deliveries_cancel(c, id, "consent withdrawn", ms);
    rc = rc ? rc
            : sql_exec(c, NULL,
                       "INSERT INTO lead_history(lead_id, at, status, note, actor)"
                       " SELECT ?1, ?2, status, 'withdrew consent', ?3 FROM leads WHERE id = ?1",
                       "ttt", id, at, j->actor);
    return rc;
}

int consent_expiring(struct sqlc *c, uint64_t ms, const char *at, char (*ids)[ULID_LEN + 1],
                     size_t max, size_t *n)
{
    struct sqls *s = NULL;
    char(*forms)[80] = calloc(max ? max : 1, sizeof(*forms));
    *n = 0;
    if (!forms)
        return LEADD_ENOMEM;
    int r = SQL_DONE, rc = sqls_prepare(c,
                                        "SELECT t.lead_id, l.form FROM confirm_tokens AS t"
                                        " JOIN leads AS l ON l.id = t.lead_id WHERE"
                                        " t.confirmed_ms IS NULL AND"
                                        " t.expires_ms <= ?1 AND l.erased_at IS NULL AND"
                                        " l.status = 'unconfirmed' LIMIT ?2",
                                        &s);
    if (!rc) {
        sqls_int(s, 1, (long long)ms);
        sqls_int(s, 2, (long long)max);
    }
    /* the rows first, the records after: a statement's rows are read whole
     * before the next statement runs on the connection */
    while (!rc && *n < max && (r = sqls_step(s)) == SQL_ROW) {
        snprintf(ids[*n], ULID_LEN + 1, "%s", sqls_col(s, 0));
        snprintf(forms[(*n)++], sizeof(*forms), "%s", sqls_col(s, 1));
    }
    rc = rc ? rc : r < 0 ? r : 0;
    sqls_finalize(&s);
    for (size_t i = 0; !rc && i < *n; i++)
        rc = record_on(c, ids[i], CONSENT_EXPIRED, forms[i], at, NULL, NULL, "retention");
    free(forms);
    return rc;
}

/* The consent salt: made by the first writer to need it, read by the rest
 * (copied over by leadd copy, so hashes kept on SQLite still match). Read
 * first: a store opened beside a serving leadd (leadd rescore) writes
 * nothing at open. */
int consent_salt_load(struct sqlc *c, unsigned char salt[CONSENT_SALT_LEN])
{
    static const char GET[] = "SELECT value FROM store_meta WHERE key = 'consent_salt'";
    struct sqls *s = NULL;
    int rc = LEADD_EDB;
    for (int round = 0; round < 2; round++) {
        if (sqls_prepare(c, GET, &s))
            break;
        int r = sqls_step(s);
        if (r == SQL_ROW) {
            rc = hex_decode(sqls_col(s, 0), sqls_col_len(s, 0), salt, CONSENT_SALT_LEN) ? LEADD_EDB
                                                                                        : 0;
            break;
        }
        sqls_finalize(&s);
        char hex[2 * CONSENT_SALT_LEN + 1];
        unsigned char fresh[CONSENT_SALT_LEN];
        if (r != SQL_DONE || round || crypto_random(fresh, sizeof(fresh)))
            break;
        crypto_hex(fresh, sizeof(fresh), hex);
        if (sql_exec(c, NULL,
                     "INSERT INTO store_meta(key, value) VALUES ('consent_salt', ?1)"
                     " ON CONFLICT (key) DO NOTHING",
                     "t", hex))
            break;
    }
    sqls_finalize(&s);
    if (rc)
        log_error("unable to read or make the consent salt");
    return rc;
}

int consent_email_hash(const unsigned char salt[CONSENT_SALT_LEN], const char *email,
                       char out[SHA256_LEN * 2 + 1])
{
    char low[LEAD_MAX_EMAIL_LEN + 1];
    unsigned char mac[SHA256_LEN];
    snprintf(low, sizeof(low), "%s", email);
    for (char *p = low; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    const void *part = low;
    size_t len = strlen(low);
    if (crypto_hmac_sha256(salt, CONSENT_SALT_LEN, &part, &len, 1, mac))
        return LEADD_ENOMEM;
    crypto_hex(mac, sizeof(mac), out);
    return 0;
}

/* ---- reads ---- */

int store_confirm_peek(struct store *st, const unsigned char hash[SHA256_LEN], uint64_t now_ms,
                       struct confirm_info *out)
{
    struct reader *rd = reader_get(st);
    long long expires = 0, used = 0;
    bool erased = false, found = false;
    int rc = LEADD_EDB;
    if (rd && !find_token(rd->c, hash, out->lead_id, out->form, sizeof(out->form), &expires, &used,
                          &erased, &found)) {
        rc = found ? 0 : LEADD_ENOTFOUND;
        out->state = used                                     ? CONFIRM_USED
                     : erased || (long long)now_ms >= expires ? CONFIRM_EXPIRED
                                                              : CONFIRM_OPEN;
    }
    reader_put(st, rd);
    return rc;
}

int store_list_consents(struct store *st, const char *lead_id, const char *email,
                        store_consent_fn fn, void *arg)
{
    static const char COLS[] =
        "SELECT c.lead_id, c.kind, c.form, c.field, t.text, c.text_hash, c.at, c.ip, c.user_agent,"
        " c.page, c.actor, c.email_hash FROM consents AS c"
        " LEFT JOIN consent_texts AS t ON t.hash = c.text_hash ";
    struct reader *rd = reader_get(st);
    struct sqls *s = NULL;
    char hash[SHA256_LEN * 2 + 1] = "";
    int rc = LEADD_EDB, r;
    struct buf sql = BUF_INIT(1024);
    buf_adds(&sql, COLS);
    if (lead_id)
        buf_adds(&sql, "WHERE c.lead_id = ?1 ORDER BY c.id");
    else /* the address's leads as they are, and those erased through the hash kept */
        buf_adds(&sql, "WHERE c.lead_id IN (SELECT id FROM leads WHERE email = ?1)"
                       " OR c.email_hash = ?2 ORDER BY c.id");
    if (!rd || buf_error(&sql) || (email && consent_email_hash(st->consent_salt, email, hash)) ||
        sqls_prepare(rd->c, buf_str(&sql), &s))
        goto out;
    if (lead_id) {
        struct sqls *q = NULL;
        bool known = false;
        if (!sqls_prepare(rd->c, "SELECT 1 FROM leads WHERE id = ?1", &q)) {
            sqls_text(q, 1, lead_id, false);
            known = sqls_step(q) == SQL_ROW;
        }
        sqls_finalize(&q);
        if (!known) {
            rc = LEADD_ENOTFOUND;
            goto out;
        }
        sqls_text(s, 1, lead_id, false);
    } else {
        sqls_text(s, 1, email, false);
        sqls_text(s, 2, hash, false);
    }
    rc = 0;
    while (!rc && (r = sqls_step(s)) == SQL_ROW) {
        struct store_consent_row c = {sqls_col(s, 0), sqls_col(s, 1),  sqls_col(s, 2),
                                      sqls_col(s, 3), sqls_col(s, 4),  sqls_col(s, 5),
                                      sqls_col(s, 6), sqls_col(s, 7),  sqls_col(s, 8),
                                      sqls_col(s, 9), sqls_col(s, 10), sqls_col(s, 11)};
        rc = fn(arg, &c);
    }
    rc = rc ? rc : r == SQL_DONE ? 0 : LEADD_EDB;
out:
    sqls_finalize(&s);
    buf_release(&sql);
    reader_put(st, rd);
    return rc;
}
