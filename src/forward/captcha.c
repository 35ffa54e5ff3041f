/* captcha.c: siteverify calls on a thread of their own (libcurl multi), and
 * the pure verdict on each provider's answer. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/buf.h"
#include "leadd/captcha.h"
#include "leadd/jsonr.h"
#include "leadd/log.h"
#include "leadd/strutil.h"

/* A check in flight: its easy handle and the buffers libcurl reads. */
struct flight {
    struct captcha_check *c;
    CURL *easy;
    char *post;
    struct buf answer;
};

struct captcha {
    CURLM *multi;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    bool stopping;                     /* under mu */
    struct captcha_check *head, *tail; /* queued, under mu */
    size_t pending;                    /* queued or in flight, under mu */
};

static const char *const NAMES[] = {"off", "turnstile", "hcaptcha", "recaptcha"};
const char *const captcha_result_names[CAPTCHA_RESULT_COUNT] = {"passed", "refused", "unavailable"};

/* An error code that says our side is wrong (the secret), or the
 * provider's: never the visitor's fault, so never a 422. */
static bool ours(const char *codes, size_t n)
{
    return memmem(codes, n, "secret", 6) || memmem(codes, n, "internal-error", 14) ||
           memmem(codes, n, "sitekey", 7);
}

/* Whether host is the host part of one of f's allowed origins. */
static bool host_allowed(const struct form *f, const char *host, size_t n)
{
    for (size_t i = 0; i < f->origins.n; i++) {
        const char *o = f->origins.v[i], *h = strstr(o, "://");
        h = h ? h + 3 : o;
        size_t hl = strcspn(h, ":/");
        if (hl == n && !strncasecmp(h, host, n))
            return true;
    }
    return false;
}

enum captcha_result captcha_judge(const struct form *f, bool transport_ok, long status,
                                  const char *body, size_t len, char *why, size_t cap)
{
    enum { SUCCESS, SCORE, ACTION, HOSTNAME, CODES, NKEYS };
    static const struct jr_key keys[NKEYS] = {
        {"success", 7}, {"score", 5}, {"action", 6}, {"hostname", 8}, {"error-codes", 11}};
    struct jr_value v[NKEYS];
    why[0] = '\0';
    if (!transport_ok || status >= 500 || status == 429 || status == 408) {
        snprintf(why, cap, "the captcha provider did not answer in time or failed");
        return CAPTCHA_UNAVAILABLE;
    }
    if (status != 200 || jr_pick(body, len, keys, NKEYS, v) || v[SUCCESS].kind != 'l') {
        snprintf(why, cap, "the captcha provider's answer was not understood");
        return CAPTCHA_UNAVAILABLE;
    }
    if (!(v[SUCCESS].n == 4 && !memcmp(v[SUCCESS].p, "true", 4))) {
        if (v[CODES].kind == 'c' && ours(v[CODES].p, v[CODES].n)) {
            snprintf(why, cap, "the captcha provider refused leadd's configuration (%.*s)",
                     (int)(v[CODES].n < 60 ? v[CODES].n : 60), v[CODES].p);
            return CAPTCHA_UNAVAILABLE;
        }
        snprintf(why, cap, "the captcha was not solved, or its token expired or was used");
        return CAPTCHA_REFUSED;
    }
    if (f->captcha == CAPTCHA_RECAPTCHA) {
        char num[32];
        double score = -1;
        if (v[SCORE].kind == 'l' && v[SCORE].n < sizeof(num)) {
            memcpy(num, v[SCORE].p, v[SCORE].n);
            num[v[SCORE].n] = '\0';
            char *end;
            score = strtod(num, &end);
            if (*end)
                score = -1;
        }
        if (score < f->captcha_min_score) {
            snprintf(why, cap, "the captcha's score is below this form's minimum");
            return CAPTCHA_REFUSED;
        }
    }
    if (f->captcha_action && f->captcha != CAPTCHA_HCAPTCHA &&
        !(v[ACTION].kind == 's' && v[ACTION].n == strlen(f->captcha_action) &&
          !memcmp(v[ACTION].p, f->captcha_action, v[ACTION].n))) {
        snprintf(why, cap, "the captcha was solved for another action");
        return CAPTCHA_REFUSED;
    }
    if (!f->any_origin && f->origins.n &&
        !(v[HOSTNAME].kind == 's' && host_allowed(f, v[HOSTNAME].p, v[HOSTNAME].n))) {
        snprintf(why, cap, "the captcha was solved on a site this form does not allow");
        return CAPTCHA_REFUSED;
    }
    return CAPTCHA_PASSED;
}

static size_t on_answer(char *p, size_t size, size_t nmemb, void *arg)
{
    struct flight *fl = arg;
    size_t n = size * nmemb;
    size_t take = fl->answer.max - fl->answer.len;
    buf_add(&fl->answer, p, n < take ? n : take);
    return n; /* the rest is read and dropped */
}

/* One urlencoded pair, "&name=value" (no "&" first). */
static void add_pair(struct buf *b, CURL *e, const char *name, const char *v, size_t n)
{
    char *esc = curl_easy_escape(e, v, (int)n);
    if (!esc) {
        b->err = b->err ? b->err : LEADD_ENOMEM;
        return;
    }
    buf_addf(b, "%s%s=%s", b->len ? "&" : "", name, esc);
    curl_free(esc);
}

/* Hands a check its verdict: it is no longer pending. */
static void answered(struct captcha *cp, struct captcha_check *c)
{
    pthread_mutex_lock(&cp->mu);
    cp->pending--;
    pthread_mutex_unlock(&cp->mu);
    c->done(c, c->arg); /* c may be freed from here on */
}

/* Ends one check: its verdict to the caller, its handle freed. */
static void finish(struct captcha *cp, struct flight *fl, bool transport_ok, long status)
{
    struct captcha_check *c = fl->c;
    const struct form *f = c->form;
    c->result = captcha_judge(f, transport_ok, status, fl->answer.ptr ? fl->answer.ptr : "",
                              fl->answer.len, c->why, sizeof(c->why));
    if (c->result == CAPTCHA_UNAVAILABLE)
        log_warn("form %s: %s verification unavailable: %s", f->id, NAMES[f->captcha], c->why);
    if (fl->easy) {
        curl_multi_remove_handle(cp->multi, fl->easy);
        curl_easy_cleanup(fl->easy);
    }
    free(fl->post);
    buf_release(&fl->answer);
    free(fl);
    answered(cp, c);
}

/* Starts one check's request; on failure it ends at once, unavailable. */
static void launch(struct captcha *cp, struct captcha_check *c)
{
    const struct form *f = c->form;
    struct flight *fl = calloc(1, sizeof(*fl));
    if (!fl) {
        c->result = CAPTCHA_UNAVAILABLE;
        snprintf(c->why, sizeof(c->why), "out of memory");
        answered(cp, c);
        return;
    }
    fl->c = c;
    fl->answer = (struct buf)BUF_INIT(CAPTCHA_MAX_ANSWER);
    struct buf post = BUF_INIT(CAPTCHA_MAX_TOKEN * 3 + 4096);
    CURL *e = fl->easy = curl_easy_init();
    if (!e)
        goto fail;
    /* Each provider's documented parameters (all take urlencoded posts;
     * hCaptcha takes nothing else). */
    add_pair(&post, e, "secret", f->captcha_secret, strlen(f->captcha_secret));
    add_pair(&post, e, "response", c->token, c->token_len);
    if (c->remoteip && *c->remoteip)
        add_pair(&post, e, "remoteip", c->remoteip, strlen(c->remoteip));
    if (f->captcha == CAPTCHA_TURNSTILE && c->idempotency_key)
        add_pair(&post, e, "idempotency_key", c->idempotency_key, strlen(c->idempotency_key));
    if (f->captcha == CAPTCHA_HCAPTCHA && f->captcha_sitekey)
        add_pair(&post, e, "sitekey", f->captcha_sitekey, strlen(f->captcha_sitekey));
    if (buf_error(&post))
        goto fail;
    fl->post = buf_detach(&post);
    curl_easy_setopt(e, CURLOPT_URL, f->captcha_verify_url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, fl->post);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)f->captcha_timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "leadd/" LEADD_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, fl);
    curl_easy_setopt(e, CURLOPT_PRIVATE, fl);
    if (curl_multi_add_handle(cp->multi, e) != CURLM_OK)
        goto fail;
    return;
fail:
    buf_release(&post);
    finish(cp, fl, false, 0);
}

static void *run(void *arg)
{
    struct captcha *cp = arg;
    for (;;) {
        pthread_mutex_lock(&cp->mu);
        struct captcha_check *q = cp->head;
        cp->head = cp->tail = NULL;
        bool stopping = cp->stopping;
        pthread_mutex_unlock(&cp->mu);
        while (q) {
            struct captcha_check *next = q->next;
            launch(cp, q);
            q = next;
        }
        int running = 0;
        curl_multi_perform(cp->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(cp->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct flight *fl = NULL;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&fl);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            finish(cp, fl, m->data.result == CURLE_OK, status);
        }
        if (stopping && !running)
            break;
        curl_multi_poll(cp->multi, NULL, 0, 1000, NULL);
    }
    return NULL;
}

int captcha_start(struct captcha **out)
{
    struct captcha *cp = calloc(1, sizeof(*cp));
    if (!cp || !(cp->multi = curl_multi_init()))
        goto fail;
    pthread_mutex_init(&cp->mu, NULL);
    if (pthread_create(&cp->thread, NULL, run, cp))
        goto fail;
    cp->started = true;
    *out = cp;
    return 0;
fail:
    if (cp)
        curl_multi_cleanup(cp->multi);
    free(cp);
    return LEADD_ENOMEM;
}

void captcha_stop(struct captcha **cp_)
{
    struct captcha *cp = *cp_;
    if (!cp)
        return;
    pthread_mutex_lock(&cp->mu);
    cp->stopping = true;
    pthread_mutex_unlock(&cp->mu);
    curl_multi_wakeup(cp->multi);
    /* Checks in flight end by their timeout: each is answered. */
    if (cp->started)
        pthread_join(cp->thread, NULL);
    curl_multi_cleanup(cp->multi);
    pthread_mutex_destroy(&cp->mu);
    free(cp);
    *cp_ = NULL;
}

int captcha_verify(struct captcha *cp, struct captcha_check *c)
{
    int rc = 0;
    c->next = NULL;
    c->why[0] = '\0';
    pthread_mutex_lock(&cp->mu);
    if (cp->stopping)
        rc = LEADD_ESHUTDOWN;
    else if (cp->pending >= CAPTCHA_MAX_PENDING)
        rc = LEADD_EFULL;
    if (!rc) {
        if (cp->tail)
            cp->tail->next = c;
        else
            cp->head = c;
        cp->tail = c;
        cp->pending++;
    }
    pthread_mutex_unlock(&cp->mu);
    if (!rc)
        curl_multi_wakeup(cp->multi);
    return rc;
}
