/* sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for request
 * fingerprints and webhook signatures. Pure C, no state outside the struct. */
#ifndef LEADD_SHA256_H
#define LEADD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

struct sha256 {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *p, size_t n);
void sha256_final(struct sha256 *c, unsigned char out[SHA256_LEN]);
/* sha256: one-shot digest of p[0..n). */
void sha256(const void *p, size_t n, unsigned char out[SHA256_LEN]);
/* hmac_sha256: HMAC of the parts msg[0..nparts) concatenated, keyed by key. */
void hmac_sha256(const void *key, size_t keylen, const void *const *msg, const size_t *lens,
                 size_t nparts, unsigned char out[SHA256_LEN]);

#endif
