/* strset.h: an immutable-after-build set of strings (sorted array, binary
 * search). Used for origins, domain lists and the like. */
#ifndef LEADD_STRSET_H
#define LEADD_STRSET_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/common.h"

struct strset {
    char **v;
    size_t n, alloc;
};

/* strset_add: adds a copy of s[0..len). Call strset_finish() before lookups. */
LEADD_MUST_CHECK int strset_add(struct strset *s, const char *str, size_t len);
/* strset_add_words: adds each white-space or comma separated word of text. */
LEADD_MUST_CHECK int strset_add_words(struct strset *s, const char *text);
/* strset_finish: sorts and removes duplicates. */
void strset_finish(struct strset *s);
bool strset_has(const struct strset *s, const char *str);
bool strset_hasn(const struct strset *s, const char *str, size_t len);
void strset_release(struct strset *s);

#endif
