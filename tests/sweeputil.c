// sweeputil.c — see sweeputil.h.
#include "sweeputil.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "db/db.h"
#include "testutil.h"
#include "util/util.h"

const char TINY_SPEC[] =
    "{\"name\": \"tiny\",\n"
    " \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 20, \"seed\": 3},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}, {\"n_layer\": 2, \"d_model\": 48, \"n_head\": 4}],\n"
    " \"budgets\": {\"train_flops\": [1e10, 3e10]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 16, \"lr\": 3e-3, \"seeds\": [1], \"ckpt_every\": 20},\n"
    " \"eval\": {\"n_samples\": 8, \"k\": [1, 2, 4, 8], \"max_new_tokens\": 6}}\n";

// ---------------------------------------------------------------------------------------------
// Processes.

const char *t2_abs(void) {
    static char *path;
    if (!path) path = realpath(t2_bin(), NULL);
    return path;
}

RunResult t2_unprivileged(const char *dir, const char *args) {
    if (!t2_abs()) fail_msg("%s: %s (build it first)", t2_bin(), strerror(errno));
    char *cmd = geteuid() == 0 ? xasprintf("cd '%s' && setpriv --reuid=65534 --regid=65534 --clear-groups '%s' %s", dir,
                                           t2_abs(), args)
                               : xasprintf("cd '%s' && '%s' %s", dir, t2_abs(), args);
    RunResult r = run_sh(cmd);
    free(cmd);
    return r;
}

pid_t spawn_in(const char *dir, const char *log, int own_group, char *const argv[]) {
    char *log_path = log ? xasprintf("%s/%s", dir, log) : xstrdup("/dev/null");
    pid_t pid = fork();
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        if (own_group) setpgid(0, 0);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || chdir(dir) != 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        execvp(argv[0], argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (own_group) setpgid(pid, pid); // here too: the test may signal the group at once
    free(log_path);
    return pid;
}

int wait_exit(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) fail_msg("waitpid %ld: %s", (long)pid, strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *read_log(const char *dir, const char *log) {
    char *path = xasprintf("%s/%s", dir, log);
    char *text = read_file(path, NULL);
    if (!text) fail_msg("%s", err_msg());
    free(path);
    return text;
}

void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

pid_t start_t2(const char *dir, const char *log, int own_group, const char *const *args) {
    if (!t2_abs()) fail_msg("%s: %s (build it first)", t2_bin(), strerror(errno));
    char *argv[40] = {(char *)t2_abs()};
    int n = 1;
    for (; args[n - 1]; n++) {
        if (n == 39) fail_msg("start_t2: too many arguments");
        argv[n] = (char *)args[n - 1];
    }
    argv[n] = NULL;
    char *path = xasprintf("%s/%s", dir, log);
    if (truncate(path, 0) != 0 && errno != ENOENT) fail_msg("%s: %s", path, strerror(errno));
    free(path);
    return spawn_in(dir, log, own_group, argv);
}

char *t2_ok(const char *dir, const char *const *args) {
    int code = wait_exit(start_t2(dir, "t2.log", 0, args));
    char *out = read_log(dir, "t2.log");
    if (code != 0) fail_msg("t2 %s %s exited %d:\n%s", args[0], args[1] ? args[1] : "", code, out);
    return out;
}

void t2_refused(const char *dir, const char *const *args, const char *const *want) {
    int code = wait_exit(start_t2(dir, "t2.log", 0, args));
    char *out = read_log(dir, "t2.log");
    if (code == 0) fail_msg("t2 %s was expected to fail; it printed:\n%s", args[0], out);
    if (strncmp(out, "t2: ", 4) != 0 || strchr(out, '\n') != out + strlen(out) - 1)
        fail_msg("t2 %s: expected one line 't2: ...', got:\n%s", args[0], out);
    for (; *want; want++)
        if (!strstr(out, *want)) fail_msg("t2 %s: '%s' missing from: %s", args[0], *want, out);
    free(out);
}

// ---------------------------------------------------------------------------------------------
// Databases.

static sqlite3 *open_ro(const char *path) {
    sqlite3 *h;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail_msg("open %s", path);
    sqlite3_busy_timeout(h, 10000);
    return h;
}

long long sql_int(const char *path, const char *sql) {
    sqlite3 *h = open_ro(path);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s: %s", path, sql, sqlite3_errmsg(h));
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: %s: no row (%s)", path, sql, sqlite3_errmsg(h));
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

int sql_try_int(const char *path, const char *sql, long long *value) {
    sqlite3 *h;
    if (access(path, F_OK) != 0) return -1;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return -1;
    }
    sqlite3_busy_timeout(h, 10000);
    sqlite3_stmt *st;
    int rc = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            *value = sqlite3_column_int64(st, 0);
            rc = 0;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return rc;
}

void sql_exec(const char *path, const char *sql) {
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

// Every row of SQL as one line of cells, under a line naming the query. ?1 is RUN_ID.
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

static char *dump(const char *path, const char *const *queries, size_t n, int run_id) {
    sqlite3 *h = open_ro(path);
    Text t = {0};
    for (size_t q = 0; q < n; q++) dump_query(h, queries[q], run_id, &t);
    sqlite3_close(h);
    return t.buf;
}

char *dump_content(const char *path, int run_id) {
    // Checkpoints belong to their database and lie beside it: only the file name is the same for
    // databases in other places (tests check that the paths resolve where they should).
    static const char *const queries[] = {
        "SELECT name, spec_hash, spec_json FROM sweeps",
        "SELECT run_id, config_hash, n_params, train_steps, train_tokens, train_flops, threads, status, step, "
        "final_loss, val_loss, replace(checkpoint, rtrim(checkpoint, replace(checkpoint, '/', '')), ''), error "
        "FROM runs WHERE ?1 < 0 OR run_id = ?1 ORDER BY run_id",
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
    return dump(path, queries, ARRAY_LEN(queries), run_id);
}

char *dump_full(const char *path) {
    static const char *const queries[] = {
        "SELECT * FROM meta ORDER BY key",         "SELECT * FROM sweeps ORDER BY name",
        "SELECT * FROM runs ORDER BY run_id",      "SELECT * FROM train_log ORDER BY run_id, step",
        "SELECT * FROM problems ORDER BY 1, 2, 3", "SELECT * FROM evals ORDER BY eval_id",
        "SELECT * FROM samples ORDER BY 1, 2, 3",  "SELECT * FROM metrics ORDER BY 1, 2, 3",
        "SELECT * FROM gold ORDER BY 1, 2",        "SELECT * FROM eval_claims ORDER BY 1, 2, 3, 4, 5",
        "SELECT * FROM fits ORDER BY fit_id",
    };
    return dump(path, queries, ARRAY_LEN(queries), -1);
}

void assert_same_dump(const char *got, const char *want, const char *what) {
    if (strcmp(got, want) == 0) return;
    const char *g = got, *w = want, *section = "";
    for (; *g && *g == *w; g++, w++)
        if ((g == got || g[-1] == '\n') && strncmp(g, "## ", 3) == 0) section = g;
    while (g > got && g[-1] != '\n') g--, w--;
    fail_msg("%s differs from the reference in\n%.*s\n  got:  %.*s\n  want: %.*s", what, (int)strcspn(section, "\n"),
             section, (int)strcspn(g, "\n"), g, (int)strcspn(w, "\n"), w);
}

void assert_checkpoints_resolve(const char *path, int n_runs) {
    Db *db;
    if (db_open_readonly(&db, path) != 0) fail_msg("%s", err_msg());
    char *cwd = getcwd(NULL, 0);
    if (chdir("/") != 0) fail_msg("chdir /: %s", strerror(errno));
    for (int i = 0; i < n_runs; i++) {
        DbRun r;
        if (db_get_run(db, i, &r) != 0) fail_msg("run %d: %s", i, err_msg());
        if (!r.checkpoint || !file_exists(r.checkpoint))
            fail_msg("%s: run %d: checkpoint %s does not resolve to a file", path, i, r.checkpoint ? r.checkpoint : "NULL");
        db_run_free(&r);
    }
    if (chdir(cwd) != 0) fail_msg("chdir %s: %s", cwd, strerror(errno));
    free(cwd);
    db_close(db);
}

char *slurp_file(const char *path, size_t *n) {
    char *s = read_file(path, n);
    if (!s) fail_msg("%s", err_msg());
    return s;
}

void assert_same_file(const char *path, const char *before, size_t n_before) {
    size_t n;
    char *now = slurp_file(path, &n);
    if (n != n_before || memcmp(now, before, n) != 0) fail_msg("%s was modified", path);
    free(now);
}
