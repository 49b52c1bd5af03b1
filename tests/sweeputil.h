// sweeputil.h — helpers of the end-to-end sweep tests (test_sweep, test_slurm): start programs in
// a directory with their output in a log file, run t2 there, and compare results databases by
// their content; run t2 as a user who cannot write.
#ifndef T2_SWEEPUTIL_H
#define T2_SWEEPUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "testutil.h"

// A sweep that trains in seconds: 4 runs (family 0, 1 layer: 240 and 721 steps; family 1, 2 layers:
// 57 and 172 steps), a checkpoint every 20 steps, 20 problems sampled 8 times.
extern const char TINY_SPEC[];
enum { TINY_RUNS = 4, TINY_LONG_RUN = 1, TINY_SHORT_RUN = 2 };

// ---------------------------------------------------------------------------------------------
// Processes.

// Absolute path of the t2 under test (the tests run it from other directories); NULL when it is
// missing (errno set).
const char *t2_abs(void);
// Run `t2 ARGS` (a shell-quoted command line) in DIR as a user who cannot write DIR: as root,
// the user nobody (DIR must be root's, mode 0755, and its parents searchable); otherwise the
// caller makes DIR read-only.
RunResult t2_unprivileged(const char *dir, const char *args);

// Start ARGV (argv[0] looked up in PATH) in DIR with stdout and stderr appended to DIR/LOG (or to
// /dev/null when LOG is NULL); in a process group of its own when OWN_GROUP, so that the test can
// signal it with all its children.
pid_t spawn_in(const char *dir, const char *log, int own_group, char *const argv[]);
// Exit code, or 128 + signal.
int wait_exit(pid_t pid);
// DIR/LOG, whole (heap). Fails the test when it cannot be read.
char *read_log(const char *dir, const char *log);
void sleep_ms(long ms);

// `t2 ARGS...` (NULL-terminated, without the program) in DIR, output to DIR/LOG (truncated first).
pid_t start_t2(const char *dir, const char *log, int own_group, const char *const *args);
// Run `t2 ARGS...` in DIR to completion; fail the test, showing its output, unless it exits 0.
// Returns its output (stdout and stderr).
char *t2_ok(const char *dir, const char *const *args);
// Run `t2 ARGS...` in DIR expecting a refusal: a non-zero exit and ONE line "t2: ..." holding every
// string of the NULL-terminated WANT.
void t2_refused(const char *dir, const char *const *args, const char *const *want);

// ---------------------------------------------------------------------------------------------
// Results databases (opened read-only, except by sql_exec).

// The integer of the first column of the first row of SQL.
long long sql_int(const char *path, const char *sql);
void sql_exec(const char *path, const char *sql);
// The same without failing: -1 when the file, its tables or the row are not there (yet), for
// polling a database another process is creating.
int sql_try_int(const char *path, const char *sql, long long *value);

// What a sweep computed, for one run (RUN_ID >= 0) or all (-1): the sweep, the runs' outcomes,
// train_log, problems, evals, samples, gold, metrics, open eval claims. Not wall times, owners,
// attempts, dates or eval ids, which differ between equal sweeps. Doubles to 17 digits.
char *dump_content(const char *path, int run_id);
// Every row of every table, volatile columns too: for "nothing changed".
char *dump_full(const char *path);
// Equal dumps, or fail showing the query and the first line that differs.
void assert_same_dump(const char *got, const char *want, const char *what);
// Every one of the N_RUNS runs of the database at PATH records a checkpoint that resolves (from
// any working directory) to a file that exists.
void assert_checkpoints_resolve(const char *path, int n_runs);

// Whole file (heap); fails the test when it cannot be read.
char *slurp_file(const char *path, size_t *n);
void assert_same_file(const char *path, const char *before, size_t n_before);

#endif
