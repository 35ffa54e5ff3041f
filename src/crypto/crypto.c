/* crypto.c: see crypto.h. Thin wrappers over libcrypto's EVP interfaces, so
 * the rest of leadd never sees an OpenSSL type. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <string.h>

#include "leadd/crypto.h"

int crypto_sha256(const void *const *p, const size_t *lens, size_t nparts,
                  unsigned char out[SHA256_LEN])
{
    int rc = LEADD_ENOMEM;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
        goto out;
    for (size_t i = 0; i < nparts; i++) {
        if (EVP_DigestUpdate(c, p[i], lens[i]) != 1)
            goto out;
    }
    if (EVP_DigestFinal_ex(c, out, NULL) == 1)
        rc = 0;
out:
    EVP_MD_CTX_free(c);
    return rc;
}

int crypto_hmac_sha256(const void *key, size_t keylen, const void *const *p, const size_t *lens,
                       size_t nparts, unsigned char out[SHA256_LEN])
{
    int rc = LEADD_ENOMEM;
    size_t outlen = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;
    if (!c || EVP_MAC_init(c, key, keylen, params) != 1)
        goto out;
    for (size_t i = 0; i < nparts; i++) {
        if (EVP_MAC_update(c, p[i], lens[i]) != 1)
            goto out;
    }
    if (EVP_MAC_final(c, out, &outlen, SHA256_LEN) == 1 && outlen == SHA256_LEN)
        rc = 0;
out:
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(mac);
    return rc;
}

size_t crypto_base64(const unsigned char *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

long crypto_unbase64(const char *in, unsigned char *out, size_t cap)
{
    /* EVP_DecodeBlock wants whole quanta, so missing padding is restored
     * first; it also counts the padding's zero bytes, taken off after. */
    unsigned char text[1024], bytes[768];
    size_t n = strlen(in), pad = 0;
    /* EVP_DecodeBlock skips white space around the text; a secret has none. */
    if (n == 0 || n + 3 > sizeof(text) || strpbrk(in, " \t\r\n"))
        return -1;
    memcpy(text, in, n);
    while (n % 4)
        text[n++] = '=';
    for (size_t i = n; i > 0 && text[i - 1] == '='; i--)
        pad++;
    if (pad > 2)
        return -1;
    int got = EVP_DecodeBlock(bytes, text, (int)n);
    if (got < 0 || (size_t)got < pad || (size_t)got - pad > cap)
        return -1;
    memcpy(out, bytes, (size_t)got - pad);
    OPENSSL_cleanse(bytes, sizeof(bytes));
    return (long)((size_t)got - pad);
}

bool crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

int crypto_random(void *out, size_t n)
{
    return n <= (size_t)INT32_MAX && RAND_bytes(out, (int)n) == 1 ? 0 : LEADD_ENOMEM;
}

int crypto_token(char out[CRYPTO_TOKEN_LEN])
{
    unsigned char raw[CRYPTO_TOKEN_BYTES];
    if (crypto_random(raw, sizeof(raw)))
        return LEADD_ENOMEM;
    crypto_base64(raw, sizeof(raw), out);
    for (char *p = out; *p; p++) /* base64url */
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p == '=' ? '\0' : *p;
    return 0;
}

int crypto_token_hash(const char *token, unsigned char out[SHA256_LEN])
{
    const void *part = token;
    size_t len = strlen(token);
    return crypto_sha256(&part, &len, 1, out);
}

int crypto_sha256_hex(const char *s, char out[CRYPTO_SHA256_HEX_LEN])
{
    unsigned char d[SHA256_LEN];
    const void *part = s;
    size_t len = strlen(s);
    int rc = crypto_sha256(&part, &len, 1, d);
    if (!rc)
        crypto_hex(d, sizeof(d), out);
    return rc;
}

void crypto_hex(const unsigned char *in, size_t n, char *out)
{
    static const char DIGITS[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = DIGITS[in[i] >> 4];
        out[2 * i + 1] = DIGITS[in[i] & 15];
    }
    out[2 * n] = '\0';
}
