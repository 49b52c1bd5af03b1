// fit_min.c — L-BFGS (liblbfgs) wrapper with an honest convergence verdict, and the
// deterministic multi-start driver every law uses.
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
// ScaleFn; a coefficient settled at its bound 0 counts as satisfied), or when f is at rounding
// level (a perfect fit). liblbfgs's *ptr_fx is not used: after a failed line search it holds
// the last trial value, not f(x).
#include <lbfgs.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_impl.h"
#include "util/threadpool.h"

typedef struct {
    ObjFn fn;
    void *ctx;
    long n_eval;
} EvalCtx;

static lbfgsfloatval_t eval_cb(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, const int n,
                               const lbfgsfloatval_t step) {
    (void)step;
    EvalCtx *e = inst;
    e->n_eval++;
    double f = e->fn(e->ctx, x, g, n);
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

// f, liblbfgs's relative gradient norm and the cosine measure at x.
static int evaluate_at(EvalCtx *ec, ScaleFn scale, const double *x, int n, MinResult *res) {
    double g[FIT_MAX_X], s[FIT_MAX_X];
    res->f = ec->fn(ec->ctx, x, g, n);
    ec->n_eval++;
    double xn = norm2(x, n);
    res->gnorm = norm2(g, n) / (xn > 1 ? xn : 1);
    scale(ec->ctx, x, s, n);
    res->cosine = 0;
    res->bound = 0;
    for (int j = 0; j < n; j++) {
        double c = s[j] > 0 ? fabs(g[j]) / s[j] : (g[j] == 0 ? 0 : HUGE_VAL); // INFINITY: 0
        res->cosine = fmax(res->cosine, c);
        if (isinf(s[j])) res->bound |= 1u << j;
    }
    return isfinite(res->f) && isfinite(res->gnorm) && !isnan(res->cosine);
}

void fit_minimize(ObjFn fn, ScaleFn scale, void *ctx, double *x, int n, const MinOptions *o, MinResult *res) {
    lbfgs_parameter_t p;
    lbfgs_parameter_init(&p);
    p.epsilon = o->epsilon;
    p.max_iterations = o->max_iter;
    EvalCtx ec = {fn, ctx, 0};
    double prev_f = HUGE_VAL;
    int status = LBFGSERR_UNKNOWNERROR, finite = 0;
    for (int round = 0; round <= o->polish; round++) {
        double fx;
        status = lbfgs(n, x, &fx, eval_cb, NULL, &ec, &p);
        finite = evaluate_at(&ec, scale, x, n, res);
        if (!finite || status == LBFGS_SUCCESS || status == LBFGS_ALREADY_MINIMIZED) break;
        if (round > 0 && prev_f - res->f <= o->ftol_rel * fabs(prev_f)) break;
        prev_f = res->f;
    }
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
        ms->start(ms->sctx, i, x);
        fit_minimize(ms->fn, ms->scale, ms->ctx, x, ms->n, &ms->opt, &m);
        top->n_converged += m.converged;
        topk_insert(top, m.f, i, x, ms->n);
    }
}

void fit_multistart(const MultiStart *ms, int threads, StartBest *best) {
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
        for (int j = 0; j < per[t].n; j++) topk_insert(&all, per[t].c[j].f, per[t].c[j].index, per[t].c[j].x, ms->n);
    }
    free(per);
    best->n_converged = all.n_converged;
    best->index = -1;
    for (int j = 0; j < all.n; j++) {
        MinResult m;
        fit_minimize(ms->fn, ms->scale, ms->ctx, all.c[j].x, ms->n, &ms->polish, &m);
        if (best->index < 0 || m.f < best->min.f || (m.f == best->min.f && all.c[j].index < best->index)) {
            best->min = m;
            best->index = all.c[j].index;
            memcpy(best->x, all.c[j].x, sizeof(double) * (size_t)ms->n);
        }
    }
    if (best->index < 0) { // nothing finite: report from start 0
        ms->start(ms->sctx, 0, best->x);
        fit_minimize(ms->fn, ms->scale, ms->ctx, best->x, ms->n, &ms->polish, &best->min);
    }
}

double fit_gradient_error(ObjFn fn, void *ctx, const double *x, int n) {
    double g[FIT_MAX_X], gp[FIT_MAX_X], xs[FIT_MAX_X], err = 0, gn;
    fn(ctx, x, g, n);
    gn = norm2(g, n);
    for (int j = 0; j < n; j++) {
        memcpy(xs, x, sizeof(double) * (size_t)n);
        double h = 1e-6 * fmax(1, fabs(x[j]));
        xs[j] = x[j] + h;
        double fp = fn(ctx, xs, gp, n);
        xs[j] = x[j] - h;
        double fm = fn(ctx, xs, gp, n);
        err = fmax(err, fabs((fp - fm) / (2 * h) - g[j]));
    }
    return err / (gn > 0 ? gn : 1);
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
