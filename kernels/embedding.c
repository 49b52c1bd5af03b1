// embedding.c — token embedding lookup and its scatter-add backward.
#include "kernels.h"

#include <string.h>

void embedding_forward(float *out, const int *tokens, const float *wte, size_t n, int C) {
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * (size_t)C, wte + (size_t)tokens[i] * (size_t)C, (size_t)C * sizeof(float));
}

// Rows are added in order, so a token that occurs several times gets a deterministic sum.
void embedding_backward(float *dwte, const float *dout, const int *tokens, size_t n, int C) {
    for (size_t i = 0; i < n; i++) {
        float *restrict dw = dwte + (size_t)tokens[i] * (size_t)C;
        const float *restrict d = dout + i * (size_t)C;
        for (int j = 0; j < C; j++) dw[j] += d[j];
    }
}
