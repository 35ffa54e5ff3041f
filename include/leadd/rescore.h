/* rescore.h: `leadd rescore`: recompute the score, grade and qualification of
 * stored leads after the rules changed, and queue forwarding for the leads
 * that newly qualify. Leads keep their spam flags and duplicate status. */
#ifndef LEADD_RESCORE_H
#define LEADD_RESCORE_H

#include <stddef.h>

#include "leadd/config.h"
#include "leadd/store.h"

struct rescore_stats {
    size_t seen, changed, newly_qualified, queued, skipped;
};

/* rescore_run: rescoring of every lead of form `form` (NULL: every form). */
LEADD_MUST_CHECK int rescore_run(const struct config *cfg, struct store *st, const char *form,
                                 struct rescore_stats *out);

#endif
