/* seed.h: `leadd seed`: make N synthetic leads through the same path
 * submissions take (validation, scoring, the writer's group commit), for
 * benchmarks on a large database, shaped like real traffic: random names
 * and emails, spread evenly over the year before now (oldest first), from 20
 * sources of unequal weight (google the most), 10 campaigns each, 2% spam,
 * 3% duplicates, and the rest 70% new, 15% contacted, 7% converted (each
 * with a deal value) and 8% rejected. The same every run. Call it on a
 * database that has no lead newer than a year ago. */
#ifndef LEADD_SEED_H
#define LEADD_SEED_H

#include "leadd/config.h"
#include "leadd/store.h"

#define SEED_INFLIGHT 4096 /* jobs handed to the writer at once */
#define SEED_SOURCES 20
#define SEED_SPAN_MS (365LL * 24 * 3600 * 1000)

LEADD_MUST_CHECK int seed_run(const struct config *cfg, struct store *st, const struct form *f,
                              long long count);

#endif
