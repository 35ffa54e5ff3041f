/* writer.c: the one thread that writes leads. It takes every queued job,
 * commits them in one transaction (group commit), then calls each job back.
 * Duplicate and idempotency checks run inside that transaction, so two
 * racing requests can never both be "first". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "leadd/lead.h"
#include "leadd/log.h"

static const char SQL_INS_LEAD[] =
    "INSERT INTO leads(id, form, created_at, created_ms, email, name, company, fields, extra,"
    " attribution, utm_source, utm_medium, utm_campaign, client, flags, duplicate_of, score,"
    " grade, qualified, score_reasons, owner, status, value_minor, currency)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
    " ?19, ?20, ?21, coalesce(?22, 'new'), ?23, ?24) RETURNING rowid";
/* The first lead with this email in the window that is itself neither a
 * duplicate nor spam: a bot using someone's address must not make the real
 * submission a duplicate (and so keep it from the CRM). Ordered by rowid, not
 * id: the dedupe index ends in the rowid, so there is no temporary sort per
 * lead, and rowids grow in commit order just as ids do. */
static const char SQL_FIND_DUP[] =
    "SELECT id FROM leads WHERE form = ?1 AND email = ?2 AND created_ms >= ?3"
    " AND duplicate_of IS NULL AND (flags & ?4) = 0 ORDER BY created_ms, rowid LIMIT 1";
/* The entry's row is still the window's first lead of that email. */
static const char SQL_CONFIRM_DUP[] =
    "SELECT id FROM leads WHERE form = ?1 AND email = ?2 AND rowid = ?3"
    " AND duplicate_of IS NULL AND (flags & ?4) = 0";
static const char SQL_FIND_KEY[] = "SELECT body_hash, lead_id, status FROM idempotency_keys"
                                   " WHERE form = ?1 AND key = ?2 AND created_ms >= ?3";
static const char SQL_INS_KEY[] =
    "INSERT OR REPLACE INTO idempotency_keys(form, key, body_hash, lead_id, status, created_ms)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_PRUNE_KEYS[] = "DELETE FROM idempotency_keys WHERE created_ms < ?1";
static const char SQL_INS_DELIVERY[] =
    "INSERT INTO deliveries(lead_id, webhook, webhook_id, event, next_attempt_ms, created_ms,"
    " updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)";
static const char SQL_INS_DELIVERY_ONCE[] =
    "INSERT INTO deliveries(lead_id, webhook, webhook_id, event, next_attempt_ms, created_ms,"
    " updated_ms) SELECT ?1, ?2, ?3, ?4, ?5, ?5, ?5 WHERE NOT EXISTS"
    " (SELECT 1 FROM deliveries WHERE lead_id = ?1 AND webhook = ?2 AND state <> " SQL_CANCELLED
    ")";
static const char SQL_PROBE[] = "INSERT OR REPLACE INTO writer_probe(id, at) VALUES (1, ?1)";

int writer_prepare(struct store *st)
{
    const struct stmt_def s[] = {
        {&st->ins_lead, SQL_INS_LEAD},
        {&st->find_dup, SQL_FIND_DUP},
        {&st->confirm_dup, SQL_CONFIRM_DUP},
        {&st->find_key, SQL_FIND_KEY},
        {&st->ins_key, SQL_INS_KEY},
        {&st->prune_keys, SQL_PRUNE_KEYS},
        {&st->probe, SQL_PROBE},
        {&st->ins_delivery, SQL_INS_DELIVERY},
        {&st->ins_delivery_once, SQL_INS_DELIVERY_ONCE},
        {&st->begin, "BEGIN IMMEDIATE"},
        {&st->commit, "COMMIT"},
        {&st->rollback, "ROLLBACK"},
    };
    int rc = db_prepare_all(st->wdb, s, LEADD_ARRAY_LEN(s));
    return rc ? rc : consent_prepare(st);
}

void writer_finalize(struct store *st)
{
    sqlite3_finalize(st->ins_lead);
    sqlite3_finalize(st->find_dup);
    sqlite3_finalize(st->confirm_dup);
    sqlite3_finalize(st->find_key);
    sqlite3_finalize(st->ins_key);
    sqlite3_finalize(st->prune_keys);
    sqlite3_finalize(st->probe);
    sqlite3_finalize(st->ins_delivery);
    sqlite3_finalize(st->ins_delivery_once);
    sqlite3_finalize(st->begin);
    sqlite3_finalize(st->commit);
    sqlite3_finalize(st->rollback);
    consent_finalize(st);
}

struct sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void sync_done(struct store_job *job, void *arg)
{
    struct sync *s = arg;
    (void)job;
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int store_run(struct store *st, struct store_job *job)
{
    struct sync s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    job->done = sync_done;
    /* s outlives the job's use of it: this function returns only after done. */
    // cppcheck-suppress autoVariables
    job->arg = &s;
    int rc = store_submit(st, job);
    if (rc)
        return rc;
    pthread_mutex_lock(&s.mu);
    while (!s.done)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    return job->rc;
}

int store_submit(struct store *st, struct store_job *job)
{
    if (st->pg)
        return pgstore_submit(st->pg, job);
    return jobq_push(&st->q, job);
}

/* Runs one statement to completion (or to its first row when row != NULL). */
static int step(sqlite3_stmt *s, bool *row)
{
    int r = sqlite3_step(s);
    if (row)
        *row = r == SQLITE_ROW;
    if (r == SQLITE_ROW || r == SQLITE_DONE)
        return 0;
    return r;
}

/* Inserts one delivery of lead_id with a fresh webhook-id (s: the plain
 * insert, or the one that skips a webhook the lead already has). */
int queue_delivery(struct store *st, sqlite3_stmt *s, const char *lead_id,
                   const struct store_delivery *d, uint64_t ms)
{
    char wid[ULID_LEN + 5] = "msg_";
    ulid_next(&st->ids, ms, wid + 4);
    sqlite3_reset(s);
    db_bind_text(s, 1, lead_id);
    db_bind_text(s, 2, d->webhook);
    db_bind_text(s, 3, wid);
    db_bind_text(s, 4, d->event);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)ms);
    return step(s, NULL);
}

/* Applies one job inside the open transaction. Returns a SQLite code; sets
 * *queued when deliveries were added. */
static int apply_lead(struct store *st, struct store_lead_job *j, uint64_t ms, bool *queued)
{
    const struct store_lead *in = &j->in;
    j->replayed = false;
    j->id[0] = '\0';
    bool row;
    int r;
    char created[32], dup[ULID_LEN + 1] = "";

    if (in->idem_key) {
        sqlite3_stmt *s = st->find_key;
        sqlite3_reset(s);
        db_bind_text(s, 1, in->form);
        db_bind_text(s, 2, in->idem_key);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)ms - STORE_IDEM_TTL_MS);
        if ((r = step(s, &row)))
            return r;
        if (row) {
            const void *h = sqlite3_column_blob(s, 0);
            if (sqlite3_column_bytes(s, 0) != SHA256_LEN || memcmp(h, in->body_hash, SHA256_LEN)) {
                j->job.rc = LEADD_ECONFLICT;
            } else {
                j->replayed = true;
                j->replay_status = sqlite3_column_int(s, 2);
                snprintf(j->id, sizeof(j->id), "%s", (const char *)sqlite3_column_text(s, 1));
            }
            sqlite3_reset(s);
            return 0;
        }
    }
    unsigned flags = in->flags;
    bool dedupe = in->email && in->dedupe_window_ms > 0;
    uint64_t key = dedupe ? dedupe_key(in->form, in->email) : 0;
    if (dedupe) {
        const struct dedupe_entry *e = st->dd_full ? NULL : dedupe_find(&st->dd, key);
        if (in->dedupe_window_ms > st->dd_window_ms)
            st->dd_window_ms = in->dedupe_window_ms;
        /* The window's first lead, confirmed by its row (or, over the
         * table's cap, looked up by SQL). */
        sqlite3_stmt *s = st->dd_full ? st->find_dup : st->confirm_dup;
        if (st->dd_full ||
            (e && e->rowid && e->created_ms >= (long long)ms - in->dedupe_window_ms)) {
            sqlite3_reset(s);
            db_bind_text(s, 1, in->form);
            db_bind_text(s, 2, in->email);
            sqlite3_bind_int64(s, 3,
                               st->dd_full ? (sqlite3_int64)ms - in->dedupe_window_ms
                                           : (sqlite3_int64)e->rowid);
            sqlite3_bind_int(s, 4, LEAD_FLAGS_SPAM);
            if ((r = step(s, &row)))
                return r;
            if (row) {
                snprintf(dup, sizeof(dup), "%s", (const char *)sqlite3_column_text(s, 0));
                flags |= LEAD_FLAG_DUPLICATE;
            }
            sqlite3_reset(s);
        }
    }
    ulid_next(&st->ids, in->created_ms ? in->created_ms : ms, j->id);
    rfc3339_ms(ulid_time_ms(j->id), created);
    sqlite3_stmt *s = st->ins_lead;
    sqlite3_reset(s);
    db_bind_text(s, 1, j->id);
    db_bind_text(s, 2, in->form);
    db_bind_text(s, 3, created);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)ulid_time_ms(j->id));
    db_bind_text(s, 5, in->email);
    db_bind_text(s, 6, in->name);
    db_bind_text(s, 7, in->company);
    db_bind_text(s, 8, in->fields);
    db_bind_text(s, 9, in->extra);
    db_bind_text(s, 10, in->attribution);
    db_bind_text(s, 11, in->utm_source);
    db_bind_text(s, 12, in->utm_medium);
    db_bind_text(s, 13, in->utm_campaign);
    db_bind_text(s, 14, in->client);
    sqlite3_bind_int(s, 15, (int)flags);
    db_bind_text(s, 16, dup[0] ? dup : NULL);
    j->flags = flags;
    sqlite3_bind_int64(s, 17, in->score);
    db_bind_text(s, 18, in->grade ? in->grade : lead_grade_names[LEAD_GRADE_COLD]);
    sqlite3_bind_int(s, 19, in->qualified && !dup[0]);
    db_bind_text(s, 20, in->score_reasons ? in->score_reasons : "[]");
    db_bind_text(s, 21, in->owner);
    db_bind_text(s, 22, in->lifecycle);
    if (in->currency)
        sqlite3_bind_int64(s, 23, in->value_minor);
    else
        sqlite3_bind_null(s, 23);
    db_bind_text(s, 24, in->currency);
    /* the lead's rowid from its own INSERT: the connection's last insert is
     * soon the consent's, a token's or a delivery's (the duplicate window
     * once kept those, and missed every repeat it was asked to catch) */
    if ((r = step(s, &row)) || !row)
        return r ? r : SQLITE_ERROR;
    long long rowid = sqlite3_column_int64(s, 0);
    if ((r = step(s, NULL)))
        return r;
    /* its consent record, in the same transaction: never one without the other */
    if ((r = consent_on_lead(st, in, j->id, created, ms, flags, dup[0] != '\0', queued)))
        return r;
    if (!st->unfolded++)
        st->unfolded_since_ms = ms;
    if (dedupe && !dup[0] && !(flags & LEAD_FLAGS_SPAM) && !st->dd_full &&
        dedupe_put(&st->dd, key, rowid, (long long)ms)) {
        st->dd_full = true; /* exact still, through SQL, but slower */
        log_warn("duplicate checks: more than %u first leads in the window; checking by SQL",
                 STORE_DEDUPE_MAX);
    }
    if (in->idem_key) {
        s = st->ins_key;
        sqlite3_reset(s);
        db_bind_text(s, 1, in->form);
        db_bind_text(s, 2, in->idem_key);
        sqlite3_bind_blob(s, 3, in->body_hash, SHA256_LEN, SQLITE_STATIC);
        db_bind_text(s, 4, j->id);
        sqlite3_bind_int(s, 5, in->status);
        sqlite3_bind_int64(s, 6, (sqlite3_int64)ms);
        if ((r = step(s, NULL)))
            return r;
    }
    /* The outbox: in this same transaction, so a committed lead is always
     * forwarded. Duplicates never are. */
    for (size_t i = 0; !dup[0] && i < in->ndeliveries; i++) {
        if ((r = queue_delivery(st, st->ins_delivery, j->id, &in->deliveries[i], ms)))
            return r;
        *queued = true;
    }
    return 0;
}

void store_set_update_hook(struct store *st, void (*fn)(void *arg, const char *id, bool erased),
                           void *arg)
{
    pthread_mutex_lock(&st->mu); /* waits for a call under way (db.c) */
    st->on_update = fn;
    st->on_update_arg = arg;
    pthread_mutex_unlock(&st->mu);
}

void store_set_outbox_hook(struct store *st, void (*fn)(void *arg), void *arg)
{
    /* SQLite's writer calls it after a commit that queued deliveries;
     * PostgreSQL's listener (db.c) on any node's NOTIFY, and now and then */
    pthread_mutex_lock(&st->mu);
    st->on_outbox = fn;
    st->on_outbox_arg = arg;
    pthread_mutex_unlock(&st->mu);
}

/* What lead id keeps of its attribution once erased (lead_attr_erased),
 * into b. */
static int attr_kept(struct store *st, const char *id, struct buf *b)
{
    sqlite3_stmt *s = NULL;
    int r =
        sqlite3_prepare_v2(st->wdb, "SELECT attribution FROM leads WHERE id = ?1", -1, &s, NULL);
    if (r == SQLITE_OK) {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        r = sqlite3_step(s);
        if (r == SQLITE_ROW)
            r = lead_attr_erased((const char *)sqlite3_column_text(s, 0),
                                 (size_t)sqlite3_column_bytes(s, 0), b)
                    ? SQLITE_NOMEM
                    : SQLITE_OK;
        else
            r = r == SQLITE_DONE ? (buf_adds(b, "{}"), SQLITE_OK) : r;
    }
    sqlite3_finalize(s);
    return r;
}

/* Erases one lead's personal data, keeping a tombstone for the stats (and
 * of its attribution what lead_attr_erased keeps). With secure_delete on,
 * the old bytes are overwritten in the pages; the caller checkpoints the
 * WAL so no copy stays there either. */
int erase_lead(struct store *st, const char *id, const char *at, bool *found)
{
    struct buf attr = BUF_INIT(16384);
    /* its consent records keep the times and wording, and a salted hash of
     * the address in place of the person's traces */
    int r = consent_erase(st, id);
    r = r != SQLITE_OK ? r : attr_kept(st, id, &attr);
    r = r != SQLITE_OK
            ? r
            : db_exec(st->wdb,
                      "UPDATE leads SET email = NULL, name = NULL, company = NULL, fields = '{}',"
                      " extra = '{}', client = '{}', attribution = ?3, erased_at = ?2"
                      " WHERE id = ?1 AND erased_at IS NULL",
                      "ttt", id, at, buf_str(&attr));
    buf_release(&attr);
    *found = r == SQLITE_OK && sqlite3_changes(st->wdb) > 0;
    if (r == SQLITE_OK && *found)
        r = db_exec(st->wdb, "UPDATE lead_history SET note = NULL WHERE lead_id = ?1", "t", id);
    if (r == SQLITE_OK && *found)
        r = db_exec(st->wdb,
                    "DELETE FROM delivery_attempts WHERE delivery_id IN"
                    " (SELECT id FROM deliveries WHERE lead_id = ?1)",
                    "t", id);
    if (r == SQLITE_OK && *found)
        r = db_exec(st->wdb, "DELETE FROM deliveries WHERE lead_id = ?1", "t", id);
    return r;
}

/* A lead erased on request: as erase_lead, and its email's hash leaves the
 * duplicate window at once (the entry is neutralised, and the table rebuilt
 * without it: erasures are rare; retention drops its entries by age). */
static int erase_asked(struct store *st, const char *id, const char *at, bool *found)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->wdb, "SELECT rowid FROM leads WHERE id = ?1", -1, &q, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            dedupe_forget_rowid(&st->dd, sqlite3_column_int64(q, 0));
            dedupe_expire(&st->dd, 1); /* neutralised entries have created_ms 0 */
        }
    }
    sqlite3_finalize(q);
    return erase_lead(st, id, at, found);
}

/* The leads of j->email not erased yet, into j->ids. */
static int erase_ids_of(struct store *st, struct store_erase_job *j)
{
    sqlite3_stmt *s = NULL;
    size_t cap = 0;
    int r = sqlite3_prepare_v2(st->wdb,
                               "SELECT id FROM leads WHERE email = ?1 AND erased_at IS NULL"
                               " ORDER BY id",
                               -1, &s, NULL);
    if (r == SQLITE_OK)
        sqlite3_bind_text(s, 1, j->email, -1, SQLITE_STATIC);
    while (r == SQLITE_OK && (r = sqlite3_step(s)) == SQLITE_ROW) {
        r = SQLITE_OK;
        if (j->nids == cap) {
            void *v = realloc(j->ids, (cap = cap ? 2 * cap : 16) * sizeof(*j->ids));
            if (!v) {
                r = SQLITE_NOMEM;
                break;
            }
            j->ids = v;
        }
        snprintf(j->ids[j->nids++], ULID_LEN + 1, "%s", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

/* Applies an admin operation inside the open transaction. */
static int apply_admin(struct store *st, struct store_job *j, uint64_t ms, bool *queued,
                       bool *erased)
{
    char at[32];
    bool found = false;
    int r = SQLITE_OK;
    rfc3339_ms(ms, at);
    switch (j->op) {
    case STORE_OP_ERASE: {
        struct store_erase_job *ej = (struct store_erase_job *)j;
        if (!ej->email) {
            r = erase_asked(st, ej->lead_id, at, &found);
            *erased |= found;
            break;
        }
        found = true; /* none of the person's: an empty answer, not an error */
        r = erase_ids_of(st, ej);
        for (size_t i = 0; r == SQLITE_OK && i < ej->nids; i++) {
            bool one;
            r = erase_asked(st, ej->ids[i], at, &one);
        }
        *erased |= ej->nids > 0;
        break;
    }
    case STORE_OP_RETAIN: {
        struct store_retain_job *rj = (struct store_retain_job *)j;
        sqlite3_stmt *s = NULL;
        rj->erased = 0;
        found = true;
        r = sqlite3_prepare_v2(st->wdb,
                               "SELECT id FROM leads WHERE created_ms < ?1 AND erased_at IS NULL",
                               -1, &s, NULL);
        if (r != SQLITE_OK)
            break;
        sqlite3_bind_int64(s, 1, (sqlite3_int64)rj->before_ms);
        while (r == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
            char id[ULID_LEN + 1];
            bool one;
            snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(s, 0));
            r = erase_lead(st, id, at, &one);
            rj->erased += one;
        }
        sqlite3_finalize(s);
        *erased |= rj->erased > 0;
        dedupe_expire(&st->dd, (long long)rj->before_ms); /* erased leads' hashes go too */
        break;
    }
    case STORE_OP_EXPIRE: {
        struct store_retain_job *rj = (struct store_retain_job *)j;
        found = true;
        r = consent_expire(st, rj, ms, at);
        *erased |= rj->erased > 0;
        break;
    }
    case STORE_OP_LEAD: break;
    default: {
        /* admin.c's, the same on both backends; the job's rc says what was
         * not there */
        int rc = admin_apply(st->wsql, &st->ids, j, ms, queued);
        return !rc ? SQLITE_OK : rc == LEADD_EFULL ? SQLITE_FULL : SQLITE_ERROR;
    }
    }
    if (r == SQLITE_OK && !found)
        j->rc = LEADD_ENOTFOUND;
    return r;
}

/* Commits one batch. On failure every job in it fails: nothing half-written. */
static int run_batch(struct store *st, struct store_job *batch, size_t n)
{
    uint64_t ms = now_ms();
    bool queued = false, erased = false;
    int r = db_run(st->begin);
    for (struct store_job *j = batch; r == SQLITE_OK && j; j = j->next)
        r = j->op == STORE_OP_LEAD ? apply_lead(st, (struct store_lead_job *)j, ms, &queued)
                                   : apply_admin(st, j, ms, &queued, &erased);
    if (r == SQLITE_OK)
        r = db_run(st->commit);
    if (r != SQLITE_OK) {
        log_error("write of %zu leads failed: %s", n, sqlite3_errmsg(st->wdb));
        if (!sqlite3_get_autocommit(st->wdb))
            db_run(st->rollback);
        atomic_store(&st->writable, false);
        return db_err(r);
    }
    atomic_store(&st->writable, true);
    if (erased) {
        /* Copy the erased pages into the main file and empty the WAL, so the
         * old bytes stay in neither. Readers in the middle of a long read can
         * delay this; the next erasure or the close at shutdown finishes it. */
        int logged, ckpt;
        if (sqlite3_wal_checkpoint_v2(st->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &ckpt) !=
            SQLITE_OK)
            log_warn("checkpoint after erasure incomplete: %s", sqlite3_errmsg(st->wdb));
    }
    if (queued) {
        pthread_mutex_lock(&st->mu);
        void (*fn)(void *) = st->on_outbox;
        void *arg = st->on_outbox_arg;
        pthread_mutex_unlock(&st->mu);
        if (fn)
            fn(arg);
    }
    writer_stats_add(&st->stats, n);
    return 0;
}

/* Idle work: forget old idempotency keys; while writes fail, probe so that
 * readiness comes back by itself once the disk does. */
static void noop_done(struct store_job *job, void *arg)
{
    (void)job;
    (void)arg;
}

static int run_batch(struct store *st, struct store_job *batch, size_t n);

static void maintain(struct store *st, uint64_t *last_prune, uint64_t *last_retain,
                     uint64_t *last_expire)
{
    uint64_t ms = now_ms();
    sqlite3_stmt *s = NULL;
    if (ms - *last_expire >= (uint64_t)EXPIRE_EVERY_MS) {
        /* Double opt-in leads never confirmed are erased, like retention's */
        struct store_retain_job j = {.job = {.op = STORE_OP_EXPIRE, .done = noop_done}};
        *last_expire = ms;
        if (run_batch(st, &j.job, 1) == 0 && j.erased)
            log_info("double opt-in: erased %lld leads not confirmed in time", j.erased);
    }
    if (st->unfolded && ms - st->unfolded_since_ms >= ROLLUP_FOLD_MS && rollup_fold(st))
        st->unfolded = 0; /* logged; retried after the next ROLLUP_FOLD_LEADS */
    if (ms - *last_prune > PRUNE_EVERY_MS && st->dd.n)
        dedupe_expire(&st->dd, (long long)ms - st->dd_window_ms);
    if (st->retention_ms > 0 && ms - *last_retain >= (uint64_t)RETAIN_EVERY_MS) {
        /* Retention erases exactly as DELETE /v1/leads/{id} does. */
        struct store_retain_job j = {.job = {.op = STORE_OP_RETAIN, .done = noop_done},
                                     .before_ms = ms - (uint64_t)st->retention_ms};
        *last_retain = ms;
        if (run_batch(st, &j.job, 1) == 0 && j.erased)
            log_info("retention: erased %lld leads older than %lld days", j.erased,
                     st->retention_ms / (24 * 3600 * 1000));
        return;
    }
    if (!atomic_load(&st->writable)) {
        s = st->probe;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, (sqlite3_int64)ms);
    } else if (ms - *last_prune > PRUNE_EVERY_MS) {
        *last_prune = ms;
        s = st->prune_keys;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, (sqlite3_int64)(ms - STORE_IDEM_TTL_MS));
    }
    if (s) {
        int r = sqlite3_step(s);
        sqlite3_reset(s);
        atomic_store(&st->writable, r == SQLITE_DONE);
    }
}

void *writer_main(void *arg)
{
    struct store *st = arg;
    uint64_t last_prune = now_ms(), last_retain = 0, last_expire = 0;
    for (;;) {
        size_t n;
        bool stopped;
        struct store_job *batch = jobq_take(&st->q, STORE_MAX_BATCH, 1000, &n, &stopped), *j;
        if (stopped)
            break;
        if (!batch) { /* a second without work */
            maintain(st, &last_prune, &last_retain, &last_expire);
            continue;
        }
        int rc = run_batch(st, batch, n);
        for (j = batch; j;) {
            struct store_job *next = j->next;
            if (rc) {
                j->rc = rc;
                if (j->op == STORE_OP_LEAD)
                    ((struct store_lead_job *)j)->replayed = false;
            }
            j->done(j, j->arg); /* the job may be freed from here on */
            j = next;
        }
        /* Once the batch is answered: count new leads into the stats. */
        if (st->unfolded >= ROLLUP_FOLD_LEADS && rollup_fold(st))
            st->unfolded = 0; /* logged; the report still counts them, and the next fold will */
    }
    if (st->unfolded && rollup_fold(st)) /* the counters are left complete */
        log_warn("stats: new leads not counted at stop; counted at the next start");
    return NULL;
}
