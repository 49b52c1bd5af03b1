// test_bf16.c — the bf16 kernels (kernels/matmul_bf16.c) against scalar references written here:
// conversions bit for bit (round to nearest even, denormals to zero), packed layouts element by
// element, products against double sums of the same bf16 values. Skipped on a CPU without
// AVX512-BF16.
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_rows),
        cmocka_unit_test(test_pairs_and_panels),
        cmocka_unit_test(test_gemm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
