// db.h — the results database (docs/SPEC.md §4): one SQLite file per sweep, in WAL mode, written by any
// number of processes at once (each run claimed in a transaction), readable while it is written,
// merged from shards with `t2 merge`.
//
// Conventions. Every function returns 0 on success and -1 after err_set() with a message that
// names the database path and the operation ("results/demo.db: insert train_log: database is
// locked"); functions with a third outcome say so. Every write is one BEGIN IMMEDIATE
// transaction: it either happens whole or not at all, also under kill -9. Every value is bound
// as a parameter. Non-finite doubles are stored as NULL.
//
// A Db handle belongs to one thread at a time: open one per worker thread or process (SQLite
// serialises the writers; a writer waits up to the busy timeout for another's transaction).
// Never carry an open handle across fork().
#ifndef T2_DB_H
#define T2_DB_H

#include <stddef.h>

#include "spec/spec.h"

// Schema version stored in PRAGMA user_version; db_open migrates older t2 databases to it.
#define DB_SCHEMA_VERSION 2
// PRAGMA application_id of a t2 database ("t2db" in ASCII).
#define DB_APPLICATION_ID 0x74326462
// How long a writer waits for another process's transaction before failing.
#define DB_BUSY_TIMEOUT_MS (10 * 60 * 1000)
// A running run whose heartbeat is older than this is taken over (see db_claim_run).
#define DB_STALE_AFTER_S 900.0

typedef struct Db Db;

// ---------------------------------------------------------------------------------------------
// Opening.

// Open PATH for reading and writing, creating it (and its parent directories) with the current
// schema when missing or empty, and migrating an older t2 schema in one transaction. Refused with
// one clear message, without modifying the file: a file that is not an SQLite database, an SQLite
// database that is not a t2 one (it has tables but no t2 application id), a t2 database of a newer
// schema version.
int db_open(Db **out, const char *path);
// Open an existing t2 database of the current schema read-only (merge inputs, reports), also in a
// directory this process cannot write (then as SQLite's immutable file when it was closed cleanly;
// refused, saying why, when its write-ahead log holds commits that need a -shm file there).
int db_open_readonly(Db **out, const char *path);
// Was it opened read-only? (Writers skip what they would store, e.g. fits made for a report.)
int db_is_readonly(const Db *db);
void db_close(Db *db);

const char *db_path(const Db *db);
// For tests and tools: change how long a writer waits for a lock, and when a claim goes stale.
int db_set_busy_timeout(Db *db, int ms);
void db_set_stale_after(Db *db, double seconds);

// PRAGMA quick_check: 0 when it finds nothing wrong; 1 after err_set("PATH: the database is
// damaged (PRAGMA quick_check: first problem); restore it from a copy"). Reads the whole file.
int db_quick_check(Db *db);

// meta(key, value): facts about the database: application ("t2"), created_by, created_at,
// schema_version, set at creation; callers may add their own keys.
int db_set_meta(Db *db, const char *key, const char *value);
// 0 and *value (heap string), 1 when the key is absent, -1 on error.
int db_get_meta(Db *db, const char *key, char **value);

// ---------------------------------------------------------------------------------------------
// Sweeps and runs.

// Register a sweep. The same name with the same spec hash is a no-op (a re-run of the sweep);
// the same name with another hash is refused ("... was created from a different spec ..."), and so
// is a second sweep name: run ids are the sweep's grid indices, so one database holds one sweep.
int db_register_sweep(Db *db, const char *name, const char *spec_json, const char *spec_hash);

typedef enum { DB_RUN_PENDING, DB_RUN_RUNNING, DB_RUN_DONE, DB_RUN_DIVERGED, DB_RUN_FAILED } DbRunStatus;
#define DB_RUN_N_STATUS (DB_RUN_FAILED + 1)
const char *db_status_name(DbRunStatus s);
// -1 when NAME is not a status.
int db_status_parse(const char *name, DbRunStatus *out);

// The static facts of one run of a sweep's grid (strings are borrowed, not copied).
typedef struct {
    int run_id; // grid index, 0..R-1 in --dry-run order
    const char *sweep;
    const char *config_json; // canonical JSON of the run (run_config_json)
    const char *config_hash; // FNV-1a 64 of config_json, 16 hex digits
    int n_layer, d_model, n_head, d_ff, tied, seq_len, batch_size, vocab_size;
    long n_params, n_params_nonembed;
    long train_steps, train_tokens;
    double train_flops;      // exact matmul + attention count
    double train_flops_6nd;  // 6 N D
    const char *budget_kind; // "train_flops", "tokens_per_param" or "tokens"
    double budget;           // the budget value as written in the spec
    long seed;
    int family_idx, budget_idx, seed_idx;
} DbRunRow;

// Fill ROW from a parsed spec's run. CONFIG_JSON (from run_config_json) stays owned by the caller
// and must outlive ROW; HASH_BUF receives its hash, which ROW points to.
void db_run_row_from_spec(DbRunRow *row, const Spec *s, const RunSpec *r, const char *config_json,
                          char hash_buf[17]);

// INSERT OR IGNORE the pending rows of a grid, in one transaction. A run id that exists with a
// different config hash is refused (the database belongs to another spec). *n_inserted (may be
// NULL) receives how many rows were new.
int db_insert_runs(Db *db, const DbRunRow *rows, size_t n, size_t *n_inserted);

// One row of `runs`, static facts and state. Strings are owned (db_run_free).
typedef struct {
    int run_id;
    char *sweep, *config_json, *config_hash, *git_sha, *budget_kind, *lib_versions;
    int n_layer, d_model, n_head, d_ff, tied, seq_len, batch_size, vocab_size;
    long n_params, n_params_nonembed, train_steps, train_tokens;
    double train_flops, train_flops_6nd, budget;
    long seed;
    int family_idx, budget_idx, seed_idx, threads;
    DbRunStatus status;
    long step;                                                   // last checkpointed step
    long progress;                                               // last step reported by a heartbeat
    double final_loss, val_loss, wall_s;                         // NAN when NULL
    double answer_loss;                                          // NAN when NULL (text; older t2)
    char *checkpoint, *error, *owner, *started_at, *finished_at; // NULL when NULL
    // checkpoint: the path to open, resolved from what runs.checkpoint stores (db_checkpoint_resolve)
    double heartbeat;                                            // unix time, 0 when NULL
    int attempts;
} DbRun;

// 0 and *out filled; 1 when there is no such run (no error message); -1 on error.
int db_get_run(Db *db, int run_id, DbRun *out);
// Every run, ordered by run_id. Free with db_runs_free.
int db_get_runs(Db *db, DbRun **out, size_t *n);
void db_run_free(DbRun *r);
void db_runs_free(DbRun *runs, size_t n);

// ---------------------------------------------------------------------------------------------
// Claiming. A process runs a run only after claiming it; the claim is one BEGIN IMMEDIATE
// transaction, so two processes never both win the same run.

// "hostname:pid" of this process: the owner string db_claim_run expects.
void db_owner_self(char out[300]);

typedef enum {
    DB_CLAIM_NONE,   // not claimed: done, held by a live owner, or failed without retry_failed
    DB_CLAIM_FRESH,  // claimed; start from step 0 (its old train_log rows were deleted)
    DB_CLAIM_RESUME, // claimed; resume from `checkpoint` at `step`
} DbClaimKind;

typedef struct {
    DbClaimKind kind;
    DbRunStatus prev; // status before the claim
    long step;        // RESUME: last checkpointed step
    char *checkpoint; // RESUME: the checkpoint recorded for it (heap, db_claim_free)
    char *holder;     // NONE while running: the live owner (heap)
    int attempts;     // after the claim
} DbClaim;

// Claim RUN_ID for OWNER ("host:pid", see db_owner_self), recording THREADS, the git revision
// and the library versions (lib_versions_json) with the fields of the JSON object RUN_KERNELS
// added (this run's precision and kernel path; NULL adds nothing):
//   pending                        -> running (fresh, or resume when a checkpoint is recorded);
//   running, owner stale           -> running (resume). Stale: the owner is a dead pid on this
//                                     host, or its heartbeat is older than the stale timeout;
//   done                           -> not claimed;
//   failed / diverged              -> running (fresh) only with RETRY_FAILED.
// Every claim adds one to attempts. A run id that is not in the database is an error.
int db_claim_run(Db *db, int run_id, const char *owner, int threads, const char *run_kernels, int retry_failed,
                 DbClaim *claim);
void db_claim_free(DbClaim *claim);

// The following act only while OWNER holds the run (status running, owner matches); otherwise
// they fail with "run N is no longer held by OWNER (status S, owner O)": the claim was taken over
// and the caller must stop.
// Heartbeat: the run is alive and at training step STEP (runs.progress).
int db_heartbeat(Db *db, int run_id, const char *owner, long step);
// A checkpoint of the run at STEP is on disk at PATH (write the file first, then call this).
// runs.checkpoint stores it as db_checkpoint_ref does.
int db_set_checkpoint(Db *db, int run_id, const char *owner, const char *path, long step);
// Give the run back (e.g. on SIGINT): running -> pending; its checkpoint stays for a resume.
int db_release_run(Db *db, int run_id, const char *owner);
// The run ended: STATUS is done, diverged or failed. ERROR (may be NULL) says why it failed.
// The losses (NAN: NULL): final_loss, the mean training loss of the last steps; val_loss, the
// held-out loss on the validation rows; answer_loss, the held-out loss on answer tokens and EOS.
int db_finish_run(Db *db, int run_id, const char *owner, DbRunStatus status, double final_loss,
                  double val_loss, double answer_loss, double wall_s, const char *error);

// ---------------------------------------------------------------------------------------------
// Training log.

typedef struct {
    long step;
    long tokens; // tokens seen after this step
    double loss, lr, grad_norm;
    double wall_s; // seconds since the run started (this attempt and the ones before)
} TrainLogRow;

// Write a batch of rows in one transaction, INSERT OR REPLACE (a resumed run logs again the
// steps after its last checkpoint). Flush the batch before writing a checkpoint.
int db_log_train(Db *db, int run_id, const TrainLogRow *rows, size_t n);

// ---------------------------------------------------------------------------------------------
// Evaluation.

typedef struct {
    long problem_id;
    const char *prompt, *target;
} DbProblem;

// INSERT OR IGNORE the problems of TASK/SPLIT. A problem id stored with another prompt or
// target is refused (the task changed under the database).
int db_insert_problems(Db *db, const char *task, const char *split, const DbProblem *p, size_t n);

// The sampling settings that identify an eval of a run (the natural key of `evals`).
typedef struct {
    double temperature, top_p;
    long n_samples;
    int max_new_tokens;
} DbEvalKey;

// A row of `evals`.
typedef struct {
    int run_id;
    DbEvalKey key;
    double infer_flops;     // exact, all samples (prefill once per problem + every decode step)
    double infer_flops_2nk; // 2 N (generated tokens)
    double prefill_flops, decode_flops;
    long gen_tokens, n_problems;
    double wall_s;
    long eval_id; // read back only: db_write_eval assigns it
} DbEval;

// A row of `samples` (also what sweep/eval.h produces). The strings are the owner's: heap copies
// from db_read_samples and eval_sample, borrowed by db_write_eval and db_rescore_eval.
typedef struct {
    long problem_id, sample_idx;
    char *completion; // generated text, EOS excluded
    char *answer;     // normalised; NULL when none could be extracted
    int correct;      // 0/1
    int n_tokens;     // generated tokens, EOS included
    double logprob;   // sum of log p of the generated tokens at temperature 1
} DbSample;

// A row of `gold`.
typedef struct {
    long problem_id;
    double logprob; // teacher-forced log P(target EOS | BOS prompt)
    int n_tokens;   // target tokens scored, EOS included
} DbGold;

// A row of `metrics`.
typedef struct {
    const char *metric; // "pass", "maj" or "pass_analytic"
    long k;
    double value;
} DbMetric;

// Write one eval — its evals row, all samples, the run's gold rows (INSERT OR IGNORE: they depend
// on the model only) and the metrics — in ONE transaction, so no reader and no crash ever sees
// half an eval. The run must be done. Returns 0 and *eval_id (may be NULL), 1 when an eval with
// the same key already exists (nothing written, *eval_id is the existing one), -1 on error
// (nothing written).
int db_write_eval(Db *db, const DbEval *e, const DbSample *samples, size_t n_samples, const DbGold *gold,
                  size_t n_gold, const DbMetric *metrics, size_t n_metrics, long *eval_id);

// Evaluations are claimed like runs, so that two sweeps on one database never evaluate a run
// with the same settings at the same time. The run must be done. Returns 0 when OWNER now holds
// the claim; 1 when it does not: the eval exists already, or another owner holds a claim that is
// not stale (same rule as runs); -1 on error. The claim ends when db_write_eval stores the eval
// (in the same transaction) or with db_release_eval; refresh it with db_heartbeat_eval during an
// evaluation longer than a few minutes.
int db_claim_eval(Db *db, int run_id, const DbEvalKey *key, const char *owner);
int db_heartbeat_eval(Db *db, int run_id, const DbEvalKey *key, const char *owner);
int db_release_eval(Db *db, int run_id, const DbEvalKey *key, const char *owner);

// The eval of RUN_ID with KEY: 0 and *eval_id, 1 when there is none, -1 on error.
int db_find_eval(Db *db, int run_id, const DbEvalKey *key, long *eval_id);

// Samples of an eval ordered by (problem_id, sample_idx), strings owned: free with db_samples_free.
int db_read_samples(Db *db, long eval_id, DbSample **out, size_t *n);
void db_samples_free(DbSample *s, size_t n);

// Per problem (db_samples.c), ordered by problem_id: the distinct answers of an eval's samples
// with how many samples gave each and whether it is correct (answer NULL: the samples with no
// extractable answer, last in their problem), and the sample and correct counts.
typedef struct {
    long problem_id;
    char *answer; // heap, or NULL
    long count;
    int correct;
} DbAnswerGroup;
int db_answer_groups(Db *db, long eval_id, DbAnswerGroup **out, size_t *n);
void db_answer_groups_free(DbAnswerGroup *g, size_t n);

typedef struct {
    long problem_id;
    long n, correct;
} DbProblemCount;
int db_problem_counts(Db *db, long eval_id, DbProblemCount **out, size_t *n);

// Rescore an eval in one transaction: set answer and correct of the given samples (matched by
// problem_id, sample_idx; may be n_samples = 0) and replace all of its metrics.
int db_rescore_eval(Db *db, long eval_id, const DbSample *samples, size_t n_samples, const DbMetric *metrics,
                    size_t n_metrics);

// Done runs that have no eval with KEY, ordered by run_id (heap array, free()).
int db_runs_lacking_eval(Db *db, const DbEvalKey *key, int **run_ids, size_t *n);

// ---------------------------------------------------------------------------------------------
// Fits.

typedef struct {
    const char *law;
    const char *params_json; // {"A": ..., "E": ...}
    const char *ci_json;     // {"A": [lo, hi], ...} or NULL
    long n_points;
    double objective;
    int converged;
    const char *source;       // what was fitted: "db" or the CSV path
    const char *options_json; // fit options (bootstrap, delta, ...) or NULL
    long fit_id;              // read back only: db_insert_fit assigns it
} DbFit;

// On a database opened read-only nothing is stored and *fit_id is 0.
int db_insert_fit(Db *db, const DbFit *f, long *fit_id);

// ---------------------------------------------------------------------------------------------
// Reading results back (db_read.c). Arrays are heap (free(), or the named free function); a NULL
// real reads as NAN.

// The sweep the database holds: 0 and *name, *spec_json (heap), 1 when there is none, -1 on error
// (a stored spec that no longer matches its hash is reported as damage to the database).
int db_get_sweep(Db *db, char **name, char **spec_json);
// The train_log rows of RUN_ID, by step.
int db_read_train_log(Db *db, int run_id, TrainLogRow **out, size_t *n);
// The evals row EVAL_ID: 0 and *out, 1 when there is none, -1 on error.
int db_get_eval(Db *db, long eval_id, DbEval *out);
// The evals of RUN_ID (of every run when RUN_ID < 0), by eval_id.
int db_list_evals(Db *db, int run_id, DbEval **out, size_t *n);
// The metrics of EVAL_ID (metric names owned: db_metrics_free).
int db_read_metrics(Db *db, long eval_id, DbMetric **out, size_t *n);
void db_metrics_free(DbMetric *m, size_t n);
// The gold rows of RUN_ID, by problem_id.
int db_read_gold(Db *db, int run_id, DbGold **out, size_t *n);
// Visit the converged fits of LAW made from SOURCE, newest first, until VISIT returns 0 (the
// strings of F live for the call only). 0 when a visit returned 0, 1 when none did, -1 on error.
typedef int (*DbFitVisit)(void *ctx, const DbFit *f);
int db_find_fit(Db *db, const char *law, const char *source, DbFitVisit visit, void *ctx);

// ---------------------------------------------------------------------------------------------
// Merge (t2 merge): combine shard databases into OUT, created when missing. Every input is
// checked before OUT is opened: a t2 database of the current schema, not OUT itself, and the
// sweeps of all inputs and OUT agree. Then, one transaction per input: sweeps and problems are
// united; each run takes its most advanced state (done > diverged > failed > running > pending,
// then the higher checkpointed step; a tie keeps OUT's row) and with it its train_log and gold;
// evals of done runs are added under their natural key (eval ids re-mapped) with their samples
// and metrics; fits are appended unless an identical one is there. Idempotent.
typedef struct {
    size_t runs_added, runs_updated, evals_added, problems_added, fits_added;
} DbMergeStats;

int db_merge(const char *out_path, const char *const *in_paths, size_t n_in, DbMergeStats *stats);

// Checkpoint paths in runs.checkpoint resolve from the database's own directory, so that any
// working directory (and a copied or moved results directory) finds them: a checkpoint inside
// that directory is stored relative to it ("demo/run-3.ckpt" beside results/demo.db), one
// elsewhere as an absolute path. db_checkpoint_resolve turns a stored value back into a path to
// open; a value stored by t2 before this rule (relative to the working directory it ran in) is
// taken as it is when it resolves to no file from the database's directory but does from here.
char *db_checkpoint_ref(const Db *db, const char *path);
char *db_checkpoint_resolve(const Db *db, const char *stored);

// db_spec.c: results/NAME.db, the default database of a spec.
char *default_db_path(const Spec *s);
// Where the checkpoints of a database live by default: beside it, named after it: the path
// without its ".db" ("results/demo.db" -> "results/demo"), or PATH.ckpt when it has no ".db".
char *db_checkpoint_dir(const char *db_path);
// Open (creating) the database of a spec, registering its sweep and inserting its grid of runs.
int open_spec_db(Db **db, const Spec *s, const char *path);
// The spec stored with a database's sweep, parsed again.
int spec_from_db(Db *db, Spec *s);

#endif
