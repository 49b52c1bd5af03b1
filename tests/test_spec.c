// test_spec.c — the experiment file: grid expansion, defaults, canonical JSON round trip, and a
// table of bad files, each rejected with its exact message before anything runs.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec.h"
#include "testutil.h"
#include "util/util.h"

static const char *GOOD =
    "{\"name\": \"g\", \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 30},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}, {\"n_layer\": 2, \"d_model\": 64, \"n_head\": 4, \"tied\": true},\n"
    "            {\"n_layer\": 2, \"d_model\": 128, \"n_head\": 4, \"lr\": 0.001}],\n"
    " \"budgets\": {\"train_flops\": [1e10, 3e10, 1e11]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 8, \"seeds\": [1, 2], \"lr_rule\": \"inverse_sqrt_width\"},\n"
    " \"eval\": {\"n_samples\": 16, \"k\": [1, 4, 16]}}";

static void test_grid_expansion(void **state) {
    (void)state;
    Spec s;
    assert_int_equal(spec_parse(&s, GOOD, "good.json"), 0);
    assert_int_equal(s.n_runs, 3 * 3 * 2);
    // Order: family outer, then budgets, then seeds.
    for (int f = 0, id = 0; f < 3; f++)
        for (int b = 0; b < 3; b++)
            for (int k = 0; k < 2; k++, id++) {
                const RunSpec *r = &s.runs[id];
                assert_int_equal(r->run_id, id);
                assert_int_equal(r->family_idx, f);
                assert_int_equal(r->budget_idx, b);
                assert_int_equal(r->seed, k + 1);
                // D = C / (6N) rounded to whole steps of batch · seq_len tokens.
                double N = (double)count_params(&r->model), want = round(s.budgets.values[b] / (6 * N) / (8 * 32));
                assert_int_equal(r->steps, (long)want);
                assert_int_equal(r->train_tokens, r->steps * 8 * 32);
                assert_true(fabs(r->train_flops_6nd - 6 * N * r->train_tokens) < 1);
                assert_true(rel_diff(r->train_flops, r->steps * train_step_flops(&r->model, 8, 32), 1) < 1e-12);
                // The exact count and 6ND agree to within the attention and head terms.
                assert_true(r->train_flops > 0.8 * r->train_flops_6nd && r->train_flops < 1.3 * r->train_flops_6nd);
            }
    assert_int_equal(s.family[1].tied, 1);
    assert_int_equal(s.family[0].vocab_size, 14); // "0123456789+=" plus BOS, EOS
    assert_int_equal(s.family[0].d_ff, 88);
    // Learning rates: the rule from the smallest width (32), family[2]'s own.
    assert_int_equal(s.lr_rule, LR_RULE_INVERSE_SQRT_WIDTH);
    assert_int_equal(s.lr_ref_width, 32);
    assert_true(s.model_lr[0] == 3e-3 && fabs(s.model_lr[1] - 3e-3 / sqrt(2.0)) < 1e-15 && s.model_lr[2] == 1e-3);
    assert_true(s.runs[6].lr == s.model_lr[1] && s.runs[12].lr == 1e-3);
    // Defaults.
    assert_true(s.train.lr == 3e-3 && s.train.warmup == 0.05 && s.train.weight_decay == 0.1 && s.train.grad_clip == 1.0);
    assert_int_equal(s.eval.n_temperature, 1);
    assert_true(s.eval.temperature[0] == 1.0 && s.eval.top_p == 1.0);
    spec_free(&s);
}

static void test_budget_kinds(void **state) {
    (void)state;
    const char *tpl = "{\"name\": \"b\", \"task\": {\"name\": \"add\"}, \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}],"
                      " \"budgets\": {%s}, \"train\": {\"seq_len\": 16, \"batch_size\": 4}}";
    char text[512];
    Spec s;
    snprintf(text, sizeof text, tpl, "\"tokens_per_param\": [20]");
    assert_int_equal(spec_parse(&s, text, "b.json"), 0);
    double N = (double)s.runs[0].n_params;
    assert_int_equal(s.runs[0].steps, (long)round(20 * N / 64));
    spec_free(&s);
    snprintf(text, sizeof text, tpl, "\"tokens\": [6400, 64000]");
    assert_int_equal(spec_parse(&s, text, "b.json"), 0);
    assert_int_equal(s.runs[0].train_tokens, 6400);
    assert_int_equal(s.runs[1].steps, 1000);
    spec_free(&s);
}

// The canonical JSON (stored with the sweep) parses back to the same spec.
static void test_canonical_round_trip(void **state) {
    (void)state;
    Spec a, b;
    assert_int_equal(spec_parse(&a, GOOD, "good.json"), 0);
    assert_int_equal(spec_parse(&b, a.json, "db"), 0);
    assert_string_equal(a.json, b.json);
    assert_string_equal(a.hash, b.hash);
    assert_int_equal(a.n_runs, b.n_runs);
    for (int i = 0; i < a.n_runs; i++) {
        char *ja = run_config_json(&a, &a.runs[i]), *jb = run_config_json(&b, &b.runs[i]);
        assert_string_equal(ja, jb);
        free(ja), free(jb);
    }
    spec_free(&a);
    spec_free(&b);
    // Whitespace and key order do not change the hash; a value does.
    const char *reordered =
        "{\"task\": {\"eval_problems\": 30, \"digits\": 2, \"name\": \"add\"}, \"name\": \"g\",\n"
        " \"family\": [{\"d_model\": 32, \"n_head\": 2, \"n_layer\": 1}, {\"n_layer\": 2, \"d_model\": 64, \"n_head\": 4, \"tied\": true},\n"
        "            {\"lr\": 0.001, \"n_layer\": 2, \"d_model\": 128, \"n_head\": 4}],\n"
        " \"budgets\": {\"train_flops\": [1e10, 3e10, 1e11]}, \"eval\": {\"k\": [1, 4, 16], \"n_samples\": 16},\n"
        " \"train\": {\"lr_rule\": \"inverse_sqrt_width\", \"seeds\": [1, 2], \"batch_size\": 8, \"seq_len\": 32}}";
    assert_int_equal(spec_parse(&a, GOOD, "a"), 0);
    assert_int_equal(spec_parse(&b, reordered, "b"), 0);
    assert_string_equal(a.hash, b.hash);
    spec_free(&b);
    char *changed = xstrdup(GOOD);
    *strstr(changed, "3e10") = '4';
    assert_int_equal(spec_parse(&b, changed, "c"), 0);
    assert_string_not_equal(a.hash, b.hash);
    free(changed);
    spec_free(&a);
    spec_free(&b);
}

// ---------------------------------------------------------------------------------------------
// Bad files. Each case replaces one piece of a good file; the message must match exactly.
typedef struct {
    const char *text;
    const char *msg;
} BadCase;

#define FAM "\"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}]"
#define BUD "\"budgets\": {\"train_flops\": [1e10]}"
#define TSK "\"task\": {\"name\": \"add\", \"digits\": 2}"
#define TRN "\"train\": {\"seq_len\": 32, \"batch_size\": 8}"

static const BadCase BAD[] = {
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ",}", "bad.json:1:144: JSON syntax error"},
    {"{\"name\": \"x\",\n  \"task\": {\"name\": \"add\" \"digits\": 2}}", "bad.json:2:26: JSON syntax error"},
    {"[1, 2]", "bad.json: the experiment must be a JSON object"},
    {"{" TSK ", " FAM ", " BUD "}", "bad.json: name: missing or not a string (it names results/NAME.db)"},
    {"{\"name\": \"a/b\", " TSK ", " FAM ", " BUD "}",
     "bad.json: name: 'a/b' may hold only letters, digits, '_', '-' and '.' (it is used in file names)"},
    {"{\"name\": \"x\", \"colour\": 3, " TSK ", " FAM ", " BUD "}",
     "bad.json: colour: unknown key (known: name, task, family, budgets, train, eval, analysis)"},
    {"{\"name\": \"x\", \"name\": \"y\", " TSK ", " FAM ", " BUD "}", "bad.json: name: duplicate key"},
    {"{\"name\": \"x\", " FAM ", " BUD "}", "bad.json: task: missing (e.g. {\"name\": \"add\", \"digits\": 3})"},
    {"{\"name\": \"x\", " TSK ", \"family\": [], " BUD "}", "bad.json: family: must be a non-empty array of models"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}, {\"n_layer\": 2, \"d_model\": 100, \"n_head\": 3}], " BUD "}",
     "bad.json: family[1].n_head: must be a positive divisor of d_model 100, got 3"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1, \"d_model\": 60, \"n_head\": 20}], " BUD "}",
     "bad.json: family[0].n_head: head size d_model/n_head = 3 must be even for rotary embeddings"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1.5, \"d_model\": 32, \"n_head\": 2}], " BUD "}",
     "bad.json: family[0].n_layer: must be an integer in [1, 256]"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1, \"d_model\": 32}], " BUD "}",
     "bad.json: family[0].n_head: missing (an integer in [1, 65536])"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2, \"heads\": 2}], " BUD "}",
     "bad.json: family[0].heads: unknown key (known: n_layer, d_model, n_head, d_ff, tied, rope_theta, norm_eps, lr, grad_clip)"},
    {"{\"name\": \"x\", " TSK ", " FAM ", \"budgets\": {\"train_flops\": [1e10], \"tokens\": [5]}}",
     "bad.json: budgets: give exactly one of train_flops, tokens_per_param, tokens"},
    {"{\"name\": \"x\", " TSK ", " FAM ", \"budgets\": {\"train_flops\": [1e10, -3]}}",
     "bad.json: budgets.train_flops[1]: must be in (0, 1e+30], got -3"},
    {"{\"name\": \"x\", " TSK ", " FAM ", \"budgets\": {\"train_flops\": [1e6]}}",
     "bad.json: budgets.train_flops[0]: 1e+06 gives 12.3 tokens for family[0] (N = 13536), less than one step of 2048 tokens"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"schedule\": \"linear\"}}",
     "bad.json: train.schedule: must be \"cosine\", \"constant\" or \"wsd\""},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"lr\": 0}}", "bad.json: train.lr: must be in (0, 10], got 0"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"precision\": \"fp16\"}}",
     "bad.json: train.precision: must be \"float32\" or \"bf16\""},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"precision\": 16}}",
     "bad.json: train.precision: must be \"float32\" or \"bf16\""},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"batch_size\": \"8\"}}",
     "bad.json: train.batch_size: must be an integer in [1, 1048576]"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"seeds\": [1, 1]}}", "bad.json: train.seeds[1]: duplicate seed 1"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", " TRN ", \"eval\": {\"n_samples\": 8, \"k\": [1, 16]}}",
     "bad.json: eval.k[1]: 16 exceeds eval.n_samples 8 (pass@k needs k <= n)"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", " TRN ", \"eval\": {\"temperature\": [1.0, 0]}}",
     "bad.json: eval.temperature[1]: must be in (0, 100], got 0"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", " TRN ", \"eval\": {\"top_p\": 1.5}}", "bad.json: eval.top_p: must be in (0, 1], got 1.5"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", " TRN ", \"eval\": {\"max_new_tokens\": 2}}",
     "bad.json: eval.max_new_tokens: 2 is shorter than the longest answer (4 tokens with EOS)"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"seq_len\": 12, \"batch_size\": 8}, \"eval\": {\"max_new_tokens\": 6}}",
     "bad.json: eval.max_new_tokens: a prompt (up to 7 tokens with BOS) plus 6 new tokens exceeds train.seq_len 12"},
    {"{\"name\": \"x\", \"task\": {\"name\": \"mul\"}, " FAM ", " BUD "}",
     "bad.json: task.name: unknown task 'mul' (known: add, modarith, chain, sort, recall, text)"},
    {"{\"name\": \"x\", \"task\": {\"name\": \"add\", \"digits\": 12}, " FAM ", " BUD "}",
     "bad.json: task.digits: must be an integer in [1, 9], got 12"},
    {"{\"name\": \"x\", \"task\": {\"name\": \"text\", \"path\": \"/nonexistent/corpus.txt\"}, " FAM ", " BUD "}",
     "bad.json: task.path: /nonexistent/corpus.txt: cannot open: No such file or directory"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 200, \"d_model\": 8192, \"n_head\": 64}], \"budgets\": {\"train_flops\": [1e20]}}",
     NULL}, // too large for memory: the message names family[0] and the machine's memory
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"analysis\": {\"c_inf\": [0]}}", "bad.json: analysis.c_inf[0]: must be in (0, 1e+40], got 0"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2, \"lr\": 0}], " BUD "}",
     "bad.json: family[0].lr: must be in (0, 10], got 0"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2, \"lr\": -0.001}], " BUD "}",
     "bad.json: family[0].lr: must be in (0, 10], got -0.001"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2, \"grad_clip\": -0.5}], " BUD "}",
     "bad.json: family[0].grad_clip: must be in [0, 1e+09], got -0.5"},
    {"{\"name\": \"x\", " TSK ", \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2, \"grad_clip\": \"1\"}], " BUD "}",
     "bad.json: family[0].grad_clip: must be a number"},
    {"{\"name\": \"x\", \"task\": {\"name\": \"add\", \"digits\": 4, \"min_digits\": 1}, " FAM ", " BUD ", \"train\": {\"seq_len\": 15}}",
     "bad.json: train.seq_len: 15 cannot hold the longest add example (17 tokens with BOS and EOS): it must be at least 16"},
    {"{\"name\": \"x\", \"task\": {\"name\": \"add\", \"digits\": 2, \"min_digits\": 3}, " FAM ", " BUD "}",
     "bad.json: task.min_digits: must be at most digits (2), got 3"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"lr_rule\": \"mup\"}}",
     "bad.json: train.lr_rule: unknown rule \"mup\" (known: constant, inverse_width, inverse_sqrt_width)"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"lr_rule\": 1}}",
     "bad.json: train.lr_rule: must be a string: constant, inverse_width or inverse_sqrt_width"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"lr_ref_width\": 0}}",
     "bad.json: train.lr_ref_width: must be an integer in [1, 65536], got 0"},
    {"{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"analysis\": {\"loss\": \"gold\"}}",
     "bad.json: analysis.loss: must be \"answer\" (runs.answer_loss) or \"val\" (runs.val_loss)"},
};

// family[i].grad_clip: that model's clip, else train.grad_clip; written into the canonical JSON and
// a run's config only where it is given, so the runs of the other models keep their hashes.
static void test_grad_clip_per_size(void **state) {
    (void)state;
    const char *at = "{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}";
    char *p = strstr(GOOD, at);
    assert_non_null(p);
    char *own = xasprintf("%.*s{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2, \"grad_clip\": 2.5}%s", (int)(p - GOOD),
                          GOOD, p + strlen(at));
    char *global = xasprintf("%.*s\"grad_clip\": 0.5, %s", (int)(strstr(GOOD, "\"seeds\"") - GOOD), GOOD,
                             strstr(GOOD, "\"seeds\""));
    Spec a, b, c, d;
    assert_int_equal(spec_parse(&a, GOOD, "a"), 0);
    assert_int_equal(spec_parse(&b, own, "b"), 0);
    assert_int_equal(spec_parse(&c, global, "c"), 0);
    assert_true(a.family_clip[0] == -1 && a.model_clip[0] == 1.0 && a.runs[0].grad_clip == 1.0);
    assert_true(b.family_clip[0] == 2.5 && b.model_clip[0] == 2.5 && b.model_clip[1] == 1.0);
    assert_true(c.model_clip[0] == 0.5 && c.model_clip[2] == 0.5);
    for (int i = 0; i < b.n_runs; i++) assert_true(b.runs[i].grad_clip == (b.runs[i].family_idx == 0 ? 2.5 : 1.0));
    assert_string_not_equal(a.hash, b.hash);
    assert_non_null(strstr(b.json, "\"grad_clip\":2.5"));
    for (int i = 0; i < a.n_runs; i++) { // family[0]'s runs change; the others' configs stay as they were
        char *ja = run_config_json(&a, &a.runs[i]), *jb = run_config_json(&b, &b.runs[i]);
        if (a.runs[i].family_idx == 0) {
            assert_string_not_equal(ja, jb);
            assert_true(strtod(strstr(jb, "\"grad_clip\":") + 12, NULL) == 2.5);
        } else {
            assert_string_equal(ja, jb);
        }
        free(ja), free(jb);
    }
    // The canonical JSON keeps it; 0 (no clipping for that model) is a value, not "absent".
    assert_int_equal(spec_parse(&d, b.json, "d"), 0);
    assert_string_equal(d.hash, b.hash);
    assert_true(d.model_clip[0] == 2.5);
    spec_free(&d);
    char *off = xstrdup(own);
    memcpy(strstr(off, "2.5"), "0.0", 3);
    assert_int_equal(spec_parse(&d, off, "e"), 0);
    assert_true(d.family_clip[0] == 0 && d.runs[0].grad_clip == 0 && d.runs[6].grad_clip == 1.0);
    assert_non_null(strstr(d.json, "\"grad_clip\":0"));
    free(own), free(global), free(off);
    spec_free(&a), spec_free(&b), spec_free(&c), spec_free(&d);
}

// train.precision: bf16 is part of a run's config (and hash); float32, the default, is not
// written, so float32 specs keep the hashes they had before the key existed.
static void test_precision(void **state) {
    (void)state;
    Spec a, b, c;
    char *f32 = xstrdup(GOOD), *bf16 = xstrdup(GOOD);
    const char *at = "\"seeds\": [1, 2]";
    char *p = strstr(GOOD, at);
    assert_non_null(p);
    free(f32), free(bf16);
    f32 = xasprintf("%.*s\"precision\": \"float32\", %s", (int)(p - GOOD), GOOD, p);
    bf16 = xasprintf("%.*s\"precision\": \"bf16\", %s", (int)(p - GOOD), GOOD, p);
    assert_int_equal(spec_parse(&a, GOOD, "a"), 0);
    assert_int_equal(spec_parse(&b, f32, "b"), 0);
    assert_int_equal(spec_parse(&c, bf16, "c"), 0);
    assert_int_equal(a.train.precision, PRECISION_FLOAT32);
    assert_int_equal(c.train.precision, PRECISION_BF16);
    assert_string_equal(a.hash, b.hash);
    assert_string_not_equal(a.hash, c.hash);
    char *ja = run_config_json(&a, &a.runs[0]), *jc = run_config_json(&c, &c.runs[0]);
    assert_null(strstr(ja, "precision"));
    assert_non_null(strstr(jc, "\"precision\":\"bf16\""));
    // The canonical JSON keeps it.
    Spec d;
    assert_int_equal(spec_parse(&d, c.json, "d"), 0);
    assert_int_equal(d.train.precision, PRECISION_BF16);
    assert_string_equal(d.hash, c.hash);
    free(ja), free(jc), free(f32), free(bf16);
    spec_free(&a), spec_free(&b), spec_free(&c), spec_free(&d);
}

// bf16 on a CPU without AVX512-BF16 (pretended with T2_CPU_DISABLE): `t2 sweep` and `t2 train`
// refuse with one line naming the file, the key and the CPU feature, and write nothing.
static void test_precision_unsupported_cli(void **state) {
    (void)state;
    char *dir = tmpdir_make("prec");
    char *path = write_text(dir, "bf16.json",
                            "{\"name\": \"x\", " TSK ", " FAM ", " BUD ", \"train\": {\"seq_len\": 32, \"batch_size\": 8, "
                            "\"precision\": \"bf16\"}}");
    char *db = xasprintf("%s/r.db", dir);
    setenv("T2_CPU_DISABLE", "avx512_bf16", 1);
    const char *cmds[][8] = {{"sweep", path, "--db", db, NULL}, {"train", path, "--run", "0", "--db", db, NULL}};
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        RunResult r = run_t2v((char *const *)cmds[i]);
        assert_int_equal(r.status, 1);
        char *want = xasprintf("t2: %s: train.precision: precision bf16 needs a CPU with AVX512_BF16", path);
        if (strncmp(r.err, want, strlen(want)) != 0) fail_msg("stderr: %s", r.err);
        assert_non_null(strstr(r.err, "use precision float32\n"));
        assert_string_equal(r.out, "");
        free(want);
        run_free(&r);
    }
    unsetenv("T2_CPU_DISABLE");
    assert_false(file_exists(db));
    free(db);
    free(path);
    tmpdir_remove(dir);
}

static void test_bad_files(void **state) {
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(BAD); i++) {
        Spec s;
        int rc = spec_parse(&s, BAD[i].text, "bad.json");
        if (rc == 0) print_error("case %zu accepted: %s\n", i, BAD[i].text);
        assert_int_equal(rc, -1);
        if (BAD[i].msg) {
            if (strcmp(err_msg(), BAD[i].msg) != 0) print_error("case %zu:\n  got  %s\n  want %s\n", i, err_msg(), BAD[i].msg);
            assert_string_equal(err_msg(), BAD[i].msg);
        } else {
            assert_non_null(strstr(err_msg(), "bad.json: family[0]: training needs"));
            assert_non_null(strstr(err_msg(), "GiB at batch_size 32, seq_len 64; this machine has"));
        }
        spec_free(&s);
    }
}

// Through the command line: one line on stderr, non-zero exit, nothing written.
static void test_bad_file_cli(void **state) {
    (void)state;
    char *dir = tmpdir_make("spec");
    char *path = write_text(dir, "bad.json", BAD[9].text);
    char *db = xasprintf("%s/r.db", dir);
    const char *cmds[][8] = {
        {"sweep", path, "--db", db, NULL},
        {"sweep", path, "--dry-run", NULL},
        {"train", path, "--run", "0", "--db", db, NULL},
        {"slurm", path, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        RunResult r = run_t2v((char *const *)cmds[i]);
        assert_int_equal(r.status, 1);
        char *want = xasprintf("t2: %s: family[1].n_head: must be a positive divisor of d_model 100, got 3\n", path);
        assert_string_equal(r.err, want);
        assert_string_equal(r.out, "");
        free(want);
        run_free(&r);
    }
    assert_false(file_exists(db));
    RunResult r = run_t2("sweep", "/nonexistent.json", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "t2: /nonexistent.json: cannot open: No such file or directory\n");
    run_free(&r);
    free(db);
    free(path);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_expansion),
        cmocka_unit_test(test_budget_kinds),
        cmocka_unit_test(test_canonical_round_trip),
        cmocka_unit_test(test_grad_clip_per_size),
        cmocka_unit_test(test_precision),
        cmocka_unit_test(test_precision_unsupported_cli),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_file_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
