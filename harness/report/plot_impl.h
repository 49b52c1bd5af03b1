// plot_impl.h — what plot.c (staging, gnuplot, shared helpers) and plot_figs.c (the six figure
// writers) share. Not for use outside harness/plot*.c.
#ifndef T2_PLOT_IMPL_H
#define T2_PLOT_IMPL_H

#include <stdio.h>

#include "report/analysis.h"
#include "report/plot.h"

enum { LAW_CHIN, LAW_T2ACC, LAW_T2LOSS, N_PLOT_LAWS };

// Bootstrap resamples of the problems behind each measured pass@k's error bar (figure 4).
#define PLOT_BOOTSTRAP 1000


typedef struct {
    Db *db;
    const Analysis *an;
    char *stage;                        // staging directory (files are written here)
    PlotNotes *notes;
    uint64_t compare_seed;              // seed of the comparisons' bootstrap
    AnCompareCache *compare_cache;      // comparisons shared with the report (NULL: none)
    FitResult fit[N_PLOT_LAWS];         // chinchilla, t2-acc, t2-loss
    int has_fit[N_PLOT_LAWS];
    double k_max;                       // cap on k of the fitted optima: the eval's n_samples (0: none)
    int n_cinf;
    double c_inf[AN_MAX_C_INF];        // inference budgets (analysis_c_inf)
    AnCompare *cmp[AN_MAX_C_INF];      // equal-compute comparison per c_inf (NULL: none)
    size_t n_cmp[AN_MAX_C_INF];
} Plot;

void plot_note(Plot *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// A file of the staging directory, opened for writing; NULL + err_set on failure.
FILE *plot_open(Plot *p, const char *file);
// Close it; -1 + err_set when anything failed to be written.
int plot_close(Plot *p, FILE *f, const char *file);

// The script header: a comment, name, sweep, size and colours. Then the figure's variables.
void gp_header(FILE *f, const Plot *p, const char *name, int width, int height);
// name = "text" with gnuplot escapes; enhanced-text specials (_ ^ { } @ & ~) shown literally.
void gp_string(FILE *f, const char *name, const char *text);
void gp_number(FILE *f, const char *name, double v); // NaN when not finite
// array name[n] = [v...] of numbers, or of strings (gp_string escaping).
void gp_numbers(FILE *f, const char *name, const double *v, size_t n);
void gp_strings(FILE *f, const char *name, char *const *v, size_t n);
// The chinchilla law's E, A, B, alpha, beta and has_fit (NaN without a fit).
void gp_loss_law(FILE *f, const Plot *p);
// "3·10^{10}" (enhanced text) for a label.
void sci_label(double v, char *out, size_t n);
// End of a data block: two blank lines (gnuplot's index separator). An empty block gets a NaN row
// so that block numbers stay in step.
void dat_end_block(FILE *f, int rows_written, int n_cols);

int fig_train_loss(Plot *p, const char *name);
int fig_isoflop(Plot *p, const char *name);
int fig_loss_flops(Plot *p, const char *name);
int fig_pass_k(Plot *p, const char *name);
int fig_frontier(Plot *p, const char *name);
int fig_allocation(Plot *p, const char *name);
int fig_compare(Plot *p, const char *name);

#endif
