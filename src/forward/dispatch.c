/* dispatch.c: the forwarder's thread. It claims due deliveries per target
 * (each with its own cap in flight and its own rate limit), builds each body
 * in the target's format (leadd's signed envelope, a preset, a template, or a
 * mail), sends them through one libcurl multi handle, and records the
 * outcomes of every round as one writer job (they share its commits). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "leadd/forward.h"
#include "leadd/jsonr.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"
#include "leadd/template.h"

#define IDLE_POLL_MS 1000   /* longest sleep: also how soon a retry falls due */
#define DB_BACKOFF_MS 1000  /* after the outbox could not be read */
#define MAX_BODY (4u << 20) /* a webhook body; a lead is far smaller */
#define MAX_OUTCOMES 256    /* outcomes in one writer job */

struct transfer {
    struct forward *f;
    const struct webhook *w;
    size_t widx;
    CURL *easy;
    struct curl_slist *headers, *rcpt;
    struct outbox_item item;
    struct buf body;
    size_t sent;         /* of body, for a mail's upload */
    struct buf response; /* the answer's first bytes: 1 KB, 64 KB with response_id */
    uint64_t t0_us, at_ms;
    char *url; /* an update's: update_url with the record's id (NULL: the target's url) */
};

/* An outcome waiting for the round's commit, with the memory it points to. */
struct outcome_rec {
    char error[160];
    char response[FORWARD_MAX_RESPONSE + 1];
    char lead_id[ULID_LEN + 1];
    char crm_id[128];
    char webhook_id[40];
    size_t widx;
    int attempts;
};

/* A round's outcomes, handed to the writer as one job; the forwarder gets
 * it back (done list) once committed, and only then lets go of its
 * deliveries, so a delivery is never claimed again before its outcome is
 * stored. */
struct outcome_batch {
    struct store_outcome_job job;
    struct forward *f;
    struct outcome_batch *next;
    size_t n;
    struct outbox_attempt a[MAX_OUTCOMES];
    struct outcome_rec rec[MAX_OUTCOMES];
};

struct forward {
    const struct config *cfg; /* config_ref_cfg(ref): what the dispatcher runs by */
    struct config_ref *ref;
    struct config_ref *next; /* a reload's, under mu: taken once nothing is in flight */
    struct store *st;
    CURLM *multi;
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    /* each webhook's deliveries claimed and not yet stored as attempted */
    long long held[CONFIG_MAX_WEBHOOKS][FORWARD_MAX_INFLIGHT];
    size_t nheld[CONFIG_MAX_WEBHOOKS];
    struct forward_window rate[CONFIG_MAX_WEBHOOKS];
    _Atomic uint64_t dead[CONFIG_MAX_WEBHOOKS]; /* deliveries that died, since start */
    uint64_t backoff_until;
    struct outcome_batch *batch; /* this round's outcomes */
    pthread_mutex_t mu;          /* guards done and outstanding */
    pthread_cond_t cv;
    struct outcome_batch *done; /* committed (or failed), back from the writer */
    size_t outstanding;         /* batches with the writer */
};

int forward_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : LEADD_ENOMEM;
}

void forward_global_cleanup(void)
{
    curl_global_cleanup();
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    /* Keep the first bytes, to read the CRM's id and for the record; read
     * and drop the rest. */
    size_t take = t->response.max - t->response.len;
    buf_add(&t->response, p, take < n ? take : n);
    return n;
}

/* A mail's upload: the message in t->body. */
static size_t on_read(char *out, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = t->body.len - t->sent;
    if (n > size * nmemb)
        n = size * nmemb;
    memcpy(out, t->body.ptr + t->sent, n);
    t->sent += n;
    return n;
}

static void transfer_free(struct transfer *t)
{
    if (!t)
        return;
    if (t->easy) {
        curl_multi_remove_handle(t->f->multi, t->easy);
        curl_easy_cleanup(t->easy);
    }
    buf_release(&t->response);
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->rcpt);
    free(t->item.lead_json);
    buf_release(&t->body);
    free(t->url);
    free(t);
}

static double jitter(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)mono_us();
    return (double)r / 4294967296.0;
}

static const char *var(const struct webhook *w, const char *name)
{
    for (size_t i = 0; i < w->nvars; i++) {
        if (!strcmp(w->vars[i].name, name))
            return w->vars[i].value;
    }
    return NULL;
}

static bool is_update(const struct transfer *t)
{
    return !strcmp(t->item.event, forward_event_names[FORWARD_LEAD_UPDATED]);
}

/* An update's address: update_url with {id} the record the target made
 * (crm_ids.NAME of the lead), escaped for a URL's path. */
static int update_url(struct transfer *t)
{
    const struct webhook *w = t->w;
    char path[300], id[128];
    const char *lead = t->item.lead_json ? t->item.lead_json : "null";
    snprintf(path, sizeof(path), "crm_ids.%s", w->name);
    if (template_json_path(lead, strlen(lead), path, id, sizeof(id)))
        return LEADD_ENOTFOUND; /* no record: retried, then dead */
    char *esc = curl_easy_escape(NULL, id, 0);
    const char *at = strstr(w->update_url, "{id}");
    struct buf u = BUF_INIT(8192);
    if (esc && at) {
        buf_add(&u, w->update_url, (size_t)(at - w->update_url));
        buf_adds(&u, esc);
        buf_adds(&u, at + 4);
    }
    curl_free(esc);
    if (!esc || !at || buf_error(&u)) {
        buf_release(&u);
        return LEADD_ENOMEM;
    }
    t->url = u.ptr; /* the buffer's text, now t's */
    return 0;
}

/* The body in the target's format: leadd's envelope, or its template (an
 * update's own, update_template or the preset's). */
static int build_body(struct forward *f, struct transfer *t)
{
    const struct webhook *w = t->w;
    const char *lead = t->item.lead_json ? t->item.lead_json : "null";
    if (w->format == WEBHOOK_STANDARD) {
        buf_adds(&t->body, "{\"type\":");
        jw_str(&t->body, t->item.event);
        buf_adds(&t->body, ",\"timestamp\":");
        jw_str(&t->body, t->item.created_at);
        buf_adds(&t->body, ",\"data\":");
        buf_adds(&t->body, lead);
        return buf_addc(&t->body, '}');
    }
    const struct template *tpl = is_update(t) && w->update_tpl ? w->update_tpl : w->tpl;
    char fid[80] = "";
    if (template_json_path(lead, strlen(lead), "form", fid, sizeof(fid)))
        fid[0] = '\0';
    const struct form *form = config_form(f->cfg, fid, strlen(fid));
    char ip[NET_MAX_ADDR] = "";
    if (template_reads_ip(tpl) && store_lead_ip(f->st, t->item.lead_id, ip, sizeof(ip)))
        return LEADD_EDB; /* tried again, as any failed attempt */
    struct template_ctx c = {
        lead,     strlen(lead), f->cfg->public_url ? f->cfg->public_url : "", w->vars,
        w->nvars, ip,           form && form->title ? form->title : fid,      t->item.created_at};
    return template_render(tpl, &c, &t->body);
}

/* A mail header's text: one line, and RFC 2047 encoded when not ASCII. */
static void mail_header(struct buf *b, const char *name, const char *v, size_t n)
{
    bool ascii = true;
    for (size_t i = 0; i < n; i++)
        ascii &= (unsigned char)v[i] < 0x80 && v[i] != '\r' && v[i] != '\n';
    buf_addf(b, "%s: ", name);
    if (ascii) {
        buf_add(b, v, n);
    } else {
        /* Line breaks never reach the header: a subject is one line. */
        char *clean = malloc(n + 1), *enc = malloc(CRYPTO_BASE64_LEN(n));
        size_t k = 0;
        for (size_t i = 0; clean && i < n; i++)
            clean[k++] = v[i] == '\r' || v[i] == '\n' ? ' ' : v[i];
        if (clean && enc) {
            crypto_base64((const unsigned char *)clean, k, enc);
            buf_addf(b, "=?UTF-8?B?%s?=", enc);
        } else {
            b->err = b->err ? b->err : LEADD_ENOMEM;
        }
        free(clean);
        free(enc);
    }
    buf_add(b, "\r\n", 2);
}

/* A double opt-in mail's text: the form's wording and the two links (the
 * token is the delivery's; public_url is required by the config with it). */
static int confirm_text(struct forward *f, struct transfer *t, struct buf *out)
{
    static const struct jr_key key = {"form", 4};
    struct jr_value v;
    struct buf id = BUF_INIT(256);
    const char *lead = t->item.lead_json ? t->item.lead_json : "{}";
    const struct form *form = NULL;
    if (!jr_pick(lead, strlen(lead), &key, 1, &v) && v.kind == 's' && !jr_unescape(&v, &id))
        form = config_form(f->cfg, id.ptr, id.len);
    buf_release(&id);
    if (!form || !form->double_opt_in || !f->cfg->public_url || !t->item.mail_to[0])
        return LEADD_ENOTFOUND;            /* the form changed, or the lead was erased */
    const char *base = f->cfg->public_url; /* without a trailing slash (config.h) */
    buf_addf(out, "Subject: Please confirm: %s\n\n", form->title ? form->title : form->id);
    buf_adds(out, "Hello,\n\nplease confirm that you signed up");
    if (form->consent_text)
        buf_addf(out, " and agreed to this:\n\n  \"%s\"\n\n", form->consent_text);
    else
        buf_adds(out, ".\n\n");
    buf_addf(out,
             "Confirm here:\n%s/v1/confirm/%s\n\nThe link works for %lld hours. If you did not"
             " sign up, ignore this mail: you will hear nothing more, and your address will be"
             " deleted.\n\nTo withdraw your consent at any time:\n%s/v1/unsubscribe/%s\n",
             base, t->item.secret, form->confirm_within_hours, base, t->item.secret);
    return buf_error(out);
}

/* The mail: headers, then the text after its "Subject:" line, with line
 * ends made CRLF (libcurl escapes a leading dot). A lead's mail goes to the
 * target's mail_to, rendered from its template; a double opt-in mail to
 * the lead, with its List-Unsubscribe link (RFC 8058's one click). */
static int build_mail(struct forward *f, struct transfer *t)
{
    const struct webhook *w = t->w;
    struct buf text = BUF_INIT(MAX_BODY);
    bool confirm = t->item.secret[0] != '\0';
    int rc = confirm ? confirm_text(f, t, &text) : build_body(f, t);
    if (rc)
        goto out;
    if (!confirm) {
        buf_add(&text, t->body.ptr, t->body.len);
        buf_reset(&t->body);
    }
    const char *s = buf_str(&text), *subject = "Lead", *body = s;
    size_t sl = strlen(subject);
    if (!strncmp(s, "Subject:", 8)) {
        subject = s + 8 + strspn(s + 8, " ");
        sl = strcspn(subject, "\n");
        body = subject + sl + (subject[sl] == '\n');
        body += *body == '\n'; /* the blank line after it */
    }
    char date[64];
    time_t now = (time_t)(t->at_ms / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    buf_addf(&t->body, "Date: %s\r\nFrom: <%s>\r\nTo: ", date, w->mail_from);
    if (confirm)
        buf_addf(&t->body,
                 "<%s>\r\nList-Unsubscribe: <%s/v1/unsubscribe/%s>\r\n"
                 "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                 t->item.mail_to, f->cfg->public_url, t->item.secret);
    for (size_t i = 0; !confirm && i < w->mail_to.n; i++)
        buf_addf(&t->body, "%s<%s>", i ? ", " : "", w->mail_to.v[i]);
    buf_add(&t->body, "\r\n", 2);
    mail_header(&t->body, "Subject", subject, sl);
    buf_addf(&t->body,
             "Message-ID: <%s@leadd>\r\nMIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\n",
             t->item.webhook_id);
    for (const char *p = body; *p; p++) {
        if (*p == '\n' && (p == body || p[-1] != '\r'))
            buf_addc(&t->body, '\r');
        buf_addc(&t->body, *p);
    }
    rc = buf_error(&t->body);
out:
    buf_release(&text);
    return rc;
}

static int add_header(struct curl_slist **h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_header(struct curl_slist **h, const char *fmt, ...)
{
    struct buf line = BUF_INIT(16384);
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&line, fmt, ap);
    va_end(ap);
    struct curl_slist *n = buf_error(&line) ? NULL : curl_slist_append(*h, line.ptr);
    buf_release(&line);
    if (!n)
        return LEADD_ENOMEM;
    *h = n;
    return 0;
}

/* Builds and starts one request. On failure the delivery is recorded as a
 * failed attempt, so it is retried like any other. */
static int start(struct forward *f, struct transfer *t)
{
    const struct webhook *w = t->w;
    bool email = w->format == WEBHOOK_EMAIL;
    int rc;
    if ((rc = email ? build_mail(f, t) : build_body(f, t)))
        return rc;
    if (is_update(t) && (rc = update_url(t)))
        return rc;
    if (!(t->easy = curl_easy_init()))
        return LEADD_ENOMEM;
    CURL *e = t->easy;
    if (email) {
        const char *user = var(w, "user"), *pass = var(w, "password");
        bool confirm = t->item.secret[0] != '\0';
        for (size_t i = 0; i < (confirm ? 1 : w->mail_to.n); i++) {
            struct curl_slist *n = NULL;
            char to[512];
            snprintf(to, sizeof(to), "<%s>", confirm ? t->item.mail_to : w->mail_to.v[i]);
            if (!(n = curl_slist_append(t->rcpt, to)))
                return LEADD_ENOMEM;
            t->rcpt = n;
        }
        char from[512];
        snprintf(from, sizeof(from), "<%s>", w->mail_from);
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->rcpt);
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, t);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)t->body.len);
        curl_easy_setopt(e, CURLOPT_USE_SSL,
                         (long)(w->smtp_tls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        if (user)
            curl_easy_setopt(e, CURLOPT_USERNAME, user);
        if (pass)
            curl_easy_setopt(e, CURLOPT_PASSWORD, pass);
    } else {
        bool form = w->tpl && template_kind(w->tpl) == TEMPLATE_FORM;
        rc = add_header(&t->headers, "Content-Type: %s",
                        form ? "application/x-www-form-urlencoded" : "application/json");
        rc = rc ? rc : add_header(&t->headers, "User-Agent: leadd/" LEADD_VERSION);
        rc = rc ? rc : add_header(&t->headers, "Expect:");
        if (!rc && w->sign) {
            char sig[FORWARD_SIG_LEN];
            long long ts = (long long)(t->at_ms / 1000);
            rc = webhook_sign(w->secret, w->secret_len, t->item.webhook_id, ts, t->body.ptr,
                              t->body.len, sig);
            rc = rc ? rc : add_header(&t->headers, "webhook-id: %s", t->item.webhook_id);
            rc = rc ? rc : add_header(&t->headers, "webhook-timestamp: %lld", ts);
            rc = rc ? rc : add_header(&t->headers, "webhook-signature: %s", sig);
        }
        for (size_t i = 0; !rc && i < w->nheaders; i++)
            rc = add_header(&t->headers, "%s: %s", w->headers[i].name, w->headers[i].value);
        if (rc)
            return rc;
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        if (is_update(t) && w->update_method != WEBHOOK_POST)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, webhook_method_names[w->update_method]);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.ptr);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body.len);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    }
    curl_easy_setopt(e, CURLOPT_URL, t->url ? t->url : w->url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(w->timeout_ms < 5000 ? w->timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    t->t0_us = mono_us();
    return curl_multi_add_handle(f->multi, e) == CURLM_OK ? 0 : LEADD_ENOMEM;
}

static void release_held(struct forward *f, size_t widx, long long id)
{
    for (size_t i = 0; i < f->nheld[widx]; i++) {
        if (f->held[widx][i] == id) {
            f->held[widx][i] = f->held[widx][--f->nheld[widx]];
            return;
        }
    }
}

/* On the writer thread: hand the batch back and wake the forwarder. */
static void batch_stored(struct store_job *job, void *arg)
{
    struct outcome_batch *b = arg;
    struct forward *f = b->f;
    (void)job;
    pthread_mutex_lock(&f->mu);
    b->next = f->done;
    f->done = b;
    /* Woken under the lock: once outstanding drops to 0, forward_stop()
     * may free f, so nothing here touches f after the unlock. */
    curl_multi_wakeup(f->multi);
    f->outstanding--;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* The committed batches: their deliveries may be claimed again. */
static void take_back(struct forward *f)
{
    pthread_mutex_lock(&f->mu);
    struct outcome_batch *b = f->done;
    f->done = NULL;
    pthread_mutex_unlock(&f->mu);
    while (b) {
        struct outcome_batch *next = b->next;
        /* A lost record only means one more attempt (at least once); the
         * CRM drops the repeat by webhook-id, or upserts. */
        if (b->job.job.rc)
            log_error("forward: unable to record %zu attempts", b->n);
        for (size_t i = 0; i < b->n; i++) {
            const struct outcome_rec *o = &b->rec[i];
            const struct outbox_attempt *a = &b->a[i];
            /* Logged once stored: a line here means the database says so. A
             * delivery that dies is a warning: sales will not see that lead. */
            if (!b->job.job.rc && a->state == DELIVERY_DEAD) {
                atomic_fetch_add(&f->dead[o->widx], 1);
                log_warn("forward %s %s attempt %d: dead after %s (%ldms) lead=%s; "
                         "POST /v1/deliveries/%lld/retry sends it again",
                         f->cfg->webhooks[o->widx].name, o->webhook_id, o->attempts,
                         o->error[0] ? o->error : "its last attempt", a->duration_ms, o->lead_id,
                         a->delivery_id);
            } else if (!b->job.job.rc) {
                log_info("forward %s %s attempt %d: %s%s%s (%ldms) lead=%s",
                         f->cfg->webhooks[o->widx].name, o->webhook_id, o->attempts,
                         delivery_state_names[a->state], o->error[0] ? " after " : "", o->error,
                         a->duration_ms, o->lead_id);
            }
            release_held(f, o->widx, a->delivery_id);
        }
        free(b);
        b = next;
    }
}

/* Hands this round's outcomes to the writer, as one job. */
static void flush_outcomes(struct forward *f)
{
    struct outcome_batch *b = f->batch;
    if (!b || !b->n)
        return;
    f->batch = NULL;
    b->f = f;
    b->job = (struct store_outcome_job){
        .job = {.op = STORE_OP_OUTCOMES, .done = batch_stored, .arg = b}, .v = b->a, .n = b->n};
    pthread_mutex_lock(&f->mu);
    f->outstanding++;
    pthread_mutex_unlock(&f->mu);
    int rc = store_submit(f->st, &b->job.job);
    if (rc) {
        b->job.job.rc = rc;
        batch_stored(&b->job.job, b);
    }
}

/* Judges how an attempt went and what happens next; the record waits for
 * the round's commit. */
static void finish(struct forward *f, struct transfer *t, CURLcode res)
{
    const struct webhook *w = t->w;
    long status = 0;
    curl_off_t retry_after = 0;
    if (f->batch && f->batch->n == MAX_OUTCOMES)
        flush_outcomes(f);
    if (!f->batch && !(f->batch = calloc(1, sizeof(*f->batch)))) {
        /* No memory to record it: let it go, it is sent again (at least once). */
        release_held(f, t->widx, t->item.id);
        return;
    }
    struct outbox_attempt *a = &f->batch->a[f->batch->n];
    struct outcome_rec *o = &f->batch->rec[f->batch->n++];
    memset(o, 0, sizeof(*o));
    o->widx = t->widx;
    if (t->easy) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after);
    }
    enum outcome oc;
    if (w->format == WEBHOOK_EMAIL) /* an SMTP reply: 5xx refuses for good */
        oc = res == CURLE_OK ? OUTCOME_DELIVERED : status >= 500 ? OUTCOME_DEAD : OUTCOME_RETRY;
    else
        oc = forward_classify(res == CURLE_OK, status);
    if (res != CURLE_OK)
        snprintf(o->error, sizeof(o->error), "%s", curl_easy_strerror(res));
    else if (oc != OUTCOME_DELIVERED)
        snprintf(o->error, sizeof(o->error), "HTTP %ld", status);
    int attempts = t->item.attempts + 1;
    enum delivery_state state = DELIVERY_DELIVERED;
    uint64_t next = 0;
    if (oc == OUTCOME_RETRY) {
        long long d = forward_retry_delay(w, attempts, (long long)retry_after, jitter());
        state = d < 0 ? DELIVERY_DEAD : DELIVERY_PENDING;
        next = d < 0 ? 0 : now_ms() + (uint64_t)d;
    } else if (oc == OUTCOME_DEAD) {
        state = DELIVERY_DEAD;
    }
    size_t keep = t->response.len < FORWARD_MAX_RESPONSE ? t->response.len : FORWARD_MAX_RESPONSE;
    memcpy(o->response, buf_str(&t->response), keep);
    snprintf(o->lead_id, sizeof(o->lead_id), "%s", t->item.lead_id);
    snprintf(o->webhook_id, sizeof(o->webhook_id), "%s", t->item.webhook_id);
    *a = (struct outbox_attempt){
        .delivery_id = t->item.id,
        .webhook_id = o->webhook_id, /* t is freed before the record is written */
        .at_ms = t->at_ms,
        .status = status,
        .error = o->error[0] ? o->error : NULL,
        .duration_ms = (long)((mono_us() - t->t0_us) / 1000),
        .response = o->response,
        .response_len = keep,
        .state = state,
        .next_ms = next,
    };
    if (state == DELIVERY_DELIVERED && w->response_id && !is_update(t) &&
        !template_json_path(buf_str(&t->response), t->response.len, w->response_id, o->crm_id,
                            sizeof(o->crm_id))) {
        a->lead_id = o->lead_id;
        a->webhook = w->name;
        a->crm_id = o->crm_id;
    }
    if (is_update(t)) {
        a->update_of = o->lead_id;
        a->update_webhook = w->name;
        a->version = t->item.version;
    }
    o->attempts = attempts;
}

/* Where nodes share the database, a webhook's rate limit is theirs
 * together: of the n claimed items, how many may start now (the rest are
 * given back, *wait lowered to when the next may), and *at, when the
 * database granted them. The node's own window has already allowed n at
 * *at; a database that cannot answer leaves it at that. */
static size_t shared_rate(struct forward *f, const struct webhook *w, struct outbox_item *items,
                          size_t n, uint64_t *wait, uint64_t *at)
{
    char key[100];
    size_t granted;
    uint64_t next, granted_at;
    if (!store_shared(f->st))
        return n;
    snprintf(key, sizeof(key), "webhook|%s", w->name);
    if (store_take_sends(f->st, key, n, w->rate_n, w->rate_window_ms, &granted, &next, &granted_at))
        return n;
    *at = granted_at;
    if (granted < n) {
        if (store_outbox_unclaim(f->st, items + granted, n - granted))
            log_warn("forward: claims not given back; %s's leases end them", w->name);
        if (!*wait || next < *wait)
            *wait = next;
    }
    return granted;
}

/* How soon a webhook's rate limit lets the next request go; 0: now. */
static uint64_t claim_and_start(struct forward *f)
{
    struct outbox_item items[FORWARD_MAX_INFLIGHT];
    uint64_t now = now_ms(), wait = 0;
    if (now < f->backoff_until)
        return f->backoff_until - now;
    for (size_t i = 0; i < f->cfg->nwebhooks; i++) {
        const struct webhook *w = &f->cfg->webhooks[i];
        size_t room = FORWARD_MAX_INFLIGHT - f->nheld[i], n = 0;
        if (w->rate_n) {
            uint64_t next = 0;
            size_t allowed =
                forward_window_room(&f->rate[i], now, (uint64_t)w->rate_window_ms, &next);
            if (allowed < room)
                room = allowed;
            if (!allowed && next > now && (!wait || next - now < wait))
                wait = next - now;
        }
        if (!room)
            continue;
        /* a claim outlives its attempt (PostgreSQL's lease): the webhook's
         * timeout, and time to record the outcome */
        uint64_t lease = (uint64_t)(w->timeout_ms + f->cfg->claim_grace_ms);
        if (store_outbox_claim(f->st, w->name, now, lease, room, f->held[i], f->nheld[i], items,
                               &n)) {
            log_warn("forward: unable to read the outbox; retrying in %dms", DB_BACKOFF_MS);
            f->backoff_until = now + DB_BACKOFF_MS;
            return DB_BACKOFF_MS;
        }
        /* an attempt is recorded at the time its limit granted it, so the
         * attempts kept show the limit as it was kept */
        uint64_t at = now;
        if (w->rate_n && n)
            n = shared_rate(f, w, items, n, &wait, &at);
        for (size_t k = 0; k < n; k++) {
            struct transfer *t = calloc(1, sizeof(*t));
            if (!t) {
                free(items[k].lead_json); /* still pending: claimed again later */
                continue;
            }
            t->f = f;
            t->w = w;
            t->widx = i;
            t->item = items[k];
            t->at_ms = at;
            buf_init(&t->body, MAX_BODY);
            buf_init(&t->response, w->response_id ? FORWARD_MAX_PARSE : FORWARD_MAX_RESPONSE);
            f->held[i][f->nheld[i]++] = t->item.id;
            if (w->rate_n)
                forward_window_add(&f->rate[i], now);
            if (start(f, t)) {
                finish(f, t, CURLE_OUT_OF_MEMORY);
                transfer_free(t);
            }
        }
    }
    return wait;
}

/* Records the finished transfers; returns how many there were. */
static size_t reap(struct forward *f)
{
    CURLMsg *m;
    int left;
    size_t n = 0;
    while ((m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        finish(f, t, m->data.result);
        transfer_free(t);
        n++;
    }
    flush_outcomes(f);
    return n;
}

/* On the dispatcher's thread: moves to a reload's webhooks once nothing is in
 * flight (no transfer, no outcome with the writer), since transfers borrow
 * their webhook's strings and the held ids, rate windows and counters are
 * kept by webhook index. Returns whether a reload is waiting still (then
 * nothing new is claimed). */
static bool take_reload(struct forward *f, int running)
{
    pthread_mutex_lock(&f->mu);
    struct config_ref *next = f->next, *old = NULL;
    bool idle = running == 0 && f->outstanding == 0 && !f->done && !(f->batch && f->batch->n);
    if (next && idle) {
        const struct config *was = f->cfg, *is = config_ref_cfg(next);
        uint64_t dead[CONFIG_MAX_WEBHOOKS] = {0};
        for (size_t i = 0; i < is->nwebhooks; i++) { /* counters follow their webhook's name */
            for (size_t k = 0; k < was->nwebhooks; k++) {
                if (!strcmp(is->webhooks[i].name, was->webhooks[k].name))
                    dead[i] = atomic_load(&f->dead[k]);
            }
        }
        for (size_t i = 0; i < CONFIG_MAX_WEBHOOKS; i++) {
            forward_window_release(&f->rate[i]);
            atomic_store(&f->dead[i], dead[i]);
            f->nheld[i] = 0; /* nothing in flight: nothing held */
        }
        for (size_t i = 0; i < is->nwebhooks; i++) {
            if (is->webhooks[i].rate_n &&
                forward_window_init(&f->rate[i], (size_t)is->webhooks[i].rate_n))
                log_error("forward: no memory for %s's rate limit", is->webhooks[i].name);
        }
        old = f->ref;
        f->ref = next;
        f->cfg = is;
        f->next = next = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    if (old) {
        log_info("forward: now delivering to the reloaded webhooks (%zu)", f->cfg->nwebhooks);
        config_ref_drop(old);
    }
    return next != NULL;
}

static void *dispatch_main(void *arg)
{
    struct forward *f = arg;
    int running = 0;
    for (;;) {
        bool stopping = atomic_load(&f->stopping);
        /* Finished transfers first, so their slots are claimed again in
         * this round rather than after the next poll's timeout. */
        take_back(f);
        curl_multi_perform(f->multi, &running);
        size_t reaped = reap(f);
        bool reloading = take_reload(f, running);
        uint64_t rate_wait = stopping || reloading ? 0 : claim_and_start(f);
        curl_multi_perform(f->multi, &running);
        /* What finished in that perform is recorded now: a finished transfer
         * has no socket left for the poll below to wake on, so it waited out
         * the poll's timeout (an attempt answered at once took a second). */
        reaped += reap(f);
        if (stopping && running == 0)
            break;
        if (reaped) {
            /* Transfers on loopback or a fast CRM may finish inside perform;
             * while deliveries flow, go round again rather than sleep. */
            curl_multi_poll(f->multi, NULL, 0, 0, NULL);
            continue;
        }
        uint64_t now = now_ms(), due = store_outbox_next_due(f->st);
        long wait = IDLE_POLL_MS;
        if (due <= now)
            wait = 50; /* due, but its webhook's slots are full: a finishing
                          transfer wakes the poll sooner */
        else if (due - now < (uint64_t)wait)
            wait = (long)(due - now);
        if (rate_wait && rate_wait < (uint64_t)wait)
            wait = (long)rate_wait;
        curl_multi_poll(f->multi, NULL, 0, (int)wait, NULL);
    }
    return NULL;
}

static void wake(void *arg)
{
    struct forward *f = arg;
    curl_multi_wakeup(f->multi);
}

static void forward_free(struct forward *f)
{
    for (size_t i = 0; i < CONFIG_MAX_WEBHOOKS; i++)
        forward_window_release(&f->rate[i]);
    config_ref_drop(f->ref);
    config_ref_drop(f->next);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    free(f->batch);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

int forward_start(struct forward **out, struct config_ref *ref, struct store *st)
{
    struct forward *f = calloc(1, sizeof(*f));
    const struct config *cfg = config_ref_cfg(ref);
    *out = NULL;
    if (!f)
        return LEADD_ENOMEM;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->ref = config_ref_take(ref);
    if (!(f->multi = curl_multi_init()))
        goto fail;
    f->cfg = cfg;
    f->st = st;
    for (size_t i = 0; i < cfg->nwebhooks; i++) {
        if (cfg->webhooks[i].rate_n &&
            forward_window_init(&f->rate[i], (size_t)cfg->webhooks[i].rate_n))
            goto fail;
    }
    if (pthread_create(&f->thread, NULL, dispatch_main, f))
        goto fail;
    f->started = true;
    store_set_outbox_hook(st, wake, f);
    *out = f;
    return 0;
fail:
    forward_free(f);
    return LEADD_ENOMEM;
}

int forward_metrics(struct forward *f, struct buf *out)
{
    buf_adds(out, "# HELP leadd_deliveries_dead_total Deliveries that died (their last attempt"
                  " failed, or the target refused them for good) since start, by webhook.\n"
                  "# TYPE leadd_deliveries_dead_total counter\n");
    if (f) /* mu: a reload swaps the webhooks under it */
        pthread_mutex_lock(&f->mu);
    for (size_t i = 0; f && i < f->cfg->nwebhooks; i++)
        buf_addf(out, "leadd_deliveries_dead_total{webhook=\"%s\"} %llu\n",
                 f->cfg->webhooks[i].name, (unsigned long long)atomic_load(&f->dead[i]));
    if (f)
        pthread_mutex_unlock(&f->mu);
    return buf_error(out);
}

void forward_reload(struct forward *f, struct config_ref *next)
{
    pthread_mutex_lock(&f->mu);
    struct config_ref *skipped = f->next; /* a reload not taken yet: this one wins */
    f->next = config_ref_take(next);
    pthread_mutex_unlock(&f->mu);
    config_ref_drop(skipped);
    curl_multi_wakeup(f->multi);
}

void forward_stop(struct forward **fp)
{
    struct forward *f = *fp;
    if (!f)
        return;
    store_set_outbox_hook(f->st, NULL, NULL);
    atomic_store(&f->stopping, true);
    curl_multi_wakeup(f->multi);
    pthread_join(f->thread, NULL);
    /* The last outcomes are with the writer: wait for them to come back. */
    pthread_mutex_lock(&f->mu);
    while (f->outstanding)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
    take_back(f);
    forward_free(f);
    *fp = NULL;
}
