/* log.c: timestamps and stderr logging; see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdatomic.h>
#include <unistd.h>

#include "leadd/buf.h"
#include "leadd/common.h"
#include "leadd/jsonw.h"
#include "leadd/log.h"

#define RFC3339_LEN 24 /* 2026-01-02T03:04:05.678Z */
#define LOG_MAX_LINE 2048

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

static char *digits_out(char *p, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* Every log line and every stored lead carries one of these, so no stdio and
 * no gmtime_r: civil-from-days (Howard Hinnant's algorithm), the inverse of
 * rfc3339_parse() below. */
void rfc3339_ms(uint64_t ms, char out[32])
{
    uint64_t s = ms / 1000;
    int64_t z = (int64_t)(s / 86400) + 719468;
    unsigned sod = (unsigned)(s % 86400);
    int64_t era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    unsigned y = (unsigned)(yoe + era * 400) + (m <= 2);
    char *p = out;
    p = digits_out(p, y % 10000, 4);
    *p++ = '-';
    p = digits_out(p, m, 2);
    *p++ = '-';
    p = digits_out(p, d, 2);
    *p++ = 'T';
    p = digits_out(p, sod / 3600, 2);
    *p++ = ':';
    p = digits_out(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = digits_out(p, sod % 60, 2);
    *p++ = '.';
    p = digits_out(p, (unsigned)(ms % 1000), 3);
    *p++ = 'Z';
    *p = '\0';
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

static _Atomic int log_fmt = LOG_TEXT, log_least = LOG_INFO;

void log_configure(enum log_format format, enum log_level least)
{
    atomic_store(&log_fmt, format);
    atomic_store(&log_least, least);
}

/* One write(2) per line: lines from threads never interleave (a regular file's
 * offset moves under a lock; a pipe write under PIPE_BUF is atomic) and no
 * stdio lock or second formatting pass sits on every request. */
static void write_line(const char *line, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

/* always: written whatever log_level says (log_start). */
static void vlog(enum log_level lv, bool always, const char *fmt, va_list ap)
{
    static const char *const names[] = {"info", "warn", "error"};
    if ((int)lv < atomic_load(&log_least) && !always)
        return;
    if (atomic_load(&log_fmt) == LOG_JSON) { /* the message, then escaped into the line */
        char msg[LOG_MAX_LINE + 1], at[32];
        if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
            return;
        rfc3339_ms(now_ms(), at);
        struct buf b = BUF_INIT(2 * LOG_MAX_LINE + 64);
        buf_addf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", at, names[lv]);
        jw_str(&b, msg);
        if (!buf_add(&b, "}\n", 2))
            write_line(b.ptr, b.len);
        buf_release(&b);
        return;
    }
    /* Text, the default: formatted once, straight into the line. */
    char line[RFC3339_LEN + 8 + LOG_MAX_LINE + 2];
    rfc3339_ms(now_ms(), line);
    size_t n = RFC3339_LEN, ll = strlen(names[lv]);
    line[n++] = ' ';
    memcpy(line + n, names[lv], ll);
    n += ll;
    line[n++] = ' ';
    char msg[LOG_MAX_LINE + 1];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        return;
    /* Control bytes as \xNN: a value from outside (a path, a user agent)
     * cannot end the line and forge the next, nor reach a terminal. */
    static const char hex[] = "0123456789abcdef";
    size_t end = n + LOG_MAX_LINE;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        bool ctl = *p < 0x20 || *p == 0x7f;
        if (n + (ctl ? 4 : 1) > end)
            break;
        if (ctl) {
            line[n++] = '\\';
            line[n++] = 'x';
            line[n++] = hex[*p >> 4];
            line[n++] = hex[*p & 15];
        } else {
            line[n++] = (char)*p;
        }
    }
    line[n++] = '\n';
    write_line(line, n);
}

void log_request(const struct log_request *r)
{
    if (atomic_load(&log_least) > LOG_INFO)
        return;
    unsigned long long ms = (unsigned long long)(r->us / 1000), tenth = r->us / 100 % 10;
    if (atomic_load(&log_fmt) == LOG_TEXT) {
        /* Integer arithmetic for the duration: %f costs more than the rest of
         * the line, on every request. */
        log_info("%s %s %d %llu.%llums%s%s%s%s%s", r->method, r->path, r->status, ms, tenth,
                 r->lead[0] ? " id=" : "", r->lead, r->request_id[0] ? " req=" : "", r->request_id,
                 r->closed_early ? " (connection closed early)" : "");
        return;
    }
    char at[32];
    rfc3339_ms(now_ms(), at);
    struct buf b = BUF_INIT(LOG_MAX_LINE * 2);
    buf_addf(&b, "{\"time\":\"%s\",\"level\":\"info\",\"msg\":\"request\",\"method\":", at);
    jw_str(&b, r->method);
    buf_adds(&b, ",\"path\":");
    jw_str(&b, r->path);
    buf_addf(&b, ",\"status\":%d,\"ms\":%llu.%llu,\"lead\":", r->status, ms, tenth);
    if (r->lead[0])
        jw_str(&b, r->lead);
    else
        buf_adds(&b, "null");
    buf_adds(&b, ",\"request_id\":");
    jw_str(&b, r->request_id);
    if (r->closed_early)
        buf_adds(&b, ",\"closed_early\":true");
    if (!buf_add(&b, "}\n", 2))
        write_line(b.ptr, b.len);
    buf_release(&b);
}

#define LOGFN(name, level)                                                                         \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog(level, false, fmt, ap);                                                               \
        va_end(ap);                                                                                \
    }
LOGFN(log_info, LOG_INFO)

void log_start(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_INFO, true, fmt, ap);
    va_end(ap);
}
LOGFN(log_warn, LOG_WARN)
LOGFN(log_error, LOG_ERROR)

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
