// fit_impl.h — internals shared by the fit*.c files: the L-BFGS wrapper, the deterministic
// multi-start driver, bootstrap plumbing and result construction.
#ifndef T2_FIT_IMPL_H
#define T2_FIT_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fit/fit.h"
#include "util/util.h"

#define FIT_MAX_X 16 // most parameters one minimisation has (t2-loss: 7)

// f(x) and its gradient g (n entries). May return a huge or infinite value where the model
// overflows; the line search then backs off.
typedef double (*ObjFn)(void *ctx, const double *x, double *g, int n);
// For the convergence verdict: every objective is f = Σ_i w_i ℓ(r_i) over per-point residuals
// r_i, so g_j = Σ_i w_i ℓ'(r_i) J_ij with J the residuals' Jacobian. s_j = sqrt(Σ w ℓ'²) ·
// sqrt(Σ w J_j²) bounds |g_j| (Cauchy–Schwarz), and |g_j| / s_j is the cosine between ℓ' and
// J's column j — MINPACK's scale-free gtol test, the same whether losses are 3 or 3e-4.
// s_j = INFINITY marks component j as settled at a bound (see fit_mark_bound).
typedef void (*ScaleFn)(void *ctx, const double *x, double *s, int n);

// The verdict's tolerance on the cosine. At minima limited by rounding t2 measures ~1e-10
// (Chinchilla's Huber sum), up to ~5e-7 (t2-loss) and ~2e-6 (t2-acc stage 2, lgamma
// differences); an unfinished run sits at 1e-3 and above.
#define FIT_ACCEPT 1e-5

// Positive coefficients are fitted through their logs (A = e^a), so the bound A = 0 lies at
// a = −∞, where L-BFGS can only creep. When the data favour no such term (E of a loss that
// goes below any positive floor, G when k does not matter), the fit runs there: the term's
// column of J is then negligible against the data (≤ FIT_BOUND_REL·ref) and the gradient still
// pushes it down (g ≥ 0). That is the constrained optimum (KKT at A = 0), not a failure: the
// coefficient and its exponent (which then has nothing to act on) count as settled, and the
// law reports the coefficient in FitResult.at_bound.
#define FIT_BOUND_REL 1e-9
static inline void fit_mark_bound(double *s, const double *g, int coef, int expo, double col_norm, double ref) {
    if (col_norm <= FIT_BOUND_REL * ref && g[coef] >= 0) {
        s[coef] = INFINITY;
        if (expo >= 0) s[expo] = INFINITY;
    }
}

typedef struct {
    double epsilon;  // liblbfgs stops when ||g|| <= epsilon · max(1, ||x||)
    double accept;   // converged when max_j |g_j| / s_j <= accept (see ScaleFn) ...
    double f_floor;  // ... or when f <= f_floor: residuals at rounding level, a perfect fit
                     // (there the cosine is noise). Laws set it from their data.
    double ftol_rel; // polishing stops when a restart improves f by less than this (relative)
    int max_iter;    // per L-BFGS call
    int polish;      // extra L-BFGS restarts from the end point (fresh curvature memory)
} MinOptions;

typedef struct {
    double f;       // objective at x, evaluated again after liblbfgs returns
    double gnorm;   // ||g(x)|| / max(1, ||x||), liblbfgs's own measure
    double cosine;  // max_j |g_j| / s_j
    unsigned bound; // bit j: component j settled at a bound (s_j = INFINITY)
    int status;     // liblbfgs return code of the last call
    int converged;
    long n_eval;    // objective evaluations
} MinResult;

// Minimise from x in place. Always leaves x at the best point liblbfgs reached.
void fit_minimize(ObjFn fn, ScaleFn scale, void *ctx, double *x, int n, const MinOptions *o, MinResult *res);

// Deterministic multi-start. start(sctx, i, x) writes start i; every start is minimised with
// opt (handed out to threads one at a time; they share ctx read-only); the FIT_KEEP best
// (lowest f, ties to the lowest index) are then polished with `polish`, and the best polished
// one wins (ties again to the lowest start). Starts may stop at a loose tolerance: a near-tie
// between basins is settled by the polished values, and the answer depends neither on the
// thread count nor on the scheduling.
#define FIT_KEEP 8

typedef struct {
    ObjFn fn;
    ScaleFn scale;
    void *ctx;
    int n;
    long n_starts;
    void (*start)(const void *sctx, long i, double *x);
    const void *sctx;
    MinOptions opt;    // each start
    MinOptions polish; // the FIT_KEEP best starts
} MultiStart;

typedef struct {
    double x[FIT_MAX_X];
    MinResult min;    // of the polished winner
    long index;       // which start won
    long n_converged; // starts that met the verdict before polishing
} StartBest;

void fit_multistart(const MultiStart *ms, int threads, StartBest *best);

// Largest |central difference − analytic gradient| over the components, relative to ||g||:
// the check of every law's hand-written gradient (tests).
double fit_gradient_error(ObjFn fn, void *ctx, const double *x, int n);
// Each law's objective checked at an internal parameter vector x (see the law's file for its
// layout): the tests' hook into the static objectives.
double chinchilla_gradient_error(const FitData *d, const double x[5]);
double t2loss_gradient_error(const FitData *d, const double x[7]);
double stage1_gradient_error(const FitData *d, double E, const double x[4]); // rows = models
double stage2_gradient_error(const FitData *d, const double *L_hat, double L_c, const double x[5]);
double coverage_gradient_error(const FitData *d, const double x[2]);                     // all rows, one model

// Threads to use: o->threads, or min(2, cpu_count()) when 0.
int fit_threads(const FitOptions *o);

// ---------------------------------------------------------------------------------------------
// Result construction.
void fit_result_init(FitResult *r, FitLaw law, size_t n_params, size_t n_alloc);
void fit_set(FitResult *r, size_t i, const char *name, double value);
void fit_set_alloc(FitResult *r, size_t i, const char *name, double value);
// The three allocation quantities from (A, B, alpha, beta) into r->alloc[0..2].
void fit_alloc_from_loss_law(FitResult *r, double A, double B, double alpha, double beta);
// Record in r->at_bound the names[j] of the coefficients whose bit is set in mask.
void fit_note_bounds(FitResult *r, unsigned mask, const char *const *names, int n);
void alloc_quantities(double A, double B, double alpha, double beta, double out[3]);

// Bootstrap: the law's refit of one resample. w holds the multiplicity of each unit (a point,
// or a model for t2-acc); est receives n_params + n_alloc values. Returns 1 when the refit
// converged. Called concurrently from worker threads: must only read shared state.
typedef int (*RefitFn)(const void *ctx, const double *w, double *est);
// Draw o->bootstrap resamples of n_units units with replacement — within each stratum when
// stratum_of (n_units,) is given (coverage: points within their model), else over all — each
// from its own seeded stream (deterministic at any thread count); refit each; keep the
// converged ones in r->boot and set every lo/hi to percentiles of those.
void fit_bootstrap(FitResult *r, size_t n_units, const size_t *stratum_of, RefitFn refit, const void *ctx,
                   const FitOptions *o);

// ---------------------------------------------------------------------------------------------
// The laws.
int fit_chinchilla(const FitData *d, const FitOptions *o, FitResult *r);
int fit_t2_loss(const FitData *d, const FitOptions *o, FitResult *r);
int fit_t2_acc(const FitData *d, const FitOptions *o, FitResult *r);
int fit_coverage(const FitData *d, const FitOptions *o, FitResult *r);

// Group rows into models (t2-acc, coverage): model_of[i] in [0, n_models), first appearance
// order; names[j] heap strings. Returns n_models.
size_t fit_group_models(const FitData *d, size_t *model_of, char ***names);

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
