// linear_impl.h — what linear.c and linear_onednn.c share (not for other files).
#ifndef T2_LINEAR_IMPL_H
#define T2_LINEAR_IMPL_H

#include "kernels.h"
#include "nn/linear.h"

typedef struct {
    const float *w; // (OC, IC) the float32 master weight
    int IC, OC;
    int swiglu;     // the gate-up weight (OC = 2F): packed for the fused SwiGLU (t2's paths)
    // t2-avx512:     fwd = W packed as B of x·Wᵀ (float panels); bwd unused (W is read in place)
    // t2-avx512bf16: fwd = W packed as B of x·Wᵀ (N = OC, K = IC), bwd = as B of dout·W (N = IC, K = OC)
    // oneDNN:        fwd = W as plain bf16 (OC, IC); bwd unused
    void *fwd, *bwd;
} LinearWeight;

struct LinearWeights {
    GemmPath path;
    int n;             // linear weights (4 per layer, then the head)
    LinearWeight *lin;  // (n,)
    int max_in, max_out;
    size_t bytes;
};

typedef struct OnednnWorker OnednnWorker;

struct LinearWorker {
    const LinearWeights *lw;
    size_t rows;          // token rows of every product
    bf16 *a;              // bf16 paths: A operand scratch, activations or output gradients as bf16
    bf16 *b;              // bf16 paths: the packed activations of dW (oneDNN: x as bf16 rows)
    // t2-avx512bf16: what the SwiGLU products write in bf16 for the product after them, and the
    // float32 array each stands for (NULL: nothing staged); the next call consumes or drops it.
    bf16 *hb;             // h (rows, ldhb) from linear_forward_swiglu, the down product's A
    size_t ldhb;
    const float *h_staged;
    bf16 *drows, *dpairs; // dgu from linear_backward_swiglu: rows (rows, 2F), pairs (rows/2, 2F, 2)
    const float *d_staged;
    size_t bytes;
    OnednnWorker *onednn; // primitives and memory objects of this worker (oneDNN path)
};

// Open libdnnl.so.2 (once): 0, or -1 + err_set.
int onednn_load(void);
// "onednn-2.6.3-avx512_core_amx-omp1" (valid after onednn_load).
const char *onednn_name(void);
int onednn_worker_init(LinearWorker *w);
void onednn_worker_free(LinearWorker *w);
// w->a holds x as bf16 rows (ld = IC rounded up to even).
void onednn_forward(LinearWorker *w, int id, float *out, size_t n);
// w->a holds dout as bf16 rows (ld even(OC)), w->b holds x as bf16 rows (ld even(IC)).
void onednn_backward(LinearWorker *w, int id, float *dx, float *dw, size_t n);

#endif
