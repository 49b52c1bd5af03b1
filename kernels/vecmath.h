// vecmath.h — small inline pieces the kernels share: an exp that vectorises, and row reductions
// that vectorise without -ffast-math.
//
// Why: under strict IEEE rules the compiler may neither call a vector expf nor reorder a float
// sum, so a plain `s += x[i]` loop or an `expf` loop stays scalar. The reductions below keep
// VLANES independent partial sums (a fixed, documented order, so results are deterministic) that
// the compiler maps onto SIMD registers; t2_expf is branch-free straight-line code that the loop
// vectoriser turns into SIMD.
#ifndef T2_VECMATH_H
#define T2_VECMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

// Partial sums per reduction: 16 floats = one AVX-512 register or two AVX ones.
#define VLANES 16

static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

// a·b + c, fused where the CPU has FMA: explicit, so the rounding does not depend on whether the
// optimiser contracts (it does at -O3, not at the sanitizer build's -O1), and matches exp16's.
#ifdef __FMA__
#define T2_FMA(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define T2_FMA(a, b, c) ((a) * (b) + (c))
#endif

// exp(x) in float, within 1 ulp of the correctly rounded result for every float (checked
// exhaustively over [-104, 89]; 99.2% are correctly rounded). Cephes' expf: x = n·ln2 + r with
// |r| <= ln2/2, exp(r) by a degree-7 polynomial, then scaled by 2^n in two halves so that results
// in the subnormal range come out right too. Results are 0 below -104 (exp(-103.98) already
// rounds to 0) and +inf above 89 (exp(88.73) already overflows); NaN stays NaN.
// The range is handled by selecting the result afterwards rather than clamping x first: a
// clamp lets the compiler split the loop body into masked paths that run three times slower.
static inline float t2_expf(float x) {
    const float round_magic = 12582912.0f; // 1.5·2^23: adding it rounds to an integer
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;     // 9 significant bits: n·ln2_hi is exact
    const float ln2_lo = -2.12194440e-4f;
    float k = T2_FMA(x, log2e, round_magic);
    float n = k - round_magic;
    float r = T2_FMA(-n, ln2_hi, x);
    r = T2_FMA(-n, ln2_lo, r);
    float p = 1.9875691500e-4f;
    p = T2_FMA(p, r, 1.3981999507e-3f);
    p = T2_FMA(p, r, 8.3334519073e-3f);
    p = T2_FMA(p, r, 4.1665795894e-2f);
    p = T2_FMA(p, r, 1.6666665459e-1f);
    p = T2_FMA(p, r, 5.0000001201e-1f);
    p = T2_FMA(p, r * r, r) + 1.0f;
    // n sits in the low mantissa bits of k; within the range n ∈ [-150, 128], so each half lies
    // in [-75, 64] and is a normal power of two. (>> of a negative int is arithmetic in GCC.)
    int32_t ni = (int32_t)(f32_bits(k) - f32_bits(round_magic));
    int32_t n1 = ni >> 1;
    int32_t n2 = ni - n1;
    float scale1 = f32_from_bits((uint32_t)(n1 + 127) << 23); // 2^n1
    float scale2 = f32_from_bits((uint32_t)(n2 + 127) << 23); // 2^n2
    float y = p * scale1 * scale2;
    y = x < -104.0f ? 0.0f : y; // also -inf
    y = x > 89.0f ? INFINITY : y; // also +inf; NaN fails both tests and stays NaN
    return y;
}

// Sum of the partial sums as a tree: s_l = (acc_l + acc_{l+8}) + (acc_{l+4} + acc_{l+12}) for
// l < 4, then (s_0 + s_2) + (s_1 + s_3), then the scalar tail. Where the compiler has
// __builtin_shufflevector the halves are taken as vectors (left alone, GCC extracts all 16
// lanes one by one, which made short dot products twice as slow); the plain loops give the
// same sums in the same order.
_Static_assert(VLANES == 16, "lanes_total is written for 16 lanes");
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
typedef float f32x16 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x4 __attribute__((vector_size(16)));
static inline float lanes_total(const float acc[VLANES], float tail) {
    f32x16 a;
    memcpy(&a, acc, sizeof a);
    f32x8 s8 = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
               __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
    f32x4 s4 = __builtin_shufflevector(s8, s8, 0, 1, 2, 3) +
               __builtin_shufflevector(s8, s8, 4, 5, 6, 7);
    return ((s4[0] + s4[2]) + (s4[1] + s4[3])) + tail;
}
#else
static inline float lanes_total(const float acc[VLANES], float tail) {
    float s8[8], s4[4];
    for (int l = 0; l < 8; l++) s8[l] = acc[l] + acc[l + 8];
    for (int l = 0; l < 4; l++) s4[l] = s8[l] + s8[l + 4];
    return ((s4[0] + s4[2]) + (s4[1] + s4[3])) + tail;
}
#endif

// Σ a[i]·b[i]
static inline float vdot(const float *a, const float *b, int n) {
    float acc[VLANES] = {0};
    int i = 0;
    for (; i + VLANES <= n; i += VLANES)
        for (int l = 0; l < VLANES; l++) acc[l] += a[i + l] * b[i + l];
    float tail = 0.0f;
    for (; i < n; i++) tail += a[i] * b[i];
    return lanes_total(acc, tail);
}

// Floats mapped onto int32 so that integer order is float order (negative floats have their
// magnitude bits flipped); the map is its own inverse. An integer max reduction vectorises,
// a float one does not (the compiler may not assume there are no NaNs or signed zeros).
static inline int32_t f32_ordered(float f) {
    int32_t b = (int32_t)f32_bits(f);
    return b ^ ((b >> 31) & 0x7fffffff);
}

// max x[i]; n >= 1. (A NaN with the sign bit clear wins; with it set, it loses — either way a
// NaN row still turns into NaN through exp(x − max).)
static inline float vmax(const float *x, int n) {
    int32_t m = f32_ordered(x[0]);
    for (int i = 1; i < n; i++) {
        int32_t o = f32_ordered(x[i]);
        m = o > m ? o : m;
    }
    return f32_from_bits((uint32_t)f32_ordered(f32_from_bits((uint32_t)m)));
}

// Σ exp(x[i] − shift)
static inline float vsum_exp(const float *x, int n, float shift) {
    float acc[VLANES] = {0};
    int i = 0;
    for (; i + VLANES <= n; i += VLANES)
        for (int l = 0; l < VLANES; l++) acc[l] += t2_expf(x[i + l] - shift);
    float tail = 0.0f;
    for (; i < n; i++) tail += t2_expf(x[i] - shift);
    return lanes_total(acc, tail);
}

// In place: x[i] = exp(x[i] − shift); returns their sum.
static inline float vexp_shift(float *x, int n, float shift) {
    float acc[VLANES] = {0};
    int i = 0;
    for (; i + VLANES <= n; i += VLANES)
        for (int l = 0; l < VLANES; l++) {
            float e = t2_expf(x[i + l] - shift);
            x[i + l] = e;
            acc[l] += e;
        }
    float tail = 0.0f;
    for (; i < n; i++) {
        x[i] = t2_expf(x[i] - shift);
        tail += x[i];
    }
    return lanes_total(acc, tail);
}

// SwiGLU on a row piece: h = silu(g)·u, silu(g) = g·σ(g) (swiglu.c, and fused after products).
static inline void swiglu_row(float *restrict h, const float *restrict g, const float *restrict u, int n) {
    for (int j = 0; j < n; j++) h[j] = g[j] / (1.0f + t2_expf(-g[j])) * u[j];
}

// Its backward from dh: du = dh·silu(g), dg = dh·u·σ(g)·(1 + g·(1 − σ(g))).
static inline void swiglu_grad_row(float *restrict dg, float *restrict du, const float *restrict dh,
                                   const float *restrict g, const float *restrict u, int n) {
    for (int j = 0; j < n; j++) {
        float sig = 1.0f / (1.0f + t2_expf(-g[j]));
        du[j] = dh[j] * g[j] * sig;
        dg[j] = dh[j] * u[j] * sig * (1.0f + g[j] * (1.0f - sig));
    }
}

#endif
