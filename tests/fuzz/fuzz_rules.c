/* fuzz_rules.c: the scoring-rule parser on arbitrary text, and each rule it
 * accepts evaluated against a lead. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "leadd/score.h"

FUZZ_TARGET(rules)
{
    static struct field_spec fields[3];
    static struct form f;
    static struct value vals[3];
    char err[256];
    if (!f.id) {
        f.id = "fuzz";
        if (field_spec_parse(&fields[0], "email", "email", err, sizeof(err)) ||
            field_spec_parse(&fields[1], "budget", "integer", err, sizeof(err)) ||
            field_spec_parse(&fields[2], "message", "text", err, sizeof(err)))
            abort();
        f.fields = fields;
        f.nfields = 3;
        vals[0] = (struct value){.kind = VAL_STR, .s = "ann@mail.example.com"};
        vals[1] = (struct value){.kind = VAL_INT, .i = 15000};
        vals[2] = (struct value){.kind = VAL_STR, .s = "we need an enterprise plan"};
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (score_rule_add(&f, "r", text, err, sizeof(err)) == 0) {
        struct lead l = {.form = &f, .vals = vals};
        l.attr[ATTR_UTM_SOURCE] = "google";
        if (score_rule_check(&f, &f.rules[0], err, sizeof(err)) == 0)
            (void)score_rule_matches(&f.rules[0], &l);
        if (score_lead(&l) == 0)
            free(l.reasons);
    }
    score_rules_release(&f);
    free(text);
    return 0;
}
