// rope.c — rotary position embedding, Hugging Face "rotate_half" convention.
#include "kernels.h"

#include <math.h>

// Angles in double (as the PyTorch peer does) so that large positions keep full float accuracy.
void rope_tables(float *cos_t, float *sin_t, int max_pos, int hd, float theta) {
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        double inv_freq = pow((double)theta, -2.0 * i / hd);
        for (int p = 0; p < max_pos; p++) {
            double a = p * inv_freq;
            cos_t[(size_t)p * half + i] = (float)cos(a);
            sin_t[(size_t)p * half + i] = (float)sin(a);
        }
    }
}

// Rotate every pair (x1, x2) = (x[i], x[i + hd/2]) of each head by the angle whose sine is
// sign·sin_t: sign = +1 is the forward rotation, −1 its inverse (= transpose).
static void rope_rotate(float *x, const float *cos_t, const float *sin_t, const int *pos,
                        size_t n, int T, int pos0, int H, int hd, int stride, float sign) {
    int half = hd / 2;
    for (size_t r = 0; r < n; r++) {
        size_t p = pos ? (size_t)pos[r] : (size_t)pos0 + r % (size_t)T;
        const float *restrict c = cos_t + p * half; // (hd/2,)
        const float *restrict s = sin_t + p * half; // (hd/2,)
        for (int h = 0; h < H; h++) {
            float *restrict x1 = x + r * (size_t)stride + (size_t)h * hd; // (hd/2,)
            float *restrict x2 = x1 + half;                                // (hd/2,)
            for (int i = 0; i < half; i++) {
                float a = x1[i], b = x2[i], si = sign * s[i];
                x1[i] = a * c[i] - b * si;
                x2[i] = b * c[i] + a * si;
            }
        }
    }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, const int *pos, size_t n,
                  int T, int pos0, int H, int hd, int stride) {
    rope_rotate(x, cos_t, sin_t, pos, n, T, pos0, H, hd, stride, 1.0f);
}

void rope_backward(float *dx, const float *cos_t, const float *sin_t, const int *pos, size_t n,
                   int T, int pos0, int H, int hd, int stride) {
    rope_rotate(dx, cos_t, sin_t, pos, n, T, pos0, H, hd, stride, -1.0f);
}
