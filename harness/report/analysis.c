// analysis.c — read a results database back for the analysis commands: done runs, their
// reference evaluation and gold log-probabilities, and the fit points of each law.
#include "report/analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sweep/estimators.h"
#include "sweep/eval.h"
#include "util/util.h"

// ---------------------------------------------------------------------------------------------
// Per-problem terms.

double neg_log_pass_analytic(double logprob, double k) {
    if (isnan(logprob) || !(k > 0)) return NAN;
    if (logprob >= 0) return 0; // p = 1
    // p = e^logprob so small that k p ≪ 1: pass@k = k p (1 + O(k p)), −log pass@k = −log k − logprob.
    if (logprob < -700 || log(k) + logprob < -36) return -log(k) - logprob;
    double log1m_p = logprob > -M_LN2 ? log(-expm1(logprob)) : log1p(-exp(logprob)); // log(1 − p)
    return -log(-expm1(k * log1m_p));
}

// ---------------------------------------------------------------------------------------------
// Loading.

static void run_from_db(AnRun *r, const DbRun *d, int n_k) {
    memset(r, 0, sizeof *r);
    r->run_id = d->run_id;
    r->family_idx = d->family_idx;
    r->budget_idx = d->budget_idx;
    r->seed_idx = d->seed_idx;
    r->seed = d->seed;
    r->n_layer = d->n_layer;
    r->d_model = d->d_model;
    r->n_head = d->n_head;
    r->N = (double)d->n_params;
    r->N_nonembed = (double)d->n_params_nonembed;
    r->D = (double)d->train_tokens;
    r->train_flops = d->train_flops;
    r->train_flops_6nd = d->train_flops_6nd;
    r->budget = d->budget;
    r->final_loss = d->final_loss;
    r->val_loss = d->val_loss;
    r->answer_loss = d->answer_loss;
    r->eval_id = -1;
    r->gold_nll = NAN;
    r->infer_flops = r->gen_tokens = NAN;
    double **cols[] = {&r->pass, &r->maj, &r->pass_analytic, &r->nll_pass};
    for (size_t c = 0; c < ARRAY_LEN(cols); c++) {
        *cols[c] = xmalloc((size_t)(n_k ? n_k : 1) * sizeof(double));
        for (int j = 0; j < n_k; j++) (*cols[c])[j] = NAN;
    }
}

static int k_index(const Analysis *a, long k) {
    for (int j = 0; j < a->n_k; j++)
        if (a->k[j] == k) return j;
    return -1;
}

// Correct samples per problem of the reference eval (the problem bootstrap's per-problem pass@k).
static int load_counts(Db *db, const Analysis *a, AnRun *r) {
    DbProblemCount *c;
    size_t n;
    if (db_problem_counts(db, r->eval_id, &c, &n) != 0) return -1;
    r->n_correct = xmalloc((a->n_problems ? a->n_problems : 1) * sizeof(long));
    for (size_t p = 0; p < a->n_problems; p++) r->n_correct[p] = -1;
    for (size_t i = 0; i < n; i++)
        if (c[i].problem_id >= 0 && (size_t)c[i].problem_id < a->n_problems && c[i].n == r->n_samples)
            r->n_correct[c[i].problem_id] = c[i].correct;
    free(c);
    return 0;
}

// The reference eval's row and metrics.
static int load_eval(Db *db, const Analysis *a, AnRun *r) {
    long eval_id;
    int rc = db_find_eval(db, r->run_id, &a->key, &eval_id);
    if (rc != 0) return rc < 0 ? -1 : 0;
    r->eval_id = eval_id;
    DbEval e;
    rc = db_get_eval(db, eval_id, &e);
    if (rc != 0) {
        if (rc == 1) err_set("%s: read evals: eval %ld of run %d vanished", db_path(db), eval_id, r->run_id);
        return -1;
    }
    r->n_samples = e.key.n_samples;
    r->n_problems = e.n_problems;
    r->infer_flops = e.infer_flops;
    r->gen_tokens = (double)e.gen_tokens;
    r->prefill_flops = e.prefill_flops;
    r->decode_flops = e.decode_flops;
    DbMetric *m;
    size_t n;
    if (db_read_metrics(db, eval_id, &m, &n) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        int j = k_index(a, m[i].k);
        if (j < 0 || !m[i].metric) continue; // a k the spec no longer lists
        if (strcmp(m[i].metric, "pass") == 0) r->pass[j] = m[i].value;
        else if (strcmp(m[i].metric, "maj") == 0) r->maj[j] = m[i].value;
        else if (strcmp(m[i].metric, "pass_analytic") == 0) r->pass_analytic[j] = m[i].value;
    }
    db_metrics_free(m, n);
    return load_counts(db, a, r);
}

// Mean gold NLL and E_i[−log pass@k_i] at every spec k, over the problems with a gold
// log-probability, and the per-problem log-probabilities.
static int load_gold(Db *db, const Analysis *a, AnRun *r) {
    DbGold *g;
    size_t n_rows;
    if (db_read_gold(db, r->run_id, &g, &n_rows) != 0) return -1;
    r->gold_lp = xmalloc((a->n_problems ? a->n_problems : 1) * sizeof(double));
    for (size_t p = 0; p < a->n_problems; p++) r->gold_lp[p] = NAN;
    double nll = 0;
    double *sum = xcalloc((size_t)(a->n_k ? a->n_k : 1), sizeof(double));
    long n = 0;
    for (size_t i = 0; i < n_rows; i++) {
        double lp = g[i].logprob;
        if (isnan(lp)) continue;
        if (g[i].problem_id >= 0 && (size_t)g[i].problem_id < a->n_problems) r->gold_lp[g[i].problem_id] = lp;
        nll -= lp;
        for (int j = 0; j < a->n_k; j++) sum[j] += neg_log_pass_analytic(lp, (double)a->k[j]);
        n++;
    }
    free(g);
    r->n_gold = n;
    if (n > 0) {
        r->gold_nll = nll / (double)n;
        for (int j = 0; j < a->n_k; j++) r->nll_pass[j] = sum[j] / (double)n;
    }
    free(sum);
    return 0;
}

static void free_run(AnRun *r) {
    free(r->gold_lp);
    free(r->n_correct);
    free(r->pass);
    free(r->maj);
    free(r->pass_analytic);
    free(r->nll_pass);
}

static int no_finished_runs(const Analysis *a) {
    const size_t *s = a->n_by_status;
    if (a->n_grid == 0) {
        err_set("%s: no runs recorded (run t2 sweep first)", a->path);
    } else {
        err_set("%s: no finished runs (%zu pending, %zu running, %zu diverged, %zu failed): run t2 sweep first", a->path,
                s[DB_RUN_PENDING], s[DB_RUN_RUNNING], s[DB_RUN_DIVERGED], s[DB_RUN_FAILED]);
    }
    return -1;
}

int analysis_open_db(const char *path, Db **db) {
    *db = NULL;
    if (!file_exists(path)) {
        err_set("%s: no such database (t2 sweep SPEC --db %s creates it)", path, path);
        return -1;
    }
    // Reading needs no write access: a database in a directory this process cannot write (a
    // colleague's results, a read-only mount) opens read-only, and fits made now are not stored.
    char *dir = path_dir(path);
    int writable = access(path, W_OK) == 0 && access(dir, W_OK) == 0;
    free(dir);
    return writable ? db_open(db, path) : db_open_readonly(db, path);
}

int analysis_load_loss(Db *db, Analysis *a, const char *loss) {
    if (loss && strcmp(loss, "answer") != 0 && strcmp(loss, "val") != 0) {
        memset(a, 0, sizeof *a);
        err_set("--loss: must be \"answer\" or \"val\", got \"%s\"", loss);
        return -1;
    }
    if (analysis_load(db, a) != 0) return -1;
    return loss ? analysis_use_loss(a, loss, 1) : 0;
}

int analysis_load(Db *db, Analysis *a) {
    memset(a, 0, sizeof *a);
    a->path = xstrdup(db_path(db));
    if (spec_from_db(db, &a->spec) != 0) return -1;
    const Spec *s = &a->spec;
    a->has_eval = spec_has_eval(s);
    a->key = (DbEvalKey){s->eval.n_temperature ? s->eval.temperature[0] : 1.0, s->eval.top_p, s->eval.n_samples,
                         s->eval.max_new_tokens};
    a->n_k = a->has_eval ? s->eval.n_k : 0;
    a->k = s->eval.k;
    a->n_problems = a->has_eval && s->task.eval_problems > 0 ? (size_t)s->task.eval_problems : 0;
    a->n_budgets = s->budgets.n;
    DbRun *runs;
    size_t n;
    if (db_get_runs(db, &runs, &n) != 0) return -1;
    a->n_grid = n;
    a->runs = xcalloc(n ? n : 1, sizeof(AnRun));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        a->n_by_status[runs[i].status]++;
        if (runs[i].status != DB_RUN_DONE) continue;
        AnRun *r = &a->runs[a->n_runs++];
        run_from_db(r, &runs[i], a->n_k);
        if (a->has_eval && (load_eval(db, a, r) != 0 || load_gold(db, a, r) != 0)) rc = -1;
    }
    db_runs_free(runs, n);
    if (rc != 0) return -1;
    if (a->n_runs == 0) return no_finished_runs(a);
    return analysis_use_loss(a, a->spec.analysis.loss, 0);
}

static double loss_of(const AnRun *r, const char *column) {
    return strcmp(column, "answer_loss") == 0 ? r->answer_loss
           : strcmp(column, "val_loss") == 0  ? r->val_loss
                                              : r->final_loss;
}

// Runs without a usable COLUMN: 0 when none; else their count, and the first few ids in LIST.
static size_t runs_lacking(const Analysis *a, const char *column, char *list, size_t n) {
    size_t missing = 0;
    list[0] = '\0';
    for (size_t i = 0; i < a->n_runs; i++) {
        double v = loss_of(&a->runs[i], column);
        if (isfinite(v) && v > 0) continue;
        size_t len = strlen(list);
        if (missing < 5)
            snprintf(list + len, n - len, "%s%d", missing ? ", " : "", a->runs[i].run_id);
        else if (missing == 5)
            snprintf(list + len, n - len, ", ...");
        missing++;
    }
    return missing;
}

int analysis_use_loss(Analysis *a, const char *name, int strict) {
    static const char *const chain[] = {"answer_loss", "val_loss", "final_loss"};
    int first;
    if (strcmp(name, "answer") == 0) {
        first = 0;
    } else if (strcmp(name, "val") == 0) {
        first = 1;
    } else {
        err_set("must be \"answer\" or \"val\", got \"%s\"", name);
        return -1;
    }
    a->loss_note[0] = '\0';
    char list[64];
    for (int c = first; c < 3; c++) {
        size_t missing = runs_lacking(a, chain[c], list, sizeof list);
        if (missing == 0) {
            a->loss_column = chain[c];
            for (size_t i = 0; i < a->n_runs; i++) a->runs[i].loss = loss_of(&a->runs[i], chain[c]);
            return 0;
        }
        const char *why = c == 0 && !a->has_eval ? "the task has no answers"
                          : c == 0               ? "finished by a t2 that did not record it"
                                                 : "no held-out part";
        if (strict) {
            err_set("%s: %zu done run%s (%s) %s no %s (%s): use --loss %s", a->path, missing, missing == 1 ? "" : "s",
                    list, missing == 1 ? "has" : "have", chain[c], why, c == 0 ? "val" : "answer");
            return -1;
        }
        if (c == first)
            snprintf(a->loss_note, sizeof a->loss_note, "%zu run%s (%s) %s no %s (%s)", missing, missing == 1 ? "" : "s",
                     list, missing == 1 ? "has" : "have", chain[c], why);
    }
    err_set("%s: no loss is recorded for every done run", a->path); // final_loss is, for every done run
    return -1;
}

void analysis_free(Analysis *a) {
    if (!a) return;
    for (size_t i = 0; i < a->n_runs; i++) free_run(&a->runs[i]);
    free(a->runs);
    free(a->path);
    spec_free(&a->spec);
    memset(a, 0, sizeof *a);
}

int analysis_cell(const Analysis *a, const AnRun *r) { return r->family_idx * a->n_budgets + r->budget_idx; }

int analysis_loss_ks(const Analysis *a, double *k, int max) {
    int n = 0;
    for (double v = 1; v <= (double)a->spec.analysis.k_max && n < max; v *= 2) k[n++] = v;
    return n;
}

const AnRun *analysis_run(const Analysis *a, int run_id) {
    for (size_t i = 0; i < a->n_runs; i++)
        if (a->runs[i].run_id == run_id) return &a->runs[i];
    return NULL;
}

void analysis_model_label(const AnRun *r, char *out, size_t n) {
    snprintf(out, n, "L%d d%d h%d", r->n_layer, r->d_model, r->n_head);
}

// ---------------------------------------------------------------------------------------------
// Fit data.

// The fitting method's version, part of every data hash: a fit stored by an older t2 (other
// bounds, no identification, another bootstrap) is never reused as if made now.
#define FIT_METHOD "t2 fit method 2: bounded exponents, identification, cluster bootstrap"

uint64_t fit_data_hash(FitLaw law, const FitData *d) {
    uint64_t h = fnv1a64(fit_law_name(law), strlen(fit_law_name(law)));
    h = fnv1a64(&(uint64_t[2]){h, fnv1a64(FIT_METHOD, strlen(FIT_METHOD))}, 2 * sizeof(uint64_t));
    const double *cols[] = {d->N, d->D, d->k, d->loss, d->nll, d->pass};
    for (size_t c = 0; c < ARRAY_LEN(cols); c++) {
        uint64_t part = cols[c] ? fnv1a64(cols[c], d->n * sizeof(double)) : 0;
        h = fnv1a64(&(uint64_t[2]){h, part}, 2 * sizeof(uint64_t));
    }
    size_t cells = d->n * d->n_problems;
    const double *prob[] = {d->prob_term, d->prob_nll};
    for (size_t c = 0; c < ARRAY_LEN(prob); c++) {
        uint64_t part = prob[c] ? fnv1a64(prob[c], cells * sizeof(double)) : 0;
        h = fnv1a64(&(uint64_t[2]){h, part}, 2 * sizeof(uint64_t));
    }
    const int *units[] = {d->run, d->cell};
    for (size_t c = 0; c < ARRAY_LEN(units); c++) {
        uint64_t part = units[c] ? fnv1a64(units[c], d->n * sizeof(int)) : 0;
        h = fnv1a64(&(uint64_t[2]){h, part}, 2 * sizeof(uint64_t));
    }
    for (size_t i = 0; d->model && i < d->n; i++) {
        uint64_t part = fnv1a64(d->model[i], strlen(d->model[i]));
        h = fnv1a64(&(uint64_t[2]){h, part}, 2 * sizeof(uint64_t));
    }
    return h;
}

static void note_drop(AnFitNote *note, const char *fmt, int run_id) {
    note->n_dropped++;
    size_t len = strlen(note->dropped);
    if (len + 40 < sizeof note->dropped) snprintf(note->dropped + len, sizeof note->dropped - len, fmt, len ? ", " : "", run_id);
}

static int need_eval(const Analysis *a, FitLaw law) {
    if (a->has_eval) return 0;
    err_set("%s: the sweep's task (%s) has no evaluation problems; %s needs pass@k (only chinchilla fits on loss)",
            a->path, a->spec.task.name, fit_law_name(law));
    return -1;
}

// The run and (model, budget) cell of row i.
static void set_unit(const Analysis *a, const AnRun *r, FitData *d, size_t i) {
    d->run[i] = r->run_id;
    d->cell[i] = analysis_cell(a, r);
}

static void alloc_units(FitData *d, size_t cap) {
    d->run = xmalloc((cap ? cap : 1) * sizeof(int));
    d->cell = xmalloc((cap ? cap : 1) * sizeof(int));
}

static void chinchilla_points(const Analysis *a, FitData *d, AnFitNote *note) {
    fit_data_alloc(d, a->n_runs);
    alloc_units(d, a->n_runs);
    for (size_t i = 0; i < a->n_runs; i++) {
        d->N[i] = a->runs[i].N;
        d->D[i] = a->runs[i].D;
        d->loss[i] = a->runs[i].loss;
        set_unit(a, &a->runs[i], d, i);
    }
    note->n_runs = a->n_runs;
    snprintf(note->text, sizeof note->text,
             "chinchilla on %zu done runs: N = runs.n_params, D = runs.train_tokens, loss = runs.%s", a->n_runs,
             a->loss_column);
}

void analysis_problem_pass(const Analysis *a, const AnRun *r, long k, double *out) {
    for (size_t p = 0; p < a->n_problems; p++)
        out[p] = r->n_correct && r->n_correct[p] >= 0 ? pass_at_k(r->n_samples, r->n_correct[p], k) : NAN;
}

// Sampled pass@k of each problem of R into row `row` of prob_term.
static void problem_pass(const Analysis *a, const AnRun *r, long k, FitData *d, size_t row) {
    analysis_problem_pass(a, r, k, d->prob_term + row * d->n_problems);
}

// t2-loss: one row per (run, k of the grid); t2-acc: per (run, spec k). Per-problem terms beside.
static int per_k_points(const Analysis *a, FitLaw law, FitData *d, AnFitNote *note) {
    double ks[AN_MAX_LOSS_K];
    int n_k = law == FIT_T2_LOSS ? analysis_loss_ks(a, ks, AN_MAX_LOSS_K) : a->n_k;
    for (int j = 0; law != FIT_T2_LOSS && j < n_k; j++) ks[j] = (double)a->k[j];
    size_t cap = a->n_runs * (size_t)n_k, n = 0, P = a->n_problems;
    fit_data_alloc(d, cap);
    alloc_units(d, cap);
    fit_data_alloc_problems(d, P, law == FIT_T2_ACC);
    for (size_t i = 0; i < a->n_runs; i++) {
        const AnRun *r = &a->runs[i];
        int usable = r->n_gold > 0 && (law == FIT_T2_LOSS || r->eval_id >= 0);
        if (!usable) {
            note_drop(note, law == FIT_T2_LOSS ? "%srun %d (no gold)" : "%srun %d (no eval or gold)", r->run_id);
            continue;
        }
        for (int j = 0; j < n_k; j++, n++) {
            d->N[n] = r->N;
            d->D[n] = r->D;
            d->k[n] = ks[j];
            set_unit(a, r, d, n);
            double *t = d->prob_term + n * P, sum = 0;
            long m = 0;
            if (law == FIT_T2_LOSS) {
                for (size_t p = 0; p < P; p++) {
                    t[p] = isnan(r->gold_lp[p]) ? NAN : neg_log_pass_analytic(r->gold_lp[p], ks[j]);
                    if (!isnan(t[p])) sum += t[p], m++;
                }
                d->nll[n] = m ? sum / (double)m : NAN;
            } else {
                problem_pass(a, r, (long)ks[j], d, n);
                d->pass[n] = r->pass[j];
                // Stage 1's target. The answer loss per problem: the mean over problems of
                // −gold.logprob, which is runs.answer_loss times the mean answer length (the same
                // problems for every run, so the same factor), resampled with the problems.
                // val_loss has no per-problem terms: the run's value stays in every resample.
                if (strcmp(a->loss_column, "answer_loss") == 0) {
                    d->nll[n] = r->gold_nll;
                    for (size_t p = 0; p < P; p++) d->prob_nll[n * P + p] = -r->gold_lp[p];
                } else {
                    d->nll[n] = r->loss;
                }
            }
        }
        note->n_runs++;
    }
    d->n = n;
    if (note->n_runs == 0) {
        err_set("%s: no done run has %s (run t2 eval first)", a->path,
                law == FIT_T2_LOSS ? "gold log-probabilities" : "a reference eval with gold log-probabilities");
        return -1;
    }
    if (law == FIT_T2_LOSS)
        snprintf(note->text, sizeof note->text,
                 "t2-loss on %zu runs x %d k (1 to %g): N = runs.n_params, D = runs.train_tokens, nll = mean over "
                 "problems of -log(1 - (1 - exp(gold.logprob))^k)",
                 note->n_runs, n_k, ks[n_k - 1]);
    else
        snprintf(note->text, sizeof note->text,
                 "t2-acc on %zu runs x %d k: stage 1 on %s, stage 2 on sampled pass@k "
                 "(metrics 'pass', temperature %g, %ld samples)",
                 note->n_runs, a->n_k,
                 strcmp(a->loss_column, "answer_loss") == 0 ? "the answer loss (mean -gold.logprob per problem)"
                 : strcmp(a->loss_column, "val_loss") == 0  ? "runs.val_loss"
                                                            : "runs.final_loss",
                 a->key.temperature, a->key.n_samples);
    return 0;
}

static int coverage_points(const Analysis *a, FitData *d, AnFitNote *note) {
    size_t cap = a->n_runs * (size_t)a->n_k, n = 0, need = fit_min_points(FIT_COVERAGE);
    fit_data_alloc(d, cap);
    alloc_units(d, cap);
    fit_data_alloc_problems(d, a->n_problems, 0);
    d->model = xcalloc(cap ? cap : 1, sizeof(char *));
    for (size_t i = 0; i < a->n_runs; i++) {
        const AnRun *r = &a->runs[i];
        size_t positive = 0;
        for (int j = 0; j < a->n_k; j++) positive += r->pass[j] > 0;
        if (r->eval_id < 0 || positive < need) {
            note_drop(note, r->eval_id < 0 ? "%srun %d (no eval)" : "%srun %d (pass@k > 0 at fewer than 3 k)", r->run_id);
            continue;
        }
        for (int j = 0; j < a->n_k; j++) {
            if (!(r->pass[j] > 0)) continue;
            d->k[n] = (double)a->k[j];
            d->pass[n] = r->pass[j];
            d->model[n] = xasprintf("run%d", r->run_id);
            set_unit(a, r, d, n);
            problem_pass(a, r, a->k[j], d, n);
            n++;
        }
        note->n_runs++;
    }
    d->n = n;
    if (note->n_runs == 0) {
        err_set("%s: too few points for coverage: no run has sampled pass@k > 0 at %zu or more k values", a->path, need);
        return -1;
    }
    snprintf(note->text, sizeof note->text,
             "coverage per run on %zu runs: sampled pass@k (metrics 'pass', temperature %g) at the spec's k where > 0",
             note->n_runs, a->key.temperature);
    return 0;
}

int analysis_fit_data(const Analysis *a, FitLaw law, FitData *d, AnFitNote *note) {
    memset(note, 0, sizeof *note);
    memset(d, 0, sizeof *d);
    int rc;
    switch (law) {
    case FIT_CHINCHILLA: chinchilla_points(a, d, note); rc = 0; break;
    case FIT_T2_LOSS:
    case FIT_T2_ACC: rc = need_eval(a, law) != 0 ? -1 : per_k_points(a, law, d, note); break;
    case FIT_COVERAGE: rc = need_eval(a, law) != 0 ? -1 : coverage_points(a, d, note); break;
    default: err_set("unknown law %d", (int)law); rc = -1;
    }
    if (rc == 0 && fit_data_check(law, d) != 0) {
        err_prefix("%s: too few or bad points (%s)", a->path, note->text);
        rc = -1;
    }
    if (rc != 0) fit_data_free(d);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Sampled metrics at any k, from the stored samples.

int analysis_sampled_at(Db *db, const AnRun *r, long k, double *pass, double *maj) {
    *pass = *maj = NAN;
    if (r->eval_id < 0 || k < 1 || k > r->n_samples) {
        err_set("%s: run %d: no samples for k = %ld", db_path(db), r->run_id, k);
        return -1;
    }
    DbSample *s;
    size_t n;
    if (db_read_samples(db, r->eval_id, &s, &n) != 0) return -1;
    if (n != (size_t)(r->n_samples * r->n_problems)) {
        err_set("%s: eval %ld of run %d holds %zu samples, expected %ld problems x %ld", db_path(db), r->eval_id,
                r->run_id, n, r->n_problems, r->n_samples);
        db_samples_free(s, n);
        return -1;
    }
    EvalResult er = {.n_samples = r->n_samples, .n_problems = r->n_problems, .n_rows = (long)n, .samples = s};
    eval_metrics(&er, NULL, 0, &k, 1);
    for (int m = 0; m < er.n_metrics; m++) {
        if (strcmp(er.metrics[m].metric, "pass") == 0) *pass = er.metrics[m].value;
        if (strcmp(er.metrics[m].metric, "maj") == 0) *maj = er.metrics[m].value;
    }
    eval_result_free(&er);
    return 0;
}
