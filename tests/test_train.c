// test_train.c — the trainer: bit-exact resume, determinism at a fixed thread count, no
// allocation inside a step, damaged checkpoints refused, safetensors export read back, schedules.
#include <cjson/cJSON.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/checkpoint.h"
#include "nn/export.h"
#include "spec/spec.h"
#include "kernels.h"
#include "testutil.h"
#include "nn/trainer.h"
#include "sweep/run_train.h"
#include "util/util.h"

static ModelConfig small_config(int tied) {
    ModelConfig c = {.n_layer = 2, .d_model = 32, .n_head = 4, .vocab_size = 17, .seq_len = 16, .tied = tied};
    model_config_defaults(&c);
    return c;
}

static TrainSpec small_train(void) {
    TrainSpec t = {.seq_len = 16, .batch_size = 6, .lr = 3e-3, .warmup = 0.2, .schedule = SCHED_COSINE,
                   .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .grad_clip = 1.0};
    return t;
}

// Train `steps` steps from scratch and return a copy of the parameters.
static float *train_params(int threads, long steps, long total, double *last_loss) {
    ModelConfig c = small_config(0);
    TrainSpec ts = small_train();
    Trainer *t = trainer_create(&c, &ts, total, 99, NULL, threads);
    StepStats st;
    for (long i = 0; i < steps; i++) assert_int_equal(trainer_step(t, &st), 0);
    if (last_loss) *last_loss = st.loss;
    size_t n = trainer_model(t)->layout.total * sizeof(float);
    float *p = malloc(n);
    memcpy(p, trainer_model(t)->params, n);
    trainer_free(t);
    return p;
}

static void resume_check(int threads) {
    ModelConfig c = small_config(0);
    TrainSpec ts = small_train();
    const long N = 12;
    double loss_straight;
    float *straight = train_params(threads, N, N, &loss_straight);
    char *dir = tmpdir_make("resume");
    char *ck = xasprintf("%s/run.ckpt", dir);
    Trainer *a = trainer_create(&c, &ts, N, 99, NULL, threads);
    StepStats st;
    for (long i = 0; i < N / 2; i++) assert_int_equal(trainer_step(a, &st), 0);
    assert_int_equal(trainer_save(a, ck, "{\"run\":1}", NULL, 1.5), 0);
    trainer_free(a);
    Trainer *b = trainer_create(&c, &ts, N, 99, NULL, threads);
    double wall = 0;
    assert_int_equal(trainer_load(b, ck, "{\"run\":1}", NULL, &wall), 0);
    assert_true(wall == 1.5);
    assert_int_equal(trainer_step_count(b), N / 2);
    for (long i = N / 2; i < N; i++) assert_int_equal(trainer_step(b, &st), 0);
    size_t n = trainer_model(b)->layout.total;
    assert_memory_equal(straight, trainer_model(b)->params, n * sizeof(float));
    assert_true(st.loss == loss_straight);
    // A checkpoint for another run config is refused.
    assert_int_equal(trainer_load(b, ck, "{\"run\":2}", NULL, NULL), -1);
    assert_non_null(strstr(err_msg(), "different run config"));
    trainer_free(b);
    free(straight);
    free(ck);
    tmpdir_remove(dir);
}

static void test_resume_bit_exact_1_thread(void **state) {
    (void)state;
    resume_check(1);
}

static void test_resume_bit_exact_2_threads(void **state) {
    (void)state;
    resume_check(2);
}

static void test_deterministic_at_fixed_threads(void **state) {
    (void)state;
    float *a = train_params(2, 6, 10, NULL), *b = train_params(2, 6, 10, NULL);
    float *c = train_params(1, 6, 10, NULL);
    ModelConfig cfg = small_config(0);
    size_t n = count_params(&cfg);
    assert_memory_equal(a, b, n * sizeof(float));
    // One thread against two: the same arithmetic up to the order of the gradient sum.
    double max_diff = 0;
    for (size_t i = 0; i < n; i++) max_diff = fmax(max_diff, fabs((double)a[i] - c[i]));
    assert_true(max_diff < 1e-4);
    free(a), free(b), free(c);
}

// Nothing is allocated inside a training step (memory does not grow with the number of steps).
static void test_no_allocation_in_step(void **state) {
    (void)state;
    ModelConfig c = small_config(1);
    TrainSpec ts = small_train();
    Trainer *t = trainer_create(&c, &ts, 50, 3, NULL, 2);
    StepStats st;
    assert_int_equal(trainer_step(t, &st), 0); // warm-up: OpenBLAS sets up its buffers once
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 20; i++) assert_int_equal(trainer_step(t, &st), 0);
    struct mallinfo2 after = mallinfo2();
    assert_int_equal(before.uordblks, after.uordblks);
    // Parameters, two moments, a gradient per worker, activations per worker, and with t2's
    // float32 products the weights packed for them (panels of 32 output rows).
    size_t n = count_params(&c) * sizeof(float);
    size_t acts = acts_bytes(&c, 3, 16) * 2, packed = 0;
    if (strcmp(trainer_gemm_path(t), "t2-avx512") == 0) {
        size_t C = (size_t)c.d_model, F = (size_t)c.d_ff, V = (size_t)c.vocab_size, L = (size_t)c.n_layer;
        size_t per_layer = f32_panels_size(3 * C, C) + f32_panels_size(C, C) + f32_panels_size(2 * F, C) +
                           f32_panels_size(C, F);
        packed = (L * per_layer + f32_panels_size(V, C)) * sizeof(float);
    }
    assert_int_equal(trainer_bytes(t), 3 * n + 2 * n + acts + packed);
    trainer_free(t);
}

static void test_divergence_detected(void **state) {
    (void)state;
    ModelConfig c = small_config(0);
    TrainSpec ts = small_train();
    Trainer *t = trainer_create(&c, &ts, 10, 3, NULL, 1);
    trainer_model(t)->params[5] = NAN;
    StepStats st;
    assert_int_equal(trainer_step(t, &st), -1);
    assert_non_null(strstr(err_msg(), "diverged at step 1"));
    trainer_free(t);
}

// ---------------------------------------------------------------------------------------------
static char *write_bytes(const char *dir, const char *name, const void *data, size_t n) {
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static void test_damaged_checkpoints_refused(void **state) {
    (void)state;
    ModelConfig c = small_config(0);
    TrainSpec ts = small_train();
    char *dir = tmpdir_make("ckpt");
    char *good = xasprintf("%s/good.ckpt", dir);
    Trainer *t = trainer_create(&c, &ts, 4, 1, NULL, 1);
    StepStats st;
    assert_int_equal(trainer_step(t, &st), 0);
    assert_int_equal(trainer_save(t, good, "{}", NULL, 0), 0);
    size_t len;
    char *bytes = read_file(good, &len);
    assert_non_null(bytes);
    Checkpoint ck;
    assert_int_equal(checkpoint_read(good, &ck), 0);
    assert_int_equal(ck.step, 1);
    checkpoint_free(&ck);

    struct {
        const char *name;
        size_t keep;  // bytes kept (truncation)
        long flip;    // byte to flip, or -1
        const char *msg;
    } cases[] = {
        {"truncated.ckpt", len - 100, -1, "(truncated or damaged)"},
        {"header-only.ckpt", 40, -1, "truncated or damaged checkpoint header"},
        {"flipped.ckpt", len, (long)len / 2, "checksum mismatch (the checkpoint is corrupted)"},
        {"flipped-crc.ckpt", len, (long)len - 2, "checksum mismatch (the checkpoint is corrupted)"},
        {"empty.ckpt", 0, -1, "not a t2 checkpoint (bad magic)"},
        {"magic.ckpt", len, 0, "not a t2 checkpoint (bad magic)"},
        {"version.ckpt", len, 8, "checkpoint version 88, this t2 reads versions 1 to 2"}, // byte 8: the version (2 ^ 0x5a)
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *copy = malloc(len);
        memcpy(copy, bytes, len);
        if (cases[i].flip >= 0) copy[cases[i].flip] ^= 0x5a;
        char *path = write_bytes(dir, cases[i].name, copy, cases[i].keep);
        assert_int_equal(checkpoint_read(path, &ck), -1);
        assert_non_null(strstr(err_msg(), path));
        if (!strstr(err_msg(), cases[i].msg)) print_error("%s: got '%s'\n", cases[i].name, err_msg());
        assert_non_null(strstr(err_msg(), cases[i].msg));
        // Resuming from it is refused and the file is left as it was.
        assert_int_equal(trainer_load(t, path, "{}", NULL, NULL), -1);
        size_t after_len;
        char *after = read_file(path, &after_len);
        assert_int_equal(after_len, cases[i].keep);
        assert_memory_equal(after, copy, after_len);
        free(after);
        free(path);
        free(copy);
    }
    assert_int_equal(checkpoint_read("/nonexistent/x.ckpt", &ck), -1);
    assert_non_null(strstr(err_msg(), "/nonexistent/x.ckpt: cannot open"));
    // A checkpoint of another model shape is refused when resuming.
    ModelConfig other = small_config(1);
    Trainer *t2 = trainer_create(&other, &ts, 4, 1, NULL, 1);
    assert_int_equal(trainer_load(t2, good, "{}", NULL, NULL), -1);
    assert_non_null(strstr(err_msg(), "different model shape"));
    trainer_free(t2);
    trainer_free(t);
    free(bytes);
    free(good);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Read a safetensors file back and compare every tensor with the model's parameters.
static void export_check(int tied) {
    ModelConfig c = small_config(tied);
    Model m;
    model_build(&m, &c);
    model_init_weights(&m, 77);
    for (size_t i = m.layout.matrices; i < m.layout.total; i++) m.params[i] = 1.0f + 0.001f * (float)i;
    const char *vocab[17];
    char names[17][8];
    for (int i = 0; i < 17; i++) {
        snprintf(names[i], sizeof names[i], i == 0 ? "<bos>" : i == 1 ? "<eos>" : "%c", 'a' + i);
        vocab[i] = names[i];
    }
    char *dir = tmpdir_make("export");
    char *path = xasprintf("%s/m.safetensors", dir);
    assert_int_equal(export_safetensors(&m, vocab, path), 0);
    size_t len;
    char *buf = read_file(path, &len);
    uint64_t hlen;
    memcpy(&hlen, buf, 8);
    assert_true(hlen % 8 == 0 && 8 + hlen <= len);
    cJSON *h = cJSON_ParseWithLength(buf + 8, hlen);
    assert_non_null(h);
    const char *data = buf + 8 + hlen;
    size_t C = 32, F = (size_t)c.d_ff, V = 17, covered = 0;
    struct {
        char name[96];
        const float *want;
        size_t rows, cols;
    } expect[64];
    int n = 0;
#define EXPECT(nm, ptr, r, cl) (snprintf(expect[n].name, 96, "%s", nm), expect[n].want = (ptr), expect[n].rows = (r), expect[n].cols = (cl), n++)
    EXPECT("model.embed_tokens.weight", m.w.wte, V, C);
    for (size_t l = 0; l < 2; l++) {
        char nm[96];
        const char *qkv[] = {"q", "k", "v"};
        for (int i = 0; i < 3; i++) {
            snprintf(nm, sizeof nm, "model.layers.%zu.self_attn.%s_proj.weight", l, qkv[i]);
            EXPECT(nm, m.w.wqkv + l * 3 * C * C + (size_t)i * C * C, C, C);
        }
        snprintf(nm, sizeof nm, "model.layers.%zu.self_attn.o_proj.weight", l);
        EXPECT(nm, m.w.wo + l * C * C, C, C);
        snprintf(nm, sizeof nm, "model.layers.%zu.mlp.gate_proj.weight", l);
        EXPECT(nm, m.w.wgu + l * 2 * F * C, F, C);
        snprintf(nm, sizeof nm, "model.layers.%zu.mlp.up_proj.weight", l);
        EXPECT(nm, m.w.wgu + l * 2 * F * C + F * C, F, C);
        snprintf(nm, sizeof nm, "model.layers.%zu.mlp.down_proj.weight", l);
        EXPECT(nm, m.w.wdown + l * C * F, C, F);
        snprintf(nm, sizeof nm, "model.layers.%zu.input_layernorm.weight", l);
        EXPECT(nm, m.w.ln1 + l * C, C, 0);
        snprintf(nm, sizeof nm, "model.layers.%zu.post_attention_layernorm.weight", l);
        EXPECT(nm, m.w.ln2 + l * C, C, 0);
    }
    EXPECT("model.norm.weight", m.w.lnf, C, 0);
    if (!tied) EXPECT("lm_head.weight", m.w.lm_head, V, C);
    assert_int_equal(cJSON_GetArraySize(h), n + 1); // + __metadata__
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_GetObjectItemCaseSensitive(h, expect[i].name);
        if (!e) print_error("missing tensor %s\n", expect[i].name);
        assert_non_null(e);
        assert_string_equal(cJSON_GetObjectItem(e, "dtype")->valuestring, "F32");
        cJSON *shape = cJSON_GetObjectItem(e, "shape"), *offs = cJSON_GetObjectItem(e, "data_offsets");
        assert_int_equal(cJSON_GetArraySize(shape), expect[i].cols ? 2 : 1);
        assert_int_equal((size_t)cJSON_GetArrayItem(shape, 0)->valuedouble, expect[i].rows);
        if (expect[i].cols) assert_int_equal((size_t)cJSON_GetArrayItem(shape, 1)->valuedouble, expect[i].cols);
        size_t b = (size_t)cJSON_GetArrayItem(offs, 0)->valuedouble, e2 = (size_t)cJSON_GetArrayItem(offs, 1)->valuedouble;
        size_t bytes = expect[i].rows * (expect[i].cols ? expect[i].cols : 1) * sizeof(float);
        assert_int_equal(e2 - b, bytes);
        assert_memory_equal(data + b, expect[i].want, bytes);
        covered += bytes;
    }
    assert_int_equal(covered, len - 8 - hlen);
    cJSON *meta = cJSON_GetObjectItem(h, "__metadata__");
    cJSON *cfg = cJSON_Parse(cJSON_GetObjectItem(meta, "config")->valuestring);
    assert_int_equal(cJSON_GetObjectItem(cfg, "n_layer")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(cfg, "d_ff")->valueint, c.d_ff);
    assert_int_equal(cJSON_GetObjectItem(cfg, "vocab_size")->valueint, 17);
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(cfg, "tied")), tied);
    assert_true(cJSON_GetObjectItem(cfg, "rope_theta")->valuedouble == 10000.0);
    cJSON *voc = cJSON_Parse(cJSON_GetObjectItem(meta, "vocab")->valuestring);
    assert_int_equal(cJSON_GetArraySize(voc), 17);
    assert_string_equal(cJSON_GetArrayItem(voc, 0)->valuestring, "<bos>");
    assert_string_equal(cJSON_GetArrayItem(voc, 5)->valuestring, "f");
    cJSON_Delete(voc);
    cJSON_Delete(cfg);
    cJSON_Delete(h);
    free(buf);
    free(path);
    tmpdir_remove(dir);
    model_free(&m);
}

static void test_export_read_back(void **state) {
    (void)state;
    export_check(0);
    export_check(1);
}

// ---------------------------------------------------------------------------------------------
static void test_schedules(void **state) {
    (void)state;
    TrainSpec t = small_train();
    t.lr = 1.0;
    t.warmup = 10;
    t.min_lr_ratio = 0.1;
    // Linear warmup to the peak, then cosine to the floor.
    assert_true(fabs(lr_at(&t, 0, 110) - 0.1) < 1e-12);
    assert_true(fabs(lr_at(&t, 9, 110) - 1.0) < 1e-12);
    assert_true(fabs(lr_at(&t, 10, 110) - 1.0) < 1e-12);
    assert_true(fabs(lr_at(&t, 60, 110) - 0.55) < 1e-12); // halfway: floor + (peak-floor)/2
    assert_true(lr_at(&t, 109, 110) > 0.1 && lr_at(&t, 109, 110) < 0.1005);
    t.warmup = 0.1; // a fraction of the run
    assert_int_equal(warmup_steps(&t, 200), 20);
    t.schedule = SCHED_CONSTANT;
    assert_true(lr_at(&t, 150, 200) == 1.0);
    t.schedule = SCHED_WSD;
    t.decay_frac = 0.25;
    assert_true(lr_at(&t, 149, 200) == 1.0);
    assert_true(fabs(lr_at(&t, 150, 200) - 1.0) < 1e-12);
    assert_true(fabs(lr_at(&t, 175, 200) - 0.55) < 1e-12);
    for (long s = 1; s < 200; s++) assert_true(lr_at(&t, s, 200) <= lr_at(&t, s - 1, 200) || s <= 20);
}

// ---------------------------------------------------------------------------------------------
// Per-size learning rates: family[i].lr and train.lr_rule give each model its peak learning rate,
// which is what the optimiser steps with. AdamW's first step (bias-corrected, no decay) moves a
// parameter by lr · g / (|g| + eps), so the largest move of a run's first step is its lr.
static const char LR_SPEC[] =
    "{\"name\": \"lr\", \"task\": {\"name\": \"add\", \"digits\": 1, \"eval_problems\": 20},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 16, \"n_head\": 2}, {\"n_layer\": 1, \"d_model\": 64, \"n_head\": 2},\n"
    "            {\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2, \"lr\": 0.007}],\n"
    " \"budgets\": {\"tokens\": [128]},\n"
    " \"train\": {\"seq_len\": 16, \"batch_size\": 8, \"lr\": 0.004, \"lr_rule\": \"inverse_width\", \"lr_ref_width\": 32,\n"
    "           \"warmup\": 0, \"schedule\": \"constant\", \"weight_decay\": 0}}";

static int capture_log(void *ctx, const TrainLogRow *rows, int n) {
    double *lr = ctx;
    for (int i = 0; i < n; i++) *lr = rows[i].lr;
    return 0;
}

static void test_lr_per_size_reaches_optimizer(void **state) {
    (void)state;
    Spec s;
    if (spec_parse(&s, LR_SPEC, "lr.json") != 0) fail_msg("%s", err_msg());
    const double want[3] = {0.004 * 32 / 16, 0.004 * 32 / 64, 0.007}; // rule, rule, family[2].lr
    char *dir = tmpdir_make("lr");
    for (int i = 0; i < 3; i++) {
        const RunSpec *r = &s.runs[i];
        assert_true(r->lr == want[i] && s.model_lr[i] == want[i]);
        assert_int_equal(r->steps, 1);
        char *cfg = run_config_json(&s, r);
        assert_true(strtod(strstr(cfg, "\"lr\":") + 5, NULL) == want[i]); // the run's config holds its lr
        char *ckpt = xasprintf("%s/run-%d.ckpt", dir, i);
        double logged = NAN;
        RunHooks hooks = {.ctx = &logged, .on_log = capture_log};
        RunOutcome out;
        if (run_train(&s, r, ckpt, 1, &hooks, &out) != 0) fail_msg("%s", err_msg());
        assert_true(logged == (double)(float)want[i]); // the optimiser steps in float
        Checkpoint ck;
        if (checkpoint_read(ckpt, &ck) != 0) fail_msg("%s", err_msg());
        Model m;
        model_build(&m, &r->model);
        model_init_weights(&m, (uint64_t)r->seed);
        double moved = 0;
        for (size_t k = 0; k < ck.n_params; k++) moved = fmax(moved, fabs((double)ck.params[k] - m.params[k]));
        print_message("d_model %d: lr %g, largest first-step move %.6g\n", r->model.d_model, want[i], moved);
        assert_true(fabs(moved - want[i]) < 1e-3 * want[i]);
        model_free(&m);
        checkpoint_free(&ck);
        free(ckpt), free(cfg);
    }
    tmpdir_remove(dir);
    spec_free(&s);
}

// ---------------------------------------------------------------------------------------------
// Per-size clipping: family[i].grad_clip is the clip the optimiser applies to that model's runs,
// train.grad_clip the other models'. Each run of the sweep path (run_train) must end with the
// weights of a reference trainer given that clip directly, bit for bit, and not with those of the
// other clip (a check that the two clips lead apart here, so the comparison can fail).
static const char CLIP_SPEC[] =
    "{\"name\": \"clip\", \"task\": {\"name\": \"add\", \"digits\": 1, \"eval_problems\": 20},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 16, \"n_head\": 2, \"grad_clip\": 0.02},\n"
    "            {\"n_layer\": 1, \"d_model\": 16, \"n_head\": 2}],\n"
    " \"budgets\": {\"tokens\": [768]},\n"
    " \"train\": {\"seq_len\": 16, \"batch_size\": 8, \"lr\": 0.01, \"grad_clip\": 5,\n"
    "           \"warmup\": 0, \"schedule\": \"constant\", \"weight_decay\": 0}}";

// The weights after training run R's model, seed and steps with clip CLIP, in a trainer of its own.
static float *reference_params(const Spec *s, const RunSpec *r, double clip) {
    Task *task = task_create(&s->task);
    TrainSpec ts = s->train;
    ts.lr = r->lr;
    ts.grad_clip = clip;
    Trainer *t = trainer_create(&r->model, &ts, r->steps, (uint64_t)r->seed, task, 1);
    StepStats st;
    for (long i = 0; i < r->steps; i++) assert_int_equal(trainer_step(t, &st), 0);
    size_t n = trainer_model(t)->layout.total;
    float *p = malloc(n * sizeof *p);
    memcpy(p, trainer_model(t)->params, n * sizeof *p);
    trainer_free(t);
    task_free(task);
    return p;
}

static int capture_clip_norms(void *ctx, const TrainLogRow *rows, int n) {
    double *max_norm = ctx;
    for (int i = 0; i < n; i++) *max_norm = fmax(*max_norm, rows[i].grad_norm);
    return 0;
}

static void test_grad_clip_per_size_reaches_optimizer(void **state) {
    (void)state;
    Spec s;
    if (spec_parse(&s, CLIP_SPEC, "clip.json") != 0) fail_msg("%s", err_msg());
    char *dir = tmpdir_make("clip");
    const double want[2] = {0.02, 5}; // family[0]'s own, train.grad_clip
    for (int i = 0; i < 2; i++) {
        const RunSpec *r = &s.runs[i];
        assert_true(r->grad_clip == want[i] && r->steps == 6);
        char *ckpt = xasprintf("%s/run-%d.ckpt", dir, i);
        double max_norm = 0;
        RunHooks hooks = {.ctx = &max_norm, .on_log = capture_clip_norms};
        RunOutcome out;
        if (run_train(&s, r, ckpt, 1, &hooks, &out) != 0) fail_msg("%s", err_msg());
        Checkpoint ck;
        if (checkpoint_read(ckpt, &ck) != 0) fail_msg("%s", err_msg());
        float *mine = reference_params(&s, r, want[i]), *other = reference_params(&s, r, want[1 - i]);
        size_t n = ck.n_params;
        print_message("run %d: clip %g, largest gradient norm %.3g\n", i, want[i], max_norm);
        assert_true(max_norm > want[0] && max_norm < want[1]); // 0.02 clips, 5 never
        assert_memory_equal(ck.params, mine, n * sizeof(float));
        assert_memory_not_equal(ck.params, other, n * sizeof(float));
        free(mine), free(other), free(ckpt);
        checkpoint_free(&ck);
    }
    tmpdir_remove(dir);
    spec_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_bit_exact_1_thread),
        cmocka_unit_test(test_resume_bit_exact_2_threads),
        cmocka_unit_test(test_deterministic_at_fixed_threads),
        cmocka_unit_test(test_no_allocation_in_step),
        cmocka_unit_test(test_divergence_detected),
        cmocka_unit_test(test_damaged_checkpoints_refused),
        cmocka_unit_test(test_export_read_back),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_lr_per_size_reaches_optimizer),
        cmocka_unit_test(test_grad_clip_per_size_reaches_optimizer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
