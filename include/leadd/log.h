/* log.h: one-line logs to stderr with a UTC timestamp. Thread-safe: each
 * line is one write(2), cut at 2,048 bytes of message. Callers never pass a
 * lead's email, phone or name here. */
#ifndef LEADD_LOG_H
#define LEADD_LOG_H

#include <stdint.h>

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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
