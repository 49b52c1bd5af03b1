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

// Train every pilot with the spec's first seed, JOBS at a time, each with THREADS threads.
// Returns 0 with every pilot's results filled; -1 + err_set when a pilot could not run at all
// (not when it diverged).
int tune_run(const Spec *s, TunePilot *pilots, int n, int jobs, int threads, TuneProgressFn progress, void *ctx);

// The chosen pilot of FAMILY_IDX among PILOTS: the lowest finite loss, the lower rate on a tie.
// -1 when every pilot of the model diverged. *at_edge: the choice is the lowest or highest rate
// tried for the model (the grid may not hold the best rate).
int tune_choose(const TunePilot *pilots, int n, int family_idx, int *at_edge);

// The gradient-norm clip `t2 tune` gives a model: FACTOR times the median gradient norm of the
// second half of its chosen pilot (LATE_GRAD_NORM), to 2 significant digits (as printf's %.2g
// rounds it). A clip there acts on spikes, not on the ordinary steps of the model's own scale.
double tune_clip_threshold(double late_grad_norm, double factor);
#define TUNE_CLIP_FACTOR 4.0 // `t2 tune --clip-factor`'s default

#endif
