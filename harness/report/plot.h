// plot.h — the seven figures of docs/SPEC.md §7 drawn with gnuplot, as PNG (pngcairo) and SVG.
//
// Each figure NAME is written to the output directory as NAME.png, NAME.svg, the data files it
// plots (NAME.dat, NAME-*.dat) and the script NAME.gp that drew them: a header of variables (the
// fitted parameters, counts, labels, ranges) followed by the template plots/NAME.gp, compiled
// into the binary. Running `gnuplot NAME.gp` in that directory redraws both images, so a figure
// can be restyled without t2.
//
// Files are drawn in a staging directory inside the output directory and moved into place only
// when every figure has been drawn: a failure leaves the directory as it was.
#ifndef T2_PLOT_H
#define T2_PLOT_H

#include <stddef.h>

#include "report/analysis.h"

typedef struct {
    const char *name; // file stem, e.g. "fig2-isoflop"
    const char *text; // the template
} PlotTemplate;
// Generated from plots/*.gp by plots/embed.sh (build/gen/plot_templates.c).
extern const PlotTemplate plot_templates[];
extern const size_t plot_n_templates;

typedef struct {
    const char *name;    // file stem (a template name)
    const char *caption; // one sentence for the report
} PlotFigure;

#define PLOT_N_FIGURES 7
extern const PlotFigure plot_figures[PLOT_N_FIGURES];

// What the figures had to leave out and why (a law that could not be fitted, no equal-compute
// comparison for non-FLOP budgets, ...), one line each.
typedef struct {
    int n;
    char line[12][320];
} PlotNotes;

// Draw every figure of the database into DIR (created when missing). The fits are the latest
// converged ones stored for the current data, else fitted now (no bootstrap) and stored.
// COMPARE_SEED seeds the bootstrap of figure 7's comparisons (t2 report passes its --seed, so the
// figure and the report's table show the same intervals); CACHE (NULL: none) keeps the
// comparisons for the report to reuse.
// -1 + err_set: gnuplot missing or failing (its message), an unwritable directory.
int plot_all(Db *db, const Analysis *an, const char *dir, uint64_t compare_seed, AnCompareCache *cache,
             PlotNotes *notes);

// The template text of figure NAME, or NULL.
const char *plot_template(const char *name);

#endif
