/* dispatch.c: the forwarder's thread. It claims due deliveries per webhook
 * (each webhook with its own cap in flight), sends them through one libcurl
 * multi handle, and records every attempt and the delivery's next state. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "leadd/forward.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"

#define IDLE_POLL_MS 1000   /* longest sleep: also how soon a retry falls due */
#define DB_BACKOFF_MS 1000  /* after the outbox could not be read */
#define MAX_BODY (4u << 20) /* a webhook body; a lead is far smaller */

struct transfer {
    struct forward *f;
    const struct webhook *w;
    size_t widx;
    CURL *easy;
    struct curl_slist *headers;
    struct outbox_item item;
    struct buf body;
    char response[FORWARD_MAX_RESPONSE + 1];
    size_t response_len;
    uint64_t t0_us, at_ms;
};

struct forward {
    const struct config *cfg;
    struct store *st;
    CURLM *multi;
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    size_t inflight[CONFIG_MAX_WEBHOOKS];
    uint64_t backoff_until;
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
    /* Keep the first bytes for the record; read and drop the rest. */
    size_t take = FORWARD_MAX_RESPONSE - t->response_len;
    if (take > n)
        take = n;
    memcpy(t->response + t->response_len, p, take);
    t->response_len += take;
    t->response[t->response_len] = '\0';
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
    curl_slist_free_all(t->headers);
    free(t->item.lead_json);
    buf_release(&t->body);
    free(t);
}

static double jitter(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)mono_us();
    return (double)r / 4294967296.0;
}

/* Builds, signs and starts one request. On failure the delivery is recorded
 * as a failed attempt, so it is retried like any other. */
static int start(struct forward *f, size_t widx, struct transfer *t)
{
    const struct webhook *w = &f->cfg->webhooks[widx];
    char hdr[256], sig[FORWARD_SIG_LEN];
    int rc;
    buf_adds(&t->body, "{\"type\":");
    jw_str(&t->body, t->item.event);
    buf_adds(&t->body, ",\"timestamp\":");
    jw_str(&t->body, t->item.created_at);
    buf_adds(&t->body, ",\"data\":");
    buf_adds(&t->body, t->item.lead_json ? t->item.lead_json : "null");
    if ((rc = buf_addc(&t->body, '}')))
        return rc;
    t->at_ms = now_ms();
    long long ts = (long long)(t->at_ms / 1000);
    if ((rc = webhook_sign(w->secret, w->secret_len, t->item.webhook_id, ts, t->body.ptr,
                           t->body.len, sig)))
        return rc;

    struct curl_slist *h = NULL;
    const char *fixed[] = {"Content-Type: application/json", "User-Agent: leadd/" LEADD_VERSION,
                           "Expect:"};
    for (size_t i = 0; i < LEADD_ARRAY_LEN(fixed); i++)
        h = curl_slist_append(h, fixed[i]);
    snprintf(hdr, sizeof(hdr), "webhook-id: %s", t->item.webhook_id);
    h = curl_slist_append(h, hdr);
    snprintf(hdr, sizeof(hdr), "webhook-timestamp: %lld", ts);
    h = curl_slist_append(h, hdr);
    snprintf(hdr, sizeof(hdr), "webhook-signature: %s", sig);
    h = curl_slist_append(h, hdr);
    for (size_t i = 0; i < w->nheaders; i++) {
        struct buf line = BUF_INIT(8192);
        if (!buf_addf(&line, "%s: %s", w->headers[i].name, w->headers[i].value))
            h = curl_slist_append(h, line.ptr);
        buf_release(&line);
    }
    t->headers = h;
    if (!h || !(t->easy = curl_easy_init()))
        return LEADD_ENOMEM;
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, w->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.ptr);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(w->timeout_ms < 5000 ? w->timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    t->t0_us = mono_us();
    return curl_multi_add_handle(f->multi, e) == CURLM_OK ? 0 : LEADD_ENOMEM;
}

/* Records how an attempt went and what happens next. */
static void finish(struct forward *f, struct transfer *t, CURLcode res)
{
    const struct webhook *w = t->w;
    long status = 0;
    curl_off_t retry_after = 0;
    char err[160] = "";
    if (t->easy) {
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &retry_after);
    }
    enum outcome o = forward_classify(res == CURLE_OK, status);
    if (res != CURLE_OK)
        snprintf(err, sizeof(err), "%s", curl_easy_strerror(res));
    else if (o != OUTCOME_DELIVERED)
        snprintf(err, sizeof(err), "HTTP %ld", status);
    int attempts = t->item.attempts + 1;
    uint64_t next = 0;
    enum delivery_state state = DELIVERY_DELIVERED;
    if (o == OUTCOME_RETRY) {
        long long d = forward_retry_delay(w, attempts, (long long)retry_after, jitter());
        state = d < 0 ? DELIVERY_DEAD : DELIVERY_PENDING;
        next = d < 0 ? 0 : now_ms() + (uint64_t)d;
    } else if (o == OUTCOME_DEAD) {
        state = DELIVERY_DEAD;
    }
    struct outbox_attempt a = {
        .at_ms = t->at_ms,
        .status = res == CURLE_OK ? status : 0,
        .error = err[0] ? err : NULL,
        .duration_ms = (long)((mono_us() - t->t0_us) / 1000),
        .response = t->response,
        .response_len = t->response_len,
    };
    /* A lost record only means one more attempt after a restart (at least
     * once); the CRM drops the repeat by webhook-id. */
    if (store_outbox_record(f->st, t->item.id, &a, state, next))
        log_error("forward: unable to record attempt %d of %s", attempts, t->item.webhook_id);
    log_info("forward %s %s attempt %d: %s%s%s (%ldms) lead=%s", w->name, t->item.webhook_id,
             attempts, delivery_state_names[state], err[0] ? " after " : "", err, a.duration_ms,
             t->item.lead_id);
    f->inflight[t->widx]--;
}

static void claim_and_start(struct forward *f)
{
    struct outbox_item items[FORWARD_MAX_INFLIGHT];
    uint64_t now = now_ms();
    if (now < f->backoff_until)
        return;
    for (size_t i = 0; i < f->cfg->nwebhooks; i++) {
        size_t room = FORWARD_MAX_INFLIGHT - f->inflight[i], n = 0;
        if (!room)
            continue;
        if (store_outbox_claim(f->st, f->cfg->webhooks[i].name, now, room, items, &n)) {
            log_warn("forward: unable to read the outbox; retrying in %dms", DB_BACKOFF_MS);
            f->backoff_until = now + DB_BACKOFF_MS;
            return;
        }
        for (size_t k = 0; k < n; k++) {
            struct transfer *t = calloc(1, sizeof(*t));
            if (!t) {
                /* Left "delivering": the next start sends it. */
                free(items[k].lead_json);
                continue;
            }
            t->f = f;
            t->w = &f->cfg->webhooks[i];
            t->widx = i;
            t->item = items[k];
            buf_init(&t->body, MAX_BODY);
            f->inflight[i]++;
            if (start(f, i, t)) {
                finish(f, t, CURLE_OUT_OF_MEMORY);
                transfer_free(t);
            }
        }
    }
}

static void reap(struct forward *f)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        finish(f, t, m->data.result);
        transfer_free(t);
    }
}

static void *dispatch_main(void *arg)
{
    struct forward *f = arg;
    int running = 0;
    for (;;) {
        bool stopping = atomic_load(&f->stopping);
        if (!stopping)
            claim_and_start(f);
        curl_multi_perform(f->multi, &running);
        reap(f);
        if (stopping && running == 0)
            break;
        uint64_t now = now_ms(), due = store_outbox_next_due(f->st);
        long wait = IDLE_POLL_MS;
        if (due <= now)
            wait = 50; /* due, but its webhook's slots are full: a finishing
                          transfer wakes the poll sooner */
        else if (due - now < (uint64_t)wait)
            wait = (long)(due - now);
        curl_multi_poll(f->multi, NULL, 0, (int)wait, NULL);
    }
    return NULL;
}

static void wake(void *arg)
{
    struct forward *f = arg;
    curl_multi_wakeup(f->multi);
}

int forward_start(struct forward **out, const struct config *cfg, struct store *st)
{
    struct forward *f = calloc(1, sizeof(*f));
    *out = NULL;
    if (!f || !(f->multi = curl_multi_init())) {
        free(f);
        return LEADD_ENOMEM;
    }
    f->cfg = cfg;
    f->st = st;
    if (pthread_create(&f->thread, NULL, dispatch_main, f)) {
        curl_multi_cleanup(f->multi);
        free(f);
        return LEADD_ENOMEM;
    }
    f->started = true;
    store_set_outbox_hook(st, wake, f);
    *out = f;
    return 0;
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
    curl_multi_cleanup(f->multi);
    free(f);
    *fp = NULL;
}
