/* rescore.h: `leadd rescore`: recompute the score, grade and qualification of
 * stored leads after the rules changed, and queue forwarding for the targets
 * each lead is now eligible for (once per target). Leads keep their spam
 * flags, duplicate status and status. The same rebuilding serves the query
 * API when a status change makes a lead eligible for a target. */
#ifndef LEADD_RESCORE_H
#define LEADD_RESCORE_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/config.h"
#include "leadd/store.h"

struct rescore_stats {
    size_t seen, changed, newly_qualified, queued, skipped;
};

/* rescore_rebuild: a stored lead as intake would build and score it under
 * cfg now (its stored flags and status kept). LEADD_ENOTFOUND when its form
 * is gone from cfg, LEADD_EINVAL when it no longer validates (logged). On
 * 0, lead_release() *out. */
LEADD_MUST_CHECK int rescore_rebuild(const struct config *cfg, const struct stored_lead *sl,
                                     struct lead *out);
/* rescore_plan: the deliveries lead l is eligible for now (none for a
 * duplicate; never a when = all target, which gets a lead once on arrival):
 * out holds CONFIG_MAX_WEBHOOKS. The store skips webhooks the lead already
 * has a delivery for. */
void rescore_plan(const struct config *cfg, const struct lead *l, bool duplicate,
                  struct store_delivery *out, size_t *n);

/* rescore_run: rescoring of every lead of form `form` (NULL: every form). */
LEADD_MUST_CHECK int rescore_run(const struct config *cfg, struct store *st, const char *form,
                                 struct rescore_stats *out);

#endif
