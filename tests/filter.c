/* filter.c: linked into every test binary. LEADD_TEST_FILTER, a cmocka
 * pattern (* and ? match), runs only the tests whose names match it:
 * `make check T=itest_api:t_assignment` sets it (tests/run.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

__attribute__((constructor)) static void test_filter(void)
{
    const char *f = getenv("LEADD_TEST_FILTER");
    if (f && *f)
        cmocka_set_test_filter(f);
}
