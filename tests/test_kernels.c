// test_kernels.c — every kernel of kernels.h against plain double-precision loops written here,
// and every backward against central finite differences of those double references.
//
// Gradient checks use the scalar objective J = Σ_i r_i·out_i with fixed random r, so the kernel's
// backward runs with dout = r. Finite differences are taken in double on the exact float inputs,
// so they are accurate to ~1e-9; what remains is the float rounding of the kernel.
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "util/cpu.h"
#include "util/util.h"
#include "vecmath.h"

// ---------------------------------------------------------------------------------------------
// Helpers.

// Tolerances: float kernels against double references. An element passes when
// |got − want| <= RTOL·|want| + ATOL·max|want| (the absolute floor is relative to the array's
// scale, since float sums carry error relative to their largest terms, not to each result).
#define RTOL 2e-3
#define ATOL 1e-5
#define FD_STEP 1e-5

static float *fvec(size_t n) { return xmalloc((n ? n : 1) * sizeof(float)); }
static double *dvec(size_t n) { return xmalloc((n ? n : 1) * sizeof(double)); }

static float *randn(Rng *rng, size_t n, double sd) {
    float *x = fvec(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * rng_normal(rng));
    return x;
}

static float *filled(size_t n, float value) {
    float *x = fvec(n);
    for (size_t i = 0; i < n; i++) x[i] = value;
    return x;
}

static float *fcopy(const float *x, size_t n) {
    float *y = fvec(n);
    memcpy(y, x, n * sizeof(float));
    return y;
}

static double *widen(const float *x, size_t n) {
    double *y = dvec(n);
    for (size_t i = 0; i < n; i++) y[i] = x[i];
    return y;
}

static double dot_fd(const double *r, const double *out, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += r[i] * out[i];
    return s;
}

// Compare got (float) with want (double) on every stride-th element; fail naming the worst one.
static void expect_close_strided(const char *what, const float *got, const double *want, size_t n,
                                 size_t stride, double rtol, double atol) {
    double scale = 0;
    for (size_t i = 0; i < n; i += stride) scale = fmax(scale, fabs(want[i]));
    double worst = 0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i += stride) {
        double allowed = rtol * fabs(want[i]) + atol * scale;
        double ratio = fabs(got[i] - want[i]) / (allowed > 0 ? allowed : 1e-30);
        if (!(ratio <= worst)) { // also catches NaN
            worst = ratio;
            worst_i = i;
        }
    }
    if (getenv("T2_TEST_VERBOSE"))
        print_message("%-36s worst error %.3g × tolerance\n", what, worst);
    if (!(worst <= 1.0))
        fail_msg("%s: element %zu is %.9g, expected %.9g (error %.3g × tolerance)", what, worst_i,
                 (double)got[worst_i], want[worst_i], worst);
}

static void expect_close(const char *what, const float *got, const double *want, size_t n,
                         double rtol, double atol) {
    expect_close_strided(what, got, want, n, 1, rtol, atol);
}

// got − base, for outputs that accumulate into a prefilled buffer.
static float *minus(const float *got, const float *base, size_t n) {
    float *d = fvec(n);
    for (size_t i = 0; i < n; i++) d[i] = got[i] - base[i];
    return d;
}

// A scalar objective of some double arrays; fd_gradient perturbs one of them in place.
typedef double (*Objective)(const void *ctx);

// Central differences dJ/dx_i for every stride-th i (others left 0).
static double *fd_gradient(double *x, size_t n, size_t stride, Objective f, const void *ctx) {
    double *grad = dvec(n);
    memset(grad, 0, n * sizeof(double));
    for (size_t i = 0; i < n; i += stride) {
        double xi = x[i], h = FD_STEP * fmax(1.0, fabs(xi));
        x[i] = xi + h;
        double fp = f(ctx);
        x[i] = xi - h;
        double fm = f(ctx);
        x[i] = xi;
        grad[i] = (fp - fm) / (2 * h);
    }
    return grad;
}

// Check a kernel's gradient against finite differences of f with respect to x.
static void expect_grad(const char *what, const float *got, double *x, size_t n, size_t stride,
                        Objective f, const void *ctx) {
    double *fd = fd_gradient(x, n, stride, f, ctx);
    expect_close_strided(what, got, fd, n, stride, RTOL, ATOL);
    free(fd);
}

static void expect_all_equal(const char *what, const float *got, float value, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &value, sizeof value) != 0)
            fail_msg("%s: element %zu is %.9g, expected exactly %.9g", what, i, (double)got[i],
                     (double)value);
}

// ---------------------------------------------------------------------------------------------
// exp.

static int64_t ulp_distance(float a, float b) {
    int32_t ia = (int32_t)f32_bits(a), ib = (int32_t)f32_bits(b);
    if (ia < 0) ia = INT32_MIN - ia; // map the float order onto the integers
    if (ib < 0) ib = INT32_MIN - ib;
    return llabs((int64_t)ia - (int64_t)ib);
}

static void test_expf_accuracy(void **state) {
    (void)state;
    enum { N = 4096 };
    static float x[N], y[N];
    int64_t worst = 0;
    float worst_x = 0;
    // Every 4093rd float of [-104, 0] and [0, 89] (about 540k points), through the vectorised loop.
    uint32_t lo_neg = f32_bits(-0.0f), hi_neg = f32_bits(-104.0f), hi_pos = f32_bits(89.0f);
    size_t m = 0;
    for (int side = 0; side < 2; side++) {
        uint32_t from = side ? 0 : lo_neg, to = side ? hi_pos : hi_neg;
        for (uint64_t b = from; b <= to; b += 4093) {
            x[m++] = f32_from_bits((uint32_t)b);
            if (m == N || b + 4093 > to) {
                for (size_t i = 0; i < m; i++) y[i] = t2_expf(x[i]);
                for (size_t i = 0; i < m; i++) {
                    int64_t d = ulp_distance(y[i], (float)exp((double)x[i]));
                    if (d > worst) {
                        worst = d;
                        worst_x = x[i];
                    }
                }
                m = 0;
            }
        }
    }
    if (worst > 1) fail_msg("t2_expf is %lld ulp off at %a", (long long)worst, (double)worst_x);
    // Saturation and special values.
    assert_true(isnan(t2_expf(NAN)));
    assert_true(t2_expf(-INFINITY) == 0.0f);
    assert_true(t2_expf(-1000.0f) == 0.0f);
    assert_true(isinf(t2_expf(INFINITY)) && t2_expf(INFINITY) > 0);
    assert_true(isinf(t2_expf(89.0f)));
    assert_true(t2_expf(0.0f) == 1.0f);
    assert_true(ulp_distance(t2_expf(88.7f), (float)exp((double)88.7f)) <= 1); // near the top
    assert_true(ulp_distance(t2_expf(-100.0f), (float)exp(-100.0)) <= 1); // subnormal result
}

#if T2_F32_KERNELS
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq")
#endif
#include "simd512.h"
// exp16 (the fused kernels' exp, kernels/simd512.h) on n values, 16 at a time.
static void exp16_rows(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = mask16((int)(n - i));
        _mm512_mask_storeu_ps(y + i, k, exp16(_mm512_maskz_loadu_ps(k, x + i)));
    }
}
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

// The fused kernels' exp16 gives t2_expf's bits: every 997th float of [-120, 100], the specials.
static void test_exp16_matches(void **state) {
    (void)state;
    if (!T2_F32_KERNELS || !cpu_info()->avx512) skip();
#if T2_F32_KERNELS
    enum { N = 4096 };
    static float x[N], y[N];
    const float special[] = {NAN, -INFINITY, INFINITY, -1000.0f, 89.0f, 88.72f, -103.9f, -104.0f, 0.0f, -0.0f};
    size_t m = 0;
    for (size_t i = 0; i < ARRAY_LEN(special); i++) x[m++] = special[i];
    uint32_t ranges[2][2] = {{f32_bits(-0.0f), f32_bits(-120.0f)}, {0, f32_bits(100.0f)}};
    for (int side = 0; side < 2; side++)
        for (uint64_t b = ranges[side][0]; b <= ranges[side][1]; b += 997) {
            x[m++] = f32_from_bits((uint32_t)b);
            if (m == N || b + 997 > ranges[side][1]) {
                exp16_rows(y, x, m);
                for (size_t i = 0; i < m; i++) {
                    float want = t2_expf(x[i]);
                    if (memcmp(&y[i], &want, sizeof want) != 0 && !(isnan(y[i]) && isnan(want)))
                        fail_msg("exp16(%a) = %a, t2_expf gives %a", (double)x[i], (double)y[i], (double)want);
                }
                m = 0;
            }
        }
#endif
}

static void test_reductions(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 1);
    int lens[] = {1, 5, 15, 16, 17, 33, 100};
    for (size_t t = 0; t < ARRAY_LEN(lens); t++) {
        int n = lens[t];
        float *a = randn(&rng, (size_t)n, 1.0), *b = randn(&rng, (size_t)n, 1.0);
        a[n / 2] = 7.5f; // a known maximum somewhere inside
        double d = 0, e = 0, mx = -INFINITY;
        for (int i = 0; i < n; i++) {
            d += (double)a[i] * b[i];
            mx = fmax(mx, a[i]);
        }
        for (int i = 0; i < n; i++) e += exp((double)a[i] - 7.5);
        assert_true(fabs(vdot(a, b, n) - d) <= 1e-5 * n);
        assert_true(vmax(a, n) == (float)mx);
        assert_true(fabs(vsum_exp(a, n, 7.5f) - e) <= 1e-6 * e);
        float *c = fcopy(a, (size_t)n);
        assert_true(fabs(vexp_shift(c, n, 7.5f) - e) <= 1e-6 * e);
        for (int i = 0; i < n; i++) assert_true(c[i] == t2_expf(a[i] - 7.5f));
        // All negative: the largest is the one nearest zero.
        float mn = INFINITY;
        for (int i = 0; i < n; i++) mn = fminf(mn, a[i]);
        for (int i = 0; i < n; i++) c[i] = -a[i] - 1.0f;
        assert_true(vmax(c, n) == -mn - 1.0f);
        free(a), free(b), free(c);
    }
}

// ---------------------------------------------------------------------------------------------
// Embedding.

typedef struct {
    const int *tokens;
    const double *wte, *r;
    size_t n;
    int C;
} EmbCtx;

static double emb_objective(const void *p) {
    const EmbCtx *c = p;
    double J = 0;
    for (size_t i = 0; i < c->n; i++)
        for (int j = 0; j < c->C; j++)
            J += c->r[i * c->C + j] * c->wte[(size_t)c->tokens[i] * c->C + j];
    return J;
}

static void test_embedding(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 2);
    enum { V = 6, C = 19, N = 9 };
    int tokens[N] = {3, 1, 3, 5, 3, 0, 1, 3, 2}; // 3 four times, 1 twice, 4 never
    float *wte = randn(&rng, V * C, 1.0), *out = filled(N * C, NAN);
    embedding_forward(out, tokens, wte, N, C);
    for (size_t i = 0; i < N; i++)
        assert_memory_equal(out + i * C, wte + (size_t)tokens[i] * C, C * sizeof(float));

    float *r = randn(&rng, N * C, 1.0), *dwte0 = randn(&rng, V * C, 1.0);
    float *dwte = fcopy(dwte0, V * C);
    embedding_backward(dwte, r, tokens, N, C);
    float *got = minus(dwte, dwte0, V * C);
    double *dw = widen(wte, V * C), *dr = widen(r, N * C);
    EmbCtx ctx = {tokens, dw, dr, N, C};
    expect_grad("embedding dwte", got, dw, V * C, 1, emb_objective, &ctx);
    assert_memory_equal(dwte + 4 * C, dwte0 + 4 * C, C * sizeof(float));
    free(wte), free(out), free(r), free(dwte0), free(dwte), free(got), free(dw), free(dr);
}

// ---------------------------------------------------------------------------------------------
// RMSNorm.

typedef struct {
    const double *x, *w, *r;
    size_t n;
    int C;
    double eps;
    double *out; // (n, C) written by the reference
} RmsCtx;

static void rmsnorm_ref(const RmsCtx *c, double *rstd) {
    for (size_t i = 0; i < c->n; i++) {
        const double *x = c->x + i * c->C;
        double ss = 0;
        for (int j = 0; j < c->C; j++) ss += x[j] * x[j];
        double rs = 1.0 / sqrt(ss / c->C + c->eps);
        if (rstd) rstd[i] = rs;
        for (int j = 0; j < c->C; j++) c->out[i * c->C + j] = x[j] * rs * c->w[j];
    }
}

static double rms_objective(const void *p) {
    const RmsCtx *c = p;
    rmsnorm_ref(c, NULL);
    return dot_fd(c->r, c->out, c->n * c->C);
}

static void test_rmsnorm(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 3);
    enum { N = 4, C = 37 };
    const float eps = 1e-5f;
    float *x = randn(&rng, N * C, 1.5), *w = randn(&rng, C, 1.0);
    for (int j = 0; j < C; j++) x[j] *= 1e-3f; // a row whose mean square is near eps
    float *out = filled(N * C, NAN), *rstd = filled(N, NAN);
    rmsnorm_forward(out, rstd, x, w, N, C, eps);

    double *dx = widen(x, N * C), *dw = widen(w, C), *dout = dvec(N * C), *drstd = dvec(N);
    float *r = randn(&rng, N * C, 1.0);
    double *dr = widen(r, N * C);
    RmsCtx ctx = {dx, dw, dr, N, C, eps, dout};
    rmsnorm_ref(&ctx, drstd);
    expect_close("rmsnorm out", out, dout, N * C, 1e-5, 1e-6);
    expect_close("rmsnorm rstd", rstd, drstd, N, 1e-5, 0);

    float *gx0 = randn(&rng, N * C, 1.0), *gw0 = randn(&rng, C, 1.0);
    float *gx = fcopy(gx0, N * C), *gw = fcopy(gw0, C);
    rmsnorm_backward(gx, gw, r, x, w, rstd, N, C);
    float *got_x = minus(gx, gx0, N * C), *got_w = minus(gw, gw0, C);
    expect_grad("rmsnorm dx (accumulated)", got_x, dx, N * C, 1, rms_objective, &ctx);
    expect_grad("rmsnorm dw (accumulated)", got_w, dw, C, 1, rms_objective, &ctx);
    free(x), free(w), free(out), free(rstd), free(dx), free(dw), free(dout), free(drstd), free(r),
        free(dr), free(gx0), free(gw0), free(gx), free(gw), free(got_x), free(got_w);
}

// ---------------------------------------------------------------------------------------------
// Linear layer.

typedef struct {
    const double *x, *w, *r;
    size_t n;
    int IC, OC;
} MatCtx;

static double mat_objective(const void *p) {
    const MatCtx *c = p;
    double J = 0;
    for (size_t i = 0; i < c->n; i++)
        for (int o = 0; o < c->OC; o++) {
            double y = 0;
            for (int k = 0; k < c->IC; k++) y += c->x[i * c->IC + k] * c->w[(size_t)o * c->IC + k];
            J += c->r[i * c->OC + o] * y;
        }
    return J;
}

static void test_matmul(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 4);
    enum { N = 5, IC = 7, OC = 6 };
    float *x = randn(&rng, N * IC, 1.0), *w = randn(&rng, OC * IC, 1.0);
    float *out = filled(N * OC, NAN);
    matmul_forward(out, x, w, N, IC, OC);
    double *want = dvec(N * OC);
    for (int i = 0; i < N; i++)
        for (int o = 0; o < OC; o++) {
            want[i * OC + o] = 0;
            for (int k = 0; k < IC; k++) want[i * OC + o] += (double)x[i * IC + k] * w[o * IC + k];
        }
    expect_close("matmul out", out, want, N * OC, 1e-5, 1e-6);

    float *r = randn(&rng, N * OC, 1.0), *gw0 = randn(&rng, OC * IC, 1.0);
    float *gx = filled(N * IC, NAN), *gw = fcopy(gw0, OC * IC); // dx is overwritten
    matmul_backward(gx, gw, r, x, w, N, IC, OC);
    float *got_w = minus(gw, gw0, OC * IC);
    double *dx = widen(x, N * IC), *dw = widen(w, OC * IC), *dr = widen(r, N * OC);
    MatCtx ctx = {dx, dw, dr, N, IC, OC};
    expect_grad("matmul dx", gx, dx, N * IC, 1, mat_objective, &ctx);
    expect_grad("matmul dw (accumulated)", got_w, dw, OC * IC, 1, mat_objective, &ctx);

    // dx = NULL still accumulates dw, identically.
    float *gw2 = fcopy(gw0, OC * IC);
    matmul_backward(NULL, gw2, r, x, w, N, IC, OC);
    assert_memory_equal(gw2, gw, OC * IC * sizeof(float));
    free(x), free(w), free(out), free(want), free(r), free(gw0), free(gx), free(gw), free(got_w),
        free(dx), free(dw), free(dr), free(gw2);
}

// ---------------------------------------------------------------------------------------------
// RoPE.

typedef struct {
    const double *x, *r;
    size_t n;
    int T, pos0, H, hd, stride;
    double theta;
    double *out;
    const int *pos; // (n,) or NULL
} RopeCtx;

// Rotation of pairs (i, i + hd/2) by pos·theta^(−2i/hd), straight from the definition.
static void rope_ref(const RopeCtx *c) {
    int half = c->hd / 2;
    memcpy(c->out, c->x, c->n * c->stride * sizeof(double));
    for (size_t row = 0; row < c->n; row++) {
        double pos = c->pos ? (double)c->pos[row] : c->pos0 + (double)(row % c->T);
        for (int h = 0; h < c->H; h++)
            for (int i = 0; i < half; i++) {
                double ang = pos / pow(c->theta, 2.0 * i / c->hd);
                size_t a = row * c->stride + h * c->hd + i, b = a + half;
                c->out[a] = c->x[a] * cos(ang) - c->x[b] * sin(ang);
                c->out[b] = c->x[b] * cos(ang) + c->x[a] * sin(ang);
            }
    }
}

static double rope_objective(const void *p) {
    const RopeCtx *c = p;
    rope_ref(c);
    return dot_fd(c->r, c->out, c->n * c->stride);
}

// The decoding product: packed weights against a double reference for row counts that exercise
// every block size (8, 4, 1) and column counts with a partial panel; each row identical to the
// same row computed alone (batch-independence); the AVX-512 blocks (where the CPU has them) and
// the portable loop alike, and bit for bit the same when the build has FMA.
static void test_matmul_packed(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 14);
    int paths = cpu_info()->avx512 ? 2 : 1;
    static const int shapes[][3] = {{1, 7, 3}, {3, 16, 32}, {13, 33, 45}, {8, 128, 100}, {21, 40, 64}};
    for (size_t t = 0; t < ARRAY_LEN(shapes); t++) {
        int n = shapes[t][0], IC = shapes[t][1], OC = shapes[t][2];
        float *x = randn(&rng, (size_t)n * IC, 1.0), *w = randn(&rng, (size_t)OC * IC, 1.0);
        float *wp = filled(packed_weight_floats(IC, OC), NAN), *out[2] = {NULL, NULL};
        pack_weight(wp, w, IC, OC);
        double *want = dvec((size_t)n * OC);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < OC; o++) {
                want[i * OC + o] = 0;
                for (int k = 0; k < IC; k++) want[i * OC + o] += (double)x[i * IC + k] * w[o * IC + k];
            }
        float *one = filled((size_t)OC + 1, NAN);
        for (int avx512 = 0; avx512 < paths; avx512++) {
            out[avx512] = filled((size_t)n * OC, NAN);
            matmul_packed_forward(out[avx512], x, wp, (size_t)n, IC, OC, avx512);
            expect_close("matmul_packed out", out[avx512], want, (size_t)n * OC, 1e-5, 1e-6);
            for (int i = 0; i < n; i++) {
                matmul_packed_forward(one, x + (size_t)i * IC, wp, 1, IC, OC, avx512);
                assert_memory_equal(one, out[avx512] + (size_t)i * OC, (size_t)OC * sizeof(float));
                assert_true(isnan(one[OC])); // nothing written past the row
            }
        }
#ifdef __FMA__
        if (paths == 2) assert_memory_equal(out[0], out[1], (size_t)n * OC * sizeof(float));
#endif
        free(x), free(w), free(wp), free(out[0]), free(out[1]), free(want), free(one);
    }
}

static void test_rope(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 5);
    enum { B = 2, T = 5, POS0 = 300, H = 2, HD = 6, STRIDE = H * HD + 3, MAXPOS = POS0 + T };
    const float theta = 10000.0f;
    const size_t n = B * T, len = n * STRIDE;
    float *cos_t = fvec(MAXPOS * HD / 2), *sin_t = fvec(MAXPOS * HD / 2);
    rope_tables(cos_t, sin_t, MAXPOS, HD, theta);
    for (int p = 0; p < MAXPOS; p++)
        for (int i = 0; i < HD / 2; i++) {
            double ang = p * exp(-2.0 * i / HD * log(10000.0));
            assert_true(fabs(cos_t[p * HD / 2 + i] - cos(ang)) < 1e-6);
            assert_true(fabs(sin_t[p * HD / 2 + i] - sin(ang)) < 1e-6);
        }

    float *x = randn(&rng, len, 1.0), *y = fcopy(x, len);
    rope_forward(y, cos_t, sin_t, NULL, n, T, POS0, H, HD, STRIDE);
    double *dx = widen(x, len), *dout = dvec(len);
    float *r = randn(&rng, len, 1.0);
    double *dr = widen(r, len);
    RopeCtx ctx = {dx, dr, n, T, POS0, H, HD, STRIDE, theta, dout, NULL};
    rope_ref(&ctx);
    expect_close("rope forward", y, dout, len, 1e-5, 1e-6);
    for (size_t row = 0; row < n; row++) // the columns past H·hd are not touched
        assert_memory_equal(y + row * STRIDE + H * HD, x + row * STRIDE + H * HD,
                            3 * sizeof(float));

    float *g = fcopy(r, len);
    rope_backward(g, cos_t, sin_t, NULL, n, T, POS0, H, HD, STRIDE);
    // The objective also sees the untouched columns (gradient r there), as does the kernel.
    expect_grad("rope backward", g, dx, len, 1, rope_objective, &ctx);

    // Backward is the inverse rotation: it undoes the forward one.
    rope_backward(y, cos_t, sin_t, NULL, n, T, POS0, H, HD, STRIDE);
    double *dxx = widen(x, len);
    expect_close("rope backward(forward(x))", y, dxx, len, 1e-5, 1e-6);

    // Explicit positions (packed examples restart at 0), up to the last row of the tables.
    int pos[B * T] = {0, 1, 2, 0, 1, 0, 1, 2, 3, MAXPOS - 1};
    float *yp = fcopy(x, len), *gp = fcopy(r, len);
    rope_forward(yp, cos_t, sin_t, pos, n, T, 0, H, HD, STRIDE);
    RopeCtx pctx = {dx, dr, n, T, 0, H, HD, STRIDE, theta, dout, pos};
    rope_ref(&pctx);
    expect_close("rope forward, positions", yp, dout, len, 1e-5, 1e-6);
    rope_backward(gp, cos_t, sin_t, pos, n, T, 0, H, HD, STRIDE);
    expect_grad("rope backward, positions", gp, dx, len, 1, rope_objective, &pctx);
    free(cos_t), free(sin_t), free(x), free(y), free(dx), free(dout), free(r), free(dr), free(g),
        free(dxx), free(yp), free(gp);
}

// ---------------------------------------------------------------------------------------------
// Attention.

typedef struct {
    const double *qkv, *r;
    size_t B;
    int T, C, H;
    double *out, *att; // (B, T, C), (B, H, T, T)
    const int *pos;    // (B, T) or NULL
    double theta;      // RoPE on q and k first (0: none)
    double *rot;       // (B, T, 3C) scratch: qkv with q and k rotated
} AttCtx;

static void attention_ref(const AttCtx *c) {
    int T = c->T, C = c->C, H = c->H, hd = C / H;
    const double *qkv = c->qkv;
    if (c->theta > 0) { // q and k are the first 2H heads of each row
        RopeCtx rc = {c->qkv, NULL, c->B * T, T, 0, 2 * H, hd, 3 * C, c->theta, c->rot, c->pos};
        rope_ref(&rc);
        qkv = c->rot;
    }
    double *s = dvec((size_t)T);
    for (size_t b = 0; b < c->B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const double *q = qkv + (b * T + i) * 3 * C + h * hd;
                double mx = -INFINITY, sum = 0;
                int j0 = c->pos ? i - c->pos[b * T + i] : 0; // the start of the example of token i
                for (int j = j0; j <= i; j++) {
                    const double *k = qkv + (b * T + j) * 3 * C + C + h * hd;
                    s[j] = 0;
                    for (int d = 0; d < hd; d++) s[j] += q[d] * k[d] / sqrt((double)hd);
                    mx = fmax(mx, s[j]);
                }
                for (int j = j0; j <= i; j++) sum += (s[j] = exp(s[j] - mx));
                double *p = c->att + ((b * H + h) * T + i) * T;
                for (int j = 0; j < T; j++) p[j] = j >= j0 && j <= i ? s[j] / sum : 0.0;
                double *y = c->out + (b * T + i) * C + h * hd;
                for (int d = 0; d < hd; d++) {
                    y[d] = 0;
                    for (int j = j0; j <= i; j++) {
                        const double *v = qkv + (b * T + j) * 3 * C + 2 * C + h * hd;
                        y[d] += p[j] * v[d];
                    }
                }
            }
    free(s);
}

static double att_objective(const void *p) {
    const AttCtx *c = p;
    attention_ref(c);
    return dot_fd(c->r, c->out, c->B * c->T * c->C);
}

// The keys [*lo, *end) whose probabilities query i's row must hold: those of its block of 32
// queries, from the block's earliest first key rounded down to a multiple of 32.
static void att_block_keys(const int *pos, int T, int i, int *lo, int *end) {
    int r0 = i / 32 * 32;
    *end = r0 + 32 < T ? r0 + 32 : T;
    *lo = r0;
    for (int r = r0; r < *end; r++) {
        int first = pos ? r - pos[r] : 0;
        *lo = first < *lo ? first : *lo;
    }
    *lo = *lo / 32 * 32;
}

// Forward against the reference, backward against finite differences on every fd_stride-th
// element of qkv. pos (B, T) or NULL: positions inside packed examples. theta > 0: with RoPE
// (tables up to position T), the forward rotating q and k in place and the backward's gradient
// taken with respect to the unrotated qkv.
// pack: NULL (sgemm's products) or scratch for t2's AVX-512 products.
static void check_attention_path(size_t B, int T, int C, int H, const int *pos, size_t fd_stride, uint64_t seed,
                                 float *pack, float theta) {
    Rng rng;
    rng_seed(&rng, seed);
    size_t nqkv = B * T * 3 * C, nout = B * T * C, natt = B * H * T * T;
    int hd = C / H;
    float *cos_t = fvec((size_t)T * hd / 2), *sin_t = fvec((size_t)T * hd / 2);
    rope_tables(cos_t, sin_t, T, hd, theta > 0 ? theta : 10000.0f);
    AttRope rope = {cos_t, sin_t}, *rp = theta > 0 ? &rope : NULL;
    float *qkv0 = randn(&rng, nqkv, 1.0), *qkv = fcopy(qkv0, nqkv), *out = filled(nout, NAN),
          *att = filled(natt, NAN);
    attention_forward(out, att, pack, qkv, pos, rp, B, T, C, H);
    double *dqkv = widen(qkv0, nqkv), *dout = dvec(nout), *datt = dvec(natt), *rot = dvec(nqkv);
    float *r = randn(&rng, nout, 1.0);
    double *dr = widen(r, nout);
    AttCtx ctx = {dqkv, dr, B, T, C, H, dout, datt, pos, theta, rot};
    attention_ref(&ctx);
    expect_close("attention out", out, dout, nout, 1e-5, 1e-6);
    // att is compared where it is written: over the keys of each query's 32-row block (from the
    // block's earliest first key rounded down to 32); elsewhere it may hold anything.
    float *att_seen = fcopy(att, natt);
    for (size_t b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            int lo, end;
            att_block_keys(pos ? pos + b * T : NULL, T, i, &lo, &end);
            for (int h = 0; h < H; h++) {
                float *row = att_seen + ((b * H + h) * T + i) * T;
                for (int j = 0; j < T; j++)
                    if (j < lo || j >= end) row[j] = 0.0f;
                expect_all_equal("attention above the diagonal", row + i + 1, 0.0f, (size_t)(end - i - 1));
                int first = pos ? i - pos[b * T + i] : 0;
                expect_all_equal("attention before the example", row + lo, 0.0f, (size_t)(first - lo));
            }
        }
    expect_close("attention probabilities", att_seen, datt, natt, 1e-5, 1e-6);
    free(att_seen);
    if (theta > 0) { // qkv holds the rotated q and k, and v as it was
        expect_close("attention's rotated qkv", qkv, rot, nqkv, 1e-5, 1e-6);
        for (size_t i = 0; i < B * T; i++)
            assert_memory_equal(qkv + i * 3 * C + 2 * C, qkv0 + i * 3 * C + 2 * C, (size_t)C * sizeof(float));
    } else {
        assert_memory_equal(qkv, qkv0, nqkv * sizeof(float));
    }

    float *g = filled(nqkv, NAN), *scratch = filled((size_t)T * T, NAN);
    attention_backward(g, scratch, pack, r, qkv, att, pos, rp, B, T, C, H);
    expect_grad("attention dqkv", g, dqkv, nqkv, fd_stride, att_objective, &ctx);

    // Deterministic: a second run gives the same bits.
    float *qkv2 = fcopy(qkv0, nqkv), *out2 = filled(nout, NAN), *att2 = filled(natt, NAN), *g2 = filled(nqkv, NAN);
    attention_forward(out2, att2, pack, qkv2, pos, rp, B, T, C, H);
    attention_backward(g2, scratch, pack, r, qkv2, att2, pos, rp, B, T, C, H);
    assert_memory_equal(out2, out, nout * sizeof(float));
    assert_memory_equal(g2, g, nqkv * sizeof(float));
    free(qkv0), free(qkv), free(out), free(att), free(dqkv), free(dout), free(datt), free(r), free(dr),
        free(g), free(scratch), free(qkv2), free(out2), free(att2), free(g2), free(rot), free(cos_t), free(sin_t);
}

// Through sgemm, and through t2's AVX-512 products where the CPU has them.
// Without and with RoPE (theta 100, so that the angles vary fast across these short rows).
static void check_attention_pos(size_t B, int T, int C, int H, const int *pos, size_t fd_stride, uint64_t seed) {
    for (int with_rope = 0; with_rope < 2; with_rope++) {
        float theta = with_rope ? 100.0f : 0.0f;
        check_attention_path(B, T, C, H, pos, fd_stride, seed, NULL, theta);
        if (T2_F32_KERNELS && cpu_info()->avx512) {
            float *pack = filled(attention_pack_floats(T, C / H), NAN);
            check_attention_path(B, T, C, H, pos, fd_stride, seed, pack, theta);
            free(pack);
        }
    }
}

static void check_attention(size_t B, int T, int C, int H, size_t fd_stride, uint64_t seed) {
    check_attention_pos(B, T, C, H, NULL, fd_stride, seed);
}

// Positions of rows of T tokens holding examples of the given lengths back to back (the last
// one may run to the end of the row), repeated for B rows with the lengths rotated.
static int *packed_positions(size_t B, int T, const int *lens, int n_lens) {
    int *pos = xmalloc(B * (size_t)T * sizeof(int));
    for (size_t b = 0; b < B; b++) {
        int e = (int)b % n_lens, k = 0;
        for (int t = 0; t < T; t++) {
            if (k == lens[e]) k = 0, e = (e + 1) % n_lens;
            pos[b * T + t] = k++;
        }
    }
    return pos;
}

// Packed rows: block-diagonal causal attention, checked against the reference and finite
// differences; examples that straddle a 32-row block let a block skip the keys before it.
static void test_attention_packed(void **state) {
    (void)state;
    const int lens[] = {3, 1, 5, 2};
    int *pos = packed_positions(2, 7, lens, 4);
    check_attention_pos(2, 7, 12, 3, pos, 1, 31);
    free(pos);
    const int lens2[] = {11, 9, 17, 10, 1, 30};
    pos = packed_positions(2, 70, lens2, 6);
    check_attention_pos(2, 70, 8, 2, pos, 5, 32);
    free(pos);
    const int whole[] = {70}; // one example per row: the same as no positions
    pos = packed_positions(1, 70, whole, 1);
    check_attention_pos(1, 70, 8, 2, pos, 9, 33);
    free(pos);
}

// A packed example computes what it computes alone at the start of a row, and nothing another
// example holds reaches it: changing every other example leaves its outputs bit for bit.
static void test_attention_packed_isolated(void **state) {
    (void)state;
    enum { T = 40, C = 16, H = 2, S0 = 13, LEN = 9 }; // the example occupies [S0, S0 + LEN)
    Rng rng;
    rng_seed(&rng, 34);
    size_t row = 3 * C, nqkv = (size_t)T * row;
    int pos[T];
    for (int t = 0; t < T; t++) pos[t] = t < S0 ? t : t < S0 + LEN ? t - S0 : t - S0 - LEN;
    float *qkv = randn(&rng, nqkv, 1.0), *out = fvec((size_t)T * C), *att = fvec((size_t)H * T * T);
    attention_forward(out, att, NULL, qkv, pos, NULL, 1, T, C, H);
    float *alone = fvec((size_t)LEN * row), *out1 = fvec((size_t)LEN * C), *att1 = fvec((size_t)H * LEN * LEN);
    memcpy(alone, qkv + (size_t)S0 * row, (size_t)LEN * row * sizeof(float));
    attention_forward(out1, att1, NULL, alone, NULL, NULL, 1, LEN, C, H);
    double *want = widen(out1, (size_t)LEN * C);
    expect_close("packed example against itself alone", out + (size_t)S0 * C, want, (size_t)LEN * C, 1e-6, 1e-7);
    float *other = fcopy(qkv, nqkv), *out2 = fvec((size_t)T * C);
    for (size_t i = 0; i < nqkv; i++)
        if (i / row < S0 || i / row >= S0 + LEN) other[i] = (float)(5.0 * rng_normal(&rng));
    attention_forward(out2, att, NULL, other, pos, NULL, 1, T, C, H);
    assert_memory_equal(out2 + (size_t)S0 * C, out + (size_t)S0 * C, (size_t)LEN * C * sizeof(float));
    free(qkv), free(out), free(att), free(alone), free(out1), free(att1), free(want), free(other), free(out2);
}

static void test_attention_small(void **state) {
    (void)state;
    check_attention(2, 7, 12, 3, 1, 6); // T = 7, H = 3, hd = 4: every element
    check_attention(3, 1, 12, 3, 1, 21); // a single position attends to itself only
}

static void test_attention_long_rows(void **state) {
    (void)state;
    check_attention(1, 37, 64, 2, 7, 7); // rows longer than the 16 reduction lanes, hd = 32
    check_attention(2, 70, 8, 2, 5, 19); // three query-row blocks, the last one partial
    check_attention(1, 150, 8, 2, 13, 41); // blocks of more than 128 keys: the unfused softmax
    const int lens[] = {140, 10};          // ... and with positions
    int *pos = packed_positions(1, 150, lens, 2);
    check_attention_pos(1, 150, 8, 2, pos, 13, 42);
    free(pos);
}

// Decoding the last of P + g positions from the KV cache equals that row of the full forward.
static void check_decode(size_t S, int P, int g, int G_max, int C, int H, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    int T = P + g;
    size_t row = 3 * (size_t)C;
    float *qkv = randn(&rng, S * T * row, 1.0); // (S, T, 3C)
    for (size_t s = 1; s < S; s++) // the prompt positions are shared by all sequences
        memcpy(qkv + s * T * row, qkv, (size_t)P * row * sizeof(float));
    float *full = fvec(S * T * C), *att = fvec(S * H * T * T);
    attention_forward(full, att, NULL, qkv, NULL, NULL, S, T, C, H);

    float *q = fvec(S * C), *kp = fvec((size_t)P * C), *vp = fvec((size_t)P * C);
    float *kg = filled(S * G_max * C, NAN), *vg = filled(S * G_max * C, NAN); // unused slots NaN
    for (int t = 0; t < P; t++) {
        memcpy(kp + (size_t)t * C, qkv + t * row + C, C * sizeof(float));
        memcpy(vp + (size_t)t * C, qkv + t * row + 2 * C, C * sizeof(float));
    }
    for (size_t s = 0; s < S; s++) {
        const float *seq = qkv + s * T * row;
        memcpy(q + s * C, seq + (size_t)(T - 1) * row, C * sizeof(float));
        for (int j = 0; j < g; j++) {
            const float *pos = seq + (size_t)(P + j) * row; // (3C,)
            memcpy(kg + (s * G_max + j) * C, pos + C, C * sizeof(float));
            memcpy(vg + (s * G_max + j) * C, pos + 2 * C, C * sizeof(float));
        }
    }
    float *out = filled(S * C, NAN), *scratch = filled(S * T, NAN);
    attention_decode(out, scratch, q, kp, vp, kg, vg, S, P, g, G_max, C, H);
    double *want = dvec(S * C);
    for (size_t s = 0; s < S; s++)
        for (int c = 0; c < C; c++) want[s * C + c] = full[(s * T + T - 1) * C + c];
    char what[64];
    snprintf(what, sizeof what, "decode S=%zu P=%d g=%d", S, P, g);
    expect_close(what, out, want, S * C, 1e-5, 1e-6);
    free(qkv), free(full), free(att), free(q), free(kp), free(vp), free(kg), free(vg), free(out),
        free(scratch), free(want);
}

static void test_attention_decode(void **state) {
    (void)state;
    check_decode(1, 5, 1, 1, 12, 3, 8);   // one sequence, first generated token
    check_decode(3, 4, 3, 6, 12, 3, 9);   // several sequences, spare cache slots
    check_decode(4, 0, 2, 2, 12, 3, 10);  // no shared prompt
    check_decode(2, 1, 20, 24, 12, 2, 11); // rows longer than the reduction lanes
    check_decode(5, 18, 7, 9, 64, 2, 12);  // hd = 32
    check_decode(10, 3, 64, 66, 64, 2, 20); // 32 KB of own keys and values per sequence:
                                           // the sequences are taken in several groups
}

// ---------------------------------------------------------------------------------------------
// SwiGLU and the residual.

typedef struct {
    const double *gu, *r;
    size_t n;
    int F;
    double *h;
} GluCtx;

static void swiglu_ref(const GluCtx *c) {
    for (size_t i = 0; i < c->n; i++)
        for (int j = 0; j < c->F; j++) {
            double g = c->gu[i * 2 * c->F + j], u = c->gu[i * 2 * c->F + c->F + j];
            c->h[i * c->F + j] = g / (1.0 + exp(-g)) * u;
        }
}

static double glu_objective(const void *p) {
    const GluCtx *c = p;
    swiglu_ref(c);
    return dot_fd(c->r, c->h, c->n * c->F);
}

static void test_swiglu(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 13);
    enum { N = 3, F = 37 };
    float *gu = randn(&rng, N * 2 * F, 3.0);
    gu[0] = -100.0f; // saturated gates: exp overflows / underflows without harm
    gu[1] = 100.0f;
    gu[2] = 0.0f;
    float *h = filled(N * F, NAN);
    swiglu_forward(h, gu, N, F);
    double *dgu = widen(gu, N * 2 * F), *dh = dvec(N * F);
    float *r = randn(&rng, N * F, 1.0);
    double *dr = widen(r, N * F);
    GluCtx ctx = {dgu, dr, N, F, dh};
    swiglu_ref(&ctx);
    expect_close("swiglu out", h, dh, N * F, 1e-5, 1e-6);

    float *g = filled(N * 2 * F, NAN);
    swiglu_backward(g, r, gu, N, F);
    expect_grad("swiglu dgu", g, dgu, N * 2 * F, 1, glu_objective, &ctx);
    free(gu), free(h), free(dgu), free(dh), free(r), free(dr), free(g);
}

// ---------------------------------------------------------------------------------------------
// The float32 training products (matmul_f32.c): every operand layout the model uses, the fused
// residual add and SwiGLU, against double references; the fused SwiGLU backward against finite
// differences. Skipped on a CPU without AVX-512.

#define SKIP_WITHOUT_AVX512()                                                                                \
    do {                                                                                                     \
        if (!T2_F32_KERNELS || !cpu_info()->avx512) {                                                        \
            print_message("skipped: this CPU has no AVX-512\n");                                            \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

// x (M, K) · w (N, K)ᵀ (+ add) in double.
static double *ref_product(const float *x, const float *w, const float *add, int M, int N, int K) {
    double *y = dvec((size_t)M * N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = add ? add[(size_t)i * N + j] : 0.0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)i * K + k] * w[(size_t)j * K + k];
            y[(size_t)i * N + j] = s;
        }
    return y;
}

static float *transpose(const float *x, int rows, int cols) {
    float *t = fvec((size_t)rows * cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) t[(size_t)j * rows + i] = x[(size_t)i * cols + j];
    return t;
}

// A row hook that copies each block of finished rows of C aside, checking that blocks come in
// order and cover [0, M).
typedef struct {
    const float *C;
    float *copy;
    int N, next;
} RowCopy;

static void copy_rows(void *ctx, int m0, int rows) {
    RowCopy *r = ctx;
    assert_int_equal(m0, r->next);
    assert_true(rows > 0);
    memcpy(r->copy + (size_t)m0 * r->N, r->C + (size_t)m0 * r->N, (size_t)rows * r->N * sizeof(float));
    r->next = m0 + rows;
}

static void check_f32_gemm(Rng *rng, int M, int N, int K) {
    float *x = randn(rng, (size_t)M * K, 1.0), *w = randn(rng, (size_t)N * K, 1.0), *r = randn(rng, (size_t)M * N, 1.0);
    float *bp = fvec(f32_panels_size(N, K)), *xt = transpose(x, M, K), *wt = transpose(w, N, K);
    f32_pack_nk(bp, w, (size_t)K, N, K);
    double *want = ref_product(x, w, NULL, M, N, K), *want_add = ref_product(x, w, r, M, N, K);
    float *out = filled((size_t)M * N, NAN);
    char what[96];
    // A row-major (the forward), B packed.
    f32_gemm(out, (size_t)N, x, (size_t)K, 1, bp, 32, 32 * (size_t)K, M, N, K, NULL, 0);
    snprintf(what, sizeof what, "f32_gemm %dx%dx%d packed", M, N, K);
    expect_close(what, out, want, (size_t)M * N, 1e-5, 1e-6);
    // A transposed in memory (dW's doutᵀ), B row-major (K, N) read in place (dx's W, dW's x).
    f32_gemm(out, (size_t)N, xt, 1, (size_t)M, wt, (size_t)N, 32, M, N, K, NULL, 0);
    snprintf(what, sizeof what, "f32_gemm %dx%dx%d in place", M, N, K);
    expect_close(what, out, want, (size_t)M * N, 1e-5, 1e-6);
    // + a residual, from another array and onto itself.
    f32_gemm(out, (size_t)N, x, (size_t)K, 1, bp, 32, 32 * (size_t)K, M, N, K, r, (size_t)N);
    snprintf(what, sizeof what, "f32_gemm %dx%dx%d + add", M, N, K);
    expect_close(what, out, want_add, (size_t)M * N, 1e-5, 1e-6);
    memcpy(out, r, (size_t)M * N * sizeof(float));
    f32_gemm(out, (size_t)N, x, (size_t)K, 1, bp, 32, 32 * (size_t)K, M, N, K, out, (size_t)N);
    snprintf(what, sizeof what, "f32_gemm %dx%dx%d accumulate", M, N, K);
    expect_close(what, out, want_add, (size_t)M * N, 1e-5, 1e-6);
    // With a row hook: it sees every row final (as the product leaves it), in order.
    float *copy = filled((size_t)M * N, NAN);
    RowCopy rc = {out, copy, N, 0};
    F32RowHook hook = {copy_rows, &rc};
    f32_gemm_hook(out, (size_t)N, x, (size_t)K, 1, bp, 32, 32 * (size_t)K, M, N, K, r, (size_t)N, &hook);
    assert_int_equal(rc.next, M);
    assert_memory_equal(copy, out, (size_t)M * N * sizeof(float));
    snprintf(what, sizeof what, "f32_gemm_hook %dx%dx%d + add", M, N, K);
    expect_close(what, out, want_add, (size_t)M * N, 1e-5, 1e-6);
    free(x), free(w), free(r), free(bp), free(xt), free(wt), free(want), free(want_add), free(out), free(copy);
}

static void test_f32_gemm(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    Rng rng;
    rng_seed(&rng, 21);
    int shapes[][3] = {{1, 1, 1},   {5, 7, 6},    {12, 32, 16},  {13, 33, 17}, {30, 16, 48},
                       {25, 48, 48}, {200, 40, 9}, {7, 70, 900}, {390, 65, 64}};
    for (size_t i = 0; i < ARRAY_LEN(shapes); i++) check_f32_gemm(&rng, shapes[i][0], shapes[i][1], shapes[i][2]);
}

// SwiGLU fused into its products: forward gu = x·Wguᵀ, h = silu(gate)·up; backward dgu from
// dh = dout·Wdown (never stored), checked against finite differences of the double objective
// J = Σ (dout·Wdown) ⊙ swiglu(gu).
static void check_f32_swiglu(Rng *rng, int M, int F, int K) {
    float *x = randn(rng, (size_t)M * K, 1.0), *wgu = randn(rng, (size_t)2 * F * K, 0.5);
    float *bp = fvec(f32_panels_size(2 * F, K));
    f32_pack_nk_pairs(bp, wgu, (size_t)K, F, K, (size_t)F);
    float *gu = filled((size_t)M * 2 * F, NAN), *h = filled((size_t)M * F, NAN);
    f32_gemm_swiglu(gu, h, x, (size_t)K, 1, bp, M, F, K);
    double *want_gu = ref_product(x, wgu, NULL, M, 2 * F, K), *want_h = dvec((size_t)M * F);
    GluCtx hc = {want_gu, NULL, (size_t)M, F, want_h};
    swiglu_ref(&hc);
    // gu keeps [silu(g) | u·silu'(g)], what the backward needs.
    double *want_d = dvec((size_t)M * 2 * F);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < F; j++) {
            double g = want_gu[(size_t)i * 2 * F + j], u = want_gu[(size_t)i * 2 * F + F + j], sig = 1 / (1 + exp(-g));
            want_d[(size_t)i * 2 * F + j] = g * sig;
            want_d[(size_t)i * 2 * F + F + j] = u * sig * (1 + g * (1 - sig));
        }
    char what[96];
    snprintf(what, sizeof what, "f32_gemm_swiglu gu %dx%dx%d", M, F, K);
    expect_close(what, gu, want_d, (size_t)M * 2 * F, 1e-4, 1e-6);
    snprintf(what, sizeof what, "f32_gemm_swiglu h %dx%dx%d", M, F, K);
    expect_close(what, h, want_h, (size_t)M * F, 1e-4, 1e-6);

    // Backward: A = dout (M, C = K), B = Wdown (C, F) read in place; finite differences at the
    // forward's product.
    float *dout = randn(rng, (size_t)M * K, 1.0), *wdown = randn(rng, (size_t)K * F, 0.5);
    float *dgu = filled((size_t)M * 2 * F, NAN);
    f32_gemm_swiglu_backward(dgu, gu, dout, (size_t)K, 1, wdown, (size_t)F, 32, M, F, K);
    double *dh = dvec((size_t)M * F); // r = dout·Wdown, the weight of each h in J
    for (int i = 0; i < M; i++)
        for (int j = 0; j < F; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)dout[(size_t)i * K + k] * wdown[(size_t)k * F + j];
            dh[(size_t)i * F + j] = s;
        }
    double *gud = want_gu, *hd = dvec((size_t)M * F);
    GluCtx ctx = {gud, dh, (size_t)M, F, hd};
    snprintf(what, sizeof what, "f32_gemm_swiglu_backward dgu %dx%dx%d", M, F, K);
    expect_grad(what, dgu, gud, (size_t)M * 2 * F, 1, glu_objective, &ctx);
    free(x), free(wgu), free(bp), free(gu), free(h), free(want_gu), free(want_h), free(want_d), free(dout), free(wdown),
        free(dgu), free(dh), free(hd);
}

static void test_f32_swiglu(void **state) {
    (void)state;
    SKIP_WITHOUT_AVX512();
    Rng rng;
    rng_seed(&rng, 22);
    int shapes[][3] = {{1, 1, 1}, {5, 16, 8}, {13, 37, 12}, {25, 40, 48}, {14, 8, 500}}; // (M, F, K)
    for (size_t i = 0; i < ARRAY_LEN(shapes); i++) check_f32_swiglu(&rng, shapes[i][0], shapes[i][1], shapes[i][2]);
}

static void test_residual(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 14);
    enum { N = 45 };
    float *a = randn(&rng, N, 1.0), *b = randn(&rng, N, 1.0), *out = filled(N, NAN);
    residual_forward(out, a, b, N);
    for (int i = 0; i < N; i++) assert_true(out[i] == a[i] + b[i]);
    residual_forward(a, a, b, N); // in place
    assert_memory_equal(a, out, N * sizeof(float));
    free(a), free(b), free(out);
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy and log-softmax.

typedef struct {
    const double *logits;
    const int *targets;
    const unsigned char *mask;
    size_t n;
    int V;
    double scale;
} CeCtx;

static double ce_row_ref(const double *x, int V, int target) {
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < V; j++) mx = fmax(mx, x[j]);
    for (int j = 0; j < V; j++) s += exp(x[j] - mx);
    return mx + log(s) - x[target];
}

// scale · Σ mask_i · loss_i
static double ce_objective(const void *p) {
    const CeCtx *c = p;
    double J = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!c->mask || c->mask[i]) J += ce_row_ref(c->logits + i * c->V, c->V, c->targets[i]);
    return c->scale * J;
}

static void test_crossentropy(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 15);
    enum { N = 6, V = 37 };
    int targets[N];
    for (int i = 0; i < N; i++) targets[i] = (int)rng_below(&rng, V);
    unsigned char mask[N] = {1, 0, 1, 1, 0, 1};
    float *logits = randn(&rng, N * V, 2.0);
    for (int j = 0; j < V; j++) logits[3 * V + j] += 1000.0f; // a row of huge logits
    double *dl = widen(logits, N * V), want[N];
    for (int i = 0; i < N; i++) want[i] = mask[i] ? ce_row_ref(dl + i * V, V, targets[i]) : 0.0;

    float *losses = filled(N, NAN);
    crossentropy_forward(losses, logits, targets, mask, N, V);
    expect_close("crossentropy losses", losses, want, N, 1e-5, 1e-6);
    assert_true(losses[1] == 0.0f && losses[4] == 0.0f);

    // Targets of masked rows are not read: make them invalid (an out-of-range read is caught
    // by the sanitizers and by the losses above staying 0).
    int valid1 = targets[1], valid4 = targets[4];
    targets[1] = -1;
    targets[4] = 1 << 30;
    crossentropy_forward(losses, logits, targets, mask, N, V);
    expect_close("crossentropy losses, padded targets", losses, want, N, 1e-5, 1e-6);

    float *grad = fcopy(logits, N * V), *losses2 = filled(N, NAN);
    float scale = 1.0f / 4; // Σ mask
    crossentropy_forward_backward(losses2, grad, targets, mask, N, V, scale);
    expect_close("crossentropy fused losses", losses2, want, N, 1e-5, 1e-6);
    CeCtx ctx = {dl, targets, mask, N, V, scale};
    expect_grad("crossentropy dlogits", grad, dl, N * V, 1, ce_objective, &ctx);
    expect_all_equal("crossentropy dlogits of a masked row", grad + 1 * V, 0.0f, V);

    // No mask: every row counts.
    targets[1] = valid1;
    targets[4] = valid4;
    float *losses3 = filled(N, NAN), *grad3 = fcopy(logits, N * V);
    crossentropy_forward(losses3, logits, targets, NULL, N, V);
    for (int i = 0; i < N; i++) want[i] = ce_row_ref(dl + i * V, V, targets[i]);
    expect_close("crossentropy losses, no mask", losses3, want, N, 1e-5, 1e-6);
    crossentropy_forward_backward(losses3, grad3, targets, NULL, N, V, 1.0f / N);
    CeCtx ctx3 = {dl, targets, NULL, N, V, 1.0 / N};
    expect_grad("crossentropy dlogits, no mask", grad3, dl, N * V, 1, ce_objective, &ctx3);
    free(logits), free(dl), free(losses), free(grad), free(losses2), free(losses3), free(grad3);
}

static void test_log_softmax(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 16);
    enum { N = 3, V = 131 };
    float *x = randn(&rng, N * V, 3.0);
    for (int j = 0; j < V; j++) x[2 * V + j] -= 500.0f; // shifted rows give the same answer
    double *want = dvec(N * V);
    for (int i = 0; i < N; i++) {
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < V; j++) mx = fmax(mx, x[i * V + j]);
        for (int j = 0; j < V; j++) s += exp((double)x[i * V + j] - mx);
        for (int j = 0; j < V; j++) want[i * V + j] = x[i * V + j] - mx - log(s);
    }
    log_softmax_rows(x, N, V);
    expect_close("log_softmax_rows", x, want, N * V, 1e-5, 1e-6);
    free(x), free(want);
}

// ---------------------------------------------------------------------------------------------
// Optimiser.

static void test_sum_squares(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 17);
    size_t lens[] = {0, 1, 7, 8, 9, 1001};
    for (size_t t = 0; t < ARRAY_LEN(lens); t++) {
        float *x = randn(&rng, lens[t], 10.0);
        long double s = 0;
        for (size_t i = 0; i < lens[t]; i++) s += (long double)x[i] * x[i];
        double got = sum_squares(x, lens[t]);
        assert_true(fabs(got - (double)s) <= 1e-14 * (double)s);
        free(x);
    }
}

static void test_adamw(void **state) {
    (void)state;
    enum { N = 21 };
    const float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, gs = 0.5f;
    Rng rng;
    rng_seed(&rng, 18);
    float *p = randn(&rng, N, 1.0), *m = filled(N, 0.0f), *v = filled(N, 0.0f);
    double hp[N], hm[N] = {0}, hv[N] = {0};
    for (int i = 0; i < N; i++) hp[i] = p[i];
    for (long t = 1; t <= 4; t++) {
        float *g = randn(&rng, N, 1.0);
        g[0] = 0.0f; // decay only
        adamw_update(p, g, m, v, N, lr, b1, b2, eps, wd, gs, t);
        for (int i = 0; i < N; i++) { // by hand, in double
            double gi = (double)gs * g[i];
            hm[i] = b1 * hm[i] + (1 - (double)b1) * gi;
            hv[i] = b2 * hv[i] + (1 - (double)b2) * gi * gi;
            double mhat = hm[i] / (1 - pow(b1, (double)t)), vhat = hv[i] / (1 - pow(b2, (double)t));
            hp[i] -= lr * (mhat / (sqrt(vhat) + eps) + wd * hp[i]);
        }
        expect_close("adamw params", p, hp, N, 1e-6, 0);
        expect_close("adamw m", m, hm, N, 1e-5, 1e-6);
        expect_close("adamw v", v, hv, N, 1e-5, 1e-6);
        free(g);
    }
    // Step 1 with bias correction moves every parameter by lr·sign(g) (no decay, |g| >> eps).
    float p1[3] = {1.0f, -2.0f, 0.5f}, g1[3] = {3.0f, -0.02f, 1e-3f}, m1[3] = {0}, v1[3] = {0};
    adamw_update(p1, g1, m1, v1, 3, lr, b1, b2, eps, 0.0f, 1.0f, 1);
    assert_true(fabs(p1[0] - (1.0 - lr)) < 1e-6);
    assert_true(fabs(p1[1] - (-2.0 + lr)) < 1e-6);
    assert_true(fabs(p1[2] - (0.5 - lr)) < 1e-6);
    free(p), free(m), free(v);
}

static void test_clip_scale(void **state) {
    (void)state;
    assert_true(clip_scale(0.0, 1.0f) == 1.0f);        // zero gradient
    assert_true(clip_scale(5.0, 0.0f) == 1.0f);        // clipping off
    assert_true(clip_scale(5.0, -1.0f) == 1.0f);
    assert_true(clip_scale(0.5, 1.0f) == 1.0f);        // below the threshold
    assert_true(clip_scale(1.0, 1.0f) == 1.0f);        // at it
    assert_true(clip_scale(4.0, 1.0f) == 0.25f);       // above: max_norm / norm
    assert_true(fabsf(clip_scale(3.0, 1.0f) - 1.0f / 3) < 1e-7f);
    assert_true(clip_scale(INFINITY, 1.0f) == 0.0f);
    assert_true(isnan(clip_scale(NAN, 1.0f)));         // a NaN norm is not hidden
}

int main(void) {
    blas_set_threads(1); // as t2 runs the kernels
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_accuracy), cmocka_unit_test(test_exp16_matches),   cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_embedding),       cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_matmul), cmocka_unit_test(test_f32_gemm), cmocka_unit_test(test_f32_swiglu),          cmocka_unit_test(test_matmul_packed), cmocka_unit_test(test_rope),
        cmocka_unit_test(test_attention_small), cmocka_unit_test(test_attention_long_rows),
        cmocka_unit_test(test_attention_packed), cmocka_unit_test(test_attention_packed_isolated),
        cmocka_unit_test(test_attention_decode), cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_residual),        cmocka_unit_test(test_crossentropy),
        cmocka_unit_test(test_log_softmax),     cmocka_unit_test(test_sum_squares),
        cmocka_unit_test(test_adamw),           cmocka_unit_test(test_clip_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
