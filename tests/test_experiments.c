// test_experiments.c — the experiment files shipped in experiments/ load, and keep the shape the
// README promises: the demo is a grid of at least 5 sizes × 3 budgets with sampling up to k = 64,
// enough problems for a paired difference of 0.03 to be resolved, per-size learning rates and a
// training cost that fits its time budget; the study is at least 6 sizes × 4 budgets × 3 seeds; the
// text spec trains on the bundled text. And `t2 sweep SPEC --dry-run` of each lists the grid the
// file describes: family × budgets × seeds in that order, each row with its model, size, steps
// and a 6ND that meets its FLOP budget. Tests run from the repository root.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"
#include "testutil.h"
#include "util/util.h"

static void load(Spec *s, const char *path) {
    if (spec_load(s, path) != 0) fail_msg("%s", err_msg());
}

static double total_train_flops(const Spec *s) {
    double sum = 0;
    for (int i = 0; i < s->n_runs; i++) sum += s->runs[i].train_flops;
    return sum;
}

static void test_demo(void **state) {
    (void)state;
    Spec s;
    load(&s, "experiments/demo.json");
    assert_string_equal(s.name, "demo");
    assert_int_equal(s.task.kind, TASK_ADD);
    assert_true(s.n_family >= 5);
    assert_true(s.budgets.n >= 3);
    for (int i = 0; i < s.n_family; i++) assert_true(s.family_lr[i] > 0); // tuned with t2 tune
    assert_true(spec_has_eval(&s));
    assert_true(s.eval.n_samples >= 64);
    assert_true(s.eval.k[s.eval.n_k - 1] >= 64);
    assert_true(s.task.eval_problems >= 500);
    assert_true(s.analysis.n_c_inf >= 1);
    // `make demo` must finish in 5 minutes on 2 cores (experiments/README.md has the measurements).
    // The cost is the guard; time is not tested.
    double flops = total_train_flops(&s);
    print_message("demo: %d runs, %.3g training FLOPs\n", s.n_runs, flops);
    assert_true(flops <= 8e12);
    spec_free(&s);
}

static void test_study(void **state) {
    (void)state;
    Spec s;
    load(&s, "experiments/study.json");
    assert_int_equal(s.task.kind, TASK_ADD);
    assert_true(s.n_family >= 6);
    assert_true(s.budgets.n >= 4);
    assert_int_equal(s.train.n_seeds, 3);
    assert_int_equal(s.n_runs, s.n_family * s.budgets.n * 3);
    for (int i = 0; i < s.n_family; i++) assert_true(s.family_lr[i] > 0); // tuned with t2 tune
    spec_free(&s);
}

static void test_text(void **state) {
    (void)state;
    Spec s;
    load(&s, "experiments/text.json");
    assert_int_equal(s.task.kind, TASK_TEXT);
    // "data/GPL-3.txt" is read from the spec's directory, and kept absolute.
    char *want = path_absolute("experiments/data/GPL-3.txt");
    assert_string_equal(s.task.path, want);
    free(want);
    assert_false(spec_has_eval(&s));
    spec_free(&s);
}

// ---------------------------------------------------------------------------------------------
// The dry run of each shipped spec, checked against the JSON file read here on its own.

// "1.71T" -> 1.71e12 (util's human_count, read back).
static double unhuman(const char *s) {
    static const char units[] = "kMGTPEZ";
    char *end;
    double v = strtod(s, &end);
    const char *u = *end ? strchr(units, *end) : NULL;
    if (end == s || (*end && (!u || end[1]))) fail_msg("not a human count: '%s'", s);
    return u ? v * pow(1000.0, (double)(u - units + 1)) : v;
}

static int json_int(const cJSON *o, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

static void check_dry_run(const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) fail_msg("%s", err_msg());
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    const cJSON *family = cJSON_GetObjectItemCaseSensitive(root, "family");
    const cJSON *budgets = cJSON_GetObjectItemCaseSensitive(root, "budgets");
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(root, "train");
    const cJSON *flops = cJSON_GetObjectItemCaseSensitive(budgets, "train_flops");
    const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(train, "seeds");
    int n_family = cJSON_GetArraySize(family), n_budgets = cJSON_GetArraySize(flops);
    int n_seeds = seeds ? cJSON_GetArraySize(seeds) : 1; // default: one seed
    assert_true(n_family > 0 && n_budgets > 0); // every shipped spec gives FLOP budgets
    long tokens_per_step = (long)json_int(train, "seq_len", 64) * json_int(train, "batch_size", 32);
    Spec s; // the library's own expansion, for the sizes the JSON does not state
    load(&s, path);

    RunResult r = run_t2("sweep", path, "--dry-run", "--threads", "1", NULL);
    if (r.status != 0) fail_msg("t2 sweep %s --dry-run: %s", path, r.err);
    int rows = 0, expected = n_family * n_budgets * n_seeds;
    double total_flops = 0;
    char *save = NULL;
    const char *summary = NULL;
    for (char *line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, " run model", 10) == 0) continue; // the header
        int run, fam, d, L;
        long steps;
        double d_over_n;
        char N[16], Ne[16], D[16], F[16], F6[16], tm[16];
        if (sscanf(line, "%d %d %d %d %15s %15s %15s %lf %ld %15s %15s %15s", &run, &fam, &d, &L, N, Ne, D, &d_over_n,
                   &steps, F, F6, tm) != 12) {
            summary = line;
            break;
        }
        // Family outer, then budgets, then seeds.
        int f = rows / (n_budgets * n_seeds), b = rows / n_seeds % n_budgets;
        assert_int_equal(run, rows);
        assert_int_equal(fam, f);
        const cJSON *m = cJSON_GetArrayItem(family, f);
        assert_int_equal(d, json_int(m, "d_model", -1));
        assert_int_equal(L, json_int(m, "n_layer", -1));
        char want[16];
        human_count((double)count_params(&s.family[f]), want, sizeof want);
        assert_string_equal(N, want);
        human_count((double)(steps * tokens_per_step), want, sizeof want);
        assert_string_equal(D, want);
        // 6ND meets the budget to within half a step (steps are rounded) and the 3 digits shown.
        double budget = cJSON_GetArrayItem(flops, b)->valuedouble, six_nd = unhuman(F6);
        if (fabs(six_nd - budget) > budget * (0.5 / (double)steps + 0.005))
            fail_msg("%s run %d: 6ND %s for a budget of %g FLOPs", path, run, F6, budget);
        human_count(s.runs[run].train_flops, want, sizeof want); // the exact count
        assert_string_equal(F, want);
        total_flops += s.runs[run].train_flops;
        rows++;
    }
    assert_int_equal(rows, expected);
    assert_int_equal(s.n_runs, expected);
    assert_non_null(summary);
    char want[64], F[16];
    human_count(total_flops, F, sizeof F);
    snprintf(want, sizeof want, "%d runs, %s training FLOPs, ", expected, F);
    if (strncmp(summary, want, strlen(want)) != 0) fail_msg("%s: summary '%s', expected '%s...'", path, summary, want);
    print_message("%s: --dry-run lists %d runs (%d sizes x %d budgets x %d seeds)\n", path, rows, n_family, n_budgets,
                  n_seeds);
    run_free(&r);
    spec_free(&s);
    cJSON_Delete(root);
}

static void test_dry_runs(void **state) {
    (void)state;
    const char *specs[] = {"experiments/demo.json", "experiments/quick.json", "experiments/study.json",
                           "experiments/text.json"};
    for (size_t i = 0; i < ARRAY_LEN(specs); i++) check_dry_run(specs[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo),
        cmocka_unit_test(test_study),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_dry_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
