// matmul_f32.c — float32 products of a training step on AVX-512, with what follows them fused.
//
// Why not sgemm: the layers of the small models a sweep is full of are products like
// (1024 × 48)·(48 × 144). OpenBLAS packs both operands on every call and, with beta = 0, first
// zeroes the output; at these sizes that costs a fifth of a training step. Here the weight is
// packed once per step (f32_pack_nk), every other operand is read where it lies (any row and
// column strides), and the element-wise work that follows a product — the residual add, SwiGLU
// and its backward — runs on the tile while it is still in registers or L1, saving whole passes
// over the activations.
//
// The register tile is MR = 12 rows × 32 columns (24 accumulators: a broadcast of A times two
// zmm of B per k); a tile of at most 16 columns uses one zmm per row. K is cut into blocks of KC
// so that a B panel block stays in L1, M into blocks of MC rows. Every output is summed in the
// same order whatever the thread count or batch split, so results are deterministic.
//
// Compiled for AVX-512 whatever -march says; call only on a CPU with it (util/cpu.h).
#include "kernels.h"

#include <string.h>

#include "vecmath.h"

#if T2_F32_KERNELS
#include <immintrin.h>

static inline int imin(int a, int b) { return a < b ? a : b; }

#define NR 32
#define MR 12
#define KC 384 // k per block: a packed B panel block is KC·128 bytes = 48 KiB at most
#define MC 192

size_t f32_panels_size(int N, int K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

void f32_pack_nk_pairs(float *bp, const float *src, size_t lds, int N, int K, size_t second) {
    for (int p = 0; p * 16 < N; p++) {
        float *panel = bp + (size_t)p * NR * (size_t)K; // (K, 16 + 16)
        int rows = imin(16, N - p * 16);
        for (int k = 0; k < K; k++)
            for (int j = 0; j < 16; j++) {
                size_t row = (size_t)(p * 16 + j);
                panel[(size_t)k * NR + j] = j < rows ? src[row * lds + k] : 0.0f;
                panel[(size_t)k * NR + 16 + j] = j < rows ? src[(row + second) * lds + k] : 0.0f;
            }
    }
}

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq")
#endif

#include "simd512.h"

// In-register transpose of a 16 × 16 block: r[i] holds row i on entry, column i on return.
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

// Panels by 16 × 16 blocks transposed in registers: rows past N and columns past K are zero.
void f32_pack_nk(float *bp, const float *src, size_t lds, int N, int K) {
    for (int p = 0; p * NR < N; p++) {
        float *panel = bp + (size_t)p * NR * (size_t)K; // (K, 32)
        for (int half = 0; half < 2; half++) {
            int j0 = p * NR + half * 16, rows = imin(16, N - j0);
            for (int k0 = 0; k0 < K; k0 += 16) {
                __m512 r[16];
                __mmask16 mk = mask16(K - k0);
                for (int i = 0; i < 16; i++)
                    r[i] = i < rows ? _mm512_maskz_loadu_ps(mk, src + (size_t)(j0 + i) * lds + k0) : _mm512_setzero_ps();
                transpose16(r);
                for (int i = 0; i < 16 && k0 + i < K; i++) _mm512_storeu_ps(panel + (size_t)(k0 + i) * NR + half * 16, r[i]);
            }
        }
    }
}

// What happens to a finished tile.
enum { EPI_STORE, EPI_ADD, EPI_SWIGLU, EPI_SWIGLU_BWD };

typedef struct {
    float *C;          // output (EPI_SWIGLU: gu; EPI_SWIGLU_BWD: dgu)
    size_t ldc;
    const float *add;  // EPI_ADD: C = A·B + add (add may be C itself)
    size_t ld_add;
    float *h;          // EPI_SWIGLU: h = silu(gate)·up, (M, F)
    const float *gu;   // EPI_SWIGLU_BWD: what EPI_SWIGLU left in gu, (M, 2F)
    int F;             // EPI_SWIGLU*: the hidden size
    float alpha;       // EPI_STORE, EPI_ADD: C = alpha·A·B (+ add)
    const F32RowHook *hook; // or NULL: called on each block of finished rows
} Epilogue;

// SwiGLU's epilogues on rows [m, m + mr) × columns j0.. of a finished tile, its sums (K-block
// partial sums unless last) in acc[r][0..31] (gate in 0..15, up in 16..31). first: the first K
// block (later blocks add to what the first stored). EPI_STORE and EPI_ADD finish in tile, from
// the registers.
static inline __attribute__((always_inline)) void finish(int epi, const Epilogue *e, int mr, int m, int j0, int ncol,
                                                         float (*acc)[NR], int first, int last) {
    if (epi == EPI_SWIGLU) {
        __mmask16 mk = mask16(ncol);
        for (int r = 0; r < mr; r++) {
            float *g = e->C + (size_t)(m + r) * e->ldc + j0, *u = g + e->F;
            __m512 gv = _mm512_loadu_ps(acc[r]), uv = _mm512_loadu_ps(acc[r] + 16);
            if (!first) {
                gv = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, g), gv);
                uv = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, u), uv);
            }
            if (!last) { // partial sums of a K block
                _mm512_mask_storeu_ps(g, mk, gv);
                _mm512_mask_storeu_ps(u, mk, uv);
                continue;
            }
            __m512 silu, du, h = swiglu16(gv, uv, &silu, &du); // gu keeps silu(g) and u·silu'(g)
            _mm512_mask_storeu_ps(e->h + (size_t)(m + r) * (size_t)e->F + j0, mk, h);
            _mm512_mask_storeu_ps(g, mk, silu);
            _mm512_mask_storeu_ps(u, mk, du);
        }
        return;
    }
    // EPI_SWIGLU_BWD, whole sums dh: dgu = (dh·silu(g), dh·u·silu'(g)), from the forward's gu.
    __mmask16 m0 = mask16(ncol), m1 = mask16(ncol - 16);
    for (int r = 0; r < mr; r++) {
        float *dg = e->C + (size_t)(m + r) * e->ldc + j0, *du = dg + e->F;
        const float *a = e->gu + (size_t)(m + r) * 2 * (size_t)e->F + j0, *b = a + e->F;
        for (int half = 0; half < 2; half++) {
            __mmask16 mk = half ? m1 : m0;
            if (!mk) break;
            int o = 16 * half;
            __m512 dh = _mm512_loadu_ps(acc[r] + o);
            _mm512_mask_storeu_ps(du + o, mk, _mm512_mul_ps(dh, _mm512_maskz_loadu_ps(mk, a + o)));
            _mm512_mask_storeu_ps(dg + o, mk, _mm512_mul_ps(dh, _mm512_maskz_loadu_ps(mk, b + o)));
        }
    }
}

// One tile: rows [m, m + mr), 32 columns of B from B (its k-th row at B + k·b_ks), kc k's. The
// accumulators stay in registers: every loop over them is unrolled, and the sums leave through
// one store per register into acc.
static inline __attribute__((always_inline)) void tile(int epi, const Epilogue *e, int mr, int m, int j0, int ncol,
                                                       const float *A, size_t a_rs, size_t a_ks, const float *B,
                                                       size_t b_ks, int kc, int first, int last) {
    __m512 c0[MR], c1[MR];
    float acc[MR][NR];
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) c0[r] = c1[r] = _mm512_setzero_ps();
    int full = epi == EPI_SWIGLU || ncol > 16;
    __mmask16 m0 = mask16(epi == EPI_SWIGLU ? 16 : ncol), m1 = mask16(epi == EPI_SWIGLU ? 16 : ncol - 16);
    // Row r of A is read as base[r / 3][(r % 3)·a_rs]: four base pointers and one stride, where
    // twelve row pointers would not fit the general registers (they were spilled and reloaded).
    const float *a0 = A, *a3 = A + 3 * a_rs, *a6 = A + 6 * a_rs, *a9 = A + 9 * a_rs;
#define A_ROW(r) ((r) < 3 ? a0 : (r) < 6 ? a3 : (r) < 9 ? a6 : a9)[((r) % 3) * a_rs]
    if (full) {
        for (int k = 0; k < kc; k++) {
            __m512 b0 = _mm512_maskz_loadu_ps(m0, B + (size_t)k * b_ks);
            __m512 b1 = _mm512_maskz_loadu_ps(m1, B + (size_t)k * b_ks + 16);
#pragma GCC unroll 12
            for (int r = 0; r < mr; r++) {
                __m512 a = _mm512_set1_ps(A_ROW(r));
                c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
                c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
            }
            a0 += a_ks, a3 += a_ks, a6 += a_ks, a9 += a_ks;
        }
    } else { // at most 16 columns: half the work
        for (int k = 0; k < kc; k++) {
            __m512 b0 = _mm512_maskz_loadu_ps(m0, B + (size_t)k * b_ks);
#pragma GCC unroll 12
            for (int r = 0; r < mr; r++) c0[r] = _mm512_fmadd_ps(_mm512_set1_ps(A_ROW(r)), b0, c0[r]);
            a0 += a_ks, a3 += a_ks, a6 += a_ks, a9 += a_ks;
        }
    }
#undef A_ROW
    if (epi == EPI_STORE || epi == EPI_ADD) { // C = alpha·A·B (+ add), straight from the registers
        __mmask16 s0 = mask16(ncol), s1 = mask16(ncol - 16);
        __m512 al = _mm512_set1_ps(e->alpha);
#pragma GCC unroll 12
        for (int r = 0; r < mr; r++) {
            float *cr = e->C + (size_t)(m + r) * e->ldc + j0;
            __m512 v0 = _mm512_mul_ps(al, c0[r]), v1 = _mm512_mul_ps(al, c1[r]);
            if (!first) {
                v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(s0, cr), v0);
                if (full) v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(s1, cr + 16), v1);
            } else if (epi == EPI_ADD) {
                const float *ar = e->add + (size_t)(m + r) * e->ld_add + j0;
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(s0, ar));
                if (full) v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(s1, ar + 16));
            }
            _mm512_mask_storeu_ps(cr, s0, v0);
            if (full) _mm512_mask_storeu_ps(cr + 16, s1, v1);
        }
        return;
    }
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
        _mm512_storeu_ps(acc[r], c0[r]);
        _mm512_storeu_ps(acc[r] + 16, c1[r]);
    }
    finish(epi, e, mr, m, j0, ncol, acc, first, last);
}

#define TILE(R) tile(epi, e, R, m, j0, ncol, A, a_rs, a_ks, B, b_ks, kc, first, last)

// The tile specialised for its epilogue and row count (one function per epilogue keeps each small).
#define DEFINE_TILES(NAME, EPI)                                                                                \
    static void NAME(const Epilogue *e, int mr, int m, int j0, int ncol, const float *A, size_t a_rs,          \
                     size_t a_ks, const float *B, size_t b_ks, int kc, int first, int last) {                  \
        enum { epi = EPI };                                                                                    \
        SWITCH_ROWS(mr, TILE)                                                                                  \
    }
DEFINE_TILES(tiles_store, EPI_STORE)
DEFINE_TILES(tiles_add, EPI_ADD)
DEFINE_TILES(tiles_swiglu, EPI_SWIGLU)
DEFINE_TILES(tiles_swiglu_bwd, EPI_SWIGLU_BWD)
#undef TILE

typedef void (*TileFn)(const Epilogue *, int, int, int, int, const float *, size_t, size_t, const float *, size_t,
                       int, int, int);

// The loops around the tiles. B's panel p (columns 32p.., or for SwiGLU pairs 16p..) starts at
// B + p·b_ps; its k-th row at + k·b_ks. pw: output columns per panel (32, or 16 pairs).
static void run(TileFn fn, const Epilogue *e, const float *A, size_t a_rs, size_t a_ks, const float *B, size_t b_ks,
                size_t b_ps, int M, int N, int K, int pw) {
    int kc_max = fn == tiles_swiglu_bwd ? K : KC; // the SwiGLU backward needs whole sums
    for (int k0 = 0; k0 < K; k0 += kc_max) {
        int kc = imin(kc_max, K - k0), first = k0 == 0, last = k0 + kc >= K;
        for (int m0 = 0; m0 < M; m0 += MC) {
            int mc = imin(MC, M - m0);
            for (int p = 0; p * pw < N; p++) {
                const float *Bp = B + (size_t)p * b_ps + (size_t)k0 * b_ks;
                int ncol = imin(pw, N - p * pw);
                for (int m = m0; m < m0 + mc; m += MR)
                    fn(e, imin(MR, m0 + mc - m), m, p * pw, ncol, A + (size_t)m * a_rs + (size_t)k0 * a_ks, a_rs, a_ks,
                       Bp, b_ks, kc, first, last);
            }
            if (last && e->hook) e->hook->fn(e->hook->ctx, m0, mc); // rows [m0, m0 + mc) are final
        }
    }
}

void f32_gemm_scaled(float *C, size_t ldc, float alpha, const float *A, size_t a_rs, size_t a_ks, const float *B,
                     size_t b_ks, size_t b_ps, int M, int N, int K, const float *add, size_t ld_add) {
    Epilogue e = {.C = C, .ldc = ldc, .add = add, .ld_add = ld_add, .alpha = alpha};
    run(add ? tiles_add : tiles_store, &e, A, a_rs, a_ks, B, b_ks, b_ps, M, N, K, NR);
}

void f32_gemm_hook(float *C, size_t ldc, const float *A, size_t a_rs, size_t a_ks, const float *B, size_t b_ks,
                   size_t b_ps, int M, int N, int K, const float *add, size_t ld_add, const F32RowHook *hook) {
    Epilogue e = {.C = C, .ldc = ldc, .add = add, .ld_add = ld_add, .alpha = 1.0f, .hook = hook};
    run(add ? tiles_add : tiles_store, &e, A, a_rs, a_ks, B, b_ks, b_ps, M, N, K, NR);
}

void f32_gemm(float *C, size_t ldc, const float *A, size_t a_rs, size_t a_ks, const float *B, size_t b_ks,
              size_t b_ps, int M, int N, int K, const float *add, size_t ld_add) {
    f32_gemm_hook(C, ldc, A, a_rs, a_ks, B, b_ks, b_ps, M, N, K, add, ld_add, NULL);
}

void f32_gemm_swiglu(float *gu, float *h, const float *A, size_t a_rs, size_t a_ks, const float *bp, int M, int F,
                     int K) {
    Epilogue e = {.C = gu, .ldc = 2 * (size_t)F, .h = h, .F = F};
    run(tiles_swiglu, &e, A, a_rs, a_ks, bp, NR, (size_t)NR * (size_t)K, M, F, K, 16);
}

void f32_gemm_swiglu_backward(float *dgu, const float *gu, const float *A, size_t a_rs, size_t a_ks, const float *B,
                              size_t b_ks, size_t b_ps, int M, int F, int K) {
    Epilogue e = {.C = dgu, .ldc = 2 * (size_t)F, .gu = gu, .F = F};
    run(tiles_swiglu_bwd, &e, A, a_rs, a_ks, B, b_ks, b_ps, M, F, K, NR);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif // T2_F32_KERNELS
