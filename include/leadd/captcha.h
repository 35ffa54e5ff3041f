/* captcha.h: asking a form's captcha provider whether a token is good
 * (Cloudflare Turnstile, hCaptcha, reCAPTCHA v3), each by its documented
 * siteverify call. One thread drives libcurl's multi interface, so a
 * submission waits for the answer suspended, holding no HTTP worker; every
 * check ends within its form's captcha_timeout_ms. */
#ifndef LEADD_CAPTCHA_H
#define LEADD_CAPTCHA_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/common.h"
#include "leadd/lead.h"

#define CAPTCHA_MAX_TOKEN 4096   /* a token longer than this is refused unasked */
#define CAPTCHA_MAX_ANSWER 16384 /* bytes of a provider's answer read */
#define CAPTCHA_MAX_PENDING 4096 /* checks waiting or in flight; more are "unavailable" */

/* How a check came out: passed, refused (the visitor's token is bad: 422),
 * or the provider could not say (unreachable, timed out, 5xx, an answer
 * that is not its JSON: the form's captcha_unavailable decides). */
enum captcha_result { CAPTCHA_PASSED, CAPTCHA_REFUSED, CAPTCHA_UNAVAILABLE, CAPTCHA_RESULT_COUNT };
extern const char
    *const captcha_result_names[CAPTCHA_RESULT_COUNT]; /* passed refused unavailable */

struct captcha;

/* One check. The caller fills the inputs, which are borrowed until done is
 * called, and owns the struct. */
struct captcha_check {
    const struct form *form;
    const char *token;
    size_t token_len;
    const char *remoteip;        /* the visitor's address, or "" */
    const char *idempotency_key; /* Turnstile's: a retry of this check is safe */
    /* results, valid in done */
    enum captcha_result result;
    char why[96]; /* for the log and the visitor: "the captcha's score is too low" */
    /* done: called once, on the captcha thread */
    void (*done)(struct captcha_check *c, void *arg);
    void *arg;
    struct captcha_check *next; /* private */
};

/* captcha_start: starts the thread (forward_global_init first). */
LEADD_MUST_CHECK int captcha_start(struct captcha **out);
/* captcha_stop: ends every check not yet answered as unavailable (its done
 * is called), stops the thread, frees it and sets *cp = NULL. */
void captcha_stop(struct captcha **cp);
/* captcha_verify: queues c. On 0, c->done is called exactly once, later, on
 * the captcha thread; on an error (LEADD_EFULL, LEADD_ESHUTDOWN) never. */
LEADD_MUST_CHECK int captcha_verify(struct captcha *cp, struct captcha_check *c);

/* captcha_judge: the verdict on a provider's answer (pure: the unit tests'
 * and the thread's). transport_ok is false when no HTTP answer came; status
 * and body[0..len) are the answer. why gets the reason when not passed. */
enum captcha_result captcha_judge(const struct form *f, bool transport_ok, long status,
                                  const char *body, size_t len, char *why, size_t cap);

#endif
