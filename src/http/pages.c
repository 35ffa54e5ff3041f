/* pages.c: the demo landing page (built from the first form's fields, so it
 * matches whatever config is served), the thank-you page, and the HTML page
 * that lists problems when a plain form post is invalid. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "leadd/strutil.h"

static const char HEAD[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>%s</title><style>"
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}input,select,textarea{width:100%%;padding:.4rem;"
    "box-sizing:border-box}input[type=checkbox]{width:auto}button{margin-top:1rem;padding:.5rem "
    "1.2rem}.hp{position:absolute;left:-5000px}.err{color:#a00}</style></head><body>\n";

static const char *input_type(enum field_type t)
{
    switch (t) {
    case FT_EMAIL: return "email";
    case FT_PHONE: return "tel";
    case FT_INTEGER:
    case FT_NUMBER: return "number";
    case FT_URL: return "url";
    default: return "text";
    }
}

static int field_html(struct buf *b, const struct field_spec *f)
{
    const char *req = f->required ? " required" : "";
    bool area = f->type == FT_TEXT && f->has_max && f->max > 500;
    buf_adds(b, "<label for=\"");
    html_escape(b, f->name);
    buf_adds(b, "\">");
    html_escape(b, f->name);
    if (f->required)
        buf_adds(b, " *");
    buf_adds(b, "</label>");
    if (f->type == FT_BOOL || f->type == FT_CONSENT)
        buf_addf(b, "<input type=\"checkbox\" value=\"true\"%s id=\"", req);
    else if (f->type == FT_ENUM)
        buf_addf(b, "<select%s id=\"", req);
    else if (area)
        buf_addf(b, "<textarea rows=\"4\"%s id=\"", req);
    else
        buf_addf(b, "<input type=\"%s\"%s id=\"", input_type(f->type), req);
    html_escape(b, f->name);
    buf_adds(b, "\" name=\"");
    html_escape(b, f->name);
    buf_adds(b, "\">");
    if (f->type == FT_ENUM) {
        for (size_t i = 0; i < f->nchoices; i++) {
            buf_adds(b, "<option>");
            html_escape(b, f->choices[i]);
            buf_adds(b, "</option>");
        }
        buf_adds(b, "</select>");
    } else if (area) {
        buf_adds(b, "</textarea>");
    }
    return buf_addc(b, '\n');
}

/* The page works without JavaScript; the script only adds the time spent on
 * the form and the page's UTM parameters, which a plain post cannot know. */
static const char SCRIPT[] =
    "<script>(function(){var t0=Date.now(),f=document.forms[0];"
    "f.addEventListener('submit',function(){var e=f.elements._elapsed_ms;"
    "e.value=String(Date.now()-t0);var q=new URLSearchParams(location.search);"
    "['utm_source','utm_medium','utm_campaign','utm_term','utm_content','gclid','fbclid',"
    "'msclkid'].forEach(function(k){if(q.get(k)){var i=document.createElement('input');"
    "i.type='hidden';i.name=k;i.value=q.get(k);f.appendChild(i);}});"
    "var l=document.createElement('input');l.type='hidden';l.name='landing_page';"
    "l.value=location.href;f.appendChild(l);"
    "if(document.referrer){var r=document.createElement('input');r.type='hidden';"
    "r.name='referrer';r.value=document.referrer;f.appendChild(r);}});})();</script>\n";

enum MHD_Result page_index(struct req *r)
{
    const struct form *f = &r->h->cfg->forms[0];
    struct buf b = BUF_INIT(256 * 1024);
    buf_addf(&b, HEAD, "Talk to sales");
    buf_adds(&b, "<h1>Talk to sales</h1><p>Tell us about your project and we will get "
                 "back to you within one business day.</p>\n<form method=\"post\" "
                 "action=\"/v1/forms/");
    html_escape(&b, f->id);
    buf_adds(&b, "/submissions\">\n");
    for (size_t i = 0; i < f->nfields; i++)
        field_html(&b, &f->fields[i]);
    if (f->honeypot) {
        buf_adds(&b, "<div class=\"hp\" aria-hidden=\"true\"><label>Leave this empty "
                     "<input tabindex=\"-1\" autocomplete=\"off\" name=\"");
        html_escape(&b, f->honeypot);
        buf_adds(&b, "\"></label></div>\n");
    }
    buf_adds(&b, "<input type=\"hidden\" name=\"_elapsed_ms\">\n"
                 "<button type=\"submit\">Send</button>\n</form>\n");
    buf_adds(&b, SCRIPT);
    buf_adds(&b, "</body></html>\n");
    return respond_buf(r, 200, "text/html; charset=utf-8", &b);
}

static const char THANKS[] = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                             "<title>Thank you</title></head><body style=\"font:16px/1.5 "
                             "system-ui,sans-serif;max-width:34rem;margin:2rem auto\">"
                             "<h1>Thank you</h1><p>We got your message and will be in touch soon."
                             "</p><p><a href=\"/\">Back</a></p></body></html>\n";

enum MHD_Result page_thanks(struct req *r)
{
    return respond_static(r, 200, "text/html; charset=utf-8", THANKS);
}

enum MHD_Result page_errors(struct req *r, const struct lead_errors *e)
{
    struct buf b = BUF_INIT(64 * 1024);
    buf_addf(&b, HEAD, "Please check the form");
    buf_adds(&b, "<h1>Please check the form</h1><ul class=\"err\">\n");
    for (size_t i = 0; i < e->n; i++) {
        buf_adds(&b, "<li><b>");
        html_escape(&b, e->v[i].field);
        buf_adds(&b, "</b> ");
        html_escape(&b, e->v[i].message);
        buf_adds(&b, "</li>\n");
    }
    buf_adds(&b, "</ul><p>Go back, correct these and send the form again.</p>");
    /* Link back to the page the form was on, when the browser told us. */
    const char *ref = header_in(r, "Referer");
    if (ref && (!strncmp(ref, "http://", 7) || !strncmp(ref, "https://", 8))) {
        buf_adds(&b, "<p><a href=\"");
        html_escape(&b, ref);
        buf_adds(&b, "\">Back to the form</a></p>");
    }
    buf_adds(&b, "</body></html>\n");
    return respond_buf(r, 422, "text/html; charset=utf-8", &b);
}
