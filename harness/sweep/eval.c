// eval.c — sample, verify, score (see eval.h).
#include "sweep/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "nn/sampler.h"
#include "sweep/estimators.h"
#include "util/threadpool.h"

// Encode "BOS prompt" (and optionally "target EOS") into ids; returns the length or -1.
static int encode_problem(const Task *task, const char *prompt, const char *target, int *ids, int cap) {
    ids[0] = TOKEN_BOS;
    int n = task_encode(task, prompt, ids + 1, cap - 1);
    if (n < 0) return -1;
    n += 1;
    if (!target) return n;
    int t = task_encode(task, target, ids + n, cap - n - 1);
    if (t < 0) return -1;
    n += t;
    ids[n++] = TOKEN_EOS;
    return n;
}

// The gold pass in fixed work units: unit u is problems [u·B, u·B + B), scored as one batch of
// that shape whatever the thread count, so every sgemm has the same shape at 1 thread or 64 and
// the log-probabilities are bit-identical (OpenBLAS kernels may round differently for different
// shapes or splits of one product). Units are dealt to the workers round-robin.
typedef struct {
    Activations a;    // (B, T) activations
    int *tokens;      // (B, T)
    int *len, *n_prompt; // (B,)
} GoldScratch;

typedef struct {
    const Model *m;
    const Task *task;
    int B;
    long n;
    DbGold *gold;
    GoldScratch *ws; // one per worker
} GoldJob;

static void gold_unit(const GoldJob *g, GoldScratch *w, long i0) {
    const ModelConfig *c = &g->m->cfg;
    int T = c->seq_len, V = c->vocab_size;
    int nb = (int)MIN((long)g->B, g->n - i0), Tb = 0;
    char prompt[TASK_TEXT_MAX], target[TASK_TEXT_MAX];
    for (int b = 0; b < nb; b++) {
        task_eval_problem(g->task, i0 + b, prompt, target);
        int *row = w->tokens + (size_t)b * T;
        w->n_prompt[b] = encode_problem(g->task, prompt, NULL, row, T);
        w->len[b] = encode_problem(g->task, prompt, target, row, T);
        Tb = MAX(Tb, w->len[b]);
    }
    // Rows are padded with EOS; causal attention keeps the padding from touching real tokens.
    for (int b = 0; b < nb; b++) {
        int *row = w->tokens + (size_t)b * T;
        for (int t = w->len[b]; t < Tb; t++) row[t] = TOKEN_EOS;
        if (b > 0) memmove(w->tokens + (size_t)b * Tb, row, (size_t)Tb * sizeof(int));
    }
    model_forward(g->m, &w->a, w->tokens, NULL, (size_t)nb, Tb);
    log_softmax_rows(w->a.logits, (size_t)nb * (size_t)Tb, V);
    for (int b = 0; b < nb; b++) {
        const int *row = w->tokens + (size_t)b * Tb;
        double lp = 0;
        for (int t = w->n_prompt[b]; t < w->len[b]; t++) lp += w->a.logits[((size_t)b * Tb + (size_t)t - 1) * V + row[t]];
        g->gold[i0 + b] = (DbGold){i0 + b, lp, w->len[b] - w->n_prompt[b]};
    }
}

static void gold_worker(void *ctx, int tid, int n_threads) {
    const GoldJob *g = ctx;
    for (long i0 = (long)tid * g->B; i0 < g->n; i0 += (long)n_threads * g->B) gold_unit(g, &g->ws[tid], i0);
}

void eval_gold(const Model *m, const Task *task, int batch_problems, int threads, DbGold *gold) {
    const ModelConfig *c = &m->cfg;
    long n = task_n_eval(task);
    int B = batch_problems;
    long units = (n + B - 1) / B;
    int n_threads = (int)MAX(1, MIN((long)threads, units));
    ThreadPool *pool = pool_create(n_threads); // holds OpenBLAS at one thread per caller
    GoldJob g = {m, task, B, n, gold, xcalloc((size_t)n_threads, sizeof(GoldScratch))};
    for (int t = 0; t < n_threads; t++) {
        acts_build(&g.ws[t].a, c, (size_t)B, c->seq_len);
        g.ws[t].tokens = xcalloc((size_t)B * (size_t)c->seq_len, sizeof(int));
        g.ws[t].len = xcalloc((size_t)B, sizeof(int));
        g.ws[t].n_prompt = xcalloc((size_t)B, sizeof(int));
    }
    pool_run(pool, gold_worker, &g);
    for (int t = 0; t < n_threads; t++) {
        acts_free(&g.ws[t].a);
        free(g.ws[t].tokens);
        free(g.ws[t].len);
        free(g.ws[t].n_prompt);
    }
    free(g.ws);
    pool_free(pool);
}

uint64_t eval_stream_seed(long run_seed, int run_id, double temperature) {
    uint64_t tbits;
    memcpy(&tbits, &temperature, sizeof tbits);
    return seed_derive((uint64_t)run_seed, 0xE7A1u, (uint64_t)run_id, tbits);
}

// ---------------------------------------------------------------------------------------------
static int check_fit(const Model *m, const Task *task, const EvalSpec *es, int *max_prompt) {
    if (m->cfg.vocab_size != task_vocab_size(task)) {
        err_set("the model's vocabulary has %d tokens, task '%s' needs %d", m->cfg.vocab_size,
                task_config(task)->name, task_vocab_size(task));
        return -1;
    }
    *max_prompt = task_max_prompt_tokens(task); // BOS included
    if (*max_prompt + es->max_new_tokens > m->cfg.seq_len) {
        err_set("prompts of up to %d tokens plus max_new_tokens %d exceed the model's context of %d", *max_prompt,
                es->max_new_tokens, m->cfg.seq_len);
        return -1;
    }
    return 0;
}

static void fill_sample_row(const Task *task, long i, int j, const SampleOut *o, int s, int max_new, DbSample *row) {
    char text[4096], answer[TASK_TEXT_MAX];
    const int *toks = o->tokens + (size_t)s * (size_t)max_new;
    task_decode(task, toks, o->n_tokens[s], text, sizeof text);
    int has = task_extract_answer(task, text, answer);
    *row = (DbSample){.problem_id = i, .sample_idx = j, .completion = xstrdup(text),
                       .answer = has ? xstrdup(answer) : NULL, .correct = has && task_is_correct(task, i, answer),
                       .n_tokens = o->n_tokens[s], .logprob = o->logprob[s]};
}

int eval_sample(const Model *m, const Task *task, const EvalSpec *es, double temperature, uint64_t stream_seed,
                int threads, EvalProgressFn progress, void *progress_ctx, EvalResult *out) {
    memset(out, 0, sizeof *out);
    int max_prompt;
    if (check_fit(m, task, es, &max_prompt) != 0) return -1;
    long n_prob = task_n_eval(task), S = es->n_samples;
    int G = es->max_new_tokens;
    out->temperature = temperature;
    out->top_p = es->top_p;
    out->n_samples = S;
    out->max_new_tokens = G;
    out->n_problems = n_prob;
    out->samples = xcalloc((size_t)(n_prob * S), sizeof(DbSample));
    Sampler *smp = sampler_create(m, max_prompt, G, (int)S, threads);
    SampleOut so;
    sample_out_alloc(&so, (int)S, G);
    uint64_t *seeds = xcalloc((size_t)S, sizeof(uint64_t));
    int ids[TASK_TEXT_MAX + 2];
    char prompt[TASK_TEXT_MAX], target[TASK_TEXT_MAX];
    double t0 = now_s();
    for (long i = 0; i < n_prob; i++) {
        task_eval_problem(task, i, prompt, target);
        int P = encode_problem(task, prompt, NULL, ids, TASK_TEXT_MAX + 2);
        for (long j = 0; j < S; j++) seeds[j] = seed_derive(stream_seed, (uint64_t)i, (uint64_t)j, 0);
        sampler_run(smp, ids, P, (int)S, seeds, (float)temperature, (float)es->top_p, &so);
        double pre = prefill_flops(&m->cfg, P);
        out->prefill_flops += pre;
        out->decode_flops += so.flops - pre;
        out->gen_tokens += so.gen_tokens;
        for (long j = 0; j < S; j++) fill_sample_row(task, i, (int)j, &so, (int)j, G, &out->samples[i * S + j]);
        if (progress) progress(progress_ctx, i + 1, n_prob);
    }
    out->n_rows = n_prob * S;
    out->infer_flops = out->prefill_flops + out->decode_flops;
    out->infer_flops_2nk = 2.0 * (double)count_params(&m->cfg) * out->gen_tokens;
    out->wall_s = now_s() - t0;
    free(seeds);
    sample_out_free(&so);
    sampler_free(smp);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Group one problem's samples by answer: distinct answer j was given by counts[j] samples and is
// correct[j]; n_missing samples have no answer. order (n,) is scratch. Returns the groups.
static int cmp_answer(const void *a, const void *b) {
    return strcmp((*(const DbSample *const *)a)->answer, (*(const DbSample *const *)b)->answer);
}

static int group_answers(const DbSample *rows, long n, const DbSample **order, long *counts,
                         unsigned char *correct, long *n_missing) {
    long n_ans = 0;
    for (long i = 0; i < n; i++)
        if (rows[i].answer) order[n_ans++] = &rows[i];
    *n_missing = n - n_ans;
    qsort(order, (size_t)n_ans, sizeof *order, cmp_answer);
    int m = 0;
    for (long i = 0; i < n_ans; i++) {
        if (i == 0 || strcmp(order[i]->answer, order[i - 1]->answer) != 0) {
            counts[m] = 0;
            correct[m] = (unsigned char)order[i]->correct;
            m++;
        }
        counts[m - 1]++;
    }
    return m;
}

static void add_metric(EvalResult *r, const char *name, long k, double value) {
    r->metrics[r->n_metrics++] = (DbMetric){name, k, value};
}

void eval_metrics(EvalResult *r, const DbGold *gold, long n_gold, const long *ks, int n_k) {
    free(r->metrics);
    r->metrics = xcalloc((size_t)(3 * n_k), sizeof(DbMetric));
    r->n_metrics = 0;
    long S = r->n_samples, P = r->n_problems;
    const DbSample **order = xcalloc((size_t)S, sizeof *order);
    long *counts = xcalloc((size_t)S, sizeof(long));
    unsigned char *correct = xcalloc((size_t)S, 1);
    double *pass = xcalloc((size_t)n_k, sizeof(double)), *maj = xcalloc((size_t)n_k, sizeof(double));
    for (long i = 0; i < P; i++) {
        const DbSample *rows = r->samples + i * S;
        long c = 0, n_missing;
        for (long j = 0; j < S; j++) c += rows[j].correct;
        int m = group_answers(rows, S, order, counts, correct, &n_missing);
        for (int q = 0; q < n_k; q++) {
            pass[q] += pass_at_k(S, c, ks[q]);
            maj[q] += maj_at_k(S, ks[q], counts, correct, m, n_missing);
        }
    }
    for (int q = 0; q < n_k; q++) add_metric(r, "pass", ks[q], P > 0 ? pass[q] / (double)P : NAN);
    for (int q = 0; q < n_k; q++) add_metric(r, "maj", ks[q], P > 0 ? maj[q] / (double)P : NAN);
    if (gold && n_gold > 0)
        for (int q = 0; q < n_k; q++) {
            double sum = 0;
            for (long i = 0; i < n_gold; i++) sum += pass_at_k_analytic(gold[i].logprob, (double)ks[q]);
            add_metric(r, "pass_analytic", ks[q], sum / (double)n_gold);
        }
    free(order);
    free(counts);
    free(correct);
    free(pass);
    free(maj);
}

void eval_result_free(EvalResult *r) {
    for (long i = 0; i < r->n_rows; i++) {
        free(r->samples[i].completion);
        free(r->samples[i].answer);
    }
    free(r->samples);
    free(r->metrics);
    memset(r, 0, sizeof *r);
}
