/* test_dedupe.c: the writer's duplicate window: entries survive growth,
 * expire by age, and an erased lead's entry is gone after a rebuild. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "../../src/store/internal.h"

static void t_put_find_grow_expire(void **state)
{
    (void)state;
    struct dedupe d = {0};
    char email[64];
    for (long long i = 0; i < 5000; i++) { /* several doublings */
        snprintf(email, sizeof(email), "p%lld@x.example", i);
        assert_int_equal(dedupe_put(&d, dedupe_key("contact", email), i + 1, 1000 + i), 0);
    }
    assert_int_equal(d.n, 5000);
    assert_true(d.n <= d.cap / 2);
    for (long long i = 0; i < 5000; i++) {
        snprintf(email, sizeof(email), "p%lld@x.example", i);
        const struct dedupe_entry *e = dedupe_find(&d, dedupe_key("contact", email));
        assert_non_null(e);
        assert_int_equal(e->rowid, i + 1);
    }
    /* the key covers the form */
    assert_null(dedupe_find(&d, dedupe_key("newsletter", "p1@x.example")));
    /* a later first lead replaces the entry */
    assert_int_equal(dedupe_put(&d, dedupe_key("contact", "p7@x.example"), 9999, 9000), 0);
    assert_int_equal(d.n, 5000);
    assert_int_equal(dedupe_find(&d, dedupe_key("contact", "p7@x.example"))->rowid, 9999);
    /* expiry by age keeps the young */
    dedupe_expire(&d, 1000 + 4000);
    assert_int_equal(d.n, 1000 + 1); /* 4000..4999, and the replaced p7 */
    assert_null(dedupe_find(&d, dedupe_key("contact", "p3999@x.example")));
    assert_non_null(dedupe_find(&d, dedupe_key("contact", "p4000@x.example")));
    /* an erased lead: neutralised, then gone */
    dedupe_forget_rowid(&d, 4001 + 1);
    dedupe_expire(&d, 1);
    assert_null(dedupe_find(&d, dedupe_key("contact", "p4001@x.example")));
    assert_int_equal(d.n, 1000);
    dedupe_release(&d);
    assert_null(d.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_put_find_grow_expire)};
    return cmocka_run_group_tests_name("dedupe", tests, NULL, NULL);
}
