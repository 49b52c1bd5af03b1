// report.c — t2 report's markdown: headline, runs, fits, allocations, figures, notes.
#include "report/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fit/optimize.h"
#include "util/util.h"


typedef struct {
    FitLaw law;
    FitResult fit;
    long fit_id;
    int ok;           // a converged fit is in fit
    char why[400];    // why not, when !ok
} ReportFit;

typedef struct {
    Db *db;
    const Analysis *an;
    const ReportOptions *o;
    FILE *out;
    ReportFit fits[FIT_N_LAWS]; // by FitLaw
    int n_cinf;
    double c_inf[AN_MAX_C_INF];
    char c_inf_why[200];
    AnCompare *cmp[AN_MAX_C_INF];
    size_t n_cmp[AN_MAX_C_INF];
    char cmp_why[400];          // why there is no comparison, or ""
    int n_notes;
    char notes[16][400];
} Report;

static void note(Report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(Report *r, const char *fmt, ...) {
    if (r->n_notes >= (int)ARRAY_LEN(r->notes)) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->n_notes++], sizeof r->notes[0], fmt, ap);
    va_end(ap);
}

static long k_max_of(const Analysis *an) {
    long k = 0;
    for (int j = 0; j < an->n_k; j++) k = MAX(k, an->k[j]);
    return k;
}

static void sci(double v, char *buf, size_t n) {
    if (!isfinite(v))
        snprintf(buf, n, "–");
    else
        snprintf(buf, n, "%.3g", v);
}

// A probability in the tables and sentences: 4 decimals (the database holds the exact value).
static void prob(double v, char *buf, size_t n) {
    if (!isfinite(v))
        snprintf(buf, n, "–");
    else
        snprintf(buf, n, "%.4f", v);
}

// ---------------------------------------------------------------------------------------------
// Gathering.

static void gather_fits(Report *r) {
    FitOptions fo;
    fit_options_default(&fo);
    fo.bootstrap = r->o->bootstrap;
    fo.seed = r->o->seed;
    fo.threads = r->o->threads;
    for (int l = 0; l < FIT_N_LAWS; l++) {
        ReportFit *f = &r->fits[l];
        f->law = (FitLaw)l;
        int fresh;
        if (analysis_fit(r->db, r->an, f->law, &fo, &f->fit, &f->fit_id, &fresh) != 0) {
            snprintf(f->why, sizeof f->why, "%s", err_msg());
            continue;
        }
        if (!f->fit.converged) {
            snprintf(f->why, sizeof f->why, "the fit (stored as fit %ld) did not converge (%s)", f->fit_id,
                     fit_lbfgs_reason(f->fit.lbfgs_status));
            fit_result_free(&f->fit);
            continue;
        }
        f->ok = 1;
    }
}

static int gather_comparisons(Report *r) {
    const Analysis *an = r->an;
    r->n_cinf = analysis_c_inf(an, r->c_inf, AN_MAX_C_INF, r->c_inf_why, sizeof r->c_inf_why);
    int evaluated = 0;
    for (size_t i = 0; i < an->n_runs; i++) evaluated |= an->runs[i].eval_id >= 0;
    if (!an->has_eval)
        snprintf(r->cmp_why, sizeof r->cmp_why, "the sweep's task (%s) has no evaluation problems", an->spec.task.name);
    else if (an->spec.budgets.kind != BUDGET_FLOPS)
        snprintf(r->cmp_why, sizeof r->cmp_why,
                 "the sweep's budgets are not FLOP budgets (budgets.train_flops), so no two runs share a training cost");
    else if (!evaluated)
        snprintf(r->cmp_why, sizeof r->cmp_why, "no done run has a reference eval");
    if (r->cmp_why[0]) return 0;
    AnCompareOptions co;
    analysis_compare_defaults(&co);
    co.seed = r->o->seed;
    for (int c = 0; c < r->n_cinf; c++)
        if (analysis_compare_cached(r->o->compare_cache, r->db, an, r->c_inf[c], &co, &r->cmp[c], &r->n_cmp[c]) != 0)
            return -1;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Sections.

static void write_intro(Report *r) {
    const Analysis *an = r->an;
    const Spec *s = &an->spec;
    FILE *out = r->out;
    char *created = NULL;
    if (db_get_meta(r->db, "created_at", &created) != 0) created = NULL;
    fprintf(out, "# T² report: sweep %s\n\n", s->name);
    fprintf(out, "Database `%s`%s%s; report by t2 %s (git %s).\n\n", an->path, created ? ", created " : "",
            created ? created : "", t2_version(), t2_git_sha());
    free(created);
    const size_t *st = an->n_by_status;
    fprintf(out,
            "- Runs: %zu done of %zu (%zu pending, %zu running, %zu diverged, %zu failed); the analysis uses the done "
            "runs only.\n",
            st[DB_RUN_DONE], an->n_grid, st[DB_RUN_PENDING], st[DB_RUN_RUNNING], st[DB_RUN_DIVERGED], st[DB_RUN_FAILED]);
    fprintf(out, "- Task: `%s`", s->task.name);
    if (an->has_eval) fprintf(out, ", %ld evaluation problems", s->task.eval_problems);
    fprintf(out, "; %d models, %d training budgets, %d seed%s.\n", s->n_family, s->budgets.n, s->train.n_seeds,
            s->train.n_seeds == 1 ? "" : "s");
    if (an->has_eval)
        fprintf(out,
                "- Reference evaluation: temperature %g, top-p %g, %ld samples per problem, at most %d new tokens; "
                "k = ",
                an->key.temperature, an->key.top_p, an->key.n_samples, an->key.max_new_tokens);
    for (int j = 0; j < an->n_k; j++) fprintf(out, "%s%ld", j ? ", " : "", an->k[j]);
    if (an->has_eval) fprintf(out, ".\n");
    fprintf(out, "- Loss variable of the chinchilla law, the Chinchilla pick and T² stage 1: `runs.%s`, %s%s%s.\n\n",
            an->loss_column,
            strcmp(an->loss_column, "answer_loss") == 0 ? "the held-out loss on answer tokens and EOS"
            : strcmp(an->loss_column, "val_loss") == 0  ? "the held-out loss on every scored token of the validation rows"
                                                        : "the mean training loss of the last steps",
            an->loss_note[0] ? "; not the one asked for: " : "", an->loss_note);
}

static void run_brief(const Analysis *an, int run_id, char *buf, size_t n) {
    const AnRun *x = analysis_run(an, run_id);
    char model[64];
    analysis_model_label(x, model, sizeof model);
    snprintf(buf, n, "run %d (%s, N = %.0f, D/N = %.1f)", run_id, model, x->N, x->D / x->N);
}

// Measured inference cost of one query answered with k samples: the prompt is prefilled once
// and shared by the k samples actually drawn (not by all n the eval drew), then each sample is
// decoded. Per query token, the counterpart of the law's 2Nk: k times the decode FLOPs per
// generated token.
static double prefill_per_query(const AnRun *x) { return x->prefill_flops / (double)x->n_problems; }
static double decode_per_query(const AnRun *x, long k) {
    return x->decode_flops / (double)(x->n_problems * x->n_samples) * (double)k;
}
static double decode_per_query_token(const AnRun *x, long k) { return x->decode_flops / x->gen_tokens * (double)k; }

static void compute_of(const AnRun *x, long k, FILE *out) {
    char train[32], per_token[32], measured_token[32], per_query[32], prefill[32];
    sci(x->train_flops, train, sizeof train);
    sci(2 * x->N * (double)k, per_token, sizeof per_token);
    sci(decode_per_query_token(x, k), measured_token, sizeof measured_token);
    sci(prefill_per_query(x) + decode_per_query(x, k), per_query, sizeof per_query);
    sci(prefill_per_query(x), prefill, sizeof prefill);
    fprintf(out, "run %d trained on %s FLOPs (exact count) and spends 2Nk = %s FLOPs per query token (measured: %s "
                 "FLOPs per query token decoding its %ld samples; %s FLOPs per query with the prompt's prefill of %s "
                 "shared by those %ld samples)",
            x->run_id, train, per_token, measured_token, k, per_query, prefill, k);
}

static void write_compute(Report *r, const AnCompare *c) {
    const AnRun *t = analysis_run(r->an, c->t2.run_id);
    const AnRun *h = c->chinchilla.run_id >= 0 ? analysis_run(r->an, c->chinchilla.run_id) : NULL;
    fprintf(r->out, "  Compute: ");
    compute_of(t, c->t2.k, r->out);
    if (h && h != t) {
        fprintf(r->out, "; ");
        compute_of(h, c->chinchilla.k, r->out);
    }
    fprintf(r->out, ".\n");
}

// A signed difference of probabilities: 4 decimals, or 2 significant digits below 5e-5 (a real
// difference that small must not print as +0.0000 next to an interval that excludes 0).
static void signed_prob(double v, char *buf, size_t n) {
    if (v != 0 && fabs(v) < 5e-5)
        snprintf(buf, n, "%+.1e", v);
    else
        snprintf(buf, n, "%+.4f", v);
}

// "+0.0412 [+0.0123, +0.0710]": a paired difference with its interval.
static void diff_text(double d, const double *ci, char *buf, size_t n) {
    char a[16], b[16], c[16];
    if (!isfinite(d)) {
        snprintf(buf, n, "–");
        return;
    }
    signed_prob(d, a, sizeof a);
    if (!isfinite(ci[0])) {
        snprintf(buf, n, "%s", a);
        return;
    }
    signed_prob(ci[0], b, sizeof b);
    signed_prob(ci[1], c, sizeof c);
    snprintf(buf, n, "%s [%s, %s]", a, b, c);
}

static int has_diff(const AnCompare *c) { return isfinite(c->diff) && isfinite(c->ci95[0]); }

// The verdict on one metric, only as strong as the interval allows.
static const char *verdict(double d, int significant) {
    if (!significant) return "no difference these data can resolve";
    return d > 0 ? "small model plus sampling is ahead" : "small model plus sampling is behind";
}

static void pick_text(const Report *r, const AnPick *p, char *buf, size_t n) {
    if (p->n_runs > 1) {
        const AnRun *x = analysis_run(r->an, p->run_ids[0]);
        char model[64];
        analysis_model_label(x, model, sizeof model);
        snprintf(buf, n, "%s (N = %.0f, runs", model, x->N);
        for (int i = 0; i < p->n_runs; i++) {
            size_t len = strlen(buf);
            snprintf(buf + len, n - len, "%s %d", i ? "," : "", p->run_ids[i]);
        }
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, ", seeds pooled)");
    } else {
        run_brief(r->an, p->run_id, buf, n);
    }
}

static void write_headline_level(Report *r, const AnCompare *c) {
    FILE *out = r->out;
    char ct[32], ci[32], brief[200], p1[16], m1[16], p2[16], m2[16], dp[64], dm[64];
    sci(c->c_train, ct, sizeof ct);
    sci(c->c_inf, ci, sizeof ci);
    fprintf(out, "- **C_train = %s FLOPs, C_inf = %s FLOPs per query token%s.** ", ct, ci,
            c->seed_idx < 0 && r->an->spec.train.n_seeds > 1 ? ", seeds pooled" : "");
    if (c->t2.run_id < 0) {
        fprintf(out, "No comparison: %s.\n", c->note);
        return;
    }
    pick_text(r, &c->t2, brief, sizeof brief);
    prob(c->t2.pass, p1, sizeof p1);
    prob(c->t2.maj, m1, sizeof m1);
    fprintf(out, "T² pick (the best sampled pass@k at its affordable k): %s with k = %ld%s: pass@%ld = %s, maj@%ld = %s. ",
            brief, c->t2.k, c->t2.capped ? " (capped at the samples drawn; the budget affords more)" : "", c->t2.k, p1,
            c->t2.k, m1);
    const AnPick *h = &c->chinchilla;
    if (h->run_id < 0) {
        fprintf(out, "No comparison of the picks: %s.\n", c->note);
        return;
    }
    pick_text(r, h, brief, sizeof brief);
    prob(h->pass, p2, sizeof p2);
    prob(h->maj, m2, sizeof m2);
    if (h->family_idx == c->t2.family_idx) {
        fprintf(out, "The Chinchilla pick (the lowest %s of this budget) is the same model: here sampling does not "
                     "favour a different model. ",
                r->an->loss_column);
    } else {
        fprintf(out, "Chinchilla pick (the lowest %s of this budget): %s with k = %ld%s: pass@%ld = %s, maj@%ld = %s. ",
                r->an->loss_column, brief, h->k, h->capped ? " (capped)" : "", h->k, p2, h->k, m2);
        diff_text(c->diff, c->ci95, dp, sizeof dp);
        diff_text(c->maj_diff, c->maj_ci95, dm, sizeof dm);
        fprintf(out, "Paired difference (T² − Chinchilla, 95%% bootstrap over %ld problems%s): pass@k %s, %s; "
                     "maj@k %s, %s. ",
                c->n_problems, c->seed_idx < 0 && r->an->spec.train.n_seeds > 1 ? " and seeds" : "", dp,
                verdict(c->diff, c->significant), dm, verdict(c->maj_diff, c->maj_significant));
    }
    prob(c->chinchilla_1.pass, p2, sizeof p2);
    fprintf(out, "Answering once (k = 1), the Chinchilla pick scores pass@1 = %s.\n", p2);
    if (c->t2.n_runs == 1) write_compute(r, c);
}

// The comparison of every budget level, seed and C_inf as a table.
static void write_compare_table(Report *r) {
    FILE *out = r->out;
    int seeds = r->an->spec.train.n_seeds > 1;
    fprintf(out, "\n| C_train | C_inf |%s T² pick: run, k | pass@k | maj@k | Chinchilla pick: run, k | pass@k | maj@k | "
                 "pass@k difference [95%%] | maj@k difference [95%%] | Chinchilla k = 1: pass@1 |\n|---|---|%s---|---|---|"
                 "---|---|---|---|---|---|\n",
            seeds ? " seed |" : "", seeds ? "---|" : "");
    for (int c = 0; c < r->n_cinf; c++)
        for (size_t i = 0; i < r->n_cmp[c]; i++) {
            const AnCompare *x = &r->cmp[c][i];
            char ct[32], ci[32], a[16], b[16], d[16], e[16], f[16], dp[64], dm[64];
            sci(x->c_train, ct, sizeof ct);
            sci(x->c_inf, ci, sizeof ci);
            prob(x->t2.pass, a, sizeof a);
            prob(x->t2.maj, b, sizeof b);
            prob(x->chinchilla.pass, d, sizeof d);
            prob(x->chinchilla.maj, e, sizeof e);
            prob(x->chinchilla_1.pass, f, sizeof f);
            diff_text(x->diff, x->ci95, dp, sizeof dp);
            diff_text(x->maj_diff, x->maj_ci95, dm, sizeof dm);
            fprintf(out, "| %s | %s | ", ct, ci);
            if (seeds) {
                if (x->seed_idx >= 0) fprintf(out, "%ld | ", x->seed);
                else fprintf(out, "pooled | ");
            }
            if (x->t2.run_id >= 0)
                fprintf(out, "%d%s, %ld%s | %s | %s | ", x->t2.run_id, x->t2.n_runs > 1 ? "…" : "", x->t2.k,
                        x->t2.capped ? "+" : "", a, b);
            else
                fprintf(out, "– | – | – | ");
            if (x->chinchilla.run_id >= 0)
                fprintf(out, "%d%s, %ld%s | %s | %s | ", x->chinchilla.run_id, x->chinchilla.n_runs > 1 ? "…" : "",
                        x->chinchilla.k, x->chinchilla.capped ? "+" : "", d, e);
            else
                fprintf(out, "– | – | – | ");
            fprintf(out, "%s%s | %s%s | %s |\n", dp, x->significant ? " **" : "", dm, x->maj_significant ? " **" : "", f);
        }
    fprintf(out, "\nk+: capped at the %ld samples drawn per problem (the inference budget affords more). ** the 95%% "
                 "interval excludes 0. Differences are T² pick − Chinchilla pick on the same problems%s.\n",
            r->an->key.n_samples, seeds ? "; pooled rows (runs marked …) average the seeds and resample seeds and problems" : "");
    for (int c = 0; c < r->n_cinf; c++)
        for (size_t i = 0; i < r->n_cmp[c]; i++) {
            const AnCompare *x = &r->cmp[c][i];
            char ct[32], ci[32];
            sci(x->c_train, ct, sizeof ct);
            sci(x->c_inf, ci, sizeof ci);
            if (x->note[0] && x->summary) fprintf(out, "- C_train %s, C_inf %s: %s.\n", ct, ci, x->note);
        }
}

// The answer in one paragraph, from the significant comparisons only.
static void write_answer(Report *r) {
    FILE *out = r->out;
    int n = 0, ahead = 0, behind = 0, same = 0, unresolved = 0;
    char list_ahead[600] = "", list_behind[600] = "";
    for (int c = 0; c < r->n_cinf; c++)
        for (size_t i = 0; i < r->n_cmp[c]; i++) {
            const AnCompare *x = &r->cmp[c][i];
            if (!x->summary || x->t2.run_id < 0 || x->chinchilla.run_id < 0) continue;
            n++;
            if (x->t2.family_idx == x->chinchilla.family_idx) {
                same++;
                continue;
            }
            if (!has_diff(x) || !x->significant) {
                unresolved++;
                continue;
            }
            char *list = x->diff > 0 ? list_ahead : list_behind;
            size_t cap = sizeof list_ahead, len = strlen(list);
            char ct[32], ci[32];
            sci(x->c_train, ct, sizeof ct);
            sci(x->c_inf, ci, sizeof ci);
            char d[16];
            signed_prob(x->diff, d, sizeof d);
            if (len + 64 < cap) snprintf(list + len, cap - len, "%s(%s, %s: %s)", len ? ", " : "", ct, ci, d);
            if (x->diff > 0) ahead++;
            else behind++;
        }
    fprintf(out, "**Answer.** ");
    if (n == 0) {
        fprintf(out, "No budget has two picks to compare (see the notes below the table).\n\n");
        return;
    }
    fprintf(out, "Of %d (C_train, C_inf) comparisons, ", n);
    if (ahead) fprintf(out, "small model plus sampling beats the Chinchilla pick on pass@k, with a 95%% interval that "
                            "excludes 0, in %d (C_train, C_inf, difference): %s; ", ahead, list_ahead);
    if (behind) fprintf(out, "it is behind, with an interval that excludes 0, in %d: %s; ", behind, list_behind);
    if (unresolved)
        fprintf(out, "in %d the picks differ but show no difference these data can resolve; ", unresolved);
    if (same) fprintf(out, "in %d the two picks are the same model, so there is nothing to compare; ", same);
    fprintf(out, "%s\n\n", ahead == 0 && behind == 0 ? "no comparison resolves a difference." : "the rest resolve none.");
}

static void write_headline(Report *r) {
    FILE *out = r->out;
    fprintf(out, "## Headline: equal total compute\n\n");
    if (r->cmp_why[0]) {
        fprintf(out, "No measured comparison: %s.\n\n", r->cmp_why);
        return;
    }
    fprintf(out,
            "Runs of one training budget spent the same C_train; under an inference budget of C_inf FLOPs per query "
            "token (T²'s accounting, 2Nk ≤ C_inf) a run of N parameters draws k = ⌊C_inf / 2N⌋ samples (at most the "
            "%ld drawn), so every run of a budget costs the same in total, however many queries are served. The T² "
            "pick is the run with the best sampled pass@k at its k, the Chinchilla pick the run with the lowest `%s`. "
            "Both are scored on the same problems from the stored samples with t2's estimators (unbiased pass@k, "
            "expected maj@k over k-subsets, ties wrong), and their difference gets a 95%% interval from %ld bootstrap "
            "resamples of the problems%s (`t2 compare` prints the same). A difference counts only when its interval "
            "excludes 0. Inference budgets: %s.\n\n",
            r->an->key.n_samples, r->an->loss_column, r->cmp[0] && r->n_cmp[0] ? r->cmp[0][0].n_resamples : 0L,
            r->an->spec.train.n_seeds > 1 ? " (and of the seeds, for the pooled rows)" : "", r->c_inf_why);
    if (r->an->spec.train.n_seeds == 1)
        fprintf(out, "With one training seed, an interval covers the choice of problems and samples only: it says "
                     "whether these trained models differ, not whether models of the same sizes trained again would "
                     "(a seed moves a small model's loss too). Two or more `train.seeds` add pooled rows whose "
                     "intervals resample the seeds as well.\n\n");
    write_answer(r);
    // The largest budget level: the most compute the sweep spent.
    for (int c = 0; c < r->n_cinf; c++) {
        const AnCompare *best = NULL;
        for (size_t i = 0; i < r->n_cmp[c]; i++)
            if (r->cmp[c][i].summary && (!best || r->cmp[c][i].c_train > best->c_train)) best = &r->cmp[c][i];
        if (best) write_headline_level(r, best);
    }
    write_compare_table(r);
    fprintf(out, "\n");
}

static void write_runs(Report *r) {
    const Analysis *an = r->an;
    FILE *out = r->out;
    long K = k_max_of(an);
    fprintf(out, "## Runs\n\n| run | model | N | D | D/N | train FLOPs | final loss | val loss | answer loss |");
    if (an->has_eval) fprintf(out, " pass@1 | pass@%ld | maj@%ld | analytic pass@1 | gold NLL |", K, K);
    fprintf(out, "\n|---|---|---|---|---|---|---|---|---|%s\n", an->has_eval ? "---|---|---|---|---|" : "");
    int j1 = -1, jK = -1;
    for (int j = 0; j < an->n_k; j++) {
        if (an->k[j] == 1) j1 = j;
        if (an->k[j] == K) jK = j;
    }
    for (size_t i = 0; i < an->n_runs; i++) {
        const AnRun *x = &an->runs[i];
        char model[64], flops[32], v[5][16];
        analysis_model_label(x, model, sizeof model);
        sci(x->train_flops, flops, sizeof flops);
        fprintf(out, "| %d | %s | %.0f | %.0f | %.1f | %s | %.4f | %.4f | %.4f |", x->run_id, model, x->N, x->D,
                x->D / x->N, flops, x->final_loss, x->val_loss, x->answer_loss);
        if (an->has_eval) {
            prob(j1 >= 0 ? x->pass[j1] : NAN, v[0], 16);
            prob(jK >= 0 ? x->pass[jK] : NAN, v[1], 16);
            prob(jK >= 0 ? x->maj[jK] : NAN, v[2], 16);
            prob(j1 >= 0 ? x->pass_analytic[j1] : NAN, v[3], 16);
            if (isfinite(x->gold_nll))
                snprintf(v[4], 16, "%.4f", x->gold_nll);
            else
                snprintf(v[4], 16, "–");
            fprintf(out, " %s | %s | %s | %s | %s |", v[0], v[1], v[2], v[3], v[4]);
        }
        fprintf(out, "\n");
    }
    fprintf(out, "\nN = runs.n_params (embedding included), D = runs.train_tokens, train FLOPs = runs.train_flops (exact "
                 "count); losses in nats per scored token: final = mean training loss of the last steps, val = "
                 "held-out validation rows, answer = held-out answer tokens and EOS");
    if (an->has_eval)
        fprintf(out, "; pass and maj from `metrics` (sampled), analytic pass@1 = mean of exp(gold.logprob), gold NLL = "
                     "mean of −gold.logprob (nats per answer)");
    fprintf(out, ".\n\n");
}

static void write_params(FILE *out, const FitParam *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!p[i].identified) {
            fprintf(out, "| %s | not identified by these data (%s) | – |\n", p[i].name, p[i].why);
            continue;
        }
        fprintf(out, "| %s | %.6g |", p[i].name, p[i].value);
        if (isfinite(p[i].lo))
            fprintf(out, " [%.4g, %.4g] |\n", p[i].lo, p[i].hi);
        else
            fprintf(out, " – |\n");
    }
}

static const char *const LAW_FORMULA[FIT_N_LAWS] = {
    "L(N, D) = E + A/N^α + B/D^β on the loss named above (Hoffmann et al. Approach 3: Huber δ = 1e-3 on log L)",
    "E_i[−log pass@k_i] = E + A/N^α + B/D^β + G/k^γ on the gold-probability pass@k (T² Approach 1, least squares)",
    "pass@k = 1 − B(a, b+k)/B(a, b), accuracy ~ Beta(μν, (1−μ)ν), μ = θ2/(1 + exp(θ1(L̂ − θ0))), ν = exp(θ3 + θ4 L̂); "
    "L̂(N, D) on the gold NLL (T² Approach 2)",
    "pass@k = exp(a k^b) per run on sampled pass@k (Brown et al. 2024)",
};

static void write_fit(Report *r, const ReportFit *f) {
    FILE *out = r->out;
    fprintf(out, "### %s\n\n%s.\n\n", fit_law_name(f->law), LAW_FORMULA[f->law]);
    if (!f->ok) {
        fprintf(out, "Not fitted: %s.\n\n", f->why);
        return;
    }
    const FitResult *x = &f->fit;
    fprintf(out, "Fit %ld in `fits`: %zu points, objective %.6g, converged", f->fit_id, x->n_points, x->objective);
    if (x->at_bound[0])
        fprintf(out, " with %s at a bound of %s range (the data push past it)", x->at_bound,
                strchr(x->at_bound, ',') ? "their" : "its");
    if (x->n_boot > 0 && x->law == FIT_COVERAGE)
        fprintf(out, "; 95%% percentile intervals from %ld bootstrap resamples (of %s), each run refitted on its own "
                     "(a run's interval uses the resamples whose refit of that run converged).\n\n",
                x->n_boot, x->resample[0] ? x->resample : "the data");
    else if (x->n_boot > 0)
        fprintf(out, "; 95%% percentile intervals from the %ld of %ld bootstrap resamples (of %s) whose refits "
                     "converged.\n\n",
                x->n_boot_used, x->n_boot, x->resample[0] ? x->resample : "the data");
    else
        fprintf(out, "; no bootstrap (t2 report --bootstrap B or t2 fit --db ... --bootstrap B adds intervals).\n\n");
    if (x->n_boot > 0 && x->law != FIT_COVERAGE && (double)x->n_boot_used < 0.5 * (double)x->n_boot)
        fprintf(out, "**Most bootstrap refits failed (%ld of %ld): these data do not support this law's intervals, and "
                     "its parameters count as not identified.**\n\n",
                x->n_boot - x->n_boot_used, x->n_boot);
    if (x->n_not_identified)
        fprintf(out, "%zu of its %zu parameters are not identified by these data: no value or interval is given for "
                     "them.\n\n",
                x->n_not_identified, x->n_params);
    fprintf(out, "| parameter | value | 95%% interval |\n|---|---|---|\n");
    write_params(out, x->params, x->n_params);
    write_params(out, x->alloc, x->n_alloc);
    fprintf(out, "\n");
    if (x->n_kres) {
        fprintf(out, "Residuals by k (observed − fitted %s; where the additive form in k fails, they drift with k):\n\n"
                     "| k | runs | mean | rms |\n|---|---|---|---|\n",
                x->law == FIT_T2_LOSS ? "E[−log pass@k]" : "pass@k");
        for (size_t j = 0; j < x->n_kres; j++)
            fprintf(out, "| %g | %zu | %+.4f | %.4f |\n", x->kres[j].k, x->kres[j].n, x->kres[j].mean, x->kres[j].rms);
        fprintf(out, "\n");
    }
}

static void write_fits(Report *r) {
    fprintf(r->out, "## Fitted laws\n\n");
    static const FitLaw order[] = {FIT_CHINCHILLA, FIT_T2_LOSS, FIT_T2_ACC, FIT_COVERAGE};
    for (size_t i = 0; i < ARRAY_LEN(order); i++) write_fit(r, &r->fits[order[i]]);
}

static void alloc_cell(FILE *out, double v, const double *ci) {
    if (isfinite(ci[0]))
        fprintf(out, " %.4g [%.3g, %.3g] |", v, ci[0], ci[1]);
    else
        fprintf(out, " %.4g |", v);
}

static void write_alloc_row(FILE *out, const char *label, const Allocation *a, const char *metric) {
    // Notes go inside the label cell: a cell past the header's columns is not shown.
    fprintf(out, "| %s%s%s |", label, a->feasible ? "" : " (k < 1: infeasible)",
            a->at_bound ? " (at the end of the N search: the law has no interior optimum)" : "");
    alloc_cell(out, a->N, a->N_ci);
    alloc_cell(out, a->D, a->D_ci);
    fprintf(out, " %.4g |", a->tokens_per_param);
    alloc_cell(out, a->k, a->k_ci);
    fprintf(out, " %s", metric);
    alloc_cell(out, a->value, a->value_ci);
    fprintf(out, "\n");
}

// A law gives an allocation only when it converged and identifies every parameter its
// allocation depends on; why (len) says otherwise.
static int allocates(const ReportFit *f, char *why, size_t len) {
    if (!f->ok) {
        snprintf(why, len, "it could not be fitted (see above)");
        return 0;
    }
    char names[256];
    if (fit_allocation_unidentified(&f->fit, names, sizeof names) > 0) {
        snprintf(why, len, "its allocation depends on %s, which these data do not identify (`t2 optimize --force` "
                           "values it anyway)",
                 names);
        return 0;
    }
    return 1;
}

static int write_allocations(Report *r) {
    FILE *out = r->out;
    fprintf(out, "## Optimal allocations\n\n");
    const ReportFit *chin = &r->fits[FIT_CHINCHILLA];
    const ReportFit *laws[2] = {&r->fits[FIT_T2_ACC], &r->fits[FIT_T2_LOSS]};
    char why[2][400], chin_why[400];
    int use[2] = {allocates(laws[0], why[0], sizeof why[0]), allocates(laws[1], why[1], sizeof why[1])};
    int use_chin = allocates(chin, chin_why, sizeof chin_why);
    for (int l = 0; l < 2; l++)
        if (!use[l]) fprintf(out, "No allocation from %s: %s.\n\n", fit_law_name(laws[l]->law), why[l]);
    if (!use[0] && !use[1]) return 0;
    if (!use_chin && chin->ok)
        fprintf(out, "The Chinchilla choice comes from each law's own loss term: the chinchilla fit's %s.\n\n",
                chin_why + strlen("its "));
    fprintf(out,
            "What `t2 optimize` prints: the (N, D, k) that maximises the t2-acc law's pass@k (minimises t2-loss's "
            "E[−log pass@k]) under 6ND ≤ C_train and 2Nk ≤ C_inf, beside the Chinchilla choice: N*, D* from the %s's "
            "closed form, k = C_inf/2N*, valued under the same law. Intervals: 95%% percentiles over the fits' "
            "bootstrap resamples. Optima with k above the %ld samples measured extrapolate the laws in k "
            "(`t2 optimize --k-max %ld` caps k, as figures 5 and 6 do).\n\n",
            use_chin ? "chinchilla fit" : "law's own loss term", r->an->key.n_samples, r->an->key.n_samples);
    double c_train[AN_MAX_C_TRAIN];
    int n_train = analysis_c_train(r->an, c_train, AN_MAX_C_TRAIN);
    fprintf(out, "| choice | N | D | D/N | k | predicted |\n|---|---|---|---|---|---|\n");
    for (int t = 0; t < n_train; t++)
        for (int c = 0; c < r->n_cinf; c++)
            for (int l = 0; l < 2; l++) {
                if (!use[l]) continue;
                OptResult o;
                if (optimize_allocation(&laws[l]->fit, c_train[t], r->c_inf[c], &o) != 0 ||
                    (use_chin && optimize_chinchilla_from(&laws[l]->fit, &chin->fit, &o) != 0))
                    return -1;
                char ct[32], ci[32];
                sci(c_train[t], ct, sizeof ct);
                sci(r->c_inf[c], ci, sizeof ci);
                fprintf(out, "| **C_train %s, C_inf %s, %s** | | | | | |\n", ct, ci, fit_law_name(laws[l]->law));
                write_alloc_row(out, "T² optimum", &o.t2, o.metric);
                write_alloc_row(out, "Chinchilla", &o.chinchilla, o.metric);
            }
    fprintf(out, "\n");
    return 0;
}

static void write_figures(Report *r) {
    FILE *out = r->out;
    fprintf(out, "## Figures\n\n");
    if (!r->o->plots_link) {
        fprintf(out, "Not drawn: `t2 report --plots DIR` draws them beside the report (or `t2 plot --db %s --out DIR`).\n\n",
                r->an->path);
        return;
    }
    for (int i = 0; i < PLOT_N_FIGURES; i++)
        fprintf(out, "**Figure %d.** %s\n\n![figure %d](%s/%s.png)\n\n", i + 1, plot_figures[i].caption, i + 1,
                r->o->plots_link, plot_figures[i].name);
    fprintf(out, "SVG versions, the data and the gnuplot script of each figure are in `%s/`.\n\n", r->o->plots_link);
}

static void write_notes(Report *r) {
    const PlotNotes *pn = r->o->plot_notes;
    if (r->n_notes == 0 && (!pn || pn->n == 0)) return;
    fprintf(r->out, "## Notes\n\n");
    for (int i = 0; i < r->n_notes; i++) fprintf(r->out, "- %s\n", r->notes[i]);
    for (int i = 0; pn && i < pn->n; i++) fprintf(r->out, "- Figures: %s\n", pn->line[i]);
    fprintf(r->out, "\n");
}

// ---------------------------------------------------------------------------------------------

static void report_free(Report *r) {
    for (int l = 0; l < FIT_N_LAWS; l++)
        if (r->fits[l].ok) fit_result_free(&r->fits[l].fit);
    for (int c = 0; c < AN_MAX_C_INF; c++) free(r->cmp[c]);
}

int report_write(Db *db, const Analysis *an, const ReportOptions *o, FILE *out) {
    Report r = {.db = db, .an = an, .o = o, .out = out};
    gather_fits(&r);
    int rc = gather_comparisons(&r);
    if (rc == 0) {
        for (int l = 0; l < FIT_N_LAWS; l++)
            if (!r.fits[l].ok) note(&r, "%s not fitted: %s", fit_law_name((FitLaw)l), r.fits[l].why);
        write_intro(&r);
        write_headline(&r);
        write_runs(&r);
        write_fits(&r);
        rc = write_allocations(&r);
    }
    if (rc == 0) {
        write_figures(&r);
        write_notes(&r);
    }
    report_free(&r);
    return rc;
}
