// test_analysis.c — the analysis commands on a results database built here with the db API:
// nine runs of a real spec whose losses follow a known Chinchilla law, whose per-problem success
// probabilities p_i give the gold log-probabilities (log p_i) and the samples (round(n p_i)
// correct), and whose metrics come from eval_metrics as in t2 eval.
//   fit --db: the points of every law (checked by fitting the same points from a CSV), the fit
//             stored in `fits` equal to --json, the known law recovered, one-line errors;
//   optimize: the closed form where it applies, a brute-force optimum, the spec's budgets;
//   plot:     every figure as real PNG and SVG with its script, gnuplot exits 0, a missing gnuplot;
//   report:   its sections, numbers that match the database, the headline recomputed here;
//   a database the user cannot write: fits made and not stored, the file untouched.
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "report/analysis.h"
#include "cli/commands.h"
#include "db/db.h"
#include "sweep/eval.h"
#include "fit/fit.h"
#include "fit/optimize.h"
#include "sweep/estimators.h"
#include "spec/spec.h"
#include "sweeputil.h"
#include "testutil.h"
#include "util/util.h"

// The law the losses follow, and the model of per-problem success.
#define LAW_E 1.2
#define LAW_A 30.0
#define LAW_ALPHA 0.4
#define LAW_B 40.0
#define LAW_BETA 0.35
#define N_SAMPLES 8
#define N_PROBLEMS 20

static const char SPEC_JSON[] =
    "{\"name\": \"atest\",\n"
    " \"task\": {\"name\": \"add\", \"digits\": 2, \"eval_problems\": 20, \"seed\": 3},\n"
    " \"family\": [{\"n_layer\": 1, \"d_model\": 32, \"n_head\": 2}, {\"n_layer\": 2, \"d_model\": 48, \"n_head\": 4},\n"
    "            {\"n_layer\": 2, \"d_model\": 64, \"n_head\": 4}],\n"
    " \"budgets\": {\"train_flops\": [3e10, 1e11, 3e11]},\n"
    " \"train\": {\"seq_len\": 32, \"batch_size\": 16, \"lr\": 3e-3, \"seeds\": [1]},\n"
    " \"eval\": {\"n_samples\": 8, \"k\": [1, 2, 4, 8], \"max_new_tokens\": 6},\n"
    " \"analysis\": {\"c_inf\": [2.5e5, 1e6]}}\n";

typedef struct {
    char *dir;
    char *db;       // nine done runs
    char *empty_db; // the grid, nothing done
    char *few_db;   // four done runs
} Fixture;

static Fixture fx;

#define VAL_SHIFT 0.25 // val_loss − answer_loss of every run
static double law_loss(double N, double D) { return LAW_E + LAW_A / pow(N, LAW_ALPHA) + LAW_B / pow(D, LAW_BETA); }

// Success probability of problem i for a model of loss L: a logistic in the loss, problems of
// ten difficulties.
static double success(double L, int i) {
    double z = -3.0 * (L - 1.9) - ((double)(i % 10) / 10.0 * 4.0 - 2.0) - 1.5;
    return 1 / (1 + exp(-z));
}

static void claim_done(Db *db, const DbRun *r, double loss) {
    char owner[300];
    db_owner_self(owner);
    DbClaim c;
    if (db_claim_run(db, r->run_id, owner, 1, NULL, 0, &c) != 0) fail_msg("%s", err_msg());
    db_claim_free(&c);
    TrainLogRow rows[4];
    for (int j = 0; j < 4; j++)
        rows[j] = (TrainLogRow){.step = j + 1, .tokens = r->train_tokens * (j + 1) / 4, .loss = loss + 0.5 / (j + 1),
                                .lr = 1e-3, .grad_norm = 1, .wall_s = j};
    if (db_log_train(db, r->run_id, rows, 4) != 0) fail_msg("%s", err_msg());
    // answer_loss on the law; val_loss (every scored token) a constant above it.
    if (db_finish_run(db, r->run_id, owner, DB_RUN_DONE, loss + 0.01, loss + VAL_SHIFT, loss, 1.0, NULL) != 0)
        fail_msg("%s", err_msg());
}

// Samples, gold and metrics of one run, stored as t2 eval stores them.
static void write_eval(Db *db, const Spec *s, const DbRun *r, double loss) {
    EvalResult er = {.temperature = 1, .top_p = 1, .n_samples = N_SAMPLES, .n_problems = N_PROBLEMS,
                     .n_rows = N_PROBLEMS * N_SAMPLES};
    er.samples = xcalloc((size_t)er.n_rows, sizeof(DbSample));
    DbGold gold[N_PROBLEMS];
    for (int i = 0; i < N_PROBLEMS; i++) {
        double p = success(loss, i);
        gold[i] = (DbGold){i, log(p), 4};
        int correct = (int)lround(N_SAMPLES * p);
        for (int j = 0; j < N_SAMPLES; j++) {
            DbSample *row = &er.samples[i * N_SAMPLES + j];
            row->problem_id = i;
            row->sample_idx = j;
            row->correct = j < correct;
            row->answer = xstrdup(j < correct ? "42" : j % 2 ? "41" : "43");
            row->completion = xstrdup(row->answer);
            row->n_tokens = 3;
            row->logprob = -1.0;
        }
    }
    eval_metrics(&er, gold, N_PROBLEMS, s->eval.k, s->eval.n_k);
    double gen = 3.0 * N_PROBLEMS * N_SAMPLES;
    DbEval e = {.run_id = r->run_id,
                .key = {1.0, 1.0, N_SAMPLES, s->eval.max_new_tokens},
                .infer_flops = 2.2 * (double)r->n_params * gen,
                .infer_flops_2nk = 2.0 * (double)r->n_params * gen,
                .gen_tokens = (long)gen,
                .n_problems = N_PROBLEMS,
                .wall_s = 0.1};
    if (db_write_eval(db, &e, er.samples, (size_t)er.n_rows, gold, N_PROBLEMS, er.metrics, (size_t)er.n_metrics,
                      NULL) != 0)
        fail_msg("%s", err_msg());
    eval_result_free(&er);
}

// A database of the spec with the first N_DONE runs done (losses on the law, evals).
static char *make_db(const char *name, int n_done) {
    Spec s;
    if (spec_parse(&s, SPEC_JSON, "atest.json") != 0) fail_msg("%s", err_msg());
    char *path = xasprintf("%s/%s", fx.dir, name);
    Db *db;
    if (open_spec_db(&db, &s, path) != 0) fail_msg("%s", err_msg());
    DbRun *runs;
    size_t n;
    if (db_get_runs(db, &runs, &n) != 0) fail_msg("%s", err_msg());
    assert_int_equal(n, 9);
    for (int i = 0; i < n_done; i++) {
        double loss = law_loss((double)runs[i].n_params, (double)runs[i].train_tokens);
        claim_done(db, &runs[i], loss);
        write_eval(db, &s, &runs[i], loss);
    }
    db_runs_free(runs, n);
    db_close(db);
    spec_free(&s);
    return path;
}

static int setup(void **state) {
    (void)state;
    fx.dir = tmpdir_make("analysis");
    fx.db = make_db("atest.db", 9);
    fx.empty_db = make_db("empty.db", 0);
    fx.few_db = make_db("few.db", 4);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(fx.db);
    free(fx.empty_db);
    free(fx.few_db);
    tmpdir_remove(fx.dir);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

static cJSON *parse_json(const char *text) {
    cJSON *j = cJSON_Parse(text);
    if (!j) fail_msg("not JSON: %.200s", text);
    return j;
}

static double num(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v)) fail_msg("no number %s", name);
    return v->valuedouble;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

// A failure is one line on stderr, containing WANT, and exit 1.
static void assert_one_line_error(RunResult *r, const char *want) {
    if (r->status != 1 || count_lines(r->err) != 1 || !strstr(r->err, want))
        fail_msg("expected one line with '%s' and exit 1, got exit %d: %s", want, r->status, r->err);
    assert_true(strncmp(r->err, "t2: ", 4) == 0);
}

static char *query_text(const char *db_path, const char *sql) {
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(db_path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    char *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) out = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

static double query_real(const char *db_path, const char *sql) {
    char *t = query_text(db_path, sql);
    if (!t) fail_msg("no value for %s", sql);
    double v = strtod(t, NULL);
    free(t);
    return v;
}

// The database's done runs as the analysis sees them.
static void load(const char *path, Db **db, Analysis *an) {
    if (analysis_open_db(path, db) != 0 || analysis_load(*db, an) != 0) fail_msg("%s", err_msg());
}

// ---------------------------------------------------------------------------------------------
// Library: per-problem terms, loading.

static void test_neg_log_pass(void **state) {
    (void)state;
    // Moderate p: the plain formula.
    double lp = log(0.3);
    assert_true(rel_diff(neg_log_pass_analytic(lp, 4), -log(1 - pow(0.7, 4)), 0) < 1e-14);
    // p so small that exp underflows: −log(k p) exactly.
    assert_true(rel_diff(neg_log_pass_analytic(-1000, 8), 1000 - log(8), 0) < 1e-15);
    // Near the switch to the asymptote both branches agree.
    double a = neg_log_pass_analytic(-37.0, 2), b = -log(-expm1(2 * log1p(-exp(-37.0))));
    assert_true(rel_diff(a, b, 0) < 1e-12);
    assert_true(neg_log_pass_analytic(0, 3) == 0);
    assert_true(isnan(neg_log_pass_analytic(NAN, 3)));
}

static void test_load(void **state) {
    (void)state;
    Db *db;
    Analysis an;
    load(fx.db, &db, &an);
    assert_int_equal(an.n_runs, 9);
    assert_string_equal(an.loss_column, "answer_loss");
    assert_string_equal(an.loss_note, "");
    assert_int_equal(an.n_k, 4);
    for (size_t i = 0; i < an.n_runs; i++) {
        const AnRun *r = &an.runs[i];
        assert_true(rel_diff(r->loss, law_loss(r->N, r->D), 0) < 1e-15);
        assert_int_equal(r->n_gold, N_PROBLEMS);
        double nll = 0;
        for (int p = 0; p < N_PROBLEMS; p++) nll -= log(success(r->loss, p));
        assert_true(rel_diff(r->gold_nll, nll / N_PROBLEMS, 0) < 1e-12);
        // pass@k at every k: the stored metric and the value recomputed from the samples.
        for (int j = 0; j < an.n_k; j++) {
            double pass, maj, want = 0;
            for (int p = 0; p < N_PROBLEMS; p++)
                want += pass_at_k(N_SAMPLES, lround(N_SAMPLES * success(r->loss, p)), an.k[j]);
            assert_true(fabs(r->pass[j] - want / N_PROBLEMS) < 1e-12);
            assert_int_equal(analysis_sampled_at(db, r, an.k[j], &pass, &maj), 0);
            assert_true(fabs(pass - r->pass[j]) < 1e-12 && fabs(maj - r->maj[j]) < 1e-12);
            // Its interval over problems (figure 4): centred on it, as wide as the normal one.
            double ci[2], sd = 0, mean = analysis_pass_ci(&an, r, an.k[j], 2000, 7, ci);
            assert_true(fabs(mean - r->pass[j]) < 1e-12);
            for (int p = 0; p < N_PROBLEMS; p++) {
                double d = pass_at_k(N_SAMPLES, lround(N_SAMPLES * success(r->loss, p)), an.k[j]) - mean;
                sd += d * d / (N_PROBLEMS - 1);
            }
            double normal = 2 * 1.959963984540054 * sqrt(sd / N_PROBLEMS);
            assert_true(ci[0] <= mean && mean <= ci[1]);
            if (normal > 1e-9) {
                double ratio = (ci[1] - ci[0]) / normal;
                if (!(ratio > 0.8 && ratio < 1.25)) fail_msg("run %d k %ld: width ratio %.3f", r->run_id, an.k[j], ratio);
            }
        }
    }
    analysis_free(&an);
    db_close(db);
}

// ---------------------------------------------------------------------------------------------
// t2 fit --db.

// The law's points written as a CSV (17 digits), fitted with --csv: the same parameters as --db.
static char *points_csv(FitLaw law, const char *name) {
    Db *db;
    Analysis an;
    load(fx.db, &db, &an);
    size_t cap = 1 << 16, len = 0;
    char *text = xmalloc(cap);
    const char *header[] = {"N,D,loss\n", "N,D,k,nll\n", "N,D,k,pass,nll\n", "model,k,pass\n"};
    len += (size_t)snprintf(text, cap, "%s", header[law]);
    for (size_t i = 0; i < an.n_runs; i++) {
        const AnRun *r = &an.runs[i];
        if (law == FIT_CHINCHILLA) len += (size_t)snprintf(text + len, cap - len, "%.17g,%.17g,%.17g\n", r->N, r->D, r->loss);
        // t2-loss at k = 1, 2, 4, ... 1024 (the gold probability gives any k), the others at the spec's k.
        for (int j = 0; law == FIT_T2_LOSS && j <= 10; j++) {
            // What the database holds, computed here from the gold rows.
            double nll = 0, k = pow(2, j);
            for (int p = 0; p < N_PROBLEMS; p++) nll += neg_log_pass_analytic(log(success(r->loss, p)), k);
            nll /= N_PROBLEMS;
            len += (size_t)snprintf(text + len, cap - len, "%.17g,%.17g,%g,%.17g\n", r->N, r->D, k, nll);
        }
        for (int j = 0; law != FIT_CHINCHILLA && law != FIT_T2_LOSS && j < an.n_k; j++) {
            if (law == FIT_T2_ACC)
                len += (size_t)snprintf(text + len, cap - len, "%.17g,%.17g,%ld,%.17g,%.17g\n", r->N, r->D, an.k[j],
                                        r->pass[j], r->gold_nll); // stage 1: the answer loss per problem
            else if (r->pass[j] > 0)
                len += (size_t)snprintf(text + len, cap - len, "run%d,%ld,%.17g\n", r->run_id, an.k[j], r->pass[j]);
        }
    }
    analysis_free(&an);
    db_close(db);
    char *path = write_text(fx.dir, name, text);
    free(text);
    return path;
}

static void assert_same_params(const cJSON *a, const cJSON *b, double tol) {
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(a, "params"), *pb = cJSON_GetObjectItemCaseSensitive(b, "params");
    assert_int_equal(cJSON_GetArraySize(pa), cJSON_GetArraySize(pb));
    const cJSON *it;
    cJSON_ArrayForEach(it, pa) {
        double x = it->valuedouble, y = num(pb, it->string);
        if (rel_diff(x, y, 1e-12) > tol) fail_msg("%s: %.17g vs %.17g", it->string, x, y);
    }
}

static void test_fit_db_every_law(void **state) {
    (void)state;
    static const FitLaw laws[] = {FIT_CHINCHILLA, FIT_T2_LOSS, FIT_T2_ACC, FIT_COVERAGE};
    for (size_t l = 0; l < ARRAY_LEN(laws); l++) {
        const char *law = fit_law_name(laws[l]);
        RunResult r = run_t2("fit", "--db", fx.db, "--law", law, "--json", NULL);
        if (r.status != 0) fail_msg("%s: %s", law, r.err);
        cJSON *j = parse_json(r.out);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "converged")));
        // The row stored in fits holds exactly the printed parameters.
        char *sql = xasprintf("SELECT params_json FROM fits WHERE fit_id = %ld", (long)num(j, "fit_id"));
        char *params = query_text(fx.db, sql);
        char *whole = xasprintf("{\"params\": %s}", params);
        cJSON *row = parse_json(whole);
        assert_same_params(j, row, 0);
        free(sql);
        sql = xasprintf("SELECT law || ' ' || converged || ' ' || n_points || ' ' || source FROM fits WHERE fit_id = %ld",
                        (long)num(j, "fit_id"));
        char *meta = query_text(fx.db, sql), *want = xasprintf("%s 1 %ld db", law, (long)num(j, "n_points"));
        assert_string_equal(meta, want);
        // The same points from a CSV give the same fit: the database's points are the law's.
        char *name = xasprintf("%s.csv", law), *csv = points_csv(laws[l], name);
        RunResult rc = run_t2("fit", "--csv", csv, "--law", law, "--json", NULL);
        if (rc.status != 0) fail_msg("%s csv: %s", law, rc.err);
        cJSON *jc = parse_json(rc.out);
        assert_int_equal((long)num(j, "n_points"), (long)num(jc, "n_points"));
        assert_same_params(j, jc, 1e-9);
        cJSON_Delete(jc);
        run_free(&rc);
        free(name);
        free(csv);
        free(meta);
        free(want);
        free(sql);
        free(params);
        free(whole);
        cJSON_Delete(row);
        cJSON_Delete(j);
        run_free(&r);
    }
}

static void test_fit_db_recovers_law(void **state) {
    (void)state;
    RunResult r = run_t2("fit", "--db", fx.db, "--law", "chinchilla", "--json", NULL);
    assert_int_equal(r.status, 0);
    cJSON *j = parse_json(r.out);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "params");
    assert_true(rel_diff(num(p, "E"), LAW_E, 0) < 1e-4);
    assert_true(rel_diff(num(p, "A"), LAW_A, 0) < 1e-3);
    assert_true(rel_diff(num(p, "B"), LAW_B, 0) < 1e-3);
    assert_true(fabs(num(p, "alpha") - LAW_ALPHA) < 1e-4);
    assert_true(fabs(num(p, "beta") - LAW_BETA) < 1e-4);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    assert_true(strstr(cJSON_GetObjectItemCaseSensitive(data, "description")->valuestring, "runs.answer_loss"));
    cJSON_Delete(j);
    run_free(&r);
    // The table says which loss it fitted and where the fit went.
    r = run_t2("fit", "--db", fx.db, "--law", "chinchilla", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "loss = runs.answer_loss"));
    assert_non_null(strstr(r.out, "stored as fit"));
    run_free(&r);
    // --loss val fits val_loss: the same law shifted by a constant.
    r = run_t2("fit", "--db", fx.db, "--law", "chinchilla", "--loss", "val", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = parse_json(r.out);
    p = cJSON_GetObjectItemCaseSensitive(j, "params");
    assert_true(rel_diff(num(p, "E"), LAW_E + VAL_SHIFT, 0) < 1e-4);
    assert_true(fabs(num(p, "alpha") - LAW_ALPHA) < 1e-3);
    data = cJSON_GetObjectItemCaseSensitive(j, "data");
    assert_true(strstr(cJSON_GetObjectItemCaseSensitive(data, "description")->valuestring, "runs.val_loss"));
    cJSON_Delete(j);
    run_free(&r);
}

// A database this user cannot write (a colleague's results, a read-only mount): fit and optimize
// make their fits and say they are not stored (`fit_id` null in JSON); the file is untouched.
static void test_fit_readonly_db(void **state) {
    (void)state;
    char *ro = xasprintf("%s/ro", fx.dir);
    assert_int_equal(mkdir(ro, 0755), 0);
    char *db = make_db("ro/ro.db", 9);
    assert_int_equal(chmod(fx.dir, 0755), 0);
    assert_int_equal(chmod(db, 0644), 0);
    if (geteuid() != 0) assert_int_equal(chmod(ro, 0555), 0);
    size_t n0, n1;
    char *before = read_file(db, &n0);

    RunResult r = t2_unprivileged(ro, "fit --db ro.db --law chinchilla");
    if (r.status != 0) fail_msg("fit: %s", r.err);
    assert_non_null(strstr(r.out, "not stored: ro.db is read-only here"));
    assert_null(strstr(r.out, "stored as fit"));
    run_free(&r);
    r = t2_unprivileged(ro, "fit --db ro.db --law chinchilla --json");
    if (r.status != 0) fail_msg("fit --json: %s", r.err);
    cJSON *j = parse_json(r.out);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "fit_id")));
    assert_true(rel_diff(num(cJSON_GetObjectItemCaseSensitive(j, "params"), "E"), LAW_E, 0) < 1e-4);
    cJSON_Delete(j);
    run_free(&r);
    r = t2_unprivileged(ro, "optimize --db ro.db --law chinchilla --c-inf 0");
    if (r.status != 0) fail_msg("optimize: %s", r.err);
    assert_non_null(strstr(r.err, "t2: chinchilla: fit made, not stored: the database is read-only here"));
    run_free(&r);
    r = t2_unprivileged(ro, "optimize --db ro.db --law t2-loss --c-inf 0");
    assert_int_equal(r.status, 1); // this data does not identify t2-loss's allocation
    assert_non_null(strstr(r.err, "the t2-loss fit (not stored: the database is read-only here) does not identify"));
    run_free(&r);
    r = t2_unprivileged(ro, "optimize --db ro.db --law t2-loss --c-inf 0 --force --json");
    if (r.status != 0) fail_msg("optimize --json: %s", r.err);
    j = parse_json(r.out);
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "allocations"), 0);
    assert_non_null(a);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "fit_id")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "chinchilla_fit_id")));
    cJSON_Delete(j);
    run_free(&r);

    char *after = read_file(db, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    if (geteuid() != 0) chmod(ro, 0755);
    free(before), free(after), free(db), free(ro);
}

// The loss variable: the spec's analysis.loss, --loss, and runs without an answer_loss (a database
// of an older t2): the default falls back to val_loss and says why; --loss answer refuses.
static void test_loss_variable(void **state) {
    (void)state;
    Db *db;
    Analysis an;
    load(fx.db, &db, &an);
    assert_int_equal(analysis_use_loss(&an, "val", 1), 0);
    assert_string_equal(an.loss_column, "val_loss");
    for (size_t i = 0; i < an.n_runs; i++) assert_true(an.runs[i].loss == an.runs[i].val_loss);
    assert_int_equal(analysis_use_loss(&an, "gold", 1), -1);
    assert_string_equal(err_msg(), "must be \"answer\" or \"val\", got \"gold\"");
    analysis_free(&an);
    db_close(db);
    RunResult r = run_t2("fit", "--db", fx.db, "--law", "chinchilla", "--loss", "final", NULL);
    assert_one_line_error(&r, "--loss: must be \"answer\" or \"val\", got \"final\"");
    run_free(&r);

    char *old = xasprintf("%s/old.db", fx.dir);
    char *cmd = xasprintf("cp '%s' '%s' && sqlite3 '%s' 'UPDATE runs SET answer_loss = NULL WHERE run_id IN (1, 4)'",
                          fx.db, old, old);
    assert_int_equal(system(cmd), 0);
    load(old, &db, &an);
    assert_string_equal(an.loss_column, "val_loss");
    assert_string_equal(an.loss_note, "2 runs (1, 4) have no answer_loss (finished by a t2 that did not record it)");
    assert_int_equal(analysis_use_loss(&an, "answer", 1), -1);
    assert_non_null(strstr(err_msg(), "2 done runs (1, 4) have no answer_loss"));
    analysis_free(&an);
    db_close(db);
    r = run_t2("report", "--db", old, "--bootstrap", "0", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "T² stage 1: `runs.val_loss`"));
    assert_non_null(strstr(r.out, "not the one asked for: 2 runs (1, 4) have no answer_loss"));
    run_free(&r);
    r = run_t2("optimize", "--db", old, "--loss", "answer", NULL);
    assert_one_line_error(&r, "use --loss val");
    run_free(&r);
    free(cmd);
    free(old);
}

static void test_fit_db_bootstrap_resamples_kept(void **state) {
    (void)state;
    RunResult r = run_t2("fit", "--db", fx.db, "--law", "chinchilla", "--bootstrap", "20", "--json", NULL);
    assert_int_equal(r.status, 0);
    cJSON *j = parse_json(r.out);
    Db *db;
    Analysis an;
    load(fx.db, &db, &an);
    FitData d;
    AnFitNote note;
    assert_int_equal(analysis_fit_data(&an, FIT_CHINCHILLA, &d, &note), 0);
    FitResult f;
    long id;
    // A stored fit needs as many resamples as asked for: 20 is there, 21 is not.
    assert_int_equal(fitdb_latest(db, FIT_CHINCHILLA, fit_data_hash(FIT_CHINCHILLA, &d), 20, &f, &id), 0);
    assert_int_equal(id, (long)num(j, "fit_id"));
    assert_true(f.n_boot_used > 10 && f.n_boot_used <= 20);
    assert_true(f.boot != NULL);
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(j, "ci");
    const cJSON *alpha_ci = cJSON_GetObjectItemCaseSensitive(ci, "alpha");
    assert_true(fabs(fit_find(&f, "alpha")->lo - cJSON_GetArrayItem(alpha_ci, 0)->valuedouble) == 0);
    fit_result_free(&f);
    assert_int_equal(fitdb_latest(db, FIT_CHINCHILLA, fit_data_hash(FIT_CHINCHILLA, &d), 21, &f, &id), 1);
    // Other data (a changed point) has no stored fit.
    d.loss[0] *= 1.01;
    assert_int_equal(fitdb_latest(db, FIT_CHINCHILLA, fit_data_hash(FIT_CHINCHILLA, &d), 0, &f, &id), 1);
    fit_data_free(&d);
    analysis_free(&an);
    db_close(db);
    cJSON_Delete(j);
    run_free(&r);
}

static void test_fit_db_errors(void **state) {
    (void)state;
    char *missing = xasprintf("%s/missing.db", fx.dir);
    RunResult r = run_t2("fit", "--db", missing, "--law", "chinchilla", NULL);
    assert_one_line_error(&r, "no such database");
    assert_false(file_exists(missing)); // not created by the attempt
    run_free(&r);
    r = run_t2("fit", "--db", fx.empty_db, "--law", "chinchilla", NULL);
    assert_one_line_error(&r, "no finished runs (9 pending");
    run_free(&r);
    r = run_t2("fit", "--db", fx.db, "--law", "gompertz", NULL);
    assert_one_line_error(&r, "unknown law 'gompertz'");
    run_free(&r);
    r = run_t2("fit", "--db", fx.few_db, "--law", "chinchilla", NULL);
    assert_one_line_error(&r, "chinchilla needs at least 6 points, got 4");
    run_free(&r);
    r = run_t2("fit", "--db", fx.few_db, "--law", "t2-acc", NULL);
    assert_one_line_error(&r, "t2-acc needs at least 6 models");
    run_free(&r);
    r = run_t2("fit", "--db", fx.db, "--csv", "x.csv", "--law", "chinchilla", NULL);
    assert_one_line_error(&r, "exactly one of --db");
    run_free(&r);
    char *not_db = write_text(fx.dir, "not.db", "hello, not a database at all\n");
    r = run_t2("fit", "--db", not_db, "--law", "chinchilla", NULL);
    assert_int_equal(r.status, 1);
    assert_int_equal(count_lines(r.err), 1);
    run_free(&r);
    free(not_db);
    free(missing);
}

// ---------------------------------------------------------------------------------------------
// t2 optimize.

static const cJSON *allocation(const cJSON *j, int i) {
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "allocations"), i);
}

static void stored_chinchilla(double *A, double *B, double *alpha, double *beta) {
    char *params = query_text(fx.db, "SELECT params_json FROM fits WHERE law = 'chinchilla' AND converged = 1 "
                                     "ORDER BY fit_id DESC LIMIT 1");
    cJSON *p = parse_json(params);
    *A = num(p, "A");
    *B = num(p, "B");
    *alpha = num(p, "alpha");
    *beta = num(p, "beta");
    cJSON_Delete(p);
    free(params);
}

static void test_optimize_chinchilla_closed_form(void **state) {
    (void)state;
    RunResult r = run_t2("optimize", "--db", fx.db, "--law", "chinchilla", "--c-train", "1e13", "--c-inf", "1e7",
                         "--json", NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    cJSON *j = parse_json(r.out);
    double A, B, alpha, beta, N, D;
    stored_chinchilla(&A, &B, &alpha, &beta);
    chinchilla_optimal(A, B, alpha, beta, 1e13, &N, &D);
    const cJSON *a = allocation(j, 0);
    const cJSON *t2 = cJSON_GetObjectItemCaseSensitive(a, "t2"), *ch = cJSON_GetObjectItemCaseSensitive(a, "chinchilla");
    // G = (alpha A / (beta B))^(1/(alpha+beta)), N* = G (C/6)^(beta/(alpha+beta)): by hand.
    double G = pow(alpha * A / (beta * B), 1 / (alpha + beta)), n_star = G * pow(1e13 / 6, beta / (alpha + beta));
    assert_true(rel_diff(N, n_star, 0) < 1e-12);
    assert_true(rel_diff(num(ch, "N"), n_star, 0) < 1e-12);
    assert_true(rel_diff(num(ch, "k"), 1e7 / (2 * n_star), 0) < 1e-12);
    assert_true(rel_diff(num(t2, "N"), n_star, 0) < 1e-6); // the numeric search finds the same minimum
    assert_true(rel_diff(num(t2, "D"), 1e13 / (6 * num(t2, "N")), 0) < 1e-12);
    assert_null(cJSON_GetObjectItemCaseSensitive(a, "extrapolated"));
    assert_null(strstr(r.err, "warning"));
    cJSON_Delete(j);
    run_free(&r);
    // A budget far beyond the sweep's puts N* more than 10x above every model trained: said on
    // stderr and marked in the JSON.
    r = run_t2("optimize", "--db", fx.db, "--law", "chinchilla", "--c-train", "1e30", "--c-inf", "1e7", "--json", NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    j = parse_json(r.out);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(allocation(j, 0), "extrapolated")));
    assert_non_null(strstr(r.err, "more than 10x outside the models trained"));
    cJSON_Delete(j);
    run_free(&r);
}

static double t2loss_value(const cJSON *p, double N, double D, double k) {
    return num(p, "E") + num(p, "A") * pow(N, -num(p, "alpha")) + num(p, "B") * pow(D, -num(p, "beta")) +
           num(p, "G") * pow(k, -num(p, "gamma"));
}

static void test_optimize_t2_loss(void **state) {
    (void)state;
    const double C = 3e12, CI = 2e6;
    // Nine runs do not identify the seven parameters of t2-loss: --force values the law anyway
    // (what this test checks is the search).
    RunResult r = run_t2("optimize", "--db", fx.db, "--law", "t2-loss", "--c-train", "3e12", "--c-inf", "2e6", "--json",
                         "--force", NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    cJSON *j = parse_json(r.out);
    const cJSON *a = allocation(j, 0);
    char *sql = xasprintf("SELECT params_json FROM fits WHERE fit_id = %ld", (long)num(a, "fit_id"));
    char *params = query_text(fx.db, sql);
    cJSON *p = parse_json(params);
    // Brute force over log N: the minimum of the law under both budgets.
    double best_N = 0, best = INFINITY;
    for (int i = 0; i <= 200000; i++) {
        double N = exp(log(1.0) + (log(CI / 2) - log(1.0)) * i / 200000.0);
        double v = t2loss_value(p, N, C / (6 * N), CI / (2 * N));
        if (v < best) best = v, best_N = N;
    }
    const cJSON *t2 = cJSON_GetObjectItemCaseSensitive(a, "t2");
    assert_true(rel_diff(num(t2, "N"), best_N, 0) < 1e-3);
    assert_true(num(t2, "value") <= best + 1e-12);
    assert_true(rel_diff(num(t2, "k"), CI / (2 * num(t2, "N")), 0) < 1e-12);
    // The Chinchilla choice comes from the chinchilla fit.
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "chinchilla_from")->valuestring, "chinchilla");
    double A, B, alpha, beta, N, D;
    stored_chinchilla(&A, &B, &alpha, &beta);
    chinchilla_optimal(A, B, alpha, beta, C, &N, &D);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(a, "chinchilla");
    assert_true(rel_diff(num(ch, "N"), N, 0) < 1e-12);
    assert_true(rel_diff(num(ch, "value"), t2loss_value(p, N, D, CI / (2 * N)), 0) < 1e-12);
    cJSON_Delete(p);
    free(params);
    free(sql);
    cJSON_Delete(j);
    run_free(&r);
    // A cap on k holds.
    r = run_t2("optimize", "--db", fx.db, "--law", "t2-loss", "--c-train", "3e12", "--c-inf", "2e6", "--k-max", "8",
               "--json", "--force", NULL);
    assert_int_equal(r.status, 0);
    j = parse_json(r.out);
    assert_true(num(cJSON_GetObjectItemCaseSensitive(allocation(j, 0), "t2"), "k") <= 8 + 1e-12);
    cJSON_Delete(j);
    run_free(&r);
}

static void test_optimize_spec_budgets(void **state) {
    (void)state;
    // Without --c-train and --c-inf: every training budget of the sweep and every analysis.c_inf,
    // for t2-loss and t2-acc.
    RunResult r = run_t2("optimize", "--db", fx.db, "--json", "--force", NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    cJSON *j = parse_json(r.out);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "allocations")), 2 * 3 * 2);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(allocation(j, 0), "law")->valuestring, "t2-loss");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(allocation(j, 6), "law")->valuestring, "t2-acc");
    assert_true(num(allocation(j, 1), "c_inf") == 1e6 && num(allocation(j, 2), "c_train") == 1e11);
    cJSON_Delete(j);
    run_free(&r);
    r = run_t2("optimize", "--db", fx.db, "--c-train", "1e12", "--force", NULL); // the table
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "T2 vs Chinchilla"));
    run_free(&r);
    // Without --force, a law whose allocation rests on parameters it does not identify gives none:
    // t2-loss on nine runs is refused, naming the parameters and --force.
    r = run_t2("optimize", "--db", fx.db, "--law", "t2-loss", "--c-train", "1e12", "--json", NULL);
    assert_one_line_error(&r, "does not identify");
    assert_non_null(strstr(r.err, "--force values it anyway"));
    assert_string_equal(r.out, "");
    run_free(&r);
    char *missing = xasprintf("%s/missing.db", fx.dir);
    r = run_t2("optimize", "--db", missing, "--c-train", "1e12", NULL);
    assert_one_line_error(&r, "no such database");
    run_free(&r);
    r = run_t2("optimize", "--db", fx.db, "--law", "coverage", NULL);
    assert_one_line_error(&r, "gives no allocation");
    run_free(&r);
    r = run_t2("optimize", "--db", fx.empty_db, NULL);
    assert_one_line_error(&r, "no finished runs");
    run_free(&r);
    free(missing);
}

// ---------------------------------------------------------------------------------------------
// t2 plot.

static int has_prefix_bytes(const char *path, const void *magic, size_t n) {
    unsigned char buf[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    return got == n && memcmp(buf, magic, n) == 0;
}

static const char *const FIGS[] = {"fig1-train-loss", "fig2-isoflop",    "fig3-loss-flops", "fig4-pass-k",
                                   "fig5-frontier",   "fig6-allocation", "fig7-compare"};

static void assert_figures(const char *dir) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    for (size_t i = 0; i < ARRAY_LEN(FIGS); i++) {
        char *p = xasprintf("%s/%s.png", dir, FIGS[i]), *s = xasprintf("%s/%s.svg", dir, FIGS[i]);
        char *g = xasprintf("%s/%s.gp", dir, FIGS[i]), *d = xasprintf("%s/%s.dat", dir, FIGS[i]);
        if (!has_prefix_bytes(p, png, 8)) fail_msg("%s is not a PNG", p);
        char *svg = read_file(s, NULL);
        if (!svg || !strstr(svg, "<svg") || !strstr(svg, "</svg>")) fail_msg("%s is not an SVG", s);
        assert_true(file_exists(g) && file_exists(d));
        free(svg);
        free(p);
        free(s);
        free(g);
        free(d);
    }
}

static void test_plot(void **state) {
    (void)state;
    char *out = xasprintf("%s/plots", fx.dir);
    RunResult r = run_t2("plot", "--db", fx.db, "--out", out, NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    assert_figures(out);
    // No staging directory is left, and a script redraws its figure from the files beside it.
    char *cmd = xasprintf("ls -A '%s' | grep -c '^\\.' ; cd '%s' && rm fig2-isoflop.png && gnuplot fig2-isoflop.gp && "
                          "test -s fig2-isoflop.png && echo redrawn",
                          out, out);
    RunResult sh = run_sh(cmd);
    assert_non_null(strstr(sh.out, "0\nredrawn"));
    run_free(&sh);
    free(cmd);
    // The fitted law's parameters are in the script, as the fit stored them.
    char *gp_path = xasprintf("%s/fig2-isoflop.gp", out), *gp = read_file(gp_path, NULL);
    assert_non_null(strstr(gp, "has_fit = 1"));
    double A, B, alpha, beta;
    stored_chinchilla(&A, &B, &alpha, &beta);
    const char *at = strstr(gp, "\nalpha = ");
    assert_non_null(at);
    assert_true(strtod(at + strlen("\nalpha = "), NULL) == alpha);
    assert_true(fabs(alpha - LAW_ALPHA) < 1e-4);
    free(gp);
    free(gp_path);
    // Figure 7 draws t2 compare's answer: every summary comparison with a difference, by budget
    // level (one block each) and inference budget, with its interval.
    RunResult c = run_t2("compare", "--db", fx.db, "--json", NULL);
    if (c.status != 0) fail_msg("%s", c.err);
    cJSON *j = parse_json(c.out);
    char *dat_path = xasprintf("%s/fig7-compare.dat", out), *dat = read_file(dat_path, NULL);
    assert_non_null(dat);
    int checked = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(j, "comparisons")) {
        const cJSON *diff = cJSON_GetObjectItemCaseSensitive(row, "diff");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "summary")) || !cJSON_IsNumber(diff)) continue;
        const cJSON *ci = cJSON_GetObjectItemCaseSensitive(row, "ci95");
        char want[200];
        snprintf(want, sizeof want, "%.17g %.17g %.17g %.17g %d ", num(row, "c_inf"), diff->valuedouble,
                 cJSON_IsArray(ci) ? cJSON_GetArrayItem(ci, 0)->valuedouble : diff->valuedouble,
                 cJSON_IsArray(ci) ? cJSON_GetArrayItem(ci, 1)->valuedouble : diff->valuedouble,
                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "significant")));
        if (!strstr(dat, want)) fail_msg("figure 7 lacks the comparison '%s'", want);
        checked++;
    }
    assert_true(checked >= 3); // 3 budgets x 2 inference budgets, some with a difference
    cJSON_Delete(j);
    run_free(&c);
    free(dat), free(dat_path);
    run_free(&r);
    free(out);
}

static void test_plot_errors(void **state) {
    (void)state;
    char *out = xasprintf("%s/plots-nognuplot", fx.dir);
    char *cmd = xasprintf("PATH=/nonexistent '%s/%s' plot --db '%s' --out '%s'", getcwd((char[4096]){0}, 4096), t2_bin(),
                          fx.db, out);
    if (t2_bin()[0] == '/') {
        free(cmd);
        cmd = xasprintf("PATH=/nonexistent '%s' plot --db '%s' --out '%s'", t2_bin(), fx.db, out);
    }
    RunResult r = run_sh(cmd);
    assert_one_line_error(&r, "gnuplot not found");
    assert_false(file_exists(out)); // nothing written
    run_free(&r);
    free(cmd);
    r = run_t2("plot", "--db", fx.empty_db, "--out", out, NULL);
    assert_one_line_error(&r, "no finished runs");
    assert_false(file_exists(out));
    run_free(&r);
    char *file = write_text(fx.dir, "a-file", "x");
    r = run_t2("plot", "--db", fx.db, "--out", file, NULL);
    assert_one_line_error(&r, "not a directory");
    run_free(&r);
    free(file);
    free(out);
}

// ---------------------------------------------------------------------------------------------
// t2 report.

// The value in column COL (1-based) of the runs-table row of RUN_ID.
static double runs_table_cell(const char *md, int run_id, int col) {
    const char *runs = strstr(md, "## Runs");
    assert_non_null(runs);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "\n| %d | ", run_id);
    const char *row = strstr(runs, prefix);
    assert_non_null(row);
    row += 2;
    for (int c = 0; c < col; c++) row = strchr(row + 1, '|');
    return strtod(row + 1, NULL);
}

static void test_report(void **state) {
    (void)state;
    char *md_path = xasprintf("%s/rep/report.md", fx.dir), *plots = xasprintf("%s/rep/figs", fx.dir);
    RunResult r = run_t2("report", "--db", fx.db, "--out", md_path, "--plots", plots, "--bootstrap", "10", NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    char *md = read_file(md_path, NULL);
    assert_non_null(md);
    static const char *const sections[] = {"# T² report: sweep atest", "## Headline: equal total compute", "## Runs",
                                           "## Fitted laws", "### chinchilla", "### t2-loss", "### t2-acc",
                                           "### coverage", "## Optimal allocations", "## Figures"};
    for (size_t i = 0; i < ARRAY_LEN(sections); i++)
        if (!strstr(md, sections[i])) fail_msg("no section %s", sections[i]);
    // One seed: the headline says what its intervals leave out.
    assert_non_null(strstr(md, "With one training seed, an interval covers the choice of problems and samples only"));
    // Figures: relative links that resolve from the report's directory.
    for (size_t i = 0; i < ARRAY_LEN(FIGS); i++) {
        char *link = xasprintf("](figs/%s.png)", FIGS[i]);
        assert_non_null(strstr(md, link));
        free(link);
    }
    assert_figures(plots);
    // Runs table: columns N, D, D/N, FLOPs, final, val, pass@1, pass@8, maj@8 against the database.
    for (int run = 0; run < 9; run += 4) {
        char *sql = xasprintf("SELECT n_params FROM runs WHERE run_id = %d", run);
        assert_true(runs_table_cell(md, run, 2) == query_real(fx.db, sql));
        free(sql);
        sql = xasprintf("SELECT train_tokens FROM runs WHERE run_id = %d", run);
        assert_true(runs_table_cell(md, run, 3) == query_real(fx.db, sql));
        free(sql);
        sql = xasprintf("SELECT val_loss FROM runs WHERE run_id = %d", run);
        assert_true(fabs(runs_table_cell(md, run, 7) - query_real(fx.db, sql)) <= 5e-5);
        free(sql);
        sql = xasprintf("SELECT answer_loss FROM runs WHERE run_id = %d", run);
        assert_true(fabs(runs_table_cell(md, run, 8) - query_real(fx.db, sql)) <= 5e-5);
        free(sql);
        sql = xasprintf("SELECT m.value FROM metrics m JOIN evals e USING (eval_id) WHERE e.run_id = %d AND "
                        "m.metric = 'pass' AND m.k = 1",
                        run);
        assert_true(fabs(runs_table_cell(md, run, 9) - query_real(fx.db, sql)) <= 5e-5);
        free(sql);
        sql = xasprintf("SELECT m.value FROM metrics m JOIN evals e USING (eval_id) WHERE e.run_id = %d AND "
                        "m.metric = 'maj' AND m.k = 8",
                        run);
        assert_true(fabs(runs_table_cell(md, run, 11) - query_real(fx.db, sql)) <= 5e-5);
        free(sql);
    }
    run_free(&r);
    free(md);
    free(md_path);
    free(plots);
}

// The headline recomputed here: at the largest budget and C_inf = 2.5e5, each run of the budget
// draws floor(C_inf / 2N) samples (at most 8); the best pass@k against the lowest-loss run.
static void test_report_headline(void **state) {
    (void)state;
    RunResult r = run_t2("report", "--db", fx.db, "--bootstrap", "0", NULL);
    if (r.status != 0) fail_msg("%s", r.err);
    Db *db;
    Analysis an;
    load(fx.db, &db, &an);
    int best = -1, lowest = -1;
    long best_k = 0;
    double best_pass = -1;
    for (size_t i = 0; i < an.n_runs; i++) {
        const AnRun *x = &an.runs[i];
        if (x->budget_idx != 2) continue;
        if (lowest < 0 || x->loss < an.runs[lowest].loss) lowest = (int)i;
        long k = MIN((long)floor(2.5e5 / (2 * x->N)), N_SAMPLES);
        if (k < 1) continue;
        double pass = 0;
        for (int p = 0; p < N_PROBLEMS; p++) pass += pass_at_k(N_SAMPLES, lround(N_SAMPLES * success(x->loss, p)), k);
        pass /= N_PROBLEMS;
        if (pass > best_pass) best_pass = pass, best = (int)i, best_k = k;
    }
    char want[128];
    snprintf(want, sizeof want, "run %d (", an.runs[best].run_id);
    const char *line = strstr(r.out, "**C_train = 3e+11 FLOPs, C_inf = 2.5e+05 FLOPs per query token.**");
    assert_non_null(line);
    const char *lead = "T² pick (the best sampled pass@k at its affordable k): ";
    const char *pick = strstr(line, lead);
    assert_non_null(pick);
    assert_true(strncmp(pick + strlen(lead), want, strlen(want)) == 0);
    snprintf(want, sizeof want, "with k = %ld", best_k);
    assert_non_null(strstr(pick, want));
    snprintf(want, sizeof want, "pass@%ld = %.4f", best_k, best_pass);
    if (!strstr(pick, want)) fail_msg("expected '%s' in: %.400s", want, pick);
    if (best != lowest) {
        snprintf(want, sizeof want, "(the lowest %s of this budget): run %d (", an.loss_column, an.runs[lowest].run_id);
        assert_non_null(strstr(line, want));
    }
    analysis_free(&an);
    db_close(db);
    run_free(&r);
    // Bad input: one line each.
    r = run_t2("report", "--db", fx.empty_db, NULL);
    assert_one_line_error(&r, "no finished runs");
    run_free(&r);
    char *missing = xasprintf("%s/missing.db", fx.dir);
    r = run_t2("report", "--db", missing, NULL);
    assert_one_line_error(&r, "no such database");
    run_free(&r);
    free(missing);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_neg_log_pass),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_fit_db_every_law),
        cmocka_unit_test(test_fit_db_recovers_law),
        cmocka_unit_test(test_fit_readonly_db),
        cmocka_unit_test(test_fit_db_bootstrap_resamples_kept),
        cmocka_unit_test(test_fit_db_errors),
        cmocka_unit_test(test_optimize_chinchilla_closed_form),
        cmocka_unit_test(test_optimize_t2_loss),
        cmocka_unit_test(test_loss_variable),
        cmocka_unit_test(test_optimize_spec_budgets),
        cmocka_unit_test(test_plot),
        cmocka_unit_test(test_plot_errors),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_report_headline),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
