// model.h — the Llama-style decoder of docs/SPEC.md §6: config, one flat parameter buffer with named
// views, activations for a batch, forward and backward, exact parameter and FLOP counts.
#ifndef T2_MODEL_H
#define T2_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

typedef struct {
    int n_layer;
    int d_model;
    int n_head;
    int d_ff;        // SwiGLU hidden size; 0 in a spec means the default 8·d/3 rounded up to ×8
    int vocab_size;
    int seq_len;     // longest sequence (training context; positions of the RoPE tables)
    int tied;        // lm_head shares the embedding matrix
    float rope_theta;
    float norm_eps;
} ModelConfig;

int default_d_ff(int d_model);
// Fill defaults (d_ff, rope_theta, norm_eps) where zero.
void model_config_defaults(ModelConfig *c);
// -1 + err_set naming the field ("n_head: d_model 100 is not divisible by n_head 3").
int model_config_validate(const ModelConfig *c);
// A model config as JSON: a family entry of a spec, or with derived = 1 also vocab_size and
// seq_len (a run's model, the `config` of an export). Numbers are written exactly.
struct cJSON;
struct cJSON *model_config_cjson(const ModelConfig *c, int derived);

// The flat parameter buffer holds the matrices first (weight decay applies to them), then the
// RMSNorm scales. With a tied head, lm_head points at wte and takes no space.
typedef struct {
    float *wte;     // (V, C)
    float *wqkv;    // (L, 3C, C)  rows: q, k, v projections
    float *wo;      // (L, C, C)
    float *wgu;     // (L, 2F, C)  rows: gate, up projections
    float *wdown;   // (L, C, F)
    float *lm_head; // (V, C)  == wte when tied
    float *ln1;     // (L, C)  input_layernorm
    float *ln2;     // (L, C)  post_attention_layernorm
    float *lnf;     // (C,)    final norm
} ParamViews;

typedef struct {
    size_t total;      // floats in the buffer (unique parameters)
    size_t matrices;   // the first `matrices` floats are weight matrices, the rest norm scales
    size_t embedding;  // wte, plus lm_head when untied
} ParamLayout;

ParamLayout param_layout(const ModelConfig *c);
void param_views(ParamViews *v, float *base, const ModelConfig *c);

// Counts: all unique parameters, and those outside the embedding and the head.
size_t count_params(const ModelConfig *c);
size_t count_params_nonembed(const ModelConfig *c);
// Matmul FLOPs of a forward pass over a sequence of T tokens (every position through the head),
// attention counted causally (query t scores t+1 keys): 2·(weights)·T + 2·L·C·T(T+1).
double forward_flops_seq(const ModelConfig *c, int T);
// One training step on B sequences of T tokens: 3 × forward.
double train_step_flops(const ModelConfig *c, int B, int T);
// Prefill of a P-token prompt (head at the last position only) and one decode step of a
// token at 0-based position t with a KV cache (it attends t+1 positions).
double prefill_flops(const ModelConfig *c, int P);
double decode_token_flops(const ModelConfig *c, int t);

// The weights of a model.
typedef struct {
    ModelConfig cfg;
    ParamLayout layout;
    float *params;  // (layout.total,) 64-byte aligned
    ParamViews w;
    float *rope_cos; // (seq_len, hd/2)
    float *rope_sin;
} Model;

void model_build(Model *m, const ModelConfig *cfg); // allocates, zero weights
void model_free(Model *m);
// normal(0, 0.02) for matrices, output projections (wo, wdown) scaled by 1/sqrt(2·n_layer),
// norm scales 1.
void model_init_weights(Model *m, uint64_t seed);

// Activations and backward scratch for B sequences of T tokens. Layer-indexed buffers keep what
// the backward pass needs; the d* buffers hold one layer's gradients and are reused.
typedef struct {
    size_t B;
    int T;
    float *resid;     // (L+1, B, T, C)  input of each layer; [L] feeds the final norm
    float *ln1;       // (L, B, T, C)
    float *ln1_rstd;  // (L, B, T)
    float *qkv;       // (L, B, T, 3C)  q, k rotated
    float *att;       // (L, B, H, T, T)
    float *atty;      // (L, B, T, C)
    float *resid_mid; // (L, B, T, C)  after the attention residual
    float *ln2;       // (L, B, T, C)
    float *ln2_rstd;  // (L, B, T)
    float *gu;        // (L, B, T, 2F)  [gate | up]; on t2's paths what SwiGLU's backward needs instead
    float *h;         // (L, B, T, F)
    float *lnf;       // (B, T, C)
    float *lnf_rstd;  // (B, T)
    float *logits;    // (B, T, V)  dlogits after the fused loss
    float *losses;    // (B, T)
    // backward scratch
    float *dresid;    // (B, T, C)
    float *dln;       // (B, T, C)
    float *dqkv;      // (B, T, 3C)
    float *datty;     // (B, T, C)
    float *dgu;       // (B, T, 2F)  (t2-avx512bf16 keeps it in bf16 in its LinearWorker instead)
    float *dh;        // (B, T, F)   (unused on t2's paths)
    float *att_scratch; // (T, T)
    float *att_pack;  // (attention_pack_floats(T, C/H),) for attention on t2's products
    size_t bytes;     // total allocated
    // The linear layers of model_forward_backward (nn/linear.h: t2's float32 or bf16 kernels, with
    // the residual add and SwiGLU fused); NULL: float32 through sgemm. Set by the trainer;
    // forward-only passes (evaluation, scoring) always use sgemm in float32.
    struct LinearWorker *linear;
} Activations;

void acts_build(Activations *a, const ModelConfig *c, size_t B, int T);
void acts_free(Activations *a);
size_t acts_bytes(const ModelConfig *c, size_t B, int T);

// Positions: pos (B, T) gives each token's position inside its example when rows hold several
// whole examples back to back (training and validation rows, see tasks.h); attention then never
// crosses an example boundary and RoPE restarts at every example, so an example computes exactly
// what it would alone at the start of a row. pos NULL: each row is one sequence from position 0.
//
// Forward up to the final norm (a->lnf), without the head; the KV-cache prefill uses it.
void model_forward_hidden(const Model *m, Activations *a, const int *tokens, const int *pos, size_t B, int T);
// Forward over tokens (B, T) → a->logits. Does not touch gradients.
void model_forward(const Model *m, Activations *a, const int *tokens, const int *pos, size_t B, int T);
// Forward + masked cross-entropy + backward. grads (layout.total) accumulates (zero it first).
// loss_scale = 1 / (masked tokens in the whole batch across workers). Returns Σ mask·loss over
// these rows (unscaled), in double.
double model_forward_backward(const Model *m, Activations *a, float *grads, const int *tokens,
                              const int *targets, const unsigned char *mask, const int *pos, size_t B,
                              int T, float loss_scale);

#endif
