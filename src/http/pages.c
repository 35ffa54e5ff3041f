/* pages.c: the demo landing page (built from the first form's fields, so it
 * matches whatever config is served), the thank-you page, and the pages a
 * visitor's plain form post meets when it fails: the invalid fields listed
 * above the form holding what they typed, and a page for every other error. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "leadd/crypto.h"
#include "leadd/embed.h"
#include "leadd/lead.h"
#include "leadd/strutil.h"

static const char HEAD[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>%s</title><link rel=\"icon\" href=\"data:,\"><style>"
    "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem}"
    "label{display:block;margin:.8rem 0 .2rem}input,select,textarea{width:100%%;padding:.4rem;"
    "box-sizing:border-box}input[type=checkbox]{width:auto}button{margin-top:1rem;padding:.5rem "
    "1.2rem}.leadd-hp{position:absolute;left:-5000px}.err{color:#a00}.leadd-logo{max-height:3rem}"
    "</style>";

/* A visitor's page around its message (a heading and what to do, or the
 * errors) and its body (the form, a link back), in the form's look: the
 * operator's page (page = FILE) with {{title}}, {{errors}} and {{form}} in
 * place, else leadd's own with the form's stylesheet and logo. The page's
 * CSP allows what the look loads (csp_look). */
static enum MHD_Result visitor_page(struct req *r, int status, const struct form *f,
                                    const char *title, struct buf *msg, struct buf *body)
{
    struct buf b = BUF_INIT(FORM_PAGE_MAX + 512 * 1024), t = BUF_INIT(4096);
    html_escape(&t, title);
    if (f && f->page) {
        bool placed = strstr(f->page, "{{errors}}") != NULL;
        const char *p = f->page, *q;
        while ((q = strstr(p, "{{"))) {
            buf_add(&b, p, (size_t)(q - p));
            p = q + 2;
            if (!strncmp(q, "{{title}}", 9)) {
                buf_add(&b, t.ptr, t.len);
                p = q + 9;
            } else if (!strncmp(q, "{{errors}}", 10)) {
                buf_add(&b, msg->ptr, msg->len);
                p = q + 10;
            } else if (!strncmp(q, "{{form}}", 8)) {
                if (!placed) /* the message goes where the form is */
                    buf_add(&b, msg->ptr, msg->len);
                buf_add(&b, body->ptr, body->len);
                p = q + 8;
            } else {
                buf_adds(&b, "{{"); /* check-config refused it; kept as written */
            }
        }
        buf_adds(&b, p);
    } else {
        buf_addf(&b, HEAD, buf_str(&t));
        if (f && f->stylesheet) {
            buf_adds(&b, "<link rel=\"stylesheet\" href=\"");
            html_escape(&b, f->stylesheet);
            buf_adds(&b, "\">");
        }
        buf_adds(&b, "</head><body>\n");
        if (f && f->logo) { /* the site's, beside its name in the title: decorative */
            buf_adds(&b, "<header><img class=\"leadd-logo\" alt=\"\" src=\"");
            html_escape(&b, f->logo);
            buf_adds(&b, "\"></header>\n");
        }
        buf_adds(&b, "<main>\n");
        buf_add(&b, msg->ptr, msg->len);
        buf_add(&b, body->ptr, body->len);
        buf_adds(&b, "</main></body></html>\n");
    }
    buf_release(&t);
    buf_release(msg);
    buf_release(body);
    return respond_buf(r, status, "text/html; charset=utf-8", &b);
}

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
    buf_adds(b, "<div class=\"leadd-field\"><label for=\"");
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
    return buf_adds(b, "</div>\n");
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
        /* placed off-screen by its own style too: an operator's page (page =
         * FILE) has no leadd-hp rule */
        buf_adds(b, "<div class=\"leadd-hp\" style=\"position:absolute;left:-5000px\" "
                    "aria-hidden=\"true\"><label>Leave this empty "
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

/* The form's script (web/form.js), inline after the form: the form works
 * without it; it adds the time spent on the form and the page's campaign,
 * which a plain post cannot know, and shows errors beside their fields. */
static void form_script(struct buf *b)
{
    const struct embedded_file *js = embedded_find(app_files, "form.js");
    buf_adds(b, "<script>");
    buf_add(b, js->data, js->len);
    buf_adds(b, "</script>\n");
}

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

/* The CSP source of an inline script's text: 'sha256-<base64 of its digest>'. */
static void script_hash(struct buf *csp, const char *body, size_t len)
{
    const void *part = body;
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
        const char *body = strchr(buf_str(&js), '>') + 1;
        script_hash(csp, body, (size_t)(strstr(body, "</script>") - body));
        buf_add(b, js.ptr, js.len);
        buf_release(&js);
    }
    buf_release(&key);
    buf_release(&action);
    buf_addf(csp, " %s; frame-src %s; connect-src 'self' %s", src, src, src);
}

/* A form's own page: its title, its fields as labelled, the script, its
 * captcha's widget; a CSP that allows this page's scripts (by their hash),
 * its captcha provider and its look, nothing else. */
static enum MHD_Result form_page(struct req *r, const struct form *f)
{
    const char *title = f->title ? f->title : "Talk to sales";
    struct buf msg = BUF_INIT(8192), b = BUF_INIT(256 * 1024), csp = BUF_INIT(2048);
    buf_adds(&msg, "<h1>");
    html_escape(&msg, title);
    buf_adds(&msg, "</h1>\n");
    if (!f->title)
        buf_adds(&msg, "<p>Tell us about your project and we will get back to you within one "
                       "business day.</p>\n");
    form_html(&b, f, NULL, "");
    form_script(&b);
    const struct embedded_file *js = embedded_find(app_files, "form.js");
    buf_adds(&csp, "default-src 'none'; script-src");
    script_hash(&csp, js->data, js->len);
    const char *extra = "";
    if (f->captcha != CAPTCHA_OFF) {
        widget(&b, &csp, f);
        extra = WIDGETS[f->captcha].sources;
    } else
        buf_adds(&csp, "; connect-src 'self'");
    csp_look(&csp, f, extra);
    buf_adds(&csp, "; base-uri 'none'"); /* no form-action: a form may redirect off-site */
    csp_frame_ancestors(&csp, f);
    if (buf_error(&csp)) {
        buf_release(&csp);
        buf_release(&msg);
        buf_release(&b);
        return unavailable(r, LEADD_ENOMEM);
    }
    req_header(r, "Content-Security-Policy", "%s", buf_str(&csp));
    buf_release(&csp);
    return visitor_page(r, 200, f, title, &msg, &b);
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
                 "<style>.leadd-hp{position:absolute;left:-5000px}.leadd-field{margin:.6rem 0}"
                 ".leadd-field>label:first-child{display:block}.leadd-error{color:#a00}</style>\n");
    form_html(&b, f, NULL, base);
    form_script(&b);
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
    struct buf msg = BUF_INIT(16384), body = BUF_INIT(4096);
    buf_adds(&msg, "<h1>");
    html_escape(&msg, heading);
    buf_adds(&msg, "</h1><p>");
    html_escape(&msg, text);
    buf_adds(&msg, "</p>\n");
    if (button) {
        /* posts to the same address: opening the page changes nothing */
        buf_adds(&body, "<form method=\"post\"><button type=\"submit\">");
        html_escape(&body, button);
        buf_adds(&body, "</button></form>\n");
    }
    return visitor_page(r, status, r->form, heading, &msg, &body);
}

/* A link back to the page the form was on: the landing page the form's
 * script sent, else the Referer (which a browser cuts to the site's origin
 * across sites), when either is a web address. */
static void back_link(struct req *r, struct buf *b)
{
    const char *ref = r->in ? sent_value(&r->in->sub, "landing_page") : NULL;
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
    struct buf msg = BUF_INIT(64 * 1024), b = BUF_INIT(256 * 1024);
    buf_adds(&msg, "<h1>Please check the form</h1><ul class=\"err\">\n");
    for (size_t i = 0; i < e->n; i++) {
        /* in the form's words: its label for the field (label.NAME) */
        int k = r->form ? form_field(r->form, e->v[i].field) : -1;
        const char *label =
            k >= 0 && r->form->fields[k].label ? r->form->fields[k].label : e->v[i].field;
        buf_adds(&msg, "<li><b>");
        html_escape(&msg, label);
        buf_adds(&msg, "</b> ");
        html_escape(&msg, e->v[i].message);
        buf_adds(&msg, "</li>\n");
    }
    buf_adds(&msg, "</ul><p>Correct these below and send the form again.</p>\n");
    /* The form again, holding what the visitor typed: nothing to retype. */
    form_html(&b, r->form, r->in ? &r->in->sub : NULL, "");
    back_link(r, &b);
    return visitor_page(r, 422, r->form, "Please check the form", &msg, &b);
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

enum MHD_Result visitor_problem(struct req *r, int status, const char *slug, const char *title,
                                const char *detail)
{
    return r->html ? page_problem(r, status, title) : problem(r, status, slug, title, detail);
}

enum MHD_Result page_problem(struct req *r, int status, const char *title)
{
    const char *heading = title, *advice = "Please try again later.";
    for (size_t i = 0; i < LEADD_ARRAY_LEN(VISITOR); i++) {
        if (VISITOR[i].status == status)
            heading = VISITOR[i].heading, advice = VISITOR[i].advice;
    }
    struct buf msg = BUF_INIT(16384), b = BUF_INIT(256 * 1024);
    buf_adds(&msg, "<h1>");
    html_escape(&msg, heading);
    buf_adds(&msg, "</h1><p>");
    html_escape(&msg, advice);
    buf_adds(&msg, "</p>\n");
    /* When the body was read (never for a refused origin, refused before it),
     * the form again with what was typed; else the browser's Back button
     * keeps it (browsers restore a form's fields). */
    if (r->form && r->in && r->in->sub.n)
        form_html(&b, r->form, &r->in->sub, "");
    else
        buf_adds(&b, "<p>Your browser's Back button returns to the form with what you typed."
                     "</p>\n");
    back_link(r, &b);
    return visitor_page(r, status, r->form, heading, &msg, &b);
}
