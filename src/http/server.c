/* server.c: the libmicrohttpd daemon, routing, per-request state, responses
 * and the access log. */
#include <arpa/inet.h>
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

const char *header_in(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void req_header(struct req *r, const char *name, const char *fmt, ...)
{
    if (r->nout == HTTP_MAX_HEADERS_OUT)
        return;
    struct header *h = &r->out[r->nout++];
    h->name = name;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof(h->value), fmt, ap);
    va_end(ap);
}

static enum MHD_Result queue(struct req *r, int status, const char *ctype,
                             struct MHD_Response *resp)
{
    if (!resp)
        return MHD_NO; /* out of memory: MHD closes the connection */
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (r->origin[0]) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    for (size_t i = 0; i < r->nout; i++)
        MHD_add_response_header(resp, r->out[i].name, r->out[i].value);
    r->status = status;
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result respond(struct req *r, int status, const char *ctype, char *body, size_t len)
{
    struct MHD_Response *resp =
        body ? MHD_create_response_from_buffer_with_free_callback(len, body, free)
             : MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        free(body);
    return queue(r, status, ctype, resp);
}

enum MHD_Result respond_static(struct req *r, int status, const char *ctype, const char *body)
{
    return queue(
        r, status, ctype,
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT));
}

static const char PROBLEM_JSON[] = "application/problem+json";

/* The fixed answer when even building an error fails: no allocation needed. */
static enum MHD_Result out_of_memory(struct req *r)
{
    r->nout = 0;
    req_header(r, "Retry-After", "1");
    return respond_static(r, 503, PROBLEM_JSON,
                          "{\"type\":\"urn:leadd:problem:unavailable\",\"title\":\"Service "
                          "unavailable\",\"status\":503}");
}

static int problem_head(struct buf *b, int status, const char *slug, const char *title)
{
    int rc = buf_adds(b, "{\"type\":\"urn:leadd:problem:");
    if (!rc)
        rc = buf_adds(b, slug);
    if (!rc)
        rc = buf_adds(b, "\",\"title\":");
    if (!rc)
        rc = jw_str(b, title);
    if (!rc)
        rc = buf_addf(b, ",\"status\":%d", status);
    return rc;
}

enum MHD_Result problem(struct req *r, int status, const char *slug, const char *title,
                        const char *detail)
{
    struct buf b = BUF_INIT(4096);
    int rc = problem_head(&b, status, slug, title);
    if (!rc && detail) {
        rc = buf_adds(&b, ",\"detail\":");
        if (!rc)
            rc = jw_str(&b, detail);
    }
    if (!rc)
        rc = buf_addc(&b, '}');
    if (rc) {
        buf_release(&b);
        return out_of_memory(r);
    }
    size_t len = b.len;
    return respond(r, status, PROBLEM_JSON, buf_detach(&b), len);
}

enum MHD_Result problem_fields(struct req *r, const struct lead_errors *e)
{
    struct buf b = BUF_INIT(64 * 1024);
    int rc = problem_head(&b, 422, "invalid-fields", "Some fields are not valid");
    if (!rc)
        rc = buf_adds(&b, ",\"errors\":[");
    for (size_t i = 0; !rc && i < e->n; i++) {
        rc = buf_adds(&b, i ? ",{\"field\":" : "{\"field\":");
        if (!rc)
            rc = jw_str(&b, e->v[i].field);
        if (!rc)
            rc = buf_adds(&b, ",\"code\":");
        if (!rc)
            rc = jw_str(&b, e->v[i].code);
        if (!rc)
            rc = buf_adds(&b, ",\"message\":");
        if (!rc)
            rc = jw_str(&b, e->v[i].message);
        if (!rc)
            rc = buf_addc(&b, '}');
    }
    if (!rc)
        rc = buf_adds(&b, "]}");
    if (rc) {
        buf_release(&b);
        return out_of_memory(r);
    }
    size_t len = b.len;
    return respond(r, 422, PROBLEM_JSON, buf_detach(&b), len);
}

void client_ip(struct req *r, char out[64])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 64);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, 64);
    const struct config *cfg = r->h->cfg;
    const char *xff = header_in(r, "X-Forwarded-For");
    if (!xff || !cfg->nproxies || !cidr_match(cfg->proxies, cfg->nproxies, out))
        return;
    /* Walk from the right: the first address that is not one of our proxies
     * is the client; anything left of it could be forged by that client. */
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start;
        size_t n = (size_t)(end - start);
        str_trim(&a, &n);
        char cand[64];
        if (n && n < sizeof(cand)) {
            memcpy(cand, a, n);
            cand[n] = '\0';
            unsigned char tmp[16];
            if (inet_pton(AF_INET, cand, tmp) != 1 && inet_pton(AF_INET6, cand, tmp) != 1)
                return; /* garbage: keep the peer's address */
            memcpy(out, cand, n + 1);
            if (!cidr_match(cfg->proxies, cfg->nproxies, cand))
                return;
        }
        end = start > xff ? start - 1 : xff;
    }
}

static const struct http_route ROUTES[] = {
    {"GET", "/", R_INDEX, false},
    {"GET", "/thanks", R_THANKS, false},
    {"GET", "/healthz", R_HEALTHZ, false},
    {"GET", "/readyz", R_READYZ, false},
    {"POST", "/v1/forms/{form}/submissions", R_SUBMIT, false},
    {"OPTIONS", "/v1/forms/{form}/submissions", R_SUBMIT, false},
    {"GET", "/v1/leads", R_LEADS, true},
    {"GET", "/v1/leads/export", R_EXPORT, true},
    {"GET", "/v1/leads/{id}", R_LEAD, true},
    {"PATCH", "/v1/leads/{id}", R_LEAD, true},
    {"DELETE", "/v1/leads/{id}", R_LEAD, true},
    {"GET", "/v1/stats", R_STATS, true},
    {"GET", "/v1/forms", R_FORMS, true},
    {"GET", "/v1/deliveries", R_DELIVERIES, true},
    {"POST", "/v1/deliveries/{id}/retry", R_RETRY, true},
    {"GET", "/metrics", R_METRICS, true},
};

const struct http_route *http_routes(size_t *n)
{
    *n = LEADD_ARRAY_LEN(ROUTES);
    return ROUTES;
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
static const struct http_route *route_find(const char *method, const char *path, char *param,
                                           size_t cap, char *allow, size_t allow_cap)
{
    allow[0] = '\0';
    bool head = !strcmp(method, "HEAD");
    for (int templated = 0; templated < 2 && !allow[0]; templated++) {
        for (size_t i = 0; i < LEADD_ARRAY_LEN(ROUTES); i++) {
            const struct http_route *rt = &ROUTES[i];
            if ((strchr(rt->pattern, '{') != NULL) != templated ||
                !path_match(rt->pattern, path, param, cap))
                continue;
            if (!strcmp(rt->method, method) || (head && !strcmp(rt->method, "GET")))
                return rt;
            size_t n = strlen(allow);
            snprintf(allow + n, allow_cap - n, "%s%s%s", n ? ", " : "", rt->method,
                     strcmp(rt->method, "GET") ? "" : ", HEAD");
        }
    }
    return NULL;
}

static bool authorized(struct req *r)
{
    const char *h = header_in(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return false;
    const char *k = h + 7;
    size_t n = strlen(k);
    str_trim(&k, &n);
    return n > 0 && config_key_ok(r->h->cfg, k, n);
}

/* Answers a request whose route was found on its first callback. */
static enum MHD_Result dispatch(struct req *r)
{
    const struct http_route *rt = r->rt;
    if (!rt) {
        if (r->allow[0]) {
            req_header(r, "Allow", "%s", r->allow);
            return problem(r, 405, "method-not-allowed", "Method not allowed", NULL);
        }
        return problem(r, 404, "not-found", "Not found", NULL);
    }
    r->route = (enum route)rt->id;
    if (rt->auth && !authorized(r)) {
        req_header(r, "WWW-Authenticate", "Bearer realm=\"leadd\"");
        return problem(r, 401, "unauthorized", "Unauthorized",
                       "send Authorization: Bearer <api key>");
    }
    switch (r->route) {
    case R_INDEX: return page_index(r);
    case R_THANKS: return page_thanks(r);
    case R_HEALTHZ: return respond_static(r, 200, "application/json", "{\"status\":\"ok\"}");
    case R_READYZ:
        if (store_writable(r->h->st))
            return respond_static(r, 200, "application/json", "{\"status\":\"ready\"}");
        req_header(r, "Retry-After", "5");
        return problem(r, 503, "not-ready", "Not ready", "the database does not accept writes");
    case R_SUBMIT: return submit_begin(r); /* OPTIONS: the preflight */
    case R_LEADS: return api_leads(r);
    case R_EXPORT: return api_export(r);
    case R_LEAD: return api_lead(r);
    case R_STATS: return api_stats(r);
    case R_FORMS: return api_forms(r);
    case R_DELIVERIES: return api_deliveries(r);
    case R_RETRY: return api_retry(r);
    case R_METRICS: return api_metrics(r);
    case R_NONE:
    case R_COUNT: break;
    }
    return problem(r, 404, "not-found", "Not found", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    struct http *h = cls;
    struct req *r = *req_cls;
    (void)version;
    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        *req_cls = r;
        r->h = h;
        r->conn = conn;
        r->t0_us = mono_us();
        atomic_fetch_add(&h->inflight, 1);
        snprintf(r->method, sizeof(r->method), "%s", method);
        /* Only the path is logged: a query string may carry personal data. */
        snprintf(r->path, sizeof(r->path), "%.*s", (int)strcspn(url, "?"), url);
        /* Answering now would make libmicrohttpd close the connection (it takes
         * an early answer as refusing the body), so most requests are answered
         * on the last callback. A submission is the exception: refusing a body
         * that is too large, of the wrong type, from a refused origin or over
         * the rate limit, without reading it, is the point. */
        const struct http_route *rt = r->rt =
            route_find(r->method, r->path, r->param, sizeof(r->param), r->allow, sizeof(r->allow));
        bool takes_body = rt && ((rt->id == R_SUBMIT && !strcmp(rt->method, "POST")) ||
                                 (rt->id == R_LEAD && !strcmp(rt->method, "PATCH")));
        return takes_body ? dispatch(r) : MHD_YES;
    }
    if (!*upload_size)
        deadlines_lift(conn); /* the whole request is in: leadd's time now */
    if (r->route == R_SUBMIT && r->started) {
        if (*upload_size)
            return submit_data(r, upload, upload_size);
        return submit_finish(r);
    }
    if (r->route == R_LEAD && r->started) {
        return api_patch_body(r, upload, upload_size);
    }
    if (*upload_size) {
        /* A body on a request that takes none: read and dropped. */
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(r);
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
    /* Integer arithmetic for the duration: %f costs more than the rest of
     * the line, on every request. */
    log_info("%s %s %d %llu.%llums%s%s%s", r->method, r->path, r->status ? r->status : 0,
             (unsigned long long)(us / 1000), (unsigned long long)(us / 100 % 10),
             r->lead_id[0] ? " id=" : "", r->lead_id,
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    submit_release(r);
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

int http_start(struct http **out, const struct config *cfg, struct store *st)
{
    struct http *h = calloc(1, sizeof(*h));
    struct sockaddr_storage ss = {0};
    int rc = LEADD_ENOMEM;
    *out = NULL;
    if (!h || ratelimit_new(&h->rl) ||
        deadlines_start(&h->deadlines, (unsigned)cfg->request_timeout_s))
        goto fail;
    h->cfg = cfg;
    h->st = st;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, cfg->listen_host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)cfg->listen_port);
    } else {
        inet_pton(AF_INET6, cfg->listen_host, &s6->sin6_addr);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)cfg->listen_port);
        flags |= MHD_USE_IPv6;
    }
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
        ratelimit_free(&h->rl);
        deadlines_stop(&h->deadlines);
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
    /* Requests in flight (some waiting on the writer) finish before the
     * daemon goes: MHD must not be stopped with suspended connections. */
    uint64_t until = mono_ms() + timeout_ms;
    while (atomic_load(&h->inflight) > 0 && mono_ms() < until) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->d);
    deadlines_stop(&h->deadlines);
    ratelimit_free(&h->rl);
    free(h);
    *hp = NULL;
}
