/* strset.c: sorted string sets; see strset.h. */
#include <stdlib.h>
#include <string.h>

#include "leadd/strset.h"
#include "leadd/strutil.h"

int strset_add(struct strset *s, const char *str, size_t len)
{
    if (s->n == s->alloc) {
        size_t a = s->alloc ? s->alloc * 2 : 8;
        char **v = realloc(s->v, a * sizeof(*v));
        if (!v)
            return LEADD_ENOMEM;
        s->v = v;
        s->alloc = a;
    }
    if (!(s->v[s->n] = str_dupn(str, len)))
        return LEADD_ENOMEM;
    s->n++;
    return 0;
}

int strset_add_words(struct strset *s, const char *text)
{
    const char *p = text;
    while (*p) {
        p += strspn(p, " \t,\r\n");
        size_t n = strcspn(p, " \t,\r\n");
        if (n) {
            int rc = strset_add(s, p, n);
            if (rc)
                return rc;
        }
        p += n;
    }
    return 0;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strset_finish(struct strset *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof(*s->v), cmp);
    size_t w = 1;
    for (size_t i = 1; i < s->n; i++) {
        if (strcmp(s->v[i], s->v[w - 1]))
            s->v[w++] = s->v[i];
        else
            free(s->v[i]);
    }
    s->n = w;
}

bool strset_has(const struct strset *s, const char *str)
{
    return s->n && bsearch(&str, s->v, s->n, sizeof(*s->v), cmp) != NULL;
}

bool strset_hasn(const struct strset *s, const char *str, size_t len)
{
    char tmp[256];
    if (len >= sizeof(tmp))
        return false;
    memcpy(tmp, str, len);
    tmp[len] = '\0';
    return strset_has(s, tmp);
}

void strset_release(struct strset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}
