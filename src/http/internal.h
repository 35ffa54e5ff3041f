/* internal.h: what the files of http/ share: the server, per-request state
 * and response helpers. */
#ifndef LEADD_HTTP_INTERNAL_H
#define LEADD_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "leadd/body.h"
#include "leadd/captcha.h"
#include "leadd/forward.h"
#include "leadd/buf.h"
#include "leadd/http.h"
#include "leadd/lead.h"
#include "leadd/ratelimit.h"
#include "leadd/record.h"

#define HTTP_MAX_HEADERS_OUT 8
#define HTTP_MAX_IDEM_KEY 255
#define AUTH_MAX_NAME 72 /* a caller's name: "api" or a user's */
#define HTTP_MAX_PATH_LOG 200
#define HTTP_MAX_REQUEST_ID 64
#define HTTP_PREFLIGHT_MAX_AGE "86400"

enum route_id {
    R_NONE,
    R_INDEX,
    R_THANKS,
    R_HEALTHZ,
    R_READYZ,
    R_SUBMIT,
    R_LEADS,
    R_EXPORT,
    R_LEAD,
    R_STATS,
    R_SPEND,
    R_FORMS,
    R_DELIVERIES,
    R_RETRY,
    R_METRICS,
    R_SESSION,
    R_EVENTS,
    R_APP,
    R_CONFIRM,
    R_UNSUBSCRIBE,
    R_CONSENTS,
    R_ERASURES,
    R_INBOUND,
    R_CONVERSIONS,
    R_COUNT
};

#define HTTP_STATUS_MIN 100
#define HTTP_STATUS_SLOTS 500 /* 100..599 */

struct deadlines;
struct events;
struct req;

/* What a route needs before its handler runs, besides its role. */
enum route_flag {
    ROUTE_BODY = 1u << 0,   /* takes a body: begin(), the body up to its cap, then answer() */
    ROUTE_SECRET = 1u << 1, /* its path holds a secret (a link's token): logged as its pattern */
};
typedef enum MHD_Result (*route_fn)(struct req *r);
/* A route with its behaviour (server.c's table): what tests and the spec see,
 * its metrics slot, its flags and handlers. */
struct route {
    struct http_route pub;
    enum route_id id;
    unsigned flags;
    route_fn begin;  /* ROUTE_BODY: on the headers; may answer at once, else req_body_start() */
    route_fn answer; /* the whole request (and body) is in */
    route_fn resume; /* a request its handler suspended is woken */
};
/* route_pattern: the pattern of a metrics slot, for labels. */
const char *route_pattern(enum route_id id);

struct http {
    struct MHD_Daemon *d;
    struct deadlines *deadlines;
    struct events *events;
    const struct config *cfg; /* the one leadd started with: what only a restart changes */
    pthread_mutex_t cfg_mu;   /* a request takes live and its count at once */
    struct config_ref *live;  /* what new requests take; a reload replaces it */
    struct store *st;
    struct forward *fw;
    struct captcha *captcha;
    struct ratelimit *rl;
    atomic_int inflight;
    uint64_t rid_base; /* random at start: request ids differ across restarts */
    _Atomic uint64_t rid_next;
    int port;
    /* metrics */
    _Atomic uint64_t requests[R_COUNT][HTTP_STATUS_SLOTS];
    _Atomic uint64_t flags[LEAD_FLAG_COUNT]; /* stored leads by flag bit */
    _Atomic uint64_t accepted;
    _Atomic uint64_t checks[CAPTCHA_RESULT_COUNT]; /* captcha checks by verdict */
};

/* A response header: its value (at most HTTP_HEADER_MAX bytes; a form
 * page's CSP names its scripts' hashes and its captcha) at `at` in the
 * request's outv, so a request that adds none carries no room for them. */
#define HTTP_HEADER_MAX 1024
struct header {
    const char *name;
    size_t at;
};

/* Per-request state, from the first callback to MHD's completion notice. */
struct req {
    struct http *h;
    const struct config *cfg; /* this request's, from its first callback to its end */
    struct config_ref *ref;   /* its count on it */
    struct MHD_Connection *conn;
    enum route_id route;
    const struct route *rt; /* found on the first callback; NULL: 404 or 405 */
    char allow[128];        /* for a 405: the methods the path takes */
    char param[64];         /* the {id} of the path (a lead id, a link's token...) */
    uint64_t t0_us;
    char method[16];
    char path[HTTP_MAX_PATH_LOG + 1];
    int status;
    char lead_id[ULID_LEN + 1];
    char who[AUTH_MAX_NAME]; /* the caller's name ("api", a user), once authenticated */
    char request_id[HTTP_MAX_REQUEST_ID + 1]; /* X-Request-Id: a trusted proxy's, or ours */
    enum role role;                           /* the caller's role, once authenticated */
    bool by_cookie;                           /* authenticated by a session cookie */
    long long auth_retry_s;                   /* > 0: too many failed authentications; retry then */
    struct header out[HTTP_MAX_HEADERS_OUT];
    size_t nout;
    struct buf outv; /* their values, each NUL-terminated; released at the end */
    /* a form's requests: what the answering layer reads of them */
    const struct form *form;
    char origin[256]; /* echoed in Access-Control-Allow-Origin when allowed */
    bool html;        /* answer as to a browser's plain form post */
    struct buf body;
    bool too_big;
    bool started; /* the body phase began: body holds what came, up to its cap */
    bool suspended;
    char ip[NET_MAX_ADDR];
    struct intake *in; /* a submission's own state; NULL on every other route */
};

/* What a submission carries from its first callback to its answer (submit.c
 * allocates it: the other routes, /healthz first, never pay for it). */
struct intake {
    enum body_kind kind;
    char boundary[BODY_MAX_BOUNDARY + 1];
    struct submission sub;
    struct lead lead;
    struct lead_record rec; /* the lead's JSON parts, for the writer */
    struct store_lead_job job;
    struct store_delivery deliveries[CONFIG_MAX_WEBHOOKS];
    atomic_bool job_done;
    char *idem_key;
    char *next_url;
    /* the captcha's check, while it is asked (checking) */
    struct captcha_check check;
    atomic_bool check_done;
    bool checking;
    char check_key[40];                   /* Turnstile's idempotency_key: a UUID */
    char confirm_token[CRYPTO_TOKEN_LEN]; /* double opt-in: the link's */
};

/* req_header: adds a response header (value copied, truncated to fit). */
void req_header(struct req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* respond: queues a response that takes ownership of body (malloc'd or NULL). */
enum MHD_Result respond(struct req *r, int status, const char *ctype, char *body, size_t len);
/* A JSON list being written, {"data":[item,...]...: list_next() before each
 * item adds the comma it needs. */
struct list {
    struct buf *out;
    int n;
};
static inline struct buf *list_next(struct list *l)
{
    if (l->n++)
        buf_addc(l->out, ',');
    return l->out;
}

/* respond_buf: answers with a built buffer (taking its content), or a 503
 * when building it failed (buf_error). */
enum MHD_Result respond_buf(struct req *r, int status, const char *ctype, struct buf *b);
/* respond_callback: a body of unknown length that fn produces (chunked);
 * fr(cls) is called once when the answer is done with, or at once when it
 * cannot be built. */
enum MHD_Result respond_callback(struct req *r, int status, const char *ctype,
                                 MHD_ContentReaderCallback fn, void *cls,
                                 MHD_ContentReaderFreeCallback fr, size_t block);
/* csp_frame_ancestors: a CSP's frame-ancestors for a page of form f: the
 * sites allowed to post it and leadd itself ('none' without a form). */
void csp_frame_ancestors(struct buf *csp, const struct form *f);
/* csp_look: a visitor's page's style-src and img-src (and font-src): inline
 * styles, data: images, and what form f's look loads (its stylesheet's and
 * logo's origins; https: for its own page = FILE); extra: more sources for
 * style-src (a captcha's), "" for none. */
void csp_look(struct buf *csp, const struct form *f, const char *extra);
/* respond_static: the same for a body that lives forever. */
enum MHD_Result respond_static(struct req *r, int status, const char *ctype, const char *body);
/* problem: an RFC 9457 problem+json answer with an optional detail. */
enum MHD_Result problem(struct req *r, int status, const char *slug, const char *title,
                        const char *detail);
/* problem_list: a problem with an "errors" member: errors is a JSON array. */
enum MHD_Result problem_list(struct req *r, int status, const char *slug, const char *title,
                             const char *detail, const char *errors);
/* problem_fields: the 422 answer that lists every field error. */
enum MHD_Result problem_fields(struct req *r, const struct lead_errors *e);
/* unavailable: a 503 with Retry-After for a store error rc. */
enum MHD_Result unavailable(struct req *r, int rc);

/* req_body_start: a begin() handler takes the body, up to cap bytes (past it
 * the request is answered 413 without its answer() running). */
void req_body_start(struct req *r, size_t cap);
/* small_body_begin: the begin() of a route that takes a small JSON body
 * (4 KiB: a key, an address). */
enum MHD_Result small_body_begin(struct req *r);

/* api.c: the query API; each answers a whole request. */
enum MHD_Result api_leads(struct req *r);
enum MHD_Result api_get_lead(struct req *r);
enum MHD_Result api_patch_begin(struct req *r);
enum MHD_Result api_patch_answer(struct req *r);
enum MHD_Result api_erase_lead(struct req *r);
enum MHD_Result api_erase_person(struct req *r); /* POST /v1/erasures */
enum MHD_Result api_stats(struct req *r);
/* bad_param: a 400 naming the parameter and why. */
enum MHD_Result bad_param(struct req *r, const char *name, const char *why);
/* lead_not_found: the API's 404 for a lead id that names none. */
enum MHD_Result lead_not_found(struct req *r);
/* lead_updated: tells the event streams a person changed (or erased) lead id. */
void lead_updated(struct req *r, const char *id, bool erased);
/* unknown_param: the first query parameter not in allowed (NULL-ended), or NULL. */
const char *unknown_param(struct req *r, const char *const *allowed);
/* stats.c: the report, and ad spend */
enum MHD_Result stats_report(struct req *r);
enum MHD_Result spend_begin(struct req *r);
enum MHD_Result spend_answer(struct req *r);
enum MHD_Result spend_list(struct req *r);
enum MHD_Result spend_delete(struct req *r);
enum MHD_Result api_forms(struct req *r);
enum MHD_Result api_deliveries(struct req *r);
enum MHD_Result api_retry(struct req *r);
enum MHD_Result api_export(struct req *r);
enum MHD_Result api_metrics(struct req *r);
/* patch_run: a change to a lead (a person's PATCH, a CRM's event): the
 * deliveries it makes it eligible for planned, the job run, the streams
 * told. rc 0, LEADD_ENOTFOUND, LEADD_ECONFLICT (an event applied before) or
 * a store error; *unconfirmed: refused, a status change of a lead waiting
 * for its double opt-in (nothing run). */
int patch_run(struct req *r, struct store_patch_job *job, bool *unconfirmed);
/* conversions.c: GET /v1/conversions/export, the ad platforms' uploads */
enum MHD_Result conversions_export(struct req *r);
/* inbound.c: POST /v1/inbound/{name}, a CRM's outcomes */
enum MHD_Result inbound_begin(struct req *r);
enum MHD_Result inbound_answer(struct req *r);
/* query_arg: a query-string parameter, or NULL. */
const char *query_arg(struct req *r, const char *name);

/* submit.c: submissions. begin: the form, origin, rate limit, type, size and
 * Idempotency-Key, before the body; answer: parse, validate, score, hand to
 * the writer and suspend; resume: answer once the writer has committed. */
enum MHD_Result submit_begin(struct req *r);
enum MHD_Result submit_answer(struct req *r);
enum MHD_Result submit_resume(struct req *r);
enum MHD_Result submit_preflight(struct req *r); /* OPTIONS: CORS */
void submit_release(struct req *r);

/* pages.c */
enum MHD_Result page_index(struct req *r);
enum MHD_Result page_thanks(struct req *r);
/* page_form: GET /forms/{id}, a ready page for each form; page_embed: GET
 * /v1/forms/{id}/embed, the snippet a marketer pastes into their own page. */
enum MHD_Result page_form(struct req *r);
enum MHD_Result page_embed(struct req *r);
enum MHD_Result page_errors(struct req *r, const struct lead_errors *e);
/* page_message: a page of a heading and a paragraph, and a button posting
 * back to the same address when button is given. */
enum MHD_Result page_message(struct req *r, int status, const char *heading, const char *text,
                             const char *button);
/* page_problem: the visitor's page for an error other than 422. */
enum MHD_Result page_problem(struct req *r, int status, const char *title);
/* visitor_problem: a submission's refusal as its caller reads it: the
 * visitor's page to a browser's plain form post (r->html), else problem().
 * The answering layer (response.c) never draws pages: handlers choose. */
enum MHD_Result visitor_problem(struct req *r, int status, const char *slug, const char *title,
                                const char *detail);

/* app.c: the inbox app: its page (for /app and each of its routes) and its
 * assets, with the headers that keep it strict. */
enum MHD_Result app_page(struct req *r);
enum MHD_Result app_asset(struct req *r);

/* auth.c: who is calling. auth_key: whether key is an API key (admin,
 * "api") or a user's secret, and whose (p); auth_role: the request's role
 * from its Bearer key (else its session cookie; ROLE_PUBLIC without
 * either), its name into r->who; auth_session_role: what a stored session
 * is worth now: its user's role while the credential that made it is
 * still theirs (a changed secret, a removed key or user: ROLE_PUBLIC). */
struct principal {
    enum role role;
    bool key; /* an API key (who is "api"), not a user's secret */
    char who[AUTH_MAX_NAME];
    char credential[2 * SHA256_LEN + 1]; /* the fingerprint a session keeps */
};
bool auth_key(const struct config *cfg, const char *key, size_t len, struct principal *p);
enum role auth_role(struct req *r);
/* auth_try: auth_key for a key a client presents (Bearer, or at sign-in),
 * counting failures per client address across both ways in: past
 * AUTH_FAILS a minute no key is even tried (false, r->auth_retry_s set),
 * so guessing gets no answer at all, right or wrong. */
#define AUTH_FAILS 10
#define AUTH_FAILS_WINDOW_S 60
bool auth_try(struct req *r, const char *key, size_t len, struct principal *p);
enum role auth_session_role(const struct config *cfg, const struct store_session_row *s);

/* session.c: sign-in. session_role: the role of the request's session
 * cookie (ROLE_PUBLIC without a live one), its user into r->who;
 * origin_is_own: whether the request's Origin is this server's own (a
 * cookie's state-changing requests must be). auth_user_role: a user's role
 * under the current config (ROLE_PUBLIC for no user). */
enum role session_role(struct req *r);
bool origin_is_own(struct req *r);
/* own_origin: this server's origin: public_url's, else http:// and the Host
 * the request was sent to. */
void own_origin(struct req *r, char *out, size_t cap);
enum role auth_user_role(const struct config *cfg, const char *user);
enum MHD_Result session_create(struct req *r);
enum MHD_Result session_get(struct req *r);
enum MHD_Result session_delete(struct req *r);

/* consent.c: the double opt-in and unsubscribe links (pages for the
 * visitor), and the consent record in the API. */
enum MHD_Result confirm_page(struct req *r); /* GET: changes nothing */
enum MHD_Result confirm_link(struct req *r); /* POST: confirms */
/* link_unknown: the page (404) for a confirm or unsubscribe link that names
 * no sign-up, also one mangled on its way (a longer token, a trailing or an
 * encoded slash): a person who follows it reads a page, never JSON. */
enum MHD_Result link_unknown(struct req *r);
bool link_path(const char *path);
enum MHD_Result page_confirmed(struct req *r);
enum MHD_Result unsubscribe_page(struct req *r);
enum MHD_Result unsubscribe_link(struct req *r);
enum MHD_Result api_consents(struct req *r);
enum MHD_Result api_withdraw(struct req *r);
enum MHD_Result api_consents_by_email(struct req *r);

/* events.c: GET /v1/events (Server-Sent Events). events_publish: sends an
 * event to every open stream; id: the lead id a reconnect resumes after
 * (lead.created), or NULL; data: one line of JSON. events_end_all: every
 * stream ends once what it holds went out (shutdown); events_stop after the
 * daemon has stopped. events_open: streams open, and how many were ended
 * because their client fell behind. */
struct events_caps {
    size_t streams, per_user, per_client; /* open at once: in all, a user's, an address's */
    size_t buffer_bytes;                  /* what one stream may hold unsent */
};
LEADD_MUST_CHECK int events_start(struct events **out, const struct events_caps *caps,
                                  struct store *st); /* st: followed when store_shared() */
void events_publish(struct events *ev, const char *type, const char *id, const char *data);
/* events_lead_updated: publishes lead.updated for id (erased: its erasure). */
void events_lead_updated(struct events *ev, const char *id, bool erased);
void events_end_all(struct events *ev);
void events_stop(struct events **evp);
size_t events_open(struct events *ev, uint64_t *ended_behind);
enum MHD_Result api_events(struct req *r);

/* client_ip: the client's address, through X-Forwarded-For only when the peer
 * is a trusted proxy (net_forwarded_client). */
void client_ip(struct req *r, char out[NET_MAX_ADDR]);
/* rate_take: one token from the bucket of (scope, r->ip; client_ip() it
 * first), as ratelimit_take: the database's, counted by every node, when
 * the store is shared; this node's own otherwise, or while the database
 * cannot answer. */
bool rate_take(struct req *r, const char *scope, long long limit, long long window_s,
               long long *retry_after_s);
/* rate_bucket: rate_take, or (!take) only whether a token is there. */
bool rate_bucket(struct req *r, const char *scope, long long limit, long long window_s, bool take,
                 long long *retry_after_s);
/* shared_turn: assign_owner's turn where nodes share one (st: the store). */
int shared_turn(const char *key, unsigned long *n, void *st);

/* deadline.c: every connection, admitted and timed. deadlines_notify is
 * libmicrohttpd's connection callback (cls: the struct deadlines): a new
 * connection beyond its client's share is closed at once. deadlines_headers:
 * a request's headers are in (its body has the rest of request_timeout_s);
 * deadlines_lift: the whole request is in, leadd has it; deadlines_renew:
 * its answer went out, the next request's headers are awaited. */
struct deadline_limits {
    unsigned header_s, request_s; /* the headers' deadline, and the whole request's */
    size_t per_client;            /* connections one address may hold */
    size_t max;                   /* connections in all: the last quarter is reserved */
    const struct cidr *proxies;   /* exempt (each carries many clients); the caller's */
    size_t nproxies;
};
/* Connections refused, by why (a metric's label). */
enum refusal { REFUSED_PER_CLIENT, REFUSED_RESERVE, REFUSED_COUNT };
extern const char *const refusal_names[REFUSED_COUNT];
LEADD_MUST_CHECK int deadlines_start(struct deadlines **out, const struct deadline_limits *lim);
void deadlines_stop(struct deadlines **dp); /* after the daemon has stopped */
uint64_t deadlines_expired(const struct deadlines *d);
uint64_t deadlines_refused(const struct deadlines *d, enum refusal why);
size_t deadlines_open(struct deadlines *d);
void deadlines_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
void deadlines_headers(struct deadlines *d, struct MHD_Connection *conn);
void deadlines_lift(struct MHD_Connection *conn);
void deadlines_renew(struct deadlines *d, struct MHD_Connection *conn);
/* conn_peer: the address of the connection's other end ("" when unknown). */
void conn_peer(struct MHD_Connection *conn, char peer[NET_MAX_ADDR]);
const char *header_in(struct req *r, const char *name);

#endif
