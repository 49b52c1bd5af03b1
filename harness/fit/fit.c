// fit.c — the law table, data checks, results (JSON, table), the bootstrap, predictions.
#include "fit/fit.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit_impl.h"
#include "util/threadpool.h"
#include "util/util.h"

static const char *const LAW_NAMES[FIT_N_LAWS] = {"chinchilla", "t2-loss", "t2-acc", "coverage"};

const char *fit_law_name(FitLaw law) { return law >= 0 && law < FIT_N_LAWS ? LAW_NAMES[law] : "?"; }

int fit_law_parse(const char *name, FitLaw *out) {
    for (int i = 0; i < FIT_N_LAWS; i++)
        if (strcmp(name, LAW_NAMES[i]) == 0) {
            *out = (FitLaw)i;
            return 0;
        }
    err_set("unknown law '%s' (expected chinchilla, t2-loss, t2-acc or coverage)", name);
    return -1;
}

void fit_options_default(FitOptions *o) {
    memset(o, 0, sizeof *o);
    o->n_starts = 500;
    o->ci_level = 0.95;
}

// ---------------------------------------------------------------------------------------------
// Data.
void fit_data_alloc(FitData *d, size_t n) {
    memset(d, 0, sizeof *d);
    d->n = n;
    double **cols[] = {&d->N, &d->D, &d->k, &d->loss, &d->nll, &d->pass};
    for (size_t c = 0; c < ARRAY_LEN(cols); c++) {
        *cols[c] = xmalloc((n ? n : 1) * sizeof(double));
        for (size_t i = 0; i < n; i++) (*cols[c])[i] = NAN;
    }
}

void fit_data_alloc_problems(FitData *d, size_t P, int with_nll) {
    d->n_problems = P;
    size_t cells = (d->n ? d->n : 1) * (P ? P : 1);
    d->prob_term = xmalloc(cells * sizeof(double));
    for (size_t i = 0; i < cells; i++) d->prob_term[i] = NAN;
    if (with_nll) {
        d->prob_nll = xmalloc(cells * sizeof(double));
        for (size_t i = 0; i < cells; i++) d->prob_nll[i] = NAN;
    }
}

void fit_data_free(FitData *d) {
    if (!d) return;
    free(d->prob_term);
    free(d->prob_nll);
    free(d->run);
    free(d->cell);
    free(d->N);
    free(d->D);
    free(d->k);
    free(d->loss);
    free(d->nll);
    free(d->pass);
    if (d->model)
        for (size_t i = 0; i < d->n; i++) free(d->model[i]);
    free(d->model);
    memset(d, 0, sizeof *d);
}

size_t fit_min_points(FitLaw law) {
    switch (law) {
    case FIT_CHINCHILLA: return 6;  // 5 parameters
    case FIT_T2_LOSS: return 8;     // 7 parameters
    case FIT_T2_ACC: return 6;      // models: 4 parameters + profiled E; rows: 5 thetas
    case FIT_COVERAGE: return 3;    // per model: a, b
    default: return 0;
    }
}

// A column value must be finite and (strictly, or not) positive; pass also at most 1.
typedef enum { POSITIVE, NONNEGATIVE, PROB_POSITIVE, PROB, AT_LEAST_ONE } Range;

static int check_col(const double *col, size_t n, const char *name, Range range, const char *why) {
    if (!col) {
        err_set("column %s is missing", name);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        double v = col[i];
        int ok = isfinite(v);
        if (ok && range == POSITIVE) ok = v > 0;
        if (ok && range == NONNEGATIVE) ok = v >= 0;
        if (ok && range == PROB_POSITIVE) ok = v > 0 && v <= 1;
        if (ok && range == PROB) ok = v >= 0 && v <= 1;
        if (ok && range == AT_LEAST_ONE) ok = v >= 1;
        if (!ok) {
            static const char *const want[] = {"a positive number", "a number >= 0", "in (0, 1]", "in [0, 1]", ">= 1"};
            err_set("point %zu: %s = %g; expected %s%s", i + 1, name, v, want[range], why ? why : "");
            return -1;
        }
    }
    return 0;
}

// A column whose every value is the same gives a law nothing to fit its term on: -1 + err_set.
static int one_value(const double *col, size_t n, FitLaw law, const char *what, const char *name) {
    for (size_t i = 1; i < n; i++)
        if (col[i] != col[0]) return 0;
    err_set("%s cannot be fitted: every point has the same %s = %g, and the law needs at least 2 distinct %s",
            fit_law_name(law), name, n ? col[0] : NAN, what);
    return -1;
}

int fit_data_check(FitLaw law, const FitData *d) {
    size_t need = fit_min_points(law);
    switch (law) {
    case FIT_CHINCHILLA:
        if (check_col(d->N, d->n, "N", POSITIVE, NULL) || check_col(d->D, d->n, "D", POSITIVE, NULL) ||
            check_col(d->loss, d->n, "loss", POSITIVE, NULL))
            return -1;
        break;
    case FIT_T2_LOSS:
        if (check_col(d->N, d->n, "N", POSITIVE, NULL) || check_col(d->D, d->n, "D", POSITIVE, NULL) ||
            check_col(d->k, d->n, "k", AT_LEAST_ONE, NULL) || check_col(d->nll, d->n, "nll", NONNEGATIVE, NULL))
            return -1;
        break;
    case FIT_T2_ACC:
        if (check_col(d->N, d->n, "N", POSITIVE, NULL) || check_col(d->D, d->n, "D", POSITIVE, NULL) ||
            check_col(d->k, d->n, "k", AT_LEAST_ONE, NULL) || check_col(d->pass, d->n, "pass", PROB, NULL) ||
            check_col(d->nll, d->n, "nll", POSITIVE, NULL))
            return -1;
        break;
    case FIT_COVERAGE:
        if (!d->model && (check_col(d->N, d->n, "N", POSITIVE, NULL) || check_col(d->D, d->n, "D", POSITIVE, NULL)))
            return -1;
        if (check_col(d->k, d->n, "k", AT_LEAST_ONE, NULL) ||
            check_col(d->pass, d->n, "pass", PROB_POSITIVE, " (coverage fits log pass@k)"))
            return -1;
        break;
    default:
        err_set("unknown law %d", (int)law);
        return -1;
    }
    if (law != FIT_COVERAGE && d->n < need) {
        err_set("%s needs at least %zu points, got %zu", fit_law_name(law), need, d->n);
        return -1;
    }
    if (law != FIT_COVERAGE && (one_value(d->N, d->n, law, "N (model sizes)", "N") ||
                                one_value(d->D, d->n, law, "D (training token counts)", "D")))
        return -1;
    if ((law == FIT_T2_ACC || law == FIT_COVERAGE) && one_value(d->pass, d->n, law, "pass@k values", "pass"))
        return -1;
    if (law == FIT_T2_ACC || law == FIT_COVERAGE) {
        size_t *model_of = xmalloc((d->n ? d->n : 1) * sizeof(size_t));
        char **names = NULL;
        size_t n_models = fit_group_models(d, model_of, &names);
        int rc = 0;
        if (law == FIT_T2_ACC && n_models < need) {
            err_set("t2-acc needs at least %zu models%s for its stage-1 loss law, got %zu", need,
                    d->model ? "" : " (distinct N, D)", n_models);
            rc = -1;
        }
        for (size_t j = 0; law == FIT_COVERAGE && j < n_models && rc == 0; j++) {
            size_t count = 0;
            for (size_t i = 0; i < d->n; i++) count += model_of[i] == j;
            if (count < need) {
                err_set("coverage needs at least %zu points (k values) per model, model %s has %zu", need, names[j], count);
                rc = -1;
            }
        }
        if (law == FIT_COVERAGE && n_models == 0) {
            err_set("coverage needs at least %zu points per model, got no points", need);
            rc = -1;
        }
        for (size_t j = 0; j < n_models; j++) free(names[j]);
        free(names);
        free(model_of);
        return rc;
    }
    return 0;
}

size_t fit_group_models(const FitData *d, size_t *model_of, char ***names_out) {
    size_t n_models = 0, cap = 8;
    size_t *first = xmalloc(cap * sizeof(size_t)); // (n_models,) first row of each model
    char **names = xmalloc(cap * sizeof(char *));
    for (size_t i = 0; i < d->n; i++) {
        size_t j = 0;
        for (; j < n_models; j++) {
            size_t f = first[j];
            int same = d->model ? strcmp(d->model[f], d->model[i]) == 0 : d->N[f] == d->N[i] && d->D[f] == d->D[i];
            if (same) break;
        }
        if (j == n_models) {
            if (n_models == cap) {
                cap *= 2;
                first = xrealloc(first, cap * sizeof(size_t));
                names = xrealloc(names, cap * sizeof(char *));
            }
            first[n_models] = i;
            names[n_models] = d->model ? xstrdup(d->model[i]) : xasprintf("%.6g,%.6g", d->N[i], d->D[i]);
            n_models++;
        }
        model_of[i] = j;
    }
    free(first);
    *names_out = names;
    return n_models;
}

size_t fit_units(FitLaw law, const FitData *d) {
    if (d->run) {
        size_t n = 0;
        for (size_t i = 0; i < d->n; i++) {
            size_t j = 0;
            while (j < i && d->run[j] != d->run[i]) j++;
            n += j == i;
        }
        return n;
    }
    if (law == FIT_CHINCHILLA) return d->n;
    size_t *model_of = xmalloc((d->n ? d->n : 1) * sizeof(size_t));
    char **names;
    size_t M = fit_group_models(d, model_of, &names);
    for (size_t j = 0; j < M; j++) free(names[j]);
    free(names);
    free(model_of);
    return M;
}

// ---------------------------------------------------------------------------------------------
// Results.
static void set_param(FitParam *p, const char *name, double value) {
    snprintf(p->name, sizeof p->name, "%s", name);
    p->value = value;
    p->lo = p->hi = NAN;
    p->n_used = 0;
    p->identified = 1;
    p->why[0] = '\0';
}

void fit_result_init(FitResult *r, FitLaw law, size_t n_params, size_t n_alloc) {
    memset(r, 0, sizeof *r);
    r->law = law;
    r->n_params = n_params;
    r->params = xcalloc(n_params ? n_params : 1, sizeof(FitParam));
    r->n_alloc = n_alloc;
    r->alloc = xcalloc(n_alloc ? n_alloc : 1, sizeof(FitParam));
    for (size_t i = 0; i < n_params; i++) set_param(&r->params[i], "", NAN);
    for (size_t i = 0; i < n_alloc; i++) set_param(&r->alloc[i], "", NAN);
    r->objective = r->objective_stage1 = r->cosine = NAN;
}


void fit_set(FitResult *r, size_t i, const char *name, double value) { set_param(&r->params[i], name, value); }
void fit_set_alloc(FitResult *r, size_t i, const char *name, double value) { set_param(&r->alloc[i], name, value); }

void alloc_quantities(double A, double B, double alpha, double beta, double out[3]) {
    double s = alpha + beta;
    out[0] = beta / s;
    out[1] = alpha / s;
    out[2] = pow(alpha * A / (beta * B), 1.0 / s);
}

void fit_alloc_from_loss_law(FitResult *r, double A, double B, double alpha, double beta) {
    double q[3];
    alloc_quantities(A, B, alpha, beta, q);
    fit_set_alloc(r, 0, "N_opt_exponent", q[0]);
    fit_set_alloc(r, 1, "D_opt_exponent", q[1]);
    fit_set_alloc(r, 2, "N_opt_coef", q[2]);
}

void fit_note_bounds(FitResult *r, unsigned mask, const char *const *names, int n) {
    for (int j = 0; j < n; j++) {
        if (!(mask & (1u << j)) || !names[j]) continue;
        size_t len = strlen(r->at_bound);
        if (strstr(r->at_bound, names[j])) continue;
        snprintf(r->at_bound + len, sizeof r->at_bound - len, "%s%s", len ? "," : "", names[j]);
    }
}

static const char *why_text(unsigned why) {
    if (why & WHY_NOT_CONVERGED) return "its fit did not converge";
    if (why & WHY_BOUND) return "at a bound of its range";
    if (why & WHY_FLAT) return "on a flat ridge: the objective barely changes along its profile";
    if (why & WHY_FAILED) return "most bootstrap refits failed";
    if (why & WHY_WIDE) return "its bootstrap interval spans more than a factor 10";
    return "";
}

void fit_mark_identified(FitResult *r, size_t first, size_t n, const unsigned *dep, const unsigned *why_comp, int n_comp) {
    for (size_t j = 0; j < n; j++) {
        unsigned why = 0;
        for (int c = 0; c < n_comp; c++)
            if (dep[j] >> c & 1) why |= why_comp[c];
        FitParam *p = &r->params[first + j];
        if (!why || !p->identified) continue;
        p->identified = 0;
        snprintf(p->why, sizeof p->why, "%s", why_text(why));
        r->n_not_identified++;
    }
}

static int cmp_kres(const void *a, const void *b) {
    double x = ((const FitKResidual *)a)->k, y = ((const FitKResidual *)b)->k;
    return (x > y) - (x < y);
}

void fit_residuals_by_k(FitResult *r, const FitData *d) {
    free(r->kres);
    r->kres = xcalloc(d->n ? d->n : 1, sizeof(FitKResidual));
    r->n_kres = 0;
    for (size_t i = 0; i < d->n; i++) {
        double obs = r->law == FIT_T2_LOSS ? d->nll[i] : d->pass[i];
        double res = obs - fit_predict(r, d->N[i], d->D[i], d->k[i]);
        if (!isfinite(res)) continue;
        size_t j = 0;
        while (j < r->n_kres && r->kres[j].k != d->k[i]) j++;
        if (j == r->n_kres) r->kres[r->n_kres++] = (FitKResidual){.k = d->k[i]};
        r->kres[j].n++;
        r->kres[j].mean += res;
        r->kres[j].rms += res * res;
    }
    for (size_t j = 0; j < r->n_kres; j++) {
        r->kres[j].mean /= (double)r->kres[j].n;
        r->kres[j].rms = sqrt(r->kres[j].rms / (double)r->kres[j].n);
    }
    qsort(r->kres, r->n_kres, sizeof(FitKResidual), cmp_kres);
}

// The not-identified parameters, comma-separated into out, leaving out E when skip_E; returns how many.
static int join_unidentified(const FitResult *r, int skip_E, char *out, size_t out_len) {
    int n = 0;
    size_t len = 0;
    if (out_len) out[0] = '\0';
    for (size_t j = 0; j < r->n_params; j++) {
        const FitParam *p = &r->params[j];
        if (p->identified || (skip_E && strcmp(p->name, "E") == 0)) continue;
        if (len < out_len) len += (size_t)snprintf(out + len, out_len - len, "%s%s", n ? ", " : "", p->name);
        n++;
    }
    return n;
}

int fit_unidentified_names(const FitResult *r, char *out, size_t out_len) { return join_unidentified(r, 0, out, out_len); }

int fit_allocation_unidentified(const FitResult *r, char *out, size_t out_len) {
    return join_unidentified(r, r->law != FIT_T2_ACC, out, out_len);
}

void fit_result_free(FitResult *r) {
    if (!r) return;
    free(r->params);
    free(r->alloc);
    free(r->kres);
    free(r->boot);
    memset(r, 0, sizeof *r);
}

const FitParam *fit_find(const FitResult *r, const char *name) {
    for (size_t i = 0; i < r->n_params; i++)
        if (strcmp(r->params[i].name, name) == 0) return &r->params[i];
    for (size_t i = 0; i < r->n_alloc; i++)
        if (strcmp(r->alloc[i].name, name) == 0) return &r->alloc[i];
    return NULL;
}

double fit_get(const FitResult *r, const char *name) {
    const FitParam *p = fit_find(r, name);
    return p ? p->value : NAN;
}

// The allocation quantities come from A, B, alpha and beta: not identified when one of them is not.
static void mark_allocation(FitResult *r) {
    static const char *const deps[4] = {"A", "B", "alpha", "beta"};
    char names[64] = "";
    size_t len = 0;
    for (int j = 0; j < 4; j++) {
        const FitParam *p = fit_find(r, deps[j]);
        if (p && !p->identified) len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "", deps[j]);
    }
    for (size_t i = 0; len && i < r->n_alloc; i++) {
        r->alloc[i].identified = 0;
        snprintf(r->alloc[i].why, sizeof r->alloc[i].why, "it depends on %s", names);
    }
}

int fit_run(FitLaw law, const FitData *d, const FitOptions *o, FitResult *out) {
    FitOptions def;
    if (!o) {
        fit_options_default(&def);
        o = &def;
    }
    int rc;
    switch (law) {
    case FIT_CHINCHILLA: rc = fit_chinchilla(d, o, out); break;
    case FIT_T2_LOSS: rc = fit_t2_loss(d, o, out); break;
    case FIT_T2_ACC: rc = fit_t2_acc(d, o, out); break;
    case FIT_COVERAGE: rc = fit_coverage(d, o, out); break;
    default:
        fit_result_init(out, law, 0, 0);
        err_set("unknown law %d", (int)law);
        return -1;
    }
    if (rc == 0) mark_allocation(out);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Bootstrap (see fit_impl.h for what is drawn).

// Dense ids 0..n_ids−1 for the values of key (n,), in order of first appearance.
static size_t dense_ids(const int *key, size_t n, size_t *id) {
    size_t n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && key[j] != key[i]) j++;
        id[i] = j < i ? id[j] : n_ids++;
    }
    return n_ids;
}

typedef struct {
    const FitData *d;
    FitLaw law;
    const BootSpec *spec;
    int draw_problems; // targets are problem means: draw problems
    // Groups drawn with replacement within their stratum: runs within cells (seeds), or whole
    // units (rows or models) in one stratum. n_groups = 0: none.
    size_t n_groups;
    const size_t *group_of; // (n,) the group of each row
    size_t n_strata;
    const size_t *members;  // (n_groups,) group ids by stratum
    const size_t *start;    // (n_strata + 1,)
    long n_boot;
    uint64_t seed;
    size_t n_est;
    int n_int;
    double *est;      // (n_boot, n_est)
    double *internal; // (n_boot, n_int)
    int *ok;          // (n_boot,)
    atomic_long next; // the next resample to hand out
} BootJob;

// Mean of the row's per-problem terms under problem multiplicities wp; NAN when no drawn
// problem has a term.
static double problem_mean(const double *terms, const double *wp, size_t P) {
    double s = 0, w = 0;
    for (size_t p = 0; p < P; p++)
        if (wp[p] > 0 && isfinite(terms[p])) {
            s += wp[p] * terms[p];
            w += wp[p];
        }
    return w > 0 ? s / w : NAN;
}

static void boot_worker(void *arg, int tid, int n_threads) {
    (void)tid;
    (void)n_threads;
    BootJob *job = arg;
    const FitData *d = job->d;
    size_t n = d->n, P = d->n_problems;
    double *w = xmalloc((n ? n : 1) * sizeof(double));             // (n,) row multiplicities
    double *mult = xmalloc((job->n_groups ? job->n_groups : 1) * sizeof(double)); // (groups,)
    double *wp = xmalloc((P ? P : 1) * sizeof(double));            // (P,) problem multiplicities
    double *y1 = xmalloc((n ? n : 1) * sizeof(double)), *y2 = xmalloc((n ? n : 1) * sizeof(double));
    FitData rd = *d; // shares every column but the recomputed targets
    for (long b; (b = atomic_fetch_add(&job->next, 1)) < job->n_boot;) {
        // Each resample has its own stream: the draws do not depend on the thread split.
        Rng rng;
        rng_seed(&rng, seed_derive(job->seed, 0xB007, (uint64_t)b, 0));
        for (size_t i = 0; i < n; i++) w[i] = 1;
        if (job->draw_problems) {
            memset(wp, 0, P * sizeof(double));
            for (size_t p = 0; p < P; p++) wp[rng_below(&rng, P)] += 1;
        }
        if (job->n_groups) {
            // Rao and Wu's rescaled bootstrap: size − 1 draws per stratum, each weighing
            // size / (size − 1). Drawing all `size` would shrink the variance of a stratum's mean
            // by (size − 1) / size — by half with 2 seeds — and the intervals with it.
            memset(mult, 0, job->n_groups * sizeof(double));
            for (size_t s = 0; s < job->n_strata; s++) {
                size_t lo = job->start[s], size = job->start[s + 1] - lo;
                if (size == 1) {
                    mult[job->members[lo]] = 1;
                    continue;
                }
                double scale = (double)size / (double)(size - 1);
                for (size_t i = 0; i + 1 < size; i++) mult[job->members[lo + rng_below(&rng, size)]] += scale;
            }
            for (size_t i = 0; i < n; i++) w[i] = mult[job->group_of[i]];
        }
        if (job->draw_problems) {
            // t2-loss: nll; t2-acc: pass and nll; coverage: pass.
            double *term_col = job->law == FIT_T2_LOSS ? y1 : y2;
            for (size_t i = 0; i < n; i++) {
                double v = problem_mean(d->prob_term + i * P, wp, P);
                double full = job->law == FIT_T2_LOSS ? d->nll[i] : d->pass[i];
                if (!isfinite(v)) w[i] = 0;
                term_col[i] = isfinite(v) ? v : full;
                if (d->prob_nll) {
                    double u = problem_mean(d->prob_nll + i * P, wp, P);
                    y1[i] = isfinite(u) ? u : d->nll[i];
                }
            }
            if (job->law == FIT_T2_LOSS || d->prob_nll) rd.nll = y1;
            if (job->law != FIT_T2_LOSS) rd.pass = y2;
        }
        double *est = job->est + (size_t)b * job->n_est, *in = job->internal + (size_t)b * (size_t)job->n_int;
        job->ok[b] = job->spec->refit(job->spec->ctx, &rd, w, est, in);
        for (size_t j = 0; j < job->n_est; j++)
            if (!isfinite(est[j])) job->ok[b] = 0;
    }
    free(w);
    free(mult);
    free(wp);
    free(y1);
    free(y2);
}

void fit_percentile_interval(double *v, size_t n, double level, double out[2]) {
    sort_doubles(v, n);
    double tail = (1 - level) / 2;
    out[0] = quantile_sorted(v, n, tail);
    out[1] = quantile_sorted(v, n, 1 - tail);
}

// Percentile interval of the finite values of column j of m (rows, width); returns their count.
static long column_interval(const double *m, long rows, size_t width, size_t j, double level, double *lo, double *hi) {
    double *col = xmalloc((size_t)(rows ? rows : 1) * sizeof(double));
    long n = 0;
    for (long b = 0; b < rows; b++) {
        double v = m[(size_t)b * width + j];
        if (isfinite(v)) col[n++] = v;
    }
    *lo = *hi = NAN;
    if (n > 0) {
        double ci[2];
        fit_percentile_interval(col, (size_t)n, level, ci);
        *lo = ci[0];
        *hi = ci[1];
    }
    free(col);
    return n;
}

// The groups the bootstrap draws, by stratum: runs within cells when a cell holds several runs;
// else, without problems, whole units (rows for chinchilla, models otherwise). Returns the
// count (0: none) and fills group_of, and the stratum of each group (strat_of).
static size_t draw_groups(FitLaw law, const FitData *d, size_t *group_of, size_t **strat_of, const char **what) {
    size_t n = d->n, n_groups = 0;
    *strat_of = NULL;
    if (d->run && d->cell) {
        size_t n_runs = dense_ids(d->run, n, group_of);
        size_t *cell_id = xmalloc((n ? n : 1) * sizeof(size_t));
        size_t n_cells = dense_ids(d->cell, n, cell_id);
        if (n_runs > n_cells) { // some cell holds several runs: draw runs within cells
            *strat_of = xmalloc(n_runs * sizeof(size_t));
            for (size_t i = 0; i < n; i++) (*strat_of)[group_of[i]] = cell_id[i];
            n_groups = n_runs;
            *what = "runs within their (model, budget) cell";
        }
        free(cell_id);
        if (n_groups) return n_groups;
    }
    if (d->n_problems > 0) return 0;
    if (law == FIT_CHINCHILLA) {
        for (size_t i = 0; i < n; i++) group_of[i] = i;
        n_groups = n;
        *what = "rows, each one run";
    } else {
        char **names;
        n_groups = fit_group_models(d, group_of, &names);
        for (size_t j = 0; j < n_groups; j++) free(names[j]);
        free(names);
        *what = "models, each with all its rows";
    }
    *strat_of = xcalloc(n_groups ? n_groups : 1, sizeof(size_t));
    return n_groups;
}

int fit_bootstrap(FitResult *r, const FitData *d, BootSpec *spec, const FitOptions *o) {
    size_t n = d->n, n_est = r->n_params + r->n_alloc;
    if (r->law == FIT_COVERAGE && d->n_problems == 0) {
        err_set("coverage: --bootstrap needs per-problem data (t2 fit --db): the k values of one pass@k curve are "
                "not independent points, and a CSV holds nothing else to resample");
        return -1;
    }
    int draw_problems = d->n_problems > 0 && d->prob_term;
    size_t *group_of = xmalloc((n ? n : 1) * sizeof(size_t)), *strat_of;
    const char *groups = "";
    size_t n_groups = draw_groups(r->law, d, group_of, &strat_of, &groups);
    // Group ids by stratum (counting sort, stable).
    size_t n_strata = 0;
    for (size_t g = 0; g < n_groups; g++) n_strata = MAX(n_strata, strat_of[g] + 1);
    size_t *start = xcalloc(n_strata + 1, sizeof(size_t)), *members = xmalloc((n_groups ? n_groups : 1) * sizeof(size_t));
    for (size_t g = 0; g < n_groups; g++) start[strat_of[g] + 1]++;
    for (size_t s = 0; s < n_strata; s++) start[s + 1] += start[s];
    size_t *fill = xmalloc((n_strata ? n_strata : 1) * sizeof(size_t));
    memcpy(fill, start, n_strata * sizeof(size_t));
    for (size_t g = 0; g < n_groups; g++) members[fill[strat_of[g]]++] = g;
    free(fill);
    free(strat_of);
    snprintf(r->resample, sizeof r->resample, "%s%s%s", draw_problems ? "problems" : "",
             draw_problems && n_groups ? ", jointly with " : "", groups);
    long B = o->bootstrap;
    BootJob job = {d, r->law, spec, draw_problems, n_groups, group_of, n_strata, members, start, B, o->seed, n_est,
                   spec->n_internal, xmalloc((size_t)B * n_est * sizeof(double)),
                   xmalloc((size_t)B * (size_t)(spec->n_internal ? spec->n_internal : 1) * sizeof(double)),
                   xcalloc((size_t)B, sizeof(int)), 0};
    int threads = fit_threads(o);
    if (threads > B) threads = (int)B;
    ThreadPool *pool = pool_create(threads);
    pool_run(pool, boot_worker, &job);
    pool_free(pool);
    free(start);
    free(members);
    free(group_of);
    // Intervals: the finite values of each column (a model whose refit failed is NAN in it).
    for (size_t j = 0; j < n_est; j++) {
        FitParam *p = j < r->n_params ? &r->params[j] : &r->alloc[j - r->n_params];
        p->n_used = column_interval(job.est, B, n_est, j, o->ci_level, &p->lo, &p->hi);
    }
    for (int c = 0; c < spec->n_internal; c++) {
        long used = column_interval(job.internal, B, (size_t)spec->n_internal, (size_t)c, o->ci_level,
                                    &spec->internal_ci[2 * c], &spec->internal_ci[2 * c + 1]);
        if (spec->internal_used) spec->internal_used[c] = used;
    }
    // Keep the resamples whose whole refit converged, in resample order.
    size_t used = 0;
    for (long b = 0; b < B; b++)
        if (job.ok[b]) {
            memmove(job.est + used * n_est, job.est + (size_t)b * n_est, n_est * sizeof(double));
            used++;
        }
    r->n_boot = B;
    r->n_boot_used = (long)used;
    r->boot = job.est;
    free(job.internal);
    free(job.ok);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// JSON. Numbers are written with 17 significant digits, which read back bit-exact (cJSON's own
// printer settles for 15 when they agree to a relative epsilon); a non-finite value is null.
cJSON *fit_json_number(double v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[32];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

static void add_params(cJSON *obj, const FitParam *p, size_t n) {
    for (size_t i = 0; i < n; i++) cJSON_AddItemToObject(obj, p[i].name, fit_json_number(p[i].value));
}

static void add_ci(cJSON *obj, const FitParam *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!p[i].identified) {
            cJSON_AddItemToObject(obj, p[i].name, cJSON_CreateNull());
            continue;
        }
        if (!isfinite(p[i].lo) || !isfinite(p[i].hi)) continue;
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, fit_json_number(p[i].lo));
        cJSON_AddItemToArray(pair, fit_json_number(p[i].hi));
        cJSON_AddItemToObject(obj, p[i].name, pair);
    }
}

static void add_names(cJSON *o, const char *key, const char *csv) {
    cJSON *names = cJSON_AddArrayToObject(o, key);
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", csv);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        cJSON_AddItemToArray(names, cJSON_CreateString(t));
}

cJSON *fit_result_cjson(const FitResult *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "law", fit_law_name(r->law));
    add_params(cJSON_AddObjectToObject(o, "params"), r->params, r->n_params);
    cJSON *ci = cJSON_AddObjectToObject(o, "ci");
    if (r->n_boot > 0) {
        add_ci(ci, r->params, r->n_params);
        add_ci(ci, r->alloc, r->n_alloc);
    }
    cJSON_AddItemToObject(o, "objective", fit_json_number(r->objective));
    cJSON_AddNumberToObject(o, "n_points", (double)r->n_points);
    cJSON_AddBoolToObject(o, "converged", r->converged);
    cJSON *ni = cJSON_AddArrayToObject(o, "not_identified");
    for (size_t i = 0; i < r->n_params; i++)
        if (!r->params[i].identified) cJSON_AddItemToArray(ni, cJSON_CreateString(r->params[i].name));
    if (r->n_not_identified) {
        cJSON *why = cJSON_AddObjectToObject(o, "not_identified_why");
        for (size_t i = 0; i < r->n_params; i++)
            if (!r->params[i].identified) cJSON_AddStringToObject(why, r->params[i].name, r->params[i].why);
    }
    if (r->n_alloc) add_params(cJSON_AddObjectToObject(o, "allocation"), r->alloc, r->n_alloc);
    if (r->law == FIT_T2_ACC) cJSON_AddItemToObject(o, "objective_stage1", fit_json_number(r->objective_stage1));
    if (r->at_bound[0]) add_names(o, "at_bound", r->at_bound);
    if (r->n_kres) {
        cJSON *rows = cJSON_AddArrayToObject(o, "residuals_by_k");
        for (size_t j = 0; j < r->n_kres; j++) {
            cJSON *row = cJSON_CreateObject();
            cJSON_AddItemToObject(row, "k", fit_json_number(r->kres[j].k));
            cJSON_AddNumberToObject(row, "n", (double)r->kres[j].n);
            cJSON_AddItemToObject(row, "mean", fit_json_number(r->kres[j].mean));
            cJSON_AddItemToObject(row, "rms", fit_json_number(r->kres[j].rms));
            cJSON_AddItemToArray(rows, row);
        }
    }
    if (r->n_boot > 0) {
        cJSON *b = cJSON_AddObjectToObject(o, "bootstrap");
        cJSON_AddNumberToObject(b, "resamples", (double)r->n_boot);
        cJSON_AddNumberToObject(b, "used", (double)r->n_boot_used);
        if (r->resample[0]) cJSON_AddStringToObject(b, "resampled", r->resample);
        int differ = 0;
        for (size_t i = 0; i < r->n_params; i++) differ |= r->params[i].n_used != r->n_boot_used;
        if (differ) {
            cJSON *per = cJSON_AddObjectToObject(b, "used_per_param");
            for (size_t i = 0; i < r->n_params; i++)
                cJSON_AddNumberToObject(per, r->params[i].name, (double)r->params[i].n_used);
        }
    }
    return o;
}

char *fit_result_json(const FitResult *r) {
    cJSON *o = fit_result_cjson(r);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) die("out of memory printing JSON");
    char *copy = xstrdup(s); // callers free() it; cJSON may use its own allocator
    cJSON_free(s);
    return copy;
}

static size_t read_params(const cJSON *obj, FitParam **out) {
    size_t n = (size_t)cJSON_GetArraySize(obj), i = 0;
    *out = xcalloc(n ? n : 1, sizeof(FitParam));
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        if (!cJSON_IsNumber(it)) continue;
        set_param(&(*out)[i++], it->string, it->valuedouble);
    }
    return i;
}

int fit_result_from_json(const char *json, FitResult *out) {
    memset(out, 0, sizeof *out);
    cJSON *o = cJSON_Parse(json);
    if (!o) {
        err_set("fit JSON: parse error near '%.20s'", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
        return -1;
    }
    int rc = -1;
    const cJSON *law = cJSON_GetObjectItemCaseSensitive(o, "law");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(o, "params");
    FitLaw lw;
    if (!cJSON_IsString(law) || !cJSON_IsObject(params)) {
        err_set("fit JSON: needs \"law\" (string) and \"params\" (object)");
        goto done;
    }
    if (fit_law_parse(law->valuestring, &lw) != 0) {
        err_prefix("fit JSON");
        goto done;
    }
    fit_result_init(out, lw, 0, 0);
    free(out->params);
    free(out->alloc);
    out->n_params = read_params(params, &out->params);
    const cJSON *alloc = cJSON_GetObjectItemCaseSensitive(o, "allocation");
    if (cJSON_IsObject(alloc)) {
        out->n_alloc = read_params(alloc, &out->alloc);
    } else {
        out->alloc = xcalloc(1, sizeof(FitParam));
        out->n_alloc = 0;
    }
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(o, "ci"), *it;
    cJSON_ArrayForEach(it, ci) {
        FitParam *p = (FitParam *)fit_find(out, it->string);
        if (p && cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2) {
            p->lo = cJSON_GetArrayItem(it, 0)->valuedouble;
            p->hi = cJSON_GetArrayItem(it, 1)->valuedouble;
        }
    }
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(o, "objective");
    const cJSON *obj1 = cJSON_GetObjectItemCaseSensitive(o, "objective_stage1");
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(o, "n_points");
    out->objective = cJSON_IsNumber(obj) ? obj->valuedouble : NAN;
    out->objective_stage1 = cJSON_IsNumber(obj1) ? obj1->valuedouble : NAN;
    out->n_points = cJSON_IsNumber(np) ? (size_t)np->valuedouble : 0;
    out->converged = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "converged"));
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "at_bound")) {
        size_t len = strlen(out->at_bound);
        if (cJSON_IsString(it))
            snprintf(out->at_bound + len, sizeof out->at_bound - len, "%s%s", len ? "," : "", it->valuestring);
    }
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(o, "not_identified_why");
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "not_identified")) {
        FitParam *p = cJSON_IsString(it) ? (FitParam *)fit_find(out, it->valuestring) : NULL;
        if (!p || !p->identified) continue;
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(why, it->valuestring);
        p->identified = 0;
        snprintf(p->why, sizeof p->why, "%s", cJSON_IsString(w) ? w->valuestring : "not identified");
        out->n_not_identified++;
    }
    const cJSON *kres = cJSON_GetObjectItemCaseSensitive(o, "residuals_by_k");
    if (cJSON_IsArray(kres) && cJSON_GetArraySize(kres) > 0) {
        out->kres = xcalloc((size_t)cJSON_GetArraySize(kres), sizeof(FitKResidual));
        cJSON_ArrayForEach(it, kres) {
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "k"), *n = cJSON_GetObjectItemCaseSensitive(it, "n");
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "mean"), *q = cJSON_GetObjectItemCaseSensitive(it, "rms");
            if (!cJSON_IsNumber(k) || !cJSON_IsNumber(n)) continue;
            out->kres[out->n_kres++] = (FitKResidual){k->valuedouble, (size_t)n->valuedouble,
                                                      cJSON_IsNumber(m) ? m->valuedouble : NAN,
                                                      cJSON_IsNumber(q) ? q->valuedouble : NAN};
        }
    }
    const cJSON *boot = cJSON_GetObjectItemCaseSensitive(o, "bootstrap");
    const cJSON *asked = cJSON_GetObjectItemCaseSensitive(boot, "resamples");
    const cJSON *resampled = cJSON_GetObjectItemCaseSensitive(boot, "resampled");
    if (cJSON_IsNumber(asked)) out->n_boot = (long)asked->valuedouble;
    if (cJSON_IsString(resampled)) snprintf(out->resample, sizeof out->resample, "%s", resampled->valuestring);
    for (size_t j = 0; j < out->n_params; j++)
        if (isfinite(out->params[j].lo)) out->params[j].n_used = out->n_boot;
    mark_allocation(out);
    rc = 0;
done:
    cJSON_Delete(o);
    return rc;
}

int fit_result_from_parts(const char *law, const char *params_json, const char *ci_json, FitResult *out) {
    cJSON *name = cJSON_CreateString(law);
    char *quoted = cJSON_PrintUnformatted(name);
    cJSON_Delete(name);
    if (!quoted) die("out of memory printing JSON");
    char *whole = xasprintf("{\"law\": %s, \"params\": %s, \"ci\": %s}", quoted, params_json,
                            ci_json && *ci_json ? ci_json : "{}");
    cJSON_free(quoted);
    int rc = fit_result_from_json(whole, out);
    free(whole);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Table.
static void print_rows(FILE *f, const FitParam *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!p[i].identified) {
            fprintf(f, "  %-16s not identified by these data (%s)\n", p[i].name, p[i].why);
            continue;
        }
        fprintf(f, "  %-16s %14.6g", p[i].name, p[i].value);
        if (isfinite(p[i].lo)) fprintf(f, "   [%.6g, %.6g]", p[i].lo, p[i].hi);
        fprintf(f, "\n");
    }
}

void fit_result_print(FILE *f, const FitResult *r) {
    fprintf(f, "law %s: %zu points, objective %.10g\n", fit_law_name(r->law), r->n_points, r->objective);
    if (r->converged && !(r->cosine <= FIT_ACCEPT))
        fprintf(f, "converged: a perfect fit, residuals at rounding level");
    else
        fprintf(f, "%s: largest gradient cosine %.2g (%s %g)", r->converged ? "converged" : "NOT converged", r->cosine,
                r->converged ? "<=" : ">", FIT_ACCEPT);
    fprintf(f, "; L-BFGS stopped on: %s\n", fit_lbfgs_reason(r->lbfgs_status));
    if (r->at_bound[0]) fprintf(f, "at a bound of the range allowed (the data push past it): %s\n", r->at_bound);
    if (r->law == FIT_T2_ACC) fprintf(f, "stage 1 (loss law on the per-model NLL): SSE %.10g\n", r->objective_stage1);
    if (r->n_boot > 0) {
        if (r->law == FIT_COVERAGE) { // each model refitted on its own: its parameters' counts differ
            long lo = r->n_boot, hi = 0;
            for (size_t j = 0; j < r->n_params; j++) lo = MIN(lo, r->params[j].n_used), hi = MAX(hi, r->params[j].n_used);
            fprintf(f, "bootstrap: %ld resamples of %s; per model, %ld to %ld refits converged (a model with fewer than "
                       "half identifies nothing); 95%% percentile intervals\n",
                    r->n_boot, r->resample[0] ? r->resample : "the data", lo, hi);
        } else {
            fprintf(f, "bootstrap: %ld resamples of %s, %ld refits converged; 95%% percentile intervals\n", r->n_boot,
                    r->resample[0] ? r->resample : "the data", r->n_boot_used);
            if ((double)r->n_boot_used < FIT_BOOT_MIN_USED * (double)r->n_boot)
                fprintf(f, "MOST BOOTSTRAP REFITS FAILED (%ld of %ld): these data do not support the law's intervals\n",
                        r->n_boot - r->n_boot_used, r->n_boot);
        }
    }
    fprintf(f, "  %-16s %14s%s\n", "parameter", "value", r->n_boot > 0 ? "   interval" : "");
    print_rows(f, r->params, r->n_params);
    if (r->n_alloc) {
        fprintf(f, "compute-optimal allocation under C = 6ND: N* = N_opt_coef (C/6)^N_opt_exponent, D* = C/(6 N*)\n");
        print_rows(f, r->alloc, r->n_alloc);
    }
    if (r->n_kres) {
        fprintf(f, "residuals (observed - fitted %s) by k:\n  %8s %5s %12s %12s\n", r->law == FIT_T2_LOSS ? "nll" : "pass@k",
                "k", "rows", "mean", "rms");
        for (size_t j = 0; j < r->n_kres; j++)
            fprintf(f, "  %8g %5zu %12.4g %12.4g\n", r->kres[j].k, r->kres[j].n, r->kres[j].mean, r->kres[j].rms);
    }
}

// ---------------------------------------------------------------------------------------------
// Predictions.
double fit_loss_nd(const FitResult *r, double N, double D) {
    double A = fit_get(r, "A"), B = fit_get(r, "B"), E = fit_get(r, "E");
    double alpha = fit_get(r, "alpha"), beta = fit_get(r, "beta");
    return E + A * pow(N, -alpha) + B * pow(D, -beta);
}

double beta_pass_at_k(double a, double b, double k) {
    // 1 − B(a, b+k)/B(a, b) = 1 − Γ(b+k)Γ(a+b) / (Γ(b)Γ(a+b+k)); expm1 keeps small values exact.
    return -expm1(lgamma_diff(b, k) - lgamma_diff(a + b, k));
}

void t2acc_beta(const double theta[5], double L, double *a, double *b) {
    double mu = theta[2] / (1 + exp(theta[1] * (L - theta[0])));
    double nu = exp(theta[3] + theta[4] * L);
    *a = mu * nu;
    *b = (1 - mu) * nu;
}

double fit_predict(const FitResult *r, double N, double D, double k) {
    switch (r->law) {
    case FIT_CHINCHILLA: return fit_loss_nd(r, N, D);
    case FIT_T2_LOSS: return fit_loss_nd(r, N, D) + fit_get(r, "G") * pow(k, -fit_get(r, "gamma"));
    case FIT_T2_ACC: {
        double theta[5] = {fit_get(r, "theta0"), fit_get(r, "theta1"), fit_get(r, "theta2"), fit_get(r, "theta3"),
                           fit_get(r, "theta4")};
        double a, b;
        t2acc_beta(theta, fit_loss_nd(r, N, D), &a, &b);
        return beta_pass_at_k(a, b, k);
    }
    default: return NAN;
    }
}
