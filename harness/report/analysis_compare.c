// analysis_compare.c — the equal-compute comparison of measured runs (see analysis.h): per training
// budget level and inference budget, the best small-model-plus-sampling run against the
// Chinchilla-style choice (the lowest loss at that budget).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/analysis.h"
#include "util/util.h"

int analysis_c_inf(const Analysis *a, double *c_inf, int max, char *why, size_t why_len) {
    const AnalysisSpec *s = &a->spec.analysis;
    if (s->n_c_inf > 0) {
        int n = MIN(s->n_c_inf, max);
        memcpy(c_inf, s->c_inf, (size_t)n * sizeof(double));
        snprintf(why, why_len, "the spec's analysis.c_inf");
        return n;
    }
    double n_min = INFINITY;
    for (size_t i = 0; i < a->n_runs; i++) n_min = fmin(n_min, a->runs[i].N);
    long k_max = a->n_k ? a->k[a->n_k - 1] : 1;
    for (int j = 0; j < a->n_k; j++) k_max = MAX(k_max, a->k[j]);
    c_inf[0] = 2 * n_min * (double)k_max;
    snprintf(why, why_len, "2 N_min k_max = 2 x %.4g x %ld: the spec lists no analysis.c_inf", n_min, k_max);
    return 1;
}

int analysis_c_train(const Analysis *a, double *c_train, int max) {
    const AnalysisSpec *as = &a->spec.analysis;
    if (as->n_c_train > 0) {
        int n = MIN(as->n_c_train, max);
        memcpy(c_train, as->c_train, (size_t)n * sizeof(double));
        return n;
    }
    if (a->spec.budgets.kind == BUDGET_FLOPS) {
        int n = MIN(a->spec.budgets.n, max);
        memcpy(c_train, a->spec.budgets.values, (size_t)n * sizeof(double));
        return n;
    }
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < a->n_runs; i++) {
        lo = fmin(lo, a->runs[i].train_flops_6nd);
        hi = fmax(hi, a->runs[i].train_flops_6nd);
    }
    c_train[0] = lo;
    if (hi > lo && max > 1) c_train[1] = hi;
    return hi > lo && max > 1 ? 2 : 1;
}

// The samples run R can draw per query under C_inf.
static long affordable_k(const AnRun *r, double c_inf, int *capped) {
    double k = floor(c_inf / (2 * r->N) * (1 + 1e-12)); // 2Nk = C_inf exactly still affords k
    *capped = k > (double)r->n_samples;
    return *capped ? r->n_samples : (long)k;
}

static int pick(Db *db, const AnRun *r, long k, int capped, AnPick *p) {
    p->run_id = r->run_id;
    p->k = k;
    p->capped = capped;
    return analysis_sampled_at(db, r, k, &p->pass, &p->maj);
}

static void no_pick(AnPick *p) {
    memset(p, 0, sizeof *p);
    p->run_id = -1;
    p->pass = p->maj = NAN;
}

// One budget level: every evaluated run of it, scored at its affordable k.
static int compare_level(Db *db, const Analysis *a, int b, double c_inf, AnCompare *c) {
    memset(c, 0, sizeof *c);
    c->budget_idx = b;
    c->c_train = a->spec.budgets.values[b];
    c->c_inf = c_inf;
    no_pick(&c->t2);
    no_pick(&c->chinchilla);
    no_pick(&c->chinchilla_1);
    const AnRun *lowest = NULL;
    for (size_t i = 0; i < a->n_runs; i++) {
        const AnRun *r = &a->runs[i];
        if (r->budget_idx != b || r->eval_id < 0) continue;
        c->n_runs++;
        if (!lowest || r->loss < lowest->loss) lowest = r;
        int capped;
        long k = affordable_k(r, c_inf, &capped);
        if (k < 1) continue;
        AnPick p;
        if (pick(db, r, k, capped, &p) != 0) return -1;
        if (c->t2.run_id < 0 || p.pass > c->t2.pass) c->t2 = p;
    }
    if (!lowest) return 0;
    int capped;
    long k = affordable_k(lowest, c_inf, &capped);
    if (k >= 1 && pick(db, lowest, k, capped, &c->chinchilla) != 0) return -1;
    return pick(db, lowest, 1, 0, &c->chinchilla_1);
}

int analysis_compare(Db *db, const Analysis *a, double c_inf, AnCompare **out, size_t *n) {
    *out = NULL;
    *n = 0;
    const BudgetSpec *bs = &a->spec.budgets;
    if (bs->kind != BUDGET_FLOPS) {
        err_set("%s: an equal-compute comparison needs FLOP budgets (budgets.train_flops); the runs of this sweep's "
                "budgets do not share a training cost",
                a->path);
        return -1;
    }
    AnCompare *c = xcalloc((size_t)bs->n, sizeof(AnCompare));
    size_t m = 0;
    for (int b = 0; b < bs->n; b++) {
        if (compare_level(db, a, b, c_inf, &c[m]) != 0) {
            free(c);
            return -1;
        }
        if (c[m].n_runs > 0) m++;
    }
    if (m == 0) {
        free(c);
        err_set("%s: no done run has a reference eval (temperature %g): nothing to compare", a->path, a->key.temperature);
        return -1;
    }
    *out = c;
    *n = m;
    return 0;
}
