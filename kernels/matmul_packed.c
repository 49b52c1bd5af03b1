// matmul_packed.c — y = x · Wᵀ for a few rows (decoding) with W packed once into panels.
//
// Decoding multiplies 1–64 rows by the same weights at every step. sgemm repacks W on every call
// and its blocking is tuned for many rows, so at these sizes it reaches a fraction of the
// machine's peak. Here W is packed once, in panels of PANEL output columns stored k-major
// ((OC/PANEL, IC, PANEL), zero-padded), and a register-blocked kernel streams each panel once for
// a block of rows. Every output row is computed the same way whatever n is or where the row sits
// in the batch, so a sample's numbers do not depend on how the batch is split.
//
// The AVX-512 blocks are compiled for AVX-512 whatever -march says and chosen by the caller
// (util/cpu.h), so the binary runs on any x86-64; the portable loop does each output's sums in
// the same order, with FMA where the build has it, so the two give the same numbers.
#include "kernels.h"

#include <string.h>

#include "vecmath.h"

#if T2_F32_KERNELS
#include <immintrin.h>
#endif

#define PANEL 32

size_t packed_weight_floats(int IC, int OC) { return (size_t)((OC + PANEL - 1) / PANEL) * PANEL * (size_t)IC; }

void pack_weight(float *wp, const float *w, int IC, int OC) {
    for (int o0 = 0; o0 < OC; o0 += PANEL) {
        float *panel = wp + (size_t)o0 * IC; // (IC, PANEL)
        for (int k = 0; k < IC; k++)
            for (int c = 0; c < PANEL; c++) {
                int o = o0 + c;
                panel[(size_t)k * PANEL + c] = o < OC ? w[(size_t)o * IC + k] : 0.0f;
            }
    }
}

#if T2_F32_KERNELS
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif
_Static_assert(PANEL == 2 * 16, "a panel row is two 16-float AVX-512 registers");
// RB rows × 32 columns: 2·RB accumulators in registers, one pass over the panel.
#define DEFINE_BLOCK(RB)                                                                                    \
    static void block_##RB(float *out, const float *x, const float *panel, int IC, int OC, int ncol) {     \
        __m512 acc0[RB], acc1[RB];                                                                          \
        for (int r = 0; r < RB; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();                              \
        for (int k = 0; k < IC; k++) {                                                                      \
            __m512 w0 = _mm512_loadu_ps(panel + (size_t)k * PANEL);                                         \
            __m512 w1 = _mm512_loadu_ps(panel + (size_t)k * PANEL + 16);                                    \
            _Pragma("GCC unroll 8") for (int r = 0; r < RB; r++) {                                          \
                __m512 xv = _mm512_set1_ps(x[(size_t)r * IC + k]);                                          \
                acc0[r] = _mm512_fmadd_ps(xv, w0, acc0[r]);                                                 \
                acc1[r] = _mm512_fmadd_ps(xv, w1, acc1[r]);                                                 \
            }                                                                                               \
        }                                                                                                   \
        __mmask16 m0 = ncol >= 16 ? 0xFFFF : (__mmask16)((1u << ncol) - 1);                                 \
        __mmask16 m1 = ncol >= 32 ? 0xFFFF : ncol <= 16 ? 0 : (__mmask16)((1u << (ncol - 16)) - 1);         \
        for (int r = 0; r < RB; r++) {                                                                      \
            _mm512_mask_storeu_ps(out + (size_t)r * OC, m0, acc0[r]);                                       \
            _mm512_mask_storeu_ps(out + (size_t)r * OC + 16, m1, acc1[r]);                                  \
        }                                                                                                   \
    }
DEFINE_BLOCK(8)
DEFINE_BLOCK(4)
DEFINE_BLOCK(1)

static void forward_avx512(float *out, const float *x, const float *panel, size_t n, int IC, int OC, int ncol) {
    size_t r = 0;
    for (; r + 8 <= n; r += 8) block_8(out + r * OC, x + r * IC, panel, IC, OC, ncol);
    for (; r + 4 <= n; r += 4) block_4(out + r * OC, x + r * IC, panel, IC, OC, ncol);
    for (; r < n; r++) block_1(out + r * OC, x + r * IC, panel, IC, OC, ncol);
}
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

// Portable version: the same order of operations per output, left to the compiler to vectorise.
static void block_any(float *out, const float *x, const float *panel, int IC, int OC, int ncol, int rb) {
    for (int r = 0; r < rb; r++) {
        float acc[PANEL] = {0};
        for (int k = 0; k < IC; k++) {
            float xv = x[(size_t)r * IC + k];
            const float *w = panel + (size_t)k * PANEL;
            // An explicit multiply-add where the build has FMA, as the AVX-512 blocks do: left to
            // the compiler it is formed at -O3 but not at the sanitizer build's -O1.
            for (int c = 0; c < PANEL; c++) acc[c] = T2_FMA(xv, w[c], acc[c]);
        }
        memcpy(out + (size_t)r * OC, acc, (size_t)ncol * sizeof(float));
    }
}

void matmul_packed_forward(float *out, const float *x, const float *wp, size_t n, int IC, int OC, int avx512) {
    for (int o0 = 0; o0 < OC; o0 += PANEL) {
        const float *panel = wp + (size_t)o0 * IC;
        int ncol = OC - o0 < PANEL ? OC - o0 : PANEL;
#if T2_F32_KERNELS
        if (avx512) {
            forward_avx512(out + o0, x, panel, n, IC, OC, ncol);
            continue;
        }
#else
        (void)avx512;
#endif
        block_any(out + o0, x, panel, IC, OC, ncol, (int)n);
    }
}
