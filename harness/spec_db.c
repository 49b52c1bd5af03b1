// spec_db.c — the spec a database was created from (its sweeps row), parsed again.
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "spec.h"

int spec_from_db(Db *db, Spec *s) {
    memset(s, 0, sizeof *s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db_sqlite(db), "SELECT name, spec_json FROM sweeps ORDER BY name", -1, &st, NULL) != SQLITE_OK) {
        err_set("%s: read sweeps: %s", db_path(db), sqlite3_errmsg(db_sqlite(db)));
        return -1;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            err_set("%s: no sweep recorded in this database (run t2 sweep first)", db_path(db));
        else
            err_set("%s: read sweeps: %s", db_path(db), sqlite3_errmsg(db_sqlite(db)));
        sqlite3_finalize(st);
        return -1;
    }
    char *where = xasprintf("%s (sweep %s)", db_path(db), (const char *)sqlite3_column_text(st, 0));
    char *json = xstrdup((const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    rc = spec_parse(s, json, where);
    free(json);
    free(where);
    return rc;
}
