// fuzz.h — what every fuzz target shares. A target is one function of (data, size): under libFuzzer
// (`make fuzz`, clang) it is LLVMFuzzerTestOneInput; in the regression replay that `make test` runs
// over fuzz/corpus/NAME/ it is fuzz_NAME (tests/test_fuzz.c). A target checks properties that
// must hold for every input and aborts, printing which, when one does not: libFuzzer saves the
// input as a crasher, the replay fails.
#ifndef T2_FUZZ_H
#define T2_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef T2_FUZZ_REPLAY
#define FUZZ_TARGET(name) int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

#define FUZZ_ASSERT(cond)                                                                            \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                                 \
        }                                                                                            \
    } while (0)

// An error message is one line (t2 prints it as its one line on stderr).
#define FUZZ_ONE_LINE(msg) FUZZ_ASSERT((msg)[0] != '\0' && !strchr((msg), '\n'))

#endif
