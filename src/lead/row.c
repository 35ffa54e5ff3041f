/* row.c: a stored lead as the API and the webhook payloads show it. The
 * store reads the rows (struct lead_row); this is the one place that knows
 * the wire's shape. Built with buf_add()/jw_*() rather than one buf_addf():
 * a page of fifty leads spent a fifth of its time in vsnprintf copying the
 * stored JSON through. */
#include "leadd/jsonw.h"
#include "leadd/lead.h"
#include "leadd/money.h"

static void text(struct buf *b, const char *name, struct lead_text t)
{
    buf_adds(b, name);
    buf_add(b, t.p ? t.p : "null", t.p ? t.n : 4);
}

static void event(struct buf *b, const struct lead_event *e, bool first)
{
    const struct jw_str_member m[] = {{"at", e->at},
                                      {"status", e->status},
                                      {"note", e->note},
                                      {"by", e->by},
                                      {"owner", e->owner}};
    buf_adds(b, first ? "{" : ",{");
    jw_strs(b, m, LEADD_ARRAY_LEN(m), true);
    buf_adds(b, e->spam < 0 ? ",\"spam\":null" : e->spam ? ",\"spam\":true" : ",\"spam\":false");
    buf_addc(b, '}');
}

int lead_row_json(const struct lead_row *r, struct buf *b)
{
    const struct jw_str_member head[] = {
        {"id", r->id}, {"form", r->form}, {"created_at", r->created_at}, {"status", r->status}};
    buf_addc(b, '{');
    jw_strs(b, head, LEADD_ARRAY_LEN(head), true);
    text(b, ",\"fields\":", r->fields);
    text(b, ",\"extra\":", r->extra);
    text(b, ",\"attribution\":", r->attribution);
    text(b, ",\"client\":", r->client);
    buf_adds(b, ",\"score\":");
    jw_int(b, r->score);
    buf_adds(b, ",\"grade\":");
    jw_str(b, r->grade);
    buf_adds(b, r->qualified ? ",\"qualified\":true" : ",\"qualified\":false");
    text(b, ",\"score_reasons\":", r->score_reasons);
    buf_adds(b, ",\"flags\":");
    lead_flags_json(r->flags, b);
    buf_adds(b, ",\"duplicate_of\":");
    jw_str(b, r->duplicate_of);
    text(b, ",\"crm_ids\":", r->crm_ids);
    buf_adds(b, ",\"owner\":");
    jw_str(b, r->owner);
    if (r->currency) {
        char value[MONEY_STR];
        money_format(r->value_minor, money_exponent(r->currency), value);
        buf_adds(b, ",\"value\":\"");
        buf_adds(b, value);
        buf_adds(b, "\",\"currency\":");
        jw_str(b, r->currency);
    } else {
        buf_adds(b, ",\"value\":null,\"currency\":null");
    }
    if (r->detail) {
        if (r->read >= 0)
            buf_adds(b, r->read ? ",\"read\":true" : ",\"read\":false");
        /* attempts: what the hardest of its deliveries took (two targets
         * each reached at once is 1, not 2); deliveries: how many targets */
        buf_adds(b, ",\"forwarding\":{\"state\":");
        jw_str(b, r->forwarding);
        buf_adds(b, ",\"deliveries\":");
        jw_int(b, r->deliveries);
        buf_adds(b, ",\"attempts\":");
        jw_int(b, r->attempts);
        buf_adds(b, "},\"history\":[");
        for (size_t i = 0; i < r->nhistory; i++)
            event(b, &r->history[i], !i);
        buf_addc(b, ']');
    }
    buf_addc(b, '}');
    return buf_error(b);
}
