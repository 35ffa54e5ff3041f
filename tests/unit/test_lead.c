/* test_lead.c: every field type, option and normalization rule, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "leadd/jsonw.h"
#include "leadd/lead.h"

static void t_norm_email(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out, *err;
    } rows[] = {
        {"Ann@Example.COM", "ann@example.com", NULL},
        {"a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk", NULL},
        {"x@y.io", "x@y.io", NULL},
        {"plain", NULL, "invalid"},
        {"@example.com", NULL, "invalid"},
        {"a@", NULL, "invalid"},
        {"a@localhost", NULL, "invalid"},
        {"a@example.c", NULL, "invalid"},
        {"a@example.c0m", NULL, "invalid"},
        {"a b@example.com", NULL, "invalid"},
        {"a..b@example.com", NULL, "invalid"},
        {".a@example.com", NULL, "invalid"},
        {"a@-ex.com", NULL, "invalid"},
        {"a@ex..com", NULL, "invalid"},
        {"a@b@example.com", NULL, "invalid"},
        {"\"a\"@example.com", NULL, "invalid"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *out = NULL;
        int rc = norm_email(rows[i].in, strlen(rows[i].in), &out);
        if (rows[i].err) {
            assert_int_equal(rc, !strcmp(rows[i].err, "too_long") ? LEADD_ETOOBIG : LEADD_EINVAL);
            assert_null(out);
        } else {
            if (rc)
                fail_msg("row %zu '%s': %d", i, rows[i].in, rc);
            assert_string_equal(out, rows[i].out);
        }
        free(out);
    }
    /* 254 characters is the limit */
    char longmail[300];
    memset(longmail, 'a', sizeof(longmail));
    memcpy(longmail + 255 - 12, "@example.com", 13);
    char *out = NULL;
    assert_int_equal(norm_email(longmail, strlen(longmail), &out), LEADD_ETOOBIG);
    assert_null(out);
}

static void t_norm_phone(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"+1 (555) 010-9999", "+15550109999"},
        {"+49 151.1234.5678", "+4915112345678"},
        {"030 1234567", "0301234567"},
        {"+123456", NULL},           /* 6 digits */
        {"+1234567", "+1234567"},    /* 7 */
        {"+1234567890123456", NULL}, /* 16 */
        {"555-CALL-NOW", NULL},
        {"++15550109999", NULL},
        {"12 34 56 78 90 12 34 5", "123456789012345"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *out = NULL;
        int rc = norm_phone(rows[i].in, strlen(rows[i].in), &out);
        if (!rows[i].out) {
            if (rc != LEADD_EINVAL)
                fail_msg("row %zu '%s' accepted as '%s'", i, rows[i].in, out);
        } else {
            if (rc)
                fail_msg("row %zu '%s': %d", i, rows[i].in, rc);
            assert_string_equal(out, rows[i].out);
        }
        free(out);
    }
}

static void t_norm_url_and_truth(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out; /* out NULL: invalid */
    } urls[] = {
        {"https://example.com/a?b=c", "https://example.com/a?b=c"},
        {"http://x.io", "http://x.io"},
        {"HTTPS://X.IO", "HTTPS://X.IO"},
        {"ftp://example.com", NULL},
        {"javascript:alert(1)", NULL},
        {"https://", NULL},
        {"https:///path", NULL},
        {"https://a b.com", NULL},
        /* a bare domain, as visitors type it: https:// is added */
        {"bigco.com", "https://bigco.com"},
        {"www.big-co.co.uk/about?x=1", "https://www.big-co.co.uk/about?x=1"},
        {"shop.example.com:8443/a", "https://shop.example.com:8443/a"},
        {"localhost", NULL},
        {"bigco", NULL},
        {"bigco.", NULL},
        {".bigco.com", NULL},
        {"big..co.com", NULL},
        {"-big.com", NULL},
        {"big-.com", NULL},
        {"1.2.3.4", NULL},
        {"bigco.c0m", NULL},
        {"mailto:ann@bigco.com", NULL},
        {"ann@bigco.com", NULL},
        {"bigco.com:80x", NULL},
        {"bigco.com:123456", NULL},
        {"bigco.com/a b", NULL},
        {"data:text/html,x", NULL},
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char *out = NULL;
        int rc = norm_url(urls[i].in, strlen(urls[i].in), &out);
        if ((rc == 0) != (urls[i].out != NULL) || (rc && rc != LEADD_EINVAL) ||
            (out && strcmp(out, urls[i].out)))
            fail_msg("url row %zu '%s': rc %d, '%s'", i, urls[i].in, rc, out ? out : "");
        free(out);
    }
    static const struct {
        const char *in;
        int v;
    } truths[] = {
        {"true", 1}, {"on", 1}, {"1", 1},  {"yes", 1},    {"YES", 1}, {"True", 1}, {"false", 0},
        {"off", 0},  {"0", 0},  {"no", 0}, {"maybe", -1}, {"", -1},   {"2", -1},
    };
    for (size_t i = 0; i < sizeof(truths) / sizeof(truths[0]); i++)
        assert_int_equal(norm_truth(truths[i].in, strlen(truths[i].in)), truths[i].v);
}

/* One form with every type and option. */
static struct form F;

static int setup(void **state)
{
    (void)state;
    static const char *const specs[][2] = {
        {"email", "email required"},
        {"name", "text required min=2 max=5"},
        {"phone", "phone"},
        {"qty", "integer min=1 max=10"},
        {"price", "number min=0.5 max=99.5"},
        {"news", "bool"},
        {"consent", "consent required"},
        {"site", "url max=30"},
        {"plan", "enum(Free|Pro|Team)"},
        {"note", "text"},
        {"optin", "consent"},
    };
    char err[256];
    F.id = "t";
    F.nfields = sizeof(specs) / sizeof(specs[0]);
    F.fields = calloc(F.nfields, sizeof(*F.fields));
    for (size_t i = 0; i < F.nfields; i++) {
        if (field_spec_parse(&F.fields[i], specs[i][0], specs[i][1], err, sizeof(err)))
            fail_msg("%s", err);
    }
    F.honeypot = "_hp";
    F.min_fill_ms = 1000;
    assert_int_equal(strset_add_words(&F.disposable, "trash.io"), 0);
    strset_finish(&F.disposable);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < F.nfields; i++)
        field_spec_release(&F.fields[i]);
    free(F.fields);
    strset_release(&F.disposable);
    return 0;
}

/* Builds a lead from "name=value&..." pairs (JSON kinds: #n number, #b bool, #o object). */
static int build(const char *pairs, struct lead *l, struct lead_errors *e)
{
    struct submission s = {0};
    char *copy = strdup(pairs), *save = NULL;
    for (char *p = strtok_r(copy, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        enum input_kind k = IN_STR;
        *eq = '\0';
        char *v = eq + 1;
        if (v[0] == '#' && v[1] && v[2] == ':') {
            k = v[1] == 'n'   ? IN_NUM
                : v[1] == 'b' ? IN_BOOL
                : v[1] == 'o' ? IN_COMPOSITE
                : v[1] == 'f' ? IN_FILE
                              : IN_NULL;
            v += 3;
        }
        assert_int_equal(submission_add(&s, p, strlen(p), v, strlen(v), k), 0);
    }
    free(copy);
    int rc = lead_build(l, &F, &s, &F.disposable, e);
    submission_release(&s);
    return rc;
}

#define BASE "email=a@b.io&name=Ann&consent=on&"

static void t_field_rules(void **state)
{
    (void)state;
    static const struct {
        const char *pairs;
        const char *field, *code; /* NULL: valid */
        const char *fields_json;  /* expected when valid */
    } rows[] = {
        {BASE "x=", NULL, NULL, "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"consent\":true}"},
        {"email=a@b.io&consent=on", "name", "required", NULL},
        {BASE "name=   ", "name", "required", NULL},
        {BASE "name=A", "name", "too_short", NULL},
        {BASE "name=Annabel", "name", "too_long", NULL},
        {BASE "name=Åsa", NULL, NULL, "{\"email\":\"a@b.io\",\"name\":\"Åsa\",\"consent\":true}"},
        {BASE "name=Åsaéé", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Åsaéé\",\"consent\":true}"},
        {BASE "name=\xff\xfe", "name", "invalid", NULL},
        {BASE "qty=3", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"qty\":3,\"consent\":true}"},
        {BASE "qty=#n:4", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"qty\":4,\"consent\":true}"},
        {BASE "qty=#n:5.0", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"qty\":5,\"consent\":true}"},
        {BASE "qty=2.5", "qty", "invalid", NULL},
        {BASE "qty=0", "qty", "out_of_range", NULL},
        {BASE "qty=11", "qty", "out_of_range", NULL},
        {BASE "qty=ten", "qty", "invalid", NULL},
        {BASE "qty=#b:true", "qty", "invalid", NULL},
        {BASE "price= 9.75 ", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"price\":9.75,\"consent\":true}"},
        {BASE "price=0.1", "price", "out_of_range", NULL},
        {BASE "price=1e400", "price", "invalid", NULL},
        {BASE "price=nan", "price", "invalid", NULL},
        {BASE "news=off", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"news\":false,\"consent\":true}"},
        {BASE "news=#b:true", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"news\":true,\"consent\":true}"},
        {BASE "news=perhaps", "news", "invalid", NULL},
        {"email=a@b.io&name=Ann&consent=no", "consent", "required", NULL},
        {"email=a@b.io&name=Ann&consent=#b:false", "consent", "required", NULL},
        {"email=a@b.io&name=Ann&consent=#b:true", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"consent\":true}"},
        {BASE "optin=no", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"consent\":true,\"optin\":false}"},
        {BASE "site=https://x.io", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"consent\":true,\"site\":\"https://x.io\"}"},
        {BASE "site=https://example.com/a-very-long-path", "site", "too_long", NULL},
        {BASE "site=x.io", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"consent\":true,\"site\":\"https://x.io\"}"},
        {BASE "site=x", "site", "invalid", NULL},
        {BASE "plan=pro", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"consent\":true,\"plan\":\"Pro\"}"},
        {BASE "plan=Enterprise", "plan", "invalid", NULL},
        {BASE "phone=+1 555 0100 999", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"phone\":\"+15550100999\",\"consent\":true}"},
        {BASE "phone=12", "phone", "invalid", NULL},
        {BASE "note=#o:{}", "note", "invalid", NULL},
        {BASE "note=#z:", NULL, NULL, "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"consent\":true}"},
        {BASE "email=Bad", "email", "invalid", NULL},
        {BASE "cv=#f:data", "cv", "invalid", NULL},
        /* last value of a repeated field wins (hidden input + checkbox idiom) */
        {"email=a@b.io&name=Ann&consent=0&consent=on", NULL, NULL,
         "{\"email\":\"a@b.io\",\"name\":\"Ann\",\"consent\":true}"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct lead l;
        struct lead_errors e;
        int rc = build(rows[i].pairs, &l, &e);
        if (rows[i].field) {
            if (rc != LEADD_EINVAL)
                fail_msg("row %zu '%s': accepted", i, rows[i].pairs);
            int found = 0;
            for (size_t k = 0; k < e.n; k++)
                found |= !strcmp(e.v[k].field, rows[i].field) && !strcmp(e.v[k].code, rows[i].code);
            if (!found)
                fail_msg("row %zu '%s': no %s/%s (first: %s/%s)", i, rows[i].pairs, rows[i].field,
                         rows[i].code, e.n ? e.v[0].field : "-", e.n ? e.v[0].code : "-");
        } else {
            if (rc)
                fail_msg("row %zu '%s': rc %d, first error %s/%s", i, rows[i].pairs, rc,
                         e.n ? e.v[0].field : "-", e.n ? e.v[0].code : "-");
            struct buf b = BUF_INIT(65536);
            assert_int_equal(lead_fields_json(&l, &b), 0);
            assert_string_equal(buf_str(&b), rows[i].fields_json);
            buf_release(&b);
            lead_release(&l);
        }
    }
}

static void t_controls_flags_extra_attribution(void **state)
{
    (void)state;
    static const struct {
        const char *pairs;
        unsigned flags;
        const char *extra, *attr;
    } rows[] = {
        {BASE "_hp=", 0, "{}", "{}"},
        {BASE "_hp=x", LEAD_FLAG_HONEYPOT, "{}", "{}"},
        {BASE "_elapsed_ms=999", LEAD_FLAG_TOO_FAST, "{}", "{}"},
        {BASE "_elapsed_ms=1000", 0, "{}", "{}"},
        {BASE "_elapsed_ms=garbage", 0, "{}", "{}"},
        {"email=x@trash.io&name=Ann&consent=on", LEAD_FLAG_DISPOSABLE, "{}", "{}"},
        {"email=x@mx.trash.io&name=Ann&consent=on", LEAD_FLAG_DISPOSABLE, "{}", "{}"},
        {BASE "color=red&n=#n:12&ok=#b:true&_next=/x", 0,
         "{\"color\":\"red\",\"n\":12,\"ok\":true}", "{}"},
        {BASE "utm_source=google&utm_medium=cpc&gclid=abc&landing_page=https://x.io/", 0, "{}",
         "{\"utm_source\":\"google\",\"utm_medium\":\"cpc\",\"gclid\":\"abc\","
         "\"landing_page\":\"https://x.io/\"}"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct lead l;
        struct lead_errors e;
        if (build(rows[i].pairs, &l, &e))
            fail_msg("row %zu '%s' rejected: %s/%s", i, rows[i].pairs, e.v[0].field, e.v[0].code);
        assert_int_equal(l.flags, rows[i].flags);
        struct buf b = BUF_INIT(65536);
        assert_int_equal(lead_extra_json(&l, &b), 0);
        assert_string_equal(buf_str(&b), rows[i].extra);
        buf_reset(&b);
        assert_int_equal(lead_attr_json(&l, &b), 0);
        assert_string_equal(buf_str(&b), rows[i].attr);
        buf_release(&b);
        lead_release(&l);
    }
}

static void t_flags_json(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(256);
    assert_int_equal(
        lead_flags_json(LEAD_FLAG_HONEYPOT | LEAD_FLAG_DUPLICATE | LEAD_FLAG_DISPOSABLE, &b), 0);
    assert_string_equal(buf_str(&b), "[\"honeypot\",\"duplicate\",\"disposable_email\"]");
    buf_release(&b);
}

static void t_field_spec_errors(void **state)
{
    (void)state;
    static const struct {
        const char *name, *spec, *msg;
    } rows[] = {
        {"a", "colour", "unknown type 'colour'"},
        {"a", "", "has no type"},
        {"a", "text maxx=3", "unknown option 'maxx=3'"},
        {"a", "text max=-1", "bad max value"},
        {"a", "text max=abc", "bad max value"},
        {"a", "bool max=3", "does not apply"},
        {"a", "enum()", "enum needs choices"},
        {"a", "enum(a||b)", "enum needs choices"},
        {"a", "integer min=5 max=1", "min is greater than max"},
        {"_a", "text", "bad field name"},
        {"a b", "text", "bad field name"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct field_spec f;
        char err[256] = "";
        assert_int_equal(field_spec_parse(&f, rows[i].name, rows[i].spec, err, sizeof(err)),
                         LEADD_EINVAL);
        if (!strstr(err, rows[i].msg))
            fail_msg("row %zu: '%s' lacks '%s'", i, err, rows[i].msg);
    }
}

/* The widget's token is read from its own field or _captcha (the last one
 * given), never kept with the lead. */
static void t_captcha_token(void **state)
{
    (void)state;
    struct submission s = {0};
    size_t n;
    assert_null(captcha_token(&s, CAPTCHA_TURNSTILE, &n));
    assert_int_equal(submission_add(&s, "h-captcha-response", 18, "h", 1, IN_STR), 0);
    assert_null(captcha_token(&s, CAPTCHA_TURNSTILE, &n)); /* another widget's */
    assert_int_equal(submission_add(&s, "cf-turnstile-response", 21, "", 0, IN_STR), 0);
    assert_null(captcha_token(&s, CAPTCHA_TURNSTILE, &n)); /* empty: none */
    assert_int_equal(submission_add(&s, "cf-turnstile-response", 21, "tok", 3, IN_STR), 0);
    assert_string_equal(captcha_token(&s, CAPTCHA_TURNSTILE, &n), "tok");
    assert_int_equal(n, 3);
    assert_int_equal(submission_add(&s, "_captcha", 8, "any", 3, IN_STR), 0);
    assert_string_equal(captcha_token(&s, CAPTCHA_RECAPTCHA, &n), "any");
    assert_string_equal(captcha_token(&s, CAPTCHA_HCAPTCHA, &n), "any");
    assert_true(captcha_field("g-recaptcha-response"));
    assert_false(captcha_field("email"));
    submission_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_captcha_token), cmocka_unit_test(t_norm_email),
        cmocka_unit_test(t_norm_phone),    cmocka_unit_test(t_norm_url_and_truth),
        cmocka_unit_test(t_field_rules),   cmocka_unit_test(t_controls_flags_extra_attribution),
        cmocka_unit_test(t_flags_json),    cmocka_unit_test(t_field_spec_errors),
    };
    return cmocka_run_group_tests_name("lead", tests, setup, teardown);
}
