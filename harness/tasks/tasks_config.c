// tasks_config.c — the experiment file's "task" object: knobs, defaults, validation, canonical JSON.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tasks/tasks_internal.h"
#include "util/json.h"

static const char *const TASK_NAMES[] = {"add", "modarith", "chain", "sort", "recall", "text"};
#define KNOWN_TASKS "add, modarith, chain, sort, recall, text"

typedef enum { KNOB_INT, KNOB_LONG, KNOB_SEED, KNOB_BOOL, KNOB_REAL, KNOB_LOSS, KNOB_OPS, KNOB_PATH } KnobType;

typedef struct {
    unsigned kinds; // bit (1 << TaskKind) for each task that takes the knob
    const char *key;
    KnobType type;
    size_t offset;  // field in TaskConfig
    double lo, hi;  // range of numeric knobs
    double def;     // default of numeric and boolean knobs
    const char *def_text;
} Knob;

#define KIND(k) (1u << (k))
#define GENERATED (KIND(TASK_ADD) | KIND(TASK_MODARITH) | KIND(TASK_CHAIN) | KIND(TASK_SORT) | KIND(TASK_RECALL))
#define FIELD(f) offsetof(TaskConfig, f)
#define SEED_MAX 9007199254740991.0 // 2^53 − 1: seeds survive JSON's doubles exactly

// Every knob with its range and default: the one place to tune task difficulty. Defaults put
// small models where they are right some of the time, so pass@k climbs with k and majority
// vote parts from it. Order = order in canonical JSON.
//
// Measured (pass@1 at temperature 1; eval_problems 100, n_samples 64, seed 7; train seq_len 32,
// batch 32, lr 3e-3, cosine, 1 seed; models L1 d32 (N 14k), L2 d64 (103k), L3 d96 (336k); each
// pair is budgets 3e11 / 1e12 train FLOPs; code of 0b49288, whose kernels round differently from
// later ones, moving single runs by a few points): `t2 sweep SPEC --jobs 1 --threads 1`, then
//   SELECT run_id, k, value FROM metrics JOIN evals USING (eval_id) WHERE metric = 'pass';
//   add digits 3:            L1 .03 / .08, L2 .01 at 8e11; with loss "answer" .00 / .36,
//                            .00 / .01, .00 / .01, and reversed as well: at most .008
//   add digits 2 (default):  .06 / .64, .05 / .68, .01 / .05; L1 d16 (3.8k) .09 at 1e11, .63 at
//                            8e11; L2 d48 (57k) .01 at 1e11, .94 at 1e12
//   modarith 97:             .011 everywhere (= chance 1/97: no generalisation at this scale)
//   modarith 47 (default):   .07 / .30, .02 / .21, .02 / .025 (chance .021)
//   modarith 23:             .46 / .49, .21 / .77, .04 / .08
//   chain steps 3:           1.0 / 1.0, .28 / .65, .12 / .18
//   chain steps 6 (default): .35 / 1.0, .30 / .98, .11 / .16
//   sort 6 of 10:            .93 / .99, .89 / .99, .22 / .95
//   sort 12 of 20 (default): .43 / .78, .03 / .71, .00 / .07
//   recall 400 facts:        .51 / .86, .36 / .96, .05 / .66
//   recall 1000 (default):   .08 / .16, .08 / .63, .01 / .14
// pass@16 and maj@16 of the same runs, e.g. add digits 2, L2 d64 at 1e12: pass@1 .68, pass@16
// .99, maj@16 .83; modarith 47, L1 d32 at 1e12: .30, .82, .38; recall 1000, L2 d64 at 1e12:
// .63, .97, .84. Loss "all" (the default) learned add faster than "answer" at these sizes
// (digits 2, L2 d48 at 1e12: pass@1 .94 against .37).
static const Knob KNOBS[] = {
    {GENERATED, "eval_problems", KNOB_LONG, FIELD(eval_problems), 1, 100000, 200, NULL},
    {GENERATED, "seed", KNOB_SEED, FIELD(seed), 0, SEED_MAX, 1, NULL},
    {GENERATED, "loss", KNOB_LOSS, FIELD(answer_loss_only), 0, 1, 0, NULL},
    {KIND(TASK_ADD), "digits", KNOB_INT, FIELD(digits), 1, 9, 2, NULL},
    {KIND(TASK_ADD), "reversed", KNOB_BOOL, FIELD(reversed), 0, 1, 0, NULL},
    {KIND(TASK_MODARITH), "modulus", KNOB_INT, FIELD(modulus), 2, 10000, 47, NULL},
    {KIND(TASK_MODARITH), "ops", KNOB_OPS, FIELD(ops), 0, 0, 0, "+"},
    {KIND(TASK_CHAIN), "steps", KNOB_INT, FIELD(steps), 1, 12, 6, NULL},
    {KIND(TASK_CHAIN), "digits", KNOB_INT, FIELD(digits), 1, 3, 1, NULL},
    {KIND(TASK_SORT), "length", KNOB_INT, FIELD(length), 2, 32, 12, NULL},
    {KIND(TASK_SORT), "alphabet", KNOB_INT, FIELD(alphabet), 2, 36, 20, NULL},
    {KIND(TASK_RECALL), "n_facts", KNOB_INT, FIELD(n_facts), 1, 100000, 1000, NULL},
    {KIND(TASK_RECALL), "zipf", KNOB_REAL, FIELD(zipf), 0, 4, 1.0, NULL},
    {KIND(TASK_TEXT), "path", KNOB_PATH, FIELD(path), 0, 0, 0, NULL},
};

static const char *const OPERATORS = "+-*/";

const char *task_kind_name(TaskKind kind) { return TASK_NAMES[kind]; }

static const Knob *find_knob(TaskKind kind, const char *key) {
    for (size_t i = 0; i < ARRAY_LEN(KNOBS); i++)
        if ((KNOBS[i].kinds & KIND(kind)) && strcmp(KNOBS[i].key, key) == 0) return &KNOBS[i];
    return NULL;
}

static int knob_of_any_task(const char *key) {
    for (size_t i = 0; i < ARRAY_LEN(KNOBS); i++)
        if (strcmp(KNOBS[i].key, key) == 0) return 1;
    return 0;
}

// "name, eval_problems, seed, loss, digits, reversed"
static void knob_list(TaskKind kind, char *buf, size_t n) {
    size_t at = (size_t)snprintf(buf, n, "name");
    for (size_t i = 0; i < ARRAY_LEN(KNOBS) && at < n; i++)
        if (KNOBS[i].kinds & KIND(kind)) at += (size_t)snprintf(buf + at, n - at, ", %s", KNOBS[i].key);
}

// A JSON value as a message shows it: 12, 2.5, "abc", true, null, an array, an object.
static void describe_value(const cJSON *v, char *buf, size_t n) {
    if (cJSON_IsNumber(v))
        snprintf(buf, n, "%.15g", v->valuedouble);
    else if (cJSON_IsString(v))
        snprintf(buf, n, "\"%.60s%s\"", v->valuestring, strlen(v->valuestring) > 60 ? "..." : "");
    else if (cJSON_IsBool(v))
        snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNull(v))
        snprintf(buf, n, "null");
    else if (cJSON_IsArray(v))
        snprintf(buf, n, "an array");
    else
        snprintf(buf, n, "an object");
}

static void knob_range_error(const char *kp, const Knob *k, const char *got) {
    if (k->type == KNOB_REAL)
        err_set("%s.%s: must be a number in [%g, %g], got %s", kp, k->key, k->lo, k->hi, got);
    else
        err_set("%s.%s: must be an integer in [%.0f, %.0f], got %s", kp, k->key, k->lo, k->hi, got);
}

// ---------------------------------------------------------------------------------------------
// Validation of a config (parsed or built in code).

static int check_numeric(const TaskConfig *c, const Knob *k, const char *kp) {
    const char *field = (const char *)c + k->offset;
    double v;
    switch (k->type) {
    case KNOB_INT: v = *(const int *)field; break;
    case KNOB_LONG: v = (double)*(const long *)field; break;
    case KNOB_SEED: v = (double)*(const uint64_t *)field; break;
    case KNOB_REAL: v = *(const double *)field; break;
    default: return 0;
    }
    if (v >= k->lo && v <= k->hi) return 0;
    char got[32];
    snprintf(got, sizeof got, "%.15g", v);
    knob_range_error(kp, k, got);
    return -1;
}

static int is_prime(long p) {
    if (p < 2) return 0;
    for (long d = 2; d * d <= p; d++)
        if (p % d == 0) return 0;
    return 1;
}

// Non-empty, operators only, each at most once.
static int check_ops(const char *ops, const char *kp) {
    size_t n = strnlen(ops, sizeof((TaskConfig *)0)->ops);
    int bad = n == 0 || n == sizeof((TaskConfig *)0)->ops;
    for (size_t i = 0; i < n && !bad; i++)
        bad = !strchr(OPERATORS, ops[i]) || memchr(ops, ops[i], i) != NULL;
    if (bad) {
        err_set("%s.ops: must be a non-empty string of distinct operators from \"%s\", got \"%.*s\"", kp, OPERATORS,
                (int)n, ops);
        return -1;
    }
    return 0;
}

static int check_text_file(const TaskConfig *c, const char *kp) {
    if (c->path[0] == '\0') {
        err_set("%s.path: missing (text trains on a file: \"path\": \"FILE\")", kp);
        return -1;
    }
    struct stat st;
    if (stat(c->path, &st) != 0) {
        err_set("%s.path: %s: cannot open: %s", kp, c->path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set("%s.path: %s: not a regular file", kp, c->path);
        return -1;
    }
    if (st.st_size == 0) {
        err_set("%s.path: %s: empty file", kp, c->path);
        return -1;
    }
    if (text_val_bytes((size_t)st.st_size) == 0) {
        err_set("%s.path: %s: %lld bytes is too short: at least 10 are needed to hold out the last 10%% for validation",
                kp, c->path, (long long)st.st_size);
        return -1;
    }
    return 0;
}

// Evaluation problems must be distinct, and training needs problems outside them: at most half
// of the problem space is held out (so a training draw is rejected at most half the time).
static int check_eval_problems(const TaskConfig *c, const char *kp) {
    const Family *fam = family_of(c->kind);
    uint64_t space = fam->space(c);
    char what[128];
    fam->describe(c, what, sizeof what);
    unsigned long long n = (unsigned long long)c->eval_problems;
    if (c->kind == TASK_RECALL) { // queries are distinct facts; they are meant to be seen in training
        if (n > space) {
            err_set("%s.eval_problems: %llu exceeds the %llu facts of %s (each problem queries a different fact)", kp, n,
                    (unsigned long long)space, what);
            return -1;
        }
        return 0;
    }
    if (n > space) {
        err_set("%s.eval_problems: %llu exceeds the %llu distinct problems of %s", kp, n, (unsigned long long)space,
                what);
        return -1;
    }
    if (n > space / 2) {
        err_set("%s.eval_problems: %llu leaves too few training problems: %s has %llu distinct problems and at most "
                "half (%llu) may be held out for evaluation",
                kp, n, what, (unsigned long long)space, (unsigned long long)(space / 2));
        return -1;
    }
    return 0;
}

int task_config_check(const TaskConfig *c, const char *kp) {
    if ((unsigned)c->kind >= ARRAY_LEN(TASK_NAMES)) {
        err_set("%s.name: unknown task kind %d (known: " KNOWN_TASKS ")", kp, (int)c->kind);
        return -1;
    }
    for (size_t i = 0; i < ARRAY_LEN(KNOBS); i++)
        if ((KNOBS[i].kinds & KIND(c->kind)) && check_numeric(c, &KNOBS[i], kp) != 0) return -1;
    if (c->kind == TASK_TEXT) return check_text_file(c, kp);
    if (c->kind == TASK_MODARITH) {
        if (check_ops(c->ops, kp) != 0) return -1;
        if (strchr(c->ops, '/') && !is_prime(c->modulus)) {
            err_set("%s.ops: '/' needs a prime modulus, %d is not prime", kp, c->modulus);
            return -1;
        }
    }
    return check_eval_problems(c, kp);
}

// ---------------------------------------------------------------------------------------------
// Parsing.

static void set_defaults(TaskConfig *c, TaskKind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    snprintf(c->name, sizeof c->name, "%s", TASK_NAMES[kind]);
    for (size_t i = 0; i < ARRAY_LEN(KNOBS); i++) {
        const Knob *k = &KNOBS[i];
        if (!(k->kinds & KIND(kind))) continue;
        char *field = (char *)c + k->offset;
        switch (k->type) {
        case KNOB_INT:
        case KNOB_BOOL:
        case KNOB_LOSS: *(int *)field = (int)k->def; break;
        case KNOB_LONG: *(long *)field = (long)k->def; break;
        case KNOB_SEED: *(uint64_t *)field = (uint64_t)k->def; break;
        case KNOB_REAL: *(double *)field = k->def; break;
        case KNOB_OPS: snprintf(c->ops, sizeof c->ops, "%s", k->def_text); break;
        case KNOB_PATH: break; // required
        }
    }
}

static int parse_name(const cJSON *obj, const char *kp, TaskKind *kind) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!v) {
        err_set("%s.name: missing (known: " KNOWN_TASKS ")", kp);
        return -1;
    }
    if (!cJSON_IsString(v)) {
        char got[96];
        describe_value(v, got, sizeof got);
        err_set("%s.name: must be a string naming the task (known: " KNOWN_TASKS "), got %s", kp, got);
        return -1;
    }
    for (size_t i = 0; i < ARRAY_LEN(TASK_NAMES); i++)
        if (strcmp(v->valuestring, TASK_NAMES[i]) == 0) {
            *kind = (TaskKind)i;
            return 0;
        }
    err_set("%s.name: unknown task '%.60s' (known: " KNOWN_TASKS ")", kp, v->valuestring);
    return -1;
}

static int parse_number_knob(TaskConfig *c, const Knob *k, const cJSON *v, const char *kp) {
    char got[96];
    describe_value(v, got, sizeof got);
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    int integral = k->type != KNOB_REAL;
    if (!(d >= k->lo && d <= k->hi) || (integral && d != floor(d))) {
        knob_range_error(kp, k, got);
        return -1;
    }
    char *field = (char *)c + k->offset;
    switch (k->type) {
    case KNOB_INT: *(int *)field = (int)d; break;
    case KNOB_LONG: *(long *)field = (long)d; break;
    case KNOB_SEED: *(uint64_t *)field = (uint64_t)d; break;
    default: *(double *)field = d; break;
    }
    return 0;
}

static int parse_knob(TaskConfig *c, const Knob *k, const cJSON *v, const char *kp) {
    char got[96];
    describe_value(v, got, sizeof got);
    switch (k->type) {
    case KNOB_BOOL:
        if (!cJSON_IsBool(v)) break;
        *(int *)((char *)c + k->offset) = cJSON_IsTrue(v);
        return 0;
    case KNOB_LOSS:
        if (!cJSON_IsString(v) || (strcmp(v->valuestring, "all") != 0 && strcmp(v->valuestring, "answer") != 0)) {
            err_set("%s.loss: must be \"all\" or \"answer\", got %s", kp, got);
            return -1;
        }
        c->answer_loss_only = strcmp(v->valuestring, "answer") == 0;
        return 0;
    case KNOB_OPS:
        if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof c->ops) break;
        snprintf(c->ops, sizeof c->ops, "%s", v->valuestring);
        return check_ops(c->ops, kp);
    case KNOB_PATH:
        if (!cJSON_IsString(v) || v->valuestring[0] == '\0') break;
        if (strlen(v->valuestring) >= sizeof c->path) {
            err_set("%s.path: longer than %zu characters", kp, sizeof c->path - 1);
            return -1;
        }
        snprintf(c->path, sizeof c->path, "%s", v->valuestring);
        return 0;
    default: return parse_number_knob(c, k, v, kp);
    }
    static const char *const expected[] = {
        [KNOB_BOOL] = "true or false",
        [KNOB_OPS] = "a non-empty string of distinct operators from \"+-*/\"",
        [KNOB_PATH] = "a non-empty string naming a file",
    };
    err_set("%s.%s: must be %s, got %s", kp, k->key, expected[k->type], got);
    return -1;
}

int task_config_parse(TaskConfig *tc, const struct cJSON *obj, const char *keypath) {
    const char *kp = keypath && *keypath ? keypath : "task";
    if (!cJSON_IsObject(obj)) {
        char got[96];
        if (obj)
            describe_value(obj, got, sizeof got);
        else
            snprintf(got, sizeof got, "nothing");
        err_set("%s: must be an object such as {\"name\": \"add\"}, got %s", kp, got);
        return -1;
    }
    TaskKind kind;
    if (parse_name(obj, kp, &kind) != 0) return -1;
    TaskConfig c;
    set_defaults(&c, kind);
    for (const cJSON *v = obj->child; v; v = v->next) {
        for (const cJSON *u = obj->child; u != v; u = u->next)
            if (strcmp(u->string, v->string) == 0) {
                err_set("%s.%s: given twice", kp, v->string);
                return -1;
            }
        if (strcmp(v->string, "name") == 0) continue;
        const Knob *k = find_knob(kind, v->string);
        if (!k) {
            char takes[256];
            knob_list(kind, takes, sizeof takes);
            if (knob_of_any_task(v->string))
                err_set("%s.%s: not a knob of %s (%s takes: %s)", kp, v->string, c.name, c.name, takes);
            else
                err_set("%s.%s: unknown key (%s takes: %s)", kp, v->string, c.name, takes);
            return -1;
        }
        if (parse_knob(&c, k, v, kp) != 0) return -1;
    }
    if (task_config_check(&c, kp) != 0) return -1;
    *tc = c;
    return 0;
}

// A number as raw JSON text that reads back exactly. cJSON's own printing settles for 15
// significant digits when they compare "close enough", which turns the seed 2^53 − 1 into
// 9.00719925474099e+15, another seed.
static const cJSON *add_exact_number(cJSON *o, const char *key, double v) {
    char text[40];
    if (v == floor(v) && fabs(v) <= SEED_MAX)
        snprintf(text, sizeof text, "%.0f", v);
    else {
        snprintf(text, sizeof text, "%.15g", v);
        if (strtod(text, NULL) != v) snprintf(text, sizeof text, "%.17g", v);
    }
    return cJSON_AddRawToObject(o, key, text);
}

// Keys in KNOBS order, so equal configs give equal text (and equal config hashes).
char *task_config_json(const TaskConfig *tc) {
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddStringToObject(o, "name", tc->name);
    for (size_t i = 0; i < ARRAY_LEN(KNOBS) && ok; i++) {
        const Knob *k = &KNOBS[i];
        if (!(k->kinds & KIND(tc->kind))) continue;
        const char *field = (const char *)tc + k->offset;
        const cJSON *added = NULL;
        switch (k->type) {
        case KNOB_INT: added = add_exact_number(o, k->key, *(const int *)field); break;
        case KNOB_LONG: added = add_exact_number(o, k->key, (double)*(const long *)field); break;
        case KNOB_SEED: added = add_exact_number(o, k->key, (double)*(const uint64_t *)field); break;
        case KNOB_REAL: added = add_exact_number(o, k->key, *(const double *)field); break;
        case KNOB_BOOL: added = cJSON_AddBoolToObject(o, k->key, *(const int *)field); break;
        case KNOB_LOSS: added = cJSON_AddStringToObject(o, k->key, tc->answer_loss_only ? "answer" : "all"); break;
        case KNOB_OPS: added = cJSON_AddStringToObject(o, k->key, tc->ops); break;
        case KNOB_PATH: added = cJSON_AddStringToObject(o, k->key, tc->path); break;
        }
        ok = added != NULL;
    }
    if (!ok) die("out of memory building the task's JSON");
    return json_text_free(o);
}
