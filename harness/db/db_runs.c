// db_runs.c — sweeps, the runs of a grid, and claiming runs so that concurrent sweeps on one
// database never run the same run twice, while a run cut off by a crash is picked up again.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "db/db_impl.h"
#include "util/json.h"

static const char *const STATUS_NAMES[] = {"pending", "running", "done", "diverged", "failed"};
_Static_assert(ARRAY_LEN(STATUS_NAMES) == DB_RUN_N_STATUS, "one name per run status");

const char *db_status_name(DbRunStatus s) {
    return (unsigned)s < ARRAY_LEN(STATUS_NAMES) ? STATUS_NAMES[s] : "?";
}

int db_status_parse(const char *name, DbRunStatus *out) {
    for (size_t i = 0; name && i < ARRAY_LEN(STATUS_NAMES); i++)
        if (strcmp(name, STATUS_NAMES[i]) == 0) {
            *out = (DbRunStatus)i;
            return 0;
        }
    return -1;
}

// ---------------------------------------------------------------------------------------------
// Sweeps.

int db_register_sweep(Db *db, const char *name, const char *spec_json, const char *spec_hash) {
    const char *op = "register sweep";
    if (db_begin(db, op) != 0) return -1;
    sqlite3_stmt *st = db_prepare(db, "SELECT name, spec_hash FROM sweeps ORDER BY name", op);
    if (!st) goto fail;
    int found = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *have = (const char *)sqlite3_column_text(st, 0);
        const char *have_hash = (const char *)sqlite3_column_text(st, 1);
        if (strcmp(have, name) != 0) {
            err_set("%s: holds sweep '%s'; sweep '%s' needs its own database: use another --db", db->path,
                    have, name);
            goto fail;
        }
        if (strcmp(have_hash, spec_hash) != 0) {
            err_set("%s: sweep '%s' was created from a different spec (hash %s); this spec has hash %s: "
                    "use another --db",
                    db->path, name, have_hash, spec_hash);
            goto fail;
        }
        found = 1;
    }
    if (rc != SQLITE_DONE) {
        db_fail_rc(db, op, rc);
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!found) {
        st = db_prepare(db, "INSERT INTO sweeps (name, spec_json, spec_hash, created_at) VALUES (?, ?, ?, ?)",
                        op);
        if (!st) goto fail;
        char now[32];
        iso_time_utc(now);
        Bind b = bind_start(st);
        bind_text(&b, name);
        bind_text(&b, spec_json);
        bind_text(&b, spec_hash);
        bind_text(&b, now);
        if (b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op)) goto fail;
        sqlite3_finalize(st);
    }
    return db_commit(db, op);
fail:
    sqlite3_finalize(st);
    db_rollback(db);
    return -1;
}

// ---------------------------------------------------------------------------------------------
// Runs of a grid.

static const char *budget_kind_name(BudgetKind k) {
    switch (k) {
    case BUDGET_FLOPS: return "train_flops";
    case BUDGET_TOKENS_PER_PARAM: return "tokens_per_param";
    case BUDGET_TOKENS: return "tokens";
    }
    return "?";
}

void db_run_row_from_spec(DbRunRow *row, const Spec *s, const RunSpec *r, const char *config_json,
                          char hash_buf[17]) {
    hex64(fnv1a64(config_json, strlen(config_json)), hash_buf);
    *row = (DbRunRow){
        .run_id = r->run_id,
        .sweep = s->name,
        .config_json = config_json,
        .config_hash = hash_buf,
        .n_layer = r->model.n_layer,
        .d_model = r->model.d_model,
        .n_head = r->model.n_head,
        .d_ff = r->model.d_ff,
        .tied = r->model.tied,
        .seq_len = s->train.seq_len,
        .batch_size = s->train.batch_size,
        .vocab_size = r->model.vocab_size,
        .n_params = (long)r->n_params,
        .n_params_nonembed = (long)r->n_params_nonembed,
        .train_steps = r->steps,
        .train_tokens = r->train_tokens,
        .train_flops = r->train_flops,
        .train_flops_6nd = r->train_flops_6nd,
        .budget_kind = budget_kind_name(s->budgets.kind),
        .budget = r->budget,
        .seed = r->seed,
        .family_idx = r->family_idx,
        .budget_idx = r->budget_idx,
        .seed_idx = r->seed_idx,
    };
}

static void bind_run_row(Bind *b, const DbRunRow *r) {
    bind_int(b, r->run_id);
    bind_text(b, r->sweep);
    bind_text(b, r->config_json);
    bind_text(b, r->config_hash);
    bind_text(b, t2_git_sha());
    bind_int(b, r->n_layer);
    bind_int(b, r->d_model);
    bind_int(b, r->n_head);
    bind_int(b, r->d_ff);
    bind_int(b, r->tied);
    bind_int(b, r->seq_len);
    bind_int(b, r->batch_size);
    bind_int(b, r->vocab_size);
    bind_int(b, r->n_params);
    bind_int(b, r->n_params_nonembed);
    bind_int(b, r->train_steps);
    bind_int(b, r->train_tokens);
    bind_real(b, r->train_flops);
    bind_real(b, r->train_flops_6nd);
    bind_text(b, r->budget_kind);
    bind_real(b, r->budget);
    bind_int(b, r->seed);
    bind_int(b, r->family_idx);
    bind_int(b, r->budget_idx);
    bind_int(b, r->seed_idx);
}

// The row already stored under ROW's run id must be the same run of the same sweep.
static int check_same_run(Db *db, sqlite3_stmt *get, const DbRunRow *row, const char *op) {
    sqlite3_reset(get);
    Bind b = bind_start(get);
    bind_int(&b, row->run_id);
    if (b.rc != SQLITE_OK) return db_fail_rc(db, op, b.rc);
    int rc = sqlite3_step(get);
    if (rc != SQLITE_ROW) return db_fail_rc(db, op, rc == SQLITE_DONE ? SQLITE_INTERNAL : rc);
    const char *sweep = (const char *)sqlite3_column_text(get, 0);
    const char *hash = (const char *)sqlite3_column_text(get, 1);
    if (strcmp(sweep, row->sweep) != 0 || strcmp(hash, row->config_hash) != 0) {
        err_set("%s: run %d is stored with sweep '%s' and config hash %s, not sweep '%s' with %s: "
                "the database belongs to another spec; use another --db",
                db->path, row->run_id, sweep, hash, row->sweep, row->config_hash);
        return -1;
    }
    return 0;
}

int db_insert_runs(Db *db, const DbRunRow *rows, size_t n, size_t *n_inserted) {
    const char *op = "insert runs";
    size_t added = 0;
    sqlite3_stmt *ins = NULL, *get = NULL;
    if (db_begin(db, op) != 0) return -1;
    ins = db_prepare(db,
                     "INSERT OR IGNORE INTO runs (run_id, sweep, config_json, config_hash, git_sha, "
                     "n_layer, d_model, n_head, d_ff, tied, seq_len, batch_size, vocab_size, n_params, "
                     "n_params_nonembed, train_steps, train_tokens, train_flops, train_flops_6nd, "
                     "budget_kind, budget, seed, family_idx, budget_idx, seed_idx) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     op);
    get = db_prepare(db, "SELECT sweep, config_hash FROM runs WHERE run_id = ?", op);
    if (!ins || !get) goto fail;
    for (size_t i = 0; i < n; i++) {
        Bind b = bind_start(ins);
        bind_run_row(&b, &rows[i]);
        if (b.rc != SQLITE_OK) {
            db_fail_rc(db, op, b.rc);
            goto fail;
        }
        if (db_step_done(db, ins, op) != 0) goto fail;
        if (sqlite3_changes(db->h) == 1)
            added++;
        else if (check_same_run(db, get, &rows[i], op) != 0)
            goto fail;
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(get);
    if (n_inserted) *n_inserted = added;
    return db_commit(db, op);
fail:
    sqlite3_finalize(ins);
    sqlite3_finalize(get);
    db_rollback(db);
    return -1;
}

// ---------------------------------------------------------------------------------------------
// Reading runs.

#define RUN_COLUMNS                                                                                          \
    "run_id, sweep, config_json, config_hash, git_sha, budget_kind, lib_versions, n_layer, "                 \
    "d_model, n_head, d_ff, tied, seq_len, batch_size, vocab_size, n_params, n_params_nonembed, "            \
    "train_steps, train_tokens, train_flops, train_flops_6nd, budget, seed, family_idx, "                    \
    "budget_idx, seed_idx, threads, status, step, progress, final_loss, val_loss, wall_s, "                  \
    "checkpoint, error, owner, started_at, finished_at, heartbeat, attempts, answer_loss"

// runs.checkpoint as a path to open (see db_checkpoint_resolve), NULL when NULL.
static char *col_checkpoint(const Db *db, sqlite3_stmt *st, int i) {
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? db_checkpoint_resolve(db, (const char *)s) : NULL;
}

static int read_run(Db *db, sqlite3_stmt *st, DbRun *r) {
    int c = 0;
    memset(r, 0, sizeof *r);
    r->run_id = sqlite3_column_int(st, c++);
    r->sweep = col_text_dup(st, c++);
    r->config_json = col_text_dup(st, c++);
    r->config_hash = col_text_dup(st, c++);
    r->git_sha = col_text_dup(st, c++);
    r->budget_kind = col_text_dup(st, c++);
    r->lib_versions = col_text_dup(st, c++);
    r->n_layer = sqlite3_column_int(st, c++);
    r->d_model = sqlite3_column_int(st, c++);
    r->n_head = sqlite3_column_int(st, c++);
    r->d_ff = sqlite3_column_int(st, c++);
    r->tied = sqlite3_column_int(st, c++);
    r->seq_len = sqlite3_column_int(st, c++);
    r->batch_size = sqlite3_column_int(st, c++);
    r->vocab_size = sqlite3_column_int(st, c++);
    r->n_params = (long)sqlite3_column_int64(st, c++);
    r->n_params_nonembed = (long)sqlite3_column_int64(st, c++);
    r->train_steps = (long)sqlite3_column_int64(st, c++);
    r->train_tokens = (long)sqlite3_column_int64(st, c++);
    r->train_flops = col_real(st, c++);
    r->train_flops_6nd = col_real(st, c++);
    r->budget = col_real(st, c++);
    r->seed = (long)sqlite3_column_int64(st, c++);
    r->family_idx = sqlite3_column_int(st, c++);
    r->budget_idx = sqlite3_column_int(st, c++);
    r->seed_idx = sqlite3_column_int(st, c++);
    r->threads = sqlite3_column_int(st, c++);
    const char *status = (const char *)sqlite3_column_text(st, c++);
    r->step = (long)sqlite3_column_int64(st, c++);
    r->progress = (long)sqlite3_column_int64(st, c++);
    r->final_loss = col_real(st, c++);
    r->val_loss = col_real(st, c++);
    r->wall_s = col_real(st, c++);
    r->checkpoint = col_checkpoint(db, st, c++);
    r->error = col_text_dup(st, c++);
    r->owner = col_text_dup(st, c++);
    r->started_at = col_text_dup(st, c++);
    r->finished_at = col_text_dup(st, c++);
    r->heartbeat = sqlite3_column_type(st, c) == SQLITE_NULL ? 0.0 : sqlite3_column_double(st, c);
    c++;
    r->attempts = sqlite3_column_int(st, c++);
    r->answer_loss = col_real(st, c++);
    // The CHECK constraint makes this impossible unless the file was edited by hand.
    if (db_status_parse(status, &r->status) != 0) {
        err_set("%s: run %d has an unknown status '%s'", db->path, r->run_id, status ? status : "NULL");
        db_run_free(r);
        return -1;
    }
    return 0;
}

void db_run_free(DbRun *r) {
    if (!r) return;
    char **strings[] = {&r->sweep,       &r->config_json,  &r->config_hash, &r->git_sha,
                        &r->budget_kind, &r->lib_versions, &r->checkpoint,  &r->error,
                        &r->owner,       &r->started_at,   &r->finished_at};
    for (size_t i = 0; i < ARRAY_LEN(strings); i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
}

void db_runs_free(DbRun *runs, size_t n) {
    for (size_t i = 0; runs && i < n; i++)
        db_run_free(&runs[i]);
    free(runs);
}

int db_get_run(Db *db, int run_id, DbRun *out) {
    const char *op = "read run";
    sqlite3_stmt *st = db_prepare(db, "SELECT " RUN_COLUMNS " FROM runs WHERE run_id = ?", op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_int(&b, run_id);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    int result;
    if (rc == SQLITE_ROW)
        result = read_run(db, st, out);
    else if (rc == SQLITE_DONE)
        result = 1;
    else
        result = db_fail_rc(db, op, rc);
    sqlite3_finalize(st);
    return result;
}

int db_get_runs(Db *db, DbRun **out, size_t *n) {
    const char *op = "read runs";
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = db_prepare(db, "SELECT " RUN_COLUMNS " FROM runs ORDER BY run_id", op);
    if (!st) return -1;
    size_t cap = 16, len = 0;
    DbRun *runs = xmalloc(cap * sizeof *runs);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) runs = xrealloc(runs, (cap *= 2) * sizeof *runs);
        if (read_run(db, st, &runs[len]) != 0) break;
        len++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if (rc != SQLITE_ROW) db_fail_rc(db, op, rc); // else read_run has set the error
        db_runs_free(runs, len);
        return -1;
    }
    *out = runs;
    *n = len;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Claiming.

void db_owner_self(char out[300]) {
    char host[256];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(out, 300, "%s:%ld", host, (long)getpid());
}

// Is the process named by OWNER ("host:pid") gone? Only answerable on its own host.
// A zombie has exited but was not reaped yet: under an init that never reaps orphans (containers),
// the children of a killed sweep stay zombies for good, and kill(pid, 0) still finds them.
static int pid_is_zombie(long pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')'); // "pid (comm) S ...": comm may hold spaces and ')'
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static int owner_pid_dead(const char *owner) {
    const char *colon = strrchr(owner, ':');
    if (!colon) return 0;
    char host[256];
    if (gethostname(host, sizeof host) != 0) return 0;
    host[sizeof host - 1] = '\0';
    size_t host_len = (size_t)(colon - owner);
    if (host_len != strlen(host) || strncmp(owner, host, host_len) != 0) return 0;
    char *end;
    long pid = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || pid <= 0) return 0;
    // EPERM means it exists under another user: alive.
    if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
    return pid_is_zombie(pid);
}

int db_claim_is_stale(const Db *db, const char *owner, int has_heartbeat, double heartbeat) {
    if (!owner || !*owner || !has_heartbeat) return 1; // a running row nobody can own
    if (wall_clock_s() - heartbeat > db->stale_after) return 1;
    return owner_pid_dead(owner);
}

typedef struct {
    DbRunStatus status;
    char *owner, *checkpoint;
    int has_heartbeat;
    double heartbeat;
    long step;
    int attempts;
} ClaimState;

static int read_claim_state(Db *db, int run_id, ClaimState *s, const char *op) {
    memset(s, 0, sizeof *s);
    sqlite3_stmt *st = db_prepare(
        db, "SELECT status, owner, heartbeat, step, checkpoint, attempts FROM runs WHERE run_id = ?", op);
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_int(&b, run_id);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    int result = 0;
    if (rc == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(st, 0);
        if (db_status_parse(status, &s->status) != 0) {
            err_set("%s: run %d has an unknown status '%s'", db->path, run_id, status ? status : "NULL");
            result = -1;
        }
        s->owner = col_text_dup(st, 1);
        s->has_heartbeat = sqlite3_column_type(st, 2) != SQLITE_NULL;
        s->heartbeat = sqlite3_column_double(st, 2);
        s->step = (long)sqlite3_column_int64(st, 3);
        s->checkpoint = col_checkpoint(db, st, 4);
        s->attempts = sqlite3_column_int(st, 5);
    } else if (rc == SQLITE_DONE) {
        err_set("%s: %s: no run %d in the database", db->path, op, run_id);
        result = -1;
    } else {
        result = db_fail_rc(db, op, rc);
    }
    sqlite3_finalize(st);
    return result;
}

// Decide what a claim of a run in state S gives.
static DbClaimKind claim_decision(const Db *db, const ClaimState *s, int retry_failed) {
    int has_ckpt = s->step > 0 && s->checkpoint && *s->checkpoint;
    switch (s->status) {
    case DB_RUN_PENDING: return has_ckpt ? DB_CLAIM_RESUME : DB_CLAIM_FRESH;
    case DB_RUN_RUNNING:
        if (!db_claim_is_stale(db, s->owner, s->has_heartbeat, s->heartbeat)) return DB_CLAIM_NONE;
        return has_ckpt ? DB_CLAIM_RESUME : DB_CLAIM_FRESH;
    case DB_RUN_DONE: return DB_CLAIM_NONE;
    case DB_RUN_DIVERGED:
    case DB_RUN_FAILED:
        // A retry starts over: resuming next to a divergence or a failure would repeat it.
        return retry_failed ? DB_CLAIM_FRESH : DB_CLAIM_NONE;
    }
    return DB_CLAIM_NONE;
}

// The library versions of this process with the fields of run_kernels (a JSON object) added.
static char *run_versions(const char *run_kernels) {
    char *base = lib_versions_json(sqlite3_libversion());
    cJSON *extra = run_kernels ? cJSON_Parse(run_kernels) : NULL;
    if (!extra) return base;
    cJSON *o = cJSON_Parse(base);
    free(base);
    for (cJSON *it = extra->child; it; it = it->next) cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
    cJSON_Delete(extra);
    return json_text_free(o);
}

static int write_claim(Db *db, int run_id, const char *owner, int threads, const char *run_kernels, DbClaimKind kind,
                       const char *op) {
    // A fresh start forgets everything of earlier attempts; a resume keeps the checkpoint,
    // step and train_log (steps after the checkpoint are logged again, INSERT OR REPLACE).
    static const char FRESH[] =
        "UPDATE runs SET status = 'running', owner = ?, heartbeat = ?, threads = ?, git_sha = ?, "
        "lib_versions = ?, attempts = attempts + 1, started_at = ?, step = 0, progress = 0, "
        "checkpoint = NULL, final_loss = NULL, val_loss = NULL, answer_loss = NULL, wall_s = NULL, error = NULL, "
        "finished_at = NULL WHERE run_id = ?";
    static const char RESUME[] =
        "UPDATE runs SET status = 'running', owner = ?, heartbeat = ?, threads = ?, git_sha = ?, "
        "lib_versions = ?, attempts = attempts + 1, started_at = coalesce(started_at, ?), "
        "progress = step, error = NULL, finished_at = NULL WHERE run_id = ?";
    if (kind == DB_CLAIM_FRESH) {
        sqlite3_stmt *del = db_prepare(db, "DELETE FROM train_log WHERE run_id = ?", op);
        if (!del) return -1;
        Bind b = bind_start(del);
        bind_int(&b, run_id);
        int rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, del, op);
        sqlite3_finalize(del);
        if (rc != 0) return -1;
    }
    sqlite3_stmt *st = db_prepare(db, kind == DB_CLAIM_FRESH ? FRESH : RESUME, op);
    if (!st) return -1;
    char now[32];
    iso_time_utc(now);
    char *libs = run_versions(run_kernels);
    Bind b = bind_start(st);
    bind_text(&b, owner);
    bind_real(&b, wall_clock_s());
    bind_int(&b, threads);
    bind_text(&b, t2_git_sha());
    bind_text(&b, libs);
    bind_text(&b, now);
    bind_int(&b, run_id);
    int rc = b.rc != SQLITE_OK ? db_fail_rc(db, op, b.rc) : db_step_done(db, st, op);
    sqlite3_finalize(st);
    free(libs);
    return rc;
}

int db_claim_run(Db *db, int run_id, const char *owner, int threads, const char *run_kernels, int retry_failed,
                 DbClaim *claim) {
    char op[64];
    snprintf(op, sizeof op, "claim run %d", run_id);
    memset(claim, 0, sizeof *claim);
    if (!owner || !*owner) {
        err_set("%s: %s: empty owner", db->path, op);
        return -1;
    }
    if (db_begin(db, op) != 0) return -1;
    ClaimState s;
    if (read_claim_state(db, run_id, &s, op) != 0) goto fail;
    DbClaimKind kind = claim_decision(db, &s, retry_failed);
    if (kind != DB_CLAIM_NONE && write_claim(db, run_id, owner, threads, run_kernels, kind, op) != 0) goto fail;
    if (db_commit(db, op) != 0) goto fail_committed;
    claim->kind = kind;
    claim->prev = s.status;
    claim->attempts = s.attempts + (kind != DB_CLAIM_NONE);
    if (kind == DB_CLAIM_RESUME) {
        claim->step = s.step;
        claim->checkpoint = s.checkpoint;
        s.checkpoint = NULL;
    }
    if (kind == DB_CLAIM_NONE && s.status == DB_RUN_RUNNING) {
        claim->holder = s.owner;
        s.owner = NULL;
    }
    free(s.owner);
    free(s.checkpoint);
    return 0;
fail:
    db_rollback(db);
fail_committed:
    free(s.owner);
    free(s.checkpoint);
    return -1;
}

void db_claim_free(DbClaim *claim) {
    free(claim->checkpoint);
    free(claim->holder);
    claim->checkpoint = claim->holder = NULL;
}

// ---------------------------------------------------------------------------------------------
// Updates by the owner of a running run.

// The UPDATE matched nothing: say who holds the run now.
static int not_held(Db *db, int run_id, const char *owner, const char *op) {
    ClaimState s;
    if (read_claim_state(db, run_id, &s, op) == 0)
        err_set("%s: %s: run %d is no longer held by %s (status %s, owner %s)", db->path, op, run_id, owner,
                db_status_name(s.status), s.owner ? s.owner : "none");
    free(s.owner);
    free(s.checkpoint);
    return -1;
}

// Run an UPDATE whose last two parameters are (run_id, owner) and whose WHERE clause keeps it to
// a run OWNER holds; BIND_FN binds the parameters before them.
typedef void (*BindFn)(Bind *b, const void *ctx);

static int update_owned(Db *db, int run_id, const char *owner, sqlite3_stmt *st, BindFn bind_fn,
                        const void *ctx, const char *op) {
    if (db_begin(db, op) != 0) return -1;
    Bind b = bind_start(st);
    bind_fn(&b, ctx);
    bind_int(&b, run_id);
    bind_text(&b, owner);
    if (b.rc != SQLITE_OK) {
        db_fail_rc(db, op, b.rc);
        goto fail;
    }
    if (db_step_done(db, st, op) != 0) goto fail;
    if (sqlite3_changes(db->h) != 1) {
        not_held(db, run_id, owner, op);
        goto fail;
    }
    return db_commit(db, op);
fail:
    db_rollback(db);
    return -1;
}

#define WHERE_OWNED " WHERE run_id = ? AND owner = ? AND status = 'running'"

typedef struct {
    long step;
} HeartbeatArgs;

static void bind_heartbeat(Bind *b, const void *ctx) {
    const HeartbeatArgs *a = ctx;
    bind_real(b, wall_clock_s());
    bind_int(b, a->step);
}

int db_heartbeat(Db *db, int run_id, const char *owner, long step) {
    char op[64];
    snprintf(op, sizeof op, "heartbeat run %d", run_id);
    sqlite3_stmt *st =
        db_cached(db, STMT_HEARTBEAT, "UPDATE runs SET heartbeat = ?, progress = ?" WHERE_OWNED, op);
    if (!st) return -1;
    HeartbeatArgs a = {step};
    return update_owned(db, run_id, owner, st, bind_heartbeat, &a, op);
}

typedef struct {
    const char *path;
    long step;
} CheckpointArgs;

static void bind_checkpoint(Bind *b, const void *ctx) {
    const CheckpointArgs *a = ctx;
    bind_text(b, a->path);
    bind_int(b, a->step);
    bind_int(b, a->step);
    bind_real(b, wall_clock_s());
}

int db_set_checkpoint(Db *db, int run_id, const char *owner, const char *path, long step) {
    char op[64];
    snprintf(op, sizeof op, "record checkpoint of run %d", run_id);
    sqlite3_stmt *st = db_prepare(
        db,
        "UPDATE runs SET checkpoint = ?, step = ?, progress = max(progress, ?), heartbeat = ?" WHERE_OWNED,
        op);
    if (!st) return -1;
    char *stored = db_checkpoint_ref(db, path);
    CheckpointArgs a = {stored, step};
    int rc = update_owned(db, run_id, owner, st, bind_checkpoint, &a, op);
    sqlite3_finalize(st);
    free(stored);
    return rc;
}

static void bind_nothing(Bind *b, const void *ctx) {
    (void)b;
    (void)ctx;
}

int db_release_run(Db *db, int run_id, const char *owner) {
    char op[64];
    snprintf(op, sizeof op, "release run %d", run_id);
    sqlite3_stmt *st =
        db_prepare(db, "UPDATE runs SET status = 'pending', owner = NULL, heartbeat = NULL" WHERE_OWNED, op);
    if (!st) return -1;
    int rc = update_owned(db, run_id, owner, st, bind_nothing, NULL, op);
    sqlite3_finalize(st);
    return rc;
}

typedef struct {
    DbRunStatus status;
    double final_loss, val_loss, answer_loss, wall_s;
    const char *error;
} FinishArgs;

static void bind_finish(Bind *b, const void *ctx) {
    const FinishArgs *a = ctx;
    char now[32];
    iso_time_utc(now);
    bind_text(b, db_status_name(a->status));
    bind_real(b, a->final_loss);
    bind_real(b, a->val_loss);
    bind_real(b, a->answer_loss);
    bind_real(b, a->wall_s);
    bind_text(b, a->error);
    bind_text(b, now);
    bind_real(b, wall_clock_s());
}

int db_finish_run(Db *db, int run_id, const char *owner, DbRunStatus status, double final_loss,
                  double val_loss, double answer_loss, double wall_s, const char *error) {
    char op[64];
    snprintf(op, sizeof op, "finish run %d", run_id);
    if (status != DB_RUN_DONE && status != DB_RUN_DIVERGED && status != DB_RUN_FAILED) {
        err_set("%s: %s: '%s' is not a final status", db->path, op, db_status_name(status));
        return -1;
    }
    sqlite3_stmt *st = db_prepare(db,
                                  "UPDATE runs SET status = ?, final_loss = ?, val_loss = ?, answer_loss = ?, wall_s = ?, "
                                  "error = ?, finished_at = ?, heartbeat = ?" WHERE_OWNED,
                                  op);
    if (!st) return -1;
    FinishArgs a = {status, final_loss, val_loss, answer_loss, wall_s, error};
    int rc = update_owned(db, run_id, owner, st, bind_finish, &a, op);
    sqlite3_finalize(st);
    return rc;
}
