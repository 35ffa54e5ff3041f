/* fuzz_template.c: the template compiler on arbitrary text, as a JSON, form
 * and text template, and each template it accepts rendered against a lead;
 * and the same text as a routing condition (a webhook's when, an assign
 * rule) matched against a lead. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "leadd/score.h"
#include "leadd/template.h"

static const char FUZZ_LEAD[] =
    "{\"id\":\"01ARYZ6S41TSV4RRFFQ69G5FAV\",\"form\":\"f\",\"status\":\"new\",\"fields\":"
    "{\"email\":\"a@b.example\",\"name\":\"Ada King\",\"budget\":7},\"extra\":{},\"attribution\":"
    "{\"utm_source\":\"g\"},\"score\":5,\"grade\":\"cold\",\"qualified\":false,\"score_reasons\":"
    "[{\"rule\":\"r\",\"points\":5}],\"flags\":[],\"duplicate_of\":null,\"crm_ids\":{}}";

FUZZ_TARGET(template)
{
    static const struct template_var vars[] = {{"oid", "x"}};
    char err[512];
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (int k = TEMPLATE_JSON; k <= TEMPLATE_TEXT; k++) {
        struct template *t = NULL;
        if (template_compile(&t, (enum template_kind)k, text, size, "fuzz", vars, 1, err,
                             sizeof(err)) == 0) {
            struct buf b = BUF_INIT(1 << 20);
            struct template_ctx c = {
                FUZZ_LEAD, sizeof(FUZZ_LEAD) - 1, "https://x.example", vars,
                1,         "192.0.2.1",           "Landing page",      "2026-11-24T10:00:00.000Z"};
            if (template_render(t, &c, &b) == 0 && k == TEMPLATE_JSON && !b.len)
                abort(); /* a JSON template always renders something */
            buf_release(&b);
            template_free(&t);
        }
    }
    char out[64];
    if (template_json_path(text, size, "results.0.id", out, sizeof(out)) == 0 &&
        !memchr(out, 0, sizeof(out)))
        abort(); /* the answer is always a string */
    struct condition cond;
    if (condition_parse(&cond, text, err, sizeof(err)) == 0) {
        static struct form f = {.id = "f"};
        struct lead l = {.form = &f, .score = 5, .grade = "cold"};
        (void)condition_matches(&cond, &l);
        condition_release(&cond);
    }
    free(text);
    return 0;
}
