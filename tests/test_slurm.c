// test_slurm.c — `t2 slurm` against a real Slurm, not a simulation: a one-node cluster (munged,
// slurmctld, slurmd from Debian) started as root in a temporary directory, with its own
// slurm.conf, state, spool, munge key and socket, so nothing under /etc is read or changed.
//
// The generated job-array script is submitted with sbatch (from a working directory whose name
// holds a space and a quote), cancelled with scancel while a shard is mid-training, submitted
// again, and its merge job must then produce a database equal to a one-process sweep: shards
// resume where SIGTERM stopped them. The test stops the daemons it started, by their pids, also
// when it fails. It is skipped, saying why, when it cannot run as root.
#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sweeputil.h"
#include "testutil.h"
#include "util/util.h"

#define WAIT_S 90 // longest wait for any one step of the cluster

static struct {
    char *dir;   // everything of the cluster and of the test
    char *conf;  // dir/slurm.conf
    char *host;  // the node: `hostname -s`
    pid_t munged, slurmctld, slurmd;
    const char *sbatch, *squeue, *scancel, *sinfo;
} cl;

// ---------------------------------------------------------------------------------------------
// Programs and commands.

// PROG's path: PATH, then the sbin directories a non-login root shell may lack. NULL if absent.
static char *find_program(const char *prog) {
    const char *path = getenv("PATH");
    char *dirs = xasprintf("%s:/usr/sbin:/sbin:/usr/bin", path ? path : "");
    char *found = NULL;
    for (char *save, *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *candidate = xasprintf("%s/%s", d, prog);
        if (*d && access(candidate, X_OK) == 0)
            found = candidate;
        else
            free(candidate);
    }
    free(dirs);
    return found;
}

// Run ARGV in DIR to completion with its output in DIR/cmd.log; returns the exit code and, in
// *out (may be NULL), the output.
static int run_in(const char *dir, char *const argv[], char **out) {
    char *log = xasprintf("%s/cmd.log", dir);
    if (truncate(log, 0) != 0 && errno != ENOENT) fail_msg("%s: %s", log, strerror(errno));
    free(log);
    int code = wait_exit(spawn_in(dir, "cmd.log", 0, argv));
    if (out) *out = read_log(dir, "cmd.log");
    return code;
}

// The output of a Slurm client command that must succeed.
static char *slurm_ok(char *const argv[]) {
    char *out;
    int code = run_in(cl.dir, argv, &out);
    if (code != 0) fail_msg("%s exited %d: %s", argv[0], code, out);
    return out;
}

static int queue_empty(void) {
    char *argv[] = {(char *)cl.squeue, "-h", "-o", "%i", NULL};
    char *out = slurm_ok(argv);
    int empty = strspn(out, " \n") == strlen(out);
    free(out);
    return empty;
}

// Every Slurm output file of the test's jobs, for a failure message.
static char *job_outputs(const char *work) {
    char *pattern = xasprintf("%s/results/slurm-*.out", work);
    glob_t g;
    char *all = xstrdup("");
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            char *text = read_file(g.gl_pathv[i], NULL);
            char *more = xasprintf("%s== %s\n%s", all, g.gl_pathv[i], text ? text : "(unreadable)\n");
            free(text);
            free(all);
            all = more;
        }
        globfree(&g);
    }
    free(pattern);
    return all;
}

static void wait_queue_empty(const char *work, const char *what) {
    for (int i = 0; !queue_empty(); i++) {
        if (i > WAIT_S * 5) fail_msg("%s: jobs still queued after %d s\n%s", what, WAIT_S, job_outputs(work));
        sleep_ms(200);
    }
}

// sbatch --parsable: the job id.
static long submit(const char *work, const char *local) {
    char *export = xasprintf("--export=ALL,TMPDIR=%s", local);
    char *argv[] = {(char *)cl.sbatch, "--parsable", export, "job.sh", NULL};
    char *out;
    int code = run_in(work, argv, &out);
    if (code != 0) fail_msg("sbatch exited %d: %s", code, out);
    long id = strtol(out, NULL, 10);
    if (id <= 0) fail_msg("sbatch printed no job id: %s", out);
    free(out);
    free(export);
    return id;
}

// ---------------------------------------------------------------------------------------------
// The cluster.

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static void write_munge_key(const char *path) {
    unsigned char key[1024];
    FILE *r = fopen("/dev/urandom", "rb");
    if (!r || fread(key, 1, sizeof key, r) != sizeof key) fail_msg("/dev/urandom: %s", strerror(errno));
    fclose(r);
    FILE *w = fopen(path, "wb");
    if (!w || fwrite(key, 1, sizeof key, w) != sizeof key || fclose(w) != 0) fail_msg("%s: %s", path, strerror(errno));
    if (chmod(path, 0400) != 0) fail_msg("chmod %s: %s", path, strerror(errno));
}

static void start_munged(void) {
    char *munged = find_program("munged");
    if (!munged) fail_msg("munged not found: `make test-deps` installs munge");
    char *key = xasprintf("%s/munge/munge.key", cl.dir), *socket_path = xasprintf("%s/munge/munge.socket", cl.dir);
    write_munge_key(key);
    char *a_key = xasprintf("--key-file=%s", key), *a_sock = xasprintf("--socket=%s", socket_path);
    char *a_pid = xasprintf("--pid-file=%s/munge/munged.pid", cl.dir);
    char *a_seed = xasprintf("--seed-file=%s/munge/munged.seed", cl.dir);
    char *a_log = xasprintf("--log-file=%s/log/munged.log", cl.dir);
    char *argv[] = {munged, "--foreground", "--force", a_key, a_sock, a_pid, a_seed, a_log, NULL};
    cl.munged = spawn_in(cl.dir, "log/munged.out", 0, argv);
    for (int i = 0; access(socket_path, F_OK) != 0; i++) {
        if (i > 100 || waitpid(cl.munged, NULL, WNOHANG) == cl.munged) {
            char *out = read_log(cl.dir, "log/munged.out");
            fail_msg("munged did not create %s: %s", socket_path, out);
        }
        sleep_ms(100);
    }
    free(munged), free(key), free(socket_path), free(a_key), free(a_sock), free(a_pid), free(a_seed), free(a_log);
}

static void write_slurm_conf(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int ctld_port = free_port(), d_port;
    while ((d_port = free_port()) == ctld_port) {
    }
    char *text = xasprintf("ClusterName=t2test\n"
                           "SlurmctldHost=%s(127.0.0.1)\n"
                           "SlurmctldPort=%d\n"
                           "SlurmdPort=%d\n"
                           "AuthType=auth/munge\n"
                           "CredType=cred/munge\n"
                           "AuthInfo=socket=%s/munge/munge.socket\n"
                           "SlurmUser=root\n"
                           "SlurmdUser=root\n"
                           "StateSaveLocation=%s/state\n"
                           "SlurmdSpoolDir=%s/spool\n"
                           "SlurmctldPidFile=%s/slurmctld.pid\n"
                           "SlurmdPidFile=%s/slurmd.pid\n"
                           "SlurmctldLogFile=%s/log/slurmctld.log\n"
                           "SlurmdLogFile=%s/log/slurmd.log\n"
                           "ProctrackType=proctrack/linuxproc\n"
                           "TaskPlugin=task/none\n"
                           "SelectType=select/cons_tres\n"
                           "SelectTypeParameters=CR_CPU\n"
                           "SchedulerType=sched/backfill\n"
                           "ReturnToService=2\n"
                           "MpiDefault=none\n"
                           "MailProg=/bin/true\n"
                           "JobCompType=jobcomp/none\n"
                           "JobAcctGatherType=jobacct_gather/none\n"
                           "AccountingStorageType=accounting_storage/none\n"
                           "NodeName=%s NodeAddr=127.0.0.1 CPUs=%ld State=UNKNOWN\n"
                           "PartitionName=t2 Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
                           cl.host, ctld_port, d_port, cl.dir, cl.dir, cl.dir, cl.dir, cl.dir, cl.dir,
                           cl.dir, cl.host, cpus);
    cl.conf = write_text(cl.dir, "slurm.conf", text);
    free(text);
}

static void wait_node_idle(void) {
    char *argv[] = {(char *)cl.sinfo, "-h", "-o", "%t", NULL};
    for (int i = 0;; i++) {
        char *out = NULL;
        int code = run_in(cl.dir, argv, &out);
        int idle = code == 0 && strncmp(out, "idle", 4) == 0;
        if (idle) {
            free(out);
            return;
        }
        if (i > WAIT_S * 5) {
            char *ctld = read_log(cl.dir, "log/slurmctld.out"), *d = read_log(cl.dir, "log/slurmd.out");
            fail_msg("the node is not idle after %d s (sinfo: %s)\nslurmctld:\n%s\nslurmd:\n%s", WAIT_S, out, ctld, d);
        }
        free(out);
        sleep_ms(200);
    }
}

static void start_cluster(void) {
    start_munged();
    write_slurm_conf();
    setenv("SLURM_CONF", cl.conf, 1); // for the daemons, the clients and the jobs (sbatch in task 0)
    char *ctld = find_program("slurmctld"), *d = find_program("slurmd");
    if (!ctld || !d) fail_msg("slurmctld or slurmd not found: `make test-deps` installs them");
    char *ctld_argv[] = {ctld, "-D", "-i", "-f", cl.conf, NULL};
    cl.slurmctld = spawn_in(cl.dir, "log/slurmctld.out", 0, ctld_argv);
    char *d_argv[] = {d, "-D", "-f", cl.conf, "-N", cl.host, NULL};
    cl.slurmd = spawn_in(cl.dir, "log/slurmd.out", 0, d_argv);
    free(ctld);
    free(d);
    wait_node_idle();
}

// Stop a daemon we started: SIGTERM, then SIGKILL if it lingers.
static void stop(pid_t *pid) {
    if (*pid <= 0) return;
    kill(*pid, SIGTERM);
    for (int i = 0; i < 100 && waitpid(*pid, NULL, WNOHANG) == 0; i++) sleep_ms(100);
    if (kill(*pid, 0) == 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
    }
    *pid = 0;
}

static int stop_cluster(void **state) {
    (void)state;
    if (cl.slurmctld > 0 && cl.scancel) { // jobs left by a failure: cancel them first
        char *argv[] = {(char *)cl.scancel, "--user=root", NULL};
        run_in(cl.dir, argv, NULL);
        sleep_ms(500);
    }
    stop(&cl.slurmd);
    stop(&cl.slurmctld);
    stop(&cl.munged);
    // Processes the daemons left (slurmstepd) were handed to us, a subreaper: reap them.
    for (int i = 0; i < 50; i++) {
        pid_t p = waitpid(-1, NULL, WNOHANG);
        if (p < 0) break; // no children left
        if (p == 0) sleep_ms(100);
    }
    unsetenv("SLURM_CONF");
    free(cl.conf);
    free(cl.host);
    free((char *)cl.sbatch), free((char *)cl.squeue), free((char *)cl.scancel), free((char *)cl.sinfo);
    tmpdir_remove(cl.dir);
    memset(&cl, 0, sizeof cl);
    return 0;
}

// ---------------------------------------------------------------------------------------------

// Run 1 of shard 1 while it trains: its step in the job's local database (in the directory the
// script made with mktemp), else -1.
static long long local_step(const char *local, long job) {
    char *pattern = xasprintf("%s/t2-tiny-%ld-1.*/shard.db", local, job);
    glob_t g;
    long long step = -1;
    if (glob(pattern, 0, NULL, &g) == 0) {
        if (g.gl_pathc != 1 || sql_try_int(g.gl_pathv[0], "SELECT CASE status WHEN 'running' THEN step ELSE -1 END "
                                                          "FROM runs WHERE run_id = 1", &step) != 0)
            step = -1;
        globfree(&g);
    }
    free(pattern);
    return step;
}

static void test_job_array_on_real_slurm(void **state) {
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_slurm: skipped: starting munged, slurmctld and slurmd needs root (uid is %d)\n",
                (int)geteuid());
        skip();
    }
    if (!t2_abs()) fail_msg("%s: %s (build it first)", t2_bin(), strerror(errno));
    cl.sbatch = find_program("sbatch"), cl.squeue = find_program("squeue");
    cl.scancel = find_program("scancel"), cl.sinfo = find_program("sinfo");
    if (!cl.sbatch || !cl.squeue || !cl.scancel || !cl.sinfo)
        fail_msg("Slurm client commands not found: `make test-deps` installs slurm-client");
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    char host[256];
    assert_int_equal(gethostname(host, sizeof host), 0);
    host[sizeof host - 1] = '\0';
    host[strcspn(host, ".")] = '\0';
    cl.host = xstrdup(host);
    cl.dir = tmpdir_make("slurm");
    assert_int_equal(chmod(cl.dir, 0755), 0);
    static const char *const subdirs[] = {"munge", "state", "spool", "log", "local", "ref", "work dir's"};
    for (size_t i = 0; i < ARRAY_LEN(subdirs); i++) {
        char *p = xasprintf("%s/%s", cl.dir, subdirs[i]);
        assert_int_equal(mkdir(p, 0755), 0);
        free(p);
    }
    char *ref = xasprintf("%s/ref", cl.dir), *work = xasprintf("%s/work dir's", cl.dir);
    char *local = xasprintf("%s/local", cl.dir);

    // The reference: one process, one thread per run like every array task (--cpus 1).
    free(write_text(ref, "spec.json", TINY_SPEC));
    const char *sweep[] = {"sweep", "spec.json", "--jobs", "2", "--threads", "2", "--quiet", NULL};
    free(t2_ok(ref, sweep));
    char *ref_db = xasprintf("%s/results/tiny.db", ref);
    char *want = dump_content(ref_db, -1);

    start_cluster();
    free(write_text(work, "spec.json", TINY_SPEC));
    const char *slurm[] = {"slurm", "spec.json", "--shards", "2", "--cpus", "1", "--out", "job.sh", NULL};
    free(t2_ok(work, slurm));
    char *results = xasprintf("%s/results", work);
    struct stat st;
    assert_int_equal(stat(results, &st), 0); // Slurm writes the tasks' output there from the start
    assert_true(S_ISDIR(st.st_mode));

    // First submission: cancelled while shard 1 trains run 1, after some checkpoints.
    long job = submit(work, local);
    for (int i = 0; local_step(local, job) < 100; i++) {
        if (i > WAIT_S * 50) fail_msg("run 1 did not reach step 100 in %d s\n%s", WAIT_S, job_outputs(work));
        sleep_ms(20);
    }
    char id[32];
    snprintf(id, sizeof id, "%ld", job);
    char *cancel[] = {(char *)cl.scancel, id, NULL};
    free(slurm_ok(cancel));
    wait_queue_empty(work, "after scancel"); // the merge job went with the array (invalid dependency)
    char *shard1 = xasprintf("%s/tiny.shard-1.db", results), *merged = xasprintf("%s/tiny.db", results);
    if (!file_exists(shard1)) fail_msg("the cancelled shard 1 left no %s\n%s", shard1, job_outputs(work));
    if (sql_int(shard1, "SELECT count(*) FROM runs WHERE run_id = 1 AND status = 'pending' AND step >= 100") != 1)
        fail_msg("shard 1 did not record run 1's checkpoint on SIGTERM\n%s", job_outputs(work));
    assert_false(file_exists(merged));

    // Second submission: every shard resumes, the merge job runs once the array succeeded.
    long job2 = submit(work, local);
    for (int i = 0; !file_exists(merged) || !queue_empty(); i++) {
        if (i > WAIT_S * 5) fail_msg("no merged database after %d s\n%s", WAIT_S, job_outputs(work));
        sleep_ms(200);
    }
    char *outputs = job_outputs(work);
    if (!strstr(outputs, "shard 1: SIGTERM") || !strstr(outputs, "merged 2 databases into results/tiny.db"))
        fail_msg("unexpected job outputs:\n%s", outputs);
    char *got = dump_content(merged, -1);
    assert_same_dump(got, want, "the database merged by the Slurm job");
    assert_int_equal(sql_int(merged, "SELECT attempts FROM runs WHERE run_id = 1"), 2); // resumed, not redone
    assert_checkpoints_resolve(merged, TINY_RUNS); // kept on the shared file system, beside results/tiny.db
    // The second submission's local directories were private (mktemp) and are gone (a task of the
    // first, cancelled one may have been killed before its shell could remove its own).
    char *leftover = xasprintf("%s/t2-tiny-%ld-*", local, job2);
    glob_t g;
    assert_int_equal(glob(leftover, 0, NULL, &g), GLOB_NOMATCH);
    free(leftover);
    free(got);
    free(outputs);
    free(shard1);
    free(merged);
    free(results);
    free(want);
    free(ref_db);
    free(ref);
    free(work);
    free(local);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_job_array_on_real_slurm, stop_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
