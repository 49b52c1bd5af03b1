// attention_f32.c — the parts of causal attention that are not plain products, fused on AVX-512
// for training's small heads (attention.c calls them when it runs on t2's products).
//
// Why: with heads of 16–32 and rows of 64–128 keys, the score product is tiny and what follows it
// — the scale, the causal mask, the softmax, and in the backward pass dP's product and the
// softmax's backward — cost more than the arithmetic when done as separate passes over a (T, T)
// buffer. Here a tile of query rows keeps all of its row's scores in registers (16 keys per zmm,
// up to 128 keys per row), and the softmax (or its backward) runs on them before anything is
// stored. RoPE runs on one head's rows while they are in L1, right before its products use them.
//
// The tile: R rows × NCH chunks of 16 keys, R·NCH ≤ 24 accumulators. A is the block's query
// rows (or dy rows) transposed into a panel by f32_pack_nk, so row i of k-step d is at
// A[d·32 + i] (one base pointer, immediate offsets); B is the keys (or values) packed by
// f32_pack_nk, chunk c of k-step d at panel (c/2), half (c%2). A tile only computes the chunks up
// to its last row's diagonal; the rest of each row is written as zeros. Every sum runs in an
// order fixed by the row's position, so results do not depend on the batch split.
//
// Compiled for AVX-512 whatever -march says; call only on a CPU with it (util/cpu.h).
#include "kernels.h"

#include <math.h>
#include <string.h>

#if T2_F32_KERNELS
#define CH 16       // keys per chunk (one zmm)
#define MAX_NCH 8   // at most 128 keys per row in registers
#define PANEL 32    // columns of an f32_pack_nk panel

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq")
#endif

#include "simd512.h"

static inline int imin(int a, int b) { return a < b ? a : b; }

typedef struct {
    float *out;        // P (probabilities) or dS, rows of ld T; columns [lo, end) written
    int T;
    const float *a;    // the block's rows transposed: row i of k-step d at a[d·32 + i]
    const float *b;    // keys (values) packed; chunk 0 is keys lo.. (lo a multiple of 32)
    int hd, r0, lo, end; // the block is rows [r0, end); keys [lo, end)
    const int *pos;
    float scale;
    const float *p;    // backward: P (ld T)
} Rows;

// Lanes of chunk c that row t keeps: keys first..t (and below T).
static inline __mmask16 keep(int lo, int c, int first, int t) {
    int k0 = lo + c * CH; // key of lane 0
    __mmask16 upto = mask16(t + 1 - k0), from = (__mmask16)~mask16(first - k0);
    return upto & from;
}

// The scores (or dP) of R rows from m over NCH chunks, in registers while they are summed, then
// stored to sums (R, NCH·16): the epilogue's loop over the rows indexes them at run time, which
// would otherwise keep every accumulator in memory. (The unrolled loops are in a function, not a
// macro: GCC drops _Pragma("GCC unroll") inside macros.)
static inline __attribute__((always_inline)) void tile_product(const int NCH, const int R, const Rows *w, int m,
                                                               float *sums) {
    __m512 acc[12 * MAX_NCH]; // fixed sizes: an array sized by R and NCH would be a VLA, kept in memory
#pragma GCC unroll 12
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int c = 0; c < NCH; c++) acc[i * MAX_NCH + c] = _mm512_setzero_ps();
    const float *a = w->a + (m - w->r0);
    size_t panel = (size_t)PANEL * (size_t)w->hd;
    const float *b = w->b;
    for (int d = 0; d < w->hd; d++) {
        __m512 bv[MAX_NCH];
#pragma GCC unroll 8
        for (int c = 0; c < NCH; c++) bv[c] = _mm512_loadu_ps(b + (size_t)(c / 2) * panel + (size_t)d * PANEL + (c % 2) * CH);
#pragma GCC unroll 12
        for (int i = 0; i < R; i++) {
            __m512 av = _mm512_set1_ps(a[d * PANEL + i]);
#pragma GCC unroll 8
            for (int c = 0; c < NCH; c++) acc[i * MAX_NCH + c] = _mm512_fmadd_ps(av, bv[c], acc[i * MAX_NCH + c]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int c = 0; c < NCH; c++) _mm512_store_ps(sums + (i * NCH + c) * CH, acc[i * MAX_NCH + c]);
}

#define TILE_PRODUCT(NCH, R)                                                                                   \
    float sums[24 * CH] __attribute__((aligned(64))); /* R·NCH ≤ 24 */                                         \
    tile_product(NCH, R, w, m, sums);

// Columns [lo + NCH·16, to) of a row: zeros.
static inline void zero_cols(float *row, int from, int to) {
    for (int j = from; j < to; j += CH) _mm512_mask_storeu_ps(row + j, mask16(to - j), _mm512_setzero_ps());
}

// Forward: P rows = softmax(scale · scores) over keys first..t, zero elsewhere in the block's keys
// [lo, end); the rest of the row is not written (nothing reads it, and at T = 64 writing it was a
// third of the stores that miss the cache).
// In three passes over the tile's rows, with the row maxima and the row sums reduced for all rows
// at once between them (one long chain of reductions per row kept the rows from overlapping).
static inline __attribute__((always_inline)) void probs_tile(const int NCH, const int R, const Rows *w, int m,
                                                             int mr) {
    TILE_PRODUCT(NCH, R)
    const int T = w->T, lo = w->lo;
    __m512 scale = _mm512_set1_ps(w->scale), ninf = _mm512_set1_ps(-INFINITY), red[16];
    float mx[16] __attribute__((aligned(64))), inv[16] __attribute__((aligned(64)));
    for (int i = 0; i < 16; i++) red[i] = ninf;
    mr = imin(mr, R); // (tells the compiler the rows stay within sums)
    for (int i = 0; i < mr; i++) { // masked, scaled scores; their maxima
        int t = m + i, first = attention_first_key(w->pos, t);
        __m512 v = ninf;
        _Pragma("GCC unroll 8") for (int c = 0; c < NCH; c++) {
            float *sc = sums + (i * NCH + c) * CH;
            __m512 x = _mm512_mask_mul_ps(ninf, keep(lo, c, first, t), _mm512_load_ps(sc), scale);
            _mm512_store_ps(sc, x);
            v = _mm512_max_ps(v, x);
        }
        red[i] = v;
    }
    _mm512_store_ps(mx, hmax16(red));
    for (int i = 0; i < 16; i++) red[i] = _mm512_setzero_ps();
    for (int i = 0; i < mr; i++) { // exponentials; their sums
        __m512 mv = _mm512_set1_ps(mx[i]), v = _mm512_setzero_ps();
        _Pragma("GCC unroll 8") for (int c = 0; c < NCH; c++) {
            float *sc = sums + (i * NCH + c) * CH;
            __m512 e = exp16(_mm512_sub_ps(_mm512_load_ps(sc), mv));
            _mm512_store_ps(sc, e);
            v = _mm512_add_ps(v, e);
        }
        red[i] = v;
    }
    __m512 sum = hsum16(red);
    _mm512_store_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_mask_blend_ps(mask16(mr), _mm512_set1_ps(1.0f), sum)));
    for (int i = 0; i < mr; i++) { // normalised, stored with the row's zeros
        float *row = w->out + (size_t)(m + i) * (size_t)T;
        __m512 iv = _mm512_set1_ps(inv[i]);
        _Pragma("GCC unroll 8") for (int c = 0; c < NCH; c++) {
            int j = lo + c * CH;
            _mm512_mask_storeu_ps(row + j, mask16(T - j), _mm512_mul_ps(_mm512_load_ps(sums + (i * NCH + c) * CH), iv));
        }
        zero_cols(row, lo + NCH * CH, w->end);
    }
}

// Backward: dS = scale · P ⊙ (dP − Σ_j dP_j·P_j) over the block's keys [lo, end) (zero past the
// computed chunks, where P is zero); the row sums reduced for all rows at once.
static inline __attribute__((always_inline)) void dscores_tile(const int NCH, const int R, const Rows *w, int m,
                                                               int mr) {
    TILE_PRODUCT(NCH, R)
    const int T = w->T, lo = w->lo, end = w->end;
    __m512 scale = _mm512_set1_ps(w->scale), red[16];
    float dot[16] __attribute__((aligned(64)));
    for (int i = 0; i < 16; i++) red[i] = _mm512_setzero_ps();
    mr = imin(mr, R); // (tells the compiler the rows stay within sums)
    for (int i = 0; i < mr; i++) {
        const float *prow = w->p + (size_t)(m + i) * (size_t)T;
        __m512 v = _mm512_setzero_ps();
        _Pragma("GCC unroll 8") for (int c = 0; c < NCH; c++) {
            int j = lo + c * CH;
            v = _mm512_fmadd_ps(_mm512_load_ps(sums + (i * NCH + c) * CH), _mm512_maskz_loadu_ps(mask16(T - j), prow + j), v);
        }
        red[i] = v;
    }
    _mm512_store_ps(dot, hsum16(red));
    for (int i = 0; i < mr; i++) {
        const float *prow = w->p + (size_t)(m + i) * (size_t)T;
        float *row = w->out + (size_t)(m + i) * (size_t)T;
        __m512 r = _mm512_set1_ps(dot[i]);
        _Pragma("GCC unroll 8") for (int c = 0; c < NCH; c++) {
            int j = lo + c * CH;
            __m512 pv = _mm512_maskz_loadu_ps(mask16(T - j), prow + j), dp = _mm512_load_ps(sums + (i * NCH + c) * CH);
            _mm512_mask_storeu_ps(row + j, mask16(end - j), _mm512_mul_ps(_mm512_mul_ps(pv, _mm512_sub_ps(dp, r)), scale));
        }
        zero_cols(row, lo + NCH * CH, end);
    }
}

#define ROWS_FOR(nch) ((nch) <= 2 ? 12 : 24 / (nch))

// One function per chunk count keeps each tile's registers its own.
#define DEFINE_TILE(KIND, NCH)                                                                                 \
    static void KIND##_##NCH(const Rows *w, int m, int mr) { KIND##_tile(NCH, ROWS_FOR(NCH), w, m, mr); }
#define DEFINE_TILES(KIND)                                                                                     \
    DEFINE_TILE(KIND, 1)                                                                                       \
    DEFINE_TILE(KIND, 2)                                                                                       \
    DEFINE_TILE(KIND, 3)                                                                                       \
    DEFINE_TILE(KIND, 4)                                                                                       \
    DEFINE_TILE(KIND, 5)                                                                                       \
    DEFINE_TILE(KIND, 6)                                                                                       \
    DEFINE_TILE(KIND, 7)                                                                                       \
    DEFINE_TILE(KIND, 8)                                                                                       \
    static void (*const KIND##_fns[MAX_NCH + 1])(const Rows *, int, int) = {                                   \
        NULL, KIND##_1, KIND##_2, KIND##_3, KIND##_4, KIND##_5, KIND##_6, KIND##_7, KIND##_8};
DEFINE_TILES(probs)
DEFINE_TILES(dscores)

static int chunks(int lo, int last_row) { return (last_row + 1 - lo + CH - 1) / CH; }

// Rows [r0, end) in tiles: each as many rows as its chunk count allows, and only the chunks up to
// its last row's diagonal.
static void run_rows(void (*const fns[])(const Rows *, int, int), const Rows *w) {
    for (int m = w->r0; m < w->end;) {
        int R = ROWS_FOR(chunks(w->lo, imin(m + 12, w->end) - 1));
        int mr = imin(R, w->end - m), nch = chunks(w->lo, m + mr - 1);
        fns[nch](w, m, mr);
        m += mr;
    }
}

int attention_f32_fits(int lo, int end) { return end - lo <= MAX_NCH * CH; }

void attention_f32_probs(float *p, int T, const float *qpack, const float *kpack, int hd, int r0, int end, int lo,
                         const int *pos, float scale) {
    Rows w = {.out = p, .T = T, .a = qpack, .b = kpack + (size_t)(lo / PANEL) * PANEL * (size_t)hd, .hd = hd,
              .r0 = r0, .lo = lo, .end = end, .pos = pos, .scale = scale};
    run_rows(probs_fns, &w);
}

void attention_f32_dscores(float *ds, const float *p, int T, const float *dypack, const float *vpack, int hd, int r0,
                           int end, int lo, float scale) {
    Rows w = {.out = ds, .T = T, .a = dypack, .b = vpack + (size_t)(lo / PANEL) * PANEL * (size_t)hd, .hd = hd,
              .r0 = r0, .lo = lo, .end = end, .scale = scale, .p = p};
    run_rows(dscores_fns, &w);
}

// RoPE on one head's q and k rows (q at x, k at x + koff): the pairs (i, i + hd/2) rotated by
// sign·angle, both with the same cos and sin of the row's position.
void attention_f32_rope(float *x, size_t koff, size_t ld, int T, const float *cos_t, const float *sin_t,
                        const int *pos, int hd, float sign) {
    int half = hd / 2;
    __m512 sg = _mm512_set1_ps(sign);
    for (int t = 0; t < T; t++) {
        size_t p = pos ? (size_t)pos[t] : (size_t)t;
        const float *c = cos_t + p * (size_t)half, *s = sin_t + p * (size_t)half;
        float *q = x + (size_t)t * ld;
        for (int i = 0; i < half; i += CH) {
            __mmask16 k = mask16(half - i);
            __m512 cv = _mm512_maskz_loadu_ps(k, c + i), sv = _mm512_mul_ps(sg, _mm512_maskz_loadu_ps(k, s + i));
            for (int part = 0; part < 2; part++) {
                float *x1 = q + (part ? koff : 0) + i, *x2 = x1 + half;
                __m512 a = _mm512_maskz_loadu_ps(k, x1), b = _mm512_maskz_loadu_ps(k, x2);
                _mm512_mask_storeu_ps(x1, k, _mm512_fmsub_ps(a, cv, _mm512_mul_ps(b, sv)));
                _mm512_mask_storeu_ps(x2, k, _mm512_fmadd_ps(b, cv, _mm512_mul_ps(a, sv)));
            }
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif // T2_F32_KERNELS
