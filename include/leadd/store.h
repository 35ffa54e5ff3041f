/* store.h: durable storage of leads in SQLite (the only module that includes
 * sqlite3.h).
 *
 * All writes go through one writer thread. Request threads hand it a job and
 * are called back once the job's transaction has committed (and, with
 * durability=full, been fsync'd): many jobs share one commit (group commit),
 * so the cost of an fsync is shared by every lead in the batch. */
#ifndef LEADD_STORE_H
#define LEADD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leadd/buf.h"
#include "leadd/common.h"
#include "leadd/crypto.h"
#include "leadd/ulid.h"

#define STORE_MAX_QUEUE 20000   /* jobs waiting for the writer; more answer 503 */
#define STORE_MAX_BATCH 1024    /* jobs in one transaction */
#define STORE_MAX_DELIVERIES 32 /* webhooks one lead can be queued for */

struct store;

struct store_opts {
    const char *path;
    bool durable_full;          /* synchronous=FULL: fsync before a commit returns */
    bool serving;               /* start the writer and the outbox (false for batch commands) */
    long long retention_days;   /* erase leads older than this, at start and daily; 0: keep */
    long long dedupe_window_ms; /* the longest dedupe window of any form (loaded at start) */
    /* the IANA zone of the stats' days ([server] timezone; NULL: UTC). The
     * process takes it (calendar.h), and the counters are rebuilt when the
     * database's were counted in another zone. */
    const char *timezone;
    /* PostgreSQL ([storage] backend = postgres): a libpq URI or key=value
     * string; NULL for SQLite at path. pool: the node's reader connections
     * at most (0: 8). Every call below works on both, but for
     * store_rollup_rebuild (SQLite's alone: LEADD_EINVAL) and the file
     * commands (store_backup, store_restore, store_lock, store_migrate). */
    const char *pg_url;
    size_t pool;
    /* PostgreSQL, serving: this node's name (unique among the nodes: host
     * and listen address); at start, claims it held before a crash are let
     * go. NULL: a random name. */
    const char *node;
};

/* One webhook delivery to queue with a lead (skipped for duplicates). */
struct store_delivery {
    const char *webhook;
    const char *event; /* a forward_event_names[] entry (forward.h) */
};

/* A delivery's state, as the API shows it and the database stores it. */
/* cancelled: never to be sent (its lead withdrew consent or was marked
 * spam); the row and its attempts stay, with why. */
enum delivery_state {
    DELIVERY_PENDING,
    DELIVERY_DELIVERED,
    DELIVERY_DEAD,
    DELIVERY_CANCELLED,
    DELIVERY_STATE_COUNT
};
extern const char *const delivery_state_names[DELIVERY_STATE_COUNT];

/* A consent the submission gave (a consent field ticked): recorded with the
 * lead, in its transaction. */
struct store_consent {
    const char *field;
    const char *text; /* the exact wording shown */
    char text_hash[SHA256_LEN * 2 + 1];
};

/* A lead as the writer inserts it. Strings are borrowed from the job's owner
 * until the job is done; NULL where absent. */
struct store_lead {
    const char *form;
    const char *email, *name, *company;
    const char *fields, *extra, *attribution, *client; /* JSON text */
    const char *utm_source, *utm_medium, *utm_campaign;
    unsigned flags;
    long long score;
    const char *grade;
    bool qualified;
    const char *score_reasons;  /* JSON text */
    long long dedupe_window_ms; /* 0: no duplicate check */
    const char *idem_key;       /* Idempotency-Key, or NULL */
    const char *owner;          /* given by the form's assign rules, or NULL */
    unsigned char body_hash[SHA256_LEN];
    int status; /* the HTTP status this submission answers, kept for replays */
    const struct store_delivery *deliveries;
    size_t ndeliveries;
    /* leadd seed's synthetic history; 0 and NULLs for every real submission */
    uint64_t created_ms;   /* 0: now; else a time before every lead stored since */
    const char *lifecycle; /* NULL: new; else a lead_status_names[] entry */
    long long value_minor; /* with currency: its deal value */
    const char *currency;
    /* the consent record: consents given, and where from */
    const struct store_consent *consents;
    size_t nconsents;
    const char *ip, *user_agent, *page; /* page: the landing page, else the referrer */
    /* double opt-in (lifecycle "unconfirmed"): the link's token, kept as its
     * hash; the mail to confirm_webhook carries the token itself. No mail for
     * a duplicate, or a lead flagged honeypot or too_fast. */
    struct store_delivery confirm_mail; /* webhook NULL: no double opt-in */
    const char *confirm_token;
    unsigned char confirm_hash[SHA256_LEN];
    long long confirm_within_ms;
};

/* What a job asks the writer to do; each has its own job type below. */
enum store_op {
    STORE_OP_LEAD,     /* struct store_lead_job: insert a submission */
    STORE_OP_PATCH,    /* struct store_patch_job: set status, append history */
    STORE_OP_ERASE,    /* struct store_erase_job: erase one lead's personal data */
    STORE_OP_RETRY,    /* struct store_retry_job: re-queue a dead delivery */
    STORE_OP_RETAIN,   /* struct store_retain_job: erase leads created before a time */
    STORE_OP_OUTCOMES, /* struct store_outcome_job: record delivery attempts */
    STORE_OP_SESSION,  /* struct store_session_job: sign in, out, or seen */
    STORE_OP_SPEND,    /* struct store_spend_job: record or remove ad spend */
    STORE_OP_CONFIRM,  /* struct store_confirm_job: a double opt-in link followed */
    STORE_OP_WITHDRAW, /* struct store_withdraw_job: consent withdrawn */
    STORE_OP_EXPIRE,   /* struct store_retain_job: erase unconfirmed leads past their deadline */
};

/* The header every job starts with (after libuv's UV_REQ_FIELDS): each job
 * type below embeds it as its first member, named job, and the writer finds
 * the payload from op. */
struct store_job {
    enum store_op op;
    /* result, valid when done() is called: 0, LEADD_ENOTFOUND, LEADD_ECONFLICT,
     * LEADD_EFULL or LEADD_EDB */
    int rc;
    /* done: called once, on the writer thread, after the commit. The writer
     * does not touch the job after calling it. */
    void (*done)(struct store_job *job, void *arg);
    void *arg;
    struct store_job *next; /* private to the store */
};

struct store_lead_job {
    struct store_job job;
    struct store_lead in;
    /* results */
    bool replayed;     /* an earlier submission with this key: nothing stored */
    unsigned flags;    /* the flags stored (the writer adds duplicate) */
    int replay_status; /* its HTTP status */
    char id[ULID_LEN + 1];
};

struct store_patch_job {
    struct store_job job;
    const char *lead_id;
    const char *status; /* NULL: unchanged */
    const char *note;   /* NULL: none */
    const char *actor;  /* who: a user's name, or "api" */
    bool set_owner;
    const char *owner; /* with set_owner: the new owner, NULL for none */
    int spam;          /* -1 unchanged; 1 marked spam (pending deliveries cancelled);
                          0 not spam (spam flags cleared, scored anew below) */
    long long score;   /* with spam = 0 */
    const char *grade, *score_reasons;
    bool qualified;
    bool set_value; /* a deal value: value_minor in currency, or none when !currency */
    long long value_minor;
    const char *currency;
    /* deliveries the lead is now eligible for: queued in the same
     * transaction, unless it already has one for that webhook */
    const struct store_delivery *deliveries;
    size_t ndeliveries;
    /* a CRM's event (inbound.c): applied once per source and event id; a
     * second time the job's rc is LEADD_ECONFLICT and nothing changes */
    const char *event_source, *event_id;
};

/* One lead by id (ENOTFOUND when there is none left to erase), or every
 * lead of one person: email, as the forms normalise it (norm_email). */
struct store_erase_job {
    struct store_job job;
    const char *lead_id;
    const char *email;
    /* result, by email: the leads erased (malloc'ed: the caller frees it) */
    char (*ids)[ULID_LEN + 1];
    size_t nids;
};

struct store_retry_job {
    struct store_job job;
    long long delivery_id; /* ECONFLICT when it is not dead */
};

enum session_change { SESSION_CREATE, SESSION_DELETE, SESSION_SEEN, SESSION_READ };
struct store_session_job {
    struct store_job job;
    enum session_change change;
    unsigned char token_hash[SHA256_LEN];
    const char *user;           /* SESSION_CREATE, SESSION_READ */
    bool key;                   /* SESSION_CREATE: made with an API key (user "api") */
    const char *credential;     /* SESSION_CREATE: its credential's fingerprint (hex) */
    char lead_id[ULID_LEN + 1]; /* SESSION_READ: the lead user opened */
    uint64_t at_ms;
};

struct store_retain_job {
    struct store_job job;
    uint64_t before_ms;
    long long erased; /* result: how many */
};

/* ---- consent (consent.c) ---- */

/* What a double opt-in link's token refers to (store_confirm_peek). */
enum confirm_state { CONFIRM_OPEN, CONFIRM_USED, CONFIRM_EXPIRED };
struct confirm_info {
    char lead_id[ULID_LEN + 1];
    char form[80];
    enum confirm_state state;
};
/* store_confirm_peek: the lead and state of a token's hash (a reader);
 * LEADD_ENOTFOUND when no lead has it. A lead erased since is EXPIRED. */
LEADD_MUST_CHECK int store_confirm_peek(struct store *st, const unsigned char hash[SHA256_LEN],
                                        uint64_t now_ms, struct confirm_info *out);

/* The link followed: in one transaction the token is used, a "confirmed"
 * consent recorded (time, ip, user agent), the lead moved to new with the
 * score given here, its owner set and its deliveries queued. rc:
 * LEADD_ENOTFOUND (no such token, or its lead erased), LEADD_ECONFLICT
 * (used already), LEADD_ETOOBIG (expired). Strings borrowed until done. */
struct store_confirm_job {
    struct store_job job;
    unsigned char token_hash[SHA256_LEN];
    const char *ip, *user_agent;
    long long score;
    const char *grade, *score_reasons;
    bool qualified;
    const char *owner;
    const struct store_delivery *deliveries;
    size_t ndeliveries;
};

/* A withdrawal, of a lead by id (the API) or by its link's token (the
 * unsubscribe link): a "withdrawn" record, the flag consent_withdrawn, and
 * its pending deliveries cancelled. Withdrawing again records nothing. */
struct store_withdraw_job {
    struct store_job job;
    const char *lead_id; /* or NULL, and by_token */
    bool by_token;
    unsigned char token_hash[SHA256_LEN];
    const char *actor, *ip, *user_agent;
    char found_id[ULID_LEN + 1]; /* result: the lead's id */
};

/* A consent record as stored (NULL where it has none); borrowed for the
 * call. */
struct store_consent_row {
    const char *lead_id, *kind, *form, *field, *text, *text_hash, *at, *ip, *user_agent, *page,
        *actor, *email_hash;
};
typedef int (*store_consent_fn)(void *arg, const struct store_consent_row *c);
/* store_list_consents: the records oldest first to fn, for a lead (its id)
 * or for an email address (every lead's of that address, erased ones
 * through the hash kept); LEADD_ENOTFOUND for an unknown lead. */
LEADD_MUST_CHECK int store_list_consents(struct store *st, const char *lead_id, const char *email,
                                         store_consent_fn fn, void *arg);

/* store_open: opens (creating if needed) the database, applies pending
 * migrations and starts the writer. */
LEADD_MUST_CHECK int store_open(struct store **out, const struct store_opts *o);
/* store_close: waits for every queued job to commit, stops the writer,
 * closes the database, frees the store and sets *sp to NULL. */
void store_close(struct store **sp);
/* store_backup: a consistent, checked, fsync'd copy of the database at
 * db_path into dest, taken while leadd may be serving it (VACUUM INTO: a
 * fresh file, nothing erased before it began is in it). On failure, why in
 * err and no file at dest. */
LEADD_MUST_CHECK int store_backup(const char *db_path, const char *dest, char *err, size_t cap);
/* store_restore: replaces the database at db_path with a copy of src, once
 * src is checked (a sound leadd database of a schema this binary knows);
 * LEADD_ECONFLICT while a leadd serves db_path. Why in err. */
LEADD_MUST_CHECK int store_restore(const char *db_path, const char *src, char *err, size_t cap);
/* store_lock: takes the serving lock on the database file (an flock(), which
 * SQLite's fcntl() locks do not see) into *fd, held until it is closed;
 * LEADD_ECONFLICT when another process holds it. */
LEADD_MUST_CHECK int store_lock(const char *db_path, int *fd);
/* store_pg_migrate: applies leadd's PostgreSQL migrations (migrations/postgres/)
 * to the database at url (a libpq URI or key=value string; "" takes libpq's
 * PG* environment), under an advisory lock: nodes starting together migrate
 * once. A database that has a migration this binary does not know is
 * refused (LEADD_ECONFLICT). *applied: how many this call applied; why in
 * err on failure. The schema is kept equal to SQLite's by
 * tests/integration/itest_pg.c. */
LEADD_MUST_CHECK int store_pg_migrate(const char *url, int *applied, char *err, size_t cap);
/* store_pg_compact: rewrites the PostgreSQL tables that hold personal data
 * (leads, lead_history, consents, deliveries, delivery_attempts,
 * confirm_tokens) and their indexes, so an erased lead's old row versions,
 * which VACUUM frees but does not overwrite, leave the database's files
 * (leadd compact; README says what stays in WAL). Why in err. */
LEADD_MUST_CHECK int store_pg_compact(const char *url, char *err, size_t cap);
/* store_copy_to_pg: leadd copy: the SQLite database at db_path (not served:
 * its lock is taken) into the PostgreSQL database at url, migrated first,
 * table by table in transactions of batch rows that commit with their
 * progress: run again after a failure, it resumes where it stopped. A
 * database that already holds leads of its own is refused. At the end each
 * table's rows are counted on both sides (report(table, rows, arg) for
 * each); a difference fails it. Why in err. */
LEADD_MUST_CHECK int store_copy_to_pg(const char *db_path, const char *url, size_t batch,
                                      void (*report)(const char *table, long long rows, void *arg),
                                      void *arg, char *err, size_t cap);
/* ---- PostgreSQL's listener: what store_open adds when given a PostgreSQL
 * URL, besides the writer and the outbox (the same on both engines).
 * pgstore_open migrates the database at url on the connection that then
 * listens (src/store/pg_outbox.c). ---- */
struct pgstore;
LEADD_MUST_CHECK int pgstore_open(struct pgstore **out, const char *url, char *err, size_t cap);
void pgstore_close(struct pgstore **pp);
/* pgstore_outbox_wait: waits up to timeout_ms for a NOTIFY that some node
 * queued deliveries; false on timeout (a NOTIFY can be missed: poll anyway).
 * A node's announced change (leadd_events) met meanwhile goes to on_update
 * with its payload. */
bool pgstore_outbox_wait(struct pgstore *p, unsigned timeout_ms,
                         void (*on_update)(void *arg, const char *payload), void *arg);
/* pgstore_outbox_wake: ends a pgstore_outbox_wait under way (or the next
 * one) at once, returning false: a closing store's listener stops now, not
 * at the end of its wait. */
void pgstore_outbox_wake(struct pgstore *p);

/* store_migrate: applies pending migrations (migrations/sqlite/) to the file
 * at path and returns; a file migrated by a newer leadd is refused
 * (LEADD_ECONFLICT), as store_pg_migrate refuses such a database. Why is
 * logged. */
LEADD_MUST_CHECK int store_migrate(const char *path, int *applied);

/* store_submit: queues a job for the writer. On 0, job->done will be called
 * exactly once, later, from the writer thread. On an error (LEADD_ESHUTDOWN,
 * LEADD_EFULL when the queue is full) it is never called. */
LEADD_MUST_CHECK int store_submit(struct store *st, struct store_job *job);
/* store_shared: whether other processes write this database too (nodes on
 * one PostgreSQL): what one node did is then learnt from the database. */
bool store_shared(const struct store *st);
/* What one node would keep in memory, kept by the database when it is
 * shared, so every node counts against the same state (shared.c). Call
 * these only when store_shared(); on LEADD_EDB the caller falls back to
 * its own memory rather than refuse a visitor for the database's sake.
 * store_rate_take: takes one token (take; else asks whether one is there)
 * from key's bucket (limit tokens, refilled limit per window_s, by the
 * database's clock): *ok, and when not ok *retry_after_s, the seconds until
 * a token is back. */
LEADD_MUST_CHECK int store_rate_take(struct store *st, const char *key, long long limit,
                                     long long window_s, bool take, bool *ok,
                                     long long *retry_after_s);
/* store_turn: the next number of key's counter: 0, 1, 2... across nodes. */
LEADD_MUST_CHECK int store_turn(struct store *st, const char *key, unsigned long *n);
/* store_take_sends: up to want starts of requests for key (at most limit
 * in any window_ms, whichever node sends them): *granted, when they were
 * granted by the database's clock (*at_ms, the time their attempts are
 * recorded at), and when fewer than want, *wait_ms until the next may. */
LEADD_MUST_CHECK int store_take_sends(struct store *st, const char *key, size_t want,
                                      long long limit, long long window_ms, size_t *granted,
                                      uint64_t *wait_ms, uint64_t *at_ms);
/* store_announce: tells the other nodes (NOTIFY) that a person changed or
 * erased lead id, once the change is committed; nothing on SQLite.
 * store_set_update_hook: fn(arg, id, erased) is called, on a thread of the
 * store's, for each change another node announces (NULL: none; once it
 * returns, fn is not running and will not be called). */
void store_announce(struct store *st, const char *id, bool erased);
void store_set_update_hook(struct store *st, void (*fn)(void *arg, const char *id, bool erased),
                           void *arg);
/* store_writable: whether the last write succeeded (for /readyz). */
bool store_writable(const struct store *st);

/* store_set_outbox_hook: fn(arg) is called on the writer thread after each
 * commit that queued deliveries (the forwarder wakes up on it). */
void store_set_outbox_hook(struct store *st, void (*fn)(void *arg), void *arg);

/* ---- the outbox, for the forwarder's one thread ----
 * These use a connection of their own: call them from one thread only. */

struct outbox_item {
    long long id;
    char lead_id[ULID_LEN + 1];
    char webhook[80];
    char webhook_id[40];
    char event[32];
    char created_at[32]; /* when the delivery was queued: the event's timestamp */
    int attempts;        /* attempts made before this one */
    char *lead_json;     /* the lead as the API shows it (owned; free()) */
    /* a double opt-in mail's: the link's token (kept in clear only until the
     * mail is delivered) and the lead's address; "" for other deliveries */
    char secret[CRYPTO_TOKEN_LEN];
    char mail_to[256];
    /* how many changes had asked for this update when it was claimed (a
     * lead.updated's; 0 for other events) */
    long long version;
};

/* How one attempt went, and the delivery's state after it (pending again at
 * next_ms, delivered or dead). */
struct outbox_attempt {
    long long delivery_id;
    /* the delivery's webhook-id: an attempt is recorded only against the
     * delivery it was made for, never another that has its (reused) id */
    const char *webhook_id;
    uint64_t at_ms;
    long status;       /* 0: no HTTP (or SMTP) status */
    const char *error; /* NULL on success */
    long duration_ms;
    const char *response;
    size_t response_len;
    enum delivery_state state;
    uint64_t next_ms;
    /* the CRM's id for the lead, kept in its crm_ids under webhook; NULL: none */
    const char *lead_id, *webhook, *crm_id;
    /* a lead.updated delivered: its lead and webhook, and the item's
     * version (another update is queued if a change asked for one since);
     * NULL: not an update */
    const char *update_of, *update_webhook;
    long long version;
};

/* store_outbox_claim: up to max due deliveries of one webhook, in out[0..*n),
 * leaving out the ids in skip[0..nskip) (the caller's own in flight).
 * SQLite: one forwarder a database claims in memory, so a claim is a read
 * and never waits for the writer. PostgreSQL: each row is leased to this
 * node until now + lease_ms (longer than its attempt can take), FOR UPDATE
 * SKIP LOCKED, so nodes claiming at once get disjoint sets; a node that
 * dies holding claims loses them when the leases end, and skip keeps an
 * attempt that outlasted its lease from being sent twice by its own node.
 * Free each lead_json. */
LEADD_MUST_CHECK int store_outbox_claim(struct store *st, const char *webhook, uint64_t now_ms,
                                        uint64_t lease_ms, size_t max, const long long *skip,
                                        size_t nskip, struct outbox_item *out, size_t *n);
/* store_outbox_unclaim: gives back claims on items[0..n) the caller will
 * not send now (another node may take them at once); frees their
 * lead_json. Nothing to give back on SQLite (its claims are the caller's
 * memory). */
LEADD_MUST_CHECK int store_outbox_unclaim(struct store *st, struct outbox_item *items, size_t n);
/* store_outbox_next_due: the earliest next attempt of any pending delivery,
 * or UINT64_MAX when none is pending. */
uint64_t store_outbox_next_due(struct store *st);
/* Attempts to record: a writer job, so outcomes share the capture path's
 * group commits (several outcomes a transaction, never one fsync each). Each
 * delivery gets its attempt row and its new state; a CRM id goes into the
 * lead's crm_ids. The job's strings are the caller's until done. */
struct store_outcome_job {
    struct store_job job;
    const struct outbox_attempt *v;
    size_t n;
};

/* store_inbound_lead: the lead a CRM's record is about: the newest one the
 * target `webhook` kept record_id for, else (email not NULL) the newest
 * valid lead of that address (as the forms normalise it). LEADD_ENOTFOUND
 * when none. */
LEADD_MUST_CHECK int store_inbound_lead(struct store *st, const char *webhook,
                                        const char *record_id, const char *email,
                                        char out[ULID_LEN + 1]);

/* A conversion for the ad platforms: a lead that converted (at: its first
 * time converted) or qualified (at: its arrival), RFC 3339 UTC. Borrowed
 * until the callback returns. consent: the lead's form recorded consent
 * given (withdrawn: flags has LEAD_FLAG_CONSENT_WITHDRAWN). */
struct conversion_row {
    const char *id, *form, *at;
    const char *attribution, *fields, *email; /* JSON, JSON, NULL */
    size_t attribution_len, fields_len;
    bool has_value;
    long long value_minor;
    const char *currency;
    unsigned flags;
    bool consent;
};
/* store_conversions: each conversion whose time is in [from_ms, to_ms), in
 * time order; fn's nonzero return stops it and is returned. */
LEADD_MUST_CHECK int store_conversions(struct store *st, bool qualified, uint64_t from_ms,
                                       uint64_t to_ms,
                                       int (*fn)(const struct conversion_row *c, void *arg),
                                       void *arg);

/* store_lead_ip: the address a lead was submitted from (its client
 * record), into out ("" when erased or unknown). */
LEADD_MUST_CHECK int store_lead_ip(struct store *st, const char *id, char *out, size_t cap);

/* store_run: submits a job and waits for it (admin operations, which are
 * rare; request threads of the capture path never block like this). */
LEADD_MUST_CHECK int store_run(struct store *st, struct store_job *job);

/* ---- reads, for the query API; any thread ---- */

#define STORE_MAX_LIMIT 500

struct lead_filter {
    const char *form, *status, *grade, *utm_source, *utm_medium, *utm_campaign, *q;
    const char *owner;  /* a user's name, or "none" for leads nobody works */
    const char *viewer; /* whose read markers the leads show; NULL: none */
    int qualified;      /* -1 any, 0, 1 */
    int spam;           /* 0: hide honeypot/too_fast (default), 1: only those, -1 any */
    bool has_min_score, has_max_score;
    long long min_score, max_score;
    bool has_after, has_before;
    int64_t after_ms, before_ms; /* created_at >= after, < before */
    const char *cursor;          /* a lead id: the page starts below it */
    int limit;
};

/* A lead read back, handed to the caller (borrowed for the call); a
 * nonzero return stops the read and is returned. */
struct lead_row; /* leadd/lead.h */
typedef int (*store_lead_fn)(void *arg, const struct lead_row *lead);
/* store_list_leads: the page of leads f asks for, newest first, each with
 * its detail handed to fn, from one snapshot; next: the id the page after
 * it starts below ("" when this is the last). */
LEADD_MUST_CHECK int store_list_leads(struct store *st, const struct lead_filter *f,
                                      store_lead_fn fn, void *arg, char next[ULID_LEN + 1]);
/* store_get_lead: the lead with its detail to fn; LEADD_ENOTFOUND when none
 * (or erased). With viewer (a user's name), it says whether they read it. */
LEADD_MUST_CHECK int store_get_lead(struct store *st, const char *id, const char *viewer,
                                    store_lead_fn fn, void *arg);

/* store_leads_since: calls fn for each lead created after the lead `after`
 * (ids are time-ordered), oldest first, at most max of them; erased ones
 * too (an event stream resumes by id). fn returns 0 to go on. *n: how many. */
LEADD_MUST_CHECK int store_leads_since(struct store *st, const char *after, size_t max,
                                       int (*fn)(const char *id, const char *form, unsigned flags,
                                                 void *arg),
                                       void *arg, size_t *n);

enum export_format { EXPORT_CSV, EXPORT_NDJSON };
struct store_export;
/* store_export_open: a cursor over every lead matching f (limit and cursor
 * ignored), newest first. For CSV, fields names the form's declared fields
 * (its columns), and is_bool which of them are true/false values: the
 * arrays are copied, the names borrowed (the config's, which outlive it).
 * The export holds one reader connection until closed. */
LEADD_MUST_CHECK int store_export_open(struct store *st, const struct lead_filter *f,
                                       enum export_format fmt, const char *const *fields,
                                       const bool *is_bool, size_t nfields,
                                       struct store_export **out);
/* store_export_next: appends rows until out holds at least `want` bytes or the
 * rows run out; *done is set at the end. */
LEADD_MUST_CHECK int store_export_next(struct store_export *e, struct buf *out, size_t want,
                                       bool *done);
void store_export_close(struct store_export **ep);
/* store_export_csv_header: the CSV header row for a form's fields, after
 * UTF-8's byte-order mark when bom. Columns: id, created_at (UTC, as
 * "2026-11-30 23:25:49", which spreadsheets read as a date), form, status,
 * score, grade, qualified, the form's fields, utm_source utm_medium
 * utm_campaign utm_term utm_content referrer landing_page, flags (names,
 * space-separated), owner, notes (" | " between them), extra (JSON). fields:
 * the fields' column titles (their names, or the form's labels). */
LEADD_MUST_CHECK int store_export_csv_header(struct buf *out, const char *const *fields,
                                             size_t nfields, bool bom);

/* One group of store_stats: the leads with one value of the key (NULL:
 * none); erased ones counted. */
struct store_group {
    const char *key;
    long long total, qualified, converted, spam;
};
typedef int (*store_group_fn)(void *arg, const struct store_group *g);
/* store_stats: f's leads by group_by (utm_source utm_medium utm_campaign
 * form grade status day), the biggest group first, each to fn;
 * LEADD_EINVAL for another group_by. */
LEADD_MUST_CHECK int store_stats(struct store *st, const char *group_by,
                                 const struct lead_filter *f, store_group_fn fn, void *arg);
/* A delivery as store_list_deliveries reads it, with its attempts oldest
 * first; strings borrowed for the call. */
struct store_attempt {
    const char *at, *error; /* error: NULL when none */
    bool has_status;        /* whether the target answered: status */
    long long status, duration_ms;
};
struct store_delivery_row {
    long long id;
    const char *lead, *webhook, *webhook_id, *why; /* why: NULL when none */
    const char *state; /* a delivery state's name ("delivering" shown as pending) */
    uint64_t next_attempt_ms;
    const struct store_attempt *attempts;
    size_t nattempts;
};
typedef int (*store_delivery_fn)(void *arg, const struct store_delivery_row *d);
/* store_list_deliveries: up to limit deliveries, newest first, below id
 * before (0: from the newest); state and lead (either NULL) filter them.
 * Each to fn, from one snapshot, in two statements (the page's attempts at
 * once); *next: the before of the page after it, 0 when this is the last. */
LEADD_MUST_CHECK int store_list_deliveries(struct store *st, const char *state, const char *lead,
                                           long long before, int limit, store_delivery_fn fn,
                                           void *arg, long long *next);
/* store_metrics: appends Prometheus lines for stored state (deliveries by
 * state, leads by form). */
LEADD_MUST_CHECK int store_metrics(struct store *st, struct buf *out);

/* ---- batch work on stored leads (leadd rescore), on connections of its own ---- */

/* A stored lead as the writer stored it: its fields and attribution as the
 * JSON objects they were stored as. Borrowed for the duration of the
 * callback. */
struct stored_lead {
    const char *id, *form;
    unsigned flags;
    bool duplicate;
    bool qualified;
    const char *fields, *attribution; /* JSON objects */
    size_t fields_len, attribution_len;
    const char *status;
};

/* store_each_lead: calls fn for every lead not erased (of `form`, unless NULL),
 * oldest first. fn returns 0 to go on; anything else stops and is returned. */
LEADD_MUST_CHECK int store_each_lead(struct store *st, const char *form,
                                     int (*fn)(const struct stored_lead *sl, void *arg), void *arg);

/* store_stored_lead: calls fn once with the lead of that id (on a reader
 * connection); LEADD_ENOTFOUND when there is none (or it was erased). */
LEADD_MUST_CHECK int store_stored_lead(struct store *st, const char *id,
                                       int (*fn)(const struct stored_lead *sl, void *arg),
                                       void *arg);

struct store_rescore {
    char id[ULID_LEN + 1];
    long long score;
    const char *grade;
    bool qualified;
    char *reasons; /* JSON; owned by the caller */
    struct store_delivery deliveries[STORE_MAX_DELIVERIES];
    size_t ndeliveries; /* queued unless the lead has one for that webhook */
};

/* store_apply_rescores: writes new scores, in one transaction, and queues the
 * deliveries given (skipping webhooks the lead already has one for). Returns
 * the number of deliveries queued in *queued. */
LEADD_MUST_CHECK int store_apply_rescores(struct store *st, const struct store_rescore *v, size_t n,
                                          size_t *queued);

/* A session as stored: who made it, with what, and when it was last seen. */
struct store_session_row {
    char user[72];                       /* the user's name, or "api" for an API key's */
    bool key;                            /* made with an API key */
    char credential[2 * SHA256_LEN + 1]; /* its fingerprint, hex ("" from before 0014) */
    uint64_t seen_ms;
};
/* store_session: a session that was seen within idle_ms of now (on a
 * reader); LEADD_ENOTFOUND otherwise. */
/* store_idem_known: whether a submission with this Idempotency-Key and body
 * fingerprint was stored in the last 24 hours (the writer will replay its
 * answer): a captcha token is then not asked about again. */
bool store_idem_known(struct store *st, const char *form, const char *key,
                      const unsigned char body_hash[SHA256_LEN]);

LEADD_MUST_CHECK int store_session(struct store *st, const unsigned char hash[SHA256_LEN],
                                   uint64_t now_ms, uint64_t idle_ms,
                                   struct store_session_row *out);

/* ---- analytics (report.c): ad spend, and the stats report from counters
 * kept in the same transactions that change leads ---- */

/* One day's spend on a source (and campaign: "" when not split by one). */
struct spend_row {
    char day[11];
    const char *utm_source, *utm_campaign;
    char currency[4];
    long long amount_minor;
};
/* Upserts v[0..n) by (day, source, campaign, currency) in one transaction;
 * with remove, deletes v[0] (amount ignored): LEADD_ENOTFOUND when absent.
 * The rows are the caller's until done. */
struct store_spend_job {
    struct store_job job;
    const struct spend_row *v;
    size_t n;
    bool remove;
};
/* A row of spend (utm_campaign NULL: the source's not split by campaign);
 * borrowed for the call. */
struct store_spend_row {
    const char *date, *utm_source, *utm_campaign, *currency;
    long long amount_minor;
};
typedef int (*store_spend_fn)(void *arg, const struct store_spend_row *s);
/* store_list_spend: the rows by date, source, campaign and currency to fn;
 * each bound may be NULL. */
LEADD_MUST_CHECK int store_list_spend(struct store *st, const char *from, const char *to,
                                      const char *utm_source, store_spend_fn fn, void *arg);

enum report_group {
    REPORT_UTM_SOURCE,
    REPORT_UTM_MEDIUM,
    REPORT_UTM_CAMPAIGN,
    REPORT_FORM,
    REPORT_DAY,
    REPORT_WEEK, /* keyed by the week's Monday, YYYY-MM-DD (ISO 8601 weeks) */
    REPORT_MONTH,
    REPORT_GROUP_COUNT
};
extern const char *const report_group_names[REPORT_GROUP_COUNT];

struct report_query {
    enum report_group group;
    const char *from, *to;         /* local days YYYY-MM-DD, inclusive; NULL: unbounded */
    const char *form, *utm_source; /* NULL: any */
    const char *currency;          /* the report's: revenue and spend in it are summed */
};
/* One group's sums. Counts follow the rollup's rules (migrations/sqlite/0010). */
struct report_row {
    char *key; /* NULL: leads without that attribute (no source, ...) */
    long long leads, valid, qualified, hot, warm, cold, contacted, converted, rejected, spam,
        duplicates;
    long long revenue_minor, spend_minor; /* in the report's currency */
};
/* Money in another currency than the report's: summed apart, never mixed. */
struct report_other {
    char currency[4];
    long long spend_minor, revenue_minor;
};
struct report {
    struct report_row *rows; /* time groups by key; others by leads, most first */
    size_t n;
    struct report_row total;
    /* whether spend is known per row, and in total: spend is kept by source
     * and campaign, so a grouping by medium or form knows only the total,
     * and a report of one form knows none */
    bool row_spend, total_spend;
    struct report_other *other;
    size_t nother;
};
/* store_report: the report's sums, from the counters alone (never the
 * leads): what a query costs grows with its days and groups, not with the
 * leads. Release with report_release(). */
LEADD_MUST_CHECK int store_report(struct store *st, const struct report_query *q,
                                  struct report *out);
void report_release(struct report *r);
/* store_rollup_rebuild: recomputes every counter from the leads, in one
 * transaction (leadd rollup --rebuild); *groups: the rows written. */
LEADD_MUST_CHECK int store_rollup_rebuild(struct store *st, long long *groups);

struct store_stats {
    uint64_t batches, jobs, queue_depth, max_batch;
};
void store_get_stats(struct store *st, struct store_stats *out);

#endif
