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

#if T2_F32_KERNELS || (defined(__AVX2__) && defined(__FMA__))
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

// Portable version: the same order of operations per output. With AVX2 and FMA in the build
// (make's ARCH; cpu_guard.c makes sure the CPU has them), two rows per pass over the panel with the
// panel row held in registers: 8 sums and 4 weight registers of 16, so each weight load feeds two
// multiply-adds (one row at a time, decoding was bound by the loads). Otherwise left to the
// compiler to vectorise.
#if defined(__AVX2__) && defined(__FMA__)
static inline __attribute__((always_inline)) void rows_any(float *out, const float *x, const float *panel, int IC,
                                                           int OC, int ncol, const int R) {
    __m256 acc[2][4];
    for (int i = 0; i < R; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_ps();
    for (int k = 0; k < IC; k++) {
        const float *w = panel + (size_t)k * PANEL;
        __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8), w2 = _mm256_loadu_ps(w + 16),
               w3 = _mm256_loadu_ps(w + 24);
        for (int i = 0; i < R; i++) {
            __m256 xv = _mm256_set1_ps(x[(size_t)i * IC + k]);
            acc[i][0] = _mm256_fmadd_ps(xv, w0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(xv, w1, acc[i][1]);
            acc[i][2] = _mm256_fmadd_ps(xv, w2, acc[i][2]);
            acc[i][3] = _mm256_fmadd_ps(xv, w3, acc[i][3]);
        }
    }
    for (int i = 0; i < R; i++) {
        float row[PANEL];
        for (int j = 0; j < 4; j++) _mm256_storeu_ps(row + 8 * j, acc[i][j]);
        memcpy(out + (size_t)i * OC, row, (size_t)ncol * sizeof(float));
    }
}
#else
static inline __attribute__((always_inline)) void rows_any(float *out, const float *x, const float *panel, int IC,
                                                           int OC, int ncol, const int R) {
    float acc[2][PANEL] = {{0}};
    for (int k = 0; k < IC; k++) {
        const float *w = panel + (size_t)k * PANEL;
        for (int i = 0; i < R; i++) {
            float xv = x[(size_t)i * IC + k];
            // An explicit multiply-add where the build has FMA, as the AVX-512 blocks do: left to
            // the compiler it is formed at -O3 but not at the sanitizer build's -O1.
            for (int c = 0; c < PANEL; c++) acc[i][c] = T2_FMA(xv, w[c], acc[i][c]);
        }
    }
    for (int i = 0; i < R; i++) memcpy(out + (size_t)i * OC, acc[i], (size_t)ncol * sizeof(float));
}
#endif

static void block_any(float *out, const float *x, const float *panel, int IC, int OC, int ncol, int rb) {
    int r = 0;
    for (; r + 2 <= rb; r += 2) rows_any(out + (size_t)r * OC, x + (size_t)r * IC, panel, IC, OC, ncol, 2);
    for (; r < rb; r++) rows_any(out + (size_t)r * OC, x + (size_t)r * IC, panel, IC, OC, ncol, 1);
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
