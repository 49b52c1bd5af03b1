// db_merge.c — `t2 merge`: combine shard databases into one. Each input is checked first through
// a read-only connection; then it is ATTACHed read-only to OUT and copied in one transaction by
// INSERT ... SELECT, keyed by natural keys so that a second merge of the same input changes nothing.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db/db_impl.h"

// Every column of runs but run_id, in one order for both sides of a copy.
#define RUN_STATE_COLUMNS                                                                                    \
    "sweep, config_json, config_hash, git_sha, n_layer, d_model, n_head, d_ff, tied, seq_len, "              \
    "batch_size, vocab_size, n_params, n_params_nonembed, train_steps, train_tokens, train_flops, "          \
    "train_flops_6nd, budget_kind, budget, seed, family_idx, budget_idx, seed_idx, threads, "                \
    "lib_versions, status, step, progress, final_loss, val_loss, wall_s, checkpoint, error, "                \
    "owner, heartbeat, started_at, finished_at, attempts, answer_loss"
#define EVAL_COLUMNS                                                                                         \
    "run_id, temperature, top_p, n_samples, max_new_tokens, infer_flops, infer_flops_2nk, "                  \
    "prefill_flops, decode_flops, gen_tokens, n_problems, wall_s, created_at"
#define FIT_COLUMNS                                                                                          \
    "law, params_json, ci_json, n_points, objective, converged, source, options_json, created_at"

// How far a run got: the most advanced copy of a run wins a merge.
static int status_rank(DbRunStatus s) {
    switch (s) {
    case DB_RUN_PENDING: return 0;
    case DB_RUN_RUNNING: return 1;
    case DB_RUN_FAILED: return 2;
    case DB_RUN_DIVERGED: return 3;
    case DB_RUN_DONE: return 4;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Checks before OUT is touched.

typedef struct {
    char *name, *hash; // the sweep seen so far (NULL until one is)
    char *source;      // the file it came from (a copy: that database is closed by then)
} SweepSeen;

// The sweeps of DB must be the one sweep seen so far (or the first seen).
static int check_sweeps(Db *db, SweepSeen *seen) {
    const char *op = "read sweeps";
    sqlite3_stmt *st = db_prepare(db, "SELECT name, spec_hash FROM sweeps ORDER BY name", op);
    if (!st) return -1;
    int rc, result = 0;
    while (result == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *hash = (const char *)sqlite3_column_text(st, 1);
        if (!seen->name) {
            seen->name = xstrdup(name);
            seen->hash = xstrdup(hash);
            seen->source = xstrdup(db_path(db));
        } else if (strcmp(seen->name, name) != 0) {
            err_set("%s: holds sweep '%s' but %s holds sweep '%s': databases of different sweeps "
                    "cannot be merged",
                    db_path(db), name, seen->source, seen->name);
            result = -1;
        } else if (strcmp(seen->hash, hash) != 0) {
            err_set("%s: sweep '%s' was created from a different spec (hash %s) than in %s (hash %s): "
                    "refusing to merge",
                    db_path(db), name, hash, seen->source, seen->hash);
            result = -1;
        }
    }
    if (result == 0 && rc != SQLITE_DONE) result = db_fail_rc(db, op, rc);
    sqlite3_finalize(st);
    return result;
}

static int check_input(const char *path, const char *out_path, SweepSeen *seen) {
    if (same_file(path, out_path)) {
        err_set("%s: is the output database itself", path);
        return -1;
    }
    Db *db;
    if (db_open_readonly(&db, path) != 0) return -1;
    int rc = db_quick_check(db) == 0 ? 0 : -1;
    if (rc == 0) rc = check_sweeps(db, seen);
    db_close(db);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Copying one input (attached as "src") into main, inside one transaction.

// Run a statement taking (integer) parameters; -1 + err on failure. *changes gets rows changed.
static int exec_ids(Db *db, const char *sql, long long a, long long b, size_t *changes, const char *op) {
    sqlite3_stmt *st = db_prepare(db, sql, op);
    if (!st) return -1;
    Bind bd = bind_start(st);
    int n = sqlite3_bind_parameter_count(st);
    if (n >= 1) bind_int(&bd, a);
    if (n >= 2) bind_int(&bd, b);
    int rc = bd.rc != SQLITE_OK ? db_fail_rc(db, op, bd.rc) : db_step_done(db, st, op);
    sqlite3_finalize(st);
    if (rc == 0 && changes) *changes = (size_t)sqlite3_changes(db->h);
    return rc;
}

static int merge_sweeps(Db *db) {
    const char *op = "merge sweeps";
    long long conflicts;
    if (db_query_int(db,
                     "SELECT count(*) FROM src.sweeps s JOIN main.sweeps m ON m.name = s.name "
                     "WHERE m.spec_hash != s.spec_hash",
                     &conflicts, op) != 0)
        return -1;
    if (conflicts) {
        err_set("%s: a sweep of the input was created from a different spec than the same sweep in %s", op,
                db->path);
        return -1;
    }
    return exec_ids(
        db, "INSERT OR IGNORE INTO main.sweeps SELECT name, spec_json, spec_hash, created_at FROM src.sweeps",
        0, 0, NULL, op);
}

// Replace main's train_log and gold of a run by the input's (they go with the run's state).
static int copy_run_children(Db *db, int run_id, int replace, const char *op) {
    if (replace && (exec_ids(db, "DELETE FROM main.train_log WHERE run_id = ?", run_id, 0, NULL, op) != 0 ||
                    exec_ids(db, "DELETE FROM main.gold WHERE run_id = ?", run_id, 0, NULL, op) != 0))
        return -1;
    if (exec_ids(db,
                 "INSERT INTO main.train_log SELECT run_id, step, tokens, loss, lr, grad_norm, wall_s "
                 "FROM src.train_log WHERE run_id = ?",
                 run_id, 0, NULL, op) != 0)
        return -1;
    return exec_ids(db,
                    "INSERT OR IGNORE INTO main.gold SELECT run_id, problem_id, logprob, n_tokens "
                    "FROM src.gold WHERE run_id = ?",
                    run_id, 0, NULL, op);
}

typedef struct {
    int exists;
    DbRunStatus status;
    long step;
    char hash[64];
} RunState;

static int read_run_state(Db *db, sqlite3_stmt *st, int run_id, RunState *s, const char *op) {
    memset(s, 0, sizeof *s);
    sqlite3_reset(st);
    Bind b = bind_start(st);
    bind_int(&b, run_id);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return db_fail_rc(db, op, rc);
    s->exists = 1;
    const char *status = (const char *)sqlite3_column_text(st, 0);
    if (db_status_parse(status, &s->status) != 0) {
        err_set("%s: run %d has an unknown status '%s'", op, run_id, status ? status : "NULL");
        return -1;
    }
    s->step = (long)sqlite3_column_int64(st, 1);
    snprintf(s->hash, sizeof s->hash, "%s", (const char *)sqlite3_column_text(st, 2));
    return 0;
}

// Which copy of a run to keep: the input's when it got further.
static int input_wins(const RunState *in, const RunState *out) {
    int ri = status_rank(in->status), ro = status_rank(out->status);
    if (ri != ro) return ri > ro;
    // Same unfinished state: the later checkpoint. Two finished copies: keep OUT's.
    return (in->status == DB_RUN_PENDING || in->status == DB_RUN_RUNNING) && in->step > out->step;
}

// runs.checkpoint of a run just copied from the input IN_PATH resolves from the input's directory:
// store it as it resolves from OUT's.
static int rebase_checkpoint(Db *db, const char *in_path, int run_id, const char *op) {
    sqlite3_stmt *st = db_prepare(db, "SELECT checkpoint FROM main.runs WHERE run_id = ?", op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_int(&b, run_id);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    char *stored = rc == SQLITE_ROW ? col_text_dup(st, 0) : NULL;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return db_fail_rc(db, op, rc);
    if (!stored) return 0;
    char *path = checkpoint_resolve_from(in_path, stored), *ref = checkpoint_ref_from(db->path, path);
    st = db_prepare(db, "UPDATE main.runs SET checkpoint = ? WHERE run_id = ?", op);
    rc = -1;
    if (st) {
        b = bind_start(st);
        bind_text(&b, ref);
        bind_int(&b, run_id);
        rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
        sqlite3_finalize(st);
    }
    free(stored);
    free(path);
    free(ref);
    return rc;
}

static int merge_runs(Db *db, const char *in_path, DbMergeStats *stats) {
    const char *op = "merge runs";
    const char *state_sql = "SELECT status, step, config_hash FROM %s.runs WHERE run_id = ?";
    char *in_sql = xasprintf(state_sql, "src"), *out_sql = xasprintf(state_sql, "main");
    sqlite3_stmt *ids = db_prepare(db, "SELECT run_id FROM src.runs ORDER BY run_id", op);
    sqlite3_stmt *in_st = db_prepare(db, in_sql, op), *out_st = db_prepare(db, out_sql, op);
    free(in_sql);
    free(out_sql);
    int rc = ids && in_st && out_st ? 0 : -1, step_rc = SQLITE_DONE;
    while (rc == 0 && (step_rc = sqlite3_step(ids)) == SQLITE_ROW) {
        int run_id = sqlite3_column_int(ids, 0);
        RunState in, out;
        if (read_run_state(db, in_st, run_id, &in, op) != 0 ||
            read_run_state(db, out_st, run_id, &out, op) != 0) {
            rc = -1;
            break;
        }
        if (!out.exists) {
            rc = exec_ids(db,
                          "INSERT INTO main.runs (run_id, " RUN_STATE_COLUMNS
                          ") SELECT run_id, " RUN_STATE_COLUMNS " FROM src.runs WHERE run_id = ?",
                          run_id, 0, NULL, op);
            if (rc == 0) rc = rebase_checkpoint(db, in_path, run_id, op);
            if (rc == 0) rc = copy_run_children(db, run_id, 0, op);
            stats->runs_added++;
        } else if (strcmp(in.hash, out.hash) != 0) {
            err_set("%s: run %d has config hash %s in the input but %s in %s", op, run_id, in.hash, out.hash,
                    db->path);
            rc = -1;
        } else if (input_wins(&in, &out)) {
            rc = exec_ids(db,
                          "UPDATE main.runs SET (" RUN_STATE_COLUMNS ") = (SELECT " RUN_STATE_COLUMNS
                          " FROM src.runs WHERE run_id = ?1) WHERE run_id = ?1",
                          run_id, 0, NULL, op);
            if (rc == 0) rc = rebase_checkpoint(db, in_path, run_id, op);
            if (rc == 0) rc = copy_run_children(db, run_id, 1, op);
            stats->runs_updated++;
        }
    }
    if (rc == 0 && step_rc != SQLITE_DONE) rc = db_fail_rc(db, op, step_rc);
    sqlite3_finalize(ids);
    sqlite3_finalize(in_st);
    sqlite3_finalize(out_st);
    return rc;
}

// Evals of the input's done runs that main lacks (by natural key), with samples and metrics
// under the eval id they get in main, and the gold rows of those runs.
static int merge_evals(Db *db, DbMergeStats *stats) {
    const char *op = "merge evals";
    sqlite3_stmt *st = db_prepare(db,
                                  "SELECT s.eval_id, s.run_id FROM src.evals s JOIN main.runs r "
                                  "ON r.run_id = s.run_id AND r.status = 'done' WHERE NOT EXISTS "
                                  "(SELECT 1 FROM main.evals m WHERE m.run_id = s.run_id AND "
                                  "m.temperature = s.temperature AND m.top_p = s.top_p AND "
                                  "m.n_samples = s.n_samples AND m.max_new_tokens = s.max_new_tokens) "
                                  "ORDER BY s.eval_id",
                                  op);
    if (!st) return -1;
    int rc = 0, step_rc;
    // Collect first: the loop below writes to main.evals, which the query reads.
    size_t n = 0, cap = 16;
    long long(*todo)[2] = xmalloc(cap * sizeof *todo);
    while ((step_rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) todo = xrealloc(todo, (cap *= 2) * sizeof *todo);
        todo[n][0] = sqlite3_column_int64(st, 0);
        todo[n][1] = sqlite3_column_int64(st, 1);
        n++;
    }
    sqlite3_finalize(st);
    if (step_rc != SQLITE_DONE) rc = db_fail_rc(db, op, step_rc);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        long long old_id = todo[i][0], run_id = todo[i][1];
        rc = exec_ids(db,
                      "INSERT INTO main.evals (" EVAL_COLUMNS ") SELECT " EVAL_COLUMNS
                      " FROM src.evals WHERE eval_id = ?",
                      old_id, 0, NULL, op);
        if (rc != 0) break;
        long long new_id = sqlite3_last_insert_rowid(db->h);
        rc = exec_ids(db,
                      "INSERT INTO main.samples SELECT ?2, problem_id, sample_idx, completion, answer, "
                      "correct, n_tokens, logprob FROM src.samples WHERE eval_id = ?1",
                      old_id, new_id, NULL, op);
        if (rc == 0)
            rc = exec_ids(db,
                          "INSERT INTO main.metrics SELECT ?2, metric, k, value FROM src.metrics "
                          "WHERE eval_id = ?1",
                          old_id, new_id, NULL, op);
        if (rc == 0)
            rc = exec_ids(db,
                          "INSERT OR IGNORE INTO main.gold SELECT run_id, problem_id, logprob, n_tokens "
                          "FROM src.gold WHERE run_id = ?",
                          run_id, 0, NULL, op);
        stats->evals_added++;
    }
    free(todo);
    return rc;
}

static int merge_problems(Db *db, DbMergeStats *stats) {
    const char *op = "merge problems";
    long long conflicts;
    if (db_query_int(
            db,
            "SELECT count(*) FROM src.problems s JOIN main.problems m USING (task, split, problem_id) "
            "WHERE m.prompt != s.prompt OR m.target != s.target",
            &conflicts, op) != 0)
        return -1;
    if (conflicts) {
        err_set("%s: %lld problems of the input differ from those in %s (same id, other text)", op, conflicts,
                db->path);
        return -1;
    }
    size_t added = 0;
    int rc = exec_ids(db,
                      "INSERT OR IGNORE INTO main.problems SELECT task, split, problem_id, prompt, target "
                      "FROM src.problems",
                      0, 0, &added, op);
    stats->problems_added += added;
    return rc;
}

static int merge_fits(Db *db, DbMergeStats *stats) {
    size_t added = 0;
    int rc =
        exec_ids(db,
                 "INSERT INTO main.fits (" FIT_COLUMNS ") SELECT " FIT_COLUMNS " FROM src.fits s "
                 "WHERE NOT EXISTS (SELECT 1 FROM main.fits m WHERE m.law IS s.law AND "
                 "m.params_json IS s.params_json AND m.ci_json IS s.ci_json AND m.n_points IS s.n_points "
                 "AND m.objective IS s.objective AND m.converged IS s.converged AND m.source IS s.source "
                 "AND m.options_json IS s.options_json AND m.created_at IS s.created_at) ORDER BY s.fit_id",
                 0, 0, &added, "merge fits");
    stats->fits_added += added;
    return rc;
}

static int merge_one(Db *out, const char *in_path, DbMergeStats *stats) {
    char *uri = db_readonly_uri(in_path);
    if (!uri) return -1;
    sqlite3_stmt *st = db_prepare(out, "ATTACH ? AS src", "attach input");
    int rc = -1;
    if (st) {
        Bind b = bind_start(st);
        bind_text(&b, uri);
        rc =
            b.rc != SQLITE_OK ? db_fail_rc(out, "attach input", b.rc) : db_step_done(out, st, "attach input");
        sqlite3_finalize(st);
    }
    free(uri);
    if (rc != 0) {
        err_prefix("%s", in_path);
        return -1;
    }
    rc = db_begin(out, "merge");
    if (rc == 0) {
        rc = merge_sweeps(out);
        if (rc == 0) rc = merge_runs(out, in_path, stats);
        if (rc == 0) rc = merge_problems(out, stats);
        if (rc == 0) rc = merge_evals(out, stats);
        if (rc == 0) rc = merge_fits(out, stats);
        if (rc == 0)
            rc = db_commit(out, "merge");
        else
            db_rollback(out);
        if (rc != 0) err_prefix("merge %s", in_path);
    }
    if (db_exec(out, "DETACH src", "detach input") != 0 && rc == 0) rc = -1;
    return rc;
}

int db_merge(const char *out_path, const char *const *in_paths, size_t n_in, DbMergeStats *stats) {
    memset(stats, 0, sizeof *stats);
    SweepSeen seen = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n_in; i++)
        rc = check_input(in_paths[i], out_path, &seen);
    Db *out = NULL;
    if (rc == 0) rc = db_open(&out, out_path);
    // OUT's own sweep must agree too; it has not been written to yet.
    if (rc == 0) rc = check_sweeps(out, &seen);
    for (size_t i = 0; rc == 0 && i < n_in; i++)
        rc = merge_one(out, in_paths[i], stats);
    db_close(out);
    free(seen.name);
    free(seen.hash);
    free(seen.source);
    return rc;
}
