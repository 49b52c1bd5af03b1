// swiglu.c — the SwiGLU gate: h = silu(gate) · up, silu(g) = g·σ(g), σ(g) = 1/(1 + e^−g).
#include "kernels.h"

#include "vecmath.h"

void swiglu_forward(float *restrict h, const float *restrict gu, size_t n, int F) {
    for (size_t i = 0; i < n; i++) {
        const float *g = gu + i * 2 * (size_t)F; // (F,) gate
        const float *u = g + F;                  // (F,) up
        float *hi = h + i * (size_t)F;           // (F,)
        for (int j = 0; j < F; j++) hi[j] = g[j] / (1.0f + t2_expf(-g[j])) * u[j];
    }
}

// dσ/dg = σ(1 − σ), so d silu/dg = σ·(1 + g·(1 − σ)).
void swiglu_backward(float *restrict dgu, const float *restrict dh, const float *restrict gu,
                     size_t n, int F) {
    for (size_t i = 0; i < n; i++) {
        const float *g = gu + i * 2 * (size_t)F; // (F,)
        const float *u = g + F;                  // (F,)
        const float *d = dh + i * (size_t)F;     // (F,)
        float *dg = dgu + i * 2 * (size_t)F;     // (F,)
        float *du = dg + F;                      // (F,)
        for (int j = 0; j < F; j++) {
            float sig = 1.0f / (1.0f + t2_expf(-g[j]));
            du[j] = d[j] * g[j] * sig;
            dg[j] = d[j] * u[j] * sig * (1.0f + g[j] * (1.0f - sig));
        }
    }
}
