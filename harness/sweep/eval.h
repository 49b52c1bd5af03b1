// eval.h — repeated-sampling evaluation of a trained model on a task's fixed problems: k samples
// per problem (batched, shared prompt cache), answers extracted and verified, pass@k, maj@k and
// analytic pass@k from the teacher-forced gold log-probability, and the exact inference cost.
#ifndef T2_EVAL_H
#define T2_EVAL_H

#include <stdint.h>

#include "db/db.h"
#include "nn/model.h"
#include "spec/spec.h"
#include "tasks/tasks.h"

// The rows are the database's (db/db.h): DbSample, DbGold, DbMetric.
typedef struct {
    double temperature, top_p;
    long n_samples;
    int max_new_tokens;
    long n_problems;
    double infer_flops;     // exact: per problem one prefill + cached decode of every generated token
    double infer_flops_2nk; // 2 · N · generated tokens
    double prefill_flops, decode_flops, gen_tokens;
    double wall_s;
    DbSample *samples;      // (n_problems · n_samples), the rows of `samples`; strings owned
    long n_rows;
    DbMetric *metrics;      // names are static strings
    int n_metrics;
} EvalResult;

// Teacher-forced gold log-probabilities of every problem, batch_problems at a time, on `threads`
// workers. Bit-identical for every thread count: each batch is one fixed-shape work unit.
// gold must hold task_n_eval(task) rows.
void eval_gold(const Model *m, const Task *task, int batch_problems, int threads, DbGold *gold);

// Sample and score every problem at one temperature. Sample j of problem i draws from the stream
// seed_derive(stream_seed, i, j, 0), so more samples later keep the earlier ones.
// -1 + err_set when the model does not fit the task (vocabulary, context length).
// progress (may be NULL) is called after each problem.
typedef void (*EvalProgressFn)(void *ctx, long done, long total);
int eval_sample(const Model *m, const Task *task, const EvalSpec *es, double temperature, uint64_t stream_seed,
                int threads, EvalProgressFn progress, void *progress_ctx, EvalResult *out);
// The stream seed of a run's evaluation at one temperature.
uint64_t eval_stream_seed(long run_seed, int run_id, double temperature);

// Metrics from stored rows alone (also what `t2 eval --rescore` runs): pass@k and maj@k for
// every k of ks (k ≤ n), pass_analytic from gold (NULL: skipped). Replaces out->metrics.
void eval_metrics(EvalResult *r, const DbGold *gold, long n_gold, const long *ks, int n_k);

void eval_result_free(EvalResult *r);

#endif
