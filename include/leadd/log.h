/* log.h: one-line logs to stderr with a UTC timestamp. Thread-safe: each
 * line is one write(2), cut at 2,048 bytes of message. Callers never pass a
 * lead's email, phone or name here. */
#ifndef LEADD_LOG_H
#define LEADD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_format { LOG_TEXT, LOG_JSON };
enum log_level { LOG_INFO, LOG_WARN, LOG_ERROR };
/* log_configure: the format of every line from now on ([server]
 * log_format), and the least level written ([server] log_level). */
void log_configure(enum log_format format, enum log_level least);

/* One request, as the access log writes it: text "METHOD PATH STATUS
 * N.Nms[ id=LEAD] req=ID[ (connection closed early)]", or JSON with the keys
 * time level msg method path status ms lead request_id. */
struct log_request {
    const char *method, *path; /* the path without its query string */
    int status;
    uint64_t us;
    const char *lead;       /* "" when none */
    const char *request_id; /* "" when none */
    bool closed_early;
};
void log_request(const struct log_request *r);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_start: an info line written whatever log_level says: that leadd is up
 * (and where) or has stopped, which tools watching the log rely on. */
void log_start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* now_ms: wall-clock Unix time in milliseconds. */
uint64_t now_ms(void);
/* mono_ms: monotonic milliseconds, for durations and timers. */
uint64_t mono_ms(void);
/* mono_us: monotonic microseconds. */
uint64_t mono_us(void);
/* rfc3339_ms: writes ms as "2026-01-02T03:04:05.678Z" (25 bytes with NUL). */
void rfc3339_ms(uint64_t ms, char out[32]);
/* rfc3339_parse: parses an RFC 3339 date-time (any offset, optional
 * fraction) into Unix milliseconds. Returns 0 on success, LEADD_EINVAL. */
int rfc3339_parse(const char *s, int64_t *ms);

#endif
