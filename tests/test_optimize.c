// test_optimize.c — compute-optimal allocation: Chinchilla's closed form against a numeric
// minimisation; the T² optimiser reducing to Chinchilla when k does not help and moving to
// smaller, overtrained models when it does (as in the paper); the k ≥ 1 budget; bootstrap
// intervals; errors; output.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fit/fit.h"
#include "fit/optimize.h"
#include "testutil.h"
#include "util/util.h"

// Hoffmann et al. (2022): E 1.69, A 406.4, B 410.7, alpha .34, beta .28.
#define HOFF "\"A\": 406.4, \"B\": 410.7, \"E\": 1.69, \"alpha\": 0.34, \"beta\": 0.28"

static void law_from(const char *json, FitResult *r) {
    if (fit_result_from_json(json, r) != 0) fail_msg("%s", err_msg());
}

static double parabola(double v, void *ctx) {
    (void)ctx;
    return (v - 1.2345) * (v - 1.2345) + 3;
}

static double slope(double v, void *ctx) {
    (void)ctx;
    return v;
}

static void test_minimize_1d(void **state) {
    (void)state;
    double f;
    double v = minimize_1d(parabola, NULL, 0, 10, 101, &f);
    assert_true(fabs(v - 1.2345) < 1e-7); // f is flat to rounding within ~sqrt(eps · 3)
    assert_true(fabs(f - 3) < 1e-15);
    v = minimize_1d(slope, NULL, 2, 5, 31, &f); // minimum on the boundary
    assert_true(fabs(v - 2) < 1e-9);
}

typedef struct {
    double A, B, E, alpha, beta, C;
} LossAtC;

static double loss_on_budget(double v, void *ctx) {
    const LossAtC *l = ctx;
    double N = exp(v), D = l->C / (6 * N);
    return l->E + l->A * pow(N, -l->alpha) + l->B * pow(D, -l->beta);
}

static void test_closed_form_vs_numeric(void **state) {
    (void)state;
    const double budgets[3] = {1e18, 5.76e23, 1e26};
    for (int i = 0; i < 3; i++) {
        LossAtC l = {406.4, 410.7, 1.69, 0.34, 0.28, budgets[i]};
        double N, D, f;
        chinchilla_optimal(l.A, l.B, l.alpha, l.beta, l.C, &N, &D);
        assert_true(rel_diff(6 * N * D, l.C, 0) < 1e-12);
        double v = minimize_1d(loss_on_budget, &l, 0, log(l.C / 6), 4001, &f);
        if (rel_diff(exp(v), N, 0) > 1e-6) fail_msg("C %g: closed form N* %.10g, numeric %.10g", l.C, N, exp(v));
        assert_true(f <= loss_on_budget(log(N), &l) + 1e-14);
    }
    // The Chinchilla paper's budget (Gopher's 5.76e23 FLOPs) under this fit: ~40B parameters.
    double N, D;
    chinchilla_optimal(406.4, 410.7, 0.34, 0.28, 5.76e23, &N, &D);
    assert_true(N > 2.5e10 && N < 6e10);
}

// Under the chinchilla law the numeric T² search and the closed form agree.
static void test_chinchilla_law(void **state) {
    (void)state;
    FitResult r;
    law_from("{\"law\": \"chinchilla\", \"params\": {" HOFF "}}", &r);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 1e21, 2e12, &o), 0);
    assert_true(rel_diff(o.t2.N, o.chinchilla.N, 0) < 1e-6);
    assert_true(rel_diff(o.t2.value, o.chinchilla.value, 0) < 1e-12);
    assert_true(rel_diff(o.t2.k, 2e12 / (2 * o.t2.N), 0) < 1e-12);
    assert_true(rel_diff(o.t2.D * o.t2.N * 6, 1e21, 0) < 1e-12);
    assert_string_equal(o.metric, "loss");
    fit_result_free(&r);
}

static const char *T2LOSS_FMT = "{\"law\": \"t2-loss\", \"params\": {" HOFF ", \"G\": %g, \"gamma\": %g}}";

static void t2loss_law(double G, double gamma, FitResult *r) {
    char buf[256];
    snprintf(buf, sizeof buf, T2LOSS_FMT, G, gamma);
    law_from(buf, r);
}

// The value at N scaled by s, with D and k following the budgets.
static double value_at(const FitResult *r, const OptResult *o, double s) {
    double N = o->t2.N * s;
    return fit_predict(r, N, o->c_train / (6 * N), o->c_inf > 0 ? o->c_inf / (2 * N) : 1);
}

// G → 0: sampling buys nothing, the T² choice is the Chinchilla choice.
static void test_no_k_benefit_is_chinchilla(void **state) {
    (void)state;
    FitResult r;
    t2loss_law(1e-12, 0.5, &r);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 2.56e19, 2e9, &o), 0);
    assert_true(rel_diff(o.t2.N, o.chinchilla.N, 0) < 1e-5);
    assert_true(rel_diff(o.t2.tokens_per_param, o.chinchilla.tokens_per_param, 0) < 2e-5);
    assert_true(o.t2.k >= 1 && o.chinchilla.feasible);
    fit_result_free(&r);
    // No inference budget: k = 1 for both, and the k term is a constant.
    t2loss_law(2.0, 0.5, &r);
    assert_int_equal(optimize_allocation(&r, 2.56e19, 0, &o), 0);
    assert_true(o.t2.k == 1 && o.chinchilla.k == 1);
    assert_true(rel_diff(o.t2.N, o.chinchilla.N, 0) < 1e-5);
    fit_result_free(&r);
}

// A strong k term: smaller models sampled more often win — overtraining, as in the paper's
// Table 1 setting (C_train 2.56e19, C_inf 2e9).
static void test_strong_k_overtrains(void **state) {
    (void)state;
    FitResult r;
    t2loss_law(1.0, 0.5, &r);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 2.56e19, 2e9, &o), 0);
    assert_string_equal(o.metric, "nll");
    assert_true(o.chinchilla.N > 2e8 && o.chinchilla.N < 6e8); // the paper's ~455M
    assert_true(o.t2.N < o.chinchilla.N / 2);
    assert_true(o.t2.tokens_per_param > 4 * o.chinchilla.tokens_per_param);
    assert_true(o.t2.k > 2 * o.chinchilla.k);
    assert_true(o.t2.value < o.chinchilla.value);
    // A true minimum along the budget line.
    assert_true(value_at(&r, &o, 1.01) > o.t2.value && value_at(&r, &o, 0.99) > o.t2.value);
    fit_result_free(&r);
}

// An interior optimum is not at_bound; a law whose N term vanished (A → 0, as a degenerate fit
// gives) drives N to the smallest model the search allows, and says so.
static void test_at_bound(void **state) {
    (void)state;
    FitResult r;
    t2loss_law(1.0, 0.5, &r);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 2.56e19, 2e9, &o), 0);
    assert_int_equal(o.t2.at_bound, 0);
    fit_result_free(&r);
    law_from("{\"law\": \"t2-loss\", \"params\": {\"A\": 0, \"B\": 410.7, \"E\": 1.69, \"alpha\": 0.34, "
             "\"beta\": 0.28, \"G\": 1, \"gamma\": 0.5}}",
             &r);
    assert_int_equal(optimize_allocation(&r, 2.56e19, 2e9, &o), 0);
    assert_int_equal(o.t2.at_bound, 1);
    assert_true(o.t2.N < 1.1);
    char *json = opt_result_json(&o);
    assert_non_null(strstr(json, "\"at_bound\":true"));
    free(json);
    fit_result_free(&r);
}

// t2-acc: maximise pass@k; a heavy left tail of per-problem accuracy (nu = 1) makes k valuable.
static void test_t2acc_maximises(void **state) {
    (void)state;
    FitResult r;
    law_from("{\"law\": \"t2-acc\", \"params\": {" HOFF ", \"theta0\": 2.6, \"theta1\": 4, \"theta2\": 0.9,"
             " \"theta3\": 0, \"theta4\": 0}}",
             &r);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 2.56e19, 2e9, &o), 0);
    assert_string_equal(o.metric, "pass@k");
    assert_true(o.maximise);
    assert_true(o.t2.value > o.chinchilla.value);
    assert_true(o.t2.N < o.chinchilla.N);
    assert_true(o.t2.value > 0 && o.t2.value < 0.9);
    assert_true(value_at(&r, &o, 1.01) < o.t2.value && value_at(&r, &o, 0.99) < o.t2.value);
    fit_result_free(&r);
}

// C_inf below 2N*: the Chinchilla model cannot afford one sample (flagged), the T² choice keeps
// k ≥ 1 by staying at or below C_inf / 2.
static void test_k_at_least_one(void **state) {
    (void)state;
    FitResult r;
    t2loss_law(1.0, 0.5, &r);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 2.56e19, 2e7, &o), 0);
    assert_false(o.chinchilla.feasible);
    assert_true(o.chinchilla.k < 1);
    assert_true(o.t2.feasible && o.t2.k >= 1 - 1e-9);
    assert_true(o.t2.N <= 1e7 * (1 + 1e-9));
    fit_result_free(&r);
}

static void test_errors(void **state) {
    (void)state;
    FitResult r;
    OptResult o;
    law_from("{\"law\": \"coverage\", \"params\": {\"a[x]\": -1, \"b[x]\": -0.3}}", &r);
    assert_int_equal(optimize_allocation(&r, 1e20, 1e9, &o), -1);
    assert_non_null(strstr(err_msg(), "coverage"));
    fit_result_free(&r);
    law_from("{\"law\": \"chinchilla\", \"params\": {\"A\": 1, \"B\": 1, \"E\": 1, \"alpha\": 0.3}}", &r);
    assert_int_equal(optimize_allocation(&r, 1e20, 1e9, &o), -1);
    assert_string_equal(err_msg(), "the chinchilla fit has no parameter beta");
    fit_result_free(&r);
    law_from("{\"law\": \"chinchilla\", \"params\": {" HOFF "}}", &r);
    assert_int_equal(optimize_allocation(&r, 0, 1e9, &o), -1);
    assert_non_null(strstr(err_msg(), "--c-train"));
    assert_int_equal(optimize_allocation(&r, 1e20, 1, &o), -1);
    assert_non_null(strstr(err_msg(), "the budgets allow no model"));
    fit_result_free(&r);
}

// Intervals from a bootstrapped fit: every resample re-optimised.
static void test_bootstrap_intervals(void **state) {
    (void)state;
    static const double tpp[6] = {2, 8, 20, 50, 150, 500};
    FitData d;
    fit_data_alloc(&d, 48);
    Rng rng;
    rng_seed(&rng, 5);
    for (size_t i = 0; i < 48; i++) {
        d.N[i] = 1e7 * pow(1000, (double)(i / 6) / 7.0);
        d.D[i] = d.N[i] * tpp[i % 6];
        d.loss[i] = (1.69 + 406.4 * pow(d.N[i], -0.34) + 410.7 * pow(d.D[i], -0.28)) * exp(0.003 * rng_normal(&rng));
    }
    FitOptions fo;
    fit_options_default(&fo);
    fo.bootstrap = 200;
    fo.seed = 2;
    FitResult r;
    assert_int_equal(fit_run(FIT_CHINCHILLA, &d, &fo, &r), 0);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 1e21, 1e12, &o), 0);
    assert_int_equal(o.n_boot_used, r.n_boot_used);
    assert_true(o.t2.N_ci[0] < o.t2.N && o.t2.N < o.t2.N_ci[1]);
    assert_true(o.chinchilla.N_ci[0] < o.chinchilla.N && o.chinchilla.N < o.chinchilla.N_ci[1]);
    assert_true(o.t2.value_ci[0] < o.t2.value && o.t2.value < o.t2.value_ci[1]);
    // The closed form's exponent interval and N*'s interval agree in direction: both non-empty.
    assert_true(o.chinchilla.N_ci[1] > 1.01 * o.chinchilla.N_ci[0]);
    char *s = opt_result_json(&o);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    const cJSON *ci = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "t2"), "ci");
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(ci, "N")));
    cJSON_Delete(j);
    free(s);
    fit_result_free(&r);
    fit_data_free(&d);
}

static void test_output(void **state) {
    (void)state;
    FitResult r;
    t2loss_law(1.0, 0.5, &r);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 2.56e19, 2e9, &o), 0);
    char *s = opt_result_json(&o);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "law")->valuestring, "t2-loss");
    assert_string_equal(cJSON_GetObjectItem(j, "metric")->valuestring, "nll");
    const cJSON *t2 = cJSON_GetObjectItem(j, "t2"), *ch = cJSON_GetObjectItem(j, "chinchilla");
    assert_true(cJSON_GetObjectItem(t2, "N")->valuedouble == o.t2.N);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ch, "feasible")));
    assert_null(cJSON_GetObjectItem(t2, "ci"));
    cJSON_Delete(j);
    free(s);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    opt_result_print(f, &o);
    fclose(f);
    assert_non_null(strstr(text, "T2"));
    assert_non_null(strstr(text, "Chinchilla"));
    assert_non_null(strstr(text, "tokens/param"));
    free(text);
    fit_result_free(&r);
}

// k capped: every model draws at most k_max samples, and below the cap the search is unchanged.
static void test_k_cap(void **state) {
    (void)state;
    FitResult r;
    t2loss_law(1.0, 0.5, &r);
    OptResult free_k, capped, loose;
    assert_int_equal(optimize_allocation(&r, 2.56e19, 2e9, &free_k), 0);
    assert_true(free_k.t2.k > 8);
    assert_int_equal(optimize_allocation_capped(&r, 2.56e19, 2e9, 8, &capped), 0);
    assert_true(capped.t2.k <= 8 + 1e-12 && capped.chinchilla.k <= 8 + 1e-12);
    // With k pinned at 8 the best N is at least the one that affords exactly 8 (more samples
    // are worthless), and the value is no better than without the cap.
    assert_true(capped.t2.N >= 2e9 / (2 * 8) * (1 - 1e-9));
    assert_true(capped.t2.value >= free_k.t2.value);
    assert_int_equal(optimize_allocation_capped(&r, 2.56e19, 2e9, 1e9, &loose), 0);
    assert_true(rel_diff(loose.t2.N, free_k.t2.N, 0) < 1e-12);
    assert_int_equal(optimize_allocation_capped(&r, 2.56e19, 2e9, 0.5, &loose), -1);
    assert_non_null(strstr(err_msg(), "--k-max"));
    fit_result_free(&r);
}

// The Chinchilla choice from another loss law: its closed form, valued under the first law.
static void test_chinchilla_from(void **state) {
    (void)state;
    FitResult r, chin;
    t2loss_law(1.0, 0.5, &r);
    law_from("{\"law\": \"chinchilla\", \"params\": {" HOFF "}}", &chin);
    OptResult o;
    assert_int_equal(optimize_allocation(&r, 1e20, 1e10, &o), 0);
    Allocation t2_before = o.t2;
    assert_string_equal(o.chinchilla_from, "law");
    assert_int_equal(optimize_chinchilla_from(&r, &chin, &o), 0);
    assert_string_equal(o.chinchilla_from, "chinchilla");
    double N, D;
    chinchilla_optimal(406.4, 410.7, 0.34, 0.28, 1e20, &N, &D);
    assert_true(rel_diff(o.chinchilla.N, N, 0) < 1e-12 && rel_diff(o.chinchilla.D, D, 0) < 1e-12);
    assert_true(rel_diff(o.chinchilla.k, 1e10 / (2 * N), 0) < 1e-12);
    assert_true(rel_diff(o.chinchilla.value, fit_predict(&r, N, D, 1e10 / (2 * N)), 0) < 1e-12);
    assert_true(o.t2.N == t2_before.N); // the T² choice is untouched
    FitResult bad;
    law_from("{\"law\": \"chinchilla\", \"params\": {\"A\": 1}}", &bad);
    assert_int_equal(optimize_chinchilla_from(&r, &bad, &o), -1);
    fit_result_free(&bad);
    fit_result_free(&chin);
    fit_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimize_1d),
        cmocka_unit_test(test_closed_form_vs_numeric),
        cmocka_unit_test(test_chinchilla_law),
        cmocka_unit_test(test_no_k_benefit_is_chinchilla),
        cmocka_unit_test(test_strong_k_overtrains),
        cmocka_unit_test(test_at_bound),
        cmocka_unit_test(test_t2acc_maximises),
        cmocka_unit_test(test_k_at_least_one),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bootstrap_intervals),
        cmocka_unit_test(test_output),
        cmocka_unit_test(test_k_cap),
        cmocka_unit_test(test_chinchilla_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
