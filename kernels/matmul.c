// matmul.c — linear layers through OpenBLAS sgemm (row-major; W is (out, in) as nn.Linear).
#include "kernels.h"

#include <cblas.h>

// BLAS takes int dimensions; n = B·T rows stays far below INT_MAX for any batch that fits memory.
void matmul_forward(float *out, const float *x, const float *w, size_t n, int IC, int OC) {
    // out (n, OC) = x (n, IC) · wᵀ (IC, OC)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, OC, IC, 1.0f, x, IC, w, IC,
                0.0f, out, OC);
}

void matmul_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                     size_t n, int IC, int OC) {
    // dx (n, IC) = dout (n, OC) · w (OC, IC)
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, IC, OC, 1.0f, dout, OC, w,
                    IC, 0.0f, dx, IC);
    // dw (OC, IC) += doutᵀ (OC, n) · x (n, IC)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, (int)n, 1.0f, dout, OC, x, IC,
                1.0f, dw, IC);
}
