// cmd_fit.c — `t2 fit --csv FILE --law LAW [--bootstrap B] [--json] [--seed S] [--threads T]`:
// fit a scaling law (SPEC §6) to points from a CSV and print the result as a table or as one
// JSON object.
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "commands.h"
#include "fit.h"
#include "util.h"

int cmd_fit(int argc, char **argv) {
    char *csv = NULL, *law_name = NULL;
    long bootstrap = 0, seed = 0, threads = 0;
    int json = 0;
    Opt opts[] = {
        {"--csv", OPT_STR, &csv, "FILE", "points, one per row, columns by law (below)", .required = 1},
        {"--law", OPT_STR, &law_name, "LAW", "chinchilla, t2-loss, t2-acc or coverage", .required = 1},
        {"--bootstrap", OPT_INT, &bootstrap, "B", "percentile intervals from B resamples (refits start at the fit's optimum)",
         .min = 0, .max = 1000000},
        {"--seed", OPT_INT, &seed, "S", "seed for the bootstrap and t2-loss's random restarts (default 0)", .min = 0,
         .max = 9.2e18},
        {"--threads", OPT_INT, &threads, "T", "worker threads (default: up to 2)", .min = 1, .max = 256},
        {"--json", OPT_FLAG, &json, NULL, "print one JSON object", .required = 0},
    };
    int rc = args_parse("fit", argc, argv, opts, ARRAY_LEN(opts), NULL, NULL, 0, 0);
    if (rc == 1) {
        printf("\n%s\n", fit_csv_help());
        return 0;
    }
    if (rc != 0) return cmd_fail();
    FitLaw law;
    if (fit_law_parse(law_name, &law) != 0) {
        err_prefix("--law");
        return cmd_fail();
    }
    FitData data;
    if (fit_csv_load(csv, law, &data) != 0) return cmd_fail();
    FitOptions o;
    fit_options_default(&o);
    o.bootstrap = bootstrap;
    o.seed = (uint64_t)seed;
    o.threads = (int)threads;
    FitResult r;
    if (fit_run(law, &data, &o, &r) != 0) {
        err_prefix("%s", csv);
        fit_result_free(&r);
        fit_data_free(&data);
        return cmd_fail();
    }
    if (json) {
        char *s = fit_result_json(&r);
        printf("%s\n", s);
        free(s);
    } else {
        fit_result_print(stdout, &r);
    }
    if (!r.converged)
        fprintf(stderr, "t2: warning: the %s fit did not converge (%s); the parameters are the best point found\n",
                fit_law_name(law), fit_lbfgs_reason(r.lbfgs_status));
    if (r.at_bound[0])
        fprintf(stderr, "t2: warning: the %s fit drove %s to 0, the edge of its range: the data favour no such term\n",
                fit_law_name(law), r.at_bound);
    if (r.n_boot > r.n_boot_used)
        fprintf(stderr, "t2: warning: %ld of %ld bootstrap refits did not converge and are left out of the intervals\n",
                r.n_boot - r.n_boot_used, r.n_boot);
    fit_result_free(&r);
    fit_data_free(&data);
    return fflush(stdout) == 0 ? 0 : 1;
}
