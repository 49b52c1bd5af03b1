// simd512.h — AVX-512 pieces the fused kernels share (matmul_f32.c, attention_f32.c). Include it
// after the file's `#pragma GCC target("avx512f,...")`, inside its T2_F32_KERNELS section.
#ifndef T2_SIMD512_H
#define T2_SIMD512_H

#include <immintrin.h>
#include <math.h>

static inline __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// t2_expf (vecmath.h) on 16 lanes, the same operations in the same order: within 1 ulp, 0 below
// −104 (and for −inf), +inf above 89, NaN stays NaN.
static inline __m512 exp16(__m512 x) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 k = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
    __m512 n = _mm512_sub_ps(k, magic);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(k), _mm512_castps_si512(magic));
    __m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
    __m512i bias = _mm512_set1_epi32(127);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-104.0f), _CMP_LT_OQ), y, _mm512_setzero_ps());
    y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(89.0f), _CMP_GT_OQ), y,
                             _mm512_set1_ps(INFINITY));
    return y;
}

// σ(g) = 1/(1 + e^−g), as swiglu_row and swiglu_grad_row (vecmath.h) compute it.
static inline __m512 sigmoid16(__m512 g) {
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), g))));
}

// CALL(R) with R = mr as a constant, for a tile of 1..12 rows (more: 12): each row count gets its
// own fully unrolled tile, its accumulators in registers.
#define SWITCH_ROWS(mr, CALL)                                                                                  \
    switch (mr) {                                                                                              \
    case 1: CALL(1); break;                                                                                    \
    case 2: CALL(2); break;                                                                                    \
    case 3: CALL(3); break;                                                                                    \
    case 4: CALL(4); break;                                                                                    \
    case 5: CALL(5); break;                                                                                    \
    case 6: CALL(6); break;                                                                                    \
    case 7: CALL(7); break;                                                                                    \
    case 8: CALL(8); break;                                                                                    \
    case 9: CALL(9); break;                                                                                    \
    case 10: CALL(10); break;                                                                                  \
    case 11: CALL(11); break;                                                                                  \
    default: CALL(12); break;                                                                                  \
    }

// SwiGLU's epilogue on 16 lanes of gate g and up u: returns h = silu(g)·u with silu(g) = g·σ(g), and
// sets what the backward needs in place of g and u: *silu = silu(g), *du = u·silu'(g) = u·σ·(1 + g·(1 − σ)).
static inline __m512 swiglu16(__m512 g, __m512 u, __m512 *silu, __m512 *du) {
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 sig = sigmoid16(g);
    *silu = _mm512_mul_ps(g, sig);
    *du = _mm512_mul_ps(_mm512_mul_ps(u, sig), _mm512_fmadd_ps(g, _mm512_sub_ps(one, sig), one));
    return _mm512_mul_ps(*silu, u);
}

// Lane i of the result = v[i]'s 16 lanes combined by op (add or max), for 16 vectors at once: 45
// shuffles and ops where 16 separate reductions take 128, and no long chain per vector.
#define HREDUCE16(NAME, OP)                                                                                    \
    static inline __m512 NAME(const __m512 v[16]) {                                                            \
        __m512 a[8], b[4], c[2];                                                                               \
        for (int k = 0; k < 8; k++)                                                                            \
            a[k] = OP(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));   \
        for (int k = 0; k < 4; k++) {                                                                          \
            __m512d x = _mm512_castps_pd(a[2 * k]), y = _mm512_castps_pd(a[2 * k + 1]);                        \
            b[k] = OP(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));    \
        }                                                                                                      \
        for (int k = 0; k < 2; k++)                                                                            \
            c[k] = OP(_mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0x88),                                      \
                      _mm512_shuffle_f32x4(b[2 * k], b[2 * k + 1], 0xdd));                                     \
        return OP(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xdd));            \
    }
HREDUCE16(hsum16, _mm512_add_ps)
HREDUCE16(hmax16, _mm512_max_ps)
#undef HREDUCE16

#endif
