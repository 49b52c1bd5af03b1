// trainer.h — the training loop's engine: AdamW steps over a batch split across worker threads
// (data parallel, one gradient buffer per worker, reduced in a fixed order so results are
// bit-identical at a fixed thread count), schedules, validation loss, checkpoints.
#ifndef T2_TRAIN_H
#define T2_TRAIN_H

#include "nn/checkpoint.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "tasks/tasks.h"

// Most seeds a spec's train.seeds may list.
#define TRAIN_MAX_SEEDS 16

typedef enum { SCHED_COSINE, SCHED_CONSTANT, SCHED_WSD } Schedule;

// The "train" object of an experiment file (docs/SPEC.md §3): batch shape, AdamW and the
// learning-rate schedule; the last fields (seeds, logging, checkpoints, validation) are read by
// the run loop (sweep/run_train.c), not by the trainer.
typedef struct {
    int seq_len;
    int batch_size;
    double lr;
    double min_lr_ratio;   // cosine / wsd decay to lr·min_lr_ratio (default 0: to zero, as T²)
    double warmup;         // < 1: fraction of the run's steps; ≥ 1: steps
    Schedule schedule;
    double decay_frac;     // wsd: final fraction of steps that decays (default 0.2)
    double weight_decay;
    double beta1, beta2, eps;
    double grad_clip;      // ≤ 0 disables clipping
    int n_seeds;
    long seeds[TRAIN_MAX_SEEDS];
    int log_every;         // steps between train_log rows (default: ~200 rows per run)
    int ckpt_every;        // steps between checkpoints (0: by ckpt_seconds)
    double ckpt_seconds;   // default 60
    int val_batches;       // validation batches for val_loss at the end (default 4)
    Precision precision;   // of the training products (default float32; evaluation is float32)
} TrainSpec;

// Learning rate at step (0-based) of a run with total_steps, per the schedule.
double lr_at(const TrainSpec *t, long step, long total_steps);
// Warmup steps of a run: warmup < 1 is a fraction of total_steps, ≥ 1 a count (at most total_steps).
long warmup_steps(const TrainSpec *t, long total_steps);

typedef struct Trainer Trainer;

typedef struct {
    long step;        // steps completed (after this one)
    double loss;      // mean masked cross-entropy of this step's batch (nats/token)
    double lr;        // learning rate used
    double grad_norm; // global gradient norm before clipping
    long tokens;      // training tokens processed so far
} StepStats;

// task may be NULL: uniformly random tokens (benchmarks). threads ≥ 1. NULL + err_set when this
// machine cannot train in ts->precision (bf16 without AVX512-BF16, see nn/linear.h).
Trainer *trainer_create(const ModelConfig *cfg, const TrainSpec *ts, long total_steps, uint64_t seed,
                        const Task *task, int threads);
void trainer_free(Trainer *t);
Model *trainer_model(Trainer *t);
long trainer_step_count(const Trainer *t);
int trainer_threads(const Trainer *t);
// Bytes held: parameters, gradients (one buffer per worker), Adam moments, activations.
size_t trainer_bytes(const Trainer *t);
// The precision of the training products and the kernels that compute them ("openblas-sgemm",
// "t2-avx512bf16", "onednn-2.6.3-avx512_core_amx-omp1").
Precision trainer_precision(const Trainer *t);
const char *trainer_gemm_path(const Trainer *t);

// One optimisation step. Returns 0, or -1 with err_set when the loss or gradient is NaN/inf
// (the run diverged; the weights are left as they were before the step).
int trainer_step(Trainer *t, StepStats *out);
// final_loss of a run: the mean training loss over its last max(1, min(100, steps/10)) steps
// (kept across checkpoints, so a resumed run reports the same value). NAN before that window.
double trainer_final_loss(const Trainer *t);
// Mean masked loss over n_batches held-out batches (task_val_batch), forward only.
double trainer_val_loss(Trainer *t, int n_batches);
// The answer loss: mean cross-entropy over the answer tokens and EOS of every evaluation problem,
// each once, teacher-forced after its whole prompt (task_answer_batch): nats per answer token.
// NAN when the task has no evaluation problems (text).
double trainer_answer_loss(Trainer *t);

// Checkpoints (docs/SPEC.md §5). config_json is the run's canonical config and id the run it
// belongs to (NULL: none); loading refuses a checkpoint of another run (identity), whose config
// differs, whose model shape differs, or that is damaged.
int trainer_save(Trainer *t, const char *path, const char *config_json, const CkptIdentity *id, double wall_s);
int trainer_load(Trainer *t, const char *path, const char *config_json, const CkptIdentity *id, double *wall_s);

#endif
