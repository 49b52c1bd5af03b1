// spec.c — parse and validate the experiment file, expand the grid of runs.
//
// Every key is checked: unknown keys, duplicates, wrong types and out-of-range values are
// errors naming the key path ("family[2].n_head"); syntax errors name line and column.
#include "spec/spec.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/json.h"

// ---------------------------------------------------------------------------------------------
// Key checking helpers. Each returns 0, or -1 after err_set("PATH.KEY: ...").

static int check_keys(const cJSON *obj, const char *path, const char *const *known, int n_known) {
    if (!cJSON_IsObject(obj)) {
        if (*path)
            err_set("%s: must be an object", path);
        else
            err_set("the experiment must be a JSON object");
        return -1;
    }
    for (const cJSON *it = obj->child; it; it = it->next) {
        int ok = 0;
        for (int i = 0; i < n_known; i++) ok |= strcmp(it->string, known[i]) == 0;
        if (!ok) {
            char list[512] = "";
            for (int i = 0; i < n_known; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", known[i]);
            err_set("%s%s%s: unknown key (known: %s)", path, *path ? "." : "", it->string, list);
            return -1;
        }
        for (const cJSON *jt = obj->child; jt != it; jt = jt->next)
            if (strcmp(jt->string, it->string) == 0) {
                err_set("%s%s%s: duplicate key", path, *path ? "." : "", it->string);
                return -1;
            }
    }
    return 0;
}

static const cJSON *item(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

// Integer in [lo, hi]; absent → def (or an error when required).
static int get_int(const cJSON *obj, const char *path, const char *key, long lo, long hi, long def, int required,
                   long *out) {
    const cJSON *v = item(obj, key);
    if (!v) {
        if (required) {
            err_set("%s.%s: missing (an integer in [%ld, %ld])", path, key, lo, hi);
            return -1;
        }
        *out = def;
        return 0;
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || fabs(d) > 9e15) {
        err_set("%s.%s: must be an integer in [%ld, %ld]", path, key, lo, hi);
        return -1;
    }
    if (d < (double)lo || d > (double)hi) {
        err_set("%s.%s: must be an integer in [%ld, %ld], got %.0f", path, key, lo, hi, d);
        return -1;
    }
    *out = (long)d;
    return 0;
}

// Number in [lo, hi] (lo_open / hi_open make the ends exclusive).
static int check_number(const cJSON *v, const char *name, double lo, double hi, int lo_open, double *out) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        err_set("%s: must be a number", name);
        return -1;
    }
    double d = v->valuedouble;
    if ((lo_open ? d <= lo : d < lo) || d > hi) {
        err_set("%s: must be in %s%g, %g], got %g", name, lo_open ? "(" : "[", lo, hi, d);
        return -1;
    }
    *out = d;
    return 0;
}

static int get_num(const cJSON *obj, const char *path, const char *key, double lo, double hi, int lo_open,
                   double def, double *out) {
    const cJSON *v = item(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char name[256];
    snprintf(name, sizeof name, "%s.%s", path, key);
    return check_number(v, name, lo, hi, lo_open, out);
}

// Array of numbers, 1..max entries, each in (lo, hi] or [lo, hi].
static int get_num_array(const cJSON *obj, const char *path, const char *key, int max, double lo, double hi,
                         int lo_open, double *out, int *n) {
    const cJSON *arr = item(obj, key);
    char name[256];
    snprintf(name, sizeof name, "%s.%s", path, key);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1) {
        err_set("%s: must be a non-empty array of numbers", name);
        return -1;
    }
    if (cJSON_GetArraySize(arr) > max) {
        err_set("%s: at most %d values, got %d", name, max, cJSON_GetArraySize(arr));
        return -1;
    }
    int i = 0;
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        char el[300];
        snprintf(el, sizeof el, "%s[%d]", name, i);
        if (check_number(v, el, lo, hi, lo_open, &out[i]) != 0) return -1;
    }
    *n = i;
    return 0;
}

static int get_bool(const cJSON *obj, const char *path, const char *key, int def, int *out) {
    const cJSON *v = item(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        err_set("%s.%s: must be true or false", path, key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

// ---------------------------------------------------------------------------------------------
static int parse_name(Spec *s, const cJSON *root) {
    const cJSON *v = item(root, "name");
    if (!cJSON_IsString(v)) {
        err_set("name: missing or not a string (it names results/NAME.db)");
        return -1;
    }
    size_t n = strlen(v->valuestring);
    if (n < 1 || n >= sizeof s->name) {
        err_set("name: must be 1..%zu characters", sizeof s->name - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = v->valuestring[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              (c == '.' && i > 0))) {
            err_set("name: '%s' may hold only letters, digits, '_', '-' and '.' (it is used in file names)",
                    v->valuestring);
            return -1;
        }
    }
    memcpy(s->name, v->valuestring, n + 1);
    return 0;
}

static int parse_family(Spec *s, const cJSON *root, int vocab, int seq_len) {
    static const char *const keys[] = {"n_layer", "d_model", "n_head", "d_ff", "tied", "rope_theta", "norm_eps", "lr", "grad_clip"};
    const cJSON *arr = item(root, "family");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1) {
        err_set("family: must be a non-empty array of models");
        return -1;
    }
    if (cJSON_GetArraySize(arr) > (int)ARRAY_LEN(s->family)) {
        err_set("family: at most %zu models, got %d", ARRAY_LEN(s->family), cJSON_GetArraySize(arr));
        return -1;
    }
    int i = 0;
    for (const cJSON *f = arr->child; f; f = f->next, i++) {
        char path[32];
        snprintf(path, sizeof path, "family[%d]", i);
        if (check_keys(f, path, keys, ARRAY_LEN(keys)) != 0) return -1;
        long L, C, H, Fh;
        double theta, eps;
        int tied;
        if (get_int(f, path, "n_layer", 1, 256, 0, 1, &L) || get_int(f, path, "d_model", 2, 65536, 0, 1, &C) ||
            get_int(f, path, "n_head", 1, 65536, 0, 1, &H) || get_int(f, path, "d_ff", 1, 1 << 20, 0, 0, &Fh) ||
            get_bool(f, path, "tied", 0, &tied) || get_num(f, path, "rope_theta", 1, 1e9, 1, 10000, &theta) ||
            get_num(f, path, "norm_eps", 0, 0.1, 1, 1e-5, &eps) || get_num(f, path, "lr", 0, 10, 1, 0, &s->family_lr[i]) ||
            get_num(f, path, "grad_clip", 0, 1e9, 0, -1, &s->family_clip[i]))
            return -1;
        ModelConfig *c = &s->family[i];
        *c = (ModelConfig){(int)L, (int)C, (int)H, (int)Fh, vocab, seq_len, tied, (float)theta, (float)eps};
        model_config_defaults(c);
        if (model_config_validate(c) != 0) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", err_msg());
            err_set("%s.%s", path, msg);
            return -1;
        }
    }
    s->n_family = i;
    return 0;
}

static int parse_budgets(Spec *s, const cJSON *root) {
    static const char *const keys[] = {"train_flops", "tokens_per_param", "tokens"};
    const cJSON *b = item(root, "budgets");
    if (!b) {
        err_set("budgets: missing (one of train_flops, tokens_per_param, tokens)");
        return -1;
    }
    if (check_keys(b, "budgets", keys, ARRAY_LEN(keys)) != 0) return -1;
    if (cJSON_GetArraySize(b) != 1) {
        err_set("budgets: give exactly one of train_flops, tokens_per_param, tokens");
        return -1;
    }
    const char *key = b->child->string;
    s->budgets.kind = strcmp(key, "train_flops") == 0  ? BUDGET_FLOPS
                      : strcmp(key, "tokens") == 0     ? BUDGET_TOKENS
                                                       : BUDGET_TOKENS_PER_PARAM;
    return get_num_array(b, "budgets", key, (int)ARRAY_LEN(s->budgets.values), 0, 1e30, 1, s->budgets.values,
                         &s->budgets.n);
}

const char *lr_rule_name(LrRule r) {
    static const char *const names[LR_RULE_COUNT] = {"constant", "inverse_width", "inverse_sqrt_width"};
    return r >= 0 && r < LR_RULE_COUNT ? names[r] : "?";
}

double lr_rule_apply(LrRule rule, double lr, int ref, int d) {
    switch (rule) {
    case LR_RULE_INVERSE_WIDTH: return lr * (double)ref / (double)d;
    case LR_RULE_INVERSE_SQRT_WIDTH: return lr * sqrt((double)ref / (double)d);
    default: return lr;
    }
}

static int parse_lr_rule(Spec *s, const cJSON *tr) {
    const cJSON *v = item(tr, "lr_rule");
    s->lr_rule = LR_RULE_CONSTANT;
    if (!v) return 0;
    for (int r = 0; cJSON_IsString(v) && r < LR_RULE_COUNT; r++)
        if (strcmp(v->valuestring, lr_rule_name((LrRule)r)) == 0) return (s->lr_rule = (LrRule)r), 0;
    if (cJSON_IsString(v))
        err_set("train.lr_rule: unknown rule \"%s\" (known: constant, inverse_width, inverse_sqrt_width)", v->valuestring);
    else
        err_set("train.lr_rule: must be a string: constant, inverse_width or inverse_sqrt_width");
    return -1;
}

// Every model's peak learning rate: its own family[i].lr, else train.lr scaled by the rule from
// train.lr_ref_width (default: the smallest d_model of the family); and its gradient-norm clip:
// its own family[i].grad_clip, else train.grad_clip.
static int resolve_per_size(Spec *s, const cJSON *root) {
    const cJSON *tr = item(root, "train");
    long ref = 0;
    int smallest = s->family[0].d_model;
    for (int i = 1; i < s->n_family; i++) smallest = MIN(smallest, s->family[i].d_model);
    if (get_int(tr, "train", "lr_ref_width", 1, 65536, smallest, 0, &ref) != 0) return -1;
    s->lr_ref_width = (int)ref;
    for (int i = 0; i < s->n_family; i++)
        s->model_lr[i] = s->family_lr[i] > 0 ? s->family_lr[i]
                                             : lr_rule_apply(s->lr_rule, s->train.lr, s->lr_ref_width,
                                                             s->family[i].d_model);
    for (int i = 0; i < s->n_family; i++)
        s->model_clip[i] = s->family_clip[i] >= 0 ? s->family_clip[i] : s->train.grad_clip;
    return 0;
}

static int parse_schedule(const cJSON *tr, Schedule *out) {
    const cJSON *v = item(tr, "schedule");
    *out = SCHED_COSINE;
    if (!v) return 0;
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "cosine") == 0) return 0;
        if (strcmp(v->valuestring, "constant") == 0) return (*out = SCHED_CONSTANT), 0;
        if (strcmp(v->valuestring, "wsd") == 0) return (*out = SCHED_WSD), 0;
    }
    err_set("train.schedule: must be \"cosine\", \"constant\" or \"wsd\"");
    return -1;
}

static int parse_precision(const cJSON *tr, Precision *out) {
    const cJSON *v = item(tr, "precision");
    *out = PRECISION_FLOAT32;
    if (!v) return 0;
    if (cJSON_IsString(v) && precision_parse(v->valuestring, out) == 0) return 0;
    err_set("train.precision: must be \"float32\" or \"bf16\"");
    return -1;
}

static int parse_train(Spec *s, const cJSON *root) {
    static const char *const keys[] = {"seq_len",      "batch_size", "lr",           "min_lr_ratio", "warmup",
                                       "schedule",     "decay_frac", "weight_decay", "beta1",        "beta2",
                                       "eps",          "grad_clip",  "seeds",        "log_every",    "ckpt_every",
                                       "ckpt_seconds", "val_batches", "precision",   "lr_rule",      "lr_ref_width"};
    static const cJSON empty = {.type = cJSON_Object};
    const cJSON *tr = item(root, "train");
    if (!tr) tr = &empty;
    if (check_keys(tr, "train", keys, ARRAY_LEN(keys)) != 0) return -1;
    TrainSpec *t = &s->train;
    long seq, batch, log_every, ckpt_every, val_batches;
    if (get_int(tr, "train", "seq_len", 2, 65536, 64, 0, &seq) ||
        get_int(tr, "train", "batch_size", 1, 1 << 20, 32, 0, &batch) ||
        get_num(tr, "train", "lr", 0, 10, 1, 3e-3, &t->lr) ||
        get_num(tr, "train", "min_lr_ratio", 0, 1, 0, 0, &t->min_lr_ratio) ||
        get_num(tr, "train", "warmup", 0, 1e12, 0, 0.05, &t->warmup) || parse_schedule(tr, &t->schedule) ||
        get_num(tr, "train", "decay_frac", 0, 1, 1, 0.2, &t->decay_frac) ||
        get_num(tr, "train", "weight_decay", 0, 10, 0, 0.1, &t->weight_decay) ||
        get_num(tr, "train", "beta1", 0, 0.999999, 0, 0.9, &t->beta1) ||
        get_num(tr, "train", "beta2", 0, 0.999999, 0, 0.95, &t->beta2) ||
        get_num(tr, "train", "eps", 0, 1, 1, 1e-8, &t->eps) ||
        get_num(tr, "train", "grad_clip", 0, 1e9, 0, 1.0, &t->grad_clip) ||
        get_int(tr, "train", "log_every", 0, 1 << 30, 0, 0, &log_every) ||
        get_int(tr, "train", "ckpt_every", 0, 1L << 40, 0, 0, &ckpt_every) ||
        get_num(tr, "train", "ckpt_seconds", 0, 1e9, 1, 60, &t->ckpt_seconds) ||
        get_int(tr, "train", "val_batches", 0, 10000, 4, 0, &val_batches) || parse_precision(tr, &t->precision) ||
        parse_lr_rule(s, tr))
        return -1;
    t->seq_len = (int)seq;
    t->batch_size = (int)batch;
    t->log_every = (int)log_every;
    t->ckpt_every = (int)ckpt_every;
    t->val_batches = (int)val_batches;
    if (item(tr, "seeds")) {
        double seeds[SPEC_MAX_SEEDS];
        if (get_num_array(tr, "train", "seeds", SPEC_MAX_SEEDS, 0, 9e15, 0, seeds, &t->n_seeds) != 0) return -1;
        for (int i = 0; i < t->n_seeds; i++) {
            if (seeds[i] != floor(seeds[i])) {
                err_set("train.seeds[%d]: must be a non-negative integer", i);
                return -1;
            }
            t->seeds[i] = (long)seeds[i];
            for (int j = 0; j < i; j++)
                if (t->seeds[j] == t->seeds[i]) {
                    err_set("train.seeds[%d]: duplicate seed %ld", i, t->seeds[i]);
                    return -1;
                }
        }
    } else {
        t->n_seeds = 1;
        t->seeds[0] = 1;
    }
    return 0;
}

static int parse_eval(Spec *s, const cJSON *root, const Task *task, int max_prompt_tokens) {
    static const char *const keys[] = {"n_samples", "k", "temperature", "top_p", "max_new_tokens", "batch_problems"};
    static const cJSON empty = {.type = cJSON_Object};
    const cJSON *ev = item(root, "eval");
    EvalSpec *e = &s->eval;
    if (ev && task_n_eval(task) == 0) {
        err_set("eval: task '%s' has no evaluation problems (it is loss only); remove \"eval\"", s->task.name);
        return -1;
    }
    if (!ev) ev = &empty;
    if (check_keys(ev, "eval", keys, ARRAY_LEN(keys)) != 0) return -1;
    long n, max_new, batch_problems;
    int answer_tokens = task_max_answer_tokens(task);
    int room = s->train.seq_len - max_prompt_tokens;
    long def_new = MIN((long)room, (long)answer_tokens + 8);
    if (get_int(ev, "eval", "n_samples", 1, 4096, 64, 0, &n) ||
        get_num(ev, "eval", "top_p", 0, 1, 1, 1.0, &e->top_p) ||
        get_int(ev, "eval", "max_new_tokens", 1, 65536, def_new, 0, &max_new) ||
        get_int(ev, "eval", "batch_problems", 1, 4096, 16, 0, &batch_problems))
        return -1;
    e->n_samples = n;
    e->max_new_tokens = (int)max_new;
    e->batch_problems = (int)batch_problems;
    if (task_n_eval(task) > 0 && max_new < answer_tokens) {
        err_set("eval.max_new_tokens: %ld is shorter than the longest answer (%d tokens with EOS)", max_new,
                answer_tokens);
        return -1;
    }
    if (task_n_eval(task) > 0 && max_prompt_tokens + max_new > s->train.seq_len) {
        err_set("eval.max_new_tokens: a prompt (up to %d tokens with BOS) plus %ld new tokens exceeds train.seq_len %d",
                max_prompt_tokens, max_new, s->train.seq_len);
        return -1;
    }
    if (item(ev, "k")) {
        double k[SPEC_MAX_K];
        if (get_num_array(ev, "eval", "k", SPEC_MAX_K, 1, 1e9, 0, k, &e->n_k) != 0) return -1;
        for (int i = 0; i < e->n_k; i++) {
            if (k[i] != floor(k[i])) {
                err_set("eval.k[%d]: must be an integer", i);
                return -1;
            }
            if (k[i] > (double)n) {
                err_set("eval.k[%d]: %.0f exceeds eval.n_samples %ld (pass@k needs k <= n)", i, k[i], n);
                return -1;
            }
            e->k[i] = (long)k[i];
            if (i > 0 && e->k[i] <= e->k[i - 1]) {
                err_set("eval.k[%d]: values must increase", i);
                return -1;
            }
        }
    } else {
        e->n_k = 0;
        for (long k = 1; k <= n && e->n_k < SPEC_MAX_K; k *= 2) e->k[e->n_k++] = k;
        if (e->k[e->n_k - 1] != n && e->n_k < SPEC_MAX_K) e->k[e->n_k++] = n;
    }
    if (item(ev, "temperature")) {
        if (get_num_array(ev, "eval", "temperature", SPEC_MAX_TEMPERATURES, 0, 100, 1, e->temperature,
                          &e->n_temperature) != 0)
            return -1;
    } else {
        e->n_temperature = 1;
        e->temperature[0] = 1.0;
    }
    return 0;
}

static int parse_analysis(Spec *s, const cJSON *root) {
    static const char *const keys[] = {"c_inf", "c_train", "k_max", "loss"};
    AnalysisSpec *a = &s->analysis;
    a->k_max = SPEC_K_MAX_DEFAULT;
    strcpy(a->loss, "answer");
    const cJSON *an = item(root, "analysis");
    if (!an) return 0;
    if (check_keys(an, "analysis", keys, ARRAY_LEN(keys)) != 0) return -1;
    if (get_int(an, "analysis", "k_max", 1, 1L << 30, SPEC_K_MAX_DEFAULT, 0, &a->k_max) != 0) return -1;
    const cJSON *loss = item(an, "loss");
    if (loss) {
        if (!cJSON_IsString(loss) || (strcmp(loss->valuestring, "answer") != 0 && strcmp(loss->valuestring, "val") != 0)) {
            err_set("analysis.loss: must be \"answer\" (runs.answer_loss) or \"val\" (runs.val_loss)");
            return -1;
        }
        strcpy(a->loss, loss->valuestring);
    }
    if (item(an, "c_inf") &&
        get_num_array(an, "analysis", "c_inf", SPEC_MAX_C_INF, 0, 1e40, 1, a->c_inf, &a->n_c_inf) != 0)
        return -1;
    if (item(an, "c_train") &&
        get_num_array(an, "analysis", "c_train", SPEC_MAX_C_TRAIN, 0, 1e40, 1, a->c_train, &a->n_c_train) != 0)
        return -1;
    return 0;
}

// ---------------------------------------------------------------------------------------------
static double physical_memory_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0.0;
}

// Memory for training one model with every core as a worker: parameters, one gradient buffer per
// worker, two Adam moments, activations.
static double training_bytes(const ModelConfig *c, int B, int T, int workers) {
    double n = (double)count_params(c) * sizeof(float);
    return 3 * n + workers * n + (double)acts_bytes(c, (size_t)B, T);
}

static int check_memory(const Spec *s) {
    double have = physical_memory_bytes();
    int workers = MIN(cpu_count(), s->train.batch_size);
    for (int i = 0; i < s->n_family; i++) {
        double need = training_bytes(&s->family[i], s->train.batch_size, s->train.seq_len, workers);
        if (have > 0 && need > 0.8 * have) {
            err_set("family[%d]: training needs %.1f GiB at batch_size %d, seq_len %d; this machine has %.1f GiB", i,
                    need / (1 << 30), s->train.batch_size, s->train.seq_len, have / (1 << 30));
            return -1;
        }
    }
    return 0;
}

static int expand_grid(Spec *s) {
    const TrainSpec *t = &s->train;
    double tokens_per_step = (double)t->batch_size * t->seq_len;
    s->n_runs = s->n_family * s->budgets.n * t->n_seeds;
    s->runs = xcalloc((size_t)s->n_runs, sizeof(RunSpec));
    int id = 0;
    for (int f = 0; f < s->n_family; f++)
        for (int b = 0; b < s->budgets.n; b++)
            for (int k = 0; k < t->n_seeds; k++, id++) {
                RunSpec *r = &s->runs[id];
                const ModelConfig *c = &s->family[f];
                double N = (double)count_params(c), budget = s->budgets.values[b], tokens;
                tokens = s->budgets.kind == BUDGET_FLOPS             ? budget / (6.0 * N)
                         : s->budgets.kind == BUDGET_TOKENS_PER_PARAM ? budget * N
                                                                      : budget;
                double steps = round(tokens / tokens_per_step);
                static const char *const names[] = {"train_flops", "tokens_per_param", "tokens"};
                if (steps < 1) {
                    err_set("budgets.%s[%d]: %g gives %.3g tokens for family[%d] (N = %.0f), less than one step of "
                            "%.0f tokens",
                            names[s->budgets.kind], b, budget, tokens, f, N, tokens_per_step);
                    return -1;
                }
                if (steps > 1e12) {
                    err_set("budgets.%s[%d]: %g gives %.3g steps for family[%d]: too many", names[s->budgets.kind], b,
                            budget, steps, f);
                    return -1;
                }
                *r = (RunSpec){.run_id = id, .family_idx = f, .budget_idx = b, .seed_idx = k, .model = *c,
                               .seed = t->seeds[k], .budget = budget, .steps = (long)steps};
                r->train_tokens = r->steps * (long)tokens_per_step;
                r->n_params = count_params(c);
                r->n_params_nonembed = count_params_nonembed(c);
                r->train_flops = (double)r->steps * train_step_flops(c, t->batch_size, t->seq_len);
                r->train_flops_6nd = 6.0 * N * (double)r->train_tokens;
                r->lr = s->model_lr[f];
                r->grad_clip = s->model_clip[f];
            }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON: the parsed spec with every default filled in, keys in a fixed order, numbers
// written exactly (util/json.h).

static const char *schedule_name(Schedule s) {
    return s == SCHED_COSINE ? "cosine" : s == SCHED_CONSTANT ? "constant" : "wsd";
}

// with_seeds: the spec's train object (seeds, logging, the learning-rate rule); else a run's
// (T's lr is then the run's own).
static cJSON *train_json(const Spec *s, const TrainSpec *t, int with_seeds) {
    cJSON *o = cJSON_CreateObject();
    json_add_num(o, "seq_len", t->seq_len);
    json_add_num(o, "batch_size", t->batch_size);
    json_add_num(o, "lr", t->lr);
    json_add_num(o, "min_lr_ratio", t->min_lr_ratio);
    json_add_num(o, "warmup", t->warmup);
    cJSON_AddStringToObject(o, "schedule", schedule_name(t->schedule));
    json_add_num(o, "decay_frac", t->decay_frac);
    json_add_num(o, "weight_decay", t->weight_decay);
    json_add_num(o, "beta1", t->beta1);
    json_add_num(o, "beta2", t->beta2);
    json_add_num(o, "eps", t->eps);
    json_add_num(o, "grad_clip", t->grad_clip);
    // Written only when not the default, so that float32 runs keep the config hashes (and
    // checkpoints) they had before precision existed.
    if (t->precision != PRECISION_FLOAT32) cJSON_AddStringToObject(o, "precision", precision_name(t->precision));
    if (with_seeds) {
        json_add_longs(o, "seeds", t->seeds, t->n_seeds);
        // How the run is logged and checkpointed: part of the spec, not of a run's result.
        json_add_num(o, "log_every", t->log_every);
        json_add_num(o, "ckpt_every", t->ckpt_every);
        json_add_num(o, "ckpt_seconds", t->ckpt_seconds);
        json_add_num(o, "val_batches", t->val_batches);
        cJSON_AddStringToObject(o, "lr_rule", lr_rule_name(s->lr_rule));
        json_add_num(o, "lr_ref_width", s->lr_ref_width);
    }
    return o;
}

static cJSON *task_json(const TaskConfig *tc) {
    char *text = task_config_json(tc);
    cJSON *o = cJSON_Parse(text);
    free(text);
    return o;
}

static char *spec_json(const Spec *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", s->name);
    cJSON_AddItemToObject(o, "task", task_json(&s->task));
    cJSON *fam = cJSON_AddArrayToObject(o, "family");
    for (int i = 0; i < s->n_family; i++) {
        cJSON *m = model_config_cjson(&s->family[i], 0);
        if (s->family_lr[i] > 0) json_add_num(m, "lr", s->family_lr[i]);
        if (s->family_clip[i] >= 0) json_add_num(m, "grad_clip", s->family_clip[i]);
        cJSON_AddItemToArray(fam, m);
    }
    static const char *const names[] = {"train_flops", "tokens_per_param", "tokens"};
    cJSON *b = cJSON_AddObjectToObject(o, "budgets");
    json_add_doubles(b, names[s->budgets.kind], s->budgets.values, s->budgets.n);
    cJSON_AddItemToObject(o, "train", train_json(s, &s->train, 1));
    if (spec_has_eval(s)) {
        cJSON *e = cJSON_AddObjectToObject(o, "eval");
        json_add_num(e, "n_samples", (double)s->eval.n_samples);
        json_add_longs(e, "k", s->eval.k, s->eval.n_k);
        json_add_doubles(e, "temperature", s->eval.temperature, s->eval.n_temperature);
        json_add_num(e, "top_p", s->eval.top_p);
        json_add_num(e, "max_new_tokens", s->eval.max_new_tokens);
        json_add_num(e, "batch_problems", s->eval.batch_problems);
    }
    cJSON *a = cJSON_AddObjectToObject(o, "analysis");
    if (s->analysis.n_c_inf) json_add_doubles(a, "c_inf", s->analysis.c_inf, s->analysis.n_c_inf);
    if (s->analysis.n_c_train) json_add_doubles(a, "c_train", s->analysis.c_train, s->analysis.n_c_train);
    // Only when not the default: the canonical text (and with it the hash of a sweep recorded
    // before the key existed) stays the same.
    if (s->analysis.k_max != SPEC_K_MAX_DEFAULT) json_add_num(a, "k_max", (double)s->analysis.k_max);
    cJSON_AddStringToObject(a, "loss", s->analysis.loss);
    return json_text_free(o);
}

char *run_config_json(const Spec *s, const RunSpec *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "sweep", s->name);
    json_add_num(o, "run_id", r->run_id);
    cJSON_AddItemToObject(o, "model", model_config_cjson(&r->model, 1));
    cJSON_AddItemToObject(o, "task", task_json(&s->task));
    TrainSpec ts = s->train;
    ts.lr = r->lr;               // the run's own peak learning rate (family[i].lr or the rule's)
    ts.grad_clip = r->grad_clip; // and clip (family[i].grad_clip or train.grad_clip): a run whose
                                 // model takes train.grad_clip keeps the config and hash it had
    cJSON_AddItemToObject(o, "train", train_json(s, &ts, 0));
    json_add_num(o, "seed", (double)r->seed);
    json_add_num(o, "steps", (double)r->steps);
    // How rows are built (tasks.h): whole examples, positions and attention within each. Runs
    // trained on rows that cut examples (t2 before this key) have another config and hash.
    // (text rows are windows of the file, as before.)
    if (spec_has_eval(s)) cJSON_AddStringToObject(o, "rows", "whole_examples");
    return json_text_free(o);
}

// ---------------------------------------------------------------------------------------------
static void line_col(const char *text, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

// Paths in an experiment file are read from the file's own directory, as a researcher expects who
// keeps a spec beside its data: a relative task.path is made absolute from BASE_DIR, so that the
// spec stored with the database (and a checkpoint's run config) finds the file from anywhere.
static void resolve_task_path(cJSON *root, const char *base_dir) {
    cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task");
    cJSON *path = cJSON_IsObject(task) ? cJSON_GetObjectItemCaseSensitive(task, "path") : NULL;
    if (!base_dir || !cJSON_IsString(path) || !path->valuestring[0] || path->valuestring[0] == '/') return;
    char *joined = path_join(base_dir, path->valuestring), *abs = path_absolute(joined);
    cJSON_SetValuestring(path, abs);
    free(joined);
    free(abs);
}

static int spec_parse_root(Spec *s, const cJSON *root) {
    static const char *const keys[] = {"name", "task", "family", "budgets", "train", "eval", "analysis"};
    if (check_keys(root, "", keys, ARRAY_LEN(keys)) != 0) return -1;
    if (parse_name(s, root) != 0) return -1;
    const cJSON *task = item(root, "task");
    if (!task) {
        err_set("task: missing (e.g. {\"name\": \"add\", \"digits\": 3})");
        return -1;
    }
    if (task_config_parse(&s->task, task, "task") != 0) return -1;
    if (parse_train(s, root) != 0) return -1;
    Task *t = task_create(&s->task);
    if (!t) {
        err_prefix("task");
        return -1;
    }
    int max_prompt = task_max_prompt_tokens(t);
    int rc = task_check_seq_len(t, s->train.seq_len, "train.seq_len");
    if (rc == 0) rc = parse_family(s, root, task_vocab_size(t), s->train.seq_len);
    if (rc == 0) rc = resolve_per_size(s, root);
    if (rc == 0) rc = parse_budgets(s, root);
    if (rc == 0) rc = parse_eval(s, root, t, max_prompt);
    task_free(t);
    if (rc == 0) rc = parse_analysis(s, root);
    if (rc == 0) rc = check_memory(s);
    if (rc == 0) rc = expand_grid(s);
    return rc;
}

// A \u0000 escape inside a JSON string: cJSON would decode it into a NUL byte and every C string
// after it would silently end there ("ti\u0000ny" read as "ti"). NULL when there is none.
static const char *nul_escape(const char *text) {
    int in_string = 0;
    for (const char *p = text; *p; p++) {
        if (!in_string) {
            in_string = *p == '"';
        } else if (*p == '"') {
            in_string = 0;
        } else if (*p == '\\') {
            if (p[1] == 'u' && strncmp(p + 2, "0000", 4) == 0) return p;
            if (p[1]) p++; // the escaped character, whatever it is
        }
    }
    return NULL;
}

static int spec_parse_in(Spec *s, const char *text, const char *path, const char *base_dir) {
    memset(s, 0, sizeof *s);
    s->path = xstrdup(path ? path : "<spec>");
    int line, col;
    const char *nul = nul_escape(text);
    if (nul) {
        line_col(text, nul, &line, &col);
        err_set("%s:%d:%d: a string holds a NUL character (\\u0000); t2 refuses it", s->path, line, col);
        spec_free(s);
        return -1;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        const char *at = end ? end : text;
        // cJSON reports a trailing comma one past the closing bracket: point at the bracket.
        if (at > text && (at[-1] == '}' || at[-1] == ']')) at--;
        line_col(text, at, &line, &col);
        err_set("%s:%d:%d: JSON syntax error", s->path, line, col);
        spec_free(s);
        return -1;
    }
    resolve_task_path(root, base_dir);
    int rc = spec_parse_root(s, root);
    cJSON_Delete(root);
    if (rc != 0) {
        err_prefix("%s", s->path);
        spec_free(s);
        return -1;
    }
    s->json = spec_json(s);
    hex64(fnv1a64(s->json, strlen(s->json)), s->hash);
    return 0;
}

int spec_parse(Spec *s, const char *text, const char *path) { return spec_parse_in(s, text, path, NULL); }

int spec_load(Spec *s, const char *path) {
    memset(s, 0, sizeof *s);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return -1;
    if (strlen(text) != len) {
        err_set("%s: holds a NUL byte at offset %zu: not a JSON text file", path, strlen(text));
        free(text);
        return -1;
    }
    char *dir = path_dir(path);
    int rc = spec_parse_in(s, text, path, dir);
    free(dir);
    free(text);
    return rc;
}

void spec_free(Spec *s) {
    free(s->json);
    free(s->path);
    free(s->runs);
    memset(s, 0, sizeof *s);
}

int spec_check_machine(const Spec *s) {
    GemmPath g;
    if (gemm_path_for(s->train.precision, &g) == 0) return 0;
    err_prefix("%s: train.precision", s->path);
    return -1;
}

int spec_has_eval(const Spec *s) { return s->task.kind != TASK_TEXT; }
