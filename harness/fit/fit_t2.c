// fit_t2.c — the T² laws of Roberts et al. (2026).
//
// t2-loss (Approach 1): E_i[−log pass@k_i] = E + A/N^α + B/D^β + G/k^γ, seven parameters
//   (log A, log B, log E, α, β, log G, γ), least squares on the NLL: minimise
//   Σ (Ê − nll)², the sum of squared residuals (the reported objective). Least squares on the
//   NLL, not Huber on log L as for Chinchilla, because that is what the paper fits and its
//   points are averages over a benchmark, not values read off a plot: no outliers to guard
//   against, and a log would give the smallest NLLs (the best models at large k, estimated
//   from a few failures) the most weight where their relative noise is largest. L-BFGS from
//   n_starts (default 500, as the paper) seeded random starts, keep the best, then polish it.
//
// t2-acc (Approach 2), two stages:
//   1. L̂(N, D) = E + A/N^α + B/D^β on one NLL per model, with E profiled: for each of 40 values
//      E = (0.01 … 0.95)·min NLL, least squares on the NLL over (log A, log B, α, β) from a small
//      grid (plus the previous E's optimum); keep the E with the lowest sum of squares
//      (objective_stage1).
//   2. per-problem accuracy ~ Beta(μν, (1−μ)ν), μ = θ2 / (1 + exp(θ1 (L̂ − θ0))),
//      ν = exp(θ3 + θ4 L̂); pass@k = 1 − B(a, b+k)/B(a, b); least squares on pass@k over
//      (θ0, θ1, u, θ3, θ4) with θ2 = exp(−u²) ∈ (0, 1] (ν > 0 by its exp); the reported
//      objective is this sum of squares.
//
// Inside the minimisations the power laws are centred: A/N^α = exp(a' − α (log N − c_N)) with
// c_N the mean log N, so a' = log A − α c_N (likewise for B, G, and θ3 + θ4 L̂ around the mean
// L̂). The same minima, but log A and α no longer move in lockstep, which cuts L-BFGS's
// iterations several-fold. Results are reported in the paper's parametrisation.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_impl.h"

#define CHUNK 64
// Power-law terms are exp(log-coefficient − exponent·log x); capping the argument keeps a wild
// line-search trial finite (e^250 squared is still a double) so it is rejected, not fatal.
#define EXP_CAP 250.0
// A perfect fit: every residual below 1e-10 of the data's size (f ≤ 1e-20 Σ y²).
#define PERFECT_REL 1e-20

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile_of(const double *v, size_t n, double q) {
    double *s = xmalloc(n * sizeof(double));
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    double t = pos - (double)i, out = i + 1 < n ? s[i] + t * (s[i + 1] - s[i]) : s[n - 1];
    free(s);
    return out;
}

static double mean_of(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return s / (double)n;
}

static double stdev_of(const double *v, size_t n) {
    double m = mean_of(v, n), ss = 0;
    for (size_t i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    return sqrt(ss / (double)n);
}

static double sum_sq(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i] * v[i];
    return s;
}

// log v − its mean, into z; returns the mean.
static double centred_log(const double *v, size_t n, double *z) {
    for (size_t i = 0; i < n; i++) z[i] = log(v[i]);
    double c = mean_of(z, n);
    for (size_t i = 0; i < n; i++) z[i] -= c;
    return c;
}

static double log_uniform(Rng *r, double lo, double hi) { return log(lo) + (log(hi) - log(lo)) * rng_uniform(r); }

static int distinct_k_check(const FitData *d, const char *law) {
    for (size_t i = 1; i < d->n; i++)
        if (d->k[i] != d->k[0]) return 0;
    err_set("%s needs at least 2 distinct k values to separate the k term, got only k = %g", law, d->k[0]);
    return -1;
}

// sc_j = sqrt(Σ w ρ²) · sqrt(Σ w J_j²) from the accumulated sums (see ScaleFn).
static void finish_scale(double sum_rho2, const double *sum_j2, int n, double *sc) {
    for (int j = 0; j < n; j++) sc[j] = sqrt(sum_rho2 * sum_j2[j]);
}

// =============================================================================================
// t2-loss
typedef struct {
    size_t n;
    const double *zN, *zD, *zk, *y; // (n,) centred logs; y = NLL
    const double *w;                // (n,) multiplicities or NULL
} T2LossData;

// x = [a', b', e, alpha, beta, g', gamma]; prediction e^e + e^(a' − α zN) + e^(b' − β zD) +
// e^(g' − γ zk), residual r = prediction − y, f = Σ w r².
static double t2loss_eval(const T2LossData *c, const double *x, double *grad, double *sc) {
    const double a = x[0], b = x[1], al = x[3], be = x[4], gg = x[5], ga = x[6];
    const double E = exp(fmin(x[2], EXP_CAP));
    double f = 0, s[7] = {0}, rho2 = 0, j2[7] = {0}, yy = 0;
    for (size_t i0 = 0; i0 < c->n; i0 += CHUNK) {
        size_t m = MIN(CHUNK, c->n - i0);
        const double *zN = c->zN + i0, *zD = c->zD + i0, *zk = c->zk + i0, *y = c->y + i0;
        double tA[CHUNK], tB[CHUNK], tG[CHUNK]; // (m,) the three power-law terms
        for (size_t j = 0; j < m; j++) {
            tA[j] = exp(fmin(a - al * zN[j], EXP_CAP));
            tB[j] = exp(fmin(b - be * zD[j], EXP_CAP));
            tG[j] = exp(fmin(gg - ga * zk[j], EXP_CAP));
        }
        for (size_t j = 0; j < m; j++) {
            double w = c->w ? c->w[i0 + j] : 1.0;
            double r = E + tA[j] + tB[j] + tG[j] - y[j];
            double jac[7] = {tA[j], tB[j], E, -tA[j] * zN[j], -tB[j] * zD[j], tG[j], -tG[j] * zk[j]};
            f += w * r * r;
            for (int k = 0; k < 7; k++) s[k] += 2 * w * r * jac[k];
            if (sc) {
                rho2 += w * 4 * r * r;
                yy += w * y[j] * y[j];
                for (int k = 0; k < 7; k++) j2[k] += w * jac[k] * jac[k];
            }
        }
    }
    memcpy(grad, s, sizeof s);
    if (sc) {
        finish_scale(rho2, j2, 7, sc);
        double ref = sqrt(yy); // a term below 1e-9 of the data's size is gone from the law
        fit_mark_bound(sc, grad, 0, 3, sqrt(j2[0]), ref);
        fit_mark_bound(sc, grad, 1, 4, sqrt(j2[1]), ref);
        fit_mark_bound(sc, grad, 2, -1, sqrt(j2[2]), ref);
        fit_mark_bound(sc, grad, 5, 6, sqrt(j2[5]), ref);
    }
    return f;
}

static double t2loss_objective(void *ctx, const double *x, double *g, int n_x) {
    (void)n_x;
    return t2loss_eval(ctx, x, g, NULL);
}

static void t2loss_scale(void *ctx, const double *x, double *sc, int n_x) {
    (void)n_x;
    double g[7];
    t2loss_eval(ctx, x, g, sc);
}

typedef struct {
    double L_mean, L_low; // mean NLL, and the smallest positive NLL
    uint64_t seed;
} T2LossStarts;

// Random start i (its own seeded stream): exponents uniform in [0, 2]; each power-law term
// sized to a log-uniform fraction in [1e-2, 1] of the mean NLL at the data's centre, and E to
// a fraction in [1e-3, 1] of the lowest NLL: starts on the scale of the data.
static void t2loss_start(const void *sctx, long i, double *x) {
    const T2LossStarts *s = sctx;
    Rng r;
    rng_seed(&r, seed_derive(s->seed, 0x7210, (uint64_t)i, 0));
    x[3] = 2 * rng_uniform(&r);
    x[4] = 2 * rng_uniform(&r);
    x[6] = 2 * rng_uniform(&r);
    x[0] = log(s->L_mean) + log_uniform(&r, 1e-2, 1);
    x[1] = log(s->L_mean) + log_uniform(&r, 1e-2, 1);
    x[5] = log(s->L_mean) + log_uniform(&r, 1e-2, 1);
    x[2] = log(s->L_low) + log_uniform(&r, 1e-3, 1);
}

// Starts stop at liblbfgs's 1e-5; the FIT_KEEP best are polished with epsilon below what
// rounding allows, so they end on the line search and the cosine test of fit_min.c decides.
static const MinOptions T2_START_OPT = {.epsilon = 1e-5, .accept = FIT_ACCEPT, .ftol_rel = 1e-12, .max_iter = 5000, .polish = 0};
static const MinOptions T2_POLISH_OPT = {.epsilon = 1e-10, .accept = FIT_ACCEPT, .ftol_rel = 1e-13, .max_iter = 5000, .polish = 4};

// est (10,) = A, B, E, alpha, beta, G, gamma, allocation (3); centres c = (c_N, c_D, c_k).
static void t2loss_estimates(const double *x, const double c[3], double *est) {
    est[0] = exp(x[0] + x[3] * c[0]);
    est[1] = exp(x[1] + x[4] * c[1]);
    est[2] = exp(x[2]);
    est[3] = x[3];
    est[4] = x[4];
    est[5] = exp(x[5] + x[6] * c[2]);
    est[6] = x[6];
    alloc_quantities(est[0], est[1], est[3], est[4], est + 7);
}

typedef struct {
    T2LossData data;
    double x0[7];     // full-data optimum: every bootstrap refit starts here
    double centre[3];
    MinOptions opt;
} T2LossBoot;

static int t2loss_refit(const void *ctx, const double *w, double *est) {
    const T2LossBoot *tb = ctx;
    T2LossData d = tb->data;
    d.w = w;
    double x[7];
    memcpy(x, tb->x0, sizeof x);
    MinResult m;
    fit_minimize(t2loss_objective, t2loss_scale, &d, x, 7, &tb->opt, &m);
    t2loss_estimates(x, tb->centre, est);
    return m.converged;
}

double t2loss_gradient_error(const FitData *d, const double x[7]) {
    double *buf = xmalloc(3 * d->n * sizeof(double));
    centred_log(d->N, d->n, buf);
    centred_log(d->D, d->n, buf + d->n);
    centred_log(d->k, d->n, buf + 2 * d->n);
    T2LossData data = {d->n, buf, buf + d->n, buf + 2 * d->n, d->nll, NULL};
    double err = fit_gradient_error(t2loss_objective, &data, x, 7);
    free(buf);
    return err;
}

static const char *const T2LOSS_NAMES[7] = {"A", "B", "E", "alpha", "beta", "G", "gamma"};

int fit_t2_loss(const FitData *d, const FitOptions *o, FitResult *r) {
    fit_result_init(r, FIT_T2_LOSS, 7, 3);
    if (fit_data_check(FIT_T2_LOSS, d) != 0 || distinct_k_check(d, "t2-loss") != 0) return -1;
    size_t n = d->n;
    double L_low = HUGE_VAL, L_mean = mean_of(d->nll, n);
    for (size_t i = 0; i < n; i++)
        if (d->nll[i] > 0) L_low = fmin(L_low, d->nll[i]);
    if (!(L_mean > 0)) {
        err_set("t2-loss: every nll is 0; nothing to fit");
        return -1;
    }
    double *buf = xmalloc(3 * n * sizeof(double));
    double *zN = buf, *zD = buf + n, *zk = buf + 2 * n; // (n,) each
    T2LossBoot tb = {.data = {n, zN, zD, zk, d->nll, NULL}, .opt = T2_POLISH_OPT};
    tb.centre[0] = centred_log(d->N, n, zN);
    tb.centre[1] = centred_log(d->D, n, zD);
    tb.centre[2] = centred_log(d->k, n, zk);
    double f_floor = PERFECT_REL * sum_sq(d->nll, n);
    T2LossStarts st = {L_mean, L_low, o->seed};
    MultiStart ms = {t2loss_objective, t2loss_scale, &tb.data, 7, o->n_starts > 0 ? o->n_starts : 500, t2loss_start, &st,
                     T2_START_OPT, T2_POLISH_OPT};
    ms.opt.f_floor = ms.polish.f_floor = tb.opt.f_floor = f_floor;
    StartBest best;
    fit_multistart(&ms, fit_threads(o), &best);
    const MinResult m = best.min;
    double est[10];
    t2loss_estimates(best.x, tb.centre, est);
    for (int j = 0; j < 7; j++) fit_set(r, (size_t)j, T2LOSS_NAMES[j], est[j]);
    static const char *const coef[7] = {"A", "B", "E", NULL, NULL, "G", NULL};
    fit_note_bounds(r, m.bound, coef, 7);
    fit_alloc_from_loss_law(r, est[0], est[1], est[3], est[4]);
    r->objective = m.f;
    r->cosine = m.cosine;
    r->n_points = n;
    r->converged = m.converged;
    r->lbfgs_status = m.status;
    if (o->bootstrap > 0) {
        memcpy(tb.x0, best.x, sizeof tb.x0);
        fit_bootstrap(r, n, NULL, t2loss_refit, &tb, o);
    }
    free(buf);
    return 0;
}

// =============================================================================================
// t2-acc, stage 1: L̂(N, D) = E + e^(a' − α zN) + e^(b' − β zD) with E fixed, one point per model.
#define N_PROFILE 40

typedef struct {
    size_t n;                     // models
    const double *zN, *zD, *L;    // (n,) centred log N, log D; one NLL per model
    const double *w;              // (n,) multiplicities or NULL
    double E;
} Stage1Data;

// x = [a', b', alpha, beta]; r = E + tA + tB − L, f = Σ w r².
static double stage1_eval(const Stage1Data *c, const double *x, double *grad, double *sc) {
    double f = 0, s[4] = {0}, rho2 = 0, j2[4] = {0}, LL = 0;
    for (size_t i = 0; i < c->n; i++) {
        double w = c->w ? c->w[i] : 1.0;
        double tA = exp(fmin(x[0] - x[2] * c->zN[i], EXP_CAP)), tB = exp(fmin(x[1] - x[3] * c->zD[i], EXP_CAP));
        double r = c->E + tA + tB - c->L[i];
        double jac[4] = {tA, tB, -tA * c->zN[i], -tB * c->zD[i]};
        f += w * r * r;
        for (int k = 0; k < 4; k++) s[k] += 2 * w * r * jac[k];
        if (sc) {
            rho2 += w * 4 * r * r;
            LL += w * c->L[i] * c->L[i];
            for (int k = 0; k < 4; k++) j2[k] += w * jac[k] * jac[k];
        }
    }
    memcpy(grad, s, sizeof s);
    if (sc) {
        finish_scale(rho2, j2, 4, sc);
        fit_mark_bound(sc, grad, 0, 2, sqrt(j2[0]), sqrt(LL));
        fit_mark_bound(sc, grad, 1, 3, sqrt(j2[1]), sqrt(LL));
    }
    return f;
}

static double stage1_objective(void *ctx, const double *x, double *g, int n_x) {
    (void)n_x;
    return stage1_eval(ctx, x, g, NULL);
}

static void stage1_scale(void *ctx, const double *x, double *sc, int n_x) {
    (void)n_x;
    double g[4];
    stage1_eval(ctx, x, g, sc);
}

double stage1_gradient_error(const FitData *d, double E, const double x[4]) {
    double *buf = xmalloc(2 * d->n * sizeof(double));
    centred_log(d->N, d->n, buf);
    centred_log(d->D, d->n, buf + d->n);
    Stage1Data data = {d->n, buf, buf + d->n, d->nll, NULL, E};
    double err = fit_gradient_error(stage1_objective, &data, x, 4);
    free(buf);
    return err;
}

static double profile_E(double L_min, int q) { return L_min * (0.01 + 0.94 * q / (N_PROFILE - 1)); }

// Stage-1 starts: alpha, beta ∈ {.25, .5, 1}, each term sized to {.1, .5} of the mean excess
// over E at the centre; the last start is the previous E's optimum (when there is one).
typedef struct {
    double excess;      // mean NLL − E
    const double *prev; // (4,) or NULL
} Stage1Starts;

#define STAGE1_GRID 36

static void stage1_start(const void *sctx, long i, double *x) {
    const Stage1Starts *s = sctx;
    if (i == STAGE1_GRID) {
        memcpy(x, s->prev, 4 * sizeof(double));
        return;
    }
    static const double expo[3] = {0.25, 0.5, 1.0}, frac[2] = {0.1, 0.5};
    x[2] = expo[i % 3];
    x[3] = expo[(i / 3) % 3];
    x[0] = log(frac[(i / 9) % 2] * s->excess);
    x[1] = log(frac[i / 18] * s->excess);
}

static const MinOptions STAGE1_OPT = {.epsilon = 1e-10, .accept = FIT_ACCEPT, .ftol_rel = 1e-13, .max_iter = 5000, .polish = 2};

typedef struct {
    double x[N_PROFILE][4];   // optimum at each profiled E (internal, centred)
    double sse[N_PROFILE];
    int converged[N_PROFILE];
    int status[N_PROFILE];
    unsigned bound[N_PROFILE];
    double cosine[N_PROFILE];
    int best;                 // index of the lowest SSE
} Profile;

// Full stage 1: every profiled E from the grid (+ warm start).
static void stage1_fit(const Stage1Data *base, double L_min, double L_mean, const MinOptions *opt, int threads,
                       Profile *p) {
    p->best = -1;
    for (int q = 0; q < N_PROFILE; q++) {
        Stage1Data d = *base;
        d.E = profile_E(L_min, q);
        Stage1Starts st = {L_mean - d.E, q > 0 ? p->x[q - 1] : NULL};
        MultiStart ms = {stage1_objective, stage1_scale, &d, 4, STAGE1_GRID + (q > 0), stage1_start, &st, *opt, *opt};
        StartBest b;
        fit_multistart(&ms, threads, &b);
        memcpy(p->x[q], b.x, 4 * sizeof(double));
        p->sse[q] = b.min.f;
        p->converged[q] = b.min.converged;
        p->status[q] = b.min.status;
        p->bound[q] = b.min.bound;
        p->cosine[q] = b.min.cosine;
        if (p->best < 0 || p->sse[q] < p->sse[p->best]) p->best = q;
    }
}

// =============================================================================================
// t2-acc, stage 2: the Beta model of pass@k.
typedef struct {
    size_t n;                 // rows
    const double *L, *k, *y;  // (n,) L̂ of the row's model, k, observed pass@k
    const double *w;          // (n,) multiplicities or NULL
    double L_c;               // centre of θ3 + θ4 L̂: x[3] = θ3 + θ4 L_c
} Stage2Data;

// Smallest Beta shape used: keeps lgamma and digamma finite when μ or 1 − μ underflows.
#define SHAPE_MIN 1e-300

// x = [theta0, theta1, u, theta3', theta4] with theta2 = exp(−u²), theta3' = θ3 + θ4 L_c;
// r = pass@k(model) − y, f = Σ w r².
static double stage2_eval(const Stage2Data *c, const double *x, double *grad, double *sc) {
    const double th0 = x[0], th1 = x[1], u = x[2], th3 = x[3], th4 = x[4];
    const double th2 = exp(-u * u), one_minus_th2 = -expm1(-u * u);
    double f = 0, s[5] = {0}, rho2 = 0, j2[5] = {0};
    for (size_t i = 0; i < c->n; i++) {
        double w = c->w ? c->w[i] : 1.0;
        if (w == 0) continue;
        double L = c->L[i], k = c->k[i];
        double z = th1 * (L - th0);
        double sg = 1 / (1 + exp(z)), sg_c = 1 / (1 + exp(-z)); // σ(−z) and 1 − σ(−z), each exact
        double mu = th2 * sg, one_minus_mu = one_minus_th2 + th2 * sg_c;
        double nu = exp(fmax(fmin(th3 + th4 * (L - c->L_c), 700), -700));
        double a = fmax(mu * nu, SHAPE_MIN), b = fmax(one_minus_mu * nu, SHAPE_MIN);
        double lam = lgamma_diff(b, k) - lgamma_diff(a + b, k); // log B(a, b+k) / B(a, b)
        double ratio = exp(lam);
        double r = -expm1(lam) - c->y[i];
        double dlam_da = -digamma_diff(a + b, k);
        double dlam_db = digamma_diff(b, k) + dlam_da;
        double dP_da = -ratio * dlam_da, dP_db = -ratio * dlam_db;
        double dP_dmu = nu * (dP_da - dP_db), dP_dnu = mu * dP_da + one_minus_mu * dP_db;
        double dsg = sg * sg_c; // dσ(−z)/d(−z)
        double jac[5] = {dP_dmu * th2 * dsg * th1, -dP_dmu * th2 * dsg * (L - th0), dP_dmu * sg * (-2 * u * th2),
                         dP_dnu * nu, dP_dnu * nu * (L - c->L_c)};
        f += w * r * r;
        for (int j = 0; j < 5; j++) s[j] += 2 * w * r * jac[j];
        if (sc) {
            rho2 += w * 4 * r * r;
            for (int j = 0; j < 5; j++) j2[j] += w * jac[j] * jac[j];
        }
    }
    memcpy(grad, s, sizeof s);
    if (sc) finish_scale(rho2, j2, 5, sc);
    return f;
}

static double stage2_objective(void *ctx, const double *x, double *g, int n_x) {
    (void)n_x;
    return stage2_eval(ctx, x, g, NULL);
}

static void stage2_scale(void *ctx, const double *x, double *sc, int n_x) {
    (void)n_x;
    double g[5];
    stage2_eval(ctx, x, g, sc);
}

double stage2_gradient_error(const FitData *d, const double *L_hat, double L_c, const double x[5]) {
    Stage2Data data = {d->n, L_hat, d->k, d->pass, NULL, L_c};
    return fit_gradient_error(stage2_objective, &data, x, 5);
}

// Stage-2 starts: theta0 at the quartiles of L̂, theta1 ∈ {.5, 2, 8}/sd(L̂), theta2 ∈ {1, e^−¼},
// theta3' ∈ {−1, 1, 3}, theta4 ∈ {−1, 0, 1}.
typedef struct {
    double L_q[3]; // quartiles of L̂ over rows
    double L_sd;
} Stage2Starts;

#define STAGE2_GRID (3 * 3 * 2 * 3 * 3)

static void stage2_start(const void *sctx, long i, double *x) {
    const Stage2Starts *s = sctx;
    static const double slope[3] = {0.5, 2, 8}, uu[2] = {0, 0.5}, t3[3] = {-1, 1, 3}, t4[3] = {-1, 0, 1};
    x[0] = s->L_q[i % 3];
    x[1] = slope[(i / 3) % 3] / s->L_sd;
    x[2] = uu[(i / 9) % 2];
    x[3] = t3[(i / 18) % 3];
    x[4] = t4[i / 54];
}

static const MinOptions STAGE2_OPT = {.epsilon = 1e-5, .accept = FIT_ACCEPT, .ftol_rel = 1e-12, .max_iter = 5000, .polish = 0};
static const MinOptions STAGE2_POLISH_OPT = {.epsilon = 1e-10, .accept = FIT_ACCEPT, .ftol_rel = 1e-13, .max_iter = 5000, .polish = 4};

static const char *const T2ACC_NAMES[10] = {"A", "B", "E", "alpha", "beta", "theta0", "theta1", "theta2", "theta3", "theta4"};

typedef struct {
    const FitData *d;
    const size_t *model_of;   // (rows,)
    Stage1Data s1;            // per model
    double cN, cD;            // centres of log N, log D over models
    double L_min;             // lowest model NLL: the E profile's scale
    double L_c;               // stage 2's centre of L̂
    Profile prof;             // full-data optimum at each profiled E: the refits start there
    double x2[5];             // full-data stage-2 optimum (internal)
    MinOptions opt1, opt2;
} T2Acc;

// est (13,) = A, B, E, alpha, beta, theta0..4, allocation (3).
static void t2acc_estimates(const T2Acc *t, const double s1[4], double E, const double s2[5], double *est) {
    est[0] = exp(s1[0] + s1[2] * t->cN);
    est[1] = exp(s1[1] + s1[3] * t->cD);
    est[2] = E;
    est[3] = s1[2];
    est[4] = s1[3];
    est[5] = s2[0];
    est[6] = s2[1];
    est[7] = exp(-s2[2] * s2[2]);
    est[8] = s2[3] - s2[4] * t->L_c;
    est[9] = s2[4];
    alloc_quantities(est[0], est[1], est[3], est[4], est + 10);
}

// L̂ of each row from internal stage-1 parameters.
static void rows_lhat(const T2Acc *t, const double s1[4], double E, double *L) {
    for (size_t i = 0; i < t->d->n; i++)
        L[i] = E + exp(s1[0] - s1[2] * (log(t->d->N[i]) - t->cN)) + exp(s1[1] - s1[3] * (log(t->d->D[i]) - t->cD));
}

// One resample of models: stage 1 from the full-data optimum at each E, stage 2 from the
// full-data theta.
static int t2acc_refit(const void *ctx, const double *w, double *est) {
    const T2Acc *t = ctx;
    size_t rows = t->d->n;
    Stage1Data s1 = t->s1;
    s1.w = w;
    int best = -1, conv1 = 0;
    double best_x[4], best_f = HUGE_VAL;
    for (int q = 0; q < N_PROFILE; q++) {
        s1.E = profile_E(t->L_min, q);
        double x[4];
        memcpy(x, t->prof.x[q], sizeof x);
        MinResult m;
        fit_minimize(stage1_objective, stage1_scale, &s1, x, 4, &t->opt1, &m);
        if (best < 0 || m.f < best_f) {
            best = q;
            best_f = m.f;
            conv1 = m.converged;
            memcpy(best_x, x, sizeof x);
        }
    }
    double E = profile_E(t->L_min, best);
    double *buf = xmalloc(2 * rows * sizeof(double));
    double *L = buf, *rw = buf + rows; // (rows,) L̂ and row multiplicities
    rows_lhat(t, best_x, E, L);
    for (size_t i = 0; i < rows; i++) rw[i] = w[t->model_of[i]];
    Stage2Data s2 = {rows, L, t->d->k, t->d->pass, rw, t->L_c};
    double x2[5];
    memcpy(x2, t->x2, sizeof x2);
    MinResult m2;
    fit_minimize(stage2_objective, stage2_scale, &s2, x2, 5, &t->opt2, &m2);
    free(buf);
    t2acc_estimates(t, best_x, E, x2, est);
    return conv1 && m2.converged;
}

int fit_t2_acc(const FitData *d, const FitOptions *o, FitResult *r) {
    fit_result_init(r, FIT_T2_ACC, 10, 3);
    if (fit_data_check(FIT_T2_ACC, d) != 0 || distinct_k_check(d, "t2-acc") != 0) return -1;
    size_t rows = d->n;
    size_t *model_of = xmalloc(rows * sizeof(size_t));
    char **names;
    size_t M = fit_group_models(d, model_of, &names);
    // One (N, D, NLL) per model: the mean NLL over its rows.
    double *mbuf = xcalloc(6 * M, sizeof(double));
    double *N = mbuf, *D = mbuf + M, *L = mbuf + 2 * M, *cnt = mbuf + 3 * M, *zN = mbuf + 4 * M, *zD = mbuf + 5 * M;
    for (size_t i = 0; i < rows; i++) {
        size_t j = model_of[i];
        N[j] = d->N[i];
        D[j] = d->D[i];
        L[j] += d->nll[i];
        cnt[j] += 1;
    }
    for (size_t j = 0; j < M; j++) L[j] /= cnt[j];
    T2Acc t = {.d = d, .model_of = model_of, .s1 = {M, zN, zD, L, NULL, 0}, .opt1 = STAGE1_OPT, .opt2 = STAGE2_POLISH_OPT};
    t.cN = centred_log(N, M, zN);
    t.cD = centred_log(D, M, zD);
    t.L_min = quantile_of(L, M, 0);
    t.opt1.f_floor = PERFECT_REL * sum_sq(L, M);
    t.opt2.f_floor = PERFECT_REL * (double)rows; // pass@k is a probability: 1e-10 absolute
    int threads = fit_threads(o);
    stage1_fit(&t.s1, t.L_min, mean_of(L, M), &t.opt1, threads, &t.prof);
    int q = t.prof.best;
    double E = profile_E(t.L_min, q), *s1x = t.prof.x[q];
    // Stage 2 on every row.
    double *Lhat = xmalloc(rows * sizeof(double)); // (rows,)
    rows_lhat(&t, s1x, E, Lhat);
    t.L_c = mean_of(Lhat, rows);
    Stage2Data s2 = {rows, Lhat, d->k, d->pass, NULL, t.L_c};
    Stage2Starts st = {{quantile_of(Lhat, rows, 0.25), quantile_of(Lhat, rows, 0.5), quantile_of(Lhat, rows, 0.75)},
                       stdev_of(Lhat, rows)};
    if (!(st.L_sd > 1e-12)) st.L_sd = 1; // every model at one L̂: theta1 is then unidentified
    MultiStart ms = {stage2_objective, stage2_scale, &s2, 5, STAGE2_GRID, stage2_start, &st, STAGE2_OPT, t.opt2};
    ms.opt.f_floor = t.opt2.f_floor;
    StartBest best;
    fit_multistart(&ms, threads, &best);
    const MinResult m2 = best.min;
    memcpy(t.x2, best.x, sizeof t.x2);
    double est[13];
    t2acc_estimates(&t, s1x, E, best.x, est);
    for (int j = 0; j < 10; j++) fit_set(r, (size_t)j, T2ACC_NAMES[j], est[j]);
    static const char *const coef[2] = {"A", "B"};
    fit_note_bounds(r, t.prof.bound[q], coef, 2);
    fit_alloc_from_loss_law(r, est[0], est[1], est[3], est[4]);
    r->objective = m2.f;
    r->objective_stage1 = t.prof.sse[q];
    r->n_points = rows;
    r->converged = t.prof.converged[q] && m2.converged;
    r->cosine = fmax(t.prof.cosine[q], m2.cosine);
    r->lbfgs_status = t.prof.converged[q] ? m2.status : t.prof.status[q];
    // Cluster bootstrap: whole models are resampled (their rows share one L̂ and are not
    // independent), each drawn model entering stage 1 once and stage 2 with all its rows.
    if (o->bootstrap > 0) fit_bootstrap(r, M, NULL, t2acc_refit, &t, o);
    free(Lhat);
    for (size_t j = 0; j < M; j++) free(names[j]);
    free(names);
    free(mbuf);
    free(model_of);
    return 0;
}
