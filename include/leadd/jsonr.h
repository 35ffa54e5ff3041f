/* jsonr.h: reading back the JSON objects jsonw wrote (a lead's fields and
 * attribution), without a library and without building a tree: one pass
 * finds the values of the keys asked for. Any input is safe: it yields
 * values or LEADD_EINVAL, never a read outside json[0..n). It does not
 * validate JSON; it finds values in JSON that is valid. */
#ifndef LEADD_JSONR_H
#define LEADD_JSONR_H

#include <stddef.h>

#include "leadd/buf.h"

/* A key to look for. Compared with the key as written, so it must be one the
 * writer never escapes (field names: letters, digits, _ and -). */
struct jr_key {
    const char *name;
    size_t len;
};

/* A value found: its raw text and what it is. */
struct jr_value {
    const char *p; /* a string's contents (inside the quotes, escapes intact),
                      or the literal's, array's or object's text */
    size_t n;
    char kind; /* 0 absent, 's' string, 'l' number/true/false/null, 'c' array or object */
};

/* jr_pick: sets out[i] to the first value of keys[i] in the object
 * json[0..n) (kind 0 when absent). Returns 0 or LEADD_EINVAL. */
LEADD_MUST_CHECK int jr_pick(const char *json, size_t n, const struct jr_key *keys, size_t nkeys,
                             struct jr_value *out);
/* jr_unescape: a string value's text with its escapes undone, into b (reset
 * first); a lone surrogate becomes U+FFFD. Returns 0, LEADD_EINVAL or b's
 * error. */
LEADD_MUST_CHECK int jr_unescape(const struct jr_value *v, struct buf *b);

#endif
