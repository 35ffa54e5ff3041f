/* ulid.c: monotonic ULIDs; see ulid.h. */
#include <string.h>
#include <sys/random.h>

#include "leadd/ulid.h"

static const char B32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void rnd(struct ulid_gen *g, void *p, size_t n)
{
    if (g->pool_used + n > sizeof(g->pool)) {
        /* getrandom() for 256 bytes does not fail once the pool is seeded; a
         * short read leaves old bytes in place, and ids stay unique by time. */
        ssize_t got = getrandom(g->pool, sizeof(g->pool), 0);
        (void)got;
        g->pool_used = 0;
    }
    memcpy(p, g->pool + g->pool_used, n);
    g->pool_used += n;
}

void ulid_gen_init(struct ulid_gen *g)
{
    memset(g, 0, sizeof(*g));
    g->pool_used = sizeof(g->pool); /* empty: the first id fills it */
}

void ulid_next(struct ulid_gen *g, uint64_t now_ms, char out[ULID_LEN + 1])
{
    if (now_ms > g->last_ms) {
        g->last_ms = now_ms;
        rnd(g, &g->hi, sizeof(g->hi));
        rnd(g, &g->lo, sizeof(g->lo));
        /* Leave headroom so steps within the millisecond rarely overflow. */
        g->hi &= 0x7fff;
    } else {
        uint32_t step;
        rnd(g, &step, sizeof(step));
        step = (step | 1) & 0xffffff;
        uint64_t lo = g->lo + step;
        if (lo < g->lo && ++g->hi == 0)
            g->last_ms++; /* 80 bits exhausted: borrow the next millisecond */
        g->lo = lo;
    }
    uint64_t t = g->last_ms;
    for (int i = 9; i >= 0; i--) {
        out[i] = B32[t & 31];
        t >>= 5;
    }
    /* 80 random bits = 16 chars: hi (16 bits) then lo (64 bits). */
    uint64_t lo = g->lo;
    unsigned hi = g->hi;
    for (int i = 25; i >= 10; i--) {
        out[i] = B32[lo & 31];
        lo = (lo >> 5) | ((uint64_t)(hi & 31) << 59);
        hi >>= 5;
    }
    out[ULID_LEN] = '\0';
}

void ulid_floor(uint64_t ms, char out[ULID_LEN + 1])
{
    for (int i = 9; i >= 0; i--) {
        out[i] = B32[ms & 31];
        ms >>= 5;
    }
    memset(out + 10, '0', 16);
    out[ULID_LEN] = '\0';
}

int ulid_valid(const char *s)
{
    if (!s || strlen(s) != ULID_LEN || s[0] > '7')
        return 0;
    for (int i = 0; i < ULID_LEN; i++) {
        if (!strchr(B32, s[i]) || !s[i])
            return 0;
    }
    return 1;
}

uint64_t ulid_time_ms(const char *id)
{
    if (!ulid_valid(id))
        return 0;
    uint64_t t = 0;
    for (int i = 0; i < 10; i++)
        t = (t << 5) | (uint64_t)(strchr(B32, id[i]) - B32);
    return t;
}
