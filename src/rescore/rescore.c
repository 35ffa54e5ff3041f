/* rescore.c: see rescore.h. Stored leads are read back as submissions (their
 * stored JSON through intake's own JSON body parser), so the very validation
 * and scoring code of intake judges them again. */
#include <stdlib.h>
#include <string.h>

#include "leadd/body.h"
#include "leadd/forward.h"
#include "leadd/log.h"
#include "leadd/rescore.h"
#include "leadd/score.h"
#include "leadd/strutil.h"

_Static_assert(STORE_MAX_DELIVERIES >= CONFIG_MAX_WEBHOOKS, "a lead may go to every webhook");

#define RESCORE_BATCH 500

struct ctx {
    const struct config *cfg;
    struct store *st;
    struct store_rescore batch[RESCORE_BATCH];
    size_t n;
    struct rescore_stats *stats;
};

static int flush(struct ctx *c)
{
    size_t queued = 0;
    int rc = c->n ? store_apply_rescores(c->st, c->batch, c->n, &queued) : 0;
    c->stats->queued += queued;
    for (size_t i = 0; i < c->n; i++)
        free(c->batch[i].reasons);
    c->n = 0;
    return rc;
}

/* The stored lead as the submission it came from: its fields, then its
 * attribution. LEADD_EDB when the stored JSON does not parse. */
static int resubmit(const struct stored_lead *sl, struct submission *sub)
{
    char err[128];
    int rc = body_parse_json(sl->fields, sl->fields_len, sub, err, sizeof(err));
    rc = rc ? rc : body_parse_json(sl->attribution, sl->attribution_len, sub, err, sizeof(err));
    if (rc == LEADD_EINVAL)
        log_error("rescore: lead %s: stored JSON does not parse: %s", sl->id, err);
    return rc == LEADD_EINVAL ? LEADD_EDB : rc;
}

int rescore_rebuild(const struct config *cfg, const struct stored_lead *sl, struct lead *out)
{
    struct submission sub = {0};
    struct lead_errors *e = malloc(sizeof(*e));
    const struct form *f = config_form(cfg, sl->form, strlen(sl->form));
    int rc = LEADD_ENOMEM;
    if (!e)
        return rc;
    rc = LEADD_ENOTFOUND; /* its form is gone from the config */
    if (!f || (rc = resubmit(sl, &sub)))
        goto out;
    rc = lead_build(out, f, &sub, &cfg->disposable_default, e);
    if (rc == LEADD_EINVAL)
        /* The form's fields changed so that this lead no longer validates. */
        log_warn("lead %s no longer validates against [form.%s] (%s: %s)", sl->id, f->id,
                 e->v[0].field, e->v[0].code);
    if (rc)
        goto out;
    out->flags = sl->flags; /* flags are facts of the submission, not of the rules */
    int st = sl->status ? str_index(sl->status, lead_status_names, LEAD_STATUS_COUNT) : -1;
    out->status = lead_status_names[st >= 0 ? st : LEAD_STATUS_NEW];
    rc = score_lead(out);
    if (rc)
        lead_release(out);
out:
    submission_release(&sub);
    free(e);
    return rc;
}

void rescore_plan(const struct config *cfg, const struct lead *l, bool duplicate,
                  struct store_delivery *out, size_t *n)
{
    struct store_delivery plan[CONFIG_MAX_WEBHOOKS];
    size_t np = 0;
    *n = 0;
    if (duplicate)
        return; /* duplicates are never forwarded */
    forward_plan(cfg, l, plan, &np);
    for (size_t i = 0; i < np; i++) {
        /* "all" sends each lead once, when it arrives: never later */
        const struct webhook *w = config_webhook(cfg, plan[i].webhook);
        if (w && w->when != WEBHOOK_WHEN_ALL)
            out[(*n)++] = plan[i];
    }
}

static int one(const struct stored_lead *sl, void *arg)
{
    struct ctx *c = arg;
    struct lead l;
    c->stats->seen++;
    int rc = rescore_rebuild(c->cfg, sl, &l);
    if (rc == LEADD_ENOTFOUND || rc == LEADD_EINVAL) {
        c->stats->skipped++; /* kept as it is rather than guessed */
        return 0;
    }
    if (rc)
        return rc;
    struct store_rescore *r = &c->batch[c->n];
    struct buf reasons = BUF_INIT(1 << 20);
    if ((rc = lead_reasons_json(&l, &reasons))) {
        buf_release(&reasons);
        lead_release(&l);
        return rc;
    }
    memset(r, 0, sizeof(*r));
    memcpy(r->id, sl->id, ULID_LEN);
    r->score = l.score;
    r->grade = l.grade;
    r->qualified = l.qualified && !sl->duplicate;
    r->reasons = buf_detach(&reasons);
    c->stats->newly_qualified += r->qualified && !sl->qualified;
    /* Every target it is eligible for now; the store skips those it has. */
    rescore_plan(c->cfg, &l, sl->duplicate, r->deliveries, &r->ndeliveries);
    c->stats->changed += r->qualified != sl->qualified;
    lead_release(&l);
    if (!r->reasons)
        return LEADD_ENOMEM;
    if (++c->n == RESCORE_BATCH)
        rc = flush(c);
    return rc;
}

int rescore_run(const struct config *cfg, struct store *st, const char *form,
                struct rescore_stats *out)
{
    struct ctx *c = calloc(1, sizeof(*c));
    memset(out, 0, sizeof(*out));
    if (!c)
        return LEADD_ENOMEM;
    c->cfg = cfg;
    c->st = st;
    c->stats = out;
    int rc = store_each_lead(st, form, one, c);
    int frc = flush(c);
    free(c);
    return rc ? rc : frc;
}
