// linear.h — the linear layers of a training step, and what is fused into them, in the run's
// precision on the kernels this CPU has (docs/SPEC.md §6, "Mixed precision").
//
// Kernel paths (GemmPath), picked at run time from CPUID:
//   float32: "t2-avx512"      t2's own AVX-512 products (kernels/matmul_f32.c), with the residual
//                             add and SwiGLU fused in; the weight packed once per step;
//            "openblas-sgemm" on a CPU without AVX-512 (model.c calls sgemm directly; no engine).
//   bf16:    "t2-avx512bf16"  t2's vdpbf16ps kernels (kernels/matmul_bf16.c), any CPU with
//                             AVX512-BF16 (Intel Cooper Lake and later, AMD Zen 4 and later);
//            "onednn-..."     Debian's oneDNN (libdnnl.so.2, opened on first use): AMX tiles on
//                             Xeons that have them (Sapphire Rapids and later), the path there.
// T2_F32_GEMM=t2|openblas and T2_BF16_GEMM=t2|onednn force a path (for measurements); the path in
// use is recorded with every run. bf16 on a CPU without AVX512-BF16 is a clear error, never an
// illegal instruction.
//
// The weights are converted or packed once per step (linear_refresh, split across the pool's
// threads, before the step reads them); each worker thread owns a LinearWorker with its scratch
// and, for oneDNN, its primitives. Nothing is allocated inside a step.
#ifndef T2_LINEAR_H
#define T2_LINEAR_H

#include <stddef.h>

#include "kernels.h"
#include "nn/model.h"

typedef enum { PRECISION_FLOAT32 = 0, PRECISION_BF16 = 1 } Precision;
typedef enum { GEMM_SGEMM = 0, GEMM_T2_F32 = 1, GEMM_T2_BF16 = 2, GEMM_ONEDNN = 3 } GemmPath;

const char *precision_name(Precision p); // "float32", "bf16"
int precision_parse(const char *s, Precision *out); // 0, or -1 for an unknown name

// The path a run in this precision takes on this machine: 0, or -1 + err_set naming the CPU
// feature that is missing (or the bad T2_*_GEMM value, or oneDNN that cannot be loaded).
int gemm_path_for(Precision p, GemmPath *out);
// Human- and machine-readable name of the path, with the library's own ISA for oneDNN:
// "openblas-sgemm", "t2-avx512", "t2-avx512bf16", "onednn-2.6.3-avx512_core_amx-omp1".
const char *gemm_path_name(GemmPath g);

// The weights as the products read them (shared by the workers; read-only during a step).
typedef struct LinearWeights LinearWeights;
// The linear weights of a model, in the order the kernels address them: layer l's qkv, o, gate-up
// and down are ids 4l..4l+3; the head is id 4L.
enum { LIN_QKV, LIN_O, LIN_GU, LIN_DOWN, LIN_PER_LAYER };
static inline int lin_id(int layer, int kind) { return layer * LIN_PER_LAYER + kind; }
static inline int lin_head(const ModelConfig *c) { return c->n_layer * LIN_PER_LAYER; }

// path is not GEMM_SGEMM.
LinearWeights *linear_weights_create(const Model *m, GemmPath path);
void linear_weights_free(LinearWeights *lw);
// Convert this thread's share of every weight (thread tid of n_threads) from the model's float32
// values. Run on every thread of the pool before a step reads them.
void linear_refresh(LinearWeights *lw, int tid, int n_threads);
size_t linear_weights_bytes(const LinearWeights *lw);

// One worker's products for up to max_rows token rows. NULL + err_set if oneDNN refuses a shape.
typedef struct LinearWorker LinearWorker;
LinearWorker *linear_worker_create(const LinearWeights *lw, size_t max_rows);
void linear_worker_free(LinearWorker *w);
size_t linear_worker_bytes(const LinearWorker *w);

// out (n, OC) = x (n, IC) · Wᵀ for linear weight `id`, + add (n, OC) when add is not NULL (the
// residual; add may be out); then `then` (or NULL) on out's rows (kernels.h, F32RowHook): on
// t2-avx512 block by block while they are in cache, on the other paths once on all n rows.
void linear_forward(LinearWorker *w, int id, float *out, const float *x, const float *add, size_t n,
                    const F32RowHook *then);
// dx (n, IC) = dout · W (skipped when dx is NULL), then `then` on dx's rows; dw (OC, IC) += doutᵀ · x.
void linear_backward(LinearWorker *w, int id, float *dx, float *dw, const float *dout, const float *x, size_t n,
                     const F32RowHook *then);
// The MLP's gate-up product and SwiGLU: gu (n, 2F) = x · Wguᵀ, h (n, F) = silu(gate) · up.
void linear_forward_swiglu(LinearWorker *w, int id_gu, float *gu, float *h, const float *x, size_t n);
// The down projection's backward through SwiGLU: dgu (n, 2F) = SwiGLU's backward of
// dh = dout · Wdown at gu; dw_down (C, F) += doutᵀ · h. dh (n, F) is scratch (may go unused).
void linear_backward_swiglu(LinearWorker *w, int id_down, float *dgu, float *dw_down, float *dh, const float *dout,
                            const float *h, const float *gu, size_t n);

// GFLOP/s of products (m, k)·(n, k)ᵀ on a path other than sgemm, with operands already in the
// path's format (the kernel alone), one product per thread on `threads` threads, best of `reps`;
// -1 + err_set if the path cannot build them. linear_peak_gflops: the best of squares from 512
// (or max_n) doubling up to max_n (2048 by default in bench), what MFU in bf16 is measured against.
double linear_gemm_gflops(GemmPath path, int m, int n, int k, int threads, int reps);
double linear_peak_gflops(GemmPath path, int threads, int max_n);

#endif
