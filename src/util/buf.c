/* buf.c: capped growable buffers; see buf.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/buf.h"

void buf_init(struct buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
    b->err = 0;
}

static int grow(struct buf *b, size_t need)
{
    if (need > b->max || need + 1 < need)
        return LEADD_ETOOBIG;
    if (need + 1 <= b->alloc)
        return 0;
    size_t a = b->alloc ? b->alloc : 64;
    while (a < need + 1)
        a *= 2;
    if (a > b->max + 1)
        a = b->max + 1;
    char *p = realloc(b->ptr, a);
    if (!p)
        return LEADD_ENOMEM;
    b->ptr = p;
    b->alloc = a;
    return 0;
}

/* Keeps the first failure. */
static int fail(struct buf *b, int rc)
{
    if (!b->err)
        b->err = rc;
    return b->err;
}

int buf_error(const struct buf *b)
{
    return b->err;
}

int buf_add(struct buf *b, const void *p, size_t n)
{
    int rc = b->err ? b->err : grow(b, b->len + n);
    if (rc)
        return fail(b, rc);
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
    return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = b->err ? 0 : vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (b->err)
        return b->err;
    if (n < 0)
        return fail(b, LEADD_EINVAL);
    int rc = grow(b, b->len + (size_t)n);
    if (rc)
        return fail(b, rc);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vaddf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_str(const struct buf *b)
{
    return b->ptr ? b->ptr : "";
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

void buf_release(struct buf *b)
{
    free(b->ptr);
    buf_init(b, b->max);
}

char *buf_detach(struct buf *b)
{
    char *p = b->ptr ? b->ptr : strdup("");
    buf_init(b, b->max);
    return p;
}
