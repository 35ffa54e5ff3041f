/* strmap.c: see strmap.h. Open addressing, FNV-1a (strutil.h), linear probing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "leadd/strmap.h"
#include "leadd/strutil.h"

static int grow(struct strmap *m)
{
    size_t n = m->nslot ? m->nslot * 2 : 256;
    size_t *slot = calloc(n, sizeof(*slot));
    if (!slot)
        return LEADD_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = fnv1a(FNV1A_SEED, m->keys[i], strlen(m->keys[i])) & (n - 1);
        while (slot[j])
            j = (j + 1) & (n - 1);
        slot[j] = i + 1;
    }
    free(m->slot);
    m->slot = slot;
    m->nslot = n;
    return 0;
}

long strmap_index(struct strmap *m, const char *s, size_t len, bool *added)
{
    *added = false;
    if ((m->n + 1) * 2 > m->nslot && grow(m))
        return LEADD_ENOMEM;
    size_t j = fnv1a(FNV1A_SEED, s, len) & (m->nslot - 1);
    for (; m->slot[j]; j = (j + 1) & (m->nslot - 1)) {
        const char *k = m->keys[m->slot[j] - 1];
        if (!strncmp(k, s, len) && !k[len])
            return (long)(m->slot[j] - 1);
    }
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 64;
        char **v = realloc(m->keys, ncap * sizeof(*v));
        if (!v)
            return LEADD_ENOMEM;
        m->keys = v;
        m->cap = ncap;
    }
    if (!(m->keys[m->n] = str_dupn(s, len)))
        return LEADD_ENOMEM;
    m->slot[j] = ++m->n;
    *added = true;
    return (long)(m->n - 1);
}

const char *strmap_key(const struct strmap *m, size_t i)
{
    return m->keys[i];
}

void strmap_release(struct strmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->slot);
    memset(m, 0, sizeof(*m));
}
