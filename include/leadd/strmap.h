/* strmap.h: strings to small integers: a hash map that numbers each distinct
 * key in the order it is first seen (0, 1, 2...), so the caller keeps what it
 * maps to in an array of its own. For adding up rows by key. */
#ifndef LEADD_STRMAP_H
#define LEADD_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/common.h"

struct strmap {
    size_t *slot; /* key index + 1; 0: empty. A power of two, over twice n */
    size_t nslot;
    char **keys; /* copies, owned */
    size_t n, cap;
};

/* strmap_index: the number of key (s[0..len)), a new one (and *added) when
 * unseen; LEADD_ENOMEM as a negative value. */
long strmap_index(struct strmap *m, const char *s, size_t len, bool *added);
/* strmap_key: the key numbered i. */
const char *strmap_key(const struct strmap *m, size_t i);
void strmap_release(struct strmap *m);

#endif
