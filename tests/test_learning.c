// test_learning.c — the model learns: a small model trained briefly on `add` answers held-out
// problems far more often than any guess that ignores the prompt can, and a byte model trained on
// a bundled text predicts its held-out part well below the text's unigram entropy, both through
// the library and end to end through `t2 sweep`.
//
// Every run has fixed seeds and a fixed thread count, so every number here is deterministic:
// the margins guard against changes to the code, not against luck.
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/eval.h"
#include "spec/spec.h"
#include "tasks/tasks.h"
#include "testutil.h"
#include "nn/trainer.h"
#include "util/util.h"

// The bundled text (the GPL version 3, copied verbatim from Debian's common-licenses); tests
// run from the repository root.
#define TEXT_PATH "experiments/data/GPL-3.txt"
#define THREADS 2

static TaskConfig parse_task(const char *json) {
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    TaskConfig tc;
    int rc = task_config_parse(&tc, o, "task");
    cJSON_Delete(o);
    if (rc != 0) fail_msg("%s", err_msg());
    return tc;
}

static TrainSpec train_spec(int seq_len, int batch_size, double lr) {
    TrainSpec t = {.seq_len = seq_len, .batch_size = batch_size, .lr = lr, .warmup = 0.05,
                   .schedule = SCHED_COSINE, .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95,
                   .eps = 1e-8, .grad_clip = 1.0};
    return t;
}

static ModelConfig model_config(int n_layer, int d_model, int n_head, const Task *task, int seq_len) {
    ModelConfig c = {.n_layer = n_layer, .d_model = d_model, .n_head = n_head,
                     .vocab_size = task_vocab_size(task), .seq_len = seq_len};
    model_config_defaults(&c);
    if (model_config_validate(&c) != 0) fail_msg("%s", err_msg());
    return c;
}

static Trainer *train(const ModelConfig *c, const TrainSpec *ts, long steps, const Task *task) {
    Trainer *t = trainer_create(c, ts, steps, 1, task, THREADS);
    assert_non_null(t);
    StepStats st;
    for (long i = 0; i < steps; i++)
        if (trainer_step(t, &st) != 0) fail_msg("step %ld: %s", i, err_msg());
    return t;
}

// ---------------------------------------------------------------------------------------------
// add: 2-digit operands, so the sum s of a problem takes one of 199 values, s = 99 most often:
// 100 of the 10^4 operand pairs. A completion that does not depend on the prompt is therefore
// right with probability at most 100 / 10^4 = 0.01 on a random problem ("chance").

#define ADD_CHANCE 0.01

static const long KS[] = {1, 4, 16};

static double metric(const EvalResult *r, const char *name, long k) {
    for (int i = 0; i < r->n_metrics; i++)
        if (strcmp(r->metrics[i].metric, name) == 0 && r->metrics[i].k == k) return r->metrics[i].value;
    fail_msg("no metric %s@%ld", name, k);
    return NAN;
}

static void test_add_learns_far_above_chance(void **state) {
    (void)state;
    TaskConfig tc = parse_task("{\"name\": \"add\", \"digits\": 2, \"eval_problems\": 100, \"seed\": 7}");
    Task *task = task_create(&tc);
    assert_non_null(task);
    // Learning 2-digit addition is step-like: a setting near the jump lands on either side of it
    // by rounding alone (1 layer d 32 after 1500 steps reached pass@1 0.07 with one OpenBLAS core
    // type and 0.42 with another). This one is far past the jump: model seeds 1-5 under both the
    // Haswell and the Cooperlake kernels gave pass@1 0.81-0.97.
    const int T = 32;
    ModelConfig c = model_config(2, 32, 2, task, T);
    TrainSpec ts = train_spec(T, 32, 1e-2);
    Trainer *t = train(&c, &ts, 2000, task);

    EvalSpec es = {.n_samples = 16, .n_k = 3, .top_p = 1.0, .max_new_tokens = 8, .batch_problems = 16};
    memcpy(es.k, KS, sizeof KS);
    EvalResult r;
    if (eval_sample(trainer_model(t), task, &es, 1.0, eval_stream_seed(1, 0, 1.0), THREADS, NULL, NULL, &r) != 0)
        fail_msg("%s", err_msg());
    DbGold *gold = xcalloc((size_t)task_n_eval(task), sizeof *gold);
    eval_gold(trainer_model(t), task, es.batch_problems, 1, gold);
    eval_metrics(&r, gold, task_n_eval(task), KS, 3);

    double pass1 = metric(&r, "pass", 1), pass16 = metric(&r, "pass", 16), maj16 = metric(&r, "maj", 16);
    double analytic1 = metric(&r, "pass_analytic", 1);
    print_message("add, 2 digits, 2 layers d 32, 2000 steps of 32x32 tokens: pass@1 %.3f pass@16 %.3f maj@16 %.3f "
                  "analytic pass@1 %.3f (chance %.2f)\n",
                  pass1, pass16, maj16, analytic1, ADD_CHANCE);
    assert_true(pass1 >= 50 * ADD_CHANCE);
    assert_true(pass16 >= pass1);
    // A sample is right exactly when it is the target followed by EOS, whose probability is
    // exp(gold log-probability): the sampled and analytic pass@1 estimate the same mean, the
    // sampled one from 1600 draws (standard error at most 0.0125).
    assert_true(fabs(pass1 - analytic1) < 0.05);
    free(gold);
    eval_result_free(&r);
    trainer_free(t);
    task_free(task);
}

// ---------------------------------------------------------------------------------------------
// text: cross-entropy in nats per byte, against the entropy of the text's byte frequencies —
// what the best model blind to context achieves.

static double unigram_entropy(const char *path) {
    size_t n = 0;
    char *bytes = read_file(path, &n);
    if (!bytes) fail_msg("%s", err_msg());
    assert_true(n > 0);
    double count[256] = {0};
    for (size_t i = 0; i < n; i++) count[(unsigned char)bytes[i]] += 1;
    free(bytes);
    double h = 0;
    for (int b = 0; b < 256; b++)
        if (count[b] > 0) h -= count[b] / (double)n * log(count[b] / (double)n);
    return h;
}

// The held-out part must be predicted this far below the unigram entropy (nats per byte).
#define TEXT_MARGIN 0.6
#define TEXT_STEPS 600 // of 16 rows of 64 bytes: about 19 passes over the 31.6 kB training part

static void test_text_loss_below_unigram_entropy(void **state) {
    (void)state;
    double h = unigram_entropy(TEXT_PATH);
    TaskConfig tc = parse_task("{\"name\": \"text\", \"path\": \"" TEXT_PATH "\"}");
    Task *task = task_create(&tc);
    assert_non_null(task);
    const int T = 64;
    ModelConfig c = model_config(1, 64, 4, task, T);
    TrainSpec ts = train_spec(T, 16, 3e-3);
    Trainer *t = train(&c, &ts, TEXT_STEPS, task);
    double val = trainer_val_loss(t, 4), final = trainer_final_loss(t);
    print_message("text %s: unigram entropy %.3f nats/byte; 1 layer d 64, %d steps of 16x64 bytes: final loss "
                  "%.3f, held-out loss %.3f\n",
                  TEXT_PATH, h, TEXT_STEPS, final, val);
    assert_true(val < h - TEXT_MARGIN);
    assert_true(final < h - TEXT_MARGIN);
    trainer_free(t);
    task_free(task);
}

// ---------------------------------------------------------------------------------------------
// Mixed precision: the same runs trained with bf16 products end with a held-out loss (evaluated
// in float32) within 1% of float32's, on text and on add. Skipped without AVX512-BF16.

static double held_out_loss(const char *task_json, int n_layer, int d_model, int n_head, int T, int B, double lr,
                            long steps, Precision p, const char **path) {
    TaskConfig tc = parse_task(task_json);
    Task *task = task_create(&tc);
    assert_non_null(task);
    ModelConfig c = model_config(n_layer, d_model, n_head, task, T);
    TrainSpec ts = train_spec(T, B, lr);
    ts.precision = p;
    Trainer *t = train(&c, &ts, steps, task);
    double val = trainer_val_loss(t, 8);
    *path = trainer_gemm_path(t);
    trainer_free(t);
    task_free(task);
    return val;
}

static void test_bf16_tracks_float32(void **state) {
    (void)state;
    GemmPath g;
    if (gemm_path_for(PRECISION_BF16, &g) != 0) {
        print_message("skipped: %s\n", err_msg());
        skip();
    }
    struct {
        const char *name, *task;
        int L, d, H, T, B;
        double lr;
        long steps;
    } runs[] = {
        // At lr 3e-3 the text run is in a noisy regime (bf16 runs on two BLAS cores for attention
        // ended 0.9% apart); at 1e-3 float32 on both cores and bf16 agree within 0.1%.
        {"text", "{\"name\": \"text\", \"path\": \"" TEXT_PATH "\"}", 2, 64, 4, 64, 16, 1e-3, TEXT_STEPS},
        // add's loss falls in steps early on (at 600 steps two float32 runs on different BLAS
        // kernels ended 4.6% apart), so it is compared once settled: at 1500 steps they agree
        // within 0.1%.
        {"add", "{\"name\": \"add\", \"digits\": 2, \"eval_problems\": 100, \"seed\": 7}", 2, 64, 4, 32, 32, 3e-3, 1500},
    };
    for (size_t i = 0; i < ARRAY_LEN(runs); i++) {
        const char *p32, *p16;
        double f32 = held_out_loss(runs[i].task, runs[i].L, runs[i].d, runs[i].H, runs[i].T, runs[i].B, runs[i].lr,
                                   runs[i].steps, PRECISION_FLOAT32, &p32);
        double b16 = held_out_loss(runs[i].task, runs[i].L, runs[i].d, runs[i].H, runs[i].T, runs[i].B, runs[i].lr,
                                   runs[i].steps, PRECISION_BF16, &p16);
        double rel = fabs(b16 - f32) / f32;
        print_message("%s, %d layers d %d, %ld steps: held-out loss float32 %.4f (%s), bf16 %.4f (%s): %.2f%% apart\n",
                      runs[i].name, runs[i].L, runs[i].d, runs[i].steps, f32, p32, b16, p16, 100 * rel);
        assert_true(rel < 0.01);
    }
}

// ---------------------------------------------------------------------------------------------
// End to end: `t2 sweep` on a text spec in a temporary directory trains its run, records it as
// done with a held-out loss below the unigram entropy, and leaves the database intact (progress
// once went through a closed descriptor into the database file).

static double query_double(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *query_text(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *s = sqlite3_column_text(st, 0);
    char *out = xstrdup(s ? (const char *)s : "");
    sqlite3_finalize(st);
    return out;
}

static void test_sweep_learns_text_end_to_end(void **state) {
    (void)state;
    char text[PATH_MAX], t2[PATH_MAX];
    assert_non_null(realpath(TEXT_PATH, text));
    assert_non_null(realpath(t2_bin(), t2));
    char *dir = tmpdir_make("learn");
    char *json = xasprintf("{\"name\": \"learn\", \"task\": {\"name\": \"text\", \"path\": \"%s\"},\n"
                           " \"family\": [{\"n_layer\": 1, \"d_model\": 64, \"n_head\": 4}],\n"
                           " \"budgets\": {\"tokens\": [%d]},\n"
                           " \"train\": {\"seq_len\": 64, \"batch_size\": 16, \"lr\": 3e-3, \"seeds\": [3]}}\n",
                           text, TEXT_STEPS * 16 * 64);
    free(write_text(dir, "learn.json", json));
    char *cmd = xasprintf("cd '%s' && '%s' sweep learn.json --jobs 1 --threads %d --quiet", dir, t2, THREADS);
    RunResult r = run_sh(cmd);
    if (r.status != 0) fail_msg("t2 sweep exited %d: %s", r.status, r.err);

    char *db_path = xasprintf("%s/results/learn.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char *integrity = query_text(db, "PRAGMA integrity_check");
    assert_string_equal(integrity, "ok");
    char *status = query_text(db, "SELECT status FROM runs WHERE run_id = 0");
    assert_string_equal(status, "done");
    double val = query_double(db, "SELECT val_loss FROM runs WHERE run_id = 0");
    double h = unigram_entropy(text);
    print_message("t2 sweep, text: held-out loss %.3f, unigram entropy %.3f nats/byte\n", val, h);
    assert_true(val < h - TEXT_MARGIN);
    sqlite3_close(db);

    free(integrity);
    free(status);
    free(db_path);
    run_free(&r);
    free(cmd);
    free(json);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_learns_far_above_chance),
        cmocka_unit_test(test_text_loss_below_unigram_entropy),
        cmocka_unit_test(test_bf16_tracks_float32),
        cmocka_unit_test(test_sweep_learns_text_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
