/* checks.c: what the config means as a whole, once every line is read:
 * each webhook's body, conditions and fields against the forms it serves,
 * each form's captcha, double opt-in, rules and assignments. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/strutil.h"
#include "leadd/embed.h"
#include "leadd/score.h"
#include "leadd/template.h"

/* The shipped templates: what each preset sends, where by default, and which
 * id of the CRM's answer it keeps. src/template/presets/ holds the files.
 * A preset that takes map.NAME = PROPERTY lines has where they go: after
 * the text `map_after`, each written by map_fmt (the property, then the
 * placeholder's path). */
struct preset {
    enum webhook_format format;
    const char *file;
    enum template_kind kind;
    const char *url, *response_id;
    const char *map_after;
    bool map_fields; /* each as a Forms API field {objectTypeId, name, value}, not a member */
};
static const struct preset PRESETS[] = {
    {WEBHOOK_HUBSPOT, "hubspot.json", TEMPLATE_JSON,
     "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert", "results.0.id",
     "\"phone\": \"{{fields.phone}}\"", false},
    {WEBHOOK_SALESFORCE, "salesforce.json", TEMPLATE_FORM,
     "https://webto.salesforce.com/servlet/servlet.WebToLead?encoding=UTF-8", NULL,
     "\"lead_source\": \"{{attribution.utm_source | default:\\\"Web\\\"}}\"", false},
    {WEBHOOK_SLACK, "slack.json", TEMPLATE_JSON, NULL, NULL, NULL, false},
    {WEBHOOK_EMAIL, "email.txt", TEMPLATE_TEXT, NULL, NULL, NULL, false},
    {WEBHOOK_HUBSPOT_FORMS, "hubspot_forms.json", TEMPLATE_JSON, NULL, NULL,
     "\"value\": \"{{fields.phone}}\"}", true},
};
/* HubSpot's update (update_url): its properties, and the map's */
static const struct preset HUBSPOT_UPDATE = {WEBHOOK_HUBSPOT,
                                             "hubspot_update.json",
                                             TEMPLATE_JSON,
                                             NULL,
                                             NULL,
                                             "\"leadd_score\": \"{{score}}\"",
                                             false};

/* The paths a map.NAME may read besides fields and attribution. */
static const char *const MAP_TOP[] = {"id",        "form",  "created_at", "score", "grade",
                                      "status",    "value", "currency",   "owner", "url",
                                      "qualified", "ip",    "page_name"};

/* The placeholder path of map.NAME: a top-level path, an attribution name,
 * or a field of a form the target serves; false (diagnosed) for none. */
static bool map_path(struct loader *ld, const struct webhook *w, const struct webhook_map *m,
                     char *out, size_t cap)
{
    const struct config *c = ld->cfg;
    if (str_index(m->name, MAP_TOP, LEADD_ARRAY_LEN(MAP_TOP)) >= 0) {
        snprintf(out, cap, "%s", m->name);
        return true;
    }
    if (lead_attr_index(m->name) >= 0) {
        snprintf(out, cap, "attribution.%s", m->name);
        return true;
    }
    for (size_t f = 0; f < c->nforms; f++)
        if (webhook_takes(w, c->forms[f].id) && form_field(&c->forms[f], m->name) >= 0) {
            snprintf(out, cap, "fields.%s", m->name);
            return true;
        }
    ld->line = m->line;
    diag(ld,
         "[webhook.%s] map.%s: '%s' is not a field of its forms, an attribution name (utm_source,"
         " gclid, landing_page...), or score, grade, status, value and the like",
         w->name, m->name, m->name);
    ld->line = 0;
    return false;
}

/* A template of webhook w compiled into *out: a built-in file of
 * src/template/presets/ (preset), else the file at path, as kind. */
static void compile_into(struct loader *ld, struct webhook *w, const struct preset *preset,
                         const char *path, enum template_kind kind, struct template **out)
{
    char err[768], file[300];
    char *text = NULL;
    size_t len = 0;
    if (preset) {
        const struct embedded_file *e = embedded_find(presets_files, preset->file);
        const char *at = e && preset->map_after
                             ? memmem(e->data, e->len, preset->map_after, strlen(preset->map_after))
                             : NULL;
        if (!e || (preset->map_after && !at)) {
            ld->rc = LEADD_EINVAL; /* a preset missing from the build is a bug */
            return;
        }
        snprintf(file, sizeof(file), "%s (built in)", preset->file);
        /* the map's members, spliced in where the preset's own end */
        struct buf b = BUF_INIT(1 << 20);
        size_t head =
            at ? (size_t)(at - (const char *)e->data) + strlen(preset->map_after) : e->len;
        buf_add(&b, e->data, head);
        for (size_t i = 0; at && i < w->nmaps; i++) {
            char p[128];
            if (!map_path(ld, w, &w->maps[i], p, sizeof(p)))
                continue;
            if (preset->map_fields)
                buf_addf(
                    &b,
                    ",\n    {\"objectTypeId\": \"0-1\", \"name\": \"%s\", \"value\": \"{{%s}}\"}",
                    w->maps[i].property, p);
            else
                buf_addf(&b, ",\n    \"%s\": \"{{%s}}\"", w->maps[i].property, p);
        }
        buf_add(&b, (const char *)e->data + head, e->len - head);
        if (buf_error(&b)) {
            buf_release(&b);
            ld->rc = LEADD_ENOMEM;
            return;
        }
        len = b.len;
        text = buf_detach(&b);
    } else if (!path) {
        ld->rc = LEADD_EINVAL; /* neither a preset nor a file: a bug */
        return;
    } else {
        snprintf(file, sizeof(file), "%s", path);
        if (!(text = slurp(path, &len))) {
            diag(ld, "[webhook.%s] template: cannot read '%s': %s", w->name, path, strerror(errno));
            return;
        }
    }
    if (!text) {
        ld->rc = LEADD_ENOMEM;
        return;
    }
    int rc = template_compile(out, kind, text, len, file, w->vars, w->nvars, err, sizeof(err));
    if (!rc) /* values are escaped for what reads the body as markup */
        template_set_escape(*out, w->escape >= 0               ? (enum template_escape)w->escape
                                  : w->format == WEBHOOK_SLACK ? TEMPLATE_ESC_SLACK
                                                               : TEMPLATE_ESC_NONE);
    if (rc == LEADD_ENOMEM)
        ld->rc = rc;
    else if (rc)
        diag(ld, "[webhook.%s] %s", w->name, err);
    free(text);
}

/* The webhook's body, compiled: a preset, or the template file. */
static void compile_body(struct loader *ld, struct webhook *w, const struct preset *p)
{
    if (!p && !w->template_path) {
        diag(ld, "[webhook.%s] format = template needs template = FILE", w->name);
        return;
    }
    enum template_kind kind = p                                         ? p->kind
                              : w->content_type == WEBHOOK_CONTENT_FORM ? TEMPLATE_FORM
                                                                        : TEMPLATE_JSON;
    if (w->nmaps && (!p || !p->map_after))
        diag(ld,
             "[webhook.%s] map.NAME is for the hubspot, hubspot_forms and salesforce presets (a"
             " template names its own properties)",
             w->name);
    compile_into(ld, w, p, w->template_path, kind, &w->tpl);
}

/* Changes sent to the record a target made (update_url): HubSpot's a PATCH
 * of the contact's properties, a template's its update_template, the
 * standard target's its envelope (lead.updated). */
static void check_updates(struct loader *ld, struct webhook *w)
{
    if (!w->update_url) {
        if (w->update_template_path)
            diag(ld, "[webhook.%s] update_template without update_url does nothing", w->name);
        return;
    }
    if (!url_of(w->update_url, HTTP_SCHEMES, 2) || !strstr(w->update_url, "{id}"))
        diag(ld,
             "[webhook.%s] update_url: expected an http(s) URL with {id} where the record's id"
             " goes",
             w->name);
    if (w->format != WEBHOOK_STANDARD && w->format != WEBHOOK_HUBSPOT &&
        w->format != WEBHOOK_TEMPLATE)
        diag(ld,
             "[webhook.%s] update_url: only standard, hubspot and template targets update"
             " their records",
             w->name);
    else if (!w->response_id)
        diag(ld, "[webhook.%s] update_url needs response_id: the record's id in the CRM's answer",
             w->name);
    if (w->format == WEBHOOK_HUBSPOT && !w->update_template_path)
        compile_into(ld, w, &HUBSPOT_UPDATE, NULL, TEMPLATE_JSON, &w->update_tpl);
    else if (w->format == WEBHOOK_TEMPLATE && !w->update_template_path)
        diag(ld, "[webhook.%s] update_url needs update_template = FILE (the update's body)",
             w->name);
    else if (w->update_template_path)
        compile_into(ld, w, NULL, w->update_template_path,
                     w->content_type == WEBHOOK_CONTENT_FORM ? TEMPLATE_FORM : TEMPLATE_JSON,
                     &w->update_tpl);
}

/* Each fields.NAME a template reads is a field of a form its target serves:
 * a slip ({{fields.teamsize}} for team_size) would send nothing, silently.
 * (The presets read what most forms have and leave out what one lacks.) */
static void check_body_fields(struct loader *ld, const struct webhook *w)
{
    const struct config *c = ld->cfg;
    size_t n;
    const struct template_field *tf = template_fields(w->tpl, &n);
    for (size_t i = 0; i < n; i++) {
        const char *names[CONFIG_MAX_FIELDS];
        size_t nn = 0;
        bool known = false;
        for (size_t f = 0; f < c->nforms && !known; f++) {
            if (!webhook_takes(w, c->forms[f].id))
                continue;
            for (size_t k = 0; k < c->forms[f].nfields && !known; k++) {
                known = !strcmp(c->forms[f].fields[k].name, tf[i].name);
                if (nn < CONFIG_MAX_FIELDS)
                    names[nn++] = c->forms[f].fields[k].name;
            }
        }
        if (known)
            continue;
        char hint[160];
        ld->line = w->template_line;
        diag(ld, "[webhook.%s] %s:%d: fields.%s is not a field of the forms it serves%s", w->name,
             w->template_path, tf[i].line, tf[i].name,
             did_you_mean(tf[i].name, names, nn, hint, sizeof(hint)));
        ld->line = 0;
    }
}

/* What a webhook needs, once every line is read (keys come in any order). */
static void check_webhook(struct loader *ld, struct webhook *w)
{
    struct config *c = ld->cfg;
    const struct preset *p = NULL;
    for (size_t k = 0; k < LEADD_ARRAY_LEN(PRESETS); k++) {
        if (PRESETS[k].format == w->format)
            p = &PRESETS[k];
    }
    if (!w->url && p && p->url && !(w->url = strdup(p->url)))
        ld->rc = LEADD_ENOMEM;
    if (!w->response_id && p && p->response_id && !(w->response_id = strdup(p->response_id)))
        ld->rc = LEADD_ENOMEM;
    bool email = w->format == WEBHOOK_EMAIL;
    char url_line[300];
    snprintf(url_line, sizeof(url_line), "webhook.%s\nurl", w->name);
    if (!w->url) {
        if (!strset_has(&ld->seen, url_line)) /* a bad url was reported on its line */
            diag(ld, "[webhook.%s] has no url", w->name);
    } else if (email && !url_of(w->url, SMTP_SCHEMES, 2))
        diag(ld, "[webhook.%s] format = email needs an smtp:// or smtps:// url", w->name);
    else if (!email && !url_of(w->url, HTTP_SCHEMES, 2))
        diag(ld, "[webhook.%s] needs an http:// or https:// url", w->name);
    if (w->record_url &&
        (!url_of(w->record_url, HTTP_SCHEMES, 2) || !strstr(w->record_url, "{id}")))
        diag(
            ld,
            "[webhook.%s] record_url: expected an http(s) URL with {id} where the record's id goes",
            w->name);
    w->sign = w->sign_mode == WEBHOOK_SIGN_AUTO
                  ? w->format == WEBHOOK_STANDARD || w->format == WEBHOOK_TEMPLATE
                  : w->sign_mode == WEBHOOK_SIGN_YES;
    if (email)
        w->sign = false; /* a mail has no webhook headers */
    if (w->sign && !w->secret_len)
        diag(ld, "[webhook.%s] has no secret (whsec_...) to sign with (or sign = false)", w->name);
    /* A target of no form (forms = nothing) only sends confirmation mails,
     * each to its lead: it needs no mail_to. */
    if (email && (!w->mail_from || (!w->mail_to.n && (w->all_forms || w->forms.n))))
        diag(ld, "[webhook.%s] format = email needs mail_from and mail_to", w->name);
    if (email && w->mail_from && (!strchr(w->mail_from, '@') || strpbrk(w->mail_from, "<>\r\n ")))
        diag(ld, "[webhook.%s] mail_from: '%s' is not an email address", w->name, w->mail_from);
    if (w->format == WEBHOOK_HUBSPOT_FORMS && !w->url)
        diag(ld,
             "[webhook.%s] format = hubspot_forms needs url = https://api.hsforms.com/submissions/"
             "v3/integration/secure/submit/PORTAL_ID/FORM_GUID",
             w->name);
    if (w->format != WEBHOOK_STANDARD)
        compile_body(ld, w, p);
    else if (w->nmaps)
        diag(ld, "[webhook.%s] map.NAME is for the hubspot, hubspot_forms and salesforce presets",
             w->name);
    check_updates(ld, w);
    for (size_t r = 0; r < w->cond.n; r++) {
        bool known = false;
        char why[600] = "";
        for (size_t f = 0; f < c->nforms; f++) {
            if (!webhook_takes(w, c->forms[f].id) ||
                !condition_field_known(&c->forms[f], w->cond.v[r].field))
                continue;
            /* a value no lead of its forms can have: it would never fire */
            if (!known && condition_values_check(&c->forms[f], &w->cond.v[r], why, sizeof(why)))
                break;
            known = true;
        }
        ld->line = w->when_line;
        if (*why)
            diag(ld, "[webhook.%s] when: %s", w->name, why);
        else if (!known)
            diag(ld,
                 "[webhook.%s] when: '%s' is not a field of its forms, an attribution name, "
                 "score, grade, form or status",
                 w->name, w->cond.v[r].field);
        ld->line = 0;
    }
    if (w->format == WEBHOOK_TEMPLATE && w->tpl)
        check_body_fields(ld, w);
}

/* The siteverify endpoint each provider documents. */
static const char *const CAPTCHA_VERIFY_URLS[] = {
    [CAPTCHA_TURNSTILE] = "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    [CAPTCHA_HCAPTCHA] = "https://api.hcaptcha.com/siteverify",
    [CAPTCHA_RECAPTCHA] = "https://www.google.com/recaptcha/api/siteverify",
};

/* A form's captcha and double opt-in keys, which only make sense together. */
static void check_trust(struct loader *ld, struct form *f)
{
    const struct config *c = ld->cfg;
    if (f->captcha != CAPTCHA_OFF) {
        if (!f->captcha_secret)
            diag(ld,
                 "[form.%s] captcha = %s needs captcha_secret (env:NAME keeps it out of"
                 " the file)",
                 f->id, captcha_name(f->captcha));
        if (!f->captcha_verify_url &&
            !(f->captcha_verify_url = strdup(CAPTCHA_VERIFY_URLS[f->captcha])))
            ld->rc = LEADD_ENOMEM;
        else if (!url_of(f->captcha_verify_url, HTTP_SCHEMES, 2))
            diag(ld, "[form.%s] captcha_verify_url: expected an http:// or https:// URL", f->id);
    }
    if (!f->double_opt_in)
        return;
    bool has_email = false;
    for (size_t k = 0; k < f->nfields; k++)
        has_email |= f->fields[k].type == FT_EMAIL;
    if (!has_email)
        diag(ld, "[form.%s] double_opt_in needs a field of type email to send the link to", f->id);
    if (!c->public_url)
        diag(ld,
             "[form.%s] double_opt_in needs [server] public_url: the link in the mail"
             " must reach this server",
             f->id);
    const struct webhook *w = f->confirm_mail ? config_webhook(c, f->confirm_mail) : NULL;
    if (!w || w->format != WEBHOOK_EMAIL)
        diag(ld, "[form.%s] confirm_mail must name a [webhook.NAME] with format = email", f->id);
    if (f->confirm_redirect && !url_of(f->confirm_redirect, HTTP_SCHEMES, 2) &&
        (f->confirm_redirect[0] != '/' || f->confirm_redirect[1] == '/'))
        diag(ld, "[form.%s] confirm_redirect: expected a path on this site or an http(s) URL",
             f->id);
}

/* A form's look on the visitor's pages: URLs the page's CSP can name, and
 * the operator's page read once, its placeholders known. */
static void check_look(struct loader *ld, struct form *f)
{
    static const char *const PLACES[] = {"{{title}}", "{{errors}}", "{{form}}"};
    if (f->stylesheet && !url_of(f->stylesheet, HTTP_SCHEMES, 2))
        diag(ld, "[form.%s] stylesheet: expected an http:// or https:// URL", f->id);
    if (f->logo && !url_of(f->logo, HTTP_SCHEMES, 2))
        diag(ld, "[form.%s] logo: expected an http:// or https:// URL", f->id);
    if (!f->page_path)
        return;
    size_t len = 0;
    if (!(f->page = slurp(f->page_path, &len))) {
        diag(ld, "[form.%s] page: cannot read '%s': %s", f->id, f->page_path, strerror(errno));
        return;
    }
    if (len > FORM_PAGE_MAX || strlen(f->page) != len)
        diag(ld, "[form.%s] page: '%s' is not a text file of at most %d KiB", f->id, f->page_path,
             FORM_PAGE_MAX / 1024);
    else if (!strstr(f->page, "{{form}}"))
        diag(ld, "[form.%s] page: '%s' has no {{form}}: where would the form go?", f->id,
             f->page_path);
    for (const char *p = f->page; (p = strstr(p, "{{")); p += 2) {
        bool known = false;
        for (size_t i = 0; i < LEADD_ARRAY_LEN(PLACES); i++)
            known |= !strncmp(p, PLACES[i], strlen(PLACES[i]));
        if (!known) {
            const char *end = strstr(p, "}}");
            int n = end && end - p < 40 ? (int)(end - p) + 2 : 20;
            diag(ld, "[form.%s] page: '%.*s' is not {{title}}, {{errors}} or {{form}}", f->id, n,
                 p);
            break;
        }
    }
}

/* An inbound source has what its kind verifies a sender by, and names the
 * target whose records it reports on. */
static void check_inbound(struct loader *ld, struct inbound *in)
{
    static const char *const KIND[] = {"hubspot", "pipedrive", "standard"};
    const struct config *c = ld->cfg;
    if ((int)in->kind < 0) {
        diag(ld, "[inbound.%s] needs kind = hubspot, pipedrive or standard", in->name);
        return;
    }
    if (in->kind == INBOUND_STANDARD && in->secret_len) { /* the text becomes its key */
        unsigned char key[sizeof(in->secret)];
        char text[sizeof(in->secret) + 1];
        memcpy(text, in->secret, in->secret_len);
        text[in->secret_len] = '\0';
        long n = strncmp(text, "whsec_", 6) ? -1 : crypto_unbase64(text + 6, key, sizeof(key));
        if (n < 16)
            diag(ld, "[inbound.%s] secret: expected whsec_ and base64 of at least 16 bytes",
                 in->name);
        in->secret_len = n < 16 ? 0 : (size_t)n;
        if (n >= 16)
            memcpy(in->secret, key, (size_t)n);
        explicit_bzero(key, sizeof(key));
        explicit_bzero(text, sizeof(text));
    } else if (in->kind != INBOUND_PIPEDRIVE && !in->secret_len && !ld->secrets_optional) {
        diag(ld, "[inbound.%s] kind = %s needs secret (%s)", in->name, KIND[in->kind],
             in->kind == INBOUND_HUBSPOT ? "the app's client secret" : "whsec_...");
    }
    if (in->kind == INBOUND_PIPEDRIVE && (!in->user || (!in->password && !ld->secrets_optional)))
        diag(ld,
             "[inbound.%s] kind = pipedrive needs user and password (the webhook's HTTP"
             " basic auth)",
             in->name);
    if (in->kind == INBOUND_HUBSPOT && !c->public_url)
        diag(ld,
             "[inbound.%s] kind = hubspot needs [server] public_url: HubSpot signs the URL"
             " it posts to",
             in->name);
    const char *target = in->webhook ? in->webhook : in->name;
    if (!config_webhook(c, target) && in->webhook)
        diag(ld, "[inbound.%s] webhook names '%s', which is not a [webhook.NAME]", in->name,
             in->webhook);
}

void check_whole(struct loader *ld)
{
    struct config *c = ld->cfg;
    ld->line = 0;
    if (c->nforms == 0)
        diag(ld, "no [form.ID] section: leadd has nothing to accept");
    if (c->backend == BACKEND_POSTGRES && !c->db_url)
        diag(ld,
             "[storage] backend = postgres needs url (a libpq URI, e.g. "
             "postgresql://leadd@db.internal/leadd; env:NAME keeps a password out of the file)");
    for (size_t i = 0; c->backend == BACKEND_POSTGRES && i < 2; i++) {
        if (!(ld->line = ld->sqlite_only_line[i]))
            continue;
        note(ld,
             "[storage] %s does nothing with backend = postgres: it is SQLite's (PostgreSQL's "
             "durability is the server's own: fsync, synchronous_commit)",
             SQLITE_ONLY[i]);
    }
    ld->line = 0;
    for (size_t i = 0; i < c->nforms; i++) {
        struct form *f = &c->forms[i];
        if (f->nfields == 0)
            diag(ld, "[form.%s] declares no field.NAME", f->id);
        if (f->grade_warm > f->grade_hot)
            diag(ld, "[form.%s] grade.warm is above grade.hot", f->id);
        if (f->honeypot && form_field(f, f->honeypot) >= 0)
            diag(ld, "[form.%s] honeypot '%s' is also a declared field", f->id, f->honeypot);
        check_trust(ld, f);
        check_look(ld, f);
        for (size_t a = 0; a < f->nassign; a++) {
            const struct assign_rule *ar = &f->assign[a];
            ld->line = ar->line;
            for (size_t u = 0; u < ar->nusers; u++) {
                bool known = false;
                for (size_t k = 0; k < c->nusers; k++)
                    known |= !strcmp(c->users[k].name, ar->users[u]);
                if (!known)
                    diag(ld, "assign.%s: '%s' is not a user of [auth]", ar->name, ar->users[u]);
            }
            for (size_t k = 0; k < ar->cond.n; k++) {
                char why[600];
                if (!condition_field_known(f, ar->cond.v[k].field))
                    diag(ld,
                         "assign.%s: '%s' is not a field of [form.%s], an attribution name, "
                         "score, grade, form or status",
                         ar->name, ar->cond.v[k].field, f->id);
                else if (condition_values_check(f, &ar->cond.v[k], why, sizeof(why)))
                    diag(ld, "assign.%s: %s", ar->name, why);
            }
            ld->line = 0;
        }
        for (size_t r = 0; r < f->nrules; r++) {
            char err[256];
            if (score_rule_check(f, &f->rules[r], err, sizeof(err))) {
                ld->line = f->rules[r].line;
                diag(ld, "%s", err);
                ld->line = 0;
            }
        }
    }
    for (size_t i = 0; i < c->ninbounds; i++)
        check_inbound(ld, &c->inbounds[i]);
    for (size_t i = 0; i < c->nwebhooks; i++) {
        struct webhook *w = &c->webhooks[i];
        check_webhook(ld, w);
        if (!w->nschedule)
            diag(ld, "[webhook.%s] retry_schedule is empty", w->name);
        for (size_t f = 0; f < w->forms.n; f++) {
            if (!config_form(c, w->forms.v[f], strlen(w->forms.v[f])))
                diag(ld, "[webhook.%s] forms names '%s', which is not a [form.ID]", w->name,
                     w->forms.v[f]);
        }
    }
}
