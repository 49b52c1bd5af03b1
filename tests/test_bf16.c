// test_bf16.c — the bf16 kernels (kernels/matmul_bf16.c) against scalar references written here:
// conversions bit for bit (round to nearest even, denormals to zero), packed layouts element by
// element, products against double sums of the same bf16 values. Skipped on a CPU without
// AVX512-BF16.
#include "testutil.h"

#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "nn/trainer.h"
#include "util/cpu.h"
#include "util/util.h"
#include "vecmath.h"

#define SKIP_WITHOUT_BF16()                                                                                  \
    do {                                                                                                     \
        if (!T2_BF16_KERNELS || !cpu_info()->avx512_bf16) {                                                  \
            print_message("skipped: this CPU has no AVX512-BF16\n");                                        \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

// float32 → bf16 as AVX512-BF16 does it: denormal inputs are zero (sign kept), NaN stays a quiet
// NaN, everything else rounds to nearest even (overflowing to ±inf).
static bf16 ref_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7f800000u) == 0) return (bf16)((u >> 16) & 0x8000);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (bf16)(u >> 16);
}

static double bf16_value(bf16 b) { return (double)f32_from_bits((uint32_t)b << 16); }

static float *randn_f(Rng *r, size_t n) {
    float *x = xmalloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(r);
    return x;
}

static bf16 *bvec(size_t n, bf16 fill) {
    bf16 *b = xmalloc((n ? n : 1) * sizeof(bf16));
    for (size_t i = 0; i < n; i++) b[i] = fill;
    return b;
}

#define CANARY 0xDEAD

static void test_convert_rows(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    Rng r;
    rng_seed(&r, 1);
    // Special values first, then ties, then random magnitudes over the whole range.
    float special[] = {0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 1.17549435e-38f,
                       3.4028235e38f, 3.39e38f, f32_from_bits(0x3f808000), f32_from_bits(0x3f818000),
                       f32_from_bits(0x3f80ffff), f32_from_bits(0x3f807fff)};
    int shapes[][2] = {{1, 1}, {3, 7}, {5, 31}, {4, 32}, {2, 33}, {7, 100}};
    for (size_t s = 0; s < ARRAY_LEN(shapes); s++) {
        int rows = shapes[s][0], cols = shapes[s][1], lds = cols + 3, ldd = (cols + 1) / 2 * 2 + 2;
        float *x = randn_f(&r, (size_t)rows * lds);
        for (int i = 0; i < rows * lds; i++) {
            if (i % 5 == 0) x[i] = f32_from_bits((uint32_t)rng_u64(&r)); // any bit pattern
            if (i < (int)ARRAY_LEN(special)) x[i] = special[i];
        }
        bf16 *d = bvec((size_t)rows * ldd + 8, CANARY);
        bf16_from_rows(d, (size_t)ldd, x, (size_t)lds, (size_t)rows, cols);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < ldd; j++) {
                bf16 want = j < cols ? ref_bf16(x[i * lds + j]) : 0;
                if (d[i * ldd + j] != want)
                    fail_msg("bf16_from_rows %dx%d: (%d, %d) of %a is 0x%04x, expected 0x%04x", rows, cols, i, j,
                             (double)x[i * lds + j], d[i * ldd + j], want);
            }
        for (int i = 0; i < 8; i++) assert_int_equal(d[(size_t)rows * ldd + i], CANARY);
        free(x);
        free(d);
    }
}

static void test_pairs_and_panels(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    Rng r;
    rng_seed(&r, 2);
    int shapes[][2] = {{1, 1}, {2, 5}, {3, 32}, {7, 33}, {64, 17}, {33, 70}}; // (K, N)
    for (size_t s = 0; s < ARRAY_LEN(shapes); s++) {
        int K = shapes[s][0], N = shapes[s][1], KP = (K + 1) / 2, lds = N + 2;
        // (K, N) source: pairs from consecutive rows, as rows (pair-major A) and as panels (B).
        float *x = randn_f(&r, (size_t)K * lds);
        int ldd = N + 3;
        bf16 *a = bvec((size_t)KP * ldd * 2 + 8, CANARY);
        bf16_pairs_from_rows(a, (size_t)ldd, x, (size_t)lds, K, N);
        for (int kp = 0; kp < KP; kp++)
            for (int j = 0; j < ldd; j++)
                for (int e = 0; e < 2; e++) {
                    int k = 2 * kp + e;
                    bf16 want = j < N && k < K ? ref_bf16(x[k * lds + j]) : 0;
                    bf16 got = a[((size_t)kp * ldd + j) * 2 + e];
                    if (got != want)
                        fail_msg("pairs K%d N%d: (%d, %d, %d) is 0x%04x, expected 0x%04x", K, N, kp, j, e, got, want);
                }
        for (int i = 0; i < 8; i++) assert_int_equal(a[(size_t)KP * ldd * 2 + i], CANARY);
        size_t np = bf16_panels_size(N, K);
        bf16 *bkn = bvec(np + 8, CANARY), *bnk = bvec(np + 8, CANARY);
        bf16_pack_kn(bkn, x, (size_t)lds, K, N);
        // The same matrix transposed, (N, K), packed from its rows must give the same panels.
        float *xt = xmalloc((size_t)N * (K + 1) * sizeof(float));
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) xt[(size_t)j * (K + 1) + k] = x[k * lds + j];
        bf16_pack_nk(bnk, xt, (size_t)K + 1, N, K);
        for (int j = 0; j < (N + 31) / 32 * 32; j++)
            for (int k = 0; k < 2 * KP; k++) {
                size_t at = ((size_t)(j / 32) * KP + (size_t)(k / 2)) * 64 + (size_t)(j % 32) * 2 + (size_t)(k % 2);
                bf16 want = j < N && k < K ? ref_bf16(x[k * lds + j]) : 0;
                if (bkn[at] != want || bnk[at] != want)
                    fail_msg("panels K%d N%d: (n %d, k %d) kn 0x%04x nk 0x%04x, expected 0x%04x", K, N, j, k, bkn[at],
                             bnk[at], want);
            }
        for (int i = 0; i < 8; i++) {
            assert_int_equal(bkn[np + i], CANARY);
            assert_int_equal(bnk[np + i], CANARY);
        }
        free(x);
        free(xt);
        free(a);
        free(bkn);
        free(bnk);
    }
}

// C = A·Bᵀ with A (M, K) and B (N, K) through both A layouts, against double sums of the same
// bf16 values; accumulate adds to what C held.
static void check_gemm(Rng *r, int M, int N, int K, int accumulate) {
    float *a = randn_f(r, (size_t)M * K), *b = randn_f(r, (size_t)N * K), *c0 = randn_f(r, (size_t)M * N);
    int lda = (K + 1) / 2 * 2;
    bf16 *arow = bvec((size_t)M * lda, 0), *apair = bvec((size_t)(K + 1) / 2 * M * 2, 0);
    bf16 *bp = bvec(bf16_panels_size(N, K), 0);
    bf16_from_rows(arow, (size_t)lda, a, (size_t)K, (size_t)M, K);
    // Pair-major A comes from Aᵀ (K, M).
    float *at = xmalloc((size_t)K * M * sizeof(float));
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) at[(size_t)k * M + i] = a[(size_t)i * K + k];
    bf16_pairs_from_rows(apair, (size_t)M, at, (size_t)M, K, M);
    bf16_pack_nk(bp, b, (size_t)K, N, K);
    double *want = xmalloc((size_t)M * N * sizeof(double));
    double scale = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = accumulate ? c0[(size_t)i * N + j] : 0.0;
            for (int k = 0; k < K; k++)
                s += bf16_value(ref_bf16(a[(size_t)i * K + k])) * bf16_value(ref_bf16(b[(size_t)j * K + k]));
            want[(size_t)i * N + j] = s;
            scale = fmax(scale, fabs(s));
        }
    int ldc = N + 5;
    for (int layout = 0; layout < 2; layout++) {
        float *c = xmalloc((size_t)M * ldc * sizeof(float));
        for (int i = 0; i < M; i++)
            for (int j = 0; j < ldc; j++) c[(size_t)i * ldc + j] = j < N ? c0[(size_t)i * N + j] : 7.0f;
        if (layout == 0)
            bf16_gemm(c, (size_t)ldc, arow, (size_t)lda / 2, 1, bp, M, N, K, accumulate);
        else
            bf16_gemm(c, (size_t)ldc, apair, 1, (size_t)M, bp, M, N, K, accumulate);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < ldc; j++) {
                double got = c[(size_t)i * ldc + j];
                if (j >= N) {
                    if (got != 7.0) fail_msg("gemm M%d N%d K%d wrote column %d of row %d", M, N, K, j, i);
                    continue;
                }
                double w = want[(size_t)i * N + j];
                // Products of bf16 are exact in float; what is left is float rounding of the sums.
                double tol = 1e-6 * fabs(w) + 4e-7 * sqrt((double)K) * fmax(scale, 1.0);
                if (!(fabs(got - w) <= tol))
                    fail_msg("gemm M%d N%d K%d acc%d layout %d: (%d, %d) is %.9g, expected %.9g", M, N, K, accumulate,
                             layout, i, j, got, w);
            }
        free(c);
    }
    free(a), free(b), free(c0), free(at), free(arow), free(apair), free(bp), free(want);
}

static void test_gemm(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    Rng r;
    rng_seed(&r, 3);
    int shapes[][3] = {{1, 1, 1},   {1, 5, 3},   {3, 31, 2},   {12, 32, 16},  {13, 33, 17}, {25, 64, 48},
                       {7, 96, 513}, {200, 40, 9}, {30, 70, 600}, {11, 1, 1100}, {390, 65, 64}};
    for (size_t s = 0; s < ARRAY_LEN(shapes); s++)
        for (int acc = 0; acc < 2; acc++) check_gemm(&r, shapes[s][0], shapes[s][1], shapes[s][2], acc);
}


// One read, two layouts: bf16_rows_and_pairs equals bf16_from_rows and bf16_pairs_from_rows bit for
// bit, padding included, and writes nothing past either.
static void test_rows_and_pairs(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    Rng r;
    rng_seed(&r, 4);
    int shapes[][4] = {{1, 1, 2, 1}, {5, 7, 8, 9}, {6, 33, 34, 33}, {9, 40, 40, 48}, {64, 100, 100, 100}};
    for (size_t s = 0; s < ARRAY_LEN(shapes); s++) {
        int n = shapes[s][0], cols = shapes[s][1], ldr = shapes[s][2], ldp = shapes[s][3], lds = cols + 3;
        float *src = randn_f(&r, (size_t)n * lds);
        size_t nr = (size_t)n * ldr + 40, np = (size_t)(n + 1) / 2 * ldp * 2 + 40;
        bf16 *r1 = bvec(nr, CANARY), *p1 = bvec(np, CANARY), *r2 = bvec(nr, CANARY), *p2 = bvec(np, CANARY);
        bf16_from_rows(r1, (size_t)ldr, src, (size_t)lds, (size_t)n, cols);
        bf16_pairs_from_rows(p1, (size_t)ldp, src, (size_t)lds, n, cols);
        bf16_rows_and_pairs(r2, (size_t)ldr, p2, (size_t)ldp, src, (size_t)lds, n, cols);
        assert_memory_equal(r1, r2, nr * sizeof(bf16));
        assert_memory_equal(p1, p2, np * sizeof(bf16));
        free(src), free(r1), free(p1), free(r2), free(p2);
    }
}

// bf16_gemm_hook: C = A·B + add exactly as bf16_gemm followed by the add, the hook called on
// consecutive blocks of rows that cover [0, M) once, each after its rows are final.
typedef struct {
    const float *c, *want;
    int N, next, calls;
    size_t ldc;
} HookLog;

static void hook_check(void *ctx, int m0, int rows) {
    HookLog *h = ctx;
    if (m0 != h->next || rows < 1) fail_msg("hook on rows [%d, %d), expected to start at %d", m0, m0 + rows, h->next);
    for (int i = m0; i < m0 + rows; i++)
        if (memcmp(h->c + (size_t)i * h->ldc, h->want + (size_t)i * h->N, (size_t)h->N * sizeof(float)) != 0)
            fail_msg("hook on row %d before it was final", i);
    h->next = m0 + rows;
    h->calls++;
}

static void test_gemm_hook(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    Rng r;
    rng_seed(&r, 6);
    int shapes[][3] = {{1, 1, 1}, {13, 33, 17}, {390, 65, 64}, {200, 40, 1100}};
    for (size_t s = 0; s < ARRAY_LEN(shapes); s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], lda = (K + 1) / 2 * 2;
        size_t ldc = (size_t)N + 3;
        float *a = randn_f(&r, (size_t)M * K), *b = randn_f(&r, (size_t)N * K), *add = randn_f(&r, (size_t)M * ldc);
        bf16 *ab = bvec((size_t)M * lda, 0), *bp = bvec(bf16_panels_size(N, K), 0);
        bf16_from_rows(ab, (size_t)lda, a, (size_t)K, (size_t)M, K);
        bf16_pack_nk(bp, b, (size_t)K, N, K);
        float *want = xmalloc((size_t)M * N * sizeof(float)), *c = xmalloc((size_t)M * ldc * sizeof(float));
        bf16_gemm(want, (size_t)N, ab, (size_t)lda / 2, 1, bp, M, N, K, 0);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) want[(size_t)i * N + j] += add[(size_t)i * ldc + j];
        for (size_t i = 0; i < (size_t)M * ldc; i++) c[i] = 7.0f;
        HookLog log = {c, want, N, 0, 0, ldc};
        F32RowHook hook = {hook_check, &log};
        bf16_gemm_hook(c, ldc, ab, (size_t)lda / 2, 1, bp, M, N, K, add, ldc, &hook);
        assert_int_equal(log.next, M);
        for (int i = 0; i < M; i++) {
            assert_memory_equal(c + (size_t)i * ldc, want + (size_t)i * N, (size_t)N * sizeof(float));
            for (size_t j = (size_t)N; j < ldc; j++) assert_true(c[(size_t)i * ldc + j] == 7.0f);
        }
        // add may be C itself: accumulate.
        bf16_gemm(want, (size_t)N, ab, (size_t)lda / 2, 1, bp, M, N, K, 0);
        memcpy(add, c, (size_t)M * ldc * sizeof(float));
        bf16_gemm_hook(c, ldc, ab, (size_t)lda / 2, 1, bp, M, N, K, c, ldc, NULL);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                if (!(fabsf(c[(size_t)i * ldc + j] - (want[(size_t)i * N + j] + add[(size_t)i * ldc + j])) <=
                      1e-5f * (fabsf(want[(size_t)i * N + j]) + fabsf(add[(size_t)i * ldc + j]))))
                    fail_msg("gemm_hook M%d N%d K%d with add = C: (%d, %d) is not the sum", M, N, K, i, j);
        free(a), free(b), free(add), free(ab), free(bp), free(want), free(c);
    }
}

// bf16_gemm_swiglu and its backward against double sums of the same bf16 values: gu and h within
// float rounding, hb exactly h in bf16; dgu's rows within bf16 rounding of the exact values, its
// pairs exactly the rows, paired (a missing row of an odd M zero).
static void check_swiglu(Rng *r, int M, int F, int K, int Cd) {
    float *x = randn_f(r, (size_t)M * K), *wgu = randn_f(r, (size_t)2 * F * K);
    float *dout = randn_f(r, (size_t)M * Cd), *wdown = randn_f(r, (size_t)Cd * F);
    int lda = (K + 1) / 2 * 2, ldo = (Cd + 1) / 2 * 2, ldhb = (F + 1) / 2 * 2 + 2;
    bf16 *a = bvec((size_t)M * lda, 0), *ao = bvec((size_t)M * ldo, 0);
    bf16 *bp = bvec(bf16_panels_size(2 * F, K), 0), *bd = bvec(bf16_panels_size(F, Cd), 0);
    bf16 *hb = bvec((size_t)M * ldhb, CANARY), *rows = bvec((size_t)M * 2 * F, CANARY);
    bf16 *pairs = bvec((size_t)(M + 1) / 2 * 2 * F * 2, CANARY);
    bf16_from_rows(a, (size_t)lda, x, (size_t)K, (size_t)M, K);
    bf16_from_rows(ao, (size_t)ldo, dout, (size_t)Cd, (size_t)M, Cd);
    bf16_pack_nk_pairs(bp, wgu, (size_t)K, F, K, (size_t)F);
    bf16_pack_kn(bd, wdown, (size_t)F, Cd, F);
    float *gu = xmalloc((size_t)M * 2 * F * sizeof(float)), *h = xmalloc((size_t)M * F * sizeof(float));
    bf16_gemm_swiglu(gu, h, hb, (size_t)ldhb, a, (size_t)lda / 2, 1, bp, M, F, K);
    bf16_gemm_swiglu_backward(rows, 2 * (size_t)F, pairs, 2 * (size_t)F, gu, ao, (size_t)ldo / 2, 1, bd, M, F, Cd);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < F; j++) {
            double g = 0, u = 0, dh = 0, sg = 0, su = 0, sd = 0;
            for (int k = 0; k < K; k++) {
                double xv = bf16_value(ref_bf16(x[(size_t)i * K + k]));
                g += xv * bf16_value(ref_bf16(wgu[(size_t)j * K + k]));
                u += xv * bf16_value(ref_bf16(wgu[(size_t)(F + j) * K + k]));
                sg += fabs(xv * bf16_value(ref_bf16(wgu[(size_t)j * K + k])));
                su += fabs(xv * bf16_value(ref_bf16(wgu[(size_t)(F + j) * K + k])));
            }
            for (int c = 0; c < Cd; c++) {
                double t = bf16_value(ref_bf16(dout[(size_t)i * Cd + c])) * bf16_value(ref_bf16(wdown[(size_t)c * F + j]));
                dh += t;
                sd += fabs(t);
            }
            double sig = 1.0 / (1.0 + exp(-g)), silu = g * sig, dsilu = u * sig * (1.0 + g * (1.0 - sig));
            // float sums of K terms: errors up to ~K·2⁻²⁴ of the terms' magnitudes, through silu.
            double eg = 1e-6 * (sg + 1), eu = 1e-6 * (su + 1);
            double got_silu = gu[(size_t)i * 2 * F + j], got_d = gu[(size_t)i * 2 * F + F + j];
            double got_h = h[(size_t)i * F + j];
            if (!(fabs(got_silu - silu) <= 2 * eg + 1e-6 * fabs(silu)) || !(fabs(got_h - silu * u) <= 2 * (eg * fabs(u) + eu * fabs(silu)) + 1e-5 * fabs(silu * u)) ||
                !(fabs(got_d - dsilu) <= 3 * (eu + eg * fabs(u)) + 1e-5 * fabs(dsilu)))
                fail_msg("swiglu M%d F%d K%d (%d, %d): silu %.9g (%.9g), h %.9g (%.9g), u·silu' %.9g (%.9g)", M, F, K,
                         i, j, got_silu, silu, got_h, silu * u, got_d, dsilu);
            if (hb[(size_t)i * ldhb + j] != ref_bf16(h[(size_t)i * F + j]))
                fail_msg("swiglu hb (%d, %d) is not h in bf16", i, j);
            // dgu from the gu the kernel left (what the backward reads), exact dh.
            double dg = dh * got_d, du = dh * got_silu, ed = 1e-6 * (sd + 1);
            double rg = bf16_value(rows[(size_t)i * 2 * F + j]), ru = bf16_value(rows[(size_t)i * 2 * F + F + j]);
            if (!(fabs(rg - dg) <= fabs(dg) / 256 + ed * fabs(got_d)) || !(fabs(ru - du) <= fabs(du) / 256 + ed * fabs(got_silu)))
                fail_msg("swiglu backward M%d F%d Cd%d (%d, %d): dg %.9g (%.9g), du %.9g (%.9g)", M, F, Cd, i, j, rg, dg,
                         ru, du);
        }
    for (int i = 0; i < M; i++)
        for (int j = ldhb - 2; j < ldhb; j++)
            if (j >= F && hb[(size_t)i * ldhb + j] != CANARY) fail_msg("swiglu wrote hb column %d", j);
    for (int kp = 0; kp < (M + 1) / 2; kp++)
        for (int j = 0; j < 2 * F; j++)
            for (int e = 0; e < 2; e++) {
                int i = 2 * kp + e;
                bf16 want = i < M ? rows[(size_t)i * 2 * F + j] : 0;
                if (pairs[((size_t)kp * 2 * F + j) * 2 + e] != want)
                    fail_msg("swiglu backward M%d F%d: pair (%d, %d)[%d] is not row %d's value", M, F, kp, j, e, i);
            }
    free(x), free(wgu), free(dout), free(wdown), free(a), free(ao), free(bp), free(bd), free(hb), free(rows);
    free(pairs), free(gu), free(h);
}

static void test_swiglu_products(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    Rng r;
    rng_seed(&r, 9);
    // K past two blocks of pairs (the forward's partial sums), odd M, F and K, F past a panel.
    int shapes[][4] = {{1, 1, 1, 2}, {13, 17, 33, 5}, {25, 40, 64, 48}, {7, 100, 3, 31}, {30, 20, 1100, 600}};
    for (size_t s = 0; s < ARRAY_LEN(shapes); s++)
        check_swiglu(&r, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3]);
}

// ---------------------------------------------------------------------------------------------
// The model in bf16 against the model in float32: the same weights and batch, every parameter
// tensor's gradient within a relative error (‖g_bf16 − g_f32‖ / ‖g_f32‖) that bf16's 8-bit
// significand explains, through each kernel path this machine has.

typedef struct {
    char name[32];
    size_t offset, n;
} Tensor;

static int model_tensors(const Model *m, Tensor *out) {
    const ModelConfig *c = &m->cfg;
    size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, F = (size_t)c->d_ff;
    const ParamViews *w = &m->w;
    int k = 0;
    for (size_t l = 0; l < L; l++) {
        struct {
            const char *what;
            const float *p;
            size_t n;
        } t[] = {{"wqkv", w->wqkv + l * 3 * C * C, 3 * C * C}, {"wo", w->wo + l * C * C, C * C},
                 {"wgu", w->wgu + l * 2 * F * C, 2 * F * C},     {"wdown", w->wdown + l * C * F, C * F},
                 {"ln1", w->ln1 + l * C, C},                     {"ln2", w->ln2 + l * C, C}};
        for (size_t i = 0; i < ARRAY_LEN(t); i++, k++) {
            snprintf(out[k].name, sizeof out[k].name, "layer %zu %s", l, t[i].what);
            out[k].offset = (size_t)(t[i].p - m->params);
            out[k].n = t[i].n;
        }
    }
    out[k++] = (Tensor){"wte", (size_t)(w->wte - m->params), (size_t)c->vocab_size * C};
    if (!c->tied) out[k++] = (Tensor){"lm_head", (size_t)(w->lm_head - m->params), (size_t)c->vocab_size * C};
    out[k++] = (Tensor){"lnf", (size_t)(w->lnf - m->params), C};
    return k;
}

static double rel_error(const float *got, const float *want, size_t n) {
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
        w += (double)want[i] * want[i];
    }
    return sqrt(d / fmax(w, 1e-300));
}

#define GRAD_RTOL 0.02

// tol: the largest relative error allowed; bf16 must differ from float32 by at least floor.
static void check_model_gradients(GemmPath path, int tied, double tol, double floor) {
    ModelConfig c = {.n_layer = 2, .d_model = 48, .n_head = 3, .vocab_size = 37, .seq_len = 24, .tied = tied};
    model_config_defaults(&c);
    Model m;
    model_build(&m, &c);
    model_init_weights(&m, 11);
    // Norm scales away from 1 so that their gradients are not special.
    Rng r;
    rng_seed(&r, 5);
    for (size_t i = m.layout.matrices; i < m.layout.total; i++) m.params[i] = (float)(1.0 + 0.3 * rng_normal(&r));
    size_t B = 3, T = 24, n = B * T;
    int *tokens = xmalloc(n * sizeof(int)), *targets = xmalloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) {
        tokens[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
        targets[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
    }
    // Packed rows: each holds two examples, positions restart at t = 10.
    int *pos = xmalloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) pos[i] = (int)(i % T < 10 ? i % T : i % T - 10);
    size_t N = m.layout.total;
    float *g32 = xcalloc(N, sizeof(float)), *g16 = xcalloc(N, sizeof(float));
    Activations a;
    acts_build(&a, &c, B, (int)T);
    double loss32 = model_forward_backward(&m, &a, g32, tokens, targets, NULL, pos, B, (int)T, 1.0f / (float)n);
    LinearWeights *mw = linear_weights_create(&m, path);
    linear_refresh(mw, 0, 2); // in two halves, as two threads would
    linear_refresh(mw, 1, 2);
    a.linear = linear_worker_create(mw, n);
    if (!a.linear) fail_msg("%s", err_msg());
    double loss16 = model_forward_backward(&m, &a, g16, tokens, targets, NULL, pos, B, (int)T, 1.0f / (float)n);
    print_message("%s, tied %d: loss float32 %.6f, bf16 %.6f\n", gemm_path_name(path), tied, loss32 / n, loss16 / n);
    assert_true(fabs(loss16 - loss32) / loss32 < tol / 10);
    Tensor t[64];
    int nt = model_tensors(&m, t);
    double worst = 0;
    for (int i = 0; i < nt; i++) {
        double e = rel_error(g16 + t[i].offset, g32 + t[i].offset, t[i].n);
        if (getenv("T2_TEST_VERBOSE")) print_message("  %-14s relative error %.4f\n", t[i].name, e);
        if (!(e < tol))
            fail_msg("%s: gradient of %s differs from float32 by %.4f (relative)", gemm_path_name(path), t[i].name, e);
        worst = fmax(worst, e);
    }
    // bf16 must really have been used: a float32 pass agrees to ~1e-6 (t2's float32 products
    // and OpenBLAS's AVX-512 sgemm even sum in the same order: 0).
    assert_true(worst >= floor);
    print_message("  worst relative gradient error over %d tensors: %.4f\n", nt, worst);
    linear_worker_free(a.linear);
    linear_weights_free(mw);
    acts_free(&a);
    free(g32), free(g16), free(tokens), free(targets), free(pos);
    model_free(&m);
}

static void test_model_gradients_t2(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    check_model_gradients(GEMM_T2_BF16, 0, GRAD_RTOL, 1e-4);
    check_model_gradients(GEMM_T2_BF16, 1, GRAD_RTOL, 1e-4);
}

// t2's float32 products (with the residual add and SwiGLU fused) against sgemm's: float32 rounding.
static void test_model_gradients_f32(void **state) {
    (void)state;
    if (!T2_F32_KERNELS || !cpu_info()->avx512) {
        print_message("skipped: this CPU has no AVX-512\n");
        skip();
    }
    check_model_gradients(GEMM_T2_F32, 0, 1e-5, 0);
    check_model_gradients(GEMM_T2_F32, 1, 1e-5, 0);
}

static void test_model_gradients_onednn(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    setenv("T2_BF16_GEMM", "onednn", 1);
    GemmPath g;
    int rc = gemm_path_for(PRECISION_BF16, &g);
    unsetenv("T2_BF16_GEMM");
    if (rc != 0) {
        print_message("skipped: %s\n", err_msg());
        skip();
    }
    check_model_gradients(GEMM_ONEDNN, 0, GRAD_RTOL, 1e-4);
    check_model_gradients(GEMM_ONEDNN, 1, GRAD_RTOL, 1e-4);
}

// ---------------------------------------------------------------------------------------------
// Training in bf16: same seed, precision and thread count → bit-identical weights, close to
// float32's.

// A trainer of `total` steps that has run `steps` of them.
static Trainer *train_part(Precision p, int threads, long steps, long total, double *loss) {
    ModelConfig c = {.n_layer = 2, .d_model = 64, .n_head = 4, .vocab_size = 50, .seq_len = 32};
    model_config_defaults(&c);
    TrainSpec ts = {.seq_len = 32, .batch_size = 6, .lr = 3e-3, .warmup = 0.1, .schedule = SCHED_COSINE,
                    .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .grad_clip = 1.0, .precision = p};
    Trainer *t = trainer_create(&c, &ts, total, 42, NULL, threads);
    if (!t) fail_msg("%s", err_msg());
    StepStats st = {0};
    for (long i = 0; i < steps; i++)
        if (trainer_step(t, &st) != 0) fail_msg("%s", err_msg());
    *loss = st.loss;
    return t;
}

static Trainer *train_steps(Precision p, int threads, long steps, double *loss) {
    return train_part(p, threads, steps, steps, loss);
}

static void test_training_reproducible(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    for (int threads = 1; threads <= 2; threads++) {
        double la, lb, lf;
        Trainer *a = train_steps(PRECISION_BF16, threads, 12, &la), *b = train_steps(PRECISION_BF16, threads, 12, &lb);
        Trainer *f = train_steps(PRECISION_FLOAT32, threads, 12, &lf);
        assert_string_equal(trainer_gemm_path(f), cpu_info()->avx512 ? "t2-avx512" : "openblas-sgemm");
        assert_int_equal(trainer_precision(a), PRECISION_BF16);
        size_t n = trainer_model(a)->layout.total;
        assert_memory_equal(trainer_model(a)->params, trainer_model(b)->params, n * sizeof(float));
        assert_true(la == lb);
        assert_memory_not_equal(trainer_model(a)->params, trainer_model(f)->params, n * sizeof(float));
        print_message("%d thread(s), 12 steps: loss float32 %.5f, bf16 %.5f (%s)\n", threads, lf, la,
                      trainer_gemm_path(a));
        assert_true(fabs(la - lf) / lf < 0.01);
        trainer_free(a), trainer_free(b), trainer_free(f);
    }
}

// Nothing is allocated inside a bf16 step, on either path (oneDNN gets a user-managed scratchpad).
static void test_no_allocation_in_step(void **state) {
    (void)state;
    SKIP_WITHOUT_BF16();
    const char *paths[] = {"t2", "onednn"};
    for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
        setenv("T2_BF16_GEMM", paths[i], 1);
        double loss;
        Trainer *t = train_part(PRECISION_BF16, 2, 2, 12, &loss); // warm-up steps: buffers settle
        unsetenv("T2_BF16_GEMM");
        StepStats st;
        struct mallinfo2 before = mallinfo2();
        for (int s = 0; s < 10; s++) assert_int_equal(trainer_step(t, &st), 0);
        struct mallinfo2 after = mallinfo2();
        if (before.uordblks != after.uordblks)
            fail_msg("%s: %zu bytes allocated in 10 steps", trainer_gemm_path(t), after.uordblks - before.uordblks);
        trainer_free(t);
    }
}

// A bad T2_BF16_GEMM is named; without AVX512-BF16 the message names the CPU feature; float32
// never needs anything.
static void test_bad_path_refused(void **state) {
    (void)state;
    setenv("T2_BF16_GEMM", "fast", 1);
    GemmPath g;
    assert_int_equal(gemm_path_for(PRECISION_BF16, &g), -1);
    assert_non_null(strstr(err_msg(), cpu_info()->avx512_bf16 ? "T2_BF16_GEMM" : "AVX512_BF16"));
    unsetenv("T2_BF16_GEMM");
    // float32: t2's products with AVX-512, else sgemm; T2_F32_GEMM=openblas forces sgemm.
    assert_int_equal(gemm_path_for(PRECISION_FLOAT32, &g), 0);
    assert_int_equal(g, cpu_info()->avx512 ? GEMM_T2_F32 : GEMM_SGEMM);
    setenv("T2_F32_GEMM", "openblas", 1);
    assert_int_equal(gemm_path_for(PRECISION_FLOAT32, &g), 0);
    assert_int_equal(g, GEMM_SGEMM);
    setenv("T2_F32_GEMM", "mkl", 1);
    assert_int_equal(gemm_path_for(PRECISION_FLOAT32, &g), -1);
    assert_non_null(strstr(err_msg(), "T2_F32_GEMM: expected t2 or openblas, got 'mkl'"));
    unsetenv("T2_F32_GEMM");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_rows),
        cmocka_unit_test(test_pairs_and_panels),
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_swiglu_products),
        cmocka_unit_test(test_rows_and_pairs),
        cmocka_unit_test(test_gemm_hook),
        cmocka_unit_test(test_model_gradients_t2),
        cmocka_unit_test(test_model_gradients_f32),
        cmocka_unit_test(test_model_gradients_onednn),
        cmocka_unit_test(test_training_reproducible),
        cmocka_unit_test(test_no_allocation_in_step),
        cmocka_unit_test(test_bad_path_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
