// cmd_train.c — `t2 train SPEC.json --run ID`: one run of a sweep, what a job-array task calls.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "db/db.h"
#include "sweep/job.h"
#include "spec/spec.h"

// The progress descriptor must be an open pipe (or socket) before the database is opened: were
// it closed, the database could take its number and the progress lines would land in it.
static int check_progress_fd(long fd) {
    struct stat st;
    if (fd < 0) return 0;
    if (fstat((int)fd, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
        err_set("--progress-fd: %ld is not an open pipe", fd);
        return -1;
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    char *db_path = NULL, *ckpt = NULL, *spec_hash = NULL;
    long run = -1, threads = cpu_count(), progress_fd = -1;
    int retry = 0, no_eval = 0, quiet = 0;
    Opt opts[] = {
        ARG_INT("--run", &run, "ID", "run id, 0..R-1 in the order `t2 sweep --dry-run` lists", .required = 1, .min = 0,
                .max = 1e9),
        ARG_STR("--db", &db_path, "PATH", "results database (default results/NAME.db)"),
        ARG_STR("--ckpt", &ckpt, "PATH", "checkpoint (default: run-ID.ckpt beside the database, results/NAME/)"),
        ARG_INT("--threads", &threads, "T", "worker threads (default: all cores)", .min = 1, .max = 1024),
        ARG_FLAG("--retry-failed", &retry, "train the run again if it failed or diverged"),
        ARG_FLAG("--no-eval", &no_eval, "train only; `t2 eval` evaluates later"),
        ARG_FLAG("--quiet", &quiet, "no live progress line"),
        ARG_INT("--progress-fd", &progress_fd, "FD", "report progress to this pipe (used by t2 sweep)", .min = 0,
                .max = 1 << 20),
        ARG_STR("--spec-hash", &spec_hash, "HASH", "exit 6 at once, silently, unless SPEC loads to this hash (used by t2 sweep)"),
    };
    Positional pos;
    int rc = args_parse("train", argc, argv, opts, ARRAY_LEN(opts), &pos, "SPEC.json", 1, 1);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    if (check_progress_fd(progress_fd) != 0) {
        free(pos.items);
        return cmd_fail();
    }
    Spec spec;
    if (spec_load(&spec, pos.items[0]) != 0) {
        free(pos.items);
        return spec_hash ? JOB_SPEC_CHANGED : cmd_fail(); // the sweep that started us says why, once
    }
    free(pos.items);
    if (spec_hash && strcmp(spec_hash, spec.hash) != 0) {
        spec_free(&spec);
        return JOB_SPEC_CHANGED;
    }
    if (spec_check_machine(&spec) != 0) {
        spec_free(&spec);
        return cmd_fail();
    }
    if (run >= spec.n_runs) {
        err_set("--run: %ld is not a run of %s (runs 0..%d)", run, spec.path, spec.n_runs - 1);
        spec_free(&spec);
        return cmd_fail();
    }
    char *def_db = db_path ? NULL : default_db_path(&spec);
    const char *db_file = db_path ? db_path : def_db;
    Db *db = NULL;
    rc = JOB_ERROR;
    // The checkpoint is written over and removed on a fresh start: never one of the inputs.
    int ckpt_ok = !ckpt || (refuse_input_as_output("--ckpt", ckpt, "SPEC", spec.path) == 0 &&
                            refuse_input_as_output("--ckpt", ckpt, "--db", db_file) == 0);
    if (ckpt_ok && open_spec_db(&db, &spec, db_file) == 0) {
        job_install_signal_handlers();
        Progress prog;
        progress_init(&prog, (int)run, quiet, (int)progress_fd);
        Job job = {&spec, db, (int)run, (int)threads, ckpt, retry, no_eval, &prog};
        rc = job_run(&job);
        db_close(db);
    }
    if (rc == JOB_ERROR) cmd_fail();
    if (rc == JOB_DONE_BEFORE && progress_fd < 0) rc = JOB_OK; // a user asked for a run that is done: it is
    free(def_db);
    spec_free(&spec);
    return rc;
}
