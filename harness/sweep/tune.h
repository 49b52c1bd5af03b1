// tune.h — learning-rate pilots (`t2 tune`): short runs of each model of a spec over a grid of
// peak learning rates at the spec's smallest budget, scored by the held-out loss the analysis
// uses (the spec's analysis.loss: answer_loss, or val_loss; val_loss for `text`), and the choice
// of one rate per model. Pilots are trained in JOBS forked processes and touch no database or
// checkpoint: a pilot is a pure function of (model, rate, steps, seed, threads).
#ifndef T2_TUNE_H
#define T2_TUNE_H

#include "spec/spec.h"

typedef struct {
    int family_idx;
    double lr;          // peak learning rate of the pilot
    double grad_clip;   // the model's gradient-norm clip under the spec (family[i].grad_clip or
                        // train.grad_clip; 0: none), which the pilot trains with
    long steps;         // the model's steps at the smallest budget
    long seed;          // the pilot's training seed (tune_pilot_seed)
    // Results.
    int diverged;       // a non-finite loss or gradient stopped the pilot
    double loss;        // held-out loss at the end (INFINITY when diverged)
    double train_loss;  // mean training loss of the last steps (final_loss)
    double clipped;     // fraction of steps whose gradient norm exceeded grad_clip
    double late_grad_norm; // median gradient norm (before clipping) of the last ceil(steps/2)
                           // steps (NAN when diverged)
    double wall_s;
} TunePilot;

// The held-out loss the pilots are scored by: "answer_loss" or "val_loss".
const char *tune_loss_column(const Spec *s);

// The budget index the pilots train at: the smallest budget of the spec.
int tune_budget_idx(const Spec *s);

// Called in the parent as each pilot ends (in the order they end).
typedef void (*TuneProgressFn)(void *ctx, const TunePilot *p, int done, int total);

// The seed of pilot seed number K (0-based): the spec's K-th seed while it lists one, then seeds
// above the largest it lists (max + 1, max + 2, ...), so that pilots never repeat a seed.
long tune_pilot_seed(const Spec *s, int k);

// Train every pilot (each with its own seed), JOBS at a time, each with THREADS threads.
// Returns 0 with every pilot's results filled; -1 + err_set when a pilot could not run at all
// (not when it diverged).
int tune_run(const Spec *s, TunePilot *pilots, int n, int jobs, int threads, TuneProgressFn progress, void *ctx);

// The choice for one model. With several seeds, a rate's pilots are its pilots at every seed, and
// a rate counts only when none of them diverged.
typedef struct {
    int index;             // the chosen rate's first pilot in PILOTS
    double lr;
    int n_seeds;           // pilots per rate
    double loss;           // mean over the seeds of the chosen rate's held-out losses
    double loss_min, loss_max;
    double clipped;        // mean over the seeds
    double late_grad_norm; // mean over the seeds (the clip is taken from it)
    int at_edge;           // the lowest or highest rate tried (the grid may not hold the best rate)
    double runner_up_lr;   // the rate of the next lowest mean loss (NAN: none)
    int wins;              // seeds at which the chosen rate's loss is below the runner-up's
} TuneChoice;

// The loss of the rate of pilot I: the mean over its seeds (the pilots of its model at its rate);
// INFINITY when one of them diverged.
double tune_rate_loss(const TunePilot *pilots, int n, int i);

// The rate of FAMILY_IDX with the lowest mean loss over its seeds (the lower rate on a tie).
// -1 when every rate of the model diverged at some seed; 0 with OUT filled otherwise.
int tune_choose(const TunePilot *pilots, int n, int family_idx, TuneChoice *out);

// The gradient-norm clip `t2 tune` gives a model: FACTOR times the median gradient norm of the
// second half of its chosen pilot (LATE_GRAD_NORM), to 2 significant digits (as printf's %.2g
// rounds it). A clip there acts on spikes, not on the ordinary steps of the model's own scale.
double tune_clip_threshold(double late_grad_norm, double factor);
#define TUNE_CLIP_FACTOR 4.0 // `t2 tune --clip-factor`'s default

#endif
