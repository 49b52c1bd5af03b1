// spec.h — the experiment file (docs/SPEC.md §3): parsed with cJSON, validated in full before anything
// runs, and expanded into the grid of runs (family × budgets × seeds).
#ifndef T2_SPEC_H
#define T2_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "nn/trainer.h"
#include "tasks/tasks.h"

// The longest lists an experiment file may hold (docs/SPEC.md §3); arrays sized by them hold a
// list of the spec, or a list made from one (analysis budgets, evals to claim).
enum {
    SPEC_MAX_FAMILY = 32,             // family
    SPEC_MAX_BUDGETS = 64,            // budgets.train_flops / tokens_per_param / tokens
    SPEC_MAX_SEEDS = TRAIN_MAX_SEEDS, // train.seeds (TrainSpec is nn/trainer.h's)
    SPEC_MAX_K = 32,                  // eval.k
    SPEC_MAX_TEMPERATURES = 8,        // eval.temperature
    SPEC_MAX_C_INF = 16,              // analysis.c_inf
    SPEC_MAX_C_TRAIN = 16,            // analysis.c_train
};

typedef enum { BUDGET_FLOPS, BUDGET_TOKENS_PER_PARAM, BUDGET_TOKENS } BudgetKind;

// TrainSpec, the "train" object, and its learning-rate schedule are nn/trainer.h's: the trainer,
// a layer below, reads them.

typedef struct {
    long n_samples;
    int n_k;
    long k[SPEC_MAX_K];
    int n_temperature;
    double temperature[SPEC_MAX_TEMPERATURES];
    double top_p;
    int max_new_tokens;
    int batch_problems;    // problems scored together in the gold pass (default 16)
} EvalSpec;

typedef struct {
    int n_c_inf;
    double c_inf[SPEC_MAX_C_INF];
    int n_c_train;
    double c_train[SPEC_MAX_C_TRAIN]; // budgets for `t2 optimize` tables and plots (default: the sweep's)
    long k_max;            // t2-loss is fitted at k = 1, 2, 4, ... up to k_max (default 1024)
    char loss[8];          // loss variable of the loss laws and the Chinchilla pick: "answer" (default)
                           // or "val" (runs.answer_loss or runs.val_loss)
} AnalysisSpec;

#define SPEC_K_MAX_DEFAULT 1024

typedef struct {
    BudgetKind kind;
    int n;
    double values[SPEC_MAX_BUDGETS];
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
    double lr;              // peak learning rate of the run: its model's (Spec.model_lr)
    double grad_clip;       // gradient-norm clip of the run: its model's (Spec.model_clip); 0: none
} RunSpec;

// How train.lr scales with the model's width when a family member gives no lr of its own:
// constant (every size train.lr), inverse_width (train.lr · ref/d_model, the μP rule for Adam's
// hidden matrices), inverse_sqrt_width (train.lr · sqrt(ref/d_model)); ref = train.lr_ref_width.
typedef enum { LR_RULE_CONSTANT, LR_RULE_INVERSE_WIDTH, LR_RULE_INVERSE_SQRT_WIDTH, LR_RULE_COUNT } LrRule;
const char *lr_rule_name(LrRule r);
// The peak learning rate train.lr scaled by RULE from width REF to width D.
double lr_rule_apply(LrRule rule, double lr, int ref, int d);

typedef struct Spec {
    char name[128];
    char *json;             // canonical JSON of the whole spec (what config_hash is computed on)
    char hash[17];          // FNV-1a 64 of json
    char *path;             // where it was read from
    TaskConfig task;
    int n_family;
    ModelConfig family[SPEC_MAX_FAMILY];
    double family_lr[SPEC_MAX_FAMILY]; // family[i].lr as written; 0 when not given
    double model_lr[SPEC_MAX_FAMILY];  // the peak learning rate of each model: family[i].lr, else
                                       // train.lr scaled by the rule
    double family_clip[SPEC_MAX_FAMILY]; // family[i].grad_clip as written; -1 when not given
    double model_clip[SPEC_MAX_FAMILY];  // the gradient-norm clip of each model: family[i].grad_clip,
                                         // else train.grad_clip (0: no clipping)
    LrRule lr_rule;                    // train.lr_rule
    int lr_ref_width;                  // train.lr_ref_width (default: the smallest d_model)
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

// Canonical JSON of one run: the model, training settings, task, seed and budget; its hash is
// the run's config_hash. Caller frees.
char *run_config_json(const Spec *s, const RunSpec *r);

// Can this machine train the spec's runs (train.precision bf16 needs AVX512-BF16)? 0, or -1 +
// err_set naming the file, the key and the missing CPU feature.
int spec_check_machine(const Spec *s);

// Does the spec's task have evaluation problems (every task but `text`)?
int spec_has_eval(const Spec *s);

#endif
