/* plan.c: the pure parts of forwarding: which webhooks get a lead, how an
 * attempt is judged, when the next one is due, and the signature. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/forward.h"
#include "leadd/crypto.h"

const char *const forward_event_names[FORWARD_EVENT_COUNT] = {"lead.created", "lead.qualified",
                                                              "lead.confirm", "lead.updated"};

void forward_plan(const struct config *cfg, const struct lead *l, struct store_delivery *out,
                  size_t *n)
{
    *n = 0;
    if (lead_held(l))
        return;
    for (size_t i = 0; i < cfg->nwebhooks && *n < CONFIG_MAX_WEBHOOKS; i++) {
        const struct webhook *w = &cfg->webhooks[i];
        bool all = w->when == WEBHOOK_WHEN_ALL;
        if (!webhook_takes(w, l->form->id))
            continue;
        if (w->when == WEBHOOK_WHEN_QUALIFIED && !l->qualified)
            continue;
        if (w->when == WEBHOOK_WHEN_CONDITION && !condition_matches(&w->cond, l))
            continue;
        out[*n].webhook = w->name;
        out[*n].event = forward_event_names[all ? FORWARD_LEAD_CREATED : FORWARD_LEAD_QUALIFIED];
        (*n)++;
    }
}

int webhook_sign(const unsigned char *key, size_t keylen, const char *id, long long timestamp,
                 const char *body, size_t len, char out[FORWARD_SIG_LEN])
{
    char ts[24];
    unsigned char mac[SHA256_LEN];
    int tl = snprintf(ts, sizeof(ts), "%lld", timestamp);
    const void *parts[] = {id, ".", ts, ".", body};
    size_t lens[] = {strlen(id), 1, (size_t)tl, 1, len};
    _Static_assert(3 + CRYPTO_BASE64_LEN(SHA256_LEN) <= FORWARD_SIG_LEN, "signature fits");
    int rc = crypto_hmac_sha256(key, keylen, parts, lens, 5, mac);
    if (rc)
        return rc;
    memcpy(out, "v1,", 3);
    crypto_base64(mac, sizeof(mac), out + 3);
    return 0;
}

enum outcome forward_classify(bool transport_ok, long status)
{
    if (!transport_ok)
        return OUTCOME_RETRY;
    if (status >= 200 && status <= 299)
        return OUTCOME_DELIVERED;
    /* 3xx: redirects are not followed; the endpoint may be fixed, so retry. */
    if (status == 408 || status == 429 || status >= 500 || (status >= 300 && status <= 399) ||
        status < 200)
        return OUTCOME_RETRY;
    return OUTCOME_DEAD;
}

long long forward_retry_delay(const struct webhook *w, int attempts, long long retry_after_s,
                              double jitter01)
{
    if (attempts < 1 || (size_t)attempts > w->nschedule)
        return -1;
    long long longest = 0;
    for (size_t i = 0; i < w->nschedule; i++)
        longest = w->schedule[i] > longest ? w->schedule[i] : longest;
    long long d = (long long)((double)w->schedule[attempts - 1] * (0.8 + 0.4 * jitter01));
    long long ra = retry_after_s * 1000;
    if (ra > d)
        d = ra < longest ? ra : longest;
    return d;
}

int forward_window_init(struct forward_window *w, size_t n)
{
    memset(w, 0, sizeof(*w));
    if (!(w->t = calloc(n ? n : 1, sizeof(*w->t))))
        return LEADD_ENOMEM;
    w->cap = n;
    return 0;
}

void forward_window_release(struct forward_window *w)
{
    free(w->t);
    memset(w, 0, sizeof(*w));
}

size_t forward_window_room(struct forward_window *w, uint64_t now, uint64_t window_ms,
                           uint64_t *next_ms)
{
    /* Starts a whole window ago no longer count. */
    while (w->n && w->t[w->head] + window_ms <= now) {
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    *next_ms = w->n ? w->t[w->head] + window_ms : now;
    return w->cap - w->n;
}

void forward_window_add(struct forward_window *w, uint64_t now)
{
    if (w->n == w->cap)
        return;
    w->t[(w->head + w->n) % w->cap] = now;
    w->n++;
}
