// cpu.h — what this CPU (and the kernel) let t2 use, read once from CPUID at run time, so one
// binary runs on any x86-64 and picks its matrix kernels for the machine it lands on.
#ifndef T2_CPU_H
#define T2_CPU_H

typedef struct {
    char vendor[13];   // "GenuineIntel", "AuthenticAMD", ...
    char brand[49];    // "AMD EPYC 9755 128-Core Processor", ...
    int family, model; // display family and model
    int avx512;        // AVX-512 F, BW, VL, DQ, with the ZMM state enabled by the OS
    int avx512_bf16;   // AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16): Cooper Lake, Sapphire Rapids, Zen 4+
    int amx_bf16;      // AMX-TILE and AMX-BF16 in CPUID with the tile state enabled by the OS
    int amx_permitted; // the kernel granted this process the AMX tile data (ARCH_REQ_XCOMP_PERM)
} CpuInfo;

// Read once (thread-safe); AMX permission is requested from the kernel on the first call.
// T2_CPU_DISABLE="amx_bf16 avx512_bf16 avx512" (any of them) makes t2 act as if the CPU lacked
// those features: to run or test the other kernel paths on a machine that has them.
const CpuInfo *cpu_info(void);
// Space-separated list of the features above that this CPU has ("avx512 avx512_bf16 amx_bf16").
void cpu_features_string(const CpuInfo *c, char *out, unsigned long n);

// What the compiler was allowed to use in this build (make's ARCH): the flags, and the
// instruction-set extensions they enable, space-separated, as __builtin_cpu_supports names them
// (build_isa.c).
extern const char t2_build_arch[];
extern const char t2_build_isa[];
// Whether this CPU (and the OS, for the AVX and AVX-512 register state) supports NAME, one of
// build_isa.c's names (__builtin_cpu_supports, not cpu_info(): T2_CPU_DISABLE does not apply);
// an unknown name is unsupported, so that a name added there cannot pass unchecked.
int cpu_supports_name(const char *name);
// The names in ISA for which has(name) is false, space-separated into OUT (n bytes); returns
// how many.
int cpu_isa_missing(const char *isa, int (*has)(const char *name), char *out, unsigned long n);
// cpu_isa_missing of this build's extensions on this CPU. A binary whose build uses an extension
// this CPU lacks does not get to main: cpu_guard.c stops it first, naming what is missing.
int cpu_guard_check(char *out, unsigned long n);

#endif
