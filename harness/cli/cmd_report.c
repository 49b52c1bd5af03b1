// cmd_report.c — `t2 report --db PATH [--out FILE.md] [--plots DIR] [--bootstrap B]`: the
// markdown report of a results database (see report.h); with --plots the figures are drawn into
// DIR first and embedded with paths relative to the report.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/analysis.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "report/plot.h"
#include "report/report.h"
#include "util/util.h"

// The directory holding FILE (".", when it names none).
static char *dir_of(const char *file) {
    const char *slash = strrchr(file, '/');
    if (!slash) return xstrdup(".");
    if (slash == file) return xstrdup("/");
    char *d = xstrdup(file);
    d[slash - file] = '\0';
    return d;
}

// TO relative to FROM (both existing directories), e.g. "plots/demo" or "../plots/demo".
static char *relative_path(const char *from, const char *to) {
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(from, a) || !realpath(to, b)) {
        err_set("%s: %s", realpath(from, a) ? to : from, strerror(errno));
        return NULL;
    }
    size_t common = 0, i = 0;
    for (; a[i] && a[i] == b[i]; i++)
        if (a[i] == '/') common = i;
    if (!a[i] && (!b[i] || b[i] == '/')) common = i; // FROM is a prefix of TO (or equal)
    else if (!b[i] && a[i] == '/') common = i;      // TO is a prefix of FROM
    size_t cap = strlen(a) * 2 + strlen(b) + 4, len = 0;
    char *out = xmalloc(cap);
    out[0] = '\0';
    for (const char *p = a + common; *p; p++)
        if (*p == '/') len += (size_t)snprintf(out + len, cap - len, "%s..", len ? "/" : "");
    const char *rest = b + common + (b[common] == '/');
    if (*rest) snprintf(out + len, cap - len, "%s%s", len ? "/" : "", rest);
    if (!out[0]) snprintf(out, cap, ".");
    return out;
}

static int write_to(Db *db, const Analysis *an, const ReportOptions *ro, const char *out_path) {
    if (!out_path) {
        return report_write(db, an, ro, stdout);
    }
    AtomicFile af;
    if (atomic_open(&af, out_path) != 0) return -1;
    if (report_write(db, an, ro, af.f) != 0) {
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af);
}

int cmd_report(int argc, char **argv) {
    char *db_file = NULL, *out = NULL, *plots = NULL, *loss = NULL;
    long bootstrap = 200, seed = 0, threads = 0;
    Opt opts[] = {
        ARG_STR("--db", &db_file, "PATH", "results database with finished runs", .required = 1),
        ARG_STR("--loss", &loss, "answer|val", LOSS_OPTION_HELP),
        ARG_STR("--out", &out, "FILE.md", "write the report here (default: stdout)"),
        ARG_STR("--plots", &plots, "DIR", "draw the figures into DIR (as t2 plot) and embed them"),
        ARG_INT(
            "--bootstrap", &bootstrap, "B",
            "resamples for the intervals of fits made now; a stored fit is reused when it has as many (default 200)",
            .min = 0, .max = 1000000),
        ARG_INT("--seed", &seed, "S", "seed of fits made now and of the comparisons' bootstrap (default 0)", .min = 0,
                .max = 9.2e18),
        ARG_INT("--threads", &threads, "T", "worker threads for fits (default: up to 2)", .min = 1, .max = 256),
    };
    int rc = args_parse("report", argc, argv, opts, ARRAY_LEN(opts), NULL, NULL, 0, 0);
    if (rc == 1) return 0;
    if (rc != 0) return cmd_fail();
    Db *db = NULL;
    Analysis an = {0};
    PlotNotes notes = {0};
    AnCompareCache cache = {0}; // the figures' comparisons, reused by the report
    char *report_dir = NULL, *link = NULL;
    int status = 1;
    if (out && refuse_input_as_output("--out", out, "--db", db_file) != 0) goto done;
    if (analysis_open_db(db_file, &db) != 0 || analysis_load_loss(db, &an, loss) != 0) goto done;
    if (out) {
        report_dir = dir_of(out);
        if (make_dirs(report_dir, 1) != 0) goto done;
    }
    if (plots) {
        if (plot_all(db, &an, plots, (uint64_t)seed, &cache, &notes) != 0) goto done;
        if (!(link = relative_path(report_dir ? report_dir : ".", plots))) goto done;
    }
    ReportOptions ro = {.plots_link = link, .plot_notes = &notes, .bootstrap = bootstrap, .seed = (uint64_t)seed,
                        .threads = (int)threads, .compare_cache = &cache};
    if (write_to(db, &an, &ro, out) != 0) goto done;
    if (out) fprintf(stderr, "t2: report written to %s%s%s\n", out, plots ? ", figures in " : "", plots ? plots : "");
    status = 0;
done:
    if (status != 0) cmd_fail();
    free(report_dir);
    free(link);
    analysis_compare_cache_free(&cache);
    analysis_free(&an);
    db_close(db);
    return status;
}
