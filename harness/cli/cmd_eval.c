// cmd_eval.c — `t2 eval --db PATH [--run ID] [--rescore]`: repeated-sampling evaluation of the
// finished runs that lack it, or recomputed metrics from the stored samples alone.
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "db/db.h"
#include "sweep/job.h"
#include "sweep/run_train.h"
#include "spec/spec.h"

static int evaluate_runs(const Spec *s, Db *db, long only, int threads, int quiet) {
    int n_done = 0, rc = 0;
    for (int i = 0; i < s->n_runs && rc == 0; i++) {
        if (only >= 0 && i != only) continue;
        DbRun r;
        if (db_get_run(db, i, &r) != 0) return -1;
        if (r.status != DB_RUN_DONE) {
            if (only >= 0) {
                err_set("--run: run %d is not finished (status %s)", i, db_status_name(r.status));
                rc = -1;
            }
            db_run_free(&r);
            continue;
        }
        Progress prog;
        progress_init(&prog, i, quiet, -1);
        Job job = {.spec = s, .db = db, .run_id = i, .threads = threads, .progress = &prog};
        char *ckpt = r.checkpoint ? xstrdup(r.checkpoint) : run_checkpoint_path(db_path(db), i);
        rc = job_evaluate(&job, ckpt, NULL) < 0 ? -1 : 0;
        free(ckpt);
        db_run_free(&r);
        n_done++;
    }
    if (rc == 0 && n_done == 0) {
        err_set("%s: no finished runs to evaluate", db_path(db));
        return -1;
    }
    return rc;
}

int cmd_eval(int argc, char **argv) {
    char *db_path = NULL;
    long run = -1, threads = cpu_count();
    int rescore = 0, quiet = 0;
    Opt opts[] = {
        ARG_STR("--db", &db_path, "PATH", "results database", .required = 1),
        ARG_INT("--run", &run, "ID", "only this run", .min = 0, .max = 1e9),
        ARG_FLAG("--rescore", &rescore, "recompute answers and metrics from the stored samples alone"),
        ARG_INT("--threads", &threads, "T", "worker threads (default: all cores)", .min = 1, .max = 1024),
        ARG_FLAG("--quiet", &quiet, "no live progress line"),
    };
    int rc = args_parse("eval", argc, argv, opts, ARRAY_LEN(opts), NULL, "", 0, 0);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    if (!file_exists(db_path)) {
        err_set("--db: %s does not exist", db_path);
        return cmd_fail();
    }
    Db *db;
    if (db_open(&db, db_path) != 0) return cmd_fail();
    Spec s;
    if (spec_from_db(db, &s) != 0) {
        db_close(db);
        return cmd_fail();
    }
    if (run >= s.n_runs) {
        err_set("--run: %ld is not a run of sweep %s (runs 0..%d)", run, s.name, s.n_runs - 1);
        rc = -1;
    } else if (!spec_has_eval(&s)) {
        err_set("sweep %s: task '%s' has no evaluation problems (loss only)", s.name, s.task.name);
        rc = -1;
    } else if (rescore) {
        long n;
        rc = job_rescore(&s, db, (int)run, &n);
        if (rc == 0) fprintf(stderr, "t2: rescored %ld evals from their stored samples\n", n);
    } else {
        job_install_signal_handlers();
        rc = evaluate_runs(&s, db, run, (int)threads, quiet);
    }
    spec_free(&s);
    db_close(db);
    return rc == 0 ? 0 : cmd_fail();
}
