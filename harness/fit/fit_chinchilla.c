// fit_chinchilla.c — Hoffmann et al. (2022) Approach 3, as docs/SPEC.md §6 and Besiroglu et al. (2024):
// minimise Σ_i Huber_δ(LSE(a − α log N_i, b − β log D_i, e) − log L_i), δ = 1e-3 (the SUM: the
// mean shrinks the gradient 1/n-fold and stops L-BFGS early, the bug Epoch found), by L-BFGS with
// the analytic gradient from each of the 4,500 grid points, keeping the best; A = e^a, B = e^b,
// E = e^e. Objective reported: that sum at the optimum.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_impl.h"

#define HUBER_DELTA 1e-3

typedef struct {
    size_t n;
    const double *zN, *zD, *lnL; // (n,) centred log N, log D; log L
    const double *w;             // (n,) bootstrap multiplicities, or NULL for all ones
} ChinData;

// The objective runs over the points in chunks: a first loop with no reductions (GCC
// vectorises its exp calls), then an in-order scalar loop for the sums.
#define CHUNK 64

// log(1 + e^u1 + e^u2) and the softmax weights of its three terms, with the shift by the max
// that cannot overflow (the fast path in chin_eval overflows when u1 or u2 > ~709).
static double lse3_stable(double u1, double u2, double *w1, double *w2, double *w3) {
    double m = fmax(fmax(u1, u2), 0.0);
    double t1 = exp(u1 - m), t2 = exp(u2 - m), t3 = exp(-m);
    double s = t1 + t2 + t3;
    *w1 = t1 / s;
    *w2 = t2 / s;
    *w3 = t3 / s;
    return m + log(s);
}

// x = [a', b', e, alpha, beta], a' = a − α c_N and b' = b − β c_D (the terms' logs at the data's
// centre; A = e^(a' + α c_N)). Per point, with u1 = a' − e − α zN, u2 = b' − e − β zD:
// log L̂ = e + log(1 + e^u1 + e^u2), r = log L̂ − log L, f = Σ w Huber(r);
// ∂r/∂(a', b', e) = (p1, p2, p3), the softmax weights of (u1, u2, 0), ∂r/∂α = −p1 zN,
// ∂r/∂β = −p2 zD; ∂f/∂x = Σ w Huber'(r) ∂r/∂x. With sc, also the verdict's bounds.
static double chin_eval(void *ctx, const double *x, double *g, double *sc) {
    const ChinData *c = ctx;
    const double a = x[0], b = x[1], e = x[2], al = x[3], be = x[4];
    double f = 0, ga = 0, gb = 0, ge = 0, gal = 0, gbe = 0;
    double sum_dh2 = 0, sum_j2[5] = {0}, sum_w = 0; // Σ w Huber'², Σ w (∂r/∂x_j)², Σ w (scale mode)
    for (size_t i0 = 0; i0 < c->n; i0 += CHUNK) {
        size_t m = MIN(CHUNK, c->n - i0);
        const double *zN = c->zN + i0, *zD = c->zD + i0, *lnL = c->lnL + i0;
        double p1[CHUNK], p2[CHUNK], p3[CHUNK], r[CHUNK]; // (m,) softmax weights, residuals
        for (size_t j = 0; j < m; j++) {
            p1[j] = exp(a - e - al * zN[j]);
            p2[j] = exp(b - e - be * zD[j]);
        }
        for (size_t j = 0; j < m; j++) {
            double s = 1 + p1[j] + p2[j];
            r[j] = e + log(s) - lnL[j];
            p1[j] /= s;
            p2[j] /= s;
            p3[j] = 1 / s; // not 1 − p1 − p2: E's weight must keep its precision when tiny
        }
        for (size_t j = 0; j < m; j++) {
            double w = c->w ? c->w[i0 + j] : 1.0;
            if (w == 0) continue;
            double q1 = p1[j], q2 = p2[j], q3 = p3[j], rj = r[j];
            if (!isfinite(rj)) { // overflowed: redo this point with the shifted sum
                double u1 = a - e - al * zN[j], u2 = b - e - be * zD[j];
                rj = e + lse3_stable(u1, u2, &q1, &q2, &q3) - lnL[j];
            }
            double dh;
            f += w * huber(rj, HUBER_DELTA, &dh);
            if (sc) {
                sum_w += w;
                sum_dh2 += w * dh * dh;
                double jac[5] = {q1, q2, q3, -q1 * zN[j], -q2 * zD[j]};
                for (int k = 0; k < 5; k++) sum_j2[k] += w * jac[k] * jac[k];
            }
            dh *= w;
            ga += dh * q1;
            gal -= dh * q1 * zN[j];
            gb += dh * q2;
            gbe -= dh * q2 * zD[j];
            ge += dh * q3;
        }
    }
    g[0] = ga;
    g[1] = gb;
    g[2] = ge;
    g[3] = gal;
    g[4] = gbe;
    if (sc) {
        for (int k = 0; k < 5; k++) sc[k] = sqrt(sum_dh2 * sum_j2[k]);
        // A softmax weight is at most 1: a term whose weight stays below 1e-9 everywhere is
        // gone from the law (its coefficient at the bound 0).
        double ref = sqrt(sum_w);
        fit_mark_bound(sc, g, 0, 3, sqrt(sum_j2[0]), ref);
        fit_mark_bound(sc, g, 1, 4, sqrt(sum_j2[1]), ref);
        fit_mark_bound(sc, g, 2, -1, sqrt(sum_j2[2]), ref);
    }
    return f;
}

// The grid: alpha, beta ∈ {0, .5, …, 2}, e ∈ {−1, −.5, …, 1}, a, b ∈ {0, 5, …, 25} (in the
// uncentred a = log A, b = log B; a start at exponent 0 is moved inside the box).
#define GRID_STARTS (5 * 5 * 5 * 6 * 6)

typedef struct {
    double cN, cD; // centres: mean log N, mean log D
} ChinCentre;

static void chin_grid_start(const void *sctx, long i, double *x) {
    const ChinCentre *c = sctx;
    long ib = i % 6, ia = (i / 6) % 6, ie = (i / 36) % 5, ibe = (i / 180) % 5, ial = i / 900;
    x[3] = 0.5 * (double)ial;
    x[4] = 0.5 * (double)ibe;
    x[0] = 5.0 * (double)ia - x[3] * c->cN;
    x[1] = 5.0 * (double)ib - x[4] * c->cD;
    x[2] = -1.0 + 0.5 * (double)ie;
}

// Tolerances (see fit_min.c for the verdict). Each grid start runs until liblbfgs's
// ||g|| ≤ 1e-5·max(1,||x||); the FIT_KEEP best are polished — L-BFGS restarted with fresh
// curvature memory, liblbfgs asked for 1e-10, below what rounding allows on this objective, so
// each ends on a line search that cannot improve — and the best polished one wins. The verdict
// asks for gradient cosines ≤ FIT_ACCEPT (Epoch's data reaches ~3e-9). A perfect fit: every
// residual below 1e-10 in log L, so f ≤ n·1e-20/2.
static const MinOptions CHIN_GRID_OPT = {.epsilon = 1e-5, .accept = FIT_ACCEPT, .ftol_rel = 1e-12, .max_iter = 2000, .polish = 0};
static const MinOptions CHIN_POLISH_OPT = {.epsilon = 1e-10, .accept = FIT_ACCEPT, .ftol_rel = 1e-13, .max_iter = 2000, .polish = 4};

static const char *const CHIN_NAMES[5] = {"A", "B", "E", "alpha", "beta"};
static const CompSpec CHIN_COMP[5] = {{COMP_LOG, 0}, {COMP_LOG, 0}, {COMP_LOG, 0}, {COMP_EXP, 0}, {COMP_EXP, 0}};
// What each reported parameter depends on: A on a' and alpha, B on b' and beta.
static const unsigned CHIN_DEP[5] = {1u | 1u << 3, 1u << 1 | 1u << 4, 1u << 2, 1u << 3, 1u << 4};

// est (8,) = A, B, E, alpha, beta, allocation (3).
static void chin_estimates(const double *x, const ChinCentre *c, double *est) {
    est[0] = exp(x[0] + x[3] * c->cN);
    est[1] = exp(x[1] + x[4] * c->cD);
    est[2] = exp(x[2]);
    est[3] = x[3];
    est[4] = x[4];
    alloc_quantities(est[0], est[1], x[3], x[4], est + 5);
}

static void chin_problem(FitProblem *p, ChinData *data) {
    fit_problem_init(p, chin_eval, data, 5);
    for (int j = 3; j < 5; j++) {
        p->lo[j] = 0;
        p->hi[j] = FIT_EXPONENT_MAX;
    }
}

typedef struct {
    ChinData data;
    ChinCentre centre;
    double starts[(1 + FIT_BOOT_EXTRA) * 5]; // full-data optimum, then the best grid starts
    int n_starts;
    double f_floor;
} ChinBoot;

static int chin_refit(const void *ctx, const FitData *d, const double *w, double *est, double *internal) {
    (void)d; // the losses are per run: a resample reweights rows, no target changes
    const ChinBoot *cb = ctx;
    ChinData data = cb->data;
    data.w = w;
    FitProblem p;
    chin_problem(&p, &data);
    MinOptions quick = CHIN_GRID_OPT, polish = CHIN_POLISH_OPT;
    quick.f_floor = polish.f_floor = cb->f_floor;
    double x[5];
    MinResult m;
    fit_refit(&p, cb->starts, cb->n_starts, &quick, &polish, x, &m);
    chin_estimates(x, &cb->centre, est);
    memcpy(internal, x, sizeof x);
    if (!m.converged) {
        for (int j = 0; j < 8; j++) est[j] = NAN;
        for (int j = 0; j < 5; j++) internal[j] = NAN;
    }
    return m.converged;
}

double chinchilla_gradient_error(const FitData *d, const double x[5]) {
    double *buf = xmalloc(3 * d->n * sizeof(double));
    for (size_t i = 0; i < d->n; i++) {
        buf[i] = log(d->N[i]);
        buf[d->n + i] = log(d->D[i]);
        buf[2 * d->n + i] = log(d->loss[i]);
    }
    ChinData data = {d->n, buf, buf + d->n, buf + 2 * d->n, NULL};
    double err = fit_gradient_error(chin_eval, &data, x, 5);
    free(buf);
    return err;
}

int fit_chinchilla(const FitData *d, const FitOptions *o, FitResult *r) {
    fit_result_init(r, FIT_CHINCHILLA, 5, 3);
    if (fit_data_check(FIT_CHINCHILLA, d) != 0) return -1;
    size_t n = d->n;
    double *buf = xmalloc(3 * n * sizeof(double));
    double *zN = buf, *zD = buf + n, *lnL = buf + 2 * n; // (n,) each
    ChinBoot cb = {.data = {n, zN, zD, lnL, NULL}, .f_floor = 0.5e-20 * (double)n};
    cb.centre.cN = fit_centred_log(d->N, n, zN);
    cb.centre.cD = fit_centred_log(d->D, n, zD);
    for (size_t i = 0; i < n; i++) lnL[i] = log(d->loss[i]);
    MultiStart ms = {.n_starts = GRID_STARTS, .start = chin_grid_start, .sctx = &cb.centre, .opt = CHIN_GRID_OPT,
                     .polish = CHIN_POLISH_OPT};
    chin_problem(&ms.prob, &cb.data);
    ms.opt.f_floor = ms.polish.f_floor = cb.f_floor;
    StartBest best;
    fit_multistart(&ms, fit_threads(o), &best);
    const MinResult m = best.min;
    double est[8];
    chin_estimates(best.x, &cb.centre, est);
    for (int j = 0; j < 5; j++) fit_set(r, (size_t)j, CHIN_NAMES[j], est[j]);
    fit_alloc_from_loss_law(r, est[0], est[1], est[3], est[4]);
    unsigned at = fit_at_bound(&ms.prob, best.x, m.bound);
    fit_note_bounds(r, at, CHIN_NAMES, 5);
    r->objective = m.f;
    r->cosine = m.cosine;
    r->n_points = n;
    r->converged = m.converged;
    r->lbfgs_status = m.status;
    // Identification: bounds, profiles, then the bootstrap's intervals.
    unsigned why[5] = {0};
    double tol = fit_ridge_tol(m.f, cb.f_floor, fit_units(FIT_CHINCHILLA, d), 5);
    fit_bound_and_flat(&ms.prob, best.x, &m, tol, CHIN_COMP, &ms.polish, why);
    int rc = 0;
    if (o->bootstrap > 0) {
        cb.n_starts = fit_boot_starts(&ms, &best, cb.starts, 1 + FIT_BOOT_EXTRA);
        double ci[10];
        long used[5];
        BootSpec bs = {chin_refit, &cb, 5, ci, used};
        rc = fit_bootstrap(r, d, &bs, o);
        if (rc == 0) fit_boot_why(why, CHIN_COMP, ci, used, 5, o->bootstrap);
    }
    fit_mark_identified(r, 0, 5, CHIN_DEP, why, 5);
    free(buf);
    return rc;
}
