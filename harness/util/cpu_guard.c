// cpu_guard.c — refuse, with one clear line, to run a build made for a CPU this one is not.
//
// The default build lets the compiler use every instruction of the machine that builds it
// (make's ARCH). Copied to an older machine — a Slurm compute node older than the login node
// that built it — such a binary would die of SIGILL at its first AVX-512 instruction, somewhere
// in the middle of a sweep. This file is compiled for the x86-64 baseline (see the Makefile), and
// its constructor runs before main: it compares what the build may use (build_isa.c) with what
// this CPU and OS support, and stops with the names of what is missing.
#include "util/cpu.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cpu_supports_name(const char *name) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAS(s)                                                                                                         \
    if (strcmp(name, s) == 0) return __builtin_cpu_supports(s) != 0;
    HAS("sse3") HAS("ssse3") HAS("sse4.1") HAS("sse4.2") HAS("popcnt") HAS("avx") HAS("avx2") HAS("fma") HAS("bmi")
    HAS("bmi2") HAS("avx512f") HAS("avx512bw") HAS("avx512vl") HAS("avx512dq") HAS("avx512cd") HAS("avx512vnni")
    HAS("avx512bf16") HAS("avx512ifma") HAS("avx512vbmi") HAS("avx512vbmi2") HAS("avx512bitalg")
    HAS("avx512vpopcntdq")
#if !defined(__clang__)
    HAS("movbe") HAS("lzcnt") HAS("f16c")
#endif
#undef HAS
#endif
    (void)name;
    return 0;
}

int cpu_isa_missing(const char *isa, int (*has)(const char *name), char *out, unsigned long n) {
    int missing = 0;
    size_t used = 0;
    if (n) out[0] = '\0';
    for (const char *p = isa; *p;) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (len == 0) break;
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)len, p); // a longer name is no extension: missing
        if (len >= sizeof name || !has(name)) {
            if (used < n) {
                int w = snprintf(out + used, n - used, "%s%s", missing ? " " : "", name);
                if (w > 0) used += (size_t)w;
            }
            missing++;
        }
        p += len;
    }
    return missing;
}

int cpu_guard_check(char *out, unsigned long n) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
#endif
    return cpu_isa_missing(t2_build_isa, cpu_supports_name, out, n);
}

__attribute__((constructor)) static void cpu_guard(void) {
    char missing[256];
    if (cpu_guard_check(missing, sizeof missing) == 0) return;
    fprintf(stderr,
            "t2: this build uses %s, which this CPU lacks (it was built with %s on another machine): rebuild it here "
            "(make clean && make), or build one binary for every machine with make ARCH=-march=x86-64-v3 (or -v2)\n",
            missing, t2_build_arch);
    _exit(1);
}
