/* ratelimit.h: per-client, per-form token buckets for submissions. A fixed
 * table (RATE_SLOTS entries), so a flood of addresses cannot grow memory:
 * when it is full the stalest bucket is reused. Thread-safe. */
#ifndef LEADD_RATELIMIT_H
#define LEADD_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "leadd/common.h"

#define RATE_SLOTS 65536
#define RATE_PROBE 32 /* slots looked at before reusing the stalest */

struct ratelimit;

LEADD_MUST_CHECK int ratelimit_new(struct ratelimit **out);
void ratelimit_free(struct ratelimit **rp);
/* ratelimit_take: takes one token (take; else only asks whether one is
 * there) from the bucket of (form, ip), which holds `limit` tokens and
 * refills `limit` per `window_s`. Returns true when allowed; otherwise false
 * with *retry_after_s the seconds until a token is back. */
bool ratelimit_take(struct ratelimit *rl, const char *form, const char *ip, long long limit,
                    long long window_s, uint64_t now_ms, bool take, long long *retry_after_s);

#endif
