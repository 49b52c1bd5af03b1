// trainer.h — the training loop's engine: AdamW steps over a batch split across worker threads
// (data parallel, one gradient buffer per worker, reduced in a fixed order so results are
// bit-identical at a fixed thread count), schedules, validation loss, checkpoints.
#ifndef T2_TRAIN_H
#define T2_TRAIN_H

#include "nn/checkpoint.h"
#include "nn/model.h"
#include "spec/spec.h"
#include "tasks/tasks.h"

typedef struct Trainer Trainer;

typedef struct {
    long step;        // steps completed (after this one)
    double loss;      // mean masked cross-entropy of this step's batch (nats/token)
    double lr;        // learning rate used
    double grad_norm; // global gradient norm before clipping
    long tokens;      // training tokens processed so far
} StepStats;

// task may be NULL: uniformly random tokens (benchmarks). threads ≥ 1.
Trainer *trainer_create(const ModelConfig *cfg, const TrainSpec *ts, long total_steps, uint64_t seed,
                        const Task *task, int threads);
void trainer_free(Trainer *t);
Model *trainer_model(Trainer *t);
long trainer_step_count(const Trainer *t);
int trainer_threads(const Trainer *t);
// Bytes held: parameters, gradients (one buffer per worker), Adam moments, activations.
size_t trainer_bytes(const Trainer *t);

// One optimisation step. Returns 0, or -1 with err_set when the loss or gradient is NaN/inf
// (the run diverged; the weights are left as they were before the step).
int trainer_step(Trainer *t, StepStats *out);
// final_loss of a run: the mean training loss over its last max(1, min(100, steps/10)) steps
// (kept across checkpoints, so a resumed run reports the same value). NAN before that window.
double trainer_final_loss(const Trainer *t);
// Mean masked loss over n_batches held-out batches (task_val_batch), forward only.
double trainer_val_loss(Trainer *t, int n_batches);

// Checkpoints (docs/SPEC.md §5). config_json is the run's canonical config and id the run it
// belongs to (NULL: none); loading refuses a checkpoint of another run (identity), whose config
// differs, whose model shape differs, or that is damaged.
int trainer_save(Trainer *t, const char *path, const char *config_json, const CkptIdentity *id, double wall_s);
int trainer_load(Trainer *t, const char *path, const char *config_json, const CkptIdentity *id, double *wall_s);

#endif
