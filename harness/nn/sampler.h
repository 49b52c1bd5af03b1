// sampler.h — repeated sampling with a KV cache: a prompt is prefilled once, its keys and values
// are shared by all k samples, and the k samples are decoded together (matrix-matrix products
// over the active rows, split across worker threads). Finished samples leave the batch, so the
// work done — and the FLOPs counted — are exactly those of the tokens generated.
#ifndef T2_SAMPLER_H
#define T2_SAMPLER_H

#include <stdint.h>

#include "nn/model.h"

typedef struct Sampler Sampler;

typedef struct {
    int *tokens;      // (S, max_new) generated ids; row s holds n_tokens[s] of them
    int *n_tokens;    // (S,) generated tokens, EOS included when it came
    int *hit_eos;     // (S,)
    double *logprob;  // (S,) Σ log p(token) under the model at temperature 1
    double flops;     // exact: one prefill + one decode step per generated token after the first
    double gen_tokens; // Σ n_tokens
} SampleOut;

// max_prompt + max_new must not exceed the model's seq_len.
Sampler *sampler_create(const Model *m, int max_prompt, int max_new, int max_samples, int threads);
void sampler_free(Sampler *s);
void sample_out_alloc(SampleOut *o, int max_samples, int max_new);
void sample_out_free(SampleOut *o);

// Benchmarks generate exactly max_new tokens per sample: EOS then does not end a sample.
void sampler_set_stop_at_eos(Sampler *s, int stop);

// Draw S samples of up to max_new tokens after prompt (P ids, BOS first). Sample s uses its own
// RNG seeded with seeds[s], and every row is computed the same way wherever it sits in the batch
// (matmul_packed_forward, row-wise attention), so a sample depends only on its seed: not on S,
// not on the threads — bit for bit.
// temperature > 0; top_p in (0, 1].
void sampler_run(Sampler *s, const int *prompt, int P, int S, const uint64_t *seeds, float temperature,
                 float top_p, SampleOut *out);

// Draw one token from logits (V,) at temperature / top-p; returns the id and sets *logprob to
// its log-probability at temperature 1. probs (V,) and order (V,) are scratch.
int sample_token(const float *logits, int V, float temperature, float top_p, Rng *rng, double *logprob,
                 double *probs, int *order);

#endif
