/* log.c: timestamps and stderr logging; see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leadd/common.h"
#include "leadd/log.h"

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t mono_ms(void)
{
    return mono_us() / 1000;
}

void rfc3339_ms(uint64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    /* The moduli only tell the compiler each field's width; none ever applies. */
    snprintf(out, 32, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u,
             (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u,
             (unsigned)(ms % 1000));
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int rfc3339_parse(const char *s, int64_t *ms)
{
    int Y, M, D, h, m, sec, frac = 0, oh = 0, om = 0, sign = 0;
    const char *p = s;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D) ||
        (*p != 'T' && *p != 't' && *p != ' '))
        return LEADD_EINVAL;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return LEADD_EINVAL;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0)
            return LEADD_EINVAL;
        for (; n < 3; n++)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return LEADD_EINVAL;
    } else {
        return LEADD_EINVAL;
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return LEADD_EINVAL;
    /* Days from civil (Howard Hinnant's algorithm): no timegm()/TZ games. */
    int y = Y - (M <= 2);
    int era = y / 400;
    int yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t t = ((days * 24 + h) * 60 + m) * 60 + sec - sign * (oh * 3600 + om * 60);
    *ms = t * 1000 + frac;
    return 0;
}

static void vlog(const char *level, const char *fmt, va_list ap)
{
    char ts[32], line[2048];
    rfc3339_ms(now_ms(), ts);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n < 0)
        return;
    /* One fprintf per line so lines from threads never interleave. */
    fprintf(stderr, "%s %s %s\n", ts, level, line);
}

#define LOGFN(name, level)                                                                         \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog(level, fmt, ap);                                                                      \
        va_end(ap);                                                                                \
    }
LOGFN(log_info, "info")
LOGFN(log_warn, "warn")
LOGFN(log_error, "error")

const char *leadd_strerror(int err)
{
    switch (err) {
    case LEADD_OK: return "success";
    case LEADD_ENOMEM: return "out of memory";
    case LEADD_EINVAL: return "invalid input";
    case LEADD_EDB: return "database error";
    case LEADD_EFULL: return "database cannot take writes";
    case LEADD_EIO: return "i/o error";
    case LEADD_ECONFLICT: return "conflict";
    case LEADD_ENOTFOUND: return "not found";
    case LEADD_ESHUTDOWN: return "shutting down";
    case LEADD_ETOOBIG: return "too large";
    }
    return "unknown error";
}
