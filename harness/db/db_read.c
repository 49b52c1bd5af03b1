// db_read.c — reading results back for the layers above: the sweep's spec, training logs, evals,
// metrics, gold log-probabilities and fits (analysis, plots, rescoring).
#include <stdlib.h>
#include <string.h>

#include "db/db_impl.h"

// ---------------------------------------------------------------------------------------------
// Every row of SQL (one integer parameter) into a heap array (db_impl.h).

int db_read_rows(Db *db, const char *sql, sqlite3_int64 param, size_t elem, DbRowRead read, DbRowsRelease release,
                 void **out, size_t *n, const char *op) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db_prepare(db, sql, op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_int(&b, param);
    if (b.rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail_rc(db, op, b.rc);
    }
    size_t cap = 16, len = 0;
    char *rows = xmalloc(cap * elem);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) rows = xrealloc(rows, (cap *= 2) * elem);
        read(st, rows + len++ * elem);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_fail_rc(db, op, rc);
        if (release) release(rows, len);
        else free(rows);
        return -1;
    }
    *out = rows;
    *n = len;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Sweeps.

int db_get_sweep(Db *db, char **name, char **spec_json) {
    const char *op = "read sweeps";
    *name = *spec_json = NULL;
    sqlite3_stmt *st = db_prepare(db, "SELECT name, spec_json, spec_hash FROM sweeps ORDER BY name", op);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    int result = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : db_fail_rc(db, op, rc);
    if (result == 0) {
        *name = col_text_dup(st, 0);
        *spec_json = col_text_dup(st, 1);
        const char *hash = (const char *)sqlite3_column_text(st, 2);
        char want[17];
        if (*spec_json) hex64(fnv1a64(*spec_json, strlen(*spec_json)), want);
        // t2 stores the spec with the hash of its text: a mismatch is damage, not a bad spec.
        if (!*name || !*spec_json || !hash || strcmp(want, hash) != 0) {
            if (db_quick_check(db) == 0)
                err_set("%s: the database is damaged: the spec stored for sweep '%s' does not match its recorded "
                        "hash (PRAGMA quick_check finds the file's structure intact); restore it from a copy",
                        db->path, *name ? *name : "?");
            free(*name);
            free(*spec_json);
            *name = *spec_json = NULL;
            result = -1;
        }
    }
    sqlite3_finalize(st);
    return result;
}

// ---------------------------------------------------------------------------------------------
// Training log.

static void read_train_log_row(sqlite3_stmt *st, void *row) {
    *(TrainLogRow *)row = (TrainLogRow){.step = (long)sqlite3_column_int64(st, 0),
                                        .tokens = (long)sqlite3_column_int64(st, 1),
                                        .loss = col_real(st, 2),
                                        .lr = col_real(st, 3),
                                        .grad_norm = col_real(st, 4),
                                        .wall_s = col_real(st, 5)};
}

int db_read_train_log(Db *db, int run_id, TrainLogRow **out, size_t *n) {
    return db_read_rows(db,
                     "SELECT step, tokens, loss, lr, grad_norm, wall_s FROM train_log WHERE run_id = ? "
                     "ORDER BY step",
                     run_id, sizeof **out, read_train_log_row, NULL, (void **)out, n, "read train_log");
}

// ---------------------------------------------------------------------------------------------
// Evals.

#define EVAL_COLUMNS                                                                                       \
    "eval_id, run_id, temperature, top_p, n_samples, max_new_tokens, infer_flops, infer_flops_2nk, "       \
    "prefill_flops, decode_flops, gen_tokens, n_problems, wall_s"

static void read_eval_row(sqlite3_stmt *st, void *row) {
    DbEval *e = row;
    *e = (DbEval){.eval_id = (long)sqlite3_column_int64(st, 0),
                  .run_id = sqlite3_column_int(st, 1),
                  .key = {.temperature = col_real(st, 2),
                          .top_p = col_real(st, 3),
                          .n_samples = (long)sqlite3_column_int64(st, 4),
                          .max_new_tokens = sqlite3_column_int(st, 5)},
                  .infer_flops = col_real(st, 6),
                  .infer_flops_2nk = col_real(st, 7),
                  .prefill_flops = col_real(st, 8),
                  .decode_flops = col_real(st, 9),
                  .gen_tokens = (long)sqlite3_column_int64(st, 10),
                  .n_problems = (long)sqlite3_column_int64(st, 11),
                  .wall_s = col_real(st, 12)};
}

int db_get_eval(Db *db, long eval_id, DbEval *out) {
    DbEval *rows;
    size_t n;
    if (db_read_rows(db, "SELECT " EVAL_COLUMNS " FROM evals WHERE eval_id = ?", eval_id, sizeof *rows,
                  read_eval_row, NULL, (void **)&rows, &n, "read evals") != 0)
        return -1;
    if (n == 1) *out = rows[0];
    free(rows);
    return n == 1 ? 0 : 1;
}

int db_list_evals(Db *db, int run_id, DbEval **out, size_t *n) {
    return db_read_rows(db, "SELECT " EVAL_COLUMNS " FROM evals WHERE ?1 < 0 OR run_id = ?1 ORDER BY eval_id", run_id,
                     sizeof **out, read_eval_row, NULL, (void **)out, n, "list evals");
}

static void read_sample_row(sqlite3_stmt *st, void *row) {
    *(DbSample *)row = (DbSample){.problem_id = (long)sqlite3_column_int64(st, 0),
                                  .sample_idx = (long)sqlite3_column_int64(st, 1),
                                  .completion = col_text_dup(st, 2),
                                  .answer = col_text_dup(st, 3),
                                  .correct = sqlite3_column_int(st, 4),
                                  .n_tokens = sqlite3_column_int(st, 5),
                                  .logprob = col_real(st, 6)};
}

void db_samples_free(DbSample *s, size_t n) {
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].completion);
        free(s[i].answer);
    }
    free(s);
}

static void release_samples(void *rows, size_t n) { db_samples_free(rows, n); }

int db_read_samples(Db *db, long eval_id, DbSample **out, size_t *n) {
    return db_read_rows(db,
                     "SELECT problem_id, sample_idx, completion, answer, correct, n_tokens, logprob "
                     "FROM samples WHERE eval_id = ? ORDER BY problem_id, sample_idx",
                     eval_id, sizeof **out, read_sample_row, release_samples, (void **)out, n, "read samples");
}

static void read_metric_row(sqlite3_stmt *st, void *row) {
    *(DbMetric *)row = (DbMetric){col_text_dup(st, 0), (long)sqlite3_column_int64(st, 1), col_real(st, 2)};
}

void db_metrics_free(DbMetric *m, size_t n) {
    for (size_t i = 0; m && i < n; i++) free((char *)m[i].metric);
    free(m);
}

static void release_metrics(void *rows, size_t n) { db_metrics_free(rows, n); }

int db_read_metrics(Db *db, long eval_id, DbMetric **out, size_t *n) {
    return db_read_rows(db, "SELECT metric, k, value FROM metrics WHERE eval_id = ? ORDER BY metric, k", eval_id,
                     sizeof **out, read_metric_row, release_metrics, (void **)out, n, "read metrics");
}

static void read_gold_row(sqlite3_stmt *st, void *row) {
    *(DbGold *)row = (DbGold){(long)sqlite3_column_int64(st, 0), col_real(st, 1), sqlite3_column_int(st, 2)};
}

int db_read_gold(Db *db, int run_id, DbGold **out, size_t *n) {
    return db_read_rows(db, "SELECT problem_id, logprob, n_tokens FROM gold WHERE run_id = ? ORDER BY problem_id",
                     run_id, sizeof **out, read_gold_row, NULL, (void **)out, n, "read gold");
}

// ---------------------------------------------------------------------------------------------
// Fits.

int db_find_fit(Db *db, const char *law, const char *source, DbFitVisit visit, void *ctx) {
    const char *op = "read fits";
    sqlite3_stmt *st = db_prepare(db,
                                  "SELECT fit_id, law, params_json, ci_json, n_points, objective, converged, "
                                  "source, options_json FROM fits WHERE law = ? AND source = ? AND converged = 1 "
                                  "ORDER BY fit_id DESC",
                                  op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_text(&b, law);
    bind_text(&b, source);
    int rc = b.rc, found = 1;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) break;
        DbFit f = {.law = (const char *)sqlite3_column_text(st, 1),
                   .params_json = (const char *)sqlite3_column_text(st, 2),
                   .ci_json = (const char *)sqlite3_column_text(st, 3),
                   .n_points = (long)sqlite3_column_int64(st, 4),
                   .objective = col_real(st, 5),
                   .converged = sqlite3_column_int(st, 6),
                   .source = (const char *)sqlite3_column_text(st, 7),
                   .options_json = (const char *)sqlite3_column_text(st, 8),
                   .fit_id = (long)sqlite3_column_int64(st, 0)};
        if (visit(ctx, &f) == 0) {
            found = 0;
            break;
        }
    }
    if (found == 1 && rc != SQLITE_DONE) found = db_fail_rc(db, op, rc);
    sqlite3_finalize(st);
    return found;
}
