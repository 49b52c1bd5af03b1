// optimize.c — compute-optimal (N, D, k) under a fitted law; see optimize.h.
#include "fit/optimize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

// The parameters of a loss or accuracy law, looked up once (by name, so fits rebuilt from
// JSON work) and then evaluated in tight loops.
typedef struct {
    FitLaw law;
    double A, B, E, alpha, beta; // the loss law L(N, D) (t2-acc: stage 1's L̂)
    double G, gamma;             // t2-loss
    double theta[5];             // t2-acc
} Law;

static const char *const LAW_KEYS[] = {"A", "B", "E", "alpha", "beta", "G", "gamma",
                                       "theta0", "theta1", "theta2", "theta3", "theta4"};
#define N_LAW_KEYS 12

static double *law_slot(Law *l, int key) {
    double *slots[N_LAW_KEYS] = {&l->A, &l->B, &l->E, &l->alpha, &l->beta, &l->G, &l->gamma,
                                 &l->theta[0], &l->theta[1], &l->theta[2], &l->theta[3], &l->theta[4]};
    return slots[key];
}

static int law_uses(FitLaw law, int key) {
    if (key < 5) return 1;
    if (key < 7) return law == FIT_T2_LOSS;
    return law == FIT_T2_ACC;
}

// Column of each key in a fit's estimate vector (params then allocation), -1 when unused.
static int law_columns(const FitResult *fit, int *col) {
    for (int key = 0; key < N_LAW_KEYS; key++) {
        col[key] = -1;
        if (!law_uses(fit->law, key)) continue;
        for (size_t j = 0; j < fit->n_params; j++)
            if (strcmp(fit->params[j].name, LAW_KEYS[key]) == 0) col[key] = (int)j;
        if (col[key] < 0) {
            err_set("the %s fit has no parameter %s", fit_law_name(fit->law), LAW_KEYS[key]);
            return -1;
        }
    }
    return 0;
}

static void law_from_values(FitLaw law, const int *col, const double *values, Law *l) {
    memset(l, 0, sizeof *l);
    l->law = law;
    for (int key = 0; key < N_LAW_KEYS; key++)
        if (col[key] >= 0) *law_slot(l, key) = values[col[key]];
}

static double loss_nd(const Law *l, double N, double D) { return l->E + l->A * pow(N, -l->alpha) + l->B * pow(D, -l->beta); }

static double law_value(const Law *l, double N, double D, double k) {
    switch (l->law) {
    case FIT_T2_LOSS: return loss_nd(l, N, D) + l->G * pow(k, -l->gamma);
    case FIT_T2_ACC: {
        double a, b;
        t2acc_beta(l->theta, loss_nd(l, N, D), &a, &b);
        return beta_pass_at_k(a, b, k);
    }
    default: return loss_nd(l, N, D);
    }
}

void chinchilla_optimal(double A, double B, double alpha, double beta, double c_train, double *N, double *D) {
    double G = pow(alpha * A / (beta * B), 1 / (alpha + beta));
    double c6 = c_train / 6;
    *N = G * pow(c6, beta / (alpha + beta));
    *D = pow(c6, alpha / (alpha + beta)) / G;
}

// ---------------------------------------------------------------------------------------------
// 1-D search.
static double eval_or_inf(double (*f)(double, void *), void *ctx, double v) {
    double y = f(v, ctx);
    return isnan(y) ? HUGE_VAL : y;
}

double minimize_1d(double (*f)(double v, void *ctx), void *ctx, double lo, double hi, int n_grid, double *f_min) {
    if (n_grid < 3) n_grid = 3;
    int best = 0;
    double best_f = HUGE_VAL;
    for (int i = 0; i < n_grid; i++) {
        double v = lo + (hi - lo) * i / (n_grid - 1);
        double y = eval_or_inf(f, ctx, v);
        if (y < best_f || i == 0) {
            best = i;
            best_f = y;
        }
    }
    double best_v = lo + (hi - lo) * best / (n_grid - 1);
    // Golden section inside the grid cells around the best point.
    double a = lo + (hi - lo) * MAX(best - 1, 0) / (n_grid - 1);
    double b = lo + (hi - lo) * MIN(best + 1, n_grid - 1) / (n_grid - 1);
    const double inv_phi = (sqrt(5.0) - 1) / 2;
    double c = b - inv_phi * (b - a), d = a + inv_phi * (b - a);
    double fc = eval_or_inf(f, ctx, c), fd = eval_or_inf(f, ctx, d);
    for (int it = 0; it < 200 && b - a > 1e-10 * MAX(1.0, fabs(a)); it++) {
        if (fc <= fd) {
            b = d;
            d = c;
            fd = fc;
            c = b - inv_phi * (b - a);
            fc = eval_or_inf(f, ctx, c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + inv_phi * (b - a);
            fd = eval_or_inf(f, ctx, d);
        }
    }
    double v = fc <= fd ? c : d, fv = fc <= fd ? fc : fd;
    if (fv < best_f) {
        best_v = v;
        best_f = fv;
    }
    *f_min = best_f;
    return best_v;
}

// ---------------------------------------------------------------------------------------------
// Allocation.
typedef struct {
    double c_train, c_inf; // FLOPs; c_inf ≤ 0: no inference budget (k = 1)
    double k_max;          // cap on k (> 0), or 0 for none
} Budgets;

typedef struct {
    const Law *law;
    Budgets b;
    double sign; // −1 to maximise
} AllocCtx;

// The samples C_inf affords a model of N parameters, before the cap.
static double k_afforded(const Budgets *b, double N) { return b->c_inf > 0 ? b->c_inf / (2 * N) : 1; }

static double k_of(const Budgets *b, double N) {
    double k = k_afforded(b, N);
    return b->k_max > 0 ? fmin(k, b->k_max) : k;
}

static double alloc_objective(double v, void *ctx) {
    const AllocCtx *a = ctx;
    double N = exp(v);
    return a->sign * law_value(a->law, N, a->b.c_train / (6 * N), k_of(&a->b, N));
}

// Grid points over log N: 2,001 across at most ~60 e-folds, a step under 3% in N before the
// golden-section refinement.
#define ALLOC_GRID 2001

static void fill(Allocation *a, const Law *l, double N, const Budgets *b) {
    a->N = N;
    a->D = b->c_train / (6 * N);
    a->k = k_of(b, N);
    a->tokens_per_param = a->D / N;
    a->value = law_value(l, N, a->D, a->k);
    a->feasible = k_afforded(b, N) >= 1 - 1e-12; // the T² search may land on k = 1 up to rounding
}

// Both choices under one set of parameters.
static void allocate(const Law *l, const Budgets *b, double log_n_max, Allocation *t2, Allocation *chin) {
    AllocCtx ctx = {l, *b, l->law == FIT_T2_ACC ? -1 : 1};
    double f_min;
    double v = minimize_1d(alloc_objective, &ctx, 0, log_n_max, ALLOC_GRID, &f_min);
    fill(t2, l, exp(v), b);
    double step = log_n_max / (ALLOC_GRID - 1);
    t2->at_bound = v <= step || v >= log_n_max - step;
    double N, D;
    chinchilla_optimal(l->A, l->B, l->alpha, l->beta, b->c_train, &N, &D);
    fill(chin, l, N, b);
}

static void set_nan2(double *v) { v[0] = v[1] = NAN; }

static void clear_ci(Allocation *a) {
    set_nan2(a->N_ci);
    set_nan2(a->D_ci);
    set_nan2(a->k_ci);
    set_nan2(a->value_ci);
}

// Percentile intervals of both allocations over the fit's bootstrap resamples.
static void bootstrap_intervals(const FitResult *fit, const int *col, const Budgets *bud, double log_n_max,
                                OptResult *out) {
    size_t nb = (size_t)fit->n_boot_used, width = fit->n_params + fit->n_alloc;
    double *vals = xmalloc(8 * nb * sizeof(double)); // (8, nb): N, D, k, value for t2 then chinchilla
    for (size_t b = 0; b < nb; b++) {
        Law l;
        law_from_values(fit->law, col, fit->boot + b * width, &l);
        Allocation t2, ch;
        allocate(&l, bud, log_n_max, &t2, &ch);
        double row[8] = {t2.N, t2.D, t2.k, t2.value, ch.N, ch.D, ch.k, ch.value};
        for (int j = 0; j < 8; j++) vals[(size_t)j * nb + b] = row[j];
    }
    double *dst[8] = {out->t2.N_ci, out->t2.D_ci, out->t2.k_ci, out->t2.value_ci,
                      out->chinchilla.N_ci, out->chinchilla.D_ci, out->chinchilla.k_ci, out->chinchilla.value_ci};
    for (int j = 0; j < 8; j++) fit_percentile_interval(vals + (size_t)j * nb, nb, 0.95, dst[j]);
    out->n_boot_used = (long)nb;
    free(vals);
}

int optimize_allocation(const FitResult *fit, double c_train, double c_inf, OptResult *out) {
    return optimize_allocation_capped(fit, c_train, c_inf, 0, out);
}

int optimize_allocation_capped(const FitResult *fit, double c_train, double c_inf, double k_max, OptResult *out) {
    memset(out, 0, sizeof *out);
    clear_ci(&out->t2);
    clear_ci(&out->chinchilla);
    if (fit->law == FIT_COVERAGE) {
        err_set("coverage is a per-model law with no N, D dependence; optimize needs chinchilla, t2-loss or t2-acc");
        return -1;
    }
    if (!(c_train > 0) || !isfinite(c_train)) {
        err_set("--c-train: the training budget must be a positive number of FLOPs, got %g", c_train);
        return -1;
    }
    if (!isfinite(c_inf)) {
        err_set("--c-inf: the inference budget must be finite, got %g", c_inf);
        return -1;
    }
    if (!(k_max == 0 || (k_max >= 1 && isfinite(k_max)))) {
        err_set("--k-max: the cap on samples per query must be at least 1 (or 0 for none), got %g", k_max);
        return -1;
    }
    // The largest N: every token budget keeps D ≥ 1, and k ≥ 1 needs 2N ≤ C_inf.
    double n_max = c_train / 6;
    if (c_inf > 0) n_max = MIN(n_max, c_inf / 2);
    if (!(n_max >= 1)) {
        err_set("the budgets allow no model: C_train/6 = %g and C_inf/2 = %g must both be at least 1 parameter",
                c_train / 6, c_inf / 2);
        return -1;
    }
    int col[N_LAW_KEYS];
    if (law_columns(fit, col) != 0) return -1;
    double *values = xmalloc(fit->n_params * sizeof(double));
    for (size_t j = 0; j < fit->n_params; j++) values[j] = fit->params[j].value;
    Law l;
    law_from_values(fit->law, col, values, &l);
    free(values);
    out->law = fit->law;
    out->c_train = c_train;
    out->c_inf = c_inf;
    out->k_max = k_max;
    out->metric = fit->law == FIT_T2_ACC ? "pass@k" : fit->law == FIT_T2_LOSS ? "nll" : "loss";
    out->maximise = fit->law == FIT_T2_ACC;
    out->chinchilla_from = "law";
    Budgets b = {c_train, c_inf, k_max};
    allocate(&l, &b, log(n_max), &out->t2, &out->chinchilla);
    if (fit->boot && fit->n_boot_used > 1) bootstrap_intervals(fit, col, &b, log(n_max), out);
    return 0;
}

// A law's parameters at its point estimate (values NULL) or at bootstrap resample b.
static void law_at(const FitResult *fit, const int *col, long b, Law *l) {
    size_t width = fit->n_params + fit->n_alloc;
    if (b >= 0) {
        law_from_values(fit->law, col, fit->boot + (size_t)b * width, l);
        return;
    }
    double *values = xmalloc((fit->n_params ? fit->n_params : 1) * sizeof(double));
    for (size_t j = 0; j < fit->n_params; j++) values[j] = fit->params[j].value;
    law_from_values(fit->law, col, values, l);
    free(values);
}

int optimize_chinchilla_from(const FitResult *fit, const FitResult *loss_law, OptResult *out) {
    int col[N_LAW_KEYS], lcol[N_LAW_KEYS];
    if (law_columns(fit, col) != 0 || law_columns(loss_law, lcol) != 0) return -1;
    Law l, ll;
    law_at(fit, col, -1, &l);
    law_at(loss_law, lcol, -1, &ll);
    double N, D;
    chinchilla_optimal(ll.A, ll.B, ll.alpha, ll.beta, out->c_train, &N, &D);
    Allocation *a = &out->chinchilla;
    Budgets bud = {out->c_train, out->c_inf, out->k_max};
    fill(a, &l, N, &bud);
    clear_ci(a);
    out->chinchilla_from = "chinchilla";
    size_t nb = loss_law->boot ? (size_t)loss_law->n_boot_used : 0;
    if (nb > 1) {
        double *v = xmalloc(3 * nb * sizeof(double)); // (3, nb): N, D, k
        for (size_t b = 0; b < nb; b++) {
            Law lb;
            law_at(loss_law, lcol, (long)b, &lb);
            chinchilla_optimal(lb.A, lb.B, lb.alpha, lb.beta, out->c_train, &v[b], &v[nb + b]);
            v[2 * nb + b] = k_of(&bud, v[b]);
        }
        fit_percentile_interval(v, nb, 0.95, a->N_ci);
        fit_percentile_interval(v + nb, nb, 0.95, a->D_ci);
        fit_percentile_interval(v + 2 * nb, nb, 0.95, a->k_ci);
        free(v);
    }
    nb = fit->boot ? (size_t)fit->n_boot_used : 0;
    if (nb > 1) {
        double *v = xmalloc(nb * sizeof(double)); // (nb,) the fit's value at the Chinchilla point
        for (size_t b = 0; b < nb; b++) {
            Law lb;
            law_at(fit, col, (long)b, &lb);
            v[b] = law_value(&lb, a->N, a->D, a->k);
        }
        fit_percentile_interval(v, nb, 0.95, a->value_ci);
        free(v);
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Output.
static void add_pair(cJSON *obj, const char *name, const double *v) {
    if (!isfinite(v[0]) || !isfinite(v[1])) return;
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, fit_json_number(v[0]));
    cJSON_AddItemToArray(pair, fit_json_number(v[1]));
    cJSON_AddItemToObject(obj, name, pair);
}

static int has_ci(const Allocation *a) { return isfinite(a->N_ci[0]) || isfinite(a->value_ci[0]); }

static cJSON *allocation_cjson(const Allocation *a) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "N", fit_json_number(a->N));
    cJSON_AddItemToObject(o, "D", fit_json_number(a->D));
    cJSON_AddItemToObject(o, "tokens_per_param", fit_json_number(a->tokens_per_param));
    cJSON_AddItemToObject(o, "k", fit_json_number(a->k));
    cJSON_AddItemToObject(o, "value", fit_json_number(a->value));
    cJSON_AddBoolToObject(o, "feasible", a->feasible);
    if (a->at_bound) cJSON_AddBoolToObject(o, "at_bound", 1);
    if (has_ci(a)) {
        cJSON *ci = cJSON_AddObjectToObject(o, "ci");
        add_pair(ci, "N", a->N_ci);
        add_pair(ci, "D", a->D_ci);
        add_pair(ci, "k", a->k_ci);
        add_pair(ci, "value", a->value_ci);
    }
    return o;
}

cJSON *opt_result_cjson(const OptResult *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "law", fit_law_name(o->law));
    cJSON_AddItemToObject(j, "c_train", fit_json_number(o->c_train));
    cJSON_AddItemToObject(j, "c_inf", fit_json_number(o->c_inf));
    if (o->k_max > 0) cJSON_AddItemToObject(j, "k_max", fit_json_number(o->k_max));
    cJSON_AddStringToObject(j, "metric", o->metric);
    cJSON_AddItemToObject(j, "t2", allocation_cjson(&o->t2));
    cJSON_AddItemToObject(j, "chinchilla", allocation_cjson(&o->chinchilla));
    cJSON_AddStringToObject(j, "chinchilla_from", o->chinchilla_from ? o->chinchilla_from : "law");
    if (o->n_boot_used) cJSON_AddNumberToObject(j, "bootstrap_resamples", (double)o->n_boot_used);
    return j;
}

char *opt_result_json(const OptResult *o) {
    cJSON *j = opt_result_cjson(o);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) die("out of memory printing JSON");
    char *copy = xstrdup(s);
    cJSON_free(s);
    return copy;
}

static void print_allocation(FILE *f, const char *label, const Allocation *a, const char *metric) {
    fprintf(f, "  %-11s N %-10.4g D %-10.4g tokens/param %-9.4g k %-9.4g %s %.6g%s%s\n", label, a->N, a->D,
            a->tokens_per_param, a->k, metric, a->value, a->feasible ? "" : "  (k < 1: infeasible)",
            a->at_bound ? "  (at the end of the N search: no interior optimum)" : "");
    if (!has_ci(a)) return;
    fprintf(f, "  %-11s", "");
    const char *names[4] = {"N", "D", "k", metric};
    const double *ci[4] = {a->N_ci, a->D_ci, a->k_ci, a->value_ci};
    for (int j = 0; j < 4; j++)
        if (isfinite(ci[j][0])) fprintf(f, " %s [%.4g, %.4g] ", names[j], ci[j][0], ci[j][1]);
    fprintf(f, "\n");
}

void opt_result_print(FILE *f, const OptResult *o) {
    char inf[64];
    if (o->c_inf > 0)
        snprintf(inf, sizeof inf, "%.4g FLOPs per query token", o->c_inf);
    else
        snprintf(inf, sizeof inf, "none (k = 1)");
    fprintf(f, "law %s, C_train %.4g FLOPs, C_inf %s (%s %s)\n", fit_law_name(o->law), o->c_train, inf,
            o->maximise ? "maximising" : "minimising", o->metric);
    if (o->k_max > 0) fprintf(f, "k capped at %g samples per query\n", o->k_max);
    print_allocation(f, "T2", &o->t2, o->metric);
    print_allocation(f, "Chinchilla", &o->chinchilla, o->metric);
    if (o->chinchilla_from && strcmp(o->chinchilla_from, "chinchilla") == 0)
        fprintf(f, "Chinchilla: N*, D* from the chinchilla fit's closed form, k = C_inf / (2N*), valued under %s\n",
                fit_law_name(o->law));
    if (o->n_boot_used) fprintf(f, "intervals: 95%% percentiles over %ld bootstrap resamples\n", o->n_boot_used);
}
