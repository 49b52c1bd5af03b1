// cmd_bench.c — `t2 bench train|sample|gemm`: throughput measured against the sgemm peak
// measured in the same run, so ratios stay meaningful on a shared, drifting machine.
#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/bench.h"
#include "cli/commands.h"
#include "nn/model.h"
#include "util/cpu.h"
#include "nn/sampler.h"
#include "spec/spec.h"
#include "nn/trainer.h"
#include "util/json.h"
#include "util/util.h"

// GFLOP/s of C = A·Bᵀ with A (m, k), B (n, k) — the layout of t2's linear layers — best of
// `reps` timed calls after one warm-up, on OpenBLAS's own pool of `threads` threads.
double sgemm_gflops(int m, int n, int k, int threads, int reps) {
    blas_set_threads(threads);
    float *a = xmalloc_aligned((size_t)m * (size_t)k * sizeof(float));
    float *b = xmalloc_aligned((size_t)n * (size_t)k * sizeof(float));
    float *c = xmalloc_aligned((size_t)m * (size_t)n * sizeof(float));
    for (size_t i = 0; i < (size_t)m * (size_t)k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)n * (size_t)k; i++) b[i] = (float)(i % 5) * 0.1f;
    double flops = 2.0 * m * n * k, best = 0;
    // Enough calls per timing to last ~20 ms, so the clock's resolution does not matter.
    int inner = (int)MAX(1.0, MIN(1000.0, 2e9 / flops));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        for (int i = 0; i < inner; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        double dt = now_s() - t0;
        best = MAX(best, inner * flops / dt / 1e9);
    }
    free(a);
    free(b);
    free(c);
    blas_set_threads(1);
    return best;
}

// The machine's sgemm peak: the best of large square products on `threads` threads.
double sgemm_peak_gflops(int threads, int max_n) {
    double best = 0;
    for (int n = MIN(512, max_n); n <= max_n; n *= 2) best = MAX(best, sgemm_gflops(n, n, n, threads, 3));
    return best;
}

// ---------------------------------------------------------------------------------------------
// --precision: "float32" or "bf16", and the kernels this machine runs it with.
static int bench_precision(const char *name, Precision *p, GemmPath *g) {
    if (precision_parse(name, p) != 0) {
        err_set("--precision: expected float32 or bf16, got '%s'", name);
        return -1;
    }
    if (gemm_path_for(*p, g) != 0) {
        err_prefix("--precision");
        return -1;
    }
    return 0;
}

// The peak MFU is measured against. float32: the better of OpenBLAS's sgemm (with the kernels it
// loaded, which OPENBLAS_CORETYPE may have set to a CPU older than this one) and, on a CPU with
// AVX-512, t2's own float32 products on the same squares — the fastest float32 products this
// machine runs, whatever kernels train. bf16: the bf16 path's own products.
typedef struct {
    double gflops;      // the peak: the best of the others
    double sgemm, t2;   // float32: sgemm's, and t2-avx512's (0: not measured)
    const char *gemm;   // the kernels that gave it
} Peak;

static void measure_peak(Peak *pk, Precision p, GemmPath g, int threads, int max_n) {
    if (p != PRECISION_FLOAT32) {
        pk->gflops = MAX(pk->gflops, linear_peak_gflops(g, threads, max_n));
        pk->gemm = gemm_path_name(g);
        return;
    }
    pk->sgemm = MAX(pk->sgemm, sgemm_peak_gflops(threads, max_n));
    if (T2_F32_KERNELS && cpu_info()->avx512) pk->t2 = MAX(pk->t2, linear_peak_gflops(GEMM_T2_F32, threads, max_n));
    pk->gflops = MAX(pk->sgemm, pk->t2);
    pk->gemm = pk->t2 > pk->sgemm ? gemm_path_name(GEMM_T2_F32) : "openblas-sgemm";
}

static int bench_gemm(int argc, char **argv) {
    long threads = cpu_count();
    int json = 0;
    char *precision_arg = "float32";
    Opt opts[] = {
        ARG_INT("--threads", &threads, "P",
                "threads: OpenBLAS's pool for float32, one product per thread for bf16 (default: all cores)",
                .min = 1, .max = 1024),
        ARG_STR("--precision", &precision_arg, "P", "float32 (default, OpenBLAS sgemm) or bf16 (this machine's bf16 kernels)"),
        ARG_FLAG("--json", &json, "print one JSON object"),
    };
    int rc = args_parse("bench gemm", argc, argv, opts, ARRAY_LEN(opts), NULL, "", 0, 0);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    Precision prec;
    GemmPath gemm;
    if (bench_precision(precision_arg, &prec, &gemm) != 0) return cmd_fail();
    // Square products, then the shapes of small transformers: (tokens, in) · (out, in)ᵀ.
    static const int shapes[][3] = {{512, 512, 512},    {1024, 1024, 1024}, {2048, 2048, 2048}, {512, 384, 128},
                                    {512, 128, 128},    {512, 688, 128},    {512, 128, 344},    {4096, 768, 256},
                                    {4096, 1376, 256},  {4096, 256, 688},   {2048, 1024, 1024}, {64, 384, 128}};
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "shapes");
    double peak = 0;
    if (!json) printf("%6s %6s %6s  %9s\n", "m", "n", "k", "GFLOP/s");
    for (size_t i = 0; i < ARRAY_LEN(shapes); i++) {
        int m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
        double g = prec == PRECISION_FLOAT32 ? sgemm_gflops(m, n, k, (int)threads, 5)
                                      : linear_gemm_gflops(gemm, m, n, k, (int)threads, 5);
        if (g < 0) {
            cJSON_Delete(out);
            return cmd_fail();
        }
        if (i < 3) peak = MAX(peak, g);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "m", m);
        cJSON_AddNumberToObject(o, "n", n);
        cJSON_AddNumberToObject(o, "k", k);
        cJSON_AddNumberToObject(o, "gflops", g);
        cJSON_AddItemToArray(arr, o);
        if (!json) printf("%6d %6d %6d  %9.1f\n", m, n, k, g);
    }
    cJSON_AddNumberToObject(out, "peak_gflops", peak);
    cJSON_AddNumberToObject(out, "threads", (double)threads);
    cJSON_AddStringToObject(out, "precision", precision_name(prec));
    cJSON_AddStringToObject(out, "gemm", prec == PRECISION_FLOAT32 ? "openblas-sgemm" : gemm_path_name(gemm));
    cJSON_AddStringToObject(out, "openblas", openblas_get_config());
    if (json) {
        json_print(out);
    } else {
        printf("peak (square): %.1f GFLOP/s on %ld threads\n", peak, threads);
    }
    cJSON_Delete(out);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// The model a benchmark builds: the same options in every `t2 bench` command.
typedef struct {
    long n_layer, d_model, n_head, vocab, d_ff;
} BenchModel;

#define BENCH_MODEL_OPTS(m)                                                                                  \
    ARG_INT("--n-layer", &(m).n_layer, "L", "layers", .required = 1, .min = 1, .max = 256),                  \
        ARG_INT("--d-model", &(m).d_model, "D", "width", .required = 1, .min = 2, .max = 65536),             \
        ARG_INT("--n-head", &(m).n_head, "H", "attention heads", .required = 1, .min = 1, .max = 65536),     \
        ARG_INT("--vocab", &(m).vocab, "V", "vocabulary size", .required = 1, .min = 3, .max = 1 << 20),     \
        ARG_INT("--d-ff", &(m).d_ff, "F", "MLP hidden size (default 8·d/3 rounded up to ×8)", .min = 1,      \
                .max = 1 << 20)

static int bench_model_config(const BenchModel *m, long seq_len, int tied, ModelConfig *c) {
    *c = (ModelConfig){(int)m->n_layer, (int)m->d_model, (int)m->n_head, (int)m->d_ff, (int)m->vocab, (int)seq_len, tied,
                       0, 0};
    model_config_defaults(c);
    if (model_config_validate(c) == 0) return 0;
    // "n_head: ..." names the config field: name the option instead ("--n-head: ...").
    char msg[1024], opt[64];
    snprintf(msg, sizeof msg, "%s", err_msg());
    const char *colon = strchr(msg, ':');
    size_t n = colon ? (size_t)(colon - msg) : 0;
    if (n == 0 || n >= sizeof opt) return -1;
    memcpy(opt, msg, n);
    opt[n] = '\0';
    if (strcmp(opt, "vocab_size") == 0) snprintf(opt, sizeof opt, "vocab");
    for (char *q = opt; *q; q++)
        if (*q == '_') *q = '-';
    err_set("--%s%s", opt, colon);
    return -1;
}

// A result object that starts with the benchmarked model: its config, size and BLAS kernels.
static cJSON *bench_result(const char *bench, const ModelConfig *c) {
    cJSON *o = model_config_cjson(c, 1);
    cJSON_AddStringToObject(o, "bench", bench);
    cJSON_AddNumberToObject(o, "n_params", (double)count_params(c));
    cJSON_AddStringToObject(o, "blas_core", openblas_get_corename());
    return o;
}

static int bench_train(int argc, char **argv) {
    BenchModel bm = {0};
    long T = 0, B = 0, steps = 20, warm = 3, threads = cpu_count(), peak_size = 2048;
    int json = 0, tied = 0;
    char *precision_arg = "float32";
    Opt opts[] = {
        BENCH_MODEL_OPTS(bm),
        ARG_INT("--seq-len", &T, "T", "sequence length", .required = 1, .min = 2, .max = 65536),
        ARG_INT("--batch", &B, "B", "sequences per step", .required = 1, .min = 1, .max = 1 << 20),
        ARG_FLAG("--tied", &tied, "tie the head to the embedding"),
        ARG_INT("--steps", &steps, "S", "timed steps (default 20)", .min = 1, .max = 1 << 20),
        ARG_INT("--warmup", &warm, "W", "untimed warm-up steps (default 3)", .min = 0, .max = 1 << 20),
        ARG_INT("--threads", &threads, "P", "worker threads (default: all cores)", .min = 1, .max = 1024),
        ARG_STR("--precision", &precision_arg, "P",
                "float32 (default) or bf16: bf16 products, float32 master weights; MFU against the bf16 peak"),
        ARG_INT("--peak-size", &peak_size, "N",
                "the peak is the best of squares from 512 doubling up to N (default 2048; smaller is quicker, the peak lower)",
                .min = 64, .max = 8192),
        ARG_FLAG("--json", &json, "print one JSON object"),
    };
    int rc = args_parse("bench train", argc, argv, opts, ARRAY_LEN(opts), NULL, "", 0, 0);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    ModelConfig cfg;
    Precision prec;
    GemmPath gemm;
    if (bench_model_config(&bm, T, tied, &cfg) != 0 || bench_precision(precision_arg, &prec, &gemm) != 0)
        return cmd_fail();
    TrainSpec ts = {.seq_len = (int)T, .batch_size = (int)B, .lr = 1e-3, .warmup = 0, .schedule = SCHED_CONSTANT,
                    .weight_decay = 0.1, .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .grad_clip = 1.0,
                    .precision = prec};
    Peak peak = {0};
    measure_peak(&peak, prec, gemm, (int)threads, (int)peak_size);
    Trainer *tr = trainer_create(&cfg, &ts, warm + steps, 1, NULL, (int)threads);
    if (!tr) return cmd_fail();
    StepStats st = {0};
    double first_loss = NAN;
    for (long i = 0; i < warm; i++) {
        if (trainer_step(tr, &st) != 0) goto diverged;
        if (i == 0) first_loss = st.loss;
    }
    double t0 = now_s(), c0 = cpu_time_s();
    for (long i = 0; i < steps; i++)
        if (trainer_step(tr, &st) != 0) goto diverged;
    double secs = now_s() - t0, cpu_secs = cpu_time_s() - c0;
    // The peak again after the timed steps; the higher of the two keeps MFU conservative on a
    // machine whose speed drifts.
    measure_peak(&peak, prec, gemm, (int)threads, (int)peak_size);
    double tok_s = (double)B * T * steps / secs;
    double gflops = train_step_flops(&cfg, (int)B, (int)T) * steps / secs / 1e9;
    cJSON *o = bench_result("train", &cfg);
    cJSON_AddStringToObject(o, "precision", precision_name(prec));
    cJSON_AddStringToObject(o, "gemm", trainer_gemm_path(tr));
    cJSON_AddNumberToObject(o, "batch", B);
    cJSON_AddNumberToObject(o, "steps", steps);
    cJSON_AddNumberToObject(o, "warmup", warm);
    cJSON_AddNumberToObject(o, "threads", trainer_threads(tr));
    cJSON_AddNumberToObject(o, "seconds", secs);
    cJSON_AddNumberToObject(o, "ms_per_step", 1e3 * secs / steps);
    // CPU seconds of all threads: on a shared machine, where other processes take turns on the
    // cores, the work done per CPU second drifts less than the wall-clock rate.
    cJSON_AddNumberToObject(o, "cpu_seconds", cpu_secs);
    cJSON_AddNumberToObject(o, "tokens_per_cpu_s", (double)B * T * steps / cpu_secs);
    cJSON_AddNumberToObject(o, "tokens_per_s", tok_s);
    cJSON_AddNumberToObject(o, "gflops", gflops);
    cJSON_AddNumberToObject(o, "gflops_6n", 6.0 * count_params(&cfg) * tok_s / 1e9);
    cJSON_AddNumberToObject(o, "peak_gflops", peak.gflops);
    cJSON_AddStringToObject(o, "peak_gemm", peak.gemm);
    cJSON_AddNumberToObject(o, "peak_size", peak_size);
    if (prec == PRECISION_FLOAT32) {
        cJSON_AddNumberToObject(o, "sgemm_peak_gflops", peak.sgemm);
        if (peak.t2 > 0) cJSON_AddNumberToObject(o, "t2_peak_gflops", peak.t2);
    }
    cJSON_AddNumberToObject(o, "mfu", gflops / peak.gflops);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)trainer_bytes(tr));
    cJSON_AddNumberToObject(o, "loss_first", first_loss);
    cJSON_AddNumberToObject(o, "loss_last", st.loss);
    bench_print(o, json);
    trainer_free(tr);
    return 0;
diverged:
    trainer_free(tr);
    return cmd_fail();
}

void bench_print(cJSON *o, int json) {
    if (json) {
        json_print(o);
    } else {
        for (cJSON *it = o->child; it; it = it->next) {
            if (cJSON_IsString(it) || cJSON_IsRaw(it)) // raw: the model config's exactly written numbers
                printf("%16s: %s\n", it->string, it->valuestring);
            else if (cJSON_IsBool(it))
                printf("%16s: %s\n", it->string, cJSON_IsTrue(it) ? "true" : "false");
            else
                printf("%16s: %.6g\n", it->string, it->valuedouble);
        }
    }
    cJSON_Delete(o);
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 1 && strcmp(argv[0], "train") == 0) return bench_train(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "gemm") == 0) return bench_gemm(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "sample") == 0) return bench_sample(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "fit") == 0) return bench_fit(argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        printf("usage: t2 bench train|sample|gemm|fit [options]   (t2 bench train --help for details)\n");
        return 0;
    }
    fprintf(stderr, "t2: bench: expected 'train', 'sample', 'gemm' or 'fit'%s%s\n", argc ? ", got " : "",
            argc ? argv[0] : "");
    return 2;
}

// ---------------------------------------------------------------------------------------------
int bench_sample(int argc, char **argv) {
    BenchModel bm = {0};
    long P = 0, G = 0, K = 0, threads = cpu_count(), repeat = 3;
    int json = 0, sequential = 0;
    double temperature = 1.0;
    Opt opts[] = {
        BENCH_MODEL_OPTS(bm),
        ARG_INT("--prompt-len", &P, "P", "prompt tokens", .required = 1, .min = 1, .max = 1 << 16),
        ARG_INT("--gen", &G, "G", "new tokens per sample", .required = 1, .min = 1, .max = 1 << 16),
        ARG_INT("-k|--k", &K, "K", "samples per prompt", .required = 1, .min = 1, .max = 1 << 16),
        ARG_DOUBLE("--temperature", &temperature, "T", "sampling temperature (default 1)", .min = 1e-6, .max = 100),
        ARG_FLAG("--sequential", &sequential, "one sample at a time, each with its own prefill"),
        ARG_INT("--repeat", &repeat, "R", "timed repetitions; the median is reported (default 3)", .min = 1,
                .max = 1000),
        ARG_INT("--threads", &threads, "P", "worker threads (default: all cores)", .min = 1, .max = 1024),
        ARG_FLAG("--json", &json, "print one JSON object"),
    };
    int rc = args_parse("bench sample", argc, argv, opts, ARRAY_LEN(opts), NULL, "", 0, 0);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    ModelConfig cfg;
    if (bench_model_config(&bm, P + G, 0, &cfg) != 0) return cmd_fail();
    Model m;
    model_build(&m, &cfg);
    model_init_weights(&m, 1);
    int *prompt = xcalloc((size_t)P, sizeof(int));
    Rng r;
    rng_seed(&r, 5);
    for (long i = 0; i < P; i++) prompt[i] = (int)rng_below(&r, (uint64_t)cfg.vocab_size);
    int rows = sequential ? 1 : (int)K;
    Sampler *smp = sampler_create(&m, (int)P, (int)G, rows, (int)threads);
    sampler_set_stop_at_eos(smp, 0);
    SampleOut out;
    sample_out_alloc(&out, rows, (int)G);
    uint64_t *seeds = xcalloc((size_t)K, sizeof(uint64_t));
    double *secs = xcalloc((size_t)repeat, sizeof(double)), flops = 0;
    for (long rep = -1; rep < repeat; rep++) { // rep -1: untimed warm-up
        for (long i = 0; i < K; i++) seeds[i] = seed_derive((uint64_t)rep + 2, 0, (uint64_t)i, 0);
        double t0 = now_s();
        flops = 0;
        for (long i = 0; i < K; i += rows) {
            sampler_run(smp, prompt, (int)P, rows, seeds + i, (float)temperature, 1.0f, &out);
            flops += out.flops;
        }
        if (rep >= 0) secs[rep] = now_s() - t0;
    }
    sort_doubles(secs, (size_t)repeat);
    double med = secs[repeat / 2];
    cJSON *o = bench_result("sample", &cfg);
    cJSON_AddStringToObject(o, "mode", sequential ? "sequential" : "batched");
    cJSON_AddNumberToObject(o, "prompt_len", P);
    cJSON_AddNumberToObject(o, "gen", G);
    cJSON_AddNumberToObject(o, "k", K);
    cJSON_AddNumberToObject(o, "threads", threads);
    cJSON_AddNumberToObject(o, "repeat", repeat);
    cJSON_AddNumberToObject(o, "seconds", med);
    cJSON_AddNumberToObject(o, "tokens_per_s", (double)K * G / med);
    cJSON_AddNumberToObject(o, "gflops", flops / med / 1e9);
    bench_print(o, json);
    free(secs);
    free(seeds);
    sample_out_free(&out);
    sampler_free(smp);
    free(prompt);
    model_free(&m);
    return 0;
}
