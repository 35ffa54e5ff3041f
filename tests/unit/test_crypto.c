/* test_crypto.c: the libcrypto wrappers against published vectors (FIPS
 * 180-4 examples, RFC 4231), and base64 round trips and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "leadd/crypto.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void t_sha256_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    unsigned char d[SHA256_LEN];
    char h[65];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const void *p = rows[i].in;
        size_t n = strlen(rows[i].in);
        assert_int_equal(crypto_sha256(&p, &n, 1, d), 0);
        hex(d, SHA256_LEN, h);
        assert_string_equal(h, rows[i].out);
    }
    /* parts are hashed as their concatenation */
    const void *parts[] = {"ab", "", "c"};
    size_t lens[] = {2, 0, 1};
    assert_int_equal(crypto_sha256(parts, lens, 3, d), 0);
    hex(d, SHA256_LEN, h);
    assert_string_equal(h, rows[1].out);
}

static void t_hmac_rfc4231(void **state)
{
    (void)state;
    unsigned char key[20], d[SHA256_LEN];
    char h[65];
    memset(key, 0x0b, sizeof(key));
    const void *parts[] = {"Hi ", "There"};
    size_t lens[] = {3, 5};
    assert_int_equal(crypto_hmac_sha256(key, sizeof(key), parts, lens, 2, d), 0);
    hex(d, SHA256_LEN, h);
    assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* test case 6: a key longer than the block */
    unsigned char big[131];
    memset(big, 0xaa, sizeof(big));
    const void *m[] = {"Test Using Larger Than Block-Size Key - Hash Key First"};
    size_t ml[] = {54};
    assert_int_equal(crypto_hmac_sha256(big, sizeof(big), m, ml, 1, d), 0);
    hex(d, SHA256_LEN, h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void t_base64(void **state)
{
    (void)state;
    static const struct {
        const char *bytes, *text;
    } rows[] = {{"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
                {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}}; /* RFC 4648 section 10 */
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char text[CRYPTO_BASE64_LEN(6)];
        unsigned char back[16];
        size_t n = strlen(rows[i].bytes);
        assert_int_equal(crypto_base64((const unsigned char *)rows[i].bytes, n, text),
                         strlen(rows[i].text));
        assert_string_equal(text, rows[i].text);
        assert_int_equal(crypto_unbase64(text, back, sizeof(back)), (long)n);
        assert_memory_equal(back, rows[i].bytes, n);
        /* padding is optional on the way in */
        text[strcspn(text, "=")] = '\0';
        assert_int_equal(crypto_unbase64(text, back, sizeof(back)), (long)n);
        assert_memory_equal(back, rows[i].bytes, n);
    }
    unsigned char out[4];
    static const char *const bad[] = {
        "",       "not base64!", "Zm9v Zm9v", " Zm9v",
        "Zm9v\n", "Z===",        "Zm9vYmFy" /* 6 bytes do not fit in 4 */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (crypto_unbase64(bad[i], out, sizeof(out)) != -1)
            fail_msg("'%s' decoded", bad[i]);
    }
}

static void t_equal_and_random(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    assert_int_equal(crypto_random(a, sizeof(a)), 0);
    assert_int_equal(crypto_random(b, sizeof(b)), 0);
    assert_false(crypto_equal(a, b, sizeof(a))); /* 2^-256 */
    memcpy(b, a, sizeof(a));
    assert_true(crypto_equal(a, b, sizeof(a)));
    b[31] ^= 1;
    assert_false(crypto_equal(a, b, sizeof(a)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_sha256_vectors),
        cmocka_unit_test(t_hmac_rfc4231),
        cmocka_unit_test(t_base64),
        cmocka_unit_test(t_equal_and_random),
    };
    return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
