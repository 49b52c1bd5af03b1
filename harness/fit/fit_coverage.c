// fit_coverage.c — Brown et al. (2024): per model, coverage pass@k ≈ exp(a k^b), with a < 0 and
// b in (−3, 0). Fitted on log pass@k: minimise Σ (a k^b − log pass@k)² per model over
// (log(−a), b) by L-BFGS from four exponents b ∈ {−1, −.5, −.2, −.05}, each with its
// least-squares a; keep the best. The reported objective is the sum of those squares over all
// models. Parameters are named a[MODEL] and b[MODEL], models in order of first appearance. Each
// model is fitted, identified and bootstrapped on its own: one hard model never vetoes another's
// intervals.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_impl.h"

#define EXP_CAP 250.0

typedef struct {
    size_t n;              // rows of this model
    const size_t *rows;    // (n,) indices into the arrays below
    const double *lnk, *y; // (all rows,) log k and log pass@k
    const double *w;       // (all rows,) multiplicities or NULL
} CovData;

// x = [la, b] with a = −e^la < 0 and b in the box (−FIT_EXPONENT_MAX, 0); r = a k^b − log pass@k,
// f = Σ w r², ∂r/∂(la, b) = (a k^b, a k^b log k).
static double cov_eval(void *ctx, const double *x, double *g, double *sc) {
    const CovData *c = ctx;
    double a = -exp(fmin(x[0], EXP_CAP));
    double f = 0, ga = 0, gb = 0, rho2 = 0, ja2 = 0, jb2 = 0, yy = 0;
    for (size_t j = 0; j < c->n; j++) {
        size_t i = c->rows[j];
        double w = c->w ? c->w[i] : 1.0;
        if (w == 0) continue;
        double t = a * exp(fmin(x[1] * c->lnk[i], EXP_CAP)); // a k^b
        double r = t - c->y[i], jb = t * c->lnk[i];
        f += w * r * r;
        ga += 2 * w * r * t;
        gb += 2 * w * r * jb;
        rho2 += 4 * w * r * r;
        ja2 += w * t * t;
        jb2 += w * jb * jb;
        yy += w * c->y[i] * c->y[i];
    }
    g[0] = ga;
    g[1] = gb;
    if (sc) {
        sc[0] = sqrt(rho2 * ja2);
        sc[1] = sqrt(rho2 * jb2);
        // a → 0: pass@k = 1 at every k, the curve has no shape left (and b nothing to act on).
        fit_mark_bound(sc, g, 0, 1, sqrt(ja2), fmax(sqrt(yy), 1e-300));
    }
    return f;
}

static void cov_problem(FitProblem *p, CovData *c) {
    fit_problem_init(p, cov_eval, c, 2);
    p->lo[1] = -FIT_EXPONENT_MAX;
    p->hi[1] = 0;
}

// liblbfgs's epsilon below rounding; fit_min.c's cosine test decides. A perfect fit: residuals
// below 1e-10 nats, or of log pass@k's size when that is larger.
static const MinOptions COV_OPT = {.epsilon = 1e-10, .accept = FIT_ACCEPT, .ftol_rel = 1e-13, .max_iter = 2000, .polish = 3};

static MinOptions cov_options(const CovData *c) {
    MinOptions o = COV_OPT;
    double yy = 0;
    for (size_t j = 0; j < c->n; j++) yy += c->y[c->rows[j]] * c->y[c->rows[j]];
    o.f_floor = 1e-20 * fmax(yy, (double)c->n);
    return o;
}

double coverage_gradient_error(const FitData *d, const double x[2]) {
    double *buf = xmalloc(2 * d->n * sizeof(double));
    size_t *rows = xmalloc(d->n * sizeof(size_t));
    for (size_t i = 0; i < d->n; i++) {
        buf[i] = log(d->k[i]);
        buf[d->n + i] = log(d->pass[i]);
        rows[i] = i;
    }
    CovData c = {d->n, rows, buf, buf + d->n, NULL};
    double err = fit_gradient_error(cov_eval, &c, x, 2);
    free(rows);
    free(buf);
    return err;
}

// The starts: b ∈ {−1, −.5, −.2, −.05}, each with its least-squares a (when negative).
#define COV_STARTS 4

static void cov_starts(const CovData *c, double *starts) {
    static const double b0[COV_STARTS] = {-1, -0.5, -0.2, -0.05};
    for (int s = 0; s < COV_STARTS; s++) {
        double sty = 0, stt = 0; // least-squares a for this b: Σ w y t / Σ w t²
        for (size_t j = 0; j < c->n; j++) {
            size_t i = c->rows[j];
            double w = c->w ? c->w[i] : 1.0, t = exp(b0[s] * c->lnk[i]);
            sty += w * c->y[i] * t;
            stt += w * t * t;
        }
        double a = stt > 0 ? sty / stt : -1;
        starts[2 * s] = log(a < 0 ? -a : 1e-3);
        starts[2 * s + 1] = b0[s];
    }
}

static const CompSpec COV_COMP[2] = {{COMP_LOG, 0}, {COMP_EXP, 0}};
static const unsigned COV_DEP[2] = {1u, 1u << 1}; // a on la, b on b

typedef struct {
    size_t n_models;
    size_t n_rows;
    const CovData *models; // (n_models,) the full data, w NULL
    const double *x0;      // (n_models, 2) full-data optima
} CovBoot;

// Each model refitted on its own: one that fails (or keeps fewer than 3 points with pass@k > 0
// in this resample) is NAN in est, the others keep their values.
static int cov_refit(const void *ctx, const FitData *d, const double *w, double *est, double *internal) {
    const CovBoot *cb = ctx;
    double *y = xmalloc(cb->n_rows * sizeof(double)), *wr = xmalloc(cb->n_rows * sizeof(double));
    for (size_t i = 0; i < cb->n_rows; i++) {
        int ok = d->pass[i] > 0 && w[i] > 0;
        y[i] = ok ? log(d->pass[i]) : 0;
        wr[i] = ok ? w[i] : 0;
    }
    int all = 1;
    for (size_t j = 0; j < cb->n_models; j++) {
        CovData c = cb->models[j];
        c.y = y;
        c.w = wr;
        size_t usable = 0;
        for (size_t q = 0; q < c.n; q++) usable += wr[c.rows[q]] > 0;
        double starts[2 * (1 + COV_STARTS)], x[2];
        memcpy(starts, cb->x0 + 2 * j, 2 * sizeof(double));
        cov_starts(&c, starts + 2);
        FitProblem p;
        cov_problem(&p, &c);
        MinOptions opt = cov_options(&cb->models[j]); // the full data's floor
        MinResult m = {.converged = 0};
        if (usable >= fit_min_points(FIT_COVERAGE)) fit_refit(&p, starts, 1 + COV_STARTS, &opt, &opt, x, &m);
        int ok = m.converged;
        est[2 * j] = ok ? -exp(x[0]) : NAN;
        est[2 * j + 1] = ok ? x[1] : NAN;
        internal[2 * j] = ok ? x[0] : NAN;
        internal[2 * j + 1] = ok ? x[1] : NAN;
        all &= ok;
    }
    free(y);
    free(wr);
    return all;
}

int fit_coverage(const FitData *d, const FitOptions *o, FitResult *r) {
    fit_result_init(r, FIT_COVERAGE, 0, 0);
    if (fit_data_check(FIT_COVERAGE, d) != 0) return -1;
    size_t n = d->n;
    size_t *model_of = xmalloc(n * sizeof(size_t));
    char **names;
    size_t M = fit_group_models(d, model_of, &names);
    fit_result_free(r);
    fit_result_init(r, FIT_COVERAGE, 2 * M, 0);
    double *lnk = xmalloc(2 * n * sizeof(double)), *y = lnk + n; // (n,) each
    for (size_t i = 0; i < n; i++) {
        lnk[i] = log(d->k[i]);
        y[i] = log(d->pass[i]);
    }
    // Rows of each model, contiguous in `order` (a counting sort, stable).
    size_t *order = xmalloc(n * sizeof(size_t)), *start = xcalloc(M + 1, sizeof(size_t));
    for (size_t i = 0; i < n; i++) start[model_of[i] + 1]++;
    for (size_t j = 0; j < M; j++) start[j + 1] += start[j];
    size_t *fill = xmalloc(M * sizeof(size_t));
    memcpy(fill, start, M * sizeof(size_t));
    for (size_t i = 0; i < n; i++) order[fill[model_of[i]]++] = i;
    free(fill);
    CovData *models = xmalloc(M * sizeof(CovData));
    for (size_t j = 0; j < M; j++) models[j] = (CovData){start[j + 1] - start[j], order + start[j], lnk, y, NULL};
    double *x0 = xmalloc(2 * M * sizeof(double));
    unsigned *why = xcalloc(2 * M, sizeof(unsigned));
    r->objective = 0;
    r->cosine = 0;
    size_t n_converged = 0;
    int first_failure = 0;
    for (size_t j = 0; j < M; j++) {
        MinResult m;
        FitProblem p;
        cov_problem(&p, &models[j]);
        MinOptions opt = cov_options(&models[j]);
        double starts[2 * COV_STARTS];
        cov_starts(&models[j], starts);
        fit_refit(&p, starts, COV_STARTS, &opt, &opt, x0 + 2 * j, &m);
        char name[sizeof r->params[0].name];
        snprintf(name, sizeof name, "a[%.60s]", names[j]);
        fit_set(r, 2 * j, name, -exp(x0[2 * j]));
        snprintf(name, sizeof name, "b[%.60s]", names[j]);
        fit_set(r, 2 * j + 1, name, x0[2 * j + 1]);
        const char *const pn[2] = {r->params[2 * j].name, r->params[2 * j + 1].name};
        fit_note_bounds(r, fit_at_bound(&p, x0 + 2 * j, m.bound), pn, 2);
        // A curve's k values are not independent units; the ridge test counts them anyway.
        double tol = fit_ridge_tol(m.f, opt.f_floor, models[j].n, 2);
        unsigned flat = fit_flat_profiles(&p, x0 + 2 * j, m.f, tol, COV_COMP, m.bound, &opt);
        for (int c = 0; c < 2; c++)
            why[2 * j + (size_t)c] = (m.bound >> c & 1 ? WHY_BOUND : 0) | (flat >> c & 1 ? WHY_FLAT : 0) |
                                     (m.converged ? 0 : WHY_NOT_CONVERGED);
        r->objective += m.f;
        if (m.converged) {
            r->cosine = fmax(r->cosine, m.cosine);
            n_converged++;
        } else if (!first_failure) {
            first_failure = m.status;
        }
    }
    // A model whose fit did not converge identifies nothing; the others stand on their own. The
    // law converged when any model did.
    r->converged = n_converged > 0;
    r->lbfgs_status = r->converged ? 0 : first_failure;
    r->n_points = n;
    int rc = 0;
    if (o->bootstrap > 0) {
        CovBoot cb = {M, n, models, x0};
        double *ci = xmalloc(4 * M * sizeof(double));
        long *used = xmalloc(2 * M * sizeof(long));
        BootSpec bs = {cov_refit, &cb, (int)(2 * M), ci, used};
        rc = fit_bootstrap(r, d, &bs, o);
        for (size_t j = 0; rc == 0 && j < M; j++)
            fit_boot_why(why + 2 * j, COV_COMP, ci + 4 * j, used + 2 * j, 2, o->bootstrap);
        free(ci);
        free(used);
    }
    for (size_t j = 0; j < M; j++) fit_mark_identified(r, 2 * j, 2, COV_DEP, why + 2 * j, 2);
    free(why);
    free(x0);
    free(models);
    free(start);
    free(order);
    free(lnk);
    for (size_t j = 0; j < M; j++) free(names[j]);
    free(names);
    free(model_of);
    return rc;
}
