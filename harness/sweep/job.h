// job.h — one run of a sweep, end to end, as `t2 train` (and each process of `t2 sweep`) does
// it: claim the run in the database, train it (resuming from its checkpoint), record the
// outcome, then evaluate it at every temperature of the spec that the database lacks.
#ifndef T2_JOB_H
#define T2_JOB_H

#include "db/db.h"
#include "sweep/progress.h"
#include "spec/spec.h"

typedef struct {
    const Spec *spec;
    Db *db;
    int run_id;
    int threads;
    const char *ckpt;     // checkpoint path, or NULL for run-ID.ckpt in db_checkpoint_dir of the database
    int retry_failed;     // claim failed / diverged runs again
    int no_eval;          // train only
    Progress *progress;
} Job;

// Exit codes of a job (and of `t2 train`). JOB_SPEC_CHANGED: `t2 train --spec-hash H` (as a sweep
// starts it) found the spec file no longer loading, or loading to another hash.
enum { JOB_OK = 0, JOB_ERROR = 1, JOB_NOT_OK = 3, JOB_SKIPPED = 4, JOB_DONE_BEFORE = 5, JOB_SPEC_CHANGED = 6 };

// JOB_OK: trained and evaluated (or only evaluated: it was trained before); JOB_DONE_BEFORE:
// nothing to do, trained and evaluated before (here or by another process; `t2 train` exits 0 for
// it unless it reports to a sweep, which counts it apart); JOB_NOT_OK: the run diverged or failed
// (recorded in the database); JOB_SKIPPED: another live process holds the run or its evaluation;
// JOB_ERROR: could not run (err_set).
int job_run(const Job *j);

// Evaluate a done run at every temperature of the spec lacking an eval in the database. Returns
// how many evals it wrote, -1 on error. *n_held (may be NULL) counts the missing evals it left to
// another process that holds their claim.
int job_evaluate(const Job *j, const char *ckpt, int *n_held);

// Recompute answers, correctness and metrics of every eval from the stored samples and gold
// (`t2 eval --rescore`); run_id < 0 for all runs.
int job_rescore(const Spec *s, Db *db, int run_id, long *n_evals);

// Install SIGINT/SIGTERM handlers that ask a training loop to checkpoint and stop.
void job_install_signal_handlers(void);

#endif
