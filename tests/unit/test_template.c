/* test_template.c: the template engine: typed values, interpolation, absent
 * values left out, filters, form encoding, text, and bad templates with
 * their line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "leadd/template.h"

static const char LEAD[] =
    "{\"id\":\"01ARYZ6S41TSV4RRFFQ69G5FAV\",\"form\":\"contact\",\"created_at\":"
    "\"2026-11-24T10:00:00.000Z\",\"status\":\"new\",\"fields\":{\"email\":\"ada@example.com\","
    "\"name\":\"Ada King Lovelace\",\"company\":\"Analytical\",\"budget\":20000,\"consent\":true},"
    "\"extra\":{\"ref\":\"x\"},\"attribution\":{\"utm_source\":\"google\"},\"client\":{},\"score\":"
    "75,\"grade\":\"hot\",\"qualified\":true,\"score_reasons\":[{\"rule\":\"has_company\","
    "\"points\":20}],\"flags\":[],\"duplicate_of\":null}";

static const struct template_var VARS[] = {{"oid", "00D123"}, {"empty", ""}};

static char *render(enum template_kind kind, const char *tpl, const char *public_url)
{
    struct template *t;
    char err[512];
    if (template_compile(&t, kind, tpl, strlen(tpl), "t.json", VARS, 2, err, sizeof(err)))
        fail_msg("compile: %s", err);
    struct buf b = BUF_INIT(1 << 20);
    struct template_ctx c = {LEAD, strlen(LEAD), public_url, VARS, 2, NULL, NULL, NULL};
    assert_int_equal(template_render(t, &c, &b), 0);
    template_free(&t);
    assert_null(t);
    return buf_detach(&b);
}

static void t_json(void **state)
{
    (void)state;
    static const struct {
        const char *tpl, *want;
    } rows[] = {
        /* typed values */
        {"{\"s\":\"{{score}}\",\"q\":\"{{qualified}}\",\"r\":\"{{score_reasons}}\"}",
         "{\"s\":75,\"q\":true,\"r\":[{\"rule\":\"has_company\",\"points\":20}]}"},
        {"{\"b\":\"{{ fields.budget }}\",\"c\":\"{{fields.consent}}\"}",
         "{\"b\":20000,\"c\":true}"},
        /* interpolation */
        {"{\"t\":\"{{fields.name}} ({{fields.company}}), score {{score}}\"}",
         "{\"t\":\"Ada King Lovelace (Analytical), score 75\"}"},
        /* absent: member left out; in text: empty */
        {"{\"p\":\"{{fields.phone}}\",\"d\":\"{{duplicate_of}}\",\"x\":1,\"t\":\"[{{fields.phone}}]"
         "\"}",
         "{\"x\":1,\"t\":\"[]\"}"},
        {"[\"{{fields.phone}}\",\"{{form}}\"]", "[\"contact\"]"},
        /* filters */
        {"{\"f\":\"{{fields.name | first_name}}\",\"l\":\"{{fields.name|last_name}}\"}",
         "{\"f\":\"Ada\",\"l\":\"King Lovelace\"}"},
        {"{\"f\":\"{{form | first_name}}\",\"l\":\"{{form | last_name}}\"}",
         "{\"f\":\"\",\"l\":\"contact\"}"},
        {"{\"u\":\"{{grade | upper}}\",\"l\":\"{{fields.company | lower}}\"}",
         "{\"u\":\"HOT\",\"l\":\"analytical\"}"},
        {"{\"d\":\"{{fields.phone | default:\\\"n/a | none\\\"}}\",\"e\":\"{{var.empty | "
         "default:\\\"-\\\"}}\",\"k\":\"{{form | default:\\\"x\\\"}}\"}",
         "{\"d\":\"n/a | none\",\"e\":\"-\",\"k\":\"contact\"}"},
        /* paths of every kind */
        {"{\"v\":\"{{var.oid}}\",\"a\":\"{{attribution.utm_source}}\",\"e\":\"{{extra.ref}}\","
         "\"i\":\"{{id}}\"}",
         "{\"v\":\"00D123\",\"a\":\"google\",\"e\":\"x\",\"i\":\"01ARYZ6S41TSV4RRFFQ69G5FAV\"}"},
        {"{\"url\":\"{{url}}\"}", "{\"url\":\"https://leads.example.com/app/leads/"
                                  "01ARYZ6S41TSV4RRFFQ69G5FAV\"}"},
        /* fallbacks to another path, and the email's local part */
        {"{\"l\":\"{{fields.phone | last_name | else:fields.email | local_part}}\","
         "\"m\":\"{{fields.name | last_name | else:fields.email | local_part}}\"}",
         "{\"l\":\"ada\",\"m\":\"King Lovelace\"}"},
        {"{\"r\":\"{{reasons_text}}\"}", "{\"r\":\"has_company +20\"}"},
        {"{\"f\":\"{{fields_text}}\"}",
         "{\"f\":\"email: ada@example.com\\nname: Ada King Lovelace\\ncompany: Analytical\\n"
         "budget: 20000\\nconsent: true\\n\"}"},
        /* text that only looks like a placeholder is kept */
        {"{\"t\":\"{ {score} }\",\"n\":null,\"z\":[1,2]}",
         "{\"t\":\"{ {score} }\",\"n\":null,\"z\":[1,2]}"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = render(TEMPLATE_JSON, rows[i].tpl, "https://leads.example.com/");
        if (strcmp(got, rows[i].want))
            fail_msg("row %zu: %s\n  want %s", i, got, rows[i].want);
        free(got);
    }
    char *got = render(TEMPLATE_JSON, "{\"url\":\"{{url}}\",\"k\":1}", "");
    assert_string_equal(got, "{\"k\":1}"); /* no public_url: no link */
    free(got);
}

static void t_form_and_text(void **state)
{
    (void)state;
    char *got = render(TEMPLATE_FORM,
                       "{\"oid\":\"{{var.oid}}\",\"first_name\":\"{{fields.name | first_name}}\","
                       "\"phone\":\"{{fields.phone}}\",\"company\":\"{{fields.company}} & Co\","
                       "\"description\":\"Score {{score}}: {{score_reasons}}\"}",
                       NULL);
    assert_string_equal(got, "oid=00D123&first_name=Ada&company=Analytical+%26+Co&description="
                             "Score+75%3A+%5B%7B%22rule%22%3A%22has_company%22%2C%22points%22%3A"
                             "20%7D%5D");
    free(got);
    got = render(TEMPLATE_TEXT, "Subject: {{fields.name}}\n\nScore {{score}}{{fields.phone}}.\n",
                 NULL);
    assert_string_equal(got, "Subject: Ada King Lovelace\n\nScore 75.\n");
    free(got);
}

/* A value on the Subject line stays on it, whole; below it, as it is. */
static void t_subject_line(void **state)
{
    (void)state;
    static const char lead[] = "{\"fields\":{\"name\":\"Eve\\r\\nBcc: x@evil.example\\u001b!\"}}";
    static const char tpl[] = "Subject: Hot lead: {{fields.name}} (x)\n\n{{fields.name}}\n";
    struct template *t;
    char err[512];
    assert_int_equal(
        template_compile(&t, TEMPLATE_TEXT, tpl, strlen(tpl), "t.txt", NULL, 0, err, sizeof(err)),
        0);
    struct buf b = BUF_INIT(4096);
    struct template_ctx c = {lead, strlen(lead), "", NULL, 0, NULL, NULL, NULL};
    assert_int_equal(template_render(t, &c, &b), 0);
    assert_string_equal(buf_str(&b), "Subject: Hot lead: Eve  Bcc: x@evil.example ! (x)\n\n"
                                     "Eve\r\nBcc: x@evil.example\x1b!\n");
    buf_release(&b);
    template_free(&t);
}

static void t_bad_templates(void **state)
{
    (void)state;
    static const struct {
        enum template_kind kind;
        const char *tpl, *want;
    } rows[] = {
        {TEMPLATE_JSON, "{\n\"a\": 1,\n\"b\": \"{{fields.x | shout}}\"\n}",
         "t.json:3: unknown filter 'shout'"},
        {TEMPLATE_JSON, "{\n\n\"a\": \"{{nope}}\"}", "t.json:3: unknown path 'nope'"},
        {TEMPLATE_JSON, "{\"a\": \"{{var.missing}}\"}", "t.json:1: 'var.missing' names no var."},
        {TEMPLATE_JSON, "{\"a\": 1,\n\"a\": 2}", "t.json:2: not JSON"},
        {TEMPLATE_JSON, "{\"a\": \n", "t.json:2: not JSON"},
        {TEMPLATE_JSON, "{\"a\": \"{{score\"}", "'{{' without '}}'"},
        {TEMPLATE_JSON, "{\"a\": \"{{fields.x | default:nope}}\"}", "default needs quoted text"},
        {TEMPLATE_JSON, "{\"a\": \"{{ }}\"}", "empty or over-long path"},
        {TEMPLATE_JSON, "{\"a\": \"{{form | else:nowhere}}\"}", "unknown path 'nowhere'"},
        {TEMPLATE_JSON, "{\"a\": \"{{form | else:}}\"}", "else needs a path"},
        {TEMPLATE_FORM, "{\"a\": {\"b\": 1}}", "flat object"},
        {TEMPLATE_FORM, "[1]", "flat object"},
        {TEMPLATE_TEXT, "Hi\n{{fields.name | wave}}", "t.json:2: unknown filter"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct template *t = NULL;
        char err[512] = "";
        int rc = template_compile(&t, rows[i].kind, rows[i].tpl, strlen(rows[i].tpl), "t.json",
                                  VARS, 2, err, sizeof(err));
        if (rc != LEADD_EINVAL || !strstr(err, rows[i].want))
            fail_msg("row %zu: rc %d, '%s', want '%s'", i, rc, err, rows[i].want);
        assert_null(t);
    }
}

static void t_json_path(void **state)
{
    (void)state;
    const char *r = "{\"results\":[{\"id\":\"551\",\"n\":7}],\"x\":{\"y\":1.5}}";
    char out[64];
    assert_int_equal(template_json_path(r, strlen(r), "results.0.id", out, sizeof(out)), 0);
    assert_string_equal(out, "551");
    assert_int_equal(template_json_path(r, strlen(r), "results.0.n", out, sizeof(out)), 0);
    assert_string_equal(out, "7");
    assert_int_equal(template_json_path(r, strlen(r), "results.1.id", out, sizeof(out)),
                     LEADD_ENOTFOUND);
    assert_int_equal(template_json_path(r, strlen(r), "results", out, sizeof(out)),
                     LEADD_ENOTFOUND);
    assert_int_equal(template_json_path("<html>", 6, "id", out, sizeof(out)), LEADD_EINVAL);
}

/* Values are escaped for the target's markup (after their filters), unless
 * raw; JSON's own escaping stays. */
static void t_escape(void **state)
{
    (void)state;
    static const char lead[] = "{\"fields\":{\"name\":\"<!channel> <https://e.example|Open> & "
                               "\\\"x'\"},\"score\":7}";
    static const struct {
        enum template_escape esc;
        const char *tpl, *want;
    } rows[] = {
        {TEMPLATE_ESC_SLACK, "{\"text\":\"Lead: {{fields.name}} ({{score}})\"}",
         "{\"text\":\"Lead: &lt;!channel&gt; &lt;https://e.example|Open&gt; &amp; \\\"x' (7)\"}"},
        {TEMPLATE_ESC_SLACK, "{\"n\":\"{{fields.name | upper}}\",\"s\":\"{{score}}\"}",
         "{\"n\":\"&lt;!CHANNEL&gt; &lt;HTTPS://E.EXAMPLE|OPEN&gt; &amp; \\\"X'\",\"s\":7}"},
        {TEMPLATE_ESC_SLACK, "{\"n\":\"{{fields.name | raw}}\"}",
         "{\"n\":\"<!channel> <https://e.example|Open> & \\\"x'\"}"},
        {TEMPLATE_ESC_HTML, "{\"h\":\"<b>{{fields.name}}</b>\"}",
         "{\"h\":\"<b>&lt;!channel&gt; &lt;https://e.example|Open&gt; &amp; &quot;x&#39;</b>\"}"},
        {TEMPLATE_ESC_NONE, "{\"n\":\"{{fields.name}}\"}",
         "{\"n\":\"<!channel> <https://e.example|Open> & \\\"x'\"}"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct template *t;
        char err[512];
        if (template_compile(&t, TEMPLATE_JSON, rows[i].tpl, strlen(rows[i].tpl), "t.json", NULL, 0,
                             err, sizeof(err)))
            fail_msg("compile: %s", err);
        template_set_escape(t, rows[i].esc);
        struct buf b = BUF_INIT(1 << 16);
        struct template_ctx c = {lead, strlen(lead), "", NULL, 0, NULL, NULL, NULL};
        assert_int_equal(template_render(t, &c, &b), 0);
        if (strcmp(buf_str(&b), rows[i].want))
            fail_msg("row %zu: %s", i, buf_str(&b));
        buf_release(&b);
        template_free(&t);
    }
}

/* The ad platforms' identifiers: hashed, digits alone, Unix seconds; and an
 * array's element whose every placeholder is empty left out whole. */
static void t_platform_filters(void **state)
{
    (void)state;
    char *got = render(TEMPLATE_JSON,
                       "{\"em\":\"{{fields.email | lower | sha256}}\","
                       "\"ph\":\"{{fields.phone | digits | sha256}}\","
                       "\"t\":\"{{created_at | unix}}\",\"d\":\"{{var.oid | digits}}\","
                       "\"f\":[{\"name\":\"email\",\"value\":\"{{fields.email}}\"},"
                       "{\"name\":\"phone\",\"value\":\"{{fields.phone}}\"},{\"k\":1}]}",
                       NULL);
    /* sha256("ada@example.com"); no phone: no ph, and no phone element */
    assert_string_equal(
        got, "{\"em\":\"b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72\","
             "\"t\":1795514400,\"d\":\"00123\",\"f\":[{\"name\":\"email\",\"value\":"
             "\"ada@example.com\"},{\"k\":1}]}");
    free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_json),
        cmocka_unit_test(t_form_and_text),
        cmocka_unit_test(t_subject_line),
        cmocka_unit_test(t_bad_templates),
        cmocka_unit_test(t_json_path),
        cmocka_unit_test(t_escape),
        cmocka_unit_test(t_platform_filters),
    };
    return cmocka_run_group_tests_name("template", tests, NULL, NULL);
}
