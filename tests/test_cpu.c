// test_cpu.c — the guard that stops a build made for another CPU before main (util/cpu_guard.c):
//   - the list of a build's extensions follows the compiler's macros, and this CPU supports it;
//   - cpu_isa_missing names exactly what is missing; an unknown name counts as missing;
//   - end to end: a program linked with this build's cpu_guard.o and a build_isa that claims an
//     extension no CPU has stops before main with one line naming it, exit 1.
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cpu.h"
#include "util/util.h"

static int has_only_avx2(const char *name) { return strcmp(name, "avx2") == 0; }

static void test_missing_named(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(cpu_isa_missing(" avx2 fma avx512f", has_only_avx2, out, sizeof out), 2);
    assert_string_equal(out, "fma avx512f");
    assert_int_equal(cpu_isa_missing("", has_only_avx2, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(cpu_isa_missing("  avx2  ", has_only_avx2, out, sizeof out), 0);
    char small[6]; // truncated, still terminated, still counted
    assert_int_equal(cpu_isa_missing("sse3 ssse3 fma", has_only_avx2, small, sizeof small), 3);
    assert_int_equal(strlen(small), 5);
    assert_int_equal(cpu_isa_missing("avx2 an_extension_name_longer_than_any", has_only_avx2, out, sizeof out), 1);
    assert_false(cpu_supports_name("avx1024"));
    assert_false(cpu_supports_name(""));
}

static void test_build_isa_supported_here(void **state) {
    (void)state;
    printf("build_arch %s; build_isa:%s\n", t2_build_arch, t2_build_isa);
#ifdef __AVX2__
    assert_non_null(strstr(t2_build_isa, " avx2"));
#endif
#ifdef __AVX512F__
    assert_non_null(strstr(t2_build_isa, " avx512f"));
#else
    assert_null(strstr(t2_build_isa, "avx512"));
#endif
    char out[256];
    assert_int_equal(cpu_guard_check(out, sizeof out), 0); // every name known, and this CPU has it
    // cpu_info() and the guard read the same CPUID (cpu_info may be told to hide features).
    if (cpu_info()->avx512) assert_true(cpu_supports_name("avx512f") && cpu_supports_name("avx512bw"));
    if (cpu_info()->avx512_bf16) assert_true(cpu_supports_name("avx512bf16"));
}

// The build's object directory: T2_BIN's directory (build/t2 → build).
static char *build_dir(void) {
    char *d = xstrdup(t2_bin());
    char *slash = strrchr(d, '/');
    if (slash) *slash = '\0';
    else strcpy(d, ".");
    return d;
}

static void test_guard_stops_before_main(void **state) {
    (void)state;
    char *dir = tmpdir_make("cpu"), *bd = build_dir();
    char *src = write_text(dir, "p.c",
                           "#include <stdio.h>\n"
                           "const char t2_build_arch[] = \"-march=imaginary\";\n"
                           "const char t2_build_isa[] = \" sse3 avx9000\";\n"
                           "int main(void) { puts(\"main ran\"); return 0; }\n");
    const char *cc = getenv("T2_CC"); // the build's compiler and sanitizer flags (make test sets it)
    char *cmd = xasprintf("%s -o '%s/p' '%s' '%s/harness/util/cpu_guard.o' && '%s/p'", cc && *cc ? cc : "cc", dir, src,
                          bd, dir);
    RunResult r = run_sh(cmd);
    assert_int_equal(r.status, 1);
    assert_null(strstr(r.out, "main ran"));
    assert_non_null(strstr(r.err, "t2: this build uses avx9000, which this CPU lacks (it was built with "
                                  "-march=imaginary on another machine)"));
    assert_null(strstr(r.err, "sse3")); // every x86-64 CPU with SSE3 has it
    assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1); // one line
    run_free(&r);
    free(cmd), free(src), free(bd);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_named),
        cmocka_unit_test(test_build_isa_supported_here),
        cmocka_unit_test(test_guard_stops_before_main),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
