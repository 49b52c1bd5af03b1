// job.c — claim, train, record, evaluate one run (see job.h).
#include "sweep/job.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sweep/eval.h"
#include "nn/loaded.h"
#include "sweep/run_train.h"
#include "util/json.h"

static void on_signal(int sig) {
    (void)sig;
    run_stop_requested = 1;
}

void job_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

// ---------------------------------------------------------------------------------------------
// Training hooks: the database and the progress display.
typedef struct {
    const Job *job;
    char owner[300];
    double last_beat;
    int lost;             // the claim was taken over: stop
} HookCtx;

static int hook_log(void *ctx, const TrainLogRow *rows, int n) {
    HookCtx *h = ctx;
    return db_log_train(h->job->db, h->job->run_id, rows, (size_t)n);
}

static int hook_checkpoint(void *ctx, long step, const char *path) {
    HookCtx *h = ctx;
    if (db_set_checkpoint(h->job->db, h->job->run_id, h->owner, path, step) != 0) {
        h->lost = 1;
        return -1;
    }
    return 0;
}

static void hook_progress(void *ctx, long step, long total, double loss, double tok_s, double eta) {
    HookCtx *h = ctx;
    progress_update(h->job->progress, "train", step, total, loss, tok_s, eta);
    double now = now_s();
    if (now - h->last_beat >= 10.0) { // a heartbeat keeps the claim fresh; never every step
        if (db_heartbeat(h->job->db, h->job->run_id, h->owner, step) != 0) {
            h->lost = 1;
            run_stop_requested = 1;
        }
        h->last_beat = now;
    }
}

static DbRunStatus status_of(RunStatus s) {
    return s == RUN_DONE ? DB_RUN_DONE : s == RUN_DIVERGED ? DB_RUN_DIVERGED : DB_RUN_FAILED;
}

static int finish_line(const Job *j, const RunOutcome *o) {
    const RunSpec *r = &j->spec->runs[j->run_id];
    char n[32], d[32], w[32], resumed[48] = "", answer[32] = "";
    human_count((double)r->n_params, n, sizeof n);
    human_count((double)r->train_tokens, d, sizeof d);
    human_seconds(o->wall_s, w, sizeof w);
    if (o->resumed_from > 0) snprintf(resumed, sizeof resumed, " (resumed at step %ld)", o->resumed_from);
    if (isfinite(o->answer_loss)) snprintf(answer, sizeof answer, ", answer %.4f", o->answer_loss);
    if (o->status == RUN_DONE)
        progress_finish(j->progress, "run %d done: N %s, D %s, loss %.4f, val %.4f%s, %s%s", j->run_id, n, d,
                        o->final_loss, o->val_loss, answer, w, resumed);
    else
        progress_finish(j->progress, "run %d %s: %s", j->run_id, o->status == RUN_DIVERGED ? "diverged" : "failed",
                        o->error);
    return 0;
}

static void job_identity(const Job *j, CkptIdentity *id) {
    const RunSpec *r = &j->spec->runs[j->run_id];
    char *cfg = run_config_json(j->spec, r);
    run_identity(j->spec, r, cfg, id);
    free(cfg);
}

// A fresh claim starts at step 0 whatever checkpoint of this run lies at its path: the database
// recorded no checkpoint for the run (killed between writing a checkpoint and recording it, or
// a new database beside old files), or the run failed or diverged and its checkpoint would fail
// again. Resuming from such a file would skip the train_log rows the claim just deleted. A file
// that is not a checkpoint of this run is another's, and is left alone: the run is refused.
static int remove_unrecorded_checkpoint(const Job *j, const char *ckpt) {
    if (!file_exists(ckpt)) return 0;
    CkptIdentity have, want;
    int peek = checkpoint_peek_identity(ckpt, &have);
    job_identity(j, &want);
    if (peek == 1) {
        err_set("run %d: %s exists and is not a t2 checkpoint; refusing to overwrite it (move it away or give "
                "another --ckpt)", j->run_id, ckpt);
        return -1;
    }
    if (peek == 0 && checkpoint_check_identity(ckpt, &have, &want) != 0) {
        err_prefix("run %d: refusing to overwrite a checkpoint of another run (move it away or give another "
                   "--ckpt or --db)", j->run_id);
        return -1;
    }
    if (unlink(ckpt) != 0 && errno != ENOENT) {
        err_set("run %d: cannot remove the unrecorded checkpoint %s: %s", j->run_id, ckpt, strerror(errno));
        return -1;
    }
    return 0;
}

// Train a claimed run and record the outcome. Returns a JOB_* code.
static int train_claimed(const Job *j, const DbClaim *claim, const char *ckpt, HookCtx *hc) {
    const RunSpec *r = &j->spec->runs[j->run_id];
    if (claim->kind == DB_CLAIM_FRESH && remove_unrecorded_checkpoint(j, ckpt) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err_msg());
        db_release_run(j->db, j->run_id, hc->owner);
        err_set("%s", msg);
        return JOB_ERROR;
    }
    RunHooks hooks = {hc, hook_log, hook_checkpoint, hook_progress};
    RunOutcome o;
    if (run_train(j->spec, r, ckpt, j->threads, &hooks, &o) != 0) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err_msg());
        if (!hc->lost) db_finish_run(j->db, j->run_id, hc->owner, DB_RUN_FAILED, NAN, NAN, NAN, 0, msg);
        err_set("%s", msg);
        return JOB_ERROR;
    }
    if (o.status == RUN_INTERRUPTED) {
        if (!hc->lost) db_release_run(j->db, j->run_id, hc->owner);
        err_set("run %d: %s%s", j->run_id, hc->lost ? "the claim was taken over by another process; " : "", o.error);
        return JOB_ERROR;
    }
    if (db_finish_run(j->db, j->run_id, hc->owner, status_of(o.status), o.final_loss, o.val_loss, o.answer_loss,
                      o.wall_s, o.status == RUN_DONE ? NULL : o.error) != 0)
        return JOB_ERROR;
    finish_line(j, &o);
    return o.status == RUN_DONE ? JOB_OK : JOB_NOT_OK;
}

// This run's precision and the kernels of its training products, recorded with the library versions.
static char *run_kernels_json(const Spec *s) {
    cJSON *o = cJSON_CreateObject();
    GemmPath g;
    cJSON_AddStringToObject(o, "precision", precision_name(s->train.precision));
    cJSON_AddStringToObject(o, "gemm", gemm_path_for(s->train.precision, &g) == 0 ? gemm_path_name(g) : "none");
    return json_text_free(o);
}

int job_run(const Job *j) {
    HookCtx hc = {.job = j};
    db_owner_self(hc.owner);
    char *def = j->ckpt ? NULL : run_checkpoint_path(db_path(j->db), j->run_id);
    const char *ckpt = j->ckpt ? j->ckpt : def;
    DbClaim claim;
    int rc;
    char *libs = run_kernels_json(j->spec);
    rc = db_claim_run(j->db, j->run_id, hc.owner, j->threads, libs, j->retry_failed, &claim);
    free(libs);
    if (rc != 0) {
        free(def);
        return JOB_ERROR;
    }
    int trained_before = claim.kind == DB_CLAIM_NONE && claim.prev == DB_RUN_DONE;
    if (claim.kind != DB_CLAIM_NONE) {
        rc = train_claimed(j, &claim, ckpt, &hc);
    } else if (claim.prev == DB_RUN_DONE) {
        rc = JOB_OK; // trained earlier; evaluated below if an eval is missing
    } else if (claim.prev == DB_RUN_RUNNING) {
        progress_finish(j->progress, "run %d skipped: held by %s", j->run_id, claim.holder ? claim.holder : "?");
        rc = JOB_SKIPPED;
    } else {
        progress_finish(j->progress, "run %d skipped: %s (use --retry-failed to run it again)", j->run_id,
                        db_status_name(claim.prev));
        rc = JOB_NOT_OK;
    }
    db_claim_free(&claim);
    int n_evaluated = 0, n_held = 0;
    if (rc == JOB_OK && !j->no_eval && spec_has_eval(j->spec)) {
        DbRun run;
        if (db_get_run(j->db, j->run_id, &run) != 0) {
            rc = JOB_ERROR;
        } else {
            n_evaluated = job_evaluate(j, run.checkpoint ? run.checkpoint : ckpt, &n_held);
            if (n_evaluated < 0) rc = JOB_ERROR;
            db_run_free(&run);
        }
    }
    // A run found done that needed no evaluation from us was done before (by whom, a sweep asks).
    if (rc == JOB_OK && trained_before && n_evaluated == 0) {
        if (n_held > 0)
            progress_finish(j->progress, "run %d skipped: its evaluation is held by another process", j->run_id);
        rc = n_held > 0 ? JOB_SKIPPED : JOB_DONE_BEFORE;
    }
    free(def);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Evaluation.
typedef struct {
    const Job *job;
    long done_before, total;
    double t0;
    const char *owner;
    const DbEvalKey *keys; // the claimed evals, kept fresh by heartbeats
    int n_keys;
    double last_beat;
} EvalCtx;

static void eval_progress(void *ctx, long done, long total) {
    EvalCtx *e = ctx;
    (void)total;
    long d = e->done_before + done;
    double now = now_s(), el = now - e->t0, eta = d > 0 ? el * (double)(e->total - d) / (double)d : -1;
    progress_update(e->job->progress, "eval", d, e->total, NAN, 0, eta);
    if (now - e->last_beat > 60) {
        for (int i = 0; i < e->n_keys; i++)
            if (e->keys[i].n_samples >= 0) db_heartbeat_eval(e->job->db, e->job->run_id, &e->keys[i], e->owner);
        e->last_beat = now;
    }
}

static int insert_problems(Db *db, const Task *task) {
    long n = task_n_eval(task);
    DbProblem *p = xcalloc((size_t)n, sizeof *p);
    char (*prompts)[TASK_TEXT_MAX] = xcalloc((size_t)n, TASK_TEXT_MAX);
    char (*targets)[TASK_TEXT_MAX] = xcalloc((size_t)n, TASK_TEXT_MAX);
    for (long i = 0; i < n; i++) {
        task_eval_problem(task, i, prompts[i], targets[i]);
        p[i] = (DbProblem){i, prompts[i], targets[i]};
    }
    int rc = db_insert_problems(db, task_config(task)->name, "eval", p, (size_t)n);
    free(p);
    free(prompts);
    free(targets);
    return rc;
}

static int write_eval(const Job *j, const EvalResult *er, const DbGold *gold, long n_gold) {
    DbEval e = {.run_id = j->run_id,
                .key = {er->temperature, er->top_p, er->n_samples, er->max_new_tokens},
                .infer_flops = er->infer_flops,
                .infer_flops_2nk = er->infer_flops_2nk,
                .prefill_flops = er->prefill_flops,
                .decode_flops = er->decode_flops,
                .gen_tokens = (long)er->gen_tokens,
                .n_problems = er->n_problems,
                .wall_s = er->wall_s};
    int rc = db_write_eval(j->db, &e, er->samples, (size_t)er->n_rows, gold, (size_t)n_gold, er->metrics,
                           (size_t)er->n_metrics, NULL);
    return rc < 0 ? -1 : 0;
}

static double metric_value(const EvalResult *er, const char *name, long k) {
    for (int i = 0; i < er->n_metrics; i++)
        if (strcmp(er->metrics[i].metric, name) == 0 && er->metrics[i].k == k) return er->metrics[i].value;
    return NAN;
}

int job_evaluate(const Job *j, const char *ckpt, int *n_held) {
    const Spec *s = j->spec;
    const EvalSpec *es = &s->eval;
    char owner[300];
    db_owner_self(owner);
    // Claim every missing eval first: another process may be evaluating this run already.
    DbEvalKey todo[SPEC_MAX_TEMPERATURES];
    int n_todo = 0;
    for (int t = 0; t < es->n_temperature; t++) {
        DbEvalKey key = {es->temperature[t], es->top_p, es->n_samples, es->max_new_tokens};
        int c = db_claim_eval(j->db, j->run_id, &key, owner);
        if (c < 0) goto release;
        if (c == 0) {
            todo[n_todo++] = key;
        } else if (n_held) {
            long id;
            int found = db_find_eval(j->db, j->run_id, &key, &id);
            if (found < 0) goto release;
            *n_held += found == 1; // not there: another process is evaluating it
        }
    }
    if (n_todo == 0) return 0;
    LoadedRun lr;
    if (loaded_run_open(&lr, ckpt) != 0) goto release;
    CkptIdentity want;
    job_identity(j, &want);
    int rc = -1;
    // Weights of another run would be scored silently under this run's id.
    if (checkpoint_check_identity(ckpt, &lr.id, &want) != 0) {
        err_prefix("run %d: eval", j->run_id);
        loaded_run_close(&lr);
        goto release;
    }
    long n = task_n_eval(lr.task);
    DbGold *gold = xcalloc((size_t)n, sizeof *gold);
    if (insert_problems(j->db, lr.task) != 0) goto out;
    eval_gold(&lr.model, lr.task, es->batch_problems, j->threads, gold);
    EvalCtx ec = {j, 0, n * n_todo, now_s(), owner, todo, n_todo, now_s()};
    for (int t = 0; t < n_todo; t++) {
        EvalResult er;
        double temp = todo[t].temperature;
        uint64_t stream = eval_stream_seed(s->runs[j->run_id].seed, j->run_id, temp);
        if (eval_sample(&lr.model, lr.task, es, temp, stream, j->threads, eval_progress, &ec, &er) != 0) {
            err_prefix("run %d: eval", j->run_id);
            goto out;
        }
        eval_metrics(&er, gold, n, es->k, es->n_k);
        int w = write_eval(j, &er, gold, n);
        long kmax = es->k[es->n_k - 1];
        if (w == 0)
            progress_finish(j->progress, "run %d eval T=%g: pass@1 %.3f, pass@%ld %.3f, maj@%ld %.3f, analytic pass@1 %.3f",
                            j->run_id, temp, metric_value(&er, "pass", 1), kmax, metric_value(&er, "pass", kmax), kmax,
                            metric_value(&er, "maj", kmax), metric_value(&er, "pass_analytic", 1));
        eval_result_free(&er);
        ec.done_before += n;
        if (w != 0) goto out;
        todo[t].n_samples = -1; // written: its claim ended with the eval
    }
    rc = n_todo;
out:
    free(gold);
    loaded_run_close(&lr);
    if (rc >= 0) return rc;
release:
    for (int t = 0; t < n_todo; t++)
        if (todo[t].n_samples >= 0) db_release_eval(j->db, j->run_id, &todo[t], owner);
    return -1;
}

// ---------------------------------------------------------------------------------------------
// Rescoring from stored rows.

// Re-extract answers and recompute metrics of one eval from its stored completions.
static int rescore_one(Db *db, const Task *task, const DbEval *ev, const long *ks, int n_k) {
    DbSample *rows;
    size_t n;
    if (db_read_samples(db, ev->eval_id, &rows, &n) != 0) return -1;
    long n_samples = ev->key.n_samples;
    if (n_samples < 1 || n % (size_t)n_samples != 0) {
        err_set("%s: eval %ld has %zu samples, not a whole number of problems × %ld", db_path(db), ev->eval_id, n,
                n_samples);
        db_samples_free(rows, n);
        return -1;
    }
    DbGold *gold;
    size_t n_gold;
    if (db_read_gold(db, ev->run_id, &gold, &n_gold) != 0) {
        db_samples_free(rows, n);
        return -1;
    }
    EvalResult er = {.n_samples = n_samples, .n_problems = (long)n / n_samples, .n_rows = (long)n, .samples = rows};
    for (size_t i = 0; i < n; i++) {
        char answer[TASK_TEXT_MAX];
        int has = task_extract_answer(task, rows[i].completion, answer);
        free(rows[i].answer);
        rows[i].answer = has ? xstrdup(answer) : NULL;
        rows[i].correct = has && task_is_correct(task, rows[i].problem_id, answer);
    }
    int n_use = 0;
    long use[SPEC_MAX_K];
    for (int q = 0; q < n_k; q++)
        if (ks[q] <= n_samples) use[n_use++] = ks[q];
    eval_metrics(&er, gold, (long)n_gold, use, n_use);
    int rc = db_rescore_eval(db, ev->eval_id, rows, n, er.metrics, (size_t)er.n_metrics);
    eval_result_free(&er);
    free(gold);
    return rc;
}

int job_rescore(const Spec *s, Db *db, int run_id, long *n_evals) {
    Task *task = task_create(&s->task);
    if (!task) return -1;
    DbEval *evs;
    size_t n;
    int rc = db_list_evals(db, run_id, &evs, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = rescore_one(db, task, &evs[i], s->eval.k, s->eval.n_k);
    if (n_evals) *n_evals = (long)n;
    free(evs);
    task_free(task);
    return rc;
}
