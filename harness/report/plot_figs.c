// plot_figs.c — the six figures of docs/SPEC.md §7: each writes its data files and the variable header of
// its script (plot.c appends the template and runs gnuplot).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/optimize.h"
#include "report/plot_impl.h"
#include "util/util.h"

// Points on the fitted curves of figures 5 and 6.
#define CURVE_POINTS 60

// ---------------------------------------------------------------------------------------------
// Helpers.

typedef struct {
    double lo, hi;
} Span;

static Span span_empty(void) { return (Span){INFINITY, -INFINITY}; }

// Widen S by V; log axes take positive values only.
static void span_add(Span *s, double v, int log_axis) {
    if (!isfinite(v) || (log_axis && v <= 0)) return;
    s->lo = fmin(s->lo, v);
    s->hi = fmax(s->hi, v);
}

// Axis limits with a margin: a factor on log axes, a fraction of the span on linear ones.
// Returns the limits written.
static Span gp_span(FILE *f, const char *lo_name, const char *hi_name, Span s, int log_axis, double margin) {
    if (!(s.lo <= s.hi)) s = log_axis ? (Span){1, 10} : (Span){0, 1};
    Span out;
    if (log_axis) {
        if (s.hi <= s.lo * 1.0001) margin = fmax(margin, 2);
        out = (Span){s.lo / margin, s.hi * margin};
    } else {
        double pad = s.hi > s.lo ? margin * (s.hi - s.lo) : fmax(0.05 * fabs(s.hi), 0.05);
        out = (Span){s.lo - pad, s.hi + pad};
    }
    gp_number(f, lo_name, out.lo);
    gp_number(f, hi_name, out.hi);
    return out;
}

// Tics for a log axis over S: gnuplot puts its own at powers of ten only, none at all on an axis
// within one decade (a loss from 1.3 to 3). Under two decades, a list of round values instead:
// name = "('1.2' 1.2, '3·10^{10}' 3e10, ...)" for `eval "set ytics ".name`; "" keeps gnuplot's.
static void gp_log_tics(FILE *f, const char *name, Span s) {
    static const double sets[4][36] = {
        {1, 2, 5},
        {1, 1.5, 2, 3, 5, 7},
        {1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9},
        {1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2, 2.2, 2.4, 2.6, 2.8, 3, 3.2, 3.4, 3.6, 3.8, 4, 4.2, 4.4,
         4.6, 4.8, 5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5, 9, 9.5}};
    static const int sizes[4] = {3, 6, 15, 35};
    char list[1024] = "";
    if (s.lo > 0 && s.hi > s.lo && s.hi / s.lo < 100) {
        for (int set = 0; set < 4; set++) {
            size_t len = 0;
            int count = 0;
            for (int e = (int)floor(log10(s.lo)); e <= (int)floor(log10(s.hi)); e++)
                for (int m = 0; m < sizes[set]; m++) {
                    double v = sets[set][m] * pow(10, e);
                    if (v < s.lo || v > s.hi || len + 64 > sizeof list) continue;
                    char label[48];
                    sci_label(v, label, sizeof label);
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s' %.6g", count ? ", " : "(", label, v);
                    count++;
                }
            if (count >= 4 || set == 3) {
                if (count > 0) snprintf(list + len, sizeof list - len, ")");
                else list[0] = '\0';
                break;
            }
        }
    }
    fprintf(f, "%s = \"%s\"\n", name, list);
}

static char *dat_name(const char *name, const char *suffix) { return xasprintf("%s%s.dat", name, suffix); }

// The script file, with its header written.
static FILE *begin_script(Plot *p, const char *name, int width, int height) {
    char *file = xasprintf("%s.gp", name);
    FILE *f = plot_open(p, file);
    free(file);
    if (f) gp_header(f, p, name, width, height);
    return f;
}

static int end_script(Plot *p, FILE *f, const char *name) {
    char *file = xasprintf("%s.gp", name);
    int rc = plot_close(p, f, file);
    free(file);
    return rc;
}

static void model_label(const AnRun *r, char *out, size_t n) {
    char count[32], label[64];
    human_count(r->N, count, sizeof count);
    analysis_model_label(r, label, sizeof label);
    snprintf(out, n, "%s (N = %s)", label, count);
}

static void budget_label(const Analysis *a, int b, char *out, size_t n) {
    char v[48];
    sci_label(a->spec.budgets.values[b], v, sizeof v);
    switch (a->spec.budgets.kind) {
    case BUDGET_FLOPS: snprintf(out, n, "C = %s FLOPs", v); break;
    case BUDGET_TOKENS_PER_PARAM: snprintf(out, n, "D/N = %s", v); break;
    default: snprintf(out, n, "D = %s tokens", v); break;
    }
}

// The families that have done runs, in spec order; returns their count.
static int present_models(const Analysis *a, int fam[SPEC_MAX_FAMILY]) {
    int n = 0;
    for (int m = 0; m < a->spec.n_family; m++)
        for (size_t i = 0; i < a->n_runs; i++)
            if (a->runs[i].family_idx == m) {
                fam[n++] = m;
                break;
            }
    return n;
}

static const AnRun *first_of_model(const Analysis *a, int family_idx) {
    for (size_t i = 0; i < a->n_runs; i++)
        if (a->runs[i].family_idx == family_idx) return &a->runs[i];
    return NULL;
}

// The lowest-loss run of budget level B, or NULL.
static const AnRun *lowest_loss(const Analysis *a, int b) {
    const AnRun *best = NULL;
    for (size_t i = 0; i < a->n_runs; i++) {
        const AnRun *r = &a->runs[i];
        if (r->budget_idx == b && isfinite(r->loss) && (!best || r->loss < best->loss)) best = r;
    }
    return best;
}

static const AnRun *runs_sorted_N; // qsort context (single-threaded)
static int cmp_by_N(const void *x, const void *y) {
    double a = runs_sorted_N[*(const size_t *)x].N, b = runs_sorted_N[*(const size_t *)y].N;
    return (a > b) - (a < b);
}

static void free_strings(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

// The training budgets as FLOPs for x axes: the spec's values for FLOP budgets, else the runs' 6ND.
static Span budget_span(const Analysis *a) {
    Span s = span_empty();
    if (a->spec.budgets.kind == BUDGET_FLOPS)
        for (int b = 0; b < a->spec.budgets.n; b++) span_add(&s, a->spec.budgets.values[b], 1);
    else
        for (size_t i = 0; i < a->n_runs; i++) span_add(&s, a->runs[i].train_flops_6nd, 1);
    return s;
}

static double budget_flops(const Analysis *a, const AnRun *r) {
    return a->spec.budgets.kind == BUDGET_FLOPS ? a->spec.budgets.values[r->budget_idx] : r->train_flops_6nd;
}

// ---------------------------------------------------------------------------------------------
// Figure 1: training loss curves.

static int write_curve(Db *db, const AnRun *r, FILE *f, Span *x, Span *y) {
    TrainLogRow *log;
    size_t n;
    if (db_read_train_log(db, r->run_id, &log, &n) != 0) return -1;
    int rows = 0;
    for (size_t i = 0; i < n; i++) {
        double tokens = (double)log[i].tokens, loss = log[i].loss;
        if (!(tokens > 0) || !(loss > 0) || !isfinite(loss)) continue;
        fprintf(f, "%.17g %.17g %ld\n", tokens, loss, log[i].step);
        span_add(x, tokens, 1);
        span_add(y, loss, 1);
        rows++;
    }
    free(log);
    dat_end_block(f, rows, 3);
    return 0;
}

int fig_train_loss(Plot *p, const char *name) {
    const Analysis *a = p->an;
    char *file = dat_name(name, "");
    FILE *f = plot_open(p, file);
    int rc = f ? 0 : -1;
    Span x = span_empty(), y = span_empty();
    double *color = xcalloc(a->n_runs + 1, sizeof(double));
    char **title = xcalloc(a->n_runs + 1, sizeof(char *));
    for (size_t i = 0; i < a->n_runs && rc == 0; i++) {
        const AnRun *r = &a->runs[i];
        rc = write_curve(p->db, r, f, &x, &y);
        color[i] = r->family_idx % 10 + 1;
        char label[128] = "";
        if (first_of_model(a, r->family_idx) == r) model_label(r, label, sizeof label);
        title[i] = xstrdup(label);
    }
    if (f && plot_close(p, f, file) != 0) rc = -1;
    FILE *g = rc == 0 ? begin_script(p, name, 1150, 720) : NULL;
    if (g) {
        fprintf(g, "n_runs = %zu\n", a->n_runs);
        gp_numbers(g, "run_color", color, a->n_runs);
        gp_strings(g, "run_title", title, a->n_runs);
        gp_log_tics(g, "x_tics", gp_span(g, "x_min", "x_max", x, 1, 1.2));
        gp_log_tics(g, "y_tics", gp_span(g, "y_min", "y_max", y, 1, 1.05));
        rc = end_script(p, g, name);
    } else {
        rc = -1;
    }
    free(color);
    free_strings(title, a->n_runs);
    free(file);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Figure 2: IsoFLOP profiles.

int fig_isoflop(Plot *p, const char *name) {
    const Analysis *a = p->an;
    int nb = a->spec.budgets.n;
    char *file = dat_name(name, "");
    FILE *f = plot_open(p, file);
    if (!f) {
        free(file);
        return -1;
    }
    Span x = span_empty(), y = span_empty();
    size_t *order = xmalloc((a->n_runs + 1) * sizeof(size_t));
    char **label = xcalloc((size_t)nb + 1, sizeof(char *));
    for (int b = 0; b < nb; b++) {
        size_t m = 0;
        for (size_t i = 0; i < a->n_runs; i++)
            if (a->runs[i].budget_idx == b) order[m++] = i;
        runs_sorted_N = a->runs;
        qsort(order, m, sizeof(size_t), cmp_by_N);
        int rows = 0;
        for (size_t j = 0; j < m; j++) {
            const AnRun *r = &a->runs[order[j]];
            if (!isfinite(r->loss)) continue;
            fprintf(f, "%.17g %.17g %d\n", r->N, r->loss, r->run_id);
            span_add(&x, r->N, 1);
            span_add(&y, r->loss, 0);
            rows++;
        }
        dat_end_block(f, rows, 3);
        char buf[128];
        budget_label(a, b, buf, sizeof buf);
        label[b] = xstrdup(buf);
    }
    free(order);
    int rc = plot_close(p, f, file);
    FILE *g = rc == 0 ? begin_script(p, name, 1150, 720) : NULL;
    if (g) {
        static const char *const kinds[] = {"train_flops", "tokens_per_param", "tokens"};
        fprintf(g, "n_budgets = %d\n", nb);
        gp_numbers(g, "budget", a->spec.budgets.values, (size_t)nb);
        gp_strings(g, "budget_label", label, (size_t)nb);
        fprintf(g, "budget_kind = \"%s\"\n", kinds[a->spec.budgets.kind]);
        gp_loss_law(g, p);
        gp_log_tics(g, "x_tics", gp_span(g, "x_min", "x_max", x, 1, 1.6));
        gp_span(g, "y_min", "y_max", y, 0, 0.12);
        rc = end_script(p, g, name);
    } else {
        rc = -1;
    }
    free_strings(label, (size_t)nb);
    free(file);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Figure 3: loss against training FLOPs, with the compute-optimal frontier.

static int write_frontier(Plot *p, const char *name, Span *x, Span *y) {
    const Analysis *a = p->an;
    char *file = dat_name(name, "-frontier");
    FILE *f = plot_open(p, file);
    int rc = -1;
    if (f) {
        // Budget levels in increasing compute: by the runs' mean 6ND.
        int nb = a->spec.budgets.n, rows = 0;
        const AnRun **best = xcalloc((size_t)nb + 1, sizeof *best);
        for (int b = 0; b < nb; b++) best[b] = lowest_loss(a, b);
        for (int done = 0; done < nb; done++) {
            int next = -1;
            for (int b = 0; b < nb; b++)
                if (best[b] && (next < 0 || best[b]->train_flops_6nd < best[next]->train_flops_6nd)) next = b;
            if (next < 0) break;
            fprintf(f, "%.17g %.17g %d\n", best[next]->train_flops_6nd, best[next]->loss, best[next]->run_id);
            span_add(x, best[next]->train_flops_6nd, 1);
            span_add(y, best[next]->loss, 1);
            best[next] = NULL;
            rows++;
        }
        dat_end_block(f, rows, 3);
        free(best);
        rc = plot_close(p, f, file);
    }
    free(file);
    return rc;
}

int fig_loss_flops(Plot *p, const char *name) {
    const Analysis *a = p->an;
    int fam[SPEC_MAX_FAMILY], nm = present_models(a, fam);
    char *file = dat_name(name, "");
    FILE *f = plot_open(p, file);
    if (!f) {
        free(file);
        return -1;
    }
    Span x = span_empty(), y = span_empty();
    char **title = xcalloc((size_t)nm + 1, sizeof(char *));
    double *model_N = xcalloc((size_t)nm + 1, sizeof(double));
    for (int m = 0; m < nm; m++) {
        int rows = 0;
        for (size_t i = 0; i < a->n_runs; i++) {
            const AnRun *r = &a->runs[i];
            if (r->family_idx != fam[m] || !isfinite(r->loss)) continue;
            fprintf(f, "%.17g %.17g %d\n", r->train_flops_6nd, r->loss, r->run_id);
            span_add(&x, r->train_flops_6nd, 1);
            span_add(&y, r->loss, 1);
            rows++;
        }
        dat_end_block(f, rows, 3);
        char buf[128];
        const AnRun *r0 = first_of_model(a, fam[m]);
        model_label(r0, buf, sizeof buf);
        title[m] = xstrdup(buf);
        model_N[m] = r0->N;
    }
    int rc = plot_close(p, f, file);
    if (rc == 0) rc = write_frontier(p, name, &x, &y);
    FILE *g = rc == 0 ? begin_script(p, name, 1150, 720) : NULL;
    if (g) {
        fprintf(g, "n_models = %d\n", nm);
        gp_strings(g, "model_title", title, (size_t)nm);
        gp_numbers(g, "model_N", model_N, (size_t)nm);
        gp_loss_law(g, p);
        gp_log_tics(g, "x_tics", gp_span(g, "x_min", "x_max", x, 1, 2));
        gp_log_tics(g, "y_tics", gp_span(g, "y_min", "y_max", y, 1, 1.06));
        rc = end_script(p, g, name);
    } else {
        rc = -1;
    }
    free_strings(title, (size_t)nm);
    free(model_N);
    free(file);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Figure 4: pass@k and maj@k against k, one panel per model.

int fig_pass_k(Plot *p, const char *name) {
    const Analysis *a = p->an;
    int fam[SPEC_MAX_FAMILY], nm = present_models(a, fam);
    char *file = dat_name(name, "");
    FILE *f = plot_open(p, file);
    if (!f) {
        free(file);
        return -1;
    }
    size_t n = a->n_runs, block = 0;
    double *color = xcalloc(n + 1, sizeof(double)), *first = xcalloc((size_t)nm + 1, sizeof(double));
    double *count = xcalloc((size_t)nm + 1, sizeof(double));
    char **run_title = xcalloc(n + 1, sizeof(char *)), **model_title = xcalloc((size_t)nm + 1, sizeof(char *));
    for (int m = 0; m < nm; m++) {
        first[m] = (double)block;
        for (size_t i = 0; i < n; i++) { // runs of a model are in budget order (grid order)
            const AnRun *r = &a->runs[i];
            if (r->family_idx != fam[m]) continue;
            int rows = 0;
            // Sampled pass@k with its 95% interval over a bootstrap of the problems.
            for (int j = 0; j < a->n_k && r->eval_id >= 0; j++, rows++) {
                double ci[2];
                analysis_pass_ci(a, r, a->k[j], PLOT_BOOTSTRAP, seed_derive(0x4F16, (uint64_t)r->run_id, (uint64_t)j, 0),
                                 ci);
                fprintf(f, "%ld %.17g %.17g %.17g %.17g %.17g\n", a->k[j], r->pass[j], r->maj[j], r->pass_analytic[j],
                        ci[0], ci[1]);
            }
            dat_end_block(f, rows, 6);
            char buf[128];
            budget_label(a, r->budget_idx, buf, sizeof buf);
            if (a->spec.train.n_seeds > 1)
                snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ", seed %ld", r->seed);
            color[block] = r->budget_idx % 10 + 1;
            run_title[block] = xstrdup(buf);
            block++;
        }
        count[m] = (double)block - first[m];
        char buf[128];
        model_label(first_of_model(a, fam[m]), buf, sizeof buf);
        model_title[m] = xstrdup(buf);
    }
    int rc = plot_close(p, f, file);
    int cols = MIN(3, MAX(nm, 1)), rows = (MAX(nm, 1) + cols - 1) / cols;
    FILE *g = rc == 0 ? begin_script(p, name, 440 * cols + 80, 380 * rows + 90) : NULL;
    if (g) {
        long k_max = 1;
        for (int j = 0; j < a->n_k; j++) k_max = MAX(k_max, a->k[j]);
        fprintf(g, "n_models = %d\nn_runs = %zu\nrows = %d\ncols = %d\nk_max = %ld\n", nm, block, rows, cols, k_max);
        gp_string(g, "empty_note", a->has_eval ? "" : "no evaluation problems"); // shown in every panel
        gp_number(g, "temperature", a->key.temperature);
        gp_strings(g, "model_title", model_title, (size_t)nm);
        gp_numbers(g, "model_first", first, (size_t)nm);
        gp_numbers(g, "model_count", count, (size_t)nm);
        gp_numbers(g, "run_color", color, block);
        gp_strings(g, "run_title", run_title, block);
        rc = end_script(p, g, name);
    } else {
        rc = -1;
    }
    free(color);
    free(first);
    free(count);
    free_strings(run_title, block);
    free_strings(model_title, (size_t)nm);
    free(file);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Figure 5: the T² frontier at equal total compute.

// One measured point: C_train, pass@k, run, k, label, and pass@k's 95% interval over problems
// (and seeds) — NaN when there is none.
static void write_pick(FILE *f, double c_train, const AnPick *pk, int *rows) {
    if (pk->run_id < 0 || !isfinite(pk->pass)) return;
    fprintf(f, "%.17g %.17g %d %ld \"r%d k=%ld%s\" %.17g %.17g\n", c_train, pk->pass, pk->run_id, pk->k, pk->run_id,
            pk->k, pk->capped ? "+" : "", pk->pass_ci[0], pk->pass_ci[1]);
    (*rows)++;
}

// Comparison entries of one c_inf in increasing C_train.
static AnCompare *sorted_cmp(const Plot *p, int c) {
    size_t n = p->n_cmp[c];
    AnCompare *s = xmalloc((n ? n : 1) * sizeof(AnCompare));
    if (n) memcpy(s, p->cmp[c], n * sizeof(AnCompare));
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && s[j].c_train < s[j - 1].c_train; j--) {
            AnCompare t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    return s;
}

static int write_measured(Plot *p, const char *name) {
    char *file = dat_name(name, "");
    FILE *f = plot_open(p, file);
    int rc = -1;
    if (f) {
        for (int c = 0; c < p->n_cinf; c++) {
            AnCompare *s = sorted_cmp(p, c);
            int rows = 0;
            for (size_t i = 0; i < p->n_cmp[c]; i++) write_pick(f, s[i].c_train, &s[i].t2, &rows);
            dat_end_block(f, rows, 7);
            rows = 0;
            for (size_t i = 0; i < p->n_cmp[c]; i++) write_pick(f, s[i].c_train, &s[i].chinchilla, &rows);
            dat_end_block(f, rows, 7);
            free(s);
        }
        AnCompare *s = sorted_cmp(p, 0); // k = 1 does not depend on C_inf
        int rows = 0;
        for (size_t i = 0; i < p->n_cmp[0]; i++) write_pick(f, s[i].c_train, &s[i].chinchilla_1, &rows);
        dat_end_block(f, rows, 7);
        free(s);
        rc = plot_close(p, f, file);
    }
    free(file);
    return rc;
}

static double grid_at(Span s, int i, int n) { return exp(log(s.lo) + (log(s.hi) - log(s.lo)) * i / (n - 1)); }

static int write_fitted_frontier(Plot *p, const char *name, Span x) {
    char *file = dat_name(name, "-fit");
    FILE *f = plot_open(p, file);
    int rc = f ? 0 : -1;
    for (int c = 0; c < p->n_cinf && rc == 0; c++) {
        int rows = 0;
        for (int i = 0; i < CURVE_POINTS && p->has_fit[LAW_T2ACC]; i++) {
            double C = grid_at(x, i, CURVE_POINTS);
            OptResult o;
            if (optimize_allocation_capped(&p->fit[LAW_T2ACC], C, p->c_inf[c], p->k_max, &o) != 0) continue;
            if (p->has_fit[LAW_CHIN] && optimize_chinchilla_from(&p->fit[LAW_T2ACC], &p->fit[LAW_CHIN], &o) != 0)
                continue;
            fprintf(f, "%.17g %.17g %.17g\n", C, o.t2.value, o.chinchilla.feasible ? o.chinchilla.value : NAN);
            rows++;
        }
        dat_end_block(f, rows, 3);
    }
    if (f && plot_close(p, f, file) != 0) rc = -1;
    free(file);
    return rc;
}

int fig_frontier(Plot *p, const char *name) {
    Span x = budget_span(p->an);
    if (x.lo <= x.hi) {
        x.lo /= 2;
        x.hi *= 2;
    }
    int rc = write_measured(p, name);
    if (rc == 0) rc = write_fitted_frontier(p, name, x);
    FILE *g = rc == 0 ? begin_script(p, name, 1250, 720) : NULL;
    if (!g) return -1;
    char **label = xcalloc((size_t)p->n_cinf + 1, sizeof(char *));
    for (int c = 0; c < p->n_cinf; c++) {
        char buf[48];
        sci_label(p->c_inf[c], buf, sizeof buf);
        label[c] = xstrdup(buf);
    }
    fprintf(g, "n_cinf = %d\n", p->n_cinf);
    gp_strings(g, "cinf_label", label, (size_t)p->n_cinf);
    fprintf(g, "has_fit = %d\n", p->has_fit[LAW_T2ACC]);
    gp_number(g, "k_max", p->k_max);
    gp_string(g, "fit_note", p->has_fit[LAW_T2ACC] ? "" : "; no t2-acc curves (no converged fit that identifies its parameters)");
    gp_string(g, "measured_note", p->cmp[0] ? "; labels: run, k (+: capped at n_samples)" : "; no measured comparison");
    const char *empty = "";
    if (!p->an->has_eval)
        empty = "no pass@k: the sweep's task has no evaluation problems";
    else if (!p->cmp[0] && !p->has_fit[LAW_T2ACC])
        empty = "no FLOP budgets to compare at and no t2-acc fit to draw";
    gp_string(g, "empty_note", empty);
    gp_log_tics(g, "x_tics", gp_span(g, "x_min", "x_max", x, 1, 1));
    free_strings(label, (size_t)p->n_cinf);
    return end_script(p, g, name);
}

// ---------------------------------------------------------------------------------------------
// Figure 6: compute-optimal N and tokens per parameter against the training budget.

// An optimum more than a decade outside the model sizes that were trained extrapolates the law
// beyond anything it was fitted on (a degenerate fit can put it at a handful of parameters):
// the curve is not drawn there.
#define PLOT_N_EXTRAPOLATION 10.0

static Span model_span(const Analysis *a) {
    Span s = span_empty();
    for (size_t i = 0; i < a->n_runs; i++) span_add(&s, a->runs[i].N, 1);
    return s;
}

static void write_optimum_curve(FILE *f, const FitResult *fit, double c_inf, double k_max, Span x, Span n_fit,
                                Span *ny, Span *ry) {
    int rows = 0;
    for (int i = 0; fit && i < CURVE_POINTS; i++) {
        double C = grid_at(x, i, CURVE_POINTS);
        OptResult o;
        if (optimize_allocation_capped(fit, C, c_inf, k_max, &o) != 0) continue;
        if (o.t2.at_bound || o.t2.N < n_fit.lo / PLOT_N_EXTRAPOLATION || o.t2.N > n_fit.hi * PLOT_N_EXTRAPOLATION) {
            // no interior optimum, or far outside the models trained: a gap (NaN breaks the line)
            fprintf(f, "%.17g NaN NaN NaN\n", C);
            rows++;
            continue;
        }
        fprintf(f, "%.17g %.17g %.17g %.17g\n", C, o.t2.N, o.t2.tokens_per_param, o.t2.k);
        span_add(ny, o.t2.N, 1);
        span_add(ry, o.t2.tokens_per_param, 1);
        rows++;
    }
    dat_end_block(f, rows, 4);
}

static void write_run_point(FILE *f, double C, const AnRun *r, Span *ny, Span *ry, int *rows) {
    if (!r) return;
    fprintf(f, "%.17g %.17g %.17g %d\n", C, r->N, r->D / r->N, r->run_id);
    span_add(ny, r->N, 1);
    span_add(ry, r->D / r->N, 1);
    (*rows)++;
}

static void write_allocation_points(Plot *p, FILE *f, Span *ny, Span *ry) {
    const Analysis *a = p->an;
    int rows = 0;
    for (int b = 0; b < a->spec.budgets.n; b++) {
        const AnRun *r = lowest_loss(a, b);
        if (r) write_run_point(f, budget_flops(a, r), r, ny, ry, &rows);
    }
    dat_end_block(f, rows, 4);
    for (int c = 0; c < p->n_cinf; c++) {
        rows = 0;
        for (size_t i = 0; i < p->n_cmp[c]; i++)
            if (p->cmp[c][i].t2.run_id >= 0)
                write_run_point(f, p->cmp[c][i].c_train, analysis_run(a, p->cmp[c][i].t2.run_id), ny, ry, &rows);
        dat_end_block(f, rows, 4);
    }
}

int fig_allocation(Plot *p, const char *name) {
    Span x = budget_span(p->an), ny = span_empty(), ry = span_empty();
    if (x.lo <= x.hi) {
        x.lo /= 3;
        x.hi *= 30;
    } else {
        x = (Span){1e9, 1e15};
    }
    char *file = dat_name(name, "");
    FILE *f = plot_open(p, file);
    if (!f) {
        free(file);
        return -1;
    }
    int rows = 0;
    for (int i = 0; i < CURVE_POINTS && p->has_fit[LAW_CHIN]; i++, rows++) {
        const FitResult *r = &p->fit[LAW_CHIN];
        double C = grid_at(x, i, CURVE_POINTS), N, D;
        chinchilla_optimal(fit_get(r, "A"), fit_get(r, "B"), fit_get(r, "alpha"), fit_get(r, "beta"), C, &N, &D);
        fprintf(f, "%.17g %.17g %.17g\n", C, N, D / N);
        span_add(&ny, N, 1);
        span_add(&ry, D / N, 1);
    }
    dat_end_block(f, rows, 3);
    Span n_fit = model_span(p->an);
    for (int c = 0; c < p->n_cinf; c++)
        write_optimum_curve(f, p->has_fit[LAW_T2ACC] ? &p->fit[LAW_T2ACC] : NULL, p->c_inf[c], p->k_max, x, n_fit, &ny,
                            &ry);
    for (int c = 0; c < p->n_cinf; c++)
        write_optimum_curve(f, p->has_fit[LAW_T2LOSS] ? &p->fit[LAW_T2LOSS] : NULL, p->c_inf[c], p->k_max, x, n_fit,
                            &ny, &ry);
    write_allocation_points(p, f, &ny, &ry);
    int rc = plot_close(p, f, file);
    free(file);
    FILE *g = rc == 0 ? begin_script(p, name, 1400, 680) : NULL;
    if (!g) return -1;
    char **label = xcalloc((size_t)p->n_cinf + 1, sizeof(char *));
    for (int c = 0; c < p->n_cinf; c++) {
        char buf[48];
        sci_label(p->c_inf[c], buf, sizeof buf);
        label[c] = xstrdup(buf);
    }
    char notes[160] = "";
    static const char *const law_names[N_PLOT_LAWS] = {"chinchilla", "t2-acc", "t2-loss"};
    for (int l = 0; l < N_PLOT_LAWS; l++)
        if (!p->has_fit[l])
            snprintf(notes + strlen(notes), sizeof notes - strlen(notes), "; no %s fit", law_names[l]);
    fprintf(g, "n_cinf = %d\n", p->n_cinf);
    gp_strings(g, "cinf_label", label, (size_t)p->n_cinf);
    gp_string(g, "notes", notes);
    gp_number(g, "k_max", p->k_max);
    gp_log_tics(g, "x_tics", gp_span(g, "x_min", "x_max", x, 1, 1));
    gp_log_tics(g, "n_tics", gp_span(g, "n_min", "n_max", ny, 1, 2));
    gp_log_tics(g, "r_tics", gp_span(g, "r_min", "r_max", ry, 1, 2));
    free_strings(label, (size_t)p->n_cinf);
    return end_script(p, g, name);
}
