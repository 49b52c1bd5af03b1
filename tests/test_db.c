// test_db.c — the results database: schema and refusals, claiming under concurrency and crashes,
// training-log batches, atomic evals, and `t2 merge`.
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/db_impl.h"
#include "testutil.h"
#include "util/util.h"

// ---------------------------------------------------------------------------------------------
// Helpers.

#define SWEEP "demo"
#define SPEC_JSON "{\"name\":\"demo\"}"
#define SPEC_HASH "7d3af448ecd3ab49" // FNV-1a 64 of SPEC_JSON, as t2 stores it

static long long q_int(Db *db, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db->h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *q_text(Db *db, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db->h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(st, 0);
    char *s = xstrdup(t ? (const char *)t : "(null)");
    sqlite3_finalize(st);
    return s;
}

static void q_exec(Db *db, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) fail_msg("%s: %s", sql, msg);
}

// Run configs of a fake grid: JSON and hash per run id.
typedef struct {
    char json[64];
    char hash[17];
    DbRunRow row;
} FakeRun;

static void fake_run(FakeRun *f, int run_id, int variant) {
    snprintf(f->json, sizeof f->json, "{\"run\":%d,\"variant\":%d}", run_id, variant);
    hex64(fnv1a64(f->json, strlen(f->json)), f->hash);
    f->row = (DbRunRow){
        .run_id = run_id,
        .sweep = SWEEP,
        .config_json = f->json,
        .config_hash = f->hash,
        .n_layer = 2,
        .d_model = 64 * (1 + run_id % 2),
        .n_head = 4,
        .d_ff = 176,
        .tied = 0,
        .seq_len = 64,
        .batch_size = 32,
        .vocab_size = 16,
        .n_params = 100000 + run_id,
        .n_params_nonembed = 90000 + run_id,
        .train_steps = 100,
        .train_tokens = 204800,
        .train_flops = 1.5e12 + run_id,
        .train_flops_6nd = 1.2e12,
        .budget_kind = "train_flops",
        .budget = 1e12,
        .seed = 1,
        .family_idx = run_id % 2,
        .budget_idx = run_id / 2,
        .seed_idx = 0,
    };
}

// A new database at DIR/NAME holding the sweep and N_RUNS pending runs.
static Db *grid_db(const char *dir, const char *name, int n_runs) {
    char *path = xasprintf("%s/%s", dir, name);
    Db *db;
    if (db_open(&db, path) != 0) fail_msg("%s", err_msg());
    free(path);
    assert_int_equal(db_register_sweep(db, SWEEP, SPEC_JSON, SPEC_HASH), 0);
    FakeRun *f = xcalloc((size_t)n_runs, sizeof *f);
    DbRunRow *rows = xcalloc((size_t)n_runs, sizeof *rows);
    for (int i = 0; i < n_runs; i++) {
        fake_run(&f[i], i, 0);
        rows[i] = f[i].row;
    }
    size_t added;
    if (db_insert_runs(db, rows, (size_t)n_runs, &added) != 0) fail_msg("%s", err_msg());
    assert_int_equal(added, n_runs);
    free(rows);
    free(f);
    return db;
}

static char *slurp(const char *path, size_t *n) {
    char *s = read_file(path, n);
    if (!s) fail_msg("%s", err_msg());
    return s;
}

static void assert_same_bytes(const char *a, size_t na, const char *b, size_t nb) {
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
}

static void other_owner(char out[300]) {
    // A live process that is not us: our parent.
    char host[256];
    gethostname(host, sizeof host);
    host[255] = '\0';
    snprintf(out, 300, "%s:%ld", host, (long)getppid());
}

// A pid that belonged to a process of ours and is free now.
static pid_t dead_pid(void) {
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child); // reaped: the pid no longer exists
    return child;
}

// ---------------------------------------------------------------------------------------------
// Schema and refusals.

static void test_create_and_reopen(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    char *path = xasprintf("%s/sub/dir/demo.db", dir); // parent directories are created
    Db *db;
    if (db_open(&db, path) != 0) fail_msg("%s", err_msg());
    assert_int_equal(q_int(db, "PRAGMA user_version"), DB_SCHEMA_VERSION);
    assert_int_equal(q_int(db, "PRAGMA application_id"), DB_APPLICATION_ID);
    assert_int_equal(q_int(db, "PRAGMA foreign_keys"), 1);
    char *mode = q_text(db, "PRAGMA journal_mode");
    assert_string_equal(mode, "wal");
    free(mode);
    assert_true(q_int(db, "PRAGMA busy_timeout") >= 60000);
    char *app;
    assert_int_equal(db_get_meta(db, "application", &app), 0);
    assert_string_equal(app, "t2");
    free(app);
    assert_int_equal(db_get_meta(db, "no such key", &app), 1);
    assert_null(app);
    assert_int_equal(db_set_meta(db, "note", "shard 3 of 8"), 0);
    assert_int_equal(db_get_meta(db, "note", &app), 0);
    assert_string_equal(app, "shard 3 of 8");
    free(app);
    // The docs/SPEC.md §4 columns users rely on.
    static const char *const cols[] = {
        "runs.run_id",
        "runs.sweep",
        "runs.config_json",
        "runs.config_hash",
        "runs.git_sha",
        "runs.n_layer",
        "runs.d_model",
        "runs.n_head",
        "runs.seq_len",
        "runs.vocab_size",
        "runs.n_params",
        "runs.n_params_nonembed",
        "runs.train_tokens",
        "runs.train_flops",
        "runs.train_flops_6nd",
        "runs.seed",
        "runs.threads",
        "runs.status",
        "runs.final_loss",
        "runs.val_loss",
        "runs.answer_loss",
        "runs.wall_s",
        "runs.checkpoint",
        "train_log.run_id",
        "train_log.step",
        "train_log.tokens",
        "train_log.loss",
        "train_log.lr",
        "train_log.grad_norm",
        "train_log.wall_s",
        "problems.task",
        "problems.split",
        "problems.problem_id",
        "problems.prompt",
        "problems.target",
        "evals.eval_id",
        "evals.run_id",
        "evals.temperature",
        "evals.top_p",
        "evals.n_samples",
        "evals.max_new_tokens",
        "evals.infer_flops",
        "evals.infer_flops_2nk",
        "evals.wall_s",
        "samples.eval_id",
        "samples.problem_id",
        "samples.sample_idx",
        "samples.completion",
        "samples.answer",
        "samples.correct",
        "samples.n_tokens",
        "samples.logprob",
        "gold.run_id",
        "gold.problem_id",
        "gold.logprob",
        "metrics.eval_id",
        "metrics.metric",
        "metrics.k",
        "metrics.value",
        "fits.fit_id",
        "fits.law",
        "fits.params_json",
        "fits.ci_json",
        "fits.n_points",
        "fits.objective",
        "fits.created_at",
        "sweeps.spec_hash",
        "meta.value",
    };
    for (size_t i = 0; i < ARRAY_LEN(cols); i++) {
        char table[32];
        const char *dot = strchr(cols[i], '.');
        snprintf(table, sizeof table, "%.*s", (int)(dot - cols[i]), cols[i]);
        char *sql =
            xasprintf("SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'", table, dot + 1);
        if (q_int(db, sql) != 1) fail_msg("missing column %s", cols[i]);
        free(sql);
    }
    db_close(db);

    // Reopen: same schema, data kept, inserting the grid again adds nothing.
    db = grid_db(dir, "sub/dir/demo.db", 3);
    db_close(db);
    if (db_open(&db, path) != 0) fail_msg("%s", err_msg());
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs WHERE status = 'pending'"), 3);
    FakeRun f;
    fake_run(&f, 1, 0);
    size_t added = 99;
    assert_int_equal(db_insert_runs(db, &f.row, 1, &added), 0);
    assert_int_equal(added, 0);
    DbRun r;
    assert_int_equal(db_get_run(db, 1, &r), 0);
    assert_string_equal(r.config_json, f.json);
    assert_int_equal(r.d_model, 128);
    assert_int_equal(r.status, DB_RUN_PENDING);
    assert_true(isnan(r.final_loss));
    assert_null(r.checkpoint);
    db_run_free(&r);
    assert_int_equal(db_get_run(db, 7, &r), 1);
    db_close(db);
    // An empty file (e.g. from mktemp) becomes a database: migration from version 0.
    char *empty = write_text(dir, "empty.db", "");
    if (db_open(&db, empty) != 0) fail_msg("%s", err_msg());
    assert_int_equal(q_int(db, "PRAGMA user_version"), DB_SCHEMA_VERSION);
    db_close(db);
    free(empty);
    free(path);
    tmpdir_remove(dir);
}

// Opening PATH must fail with a message containing WANT and leave the file byte-identical.
static void assert_refused_untouched(const char *path, const char *want) {
    size_t n0, n1;
    char *before = slurp(path, &n0);
    Db *db = NULL;
    assert_int_equal(db_open(&db, path), -1);
    assert_null(db);
    if (!strstr(err_msg(), want) || !strstr(err_msg(), path))
        fail_msg("message '%s' lacks '%s' or the path", err_msg(), want);
    assert_int_equal(db_open_readonly(&db, path), -1);
    assert_null(db);
    char *after = slurp(path, &n1);
    assert_same_bytes(before, n0, after, n1);
    free(before);
    free(after);
}

// A database of schema version 1 (before runs.answer_loss) is migrated on open: its rows kept,
// the new column NULL, the migration recorded in meta.
static void test_migration_from_v1(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "v1.db", 2);
    q_exec(db, "ALTER TABLE runs DROP COLUMN answer_loss; PRAGMA user_version = 1");
    db_close(db);
    char *path = xasprintf("%s/v1.db", dir);
    if (db_open(&db, path) != 0) fail_msg("%s", err_msg());
    assert_int_equal(q_int(db, "PRAGMA user_version"), DB_SCHEMA_VERSION);
    assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'answer_loss'"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs"), 2);
    char *by;
    assert_int_equal(db_get_meta(db, "migrated_by", &by), 0);
    free(by);
    DbRun r;
    assert_int_equal(db_get_run(db, 1, &r), 0);
    assert_true(isnan(r.answer_loss));
    db_run_free(&r);
    db_close(db);
    free(path);
    tmpdir_remove(dir);
}

static void test_future_version_refused(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "future.db", 2);
    q_exec(db, "PRAGMA user_version = 7");
    db_close(db);
    char *path = xasprintf("%s/future.db", dir);
    assert_refused_untouched(path, "schema version 7, newer than this t2");
    free(path);
    tmpdir_remove(dir);
}

static void test_foreign_sqlite_refused(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    char *path = xasprintf("%s/other.db", dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "CREATE TABLE runs (x); INSERT INTO runs VALUES (1);", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    assert_refused_untouched(path, "not a t2 results database");
    free(path);
    tmpdir_remove(dir);
}

static void test_not_a_database_refused(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    char text[2048];
    for (size_t i = 0; i < sizeof text - 1; i++)
        text[i] = (char)('a' + i % 26);
    text[sizeof text - 1] = '\0';
    char *path = write_text(dir, "notes.db", text);
    assert_refused_untouched(path, "not an SQLite database");
    free(path);
    tmpdir_remove(dir);
}

static void test_sweep_registration(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "s.db", 2);
    assert_int_equal(db_register_sweep(db, SWEEP, SPEC_JSON, SPEC_HASH), 0); // a re-run
    assert_int_equal(db_register_sweep(db, SWEEP, "{}", "00000000000000d2"), -1);
    char *want = xasprintf("%s/s.db: sweep 'demo' was created from a different spec (hash %s); this spec "
                           "has hash 00000000000000d2: use another --db",
                           dir, SPEC_HASH);
    assert_string_equal(err_msg(), want);
    free(want);
    assert_int_equal(db_register_sweep(db, "other", "{}", SPEC_HASH), -1);
    assert_non_null(strstr(err_msg(), "holds sweep 'demo'"));
    // A run id stored with another config is refused, and nothing of that batch is kept.
    FakeRun f[2];
    fake_run(&f[0], 5, 0);
    fake_run(&f[1], 0, 1);
    DbRunRow rows[2] = {f[0].row, f[1].row};
    assert_int_equal(db_insert_runs(db, rows, 2, NULL), -1);
    assert_non_null(strstr(err_msg(), "run 0 is stored with sweep 'demo' and config hash"));
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs"), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sweeps"), 1);
    db_close(db);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Claiming.

static void claim_ok(Db *db, int run_id, const char *owner, int retry, DbClaim *c) {
    if (db_claim_run(db, run_id, owner, 2, NULL, retry, c) != 0) fail_msg("%s", err_msg());
}

static void test_claim_once(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "c.db", 2);
    char me[300], other[300];
    db_owner_self(me);
    other_owner(other);
    DbClaim c;
    claim_ok(db, 0, me, 0, &c);
    assert_int_equal(c.kind, DB_CLAIM_FRESH);
    assert_int_equal(c.prev, DB_RUN_PENDING);
    assert_int_equal(c.attempts, 1);
    db_claim_free(&c);
    // A second claimant (alive, fresh heartbeat) does not get it and learns who holds it.
    claim_ok(db, 0, other, 0, &c);
    assert_int_equal(c.kind, DB_CLAIM_NONE);
    assert_int_equal(c.prev, DB_RUN_RUNNING);
    assert_string_equal(c.holder, me);
    db_claim_free(&c);
    // Only the holder may report on the run.
    assert_int_equal(db_heartbeat(db, 0, other, 5), -1);
    assert_non_null(strstr(err_msg(), "is no longer held by"));
    assert_int_equal(db_heartbeat(db, 0, me, 5), 0);
    DbRun r;
    assert_int_equal(db_get_run(db, 0, &r), 0);
    assert_int_equal(r.status, DB_RUN_RUNNING);
    assert_string_equal(r.owner, me);
    assert_int_equal(r.progress, 5);
    assert_int_equal(r.threads, 2);
    assert_string_equal(r.git_sha, t2_git_sha());
    assert_non_null(strstr(r.lib_versions, "\"sqlite\""));
    assert_true(r.heartbeat > 1e9);
    db_run_free(&r);
    // Done runs are skipped.
    assert_int_equal(db_finish_run(db, 0, me, DB_RUN_DONE, 1.25, 1.5, 1.75, 12.0, NULL), 0);
    claim_ok(db, 0, me, 1, &c);
    assert_int_equal(c.kind, DB_CLAIM_NONE);
    assert_int_equal(c.prev, DB_RUN_DONE);
    db_claim_free(&c);
    assert_int_equal(db_get_run(db, 0, &r), 0);
    assert_int_equal(r.status, DB_RUN_DONE);
    assert_true(r.final_loss == 1.25 && r.val_loss == 1.5 && r.answer_loss == 1.75 && r.wall_s == 12.0);
    assert_non_null(r.finished_at);
    assert_int_equal(r.attempts, 1);
    db_run_free(&r);
    // A finished run cannot be finished again, nor can an unknown run be claimed.
    assert_int_equal(db_finish_run(db, 0, me, DB_RUN_DONE, 1.0, 1.0, 1.0, 1.0, NULL), -1);
    assert_int_equal(db_claim_run(db, 42, me, 1, NULL, 0, &c), -1);
    assert_non_null(strstr(err_msg(), "no run 42"));
    assert_int_equal(db_finish_run(db, 1, me, DB_RUN_PENDING, 1.0, 1.0, 1.0, 1.0, NULL), -1);
    db_close(db);
    tmpdir_remove(dir);
}

static void test_claim_stale_dead_pid(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "s.db", 1);
    pid_t child = dead_pid();
    char host[256], dead[300], me[300];
    gethostname(host, sizeof host);
    host[255] = '\0';
    snprintf(dead, sizeof dead, "%s:%ld", host, (long)child);
    db_owner_self(me);
    DbClaim c;
    claim_ok(db, 0, dead, 0, &c);
    assert_int_equal(c.kind, DB_CLAIM_FRESH);
    db_claim_free(&c);
    TrainLogRow rows[3] = {
        {0, 10, 3.0, 1e-3, 1.0, 0.1}, {10, 110, 2.0, 1e-3, 1.0, 1.0}, {20, 210, 1.5, 1e-3, 1.0, 2.0}};
    assert_int_equal(db_log_train(db, 0, rows, 3), 0);
    assert_int_equal(db_set_checkpoint(db, 0, dead, "/ckpt/run-0.ckpt", 10), 0);
    // The dead owner's claim is stale: resumed from its checkpoint, train_log kept.
    claim_ok(db, 0, me, 0, &c);
    assert_int_equal(c.kind, DB_CLAIM_RESUME);
    assert_int_equal(c.prev, DB_RUN_RUNNING);
    assert_int_equal(c.step, 10);
    assert_string_equal(c.checkpoint, "/ckpt/run-0.ckpt");
    assert_int_equal(c.attempts, 2);
    db_claim_free(&c);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log WHERE run_id = 0"), 3);
    assert_int_equal(db_heartbeat(db, 0, dead, 30), -1); // the old owner lost it
    assert_int_equal(db_heartbeat(db, 0, me, 30), 0);
    db_close(db);
    tmpdir_remove(dir);
}

// An owner that exited but was never reaped (a zombie: the children of a killed sweep under an
// init that does not reap orphans) is dead too, although kill(pid, 0) still finds it.
static void test_claim_stale_zombie(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "z.db", 1);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) _exit(0);
    char stat_path[64], *stat = NULL;
    snprintf(stat_path, sizeof stat_path, "/proc/%ld/stat", (long)child);
    for (int tries = 0; tries < 500; tries++) { // until it has exited (not reaped: we never wait)
        free(stat);
        stat = read_file(stat_path, NULL);
        if (stat && strstr(stat, ") Z ")) break;
        usleep(2000);
    }
    assert_non_null(stat);
    assert_non_null(strstr(stat, ") Z "));
    free(stat);
    assert_int_equal(kill(child, 0), 0);
    char host[256], zombie[300], me[300];
    gethostname(host, sizeof host);
    host[255] = '\0';
    snprintf(zombie, sizeof zombie, "%s:%ld", host, (long)child);
    db_owner_self(me);
    DbClaim c;
    claim_ok(db, 0, zombie, 0, &c);
    db_claim_free(&c);
    claim_ok(db, 0, me, 0, &c);
    assert_int_equal(c.kind, DB_CLAIM_FRESH);
    assert_int_equal(c.prev, DB_RUN_RUNNING);
    db_claim_free(&c);
    assert_int_equal(waitpid(child, NULL, 0), child);
    db_close(db);
    tmpdir_remove(dir);
}

static void test_claim_stale_heartbeat(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "h.db", 1);
    char me[300];
    db_owner_self(me);
    const char *remote = "some-other-host.example:1"; // cannot be checked from here
    DbClaim c;
    claim_ok(db, 0, remote, 0, &c);
    db_claim_free(&c);
    TrainLogRow row = {0, 10, 3.0, 1e-3, 1.0, 0.1};
    assert_int_equal(db_log_train(db, 0, &row, 1), 0);
    claim_ok(db, 0, me, 0, &c);
    assert_int_equal(c.kind, DB_CLAIM_NONE); // heartbeat fresh
    db_claim_free(&c);
    db_set_stale_after(db, 600);
    q_exec(db, "UPDATE runs SET heartbeat = heartbeat - 601 WHERE run_id = 0");
    claim_ok(db, 0, me, 0, &c);
    // Stale, and no checkpoint was recorded: a fresh start that forgets the old log.
    assert_int_equal(c.kind, DB_CLAIM_FRESH);
    assert_int_equal(c.attempts, 2);
    db_claim_free(&c);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log WHERE run_id = 0"), 0);
    db_close(db);
    tmpdir_remove(dir);
}

static void test_retry_failed_and_release(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "r.db", 2);
    char me[300];
    db_owner_self(me);
    DbClaim c;
    // failed and diverged: claimed only with retry_failed, and then from scratch.
    const DbRunStatus bad[2] = {DB_RUN_FAILED, DB_RUN_DIVERGED};
    for (int run = 0; run < 2; run++) {
        claim_ok(db, run, me, 0, &c);
        db_claim_free(&c);
        assert_int_equal(db_set_checkpoint(db, run, me, "x.ckpt", 40), 0);
        assert_int_equal(db_finish_run(db, run, me, bad[run], NAN, NAN, NAN, 3.0, "loss is nan"), 0);
        claim_ok(db, run, me, 0, &c);
        assert_int_equal(c.kind, DB_CLAIM_NONE);
        assert_int_equal(c.prev, bad[run]);
        db_claim_free(&c);
        claim_ok(db, run, me, 1, &c);
        assert_int_equal(c.kind, DB_CLAIM_FRESH);
        assert_int_equal(c.attempts, 2);
        db_claim_free(&c);
        DbRun r;
        assert_int_equal(db_get_run(db, run, &r), 0);
        assert_null(r.error);
        assert_null(r.checkpoint);
        assert_int_equal(r.step, 0);
        db_run_free(&r);
    }
    // Release (SIGINT): back to pending with the checkpoint, so the next claim resumes.
    // Recorded relative to the database's directory, read back as a path to open.
    char *ckpt = xasprintf("%s/r/run-0.ckpt", dir);
    assert_int_equal(db_set_checkpoint(db, 0, me, ckpt, 50), 0);
    assert_int_equal(db_release_run(db, 0, me), 0);
    assert_int_equal(db_release_run(db, 0, me), -1); // no longer held
    DbRun r;
    assert_int_equal(db_get_run(db, 0, &r), 0);
    assert_int_equal(r.status, DB_RUN_PENDING);
    assert_null(r.owner);
    db_run_free(&r);
    claim_ok(db, 0, me, 0, &c);
    assert_int_equal(c.kind, DB_CLAIM_RESUME);
    assert_int_equal(c.prev, DB_RUN_PENDING);
    assert_int_equal(c.step, 50);
    assert_string_equal(c.checkpoint, ckpt);
    assert_int_equal(q_int(db, "SELECT checkpoint = 'r/run-0.ckpt' FROM runs WHERE run_id = 0"), 1);
    free(ckpt);
    db_claim_free(&c);
    db_close(db);
    tmpdir_remove(dir);
}

// Two processes start together on a database that does not exist yet, each creates it (or finds
// it created), registers the sweep, inserts the grid and claims every run it can. Every run must
// be claimed exactly once overall.
#define RACE_RUNS 40

static void race_child(const char *path, int go_fd, int report_fd) {
    char c;
    if (read(go_fd, &c, 1) < 0) _exit(2); // barrier: EOF when the parent releases everyone
    Db *db;
    if (db_open(&db, path) != 0 || db_register_sweep(db, SWEEP, SPEC_JSON, SPEC_HASH) != 0) {
        fprintf(stderr, "child: %s\n", err_msg());
        _exit(3);
    }
    FakeRun f[RACE_RUNS];
    DbRunRow rows[RACE_RUNS];
    for (int i = 0; i < RACE_RUNS; i++) {
        fake_run(&f[i], i, 0);
        rows[i] = f[i].row;
    }
    if (db_insert_runs(db, rows, RACE_RUNS, NULL) != 0) _exit(4);
    char me[300];
    db_owner_self(me);
    for (int i = 0; i < RACE_RUNS; i++) {
        DbClaim cl;
        if (db_claim_run(db, i, me, 1, NULL, 0, &cl) != 0) {
            fprintf(stderr, "child: %s\n", err_msg());
            _exit(5);
        }
        if (cl.kind != DB_CLAIM_NONE) {
            unsigned char id = (unsigned char)i;
            if (write(report_fd, &id, 1) != 1) _exit(6);
            if (db_finish_run(db, i, me, DB_RUN_DONE, 1.0, 1.0, 1.0, 0.0, NULL) != 0) _exit(7);
        }
        db_claim_free(&cl);
    }
    db_close(db);
    _exit(0);
}

static void test_claim_race_two_processes(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    char *path = xasprintf("%s/race.db", dir);
    int go[2], rep[2][2];
    assert_int_equal(pipe(go), 0);
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pipe(rep[k]), 0);
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            close(go[1]);
            close(rep[k][0]);
            race_child(path, go[0], rep[k][1]);
        }
        close(rep[k][1]);
    }
    close(go[0]);
    close(go[1]); // go
    int claimed_by[RACE_RUNS];
    for (int i = 0; i < RACE_RUNS; i++)
        claimed_by[i] = -1;
    for (int k = 0; k < 2; k++) {
        unsigned char id;
        while (read(rep[k][0], &id, 1) == 1) {
            assert_true(id < RACE_RUNS);
            if (claimed_by[id] != -1) fail_msg("run %d claimed by both processes", id);
            claimed_by[id] = k;
        }
        close(rep[k][0]);
    }
    for (int k = 0; k < 2; k++) {
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("child %d failed with status %d", k, st);
    }
    for (int i = 0; i < RACE_RUNS; i++)
        assert_true(claimed_by[i] >= 0);
    Db *db;
    if (db_open(&db, path) != 0) fail_msg("%s", err_msg());
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs WHERE status = 'done' AND attempts = 1"),
                     RACE_RUNS);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sweeps"), 1);
    db_close(db);
    free(path);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Training log.

static void test_train_log_batches(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "t.db", 1);
    TrainLogRow rows[30];
    for (int i = 0; i < 30; i++)
        rows[i] =
            (TrainLogRow){i * 10, (long)i * 20480, 4.0 / (1 + i), 3e-3 * (i + 1) / 30, 0.5 + i, 0.25 * i};
    rows[7].grad_norm = NAN; // stored as NULL
    for (int b = 0; b < 3; b++)
        assert_int_equal(db_log_train(db, 0, rows + 10 * b, 10), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log"), 30);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log WHERE grad_norm IS NULL AND step = 70"), 1);
    // Exact round trip of the doubles.
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db->h,
                                        "SELECT step, tokens, loss, lr, wall_s FROM train_log ORDER BY step",
                                        -1, &st, NULL),
                     SQLITE_OK);
    for (int i = 0; i < 30; i++) {
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), rows[i].step);
        assert_int_equal(sqlite3_column_int64(st, 1), rows[i].tokens);
        assert_true(sqlite3_column_double(st, 2) == rows[i].loss);
        assert_true(sqlite3_column_double(st, 3) == rows[i].lr);
        assert_true(sqlite3_column_double(st, 4) == rows[i].wall_s);
    }
    sqlite3_finalize(st);
    // A resumed run logs steps 200..290 again: replaced, not duplicated.
    for (int i = 20; i < 30; i++)
        rows[i].loss = 9.0;
    assert_int_equal(db_log_train(db, 0, rows + 20, 10), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log"), 30);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log WHERE loss = 9.0"), 10);
    // A batch for a run that does not exist is refused whole (foreign key), naming the database.
    assert_int_equal(db_log_train(db, 5, rows, 10), -1);
    char *want = xasprintf("%s/t.db: insert train_log:", dir);
    if (strncmp(err_msg(), want, strlen(want)) != 0) fail_msg("unexpected message: %s", err_msg());
    free(want);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log"), 30);
    db_close(db);
    tmpdir_remove(dir);
}

// A child writes batches of train_log rows as fast as it can and is killed with SIGKILL at a
// random moment; the database must open, pass integrity_check and hold whole batches only.
#define KILL_BATCH 64

static void kill_child(const char *path, int ready_fd) {
    Db *db;
    if (db_open(&db, path) != 0) _exit(2);
    TrainLogRow rows[KILL_BATCH];
    for (long b = 0;; b++) {
        for (int i = 0; i < KILL_BATCH; i++) {
            long step = b * KILL_BATCH + i;
            rows[i] = (TrainLogRow){step, step * 100, 1.0 / (1.0 + (double)step), 1e-3, 1.0, (double)step};
        }
        if (db_log_train(db, 0, rows, KILL_BATCH) != 0) _exit(3);
        if (b == 2 && write(ready_fd, "r", 1) != 1) _exit(4);
    }
}

static void test_kill9_keeps_whole_batches(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "k.db", 1);
    db_close(db);
    char *path = xasprintf("%s/k.db", dir);
    srand((unsigned)time(NULL));
    for (int round = 0; round < 6; round++) {
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(ready[0]);
            kill_child(path, ready[1]);
        }
        close(ready[1]);
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
        close(ready[0]);
        usleep((useconds_t)(rand() % 20000)); // somewhere inside some later batch
        assert_int_equal(kill(pid, SIGKILL), 0);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

        if (db_open(&db, path) != 0) fail_msg("reopen after kill -9: %s", err_msg());
        char *ok = q_text(db, "PRAGMA integrity_check");
        assert_string_equal(ok, "ok");
        free(ok);
        long long n = q_int(db, "SELECT count(*) FROM train_log WHERE run_id = 0");
        assert_true(n >= 3 * KILL_BATCH);
        assert_int_equal(n % KILL_BATCH, 0);
        assert_int_equal(q_int(db, "SELECT max(step) FROM train_log WHERE run_id = 0"), n - 1);
        db_close(db);
    }
    free(path);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Evals.

#define N_PROB 3
#define N_SAMP 4

// Train run RUN_ID (unless it is done already) with a deterministic training log and add an eval
// at temperature TEMP. Every value depends on the run id only, so two databases filled alike hold
// the same content.
static long finish_and_eval(Db *db, int run_id, double temp) {
    const char *owner = "worker-host:4242";
    DbClaim c;
    if (db_claim_run(db, run_id, owner, 2, NULL, 0, &c) != 0) fail_msg("%s", err_msg());
    DbClaimKind kind = c.kind;
    db_claim_free(&c);
    if (kind != DB_CLAIM_NONE) {
        TrainLogRow log[5];
        for (int i = 0; i < 5; i++)
            log[i] = (TrainLogRow){i * 20, i * 20 * 2048L, 3.0 - 0.1 * i - 0.01 * run_id, 1e-3, 0.5, i * 0.5};
        assert_int_equal(db_log_train(db, run_id, log, 5), 0);
        assert_int_equal(db_set_checkpoint(db, run_id, owner, "results/demo/run.ckpt", 100), 0);
        assert_int_equal(
            db_finish_run(db, run_id, owner, DB_RUN_DONE, 2.5 - 0.01 * run_id, 2.6, 0.5 + 0.01 * run_id, 10.0 + run_id, NULL), 0);
    }

    DbSample s[N_PROB * N_SAMP];
    char comp[N_PROB * N_SAMP][16];
    for (int p = 0; p < N_PROB; p++)
        for (int k = 0; k < N_SAMP; k++) {
            int i = p * N_SAMP + k;
            snprintf(comp[i], sizeof comp[i], "%d", (p + k + run_id) % 5);
            s[i] = (DbSample){
                p, k, comp[i], k == 3 ? NULL : comp[i], (p + k + run_id) % 5 == 0, 2, -0.5 * (k + 1)};
        }
    DbGold g[N_PROB];
    for (int p = 0; p < N_PROB; p++)
        g[p] = (DbGold){p, -1.0 - 0.1 * p - 0.01 * run_id, 3};
    DbMetric m[] = {
        {"pass", 1, 0.25 + 0.01 * run_id}, {"pass", 4, 0.5}, {"maj", 1, 0.2}, {"pass_analytic", 4, 0.75}};
    DbEval e = {.run_id = run_id,
                .key = {temp, 1.0, N_SAMP, 8},
                .infer_flops = 1e9 + run_id,
                .infer_flops_2nk = 9e8,
                .prefill_flops = 1e8,
                .decode_flops = 9e8,
                .gen_tokens = 24,
                .n_problems = N_PROB,
                .wall_s = 0.5};
    long id = -1;
    if (db_write_eval(db, &e, s, ARRAY_LEN(s), g, ARRAY_LEN(g), m, ARRAY_LEN(m), &id) != 0)
        fail_msg("%s", err_msg());
    return id;
}

static void add_problems(Db *db) {
    DbProblem p[N_PROB] = {{0, "1+2=", "3"}, {1, "2+2=", "4"}, {2, "3+4=", "7"}};
    assert_int_equal(db_insert_problems(db, "add", "eval", p, N_PROB), 0);
}

static void test_eval_roundtrip_and_rescore(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "e.db", 3);
    add_problems(db);
    add_problems(db); // idempotent
    DbProblem changed = {1, "2+2=", "5"};
    assert_int_equal(db_insert_problems(db, "add", "eval", &changed, 1), -1);
    assert_non_null(strstr(err_msg(), "the task changed"));
    assert_int_equal(q_int(db, "SELECT count(*) FROM problems"), N_PROB);

    DbEvalKey key = {1.0, 1.0, N_SAMP, 8};
    int *ids;
    size_t n;
    assert_int_equal(db_runs_lacking_eval(db, &key, &ids, &n), 0);
    assert_int_equal(n, 0); // nothing done yet
    free(ids);
    long id = finish_and_eval(db, 1, 1.0);
    (void)finish_and_eval(db, 2, 0.5);
    assert_int_equal(db_runs_lacking_eval(db, &key, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 2); // run 2 has only a temperature-0.5 eval
    free(ids);
    long found;
    assert_int_equal(db_find_eval(db, 1, &key, &found), 0);
    assert_int_equal(found, id);
    DbEvalKey other = {0.7, 1.0, N_SAMP, 8};
    assert_int_equal(db_find_eval(db, 1, &other, &found), 1);

    // The same eval again is reported, not duplicated.
    DbEval e = {.run_id = 1, .key = key};
    long again = -1;
    assert_int_equal(db_write_eval(db, &e, NULL, 0, NULL, 0, NULL, 0, &again), 1);
    assert_int_equal(again, id);
    // A run that is not done cannot be evaluated.
    DbEval e0 = {.run_id = 0, .key = key};
    assert_int_equal(db_write_eval(db, &e0, NULL, 0, NULL, 0, NULL, 0, NULL), -1);
    assert_non_null(strstr(err_msg(), "run 0 is pending, not done"));

    DbSample *s;
    assert_int_equal(db_read_samples(db, id, &s, &n), 0);
    assert_int_equal(n, N_PROB * N_SAMP);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].problem_id, (long)i / N_SAMP);
        assert_int_equal(s[i].sample_idx, (long)i % N_SAMP);
        if (s[i].sample_idx == 3)
            assert_null(s[i].answer);
        else
            assert_string_equal(s[i].answer, s[i].completion);
        assert_true(s[i].logprob == -0.5 * (double)(s[i].sample_idx + 1));
    }
    assert_int_equal(q_int(db, "SELECT count(*) FROM gold WHERE run_id = 1"), N_PROB);
    // Rescore: every sample correct now, metrics replaced.
    for (size_t i = 0; i < n; i++)
        s[i].correct = 1;
    DbMetric m[] = {{"pass", 1, 1.0}, {"maj", 4, 1.0}};
    assert_int_equal(db_rescore_eval(db, id, s, n, m, 2), 0);
    char *sql = xasprintf("SELECT count(*) FROM samples WHERE eval_id = %ld AND correct = 1", id);
    assert_int_equal(q_int(db, sql), N_PROB * N_SAMP);
    free(sql);
    sql = xasprintf("SELECT count(*) || ':' || sum(value) FROM metrics WHERE eval_id = %ld", id);
    char *t = q_text(db, sql);
    assert_string_equal(t, "2:2.0");
    free(t);
    free(sql);
    // A rescore naming a sample that does not exist changes nothing.
    s[0].sample_idx = 99;
    s[1].correct = 0;
    DbSample two[2] = {s[1], s[0]};
    assert_int_equal(db_rescore_eval(db, id, two, 2, NULL, 0), -1);
    sql = xasprintf("SELECT count(*) FROM metrics WHERE eval_id = %ld", id);
    assert_int_equal(q_int(db, sql), 2);
    free(sql);
    db_samples_free(s, n);
    db_close(db);
    tmpdir_remove(dir);
}

// What the layers above read back (db_read.c): the sweep, training log, evals, metrics, gold, fits.
static int accept_fit_with(void *ctx, const DbFit *f) { return strstr(f->params_json, ctx) ? 0 : 1; }
static int note_fit_id(void *ctx, const DbFit *f) {
    long *seen = ctx;
    seen[++seen[0]] = f->fit_id;
    return 1;
}

static void test_read_back(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "r.db", 3);
    char *name, *json;
    assert_int_equal(db_get_sweep(db, &name, &json), 0);
    assert_string_equal(name, SWEEP);
    assert_string_equal(json, SPEC_JSON);
    free(name), free(json);
    long id1 = finish_and_eval(db, 1, 1.0), id2 = finish_and_eval(db, 1, 0.5);

    TrainLogRow *log;
    size_t n;
    assert_int_equal(db_read_train_log(db, 1, &log, &n), 0);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(log[i].step, 20 * (long)i);
        assert_int_equal(log[i].tokens, 20 * 2048L * (long)i);
        assert_true(log[i].loss == 3.0 - 0.1 * (double)i - 0.01);
    }
    free(log);
    assert_int_equal(db_read_train_log(db, 0, &log, &n), 0);
    assert_int_equal(n, 0);
    free(log);

    DbEval e;
    assert_int_equal(db_get_eval(db, id2, &e), 0);
    assert_int_equal(e.eval_id, id2);
    assert_int_equal(e.run_id, 1);
    assert_true(e.key.temperature == 0.5 && e.key.top_p == 1.0);
    assert_int_equal(e.key.n_samples, N_SAMP);
    assert_int_equal(e.key.max_new_tokens, 8);
    assert_true(e.infer_flops == 1e9 + 1 && e.prefill_flops == 1e8 && e.wall_s == 0.5);
    assert_int_equal(e.gen_tokens, 24);
    assert_int_equal(e.n_problems, N_PROB);
    assert_int_equal(db_get_eval(db, id2 + 100, &e), 1);
    DbEval *evs;
    assert_int_equal(db_list_evals(db, 1, &evs, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(evs[0].eval_id, id1);
    assert_int_equal(evs[1].eval_id, id2);
    free(evs);
    assert_int_equal(db_list_evals(db, -1, &evs, &n), 0);
    assert_int_equal(n, 2);
    free(evs);
    assert_int_equal(db_list_evals(db, 2, &evs, &n), 0);
    assert_int_equal(n, 0);
    free(evs);

    DbMetric *m;
    assert_int_equal(db_read_metrics(db, id1, &m, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(m[0].metric, "maj"); // by metric, then k
    assert_string_equal(m[1].metric, "pass");
    assert_int_equal(m[1].k, 1);
    assert_true(m[1].value == 0.25 + 0.01);
    assert_string_equal(m[3].metric, "pass_analytic");
    db_metrics_free(m, n);
    DbGold *g;
    assert_int_equal(db_read_gold(db, 1, &g, &n), 0);
    assert_int_equal(n, N_PROB);
    for (size_t p = 0; p < n; p++) {
        assert_int_equal(g[p].problem_id, (long)p);
        assert_true(g[p].logprob == -1.0 - 0.1 * (double)p - 0.01);
        assert_int_equal(g[p].n_tokens, 3);
    }
    free(g);

    // Fits: converged ones of the law and source only, newest first, until the visitor accepts.
    DbFit fits[] = {{"chinchilla", "{\"E\":1}", NULL, 6, 0.1, 1, "db", NULL},
                    {"chinchilla", "{\"E\":2}", NULL, 6, 0.1, 1, "db", "{}"},
                    {"chinchilla", "{\"E\":3}", NULL, 6, 0.1, 0, "db", NULL},
                    {"chinchilla", "{\"E\":4}", NULL, 6, 0.1, 1, "data.csv", NULL},
                    {"t2-loss", "{\"E\":5}", NULL, 6, 0.1, 1, "db", NULL}};
    long ids[ARRAY_LEN(fits)];
    for (size_t i = 0; i < ARRAY_LEN(fits); i++) assert_int_equal(db_insert_fit(db, &fits[i], &ids[i]), 0);
    assert_int_equal(db_find_fit(db, "chinchilla", "db", accept_fit_with, "\"E\":1"), 0);
    assert_int_equal(db_find_fit(db, "chinchilla", "db", accept_fit_with, "\"E\":3"), 1); // not converged
    assert_int_equal(db_find_fit(db, "chinchilla", "db", accept_fit_with, "\"E\":4"), 1); // another source
    assert_int_equal(db_find_fit(db, "chinchilla", "data.csv", accept_fit_with, "\"E\":4"), 0);
    assert_int_equal(db_find_fit(db, "coverage", "db", accept_fit_with, "E"), 1);
    long seen[8] = {0};
    assert_int_equal(db_find_fit(db, "chinchilla", "db", note_fit_id, seen), 1);
    assert_int_equal(seen[0], 2);
    assert_int_equal(seen[1], ids[1]);
    assert_int_equal(seen[2], ids[0]);
    db_close(db);
    tmpdir_remove(dir);
}

static void test_eval_atomic(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "a.db", 1);
    DbClaim c;
    char me[300];
    db_owner_self(me);
    claim_ok(db, 0, me, 0, &c);
    db_claim_free(&c);
    assert_int_equal(db_finish_run(db, 0, me, DB_RUN_DONE, 1.0, 1.0, 1.0, 1.0, NULL), 0);
    DbSample s[2] = {{0, 0, "3", "3", 1, 2, -0.1}, {0, 1, "4", "4", 0, 2, -0.2}};
    DbGold g[1] = {{0, -0.3, 2}};
    // The last metric violates the metric CHECK: the whole eval must vanish.
    DbMetric m[2] = {{"pass", 1, 0.5}, {"best", 1, 0.5}};
    DbEval e = {.run_id = 0, .key = {1.0, 1.0, 2, 8}, .n_problems = 1};
    assert_int_equal(db_write_eval(db, &e, s, 2, g, 1, m, 2, NULL), -1);
    char *want = xasprintf("%s/a.db: write eval of run 0: CHECK constraint failed", dir);
    if (strncmp(err_msg(), want, strlen(want)) != 0) fail_msg("unexpected message: %s", err_msg());
    free(want);
    assert_int_equal(q_int(db, "SELECT (SELECT count(*) FROM evals) + (SELECT count(*) FROM samples) + "
                               "(SELECT count(*) FROM gold) + (SELECT count(*) FROM metrics)"),
                     0);
    // Corrected, it goes in whole.
    m[1].metric = "maj";
    assert_int_equal(db_write_eval(db, &e, s, 2, g, 1, m, 2, NULL), 0);
    assert_int_equal(q_int(db, "SELECT (SELECT count(*) FROM evals) + (SELECT count(*) FROM samples) + "
                               "(SELECT count(*) FROM gold) + (SELECT count(*) FROM metrics)"),
                     1 + 2 + 1 + 2);
    DbFit f = {"chinchilla", "{\"E\":1.5}", NULL, 12, 0.01, 1, "db", "{\"delta\":0.001}"};
    long fit_id = 0;
    assert_int_equal(db_insert_fit(db, &f, &fit_id), 0);
    assert_true(fit_id > 0);
    char *law =
        q_text(db, "SELECT law || ' ' || params_json || ' ' || n_points || ' ' || converged FROM fits");
    assert_string_equal(law, "chinchilla {\"E\":1.5} 12 1");
    free(law);
    db_close(db);
    tmpdir_remove(dir);
}

static void test_eval_claims(void **state) {
    (void)state;
    char *dir = tmpdir_make("db");
    Db *db = grid_db(dir, "ec.db", 1);
    char me[300], other[300], dead[300], host[256];
    db_owner_self(me);
    other_owner(other);
    gethostname(host, sizeof host);
    host[255] = '\0';
    snprintf(dead, sizeof dead, "%s:%ld", host, (long)dead_pid());
    DbEvalKey key = {1.0, 0.95, 8, 16};
    assert_int_equal(db_claim_eval(db, 0, &key, me), -1); // not trained yet
    assert_non_null(strstr(err_msg(), "not done"));
    DbClaim c;
    claim_ok(db, 0, me, 0, &c);
    db_claim_free(&c);
    assert_int_equal(db_finish_run(db, 0, me, DB_RUN_DONE, 1.0, 1.0, 1.0, 1.0, NULL), 0);

    assert_int_equal(db_claim_eval(db, 0, &key, me), 0);
    assert_int_equal(db_claim_eval(db, 0, &key, me), 0);    // already ours
    assert_int_equal(db_claim_eval(db, 0, &key, other), 1); // a live owner has it
    DbEvalKey key2 = key;
    key2.temperature = 0.5;
    assert_int_equal(db_claim_eval(db, 0, &key2, other), 0); // other settings are another eval
    assert_int_equal(db_heartbeat_eval(db, 0, &key, me), 0);
    assert_int_equal(db_heartbeat_eval(db, 0, &key, other), -1);
    assert_non_null(strstr(err_msg(), "no longer held"));
    assert_int_equal(db_release_eval(db, 0, &key, other), -1);
    assert_int_equal(db_release_eval(db, 0, &key, me), 0);
    // A dead evaluator's claim is taken over.
    assert_int_equal(db_claim_eval(db, 0, &key, dead), 0);
    assert_int_equal(db_claim_eval(db, 0, &key, me), 0);
    assert_int_equal(db_heartbeat_eval(db, 0, &key, dead), -1);
    // Storing the eval ends every claim on it; then there is nothing left to claim.
    DbEval e = {.run_id = 0, .key = key, .n_problems = 0};
    assert_int_equal(db_write_eval(db, &e, NULL, 0, NULL, 0, NULL, 0, NULL), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM eval_claims WHERE temperature = 1.0"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM eval_claims"), 1); // key2's
    assert_int_equal(db_claim_eval(db, 0, &key, me), 1);
    db_close(db);
    tmpdir_remove(dir);
}

static void test_run_row_from_spec(void **state) {
    (void)state;
    Spec *s = xcalloc(1, sizeof *s);
    snprintf(s->name, sizeof s->name, "demo");
    s->train.seq_len = 64;
    s->train.batch_size = 32;
    s->budgets.kind = BUDGET_TOKENS_PER_PARAM;
    RunSpec r = {.run_id = 3,
                 .family_idx = 1,
                 .budget_idx = 0,
                 .seed_idx = 1,
                 .model = {.n_layer = 4,
                           .d_model = 128,
                           .n_head = 4,
                           .d_ff = 344,
                           .vocab_size = 16,
                           .seq_len = 64,
                           .tied = 1},
                 .seed = 2,
                 .budget = 20,
                 .steps = 300,
                 .train_tokens = 614400,
                 .n_params = 800000,
                 .n_params_nonembed = 790000,
                 .train_flops = 3.1e12,
                 .train_flops_6nd = 2.9e12};
    const char *json = "{\"n_layer\":4}";
    char hash[17];
    DbRunRow row;
    db_run_row_from_spec(&row, s, &r, json, hash);
    char want[17];
    hex64(fnv1a64(json, strlen(json)), want);
    assert_string_equal(row.config_hash, want);
    assert_ptr_equal(row.config_json, json);
    assert_string_equal(row.sweep, "demo");
    assert_string_equal(row.budget_kind, "tokens_per_param");
    assert_int_equal(row.run_id, 3);
    assert_int_equal(row.n_layer, 4);
    assert_int_equal(row.d_ff, 344);
    assert_int_equal(row.tied, 1);
    assert_int_equal(row.seq_len, 64);
    assert_int_equal(row.batch_size, 32);
    assert_int_equal(row.train_steps, 300);
    assert_int_equal(row.train_tokens, 614400);
    assert_int_equal(row.n_params, 800000);
    assert_true(row.train_flops == 3.1e12 && row.train_flops_6nd == 2.9e12 && row.budget == 20);
    assert_int_equal(row.seed, 2);
    assert_int_equal(row.family_idx, 1);
    assert_int_equal(row.seed_idx, 1);
    free(s);
}

// ---------------------------------------------------------------------------------------------
// Merge.

// A text dump of every table in a fixed order. Evals are named by their natural key instead of
// eval_id; with VOLATILE = 0 the columns that record when or by which merge something was
// written (timestamps, heartbeat, row ids) are left out.
static void dump_query(sqlite3 *h, const char *sql, int volatile_too, char **buf, size_t *len, size_t *cap) {
    static const char *const skip[] = {"eval_id",    "fit_id",      "created_at",
                                       "started_at", "finished_at", "heartbeat"};
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            int skipped = 0;
            for (size_t k = 0; !volatile_too && k < ARRAY_LEN(skip); k++)
                skipped |= strcmp(sqlite3_column_name(st, i), skip[k]) == 0;
            if (skipped) continue;
            char cell[4096];
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL: snprintf(cell, sizeof cell, "NULL|"); break;
            case SQLITE_INTEGER:
                snprintf(cell, sizeof cell, "%lld|", (long long)sqlite3_column_int64(st, i));
                break;
            case SQLITE_FLOAT: snprintf(cell, sizeof cell, "%.17g|", sqlite3_column_double(st, i)); break;
            default: snprintf(cell, sizeof cell, "'%s'|", (const char *)sqlite3_column_text(st, i)); break;
            }
            size_t n = strlen(cell);
            while (*len + n + 2 > *cap)
                *buf = xrealloc(*buf, *cap *= 2);
            memcpy(*buf + *len, cell, n);
            *len += n;
        }
        (*buf)[(*len)++] = '\n';
    }
    sqlite3_finalize(st);
}

static char *dump_db(const char *path, int volatile_too) {
    static const char *const queries[] = {
        "SELECT name, spec_json, spec_hash, created_at FROM sweeps ORDER BY name",
        "SELECT * FROM runs ORDER BY run_id",
        "SELECT * FROM train_log ORDER BY run_id, step",
        "SELECT * FROM problems ORDER BY task, split, problem_id",
        "SELECT * FROM evals ORDER BY run_id, temperature, top_p, n_samples, max_new_tokens",
        "SELECT e.run_id, e.temperature, e.top_p, e.n_samples, e.max_new_tokens, s.* FROM samples s "
        "JOIN evals e ON e.eval_id = s.eval_id ORDER BY 1, 2, 3, 4, 5, s.problem_id, s.sample_idx",
        "SELECT e.run_id, e.temperature, e.top_p, e.n_samples, e.max_new_tokens, m.* FROM metrics m "
        "JOIN evals e ON e.eval_id = m.eval_id ORDER BY 1, 2, 3, 4, 5, m.metric, m.k",
        "SELECT * FROM gold ORDER BY run_id, problem_id",
        "SELECT * FROM fits ORDER BY law, params_json, created_at",
    };
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    for (size_t q = 0; q < ARRAY_LEN(queries); q++) {
        dump_query(h, queries[q], volatile_too, &buf, &len, &cap);
        buf[len++] = '#';
    }
    buf[len] = '\0';
    sqlite3_close(h);
    return buf;
}

static void merge_ok(const char *out, const char *a, const char *b) {
    RunResult r = b ? run_t2("merge", out, a, b, NULL) : run_t2("merge", out, a, NULL);
    if (r.status != 0) fail_msg("t2 merge failed (%d): %s", r.status, r.err);
    assert_non_null(strstr(r.out, "merged"));
    run_free(&r);
}

static void add_fit(Db *db, const char *law) {
    DbFit f = {law, "{\"E\":1.5,\"A\":400}", "{\"E\":[1.4,1.6]}", 6, 0.002, 1, "db", NULL};
    assert_int_equal(db_insert_fit(db, &f, NULL), 0);
}

static void test_merge_shards_equal_single(void **state) {
    (void)state;
    char *dir = tmpdir_make("merge");
    const int R = 6;
    // The reference: one database where every run was done.
    Db *one = grid_db(dir, "one.db", R);
    add_problems(one);
    for (int i = 0; i < R; i++)
        finish_and_eval(one, i, 1.0);
    finish_and_eval(one, 4, 0.5); // a second eval setting for one run
    // Shards: the whole grid pending in each, even runs done in A, odd ones in B.
    Db *a = grid_db(dir, "a.db", R), *b = grid_db(dir, "b.db", R);
    add_problems(a);
    add_problems(b);
    for (int i = R - 1; i >= 0; i--)
        finish_and_eval(i % 2 ? b : a, i, 1.0); // other eval_id order
    finish_and_eval(a, 4, 0.5);
    // A fit made in shard A (and, for the reference, in the single database).
    add_fit(a, "chinchilla");
    add_fit(one, "chinchilla");
    db_close(a);
    db_close(b);
    db_close(one);
    char *pa = xasprintf("%s/a.db", dir), *pb = xasprintf("%s/b.db", dir);
    char *po = xasprintf("%s/out/merged.db", dir), *p1 = xasprintf("%s/one.db", dir);

    merge_ok(po, pa, pb);
    char *want = dump_db(p1, 0), *got = dump_db(po, 0);
    assert_string_equal(got, want);
    free(got);
    // Merging again, in either order, changes nothing at all.
    char *full = dump_db(po, 1);
    merge_ok(po, pb, pa);
    merge_ok(po, pa, NULL);
    got = dump_db(po, 1);
    assert_string_equal(got, full);
    free(got);
    free(full);
    free(want);
    Db *db;
    if (db_open(&db, po) != 0) fail_msg("%s", err_msg());
    char *ok = q_text(db, "PRAGMA integrity_check");
    assert_string_equal(ok, "ok");
    free(ok);
    assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    db_close(db);
    free(pa);
    free(pb);
    free(po);
    free(p1);
    tmpdir_remove(dir);
}

static void test_merge_most_advanced_wins(void **state) {
    (void)state;
    char *dir = tmpdir_make("merge");
    // A: run 0 running with a checkpoint at 40, run 1 pending. B: run 0 done, run 1 running at 10.
    Db *a = grid_db(dir, "a.db", 2), *b = grid_db(dir, "b.db", 2);
    DbClaim c;
    claim_ok(a, 0, "host-a:1", 0, &c);
    db_claim_free(&c);
    TrainLogRow partial[2] = {{0, 0, 5.0, 1e-3, 1, 0}, {60, 6000, 4.0, 1e-3, 1, 1}};
    assert_int_equal(db_log_train(a, 0, partial, 2), 0);
    assert_int_equal(db_set_checkpoint(a, 0, "host-a:1", "a.ckpt", 40), 0);
    finish_and_eval(b, 0, 1.0);
    claim_ok(b, 1, "host-b:1", 0, &c);
    db_claim_free(&c);
    assert_int_equal(db_set_checkpoint(b, 1, "host-b:1", "b.ckpt", 10), 0);
    db_close(a);
    db_close(b);
    char *pa = xasprintf("%s/a.db", dir), *pb = xasprintf("%s/b.db", dir);
    char *ab = xasprintf("%s/ab.db", dir), *ba = xasprintf("%s/ba.db", dir);
    merge_ok(ab, pa, pb);
    merge_ok(ba, pb, pa);
    char *x = dump_db(ab, 0), *y = dump_db(ba, 0);
    assert_string_equal(x, y); // the order of the inputs does not matter
    free(x);
    free(y);
    Db *db;
    if (db_open(&db, ab) != 0) fail_msg("%s", err_msg());
    char *s = q_text(db, "SELECT group_concat(status || ':' || step || ':' || coalesce(owner, '-'), ' ') "
                         "FROM (SELECT * FROM runs ORDER BY run_id)");
    assert_string_equal(s, "done:100:worker-host:4242 running:10:host-b:1");
    free(s);
    // Run 0's log is B's (the done copy), not a mix with A's partial one.
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log WHERE run_id = 0"), 5);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log WHERE run_id = 0 AND step = 60"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM train_log WHERE loss = 4.0"), 0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM evals"), 1);
    db_close(db);
    free(pa);
    free(pb);
    free(ab);
    free(ba);
    tmpdir_remove(dir);
}

static void test_merge_refusals(void **state) {
    (void)state;
    char *dir = tmpdir_make("merge");
    Db *a = grid_db(dir, "a.db", 2);
    db_close(a);
    // c.db: the same sweep name from another spec.
    char *pc = xasprintf("%s/c.db", dir);
    Db *c;
    if (db_open(&c, pc) != 0) fail_msg("%s", err_msg());
    assert_int_equal(db_register_sweep(c, SWEEP, SPEC_JSON, "00000000000000ff"), 0);
    db_close(c);
    char *pa = xasprintf("%s/a.db", dir), *po = xasprintf("%s/out.db", dir);
    char *junk =
        write_text(dir, "junk.db", "this is not a database at all, just some text to fill a page......");

    RunResult r = run_t2("merge", po, pa, pc, NULL);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "t2: "));
    assert_non_null(strstr(r.err, "different spec"));
    assert_ptr_equal(strchr(r.err, '\n'), r.err + strlen(r.err) - 1); // one line
    run_free(&r);
    assert_false(file_exists(po)); // refused before OUT was created

    r = run_t2("merge", po, pa, junk, NULL);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "not an SQLite database"));
    run_free(&r);
    assert_false(file_exists(po));

    r = run_t2("merge", po, NULL);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "missing argument"));
    run_free(&r);

    // An existing OUT of another spec is refused and left as it was.
    merge_ok(po, pa, NULL);
    size_t n0, n1;
    char *before = slurp(po, &n0);
    r = run_t2("merge", po, pc, NULL);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "different spec"));
    run_free(&r);
    char *after = slurp(po, &n1);
    assert_same_bytes(before, n0, after, n1);
    free(before);
    free(after);
    // OUT cannot be one of its inputs.
    r = run_t2("merge", po, po, NULL);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "is the output database itself"));
    run_free(&r);
    free(pa);
    free(pc);
    free(po);
    free(junk);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_reopen),
        cmocka_unit_test(test_migration_from_v1),
        cmocka_unit_test(test_future_version_refused),
        cmocka_unit_test(test_foreign_sqlite_refused),
        cmocka_unit_test(test_not_a_database_refused),
        cmocka_unit_test(test_sweep_registration),
        cmocka_unit_test(test_claim_once),
        cmocka_unit_test(test_claim_stale_dead_pid),
        cmocka_unit_test(test_claim_stale_zombie),
        cmocka_unit_test(test_claim_stale_heartbeat),
        cmocka_unit_test(test_retry_failed_and_release),
        cmocka_unit_test(test_claim_race_two_processes),
        cmocka_unit_test(test_train_log_batches),
        cmocka_unit_test(test_kill9_keeps_whole_batches),
        cmocka_unit_test(test_eval_roundtrip_and_rescore),
        cmocka_unit_test(test_read_back),
        cmocka_unit_test(test_eval_atomic),
        cmocka_unit_test(test_eval_claims),
        cmocka_unit_test(test_run_row_from_spec),
        cmocka_unit_test(test_merge_shards_equal_single),
        cmocka_unit_test(test_merge_most_advanced_wins),
        cmocka_unit_test(test_merge_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
