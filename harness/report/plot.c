// plot.c — t2 plot's machinery: the fits and comparisons the figures share, the staging
// directory, gnuplot scripts (header + compiled-in template) and running gnuplot on them.
#include "report/plot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/plot_impl.h"
#include "util/util.h"

const PlotFigure plot_figures[PLOT_N_FIGURES] = {
    {"fig1-train-loss", "Training loss against tokens for every run (log-log), coloured by model."},
    {"fig2-isoflop", "IsoFLOP profiles: final loss against model size for each training budget, with the fitted "
                     "Chinchilla law along each budget and its optimum."},
    {"fig3-loss-flops", "Final loss against training compute 6ND, the best run of each budget and the fitted "
                        "compute-optimal frontier."},
    {"fig4-pass-k", "pass@k and maj@k against k per model: sampled pass@k (circles), maj@k (squares), analytic "
                    "pass@k from the gold log-probabilities (lines)."},
    {"fig5-frontier", "The T² frontier at equal total compute: per training budget and inference budget C_inf, the "
                      "best run plus sampling against the lowest-loss (Chinchilla) run, measured points over the "
                      "t2-acc fit's curves."},
    {"fig6-allocation", "Compute-optimal model size and tokens per parameter against the training budget: Chinchilla "
                        "beside the T² optima of the t2-acc and t2-loss laws."},
    {"fig7-compare", "The answer at equal total compute: pass@k of the T² pick minus the Chinchilla pick against the "
                     "inference budget, one colour per training budget, with 95% intervals from a bootstrap over "
                     "problems (and seeds) and the zero line; filled points exclude 0."},
};

typedef int (*FigureFn)(Plot *p, const char *name);
static const FigureFn FIGURE_FNS[PLOT_N_FIGURES] = {fig_train_loss, fig_isoflop,    fig_loss_flops, fig_pass_k,
                                                    fig_frontier,   fig_allocation, fig_compare};

const char *plot_template(const char *name) {
    for (size_t i = 0; i < plot_n_templates; i++)
        if (strcmp(plot_templates[i].name, name) == 0) return plot_templates[i].text;
    return NULL;
}

void plot_note(Plot *p, const char *fmt, ...) {
    if (p->notes->n >= (int)ARRAY_LEN(p->notes->line)) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->notes->line[p->notes->n++], sizeof p->notes->line[0], fmt, ap);
    va_end(ap);
}

// ---------------------------------------------------------------------------------------------
// Files.

FILE *plot_open(Plot *p, const char *file) {
    char *path = xasprintf("%s/%s", p->stage, file);
    FILE *f = fopen(path, "w");
    if (!f) err_set("%s: cannot write: %s", path, strerror(errno));
    free(path);
    return f;
}

int plot_close(Plot *p, FILE *f, const char *file) {
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        err_set("%s/%s: write error", p->stage, file);
        return -1;
    }
    return 0;
}

static void gp_escaped(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (strchr("_^{}@&~", *s)) fputs("\\\\", f); // \\_ in a "string": a literal _ in enhanced text
        fputc(*s, f);
    }
    fputc('"', f);
}

// Labels made here carry enhanced-text markup on purpose ("10^{12}"): written as they are.
static void gp_markup(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void gp_string(FILE *f, const char *name, const char *text) {
    fprintf(f, "%s = ", name);
    gp_escaped(f, text);
    fputc('\n', f);
}

void gp_number(FILE *f, const char *name, double v) {
    if (isfinite(v))
        fprintf(f, "%s = %.17g\n", name, v);
    else
        fprintf(f, "%s = NaN\n", name);
}

void gp_numbers(FILE *f, const char *name, const double *v, size_t n) {
    fprintf(f, "array %s[%zu] = [", name, n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i]))
            fprintf(f, "%s%.17g", i ? ", " : "", v[i]);
        else
            fprintf(f, "%sNaN", i ? ", " : "");
    }
    fprintf(f, n ? "]\n" : "NaN]\n");
}

void gp_strings(FILE *f, const char *name, char *const *v, size_t n) {
    fprintf(f, "array %s[%zu] = [", name, n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        gp_markup(f, v[i]);
    }
    fprintf(f, n ? "]\n" : "\"\"]\n");
}

void gp_header(FILE *f, const Plot *p, const char *name, int width, int height) {
    fprintf(f,
            "# %s.gp — written by t2 plot from %s. Restyle freely, then run\n"
            "#     gnuplot %s.gp\n"
            "# in this directory: it redraws %s.png and %s.svg from the data files beside it.\n",
            name, p->an->path, name, name, name);
    fprintf(f, "name = \"%s\"\n", name);
    gp_string(f, "sweep", p->an->spec.name);
    fprintf(f, "width = %d\nheight = %d\n", width, height);
    fprintf(f, "array colors[10] = [\"#1f77b4\", \"#d62728\", \"#2ca02c\", \"#ff7f0e\", \"#9467bd\", \"#8c564b\", "
               "\"#e377c2\", \"#17becf\", \"#bcbd22\", \"#7f7f7f\"]\n");
}

void gp_loss_law(FILE *f, const Plot *p) {
    const FitResult *r = p->has_fit[LAW_CHIN] ? &p->fit[LAW_CHIN] : NULL;
    fprintf(f, "has_fit = %d\n", r != NULL);
    static const char *const names[] = {"E", "A", "B", "alpha", "beta"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) gp_number(f, names[i], r ? fit_get(r, names[i]) : NAN);
    gp_string(f, "loss_column", p->an->loss_column);
}

void sci_label(double v, char *out, size_t n) {
    if (!(v > 0) || !isfinite(v)) {
        snprintf(out, n, "%g", v);
        return;
    }
    int e = (int)floor(log10(v) + 1e-9);
    if (e >= -2 && e <= 3) {
        snprintf(out, n, "%g", v);
        return;
    }
    double m = v / pow(10, e);
    if (fabs(m - 1) < 1e-6)
        snprintf(out, n, "10^{%d}", e);
    else
        snprintf(out, n, "%.3g·10^{%d}", m, e);
}

void dat_end_block(FILE *f, int rows_written, int n_cols) {
    if (rows_written == 0) {
        for (int c = 0; c < n_cols; c++) fprintf(f, "%sNaN", c ? " " : "");
        fputc('\n', f);
    }
    fputs("\n\n", f);
}

// ---------------------------------------------------------------------------------------------
// gnuplot.

// Is PROG an executable on PATH?
static int on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path || !*path) return 0;
    char *copy = xstrdup(path), *save = NULL;
    int found = 0;
    for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
        char *full = xasprintf("%s/%s", *dir ? dir : ".", prog);
        found = access(full, X_OK) == 0;
        free(full);
    }
    free(copy);
    return found;
}

// The line of gnuplot's stderr that says what went wrong: the last one naming the script, else
// the last non-blank line.
static void gnuplot_error(const char *log_path, const char *script, char *out, size_t n) {
    snprintf(out, n, "no message");
    char *text = read_file(log_path, NULL);
    if (!text) return;
    const char *last = NULL, *named = NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ') line++;
        if (!*line) continue;
        last = line;
        if (strstr(line, script)) named = line;
    }
    if (named || last) snprintf(out, n, "%s", named ? named : last);
    free(text);
}

static int run_gnuplot(const Plot *p, const char *name) {
    char *script = xasprintf("%s.gp", name), *log_name = xasprintf("%s/%s.log", p->stage, name);
    int rc = -1;
    pid_t pid = fork();
    if (pid < 0) {
        err_set("cannot start gnuplot: fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        int fd = open(log_name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || chdir(p->stage) != 0) _exit(126);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            err_set("gnuplot: waitpid: %s", strerror(errno));
            goto done;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        rc = 0;
    } else {
        char msg[400];
        gnuplot_error(log_name, script, msg, sizeof msg);
        if (WIFEXITED(status))
            err_set("gnuplot failed on %s (exit %d): %s", script, WEXITSTATUS(status), msg);
        else
            err_set("gnuplot failed on %s (signal %d): %s", script, WTERMSIG(status), msg);
    }
done:
    unlink(log_name);
    free(script);
    free(log_name);
    return rc;
}

// Both images must exist and be non-empty.
static int check_images(const Plot *p, const char *name) {
    static const char *const ext[] = {"png", "svg"};
    for (size_t i = 0; i < ARRAY_LEN(ext); i++) {
        char *path = xasprintf("%s/%s.%s", p->stage, name, ext[i]);
        struct stat st;
        int ok = stat(path, &st) == 0 && st.st_size > 0;
        free(path);
        if (!ok) {
            err_set("gnuplot drew no %s.%s (gnuplot %s.gp exited 0)", name, ext[i], name);
            return -1;
        }
    }
    return 0;
}

// Append the template to the script the figure writer began (header and variables).
static int finish_script(Plot *p, const char *name) {
    const char *tpl = plot_template(name);
    if (!tpl) {
        err_set("no gnuplot template %s.gp compiled into t2", name);
        return -1;
    }
    char *file = xasprintf("%s.gp", name), *path = xasprintf("%s/%s", p->stage, file);
    FILE *f = fopen(path, "a");
    int rc = -1;
    if (!f) {
        err_set("%s: cannot write: %s", path, strerror(errno));
    } else {
        fputs(tpl, f);
        rc = plot_close(p, f, file);
    }
    free(file);
    free(path);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Staging: draw into DIR/.t2-plot-XXXXXX, then move every file into DIR.

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *path = xasprintf("%s/%s", dir, e->d_name);
        unlink(path);
        free(path);
    }
    closedir(d);
    rmdir(dir);
}

// Move every staged file into DIR; none may land on the database (checked before any moves).
static int publish(const char *stage, const char *dir, const char *db_file) {
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        DIR *d = opendir(stage);
        if (!d) {
            err_set("%s: cannot read: %s", stage, strerror(errno));
            return -1;
        }
        struct dirent *e;
        while (rc == 0 && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char *from = xasprintf("%s/%s", stage, e->d_name), *to = xasprintf("%s/%s", dir, e->d_name);
            if (pass == 0)
                rc = refuse_input_as_output("figure", to, "the database", db_file);
            else if (rename(from, to) != 0) {
                err_set("%s: cannot move into place: %s", to, strerror(errno));
                rc = -1;
            }
            free(from);
            free(to);
        }
        closedir(d);
    }
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Shared inputs: the fits and the equal-compute comparisons.

static void load_fits(Plot *p) {
    static const FitLaw laws[N_PLOT_LAWS] = {FIT_CHINCHILLA, FIT_T2_ACC, FIT_T2_LOSS};
    FitOptions o;
    fit_options_default(&o);
    for (int i = 0; i < N_PLOT_LAWS; i++) {
        long id;
        int fresh;
        if (analysis_fit(p->db, p->an, laws[i], &o, &p->fit[i], &id, &fresh) != 0) {
            plot_note(p, "no %s curves: %s", fit_law_name(laws[i]), err_msg());
            continue;
        }
        if (!p->fit[i].converged) {
            plot_note(p, "no %s curves: the fit (stored as fit %ld) did not converge", fit_law_name(laws[i]), id);
            fit_result_free(&p->fit[i]);
            continue;
        }
        char names[256];
        if (fit_allocation_unidentified(&p->fit[i], names, sizeof names) > 0) {
            plot_note(p, "no %s curves: fit %ld does not identify %s (t2 fit --db ... --law %s says why)",
                      fit_law_name(laws[i]), id, names, fit_law_name(laws[i]));
            fit_result_free(&p->fit[i]);
            continue;
        }
        // The figures draw point estimates: without the resamples every curve point would also
        // compute bootstrap intervals of its allocation.
        free(p->fit[i].boot);
        p->fit[i].boot = NULL;
        p->fit[i].n_boot_used = 0;
        p->has_fit[i] = 1;
    }
}

static int load_comparisons(Plot *p) {
    char why[200];
    p->n_cinf = analysis_c_inf(p->an, p->c_inf, AN_MAX_C_INF, why, sizeof why);
    if (!p->an->has_eval) {
        plot_note(p, "figures 4 and 5 are empty: the sweep's task has no evaluation problems");
        return 0;
    }
    if (p->an->spec.analysis.n_c_inf == 0) plot_note(p, "inference budget C_inf = %.4g (%s)", p->c_inf[0], why);
    if (p->an->spec.budgets.kind != BUDGET_FLOPS) {
        plot_note(p, "no measured equal-compute comparison: the sweep's budgets are not FLOP budgets "
                     "(budgets.train_flops), so its runs do not share a training cost");
        return 0;
    }
    int evaluated = 0;
    for (size_t i = 0; i < p->an->n_runs; i++) evaluated |= p->an->runs[i].eval_id >= 0;
    if (!evaluated) {
        plot_note(p, "no measured pass@k: no done run has a reference eval (temperature %g)", p->an->key.temperature);
        return 0;
    }
    AnCompareOptions co;
    analysis_compare_defaults(&co);
    co.seed = p->compare_seed;
    for (int c = 0; c < p->n_cinf; c++) {
        if (analysis_compare_cached(p->compare_cache, p->db, p->an, p->c_inf[c], &co, &p->cmp[c], &p->n_cmp[c]) != 0)
            return -1;
        // The figures draw one entry per level: its only seed, or the seeds pooled.
        size_t kept = 0;
        for (size_t i = 0; i < p->n_cmp[c]; i++)
            if (p->cmp[c][i].summary && p->cmp[c][i].n_runs > 0) p->cmp[c][kept++] = p->cmp[c][i];
        p->n_cmp[c] = kept;
    }
    return 0;
}

static void plot_free(Plot *p) {
    for (int i = 0; i < N_PLOT_LAWS; i++)
        if (p->has_fit[i]) fit_result_free(&p->fit[i]);
    for (int c = 0; c < AN_MAX_C_INF; c++) free(p->cmp[c]);
    free(p->stage);
}

int plot_all(Db *db, const Analysis *an, const char *dir, uint64_t compare_seed, AnCompareCache *cache,
             PlotNotes *notes) {
    memset(notes, 0, sizeof *notes);
    if (!on_path("gnuplot")) {
        err_set("gnuplot not found on PATH: t2 plot draws with gnuplot (Debian: apt-get install gnuplot-nox)");
        return -1;
    }
    if (!dir || !*dir) {
        err_set("empty output directory");
        return -1;
    }
    struct stat st;
    int created = stat(dir, &st) != 0;
    if (!created && !S_ISDIR(st.st_mode)) {
        err_set("%s: exists and is not a directory", dir);
        return -1;
    }
    if (make_dirs(dir, 1) != 0) return -1;
    // The fitted optima stay within the k the laws were fitted on (the eval's n_samples), as the
    // measured comparison does.
    Plot p = {.db = db,
              .an = an,
              .notes = notes,
              .compare_seed = compare_seed,
              .compare_cache = cache,
              .k_max = an->has_eval ? (double)an->key.n_samples : 0};
    p.stage = xasprintf("%s/.t2-plot-XXXXXX", dir);
    if (!mkdtemp(p.stage)) {
        err_set("%s: cannot create a staging directory: %s", dir, strerror(errno));
        free(p.stage);
        if (created) rmdir(dir);
        return -1;
    }
    load_fits(&p);
    int rc = load_comparisons(&p);
    for (int i = 0; i < PLOT_N_FIGURES && rc == 0; i++) {
        const char *name = plot_figures[i].name;
        rc = FIGURE_FNS[i](&p, name);
        if (rc == 0) rc = finish_script(&p, name);
        if (rc == 0) rc = run_gnuplot(&p, name);
        if (rc == 0) rc = check_images(&p, name);
    }
    if (rc == 0) rc = publish(p.stage, dir, db_path(db));
    remove_tree(p.stage);
    if (rc != 0 && created) rmdir(dir); // only when empty: a failure leaves nothing behind
    plot_free(&p);
    return rc;
}
