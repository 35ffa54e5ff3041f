/* crypto.h: SHA-256, HMAC-SHA256, base64, constant-time comparison and
 * unpredictable random bytes, from OpenSSL's libcrypto. src/crypto/ is the
 * only module that includes OpenSSL; nothing here is written by hand.
 *
 * Every function that can fail returns 0 or LEADD_ENOMEM (libcrypto could
 * not allocate) and leaves its output unspecified on failure. */
#ifndef LEADD_CRYPTO_H
#define LEADD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "leadd/common.h"

#define SHA256_LEN 32
/* The base64 text of n bytes, with padding and the NUL. */
#define CRYPTO_BASE64_LEN(n) (4 * (((n) + 2) / 3) + 1)

/* crypto_sha256: the digest of the parts p[0..nparts) concatenated. */
LEADD_MUST_CHECK int crypto_sha256(const void *const *p, const size_t *lens, size_t nparts,
                                   unsigned char out[SHA256_LEN]);
/* crypto_hmac_sha256: HMAC-SHA256 (RFC 2104) of the parts concatenated. */
LEADD_MUST_CHECK int crypto_hmac_sha256(const void *key, size_t keylen, const void *const *p,
                                        const size_t *lens, size_t nparts,
                                        unsigned char out[SHA256_LEN]);
/* crypto_base64: standard base64 with padding of in[0..n) into out, which
 * holds CRYPTO_BASE64_LEN(n) bytes; returns the text's length. */
size_t crypto_base64(const unsigned char *in, size_t n, char *out);
/* crypto_unbase64: decodes standard base64 text (padding optional) into
 * out[0..cap); returns the byte count, or -1 for text that is not base64 or
 * does not fit. */
long crypto_unbase64(const char *in, unsigned char *out, size_t cap);
/* crypto_equal: whether a and b hold the same n bytes, in time that does not
 * depend on where they differ (for secrets and their digests). */
bool crypto_equal(const void *a, const void *b, size_t n);
/* crypto_random: n unpredictable bytes (tokens, session ids). */
LEADD_MUST_CHECK int crypto_random(void *out, size_t n);

/* An unguessable token: CRYPTO_TOKEN_BYTES random bytes as base64url
 * without padding (safe in cookies, paths and mail), and its digest, which
 * is what the database keeps. */
#define CRYPTO_TOKEN_BYTES 32
#define CRYPTO_TOKEN_LEN CRYPTO_BASE64_LEN(CRYPTO_TOKEN_BYTES)
LEADD_MUST_CHECK int crypto_token(char out[CRYPTO_TOKEN_LEN]);
/* crypto_token_hash: the SHA-256 of a token's text. */
LEADD_MUST_CHECK int crypto_token_hash(const char *token, unsigned char out[SHA256_LEN]);
/* crypto_hex: lowercase hex of in[0..n) into out, which holds 2n + 1. */
void crypto_hex(const unsigned char *in, size_t n, char *out);
/* crypto_sha256_hex: the SHA-256 of s's text as lowercase hex (a text's
 * hash kept or compared, an identifier hashed for an ad platform). */
#define CRYPTO_SHA256_HEX_LEN (2 * SHA256_LEN + 1)
LEADD_MUST_CHECK int crypto_sha256_hex(const char *s, char out[CRYPTO_SHA256_HEX_LEN]);

#endif
