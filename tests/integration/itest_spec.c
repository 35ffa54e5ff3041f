/* itest_spec.c: a walk over every operation of openapi.yaml, with the error
 * answers the rest of the suite does not reach, so that spec-check.mjs (run
 * last by make test) sees each documented answer the server gives. The
 * assertions here pin the routing rules the spec states: a concrete path wins
 * over a templated one, and 405 names exactly the methods a path takes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char INI_EXTRA[] = "[auth]\napi_keys = " H_API_KEY "\n";

static void expect(struct leadd *l, const char *method, const char *path, const char *body,
                   long status, const char *ctype, bool auth)
{
    struct resp r;
    char v[128];
    if (auth)
        h_api(l, method, path, body, &r);
    else
        h_req(l, method, path, body, &r, "Content-Type: application/json", NULL);
    if (r.status != status)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, r.status, status, r.body);
    if (ctype && (!h_header(&r, "Content-Type", v, sizeof(v)) || strncmp(v, ctype, strlen(ctype))))
        fail_msg("%s %s: Content-Type '%s', want '%s'", method, path, v, ctype);
    resp_free(&r);
}

static void expect_405(struct leadd *l, const char *method, const char *path, const char *allow)
{
    struct resp r;
    char v[128];
    h_api(l, method, path, NULL, &r);
    if (r.status != 405)
        fail_msg("%s %s: %ld, want 405", method, path, r.status);
    if (!h_header(&r, "Allow", v, sizeof(v)) || strcmp(v, allow))
        fail_msg("%s %s: Allow '%s', want '%s'", method, path, v, allow);
    resp_free(&r);
}

static void t_walk(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char ini[8192], id[64], path[256];
    snprintf(ini, sizeof(ini), "%s%s", H_BASE_INI, INI_EXTRA);
    h_start(&l, ini, NULL);

    expect(&l, "GET", "/", NULL, 200, "text/html", false);
    expect(&l, "HEAD", "/", NULL, 200, "text/html", false);
    expect(&l, "GET", "/thanks", NULL, 200, "text/html", false);
    expect(&l, "GET", "/healthz", NULL, 200, "application/json", false);
    expect(&l, "GET", "/readyz", NULL, 200, "application/json", false);
    expect(&l, "GET", "/nope", NULL, 404, "application/problem+json", false);
    expect(&l, "OPTIONS", "/v1/forms/nosuchform/submissions", NULL, 404, "application/problem+json",
           false);

    h_post_json(&l, "contact",
                "{\"email\":\"walk@example.com\",\"name\":\"Walk\",\"consent\":true,"
                "\"company\":\"Walk Co\"}",
                &r);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    resp_free(&r);

    /* A concrete path wins over a templated one: export is not a lead id. */
    expect_405(&l, "PUT", "/v1/leads/export", "GET, HEAD");
    expect_405(&l, "PATCH", "/v1/leads/export", "GET, HEAD");
    expect_405(&l, "DELETE", "/v1/leads/export", "GET, HEAD");
    expect_405(&l, "POST", "/v1/leads", "GET, HEAD");
    expect_405(&l, "PUT", "/v1/leads/01ARYZ6S41TSV4RRFFQ69G5FAV", "GET, HEAD, PATCH, DELETE");
    expect_405(&l, "GET", "/v1/deliveries/1/retry", "POST");

    expect(&l, "GET", "/v1/leads", NULL, 200, "application/json", true);
    expect(&l, "HEAD", "/v1/leads", NULL, 200, "application/json", true);
    expect(&l, "GET", "/v1/leads?grade=tepid", NULL, 400, "application/problem+json", true);
    expect(&l, "GET", "/v1/leads/export?format=ndjson", NULL, 200, "application/x-ndjson", true);
    expect(&l, "GET", "/v1/leads/export?format=csv&form=contact", NULL, 200, "text/csv", true);
    expect(&l, "GET", "/v1/leads/export?format=xml", NULL, 400, "application/problem+json", true);
    snprintf(path, sizeof(path), "/v1/leads/%s", id);
    expect(&l, "GET", path, NULL, 200, "application/json", true);
    expect(&l, "PATCH", path, "{\"status\":\"contacted\",\"note\":\"called\"}", 200,
           "application/json", true);
    expect(&l, "PATCH", path, "{\"status\":\"won\"}", 422, "application/problem+json", true);
    expect(&l, "PATCH", path, "not json", 400, "application/problem+json", true);
    /* A body over max_body_bytes (65536 in the harness's config) */
    char *big = malloc(70000);
    memset(big, ' ', 69999);
    big[0] = '{';
    memcpy(big + 69990, "\"a\":1}", 7);
    expect(&l, "PATCH", path, big, 413, "application/problem+json", true);
    free(big);
    expect(&l, "GET", "/v1/leads/01ARYZ6S41TSV4RRFFQ69G5FAV", NULL, 404, "application/problem+json",
           true);
    expect(&l, "PATCH", "/v1/leads/01ARYZ6S41TSV4RRFFQ69G5FAV", "{\"status\":\"new\"}", 404,
           "application/problem+json", true);
    expect(&l, "GET", "/v1/stats?group_by=utm_source", NULL, 200, "application/json", true);
    expect(&l, "GET", "/v1/stats?group_by=colour", NULL, 400, "application/problem+json", true);
    expect(&l, "GET", "/v1/forms", NULL, 200, "application/json", true);
    expect(&l, "GET", "/v1/deliveries", NULL, 200, "application/json", true);
    expect(&l, "GET", "/v1/deliveries?state=lost", NULL, 400, "application/problem+json", true);
    expect(&l, "POST", "/v1/deliveries/12345/retry", NULL, 404, "application/problem+json", true);
    expect(&l, "GET", "/metrics", NULL, 200, "text/plain", true);
    expect(&l, "GET", "/metrics", NULL, 401, "application/problem+json", false);
    expect(&l, "DELETE", path, NULL, 204, NULL, true);
    expect(&l, "DELETE", path, NULL, 404, "application/problem+json", true);
    assert_int_equal(h_stop(&l), 0);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_walk)};
    return h_run_group_tests_name("spec", tests, NULL, NULL);
}
