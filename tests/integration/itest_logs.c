/* itest_logs.c: logs that tools can read: log_format = json writes one JSON
 * object a line with stable keys, every answer carries its X-Request-Id (a
 * trusted proxy's kept, anyone else's replaced), log_level holds back what is
 * below it, and no line holds a lead's email, name or phone, or a key. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void t_json_lines_and_request_ids(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char v[128], id[64];
    h_start(&l, H_BASE_INI, "server.log_format=json", "server.trusted_proxies=127.0.0.1",
            "auth.api_keys=" H_API_KEY, NULL);
    h_req(
        &l, "POST", "/v1/forms/contact/submissions",
        "{\"email\":\"secret.json@example.org\",\"name\":\"Jason Quux\",\"phone\":\"+41446681800\","
        "\"consent\":true}",
        &r, "Content-Type: application/json", "X-Request-Id: edge-7f3a.1", NULL);
    assert_int_equal(r.status, 201);
    assert_true(h_json_str(r.body, "id", id, sizeof(id)));
    assert_string_equal(h_header(&r, "X-Request-Id", v, sizeof(v)), "edge-7f3a.1");
    resp_free(&r);
    /* Not an id we take: replaced by leadd's own. */
    h_req(&l, "GET", "/healthz", NULL, &r, "X-Request-Id: no spaces allowed", NULL);
    assert_non_null(h_header(&r, "X-Request-Id", v, sizeof(v)));
    assert_int_equal(strlen(v), 16);
    assert_true(strspn(v, "0123456789abcdef") == 16);
    resp_free(&r);
    /* Every answer has one, errors included. */
    h_req(&l, "GET", "/nope", NULL, &r, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(h_header(&r, "X-Request-Id", v, sizeof(v)));
    resp_free(&r);
    assert_true(h_wait_log(&l, "\"request_id\":\"edge-7f3a.1\"", 5000));
    /* A reload refused says its problems in the log's format too. */
    char ini[8192], at[400];
    snprintf(ini, sizeof(ini), "%sthreads = many\n", H_BASE_INI);
    h_write_file(&l, "leadd.ini", ini, at, sizeof(at));
    h_signal(&l, SIGHUP);
    assert_true(h_wait_log_n(&l, "reload refused", h_nodes(&l), 10000));
    assert_true(h_wait_log(&l, "threads", 1000));
    assert_int_equal(h_stop(&l), 0);
    char *log = h_log_text(&l);
    size_t lines = 0, requests = 0;
    char *save = NULL;
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        if (!o)
            fail_msg("not JSON: %s", line);
        lines++;
        assert_true(json_is_string(json_object_get(o, "time")));
        assert_true(json_is_string(json_object_get(o, "level")));
        assert_true(json_is_string(json_object_get(o, "msg")));
        if (!strcmp(json_string_value(json_object_get(o, "msg")), "request")) {
            requests++;
            static const char *const keys[] = {"method", "path", "status",
                                               "ms",     "lead", "request_id"};
            for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                if (!json_object_get(o, keys[k]))
                    fail_msg("no '%s' in %s", keys[k], line);
            const char *rid = json_string_value(json_object_get(o, "request_id"));
            if (!strcmp(rid, "edge-7f3a.1")) {
                assert_string_equal(json_string_value(json_object_get(o, "lead")), id);
                assert_int_equal(json_integer_value(json_object_get(o, "status")), 201);
            }
        }
        json_decref(o);
    }
    free(log);
    assert_true(lines >= 5);
    assert_int_equal(requests, 3);
    log = h_log_text(&l);
    assert_null(strstr(log, "secret.json"));
    assert_null(strstr(log, "Jason"));
    assert_null(strstr(log, "41446681800"));
    assert_null(strstr(log, H_API_KEY));
    free(log);
    h_cleanup(&l);
}

static void t_level_and_untrusted_ids(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    char v[128];
    h_start(&l, H_BASE_INI, "server.log_level=warn", NULL);
    /* No trusted proxy: a client cannot choose its request id. */
    h_req(&l, "GET", "/healthz", NULL, &r, "X-Request-Id: chosen-by-client", NULL);
    assert_string_not_equal(h_header(&r, "X-Request-Id", v, sizeof(v)), "chosen-by-client");
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    /* Only the lines tools rely on: up (and where), and stopped. */
    char *log = h_log_text(&l);
    assert_null(strstr(log, "GET /healthz"));
    assert_null(strstr(log, "applied migration"));
    size_t info = 0;
    for (const char *p = log; (p = strstr(p, " info ")); p++)
        info++;
    assert_int_equal(info, h_two_nodes() ? 4 : 2); /* two a node */
    assert_non_null(strstr(log, " info leadd "));
    assert_non_null(strstr(log, " info stopped cleanly"));
    free(log);
    h_cleanup(&l);
}

/* A value from outside carries no control byte into the text log: a path
 * with CR LF cannot forge a line, an ESC cannot reach a terminal. */
static void t_control_bytes_escaped(void **state)
{
    (void)state;
    struct leadd l;
    struct resp r;
    h_start(&l, H_BASE_INI, NULL);
    h_req(&l, "GET",
          "/x%0d%0a2026-12-07T00:00:00.000Z%20info%20signed%20in:%20bob%20(admin)%1b[31m", NULL, &r,
          NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    assert_int_equal(h_stop(&l), 0);
    char *log = h_log_text(&l);
    assert_null(strstr(log, "\n2026-12-07T00:00:00.000Z info signed in"));
    assert_null(strchr(log, '\x1b'));
    assert_null(strchr(log, '\r'));
    assert_non_null(strstr(log, "GET /x\\x0d\\x0a2026-12-07T00:00:00.000Z info signed in: bob "
                                "(admin)\\x1b[31m 404"));
    free(log);
    h_cleanup(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_json_lines_and_request_ids),
        cmocka_unit_test(t_level_and_untrusted_ids),
        cmocka_unit_test(t_control_bytes_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
