// cpu.c — CPUID, XGETBV and the AMX permission request.
//
// A feature counts only when the CPU reports it AND the operating system saves its registers
// (XCR0), else the first instruction would fault. AMX tile data is off for every process on
// Linux ≥ 5.16 until the process asks for it with arch_prctl(ARCH_REQ_XCOMP_PERM); a kernel that
// refuses (or predates the call) leaves amx_permitted 0, and t2 uses AVX512-BF16 instead.
#include "util/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static CpuInfo info;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static int request_amx(void) {
#ifdef __linux__
    unsigned long long perm = 0;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) != 0) return 0;
    return (perm >> XFEATURE_XTILEDATA) & 1;
#else
    return 0;
#endif
}

// T2_CPU_DISABLE="amx_bf16 avx512_bf16": act as if the CPU lacked these features (to run and
// test the other kernel paths on a machine that has them).
static void disable_from_env(void) {
    const char *e = getenv("T2_CPU_DISABLE");
    while (e && *e) {
        size_t n = strcspn(e, " ,");
        if (n == 6 && strncmp(e, "avx512", n) == 0) info.avx512 = info.avx512_bf16 = info.amx_bf16 = 0;
        if (n == 11 && strncmp(e, "avx512_bf16", n) == 0) info.avx512_bf16 = 0;
        if (n == 8 && strncmp(e, "amx_bf16", n) == 0) info.amx_bf16 = 0;
        e += n;
        e += strspn(e, " ,");
    }
}

static void detect(void) {
    unsigned a, b, c, d, max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf == 0) return;
    __cpuid(0, a, b, c, d);
    memcpy(info.vendor, &b, 4);
    memcpy(info.vendor + 4, &d, 4);
    memcpy(info.vendor + 8, &c, 4);
    __cpuid(1, a, b, c, d);
    int base_family = (int)((a >> 8) & 0xf), base_model = (int)((a >> 4) & 0xf);
    int ext_family = (int)((a >> 20) & 0xff), ext_model = (int)((a >> 16) & 0xf);
    info.family = base_family == 0xf ? base_family + ext_family : base_family;
    info.model = base_family == 0x6 || base_family == 0xf ? base_model | (ext_model << 4) : base_model;
    int osxsave = (c >> 27) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    int os_zmm = (xcr0 & 0xe6) == 0xe6;                  // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
    int os_tiles = ((xcr0 >> 17) & 3) == 3;              // XTILECFG, XTILEDATA
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
        info.avx512 = os_zmm && f && dq && bw && vl;
        int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1;
        info.amx_bf16 = info.avx512 && os_tiles && amx_bf16 && amx_tile;
        unsigned max_sub = a;
        if (max_sub >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            info.avx512_bf16 = info.avx512 && ((a >> 5) & 1);
        }
    }
    if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++) __cpuid(0x80000002 + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
        memcpy(info.brand, r, 48);
        // Trim the padding some CPUs put around the name.
        char *s = info.brand;
        while (*s == ' ') s++;
        memmove(info.brand, s, strlen(s) + 1);
        for (size_t n = strlen(info.brand); n > 0 && info.brand[n - 1] == ' ';) info.brand[--n] = '\0';
    }
    disable_from_env();
    if (info.amx_bf16) info.amx_permitted = request_amx();
}
#else
static void detect(void) { snprintf(info.vendor, sizeof info.vendor, "non-x86"); }
#endif

const CpuInfo *cpu_info(void) {
    pthread_once(&once, detect);
    return &info;
}

void cpu_features_string(const CpuInfo *c, char *out, unsigned long n) {
    snprintf(out, n, "%s%s%s%s", c->avx512 ? "avx512 " : "", c->avx512_bf16 ? "avx512_bf16 " : "",
             c->amx_bf16 ? "amx_bf16 " : "", c->amx_bf16 && !c->amx_permitted ? "(amx not permitted) " : "");
    size_t len = strlen(out);
    if (len > 0 && out[len - 1] == ' ') out[len - 1] = '\0';
}
