/* internal.h: what the store's files share; not part of the interface. */
#ifndef LEADD_STORE_INTERNAL_H
#define LEADD_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "leadd/buf.h"
#include "leadd/strmap.h"
#include "leadd/store.h"
#include "leadd/ulid.h"
#include "sql.h"

/* A lead as it counts: what it was stored with (the lead_counts view's
 * columns, and lead_filters'). Borrowed strings, NULL for none. */
struct counted {
    const char *day; /* its local day (calendar_day_of), YYYY-MM-DD */
    const char *form, *source, *medium, *campaign;
    unsigned flags;
    const char *grade, *status, *currency;
    bool qualified, has_value;
    long long value_minor, score;
    const char *id; /* its lead_filters row finds its rowid by this */
};
/* Leads added up by the rollup rows they count in, and their lead_filters
 * rows, until written. Zeroed is empty; tally_release frees it. */
#define TALLY_COUNTERS 12 /* leads ... duplicates, revenue_minor: as lead_counts orders them */
struct tally {
    struct strmap rows; /* a rollup row's key -> its sums' index */
    long long (*sums)[TALLY_COUNTERS];
    size_t cap;
    struct tally_filter {
        char id[ULID_LEN + 1];
        long long bucket, score;
    } * filters; /* the leads' lead_filters rows, by id: a new lead's rowid need not be known */
    size_t nfilters, capfilters;
};
/* tally_add: l counted in; LEADD_ENOMEM. */
LEADD_MUST_CHECK int tally_add(struct tally *t, const struct counted *l);
/* tally_write: adds the tally to the counters and lead_filters inside the
 * caller's transaction on c, its rows in one order on every node (two
 * writers adding to the same rows never deadlock), and empties it. */
LEADD_MUST_CHECK int tally_write(struct sqlc *c, struct tally *t);
void tally_reset(struct tally *t);
void tally_release(struct tally *t);

/* The statements leadrows_each() runs, prepared once per connection and
 * size of set: slot 0 for one lead, 1 for sets of n[1]. */
struct leadrow_stmts {
    struct sqls *leads[2], *hist[2];
    int n[2];
};

/* PostgreSQL's outbox: the most one claim takes. */
#define OUTBOX_CLAIM_MAX 64
/* The writers' upkeep between batches (both backends): */
#define PRUNE_EVERY_MS (10LL * 60 * 1000)    /* old Idempotency-Keys dropped */
#define RETAIN_EVERY_MS (24LL * 3600 * 1000) /* retention's erasure */
#define EXPIRE_EVERY_MS (60LL * 1000)        /* unconfirmed leads past their deadline */
/* How long an Idempotency-Key is remembered (writer.c keeps, query.c reads). */
#define STORE_IDEM_TTL_MS (24LL * 3600 * 1000)

#define CONSENT_SALT_LEN 32
/* consent_email_hash (consent.c): the salted hash erasure keeps of an
 * address, as hex: HMAC-SHA256 under the database's salt (store_meta's
 * consent_salt) of the address in lowercase. The same on both backends. */
int consent_email_hash(const unsigned char salt[CONSENT_SALT_LEN], const char *email,
                       char out[SHA256_LEN * 2 + 1]);
/* consent_salt_load: the database's salt into salt, on the writer's
 * connection c, made (and kept in store_meta) by the first writer to need
 * it; LEADD_EDB, logged, when it can be neither read nor made. */
LEADD_MUST_CHECK int consent_salt_load(struct sqlc *c, unsigned char salt[CONSENT_SALT_LEN]);

/* The writer's statements (writer.c). */
#define WRITER_STMTS 20
#define WRITER_TEXTS 32  /* consent wordings the writer remembers */
#define STORE_FIRSTS 256 /* leads whose first lead one statement asks for */

/* The writer's window of first leads (dedupe.c). */
#define STORE_DEDUPE_MAX (1u << 23) /* entries: 192 MB; past it, the exact SQL scan */
struct dedupe_entry {
    uint64_t key; /* dedupe_key(form, email); 0: empty */
    long long rowid, created_ms;
};
struct dedupe {
    struct dedupe_entry *v;
    size_t cap, n;
};
uint64_t dedupe_key(const char *form, const char *email);
const struct dedupe_entry *dedupe_find(const struct dedupe *d, uint64_t key);
/* dedupe_put: LEADD_EFULL past STORE_DEDUPE_MAX, or LEADD_ENOMEM. */
int dedupe_put(struct dedupe *d, uint64_t key, long long rowid, long long created_ms);
void dedupe_expire(struct dedupe *d, long long before_ms);
void dedupe_forget_rowid(struct dedupe *d, long long rowid);
void dedupe_release(struct dedupe *d);

/* The writer's queue (jobq.c): jobs in the order they came; a cap on
 * waiting jobs (STORE_MAX_QUEUE); the writer takes up to a batch at once. */
struct jobq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct store_job *head, *tail;
    size_t depth;
    size_t last; /* jobs the last take returned */
    bool stopping;
};
void jobq_init(struct jobq *q);
void jobq_destroy(struct jobq *q);
/* jobq_push: 0, LEADD_ESHUTDOWN once stopping, LEADD_EFULL past the cap. */
int jobq_push(struct jobq *q, struct store_job *job);
/* jobq_take: waits up to wait_ms for a job; returns up to max jobs as a
 * list (*n of them), or NULL: on timeout, or with *stopped once the queue
 * is stopping and empty. Under load (the last take had more than one job)
 * it waits up to linger_us more while fewer than JOBQ_FILL wait. */
#define JOBQ_FILL 32
struct store_job *jobq_take(struct jobq *q, size_t max, unsigned wait_ms, unsigned linger_us,
                            size_t *n, bool *stopped);
/* jobq_stop: refuses new jobs; the writer drains what waits, then stops. */
void jobq_stop(struct jobq *q);
size_t jobq_depth(struct jobq *q);

/* What a writer committed, SQLite's or PostgreSQL's (store_get_stats):
 * writer_stats_add after each batch of n jobs; writer_stats_get with the
 * depth of its queue q. */
struct writer_stats {
    atomic_uint_fast64_t batches, jobs, max_batch;
};
void writer_stats_add(struct writer_stats *s, size_t n);
void writer_stats_get(struct writer_stats *s, struct jobq *q, struct store_stats *out);

/* How a node claims deliveries for its forwarder: one way a backend,
 * struct store's claims, set at open. outbox_local (SQLite's): the one
 * forwarder reads what is due on its own connection and keeps what it has
 * in flight in memory. outbox_leased (PostgreSQL's): nodes lease rows to
 * themselves in the database, and give them back (unclaim) or let the
 * lease run out. */
struct outbox_claims {
    int (*claim)(struct store *st, const char *webhook, uint64_t now, uint64_t lease_ms, size_t max,
                 const long long *skip, size_t nskip, struct outbox_item *out, size_t *n);
    int (*unclaim)(struct store *st, const long long *ids, size_t n); /* NULL: nothing to do */
    uint64_t (*next_due)(struct store *st);
};
extern const struct outbox_claims outbox_local, outbox_leased;

struct store {
    char *timezone;    /* the zone the rollup's days are counted in */
    struct sqlc *wsql; /* the writer's connection (its thread's only), either engine */
    pthread_t writer;
    bool writer_started;
    struct jobq q;
    pthread_mutex_t mu; /* guards on_outbox and on_update */
    atomic_bool writable;
    struct ulid_gen ids;
    long long retention_ms;
    /* the writer's (writer.c) */
    struct sqls *w[WRITER_STMTS]; /* its statements, prepared once on wsql */
    bool dd_on;                   /* alone on its database (sql_alone): dd remembers first leads */
    struct dedupe dd;             /* see dedupe.c */
    bool dd_full;                 /* over STORE_DEDUPE_MAX: checks go to SQL */
    long long dd_window_ms;       /* the longest window seen: what the table keeps */
    /* the window's first leads a run of the batch's leads asked for at
     * once, where dd does not remember them (writer.c's ask_firsts) */
    struct first {
        const struct store_lead *in;
        char id[ULID_LEN + 1]; /* "": none */
    } firsts[STORE_FIRSTS];
    size_t nfirsts;
    unsigned char consent_salt[CONSENT_SALT_LEN]; /* erased addresses' hash key (store_meta) */
    long long unfolded;                           /* leads stored since the last fold (rollup.c) */
    uint64_t unfolded_since_ms;                   /* when the first of them was */
    char upto[ULID_LEN + 1];        /* the stats' mark, as the batch found it (rollup_writing) */
    struct tally tally;             /* the batch's leads at or below it, not yet counted */
    void (*upkeep)(struct sqlc *c); /* what else the writer drops now and then, or NULL */
    const struct outbox_claims *claims;
    /* consent wordings known stored (never deleted): not written again; a
     * batch's new ones are known once it commits */
    char texts[WRITER_TEXTS][SHA256_LEN * 2 + 1], pending[WRITER_TEXTS][SHA256_LEN * 2 + 1];
    size_t ntexts, npending;
    void (*on_outbox)(void *arg);
    void *on_outbox_arg;
    void (*on_update)(void *arg, const char *id, bool erased); /* another node's change */
    void *on_update_arg;
    /* idle reader connections for the query API */
    pthread_mutex_t rmu;
    pthread_cond_t rcv; /* a reader came back */
    struct reader *readers;
    size_t nreaders; /* open, idle or not */
    size_t pool;     /* at most this many (PostgreSQL's pool); 0: no cap */
    atomic_bool stopping;
    struct writer_stats stats;
    /* SQLite's own: its file, and the forwarder's connection and
     * statements (its thread only; outbox_local's) */
    struct {
        char *path;
        bool durable_full;
        struct sqlc *osql;
        struct sqls *o_claim, *o_due;
        struct leadrow_stmts o_lead; /* leadrows_each's on osql */
    } lite;
    /* PostgreSQL's own (url NULL on SQLite) */
    struct {
        char *url;
        struct pgstore *listen; /* the LISTEN every node shares (pg_outbox.c) */
        char node[320];         /* this node, as its claims name it */
        pthread_t listener;     /* its thread (db.c) */
        bool listener_started;
    } pg;
};

/* db_connect: a connection of its own to the store's database, either
 * engine (readonly: a reader's; durable: SQLite's synchronous=FULL). */
LEADD_MUST_CHECK int db_connect(struct store *st, bool readonly, bool durable, struct sqlc **out);
/* rollup.c (its top says the two ways leads are counted): rollup_fold_on
 * counts the leads past the mark into the rollup, in a transaction of its
 * own on c, the writer's connection (where nodes share the database: every
 * lead stored, under ROLLUP_LOCK taken alone, and the mark becomes
 * ROLLUP_ALL); 0, or LEADD_E*. */
#define ROLLUP_FOLD_LEADS 2000 /* the one writer folds after this many new leads */
#define ROLLUP_FOLD_MS 10000   /* or once the oldest not counted is this old */
#define ROLLUP_ALL                                                                                 \
    "ZZZZZZZZZZZZZZZZZZZZZZZZZZ" /* above every ULID: each lead counted as written                 \
                                  */
LEADD_MUST_CHECK int rollup_fold_on(struct sqlc *c);
/* rollup_count_as_written: where nodes share the database, folds it once
 * if its mark is not ROLLUP_ALL yet (a serving node's start); from then on
 * each batch counts its own leads. Nothing on SQLite. */
LEADD_MUST_CHECK int rollup_count_as_written(struct sqlc *c);
/* rollup_sync: counts the stats again when they were counted in another
 * zone than tz, or never (report.c). */
LEADD_MUST_CHECK int rollup_sync(struct sqlc *c, const char *tz);
/* Where nodes share the database, each transaction that writes leads
 * (capture, a change, an erasure, a rescore) first calls rollup_writing,
 * which takes ROLLUP_LOCK shared until the transaction ends (writers never
 * wait for each other on it) and gives the mark, so a fold or a rebuild
 * (which take it alone) sees every such transaction committed or not
 * begun. Leads stored at or below the mark (every lead, once it is
 * ROLLUP_ALL) are tallied as they are written (tally_add) and the tally
 * added to the counters in the same transaction (tally_write), before
 * anything in it changes them. SQLite: nothing (its one writer folds),
 * *upto "". */
#define ROLLUP_LOCK "465557349477" /* "leadd" in ASCII, plus one */
LEADD_MUST_CHECK int rollup_writing(struct sqlc *c, char upto[ULID_LEN + 1]);

/* admin_apply (admin.c): a PATCH, RETRY, SESSION, SPEND, CONFIRM, WITHDRAW
 * or OUTCOMES job inside the writer's open transaction on c, either
 * backend; *queued when deliveries were added. 0, LEADD_EFULL or LEADD_EDB;
 * the job's rc says the rest. */
int admin_apply(struct sqlc *c, struct ulid_gen *ids, struct store_job *j, uint64_t ms,
                bool *queued);
/* admin_queue_once: queues d for lead_id unless the lead has a delivery to
 * that webhook already (*queued set when it was queued). */
int admin_queue_once(struct sqlc *c, struct ulid_gen *ids, const char *lead_id,
                     const struct store_delivery *d, uint64_t ms, bool *queued);
/* consent.c: consent_confirm and consent_withdraw run in the writer's transaction
 * on c; 0, LEADD_EFULL or LEADD_EDB, and the job's rc says the rest. */
int consent_confirm(struct sqlc *c, struct ulid_gen *ids, struct store_confirm_job *j, uint64_t ms,
                    const char *at, bool *queued);
int consent_withdraw(struct sqlc *c, struct store_withdraw_job *j, uint64_t ms, const char *at);
/* consent_expiring: up to max unconfirmed leads past their deadline, into
 * ids[0..*n), each with its "expired" record written; the caller's writer
 * erases them. */
int consent_expiring(struct sqlc *c, uint64_t ms, const char *at, char (*ids)[ULID_LEN + 1],
                     size_t max, size_t *n);

/* lock_unserved (backup.c): store_lock for commands that need the file
 * still, with why in err when it is served (or cannot be opened). */
int lock_unserved(const char *db_path, int *lock, char *err, size_t cap);
/* sql_migrate (migrate.c): applies c's engine's migrations not yet
 * recorded (*applied: how many), under the driver's migration lock; a
 * database with a migration this binary does not know is refused
 * (LEADD_ECONFLICT). Why in err on failure. */
LEADD_MUST_CHECK int sql_migrate(struct sqlc *c, int *applied, char *err, size_t cap);

/* The columns lead_row_read() reads, in its order. */
#define LEAD_COLUMNS                                                                               \
    "id, form, created_at, status, fields, extra, attribution, client, score, grade, qualified,"   \
    " score_reasons, flags, duplicate_of, coalesce(crm_ids, '{}'), owner, value_minor, currency"
/* lead_row_read: the lead in s's row (LEAD_COLUMNS first), without its
 * detail; borrowed from s until it steps again. */
void lead_row_read(struct sqls *s, struct lead_row *r);
void leadrows_finalize(struct leadrow_stmts *c);
/* leadrows_each: the leads ids[0..n) (distinct) on db, newest first, each
 * with its detail (read mark when viewer, forwarding, history) handed to
 * fn; a lead not there (erased) is left out. Two statements whatever n,
 * within the caller's read snapshot. fn's nonzero return stops it and is
 * returned. */
LEADD_MUST_CHECK int leadrows_each(struct leadrow_stmts *c, struct sqlc *db,
                                   const char (*ids)[ULID_LEN + 1], int n, const char *viewer,
                                   store_lead_fn fn, void *arg);
struct reader {
    struct sqlc *c;
    struct leadrow_stmts lead;
    struct reader *next;
};
/* reader_get: an idle reader, or a new one (PostgreSQL's: waiting while the
 * node's pool are all busy); NULL on failure. */
struct reader *reader_get(struct store *st);
void reader_free(struct reader *r);
void reader_put(struct store *st, struct reader *r);
void readers_close(struct store *st);

/* Delivery states as SQL literals, the same words as delivery_state_names;
 * "delivering" marks a claimed delivery while its attempt runs (the API shows
 * it pending) and is the store's alone. */
#define SQL_PENDING "'pending'"
#define SQL_DELIVERED "'delivered'"
#define SQL_DEAD "'dead'"
#define SQL_DELIVERING "'delivering'"
#define SQL_CANCELLED "'cancelled'"

/* deliveries_cancel: lead_id's deliveries still to be sent are cancelled,
 * with why; the rows and their attempts stay (GET /v1/deliveries shows every
 * attempt). An attempt on the wire meanwhile is recorded when it ends. */
int deliveries_cancel(struct sqlc *c, const char *lead_id, const char *why, uint64_t ms);

/* Binding rule: SQLITE_STATIC only when the bound memory stays unchanged
 * until the statement's last step in the same function; anything stepped
 * later or while the memory changes is bound SQLITE_TRANSIENT (copied). */
#define MAX_BINDS 32
/* A WHERE clause under construction with its bound values, in order. */
struct where {
    struct buf sql;
    struct {
        bool is_int;
        const char *s;
        long long i;
    } b[MAX_BINDS];
    int n;
    char like[512];
    char lo[ULID_LEN + 1], hi[ULID_LEN + 1];
    int rc;
};

/* What where_build() adds besides the filter. */
enum where_flags {
    WHERE_CURSOR = 1u << 0, /* the page starts below f->cursor */
    WHERE_ERASED = 1u << 1, /* erased tombstones too */
};
/* where_build: the WHERE clause for filter f, in c's dialect (NULL: a
 * clause that will not be prepared). Release w->sql when done. */
void where_build(struct where *w, const struct lead_filter *f, unsigned flags,
                 const struct sqlc *c);
/* where_prepare: prepares head + WHERE + tail with the values bound. */
LEADD_MUST_CHECK int where_prepare(struct sqlc *db, struct where *w, const char *head,
                                   const char *tail, struct sqls **out);
LEADD_MUST_CHECK int outbox_prepare(struct store *st);
/* outbox_apply: a store_outcome_job inside either writer's transaction on
 * c; 0, LEADD_EFULL or LEADD_EDB. */
int outbox_apply(struct sqlc *c, struct ulid_gen *ids, const struct store_outcome_job *j,
                 uint64_t ms, bool *queued);
void outbox_finalize(struct store *st);

/* writer.c: the writer's thread, on wsql; writer_prepare readies its
 * statements and reads (or makes) the consent salt. */
void *writer_main(void *arg);
LEADD_MUST_CHECK int writer_prepare(struct store *st);
void writer_finalize(struct store *st);
/* store_outbox_due (db.c): calls the outbox hook (store_set_outbox_hook),
 * if any: deliveries were queued, by this node's writer or another's. */
void store_outbox_due(struct store *st);
/* shared_upkeep (shared.c): the writer's upkeep with other nodes: full rate
 * buckets dropped. */
void shared_upkeep(struct sqlc *c);

#endif
