// build_isa.c — the instruction-set extensions this build's compiler was allowed to use (make's
// ARCH), read by cpu_guard.c. Data only: this file is compiled with ARCH like the rest, and has
// no code that could itself need them.
#include "util/cpu.h"

#ifndef T2_BUILD_ARCH
#define T2_BUILD_ARCH "(unknown)"
#endif

const char t2_build_arch[] = T2_BUILD_ARCH;

// Names as __builtin_cpu_supports spells them.
const char t2_build_isa[] = ""
#ifdef __SSE3__
                            " sse3"
#endif
#ifdef __SSSE3__
                            " ssse3"
#endif
#ifdef __SSE4_1__
                            " sse4.1"
#endif
#ifdef __SSE4_2__
                            " sse4.2"
#endif
#ifdef __POPCNT__
                            " popcnt"
#endif
#ifdef __AVX__
                            " avx"
#endif
#ifdef __AVX2__
                            " avx2"
#endif
#ifdef __FMA__
                            " fma"
#endif
#ifdef __BMI__
                            " bmi"
#endif
#ifdef __BMI2__
                            " bmi2"
#endif
// Plain C code compiles to these too (byte-swapping loads, leading-zero counts, half floats);
// clang's __builtin_cpu_supports does not know their names.
#if defined(__MOVBE__) && !defined(__clang__)
                            " movbe"
#endif
#if defined(__LZCNT__) && !defined(__clang__)
                            " lzcnt"
#endif
#if defined(__F16C__) && !defined(__clang__)
                            " f16c"
#endif
#ifdef __AVX512F__
                            " avx512f"
#endif
#ifdef __AVX512BW__
                            " avx512bw"
#endif
#ifdef __AVX512VL__
                            " avx512vl"
#endif
#ifdef __AVX512DQ__
                            " avx512dq"
#endif
#ifdef __AVX512CD__
                            " avx512cd"
#endif
#ifdef __AVX512VNNI__
                            " avx512vnni"
#endif
#ifdef __AVX512BF16__
                            " avx512bf16"
#endif
#ifdef __AVX512IFMA__
                            " avx512ifma"
#endif
#ifdef __AVX512VBMI__
                            " avx512vbmi"
#endif
#ifdef __AVX512VBMI2__
                            " avx512vbmi2"
#endif
#ifdef __AVX512BITALG__
                            " avx512bitalg"
#endif
#ifdef __AVX512VPOPCNTDQ__
                            " avx512vpopcntdq"
#endif
    ;
