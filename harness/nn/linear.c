// linear.c — the linear layers of a training step: path choice, the weights each path reads, and
// the products of t2's own paths (float32 AVX-512 and bf16 AVX512-BF16). oneDNN's path lives in
// linear_onednn.c.
//
// For a weight W (OC, IC) and n token rows:
//   forward   out (n, OC)  = x·Wᵀ (+ residual)
//   backward  dx (n, IC)   = dout·W,   dW (OC, IC) += doutᵀ·x
// t2-avx512 (float32): W packed once per step for the forward; dx reads W in place, dW reads
// dout and x in place. The residual add and SwiGLU (forward, and backward through the down
// projection's dx) happen on the product tiles.
// t2-avx512bf16: forward A = x as bf16 rows, B = W packed (N = OC, K = IC); dx: A = dout as bf16
// rows, B = W packed (N = IC, K = OC); dW: A = dout as pairs of rows, B = x packed (N = IC, K = n).
// Both packings of W are made once per step; activations are converted in the worker's scratch.
// SwiGLU runs on the gate-up product's tiles (forward) and on the down product's dx tiles
// (backward), which write h and dgu in bf16 for the product that follows, so no float32 pass
// over the (n, F) and (n, 2F) activations remains between them.
#include "nn/linear.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "nn/linear_impl.h"
#include "util/cpu.h"
#include "util/threadpool.h"
#include "util/util.h"

const char *precision_name(Precision p) { return p == PRECISION_BF16 ? "bf16" : "float32"; }

int precision_parse(const char *s, Precision *out) {
    if (strcmp(s, "float32") == 0) {
        *out = PRECISION_FLOAT32;
        return 0;
    }
    if (strcmp(s, "bf16") == 0) {
        *out = PRECISION_BF16;
        return 0;
    }
    return -1;
}

static const char *cpu_name(const CpuInfo *cpu) { return cpu->brand[0] ? cpu->brand : cpu->vendor; }

// T2_F32_GEMM / T2_BF16_GEMM: "" (not set), or one of two names.
static int forced(const char *var, const char *a, const char *b, int *which) {
    const char *v = getenv(var);
    *which = 0;
    if (!v || !*v) return 0;
    if (strcmp(v, a) == 0) {
        *which = 1;
    } else if (strcmp(v, b) == 0) {
        *which = 2;
    } else {
        err_set("%s: expected %s or %s, got '%s'", var, a, b, v);
        return -1;
    }
    return 0;
}

int gemm_path_for(Precision p, GemmPath *out) {
    const CpuInfo *cpu = cpu_info();
    int which;
    *out = GEMM_SGEMM;
    if (p == PRECISION_FLOAT32) {
        if (forced("T2_F32_GEMM", "t2", "openblas", &which) != 0) return -1;
        if (which == 2) return 0;
        if (T2_F32_KERNELS && cpu->avx512) {
            *out = GEMM_T2_F32;
        } else if (which == 1) {
            err_set("T2_F32_GEMM=t2 needs a CPU with AVX-512; this one (%s) lacks it", cpu_name(cpu));
            return -1;
        }
        return 0;
    }
    if (!T2_BF16_KERNELS || !cpu->avx512_bf16) {
        err_set("precision bf16 needs a CPU with AVX512_BF16 (Intel Cooper Lake or Sapphire Rapids and later, "
                "AMD Zen 4 and later); this one (%s) lacks it: use precision float32",
                cpu_name(cpu));
        return -1;
    }
    if (forced("T2_BF16_GEMM", "t2", "onednn", &which) != 0) return -1;
    // AMX tiles (through oneDNN) where the kernel lets this process use them; else t2's kernels.
    *out = which == 1 ? GEMM_T2_BF16 : which == 2 || cpu->amx_permitted ? GEMM_ONEDNN : GEMM_T2_BF16;
    if (*out == GEMM_ONEDNN && onednn_load() != 0) {
        if (which == 2) return -1;
        *out = GEMM_T2_BF16; // no oneDNN on this machine: t2's own kernels still run
    }
    return 0;
}

const char *gemm_path_name(GemmPath g) {
    switch (g) {
    case GEMM_T2_F32:
        return "t2-avx512";
    case GEMM_T2_BF16:
        return "t2-avx512bf16";
    case GEMM_ONEDNN:
        return onednn_name();
    default:
        return "openblas-sgemm";
    }
}

// ---------------------------------------------------------------------------------------------
static size_t even(size_t n) { return (n + 1) / 2 * 2; }

// Elements of each copy of a weight the path keeps (fwd, bwd), and their size.
static void copy_sizes(GemmPath path, const LinearWeight *L, size_t *fwd, size_t *bwd, size_t *elem) {
    switch (path) {
    case GEMM_T2_F32:
        *fwd = f32_panels_size(L->OC, L->IC);
        *bwd = 0;
        *elem = sizeof(float);
        break;
    case GEMM_ONEDNN: // one plain bf16 copy serves both products
        *fwd = (size_t)L->OC * (size_t)L->IC;
        *bwd = 0;
        *elem = sizeof(bf16);
        break;
    default:
        *fwd = bf16_panels_size(L->OC, L->IC);
        *bwd = bf16_panels_size(L->IC, L->OC);
        *elem = sizeof(bf16);
    }
}

// The weights of n linear layers, lin[i] giving w, IC, OC and swiglu.
static LinearWeights *weights_create(LinearWeight *lin, int n, GemmPath path) {
    LinearWeights *lw = xcalloc(1, sizeof *lw);
    lw->path = path;
    lw->n = n;
    lw->lin = lin;
    for (int i = 0; i < lw->n; i++) {
        LinearWeight *L = &lw->lin[i];
        size_t fwd, bwd, elem;
        copy_sizes(path, L, &fwd, &bwd, &elem);
        L->fwd = xmalloc_aligned(fwd * elem);
        L->bwd = bwd ? xmalloc_aligned(bwd * elem) : NULL;
        lw->bytes += (fwd + bwd) * elem;
        lw->max_in = MAX(lw->max_in, L->IC);
        lw->max_out = MAX(lw->max_out, L->OC);
    }
    return lw;
}

LinearWeights *linear_weights_create(const Model *m, GemmPath path) {
    const ModelConfig *c = &m->cfg;
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff;
    int n = lin_head(c) + 1, glu = path == GEMM_T2_F32 || path == GEMM_T2_BF16;
    LinearWeight *lin = xcalloc((size_t)n, sizeof(LinearWeight));
    for (int l = 0; l < c->n_layer; l++) {
        lin[lin_id(l, LIN_QKV)] = (LinearWeight){m->w.wqkv + (size_t)l * 3 * C * C, (int)C, (int)(3 * C), 0, 0, 0};
        lin[lin_id(l, LIN_O)] = (LinearWeight){m->w.wo + (size_t)l * C * C, (int)C, (int)C, 0, 0, 0};
        lin[lin_id(l, LIN_GU)] = (LinearWeight){m->w.wgu + (size_t)l * 2 * F * C, (int)C, (int)(2 * F), glu, 0, 0};
        lin[lin_id(l, LIN_DOWN)] = (LinearWeight){m->w.wdown + (size_t)l * C * F, (int)F, (int)C, 0, 0, 0};
    }
    lin[lin_head(c)] = (LinearWeight){m->w.lm_head, (int)C, c->vocab_size, 0, 0, 0};
    return weights_create(lin, n, path);
}

void linear_weights_free(LinearWeights *lw) {
    if (!lw) return;
    for (int i = 0; i < lw->n; i++) {
        free(lw->lin[i].fwd);
        free(lw->lin[i].bwd);
    }
    free(lw->lin);
    free(lw);
}

size_t linear_weights_bytes(const LinearWeights *lw) { return lw ? lw->bytes : 0; }

// Panels (of 32 rows or columns, 16 gate-up pairs for SwiGLU) are split between the threads;
// the values do not depend on the split.
static void refresh_one(GemmPath path, const LinearWeight *L, int tid, int n_threads) {
    long lo, hi;
    if (path == GEMM_ONEDNN) {
        split_range(L->OC, n_threads, tid, &lo, &hi);
        bf16_from_rows((bf16 *)L->fwd + (size_t)lo * L->IC, (size_t)L->IC, L->w + (size_t)lo * L->IC, (size_t)L->IC,
                       (size_t)(hi - lo), L->IC);
        return;
    }
    if (path == GEMM_T2_F32) {
        float *fwd = L->fwd;
        size_t panel = f32_panels_size(32, L->IC);
        if (L->swiglu) { // panels of 16 gate rows and the 16 matching up rows
            int F = L->OC / 2;
            split_range((F + 15) / 16, n_threads, tid, &lo, &hi);
            if (hi > lo)
                f32_pack_nk_pairs(fwd + (size_t)lo * panel, L->w + (size_t)lo * 16 * L->IC, (size_t)L->IC,
                                  MIN(F - (int)lo * 16, (int)(hi - lo) * 16), L->IC, (size_t)F);
            return;
        }
        split_range((L->OC + 31) / 32, n_threads, tid, &lo, &hi);
        if (hi > lo)
            f32_pack_nk(fwd + (size_t)lo * panel, L->w + (size_t)lo * 32 * L->IC, (size_t)L->IC,
                        MIN(L->OC - (int)lo * 32, (int)(hi - lo) * 32), L->IC);
        return;
    }
    size_t fwd_panel = bf16_panels_size(32, L->IC), bwd_panel = bf16_panels_size(32, L->OC);
    split_range((L->OC + 31) / 32, n_threads, tid, &lo, &hi);
    if (L->swiglu) { // panels of 16 gate rows and the 16 matching up rows
        int F = L->OC / 2;
        split_range((F + 15) / 16, n_threads, tid, &lo, &hi);
        if (hi > lo)
            bf16_pack_nk_pairs((bf16 *)L->fwd + (size_t)lo * fwd_panel, L->w + (size_t)lo * 16 * L->IC, (size_t)L->IC,
                               MIN(F - (int)lo * 16, (int)(hi - lo) * 16), L->IC, (size_t)F);
    } else if (hi > lo)
        bf16_pack_nk((bf16 *)L->fwd + (size_t)lo * fwd_panel, L->w + (size_t)lo * 32 * L->IC, (size_t)L->IC,
                     MIN(L->OC - (int)lo * 32, (int)(hi - lo) * 32), L->IC);
    split_range((L->IC + 31) / 32, n_threads, tid, &lo, &hi);
    if (hi > lo)
        bf16_pack_kn((bf16 *)L->bwd + (size_t)lo * bwd_panel, L->w + (size_t)lo * 32, (size_t)L->IC, L->OC,
                     MIN(L->IC - (int)lo * 32, (int)(hi - lo) * 32));
}

void linear_refresh(LinearWeights *lw, int tid, int n_threads) {
    for (int i = 0; i < lw->n; i++) refresh_one(lw->path, &lw->lin[i], tid, n_threads);
}

// ---------------------------------------------------------------------------------------------
LinearWorker *linear_worker_create(const LinearWeights *lw, size_t max_rows) {
    LinearWorker *w = xcalloc(1, sizeof *w);
    w->lw = lw;
    w->rows = max_rows;
    if (lw->path == GEMM_T2_F32) return w; // every operand is read in place
    size_t widest = even((size_t)MAX(lw->max_in, lw->max_out));
    size_t a = even(max_rows) * widest, b = 0;
    for (int i = 0; i < lw->n; i++) b = MAX(b, bf16_panels_size(lw->lin[i].IC, (int)max_rows));
    if (lw->path == GEMM_ONEDNN) b = even(max_rows) * even((size_t)lw->max_in);
    w->a = xmalloc_aligned(a * sizeof(bf16));
    w->b = xmalloc_aligned(b * sizeof(bf16));
    w->bytes = (a + b) * sizeof(bf16);
    size_t F = 0;
    for (int i = 0; i < lw->n; i++)
        if (lw->lin[i].swiglu) F = MAX(F, (size_t)lw->lin[i].OC / 2);
    if (lw->path == GEMM_T2_BF16) { // dpairs: every product's dout as pairs
        size_t hb = max_rows * even(F), dr = max_rows * 2 * F, dp = even(max_rows) * MAX(2 * F, widest);
        w->ldhb = even(F);
        w->hb = xmalloc_aligned(hb * sizeof(bf16));
        memset(w->hb, 0, hb * sizeof(bf16)); // the padding column of an odd F stays zero
        w->drows = xmalloc_aligned(dr * sizeof(bf16));
        w->dpairs = xmalloc_aligned(dp * sizeof(bf16));
        w->bytes += (hb + dr + dp) * sizeof(bf16);
    }
    if (lw->path == GEMM_ONEDNN && onednn_worker_init(w) != 0) {
        linear_worker_free(w);
        return NULL;
    }
    return w;
}

void linear_worker_free(LinearWorker *w) {
    if (!w) return;
    onednn_worker_free(w);
    free(w->a);
    free(w->b);
    free(w->hb);
    free(w->drows);
    free(w->dpairs);
    free(w);
}

size_t linear_worker_bytes(const LinearWorker *w) { return w ? w->bytes : 0; }

// The bf16 product out = x·Wᵀ.
// The bf16 product out = x·Wᵀ (+ add), then `then`; x's bf16 rows are the ones
// linear_forward_swiglu staged when x is h.
static void bf16_forward(LinearWorker *w, int id, float *out, const float *x, const float *add, size_t n,
                         const F32RowHook *then) {
    const LinearWeight *L = &w->lw->lin[id];
    size_t lda = even((size_t)L->IC), OC = (size_t)L->OC;
    const float *staged = w->h_staged;
    w->h_staged = NULL;
    if (w->lw->path == GEMM_ONEDNN) {
        bf16_from_rows(w->a, lda, x, (size_t)L->IC, n, L->IC);
        onednn_forward(w, id, out, n);
        if (add) residual_forward(out, out, add, n * OC);
        if (then) then->fn(then->ctx, 0, (int)n);
        return;
    }
    const bf16 *a = w->a;
    if (staged == x) {
        a = w->hb, lda = w->ldhb;
    } else {
        bf16_from_rows(w->a, lda, x, (size_t)L->IC, n, L->IC);
    }
    bf16_gemm_hook(out, OC, a, lda / 2, 1, L->fwd, (int)n, L->OC, L->IC, add, OC, then);
}

void linear_forward(LinearWorker *w, int id, float *out, const float *x, const float *add, size_t n,
                    const F32RowHook *then) {
    const LinearWeight *L = &w->lw->lin[id];
    if (w->lw->path == GEMM_T2_F32) {
        f32_gemm_hook(out, (size_t)L->OC, x, (size_t)L->IC, 1, L->fwd, 32, f32_panels_size(32, L->IC), (int)n, L->OC,
                      L->IC, add, (size_t)L->OC, then);
        return;
    }
    bf16_forward(w, id, out, x, add, n, then);
}

void linear_backward(LinearWorker *w, int id, float *dx, float *dw, const float *dout, const float *x, size_t n,
                     const F32RowHook *then) {
    const LinearWeight *L = &w->lw->lin[id];
    size_t IC = (size_t)L->IC, OC = (size_t)L->OC, ldo = even(OC);
    const float *staged = w->d_staged;
    w->d_staged = NULL;
    w->h_staged = NULL;
    switch (w->lw->path) {
    case GEMM_T2_F32:
        // dx = dout·W with W (OC, IC) as B (K = OC, N = IC) in place; dW += doutᵀ·x, doutᵀ read
        // down dout's columns and x as B (K = n, N = IC) in place.
        if (dx) f32_gemm_hook(dx, IC, dout, OC, 1, L->w, IC, 32, (int)n, L->IC, L->OC, NULL, 0, then);
        f32_gemm(dw, IC, dout, 1, OC, x, IC, 32, L->OC, L->IC, (int)n, dw, IC);
        return;
    case GEMM_ONEDNN:
        bf16_from_rows(w->a, ldo, dout, OC, n, L->OC);
        bf16_from_rows(w->b, even(IC), x, IC, n, L->IC);
        onednn_backward(w, id, dx, dw, n);
        if (dx && then) then->fn(then->ctx, 0, (int)n);
        return;
    default:
        break;
    }
    // t2-avx512bf16: dout as bf16 rows (dx's A) and pairs (dW's A), converted here in one pass or
    // staged by linear_backward_swiglu (dgu: OC = 2F is even).
    const bf16 *rows = w->drows, *pairs = w->dpairs;
    size_t ldr = OC;
    if (staged != dout) {
        ldr = ldo;
        rows = w->a;
        if (dx)
            bf16_rows_and_pairs(w->a, ldo, w->dpairs, OC, dout, OC, (int)n, L->OC);
        else
            bf16_pairs_from_rows(w->dpairs, OC, dout, OC, (int)n, L->OC);
    }
    if (dx) bf16_gemm_hook(dx, IC, rows, ldr / 2, 1, L->bwd, (int)n, L->IC, L->OC, NULL, 0, then);
    bf16_pack_kn(w->b, x, IC, (int)n, L->IC);
    bf16_gemm(dw, IC, pairs, 1, OC, w->b, L->OC, L->IC, (int)n, 1);
}

void linear_forward_swiglu(LinearWorker *w, int id_gu, float *gu, float *h, const float *x, size_t n) {
    const LinearWeight *L = &w->lw->lin[id_gu];
    int F = L->OC / 2;
    if (w->lw->path == GEMM_T2_F32) {
        f32_gemm_swiglu(gu, h, x, (size_t)L->IC, 1, L->fwd, (int)n, F, L->IC);
        return;
    }
    if (w->lw->path == GEMM_T2_BF16) {
        size_t lda = even((size_t)L->IC);
        bf16_from_rows(w->a, lda, x, (size_t)L->IC, n, L->IC);
        bf16_gemm_swiglu(gu, h, w->hb, w->ldhb, w->a, lda / 2, 1, L->fwd, (int)n, F, L->IC);
        w->h_staged = h;
        return;
    }
    bf16_forward(w, id_gu, gu, x, NULL, n, NULL);
    swiglu_forward(h, gu, n, F);
}

void linear_backward_swiglu(LinearWorker *w, int id_down, float *dgu, float *dw_down, float *dh, const float *dout,
                            const float *h, const float *gu, size_t n) {
    const LinearWeight *L = &w->lw->lin[id_down];
    size_t F = (size_t)L->IC, C = (size_t)L->OC;
    if (w->lw->path == GEMM_T2_F32) {
        f32_gemm_swiglu_backward(dgu, gu, dout, C, 1, L->w, F, 32, (int)n, (int)F, (int)C);
        f32_gemm(dw_down, F, dout, 1, C, h, F, 32, (int)C, (int)F, (int)n, dw_down, F);
        return;
    }
    if (w->lw->path == GEMM_T2_BF16) {
        // dgu straight to bf16 (rows and pairs) for the gate-up product's backward, which follows.
        // dW_down first: its A (dout's pairs) shares dpairs with what the dx epilogue stages.
        size_t ldo = even(C);
        w->d_staged = w->h_staged = NULL;
        bf16_rows_and_pairs(w->a, ldo, w->dpairs, C, dout, C, (int)n, (int)C);
        bf16_pack_kn(w->b, h, F, (int)n, (int)F);
        bf16_gemm(dw_down, F, w->dpairs, 1, C, w->b, (int)C, (int)F, (int)n, 1);
        bf16_gemm_swiglu_backward(w->drows, 2 * F, w->dpairs, 2 * F, gu, w->a, ldo / 2, 1, L->bwd, (int)n, (int)F,
                                  (int)C);
        w->d_staged = dgu;
        return;
    }
    linear_backward(w, id_down, dh, dw_down, dout, h, n, NULL);
    swiglu_backward(dgu, dh, gu, n, (int)F);
}

// ---------------------------------------------------------------------------------------------
// The peak of a path: products (m, k)·(n, k)ᵀ from operands already in its format, one per thread.
typedef struct {
    LinearWorker **workers;
    float **out;
    const float *x;
    int m, inner;
} PeakCtx;

// The product alone, its A operand (x) already in place: in w->a for bf16, in x for float32.
static void product(LinearWorker *w, int id, float *out, const float *x, size_t n) {
    const LinearWeight *L = &w->lw->lin[id];
    if (w->lw->path == GEMM_ONEDNN)
        onednn_forward(w, id, out, n);
    else if (w->lw->path == GEMM_T2_F32)
        f32_gemm(out, (size_t)L->OC, x, (size_t)L->IC, 1, L->fwd, 32, f32_panels_size(32, L->IC), (int)n, L->OC, L->IC,
                 NULL, 0);
    else
        bf16_gemm(out, (size_t)L->OC, w->a, even((size_t)L->IC) / 2, 1, L->fwd, (int)n, L->OC, L->IC, 0);
}

static void peak_worker(void *ctx, int tid, int n_threads) {
    (void)n_threads;
    PeakCtx *p = ctx;
    for (int i = 0; i < p->inner; i++) product(p->workers[tid], 0, p->out[tid], p->x, (size_t)p->m);
}

double linear_gemm_gflops(GemmPath path, int m, int n, int k, int threads, int reps) {
    float *w = xmalloc_aligned((size_t)n * (size_t)k * sizeof(float));
    float *x = xmalloc_aligned((size_t)m * (size_t)k * sizeof(float));
    for (size_t i = 0; i < (size_t)n * (size_t)k; i++) w[i] = (float)(i % 5) * 0.1f;
    for (size_t i = 0; i < (size_t)m * (size_t)k; i++) x[i] = (float)(i % 7) * 0.1f;
    LinearWeight *lin = xcalloc(1, sizeof *lin);
    *lin = (LinearWeight){w, k, n, 0, 0, 0};
    LinearWeights *mw = weights_create(lin, 1, path);
    linear_refresh(mw, 0, 1);
    PeakCtx p = {xcalloc((size_t)threads, sizeof(LinearWorker *)), xcalloc((size_t)threads, sizeof(float *)), x, m, 1};
    double best = -1, flops = 2.0 * m * n * k;
    for (int t = 0; t < threads; t++) {
        if (!(p.workers[t] = linear_worker_create(mw, (size_t)m))) goto out;
        if (p.workers[t]->a) bf16_from_rows(p.workers[t]->a, even((size_t)k), x, (size_t)k, (size_t)m, k);
        p.out[t] = xmalloc_aligned((size_t)m * (size_t)n * sizeof(float));
    }
    ThreadPool *pool = pool_create(threads);
    pool_run(pool, peak_worker, &p); // warm-up
    // Enough products per timing to last ~20 ms.
    p.inner = (int)MAX(1.0, MIN(1000.0, 4e9 / flops));
    best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        pool_run(pool, peak_worker, &p);
        best = MAX(best, threads * p.inner * flops / (now_s() - t0) / 1e9);
    }
    pool_free(pool);
out:
    for (int t = 0; t < threads; t++) {
        linear_worker_free(p.workers[t]);
        free(p.out[t]);
    }
    free(p.workers);
    free(p.out);
    linear_weights_free(mw);
    free(w);
    free(x);
    return best;
}

double linear_peak_gflops(GemmPath path, int threads, int max_n) {
    double best = 0;
    for (int n = MIN(512, max_n); n <= max_n; n *= 2) best = MAX(best, linear_gemm_gflops(path, n, n, n, threads, 3));
    return best;
}
