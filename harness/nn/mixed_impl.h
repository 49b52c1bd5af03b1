// mixed_impl.h — what mixed.c and mixed_onednn.c share (not for other files).
#ifndef T2_MIXED_IMPL_H
#define T2_MIXED_IMPL_H

#include "kernels.h"
#include "nn/mixed.h"

typedef struct {
    const float *w; // (OC, IC) the float32 master weight
    int IC, OC;
    bf16 *fwd;      // t2: W packed as B of x·Wᵀ (N = OC, K = IC); oneDNN: W as plain bf16 (OC, IC)
    bf16 *bwd;      // t2: W packed as B of dout·W (N = IC, K = OC); oneDNN: NULL
} MixedLinear;

struct MixedWeights {
    GemmPath path;
    int n;             // linear weights (4 per layer, then the head)
    MixedLinear *lin;  // (n,)
    int max_in, max_out;
    size_t bytes;
};

typedef struct OnednnWorker OnednnWorker;

struct MixedWorker {
    const MixedWeights *mw;
    size_t rows;          // token rows of every product
    bf16 *a;              // A operand scratch: activations or output gradients as bf16
    bf16 *b;              // B operand scratch: the packed activations of dW (oneDNN: x as bf16 rows)
    size_t bytes;
    OnednnWorker *onednn; // primitives and memory objects of this worker (oneDNN path)
};

// Open libdnnl.so.2 (once): 0, or -1 + err_set.
int onednn_load(void);
// "onednn-2.6.3-avx512_core_amx-omp1" (valid after onednn_load).
const char *onednn_name(void);
int onednn_worker_init(MixedWorker *w);
void onednn_worker_free(MixedWorker *w);
// w->a holds x as bf16 rows (ld = IC rounded up to even).
void onednn_forward(MixedWorker *w, int id, float *out, size_t n);
// w->a holds dout as bf16 rows (ld even(OC)), w->b holds x as bf16 rows (ld even(IC)).
void onednn_backward(MixedWorker *w, int id, float *dx, float *dw, size_t n);

#endif
