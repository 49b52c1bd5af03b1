// testutil.h — helpers shared by the cmocka tests: temporary directories, running build/t2 and
// capturing its output, small numeric comparisons.
#ifndef T2_TESTUTIL_H
#define T2_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

// A fresh directory under $TMPDIR (or /tmp), removed by tmpdir_remove.
char *tmpdir_make(const char *tag);
void tmpdir_remove(char *dir);
// Write TEXT to DIR/NAME; returns the heap path.
char *write_text(const char *dir, const char *name, const char *text);

// Run build/t2 with the arguments (NULL-terminated), capturing stdout and stderr.
typedef struct {
    int status;  // exit code, or 128+signal
    char *out;   // stdout (NUL-terminated)
    char *err;   // stderr
} RunResult;
RunResult run_t2(const char *arg0, ...);          // NULL-terminated list
RunResult run_t2v(char *const argv[]);            // argv[0] is the first t2 argument
void run_free(RunResult *r);
// Run a shell command line (sh -c), capturing output.
RunResult run_sh(const char *cmdline);

// The t2 binary under test (T2_BIN, else build/t2).
const char *t2_bin(void);

// Relative difference |a-b| / max(|a|,|b|,floor).
double rel_diff(double a, double b, double floor);

#endif
