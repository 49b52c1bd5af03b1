// test_fit.c — the scaling-law fits: Epoch AI's Chinchilla refit reproduced (library and
// `t2 fit --csv`), each law recovering known parameters from data drawn from it (exact, and
// with seeded noise), the bootstrap, the convergence verdict, JSON, and bad CSVs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <lbfgs.h>

#include "fit/fit.h"
#include "fit/fit_impl.h"
#include "testutil.h"
#include "util/util.h"

#define EPOCH_CSV "tests/data/chinchilla-svg-extracted.csv"

// ---------------------------------------------------------------------------------------------
// Epoch AI's 245 points (Besiroglu et al. 2024): columns "Model Size", "Training FLOP", "loss";
// the 5 highest losses dropped; D = FLOP / (6 N). Parsed here independently of fit_csv.c.
typedef struct {
    double N, C, loss;
} EpochRow;

static int cmp_loss(const void *a, const void *b) {
    double x = ((const EpochRow *)a)->loss, y = ((const EpochRow *)b)->loss;
    return (x > y) - (x < y);
}

// Position of NAME among the comma-separated fields of the header line (length hlen).
static int header_index(const char *header, size_t hlen, const char *name) {
    char *copy = strndup(header, hlen), *save = NULL;
    int i = 0, found = -1;
    for (char *tok = strtok_r(copy, ",\r", &save); tok; tok = strtok_r(NULL, ",\r", &save), i++)
        if (strcmp(tok, name) == 0) found = i;
    free(copy);
    return found;
}

static size_t load_epoch(EpochRow **out) {
    size_t len;
    char *text = read_file(EPOCH_CSV, &len);
    assert_non_null(text);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    size_t hlen = (size_t)(nl - text);
    int iN = header_index(text, hlen, "Model Size"), iC = header_index(text, hlen, "Training FLOP"),
        iL = header_index(text, hlen, "loss");
    assert_true(iN >= 0 && iC >= 0 && iL >= 0 && iN < 16 && iC < 16 && iL < 16);
    EpochRow *rows = xmalloc(300 * sizeof(EpochRow));
    size_t n = 0;
    for (char *line = nl + 1; *line; ) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        if (*line) {
            double v[16];
            int f = 0;
            for (char *p = line; f < 16; f++) {
                v[f] = strtod(p, NULL);
                p = strchr(p, ',');
                if (!p) break;
                p++;
            }
            assert_true(n < 300);
            rows[n++] = (EpochRow){v[iN], v[iC], v[iL]};
        }
        if (!end) break;
        line = end + 1;
    }
    free(text);
    assert_int_equal(n, 245);
    qsort(rows, n, sizeof *rows, cmp_loss);
    *out = rows;
    return n - 5; // the 5 highest losses dropped
}

static void epoch_data(FitData *d) {
    EpochRow *rows;
    size_t n = load_epoch(&rows);
    fit_data_alloc(d, n);
    for (size_t i = 0; i < n; i++) {
        d->N[i] = rows[i].N;
        d->D[i] = rows[i].C / (6 * rows[i].N);
        d->loss[i] = rows[i].loss;
    }
    free(rows);
}

// The scipy L-BFGS-B anchor on the same 240 points.
static void check_epoch_values(double A, double B, double E, double alpha, double beta, double objective) {
    assert_true(rel_diff(E, 1.81722, 0) < 2e-5);
    assert_true(fabs(alpha - 0.347311) < 2e-6);
    assert_true(fabs(beta - 0.367172) < 2e-6);
    assert_true(rel_diff(A, 477.83, 0) < 2e-5);
    assert_true(rel_diff(B, 2143.4, 0) < 3e-5);
    assert_true(rel_diff(objective, 1.01827401780e-3, 0) < 1e-8);
}

static void test_epoch_library(void **state) {
    (void)state;
    FitData d;
    epoch_data(&d);
    FitOptions o;
    fit_options_default(&o);
    FitResult r;
    assert_int_equal(fit_run(FIT_CHINCHILLA, &d, &o, &r), 0);
    assert_true(r.converged);
    assert_int_equal(r.n_points, 240);
    check_epoch_values(fit_get(&r, "A"), fit_get(&r, "B"), fit_get(&r, "E"), fit_get(&r, "alpha"), fit_get(&r, "beta"),
                       r.objective);
    // Allocation exponents: beta/(alpha+beta) and alpha/(alpha+beta); Epoch: ~20 tokens/param.
    assert_true(fabs(fit_get(&r, "N_opt_exponent") - 0.367172 / (0.347311 + 0.367172)) < 1e-5);
    assert_true(fabs(fit_get(&r, "N_opt_exponent") + fit_get(&r, "D_opt_exponent") - 1) < 1e-12);
    assert_true(isnan(r.params[0].lo)); // no bootstrap, no interval
    fit_result_free(&r);
    fit_data_free(&d);
}

static double json_num(const cJSON *obj, const char *key) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_non_null(it);
    assert_true(cJSON_IsNumber(it));
    return it->valuedouble;
}

// The same through `t2 fit --csv FILE --law chinchilla --json`, with columns N, C, loss.
static void test_epoch_cli(void **state) {
    (void)state;
    EpochRow *rows;
    size_t n = load_epoch(&rows);
    char *dir = tmpdir_make("fit");
    char *path = xasprintf("%s/epoch.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "loss,C,N,note\n"); // any order; other columns ignored
    for (size_t i = 0; i < n; i++) fprintf(f, "%.17g,%.17g,%.17g,x\n", rows[i].loss, rows[i].C, rows[i].N);
    fclose(f);
    RunResult rr = run_t2("fit", "--csv", path, "--law", "chinchilla", "--json", NULL);
    assert_int_equal(rr.status, 0);
    assert_string_equal(rr.err, "");
    const char *end;
    cJSON *j = cJSON_ParseWithOpts(rr.out, &end, 0);
    assert_non_null(j);
    while (*end == '\n' || *end == ' ') end++;
    assert_int_equal(*end, '\0'); // one JSON object, nothing else on stdout
    assert_string_equal(cJSON_GetObjectItem(j, "law")->valuestring, "chinchilla");
    const cJSON *p = cJSON_GetObjectItem(j, "params");
    check_epoch_values(json_num(p, "A"), json_num(p, "B"), json_num(p, "E"), json_num(p, "alpha"), json_num(p, "beta"),
                       json_num(j, "objective"));
    assert_int_equal((int)json_num(j, "n_points"), 240);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "converged")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "ci")));
    cJSON_Delete(j);
    run_free(&rr);
    // The table by default.
    rr = run_t2("fit", "--csv", path, "--law", "chinchilla", NULL);
    assert_int_equal(rr.status, 0);
    assert_non_null(strstr(rr.out, "law chinchilla: 240 points"));
    assert_non_null(strstr(rr.out, "alpha"));
    run_free(&rr);
    free(path);
    free(rows);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Synthetic data drawn from each law.
static const double HOFF[5] = {406.4, 410.7, 1.69, 0.34, 0.28}; // A, B, E, alpha, beta

static void chinchilla_data(FitData *d, double noise, uint64_t seed) {
    static const double tpp[6] = {2, 8, 20, 50, 150, 500};
    fit_data_alloc(d, 48);
    Rng rng;
    rng_seed(&rng, seed);
    size_t i = 0;
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 6; b++, i++) {
            d->N[i] = 1e7 * pow(1000, a / 7.0);
            d->D[i] = d->N[i] * tpp[b];
            double L = HOFF[2] + HOFF[0] * pow(d->N[i], -HOFF[3]) + HOFF[1] * pow(d->D[i], -HOFF[4]);
            d->loss[i] = L * exp(noise * rng_normal(&rng));
        }
}

static void check_close(const FitResult *r, const char *name, double want, double rel) {
    double got = fit_get(r, name);
    if (!(rel_diff(got, want, 1e-12) <= rel)) fail_msg("%s = %.10g, expected %.10g within %g", name, got, want, rel);
}

static void test_chinchilla_recovers_exact(void **state) {
    (void)state;
    FitData d;
    chinchilla_data(&d, 0, 1);
    FitResult r;
    assert_int_equal(fit_run(FIT_CHINCHILLA, &d, NULL, &r), 0);
    assert_true(r.converged);
    check_close(&r, "A", HOFF[0], 1e-6);
    check_close(&r, "B", HOFF[1], 1e-6);
    check_close(&r, "E", HOFF[2], 1e-8);
    check_close(&r, "alpha", HOFF[3], 1e-7);
    check_close(&r, "beta", HOFF[4], 1e-7);
    assert_true(r.objective < 1e-18);
    fit_result_free(&r);
    fit_data_free(&d);
}

static void test_chinchilla_recovers_noisy(void **state) {
    (void)state;
    FitData d;
    chinchilla_data(&d, 0.003, 7); // 0.3% lognormal noise
    FitResult r;
    assert_int_equal(fit_run(FIT_CHINCHILLA, &d, NULL, &r), 0);
    assert_true(r.converged);
    check_close(&r, "E", HOFF[2], 0.01);
    check_close(&r, "alpha", HOFF[3], 0.05);
    check_close(&r, "beta", HOFF[4], 0.05);
    check_close(&r, "A", HOFF[0], 0.5);
    check_close(&r, "B", HOFF[1], 0.5);
    fit_result_free(&r);
    fit_data_free(&d);
}

static const double T2L[7] = {400, 600, 0.2, 0.34, 0.28, 1.5, 0.45}; // A, B, E, alpha, beta, G, gamma

static void t2loss_data(FitData *d, double noise, uint64_t seed) {
    static const double tpp[4] = {5, 20, 80, 320};
    fit_data_alloc(d, 7 * 4 * 7);
    Rng rng;
    rng_seed(&rng, seed);
    size_t i = 0;
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 7; c++, i++) {
                d->N[i] = 1e5 * pow(3, a);
                d->D[i] = d->N[i] * tpp[b];
                d->k[i] = pow(2, c);
                double y = T2L[2] + T2L[0] * pow(d->N[i], -T2L[3]) + T2L[1] * pow(d->D[i], -T2L[4]) +
                           T2L[5] * pow(d->k[i], -T2L[6]);
                d->nll[i] = y * (1 + noise * rng_normal(&rng));
            }
}

static void test_t2loss_recovers(void **state) {
    (void)state;
    static const char *const names[7] = {"A", "B", "E", "alpha", "beta", "G", "gamma"};
    FitData d;
    t2loss_data(&d, 0, 1);
    FitOptions o;
    fit_options_default(&o);
    o.n_starts = 50;
    FitResult r;
    assert_int_equal(fit_run(FIT_T2_LOSS, &d, &o, &r), 0);
    assert_true(r.converged);
    for (int j = 0; j < 7; j++) check_close(&r, names[j], T2L[j], 1e-5);
    fit_result_free(&r);
    fit_data_free(&d);
    // 1% noise: the exponents within a few hundredths, E and G within ~10%.
    t2loss_data(&d, 0.01, 3);
    assert_int_equal(fit_run(FIT_T2_LOSS, &d, &o, &r), 0);
    assert_true(r.converged);
    check_close(&r, "alpha", T2L[3], 0.05);
    check_close(&r, "beta", T2L[4], 0.05);
    check_close(&r, "gamma", T2L[6], 0.15);
    check_close(&r, "G", T2L[5], 0.1);
    check_close(&r, "E", T2L[2], 0.3);
    fit_result_free(&r);
    fit_data_free(&d);
}

// NLLs below any positive E (the t2-loss law minus 0.3): E goes to its bound 0, converged.
static void test_t2loss_at_bound(void **state) {
    (void)state;
    FitData d;
    t2loss_data(&d, 0, 1);
    for (size_t i = 0; i < d.n; i++) d.nll[i] -= 0.3;
    FitOptions o;
    fit_options_default(&o);
    o.n_starts = 50;
    FitResult r;
    assert_int_equal(fit_run(FIT_T2_LOSS, &d, &o, &r), 0);
    assert_true(r.converged);
    assert_string_equal(r.at_bound, "E");
    assert_true(fit_get(&r, "E") < 1e-9);
    fit_result_free(&r);
    fit_data_free(&d);
}

// t2-acc: stage-1 law with E placed on the profile grid (q = 20 of 40), so an exact fit exists.
static const double T2A_S1[4] = {50, 80, 0.3, 0.25};            // A, B, alpha, beta
static const double T2A_TH[5] = {2.0, 3.0, 0.9, 1.0, 0.5};      // theta0..4
static const double TPP[4] = {5, 20, 80, 320};

static double t2acc_true_E(void) {
    double t_min = HUGE_VAL;
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 4; b++) {
            double N = 1e5 * pow(3, a), D = N * TPP[b];
            t_min = fmin(t_min, T2A_S1[0] * pow(N, -T2A_S1[2]) + T2A_S1[1] * pow(D, -T2A_S1[3]));
        }
    double f = 0.01 + 0.94 * 20 / 39; // E = f · min L = f (E + t_min)
    return f * t_min / (1 - f);
}

static void t2acc_data(FitData *d, double nll_noise, double pass_noise, uint64_t seed) {
    double E = t2acc_true_E();
    fit_data_alloc(d, 7 * 4 * 7);
    Rng rng;
    rng_seed(&rng, seed);
    size_t i = 0;
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 4; b++) {
            double N = 1e5 * pow(3, a), D = N * TPP[b];
            double L = E + T2A_S1[0] * pow(N, -T2A_S1[2]) + T2A_S1[1] * pow(D, -T2A_S1[3]);
            double L_obs = L * (1 + nll_noise * rng_normal(&rng));
            double ba, bb;
            t2acc_beta(T2A_TH, L, &ba, &bb);
            for (int c = 0; c < 7; c++, i++) {
                d->N[i] = N;
                d->D[i] = D;
                d->k[i] = pow(2, c);
                d->nll[i] = L_obs;
                double p = beta_pass_at_k(ba, bb, d->k[i]) + pass_noise * rng_normal(&rng);
                d->pass[i] = fmin(1, fmax(0, p));
            }
        }
}

static void test_t2acc_recovers(void **state) {
    (void)state;
    FitData d;
    t2acc_data(&d, 0, 0, 1);
    FitResult r;
    assert_int_equal(fit_run(FIT_T2_ACC, &d, NULL, &r), 0);
    assert_true(r.converged);
    check_close(&r, "E", t2acc_true_E(), 1e-9);
    check_close(&r, "A", T2A_S1[0], 1e-5);
    check_close(&r, "B", T2A_S1[1], 1e-5);
    check_close(&r, "alpha", T2A_S1[2], 1e-6);
    check_close(&r, "beta", T2A_S1[3], 1e-6);
    static const char *const th[5] = {"theta0", "theta1", "theta2", "theta3", "theta4"};
    for (int j = 0; j < 5; j++) check_close(&r, th[j], T2A_TH[j], 1e-5);
    assert_true(r.objective < 1e-18 && r.objective_stage1 < 1e-18);
    // The fitted law predicts the data it came from.
    assert_true(fabs(fit_predict(&r, d.N[10], d.D[10], d.k[10]) - d.pass[10]) < 1e-8);
    fit_result_free(&r);
    fit_data_free(&d);
    // 0.5% noise on the NLL, ±0.005 on pass@k.
    t2acc_data(&d, 0.005, 0.005, 5);
    assert_int_equal(fit_run(FIT_T2_ACC, &d, NULL, &r), 0);
    assert_true(r.converged);
    check_close(&r, "theta0", T2A_TH[0], 0.05);
    check_close(&r, "theta1", T2A_TH[1], 0.15);
    check_close(&r, "theta2", T2A_TH[2], 0.02);
    check_close(&r, "alpha", T2A_S1[2], 0.1);
    check_close(&r, "beta", T2A_S1[3], 0.1);
    fit_result_free(&r);
    fit_data_free(&d);
}

static const double COV[3][2] = {{-2.0, -0.4}, {-1.0, -0.3}, {-0.5, -0.6}};
#define COV_PROBLEMS 400

// Three models' pass@k on k = 1 .. 256; with noise, the mean over COV_PROBLEMS problems whose
// terms carry the problem's multiplicative noise (the same at every k of a model), so the
// bootstrap has problems to resample.
static void coverage_data(FitData *d, double noise, uint64_t seed) {
    fit_data_alloc(d, 3 * 9);
    d->model = xcalloc(d->n, sizeof(char *));
    if (noise > 0) fit_data_alloc_problems(d, COV_PROBLEMS, 0);
    Rng rng;
    rng_seed(&rng, seed);
    double z[3][COV_PROBLEMS];
    for (int m = 0; m < 3; m++)
        for (int p = 0; p < COV_PROBLEMS; p++) z[m][p] = rng_normal(&rng);
    for (size_t i = 0; i < d->n; i++) {
        size_t m = i / 9;
        d->model[i] = xasprintf("run%zu", m);
        d->k[i] = pow(2, (double)(i % 9));
        double p = exp(COV[m][0] * pow(d->k[i], COV[m][1]));
        if (noise == 0) {
            d->pass[i] = p;
            continue;
        }
        double sum = 0;
        for (int q = 0; q < COV_PROBLEMS; q++) {
            d->prob_term[i * COV_PROBLEMS + (size_t)q] = p * (1 + noise * z[m][q]);
            sum += d->prob_term[i * COV_PROBLEMS + (size_t)q];
        }
        d->pass[i] = fmin(1, sum / COV_PROBLEMS);
    }
}

static void test_coverage_recovers(void **state) {
    (void)state;
    FitData d;
    coverage_data(&d, 0, 1);
    FitResult r;
    assert_int_equal(fit_run(FIT_COVERAGE, &d, NULL, &r), 0);
    assert_true(r.converged);
    assert_int_equal(r.n_params, 6);
    assert_int_equal(r.n_alloc, 0);
    for (int m = 0; m < 3; m++) {
        char a[16], b[16];
        snprintf(a, sizeof a, "a[run%d]", m);
        snprintf(b, sizeof b, "b[run%d]", m);
        check_close(&r, a, COV[m][0], 1e-7);
        check_close(&r, b, COV[m][1], 1e-7);
    }
    fit_result_free(&r);
    fit_data_free(&d);
    coverage_data(&d, 0.1, 2);
    FitOptions o;
    fit_options_default(&o);
    o.bootstrap = 300;
    o.seed = 4;
    assert_int_equal(fit_run(FIT_COVERAGE, &d, &o, &r), 0);
    assert_true(r.converged);
    assert_int_equal(r.n_boot_used, 300);
    assert_string_equal(r.resample, "problems");
    for (size_t j = 0; j < r.n_params; j++) {
        const FitParam *p = &r.params[j];
        assert_true(p->identified);
        assert_true(p->lo <= p->value && p->value <= p->hi);
        double truth = COV[j / 2][j % 2];
        assert_true(fabs(p->value - truth) < 0.05 * fabs(truth));
    }
    fit_result_free(&r);
    // A CSV gives no problems: the bootstrap of a per-model curve is refused.
    free(d.prob_term);
    d.prob_term = NULL;
    d.n_problems = 0;
    assert_int_equal(fit_run(FIT_COVERAGE, &d, &o, &r), -1);
    assert_non_null(strstr(err_msg(), "coverage: --bootstrap needs per-problem data"));
    fit_result_free(&r);
    fit_data_free(&d);
}

// ---------------------------------------------------------------------------------------------
// Every hand-written gradient against central differences, at points near and far from optima.
static void check_grad(const char *what, double err) {
    if (!(err < 1e-5)) fail_msg("%s: gradient off by %.3g (relative to its norm)", what, err);
}

static void test_gradients(void **state) {
    (void)state;
    FitData d;
    epoch_data(&d);
    check_grad("chinchilla near", chinchilla_gradient_error(&d, (double[5]){6.2, 7.7, 0.6, 0.35, 0.37}));
    check_grad("chinchilla far", chinchilla_gradient_error(&d, (double[5]){2, 12, -0.5, 0.1, 0.6}));
    check_grad("chinchilla E tiny", chinchilla_gradient_error(&d, (double[5]){6, 7, -40, 0.3, 0.3}));
    fit_data_free(&d);
    t2loss_data(&d, 0.01, 1);
    check_grad("t2-loss", t2loss_gradient_error(&d, (double[7]){0.1, 0.4, -1.6, 0.34, 0.28, -0.7, 0.45}));
    check_grad("t2-loss far", t2loss_gradient_error(&d, (double[7]){-2, 1, 0.5, 1.5, 0.1, 1, 1.9}));
    check_grad("t2-acc stage 1", stage1_gradient_error(&d, 0.1, (double[4]){0.2, -0.3, 0.3, 0.25}));
    fit_data_free(&d);
    t2acc_data(&d, 0.005, 0.005, 1);
    double *L = d.nll, L_c = 0;
    for (size_t i = 0; i < d.n; i++) L_c += L[i] / (double)d.n;
    check_grad("t2-acc stage 2", stage2_gradient_error(&d, L, L_c, (double[5]){2, 3, 0.3, 1, 0.5}));
    check_grad("t2-acc stage 2 far", stage2_gradient_error(&d, L, L_c, (double[5]){1, 0.5, 1.2, -2, 2}));
    check_grad("t2-acc stage 2 sharp", stage2_gradient_error(&d, L, L_c, (double[5]){2.5, 20, 0.1, 4, -1}));
    fit_data_free(&d);
    coverage_data(&d, 0.01, 1);
    d.n = 9; // the first model
    check_grad("coverage", coverage_gradient_error(&d, (double[2]){-1.5, -0.35}));
    check_grad("coverage far", coverage_gradient_error(&d, (double[2]){-0.2, 0.4}));
    d.n = 27;
    fit_data_free(&d);
    // digamma, the gradient of lgamma, against known values: ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2.
    const double euler = 0.57721566490153286;
    assert_true(fabs(digamma(1) + euler) < 1e-12);
    assert_true(fabs(digamma(0.5) + euler + 2 * log(2)) < 1e-12);
    assert_true(fabs(digamma(10) - 2.2517525890667211) < 1e-12);
    assert_true(fabs(digamma(1e-3) - (-1000.5755719318103)) < 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Bootstrap, determinism, JSON.
static char *fit_json(FitLaw law, const FitData *d, long boot, uint64_t seed, int threads) {
    FitOptions o;
    fit_options_default(&o);
    o.bootstrap = boot;
    o.seed = seed;
    o.threads = threads;
    o.n_starts = 60;
    FitResult r;
    assert_int_equal(fit_run(law, d, &o, &r), 0);
    char *s = fit_result_json(&r);
    fit_result_free(&r);
    return s;
}

static void test_bootstrap_chinchilla(void **state) {
    (void)state;
    FitData d;
    epoch_data(&d);
    FitOptions o;
    fit_options_default(&o);
    o.bootstrap = 1000;
    o.seed = 11;
    FitResult r;
    assert_int_equal(fit_run(FIT_CHINCHILLA, &d, &o, &r), 0);
    assert_int_equal(r.n_boot, 1000);
    assert_true(r.n_boot_used >= 990);
    assert_non_null(r.boot);
    for (size_t j = 0; j < r.n_params; j++) {
        const FitParam *p = &r.params[j];
        assert_true(p->lo < p->value && p->value < p->hi);
    }
    for (size_t j = 0; j < r.n_alloc; j++) assert_true(r.alloc[j].lo < r.alloc[j].value && r.alloc[j].value < r.alloc[j].hi);
    // Epoch's 95% intervals are about ±0.03 on E and ±0.02 on alpha and beta; ours resample the
    // same points, so they must be of that size (not collapsed, not exploded).
    const FitParam *E = fit_find(&r, "E"), *al = fit_find(&r, "alpha");
    assert_true(E->hi - E->lo > 0.02 && E->hi - E->lo < 0.3);
    assert_true(al->hi - al->lo > 0.01 && al->hi - al->lo < 0.15);
    // The JSON carries every interval.
    char *s = fit_result_json(&r);
    cJSON *j = cJSON_Parse(s);
    const cJSON *ci = cJSON_GetObjectItem(j, "ci");
    assert_int_equal(cJSON_GetArraySize(ci), 8);
    const cJSON *a = cJSON_GetObjectItem(ci, "N_opt_exponent");
    assert_true(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 2);
    assert_int_equal((int)json_num(cJSON_GetObjectItem(j, "bootstrap"), "resamples"), 1000);
    cJSON_Delete(j);
    free(s);
    fit_result_free(&r);
    fit_data_free(&d);
}

// Same seed: the same answer at any thread count; another seed: other intervals.
static void test_deterministic(void **state) {
    (void)state;
    FitData d;
    t2loss_data(&d, 0.01, 9);
    char *one = fit_json(FIT_T2_LOSS, &d, 100, 5, 1), *two = fit_json(FIT_T2_LOSS, &d, 100, 5, 2);
    assert_string_equal(one, two);
    char *other = fit_json(FIT_T2_LOSS, &d, 100, 6, 2);
    assert_string_not_equal(one, other);
    free(one);
    free(two);
    free(other);
    fit_data_free(&d);
    chinchilla_data(&d, 0.003, 2);
    one = fit_json(FIT_CHINCHILLA, &d, 50, 1, 1);
    two = fit_json(FIT_CHINCHILLA, &d, 50, 1, 2);
    assert_string_equal(one, two);
    free(one);
    free(two);
    fit_data_free(&d);
}

static void test_t2acc_bootstrap(void **state) {
    (void)state;
    FitData d;
    t2acc_data(&d, 0.005, 0.005, 8);
    FitOptions o;
    fit_options_default(&o);
    o.bootstrap = 40;
    o.seed = 3;
    FitResult r;
    assert_int_equal(fit_run(FIT_T2_ACC, &d, &o, &r), 0);
    assert_true(r.n_boot_used >= 36);
    for (size_t j = 0; j < r.n_params; j++) assert_true(r.params[j].lo <= r.params[j].hi);
    assert_true(fit_find(&r, "theta0")->lo < T2A_TH[0] && T2A_TH[0] < fit_find(&r, "theta0")->hi);
    fit_result_free(&r);
    fit_data_free(&d);
}

static void test_json_round_trip(void **state) {
    (void)state;
    FitData d;
    chinchilla_data(&d, 0.003, 3);
    FitOptions o;
    fit_options_default(&o);
    o.bootstrap = 20;
    FitResult r, back;
    assert_int_equal(fit_run(FIT_CHINCHILLA, &d, &o, &r), 0);
    char *s = fit_result_json(&r);
    assert_int_equal(fit_result_from_json(s, &back), 0);
    assert_int_equal(back.law, FIT_CHINCHILLA);
    assert_int_equal(back.n_params, 5);
    assert_int_equal(back.n_alloc, 3);
    assert_int_equal(back.n_points, 48);
    assert_int_equal(back.converged, r.converged);
    for (size_t j = 0; j < 5; j++) {
        assert_string_equal(back.params[j].name, r.params[j].name);
        assert_true(back.params[j].value == r.params[j].value); // %.17g round-trips exactly
        if (!(back.params[j].lo == r.params[j].lo && back.params[j].hi == r.params[j].hi))
            fail_msg("%s: [%.17g, %.17g] came back as [%.17g, %.17g] (%ld resamples used)", r.params[j].name,
                     r.params[j].lo, r.params[j].hi, back.params[j].lo, back.params[j].hi, r.n_boot_used);
    }
    assert_true(back.objective == r.objective);
    assert_true(fit_predict(&back, 1e9, 2e10, 1) == fit_predict(&r, 1e9, 2e10, 1));
    fit_result_free(&back);
    // From a `fits` row's columns, printed from fit_result_cjson's members.
    cJSON *whole = fit_result_cjson(&r);
    char *params = cJSON_PrintUnformatted(cJSON_GetObjectItem(whole, "params"));
    char *ci = cJSON_PrintUnformatted(cJSON_GetObjectItem(whole, "ci"));
    assert_int_equal(fit_result_from_parts("chinchilla", params, ci, &back), 0);
    assert_true(back.params[3].value == r.params[3].value && back.params[3].lo == r.params[3].lo);
    assert_true(fit_predict(&back, 1e9, 2e10, 1) == fit_predict(&r, 1e9, 2e10, 1));
    fit_result_free(&back);
    cJSON_free(params);
    cJSON_free(ci);
    cJSON_Delete(whole);
    assert_int_equal(fit_result_from_json("{\"law\": \"nope\", \"params\": {}}", &back), -1);
    assert_non_null(strstr(err_msg(), "unknown law 'nope'"));
    fit_result_free(&back);
    assert_int_equal(fit_result_from_json("{", &back), -1);
    fit_result_free(&back);
    free(s);
    fit_result_free(&r);
    fit_data_free(&d);
}

// ---------------------------------------------------------------------------------------------
// The convergence verdict.
typedef struct {
    double shift;
} QuadCtx;

// f = Σ_j (x_j − shift)² as residuals r_j = x_j − shift: ℓ = r², J = I; n = 3.
static double quad_f(void *ctx, const double *x, double *g, double *s) {
    const QuadCtx *q = ctx;
    double f = 0;
    for (int j = 0; j < 3; j++) {
        double r = x[j] - q->shift;
        f += r * r;
        g[j] = 2 * r;
    }
    for (int j = 0; s && j < 3; j++) s[j] = 2 * sqrt(f); // sqrt(Σ ℓ'²) · sqrt(Σ J_j²), Σ J_j² = 1
    return f;
}

// One residual r = e^−x + 1, minimum at x → ∞: never converges.
static double runaway_f(void *ctx, const double *x, double *g, double *s) {
    (void)ctx;
    double r = exp(-x[0]) + 1; // f = r²: slope 2 r (−e^−x) → 0 but r → 1, not 0
    g[0] = -2 * r * exp(-x[0]);
    if (s) s[0] = 2 * fabs(r) * exp(-x[0]);
    return r * r;
}

static void test_convergence_verdict(void **state) {
    (void)state;
    MinOptions opt = {.epsilon = 1e-10, .accept = 1e-6, .f_floor = 0, .ftol_rel = 1e-13, .max_iter = 100, .polish = 2};
    QuadCtx q = {3.0};
    FitProblem p;
    fit_problem_init(&p, quad_f, &q, 3);
    double x[3] = {0, 10, -5};
    MinResult m;
    fit_minimize(&p, x, &opt, &m);
    assert_true(m.converged);
    assert_true(fabs(x[0] - 3) < 1e-8 && fabs(x[1] - 3) < 1e-8);
    // An objective flat only at infinity: whatever liblbfgs returns, the cosine stays ~1.
    FitProblem run;
    fit_problem_init(&run, runaway_f, NULL, 1);
    double y[1] = {0};
    opt.max_iter = 30;
    fit_minimize(&run, y, &opt, &m);
    assert_false(m.converged);
    assert_true(m.cosine > 0.5);
    // Stopped early by the iteration limit: not converged, and says why.
    double z[3] = {0, 10, -5};
    QuadCtx far = {1e6};
    p.ctx = &far;
    opt.max_iter = 1;
    opt.polish = 0;
    fit_minimize(&p, z, &opt, &m);
    if (m.status == LBFGSERR_MAXIMUMITERATION) assert_false(m.converged);
    assert_non_null(fit_lbfgs_reason(LBFGSERR_ROUNDING_ERROR));
    // A box: the minimum at 3 lies outside [0, 1]; the fit stops at the end 1, converged there
    // (the bound), and never evaluates outside the box.
    fit_problem_init(&p, quad_f, &q, 3);
    p.lo[1] = 0;
    p.hi[1] = 1;
    double b[3] = {0, 0.5, 0};
    opt.max_iter = 200;
    opt.polish = 2;
    fit_minimize(&p, b, &opt, &m);
    assert_true(m.converged);
    assert_true(b[1] <= 1 && b[1] > 1 - FIT_BOX_TOL);
    assert_true(m.bound == 1u << 1);
    assert_true(fabs(b[0] - 3) < 1e-6);
    // A fixed component stays where it was put.
    p.fixed = 1u;
    double c[3] = {7, 0.5, 0};
    fit_minimize(&p, c, &opt, &m);
    assert_true(c[0] == 7 && fabs(c[2] - 3) < 1e-6);
}

// Chinchilla data below any E > 0 (L = 400/N^.3 + 400/D^.3 − 0.05): the constrained optimum is
// E = 0 (e → −∞). Converged, with E reported at its bound and not identified, and a warning.
static void test_at_bound(void **state) {
    (void)state;
    char *dir = tmpdir_make("fit");
    char *path = xasprintf("%s/noE.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "N,D,loss\n");
    for (int a = 0; a < 6; a++)
        for (int b = 0; b < 5; b++) {
            double N = 1e7 * pow(10, a / 2.0), D = N * 5 * pow(3, b);
            fprintf(f, "%.17g,%.17g,%.17g\n", N, D, 400 * pow(N, -0.3) + 400 * pow(D, -0.3) - 0.05);
        }
    fclose(f);
    RunResult rr = run_t2("fit", "--csv", path, "--law", "chinchilla", "--json", NULL);
    assert_int_equal(rr.status, 0);
    cJSON *j = cJSON_Parse(rr.out);
    assert_non_null(j);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "converged")));
    assert_true(json_num(cJSON_GetObjectItem(j, "params"), "E") < 1e-12); // 1e-71 at -O3, 1e-19 at -O1
    const cJSON *ab = cJSON_GetObjectItem(j, "at_bound");
    assert_true(cJSON_IsArray(ab) && cJSON_GetArraySize(ab) == 1);
    assert_string_equal(cJSON_GetArrayItem(ab, 0)->valuestring, "E");
    assert_non_null(strstr(rr.err, "warning: the chinchilla fit drove E to a bound of the range allowed"));
    // At its bound, E is not identified: no interval, and named.
    const cJSON *ni = cJSON_GetObjectItem(j, "not_identified");
    assert_true(cJSON_IsArray(ni) && cJSON_GetArraySize(ni) == 1);
    assert_string_equal(cJSON_GetArrayItem(ni, 0)->valuestring, "E");
    cJSON_Delete(j);
    run_free(&rr);
    free(path);
    tmpdir_remove(dir);
}

// Coverage with pass@1 = 0.3 and pass@k = 1 beyond: a k^b fits only as b → −∞, beyond the box
// (−3, 0): the fit stops at b = −3, converged at that bound, and says b is not identified (JSON,
// table and warning).
static void test_at_bound_not_identified(void **state) {
    (void)state;
    char *dir = tmpdir_make("fit");
    char *path = write_text(dir, "runaway.csv", "model,k,pass\nm,1,0.3\nm,2,1\nm,4,1\nm,8,1\n");
    RunResult rr = run_t2("fit", "--csv", path, "--law", "coverage", "--json", NULL);
    assert_int_equal(rr.status, 0);
    cJSON *j = cJSON_Parse(rr.out);
    assert_non_null(j);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "converged")));
    assert_true(fabs(json_num(cJSON_GetObjectItem(j, "params"), "b[m]") + FIT_EXPONENT_MAX) < 1e-2);
    const cJSON *ni = cJSON_GetObjectItem(j, "not_identified");
    assert_true(cJSON_IsArray(ni) && cJSON_GetArraySize(ni) >= 1);
    assert_string_equal(cJSON_GetArrayItem(ni, cJSON_GetArraySize(ni) - 1)->valuestring, "b[m]");
    assert_non_null(strstr(rr.err, "t2: warning: the coverage fit does not identify"));
    cJSON_Delete(j);
    run_free(&rr);
    rr = run_t2("fit", "--csv", path, "--law", "coverage", NULL);
    assert_non_null(strstr(rr.out, "b[m]             not identified by these data (at a bound of its range)"));
    run_free(&rr);
    free(path);
    tmpdir_remove(dir);
}

// A fit that did not converge says so in its table and JSON.
static void test_not_converged_reported(void **state) {
    (void)state;
    FitData d;
    chinchilla_data(&d, 0.003, 2);
    FitResult r;
    assert_int_equal(fit_run(FIT_CHINCHILLA, &d, NULL, &r), 0);
    r.converged = 0;
    r.cosine = 0.3;
    char *s = fit_result_json(&r);
    cJSON *j = cJSON_Parse(s);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "converged")));
    cJSON_Delete(j);
    free(s);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fit_result_print(f, &r);
    fclose(f);
    assert_non_null(strstr(text, "NOT converged: largest gradient cosine 0.3"));
    free(text);
    fit_result_free(&r);
    fit_data_free(&d);
}

// ---------------------------------------------------------------------------------------------
// `t2 fit` input errors: one line on stderr naming file, line and column; exit 1; no stdout.
typedef struct {
    const char *law;
    const char *csv;    // NULL: the file does not exist
    const char *expect; // substring of the message ("FILE" stands for the path)
} BadCase;

static void check_bad(const char *dir, int i, const BadCase *c) {
    char name[32];
    snprintf(name, sizeof name, "bad%d.csv", i);
    char *path = c->csv ? write_text(dir, name, c->csv) : xasprintf("%s/missing.csv", dir);
    RunResult rr = run_t2("fit", "--csv", path, "--law", c->law, NULL);
    char *want = xstrdup(c->expect);
    char *at = strstr(want, "FILE");
    char *full = at ? xasprintf("%.*s%s%s", (int)(at - want), want, path, at + 4) : xstrdup(want);
    if (rr.status != 1 || !strstr(rr.err, full) || strncmp(rr.err, "t2: ", 4) != 0 ||
        strchr(rr.err, '\n') != rr.err + strlen(rr.err) - 1 || rr.out[0] != '\0')
        fail_msg("case %d (%s): status %d, stderr '%s', stdout '%s'; wanted '%s'", i, c->law, rr.status, rr.err, rr.out,
                 full);
    free(full);
    free(want);
    run_free(&rr);
    free(path);
}

static void test_bad_csv(void **state) {
    (void)state;
    static const char six[] = "1e6,2e7,3.1\n2e6,4e7,2.9\n4e6,8e7,2.7\n8e6,2e8,2.5\n2e7,4e8,2.4\n4e7,8e8,2.3\n";
    char *with_header = xasprintf("N,D,loss\n%s", six);
    BadCase cases[] = {
        {"chinchilla", "N,loss\n1,2\n", "FILE: missing column D (or C) for law chinchilla"},
        {"chinchilla", "x,y\n1,2\n", "FILE: missing columns N, D (or C), loss for law chinchilla"},
        {"chinchilla", "1e6,2e7,3\n", "for law chinchilla (the first row must be a header naming the columns)"},
        {"t2-loss", "N,D,nll\n1,2,3\n", "FILE: missing column k for law t2-loss"},
        {"t2-acc", "N,C,k\n1,2,3\n", "missing columns nll, pass for law t2-acc"},
        {"coverage", "k,pass\n1,0.5\n", "missing column model (or N and D) for law coverage"},
        {"chinchilla", "N,D,loss\n1e6,2e7,3.1\n2e6,abc,2.9\n", "FILE:3: column D: 'abc' is not a number"},
        {"chinchilla", "N,D,loss\n-5,2e7,3.1\n", "FILE:2: column N: -5 must be positive"},
        {"chinchilla", "N,D,loss\n1e6,2e7,0\n", "FILE:2: column loss: 0 must be positive"},
        {"chinchilla", "N,D,loss\n1e6,2e7,nan\n", "FILE:2: column loss: 'nan' is not a number"},
        {"chinchilla", "N,D,loss\n1e6,2e7\n", "FILE:2: 2 fields, the header has 3"},
        {"chinchilla", "N,D,loss\n1e6,2e7,3\n2e6,4e7,2.9\n3e6,5e7,2.8\n", "FILE: chinchilla needs at least 6 points, got 3"},
        {"t2-loss", "N,D,k,nll\n1,2,3,4\n", "FILE: t2-loss needs at least 8 points, got 1"},
        {"coverage", "model,k,pass\na,1,0.5\na,2,0.6\n", "needs at least 3 points (k values) per model, model a has 2"},
        {"coverage", "model,k,pass\na,1,0\n", "FILE:2: column pass: 0 must be in (0, 1]"},
        {"coverage", "model,k,pass\na,0.5,0.2\n", "FILE:2: column k: 0.5 must be >= 1"},
        {"t2-acc", "N,D,k,pass,nll\n1,2,3,1.5,1\n", "FILE:2: column pass: 1.5 must be in [0, 1]"},
        {"chinchilla", "N,D,N,loss\n1,2,3,4\n", "FILE: column N appears twice in the header"},
        {"chinchilla", "", "FILE: empty; expected a header row"},
        {"chinchilla", "N,D,loss\n\"1e6,2e7,3\n", "FILE:2: unterminated or misplaced double quote"},
        {"chinchilla", NULL, "FILE"},
        {"nonsense", with_header, "--law: unknown law 'nonsense' (expected chinchilla, t2-loss, t2-acc or coverage)"},
    };
    char *dir = tmpdir_make("fitbad");
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) check_bad(dir, (int)i, &cases[i]);
    // The same six rows are fine, also with C for D, quotes, CRLF, comments and blank lines.
    char *ok = write_text(dir, "ok.csv", with_header);
    RunResult rr = run_t2("fit", "--csv", ok, "--law", "chinchilla", "--json", NULL);
    assert_int_equal(rr.status, 0);
    run_free(&rr);
    char *ok2 = write_text(dir, "ok2.csv",
                           "# comment\r\n\"N\", \"C\" ,loss\r\n\r\n1e6,1.2e14,3.1\r\n2e6,4.8e14,2.9\r\n4e6,1.92e15,2.7\r\n"
                           "8e6,9.6e15,2.5\r\n2e7,4.8e16,2.4\r\n4e7,1.92e17,2.3\r\n");
    rr = run_t2("fit", "--csv", ok2, "--law", "chinchilla", "--json", NULL);
    if (rr.status != 0) fail_msg("ok2: %s", rr.err);
    run_free(&rr);
    // Missing options.
    rr = run_t2("fit", "--law", "chinchilla", NULL);
    assert_int_equal(rr.status, 1);
    assert_non_null(strstr(rr.err, "--csv"));
    run_free(&rr);
    rr = run_t2("fit", "--csv", ok, "--law", "chinchilla", "--bootstrap", "-3", NULL);
    assert_int_equal(rr.status, 1);
    assert_non_null(strstr(rr.err, "--bootstrap"));
    run_free(&rr);
    rr = run_t2("fit", "--help", NULL);
    assert_int_equal(rr.status, 0);
    assert_non_null(strstr(rr.out, "t2-acc      N, D, k, pass, nll"));
    run_free(&rr);
    free(ok);
    free(ok2);
    free(with_header);
    tmpdir_remove(dir);
}

// The CSV loader fills the columns each law reads; C becomes D = C / (6N); models by name or (N, D).
static void test_csv_loader(void **state) {
    (void)state;
    char *dir = tmpdir_make("fitcsv");
    char *p = write_text(dir, "a.csv", "model,k,pass,N\nx,1,0.5,3\ny,1,0.25,4\nx,2,0.75,3\n");
    FitData d;
    // Too few points per model, but the rows are parsed first: check through the error.
    assert_int_equal(fit_csv_load(p, FIT_COVERAGE, &d), -1);
    assert_non_null(strstr(err_msg(), "model x has 2"));
    free(p);
    p = write_text(dir, "b.csv", "k,pass,C,N\n1,0.5,6e9,1e3\n2,0.6,6e9,1e3\n4,0.7,6e9,1e3\n");
    assert_int_equal(fit_csv_load(p, FIT_COVERAGE, &d), 0);
    assert_int_equal(d.n, 3);
    assert_null(d.model);
    assert_true(d.D[0] == 6e9 / (6 * 1e3));
    assert_true(d.k[2] == 4 && d.pass[1] == 0.6);
    FitResult r;
    assert_int_equal(fit_run(FIT_COVERAGE, &d, NULL, &r), 0);
    assert_non_null(fit_find(&r, "a[1000,1e+06]"));
    fit_result_free(&r);
    fit_data_free(&d);
    free(p);
    tmpdir_remove(dir);
}

// `t2 bench fit`: each law's synthetic sweep fits and reports its resamples; a law it has no
// sweep for is refused in one line.
static void test_bench_fit(void **state) {
    (void)state;
    static const char *const laws[3] = {"chinchilla", "t2-loss", "t2-acc"};
    static const double points[3] = {100, 25 * 11, 25 * 7}, problems[3] = {0, 200, 200};
    for (int i = 0; i < 3; i++) {
        RunResult r = run_t2("bench", "fit", "--law", laws[i], "--bootstrap", "8", "--threads", "1", "--json", NULL);
        if (r.status != 0) fail_msg("bench fit --law %s: %s", laws[i], r.err);
        cJSON *j = cJSON_Parse(r.out);
        assert_non_null(j);
        assert_string_equal(cJSON_GetObjectItem(j, "law")->valuestring, laws[i]);
        assert_true(json_num(j, "points") == points[i] && json_num(j, "problems") == problems[i]);
        assert_true(json_num(j, "resamples") == 8 && json_num(j, "used") <= 8 && json_num(j, "used") >= 1);
        assert_true(json_num(j, "seconds") > 0);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "converged")));
        cJSON_Delete(j);
        run_free(&r);
    }
    RunResult r = run_t2("bench", "fit", "--law", "coverage", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "--law: expected chinchilla, t2-loss or t2-acc, got 'coverage'"));
    assert_true(strchr(r.err, '\n') == r.err + strlen(r.err) - 1);
    assert_string_equal(r.out, "");
    run_free(&r);
}

// lgamma(x+k) − lgamma(x) and ψ(x+k) − ψ(x) where x ≫ k (the Beta model far from its data):
// against the exact sums for integer k, and continuous where the series takes over.
static void test_gamma_differences(void **state) {
    (void)state;
    const double xs[] = {50, 100, 5e3, 1e4, 1e6, 1e12, 1e17};
    const int ks[] = {1, 7, 16};
    for (size_t i = 0; i < ARRAY_LEN(xs); i++)
        for (size_t j = 0; j < ARRAY_LEN(ks); j++) {
            double x = xs[i], lg = 0, dg = 0;
            for (int m = 0; m < ks[j]; m++) {
                lg += log(x) + log1p(m / x); // log(x + m), without rounding x + m
                dg += 1 / (x + m);
            }
            double got = lgamma_diff(x, ks[j]);
            if (rel_diff(got, lg, 0) > 1e-13) fail_msg("lgamma_diff(%g, %d) = %.17g, want %.17g", x, ks[j], got, lg);
            got = digamma_diff(x, ks[j]);
            if (rel_diff(got, dg, 0) > 1e-12) fail_msg("digamma_diff(%g, %d) = %.17g, want %.17g", x, ks[j], got, dg);
        }
    double below = lgamma_diff(100 * (1 - 1e-13), 2.5), above = lgamma_diff(100, 2.5);
    assert_true(rel_diff(below, above, 0) < 1e-12);
    below = digamma_diff(100 * (1 - 1e-13), 2.5), above = digamma_diff(100, 2.5);
    assert_true(rel_diff(below, above, 0) < 1e-10);
    // A very concentrated Beta (nu = 1e15) is a point mass at mu: pass@k = 1 − (1 − mu)^k.
    double mu = 0.01, nu = 1e15;
    assert_true(rel_diff(beta_pass_at_k(mu * nu, (1 - mu) * nu, 16), -expm1(16 * log1p(-mu)), 0) < 1e-9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_library),
        cmocka_unit_test(test_epoch_cli),
        cmocka_unit_test(test_chinchilla_recovers_exact),
        cmocka_unit_test(test_chinchilla_recovers_noisy),
        cmocka_unit_test(test_t2loss_recovers),
        cmocka_unit_test(test_t2loss_at_bound),
        cmocka_unit_test(test_t2acc_recovers),
        cmocka_unit_test(test_coverage_recovers),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_bootstrap_chinchilla),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_t2acc_bootstrap),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_convergence_verdict),
        cmocka_unit_test(test_at_bound),
        cmocka_unit_test(test_at_bound_not_identified),
        cmocka_unit_test(test_not_converged_reported),
        cmocka_unit_test(test_bad_csv),
        cmocka_unit_test(test_csv_loader),
        cmocka_unit_test(test_gamma_differences),
        cmocka_unit_test(test_bench_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
