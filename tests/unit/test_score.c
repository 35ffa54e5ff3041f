/* test_score.c: the scoring-rule parser and evaluator, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "leadd/score.h"

static struct form F;

static int setup(void **state)
{
    (void)state;
    static const char *const specs[][2] = {
        {"email", "email"},  {"company", "text"}, {"budget", "integer"},
        {"message", "text"}, {"price", "number"}, {"news", "bool"},
    };
    char err[256];
    F.id = "t";
    F.nfields = sizeof(specs) / sizeof(specs[0]);
    F.fields = calloc(F.nfields, sizeof(*F.fields));
    for (size_t i = 0; i < F.nfields; i++)
        assert_int_equal(field_spec_parse(&F.fields[i], specs[i][0], specs[i][1], err, sizeof(err)),
                         0);
    F.grade_hot = 60;
    F.grade_warm = 30;
    F.qualify_at = 40;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < F.nfields; i++)
        field_spec_release(&F.fields[i]);
    free(F.fields);
    score_rules_release(&F);
    return 0;
}

/* A lead with email=ann@Sub.Gmail.com, company=Acme Corp, budget=15000,
 * message (45 chars), price=9.5, news=false, utm_source=Google. */
static struct value V[6];
static struct lead L;

static void make_lead(void)
{
    memset(&L, 0, sizeof(L));
    L.form = &F;
    V[0] = (struct value){.kind = VAL_STR, .s = "ann@sub.gmail.com"};
    V[1] = (struct value){.kind = VAL_STR, .s = "Acme Corp"};
    V[2] = (struct value){.kind = VAL_INT, .i = 15000};
    V[3] = (struct value){.kind = VAL_STR, .s = "We need an enterprise plan for 300 people!!"};
    V[4] = (struct value){.kind = VAL_NUM, .d = 9.5};
    V[5] = (struct value){.kind = VAL_BOOL, .b = false};
    L.vals = V;
    L.attr[ATTR_UTM_SOURCE] = "Google";
}

static void t_rules(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool match;
    } rows[] = {
        {"company present => 1", true},
        {"company absent => 1", false},
        {"utm_medium absent => 1", true},
        {"utm_medium present => 1", false},
        {"budget >= 10000 => 1", true},
        {"budget > 15000 => 1", false},
        {"budget < 15001 => 1", true},
        {"budget <= 14999 => 1", false},
        {"budget = 15000 => 1", true},
        {"budget != 15000 => 1", false},
        {"price > 9 => 1", true},
        {"company = acme corp => 1", false}, /* three words: the value is one word */
        {"utm_source = google => 1", true},
        {"utm_source != bing => 1", true},
        {"utm_source in bing google => 1", true},
        {"utm_source in bing yahoo => 1", false},
        {"email domain in gmail.com yahoo.com => 1", true},
        {"email domain in hotmail.com => 1", false},
        {"message length >= 40 => 1", true},
        {"message length < 40 => 1", false},
        {"message contains ENTERPRISE => 1", true},
        {"message contains startup => 1", false},
        {"news = false => 1", true},
        {"news = true => 1", false},
        {"utm_medium = cpc => 1", false}, /* comparisons on an absent field never match */
        {"utm_medium != cpc => 1", false},
        {"budget > 10 => 1", true},
    };
    make_lead();
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char err[256], name[16];
        snprintf(name, sizeof(name), "r%zu", i);
        int rc = score_rule_add(&F, name, rows[i].text, err, sizeof(err));
        if (rows[i].text[0] && strstr(rows[i].text, "acme corp")) {
            assert_int_equal(rc, LEADD_EINVAL);
            continue;
        }
        if (rc)
            fail_msg("row %zu '%s': %s", i, rows[i].text, err);
        const struct rule *r = &F.rules[F.nrules - 1];
        assert_int_equal(score_rule_check(&F, r, err, sizeof(err)), 0);
        if (score_rule_matches(r, &L) != rows[i].match)
            fail_msg("row %zu '%s': expected %s", i, rows[i].text,
                     rows[i].match ? "match" : "no match");
    }
    score_rules_release(&F);
}

static void t_score_grade_qualify(void **state)
{
    (void)state;
    static const char *const rules[][2] = {
        {"has_company", "company present => 20"},
        {"big_budget", "budget >= 10000 => 30"},
        {"free_mail", "email domain in gmail.com yahoo.com => -15"},
        {"paid", "utm_source in google bing => 10"},
    };
    char err[256];
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(score_rule_add(&F, rules[i][0], rules[i][1], err, sizeof(err)), 0);
    static const struct {
        unsigned flags;
        long long budget;
        long long score;
        const char *grade;
        bool qualified;
        size_t nreasons;
    } rows[] = {
        {0, 15000, 45, "warm", true, 4},
        {0, 100, 15, "cold", false, 3},
        {LEAD_FLAG_HONEYPOT, 15000, 45, "warm", false, 4},
        {LEAD_FLAG_TOO_FAST, 15000, 45, "warm", false, 4},
        {LEAD_FLAG_DISPOSABLE, 15000, 45, "warm", true, 4},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        make_lead();
        V[2].i = rows[i].budget;
        L.flags = rows[i].flags;
        assert_int_equal(score_lead(&L), 0);
        assert_int_equal(L.score, rows[i].score);
        assert_string_equal(L.grade, rows[i].grade);
        assert_int_equal(L.qualified, rows[i].qualified);
        assert_int_equal(L.nreasons, rows[i].nreasons);
        struct buf b = BUF_INIT(1024);
        assert_int_equal(lead_reasons_json(&L, &b), 0);
        if (rows[i].nreasons == 4)
            assert_string_equal(buf_str(&b),
                                "[{\"rule\":\"has_company\",\"points\":20},{\"rule\":"
                                "\"big_budget\",\"points\":30},{\"rule\":\"free_mail\","
                                "\"points\":-15},{\"rule\":\"paid\",\"points\":10}]");
        buf_release(&b);
        free(L.reasons);
    }
    assert_string_equal(score_grade(&F, 60), "hot");
    assert_string_equal(score_grade(&F, 59), "warm");
    assert_string_equal(score_grade(&F, 29), "cold");
    score_rules_release(&F);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_rules),
        cmocka_unit_test(t_score_grade_qualify),
    };
    return cmocka_run_group_tests_name("score", tests, setup, teardown);
}
