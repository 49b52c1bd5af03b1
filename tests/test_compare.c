// test_compare.c — `t2 compare` on a results database built here with the db API: three models,
// two FLOP budgets, two seeds, 1,500 problems sampled 8 times, with per-problem success rates
// that make the T² pick (a small model sampling more) differ from the Chinchilla pick (the lowest
// loss). Checked:
//   - its difference equals a direct recomputation from the samples table (per seed, and pooled);
//   - its percentile interval is within a factor 1.5 of the normal-approximation paired interval
//     (large problem sets: 1,500 problems);
//   - the report's headline is built from significant comparisons only;
//   - a budget with a single model, or with no evaluated run, says so; bad options are refused;
//   - under the null (every model equally good at the k it is served), the cross-fitted
//     difference is centred on 0 and called significant about 5% of the time (per seed and
//     pooled over seeds), while the pick's in-sample pass shows the winner's curse that
//     cross-fitting removes;
//   - with a known non-zero difference, the per-seed and pooled intervals cover it about 95% of
//     the time;
//   - over seeds, each resample takes the Chinchilla pick again from the losses of its seeds.
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db/db.h"
#include "report/analysis.h"
#include "spec/spec.h"
#include "sweep/estimators.h"
#include "testutil.h"
#include "util/util.h"

#define P 1500
#define S 8

static const char SPEC_JSON[] =
    "{\"name\": \"ctest\",\n"
    " \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 1500, \"seed\": 3},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 16, \"n_head\": 2}, {\"n_layer\": 2, \"d_model\": 32, \"n_head\": 2},\n"
    "            {\"n_layer\": 2, \"d_model\": 64, \"n_head\": 4}],\n"
    " \"budgets\": {\"train_flops\": [1e11, 3e11]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 16, \"lr\": 3e-3, \"seeds\": [1, 2]},\n"
    " \"eval\": {\"n_samples\": 8, \"k\": [1, 2, 4, 8], \"max_new_tokens\": 6},\n"
    " \"analysis\": {\"c_inf\": [5e5]}}\n";

static char *dir, *cdb_path, *partial_db;

// Success probability of problem i for run R: the model's level (family 0 weakest) shifted by
// the problem's difficulty and the seed.
static double success(const DbRun *r, int i) {
    static const double level[3] = {0.30, 0.45, 0.55};
    double d = ((double)(i % 17) / 16.0 - 0.5) * 0.5;
    return fmin(0.98, fmax(0.02, level[r->family_idx] + 0.05 * r->budget_idx - d + 0.02 * r->seed_idx));
}

static void claim_done(Db *db, const DbRun *r, double loss) {
    char owner[300];
    db_owner_self(owner);
    DbClaim c;
    if (db_claim_run(db, r->run_id, owner, 1, NULL, 0, &c) != 0) fail_msg("%s", err_msg());
    db_claim_free(&c);
    // The Chinchilla pick's loss: answer_loss (the default loss variable) and val_loss alike.
    if (db_finish_run(db, r->run_id, owner, DB_RUN_DONE, loss + 0.01, loss, loss, 1.0, NULL) != 0)
        fail_msg("%s", err_msg());
}

// Samples drawn with the run's success rates (answers: "42" right, 41/43/44 wrong), gold, metrics.
static void write_eval(Db *db, const DbRun *r, uint64_t seed) {
    DbSample *ds = xcalloc(P * S, sizeof(DbSample));
    DbGold *gold = xcalloc(P, sizeof(DbGold));
    static const char *const wrong[3] = {"41", "43", "44"};
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < P; i++) {
        double p = success(r, i);
        gold[i] = (DbGold){i, log(p), 3};
        for (int j = 0; j < S; j++) {
            int ok = rng_uniform(&rng) < p;
            const char *ans = ok ? "42" : wrong[rng_below(&rng, 3)];
            ds[i * S + j] = (DbSample){i, j, (char *)ans, (char *)ans, ok, 3, -1.0};
        }
    }
    DbEval e = {.run_id = r->run_id,
                .key = {1.0, 1.0, S, 6},
                .infer_flops = 2.0 * (double)r->n_params * 3 * P * S,
                .infer_flops_2nk = 2.0 * (double)r->n_params * 3 * P * S,
                .gen_tokens = 3L * P * S,
                .n_problems = P,
                .wall_s = 0.1};
    DbMetric m[1] = {{"pass", 1, 0.5}};
    if (db_write_eval(db, &e, ds, P * S, gold, P, m, 1, NULL) != 0) fail_msg("%s", err_msg());
    free(ds);
    free(gold);
}

// The database with every run done and evaluated (or, PARTIAL, at the second budget only the
// smallest model, and nothing at the first budget).
static char *make_db(const char *name, int partial) {
    Spec s;
    if (spec_parse(&s, SPEC_JSON, "ctest.json") != 0) fail_msg("%s", err_msg());
    char *path = xasprintf("%s/%s", dir, name);
    Db *db;
    if (open_spec_db(&db, &s, path) != 0) fail_msg("%s", err_msg());
    DbRun *runs;
    size_t n;
    if (db_get_runs(db, &runs, &n) != 0) fail_msg("%s", err_msg());
    assert_int_equal(n, 12);
    for (size_t i = 0; i < n; i++) {
        const DbRun *r = &runs[i];
        if (partial && (r->budget_idx == 0 || r->family_idx != 0)) continue;
        // The largest model has the lowest loss (the Chinchilla pick); the smallest samples most.
        double loss = 2.0 - 0.2 * r->family_idx - 0.1 * r->budget_idx;
        claim_done(db, r, loss);
        write_eval(db, r, 100 + (uint64_t)r->run_id);
    }
    db_runs_free(runs, n);
    db_close(db);
    spec_free(&s);
    return path;
}

static int setup(void **state) {
    (void)state;
    dir = tmpdir_make("compare");
    cdb_path = make_db("c.db", 0);
    partial_db = make_db("partial.db", 1);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(cdb_path);
    free(partial_db);
    tmpdir_remove(dir);
    return 0;
}

static cJSON *compare_json(const char *path, const char *extra) {
    RunResult r = extra ? run_t2("compare", "--db", path, "--json", extra, NULL) : run_t2("compare", "--db", path, "--json", NULL);
    if (r.status != 0) fail_msg("t2 compare: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fail_msg("not JSON: %.200s", r.out);
    run_free(&r);
    return j;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("no number %s", key);
    return v->valuedouble;
}

// Per-problem sampled pass@k of RUN at K, straight from the samples table.
static void pass_from_samples(const char *path, int run, long k, double *out) {
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT s.problem_id, count(*), sum(s.correct) FROM samples s JOIN evals e "
                                        "USING (eval_id) WHERE e.run_id = ? GROUP BY s.problem_id ORDER BY s.problem_id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, run);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int p = sqlite3_column_int(st, 0);
        out[p] = pass_at_k(sqlite3_column_int(st, 1), sqlite3_column_int(st, 2), k);
        rows++;
    }
    assert_int_equal(rows, P);
    sqlite3_finalize(st);
    sqlite3_close(h);
}

// Run ids of a pick at each seed row (one, or the pooled seeds).
static int pick_run(const cJSON *pick, int s) {
    const cJSON *ids = cJSON_GetObjectItem(pick, "run_ids");
    return ids ? cJSON_GetArrayItem(ids, s)->valueint : (int)num(pick, "run_id");
}

// The difference of an entry recomputed from the samples: mean over seeds and problems, each
// problem scored with the T² pick made on the other half (fold_picks[1 - fold]).
static double recompute(const cJSON *e, double *sd) {
    const cJSON *c = cJSON_GetObjectItem(e, "chinchilla"), *folds = cJSON_GetObjectItem(e, "fold_picks");
    assert_int_equal(cJSON_GetArraySize(folds), 2);
    const cJSON *f0 = cJSON_GetArrayItem(folds, 0), *f1 = cJSON_GetArrayItem(folds, 1);
    const cJSON *cr = cJSON_GetObjectItem(c, "run_ids");
    int n = cr ? cJSON_GetArraySize(cr) : 1;
    double *a0 = xmalloc(P * sizeof(double)), *a1 = xmalloc(P * sizeof(double)), *b = xmalloc(P * sizeof(double));
    double sum = 0, sum2 = 0;
    for (int s = 0; s < n; s++) {
        pass_from_samples(cdb_path, pick_run(f0, s), (long)num(f0, "k"), a0);
        pass_from_samples(cdb_path, pick_run(f1, s), (long)num(f1, "k"), a1);
        pass_from_samples(cdb_path, pick_run(c, s), (long)num(c, "k"), b);
        for (int p = 0; p < P; p++) {
            double t = analysis_problem_fold(p) == 0 ? a1[p] : a0[p]; // picked on the other half
            sum += t - b[p], sum2 += (t - b[p]) * (t - b[p]);
        }
    }
    double m = sum / (n * P);
    *sd = sqrt(fmax(sum2 / (n * P) - m * m, 0));
    free(a0);
    free(a1);
    free(b);
    return m;
}

static void test_difference_recomputed(void **state) {
    (void)state;
    cJSON *j = compare_json(cdb_path, NULL);
    const cJSON *list = cJSON_GetObjectItem(j, "comparisons"), *e;
    assert_int_equal(cJSON_GetArraySize(list), 2 * 3); // 2 budgets x (2 seeds + pooled)
    int checked = 0, pooled = 0, distinct = 0;
    cJSON_ArrayForEach(e, list) {
        const cJSON *t = cJSON_GetObjectItem(e, "t2"), *c = cJSON_GetObjectItem(e, "chinchilla");
        assert_true(cJSON_IsObject(t) && cJSON_IsObject(c));
        double sd, want = recompute(e, &sd), got = num(e, "diff");
        if (fabs(got - want) > 1e-12) fail_msg("diff %.17g, recomputed from samples %.17g", got, want);
        // pass and maj of both picks, and the interval with its verdict.
        for (int side = 0; side < 2; side++) {
            const cJSON *pk = side ? c : t;
            double pass = num(pk, "pass"), maj = num(pk, "maj");
            assert_true(pass >= 0 && pass <= 1 && maj >= 0 && maj <= 1);
        }
        assert_true(fabs(num(t, "pass") - num(c, "pass") - got) < 1e-12);
        const cJSON *ci = cJSON_GetObjectItem(e, "ci95");
        double lo = cJSON_GetArrayItem(ci, 0)->valuedouble, hi = cJSON_GetArrayItem(ci, 1)->valuedouble;
        assert_true(lo <= got && got <= hi);
        assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(e, "significant")), lo > 0 || hi < 0);
        assert_true(num(e, "resamples") >= 1000);
        assert_int_equal((int)num(e, "n_problems"), P);
        pooled += cJSON_IsString(cJSON_GetObjectItem(e, "seed"));
        distinct += num(t, "n_params") != num(c, "n_params");
        checked++;
    }
    assert_int_equal(checked, 6);
    assert_int_equal(pooled, 2);
    assert_true(distinct >= 2); // the picks differ somewhere: the comparison is not vacuous
    cJSON_Delete(j);
}

// On 1,500 problems the bootstrap interval and the normal approximation diff ± 1.96 sd/√P agree
// within a factor 1.5 (per seed: problems alone are resampled).
static void test_interval_vs_normal(void **state) {
    (void)state;
    cJSON *j = compare_json(cdb_path, NULL);
    const cJSON *e;
    int compared = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "comparisons")) {
        if (cJSON_IsString(cJSON_GetObjectItem(e, "seed"))) continue;
        double sd, d = recompute(e, &sd);
        if (sd == 0) continue; // the same pick: nothing to compare
        const cJSON *ci = cJSON_GetObjectItem(e, "ci95");
        double lo = cJSON_GetArrayItem(ci, 0)->valuedouble, hi = cJSON_GetArrayItem(ci, 1)->valuedouble;
        double boot = hi - lo, normal = 2 * 1.959963984540054 * sd / sqrt((double)P);
        printf("diff %+.4f: bootstrap [%+.4f, %+.4f] width %.4f, normal width %.4f, ratio %.3f\n", d, lo, hi, boot,
               normal, boot / normal);
        if (!(boot / normal <= 1.5 && normal / boot <= 1.5)) fail_msg("widths %.4g vs %.4g", boot, normal);
        // Centred alike: the midpoints differ by less than a tenth of the width.
        assert_true(fabs((lo + hi) / 2 - d) < 0.1 * normal);
        compared++;
    }
    assert_true(compared >= 2);
    cJSON_Delete(j);
}

// The report states only the differences whose intervals exclude 0.
static void test_report_headline_significant(void **state) {
    (void)state;
    RunResult r = run_t2("report", "--db", cdb_path, "--bootstrap", "0", NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    cJSON *j = compare_json(cdb_path, NULL);
    const cJSON *e;
    int ahead = 0, behind = 0, unresolved = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "comparisons")) {
        if (!cJSON_IsTrue(cJSON_GetObjectItem(e, "summary"))) continue;
        double tn = num(cJSON_GetObjectItem(e, "t2"), "n_params"), cn = num(cJSON_GetObjectItem(e, "chinchilla"), "n_params");
        if (tn == cn) continue;
        int sig = cJSON_IsTrue(cJSON_GetObjectItem(e, "significant"));
        if (!sig) unresolved++;
        else if (num(e, "diff") > 0) ahead++;
        else behind++;
    }
    char want[160];
    const char *answer = strstr(r.out, "**Answer.**");
    assert_non_null(answer);
    assert_null(strstr(r.out, "With one training seed")); // two seeds: pooled rows resample them
    if (ahead) {
        snprintf(want, sizeof want, "with a 95%% interval that excludes 0, in %d (", ahead);
        assert_non_null(strstr(answer, want));
    } else {
        assert_null(strstr(answer, "beats the Chinchilla pick"));
    }
    if (unresolved) {
        snprintf(want, sizeof want, "in %d the picks differ but show no difference these data can resolve", unresolved);
        assert_non_null(strstr(answer, want));
    }
    (void)behind;
    cJSON_Delete(j);
    run_free(&r);
}

// t2 report --plots --seed S: figure 7 draws the intervals of `t2 compare --seed S`, the ones the
// report's table prints beside it (the figure once used seed 0 whatever --seed said); the report
// reuses the figures' comparisons, and they are the ones it makes without --plots.
static void test_report_figure_seed(void **state) {
    (void)state;
    char *plots = xasprintf("%s/figs-seed", dir), *md = xasprintf("%s/seed.md", dir);
    RunResult r = run_t2("report", "--db", cdb_path, "--bootstrap", "0", "--seed", "5", "--out", md, "--plots", plots, NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    run_free(&r);
    char *dat_path = xasprintf("%s/fig7-compare.dat", plots);
    FILE *f = fopen(dat_path, "r");
    assert_non_null(f);
    cJSON *j = compare_json(cdb_path, "--seed=5");
    char line[512];
    int matched = 0;
    while (fgets(line, sizeof line, f)) {
        double c_inf, diff, lo, hi;
        if (line[0] == '#' || sscanf(line, "%lf %lf %lf %lf", &c_inf, &diff, &lo, &hi) != 4 || lo == hi) continue;
        const cJSON *e;
        int found = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "comparisons")) {
            if (!cJSON_IsTrue(cJSON_GetObjectItem(e, "summary")) || num(e, "c_inf") != c_inf || num(e, "diff") != diff) continue;
            const cJSON *ci = cJSON_GetObjectItem(e, "ci95");
            if (cJSON_GetArrayItem(ci, 0)->valuedouble != lo || cJSON_GetArrayItem(ci, 1)->valuedouble != hi)
                fail_msg("figure 7: C_inf %g diff %g: [%.17g, %.17g], t2 compare --seed 5 says [%.17g, %.17g]", c_inf,
                         diff, lo, hi, cJSON_GetArrayItem(ci, 0)->valuedouble, cJSON_GetArrayItem(ci, 1)->valuedouble);
            found = 1;
        }
        assert_true(found);
        matched++;
    }
    assert_true(matched >= 1);
    fclose(f);
    // The report's comparisons are the figures' (made once): its headline and table are those of
    // the same report without figures, all pooled and per-seed rows alike.
    r = run_t2("report", "--db", cdb_path, "--bootstrap", "0", "--seed", "5", NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    char *with = read_file(md, NULL);
    const char *h0 = strstr(r.out, "## Headline"), *h1 = strstr(with, "## Headline");
    const char *e0 = h0 ? strstr(h0, "## Runs") : NULL, *e1 = h1 ? strstr(h1, "## Runs") : NULL;
    assert_true(e0 && e1);
    assert_int_equal(e0 - h0, e1 - h1);
    assert_memory_equal(h0, h1, (size_t)(e0 - h0));
    free(with);
    run_free(&r);
    cJSON_Delete(j);
    free(dat_path);
    free(plots);
    free(md);
}

// A budget with no evaluated run, or with one model only, says so; the command still succeeds
// (with a warning when nothing can be compared). Bad options are refused in one line.
static void test_notes_and_errors(void **state) {
    (void)state;
    cJSON *j = compare_json(partial_db, NULL);
    int no_run = 0, single = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "comparisons")) {
        const cJSON *note = cJSON_GetObjectItem(e, "note");
        assert_true(cJSON_IsString(note));
        no_run |= strstr(note->valuestring, "no run of this budget has a reference eval") != NULL;
        single |= strstr(note->valuestring, "a single model at this budget") != NULL;
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "ci95")) || num(e, "diff") == 0);
    }
    assert_true(no_run && single);
    cJSON_Delete(j);
    RunResult r = run_t2("compare", "--db", partial_db, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "note: a single model at this budget"));
    assert_non_null(strstr(r.err, "no budget has two different picks to compare"));
    run_free(&r);
    r = run_t2("compare", "--db", cdb_path, "--bootstrap", "500", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "--bootstrap"));
    run_free(&r);
    r = run_t2("compare", "--db", cdb_path, "--loss", "nope", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "--loss: must be \"answer\" or \"val\", got \"nope\""));
    run_free(&r);
    char *missing = xasprintf("%s/missing.db", dir);
    r = run_t2("compare", "--db", missing, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no such database"));
    run_free(&r);
    free(missing);
    // The table: one line per entry, the pooled rows named.
    r = run_t2("compare", "--db", cdb_path, "--c-inf", "5e5", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "pooled"));
    run_free(&r);
}


// ---------------------------------------------------------------------------------------------
// Synthetic sets whose truth is known: per-problem success rates p = RATE_A + RATE_B·U (U uniform)
// shared by the three models and both seeds, except that the smallest model (family 0, the
// highest loss) gets p + SHIFT; every model is served k = n = 8 samples (C_inf caps them all).
// SHIFT = 0 is the null: no pick is better than another, only the losses differ. SHIFT > 0 makes
// the smallest model the clear T² pick against the Chinchilla pick (the largest, lowest loss),
// with a true pass@8 difference E[(1 − p)^8] − E[(1 − p − SHIFT)^8].

#define NULL_P 300
#define NULL_SETS 40
#define RATE_A 0.02
#define RATE_B 0.15

static const char NULL_SPEC[] =
    "{\"name\": \"cnull\",\n"
    " \"task\": {\"name\": \"add\", \"digits\": 3, \"eval_problems\": 300, \"seed\": 5},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 16, \"n_head\": 2}, {\"n_layer\": 2, \"d_model\": 32, \"n_head\": 2},\n"
    "            {\"n_layer\": 2, \"d_model\": 64, \"n_head\": 4}],\n"
    " \"budgets\": {\"train_flops\": [1e11]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 16, \"lr\": 3e-3, \"seeds\": [1, 2]},\n"
    " \"eval\": {\"n_samples\": 8, \"k\": [1, 2, 4, 8], \"max_new_tokens\": 6},\n"
    " \"analysis\": {\"c_inf\": [1e12]}}\n";

// E[(1 − p − shift)^8] for p uniform on [RATE_A, RATE_A + RATE_B]: the integral in closed form.
static double mean_all_wrong(double shift) {
    double lo = 1 - RATE_A - shift, hi = lo - RATE_B;
    return (pow(lo, 9) - pow(hi, 9)) / (9 * RATE_B);
}

// The losses of the known sets: the largest model lowest at both seeds.
static const double LOSS[3][2] = {{2.0, 2.0}, {1.9, 1.9}, {1.8, 1.8}};

// One synthetic data set: samples drawn independently for every run, model f's rates shifted by
// SHIFT[f], its loss at seed s LOSS[f][s].
static char *make_db_with(int set, const double shift[3], const double loss[3][2]) {
    Spec s;
    if (spec_parse(&s, NULL_SPEC, "cnull.json") != 0) fail_msg("%s", err_msg());
    char *path = xasprintf("%s/known-%d-%g-%g-%g-%g.db", dir, set, shift[0], shift[1], shift[2], loss[1][1]);
    Db *db;
    if (open_spec_db(&db, &s, path) != 0) fail_msg("%s", err_msg());
    DbRun *runs;
    size_t n;
    if (db_get_runs(db, &runs, &n) != 0) fail_msg("%s", err_msg());
    double rate[NULL_P];
    Rng rng;
    rng_seed(&rng, seed_derive(77, (uint64_t)set, (uint64_t)(shift[0] * 1000), 0));
    for (int i = 0; i < NULL_P; i++) rate[i] = RATE_A + RATE_B * rng_uniform(&rng);
    DbSample *ds = xcalloc(NULL_P * S, sizeof(DbSample));
    DbGold *gold = xcalloc(NULL_P, sizeof(DbGold));
    for (size_t r = 0; r < n; r++) {
        claim_done(db, &runs[r], loss[runs[r].family_idx][runs[r].seed_idx]);
        double add = shift[runs[r].family_idx];
        for (int i = 0; i < NULL_P; i++) {
            gold[i] = (DbGold){i, log(rate[i] + add), 3};
            for (int j = 0; j < S; j++) {
                int ok = rng_uniform(&rng) < rate[i] + add;
                const char *ans = ok ? "42" : "41";
                ds[i * S + j] = (DbSample){i, j, (char *)ans, (char *)ans, ok, 3, -1.0};
            }
        }
        DbEval e = {.run_id = runs[r].run_id, .key = {1.0, 1.0, S, 6}, .infer_flops = 1, .infer_flops_2nk = 1,
                    .gen_tokens = 3L * NULL_P * S, .n_problems = NULL_P, .wall_s = 0.1};
        DbMetric m[1] = {{"pass", 1, 0.5}};
        if (db_write_eval(db, &e, ds, NULL_P * S, gold, NULL_P, m, 1, NULL) != 0) fail_msg("%s", err_msg());
    }
    free(ds);
    free(gold);
    db_runs_free(runs, n);
    db_close(db);
    spec_free(&s);
    return path;
}

// The comparison of one synthetic set: two per-seed entries, then the pooled one.
static AnCompare *compare_db(int set, const double shift[3], const double loss[3][2]) {
    char *path = make_db_with(set, shift, loss);
    Db *db;
    Analysis an;
    if (analysis_open_db(path, &db) != 0 || analysis_load(db, &an) != 0) fail_msg("%s", err_msg());
    AnCompareOptions o;
    analysis_compare_defaults(&o);
    o.bootstrap = 1000;
    o.seed = (uint64_t)set;
    AnCompare *c;
    size_t n;
    if (analysis_compare(db, &an, 1e12, &o, &c, &n) != 0) fail_msg("%s", err_msg());
    assert_int_equal(n, 3);
    assert_int_equal(c[2].seed_idx, -1);
    for (int e = 0; e < 3; e++) {
        assert_int_equal(c[e].t2.k, S);
        assert_int_equal(c[e].chinchilla.k, S);
        assert_true(c[e].ci95[0] <= c[e].diff && c[e].diff <= c[e].ci95[1]);
        assert_true(c[e].maj_ci95[0] <= c[e].maj_diff && c[e].maj_diff <= c[e].maj_ci95[1]);
    }
    analysis_free(&an);
    db_close(db);
    free(path);
    return c;
}

// SHIFT for the smallest model only, the losses of LOSS.
static AnCompare *compare_known(int set, double shift) {
    const double sh[3] = {shift, 0, 0};
    return compare_db(set, sh, LOSS);
}

// Over seeds, the Chinchilla pick is the lowest mean loss; when the seeds disagree on the lowest,
// the pooled interval carries that: each resample takes the pick again from its drawn seeds.
// Here seed 1 ranks the largest model lowest, seed 2 the middle one (lowest on average); the
// smallest model samples best. A resample of seed 1 alone compares against the largest model
// (true difference 0.145), of seed 2 alone against the middle one (0.288).
static void test_pooled_chinchilla_pick_resampled(void **state) {
    (void)state;
    const double shift[3] = {0.10, 0.0, 0.04}, loss[3][2] = {{2.0, 2.0}, {1.85, 1.70}, {1.80, 1.80}};
    AnCompare *c = compare_db(0, shift, loss);
    assert_int_equal(c[0].chinchilla.family_idx, 2);
    assert_int_equal(c[1].chinchilla.family_idx, 1);
    assert_int_equal(c[2].chinchilla.family_idx, 1); // mean losses 1.775 against 1.80
    printf("pooled: diff %.4f [%.4f, %.4f]; seed 1 %.4f, seed 2 %.4f\n", c[2].diff, c[2].ci95[0], c[2].ci95[1],
           c[0].diff, c[1].diff);
    // The interval reaches down to seed 1's comparison, against the largest model; with the pick
    // held at the middle model it stayed above seed 2's lower end.
    assert_true(c[2].ci95[0] < 0.5 * (c[0].diff + c[1].diff));
    assert_true(c[2].ci95[0] < c[0].ci95[1]);
    free(c);
}

static void test_null_not_significant(void **state) {
    (void)state;
    int significant = 0, maj_significant = 0, pooled_significant = 0, differ = 0;
    double sum_diff = 0, sum_in_sample = 0;
    for (int set = 0; set < NULL_SETS; set++) {
        AnCompare *c = compare_known(set, 0);
        for (int e = 0; e < 2; e++) { // the two seeds' entries
            significant += c[e].significant;
            maj_significant += c[e].maj_significant;
            differ += c[e].t2.run_id != c[e].chinchilla.run_id;
            sum_diff += c[e].diff;
            sum_in_sample += c[e].t2_in_sample_pass - c[e].chinchilla.pass;
        }
        pooled_significant += c[2].significant;
        free(c);
    }
    int N = 2 * NULL_SETS;
    printf("null: %d of %d per-seed entries significant (maj@k: %d), pooled %d of %d; mean cross-fitted diff %+.4f; "
           "mean in-sample advantage of the pick %+.4f (picks differ from Chinchilla's in %d)\n",
           significant, N, maj_significant, pooled_significant, NULL_SETS, sum_diff / N, sum_in_sample / N, differ);
    // 5% of 80 is 4; more than 9 would say the interval is too narrow or the estimate biased.
    assert_true(significant <= 9);
    assert_true(maj_significant <= 9); // the maj@k difference is as null as pass@k's
    assert_true(pooled_significant <= 5); // 5% of 40 is 2
    assert_true(differ >= N / 4); // the max of three noisy candidates is often another model
    // In-sample, the winner's curse: the chosen pick looks better than the Chinchilla pick by a
    // clear margin although no model is better; cross-fitted, the mean difference is near 0.
    assert_true(sum_in_sample / N > 0.005);
    assert_true(fabs(sum_diff / N) < 0.5 * sum_in_sample / N);
}

// A known non-zero difference: the 95% intervals of the per-seed and pooled entries cover the
// true pass@8 difference about 95% of the time, and the estimates are centred on it.
static void test_known_difference_covered(void **state) {
    (void)state;
    const double shift = 0.04, truth = mean_all_wrong(0) - mean_all_wrong(shift);
    int covered = 0, pooled_covered = 0, picked = 0;
    double sum_diff = 0, sum_width = 0;
    for (int set = 0; set < NULL_SETS; set++) {
        AnCompare *c = compare_known(set, shift);
        for (int e = 0; e < 3; e++) {
            int in = c[e].ci95[0] <= truth && truth <= c[e].ci95[1];
            if (e < 2) covered += in, sum_diff += c[e].diff, sum_width += c[e].ci95[1] - c[e].ci95[0];
            else pooled_covered += in;
            picked += c[e].fold[0].family_idx == 0 && c[e].fold[1].family_idx == 0 && c[e].chinchilla.family_idx == 2;
        }
        free(c);
    }
    int N = 2 * NULL_SETS;
    printf("known difference %.4f: per-seed intervals cover it in %d of %d (mean estimate %.4f, mean width %.4f), "
           "pooled in %d of %d\n",
           truth, covered, N, sum_diff / N, sum_width / N, pooled_covered, NULL_SETS);
    assert_int_equal(picked, 3 * NULL_SETS); // both folds pick the shifted model, Chinchilla the largest
    assert_true(covered >= N - 10);             // expected 76 of 80; 10 misses has probability < 0.5%
    assert_true(pooled_covered >= NULL_SETS - 6); // two seeds, S − 1 drawn: wider, if anything
    // The estimate is centred on the truth: its mean over 80 entries within 3 standard errors
    // (an entry's SE is about a quarter of its interval's width; the two seeds of a set share rates).
    assert_true(fabs(sum_diff / N - truth) < 3 * (sum_width / N / 4) / sqrt(NULL_SETS));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_difference_recomputed),
        cmocka_unit_test(test_interval_vs_normal),
        cmocka_unit_test(test_report_headline_significant),
        cmocka_unit_test(test_report_figure_seed),
        cmocka_unit_test(test_notes_and_errors),
        cmocka_unit_test(test_null_not_significant),
        cmocka_unit_test(test_known_difference_covered),
        cmocka_unit_test(test_pooled_chinchilla_pick_resampled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
