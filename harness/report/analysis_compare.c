// analysis_compare.c — the equal-compute comparison of measured runs (see analysis.h): per training
// budget level, inference budget and seed, the best small-model-plus-sampling run against the
// Chinchilla-style choice (the lowest loss at that budget), scored on the same problems, with a
// paired bootstrap interval over problems (and seeds, pooled).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/analysis.h"
#include "sweep/estimators.h"
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

void analysis_compare_defaults(AnCompareOptions *o) {
    o->bootstrap = 2000;
    o->seed = 0;
}

// ---------------------------------------------------------------------------------------------
// Per-problem scores.

int analysis_problem_scores(Db *db, const Analysis *a, const AnRun *r, long k, double *pass, double *maj) {
    size_t P = a->n_problems;
    for (size_t p = 0; p < P; p++) pass[p] = maj[p] = NAN;
    if (r->eval_id < 0 || k < 1 || k > r->n_samples) {
        err_set("%s: run %d: no samples for k = %ld", db_path(db), r->run_id, k);
        return -1;
    }
    DbAnswerGroup *g;
    size_t n;
    if (db_answer_groups(db, r->eval_id, &g, &n) != 0) return -1;
    long S = r->n_samples;
    long *counts = xmalloc((size_t)S * sizeof(long));
    unsigned char *correct = xmalloc((size_t)S);
    for (size_t i = 0; i < n;) {
        long pid = g[i].problem_id, total = 0, c = 0, missing = 0;
        int m = 0;
        for (; i < n && g[i].problem_id == pid; i++) {
            total += g[i].count;
            if (!g[i].answer) {
                missing += g[i].count;
                continue;
            }
            if (m < S) {
                counts[m] = g[i].count;
                correct[m] = (unsigned char)(g[i].correct != 0);
                m++;
            }
            c += g[i].correct ? g[i].count : 0;
        }
        if (pid < 0 || (size_t)pid >= P || total != S) continue; // a problem with another sample count
        pass[pid] = pass_at_k(S, c, k);
        maj[pid] = maj_at_k(S, k, counts, correct, m, missing);
    }
    free(counts);
    free(correct);
    db_answer_groups_free(g, n);
    return 0;
}

// Mean of the finite values of v (n,); NAN when there are none.
static double finite_mean(const double *v, size_t n) {
    double s = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) s += v[i], m++;
    return m ? s / (double)m : NAN;
}

// ---------------------------------------------------------------------------------------------
// Paired bootstrap.

// The mean of d (S, P) over its finite cells and a 95% percentile interval over B resamples that
// draw the P problems with replacement and, when draw_seeds, S − 1 of the S seeds too (jointly).
static double paired(const double *d, int S, size_t P, int draw_seeds, long B, uint64_t seed, double ci[2]) {
    double sum = 0;
    size_t m = 0;
    for (size_t i = 0; i < (size_t)S * P; i++)
        if (isfinite(d[i])) sum += d[i], m++;
    ci[0] = ci[1] = NAN;
    if (m == 0) return NAN;
    double *wp = xmalloc(P * sizeof(double)), *ws = xmalloc((size_t)S * sizeof(double)), *est = xmalloc((size_t)B * sizeof(double));
    long used = 0;
    for (long b = 0; b < B; b++) {
        Rng rng;
        rng_seed(&rng, seed_derive(seed, 0xC0AE, (uint64_t)b, 0));
        memset(wp, 0, P * sizeof(double));
        for (size_t i = 0; i < P; i++) wp[rng_below(&rng, P)] += 1;
        // Seeds: Rao and Wu's rescaled bootstrap, S − 1 draws (S draws of so few would shrink the
        // spread between seeds by (S − 1) / S).
        for (int s = 0; s < S; s++) ws[s] = draw_seeds ? 0 : 1;
        for (int s = 0; draw_seeds && s + 1 < S; s++) ws[rng_below(&rng, (uint64_t)S)] += 1;
        double num = 0, den = 0;
        for (int s = 0; s < S; s++)
            for (size_t p = 0; ws[s] > 0 && p < P; p++) {
                double v = d[(size_t)s * P + p];
                if (wp[p] > 0 && isfinite(v)) num += ws[s] * wp[p] * v, den += ws[s] * wp[p];
            }
        if (den > 0) est[used++] = num / den;
    }
    if (used > 0) fit_percentile_interval(est, (size_t)used, 0.95, ci);
    free(wp);
    free(ws);
    free(est);
    return sum / (double)m;
}

double analysis_mean_ci(const double *v, size_t n, long B, uint64_t seed, double ci[2]) {
    return paired(v, 1, n, 0, B, seed, ci);
}

double analysis_pass_ci(const Analysis *a, const AnRun *r, long k, long B, uint64_t seed, double ci[2]) {
    size_t P = a->n_problems;
    double *v = xmalloc((P ? P : 1) * sizeof(double));
    for (size_t p = 0; p < P; p++)
        v[p] = r->n_correct && r->n_correct[p] >= 0 && k <= r->n_samples ? pass_at_k(r->n_samples, r->n_correct[p], k) : NAN;
    double m = paired(v, 1, P, 0, B, seed, ci);
    free(v);
    return m;
}

// ---------------------------------------------------------------------------------------------
// Picks.

// The samples run R can draw per query under C_inf.
static long affordable_k(const AnRun *r, double c_inf, int *capped) {
    double k = floor(c_inf / (2 * r->N) * (1 + 1e-12)); // 2Nk = C_inf exactly still affords k
    *capped = k > (double)r->n_samples;
    return *capped ? r->n_samples : (long)k;
}

// Mean sampled pass@k of R from its per-problem correct counts (what the T² pick maximises).
static double pass_from_counts(const Analysis *a, const AnRun *r, long k) {
    double s = 0;
    size_t m = 0;
    for (size_t p = 0; r->n_correct && p < a->n_problems; p++)
        if (r->n_correct[p] >= 0) s += pass_at_k(r->n_samples, r->n_correct[p], k), m++;
    return m ? s / (double)m : NAN;
}

static void no_pick(AnPick *p) {
    memset(p, 0, sizeof *p);
    p->run_id = p->family_idx = -1;
    p->pass = p->maj = p->n_params = p->pass_ci[0] = p->pass_ci[1] = NAN;
}

static void set_pick(AnPick *p, const AnRun *r, long k, int capped) {
    p->run_id = r->run_id;
    p->family_idx = r->family_idx;
    p->run_ids[p->n_runs++] = r->run_id;
    p->n_params = r->N;
    p->k = k;
    p->capped = capped;
}

static void entry_init(AnCompare *c, const Analysis *a, int b, double c_inf, int seed_idx) {
    memset(c, 0, sizeof *c);
    c->budget_idx = b;
    c->c_train = a->spec.budgets.values[b];
    c->c_inf = c_inf;
    c->seed_idx = seed_idx;
    c->seed = seed_idx >= 0 ? a->spec.train.seeds[seed_idx] : -1;
    no_pick(&c->t2);
    no_pick(&c->chinchilla);
    no_pick(&c->chinchilla_1);
    c->diff = c->maj_diff = NAN;
    c->ci95[0] = c->ci95[1] = c->maj_ci95[0] = c->maj_ci95[1] = NAN;
}

// Scores of the picks at the seeds behind them: per seed s and problem p, rows of (S, P).
typedef struct {
    double *t2_pass, *t2_maj, *ch_pass, *ch_maj, *ch1_pass, *ch1_maj; // (S, P) each
} Scores;

static void scores_alloc(Scores *sc, int S, size_t P) {
    double **cols[] = {&sc->t2_pass, &sc->t2_maj, &sc->ch_pass, &sc->ch_maj, &sc->ch1_pass, &sc->ch1_maj};
    for (size_t c = 0; c < ARRAY_LEN(cols); c++) *cols[c] = xmalloc(((size_t)S * P + 1) * sizeof(double));
}

static void scores_free(Scores *sc) {
    free(sc->t2_pass);
    free(sc->t2_maj);
    free(sc->ch_pass);
    free(sc->ch_maj);
    free(sc->ch1_pass);
    free(sc->ch1_maj);
}

// Per-problem scores of the picks at seed row s: T² pick T, Chinchilla pick H (both at their k).
static int score_row(Db *db, const Analysis *a, const AnRun *t, long kt, const AnRun *h, long kh, Scores *sc, int s) {
    size_t P = a->n_problems, o = (size_t)s * P;
    if (analysis_problem_scores(db, a, t, kt, sc->t2_pass + o, sc->t2_maj + o) != 0) return -1;
    if (h == t && kh == kt) {
        memcpy(sc->ch_pass + o, sc->t2_pass + o, P * sizeof(double));
        memcpy(sc->ch_maj + o, sc->t2_maj + o, P * sizeof(double));
    } else if (analysis_problem_scores(db, a, h, kh, sc->ch_pass + o, sc->ch_maj + o) != 0) {
        return -1;
    }
    return analysis_problem_scores(db, a, h, 1, sc->ch1_pass + o, sc->ch1_maj + o);
}

// Means, differences and intervals of an entry from its scores (S seed rows).
static void finish_entry(AnCompare *c, const Analysis *a, Scores *sc, int S, const AnCompareOptions *o) {
    size_t P = a->n_problems, cells = (size_t)S * P;
    c->t2.pass = finite_mean(sc->t2_pass, cells);
    c->t2.maj = finite_mean(sc->t2_maj, cells);
    c->chinchilla.pass = finite_mean(sc->ch_pass, cells);
    c->chinchilla.maj = finite_mean(sc->ch_maj, cells);
    c->chinchilla_1.pass = finite_mean(sc->ch1_pass, cells);
    c->chinchilla_1.maj = finite_mean(sc->ch1_maj, cells);
    double *d = xmalloc((cells + 1) * sizeof(double)), *dm = xmalloc((cells + 1) * sizeof(double));
    long n_prob = 0;
    for (size_t i = 0; i < cells; i++) {
        d[i] = sc->t2_pass[i] - sc->ch_pass[i]; // NAN where either lacks the problem
        dm[i] = sc->t2_maj[i] - sc->ch_maj[i];
    }
    for (size_t p = 0; p < P; p++) {
        int any = 0;
        for (int s = 0; s < S; s++) any |= isfinite(d[(size_t)s * P + p]);
        n_prob += any;
    }
    c->n_problems = n_prob;
    uint64_t seed = seed_derive(o->seed, (uint64_t)c->budget_idx, (uint64_t)(c->seed_idx + 1),
                                fnv1a64(&c->c_inf, sizeof c->c_inf));
    c->n_resamples = o->bootstrap;
    c->diff = paired(d, S, P, S > 1, o->bootstrap, seed, c->ci95);
    c->maj_diff = paired(dm, S, P, S > 1, o->bootstrap, seed, c->maj_ci95);
    paired(sc->t2_pass, S, P, S > 1, o->bootstrap, seed, c->t2.pass_ci);
    paired(sc->ch_pass, S, P, S > 1, o->bootstrap, seed, c->chinchilla.pass_ci);
    paired(sc->ch1_pass, S, P, S > 1, o->bootstrap, seed, c->chinchilla_1.pass_ci);
    c->significant = c->ci95[0] > 0 || c->ci95[1] < 0;
    c->maj_significant = c->maj_ci95[0] > 0 || c->maj_ci95[1] < 0;
    free(d);
    free(dm);
}

static int n_distinct_models(const AnRun *const *runs, int n) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < i && runs[j]->family_idx != runs[i]->family_idx) j++;
        m += j == i;
    }
    return m;
}

// One (level, seed): runs (n,) are the level's evaluated runs of that seed.
static int compare_seed(Db *db, const Analysis *a, const AnRun *const *runs, int n, const AnCompareOptions *o,
                        AnCompare *c) {
    c->n_runs = n;
    c->n_models = n_distinct_models(runs, n);
    if (n == 0) {
        snprintf(c->note, sizeof c->note, "no run of this budget has a reference eval");
        return 0;
    }
    const AnRun *best = NULL, *lowest = NULL;
    long best_k = 0;
    int best_capped = 0;
    double best_pass = -1;
    for (int i = 0; i < n; i++) {
        const AnRun *r = runs[i];
        if (!lowest || r->loss < lowest->loss) lowest = r;
        int capped;
        long k = affordable_k(r, c->c_inf, &capped);
        if (k < 1) continue;
        double pass = pass_from_counts(a, r, k);
        if (!best || pass > best_pass) best = r, best_k = k, best_capped = capped, best_pass = pass;
    }
    set_pick(&c->chinchilla_1, lowest, 1, 0);
    if (!best) {
        snprintf(c->note, sizeof c->note, "no run of this budget affords one sample (2N > C_inf for every model)");
        return 0;
    }
    int capped;
    long k = affordable_k(lowest, c->c_inf, &capped);
    set_pick(&c->t2, best, best_k, best_capped);
    if (k < 1) {
        snprintf(c->note, sizeof c->note, "the lowest-loss run %d cannot afford one sample (2N > C_inf)", lowest->run_id);
        return 0;
    }
    set_pick(&c->chinchilla, lowest, k, capped);
    if (c->n_models < 2)
        snprintf(c->note, sizeof c->note, "a single model at this budget: both picks are the same run");
    else if (best == lowest)
        snprintf(c->note, sizeof c->note, "the same run: at this budget sampling does not favour another model");
    Scores sc;
    scores_alloc(&sc, 1, a->n_problems);
    int rc = score_row(db, a, best, best_k, lowest, k, &sc, 0);
    if (rc == 0) finish_entry(c, a, &sc, 1, o);
    scores_free(&sc);
    return rc;
}

// The pooled entry of a level: models with an evaluated run at every seed of the level, picked
// by their means over seeds.
static int compare_pooled(Db *db, const Analysis *a, const AnRun *const *runs, int n, const int *seeds, int S,
                          const AnCompareOptions *o, AnCompare *c) {
    int F = a->spec.n_family;
    const AnRun **grid = xcalloc((size_t)(F * S), sizeof *grid); // (F, S) the run of model f at seed s
    for (int i = 0; i < n; i++)
        for (int s = 0; s < S; s++)
            if (runs[i]->seed_idx == seeds[s]) grid[runs[i]->family_idx * S + s] = runs[i];
    c->n_runs = n;
    int best = -1, lowest = -1, models = 0;
    long best_k = 0;
    int best_capped = 0;
    double best_pass = -1, low_loss = INFINITY;
    for (int f = 0; f < F; f++) {
        int complete = 1;
        double loss = 0, pass = 0;
        for (int s = 0; s < S; s++) complete &= grid[f * S + s] != NULL;
        if (!complete) continue;
        models++;
        int capped;
        long k = affordable_k(grid[f * S], c->c_inf, &capped);
        for (int s = 0; s < S; s++) {
            loss += grid[f * S + s]->loss / S;
            if (k >= 1) pass += pass_from_counts(a, grid[f * S + s], k) / S;
        }
        if (loss < low_loss) low_loss = loss, lowest = f;
        if (k >= 1 && (best < 0 || pass > best_pass)) best = f, best_k = k, best_capped = capped, best_pass = pass;
    }
    c->n_models = models;
    int rc = 0;
    if (models == 0) {
        snprintf(c->note, sizeof c->note, "no model has an evaluated run at every seed of this budget");
    } else {
        for (int s = 0; s < S; s++) set_pick(&c->chinchilla_1, grid[lowest * S + s], 1, 0);
        int capped;
        long k = affordable_k(grid[lowest * S], c->c_inf, &capped);
        if (best < 0) {
            snprintf(c->note, sizeof c->note, "no run of this budget affords one sample (2N > C_inf for every model)");
        } else if (k < 1) {
            for (int s = 0; s < S; s++) set_pick(&c->t2, grid[best * S + s], best_k, best_capped);
            snprintf(c->note, sizeof c->note, "the lowest-loss model cannot afford one sample (2N > C_inf)");
        } else {
            if (models < 2) snprintf(c->note, sizeof c->note, "a single model at this budget: both picks are the same");
            else if (best == lowest)
                snprintf(c->note, sizeof c->note, "the same model: at this budget sampling does not favour another model");
            Scores sc;
            scores_alloc(&sc, S, a->n_problems);
            for (int s = 0; s < S && rc == 0; s++) {
                set_pick(&c->t2, grid[best * S + s], best_k, best_capped);
                set_pick(&c->chinchilla, grid[lowest * S + s], k, capped);
                rc = score_row(db, a, grid[best * S + s], best_k, grid[lowest * S + s], k, &sc, s);
            }
            if (rc == 0) finish_entry(c, a, &sc, S, o);
            scores_free(&sc);
        }
    }
    free(grid);
    return rc;
}

// Every entry of level b: one per seed, then the pooled one when more than one seed has runs.
static int compare_level(Db *db, const Analysis *a, int b, double c_inf, const AnCompareOptions *o, AnCompare *out,
                         size_t *n_out) {
    const Spec *sp = &a->spec;
    const AnRun **runs = xmalloc((a->n_runs + 1) * sizeof *runs), **mine = xmalloc((a->n_runs + 1) * sizeof *mine);
    int n = 0, seeds[AN_MAX_SEEDS], S = 0, rc = 0;
    for (size_t i = 0; i < a->n_runs; i++)
        if (a->runs[i].budget_idx == b && a->runs[i].eval_id >= 0) runs[n++] = &a->runs[i];
    size_t m = 0;
    for (int s = 0; s < sp->train.n_seeds && s < AN_MAX_SEEDS && rc == 0; s++) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (runs[i]->seed_idx == s) mine[k++] = runs[i];
        if (k > 0) seeds[S++] = s;
        AnCompare *c = &out[m++];
        entry_init(c, a, b, c_inf, s);
        c->summary = sp->train.n_seeds == 1;
        rc = compare_seed(db, a, mine, k, o, c);
    }
    if (rc == 0 && S > 1) {
        AnCompare *c = &out[m++];
        entry_init(c, a, b, c_inf, -1);
        c->summary = 1;
        rc = compare_pooled(db, a, runs, n, seeds, S, o, c);
    } else if (rc == 0 && sp->train.n_seeds > 1) {
        out[S ? seeds[0] : 0].summary = 1; // one seed (or none) with runs: it stands for the level
    }
    free(runs);
    free(mine);
    *n_out = m;
    return rc;
}

int analysis_compare(Db *db, const Analysis *a, double c_inf, const AnCompareOptions *o, AnCompare **out, size_t *n) {
    *out = NULL;
    *n = 0;
    AnCompareOptions def;
    if (!o) {
        analysis_compare_defaults(&def);
        o = &def;
    }
    const BudgetSpec *bs = &a->spec.budgets;
    if (bs->kind != BUDGET_FLOPS) {
        err_set("%s: an equal-compute comparison needs FLOP budgets (budgets.train_flops); the runs of this sweep's "
                "budgets do not share a training cost",
                a->path);
        return -1;
    }
    if (o->bootstrap < AN_COMPARE_MIN_BOOT) {
        err_set("--bootstrap: the paired interval needs at least %d resamples, got %ld", AN_COMPARE_MIN_BOOT, o->bootstrap);
        return -1;
    }
    int evaluated = 0;
    for (size_t i = 0; i < a->n_runs; i++) evaluated |= a->runs[i].eval_id >= 0;
    if (!evaluated) {
        err_set("%s: no done run has a reference eval (temperature %g): nothing to compare", a->path, a->key.temperature);
        return -1;
    }
    int per_level = MIN(a->spec.train.n_seeds, AN_MAX_SEEDS) + 1;
    AnCompare *c = xcalloc((size_t)(bs->n * per_level), sizeof(AnCompare));
    size_t m = 0;
    for (int b = 0; b < bs->n; b++) {
        size_t got;
        if (compare_level(db, a, b, c_inf, o, c + m, &got) != 0) {
            free(c);
            return -1;
        }
        m += got;
    }
    *out = c;
    *n = m;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// JSON.

static void add_ci(cJSON *o, const char *key, const double *ci);

static cJSON *pick_cjson(const AnPick *p) {
    cJSON *o = cJSON_CreateObject();
    if (p->n_runs > 1) {
        cJSON_AddNullToObject(o, "run_id");
        cJSON *ids = cJSON_AddArrayToObject(o, "run_ids");
        for (int i = 0; i < p->n_runs; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(p->run_ids[i]));
    } else if (p->run_id >= 0) {
        cJSON_AddNumberToObject(o, "run_id", p->run_id);
    } else {
        cJSON_AddNullToObject(o, "run_id");
    }
    cJSON_AddItemToObject(o, "n_params", fit_json_number(p->n_params));
    if (p->run_id >= 0) cJSON_AddNumberToObject(o, "k", (double)p->k);
    else cJSON_AddNullToObject(o, "k");
    cJSON_AddBoolToObject(o, "capped", p->capped);
    cJSON_AddItemToObject(o, "pass", fit_json_number(p->pass));
    add_ci(o, "pass_ci95", p->pass_ci);
    cJSON_AddItemToObject(o, "maj", fit_json_number(p->maj));
    return o;
}

static void add_ci(cJSON *o, const char *key, const double *ci) {
    if (!isfinite(ci[0]) || !isfinite(ci[1])) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    cJSON *pair = cJSON_AddArrayToObject(o, key);
    cJSON_AddItemToArray(pair, fit_json_number(ci[0]));
    cJSON_AddItemToArray(pair, fit_json_number(ci[1]));
}

cJSON *analysis_compare_cjson(const AnCompare *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "c_train", fit_json_number(c->c_train));
    cJSON_AddItemToObject(o, "c_inf", fit_json_number(c->c_inf));
    if (c->seed_idx >= 0) cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    else cJSON_AddStringToObject(o, "seed", "pooled");
    cJSON_AddItemToObject(o, "t2", pick_cjson(&c->t2));
    cJSON_AddItemToObject(o, "chinchilla", pick_cjson(&c->chinchilla));
    cJSON_AddItemToObject(o, "chinchilla_k1", pick_cjson(&c->chinchilla_1));
    cJSON_AddItemToObject(o, "diff", fit_json_number(c->diff));
    add_ci(o, "ci95", c->ci95);
    cJSON_AddBoolToObject(o, "significant", c->significant);
    cJSON_AddItemToObject(o, "maj_diff", fit_json_number(c->maj_diff));
    add_ci(o, "maj_ci95", c->maj_ci95);
    cJSON_AddBoolToObject(o, "maj_significant", c->maj_significant);
    cJSON_AddNumberToObject(o, "n_problems", (double)c->n_problems);
    cJSON_AddNumberToObject(o, "resamples", (double)c->n_resamples);
    cJSON_AddNumberToObject(o, "n_runs", c->n_runs);
    cJSON_AddNumberToObject(o, "n_models", c->n_models);
    cJSON_AddBoolToObject(o, "summary", c->summary);
    if (c->note[0]) cJSON_AddStringToObject(o, "note", c->note);
    return o;
}
