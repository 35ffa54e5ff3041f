/* test_net.c: prefixes and the client address behind trusted proxies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "leadd/net.h"

static void t_forwarded_client(void **state)
{
    (void)state;
    struct cidr proxies[2];
    assert_int_equal(cidr_parse("10.0.0.0/8", 10, &proxies[0]), 0);
    assert_int_equal(cidr_parse("::1", 3, &proxies[1]), 0);
    static const struct {
        const char *peer, *xff, *want;
    } rows[] = {
        {"10.1.2.3", NULL, "10.1.2.3"},                         /* no header */
        {"203.0.113.9", "198.51.100.1", "203.0.113.9"},         /* untrusted peer: ignored */
        {"10.1.2.3", "198.51.100.1", "198.51.100.1"},           /* one hop */
        {"10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"},  /* left of the client: forged */
        {"10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"}, /* through two proxies */
        {"::1", "2001:db8::7", "2001:db8::7"},
        {"10.1.2.3", "garbage", "10.1.2.3"},
        {"10.1.2.3", "198.51.100.1, garbage", "10.1.2.3"},
        {"10.1.2.3", ", ,198.51.100.1", "198.51.100.1"},
        {"10.1.2.3", "10.7.7.7", "10.7.7.7"}, /* only proxies: the leftmost */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[NET_MAX_ADDR];
        net_forwarded_client(rows[i].peer, rows[i].xff, proxies, 2, out);
        if (strcmp(out, rows[i].want))
            fail_msg("peer %s xff '%s': %s, want %s", rows[i].peer, rows[i].xff ? rows[i].xff : "",
                     out, rows[i].want);
    }
}

static void t_cidr(void **state)
{
    (void)state;
    struct cidr c;
    static const char *const bad[] = {"", "10.0.0.0/33", "::/129", "host", "10.0.0.0/x", "1.2.3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cidr_parse(bad[i], strlen(bad[i]), &c), LEADD_EINVAL);
    assert_int_equal(cidr_parse("192.168.0.0/23", 14, &c), 0);
    assert_true(cidr_match(&c, 1, "192.168.1.200"));
    assert_false(cidr_match(&c, 1, "192.168.2.1"));
    assert_false(cidr_match(&c, 1, "::ffff:192.168.1.1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(t_forwarded_client),
                                       cmocka_unit_test(t_cidr)};
    return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
