// kernels.h — pure numeric kernels of a Llama-style decoder: arrays in, arrays out.
//
// Rules: no I/O, no globals, no allocation (scratch is passed in), no threads of their own
// (t2 runs them in its own worker threads; sgemm is called with OpenBLAS at 1 thread).
// Shapes are in comments: n = number of token rows (B·T), C = d_model, H = n_head,
// hd = C/H (even), F = d_ff, V = vocab. Row-major throughout; a weight W of a linear layer is
// (out_features, in_features) as in PyTorch nn.Linear, so y = x·Wᵀ.
//
// Convention for backward passes: gradients of PARAMETERS are accumulated (+=) so that a tied
// embedding can receive two contributions; gradients of ACTIVATIONS are overwritten (=) unless a
// comment says "accumulates" (the residual stream's gradient is accumulated by rmsnorm_backward).
#ifndef T2_KERNELS_H
#define T2_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// ---------------------------------------------------------------------------------------------
// Token embedding.
void embedding_forward(float *out,          // (n, C)
                       const int *tokens,   // (n,) ids in [0, V)
                       const float *wte,    // (V, C)
                       size_t n, int C);
void embedding_backward(float *dwte,        // (V, C) accumulates
                        const float *dout,  // (n, C)
                        const int *tokens,  // (n,)
                        size_t n, int C);

// ---------------------------------------------------------------------------------------------
// RMSNorm: out = x · rstd · w, rstd = 1/sqrt(mean(x²) + eps) per row.
void rmsnorm_forward(float *out,        // (n, C)
                     float *rstd,       // (n,) saved for backward
                     const float *x,    // (n, C)
                     const float *w,    // (C,)
                     size_t n, int C, float eps);
void rmsnorm_backward(float *dx,          // (n, C) accumulates (it is the residual stream's gradient)
                      float *dw,          // (C,) accumulates
                      const float *dout,  // (n, C)
                      const float *x,     // (n, C)
                      const float *w,     // (C,)
                      const float *rstd,  // (n,)
                      size_t n, int C);

// ---------------------------------------------------------------------------------------------
// Linear layer through cblas_sgemm: out = x · Wᵀ.
void matmul_forward(float *out,        // (n, OC)
                    const float *x,    // (n, IC)
                    const float *w,    // (OC, IC)
                    size_t n, int IC, int OC);
// dx = dout · W (overwritten; skipped when dx is NULL); dw += doutᵀ · x.
void matmul_backward(float *dx,          // (n, IC) or NULL
                     float *dw,          // (OC, IC) accumulates
                     const float *dout,  // (n, OC)
                     const float *x,     // (n, IC)
                     const float *w,     // (OC, IC)
                     size_t n, int IC, int OC);

// Decoding-sized products (a few rows, the same weights every step): W packed once into panels
// of 32 output columns, (ceil(OC/32), IC, 32), zero-padded. Each output row is computed in the
// same order whatever n is, so results do not depend on how rows are batched. avx512: the CPU has
// AVX-512 (util/cpu.h); the AVX-512 blocks and the portable loop give the same numbers when the
// build has FMA.
size_t packed_weight_floats(int IC, int OC);
void pack_weight(float *wp,           // (packed_weight_floats(IC, OC),)
                 const float *w,      // (OC, IC)
                 int IC, int OC);
void matmul_packed_forward(float *out,       // (n, OC)
                           const float *x,   // (n, IC)
                           const float *wp,  // packed W
                           size_t n, int IC, int OC, int avx512);

// ---------------------------------------------------------------------------------------------
// Rotary position embedding, Hugging Face Llama "rotate_half" convention: within each head the
// pair (i, i + hd/2) is rotated by angle pos · theta^(-2i/hd).
// Tables: cos_t[p][i] = cos(p · theta^(-2i/hd)), sin_t likewise, for p < max_pos, i < hd/2.
void rope_tables(float *cos_t, float *sin_t,  // (max_pos, hd/2) each
                 int max_pos, int hd, float theta);
// In place on x: rows of `stride` floats; the first H·hd of each row are rotated (q or k).
// Row r (r < n) holds the token at position pos[r] when pos is given (packed examples: the
// position inside the token's own example), else pos0 + (r mod T) — rows are (B, T) flattened.
// Every position < max_pos of the tables. Since k follows q in a qkv row, one call with 2·H
// heads and stride 3C rotates both.
void rope_forward(float *x, const float *cos_t, const float *sin_t,
                  const int *pos,     // (n,) or NULL
                  size_t n, int T, int pos0, int H, int hd, int stride);
// Backward of the rotation is the rotation by the opposite angle, in place on dx.
void rope_backward(float *dx, const float *cos_t, const float *sin_t,
                   const int *pos,    // (n,) or NULL
                   size_t n, int T, int pos0, int H, int hd, int stride);

// ---------------------------------------------------------------------------------------------
// Causal multi-head attention over a packed qkv buffer, with RoPE applied inside it.
// qkv rows are [q (C) | k (C) | v (C)]; head h uses columns h·hd .. (h+1)·hd of each part.
// O(T²) time and memory in both directions; softmax scale 1/sqrt(hd).
// pos (B, T), or NULL for one sequence per row: the position of each token inside its example,
// for rows that hold several examples back to back. Token t then attends to keys
// [t − pos[t], t] only — its own example, never across an example boundary — and the
// probabilities outside that range are exact zeros. pos restarts at 0 where an example starts and
// counts up by one inside it (the rope positions of the same tokens).
// att keeps the probabilities for the backward pass: query t's row is written (zeros outside
// [t − pos[t], t]) over the keys its block of 32 queries sees, from the block's earliest first
// key (on t2's products rounded down to a multiple of 32) to the block's last query; the rest of
// the row may hold anything (through sgemm it is zero).
// rope: the tables of rope_tables (positions as pos, or 0.. per row without it), or NULL when q
// and k are already rotated. With tables, attention_forward rotates each head's q and k in place
// right before its products use them (so qkv leaves holding rotated q and k, what a KV cache
// keeps), and attention_backward takes that rotated qkv and returns dqkv with respect to the
// unrotated q and k (the projection's output).
// pack: NULL (products through sgemm), or attention_pack_floats(T, C/H) floats of scratch: the
// products then run on t2's AVX-512 kernels (matmul_f32.c) with the softmax fused into them
// (attention_f32.c; only on a CPU with AVX-512).
typedef struct {
    const float *cos_t, *sin_t; // (max_pos, hd/2) each, max_pos >= T
} AttRope;
size_t attention_pack_floats(int T, int hd);
void attention_forward(float *out,         // (B, T, C)
                       float *att,         // (B, H, T, T) softmax probabilities, saved for backward
                       float *pack,        // NULL or scratch, see above
                       float *qkv,         // (B, T, 3C) q, k rotated in place when rope is given
                       const int *pos,     // (B, T) or NULL
                       const AttRope *rope, // or NULL
                       size_t B, int T, int C, int H);
void attention_backward(float *dqkv,         // (B, T, 3C) overwritten
                        float *scratch,      // (T, T) scratch
                        float *pack,         // NULL or scratch, as in the forward pass
                        const float *dout,   // (B, T, C)
                        const float *qkv,    // (B, T, 3C) as the forward pass left it
                        const float *att,    // (B, H, T, T)
                        const int *pos,      // (B, T) or NULL, as in the forward pass
                        const AttRope *rope, // or NULL, as in the forward pass
                        size_t B, int T, int C, int H);

// Decoding with a KV cache, S sequences one new token each. The keys and values of a prompt
// shared by all S sequences sit in kp/vp; each sequence's own generated positions (including
// the current one, already written) sit in kg/vg. Sequence s attends to P shared positions
// then g own positions (P + g >= 1; P = 0 means no shared prompt). Slots g..G_max-1 of kg/vg
// are not read.
void attention_decode(float *out,          // (S, C)
                      float *scratch,      // (S, P + g) scratch
                      const float *q,      // (S, C) rotated queries
                      const float *kp,     // (P, C) shared prompt keys (rotated)
                      const float *vp,     // (P, C)
                      const float *kg,     // (S, G_max, C) own keys (rotated), first g valid
                      const float *vg,     // (S, G_max, C)
                      size_t S, int P, int g, int G_max, int C, int H);

// ---------------------------------------------------------------------------------------------
// SwiGLU: gu rows are [gate (F) | up (F)]; h = silu(gate) · up.
void swiglu_forward(float *h,          // (n, F)
                    const float *gu,   // (n, 2F)
                    size_t n, int F);
void swiglu_backward(float *dgu,        // (n, 2F) overwritten
                     const float *dh,   // (n, F)
                     const float *gu,   // (n, 2F)
                     size_t n, int F);

// Residual: out = a + b (out may alias a). Its backward is the identity on both inputs.
void residual_forward(float *out, const float *a, const float *b, size_t n);

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy with a per-token loss mask.
// losses[i] = -log softmax(logits[i])[targets[i]] where mask[i] != 0, else 0. Targets of masked
// rows are not read (padding may hold any value); the others must lie in [0, V).
void crossentropy_forward(float *losses,          // (n,)
                          const float *logits,    // (n, V)
                          const int *targets,     // (n,)
                          const unsigned char *mask, // (n,) or NULL for all ones
                          size_t n, int V);
// Fused forward + backward of  loss = scale · Σ_i mask_i · losses_i  (scale = 1 / Σ mask over
// the whole batch): writes losses (unscaled) and overwrites logits with dloss/dlogits.
void crossentropy_forward_backward(float *losses,            // (n,)
                                   float *logits,            // (n, V) in: logits, out: dlogits
                                   const int *targets,       // (n,)
                                   const unsigned char *mask, // (n,) or NULL
                                   size_t n, int V, float scale);
// Row-wise log-softmax in place (inference: log-probabilities of the next token).
void log_softmax_rows(float *x, size_t n, int V);

// ---------------------------------------------------------------------------------------------
// Optimiser.
// Sum of squares in double precision (for the global gradient norm).
double sum_squares(const float *x, size_t n);
// AdamW with decoupled weight decay (Loshchilov & Hutter), on one parameter range:
//   g = grad_scale · grads;  m = b1·m + (1−b1)·g;  v = b2·v + (1−b2)·g²
//   p -= lr · ( m/(1−b1^t) / (sqrt(v/(1−b2^t)) + eps) + weight_decay · p )
// t is the 1-based step count; grad_scale folds in global-norm clipping.
void adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                  float lr, float beta1, float beta2, float eps, float weight_decay,
                  float grad_scale, long t);
// Gradient clipping factor: min(1, max_norm / norm) (1 when max_norm <= 0 or norm == 0; NaN for
// a NaN norm when clipping is on, so that a broken gradient is not silently scaled).
float clip_scale(double norm, float max_norm);

// ---------------------------------------------------------------------------------------------
// float32 products of a training step on AVX-512 (matmul_f32.c), with the residual add and SwiGLU
// fused into them. Compiled for AVX-512 whatever -march says; call them only when the CPU has it
// (util/cpu.h). B operands: a packed weight (panels of 32 columns, (ceil(N/32), K, 32): b_ks = 32,
// b_ps = 32·K) or any row-major (K, N) matrix read in place (b_ks = its row stride, b_ps = 32).
// A element (i, k) is at A[i·a_rs + k·a_ks]. K ≥ 1.
#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 10))
#define T2_F32_KERNELS 1
#else
#define T2_F32_KERNELS 0
#endif
size_t f32_panels_size(int N, int K);
// Panels of the rows of an (N, K) matrix, e.g. a weight (OC, IC) for x·Wᵀ.
void f32_pack_nk(float *bp, const float *src, size_t lds, int N, int K);
// SwiGLU's gate-up weight (2N, K): panel p holds gate rows 16p..16p+15, then the up rows `second`
// further (second = N = d_ff); for f32_gemm_swiglu.
void f32_pack_nk_pairs(float *bp, const float *src, size_t lds, int N, int K, size_t second);
// C (M, N) = A·B, + add (M, N) when add is not NULL (add may be C: accumulate).
void f32_gemm(float *C, size_t ldc, const float *A, size_t a_rs, size_t a_ks, const float *B, size_t b_ks,
              size_t b_ps, int M, int N, int K, const float *add, size_t ld_add);
// What follows a product on its rows while they are still in cache (an RMSNorm of the new residual
// stream, the loss on the logits): fn(ctx, m0, rows) once the rows [m0, m0 + rows) of C are final,
// for consecutive blocks of rows in order, which together cover [0, M).
typedef struct {
    void (*fn)(void *ctx, int m0, int rows);
    void *ctx;
} F32RowHook;
// f32_gemm, then hook (NULL: none) on each block of finished rows.
void f32_gemm_hook(float *C, size_t ldc, const float *A, size_t a_rs, size_t a_ks, const float *B, size_t b_ks,
                   size_t b_ps, int M, int N, int K, const float *add, size_t ld_add, const F32RowHook *hook);
// C = alpha·A·B (+ add); alpha scales each K block's sums (alpha = 1 is exactly f32_gemm).
void f32_gemm_scaled(float *C, size_t ldc, float alpha, const float *A, size_t a_rs, size_t a_ks, const float *B,
                     size_t b_ks, size_t b_ps, int M, int N, int K, const float *add, size_t ld_add);
// The gate-up product [g | u] = A·Wguᵀ with Wgu packed by f32_pack_nk_pairs, and h (M, F) =
// silu(g)·u. g and u are not kept: gu (M, 2F) gets what the backward needs, [silu(g) | u·silu'(g)].
void f32_gemm_swiglu(float *gu, float *h, const float *A, size_t a_rs, size_t a_ks, const float *bp, int M, int F,
                     int K);
// dh = A·B (M, F), never stored: dgu (M, 2F) = SwiGLU's backward of dh, [dh·u·silu'(g) | dh·silu(g)],
// from the gu f32_gemm_swiglu left.
void f32_gemm_swiglu_backward(float *dgu, const float *gu, const float *A, size_t a_rs, size_t a_ks,
                              const float *B, size_t b_ks, size_t b_ps, int M, int F, int K);
// First key query t may see: the start of its example, t − pos[t], or 0 without positions.
// Clamped to [0, t], so malformed positions can narrow the mask but never read outside the row.
// (attention.c and attention_f32.c must agree on it.)
static inline int attention_first_key(const int *pos, int t) {
    if (!pos) return 0;
    int s = t - pos[t];
    return s < 0 ? 0 : s > t ? t : s;
}
// Attention's fused pieces (attention_f32.c), for one (sequence, head) and one block of query
// rows [r0, end) (at most 32, r0 a multiple of 32) over keys [lo, end) (lo a multiple of 32):
// rpack holds the block's rows (q, or dy) packed by f32_pack_nk, with 16 floats of slack after
// the panel; kpack (vpack) the whole sequence's keys (values) packed by f32_pack_nk. Only when
// attention_f32_fits(lo, end) (at most 128 keys).
int attention_f32_fits(int lo, int end);
// P rows r0..end−1 (ld T, columns [lo, end) written) = softmax over keys [t − pos[t], t] (pos
// NULL: [0, t]) of scale · q_t·k_j, zero elsewhere.
void attention_f32_probs(float *p, int T, const float *rpack, const float *kpack, int hd, int r0, int end, int lo,
                         const int *pos, float scale);
// dS rows (ld T, columns [lo, end)) = scale · P ⊙ (dP − Σ_j dP_j·P_j), dP = dy·vᵀ.
void attention_f32_dscores(float *ds, const float *p, int T, const float *rpack, const float *vpack, int hd, int r0,
                           int end, int lo, float scale);
// RoPE on T rows of one head's q (at x, leading dimension ld) and k (at x + koff): sign +1
// rotates, −1 undoes (rope.c's convention and tables; pos (T,) or NULL for positions 0..T−1).
void attention_f32_rope(float *x, size_t koff, size_t ld, int T, const float *cos_t, const float *sin_t,
                        const int *pos, int hd, float sign);

// ---------------------------------------------------------------------------------------------
// bf16 products for mixed-precision training (matmul_bf16.c): bf16 operands, float32 sums.
// Compiled for AVX512-BF16 whatever -march says; call them only when the CPU has it
// (util/cpu.h). bf16 values are raw bits; a K-pair is two consecutive bf16 of one row of A or of
// one column of B, read as one 32-bit word.
#if defined(__x86_64__) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 10))
#define T2_BF16_KERNELS 1
#else
#define T2_BF16_KERNELS 0
#endif
typedef uint16_t bf16;

// bf16 elements of B packed in panels: (ceil(N/32), ceil(K/2), 32, 2).
size_t bf16_panels_size(int N, int K);
// A operand, row-major: dst (rows, ldd), ldd even and ≥ cols; columns cols..ldd−1 are zero.
void bf16_from_rows(bf16 *dst, size_t ldd, const float *src, size_t lds, size_t rows, int cols);
// A operand, pair-major, from a (K, N) matrix: dst (ceil(K/2), ldd, 2) with pair (kp, j) =
// (src[2kp][j], src[2kp+1][j]); a missing row 2kp+1 (odd K) and columns j ≥ N are zero.
void bf16_pairs_from_rows(bf16 *dst, size_t ldd, const float *src, size_t lds, int K, int N);
// Both of the above from one read of src (n, cols): rows (n, ldr) as bf16_from_rows, and pairs as
// bf16_pairs_from_rows(pairs, ldp, src, lds, n, cols) — the output gradient of a linear layer as
// the A operands of its dx and of its dW.
void bf16_rows_and_pairs(bf16 *rows, size_t ldr, bf16 *pairs, size_t ldp, const float *src, size_t lds, int n,
                         int cols);
// B operand in panels, from a (K, N) matrix (pairs from consecutive rows) ...
void bf16_pack_kn(bf16 *bp, const float *src, size_t lds, int K, int N);
// ... or from an (N, K) matrix (pairs within a row), e.g. a weight (OC, IC) for x·Wᵀ.
void bf16_pack_nk(bf16 *bp, const float *src, size_t lds, int N, int K);
// SwiGLU's gate-up weight (2N, K): panel p holds gate rows 16p..16p+15 in its first 16 columns and
// the up rows `second` further in its last 16 (second = N = d_ff); for bf16_gemm_swiglu.
void bf16_pack_nk_pairs(bf16 *bp, const float *src, size_t lds, int N, int K, size_t second);
// C (M, N) = A·B, or += with accumulate. A holds M rows of ceil(K/2) pairs; a_rs and a_ks are the
// distances, in pairs, between rows and between pairs (row-major A from bf16_from_rows: a_rs =
// ldd/2, a_ks = 1; pair-major from bf16_pairs_from_rows: a_rs = 1, a_ks = ldd). B is packed.
void bf16_gemm(float *C, size_t ldc, const bf16 *A, size_t a_rs, size_t a_ks, const bf16 *bp, int M, int N,
               int K, int accumulate);
// C = A·B, + add (M, N) when add is not NULL (added to the whole sums: bf16_gemm, then the add; add
// may be C: accumulate), then hook (NULL: none; kernels.h's
// F32RowHook) on each block of finished rows while they are in cache.
void bf16_gemm_hook(float *C, size_t ldc, const bf16 *A, size_t a_rs, size_t a_ks, const bf16 *bp, int M, int N, int K,
                    const float *add, size_t ld_add, const F32RowHook *hook);
// The gate-up product [g | u] = A·Wguᵀ with Wgu packed by bf16_pack_nk_pairs, SwiGLU on its tiles
// (as f32_gemm_swiglu): gu (M, 2F) = [silu(g) | u·silu'(g)], h (M, F) = silu(g)·u, and h again as
// bf16 rows in hb (ld ldhb; columns F.. are not written) — the down product's A operand.
void bf16_gemm_swiglu(float *gu, float *h, bf16 *hb, size_t ldhb, const bf16 *A, size_t a_rs, size_t a_ks,
                      const bf16 *bp, int M, int F, int K);
// dh = A·B (M, F), never stored: dgu = SwiGLU's backward of dh, [dh·u·silu'(g) | dh·silu(g)], from
// the gu bf16_gemm_swiglu left, written in bf16 twice — as rows (M, ldr ≥ 2F), the A operand of
// the gate-up product's dx, and pair-major (ceil(M/2), ldp ≥ 2F, 2) as bf16_pairs_from_rows writes
// dguᵀ (a missing row of an odd M is zero), the A operand of its dW.
void bf16_gemm_swiglu_backward(bf16 *rows, size_t ldr, bf16 *pairs, size_t ldp, const float *gu, const bf16 *A,
                               size_t a_rs, size_t a_ks, const bf16 *bp, int M, int F, int K);

#endif
