// cmd_optimize.c — `t2 optimize --db PATH --c-train C [--c-inf C] [--law LAW] [--json]`: the
// compute-optimal (N, D, k) under the database's fitted T² laws (docs/SPEC.md §6, T² §3), beside the
// Chinchilla choice, for one training budget and one or every inference budget.
//
// The laws are the latest converged fits stored for the database's current data; a law that has
// none is fitted first (and stored). The Chinchilla choice takes N*, D* from the chinchilla fit on
// the training loss when one can be made, else from the T² law's own loss term.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/analysis.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "fit/optimize.h"
#include "util/json.h"
#include "util/util.h"

typedef struct {
    FitLaw law;
    FitResult fit;
    long fit_id;
    int fresh, ok;
} LawFit;

// The fit of LAW for the current data, stored or made now. Not converged counts as a failure, and
// so does an allocation that rests on parameters the data do not identify (unless FORCE).
static int get_fit(Db *db, const Analysis *an, const FitOptions *o, int force, LawFit *lf) {
    if (analysis_fit(db, an, lf->law, o, &lf->fit, &lf->fit_id, &lf->fresh) != 0) return -1;
    char which[48] = "not stored: the database is read-only here";
    if (lf->fit_id > 0) snprintf(which, sizeof which, "stored as fit %ld", lf->fit_id);
    if (!lf->fit.converged) {
        err_set("%s: the %s fit (%s) did not converge, so it gives no allocation; see t2 fit --db %s --law %s", an->path,
                fit_law_name(lf->law), which, an->path, fit_law_name(lf->law));
        fit_result_free(&lf->fit);
        return -1;
    }
    char names[256];
    if (!force && fit_allocation_unidentified(&lf->fit, names, sizeof names) > 0) {
        err_set("%s: the %s fit (%s) does not identify %s, and its allocation depends on them: the data do not pin "
                "it down (t2 fit --db %s --law %s says why; --force values it anyway)",
                an->path, fit_law_name(lf->law), which, names, an->path, fit_law_name(lf->law));
        fit_result_free(&lf->fit);
        return -1;
    }
    lf->ok = 1;
    return 0;
}

// A fit's id in the fits table; null when it was made for this command and not stored (the
// database is read-only here), as `t2 fit --json` says it.
static void add_fit_id(cJSON *j, const char *key, long fit_id) {
    if (fit_id > 0)
        cJSON_AddNumberToObject(j, key, (double)fit_id);
    else
        cJSON_AddNullToObject(j, key);
}

static void note_fit(const LawFit *lf, int quiet) {
    if (quiet) return;
    if (lf->fresh && lf->fit_id == 0)
        fprintf(stderr, "t2: %s: fit made, not stored: the database is read-only here (%s)\n", fit_law_name(lf->law),
                lf->fit.n_boot_used ? "with bootstrap resamples" : "no bootstrap");
    else
        fprintf(stderr, "t2: %s: %s fit %ld (%s)\n", fit_law_name(lf->law), lf->fresh ? "made and stored" : "using stored",
                lf->fit_id, lf->fit.n_boot_used ? "with bootstrap resamples" : "no bootstrap");
}

static void print_comparison(const OptResult *o) {
    const Allocation *t = &o->t2, *c = &o->chinchilla;
    printf("  T2 vs Chinchilla: %.3gx the parameters, %.3gx the tokens per parameter, k %.3g vs %.3g; %s %.4g vs %.4g\n",
           t->N / c->N, t->tokens_per_param / c->tokens_per_param, t->k, c->k, o->metric, t->value, c->value);
}

// The range of model sizes trained: an optimum far outside it extrapolates the law.
static void trained_sizes(const Analysis *an, double *lo, double *hi) {
    *lo = HUGE_VAL, *hi = 0;
    for (size_t i = 0; i < an->n_runs; i++) {
        *lo = fmin(*lo, an->runs[i].N);
        *hi = fmax(*hi, an->runs[i].N);
    }
}

// One allocation, printed as a table or added to LIST (--json).
static int emit_allocation(const Analysis *an, const LawFit *law, const LawFit *chin, double c_train, double c_inf,
                           double k_max, cJSON *list) {
    OptResult o;
    if (optimize_allocation_capped(&law->fit, c_train, c_inf, k_max, &o) != 0 ||
        (chin->ok && optimize_chinchilla_from(&law->fit, &chin->fit, &o) != 0))
        return -1;
    double lo, hi;
    trained_sizes(an, &lo, &hi);
    int outside = o.t2.N < lo / 10 || o.t2.N > hi * 10;
    if (outside)
        fprintf(stderr, "t2: warning: %s optimum at C_train %g, C_inf %g has N = %.3g, more than 10x outside the "
                "models trained (N %.3g to %.3g): an extrapolation of the law\n",
                fit_law_name(o.law), c_train, c_inf, o.t2.N, lo, hi);
    if (list) {
        cJSON *j = opt_result_cjson(&o);
        if (outside) cJSON_AddBoolToObject(j, "extrapolated", 1);
        add_fit_id(j, "fit_id", law->fit_id);
        if (chin->ok) add_fit_id(j, "chinchilla_fit_id", chin->fit_id);
        cJSON_AddItemToArray(list, j);
    } else {
        opt_result_print(stdout, &o);
        print_comparison(&o);
        printf("\n");
    }
    return 0;
}

// Collect the inference budgets: --c-inf (GIVEN), else the spec's analysis.c_inf.
static int inference_budgets(const Analysis *an, int given, double c_inf, double out[SPEC_MAX_C_INF], int *n) {
    if (given) {
        out[0] = c_inf;
        *n = 1;
        return 0;
    }
    *n = an->spec.analysis.n_c_inf;
    if (*n == 0) {
        err_set("%s: no --c-inf given and the sweep's spec lists no analysis.c_inf (give --c-inf C, or --c-inf 0 "
                "for k = 1)",
                an->path);
        return -1;
    }
    memcpy(out, an->spec.analysis.c_inf, (size_t)*n * sizeof(double));
    return 0;
}

int cmd_optimize(int argc, char **argv) {
    char *db_file = NULL, *law_name = NULL, *loss = NULL;
    double c_train = 0, c_inf = 0, k_max = 0;
    long bootstrap = 0, seed = 0, threads = 0;
    int json = 0, force = 0;
    Opt opts[] = {
        ARG_STR("--db", &db_file, "PATH", "results database with finished runs", .required = 1),
        ARG_STR("--loss", &loss, "answer|val", LOSS_OPTION_HELP),
        ARG_DOUBLE(
            "--c-train", &c_train, "C",
            "training budget in FLOPs (6ND <= C); default: the spec's analysis.c_train, else the sweep's budgets",
            .min = 1, .max = 1e60),
        ARG_DOUBLE("--c-inf", &c_inf, "C",
                   "inference FLOPs per query token (2Nk <= C; 0: k = 1); default: every analysis.c_inf of the spec",
                   .min = 0, .max = 1e60),
        ARG_DOUBLE("--k-max", &k_max, "K",
                   "cap samples per query at K, e.g. the n_samples the laws were fitted on "
                   "(default: none)",
                   .min = 0, .max = 1e30),
        ARG_STR("--law", &law_name, "LAW", "t2-loss, t2-acc or chinchilla (default: t2-loss and t2-acc)"),
        ARG_INT("--bootstrap", &bootstrap, "B", "resamples for a law that has to be fitted first (default 0)", .min = 0,
                .max = 1000000),
        ARG_INT("--seed", &seed, "S", "seed of such a fit (default 0)", .min = 0, .max = 9.2e18),
        ARG_INT("--threads", &threads, "T", "worker threads for such a fit (default: up to 2)", .min = 1, .max = 256),
        ARG_FLAG("--force", &force,
                 "value allocations even from laws whose allocation depends on parameters the data do not identify"),
        ARG_FLAG("--json", &json, "print one JSON object"),
    };
    int rc = args_parse("optimize", argc, argv, opts, ARRAY_LEN(opts), NULL, NULL, 0, 0);
    if (rc == 1) return 0;
    if (rc != 0) return cmd_fail();
    LawFit laws[2] = {{.law = FIT_T2_LOSS}, {.law = FIT_T2_ACC}}, chin = {.law = FIT_CHINCHILLA};
    int n_laws = 2, explicit_law = law_name != NULL;
    if (explicit_law) {
        if (fit_law_parse(law_name, &laws[0].law) != 0 || laws[0].law == FIT_COVERAGE) {
            err_set("--law: '%s' gives no allocation (expected t2-loss, t2-acc or chinchilla)", law_name);
            return cmd_fail();
        }
        n_laws = 1;
    }
    Db *db = NULL;
    Analysis an = {0};
    int status = 1;
    double budgets[SPEC_MAX_C_INF], trains[AN_MAX_C_TRAIN];
    int n_budgets = 0, n_trains = 1;
    trains[0] = c_train;
    if (analysis_open_db(db_file, &db) != 0 || analysis_load_loss(db, &an, loss) != 0) goto done;
    if (!an.has_eval && !(explicit_law && laws[0].law == FIT_CHINCHILLA)) {
        err_set("%s: the sweep's task (%s) has no evaluation problems, so no T² law (t2-loss, t2-acc) can be fitted; "
                "--law chinchilla gives the Chinchilla allocation",
                an.path, an.spec.task.name);
        goto done;
    }
    if (inference_budgets(&an, args_seen(opts, ARRAY_LEN(opts), "--c-inf"), c_inf, budgets, &n_budgets) != 0)
        goto done;
    if (!args_seen(opts, ARRAY_LEN(opts), "--c-train")) n_trains = analysis_c_train(&an, trains, AN_MAX_C_TRAIN);
    FitOptions fo;
    fit_options_default(&fo);
    fo.bootstrap = bootstrap;
    fo.seed = (uint64_t)seed;
    fo.threads = (int)threads;
    if (get_fit(db, &an, &fo, force, &chin) != 0) {
        if (explicit_law && laws[0].law == FIT_CHINCHILLA) goto done;
        fprintf(stderr, "t2: warning: no chinchilla fit to take the Chinchilla choice from (%s); it comes from each "
                        "law's own loss term\n",
                err_msg());
    } else {
        note_fit(&chin, json);
    }
    int n_ok = 0;
    for (int i = 0; i < n_laws; i++) {
        if (laws[i].law == FIT_CHINCHILLA && chin.ok) {
            laws[i] = chin;
            chin.ok = 0; // owned by laws[i] now
        } else if (get_fit(db, &an, &fo, force, &laws[i]) != 0) {
            if (explicit_law) goto done;
            fprintf(stderr, "t2: warning: skipping %s: %s\n", fit_law_name(laws[i].law), err_msg());
            continue;
        } else {
            note_fit(&laws[i], json);
        }
        n_ok++;
    }
    if (n_ok == 0) {
        err_set("%s: neither t2-loss nor t2-acc gives an allocation these data support (see the warnings above)", an.path);
        goto done;
    }
    cJSON *out = cJSON_CreateObject(), *list = NULL;
    if (json) {
        cJSON_AddStringToObject(out, "db", an.path);
        list = cJSON_AddArrayToObject(out, "allocations");
    }
    for (int i = 0; i < n_laws; i++)
        for (int t = 0; t < n_trains && laws[i].ok; t++)
            for (int b = 0; b < n_budgets; b++)
                if (emit_allocation(&an, &laws[i], &chin, trains[t], budgets[b], k_max, list) != 0) {
                    cJSON_Delete(out);
                    goto done;
                }
    if (json) json_print(out);
    cJSON_Delete(out);
    status = 0;
done:
    if (status != 0) cmd_fail();
    for (int i = 0; i < n_laws; i++)
        if (laws[i].ok) fit_result_free(&laws[i].fit);
    if (chin.ok) fit_result_free(&chin.fit);
    analysis_free(&an);
    db_close(db);
    return status;
}
