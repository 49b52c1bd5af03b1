// spec.h — the experiment file (docs/SPEC.md §3): parsed with cJSON, validated in full before anything
// runs, and expanded into the grid of runs (family × budgets × seeds).
#ifndef T2_SPEC_H
#define T2_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "tasks/tasks.h"

typedef enum { SCHED_COSINE, SCHED_CONSTANT, SCHED_WSD } Schedule;
typedef enum { BUDGET_FLOPS, BUDGET_TOKENS_PER_PARAM, BUDGET_TOKENS } BudgetKind;

typedef struct {
    int seq_len;
    int batch_size;
    double lr;
    double min_lr_ratio;   // cosine / wsd decay to lr·min_lr_ratio (default 0: to zero, as T²)
    double warmup;         // < 1: fraction of the run's steps; ≥ 1: steps
    Schedule schedule;
    double decay_frac;     // wsd: final fraction of steps that decays (default 0.2)
    double weight_decay;
    double beta1, beta2, eps;
    double grad_clip;      // ≤ 0 disables clipping
    int n_seeds;
    long seeds[16];
    int log_every;         // steps between train_log rows (default: ~200 rows per run)
    int ckpt_every;        // steps between checkpoints (0: by ckpt_seconds)
    double ckpt_seconds;   // default 60
    int val_batches;       // validation batches for val_loss at the end (default 4)
} TrainSpec;

typedef struct {
    long n_samples;
    int n_k;
    long k[32];
    int n_temperature;
    double temperature[8];
    double top_p;
    int max_new_tokens;
    int batch_problems;    // problems scored together in the gold pass (default 16)
} EvalSpec;

typedef struct {
    int n_c_inf;
    double c_inf[16];
    int n_c_train;
    double c_train[16];    // budgets for `t2 optimize` tables and plots (default: the sweep's)
} AnalysisSpec;

typedef struct {
    BudgetKind kind;
    int n;
    double values[64];
} BudgetSpec;

// One run: a (model, budget, seed) cell of the grid, in `--dry-run` order (family outer, then
// budgets, then seeds). run_id is the index.
typedef struct {
    int run_id;
    int family_idx, budget_idx, seed_idx;
    ModelConfig model;
    long seed;
    double budget;          // the budget value as written (FLOPs, tokens/param or tokens)
    long steps;
    long train_tokens;      // steps · batch · seq_len
    size_t n_params, n_params_nonembed;
    double train_flops;     // exact: steps · train_step_flops
    double train_flops_6nd; // 6 · N · D
} RunSpec;

typedef struct Spec {
    char name[128];
    char *json;             // canonical JSON of the whole spec (what config_hash is computed on)
    char hash[17];          // FNV-1a 64 of json
    char *path;             // where it was read from
    TaskConfig task;
    int n_family;
    ModelConfig family[32];
    BudgetSpec budgets;
    TrainSpec train;
    EvalSpec eval;
    AnalysisSpec analysis;
    int n_runs;
    RunSpec *runs;
} Spec;

// Read, parse and validate an experiment file; expands the grid. -1 + err_set naming the file
// and the key path ("demo.json: family[2].n_head: must divide d_model 100") or line:column.
// On failure *s holds nothing to free. A string holding a NUL character is refused. spec_load
// reads a relative task.path from the spec file's directory (and stores it absolute); spec_parse
// takes TEXT as it is (PATH only names it in messages).
int spec_load(Spec *s, const char *path);
int spec_parse(Spec *s, const char *text, const char *path);
void spec_free(Spec *s);

// A model config as JSON: a family entry, or with derived = 1 also vocab_size and seq_len (a
// run's model, the `config` of an export). Numbers are written exactly.
struct cJSON;
struct cJSON *model_config_cjson(const ModelConfig *c, int derived);

// Canonical JSON of one run: the model, training settings, task, seed and budget; its hash is
// the run's config_hash. Caller frees.
char *run_config_json(const Spec *s, const RunSpec *r);

// Does the spec's task have evaluation problems (every task but `text`)?
int spec_has_eval(const Spec *s);

// Learning rate at step (0-based) of a run with total_steps, per the schedule.
double lr_at(const TrainSpec *t, long step, long total_steps);
long warmup_steps(const TrainSpec *t, long total_steps);

#endif
