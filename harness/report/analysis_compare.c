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

// The answer groups of a run's reference eval, read from the samples table once per comparison:
// every entry (each seed, the pooled one, the k = 1 reference) scores from the same rows.
typedef struct {
    Db *db;
    const Analysis *a;
    DbAnswerGroup **g; // (n_runs,) NULL until read
    size_t *n;         // (n_runs,)
} Answers;

static void answers_init(Answers *s, Db *db, const Analysis *a) {
    s->db = db;
    s->a = a;
    s->g = xcalloc(a->n_runs + 1, sizeof *s->g);
    s->n = xcalloc(a->n_runs + 1, sizeof *s->n);
}

static void answers_free(Answers *s) {
    for (size_t i = 0; i < s->a->n_runs; i++)
        if (s->g[i]) db_answer_groups_free(s->g[i], s->n[i]);
    free(s->g);
    free(s->n);
}

// Per-problem pass@k and maj@k of R from its answer groups G (n,), sorted by problem.
static void scores_from_groups(const Analysis *a, const AnRun *r, const DbAnswerGroup *g, size_t n, long k,
                               double *pass, double *maj) {
    size_t P = a->n_problems;
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
}

// Per problem of run R's reference eval (P = Analysis.n_problems entries, NAN where missing):
// sampled pass@k and maj@k at k, from its answer groups (read once through the cache S).
static int problem_scores(Answers *s, const AnRun *r, long k, double *pass, double *maj) {
    for (size_t p = 0; p < s->a->n_problems; p++) pass[p] = maj[p] = NAN;
    if (r->eval_id < 0 || k < 1 || k > r->n_samples) {
        err_set("%s: run %d: no samples for k = %ld", db_path(s->db), r->run_id, k);
        return -1;
    }
    size_t i = (size_t)(r - s->a->runs);
    if (!s->g[i] && db_answer_groups(s->db, r->eval_id, &s->g[i], &s->n[i]) != 0) return -1;
    scores_from_groups(s->a, r, s->g[i], s->n[i], k, pass, maj);
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

// Resample b of a bootstrap stream: problem weights wp (P,) from P draws with replacement and,
// when S > 1, seed weights ws (S,) from S − 1 draws (Rao and Wu's rescaled bootstrap: S draws of
// so few seeds would shrink the spread between them by (S − 1) / S); ws is all 1 for one seed.
static void draw_weights(uint64_t seed, long b, double *wp, size_t P, double *ws, int S) {
    Rng rng;
    rng_seed(&rng, seed_derive(seed, 0xC0AE, (uint64_t)b, 0));
    memset(wp, 0, P * sizeof(double));
    for (size_t i = 0; i < P; i++) wp[rng_below(&rng, P)] += 1;
    for (int s = 0; s < S; s++) ws[s] = S > 1 ? 0 : 1;
    for (int s = 0; S > 1 && s + 1 < S; s++) ws[rng_below(&rng, (uint64_t)S)] += 1;
}

// Weighted mean of v (S·P,) over finite cells; NAN when none has weight.
static double weighted_mean(const double *v, int S, size_t P, const double *wp, const double *ws) {
    double num = 0, den = 0;
    for (int s = 0; s < S; s++)
        for (size_t p = 0; p < P; p++) {
            double w = wp[p] * ws[s], x = v[(size_t)s * P + p];
            if (w > 0 && isfinite(x)) num += w * x, den += w;
        }
    return den > 0 ? num / den : NAN;
}

// The mean of d (S, P) over its finite cells and a 95% percentile interval over B resamples of
// draw_weights (problems, and seeds when S > 1, jointly).
static double paired(const double *d, int S, size_t P, long B, uint64_t seed, double ci[2]) {
    double mean = finite_mean(d, (size_t)S * P);
    ci[0] = ci[1] = NAN;
    if (!isfinite(mean)) return NAN;
    double *wp = xmalloc(P * sizeof(double)), *ws = xmalloc((size_t)S * sizeof(double)), *est = xmalloc((size_t)B * sizeof(double));
    long used = 0;
    for (long b = 0; b < B; b++) {
        draw_weights(seed, b, wp, P, ws, S);
        double v = weighted_mean(d, S, P, wp, ws);
        if (isfinite(v)) est[used++] = v;
    }
    if (used > 0) fit_percentile_interval(est, (size_t)used, 0.95, ci);
    free(wp);
    free(ws);
    free(est);
    return mean;
}

double analysis_pass_ci(const Analysis *a, const AnRun *r, long k, long B, uint64_t seed, double ci[2]) {
    size_t P = a->n_problems;
    double *v = xmalloc((P ? P : 1) * sizeof(double));
    analysis_problem_pass(a, r, k, v);
    double m = paired(v, 1, P, B, seed, ci);
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
    c->diff = c->maj_diff = c->t2_in_sample_pass = NAN;
    c->ci95[0] = c->ci95[1] = c->maj_ci95[0] = c->maj_ci95[1] = NAN;
    for (int f = 0; f < 2; f++) c->fold_pick[f] = -1, no_pick(&c->fold[f]);
}

// ---------------------------------------------------------------------------------------------
// Cross-fitted selection. The T² pick is the candidate with the best sampled pass@k; chosen and
// scored on the same problems it would win by chance whenever candidates are close (the winner's
// curse), and the paired difference would lean towards T². So the problems are split into two
// fixed folds: each problem is scored with the pick made on the other fold, and every bootstrap
// resample makes both picks again on its own draw, so the interval carries the selection's
// uncertainty too. The Chinchilla pick (lowest held-out loss) does not look at the problems.

int analysis_problem_fold(long problem_id) { return (int)(seed_derive(0xF01D, (uint64_t)problem_id, 0, 0) & 1); }
static int problem_fold(size_t p) { return analysis_problem_fold((long)p); }

// The candidates of an entry: models that afford a sample, each with its runs at the S seed rows
// and its per-problem scores at its affordable k.
typedef struct {
    int n, S;
    size_t P;
    const AnRun **run;  // (n, S)
    long *k;            // (n,)
    int *capped;        // (n,)
    double *pass, *maj; // (n, S·P) each, NAN where a problem is missing
} Cands;

static void cands_init(Cands *c, int max, int S, size_t P) {
    memset(c, 0, sizeof *c);
    c->S = S;
    c->P = P;
    c->run = xcalloc((size_t)(max * S) + 1, sizeof *c->run);
    c->k = xcalloc((size_t)max + 1, sizeof *c->k);
    c->capped = xcalloc((size_t)max + 1, sizeof *c->capped);
    c->pass = xmalloc(((size_t)max * (size_t)S * P + 1) * sizeof(double));
    c->maj = xmalloc(((size_t)max * (size_t)S * P + 1) * sizeof(double));
}

static void cands_free(Cands *c) {
    free(c->run);
    free(c->k);
    free(c->capped);
    free(c->pass);
    free(c->maj);
}

// Add a candidate from its runs (S,) at k: its per-problem scores from the stored samples.
static int cands_add(Answers *ans, Cands *c, const AnRun *const *runs, long k, int capped) {
    size_t SP = (size_t)c->S * c->P, o = (size_t)c->n * SP;
    for (int s = 0; s < c->S; s++) {
        c->run[c->n * c->S + s] = runs[s];
        if (problem_scores(ans, runs[s], k, c->pass + o + (size_t)s * c->P, c->maj + o + (size_t)s * c->P) != 0)
            return -1;
    }
    c->k[c->n] = k;
    c->capped[c->n] = capped;
    c->n++;
    return 0;
}

// The candidate with the best weighted mean pass over the cells of FOLD (-1: both folds), with
// problem weights wp (P,) and seed weights ws (S,) (NULL: all 1). Ties go to the earlier one.
static int select_best(const Cands *c, const double *wp, const double *ws, int fold) {
    int best = -1;
    double best_mean = -1;
    for (int i = 0; i < c->n; i++) {
        const double *v = c->pass + (size_t)i * (size_t)c->S * c->P;
        double num = 0, den = 0;
        for (int s = 0; s < c->S; s++)
            for (size_t p = 0; p < c->P; p++) {
                double w = (wp ? wp[p] : 1) * (ws ? ws[s] : 1), x = v[(size_t)s * c->P + p];
                if (w > 0 && isfinite(x) && (fold < 0 || problem_fold(p) == fold)) num += w * x, den += w;
            }
        if (den > 0 && num / den > best_mean) best = i, best_mean = num / den;
    }
    return best;
}

// The cross-fitted T² score of every cell given the picks of the two folds: problem p is scored
// by pick[1 − fold(p)] (a fold with no pick falls back on the other's). OUT (S·P,).
static void crossfit(const Cands *c, const double *scores, const int pick[2], double *out) {
    size_t SP = (size_t)c->S * c->P;
    for (int s = 0; s < c->S; s++)
        for (size_t p = 0; p < c->P; p++) {
            int other = pick[1 - problem_fold(p)];
            if (other < 0) other = pick[problem_fold(p)];
            out[(size_t)s * c->P + p] = other < 0 ? NAN : scores[(size_t)other * SP + (size_t)s * c->P + p];
        }
}

// The Chinchilla candidate of a resample: the lowest mean loss over the drawn seeds (weights ws);
// with one seed, or all seeds drawn alike, it is the entry's own h (the lowest-loss model of the
// level, a candidate). Only candidates (models that afford a sample) compete: in a resample in
// which a model too large to sample has the lowest loss, the lowest-loss candidate stands in.
static int chinchilla_of(const Cands *c, const double *ws, int h) {
    if (c->S == 1) return h;
    int best = h;
    double best_loss = INFINITY;
    for (int i = 0; i < c->n; i++) {
        double num = 0, den = 0;
        for (int s = 0; s < c->S; s++) num += ws[s] * c->run[i * c->S + s]->loss, den += ws[s];
        if (den > 0 && num / den < best_loss) best = i, best_loss = num / den;
    }
    return best;
}

// Bootstrap of the whole procedure: each resample draws the problems (and S − 1 of S seeds, Rao
// and Wu's rescaling), picks again on each fold and, over seeds, takes the Chinchilla pick again
// from the drawn seeds' losses. Fills the 95% intervals of the cross-fitted T² pass, the pass and
// maj differences against the Chinchilla candidate (h on the full data).
static void bootstrap_entry(const Cands *c, int h, long B, uint64_t seed, AnCompare *e) {
    int S = c->S;
    size_t P = c->P, SP = (size_t)S * P;
    double *wp = xmalloc((P + 1) * sizeof(double)), ws[AN_MAX_SEEDS];
    double *t = xmalloc((SP + 1) * sizeof(double)), *tm = xmalloc((SP + 1) * sizeof(double));
    double *est[3];
    for (int i = 0; i < 3; i++) est[i] = xmalloc(((size_t)B + 1) * sizeof(double));
    long used[3] = {0, 0, 0};
    for (long b = 0; b < B; b++) {
        draw_weights(seed, b, wp, P, ws, S);
        int pick[2] = {select_best(c, wp, ws, 0), select_best(c, wp, ws, 1)}, hb = chinchilla_of(c, ws, h);
        const double *hp = c->pass + (size_t)hb * SP, *hm = c->maj + (size_t)hb * SP;
        crossfit(c, c->pass, pick, t);
        crossfit(c, c->maj, pick, tm);
        double tp = weighted_mean(t, S, P, wp, ws);
        for (size_t i = 0; i < SP; i++) t[i] -= hp[i], tm[i] -= hm[i];
        double v[3] = {tp, weighted_mean(t, S, P, wp, ws), weighted_mean(tm, S, P, wp, ws)};
        for (int i = 0; i < 3; i++)
            if (isfinite(v[i])) est[i][used[i]++] = v[i];
    }
    double *ci[3] = {e->t2.pass_ci, e->ci95, e->maj_ci95};
    for (int i = 0; i < 3; i++)
        if (used[i] > 0) fit_percentile_interval(est[i], (size_t)used[i], 0.95, ci[i]);
    for (int i = 0; i < 3; i++) free(est[i]);
    free(wp);
    free(t);
    free(tm);
}

// The bootstrap stream of an entry: every interval of the entry uses the same resamples.
static uint64_t entry_seed(const AnCompare *e, const AnCompareOptions *o) {
    return seed_derive(o->seed, (uint64_t)e->budget_idx, (uint64_t)(e->seed_idx + 1), fnv1a64(&e->c_inf, sizeof e->c_inf));
}

static void set_cand_pick(AnPick *p, const Cands *c, int i, int S) {
    for (int s = 0; s < S; s++) set_pick(p, c->run[i * c->S + s], c->k[i], c->capped[i]);
}

// Picks, cross-fitted means, differences and intervals of an entry whose candidates are C and
// whose Chinchilla candidate is h.
static void finish_entry(AnCompare *e, const Cands *c, int h, const AnCompareOptions *o) {
    int S = c->S;
    size_t P = c->P, SP = (size_t)S * P;
    int full = select_best(c, NULL, NULL, -1);
    e->fold_pick[0] = select_best(c, NULL, NULL, 0);
    e->fold_pick[1] = select_best(c, NULL, NULL, 1);
    set_cand_pick(&e->t2, c, full, S);
    set_cand_pick(&e->chinchilla, c, h, S);
    double *t = xmalloc((SP + 1) * sizeof(double)), *tm = xmalloc((SP + 1) * sizeof(double));
    crossfit(c, c->pass, e->fold_pick, t);
    crossfit(c, c->maj, e->fold_pick, tm);
    for (int f = 0; f < 2; f++) { // the pick made on fold f, with its scores on the other fold
        if (e->fold_pick[f] < 0) continue;
        set_cand_pick(&e->fold[f], c, e->fold_pick[f], S);
        double sp = 0, sm = 0;
        long m = 0;
        for (size_t i = 0; i < SP; i++)
            if (problem_fold(i % P) != f && isfinite(t[i])) sp += t[i], sm += tm[i], m++;
        e->fold[f].pass = m ? sp / (double)m : NAN;
        e->fold[f].maj = m ? sm / (double)m : NAN;
    }
    const double *hp = c->pass + (size_t)h * SP, *hm = c->maj + (size_t)h * SP;
    e->t2.pass = finite_mean(t, SP);
    e->t2.maj = finite_mean(tm, SP);
    e->t2_in_sample_pass = finite_mean(c->pass + (size_t)full * SP, SP);
    e->chinchilla.pass = finite_mean(hp, SP);
    e->chinchilla.maj = finite_mean(hm, SP);
    long n_prob = 0;
    for (size_t i = 0; i < SP; i++) t[i] -= hp[i], tm[i] -= hm[i]; // NAN where either lacks the problem
    for (size_t p = 0; p < P; p++) {
        int any = 0;
        for (int s = 0; s < S; s++) any |= isfinite(t[(size_t)s * P + p]);
        n_prob += any;
    }
    e->n_problems = n_prob;
    e->diff = finite_mean(t, SP);
    e->maj_diff = finite_mean(tm, SP);
    uint64_t seed = entry_seed(e, o);
    e->n_resamples = o->bootstrap;
    bootstrap_entry(c, h, o->bootstrap, seed, e);
    paired(hp, S, P, o->bootstrap, seed, e->chinchilla.pass_ci);
    e->significant = e->ci95[0] > 0 || e->ci95[1] < 0;
    e->maj_significant = e->maj_ci95[0] > 0 || e->maj_ci95[1] < 0;
    free(t);
    free(tm);
}

// The train-only reference: the lowest-loss runs at k = 1.
static int score_k1(Answers *ans, const Analysis *a, const AnRun *const *runs, int S, const AnCompareOptions *o, AnCompare *e) {
    size_t P = a->n_problems;
    double *v = xmalloc(((size_t)S * P + 1) * sizeof(double)), *m = xmalloc(((size_t)S * P + 1) * sizeof(double));
    int rc = 0;
    for (int s = 0; s < S && rc == 0; s++) rc = problem_scores(ans, runs[s], 1, v + (size_t)s * P, m + (size_t)s * P);
    if (rc == 0) {
        e->chinchilla_1.pass = finite_mean(v, (size_t)S * P);
        e->chinchilla_1.maj = finite_mean(m, (size_t)S * P);
        paired(v, S, P, o->bootstrap, entry_seed(e, o), e->chinchilla_1.pass_ci);
    }
    free(v);
    free(m);
    return rc;
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

// An entry from its models' runs GRID (F, S) (NULL where a model lacks a seed; models without
// every seed are left out) and the Chinchilla model LOWEST; S = 1 for a single seed.
static int compare_models(Answers *ans, const Analysis *a, const AnRun **grid, int F, int S, int lowest,
                          const AnCompareOptions *o, AnCompare *e) {
    for (int s = 0; s < S; s++) set_pick(&e->chinchilla_1, grid[lowest * S + s], 1, 0);
    if (score_k1(ans, a, grid + lowest * S, S, o, e) != 0) return -1;
    Cands c;
    cands_init(&c, F, S, a->n_problems);
    int h = -1, rc = 0;
    for (int f = 0; f < F && rc == 0; f++) {
        int capped, complete = 1;
        for (int s = 0; s < S; s++) complete &= grid[f * S + s] != NULL;
        long k = complete ? affordable_k(grid[f * S], e->c_inf, &capped) : 0;
        if (k < 1) continue;
        if (f == lowest) h = c.n;
        rc = cands_add(ans, &c, grid + f * S, k, capped);
    }
    if (rc == 0) {
        if (c.n == 0) {
            snprintf(e->note, sizeof e->note, "no run of this budget affords one sample (2N > C_inf for every model)");
        } else if (h < 0) {
            set_cand_pick(&e->t2, &c, select_best(&c, NULL, NULL, -1), S);
            snprintf(e->note, sizeof e->note, "the lowest-loss model cannot afford one sample (2N > C_inf)");
        } else {
            finish_entry(e, &c, h, o);
            if (e->n_models < 2)
                snprintf(e->note, sizeof e->note, "a single model at this budget: both picks are the same");
            else if (e->fold_pick[0] == h && e->fold_pick[1] == h)
                snprintf(e->note, sizeof e->note, "the same model: at this budget sampling does not favour another model");
            else if (e->fold_pick[0] != e->fold_pick[1])
                snprintf(e->note, sizeof e->note, "the two halves of the problems pick different models (see fold_picks)");
        }
    }
    cands_free(&c);
    return rc;
}

// One (level, seed): runs (n,) are the level's evaluated runs of that seed.
static int compare_seed(Answers *ans, const Analysis *a, const AnRun *const *runs, int n, const AnCompareOptions *o,
                        AnCompare *c) {
    c->n_runs = n;
    c->n_models = n_distinct_models(runs, n);
    if (n == 0) {
        snprintf(c->note, sizeof c->note, "no run of this budget has a reference eval");
        return 0;
    }
    int F = a->spec.n_family, lowest = -1;
    const AnRun **grid = xcalloc((size_t)F + 1, sizeof *grid); // (F, 1)
    for (int i = 0; i < n; i++) {
        grid[runs[i]->family_idx] = runs[i];
        if (lowest < 0 || runs[i]->loss < grid[lowest]->loss) lowest = runs[i]->family_idx;
    }
    int rc = compare_models(ans, a, grid, F, 1, lowest, o, c);
    free(grid);
    return rc;
}

// The pooled entry of a level: models with an evaluated run at every seed of the level, picked
// by their means over seeds.
static int compare_pooled(Answers *ans, const Analysis *a, const AnRun *const *runs, int n, const int *seeds, int S,
                          const AnCompareOptions *o, AnCompare *c) {
    int F = a->spec.n_family;
    const AnRun **grid = xcalloc((size_t)(F * S), sizeof *grid); // (F, S) the run of model f at seed s
    for (int i = 0; i < n; i++)
        for (int s = 0; s < S; s++)
            if (runs[i]->seed_idx == seeds[s]) grid[runs[i]->family_idx * S + s] = runs[i];
    c->n_runs = n;
    int lowest = -1, models = 0, rc = 0;
    double low_loss = INFINITY;
    for (int f = 0; f < F; f++) {
        int complete = 1;
        double loss = 0;
        for (int s = 0; s < S; s++) complete &= grid[f * S + s] != NULL;
        if (!complete) continue;
        models++;
        for (int s = 0; s < S; s++) loss += grid[f * S + s]->loss / S;
        if (loss < low_loss) low_loss = loss, lowest = f;
    }
    c->n_models = models;
    if (models == 0) snprintf(c->note, sizeof c->note, "no model has an evaluated run at every seed of this budget");
    else rc = compare_models(ans, a, grid, F, S, lowest, o, c);
    free(grid);
    return rc;
}

// Every entry of level b: one per seed, then the pooled one when more than one seed has runs.
static int compare_level(Answers *ans, const Analysis *a, int b, double c_inf, const AnCompareOptions *o, AnCompare *out,
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
        rc = compare_seed(ans, a, mine, k, o, c);
    }
    if (rc == 0 && S > 1) {
        AnCompare *c = &out[m++];
        entry_init(c, a, b, c_inf, -1);
        c->summary = 1;
        rc = compare_pooled(ans, a, runs, n, seeds, S, o, c);
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
    Answers ans;
    answers_init(&ans, db, a);
    size_t m = 0;
    int rc = 0;
    for (int b = 0; b < bs->n && rc == 0; b++) {
        size_t got = 0;
        rc = compare_level(&ans, a, b, c_inf, o, c + m, &got);
        m += got;
    }
    answers_free(&ans);
    if (rc != 0) {
        free(c);
        return -1;
    }
    *out = c;
    *n = m;
    return 0;
}

static AnCompare *copy_entries(const AnCompare *c, size_t n) {
    AnCompare *out = xmalloc((n ? n : 1) * sizeof *out);
    if (n) memcpy(out, c, n * sizeof *out);
    return out;
}

int analysis_compare_cached(AnCompareCache *cache, Db *db, const Analysis *a, double c_inf, const AnCompareOptions *o,
                            AnCompare **out, size_t *n) {
    if (!cache) return analysis_compare(db, a, c_inf, o, out, n);
    AnCompareOptions def;
    if (!o) {
        analysis_compare_defaults(&def);
        o = &def;
    }
    for (int i = 0; i < cache->n; i++)
        if (cache->c_inf[i] == c_inf && cache->o[i].bootstrap == o->bootstrap && cache->o[i].seed == o->seed) {
            *out = copy_entries(cache->cmp[i], cache->n_cmp[i]);
            *n = cache->n_cmp[i];
            return 0;
        }
    if (analysis_compare(db, a, c_inf, o, out, n) != 0) return -1;
    if (cache->n < AN_MAX_C_INF) {
        int i = cache->n++;
        cache->c_inf[i] = c_inf;
        cache->o[i] = *o;
        cache->cmp[i] = copy_entries(*out, *n);
        cache->n_cmp[i] = *n;
    }
    return 0;
}

void analysis_compare_cache_free(AnCompareCache *cache) {
    if (!cache) return;
    for (int i = 0; i < cache->n; i++) free(cache->cmp[i]);
    memset(cache, 0, sizeof *cache);
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
    cJSON_AddItemToObject(o, "t2_in_sample_pass", fit_json_number(c->t2_in_sample_pass));
    cJSON *folds = cJSON_AddArrayToObject(o, "fold_picks");
    for (int f = 0; f < 2 && c->fold[f].run_id >= 0; f++) cJSON_AddItemToArray(folds, pick_cjson(&c->fold[f]));
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
