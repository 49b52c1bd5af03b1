// analysis.h — a results database read back for the analysis commands (fit --db, optimize,
// plot, report): the finished runs with their costs, losses and reference evaluation, the
// points each law is fitted on, and the fits stored in `fits`.
//
// The reference evaluation of a run is the eval with the spec's first temperature and its
// top_p, n_samples and max_new_tokens. Every number is read from the database or computed from
// its rows with the same estimators `t2 eval` uses (sweep/estimators.h), so what a report prints can be
// checked against the tables.
//
//   Analysis a;  if (analysis_load(db, &a) != 0) -> err_msg()
//   FitData d;  AnFitNote note;  analysis_fit_data(&a, FIT_T2_LOSS, &d, &note);
//   ...  analysis_free(&a);
#ifndef T2_ANALYSIS_H
#define T2_ANALYSIS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "db/db.h"
#include "fit/fit.h"
#include "spec/spec.h"

// One finished run (status done).
typedef struct {
    int run_id, family_idx, budget_idx, seed_idx;
    long seed;
    int n_layer, d_model, n_head;
    double N;               // runs.n_params (embedding included)
    double N_nonembed;      // runs.n_params_nonembed
    double D;               // runs.train_tokens
    double train_flops;     // exact count
    double train_flops_6nd; // 6 N D
    double budget;          // the spec's budget value of the run (FLOPs, tokens/param or tokens)
    double final_loss, val_loss; // NAN when NULL
    double answer_loss;     // held-out loss on answer tokens and EOS; NAN when NULL
    double loss;            // the loss variable of the loss laws, the Chinchilla pick and T² stage 1
                            // (Analysis.loss_column)
    // Reference evaluation; eval_id < 0 when the run has none.
    long eval_id;
    long n_samples, n_problems;
    double infer_flops;     // exact, all problems and samples
    double prefill_flops;   // the part of infer_flops that prefilled the prompts (once per problem)
    double decode_flops;    // the part that decoded the samples
    double gen_tokens;      // generated tokens, all problems and samples
    double *pass, *maj, *pass_analytic; // (n_k,) metrics at the spec's k values, NAN when absent
    // Gold log-probabilities (n_gold = 0 when the run has none).
    long n_gold;
    double gold_nll;        // mean over problems of −gold.logprob (the answer's NLL in nats)
    double *nll_pass;       // (n_k,) E_i[−log pass@k_i], pass@k_i = 1 − (1 − exp(gold.logprob_i))^k
    // Per problem, indexed by problem_id (Analysis.n_problems): what the bootstrap resamples.
    double *gold_lp;        // (n_problems,) gold.logprob, NAN where missing
    long *n_correct;        // (n_problems,) correct samples of the reference eval, −1 where missing
} AnRun;

typedef struct {
    char *path;           // the database
    Spec spec;            // the experiment it was created from
    int has_eval;         // the spec's task is evaluated (not `text`)
    DbEvalKey key;        // the reference evaluation's settings
    int n_k;
    const long *k;        // (n_k,) the spec's k values (spec.eval.k)
    size_t n_runs;
    AnRun *runs;          // (n_runs,) done runs, by run_id
    size_t n_grid;        // every run of the database
    size_t n_by_status[DB_RUN_N_STATUS]; // runs by DbRunStatus
    const char *loss_column; // runs column behind AnRun.loss: answer_loss, val_loss or final_loss
    char loss_note[256];     // why loss_column is not the loss asked for, or ""
    size_t n_problems;    // the task's evaluation problems: problem ids 0 .. n_problems − 1
    int n_budgets;        // the spec's budgets (a run's cell is family_idx · n_budgets + budget_idx)
} Analysis;

// Open an existing results database for reading and writing (fits are stored in it). A missing
// file is an error ("PATH: no such database"), not a new empty database.
int analysis_open_db(const char *path, Db **db);

// Read the database's spec and its done runs. -1 + err_set when the database has no sweep or no
// finished run ("PATH: no finished runs (9 pending, 0 running, ...): run t2 sweep first").
// The loss variable is the spec's analysis.loss (default "answer"), as analysis_use_loss picks it
// without STRICT.
int analysis_load(Db *db, Analysis *a);
// Choose the loss variable of the loss laws (chinchilla), the Chinchilla pick and T² stage 1:
// "answer" (runs.answer_loss, the held-out loss on answer tokens and EOS) or "val"
// (runs.val_loss, every scored token of the validation rows). When some done run lacks it —
// answer_loss of a text task or of a run finished by a t2 before it was recorded; val_loss of a
// task without a held-out part — STRICT makes that an error naming the runs; otherwise the next
// one is used (answer -> val -> final_loss) and a->loss_note says why.
int analysis_use_loss(Analysis *a, const char *name, int strict);
// analysis_load, then the loss variable of a --loss option (NULL: the spec's, not strict).
int analysis_load_loss(Db *db, Analysis *a, const char *loss);
void analysis_free(Analysis *a);
// The (model, budget) cell of a run: runs of one cell differ only by seed.
int analysis_cell(const Analysis *a, const AnRun *r);
// The k values t2-loss is fitted at: 1, 2, 4, ... up to the spec's analysis.k_max. Returns the count.
int analysis_loss_ks(const Analysis *a, double *k, int max);
#define AN_MAX_LOSS_K 40

// The run with RUN_ID, or NULL.
const AnRun *analysis_run(const Analysis *a, int run_id);
// "L2 d64 h4": the model of a run (its family member), for labels.
void analysis_model_label(const AnRun *r, char *out, size_t n);

// E_i[−log pass@k_i] term for one problem: −log(1 − (1 − e^logprob)^k), accurate when pass@k is
// tiny (e^logprob underflows) or close to 1.
double neg_log_pass_analytic(double logprob, double k);

// ---------------------------------------------------------------------------------------------
// Fit data from the database (t2 fit --db).
//   chinchilla  one point per done run: N = n_params, D = train_tokens, loss = loss_column
//   t2-loss     per run with gold rows and per k = 1, 2, 4, ... ≤ analysis.k_max (the gold
//               probability gives pass@k at any k): N, D, k, nll = E_i[−log pass@k_i]
//   t2-acc      per run with a reference eval and gold, per spec k: N, D, k, pass = metrics
//               'pass' (sampled), nll = the run's mean gold NLL (stage 1's target)
//   coverage    per run (model "run<ID>"), per spec k with sampled pass@k > 0; a run with fewer
//               than 3 such points is left out (noted)
// Every law's rows carry their run and (model, budget) cell, and the per-problem laws their
// per-problem terms (FitData), so that the bootstrap resamples problems and seeds.
typedef struct {
    char text[512];       // one human line: what was fitted and from which columns
    size_t n_runs;        // runs that contributed points
    size_t n_dropped;     // runs left out (no eval or gold, or too few positive points)
    char dropped[256];    // why, or ""
} AnFitNote;

// -1 + err_set when the database holds nothing the law can use ("no run has gold
// log-probabilities ..."); the point-count checks are fit_data_check's.
int analysis_fit_data(const Analysis *a, FitLaw law, FitData *d, AnFitNote *note);
// Identifies the data a fit was made on: FNV-1a over the law and every column.
uint64_t fit_data_hash(FitLaw law, const FitData *d);

// Sampled pass@k and maj@k of a run's reference eval at any k ≤ n_samples, from its stored
// samples with the estimators of `t2 eval` (unbiased pass@k, exact expected maj@k).
int analysis_sampled_at(Db *db, const AnRun *r, long k, double *pass, double *maj);

// ---------------------------------------------------------------------------------------------
// Equal-compute comparison (t2 compare, the report's headline, figures 5 and 7), in T²'s
// accounting (§3): the runs of one training budget level spent the same C_train; each is served
// with the samples an inference budget of C_inf FLOPs per query token affords, k = floor(C_inf /
// (2N)) (at most the eval's n_samples). Every run of a level then costs the same total compute,
// whatever the number of queries served. Needs FLOP budgets (budgets.train_flops), so that the
// runs of a level share C_train.
//
// Per (level, seed): the T² pick is the run with the highest sampled pass@k at its affordable k;
// the Chinchilla pick the run with the lowest loss (the Analysis's loss variable, held out: it
// never looks at the problems) at its affordable k. Choosing the T² pick on the problems it is
// then scored on would favour it by chance (the winner's curse), so the difference is
// cross-fitted: the problems are split into two fixed halves, each half is scored with the pick
// made on the other half, and every bootstrap resample (over problems, and seeds when pooled)
// makes both picks again. Scores are the unbiased pass@k and exact expected maj@k per problem;
// the paired difference T² − Chinchilla gets a 95% percentile interval. With several seeds, a
// pooled entry per level picks models by their means over seeds and resamples seeds and
// problems jointly.
#define AN_MAX_SEEDS 16

typedef struct {
    int run_id;          // -1: no pick (see the entry's note); pooled: the first seed's run
    int family_idx;      // the model
    int n_runs;          // runs behind it: 1, or the seeds pooled
    int run_ids[AN_MAX_SEEDS];
    double n_params;
    long k;              // samples per query
    int capped;          // the budget affords more than the eval's n_samples; k = n_samples
    double pass, maj;    // sampled pass@k and maj@k at k: means over problems (and seeds)
    double pass_ci[2];   // 95% bootstrap interval of pass over the same resamples as the entry's diff
} AnPick;

typedef struct {
    int budget_idx;
    double c_train;      // the level's training budget (the spec's value, FLOPs)
    double c_inf;        // inference FLOPs per query token
    int seed_idx;        // the seed's index in the spec, -1 for the pooled entry
    long seed;
    int summary;         // the entry that stands for its level: its only seed, or the pooled one
    int n_runs;          // runs of the level (this seed) with a reference eval
    int n_models;        // distinct models among them
    AnPick t2;           // the best sampled pass@k at its affordable k: small model plus sampling
    AnPick chinchilla;   // the lowest-loss run (the Chinchilla-style choice) at its affordable k
    AnPick chinchilla_1; // the lowest-loss run at k = 1 (train-only)
    // Cross-fitting: the T² pick made on each half (fold) of the problems, scoring the other
    // half; t2.pass and diff are over those scores. t2 itself names the pick on all problems.
    int fold_pick[2];        // candidate index (internal), -1: none
    AnPick fold[2];          // the pick made on fold f; its pass and maj: on the other fold
    double t2_in_sample_pass; // the full-data pick's pass on the problems it was chosen on (biased up)
    long n_problems;     // problems the paired difference is over
    long n_resamples;    // bootstrap resamples behind the intervals (0: none)
    double diff;         // pass@k: T² pick − Chinchilla pick
    double ci95[2];
    int significant;     // the interval excludes 0
    double maj_diff, maj_ci95[2];
    int maj_significant;
    char note[200];      // why there is no comparison, or what limits it; "" otherwise
} AnCompare;

typedef struct {
    long bootstrap;  // resamples of problems (and seeds); at least AN_COMPARE_MIN_BOOT
    uint64_t seed;
} AnCompareOptions;
#define AN_COMPARE_MIN_BOOT 1000
void analysis_compare_defaults(AnCompareOptions *o); // 2000 resamples, seed 0

// One entry per (budget level, seed), then the level's pooled entry when there are several seeds,
// levels in the spec's order; a level without evaluated runs, with one model only, or whose runs
// cannot afford one sample, is an entry with a note and no difference. -1 + err_set when the
// sweep's budgets are not FLOP budgets or no run is evaluated.
// The half (0 or 1) problem_id falls in for cross-fitting: a fixed hash of the id.
int analysis_problem_fold(long problem_id);
int analysis_compare(Db *db, const Analysis *a, double c_inf, const AnCompareOptions *o, AnCompare **out, size_t *n);
// {"c_train", "c_inf", "seed" (number, or "pooled"), "t2": {run_id, n_params, k, pass, maj,
//  capped[, run_ids]}, "chinchilla": {...}, "chinchilla_k1": {...}, "diff", "ci95", "significant",
//  "maj_diff", "maj_ci95", "maj_significant", "n_problems", "resamples", "n_runs", "n_models"
//  [, "note"]}: see docs/SPEC.md (t2 compare).
cJSON *analysis_compare_cjson(const AnCompare *c);
// Sampled pass@k at k of each problem of run R's reference eval, from its per-problem correct
// counts: OUT (Analysis.n_problems,), NAN where the problem has no full set of samples or k > n.
void analysis_problem_pass(const Analysis *a, const AnRun *r, long k, double *out);
// Sampled pass@k of run R at k with its interval over problems (from its per-problem counts).
double analysis_pass_ci(const Analysis *a, const AnRun *r, long k, long B, uint64_t seed, double ci[2]);

// The inference budgets to compare at: the spec's analysis.c_inf, else one budget that lets the
// smallest model draw the largest spec k (2 N_min k_max), described in WHY.
int analysis_c_inf(const Analysis *a, double *c_inf, int max, char *why, size_t why_len);
// Arrays that hold every budget these return: the spec's lists, or the sweep's FLOP budgets.
#define AN_MAX_C_INF SPEC_MAX_C_INF
#define AN_MAX_C_TRAIN SPEC_MAX_BUDGETS
_Static_assert(AN_MAX_C_TRAIN >= SPEC_MAX_C_TRAIN, "analysis.c_train fits where the sweep's budgets do");
// Comparisons kept for reuse within one command (`report --plots` draws them and writes them):
// analysis_compare_cached gives a copy (the caller frees it) of the entries computed before for
// the same c_inf and options, else computes them with analysis_compare and keeps them. CACHE NULL:
// analysis_compare. Zero-initialise; analysis_compare_cache_free releases what it keeps.
typedef struct {
    int n;
    double c_inf[AN_MAX_C_INF];
    AnCompareOptions o[AN_MAX_C_INF];
    AnCompare *cmp[AN_MAX_C_INF];
    size_t n_cmp[AN_MAX_C_INF];
} AnCompareCache;
int analysis_compare_cached(AnCompareCache *cache, Db *db, const Analysis *a, double c_inf, const AnCompareOptions *o,
                            AnCompare **out, size_t *n);
void analysis_compare_cache_free(AnCompareCache *cache);
// The training budgets of allocation tables: the spec's analysis.c_train, else the sweep's FLOP
// budgets, else the smallest and largest 6ND of the runs. Returns the count (≤ MAX).
int analysis_c_train(const Analysis *a, double *c_train, int max);

// ---------------------------------------------------------------------------------------------
// Fits in the database. A row's options_json holds {"bootstrap", "seed", "n_starts",
// "data_hash", "data": {...}, "resamples": [[params...], ...]}: the bootstrap estimates are
// kept so that `t2 optimize` and the report give intervals for allocations later.

// Store R as a `fits` row (converged or not, as r->converged says). *fit_id may be NULL.
int fitdb_store(Db *db, const FitResult *r, const FitOptions *o, uint64_t data_hash, const AnFitNote *note,
                long *fit_id);
// The latest converged fit of LAW made on data with DATA_HASH with at least MIN_BOOT bootstrap
// resamples asked for: 0 and *out (with its bootstrap estimates), 1 when there is none, -1 on error.
int fitdb_latest(Db *db, FitLaw law, uint64_t data_hash, long min_boot, FitResult *out, long *fit_id);

// A fit of LAW for the database's current data: the latest stored converged one with at least
// o->bootstrap resamples, else a fit made now with O and stored (converged or not). *fresh says
// which. -1 + err_set when the data do not
// allow the fit.
int analysis_fit(Db *db, const Analysis *a, FitLaw law, const FitOptions *o, FitResult *out, long *fit_id,
                 int *fresh);

#endif
