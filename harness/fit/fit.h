// fit.h — scaling-law fits on plain arrays (docs/SPEC.md §6): Chinchilla Approach 3, T² Approaches 1
// and 2, Brown et al.'s coverage law; percentile bootstrap; JSON and table output.
//
// Data loading is separate from fitting: fill a FitData (from a CSV with fit_csv_load, or from
// the results database), call fit_run(), print or store the FitResult.
//
//   FitData d;  fit_csv_load("points.csv", FIT_CHINCHILLA, &d);
//   FitOptions o;  fit_options_default(&o);  o.bootstrap = 1000;
//   FitResult r;  if (fit_run(FIT_CHINCHILLA, &d, &o, &r) != 0) -> err_msg()
//   char *json = fit_result_json(&r);  ...  fit_result_free(&r); fit_data_free(&d);
//
// Parameter names (the JSON "params" keys), in this order:
//   chinchilla  A, B, E, alpha, beta                      L = E + A/N^alpha + B/D^beta
//   t2-loss     A, B, E, alpha, beta, G, gamma            E_i[-log pass@k_i] = L(N,D) + G/k^gamma
//   t2-acc      A, B, E, alpha, beta (stage 1: L̂(N,D) on the per-model NLL),
//               theta0, theta1, theta2, theta3, theta4   (stage 2: Beta model of pass@k)
//   coverage    a[MODEL], b[MODEL] for every model, in order of first appearance:
//               pass@k = exp(a k^b) per model (flat names, MODEL as in FitData.model)
// Allocation quantities (the JSON "allocation" object; laws with a loss law L(N,D) only), the
// compute-optimal N* = N_opt_coef · (C/6)^N_opt_exponent, D* = (C/6) / N*:
//   N_opt_exponent = beta/(alpha+beta), D_opt_exponent = alpha/(alpha+beta),
//   N_opt_coef = (alpha A / (beta B))^(1/(alpha+beta))
#ifndef T2_FIT_H
#define T2_FIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

typedef enum { FIT_CHINCHILLA, FIT_T2_LOSS, FIT_T2_ACC, FIT_COVERAGE, FIT_N_LAWS } FitLaw;

const char *fit_law_name(FitLaw law); // "chinchilla", "t2-loss", "t2-acc", "coverage"
// -1 + err_set("unknown law 'x' (expected chinchilla, t2-loss, t2-acc or coverage)").
int fit_law_parse(const char *name, FitLaw *out);

// ---------------------------------------------------------------------------------------------
// Data: one row per point. Columns a law does not use are NAN (model may stay NULL).
//   chinchilla  N, D, loss
//   t2-loss     N, D, k, nll      nll = mean over problems of -log pass@k
//   t2-acc      N, D, k, pass, nll   nll = the model's NLL (L̂'s target), the same on each of
//                                     its rows; stage 1 uses one value per model (their mean)
//   coverage    k, pass, and model (or N, D as the model key)
// t2-acc and coverage group rows by model: model[i] when model is set, else the pair (N, D).
//
// What the bootstrap resamples (optional; the database reader fills it, a CSV has none):
//   n_problems, prob_term, prob_nll  the rows' targets are means over P problems (the same
//     problems for every row): prob_term (n, P) holds the row's term on each problem (t2-loss:
//     −log pass@k; t2-acc and coverage: pass@k), prob_nll (n, P) t2-acc's per-problem gold NLL;
//     NAN where a problem is missing. The bootstrap draws problems, jointly for every row.
//   run, cell  the run of each row and the (model, budget) cell of that run: where a cell holds
//     several runs (seeds), the bootstrap draws runs within their cell, jointly with problems.
// Without either, it draws whole units: rows (chinchilla) or models (t2-loss, t2-acc); never
// the k rows of one model as if they were independent.
typedef struct {
    size_t n;
    double *N;     // (n,) parameters
    double *D;     // (n,) training tokens
    double *k;     // (n,) samples per problem
    double *loss;  // (n,)
    double *nll;   // (n,)
    double *pass;  // (n,) pass@k in (0, 1]
    char **model;  // (n,) owned strings, or NULL
    size_t n_problems;
    double *prob_term; // (n, n_problems) or NULL
    double *prob_nll;  // (n, n_problems) or NULL
    int *run;          // (n,) or NULL
    int *cell;         // (n,) or NULL
} FitData;

// Allocate every column for n rows, filled with NAN (model NULL, no resampling units).
void fit_data_alloc(FitData *d, size_t n);
// Add per-problem columns for P problems (prob_term, and prob_nll when with_nll), NAN-filled.
void fit_data_alloc_problems(FitData *d, size_t P, int with_nll);
void fit_data_free(FitData *d);
// Smallest number of points (rows; t2-acc: also models; coverage: per model) a law needs.
size_t fit_min_points(FitLaw law);
// Check the columns a law needs: present, finite and in range, enough points.
// -1 + err_set naming the row ("point 7: pass = 0; coverage fits log pass@k, needs pass > 0").
int fit_data_check(FitLaw law, const FitData *d);

// ---------------------------------------------------------------------------------------------
// CSV input (t2 fit --csv). A header row names the columns (any order, other columns ignored,
// optional double quotes, blank lines skipped):
//   chinchilla  N, D|C, loss
//   t2-loss     N, D|C, k, nll
//   t2-acc      N, D|C, k, pass, nll
//   coverage    model, k, pass   or   N, D|C, k, pass   (N, D then name the model)
// C (training FLOPs) may replace D: D = C / (6 N). Errors name FILE:LINE and the column.
int fit_csv_load(const char *path, FitLaw law, FitData *out);
// The same from text in memory: CSV holds LEN bytes (NUL-terminated; a NUL inside is an error);
// PATH names it in messages.
int fit_csv_parse(const char *csv, size_t len, const char *path, FitLaw law, FitData *out);
// The column help text above, for --help.
const char *fit_csv_help(void);

// ---------------------------------------------------------------------------------------------
// Options.
typedef struct {
    long bootstrap;    // resamples for percentile intervals (0: none); see FitData for what is
                       // drawn. Each refit starts from the full-data optimum and from a few of
                       // the best starts of the full fit, and keeps the best.
    uint64_t seed;     // seeds the bootstrap and t2-loss's random restarts
    int threads;       // worker threads for the start grid and the bootstrap (0: up to 2)
    int n_starts;      // t2-loss random restarts (default 500, as the T² paper)
    double ci_level;   // central interval mass (default 0.95: percentiles 2.5 and 97.5)
} FitOptions;
void fit_options_default(FitOptions *o);
// Threads a fit uses: o->threads, or min(2, cpu_count()) when 0.
int fit_threads(const FitOptions *o);
// The central LEVEL percentile interval of v (n > 0 values; sorted in place), with linear
// interpolation between order statistics (numpy's default). Every bootstrap interval of t2.
void fit_percentile_interval(double *v, size_t n, double level, double out[2]);

// ---------------------------------------------------------------------------------------------
// Result.
typedef struct {
    char name[64];
    double value;
    double lo, hi;  // bootstrap percentile interval; NAN without --bootstrap
    long n_used;    // resamples behind lo, hi (coverage: those whose refit of this model converged)
    int identified; // 0: the data do not pin this parameter down (why says how); its lo, hi are
                    // not an interval to report
    char why[96];   // "" or the reason it is not identified
} FitParam;

// Residuals (observed − predicted) of the rows at one k.
typedef struct {
    double k;
    size_t n;
    double mean, rms;
} FitKResidual;

typedef struct {
    FitLaw law;
    size_t n_params;
    FitParam *params;    // (n_params,)
    size_t n_alloc;
    FitParam *alloc;     // (n_alloc,) allocation quantities (see the top of this file)
    double objective;    // the minimised objective at the optimum (see each law)
    double objective_stage1; // t2-acc: stage 1's SSE on the NLL; NAN otherwise
    size_t n_points;
    int converged;       // every minimisation behind the reported optimum converged
    double cosine;       // the verdict's measure: largest gradient cosine (≤ 1e-5 to converge)
    char at_bound[64];   // parameters the fit drove to a bound of their range ("E", "A,alpha"), or ""
    size_t n_not_identified; // parameters with identified = 0
    int lbfgs_status;    // liblbfgs return code of the reported optimum (first failing one)
    long n_boot;         // resamples requested
    long n_boot_used;    // resamples whose whole refit converged: the rows of boot
    double *boot;        // (n_boot_used, n_params + n_alloc) resampled estimates, row-major
    size_t n_kres;
    FitKResidual *kres;  // (n_kres,) residuals by k, increasing k (t2-loss, t2-acc)
    char resample[96];   // what the bootstrap drew, in words ("problems", "runs within (model,
                         // budget) and problems", "rows", "models")
} FitResult;

// Fit LAW to the data. 0 on success (converged or not: see r->converged); -1 + err_set on bad
// data. out is always initialised, so fit_result_free(out) is safe either way.
int fit_run(FitLaw law, const FitData *d, const FitOptions *o, FitResult *out);
void fit_result_free(FitResult *r);

// Value of a parameter or allocation quantity by name; NAN when absent.
double fit_get(const FitResult *r, const char *name);
const FitParam *fit_find(const FitResult *r, const char *name);

// The docs/SPEC.md §6 object: {"law", "params", "ci", "objective", "n_points", "converged",
// "not_identified": [names]}, plus "allocation" (when the law has one), "objective_stage1"
// (t2-acc), "at_bound": ["E", ...] (parameters at a bound of their range), "not_identified_why":
// {name: reason}, "residuals_by_k": [{"k", "n", "mean", "rms"}] (t2-loss, t2-acc) and "bootstrap":
// {"resamples", "used", "resampled"} when bootstrapped. "ci" is {} without a bootstrap; with
// one, a parameter that is not identified has "ci": {name: null}.
// For the `fits` table: params_json and ci_json are cJSON_PrintUnformatted of its "params"
// and "ci" members (their numbers are raw 17-digit text, so they print exactly).
cJSON *fit_result_cjson(const FitResult *r);
char *fit_result_json(const FitResult *r); // heap, unformatted, one line
// Rebuild a result (law, params, allocation, intervals, objective, n_points, converged) from
// fit_result_json's text, e.g. a `fits` row. -1 + err_set on malformed text.
int fit_result_from_json(const char *json, FitResult *out);
// A JSON number with 17 significant digits (reads back bit-exact; cJSON's printer may round
// to 15), or null when not finite.
cJSON *fit_json_number(double v);
// The same from a `fits` row's parts: the law's name and the "params" and "ci" objects as text
// (ci_json may be NULL). Allocation quantities are not rebuilt (optimize_allocation does not
// need them).
int fit_result_from_parts(const char *law, const char *params_json, const char *ci_json, FitResult *out);
// Human-readable table; a parameter that is not identified reads "not identified by these data".
void fit_result_print(FILE *f, const FitResult *r);
// The not-identified parameters, comma-separated into out; returns how many.
int fit_unidentified_names(const FitResult *r, char *out, size_t out_len);
// The not-identified parameters that the law's allocation depends on (chinchilla, t2-loss: all
// but E, an additive constant; t2-acc: all), comma-separated into out; returns how many.
int fit_allocation_unidentified(const FitResult *r, char *out, size_t out_len);
// Why liblbfgs stopped, in words ("line search limited by rounding"), for r->lbfgs_status.
const char *fit_lbfgs_reason(int status);

// ---------------------------------------------------------------------------------------------
// Predictions under a fitted law (params by name, so results rebuilt from JSON work too).
//   chinchilla: loss(N, D); k ignored.  t2-loss: E_i[-log pass@k].  t2-acc: pass@k.
// NAN for coverage (per model, not a function of N, D) or a missing parameter.
double fit_predict(const FitResult *r, double N, double D, double k);
// The loss law L(N, D) = E + A/N^alpha + B/D^beta inside a chinchilla, t2-loss (without the k
// term) or t2-acc (stage 1) result.
double fit_loss_nd(const FitResult *r, double N, double D);

// T² Approach 2's pass@k for Beta(mu nu, (1 - mu) nu) accuracies: 1 - B(a, b + k) / B(a, b).
double beta_pass_at_k(double a, double b, double k);
// mu and nu of the Beta model at loss L.
void t2acc_beta(const double theta[5], double L, double *a, double *b);

#endif
