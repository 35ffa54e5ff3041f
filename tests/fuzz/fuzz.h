/* fuzz.h: each target is one function, fuzz_NAME(data, size). Built with
 * -DFUZZ_LIBFUZZER it is also libFuzzer's entry point (make fuzz); otherwise
 * the corpus-replay test calls it on every saved input (make test), so each
 * crash once found stays a regression test. */
#ifndef LEADD_FUZZ_H
#define LEADD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#ifdef FUZZ_LIBFUZZER
#define FUZZ_TARGET(name)                                                                          \
    int fuzz_##name(const uint8_t *data, size_t size);                                             \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        return fuzz_##name(data, size);                                                            \
    }                                                                                              \
    int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name)                                                                          \
    int fuzz_##name(const uint8_t *data, size_t size);                                             \
    int fuzz_##name(const uint8_t *data, size_t size)
#endif

#endif
