// matmul_bf16.c — bf16 products with float32 accumulation on AVX512-BF16 (vdpbf16ps).
//
// vdpbf16ps multiplies pairs of bf16 and adds both products to a float32 lane: lane j gets
// a[2j]·b[2j] + a[2j+1]·b[2j+1]. So operands are stored as PAIRS along the reduction dimension K:
// A is read one pair (32 bits) at a time and broadcast, B is packed into panels of 32 output
// columns, (ceil(N/32), ceil(K/2), 32, 2) — one k-pair of a panel is two zmm registers. The
// register tile is MR = 12 rows × 32 columns (24 accumulators); K is cut into blocks of KC pairs
// so that a B panel block stays in L1, and M into blocks of MC rows so that an A block stays in
// L2. Every output is summed in the same order whatever the thread count, so results are
// deterministic.
//
// What follows a product runs on its tiles, as in matmul_f32.c: the residual add and a row hook
// (an RMSNorm) on finished rows (bf16_gemm_hook), SwiGLU on the gate-up product and its backward
// on the down product's dx, which write their results in bf16 for the product after them.
//
// Conversions round to nearest even with vcvtne2ps2bf16 (which, like every AVX512-BF16
// instruction, treats float32 denormals as zero). These functions must only be called on a CPU
// with AVX512-BF16 (the caller checks, see util/cpu.h); they are compiled for it whatever -march
// says, so the rest of the binary runs anywhere.
#include "kernels.h"

#include <string.h>

#if T2_BF16_KERNELS
#include <immintrin.h>

static inline int imin(int a, int b) { return a < b ? a : b; }

#define NR 32
#define MR 12
#ifndef KC
#define KC 256  // k-pairs per block: a B panel block is KC·128 bytes = 32 KiB
#endif
#ifndef MC
#define MC 192  // rows per block: an A block is MC·KC·4 bytes = 192 KiB
#endif

size_t bf16_panels_size(int N, int K) { return (size_t)((N + NR - 1) / NR) * (size_t)((K + 1) / 2) * 2 * NR; }

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#endif

#include "simd512.h"

static inline __mmask32 mask32(int n) { return n >= 32 ? (__mmask32)0xFFFFFFFFu : n <= 0 ? 0 : (__mmask32)((1u << n) - 1); }

// 32 floats (the first n of src, the rest zero) as 32 bf16.
static inline __m512i cvt32(const float *src, int n) {
    __m512 lo = _mm512_maskz_loadu_ps(mask16(n), src);
    __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), src + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

void bf16_from_rows(bf16 *dst, size_t ldd, const float *src, size_t lds, size_t rows, int cols) {
    for (size_t i = 0; i < rows; i++) {
        const float *s = src + i * lds;
        bf16 *d = dst + i * ldd;
        for (int j = 0; j < (int)ldd; j += 32)
            _mm512_mask_storeu_epi16(d + j, mask32((int)ldd - j), cvt32(s + j, cols - j));
    }
}

// Word order of cvtne2ps(r1, r0) is r0[0..15], r1[0..15]; this interleaves them into pairs.
static inline __m512i pair_index(void) {
    return _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
                            19, 3, 18, 2, 17, 1, 16, 0);
}

void bf16_pairs_from_rows(bf16 *dst, size_t ldd, const float *src, size_t lds, int K, int N) {
    const __m512i idx = pair_index();
    for (int kp = 0; kp < (K + 1) / 2; kp++) {
        const float *r0 = src + (size_t)(2 * kp) * lds;
        const float *r1 = r0 + lds;
        int n1 = 2 * kp + 1 < K ? N : 0; // the row after the last of an odd K is zero
        bf16 *d = dst + (size_t)kp * 2 * ldd;
        for (int j = 0; j < (int)ldd; j += 16) {
            __m512 a = _mm512_maskz_loadu_ps(mask16(N - j), r0 + j);
            __m512 b = _mm512_maskz_loadu_ps(mask16(n1 - j), r1 + j);
            __m512i w = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
            _mm512_mask_storeu_epi32(d + 2 * j, mask16((int)ldd - j), w);
        }
    }
}

void bf16_rows_and_pairs(bf16 *rows, size_t ldr, bf16 *pairs, size_t ldp, const float *src, size_t lds, int n,
                         int cols) {
    const __m512i idx = pair_index();
    size_t ld = ldr > ldp ? ldr : ldp;
    for (int kp = 0; kp < (n + 1) / 2; kp++) {
        const float *r0 = src + (size_t)(2 * kp) * lds;
        const float *r1 = r0 + lds;
        int two = 2 * kp + 1 < n, n1 = two ? cols : 0; // the row after the last of an odd n is zero
        bf16 *d0 = rows + (size_t)(2 * kp) * ldr, *d1 = d0 + ldr, *dp = pairs + (size_t)kp * 2 * ldp;
        for (int j = 0; j < (int)ld; j += 16) {
            __m512 a = _mm512_maskz_loadu_ps(mask16(cols - j), r0 + j);
            __m512 b = _mm512_maskz_loadu_ps(mask16(n1 - j), r1 + j);
            __m512i w = (__m512i)_mm512_cvtne2ps_pbh(b, a); // a's 16 words, then b's
            __mmask16 mr = mask16((int)ldr - j);
            _mm256_mask_storeu_epi16(d0 + j, mr, _mm512_castsi512_si256(w));
            if (two) _mm256_mask_storeu_epi16(d1 + j, mr, _mm512_extracti64x4_epi64(w, 1));
            _mm512_mask_storeu_epi32(dp + 2 * j, mask16((int)ldp - j), _mm512_permutexvar_epi16(idx, w));
        }
    }
}

void bf16_pack_kn(bf16 *bp, const float *src, size_t lds, int K, int N) {
    size_t panel = (size_t)((K + 1) / 2) * 2 * NR;
    for (int p = 0; p * NR < N; p++)
        bf16_pairs_from_rows(bp + (size_t)p * panel, NR, src + (size_t)p * NR, lds, K, imin(NR, N - p * NR));
}

// One panel of 32 B columns from rows of an (N, K) matrix: row j of the panel is rows[j] (NULL: zero).
static void pack_panel_nk(bf16 *d, const float *const rows[NR], int K) {
    int KP = (K + 1) / 2;
    for (int kp0 = 0; kp0 < KP; kp0 += 16) {
        // 32 rows × 16 pairs converted, then written out transposed: (16 pairs, 32 rows).
        uint32_t blk[NR][16];
        for (int j = 0; j < NR; j++) {
            __m512i w = rows[j] ? cvt32(rows[j] + 2 * kp0, K - 2 * kp0) : _mm512_setzero_si512();
            _mm512_storeu_si512(blk[j], w);
        }
        bf16 *dk = d + (size_t)kp0 * 2 * NR;
        int nk = imin(16, KP - kp0);
        for (int k = 0; k < nk; k++)
            for (int j = 0; j < NR; j++) memcpy(dk + ((size_t)k * NR + (size_t)j) * 2, &blk[j][k], 4);
    }
}

void bf16_pack_nk(bf16 *bp, const float *src, size_t lds, int N, int K) {
    size_t panel = (size_t)((K + 1) / 2) * 2 * NR;
    for (int p = 0; p * NR < N; p++) {
        const float *rows[NR];
        for (int j = 0; j < NR; j++) rows[j] = p * NR + j < N ? src + (size_t)(p * NR + j) * lds : NULL;
        pack_panel_nk(bp + (size_t)p * panel, rows, K);
    }
}

void bf16_pack_nk_pairs(bf16 *bp, const float *src, size_t lds, int N, int K, size_t second) {
    size_t panel = (size_t)((K + 1) / 2) * 2 * NR;
    for (int p = 0; p * 16 < N; p++) {
        const float *rows[NR];
        for (int j = 0; j < 16; j++) {
            const float *g = p * 16 + j < N ? src + (size_t)(p * 16 + j) * lds : NULL;
            rows[j] = g;
            rows[16 + j] = g ? g + second * lds : NULL;
        }
        pack_panel_nk(bp + (size_t)p * panel, rows, K);
    }
}

// The sums of a tile: c0, c1 (mr rows × 32 columns) = A (mr rows, kp pairs) · B panel block (kp, 32, 2).
static inline __attribute__((always_inline)) void tile_sums(int mr, __m512 *c0, __m512 *c1, const bf16 *A, size_t a_rs,
                                                            size_t a_ks, const bf16 *B, int kp) {
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    // Row r's pair is read at base[r / 3] + 2·(r % 3)·a_rs: four base pointers and one stride, where
    // twelve row pointers would not fit the general registers (they were spilled and reloaded).
    const bf16 *a0 = A, *a3 = A + 6 * a_rs, *a6 = A + 12 * a_rs, *a9 = A + 18 * a_rs;
    for (int k = 0; k < kp; k++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(B + (size_t)k * 2 * NR);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(B + (size_t)k * 2 * NR + NR);
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
            int32_t pair;
            memcpy(&pair, (r < 3 ? a0 : r < 6 ? a3 : r < 9 ? a6 : a9) + 2 * (size_t)(r % 3) * a_rs, 4);
            __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
            c0[r] = _mm512_dpbf16_ps(c0[r], a, b0);
            c1[r] = _mm512_dpbf16_ps(c1[r], a, b1);
        }
        a0 += 2 * a_ks, a3 += 2 * a_ks, a6 += 2 * a_ks, a9 += 2 * a_ks;
    }
}

// C (mr, ncol ≤ 32) (+)= A (mr rows, kp pairs) · B panel block (kp, 32, 2), + add (ld ld_add) when
// add is not NULL (the residual, added once: to the whole sums, with the last K block).
static inline __attribute__((always_inline)) void tile(int mr, float *C, size_t ldc, const bf16 *A, size_t a_rs,
                                                       size_t a_ks, const bf16 *B, int kp, int ncol, int accumulate,
                                                       const float *add, size_t ld_add) {
    __m512 c0[MR], c1[MR];
    tile_sums(mr, c0, c1, A, a_rs, a_ks, B, kp);
    __mmask16 m0 = mask16(ncol), m1 = mask16(ncol - 16);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        float *cr = C + (size_t)r * ldc;
        if (accumulate) {
            c0[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), c0[r]);
            c1[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), c1[r]);
        }
        if (add) {
            const float *ar = add + (size_t)r * ld_add;
            c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, ar));
            c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, ar + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, c0[r]);
        _mm512_mask_storeu_ps(cr + 16, m1, c1[r]);
    }
}

// One row block of at most MR rows: the tile specialised for its row count.
static void tile_rows(int mr, float *C, size_t ldc, const bf16 *A, size_t a_rs, size_t a_ks, const bf16 *B, int kp,
                      int ncol, int acc, const float *add, size_t ld_add) {
#define TILE(R) tile(R, C, ldc, A, a_rs, a_ks, B, kp, ncol, acc, add, ld_add)
    SWITCH_ROWS(mr, TILE)
#undef TILE
}

// ---------------------------------------------------------------------------------------------
// SwiGLU on the tiles (as matmul_f32.c does in float32), writing what the next product reads in
// bf16 directly, so that no pass over the (n, F) and (n, 2F) activations is left between them.
enum { EPI_SWIGLU, EPI_SWIGLU_BWD };

typedef struct {
    int kind;
    float *gu;              // SWIGLU: (M, 2F) written; SWIGLU_BWD: read
    float *h;               // SWIGLU: (M, F)
    bf16 *hb;               // SWIGLU: h as bf16 rows, ld ldhb
    size_t ldhb;
    bf16 *rows;             // SWIGLU_BWD: dgu as bf16 rows, ld ldr
    size_t ldr;
    bf16 *pairs;            // SWIGLU_BWD: dgu pair-major, (ceil(M/2), ldp, 2)
    size_t ldp;
    int F;
} Epilogue;

// 16 floats as 16 bf16 (round to nearest even, as bf16_from_rows).
static inline __m256i cvt16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

// Rows [m, m + mr) of gate-up columns j0 .. j0 + ncol (ncol ≤ 16): gate sums in acc[r][0..15],
// up sums in acc[r][16..31]; partial sums of a K block unless last.
static void finish_swiglu(const Epilogue *e, int mr, int m, int j0, int ncol, float (*acc)[NR], int first, int last) {
    __mmask16 mk = mask16(ncol);
    for (int r = 0; r < mr; r++) {
        float *g = e->gu + (size_t)(m + r) * 2 * (size_t)e->F + j0, *u = g + e->F;
        __m512 gv = _mm512_loadu_ps(acc[r]), uv = _mm512_loadu_ps(acc[r] + 16);
        if (!first) {
            gv = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, g), gv);
            uv = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, u), uv);
        }
        if (!last) {
            _mm512_mask_storeu_ps(g, mk, gv);
            _mm512_mask_storeu_ps(u, mk, uv);
            continue;
        }
        __m512 silu, du, h = swiglu16(gv, uv, &silu, &du); // gu keeps silu(g) and u·silu'(g)
        _mm512_mask_storeu_ps(e->h + (size_t)(m + r) * (size_t)e->F + j0, mk, h);
        _mm256_mask_storeu_epi16(e->hb + (size_t)(m + r) * e->ldhb + j0, mk, cvt16(h));
        _mm512_mask_storeu_ps(g, mk, silu);
        _mm512_mask_storeu_ps(u, mk, du);
    }
}

// Rows [m, m + mr) (m even) of dh columns j0 .. j0 + ncol (ncol ≤ 32), whole sums: dgu =
// [dh·u·silu'(g) | dh·silu(g)] from the forward's gu, written as bf16 rows and as row pairs.
static void finish_swiglu_bwd(const Epilogue *e, int mr, int m, int j0, int ncol, float (*acc)[NR]) {
    const __m512i idx = pair_index();
    size_t F = (size_t)e->F;
    for (int r = 0; r < mr; r += 2) {
        int has2 = r + 1 < mr;
        for (int half = 0; half < 2; half++) {
            __mmask16 mk = mask16(ncol - 16 * half);
            if (!mk) break;
            size_t j = (size_t)j0 + 16 * (size_t)half;
            __m512 dg[2], du[2];
            for (int i = 0; i < 2; i++) {
                dg[i] = du[i] = _mm512_setzero_ps();
                if (i == 1 && !has2) break;
                const float *gr = e->gu + (size_t)(m + r + i) * 2 * F + j;
                __m512 dh = _mm512_loadu_ps(acc[r + i] + 16 * half);
                dg[i] = _mm512_mul_ps(dh, _mm512_maskz_loadu_ps(mk, gr + F));
                du[i] = _mm512_mul_ps(dh, _mm512_maskz_loadu_ps(mk, gr));
                bf16 *row = e->rows + (size_t)(m + r + i) * e->ldr + j;
                _mm256_mask_storeu_epi16(row, mk, cvt16(dg[i]));
                _mm256_mask_storeu_epi16(row + F, mk, cvt16(du[i]));
            }
            bf16 *pr = e->pairs + ((size_t)(m + r) / 2 * e->ldp + j) * 2;
            _mm512_mask_storeu_epi32(pr, mk, _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(dg[1], dg[0])));
            _mm512_mask_storeu_epi32(pr + 2 * F, mk, _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(du[1], du[0])));
        }
    }
}

static inline __attribute__((always_inline)) void tile_epi(int mr, const Epilogue *e, int m, int j0, int ncol,
                                                           const bf16 *A, size_t a_rs, size_t a_ks, const bf16 *B,
                                                           int kp, int first, int last) {
    __m512 c0[MR], c1[MR];
    float acc[MR][NR];
    tile_sums(mr, c0, c1, A, a_rs, a_ks, B, kp);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        _mm512_storeu_ps(acc[r], c0[r]);
        _mm512_storeu_ps(acc[r] + 16, c1[r]);
    }
    if (e->kind == EPI_SWIGLU)
        finish_swiglu(e, mr, m, j0, ncol, acc, first, last);
    else
        finish_swiglu_bwd(e, mr, m, j0, ncol, acc);
}

static void tile_rows_epi(int mr, const Epilogue *e, int m, int j0, int ncol, const bf16 *A, size_t a_rs,
                          size_t a_ks, const bf16 *B, int kp, int first, int last) {
#define TILE(R) tile_epi(R, e, m, j0, ncol, A, a_rs, a_ks, B, kp, first, last)
    SWITCH_ROWS(mr, TILE)
#undef TILE
}

// What a plain product does besides C (+)= A·B: the residual add (add NULL: none), and the hook
// on each block of finished rows (NULL: none).
typedef struct {
    const float *add;
    size_t ld_add;
    const F32RowHook *hook;
} Plain;

// The loops around the tiles: K in blocks of kc_max pairs, M in blocks of MC rows, B's panels (of
// pw output columns: 32, or 16 gate-up pairs), row tiles of MR. e NULL: C (+)= A·B, with pl's
// add and hook.
static void run(float *C, size_t ldc, const Epilogue *e, const Plain *pl, const bf16 *A, size_t a_rs, size_t a_ks,
                const bf16 *bp, int M, int N, int K, int accumulate, int kc_max, int pw) {
    int KP = (K + 1) / 2;
    size_t panel = (size_t)KP * 2 * NR;
    for (int k0 = 0; k0 < KP; k0 += kc_max) {
        int kc = imin(kc_max, KP - k0), first = k0 == 0, last = k0 + kc >= KP;
        int acc = accumulate || k0 > 0;
        for (int m0 = 0; m0 < M; m0 += MC) {
            int mc = imin(MC, M - m0);
            for (int p = 0; p * pw < N; p++) {
                const bf16 *B = bp + (size_t)p * panel + (size_t)k0 * 2 * NR;
                int ncol = imin(pw, N - p * pw);
                for (int m = m0; m < m0 + mc; m += MR) {
                    const bf16 *Am = A + 2 * ((size_t)m * a_rs + (size_t)k0 * a_ks);
                    int mr = imin(MR, m0 + mc - m);
                    if (e) {
                        tile_rows_epi(mr, e, m, p * pw, ncol, Am, a_rs, a_ks, B, kc, first, last);
                    } else {
                        const float *add = last && pl && pl->add ? pl->add + (size_t)m * pl->ld_add + (size_t)p * NR
                                                                   : NULL;
                        tile_rows(mr, C + (size_t)m * ldc + (size_t)p * NR, ldc, Am, a_rs, a_ks, B, kc, ncol, acc, add,
                                  pl ? pl->ld_add : 0);
                    }
                }
            }
            if (last && pl && pl->hook) pl->hook->fn(pl->hook->ctx, m0, mc); // rows [m0, m0 + mc) are final
        }
    }
}

void bf16_gemm(float *C, size_t ldc, const bf16 *A, size_t a_rs, size_t a_ks, const bf16 *bp, int M, int N, int K,
               int accumulate) {
    run(C, ldc, NULL, NULL, A, a_rs, a_ks, bp, M, N, K, accumulate, KC, NR);
}

void bf16_gemm_hook(float *C, size_t ldc, const bf16 *A, size_t a_rs, size_t a_ks, const bf16 *bp, int M, int N, int K,
                    const float *add, size_t ld_add, const F32RowHook *hook) {
    int acc = add == C && ld_add == ldc; // C += A·B
    Plain pl = {acc ? NULL : add, ld_add, hook};
    run(C, ldc, NULL, &pl, A, a_rs, a_ks, bp, M, N, K, acc, KC, NR);
}

void bf16_gemm_swiglu(float *gu, float *h, bf16 *hb, size_t ldhb, const bf16 *A, size_t a_rs, size_t a_ks,
                      const bf16 *bp, int M, int F, int K) {
    Epilogue e = {.kind = EPI_SWIGLU, .gu = gu, .h = h, .hb = hb, .ldhb = ldhb, .F = F};
    run(NULL, 0, &e, NULL, A, a_rs, a_ks, bp, M, F, K, 0, KC, 16);
}

void bf16_gemm_swiglu_backward(bf16 *rows, size_t ldr, bf16 *pairs, size_t ldp, const float *gu, const bf16 *A,
                               size_t a_rs, size_t a_ks, const bf16 *bp, int M, int F, int K) {
    Epilogue e = {.kind = EPI_SWIGLU_BWD, .gu = (float *)gu, .rows = rows, .ldr = ldr, .pairs = pairs, .ldp = ldp,
                  .F = F};
    run(NULL, 0, &e, NULL, A, a_rs, a_ks, bp, M, F, K, 0, (K + 1) / 2, NR); // whole sums
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif // T2_BF16_KERNELS
