/* ulid.h: lead ids. A ULID (26 Crockford base32 characters: 48 bits of Unix
 * milliseconds, 80 random bits) sorts in creation order. Ids from one
 * generator are strictly increasing even within one millisecond: the random
 * part then grows by a fresh random step, so the next id cannot be guessed
 * from the last. One generator belongs to one thread (the store's writer). */
#ifndef LEADD_ULID_H
#define LEADD_ULID_H

#include <stdint.h>

#define ULID_LEN 26

struct ulid_gen {
    uint64_t last_ms;
    uint16_t hi; /* top 16 of the 80 random bits */
    uint64_t lo; /* low 64 */
    /* Random bytes fetched 256 at a time: one getrandom() per ~60 ids, not
     * one or two per id (a syscall on the writer's path for every lead). */
    unsigned char pool[256];
    size_t pool_used;
};

void ulid_gen_init(struct ulid_gen *g);
/* ulid_next: writes the next id (NUL-terminated) for time now_ms, which may
 * be earlier than the last call's (clock steps back): ids still increase. */
void ulid_next(struct ulid_gen *g, uint64_t now_ms, char out[ULID_LEN + 1]);
/* ulid_time_ms: the millisecond timestamp an id carries, or 0 if malformed. */
uint64_t ulid_time_ms(const char *id);
/* ulid_floor: the smallest id of millisecond ms, so that time ranges become
 * id ranges: created_ms >= ms exactly when id >= ulid_floor(ms). */
void ulid_floor(uint64_t ms, char out[ULID_LEN + 1]);
/* ulid_valid: whether s is 26 Crockford base32 characters. */
int ulid_valid(const char *s);

#endif
