// db_spec.c — a database and the spec it holds: open (creating) the database of a spec with its
// sweep and grid of runs, and read back the spec a database was created from (its sweeps row).
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "db/db_impl.h"
#include "spec/spec.h"

int spec_from_db(Db *db, Spec *s) {
    memset(s, 0, sizeof *s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db_sqlite(db), "SELECT name, spec_json, spec_hash FROM sweeps ORDER BY name", -1, &st, NULL) !=
        SQLITE_OK) {
        return db_fail(db, "read sweeps");
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            err_set("%s: no sweep recorded in this database (run t2 sweep first)", db_path(db));
        else
            db_fail_rc(db, "read sweeps", rc);
        sqlite3_finalize(st);
        return -1;
    }
    const char *name = (const char *)sqlite3_column_text(st, 0), *text = (const char *)sqlite3_column_text(st, 1),
               *hash = (const char *)sqlite3_column_text(st, 2);
    char want[17];
    hex64(fnv1a64(text ? text : "", text ? strlen(text) : 0), want);
    if (!name || !text || !hash || strcmp(want, hash) != 0) {
        // t2 stores the spec with the hash of its text: a mismatch is damage, not a bad spec.
        char *sweep = xstrdup(name ? name : "?");
        sqlite3_finalize(st);
        if (db_quick_check(db) == 0)
            err_set("%s: the database is damaged: the spec stored for sweep '%s' does not match its recorded hash "
                    "(PRAGMA quick_check finds the file's structure intact); restore it from a copy",
                    db_path(db), sweep);
        free(sweep);
        return -1;
    }
    char *where = xasprintf("%s (sweep %s)", db_path(db), name);
    char *json = xstrdup(text);
    sqlite3_finalize(st);
    rc = spec_parse(s, json, where);
    free(json);
    free(where);
    return rc;
}

char *default_db_path(const Spec *s) { return xasprintf("results/%s.db", s->name); }

char *db_checkpoint_dir(const char *db_path) {
    size_t n = strlen(db_path);
    const char *base = strrchr(db_path, '/');
    base = base ? base + 1 : db_path;
    size_t base_len = strlen(base);
    if (base_len > 3 && strcmp(base + base_len - 3, ".db") == 0) return xasprintf("%.*s", (int)(n - 3), db_path);
    return xasprintf("%s.ckpt", db_path);
}

// Open the database of a spec and make sure it holds the spec's sweep and grid.
int open_spec_db(Db **db, const Spec *s, const char *path) {
    if (db_open(db, path) != 0) return -1;
    DbRunRow *rows = xcalloc((size_t)s->n_runs, sizeof *rows);
    char **jsons = xcalloc((size_t)s->n_runs, sizeof(char *));
    char (*hashes)[17] = xcalloc((size_t)s->n_runs, 17);
    for (int i = 0; i < s->n_runs; i++) {
        jsons[i] = run_config_json(s, &s->runs[i]);
        db_run_row_from_spec(&rows[i], s, &s->runs[i], jsons[i], hashes[i]);
    }
    int rc = db_register_sweep(*db, s->name, s->json, s->hash);
    if (rc == 0) rc = db_insert_runs(*db, rows, (size_t)s->n_runs, NULL);
    for (int i = 0; i < s->n_runs; i++) free(jsons[i]);
    free(jsons);
    free(hashes);
    free(rows);
    if (rc != 0) {
        db_close(*db);
        *db = NULL;
    }
    return rc;
}
