/* test_util.c: SHA-256 and HMAC vectors, ULIDs, RFC 3339, the JSON writer,
 * UTF-8 checks and capped buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "leadd/buf.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"
#include "leadd/strutil.h"
#include "leadd/ulid.h"

static void t_ulid_monotonic(void **state)
{
    (void)state;
    struct ulid_gen g;
    char prev[ULID_LEN + 1] = "", id[ULID_LEN + 1];
    ulid_gen_init(&g);
    uint64_t t = 1795421055006ULL;
    for (int i = 0; i < 100000; i++) {
        /* the same millisecond many times, and a clock that steps back */
        uint64_t now = t + (uint64_t)(i / 1000) - (i % 7 == 0 ? 5 : 0);
        ulid_next(&g, now, id);
        assert_true(ulid_valid(id));
        if (strcmp(id, prev) <= 0)
            fail_msg("not increasing: %s then %s", prev, id);
        memcpy(prev, id, sizeof(id));
    }
    ulid_next(&g, t + 1000, id);
    assert_true(ulid_time_ms(id) >= t + 100);
    /* The random part is random: two generators in the same millisecond (and
     * each after its first 256 random bytes are spent) do not agree. */
    struct ulid_gen g1, g2;
    char a[ULID_LEN + 1], b[ULID_LEN + 1];
    ulid_gen_init(&g1);
    ulid_gen_init(&g2);
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 100; k++) {
            ulid_next(&g1, t + 5000 + (uint64_t)i * 1000 + (uint64_t)k, a);
            ulid_next(&g2, t + 5000 + (uint64_t)i * 1000 + (uint64_t)k, b);
        }
        assert_string_not_equal(a, b);
    }
    assert_false(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAVX"));
    assert_false(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAU")); /* U is not Crockford */
    assert_true(ulid_valid("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
    assert_int_equal(ulid_time_ms("01ARYZ6S41TSV4RRFFQ69G5FAV"),
                     1469918176385ULL); /* the ULID spec example */
}

static void t_rfc3339(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } rows[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"2026-11-23T08:04:15.006Z", 0, 1795421055006LL},
        {"2026-11-23T09:04:15.006+01:00", 0, 1795421055006LL},
        {"2026-11-23T08:04:15.0069Z", 0, 1795421055006LL},
        {"2000-02-29T12:00:00-00:30", 0, 951827400000LL},
        {"2026-11-23", LEADD_EINVAL, 0},
        {"2026-13-01T00:00:00Z", LEADD_EINVAL, 0},
        {"2026-11-23T08:04:15", LEADD_EINVAL, 0},
        {"2026-11-23T08:04:15Zjunk", LEADD_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t ms = -1;
        assert_int_equal(rfc3339_parse(rows[i].in, &ms), rows[i].rc);
        if (!rows[i].rc && ms != rows[i].ms)
            fail_msg("row %zu '%s': %lld", i, rows[i].in, (long long)ms);
    }
    char out[32];
    rfc3339_ms(1795421055006ULL, out);
    assert_string_equal(out, "2026-11-23T08:04:15.006Z");
    /* Against the C library, a day and some odd seconds at a time from 1970 to
     * 2200: leap years, centuries (2000 leaps, 2100 does not), month ends. */
    for (uint64_t ms = 0; ms < 7258118400000ULL; ms += 86400000ULL + 3601007ULL) {
        char want[40], secs[32];
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(want, sizeof(want), "%s.%03uZ", secs, (unsigned)(ms % 1000));
        rfc3339_ms(ms, out);
        if (strcmp(out, want))
            fail_msg("%llu: %s, want %s", (unsigned long long)ms, out, want);
        int64_t back = -1;
        assert_int_equal(rfc3339_parse(out, &back), 0);
        assert_int_equal(back, (int64_t)ms);
    }
}

static void t_json_writer(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"plain", "\"plain\""},
        {"q\"b\\s/", "\"q\\\"b\\\\s/\""},
        {"\n\r\t\x01\x1f", "\"\\n\\r\\t\\u0001\\u001f\""},
        {"\xc3\xa9\xe2\x82\xac", "\"\xc3\xa9\xe2\x82\xac\""},
        {"bad\xff!", "\"bad\xef\xbf\xbd!\""},
        {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* a surrogate: not UTF-8 */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct buf b = BUF_INIT(1024);
        assert_int_equal(jw_str(&b, rows[i].in), 0);
        assert_string_equal(buf_str(&b), rows[i].out);
        buf_release(&b);
    }
    struct buf b = BUF_INIT(1024);
    assert_int_equal(jw_num(&b, 0.1), 0);
    assert_int_equal(buf_addc(&b, ' '), 0);
    assert_int_equal(jw_num(&b, 25000), 0);
    assert_int_equal(buf_addc(&b, ' '), 0);
    assert_int_equal(jw_num(&b, 1.0 / 3.0), 0);
    assert_string_equal(buf_str(&b), "0.1 25000 0.33333333333333331");
    buf_release(&b);
    static const long long ints[] = {0, 7, -1, 10, -100000000, LLONG_MAX, LLONG_MIN};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        char want[32];
        snprintf(want, sizeof(want), "%lld", ints[i]);
        b = (struct buf)BUF_INIT(1024);
        assert_int_equal(jw_int(&b, ints[i]), 0);
        assert_string_equal(buf_str(&b), want);
        buf_release(&b);
    }
    /* members: escaped values, NULL as null, a comma before each but a first */
    const struct jw_str_member m[] = {{"a", "x\"y"}, {"b", NULL}, {"c", ""}};
    b = (struct buf)BUF_INIT(1024);
    assert_int_equal(jw_strs(&b, m, 3, true), 0);
    assert_int_equal(jw_strs(&b, m, 1, false), 0);
    assert_int_equal(jw_strs(&b, m, 0, false), 0);
    assert_string_equal(buf_str(&b), "\"a\":\"x\\\"y\",\"b\":null,\"c\":\"\",\"a\":\"x\\\"y\"");
    buf_release(&b);
}

static void t_buf_cap(void **state)
{
    (void)state;
    struct buf b = BUF_INIT(10);
    assert_int_equal(buf_adds(&b, "0123456789"), 0);
    assert_int_equal(buf_addc(&b, 'x'), LEADD_ETOOBIG);
    assert_string_equal(buf_str(&b), "0123456789");
    assert_int_equal(buf_addf(&b, "%d", 1), LEADD_ETOOBIG);
    buf_release(&b);
    assert_string_equal(buf_str(&b), "");
}

static void t_utf8(void **state)
{
    (void)state;
    assert_true(utf8_valid("h\xc3\xa9llo", 6));
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(utf8_valid("a\0b", 3));
    assert_int_equal(utf8_chars("\xc3\xa9\xe2\x82\xac"
                                "a",
                                6),
                     3);
    assert_int_equal(utf8_clip("\xc3\xa9\xc3\xa9", 4, 3), 2);
}

/* hex_decode reads back what crypto_hex writes, and nothing else. */
static void t_hex_decode(void **state)
{
    (void)state;
    unsigned char out[3];
    assert_int_equal(hex_decode("00fFa9", 6, out, 3), 0);
    assert_int_equal(out[0], 0x00);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(out[2], 0xa9);
    assert_int_equal(hex_decode("00ff", 4, out, 3), LEADD_EINVAL);   /* too short */
    assert_int_equal(hex_decode("00fgff", 6, out, 3), LEADD_EINVAL); /* not hex */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_ulid_monotonic), cmocka_unit_test(t_rfc3339),
        cmocka_unit_test(t_json_writer),    cmocka_unit_test(t_buf_cap),
        cmocka_unit_test(t_utf8),           cmocka_unit_test(t_hex_decode),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
