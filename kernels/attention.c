// attention.c — causal multi-head attention on a packed qkv buffer, forward, backward and
// KV-cache decoding. Every matrix product is one sgemm per (sequence, head) on the strided head
// columns of the qkv rows (leading dimension 3C), so nothing is copied or transposed; the
// softmax rows in between are vectorised loops.
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "vecmath.h"

// The causal rows work on whole VLANES-float blocks: row i covers columns [0, i] but is
// processed up to the end of the block holding the diagonal, so every vector loop runs at full
// width with no scalar tail; everything after that block is zero.
static int causal_row_len(int i, int T) {
    int len = (i + VLANES) / VLANES * VLANES;
    return len < T ? len : T;
}

// Row i of the causal softmax: p_j = exp(s_j − max) / Σ for j <= i, p_j = 0 for j > i.
static void causal_softmax_row(float *s, int i, int T) {
    int len = causal_row_len(i, T);
    for (int j = i + 1; j < len; j++) s[j] = -INFINITY; // exp(−inf) = 0 exactly
    float m = vmax(s, len);
    float inv = 1.0f / vexp_shift(s, len, m);
    for (int j = 0; j < len; j++) s[j] *= inv;
    memset(s + len, 0, (size_t)(T - len) * sizeof(float));
}

// Query rows are taken in blocks of ATT_ROW_BLOCK: block [r0, r0 + rows) only sees keys
// [0, r0 + rows), so the products skip most of the zero upper triangle ((nb + 1)/(2·nb) of the
// full-square work with nb blocks) while each sgemm stays large enough to run well. 32 measured
// best against 64 at T = 64 and 128, hd = 32.
#define ATT_ROW_BLOCK 32
// A block ends on a VLANES boundary, so causal_row_len never reaches past the block's keys.
_Static_assert(ATT_ROW_BLOCK % VLANES == 0, "row blocks must be whole lane blocks");

// One (sequence, head): q, k, v (T, hd) with leading dimension ld; p (T, T); y (T, hd) ld C.
static void attention_head_forward(float *y, float *p, const float *q, const float *k,
                                   const float *v, int T, int hd, int ld, int C, float scale) {
    for (int r0 = 0; r0 < T; r0 += ATT_ROW_BLOCK) {
        int rows = T - r0 < ATT_ROW_BLOCK ? T - r0 : ATT_ROW_BLOCK;
        int keys = r0 + rows;
        float *pr = p + (size_t)r0 * T; // (rows, T)
        // scores (rows, keys) = scale · q_r · k[:keys]ᵀ, then the causal softmax row by row
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, hd, scale,
                    q + (size_t)r0 * ld, ld, k, ld, 0.0f, pr, T);
        for (int i = 0; i < rows; i++) causal_softmax_row(pr + (size_t)i * T, r0 + i, T);
        // y_r (rows, hd) = p_r (rows, keys) · v[:keys] (keys, hd)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, keys, 1.0f, pr, T, v,
                    ld, 0.0f, y + (size_t)r0 * C, C);
    }
}

void attention_forward(float *out, float *att, const float *qkv, size_t B, int T, int C, int H) {
    int hd = C / H;
    int ld = 3 * C;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const float *q = qkv + b * (size_t)T * ld + (size_t)h * hd; // (T, hd) ld 3C
            attention_head_forward(out + b * (size_t)T * C + (size_t)h * hd,
                                   att + (b * H + h) * (size_t)T * T, q, q + C, q + 2 * C, T, hd,
                                   ld, C, scale);
        }
    }
}

// dS = P ⊙ (dP − rowsum(dP ⊙ P)) in place of dP, for the rows of one block.
static void softmax_backward_rows(float *ds, const float *p, int r0, int rows, int T) {
    for (int i = 0; i < rows; i++) {
        const float *pi = p + (size_t)i * T; // (T,)
        float *di = ds + (size_t)i * T;      // (T,)
        int len = causal_row_len(r0 + i, T); // P is zero beyond the diagonal
        float r = vdot(di, pi, len);
        for (int j = 0; j < len; j++) di[j] = pi[j] * (di[j] - r);
        memset(di + len, 0, (size_t)(T - len) * sizeof(float));
    }
}

// One (sequence, head), row blocks from the last: the last block covers every key, so its
// products initialise dk and dv (beta 0) and the earlier blocks add into their first rows.
static void attention_head_backward(float *dq, float *dk, float *dv, float *ds, const float *dy,
                                    const float *q, const float *k, const float *v,
                                    const float *p, int T, int hd, int ld, int C, float scale) {
    int last = (T - 1) / ATT_ROW_BLOCK * ATT_ROW_BLOCK;
    for (int r0 = last; r0 >= 0; r0 -= ATT_ROW_BLOCK) {
        int rows = T - r0 < ATT_ROW_BLOCK ? T - r0 : ATT_ROW_BLOCK;
        int keys = r0 + rows;
        float beta = r0 == last ? 0.0f : 1.0f;
        const float *pr = p + (size_t)r0 * T;   // (rows, T)
        const float *dyr = dy + (size_t)r0 * C; // (rows, hd) ld C
        const float *qr = q + (size_t)r0 * ld;  // (rows, hd) ld 3C
        float *dsr = ds + (size_t)r0 * T;       // (rows, T)
        // dP_r (rows, keys) = dy_r · v[:keys]ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, hd, 1.0f, dyr, C, v, ld,
                    0.0f, dsr, T);
        // dv[:keys] (keys, hd) += p_rᵀ · dy_r
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, hd, rows, 1.0f, pr, T, dyr, C,
                    beta, dv, ld);
        softmax_backward_rows(dsr, pr, r0, rows, T);
        // dq_r (rows, hd) = scale · dS_r · k[:keys]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, keys, scale, dsr, T, k,
                    ld, 0.0f, dq + (size_t)r0 * ld, ld);
        // dk[:keys] (keys, hd) += scale · dS_rᵀ · q_r
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, hd, rows, scale, dsr, T, qr, ld,
                    beta, dk, ld);
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
            const float *q = qkv + head;                             // (T, hd) ld 3C, then k, v
            float *dq = dqkv + head;                                 // (T, hd) ld 3C, then dk, dv
            attention_head_backward(dq, dq + C, dq + 2 * C, scratch,
                                    dout + b * (size_t)T * C + (size_t)h * hd, q, q + C, q + 2 * C,
                                    att + (b * H + h) * (size_t)T * T, T, hd, ld, C, scale);
        }
    }
}

// out (hd,) (+)= Σ_j p_j · v_j over g rows v_j (hd,) with leading dimension C. VLANES columns at
// a time, so the running sums stay in registers while the rows stream past.
static void add_weighted_rows(float *restrict out, const float *restrict p,
                              const float *restrict v, int g, int hd, int C, int accumulate) {
    int d0 = 0;
    for (; d0 + VLANES <= hd; d0 += VLANES) {
        float acc[VLANES];
        for (int l = 0; l < VLANES; l++) acc[l] = accumulate ? out[d0 + l] : 0.0f;
        for (int j = 0; j < g; j++)
            for (int l = 0; l < VLANES; l++) acc[l] += p[j] * v[(size_t)j * C + d0 + l];
        for (int l = 0; l < VLANES; l++) out[d0 + l] = acc[l];
    }
    for (; d0 < hd; d0++) {
        float acc = accumulate ? out[d0] : 0.0f;
        for (int j = 0; j < g; j++) acc += p[j] * v[(size_t)j * C + d0];
        out[d0] = acc;
    }
}

// One head of decoding, one query row at a time: scores against the shared prompt keys and the
// sequence's own keys by dot products, softmax, then the weighted sum of values. Rows do not
// interact, so a sequence's result does not depend on which others share the batch (an sgemm
// over all rows could round a row differently depending on its position).
static void decode_head(float *out, float *scratch, const float *q, const float *kp,
                        const float *vp, const float *kg, const float *vg, size_t S, int P, int g,
                        int G_max, int C, int hd, float scale) {
    int len = P + g;
    for (size_t s = 0; s < S; s++) {
        float *row = scratch + s * len;                    // (P + g,)
        const float *qs = q + s * C;                       // (hd,)
        const float *ks = kg + s * (size_t)G_max * C;      // (g, hd) ld C
        for (int j = 0; j < P; j++) row[j] = scale * vdot(qs, kp + (size_t)j * C, hd);
        for (int j = 0; j < g; j++) row[P + j] = scale * vdot(qs, ks + (size_t)j * C, hd);
        float m = vmax(row, len);
        float inv = 1.0f / vexp_shift(row, len, m);
        for (int j = 0; j < len; j++) row[j] *= inv;
        add_weighted_rows(out + s * C, row, vp, P, hd, C, 0);
        add_weighted_rows(out + s * C, row + P, vg + s * (size_t)G_max * C, g, hd, C, P > 0);
    }
}

// Sequences are taken in groups whose own keys and values fit in this many bytes, so that each
// cache line of kg/vg is fetched from memory once for all heads rather than once per head.
#define DECODE_GROUP_BYTES (256 * 1024)

void attention_decode(float *out, float *scratch, const float *q, const float *kp,
                      const float *vp, const float *kg, const float *vg, size_t S, int P, int g,
                      int G_max, int C, int H) {
    int hd = C / H;
    float scale = 1.0f / sqrtf((float)hd);
    size_t seq_bytes = 2 * (size_t)g * C * sizeof(float);
    size_t group = seq_bytes ? DECODE_GROUP_BYTES / seq_bytes : S;
    if (group < 1) group = 1;
    for (size_t s0 = 0; s0 < S; s0 += group) {
        size_t n = S - s0 < group ? S - s0 : group;
        size_t own = s0 * (size_t)G_max * C;
        for (int h = 0; h < H; h++) {
            size_t col = (size_t)h * hd;
            decode_head(out + s0 * C + col, scratch, q + s0 * C + col, kp + col, vp + col,
                        kg + own + col, vg + own + col, n, P, g, G_max, C, hd, scale);
        }
    }
}
