// bench_fit.c — `t2 bench fit --law chinchilla|t2-loss|t2-acc [--bootstrap B] [--threads T] [--json]`:
// the time a fit with bootstrap intervals takes on synthetic data of a typical sweep's size, drawn
// from the law with noise (seeded): chinchilla on 100 points (10 sizes x 10 budgets, 1% noise per
// run); t2-loss on 25 runs x 11 k (k = 1 .. 1024) with 200 problems behind every point; t2-acc on
// 25 runs x 7 k with 200 problems. The goals: 1000 resamples of chinchilla in < 5 s, of
// t2-loss in < 30 s, on 2 cores.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/bench.h"
#include "cli/commands.h"
#include "fit/fit.h"
#include "util/util.h"

#define BENCH_PROBLEMS 200

static void chinchilla_points(FitData *d, Rng *rng) {
    fit_data_alloc(d, 100);
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++) {
            size_t i = (size_t)(a * 10 + b);
            d->N[i] = 1e6 * pow(10, a / 3.0);
            d->D[i] = d->N[i] * 2 * pow(10, b / 3.0);
            double L = 1.69 + 406.4 * pow(d->N[i], -0.34) + 410.7 * pow(d->D[i], -0.28);
            d->loss[i] = L * exp(0.01 * rng_normal(rng));
        }
}

// Per (run, problem) a factor 1 + 0.15 z shared by the run's k (t2-loss); the rows' targets are the
// means over problems.
static void t2loss_points(FitData *d, Rng *rng) {
    const int P = BENCH_PROBLEMS, n_k = 11;
    fit_data_alloc(d, 25 * (size_t)n_k);
    fit_data_alloc_problems(d, P, 0);
    double z[BENCH_PROBLEMS];
    size_t i = 0;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            for (int p = 0; p < P; p++) z[p] = rng_normal(rng);
            for (int c = 0; c < n_k; c++, i++) {
                d->N[i] = 1e5 * pow(4, a);
                d->D[i] = d->N[i] * 5 * pow(4, b);
                d->k[i] = pow(2, c);
                double y = 1.0 + 100 * pow(d->N[i], -0.34) + 200 * pow(d->D[i], -0.28) + 1.5 * pow(d->k[i], -0.45);
                double sum = 0;
                for (int p = 0; p < P; p++) sum += d->prob_term[i * P + (size_t)p] = y * (1 + 0.15 * z[p]);
                d->nll[i] = sum / P;
            }
        }
}

// t2-acc: per run a mean NLL on a loss law, per (run, problem) pass@k around the Beta model's
// mean with the problem's noise, the same at every k.
static void t2acc_points(FitData *d, Rng *rng) {
    const int P = BENCH_PROBLEMS, n_k = 7;
    static const double theta[5] = {2.0, 3.0, 0.9, 1.0, 0.5};
    fit_data_alloc(d, 25 * (size_t)n_k);
    fit_data_alloc_problems(d, P, 1);
    double z[BENCH_PROBLEMS];
    size_t i = 0;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++) {
            double N = 1e5 * pow(4, a), D = N * 5 * pow(4, b), L = 0.6 + 50 * pow(N, -0.3) + 80 * pow(D, -0.25);
            double ba, bb;
            t2acc_beta(theta, L, &ba, &bb);
            for (int p = 0; p < P; p++) z[p] = rng_normal(rng);
            for (int c = 0; c < n_k; c++, i++) {
                d->N[i] = N;
                d->D[i] = D;
                d->k[i] = pow(2, c);
                double y = beta_pass_at_k(ba, bb, d->k[i]), pass = 0, nll = 0;
                for (int p = 0; p < P; p++) {
                    pass += d->prob_term[i * P + (size_t)p] = fmin(1, y * (1 + 0.1 * z[p]));
                    nll += d->prob_nll[i * P + (size_t)p] = L * (1 + 0.1 * z[p]);
                }
                d->pass[i] = pass / P;
                d->nll[i] = nll / P;
            }
        }
}

int bench_fit(int argc, char **argv) {
    char *law_name = NULL;
    long bootstrap = 1000, threads = 0, seed = 1;
    int json = 0;
    Opt opts[] = {
        ARG_STR("--law", &law_name, "LAW", "chinchilla, t2-loss or t2-acc", .required = 1),
        ARG_INT("--bootstrap", &bootstrap, "B", "bootstrap resamples (default 1000)", .min = 0, .max = 1000000),
        ARG_INT("--threads", &threads, "T", "worker threads (default: up to 2, as t2 fit)", .min = 1, .max = 256),
        ARG_INT("--seed", &seed, "S", "seed of the synthetic data and the bootstrap (default 1)", .min = 0, .max = 9.2e18),
        ARG_FLAG("--json", &json, "print one JSON object"),
    };
    int rc = args_parse("bench fit", argc, argv, opts, ARRAY_LEN(opts), NULL, NULL, 0, 0);
    if (rc == 1) return 0;
    if (rc != 0) return cmd_fail();
    FitLaw law;
    if (fit_law_parse(law_name, &law) != 0 || law == FIT_COVERAGE) {
        err_set("--law: expected chinchilla, t2-loss or t2-acc, got '%s'", law_name);
        return cmd_fail();
    }
    Rng rng;
    rng_seed(&rng, (uint64_t)seed);
    FitData d;
    if (law == FIT_CHINCHILLA) chinchilla_points(&d, &rng);
    else if (law == FIT_T2_LOSS) t2loss_points(&d, &rng);
    else t2acc_points(&d, &rng);
    FitOptions o;
    fit_options_default(&o);
    o.bootstrap = bootstrap;
    o.threads = (int)threads;
    o.seed = (uint64_t)seed;
    FitResult r;
    double t0 = now_s();
    if (fit_run(law, &d, &o, &r) != 0) {
        fit_data_free(&d);
        return cmd_fail();
    }
    double wall = now_s() - t0;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "bench", "fit");
    cJSON_AddStringToObject(out, "law", fit_law_name(law));
    cJSON_AddNumberToObject(out, "points", (double)d.n);
    cJSON_AddNumberToObject(out, "problems", (double)d.n_problems);
    cJSON_AddNumberToObject(out, "resamples", (double)bootstrap);
    cJSON_AddNumberToObject(out, "used", (double)r.n_boot_used);
    cJSON_AddNumberToObject(out, "threads", fit_threads(&o));
    cJSON_AddNumberToObject(out, "seconds", wall);
    cJSON_AddNumberToObject(out, "not_identified", (double)r.n_not_identified);
    cJSON_AddBoolToObject(out, "converged", r.converged);
    bench_print(out, json);
    fit_result_free(&r);
    fit_data_free(&d);
    return 0;
}
