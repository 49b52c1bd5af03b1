// analysis_fits.c — fits in the results database: store a FitResult as a `fits` row, find the latest
// converged one for the current data, or fit now.
//
// A row's params_json and ci_json are the docs/SPEC.md §6 "params" and "ci" objects. options_json holds
// what is needed to use the fit later without refitting:
//   {"bootstrap": B, "seed": S, "n_starts": n, "data_hash": "16 hex", "data": {"runs": n,
//    "description": "...", "dropped": "..."}, "fit": {the whole t2 fit --json object},
//    "resamples": [[params in "params" order], ...]}   (the converged bootstrap refits)
// Fits that did not converge are stored too, with converged = 0, so the attempt is on record;
// every reader here (optimize, plot, report) uses converged fits only.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/analysis.h"
#include "util/json.h"
#include "util/util.h"

static cJSON *resamples_cjson(const FitResult *r) {
    cJSON *rows = cJSON_CreateArray();
    size_t width = r->n_params + r->n_alloc;
    for (long b = 0; r->boot && b < r->n_boot_used; b++) {
        cJSON *row = cJSON_CreateArray();
        for (size_t j = 0; j < width; j++) cJSON_AddItemToArray(row, fit_json_number(r->boot[(size_t)b * width + j]));
        cJSON_AddItemToArray(rows, row);
    }
    return rows;
}

static char *options_json(const FitResult *r, const FitOptions *o, uint64_t data_hash, const AnFitNote *note) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "bootstrap", (double)o->bootstrap);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    if (r->law == FIT_T2_LOSS) cJSON_AddNumberToObject(j, "n_starts", o->n_starts);
    char hex[17];
    hex64(data_hash, hex);
    cJSON_AddStringToObject(j, "data_hash", hex);
    cJSON *data = cJSON_AddObjectToObject(j, "data");
    cJSON_AddNumberToObject(data, "runs", (double)note->n_runs);
    cJSON_AddStringToObject(data, "description", note->text);
    if (note->n_dropped) cJSON_AddStringToObject(data, "dropped", note->dropped);
    cJSON_AddItemToObject(j, "fit", fit_result_cjson(r));
    if (r->boot && r->n_boot_used > 0) cJSON_AddItemToObject(j, "resamples", resamples_cjson(r));
    return json_text_free(j);
}

static char *member_json(const cJSON *obj, const char *name) {
    cJSON *m = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(obj, name), 1);
    return m ? json_text_free(m) : NULL;
}

int fitdb_store(Db *db, const FitResult *r, const FitOptions *o, uint64_t data_hash, const AnFitNote *note,
                long *fit_id) {
    cJSON *whole = fit_result_cjson(r);
    char *params = member_json(whole, "params"), *ci = member_json(whole, "ci");
    cJSON_Delete(whole);
    char *opts = options_json(r, o, data_hash, note);
    DbFit f = {.law = fit_law_name(r->law),
               .params_json = params,
               .ci_json = ci,
               .n_points = (long)r->n_points,
               .objective = r->objective,
               .converged = r->converged,
               .source = "db",
               .options_json = opts};
    long id = 0;
    int rc = db_insert_fit(db, &f, &id);
    if (fit_id) *fit_id = id;
    free(params);
    free(ci);
    free(opts);
    return rc;
}

// The bootstrap estimates of a stored fit: FitResult.boot rows of its parameters then its
// allocation quantities (the layout fit_run leaves). Rows of another width are skipped.
static void read_resamples(const cJSON *rows, FitResult *r) {
    int n = cJSON_GetArraySize(rows);
    size_t width = r->n_params + r->n_alloc;
    if (n <= 0 || width == 0) return;
    r->boot = xmalloc((size_t)n * width * sizeof(double));
    long used = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        if (cJSON_GetArraySize(row) != (int)width) continue;
        for (size_t j = 0; j < width; j++) {
            const cJSON *v = cJSON_GetArrayItem(row, (int)j);
            r->boot[(size_t)used * width + j] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        }
        used++;
    }
    r->n_boot_used = used;
}

// Rebuild a result from a row's options_json; 0 when it is usable (made on DATA_HASH, converged,
// at least MIN_BOOT resamples asked for), 1 when not.
static int row_result(const char *options, uint64_t data_hash, long min_boot, FitResult *out) {
    cJSON *o = options ? cJSON_Parse(options) : NULL;
    if (!o) return 1;
    int rc = 1;
    char hex[17];
    hex64(data_hash, hex);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "data_hash");
    const cJSON *fit = cJSON_GetObjectItemCaseSensitive(o, "fit");
    if (cJSON_IsString(h) && strcmp(h->valuestring, hex) == 0 && cJSON_IsObject(fit)) {
        char *text = json_text(fit);
        if (fit_result_from_json(text, out) == 0 && out->converged) {
            read_resamples(cJSON_GetObjectItemCaseSensitive(o, "resamples"), out);
            const cJSON *boot = cJSON_GetObjectItemCaseSensitive(fit, "bootstrap");
            const cJSON *asked = cJSON_GetObjectItemCaseSensitive(boot, "resamples");
            out->n_boot = cJSON_IsNumber(asked) ? (long)asked->valuedouble : out->n_boot_used;
            rc = out->n_boot < min_boot;
            if (rc) fit_result_free(out);
        } else {
            fit_result_free(out);
        }
        free(text);
    }
    cJSON_Delete(o);
    return rc;
}

typedef struct {
    uint64_t data_hash;
    long min_boot;
    FitResult *out;
    long fit_id;
} LatestFit;

static int visit_fit(void *ctx, const DbFit *f) {
    LatestFit *l = ctx;
    if (row_result(f->options_json, l->data_hash, l->min_boot, l->out) != 0) return 1;
    l->fit_id = f->fit_id;
    return 0;
}

int fitdb_latest(Db *db, FitLaw law, uint64_t data_hash, long min_boot, FitResult *out, long *fit_id) {
    memset(out, 0, sizeof *out);
    LatestFit l = {data_hash, min_boot, out, -1};
    int rc = db_find_fit(db, fit_law_name(law), "db", visit_fit, &l);
    if (rc == 0 && fit_id) *fit_id = l.fit_id;
    return rc;
}

int analysis_fit(Db *db, const Analysis *a, FitLaw law, const FitOptions *o, FitResult *out, long *fit_id,
                 int *fresh) {
    memset(out, 0, sizeof *out);
    *fresh = 0;
    FitData d;
    AnFitNote note;
    if (analysis_fit_data(a, law, &d, &note) != 0) return -1;
    uint64_t hash = fit_data_hash(law, &d);
    int rc = fitdb_latest(db, law, hash, o->bootstrap, out, fit_id);
    if (rc == 1) {
        *fresh = 1;
        rc = fit_run(law, &d, o, out);
        if (rc == 0) rc = fitdb_store(db, out, o, hash, &note, fit_id);
        if (rc != 0) fit_result_free(out);
    }
    fit_data_free(&d);
    return rc;
}
