// db_impl.h — what the db*.c files share: the handle, error reporting, transactions, prepared
// statement cache and parameter binding. Not for use outside harness/db*.c.
#ifndef T2_DB_IMPL_H
#define T2_DB_IMPL_H

#include <math.h>
#include <sqlite3.h>

#include "db/db.h"
#include "util/util.h"

// Statements run often enough (per log batch, per heartbeat) to keep prepared for the handle's life.
enum { STMT_LOG_TRAIN, STMT_HEARTBEAT, STMT_COUNT };

struct Db {
    sqlite3 *h;
    char *path;
    double stale_after;              // seconds without a heartbeat before a claim goes stale
    sqlite3_stmt *cache[STMT_COUNT]; // lazily prepared, finalized by db_close
    int readonly;                    // opened by db_open_readonly
};

// file: URI to read PATH without writing it: mode=ro, or immutable=1 in a directory this process
// cannot write when no write-ahead log holds commits (SQLite could not create PATH-shm there).
// NULL + err_set when it cannot be read at all.
char *db_readonly_uri(const char *path);

// err_set("PATH: OP: sqlite message") and return -1.
int db_fail(Db *db, const char *op);
// Same with an explicit result code (bind errors do not always reach sqlite3_errmsg).
int db_fail_rc(Db *db, const char *op, int rc);

// Transactions. db_begin takes the write lock at once (BEGIN IMMEDIATE), so a writer waits for
// another writer at the start instead of failing half-way with SQLITE_BUSY. db_rollback keeps
// the current error message.
int db_begin(Db *db, const char *op);
int db_commit(Db *db, const char *op);
void db_rollback(Db *db);

// Run SQL without results (several statements allowed); -1 + err naming OP on failure.
int db_exec(Db *db, const char *sql, const char *op);
// Prepare one statement; NULL + err on failure. Caller finalizes.
sqlite3_stmt *db_prepare(Db *db, const char *sql, const char *op);
// A statement from the handle's cache (reset, bindings cleared); do not finalize it.
sqlite3_stmt *db_cached(Db *db, int slot, const char *sql, const char *op);
// Step a statement that returns no rows, then reset it; -1 + err on failure.
int db_step_done(Db *db, sqlite3_stmt *st, const char *op);

// Sequential parameter binding: the first error sticks in rc and later binds are skipped.
//   Bind b = bind_start(st); bind_int(&b, id); bind_text(&b, name); if (b.rc) ...
typedef struct {
    sqlite3_stmt *st;
    int i;
    int rc;
} Bind;

static inline Bind bind_start(sqlite3_stmt *st) { return (Bind){st, 0, SQLITE_OK}; }
static inline void bind_int(Bind *b, sqlite3_int64 v) {
    if (b->rc == SQLITE_OK) b->rc = sqlite3_bind_int64(b->st, ++b->i, v);
}
// Non-finite values are stored as NULL (SQLite has no NaN).
static inline void bind_real(Bind *b, double v) {
    if (b->rc != SQLITE_OK) return;
    ++b->i;
    b->rc = isfinite(v) ? sqlite3_bind_double(b->st, b->i, v) : sqlite3_bind_null(b->st, b->i);
}
// NULL pointer -> NULL value. SQLITE_TRANSIENT: the caller's string may change after the call.
static inline void bind_text(Bind *b, const char *s) {
    if (b->rc != SQLITE_OK) return;
    ++b->i;
    b->rc = s ? sqlite3_bind_text(b->st, b->i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(b->st, b->i);
}

// Column readers: a NULL text is NULL (heap copy otherwise), a NULL real is NAN.
char *col_text_dup(sqlite3_stmt *st, int i);
double col_real(sqlite3_stmt *st, int i);

// Is a claim held by OWNER with this heartbeat abandoned? Yes when there is no owner or heartbeat,
// when the heartbeat is older than db->stale_after, or when OWNER is a dead pid on this host.
int db_claim_is_stale(const Db *db, const char *owner, int has_heartbeat, double heartbeat);

// db_checkpoint_ref / db_checkpoint_resolve for a database file that need not be open (merge).
char *checkpoint_ref_from(const char *db_file, const char *path);
char *checkpoint_resolve_from(const char *db_file, const char *stored);

// Every row of SQL (one integer parameter) into a heap array of ELEM-byte rows filled by READ.
// On error the rows read so far are released with RELEASE (may be NULL) and the array freed.
typedef void (*DbRowRead)(sqlite3_stmt *st, void *row);
typedef void (*DbRowsRelease)(void *rows, size_t n);
int db_read_rows(Db *db, const char *sql, sqlite3_int64 param, size_t elem, DbRowRead read, DbRowsRelease release,
                 void **out, size_t *n, const char *op);

// Read-only query of one integer (e.g. "SELECT count(*) ..."); -1 + err on failure.
int db_query_int(Db *db, const char *sql, long long *out, const char *op);

#endif
