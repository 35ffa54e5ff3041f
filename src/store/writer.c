/* writer.c: the one thread that writes, on either engine. Request threads
 * queue jobs (jobq.c); it takes what waits, commits it in one transaction
 * (group commit), then calls each job back: a 201 only once its lead is
 * committed. Duplicate and idempotency checks run inside that transaction,
 * so two racing requests can never both be "first", on one node or many:
 * with other writers on the database (PostgreSQL's nodes) each batch first
 * locks every (form, email) and (form, key) it touches, all in one global
 * order (sql_lock: nothing on SQLite, whose write lock is whole), and only
 * then looks. What the engines do differently is the driver's (sql.h):
 * locks, notifications, scrubbing after erasures, reconnecting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/calendar.h"
#include "leadd/lead.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

#define ERASE_BATCH 500 /* leads erased by one retention or expiry step */
#define INBOUND_EVENT_TTL_MS (30LL * 24 * 3600 * 1000) /* inbound_events kept by id */

/* Each statement the writer runs, prepared once on its connection. */
enum {
    W_FIND_KEY,
    W_FIND_DUP,
    W_CONFIRM_DUP,
    W_INS_LEAD,
    W_INS_KEY,
    W_INS_DELIVERY,
    W_INS_TEXT,
    W_INS_CONSENT,
    W_INS_TOKEN,
    W_ERASE_FIND,
    W_ERASE_CONSENTS,
    W_ERASE_LEAD,
    W_ERASE_NOTES,
    W_ERASE_ATTEMPTS,
    W_ERASE_DELIVERIES,
    W_ERASE_CRM,
    W_IDS_OF,
    W_OLDER,
    W_BEGIN,
    W_COMMIT,
    W_COUNT
};
_Static_assert(W_COUNT == WRITER_STMTS, "struct store keeps each of the writer's statements");

static const char *const SQL[W_COUNT] = {
    [W_FIND_KEY] = "SELECT body_hash, lead_id, status FROM idempotency_keys"
                   " WHERE form = ?1 AND key = ?2 AND created_ms >= ?3",
    /* The first lead with this email in the window that is itself neither a
     * duplicate nor spam: a bot using someone's address must not make the
     * real submission a duplicate (and so keep it from the CRM). Ordered by
     * rowid, not id: the dedupe index ends in the rowid, and rowids grow in
     * commit order just as ids do. */
    [W_FIND_DUP] = "SELECT id FROM leads WHERE form = ?1 AND email = ?2 AND created_ms >= ?3"
                   " AND duplicate_of IS NULL AND (flags & ?4) = 0 ORDER BY created_ms, rowid"
                   " LIMIT 1",
    /* The remembered entry's row is still the window's first of that email. */
    [W_CONFIRM_DUP] = "SELECT id FROM leads WHERE form = ?1 AND email = ?2 AND rowid = ?3"
                      " AND duplicate_of IS NULL AND (flags & ?4) = 0",
    /* the lead's rowid from its own INSERT: the connection's last insert is
     * soon the consent's, a token's or a delivery's (the duplicate window
     * once kept those, and missed every repeat it was asked to catch) */
    [W_INS_LEAD] =
        "INSERT INTO leads(id, form, created_at, email, name, company, fields, extra, attribution,"
        " utm_source, utm_medium, utm_campaign, client, duplicate_of, grade, score_reasons, owner,"
        " status, value_minor, currency, created_ms, flags, score, qualified)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
        " ?19, ?20, ?21, ?22, ?23, ?24) RETURNING rowid",
    [W_INS_KEY] = "INSERT INTO idempotency_keys(form, key, body_hash, lead_id, status, created_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (form, key) DO UPDATE SET"
                  " body_hash = excluded.body_hash, lead_id = excluded.lead_id,"
                  " status = excluded.status, created_ms = excluded.created_ms",
    [W_INS_DELIVERY] = "INSERT INTO deliveries(lead_id, webhook, webhook_id, event,"
                       " next_attempt_ms, created_ms, updated_ms, secret)"
                       " VALUES (?1, ?2, ?3, ?4, ?6, ?6, ?6, ?5)",
    [W_INS_TEXT] = "INSERT INTO consent_texts(hash, text) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    [W_INS_CONSENT] = "INSERT INTO consents(lead_id, kind, form, field, text_hash, at, ip,"
                      " user_agent, page) VALUES (?1, 'given', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [W_INS_TOKEN] =
        "INSERT INTO confirm_tokens(token_hash, lead_id, expires_ms) VALUES (?1, ?2, ?3)",
    [W_ERASE_FIND] = "SELECT email, attribution, rowid FROM leads WHERE id = ?1 AND"
                     " erased_at IS NULL",
    [W_ERASE_CONSENTS] = "UPDATE consents SET ip = NULL, user_agent = NULL, page = NULL,"
                         " email_hash = coalesce(email_hash, ?2) WHERE lead_id = ?1",
    [W_ERASE_LEAD] =
        "UPDATE leads SET email = NULL, name = NULL, company = NULL, fields = '{}',"
        " extra = '{}', client = '{}', attribution = ?3, crm_ids = NULL, erased_at = ?2"
        " WHERE id = ?1",
    [W_ERASE_NOTES] = "UPDATE lead_history SET note = NULL WHERE lead_id = ?1",
    [W_ERASE_ATTEMPTS] = "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM"
                         " deliveries WHERE lead_id = ?1)",
    [W_ERASE_DELIVERIES] = "DELETE FROM deliveries WHERE lead_id = ?1",
    /* the CRM's records of the person: no event from the CRM finds the lead again */
    [W_ERASE_CRM] = "DELETE FROM crm_records WHERE lead_id = ?1",
    [W_IDS_OF] = "SELECT id FROM leads WHERE email = ?1 AND erased_at IS NULL ORDER BY id",
    [W_OLDER] = "SELECT id FROM leads WHERE created_ms < ?1 AND erased_at IS NULL ORDER BY id"
                " LIMIT ?2",
    [W_BEGIN] = NULL, /* the engine's (sql_begin_write_sql) */
    [W_COMMIT] = "COMMIT",
};

int writer_prepare(struct store *st)
{
    for (int i = 0; i < W_COUNT; i++) {
        /* a select of rows the batch then changes locks them (" FOR UPDATE"
         * where other writers could change them too) */
        char sql[1024];
        bool locks = i == W_ERASE_FIND || i == W_IDS_OF;
        snprintf(sql, sizeof(sql), "%s%s", SQL[i] ? SQL[i] : sql_begin_write_sql(st->wsql),
                 locks ? sql_for_update(st->wsql) : "");
        if (sqls_prepare(st->wsql, sql, &st->w[i]))
            return LEADD_EDB;
        if (i != W_BEGIN && i != W_COMMIT) /* no server keeps a transaction's own */
            sqls_keep(st->w[i]);
    }
    return consent_salt_load(st->wsql, st->consent_salt);
}

void writer_finalize(struct store *st)
{
    for (int i = 0; i < W_COUNT; i++)
        sqls_finalize(&st->w[i]);
}

/* Steps a prepared statement to its end (a write: no row is read) and
 * resets it: 0, LEADD_EFULL or LEADD_EDB. */
static int run(struct sqls *s)
{
    int r = sqls_step(s);
    sqls_reset(s);
    return r < 0 ? r : 0;
}

/* Inserts one delivery of lead_id with a fresh webhook-id; secret: the
 * double opt-in token its mail carries, or NULL. */
static int queue_delivery(struct store *st, const char *lead_id, const struct store_delivery *d,
                          const char *secret, uint64_t ms)
{
    char wid[ULID_LEN + 5] = "msg_";
    struct sqls *s = st->w[W_INS_DELIVERY];
    ulid_next(&st->ids, ms, wid + 4);
    const char *v[] = {lead_id, d->webhook, wid, d->event, secret};
    for (int k = 0; k < 5; k++)
        sqls_text(s, k + 1, v[k], false);
    sqls_int(s, 6, (long long)ms);
    return sqls_send(s);
}

/* The Idempotency-Key's lead, when the key was seen: *seen, and the job
 * answered as the first was (or refused: another body). */
static int replayed(struct store *st, struct store_lead_job *j, uint64_t ms, bool *seen)
{
    const struct store_lead *in = &j->in;
    struct sqls *s = st->w[W_FIND_KEY];
    unsigned char h[SHA256_LEN];
    size_t hl = 0;
    sqls_text(s, 1, in->form, false);
    sqls_text(s, 2, in->idem_key, false);
    sqls_int(s, 3, (long long)ms - STORE_IDEM_TTL_MS);
    int r = sqls_step(s);
    if ((*seen = r == SQL_ROW)) {
        if (sqls_col_blob(s, 0, h, sizeof(h), &hl) || hl != SHA256_LEN ||
            memcmp(h, in->body_hash, SHA256_LEN)) {
            j->job.rc = LEADD_ECONFLICT;
        } else {
            j->replayed = true;
            j->replay_status = (int)sqls_col_int(s, 2);
            snprintf(j->id, sizeof(j->id), "%s", sqls_col(s, 1));
        }
    }
    sqls_reset(s);
    return r < 0 ? r : 0;
}

/* Whether the writer's memory of first leads answers for the window: it is
 * alone on its database, and the memory is under its cap. Else SQL does. */
static bool remembers(const struct store *st)
{
    return st->dd_on && !st->dd_full;
}

/* W_FIND_DUP for many leads: each row (i, form, email, since), answered
 * (i, the first lead's id or NULL). The flags come last: bare ?s are
 * numbered in order. */
#define FIRSTS_HEAD "WITH v AS (VALUES "
#define FIRSTS_ROW "(CAST(? AS bigint), ?, ?, CAST(? AS bigint))"
#define FIRSTS_TAIL                                                                                \
    ") SELECT v.column1, (SELECT id FROM leads WHERE form = v.column2 AND email = v.column3"       \
    " AND created_ms >= v.column4 AND duplicate_of IS NULL AND (flags & ?) = 0"                    \
    " ORDER BY created_ms, rowid LIMIT 1) FROM v"

/* Where the writer remembers no first leads (nodes sharing PostgreSQL, or
 * the memory over its cap), asks for those of a run of the batch's leads
 * (j up to the next other job) in one statement: each lead waited for its
 * own lookup, a round trip each. Only a lead whose address no earlier lead
 * of the run has is asked for: nothing the run does before it can change
 * its answer (the run only inserts leads of other addresses; an erasure or
 * a spam mark ends the run). A repeat within the run asks as before, and
 * finds the run's own insert. */
static int ask_firsts(struct store *st, struct store_job *j, uint64_t ms)
{
    const struct store_lead *ins[STORE_FIRSTS];
    size_t n = 0, seen = 0;
    st->nfirsts = 0;
    if (remembers(st))
        return 0;
    for (; j && j->op == STORE_OP_LEAD && seen < STORE_FIRSTS; j = j->next) {
        const struct store_lead *in = &((struct store_lead_job *)j)->in;
        if (!in->email || in->dedupe_window_ms <= 0)
            continue;
        /* the asked ones hold every address the run has had */
        bool again = false;
        for (size_t i = 0; i < n && !again; i++)
            again = !strcmp(ins[i]->form, in->form) && !strcmp(ins[i]->email, in->email);
        seen++;
        if (!again)
            ins[n++] = in;
    }
    if (n < 2) /* one is asked by its own prepared statement, as cheaply */
        return 0;
    struct buf sql = BUF_INIT(1 << 16);
    struct sqls *s = NULL;
    int r = sql_rows(&sql, FIRSTS_HEAD, n, FIRSTS_ROW, FIRSTS_TAIL);
    r = r ? r : sqls_prepare(st->wsql, buf_str(&sql), &s);
    for (size_t i = 0; !r && i < n; i++) {
        sqls_int(s, (int)i * 4 + 1, (long long)i);
        sqls_text(s, (int)i * 4 + 2, ins[i]->form, false);
        sqls_text(s, (int)i * 4 + 3, ins[i]->email, false);
        sqls_int(s, (int)i * 4 + 4, (long long)ms - ins[i]->dedupe_window_ms);
        st->firsts[i].in = ins[i];
        st->firsts[i].id[0] = '\0';
    }
    if (!r)
        sqls_int(s, (int)n * 4 + 1, LEAD_FLAGS_SPAM);
    int step = SQL_DONE;
    while (!r && (step = sqls_step(s)) == SQL_ROW) {
        long long i = sqls_col_int(s, 0);
        if (i >= 0 && (size_t)i < n && !sqls_col_null(s, 1))
            snprintf(st->firsts[i].id, sizeof(st->firsts[i].id), "%s", sqls_col(s, 1));
    }
    r = r ? r : step == SQL_DONE ? 0 : step < 0 ? step : LEADD_EDB;
    sqls_finalize(&s);
    buf_release(&sql);
    st->nfirsts = r ? 0 : n;
    return r;
}

/* The window's first lead of the address, into dup ("" for none): from the
 * writer's memory of first leads, confirmed by its row, when the writer is
 * alone on its database (and the memory not over its cap); else from what
 * the run's leads asked at once (ask_firsts), or by SQL. */
static int first_lead(struct store *st, const struct store_lead *in, uint64_t key, uint64_t ms,
                      char dup[ULID_LEN + 1])
{
    bool ask = !remembers(st);
    if (in->dedupe_window_ms > st->dd_window_ms)
        st->dd_window_ms = in->dedupe_window_ms;
    for (size_t i = 0; ask && i < st->nfirsts; i++) {
        if (st->firsts[i].in == in) {
            memcpy(dup, st->firsts[i].id, ULID_LEN + 1);
            return 0;
        }
    }
    const struct dedupe_entry *e = ask ? NULL : dedupe_find(&st->dd, key);
    if (!ask && !(e && e->rowid && e->created_ms >= (long long)ms - in->dedupe_window_ms))
        return 0; /* remembered: none in the window */
    struct sqls *s = st->w[ask ? W_FIND_DUP : W_CONFIRM_DUP];
    sqls_text(s, 1, in->form, false);
    sqls_text(s, 2, in->email, false);
    sqls_int(s, 3, ask ? (long long)ms - in->dedupe_window_ms : e->rowid);
    sqls_int(s, 4, LEAD_FLAGS_SPAM);
    int r = sqls_step(s);
    if (r == SQL_ROW)
        snprintf(dup, ULID_LEN + 1, "%s", sqls_col(s, 0));
    sqls_reset(s);
    return r < 0 ? r : 0;
}

/* Whether the wording of hash is stored: by a batch committed, or by this one. */
static bool text_known(const struct store *st, const char *hash)
{
    for (size_t i = 0; i < st->ntexts; i++)
        if (!strcmp(st->texts[i], hash))
            return true;
    for (size_t i = 0; i < st->npending; i++)
        if (!strcmp(st->pending[i], hash))
            return true;
    return false;
}

/* A new lead's consent records, and its double opt-in token: every
 * unconfirmed lead has a deadline (retention erases it then). */
static int consents(struct store *st, const struct store_lead *in, const char *id,
                    const char *created, uint64_t ms)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < in->nconsents; i++) {
        const struct store_consent *c = &in->consents[i];
        struct sqls *t = st->w[W_INS_TEXT], *s = st->w[W_INS_CONSENT];
        const char *v[] = {id,      in->form, c->field,       c->text_hash,
                           created, in->ip,   in->user_agent, in->page};
        for (int k = 0; k < 8; k++)
            sqls_text(s, k + 1, v[k], false);
        if (!text_known(st, c->text_hash)) {
            sqls_text(t, 1, c->text_hash, false);
            sqls_text(t, 2, c->text, false);
            rc = sqls_send(t);
            if (!rc && st->npending < WRITER_TEXTS && strlen(c->text_hash) < sizeof(*st->pending))
                snprintf(st->pending[st->npending++], sizeof(*st->pending), "%s", c->text_hash);
        }
        rc = rc ? rc : sqls_send(s);
    }
    if (rc || !in->confirm_mail.webhook)
        return rc;
    struct sqls *s = st->w[W_INS_TOKEN];
    sqls_blob(s, 1, in->confirm_hash, SHA256_LEN);
    sqls_text(s, 2, id, false);
    sqls_int(s, 3, (long long)(ms + (uint64_t)in->confirm_within_ms));
    return sqls_send(s);
}

/* Applies one capture inside the batch's transaction; *queued when
 * deliveries were added. */
static int apply_lead(struct store *st, struct store_lead_job *j, uint64_t ms, bool *queued)
{
    const struct store_lead *in = &j->in;
    char created[32], dup[ULID_LEN + 1] = "", num[24];
    bool seen = false;
    int rc;
    j->replayed = false;
    j->id[0] = '\0';
    if (in->idem_key && ((rc = replayed(st, j, ms, &seen)) || seen))
        return rc;
    bool dedupe = in->email && in->dedupe_window_ms > 0;
    uint64_t key = dedupe ? dedupe_key(in->form, in->email) : 0;
    if (dedupe && (rc = first_lead(st, in, key, ms, dup)))
        return rc;
    unsigned flags = in->flags | (dup[0] ? LEAD_FLAG_DUPLICATE : 0);
    ulid_next(&st->ids, in->created_ms ? in->created_ms : ms, j->id);
    rfc3339_ms(ulid_time_ms(j->id), created);
    j->flags = flags;
    /* the lead as stored, and as the stats count it */
    struct counted c = {.form = in->form,
                        .source = in->utm_source,
                        .medium = in->utm_medium,
                        .campaign = in->utm_campaign,
                        .flags = flags,
                        .grade = in->grade ? in->grade : lead_grade_names[LEAD_GRADE_COLD],
                        .status = in->lifecycle ? in->lifecycle : "new",
                        .currency = in->currency,
                        .qualified = in->qualified && !dup[0],
                        .has_value = in->currency != NULL,
                        .value_minor = in->value_minor,
                        .id = j->id,
                        .score = in->score};
    struct sqls *s = st->w[W_INS_LEAD];
    snprintf(num, sizeof(num), "%lld", in->value_minor); /* text: NULL or a number */
    const char *first = dup[0] ? dup : NULL, *value = in->currency ? num : NULL,
               *reasons = in->score_reasons ? in->score_reasons : "[]";
    const char *text[] = {j->id,           in->form,       created,        in->email,
                          in->name,        in->company,    in->fields,     in->extra,
                          in->attribution, in->utm_source, in->utm_medium, in->utm_campaign,
                          in->client,      first,          c.grade,        reasons,
                          in->owner,       c.status,       value,          in->currency};
    const long long ints[] = {(long long)ulid_time_ms(j->id), flags, in->score, c.qualified};
    for (size_t k = 0; k < LEADD_ARRAY_LEN(text); k++)
        sqls_text(s, (int)k + 1, text[k], text[k] == num);
    for (size_t k = 0; k < LEADD_ARRAY_LEN(ints); k++)
        sqls_int(s, (int)(LEADD_ARRAY_LEN(text) + k) + 1, ints[k]);
    /* Its rowid is asked for only by the writer's memory of first leads
     * (where it is alone on its database); else the insert is sent ahead,
     * its answer read with the next statement that waits (sqls_send). */
    bool remember = remembers(st) && dedupe && !dup[0] && !(flags & LEAD_FLAGS_SPAM);
    long long rowid = 0;
    if (remember) {
        int r = sqls_step(s);
        rowid = r == SQL_ROW ? sqls_col_int(s, 0) : 0;
        sqls_reset(s);
        if (r != SQL_ROW)
            return r < 0 ? r : LEADD_EDB;
    } else if ((rc = sqls_send(s))) {
        return rc;
    }
    /* stored at or below the stats' mark (every lead, where nodes count
     * as they write: rollup.c), the batch counts it in, as stored; past
     * it, the next fold does */
    if (strcmp(j->id, st->upto) > 0) {
        st->unfolded++;
    } else {
        char day[DAY_LEN + 1];
        calendar_day_of(ulid_time_ms(j->id), day);
        c.day = day;
        if ((rc = tally_add(&st->tally, &c)))
            return rc;
    }
    /* its consent record, in the same transaction: never one without the other */
    if ((rc = consents(st, in, j->id, created, ms)))
        return rc;
    if (remember && dedupe_put(&st->dd, key, rowid, (long long)ms)) {
        st->dd_full = true; /* exact still, through SQL, but slower */
        log_warn("duplicate checks: more than %u first leads in the window; checking by SQL",
                 STORE_DEDUPE_MAX);
    }
    if (in->idem_key) {
        s = st->w[W_INS_KEY];
        sqls_text(s, 1, in->form, false);
        sqls_text(s, 2, in->idem_key, false);
        sqls_blob(s, 3, in->body_hash, SHA256_LEN);
        sqls_text(s, 4, j->id, false);
        sqls_int(s, 5, in->status);
        sqls_int(s, 6, (long long)ms);
        if ((rc = sqls_send(s)))
            return rc;
    }
    /* The outbox, in this same transaction, so a committed lead is always
     * forwarded. Duplicates never are; a double opt-in mail goes only to
     * the first of an address, and not to what the traps say a bot sent:
     * nobody is mailed twice, or by a bot. */
    size_t nd = dup[0] ? 0 : in->ndeliveries;
    bool mail = in->confirm_mail.webhook && !dup[0] &&
                !(flags & (LEAD_FLAG_HONEYPOT | LEAD_FLAG_TOO_FAST | LEAD_FLAG_MARKED_SPAM));
    for (size_t i = 0; !rc && i < nd + mail; i++)
        rc = i < nd ? queue_delivery(st, j->id, &in->deliveries[i], NULL, ms)
                    : queue_delivery(st, j->id, &in->confirm_mail, in->confirm_token, ms);
    *queued |= nd + mail > 0;
    return rc;
}

/* Erases one lead's personal data, keeping a tombstone for the stats (and
 * of its attribution what lead_attr_erased keeps); its consent records keep
 * the times and wording, and a salted hash of the address in place of the
 * person's traces. Its address leaves the duplicate window at once.
 * *found: whether it was there. */
static int erase_id(struct store *st, const char *id, const char *at, bool *found)
{
    char hash[SHA256_LEN * 2 + 1] = "";
    struct buf attr = BUF_INIT(16384);
    long long rowid = 0;
    struct sqls *s = st->w[W_ERASE_FIND];
    sqls_text(s, 1, id, false);
    int r = sqls_step(s), rc = r < 0 ? r : 0;
    if ((*found = r == SQL_ROW)) {
        rowid = sqls_col_int(s, 2);
        if ((!sqls_col_null(s, 0) && consent_email_hash(st->consent_salt, sqls_col(s, 0), hash)) ||
            lead_attr_erased(sqls_col(s, 1), sqls_col_len(s, 1), &attr))
            rc = LEADD_ENOMEM;
    }
    sqls_reset(s);
    if (rc || !*found)
        goto out;
    if (st->dd_on) { /* neutralised, and the table rebuilt without it: erasures are rare */
        dedupe_forget_rowid(&st->dd, rowid);
        dedupe_expire(&st->dd, 1);
    }
    s = st->w[W_ERASE_CONSENTS];
    sqls_text(s, 1, id, false);
    sqls_text(s, 2, hash[0] ? hash : NULL, false);
    if ((rc = run(s)))
        goto out;
    s = st->w[W_ERASE_LEAD];
    sqls_text(s, 1, id, false);
    sqls_text(s, 2, at, false);
    sqls_text(s, 3, buf_str(&attr), false);
    if ((rc = run(s)))
        goto out;
    for (int k = W_ERASE_NOTES; !rc && k <= W_ERASE_CRM; k++) {
        sqls_text(st->w[k], 1, id, false);
        rc = run(st->w[k]);
    }
out:
    buf_release(&attr);
    return rc;
}

/* Up to max ids a statement's first column gives, into ids (*n of them):
 * read whole before the next statement runs on the connection. */
static int ids_of(struct sqls *s, char (*ids)[ULID_LEN + 1], size_t max, size_t *n)
{
    int r = SQL_DONE;
    *n = 0;
    while (*n < max && (r = sqls_step(s)) == SQL_ROW)
        snprintf(ids[(*n)++], ULID_LEN + 1, "%s", sqls_col(s, 0));
    sqls_reset(s);
    return *n == max || r == SQL_DONE ? 0 : r < 0 ? r : LEADD_EDB;
}

/* DELETE /v1/leads/{id}, or POST /v1/erasures: every lead of an address. */
static int apply_erase(struct store *st, struct store_erase_job *j, const char *at, bool *erased)
{
    bool found = false;
    int rc;
    if (!j->email) {
        if (!(rc = erase_id(st, j->lead_id, at, &found)) && !found)
            j->job.rc = LEADD_ENOTFOUND;
        *erased |= found;
        return rc;
    }
    /* none of the person's: an empty answer, not an error */
    struct sqls *s = st->w[W_IDS_OF];
    size_t n = 0, cap = 16;
    for (;;) {
        void *v = realloc(j->ids, cap * sizeof(*j->ids));
        if (!v)
            return LEADD_ENOMEM;
        j->ids = v;
        sqls_text(s, 1, j->email, false);
        if ((rc = ids_of(s, j->ids, cap, &n)) || n < cap)
            break;
        cap *= 2; /* read again, whole: the rows are locked already */
    }
    j->nids = rc ? 0 : n;
    for (size_t i = 0; !rc && i < j->nids; i++)
        rc = erase_id(st, j->ids[i], at, &found);
    *erased |= j->nids > 0;
    return rc;
}

/* Retention (every lead created before a time, a batch of ids at a time)
 * or expiry (up to a batch of unconfirmed leads past their deadline, each
 * with its "expired" record first); j->erased: how many. */
static int apply_erase_many(struct store *st, struct store_retain_job *j, uint64_t ms,
                            const char *at, bool *erased)
{
    char(*ids)[ULID_LEN + 1] = calloc(ERASE_BATCH, sizeof(*ids));
    size_t n = 0;
    int rc = ids ? 0 : LEADD_ENOMEM;
    j->erased = 0;
    do {
        if (!rc && j->job.op == STORE_OP_EXPIRE) {
            rc = consent_expiring(st->wsql, ms, at, ids, ERASE_BATCH, &n);
        } else if (!rc) {
            sqls_int(st->w[W_OLDER], 1, (long long)j->before_ms);
            sqls_int(st->w[W_OLDER], 2, ERASE_BATCH);
            rc = ids_of(st->w[W_OLDER], ids, ERASE_BATCH, &n);
        }
        for (size_t i = 0; !rc && i < n; i++) {
            bool found = false;
            rc = erase_id(st, ids[i], at, &found);
            j->erased += found;
        }
    } while (!rc && j->job.op == STORE_OP_RETAIN && n == ERASE_BATCH);
    if (!rc && st->dd_on && j->job.op == STORE_OP_RETAIN)
        dedupe_expire(&st->dd, (long long)j->before_ms); /* erased leads' hashes go too */
    *erased |= j->erased > 0;
    free(ids);
    return rc;
}

/* Applies one job inside the batch's transaction: 0, LEADD_EFULL or
 * LEADD_EDB (the batch fails); the job's rc says the rest. */
static int apply(struct store *st, struct store_job *j, uint64_t ms, bool *queued, bool *erased)
{
    char at[32];
    rfc3339_ms(ms, at);
    switch (j->op) {
    case STORE_OP_LEAD: return apply_lead(st, (struct store_lead_job *)j, ms, queued);
    case STORE_OP_ERASE: return apply_erase(st, (struct store_erase_job *)j, at, erased);
    case STORE_OP_RETAIN:
    case STORE_OP_EXPIRE: return apply_erase_many(st, (struct store_retain_job *)j, ms, at, erased);
    default: return admin_apply(st->wsql, &st->ids, j, ms, queued); /* admin.c's */
    }
}

/* The batch's locks on each (form, email) and (form, key) it touches
 * (sql_lock takes them in one order on every writer). */
static int lock_keys(struct store *st, struct store_job *batch)
{
    char *keys[2 * STORE_MAX_BATCH];
    size_t at[2 * STORE_MAX_BATCH], n = 0;
    struct buf all = BUF_INIT(8u << 20); /* the keys, each ended by a NUL */
    if (sql_alone(st->wsql))             /* its write transaction is lock enough */
        return 0;
    for (struct store_job *j = batch; j && n + 2 <= LEADD_ARRAY_LEN(keys); j = j->next) {
        if (j->op != STORE_OP_LEAD)
            continue;
        const struct store_lead *in = &((struct store_lead_job *)j)->in;
        if (in->email && in->dedupe_window_ms > 0) {
            at[n++] = all.len;
            buf_addf(&all, "dedupe\n%s\n%s", in->form, in->email);
            buf_addc(&all, '\0');
        }
        if (in->idem_key) {
            at[n++] = all.len;
            buf_addf(&all, "idempotency\n%s\n%s", in->form, in->idem_key);
            buf_addc(&all, '\0');
        }
    }
    int rc = buf_error(&all) ? LEADD_ENOMEM : 0;
    for (size_t i = 0; !rc && i < n; i++)
        keys[i] = all.ptr + at[i];
    rc = rc ? rc : sql_lock(st->wsql, keys, n);
    buf_release(&all);
    return rc;
}

/* Commits one batch (NULL: none, a probe of the database); on failure
 * every job in it fails: nothing half-written. */
static int run_batch(struct store *st, struct store_job *batch, size_t n)
{
    uint64_t ms = now_ms();
    bool queued = false, erased = false;
    long long unfolded = st->unfolded;
    int rc = sql_reconnect(st->wsql) ? 0 : LEADD_EDB;
    rc = rc ? rc : run(st->w[W_BEGIN]);
    rc = rc ? rc : rollup_writing(st->wsql, st->upto);
    rc = rc ? rc : lock_keys(st, batch);
    tally_reset(&st->tally);
    st->nfirsts = 0;
    for (struct store_job *j = batch, *prev = NULL; !rc && j; prev = j, j = j->next) {
        /* leads counted before anything may change them (the triggers move
         * counted leads only) */
        if (j->op != STORE_OP_LEAD && st->tally.nfilters)
            rc = tally_write(st->wsql, &st->tally);
        if (j->op != STORE_OP_LEAD)
            st->nfirsts = 0; /* what it changes, no answer asked before knows */
        else if (!prev || prev->op != STORE_OP_LEAD)
            rc = rc ? rc : ask_firsts(st, j, ms);
        rc = rc ? rc : apply(st, j, ms, &queued, &erased);
    }
    st->nfirsts = 0;
    if (!rc && !batch) /* a probe: does the database take writes? */
        rc = sql_exec(st->wsql, NULL,
                      "INSERT INTO writer_probe(id, at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE"
                      " SET at = excluded.at",
                      "i", (long long)ms);
    if (!rc && st->tally.nfilters)
        rc = tally_write(st->wsql, &st->tally);
    if (!rc && queued) /* idle dispatchers on other nodes wake at the commit */
        rc = sql_notify(st->wsql, "leadd_outbox");
    rc = rc ? rc : run(st->w[W_COMMIT]);
    atomic_store(&st->writable, !rc);
    for (size_t i = 0; !rc && i < st->npending && st->ntexts < WRITER_TEXTS; i++)
        memcpy(st->texts[st->ntexts++], st->pending[i], sizeof(*st->texts));
    st->npending = 0;
    if (rc) {
        if (batch) /* a probe's failure is the outage already logged, once a second */
            log_error("write of %zu jobs failed: nothing of them was stored", n);
        st->unfolded = unfolded; /* none of them was stored */
        sql_rollback(st->wsql);
        return rc == LEADD_EFULL ? rc : LEADD_EDB;
    }
    if (!unfolded && st->unfolded)
        st->unfolded_since_ms = ms;
    if (erased) /* the old bytes stay in no file */
        sql_scrub(st->wsql);
    if (queued)
        store_outbox_due(st);
    if (batch)
        writer_stats_add(&st->stats, n);
    return 0;
}

/* The leads stored past the mark since the last fold are counted into the
 * stats after ROLLUP_FOLD_LEADS of them or ROLLUP_FOLD_MS (now: all of
 * them, at a stop): SQLite's one writer's; nodes sharing PostgreSQL count
 * each batch as it commits, and have none past the mark. */
static void fold_due(struct store *st, bool now)
{
    if (!st->unfolded || !atomic_load(&st->writable) ||
        (!now && st->unfolded < ROLLUP_FOLD_LEADS &&
         now_ms() - st->unfolded_since_ms < (uint64_t)ROLLUP_FOLD_MS))
        return;
    if (!rollup_fold_on(st->wsql))
        st->unfolded = 0; /* else logged; tried again after the next batch */
    else if (now)
        log_warn("stats: new leads not counted at stop; counted at the next start");
}

/* Between batches: a database that went away (or a full disk) is tried
 * again, so readiness comes back by itself; unconfirmed leads past their
 * deadline and, daily, leads past retention are erased; old
 * Idempotency-Keys (and what the store's upkeep hook drops) go. Every node
 * does it; what two do at once is done once, the rows being locked as they
 * change. */
static void maintain(struct store *st, uint64_t *last_prune, uint64_t *last_retain,
                     uint64_t *last_expire)
{
    uint64_t ms = now_ms();
    if (!atomic_load(&st->writable)) {
        if (run_batch(st, NULL, 0) == 0)
            log_info("the database takes writes again");
        return;
    }
    if (ms - *last_expire >= (uint64_t)EXPIRE_EVERY_MS) {
        struct store_retain_job j = {.job = {.op = STORE_OP_EXPIRE}};
        *last_expire = ms;
        if (run_batch(st, &j.job, 1) == 0 && j.erased)
            log_info("double opt-in: erased %lld leads not confirmed in time", j.erased);
    }
    if (st->retention_ms > 0 && ms - *last_retain >= (uint64_t)RETAIN_EVERY_MS) {
        /* Retention erases exactly as DELETE /v1/leads/{id} does. */
        struct store_retain_job j = {.job = {.op = STORE_OP_RETAIN},
                                     .before_ms = ms - (uint64_t)st->retention_ms};
        *last_retain = ms;
        if (run_batch(st, &j.job, 1) == 0 && j.erased)
            log_info("retention: erased %lld leads older than %lld days", j.erased,
                     st->retention_ms / (24 * 3600 * 1000));
    }
    if (ms - *last_prune >= (uint64_t)PRUNE_EVERY_MS) {
        *last_prune = ms;
        if (sql_exec(st->wsql, NULL, "DELETE FROM idempotency_keys WHERE created_ms < ?1", "i",
                     (long long)ms - STORE_IDEM_TTL_MS))
            log_warn("old Idempotency-Keys not dropped; tried again later");
        /* a CRM retries an event for hours, not a month */
        if (sql_exec(st->wsql, NULL, "DELETE FROM inbound_events WHERE at_ms < ?1", "i",
                     (long long)ms - INBOUND_EVENT_TTL_MS))
            log_warn("old inbound events not dropped; tried again later");
        if (st->upkeep)
            st->upkeep(st->wsql);
        if (st->dd_on && st->dd.n)
            dedupe_expire(&st->dd, (long long)ms - st->dd_window_ms);
    }
}

void *writer_main(void *arg)
{
    struct store *st = arg;
    /* the first upkeep at once: what expired while no writer ran goes now */
    uint64_t last_prune = 0, last_retain = 0, last_expire = 0;
    for (;;) {
        size_t n;
        bool stopped;
        struct store_job *batch =
            jobq_take(&st->q, STORE_MAX_BATCH, 1000, sql_batch_linger_us(st->wsql), &n, &stopped);
        if (stopped)
            break;
        if (!batch) { /* a second without work */
            maintain(st, &last_prune, &last_retain, &last_expire);
            fold_due(st, false);
            continue;
        }
        int rc = run_batch(st, batch, n);
        for (struct store_job *j = batch, *next; j; j = next) {
            next = j->next;
            if (rc) {
                j->rc = rc;
                if (j->op == STORE_OP_LEAD)
                    ((struct store_lead_job *)j)->replayed = false;
            }
            j->done(j, j->arg); /* the job may be freed from here on */
        }
        fold_due(st, false); /* after the answers: they wait for no fold */
    }
    fold_due(st, true); /* the counters are left complete */
    return NULL;
}
