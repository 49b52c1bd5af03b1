// fit_coverage.c — Brown et al. (2024): per model, coverage pass@k ≈ exp(a k^b), with a, b < 0
// expected. Fitted on log pass@k: minimise Σ (a k^b − log pass@k)² per model over (a, b) by
// L-BFGS from four exponents b ∈ {−1, −.5, −.2, .2}, each with its least-squares a; keep the
// best. The reported objective is the sum of those squares over all models. Parameters are
// named a[MODEL] and b[MODEL], models in order of first appearance.
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

// x = [a, b]; r = a k^b − log pass@k, f = Σ w r², ∂r/∂(a, b) = (k^b, a k^b log k).
static double cov_eval(const CovData *c, const double *x, double *g, double *sc) {
    double f = 0, ga = 0, gb = 0, rho2 = 0, ja2 = 0, jb2 = 0;
    for (size_t j = 0; j < c->n; j++) {
        size_t i = c->rows[j];
        double w = c->w ? c->w[i] : 1.0;
        double t = exp(fmin(x[1] * c->lnk[i], EXP_CAP)); // k^b
        double r = x[0] * t - c->y[i], jb = x[0] * t * c->lnk[i];
        f += w * r * r;
        ga += 2 * w * r * t;
        gb += 2 * w * r * jb;
        rho2 += 4 * w * r * r;
        ja2 += w * t * t;
        jb2 += w * jb * jb;
    }
    g[0] = ga;
    g[1] = gb;
    if (sc) {
        sc[0] = sqrt(rho2 * ja2);
        sc[1] = sqrt(rho2 * jb2);
    }
    return f;
}

static double cov_objective(void *ctx, const double *x, double *g, int n_x) {
    (void)n_x;
    return cov_eval(ctx, x, g, NULL);
}

static void cov_scale(void *ctx, const double *x, double *sc, int n_x) {
    (void)n_x;
    double g[2];
    cov_eval(ctx, x, g, sc);
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
    double err = fit_gradient_error(cov_objective, &c, x, 2);
    free(rows);
    free(buf);
    return err;
}

// Best of the four starts; x receives the optimum.
static void cov_fit_model(const CovData *c, double x[2], MinResult *best) {
    static const double b0[4] = {-1, -0.5, -0.2, 0.2};
    MinOptions opt = cov_options(c);
    *best = (MinResult){.f = HUGE_VAL, .gnorm = HUGE_VAL, .cosine = HUGE_VAL, .status = -1, .converged = 0, .n_eval = 0};
    for (int s = 0; s < 4; s++) {
        double sty = 0, stt = 0; // least-squares a for this b: Σ w y t / Σ w t²
        for (size_t j = 0; j < c->n; j++) {
            size_t i = c->rows[j];
            double w = c->w ? c->w[i] : 1.0, t = exp(b0[s] * c->lnk[i]);
            sty += w * c->y[i] * t;
            stt += w * t * t;
        }
        double xs[2] = {stt > 0 ? sty / stt : -1, b0[s]};
        MinResult m;
        fit_minimize(cov_objective, cov_scale, (void *)c, xs, 2, &opt, &m);
        if (m.f < best->f) {
            *best = m;
            x[0] = xs[0];
            x[1] = xs[1];
        }
    }
}

typedef struct {
    size_t n_models;
    CovData *models; // (n_models,) with w NULL
    double *x0;      // (n_models, 2) full-data optima
} CovBoot;

static int cov_refit(const void *ctx, const double *w, double *est) {
    const CovBoot *cb = ctx;
    int ok = 1;
    for (size_t j = 0; j < cb->n_models; j++) {
        CovData c = cb->models[j];
        c.w = w;
        double x[2] = {cb->x0[2 * j], cb->x0[2 * j + 1]};
        MinOptions opt = cov_options(&cb->models[j]); // the full data's floor
        MinResult m;
        fit_minimize(cov_objective, cov_scale, &c, x, 2, &opt, &m);
        ok &= m.converged;
        est[2 * j] = x[0];
        est[2 * j + 1] = x[1];
    }
    return ok;
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
    r->objective = 0;
    r->cosine = 0;
    r->converged = 1;
    r->lbfgs_status = 0;
    for (size_t j = 0; j < M; j++) {
        MinResult m;
        cov_fit_model(&models[j], x0 + 2 * j, &m);
        char name[sizeof r->params[0].name];
        snprintf(name, sizeof name, "a[%.60s]", names[j]);
        fit_set(r, 2 * j, name, x0[2 * j]);
        snprintf(name, sizeof name, "b[%.60s]", names[j]);
        fit_set(r, 2 * j + 1, name, x0[2 * j + 1]);
        r->objective += m.f;
        r->cosine = fmax(r->cosine, m.cosine);
        if (!m.converged && r->converged) r->lbfgs_status = m.status; // the first failing model
        r->converged &= m.converged;
    }
    r->n_points = n;
    if (o->bootstrap > 0) {
        CovBoot cb = {M, models, x0};
        fit_bootstrap(r, n, model_of, cov_refit, &cb, o); // rows resampled within their model
    }
    free(x0);
    free(models);
    free(start);
    free(order);
    free(lnk);
    for (size_t j = 0; j < M; j++) free(names[j]);
    free(names);
    free(model_of);
    return 0;
}
