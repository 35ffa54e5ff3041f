/* record.c: see record.h. */
#include <stdlib.h>
#include <string.h>

#include "leadd/record.h"

void lead_record_init(struct lead_record *rec)
{
    for (int i = 0; i < REC_N; i++)
        buf_init(&rec->json[i], RECORD_MAX_JSON);
}

void lead_record_release(struct lead_record *rec)
{
    for (int i = 0; i < REC_N; i++)
        buf_release(&rec->json[i]);
    free(rec->consents);
    rec->consents = NULL;
}

/* The consents l gives: each consent field ticked, with the wording the form
 * shows beside it (consent_text, else the field's label, else its name). */
static int consents(struct lead_record *rec, const struct lead *l, struct store_lead *out)
{
    const struct form *f = l->form;
    free(rec->consents);
    rec->consents = NULL;
    out->consents = NULL;
    out->nconsents = 0;
    for (size_t i = 0; i < f->nfields; i++) {
        const struct field_spec *fs = &f->fields[i];
        if (fs->type != FT_CONSENT || l->vals[i].kind != VAL_BOOL || !l->vals[i].b)
            continue;
        if (!rec->consents && !(rec->consents = calloc(f->nfields, sizeof(*rec->consents))))
            return LEADD_ENOMEM;
        struct store_consent *c = &rec->consents[out->nconsents++];
        c->field = fs->name;
        c->text = f->consent_text ? f->consent_text : fs->label ? fs->label : fs->name;
        if (crypto_sha256_hex(c->text, c->text_hash))
            return LEADD_ENOMEM;
    }
    out->consents = rec->consents;
    return 0;
}

static const char *text(const struct value *v)
{
    return v && v->kind == VAL_STR ? v->s : NULL;
}

int lead_record_fill(struct lead_record *rec, const struct lead *l, struct store_lead *out)
{
    for (int i = 0; i < REC_N; i++)
        buf_reset(&rec->json[i]);
    int rc = lead_fields_json(l, &rec->json[REC_FIELDS]);
    rc = rc ? rc : lead_extra_json(l, &rec->json[REC_EXTRA]);
    rc = rc ? rc : lead_attr_json(l, &rec->json[REC_ATTR]);
    rc = rc ? rc : lead_client_json(l, &rec->json[REC_CLIENT]);
    rc = rc ? rc : lead_reasons_json(l, &rec->json[REC_REASONS]);
    if (rc)
        return rc;
    out->form = l->form->id;
    out->email = lead_email(l);
    out->name = text(lead_value(l, "name"));
    out->company = text(lead_value(l, "company"));
    out->fields = buf_str(&rec->json[REC_FIELDS]);
    out->extra = buf_str(&rec->json[REC_EXTRA]);
    out->attribution = buf_str(&rec->json[REC_ATTR]);
    out->client = buf_str(&rec->json[REC_CLIENT]);
    out->score_reasons = buf_str(&rec->json[REC_REASONS]);
    out->utm_source = l->attr[ATTR_UTM_SOURCE];
    out->utm_medium = l->attr[ATTR_UTM_MEDIUM];
    out->utm_campaign = l->attr[ATTR_UTM_CAMPAIGN];
    out->flags = l->flags;
    out->score = l->score;
    out->grade = l->grade;
    out->qualified = l->qualified;
    out->dedupe_window_ms = l->form->dedupe_window_hours * 3600 * 1000;
    out->ip = l->ip;
    out->user_agent = l->user_agent;
    out->page = l->attr[ATTR_LANDING_PAGE] ? l->attr[ATTR_LANDING_PAGE] : l->attr[ATTR_REFERRER];
    return consents(rec, l, out);
}
