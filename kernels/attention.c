// attention.c — causal multi-head attention on a packed qkv buffer, forward, backward and
// KV-cache decoding. Every matrix product is one sgemm per (sequence, head) on the strided head
// columns of the qkv rows (leading dimension 3C), so nothing is copied or transposed; the
// softmax rows in between are vectorised loops.
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "vecmath.h"

// Row i of the causal softmax: p_j = exp(s_j − max) / Σ for j <= i, p_j = 0 for j > i.
static void causal_softmax_row(float *s, int i, int T) {
    int len = i + 1;
    float m = vmax(s, len);
    float inv = 1.0f / vexp_shift(s, len, m);
    for (int j = 0; j < len; j++) s[j] *= inv;
    memset(s + len, 0, (size_t)(T - len) * sizeof(float));
}

void attention_forward(float *out, float *att, const float *qkv, size_t B, int T, int C, int H) {
    int hd = C / H;
    int ld = 3 * C;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const float *q = qkv + b * (size_t)T * ld + (size_t)h * hd; // (T, hd) ld 3C
            const float *k = q + C;                                      // (T, hd) ld 3C
            const float *v = q + 2 * C;                                  // (T, hd) ld 3C
            float *p = att + (b * H + h) * (size_t)T * T;                // (T, T)
            float *y = out + b * (size_t)T * C + (size_t)h * hd;         // (T, hd) ld C
            // scores (T, T) = scale · q · kᵀ, then the causal softmax row by row
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, ld, k, ld,
                        0.0f, p, T);
            for (int i = 0; i < T; i++) causal_softmax_row(p + (size_t)i * T, i, T);
            // y (T, hd) = p · v; the zeros above the diagonal keep it causal
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, v, ld,
                        0.0f, y, C);
        }
    }
}

// Per (b, h), with P = softmax(scale · q·kᵀ) and y = P·v:
//   dP = dy·vᵀ, dv = Pᵀ·dy, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = scale·dS·k, dk = scale·dSᵀ·q.
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, size_t B, int T, int C, int H) {
    int hd = C / H;
    int ld = 3 * C;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            size_t head = b * (size_t)T * ld + (size_t)h * hd;
            const float *q = qkv + head, *k = q + C, *v = q + 2 * C; // (T, hd) ld 3C each
            float *dq = dqkv + head, *dk = dq + C, *dv = dq + 2 * C; // (T, hd) ld 3C each
            const float *p = att + (b * H + h) * (size_t)T * T;      // (T, T)
            const float *dy = dout + b * (size_t)T * C + (size_t)h * hd; // (T, hd) ld C
            float *ds = scratch;                                     // (T, T) dP, then dS
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dy, C, v, ld,
                        0.0f, ds, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, dy, C,
                        0.0f, dv, ld);
            for (int i = 0; i < T; i++) {
                const float *pi = p + (size_t)i * T; // (T,)
                float *di = ds + (size_t)i * T;      // (T,)
                int len = i + 1;                     // P is zero beyond the diagonal
                float r = vdot(di, pi, len);
                for (int j = 0; j < len; j++) di[j] = pi[j] * (di[j] - r);
                memset(di + len, 0, (size_t)(T - len) * sizeof(float));
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, ds, T, k, ld,
                        0.0f, dq, ld);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, ds, T, q, ld,
                        0.0f, dk, ld);
        }
    }
}

// One head of decoding: scores against the shared prompt keys for all S queries in one sgemm,
// against each sequence's own keys by dot products; softmax; then the same split for the values.
static void decode_head(float *out, float *scratch, const float *q, const float *kp,
                        const float *vp, const float *kg, const float *vg, size_t S, int P, int g,
                        int G_max, int C, int hd, float scale) {
    int len = P + g;
    if (P > 0) // scratch[:, :P] (S, P) = scale · q (S, hd) · kpᵀ (hd, P)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)S, P, hd, scale, q, C, kp, C,
                    0.0f, scratch, len);
    for (size_t s = 0; s < S; s++) {
        float *row = scratch + s * len;                    // (P + g,)
        const float *qs = q + s * C;                       // (hd,)
        const float *ks = kg + s * (size_t)G_max * C;      // (g, hd) ld C
        for (int j = 0; j < g; j++) row[P + j] = scale * vdot(qs, ks + (size_t)j * C, hd);
        float m = vmax(row, len);
        float inv = 1.0f / vexp_shift(row, len, m);
        for (int j = 0; j < len; j++) row[j] *= inv;
    }
    if (P > 0) // out (S, hd) = probabilities[:, :P] (S, P) · vp (P, hd)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S, hd, P, 1.0f, scratch, len,
                    vp, C, 0.0f, out, C);
    for (size_t s = 0; s < S; s++) {
        const float *row = scratch + s * len + P;          // (g,) own probabilities
        const float *vs = vg + s * (size_t)G_max * C;      // (g, hd) ld C
        float *restrict os = out + s * C;                  // (hd,)
        if (P == 0) memset(os, 0, (size_t)hd * sizeof(float));
        for (int j = 0; j < g; j++) {
            const float *restrict vj = vs + (size_t)j * C;
            for (int d = 0; d < hd; d++) os[d] += row[j] * vj[d];
        }
    }
}

void attention_decode(float *out, float *scratch, const float *q, const float *kp,
                      const float *vp, const float *kg, const float *vg, size_t S, int P, int g,
                      int G_max, int C, int H) {
    int hd = C / H;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < H; h++) {
        size_t col = (size_t)h * hd;
        decode_head(out + col, scratch, q + col, kp + col, vp + col, kg + col, vg + col, S, P, g,
                    G_max, C, hd, scale);
    }
}
