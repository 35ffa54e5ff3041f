/* money.h: amounts of money as whole minor units (cents), never floating
 * point, and the decimal strings the API reads and writes.
 *
 * Rounding: every quotient (a cost per lead, a rate) is rounded half away
 * from zero to the places asked for: 10.00 / 3 leads is "3.33", 20.00 / 3 is
 * "6.67", -1 / 8 at 2 places is "-0.13". */
#ifndef LEADD_MONEY_H
#define LEADD_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leadd/common.h"

#define MONEY_MAX_MINOR 1000000000000000LL /* one amount is below 10^15 minor units */
#define MONEY_STR 48                       /* room for any amount or quotient */

/* money_currency_valid: an ISO 4217 code: three uppercase ASCII letters. */
bool money_currency_valid(const char *code);
/* money_exponent: the decimal places of the currency's minor unit (ISO 4217:
 * 0 for JPY, 3 for KWD, 2 for most). */
int money_exponent(const char *code);
/* money_parse: a plain non-negative decimal ("125.40", "12000", "0.5") into
 * minor units of a currency with `exponent` places. LEADD_EINVAL for anything
 * else: a sign, an exponent, separators, more places than the currency has,
 * or MONEY_MAX_MINOR or more. */
LEADD_MUST_CHECK int money_parse(const char *s, int exponent, int64_t *minor);
/* money_read: an amount as a report export writes it, into minor units:
 * thousands separators (1,200.00, 1.200,00, 1 200,00, 1'200.00) and a
 * decimal comma (12,50). A lone point is a decimal point (1.001 has too
 * many places for EUR); a lone comma followed by exactly three digits
 * groups thousands (1,200 is 1200), unless the currency has three places.
 * LEADD_EINVAL for anything money_parse would refuse after that, or groups
 * that are not of three. */
LEADD_MUST_CHECK int money_read(const char *s, size_t n, int exponent, int64_t *minor);
/* money_format: minor units as a decimal with `exponent` places ("125.40"). */
void money_format(int64_t minor, int exponent, char out[MONEY_STR]);
/* decimal_quotient: num / (den * 10^scale), rounded to `places` decimals, as
 * a decimal string; false (and out "") when den is 0. A cost per lead is
 * decimal_quotient(spend_minor, leads, exp, exp); a rate (converted / valid)
 * decimal_quotient(converted, valid, 0, 4). */
bool decimal_quotient(int64_t num, int64_t den, int scale, int places, char out[MONEY_STR]);

#endif
