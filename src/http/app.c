/* app.c: the inbox, a single-page app served from files embedded at build
 * time (web/, tools/embed.c): /app and its routes answer the page, so a
 * reload or a shared link works; /app/assets/{file} its script and style.
 *
 * Every answer carries a strict Content-Security-Policy (scripts and styles
 * from this origin only, nothing inline, no framing), nosniff and a
 * same-origin referrer: the app shows what visitors typed, and a lead's
 * text must never run as code. */
#include <string.h>

#include "internal.h"
#include "leadd/embed.h"

static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'";

static const struct {
    const char *ext, *type;
} TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
};

static enum MHD_Result serve(struct req *r, const struct embedded_file *f)
{
    const char *type = NULL;
    size_t n = strlen(f->name);
    for (size_t i = 0; i < LEADD_ARRAY_LEN(TYPES) && !type; i++) {
        size_t e = strlen(TYPES[i].ext);
        if (n > e && !strcmp(f->name + n - e, TYPES[i].ext))
            type = TYPES[i].type;
    }
    req_header(r, "Content-Security-Policy", "%s", CSP);
    req_header(r, "X-Content-Type-Options", "nosniff");
    req_header(r, "Referrer-Policy", "same-origin");
    req_header(r, "X-Frame-Options", "DENY");
    /* Always revalidated: a new leadd's app is never mixed with an old one. */
    req_header(r, "Cache-Control", "no-cache");
    return respond_static(r, 200, type ? type : "application/octet-stream", f->data);
}

enum MHD_Result app_page(struct req *r)
{
    return serve(r, embedded_find(app_files, "index.html"));
}

enum MHD_Result app_asset(struct req *r)
{
    const struct embedded_file *f = embedded_find(app_files, r->param);
    if (!f || !strcmp(r->param, "index.html"))
        return problem(r, 404, "not-found", "Not found", NULL);
    return serve(r, f);
}
