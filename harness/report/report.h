// report.h — the markdown report of a results database (t2 report): the headline equal-compute
// comparison, the runs, the fitted laws with bootstrap intervals, the optimal allocations for the
// spec's inference budgets, and the figures. Every number is read from the database (or computed
// from its rows with the estimators t2 eval uses), so it can be checked against the tables.
#ifndef T2_REPORT_H
#define T2_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "report/analysis.h"
#include "report/plot.h"

typedef struct {
    const char *plots_link;       // the figures' directory relative to the report (NULL: no figures)
    const PlotNotes *plot_notes;  // what the figures left out (may be NULL)
    long bootstrap;               // resamples of fits made now; a stored fit is reused when it has as many
    uint64_t seed;
    int threads;
    AnCompareCache *compare_cache; // comparisons already made for the figures (NULL: none)
} ReportOptions;

// Write the report to OUT. Fits missing for the current data are made and stored. -1 + err_set on
// a database error or a write error.
int report_write(Db *db, const Analysis *an, const ReportOptions *o, FILE *out);

#endif
