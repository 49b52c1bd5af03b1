// test_fuzz.c — the fuzzers' regression inputs: every file of fuzz/corpus/NAME/ (the corpus the
// fuzzers reached, and every crasher they ever found) run through fuzz target NAME, compiled with
// T2_FUZZ_REPLAY. A target aborts on an input that breaks one of its properties.
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util/util.h"

typedef int (*FuzzFn)(const uint8_t *data, size_t size);
int fuzz_spec(const uint8_t *data, size_t size);
int fuzz_checkpoint(const uint8_t *data, size_t size);
int fuzz_safetensors(const uint8_t *data, size_t size);
int fuzz_csv(const uint8_t *data, size_t size);
int fuzz_args(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Run every input of fuzz/corpus/NAME through FN; returns how many there were.
static size_t replay(const char *name, FuzzFn fn) {
    char *dir = xasprintf("fuzz/corpus/%s", name);
    DIR *d = opendir(dir);
    if (!d) fail_msg("%s: cannot open (run the tests from the repository root)", dir);
    char **files = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        files = xrealloc(files, (n + 1) * sizeof *files);
        files[n++] = xasprintf("%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof *files, by_name);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *bytes = read_file(files[i], &len);
        if (!bytes) fail_msg("%s", err_msg());
        uint8_t *exact = xmalloc(len ? len : 1); // exactly len bytes, as libFuzzer passes them
        memcpy(exact, bytes, len);
        fn(exact, len);
        free(exact);
        free(bytes);
        free(files[i]);
    }
    free(files);
    free(dir);
    return n;
}

#define REPLAY_TEST(name)                                                                            \
    static void test_replay_##name(void **state) {                                                   \
        (void)state;                                                                                 \
        size_t n = replay(#name, fuzz_##name);                                                       \
        assert_true(n > 0);                                                                          \
        print_message("fuzz/corpus/%s: %zu inputs replayed\n", #name, n);                            \
    }
REPLAY_TEST(spec)
REPLAY_TEST(checkpoint)
REPLAY_TEST(safetensors)
REPLAY_TEST(csv)
REPLAY_TEST(args)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_spec),        cmocka_unit_test(test_replay_checkpoint),
        cmocka_unit_test(test_replay_safetensors), cmocka_unit_test(test_replay_csv),
        cmocka_unit_test(test_replay_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
