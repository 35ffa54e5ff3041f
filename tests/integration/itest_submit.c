/* itest_submit.c: the submission endpoint over real HTTP: statuses, flags,
 * CORS, idempotency, HTML forms, limits, and what reaches the database. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct leadd L;
static int counter;

#define OK_JSON(extra)                                                                             \
    "{\"email\":\"u%d@example.org\",\"name\":\"Ann Lee\",\"consent\":true" extra "}"

static void post_ok(const char *extra_json, struct resp *r, char *id, size_t cap)
{
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"email\":\"u%d@example.org\",\"name\":\"Ann Lee\",\"consent\":true%s}", ++counter,
             extra_json);
    h_post_json(&L, "contact", body, r);
    assert_int_equal(r->status, 201);
    assert_true(h_json_str(r->body, "id", id, cap));
}

static int setup(void **state)
{
    (void)state;
    h_start(&L, H_BASE_INI, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(h_stop(&L), 0); /* clean exit, and no leaks under LSan */
    h_cleanup(&L);
    return 0;
}

static void t_json_stored_normalized_typed(void **state)
{
    (void)state;
    struct resp r;
    char id[64], v[4096];
    h_post_json(&L, "contact",
                "{\"email\":\"  Ann.Lee@Example.COM \",\"name\":\" Ann Lee \",\"company\":\"Acme\","
                "\"phone\":\"+1 (555) 010-9999\",\"budget\":\"25000\",\"consent\":\"on\","
                "\"message\":\"   \",\"utm_source\":\"google\",\"utm_campaign\":\"spring\","
                "\"favourite\":\"blue\",\"_elapsed_ms\":9000}",
                &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    assert_int_equal(strlen(id), 26);
    h_sql_text(&L, v, sizeof(v), "SELECT fields FROM leads WHERE id = %Q", id);
    assert_string_equal(v,
                        "{\"email\":\"ann.lee@example.com\",\"name\":\"Ann Lee\",\"company\":"
                        "\"Acme\",\"phone\":\"+15550109999\",\"budget\":25000,\"consent\":true}");
    h_sql_text(&L, v, sizeof(v), "SELECT extra FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "{\"favourite\":\"blue\"}");
    h_sql_text(&L, v, sizeof(v), "SELECT attribution FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "{\"utm_source\":\"google\",\"utm_campaign\":\"spring\"}");
    h_sql_text(&L, v, sizeof(v),
               "SELECT status || ' ' || form || ' ' || email FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "new contact ann.lee@example.com");
    h_sql_text(&L, v, sizeof(v), "SELECT client FROM leads WHERE id = %Q", id);
    assert_non_null(strstr(v, "\"ip\":\"127.0.0.1\""));
    h_sql_text(&L, v, sizeof(v), "SELECT created_at FROM leads WHERE id = %Q", id);
    assert_int_equal(strlen(v), 24); /* 2026-01-02T03:04:05.678Z */
    assert_int_equal(v[23], 'Z');
    /* scored at intake: company 20 + budget 30 + google 10 */
    assert_int_equal(h_sql_int(&L, "SELECT score FROM leads WHERE id = %Q", id), 60);
    h_sql_text(&L, v, sizeof(v), "SELECT grade || qualified FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "hot1");
    resp_free(&r);
}

static void t_urlencoded_and_multipart(void **state)
{
    (void)state;
    struct resp r;
    char id[64], v[1024];
    h_req(&L, "POST", "/v1/forms/contact/submissions",
          "email=bo%40example.org&name=Bo+Ek&consent=yes&budget=12&utm_medium=cpc", &r,
          "Content-Type: application/x-www-form-urlencoded", NULL);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    h_sql_text(&L, v, sizeof(v), "SELECT fields FROM leads WHERE id = %Q", id);
    assert_string_equal(
        v, "{\"email\":\"bo@example.org\",\"name\":\"Bo Ek\",\"budget\":12,\"consent\":true}");
    resp_free(&r);

    const char *mp =
        "--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\ncy@example.org\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nCy\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"consent\"\r\n\r\ntrue\r\n"
        "--XyZ--\r\n";
    h_req(&L, "POST", "/v1/forms/contact/submissions", mp, &r,
          "Content-Type: multipart/form-data; boundary=XyZ", NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);

    const char *file =
        "--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\ncy@example.org\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"a.pdf\"\r\n"
        "Content-Type: application/pdf\r\n\r\n%PDF\r\n--XyZ--\r\n";
    h_req(&L, "POST", "/v1/forms/contact/submissions", file, &r,
          "Content-Type: multipart/form-data; boundary=XyZ", NULL);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "\"field\":\"cv\""));
    assert_non_null(strstr(r.body, "file uploads"));
    resp_free(&r);
}

static void t_422_lists_every_field(void **state)
{
    (void)state;
    struct resp r;
    char ct[128];
    long long before = h_sql_int(&L, "SELECT count(*) FROM leads");
    h_post_json(&L, "contact",
                "{\"email\":\"not-an-email\",\"phone\":\"12\",\"budget\":-5,\"consent\":false,"
                "\"company\":{\"a\":1}}",
                &r);
    assert_int_equal(r.status, 422);
    assert_string_equal(h_header(&r, "Content-Type", ct, sizeof(ct)), "application/problem+json");
    assert_non_null(strstr(r.body, "\"status\":422"));
    assert_non_null(strstr(r.body, "{\"field\":\"email\",\"code\":\"invalid\""));
    assert_non_null(strstr(r.body, "{\"field\":\"name\",\"code\":\"required\""));
    assert_non_null(strstr(r.body, "{\"field\":\"phone\",\"code\":\"invalid\""));
    assert_non_null(strstr(r.body, "{\"field\":\"budget\",\"code\":\"out_of_range\""));
    assert_non_null(strstr(r.body, "{\"field\":\"consent\",\"code\":\"required\""));
    assert_non_null(strstr(r.body, "{\"field\":\"company\",\"code\":\"invalid\""));
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM leads"), before);
    resp_free(&r);

    char big[6000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "{\"email\":\"a@b.co\",\"name\":\"", 26);
    snprintf(big + 26 + 130, sizeof(big) - 26 - 130, "\",\"consent\":true}");
    h_post_json(&L, "contact", big, &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"field\":\"name\",\"code\":\"too_long\""));
    resp_free(&r);
}

static void t_extra_caps(void **state)
{
    (void)state;
    struct resp r;
    char body[16384];
    int n =
        snprintf(body, sizeof(body), "{\"email\":\"x@example.org\",\"name\":\"X\",\"consent\":1");
    for (int i = 0; i < 51; i++)
        n += snprintf(body + n, sizeof(body) - (size_t)n, ",\"k%d\":\"v\"", i);
    snprintf(body + n, sizeof(body) - (size_t)n, "}");
    h_post_json(&L, "contact", body, &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"field\":\"extra\""));
    resp_free(&r);

    char longv[1200];
    memset(longv, 'y', sizeof(longv));
    longv[sizeof(longv) - 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"email\":\"x@example.org\",\"name\":\"X\",\"consent\":1,\"note\":\"%s\"}", longv);
    h_post_json(&L, "contact", body, &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "{\"field\":\"note\",\"code\":\"too_long\""));
    resp_free(&r);
}

static void t_errors_400_404_405_415(void **state)
{
    (void)state;
    struct resp r;
    char allow[64], ct[64];
    h_post_json(&L, "contact", "{\"email\": ", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(h_header(&r, "Content-Type", ct, sizeof(ct)), "application/problem+json");
    resp_free(&r);
    h_post_json(&L, "contact", "[1,2]", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    h_post_json(&L, "nosuchform", "{}", &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"status\":404"));
    resp_free(&r);
    h_req(&L, "GET", "/v1/forms/contact/submissions", NULL, &r, NULL);
    assert_int_equal(r.status, 405);
    assert_string_equal(h_header(&r, "Allow", allow, sizeof(allow)), "POST, OPTIONS");
    assert_non_null(strstr(r.body, "\"status\":405"));
    resp_free(&r);
    h_req(&L, "POST", "/v1/forms/contact/submissions", "hello", &r, "Content-Type: text/plain",
          NULL);
    assert_int_equal(r.status, 415);
    resp_free(&r);
    h_req(&L, "GET", "/nope", NULL, &r, NULL);
    assert_int_equal(r.status, 404);
    assert_string_equal(h_header(&r, "Content-Type", ct, sizeof(ct)), "application/problem+json");
    resp_free(&r);
}

static void t_pages_and_health(void **state)
{
    (void)state;
    struct resp r;
    h_req(&L, "GET", "/", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(
        strstr(r.body, "<form method=\"post\" action=\"/v1/forms/contact/submissions\">"));
    assert_non_null(strstr(r.body, "name=\"email\""));
    assert_non_null(strstr(r.body, "name=\"_gotcha\""));
    resp_free(&r);
    h_req(&L, "GET", "/thanks", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_req(&L, "GET", "/healthz", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    h_req(&L, "GET", "/readyz", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void t_flags(void **state)
{
    (void)state;
    struct resp r;
    char id[64], first[64], v[256];
    /* honeypot: answered like a good lead, stored flagged, never qualified */
    post_ok(",\"company\":\"A\",\"budget\":50000,\"_gotcha\":\"http://spam\"", &r, id, sizeof(id));
    assert_int_equal(h_sql_int(&L, "SELECT flags FROM leads WHERE id = %Q", id), 1);
    assert_int_equal(h_sql_int(&L, "SELECT qualified FROM leads WHERE id = %Q", id), 0);
    resp_free(&r);
    /* too_fast */
    post_ok(",\"_elapsed_ms\":\"300\"", &r, id, sizeof(id));
    assert_int_equal(h_sql_int(&L, "SELECT flags FROM leads WHERE id = %Q", id), 2);
    resp_free(&r);
    post_ok(",\"_elapsed_ms\":\"3000\"", &r, id, sizeof(id));
    assert_int_equal(h_sql_int(&L, "SELECT flags FROM leads WHERE id = %Q", id), 0);
    resp_free(&r);
    /* disposable */
    h_post_json(&L, "contact", "{\"email\":\"x@mailinator.com\",\"name\":\"X\",\"consent\":true}",
                &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    assert_int_equal(h_sql_int(&L, "SELECT flags FROM leads WHERE id = %Q", id), 8);
    resp_free(&r);
    /* duplicate: same normalized email on the same form */
    h_post_json(&L, "contact", "{\"email\":\"dup@example.org\",\"name\":\"D\",\"consent\":true}",
                &r);
    assert_true(h_json_str(r.body, "id", first, sizeof(first)));
    resp_free(&r);
    h_post_json(&L, "contact", "{\"email\":\" DUP@example.org\",\"name\":\"D\",\"consent\":true}",
                &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    assert_int_equal(h_sql_int(&L, "SELECT flags FROM leads WHERE id = %Q", id), 4);
    h_sql_text(&L, v, sizeof(v), "SELECT duplicate_of FROM leads WHERE id = %Q", id);
    assert_string_equal(v, first);
    assert_true(strcmp(id, first) > 0); /* ids sort in creation order */
    resp_free(&r);
}

static void t_cors(void **state)
{
    (void)state;
    struct resp r;
    char v[256], body[256];
    long long before = h_sql_int(&L, "SELECT count(*) FROM leads");
    snprintf(body, sizeof(body), "{\"email\":\"c%d@example.org\",\"name\":\"C\",\"consent\":true}",
             ++counter);
    h_req(&L, "POST", "/v1/forms/contact/submissions", body, &r, "Content-Type: application/json",
          "Origin: https://evil.example", NULL);
    assert_int_equal(r.status, 403);
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM leads"), before);
    resp_free(&r);
    h_req(&L, "POST", "/v1/forms/contact/submissions", body, &r, "Content-Type: application/json",
          "Origin: https://www.example.com", NULL);
    assert_int_equal(r.status, 201);
    assert_string_equal(h_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)),
                        "https://www.example.com");
    assert_string_equal(h_header(&r, "Vary", v, sizeof(v)), "Origin");
    resp_free(&r);
    h_req(&L, "OPTIONS", "/v1/forms/contact/submissions", NULL, &r,
          "Origin: https://www.example.com", "Access-Control-Request-Method: POST", NULL);
    assert_int_equal(r.status, 204);
    assert_string_equal(h_header(&r, "Access-Control-Allow-Origin", v, sizeof(v)),
                        "https://www.example.com");
    assert_non_null(strstr(h_header(&r, "Access-Control-Allow-Methods", v, sizeof(v)), "POST"));
    assert_string_equal(h_header(&r, "Access-Control-Allow-Headers", v, sizeof(v)),
                        "Content-Type, Idempotency-Key");
    assert_non_null(h_header(&r, "Access-Control-Max-Age", v, sizeof(v)));
    resp_free(&r);
    h_req(&L, "OPTIONS", "/v1/forms/contact/submissions", NULL, &r, "Origin: https://evil.example",
          NULL);
    assert_int_equal(r.status, 403);
    resp_free(&r);
}

static void t_idempotency(void **state)
{
    (void)state;
    struct resp r1, r2, r3;
    char id1[64], id2[64];
    const char *body = "{\"email\":\"idem@example.org\",\"name\":\"I\",\"consent\":true}";
    long long before = h_sql_int(&L, "SELECT count(*) FROM leads");
    h_req(&L, "POST", "/v1/forms/contact/submissions", body, &r1, "Content-Type: application/json",
          "Idempotency-Key: key-123", NULL);
    h_req(&L, "POST", "/v1/forms/contact/submissions", body, &r2, "Content-Type: application/json",
          "Idempotency-Key: key-123", NULL);
    assert_int_equal(r1.status, 201);
    assert_int_equal(r2.status, 201);
    assert_true(h_json_str(r1.body, "id", id1, sizeof(id1)));
    assert_true(h_json_str(r2.body, "id", id2, sizeof(id2)));
    assert_string_equal(id1, id2);
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM leads"), before + 1);
    h_req(&L, "POST", "/v1/forms/contact/submissions",
          "{\"email\":\"other@example.org\",\"name\":\"I\",\"consent\":true}", &r3,
          "Content-Type: application/json", "Idempotency-Key: key-123", NULL);
    assert_int_equal(r3.status, 409);
    assert_int_equal(h_sql_int(&L, "SELECT count(*) FROM leads"), before + 1);
    resp_free(&r1);
    resp_free(&r2);
    resp_free(&r3);
}

static void t_html_form(void **state)
{
    (void)state;
    struct resp r;
    char v[512];
    const char *accept = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    const char *ct = "Content-Type: application/x-www-form-urlencoded";
    h_req(&L, "POST", "/v1/forms/contact/submissions", "email=h1%40example.org&name=H&consent=on",
          &r, ct, accept, NULL);
    assert_int_equal(r.status, 303);
    assert_string_equal(h_header(&r, "Location", v, sizeof(v)), "/thanks");
    resp_free(&r);
    h_req(&L, "POST", "/v1/forms/contact/submissions",
          "email=h2%40example.org&name=H&consent=on&_next=https%3A%2F%2Fwww.example.com%2Fdone", &r,
          ct, accept, NULL);
    assert_int_equal(r.status, 303);
    assert_string_equal(h_header(&r, "Location", v, sizeof(v)), "https://www.example.com/done");
    assert_null(strstr(v, "h2"));
    resp_free(&r);
    /* _next to an origin that is not allowed falls back: no open redirect */
    h_req(&L, "POST", "/v1/forms/contact/submissions",
          "email=h3%40example.org&name=H&consent=on&_next=https%3A%2F%2Fevil.example%2F", &r, ct,
          accept, NULL);
    assert_int_equal(r.status, 303);
    assert_string_equal(h_header(&r, "Location", v, sizeof(v)), "/thanks");
    resp_free(&r);
    h_req(&L, "POST", "/v1/forms/contact/submissions",
          "email=nope&name=Hanna+%3Cb%3E&company=Acme&utm_source=bing", &r, ct, accept, NULL);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(h_header(&r, "Content-Type", v, sizeof(v)), "text/html"));
    assert_non_null(strstr(r.body, "<b>email</b> is not a valid email address"));
    assert_non_null(strstr(r.body, "<b>consent</b>"));
    /* The form again, holding what was typed (escaped), and the campaign of
     * the first post: nothing to retype, nothing lost on resend. */
    assert_non_null(
        strstr(r.body, "<form method=\"post\" action=\"/v1/forms/contact/submissions\">"));
    assert_non_null(strstr(r.body, "name=\"email\" value=\"nope\""));
    assert_non_null(strstr(r.body, "name=\"name\" value=\"Hanna &lt;b&gt;\""));
    assert_non_null(strstr(r.body, "name=\"company\" value=\"Acme\""));
    assert_non_null(strstr(r.body, "<input type=\"hidden\" name=\"utm_source\" value=\"bing\">"));
    /* The re-shown form cannot be framed by another site. */
    assert_string_equal(h_header(&r, "Content-Security-Policy", v, sizeof(v)),
                        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                        "base-uri 'none'; frame-ancestors 'self' https://www.example.com");
    resp_free(&r);
}

/* Every error a browser's plain form post can meet is a page for the
 * visitor, never JSON; an API client still gets problem+json. */
static void t_visitor_pages_for_every_error(void **state)
{
    (void)state;
    struct resp r;
    char v[512];
    const char *accept = "Accept: text/html,application/xhtml+xml,*/*;q=0.8";
    const char *ct = "Content-Type: application/x-www-form-urlencoded";
    static const struct {
        const char *path, *origin, *ctype, *idem;
        size_t body_bytes;
        long status;
        const char *heading;
    } rows[] = {
        {"/v1/forms/contact/submissions", "Origin: https://evil.example", NULL, NULL, 0, 403,
         "This form cannot be sent from this page"},
        {"/v1/forms/nope/submissions", NULL, NULL, NULL, 0, 404, "This form does not exist"},
        {"/v1/forms/contact/submissions", NULL, NULL, NULL, 70000, 413, "Your message is too long"},
        {"/v1/forms/contact/submissions", NULL, "Content-Type: text/plain", NULL, 0, 415,
         "We could not read the form"},
        {"/v1/forms/contact/submissions", NULL, NULL, "Idempotency-Key: \x01", 0, 400,
         "We could not read the form"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *body = calloc(1, rows[i].body_bytes + 64);
        snprintf(body, rows[i].body_bytes + 64, "%s", "email=v%40example.org&name=V&consent=on");
        for (size_t k = strlen(body); k < rows[i].body_bytes; k++)
            body[k] = 'x';
        const char *hs[4] = {rows[i].ctype ? rows[i].ctype : ct, accept, NULL, NULL};
        size_t n = 2;
        if (rows[i].origin)
            hs[n++] = rows[i].origin;
        if (rows[i].idem)
            hs[n++] = rows[i].idem;
        h_req(&L, "POST", rows[i].path, body, &r, hs[0], hs[1], hs[2], hs[3], NULL);
        free(body);
        if (r.status != rows[i].status)
            fail_msg("row %zu: %ld, want %ld", i, r.status, rows[i].status);
        assert_non_null(h_header(&r, "Content-Type", v, sizeof(v)));
        if (!strstr(v, "text/html") || !strstr(r.body, rows[i].heading))
            fail_msg("row %zu: %s: %s", i, v, r.body);
        /* No script runs on it, and only the form's sites may frame it. */
        assert_non_null(h_header(&r, "Content-Security-Policy", v, sizeof(v)));
        assert_non_null(strstr(v, "default-src 'none'"));
        assert_null(strstr(v, "script-src"));
        assert_non_null(strstr(v, i == 1 ? "frame-ancestors 'none'"
                                         : "frame-ancestors 'self' https://www.example.com"));
        resp_free(&r);
    }
    /* The same refusal to an API client: problem+json. */
    h_req(&L, "POST", "/v1/forms/contact/submissions", "email=v%40example.org", &r, ct,
          "Origin: https://evil.example", NULL);
    assert_int_equal(r.status, 403);
    assert_string_equal(h_header(&r, "Content-Type", v, sizeof(v)), "application/problem+json");
    resp_free(&r);
}

/* A visitor's page in the form's words: its labels on the errors, a select
 * with an empty first choice (required catches a skipped one), the consent
 * text a label of its box, and "back" to the landing page the form was on
 * (the Referer a browser sends across sites is only the site's origin). */
static void t_visitor_page_in_the_forms_words(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char ini[8192];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, "consent_text = I agree to be contacted\n");
    h_start(&l, ini, "form.contact.field.size=enum(1-10|11-50) required",
            "form.contact.label.email=Work email", "form.contact.label.size=Team size", NULL);
    h_req(&l, "GET", "/forms/contact", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<select required id=\"size\" name=\"size\"><option "
                                   "value=\"\"></option><option>1-10</option>"));
    assert_non_null(strstr(r.body, "<label class=\"consent\" for=\"consent\">I agree to be "
                                   "contacted</label>"));
    resp_free(&r);
    h_req(&l, "POST", "/v1/forms/contact/submissions",
          "email=nope&name=N&consent=on&size=&landing_page=https%3A%2F%2Fwww.example.com%2Fspring"
          "%3Futm_source%3Dbing",
          &r, "Content-Type: application/x-www-form-urlencoded",
          "Accept: text/html,application/xhtml+xml,*/*;q=0.8", "Referer: https://www.example.com/",
          NULL);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "<b>Work email</b> is not a valid email address"));
    assert_non_null(strstr(r.body, "<b>Team size</b>"));
    assert_null(strstr(r.body, "<b>email</b>"));
    assert_non_null(strstr(r.body, "<a href=\"https://www.example.com/spring?utm_source=bing\">"
                                   "Back to the page you were on</a>"));
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

static void t_attribution_from_headers_and_query(void **state)
{
    (void)state;
    struct resp r;
    char id[64], v[1024];
    h_req(&L, "POST", "/v1/forms/contact/submissions?utm_source=bing&email=leak%40x.org",
          "{\"email\":\"attr@example.org\",\"name\":\"A\",\"consent\":true}", &r,
          "Content-Type: application/json", "Referer: https://www.example.com/landing?x=1",
          "User-Agent: TestAgent/1.0", NULL);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    /* The Referer is the form's own page: the landing page, never the
     * referrer (a direct visit has none). */
    h_sql_text(&L, v, sizeof(v), "SELECT attribution FROM leads WHERE id = %Q", id);
    assert_string_equal(
        v, "{\"utm_source\":\"bing\",\"landing_page\":\"https://www.example.com/landing?x=1\"}");
    h_sql_text(&L, v, sizeof(v), "SELECT client FROM leads WHERE id = %Q", id);
    assert_string_equal(v, "{\"ip\":\"127.0.0.1\",\"user_agent\":\"TestAgent/1.0\"}");
    resp_free(&r);
    /* A plain form post (no JavaScript) from a campaign's landing page: the
     * campaign comes from the landing page's URL; what the post carries wins;
     * the page's own referrer field is kept. */
    h_req(&L, "POST", "/v1/forms/contact/submissions",
          "email=nojs%40example.org&name=N&consent=on&utm_medium=email&referrer=https%3A%2F%2Fnews."
          "example%2F",
          &r, "Content-Type: application/x-www-form-urlencoded",
          "Referer: "
          "https://www.example.com/lp?utm_source=bing&utm_medium=cpc&utm_campaign=spring%20sale"
          "&gclid=abc&x=1#top",
          NULL);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    h_sql_text(&L, v, sizeof(v), "SELECT attribution FROM leads WHERE id = %Q", id);
    assert_string_equal(v,
                        "{\"utm_source\":\"bing\",\"utm_medium\":\"email\","
                        "\"utm_campaign\":\"spring sale\",\"gclid\":\"abc\","
                        "\"referrer\":\"https://news.example/\",\"landing_page\":"
                        "\"https://www.example.com/lp?utm_source=bing&utm_medium=cpc&utm_campaign="
                        "spring%20sale&gclid=abc&x=1#top\"}");
    resp_free(&r);
}

static void t_logs_have_no_personal_data(void **state)
{
    (void)state;
    struct resp r;
    h_post_json(&L, "contact",
                "{\"email\":\"secret.person@example.org\",\"name\":\"Zelda Quux\","
                "\"phone\":\"+4915112345678\",\"consent\":true}",
                &r);
    assert_int_equal(r.status, 201);
    char id[64];
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    assert_true(h_wait_log(&L, id, 5000)); /* the access line carries the id */
    char *log = h_log_text(&L);
    assert_null(strstr(log, "secret.person"));
    assert_null(strstr(log, "Zelda"));
    assert_null(strstr(log, "4915112345678"));
    assert_null(strstr(log, "leak%40x.org")); /* query strings are not logged */
    assert_non_null(strstr(log, "POST /v1/forms/contact/submissions 201"));
    free(log);
    resp_free(&r);
}

struct sender {
    struct leadd *l;
    const char *email;
    struct resp r;
    char id[64];
};

static void *send_one(void *arg)
{
    struct sender *s = arg;
    char body[256];
    snprintf(body, sizeof(body), "{\"email\":\"%s\",\"name\":\"B\",\"consent\":true}", s->email);
    h_post_json(s->l, "contact", body, &s->r);
    return NULL;
}

static bool writer_waits_on_lock(void *arg)
{
    return h_sql_int(arg, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                          " AND datname = current_database()") > 0;
}

/* Several leads in one batch, repeats among them, each finds the same first
 * lead as it would alone: one of an address committed before, the batch's
 * own first of one new to it, none. Where the writer remembers no first
 * leads (PostgreSQL) it asks for a batch's at once, and this is the batch
 * that asks: the writer is held on a lock on leads while the six queue
 * behind it, so they commit together. */
static void t_repeats_in_one_batch(void **state)
{
    (void)state;
    enum { N = 6 };
    static const char *const emails[N] = {"a@example.org", "b@example.org", "c@example.org",
                                          "b@example.org", "a@example.org", "d@example.org"};
    struct leadd l;
    struct resp r;
    struct sender hold, s[N];
    pthread_t held_th, th[N];
    char a1[64], v[64], ini[4096];
    snprintf(ini, sizeof(ini), "%s[auth]\napi_keys = " H_API_KEY "\n", H_BASE_INI); /* /metrics */
    h_start(&l, ini, NULL);
    h_one_node(&l);
    h_post_json(&l, "contact", "{\"email\":\"a@example.org\",\"name\":\"A\",\"consent\":true}", &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", a1, sizeof(a1)));
    resp_free(&r);
    bool held = h_pg();
    if (held) {
        h_sql_exec(&l, "BEGIN");
        h_sql_exec(&l, "LOCK TABLE leads IN SHARE ROW EXCLUSIVE MODE");
        hold = (struct sender){.l = &l, .email = "x@example.org"};
        assert_int_equal(pthread_create(&held_th, NULL, send_one, &hold), 0);
        assert_true(h_wait(writer_waits_on_lock, &l, 30000));
    }
    for (int i = 0; i < N; i++) {
        s[i] = (struct sender){.l = &l, .email = emails[i]};
        assert_int_equal(pthread_create(&th[i], NULL, send_one, &s[i]), 0);
    }
    if (held) {
        assert_true(h_wait_metric(&l, "leadd_writer_queue_depth", N, 30000));
        h_sql_exec(&l, "COMMIT");
        pthread_join(held_th, NULL);
        assert_int_equal(hold.r.status, 201);
        resp_free(&hold.r);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].r.status, 201);
        assert_true(h_json_str(s[i].r.body, "id", s[i].id, sizeof(s[i].id)));
        resp_free(&s[i].r);
    }
    if (held)
        assert_true(h_metric(&l, "leadd_writer_batch_size_max") >= N);
    const char *b_first = NULL;
    int b_firsts = 0;
    for (int i = 0; i < N; i++) {
        h_sql_text(&l, v, sizeof(v), "SELECT coalesce(duplicate_of, '') FROM leads WHERE id = %Q",
                   s[i].id);
        if (emails[i][0] == 'a')
            assert_string_equal(v, a1);
        else if (emails[i][0] != 'b')
            assert_string_equal(v, "");
        else if (!v[0] && ++b_firsts)
            b_first = s[i].id;
    }
    assert_int_equal(b_firsts, 1); /* the batch's own first of b, and the other its repeat */
    for (int i = 0; i < N; i++) {
        if (emails[i][0] == 'b' && s[i].id != b_first) {
            h_sql_text(&l, v, sizeof(v), "SELECT duplicate_of FROM leads WHERE id = %Q", s[i].id);
            assert_string_equal(v, b_first);
        }
    }
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_json_stored_normalized_typed),
        cmocka_unit_test(t_urlencoded_and_multipart),
        cmocka_unit_test(t_422_lists_every_field),
        cmocka_unit_test(t_extra_caps),
        cmocka_unit_test(t_errors_400_404_405_415),
        cmocka_unit_test(t_pages_and_health),
        cmocka_unit_test(t_flags),
        cmocka_unit_test(t_repeats_in_one_batch),
        cmocka_unit_test(t_cors),
        cmocka_unit_test(t_idempotency),
        cmocka_unit_test(t_html_form),
        cmocka_unit_test(t_visitor_pages_for_every_error),
        cmocka_unit_test(t_visitor_page_in_the_forms_words),
        cmocka_unit_test(t_attribution_from_headers_and_query),
        cmocka_unit_test(t_logs_have_no_personal_data),
    };
    return h_run_group_tests_name("submit", tests, setup, teardown);
}
