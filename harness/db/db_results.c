// db_results.c — what runs produce: training-log batches, evaluation problems, evals with their
// samples, gold log-probabilities and metrics (each eval one transaction), rescoring, fits.
#include <stdlib.h>
#include <string.h>

#include "db/db_impl.h"

// ---------------------------------------------------------------------------------------------
// Training log.

int db_log_train(Db *db, int run_id, const TrainLogRow *rows, size_t n) {
    const char *op = "insert train_log";
    if (n == 0) return 0;
    sqlite3_stmt *st = db_cached(db, STMT_LOG_TRAIN,
                                 "INSERT OR REPLACE INTO train_log (run_id, step, tokens, loss, lr, "
                                 "grad_norm, wall_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 op);
    if (!st) return -1;
    if (db_begin(db, op) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        const TrainLogRow *r = &rows[i];
        Bind b = bind_start(st);
        bind_int(&b, run_id);
        bind_int(&b, r->step);
        bind_int(&b, r->tokens);
        bind_real(&b, r->loss);
        bind_real(&b, r->lr);
        bind_real(&b, r->grad_norm);
        bind_real(&b, r->wall_s);
        if (b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op)) {
            db_rollback(db);
            return -1;
        }
    }
    return db_commit(db, op);
}

// ---------------------------------------------------------------------------------------------
// Problems.

int db_insert_problems(Db *db, const char *task, const char *split, const DbProblem *p, size_t n) {
    const char *op = "insert problems";
    sqlite3_stmt *ins = NULL, *get = NULL;
    if (db_begin(db, op) != 0) return -1;
    ins = db_prepare(db,
                     "INSERT OR IGNORE INTO problems (task, split, problem_id, prompt, target) "
                     "VALUES (?, ?, ?, ?, ?)",
                     op);
    get = db_prepare(
        db, "SELECT prompt, target FROM problems WHERE task = ? AND split = ? AND problem_id = ?", op);
    if (!ins || !get) goto fail;
    for (size_t i = 0; i < n; i++) {
        Bind b = bind_start(ins);
        bind_text(&b, task);
        bind_text(&b, split);
        bind_int(&b, p[i].problem_id);
        bind_text(&b, p[i].prompt);
        bind_text(&b, p[i].target);
        if (b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, ins, op)) goto fail;
        if (sqlite3_changes(db->h) == 1) continue;
        // Already there: it must be the same problem, or the task changed under the database.
        b = bind_start(get);
        bind_text(&b, task);
        bind_text(&b, split);
        bind_int(&b, p[i].problem_id);
        int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(get);
        if (rc != SQLITE_ROW) {
            db_fail_rc(db, op, rc == SQLITE_DONE ? SQLITE_INTERNAL : rc);
            goto fail;
        }
        const char *prompt = (const char *)sqlite3_column_text(get, 0);
        const char *target = (const char *)sqlite3_column_text(get, 1);
        if (strcmp(prompt, p[i].prompt) != 0 || strcmp(target, p[i].target) != 0) {
            err_set("%s: problem %s/%s/%ld is stored as '%s' -> '%s', not '%s' -> '%s': the task changed; "
                    "use another --db",
                    db->path, task, split, p[i].problem_id, prompt, target, p[i].prompt, p[i].target);
            goto fail;
        }
        sqlite3_reset(get);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(get);
    return db_commit(db, op);
fail:
    sqlite3_finalize(ins);
    sqlite3_finalize(get);
    db_rollback(db);
    return -1;
}

// ---------------------------------------------------------------------------------------------
// Evals.

static void bind_key(Bind *b, int run_id, const DbEvalKey *k) {
    bind_int(b, run_id);
    bind_real(b, k->temperature);
    bind_real(b, k->top_p);
    bind_int(b, k->n_samples);
    bind_int(b, k->max_new_tokens);
}

#define KEY_WHERE "run_id = ? AND temperature = ? AND top_p = ? AND n_samples = ? AND max_new_tokens = ?"

int db_find_eval(Db *db, int run_id, const DbEvalKey *key, long *eval_id) {
    const char *op = "find eval";
    sqlite3_stmt *st = db_prepare(db, "SELECT eval_id FROM evals WHERE " KEY_WHERE, op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_key(&b, run_id, key);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    int result;
    if (rc == SQLITE_ROW) {
        *eval_id = (long)sqlite3_column_int64(st, 0);
        result = 0;
    } else if (rc == SQLITE_DONE) {
        result = 1;
    } else {
        result = db_fail_rc(db, op, rc);
    }
    sqlite3_finalize(st);
    return result;
}

// The run must have finished training: an eval belongs to a final model.
static int check_run_done(Db *db, int run_id, const char *op) {
    DbRun r;
    int rc = db_get_run(db, run_id, &r);
    if (rc < 0) return -1;
    if (rc == 1) {
        err_set("%s: %s: no run %d in the database", db->path, op, run_id);
        return -1;
    }
    int done = r.status == DB_RUN_DONE;
    if (!done)
        err_set("%s: %s: run %d is %s, not done: only a finished run is evaluated", db->path, op, run_id,
                db_status_name(r.status));
    db_run_free(&r);
    return done ? 0 : -1;
}

static int insert_eval_row(Db *db, const DbEval *e, long *eval_id, const char *op) {
    sqlite3_stmt *st =
        db_prepare(db,
                   "INSERT INTO evals (run_id, temperature, top_p, n_samples, max_new_tokens, "
                   "infer_flops, infer_flops_2nk, prefill_flops, decode_flops, gen_tokens, "
                   "n_problems, wall_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   op);
    if (!st) return -1;
    char now[32];
    iso_time_utc(now);
    Bind b = bind_start(st);
    bind_key(&b, e->run_id, &e->key);
    bind_real(&b, e->infer_flops);
    bind_real(&b, e->infer_flops_2nk);
    bind_real(&b, e->prefill_flops);
    bind_real(&b, e->decode_flops);
    bind_int(&b, e->gen_tokens);
    bind_int(&b, e->n_problems);
    bind_real(&b, e->wall_s);
    bind_text(&b, now);
    int rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    sqlite3_finalize(st);
    if (rc == 0) *eval_id = (long)sqlite3_last_insert_rowid(db->h);
    return rc;
}

static int insert_samples(Db *db, long eval_id, const DbSample *s, size_t n, const char *op) {
    sqlite3_stmt *st = db_prepare(db,
                                  "INSERT INTO samples (eval_id, problem_id, sample_idx, completion, answer, "
                                  "correct, n_tokens, logprob) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                  op);
    if (!st) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        Bind b = bind_start(st);
        bind_int(&b, eval_id);
        bind_int(&b, s[i].problem_id);
        bind_int(&b, s[i].sample_idx);
        bind_text(&b, s[i].completion);
        bind_text(&b, s[i].answer);
        bind_int(&b, s[i].correct);
        bind_int(&b, s[i].n_tokens);
        bind_real(&b, s[i].logprob);
        rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    }
    sqlite3_finalize(st);
    return rc;
}

static int insert_gold(Db *db, int run_id, const DbGold *g, size_t n, const char *op) {
    sqlite3_stmt *st = db_prepare(
        db, "INSERT OR IGNORE INTO gold (run_id, problem_id, logprob, n_tokens) VALUES (?, ?, ?, ?)", op);
    if (!st) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        Bind b = bind_start(st);
        bind_int(&b, run_id);
        bind_int(&b, g[i].problem_id);
        bind_real(&b, g[i].logprob);
        bind_int(&b, g[i].n_tokens);
        rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    }
    sqlite3_finalize(st);
    return rc;
}

static int insert_metrics(Db *db, long eval_id, const DbMetric *m, size_t n, const char *op) {
    sqlite3_stmt *st =
        db_prepare(db, "INSERT INTO metrics (eval_id, metric, k, value) VALUES (?, ?, ?, ?)", op);
    if (!st) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        Bind b = bind_start(st);
        bind_int(&b, eval_id);
        bind_text(&b, m[i].metric);
        bind_int(&b, m[i].k);
        bind_real(&b, m[i].value);
        rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    }
    sqlite3_finalize(st);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Eval claims.

// Delete the claim on (RUN_ID, KEY): OWNER's only, or anyone's when OWNER is NULL (the eval is
// stored). Returns the number of rows deleted, -1 on error.
static int end_eval_claim(Db *db, int run_id, const DbEvalKey *key, const char *owner, const char *op) {
    sqlite3_stmt *st = db_prepare(db,
                                  owner ? "DELETE FROM eval_claims WHERE " KEY_WHERE " AND owner = ?"
                                        : "DELETE FROM eval_claims WHERE " KEY_WHERE,
                                  op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_key(&b, run_id, key);
    if (owner) bind_text(&b, owner);
    int rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    sqlite3_finalize(st);
    return rc == 0 ? sqlite3_changes(db->h) : -1;
}

// Who holds the claim on (RUN_ID, KEY): 0 and *owner (heap) / *heartbeat, 1 when nobody, -1 error.
static int read_eval_claim(Db *db, int run_id, const DbEvalKey *key, char **owner, double *heartbeat,
                           const char *op) {
    *owner = NULL;
    sqlite3_stmt *st = db_prepare(db, "SELECT owner, heartbeat FROM eval_claims WHERE " KEY_WHERE, op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_key(&b, run_id, key);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    int result = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : db_fail_rc(db, op, rc);
    if (result == 0) {
        *owner = col_text_dup(st, 0);
        *heartbeat = sqlite3_column_double(st, 1);
    }
    sqlite3_finalize(st);
    return result;
}

static int put_eval_claim(Db *db, int run_id, const DbEvalKey *key, const char *owner, const char *op) {
    sqlite3_stmt *st =
        db_prepare(db,
                   "INSERT OR REPLACE INTO eval_claims (run_id, temperature, top_p, n_samples, "
                   "max_new_tokens, owner, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_key(&b, run_id, key);
    bind_text(&b, owner);
    bind_real(&b, wall_clock_s());
    int rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    sqlite3_finalize(st);
    return rc;
}

// Under the write lock: 0 when OWNER takes (or already holds) the claim, 1 when another owner
// holds it and is not stale, -1 on error.
static int take_eval_claim(Db *db, int run_id, const DbEvalKey *key, const char *owner, const char *op) {
    char *holder;
    double heartbeat = 0;
    int held = read_eval_claim(db, run_id, key, &holder, &heartbeat, op);
    int busy = held == 0 && strcmp(holder, owner) != 0 && !db_claim_is_stale(db, holder, 1, heartbeat);
    free(holder);
    if (held < 0) return -1;
    return busy ? 1 : put_eval_claim(db, run_id, key, owner, op);
}

int db_claim_eval(Db *db, int run_id, const DbEvalKey *key, const char *owner) {
    char op[64];
    snprintf(op, sizeof op, "claim eval of run %d", run_id);
    if (!owner || !*owner) {
        err_set("%s: %s: empty owner", db->path, op);
        return -1;
    }
    if (db_begin(db, op) != 0) return -1;
    long id;
    int result = db_find_eval(db, run_id, key, &id);
    if (result == 0)
        result = 1; // evaluated already
    else if (result == 1)
        result = check_run_done(db, run_id, op) == 0 ? take_eval_claim(db, run_id, key, owner, op) : -1;
    if (result != 0) {
        db_rollback(db);
        return result;
    }
    return db_commit(db, op);
}

int db_heartbeat_eval(Db *db, int run_id, const DbEvalKey *key, const char *owner) {
    char op[64];
    snprintf(op, sizeof op, "heartbeat eval of run %d", run_id);
    if (db_begin(db, op) != 0) return -1;
    sqlite3_stmt *st =
        db_prepare(db, "UPDATE eval_claims SET heartbeat = ? WHERE " KEY_WHERE " AND owner = ?", op);
    if (!st) goto fail;
    Bind b = bind_start(st);
    bind_real(&b, wall_clock_s());
    bind_key(&b, run_id, key);
    bind_text(&b, owner);
    int rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    sqlite3_finalize(st);
    if (rc != 0) goto fail;
    if (sqlite3_changes(db->h) != 1) {
        err_set("%s: %s: the claim is no longer held by %s", db->path, op, owner);
        goto fail;
    }
    return db_commit(db, op);
fail:
    db_rollback(db);
    return -1;
}

int db_release_eval(Db *db, int run_id, const DbEvalKey *key, const char *owner) {
    char op[64];
    snprintf(op, sizeof op, "release eval of run %d", run_id);
    if (db_begin(db, op) != 0) return -1;
    int n = end_eval_claim(db, run_id, key, owner, op);
    if (n == 1) return db_commit(db, op);
    if (n == 0) err_set("%s: %s: the claim is no longer held by %s", db->path, op, owner);
    db_rollback(db);
    return -1;
}

int db_write_eval(Db *db, const DbEval *e, const DbSample *samples, size_t n_samples, const DbGold *gold,
                  size_t n_gold, const DbMetric *metrics, size_t n_metrics, long *eval_id) {
    char op[64];
    snprintf(op, sizeof op, "write eval of run %d", e->run_id);
    if (db_begin(db, op) != 0) return -1;
    long id = 0;
    // Under the write lock, so a concurrent evaluator of the same run cannot slip in between.
    int found = db_find_eval(db, e->run_id, &e->key, &id);
    if (found < 0) goto fail;
    if (found == 0) {
        db_rollback(db);
        if (eval_id) *eval_id = id;
        return 1;
    }
    if (check_run_done(db, e->run_id, op) != 0 || insert_eval_row(db, e, &id, op) != 0 ||
        insert_samples(db, id, samples, n_samples, op) != 0 ||
        insert_gold(db, e->run_id, gold, n_gold, op) != 0 ||
        insert_metrics(db, id, metrics, n_metrics, op) != 0 ||
        end_eval_claim(db, e->run_id, &e->key, NULL, op) < 0)
        goto fail;
    if (db_commit(db, op) != 0) return -1;
    if (eval_id) *eval_id = id;
    return 0;
fail:
    db_rollback(db);
    return -1;
}

static int update_scores(Db *db, long eval_id, const DbSample *s, size_t n, const char *op) {
    if (n == 0) return 0;
    sqlite3_stmt *st = db_prepare(
        db,
        "UPDATE samples SET answer = ?, correct = ? WHERE eval_id = ? AND problem_id = ? AND sample_idx = ?",
        op);
    if (!st) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        Bind b = bind_start(st);
        bind_text(&b, s[i].answer);
        bind_int(&b, s[i].correct);
        bind_int(&b, eval_id);
        bind_int(&b, s[i].problem_id);
        bind_int(&b, s[i].sample_idx);
        rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
        if (rc == 0 && sqlite3_changes(db->h) != 1) {
            err_set("%s: %s: eval %ld has no sample (problem %ld, sample %ld)", db->path, op, eval_id,
                    s[i].problem_id, s[i].sample_idx);
            rc = -1;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int db_rescore_eval(Db *db, long eval_id, const DbSample *samples, size_t n_samples, const DbMetric *metrics,
                    size_t n_metrics) {
    char op[64];
    snprintf(op, sizeof op, "rescore eval %ld", eval_id);
    if (db_begin(db, op) != 0) return -1;
    sqlite3_stmt *del = db_prepare(db, "DELETE FROM metrics WHERE eval_id = ?", op);
    if (!del) goto fail;
    Bind b = bind_start(del);
    bind_int(&b, eval_id);
    int rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, del, op);
    sqlite3_finalize(del);
    if (rc != 0 || update_scores(db, eval_id, samples, n_samples, op) != 0 ||
        insert_metrics(db, eval_id, metrics, n_metrics, op) != 0)
        goto fail;
    return db_commit(db, op);
fail:
    db_rollback(db);
    return -1;
}

int db_runs_lacking_eval(Db *db, const DbEvalKey *key, int **run_ids, size_t *n) {
    const char *op = "list runs to evaluate";
    *run_ids = NULL;
    *n = 0;
    sqlite3_stmt *st = db_prepare(db,
                                  "SELECT r.run_id FROM runs r WHERE r.status = 'done' AND NOT EXISTS "
                                  "(SELECT 1 FROM evals e WHERE e.run_id = r.run_id AND e.temperature = ? "
                                  "AND e.top_p = ? AND e.n_samples = ? AND e.max_new_tokens = ?) "
                                  "ORDER BY r.run_id",
                                  op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_real(&b, key->temperature);
    bind_real(&b, key->top_p);
    bind_int(&b, key->n_samples);
    bind_int(&b, key->max_new_tokens);
    if (b.rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail_rc(db, op, b.rc);
    }
    size_t cap = 16, len = 0;
    int *ids = xmalloc(cap * sizeof *ids);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) ids = xrealloc(ids, (cap *= 2) * sizeof *ids);
        ids[len++] = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(ids);
        return db_fail_rc(db, op, rc);
    }
    *run_ids = ids;
    *n = len;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Fits.

int db_insert_fit(Db *db, const DbFit *f, long *fit_id) {
    const char *op = "insert fit";
    if (db->readonly) { // a report or a fit read from a database this process cannot write
        if (fit_id) *fit_id = 0;
        return 0;
    }
    if (db_begin(db, op) != 0) return -1;
    sqlite3_stmt *st =
        db_prepare(db,
                   "INSERT INTO fits (law, params_json, ci_json, n_points, objective, converged, "
                   "source, options_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   op);
    if (!st) goto fail;
    char now[32];
    iso_time_utc(now);
    Bind b = bind_start(st);
    bind_text(&b, f->law);
    bind_text(&b, f->params_json);
    bind_text(&b, f->ci_json);
    bind_int(&b, f->n_points);
    bind_real(&b, f->objective);
    bind_int(&b, f->converged ? 1 : 0);
    bind_text(&b, f->source);
    bind_text(&b, f->options_json);
    bind_text(&b, now);
    int rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    sqlite3_finalize(st);
    if (rc != 0) goto fail;
    long id = (long)sqlite3_last_insert_rowid(db->h);
    if (db_commit(db, op) != 0) return -1;
    if (fit_id) *fit_id = id;
    return 0;
fail:
    db_rollback(db);
    return -1;
}
