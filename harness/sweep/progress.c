// progress.c — live lines, pipe protocol, and the sweep's board (see progress.h).
//
// Pipe protocol, one line per message:
//   "P <phase> <step> <total> <loss> <tokens/s> <eta_s>"   an update
//   "F <text>"                                              the run's final line
#include "sweep/progress.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

void progress_init(Progress *p, int run_id, int quiet, int fd) {
    memset(p, 0, sizeof *p);
    p->run_id = run_id;
    p->fd = fd;
    p->mode = fd >= 0 ? PROGRESS_PIPE : (quiet || !isatty(2)) ? PROGRESS_QUIET : PROGRESS_LIVE;
}

static void write_all(int fd, const char *s) {
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) return; // the sweep went away: progress is best effort
        s += w;
        n -= (size_t)w;
    }
}

static void format_update(char *out, size_t cap, int run_id, const char *phase, long step, long total, double loss,
                          double tok_s, double eta) {
    char rate[32], left[32];
    human_count(tok_s, rate, sizeof rate);
    human_seconds(eta, left, sizeof left);
    if (strcmp(phase, "train") == 0)
        snprintf(out, cap, "run %-3d train %6ld/%-6ld loss %.4f  %s tok/s  ETA %s", run_id, step, total, loss, rate, left);
    else
        snprintf(out, cap, "run %-3d %-5s %6ld/%-6ld  ETA %s", run_id, phase, step, total, left);
}

void progress_update(Progress *p, const char *phase, long step, long total, double loss, double tok_s, double eta) {
    char line[256];
    if (p->mode == PROGRESS_PIPE) {
        snprintf(line, sizeof line, "P %s %ld %ld %.6g %.6g %.6g\n", phase, step, total, loss, tok_s, eta);
        write_all(p->fd, line);
    } else if (p->mode == PROGRESS_LIVE) {
        double now = now_s();
        if (now - p->last < 0.2 && step < total) return;
        p->last = now;
        format_update(line, sizeof line, p->run_id, phase, step, total, loss, tok_s, eta);
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        p->drawn = 1;
    }
}

void progress_finish(Progress *p, const char *fmt, ...) {
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (p->mode == PROGRESS_PIPE) {
        char line[600];
        snprintf(line, sizeof line, "F %s\n", text);
        write_all(p->fd, line);
        return;
    }
    if (p->drawn) fprintf(stderr, "\r\033[K");
    p->drawn = 0;
    fprintf(stderr, "%s\n", text);
}

// ---------------------------------------------------------------------------------------------
typedef struct {
    int run_id;
    char line[256];
} Active;

struct ProgressBoard {
    int live;
    int n_total, n_ended;
    double flops_total, flops_done;
    double t0;
    Active *active;
    int n_active, cap;
    int lines_drawn;
};

ProgressBoard *board_create(int live, int n_runs_total, double flops_total) {
    ProgressBoard *b = xcalloc(1, sizeof *b);
    b->live = live;
    b->n_total = n_runs_total;
    b->flops_total = flops_total;
    b->t0 = now_s();
    return b;
}

void board_free(ProgressBoard *b) {
    if (!b) return;
    free(b->active);
    free(b);
}

static Active *board_find(ProgressBoard *b, int run_id, int create) {
    for (int i = 0; i < b->n_active; i++)
        if (b->active[i].run_id == run_id) return &b->active[i];
    if (!create) return NULL;
    if (b->n_active == b->cap) b->active = xrealloc(b->active, (size_t)(b->cap = b->cap ? 2 * b->cap : 8) * sizeof(Active));
    Active *a = &b->active[b->n_active++];
    a->run_id = run_id;
    snprintf(a->line, sizeof a->line, "run %-3d starting", run_id);
    return a;
}

static void board_clear(ProgressBoard *b) {
    if (!b->live || b->lines_drawn == 0) return;
    for (int i = 0; i < b->lines_drawn; i++) fprintf(stderr, "\033[1A\033[2K");
    fprintf(stderr, "\r");
    b->lines_drawn = 0;
}

void board_draw(ProgressBoard *b) {
    if (!b->live) return;
    board_clear(b);
    for (int i = 0; i < b->n_active; i++) fprintf(stderr, "%s\n", b->active[i].line);
    double el = now_s() - b->t0, frac = b->flops_total > 0 ? b->flops_done / b->flops_total : 0;
    char left[32], spent[32];
    human_seconds(frac > 0 ? el * (1 - frac) / frac : -1, left, sizeof left);
    human_seconds(el, spent, sizeof spent);
    fprintf(stderr, "sweep: %d/%d runs finished, %.0f%% of training FLOPs, %s elapsed, ETA %s\n", b->n_ended,
            b->n_total, 100 * frac, spent, left);
    b->lines_drawn = b->n_active + 1;
    fflush(stderr);
}

// "P <phase> <step> <total> <loss> <tokens/s> <eta_s>": 0, or -1 for anything else (a line of a
// child is never trusted to be well formed).
static int parse_update(const char *line, char phase[16], long *step, long *total, double *loss, double *tok_s,
                        double *eta) {
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", line);
    char *f[7];
    int n = 0;
    for (char *t = strtok_r(buf, " ", &save); t && n < 7; t = strtok_r(NULL, " ", &save)) f[n++] = t;
    if (n != 7 || strcmp(f[0], "P") != 0 || strlen(f[1]) >= 16) return -1;
    if (parse_int(f[2], 0, LONG_MAX, step) != 0 || parse_int(f[3], 0, LONG_MAX, total) != 0) return -1;
    double *d[3] = {loss, tok_s, eta};
    for (int i = 0; i < 3; i++) {
        char *end;
        *d[i] = strtod(f[4 + i], &end); // "nan" is a value here (no loss while evaluating)
        if (*end) return -1;
    }
    snprintf(phase, 16, "%s", f[1]);
    return 0;
}

void board_message(ProgressBoard *b, const char *line) {
    board_clear(b);
    fprintf(stderr, "%s\n", line);
    board_draw(b);
}

void board_line(ProgressBoard *b, int run_id, const char *line) {
    if (line[0] == 'F' && line[1] == ' ') {
        board_message(b, line + 2);
        return;
    }
    char phase[16];
    long step, total;
    double loss, tok_s, eta;
    if (parse_update(line, phase, &step, &total, &loss, &tok_s, &eta) == 0) {
        Active *a = board_find(b, run_id, 1);
        format_update(a->line, sizeof a->line, run_id, phase, step, total, loss, tok_s, eta);
    }
}

void board_run_ended(ProgressBoard *b, int run_id, double flops) {
    Active *a = board_find(b, run_id, 0);
    if (a) *a = b->active[--b->n_active];
    b->n_ended++;
    b->flops_done += flops;
}
