// testutil.c — see testutil.h.
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/util.h"

char *tmpdir_make(const char *tag) {
    const char *base = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/t2-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(tmpl)) die("mkdtemp %s: %s", tmpl, strerror(errno));
    return tmpl;
}

void tmpdir_remove(char *dir) {
    if (!dir) return;
    char *cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
    free(cmd);
    free(dir);
}

char *write_text(const char *dir, const char *name, const char *text) {
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

const char *t2_bin(void) {
    const char *b = getenv("T2_BIN");
    return b && *b ? b : "build/t2";
}

// Read both pipes until EOF without deadlocking on a full pipe.
static void drain(int fo, int fe, char **out, char **err) {
    size_t cap[2] = {4096, 4096}, len[2] = {0, 0};
    char *buf[2] = {xmalloc(cap[0]), xmalloc(cap[1])};
    struct pollfd pf[2] = {{fo, POLLIN, 0}, {fe, POLLIN, 0}};
    int open_n = 2;
    while (open_n > 0) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (len[i] + 4096 + 1 > cap[i]) buf[i] = xrealloc(buf[i], cap[i] *= 2);
            ssize_t n = read(pf[i].fd, buf[i] + len[i], 4096);
            if (n <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_n--;
            } else {
                len[i] += (size_t)n;
            }
        }
    }
    buf[0][len[0]] = buf[1][len[1]] = '\0';
    *out = buf[0];
    *err = buf[1];
}

static RunResult run_exec(char *const argv[]) {
    int po[2], pe[2];
    RunResult r = {0};
    if (pipe(po) || pipe(pe)) die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    drain(po[0], pe[0], &r.out, &r.err);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

RunResult run_t2v(char *const argv[]) {
    int n = 0;
    while (argv[n]) n++;
    char **full = xcalloc((size_t)n + 2, sizeof(char *));
    full[0] = (char *)t2_bin();
    for (int i = 0; i < n; i++) full[i + 1] = argv[i];
    RunResult r = run_exec(full);
    free(full);
    return r;
}

RunResult run_t2(const char *arg0, ...) {
    char *argv[64];
    int n = 0;
    va_list ap;
    va_start(ap, arg0);
    for (const char *a = arg0; a && n < 63; a = va_arg(ap, const char *)) argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    return run_t2v(argv);
}

RunResult run_sh(const char *cmdline) {
    char *argv[] = {"sh", "-c", (char *)cmdline, NULL};
    return run_exec(argv);
}

void run_free(RunResult *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

double rel_diff(double a, double b, double floor_) {
    double m = fmax(fmax(fabs(a), fabs(b)), floor_);
    return fabs(a - b) / m;
}
