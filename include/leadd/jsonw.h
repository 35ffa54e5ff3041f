/* jsonw.h: a small JSON writer over struct buf. Fast enough for export
 * streaming, and free of libraries so lead/ and store/ can use it.
 *
 * Every function appends to the buffer and returns buf_error(b) (the
 * buffer's cap reached, or ENOMEM; sticky: check once at the end). Strings
 * are escaped per RFC 8259; bytes that are not valid UTF-8 are written as
 * U+FFFD. */
#ifndef LEADD_JSONW_H
#define LEADD_JSONW_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/buf.h"

/* jw_str: a quoted, escaped JSON string; NULL writes null. */
int jw_str(struct buf *b, const char *s);
int jw_strn(struct buf *b, const char *s, size_t n);
/* jw_key: `"key":`, preceded by a comma unless `first`. */
int jw_key(struct buf *b, const char *key, bool first);
/* A member of an object whose value is a string (NULL: null). */
struct jw_str_member {
    const char *key, *value;
};
/* jw_strs: members m[0..n) as "key":value, comma-separated, the first
 * preceded by a comma unless `first`. */
int jw_strs(struct buf *b, const struct jw_str_member *m, size_t n, bool first);
/* jw_int, jw_num, jw_bool: scalar values. A non-finite double writes null. */
int jw_int(struct buf *b, long long v);
int jw_num(struct buf *b, double v);
int jw_bool(struct buf *b, bool v);

#endif
