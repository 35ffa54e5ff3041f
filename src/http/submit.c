/* submit.c: POST /v1/forms/{form}/submissions. Checks that need no body
 * (method, form, origin, rate, type, size) answer before the body is read;
 * then the body is parsed, validated and scored, and the request waits
 * (suspended, holding no thread) for the writer to commit it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/crypto.h"
#include "leadd/forward.h"
#include "leadd/jsonw.h"
#include "leadd/record.h"
#include "leadd/log.h"
#include "leadd/score.h"
#include "leadd/strutil.h"

/* The q of a media type in an Accept header (wildcards count), 0 if absent. */
static double accept_q(const char *accept, const char *type)
{
    double best = 0;
    int best_spec = -1;
    const char *slash = strchr(type, '/');
    for (const char *p = accept; p && *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t tn = strcspn(p, ";,");
        const char *t = p;
        str_trim(&t, &tn);
        int spec = -1;
        if (tn == 3 && !strncmp(t, "*/*", 3))
            spec = 0;
        else if (tn == (size_t)(slash - type) + 2 && !strncasecmp(t, type, tn - 1) &&
                 t[tn - 1] == '*')
            spec = 1;
        else if (str_ieqn(type, t, tn))
            spec = 2;
        if (spec > best_spec) {
            double q = 1;
            const char *qp = memmem(p, n, ";q=", 3);
            if (!qp)
                qp = memmem(p, n, "; q=", 4) ? (const char *)memmem(p, n, "; q=", 4) + 1 : NULL;
            if (qp)
                q = strtod(qp + 3, NULL);
            best = q;
            best_spec = spec;
        }
        p += n;
    }
    return best;
}

/* The form of the path and the request's Origin: false, answered, when the
 * form is unknown or the origin refused. */
static bool form_and_origin(struct req *r, enum MHD_Result *ret)
{
    if (!(r->form = config_form(r->cfg, r->param, strlen(r->param)))) {
        *ret = visitor_problem(r, 404, "unknown-form", "Unknown form", "no form has this id");
        return false;
    }
    const char *origin = header_in(r, "Origin");
    if (origin) {
        /* This server's own pages (the demo page, wherever it listens) are
         * always allowed; other sites only when listed. */
        if (!form_origin_allowed(r->form, origin, strlen(origin)) && !origin_is_own(r)) {
            log_info("form %s: refused a submission from %.200s (not in allowed_origins)",
                     r->form->id, origin);
            *ret = visitor_problem(r, 403, "origin-not-allowed", "Origin not allowed",
                                   "this form does not accept submissions from that origin");
            return false;
        }
        snprintf(r->origin, sizeof(r->origin), "%s", origin);
    }
    return true;
}

enum MHD_Result submit_preflight(struct req *r)
{
    enum MHD_Result ret;
    if (!form_and_origin(r, &ret))
        return ret;
    req_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
    req_header(r, "Access-Control-Allow-Headers", "Content-Type, Idempotency-Key");
    req_header(r, "Access-Control-Max-Age", HTTP_PREFLIGHT_MAX_AGE);
    return respond(r, 204, NULL, NULL, 0);
}

enum MHD_Result submit_begin(struct req *r)
{
    const struct config *cfg = r->cfg;
    enum MHD_Result ret;
    if (!(r->in = calloc(1, sizeof(*r->in))))
        return MHD_NO;
    /* A browser's plain form post is answered with pages, errors included:
     * known before anything can be refused. */
    const char *accept = header_in(r, "Accept");
    r->in->kind = body_kind_of(header_in(r, "Content-Type"), r->in->boundary);
    r->html = r->in->kind != BODY_JSON && accept &&
              accept_q(accept, "text/html") > accept_q(accept, "application/json");
    if (!form_and_origin(r, &ret))
        return ret;

    client_ip(r, r->ip);
    long long retry;
    if (r->form->rate_limit &&
        !rate_take(r, r->form->id, r->form->rate_limit, r->form->rate_window_s, &retry)) {
        req_header(r, "Retry-After", "%lld", retry);
        return visitor_problem(r, 429, "rate-limited", "Too many submissions",
                               "too many submissions from this address; try again later");
    }
    if (r->in->kind == BODY_UNSUPPORTED)
        return visitor_problem(r, 415, "unsupported-media-type", "Unsupported media type",
                               "send application/json, application/x-www-form-urlencoded or "
                               "multipart/form-data");

    const char *cl = header_in(r, "Content-Length");
    long long len;
    if (cl && parse_ll(cl, strlen(cl), &len) && len > cfg->max_body_bytes)
        return visitor_problem(r, 413, "body-too-large", "Body too large", NULL);
    const char *key = header_in(r, "Idempotency-Key");
    if (key) {
        size_t kl = strlen(key);
        bool ok = kl > 0 && kl <= HTTP_MAX_IDEM_KEY;
        for (size_t i = 0; ok && i < kl; i++)
            ok = key[i] > ' ' && key[i] < 0x7f;
        if (!ok)
            return visitor_problem(r, 400, "bad-idempotency-key", "Bad Idempotency-Key",
                                   "use 1 to 255 visible ASCII characters");
        if (!(r->in->idem_key = strdup(key)))
            return MHD_NO;
    }
    req_body_start(r, (size_t)cfg->max_body_bytes);
    return MHD_YES;
}

/* Called on the writer thread once the lead is committed (or not). */
static void on_stored(struct store_job *job, void *arg)
{
    struct req *r = arg;
    (void)job;
    atomic_store(&r->in->job_done, true);
    MHD_resume_connection(r->conn);
}

static enum MHD_Result add_query_attr(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *val)
{
    struct submission *s = cls;
    (void)kind;
    /* The page URL's query string may carry attribution; the body wins. */
    if (key && val && lead_attr_index(key) >= 0 &&
        submission_add(s, key, strlen(key), val, strlen(val), IN_STR))
        return MHD_NO;
    return MHD_YES;
}

static const char *control(const struct submission *s, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < s->n; i++) {
        if (!strcmp(s->in[i].name, name) && s->in[i].kind == IN_STR)
            v = s->in[i].val;
    }
    return v;
}

/* Where a plain HTML form goes after success: _next when its origin is
 * allowed (or it is a path on this site), else the form's redirect. */
static const char *redirect_target(struct req *r)
{
    const char *next = r->in->next_url;
    if (next && utf8_valid(next, strlen(next)) && !strpbrk(next, "\r\n\t ")) {
        if (next[0] == '/' && next[1] != '/' && next[1] != '\\')
            return next;
        const char *p = !strncmp(next, "http://", 7)    ? next + 7
                        : !strncmp(next, "https://", 8) ? next + 8
                                                        : NULL;
        if (p) {
            size_t olen = (size_t)(p - next) + strcspn(p, "/?#");
            char origin[256];
            if (olen < sizeof(origin)) {
                memcpy(origin, next, olen);
                origin[olen] = '\0';
                str_lower(origin);
                if (form_origin_allowed(r->form, origin, olen))
                    return next;
            }
        }
    }
    return r->form->redirect ? r->form->redirect : "/thanks";
}

static enum MHD_Result success(struct req *r, int status)
{
    if (status == 303) {
        req_header(r, "Location", "%s", redirect_target(r));
        return respond(r, 303, NULL, NULL, 0);
    }
    /* next: where a visitor's browser goes now, as a plain post's 303
     * would (the form's script follows it) */
    struct buf b = BUF_INIT(8192);
    buf_addf(&b, "{\"id\":\"%s\",\"next\":", r->lead_id);
    jw_str(&b, redirect_target(r));
    buf_addc(&b, '}');
    req_header(r, "Location", "/v1/leads/%s", r->lead_id);
    return respond_buf(r, 201, "application/json", &b);
}

static enum MHD_Result answer_stored(struct req *r)
{
    struct store_lead_job *j = &r->in->job;
    switch (j->job.rc) {
    case 0:
        snprintf(r->lead_id, sizeof(r->lead_id), "%s", j->id);
        if (!j->replayed) {
            atomic_fetch_add(&r->h->accepted, 1);
            for (unsigned i = 0; i < LEAD_FLAG_COUNT; i++) {
                if (j->flags & (1u << i))
                    atomic_fetch_add(&r->h->flags[i], 1);
            }
            char data[160];
            snprintf(data, sizeof(data), "{\"id\":\"%s\",\"form\":\"%s\",\"spam\":%s}", j->id,
                     r->form->id, (j->flags & LEAD_FLAGS_SPAM) ? "true" : "false");
            events_publish(r->h->events, "lead.created", j->id, data);
        }
        return success(r, j->replayed ? j->replay_status : j->in.status);
    case LEADD_ECONFLICT:
        return visitor_problem(r, 409, "idempotency-key-reused", "Idempotency-Key reused",
                               "this key was used with a different body in the last 24 hours");
    default:
        req_header(r, "Retry-After", "5");
        return visitor_problem(r, 503, "storage-unavailable", "Storage unavailable",
                               "the lead was not stored; try again shortly");
    }
}

/* The fingerprint that a replay must match: type and body, byte for byte. */
static int fingerprint(struct req *r, unsigned char out[SHA256_LEN])
{
    const char *ct = header_in(r, "Content-Type");
    const void *parts[] = {ct ? ct : "", "\n", buf_str(&r->body)};
    size_t lens[] = {ct ? strlen(ct) : 0, 1, r->body.len};
    return crypto_sha256(parts, lens, 3, out);
}

static int prepare_job(struct req *r)
{
    struct lead *l = &r->in->lead;
    struct store_lead *in = &r->in->job.in;
    const struct form *f = r->form;
    lead_record_init(&r->in->rec);
    /* Double opt-in: the lead waits for its link, unqualified and unsent. */
    if (f->double_opt_in)
        l->status = lead_status_names[LEAD_STATUS_UNCONFIRMED];
    /* Intake, in order: the lead is scored, stored as scored, and planned
     * for forwarding by its qualification. */
    int rc = score_lead(l);
    rc = rc ? rc : lead_record_fill(&r->in->rec, l, in);
    if (rc)
        return rc;
    in->idem_key = r->in->idem_key;
    in->status = r->html ? 303 : 201;
    if (!lead_held(l))
        in->owner = assign_owner(f, l, shared_turn, r->h->st); /* stored with the lead */
    if (f->double_opt_in) {
        in->lifecycle = l->status;
        in->confirm_mail.webhook = f->confirm_mail;
        in->confirm_mail.event = forward_event_names[FORWARD_LEAD_CONFIRM];
        in->confirm_within_ms = f->confirm_within_hours * 3600 * 1000;
        in->confirm_token = r->in->confirm_token;
        if ((rc = crypto_token(r->in->confirm_token)) ||
            (rc = crypto_token_hash(r->in->confirm_token, in->confirm_hash)))
            return rc;
    }
    forward_plan(r->cfg, l, r->in->deliveries, &in->ndeliveries);
    in->deliveries = r->in->deliveries;
    if (r->in->idem_key && (rc = fingerprint(r, in->body_hash)))
        return rc;
    r->in->job.job.op = STORE_OP_LEAD;
    r->in->job.job.done = on_stored;
    r->in->job.job.arg = r;
    return 0;
}

/* Hands the lead to the writer, the request suspended until it commits. */
static enum MHD_Result store_lead(struct req *r)
{
    if (prepare_job(r)) {
        req_header(r, "Retry-After", "1");
        return visitor_problem(r, 503, "unavailable", "Service unavailable", NULL);
    }
    /* Suspend before handing over: the writer may finish before we return. */
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    int rc = store_submit(r->h->st, &r->in->job.job);
    if (rc) {
        r->in->job.job.rc = rc;
        atomic_store(&r->in->job_done, true);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

/* The 422 of a captcha that is missing or was refused: nothing stored, and
 * the page resets its widget. */
static enum MHD_Result captcha_refused(struct req *r, enum field_code code, const char *why)
{
    struct lead_errors *e = calloc(1, sizeof(*e));
    if (!e) {
        req_header(r, "Retry-After", "1");
        return visitor_problem(r, 503, "unavailable", "Service unavailable", NULL);
    }
    lead_error_add(e, "captcha", code, why);
    enum MHD_Result ret = r->html ? page_errors(r, e) : problem_fields(r, e);
    free(e);
    return ret;
}

/* Called on the captcha thread with the provider's verdict. */
static void on_checked(struct captcha_check *c, void *arg)
{
    struct req *r = arg;
    (void)c;
    atomic_store(&r->in->check_done, true);
    MHD_resume_connection(r->conn);
}

/* Asks the form's captcha provider about the token, the request suspended
 * meanwhile (holding no worker). */
static enum MHD_Result start_check(struct req *r)
{
    unsigned char fp[SHA256_LEN];
    /* A replay (the same key and body, stored already) is answered as the
     * first was: its token, used then, is not asked about again. */
    if (r->in->idem_key && !fingerprint(r, fp) &&
        store_idem_known(r->h->st, r->form->id, r->in->idem_key, fp))
        return store_lead(r);
    size_t len;
    const char *token = captcha_token(&r->in->sub, r->form->captcha, &len);
    if (!token)
        return captcha_refused(r, FIELD_REQUIRED, "solve the captcha");
    if (len > CAPTCHA_MAX_TOKEN)
        return captcha_refused(r, FIELD_INVALID, "the captcha's token is not one");
    struct captcha_check *c = &r->in->check;
    *c = (struct captcha_check){.form = r->form,
                                .token = token,
                                .token_len = len,
                                .remoteip = r->ip,
                                .done = on_checked,
                                .arg = r};
    if (r->in->idem_key) {
        /* A retry of this submission asks Turnstile again with the same
         * key, and gets the first verdict rather than "already used". */
        unsigned char h[SHA256_LEN];
        const void *parts[] = {r->form->id, "\n", r->in->idem_key};
        size_t lens[] = {strlen(r->form->id), 1, strlen(r->in->idem_key)};
        if (!crypto_sha256(parts, lens, 3, h)) {
            char x[33];
            crypto_hex(h, 16, x);
            snprintf(r->in->check_key, sizeof(r->in->check_key), "%.8s-%.4s-4%.3s-8%.3s-%.12s", x,
                     x + 8, x + 13, x + 17, x + 20);
            c->idempotency_key = r->in->check_key;
        }
    }
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    r->in->checking = true;
    if (captcha_verify(r->h->captcha, c)) {
        c->result = CAPTCHA_UNAVAILABLE;
        snprintf(c->why, sizeof(c->why), "too many captcha checks waiting");
        atomic_store(&r->in->check_done, true);
        MHD_resume_connection(r->conn);
    }
    return MHD_YES;
}

/* The captcha's verdict: refused (422), or the provider unavailable (503 or
 * stored with the flag, as the form says), else on to the writer. */
static enum MHD_Result checked(struct req *r)
{
    r->in->checking = false;
    atomic_fetch_add(&r->h->checks[r->in->check.result], 1);
    switch (r->in->check.result) {
    case CAPTCHA_REFUSED:
        log_info("form %s: captcha refused (%s)", r->form->id, r->in->check.why);
        return captcha_refused(r, FIELD_INVALID, r->in->check.why);
    case CAPTCHA_UNAVAILABLE:
        if (r->form->captcha_unavailable) {
            req_header(r, "Retry-After", "10");
            return visitor_problem(
                r, 503, "captcha-unavailable", "Captcha unavailable",
                "the captcha could not be verified just now; nothing was stored, try"
                " again shortly");
        }
        /* Never lose a lead to a third party's outage: a person decides. */
        r->in->lead.flags |= LEAD_FLAG_CAPTCHA_UNVERIFIED;
        break;
    case CAPTCHA_PASSED:
    case CAPTCHA_RESULT_COUNT: break;
    }
    return store_lead(r);
}

enum MHD_Result submit_resume(struct req *r)
{
    if (r->in->checking)
        return atomic_load(&r->in->check_done) ? checked(r) : MHD_YES;
    if (!atomic_load(&r->in->job_done))
        return MHD_YES; /* a spurious wake-up: keep waiting */
    return answer_stored(r);
}

enum MHD_Result submit_answer(struct req *r)
{
    char err[256];
    int rc;
    struct submission *s = &r->in->sub;
    if (MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_query_attr, s) < 0)
        return MHD_NO;
    const char *body = buf_str(&r->body);
    switch (r->in->kind) {
    case BODY_JSON: rc = body_parse_json(body, r->body.len, s, err, sizeof(err)); break;
    case BODY_URLENCODED: rc = body_parse_urlencoded(body, r->body.len, s, err, sizeof(err)); break;
    default:
        rc = body_parse_multipart(body, r->body.len, r->in->boundary, s, err, sizeof(err));
        break;
    }
    if (rc == LEADD_EINVAL)
        return visitor_problem(r, 400, "malformed-body", "Malformed body", err);
    if (rc)
        goto unavailable;
    const char *ua = header_in(r, "User-Agent"), *ref = header_in(r, "Referer");
    if ((ua && !(s->user_agent = strdup(ua))) || (ref && !(s->referer = strdup(ref))))
        goto unavailable;
    memcpy(s->ip, r->ip, sizeof(s->ip));
    const char *next = control(s, "_next");
    if (next && !(r->in->next_url = strdup(next)))
        goto unavailable;

    struct lead_errors *errs = malloc(sizeof(*errs));
    if (!errs)
        goto unavailable;
    rc = lead_build(&r->in->lead, r->form, s, &r->cfg->disposable_default, errs);
    size_t tlen;
    if (rc == LEADD_EINVAL && r->form->captcha != CAPTCHA_OFF &&
        !captcha_token(s, r->form->captcha, &tlen))
        lead_error_add(errs, "captcha", FIELD_REQUIRED, "solve the captcha"); /* all at once */
    if (rc == LEADD_EINVAL) {
        enum MHD_Result ret = r->html ? page_errors(r, errs) : problem_fields(r, errs);
        free(errs);
        return ret;
    }
    free(errs);
    if (rc)
        goto unavailable;
    return r->form->captcha != CAPTCHA_OFF ? start_check(r) : store_lead(r);
unavailable:
    req_header(r, "Retry-After", "1");
    return visitor_problem(r, 503, "unavailable", "Service unavailable", NULL);
}

void submit_release(struct req *r)
{
    buf_release(&r->body);
    if (!r->in)
        return;
    submission_release(&r->in->sub);
    lead_release(&r->in->lead);
    lead_record_release(&r->in->rec);
    free(r->in->idem_key);
    free(r->in->next_url);
    free(r->in);
    r->in = NULL;
}
