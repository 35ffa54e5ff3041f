/* test_money.c: money without floating point (parsing, formatting, the
 * rounding of quotients, zero divisors) and local days across DST changes,
 * as the rollup's SQL computes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "leadd/calendar.h"
#include "leadd/money.h"

static void t_parse(void **state)
{
    (void)state;
    int64_t m = -1;
    assert_int_equal(money_parse("125.40", 2, &m), 0);
    assert_int_equal(m, 12540);
    assert_int_equal(money_parse("125.4", 2, &m), 0);
    assert_int_equal(m, 12540);
    assert_int_equal(money_parse("12000", 2, &m), 0);
    assert_int_equal(m, 1200000);
    assert_int_equal(money_parse("0.01", 2, &m), 0);
    assert_int_equal(m, 1);
    assert_int_equal(money_parse("5000", 0, &m), 0); /* JPY */
    assert_int_equal(m, 5000);
    assert_int_equal(money_parse("1.234", 3, &m), 0); /* KWD */
    assert_int_equal(m, 1234);
    /* never rounded: more places than the currency has is an error */
    const char *bad[] = {"",
                         ".",
                         "1.",
                         ".5",
                         "1.234",
                         "-1",
                         "+1",
                         "1e3",
                         "1,5",
                         " 1",
                         "1 ",
                         "0x10",
                         "1..2",
                         "1.2.3",
                         "NaN",
                         "10000000000000.00",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (money_parse(bad[i], 2, &m) == 0)
            fail_msg("'%s' parsed as %lld", bad[i], (long long)m);
    }
    assert_int_equal(money_parse("5.5", 0, &m), LEADD_EINVAL); /* JPY has no cents */
    assert_int_equal(money_parse("9999999999999.99", 2, &m), 0);
    assert_int_equal(m, 999999999999999LL);
}

static void t_format(void **state)
{
    (void)state;
    char s[MONEY_STR];
    money_format(12540, 2, s);
    assert_string_equal(s, "125.40");
    money_format(5, 2, s);
    assert_string_equal(s, "0.05");
    money_format(0, 2, s);
    assert_string_equal(s, "0.00");
    money_format(-150, 2, s);
    assert_string_equal(s, "-1.50");
    money_format(5000, 0, s);
    assert_string_equal(s, "5000");
    money_format(1234, 3, s);
    assert_string_equal(s, "1.234");
    money_format(INT64_MIN, 2, s);
    assert_string_equal(s, "-92233720368547758.08");
    assert_int_equal(money_exponent("EUR"), 2);
    assert_int_equal(money_exponent("JPY"), 0);
    assert_int_equal(money_exponent("KWD"), 3);
    assert_true(money_currency_valid("EUR"));
    assert_false(money_currency_valid("eur"));
    assert_false(money_currency_valid("EURO"));
    assert_false(money_currency_valid(""));
    assert_false(money_currency_valid(NULL));
}

static void t_quotients(void **state)
{
    (void)state;
    char s[MONEY_STR];
    /* a cost per lead: 10.00 EUR over 3 leads, rounded half away from zero */
    assert_true(decimal_quotient(1000, 3, 2, 2, s));
    assert_string_equal(s, "3.33");
    assert_true(decimal_quotient(2000, 3, 2, 2, s));
    assert_string_equal(s, "6.67");
    assert_true(decimal_quotient(1, 2, 2, 2, s)); /* 0.005 -> 0.01 */
    assert_string_equal(s, "0.01");
    assert_true(decimal_quotient(-1, 2, 2, 2, s)); /* -0.005 -> -0.01 */
    assert_string_equal(s, "-0.01");
    assert_true(decimal_quotient(-1, 8, 0, 2, s)); /* -0.125 -> -0.13 */
    assert_string_equal(s, "-0.13");
    assert_true(decimal_quotient(-1, 1000, 0, 2, s)); /* rounds to zero: no "-0.00" */
    assert_string_equal(s, "0.00");
    /* rates: converted / valid with four places */
    assert_true(decimal_quotient(1, 3, 0, 4, s));
    assert_string_equal(s, "0.3333");
    assert_true(decimal_quotient(2, 3, 0, 4, s));
    assert_string_equal(s, "0.6667");
    assert_true(decimal_quotient(5, 5, 0, 4, s));
    assert_string_equal(s, "1.0000");
    /* ROI: (revenue - spend) / spend */
    assert_true(decimal_quotient(1200000 - 12540, 12540, 0, 4, s));
    assert_string_equal(s, "94.6938");
    /* zero divisors give no figure, never a division by zero */
    assert_false(decimal_quotient(1000, 0, 2, 2, s));
    assert_string_equal(s, "");
    assert_false(decimal_quotient(0, 0, 0, 4, s));
    /* no overflow at the extremes */
    assert_true(decimal_quotient(INT64_MAX, 1, 0, 8, s));
    assert_string_equal(s, "9223372036854775807.00000000");
    assert_true(decimal_quotient(INT64_MIN, -1, 0, 0, s));
    assert_string_equal(s, "9223372036854775808");
}

/* The local day of a time in ms, in the process's zone, as SQLite gives it
 * (the expression the rollup's view uses). */
static void day_of(sqlite3 *db, long long ms, char out[DAY_LEN + 1])
{
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT " CALENDAR_DAY_SQL("?1"), -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(s, 1, ms);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, DAY_LEN + 1, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

static void t_days(void **state)
{
    (void)state;
    char d[DAY_LEN + 1];
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(calendar_set_zone("UTC"), 0);
    day_of(db, 1795392000000LL, d); /* 2026-11-23T00:00:00Z */
    assert_string_equal(d, "2026-11-23");
    day_of(db, 1795391999999LL, d);
    assert_string_equal(d, "2026-11-22");

    /* Berlin: 2026-03-29 has 23 hours (CET -> CEST at 02:00 local), and
     * 2026-10-25 has 25 (CEST -> CET at 03:00 local). */
    assert_int_equal(calendar_set_zone("Europe/Berlin"), 0);
    const long long mar28_23 = 1774738800000LL; /* 2026-03-28T23:00:00Z = 03-29 00:00 CET */
    day_of(db, mar28_23 - 1, d);
    assert_string_equal(d, "2026-03-28");
    day_of(db, mar28_23, d);
    assert_string_equal(d, "2026-03-29");
    const long long mar29_22 = mar28_23 + 23 * 3600000LL; /* 03-30 00:00 CEST */
    day_of(db, mar29_22 - 1, d);
    assert_string_equal(d, "2026-03-29");
    day_of(db, mar29_22, d);
    assert_string_equal(d, "2026-03-30");
    const long long oct24_22 = 1792879200000LL; /* 2026-10-24T22:00:00Z = 10-25 00:00 CEST */
    day_of(db, oct24_22 - 1, d);
    assert_string_equal(d, "2026-10-24");
    day_of(db, oct24_22 + 25 * 3600000LL - 1, d); /* the 25th hour is still the 25th */
    assert_string_equal(d, "2026-10-25");
    day_of(db, oct24_22 + 25 * 3600000LL, d);
    assert_string_equal(d, "2026-10-26");
    /* Samoa skipped 2011-12-30 altogether */
    assert_int_equal(calendar_set_zone("Pacific/Apia"), 0);
    day_of(db, 1325239200000LL, d); /* 2011-12-30T10:00:00Z */
    assert_string_equal(d, "2011-12-31");
    sqlite3_close(db);

    assert_int_equal(calendar_set_zone("Mars/Olympus_Mons"), LEADD_EINVAL);
    assert_int_equal(calendar_set_zone("../etc/passwd"), LEADD_EINVAL);
    assert_int_equal(calendar_set_zone(""), LEADD_EINVAL);
    assert_int_equal(calendar_set_zone("UTC"), 0);

    assert_true(calendar_day_valid("2028-02-29"));
    assert_false(calendar_day_valid("2026-02-29"));
    assert_false(calendar_day_valid("2026-13-01"));
    assert_false(calendar_day_valid("2026-1-01"));
    assert_false(calendar_day_valid("2026-01-01x"));
    assert_false(calendar_day_valid("20260101"));
    calendar_add_days("2026-02-28", 1, d);
    assert_string_equal(d, "2026-03-01");
    calendar_add_days("2026-01-01", -1, d);
    assert_string_equal(d, "2025-12-31");
    calendar_week_start("2026-11-30", d); /* a Monday */
    assert_string_equal(d, "2026-11-30");
    calendar_week_start("2026-12-06", d); /* a Sunday */
    assert_string_equal(d, "2026-11-30");
    calendar_week_start("2027-01-01", d); /* a Friday: its week began in 2026 */
    assert_string_equal(d, "2026-12-28");
    calendar_month_end("2028-02-10", d);
    assert_string_equal(d, "2028-02-29");
    calendar_month_end("2026-12-31", d);
    assert_string_equal(d, "2026-12-31");
}

/* Amounts and dates as the ad platforms' exports write them. */
static void t_export_values(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int exp;
        long long want; /* -1: refused */
    } A[] = {
        {"1,200.00", 2, 120000},
        {"1.200,00", 2, 120000},
        {"1 200,00", 2, 120000},
        {"1\xC2\xA0"
         "200,00",
         2, 120000},
        {"1\xE2\x80\xAF"
         "200,00",
         2, 120000},
        {"1'200.00", 2, 120000},
        {"12,5", 2, 1250},
        {"12,50", 2, 1250},
        {"1,200", 2, 120000},
        {"1,234,567.89", 2, 123456789},
        {"1.234.567,89", 2, 123456789},
        {"0.99", 2, 99},
        {"1200", 2, 120000},
        {"1,200", 0, 1200},
        {"1,200", 3, 1200},
        {"1.200", 2, -1},
        {"1.001", 2, -1},
        {"12,34,567.00", 2, -1},
        {"1,2345.00", 2, -1},
        {"1.200,00.5", 2, -1},
        {"-5.00", 2, -1},
        {"\xE2\x82\xAC"
         "5.00",
         2, -1},
        {"", 2, -1},
        {"1e3", 2, -1},
        {",50", 2, -1},
        {"1,200,00", 2, -1},
    };
    for (size_t i = 0; i < sizeof(A) / sizeof(A[0]); i++) {
        int64_t m = -1;
        int rc = money_read(A[i].in, strlen(A[i].in), A[i].exp, &m);
        if (A[i].want < 0 ? rc == 0 : rc != 0 || m != A[i].want)
            fail_msg("money_read('%s', %d): rc %d, %lld; want %lld", A[i].in, A[i].exp, rc,
                     (long long)m, A[i].want);
    }
    static const struct {
        const char *in, *want; /* NULL: refused */
    } D[] = {
        {"2026-11-02", "2026-11-02"},  {"11/2/2026", "2026-11-02"},
        {"1/31/2026", "2026-01-31"},   {"02.11.2026", "2026-11-02"},
        {"Nov 2, 2026", "2026-11-02"}, {"November 2, 2026", "2026-11-02"},
        {"2026-02-30", NULL},          {"13/1/2026", NULL},
        {"11/2.2026", NULL},           {"11/2/26", NULL},
        {"Total: Account", NULL},      {"Smarch 2, 2026", NULL},
        {"2026-11-02T10:00", NULL},    {"", NULL},
    };
    for (size_t i = 0; i < sizeof(D) / sizeof(D[0]); i++) {
        char d[DAY_LEN + 1] = "";
        bool ok = calendar_day_read(D[i].in, strlen(D[i].in), d);
        if (D[i].want ? !ok || strcmp(d, D[i].want) : ok)
            fail_msg("calendar_day_read('%s'): %d %s", D[i].in, ok, d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_parse),  cmocka_unit_test(t_export_values),
        cmocka_unit_test(t_format), cmocka_unit_test(t_quotients),
        cmocka_unit_test(t_days),
    };
    return cmocka_run_group_tests_name("money", tests, NULL, NULL);
}
