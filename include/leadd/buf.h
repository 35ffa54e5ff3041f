/* buf.h: growable byte buffers that always carry a size cap, so no input can
 * make leadd grow memory without bound (after curl's dynbuf).
 *
 * The content is always NUL-terminated once anything was added. A buffer is
 * initialised by buf_init() and owns its memory until buf_release() or
 * buf_detach().
 *
 * Errors are sticky (after git's strbuf builders, which read straight
 * through): the first failing add is kept in err, every later add does
 * nothing and returns it, and a builder checks buf_error() once at the end. */
#ifndef LEADD_BUF_H
#define LEADD_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "leadd/common.h"

struct buf {
    char *ptr;    /* content, NUL-terminated; NULL until the first add */
    size_t len;   /* bytes in use, not counting the NUL */
    size_t alloc; /* bytes allocated */
    size_t max;   /* the cap: len never exceeds it */
    int err;      /* the first add that failed (sticky), or 0 */
};

#define BUF_INIT(cap)                                                                              \
    {                                                                                              \
        NULL, 0, 0, (cap), 0                                                                       \
    }

/* buf_init: an empty buffer that may hold at most `max` bytes. */
void buf_init(struct buf *b, size_t max);
/* buf_add: appends n bytes and returns buf_error(b): LEADD_ETOOBIG when the
 * cap would be passed, LEADD_ENOMEM when malloc fails (then, and after any
 * earlier failure, the content is unchanged). */
int buf_add(struct buf *b, const void *p, size_t n);
/* buf_adds: appends a C string. */
int buf_adds(struct buf *b, const char *s);
/* buf_addc: appends one byte. */
int buf_addc(struct buf *b, char c);
/* buf_addf: appends printf-formatted text. */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* buf_error: the first failure since the buffer was initialised or reset. */
LEADD_MUST_CHECK int buf_error(const struct buf *b);
/* buf_str: the content as a C string; "" when empty (never NULL). */
const char *buf_str(const struct buf *b);
/* buf_reset: empties the buffer and clears its error, keeping its memory
 * and cap. */
void buf_reset(struct buf *b);
/* buf_release: frees the memory; the buffer may be reused as if from buf_init. */
void buf_release(struct buf *b);
/* buf_detach: hands the content to the caller (free() it) and empties the
 * buffer. Returns an allocated "" when the buffer was empty, NULL on ENOMEM. */
char *buf_detach(struct buf *b);

#endif
