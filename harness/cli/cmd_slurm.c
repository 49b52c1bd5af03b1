// cmd_slurm.c — `t2 slurm SPEC.json`: print a Slurm job-array script for the sweep (docs/SPEC.md §8).
// One array task per shard; each shard writes its own SQLite database on the node's local disk
// (never one SQLite file shared over NFS) and merges it into a shard database beside the results
// when it ends (also when cancelled or out of time: Slurm's SIGTERM stops the sweep at a checkpoint
// and the script records the shard before it exits); array task 0 submits the final `t2 merge`,
// which runs once every shard succeeded. Checkpoints stay under results/ on the shared file system,
// so a shard submitted again resumes where it stopped.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "spec/spec.h"

static char *absolute(const char *path) {
    char *r = realpath(path, NULL);
    return r ? r : xstrdup(path);
}

// Single-quote a string for the shell.
static char *shell_quote(const char *s) {
    size_t n = 2;
    for (const char *p = s; *p; p++) n += *p == '\'' ? 4 : 1;
    char *out = xmalloc(n + 1), *q = out;
    *q++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(q, "'\\''", 4);
            q += 4;
        } else {
            *q++ = *p;
        }
    }
    *q++ = '\'';
    *q = '\0';
    return out;
}

// S for an error message on one line: control characters as \n, \t or \xNN.
static void printable(const char *s, char *out, size_t n) {
    size_t len = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c && len + 5 < n; c++) {
        if (*c == '\n') len += (size_t)snprintf(out + len, n - len, "\\n");
        else if (*c == '\t') len += (size_t)snprintf(out + len, n - len, "\\t");
        else if (*c < 0x20 || *c == 0x7f) len += (size_t)snprintf(out + len, n - len, "\\x%02x", *c);
        else out[len++] = (char)*c;
    }
    out[len] = '\0';
}

// Slurm partition names: letters, digits, '_', '-', '.', several separated by commas.
static int check_partition(const char *p) {
    int ok = *p && *p != ',' && p[strlen(p) - 1] != ',' && !strstr(p, ",,");
    for (const char *c = p; *c && ok; c++)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("_-.,", *c);
    char shown[600];
    printable(p, shown, sizeof shown);
    if (!ok) err_set("--partition: '%s' is not a Slurm partition name (letters, digits, '_', '-', '.'; a list "
                     "separated by commas)", shown);
    return ok ? 0 : -1;
}

// Digits, at least one, at most MAX_DIGITS; advances *p.
static int digits(const char **p, int max_digits) {
    int n = 0;
    while (**p >= '0' && **p <= '9' && n <= max_digits) (*p)++, n++;
    return n >= 1 && n <= max_digits;
}

// Slurm's time formats: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED / INFINITE.
static int check_time(const char *t) {
    if (strcmp(t, "UNLIMITED") == 0 || strcmp(t, "INFINITE") == 0) return 0;
    const char *p = t;
    int ok = digits(&p, 9), fields = 1, days = 0;
    if (ok && *p == '-') { // days: then hours, optionally :MM and :SS
        p++;
        days = 1;
        ok = digits(&p, 2);
    }
    while (ok && *p == ':' && fields < 3) {
        p++;
        ok = digits(&p, 2);
        fields++;
    }
    ok = ok && *p == '\0' && !(days && fields > 3);
    char shown[600];
    printable(t, shown, sizeof shown);
    if (!ok) err_set("--time: '%s' is not a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)", shown);
    return ok ? 0 : -1;
}

// An #SBATCH line ends at a newline, and Slurm reads no escapes in it: a working directory with a
// control character cannot be written into one (it would end the line and start another).
static int check_workdir(const char *dir) {
    for (const unsigned char *c = (const unsigned char *)dir; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            char shown[PATH_MAX * 4];
            printable(dir, shown, sizeof shown);
            err_set("the working directory '%s' holds a control character, which a #SBATCH line cannot hold; run t2 "
                    "slurm from another directory", shown);
            return -1;
        }
    return 0;
}

static char *slurm_script(const Spec *s, int shards, int cpus, const char *time_limit, const char *partition,
                          const char *t2, const char *spec_path, const char *workdir) {
    char *q_t2 = shell_quote(t2), *q_spec = shell_quote(spec_path), *q_dir = shell_quote(workdir);
    char part[256] = "", merge_part[300] = "";
    if (partition) { // checked: only characters that need no quoting, quoted all the same
        char *q_part = shell_quote(partition);
        snprintf(part, sizeof part, "#SBATCH --partition=%s\n", partition);
        snprintf(merge_part, sizeof merge_part, "--partition=%s ", q_part);
        free(q_part);
    }
    char tl[128] = "";
    if (time_limit) snprintf(tl, sizeof tl, "#SBATCH --time=%s\n", time_limit);
    char *script = xasprintf(
        "#!/bin/bash\n"
        "# t2 sweep '%s' as a Slurm job array: %d shards of %d runs in all.\n"
        "# Generated by `t2 slurm`; submit with: sbatch THIS_FILE\n"
        "# Each array task runs one shard with its SQLite database on local disk, then merges it into\n"
        "# results/%s.shard-I.db; task 0 submits `t2 merge` into results/%s.db, which starts once every\n"
        "# shard has succeeded (and is cancelled if one fails). Checkpoints live in results/%s/ on the\n"
        "# shared file system: cancelled, out of time or failed, submit this file again and every shard\n"
        "# resumes where it stopped.\n"
        "#SBATCH --job-name=t2-%s\n"
        "#SBATCH --array=0-%d\n"
        "#SBATCH --ntasks=1\n"
        "#SBATCH --cpus-per-task=%d\n"
        "%s%s"
        "#SBATCH --chdir=%s\n"
        "#SBATCH --output=results/slurm-%s-%%A_%%a.out\n"
        "set -euo pipefail\n"
        "T2=%s\n"
        "SPEC=%s\n"
        "I=$SLURM_ARRAY_TASK_ID\n"
        "N=$SLURM_ARRAY_TASK_COUNT\n"
        "SHARD_DB=results/%s.shard-$I.db\n"
        "# A fresh private directory on local disk (mktemp: never a predictable name in a shared /tmp).\n"
        "LOCAL=$(mktemp -d \"${SLURM_TMPDIR:-${TMPDIR:-/tmp}}/t2-%s-$SLURM_ARRAY_JOB_ID-$I.XXXXXXXX\")\n"
        "mkdir -p results\n"
        "trap 'rm -rf \"$LOCAL\"' EXIT\n"
        "# On scancel or at the time limit Slurm sends SIGTERM to every process of the job: the sweep\n"
        "# checkpoints and stops, and this shell, instead of dying, waits for it and records the shard.\n"
        "trap 'echo \"t2: shard $I: SIGTERM: recording the shard before exiting\" >&2' TERM\n"
        "if [ \"$I\" = 0 ]; then\n"
        "  sbatch --job-name=t2-%s-merge --dependency=afterok:$SLURM_ARRAY_JOB_ID --kill-on-invalid-dep=yes \\\n"
        "    --ntasks=1 %s--chdir=%s --output=results/slurm-%s-%%j-merge.out \\\n"
        "    --wrap=\"$(printf '%%q merge results/%s.db' \"$T2\") results/%s.shard-*.db\"\n"
        "fi\n"
        "# A shard that ran before starts from what it recorded.\n"
        "if [ -f \"$SHARD_DB\" ]; then \"$T2\" merge \"$LOCAL/shard.db\" \"$SHARD_DB\"; fi\n"
        "status=0\n"
        "\"$T2\" sweep \"$SPEC\" --shard \"$I/$N\" --db \"$LOCAL/shard.db\" --ckpt-dir results/%s \\\n"
        "  --threads \"$SLURM_CPUS_PER_TASK\" --quiet || status=$?\n"
        "\"$T2\" merge \"$SHARD_DB\" \"$LOCAL/shard.db\"\n"
        "exit $status\n",
        s->name, shards, s->n_runs, s->name, s->name, s->name, s->name, shards - 1, cpus, part, tl, q_dir, s->name,
        q_t2, q_spec, s->name, s->name, s->name, merge_part, q_dir, s->name, s->name, s->name, s->name);
    free(q_t2);
    free(q_spec);
    free(q_dir);
    return script;
}

int cmd_slurm(int argc, char **argv) {
    long shards = 0, cpus = 2;
    char *time_limit = NULL, *partition = NULL, *out = NULL;
    Opt opts[] = {
        {"--shards", OPT_INT, &shards, "N", "array tasks (default: one per run, at most 64)", 0, 1, 100000},
        {"--cpus", OPT_INT, &cpus, "C", "CPUs per array task (default 2)", 0, 1, 1024},
        {"--time", OPT_STR, &time_limit, "HH:MM:SS", "time limit per array task"},
        {"--partition", OPT_STR, &partition, "P", "Slurm partition"},
        {"--out", OPT_STR, &out, "FILE", "write the script to FILE instead of stdout"},
    };
    Positional pos;
    int rc = args_parse("slurm", argc, argv, opts, ARRAY_LEN(opts), &pos, "SPEC.json", 1, 1);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    Spec s;
    if ((out && refuse_input_as_output("--out", out, "SPEC", pos.items[0]) != 0) || spec_load(&s, pos.items[0]) != 0) {
        free(pos.items);
        return cmd_fail();
    }
    if (shards == 0) shards = MIN(s.n_runs, 64);
    if (shards > s.n_runs) {
        err_set("--shards: %ld shards for %d runs would leave shards empty", shards, s.n_runs);
        free(pos.items);
        spec_free(&s);
        return cmd_fail();
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
    if ((partition && check_partition(partition) != 0) || (time_limit && check_time(time_limit) != 0) ||
        check_workdir(cwd) != 0) {
        free(pos.items);
        spec_free(&s);
        return cmd_fail();
    }
    // Slurm opens each task's --output file (results/slurm-...) before the script runs: a missing
    // results/ directory would fail every task at launch.
    char *results = xasprintf("%s/results", cwd);
    if (make_dirs(results, 1) != 0) {
        free(results);
        free(pos.items);
        spec_free(&s);
        return cmd_fail();
    }
    free(results);
    char *t2 = absolute("/proc/self/exe"), *spec_path = absolute(pos.items[0]);
    char *script = slurm_script(&s, (int)shards, (int)cpus, time_limit, partition, t2, spec_path, cwd);
    rc = 0;
    if (out) {
        AtomicFile af;
        rc = atomic_open(&af, out);
        if (rc == 0) {
            atomic_write(&af, script, strlen(script));
            rc = atomic_commit(&af);
        }
        if (rc == 0) fprintf(stderr, "t2: wrote %s; submit it with: sbatch %s\n", out, out);
    } else {
        fputs(script, stdout);
    }
    free(script);
    free(t2);
    free(spec_path);
    free(pos.items);
    spec_free(&s);
    return rc == 0 ? 0 : cmd_fail();
}
