// tune.c — learning-rate pilots (see tune.h). Each of JOBS forked workers trains the pilots
// i ≡ worker (mod JOBS) in order and writes one line per pilot to its pipe; the parent reads the
// lines as they come and reports each pilot as it ends.
#include "sweep/tune.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nn/trainer.h"
#include "tasks/tasks.h"

// Most workers at once.
#define TUNE_MAX_JOBS 64

const char *tune_loss_column(const Spec *s) {
    return spec_has_eval(s) && strcmp(s->analysis.loss, "answer") == 0 ? "answer_loss" : "val_loss";
}

int tune_budget_idx(const Spec *s) {
    int best = 0;
    for (int b = 1; b < s->budgets.n; b++)
        if (s->budgets.values[b] < s->budgets.values[best]) best = b;
    return best;
}

// The median of X[0..n) (the mean of the middle two when n is even); sorts X. NAN when n = 0.
static double median_sorting(double *x, long n) {
    if (n <= 0) return NAN;
    sort_doubles(x, (size_t)n);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

double tune_clip_threshold(double late_grad_norm, double factor) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.2g", factor * late_grad_norm);
    return strtod(buf, NULL);
}

long tune_pilot_seed(const Spec *s, int k) {
    if (k < s->train.n_seeds) return s->train.seeds[k];
    long top = s->train.seeds[0];
    for (int i = 1; i < s->train.n_seeds; i++) top = MAX(top, s->train.seeds[i]);
    return top + (k - s->train.n_seeds + 1);
}

// Train one pilot in this process, with its model's gradient-norm clip under the spec.
static void run_pilot(const Spec *s, const Task *task, TunePilot *p, int threads) {
    TrainSpec ts = s->train;
    ts.lr = p->lr;
    ts.grad_clip = p->grad_clip;
    double t0 = now_s();
    Trainer *t = trainer_create(&s->family[p->family_idx], &ts, p->steps, (uint64_t)p->seed, task, threads);
    double *norm = xcalloc((size_t)p->steps, sizeof *norm); // (steps,) every step's gradient norm
    long done = 0, clipped = 0;
    StepStats st;
    p->diverged = 0;
    for (; done < p->steps; done++) {
        if (trainer_step(t, &st) != 0) {
            p->diverged = 1;
            break;
        }
        norm[done] = st.grad_norm;
        clipped += p->grad_clip > 0 && st.grad_norm > p->grad_clip;
    }
    p->clipped = done > 0 ? (double)clipped / (double)done : 0;
    long late = (p->steps + 1) / 2; // the last ceil(steps/2) steps
    p->late_grad_norm = p->diverged ? NAN : median_sorting(norm + (p->steps - late), late);
    free(norm);
    p->train_loss = p->diverged ? NAN : trainer_final_loss(t);
    p->loss = INFINITY;
    if (!p->diverged) {
        p->loss = strcmp(tune_loss_column(s), "answer_loss") == 0 ? trainer_answer_loss(t)
                                                                  : trainer_val_loss(t, MAX(1, s->train.val_batches));
        if (!isfinite(p->loss)) p->diverged = 1, p->loss = INFINITY;
    }
    p->wall_s = now_s() - t0;
    trainer_free(t);
}

// A worker: pilots w, w + jobs, ... one line each on FD ("E message" when it cannot start).
static void worker(const Spec *s, TunePilot *pilots, int n, int w, int jobs, int threads, int fd) {
    FILE *out = fdopen(fd, "w");
    if (!out) _exit(1);
    setvbuf(out, NULL, _IOLBF, 0);
    Task *task = task_create(&s->task);
    if (!task) {
        fprintf(out, "E %s\n", err_msg());
        _exit(1);
    }
    for (int i = w; i < n; i += jobs) {
        TunePilot *p = &pilots[i];
        run_pilot(s, task, p, threads);
        fprintf(out, "%d %d %.17g %.17g %.17g %.17g %.17g\n", i, p->diverged, p->loss, p->train_loss, p->clipped,
                p->late_grad_norm, p->wall_s);
    }
    task_free(task);
    fclose(out);
    _exit(0);
}

typedef struct {
    pid_t pid;
    int fd;         // -1 at EOF
    char buf[1024]; // partial line
    size_t len;
} Worker;

// One line from a worker: a pilot's results, or a worker's error (-1).
static int take_line(const char *line, TunePilot *pilots, int n, int *index) {
    if (line[0] == 'E') {
        err_set("%s", line + 2);
        return -1;
    }
    int i, diverged;
    double loss, train_loss, clipped, late_norm, wall;
    if (sscanf(line, "%d %d %lf %lf %lf %lf %lf", &i, &diverged, &loss, &train_loss, &clipped, &late_norm, &wall) != 7 ||
        i < 0 || i >= n) {
        err_set("tune: a pilot worker wrote an unreadable line: %.80s", line);
        return -1;
    }
    TunePilot *p = &pilots[i];
    p->diverged = diverged;
    p->loss = diverged ? INFINITY : loss;
    p->train_loss = train_loss;
    p->clipped = clipped;
    p->late_grad_norm = late_norm;
    p->wall_s = wall;
    *index = i;
    return 0;
}

// Read what a worker wrote; report every complete line. -1 on a worker's error.
static int drain(Worker *wk, TunePilot *pilots, int n, int *done, TuneProgressFn progress, void *ctx) {
    for (;;) {
        ssize_t got = read(wk->fd, wk->buf + wk->len, sizeof wk->buf - 1 - wk->len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            close(wk->fd);
            wk->fd = -1;
            return 0;
        }
        wk->len += (size_t)got;
        wk->buf[wk->len] = '\0';
        char *start = wk->buf, *nl;
        while ((nl = strchr(start, '\n'))) {
            *nl = '\0';
            int i;
            if (take_line(start, pilots, n, &i) != 0) return -1;
            (*done)++;
            if (progress) progress(ctx, &pilots[i], *done, n);
            start = nl + 1;
        }
        wk->len = strlen(start);
        memmove(wk->buf, start, wk->len + 1);
        if (wk->len == sizeof wk->buf - 1) wk->len = 0; // an overlong line: drop it
        return 0;
    }
}

int tune_run(const Spec *s, TunePilot *pilots, int n, int jobs, int threads, TuneProgressFn progress, void *ctx) {
    jobs = MAX(1, MIN(MIN(jobs, n), TUNE_MAX_JOBS));
    Worker wk[TUNE_MAX_JOBS];
    int started = 0, rc = 0, done = 0;
    fflush(stdout);
    fflush(stderr);
    for (int w = 0; w < jobs; w++) {
        int fds[2];
        if (pipe(fds) != 0) {
            err_set("tune: pipe: %s", strerror(errno));
            rc = -1;
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            err_set("tune: fork: %s", strerror(errno));
            close(fds[0]), close(fds[1]);
            rc = -1;
            break;
        }
        if (pid == 0) {
            close(fds[0]);
            for (int k = 0; k < started; k++) close(wk[k].fd);
            worker(s, pilots, n, w, jobs, threads, fds[1]);
        }
        close(fds[1]);
        wk[started++] = (Worker){.pid = pid, .fd = fds[0]};
    }
    for (int open = started; open > 0 && rc == 0;) {
        struct pollfd pf[TUNE_MAX_JOBS];
        int map[TUNE_MAX_JOBS], np = 0;
        for (int k = 0; k < started; k++)
            if (wk[k].fd >= 0) map[np] = k, pf[np++] = (struct pollfd){wk[k].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)np, -1) < 0 && errno != EINTR) {
            err_set("tune: poll: %s", strerror(errno));
            rc = -1;
            break;
        }
        for (int q = 0; q < np && rc == 0; q++)
            if (pf[q].revents) rc = drain(&wk[map[q]], pilots, n, &done, progress, ctx);
        open = 0;
        for (int k = 0; k < started; k++) open += wk[k].fd >= 0;
    }
    for (int k = 0; k < started; k++) {
        if (wk[k].fd >= 0) {
            kill(wk[k].pid, SIGTERM);
            close(wk[k].fd);
        }
        int st;
        while (waitpid(wk[k].pid, &st, 0) < 0 && errno == EINTR) {
        }
        if (rc == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            err_set("tune: a pilot worker %s", WIFSIGNALED(st) ? "was killed by a signal" : "failed");
            rc = -1;
        }
    }
    if (rc == 0 && done != n) {
        err_set("tune: %d of %d pilots reported", done, n);
        rc = -1;
    }
    return rc;
}

double tune_rate_loss(const TunePilot *pilots, int n, int i) {
    double sum = 0;
    int k = 0, bad = 0;
    for (int j = 0; j < n; j++)
        if (pilots[j].family_idx == pilots[i].family_idx && pilots[j].lr == pilots[i].lr) {
            k++;
            bad |= pilots[j].diverged || !isfinite(pilots[j].loss);
            sum += pilots[j].loss;
        }
    return bad ? INFINITY : sum / k;
}

// Whether pilot I is the first of its rate (the rate's representative).
static int first_of_rate(const TunePilot *pilots, int i) {
    for (int j = 0; j < i; j++)
        if (pilots[j].family_idx == pilots[i].family_idx && pilots[j].lr == pilots[i].lr) return 0;
    return 1;
}

int tune_choose(const TunePilot *pilots, int n, int family_idx, TuneChoice *out) {
    int best = -1, second = -1;
    double lo = INFINITY, hi = 0, best_mean = INFINITY, second_mean = INFINITY;
    for (int i = 0; i < n; i++) {
        const TunePilot *p = &pilots[i];
        if (p->family_idx != family_idx || !first_of_rate(pilots, i)) continue;
        lo = fmin(lo, p->lr);
        hi = fmax(hi, p->lr);
        double m = tune_rate_loss(pilots, n, i);
        if (!isfinite(m)) continue;
        if (best < 0 || m < best_mean || (m == best_mean && p->lr < pilots[best].lr)) {
            second = best, second_mean = best_mean;
            best = i, best_mean = m;
        } else if (second < 0 || m < second_mean || (m == second_mean && p->lr < pilots[second].lr)) {
            second = i, second_mean = m;
        }
    }
    if (best < 0) return -1;
    const TunePilot *b = &pilots[best];
    *out = (TuneChoice){.index = best, .lr = b->lr, .loss = best_mean, .loss_min = INFINITY, .loss_max = -INFINITY,
                        .runner_up_lr = second >= 0 ? pilots[second].lr : NAN};
    out->at_edge = lo < hi && (b->lr == lo || b->lr == hi);
    for (int j = 0; j < n; j++) {
        const TunePilot *p = &pilots[j];
        if (p->family_idx != family_idx || p->lr != b->lr) continue;
        out->n_seeds++;
        out->loss_min = fmin(out->loss_min, p->loss);
        out->loss_max = fmax(out->loss_max, p->loss);
        out->clipped += p->clipped;
        out->late_grad_norm += p->late_grad_norm;
        for (int r = 0; second >= 0 && r < n; r++) // the runner-up's pilot at the same seed
            if (pilots[r].family_idx == family_idx && pilots[r].lr == pilots[second].lr && pilots[r].seed == p->seed)
                out->wins += p->loss < pilots[r].loss;
    }
    out->clipped /= out->n_seeds;
    out->late_grad_norm /= out->n_seeds;
    return 0;
}
