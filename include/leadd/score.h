/* score.h: explainable lead scoring. A form's `score.NAME = CONDITION => POINTS`
 * lines become rules; a lead's score is the sum of the points of the rules
 * that match, and every match is kept as a reason a salesperson can read.
 *
 * Conditions: FIELD present | FIELD absent | FIELD OP VALUE (OP: = != > >= < <=)
 * | FIELD in V1 V2... | FIELD domain in D1 D2... | FIELD length OP N
 * | FIELD contains WORD. String comparisons ignore ASCII case. A comparison on
 * an absent field never matches. */
#ifndef LEADD_SCORE_H
#define LEADD_SCORE_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/lead.h"

#define SCORE_MAX_RULES 100

enum rule_op {
    RULE_OP_PRESENT,
    RULE_OP_ABSENT,
    RULE_OP_EQ,
    RULE_OP_NE,
    RULE_OP_GT,
    RULE_OP_GE,
    RULE_OP_LT,
    RULE_OP_LE,
    RULE_OP_IN,
    RULE_OP_DOMAIN_IN,
    RULE_OP_CONTAINS,
};

struct rule {
    char *name;
    char *field;
    enum rule_op op;
    bool length; /* compare the value's length in characters */
    char **vals; /* operands as written (lowercased for in/domain/contains) */
    size_t nvals;
    double num; /* the operand as a number, when it is one */
    bool is_num;
    long long points;
    int line; /* where it was written, for later checks; 0 if unknown */
};

/* score_rule_add: parses rule `name` and appends it to f->rules. Returns 0,
 * LEADD_EINVAL with a message in err, or LEADD_ENOMEM. */
LEADD_MUST_CHECK int score_rule_add(struct form *f, const char *name, const char *text, char *err,
                                    size_t errlen);
/* score_rule_check: whether the rule's FIELD is declared in f or is an
 * attribution name (run once every field line has been read). */
LEADD_MUST_CHECK int score_rule_check(const struct form *f, const struct rule *r, char *err,
                                      size_t errlen);
void score_rules_release(struct form *f);

/* A routing condition (a webhook's `when`): conditions in the rules' grammar
 * joined by "and", over the lead's declared fields and attribution and, when
 * no field has the name, its score, grade, form and status. */
struct condition {
    struct rule *v;
    size_t n;
};
/* condition_parse: text into *c (condition_release() it). LEADD_EINVAL with a
 * message in err, or LEADD_ENOMEM; *c is empty then. */
LEADD_MUST_CHECK int condition_parse(struct condition *c, const char *text, char *err,
                                     size_t errlen);
/* condition_matches: whether every part matches the lead. */
bool condition_matches(const struct condition *c, const struct lead *l);
void condition_release(struct condition *c);
/* A form's `assign.NAME = CONDITION => USER...`: a new lead it matches gets
 * one of the users as its owner, round-robin. */
struct assign_rule {
    char *name;
    struct condition cond;
    char **users;
    size_t nusers;
    int line;
    _Atomic unsigned long next; /* the next user's turn */
};
/* assign_rule_add: parses one line and appends it to f->assign. */
LEADD_MUST_CHECK int assign_rule_add(struct form *f, const char *name, const char *text, char *err,
                                     size_t errlen);
void assign_rules_release(struct form *f);
/* assign_owner: the owner the first matching rule gives a scored lead (its
 * turn taken), or NULL. turn (may be NULL) counts the turns where several
 * processes share them: it gives the next number of key ("assign|FORM|RULE")
 * or fails, and then this process counts them itself. */
const char *assign_owner(const struct form *f, const struct lead *l,
                         int (*turn)(const char *key, unsigned long *n, void *arg), void *arg);

/* condition_values_check: whether the values of one test (=, != or in) can
 * be what FIELD holds on form f: a grade hot, warm or cold; a status one of
 * leadd's; an enum field one of its choices; a number field a number. A
 * test that can never match would silently route or score nothing:
 * LEADD_EINVAL with why in err. */
int condition_values_check(const struct form *f, const struct rule *r, char *err, size_t errlen);
/* condition_field_known: whether FIELD names something a lead of form f has. */
bool condition_field_known(const struct form *f, const char *field);

/* score_rule_matches: whether one rule matches a lead. */
bool score_rule_matches(const struct rule *r, const struct lead *l);
/* score_lead: sets l->score, grade, qualified and reasons from l->form's
 * rules. Spam flags (honeypot, too_fast) keep a lead from qualifying. */
LEADD_MUST_CHECK int score_lead(struct lead *l);
/* score_grade: "hot", "warm" or "cold" for a score under a form's grades. */
const char *score_grade(const struct form *f, long long score);

#endif
