// mixed.h — the linear layers of a training step in bf16: bf16 operands, float32 sums, float32
// master weights (docs/SPEC.md §6, "Mixed precision").
//
// Two kernel paths, picked at run time from what the CPU reports:
//   - "t2-avx512bf16": t2's own vdpbf16ps kernels (kernels/matmul_bf16.c), on any CPU with
//     AVX512-BF16 (Intel Cooper Lake and later, AMD Zen 4 and later);
//   - "onednn-...": Debian's oneDNN (libdnnl.so.2, opened on first use), which runs AMX tiles on
//     Xeons that have them (Sapphire Rapids and later) and is the path there.
// The environment variable T2_BF16_GEMM=t2|onednn forces one (for measurements); the path in use
// is recorded with every run. A CPU without AVX512-BF16 gets a clear error, never an illegal
// instruction.
//
// The weights are converted once per step (mixed_refresh, after the optimizer, split across the
// pool's threads) into the layouts the products read; each worker thread owns a MixedWorker with
// its scratch and, for oneDNN, its primitives. Nothing is allocated inside a step.
#ifndef T2_MIXED_H
#define T2_MIXED_H

#include <stddef.h>

#include "nn/model.h"

typedef enum { PRECISION_FLOAT32 = 0, PRECISION_BF16 = 1 } Precision;
typedef enum { GEMM_SGEMM = 0, GEMM_T2_BF16 = 1, GEMM_ONEDNN = 2 } GemmPath;

const char *precision_name(Precision p); // "float32", "bf16"
int precision_parse(const char *s, Precision *out); // 0, or -1 for an unknown name

// The path a run in this precision takes on this machine: 0, or -1 + err_set naming the CPU
// feature that is missing (or the bad T2_BF16_GEMM value, or oneDNN that cannot be loaded).
int gemm_path_for(Precision p, GemmPath *out);
// Human- and machine-readable name of the path, with the library's own ISA for oneDNN:
// "openblas-sgemm", "t2-avx512bf16", "onednn-2.6.3-avx512_core_amx".
const char *gemm_path_name(GemmPath g);

// The bf16 copies of a model's weights (shared by the workers; read-only during a step).
typedef struct MixedWeights MixedWeights;
// The linear weights of a model, in the order the kernels address them: layer l's qkv, o, gate-up
// and down are ids 4l..4l+3; the head is id 4L.
enum { LIN_QKV, LIN_O, LIN_GU, LIN_DOWN, LIN_PER_LAYER };
static inline int lin_id(int layer, int kind) { return layer * LIN_PER_LAYER + kind; }
static inline int lin_head(const ModelConfig *c) { return c->n_layer * LIN_PER_LAYER; }

MixedWeights *mixed_weights_create(const Model *m, GemmPath path);
void mixed_weights_free(MixedWeights *mw);
// Convert this thread's share of every weight (thread tid of n_threads) from the model's float32
// values. Run on every thread of the pool before a step reads them.
void mixed_refresh(MixedWeights *mw, int tid, int n_threads);
size_t mixed_weights_bytes(const MixedWeights *mw);

// One worker's products for up to max_rows token rows. -1 + err_set if oneDNN refuses a shape.
typedef struct MixedWorker MixedWorker;
MixedWorker *mixed_worker_create(const MixedWeights *mw, size_t max_rows);
void mixed_worker_free(MixedWorker *w);
size_t mixed_worker_bytes(const MixedWorker *w);

// out (n, OC) = x (n, IC) · Wᵀ for linear weight `id`.
void mixed_forward(MixedWorker *w, int id, float *out, const float *x, size_t n);
// dx (n, IC) = dout · W (skipped when dx is NULL); dw (OC, IC) += doutᵀ · x.
void mixed_backward(MixedWorker *w, int id, float *dx, float *dw, const float *dout, const float *x, size_t n);

// GFLOP/s of bf16 products (m, k)·(n, k)ᵀ with operands already in bf16 (the kernel alone, no
// conversion), one product per thread on `threads` threads, best of `reps`; -1 + err_set if the
// path cannot build them. mixed_peak_gflops: the best of squares 512..2048, what MFU in bf16 is
// measured against.
double mixed_gemm_gflops(GemmPath path, int m, int n, int k, int threads, int reps);
double mixed_peak_gflops(GemmPath path, int threads);

#endif
