// trainer.c — data-parallel AdamW training over t2's thread pool.
//
// The batch of B sequences is split into one contiguous slice per worker. Each worker runs the
// whole forward and backward pass on its slice with its own activations and gradient buffer
// (kernels call sgemm with OpenBLAS at one thread). The gradients are then summed into worker
// 0's buffer in a fixed order, element ranges split across the threads, and the AdamW update is
// split the same way. Nothing is allocated inside a step.
#include "nn/trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/checkpoint.h"
#include "nn/linear.h"
#include "kernels.h"
#include "util/threadpool.h"

typedef struct {
    Activations acts;
    float *grads;           // (n_params,) worker 0's is the trainer's gradient
    int *inputs, *targets;  // (nb, T)
    unsigned char *mask;    // (nb, T)
    LinearWorker *linear;   // t2's products (NULL: sgemm)
    int *pos;               // (nb, T) positions inside the examples; NULL without a task
    long b0, b1;            // rows [b0, b1) of the batch
    double loss_sum;        // Σ mask · loss over the slice
    double sumsq;           // partial Σ g² of this thread's parameter range
} Worker;

struct Trainer {
    Model model;
    TrainSpec ts;
    long total_steps;
    uint64_t seed;
    const Task *task;
    Rng rng;             // random tokens when there is no task
    TaskCursor cursor;
    long step;
    double tail_loss_sum; // Σ loss over the final window (see trainer_final_loss)
    long tail_count;
    float *m, *v;        // (n_params,) Adam moments
    int B, T;
    int *batch_tokens;   // (B, T+1)
    unsigned char *batch_mask; // (B, T)
    int *batch_pos;      // (B, T) positions inside the examples (task batches)
    int n_workers;
    Worker *workers;
    ThreadPool *pool;
    GemmPath gemm;        // the kernels of the training products
    LinearWeights *linear;  // the weights as t2's products read them (NULL: sgemm)
    // per-step values read by the workers
    float loss_scale, lr, grad_scale;
    int forward_only;
};

Model *trainer_model(Trainer *t) { return &t->model; }
long trainer_step_count(const Trainer *t) { return t->step; }
int trainer_threads(const Trainer *t) { return t->n_workers; }

Trainer *trainer_create(const ModelConfig *cfg, const TrainSpec *ts, long total_steps, uint64_t seed,
                        const Task *task, int threads) {
    GemmPath gemm;
    if (gemm_path_for(ts->precision, &gemm) != 0) return NULL;
    Trainer *t = xcalloc(1, sizeof *t);
    t->gemm = gemm;
    model_build(&t->model, cfg);
    model_init_weights(&t->model, seed);
    t->ts = *ts;
    t->total_steps = total_steps;
    t->seed = seed;
    t->task = task;
    rng_seed(&t->rng, seed_derive(seed, 0x7261, 0, 0));
    t->B = ts->batch_size;
    t->T = ts->seq_len;
    size_t n = t->model.layout.total;
    t->m = xmalloc_aligned(n * sizeof(float));
    t->v = xmalloc_aligned(n * sizeof(float));
    t->batch_tokens = xcalloc((size_t)t->B * (size_t)(t->T + 1), sizeof(int));
    t->batch_mask = xcalloc((size_t)t->B * (size_t)t->T, 1);
    t->batch_pos = xcalloc((size_t)t->B * (size_t)t->T, sizeof(int));
    t->n_workers = MAX(1, MIN(threads, t->B));
    t->workers = xcalloc((size_t)t->n_workers, sizeof(Worker));
    if (gemm != GEMM_SGEMM) t->linear = linear_weights_create(&t->model, gemm);
    for (int w = 0; w < t->n_workers; w++) {
        Worker *wk = &t->workers[w];
        split_range(t->B, t->n_workers, w, &wk->b0, &wk->b1);
        size_t nb = (size_t)(wk->b1 - wk->b0), nt = nb * (size_t)t->T;
        acts_build(&wk->acts, cfg, nb, t->T);
        wk->grads = xmalloc_aligned(n * sizeof(float));
        wk->inputs = xcalloc(nt, sizeof(int));
        wk->targets = xcalloc(nt, sizeof(int));
        wk->mask = xcalloc(nt, 1);
        wk->pos = task ? xcalloc(nt, sizeof(int)) : NULL; // random tokens: plain causal rows
        if (t->linear && !(wk->linear = linear_worker_create(t->linear, nt))) {
            trainer_free(t);
            return NULL;
        }
        wk->acts.linear = wk->linear;
    }
    t->pool = pool_create(t->n_workers);
    return t;
}

void trainer_free(Trainer *t) {
    if (!t) return;
    if (t->pool) pool_free(t->pool);
    for (int w = 0; w < t->n_workers; w++) {
        Worker *wk = &t->workers[w];
        linear_worker_free(wk->linear);
        acts_free(&wk->acts);
        free(wk->grads);
        free(wk->inputs);
        free(wk->targets);
        free(wk->mask);
        free(wk->pos);
    }
    free(t->workers);
    free(t->batch_tokens);
    free(t->batch_mask);
    free(t->batch_pos);
    free(t->m);
    free(t->v);
    linear_weights_free(t->linear);
    model_free(&t->model);
    free(t);
}

size_t trainer_bytes(const Trainer *t) {
    size_t n = t->model.layout.total * sizeof(float);
    size_t bytes = 3 * n; // parameters and two moments
    for (int w = 0; w < t->n_workers; w++)
        bytes += n + t->workers[w].acts.bytes + linear_worker_bytes(t->workers[w].linear);
    return bytes + linear_weights_bytes(t->linear);
}

Precision trainer_precision(const Trainer *t) { return t->ts.precision; }
const char *trainer_gemm_path(const Trainer *t) { return gemm_path_name(t->gemm); }

// ---------------------------------------------------------------------------------------------
static void fill_random_batch(Trainer *t) {
    size_t n = (size_t)t->B * (size_t)(t->T + 1);
    for (size_t i = 0; i < n; i++) t->batch_tokens[i] = (int)rng_below(&t->rng, (uint64_t)t->model.cfg.vocab_size);
    memset(t->batch_mask, 1, (size_t)t->B * (size_t)t->T);
}

// Copy the worker's rows of the (B, T+1) batch into inputs (tokens 0..T-1) and targets (1..T),
// with their masks and positions.
static void worker_load_rows(const Trainer *t, Worker *wk) {
    int T = t->T;
    for (long b = wk->b0; b < wk->b1; b++) {
        const int *row = t->batch_tokens + (size_t)b * (size_t)(T + 1);
        size_t o = (size_t)(b - wk->b0) * (size_t)T;
        memcpy(wk->inputs + o, row, (size_t)T * sizeof(int));
        memcpy(wk->targets + o, row + 1, (size_t)T * sizeof(int));
        memcpy(wk->mask + o, t->batch_mask + (size_t)b * (size_t)T, (size_t)T);
        if (wk->pos) memcpy(wk->pos + o, t->batch_pos + (size_t)b * (size_t)T, (size_t)T * sizeof(int));
    }
}

static void step_worker(void *ctx, int tid, int n_threads) {
    (void)n_threads;
    Trainer *t = ctx;
    Worker *wk = &t->workers[tid];
    size_t nb = (size_t)(wk->b1 - wk->b0);
    worker_load_rows(t, wk);
    if (t->forward_only) { // evaluation: float32 whatever the training precision
        Activations *a = &wk->acts;
        model_forward(&t->model, a, wk->inputs, wk->pos, nb, t->T);
        size_t nt = nb * (size_t)t->T;
        crossentropy_forward(a->losses, a->logits, wk->targets, wk->mask, nt, t->model.cfg.vocab_size);
        double s = 0;
        for (size_t i = 0; i < nt; i++) s += a->losses[i];
        wk->loss_sum = s;
        return;
    }
    memset(wk->grads, 0, t->model.layout.total * sizeof(float));
    wk->loss_sum = model_forward_backward(&t->model, &wk->acts, wk->grads, wk->inputs, wk->targets, wk->mask,
                                          wk->pos, nb, t->T, t->loss_scale);
}

// Sum the workers' gradients into worker 0's buffer over this thread's range, in worker order.
static void reduce_worker(void *ctx, int tid, int n_threads) {
    Trainer *t = ctx;
    long lo, hi;
    split_range((long)t->model.layout.total, n_threads, tid, &lo, &hi);
    float *g0 = t->workers[0].grads;
    for (int w = 1; w < t->n_workers; w++) {
        const float *gw = t->workers[w].grads;
        for (long i = lo; i < hi; i++) g0[i] += gw[i];
    }
    t->workers[tid].sumsq = sum_squares(g0 + lo, (size_t)(hi - lo));
}

static void adam_worker(void *ctx, int tid, int n_threads) {
    Trainer *t = ctx;
    long lo, hi, split = (long)t->model.layout.matrices;
    split_range((long)t->model.layout.total, n_threads, tid, &lo, &hi);
    const TrainSpec *s = &t->ts;
    float *p = t->model.params, *g = t->workers[0].grads;
    long step1 = t->step + 1;
    long a = lo, b = MIN(hi, split); // matrices: decayed
    if (b > a)
        adamw_update(p + a, g + a, t->m + a, t->v + a, (size_t)(b - a), t->lr, (float)s->beta1, (float)s->beta2,
                     (float)s->eps, (float)s->weight_decay, t->grad_scale, step1);
    a = MAX(lo, split), b = hi; // norm scales: not decayed
    if (b > a)
        adamw_update(p + a, g + a, t->m + a, t->v + a, (size_t)(b - a), t->lr, (float)s->beta1, (float)s->beta2,
                     (float)s->eps, 0.0f, t->grad_scale, step1);
}

// The bf16 copies of the weights, from the float32 values the step is about to use.
static void refresh_worker(void *ctx, int tid, int n_threads) {
    Trainer *t = ctx;
    linear_refresh(t->linear, tid, n_threads);
}

static long final_window(long total_steps) { return MAX(1, MIN(100, total_steps / 10)); }

double trainer_final_loss(const Trainer *t) {
    return t->tail_count > 0 ? t->tail_loss_sum / (double)t->tail_count : NAN;
}

static long count_mask(const unsigned char *mask, size_t n) {
    long c = 0;
    for (size_t i = 0; i < n; i++) c += mask[i] != 0;
    return c;
}

int trainer_step(Trainer *t, StepStats *out) {
    if (t->task)
        task_train_batch(t->task, &t->cursor, t->batch_tokens, t->batch_mask, t->batch_pos, t->B, t->T);
    else
        fill_random_batch(t);
    long n_loss = count_mask(t->batch_mask, (size_t)t->B * (size_t)t->T);
    t->loss_scale = n_loss > 0 ? 1.0f / (float)n_loss : 0.0f;
    t->forward_only = 0;
    if (t->linear) pool_run(t->pool, refresh_worker, t);
    pool_run(t->pool, step_worker, t);
    pool_run(t->pool, reduce_worker, t);
    double loss_sum = 0, sumsq = 0;
    for (int w = 0; w < t->n_workers; w++) {
        loss_sum += t->workers[w].loss_sum;
        sumsq += t->workers[w].sumsq;
    }
    double loss = n_loss > 0 ? loss_sum / (double)n_loss : 0.0, norm = sqrt(sumsq);
    if (!isfinite(loss) || !isfinite(norm)) {
        err_set("diverged at step %ld: loss %g, gradient norm %g (try a lower lr or grad_clip)", t->step + 1, loss,
                norm);
        return -1;
    }
    t->lr = (float)lr_at(&t->ts, t->step, t->total_steps);
    t->grad_scale = clip_scale(norm, (float)t->ts.grad_clip);
    pool_run(t->pool, adam_worker, t);
    if (t->step >= t->total_steps - final_window(t->total_steps)) {
        t->tail_loss_sum += loss;
        t->tail_count++;
    }
    t->step++;
    if (out) {
        out->step = t->step;
        out->loss = loss;
        out->lr = t->lr;
        out->grad_norm = norm;
        out->tokens = t->step * (long)t->B * (long)t->T;
    }
    return 0;
}

typedef void (*BatchFn)(const Task *, long, int *, unsigned char *, int *, int, int);

// Mean masked loss over batches 0 .. n − 1 of batch_fn, forward only (NAN when nothing counts).
static double forward_loss(Trainer *t, BatchFn batch_fn, long n) {
    double loss_sum = 0;
    long n_loss = 0;
    t->forward_only = 1;
    for (long i = 0; i < n; i++) {
        batch_fn(t->task, i, t->batch_tokens, t->batch_mask, t->batch_pos, t->B, t->T);
        n_loss += count_mask(t->batch_mask, (size_t)t->B * (size_t)t->T);
        pool_run(t->pool, step_worker, t);
        for (int w = 0; w < t->n_workers; w++) loss_sum += t->workers[w].loss_sum;
    }
    t->forward_only = 0;
    return n_loss > 0 ? loss_sum / (double)n_loss : NAN;
}

double trainer_val_loss(Trainer *t, int n_batches) {
    if (!t->task || n_batches < 1) return NAN;
    return forward_loss(t, task_val_batch, MIN((long)n_batches, task_val_batches(t->task, t->B, t->T)));
}

double trainer_answer_loss(Trainer *t) {
    if (!t->task) return NAN;
    return forward_loss(t, task_answer_batch, task_answer_batches(t->task, t->B, t->T));
}

// ---------------------------------------------------------------------------------------------
int trainer_save(Trainer *t, const char *path, const char *config_json, const CkptIdentity *id, double wall_s) {
    Checkpoint ck = {
        .cfg = t->model.cfg, .step = t->step, .total_steps = t->total_steps, .rng = t->rng,
        .cursor = t->cursor, .wall_s = wall_s, .tail_loss_sum = t->tail_loss_sum, .tail_count = t->tail_count, .config_json = (char *)config_json,
        .n_params = t->model.layout.total, .params = t->model.params, .m = t->m, .v = t->v,
    };
    if (id)
        ck.id = *id;
    else
        ckpt_identity(&ck.id, "", "", -1, NULL);
    return checkpoint_write(path, &ck);
}

static int same_model(const ModelConfig *a, const ModelConfig *b) {
    return a->n_layer == b->n_layer && a->d_model == b->d_model && a->n_head == b->n_head && a->d_ff == b->d_ff &&
           a->vocab_size == b->vocab_size && a->seq_len == b->seq_len && a->tied == b->tied &&
           a->rope_theta == b->rope_theta && a->norm_eps == b->norm_eps;
}

int trainer_load(Trainer *t, const char *path, const char *config_json, const CkptIdentity *id, double *wall_s) {
    Checkpoint ck;
    if (checkpoint_read(path, &ck) != 0) return -1;
    int rc = -1;
    if (id && checkpoint_check_identity(path, &ck.id, id) != 0) {
        rc = -1; // the message names both runs
    } else if (!same_model(&ck.cfg, &t->model.cfg)) {
        err_set("%s: checkpoint holds a different model shape than this run", path);
    } else if (config_json && strcmp(ck.config_json, config_json) != 0) {
        err_set("%s: checkpoint was written for a different run config", path);
    } else if (!ck.m || !ck.v) {
        err_set("%s: checkpoint has no optimiser state; cannot resume training from it", path);
    } else if (ck.step < 0 || ck.step > t->total_steps || ck.total_steps != t->total_steps) {
        err_set("%s: checkpoint is at step %ld of %ld; this run has %ld steps", path, ck.step, ck.total_steps,
                t->total_steps);
    } else {
        size_t bytes = ck.n_params * sizeof(float);
        memcpy(t->model.params, ck.params, bytes);
        memcpy(t->m, ck.m, bytes);
        memcpy(t->v, ck.v, bytes);
        t->step = ck.step;
        t->rng = ck.rng;
        t->cursor = ck.cursor;
        t->tail_loss_sum = ck.tail_loss_sum;
        t->tail_count = ck.tail_count;
        if (wall_s) *wall_s = ck.wall_s;
        rc = 0;
    }
    checkpoint_free(&ck);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Learning-rate schedules.

long warmup_steps(const TrainSpec *t, long total_steps) {
    long w = t->warmup < 1.0 ? (long)round(t->warmup * (double)total_steps) : (long)t->warmup;
    return MIN(w, total_steps);
}

double lr_at(const TrainSpec *t, long step, long total_steps) {
    long warm = warmup_steps(t, total_steps);
    double peak = t->lr, floor_lr = t->lr * t->min_lr_ratio;
    if (step < warm) return peak * (double)(step + 1) / (double)warm;
    switch (t->schedule) {
    case SCHED_CONSTANT:
        return peak;
    case SCHED_WSD: {
        long decay = (long)ceil(t->decay_frac * (double)total_steps), start = total_steps - decay;
        if (step < start || decay <= 0) return peak;
        double frac = (double)(step - start) / (double)decay; // linear towards the floor
        return peak + (floor_lr - peak) * frac;
    }
    case SCHED_COSINE:
    default: {
        long span = total_steps - warm;
        if (span <= 0) return peak;
        double progress = (double)(step - warm) / (double)span; // 0 after warmup, → 1 at the end
        return floor_lr + 0.5 * (peak - floor_lr) * (1.0 + cos(M_PI * progress));
    }
    }
}
