// cmd_fit.c — `t2 fit (--db PATH | --csv FILE) --law LAW [--bootstrap B] [--json] [--seed S]
// [--threads T]`: fit a scaling law (docs/SPEC.md §6) to a results database's finished runs or to points
// from a CSV, and print the result as a table or as one JSON object. With --db the fit is
// stored in `fits` (converged or not; see fitdb.c).
#include <stdio.h>
#include <stdlib.h>

#include "report/analysis.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "fit/fit.h"
#include "util/json.h"
#include "util/util.h"

static const char FIT_DB_HELP[] =
    "\nfrom --db, the points of each law (done runs only):\n"
    "  chinchilla  N = runs.n_params, D = runs.train_tokens, loss = runs.answer_loss (--loss val:\n"
    "              runs.val_loss; a loss some run lacks falls back to the next, down to final_loss)\n"
    "  t2-loss     per run and spec k: mean over problems of -log(1 - (1 - exp(gold.logprob))^k)\n"
    "  t2-acc      stage 1 on the same loss as chinchilla, stage 2 on sampled pass@k (metrics 'pass')\n"
    "              at the spec's first eval temperature\n"
    "  coverage    per run (a[runID], b[runID]) on sampled pass@k > 0\n"
    "The fit is stored in the database's fits table; one that did not converge is stored with\n"
    "converged = 0 and is never used by optimize, plot or report.\n";

typedef struct {
    Db *db;
    Analysis an;
    AnFitNote note;
    uint64_t hash;
} DbSource;

static void warn_fit(const FitResult *r) {
    const char *law = fit_law_name(r->law);
    if (!r->converged)
        fprintf(stderr, "t2: warning: the %s fit did not converge (%s); the parameters are the best point found\n", law,
                fit_lbfgs_reason(r->lbfgs_status));
    if (r->at_bound[0])
        fprintf(stderr, "t2: warning: the %s fit drove %s to a bound of the range allowed: the data push past it\n",
                law, r->at_bound);
    if (r->n_not_identified) {
        char names[256];
        fit_unidentified_names(r, names, sizeof names);
        fprintf(stderr, "t2: warning: the %s fit does not identify %s: these data do not pin %s down\n", law, names,
                r->n_not_identified == 1 ? "it" : "them");
    }
    if (r->n_boot > r->n_boot_used && r->law == FIT_COVERAGE)
        fprintf(stderr, "t2: warning: in %ld of %ld bootstrap resamples some model's refit did not converge; each "
                        "model's intervals use the resamples whose refit of that model converged\n",
                r->n_boot - r->n_boot_used, r->n_boot);
    else if (r->n_boot > r->n_boot_used)
        fprintf(stderr, "t2: warning: %ld of %ld bootstrap refits did not converge and are left out of the intervals\n",
                r->n_boot - r->n_boot_used, r->n_boot);
}

static int load_db(const char *path, const char *loss, FitLaw law, DbSource *src, FitData *data) {
    if (analysis_open_db(path, &src->db) != 0) return -1;
    if (analysis_load_loss(src->db, &src->an, loss) != 0) return -1;
    if (analysis_fit_data(&src->an, law, data, &src->note) != 0) return -1;
    src->hash = fit_data_hash(law, data);
    return 0;
}

static void print_json(const FitResult *r, const DbSource *src, long fit_id) {
    cJSON *j = fit_result_cjson(r);
    if (src->db) {
        cJSON *data = cJSON_AddObjectToObject(j, "data");
        cJSON_AddStringToObject(data, "source", db_path(src->db));
        cJSON_AddNumberToObject(data, "runs", (double)src->note.n_runs);
        cJSON_AddStringToObject(data, "description", src->note.text);
        if (src->note.n_dropped) cJSON_AddStringToObject(data, "dropped", src->note.dropped);
        if (fit_id > 0)
            cJSON_AddNumberToObject(j, "fit_id", (double)fit_id);
        else
            cJSON_AddNullToObject(j, "fit_id"); // not stored: the database is read-only
    }
    json_print(j);
    cJSON_Delete(j);
}

static void print_table(const FitResult *r, const DbSource *src, long fit_id) {
    if (src->db) {
        printf("data: %s\n", src->note.text);
        if (src->note.n_dropped) printf("left out: %s\n", src->note.dropped);
    }
    fit_result_print(stdout, r);
    if (src->db && fit_id == 0)
        printf("not stored: %s is read-only here\n", db_path(src->db));
    else if (src->db)
        printf("stored as fit %ld in %s%s\n", fit_id, db_path(src->db),
               r->converged ? "" : " (converged = 0: not used by optimize, plot or report)");
}

int cmd_fit(int argc, char **argv) {
    char *csv = NULL, *db_file = NULL, *law_name = NULL, *loss = NULL;
    long bootstrap = 0, seed = 0, threads = 0;
    int json = 0;
    Opt opts[] = {
        ARG_STR("--db", &db_file, "PATH", "results database: fit its finished runs and store the fit"),
        ARG_STR("--loss", &loss, "answer|val", LOSS_OPTION_HELP),
        ARG_STR("--csv", &csv, "FILE", "points, one per row, columns by law (below)"),
        ARG_STR("--law", &law_name, "LAW", "chinchilla, t2-loss, t2-acc or coverage", .required = 1),
        ARG_INT("--bootstrap", &bootstrap, "B",
                "percentile intervals from B resamples (refits start at the fit's optimum)", .min = 0, .max = 1000000),
        ARG_INT("--seed", &seed, "S", "seed for the bootstrap and t2-loss's random restarts (default 0)", .min = 0,
                .max = 9.2e18),
        ARG_INT("--threads", &threads, "T", "worker threads (default: up to 2)", .min = 1, .max = 256),
        ARG_FLAG("--json", &json, "print one JSON object"),
    };
    int rc = args_parse("fit", argc, argv, opts, ARRAY_LEN(opts), NULL, NULL, 0, 0);
    if (rc == 1) {
        printf("\n%s\n%s", fit_csv_help(), FIT_DB_HELP);
        return 0;
    }
    if (rc != 0) return cmd_fail();
    if ((csv != NULL) == (db_file != NULL)) {
        err_set("fit: give exactly one of --db PATH and --csv FILE");
        return cmd_fail();
    }
    FitLaw law;
    if (fit_law_parse(law_name, &law) != 0) {
        err_prefix("--law");
        return cmd_fail();
    }
    FitData data = {0};
    DbSource src = {0};
    FitResult r = {0};
    long fit_id = 0;
    int status = 1;
    if (csv ? fit_csv_load(csv, law, &data) != 0 : load_db(db_file, loss, law, &src, &data) != 0) goto done;
    FitOptions o;
    fit_options_default(&o);
    o.bootstrap = bootstrap;
    o.seed = (uint64_t)seed;
    o.threads = (int)threads;
    if (fit_run(law, &data, &o, &r) != 0) {
        err_prefix("%s", csv ? csv : db_file);
        goto done;
    }
    if (src.db && fitdb_store(src.db, &r, &o, src.hash, &src.note, &fit_id) != 0) goto done;
    if (json)
        print_json(&r, &src, fit_id);
    else
        print_table(&r, &src, fit_id);
    warn_fit(&r);
    status = 0;
done:
    if (status != 0) cmd_fail();
    fit_result_free(&r);
    fit_data_free(&data);
    analysis_free(&src.an);
    db_close(src.db);
    return status;
}
