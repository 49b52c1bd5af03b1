// test_tune.c — `t2 tune`: on a tiny spec it picks, for every model, the learning rate whose pilot
// ends with the lowest held-out loss, and the clip --clip-factor times the median gradient norm of
// that pilot's second half, each pilot recomputed here by training it through the library with its
// model's clip; the tuned copy is the spec with those as family[i].lr and family[i].grad_clip; the
// choice rule (ties, divergence, the edge of the grid, the mean over seeds); --seeds; bad options.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/trainer.h"
#include "spec/spec.h"
#include "sweep/tune.h"
#include "tasks/tasks.h"
#include "testutil.h"
#include "util/util.h"

static const char SPEC[] =
    "{\"name\": \"tiny\", \"task\": {\"name\": \"add\", \"digits\": 1, \"eval_problems\": 20, \"seed\": 2},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 16, \"n_head\": 2}, {\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2,\n"
    "             \"grad_clip\": 0.5}],\n"
    " \"budgets\": {\"tokens\": [40000, 20000]},\n"
    " \"train\": {\"seq_len\": 16, \"batch_size\": 8, \"lr\": 0.003, \"seeds\": [4, 5]},\n"
    " \"eval\": {\"n_samples\": 4, \"k\": [1, 4]}}\n";

static const double GRID[] = {0.001, 0.01, 0.1};

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("no number %s", key);
    return v->valuedouble;
}

// The pilot of model F at LR and SEED, trained here: the smallest budget (20000 tokens), the
// model's clip under the spec (family[1] has its own), one thread (what each of 2 jobs of 2
// threads gets); its answer loss, and in *late_median the median gradient norm of its second half.
static double pilot_loss(const Spec *s, int f, double lr, long seed, double *late_median) {
    Task *task = task_create(&s->task);
    TrainSpec ts = s->train;
    ts.lr = lr;
    ts.grad_clip = f == 1 ? 0.5 : 1.0;
    long steps = s->runs[f * 4 + 2].steps; // (family f, budget 1, seed 4)
    assert_int_equal(s->runs[f * 4 + 2].budget, 20000);
    Trainer *t = trainer_create(&s->family[f], &ts, steps, (uint64_t)seed, task, 1);
    StepStats st;
    double *norm = malloc((size_t)steps * sizeof *norm);
    for (long i = 0; i < steps; i++) {
        if (trainer_step(t, &st) != 0) fail_msg("%s", err_msg());
        norm[i] = st.grad_norm;
    }
    long half = steps / 2, late = steps - half; // the last ceil(steps/2) steps
    sort_doubles(norm + half, (size_t)late);
    const double *x = norm + half;
    *late_median = late % 2 ? x[late / 2] : (x[late / 2 - 1] + x[late / 2]) / 2;
    free(norm);
    double loss = trainer_answer_loss(t);
    trainer_free(t);
    task_free(task);
    return loss;
}

static void test_tune_picks_lowest_pilot_loss(void **state) {
    (void)state;
    char *dir = tmpdir_make("tune");
    char *spec = write_text(dir, "tiny.json", SPEC), *out = xasprintf("%s/tiny-tuned.json", dir);
    RunResult r = run_t2("tune", spec, "--grid", "0.001,0.01,0.1", "--jobs", "2", "--threads", "2", "--json", "--quiet",
                         NULL);
    if (r.status != 0) fail_msg("t2 tune: %s", r.err);
    cJSON *o = cJSON_Parse(r.out);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "out")->valuestring, out); // SPEC-tuned.json beside the spec
    assert_string_equal(cJSON_GetObjectItem(o, "loss")->valuestring, "answer_loss");
    assert_true(num(o, "budget") == 20000 && num(o, "seed") == 4);
    Spec s;
    if (spec_parse(&s, SPEC, "tiny.json") != 0) fail_msg("%s", err_msg());
    const cJSON *pilots = cJSON_GetObjectItem(o, "pilots");
    assert_int_equal(cJSON_GetArraySize(pilots), 6);
    assert_true(num(o, "clip_factor") == 4);
    double want_lr[2], want_clip[2];
    for (int f = 0; f < 2; f++) {
        double best = INFINITY, median = NAN;
        for (int g = 0; g < 3; g++) {
            const cJSON *p = cJSON_GetArrayItem(pilots, f * 3 + g);
            assert_int_equal((int)num(p, "family"), f);
            assert_true(num(p, "lr") == GRID[g]);
            assert_true(num(p, "grad_clip") == (f == 1 ? 0.5 : 1.0)); // the model's clip under the spec
            double m, loss = pilot_loss(&s, f, GRID[g], 4, &m); // the spec's first seed
            print_message("family[%d] lr %g: pilot loss %.6f (t2 tune %.6f), late median |g| %.6f (%.6f)\n", f,
                          GRID[g], loss, num(p, "loss"), m, num(p, "late_grad_norm"));
            assert_true(num(p, "loss") == loss); // the same pilot, bit for bit
            assert_true(num(p, "late_grad_norm") == m);
            if (loss < best) best = loss, want_lr[f] = GRID[g], median = m;
        }
        // The clip: 4 times the chosen pilot's late median, to 2 significant digits.
        char two[32];
        snprintf(two, sizeof two, "%.2g", 4 * median);
        want_clip[f] = strtod(two, NULL);
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "chosen"), f);
        print_message("family[%d]: chosen lr %g, clip %g\n", f, want_lr[f], want_clip[f]);
        assert_true(num(c, "lr") == want_lr[f]);
        assert_true(num(c, "late_grad_norm") == median && num(c, "grad_clip") == want_clip[f]);
        assert_true(tune_clip_threshold(median, 4) == want_clip[f]);
    }
    // The tuned copy: the same experiment with the chosen rates as family[i].lr.
    Spec t;
    if (spec_load(&t, out) != 0) fail_msg("%s", err_msg());
    assert_int_equal(t.n_runs, s.n_runs);
    assert_true(t.budgets.values[0] == 40000 && t.train.seeds[1] == 5 && t.task.digits == 1);
    for (int f = 0; f < 2; f++)
        assert_true(t.family_lr[f] == want_lr[f] && t.model_lr[f] == want_lr[f] && t.family_clip[f] == want_clip[f]);
    spec_free(&t);
    // --clip-factor 0: the rates only; the clips stay the spec's (family[1]'s own, train's for family[0]).
    RunResult r0 = run_t2("tune", spec, "--grid", "0.001,0.01,0.1", "--clip-factor", "0", "--jobs", "2", "--threads", "2",
                          "--quiet", NULL);
    if (r0.status != 0) fail_msg("t2 tune --clip-factor 0: %s", r0.err);
    if (spec_load(&t, out) != 0) fail_msg("%s", err_msg());
    assert_true(t.family_lr[0] == want_lr[0] && t.family_lr[1] == want_lr[1]);
    assert_true(t.family_clip[0] == -1 && t.family_clip[1] == 0.5);
    spec_free(&t);
    run_free(&r0);
    spec_free(&s);
    cJSON_Delete(o);
    run_free(&r);
    free(spec), free(out);
    tmpdir_remove(dir);
}

static void test_tune_choose(void **state) {
    (void)state;
    TunePilot p[] = {
        {.family_idx = 0, .lr = 0.001, .loss = 2.0},  {.family_idx = 0, .lr = 0.01, .loss = 1.5},
        {.family_idx = 0, .lr = 0.1, .loss = 1.5},    {.family_idx = 1, .lr = 0.001, .loss = 1.9},
        {.family_idx = 1, .lr = 0.01, .loss = 1.2},   {.family_idx = 1, .lr = 0.1, .diverged = 1, .loss = INFINITY},
        {.family_idx = 2, .lr = 0.01, .diverged = 1, .loss = INFINITY}, {.family_idx = 3, .lr = 0.01, .loss = 1.0},
    };
    int n = (int)ARRAY_LEN(p);
    TuneChoice c;
    assert_int_equal(tune_choose(p, n, 0, &c), 0);
    assert_int_equal(c.index, 1); // a tie goes to the lower rate
    assert_false(c.at_edge);
    assert_true(c.runner_up_lr == 0.1 && c.wins == 0 && c.n_seeds == 1); // the tie: not below it
    assert_int_equal(tune_choose(p, n, 1, &c), 0);
    assert_int_equal(c.index, 4); // a diverged pilot is never chosen
    assert_false(c.at_edge);
    assert_true(c.runner_up_lr == 0.001 && c.wins == 1);
    p[4].loss = 1.95;
    assert_int_equal(tune_choose(p, n, 1, &c), 0);
    assert_int_equal(c.index, 3);
    assert_true(c.at_edge); // the lowest rate tried
    assert_int_equal(tune_choose(p, n, 2, &c), -1); // every pilot diverged
    assert_int_equal(tune_choose(p, n, 3, &c), 0);
    assert_int_equal(c.index, 7);
    assert_false(c.at_edge); // one rate: no edge to widen
    assert_true(isnan(c.runner_up_lr));

    // Three seeds per rate: the lowest mean wins, a rate that diverged at one seed never; the
    // clip's norm and the clipping are means over the chosen rate's seeds.
    TunePilot q[] = {
        {.lr = 0.01, .seed = 1, .loss = 1.0, .late_grad_norm = 1, .clipped = 0.1},
        {.lr = 0.01, .seed = 2, .loss = 1.6, .late_grad_norm = 2, .clipped = 0.2},
        {.lr = 0.01, .seed = 3, .loss = 1.3, .late_grad_norm = 6, .clipped = 0.3},
        {.lr = 0.02, .seed = 1, .loss = 1.2},
        {.lr = 0.02, .seed = 2, .loss = 1.4},
        {.lr = 0.02, .seed = 3, .loss = 1.2},
        {.lr = 0.04, .seed = 1, .loss = 0.5},
        {.lr = 0.04, .seed = 2, .diverged = 1, .loss = INFINITY},
        {.lr = 0.04, .seed = 3, .loss = 0.5},
    };
    assert_true(fabs(tune_rate_loss(q, (int)ARRAY_LEN(q), 1) - 3.9 / 3) < 1e-12); // any pilot of the rate
    assert_true(isinf(tune_rate_loss(q, (int)ARRAY_LEN(q), 6)));                   // diverged at seed 2
    assert_int_equal(tune_choose(q, (int)ARRAY_LEN(q), 0, &c), 0);
    assert_int_equal(c.index, 3); // mean 1.2667 against 1.3; 0.04 diverged at seed 2
    assert_true(c.lr == 0.02 && c.n_seeds == 3 && c.loss_min == 1.2 && c.loss_max == 1.4);
    assert_true(fabs(c.loss - 3.8 / 3) < 1e-12);
    assert_true(c.runner_up_lr == 0.01 && c.wins == 2); // below 0.01 at seeds 2 and 3, not 1
    assert_false(c.at_edge);
    assert_int_equal(tune_choose(q, 3, 0, &c), 0); // 0.01 alone
    assert_true(fabs(c.late_grad_norm - 3) < 1e-12 && fabs(c.clipped - 0.2) < 1e-12);
}

// --seeds 3 on a spec with seeds [4, 5]: pilots at 4, 5 and 6 (above the largest), each the pilot
// trained here at that seed; the rate of the lowest mean is chosen, and when it does not beat the
// runner-up at every seed a warning says the pilots do not settle it.
static void test_tune_seeds(void **state) {
    (void)state;
    char *dir = tmpdir_make("tune");
    char *spec = write_text(dir, "tiny.json", SPEC);
    RunResult r = run_t2("tune", spec, "--grid", "0.001,0.01,0.1", "--seeds", "3", "--jobs", "2", "--threads", "2",
                         "--clip-factor", "0", "--json", "--quiet", NULL);
    if (r.status != 0) fail_msg("t2 tune --seeds 3: %s", r.err);
    cJSON *o = cJSON_Parse(r.out);
    assert_non_null(o);
    const cJSON *seeds = cJSON_GetObjectItem(o, "seeds"), *pilots = cJSON_GetObjectItem(o, "pilots");
    assert_int_equal(cJSON_GetArraySize(seeds), 3);
    static const long want_seed[3] = {4, 5, 6};
    for (int k = 0; k < 3; k++) assert_true(cJSON_GetArrayItem(seeds, k)->valuedouble == want_seed[k]);
    assert_int_equal(cJSON_GetArraySize(pilots), 2 * 3 * 3);
    Spec s;
    if (spec_parse(&s, SPEC, "tiny.json") != 0) fail_msg("%s", err_msg());
    int unsettled = 0;
    for (int f = 0; f < 2; f++) {
        double loss[3][3], best = INFINITY;
        int g_best = -1;
        for (int g = 0; g < 3; g++) {
            double mean = 0;
            for (int k = 0; k < 3; k++) {
                const cJSON *p = cJSON_GetArrayItem(pilots, (f * 3 + g) * 3 + k);
                assert_true(num(p, "lr") == GRID[g] && num(p, "seed") == want_seed[k]);
                double m;
                loss[g][k] = pilot_loss(&s, f, GRID[g], want_seed[k], &m);
                assert_true(num(p, "loss") == loss[g][k]); // the same pilot, bit for bit
                mean += loss[g][k] / 3;
            }
            if (mean < best) best = mean, g_best = g;
        }
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "chosen"), f);
        assert_true(num(c, "lr") == GRID[g_best]);
        assert_true(fabs(num(c, "loss") - best) < 1e-12);
        int g_run = -1;
        for (int g = 0; g < 3; g++)
            if (g != g_best && (g_run < 0 || loss[g][0] + loss[g][1] + loss[g][2] < loss[g_run][0] + loss[g_run][1] + loss[g_run][2]))
                g_run = g;
        int wins = 0;
        for (int k = 0; k < 3; k++) wins += loss[g_best][k] < loss[g_run][k];
        assert_true(num(c, "runner_up_lr") == GRID[g_run]);
        assert_int_equal((int)num(c, "wins_over_runner_up"), wins);
        print_message("family[%d]: chosen %g, beat %g at %d of 3 seeds\n", f, GRID[g_best], GRID[g_run], wins);
        unsettled += wins < 3;
    }
    assert_int_equal(unsettled > 0, strstr(r.err, "the pilots do not settle the choice") != NULL);
    cJSON_Delete(o);
    run_free(&r);
    // Two close rates: a model whose choice wins at fewer than every seed gets the warning, the
    // others do not (here both models win at 2 of 3).
    r = run_t2("tune", spec, "--grid", "0.03,0.05", "--seeds", "3", "--clip-factor", "0", "--json", "--quiet", NULL);
    if (r.status != 0) fail_msg("t2 tune --seeds 3: %s", r.err);
    o = cJSON_Parse(r.out);
    assert_non_null(o);
    unsettled = 0;
    for (int f = 0; f < 2; f++) {
        const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "chosen"), f);
        char want[64];
        snprintf(want, sizeof want, "family[%d]: the chosen rate", f);
        int wins = (int)num(c, "wins_over_runner_up");
        assert_int_equal(wins < 3, strstr(r.err, want) != NULL);
        unsettled += wins < 3;
    }
    assert_true(unsettled >= 1);
    // The table: each rate's mean over the seeds (the JSON's chosen loss), at how many seeds the
    // choice beat the runner-up.
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "chosen"), 0);
    RunResult t = run_t2("tune", spec, "--grid", "0.03,0.05", "--seeds", "3", "--clip-factor", "0", "--quiet", NULL);
    if (t.status != 0) fail_msg("t2 tune --seeds 3: %s", t.err);
    char cell[64], beat[64];
    snprintf(cell, sizeof cell, "%.3g: %.4f*", num(c0, "lr"), num(c0, "loss"));
    snprintf(beat, sizeof beat, "beat %.3g at %d of 3 seeds", num(c0, "runner_up_lr"), (int)num(c0, "wins_over_runner_up"));
    assert_non_null(strstr(t.out, "seeds 4,5,6; pilot loss answer_loss (lr: loss averaged over the seeds"));
    assert_non_null(strstr(t.out, cell));
    assert_non_null(strstr(t.out, beat));
    run_free(&t);
    spec_free(&s);
    cJSON_Delete(o);
    run_free(&r);
    free(spec);
    tmpdir_remove(dir);
}

static void test_tune_errors(void **state) {
    (void)state;
    char *dir = tmpdir_make("tune");
    char *spec = write_text(dir, "tiny.json", SPEC);
    struct {
        const char *args[4];
        const char *want;
    } cases[] = {
        {{"--grid", ""}, "--grid: empty value, expected LR,LR,..."},
        {{"--grid", ","}, "--grid: the grid is empty: give values separated by commas"},
        {{"--grid", "0.01,0"}, "--grid: '0' is not a learning rate in (0, 10]"},
        {{"--factors", "1,x"}, "--factors: 'x' is not a learning rate in (0, 10]"},
        {{"--grid", "0.01", "--factors", "1"}, "tune: give --grid or --factors, not both"},
        {{"--out", spec}, "is the spec itself; refusing to overwrite an input"},
        {{"--clip-factor", "-1"}, "--clip-factor: -1 is out of range [0, 1000]"},
        {{"--clip-factor", "x"}, "--clip-factor: expected a number, got 'x'"},
        {{"--seeds", "0"}, "--seeds: 0 is out of range [1, 16]"},
        {{"--grid", "0.01,0.02,0.010"}, "--grid: 0.010 is given twice"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *argv[8] = {"tune", spec};
        int k = 2;
        for (int j = 0; j < 4 && cases[i].args[j]; j++) argv[k++] = (char *)cases[i].args[j];
        argv[k] = NULL;
        RunResult r = run_t2v(argv);
        if (r.status != 1 || !strstr(r.err, cases[i].want) || strchr(r.err, '\n') != r.err + strlen(r.err) - 1)
            fail_msg("case %zu: exit %d, stderr: %s", i, r.status, r.err);
        run_free(&r);
    }
    char *before = read_file(spec, NULL);
    assert_string_equal(before, SPEC); // the spec is never touched
    free(before);
    free(spec);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_picks_lowest_pilot_loss),
        cmocka_unit_test(test_tune_choose),
        cmocka_unit_test(test_tune_seeds),
        cmocka_unit_test(test_tune_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
