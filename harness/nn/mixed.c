// mixed.c — bf16 linear layers: path choice, weight conversion, and t2's own AVX512-BF16 path.
// The oneDNN path lives in mixed_onednn.c.
//
// t2 path, for a weight W (OC, IC) and n token rows:
//   forward   out (n, OC)  = x·Wᵀ:     A = x as bf16 rows,           B = W packed (N = OC, K = IC)
//   backward  dx (n, IC)   = dout·W:   A = dout as bf16 rows,        B = W packed (N = IC, K = OC)
//             dW (OC, IC) += doutᵀ·x:  A = dout as pairs of rows,   B = x packed (N = IC, K = n)
// Both packings of W are made once per step by mixed_refresh; the activations are converted in
// the worker's scratch at each product.
#include "nn/mixed.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "nn/mixed_impl.h"
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

int gemm_path_for(Precision p, GemmPath *out) {
    *out = GEMM_SGEMM;
    if (p == PRECISION_FLOAT32) return 0;
    const CpuInfo *cpu = cpu_info();
    if (!T2_BF16_KERNELS || !cpu->avx512_bf16) {
        err_set("precision bf16 needs a CPU with AVX512_BF16 (Intel Cooper Lake or Sapphire Rapids and later, "
                "AMD Zen 4 and later); this one (%s) lacks it: use precision float32",
                cpu->brand[0] ? cpu->brand : cpu->vendor);
        return -1;
    }
    const char *force = getenv("T2_BF16_GEMM");
    if (force && *force) {
        if (strcmp(force, "t2") == 0) {
            *out = GEMM_T2_BF16;
        } else if (strcmp(force, "onednn") == 0) {
            *out = GEMM_ONEDNN;
        } else {
            err_set("T2_BF16_GEMM: expected t2 or onednn, got '%s'", force);
            return -1;
        }
    } else {
        // AMX tiles (through oneDNN) where the kernel lets this process use them; else t2's kernels.
        *out = cpu->amx_permitted ? GEMM_ONEDNN : GEMM_T2_BF16;
    }
    if (*out == GEMM_ONEDNN && onednn_load() != 0) {
        if (force && *force) return -1;
        *out = GEMM_T2_BF16; // no oneDNN on this machine: t2's own kernels still run
    }
    return 0;
}

const char *gemm_path_name(GemmPath g) {
    switch (g) {
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

// Bf16 copies of n linear weights, lin[i] giving w, IC and OC.
static MixedWeights *weights_create(MixedLinear *lin, int n, GemmPath path) {
    MixedWeights *mw = xcalloc(1, sizeof *mw);
    mw->path = path;
    mw->n = n;
    mw->lin = lin;
    for (int i = 0; i < mw->n; i++) {
        MixedLinear *L = &mw->lin[i];
        size_t fwd, bwd;
        if (path == GEMM_ONEDNN) { // one plain bf16 copy serves both products
            fwd = (size_t)L->OC * (size_t)L->IC;
            bwd = 0;
        } else {
            fwd = bf16_panels_size(L->OC, L->IC);
            bwd = bf16_panels_size(L->IC, L->OC);
        }
        L->fwd = xmalloc_aligned(fwd * sizeof(bf16));
        L->bwd = bwd ? xmalloc_aligned(bwd * sizeof(bf16)) : NULL;
        mw->bytes += (fwd + bwd) * sizeof(bf16);
        mw->max_in = MAX(mw->max_in, L->IC);
        mw->max_out = MAX(mw->max_out, L->OC);
    }
    return mw;
}

MixedWeights *mixed_weights_create(const Model *m, GemmPath path) {
    const ModelConfig *c = &m->cfg;
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff;
    int n = lin_head(c) + 1;
    MixedLinear *lin = xcalloc((size_t)n, sizeof(MixedLinear));
    for (int l = 0; l < c->n_layer; l++) {
        lin[lin_id(l, LIN_QKV)] = (MixedLinear){m->w.wqkv + (size_t)l * 3 * C * C, (int)C, (int)(3 * C), 0, 0};
        lin[lin_id(l, LIN_O)] = (MixedLinear){m->w.wo + (size_t)l * C * C, (int)C, (int)C, 0, 0};
        lin[lin_id(l, LIN_GU)] = (MixedLinear){m->w.wgu + (size_t)l * 2 * F * C, (int)C, (int)(2 * F), 0, 0};
        lin[lin_id(l, LIN_DOWN)] = (MixedLinear){m->w.wdown + (size_t)l * C * F, (int)F, (int)C, 0, 0};
    }
    lin[lin_head(c)] = (MixedLinear){m->w.lm_head, (int)C, c->vocab_size, 0, 0};
    return weights_create(lin, n, path);
}

void mixed_weights_free(MixedWeights *mw) {
    if (!mw) return;
    for (int i = 0; i < mw->n; i++) {
        free(mw->lin[i].fwd);
        free(mw->lin[i].bwd);
    }
    free(mw->lin);
    free(mw);
}

size_t mixed_weights_bytes(const MixedWeights *mw) { return mw ? mw->bytes : 0; }

// Panels of 32 rows (forward) and of 32 columns (backward) are split between the threads; the
// values do not depend on the split.
void mixed_refresh(MixedWeights *mw, int tid, int n_threads) {
    for (int i = 0; i < mw->n; i++) {
        const MixedLinear *L = &mw->lin[i];
        long lo, hi;
        if (mw->path == GEMM_ONEDNN) {
            split_range(L->OC, n_threads, tid, &lo, &hi);
            bf16_from_rows(L->fwd + (size_t)lo * L->IC, (size_t)L->IC, L->w + (size_t)lo * L->IC, (size_t)L->IC,
                           (size_t)(hi - lo), L->IC);
            continue;
        }
        size_t fwd_panel = bf16_panels_size(32, L->IC), bwd_panel = bf16_panels_size(32, L->OC);
        split_range((L->OC + 31) / 32, n_threads, tid, &lo, &hi);
        if (hi > lo)
            bf16_pack_nk(L->fwd + (size_t)lo * fwd_panel, L->w + (size_t)lo * 32 * L->IC, (size_t)L->IC,
                         MIN(L->OC - (int)lo * 32, (int)(hi - lo) * 32), L->IC);
        split_range((L->IC + 31) / 32, n_threads, tid, &lo, &hi);
        if (hi > lo)
            bf16_pack_kn(L->bwd + (size_t)lo * bwd_panel, L->w + (size_t)lo * 32, (size_t)L->IC, L->OC,
                         MIN(L->IC - (int)lo * 32, (int)(hi - lo) * 32));
    }
}

// ---------------------------------------------------------------------------------------------
MixedWorker *mixed_worker_create(const MixedWeights *mw, size_t max_rows) {
    MixedWorker *w = xcalloc(1, sizeof *w);
    w->mw = mw;
    w->rows = max_rows;
    size_t widest = even((size_t)MAX(mw->max_in, mw->max_out));
    size_t a = even(max_rows) * widest, b = 0;
    for (int i = 0; i < mw->n; i++) b = MAX(b, bf16_panels_size(mw->lin[i].IC, (int)max_rows));
    if (mw->path == GEMM_ONEDNN) b = even(max_rows) * even((size_t)mw->max_in);
    w->a = xmalloc_aligned(a * sizeof(bf16));
    w->b = xmalloc_aligned(b * sizeof(bf16));
    w->bytes = (a + b) * sizeof(bf16);
    if (mw->path == GEMM_ONEDNN && onednn_worker_init(w) != 0) {
        mixed_worker_free(w);
        return NULL;
    }
    return w;
}

void mixed_worker_free(MixedWorker *w) {
    if (!w) return;
    onednn_worker_free(w);
    free(w->a);
    free(w->b);
    free(w);
}

size_t mixed_worker_bytes(const MixedWorker *w) { return w ? w->bytes : 0; }

void mixed_forward(MixedWorker *w, int id, float *out, const float *x, size_t n) {
    const MixedLinear *L = &w->mw->lin[id];
    size_t lda = even((size_t)L->IC);
    bf16_from_rows(w->a, lda, x, (size_t)L->IC, n, L->IC);
    if (w->mw->path == GEMM_ONEDNN) {
        onednn_forward(w, id, out, n);
        return;
    }
    bf16_gemm(out, (size_t)L->OC, w->a, lda / 2, 1, L->fwd, (int)n, L->OC, L->IC, 0);
}

void mixed_backward(MixedWorker *w, int id, float *dx, float *dw, const float *dout, const float *x, size_t n) {
    const MixedLinear *L = &w->mw->lin[id];
    size_t ldo = even((size_t)L->OC);
    if (w->mw->path == GEMM_ONEDNN) {
        bf16_from_rows(w->a, ldo, dout, (size_t)L->OC, n, L->OC);
        bf16_from_rows(w->b, even((size_t)L->IC), x, (size_t)L->IC, n, L->IC);
        onednn_backward(w, id, dx, dw, n);
        return;
    }
    if (dx) {
        bf16_from_rows(w->a, ldo, dout, (size_t)L->OC, n, L->OC);
        bf16_gemm(dx, (size_t)L->IC, w->a, ldo / 2, 1, L->bwd, (int)n, L->IC, L->OC, 0);
    }
    bf16_pairs_from_rows(w->a, (size_t)L->OC, dout, (size_t)L->OC, (int)n, L->OC);
    bf16_pack_kn(w->b, x, (size_t)L->IC, (int)n, L->IC);
    bf16_gemm(dw, (size_t)L->IC, w->a, 1, (size_t)L->OC, w->b, L->OC, L->IC, (int)n, 1);
}

// ---------------------------------------------------------------------------------------------
// The bf16 peak: products (m, k)·(n, k)ᵀ from operands already in bf16, one per thread.
typedef struct {
    MixedWorker **workers;
    float **out;
    int m, inner;
} PeakCtx;

static void bf16_product(MixedWorker *w, int id, float *out, size_t n) {
    const MixedLinear *L = &w->mw->lin[id];
    if (w->mw->path == GEMM_ONEDNN)
        onednn_forward(w, id, out, n);
    else
        bf16_gemm(out, (size_t)L->OC, w->a, even((size_t)L->IC) / 2, 1, L->fwd, (int)n, L->OC, L->IC, 0);
}

static void peak_worker(void *ctx, int tid, int n_threads) {
    (void)n_threads;
    PeakCtx *p = ctx;
    for (int i = 0; i < p->inner; i++) bf16_product(p->workers[tid], 0, p->out[tid], (size_t)p->m);
}

double mixed_gemm_gflops(GemmPath path, int m, int n, int k, int threads, int reps) {
    float *w = xmalloc_aligned((size_t)n * (size_t)k * sizeof(float));
    float *x = xmalloc_aligned((size_t)m * (size_t)k * sizeof(float));
    for (size_t i = 0; i < (size_t)n * (size_t)k; i++) w[i] = (float)(i % 5) * 0.1f;
    for (size_t i = 0; i < (size_t)m * (size_t)k; i++) x[i] = (float)(i % 7) * 0.1f;
    MixedLinear *lin = xcalloc(1, sizeof *lin);
    *lin = (MixedLinear){w, k, n, 0, 0};
    MixedWeights *mw = weights_create(lin, 1, path);
    mixed_refresh(mw, 0, 1);
    PeakCtx p = {xcalloc((size_t)threads, sizeof(MixedWorker *)), xcalloc((size_t)threads, sizeof(float *)), m, 1};
    double best = -1, flops = 2.0 * m * n * k;
    for (int t = 0; t < threads; t++) {
        if (!(p.workers[t] = mixed_worker_create(mw, (size_t)m))) goto out;
        bf16_from_rows(p.workers[t]->a, even((size_t)k), x, (size_t)k, (size_t)m, k);
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
        mixed_worker_free(p.workers[t]);
        free(p.out[t]);
    }
    free(p.workers);
    free(p.out);
    mixed_weights_free(mw);
    free(w);
    free(x);
    return best;
}

double mixed_peak_gflops(GemmPath path, int threads) {
    double best = 0;
    for (int n = 512; n <= 2048; n *= 2) best = MAX(best, mixed_gemm_gflops(path, n, n, n, threads, 3));
    return best;
}
