// cmd_compare.c — `t2 compare --db PATH [--c-inf C] [--loss val] [--bootstrap B] [--seed S]
// [--json]`: at equal total compute, the T² pick (small model plus sampling) against the Chinchilla
// pick (the lowest loss) for every training budget, inference budget and seed (and the seeds
// pooled), with the paired difference on the same problems and its bootstrap interval
// (analysis_compare in report/analysis_compare.c; docs/SPEC.md §2).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "report/analysis.h"
#include "util/json.h"
#include "util/util.h"

#define MAX_CINF AN_MAX_C_INF

static void pick_cell(const AnPick *p, char *buf, size_t n) {
    if (p->run_id < 0) {
        snprintf(buf, n, "-");
        return;
    }
    snprintf(buf, n, "%d%s k=%ld%s", p->run_id, p->n_runs > 1 ? "..." : "", p->k, p->capped ? "+" : "");
}

static void print_table(const Analysis *an, AnCompare *const *cmp, const size_t *n_cmp, int n_cinf) {
    printf("%-9s %-9s %-6s | %-14s %-7s %-7s | %-14s %-7s %-7s | %-30s %s\n", "C_train", "C_inf", "seed", "T2 pick",
           "pass@k", "maj@k", "Chinchilla", "pass@k", "maj@k", "pass@k diff [95%]", "");
    for (int c = 0; c < n_cinf; c++)
        for (size_t i = 0; i < n_cmp[c]; i++) {
            const AnCompare *x = &cmp[c][i];
            char seed[24], t[48], h[48], diff[64];
            if (x->seed_idx >= 0) snprintf(seed, sizeof seed, "%ld", x->seed);
            else snprintf(seed, sizeof seed, "pooled");
            pick_cell(&x->t2, t, sizeof t);
            pick_cell(&x->chinchilla, h, sizeof h);
            if (isfinite(x->diff))
                snprintf(diff, sizeof diff, "%+.4f [%+.4f, %+.4f]", x->diff, x->ci95[0], x->ci95[1]);
            else
                snprintf(diff, sizeof diff, "-");
            printf("%-9.3g %-9.3g %-6s | %-14s %-7.4f %-7.4f | %-14s %-7.4f %-7.4f | %-30s %s\n", x->c_train, x->c_inf,
                   seed, t, x->t2.pass, x->t2.maj, h, x->chinchilla.pass, x->chinchilla.maj, diff,
                   !isfinite(x->diff) ? "" : x->significant ? (x->diff > 0 ? "T2 ahead" : "T2 behind")
                                                            : "no difference these data can resolve");
            if (x->note[0]) printf("%-26s   note: %s\n", "", x->note);
        }
    printf("k: samples per query, floor(C_inf / 2N), '+' capped at the %ld samples drawn; Chinchilla pick: the lowest "
           "runs.%s of the budget; differences T2 - Chinchilla on the same problems, 95%% percentile intervals from "
           "%ld bootstrap resamples of problems (and seeds, pooled); pass@k and maj@k means over problems\n",
           an->key.n_samples, an->loss_column, n_cinf && n_cmp[0] ? cmp[0][0].n_resamples : 0L);
}

int cmd_compare(int argc, char **argv) {
    char *db_file = NULL, *loss = NULL;
    double c_inf = 0;
    long bootstrap = 0, seed = 0;
    int json = 0;
    Opt opts[] = {
        ARG_STR("--db", &db_file, "PATH", "results database with evaluated runs", .required = 1),
        ARG_DOUBLE("--c-inf", &c_inf, "C",
                   "inference FLOPs per query token (k = floor(C / 2N)); default: every analysis.c_inf of the spec",
                   .min = 1, .max = 1e60),
        ARG_STR("--loss", &loss, "answer|val", LOSS_OPTION_HELP),
        ARG_INT("--bootstrap", &bootstrap, "B",
                "resamples of problems (and seeds) for the paired intervals (default 2000, at least 1000)",
                .min = AN_COMPARE_MIN_BOOT, .max = 10000000),
        ARG_INT("--seed", &seed, "S", "seed of the bootstrap (default 0)", .min = 0, .max = 9.2e18),
        ARG_FLAG("--json", &json, "print one JSON object"),
    };
    int rc = args_parse("compare", argc, argv, opts, ARRAY_LEN(opts), NULL, NULL, 0, 0);
    if (rc == 1) return 0;
    if (rc != 0) return cmd_fail();
    Db *db = NULL;
    Analysis an = {0};
    AnCompare *cmp[MAX_CINF] = {0};
    size_t n_cmp[MAX_CINF] = {0};
    int status = 1, n_cinf = 0;
    double budgets[MAX_CINF];
    if (analysis_open_db(db_file, &db) != 0 || analysis_load_loss(db, &an, loss) != 0) goto done;
    if (!an.has_eval) {
        err_set("%s: the sweep's task (%s) has no evaluation problems: there is no pass@k to compare", an.path,
                an.spec.task.name);
        goto done;
    }
    char why[200];
    if (args_seen(opts, ARRAY_LEN(opts), "--c-inf")) {
        budgets[0] = c_inf;
        n_cinf = 1;
    } else {
        n_cinf = analysis_c_inf(&an, budgets, MAX_CINF, why, sizeof why);
        if (an.spec.analysis.n_c_inf == 0) fprintf(stderr, "t2: compare: C_inf = %.4g (%s)\n", budgets[0], why);
    }
    AnCompareOptions o;
    analysis_compare_defaults(&o);
    if (args_seen(opts, ARRAY_LEN(opts), "--bootstrap")) o.bootstrap = bootstrap;
    o.seed = (uint64_t)seed;
    for (int c = 0; c < n_cinf; c++)
        if (analysis_compare(db, &an, budgets[c], &o, &cmp[c], &n_cmp[c]) != 0) goto done;
    int compared = 0;
    for (int c = 0; c < n_cinf; c++)
        for (size_t i = 0; i < n_cmp[c]; i++)
            compared |= isfinite(cmp[c][i].diff) && cmp[c][i].t2.family_idx != cmp[c][i].chinchilla.family_idx;
    if (json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "db", an.path);
        cJSON_AddStringToObject(out, "loss", an.loss_column);
        cJSON_AddNumberToObject(out, "n_samples", (double)an.key.n_samples);
        cJSON *list = cJSON_AddArrayToObject(out, "comparisons");
        for (int c = 0; c < n_cinf; c++)
            for (size_t i = 0; i < n_cmp[c]; i++) cJSON_AddItemToArray(list, analysis_compare_cjson(&cmp[c][i]));
        json_print(out);
        cJSON_Delete(out);
    } else {
        print_table(&an, cmp, n_cmp, n_cinf);
    }
    if (!compared)
        fprintf(stderr, "t2: warning: no budget has two different picks to compare (see the notes)\n");
    status = 0;
done:
    if (status != 0) cmd_fail();
    for (int c = 0; c < MAX_CINF; c++) free(cmp[c]);
    analysis_free(&an);
    db_close(db);
    return status;
}
