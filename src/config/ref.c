/* ref.c: a config shared by the parts of a running leadd that read it,
 * counted, so a reload can replace it under them (config.h). */
#include <stdatomic.h>
#include <stdlib.h>

#include "leadd/config.h"

struct config_ref {
    struct config *cfg;
    _Atomic int refs;
    bool owned;
};

struct config_ref *config_ref_new(struct config *cfg, bool owned)
{
    struct config_ref *r = calloc(1, sizeof(*r));
    if (r) {
        r->cfg = cfg;
        r->owned = owned;
        atomic_init(&r->refs, 1);
    }
    return r;
}

struct config_ref *config_ref_take(struct config_ref *r)
{
    atomic_fetch_add(&r->refs, 1);
    return r;
}

const struct config *config_ref_cfg(const struct config_ref *r)
{
    return r->cfg;
}

void config_ref_drop(struct config_ref *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    if (r->owned) {
        config_release(r->cfg);
        free(r->cfg);
    }
    free(r);
}
