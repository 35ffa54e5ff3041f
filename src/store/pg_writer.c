/* pg_writer.c: the PostgreSQL store's writer. As on SQLite, request
 * threads queue jobs (jobq.c) and one thread commits them in batches, each
 * job called back after the commit (synchronous_commit = on: 201 only once
 * it is durable). What changes with many nodes on one database is that duplicate and
 * idempotency checks can no longer rely on one writer: each batch first
 * takes a transaction-scoped advisory lock per (form, email) and (form,
 * key) it touches, all in one global order (so two nodes never deadlock),
 * and only then looks for the first lead. Capture and erasure are its own;
 * the other jobs are admin.c's, the same as SQLite's writer runs. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "pgint.h"
#include "leadd/lead.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

#define PG_LOCKS_MAX (2 * STORE_MAX_BATCH) /* a dedupe and an idempotency lock a job */

struct pgstore {
    PGconn *wconn;     /* the writer's */
    struct sqlc *wsql; /* wconn, for admin.c's jobs */
    PGconn *oconn;     /* LISTEN for queued deliveries and changes (pgstore_outbox_wait's) */
    int wake_fd;       /* an eventfd: pgstore_outbox_wake ends the wait */
    PGconn *cconn;     /* claims (pgstore_claim's), under cmu */
    pthread_mutex_t cmu;
    struct jobq q;
    pthread_t writer;
    bool writer_started;
    struct ulid_gen ids;
    unsigned char salt[CONSENT_SALT_LEN]; /* store_meta's consent_salt, the same on every node */
    atomic_bool writable;                 /* the last batch committed (for /readyz) */
    atomic_llong retention_ms;            /* leads older are erased daily; 0: keep */
    struct writer_stats stats;            /* committed (store_get_stats) */
    char upto[ULID_LEN + 1]; /* the stats' mark, as the batch found it (rollup_writing) */
    struct buf below;        /* the batch's leads at or below it: "{ID,..." */
    long long unfolded;      /* leads this writer stored since its last fold */
    uint64_t unfolded_since_ms;
};

/* Each statement, prepared once on the writer's connection. */
static const struct {
    const char *name, *sql;
} STMTS[] = {
    {"lock", "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"},
    {"find_key", "SELECT body_hash, lead_id, status FROM idempotency_keys WHERE form = $1 AND"
                 " key = $2 AND created_ms >= $3"},
    {"find_dup", "SELECT id FROM leads WHERE form = $1 AND email = $2 AND created_ms >= $3 AND"
                 " duplicate_of IS NULL AND (flags & $4) = 0 ORDER BY created_ms, rowid LIMIT 1"},
    {"ins_lead",
     "INSERT INTO leads(id, form, created_at, created_ms, email, name, company, fields, extra,"
     " attribution, utm_source, utm_medium, utm_campaign, client, flags, duplicate_of, score,"
     " grade, qualified, score_reasons, owner, status, value_minor, currency) VALUES ($1, $2,"
     " $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,"
     " coalesce($22, 'new'), $23, $24)"},
    {"ins_key", "INSERT INTO idempotency_keys(form, key, body_hash, lead_id, status, created_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (form, key) DO UPDATE SET"
                " body_hash = excluded.body_hash, lead_id = excluded.lead_id,"
                " status = excluded.status, created_ms = excluded.created_ms"},
    {"ins_delivery", "INSERT INTO deliveries(lead_id, webhook, webhook_id, event,"
                     " next_attempt_ms, created_ms, updated_ms, secret) VALUES ($1, $2, $3, $4,"
                     " $5, $5, $5, $6)"},
    {"ins_text", "INSERT INTO consent_texts(hash, text) VALUES ($1, $2) ON CONFLICT DO NOTHING"},
    {"ins_consent", "INSERT INTO consents(lead_id, kind, form, field, text_hash, at, ip,"
                    " user_agent, page) VALUES ($1, 'given', $2, $3, $4, $5, $6, $7, $8)"},
    {"ins_token",
     "INSERT INTO confirm_tokens(token_hash, lead_id, expires_ms) VALUES ($1, $2, $3)"},
    {"erase_email", "SELECT email, attribution FROM leads WHERE id = $1 AND erased_at IS NULL"
                    " FOR UPDATE"},
    {"erase_consents", "UPDATE consents SET ip = NULL, user_agent = NULL, page = NULL,"
                       " email_hash = coalesce(email_hash, $2) WHERE lead_id = $1"},
    {"erase_lead", "UPDATE leads SET email = NULL, name = NULL, company = NULL, fields = '{}',"
                   " extra = '{}', client = '{}', attribution = $3, erased_at = $2"
                   " WHERE id = $1"},
    {"erase_notes", "UPDATE lead_history SET note = NULL WHERE lead_id = $1"},
    {"erase_ids_of", "SELECT id FROM leads WHERE email = $1 AND erased_at IS NULL ORDER BY id"
                     " FOR UPDATE"},
    {"erase_attempts", "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM"
                       " deliveries WHERE lead_id = $1)"},
    {"erase_deliveries", "DELETE FROM deliveries WHERE lead_id = $1"},
};

/* Runs a prepared statement; the result (owned: PQclear) or NULL on error,
 * logged. Text parameters, but for those flagged binary (len given). */
static PGresult *exec(PGconn *c, const char *stmt, int n, const char *const *v, const int *len,
                      const int *bin)
{
    PGresult *r = PQexecPrepared(c, stmt, n, v, len, bin, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return r;
    log_error("postgres: %s: %s", stmt, PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

static bool exec_ok(PGconn *c, const char *stmt, int n, const char *const *v, const int *len,
                    const int *bin)
{
    PGresult *r = exec(c, stmt, n, v, len, bin);
    PQclear(r);
    return r != NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The batch's advisory locks, every node taking them in the same order. */
static bool lock_keys(struct pgstore *p, struct store_job *batch)
{
    char *keys[PG_LOCKS_MAX] = {0};
    size_t n = 0;
    bool ok = true;
    for (struct store_job *j = batch; j && ok; j = j->next) {
        if (j->op != STORE_OP_LEAD)
            continue;
        const struct store_lead *in = &((struct store_lead_job *)j)->in;
        for (int kind = 0; kind < 2 && ok; kind++) {
            struct buf k = BUF_INIT(4096);
            if (kind == 0 && in->email && in->dedupe_window_ms > 0)
                buf_addf(&k, "dedupe\n%s\n%s", in->form, in->email);
            else if (kind == 1 && in->idem_key)
                buf_addf(&k, "idempotency\n%s\n%s", in->form, in->idem_key);
            else
                continue;
            char *key = buf_error(&k) ? NULL : buf_detach(&k);
            buf_release(&k);
            if (!(ok = key != NULL))
                break;
            keys[n++] = key;
        }
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < n; i++) {
        const char *v = keys[i];
        if (ok && (i == 0 || strcmp(keys[i - 1], keys[i])))
            ok = exec_ok(p->wconn, "lock", 1, &v, NULL, NULL);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    return ok;
}

/* One capture inside the batch's transaction, as SQLite's apply_lead. */
static bool apply_lead(struct pgstore *p, struct store_lead_job *j, uint64_t ms, bool *queued)
{
    const struct store_lead *in = &j->in;
    char num[8][24], created[32], dup[ULID_LEN + 1] = "", at[32];
    PGresult *r;
    j->replayed = false;
    j->id[0] = '\0';
    if (in->idem_key) {
        snprintf(num[0], sizeof(num[0]), "%lld", (long long)ms - STORE_IDEM_TTL_MS);
        const char *v[] = {in->form, in->idem_key, num[0]};
        if (!(r = exec(p->wconn, "find_key", 3, v, NULL, NULL)))
            return false;
        if (PQntuples(r) == 1) {
            size_t hl = 0;
            unsigned char *h = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &hl);
            if (!h || hl != SHA256_LEN || memcmp(h, in->body_hash, SHA256_LEN)) {
                j->job.rc = LEADD_ECONFLICT;
            } else {
                j->replayed = true;
                j->replay_status = (int)strtol(PQgetvalue(r, 0, 2), NULL, 10);
                snprintf(j->id, sizeof(j->id), "%s", PQgetvalue(r, 0, 1));
            }
            PQfreemem(h);
            PQclear(r);
            return true;
        }
        PQclear(r);
    }
    unsigned flags = in->flags;
    if (in->email && in->dedupe_window_ms > 0) {
        snprintf(num[0], sizeof(num[0]), "%lld", (long long)ms - in->dedupe_window_ms);
        snprintf(num[1], sizeof(num[1]), "%u", LEAD_FLAGS_SPAM);
        const char *v[] = {in->form, in->email, num[0], num[1]};
        if (!(r = exec(p->wconn, "find_dup", 4, v, NULL, NULL)))
            return false;
        if (PQntuples(r) == 1) {
            snprintf(dup, sizeof(dup), "%s", PQgetvalue(r, 0, 0));
            flags |= LEAD_FLAG_DUPLICATE;
        }
        PQclear(r);
    }
    ulid_next(&p->ids, in->created_ms ? in->created_ms : ms, j->id);
    rfc3339_ms(ulid_time_ms(j->id), created);
    j->flags = flags;
    snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)ulid_time_ms(j->id));
    snprintf(num[1], sizeof(num[1]), "%u", flags);
    snprintf(num[2], sizeof(num[2]), "%lld", in->score);
    snprintf(num[3], sizeof(num[3]), "%d", in->qualified && !dup[0]);
    snprintf(num[4], sizeof(num[4]), "%lld", in->value_minor);
    const char *lead[] = {j->id,
                          in->form,
                          created,
                          num[0],
                          in->email,
                          in->name,
                          in->company,
                          in->fields,
                          in->extra,
                          in->attribution,
                          in->utm_source,
                          in->utm_medium,
                          in->utm_campaign,
                          in->client,
                          num[1],
                          dup[0] ? dup : NULL,
                          num[2],
                          in->grade ? in->grade : lead_grade_names[LEAD_GRADE_COLD],
                          num[3],
                          in->score_reasons ? in->score_reasons : "[]",
                          in->owner,
                          in->lifecycle,
                          in->currency ? num[4] : NULL,
                          in->currency};
    if (!exec_ok(p->wconn, "ins_lead", 24, lead, NULL, NULL))
        return false;
    /* stored at or below the mark: a fold went past its time already, so
     * the batch counts it in (run_batch) */
    if (strcmp(j->id, p->upto) <= 0) {
        buf_adds(&p->below, p->below.len ? "," : "{");
        buf_adds(&p->below, j->id);
    }
    p->unfolded++;
    rfc3339_ms(ms, at);
    for (size_t i = 0; i < in->nconsents; i++) {
        const struct store_consent *c = &in->consents[i];
        const char *t[] = {c->text_hash, c->text};
        const char *v[] = {j->id,   in->form, c->field,       c->text_hash,
                           created, in->ip,   in->user_agent, in->page};
        if (!exec_ok(p->wconn, "ins_text", 2, t, NULL, NULL) ||
            !exec_ok(p->wconn, "ins_consent", 8, v, NULL, NULL))
            return false;
    }
    if (in->idem_key) {
        snprintf(num[5], sizeof(num[5]), "%d", in->status);
        snprintf(num[6], sizeof(num[6]), "%llu", (unsigned long long)ms);
        const char *v[] = {in->form, in->idem_key, (const char *)in->body_hash,
                           j->id,    num[5],       num[6]};
        const int len[] = {0, 0, SHA256_LEN, 0, 0, 0}, bin[] = {0, 0, 1, 0, 0, 0};
        if (!exec_ok(p->wconn, "ins_key", 6, v, len, bin))
            return false;
    }
    if (in->confirm_mail.webhook) {
        snprintf(num[7], sizeof(num[7]), "%llu",
                 (unsigned long long)(ms + (uint64_t)in->confirm_within_ms));
        const char *v[] = {(const char *)in->confirm_hash, j->id, num[7]};
        const int len[] = {SHA256_LEN, 0, 0}, bin[] = {1, 0, 0};
        if (!exec_ok(p->wconn, "ins_token", 3, v, len, bin))
            return false;
    }
    /* The outbox, in this same transaction; duplicates are never sent, and
     * a double opt-in mail only to the first of an address and no bot. */
    size_t nd = dup[0] ? 0 : in->ndeliveries;
    bool mail = in->confirm_mail.webhook && !dup[0] &&
                !(flags & (LEAD_FLAG_HONEYPOT | LEAD_FLAG_TOO_FAST | LEAD_FLAG_MARKED_SPAM));
    for (size_t i = 0; i < nd + mail; i++) {
        const struct store_delivery *d = i < nd ? &in->deliveries[i] : &in->confirm_mail;
        char wid[ULID_LEN + 5] = "msg_";
        ulid_next(&p->ids, ms, wid + 4);
        snprintf(num[6], sizeof(num[6]), "%llu", (unsigned long long)ms);
        const char *v[] = {j->id,    d->webhook, wid,
                           d->event, num[6],     i < nd ? NULL : in->confirm_token};
        if (!exec_ok(p->wconn, "ins_delivery", 6, v, NULL, NULL))
            return false;
    }
    *queued |= nd + mail > 0; /* the batch notifies, once */
    return true;
}

/* Erases one lead's personal data as SQLite's store does: a tombstone for
 * the stats, its consent records keeping the salted hash of its address.
 * *erased: whether it was there. */
static bool erase_id(struct pgstore *p, const char *id, uint64_t ms, bool *found, bool *erased)
{
    char at[32], hash[SHA256_LEN * 2 + 1] = "";
    struct buf attr = BUF_INIT(16384);
    PGresult *r = exec(p->wconn, "erase_email", 1, &id, NULL, NULL);
    if (!r)
        return false;
    *found = PQntuples(r) == 1;
    if (*found &&
        ((!PQgetisnull(r, 0, 0) && consent_email_hash(p->salt, PQgetvalue(r, 0, 0), hash)) ||
         lead_attr_erased(PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), &attr))) {
        PQclear(r);
        buf_release(&attr);
        return false;
    }
    PQclear(r);
    if (!*found)
        return true;
    rfc3339_ms(ms, at);
    const char *v[] = {id, hash[0] ? hash : NULL}, *w[] = {id, at, buf_str(&attr)};
    *erased = true;
    bool ok = exec_ok(p->wconn, "erase_consents", 2, v, NULL, NULL) &&
              exec_ok(p->wconn, "erase_lead", 3, w, NULL, NULL);
    buf_release(&attr);
    return ok && exec_ok(p->wconn, "erase_notes", 1, &id, NULL, NULL) &&
           exec_ok(p->wconn, "erase_attempts", 1, &id, NULL, NULL) &&
           exec_ok(p->wconn, "erase_deliveries", 1, &id, NULL, NULL);
}

static bool apply_erase(struct pgstore *p, struct store_erase_job *j, uint64_t ms, bool *erased)
{
    bool found = false, ok = true;
    if (!j->email) {
        ok = erase_id(p, j->lead_id, ms, &found, erased);
        if (ok && !found)
            j->job.rc = LEADD_ENOTFOUND;
        return ok;
    }
    PGresult *r = exec(p->wconn, "erase_ids_of", 1, &j->email, NULL, NULL);
    if (!r)
        return false;
    int n = PQntuples(r);
    if (n && !(j->ids = calloc((size_t)n, sizeof(*j->ids))))
        ok = false;
    for (int i = 0; ok && i < n; i++)
        snprintf(j->ids[j->nids++], ULID_LEN + 1, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    for (size_t i = 0; ok && i < j->nids; i++)
        ok = erase_id(p, j->ids[i], ms, &found, erased);
    return ok;
}

#define ERASE_BATCH 500 /* leads erased by one retention or expiry job */

/* Retention (every lead created before a time, a batch of ids at a time)
 * or expiry (up to a batch of unconfirmed leads past their deadline, each
 * with its "expired" record first); j->erased: how many. */
static bool apply_erase_many(struct pgstore *p, struct store_retain_job *j, uint64_t ms,
                             bool *erased)
{
    char at[32], (*ids)[ULID_LEN + 1] = calloc(ERASE_BATCH, sizeof(*ids));
    size_t n = 0;
    bool ok = ids != NULL;
    rfc3339_ms(ms, at);
    j->erased = 0;
again:
    n = 0;
    if (ok && j->job.op == STORE_OP_EXPIRE) {
        ok = !consent_expiring(p->wsql, ms, at, ids, ERASE_BATCH, &n);
    } else if (ok) {
        struct sqls *s = NULL;
        ok = !sqls_prepare(p->wsql,
                           "SELECT id FROM leads WHERE created_ms < ?1 AND erased_at IS NULL"
                           " ORDER BY id LIMIT ?2",
                           &s);
        if (ok) {
            sqls_int(s, 1, (long long)j->before_ms);
            sqls_int(s, 2, ERASE_BATCH);
            int r;
            while ((r = sqls_step(s)) == SQL_ROW)
                snprintf(ids[n++], ULID_LEN + 1, "%s", sqls_col(s, 0));
            ok = r == SQL_DONE;
        }
        sqls_finalize(&s);
    }
    for (size_t i = 0; ok && i < n; i++) {
        bool found = false;
        ok = erase_id(p, ids[i], ms, &found, erased);
        j->erased += found;
    }
    if (ok && j->job.op == STORE_OP_RETAIN && n == ERASE_BATCH)
        goto again;
    free(ids);
    return ok;
}

static bool session_setup(struct pgstore *p, char *err, size_t cap);

/* Commits one batch; on failure every job in it fails: nothing half-written. */
static int run_batch(struct pgstore *p, struct store_job *batch)
{
    uint64_t ms = now_ms();
    bool erased = false, queued = false, ok = true;
    if (PQstatus(p->wconn) != CONNECTION_OK) {
        /* the database went away: try again with each batch until it is
         * back (each of these jobs fails meanwhile: nothing acknowledged) */
        char err[256];
        PQreset(p->wconn);
        if (!(ok = PQstatus(p->wconn) == CONNECTION_OK && session_setup(p, err, sizeof(err))))
            log_warn("postgres: unreachable; this batch is refused");
        else
            log_info("postgres: connected again");
    }
    long long unfolded = p->unfolded;
    ok = ok && pg_sql(p->wconn, "BEGIN", NULL, 0) && !rollup_writing(p->wsql, p->upto) &&
         lock_keys(p, batch);
    for (struct store_job *j = batch; ok && j; j = j->next) {
        if (j->op == STORE_OP_LEAD)
            ok = apply_lead(p, (struct store_lead_job *)j, ms, &queued);
        else if (j->op == STORE_OP_ERASE)
            ok = apply_erase(p, (struct store_erase_job *)j, ms, &erased);
        else if (j->op == STORE_OP_RETAIN || j->op == STORE_OP_EXPIRE)
            ok = apply_erase_many(p, (struct store_retain_job *)j, ms, &erased);
        else
            ok = !admin_apply(p->wsql, &p->ids, j, ms, &queued);
    }
    if (ok && p->below.len) {
        buf_addc(&p->below, '}');
        ok = !buf_error(&p->below) && !rollup_count_in(p->wsql, buf_str(&p->below));
    }
    buf_reset(&p->below);
    if (ok && queued) /* idle dispatchers wake at the commit */
        ok = pg_sql(p->wconn, "SELECT pg_notify('leadd_outbox', '')", NULL, 0);
    if (ok)
        ok = pg_sql(p->wconn, "COMMIT", NULL, 0);
    /* The erased rows' old versions go from the tables' pages now, not at
     * autovacuum's leisure (WAL and backups still hold them until they
     * age out: README says what PostgreSQL keeps). */
    if (ok && erased &&
        !pg_sql(p->wconn, "VACUUM leads, lead_history, consents, deliveries, delivery_attempts",
                NULL, 0))
        log_warn("vacuum after erasure failed: the old versions go at the next vacuum");
    atomic_store(&p->writable, ok);
    if (!ok) {
        p->unfolded = unfolded; /* none of them was stored */
        if (PQstatus(p->wconn) == CONNECTION_OK)
            pg_sql(p->wconn, "ROLLBACK", NULL, 0);
        return LEADD_EDB;
    }
    if (!unfolded && p->unfolded)
        p->unfolded_since_ms = ms;
    return 0;
}

/* As SQLite's writer: the leads stored since the last fold are counted in
 * after ROLLUP_FOLD_LEADS of them or ROLLUP_FOLD_MS (now: all of them, at
 * a stop). Whichever node folds counts every node's. */
static void fold_due(struct pgstore *p, bool now)
{
    if (!p->unfolded || !atomic_load(&p->writable) ||
        (!now && p->unfolded < ROLLUP_FOLD_LEADS &&
         now_ms() - p->unfolded_since_ms < (uint64_t)ROLLUP_FOLD_MS))
        return;
    if (!rollup_fold_on(p->wsql))
        p->unfolded = 0; /* else logged; tried again after the next batch */
}

static void noop_done(struct store_job *job, void *arg)
{
    (void)job;
    (void)arg;
}

/* Between batches, as SQLite's writer: a database that went away is tried
 * again (readiness comes back by itself), unconfirmed leads past their
 * deadline and, daily, leads past retention are erased, old
 * Idempotency-Keys and full rate buckets dropped. Every node does it; what two do at once is
 * done once, the rows being locked as they change. */
static void maintain(struct pgstore *p, uint64_t *last_prune, uint64_t *last_retain,
                     uint64_t *last_expire)
{
    uint64_t ms = now_ms();
    if (!atomic_load(&p->writable)) {
        if (run_batch(p, NULL) == 0)
            log_info("postgres: writable again");
        return;
    }
    if (ms - *last_expire >= (uint64_t)EXPIRE_EVERY_MS) {
        struct store_retain_job j = {.job = {.op = STORE_OP_EXPIRE, .done = noop_done}};
        *last_expire = ms;
        if (run_batch(p, &j.job) == 0 && j.erased)
            log_info("double opt-in: erased %lld leads not confirmed in time", j.erased);
    }
    long long keep = atomic_load(&p->retention_ms);
    if (keep > 0 && ms - *last_retain >= (uint64_t)RETAIN_EVERY_MS) {
        struct store_retain_job j = {.job = {.op = STORE_OP_RETAIN, .done = noop_done},
                                     .before_ms = ms - (uint64_t)keep};
        *last_retain = ms;
        if (run_batch(p, &j.job) == 0 && j.erased)
            log_info("retention: erased %lld leads older than %lld days", j.erased,
                     keep / (24 * 3600 * 1000));
    }
    if (ms - *last_prune >= (uint64_t)PRUNE_EVERY_MS) {
        *last_prune = ms;
        if (sql_exec(p->wsql, NULL, "DELETE FROM idempotency_keys WHERE created_ms < ?1", "i",
                     (long long)ms - STORE_IDEM_TTL_MS))
            log_warn("postgres: old Idempotency-Keys not dropped; tried again later");
        /* buckets full again say nothing a new one would not (shared.c) */
        if (sql_exec(p->wsql, NULL,
                     "DELETE FROM rate_buckets WHERE full_ms <"
                     " (extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                     ""))
            log_warn("postgres: full rate buckets not dropped; tried again later");
    }
}

void pgstore_get_stats(struct pgstore *p, struct store_stats *out)
{
    writer_stats_get(&p->stats, &p->q, out);
}

void pgstore_set_retention(struct pgstore *p, long long ms)
{
    atomic_store(&p->retention_ms, ms);
}

static void *pg_writer_main(void *arg)
{
    struct pgstore *p = arg;
    /* the first upkeep at once: what expired while no node ran goes now */
    uint64_t last_prune = 0, last_retain = 0, last_expire = 0;
    for (;;) {
        size_t n;
        bool stopped;
        struct store_job *batch = jobq_take(&p->q, STORE_MAX_BATCH, 1000, &n, &stopped);
        if (stopped)
            break;
        if (!batch) {
            maintain(p, &last_prune, &last_retain, &last_expire);
            fold_due(p, false);
            continue;
        }
        int rc = run_batch(p, batch);
        if (!rc)
            writer_stats_add(&p->stats, n);
        for (struct store_job *j = batch, *next; j; j = next) {
            next = j->next;
            if (rc)
                j->rc = rc;
            j->done(j, j->arg); /* the job may be freed from here on */
        }
        fold_due(p, false); /* after the answers: they wait for no fold */
    }
    fold_due(p, true); /* the counters are left complete */
    return NULL;
}

/* What the writer's session needs, at start and after each reconnect (a
 * new session has no prepared statements). */
static bool session_setup(struct pgstore *p, char *err, size_t cap)
{
    /* 201 only once the commit is durable, whatever the server's default */
    if (!pg_sql(p->wconn, "SET synchronous_commit = on", err, cap))
        return false;
    for (size_t i = 0; i < LEADD_ARRAY_LEN(STMTS); i++) {
        PGresult *r = PQprepare(p->wconn, STMTS[i].name, STMTS[i].sql, 0, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, cap, "%s: %s", STMTS[i].name, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok)
            return false;
    }
    return true;
}

/* The consent salt: made by the first node to need it, read by the rest
 * (copied over by leadd copy, so hashes kept on SQLite still match). */
static bool load_salt(struct pgstore *p, char *err, size_t cap)
{
    unsigned char fresh[CONSENT_SALT_LEN];
    char hex[2 * CONSENT_SALT_LEN + 1];
    if (crypto_random(fresh, sizeof(fresh)))
        return false;
    crypto_hex(fresh, sizeof(fresh), hex);
    const char *v = hex;
    PGresult *r;
    if (!pg_done(PQexecParams(p->wconn,
                              "INSERT INTO store_meta(key, value) VALUES ('consent_salt', $1)"
                              " ON CONFLICT (key) DO NOTHING",
                              1, NULL, &v, NULL, NULL, 0),
                 err, cap))
        return false;
    r = PQexec(p->wconn, "SELECT value FROM store_meta WHERE key = 'consent_salt'");
    bool ok =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
        !hex_decode(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), p->salt, CONSENT_SALT_LEN);
    if (!ok)
        snprintf(err, cap, "unable to read the consent salt: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* Everything pgstore_open made, once the writer is stopped. */
static void release(struct pgstore *p)
{
    sqlc_close(&p->wsql);
    PQfinish(p->wconn);
    PQfinish(p->oconn);
    PQfinish(p->cconn);
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    pthread_mutex_destroy(&p->cmu);
    jobq_destroy(&p->q);
    buf_release(&p->below);
    free(p);
}

int pgstore_open(struct pgstore **out, const char *url, char *err, size_t cap)
{
    int applied, rc;
    struct pgstore *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p)
        return LEADD_ENOMEM;
    jobq_init(&p->q);
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&p->cmu, NULL);
    ulid_gen_init(&p->ids); /* random: two nodes' ids never meet */
    buf_init(&p->below, STORE_MAX_BATCH * (ULID_LEN + 1) + 2);
    if ((rc = store_pg_migrate(url, &applied, err, cap)))
        goto fail;
    rc = LEADD_EDB;
    if (!(p->wconn = pg_connect(url, err, cap)) || !session_setup(p, err, cap) ||
        !load_salt(p, err, cap))
        goto fail;
    if ((rc = sqlc_pgconn(p->wconn, &p->wsql)))
        goto fail;
    rc = LEADD_EDB;
    if (p->wake_fd < 0) {
        snprintf(err, cap, "eventfd: %s", strerror(errno));
        rc = LEADD_ENOMEM;
        goto fail;
    }
    if (!(p->oconn = pg_connect(url, err, cap)) ||
        !pg_sql(p->oconn, "LISTEN leadd_outbox; LISTEN leadd_events", err, cap) ||
        !(p->cconn = pg_connect(url, err, cap)))
        goto fail;
    if (pthread_create(&p->writer, NULL, pg_writer_main, p)) {
        rc = LEADD_ENOMEM;
        goto fail;
    }
    p->writer_started = true;
    atomic_store(&p->writable, true);
    *out = p;
    return 0;
fail:
    release(p);
    return rc;
}

void pgstore_salt(struct pgstore *p, unsigned char out[CONSENT_SALT_LEN])
{
    memcpy(out, p->salt, CONSENT_SALT_LEN);
}

bool pgstore_writable(struct pgstore *p)
{
    return atomic_load(&p->writable);
}

int pgstore_submit(struct pgstore *p, struct store_job *job)
{
    return jobq_push(&p->q, job);
}

void pgstore_close(struct pgstore **pp)
{
    struct pgstore *p = *pp;
    if (!p)
        return;
    jobq_stop(&p->q);
    if (p->writer_started)
        pthread_join(p->writer, NULL);
    release(p);
    *pp = NULL;
}

void pgstore_outbox_wake(struct pgstore *p)
{
    uint64_t one = 1;
    if (p && write(p->wake_fd, &one, sizeof(one)) < 0)
        log_warn("unable to wake the outbox listener: %s", strerror(errno));
}

/* ---- the outbox, for a node's forwarder (one thread) ---- */

/* ids[0..n) as a PostgreSQL array literal, "{1,2,3}" (at most
 * OUTBOX_CLAIM_MAX of them). */
static void id_array(const long long *ids, size_t n, char out[OUTBOX_CLAIM_MAX * 24 + 4])
{
    size_t at = 0, cap = OUTBOX_CLAIM_MAX * 24 + 4;
    out[at++] = '{';
    for (size_t i = 0; i < n && i < OUTBOX_CLAIM_MAX; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%lld", i ? "," : "", ids[i]);
    snprintf(out + at, cap - at, "}");
}

int pgstore_claim(struct pgstore *p, const char *webhook, const char *node, uint64_t now,
                  uint64_t lease_ms, size_t max, const long long *skip, size_t nskip,
                  long long *ids, size_t *n)
{
    char t[24], until[24], lim[24], held[OUTBOX_CLAIM_MAX * 24 + 4];
    snprintf(t, sizeof(t), "%llu", (unsigned long long)now);
    snprintf(until, sizeof(until), "%llu", (unsigned long long)(now + lease_ms));
    snprintf(lim, sizeof(lim), "%zu", max);
    id_array(skip, nskip, held);
    const char *v[] = {webhook, node, t, until, lim, held};
    pthread_mutex_lock(&p->cmu);
    if (PQstatus(p->cconn) != CONNECTION_OK)
        PQreset(p->cconn); /* the database came back: claims go on */
    /* Rows another node is claiming are skipped, not waited for; a claim
     * whose lease ran out (its node died) is anybody's again. */
    PGresult *r = PQexecParams(
        p->cconn,
        "UPDATE deliveries SET claimed_by = $2, claimed_until = $4 WHERE id IN (SELECT id FROM"
        " deliveries WHERE webhook = $1 AND state = 'pending' AND next_attempt_ms <= $3 AND"
        " (claimed_until IS NULL OR claimed_until <= $3) AND id <> ALL($6::bigint[])"
        " ORDER BY next_attempt_ms, id LIMIT $5 FOR UPDATE SKIP LOCKED) RETURNING id",
        6, NULL, v, NULL, NULL, 0);
    pthread_mutex_unlock(&p->cmu);
    *n = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        log_error("postgres: claim: %s", PQresultErrorMessage(r));
        PQclear(r);
        return LEADD_EDB;
    }
    for (int i = 0; i < PQntuples(r) && *n < max; i++)
        ids[(*n)++] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int pgstore_unclaim(struct pgstore *p, const char *node, const long long *ids, size_t n)
{
    char list[OUTBOX_CLAIM_MAX * 24 + 4];
    id_array(ids, n, list);
    const char *v[] = {list, node};
    pthread_mutex_lock(&p->cmu);
    PGresult *r = PQexecParams(p->cconn,
                               "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL"
                               " WHERE id = ANY($1::bigint[]) AND claimed_by = $2",
                               2, NULL, v, NULL, NULL, 0);
    pthread_mutex_unlock(&p->cmu);
    /* not given back: the leases end them (later, not never) */
    return pg_done(r, NULL, 0) ? 0 : LEADD_EDB;
}

bool pgstore_outbox_wait(struct pgstore *p, unsigned timeout_ms,
                         void (*on_update)(void *arg, const char *payload), void *arg)
{
    /* A NOTIFY can be missed (a reconnect, a pooler in transaction mode):
     * the caller polls after timeout_ms whatever happens. */
    int fd = PQsocket(p->oconn);
    struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = p->wake_fd, .events = POLLIN}};
    bool woke = false;
    uint64_t until = mono_ms() + timeout_ms;
    while (!woke && fd >= 0) {
        PGnotify *nt;
        PQconsumeInput(p->oconn);
        while ((nt = PQnotifies(p->oconn))) {
            if (!strcmp(nt->relname, "leadd_events"))
                on_update(arg, nt->extra);
            else
                woke = true;
            PQfreemem(nt);
        }
        uint64_t now = mono_ms();
        if (woke || now >= until || poll(pfd, 2, (int)(until - now)) <= 0)
            break;
        uint64_t n;
        if (pfd[1].revents && read(p->wake_fd, &n, sizeof(n)) == sizeof(n))
            break;
    }
    return woke;
}
