/* seed.h: `leadd seed`: make N synthetic leads through the same path
 * submissions take (validation, scoring, the writer's group commit), for
 * benchmarks on a large database. utm_source cycles over ten values
 * (src0..src9), so one of them matches a tenth of the leads. */
#ifndef LEADD_SEED_H
#define LEADD_SEED_H

#include "leadd/config.h"
#include "leadd/store.h"

#define SEED_INFLIGHT 4096 /* jobs handed to the writer at once */

LEADD_MUST_CHECK int seed_run(const struct config *cfg, struct store *st, const struct form *f,
                              long long count);

#endif
