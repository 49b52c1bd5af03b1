// db_samples.c — per-problem reads for the statistics: each problem's answer groups (what pass@k
// and maj@k at any k, and the problem bootstrap, need) and correct counts.
#include <stdlib.h>
#include <string.h>

#include "db/db_impl.h"

static void read_group(sqlite3_stmt *st, void *row) {
    *(DbAnswerGroup *)row = (DbAnswerGroup){.problem_id = (long)sqlite3_column_int64(st, 0),
                                            .answer = col_text_dup(st, 1),
                                            .count = (long)sqlite3_column_int64(st, 2),
                                            .correct = sqlite3_column_int(st, 3)};
}

static void release_groups(void *rows, size_t n) { db_answer_groups_free(rows, n); }

int db_answer_groups(Db *db, long eval_id, DbAnswerGroup **out, size_t *n) {
    // One normalised answer has one correctness (t2 eval checks the answer, not the sample).
    return db_read_rows(db,
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
    return db_read_rows(db,
                      "SELECT problem_id, count(*), sum(correct) FROM samples WHERE eval_id = ? "
                      "GROUP BY problem_id ORDER BY problem_id",
                      eval_id, sizeof **out, read_count, NULL, (void **)out, n, "read samples per problem");
}
