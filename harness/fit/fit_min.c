// fit_min.c — L-BFGS (liblbfgs) with box bounds by reparametrisation and an honest convergence
// verdict, the deterministic multi-start driver every law uses, and the profiles behind the
// identification of parameters.
//
// What counts as converged. liblbfgs stops for three kinds of reasons:
//   - LBFGS_SUCCESS (= LBFGS_CONVERGENCE), LBFGS_ALREADY_MINIMIZED: ||g|| <= epsilon·max(1,||x||).
//   - LBFGS_STOP: the objective stopped decreasing (only with past > 0; t2 does not use it).
//   - line-search failures (LBFGSERR_ROUNDING_ERROR, MINIMUMSTEP, MAXIMUMLINESEARCH,
//     WIDTHTOOSMALL, INCREASEGRADIENT...) and LBFGSERR_MAXIMUMITERATION. A line search that
//     cannot find a lower point is what happens at a minimum once f is flat to rounding, so
//     such a stop is a minimum when the gradient there is small, and a failure when it is not.
// liblbfgs's own test is not scale-free (||g|| depends on the size of the losses and on the
// number of points), so t2 asks for epsilon tighter than rounding allows, lets runs end on the
// line search, and judges the point liblbfgs returns (it reverts to the last accepted iterate
// on a line-search failure) by itself, whatever the code: converged when f is finite and every
// gradient component is small against what the residuals could produce (the cosine test of
// FitEval's scale; a component settled at a bound counts as satisfied), or when f is at rounding
// level (a perfect fit). liblbfgs's *ptr_fx is not used: after a failed line search it holds
// the last trial value, not f(x).
#include <lbfgs.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_impl.h"
#include "util/threadpool.h"

void fit_problem_init(FitProblem *p, FitEval eval, void *ctx, int n) {
    memset(p, 0, sizeof *p);
    p->eval = eval;
    p->ctx = ctx;
    p->n = n;
    for (int j = 0; j < FIT_MAX_X; j++) {
        p->lo[j] = -INFINITY;
        p->hi[j] = INFINITY;
    }
}

static int boxed(const FitProblem *p, int j) { return isfinite(p->lo[j]) && isfinite(p->hi[j]); }

static double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

// z → x, and dx/dz (0 where σ' underflows: the component is then pinned to its end).
static void to_natural(const FitProblem *p, const double *z, double *x, double *dxdz) {
    for (int j = 0; j < p->n; j++) {
        if (!boxed(p, j)) {
            x[j] = z[j];
            dxdz[j] = 1;
            continue;
        }
        double s = sigmoid(z[j]), w = p->hi[j] - p->lo[j];
        x[j] = p->lo[j] + w * s;
        dxdz[j] = w * s * sigmoid(-z[j]);
    }
}

// x → z. A value closer to a box end than FIT_EDGE of the width is moved to that distance:
// deeper in the logistic's tail dx/dz is so small that a step in z changes f by less than
// rounding, and a minimisation started there could not leave the end even when the data
// want it to (a bootstrap refit from an optimum at a bound).
#define FIT_EDGE 1e-6
static void to_internal(const FitProblem *p, const double *x, double *z) {
    for (int j = 0; j < p->n; j++) {
        if (!boxed(p, j)) {
            z[j] = x[j];
            continue;
        }
        double t = (x[j] - p->lo[j]) / (p->hi[j] - p->lo[j]);
        t = fmin(fmax(t, FIT_EDGE), 1 - FIT_EDGE);
        z[j] = log(t) - log1p(-t);
    }
}

typedef struct {
    const FitProblem *p;
    long n_eval;
} EvalCtx;

// The objective in z: the law's gradient times dx/dz, zero for fixed components.
static lbfgsfloatval_t eval_cb(void *inst, const lbfgsfloatval_t *z, lbfgsfloatval_t *gz, const int n,
                               const lbfgsfloatval_t step) {
    (void)step;
    EvalCtx *e = inst;
    const FitProblem *p = e->p;
    double x[FIT_MAX_X], d[FIT_MAX_X], g[FIT_MAX_X];
    to_natural(p, z, x, d);
    e->n_eval++;
    double f = p->eval(p->ctx, x, g, NULL);
    for (int j = 0; j < n; j++) gz[j] = (p->fixed >> j & 1) ? 0 : g[j] * d[j];
    // NaN would poison the Moré–Thuente interval logic; a huge value makes it step back.
    if (isnan(f)) f = HUGE_VAL;
    return f;
}

static double norm2(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i] * v[i];
    return sqrt(s);
}

const char *fit_lbfgs_reason(int status) {
    switch (status) {
    case LBFGS_SUCCESS: return "gradient below liblbfgs's tolerance";
    case LBFGS_STOP: return "objective stopped decreasing";
    case LBFGS_ALREADY_MINIMIZED: return "start point already minimal";
    case LBFGSERR_ROUNDING_ERROR: return "line search limited by rounding";
    case LBFGSERR_MINIMUMSTEP: return "line search step below minimum";
    case LBFGSERR_MAXIMUMSTEP: return "line search step above maximum";
    case LBFGSERR_MAXIMUMLINESEARCH: return "line search evaluation limit";
    case LBFGSERR_MAXIMUMITERATION: return "iteration limit";
    case LBFGSERR_WIDTHTOOSMALL: return "line search interval too small";
    case LBFGSERR_INCREASEGRADIENT: return "search direction not descending";
    case LBFGSERR_OUTOFMEMORY: return "out of memory";
    default: return "liblbfgs error";
    }
}

// f, liblbfgs's relative gradient norm and the cosine measure at z. A boxed component within
// FIT_BOX_TOL of an end with the gradient pushing outwards is settled at that bound (KKT); so is
// one whose s_j the law set to INFINITY; fixed components do not count. near_end: the boxed
// components within FIT_BOX_TOL of an end whatever their gradient; cos (n,) each one's cosine.
static int evaluate_at(EvalCtx *ec, const double *z, MinResult *res, unsigned *near_end, double *cos) {
    const FitProblem *p = ec->p;
    int n = p->n;
    double gz[FIT_MAX_X], s[FIT_MAX_X], x[FIT_MAX_X], d[FIT_MAX_X], g[FIT_MAX_X];
    to_natural(p, z, x, d);
    res->f = p->eval(p->ctx, x, g, s);
    ec->n_eval++;
    for (int j = 0; j < n; j++) gz[j] = (p->fixed >> j & 1) ? 0 : g[j] * d[j];
    double zn = norm2(z, n);
    res->gnorm = norm2(gz, n) / (zn > 1 ? zn : 1);
    res->cosine = 0;
    res->bound = 0;
    *near_end = 0;
    for (int j = 0; j < n; j++) {
        cos[j] = 0;
        if (p->fixed >> j & 1) continue;
        if (boxed(p, j)) {
            double t = (x[j] - p->lo[j]) / (p->hi[j] - p->lo[j]);
            if (t <= FIT_BOX_TOL || t >= 1 - FIT_BOX_TOL) *near_end |= 1u << j;
            if ((t <= FIT_BOX_TOL && g[j] >= 0) || (t >= 1 - FIT_BOX_TOL && g[j] <= 0)) s[j] = INFINITY;
        }
        if (isinf(s[j])) {
            res->bound |= 1u << j;
            continue;
        }
        cos[j] = s[j] > 0 ? fabs(g[j]) / s[j] : (g[j] == 0 ? 0 : HUGE_VAL);
        res->cosine = fmax(res->cosine, cos[j]);
    }
    return isfinite(res->f) && isfinite(res->gnorm) && !isnan(res->cosine);
}

static int line_search_stop(int status) {
    return status == LBFGSERR_ROUNDING_ERROR || status == LBFGSERR_MINIMUMSTEP || status == LBFGSERR_MAXIMUMSTEP ||
           status == LBFGSERR_MAXIMUMLINESEARCH || status == LBFGSERR_WIDTHTOOSMALL || status == LBFGSERR_INCREASEGRADIENT;
}

void fit_minimize(const FitProblem *p, double *x, const MinOptions *o, MinResult *res) {
    lbfgs_parameter_t lp;
    lbfgs_parameter_init(&lp);
    lp.epsilon = o->epsilon;
    lp.max_iterations = o->max_iter;
    EvalCtx ec = {p, 0};
    int n = p->n;
    double z[FIT_MAX_X], d[FIT_MAX_X], cos[FIT_MAX_X];
    unsigned near_end = 0;
    to_internal(p, x, z);
    double prev_f = HUGE_VAL;
    int status = LBFGSERR_UNKNOWNERROR, finite = 0;
    for (int round = 0; round <= o->polish; round++) {
        double fz;
        status = lbfgs(n, z, &fz, eval_cb, NULL, &ec, &lp);
        finite = evaluate_at(&ec, z, res, &near_end, cos);
        if (!finite || status == LBFGS_SUCCESS || status == LBFGS_ALREADY_MINIMIZED) break;
        if (round > 0 && prev_f - res->f <= o->ftol_rel * fabs(prev_f)) break;
        prev_f = res->f;
    }
    // A line search that cannot move a component lying within FIT_BOX_TOL of a box end (the
    // logistic's tail is flat to rounding there) leaves it at that end, whichever way its small
    // gradient points: the optimum is at most FIT_BOX_TOL of the range inside, and is reported at
    // the bound.
    if (finite && line_search_stop(status) && res->cosine > o->accept) {
        unsigned failing = 0;
        for (int j = 0; j < n; j++)
            if (cos[j] > o->accept) failing |= 1u << j;
        if ((failing & ~near_end) == 0) {
            res->bound |= failing;
            res->cosine = 0;
            for (int j = 0; j < n; j++)
                if (!(failing >> j & 1)) res->cosine = fmax(res->cosine, cos[j]);
        }
    }
    double keep[FIT_MAX_X];
    memcpy(keep, x, sizeof(double) * (size_t)n);
    to_natural(p, z, x, d);
    for (int j = 0; j < n; j++)
        if (p->fixed >> j & 1) x[j] = keep[j]; // exactly the value it was held at
    if (!finite) res->f = HUGE_VAL;
    res->status = status;
    res->converged = finite && (res->cosine <= o->accept || res->f <= o->f_floor) && status != LBFGSERR_OUTOFMEMORY;
    res->n_eval = ec.n_eval;
}

int fit_threads(const FitOptions *o) {
    if (o && o->threads > 0) return o->threads;
    int c = cpu_count();
    return c >= 2 ? 2 : 1;
}

// ---------------------------------------------------------------------------------------------
// Multi-start.
typedef struct {
    double f;
    long index;
    double x[FIT_MAX_X];
} Candidate;

// The FIT_KEEP best candidates in (f, index) order.
typedef struct {
    Candidate c[FIT_KEEP];
    int n;
    long n_converged;
} TopK;

static int before(double f, long i, const Candidate *c) { return f < c->f || (f == c->f && i < c->index); }

static void topk_insert(TopK *t, double f, long index, const double *x, int n) {
    if (!isfinite(f) || (t->n == FIT_KEEP && !before(f, index, &t->c[FIT_KEEP - 1]))) return;
    int at = t->n < FIT_KEEP ? t->n++ : FIT_KEEP - 1;
    while (at > 0 && before(f, index, &t->c[at - 1])) {
        t->c[at] = t->c[at - 1];
        at--;
    }
    t->c[at].f = f;
    t->c[at].index = index;
    memcpy(t->c[at].x, x, sizeof(double) * (size_t)n);
}

void fit_start_point(const MultiStart *ms, long i, double *x) {
    ms->start(ms->sctx, i, x);
    const FitProblem *p = &ms->prob;
    for (int j = 0; j < p->n; j++) {
        if (!boxed(p, j)) continue;
        double inset = FIT_START_INSET * (p->hi[j] - p->lo[j]);
        x[j] = fmin(fmax(x[j], p->lo[j] + inset), p->hi[j] - inset);
    }
}

typedef struct {
    const MultiStart *ms;
    TopK *per_thread; // (threads,)
    atomic_long next; // the next start to hand out
} MsJob;

static void ms_worker(void *arg, int tid, int n_threads) {
    (void)n_threads;
    MsJob *job = arg;
    const MultiStart *ms = job->ms;
    TopK *top = &job->per_thread[tid];
    // Starts are handed out one at a time, so a thread slowed by other load takes fewer; which
    // thread ran a start does not change its result.
    for (long i; (i = atomic_fetch_add(&job->next, 1)) < ms->n_starts;) {
        double x[FIT_MAX_X];
        MinResult m;
        fit_start_point(ms, i, x);
        fit_minimize(&ms->prob, x, &ms->opt, &m);
        top->n_converged += m.converged;
        topk_insert(top, m.f, i, x, ms->prob.n);
    }
}

void fit_multistart(const MultiStart *ms, int threads, StartBest *best) {
    int n = ms->prob.n;
    if (threads < 1) threads = 1;
    if (threads > ms->n_starts) threads = (int)(ms->n_starts > 0 ? ms->n_starts : 1);
    TopK *per = xcalloc((size_t)threads, sizeof *per);
    MsJob job = {ms, per, 0};
    ThreadPool *pool = pool_create(threads);
    pool_run(pool, ms_worker, &job);
    pool_free(pool);
    // Each start's outcome does not depend on the thread that ran it, and (f, index) is a total
    // order, so the merged top list does not depend on the thread count.
    TopK all = {.n = 0, .n_converged = 0};
    for (int t = 0; t < threads; t++) {
        all.n_converged += per[t].n_converged;
        for (int j = 0; j < per[t].n; j++) topk_insert(&all, per[t].c[j].f, per[t].c[j].index, per[t].c[j].x, n);
    }
    free(per);
    best->n_converged = all.n_converged;
    best->index = -1;
    best->n_top = all.n;
    for (int j = 0; j < all.n; j++) best->top[j] = all.c[j].index;
    for (int j = 0; j < all.n; j++) {
        MinResult m;
        fit_minimize(&ms->prob, all.c[j].x, &ms->polish, &m);
        if (best->index < 0 || m.f < best->min.f || (m.f == best->min.f && all.c[j].index < best->index)) {
            best->min = m;
            best->index = all.c[j].index;
            memcpy(best->x, all.c[j].x, sizeof(double) * (size_t)n);
        }
    }
    if (best->index < 0) { // nothing finite: report from start 0
        fit_start_point(ms, 0, best->x);
        fit_minimize(&ms->prob, best->x, &ms->polish, &best->min);
        best->index = 0;
    }
}

void fit_refit(const FitProblem *p, const double *starts, int n_starts, const MinOptions *quick,
               const MinOptions *polish, double *x, MinResult *m) {
    int n = p->n, win = -1;
    double best_f = HUGE_VAL, best_x[FIT_MAX_X];
    for (int s = 0; s < n_starts; s++) {
        double xs[FIT_MAX_X];
        memcpy(xs, starts + (size_t)s * (size_t)n, sizeof(double) * (size_t)n);
        MinResult q;
        fit_minimize(p, xs, quick, &q);
        if (win < 0 || q.f < best_f) {
            win = s;
            best_f = q.f;
            memcpy(best_x, xs, sizeof best_x);
        }
    }
    memcpy(x, best_x, sizeof(double) * (size_t)n);
    fit_minimize(p, x, polish, m);
}

int fit_boot_starts(const MultiStart *ms, const StartBest *best, double *starts, int max) {
    int n = ms->prob.n, k = 0;
    memcpy(starts, best->x, sizeof(double) * (size_t)n);
    k++;
    for (int t = 1; t < best->n_top && k < max; t++) fit_start_point(ms, best->top[t], starts + (size_t)(n * k++));
    return k;
}

double fit_gradient_error(FitEval eval, void *ctx, const double *x, int n) {
    double g[FIT_MAX_X], gp[FIT_MAX_X], xs[FIT_MAX_X], err = 0, gn;
    eval(ctx, x, g, NULL);
    gn = norm2(g, n);
    for (int j = 0; j < n; j++) {
        memcpy(xs, x, sizeof(double) * (size_t)n);
        double h = 1e-6 * fmax(1, fabs(x[j]));
        xs[j] = x[j] + h;
        double fp = eval(ctx, xs, gp, NULL);
        xs[j] = x[j] - h;
        double fm = eval(ctx, xs, gp, NULL);
        err = fmax(err, fabs((fp - fm) / (2 * h) - g[j]));
    }
    return err / (gn > 0 ? gn : 1);
}

double fit_centred_log(const double *v, size_t n, double *z) {
    double c = 0;
    for (size_t i = 0; i < n; i++) c += z[i] = log(v[i]);
    c /= (double)n;
    for (size_t i = 0; i < n; i++) z[i] -= c;
    return c;
}

// ---------------------------------------------------------------------------------------------
// Identification: profiles and interval widths (see fit_impl.h).
double fit_ridge_tol(double f, double f_floor, size_t units, int free) {
    double dof = (double)units - (double)free;
    return FIT_RIDGE_CHI2 * fmax(f, 0) / fmax(dof, 1) + fmax(f_floor, 0);
}

// The two values a profile holds component j at (steps below and above x_j); 0 when a side
// is unavailable (an end of the box reached already).
static int profile_points(const FitProblem *p, const double *x, int j, const CompSpec *c, double out[2]) {
    double v = x[j];
    switch (c->kind) {
    case COMP_LOG:
        out[0] = v - log(FIT_IDENT_FACTOR);
        out[1] = v + log(FIT_IDENT_FACTOR);
        break;
    case COMP_EXP: {
        // |x| × or ÷ the factor, kept inside the box (exponents of either sign: coverage's b < 0).
        out[0] = v / FIT_IDENT_FACTOR;
        out[1] = v * FIT_IDENT_FACTOR;
        break;
    }
    default:
        out[0] = v - c->step;
        out[1] = v + c->step;
    }
    if (!boxed(p, j)) return 2;
    double inset = FIT_BOX_TOL * (p->hi[j] - p->lo[j]);
    for (int s = 0; s < 2; s++) out[s] = fmin(fmax(out[s], p->lo[j] + inset), p->hi[j] - inset);
    return 2;
}

unsigned fit_flat_profiles(const FitProblem *p, const double *x, double f, double tol, const CompSpec *comp,
                           unsigned skip, const MinOptions *o) {
    unsigned flat = 0;
    for (int j = 0; j < p->n; j++) {
        if ((skip | p->fixed) >> j & 1) continue;
        double at[2];
        profile_points(p, x, j, &comp[j], at);
        for (int s = 0; s < 2 && !(flat >> j & 1); s++) {
            if (at[s] == x[j]) continue; // no room on this side: the box end is the value
            FitProblem q = *p;
            q.fixed |= 1u << j;
            double y[FIT_MAX_X];
            memcpy(y, x, sizeof(double) * (size_t)p->n);
            y[j] = at[s];
            MinResult m;
            fit_minimize(&q, y, o, &m);
            if (m.f - f <= tol) flat |= 1u << j;
        }
    }
    return flat;
}

void fit_bound_and_flat(const FitProblem *p, const double *x, const MinResult *m, double tol, const CompSpec *comp,
                        const MinOptions *o, unsigned *why) {
    unsigned flat = fit_flat_profiles(p, x, m->f, tol, comp, m->bound, o);
    for (int j = 0; j < p->n; j++) why[j] |= (m->bound >> j & 1 ? WHY_BOUND : 0) | (flat >> j & 1 ? WHY_FLAT : 0);
}

unsigned fit_wide_intervals(const double *ci, const CompSpec *comp, int n) {
    unsigned wide = 0;
    for (int j = 0; j < n; j++) {
        double lo = ci[2 * j], hi = ci[2 * j + 1];
        if (!isfinite(lo) || !isfinite(hi)) continue;
        int w;
        switch (comp[j].kind) {
        case COMP_LOG: w = hi - lo > log(FIT_IDENT_FACTOR); break;
        case COMP_EXP: {
            double a = fmin(fabs(lo), fabs(hi)), b = fmax(fabs(lo), fabs(hi));
            w = lo * hi <= 0 || b > FIT_IDENT_FACTOR * a;
            break;
        }
        default: w = hi - lo > comp[j].step;
        }
        if (w) wide |= 1u << j;
    }
    return wide;
}

void fit_boot_why(unsigned *why, const CompSpec *comp, const double *ci, const long *used, int n, long n_boot) {
    unsigned wide = fit_wide_intervals(ci, comp, n);
    for (int j = 0; j < n; j++) {
        if (wide >> j & 1) why[j] |= WHY_WIDE;
        if ((double)used[j] < FIT_BOOT_MIN_USED * (double)n_boot) why[j] |= WHY_FAILED;
    }
}

unsigned fit_at_bound(const FitProblem *p, const double *x, unsigned bound) {
    unsigned at = 0;
    for (int j = 0; j < p->n; j++) {
        if (!(bound >> j & 1)) continue;
        if (!boxed(p, j)) {
            at |= 1u << j;
            continue;
        }
        double t = (x[j] - p->lo[j]) / (p->hi[j] - p->lo[j]);
        if (t <= FIT_BOX_TOL || t >= 1 - FIT_BOX_TOL) at |= 1u << j;
    }
    return at;
}

// ---------------------------------------------------------------------------------------------
// digamma ψ(x) for x > 0 (the gradient of lgamma): the recurrence ψ(x) = ψ(x+1) − 1/x up to
// x ≥ 10, then the asymptotic series to x^−10 (the next term, 691/32760x¹², is below 3e-14).
double digamma(double x) {
    double acc = 0;
    while (x < 10) {
        acc -= 1 / x;
        x += 1;
    }
    double r = 1 / x, r2 = r * r;
    // ψ(x) ~ ln x − 1/2x − 1/12x² + 1/120x⁴ − 1/252x⁶ + 1/240x⁸ − 1/132x¹⁰
    double series = r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 / 132))));
    return acc + log(x) - 0.5 * r - series;
}

// Above this x the differences come from Stirling's series (truncated after the y⁻³ and y⁻⁴
// terms: relative error below 1e-14 from here on); below it the plain differences, which lose
// ~1e-13 to cancellation at most, where the series would not be accurate enough.
#define DIFF_ASYMPTOTIC 100

double lgamma_diff(double x, double k) {
    if (k == 0) return 0;
    if (x < DIFF_ASYMPTOTIC) {
        int sign; // lgamma_r: plain lgamma writes the global signgam, a race between threads
        return lgamma_r(x + k, &sign) - lgamma_r(x, &sign);
    }
    // lgamma(y) = (y − ½) log y − y + ½ log 2π + 1/(12y) − 1/(360y³) + O(y⁻⁵), differenced term by
    // term: (x + k − ½) log(x + k) − (x − ½) log x = (x − ½) log1p(k/x) + k log(x + k).
    double y = x + k;
    return (x - 0.5) * log1p(k / x) + k * log(y) - k + (1 / y - 1 / x) / 12 - (1 / (y * y * y) - 1 / (x * x * x)) / 360;
}

double digamma_diff(double x, double k) {
    if (k == 0) return 0;
    if (x < DIFF_ASYMPTOTIC) return digamma(x + k) - digamma(x);
    // ψ(y) = log y − 1/(2y) − 1/(12y²) + 1/(120y⁴) + O(y⁻⁶), differenced term by term.
    double y = x + k;
    return log1p(k / x) + k / (2 * x * y) - (1 / (y * y) - 1 / (x * x)) / 12 + (1 / (y * y * y * y) - 1 / (x * x * x * x)) / 120;
}
