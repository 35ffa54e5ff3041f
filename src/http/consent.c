/* consent.c: the double opt-in link (/v1/confirm/{token}: a page, whose
 * button confirms), the
 * unsubscribe link, and the consent record in the API (a lead's records,
 * an address's records, withdrawal). The visitor's links answer pages;
 * the API answers JSON. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"
#include "leadd/rescore.h"
#include "leadd/score.h"
#include "leadd/strutil.h"

/* A page for the person who followed a mail's link: never cached, and its
 * token never sent on as a referrer. */
static enum MHD_Result page(struct req *r, int status, const char *heading, const char *text,
                            const char *button)
{
    req_header(r, "Cache-Control", "no-store");
    req_header(r, "Referrer-Policy", "no-referrer");
    return page_message(r, status, heading, text, button);
}

#define CONSENT_MAX_UA 512 /* characters of a user agent a record keeps, as a lead's */

/* The visitor as a consent record keeps them: the address (into r->ip) and
 * the user agent, clipped into ua (NULL when none was sent). */
static const char *visitor(struct req *r, char ua[CONSENT_MAX_UA + 1])
{
    const char *h = header_in(r, "User-Agent");
    client_ip(r, r->ip);
    if (!h)
        return NULL;
    snprintf(ua, CONSENT_MAX_UA + 1, "%s", h);
    return ua;
}

/* The token of the path, hashed; false when it cannot be one of ours. */
static bool token_of(struct req *r, unsigned char hash[SHA256_LEN])
{
    size_t n = strlen(r->param);
    if (n != CRYPTO_TOKEN_LEN - 2 ||
        strspn(r->param, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != n)
        return false;
    return crypto_token_hash(r->param, hash) == 0;
}

enum MHD_Result link_unknown(struct req *r)
{
    return page(r, 404, "This link is not valid",
                "It may be mistyped, or the sign-up it belonged to was deleted. Nothing was "
                "changed.",
                NULL);
}

bool link_path(const char *path)
{
    return !strncmp(path, "/v1/confirm/", 12) || !strncmp(path, "/v1/unsubscribe/", 16);
}

/* A link followed before (409) or too late (410). */
static enum MHD_Result link_spent(struct req *r, enum confirm_state state)
{
    if (state == CONFIRM_USED)
        return page(r, 409, "This link was already used",
                    "Your confirmation was recorded the first time you opened it: there is "
                    "nothing more to do.",
                    NULL);
    return page(r, 410, "This link has expired",
                "It was not opened in time, so the sign-up was deleted. Please sign up again on "
                "the site to get a new link.",
                NULL);
}

/* The confirmed lead as intake would score it now, and what it is owed. */
struct confirming {
    const struct config *cfg;
    struct store *st; /* its turns, where nodes share them */
    struct store_confirm_job *job;
    struct store_delivery plan[CONFIG_MAX_WEBHOOKS];
    struct buf reasons;
    char owner[AUTH_MAX_NAME];
};

static int score_confirmed(const struct stored_lead *sl, void *arg)
{
    struct confirming *c = arg;
    struct stored_lead now = *sl;
    struct lead l;
    now.status = lead_status_names[LEAD_STATUS_NEW];
    now.flags &= ~LEAD_FLAG_CAPTCHA_UNVERIFIED; /* a person answered the mail */
    int rc = rescore_rebuild(c->cfg, &now, &l);
    if (rc == LEADD_EINVAL || rc == LEADD_ENOTFOUND) {
        /* its form changed since: confirmed, kept unqualified, a person decides */
        log_warn("lead %s confirmed, but no longer fits its form: not scored", sl->id);
        buf_adds(&c->reasons, "[]");
        return buf_error(&c->reasons);
    }
    if (rc)
        return rc;
    c->job->score = l.score;
    c->job->grade = l.grade;
    c->job->qualified = l.qualified && !sl->duplicate;
    rc = lead_reasons_json(&l, &c->reasons);
    if (!sl->duplicate && !lead_held(&l)) {
        const char *owner = assign_owner(l.form, &l, shared_turn, c->st);
        if (owner) {
            snprintf(c->owner, sizeof(c->owner), "%s", owner);
            c->job->owner = c->owner;
        }
        /* as a lead arriving now: every target it is for, "all" ones included */
        forward_plan(c->cfg, &l, c->plan, &c->job->ndeliveries);
        c->job->deliveries = c->plan;
    }
    lead_release(&l);
    return rc;
}

/* The link's token, looked up: 0 and ci when it is open, else the answer
 * (*done) a person reads. */
static int confirm_open(struct req *r, unsigned char hash[SHA256_LEN], struct confirm_info *ci,
                        enum MHD_Result *done)
{
    int rc = token_of(r, hash) ? store_confirm_peek(r->h->st, hash, now_ms(), ci) : LEADD_ENOTFOUND;
    if (rc == LEADD_ENOTFOUND)
        *done = link_unknown(r);
    else if (rc)
        *done = unavailable(r, rc);
    else if (ci->state != CONFIRM_OPEN)
        *done = link_spent(r, ci->state);
    return rc ? rc : ci->state != CONFIRM_OPEN;
}

/* GET (and HEAD) /v1/confirm/{token}: a page whose button confirms. Opening
 * the link changes nothing: mail scanners fetch every link they see. */
enum MHD_Result confirm_page(struct req *r)
{
    unsigned char hash[SHA256_LEN];
    struct confirm_info ci;
    enum MHD_Result done;
    if (confirm_open(r, hash, &ci, &done))
        return done;
    return page(r, 200, "Confirm your sign-up",
                "Please confirm that you signed up and want to hear from us.",
                "Confirm my sign-up");
}

/* POST /v1/confirm/{token}: the page's button. */
enum MHD_Result confirm_link(struct req *r)
{
    unsigned char hash[SHA256_LEN];
    struct confirm_info ci;
    enum MHD_Result done;
    int rc;
    if (confirm_open(r, hash, &ci, &done))
        return done;
    char ua[CONSENT_MAX_UA + 1];
    struct store_confirm_job job = {
        .job.op = STORE_OP_CONFIRM, .user_agent = visitor(r, ua), .ip = r->ip, .grade = "cold"};
    memcpy(job.token_hash, hash, SHA256_LEN);
    struct confirming c = {
        .cfg = r->cfg, .st = r->h->st, .job = &job, .reasons = BUF_INIT(1 << 20)};
    rc = store_stored_lead(r->h->st, ci.lead_id, score_confirmed, &c);
    if (!rc) {
        job.score_reasons = buf_str(&c.reasons);
        rc = store_run(r->h->st, &job.job);
    }
    buf_release(&c.reasons);
    if (rc == LEADD_ENOTFOUND)
        return link_unknown(r);
    if (rc == LEADD_ECONFLICT || rc == LEADD_ETOOBIG) /* a second click at the same moment */
        return link_spent(r, rc == LEADD_ECONFLICT ? CONFIRM_USED : CONFIRM_EXPIRED);
    if (rc)
        return unavailable(r, rc);
    log_info("lead %s confirmed its double opt-in", ci.lead_id);
    snprintf(r->lead_id, sizeof(r->lead_id), "%s", ci.lead_id);
    lead_updated(r, ci.lead_id, false);
    const struct form *f = config_form(r->cfg, ci.form, strlen(ci.form));
    req_header(r, "Location", "%s", f && f->confirm_redirect ? f->confirm_redirect : "/confirmed");
    req_header(r, "Cache-Control", "no-store");
    return respond(r, 303, NULL, NULL, 0);
}

enum MHD_Result page_confirmed(struct req *r)
{
    return page(r, 200, "Thank you for confirming",
                "Your sign-up is confirmed. You can withdraw your consent at any time with the "
                "link in the mail.",
                NULL);
}

enum MHD_Result unsubscribe_page(struct req *r)
{
    unsigned char hash[SHA256_LEN];
    struct confirm_info ci;
    if (!token_of(r, hash) || store_confirm_peek(r->h->st, hash, now_ms(), &ci))
        return link_unknown(r);
    return page(r, 200, "Withdraw your consent?",
                "You will not be contacted about this sign-up again.", "Withdraw my consent");
}

/* Withdraws a lead's consent, by id or by its link's token. */
static int withdraw(struct req *r, struct store_withdraw_job *j)
{
    char ua[CONSENT_MAX_UA + 1];
    j->job.op = STORE_OP_WITHDRAW;
    j->user_agent = visitor(r, ua);
    j->ip = r->ip;
    int rc = store_run(r->h->st, &j->job);
    if (!rc) {
        log_info("lead %s: consent withdrawn by %s", j->found_id, j->actor);
        lead_updated(r, j->found_id, false);
    }
    return rc;
}

/* POST /v1/unsubscribe/{token}: the page's button, or a mail client's
 * one-click unsubscribe (RFC 8058). */
enum MHD_Result unsubscribe_link(struct req *r)
{
    struct store_withdraw_job j = {.by_token = true, .actor = "unsubscribe link"};
    if (!token_of(r, j.token_hash))
        return link_unknown(r);
    int rc = withdraw(r, &j);
    if (rc == LEADD_ENOTFOUND)
        return link_unknown(r);
    if (rc)
        return unavailable(r, rc);
    return page(r, 200, "Your consent is withdrawn",
                "You will not be contacted about this sign-up again.", NULL);
}

/* One record as the API shows it. */
static int record_json(void *arg, const struct store_consent_row *c)
{
    const struct jw_str_member m[] = {
        {"lead_id", c->lead_id}, {"kind", c->kind},   {"form", c->form},
        {"field", c->field},     {"text", c->text},   {"text_hash", c->text_hash},
        {"at", c->at},           {"ip", c->ip},       {"user_agent", c->user_agent},
        {"page", c->page},       {"actor", c->actor}, {"email_hash", c->email_hash}};
    struct buf *b = list_next(arg);
    buf_addc(b, '{');
    jw_strs(b, m, LEADD_ARRAY_LEN(m), true);
    return buf_addc(b, '}');
}

/* The records of a lead (its id) or of an address, as {"data":[...]}. */
static enum MHD_Result consents(struct req *r, const char *lead_id, const char *email)
{
    struct buf b = BUF_INIT(16u << 20);
    struct list records = {&b, 0};
    buf_adds(&b, "{\"data\":[");
    int rc = store_list_consents(r->h->st, lead_id, email, record_json, &records);
    buf_adds(&b, "]}");
    rc = rc ? rc : buf_error(&b);
    if (rc)
        buf_release(&b);
    if (rc == LEADD_ENOTFOUND)
        return lead_not_found(r);
    return rc ? unavailable(r, rc) : respond_buf(r, 200, "application/json", &b);
}

enum MHD_Result api_consents(struct req *r)
{
    return ulid_valid(r->param) ? consents(r, r->param, NULL) : lead_not_found(r);
}

enum MHD_Result api_withdraw(struct req *r)
{
    if (!ulid_valid(r->param))
        return lead_not_found(r);
    struct store_withdraw_job j = {.lead_id = r->param, .actor = r->who};
    int rc = withdraw(r, &j);
    if (rc == LEADD_ENOTFOUND)
        return lead_not_found(r);
    if (rc)
        return unavailable(r, rc);
    return api_consents(r);
}

/* GET /v1/consents?email=: every record of an address, the erased leads'
 * found through the salted hash kept of it (a dispute, after erasure). */
enum MHD_Result api_consents_by_email(struct req *r)
{
    const char *email = query_arg(r, "email");
    char low[LEAD_MAX_EMAIL_LEN + 1];
    if (!email || !*email || strlen(email) > LEAD_MAX_EMAIL_LEN || !strchr(email, '@')) {
        struct lead_errors e = {0};
        lead_error_add(&e, "email", email ? FIELD_INVALID : FIELD_REQUIRED,
                       "give the address as ?email=");
        return problem_fields(r, &e);
    }
    snprintf(low, sizeof(low), "%s", email);
    str_lower(low); /* leadd stores addresses in lowercase */
    return consents(r, NULL, low);
}
