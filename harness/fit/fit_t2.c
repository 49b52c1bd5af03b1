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
//      (θ0, log θ1, u, θ3, θ4) with θ1 > 0 (accuracy falls as the loss rises), θ2 = exp(−u²) ∈
//      (0, 1] and ν > 0 by its exp; the reported objective is this sum of squares.
//
// Exponents (α, β, γ) live in (0, 3), enforced by the minimiser's box (fit_impl.h).
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

// The Q-quantile of V[0..n) (util's quantile_sorted on a sorted copy).
static double quantile_of(const double *v, size_t n, double q) {
    double *s = xmalloc(n * sizeof(double));
    memcpy(s, v, n * sizeof(double));
    sort_doubles(s, n);
    double out = quantile_sorted(s, n, q);
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

static double log_uniform(Rng *r, double lo, double hi) { return log(lo) + (log(hi) - log(lo)) * rng_uniform(r); }

static int distinct_k_check(const FitData *d, const char *law) {
    for (size_t i = 1; i < d->n; i++)
        if (d->k[i] != d->k[0]) return 0;
    err_set("%s needs at least 2 distinct k values to separate the k term, got only k = %g", law, d->k[0]);
    return -1;
}

// sc_j = sqrt(Σ w ρ²) · sqrt(Σ w J_j²) from the accumulated sums (see FitEval).
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
static double t2loss_eval(void *ctx, const double *x, double *grad, double *sc) {
    const T2LossData *c = ctx;
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
            if (w == 0) continue;
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

// Exponents in the box (0, FIT_EXPONENT_MAX); the rest unbounded.
static void exponent_boxes(FitProblem *p, unsigned exponents) {
    for (int j = 0; j < p->n; j++)
        if (exponents >> j & 1) {
            p->lo[j] = 0;
            p->hi[j] = FIT_EXPONENT_MAX;
        }
}

static void t2loss_problem(FitProblem *p, T2LossData *c) {
    fit_problem_init(p, t2loss_eval, c, 7);
    exponent_boxes(p, 1u << 3 | 1u << 4 | 1u << 6);
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

static const char *const T2LOSS_NAMES[7] = {"A", "B", "E", "alpha", "beta", "G", "gamma"};
static const CompSpec T2LOSS_COMP[7] = {{COMP_LOG, 0}, {COMP_LOG, 0}, {COMP_LOG, 0}, {COMP_EXP, 0},
                                        {COMP_EXP, 0}, {COMP_LOG, 0}, {COMP_EXP, 0}};
static const unsigned T2LOSS_DEP[7] = {1u | 1u << 3, 1u << 1 | 1u << 4, 1u << 2, 1u << 3, 1u << 4, 1u << 5 | 1u << 6, 1u << 6};

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
    double starts[(1 + FIT_BOOT_EXTRA) * 7]; // the full-data optimum, then the best random starts
    int n_starts;
    double centre[3];
    MinOptions quick, polish;
} T2LossBoot;

static int t2loss_refit(const void *ctx, const FitData *d, const double *w, double *est, double *internal) {
    const T2LossBoot *tb = ctx;
    T2LossData data = tb->data;
    data.y = d->nll; // resampled problems: the targets move
    data.w = w;
    FitProblem p;
    t2loss_problem(&p, &data);
    double x[7];
    MinResult m;
    fit_refit(&p, tb->starts, tb->n_starts, &tb->quick, &tb->polish, x, &m);
    t2loss_estimates(x, tb->centre, est);
    memcpy(internal, x, sizeof x);
    if (!m.converged) {
        for (int j = 0; j < 10; j++) est[j] = NAN;
        for (int j = 0; j < 7; j++) internal[j] = NAN;
    }
    return m.converged;
}

double t2loss_gradient_error(const FitData *d, const double x[7]) {
    double *buf = xmalloc(3 * d->n * sizeof(double));
    fit_centred_log(d->N, d->n, buf);
    fit_centred_log(d->D, d->n, buf + d->n);
    fit_centred_log(d->k, d->n, buf + 2 * d->n);
    T2LossData data = {d->n, buf, buf + d->n, buf + 2 * d->n, d->nll, NULL};
    double err = fit_gradient_error(t2loss_eval, &data, x, 7);
    free(buf);
    return err;
}

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
    T2LossBoot tb = {.data = {n, zN, zD, zk, d->nll, NULL}, .quick = T2_START_OPT, .polish = T2_POLISH_OPT};
    tb.centre[0] = fit_centred_log(d->N, n, zN);
    tb.centre[1] = fit_centred_log(d->D, n, zD);
    tb.centre[2] = fit_centred_log(d->k, n, zk);
    double f_floor = PERFECT_REL * sum_sq(d->nll, n);
    T2LossStarts st = {L_mean, L_low, o->seed};
    MultiStart ms = {.n_starts = o->n_starts > 0 ? o->n_starts : 500, .start = t2loss_start, .sctx = &st,
                     .opt = T2_START_OPT, .polish = T2_POLISH_OPT};
    t2loss_problem(&ms.prob, &tb.data);
    ms.opt.f_floor = ms.polish.f_floor = tb.quick.f_floor = tb.polish.f_floor = f_floor;
    StartBest best;
    fit_multistart(&ms, fit_threads(o), &best);
    const MinResult m = best.min;
    double est[10];
    t2loss_estimates(best.x, tb.centre, est);
    for (int j = 0; j < 7; j++) fit_set(r, (size_t)j, T2LOSS_NAMES[j], est[j]);
    fit_note_bounds(r, fit_at_bound(&ms.prob, best.x, m.bound), T2LOSS_NAMES, 7);
    fit_alloc_from_loss_law(r, est[0], est[1], est[3], est[4]);
    r->objective = m.f;
    r->cosine = m.cosine;
    r->n_points = n;
    r->converged = m.converged;
    r->lbfgs_status = m.status;
    unsigned why[7] = {0};
    double tol = fit_ridge_tol(m.f, f_floor, fit_units(FIT_T2_LOSS, d), 7);
    fit_bound_and_flat(&ms.prob, best.x, &m, tol, T2LOSS_COMP, &ms.polish, why);
    int rc = 0;
    if (o->bootstrap > 0) {
        tb.n_starts = fit_boot_starts(&ms, &best, tb.starts, 1 + FIT_BOOT_EXTRA);
        double ci[14];
        long used[7];
        BootSpec bs = {t2loss_refit, &tb, 7, ci, used};
        rc = fit_bootstrap(r, d, &bs, o);
        if (rc == 0) fit_boot_why(why, T2LOSS_COMP, ci, used, 7, o->bootstrap);
    }
    fit_mark_identified(r, 0, 7, T2LOSS_DEP, why, 7);
    fit_residuals_by_k(r, d);
    free(buf);
    return rc;
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
static double stage1_eval(void *ctx, const double *x, double *grad, double *sc) {
    const Stage1Data *c = ctx;
    double f = 0, s[4] = {0}, rho2 = 0, j2[4] = {0}, LL = 0;
    for (size_t i = 0; i < c->n; i++) {
        double w = c->w ? c->w[i] : 1.0;
        if (w == 0) continue;
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

static void stage1_problem(FitProblem *p, Stage1Data *c) {
    fit_problem_init(p, stage1_eval, c, 4);
    exponent_boxes(p, 1u << 2 | 1u << 3);
}

double stage1_gradient_error(const FitData *d, double E, const double x[4]) {
    double *buf = xmalloc(2 * d->n * sizeof(double));
    fit_centred_log(d->N, d->n, buf);
    fit_centred_log(d->D, d->n, buf + d->n);
    Stage1Data data = {d->n, buf, buf + d->n, d->nll, NULL, E};
    double err = fit_gradient_error(stage1_eval, &data, x, 4);
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
static const MinOptions STAGE1_QUICK = {.epsilon = 1e-6, .accept = FIT_ACCEPT, .ftol_rel = 1e-12, .max_iter = 5000, .polish = 0};

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
        MultiStart ms = {.n_starts = STAGE1_GRID + (q > 0), .start = stage1_start, .sctx = &st, .opt = *opt, .polish = *opt};
        stage1_problem(&ms.prob, &d);
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

// Stage 1's SSE at E, minimised from x (4,) with component j (≥ 0) held at v.
static double stage1_held(const Stage1Data *base, double E, const double *x0, int j, double v, const MinOptions *o) {
    Stage1Data d = *base;
    d.E = E;
    FitProblem p;
    stage1_problem(&p, &d);
    double x[4];
    memcpy(x, x0, sizeof x);
    if (j >= 0) {
        p.fixed = 1u << j;
        x[j] = v;
    }
    MinResult m;
    fit_minimize(&p, x, o, &m);
    return m.f;
}

// The profile of component j at v: the lowest stage-1 SSE over the E grid with j held at v, each
// fit warm-started from the full data's optimum at that E.
static double stage1_profile_min(const Stage1Data *base, const Profile *prof, double L_min, int j, double v,
                                 const MinOptions *o) {
    double best = HUGE_VAL;
    for (int q = 0; q < N_PROFILE; q++) best = fmin(best, stage1_held(base, profile_E(L_min, q), prof->x[q], j, v, o));
    return best;
}

// E between the grid's neighbours of the best profiled E (q), by golden section on the stage-1
// SSE, each fit warm-started from the last: the grid finds the basin, this places E within it
// continuously (so that E and its interval are not confined to grid values). x (4,) enters as
// the optimum at the grid's E and leaves as the optimum at the refined E.
#define REFINE_STEPS 24

static double stage1_at(const Stage1Data *base, double E, double *x, const MinOptions *o, MinResult *m) {
    Stage1Data d = *base;
    d.E = E;
    FitProblem p;
    stage1_problem(&p, &d);
    fit_minimize(&p, x, o, m);
    return m->f;
}

static double stage1_refine(const Stage1Data *base, double L_min, int q, double *x, const MinOptions *o, MinResult *m) {
    double a = profile_E(L_min, q > 0 ? q - 1 : 0), b = profile_E(L_min, q < N_PROFILE - 1 ? q + 1 : q);
    const double inv_phi = (sqrt(5.0) - 1) / 2;
    double best_E = profile_E(L_min, q), best_x[4];
    memcpy(best_x, x, sizeof best_x);
    double best_f = stage1_at(base, best_E, best_x, o, m);
    MinResult best_m = *m;
    double c = b - inv_phi * (b - a), d = a + inv_phi * (b - a), xc[4], xd[4];
    memcpy(xc, best_x, sizeof xc);
    memcpy(xd, best_x, sizeof xd);
    MinResult mc, md;
    double fc = stage1_at(base, c, xc, o, &mc), fd = stage1_at(base, d, xd, o, &md);
    for (int it = 0; it < REFINE_STEPS; it++) {
        if (fc <= fd) {
            b = d, d = c, fd = fc, md = mc;
            memcpy(xd, xc, sizeof xd);
            c = b - inv_phi * (b - a);
            fc = stage1_at(base, c, xc, o, &mc);
        } else {
            a = c, c = d, fc = fd, mc = md;
            memcpy(xc, xd, sizeof xc);
            d = a + inv_phi * (b - a);
            fd = stage1_at(base, d, xd, o, &md);
        }
    }
    if (fc < best_f) best_f = fc, best_E = c, best_m = mc, memcpy(best_x, xc, sizeof best_x);
    if (fd < best_f) best_f = fd, best_E = d, best_m = md, memcpy(best_x, xd, sizeof best_x);
    memcpy(x, best_x, sizeof best_x);
    *m = best_m;
    return best_E;
}

// =============================================================================================
// t2-acc, stage 2: the Beta model of pass@k.
typedef struct {
    size_t n;                 // rows
    const double *L, *k, *y;  // (n,) L̂ of the row's model, k, observed pass@k
    const double *w;          // (n,) multiplicities or NULL
    double L_c;               // centre of θ3 + θ4 L̂: x[3] = θ3 + θ4 L_c
} Stage2Data;

// theta2 this close to 1 is at accuracy's ceiling (u² ≤ 1e-9).
#define THETA2_CEILING 1e-9

// Smallest Beta shape used: keeps lgamma and digamma finite when μ or 1 − μ underflows.
#define SHAPE_MIN 1e-300

// x = [theta0, log theta1, u, theta3', theta4] with theta2 = exp(−u²), theta3' = θ3 + θ4 L_c;
// r = pass@k(model) − y, f = Σ w r².
static double stage2_eval(void *ctx, const double *x, double *grad, double *sc) {
    const Stage2Data *c = ctx;
    const double th0 = x[0], th1 = exp(fmin(x[1], EXP_CAP)), u = x[2], th3 = x[3], th4 = x[4];
    const double th2 = exp(-u * u), one_minus_th2 = -expm1(-u * u);
    double f = 0, s[5] = {0}, rho2 = 0, j2[5] = {0}, g_th2 = 0;
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
        double jac[5] = {dP_dmu * th2 * dsg * th1, -dP_dmu * th2 * dsg * (L - th0) * th1, dP_dmu * sg * (-2 * u * th2),
                         dP_dnu * nu, dP_dnu * nu * (L - c->L_c)};
        f += w * r * r;
        for (int j = 0; j < 5; j++) s[j] += 2 * w * r * jac[j];
        g_th2 += 2 * w * r * dP_dmu * sg;
        if (sc) {
            rho2 += w * 4 * r * r;
            for (int j = 0; j < 5; j++) j2[j] += w * jac[j] * jac[j];
        }
    }
    memcpy(grad, s, sizeof s);
    if (sc) {
        finish_scale(rho2, j2, 5, sc);
        // theta2 = 1 (u = 0) with the data pushing the ceiling up: the bound of accuracy's range.
        // exp(−u²) hides it (∂f/∂u → 0 there whatever the data), so it is settled here.
        if (one_minus_th2 <= THETA2_CEILING && g_th2 < 0) sc[2] = INFINITY;
    }
    return f;
}

double stage2_gradient_error(const FitData *d, const double *L_hat, double L_c, const double x[5]) {
    Stage2Data data = {d->n, L_hat, d->k, d->pass, NULL, L_c};
    return fit_gradient_error(stage2_eval, &data, x, 5);
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
    x[1] = log(slope[(i / 3) % 3] / s->L_sd);
    x[2] = uu[(i / 9) % 2];
    x[3] = t3[(i / 18) % 3];
    x[4] = t4[i / 54];
}

static const MinOptions STAGE2_OPT = {.epsilon = 1e-5, .accept = FIT_ACCEPT, .ftol_rel = 1e-12, .max_iter = 5000, .polish = 0};
static const MinOptions STAGE2_POLISH_OPT = {.epsilon = 1e-10, .accept = FIT_ACCEPT, .ftol_rel = 1e-13, .max_iter = 5000, .polish = 4};

static const char *const T2ACC_NAMES[10] = {"A", "B", "E", "alpha", "beta", "theta0", "theta1", "theta2", "theta3", "theta4"};
// Internal components: stage 1's a', b', alpha, beta, then log E, then stage 2's theta0,
// log theta1, u, theta3', theta4.
#define T2ACC_COMPS 10
static const unsigned T2ACC_DEP[10] = {1u | 1u << 2, 1u << 1 | 1u << 3, 1u << 4, 1u << 2, 1u << 3,
                                       1u << 5, 1u << 6, 1u << 7, 1u << 8 | 1u << 9, 1u << 9};

typedef struct {
    const FitData *d;
    const size_t *model_of;   // (rows,)
    size_t n_models;
    const double *rows_of;    // (models,) rows of each model
    Stage1Data s1;            // per model
    double cN, cD;            // centres of log N, log D over models
    double L_min;             // lowest model NLL: the E profile's scale
    double L_c;               // stage 2's centre of L̂
    Profile prof;             // full-data optimum at each profiled E: the refits start there
    double starts2[(2 + FIT_BOOT_EXTRA) * 5]; // stage-2 refit starts: the full-data optimum with u moved off 0,
                                              // the optimum itself, then the best grid starts
    int n_starts2;
    MinOptions opt1, opt2, quick2;
    CompSpec comp[T2ACC_COMPS];
} T2Acc;

// est (13,) = A, B, E, alpha, beta, theta0..4, allocation (3).
static void t2acc_estimates(const T2Acc *t, const double s1[4], double E, const double s2[5], double *est) {
    est[0] = exp(s1[0] + s1[2] * t->cN);
    est[1] = exp(s1[1] + s1[3] * t->cD);
    est[2] = E;
    est[3] = s1[2];
    est[4] = s1[3];
    est[5] = s2[0];
    est[6] = exp(s2[1]);
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

// One NLL per model and its weight from the rows (nll (rows,), row multiplicities w or NULL):
// the weighted mean, and the model's multiplicity Σ w / rows.
static void model_nll(const T2Acc *t, const double *nll, const double *w, double *L, double *mw) {
    size_t M = t->n_models;
    double *sw = xcalloc(M, sizeof(double));
    for (size_t j = 0; j < M; j++) L[j] = 0;
    for (size_t i = 0; i < t->d->n; i++) {
        double wi = w ? w[i] : 1.0;
        L[t->model_of[i]] += wi * nll[i];
        sw[t->model_of[i]] += wi;
    }
    for (size_t j = 0; j < M; j++) {
        L[j] = sw[j] > 0 ? L[j] / sw[j] : 0;
        mw[j] = sw[j] / t->rows_of[j];
    }
    free(sw);
}

// One resample: stage 1 at each profiled E from the full-data optimum there and from this
// resample's optimum at the E before (a ridge moves instead of staying where the full data put
// it), stage 2 from the full-data theta and the best grid starts.
static int t2acc_refit(const void *ctx, const FitData *d, const double *w, double *est, double *internal) {
    const T2Acc *t = ctx;
    size_t rows = d->n, M = t->n_models;
    double *mbuf = xmalloc(2 * M * sizeof(double));
    double *L = mbuf, *mw = mbuf + M; // (M,) model NLL and multiplicity
    model_nll(t, d->nll, w, L, mw);
    Stage1Data s1 = t->s1;
    s1.L = L;
    s1.w = mw;
    // Each profiled E from the full data's optimum there; at the best E, also from its
    // neighbours' optima in this resample (a ridge moves instead of staying where the full data
    // put it); then E is refined between the neighbours.
    int best = -1;
    double xq[N_PROFILE][4], fq[N_PROFILE], best_x[4];
    FitProblem p;
    stage1_problem(&p, &s1);
    for (int q = 0; q < N_PROFILE; q++) {
        s1.E = profile_E(t->L_min, q);
        memcpy(xq[q], t->prof.x[q], sizeof xq[q]);
        MinResult m;
        fit_minimize(&p, xq[q], &STAGE1_QUICK, &m);
        fq[q] = m.f;
        if (best < 0 || m.f < fq[best]) best = q;
    }
    s1.E = profile_E(t->L_min, best);
    double starts[12];
    int n_starts = 0;
    for (int q = best - 1; q <= best + 1; q++)
        if (q >= 0 && q < N_PROFILE) memcpy(starts + 4 * n_starts++, xq[q], 4 * sizeof(double));
    MinResult m0;
    fit_refit(&p, starts, n_starts, &STAGE1_QUICK, &t->opt1, best_x, &m0);
    MinResult m1;
    double E = stage1_refine(&s1, t->L_min, best, best_x, &t->opt1, &m1);
    int conv1 = m1.converged;
    double *Lhat = xmalloc(rows * sizeof(double));
    rows_lhat(t, best_x, E, Lhat);
    Stage2Data s2 = {rows, Lhat, d->k, d->pass, w, t->L_c};
    FitProblem p2;
    fit_problem_init(&p2, stage2_eval, &s2, 5);
    double x2[5];
    MinResult m2;
    fit_refit(&p2, t->starts2, t->n_starts2, &t->quick2, &t->opt2, x2, &m2);
    free(Lhat);
    free(mbuf);
    t2acc_estimates(t, best_x, E, x2, est);
    memcpy(internal, best_x, 4 * sizeof(double));
    internal[4] = log(E);
    memcpy(internal + 5, x2, 5 * sizeof(double));
    int ok = conv1 && m2.converged;
    if (!ok) {
        for (int j = 0; j < 13; j++) est[j] = NAN;
        for (int j = 0; j < T2ACC_COMPS; j++) internal[j] = NAN;
    }
    return ok;
}

// Stage 1's identification at the chosen E (optimum x, m): bounds, flat profiles of a', b', alpha,
// beta (over the E grid) and of E itself (E / 10 against the optimum; the grid's ends are its
// bounds).
static void stage1_why(const T2Acc *t, double E, const double *x, const MinResult *m, double tol, unsigned *why) {
    const Profile *prof = &t->prof;
    int q = prof->best;
    for (int j = 0; j < 4; j++) {
        if (m->bound >> j & 1) {
            why[j] |= WHY_BOUND;
            continue;
        }
        double at[2];
        if (t->comp[j].kind == COMP_LOG) {
            at[0] = x[j] - log(FIT_IDENT_FACTOR);
            at[1] = x[j] + log(FIT_IDENT_FACTOR);
        } else {
            double inset = FIT_BOX_TOL * FIT_EXPONENT_MAX;
            at[0] = fmax(x[j] / FIT_IDENT_FACTOR, inset);
            at[1] = fmin(x[j] * FIT_IDENT_FACTOR, FIT_EXPONENT_MAX - inset);
        }
        for (int s = 0; s < 2; s++)
            if (at[s] != x[j] && stage1_profile_min(&t->s1, prof, t->L_min, j, at[s], &t->opt1) - m->f <= tol)
                why[j] |= WHY_FLAT;
    }
    if (q == 0 || q == N_PROFILE - 1) {
        why[4] |= WHY_BOUND;
    } else if (stage1_held(&t->s1, E / FIT_IDENT_FACTOR, x, -1, 0, &t->opt1) - m->f <= tol) {
        why[4] |= WHY_FLAT;
    }
}

int fit_t2_acc(const FitData *d, const FitOptions *o, FitResult *r) {
    fit_result_init(r, FIT_T2_ACC, 10, 3);
    if (fit_data_check(FIT_T2_ACC, d) != 0 || distinct_k_check(d, "t2-acc") != 0) return -1;
    size_t rows = d->n;
    size_t *model_of = xmalloc(rows * sizeof(size_t));
    char **names;
    size_t M = fit_group_models(d, model_of, &names);
    // One (N, D, NLL) per model: the mean NLL over its rows.
    double *mbuf = xcalloc(7 * M, sizeof(double));
    double *N = mbuf, *D = mbuf + M, *L = mbuf + 2 * M, *cnt = mbuf + 3 * M, *zN = mbuf + 4 * M, *zD = mbuf + 5 * M;
    double *ones = mbuf + 6 * M;
    for (size_t i = 0; i < rows; i++) {
        size_t j = model_of[i];
        N[j] = d->N[i];
        D[j] = d->D[i];
        cnt[j] += 1;
    }
    T2Acc t = {.d = d, .model_of = model_of, .n_models = M, .rows_of = cnt, .s1 = {M, zN, zD, L, NULL, 0},
               .opt1 = STAGE1_OPT, .opt2 = STAGE2_POLISH_OPT, .quick2 = STAGE2_OPT};
    model_nll(&t, d->nll, NULL, L, ones);
    t.cN = fit_centred_log(N, M, zN);
    t.cD = fit_centred_log(D, M, zD);
    t.L_min = quantile_of(L, M, 0);
    t.opt1.f_floor = PERFECT_REL * sum_sq(L, M);
    t.opt2.f_floor = t.quick2.f_floor = PERFECT_REL * (double)rows; // pass@k is a probability: 1e-10 absolute
    int threads = fit_threads(o);
    stage1_fit(&t.s1, t.L_min, mean_of(L, M), &t.opt1, threads, &t.prof);
    int q = t.prof.best;
    double s1x[4];
    memcpy(s1x, t.prof.x[q], sizeof s1x);
    MinResult m1;
    double E = stage1_refine(&t.s1, t.L_min, q, s1x, &t.opt1, &m1);
    // Stage 2 on every row.
    double *Lhat = xmalloc(rows * sizeof(double)); // (rows,)
    rows_lhat(&t, s1x, E, Lhat);
    t.L_c = mean_of(Lhat, rows);
    Stage2Data s2 = {rows, Lhat, d->k, d->pass, NULL, t.L_c};
    Stage2Starts st = {{quantile_of(Lhat, rows, 0.25), quantile_of(Lhat, rows, 0.5), quantile_of(Lhat, rows, 0.75)},
                       stdev_of(Lhat, rows)};
    if (!(st.L_sd > 1e-12)) st.L_sd = 1; // every model at one L̂: theta1 is then unidentified
    MultiStart ms = {.n_starts = STAGE2_GRID, .start = stage2_start, .sctx = &st, .opt = STAGE2_OPT, .polish = t.opt2};
    fit_problem_init(&ms.prob, stage2_eval, &s2, 5);
    ms.opt.f_floor = t.opt2.f_floor;
    StartBest best;
    fit_multistart(&ms, threads, &best);
    const MinResult m2 = best.min;
    double est[13];
    t2acc_estimates(&t, s1x, E, best.x, est);
    for (int j = 0; j < 10; j++) fit_set(r, (size_t)j, T2ACC_NAMES[j], est[j]);
    FitProblem p1;
    Stage1Data at_E = t.s1;
    at_E.E = E;
    stage1_problem(&p1, &at_E);
    static const char *const s1_names[4] = {"A", "B", "alpha", "beta"};
    fit_note_bounds(r, fit_at_bound(&p1, s1x, m1.bound), s1_names, 4);
    if (q == 0 || q == N_PROFILE - 1) fit_note_bounds(r, 1, (const char *const[]){"E"}, 1);
    fit_alloc_from_loss_law(r, est[0], est[1], est[3], est[4]);
    r->objective = m2.f;
    r->objective_stage1 = m1.f;
    r->n_points = rows;
    r->converged = m1.converged && m2.converged;
    r->cosine = fmax(m1.cosine, m2.cosine);
    r->lbfgs_status = m1.converged ? m2.status : m1.status;
    // Identification: stage 1's components, then stage 2's (natural scales: theta0 the spread of
    // L̂, u one unit, theta4 a tenfold change of nu across that spread).
    double L_range = quantile_of(Lhat, rows, 1) - quantile_of(Lhat, rows, 0);
    if (!(L_range > 1e-12)) L_range = 1;
    const CompSpec comp[T2ACC_COMPS] = {{COMP_LOG, 0}, {COMP_LOG, 0}, {COMP_EXP, 0}, {COMP_EXP, 0}, {COMP_LOG, 0},
                                        {COMP_REAL, L_range}, {COMP_LOG, 0}, {COMP_REAL, 1}, {COMP_LOG, 0},
                                        {COMP_REAL, log(FIT_IDENT_FACTOR) / L_range}};
    memcpy(t.comp, comp, sizeof comp);
    unsigned why[T2ACC_COMPS] = {0};
    size_t units = fit_units(FIT_T2_ACC, d);
    stage1_why(&t, E, s1x, &m1, fit_ridge_tol(m1.f, t.opt1.f_floor, units, 5), why);
    fit_bound_and_flat(&ms.prob, best.x, &m2, fit_ridge_tol(m2.f, t.opt2.f_floor, units, 5), t.comp + 5, &ms.polish, why + 5);
    // theta2 at 1 is the end of accuracy's range (a ceiling of 100%), not a term the data fail to
    // support: reported at that bound, identified by its interval like any other parameter.
    if (m2.bound >> 2 & 1) {
        why[7] &= ~(unsigned)WHY_BOUND;
        fit_note_bounds(r, 1, (const char *const[]){"theta2"}, 1);
    }
    int rc = 0;
    if (o->bootstrap > 0) {
        // u = 0 (theta2 = 1) is a stationary point of exp(−u²) whatever the data: a refit started
        // only there could never lower the ceiling.
        t.n_starts2 = fit_boot_starts(&ms, &best, t.starts2 + 5, 1 + FIT_BOOT_EXTRA) + 1;
        memcpy(t.starts2, best.x, 5 * sizeof(double));
        t.starts2[2] = fabs(best.x[2]) < 0.25 ? 0.5 : best.x[2];
        double ci[2 * T2ACC_COMPS];
        long used[T2ACC_COMPS];
        BootSpec bs = {t2acc_refit, &t, T2ACC_COMPS, ci, used};
        rc = fit_bootstrap(r, d, &bs, o);
        if (rc == 0) fit_boot_why(why, t.comp, ci, used, T2ACC_COMPS, o->bootstrap);
    }
    fit_mark_identified(r, 0, 10, T2ACC_DEP, why, T2ACC_COMPS);
    fit_residuals_by_k(r, d);
    free(Lhat);
    for (size_t j = 0; j < M; j++) free(names[j]);
    free(names);
    free(mbuf);
    free(model_of);
    return rc;
}
