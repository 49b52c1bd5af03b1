// cmd_tune.c — `t2 tune SPEC.json`: pick a peak learning rate and a gradient-norm clip per model
// size. A short pilot of every model of the spec at each rate of a small grid (by default 1/4,
// 1/2, 1, 2 and 4 times the model's rate under the spec) trains at the spec's smallest budget with
// its first seed (or each of --seeds N seeds) and its clip under the spec; the rate whose pilots
// end with the lowest mean held-out loss (the analysis's loss variable) is chosen, the clip is --clip-factor times the median
// gradient norm of that pilot's second half (tune_clip_threshold), and a copy of the spec with
// them as family[i].lr and family[i].grad_clip is written (the spec itself is not touched).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "spec/spec.h"
#include "sweep/tune.h"
#include "util/json.h"
#include "util/util.h"

#define TUNE_MAX_GRID 16

static int in_grid(const double *v, int n, double x) {
    for (int i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

// "a,b,c" -> values in (0, 10] (a learning rate as train.lr and family[i].lr accept).
static int parse_grid(const char *opt, const char *text, double *v, int *n) {
    *n = 0;
    char *copy = xstrdup(text), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        double x = strtod(tok, &end);
        while (*end == ' ') end++;
        if (end == tok || *end || !(x > 0 && x <= 10)) {
            err_set("%s: '%s' is not a learning rate in (0, 10]", opt, tok);
            rc = -1;
        } else if (*n == TUNE_MAX_GRID) {
            err_set("%s: at most %d values", opt, TUNE_MAX_GRID);
            rc = -1;
        } else if (in_grid(v, *n, x)) { // a rate's pilots are found by their rate
            err_set("%s: %s is given twice", opt, tok);
            rc = -1;
        } else {
            v[(*n)++] = x;
        }
    }
    free(copy);
    if (rc == 0 && *n == 0) {
        err_set("%s: the grid is empty: give values separated by commas", opt);
        rc = -1;
    }
    return rc;
}

// SPEC.json -> SPEC-tuned.json
static char *default_out(const char *spec_path) {
    size_t n = strlen(spec_path);
    if (n > 5 && strcmp(spec_path + n - 5, ".json") == 0) return xasprintf("%.*s-tuned.json", (int)(n - 5), spec_path);
    return xasprintf("%s-tuned.json", spec_path);
}

static void on_pilot(void *ctx, const TunePilot *p, int done, int total) {
    const Spec *s = ctx;
    const ModelConfig *c = &s->family[p->family_idx];
    char w[32];
    human_seconds(p->wall_s, w, sizeof w);
    if (p->diverged)
        fprintf(stderr, "t2: pilot %d/%d: family[%d] L%d d%d, lr %.3g, seed %ld: diverged (%s)\n", done, total,
                p->family_idx, c->n_layer, c->d_model, p->lr, p->seed, w);
    else
        fprintf(stderr,
                "t2: pilot %d/%d: family[%d] L%d d%d, lr %.3g, seed %ld: %s %.4f, clipped %.0f%% of steps at %g, late "
                "median gradient norm %.3g (%s)\n",
                done, total, p->family_idx, c->n_layer, c->d_model, p->lr, p->seed, tune_loss_column(s), p->loss,
                100 * p->clipped, p->grad_clip, p->late_grad_norm, w);
}

// Every number of a JSON tree in its shortest form that reads back exactly (3e+10, not
// 30000000000 as cJSON prints it; 50, not 5e+01), so the tuned copy reads like its spec.
static void shortest_numbers(cJSON *node) {
    for (cJSON *it = node->child, *next; it; it = next) {
        next = it->next;
        if (!cJSON_IsNumber(it)) {
            shortest_numbers(it);
            continue;
        }
        char best[40] = "", buf[40];
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(buf, sizeof buf, "%.*g", digits, it->valuedouble);
            if (strtod(buf, NULL) == it->valuedouble && (!best[0] || strlen(buf) < strlen(best))) strcpy(best, buf);
        }
        if (it->string) // an object member keeps its key
            cJSON_ReplaceItemInObjectCaseSensitive(node, it->string, cJSON_CreateRaw(best));
        else
            cJSON_ReplaceItemViaPointer(node, it, cJSON_CreateRaw(best));
    }
}

// The spec file as written, with family[i].lr set to the chosen rates and, when CLIP is given,
// family[i].grad_clip to the chosen clips, into OUT (atomically).
static int write_tuned(const char *spec_path, const char *out, const double *lr, const double *clip, int n_family) {
    char *text = read_file(spec_path, NULL);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *fam = root ? cJSON_GetObjectItemCaseSensitive(root, "family") : NULL;
    if (!cJSON_IsArray(fam) || cJSON_GetArraySize(fam) != n_family) { // it parsed a moment ago
        err_set("%s: changed while tuning", spec_path);
        cJSON_Delete(root);
        return -1;
    }
    int i = 0;
    for (cJSON *m = fam->child; m; m = m->next, i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, "lr");
        cJSON_AddNumberToObject(m, "lr", lr[i]);
        if (clip) {
            cJSON_DeleteItemFromObjectCaseSensitive(m, "grad_clip");
            cJSON_AddNumberToObject(m, "grad_clip", clip[i]);
        }
    }
    shortest_numbers(root);
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    if (!json) die("out of memory printing JSON");
    AtomicFile af;
    int rc = atomic_open(&af, out);
    if (rc == 0) rc = atomic_write(&af, json, strlen(json));
    if (rc == 0) rc = atomic_write(&af, "\n", 1);
    if (rc == 0)
        rc = atomic_commit(&af);
    else
        atomic_abort(&af);
    cJSON_free(json);
    return rc;
}

// One line per model: every rate tried with its pilot loss (its mean over the seeds; * the chosen
// one), the chosen rate, how often its pilots clipped the gradient, and the clip chosen from them
// (CLIP NULL: none); with several seeds, at how many the chosen rate beat the runner-up.
static void print_table(const Spec *s, const TunePilot *p, int n, int n_seeds, const TuneChoice *ch,
                        const double *clip, double factor) {
    printf("t2 tune %s: budget %g, seed%s", s->path, s->budgets.values[tune_budget_idx(s)], n_seeds > 1 ? "s" : "");
    for (int k = 0; k < n_seeds; k++) printf("%s%ld", k ? "," : " ", tune_pilot_seed(s, k));
    printf("; pilot loss %s (lr: loss%s, * chosen)", tune_loss_column(s), n_seeds > 1 ? " averaged over the seeds" : "");
    if (clip) printf("; clip %g x the chosen pilots' late median gradient norm", factor);
    printf("\n");
    for (int f = 0; f < s->n_family; f++) {
        const ModelConfig *c = &s->family[f];
        char label[32], N[16];
        snprintf(label, sizeof label, "L%d d%d h%d", c->n_layer, c->d_model, c->n_head);
        human_count((double)count_params(c), N, sizeof N);
        printf("%-13s N %-6s", label, N);
        for (int i = 0; i < n; i += n_seeds) {
            if (p[i].family_idx != f) continue;
            double loss = tune_rate_loss(p, n, i);
            char cell[40];
            if (!isfinite(loss))
                snprintf(cell, sizeof cell, "%.3g: diverged", p[i].lr);
            else
                snprintf(cell, sizeof cell, "%.3g: %.4f%s", p[i].lr, loss, i == ch[f].index ? "*" : "");
            printf("  %-17s", cell);
        }
        printf("  chosen %.3g%s, clipped %.0f%% of steps at %g, late median |g| %.3g", ch[f].lr,
               ch[f].at_edge ? " (edge of the rates tried)" : "", 100 * ch[f].clipped, p[ch[f].index].grad_clip,
               ch[f].late_grad_norm);
        if (n_seeds > 1 && isfinite(ch[f].runner_up_lr))
            printf(", beat %.3g at %d of %d seeds", ch[f].runner_up_lr, ch[f].wins, ch[f].n_seeds);
        if (clip) printf(" -> grad_clip %g", clip[f]);
        printf("\n");
    }
}

static void print_json(const Spec *s, const TunePilot *p, int n, int n_seeds, const TuneChoice *choice,
                       const char *out, const double *clip, double factor) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "spec", s->path);
    cJSON_AddStringToObject(o, "out", out);
    cJSON_AddStringToObject(o, "loss", tune_loss_column(s));
    json_add_num(o, "clip_factor", factor);
    json_add_num(o, "budget", s->budgets.values[tune_budget_idx(s)]);
    json_add_num(o, "seed", (double)tune_pilot_seed(s, 0));
    cJSON *seeds = cJSON_AddArrayToObject(o, "seeds");
    for (int k = 0; k < n_seeds; k++) cJSON_AddItemToArray(seeds, cJSON_CreateNumber((double)tune_pilot_seed(s, k)));
    cJSON *pilots = cJSON_AddArrayToObject(o, "pilots");
    for (int i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        json_add_num(x, "family", p[i].family_idx);
        json_add_num(x, "lr", p[i].lr);
        json_add_num(x, "seed", (double)p[i].seed);
        json_add_num(x, "steps", (double)p[i].steps);
        cJSON_AddBoolToObject(x, "diverged", p[i].diverged);
        if (!p[i].diverged) {
            json_add_num(x, "loss", p[i].loss);
            json_add_num(x, "train_loss", p[i].train_loss);
        }
        json_add_num(x, "grad_clip", p[i].grad_clip);
        json_add_num(x, "clipped", p[i].clipped);
        if (!p[i].diverged) json_add_num(x, "late_grad_norm", p[i].late_grad_norm);
        cJSON_AddItemToArray(pilots, x);
    }
    cJSON *ch = cJSON_AddArrayToObject(o, "chosen");
    for (int f = 0; f < s->n_family; f++) {
        const TuneChoice *c = &choice[f];
        cJSON *x = cJSON_CreateObject();
        json_add_num(x, "family", f);
        json_add_num(x, "lr", c->lr);
        json_add_num(x, "loss", c->loss);
        cJSON *range = cJSON_AddArrayToObject(x, "loss_range");
        cJSON_AddItemToArray(range, cJSON_CreateNumber(c->loss_min));
        cJSON_AddItemToArray(range, cJSON_CreateNumber(c->loss_max));
        json_add_num(x, "clipped", c->clipped);
        json_add_num(x, "late_grad_norm", c->late_grad_norm);
        if (clip)
            json_add_num(x, "grad_clip", clip[f]);
        else
            cJSON_AddNullToObject(x, "grad_clip");
        cJSON_AddBoolToObject(x, "at_edge", c->at_edge);
        if (isfinite(c->runner_up_lr)) {
            json_add_num(x, "runner_up_lr", c->runner_up_lr);
            json_add_num(x, "wins_over_runner_up", c->wins);
        } else {
            cJSON_AddNullToObject(x, "runner_up_lr");
            cJSON_AddNullToObject(x, "wins_over_runner_up");
        }
        cJSON_AddItemToArray(ch, x);
    }
    json_print(o);
    cJSON_Delete(o);
}

int cmd_tune(int argc, char **argv) {
    char *grid_text = NULL, *factors_text = NULL, *out_arg = NULL;
    long jobs = 1, threads = cpu_count(), n_seeds = 1;
    double clip_factor = TUNE_CLIP_FACTOR;
    int json = 0, quiet = 0;
    Opt opts[] = {
        ARG_STR("--factors", &factors_text, "F,F,...",
                "rates to try, as multiples of each model's rate under the spec (default 0.25,0.5,1,2,4)"),
        ARG_STR("--grid", &grid_text, "LR,LR,...", "rates to try, the same for every model (instead of --factors)"),
        ARG_DOUBLE("--clip-factor", &clip_factor, "F",
                   "each model's grad_clip: F times the median gradient norm of the second half of its chosen "
                   "pilot (default 4; 0 keeps the spec's clipping)",
                   .min = 0, .max = 1000),
        ARG_INT("--seeds", &n_seeds, "N",
                "pilots per rate, at the spec's first N seeds (then seeds above its largest); the rate of the lowest "
                "mean loss is chosen (default 1)",
                .min = 1, .max = 16),
        ARG_STR("--out", &out_arg, "FILE", "the tuned copy of the spec (default SPEC-tuned.json beside it)"),
        ARG_INT("--jobs", &jobs, "J", "pilots at once, as processes (default 1)", .min = 1, .max = 64),
        ARG_INT("--threads", &threads, "T", "threads in all, split between the jobs (default: all cores)", .min = 1,
                .max = 1024),
        ARG_FLAG("--json", &json, "print one JSON object (pilots and choices)"),
        ARG_FLAG("--quiet", &quiet, "no line per pilot on stderr"),
    };
    Positional pos;
    int rc = args_parse("tune", argc, argv, opts, ARRAY_LEN(opts), &pos, "SPEC.json", 1, 1);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    char *spec_path = pos.items[0];
    free(pos.items);
    double grid[TUNE_MAX_GRID];
    int n_grid = 0, absolute = grid_text != NULL;
    if (grid_text && factors_text) {
        err_set("tune: give --grid or --factors, not both");
        return cmd_fail();
    }
    if (parse_grid(absolute ? "--grid" : "--factors", absolute ? grid_text : factors_text ? factors_text : "0.25,0.5,1,2,4",
                   grid, &n_grid) != 0)
        return cmd_fail();
    Spec s;
    if (spec_load(&s, spec_path) != 0) return cmd_fail();
    char *out = out_arg ? xstrdup(out_arg) : default_out(spec_path);
    int status = 1;
    TunePilot *p = NULL;
    if (refuse_input_as_output("--out", out, "the spec", spec_path) != 0) goto done;
    int S = (int)n_seeds, n = s.n_family * n_grid * S, b = tune_budget_idx(&s);
    p = xcalloc((size_t)n, sizeof *p);
    for (int f = 0; f < s.n_family; f++)
        for (int g = 0; g < n_grid; g++)
            for (int k = 0; k < S; k++) { // (f, g, k): the seeds of a rate next to each other
                const RunSpec *r = &s.runs[(f * s.budgets.n + b) * s.train.n_seeds]; // (f, b, first seed)
                p[(f * n_grid + g) * S + k] =
                    (TunePilot){.family_idx = f, .lr = absolute ? grid[g] : grid[g] * s.model_lr[f],
                                .grad_clip = s.model_clip[f], .steps = r->steps, .seed = tune_pilot_seed(&s, k)};
            }
    int per_job = (int)MAX(1, threads / jobs);
    if (!quiet)
        fprintf(stderr, "t2: tune %s: %d pilots (%d models x %d rates x %d seed%s) at budget %g, %d jobs x %d threads\n",
                s.name, n, s.n_family, n_grid, S, S > 1 ? "s" : "", s.budgets.values[b], (int)MIN(jobs, n), per_job);
    if (tune_run(&s, p, n, (int)jobs, per_job, quiet ? NULL : on_pilot, &s) != 0) goto done;
    TuneChoice ch[SPEC_MAX_FAMILY];
    double lr[SPEC_MAX_FAMILY], clip[SPEC_MAX_FAMILY];
    const double *clip_out = clip_factor > 0 ? clip : NULL;
    for (int f = 0; f < s.n_family; f++) {
        if (tune_choose(p, n, f, &ch[f]) != 0) {
            double lo = INFINITY;
            for (int i = 0; i < n_grid * S; i++) lo = fmin(lo, p[f * n_grid * S + i].lr);
            err_set("family[%d]: every rate diverged (at some seed), the lowest tried was %.3g; try lower rates (--grid "
                    "or --factors); nothing written",
                    f, lo);
            goto done;
        }
        lr[f] = ch[f].lr;
        clip[f] = tune_clip_threshold(ch[f].late_grad_norm, clip_factor);
        if (clip_out && !(clip[f] > 0)) { // a gradient of norm 0 all through the second half
            err_set("family[%d]: the chosen pilot's late median gradient norm is %g: no clip can be set from it; "
                    "--clip-factor 0 keeps the spec's; nothing written",
                    f, ch[f].late_grad_norm);
            goto done;
        }
    }
    if (write_tuned(spec_path, out, lr, clip_out, s.n_family) != 0) goto done;
    if (json) {
        print_json(&s, p, n, S, ch, out, clip_out, clip_factor);
    } else {
        print_table(&s, p, n, S, ch, clip_out, clip_factor);
        printf("wrote %s\n", out);
    }
    for (int f = 0; f < s.n_family; f++) {
        if (ch[f].at_edge)
            fprintf(stderr, "t2: warning: family[%d]: the best rate %.3g is at the edge of the rates tried; the best may "
                            "lie beyond it (widen --factors or --grid)\n",
                    f, lr[f]);
        if (S > 1 && isfinite(ch[f].runner_up_lr) && ch[f].wins < S)
            fprintf(stderr, "t2: warning: family[%d]: the chosen rate %.3g beat the runner-up %.3g at %d of %d seeds: "
                            "the pilots do not settle the choice between them\n",
                    f, lr[f], ch[f].runner_up_lr, ch[f].wins, S);
    }
    status = 0;
done:
    if (status != 0) cmd_fail();
    free(p);
    free(out);
    spec_free(&s);
    return status;
}
