// tasks.c — the task object: vocabulary, evaluation problems, the packed training and validation
// streams, answers. The problem families are in tasks_gen.c, the byte-level text task in
// tasks_text.c, the "task" object of the experiment file in tasks_config.c.
//
// A Task is immutable once created, so one Task may serve many threads.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/tasks_internal.h"

// ---------------------------------------------------------------------------------------------
// Vocabulary

static void build_vocab(Task *t) {
    for (int b = 0; b < 256; b++) t->id_of[b] = -1;
    if (!t->fam) { // bytes 0..255 are ids 2..257
        for (int b = 0; b < 256; b++) t->id_of[b] = (short)(b + 2);
        t->vocab = 258;
        return;
    }
    t->fam->alphabet(&t->cfg, t->chars);
    int n = (int)strlen(t->chars);
    for (int i = 0; i < n; i++) t->id_of[(unsigned char)t->chars[i]] = (short)(2 + i);
    t->vocab = 2 + n;
}

int task_vocab_size(const Task *t) { return t->vocab; }

const char *task_token_text(const Task *t, int id, char buf[16]) {
    if (id == TOKEN_BOS) return "<bos>";
    if (id == TOKEN_EOS) return "<eos>";
    if (id < 2 || id >= t->vocab) return "<unk>";
    unsigned char c = t->fam ? (unsigned char)t->chars[id - 2] : (unsigned char)(id - 2);
    if (c >= 0x20 && c < 0x7f) {
        buf[0] = (char)c;
        buf[1] = '\0';
    } else {
        snprintf(buf, 16, "<0x%02X>", c);
    }
    return buf;
}

int task_encode(const Task *t, const char *text, int *ids, int max_ids) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        int id = t->id_of[*p];
        if (id < 0) {
            if (*p >= 0x20 && *p < 0x7f)
                err_set("character '%c' is not in the vocabulary of task %s (\"%s\")", *p, t->cfg.name, t->chars);
            else
                err_set("byte 0x%02X is not in the vocabulary of task %s (\"%s\")", *p, t->cfg.name, t->chars);
            return -1;
        }
        if (n == max_ids) {
            err_set("text of %zu characters is longer than the limit of %d tokens", strlen(text), max_ids);
            return -1;
        }
        ids[n++] = id;
    }
    return n;
}

// Ids outside the vocabulary are skipped (a sampler only produces ids below the vocabulary size).
size_t task_decode(const Task *t, const int *ids, int n, char *out, size_t cap) {
    if (cap == 0) return 0;
    size_t len = 0;
    for (int i = 0; i < n && len + 1 < cap; i++) {
        if (ids[i] == TOKEN_EOS) break;
        if (ids[i] < 2 || ids[i] >= t->vocab) continue; // BOS, or not a token
        out[len++] = t->fam ? t->chars[ids[i] - 2] : (char)(ids[i] - 2);
    }
    out[len] = '\0';
    return len;
}

// ---------------------------------------------------------------------------------------------
// Evaluation problems and the set of their prompts

static const char *eval_prompt(const Task *t, long i) { return t->eval_text + t->eval_at[i]; }

static const char *eval_answer(const Task *t, long i) {
    const char *p = eval_prompt(t, i);
    return p + strlen(p) + 1;
}

static size_t prompt_slot(const Task *t, const char *prompt) {
    return (size_t)fnv1a64(prompt, strlen(prompt)) & t->eval_mask;
}

// Index of the evaluation problem with this prompt, or −1.
static long eval_find(const Task *t, const char *prompt) {
    for (size_t s = prompt_slot(t, prompt);; s = (s + 1) & t->eval_mask) {
        int32_t v = t->eval_slots[s];
        if (v == 0) return -1;
        if (strcmp(eval_prompt(t, v - 1), prompt) == 0) return v - 1;
    }
}

static void eval_insert(Task *t, long i) {
    size_t s = prompt_slot(t, eval_prompt(t, i));
    while (t->eval_slots[s] != 0) s = (s + 1) & t->eval_mask;
    t->eval_slots[s] = (int32_t)(i + 1);
}

// Problem i: the first draw of the stream (seed, EVAL, i, attempt) that is not an earlier
// problem, so the problems are distinct and problem i does not depend on how many there are.
static void draw_eval_problem(const Task *t, long i, char *prompt, char *answer) {
    if (t->cfg.kind == TASK_RECALL) {
        recall_eval_problem(t, i, prompt, answer);
        return;
    }
    for (uint64_t attempt = 0;; attempt++) {
        Rng r;
        rng_seed(&r, seed_derive(t->cfg.seed, STREAM_EVAL, (uint64_t)i, attempt));
        t->fam->draw(t, &r, prompt, answer);
        if (eval_find(t, prompt) < 0) return;
    }
}

static void build_eval(Task *t) {
    long n = t->cfg.eval_problems;
    t->n_eval = n;
    size_t per = (size_t)(t->max_prompt_chars + t->max_answer_chars + 2);
    t->eval_text = xmalloc((size_t)n * per);
    t->eval_at = xmalloc((size_t)n * sizeof *t->eval_at);
    t->val_start = xmalloc((size_t)(n + 1) * sizeof *t->val_start);
    size_t slots = 16;
    while (slots < 2 * (size_t)n) slots *= 2; // load ≤ 1/2: short probe runs
    t->eval_slots = xcalloc(slots, sizeof *t->eval_slots);
    t->eval_mask = slots - 1;
    size_t at = 0;
    t->val_start[0] = 0;
    for (long i = 0; i < n; i++) {
        char prompt[TASK_TEXT_MAX], answer[TASK_TEXT_MAX];
        draw_eval_problem(t, i, prompt, answer);
        size_t lp = strlen(prompt), la = strlen(answer);
        t->eval_at[i] = at;
        memcpy(t->eval_text + at, prompt, lp + 1);
        memcpy(t->eval_text + at + lp + 1, answer, la + 1);
        at += lp + la + 2;
        eval_insert(t, i);
        t->val_start[i + 1] = t->val_start[i] + lp + la + 2; // BOS prompt answer EOS
    }
}

long task_n_eval(const Task *t) { return t->n_eval; }

void task_eval_problem(const Task *t, long i, char prompt[TASK_TEXT_MAX], char target[TASK_TEXT_MAX]) {
    if (i < 0 || i >= t->n_eval) {
        prompt[0] = target[0] = '\0';
        return;
    }
    snprintf(prompt, TASK_TEXT_MAX, "%s", eval_prompt(t, i));
    snprintf(target, TASK_TEXT_MAX, "%s", eval_answer(t, i));
}

int task_max_answer_tokens(const Task *t) { return t->fam ? t->max_answer_chars + 1 : 0; }
int task_max_prompt_tokens(const Task *t) { return t->fam ? t->max_prompt_chars + 1 : 0; }

// ---------------------------------------------------------------------------------------------
// Life cycle

Task *task_create(const TaskConfig *cfg) {
    if (task_config_check(cfg, "task") != 0) return NULL;
    Task *t = xcalloc(1, sizeof *t);
    t->cfg = *cfg;
    snprintf(t->cfg.name, sizeof t->cfg.name, "%s", task_kind_name(cfg->kind));
    t->fam = family_of(cfg->kind);
    build_vocab(t);
    if (!t->fam) {
        if (text_load(t) != 0) {
            task_free(t);
            return NULL;
        }
        return t;
    }
    t->max_prompt_chars = t->fam->max_prompt(&t->cfg);
    t->max_answer_chars = t->fam->max_answer(&t->cfg);
    if (cfg->kind == TASK_RECALL) recall_build_facts(t);
    build_eval(t);
    return t;
}

void task_free(Task *t) {
    if (!t) return;
    free(t->eval_text);
    free(t->eval_at);
    free(t->val_start);
    free(t->eval_slots);
    free(t->fact_name);
    free(t->fact_attr);
    free(t->fact_cdf);
    free(t->bytes);
    free(t);
}

const TaskConfig *task_config(const Task *t) { return &t->cfg; }

int task_check_seq_len(const Task *t, int seq_len, const char *seq_len_key) {
    if (seq_len < 1) {
        err_set("%s: must be at least 1, got %d", seq_len_key, seq_len);
        return -1;
    }
    if (!t->fam) return text_check_seq_len(t, seq_len);
    int need = t->max_prompt_chars + t->max_answer_chars + 2; // BOS prompt answer EOS
    if (seq_len + 1 >= need) return 0;
    err_set("%s: %d cannot hold the longest %s example (%d tokens with BOS and EOS): it must be at least %d",
            seq_len_key, seq_len, t->cfg.name, need, need - 1);
    return -1;
}

// ---------------------------------------------------------------------------------------------
// Streams. Rows hold whole examples "BOS prompt answer EOS": as many as fit in T + 1 tokens, one
// after the other, then padding (EOS tokens whose targets never count). pos restarts at 0 with
// every example, so the model attends within an example only and sees it at the positions it has
// when sampled. A target counts in the loss when it is an answer character or EOS, and also when
// it is a prompt character unless the loss is "answer". A BOS target (the start of the next
// example, after an EOS) never counts: its prediction is trivial and never needed when sampling.

typedef struct {
    int n;
    int ids[EXAMPLE_MAX];
    unsigned char loss[EXAMPLE_MAX]; // does this token count as a target?
} Example;

typedef void (*LoadExample)(const Task *t, uint64_t j, Example *ex);

static void make_example(const Task *t, const char *prompt, const char *answer, int answer_only, Example *ex) {
    int n = 0;
    ex->ids[n] = TOKEN_BOS;
    ex->loss[n++] = 0;
    for (const char *p = prompt; *p; p++) {
        ex->ids[n] = t->id_of[(unsigned char)*p];
        ex->loss[n++] = !answer_only;
    }
    for (const char *a = answer; *a; a++) {
        ex->ids[n] = t->id_of[(unsigned char)*a];
        ex->loss[n++] = 1;
    }
    ex->ids[n] = TOKEN_EOS;
    ex->loss[n++] = 1;
    ex->n = n;
}

void task_train_example(const Task *t, uint64_t j, char prompt[TASK_TEXT_MAX], char answer[TASK_TEXT_MAX]) {
    if (!t->fam) {
        prompt[0] = answer[0] = '\0';
        return;
    }
    // Re-draw (deterministically) any example that is an evaluation problem. recall's
    // evaluation queries are facts that training must show, so its draws are never rejected.
    for (uint64_t attempt = 0;; attempt++) {
        Rng r;
        rng_seed(&r, seed_derive(t->cfg.seed, STREAM_TRAIN, j, attempt));
        t->fam->draw(t, &r, prompt, answer);
        if (t->cfg.kind == TASK_RECALL || eval_find(t, prompt) < 0) return;
    }
}

static void load_train(const Task *t, uint64_t j, Example *ex) {
    char prompt[TASK_TEXT_MAX], answer[TASK_TEXT_MAX];
    task_train_example(t, j, prompt, answer);
    make_example(t, prompt, answer, t->cfg.answer_loss_only, ex);
}

static void load_eval(const Task *t, uint64_t j, Example *ex) {
    make_example(t, eval_prompt(t, (long)j), eval_answer(t, (long)j), t->cfg.answer_loss_only, ex);
}

// Row of T + 1 tokens: whole examples *next, *next + 1, ... (below LIMIT) while they fit, then
// padding. EX holds example *next, loaded; on return it holds the first example not placed.
static void fill_row(const Task *t, LoadExample load, uint64_t *next, uint64_t limit, Example *ex,
                     int *row /* (T + 1,) */, unsigned char *mrow /* (T,) */, int *prow /* (T,) */, int T) {
    int used = 0;
    while (*next < limit && used + ex->n <= T + 1) {
        for (int k = 0; k < ex->n; k++) {
            int at = used + k;
            row[at] = ex->ids[k];
            if (at > 0) mrow[at - 1] = ex->loss[k];
            if (at < T) prow[at] = k;
        }
        used += ex->n;
        if (++*next < limit) load(t, *next, ex);
    }
    for (int at = used; at <= T; at++) { // padding: its own segment, no target counts
        row[at] = TOKEN_EOS;
        if (at > 0) mrow[at - 1] = 0;
        if (at < T) prow[at] = at - used;
    }
}

void task_train_batch(const Task *t, TaskCursor *cur, int *tokens, unsigned char *mask, int *pos, int B, int T) {
    if (B < 1 || T < 1) return;
    if (!t->fam) {
        text_train_batch(t, cur, tokens, mask, pos, B, T);
        return;
    }
    Example ex;
    uint64_t next = cur->example;
    load_train(t, next, &ex);
    for (int b = 0; b < B; b++)
        fill_row(t, load_train, &next, UINT64_MAX, &ex, tokens + (size_t)b * (size_t)(T + 1),
                 mask + (size_t)b * (size_t)T, pos + (size_t)b * (size_t)T, T);
    cur->example = next;
    cur->offset = 0;
}

// The evaluation problems packed into rows the same way, in order, from problem 0: the number of
// rows, and the first problem of row ROW (n_eval when ROW is past the last row).
static long val_rows(const Task *t, int T, long row, long *first) {
    long rows = 0;
    uint64_t used = 0;
    *first = t->n_eval;
    for (long i = 0; i < t->n_eval; i++) {
        uint64_t len = t->val_start[i + 1] - t->val_start[i];
        if (rows == 0 || used + len > (uint64_t)T + 1) {
            if (rows == row) *first = i;
            rows++;
            used = 0;
        }
        used += len;
    }
    return rows;
}

// Rows i·B .. i·B + B − 1 of the packed evaluation problems, repeating after the last row.
void task_val_batch(const Task *t, long i, int *tokens, unsigned char *mask, int *pos, int B, int T) {
    if (B < 1 || T < 1) return;
    if (i < 0) i = 0;
    if (!t->fam) {
        text_val_batch(t, i, tokens, mask, pos, B, T);
        return;
    }
    long first, rows = val_rows(t, T, 0, &first);
    long r0 = (long)(((unsigned __int128)(uint64_t)i * (uint64_t)B) % (uint64_t)rows);
    val_rows(t, T, r0, &first);
    uint64_t next = (uint64_t)first;
    Example ex;
    load_eval(t, next, &ex);
    for (int b = 0; b < B; b++) {
        if (next == (uint64_t)t->n_eval) { // past the last row: start again at problem 0
            next = 0;
            load_eval(t, next, &ex);
        }
        fill_row(t, load_eval, &next, (uint64_t)t->n_eval, &ex, tokens + (size_t)b * (size_t)(T + 1),
                 mask + (size_t)b * (size_t)T, pos + (size_t)b * (size_t)T, T);
    }
}

long task_val_batches(const Task *t, int B, int T) {
    if (B < 1 || T < 1) return 1;
    if (!t->fam) return text_val_batches(t, B, T);
    long first, n = val_rows(t, T, 0, &first) / B;
    return n > 0 ? n : 1;
}

// ---------------------------------------------------------------------------------------------
// Answers. `text` has none: every completion is malformed there.

int task_extract_answer(const Task *t, const char *completion, char answer[TASK_TEXT_MAX]) {
    answer[0] = '\0';
    if (!completion || !t->fam) return 0;
    if (t->fam->extract(t, completion, answer)) return 1;
    answer[0] = '\0';
    return 0;
}

int task_is_correct(const Task *t, long i, const char *answer) {
    if (!answer || !t->fam || i < 0 || i >= t->n_eval) return 0;
    char gold[TASK_TEXT_MAX];
    if (!t->fam->extract(t, eval_answer(t, i), gold)) return 0; // cannot happen: targets are well formed
    return strcmp(gold, answer) == 0;
}
