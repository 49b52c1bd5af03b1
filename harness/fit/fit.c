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

void fit_data_free(FitData *d) {
    if (!d) return;
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

// ---------------------------------------------------------------------------------------------
// Results.
void fit_result_init(FitResult *r, FitLaw law, size_t n_params, size_t n_alloc) {
    memset(r, 0, sizeof *r);
    r->law = law;
    r->n_params = n_params;
    r->params = xcalloc(n_params ? n_params : 1, sizeof(FitParam));
    r->n_alloc = n_alloc;
    r->alloc = xcalloc(n_alloc ? n_alloc : 1, sizeof(FitParam));
    for (size_t i = 0; i < n_params; i++) r->params[i].value = r->params[i].lo = r->params[i].hi = NAN;
    for (size_t i = 0; i < n_alloc; i++) r->alloc[i].value = r->alloc[i].lo = r->alloc[i].hi = NAN;
    r->objective = r->objective_stage1 = r->cosine = NAN;
}

static void set_param(FitParam *p, const char *name, double value) {
    snprintf(p->name, sizeof p->name, "%s", name);
    p->value = value;
    p->lo = p->hi = NAN;
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

void fit_result_free(FitResult *r) {
    if (!r) return;
    free(r->params);
    free(r->alloc);
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

int fit_run(FitLaw law, const FitData *d, const FitOptions *o, FitResult *out) {
    FitOptions def;
    if (!o) {
        fit_options_default(&def);
        o = &def;
    }
    switch (law) {
    case FIT_CHINCHILLA: return fit_chinchilla(d, o, out);
    case FIT_T2_LOSS: return fit_t2_loss(d, o, out);
    case FIT_T2_ACC: return fit_t2_acc(d, o, out);
    case FIT_COVERAGE: return fit_coverage(d, o, out);
    default:
        fit_result_init(out, law, 0, 0);
        err_set("unknown law %d", (int)law);
        return -1;
    }
}

// ---------------------------------------------------------------------------------------------
// Bootstrap.
typedef struct {
    RefitFn refit;
    const void *ctx;
    size_t n_units;
    size_t n_strata;
    const size_t *members; // (n_units,) unit ids grouped by stratum
    const size_t *start;   // (n_strata + 1,) stratum s holds members[start[s] .. start[s+1])
    long n_boot;
    uint64_t seed;
    size_t n_est;
    double *est; // (n_boot, n_est)
    int *ok;     // (n_boot,)
    atomic_long next; // the next resample to hand out
} BootJob;

static void boot_worker(void *arg, int tid, int n_threads) {
    (void)tid;
    (void)n_threads;
    BootJob *job = arg;
    double *w = xmalloc(job->n_units * sizeof(double)); // (n_units,) multiplicities
    for (long b; (b = atomic_fetch_add(&job->next, 1)) < job->n_boot;) {
        // Each resample has its own stream: the draws do not depend on the thread split.
        Rng rng;
        rng_seed(&rng, seed_derive(job->seed, 0xB007, (uint64_t)b, 0));
        memset(w, 0, job->n_units * sizeof(double));
        for (size_t s = 0; s < job->n_strata; s++) {
            size_t lo = job->start[s], size = job->start[s + 1] - lo;
            for (size_t i = 0; i < size; i++) w[job->members[lo + rng_below(&rng, size)]] += 1;
        }
        double *est = job->est + (size_t)b * job->n_est;
        job->ok[b] = job->refit(job->ctx, w, est);
        for (size_t j = 0; j < job->n_est; j++)
            if (!isfinite(est[j])) job->ok[b] = 0;
    }
    free(w);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Percentile with linear interpolation between order statistics (numpy's default).
static double percentile_sorted(const double *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i + 1 >= n) return v[n - 1];
    double t = pos - (double)i;
    return v[i] + t * (v[i + 1] - v[i]);
}

void fit_bootstrap(FitResult *r, size_t n_units, const size_t *stratum_of, RefitFn refit, const void *ctx,
                   const FitOptions *o) {
    size_t n_est = r->n_params + r->n_alloc;
    // Group the units by stratum (counting sort, stable).
    size_t n_strata = 1;
    for (size_t i = 0; stratum_of && i < n_units; i++) n_strata = MAX(n_strata, stratum_of[i] + 1);
    size_t *start = xcalloc(n_strata + 1, sizeof(size_t)), *members = xmalloc((n_units ? n_units : 1) * sizeof(size_t));
    for (size_t i = 0; i < n_units; i++) start[(stratum_of ? stratum_of[i] : 0) + 1]++;
    for (size_t s = 0; s < n_strata; s++) start[s + 1] += start[s];
    size_t *fill = xmalloc(n_strata * sizeof(size_t));
    memcpy(fill, start, n_strata * sizeof(size_t));
    for (size_t i = 0; i < n_units; i++) members[fill[stratum_of ? stratum_of[i] : 0]++] = i;
    free(fill);
    BootJob job = {refit, ctx, n_units, n_strata, members, start, o->bootstrap, o->seed, n_est,
                   xmalloc((size_t)o->bootstrap * n_est * sizeof(double)), xcalloc((size_t)o->bootstrap, sizeof(int)), 0};
    int threads = fit_threads(o);
    if (threads > o->bootstrap) threads = (int)o->bootstrap;
    ThreadPool *pool = pool_create(threads);
    pool_run(pool, boot_worker, &job);
    pool_free(pool);
    free(start);
    free(members);
    // Keep the converged resamples, in resample order.
    size_t used = 0;
    for (long b = 0; b < o->bootstrap; b++)
        if (job.ok[b]) {
            memmove(job.est + used * n_est, job.est + (size_t)b * n_est, n_est * sizeof(double));
            used++;
        }
    r->n_boot = o->bootstrap;
    r->n_boot_used = (long)used;
    r->boot = job.est;
    free(job.ok);
    if (used == 0) return;
    double tail = (1 - o->ci_level) / 2;
    double *col = xmalloc(used * sizeof(double));
    for (size_t j = 0; j < n_est; j++) {
        for (size_t b = 0; b < used; b++) col[b] = job.est[b * n_est + j];
        qsort(col, used, sizeof(double), cmp_double);
        FitParam *p = j < r->n_params ? &r->params[j] : &r->alloc[j - r->n_params];
        p->lo = percentile_sorted(col, used, tail);
        p->hi = percentile_sorted(col, used, 1 - tail);
    }
    free(col);
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
        if (!isfinite(p[i].lo) || !isfinite(p[i].hi)) continue;
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, fit_json_number(p[i].lo));
        cJSON_AddItemToArray(pair, fit_json_number(p[i].hi));
        cJSON_AddItemToObject(obj, p[i].name, pair);
    }
}

cJSON *fit_result_cjson(const FitResult *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "law", fit_law_name(r->law));
    add_params(cJSON_AddObjectToObject(o, "params"), r->params, r->n_params);
    cJSON *ci = cJSON_AddObjectToObject(o, "ci");
    add_ci(ci, r->params, r->n_params);
    add_ci(ci, r->alloc, r->n_alloc);
    cJSON_AddItemToObject(o, "objective", fit_json_number(r->objective));
    cJSON_AddNumberToObject(o, "n_points", (double)r->n_points);
    cJSON_AddBoolToObject(o, "converged", r->converged);
    if (r->n_alloc) add_params(cJSON_AddObjectToObject(o, "allocation"), r->alloc, r->n_alloc);
    if (r->law == FIT_T2_ACC) cJSON_AddItemToObject(o, "objective_stage1", fit_json_number(r->objective_stage1));
    if (r->at_bound[0]) {
        cJSON *names = cJSON_AddArrayToObject(o, "at_bound");
        char buf[sizeof r->at_bound], *save = NULL;
        snprintf(buf, sizeof buf, "%s", r->at_bound);
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            cJSON_AddItemToArray(names, cJSON_CreateString(t));
    }
    if (r->n_boot > 0) {
        cJSON *b = cJSON_AddObjectToObject(o, "bootstrap");
        cJSON_AddNumberToObject(b, "resamples", (double)r->n_boot);
        cJSON_AddNumberToObject(b, "used", (double)r->n_boot_used);
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
    if (r->at_bound[0]) fprintf(f, "at the bound 0 (the data favour no such term): %s\n", r->at_bound);
    if (r->law == FIT_T2_ACC) fprintf(f, "stage 1 (loss law on the per-model NLL): SSE %.10g\n", r->objective_stage1);
    if (r->n_boot > 0)
        fprintf(f, "bootstrap: %ld resamples, %ld converged; percentile intervals\n", r->n_boot, r->n_boot_used);
    fprintf(f, "  %-16s %14s%s\n", "parameter", "value", r->n_boot_used > 0 ? "   interval" : "");
    print_rows(f, r->params, r->n_params);
    if (r->n_alloc) {
        fprintf(f, "compute-optimal allocation under C = 6ND: N* = N_opt_coef (C/6)^N_opt_exponent, D* = C/(6 N*)\n");
        print_rows(f, r->alloc, r->n_alloc);
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
