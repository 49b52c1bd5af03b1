// main.c — `t2 <command> ...`: one table of commands, each in its own cmd_*.c file.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <cblas.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "util/util.h"

static const Command commands[] = {
    {"sweep", cmd_sweep, "train and evaluate every run of an experiment file (resumable)"},
    {"train", cmd_train, "train and evaluate one run of an experiment (what a job-array task calls)"},
    {"tune", cmd_tune, "pick a learning rate and a gradient clip per model size from short pilots; write a tuned copy of the spec"},
    {"eval", cmd_eval, "repeated-sampling evaluation of finished runs that lack it"},
    {"fit", cmd_fit, "fit a scaling law (chinchilla, t2-loss, t2-acc, coverage) to a database or CSV"},
    {"optimize", cmd_optimize, "compute-optimal (N, D, k) under the fitted laws, beside Chinchilla's choice"},
    {"compare", cmd_compare, "at equal compute, the T² pick against the Chinchilla pick, with paired intervals"},
    {"plot", cmd_plot, "the figures of a database (gnuplot, PNG and SVG, with their data and scripts)"},
    {"report", cmd_report, "a markdown report: runs, fits, optimal allocations, the headline comparison"},
    {"sample", cmd_sample, "k completions of a prompt from a checkpoint"},
    {"score", cmd_score, "teacher-forced log-probability of a completion after a prompt"},
    {"export", cmd_export, "write a checkpoint as safetensors with Hugging Face Llama names"},
    {"merge", cmd_merge, "combine shard databases into one (idempotent)"},
    {"slurm", cmd_slurm, "print a Slurm job-array script for a sweep"},
    {"bench", cmd_bench, "throughput benchmarks: train, sample, gemm"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: t2 <command> [options]   (t2 <command> --help for details)\n\n"
                 "Train-to-Test scaling experiments: train small transformers across compute budgets,\n"
                 "sample them k times per problem, fit scaling laws, find the compute-optimal (N, D, k).\n\n"
                 "commands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
}

// Re-run this process once with OPENBLAS_CORETYPE set when OpenBLAS chose a generic core on a
// CPU it did not recognise (see blas_better_core). A user's own OPENBLAS_CORETYPE is kept.
static void fix_blas_core(char **argv) {
    const char *core = getenv("OPENBLAS_CORETYPE") ? NULL : blas_better_core();
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);
    // exec failed: carry on with the slower kernels.
}

int main(int argc, char **argv) {
    fix_blas_core(argv);
    // One threading model (util/threadpool.h): OpenBLAS never splits a product over its own
    // threads, whose split would depend on the machine's core count and could change the
    // rounding. `bench gemm` measures OpenBLAS's own pool by asking for it.
    blas_set_threads(1);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--blas-core") == 0) { // the OpenBLAS kernels in use (tests/run.sh reads it)
        printf("%s\n", openblas_get_corename());
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("t2 %s (git %s)\n", t2_version(), t2_git_sha());
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0) {
            args_about = commands[i].help;
            int status = commands[i].fn(argc - 2, argv + 2);
            // Every command's output: a full disk or a closed pipe is an error, not a silent success.
            if (status == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
                fprintf(stderr, "t2: %s: stdout: write error\n", name);
                return 1;
            }
            return status;
        }
    fprintf(stderr, "t2: unknown command '%s' (t2 --help lists them)\n", name);
    return 2;
}
