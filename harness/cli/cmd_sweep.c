// cmd_sweep.c — `t2 sweep SPEC.json`: train and evaluate every run of a spec (or of one shard of
// it), J runs at a time as child processes `t2 train ... --progress-fd 3`, each claiming its run in
// the database. Resumable: a re-run skips what is done and continues what was cut off.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "db/db.h"
#include "sweep/job.h"
#include "sweep/progress.h"
#include "spec/spec.h"
#include "nn/trainer.h"

// Most runs at once (--jobs): one child process and progress pipe each.
#define SWEEP_MAX_JOBS 64

typedef struct {
    pid_t pid;
    int fd;          // read end of the child's progress pipe, -1 at EOF
    int run_id;
    char buf[1024];  // partial line
    size_t len;
} Child;

typedef struct {
    int done_now, done_before, skipped, not_ok, errors;
    int spec_changed; // children that found the spec file edited: the sweep starts no more
} SweepTally;

static volatile sig_atomic_t sweep_stop = 0;
static void on_sweep_signal(int sig) {
    (void)sig;
    sweep_stop = 1;
}

// ---------------------------------------------------------------------------------------------
// --shard I/N: this process takes the runs with run_id mod N == I (deterministic from the spec).
static int parse_shard(const char *s, int *index, int *count) {
    if (!s) {
        *index = 0, *count = 1;
        return 0;
    }
    const char *slash = strchr(s, '/');
    long i, n;
    char *left = slash ? xasprintf("%.*s", (int)(slash - s), s) : NULL;
    int ok = slash && parse_int(slash + 1, 1, INT_MAX, &n) == 0 && parse_int(left, 0, INT_MAX, &i) == 0 && i < n;
    free(left);
    if (!ok) {
        err_set("--shard: expected I/N with 0 <= I < N <= %d, got '%s'", INT_MAX, s);
        return -1;
    }
    *index = (int)i, *count = (int)n;
    return 0;
}

// A run needs a process unless it is done and holds every eval of the spec.
static int run_needs_work(const Spec *s, Db *db, int run_id, int *was_done) {
    DbRun r;
    *was_done = 0;
    if (db_get_run(db, run_id, &r) != 0) return -1;
    int done = r.status == DB_RUN_DONE;
    db_run_free(&r);
    if (!done) return 1;
    if (spec_has_eval(s))
        for (int t = 0; t < s->eval.n_temperature; t++) {
            DbEvalKey key = {s->eval.temperature[t], s->eval.top_p, s->eval.n_samples, s->eval.max_new_tokens};
            long id;
            int found = db_find_eval(db, run_id, &key, &id);
            if (found != 0) return found < 0 ? -1 : 1;
        }
    *was_done = 1;
    return 0;
}

// Where the children write their checkpoints: --ckpt-dir, else beside the database.
typedef struct {
    const char *db_path;
    const char *ckpt_dir; // NULL: db_checkpoint_dir(db_path)
    int threads, retry;
} ChildArgs;

static int spawn_train(Child *c, const Spec *s, const ChildArgs *ca, int run_id) {
    int fds[2];
    if (pipe(fds) != 0) {
        err_set("pipe: %s", strerror(errno));
        return -1;
    }
    char run[32], thr[32], name[48];
    snprintf(run, sizeof run, "%d", run_id);
    snprintf(thr, sizeof thr, "%d", ca->threads);
    snprintf(name, sizeof name, "run-%d.ckpt", run_id);
    char *ckpt = ca->ckpt_dir ? path_join(ca->ckpt_dir, name) : NULL;
    // The child reads the spec again: --spec-hash makes it stop at once if the file was edited since.
    char *argv[16] = {"t2", "train", s->path, "--run", run, "--db", (char *)ca->db_path, "--threads", thr,
                      "--progress-fd", "3", "--spec-hash", (char *)s->hash};
    int argc = 13;
    if (ca->retry) argv[argc++] = "--retry-failed";
    if (ckpt) argv[argc++] = "--ckpt", argv[argc++] = ckpt;
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        err_set("fork: %s", strerror(errno));
        close(fds[0]), close(fds[1]);
        free(ckpt);
        return -1;
    }
    if (pid == 0) {
        // The read end may itself be fd 3: close it before the write end takes that number.
        close(fds[0]);
        if (fds[1] != 3) {
            dup2(fds[1], 3);
            close(fds[1]);
        }
        signal(SIGINT, SIG_DFL);
        execv("/proc/self/exe", argv);
        fprintf(stderr, "t2: cannot start t2 train: %s\n", strerror(errno));
        _exit(JOB_ERROR);
    }
    free(ckpt);
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    *c = (Child){.pid = pid, .fd = fds[0], .run_id = run_id};
    return 0;
}

// Read what a child wrote; hand complete lines to the board.
static void drain_child(Child *c, ProgressBoard *b) {
    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            close(c->fd);
            c->fd = -1;
            return;
        }
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
        char *start = c->buf, *nl;
        while ((nl = strchr(start, '\n'))) {
            *nl = '\0';
            board_line(b, c->run_id, start);
            start = nl + 1;
        }
        c->len = strlen(start);
        memmove(c->buf, start, c->len + 1);
        if (c->len == sizeof c->buf - 1) c->len = 0; // an overlong line: drop it
    }
}

static void tally_exit(SweepTally *t, int status) {
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : JOB_ERROR;
    if (code == JOB_OK)
        t->done_now++;
    else if (code == JOB_DONE_BEFORE) // by another process since this sweep looked
        t->done_before++;
    else if (code == JOB_SKIPPED)
        t->skipped++;
    else if (code == JOB_NOT_OK)
        t->not_ok++;
    else if (code == JOB_SPEC_CHANGED)
        t->spec_changed++;
    else
        t->errors++;
}

// Why the children refused the spec, said once: it no longer loads, or loads to another spec.
static void report_spec_changed(const Spec *s, ProgressBoard *board) {
    Spec now;
    char line[1400];
    if (spec_load(&now, s->path) != 0) {
        snprintf(line, sizeof line, "t2: sweep %s: the spec changed during the sweep and no longer loads (%s); no more "
                 "runs are started", s->name, err_msg());
    } else {
        snprintf(line, sizeof line, "t2: sweep %s: %s changed during the sweep (spec hash %s, now %s); no more runs are "
                 "started: restore it to continue this database, or sweep the new spec into another --db",
                 s->name, s->path, s->hash, now.hash);
        spec_free(&now);
    }
    board_message(board, line);
}

// Run the listed runs, at most `jobs` at a time.
static void run_children(const Spec *s, const ChildArgs *ca, const int *todo, int n_todo, int jobs,
                         ProgressBoard *board, SweepTally *tally) {
    Child *kids = xcalloc((size_t)jobs, sizeof *kids);
    int n_kids = 0, next = 0, forwarded = 0, told = 0;
    while (next < n_todo || n_kids > 0) {
        if (tally->spec_changed && !told) { // runs in progress loaded the spec before: they finish
            report_spec_changed(s, board);
            next = n_todo;
            told = 1;
        }
        while (!sweep_stop && next < n_todo && n_kids < jobs) {
            if (spawn_train(&kids[n_kids], s, ca, todo[next]) != 0) {
                fprintf(stderr, "t2: run %d: %s\n", todo[next], err_msg());
                tally->errors++;
            } else {
                n_kids++;
            }
            next++;
        }
        if (sweep_stop) {
            next = n_todo; // start nothing new; the children checkpoint and stop
            for (int i = 0; i < n_kids && !forwarded; i++) kill(kids[i].pid, SIGTERM);
            forwarded = 1;
        }
        struct pollfd pf[SWEEP_MAX_JOBS];
        int np = 0;
        for (int i = 0; i < n_kids && np < SWEEP_MAX_JOBS; i++)
            if (kids[i].fd >= 0) pf[np++] = (struct pollfd){kids[i].fd, POLLIN, 0};
        if (np > 0) poll(pf, (nfds_t)np, 500);
        for (int i = 0; i < n_kids; i++)
            if (kids[i].fd >= 0) drain_child(&kids[i], board);
        for (int i = 0; i < n_kids;) {
            int st;
            if (kids[i].fd < 0 && waitpid(kids[i].pid, &st, 0) == kids[i].pid) {
                tally_exit(tally, st);
                board_run_ended(board, kids[i].run_id, s->runs[kids[i].run_id].train_flops);
                kids[i] = kids[--n_kids];
            } else {
                i++;
            }
        }
        board_draw(board);
    }
    free(kids);
}

// ---------------------------------------------------------------------------------------------
// --dry-run: the grid with its sizes and costs, and a time estimate from a quick benchmark.
static double quick_tokens_per_s(const Spec *s, int family, int threads) {
    Trainer *t = trainer_create(&s->family[family], &s->train, 5, 1, NULL, threads);
    if (!t) return NAN; // checked before (spec_check_machine)
    StepStats st;
    trainer_step(t, &st); // warm-up
    double t0 = now_s();
    int steps = 0;
    while (steps < 3 || (now_s() - t0 < 0.3 && steps < 50)) {
        trainer_step(t, &st);
        steps++;
    }
    double tok_s = (double)steps * s->train.batch_size * s->train.seq_len / (now_s() - t0);
    trainer_free(t);
    return tok_s;
}

static void dry_run(const Spec *s, int shard_i, int shard_n, int jobs, int threads) {
    double *rate = xcalloc((size_t)s->n_family, sizeof(double));
    for (int f = 0; f < s->n_family; f++) rate[f] = quick_tokens_per_s(s, f, threads);
    printf("%4s %5s %6s %4s %10s %10s %10s %8s %8s %10s %10s %9s %9s %6s\n", "run", "model", "d", "L", "N", "N_nonemb",
           "D", "D/N", "steps", "FLOPs", "6ND", "est.time", "lr", "clip");
    double total_s = 0, total_flops = 0;
    int n = 0;
    for (int i = 0; i < s->n_runs; i++) {
        const RunSpec *r = &s->runs[i];
        if (i % shard_n != shard_i) continue;
        char N[16], Ne[16], D[16], F[16], F6[16], tm[16];
        human_count((double)r->n_params, N, sizeof N);
        human_count((double)r->n_params_nonembed, Ne, sizeof Ne);
        human_count((double)r->train_tokens, D, sizeof D);
        human_count(r->train_flops, F, sizeof F);
        human_count(r->train_flops_6nd, F6, sizeof F6);
        double secs = (double)r->train_tokens / rate[r->family_idx];
        human_seconds(secs, tm, sizeof tm);
        printf("%4d %5d %6d %4d %10s %10s %10s %8.1f %8ld %10s %10s %9s %9.3g %6.3g\n", r->run_id, r->family_idx,
               r->model.d_model, r->model.n_layer, N, Ne, D, (double)r->train_tokens / (double)r->n_params, r->steps, F,
               F6, tm, r->lr, r->grad_clip);
        total_s += secs;
        total_flops += r->train_flops;
        n++;
    }
    char F[16], tm[16];
    human_count(total_flops, F, sizeof F);
    human_seconds(total_s / jobs, tm, sizeof tm);
    printf("%d runs, %s training FLOPs, about %s of training with %d job(s) of %d thread(s) (from a quick benchmark; "
           "evaluation not included)\n",
           n, F, tm, jobs, threads);
    free(rate);
}

// ---------------------------------------------------------------------------------------------
int cmd_sweep(int argc, char **argv) {
    char *db_path = NULL, *shard = NULL, *ckpt_dir = NULL;
    long jobs = 1, threads = cpu_count();
    int dry = 0, quiet = 0, retry = 0;
    Opt opts[] = {
        ARG_STR("--db", &db_path, "PATH", "results database (default results/NAME.db)"),
        ARG_INT("--jobs", &jobs, "J", "runs at once, as processes (default 1)", .min = 1, .max = SWEEP_MAX_JOBS),
        ARG_INT("--threads", &threads, "T", "threads in all, split between the jobs (default: all cores)", .min = 1,
                .max = 1024),
        ARG_STR("--shard", &shard, "I/N", "take the runs with run_id mod N == I"),
        ARG_STR("--ckpt-dir", &ckpt_dir, "DIR", "checkpoints as DIR/run-ID.ckpt (default: beside the database, results/NAME/)"),
        ARG_FLAG("--dry-run", &dry, "list the runs with their sizes, costs and estimated time; run nothing"),
        ARG_FLAG("--retry-failed", &retry, "run failed and diverged runs again"),
        ARG_FLAG("--quiet", &quiet, "one line per finished run"),
    };
    Positional pos;
    int rc = args_parse("sweep", argc, argv, opts, ARRAY_LEN(opts), &pos, "SPEC.json", 1, 1);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    int shard_i, shard_n;
    Spec s;
    if (parse_shard(shard, &shard_i, &shard_n) != 0 || spec_load(&s, pos.items[0]) != 0) {
        free(pos.items);
        return cmd_fail();
    }
    free(pos.items);
    if (spec_check_machine(&s) != 0) {
        spec_free(&s);
        return cmd_fail();
    }
    int per_job = (int)MAX(1, threads / jobs);
    if (dry) {
        dry_run(&s, shard_i, shard_n, (int)jobs, per_job);
        spec_free(&s);
        return 0;
    }
    char *def = db_path ? NULL : default_db_path(&s);
    const char *path = db_path ? db_path : def;
    Db *db;
    if (open_spec_db(&db, &s, path) != 0) {
        free(def);
        spec_free(&s);
        return cmd_fail();
    }
    SweepTally tally = {0};
    int *todo = xcalloc((size_t)s.n_runs, sizeof(int)), n_todo = 0, n_mine = 0;
    double flops = 0;
    for (int i = 0; i < s.n_runs; i++) {
        if (i % shard_n != shard_i) continue;
        n_mine++;
        int was_done, need = run_needs_work(&s, db, i, &was_done);
        if (need < 0) {
            fprintf(stderr, "t2: %s\n", err_msg());
            tally.errors++;
        } else if (need) {
            todo[n_todo++] = i;
            flops += s.runs[i].train_flops;
        } else {
            tally.done_before++;
        }
    }
    db_close(db); // the children open their own connections
    struct sigaction sa = {0};
    sa.sa_handler = on_sweep_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ProgressBoard *board = board_create(!quiet && isatty(2), n_todo, flops);
    if (!quiet || !isatty(2))
        fprintf(stderr, "t2: sweep %s: %d runs%s, %d to do, %d jobs × %d threads, database %s\n", s.name, n_mine,
                shard_n > 1 ? " in this shard" : "", n_todo, (int)jobs, per_job, path);
    ChildArgs ca = {path, ckpt_dir, per_job, retry};
    run_children(&s, &ca, todo, n_todo, (int)jobs, board, &tally);
    board_free(board);
    fprintf(stderr, "t2: sweep %s: %d done now, %d done before, %d held by another process, %d diverged/failed, %d errors%s\n",
            s.name, tally.done_now, tally.done_before, tally.skipped, tally.not_ok, tally.errors,
            sweep_stop ? " (interrupted: re-run to continue)" : tally.spec_changed ? " (stopped: the spec changed)" : "");
    free(todo);
    free(def);
    spec_free(&s);
    return tally.errors || tally.not_ok || tally.spec_changed || sweep_stop ? 1 : 0;
}
