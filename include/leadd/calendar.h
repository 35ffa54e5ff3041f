/* calendar.h: days as a marketer reads them: in the [server] timezone (an
 * IANA name), so a report from Berlin counts Berlin days, DST included.
 *
 * The zone is the process's (TZ), set once at start before any thread runs,
 * and read by SQLite's 'localtime' (CALENDAR_DAY_SQL, the rollup's view):
 * leadd's logs and stored times are UTC and never use it. */
#ifndef LEADD_CALENDAR_H
#define LEADD_CALENDAR_H

#include <stdbool.h>
#include <stdint.h>

#include "leadd/common.h"

#define DAY_LEN 10 /* "2026-11-02" */

/* calendar_zone_valid: whether name is an IANA zone this machine knows
 * (/usr/share/zoneinfo, or $TZDIR): "UTC", "Europe/Berlin". */
bool calendar_zone_valid(const char *name);
/* The local day of a column of UTC milliseconds, in SQL (as the lead_counts
 * view of migrations/sqlite/0010_analytics.sql writes it). */
#define CALENDAR_DAY_SQL(ms) "date(" ms " / 1000, 'unixepoch', 'localtime')"

/* calendar_day_of: the local day of ms (UTC milliseconds), as
 * CALENDAR_DAY_SQL and PostgreSQL's sessions in the same zone say it. */
void calendar_day_of(uint64_t ms, char out[DAY_LEN + 1]);
/* calendar_set_zone: makes name the process's zone (and PostgreSQL
 * sessions' it opens after); LEADD_EINVAL when it is
 * not a known zone. Call before threads start. */
LEADD_MUST_CHECK int calendar_set_zone(const char *name);
/* calendar_day_valid: whether s is a real date written YYYY-MM-DD. */
bool calendar_day_valid(const char *s);
/* calendar_day_read: a real date as the ad platforms' exports write it, in
 * s[0..n), into out as YYYY-MM-DD: 2026-11-02, 11/2/2026 (month first, as
 * Microsoft Advertising and LinkedIn write it), 02.11.2026 (day first), or
 * Nov 2, 2026 / November 2, 2026. False for anything else. */
bool calendar_day_read(const char *s, size_t n, char out[DAY_LEN + 1]);
/* calendar_add_days: day + n days (n may be negative), as YYYY-MM-DD. */
void calendar_add_days(const char *day, int n, char out[DAY_LEN + 1]);
/* calendar_week_start: the Monday of day's week (ISO 8601 weeks). */
void calendar_week_start(const char *day, char out[DAY_LEN + 1]);
/* calendar_month_end: the last day of day's month. */
void calendar_month_end(const char *day, char out[DAY_LEN + 1]);

#endif
