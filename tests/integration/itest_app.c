/* itest_app.c: the inbox app's files as leadd serves them: its page for /app
 * and each of its routes, its assets, and the headers that keep it strict.
 * (What the app does is tested in a real browser: tests/node/inbox.mjs.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void strict(const struct resp *r)
{
    char v[512];
    assert_non_null(h_header(r, "Content-Security-Policy", v, sizeof(v)));
    assert_non_null(strstr(v, "default-src 'self'"));
    assert_non_null(strstr(v, "script-src 'self'"));
    assert_non_null(strstr(v, "frame-ancestors 'none'"));
    assert_null(strstr(v, "unsafe-inline"));
    assert_null(strstr(v, "unsafe-eval"));
    assert_non_null(h_header(r, "X-Content-Type-Options", v, sizeof(v)));
    assert_string_equal(v, "nosniff");
    assert_non_null(h_header(r, "Referrer-Policy", v, sizeof(v)));
    assert_string_equal(v, "same-origin");
}

static void t_page_assets_and_headers(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char v[128];
    h_start(&l, H_BASE_INI, NULL);
    /* The page, for /app and for a route of the app (a reload, a shared link). */
    const char *pages[] = {"/app", "/app/leads/01KAQ3X6Y8R0S9T1V2W3X4Y5Z6", "/app/sources",
                           "/app/spend"};
    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        h_req(&l, "GET", pages[i], NULL, &r, NULL);
        assert_int_equal(r.status, 200);
        assert_non_null(h_header(&r, "Content-Type", v, sizeof(v)));
        assert_string_equal(v, "text/html; charset=utf-8");
        strict(&r);
        assert_non_null(strstr(r.body, "<script src=\"/app/assets/app.js\" defer></script>"));
        assert_null(strstr(r.body, "<script>")); /* nothing inline: the CSP forbids it */
        assert_null(strstr(r.body, "style=\""));
        resp_free(&r);
    }
    h_req(&l, "GET", "/app/assets/app.js", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(h_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/javascript; charset=utf-8");
    strict(&r);
    assert_non_null(strstr(r.body, "new EventSource('/v1/events')"));
    assert_null(strstr(r.body, "innerHTML")); /* leads' text is put on the page as text */
    resp_free(&r);
    /* Chart.js: Debian's libjs-chart.js, embedded at build time */
    h_req(&l, "GET", "/app/assets/chart.min.js", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    strict(&r);
    assert_non_null(strstr(r.body, "Chart.js v3"));
    resp_free(&r);
    h_req(&l, "GET", "/app/assets/app.css", NULL, &r, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(h_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/css; charset=utf-8");
    resp_free(&r);
    /* No other file, and not the page under another name. */
    const char *missing[] = {"/app/assets/index.html", "/app/assets/nope.js",
                             "/app/assets/..%2f..%2fleadd.db"};
    for (size_t i = 0; i < 3; i++) {
        h_req(&l, "GET", missing[i], NULL, &r, NULL);
        assert_int_equal(r.status, 404);
        resp_free(&r);
    }
    /* The app needs no key to load; the data it shows does. */
    h_req(&l, "GET", "/v1/leads", NULL, &r, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_page_assets_and_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
