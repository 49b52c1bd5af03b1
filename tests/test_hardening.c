// test_hardening.c — the fifteen defects a hostile user found (issue 10), one test each, plus the
// text task's path, Slurm's private local directory and an evaluation independent of the thread
// count under OpenBLAS's Haswell kernels. Each test fails on the t2 before its fix.
//
// The tests drive build/t2 as a user would, from the directories a user would be in; a few call the
// library directly (databases without training, the integer parser, allocation counts).
#include <cjson/cJSON.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"
#include "nn/export.h"
#include "nn/loaded.h"
#include "spec/spec.h"
#include "sweeputil.h"
#include "testutil.h"
#include "util/util.h"

// Two specs of one sweep name, "q", that differ in the learning rate only: spec B is what a user
// writes next to spec A for a second experiment. 2 runs of 8 and 16 steps, 8 problems.
#define Q_SPEC(lr)                                                                                                    \
    "{\"name\": \"q\", \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 8, \"seed\": 4},\n"          \
    " \"family\": [{\"n_layer\": 1, \"d_model\": 16, \"n_head\": 2}],\n"                                            \
    " \"budgets\": {\"tokens\": [2048, 4096]},\n"                                                                   \
    " \"train\": {\"seq_len\": 32, \"batch_size\": 8, \"lr\": " lr ", \"ckpt_every\": 4},\n"                        \
    " \"eval\": {\"n_samples\": 2, \"k\": [1, 2], \"max_new_tokens\": 6}}\n"
static const char SPEC_A[] = Q_SPEC("0.003");
static const char SPEC_B[] = Q_SPEC("0.004");

static char *root; // every test's files, removed at the end

// ---------------------------------------------------------------------------------------------
// Helpers.

static char *mkdir_in(const char *parent, const char *name) {
    char *p = xasprintf("%s/%s", parent, name);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", p, strerror(errno));
    return p;
}

// `t2 ARGS` in DIR (NULL-terminated), expecting exit code CODE; returns stdout + stderr.
static char *t2_in(const char *dir, int code, const char *const *args) {
    char *log = xasprintf("%s/.t2.log", dir);
    pid_t pid = start_t2(dir, ".t2.log", 0, args);
    int got = wait_exit(pid);
    char *out = read_log(dir, ".t2.log");
    unlink(log);
    free(log);
    if (got != code) fail_msg("t2 %s ... in %s exited %d, not %d:\n%s", args[0], dir, got, code, out);
    return out;
}

// A refusal: exit 1 and one line "t2: ..." holding every string of WANT.
static void refused_in(const char *dir, const char *const *args, const char *const *want) { t2_refused(dir, args, want); }

static char *file_bytes(const char *path, size_t *n) { return slurp_file(path, n); }

static void copy_file(const char *from, const char *to) {
    size_t n;
    char *b = file_bytes(from, &n);
    FILE *f = fopen(to, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) fail_msg("cannot write %s", to);
    free(b);
}

static int count_lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = xasprintf("%.*s", (int)len, line);
        n += strstr(copy, needle) != NULL;
        free(copy);
        line += len + (end ? 1 : 0);
    }
    return n;
}

static char *sql_text(const char *path, const char *sql) {
    sqlite3 *h;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail_msg("open %s", path);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        out = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

// A database holding the sweep and grid of SPEC_TEXT, nothing trained (library, no t2 process).
static void make_db(const char *path, const char *spec_text) {
    Spec s;
    if (spec_parse(&s, spec_text, "q.json") != 0) fail_msg("%s", err_msg());
    Db *db;
    if (open_spec_db(&db, &s, path) != 0) fail_msg("%s", err_msg());
    db_close(db);
    spec_free(&s);
}

static char *spec_hash_of(const char *spec_text) {
    Spec s;
    if (spec_parse(&s, spec_text, "q.json") != 0) fail_msg("%s", err_msg());
    char *h = xstrdup(s.hash);
    spec_free(&s);
    return h;
}

// ---------------------------------------------------------------------------------------------
// 1. `t2 eval` evaluates the checkpoint of the run it evaluates, from any working directory, and
// refuses a checkpoint of another run (here: of the same sweep name and run id, another spec).

static void test_eval_checks_checkpoint_identity(void **state) {
    (void)state;
    char *a = mkdir_in(root, "id-a"), *b = mkdir_in(root, "id-b");
    free(write_text(a, "q.json", SPEC_A));
    free(write_text(b, "q.json", SPEC_B));
    const char *train[] = {"train", "q.json", "--run", "0", "--no-eval", "--threads", "1", "--quiet", NULL};
    free(t2_in(a, 0, train));
    const char *sweep[] = {"sweep", "q.json", "--threads", "1", "--quiet", NULL};
    free(t2_in(b, 0, sweep)); // b/results/q/run-0.ckpt: another spec's run 0 of sweep "q"
    char *db_a = xasprintf("%s/results/q.db", a), *copy = xasprintf("%s/results/q-copy.db", a);
    copy_file(db_a, copy); // another database of the same runs, beside it

    // From b's directory, where results/q/run-0.ckpt is b's: a's run is evaluated with a's weights.
    const char *eval[] = {"eval", "--db", db_a, "--run", "0", "--threads", "1", "--quiet", NULL};
    free(t2_in(b, 0, eval));
    char *db_b = xasprintf("%s/results/q.db", b);
    const char *gold_sql = "SELECT group_concat(logprob, ' ') FROM (SELECT logprob FROM gold WHERE run_id = 0 "
                           "ORDER BY problem_id)";
    char *gold_a = sql_text(db_a, gold_sql), *gold_b = sql_text(db_b, gold_sql);
    assert_non_null(gold_a);
    assert_non_null(gold_b);
    if (strcmp(gold_a, gold_b) == 0) fail_msg("run 0 of %s was evaluated with the checkpoint of %s", db_a, db_b);
    free(gold_a);
    free(gold_b);
    // The checkpoint is recorded relative to the database's directory.
    char *stored = sql_text(db_a, "SELECT checkpoint FROM runs WHERE run_id = 0");
    assert_string_equal(stored, "q/run-0.ckpt");
    free(stored);

    // b's checkpoint in a's place: refused, naming both specs, and nothing is stored.
    char *ckpt_a = xasprintf("%s/results/q/run-0.ckpt", a), *ckpt_b = xasprintf("%s/results/q/run-0.ckpt", b);
    copy_file(ckpt_b, ckpt_a);
    char *hash_a = spec_hash_of(SPEC_A), *hash_b = spec_hash_of(SPEC_B);
    char *have = xasprintf("checkpoint of run 0 of sweep 'q' (spec %s", hash_b);
    char *want = xasprintf("not of run 0 of sweep 'q' (spec %s", hash_a);
    const char *eval_copy[] = {"eval", "--db", copy, "--threads", "1", "--quiet", NULL};
    const char *msg[] = {ckpt_a, have, want, NULL};
    refused_in(a, eval_copy, msg);
    assert_int_equal(sql_int(copy, "SELECT count(*) FROM evals"), 0);
    assert_int_equal(sql_int(copy, "SELECT count(*) FROM eval_claims"), 0);
    free(have), free(want), free(hash_a), free(hash_b), free(ckpt_a), free(ckpt_b);
    free(db_a), free(db_b), free(copy), free(a), free(b);
}

// ---------------------------------------------------------------------------------------------
// 2. Checkpoints belong to their database: a second spec swept into another --db (t2's own advice
// after "different spec") writes beside that database, never over the first one's checkpoints;
// and a run never removes or overwrites a file that is not its own checkpoint.

static void test_checkpoints_belong_to_their_database(void **state) {
    (void)state;
    char *c = mkdir_in(root, "own");
    free(write_text(c, "q.json", SPEC_A));
    free(write_text(c, "q2.json", SPEC_B));
    const char *sweep1[] = {"sweep", "q.json", "--threads", "1", "--quiet", NULL};
    free(t2_in(c, 0, sweep1));
    char *first = xasprintf("%s/results/q/run-0.ckpt", c);
    size_t n_before;
    char *before = file_bytes(first, &n_before);
    const char *refused_db[] = {"sweep", "q2.json", "--threads", "1", "--quiet", NULL};
    const char *different[] = {"different spec", NULL};
    refused_in(c, refused_db, different); // results/q.db belongs to q.json
    const char *sweep2[] = {"sweep", "q2.json", "--db", "results/q-lr.db", "--threads", "1", "--quiet", NULL};
    free(t2_in(c, 0, sweep2));
    assert_same_file(first, before, n_before);
    char *second = xasprintf("%s/results/q-lr/run-0.ckpt", c), *db2 = xasprintf("%s/results/q-lr.db", c);
    assert_true(file_exists(second));
    char *stored = sql_text(db2, "SELECT checkpoint FROM runs WHERE run_id = 0");
    assert_string_equal(stored, "q-lr/run-0.ckpt");
    free(stored);

    // --ckpt naming another run's checkpoint, or a file that is no checkpoint: refused, untouched.
    char *other = xasprintf("%s/results/q/run-1.ckpt", c);
    size_t n_other;
    char *other_bytes = file_bytes(other, &n_other);
    const char *steal[] = {"train", "q2.json", "--run", "1", "--db", "results/third.db", "--ckpt", other, "--quiet", NULL};
    const char *another_run[] = {"refusing to overwrite a checkpoint of another run", other, NULL};
    refused_in(c, steal, another_run);
    assert_same_file(other, other_bytes, n_other);
    char *notes = write_text(c, "notes.txt", "my notes\n");
    const char *clobber[] = {"train", "q2.json", "--run", "1", "--db", "results/third.db", "--ckpt", "notes.txt", "--quiet", NULL};
    const char *not_ckpt[] = {"notes.txt exists and is not a t2 checkpoint", NULL};
    refused_in(c, clobber, not_ckpt);
    assert_same_file(notes, "my notes\n", 9);
    free(notes), free(other), free(other_bytes), free(second), free(db2), free(first), free(before), free(c);
}

// ---------------------------------------------------------------------------------------------
// 3, 4. A command never writes over one of its inputs (the same file, also through a link).

static void test_outputs_never_overwrite_inputs(void **state) {
    (void)state;
    char *d = mkdir_in(root, "io");
    free(write_text(d, "q.json", SPEC_A));
    const char *sweep[] = {"sweep", "q.json", "--threads", "1", "--quiet", NULL};
    free(t2_in(d, 0, sweep));
    const char *db = "results/q.db", *ckpt = "results/q/run-0.ckpt";
    char *db_path = xasprintf("%s/%s", d, db), *ckpt_path = xasprintf("%s/%s", d, ckpt);
    char *alias = xasprintf("%s/alias.db", d);
    assert_int_equal(link(db_path, alias), 0);
    size_t n_db, n_ckpt;
    char *db_bytes = file_bytes(db_path, &n_db), *ckpt_bytes = file_bytes(ckpt_path, &n_ckpt);

    const char *report[] = {"report", "--db", db, "--out", db, NULL};
    const char *report_link[] = {"report", "--db", db, "--out", "alias.db", NULL};
    const char *is_db[] = {"--out", "is --db itself", NULL};
    refused_in(d, report, is_db);
    refused_in(d, report_link, is_db);
    const char *export[] = {"export", "--ckpt", ckpt, "--out", ckpt, NULL};
    const char *is_ckpt[] = {"--out", "is --ckpt itself", NULL};
    refused_in(d, export, is_ckpt);
    const char *train_spec[] = {"train", "q.json", "--run", "0", "--ckpt", "q.json", NULL};
    const char *is_spec[] = {"--ckpt", "is SPEC itself", NULL};
    refused_in(d, train_spec, is_spec);
    const char *train_db[] = {"train", "q.json", "--run", "0", "--ckpt", db, NULL};
    const char *ckpt_is_db[] = {"--ckpt", "is --db itself", NULL};
    refused_in(d, train_db, ckpt_is_db);
    const char *slurm[] = {"slurm", "q.json", "--out", "q.json", NULL};
    const char *out_is_spec[] = {"--out", "is SPEC itself", NULL};
    refused_in(d, slurm, out_is_spec);
    assert_same_file(db_path, db_bytes, n_db);
    assert_same_file(ckpt_path, ckpt_bytes, n_ckpt);
    assert_same_file(alias, db_bytes, n_db);
    // The same commands write their outputs elsewhere.
    const char *report_ok[] = {"report", "--db", db, "--out", "report.md", NULL};
    free(t2_in(d, 0, report_ok));
    const char *export_ok[] = {"export", "--ckpt", ckpt, "--out", "q.safetensors", NULL};
    free(t2_in(d, 0, export_ok));
    free(db_bytes), free(ckpt_bytes), free(db_path), free(ckpt_path), free(alias), free(d);
}

// ---------------------------------------------------------------------------------------------
// 5. `t2 merge` of databases of one sweep name and different specs names both files (it once
// printed a freed path: garbage in a release build, an abort under AddressSanitizer).

static void test_merge_refusal_names_both_inputs(void **state) {
    (void)state;
    char *d = mkdir_in(root, "merge");
    char *a = xasprintf("%s/a.db", d), *c = xasprintf("%s/c.db", d), *out = xasprintf("%s/out.db", d);
    make_db(a, SPEC_A);
    make_db(c, SPEC_B);
    char *hash_a = spec_hash_of(SPEC_A), *hash_b = spec_hash_of(SPEC_B);
    RunResult r = run_t2("merge", out, a, c, NULL);
    assert_int_equal(r.status, 1);
    char *want = xasprintf("t2: %s: sweep 'q' was created from a different spec (hash %s) than in %s (hash %s): "
                           "refusing to merge\n",
                           c, hash_b, a, hash_a);
    assert_string_equal(r.err, want);
    assert_false(file_exists(out));
    run_free(&r);
    free(want), free(hash_a), free(hash_b), free(a), free(c), free(out), free(d);
}

// ---------------------------------------------------------------------------------------------
// 6, 7. `t2 slurm`: nothing the user passes can end a #SBATCH line or run in the job's shell.

static void test_slurm_script_cannot_be_injected(void **state) {
    (void)state;
    char *d = mkdir_in(root, "slurm");
    char *spec = write_text(d, "q.json", SPEC_A);
    char *evil = mkdir_in(d, "x\n#SBATCH --wrap=x\ntouch INJECTED\n");
    const char *from_evil[] = {"slurm", spec, NULL};
    const char *control[] = {"holds a control character", "\\n#SBATCH", NULL};
    refused_in(evil, from_evil, control);
    char *results = xasprintf("%s/results", evil);
    assert_false(file_exists(results)); // refused before anything was created

    const char *const bad_partition[] = {"$(touch P) x", "a;b", "a b", "", ",", "a,,b", "p\n#SBATCH --x"};
    for (size_t i = 0; i < ARRAY_LEN(bad_partition); i++) {
        const char *args[] = {"slurm", "q.json", "--partition", bad_partition[i], NULL};
        const char *want[] = {"--partition", NULL};
        refused_in(d, args, want);
    }
    const char *const bad_time[] = {"$(touch T)", "1:00\n#SBATCH --wrap=x", "1:2:3:4", "1-", "a", "10:100", "-5"};
    for (size_t i = 0; i < ARRAY_LEN(bad_time); i++) {
        const char *args[] = {"slurm", "q.json", "--time", bad_time[i], NULL};
        const char *want[] = {"--time", NULL};
        refused_in(d, args, want);
    }
    const char *const good_time[] = {"30", "30:00", "12:30:00", "2-12", "2-12:30", "2-12:30:00", "UNLIMITED"};
    for (size_t i = 0; i < ARRAY_LEN(good_time); i++) {
        const char *args[] = {"slurm", "q.json", "--time", good_time[i], "--partition", "debug,gpu-1", NULL};
        char *script = t2_in(d, 0, args);
        char *line = xasprintf("#SBATCH --time=%s\n", good_time[i]);
        assert_non_null(strstr(script, line));
        assert_non_null(strstr(script, "#SBATCH --partition=debug,gpu-1\n"));
        assert_non_null(strstr(script, "--partition='debug,gpu-1' ")); // quoted in the merge job's command
        // The local directory is a fresh mktemp one, never a predictable name in a shared /tmp.
        assert_non_null(strstr(script, "LOCAL=$(mktemp -d \"${SLURM_TMPDIR:-${TMPDIR:-/tmp}}/t2-q-"));
        free(line);
        free(script);
    }
    free(results), free(evil), free(spec), free(d);
}

// ---------------------------------------------------------------------------------------------
// 8. An empty path is an error, never "/" or the working directory.

static void test_empty_paths_refused(void **state) {
    (void)state;
    char *d = mkdir_in(root, "empty");
    free(write_text(d, "q.json", SPEC_A));
    struct {
        const char *args[8];
        const char *opt;
    } cases[] = {
        {{"plot", "--db", "q.db", "--out", "", NULL}, "--out: empty value"},
        {{"report", "--db", "q.db", "--out", "", NULL}, "--out: empty value"},
        {{"report", "--db", "", NULL}, "--db: empty value"},
        {{"export", "--ckpt", "x.ckpt", "--out", "", NULL}, "--out: empty value"},
        {{"sweep", "q.json", "--db", "", NULL}, "--db: empty value"},
        {{"sweep", "q.json", "--ckpt-dir=", NULL}, "--ckpt-dir: empty value"},
        {{"train", "q.json", "--run", "0", "--ckpt", "", NULL}, "--ckpt: empty value"},
        {{"merge", "", "q.db", NULL}, "empty argument"},
        {{"sweep", "", NULL}, "empty argument"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *want[] = {cases[i].opt, NULL};
        refused_in(d, cases[i].args, want);
    }
    free(d);
}

// ---------------------------------------------------------------------------------------------
// 9. A database in a directory the user cannot write: the reading commands work (fits made for
// them are not stored), and a writing command says why it cannot.

static void test_readonly_directory(void **state) {
    (void)state;
    char *d = mkdir_in(root, "ro-src");
    free(write_text(d, "q.json", SPEC_A));
    const char *sweep[] = {"sweep", "q.json", "--threads", "1", "--quiet", NULL};
    free(t2_in(d, 0, sweep));
    char *ro = mkdir_in(root, "ro"), *out = mkdir_in(root, "ro-out");
    char *db = xasprintf("%s/q.db", ro), *src = xasprintf("%s/results/q.db", d);
    copy_file(src, db);
    assert_int_equal(chmod(root, 0755), 0);
    assert_int_equal(chmod(out, 0777), 0);
    assert_int_equal(chmod(db, 0644), 0);
    if (geteuid() != 0) assert_int_equal(chmod(ro, 0555), 0);
    size_t n;
    char *bytes = file_bytes(db, &n);

    RunResult r = t2_unprivileged(ro, "report --db q.db");
    if (r.status != 0) fail_msg("t2 report in a read-only directory: %s", r.err);
    assert_non_null(strstr(r.out, "# "));
    run_free(&r);
    char *plot = xasprintf("plot --db q.db --out '%s/plots' --quiet", out);
    r = t2_unprivileged(ro, plot);
    if (r.status != 0) fail_msg("t2 plot in a read-only directory: %s", r.err);
    run_free(&r);
    char *merge = xasprintf("merge '%s/merged.db' q.db", out);
    r = t2_unprivileged(ro, merge);
    if (r.status != 0) fail_msg("t2 merge from a read-only directory: %s", r.err);
    run_free(&r);
    r = t2_unprivileged(ro, "eval --db q.db --rescore");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "q.db: cannot write to the database"));
    assert_int_equal(count_lines_with(r.err, "t2:"), 1);
    run_free(&r);
    assert_same_file(db, bytes, n);
    char *wal = xasprintf("%s-wal", db);
    assert_false(file_exists(wal));
    if (geteuid() != 0) chmod(ro, 0755);
    free(wal), free(merge), free(plot), free(bytes), free(db), free(src), free(ro), free(out), free(d);
}

// ---------------------------------------------------------------------------------------------
// 10, 11. A damaged database, or one with a table dropped, is named as damaged on open.

static void test_damaged_database_named(void **state) {
    (void)state;
    char *d = mkdir_in(root, "damage");
    free(write_text(d, "q.json", SPEC_A));
    const char *sweep[] = {"sweep", "q.json", "--threads", "1", "--quiet", NULL};
    free(t2_in(d, 0, sweep));
    char *good = xasprintf("%s/results/q.db", d);
    // Bytes of the stored spec changed (the file's structure intact): a JSON error once.
    char *text = xasprintf("%s/text.db", d);
    copy_file(good, text);
    size_t n;
    char *bytes = file_bytes(text, &n);
    char *at = memmem(bytes, n, "\"budgets\"", 9);
    assert_non_null(at);
    at[3] = '#';
    FILE *f = fopen(text, "wb");
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
    free(bytes);
    const char *report_text[] = {"report", "--db", "text.db", NULL};
    const char *damaged[] = {"text.db: the database is damaged", NULL};
    refused_in(d, report_text, damaged);
    // A page of the runs table overwritten: quick_check's finding is quoted.
    char *page = xasprintf("%s/page.db", d);
    copy_file(good, page);
    long long root_page = sql_int(page, "SELECT rootpage FROM sqlite_master WHERE name = 'runs'");
    long long page_size = sql_int(page, "PRAGMA page_size");
    f = fopen(page, "r+b");
    assert_int_equal(fseek(f, (long)((root_page - 1) * page_size), SEEK_SET), 0);
    for (int i = 0; i < 256; i++) fputc(0x41, f);
    fclose(f);
    const char *report_page[] = {"report", "--db", "page.db", NULL};
    const char *quick[] = {"page.db: the database is damaged (PRAGMA quick_check: ", NULL};
    refused_in(d, report_page, quick);
    const char *sweep_page[] = {"sweep", "q.json", "--db", "page.db", NULL};
    refused_in(d, sweep_page, quick);

    // A table dropped: refused on open, by the writer and by the readers, naming the table.
    char *dropped = xasprintf("%s/dropped.db", d);
    copy_file(good, dropped);
    sql_exec(dropped, "DROP TABLE gold");
    const char *sweep_dropped[] = {"sweep", "q.json", "--db", "dropped.db", NULL};
    const char *missing[] = {"dropped.db: damaged t2 database: table 'gold' is missing", NULL};
    refused_in(d, sweep_dropped, missing);
    const char *report_dropped[] = {"report", "--db", "dropped.db", NULL};
    refused_in(d, report_dropped, missing);
    char *column = xasprintf("%s/column.db", d);
    copy_file(good, column);
    sql_exec(column, "ALTER TABLE runs DROP COLUMN val_loss");
    const char *report_column[] = {"report", "--db", "column.db", NULL};
    const char *lacks[] = {"column.db: damaged t2 database: table 'runs' lacks column 'val_loss'", NULL};
    refused_in(d, report_column, lacks);
    free(column), free(dropped), free(page), free(text), free(good), free(d);
}

// ---------------------------------------------------------------------------------------------
// 12. A spec edited while its sweep runs stops the sweep once, with one message.

static const char EDIT_SPEC[] =
    "{\"name\": \"e\", \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 8, \"seed\": 4},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}],\n"
    " \"budgets\": {\"tokens\": [120000, 2048, 3072, 4096]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 8, \"lr\": 0.003},\n"
    " \"eval\": {\"n_samples\": 2, \"k\": [1, 2], \"max_new_tokens\": 6}}\n";

static void sweep_with_edit(const char *dir, const char *edited, const char *want) {
    char *spec = write_text(dir, "e.json", EDIT_SPEC), *db = xasprintf("%s/results/e.db", dir);
    const char *args[] = {"sweep", "e.json", "--jobs", "1", "--threads", "1", NULL};
    pid_t pid = start_t2(dir, "sweep.log", 0, args);
    long long running = 0;
    for (int i = 0; running == 0; i++) { // edit while run 0 trains
        if (i > 3000) fail_msg("run 0 did not start within 30 s");
        if (sql_try_int(db, "SELECT count(*) FROM runs WHERE run_id = 0 AND status = 'running'", &running) != 0)
            running = 0;
        sleep_ms(10);
    }
    free(write_text(dir, "e.json", edited));
    int code = wait_exit(pid);
    char *log = read_log(dir, "sweep.log");
    if (code != 1 || count_lines_with(log, want) != 1 || count_lines_with(log, "different spec") != 0)
        fail_msg("edited spec: exit %d, log:\n%s", code, log);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM runs WHERE status = 'done'"), 1);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM runs WHERE attempts > 0"), 1);
    free(log), free(spec), free(db);
}

static void test_spec_edited_during_sweep(void **state) {
    (void)state;
    char *d1 = mkdir_in(root, "edit1"), *d2 = mkdir_in(root, "edit2");
    char *changed = xstrdup(EDIT_SPEC);
    memcpy(strstr(changed, "0.003"), "0.005", 5);
    sweep_with_edit(d1, changed, "changed during the sweep");
    sweep_with_edit(d2, "{\"name\": \"e\",", "changed during the sweep and no longer loads");
    free(changed), free(d1), free(d2);
}

// ---------------------------------------------------------------------------------------------
// 13. A NUL character in a spec string (or a NUL byte in the file) is refused, never truncated.

static void test_nul_in_spec_refused(void **state) {
    (void)state;
    char *d = mkdir_in(root, "nul");
    char *text = xstrdup(SPEC_A);
    char *name = strstr(text, "\"q\"");
    char *escaped = xasprintf("%.*s\"ti\\u0000ny\"%s", (int)(name - text), text, name + 3);
    free(write_text(d, "nul.json", escaped));
    const char *args[] = {"sweep", "nul.json", "--dry-run", NULL};
    const char *want[] = {"nul.json:1:13: a string holds a NUL character", NULL};
    refused_in(d, args, want);
    // A NUL byte after a complete spec: what follows it was silently ignored.
    char *path = xasprintf("%s/byte.json", d);
    FILE *f = fopen(path, "wb");
    fwrite(SPEC_A, 1, strlen(SPEC_A), f);
    fwrite("\0{", 1, 2, f);
    fclose(f);
    const char *args2[] = {"sweep", "byte.json", "--dry-run", NULL};
    const char *want2[] = {"byte.json: holds a NUL byte at offset", NULL};
    refused_in(d, args2, want2);
    free(path), free(escaped), free(text), free(d);
}

// ---------------------------------------------------------------------------------------------
// 14. Integers are parsed whole and range-checked, by one parser.

static void test_integers_range_checked(void **state) {
    (void)state;
    struct {
        const char *s;
        long lo, hi;
        int rc;
        long v;
    } cases[] = {
        {"12", 0, 100, 0, 12},          {"+7", 0, 100, 0, 7},           {"1e6", 0, 2000000, 0, 1000000},
        {"-3", -5, 5, 0, -3},           {"-3", 0, 5, PARSE_RANGE, 0},   {"101", 0, 100, PARSE_RANGE, 0},
        {"99999999999", 0, 2147483647, PARSE_RANGE, 0},                 {"9223372036854775808", 0, 9, PARSE_RANGE, 0},
        {"1e400", 0, 9, PARSE_RANGE, 0}, {"", 0, 9, PARSE_NOT_INT, 0},  {" 7", 0, 9, PARSE_NOT_INT, 0},
        {"7 ", 0, 9, PARSE_NOT_INT, 0}, {"0x10", 0, 99, PARSE_NOT_INT, 0}, {"1.5", 0, 9, PARSE_NOT_INT, 0},
        {"nan", 0, 9, PARSE_NOT_INT, 0}, {"inf", 0, 9, PARSE_NOT_INT, 0}, {"1e-400", 0, 9, PARSE_NOT_INT, 0},
        {"x", 0, 9, PARSE_NOT_INT, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        long v = -1;
        int rc = parse_int(cases[i].s, cases[i].lo, cases[i].hi, &v);
        if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
            fail_msg("parse_int(\"%s\", %ld, %ld) = %d (%ld), want %d (%ld)", cases[i].s, cases[i].lo, cases[i].hi, rc, v,
                     cases[i].rc, cases[i].v);
    }
    char *d = mkdir_in(root, "ints");
    free(write_text(d, "q.json", SPEC_A));
    struct {
        const char *args[8];
        const char *want;
    } cli[] = {
        {{"sweep", "q.json", "--dry-run", "--shard", "0/99999999999", NULL}, "--shard: expected I/N"},
        {{"sweep", "q.json", "--dry-run", "--shard", "4294967296/4294967297", NULL}, "--shard: expected I/N"},
        {{"sweep", "q.json", "--dry-run", "--jobs", "99999999999999999999", NULL},
         "--jobs: 99999999999999999999 is out of range [1, 64]"},
        {{"sweep", "q.json", "--dry-run", "--threads", "1e400", NULL}, "--threads: 1e400 is out of range"},
        {{"sweep", "q.json", "--dry-run", "--threads", " 2", NULL}, "--threads: expected an integer, got ' 2'"},
        {{"train", "q.json", "--run", "4294967296", NULL}, "--run: 4294967296 is out of range"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cli); i++) {
        const char *want[] = {cli[i].want, NULL};
        refused_in(d, cli[i].args, want);
    }
    free(d);
}

// ---------------------------------------------------------------------------------------------
// 15. A spec refused by the parser leaves nothing allocated (the path copy once leaked on every
// error; LeakSanitizer checks the commands in `make asan`). Allocator caches hold freed chunks as
// "in use", so a leak shows as growth over many repetitions, not as the difference of one call.

static size_t in_use(void) { return mallinfo2().uordblks; }

static void test_spec_errors_leak_nothing(void **state) {
    (void)state;
    const char *const bad[] = {
        "{",                                            // syntax
        "{\"name\": \"ti\\u0000ny\"}",                  // NUL
        "{\"name\": \"x\"}",                            // no task
        "{\"name\": \"x\", \"task\": {\"name\": \"add\"}, \"family\": [{\"n_layer\": 1, \"d_model\": 16, "
        "\"n_head\": 2}], \"budgets\": {\"tokens\": [1]}}", // a budget below one step: after the grid is allocated
    };
    enum { WARM = 20, REPS = 400 };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        Spec s;
        size_t before = 0;
        for (int rep = 0; rep < WARM + REPS; rep++) {
            if (rep == WARM) before = in_use();
            assert_int_equal(spec_parse(&s, bad[i], "bad.json"), -1);
        }
        size_t after = in_use();
        if (after > before + 1024) // 16 bytes a call would be 6400
            fail_msg("spec %zu: %zu bytes more in use after %d errors '%s'", i, after - before, REPS, err_msg());
    }
    Spec s;
    size_t before = 0;
    for (int rep = 0; rep < WARM + REPS; rep++) {
        if (rep == WARM) before = in_use();
        assert_int_equal(spec_load(&s, "/nonexistent/spec.json"), -1);
    }
    assert_true(in_use() <= before + 1024);
}

// ---------------------------------------------------------------------------------------------
// The text task's file is read from the spec's directory, whatever the working directory.

static void test_text_path_from_spec_directory(void **state) {
    (void)state;
    char *d = mkdir_in(root, "text"), *sub = mkdir_in(d, "exp");
    char corpus[4096];
    for (size_t i = 0; i < sizeof corpus - 1; i++) corpus[i] = "the quick brown fox jumps over the lazy dog. "[i % 45];
    corpus[sizeof corpus - 1] = '\0';
    free(write_text(sub, "corpus.txt", corpus));
    free(write_text(sub, "text.json",
                    "{\"name\": \"tx\", \"task\": {\"name\": \"text\", \"path\": \"corpus.txt\"},\n"
                    " \"family\": [{\"n_layer\": 1, \"d_model\": 16, \"n_head\": 2}], \"budgets\": {\"tokens\": [4096]},\n"
                    " \"train\": {\"seq_len\": 32, \"batch_size\": 4}}\n"));
    const char *from_parent[] = {"sweep", "exp/text.json", "--threads", "1", "--quiet", NULL};
    free(t2_in(d, 0, from_parent));
    // Stored absolute: the report finds the file from anywhere too.
    char *db = xasprintf("%s/results/tx.db", d);
    char *json = sql_text(db, "SELECT spec_json FROM sweeps");
    char *want = xasprintf("\"path\":\"%s/corpus.txt\"", sub);
    if (!strstr(json, want)) fail_msg("stored spec %s lacks %s", json, want);
    char *report = xasprintf("cd / && '%s' report --db '%s'", t2_abs(), db);
    RunResult r = run_sh(report);
    if (r.status != 0) fail_msg("t2 report from /: %s", r.err);
    run_free(&r);
    free(report), free(want), free(json), free(db), free(sub), free(d);
}

// ---------------------------------------------------------------------------------------------
// Evaluation is bit-identical at every thread count, also with OpenBLAS's Haswell kernels (whose
// rounding depends on how a product is split): the gold pass runs in fixed-shape work units and
// OpenBLAS never splits a product over its own threads.

static const char THREADS_SPEC[] =
    "{\"name\": \"th\", \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 40, \"seed\": 6},\n"
    " \"family\": [{\"n_layer\": 2, \"d_model\": 48, \"n_head\": 4}],\n"
    " \"budgets\": {\"tokens\": [8192]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 8, \"lr\": 0.003},\n"
    " \"eval\": {\"n_samples\": 3, \"k\": [1, 3], \"max_new_tokens\": 6, \"batch_problems\": 16}}\n";

static void test_eval_independent_of_threads_haswell(void **state) {
    (void)state;
    char *d = mkdir_in(root, "threads");
    free(write_text(d, "th.json", THREADS_SPEC));
    char *cmd = xasprintf("cd '%s' && export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=2 && "
                          "'%s' train th.json --run 0 --db ref.db --threads 1 --quiet && "
                          "'%s' train th.json --run 0 --db n.db --no-eval --threads 1 --quiet && "
                          "cp n.db n1.db && cp n.db n2.db && cp n.db n3.db && "
                          "'%s' eval --db n1.db --threads 1 --quiet && '%s' eval --db n2.db --threads 2 --quiet && "
                          "'%s' eval --db n3.db --threads 3 --quiet",
                          d, t2_abs(), t2_abs(), t2_abs(), t2_abs(), t2_abs());
    RunResult r = run_sh(cmd);
    if (r.status != 0) fail_msg("%s: %s", cmd, r.err);
    run_free(&r);
    char *ref = xasprintf("%s/ref.db", d);
    char *want = dump_content(ref, -1);
    for (int t = 1; t <= 3; t++) {
        char *db = xasprintf("%s/n%d.db", d, t), *what = xasprintf("t2 eval --threads %d (Haswell kernels)", t);
        char *got = dump_content(db, -1);
        assert_same_dump(got, want, what);
        free(got), free(what), free(db);
    }
    free(want), free(ref), free(cmd), free(d);
}

// ---------------------------------------------------------------------------------------------
// The safetensors reader the fuzzer drives: an export reads back bit for bit; a damaged file is one
// error line, never a read past its end.

static void test_safetensors_read_back(void **state) {
    (void)state;
    ModelConfig c = {.n_layer = 2, .d_model = 8, .n_head = 2, .d_ff = 12, .vocab_size = 5, .seq_len = 6,
                     .tied = 0, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    Model m;
    model_build(&m, &c);
    model_init_weights(&m, 3);
    m.params[1] = NAN;
    m.params[2] = -0.0f;
    const char *vocab[] = {"<bos>", "<eos>", "\"q\"", "a\nb", "\xc3\xa9"};
    char *path = xasprintf("%s/m.safetensors", root);
    assert_int_equal(export_safetensors(&m, vocab, path), 0);
    size_t len;
    char *bytes = file_bytes(path, &len);
    Model back;
    char **vocab_back;
    if (safetensors_parse(bytes, len, path, &back, &vocab_back) != 0) fail_msg("%s", err_msg());
    assert_memory_equal(&back.cfg, &c, sizeof c);
    assert_memory_equal(back.params, m.params, m.layout.total * sizeof(float));
    for (int i = 0; i < 5; i++) assert_string_equal(vocab_back[i], vocab[i]);
    free_vocab(vocab_back, 5);
    model_free(&back);
    size_t cuts[] = {0, 7, 8, 100, len / 2, len - 1};
    for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
        char *part = xmalloc(cuts[i] + 1);
        memcpy(part, bytes, cuts[i]);
        assert_int_equal(safetensors_parse(part, cuts[i], "cut.safetensors", &back, &vocab_back), -1);
        assert_non_null(strstr(err_msg(), "cut.safetensors: "));
        free(part);
    }
    bytes[3] ^= 0x40; // a header length far past the end
    assert_int_equal(safetensors_parse(bytes, len, "long.safetensors", &back, &vocab_back), -1);
    assert_non_null(strstr(err_msg(), "header length runs past the end"));
    free(bytes), free(path);
    model_free(&m);
}

// ---------------------------------------------------------------------------------------------

static int setup(void **state) {
    (void)state;
    root = tmpdir_make("hard");
    return t2_abs() ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tmpdir_remove(root);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_checks_checkpoint_identity),
        cmocka_unit_test(test_checkpoints_belong_to_their_database),
        cmocka_unit_test(test_outputs_never_overwrite_inputs),
        cmocka_unit_test(test_merge_refusal_names_both_inputs),
        cmocka_unit_test(test_slurm_script_cannot_be_injected),
        cmocka_unit_test(test_empty_paths_refused),
        cmocka_unit_test(test_readonly_directory),
        cmocka_unit_test(test_damaged_database_named),
        cmocka_unit_test(test_spec_edited_during_sweep),
        cmocka_unit_test(test_nul_in_spec_refused),
        cmocka_unit_test(test_integers_range_checked),
        cmocka_unit_test(test_spec_errors_leak_nothing),
        cmocka_unit_test(test_text_path_from_spec_directory),
        cmocka_unit_test(test_eval_independent_of_threads_haswell),
        cmocka_unit_test(test_safetensors_read_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
