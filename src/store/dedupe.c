/* dedupe.c: the writer's window of first leads, in memory, so a lead's
 * duplicate check costs a hash probe instead of a random b-tree page written
 * and read per lead (the email index it replaces made a third of capture's
 * cost on random emails). One entry per (form, email): its latest first lead,
 * the only one that can be inside the window (a lead is first only when the
 * earlier one has left the window). A hit is confirmed against the row, so a
 * hash collision, a rolled-back insert or an erasure is never a duplicate. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "leadd/strutil.h"

#define DEDUPE_MIN 1024

uint64_t dedupe_key(const char *form, const char *email)
{
    uint64_t h = fnv1a(FNV1A_SEED, form, strlen(form));
    h = fnv1a(h ^ 0xff, email, strlen(email));
    return h ? h : 1; /* 0 marks an empty slot */
}

static size_t slot(const struct dedupe *d, uint64_t key)
{
    size_t i = (size_t)(key ^ (key >> 29)) & (d->cap - 1);
    while (d->v[i].key && d->v[i].key != key)
        i = (i + 1) & (d->cap - 1);
    return i;
}

static int grow(struct dedupe *d)
{
    size_t cap = d->cap ? d->cap * 2 : DEDUPE_MIN;
    if (cap > STORE_DEDUPE_MAX)
        return LEADD_EFULL;
    struct dedupe_entry *old = d->v;
    size_t oldcap = d->cap;
    if (!(d->v = calloc(cap, sizeof(*d->v)))) {
        d->v = old;
        return LEADD_ENOMEM;
    }
    d->cap = cap;
    d->n = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key) {
            d->v[slot(d, old[i].key)] = old[i];
            d->n++;
        }
    }
    free(old);
    return 0;
}

const struct dedupe_entry *dedupe_find(const struct dedupe *d, uint64_t key)
{
    if (!d->cap)
        return NULL;
    const struct dedupe_entry *e = &d->v[slot(d, key)];
    return e->key ? e : NULL;
}

int dedupe_put(struct dedupe *d, uint64_t key, long long rowid, long long created_ms)
{
    if (d->n + 1 > d->cap / 2) { /* at most half full: probes stay short */
        int rc = grow(d);
        if (rc)
            return rc;
    }
    struct dedupe_entry *e = &d->v[slot(d, key)];
    d->n += !e->key;
    *e = (struct dedupe_entry){key, rowid, created_ms};
    return 0;
}

void dedupe_expire(struct dedupe *d, long long before_ms)
{
    /* Rebuilt without the old entries: removing in place would break the
     * probe chains of open addressing. */
    struct dedupe keep = {0};
    for (size_t i = 0; i < d->cap; i++) {
        if (d->v[i].key && d->v[i].created_ms >= before_ms &&
            dedupe_put(&keep, d->v[i].key, d->v[i].rowid, d->v[i].created_ms))
            return; /* no memory for the copy: keep the old table */
    }
    dedupe_release(d);
    *d = keep;
}

void dedupe_forget_rowid(struct dedupe *d, long long rowid)
{
    for (size_t i = 0; i < d->cap; i++) {
        if (d->v[i].key && d->v[i].rowid == rowid) {
            /* An entry no row confirms any more: never a match. */
            d->v[i].rowid = 0;
            d->v[i].created_ms = 0;
        }
    }
}

void dedupe_release(struct dedupe *d)
{
    free(d->v);
    memset(d, 0, sizeof(*d));
}
