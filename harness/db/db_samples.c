// db_samples.c — per-problem reads for the statistics: each problem's answer groups (what pass@k
// and maj@k at any k, and the problem bootstrap, need), correct counts, and gold rows.
#include <stdlib.h>
#include <string.h>

#include "db/db_impl.h"

// Rows of an integer-keyed query, each read by READ into ELEM bytes; RELEASE frees partial rows.
static int read_keyed(Db *db, const char *sql, sqlite3_int64 key, size_t elem, void (*read)(sqlite3_stmt *, void *),
                      void (*release)(void *, size_t), void **out, size_t *n, const char *op) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db_prepare(db, sql, op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_int(&b, key);
    if (b.rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return db_fail_rc(db, op, b.rc);
    }
    size_t cap = 64, len = 0;
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

static void read_group(sqlite3_stmt *st, void *row) {
    *(DbAnswerGroup *)row = (DbAnswerGroup){.problem_id = (long)sqlite3_column_int64(st, 0),
                                            .answer = col_text_dup(st, 1),
                                            .count = (long)sqlite3_column_int64(st, 2),
                                            .correct = sqlite3_column_int(st, 3)};
}

static void release_groups(void *rows, size_t n) { db_answer_groups_free(rows, n); }

int db_answer_groups(Db *db, long eval_id, DbAnswerGroup **out, size_t *n) {
    // One normalised answer has one correctness (t2 eval checks the answer, not the sample).
    return read_keyed(db,
                      "SELECT problem_id, answer, count(*), max(correct) FROM samples WHERE eval_id = ? "
                      "GROUP BY problem_id, answer ORDER BY problem_id, answer IS NULL, answer",
                      eval_id, sizeof **out, read_group, release_groups, (void **)out, n, "read answer groups");
}

void db_answer_groups_free(DbAnswerGroup *g, size_t n) {
    for (size_t i = 0; g && i < n; i++) free(g[i].answer);
    free(g);
}

static void read_count(sqlite3_stmt *st, void *row) {
    *(DbProblemCount *)row = (DbProblemCount){.problem_id = (long)sqlite3_column_int64(st, 0),
                                              .n = (long)sqlite3_column_int64(st, 1),
                                              .correct = (long)sqlite3_column_int64(st, 2)};
}

int db_problem_counts(Db *db, long eval_id, DbProblemCount **out, size_t *n) {
    return read_keyed(db,
                      "SELECT problem_id, count(*), sum(correct) FROM samples WHERE eval_id = ? "
                      "GROUP BY problem_id ORDER BY problem_id",
                      eval_id, sizeof **out, read_count, NULL, (void **)out, n, "read samples per problem");
}

static void read_gold_row(sqlite3_stmt *st, void *row) {
    *(DbGold *)row = (DbGold){.problem_id = (long)sqlite3_column_int64(st, 0),
                              .logprob = col_real(st, 1),
                              .n_tokens = sqlite3_column_int(st, 2)};
}

int db_read_gold(Db *db, int run_id, DbGold **out, size_t *n) {
    return read_keyed(db, "SELECT problem_id, logprob, n_tokens FROM gold WHERE run_id = ? ORDER BY problem_id", run_id,
                      sizeof **out, read_gold_row, NULL, (void **)out, n, "read gold");
}
