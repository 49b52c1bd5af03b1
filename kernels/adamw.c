// adamw.c — AdamW update, gradient norm and clipping factor.
#include "kernels.h"

#include <math.h>

double sum_squares(const float *x, size_t n) {
    // Lane sums (see vecmath.h) in double: vectorises and stays deterministic.
    enum { LANES = 8 };
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += (double)x[i + l] * x[i + l];
    double s = 0.0;
    for (; i < n; i++) s += (double)x[i] * x[i];
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

void adamw_update(float *restrict params, const float *restrict grads, float *restrict m,
                  float *restrict v, size_t n, float lr, float beta1, float beta2, float eps,
                  float weight_decay, float grad_scale, long t) {
    // Bias corrections in double: 1 − β^t loses digits in float when β is close to 1.
    float inv_bc1 = (float)(1.0 / (1.0 - pow(beta1, (double)t)));
    float inv_bc2 = (float)(1.0 / (1.0 - pow(beta2, (double)t)));
    for (size_t i = 0; i < n; i++) {
        float g = grad_scale * grads[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float update = mi * inv_bc1 / (sqrtf(vi * inv_bc2) + eps);
        params[i] -= lr * (update + weight_decay * params[i]);
    }
}

float clip_scale(double norm, float max_norm) {
    if (max_norm <= 0.0f || norm == 0.0) return 1.0f;
    if (isnan(norm)) return NAN; // let a NaN gradient show up in the parameters, not hide
    return norm > max_norm ? (float)(max_norm / norm) : 1.0f;
}
