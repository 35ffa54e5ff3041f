/* strutil.h: small string helpers shared by every module: UTF-8 checks,
 * trimming, strict number parsing and HTML escaping. No allocation unless said. */
#ifndef LEADD_STRUTIL_H
#define LEADD_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "leadd/buf.h"

/* fnv1a: FNV-1a over p[0..n), going on from h (FNV1A_SEED to start): the
 * hash of leadd's in-memory tables (strmap, the duplicate window, rate
 * buckets, the events' published ids). */
#define FNV1A_SEED 14695981039346656037ULL
uint64_t fnv1a(uint64_t h, const void *p, size_t n);
/* utf8_seq_len: length of the valid UTF-8 sequence at s (at most n bytes), or
 * 0 when it is not valid (overlong, surrogate, truncated, > U+10FFFF). */
size_t utf8_seq_len(const char *s, size_t n);
/* utf8_valid: whether s[0..n) is valid UTF-8 with no NUL byte. */
bool utf8_valid(const char *s, size_t n);
/* utf8_chars: the number of code points in valid UTF-8 text. */
size_t utf8_chars(const char *s, size_t n);
/* utf8_clip: the largest length <= max that does not cut a sequence. */
size_t utf8_clip(const char *s, size_t n, size_t max);

/* str_trim: points *s and *n at s without leading and trailing white space. */
void str_trim(const char **s, size_t *n);
/* str_ieq: ASCII case-insensitive equality of a NUL-terminated string and s[0..n). */
bool str_ieqn(const char *a, const char *s, size_t n);
/* str_dupn: a NUL-terminated copy of s[0..n); NULL on ENOMEM. The caller frees it. */
char *str_dupn(const char *s, size_t n);
/* str_index: the index of v in names[0..n), or -1. */
int str_index(const char *v, const char *const *names, size_t n);
/* str_lower: lowercases ASCII letters in place. */
void str_lower(char *s);

/* hex_digit: the value of one hexadecimal digit, or -1. */
int hex_digit(char c);
/* hex_decode: the n bytes that hex (2n hex digits) spells, into out;
 * LEADD_EINVAL when it is not that (crypto_hex writes it). */
LEADD_MUST_CHECK int hex_decode(const char *hex, size_t len, unsigned char *out, size_t n);
/* url_decode: decodes %XX and '+' in place; returns the new length. Bad
 * escapes are kept as written. */
size_t url_decode(char *s, size_t n);
/* parse_ll: the whole of s[0..n) as a decimal integer (optional sign). */
bool parse_ll(const char *s, size_t n, long long *out);
/* parse_double: the whole of s[0..n) as a finite decimal number. */
bool parse_double(const char *s, size_t n, double *out);

/* csv_cell: appends s[0..n) as one CSV cell (RFC 4180). A cell a
 * spreadsheet would run as a formula (=, +, -, @, tab or CR first, and not a
 * plain number or phone number) gets a leading apostrophe. Returns
 * buf_error(b). */
int csv_cell(struct buf *b, const char *v, size_t n);
/* html_escape: appends s with & < > " ' escaped; returns buf_error(b). */
int html_escape(struct buf *b, const char *s);

#endif
