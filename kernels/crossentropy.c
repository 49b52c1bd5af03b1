// crossentropy.c — softmax cross-entropy with a loss mask, and row-wise log-softmax.
#include "kernels.h"

#include <math.h>
#include <string.h>

#include "vecmath.h"


void crossentropy_forward(float *losses, const float *logits, const int *targets,
                          const unsigned char *mask, size_t n, int V) {
    for (size_t i = 0; i < n; i++) {
        if (mask && !mask[i]) {
            losses[i] = 0.0f;
            continue;
        }
        const float *x = logits + i * (size_t)V; // (V,)
        // Shifted by the row maximum so that no exponential overflows; x_t − m is formed before
        // adding the logarithm so large logits keep their precision.
        float m = vmax(x, V);
        losses[i] = logf(vsum_exp(x, V, m)) - (x[targets[i]] - m);
    }
}

// d(scale · loss_i)/dx_j = scale · (softmax(x)_j − [j == target]); rows with mask 0 get zeros.
void crossentropy_forward_backward(float *losses, float *logits, const int *targets,
                                   const unsigned char *mask, size_t n, int V, float scale) {
    for (size_t i = 0; i < n; i++) {
        float *x = logits + i * (size_t)V; // (V,) logits in, dlogits out
        if (mask && !mask[i]) {
            losses[i] = 0.0f;
            memset(x, 0, (size_t)V * sizeof(float));
            continue;
        }
        float m = vmax(x, V);
        float target_shifted = x[targets[i]] - m;
        float sum = vexp_shift(x, V, m); // x_j ← exp(x_j − m)
        losses[i] = logf(sum) - target_shifted;
        float k = scale / sum;
        for (int j = 0; j < V; j++) x[j] *= k;
        x[targets[i]] -= scale;
    }
}

void log_softmax_rows(float *x, size_t n, int V) {
    for (size_t i = 0; i < n; i++) {
        float *xi = x + i * (size_t)V; // (V,)
        float m = vmax(xi, V);
        float log_sum = logf(vsum_exp(xi, V, m));
        for (int j = 0; j < V; j++) xi[j] = (xi[j] - m) - log_sum;
    }
}
