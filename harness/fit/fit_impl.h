// fit_impl.h — internals shared by the fit*.c files: the objective shape every law implements,
// the bounded L-BFGS minimiser, the deterministic multi-start driver, identification (bounds and
// profiles), the cluster bootstrap and result construction.
#ifndef T2_FIT_IMPL_H
#define T2_FIT_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fit/fit.h"
#include "util/util.h"

#define FIT_MAX_X 16 // most parameters one minimisation has (t2-loss: 7)

// ---------------------------------------------------------------------------------------------
// The objective.
//
// Every law writes one function: f(x) and its gradient (grad, n entries), and, when scale is not
// NULL, the convergence verdict's bounds s_j. Every objective is f = Σ_i w_i ℓ(r_i) over per-point
// residuals r_i, so g_j = Σ_i w_i ℓ'(r_i) J_ij with J the residuals' Jacobian. s_j = sqrt(Σ w ℓ'²)
// · sqrt(Σ w J_j²) bounds |g_j| (Cauchy–Schwarz), and |g_j| / s_j is the cosine between ℓ' and J's
// column j — MINPACK's scale-free gtol test, the same whether losses are 3 or 3e-4.
// s_j = INFINITY marks component j as settled at a bound (see fit_mark_bound). May return a huge
// or infinite f where the model overflows; the line search then backs off.
typedef double (*FitEval)(void *ctx, const double *x, double *grad, double *scale);

// What is minimised: the objective and a box for each component. A box with both ends finite is
// enforced by the logistic reparametrisation x = lo + (hi − lo) σ(z): L-BFGS (liblbfgs has no
// bounds) runs on the unbounded z, every x it tries lies strictly inside, and the gradient and
// the verdict's bounds are carried through dx/dz. lo = −INFINITY, hi = INFINITY: unbounded.
typedef struct {
    FitEval eval;
    void *ctx;
    int n;
    double lo[FIT_MAX_X], hi[FIT_MAX_X];
    unsigned fixed; // bit j: component j stays at its start value (profiles)
} FitProblem;

// Every component unbounded and free.
void fit_problem_init(FitProblem *p, FitEval eval, void *ctx, int n);
// The range of the laws' exponents (alpha, beta, gamma; coverage's −b): (0, FIT_EXPONENT_MAX).
#define FIT_EXPONENT_MAX 3.0
// A component within this fraction of its box's width from an end, with the gradient pushing
// out of the box, is at that bound (the constrained optimum there, KKT).
#define FIT_BOX_TOL 1e-3

// The verdict's tolerance on the cosine. At minima limited by rounding t2 measures ~1e-10
// (Chinchilla's Huber sum), up to ~5e-7 (t2-loss) and ~2e-6 (t2-acc stage 2, lgamma
// differences); an unfinished run sits at 1e-3 and above.
#define FIT_ACCEPT 1e-5

// Positive coefficients are fitted through their logs (A = e^a), so the bound A = 0 lies at
// a = −∞, where L-BFGS can only creep. When the data favour no such term (E of a loss that
// goes below any positive floor, G when k does not matter), the fit runs there: the term's
// column of J is then negligible against the data (≤ FIT_BOUND_REL·ref) and the gradient still
// pushes it down (g ≥ 0). That is the constrained optimum (KKT at A = 0) and the verdict counts
// the coefficient and its exponent (which then has nothing to act on) as settled; but the data
// then do not identify them, and the law lists both in not_identified.
#define FIT_BOUND_REL 1e-9
static inline void fit_mark_bound(double *s, const double *g, int coef, int expo, double col_norm, double ref) {
    if (col_norm <= FIT_BOUND_REL * ref && g[coef] >= 0) {
        s[coef] = INFINITY;
        if (expo >= 0) s[expo] = INFINITY;
    }
}

typedef struct {
    double epsilon;  // liblbfgs stops when ||g|| <= epsilon · max(1, ||z||)
    double accept;   // converged when max_j |g_j| / s_j <= accept (see FitEval) ...
    double f_floor;  // ... or when f <= f_floor: residuals at rounding level, a perfect fit
                     // (there the cosine is noise). Laws set it from their data.
    double ftol_rel; // polishing stops when a restart improves f by less than this (relative)
    int max_iter;    // per L-BFGS call
    int polish;      // extra L-BFGS restarts from the end point (fresh curvature memory)
} MinOptions;

typedef struct {
    double f;       // objective at x, evaluated again after liblbfgs returns
    double gnorm;   // ||g(z)|| / max(1, ||z||), liblbfgs's own measure
    double cosine;  // max_j |g_j| / s_j over the free components
    unsigned bound; // bit j: component j settled at a bound (s_j = INFINITY, or a box end)
    int status;     // liblbfgs return code of the last call
    int converged;
    long n_eval;    // objective evaluations
} MinResult;

// Minimise from x (natural coordinates, inside the box) in place. Always leaves x at the best
// point liblbfgs reached.
void fit_minimize(const FitProblem *p, double *x, const MinOptions *o, MinResult *res);

// Deterministic multi-start. start(sctx, i, x) writes start i (a start outside a box is moved
// inside, FIT_START_INSET of the width from the end); every start is minimised with opt (handed
// out to threads one at a time; they share the problem read-only); the FIT_KEEP best (lowest f,
// ties to the lowest index) are then polished with `polish`, and the best polished one wins
// (ties again to the lowest start). Starts may stop at a loose tolerance: a near-tie between
// basins is settled by the polished values, and the answer depends neither on the thread count
// nor on the scheduling.
#define FIT_KEEP 8
#define FIT_START_INSET 1e-3

typedef struct {
    FitProblem prob;
    long n_starts;
    void (*start)(const void *sctx, long i, double *x);
    const void *sctx;
    MinOptions opt;    // each start
    MinOptions polish; // the FIT_KEEP best starts
} MultiStart;

typedef struct {
    double x[FIT_MAX_X];
    MinResult min;      // of the polished winner
    long index;         // which start won
    long n_converged;   // starts that met the verdict before polishing
    long top[FIT_KEEP]; // the best starts before polishing, best first (the bootstrap's extra starts)
    int n_top;
} StartBest;

void fit_multistart(const MultiStart *ms, int threads, StartBest *best);
// Write start i of MS into x, moved inside the boxes (as fit_multistart does).
void fit_start_point(const MultiStart *ms, long i, double *x);

// A refit from a few starts (the bootstrap's): each of the n_starts points (n_starts, prob->n) is
// minimised with quick, the best (lowest f, ties to the first) is polished; x receives it.
void fit_refit(const FitProblem *p, const double *starts, int n_starts, const MinOptions *quick,
               const MinOptions *polish, double *x, MinResult *m);
// Extra starts for bootstrap refits besides the full-data optimum.
#define FIT_BOOT_EXTRA 3
// The starts of a bootstrap refit (max of them, rows of ms->prob.n): the full-data optimum, then
// the start points of the next best starts of the full fit. Returns how many.
int fit_boot_starts(const MultiStart *ms, const StartBest *best, double *starts, int max);

// log v − its mean, into z (n,); returns the mean: the centred coordinates of every law's fit.
double fit_centred_log(const double *v, size_t n, double *z);

// Largest |central difference − analytic gradient| over the components, relative to ||g||:
// the check of every law's hand-written gradient (tests).
double fit_gradient_error(FitEval eval, void *ctx, const double *x, int n);
// Each law's objective checked at an internal parameter vector x (see the law's file for its
// layout): the tests' hook into the static objectives.
double chinchilla_gradient_error(const FitData *d, const double x[5]);
double t2loss_gradient_error(const FitData *d, const double x[7]);
double stage1_gradient_error(const FitData *d, double E, const double x[4]); // rows = models
double stage2_gradient_error(const FitData *d, const double *L_hat, double L_c, const double x[5]);
double coverage_gradient_error(const FitData *d, const double x[2]);                     // all rows, one model


// ---------------------------------------------------------------------------------------------
// Identification. Each law's internal components (what the minimiser moves) have a kind, which
// says how far a profile steps and how wide a bootstrap interval may be before the component
// counts as not identified by the data:
//   COMP_LOG   the log of a positive quantity (a coefficient, or a term's size at the data's
//              centre): steps of ± log FIT_IDENT_FACTOR; unpinned when its interval spans more
//              than a factor FIT_IDENT_FACTOR;
//   COMP_EXP   an exponent in its box: steps to ×, ÷ FIT_IDENT_FACTOR (inside the box); the same
//              factor on its interval (of |x|);
//   COMP_REAL  a real number with a natural scale `step`: steps of ± step; unpinned when its
//              interval is wider than step.
#define FIT_IDENT_FACTOR 10.0
// A profile is flat when holding a component one step away and re-minimising the others raises
// the objective by at most FIT_RIDGE_CHI2 · f / (units − free parameters): the likelihood-ratio
// test's 95% threshold for least squares (for a Huber sum in its linear part, twice as lenient
// as Laplace's: more profiles count as flat).
#define FIT_RIDGE_CHI2 3.841458820694124
// A law whose bootstrap refits failed in more than half the resamples identifies nothing.
#define FIT_BOOT_MIN_USED 0.5

typedef enum { COMP_LOG, COMP_EXP, COMP_REAL } CompKind;
typedef struct {
    CompKind kind;
    double step; // COMP_REAL only
} CompSpec;

// Why a component is not identified, as bits: FIT_WHY_* (first set bit is the reason shown).
enum { WHY_BOUND = 1, WHY_FLAT = 2, WHY_WIDE = 4, WHY_FAILED = 8, WHY_NOT_CONVERGED = 16 };

// The Δf that counts as flat at optimum f with `units` independent units and `free` parameters.
double fit_ridge_tol(double f, double f_floor, size_t units, int free);
// Profiles of every free component of P at its optimum x (objective f) not in `skip`: returns
// the components whose profile is flat on either side. Profiles start from x and are minimised
// with o.
unsigned fit_flat_profiles(const FitProblem *p, const double *x, double f, double tol, const CompSpec *comp,
                           unsigned skip, const MinOptions *o);
// Add to why (p->n,) WHY_BOUND for the components the verdict m settled at a bound and WHY_FLAT for
// those whose profile is flat (fit_flat_profiles with tolerance tol).
void fit_bound_and_flat(const FitProblem *p, const double *x, const MinResult *m, double tol, const CompSpec *comp,
                        const MinOptions *o, unsigned *why);
// Components whose bootstrap interval (ci (n, 2) of internal values) is wider than its kind allows.
unsigned fit_wide_intervals(const double *ci, const CompSpec *comp, int n);
// Add to why (n,) WHY_WIDE for the components fit_wide_intervals finds and WHY_FAILED for those
// fewer than FIT_BOOT_MIN_USED of the n_boot resamples could refit (used (n,)).
void fit_boot_why(unsigned *why, const CompSpec *comp, const double *ci, const long *used, int n, long n_boot);
// The components to report at a bound, from a verdict's bound mask: an unboxed component (a
// log-coefficient at −∞, its term gone) or a boxed one at an end of its box — not an exponent
// the verdict settled because its coefficient vanished.
unsigned fit_at_bound(const FitProblem *p, const double *x, unsigned bound);

// Mark reported parameters first .. first + n − 1: param first + j depends on the internal
// components in the bit mask dep[j]; why_comp[c] holds component c's WHY_* bits. Sets
// FitParam.identified and .why, and counts r->n_not_identified.
void fit_mark_identified(FitResult *r, size_t first, size_t n, const unsigned *dep, const unsigned *why_comp,
                         int n_comp);

// ---------------------------------------------------------------------------------------------
// Result construction.
void fit_result_init(FitResult *r, FitLaw law, size_t n_params, size_t n_alloc);
void fit_set(FitResult *r, size_t i, const char *name, double value);
void fit_set_alloc(FitResult *r, size_t i, const char *name, double value);
// The three allocation quantities from (A, B, alpha, beta) into r->alloc[0..2].
void fit_alloc_from_loss_law(FitResult *r, double A, double B, double alpha, double beta);
// Record in r->at_bound the names[j] of the components whose bit is set in mask.
void fit_note_bounds(FitResult *r, unsigned mask, const char *const *names, int n);
void alloc_quantities(double A, double B, double alpha, double beta, double out[3]);
// Residuals (observed − predicted) by distinct k, for laws with a k column (t2-loss: nll,
// t2-acc: pass).
void fit_residuals_by_k(FitResult *r, const FitData *d);

// ---------------------------------------------------------------------------------------------
// Bootstrap.
//
// What is resampled (fit.h, FitData): problems, when the rows' targets are means over problems
// (their per-problem terms recomputed under the drawn multiplicities); runs within their
// (model, budget) cell, when a cell holds several runs (seeds); both jointly. Without either (a
// CSV, one seed): whole units — rows for chinchilla (each row a run), models (all their rows)
// for t2-loss and t2-acc.
//
// The law's refit of one resample: d holds the resampled targets (the other columns shared), w
// (d->n,) the row multiplicities. est receives n_params + n_alloc values (NAN where that part
// of the fit failed: coverage fails per model) and internal the law's internal components
// (n_internal). Returns 1 when the refit converged. Called concurrently from worker threads:
// must only read ctx.
typedef int (*RefitFn)(const void *ctx, const FitData *d, const double *w, double *est, double *internal);

typedef struct {
    RefitFn refit;
    const void *ctx;
    int n_internal;
    double *internal_ci; // out (n_internal, 2): percentile intervals of the internal components
    long *internal_used; // out (n_internal,): resamples behind each, or NULL
} BootSpec;

// Draw o->bootstrap resamples (each from its own seeded stream: deterministic at any thread
// count), refit each, keep the estimates of those that converged in r->boot (rows with every
// value finite), and set every lo/hi (and FitParam.n_used) to percentiles of the finite values
// of its column. -1 + err_set when the data give nothing to resample.
int fit_bootstrap(FitResult *r, const FitData *d, BootSpec *b, const FitOptions *o);

// ---------------------------------------------------------------------------------------------
// The laws.
int fit_chinchilla(const FitData *d, const FitOptions *o, FitResult *r);
int fit_t2_loss(const FitData *d, const FitOptions *o, FitResult *r);
int fit_t2_acc(const FitData *d, const FitOptions *o, FitResult *r);
int fit_coverage(const FitData *d, const FitOptions *o, FitResult *r);

// Group rows into models (t2-acc, coverage): model_of[i] in [0, n_models), first appearance
// order; names[j] heap strings. Returns n_models.
size_t fit_group_models(const FitData *d, size_t *model_of, char ***names);
// Independent units of a fit (the ridge test's count): distinct runs when d->run is set, else
// rows for chinchilla, models for the others.
size_t fit_units(FitLaw law, const FitData *d);

// Huber loss with threshold delta and its derivative.
static inline double huber(double r, double delta, double *dh) {
    double c = r < -delta ? -delta : (r > delta ? delta : r); // clamp(r, -delta, delta)
    *dh = c;
    return c * (r - 0.5 * c);
}

double digamma(double x);
// lgamma(x + k) − lgamma(x) and ψ(x + k) − ψ(x) for x > 0, k ≥ 0, accurate also when x ≫ k, where
// the plain differences cancel (the Beta model's shapes reach 1e16 and beyond when a law is
// evaluated far from its data): Stirling's series of the difference above x = 100.
double lgamma_diff(double x, double k);
double digamma_diff(double x, double k);

// Vectorised exp and log. glibc's libmvec (x86-64, reached through libm) has SIMD variants of
// exp and log; math.h declares them only under -ffast-math, which t2 does not use. Declaring the
// vector ABI here lets GCC vectorise the objectives' per-point loops (2–3× on the Chinchilla
// grid) while every reduction stays scalar and in order, so results stay deterministic.
// libmvec's variants are accurate to a few ulp.
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
extern double exp(double) __attribute__((simd("notinbranch")));
extern double log(double) __attribute__((simd("notinbranch")));
#endif

#endif
