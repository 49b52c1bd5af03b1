// rmsnorm.c — RMSNorm: out = x · rstd · w with rstd = 1/sqrt(mean(x²) + eps), per row.
#include "kernels.h"

#include <math.h>

#include "vecmath.h"

void rmsnorm_forward(float *restrict out, float *restrict rstd, const float *restrict x,
                     const float *restrict w, size_t n, int C, float eps) {
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * (size_t)C;    // (C,)
        float *oi = out + i * (size_t)C;        // (C,)
        float r = 1.0f / sqrtf(vdot(xi, xi, C) / (float)C + eps);
        for (int j = 0; j < C; j++) oi[j] = xi[j] * r * w[j];
        rstd[i] = r;
    }
}

// With y_j = x_j·r·w_j and r = (Σx²/C + eps)^(-1/2), dr/dx_k = −r³·x_k/C, so
//   dx_k = r·w_k·dy_k − (r³/C)·x_k·Σ_j dy_j·w_j·x_j,   dw_j = Σ_rows dy_j·x_j·r.
void rmsnorm_backward(float *restrict dx, float *restrict dw, const float *restrict dout,
                      const float *restrict x, const float *restrict w, const float *restrict rstd,
                      size_t n, int C) {
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * (size_t)C;    // (C,)
        const float *di = dout + i * (size_t)C; // (C,)
        float *dxi = dx + i * (size_t)C;        // (C,)
        float r = rstd[i];
        // Σ_j dy_j·w_j·x_j, as lane sums (see vecmath.h) so that it vectorises.
        float acc[VLANES] = {0};
        int j = 0;
        for (; j + VLANES <= C; j += VLANES)
            for (int l = 0; l < VLANES; l++) acc[l] += di[j + l] * w[j + l] * xi[j + l];
        float tail = 0.0f;
        for (; j < C; j++) tail += di[j] * w[j] * xi[j];
        float dot = lanes_total(acc, tail);
        float c = r * r * r * dot / (float)C;
        for (j = 0; j < C; j++) {
            dxi[j] += r * w[j] * di[j] - c * xi[j];
            dw[j] += di[j] * xi[j] * r;
        }
    }
}
