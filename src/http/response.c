/* response.c: how leadd answers: headers, whole bodies, RFC 9457 problems,
 * and the fixed answer when even building an error fails. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/jsonw.h"

const char *header_in(struct req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void req_header(struct req *r, const char *name, const char *fmt, ...)
{
    char v[HTTP_HEADER_MAX];
    if (r->nout == HTTP_MAX_HEADERS_OUT)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    if (!r->outv.max)
        buf_init(&r->outv, HTTP_MAX_HEADERS_OUT * HTTP_HEADER_MAX);
    size_t at = r->outv.len;
    if (n >= 0 && !buf_add(&r->outv, v, strlen(v) + 1)) /* out of memory: left out */
        r->out[r->nout++] = (struct header){name, at};
}

void csp_frame_ancestors(struct buf *csp, const struct form *f)
{
    buf_adds(csp, "; frame-ancestors ");
    if (!f || !f->origins.n) {
        buf_adds(csp, f ? "'self'" : "'none'");
        return;
    }
    buf_adds(csp, "'self'");
    for (size_t i = 0; i < f->origins.n; i++)
        buf_addf(csp, " %s", f->origins.v[i]);
}

/* The length of url's origin (scheme://host[:port]); config checked it is
 * an http(s) URL. */
static size_t origin_len(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    return (size_t)(host - url) + strcspn(host, "/?#");
}

void csp_look(struct buf *csp, const struct form *f, const char *extra)
{
    if (f && f->page) { /* the operator's own page: its styles, images and fonts */
        buf_addf(csp,
                 "; style-src 'self' 'unsafe-inline' https:%s%s; img-src 'self' data: https:"
                 "; font-src https:",
                 *extra ? " " : "", extra);
        return;
    }
    buf_addf(csp, "; style-src 'unsafe-inline'%s%s", *extra ? " " : "", extra);
    if (f && f->stylesheet)
        buf_addf(csp, " %.*s", (int)origin_len(f->stylesheet), f->stylesheet);
    buf_adds(csp, "; img-src 'self' data:");
    if (f && f->logo)
        buf_addf(csp, " %.*s", (int)origin_len(f->logo), f->logo);
}

/* The policy of an HTML page that sets none of its own (a visitor's error
 * page, a form shown again with what was typed, a link's page): no script,
 * no plugin, and framed only where its form may be posted from. No
 * form-action: the re-shown form's answer may redirect off-site. */
static void default_csp(struct req *r, struct MHD_Response *resp)
{
    struct buf csp = BUF_INIT(HTTP_HEADER_MAX);
    buf_adds(&csp, "default-src 'none'");
    csp_look(&csp, r->form, "");
    buf_adds(&csp, "; base-uri 'none'");
    csp_frame_ancestors(&csp, r->form);
    /* past the cap (hundreds of origins), the strictest */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            buf_error(&csp) ? "default-src 'none'; frame-ancestors 'none'"
                                            : buf_str(&csp));
    buf_release(&csp);
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
        MHD_add_response_header(resp, r->out[i].name, r->outv.ptr + r->out[i].at);
    /* RFC 9110 11.6.1: every 401 says how to authenticate, whichever route
     * answered it (a wrong key at sign-in as much as a missing one). */
    if (status == 401 && !MHD_get_response_header(resp, "WWW-Authenticate"))
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"leadd\"");
    if (r->request_id[0])
        MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (ctype && !strncmp(ctype, "text/html", 9) &&
        !MHD_get_response_header(resp, "Content-Security-Policy"))
        default_csp(r, resp);
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

enum MHD_Result respond_callback(struct req *r, int status, const char *ctype,
                                 MHD_ContentReaderCallback fn, void *cls,
                                 MHD_ContentReaderFreeCallback fr, size_t block)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, block, fn, cls, fr);
    if (!resp)
        fr(cls);
    return queue(r, status, ctype, resp);
}

enum MHD_Result respond_static(struct req *r, int status, const char *ctype, const char *body)
{
    return queue(
        r, status, ctype,
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT));
}

static const char PROBLEM_JSON[] = "application/problem+json";

/* The fixed answer when even building an answer fails: no allocation
 * needed (Retry-After reuses the headers' room, or is left out). */
static enum MHD_Result out_of_memory(struct req *r)
{
    r->nout = 0;
    buf_reset(&r->outv);
    req_header(r, "Retry-After", "1");
    return respond_static(r, 503, PROBLEM_JSON,
                          "{\"type\":\"urn:leadd:problem:unavailable\",\"title\":\"Service "
                          "unavailable\",\"status\":503}");
}

enum MHD_Result respond_buf(struct req *r, int status, const char *ctype, struct buf *b)
{
    if (buf_error(b)) {
        buf_release(b);
        return out_of_memory(r);
    }
    size_t len = b->len;
    return respond(r, status, ctype, buf_detach(b), len);
}

static void problem_head(struct buf *b, int status, const char *slug, const char *title)
{
    buf_adds(b, "{\"type\":\"urn:leadd:problem:");
    buf_adds(b, slug);
    buf_adds(b, "\",\"title\":");
    jw_str(b, title);
    buf_addf(b, ",\"status\":%d", status);
}

enum MHD_Result problem(struct req *r, int status, const char *slug, const char *title,
                        const char *detail)
{
    struct buf b = BUF_INIT(4096);
    problem_head(&b, status, slug, title);
    if (detail) {
        buf_adds(&b, ",\"detail\":");
        jw_str(&b, detail);
    }
    buf_addc(&b, '}');
    return respond_buf(r, status, PROBLEM_JSON, &b);
}

enum MHD_Result unavailable(struct req *r, int rc)
{
    req_header(r, "Retry-After", "1");
    return problem(r, 503, "unavailable", "Service unavailable",
                   rc == LEADD_EFULL ? "the database cannot take writes now" : NULL);
}

enum MHD_Result problem_list(struct req *r, int status, const char *slug, const char *title,
                             const char *detail, const char *errors)
{
    struct buf b = BUF_INIT(8u << 20);
    problem_head(&b, status, slug, title);
    if (detail) {
        buf_adds(&b, ",\"detail\":");
        jw_str(&b, detail);
    }
    buf_adds(&b, ",\"errors\":");
    buf_adds(&b, errors);
    buf_addc(&b, '}');
    return respond_buf(r, status, PROBLEM_JSON, &b);
}

enum MHD_Result problem_fields(struct req *r, const struct lead_errors *e)
{
    struct buf b = BUF_INIT(64 * 1024);
    buf_addc(&b, '[');
    for (size_t i = 0; i < e->n; i++) {
        buf_adds(&b, i ? ",{\"field\":" : "{\"field\":");
        jw_str(&b, e->v[i].field);
        buf_adds(&b, ",\"code\":");
        jw_str(&b, e->v[i].code);
        buf_adds(&b, ",\"message\":");
        jw_str(&b, e->v[i].message);
        buf_addc(&b, '}');
    }
    buf_addc(&b, ']');
    enum MHD_Result ret = buf_error(&b)
                              ? respond_buf(r, 422, PROBLEM_JSON, &b)
                              : problem_list(r, 422, "invalid-fields", "Some fields are not valid",
                                             NULL, buf_str(&b));
    buf_release(&b);
    return ret;
}
