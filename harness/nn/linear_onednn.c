// linear_onednn.c — the bf16 products through oneDNN's matmul primitive (AMX on Xeons that have
// it), with libdnnl.so.2 opened on first use so that float32 runs never load it or its OpenMP.
//
// Threads. Debian's oneDNN runs its own OpenMP threads. t2 already runs one worker per core, each
// on its own slice of the batch, and OpenMP's spinning threads would fight them (PyTorch lost 3×
// that way here). So every t2 worker calls oneDNN with one OpenMP thread (omp_set_num_threads is
// per calling thread) and OMP_WAIT_POLICY defaults to PASSIVE; T2_ONEDNN_THREADS=N gives each
// worker N OpenMP threads instead (for measurements; the count is part of the recorded path).
//
// Each worker creates, once, three primitives per distinct weight shape — forward, backward data
// and backward weights (with a sum post-op: dW +=) — with memory objects and one user-managed
// scratchpad, so that a step only sets data pointers and executes.
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/linear_impl.h"
#include "util/util.h"

// The oneDNN (and OpenMP) functions t2 calls, looked up in the library.
#define ONEDNN_FUNCTIONS(X)                                                                                  \
    X(dnnl_engine_create) X(dnnl_engine_destroy) X(dnnl_stream_create) X(dnnl_stream_destroy)              \
    X(dnnl_stream_wait) X(dnnl_memory_desc_init_by_strides) X(dnnl_matmul_desc_init)                       \
    X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy) X(dnnl_primitive_attr_set_scratchpad_mode) \
    X(dnnl_primitive_attr_set_post_ops) X(dnnl_post_ops_create) X(dnnl_post_ops_destroy)                   \
    X(dnnl_post_ops_append_sum) X(dnnl_primitive_desc_create) X(dnnl_primitive_desc_destroy)               \
    X(dnnl_primitive_desc_query) X(dnnl_primitive_desc_query_md) X(dnnl_memory_desc_get_size)               \
    X(dnnl_primitive_create) X(dnnl_primitive_destroy) X(dnnl_primitive_execute) X(dnnl_memory_create)      \
    X(dnnl_memory_destroy) X(dnnl_memory_set_data_handle) X(dnnl_version) X(dnnl_get_effective_cpu_isa)

static struct {
#define DECLARE(f) __typeof__(f) *f;
    ONEDNN_FUNCTIONS(DECLARE)
#undef DECLARE
    void (*omp_set_num_threads)(int);
    int (*omp_get_max_threads)(void);
    dnnl_engine_t engine;
    int threads;
    char name[96];
    char error[256];
    int status; // 0 loaded, -1 failed
} dnnl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    default:
        return "other";
    }
}

static void load(void) {
    dnnl.status = -1;
    // Read by libgomp when it loads (with libdnnl, just below); a user's own setting is kept.
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
    const char *t = getenv("T2_ONEDNN_THREADS");
    long threads = 1;
    if (t && *t && parse_int(t, 1, 1024, &threads) != 0) {
        snprintf(dnnl.error, sizeof dnnl.error, "T2_ONEDNN_THREADS: expected a thread count in [1, 1024], got '%s'",
                 t);
        return;
    }
    dnnl.threads = (int)threads;
    void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(dnnl.error, sizeof dnnl.error, "oneDNN: cannot open libdnnl.so.2 (Debian package libdnnl2): %s",
                 dlerror());
        return;
    }
#define LOOKUP(f)                                                                                              \
    if (!(*(void **)&dnnl.f = dlsym(h, #f))) {                                                                 \
        snprintf(dnnl.error, sizeof dnnl.error, "oneDNN: libdnnl.so.2 has no %s", #f);                         \
        return;                                                                                                \
    }
    ONEDNN_FUNCTIONS(LOOKUP)
#undef LOOKUP
    *(void **)&dnnl.omp_set_num_threads = dlsym(h, "omp_set_num_threads");
    *(void **)&dnnl.omp_get_max_threads = dlsym(h, "omp_get_max_threads");
    if (!dnnl.omp_set_num_threads || !dnnl.omp_get_max_threads) {
        snprintf(dnnl.error, sizeof dnnl.error, "oneDNN: libdnnl.so.2 is not the OpenMP build t2 expects");
        return;
    }
    if (dnnl.dnnl_engine_create(&dnnl.engine, dnnl_cpu, 0) != dnnl_success) {
        snprintf(dnnl.error, sizeof dnnl.error, "oneDNN: cannot create a CPU engine");
        return;
    }
    const dnnl_version_t *v = dnnl.dnnl_version();
    snprintf(dnnl.name, sizeof dnnl.name, "onednn-%d.%d.%d-%s-omp%d", v->major, v->minor, v->patch,
             isa_name(dnnl.dnnl_get_effective_cpu_isa()), dnnl.threads);
    dnnl.status = 0;
}

int onednn_load(void) {
    pthread_once(&load_once, load);
    if (dnnl.status != 0) err_set("%s", dnnl.error);
    return dnnl.status;
}

const char *onednn_name(void) { return dnnl.status == 0 ? dnnl.name : "onednn-unavailable"; }

// ---------------------------------------------------------------------------------------------
enum { P_FWD, P_BWD_DATA, P_BWD_WEIGHTS, P_KINDS };

typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst, scratch;
} Prim;

typedef struct {
    int IC, OC;
    Prim p[P_KINDS];
} ShapePrims;

struct OnednnWorker {
    dnnl_stream_t stream;
    int n_shapes;
    ShapePrims *shapes;
    int *shape_of;   // (n linear weights,) index into shapes
    void *scratch;   // shared by every primitive of this worker
    size_t scratch_bytes;
};

#define CHECK(call, what)                                                                                      \
    do {                                                                                                       \
        if ((call) != dnnl_success) {                                                                          \
            err_set("oneDNN: cannot create the %s product for a (%d, %d) weight and %zu rows", what, s->OC,    \
                    s->IC, rows);                                                                              \
            goto fail;                                                                                         \
        }                                                                                                      \
    } while (0)

static int md2(dnnl_memory_desc_t *md, dnnl_dim_t d0, dnnl_dim_t d1, dnnl_dim_t s0, dnnl_dim_t s1,
               dnnl_data_type_t dt) {
    dnnl_dims_t dims = {d0, d1}, strides = {s0, s1};
    return dnnl.dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides) == dnnl_success ? 0 : -1;
}

// One product: src (M, K) · weights (K, N) → dst (M, N), every matrix described by its strides.
static int make_prim(Prim *p, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *wei,
                     const dnnl_memory_desc_t *dst, int accumulate, size_t *scratch_bytes) {
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    if (dnnl.dnnl_matmul_desc_init(&desc, src, wei, NULL, dst) != dnnl_success) goto out;
    if (dnnl.dnnl_primitive_attr_create(&attr) != dnnl_success) goto out;
    if (dnnl.dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success) goto out;
    if (accumulate) {
        if (dnnl.dnnl_post_ops_create(&ops) != dnnl_success || dnnl.dnnl_post_ops_append_sum(ops, 1.0f) != dnnl_success ||
            dnnl.dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success)
            goto out;
    }
    if (dnnl.dnnl_primitive_desc_create(&pd, &desc, attr, dnnl.engine, NULL) != dnnl_success) goto out;
    if (dnnl.dnnl_primitive_create(&p->prim, pd) != dnnl_success) goto out;
    const dnnl_memory_desc_t *smd = dnnl.dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sb = dnnl.dnnl_memory_desc_get_size(smd);
    *scratch_bytes = MAX(*scratch_bytes, sb);
    if (dnnl.dnnl_memory_create(&p->src, src, dnnl.engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl.dnnl_memory_create(&p->wei, wei, dnnl.engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl.dnnl_memory_create(&p->dst, dst, dnnl.engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl.dnnl_memory_create(&p->scratch, smd, dnnl.engine, DNNL_MEMORY_NONE) != dnnl_success)
        goto out;
    rc = 0;
out:
    if (pd) dnnl.dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl.dnnl_post_ops_destroy(ops);
    if (attr) dnnl.dnnl_primitive_attr_destroy(attr);
    return rc;
}

static size_t even(size_t n) { return (n + 1) / 2 * 2; }

static int make_shape(ShapePrims *s, size_t rows, size_t *scratch_bytes) {
    dnnl_dim_t n = (dnnl_dim_t)rows, IC = s->IC, OC = s->OC, ldi = (dnnl_dim_t)even((size_t)IC),
               ldo = (dnnl_dim_t)even((size_t)OC);
    dnnl_memory_desc_t src, wei, dst;
    // forward: x (n, IC) · Wᵀ (IC, OC) → out (n, OC)
    CHECK(md2(&src, n, IC, ldi, 1, dnnl_bf16) || md2(&wei, IC, OC, 1, IC, dnnl_bf16) ||
              md2(&dst, n, OC, OC, 1, dnnl_f32) || make_prim(&s->p[P_FWD], &src, &wei, &dst, 0, scratch_bytes),
          "forward");
    // backward data: dout (n, OC) · W (OC, IC) → dx (n, IC)
    CHECK(md2(&src, n, OC, ldo, 1, dnnl_bf16) || md2(&wei, OC, IC, IC, 1, dnnl_bf16) ||
              md2(&dst, n, IC, IC, 1, dnnl_f32) || make_prim(&s->p[P_BWD_DATA], &src, &wei, &dst, 0, scratch_bytes),
          "backward-data");
    // backward weights: doutᵀ (OC, n) · x (n, IC) → dW (OC, IC), added to it
    CHECK(md2(&src, OC, n, 1, ldo, dnnl_bf16) || md2(&wei, n, IC, ldi, 1, dnnl_bf16) ||
              md2(&dst, OC, IC, IC, 1, dnnl_f32) ||
              make_prim(&s->p[P_BWD_WEIGHTS], &src, &wei, &dst, 1, scratch_bytes),
          "backward-weights");
    return 0;
fail:
    return -1;
}

int onednn_worker_init(LinearWorker *w) {
    if (onednn_load() != 0) return -1;
    const LinearWeights *lw = w->lw;
    OnednnWorker *o = xcalloc(1, sizeof *o);
    w->onednn = o;
    o->shapes = xcalloc((size_t)lw->n, sizeof(ShapePrims));
    o->shape_of = xcalloc((size_t)lw->n, sizeof(int));
    if (dnnl.dnnl_stream_create(&o->stream, dnnl.engine, dnnl_stream_default_flags) != dnnl_success) {
        err_set("oneDNN: cannot create a stream");
        return -1;
    }
    for (int i = 0; i < lw->n; i++) {
        const LinearWeight *L = &lw->lin[i];
        int s = 0;
        while (s < o->n_shapes && !(o->shapes[s].IC == L->IC && o->shapes[s].OC == L->OC)) s++;
        o->shape_of[i] = s;
        if (s < o->n_shapes) continue;
        o->n_shapes++;
        o->shapes[s].IC = L->IC;
        o->shapes[s].OC = L->OC;
        if (make_shape(&o->shapes[s], w->rows, &o->scratch_bytes) != 0) return -1;
    }
    o->scratch = xmalloc_aligned(MAX(o->scratch_bytes, 64));
    w->bytes += o->scratch_bytes;
    return 0;
}

void onednn_worker_free(LinearWorker *w) {
    OnednnWorker *o = w->onednn;
    if (!o) return;
    for (int s = 0; s < o->n_shapes; s++)
        for (int k = 0; k < P_KINDS; k++) {
            Prim *p = &o->shapes[s].p[k];
            if (p->prim) dnnl.dnnl_primitive_destroy(p->prim);
            if (p->src) dnnl.dnnl_memory_destroy(p->src);
            if (p->wei) dnnl.dnnl_memory_destroy(p->wei);
            if (p->dst) dnnl.dnnl_memory_destroy(p->dst);
            if (p->scratch) dnnl.dnnl_memory_destroy(p->scratch);
        }
    if (o->stream) dnnl.dnnl_stream_destroy(o->stream);
    free(o->shapes);
    free(o->shape_of);
    free(o->scratch);
    free(o);
    w->onednn = NULL;
}

static void run(OnednnWorker *o, Prim *p, const void *src, const void *wei, float *dst) {
    // This thread's OpenMP team size (an OpenMP setting of the calling thread).
    if (dnnl.omp_get_max_threads() != dnnl.threads) dnnl.omp_set_num_threads(dnnl.threads);
    dnnl.dnnl_memory_set_data_handle(p->src, (void *)src);
    dnnl.dnnl_memory_set_data_handle(p->wei, (void *)wei);
    dnnl.dnnl_memory_set_data_handle(p->dst, dst);
    dnnl.dnnl_memory_set_data_handle(p->scratch, o->scratch);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, p->src},
                              {DNNL_ARG_WEIGHTS, p->wei},
                              {DNNL_ARG_DST, p->dst},
                              {DNNL_ARG_SCRATCHPAD, p->scratch}};
    if (dnnl.dnnl_primitive_execute(p->prim, o->stream, (int)ARRAY_LEN(args), args) != dnnl_success ||
        dnnl.dnnl_stream_wait(o->stream) != dnnl_success)
        die("oneDNN: a matmul primitive failed to execute");
}

static void check_rows(const LinearWorker *w, size_t n) {
    if (n != w->rows) die("oneDNN: products were built for %zu rows, called with %zu", w->rows, n);
}

void onednn_forward(LinearWorker *w, int id, float *out, size_t n) {
    check_rows(w, n);
    OnednnWorker *o = w->onednn;
    run(o, &o->shapes[o->shape_of[id]].p[P_FWD], w->a, w->lw->lin[id].fwd, out);
}

void onednn_backward(LinearWorker *w, int id, float *dx, float *dw, size_t n) {
    check_rows(w, n);
    OnednnWorker *o = w->onednn;
    ShapePrims *s = &o->shapes[o->shape_of[id]];
    if (dx) run(o, &s->p[P_BWD_DATA], w->a, w->lw->lin[id].fwd, dx);
    run(o, &s->p[P_BWD_WEIGHTS], w->a, w->b, dw);
}
