/* calendar.c: see calendar.h. Day arithmetic is done in UTC (timegm), where
 * every day has 24 hours. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "leadd/calendar.h"

/* Writes tm's date as YYYY-MM-DD (digit by digit: every field in range). */
static void put_day(const struct tm *tm, char out[DAY_LEN + 1])
{
    unsigned y = (unsigned)(tm->tm_year + 1900) % 10000, m = (unsigned)tm->tm_mon % 12 + 1,
             d = (unsigned)tm->tm_mday % 32;
    const unsigned v[] = {y / 1000, y / 100 % 10, y / 10 % 10, y % 10,
                          m / 10,   m % 10,       d / 10,      d % 10};
    for (int i = 0, k = 0; i < DAY_LEN; i++)
        out[i] = i == 4 || i == 7 ? '-' : (char)('0' + v[k++]);
    out[DAY_LEN] = '\0';
}

bool calendar_zone_valid(const char *name)
{
    char path[512];
    struct stat sb;
    if (!name || !*name || strlen(name) > 200 || name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '/' || *p == '_' || *p == '-' || *p == '+'))
            return false;
    }
    const char *dir = getenv("TZDIR");
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    /* UTC needs no file: the C library knows it when tzdata is absent. */
    return !strcmp(name, "UTC") || (stat(path, &sb) == 0 && S_ISREG(sb.st_mode));
}

int calendar_set_zone(const char *name)
{
    if (!calendar_zone_valid(name))
        return LEADD_EINVAL;
    /* PGTZ too: libpq starts each PostgreSQL session (and each reset one)
     * in it, whose TimeZone the stats' days are computed in */
    if (setenv("TZ", name, 1) || setenv("PGTZ", name, 1))
        return LEADD_ENOMEM;
    tzset();
    return 0;
}

/* Reads YYYY-MM-DD into tm (midnight); false unless it is a real date. */
static bool parse_day(const char *s, struct tm *tm)
{
    int y, m, d;
    char end;
    if (!s || strlen(s) != DAY_LEN || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &end) != 3)
        return false;
    for (int i = 0; i < DAY_LEN; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    }
    memset(tm, 0, sizeof(*tm));
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    struct tm check = *tm;
    time_t t = timegm(&check); /* normalizes: 2026-02-30 becomes March 2 */
    return y >= 1970 && t != (time_t)-1 && check.tm_year == tm->tm_year &&
           check.tm_mon == tm->tm_mon && check.tm_mday == tm->tm_mday;
}

bool calendar_day_valid(const char *s)
{
    struct tm tm;
    return parse_day(s, &tm);
}

void calendar_add_days(const char *day, int n, char out[DAY_LEN + 1])
{
    struct tm tm;
    if (!parse_day(day, &tm)) {
        snprintf(out, DAY_LEN + 1, "%s", "0000-00-00");
        return;
    }
    time_t t = timegm(&tm) + (time_t)n * 86400;
    gmtime_r(&t, &tm);
    put_day(&tm, out);
}

void calendar_week_start(const char *day, char out[DAY_LEN + 1])
{
    struct tm tm;
    if (!parse_day(day, &tm)) {
        snprintf(out, DAY_LEN + 1, "%s", "0000-00-00");
        return;
    }
    time_t t = timegm(&tm);
    gmtime_r(&t, &tm);
    calendar_add_days(day, -((tm.tm_wday + 6) % 7), out);
}

void calendar_month_end(const char *day, char out[DAY_LEN + 1])
{
    char first_next[DAY_LEN + 1];
    struct tm tm;
    if (!parse_day(day, &tm)) {
        snprintf(out, DAY_LEN + 1, "%s", "0000-00-00");
        return;
    }
    tm.tm_mday = 1;
    tm.tm_year += tm.tm_mon == 11;
    tm.tm_mon = (tm.tm_mon + 1) % 12;
    put_day(&tm, first_next);
    calendar_add_days(first_next, -1, out);
}
