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
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "util.h"

// Family 0 (1 layer) trains 240 and 721 steps, family 1 (2 layers) 57 and 172; a checkpoint
// every 20 steps.
static const char SPEC[] =
    "{\"name\": \"tiny\",\n"
    " \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 20, \"seed\": 3},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}, {\"n_layer\": 2, \"d_model\": 48, \"n_head\": 4}],\n"
    " \"budgets\": {\"train_flops\": [1e10, 3e10]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 16, \"lr\": 3e-3, \"seeds\": [1], \"ckpt_every\": 20},\n"
    " \"eval\": {\"n_samples\": 8, \"k\": [1, 2, 4, 8], \"max_new_tokens\": 6}}\n";
enum { N_RUNS = 4, LONG_RUN = 1, SHORT_RUN = 2 };

// The reference: one uninterrupted sweep, made once for the whole group.
static struct {
    char *t2;   // absolute path of the binary (tests run it from other directories)
    char *dir;  // holds spec.json and results/
    char *db;   // dir/results/tiny.db
    char *want; // its content dump
} ref;

// ---------------------------------------------------------------------------------------------
// Running t2 in a directory.

static char *new_dir(const char *tag) {
    char *dir = tmpdir_make(tag);
    free(write_text(dir, "spec.json", SPEC));
    return dir;
}

// Start `t2 ARGS...` in DIR with stdout and stderr to DIR/LOG; in its own process group when
// OWN_GROUP, so that the test can kill it with all its children.
static pid_t start_t2(const char *dir, const char *log, int own_group, const char *const *args) {
    char *argv[32] = {ref.t2};
    int n = 1;
    while (args[n - 1] && n < 31) argv[n] = (char *)args[n - 1], n++;
    argv[n] = NULL;
    char *log_path = xasprintf("%s/%s", dir, log);
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        if (own_group) setpgid(0, 0);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || chdir(dir) != 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execv(argv[0], argv);
        _exit(127);
    }
    if (own_group) setpgid(pid, pid); // also here: the test may signal the group at once
    free(log_path);
    return pid;
}

static int wait_exit(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) fail_msg("waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *read_log(const char *dir, const char *log) {
    char *path = xasprintf("%s/%s", dir, log);
    char *text = read_file(path, NULL);
    if (!text) fail_msg("%s", err_msg());
    free(path);
    return text;
}

// Run `t2 ARGS...` in DIR to completion; fail the test (showing its output) unless it exits 0.
static char *t2_ok(const char *dir, const char *const *args) {
    int code = wait_exit(start_t2(dir, "t2.log", 0, args));
    char *out = read_log(dir, "t2.log");
    if (code != 0) fail_msg("t2 %s %s exited %d:\n%s", args[0], args[1] ? args[1] : "", code, out);
    return out;
}

// Run `t2 ARGS...` in DIR expecting a refusal: non-zero exit and ONE line "t2: ..." holding every
// string of WANT.
static void t2_refused(const char *dir, const char *const *args, const char *const *want) {
    int code = wait_exit(start_t2(dir, "t2.log", 0, args));
    char *out = read_log(dir, "t2.log");
    if (code == 0) fail_msg("t2 %s was expected to fail; it printed:\n%s", args[0], out);
    if (strncmp(out, "t2: ", 4) != 0 || strchr(out, '\n') != out + strlen(out) - 1)
        fail_msg("t2 %s: expected one line 't2: ...', got:\n%s", args[0], out);
    for (; *want; want++)
        if (!strstr(out, *want)) fail_msg("t2 %s: '%s' missing from: %s", args[0], *want, out);
    free(out);
}

static long count_after(const char *text, const char *suffix) {
    const char *p = strstr(text, suffix);
    if (!p) fail_msg("'%s' not in: %s", suffix, text);
    while (p > text && p[-1] == ' ') p--;
    while (p > text && p[-1] >= '0' && p[-1] <= '9') p--;
    return strtol(p, NULL, 10);
}

// ---------------------------------------------------------------------------------------------
// Database content.

static sqlite3 *open_ro(const char *path) {
    sqlite3 *h;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail_msg("open %s", path);
    sqlite3_busy_timeout(h, 10000);
    return h;
}

static long long q_int(const char *path, const char *sql) {
    sqlite3 *h = open_ro(path);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: no row (%s)", sql, sqlite3_errmsg(h));
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void q_exec(const char *path, const char *sql) {
    sqlite3 *h;
    char *msg = NULL;
    if (sqlite3_open(path, &h) != SQLITE_OK || sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s: %s", path, sql, msg ? msg : sqlite3_errmsg(h));
    sqlite3_close(h);
}

typedef struct {
    char *buf;
    size_t len, cap;
} Text;

static void text_add(Text *t, const char *s) {
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) t->buf = xrealloc(t->buf, t->cap = 2 * (t->len + n + 1));
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

// Every row of SQL as one line of cells (doubles to 17 digits), under a line naming the query.
static void dump_query(sqlite3 *h, const char *sql, int run_id, Text *t) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    if (sqlite3_bind_parameter_count(st) > 0) sqlite3_bind_int(st, 1, run_id);
    text_add(t, "## ");
    text_add(t, sql);
    text_add(t, "\n");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            char cell[64];
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL: text_add(t, "NULL"); break;
            case SQLITE_INTEGER:
                snprintf(cell, sizeof cell, "%lld", (long long)sqlite3_column_int64(st, i));
                text_add(t, cell);
                break;
            case SQLITE_FLOAT:
                snprintf(cell, sizeof cell, "%.17g", sqlite3_column_double(st, i));
                text_add(t, cell);
                break;
            default:
                text_add(t, "'");
                text_add(t, (const char *)sqlite3_column_text(st, i));
                text_add(t, "'");
            }
            text_add(t, "|");
        }
        text_add(t, "\n");
    }
    if (rc != SQLITE_DONE) fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    sqlite3_finalize(st);
}

// What a sweep computed, for one run (RUN_ID >= 0) or all: the runs' outcomes, train_log, problems,
// evals, samples, gold and metrics; not wall times, owners, attempts or eval ids.
static char *content_dump(const char *path, int run_id) {
    static const char *const queries[] = {
        "SELECT name, spec_hash, spec_json FROM sweeps",
        "SELECT run_id, config_hash, n_params, train_steps, train_tokens, train_flops, threads, status, step, "
        "final_loss, val_loss, checkpoint, error FROM runs WHERE ?1 < 0 OR run_id = ?1 ORDER BY run_id",
        "SELECT run_id, step, tokens, loss, lr, grad_norm FROM train_log WHERE ?1 < 0 OR run_id = ?1 "
        "ORDER BY run_id, step",
        "SELECT task, split, problem_id, prompt, target FROM problems ORDER BY task, split, problem_id",
        "SELECT run_id, temperature, top_p, n_samples, max_new_tokens, infer_flops, infer_flops_2nk, prefill_flops, "
        "decode_flops, gen_tokens, n_problems FROM evals WHERE ?1 < 0 OR run_id = ?1 ORDER BY run_id, temperature",
        "SELECT e.run_id, e.temperature, s.problem_id, s.sample_idx, s.completion, s.answer, s.correct, s.n_tokens, "
        "s.logprob FROM samples s JOIN evals e USING (eval_id) WHERE ?1 < 0 OR e.run_id = ?1 ORDER BY 1, 2, 3, 4",
        "SELECT e.run_id, e.temperature, m.metric, m.k, m.value FROM metrics m JOIN evals e USING (eval_id) "
        "WHERE ?1 < 0 OR e.run_id = ?1 ORDER BY 1, 2, 3, 4",
        "SELECT run_id, problem_id, logprob, n_tokens FROM gold WHERE ?1 < 0 OR run_id = ?1 ORDER BY 1, 2",
        "SELECT count(*) FROM eval_claims",
    };
    sqlite3 *h = open_ro(path);
    Text t = {0};
    for (size_t q = 0; q < ARRAY_LEN(queries); q++) dump_query(h, queries[q], run_id, &t);
    sqlite3_close(h);
    return t.buf;
}

// Everything, volatile columns too: for "nothing changed".
static char *full_dump(const char *path) {
    static const char *const queries[] = {
        "SELECT * FROM meta ORDER BY key",          "SELECT * FROM sweeps ORDER BY name",
        "SELECT * FROM runs ORDER BY run_id",       "SELECT * FROM train_log ORDER BY run_id, step",
        "SELECT * FROM problems ORDER BY 1, 2, 3",  "SELECT * FROM evals ORDER BY eval_id",
        "SELECT * FROM samples ORDER BY 1, 2, 3",   "SELECT * FROM metrics ORDER BY 1, 2, 3",
        "SELECT * FROM gold ORDER BY 1, 2",         "SELECT * FROM eval_claims ORDER BY 1, 2, 3, 4, 5",
        "SELECT * FROM fits ORDER BY fit_id",
    };
    sqlite3 *h = open_ro(path);
    Text t = {0};
    for (size_t q = 0; q < ARRAY_LEN(queries); q++) dump_query(h, queries[q], -1, &t);
    sqlite3_close(h);
    return t.buf;
}

// Equal dumps, or a failure showing the first line that differs.
static void assert_same_dump(const char *got, const char *want, const char *what) {
    if (strcmp(got, want) == 0) return;
    const char *g = got, *w = want, *section = "";
    while (*g && *g == *w) {
        if ((g == got || g[-1] == '\n') && strncmp(g, "## ", 3) == 0) section = g;
        g++, w++;
    }
    while (g > got && g[-1] != '\n') g--, w--;
    fail_msg("%s differs from the reference in\n%.*s\n  got:  %.*s\n  want: %.*s", what, (int)strcspn(section, "\n"),
             section, (int)strcspn(g, "\n"), g, (int)strcspn(w, "\n"), w);
}

static char *slurp(const char *path, size_t *n) {
    char *s = read_file(path, n);
    if (!s) fail_msg("%s", err_msg());
    return s;
}

static void assert_same_file(const char *path, const char *before, size_t n_before) {
    size_t n;
    char *now = slurp(path, &n);
    if (n != n_before || memcmp(now, before, n) != 0) fail_msg("%s was modified", path);
    free(now);
}

// A standalone copy of the reference database (VACUUM INTO: consistent, no -wal file needed),
// back in WAL mode like every database t2 makes.
static char *copy_ref_db(const char *dir, const char *name) {
    char *path = xasprintf("%s/%s", dir, name);
    char *sql = xasprintf("VACUUM INTO '%s'", path);
    q_exec(ref.db, sql);
    q_exec(path, "PRAGMA journal_mode = WAL");
    free(sql);
    return path;
}

// ---------------------------------------------------------------------------------------------
// The reference.

static int make_reference(void **state) {
    (void)state;
    ref.t2 = realpath(t2_bin(), NULL);
    if (!ref.t2) {
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
    ref.want = content_dump(ref.db, -1);
    return 0;
}

static int remove_reference(void **state) {
    (void)state;
    tmpdir_remove(ref.dir);
    free(ref.db);
    free(ref.want);
    free(ref.t2);
    return 0;
}

static void test_reference_is_complete(void **state) {
    (void)state;
    assert_int_equal(q_int(ref.db, "SELECT count(*) FROM runs WHERE status = 'done' AND step = train_steps"), N_RUNS);
    assert_int_equal(q_int(ref.db, "SELECT count(*) FROM runs WHERE threads = 1 AND attempts = 1"), N_RUNS);
    assert_int_equal(q_int(ref.db, "SELECT count(*) FROM evals"), N_RUNS);
    assert_int_equal(q_int(ref.db, "SELECT count(*) FROM samples"), N_RUNS * 20 * 8);
    assert_int_equal(q_int(ref.db, "SELECT count(*) FROM metrics"), N_RUNS * 3 * 4);
    assert_int_equal(q_int(ref.db, "SELECT count(*) FROM gold"), N_RUNS * 20);
    // Every run logged up to its last step, at least 57 rows (every step up to 200 steps).
    assert_int_equal(q_int(ref.db, "SELECT count(*) FROM (SELECT run_id FROM train_log GROUP BY run_id "
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
        assert_int_equal(q_int(shard_db[i], sql), N_RUNS);
        assert_int_equal(q_int(shard_db[i], "SELECT count(*) FROM runs WHERE status NOT IN ('done', 'pending')"), 0);
    }
    char *out_dir = tmpdir_make("sweep-merge"), *merged = xasprintf("%s/merged.db", out_dir);
    const char *merge[] = {"merge", merged, shard_db[0], shard_db[1], NULL};
    free(t2_ok(out_dir, merge));
    char *got = content_dump(merged, -1);
    assert_same_dump(got, ref.want, "the merged shards");
    free(got);
    // Merge twice equals merge once, in either order.
    char *once = full_dump(merged);
    free(t2_ok(out_dir, merge));
    const char *reverse[] = {"merge", merged, shard_db[1], shard_db[0], NULL};
    free(t2_ok(out_dir, reverse));
    char *thrice = full_dump(merged);
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
    assert_int_equal(q_int(db, "SELECT count(*) FROM runs WHERE attempts = 1"), N_RUNS); // nothing trained twice
    char *got = content_dump(db, -1);
    assert_same_dump(got, ref.want, "two sweeps on one database");
    free(got);
    free(db);
    free(log_a);
    free(log_b);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// kill -9 of the whole sweep (parent and children) mid-training, then a re-run: bit-identical.

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long checkpointed_step(const char *db, int run_id) {
    if (!file_exists(db)) return -1;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT CASE status WHEN 'running' THEN step ELSE -1 END FROM runs WHERE run_id = %d",
             run_id);
    sqlite3 *h = open_ro(db);
    sqlite3_stmt *st;
    long long step = -1;
    // The database may still be being created: not ready yet is not an error.
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) step = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return step;
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
    assert_int_not_equal(q_int(db, "SELECT count(*) FROM runs WHERE status = 'running'"), 0);

    char *log = t2_ok(dir, args);
    assert_non_null(strstr(log, " 0 errors"));
    free(log);
    char *got = content_dump(db, -1);
    assert_same_dump(got, ref.want, "the killed and re-run sweep");
    free(got);
    // The long run resumed from its checkpoint (a second attempt of a run with a recorded step).
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT attempts FROM runs WHERE run_id = %d", LONG_RUN);
    assert_int_equal(q_int(db, sql), 2);
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
    char *bytes = slurp(src, &n);
    FILE *f = fopen(dst, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    char run[16];
    snprintf(run, sizeof run, "%d", SHORT_RUN);
    const char *args[] = {"train", "spec.json", "--run", run, "--threads", "1", "--quiet", NULL};
    free(t2_ok(dir, args));
    char *db = xasprintf("%s/results/tiny.db", dir);
    char *got = content_dump(db, SHORT_RUN), *want = content_dump(ref.db, SHORT_RUN);
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
    char *before = full_dump(ref.db);
    char *ckpt = xasprintf("%s/results/tiny/run-%d.ckpt", ref.dir, LONG_RUN);
    size_t n_ckpt;
    char *ckpt_bytes = slurp(ckpt, &n_ckpt);

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

    char *after = full_dump(ref.db);
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
    q_exec(db, "UPDATE samples SET correct = 1 - correct, answer = 'x'; UPDATE metrics SET value = 0.5");
    char *scrambled = content_dump(db, -1);
    assert_string_not_equal(scrambled, ref.want);
    free(scrambled);
    const char *args[] = {"eval", "--db", db, "--rescore", NULL};
    char *log = t2_ok(dir, args);
    assert_non_null(strstr(log, "rescored 4 evals"));
    free(log);
    char *got = content_dump(db, -1);
    assert_same_dump(got, ref.want, "the rescored database");
    free(got);
    free(db);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Databases that are not this sweep's are refused with one line and left byte for byte.

static void refused_untouched(const char *dir, const char *db, const char *const *args, const char *const *want) {
    size_t n;
    char *before = slurp(db, &n);
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
        q_exec(db, versions[v][0]);
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
