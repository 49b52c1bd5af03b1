// sampler.c — prefill once, decode k samples together with a shared-prompt KV cache.
#include "nn/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "tasks/tasks.h"
#include "util/cpu.h"
#include "util/threadpool.h"

// Scratch of one decode worker, sized for every sample (the split of rows changes as samples end).
typedef struct {
    float *x, *ln, *rstd, *qkv, *q, *atty, *mid, *gu, *h, *tmp, *logits, *scores; // see sampler_create
    double *probs;
    int *order;
} DecodeScratch;

// The model's weights packed for decoding (matmul_packed_forward), one buffer.
typedef struct {
    float *buf;
    size_t qkv, wo, gu, down, head; // offsets of layer 0's matrices / the head
    size_t layer;                   // floats per layer
    int avx512;                     // the CPU runs matmul_packed_forward's AVX-512 blocks
} Packed;

struct Sampler {
    const Model *m;
    Packed pk;
    int max_prompt, max_new, max_samples;
    Activations prefill;  // (1, max_prompt)
    float *kp, *vp;       // (L, max_prompt, C) the shared prompt's keys (rotated) and values
    float *kg, *vg;       // (L, max_samples, max_new, C) each slot's own keys and values
    ThreadPool *pool;
    DecodeScratch *ws;    // one per thread
    // Slots 0..n_active-1 are the samples still running; slot_sample maps a slot to its sample.
    int *slot_sample;     // (max_samples,)
    int *cur;             // (max_samples,) the token each slot feeds next
    Rng *rng;             // (max_samples,) per sample
    // per-step values for the workers
    int stop_at_eos;
    int P, g, n_active;
    float temperature, top_p;
    SampleOut *out;
};

static void pack_model(Packed *pk, const Model *m) {
    const ModelConfig *c = &m->cfg;
    int C = c->d_model, F = c->d_ff, V = c->vocab_size;
    pk->qkv = 0;
    pk->wo = pk->qkv + packed_weight_floats(C, 3 * C);
    pk->gu = pk->wo + packed_weight_floats(C, C);
    pk->down = pk->gu + packed_weight_floats(C, 2 * F);
    pk->layer = pk->down + packed_weight_floats(F, C);
    pk->head = pk->layer * (size_t)c->n_layer;
    pk->buf = xmalloc_aligned((pk->head + packed_weight_floats(C, V)) * sizeof(float));
    size_t Cs = (size_t)C, Fs = (size_t)F;
    for (size_t l = 0; l < (size_t)c->n_layer; l++) {
        float *b = pk->buf + l * pk->layer;
        pack_weight(b + pk->qkv, m->w.wqkv + l * 3 * Cs * Cs, C, 3 * C);
        pack_weight(b + pk->wo, m->w.wo + l * Cs * Cs, C, C);
        pack_weight(b + pk->gu, m->w.wgu + l * 2 * Fs * Cs, C, 2 * F);
        pack_weight(b + pk->down, m->w.wdown + l * Cs * Fs, F, C);
    }
    pack_weight(pk->buf + pk->head, m->w.lm_head, C, V);
}

Sampler *sampler_create(const Model *m, int max_prompt, int max_new, int max_samples, int threads) {
    const ModelConfig *c = &m->cfg;
    Sampler *s = xcalloc(1, sizeof *s);
    size_t L = (size_t)c->n_layer, C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    size_t S = (size_t)max_samples, G = (size_t)max_new;
    s->m = m;
    pack_model(&s->pk, m);
    s->pk.avx512 = cpu_info()->avx512;
    s->max_prompt = max_prompt;
    s->max_new = max_new;
    s->max_samples = max_samples;
    acts_build(&s->prefill, c, 1, max_prompt);
    s->kp = xmalloc_aligned(L * (size_t)max_prompt * C * sizeof(float));
    s->vp = xmalloc_aligned(L * (size_t)max_prompt * C * sizeof(float));
    s->kg = xmalloc_aligned(L * S * G * C * sizeof(float));
    s->vg = xmalloc_aligned(L * S * G * C * sizeof(float));
    int n_threads = MAX(1, MIN(threads, max_samples));
    s->pool = pool_create(n_threads);
    s->ws = xcalloc((size_t)n_threads, sizeof(DecodeScratch));
    for (int t = 0; t < n_threads; t++) {
        DecodeScratch *w = &s->ws[t];
        w->x = xmalloc_aligned(S * C * sizeof(float));      // (S, C)
        w->ln = xmalloc_aligned(S * C * sizeof(float));     // (S, C)
        w->rstd = xmalloc_aligned(S * sizeof(float));       // (S,)
        w->qkv = xmalloc_aligned(S * 3 * C * sizeof(float)); // (S, 3C)
        w->q = xmalloc_aligned(S * C * sizeof(float));      // (S, C)
        w->atty = xmalloc_aligned(S * C * sizeof(float));   // (S, C)
        w->mid = xmalloc_aligned(S * C * sizeof(float));    // (S, C)
        w->gu = xmalloc_aligned(S * 2 * F * sizeof(float)); // (S, 2F)
        w->h = xmalloc_aligned(S * F * sizeof(float));      // (S, F)
        w->tmp = xmalloc_aligned(S * C * sizeof(float));    // (S, C)
        w->logits = xmalloc_aligned(S * V * sizeof(float)); // (S, V)
        w->scores = xmalloc_aligned(S * ((size_t)max_prompt + G) * sizeof(float)); // (S, P + G)
        w->probs = xmalloc_aligned(V * sizeof(double));
        w->order = xmalloc_aligned(V * sizeof(int));
    }
    s->slot_sample = xcalloc(S, sizeof(int));
    s->cur = xcalloc(S, sizeof(int));
    s->rng = xcalloc(S, sizeof(Rng));
    s->stop_at_eos = 1;
    return s;
}

void sampler_free(Sampler *s) {
    if (!s) return;
    for (int t = 0; t < pool_size(s->pool); t++) {
        DecodeScratch *w = &s->ws[t];
        float *bufs[] = {w->x, w->ln, w->rstd, w->qkv, w->q, w->atty, w->mid, w->gu, w->h, w->tmp, w->logits, w->scores};
        for (size_t i = 0; i < ARRAY_LEN(bufs); i++) free(bufs[i]);
        free(w->probs);
        free(w->order);
    }
    pool_free(s->pool);
    free(s->ws);
    free(s->pk.buf);
    acts_free(&s->prefill);
    free(s->kp);
    free(s->vp);
    free(s->kg);
    free(s->vg);
    free(s->slot_sample);
    free(s->cur);
    free(s->rng);
    free(s);
}

void sampler_set_stop_at_eos(Sampler *s, int stop) { s->stop_at_eos = stop; }

void sample_out_alloc(SampleOut *o, int max_samples, int max_new) {
    memset(o, 0, sizeof *o);
    o->tokens = xcalloc((size_t)max_samples * (size_t)max_new, sizeof(int));
    o->n_tokens = xcalloc((size_t)max_samples, sizeof(int));
    o->hit_eos = xcalloc((size_t)max_samples, sizeof(int));
    o->logprob = xcalloc((size_t)max_samples, sizeof(double));
}

void sample_out_free(SampleOut *o) {
    free(o->tokens);
    free(o->n_tokens);
    free(o->hit_eos);
    free(o->logprob);
    memset(o, 0, sizeof *o);
}

// ---------------------------------------------------------------------------------------------
static int cmp_prob_desc(const void *a, const void *b, void *ctx) {
    const double *p = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (p[i] != p[j]) return p[i] > p[j] ? -1 : 1;
    return i - j; // ties: lower id first, so the order is deterministic
}

int sample_token(const float *logits, int V, float temperature, float top_p, Rng *rng, double *logprob,
                 double *probs, int *order) {
    double mx = logits[0];
    for (int i = 1; i < V; i++) mx = fmax(mx, logits[i]);
    double z1 = 0, zt = 0;
    for (int i = 0; i < V; i++) {
        probs[i] = exp(((double)logits[i] - mx) / temperature);
        zt += probs[i];
    }
    if (temperature == 1.0f)
        z1 = zt;
    else
        for (int i = 0; i < V; i++) z1 += exp((double)logits[i] - mx);
    double kept = zt;
    int n_keep = V;
    if (top_p < 1.0f) {
        // Nucleus: the smallest set of most probable tokens whose mass reaches top_p.
        for (int i = 0; i < V; i++) order[i] = i;
        qsort_r(order, (size_t)V, sizeof(int), cmp_prob_desc, probs);
        double cum = 0;
        for (n_keep = 0; n_keep < V;) {
            cum += probs[order[n_keep++]];
            if (cum >= top_p * zt) break;
        }
        kept = cum;
    }
    double u = rng_uniform(rng) * kept, acc = 0;
    int tok = -1;
    for (int r = 0; r < n_keep; r++) {
        int i = top_p < 1.0f ? order[r] : r;
        if (probs[i] <= 0) continue;
        tok = i;
        acc += probs[i];
        if (u < acc) break;
    }
    if (tok < 0) tok = 0;
    *logprob = (double)logits[tok] - mx - log(z1);
    return tok;
}

// ---------------------------------------------------------------------------------------------
static void prefill(Sampler *s, const int *prompt, int P) {
    const Model *m = s->m;
    const ModelConfig *c = &m->cfg;
    size_t C = (size_t)c->d_model, L = (size_t)c->n_layer;
    Activations *a = &s->prefill;
    model_forward_hidden(m, a, prompt, NULL, 1, P);
    // Keep each layer's rotated keys and values: qkv rows are [q | k | v].
    for (size_t l = 0; l < L; l++) {
        const float *qkv = a->qkv + l * (size_t)P * 3 * C;
        float *kp = s->kp + l * (size_t)s->max_prompt * C, *vp = s->vp + l * (size_t)s->max_prompt * C;
        for (int p = 0; p < P; p++) {
            memcpy(kp + (size_t)p * C, qkv + (size_t)p * 3 * C + C, C * sizeof(float));
            memcpy(vp + (size_t)p * C, qkv + (size_t)p * 3 * C + 2 * C, C * sizeof(float));
        }
    }
}

// Sample the next token of slots [lo, hi) from their logits rows.
static void sample_slots(Sampler *s, DecodeScratch *w, const float *logits, int lo, int hi) {
    int V = s->m->cfg.vocab_size;
    SampleOut *o = s->out;
    for (int slot = lo; slot < hi; slot++) {
        int sm = s->slot_sample[slot];
        double lp;
        int tok = sample_token(logits + (size_t)(slot - lo) * V, V, s->temperature, s->top_p, &s->rng[sm], &lp,
                               w->probs, w->order);
        o->tokens[(size_t)sm * (size_t)s->max_new + (size_t)o->n_tokens[sm]] = tok;
        o->n_tokens[sm]++;
        o->logprob[sm] += lp;
        if (tok == TOKEN_EOS && s->stop_at_eos) o->hit_eos[sm] = 1;
        s->cur[slot] = tok;
    }
}

// One decode step for slots [lo, hi): feed cur at position P + g, write the cache at g, sample.
static void decode_worker(void *ctx, int tid, int n_threads) {
    Sampler *s = ctx;
    const Model *m = s->m;
    const ModelConfig *c = &m->cfg;
    const ParamViews *wt = &m->w;
    DecodeScratch *w = &s->ws[tid];
    long lo, hi;
    split_range(s->n_active, n_threads, tid, &lo, &hi);
    size_t n = (size_t)(hi - lo);
    if (n == 0) return;
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->n_head, hd = C / H;
    size_t G = (size_t)s->max_new, Pmax = (size_t)s->max_prompt;
    int pos = s->P + s->g;
    embedding_forward(w->x, s->cur + lo, wt->wte, n, (int)C);
    for (size_t l = 0; l < (size_t)c->n_layer; l++) {
        const float *pl = s->pk.buf + l * s->pk.layer;
        float *kg = s->kg + (l * (size_t)s->max_samples + (size_t)lo) * G * C; // (n, G, C)
        float *vg = s->vg + (l * (size_t)s->max_samples + (size_t)lo) * G * C;
        rmsnorm_forward(w->ln, w->rstd, w->x, wt->ln1 + l * C, n, (int)C, c->norm_eps);
        matmul_packed_forward(w->qkv, w->ln, pl + s->pk.qkv, n, (int)C, (int)(3 * C), s->pk.avx512);
        rope_forward(w->qkv, m->rope_cos, m->rope_sin, NULL, n, 1, pos, (int)H, (int)hd, (int)(3 * C));
        rope_forward(w->qkv + C, m->rope_cos, m->rope_sin, NULL, n, 1, pos, (int)H, (int)hd, (int)(3 * C));
        for (size_t r = 0; r < n; r++) {
            const float *row = w->qkv + r * 3 * C;
            memcpy(w->q + r * C, row, C * sizeof(float));
            memcpy(kg + (r * G + (size_t)s->g) * C, row + C, C * sizeof(float));
            memcpy(vg + (r * G + (size_t)s->g) * C, row + 2 * C, C * sizeof(float));
        }
        attention_decode(w->atty, w->scores, w->q, s->kp + l * Pmax * C, s->vp + l * Pmax * C, kg, vg, n, s->P,
                         s->g + 1, (int)G, (int)C, (int)H);
        matmul_packed_forward(w->mid, w->atty, pl + s->pk.wo, n, (int)C, (int)C, s->pk.avx512);
        residual_forward(w->mid, w->mid, w->x, n * C);
        rmsnorm_forward(w->ln, w->rstd, w->mid, wt->ln2 + l * C, n, (int)C, c->norm_eps);
        matmul_packed_forward(w->gu, w->ln, pl + s->pk.gu, n, (int)C, (int)(2 * F), s->pk.avx512);
        swiglu_forward(w->h, w->gu, n, (int)F);
        matmul_packed_forward(w->tmp, w->h, pl + s->pk.down, n, (int)F, (int)C, s->pk.avx512);
        residual_forward(w->x, w->tmp, w->mid, n * C);
    }
    rmsnorm_forward(w->ln, w->rstd, w->x, wt->lnf, n, (int)C, c->norm_eps);
    matmul_packed_forward(w->logits, w->ln, s->pk.buf + s->pk.head, n, (int)C, c->vocab_size, s->pk.avx512);
    sample_slots(s, w, w->logits, (int)lo, (int)hi);
}

// Move slot `from` into slot `to` (its cache rows for positions < g+1 and its state).
static void move_slot(Sampler *s, int from, int to) {
    const ModelConfig *c = &s->m->cfg;
    size_t C = (size_t)c->d_model, G = (size_t)s->max_new, len = (size_t)(s->g + 1) * C;
    for (size_t l = 0; l < (size_t)c->n_layer; l++) {
        float *kb = s->kg + l * (size_t)s->max_samples * G * C, *vb = s->vg + l * (size_t)s->max_samples * G * C;
        memcpy(kb + (size_t)to * G * C, kb + (size_t)from * G * C, len * sizeof(float));
        memcpy(vb + (size_t)to * G * C, vb + (size_t)from * G * C, len * sizeof(float));
    }
    s->slot_sample[to] = s->slot_sample[from];
    s->cur[to] = s->cur[from];
}

// Drop finished samples, keeping the active ones in slots 0..n_active-1.
static void compact(Sampler *s) {
    for (int slot = 0; slot < s->n_active;) {
        int sm = s->slot_sample[slot];
        if (s->out->hit_eos[sm] || s->out->n_tokens[sm] >= s->max_new) {
            if (slot != s->n_active - 1) move_slot(s, s->n_active - 1, slot);
            s->n_active--;
        } else {
            slot++;
        }
    }
}

void sampler_run(Sampler *s, const int *prompt, int P, int S, const uint64_t *seeds, float temperature,
                 float top_p, SampleOut *out) {
    const ModelConfig *c = &s->m->cfg;
    int V = c->vocab_size;
    s->P = P;
    s->temperature = temperature;
    s->top_p = top_p;
    s->out = out;
    out->flops = prefill_flops(c, P);
    out->gen_tokens = 0;
    for (int i = 0; i < S; i++) {
        rng_seed(&s->rng[i], seeds[i]);
        s->slot_sample[i] = i;
        out->n_tokens[i] = 0;
        out->hit_eos[i] = 0;
        out->logprob[i] = 0;
    }
    prefill(s, prompt, P);
    // The head at the last prompt position gives every sample's first token.
    float *logits0 = s->ws[0].logits;
    const float *last = s->prefill.lnf + (size_t)(P - 1) * (size_t)c->d_model;
    matmul_packed_forward(logits0, last, s->pk.buf + s->pk.head, 1, c->d_model, V, s->pk.avx512);
    for (int i = 1; i < S; i++) memcpy(logits0 + (size_t)i * V, logits0, (size_t)V * sizeof(float));
    s->n_active = S;
    s->g = 0;
    sample_slots(s, &s->ws[0], logits0, 0, S);
    for (s->g = 0;; s->g++) {
        compact(s);
        if (s->n_active == 0) break;
        for (int slot = 0; slot < s->n_active; slot++) out->flops += decode_token_flops(c, P + s->g);
        pool_run(s->pool, decode_worker, s);
    }
    for (int i = 0; i < S; i++) out->gen_tokens += out->n_tokens[i];
}
