// test_cli.c — `t2 score`, `t2 sample`, `t2 export`, `t2 train` on a tiny run: output formats,
// agreement between commands (score vs the stored gold log-probability), determinism, and one
// clear error line for each bad argument.
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/eval.h"
#include "nn/loaded.h"
#include "testutil.h"
#include "util/util.h"

static char *dir, *spec, *db, *ckpt;

static const char *SPEC_TEXT =
    "{\"name\": \"cli\", \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 12, \"seed\": 5},\n"
    " \"family\": [{\"n_layer\": 2, \"d_model\": 32, \"n_head\": 2}],\n"
    " \"budgets\": {\"tokens\": [40000]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 8, \"lr\": 0.003},\n"
    " \"eval\": {\"n_samples\": 4, \"k\": [1, 2, 4], \"max_new_tokens\": 6}}";

static int setup(void **state) {
    (void)state;
    dir = tmpdir_make("cli");
    spec = write_text(dir, "cli.json", SPEC_TEXT);
    db = xasprintf("%s/cli.db", dir);
    ckpt = xasprintf("%s/run0.ckpt", dir);
    // What a writer killed mid-checkpoint leaves behind (pid 4194301 is not running).
    free(write_text(dir, "run0.ckpt.tmp.4194301", "partial"));
    RunResult r = run_t2("train", spec, "--run", "0", "--db", db, "--ckpt", ckpt, "--threads", "1", "--quiet", NULL);
    if (r.status != 0) print_error("t2 train failed: %s\n", r.err);
    int ok = r.status == 0;
    run_free(&r);
    return ok ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    free(spec), free(db), free(ckpt);
    tmpdir_remove(dir);
    return 0;
}

static cJSON *json_of(const char *text) {
    cJSON *o = cJSON_Parse(text);
    if (!o) print_error("not JSON: %s\n", text);
    assert_non_null(o);
    return o;
}

// `t2 score --json` has docs/SPEC.md §2's fields, and its log-probability of a problem's answer equals
// the teacher-forced gold log-probability that the evaluation stored for that problem.
static void test_score_json_matches_gold(void **state) {
    (void)state;
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT p.prompt, p.target, g.logprob FROM gold g JOIN problems p ON "
                                        "p.problem_id = g.problem_id WHERE g.run_id = 0 ORDER BY g.problem_id LIMIT 3",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *prompt = (const char *)sqlite3_column_text(st, 0), *target = (const char *)sqlite3_column_text(st, 1);
        double gold = sqlite3_column_double(st, 2);
        RunResult r = run_t2("score", "--ckpt", ckpt, "--prompt", prompt, "--completion", target, "--json", NULL);
        assert_int_equal(r.status, 0);
        cJSON *o = json_of(r.out);
        cJSON *tokens = cJSON_GetObjectItem(o, "tokens"), *lps = cJSON_GetObjectItem(o, "token_logprobs");
        int n_prompt = cJSON_GetObjectItem(o, "n_prompt")->valueint;
        double lp = cJSON_GetObjectItem(o, "logprob")->valuedouble, sum = 0;
        assert_int_equal(cJSON_GetArrayItem(tokens, 0)->valueint, 0);                                // BOS first
        assert_int_equal(cJSON_GetArrayItem(tokens, cJSON_GetArraySize(tokens) - 1)->valueint, 1); // EOS last
        assert_int_equal(n_prompt, 1 + (int)strlen(prompt));
        assert_int_equal(cJSON_GetArraySize(lps), cJSON_GetArraySize(tokens) - n_prompt);
        for (cJSON *v = lps->child; v; v = v->next) sum += v->valuedouble;
        assert_true(fabs(sum - lp) < 1e-9);
        assert_true(fabs(lp - gold) < 1e-4); // batched padded gold pass vs a single sequence
        cJSON_Delete(o);
        run_free(&r);
        rows++;
    }
    assert_int_equal(rows, 3);
    sqlite3_finalize(st);
    sqlite3_close(h);
    // Human output ends with the total.
    RunResult r = run_t2("score", "--ckpt", ckpt, "--prompt", "12+34=", "--completion", "46", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "logprob "));
    run_free(&r);
}

// runs.answer_loss is the mean over every evaluation problem's answer tokens and EOS of their
// negative log-probability after the whole prompt: recomputed here from `t2 score` of each
// problem (a single unpadded sequence), and from the stored gold rows.
static void test_answer_loss_matches_score(void **state) {
    (void)state;
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT answer_loss, val_loss FROM runs WHERE run_id = 0", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    double answer_loss = sqlite3_column_double(st, 0), val_loss = sqlite3_column_double(st, 1);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT p.prompt, p.target, g.logprob, g.n_tokens FROM problems p JOIN gold g "
                                        "ON g.problem_id = p.problem_id AND g.run_id = 0 ORDER BY p.problem_id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    double nll_score = 0, nll_gold = 0;
    long tokens_score = 0, tokens_gold = 0, problems = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *prompt = (const char *)sqlite3_column_text(st, 0), *target = (const char *)sqlite3_column_text(st, 1);
        nll_gold -= sqlite3_column_double(st, 2);
        tokens_gold += sqlite3_column_int(st, 3);
        RunResult r = run_t2("score", "--ckpt", ckpt, "--prompt", prompt, "--completion", target, "--json", NULL);
        assert_int_equal(r.status, 0);
        cJSON *o = json_of(r.out);
        nll_score -= cJSON_GetObjectItem(o, "logprob")->valuedouble;
        tokens_score += cJSON_GetArraySize(cJSON_GetObjectItem(o, "token_logprobs"));
        cJSON_Delete(o);
        run_free(&r);
        problems++;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_int_equal(problems, 12);
    assert_int_equal(tokens_score, tokens_gold);
    print_message("answer_loss %.6f, from t2 score %.6f, from gold %.6f (val_loss %.6f)\n", answer_loss,
                  nll_score / tokens_score, nll_gold / tokens_gold, val_loss);
    assert_true(fabs(answer_loss - nll_score / (double)tokens_score) < 1e-5 * answer_loss);
    assert_true(fabs(answer_loss - nll_gold / (double)tokens_gold) < 1e-5 * answer_loss);
    assert_true(fabs(answer_loss - val_loss) > 1e-3); // a different quantity: val_loss also scores prompts
}

static void test_sample(void **state) {
    (void)state;
    RunResult a = run_t2("sample", "--ckpt", ckpt, "--prompt", "12+34=", "-k", "6", "--seed", "3", "--json", NULL);
    RunResult b = run_t2("sample", "--ckpt", ckpt, "--prompt", "12+34=", "-k", "6", "--seed", "3", "--json", "--threads", "1", NULL);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    // A sample depends on its seed, not on the threads.
    cJSON *o = json_of(a.out), *ob = json_of(b.out);
    cJSON *c = cJSON_GetObjectItem(o, "completions");
    for (cJSON *x = c->child, *y = cJSON_GetObjectItem(ob, "completions")->child; x; x = x->next, y = y->next) {
        assert_string_equal(cJSON_GetObjectItem(x, "text")->valuestring, cJSON_GetObjectItem(y, "text")->valuestring);
        assert_true(cJSON_GetObjectItem(x, "logprob")->valuedouble == cJSON_GetObjectItem(y, "logprob")->valuedouble);
    }
    cJSON_Delete(ob);
    assert_int_equal(cJSON_GetArraySize(c), 6);
    for (cJSON *it = c->child; it; it = it->next) {
        assert_non_null(cJSON_GetObjectItem(it, "text"));
        assert_true(cJSON_GetObjectItem(it, "logprob")->valuedouble <= 0);
        int n = cJSON_GetObjectItem(it, "n_tokens")->valueint;
        assert_true(n >= 1 && n <= 32 - 7);
    }
    cJSON_Delete(o);
    run_free(&a);
    run_free(&b);
    // Near-zero temperature: every sample is the greedy completion.
    RunResult g = run_t2("sample", "--ckpt", ckpt, "--prompt", "12+34=", "-k", "4", "--temperature", "1e-6", NULL);
    assert_int_equal(g.status, 0);
    char *first = xstrdup(g.out), *nl = strchr(first, '\n');
    assert_non_null(nl);
    nl[1] = '\0';
    char *want = xasprintf("%s%s%s%s", first, first, first, first);
    assert_string_equal(g.out, want);
    free(want);
    free(first);
    run_free(&g);
}

static void test_export(void **state) {
    (void)state;
    char *out = xasprintf("%s/sub/dir/m.safetensors", dir);
    RunResult r = run_t2("export", "--ckpt", ckpt, "--out", out, NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    size_t len;
    char *buf = read_file(out, &len);
    assert_non_null(buf);
    uint64_t hlen;
    memcpy(&hlen, buf, 8);
    cJSON *h = cJSON_ParseWithLength(buf + 8, hlen);
    assert_non_null(h);
    cJSON *meta = cJSON_GetObjectItem(h, "__metadata__");
    cJSON *vocab = cJSON_Parse(cJSON_GetObjectItem(meta, "vocab")->valuestring);
    assert_int_equal(cJSON_GetArraySize(vocab), 14);
    assert_string_equal(cJSON_GetArrayItem(vocab, 0)->valuestring, "<bos>");
    assert_string_equal(cJSON_GetArrayItem(vocab, 1)->valuestring, "<eos>");
    assert_non_null(cJSON_GetObjectItem(h, "model.layers.1.mlp.down_proj.weight"));
    cJSON_Delete(vocab);
    cJSON_Delete(h);
    free(buf);
    free(out);
}

// A model whose vocabulary does not fit the task is refused before any sampling.
static void test_vocab_mismatch(void **state) {
    (void)state;
    LoadedRun lr;
    assert_int_equal(loaded_run_open(&lr, ckpt), 0);
    TaskConfig tc = *task_config(lr.task);
    tc.kind = TASK_SORT;
    snprintf(tc.name, sizeof tc.name, "sort");
    tc.length = 4;
    tc.alphabet = 20;
    Task *other = task_create(&tc);
    assert_non_null(other);
    EvalSpec es = {.n_samples = 2, .n_k = 1, .k = {1}, .top_p = 1, .max_new_tokens = 8};
    EvalResult er;
    assert_int_equal(eval_sample(&lr.model, other, &es, 1.0, 1, 1, NULL, NULL, &er), -1);
    assert_string_equal(err_msg(), "the model's vocabulary has 14 tokens, task 'sort' needs 23");
    task_free(other);
    // Prompts plus the tokens to generate must fit the model's context (seq_len 32).
    es.max_new_tokens = 30;
    assert_int_equal(eval_sample(&lr.model, lr.task, &es, 1.0, 1, 1, NULL, NULL, &er), -1);
    assert_string_equal(err_msg(), "prompts of up to 7 tokens plus max_new_tokens 30 exceed the model's context of 32");
    loaded_run_close(&lr);
}

static void test_bad_arguments(void **state) {
    (void)state;
    struct {
        const char *argv[12];
        const char *err;
    } cases[] = {
        {{"sample", "--ckpt", ckpt, "--prompt", "1+2=", "--temperature", "0"}, "t2: --temperature: must be > 0, got 0\n"},
        {{"sample", "--ckpt", ckpt, "--prompt", "1+2=", "--temperature", "-1"}, "t2: --temperature: must be > 0, got -1\n"},
        {{"sample", "--ckpt", ckpt, "--prompt", "1+2=", "--top-p", "1.5"}, "t2: --top-p: must be in (0, 1], got 1.5\n"},
        {{"sample", "--ckpt", ckpt, "--prompt", "1+2=", "-k", "0"}, "t2: -k: 0 is out of range [1, 65536]\n"},
        {{"sample", "--ckpt", ckpt, "--prompt", "1+2=", "-k", "x"}, "t2: -k: expected an integer, got 'x'\n"},
        {{"sample", "--ckpt", ckpt}, "t2: sample: missing required option --prompt\n"},
        {{"sample", "--ckpt", ckpt, "--prompt", "1+2=", "--colour"}, "t2: sample: unknown option '--colour' (see t2 sample --help)\n"},
        {{"sample", "--ckpt", "/nonexistent.ckpt", "--prompt", "1"}, "t2: /nonexistent.ckpt: cannot open: No such file or directory\n"},
        {{"sample", "--ckpt", spec, "--prompt", "1"}, NULL}, // not a checkpoint: "...: not a t2 checkpoint (bad magic)"
        {{"score", "--ckpt", ckpt, "--prompt", "1+x=", "--completion", "3"}, NULL}, // unknown character
        {{"score", "--ckpt", ckpt, "--prompt", "1+2="}, "t2: score: missing required option --completion\n"},
        {{"export", "--ckpt", ckpt}, "t2: export: missing required option --out\n"},
        {{"train", spec, "--run", "7", "--db", db}, NULL}, // not a run of the spec
        {{"slurm", spec, "--shards", "2"}, "t2: --shards: 2 shards for 1 runs would leave shards empty\n"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        RunResult r = run_t2v((char *const *)cases[i].argv);
        if (r.status != 1) print_error("case %zu: status %d, stderr %s\n", i, r.status, r.err);
        assert_int_equal(r.status, 1);
        assert_string_equal(r.out, "");
        // One line, starting with "t2: ".
        assert_true(strncmp(r.err, "t2: ", 4) == 0);
        assert_non_null(strchr(r.err, '\n'));
        assert_true(strchr(r.err, '\n')[1] == '\0');
        if (cases[i].err) assert_string_equal(r.err, cases[i].err);
        run_free(&r);
    }
    RunResult r = run_t2("sample", "--ckpt", spec, "--prompt", "1", NULL);
    assert_non_null(strstr(r.err, "not a t2 checkpoint (bad magic)"));
    run_free(&r);
    r = run_t2("score", "--ckpt", ckpt, "--prompt", "1+x=", "--completion", "3", NULL);
    assert_non_null(strstr(r.err, "--prompt: "));
    assert_non_null(strstr(r.err, "'x'"));
    run_free(&r);
    r = run_t2("train", spec, "--run", "7", "--db", db, NULL);
    assert_non_null(strstr(r.err, "--run: 7 is not a run of"));
    run_free(&r);
    r = run_t2("slurm", spec, "--cpus", "3", NULL); // one shard per run
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "#SBATCH --array=0-0\n"));
    assert_non_null(strstr(r.out, "#SBATCH --cpus-per-task=3\n"));
    run_free(&r);
    r = run_t2("frobnicate", NULL);
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err, "t2: unknown command 'frobnicate' (t2 --help lists them)\n");
    run_free(&r);
    // --help exits 0 and prints usage on stdout.
    r = run_t2("sample", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: t2 sample"));
    run_free(&r);
}

// The temporary file of a killed checkpoint writer was removed when the run started.
static void test_stale_temporary_removed(void **state) {
    (void)state;
    char *stale = xasprintf("%s.tmp.4194301", ckpt);
    assert_false(file_exists(stale));
    free(stale);
}

// `t2 eval` on a run trained with --no-eval stores the same samples, gold and metrics as the
// train-then-evaluate path (same spec, seed and thread count).
static const char *EVAL_ROWS =
    "SELECT 'm', m.metric, m.k, quote(m.value) FROM metrics m UNION ALL "
    "SELECT 's', s.problem_id, s.sample_idx, s.completion || '|' || ifnull(s.answer, '-') || '|' || quote(s.logprob) "
    "FROM samples s UNION ALL SELECT 'g', problem_id, n_tokens, quote(logprob) FROM gold ORDER BY 1, 2, 3";

static char *dump_eval(const char *path) {
    char *cmd = xasprintf("sqlite3 '%s' \"%s\"", path, EVAL_ROWS);
    RunResult r = run_sh(cmd);
    free(cmd);
    assert_int_equal(r.status, 0);
    free(r.err);
    return r.out;
}

static void test_eval_after_no_eval(void **state) {
    (void)state;
    char *db2 = xasprintf("%s/noeval.db", dir), *ck2 = xasprintf("%s/noeval.ckpt", dir);
    RunResult r = run_t2("train", spec, "--run", "0", "--db", db2, "--ckpt", ck2, "--threads", "1", "--quiet", "--no-eval",
                         NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    char *before = dump_eval(db2);
    assert_string_equal(before, ""); // trained, not evaluated
    free(before);
    r = run_t2("eval", "--db", db2, "--threads", "2", "--quiet", NULL);
    if (r.status != 0) print_error("%s\n", r.err);
    assert_int_equal(r.status, 0);
    run_free(&r);
    char *want = dump_eval(db), *got = dump_eval(db2);
    assert_true(strlen(want) > 1000);
    assert_string_equal(got, want);
    free(want), free(got);
    // A second `t2 eval` has nothing left to do.
    r = run_t2("eval", "--db", db2, "--quiet", NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    r = run_t2("eval", "--db", db2, "--run", "3", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "--run: 3 is not a run of sweep cli (runs 0..0)"));
    run_free(&r);
    free(db2), free(ck2);
}

// Output that cannot be written (a full disk: /dev/full) fails the command, whatever the command,
// naming stdout; the same command to /dev/null succeeds.
static void test_stdout_write_error(void **state) {
    (void)state;
    const char *cmds[] = {"bench sample --n-layer 1 --d-model 32 --n-head 2 --vocab 20 --prompt-len 4 --gen 5 -k 6 "
                          "--repeat 1 --json",
                          "report --db '%s'", "sample --ckpt '%s' --prompt 1+2= -k 2"};
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        char *args = xasprintf(cmds[i], i == 2 ? ckpt : db);
        for (int full = 0; full < 2; full++) {
            char *line = xasprintf("'%s' %s > %s", t2_bin(), args, full ? "/dev/full" : "/dev/null");
            RunResult r = run_sh(line);
            if (full && (r.status != 1 || !strstr(r.err, "stdout: write error\n")))
                fail_msg("%s: exit %d, stderr: %s", line, r.status, r.err);
            if (!full && r.status != 0) fail_msg("%s: exit %d, stderr: %s", line, r.status, r.err);
            run_free(&r);
            free(line);
        }
        free(args);
    }
}

// The benchmarks print one JSON object with the fields docs/SPEC.md §2 names; bad shapes name the option.
static void test_bench_commands(void **state) {
    (void)state;
    RunResult r = run_t2("bench", "train", "--n-layer", "1", "--d-model", "32", "--n-head", "2", "--seq-len", "16",
                         "--batch", "4", "--vocab", "20", "--steps", "2", "--warmup", "1", "--threads", "2", "--peak-size", "256",
                         "--json", NULL);
    assert_int_equal(r.status, 0);
    cJSON *o = json_of(r.out);
    const char *keys[] = {"tokens_per_s", "gflops", "mfu", "peak_gflops", "peak_gemm", "peak_size", "threads", "n_params", "blas_core"};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) assert_non_null(cJSON_GetObjectItem(o, keys[i]));
    assert_true(cJSON_GetObjectItem(o, "tokens_per_s")->valuedouble > 0);
    double mfu = cJSON_GetObjectItem(o, "mfu")->valuedouble;
    assert_true(mfu > 0 && mfu < 1.5);
    assert_int_equal(cJSON_GetObjectItem(o, "threads")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(o, "n_params")->valueint, 13920);
    cJSON_Delete(o);
    run_free(&r);
    for (int seq = 0; seq < 2; seq++) {
        r = run_t2("bench", "sample", "--n-layer", "1", "--d-model", "32", "--n-head", "2", "--vocab", "20",
                   "--prompt-len", "4", "--gen", "5", "-k", "6", "--repeat", "1", "--json", seq ? "--sequential" : NULL,
                   NULL);
        assert_int_equal(r.status, 0);
        o = json_of(r.out);
        assert_string_equal(cJSON_GetObjectItem(o, "mode")->valuestring, seq ? "sequential" : "batched");
        assert_true(cJSON_GetObjectItem(o, "tokens_per_s")->valuedouble > 0);
        cJSON_Delete(o);
        run_free(&r);
    }
    // Without --json, one "key: value" line each, the model's shape included.
    r = run_t2("bench", "sample", "--n-layer", "1", "--d-model", "32", "--n-head", "2", "--vocab", "20", "--prompt-len",
               "4", "--gen", "5", "-k", "6", "--repeat", "1", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "n_layer: 1\n"));
    assert_non_null(strstr(r.out, "d_model: 32\n"));
    run_free(&r);
    r = run_t2("bench", "gemm", "--threads", "1", "--json", NULL);
    assert_int_equal(r.status, 0);
    o = json_of(r.out);
    assert_true(cJSON_GetObjectItem(o, "peak_gflops")->valuedouble > 0);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(o, "shapes")) > 3);
    cJSON_Delete(o);
    run_free(&r);
    r = run_t2("bench", "train", "--n-layer", "1", "--d-model", "30", "--n-head", "4", "--seq-len", "16", "--batch", "4",
               "--vocab", "20", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "t2: --n-head: must be a positive divisor of d_model 30, got 4\n");
    run_free(&r);
    r = run_t2("bench", "fly", NULL);
    assert_int_equal(r.status, 2);
    run_free(&r);
}

// t2 replaces OpenBLAS's generic fallback kernels, never a core the user chose — even one of the
// fallback list itself (Prescott), which t2 would replace on any AVX2 machine had it chosen it.
static void test_user_blas_core_kept(void **state) {
    (void)state;
    char *cmd = xasprintf("OPENBLAS_CORETYPE=Prescott %s --blas-core", t2_bin());
    RunResult r = run_sh(cmd);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "Prescott\n");
    run_free(&r);
    free(cmd);
}

// A finished run is not trained again.
static void test_train_done_run_is_skipped(void **state) {
    (void)state;
    size_t before_len, after_len;
    char *before = read_file(ckpt, &before_len);
    RunResult r = run_t2("train", spec, "--run", "0", "--db", db, "--ckpt", ckpt, "--quiet", NULL);
    assert_int_equal(r.status, 0);
    char *after = read_file(ckpt, &after_len);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(before);
    free(after);
    run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_json_matches_gold),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_vocab_mismatch),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_stdout_write_error),
        cmocka_unit_test(test_stale_temporary_removed),
        cmocka_unit_test(test_eval_after_no_eval),
        cmocka_unit_test(test_answer_loss_matches_score),
        cmocka_unit_test(test_bench_commands),
        cmocka_unit_test(test_user_blas_core_kept),
        cmocka_unit_test(test_train_done_run_is_skipped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
