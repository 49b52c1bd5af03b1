// attention.c — causal multi-head attention on a packed qkv buffer, forward, backward and
// KV-cache decoding, with RoPE applied per head inside it. Every matrix product is one product
// per (sequence, head, row block) on the strided head columns of the qkv rows (leading dimension
// 3C), through sgemm or, given a pack buffer, t2's AVX-512 products (matmul_f32.c) with the
// softmax fused into the score tiles (attention_f32.c): at training's small shapes (T = 64,
// hd = 16) sgemm's per-call packing and setup, and separate passes over the (T, T) scores, cost
// more than the arithmetic.
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


// Row i of the masked causal softmax over the columns [lo, len) the scores were computed for:
// p_j = exp(s_j − max) / Σ for start <= j <= i, and p_j = 0 for every other column of the row.
static void causal_softmax_row(float *s, int lo, int start, int i, int T) {
    int len = causal_row_len(i, T);
    for (int j = lo; j < start; j++) s[j] = -INFINITY; // exp(−inf) = 0 exactly
    for (int j = i + 1; j < len; j++) s[j] = -INFINITY;
    float m = vmax(s + lo, len - lo);
    float inv = 1.0f / vexp_shift(s + lo, len - lo, m);
    for (int j = lo; j < len; j++) s[j] *= inv;
    memset(s, 0, (size_t)lo * sizeof(float));
    memset(s + len, 0, (size_t)(T - len) * sizeof(float));
}

// Query rows are taken in blocks of ATT_ROW_BLOCK: block [r0, r0 + rows) only sees keys
// [0, r0 + rows), so the products skip most of the zero upper triangle ((nb + 1)/(2·nb) of the
// full-square work with nb blocks) while each product stays large enough to run well. 32
// measured best against 64 at T = 64 and 128, hd = 32. With positions (packed examples) a block
// also skips the keys before the first example any of its rows belongs to. On t2's products a
// block is one panel of f32_pack_nk.
#define ATT_ROW_BLOCK 32
// A block ends on a VLANES boundary, so causal_row_len never reaches past the block's keys.
_Static_assert(ATT_ROW_BLOCK % VLANES == 0, "row blocks must be whole lane blocks");

// The keys block [r0, r0 + rows) needs: [*lo, r0 + rows), lo the earliest first key of its rows.
static int block_first_key(const int *pos, int r0, int rows) {
    int lo = r0;
    for (int i = 0; i < rows; i++) {
        int s = attention_first_key(pos, r0 + i);
        lo = s < lo ? s : lo;
    }
    return lo;
}

// Keys (or values) of a whole sequence packed by f32_pack_nk, then one block's query (or dy)
// rows, then slack the fused tiles may read past a block's last row.
static size_t packed_keys_floats(int T, int hd) { return (size_t)(T + 31) / 32 * 32 * (size_t)hd; }
size_t attention_pack_floats(int T, int hd) { return packed_keys_floats(T, hd) + 32 * (size_t)hd + 16; }

// RoPE of one head's q (T rows of hd at x, leading dimension ld) and k (C further), in place;
// sign −1 undoes it.
static void rope_head(float *x, int C, size_t ld, int T, const AttRope *rope, const int *pos, int hd, float sign,
                      int t2) {
#if T2_F32_KERNELS
    if (t2) {
        attention_f32_rope(x, (size_t)C, ld, T, rope->cos_t, rope->sin_t, pos, hd, sign);
        return;
    }
#else
    (void)t2;
#endif
    for (int part = 0; part < 2; part++) {
        float *xp = x + (part ? C : 0);
        if (sign > 0)
            rope_forward(xp, rope->cos_t, rope->sin_t, pos, (size_t)T, T, 0, 1, hd, (int)ld);
        else
            rope_backward(xp, rope->cos_t, rope->sin_t, pos, (size_t)T, T, 0, 1, hd, (int)ld);
    }
}

// ---------------------------------------------------------------------------------------------
// Through sgemm: one product per row block and step, the softmax (and its backward) on the rows
// in between.

// One (sequence, head): q, k, v (T, hd) with leading dimension ld; p (T, T); y (T, hd) ld C;
// pos (T,) or NULL.
static void head_forward_sgemm(float *y, float *p, const float *q, const float *k, const float *v, const int *pos,
                               int T, int hd, int ld, int C, float scale) {
    for (int r0 = 0; r0 < T; r0 += ATT_ROW_BLOCK) {
        int rows = T - r0 < ATT_ROW_BLOCK ? T - r0 : ATT_ROW_BLOCK;
        int keys = r0 + rows, lo = block_first_key(pos, r0, rows);
        float *pr = p + (size_t)r0 * T; // (rows, T)
        // scores (rows, keys − lo) = scale · q_r · k[lo:keys]ᵀ, then the softmax row by row
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys - lo, hd, scale, q + (size_t)r0 * ld, ld,
                    k + (size_t)lo * ld, ld, 0.0f, pr + lo, T);
        for (int i = 0; i < rows; i++)
            causal_softmax_row(pr + (size_t)i * T, lo, attention_first_key(pos, r0 + i), r0 + i, T);
        // y_r (rows, hd) = p_r[:, lo:keys] · v[lo:keys] (keys − lo, hd)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, keys - lo, 1.0f, pr + lo, T,
                    v + (size_t)lo * ld, ld, 0.0f, y + (size_t)r0 * C, C);
    }
}

// dS = P ⊙ (dP − rowsum(dP ⊙ P)) in place of dP, for the rows of one block, over the columns
// [lo, len) that were computed (P is zero outside them).
static void softmax_backward_rows(float *ds, const float *p, int r0, int rows, int lo, int T) {
    for (int i = 0; i < rows; i++) {
        const float *pi = p + (size_t)i * T; // (T,)
        float *di = ds + (size_t)i * T;      // (T,)
        int len = causal_row_len(r0 + i, T); // P is zero beyond the diagonal
        float r = vdot(di + lo, pi + lo, len - lo);
        for (int j = lo; j < len; j++) di[j] = pi[j] * (di[j] - r);
        memset(di + len, 0, (size_t)(T - len) * sizeof(float));
    }
}

// Zero rows [0, T) of one head's hd columns of dk and dv (leading dimension ld).
static void zero_head_rows(float *dk, float *dv, int T, int hd, int ld) {
    for (int t = 0; t < T; t++) {
        memset(dk + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
        memset(dv + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
    }
}

// One (sequence, head), row blocks from the last. Without positions the last block covers every
// key, so its products initialise dk and dv (beta 0) and the earlier blocks add into their first
// rows; with positions a block may skip the first keys, so dk and dv start from zero.
static void head_backward_sgemm(float *dq, float *dk, float *dv, float *ds, const float *dy, const float *q,
                                const float *k, const float *v, const float *p, const int *pos, int T, int hd, int ld,
                                int C, float scale) {
    int last = (T - 1) / ATT_ROW_BLOCK * ATT_ROW_BLOCK;
    if (pos) zero_head_rows(dk, dv, T, hd, ld);
    for (int r0 = last; r0 >= 0; r0 -= ATT_ROW_BLOCK) {
        int rows = T - r0 < ATT_ROW_BLOCK ? T - r0 : ATT_ROW_BLOCK;
        int keys = r0 + rows, lo = block_first_key(pos, r0, rows), nk = keys - lo;
        float beta = r0 == last && !pos ? 0.0f : 1.0f;
        const float *pr = p + (size_t)r0 * T + lo; // (rows, nk) ld T
        const float *dyr = dy + (size_t)r0 * C;    // (rows, hd) ld C
        const float *qr = q + (size_t)r0 * ld;     // (rows, hd) ld 3C
        float *dsr = ds + (size_t)r0 * T;          // (rows, T)
        // dP_r (rows, nk) = dy_r · v[lo:keys]ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, hd, 1.0f, dyr, C, v + (size_t)lo * ld, ld,
                    0.0f, dsr + lo, T);
        // dv[lo:keys] (nk, hd) += p_rᵀ · dy_r
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd, rows, 1.0f, pr, T, dyr, C, beta,
                    dv + (size_t)lo * ld, ld);
        softmax_backward_rows(dsr, p + (size_t)r0 * T, r0, rows, lo, T);
        // dq_r (rows, hd) = scale · dS_r[:, lo:keys] · k[lo:keys]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, nk, scale, dsr + lo, T, k + (size_t)lo * ld,
                    ld, 0.0f, dq + (size_t)r0 * ld, ld);
        // dk[lo:keys] (nk, hd) += scale · dS_r[:, lo:keys]ᵀ · q_r
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd, rows, scale, dsr + lo, T, qr, ld, beta,
                    dk + (size_t)lo * ld, ld);
    }
}

// ---------------------------------------------------------------------------------------------
// On t2's AVX-512 products: the keys (values) of a head packed once, each block's query (dy) rows
// packed into one panel, the scores and softmax (dP and the softmax's backward) fused in
// registers (attention_f32.c) for blocks of at most 128 keys. A block's keys start at a multiple
// of 32 (a panel of the packed keys); the keys it skips in front of its examples are masked.
#if T2_F32_KERNELS
// Query (dy) rows [r0, r0 + rows) of x (ld) into the block panel rp, zero past them.
static void pack_block_rows(float *rp, const float *x, size_t ld, int rows, int hd) {
    f32_pack_nk(rp, x, ld, rows, hd);
    memset(rp + 32 * (size_t)hd, 0, 16 * sizeof(float));
}

static void head_forward_t2(float *y, float *p, float *pack, const float *q, const float *k, const float *v,
                            const int *pos, int T, int hd, int ld, int C, float scale) {
    float *kp = pack, *rp = pack + packed_keys_floats(T, hd);
    f32_pack_nk(kp, k, (size_t)ld, T, hd);
    for (int r0 = 0; r0 < T; r0 += ATT_ROW_BLOCK) {
        int rows = T - r0 < ATT_ROW_BLOCK ? T - r0 : ATT_ROW_BLOCK;
        int end = r0 + rows, lo = block_first_key(pos, r0, rows) / 32 * 32, nk = end - lo;
        const float *kb = kp + (size_t)lo * hd; // panels from key lo
        if (attention_f32_fits(lo, end)) {
            pack_block_rows(rp, q + (size_t)r0 * ld, (size_t)ld, rows, hd);
            attention_f32_probs(p, T, rp, kp, hd, r0, end, lo, pos, scale);
        } else {
            float *pr = p + (size_t)r0 * T;
            f32_gemm_scaled(pr + lo, (size_t)T, scale, q + (size_t)r0 * ld, (size_t)ld, 1, kb, 32, 32 * (size_t)hd,
                            rows, nk, hd, NULL, 0);
            for (int i = 0; i < rows; i++)
                causal_softmax_row(pr + (size_t)i * T, lo, attention_first_key(pos, r0 + i), r0 + i, T);
        }
        // y_r (rows, hd) = p_r[:, lo:end] · v[lo:end]
        f32_gemm(y + (size_t)r0 * C, (size_t)C, p + (size_t)r0 * T + lo, (size_t)T, 1, v + (size_t)lo * ld,
                 (size_t)ld, 32, rows, hd, nk, NULL, 0);
    }
}

static void head_backward_t2(float *dq, float *dk, float *dv, float *ds, float *pack, const float *dy, const float *q,
                             const float *k, const float *v, const float *p, const int *pos, int T, int hd, int ld,
                             int C, float scale) {
    float *vp = pack, *rp = pack + packed_keys_floats(T, hd);
    size_t lda = (size_t)ld, ldt = (size_t)T;
    f32_pack_nk(vp, v, lda, T, hd);
    int last = (T - 1) / ATT_ROW_BLOCK * ATT_ROW_BLOCK;
    if (pos) zero_head_rows(dk, dv, T, hd, ld);
    for (int r0 = last; r0 >= 0; r0 -= ATT_ROW_BLOCK) {
        int rows = T - r0 < ATT_ROW_BLOCK ? T - r0 : ATT_ROW_BLOCK;
        int end = r0 + rows, lo = block_first_key(pos, r0, rows) / 32 * 32, nk = end - lo;
        int init = r0 == last && !pos; // the last block covers every key: it initialises dk, dv
        const float *pr = p + (size_t)r0 * T + lo; // (rows, nk) ld T
        const float *dyr = dy + (size_t)r0 * C;    // (rows, hd) ld C
        float *dsr = ds + (size_t)r0 * T + lo;     // (rows, nk) ld T
        float alpha = 1.0f;                        // the fused tiles fold the scale into dS
        if (attention_f32_fits(lo, end)) {
            pack_block_rows(rp, dyr, (size_t)C, rows, hd);
            attention_f32_dscores(ds, p, T, rp, vp, hd, r0, end, lo, scale);
        } else {
            f32_gemm(dsr, ldt, dyr, (size_t)C, 1, vp + (size_t)lo * hd, 32, 32 * (size_t)hd, rows, nk, hd, NULL, 0);
            softmax_backward_rows(ds + (size_t)r0 * T, p + (size_t)r0 * T, r0, rows, lo, T);
            alpha = scale;
        }
        // dv[lo:end] (nk, hd) += p_rᵀ · dy_r
        f32_gemm(dv + (size_t)lo * ld, lda, pr, 1, ldt, dyr, (size_t)C, 32, nk, hd, rows,
                 init ? NULL : dv + (size_t)lo * ld, lda);
        // dq_r (rows, hd) = dS_r · k[lo:end]
        f32_gemm_scaled(dq + (size_t)r0 * ld, lda, alpha, dsr, ldt, 1, k + (size_t)lo * ld, lda, 32, rows, hd, nk,
                        NULL, 0);
        // dk[lo:end] (nk, hd) += dS_rᵀ · q_r
        f32_gemm_scaled(dk + (size_t)lo * ld, lda, alpha, dsr, 1, ldt, q + (size_t)r0 * ld, lda, 32, nk, hd, rows,
                        init ? NULL : dk + (size_t)lo * ld, lda);
    }
}
#endif

// ---------------------------------------------------------------------------------------------
void attention_forward(float *out, float *att, float *pack, float *qkv, const int *pos, const AttRope *rope,
                       size_t B, int T, int C, int H) {
    int hd = C / H;
    int ld = 3 * C;
    float scale = 1.0f / sqrtf((float)hd);
    int t2 = T2_F32_KERNELS && pack;
    for (size_t b = 0; b < B; b++) {
        const int *pb = pos ? pos + b * (size_t)T : NULL; // (T,)
        for (int h = 0; h < H; h++) {
            float *q = qkv + b * (size_t)T * ld + (size_t)h * hd; // (T, hd) ld 3C, then k, v
            float *y = out + b * (size_t)T * C + (size_t)h * hd;  // (T, hd) ld C
            float *p = att + (b * H + h) * (size_t)T * T;         // (T, T)
            if (rope) rope_head(q, C, (size_t)ld, T, rope, pb, hd, 1.0f, t2);
#if T2_F32_KERNELS
            if (t2) {
                head_forward_t2(y, p, pack, q, q + C, q + 2 * C, pb, T, hd, ld, C, scale);
                continue;
            }
#endif
            head_forward_sgemm(y, p, q, q + C, q + 2 * C, pb, T, hd, ld, C, scale);
        }
    }
}

// Per (b, h), with P = softmax(scale · q·kᵀ) and y = P·v:
//   dP = dy·vᵀ, dv = Pᵀ·dy, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = scale·dS·k, dk = scale·dSᵀ·q,
// then, with RoPE, dq and dk rotated back.
void attention_backward(float *dqkv, float *scratch, float *pack, const float *dout, const float *qkv,
                        const float *att, const int *pos, const AttRope *rope, size_t B, int T, int C, int H) {
    int hd = C / H;
    int ld = 3 * C;
    float scale = 1.0f / sqrtf((float)hd);
    int t2 = T2_F32_KERNELS && pack;
    for (size_t b = 0; b < B; b++) {
        const int *pb = pos ? pos + b * (size_t)T : NULL; // (T,)
        for (int h = 0; h < H; h++) {
            size_t head = b * (size_t)T * ld + (size_t)h * hd;
            const float *q = qkv + head;                        // (T, hd) ld 3C, then k, v
            float *dq = dqkv + head;                            // (T, hd) ld 3C, then dk, dv
            const float *dy = dout + b * (size_t)T * C + (size_t)h * hd; // (T, hd) ld C
            const float *p = att + (b * H + h) * (size_t)T * T;          // (T, T)
#if T2_F32_KERNELS
            if (t2)
                head_backward_t2(dq, dq + C, dq + 2 * C, scratch, pack, dy, q, q + C, q + 2 * C, p, pb, T, hd, ld, C,
                                 scale);
            else
#endif
                head_backward_sgemm(dq, dq + C, dq + 2 * C, scratch, dy, q, q + C, q + 2 * C, p, pb, T, hd, ld, C,
                                    scale);
            if (rope) rope_head(dq, C, (size_t)ld, T, rope, pb, hd, -1.0f, t2);
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
