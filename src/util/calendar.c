/* calendar.c: see calendar.h. Day arithmetic is done in UTC (timegm), where
 * every day has 24 hours. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

void calendar_day_of(uint64_t ms, char out[DAY_LEN + 1])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm));
    put_day(&tm, out);
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

bool calendar_day_read(const char *s, size_t n, char out[DAY_LEN + 1])
{
    static const char *const MONTHS[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
    char t[40], mon[16], s1, s2, end;
    int y = 0, m = 0, d = 0;
    if (n >= sizeof(t))
        return false;
    memcpy(t, s, n);
    t[n] = '\0';
    bool numeric = strspn(t, "0123456789-/.") == n;
    if (numeric && n == DAY_LEN && sscanf(t, "%4d-%2d-%2d%c", &y, &m, &d, &end) == 3) {
        /* YYYY-MM-DD */
    } else if (numeric && sscanf(t, "%2d%c%2d%c%4d%c", &m, &s1, &d, &s2, &y, &end) == 5 &&
               s1 == s2 && (s1 == '/' || s1 == '.') && strlen(strrchr(t, s1) + 1) == 4) {
        if (s1 == '.') { /* 02.11.2026: the day first */
            int x = m;
            m = d;
            d = x;
        }
    } else if (!numeric && sscanf(t, "%15[A-Za-z] %2d, %4d%c", mon, &d, &y, &end) == 3) {
        m = 0;
        for (int i = 0; i < 12 && strlen(mon) >= 3; i++)
            if (!strncasecmp(mon, MONTHS[i], 3))
                m = i + 1;
    } else {
        return false;
    }
    if (y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    snprintf(out, DAY_LEN + 1, "%04d-%02d-%02d", y, m, d);
    return calendar_day_valid(out);
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
