/* record.h: a lead as the store keeps it: serialises its JSON parts once and
 * points a struct store_lead at them. Intake (http/) and `leadd seed` both
 * build their writer jobs with it, in the same visible order:
 * lead_build() -> score_lead() -> lead_record_fill() -> forward_plan(). */
#ifndef LEADD_RECORD_H
#define LEADD_RECORD_H

#include "leadd/buf.h"
#include "leadd/lead.h"
#include "leadd/store.h"

#define RECORD_MAX_JSON (256 * 1024) /* one part of one lead */

enum { REC_FIELDS, REC_EXTRA, REC_ATTR, REC_CLIENT, REC_REASONS, REC_N };

struct lead_record {
    struct buf json[REC_N];
    struct store_consent *consents; /* one per consent field given */
};

void lead_record_init(struct lead_record *rec);
void lead_record_release(struct lead_record *rec);
/* lead_record_fill: fills every lead member of *out from a lead already
 * scored (form, email, name, company, JSON parts, attribution columns, flags,
 * score, grade, qualified, dedupe window, consents given with the form's
 * wording, ip, user agent and page); the caller sets the idempotency key,
 * status and deliveries. out borrows from rec and l until the job is
 * done. */
LEADD_MUST_CHECK int lead_record_fill(struct lead_record *rec, const struct lead *l,
                                      struct store_lead *out);

#endif
