/* test_fuzz_replay.c: every input in tests/fuzz/corpus/TARGET/ through its
 * fuzz target, under the sanitizers: seeds, and each crash a fuzzer found
 * (saved there once fixed), stay regression tests. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../fuzz/fuzz_body.c"
#include "../fuzz/fuzz_config.c"
#include "../fuzz/fuzz_jsonr.c"
#include "../fuzz/fuzz_rules.c"
#include "../fuzz/fuzz_template.c"

static int replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
    char dir[256], path[512];
    snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", target);
    DIR *d = opendir(dir);
    int n = 0;
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        uint8_t *buf = malloc(1 << 20);
        size_t len = fread(buf, 1, 1 << 20, fp);
        fclose(fp);
        /* An allocation of exactly the input's size: a read past it is an
         * AddressSanitizer finding, as under libFuzzer. */
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        free(buf);
        fn(exact, len);
        free(exact);
        n++;
    }
    closedir(d);
    return n;
}

static void t_body(void **state)
{
    (void)state;
    assert_true(replay("body", fuzz_body) >= 6);
}

static void t_config(void **state)
{
    (void)state;
    assert_true(replay("config", fuzz_config) >= 2);
}

static void t_rules(void **state)
{
    (void)state;
    assert_true(replay("rules", fuzz_rules) >= 5);
}

static void t_template(void **state)
{
    (void)state;
    assert_true(replay("template", fuzz_template) >= 6);
}

static void t_jsonr(void **state)
{
    (void)state;
    assert_true(replay("jsonr", fuzz_jsonr) >= 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_body), cmocka_unit_test(t_config),
                                       cmocka_unit_test(t_rules), cmocka_unit_test(t_jsonr),
                                       cmocka_unit_test(t_template)};
    return cmocka_run_group_tests_name("fuzz-replay", tests, NULL, NULL);
}
