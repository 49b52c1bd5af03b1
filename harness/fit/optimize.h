// optimize.h — compute-optimal allocation under a fitted law (docs/SPEC.md §6 `t2 optimize`, T² §3).
//
// Budgets: 6·N·D ≤ C_train and 2·N·k ≤ C_inf (inference FLOPs per query token), both spent in
// full, so a choice of N fixes D = C_train / (6N) and k = C_inf / (2N); k ≥ 1 bounds N ≤ C_inf / 2.
// Without an inference budget (c_inf ≤ 0) k is 1. Optionally k is capped (a model that affords
// more samples than k_max draws k_max), to keep a law within the k it was fitted on.
//   - the T² choice: the N that minimises the law's loss (t2-loss: E_i[−log pass@k], chinchilla:
//     L) or maximises its pass@k (t2-acc), by a grid over log N then golden-section refinement;
//   - the Chinchilla choice beside it: N*, D* from the loss law alone (closed form), k =
//     C_inf / (2N*), valued under the same law (feasible = 0 when that k < 1); the loss law is
//     the fit's own loss term, or a separate chinchilla fit (optimize_chinchilla_from).
//
//   OptResult o;  if (optimize_allocation(&fit, 1e19, 2e9, &o) != 0) -> err_msg()
//   char *json = opt_result_json(&o);  opt_result_print(stdout, &o);
#ifndef T2_OPTIMIZE_H
#define T2_OPTIMIZE_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "fit/fit.h"

typedef struct {
    double N, D, k;           // parameters, training tokens, samples per query (real)
    double tokens_per_param;  // D / N
    double value;             // predicted loss / NLL (minimised) or pass@k (maximised)
    int feasible;             // k ≥ 1 (always for the T² choice)
    int at_bound;             // T² choice: the optimum sits at an end of the N search (1 .. C_inf/2 or the
                              // largest N): the law has no interior optimum there, so N is not an estimate
    // Bootstrap percentile intervals (NAN without bootstrap samples in the fit).
    double N_ci[2], D_ci[2], k_ci[2], value_ci[2];
} Allocation;

typedef struct {
    FitLaw law;
    double c_train, c_inf;
    double k_max;             // cap on k (0: none), see optimize_allocation_capped
    const char *metric;       // "loss" (chinchilla), "nll" (t2-loss: E_i[-log pass@k]), "pass@k" (t2-acc)
    int maximise;             // 1 when a higher value is better (pass@k)
    Allocation t2;            // the optimum under the law
    Allocation chinchilla;    // the Chinchilla-optimal N*, D* with k = C_inf / (2N*)
    const char *chinchilla_from; // whose closed form gave N*, D*: "law" (the fit's own loss
                                 // term) or "chinchilla" (a separate fit, optimize_chinchilla_from)
    long n_boot_used;         // resamples behind the intervals (0: none)
} OptResult;

// Hoffmann et al.'s closed form under C = 6ND: N* = G (C/6)^{β/(α+β)}, D* = G^{-1}
// (C/6)^{α/(α+β)}, G = (αA / (βB))^{1/(α+β)}.
void chinchilla_optimal(double A, double B, double alpha, double beta, double c_train, double *N, double *D);

// Minimise f over v ∈ [lo, hi]: f at n_grid evenly spaced points, then golden-section search
// in the bracket around the best one (to |Δv| ≤ 1e-10·max(1, |v|)). Ties go to the smaller v.
// Returns the argmin; *f_min receives f there.
double minimize_1d(double (*f)(double v, void *ctx), void *ctx, double lo, double hi, int n_grid, double *f_min);

// Allocate C_train (> 0) and C_inf (≤ 0: none, k = 1) under a chinchilla, t2-loss or t2-acc
// fit. Intervals come from the fit's bootstrap samples (r->boot) when it has them.
// -1 + err_set for coverage (no N, D dependence), missing parameters or impossible budgets.
int optimize_allocation(const FitResult *fit, double c_train, double c_inf, OptResult *out);
// The same with k = min(C_inf / (2N), k_max) for both choices: a model that affords more samples
// than k_max draws k_max and spends less (k_max ≤ 0: no cap). Keeps a law to the k it was fitted
// on, e.g. the eval's n_samples.
int optimize_allocation_capped(const FitResult *fit, double c_train, double c_inf, double k_max, OptResult *out);

// Replace the Chinchilla choice of OUT (from optimize_allocation on FIT) by the closed form of a
// separate loss law LOSS_LAW, typically a chinchilla fit on the training loss: the model a
// practitioner following Hoffmann et al. would train. k = C_inf / (2N*), valued under FIT.
// Intervals: N*, D* and k from LOSS_LAW's bootstrap resamples, the value from FIT's at the point
// estimate (NAN where a fit has none). -1 + err_set when LOSS_LAW lacks A, B, E, alpha, beta.
int optimize_chinchilla_from(const FitResult *fit, const FitResult *loss_law, OptResult *out);

// {"law", "c_train", "c_inf", "metric", "t2": {N, D, tokens_per_param, k, value, feasible[, ci]},
//  "chinchilla": {...}, "chinchilla_from"}; "ci": {"N": [lo, hi], "D": ..., "k": ..., "value": ...} when bootstrapped.
cJSON *opt_result_cjson(const OptResult *o);
char *opt_result_json(const OptResult *o);
void opt_result_print(FILE *f, const OptResult *o);

#endif
