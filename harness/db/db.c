// db.c — opening the results database: schema creation and migration, refusing files that are not
// t2 databases, connection settings; the helpers the other db*.c files share.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db_impl.h"

// ---------------------------------------------------------------------------------------------
// Schema. MIGRATIONS[v] takes a database from user_version v to v + 1; version 0 is the empty
// file, so creating a database is migrating it from 0. To change the schema, append a step
// (ALTER TABLE ... ADD COLUMN, new tables) and bump DB_SCHEMA_VERSION; never edit a past step.

static const char SCHEMA_V1[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);\n"
    "CREATE TABLE sweeps (\n"
    "  name TEXT PRIMARY KEY, spec_json TEXT NOT NULL, spec_hash TEXT NOT NULL, created_at TEXT);\n"
    "CREATE TABLE runs (\n"
    "  run_id INTEGER PRIMARY KEY,\n"
    "  sweep TEXT NOT NULL REFERENCES sweeps(name),\n"
    "  config_json TEXT NOT NULL, config_hash TEXT NOT NULL, git_sha TEXT,\n"
    "  n_layer INTEGER, d_model INTEGER, n_head INTEGER, d_ff INTEGER, tied INTEGER,\n"
    "  seq_len INTEGER, batch_size INTEGER, vocab_size INTEGER,\n"
    "  n_params INTEGER, n_params_nonembed INTEGER,\n"
    "  train_steps INTEGER, train_tokens INTEGER, train_flops REAL, train_flops_6nd REAL,\n"
    "  budget_kind TEXT, budget REAL, seed INTEGER,\n"
    "  family_idx INTEGER, budget_idx INTEGER, seed_idx INTEGER,\n"
    "  threads INTEGER, lib_versions TEXT,\n"
    "  status TEXT NOT NULL DEFAULT 'pending'\n"
    "    CHECK (status IN ('pending','running','done','diverged','failed')),\n"
    "  step INTEGER NOT NULL DEFAULT 0,\n"     // last checkpointed step
    "  progress INTEGER NOT NULL DEFAULT 0,\n" // last step reported by a heartbeat
    "  final_loss REAL, val_loss REAL, wall_s REAL, checkpoint TEXT, error TEXT,\n"
    "  owner TEXT, heartbeat REAL, started_at TEXT, finished_at TEXT,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX runs_status ON runs(status);\n"
    "CREATE TABLE train_log (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id), step INTEGER NOT NULL,\n"
    "  tokens INTEGER, loss REAL, lr REAL, grad_norm REAL, wall_s REAL,\n"
    "  PRIMARY KEY (run_id, step)) WITHOUT ROWID;\n"
    "CREATE TABLE problems (\n"
    "  task TEXT NOT NULL, split TEXT NOT NULL, problem_id INTEGER NOT NULL,\n"
    "  prompt TEXT NOT NULL, target TEXT NOT NULL,\n"
    "  PRIMARY KEY (task, split, problem_id)) WITHOUT ROWID;\n"
    "CREATE TABLE evals (\n"
    "  eval_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(run_id),\n"
    "  temperature REAL NOT NULL, top_p REAL NOT NULL, n_samples INTEGER NOT NULL,\n"
    "  max_new_tokens INTEGER NOT NULL,\n"
    "  infer_flops REAL, infer_flops_2nk REAL, prefill_flops REAL, decode_flops REAL,\n"
    "  gen_tokens INTEGER, n_problems INTEGER, wall_s REAL, created_at TEXT,\n"
    "  UNIQUE (run_id, temperature, top_p, n_samples, max_new_tokens));\n"
    "CREATE TABLE samples (\n"
    "  eval_id INTEGER NOT NULL REFERENCES evals(eval_id) ON DELETE CASCADE,\n"
    "  problem_id INTEGER NOT NULL, sample_idx INTEGER NOT NULL,\n"
    "  completion TEXT, answer TEXT, correct INTEGER NOT NULL CHECK (correct IN (0, 1)),\n"
    "  n_tokens INTEGER, logprob REAL,\n"
    "  PRIMARY KEY (eval_id, problem_id, sample_idx)) WITHOUT ROWID;\n"
    "CREATE TABLE eval_claims (\n" // evaluations in progress (see db_claim_eval)
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id),\n"
    "  temperature REAL NOT NULL, top_p REAL NOT NULL, n_samples INTEGER NOT NULL,\n"
    "  max_new_tokens INTEGER NOT NULL, owner TEXT NOT NULL, heartbeat REAL NOT NULL,\n"
    "  PRIMARY KEY (run_id, temperature, top_p, n_samples, max_new_tokens)) WITHOUT ROWID;\n"
    "CREATE TABLE gold (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(run_id), problem_id INTEGER NOT NULL,\n"
    "  logprob REAL, n_tokens INTEGER,\n"
    "  PRIMARY KEY (run_id, problem_id)) WITHOUT ROWID;\n"
    "CREATE TABLE metrics (\n"
    "  eval_id INTEGER NOT NULL REFERENCES evals(eval_id) ON DELETE CASCADE,\n"
    "  metric TEXT NOT NULL CHECK (metric IN ('pass','maj','pass_analytic')),\n"
    "  k INTEGER NOT NULL, value REAL,\n"
    "  PRIMARY KEY (eval_id, metric, k)) WITHOUT ROWID;\n"
    "CREATE TABLE fits (\n"
    "  fit_id INTEGER PRIMARY KEY, law TEXT NOT NULL, params_json TEXT NOT NULL, ci_json TEXT,\n"
    "  n_points INTEGER, objective REAL, converged INTEGER, source TEXT, options_json TEXT,\n"
    "  created_at TEXT);\n";

// Version 2: the held-out loss on answer tokens and EOS (docs/SPEC.md §4), what the loss laws fit
// by default. Runs finished before it have NULL there.
static const char SCHEMA_V2[] = "ALTER TABLE runs ADD COLUMN answer_loss REAL;\n";

static const char *const MIGRATIONS[] = {SCHEMA_V1, SCHEMA_V2};
_Static_assert(sizeof MIGRATIONS / sizeof MIGRATIONS[0] == DB_SCHEMA_VERSION,
               "one migration step per schema version");

// ---------------------------------------------------------------------------------------------
// Shared helpers.

int db_quick_check(Db *db) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->h, "PRAGMA quick_check", -1, &st, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    const char *res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int result = res && strcmp(res, "ok") == 0 ? 0 : 1;
    char found[512];
    // The first problem, without the "*** in database main ***" heading.
    const char *first = res && strncmp(res, "*** in database", 15) == 0 && strchr(res, '\n') ? strchr(res, '\n') + 1 : res;
    snprintf(found, sizeof found, "%s", first ? first : sqlite3_errstr(rc & 0xff));
    found[strcspn(found, "\n")] = '\0';
    sqlite3_finalize(st);
    if (result) err_set("%s: the database is damaged (PRAGMA quick_check: %s); restore it from a copy", db->path, found);
    return result;
}

// SQLITE_CORRUPT and SQLITE_NOTADB in the middle of an operation: say that the file is damaged,
// with what quick_check finds, rather than only what the failed statement saw.
static int damaged(Db *db, const char *op, int rc, const char *msg) {
    if ((rc & 0xff) != SQLITE_CORRUPT && (rc & 0xff) != SQLITE_NOTADB) return 0;
    char what[256];
    snprintf(what, sizeof what, "%s", msg);
    if (db_quick_check(db) == 0) // the damage is where the statement read, not in the structure
        err_set("%s: the database is damaged (%s: %s); restore it from a copy", db->path, op, what);
    return 1;
}

int db_fail(Db *db, const char *op) {
    if (damaged(db, op, sqlite3_errcode(db->h), sqlite3_errmsg(db->h))) return -1;
    err_set("%s: %s: %s", db->path, op, sqlite3_errmsg(db->h));
    return -1;
}

int db_fail_rc(Db *db, const char *op, int rc) {
    // The connection's message is more specific when it belongs to this failure.
    const char *msg = sqlite3_errcode(db->h) == rc ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc);
    if (damaged(db, op, rc, msg)) return -1;
    err_set("%s: %s: %s", db->path, op, msg);
    return -1;
}

int db_exec(Db *db, const char *sql, const char *op) {
    char *msg = NULL;
    int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        err_set("%s: %s: %s", db->path, op, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int db_begin(Db *db, const char *op) { return db_exec(db, "BEGIN IMMEDIATE", op); }

int db_commit(Db *db, const char *op) {
    if (db_exec(db, "COMMIT", op) == 0) return 0;
    db_rollback(db);
    return -1;
}

void db_rollback(Db *db) {
    // A failed statement may already have rolled the transaction back; ROLLBACK then reports
    // "no transaction is active", which is not the error worth keeping.
    if (!sqlite3_get_autocommit(db->h)) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *db_prepare(Db *db, const char *sql, const char *op) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, op);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

sqlite3_stmt *db_cached(Db *db, int slot, const char *sql, const char *op) {
    if (!db->cache[slot]) {
        // Persistent: the statement lives as long as the handle.
        if (sqlite3_prepare_v3(db->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &db->cache[slot], NULL) !=
            SQLITE_OK) {
            db_fail(db, op);
            sqlite3_finalize(db->cache[slot]);
            db->cache[slot] = NULL;
            return NULL;
        }
        return db->cache[slot];
    }
    sqlite3_stmt *st = db->cache[slot];
    sqlite3_reset(st); // its result belongs to the previous use, already reported
    sqlite3_clear_bindings(st);
    return st;
}

int db_step_done(Db *db, sqlite3_stmt *st, const char *op) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        db_fail_rc(db, op, rc);
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

char *col_text_dup(sqlite3_stmt *st, int i) {
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? xstrdup((const char *)s) : NULL;
}

double col_real(sqlite3_stmt *st, int i) {
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

int db_query_int(Db *db, const char *sql, long long *out, const char *op) {
    sqlite3_stmt *st = db_prepare(db, sql, op);
    if (!st) return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            err_set("%s: %s: no result", db->path, op);
        else
            db_fail_rc(db, op, rc);
        sqlite3_finalize(st);
        return -1;
    }
    *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// What a file is, read without changing it.

typedef struct {
    long long app_id;
    long long version;
    long long n_tables; // user tables (not sqlite_*)
} DbKind;

// One statement, so one read transaction: another process creating the schema at the same time
// is seen either before or after its commit, never half-way.
static int inspect(Db *db, DbKind *k) {
    const char *op = "read header";
    sqlite3_stmt *st = db_prepare(db,
                                  "SELECT (SELECT application_id FROM pragma_application_id), "
                                  "(SELECT user_version FROM pragma_user_version), "
                                  "(SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                  "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\')",
                                  op);
    int rc = st ? sqlite3_step(st) : sqlite3_errcode(db->h);
    if (rc == SQLITE_ROW) {
        k->app_id = sqlite3_column_int64(st, 0);
        k->version = sqlite3_column_int64(st, 1);
        k->n_tables = sqlite3_column_int64(st, 2);
    } else if (rc == SQLITE_NOTADB) {
        err_set("%s: not an SQLite database; refusing to use it (the file was not modified)", db->path);
    } else if (st) {
        db_fail_rc(db, op, rc);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int is_empty(const DbKind *k) { return k->app_id == 0 && k->version == 0 && k->n_tables == 0; }

// Can a t2 of this schema use the file? 0 yes (possibly after migration), -1 + err no.
static int check_kind(const Db *db, const DbKind *k) {
    if (is_empty(k)) return 0;
    if (k->app_id != DB_APPLICATION_ID) {
        err_set("%s: not a t2 results database (an SQLite database with %lld other table%s); "
                "refusing to modify it",
                db->path, k->n_tables, k->n_tables == 1 ? "" : "s");
        return -1;
    }
    if (k->version > DB_SCHEMA_VERSION) {
        err_set("%s: t2 database of schema version %lld, newer than this t2 understands (%d); "
                "use a newer t2 (the file was not modified)",
                db->path, k->version, DB_SCHEMA_VERSION);
        return -1;
    }
    if (k->version < 1) {
        err_set("%s: t2 application id but schema version %lld: damaged header; refusing to modify it",
                db->path, k->version);
        return -1;
    }
    return 0;
}

// The schema DB_SCHEMA_VERSION promises: every table and column of an empty database migrated
// to it. A t2 database whose tables were dropped or altered by hand is refused on open, before a
// sweep counts runs in it or a report reads it.
static int check_schema(Db *db) {
    sqlite3 *ref = NULL;
    int rc = sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL);
    for (int v = 0; rc == SQLITE_OK && v < DB_SCHEMA_VERSION; v++) rc = sqlite3_exec(ref, MIGRATIONS[v], NULL, NULL, NULL);
    sqlite3_stmt *want = NULL, *have = NULL;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(ref,
                                "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c "
                                "WHERE m.type = 'table' ORDER BY m.name, c.cid",
                                -1, &want, NULL);
    if (rc != SQLITE_OK) {
        err_set("%s: check schema: %s", db->path, ref ? sqlite3_errmsg(ref) : sqlite3_errstr(rc));
        sqlite3_close(ref);
        return -1;
    }
    have = db_prepare(db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", "check schema");
    int result = have ? 0 : -1;
    while (result == 0 && (rc = sqlite3_step(want)) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(want, 0), *column = (const char *)sqlite3_column_text(want, 1);
        sqlite3_reset(have);
        Bind b = bind_start(have);
        bind_text(&b, table);
        bind_text(&b, column);
        int step = b.rc != SQLITE_OK ? b.rc : sqlite3_step(have);
        if (step != SQLITE_ROW) {
            result = db_fail_rc(db, "check schema", step);
        } else if (sqlite3_column_int(have, 0) == 0) {
            long long n_cols = 0;
            char *sql = sqlite3_mprintf("SELECT count(*) FROM pragma_table_info(%Q)", table);
            db_query_int(db, sql, &n_cols, "check schema");
            sqlite3_free(sql);
            if (n_cols == 0)
                err_set("%s: damaged t2 database: table '%s' is missing (schema version %d has it); restore the "
                        "database from a copy", db->path, table, DB_SCHEMA_VERSION);
            else
                err_set("%s: damaged t2 database: table '%s' lacks column '%s' (schema version %d has it); restore "
                        "the database from a copy", db->path, table, column, DB_SCHEMA_VERSION);
            result = -1;
        }
    }
    if (result == 0 && rc != SQLITE_DONE) {
        err_set("%s: check schema: %s", db->path, sqlite3_errmsg(ref));
        result = -1;
    }
    sqlite3_finalize(want);
    sqlite3_finalize(have);
    sqlite3_close(ref);
    return result;
}

// ---------------------------------------------------------------------------------------------
// Opening.

static Db *db_new(const char *path) {
    Db *db = xcalloc(1, sizeof *db);
    db->path = xstrdup(path);
    db->stale_after = DB_STALE_AFTER_S;
    return db;
}

void db_close(Db *db) {
    if (!db) return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(db->cache[i]);
    // Every statement is finalized by now, so close cannot be busy; a failure here means a
    // leaked statement, a bug worth seeing.
    if (db->h && sqlite3_close(db->h) != SQLITE_OK)
        fprintf(stderr, "t2: %s: close: %s\n", db->path, sqlite3_errmsg(db->h));
    free(db->path);
    free(db);
}

// URI filenames are enabled (merge ATTACHes its inputs read-only by URI), so a path that
// happens to start with "file:" is passed as "./file:..." to keep it a plain path.
static char *plain_filename(const char *path) {
    return strncmp(path, "file:", 5) == 0 ? xasprintf("./%s", path) : xstrdup(path);
}

// Open NAME (a plain file name or a file: URI) as the database at db->path.
static int open_as(Db *db, const char *name, int flags) {
    int rc = sqlite3_open_v2(name, &db->h, flags | SQLITE_OPEN_URI, NULL);
    if (rc != SQLITE_OK) {
        err_set("%s: cannot open database: %s", db->path, db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        return -1;
    }
    if (sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS) != SQLITE_OK) return db_fail(db, "set busy timeout");
    return 0;
}

static int connect(Db *db, int flags) {
    char *name = plain_filename(db->path);
    int rc = open_as(db, name, flags);
    free(name);
    return rc;
}

static int writable_dir_of(const char *path) {
    char *dir = path_dir(path);
    int ok = access(dir, W_OK) == 0;
    free(dir);
    return ok;
}

char *db_readonly_uri(const char *path) {
    // A reader of a WAL database needs PATH-shm. In a directory it cannot write, and with no
    // -wal file (a cleanly closed database: every commit is in the main file), the file can be
    // read as immutable; a -wal file holding commits cannot be read without its -shm.
    const char *mode = "mode=ro";
    if (!writable_dir_of(path)) {
        char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
        struct stat st;
        int has_wal = stat(wal, &st) == 0 && st.st_size > 0, has_shm = access(shm, R_OK) == 0;
        free(wal);
        free(shm);
        if (has_wal && !has_shm) {
            err_set("%s: its directory is read-only and it has a write-ahead log (%s-wal) but no %s-shm, which "
                    "SQLite must create to read it: copy the database with its -wal file to a writable directory",
                    path, path, path);
            return NULL;
        }
        if (!has_wal) mode = "immutable=1";
    }
    size_t n = strlen(path);
    char *uri = xmalloc(3 * n + 32), *p = uri;
    p += sprintf(p, "file:");
    for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
        int plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                    strchr("/._-~", *s);
        p += plain ? sprintf(p, "%c", *s) : sprintf(p, "%%%02X", *s);
    }
    sprintf(p, "?%s", mode);
    return uri;
}

// A read-only connection, also in a directory this process cannot write (db_readonly_uri).
static int connect_readonly(Db *db) {
    char *uri = db_readonly_uri(db->path);
    if (!uri) return -1;
    int rc = open_as(db, uri, SQLITE_OPEN_READONLY);
    free(uri);
    return rc;
}

// Look at an existing file through a read-only connection, which never writes, not even a WAL
// checkpoint, so a refused file stays byte-identical.
static int inspect_existing(const char *path, DbKind *k) {
    Db *probe = db_new(path);
    int rc = connect_readonly(probe);
    if (rc == 0) rc = inspect(probe, k);
    if (rc == 0) rc = check_kind(probe, k);
    db_close(probe);
    return rc;
}

// Switch to WAL. On a new file several processes may race to do it (concurrent sweeps); the
// switch needs an exclusive lock and SQLite returns SQLITE_BUSY without calling the busy handler,
// so wait here the same way (every 5 ms, up to the busy timeout).
static int set_wal(Db *db) {
    const char *op = "set WAL mode";
    double deadline = now_s() + DB_BUSY_TIMEOUT_MS / 1000.0;
    for (;;) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
        int ok = mode && strcmp(mode, "wal") == 0;
        if (!ok && mode)
            err_set("%s: %s: the database stays in '%s' mode", db->path, op, mode);
        else if (!ok && (rc != SQLITE_BUSY || now_s() >= deadline))
            db_fail_rc(db, op, rc);
        sqlite3_finalize(st);
        if (ok) return 0;
        if (rc != SQLITE_BUSY || now_s() >= deadline) return -1;
        usleep(5000);
    }
}

// ---------------------------------------------------------------------------------------------
// meta

// Inside the caller's transaction.
static int put_meta(Db *db, const char *key, const char *value) {
    sqlite3_stmt *st = db_prepare(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", "set meta");
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_text(&b, key);
    bind_text(&b, value);
    int rc = b.rc != SQLITE_OK ? db_fail_rc(db, "set meta", b.rc) : db_step_done(db, st, "set meta");
    sqlite3_finalize(st);
    return rc;
}

int db_set_meta(Db *db, const char *key, const char *value) {
    if (db_begin(db, "set meta") != 0) return -1;
    if (put_meta(db, key, value) != 0) {
        db_rollback(db);
        return -1;
    }
    return db_commit(db, "set meta");
}

int db_get_meta(Db *db, const char *key, char **value) {
    *value = NULL;
    sqlite3_stmt *st = db_prepare(db, "SELECT value FROM meta WHERE key = ?", "read meta");
    if (!st) return -1;
    Bind b = bind_start(st);
    bind_text(&b, key);
    int rc = b.rc != SQLITE_OK ? b.rc : sqlite3_step(st);
    int result = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : db_fail_rc(db, "read meta", rc);
    if (result == 0) *value = col_text_dup(st, 0);
    sqlite3_finalize(st);
    return result;
}

// ---------------------------------------------------------------------------------------------
// Creating, migrating, opening.

static int write_meta_defaults(Db *db, long long from_version) {
    char now[32], ver[16];
    iso_time_utc(now);
    snprintf(ver, sizeof ver, "%d", DB_SCHEMA_VERSION);
    char *by = xasprintf("t2 %s (git %s)", t2_version(), t2_git_sha());
    int rc = 0;
    if (from_version == 0) {
        rc = put_meta(db, "application", "t2");
        if (rc == 0) rc = put_meta(db, "created_by", by);
        if (rc == 0) rc = put_meta(db, "created_at", now);
    } else {
        rc = put_meta(db, "migrated_by", by);
        if (rc == 0) rc = put_meta(db, "migrated_at", now);
    }
    if (rc == 0) rc = put_meta(db, "schema_version", ver);
    free(by);
    return rc;
}

// Create or migrate inside one write transaction. The file is inspected again under the lock:
// another process may have created the schema since we looked.
static int migrate(Db *db) {
    if (db_begin(db, "migrate schema") != 0) return -1;
    DbKind k;
    if (inspect(db, &k) != 0 || check_kind(db, &k) != 0) goto fail;
    if (k.version == DB_SCHEMA_VERSION) {
        db_rollback(db); // nothing to do
        return 0;
    }
    for (long long v = k.version; v < DB_SCHEMA_VERSION; v++) {
        char op[64];
        snprintf(op, sizeof op, "migrate schema %lld -> %lld", v, v + 1);
        if (db_exec(db, MIGRATIONS[v], op) != 0) goto fail;
    }
    char *set = xasprintf("PRAGMA application_id = %d; PRAGMA user_version = %d", DB_APPLICATION_ID,
                          DB_SCHEMA_VERSION);
    int rc = db_exec(db, set, "set schema version");
    free(set);
    if (rc != 0 || write_meta_defaults(db, k.version) != 0) goto fail;
    return db_commit(db, "migrate schema");
fail:
    db_rollback(db);
    return -1;
}

int db_open(Db **out, const char *path) {
    *out = NULL;
    if (!path || !*path) {
        err_set("database path is empty");
        return -1;
    }
    DbKind k = {0};
    if (file_exists(path)) {
        if (inspect_existing(path, &k) != 0) return -1;
        if (access(path, W_OK) != 0 || !writable_dir_of(path)) {
            err_set("%s: cannot write to the database%s (%s)", path,
                    access(path, W_OK) != 0 ? "" : ": its directory is read-only, and SQLite writes its journal there",
                    strerror(errno));
            return -1;
        }
    } else if (make_dirs(path, 0) != 0) {
        return -1;
    }
    Db *db = db_new(path);
    if (connect(db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) != 0) goto fail;
    // WAL: readers never block the writer and a killed writer leaves a valid database.
    // synchronous=NORMAL is safe in WAL (a power cut may lose the last commits, never corrupt),
    // and keeps commits free of fsync so logging stays out of a training profile.
    if (set_wal(db) != 0) goto fail;
    if (db_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", "set pragmas") != 0) goto fail;
    if (k.version != DB_SCHEMA_VERSION && migrate(db) != 0) goto fail;
    if (check_schema(db) != 0) goto fail;
    *out = db;
    return 0;
fail:
    db_close(db);
    return -1;
}

int db_open_readonly(Db **out, const char *path) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        err_set("%s: cannot open database: %s", path, strerror(errno));
        return -1;
    }
    Db *db = db_new(path);
    db->readonly = 1;
    DbKind k;
    if (connect_readonly(db) != 0 || inspect(db, &k) != 0 || check_kind(db, &k) != 0) goto fail;
    if (is_empty(&k)) {
        err_set("%s: not a t2 results database (empty)", path);
        goto fail;
    }
    if (k.version != DB_SCHEMA_VERSION) {
        err_set("%s: schema version %lld is older than this t2's (%d); open it once for writing "
                "(e.g. t2 eval) to migrate it",
                path, k.version, DB_SCHEMA_VERSION);
        goto fail;
    }
    if (check_schema(db) != 0) goto fail;
    *out = db;
    return 0;
fail:
    db_close(db);
    return -1;
}

const char *db_path(const Db *db) { return db->path; }
int db_is_readonly(const Db *db) { return db->readonly; }

char *checkpoint_ref_from(const char *db_file, const char *path) {
    char *dir = path_dir(db_file), *rel = path_inside(dir, path);
    free(dir);
    return rel ? rel : path_absolute(path);
}

char *checkpoint_resolve_from(const char *db_file, const char *stored) {
    char *dir = path_dir(db_file), *path = path_join(dir, stored);
    free(dir);
    if (stored[0] != '/' && !file_exists(path) && file_exists(stored)) {
        free(path);
        return xstrdup(stored);
    }
    return path;
}

char *db_checkpoint_ref(const Db *db, const char *path) { return checkpoint_ref_from(db->path, path); }
char *db_checkpoint_resolve(const Db *db, const char *stored) { return checkpoint_resolve_from(db->path, stored); }
int db_set_busy_timeout(Db *db, int ms) {
    return sqlite3_busy_timeout(db->h, ms) == SQLITE_OK ? 0 : db_fail(db, "set busy timeout");
}
void db_set_stale_after(Db *db, double seconds) { db->stale_after = seconds; }
