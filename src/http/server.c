/* server.c: the libmicrohttpd daemon, the route table and the one place
 * every request passes through before its handler, per-request state and
 * the access log. Answers are built in response.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

void conn_peer(struct MHD_Connection *conn, char peer[NET_MAX_ADDR])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    peer[0] = '\0';
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, peer, NET_MAX_ADDR);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, peer, NET_MAX_ADDR);
    }
}

void client_ip(struct req *r, char out[NET_MAX_ADDR])
{
    char peer[NET_MAX_ADDR];
    conn_peer(r->conn, peer);
    const struct config *cfg = r->cfg;
    net_forwarded_client(peer, header_in(r, "X-Forwarded-For"), cfg->proxies, cfg->nproxies, out);
}

bool rate_take(struct req *r, const char *scope, long long limit, long long window_s,
               long long *retry_after_s)
{
    return rate_bucket(r, scope, limit, window_s, true, retry_after_s);
}

bool rate_bucket(struct req *r, const char *scope, long long limit, long long window_s, bool take,
                 long long *retry_after_s)
{
    struct store *st = r->h->st;
    char key[200];
    bool ok;
    snprintf(key, sizeof(key), "%s|%s", scope, r->ip);
    if (store_shared(st) && !store_rate_take(st, key, limit, window_s, take, &ok, retry_after_s))
        return ok;
    return ratelimit_take(r->h->rl, scope, r->ip, limit, window_s, now_ms(), take, retry_after_s);
}

int shared_turn(const char *key, unsigned long *n, void *st)
{
    return store_shared(st) ? store_turn(st, key, n) : LEADD_EINVAL;
}

/* The request's id: a trusted proxy's X-Request-Id when it is one of ours to
 * take (1 to 64 of A-Z a-z 0-9 . _ -), else a new one. It is logged with the
 * request and answered as X-Request-Id, so a log line and a client's report
 * meet. */
static void request_id(struct req *r)
{
    const char *given = header_in(r, "X-Request-Id");
    const struct config *cfg = r->cfg;
    size_t n = given ? strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789._-")
                     : 0;
    if (given && n && n <= HTTP_MAX_REQUEST_ID && !given[n] && cfg->nproxies) {
        char peer[NET_MAX_ADDR];
        conn_peer(r->conn, peer);
        if (cidr_match(cfg->proxies, cfg->nproxies, peer)) {
            memcpy(r->request_id, given, n + 1);
            return;
        }
    }
    uint64_t id = r->h->rid_base + atomic_fetch_add(&r->h->rid_next, 1);
    snprintf(r->request_id, sizeof(r->request_id), "%016llx", (unsigned long long)id);
}

static enum MHD_Result answer_healthz(struct req *r)
{
    return respond_static(r, 200, "application/json", "{\"status\":\"ok\"}");
}

static enum MHD_Result answer_readyz(struct req *r)
{
    if (store_writable(r->h->st))
        return respond_static(r, 200, "application/json", "{\"status\":\"ready\"}");
    req_header(r, "Retry-After", "5");
    return problem(r, 503, "not-ready", "Not ready", "the database does not accept writes");
}

#define PUBLIC ROLE_PUBLIC
#define VIEWER ROLE_VIEWER
#define SALES ROLE_SALES
#define ADMIN ROLE_ADMIN
/* Every route, with what it needs before its handler runs: the role (checked
 * in one place, gate()), whether it takes a body (begin() sees the headers
 * first and may refuse the body; the body is then read up to the cap that
 * begin() set, and answer() runs once it is all in), and how a request its
 * handler suspended is answered when woken (resume()). */
// clang-format off
static const struct route ROUTES[] = {
    {{"GET", "/", PUBLIC}, R_INDEX, 0, NULL, page_index, NULL},
    {{"GET", "/thanks", PUBLIC}, R_THANKS, 0, NULL, page_thanks, NULL},
    {{"GET", "/confirmed", PUBLIC}, R_THANKS, 0, NULL, page_confirmed, NULL},
    {{"GET", "/v1/confirm/{token}", PUBLIC}, R_CONFIRM, ROUTE_SECRET, NULL, confirm_page, NULL},
    {{"POST", "/v1/confirm/{token}", PUBLIC}, R_CONFIRM, ROUTE_SECRET, NULL, confirm_link, NULL},
    {{"GET", "/v1/unsubscribe/{token}", PUBLIC}, R_UNSUBSCRIBE, ROUTE_SECRET, NULL,
        unsubscribe_page, NULL},
    {{"POST", "/v1/unsubscribe/{token}", PUBLIC}, R_UNSUBSCRIBE, ROUTE_SECRET, NULL,
        unsubscribe_link, NULL},
    {{"GET", "/forms/{form}", PUBLIC}, R_INDEX, 0, NULL, page_form, NULL},
    {{"GET", "/healthz", PUBLIC}, R_HEALTHZ, 0, NULL, answer_healthz, NULL},
    {{"GET", "/readyz", PUBLIC}, R_READYZ, 0, NULL, answer_readyz, NULL},
    {{"POST", "/v1/forms/{form}/submissions", PUBLIC}, R_SUBMIT, ROUTE_BODY,
        submit_begin, submit_answer, submit_resume},
    {{"OPTIONS", "/v1/forms/{form}/submissions", PUBLIC}, R_SUBMIT, 0, NULL, submit_preflight, NULL},
    {{"GET", "/v1/leads", VIEWER}, R_LEADS, 0, NULL, api_leads, NULL},
    {{"GET", "/v1/leads/export", VIEWER}, R_EXPORT, 0, NULL, api_export, NULL},
    {{"GET", "/v1/conversions/export", VIEWER}, R_CONVERSIONS, 0, NULL, conversions_export, NULL},
    {{"GET", "/v1/leads/{id}", VIEWER}, R_LEAD, 0, NULL, api_get_lead, NULL},
    {{"PATCH", "/v1/leads/{id}", SALES}, R_LEAD, ROUTE_BODY,
        api_patch_begin, api_patch_answer, NULL},
    {{"DELETE", "/v1/leads/{id}", ADMIN}, R_LEAD, 0, NULL, api_erase_lead, NULL},
    {{"GET", "/v1/leads/{id}/consents", VIEWER}, R_CONSENTS, 0, NULL, api_consents, NULL},
    {{"POST", "/v1/leads/{id}/consents/withdraw", SALES}, R_CONSENTS, 0, NULL, api_withdraw, NULL},
    {{"GET", "/v1/consents", ADMIN}, R_CONSENTS, 0, NULL, api_consents_by_email, NULL},
    {{"POST", "/v1/erasures", ADMIN}, R_ERASURES, ROUTE_BODY, small_body_begin, api_erase_person,
        NULL},
    {{"GET", "/v1/stats", VIEWER}, R_STATS, 0, NULL, api_stats, NULL},
    {{"GET", "/v1/spend", VIEWER}, R_SPEND, 0, NULL, spend_list, NULL},
    {{"PUT", "/v1/spend", ADMIN}, R_SPEND, ROUTE_BODY, spend_begin, spend_answer, NULL},
    {{"POST", "/v1/spend", ADMIN}, R_SPEND, ROUTE_BODY, spend_begin, spend_answer, NULL},
    {{"DELETE", "/v1/spend", ADMIN}, R_SPEND, 0, NULL, spend_delete, NULL},
    {{"GET", "/v1/forms", VIEWER}, R_FORMS, 0, NULL, api_forms, NULL},
    {{"GET", "/v1/forms/{form}/embed", VIEWER}, R_FORMS, 0, NULL, page_embed, NULL},
    {{"GET", "/v1/deliveries", VIEWER}, R_DELIVERIES, 0, NULL, api_deliveries, NULL},
    {{"POST", "/v1/deliveries/{id}/retry", ADMIN}, R_RETRY, 0, NULL, api_retry, NULL},
    {{"GET", "/metrics", VIEWER}, R_METRICS, 0, NULL, api_metrics, NULL},
    {{"POST", "/v1/inbound/{name}", PUBLIC}, R_INBOUND, ROUTE_BODY, inbound_begin, inbound_answer,
        NULL},
    {{"POST", "/v1/session", PUBLIC}, R_SESSION, ROUTE_BODY, small_body_begin, session_create, NULL},
    {{"GET", "/v1/session", VIEWER}, R_SESSION, 0, NULL, session_get, NULL},
    {{"DELETE", "/v1/session", VIEWER}, R_SESSION, 0, NULL, session_delete, NULL},
    {{"GET", "/v1/events", VIEWER}, R_EVENTS, 0, NULL, api_events, NULL},
    {{"GET", "/app", PUBLIC}, R_APP, 0, NULL, app_page, NULL},
    {{"GET", "/app/leads/{id}", PUBLIC}, R_APP, 0, NULL, app_page, NULL},
    {{"GET", "/app/sources", PUBLIC}, R_APP, 0, NULL, app_page, NULL},
    {{"GET", "/app/spend", PUBLIC}, R_APP, 0, NULL, app_page, NULL},
    {{"GET", "/app/assets/{file}", PUBLIC}, R_APP, 0, NULL, app_asset, NULL},
};
// clang-format on
#undef PUBLIC
#undef VIEWER
#undef SALES
#undef ADMIN

size_t http_route_count(void)
{
    return LEADD_ARRAY_LEN(ROUTES);
}

const struct http_route *http_route_at(size_t i)
{
    return i < LEADD_ARRAY_LEN(ROUTES) ? &ROUTES[i].pub : NULL;
}

const char *route_pattern(enum route_id id)
{
    for (size_t i = 0; i < LEADD_ARRAY_LEN(ROUTES); i++) {
        if (ROUTES[i].id == id)
            return ROUTES[i].pub.pattern;
    }
    return "unmatched";
}

/* Whether path matches pattern, segment by segment; a {name} segment matches
 * any non-empty segment, which is copied into param. */
static bool path_match(const char *pattern, const char *path, char *param, size_t cap)
{
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p == '{') {
            size_t n = strcspn(u, "/");
            if (n == 0 || n >= cap)
                return false;
            memcpy(param, u, n);
            param[n] = '\0';
            u += n;
            p = strchr(p, '}') + 1;
        } else if (*p++ != *u++) {
            return false;
        }
    }
    return !*p && !*u;
}

/* The route of (method, path). A concrete pattern wins over a templated one
 * (/v1/leads/export is not a lead id): the templated patterns are tried only
 * when no concrete one matches the path. When the path is known but not the
 * method, NULL with *allow listing the methods the path takes. */
static const struct route *route_find(const char *method, const char *path, char *param, size_t cap,
                                      char *allow, size_t allow_cap)
{
    allow[0] = '\0';
    bool head = !strcmp(method, "HEAD");
    for (int templated = 0; templated < 2 && !allow[0]; templated++) {
        for (size_t i = 0; i < LEADD_ARRAY_LEN(ROUTES); i++) {
            const struct http_route *rt = &ROUTES[i].pub;
            if ((strchr(rt->pattern, '{') != NULL) != templated ||
                !path_match(rt->pattern, path, param, cap))
                continue;
            if (!strcmp(rt->method, method) || (head && !strcmp(rt->method, "GET")))
                return &ROUTES[i];
            size_t n = strlen(allow);
            snprintf(allow + n, allow_cap - n, "%s%s%s", n ? ", " : "", rt->method,
                     strcmp(rt->method, "GET") ? "" : ", HEAD");
        }
    }
    return NULL;
}

/* What every route needs before its handler: the path known, the method
 * taken, the caller's role enough. Answers and returns false when not. */
static bool gate(struct req *r, enum MHD_Result *ret)
{
    const struct route *rt = r->rt;
    if (!rt) {
        if (r->allow[0]) {
            req_header(r, "Allow", "%s", r->allow);
            *ret = problem(r, 405, "method-not-allowed", "Method not allowed", NULL);
        } else if (link_path(r->path)) {
            *ret = link_unknown(r); /* a mail's link, mangled on its way */
        } else {
            *ret = problem(r, 404, "not-found", "Not found", NULL);
        }
        return false;
    }
    if (rt->pub.role != ROLE_PUBLIC) {
        enum role role = auth_role(r);
        if (role == ROLE_PUBLIC && r->auth_retry_s > 0) {
            req_header(r, "Retry-After", "%lld", r->auth_retry_s);
            *ret = problem(r, 429, "rate-limited", "Too many failed authentications",
                           "too many wrong keys from this address; try again later");
            return false;
        }
        if (role == ROLE_PUBLIC) {
            const struct config *cfg = r->cfg;
            *ret = problem(r, 401, "unauthorized", "Unauthorized",
                           cfg->napi_keys || cfg->nusers
                               ? "send Authorization: Bearer <api key>, or sign in"
                               : "this server has no API key or user configured: set [auth] "
                                 "api_keys (or LEADD_API_KEYS for the example config)");
            return false;
        }
        /* A cookie rides along with any request the browser makes: one that
         * changes something must come from this server's own pages. */
        bool safe = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
        if (r->by_cookie && !safe && !origin_is_own(r)) {
            *ret = problem(r, 403, "origin-not-allowed", "Origin not allowed",
                           "a signed-in change must come from this server's own pages");
            return false;
        }
        if (role < rt->pub.role) {
            char detail[128];
            snprintf(detail, sizeof(detail), "this needs the %s role; %s is %s",
                     role_names[rt->pub.role], r->who, role_names[role]);
            *ret = problem(r, 403, "forbidden", "Forbidden", detail);
            return false;
        }
    }
    return true;
}

void req_body_start(struct req *r, size_t cap)
{
    buf_init(&r->body, cap);
    r->started = true;
}

enum MHD_Result small_body_begin(struct req *r)
{
    req_body_start(r, 4096);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    struct http *h = cls;
    struct req *r = *req_cls;
    enum MHD_Result ret = MHD_YES;
    (void)version;
    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        *req_cls = r;
        r->h = h;
        r->conn = conn;
        pthread_mutex_lock(&h->cfg_mu);
        r->ref = config_ref_take(h->live);
        pthread_mutex_unlock(&h->cfg_mu);
        r->cfg = config_ref_cfg(r->ref);
        r->t0_us = mono_us();
        deadlines_headers(h->deadlines, conn); /* the body has the rest of the time */
        atomic_fetch_add(&h->inflight, 1);
        snprintf(r->method, sizeof(r->method), "%s", method);
        /* Only the path is logged: a query string may carry personal data. */
        snprintf(r->path, sizeof(r->path), "%.*s", (int)strcspn(url, "?"), url);
        r->rt =
            route_find(r->method, r->path, r->param, sizeof(r->param), r->allow, sizeof(r->allow));
        r->route = r->rt ? r->rt->id : R_NONE;
        if (r->rt && (r->rt->flags & ROUTE_SECRET)) /* the token stays out of the log */
            snprintf(r->path, sizeof(r->path), "%s", r->rt->pub.pattern);
        else if (!r->rt && link_path(r->path)) /* a mangled link's too */
            snprintf(strchr(r->path + 4, '/') + 1, 8, "{token}");
        request_id(r);
        /* Answering now would make libmicrohttpd close the connection (it takes
         * an early answer as refusing the body), so most requests are answered
         * on the last callback. A route that takes a body is the exception:
         * refusing a body that is too large, of the wrong type, from a refused
         * origin or caller, without reading it, is the point. */
        if (r->rt && (r->rt->flags & ROUTE_BODY) && gate(r, &ret))
            ret = r->rt->begin(r);
        return ret;
    }
    if (!*upload_size)
        deadlines_lift(conn); /* the whole request is in: leadd's time now */
    if (r->suspended)
        return r->rt->resume(r);
    if (*upload_size) {
        /* Past the cap the rest is read and dropped: memory stays bounded and
         * the client still gets its 413 on a connection MHD can keep. A body
         * on a request that takes none is dropped too. */
        if (r->started && !r->too_big && buf_add(&r->body, upload, *upload_size))
            r->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->status)
        return MHD_YES; /* answered on the first callback */
    if (r->started)
        return r->too_big ? visitor_problem(r, 413, "body-too-large", "Body too large", NULL)
                          : r->rt->answer(r);
    return gate(r, &ret) ? r->rt->answer(r) : ret;
}

void http_reload(struct http *h, struct config_ref *next)
{
    pthread_mutex_lock(&h->cfg_mu);
    struct config_ref *old = h->live;
    h->live = config_ref_take(next);
    pthread_mutex_unlock(&h->cfg_mu);
    config_ref_drop(old); /* freed once its last request is done */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http *h = cls;
    struct req *r = *req_cls;
    deadlines_renew(h->deadlines, conn); /* answered: the next request's time starts */
    if (!r)
        return;
    uint64_t us = mono_us() - r->t0_us;
    if (r->status >= HTTP_STATUS_MIN && r->status < HTTP_STATUS_MIN + HTTP_STATUS_SLOTS)
        atomic_fetch_add(&h->requests[r->route][r->status - HTTP_STATUS_MIN], 1);
    log_request(&(struct log_request){r->method, r->path, r->status, us, r->lead_id, r->request_id,
                                      toe != MHD_REQUEST_TERMINATED_COMPLETED_OK});
    submit_release(r);
    buf_release(&r->outv);
    config_ref_drop(r->ref);
    free(r);
    *req_cls = NULL;
    atomic_fetch_sub(&h->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_warn("http: %s", line);
}

/* The address to listen on, from [server] listen; returns its family. */
static int listen_addr(const struct config *cfg, struct sockaddr_storage *ss)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, cfg->listen_host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)cfg->listen_port);
        return AF_INET;
    }
    inet_pton(AF_INET6, cfg->listen_host, &s6->sin6_addr);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)cfg->listen_port);
    return AF_INET6;
}

int http_can_listen(const struct config *cfg)
{
    struct sockaddr_storage ss;
    int family = listen_addr(cfg, &ss), one = 1, rc = 0;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    /* As libmicrohttpd binds: a port in TIME_WAIT is free, one in use is not. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, (struct sockaddr *)&ss, len))
        rc = errno;
    close(fd);
    return rc;
}

int http_inflight(const struct http *h)
{
    return atomic_load(&h->inflight);
}

int http_start(struct http **out, struct config_ref *ref, struct store *st, struct forward *fw)
{
    const struct config *cfg = config_ref_cfg(ref);
    struct http *h = calloc(1, sizeof(*h));
    struct sockaddr_storage ss = {0};
    int rc = LEADD_ENOMEM;
    *out = NULL;
    struct deadline_limits lim = {.header_s =
                                      (unsigned)(cfg->header_timeout_s < cfg->request_timeout_s
                                                     ? cfg->header_timeout_s
                                                     : cfg->request_timeout_s),
                                  .request_s = (unsigned)cfg->request_timeout_s,
                                  .per_client = (size_t)cfg->connections_per_client,
                                  .max = (size_t)cfg->max_connections,
                                  .proxies = cfg->proxies,
                                  .nproxies = cfg->nproxies};
    struct events_caps caps = {(size_t)cfg->event_streams, (size_t)cfg->event_streams_per_user,
                               (size_t)cfg->event_streams_per_client,
                               (size_t)cfg->event_buffer_kib << 10};
    if (!h || ratelimit_new(&h->rl) || captcha_start(&h->captcha) ||
        deadlines_start(&h->deadlines, &lim) || events_start(&h->events, &caps, st))
        goto fail;
    h->cfg = cfg;
    h->st = st;
    h->fw = fw;
    pthread_mutex_init(&h->cfg_mu, NULL);
    h->live = config_ref_take(ref);
    if (crypto_random(&h->rid_base, sizeof(h->rid_base)))
        goto fail;
    /* poll, not epoll: libmicrohttpd 0.9.75's epoll loop, after a full batch
     * of 128 events, waits again with its blocking timeout before serving the
     * batch it holds, so 128 clients can wait up to connection_timeout_s
     * (tests/integration/itest_faults.c pins it). bench/ab.sh measured no
     * cost at 64 connections. */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (listen_addr(cfg, &ss) == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(
        flags, (uint16_t)cfg->listen_port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024,
        MHD_OPTION_NOTIFY_CONNECTION, deadlines_notify, h->deadlines, MHD_OPTION_END);
    if (!h->d) {
        log_error("unable to listen on '%s'", cfg->listen);
        rc = LEADD_EIO;
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->listen_port;
    *out = h;
    return 0;
fail:
    if (h) {
        config_ref_drop(h->live);
        ratelimit_free(&h->rl);
        captcha_stop(&h->captcha);
        deadlines_stop(&h->deadlines);
        events_stop(&h->events);
    }
    free(h);
    return rc;
}

int http_port(const struct http *h)
{
    return h->port;
}

void http_stop(struct http **hp, unsigned timeout_ms)
{
    struct http *h = *hp;
    if (!h)
        return;
    MHD_socket ls = MHD_quiesce_daemon(h->d);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    events_end_all(h->events); /* live streams end, or the wait below would not */
    /* Requests in flight (some waiting on the writer) finish before the
     * daemon goes: MHD must not be stopped with suspended connections. */
    uint64_t until = mono_ms() + timeout_ms;
    while (atomic_load(&h->inflight) > 0 && mono_ms() < until) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* a check still out (past the wait) is answered before MHD goes */
    captcha_stop(&h->captcha);
    MHD_stop_daemon(h->d);
    events_stop(&h->events);
    deadlines_stop(&h->deadlines);
    ratelimit_free(&h->rl);
    config_ref_drop(h->live); /* every request is done: http's is the last count */
    pthread_mutex_destroy(&h->cfg_mu);
    free(h);
    *hp = NULL;
}
