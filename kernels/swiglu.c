// swiglu.c — the SwiGLU gate: h = silu(gate) · up, silu(g) = g·σ(g), σ(g) = 1/(1 + e^−g).
#include "kernels.h"

#include "vecmath.h"

void swiglu_forward(float *restrict h, const float *restrict gu, size_t n, int F) {
    for (size_t i = 0; i < n; i++) {
        const float *g = gu + i * 2 * (size_t)F; // (F,) gate
        const float *u = g + F;                  // (F,) up
        swiglu_row(h + i * (size_t)F, g, u, F);
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
        swiglu_grad_row(dg, dg + F, d, g, u, F);
    }
}
