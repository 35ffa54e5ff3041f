/* pages.c: the demo landing page (built from the first form's fields, so it
 * matches whatever config is served), the thank-you page, and the pages a
 * visitor's plain form post meets when it fails: the invalid fields listed
 * above the form holding what they typed, and a page for every other error. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "leadd/crypto.h"
#include "leadd/lead.h"
#include "leadd/strutil.h"

static const char HEAD[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>%s</title><link rel=\"icon\" href=\"data:,\"><style>"
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}input,select,textarea{width:100%%;padding:.4rem;"
    "box-sizing:border-box}input[type=checkbox]{width:auto}button{margin-top:1rem;padding:.5rem "
    "1.2rem}.leadd-hp{position:absolute;left:-5000px}.err{color:#a00}</style></head><body><main>\n";

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

/* The last value the visitor sent for name (a re-shown form keeps what
 * they typed), or NULL. */
static const char *sent_value(const struct submission *s, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; s && i < s->n; i++) {
        if (s->in[i].kind == IN_STR && !strcmp(s->in[i].name, name))
            v = s->in[i].val;
    }
    return v;
}

/* One field: its label, and its control holding what was sent (if any). */
static int field_html(struct buf *b, const struct form *form, const struct field_spec *f,
                      const struct submission *sent)
{
    const char *req = f->required ? " required" : "";
    const char *v = sent_value(sent, f->name);
    bool area = f->type == FT_TEXT && f->has_max && f->max > 500;
    bool box = f->type == FT_BOOL || f->type == FT_CONSENT;
    buf_adds(b, "<label for=\"");
    html_escape(b, f->name);
    buf_adds(b, "\">");
    html_escape(b, f->label ? f->label : f->name);
    if (f->required)
        buf_adds(b, " *");
    buf_adds(b, "</label>");
    if (box)
        buf_addf(b, "<input type=\"checkbox\" value=\"true\"%s%s id=\"", req,
                 v && norm_truth(v, strlen(v)) == 1 ? " checked" : "");
    else if (f->type == FT_ENUM)
        buf_addf(b, "<select%s id=\"", req);
    else if (area)
        buf_addf(b, "<textarea rows=\"4\"%s id=\"", req);
    else
        buf_addf(b, "<input type=\"%s\"%s id=\"", input_type(f->type), req);
    html_escape(b, f->name);
    buf_adds(b, "\" name=\"");
    html_escape(b, f->name);
    if (v && !area && !box && f->type != FT_ENUM) {
        buf_adds(b, "\" value=\"");
        html_escape(b, v);
    }
    buf_adds(b, "\">");
    if (f->type == FT_ENUM) {
        /* An empty first choice: required then catches a skipped answer,
         * and no first option is sent (and scored) unasked. */
        buf_adds(b, "<option value=\"\"></option>");
        for (size_t i = 0; i < f->nchoices; i++) {
            buf_adds(b, v && !strcmp(v, f->choices[i]) ? "<option selected>" : "<option>");
            html_escape(b, f->choices[i]);
            buf_adds(b, "</option>");
        }
        buf_adds(b, "</select>");
    } else if (area) {
        if (v)
            html_escape(b, v);
        buf_adds(b, "</textarea>");
    } else if (f->type == FT_CONSENT && form->consent_text) {
        /* What the visitor agrees to, beside the box, as the lead will record
         * it: a label of the box, so a click on the words ticks it. */
        buf_adds(b, " <label class=\"consent\" for=\"");
        html_escape(b, f->name);
        buf_adds(b, "\">");
        html_escape(b, form->consent_text);
        buf_adds(b, "</label>");
    }
    return buf_addc(b, '\n');
}

/* A hidden input carrying a value the visitor's first post had. */
static void hidden(struct buf *b, const char *name, const char *value)
{
    buf_adds(b, "<input type=\"hidden\" name=\"");
    html_escape(b, name);
    buf_adds(b, "\" value=\"");
    html_escape(b, value);
    buf_adds(b, "\">\n");
}

/* The form as a page shows it: every declared field (holding what was sent,
 * when it is shown again), the honeypot, and, for a form shown again, the
 * attribution and _next of the first post so a resend keeps them. */
static void form_html(struct buf *b, const struct form *f, const struct submission *sent,
                      const char *action_base)
{
    buf_adds(b, "<form method=\"post\" action=\"");
    html_escape(b, action_base);
    buf_adds(b, "/v1/forms/");
    html_escape(b, f->id);
    buf_adds(b, "/submissions\">\n");
    for (size_t i = 0; i < f->nfields; i++)
        field_html(b, f, &f->fields[i], sent);
    if (f->honeypot) {
        buf_adds(b, "<div class=\"leadd-hp\" aria-hidden=\"true\"><label>Leave this empty "
                    "<input tabindex=\"-1\" autocomplete=\"off\" name=\"");
        html_escape(b, f->honeypot);
        buf_adds(b, "\"></label></div>\n");
    }
    for (size_t i = 0; sent && i < sent->n; i++) {
        const struct input_field *in = &sent->in[i];
        if (in->kind == IN_STR && (lead_attr_index(in->name) >= 0 || !strcmp(in->name, "_next")))
            hidden(b, in->name, in->val);
    }
    buf_adds(b, "<input type=\"hidden\" name=\"_elapsed_ms\">\n"
                "<button type=\"submit\">Send</button>\n</form>\n");
}

/* The page works without JavaScript; the script only adds the time spent on
 * the form and the page's UTM parameters, which a plain post cannot know. */
static const char SCRIPT[] =
    "<script>(function(){var t0=Date.now(),f=document.currentScript.previousElementSibling;"
    "f.addEventListener('submit',function(){var e=f.elements._elapsed_ms;"
    "e.value=String(Date.now()-t0);var q=new URLSearchParams(location.search);"
    "['utm_source','utm_medium','utm_campaign','utm_term','utm_content','gclid','fbclid',"
    "'msclkid'].forEach(function(k){if(q.get(k)){var i=document.createElement('input');"
    "i.type='hidden';i.name=k;i.value=q.get(k);f.appendChild(i);}});"
    "var l=document.createElement('input');l.type='hidden';l.name='landing_page';"
    "l.value=location.href;f.appendChild(l);"
    "if(document.referrer){var r=document.createElement('input');r.type='hidden';"
    "r.name='referrer';r.value=document.referrer;f.appendChild(r);}});})();</script>\n";

/* Each captcha's widget: its script, where its frames and calls come from
 * (the page's CSP allows that provider only), and its element. */
static const struct {
    const char *script, *sources, *div;
} WIDGETS[] = {
    [CAPTCHA_TURNSTILE] = {"https://challenges.cloudflare.com/turnstile/v0/api.js",
                           "https://challenges.cloudflare.com", "cf-turnstile"},
    [CAPTCHA_HCAPTCHA] = {"https://js.hcaptcha.com/1/api.js",
                          "https://hcaptcha.com https://*.hcaptcha.com", "h-captcha"},
    [CAPTCHA_RECAPTCHA] = {"https://www.google.com/recaptcha/api.js?render=",
                           "https://www.google.com/recaptcha/ https://www.gstatic.com/recaptcha/ "
                           "https://recaptcha.google.com/recaptcha/",
                           NULL},
};

/* The CSP source of an inline script: 'sha256-<base64 of its digest>'. */
static void script_hash(struct buf *csp, const char *script)
{
    const char *body = strchr(script, '>') + 1;
    const void *part = body;
    size_t len = (size_t)(strstr(body, "</script>") - body);
    unsigned char h[SHA256_LEN];
    char b64[CRYPTO_BASE64_LEN(SHA256_LEN)];
    if (crypto_sha256(&part, &len, 1, h)) {
        csp->err = csp->err ? csp->err : LEADD_ENOMEM;
        return;
    }
    crypto_base64(h, sizeof(h), b64);
    buf_addf(csp, " 'sha256-%s'", b64);
}

/* The form's captcha widget after its fields, and what the CSP allows for
 * it. reCAPTCHA v3 has no element: a script asks for a token on submit. */
static void widget(struct buf *b, struct buf *csp, const struct form *f)
{
    const char *src = WIDGETS[f->captcha].sources;
    struct buf key = BUF_INIT(512), action = BUF_INIT(512);
    html_escape(&key, f->captcha_sitekey ? f->captcha_sitekey : "");
    html_escape(&action, f->captcha_action ? f->captcha_action : "submit");
    if (!f->captcha_sitekey)
        buf_adds(b, "<p class=\"err\">This form verifies a captcha, but its captcha_sitekey is "
                    "not set: the widget cannot be shown.</p>\n");
    if (WIDGETS[f->captcha].div) {
        buf_addf(b, "<div class=\"%s\" data-sitekey=\"%s\"", WIDGETS[f->captcha].div,
                 buf_str(&key));
        if (f->captcha_action)
            buf_addf(b, " data-action=\"%s\"", buf_str(&action));
        buf_addf(b, "></div>\n<script src=\"%s\" async defer></script>\n",
                 WIDGETS[f->captcha].script);
    } else {
        struct buf js = BUF_INIT(4096);
        buf_addf(b, "<script src=\"%s%s\"></script>\n", WIDGETS[f->captcha].script, buf_str(&key));
        /* the key and action are HTML-escaped, and safe in a JS string: no
         * quote, backslash or angle bracket survives */
        buf_addf(&js,
                 "<script>(function(){var f=document.querySelector('form');"
                 "f.addEventListener('submit',function(e){if(f.dataset.ok)return;"
                 "e.preventDefault();grecaptcha.ready(function(){grecaptcha.execute('%s',"
                 "{action:'%s'}).then(function(t){var i=document.createElement('input');"
                 "i.type='hidden';i.name='g-recaptcha-response';i.value=t;f.appendChild(i);"
                 "f.dataset.ok='1';f.submit();});});});})();</script>\n",
                 buf_str(&key), buf_str(&action));
        script_hash(csp, buf_str(&js));
        buf_add(b, js.ptr, js.len);
        buf_release(&js);
    }
    buf_release(&key);
    buf_release(&action);
    buf_addf(csp, " %s; frame-src %s; connect-src 'self' %s; style-src 'unsafe-inline' %s", src,
             src, src, src);
}

/* A form's own page: its title, its fields as labelled, the script, its
 * captcha's widget; a CSP that allows this page's scripts (by their hash)
 * and its captcha provider, nothing else. */
static enum MHD_Result form_page(struct req *r, const struct form *f)
{
    const char *title = f->title ? f->title : "Talk to sales";
    struct buf b = BUF_INIT(256 * 1024), t = BUF_INIT(4096), csp = BUF_INIT(1024);
    html_escape(&t, title);
    buf_addf(&b, HEAD, buf_str(&t));
    buf_addf(&b, "<h1>%s</h1>\n", buf_str(&t));
    buf_release(&t);
    if (!f->title)
        buf_adds(&b, "<p>Tell us about your project and we will get back to you within one "
                     "business day.</p>\n");
    form_html(&b, f, NULL, "");
    buf_adds(&b, SCRIPT);
    buf_adds(&csp, "default-src 'none'; script-src");
    script_hash(&csp, SCRIPT);
    if (f->captcha != CAPTCHA_OFF)
        widget(&b, &csp, f);
    else
        buf_adds(&csp, "; connect-src 'self'; style-src 'unsafe-inline'");
    buf_adds(&csp, "; img-src 'self' data:; base-uri 'none'"); /* no form-action: a form may
                                                                  redirect off-site */
    csp_frame_ancestors(&csp, f);
    buf_adds(&b, "</main></body></html>\n");
    if (buf_error(&csp)) {
        buf_release(&csp);
        buf_release(&b);
        return unavailable(r, LEADD_ENOMEM);
    }
    req_header(r, "Content-Security-Policy", "%s", buf_str(&csp));
    buf_release(&csp);
    return respond_buf(r, 200, "text/html; charset=utf-8", &b);
}

enum MHD_Result page_index(struct req *r)
{
    return form_page(r, &r->cfg->forms[0]);
}

enum MHD_Result page_form(struct req *r)
{
    const struct form *f = config_form(r->cfg, r->param, strlen(r->param));
    if (!f) {
        r->html = true; /* a visitor's page: a page that says so */
        return page_problem(r, 404, "Unknown form");
    }
    return form_page(r, f);
}

/* The snippet a marketer pastes into their own landing page: the form posting
 * to this server (public_url, else the Host it was asked on), the honeypot,
 * and the script that adds the time on the page, the campaign, the landing
 * page and its referrer. Their page's origin goes in allowed_origins. */
enum MHD_Result page_embed(struct req *r)
{
    const struct config *cfg = r->cfg;
    const struct form *f = config_form(cfg, r->param, strlen(r->param));
    if (!f)
        return problem(r, 404, "unknown-form", "Unknown form", "no form has this id");
    char base[300];
    own_origin(r, base, sizeof(base));
    struct buf b = BUF_INIT(256 * 1024);
    buf_adds(&b, "<!-- leadd form: ");
    html_escape(&b, f->id);
    buf_adds(&b, ". Add this page's origin to the form's allowed_origins. -->\n"
                 "<style>.leadd-hp{position:absolute;left:-5000px}</style>\n");
    form_html(&b, f, NULL, base);
    buf_adds(&b, SCRIPT);
    return respond_buf(r, 200, "text/html; charset=utf-8", &b);
}

static const char THANKS[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Thank you</title><link rel=\"icon\" href=\"data:,\"></head><body style=\"font:16px/1.5 "
    "system-ui,sans-serif;max-width:34rem;margin:2rem auto\"><main>"
    "<h1>Thank you</h1><p>We got your message and will be in touch soon."
    "</p><p><a href=\"/\">Back</a></p></main></body></html>\n";

enum MHD_Result page_thanks(struct req *r)
{
    return respond_static(r, 200, "text/html; charset=utf-8", THANKS);
}

enum MHD_Result page_message(struct req *r, int status, const char *heading, const char *text,
                             const char *button)
{
    struct buf b = BUF_INIT(16384), t = BUF_INIT(1024);
    html_escape(&t, heading);
    buf_addf(&b, HEAD, buf_str(&t));
    buf_addf(&b, "<h1>%s</h1><p>", buf_str(&t));
    buf_release(&t);
    html_escape(&b, text);
    buf_adds(&b, "</p>\n");
    if (button) {
        /* posts to the same address: opening the page changes nothing */
        buf_adds(&b, "<form method=\"post\"><button type=\"submit\">");
        html_escape(&b, button);
        buf_adds(&b, "</button></form>\n");
    }
    buf_adds(&b, "</main></body></html>\n");
    return respond_buf(r, status, "text/html; charset=utf-8", &b);
}

/* A link back to the page the form was on: the landing page the form's
 * script sent, else the Referer (which a browser cuts to the site's origin
 * across sites), when either is a web address. */
static void back_link(struct req *r, struct buf *b)
{
    const char *ref = sent_value(&r->sub, "landing_page");
    if (!ref || (strncmp(ref, "http://", 7) && strncmp(ref, "https://", 8)))
        ref = header_in(r, "Referer");
    if (ref && (!strncmp(ref, "http://", 7) || !strncmp(ref, "https://", 8))) {
        buf_adds(b, "<p><a href=\"");
        html_escape(b, ref);
        buf_adds(b, "\">Back to the page you were on</a></p>");
    }
}

enum MHD_Result page_errors(struct req *r, const struct lead_errors *e)
{
    struct buf b = BUF_INIT(256 * 1024);
    buf_addf(&b, HEAD, "Please check the form");
    buf_adds(&b, "<h1>Please check the form</h1><ul class=\"err\">\n");
    for (size_t i = 0; i < e->n; i++) {
        /* in the form's words: its label for the field (label.NAME) */
        int k = r->form ? form_field(r->form, e->v[i].field) : -1;
        const char *label =
            k >= 0 && r->form->fields[k].label ? r->form->fields[k].label : e->v[i].field;
        buf_adds(&b, "<li><b>");
        html_escape(&b, label);
        buf_adds(&b, "</b> ");
        html_escape(&b, e->v[i].message);
        buf_adds(&b, "</li>\n");
    }
    /* The form again, holding what the visitor typed: nothing to retype. */
    buf_adds(&b, "</ul><p>Correct these below and send the form again.</p>\n");
    form_html(&b, r->form, &r->sub, "");
    back_link(r, &b);
    buf_adds(&b, "</main></body></html>\n");
    return respond_buf(r, 422, "text/html; charset=utf-8", &b);
}

/* What a visitor reads for each error a form post can meet: a heading and
 * what to do, in their terms (the API client gets the problem+json). */
static const struct {
    int status;
    const char *heading, *advice;
} VISITOR[] = {
    {400, "We could not read the form",
     "Please send it again. If this keeps happening, "
     "contact the site's owner."},
    {403, "This form cannot be sent from this page",
     "The page you were on is not allowed to send this form, so nothing was sent. Please "
     "contact the site's owner."},
    {404, "This form does not exist",
     "The page you were on points at a form that is not "
     "here. Please contact the site's owner."},
    {409, "This form was already sent",
     "It was sent before with different content. Please "
     "reload the page and send it again."},
    {413, "Your message is too long", "Please shorten it and send the form again."},
    {415, "We could not read the form", "Please send it again from the site's page."},
    {429, "Too many messages from your address",
     "Please wait a minute, then send the form "
     "again."},
    {503, "We could not save your message just now",
     "Nothing was saved. Please send the "
     "form again in a few seconds."},
};

enum MHD_Result page_problem(struct req *r, int status, const char *title)
{
    const char *heading = title, *advice = "Please try again later.";
    for (size_t i = 0; i < LEADD_ARRAY_LEN(VISITOR); i++) {
        if (VISITOR[i].status == status)
            heading = VISITOR[i].heading, advice = VISITOR[i].advice;
    }
    struct buf b = BUF_INIT(256 * 1024);
    buf_addf(&b, HEAD, heading);
    buf_adds(&b, "<h1>");
    html_escape(&b, heading);
    buf_adds(&b, "</h1><p>");
    html_escape(&b, advice);
    buf_adds(&b, "</p>\n");
    /* When the body was read (never for a refused origin, refused before it),
     * the form again with what was typed; else the browser's Back button
     * keeps it (browsers restore a form's fields). */
    if (r->form && r->sub.n)
        form_html(&b, r->form, &r->sub, "");
    else
        buf_adds(&b, "<p>Your browser's Back button returns to the form with what you typed."
                     "</p>\n");
    back_link(r, &b);
    buf_adds(&b, "</main></body></html>\n");
    return respond_buf(r, status, "text/html; charset=utf-8", &b);
}
