// progress.h — progress of long work on stderr (docs/SPEC.md §2): on a terminal a live line per active
// run (step, loss, tokens/s, ETA) and, for a sweep, an overall ETA; off a terminal or with
// --quiet, one line per finished run. A sweep's child processes report to the sweep through a
// pipe with one text line per update; the sweep draws.
#ifndef T2_PROGRESS_H
#define T2_PROGRESS_H

typedef enum {
    PROGRESS_QUIET,  // only final lines
    PROGRESS_LIVE,   // a live line on stderr (a terminal)
    PROGRESS_PIPE,   // machine lines to a sweep's pipe
} ProgressMode;

typedef struct {
    ProgressMode mode;
    int fd;          // PROGRESS_PIPE: where to write
    int run_id;
    double last;     // time of the last live update
    int drawn;       // a live line is on screen
} Progress;

// mode from the flags: pipe when fd ≥ 0, quiet when asked or stderr is not a terminal, else live.
void progress_init(Progress *p, int run_id, int quiet, int fd);
// Training (or evaluation, phase "eval") update.
void progress_update(Progress *p, const char *phase, long step, long total, double loss, double tokens_per_s,
                     double eta_s);
// The run's final line ("run 3 done: loss 1.23 ..."): printed in every mode (a pipe forwards it).
void progress_finish(Progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// ---------------------------------------------------------------------------------------------
// The sweep's side: a board of active runs fed by the children's lines.
typedef struct ProgressBoard ProgressBoard;
ProgressBoard *board_create(int live, int n_runs_total, double flops_total);
void board_free(ProgressBoard *b);
// A line from the child running run_id (without the newline).
void board_line(ProgressBoard *b, int run_id, const char *line);
// A line of the sweep's own on stderr, above the live board.
void board_message(ProgressBoard *b, const char *line);
// The run's process ended; its train FLOPs count as done.
void board_run_ended(ProgressBoard *b, int run_id, double flops);
void board_draw(ProgressBoard *b);

#endif
