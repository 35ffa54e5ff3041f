/* forward.h: forwarding leads to CRMs, chat and mail (libcurl lives here).
 *
 * Deliveries come from the store's transactional outbox. One dispatcher
 * thread drives libcurl's multi interface: reused connections, connect and
 * total timeouts, no redirects, http and https (smtp and smtps for mail).
 * A body is leadd's envelope signed per the Standard Webhooks specification,
 * or the target's template (template.h), signed when the target says so. A 2xx delivers; connection
 * errors, timeouts, 3xx, 408, 429 and 5xx are retried on the webhook's schedule (with
 * +-20% jitter, or after a longer Retry-After); other 4xx, or the schedule
 * exhausted, make the delivery dead. Each webhook has its own cap on
 * requests in flight, so a slow endpoint never holds up another. */
#ifndef LEADD_FORWARD_H
#define LEADD_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/config.h"
#include "leadd/lead.h"
#include "leadd/store.h"

#define FORWARD_MAX_INFLIGHT 32       /* per webhook */
#define FORWARD_MAX_RESPONSE 1024     /* bytes of a response body kept per attempt */
#define FORWARD_MAX_PARSE (64u << 10) /* bytes of a response read for response_id */
#define FORWARD_SIG_LEN 64            /* "v1," + base64 of 32 bytes + NUL fits */

struct forward;

/* forward_start: starts the dispatcher; it takes a count on cfg. st is
 * borrowed and must outlive it. Call curl_global_init() (via
 * forward_global_init) first. */
LEADD_MUST_CHECK int forward_start(struct forward **out, struct config_ref *cfg, struct store *st);
/* forward_reload: the dispatcher moves to next's webhooks (taking a count)
 * once nothing is in flight: it claims nothing new meanwhile, so a
 * delivery is never sent under one config and recorded under another.
 * Deliveries queued for a webhook next no longer has stay pending. */
void forward_reload(struct forward *f, struct config_ref *next);
/* forward_stop: takes no new deliveries, lets those in flight finish (each
 * within its timeout), stops the thread, frees it and sets *fp to NULL.
 * Deliveries not started stay pending for the next start. */
void forward_stop(struct forward **fp);
/* forward_metrics: appends the forwarder's Prometheus lines (deliveries that
 * died since start, by webhook); any thread. f may be NULL (none running). */
LEADD_MUST_CHECK int forward_metrics(struct forward *f, struct buf *out);
/* forward_global_init / cleanup: libcurl's process-wide set-up. */
LEADD_MUST_CHECK int forward_global_init(void);
void forward_global_cleanup(void);

/* The event a delivery announces: its envelope's "type". */
enum forward_event {
    FORWARD_LEAD_CREATED,
    FORWARD_LEAD_QUALIFIED,
    FORWARD_LEAD_CONFIRM, /* a double opt-in mail to the lead itself (its form's confirm_mail) */
    FORWARD_LEAD_UPDATED, /* a status or value changed: sent to the record the target made */
    FORWARD_EVENT_COUNT
};
extern const char *const forward_event_names[FORWARD_EVENT_COUNT];

/* forward_plan: which webhooks get lead l (of its form), and with which event.
 * Held leads (lead_held: spam, withdrawn, unconfirmed) get none. out must hold CONFIG_MAX_WEBHOOKS
 * entries; the strings are borrowed from cfg. */
void forward_plan(const struct config *cfg, const struct lead *l, struct store_delivery *out,
                  size_t *n);

/* webhook_sign: the Standard Webhooks signature "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>" into out; LEADD_ENOMEM when libcrypto fails. */
LEADD_MUST_CHECK int webhook_sign(const unsigned char *key, size_t keylen, const char *id,
                                  long long timestamp, const char *body, size_t len,
                                  char out[FORWARD_SIG_LEN]);

/* A target's rate_limit, exactly: the start times of its last N requests,
 * so no window of the configured length ever holds more than N. */
struct forward_window {
    uint64_t *t; /* a ring of cap start times */
    size_t cap, head, n;
};
LEADD_MUST_CHECK int forward_window_init(struct forward_window *w, size_t n);
void forward_window_release(struct forward_window *w);
/* forward_window_room: how many requests may start at now; when none may,
 * *next_ms is when one more may. */
size_t forward_window_room(struct forward_window *w, uint64_t now, uint64_t window_ms,
                           uint64_t *next_ms);
/* forward_window_add: one request started at now (call only with room). */
void forward_window_add(struct forward_window *w, uint64_t now);

enum outcome { OUTCOME_DELIVERED, OUTCOME_RETRY, OUTCOME_DEAD };
/* forward_classify: the outcome of one attempt: transport_ok is false for
 * connection errors and timeouts; status is the HTTP status otherwise. */
enum outcome forward_classify(bool transport_ok, long status);
/* forward_retry_delay: after `attempts` failed attempts (1 = the first), the
 * delay before the next, in ms, or -1 when the schedule is exhausted.
 * jitter01 is uniform in [0, 1); retry_after_s is 0 when the peer sent none. */
long long forward_retry_delay(const struct webhook *w, int attempts, long long retry_after_s,
                              double jitter01);

#endif
