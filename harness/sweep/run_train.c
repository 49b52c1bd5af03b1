// run_train.c — the training loop of one run (see run_train.h).
#include "sweep/run_train.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

volatile int run_stop_requested = 0;

char *run_checkpoint_path(const char *db_path, int run_id) {
    char *dir = db_checkpoint_dir(db_path), *name = xasprintf("run-%d.ckpt", run_id), *path = path_join(dir, name);
    free(dir);
    free(name);
    return path;
}

void run_identity(const Spec *s, const RunSpec *r, const char *config_json, CkptIdentity *id) {
    ckpt_identity(id, s->name, s->hash, r->run_id, config_json);
}

typedef struct {
    TrainLogRow *rows;
    int n, cap;
} LogBuffer;

static int flush_log(LogBuffer *lb, const RunHooks *h) {
    int rc = 0;
    if (lb->n > 0 && h && h->on_log) rc = h->on_log(h->ctx, lb->rows, lb->n);
    lb->n = 0;
    return rc;
}

static void log_row(LogBuffer *lb, const StepStats *st, double wall_s) {
    if (lb->n == lb->cap) lb->rows = xrealloc(lb->rows, (size_t)(lb->cap = lb->cap ? 2 * lb->cap : 256) * sizeof(TrainLogRow));
    lb->rows[lb->n++] = (TrainLogRow){st->step, st->tokens, st->loss, st->lr, st->grad_norm, wall_s};
}

static int save_checkpoint(Trainer *tr, const char *path, const char *cfg_json, const CkptIdentity *id, double wall_s,
                           LogBuffer *lb, const RunHooks *h) {
    // Log rows first: after a crash the database never holds a checkpoint step without its log.
    if (flush_log(lb, h) != 0) return -1;
    if (trainer_save(tr, path, cfg_json, id, wall_s) != 0) return -1;
    if (h && h->on_checkpoint && h->on_checkpoint(h->ctx, trainer_step_count(tr), path) != 0) return -1;
    return 0;
}

static int log_every_steps(const TrainSpec *ts, long steps) {
    return ts->log_every > 0 ? ts->log_every : (int)MAX(1, steps / 200);
}

// A process killed while writing a checkpoint leaves PATH.tmp.PID behind (the checkpoint itself
// is intact): remove those whose writer is gone.
static void remove_stale_temporaries(const char *ckpt_path) {
    char *pattern = xasprintf("%s.tmp.*", ckpt_path);
    glob_t g;
    if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            long pid;
            const char *dot = strrchr(g.gl_pathv[i], '.');
            if (dot && parse_int(dot + 1, 1, INT_MAX, &pid) == 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
                unlink(g.gl_pathv[i]);
        }
        globfree(&g);
    }
    free(pattern);
}

int run_train(const Spec *s, const RunSpec *r, const char *ckpt_path, int threads, const RunHooks *hooks,
              RunOutcome *out) {
    memset(out, 0, sizeof *out);
    remove_stale_temporaries(ckpt_path);
    Task *task = task_create(&s->task);
    if (!task) return -1;
    char *cfg_json = run_config_json(s, r);
    CkptIdentity id;
    run_identity(s, r, cfg_json, &id);
    TrainSpec ts_run = s->train;
    ts_run.lr = r->lr;               // the model's own peak learning rate (family[i].lr or train.lr_rule)
    ts_run.grad_clip = r->grad_clip; // and clip (family[i].grad_clip or train.grad_clip)
    Trainer *tr = trainer_create(&r->model, &ts_run, r->steps, (uint64_t)r->seed, task, threads);
    LogBuffer lb = {0};
    int rc = -1;
    double wall_before = 0;
    if (!tr) {
        err_prefix("run %d", r->run_id);
        goto out;
    }
    if (file_exists(ckpt_path)) {
        if (trainer_load(tr, ckpt_path, cfg_json, &id, &wall_before) != 0) {
            err_prefix("run %d: cannot resume (move the file away to restart the run)", r->run_id);
            goto out;
        }
        out->resumed_from = trainer_step_count(tr);
    }
    const TrainSpec *ts = &s->train;
    int log_every = log_every_steps(ts, r->steps);
    double t_start = now_s(), t_ckpt = t_start, t_progress = 0;
    long step0 = trainer_step_count(tr);
    StepStats st = {0};
    out->status = RUN_DONE;
    while (trainer_step_count(tr) < r->steps) {
        if (trainer_step(tr, &st) != 0) {
            out->status = RUN_DIVERGED;
            snprintf(out->error, sizeof out->error, "%s", err_msg());
            break;
        }
        double now = now_s(), wall = wall_before + (now - t_start);
        long step = st.step;
        if (step % log_every == 0 || step == r->steps) log_row(&lb, &st, wall);
        int due = ts->ckpt_every > 0 ? step % ts->ckpt_every == 0 : now - t_ckpt >= ts->ckpt_seconds;
        if (due && step < r->steps) {
            if (save_checkpoint(tr, ckpt_path, cfg_json, &id, wall, &lb, hooks) != 0) goto out;
            t_ckpt = now;
        }
        if (hooks && hooks->on_progress && (now - t_progress >= 0.25 || step == r->steps)) {
            double rate = (double)(step - step0) * ts->batch_size * ts->seq_len / MAX(now - t_start, 1e-9);
            double eta = (double)(r->steps - step) * ts->batch_size * ts->seq_len / MAX(rate, 1e-9);
            hooks->on_progress(hooks->ctx, step, r->steps, st.loss, rate, eta);
            t_progress = now;
        }
        if (run_stop_requested) {
            out->status = RUN_INTERRUPTED;
            snprintf(out->error, sizeof out->error, "interrupted at step %ld", step);
            break;
        }
    }
    out->steps = trainer_step_count(tr);
    out->wall_s = wall_before + (now_s() - t_start);
    if (out->status == RUN_DIVERGED) {
        if (flush_log(&lb, hooks) != 0) goto out;
        rc = 0;
        goto out;
    }
    // Done or interrupted: the checkpoint holds the final (or current) weights.
    if (save_checkpoint(tr, ckpt_path, cfg_json, &id, out->wall_s, &lb, hooks) != 0) goto out;
    out->final_loss = trainer_final_loss(tr);
    out->val_loss = out->status == RUN_DONE ? trainer_val_loss(tr, ts->val_batches) : NAN;
    out->answer_loss = out->status == RUN_DONE ? trainer_answer_loss(tr) : NAN;
    rc = 0;
out:
    free(lb.rows);
    trainer_free(tr);
    free(cfg_json);
    task_free(task);
    return rc;
}
