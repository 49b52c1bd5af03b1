// db_spec.c — a database and the spec it holds: open (creating) the database of a spec with its
// sweep and grid of runs, and read back the spec a database was created from (its sweeps row).
#include <stdlib.h>
#include <string.h>

#include "db/db_impl.h"
#include "spec/spec.h"

int spec_from_db(Db *db, Spec *s) {
    memset(s, 0, sizeof *s);
    char *name, *json;
    int rc = db_get_sweep(db, &name, &json);
    if (rc != 0) {
        if (rc == 1) err_set("%s: no sweep recorded in this database (run t2 sweep first)", db_path(db));
        return -1;
    }
    char *where = xasprintf("%s (sweep %s)", db_path(db), name);
    rc = spec_parse(s, json ? json : "", where);
    free(json);
    free(name);
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
