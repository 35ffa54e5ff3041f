/* test_openapi.c: the routes the server registers and the paths and methods
 * openapi.yaml describes are the same set, so the two cannot drift. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "leadd/http.h"

#define MAX 128

static void t_routes_match_spec(void **state)
{
    (void)state;
    char spec[MAX][160], path[128] = "";
    size_t nspec = 0;
    FILE *fp = fopen("openapi.yaml", "r");
    assert_non_null(fp);
    char line[4096]; /* a summary may be long */
    bool in_paths = false;
    while (fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strcmp(line, "paths:")) {
            in_paths = true;
            continue;
        }
        if (in_paths && line[0] && line[0] != ' ')
            break; /* the next top-level key */
        /* "  /path:" opens a path; "    get:" names one of its methods. */
        if (in_paths && !strncmp(line, "  /", 3) && line[strlen(line) - 1] == ':') {
            snprintf(path, sizeof(path), "%.*s", (int)strlen(line) - 3, line + 2);
        } else if (in_paths && !strncmp(line, "    ", 4) && line[4] != ' ') {
            static const char *const methods[] = {"get",    "post",    "patch",
                                                  "delete", "options", "put"};
            for (size_t i = 0; i < 6; i++) {
                size_t ml = strlen(methods[i]);
                if (!strncmp(line + 4, methods[i], ml) && line[4 + ml] == ':') {
                    assert_true(nspec < MAX);
                    snprintf(spec[nspec], sizeof(spec[nspec]), "%s %s", methods[i], path);
                    nspec++;
                }
            }
        }
    }
    fclose(fp);
    size_t n = http_route_count();
    assert_int_equal(n, nspec);
    for (size_t i = 0; i < n; i++) {
        char want[160];
        snprintf(want, sizeof(want), "%s %s", http_route_at(i)->method, http_route_at(i)->pattern);
        bool found = false;
        for (size_t k = 0; k < nspec; k++)
            found |= !strcasecmp(spec[k], want);
        if (!found)
            fail_msg("route '%s' is not in openapi.yaml", want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_routes_match_spec)};
    return cmocka_run_group_tests_name("openapi", tests, NULL, NULL);
}
