// test_docs.c — docs/SPEC.md keeps up with the code: every option `t2 CMD --help` prints is in the
// command's synopsis in §2, every column of every table a new database has is named in §4, and
// every key of the experiment file (canonical JSON of a spec of each task) is named in §3.
// Tests run from the repository root.
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "spec/spec.h"
#include "testutil.h"
#include "util/util.h"

static char *spec_md;

static int setup(void **state) {
    (void)state;
    spec_md = read_file("docs/SPEC.md", NULL);
    return spec_md ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    free(spec_md);
    return 0;
}

// The text of section N ("## N. " up to the next "## "), as a heap string.
static char *section(int n) {
    char head[16];
    snprintf(head, sizeof head, "\n## %d. ", n);
    const char *start = strstr(spec_md, head);
    if (!start) fail_msg("docs/SPEC.md has no section %d", n);
    const char *end = strstr(start + 1, "\n## ");
    size_t len = end ? (size_t)(end - start) : strlen(start);
    char *s = xmalloc(len + 1);
    memcpy(s, start, len);
    s[len] = '\0';
    return s;
}

// Is `WORD` (in backticks, or followed by a space, quote or parenthesis) in TEXT?
static int names(const char *text, const char *word) {
    char *quoted = xasprintf("`%s`", word);
    int found = strstr(text, quoted) != NULL;
    free(quoted);
    return found;
}

// ---------------------------------------------------------------------------------------------
// §2: the synopsis "`t2 CMD ...`" of each command holds every option of its --help.

static void check_command(const char *sec, const char *cmd) {
    char *line_cmd = xasprintf("%s %s --help", t2_bin(), cmd);
    RunResult r = run_sh(line_cmd);
    free(line_cmd);
    assert_int_equal(r.status, 0);
    char *want = xasprintf("\n`t2 %s ", cmd);
    const char *at = strstr(sec, want);
    if (!at) fail_msg("docs/SPEC.md §2 has no synopsis line starting `t2 %s", cmd);
    const char *end = strchr(at + strlen(want), '`');
    assert_non_null(end);
    size_t len = (size_t)(end - at);
    char *synopsis = xmalloc(len + 1);
    memcpy(synopsis, at, len);
    synopsis[len] = '\0';
    const char *opts = strstr(r.out, "\noptions:\n");
    int missing = 0;
    for (const char *line = opts ? opts + 10 : NULL; line && *line == ' ';) {
        char name[64];
        if (sscanf(line, " %63s", name) == 1) {
            // "-k|--k": every alias is documented as written in --help.
            char *padded = xasprintf("%s ", name), *bracket = xasprintf("%s]", name);
            if (!strstr(synopsis, padded) && !strstr(synopsis, bracket)) {
                print_error("docs/SPEC.md §2: t2 %s: option %s missing from the synopsis\n", cmd, name);
                missing++;
            }
            free(padded), free(bracket);
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    assert_int_equal(missing, 0);
    free(synopsis);
    free(want);
    run_free(&r);
}

static void test_commands_documented(void **state) {
    (void)state;
    char *sec = section(2);
    RunResult r = run_t2("--help", NULL);
    assert_int_equal(r.status, 0);
    const char *list = strstr(r.out, "\ncommands:\n");
    assert_non_null(list);
    int n = 0;
    for (const char *line = list + 11; *line == ' ';) {
        char cmd[32];
        if (sscanf(line, " %31s", cmd) == 1) {
            if (strcmp(cmd, "bench") == 0) {
                check_command(sec, "bench train");
                check_command(sec, "bench sample");
                check_command(sec, "bench gemm");
            } else {
                check_command(sec, cmd);
            }
            n++;
        }
        const char *nl = strchr(line, '\n');
        if (!nl) break;
        line = nl + 1;
    }
    assert_true(n >= 13);
    run_free(&r);
    free(sec);
}

// ---------------------------------------------------------------------------------------------
// §4: every column of every table.

static void test_schema_documented(void **state) {
    (void)state;
    char *dir = tmpdir_make("docs");
    char *path = xasprintf("%s/t.db", dir);
    Db *db;
    if (db_open(&db, path) != 0) fail_msg("%s", err_msg());
    db_close(db);
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
                                        "WHERE m.type = 'table' ORDER BY 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    char *sec = section(4);
    int missing = 0, n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(st, 0), *column = (const char *)sqlite3_column_text(st, 1);
        char *row = xasprintf("| `%s` |", table);
        const char *at = strstr(sec, row);
        const char *eol = at ? strchr(at, '\n') : NULL;
        char *line = at ? xmalloc((size_t)(eol - at) + 1) : NULL;
        if (line) {
            memcpy(line, at, (size_t)(eol - at));
            line[eol - at] = '\0';
        }
        if (!line || !names(line, column)) {
            print_error("docs/SPEC.md §4: table %s: column %s is not listed\n", table, column);
            missing++;
        }
        free(line);
        free(row);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    assert_true(n > 50);
    assert_int_equal(missing, 0);
    free(sec);
    free(path);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// §3: every key of the canonical spec, for a spec of every task.

static int check_keys(const char *sec, const cJSON *obj, const char *prefix) {
    int missing = 0;
    for (const cJSON *it = obj->child; it; it = it->next) {
        char *full = xasprintf("%s%s", prefix, it->string);
        if (!names(sec, full) && !names(sec, it->string)) {
            print_error("docs/SPEC.md §3: key %s is not described\n", full);
            missing++;
        }
        free(full);
    }
    return missing;
}

static void test_experiment_keys_documented(void **state) {
    (void)state;
    static const char *const tasks[] = {
        "{\"name\": \"add\"}",
        "{\"name\": \"modarith\", \"ops\": \"+\"}",
        "{\"name\": \"chain\"}",
        "{\"name\": \"sort\"}",
        "{\"name\": \"recall\"}",
        "{\"name\": \"text\", \"path\": \"experiments/data/GPL-3.txt\"}",
    };
    char *sec = section(3);
    int missing = 0;
    for (size_t i = 0; i < ARRAY_LEN(tasks); i++) {
        char *text = xasprintf("{\"name\": \"d\", \"task\": %s, \"family\": [{\"n_layer\": 1, \"d_model\": 16, "
                               "\"n_head\": 2}], \"budgets\": {\"tokens\": [1e5]}, \"train\": {\"seq_len\": 64}, "
                               "\"analysis\": {\"c_inf\": [1e5], \"c_train\": [1e9]}}",
                               tasks[i]);
        Spec s;
        if (spec_parse(&s, text, "docs.json") != 0) fail_msg("%s", err_msg());
        cJSON *root = cJSON_Parse(s.json);
        assert_non_null(root);
        missing += check_keys(sec, root, "");
        static const char *const objects[] = {"task", "budgets", "train", "eval", "analysis"};
        for (size_t j = 0; j < ARRAY_LEN(objects); j++) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, objects[j]);
            char *prefix = xasprintf("%s.", objects[j]);
            if (o) missing += check_keys(sec, o, prefix);
            free(prefix);
        }
        missing += check_keys(sec, cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "family"), 0), "family[].");
        cJSON_Delete(root);
        spec_free(&s);
        free(text);
    }
    assert_int_equal(missing, 0);
    free(sec);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commands_documented),
        cmocka_unit_test(test_schema_documented),
        cmocka_unit_test(test_experiment_keys_documented),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
