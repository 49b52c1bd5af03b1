// run_train.h — train one run of a spec: resume from its checkpoint when there is one, step, log,
// checkpoint periodically and at the end, report progress. The database and the sweep's
// progress display plug in through RunHooks.
#ifndef T2_RUN_H
#define T2_RUN_H

#include "db/db.h"
#include "spec/spec.h"
#include "nn/trainer.h"

typedef struct {
    void *ctx;
    // A batch of training-log rows (called at checkpoints and at the end, not every step).
    int (*on_log)(void *ctx, const TrainLogRow *rows, int n);
    // A checkpoint was written (after its log rows were handed to on_log).
    int (*on_checkpoint)(void *ctx, long step, const char *path);
    // Progress, at most a few times a second.
    void (*on_progress)(void *ctx, long step, long total, double loss, double tokens_per_s, double eta_s);
} RunHooks;

typedef enum { RUN_DONE, RUN_DIVERGED, RUN_FAILED, RUN_INTERRUPTED } RunStatus;

typedef struct {
    RunStatus status;
    long steps;          // steps completed
    long resumed_from;   // step the run resumed at (0 for a fresh start)
    double final_loss;   // mean training loss over the last steps (see trainer_final_loss)
    double val_loss;     // held-out loss at the end (NAN when the task has none)
    double answer_loss;  // held-out loss on answer tokens and EOS (NAN when the task has no answers)
    double wall_s;       // training wall time over all sessions
    char error[512];     // why, when not RUN_DONE
} RunOutcome;

// Default checkpoint path of a run: run-ID.ckpt in the checkpoint directory of its database
// (db_checkpoint_dir: results/NAME/run-ID.ckpt for results/NAME.db).
char *run_checkpoint_path(const char *db_path, int run_id);
// The identity a checkpoint of run r carries (config_json: run_config_json(s, r)).
void run_identity(const Spec *s, const RunSpec *r, const char *config_json, CkptIdentity *id);

// Train run r of spec s with `threads` workers, checkpointing to ckpt_path. A valid checkpoint
// for this run's config resumes bit-exactly; a damaged or foreign one is an error (nothing is
// overwritten). Returns 0 when the outcome is filled (done or diverged), -1 on an error that
// prevented training (err_set).
int run_train(const Spec *s, const RunSpec *r, const char *ckpt_path, int threads, const RunHooks *hooks,
              RunOutcome *out);

// Set by a SIGINT/SIGTERM handler: run_train checkpoints and returns RUN_INTERRUPTED.
extern volatile int run_stop_requested;

#endif
