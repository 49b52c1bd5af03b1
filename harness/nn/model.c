// model.c — parameter layout, counts, and the forward/backward pass composed from kernels.
#include "nn/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "nn/linear.h"
#include "util/json.h"

int default_d_ff(int d_model) { return 8 * ((d_model + 2) / 3); } // ceil(8d/3 / 8) · 8

void model_config_defaults(ModelConfig *c) {
    if (c->d_ff == 0 && c->d_model > 0) c->d_ff = default_d_ff(c->d_model);
    if (c->rope_theta == 0) c->rope_theta = 10000.0f;
    if (c->norm_eps == 0) c->norm_eps = 1e-5f;
}

int model_config_validate(const ModelConfig *c) {
    if (c->n_layer < 1 || c->n_layer > 256) {
        err_set("n_layer: must be in [1, 256], got %d", c->n_layer);
        return -1;
    }
    if (c->d_model < 2 || c->d_model > 65536) {
        err_set("d_model: must be in [2, 65536], got %d", c->d_model);
        return -1;
    }
    if (c->n_head < 1 || c->d_model % c->n_head != 0) {
        err_set("n_head: must be a positive divisor of d_model %d, got %d", c->d_model, c->n_head);
        return -1;
    }
    if ((c->d_model / c->n_head) % 2 != 0) {
        err_set("n_head: head size d_model/n_head = %d must be even for rotary embeddings",
                c->d_model / c->n_head);
        return -1;
    }
    if (c->d_ff < 1 || c->d_ff > 1 << 20) {
        err_set("d_ff: must be in [1, 1048576], got %d", c->d_ff);
        return -1;
    }
    if (c->vocab_size < 3 || c->vocab_size > 1 << 20) {
        err_set("vocab_size: must be in [3, 1048576], got %d", c->vocab_size);
        return -1;
    }
    if (c->seq_len < 2 || c->seq_len > 1 << 16) {
        err_set("seq_len: must be in [2, 65536], got %d", c->seq_len);
        return -1;
    }
    if (!(c->rope_theta > 1.0f) || !isfinite(c->rope_theta)) {
        err_set("rope_theta: must be a finite number > 1, got %g", c->rope_theta);
        return -1;
    }
    if (!(c->norm_eps > 0.0f && c->norm_eps < 1.0f)) {
        err_set("norm_eps: must be in (0, 1), got %g", c->norm_eps);
        return -1;
    }
    return 0;
}

cJSON *model_config_cjson(const ModelConfig *c, int derived) {
    cJSON *o = cJSON_CreateObject();
    json_add_num(o, "n_layer", c->n_layer);
    json_add_num(o, "d_model", c->d_model);
    json_add_num(o, "n_head", c->n_head);
    json_add_num(o, "d_ff", c->d_ff);
    if (derived) {
        json_add_num(o, "vocab_size", c->vocab_size);
        json_add_num(o, "seq_len", c->seq_len);
    }
    cJSON_AddBoolToObject(o, "tied", c->tied);
    cJSON_AddItemToObject(o, "rope_theta", json_exact_float(c->rope_theta));
    cJSON_AddItemToObject(o, "norm_eps", json_exact_float(c->norm_eps));
    return o;
}

// ---------------------------------------------------------------------------------------------
// Layout: wte | wqkv | wo | wgu | wdown | lm_head (untied) || ln1 | ln2 | lnf
ParamLayout param_layout(const ModelConfig *c) {
    size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    ParamLayout p;
    p.embedding = V * C * (c->tied ? 1 : 2);
    p.matrices = p.embedding + L * (3 * C * C + C * C + 2 * F * C + C * F);
    p.total = p.matrices + 2 * L * C + C;
    return p;
}

void param_views(ParamViews *v, float *base, const ModelConfig *c) {
    size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    float *p = base;
    v->wte = p, p += V * C;
    v->wqkv = p, p += L * 3 * C * C;
    v->wo = p, p += L * C * C;
    v->wgu = p, p += L * 2 * F * C;
    v->wdown = p, p += L * C * F;
    if (c->tied) {
        v->lm_head = v->wte;
    } else {
        v->lm_head = p, p += V * C;
    }
    v->ln1 = p, p += L * C;
    v->ln2 = p, p += L * C;
    v->lnf = p;
}

size_t count_params(const ModelConfig *c) { return param_layout(c).total; }

size_t count_params_nonembed(const ModelConfig *c) {
    ParamLayout p = param_layout(c);
    return p.total - p.embedding;
}

// Weights that take part in matmuls for every token: the blocks and the head (the embedding is
// a lookup, no FLOPs).
static double matmul_weights_blocks(const ModelConfig *c) {
    double C = c->d_model, F = c->d_ff;
    return c->n_layer * (4.0 * C * C + 3.0 * C * F);
}

static double head_weights(const ModelConfig *c) { return (double)c->vocab_size * c->d_model; }

// Causal attention FLOPs for queries at positions p0..p1-1: query t scores t+1 keys (QKᵀ) and
// mixes t+1 values (AV): 2·C·(t+1) each, per layer.
static double attention_flops(const ModelConfig *c, double p0, double p1) {
    double sum_keys = (p1 * (p1 + 1) - p0 * (p0 + 1)) / 2.0; // Σ_{t=p0}^{p1-1} (t+1)
    return c->n_layer * 4.0 * c->d_model * sum_keys;
}

double forward_flops_seq(const ModelConfig *c, int T) {
    return 2.0 * (matmul_weights_blocks(c) + head_weights(c)) * T + attention_flops(c, 0, T);
}

double train_step_flops(const ModelConfig *c, int B, int T) { return 3.0 * B * forward_flops_seq(c, T); }

double prefill_flops(const ModelConfig *c, int P) {
    return 2.0 * matmul_weights_blocks(c) * P + 2.0 * head_weights(c) + attention_flops(c, 0, P);
}

double decode_token_flops(const ModelConfig *c, int t) {
    return 2.0 * (matmul_weights_blocks(c) + head_weights(c)) + attention_flops(c, t, t + 1);
}

// ---------------------------------------------------------------------------------------------
void model_build(Model *m, const ModelConfig *cfg) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->layout = param_layout(cfg);
    m->params = xmalloc_aligned(m->layout.total * sizeof(float));
    param_views(&m->w, m->params, cfg);
    int hd = cfg->d_model / cfg->n_head;
    size_t nt = (size_t)cfg->seq_len * (size_t)(hd / 2);
    m->rope_cos = xmalloc_aligned(nt * sizeof(float));
    m->rope_sin = xmalloc_aligned(nt * sizeof(float));
    rope_tables(m->rope_cos, m->rope_sin, cfg->seq_len, hd, cfg->rope_theta);
}

void model_free(Model *m) {
    free(m->params);
    free(m->rope_cos);
    free(m->rope_sin);
    memset(m, 0, sizeof *m);
}

static void fill_normal(float *x, size_t n, double std, Rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * rng_normal(r));
}

void model_init_weights(Model *m, uint64_t seed) {
    const ModelConfig *c = &m->cfg;
    size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    Rng r;
    rng_seed(&r, seed);
    double std = 0.02, std_out = 0.02 / sqrt(2.0 * c->n_layer);
    fill_normal(m->w.wte, V * C, std, &r);
    fill_normal(m->w.wqkv, L * 3 * C * C, std, &r);
    fill_normal(m->w.wo, L * C * C, std_out, &r);
    fill_normal(m->w.wgu, L * 2 * F * C, std, &r);
    fill_normal(m->w.wdown, L * C * F, std_out, &r);
    if (!c->tied) fill_normal(m->w.lm_head, V * C, std, &r);
    for (size_t i = 0; i < L * C; i++) m->w.ln1[i] = m->w.ln2[i] = 1.0f;
    for (size_t i = 0; i < C; i++) m->w.lnf[i] = 1.0f;
}

// ---------------------------------------------------------------------------------------------
// Activations: one allocation carved into named buffers.
typedef struct {
    float **dst;
    size_t n;
} ActBuf;

// Room for every buffer act_bufs lists (checked there).
#define ACT_MAX_BUFS 32

static int act_bufs(Activations *a, const ModelConfig *c, size_t B, int T, ActBuf *out) {
    size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    size_t H = (size_t)c->n_head, BT = B * (size_t)T, TT = (size_t)T * (size_t)T;
    ActBuf bufs[] = {
        {&a->resid, (L + 1) * BT * C}, {&a->ln1, L * BT * C},      {&a->ln1_rstd, L * BT},
        {&a->qkv, L * BT * 3 * C},     {&a->att, L * B * H * TT},  {&a->atty, L * BT * C},
        {&a->resid_mid, L * BT * C},   {&a->ln2, L * BT * C},      {&a->ln2_rstd, L * BT},
        {&a->gu, L * BT * 2 * F},      {&a->h, L * BT * F},        {&a->lnf, BT * C},
        {&a->lnf_rstd, BT},            {&a->logits, BT * V},       {&a->losses, BT},
        {&a->dresid, BT * C},          {&a->dln, BT * C},          {&a->dqkv, BT * 3 * C},
        {&a->datty, BT * C},           {&a->dgu, BT * 2 * F},      {&a->dh, BT * F},
        {&a->att_scratch, TT},         {&a->att_pack, attention_pack_floats(T, (int)(C / H))},
    };
    _Static_assert(ARRAY_LEN(bufs) <= ACT_MAX_BUFS, "acts_bytes and acts_build hold every buffer");
    int n = (int)ARRAY_LEN(bufs);
    if (out) memcpy(out, bufs, sizeof bufs);
    return n;
}

// Each buffer starts on a 64-byte boundary.
static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

size_t acts_bytes(const ModelConfig *c, size_t B, int T) {
    Activations tmp;
    ActBuf bufs[ACT_MAX_BUFS];
    int n = act_bufs(&tmp, c, B, T, bufs);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += round16(bufs[i].n);
    return total * sizeof(float);
}

void acts_build(Activations *a, const ModelConfig *c, size_t B, int T) {
    memset(a, 0, sizeof *a);
    ActBuf bufs[ACT_MAX_BUFS];
    int n = act_bufs(a, c, B, T, bufs);
    a->bytes = acts_bytes(c, B, T);
    float *base = xmalloc_aligned(a->bytes), *p = base;
    for (int i = 0; i < n; i++) {
        *bufs[i].dst = p;
        p += round16(bufs[i].n);
    }
    a->B = B;
    a->T = T;
}

void acts_free(Activations *a) {
    free(a->resid); // the first buffer is the base of the allocation
    memset(a, 0, sizeof *a);
}

// ---------------------------------------------------------------------------------------------
// What follows a product on its rows (F32RowHook): on t2's float32 products, block by block while
// the rows are in cache; on the other paths once over all rows.

// The RMSNorm of a residual stream a product has just written: out = rmsnorm(x)·w.
typedef struct {
    float *out, *rstd;   // (n, C), (n,)
    const float *x, *w;  // (n, C), (C,)
    int C;
    float eps;
} NormRows;

static void norm_rows(void *ctx, int m0, int rows) {
    const NormRows *r = ctx;
    size_t o = (size_t)m0 * (size_t)r->C;
    rmsnorm_forward(r->out + o, r->rstd + m0, r->x + o, r->w, (size_t)rows, r->C, r->eps);
}

// The RMSNorm's backward from the gradient a product has just written (dout = d(normed)): the
// residual stream's gradient dx and the scale's dw accumulate.
typedef struct {
    float *dx, *dw;
    const float *dout, *x, *w, *rstd;
    int C;
} NormBackRows;

static void norm_back_rows(void *ctx, int m0, int rows) {
    const NormBackRows *r = ctx;
    size_t o = (size_t)m0 * (size_t)r->C;
    rmsnorm_backward(r->dx + o, r->dw, r->dout + o, r->x + o, r->w, r->rstd + m0, (size_t)rows, r->C);
}

// The loss on logits the head has just written, which become dloss/dlogits in place.
typedef struct {
    float *losses, *logits;
    const int *targets;
    const unsigned char *mask;
    int V;
    float scale;
} XentRows;

static void xent_rows(void *ctx, int m0, int rows) {
    const XentRows *r = ctx;
    crossentropy_forward_backward(r->losses + m0, r->logits + (size_t)m0 * (size_t)r->V, r->targets + m0,
                                  r->mask ? r->mask + m0 : NULL, (size_t)rows, r->V, r->scale);
}

// ---------------------------------------------------------------------------------------------
// The linear layers of a pass: through lw (nn/linear.h: t2's float32 or bf16 kernels, with the
// residual add, SwiGLU and `then` fused in), or, with lw NULL, through sgemm with those steps apart.
static void lin_forward(LinearWorker *lw, int id, float *out, const float *x, const float *add, const float *w,
                        size_t n, int IC, int OC, const F32RowHook *then) {
    if (lw) {
        linear_forward(lw, id, out, x, add, n, then);
        return;
    }
    matmul_forward(out, x, w, n, IC, OC);
    if (add) residual_forward(out, out, add, n * (size_t)OC);
    if (then) then->fn(then->ctx, 0, (int)n);
}

static void lin_backward(LinearWorker *lw, int id, float *dx, float *dw, const float *dout, const float *x,
                         const float *w, size_t n, int IC, int OC, const F32RowHook *then) {
    if (lw) {
        linear_backward(lw, id, dx, dw, dout, x, n, then);
        return;
    }
    matmul_backward(dx, dw, dout, x, w, n, IC, OC);
    if (then) then->fn(then->ctx, 0, (int)n);
}

// gu (n, 2F) = x·Wguᵀ, h (n, F) = swiglu(gu).
static void lin_forward_swiglu(LinearWorker *lw, int id, float *gu, float *h, const float *x, const float *wgu,
                               size_t n, int C, int F) {
    if (lw) {
        linear_forward_swiglu(lw, id, gu, h, x, n);
        return;
    }
    matmul_forward(gu, x, wgu, n, C, 2 * F);
    swiglu_forward(h, gu, n, F);
}

// dgu = swiglu'(gu)·(dout·Wdown) (dh as scratch), dWdown += doutᵀ·h.
static void lin_backward_swiglu(LinearWorker *lw, int id, float *dgu, float *dw, float *dh, const float *dout,
                                const float *h, const float *gu, const float *wdown, size_t n, int C, int F) {
    if (lw) {
        linear_backward_swiglu(lw, id, dgu, dw, dh, dout, h, gu, n);
        return;
    }
    matmul_backward(dh, dw, dout, h, wdown, n, F, C);
    swiglu_backward(dgu, dh, gu, n, F);
}

// Forward up to the final norm (a->lnf). Each RMSNorm after the first follows the product that
// wrote the residual stream it normalises (o and down, with the residual add), on its rows.
static void forward_hidden(const Model *m, Activations *a, const int *tokens, const int *pos, size_t B, int T,
                           LinearWorker *mx) {
    const ModelConfig *c = &m->cfg;
    const ParamViews *w = &m->w;
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->n_head, L = (size_t)c->n_layer;
    size_t BT = B * (size_t)T;
    AttRope rope = {m->rope_cos, m->rope_sin};
    embedding_forward(a->resid, tokens, w->wte, BT, (int)C);
    rmsnorm_forward(a->ln1, a->ln1_rstd, a->resid, w->ln1, BT, (int)C, c->norm_eps);
    for (size_t l = 0; l < L; l++) {
        float *x = a->resid + l * BT * C;                // (B, T, C) layer input
        float *ln1 = a->ln1 + l * BT * C;                // (B, T, C)
        float *qkv = a->qkv + l * BT * 3 * C;            // (B, T, 3C)
        float *att = a->att + l * B * H * (size_t)T * T; // (B, H, T, T)
        float *atty = a->atty + l * BT * C;              // (B, T, C)
        float *mid = a->resid_mid + l * BT * C;          // (B, T, C)
        float *ln2 = a->ln2 + l * BT * C;                // (B, T, C)
        float *gu = a->gu + l * BT * 2 * F;              // (B, T, 2F)
        float *h = a->h + l * BT * F;                    // (B, T, F)
        float *out = a->resid + (l + 1) * BT * C;        // (B, T, C) next layer input
        int Li = (int)l, last = l + 1 == L;

        lin_forward(mx, lin_id(Li, LIN_QKV), qkv, ln1, NULL, w->wqkv + l * 3 * C * C, BT, (int)C, (int)(3 * C), NULL);
        attention_forward(atty, att, mx ? a->att_pack : NULL, qkv, pos, &rope, B, T, (int)C, (int)H); // + RoPE
        // mid = x + o(atty), then ln2 = rmsnorm(mid)
        NormRows n2 = {ln2, a->ln2_rstd + l * BT, mid, w->ln2 + l * C, (int)C, c->norm_eps};
        F32RowHook then2 = {norm_rows, &n2};
        lin_forward(mx, lin_id(Li, LIN_O), mid, atty, x, w->wo + l * C * C, BT, (int)C, (int)C, &then2);
        lin_forward_swiglu(mx, lin_id(Li, LIN_GU), gu, h, ln2, w->wgu + l * 2 * F * C, BT, (int)C, (int)F);
        // out = mid + down(h), then the next layer's ln1 (or the final norm) of it
        NormRows n1 = {last ? a->lnf : a->ln1 + (l + 1) * BT * C, last ? a->lnf_rstd : a->ln1_rstd + (l + 1) * BT,
                       out, last ? w->lnf : w->ln1 + (l + 1) * C, (int)C, c->norm_eps};
        F32RowHook then1 = {norm_rows, &n1};
        lin_forward(mx, lin_id(Li, LIN_DOWN), out, h, mid, w->wdown + l * C * F, BT, (int)F, (int)C, &then1);
    }
}

void model_forward(const Model *m, Activations *a, const int *tokens, const int *pos, size_t B, int T) {
    forward_hidden(m, a, tokens, pos, B, T, NULL);
    lin_forward(NULL, lin_head(&m->cfg), a->logits, a->lnf, NULL, m->w.lm_head, B * (size_t)T, m->cfg.d_model,
                m->cfg.vocab_size, NULL);
}

void model_forward_hidden(const Model *m, Activations *a, const int *tokens, const int *pos, size_t B, int T) {
    forward_hidden(m, a, tokens, pos, B, T, NULL);
}

double model_forward_backward(const Model *m, Activations *a, float *grads, const int *tokens,
                              const int *targets, const unsigned char *mask, const int *pos, size_t B,
                              int T, float loss_scale) {
    const ModelConfig *c = &m->cfg;
    const ParamViews *w = &m->w;
    ParamViews g;
    param_views(&g, grads, c);
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->n_head, V = (size_t)c->vocab_size;
    size_t BT = B * (size_t)T, L = (size_t)c->n_layer;
    AttRope rope = {m->rope_cos, m->rope_sin};

    // Forward; the head's logits become dloss/dlogits as they are written.
    LinearWorker *mx = a->linear;
    forward_hidden(m, a, tokens, pos, B, T, mx);
    XentRows xent = {a->losses, a->logits, targets, mask, (int)V, loss_scale};
    F32RowHook then_xent = {xent_rows, &xent};
    lin_forward(mx, lin_head(c), a->logits, a->lnf, NULL, w->lm_head, BT, (int)C, (int)V, &then_xent);
    double loss_sum = 0.0;
    for (size_t i = 0; i < BT; i++) loss_sum += a->losses[i]; // masked rows hold 0

    // Head and final norm. dresid accumulates the residual stream's gradient from here down; each
    // RMSNorm's backward follows the product that wrote its output's gradient (dln).
    float *xf = a->resid + L * BT * C;
    memset(a->dresid, 0, BT * C * sizeof(float));
    NormBackRows nf = {a->dresid, g.lnf, a->dln, xf, w->lnf, a->lnf_rstd, (int)C};
    F32RowHook then_f = {norm_back_rows, &nf};
    lin_backward(mx, lin_head(c), a->dln, g.lm_head, a->logits, a->lnf, w->lm_head, BT, (int)C, (int)V, &then_f);

    for (size_t l = L; l-- > 0;) {
        float *x = a->resid + l * BT * C;
        float *ln1 = a->ln1 + l * BT * C;
        float *ln1_rstd = a->ln1_rstd + l * BT;
        float *qkv = a->qkv + l * BT * 3 * C;
        float *att = a->att + l * B * H * (size_t)T * T;
        float *atty = a->atty + l * BT * C;
        float *mid = a->resid_mid + l * BT * C;
        float *ln2 = a->ln2 + l * BT * C;
        float *ln2_rstd = a->ln2_rstd + l * BT;
        float *gu = a->gu + l * BT * 2 * F;
        float *h = a->h + l * BT * F;

        // MLP: out = mid + down(swiglu(gu(ln2(mid)))); dresid is d(out) and d(mid) so far.
        int Li = (int)l;
        lin_backward_swiglu(mx, lin_id(Li, LIN_DOWN), a->dgu, g.wdown + l * C * F, a->dh, a->dresid, h, gu,
                            w->wdown + l * C * F, BT, (int)C, (int)F);
        NormBackRows n2 = {a->dresid, g.ln2 + l * C, a->dln, mid, w->ln2 + l * C, ln2_rstd, (int)C};
        F32RowHook then2 = {norm_back_rows, &n2};
        lin_backward(mx, lin_id(Li, LIN_GU), a->dln, g.wgu + l * 2 * F * C, a->dgu, ln2, w->wgu + l * 2 * F * C, BT,
                     (int)C, (int)(2 * F), &then2);

        // Attention: mid = x + o(attn(rope(qkv(ln1(x))))).
        lin_backward(mx, lin_id(Li, LIN_O), a->datty, g.wo + l * C * C, a->dresid, atty, w->wo + l * C * C, BT,
                     (int)C, (int)C, NULL);
        attention_backward(a->dqkv, a->att_scratch, mx ? a->att_pack : NULL, a->datty, qkv, att, pos, &rope, B, T,
                           (int)C, (int)H);
        NormBackRows n1 = {a->dresid, g.ln1 + l * C, a->dln, x, w->ln1 + l * C, ln1_rstd, (int)C};
        F32RowHook then1 = {norm_back_rows, &n1};
        lin_backward(mx, lin_id(Li, LIN_QKV), a->dln, g.wqkv + l * 3 * C * C, a->dqkv, ln1, w->wqkv + l * 3 * C * C,
                     BT, (int)C, (int)(3 * C), &then1);
    }
    embedding_backward(g.wte, a->dresid, tokens, BT, (int)C);
    return loss_sum;
}
