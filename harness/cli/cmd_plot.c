// cmd_plot.c — `t2 plot --db PATH --out DIR`: the seven figures of docs/SPEC.md §7 as PNG and SVG, with
// the data files and gnuplot script of each beside its images (see plot.h).
#include <stdio.h>

#include "report/analysis.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "report/plot.h"
#include "util/util.h"

int cmd_plot(int argc, char **argv) {
    char *db_file = NULL, *out = NULL, *loss = NULL;
    int quiet = 0;
    Opt opts[] = {
        ARG_STR("--db", &db_file, "PATH", "results database with finished runs", .required = 1),
        ARG_STR("--loss", &loss, "answer|val", LOSS_OPTION_HELP),
        ARG_STR("--out", &out, "DIR", "directory for the figures (created)", .required = 1),
        ARG_FLAG("--quiet", &quiet, "do not list the figures and notes"),
    };
    int rc = args_parse("plot", argc, argv, opts, ARRAY_LEN(opts), NULL, NULL, 0, 0);
    if (rc == 1) {
        printf("\nfigures (each NAME.png, NAME.svg, NAME.gp and its .dat files; `gnuplot NAME.gp` in DIR redraws):\n");
        for (int i = 0; i < PLOT_N_FIGURES; i++) printf("  %-16s %s\n", plot_figures[i].name, plot_figures[i].caption);
        return 0;
    }
    if (rc != 0) return cmd_fail();
    Db *db = NULL;
    Analysis an = {0};
    PlotNotes notes;
    int status = 1;
    if (analysis_open_db(db_file, &db) == 0 && analysis_load_loss(db, &an, loss) == 0 && plot_all(db, &an, out, 0, NULL, &notes) == 0) {
        status = 0;
        for (int i = 0; i < notes.n && !quiet; i++) fprintf(stderr, "t2: note: %s\n", notes.line[i]);
        for (int i = 0; i < PLOT_N_FIGURES && !quiet; i++)
            printf("%s/%s.png  %s/%s.svg\n", out, plot_figures[i].name, out, plot_figures[i].name);
    }
    if (status != 0) cmd_fail();
    analysis_free(&an);
    db_close(db);
    return status;
}
