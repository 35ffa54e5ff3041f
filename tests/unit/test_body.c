/* test_body.c: the JSON, urlencoded and multipart parsers, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "leadd/body.h"

/* Renders a submission as "name=value(kind);..." for comparison. */
static void render(const struct submission *s, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->n && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s=%s(%d);", s->in[i].name, s->in[i].val,
                              s->in[i].kind);
}

static void t_kinds(void **state)
{
    (void)state;
    char b[BODY_MAX_BOUNDARY + 1];
    assert_int_equal(body_kind_of("application/json", b), BODY_JSON);
    assert_int_equal(body_kind_of("Application/JSON; charset=utf-8", b), BODY_JSON);
    assert_int_equal(body_kind_of("application/x-www-form-urlencoded", b), BODY_URLENCODED);
    assert_int_equal(body_kind_of("multipart/form-data; boundary=abc", b), BODY_MULTIPART);
    assert_string_equal(b, "abc");
    assert_int_equal(body_kind_of("multipart/form-data; charset=x; boundary=\"q r\"", b),
                     BODY_MULTIPART);
    assert_string_equal(b, "q r");
    assert_int_equal(body_kind_of("multipart/form-data", b), BODY_UNSUPPORTED);
    assert_int_equal(body_kind_of("text/plain", b), BODY_UNSUPPORTED);
    assert_int_equal(body_kind_of(NULL, b), BODY_UNSUPPORTED);
    assert_int_equal(body_kind_of("application/jsonx", b), BODY_UNSUPPORTED);
}

static void t_json(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        const char *out;
    } rows[] = {
        {"{\"a\":\"x\",\"n\":12,\"r\":2.5,\"t\":true,\"f\":false,\"z\":null,\"o\":{},\"l\":[1]}", 0,
         "a=x(0);n=12(1);r=2.5(1);t=true(2);f=false(2);z=(3);o=(4);l=(4);"},
        {"{}", 0, ""},
        {"{\"u\":\"\\u00e9\"}", 0, "u=\xc3\xa9(0);"},
        {"[]", LEADD_EINVAL, ""},
        {"\"s\"", LEADD_EINVAL, ""},
        {"{\"a\":", LEADD_EINVAL, ""},
        {"", LEADD_EINVAL, ""},
        {"{\"a\":1} trailing", LEADD_EINVAL, ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct submission s = {0};
        char err[256], out[1024];
        assert_int_equal(body_parse_json(rows[i].in, strlen(rows[i].in), &s, err, sizeof(err)),
                         rows[i].rc);
        render(&s, out, sizeof(out));
        if (!rows[i].rc)
            assert_string_equal(out, rows[i].out);
        submission_release(&s);
    }
    /* A NUL inside a string is refused in the client's terms, not jansson's. */
    static const char nul[] = "{\"email\":\"a\\u0000b@x.io\"}";
    struct submission s = {0};
    char err[256];
    assert_int_equal(body_parse_json(nul, strlen(nul), &s, err, sizeof(err)), LEADD_EINVAL);
    assert_non_null(strstr(err, "a string holds \\u0000 (a NUL character), which is not accepted"));
    assert_null(strstr(err, "JSON_ALLOW_NUL"));
    submission_release(&s);
}

static void t_urlencoded(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"a=1&b=two+words&c=%41%62", "a=1(0);b=two words(0);c=Ab(0);"},
        {"a=&=x&&b", "a=(0);b=(0);"},
        {"bad=%zz%4", "bad=%zz%4(0);"},
        {"e=%C3%A9", "e=\xc3\xa9(0);"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct submission s = {0};
        char err[256], out[1024];
        assert_int_equal(
            body_parse_urlencoded(rows[i].in, strlen(rows[i].in), &s, err, sizeof(err)), 0);
        render(&s, out, sizeof(out));
        assert_string_equal(out, rows[i].out);
        submission_release(&s);
    }
}

static void t_multipart(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        const char *out;
    } rows[] = {
        {"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--B\r\n"
         "Content-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\nContent-Type: "
         "text/plain\r\n\r\nhi\r\n--B--\r\n",
         0, "a=1(0);f=hi(5);"},
        {"preamble\r\n--B\r\ncontent-disposition: form-data; name=b\r\n\r\nline1\r\nline2\r\n--B--",
         0, "b=line1\r\nline2(0);"},
        {"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--", LEADD_EINVAL, ""},
        {"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", LEADD_EINVAL, ""},
        {"no boundary at all", LEADD_EINVAL, ""},
        {"--B\r\nContent-Disposition: form-data; name=\"a\"", LEADD_EINVAL, ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct submission s = {0};
        char err[256], out[1024];
        int rc = body_parse_multipart(rows[i].in, strlen(rows[i].in), "B", &s, err, sizeof(err));
        if (rc != rows[i].rc)
            fail_msg("row %zu: rc %d", i, rc);
        render(&s, out, sizeof(out));
        if (!rc)
            assert_string_equal(out, rows[i].out);
        submission_release(&s);
    }
}

static void t_input_cap(void **state)
{
    (void)state;
    struct submission s = {0};
    char err[64];
    char body[4096];
    size_t n = 0;
    for (int i = 0; i < LEAD_MAX_INPUTS + 5; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "k%d=v&", i);
    assert_int_equal(body_parse_urlencoded(body, n, &s, err, sizeof(err)), 0);
    assert_int_equal(s.n, LEAD_MAX_INPUTS);
    assert_true(s.too_many);
    submission_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_kinds),      cmocka_unit_test(t_json),
        cmocka_unit_test(t_urlencoded), cmocka_unit_test(t_multipart),
        cmocka_unit_test(t_input_cap),
    };
    return cmocka_run_group_tests_name("body", tests, NULL, NULL);
}
