// test_sweep.c — `t2 sweep` end to end through the CLI, against one uninterrupted reference sweep
// of a tiny spec (4 runs, seconds each): shards take a deterministic share and merge into the
// reference; merging twice changes nothing; two sweeps on one database split the runs; a sweep
// killed with SIGKILL mid-training and re-run ends bit-identical to the reference; a re-run of a
// finished sweep (or `t2 train` on a done run) does nothing; `t2 eval --rescore` reproduces the
// stored metrics; databases of another schema version or another spec are refused untouched.
//
// Every process trains with one thread (`--jobs 2 --threads 2` or `--jobs 1 --threads 1`):
// results are bit-identical only at a fixed thread count. Comparisons cover content (losses,
// train_log, samples, gold, metrics), never wall times, owners or eval ids.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sweeputil.h"
#include "testutil.h"
#include "util/util.h"

#define SPEC TINY_SPEC
enum { N_RUNS = TINY_RUNS, LONG_RUN = TINY_LONG_RUN, SHORT_RUN = TINY_SHORT_RUN };

// The reference: one uninterrupted sweep, made once for the whole group.
static struct {
    char *dir;  // holds spec.json and results/
    char *db;   // dir/results/tiny.db
    char *want; // its content dump
} ref;

static char *new_dir(const char *tag) {
    char *dir = tmpdir_make(tag);
    free(write_text(dir, "spec.json", SPEC));
    return dir;
}

static long count_after(const char *text, const char *suffix) {
    const char *p = strstr(text, suffix);
    if (!p) fail_msg("'%s' not in: %s", suffix, text);
    while (p > text && p[-1] == ' ') p--;
    while (p > text && p[-1] >= '0' && p[-1] <= '9') p--;
    return strtol(p, NULL, 10);
}

// A standalone copy of the reference database (VACUUM INTO: consistent, no -wal file needed),
// back in WAL mode like every database t2 makes.
static char *copy_ref_db(const char *dir, const char *name) {
    char *path = xasprintf("%s/%s", dir, name);
    char *sql = xasprintf("VACUUM INTO '%s'", path);
    sql_exec(ref.db, sql);
    sql_exec(path, "PRAGMA journal_mode = WAL");
    free(sql);
    return path;
}

// ---------------------------------------------------------------------------------------------
// The reference.

static int make_reference(void **state) {
    (void)state;
    if (!t2_abs()) {
        fprintf(stderr, "test_sweep: %s: %s (run make first)\n", t2_bin(), strerror(errno));
        return -1;
    }
    ref.dir = new_dir("sweep-ref");
    ref.db = xasprintf("%s/results/tiny.db", ref.dir);
    const char *args[] = {"sweep", "spec.json", "--jobs", "2", "--threads", "2", "--quiet", NULL};
    int code = wait_exit(start_t2(ref.dir, "t2.log", 0, args));
    if (code != 0) {
        char *log = xasprintf("%s/t2.log", ref.dir), *out = read_file(log, NULL);
        fprintf(stderr, "test_sweep: the reference sweep exited %d:\n%s", code, out ? out : "");
        free(out);
        free(log);
        return -1;
    }
    ref.want = dump_content(ref.db, -1);
    return 0;
}

static int remove_reference(void **state) {
    (void)state;
    tmpdir_remove(ref.dir);
    free(ref.db);
    free(ref.want);
    return 0;
}

static void test_reference_is_complete(void **state) {
    (void)state;
    assert_int_equal(sql_int(ref.db, "SELECT count(*) FROM runs WHERE status = 'done' AND step = train_steps"), N_RUNS);
    assert_int_equal(sql_int(ref.db, "SELECT count(*) FROM runs WHERE threads = 1 AND attempts = 1"), N_RUNS);
    assert_int_equal(sql_int(ref.db, "SELECT count(*) FROM evals"), N_RUNS);
    assert_int_equal(sql_int(ref.db, "SELECT count(*) FROM samples"), N_RUNS * 20 * 8);
    assert_int_equal(sql_int(ref.db, "SELECT count(*) FROM metrics"), N_RUNS * 3 * 4);
    assert_int_equal(sql_int(ref.db, "SELECT count(*) FROM gold"), N_RUNS * 20);
    // Every run logged up to its last step, at least 57 rows (every step up to 200 steps).
    assert_int_equal(sql_int(ref.db, "SELECT count(*) FROM (SELECT run_id FROM train_log GROUP BY run_id "
                                   "HAVING count(*) >= 57 AND max(step) = (SELECT train_steps FROM runs r "
                                   "WHERE r.run_id = train_log.run_id))"),
                     N_RUNS);
}

// ---------------------------------------------------------------------------------------------
// --shard I/N: the share of every shard, listed by --dry-run, is run_id mod N == I.

static void dry_run_ids(const char *dir, const char *shard, int *ids, int *n) {
    const char *args[] = {"sweep", "spec.json", "--dry-run", "--threads", "1", "--shard", shard, NULL};
    char *out = t2_ok(dir, args);
    *n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int id, model;
        if (sscanf(line, "%d %d", &id, &model) == 2) ids[(*n)++] = id;
    }
    free(out);
}

static void test_shard_share(void **state) {
    (void)state;
    char *dir = new_dir("sweep-shard");
    for (int n_shards = 2; n_shards <= 3; n_shards++) {
        int seen[N_RUNS] = {0};
        for (int i = 0; i < n_shards; i++) {
            char shard[16];
            snprintf(shard, sizeof shard, "%d/%d", i, n_shards);
            int ids[N_RUNS + 1], n;
            dry_run_ids(dir, shard, ids, &n);
            int expect = 0;
            for (int r = 0; r < N_RUNS; r++) expect += r % n_shards == i;
            assert_int_equal(n, expect);
            for (int k = 0; k < n; k++) {
                assert_in_range(ids[k], 0, N_RUNS - 1);
                assert_int_equal(ids[k] % n_shards, i);
                seen[ids[k]]++;
            }
        }
        for (int r = 0; r < N_RUNS; r++) assert_int_equal(seen[r], 1); // the shards partition the grid
    }
    char *results = xasprintf("%s/results", dir);
    assert_false(file_exists(results)); // --dry-run creates nothing
    free(results);
    static const char *const bad[] = {"2/2", "1/0", "-1/2", "a/b", "1/2x", "1"};
    for (size_t b = 0; b < ARRAY_LEN(bad); b++) {
        const char *args[] = {"sweep", "spec.json", "--dry-run", "--shard", bad[b], NULL};
        const char *want[] = {"--shard", bad[b], NULL};
        t2_refused(dir, args, want);
    }
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Shards on separate "nodes" merged equal the one-process sweep; merging again changes nothing.

static void test_shards_merge_to_reference(void **state) {
    (void)state;
    char *dirs[2] = {new_dir("sweep-node0"), new_dir("sweep-node1")};
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"sweep", "spec.json", "--shard", i ? "1/2" : "0/2", "--db", "shard.db", "--jobs", "1",
                              "--threads", "1", "--quiet", NULL};
        pids[i] = start_t2(dirs[i], "sweep.log", 0, args);
    }
    char *shard_db[2];
    for (int i = 0; i < 2; i++) {
        int code = wait_exit(pids[i]);
        char *log = read_log(dirs[i], "sweep.log");
        if (code != 0) fail_msg("shard %d exited %d:\n%s", i, code, log);
        free(log);
        shard_db[i] = xasprintf("%s/shard.db", dirs[i]);
        // Each shard trained its share only; the other runs wait, pending.
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE (run_id %% 2 = %d) = (status = 'done')", i);
        assert_int_equal(sql_int(shard_db[i], sql), N_RUNS);
        assert_int_equal(sql_int(shard_db[i], "SELECT count(*) FROM runs WHERE status NOT IN ('done', 'pending')"), 0);
    }
    char *out_dir = tmpdir_make("sweep-merge"), *merged = xasprintf("%s/merged.db", out_dir);
    const char *merge[] = {"merge", merged, shard_db[0], shard_db[1], NULL};
    free(t2_ok(out_dir, merge));
    char *got = dump_content(merged, -1);
    assert_same_dump(got, ref.want, "the merged shards");
    free(got);
    // Each run's checkpoint, stored relative to its shard's database, still resolves from the merge.
    assert_checkpoints_resolve(merged, N_RUNS);
    // Merge twice equals merge once, in either order.
    char *once = dump_full(merged);
    free(t2_ok(out_dir, merge));
    const char *reverse[] = {"merge", merged, shard_db[1], shard_db[0], NULL};
    free(t2_ok(out_dir, reverse));
    char *thrice = dump_full(merged);
    assert_same_dump(thrice, once, "the database merged again");
    free(once);
    free(thrice);
    for (int i = 0; i < 2; i++) {
        free(shard_db[i]);
        tmpdir_remove(dirs[i]);
    }
    free(merged);
    tmpdir_remove(out_dir);
}

// ---------------------------------------------------------------------------------------------
// Two sweeps started together on one database split the runs: each run trained once.

static void test_two_sweeps_split_runs(void **state) {
    (void)state;
    char *dir = new_dir("sweep-two");
    const char *args[] = {"sweep", "spec.json", "--jobs", "1", "--threads", "1", "--quiet", NULL};
    pid_t a = start_t2(dir, "a.log", 0, args), b = start_t2(dir, "b.log", 0, args);
    int code_a = wait_exit(a), code_b = wait_exit(b);
    char *log_a = read_log(dir, "a.log"), *log_b = read_log(dir, "b.log");
    if (code_a != 0 || code_b != 0) fail_msg("sweeps exited %d and %d:\n%s\n%s", code_a, code_b, log_a, log_b);
    long done_a = count_after(log_a, " done now"), done_b = count_after(log_b, " done now");
    if (done_a < 1 || done_b < 1 || done_a + done_b != N_RUNS)
        fail_msg("the sweeps trained %ld and %ld of %d runs:\n%s\n%s", done_a, done_b, N_RUNS, log_a, log_b);
    char *db = xasprintf("%s/results/tiny.db", dir);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM runs WHERE attempts = 1"), N_RUNS); // nothing trained twice
    char *got = dump_content(db, -1);
    assert_same_dump(got, ref.want, "two sweeps on one database");
    free(got);
    free(db);
    free(log_a);
    free(log_b);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// kill -9 of the whole sweep (parent and children) mid-training, then a re-run: bit-identical.

// The last checkpointed step of RUN_ID while it is running, else -1.
static long long checkpointed_step(const char *db, int run_id) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT CASE status WHEN 'running' THEN step ELSE -1 END FROM runs WHERE run_id = %d",
             run_id);
    long long step;
    return sql_try_int(db, sql, &step) == 0 ? step : -1;
}

static void test_kill9_and_rerun(void **state) {
    (void)state;
    char *dir = new_dir("sweep-kill");
    char *db = xasprintf("%s/results/tiny.db", dir);
    const char *args[] = {"sweep", "spec.json", "--jobs", "2", "--threads", "2", "--quiet", NULL};
    // Become the subreaper of the sweep's children, so that no zombie outlives the test whatever
    // init this machine has (the database treats a zombie owner as dead, see test_db).
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    pid_t pid = start_t2(dir, "killed.log", 1, args);
    // Kill once the long run has recorded a few checkpoints (it has 721 steps, one every 20).
    long long step = -1;
    for (int waited = 0; step < 100; waited += 10) {
        if (waited > 60000) {
            kill(-pid, SIGKILL);
            wait_exit(pid);
            fail_msg("run %d recorded no checkpoint at step >= 100 within 60 s", LONG_RUN);
        }
        sleep_ms(10);
        step = checkpointed_step(db, LONG_RUN);
    }
    assert_int_equal(kill(-pid, SIGKILL), 0);
    assert_int_equal(wait_exit(pid), 128 + SIGKILL);
    // Its children, orphaned, were handed to this process (a subreaper): reap them.
    while (waitpid(-pid, NULL, 0) > 0) {
    }
    assert_int_not_equal(sql_int(db, "SELECT count(*) FROM runs WHERE status = 'running'"), 0);

    char *log = t2_ok(dir, args);
    assert_non_null(strstr(log, " 0 errors"));
    assert_non_null(strstr(log, "(resumed at step ")); // the finished-run line says it resumed
    free(log);
    char *got = dump_content(db, -1);
    assert_same_dump(got, ref.want, "the killed and re-run sweep");
    free(got);
    // The long run resumed from its checkpoint (a second attempt of a run with a recorded step).
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT attempts FROM runs WHERE run_id = %d", LONG_RUN);
    assert_int_equal(sql_int(db, sql), 2);
    free(db);
    tmpdir_remove(dir);
}

// A checkpoint file the database never recorded (killed between writing and recording it, or a
// new database beside old results) is not resumed from: the run trains from step 0, log complete.
static void test_unrecorded_checkpoint_ignored(void **state) {
    (void)state;
    char *dir = new_dir("sweep-orphan");
    char *src = xasprintf("%s/results/tiny/run-%d.ckpt", ref.dir, SHORT_RUN);
    char *dst = xasprintf("%s/results/tiny/run-%d.ckpt", dir, SHORT_RUN);
    assert_int_equal(make_dirs(dst, 0), 0);
    size_t n;
    char *bytes = slurp_file(src, &n);
    FILE *f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    char run[16];
    snprintf(run, sizeof run, "%d", SHORT_RUN);
    const char *args[] = {"train", "spec.json", "--run", run, "--threads", "1", "--quiet", NULL};
    free(t2_ok(dir, args));
    char *db = xasprintf("%s/results/tiny.db", dir);
    char *got = dump_content(db, SHORT_RUN), *want = dump_content(ref.db, SHORT_RUN);
    assert_same_dump(got, want, "a run next to an unrecorded checkpoint");
    free(got);
    free(want);
    free(db);
    free(bytes);
    free(src);
    free(dst);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// A finished sweep: re-running it, `t2 train` on a done run, `t2 eval` do nothing.

static void test_rerun_of_finished_does_nothing(void **state) {
    (void)state;
    char *before = dump_full(ref.db);
    char *ckpt = xasprintf("%s/results/tiny/run-%d.ckpt", ref.dir, LONG_RUN);
    size_t n_ckpt;
    char *ckpt_bytes = slurp_file(ckpt, &n_ckpt);

    const char *sweep[] = {"sweep", "spec.json", "--jobs", "2", "--threads", "2", "--quiet", NULL};
    char *log = t2_ok(ref.dir, sweep);
    if (!strstr(log, "0 to do") || !strstr(log, "0 done now, 4 done before")) fail_msg("re-run said:\n%s", log);
    free(log);
    char run[16];
    snprintf(run, sizeof run, "%d", LONG_RUN);
    const char *train[] = {"train", "spec.json", "--run", run, "--threads", "1", "--quiet", NULL};
    free(t2_ok(ref.dir, train));
    const char *eval[] = {"eval", "--db", ref.db, "--threads", "1", "--quiet", NULL};
    free(t2_ok(ref.dir, eval));

    char *after = dump_full(ref.db);
    assert_same_dump(after, before, "the finished sweep after re-runs");
    assert_same_file(ckpt, ckpt_bytes, n_ckpt);
    free(after);
    free(before);
    free(ckpt_bytes);
    free(ckpt);
}

// `t2 eval --rescore` recomputes answers, correctness and metrics from the stored samples alone.
static void test_rescore_reproduces_metrics(void **state) {
    (void)state;
    char *dir = tmpdir_make("sweep-rescore");
    char *db = copy_ref_db(dir, "copy.db");
    sql_exec(db, "UPDATE samples SET correct = 1 - correct, answer = 'x'; UPDATE metrics SET value = 0.5");
    char *scrambled = dump_content(db, -1);
    assert_string_not_equal(scrambled, ref.want);
    free(scrambled);
    const char *args[] = {"eval", "--db", db, "--rescore", NULL};
    char *log = t2_ok(dir, args);
    assert_non_null(strstr(log, "rescored 4 evals"));
    free(log);
    char *got = dump_content(db, -1);
    assert_same_dump(got, ref.want, "the rescored database");
    free(got);
    free(db);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Databases that are not this sweep's are refused with one line and left byte for byte.

static void refused_untouched(const char *dir, const char *db, const char *const *args, const char *const *want) {
    size_t n;
    char *before = slurp_file(db, &n);
    t2_refused(dir, args, want);
    assert_same_file(db, before, n);
    free(before);
}

static void test_foreign_databases_refused(void **state) {
    (void)state;
    char *dir = new_dir("sweep-foreign");
    // Another schema version: newer, and 0 (a damaged header).
    static const char *const versions[][2] = {{"PRAGMA user_version = 99", "newer than this t2"},
                                              {"PRAGMA user_version = 0", "damaged header"}};
    for (size_t v = 0; v < ARRAY_LEN(versions); v++) {
        char *db = copy_ref_db(dir, v ? "v0.db" : "v99.db");
        sql_exec(db, versions[v][0]);
        const char *want[] = {db, versions[v][1], NULL};
        const char *sweep[] = {"sweep", "spec.json", "--db", db, NULL};
        refused_untouched(dir, db, sweep, want);
        const char *train[] = {"train", "spec.json", "--run", "0", "--db", db, NULL};
        refused_untouched(dir, db, train, want);
        const char *eval[] = {"eval", "--db", db, NULL};
        refused_untouched(dir, db, eval, want);
        free(db);
    }
    // Another spec of the same name, and another sweep.
    char *db = copy_ref_db(dir, "tiny.db");
    char *other_lr = xstrdup(SPEC), *p = strstr(other_lr, "3e-3");
    memcpy(p, "1e-3", 4);
    free(write_text(dir, "other-lr.json", other_lr));
    char *other_name = xstrdup(SPEC);
    memcpy(strstr(other_name, "\"tiny\""), "\"tinz\"", 6);
    free(write_text(dir, "other-name.json", other_name));
    const char *want_spec[] = {db, "different spec", NULL};
    const char *sweep_lr[] = {"sweep", "other-lr.json", "--db", db, NULL};
    refused_untouched(dir, db, sweep_lr, want_spec);
    const char *train_lr[] = {"train", "other-lr.json", "--run", "0", "--db", db, NULL};
    refused_untouched(dir, db, train_lr, want_spec);
    const char *want_name[] = {db, "holds sweep 'tiny'", NULL};
    const char *sweep_name[] = {"sweep", "other-name.json", "--db", db, NULL};
    refused_untouched(dir, db, sweep_name, want_name);
    free(other_lr);
    free(other_name);
    free(db);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_is_complete),
        cmocka_unit_test(test_shard_share),
        cmocka_unit_test(test_shards_merge_to_reference),
        cmocka_unit_test(test_two_sweeps_split_runs),
        cmocka_unit_test(test_kill9_and_rerun),
        cmocka_unit_test(test_unrecorded_checkpoint_ignored),
        cmocka_unit_test(test_rerun_of_finished_does_nothing),
        cmocka_unit_test(test_rescore_reproduces_metrics),
        cmocka_unit_test(test_foreign_databases_refused),
    };
    return cmocka_run_group_tests(tests, make_reference, remove_reference);
}
