// test_tasks.c — task configs (defaults, round trip, every error message), vocabularies,
// deterministic and distinct evaluation problems, training streams that avoid them, exact
// verifiers, robust answer extraction, packing and masks rebuilt independently, cursor resume,
// validation batches, the text task and recall's Zipf stream.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasks/tasks.h"
#include "testutil.h"
#include "util/util.h"

static const char SYMBOLS[] = "0123456789abcdefghijklmnopqrstuvwxyz";

// ---------------------------------------------------------------------------------------------
// Helpers

static int parse_config(const char *json, TaskConfig *c, const char *keypath) {
    cJSON *o = cJSON_Parse(json);
    if (!o) fail_msg("bad JSON in test: %s", json);
    int rc = task_config_parse(c, o, keypath);
    cJSON_Delete(o);
    return rc;
}

static Task *make_task(const char *json) {
    TaskConfig c;
    if (parse_config(json, &c, "task") != 0) fail_msg("%s: %s", json, err_msg());
    Task *t = task_create(&c);
    if (!t) fail_msg("task_create %s: %s", json, err_msg());
    return t;
}

static void expect_config_error(const char *json, const char *keypath, const char *want) {
    TaskConfig c;
    memset(&c, 0x5a, sizeof c);
    TaskConfig before = c;
    if (parse_config(json, &c, keypath) == 0) fail_msg("%s: accepted, expected: %s", json, want);
    if (strcmp(err_msg(), want) != 0) fail_msg("%s:\n  got  %s\n  want %s", json, err_msg(), want);
    assert_memory_equal(&c, &before, sizeof c); // nothing written on failure
}

// The generated-task configs most tests run over (small spaces make collisions likely).
static const char *const GENERATED[] = {
    "{\"name\":\"add\"}",
    "{\"name\":\"add\",\"digits\":3}",
    "{\"name\":\"add\",\"digits\":2,\"reversed\":true,\"eval_problems\":3000,\"seed\":5}",
    "{\"name\":\"add\",\"digits\":1,\"eval_problems\":50,\"loss\":\"answer\"}",
    "{\"name\":\"modarith\"}",
    "{\"name\":\"modarith\",\"modulus\":97}",
    "{\"name\":\"modarith\",\"modulus\":11,\"ops\":\"+-*/\",\"eval_problems\":200}",
    "{\"name\":\"chain\"}",
    "{\"name\":\"chain\",\"steps\":1,\"eval_problems\":150}",
    "{\"name\":\"chain\",\"steps\":12,\"digits\":3,\"loss\":\"answer\"}",
    "{\"name\":\"sort\"}",
    "{\"name\":\"sort\",\"length\":6,\"alphabet\":10}",
    "{\"name\":\"sort\",\"length\":2,\"alphabet\":10,\"eval_problems\":50}",
    "{\"name\":\"sort\",\"length\":32,\"alphabet\":36}",
    "{\"name\":\"recall\"}",
    "{\"name\":\"recall\",\"n_facts\":50,\"eval_problems\":50,\"zipf\":0}",
};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Sorted copies of the evaluation prompts, for bsearch.
static char **eval_prompts_sorted(const Task *t) {
    long n = task_n_eval(t);
    char **v = xmalloc((size_t)n * sizeof *v);
    for (long i = 0; i < n; i++) {
        char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX];
        task_eval_problem(t, i, p, a);
        v[i] = xstrdup(p);
    }
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    return v;
}

static void free_strings(char **v, long n) {
    for (long i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int is_eval_prompt(char **sorted, long n, const char *p) {
    return bsearch(&p, sorted, (size_t)n, sizeof *sorted, cmp_str) != NULL;
}

// ---------------------------------------------------------------------------------------------
// Configs

static void test_config_defaults_and_json(void **state) {
    (void)state;
    struct {
        const char *in, *json;
    } cases[] = {
        {"{\"name\":\"add\"}", "{\"name\":\"add\",\"eval_problems\":200,\"seed\":1,\"loss\":\"all\",\"digits\":2,\"reversed\":false}"},
        {"{\"name\":\"modarith\"}", "{\"name\":\"modarith\",\"eval_problems\":200,\"seed\":1,\"loss\":\"all\",\"modulus\":47,\"ops\":\"+\"}"},
        {"{\"name\":\"chain\"}", "{\"name\":\"chain\",\"eval_problems\":200,\"seed\":1,\"loss\":\"all\",\"steps\":6,\"digits\":1}"},
        {"{\"name\":\"sort\"}", "{\"name\":\"sort\",\"eval_problems\":200,\"seed\":1,\"loss\":\"all\",\"length\":12,\"alphabet\":20}"},
        {"{\"name\":\"recall\"}", "{\"name\":\"recall\",\"eval_problems\":200,\"seed\":1,\"loss\":\"all\",\"n_facts\":1000,\"zipf\":1}"},
        // Explicit knobs in any order come out in canonical order.
        {"{\"reversed\":true,\"seed\":9007199254740991,\"name\":\"add\",\"loss\":\"answer\",\"digits\":5}",
         "{\"name\":\"add\",\"eval_problems\":200,\"seed\":9007199254740991,\"loss\":\"answer\",\"digits\":5,\"reversed\":true}"},
        {"{\"name\":\"modarith\",\"ops\":\"/*\",\"modulus\":113,\"eval_problems\":1000}",
         "{\"name\":\"modarith\",\"eval_problems\":1000,\"seed\":1,\"loss\":\"all\",\"modulus\":113,\"ops\":\"/*\"}"},
        {"{\"name\":\"recall\",\"zipf\":0.75,\"n_facts\":1000}",
         "{\"name\":\"recall\",\"eval_problems\":200,\"seed\":1,\"loss\":\"all\",\"n_facts\":1000,\"zipf\":0.75}"},
        // Reals print with as many digits as reading them back exactly takes.
        {"{\"name\":\"recall\",\"zipf\":0.7071067811865476}",
         "{\"name\":\"recall\",\"eval_problems\":200,\"seed\":1,\"loss\":\"all\",\"n_facts\":1000,\"zipf\":0.70710678118654757}"},
        {"{\"name\":\"recall\",\"zipf\":1.1}",
         "{\"name\":\"recall\",\"eval_problems\":200,\"seed\":1,\"loss\":\"all\",\"n_facts\":1000,\"zipf\":1.1}"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        TaskConfig c, c2;
        if (parse_config(cases[i].in, &c, "task") != 0) fail_msg("%s: %s", cases[i].in, err_msg());
        char *json = task_config_json(&c);
        if (strcmp(json, cases[i].json) != 0) fail_msg("%s\n  got  %s\n  want %s", cases[i].in, json, cases[i].json);
        // Round trip: the canonical JSON parses back to the same config.
        assert_int_equal(parse_config(json, &c2, "task"), 0);
        assert_memory_equal(&c, &c2, sizeof c);
        free(json);
    }
    TaskConfig c;
    assert_int_equal(parse_config("{\"name\":\"add\",\"seed\":7,\"digits\":4}", &c, "task"), 0);
    assert_int_equal(c.kind, TASK_ADD);
    assert_string_equal(c.name, "add");
    assert_int_equal(c.seed, 7);
    assert_int_equal(c.digits, 4);
    assert_int_equal(c.eval_problems, 200);
    assert_int_equal(c.answer_loss_only, 0);
}

static void test_config_errors(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"3", "task: must be an object such as {\"name\": \"add\"}, got 3"},
        {"[]", "task: must be an object such as {\"name\": \"add\"}, got an array"},
        {"{}", "task.name: missing (known: add, modarith, chain, sort, recall, text)"},
        {"{\"name\":7}", "task.name: must be a string naming the task (known: add, modarith, chain, sort, recall, text), got 7"},
        {"{\"name\":\"mul\"}", "task.name: unknown task 'mul' (known: add, modarith, chain, sort, recall, text)"},
        {"{\"name\":\"Add\"}", "task.name: unknown task 'Add' (known: add, modarith, chain, sort, recall, text)"},
        {"{\"name\":\"add\",\"digits\":12}", "task.digits: must be an integer in [1, 9], got 12"},
        {"{\"name\":\"add\",\"digits\":0}", "task.digits: must be an integer in [1, 9], got 0"},
        {"{\"name\":\"add\",\"digits\":2.5}", "task.digits: must be an integer in [1, 9], got 2.5"},
        {"{\"name\":\"add\",\"digits\":\"3\"}", "task.digits: must be an integer in [1, 9], got \"3\""},
        {"{\"name\":\"add\",\"digits\":null}", "task.digits: must be an integer in [1, 9], got null"},
        {"{\"name\":\"add\",\"digits\":1e300}", "task.digits: must be an integer in [1, 9], got 1e+300"},
        {"{\"name\":\"add\",\"reversed\":1}", "task.reversed: must be true or false, got 1"},
        {"{\"name\":\"add\",\"loss\":\"tokens\"}", "task.loss: must be \"all\" or \"answer\", got \"tokens\""},
        {"{\"name\":\"add\",\"loss\":true}", "task.loss: must be \"all\" or \"answer\", got true"},
        {"{\"name\":\"add\",\"modulus\":97}",
         "task.modulus: not a knob of add (add takes: name, eval_problems, seed, loss, digits, reversed)"},
        {"{\"name\":\"add\",\"colour\":1}", "task.colour: unknown key (add takes: name, eval_problems, seed, loss, digits, reversed)"},
        {"{\"name\":\"add\",\"digits\":2,\"digits\":3}", "task.digits: given twice"},
        {"{\"name\":\"add\",\"digits\":1,\"eval_problems\":5000}",
         "task.eval_problems: 5000 exceeds the 100 distinct problems of add with digits 1"},
        {"{\"name\":\"add\",\"digits\":1,\"eval_problems\":51}",
         "task.eval_problems: 51 leaves too few training problems: add with digits 1 has 100 distinct problems and at "
         "most half (50) may be held out for evaluation"},
        {"{\"name\":\"add\",\"digits\":1}",
         "task.eval_problems: 200 exceeds the 100 distinct problems of add with digits 1"},
        {"{\"name\":\"add\",\"eval_problems\":0}", "task.eval_problems: must be an integer in [1, 100000], got 0"},
        {"{\"name\":\"add\",\"eval_problems\":100001}", "task.eval_problems: must be an integer in [1, 100000], got 100001"},
        {"{\"name\":\"add\",\"seed\":-1}", "task.seed: must be an integer in [0, 9007199254740991], got -1"},
        {"{\"name\":\"add\",\"seed\":1.5}", "task.seed: must be an integer in [0, 9007199254740991], got 1.5"},
        {"{\"name\":\"modarith\",\"modulus\":91,\"ops\":\"+/\"}", "task.ops: '/' needs a prime modulus, 91 is not prime"},
        {"{\"name\":\"modarith\",\"ops\":\"x\"}",
         "task.ops: must be a non-empty string of distinct operators from \"+-*/\", got \"x\""},
        {"{\"name\":\"modarith\",\"ops\":\"\"}",
         "task.ops: must be a non-empty string of distinct operators from \"+-*/\", got \"\""},
        {"{\"name\":\"modarith\",\"ops\":\"++\"}",
         "task.ops: must be a non-empty string of distinct operators from \"+-*/\", got \"++\""},
        {"{\"name\":\"modarith\",\"ops\":[\"+\"]}",
         "task.ops: must be a non-empty string of distinct operators from \"+-*/\", got an array"},
        {"{\"name\":\"modarith\",\"ops\":\"+-*/+-*/\"}",
         "task.ops: must be a non-empty string of distinct operators from \"+-*/\", got \"+-*/+-*/\""},
        {"{\"name\":\"modarith\",\"modulus\":1}", "task.modulus: must be an integer in [2, 10000], got 1"},
        {"{\"name\":\"modarith\",\"modulus\":5,\"eval_problems\":20}",
         "task.eval_problems: 20 leaves too few training problems: modarith with modulus 5, ops \"+\" has 25 distinct "
         "problems and at most half (12) may be held out for evaluation"},
        {"{\"name\":\"chain\",\"steps\":0}", "task.steps: must be an integer in [1, 12], got 0"},
        {"{\"name\":\"chain\",\"digits\":4}", "task.digits: must be an integer in [1, 3], got 4"},
        {"{\"name\":\"chain\",\"steps\":1,\"digits\":1}",
         "task.eval_problems: 200 leaves too few training problems: chain with steps 1, digits 1 has 300 distinct "
         "problems and at most half (150) may be held out for evaluation"},
        {"{\"name\":\"chain\",\"reversed\":true}",
         "task.reversed: not a knob of chain (chain takes: name, eval_problems, seed, loss, steps, digits)"},
        {"{\"name\":\"sort\",\"alphabet\":37}", "task.alphabet: must be an integer in [2, 36], got 37"},
        {"{\"name\":\"sort\",\"length\":1}", "task.length: must be an integer in [2, 32], got 1"},
        {"{\"name\":\"sort\",\"length\":2,\"alphabet\":2}",
         "task.eval_problems: 200 exceeds the 4 distinct problems of sort with length 2, alphabet 2"},
        {"{\"name\":\"recall\",\"n_facts\":100}",
         "task.eval_problems: 200 exceeds the 100 facts of recall with n_facts 100 (each problem queries a different fact)"},
        {"{\"name\":\"recall\",\"zipf\":-0.5}", "task.zipf: must be a number in [0, 4], got -0.5"},
        {"{\"name\":\"recall\",\"zipf\":\"1\"}", "task.zipf: must be a number in [0, 4], got \"1\""},
        {"{\"name\":\"recall\",\"n_facts\":0}", "task.n_facts: must be an integer in [1, 100000], got 0"},
        {"{\"name\":\"text\"}", "task.path: missing (text trains on a file: \"path\": \"FILE\")"},
        {"{\"name\":\"text\",\"path\":3}", "task.path: must be a non-empty string naming a file, got 3"},
        {"{\"name\":\"text\",\"path\":\"\"}", "task.path: must be a non-empty string naming a file, got \"\""},
        {"{\"name\":\"text\",\"path\":\"/nonexistent/x.txt\"}", "task.path: /nonexistent/x.txt: cannot open: No such file or directory"},
        {"{\"name\":\"text\",\"path\":\"/\"}", "task.path: /: not a regular file"},
        {"{\"name\":\"text\",\"path\":\"x\",\"seed\":1}", "task.seed: not a knob of text (text takes: name, path)"},
        {"{\"name\":\"text\",\"path\":\"x\",\"eval_problems\":10}",
         "task.eval_problems: not a knob of text (text takes: name, path)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) expect_config_error(cases[i][0], "task", cases[i][1]);
    // The key path is the caller's.
    expect_config_error("{\"name\":\"add\",\"digits\":12}", "spec.task", "spec.task.digits: must be an integer in [1, 9], got 12");
}

// Configs built in code are checked by task_create with the same messages.
static void test_create_checks_config(void **state) {
    (void)state;
    TaskConfig c;
    assert_int_equal(parse_config("{\"name\":\"add\"}", &c, "task"), 0);
    c.digits = 0;
    assert_null(task_create(&c));
    assert_string_equal(err_msg(), "task.digits: must be an integer in [1, 9], got 0");
    assert_int_equal(parse_config("{\"name\":\"modarith\",\"ops\":\"+/\"}", &c, "task"), 0);
    c.modulus = 91;
    assert_null(task_create(&c));
    assert_string_equal(err_msg(), "task.ops: '/' needs a prime modulus, 91 is not prime");
    assert_int_equal(parse_config("{\"name\":\"recall\"}", &c, "task"), 0);
    c.zipf = NAN;
    assert_null(task_create(&c));
    assert_string_equal(err_msg(), "task.zipf: must be a number in [0, 4], got nan");
}

// ---------------------------------------------------------------------------------------------
// Vocabulary

static void test_vocab(void **state) {
    (void)state;
    struct {
        const char *json, *chars;
    } cases[] = {
        {"{\"name\":\"add\"}", "0123456789+="},
        {"{\"name\":\"modarith\"}", "0123456789+-*/="},
        {"{\"name\":\"chain\"}", "0123456789+-*=,>"},
        {"{\"name\":\"sort\",\"alphabet\":12}", "0123456789ab="},
        {"{\"name\":\"recall\"}", "abcdefghijklmnopqrstuvwxyz?"},
    };
    char buf[16];
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        Task *t = make_task(cases[i].json);
        int n = (int)strlen(cases[i].chars);
        assert_int_equal(task_vocab_size(t), n + 2);
        assert_string_equal(task_token_text(t, TOKEN_BOS, buf), "<bos>");
        assert_string_equal(task_token_text(t, TOKEN_EOS, buf), "<eos>");
        for (int id = 2; id < n + 2; id++) {
            char want[2] = {cases[i].chars[id - 2], 0};
            assert_string_equal(task_token_text(t, id, buf), want);
        }
        assert_string_equal(task_token_text(t, n + 2, buf), "<unk>");
        // Every character encodes to its id and back.
        int ids[64];
        assert_int_equal(task_encode(t, cases[i].chars, ids, 64), n);
        for (int k = 0; k < n; k++) assert_int_equal(ids[k], k + 2);
        char out[64];
        assert_int_equal(task_decode(t, ids, n, out, sizeof out), (size_t)n);
        assert_string_equal(out, cases[i].chars);
        task_free(t);
    }
}

static void test_encode_decode(void **state) {
    (void)state;
    for (size_t c = 0; c < ARRAY_LEN(GENERATED); c++) {
        Task *t = make_task(GENERATED[c]);
        for (long i = 0; i < task_n_eval(t) && i < 500; i++) {
            char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX], out[TASK_TEXT_MAX];
            int ids[TASK_TEXT_MAX];
            task_eval_problem(t, i, p, a);
            for (int k = 0; k < 2; k++) {
                const char *s = k ? a : p;
                int n = task_encode(t, s, ids, TASK_TEXT_MAX);
                assert_int_equal(n, (int)strlen(s));
                assert_int_equal(task_decode(t, ids, n, out, sizeof out), strlen(s));
                assert_string_equal(out, s);
            }
        }
        task_free(t);
    }
    Task *t = make_task("{\"name\":\"add\"}");
    int ids[8];
    assert_int_equal(task_encode(t, "12x", ids, 8), -1);
    assert_string_equal(err_msg(), "character 'x' is not in the vocabulary of task add (\"0123456789+=\")");
    assert_int_equal(task_encode(t, "1\n", ids, 8), -1);
    assert_string_equal(err_msg(), "byte 0x0A is not in the vocabulary of task add (\"0123456789+=\")");
    assert_int_equal(task_encode(t, "123456789", ids, 8), -1);
    assert_string_equal(err_msg(), "text of 9 characters is longer than the limit of 8 tokens");
    assert_int_equal(task_encode(t, "", ids, 8), 0);
    // Decoding skips BOS, stops at EOS, truncates to the buffer and skips ids outside the vocabulary.
    int seq[] = {TOKEN_BOS, 3, 12, 99, 4, TOKEN_EOS, 5};
    char out[8];
    assert_int_equal(task_decode(t, seq, 7, out, sizeof out), 3);
    assert_string_equal(out, "1+2");
    assert_int_equal(task_decode(t, seq, 7, out, 3), 2);
    assert_string_equal(out, "1+");
    assert_int_equal(task_decode(t, seq, 7, out, 0), 0);
    task_free(t);
}

// ---------------------------------------------------------------------------------------------
// Determinism and distinctness

static void batches(const Task *t, TaskCursor *cur, int n, int *tokens, unsigned char *mask, int *pos, int B, int T) {
    for (int i = 0; i < n; i++)
        task_train_batch(t, cur, tokens + (size_t)i * B * (T + 1), mask + (size_t)i * B * T, pos + (size_t)i * B * T, B, T);
}

static void test_deterministic(void **state) {
    (void)state;
    enum { B = 4, T = 80, NB = 3 }; // rows hold the longest example of every config
    int tok1[NB * B * (T + 1)], tok2[NB * B * (T + 1)], pos1[NB * B * T], pos2[NB * B * T];
    unsigned char m1[NB * B * T], m2[NB * B * T];
    for (size_t c = 0; c < ARRAY_LEN(GENERATED); c++) {
        Task *a = make_task(GENERATED[c]), *b = make_task(GENERATED[c]);
        long n = task_n_eval(a);
        assert_int_equal(task_n_eval(b), n);
        for (long i = 0; i < n; i++) {
            char pa[TASK_TEXT_MAX], ta[TASK_TEXT_MAX], pb[TASK_TEXT_MAX], tb[TASK_TEXT_MAX];
            task_eval_problem(a, i, pa, ta);
            task_eval_problem(b, i, pb, tb);
            assert_string_equal(pa, pb);
            assert_string_equal(ta, tb);
        }
        TaskCursor ca = {0, 0}, cb = {0, 0};
        batches(a, &ca, NB, tok1, m1, pos1, B, T);
        batches(b, &cb, NB, tok2, m2, pos2, B, T);
        assert_memory_equal(tok1, tok2, sizeof tok1);
        assert_memory_equal(m1, m2, sizeof m1);
        assert_memory_equal(pos1, pos2, sizeof pos1);
        // Distinct evaluation problems.
        char **sorted = eval_prompts_sorted(a);
        for (long i = 1; i < n; i++)
            if (strcmp(sorted[i - 1], sorted[i]) == 0) fail_msg("%s: eval prompt %s twice", GENERATED[c], sorted[i]);
        free_strings(sorted, n);
        task_free(a);
        task_free(b);
    }
}

static void test_seed_changes_everything(void **state) {
    (void)state;
    const char *names[] = {"add", "modarith", "chain", "sort", "recall"};
    enum { B = 2, T = 64 };
    for (size_t k = 0; k < ARRAY_LEN(names); k++) {
        char j1[128], j2[128];
        snprintf(j1, sizeof j1, "{\"name\":\"%s\",\"seed\":1}", names[k]);
        snprintf(j2, sizeof j2, "{\"name\":\"%s\",\"seed\":2}", names[k]);
        Task *a = make_task(j1), *b = make_task(j2);
        int same = 0;
        for (long i = 0; i < task_n_eval(a); i++) {
            char pa[TASK_TEXT_MAX], ta[TASK_TEXT_MAX], pb[TASK_TEXT_MAX], tb[TASK_TEXT_MAX];
            task_eval_problem(a, i, pa, ta);
            task_eval_problem(b, i, pb, tb);
            same += strcmp(pa, pb) == 0 && strcmp(ta, tb) == 0;
        }
        assert_true(same < task_n_eval(a) / 4);
        int ta_[B * (T + 1)], tb_[B * (T + 1)], pa_[B * T], pb_[B * T];
        unsigned char ma[B * T], mb[B * T];
        TaskCursor ca = {0, 0}, cb = {0, 0};
        task_train_batch(a, &ca, ta_, ma, pa_, B, T);
        task_train_batch(b, &cb, tb_, mb, pb_, B, T);
        assert_true(memcmp(ta_, tb_, sizeof ta_) != 0);
        task_free(a);
        task_free(b);
    }
}

// Problem i does not depend on how many problems there are.
static void test_eval_prefix_stable(void **state) {
    (void)state;
    Task *a = make_task("{\"name\":\"add\",\"digits\":2,\"eval_problems\":50}");
    Task *b = make_task("{\"name\":\"add\",\"digits\":2,\"eval_problems\":4000}");
    for (long i = 0; i < 50; i++) {
        char pa[TASK_TEXT_MAX], ta[TASK_TEXT_MAX], pb[TASK_TEXT_MAX], tb[TASK_TEXT_MAX];
        task_eval_problem(a, i, pa, ta);
        task_eval_problem(b, i, pb, tb);
        assert_string_equal(pa, pb);
        assert_string_equal(ta, tb);
    }
    char p[TASK_TEXT_MAX], tg[TASK_TEXT_MAX];
    task_eval_problem(a, 50, p, tg); // out of range: empty strings
    assert_string_equal(p, "");
    assert_string_equal(tg, "");
    task_free(a);
    task_free(b);
}

// Training examples never equal an evaluation problem, whether read one by one or from the
// packed batches, and the training stream still reaches every problem outside the held-out set.
static void test_train_disjoint_from_eval(void **state) {
    (void)state;
    for (size_t c = 0; c < ARRAY_LEN(GENERATED); c++) {
        Task *t = make_task(GENERATED[c]);
        if (task_config(t)->kind == TASK_RECALL) {
            task_free(t);
            continue;
        }
        long n = task_n_eval(t);
        char **sorted = eval_prompts_sorted(t);
        for (uint64_t j = 0; j < 20000; j++) {
            char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX];
            task_train_example(t, j, p, a);
            if (is_eval_prompt(sorted, n, p)) fail_msg("%s: training example %llu is eval prompt %s", GENERATED[c], (unsigned long long)j, p);
        }
        // The packed stream, decoded back into prompts.
        enum { B = 8, T = 80 };
        int tok[B * (T + 1)], pos[B * T];
        unsigned char mask[B * T];
        TaskCursor cur = {0, 0};
        char prompt[TASK_TEXT_MAX];
        int len = -1; // characters of the current prompt, −1 before the first BOS
        int eq = '=';
        if (task_config(t)->kind == TASK_RECALL) eq = '?';
        for (int batch = 0; batch < 50; batch++) {
            task_train_batch(t, &cur, tok, mask, pos, B, T);
            for (int b = 0; b < B; b++)
                for (int i = 0; i <= T; i++) { // every row starts with a whole example
                    int id = tok[b * (T + 1) + i];
                    char ch[16];
                    task_token_text(t, id, ch);
                    if (id == TOKEN_BOS) {
                        len = 0;
                    } else if (len >= 0 && id != TOKEN_EOS) {
                        prompt[len++] = ch[0];
                        prompt[len] = '\0';
                        if (ch[0] == eq) {
                            assert_false(is_eval_prompt(sorted, n, prompt));
                            len = -1;
                        }
                    }
                }
        }
        free_strings(sorted, n);
        task_free(t);
    }
    // Coverage: add with digits 1 holds out 50 of 100 problems; training reaches the other 50.
    Task *t = make_task("{\"name\":\"add\",\"digits\":1,\"eval_problems\":50}");
    char **sorted = eval_prompts_sorted(t);
    char **seen = xmalloc(5000 * sizeof *seen);
    for (int j = 0; j < 5000; j++) {
        char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX];
        task_train_example(t, (uint64_t)j, p, a);
        seen[j] = xstrdup(p);
    }
    qsort(seen, 5000, sizeof *seen, cmp_str);
    int distinct = 1;
    for (int j = 1; j < 5000; j++) distinct += strcmp(seen[j - 1], seen[j]) != 0;
    assert_int_equal(distinct, 50);
    free_strings(seen, 5000);
    free_strings(sorted, 50);
    task_free(t);
}

// ---------------------------------------------------------------------------------------------
// Verifiers: gold answers recomputed from the prompt by independent code

static void expected_add(const char *prompt, int reversed, char *out) {
    unsigned long long a, b;
    char tail;
    assert_int_equal(sscanf(prompt, "%llu+%llu%c", &a, &b, &tail), 3);
    assert_int_equal(tail, '=');
    sprintf(out, "%llu", a + b);
    if (reversed) {
        size_t n = strlen(out);
        for (size_t i = 0; i < n / 2; i++) {
            char c = out[i];
            out[i] = out[n - 1 - i];
            out[n - 1 - i] = c;
        }
    }
}

static void expected_modarith(const char *prompt, long p, const char *ops, char *out) {
    long a, b;
    char op, tail;
    assert_int_equal(sscanf(prompt, "%ld%c%ld%c", &a, &op, &b, &tail), 4);
    assert_int_equal(tail, '=');
    assert_non_null(strchr(ops, op));
    assert_true(a >= 0 && a < p && b >= 0 && b < p);
    long v = -1;
    if (op == '+') v = (a + b) % p;
    if (op == '-') v = ((a - b) % p + p) % p;
    if (op == '*') v = a * b % p;
    if (op == '/') {
        assert_true(b != 0);
        for (long x = 0; x < p; x++) // the x with x·b ≡ a
            if (x * b % p == a) v = x;
    }
    sprintf(out, "%ld", v);
}

static void expected_chain(const char *prompt, int digits, int steps, char *scratch, char *final) {
    long m = digits == 1 ? 10 : digits == 2 ? 100 : 1000;
    const char *s = prompt;
    char *end;
    long v = strtol(s, &end, 10);
    s = end;
    scratch[0] = '\0';
    for (int k = 0; k < steps; k++) {
        char op = *s++;
        long x = strtol(s, &end, 10);
        assert_true(end > s && x < m);
        s = end;
        v = op == '+' ? (v + x) % m : op == '-' ? ((v - x) % m + m) % m : v * x % m;
        char part[16];
        sprintf(part, k == steps - 1 ? ">%ld" : k == 0 ? "%ld" : ",%ld", v);
        strcat(scratch, part);
    }
    assert_string_equal(s, "=");
    sprintf(final, "%ld", v);
}

static int cmp_symbol(const void *a, const void *b) {
    return (int)(strchr(SYMBOLS, *(const char *)a) - strchr(SYMBOLS, *(const char *)b));
}

static void expected_sort(const char *prompt, int length, int alphabet, char *out) {
    size_t n = strlen(prompt);
    assert_int_equal(n, (size_t)length + 1);
    assert_int_equal(prompt[n - 1], '=');
    memcpy(out, prompt, n - 1);
    out[n - 1] = '\0';
    for (size_t i = 0; i + 1 < n; i++) assert_true(strchr(SYMBOLS, out[i]) - SYMBOLS < alphabet);
    qsort(out, n - 1, 1, cmp_symbol);
}

// Perturbations of a correct answer that must all be rejected.
static void check_perturbed(const Task *t, long i, const char *answer, const char *symbols) {
    char bad[TASK_TEXT_MAX + 2]; // room for one symbol more
    size_t n = strlen(answer);
    for (size_t pos = 0; pos < n; pos++) { // one symbol changed
        strcpy(bad, answer);
        bad[pos] = symbols[(strchr(symbols, bad[pos]) - symbols + 1) % strlen(symbols)];
        assert_false(task_is_correct(t, i, bad));
    }
    snprintf(bad, sizeof bad, "%s%c", answer, symbols[0]); // one symbol more
    assert_false(task_is_correct(t, i, bad));
    snprintf(bad, sizeof bad, "%c%s", symbols[1], answer);
    assert_false(task_is_correct(t, i, bad));
    if (n > 1) { // one symbol fewer
        snprintf(bad, sizeof bad, "%.*s", (int)(n - 1), answer);
        assert_false(task_is_correct(t, i, bad));
    }
    assert_false(task_is_correct(t, i, ""));
}

static void test_verifiers(void **state) {
    (void)state;
    for (size_t c = 0; c < ARRAY_LEN(GENERATED); c++) {
        Task *t = make_task(GENERATED[c]);
        const TaskConfig *cfg = task_config(t);
        long n = task_n_eval(t);
        for (long i = 0; i < n; i++) {
            char p[TASK_TEXT_MAX], target[TASK_TEXT_MAX], want[TASK_TEXT_MAX], final[TASK_TEXT_MAX];
            task_eval_problem(t, i, p, target);
            char symbols[40] = "0123456789"; // what a perturbed answer is made of
            switch (cfg->kind) {
            case TASK_ADD: expected_add(p, cfg->reversed, want); break;
            case TASK_MODARITH: expected_modarith(p, cfg->modulus, cfg->ops, want); break;
            case TASK_CHAIN: expected_chain(p, cfg->digits, cfg->steps, want, final); break;
            case TASK_SORT:
                expected_sort(p, cfg->length, cfg->alphabet, want);
                snprintf(symbols, sizeof symbols, "%.*s", cfg->alphabet, SYMBOLS);
                break;
            default: // recall: checked against the training stream in test_recall
                strcpy(want, target);
                strcpy(symbols, "abcdefghijklmnopqrstuvwxyz");
                break;
            }
            if (strcmp(target, want) != 0) fail_msg("%s: problem %ld %s: target %s, want %s", GENERATED[c], i, p, target, want);
            char got[TASK_TEXT_MAX];
            assert_int_equal(task_extract_answer(t, target, got), 1);
            const char *gold = cfg->kind == TASK_CHAIN ? final : want;
            assert_string_equal(got, gold);
            assert_true(task_is_correct(t, i, got));
            check_perturbed(t, i, gold, symbols);
        }
        // Out-of-range problems and NULL answers are never correct.
        assert_false(task_is_correct(t, -1, "1"));
        assert_false(task_is_correct(t, n, "1"));
        assert_false(task_is_correct(t, 0, NULL));
        task_free(t);
    }
}

// ---------------------------------------------------------------------------------------------
// Answer extraction

static void test_extract_cases(void **state) {
    (void)state;
    struct {
        const char *task, *completion, *answer; // answer NULL: malformed
    } cases[] = {
        {"{\"name\":\"add\"}", "579", "579"},
        {"{\"name\":\"add\"}", "0579", "0579"}, // strings are compared exactly: "0579" is not "579"
        {"{\"name\":\"add\"}", "", NULL},
        {"{\"name\":\"add\"}", "57a", NULL},
        {"{\"name\":\"add\"}", " 579", NULL},
        {"{\"name\":\"add\"}", "579=", NULL},
        {"{\"name\":\"add\"}", "-5", NULL},
        {"{\"name\":\"modarith\"}", "96", "96"},
        {"{\"name\":\"modarith\"}", "9 6", NULL},
        {"{\"name\":\"chain\"}", "7,4>9", "9"},
        {"{\"name\":\"chain\"}", ">9", "9"},
        {"{\"name\":\"chain\"}", "anything+*=>12", "12"},
        {"{\"name\":\"chain\"}", "7,4,9", NULL}, // no marker
        {"{\"name\":\"chain\"}", "7,4>", NULL},
        {"{\"name\":\"chain\"}", "7,4>9>9", NULL},
        {"{\"name\":\"chain\"}", "7>9,", NULL},
        {"{\"name\":\"sort\"}", "013699", "013699"},
        {"{\"name\":\"sort\",\"alphabet\":10}", "01a", NULL}, // 'a' is outside alphabet 10
        {"{\"name\":\"sort\",\"alphabet\":11}", "01a", "01a"},
        {"{\"name\":\"sort\"}", "=", NULL},
        {"{\"name\":\"recall\"}", "bgl", "bgl"},
        {"{\"name\":\"recall\"}", "bg?", NULL},
        {"{\"name\":\"recall\"}", "BGL", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        Task *t = make_task(cases[i].task);
        char answer[TASK_TEXT_MAX];
        int ok = task_extract_answer(t, cases[i].completion, answer);
        if (ok != (cases[i].answer != NULL)) fail_msg("%s '%s': returned %d", cases[i].task, cases[i].completion, ok);
        assert_string_equal(answer, cases[i].answer ? cases[i].answer : "");
        task_free(t);
    }
    Task *t = make_task("{\"name\":\"add\"}");
    char answer[TASK_TEXT_MAX], long_digits[400];
    memset(long_digits, '7', sizeof long_digits - 1);
    long_digits[sizeof long_digits - 1] = '\0';
    assert_int_equal(task_extract_answer(t, long_digits, answer), 0); // longer than any answer can be stored
    long_digits[TASK_TEXT_MAX - 1] = '\0';
    assert_int_equal(task_extract_answer(t, long_digits, answer), 1);
    assert_int_equal(task_extract_answer(t, NULL, answer), 0);
    task_free(t);
}

static void test_extract_garbage(void **state) {
    (void)state;
    const char *configs[] = {"{\"name\":\"add\"}", "{\"name\":\"modarith\"}", "{\"name\":\"chain\"}",
                             "{\"name\":\"sort\",\"alphabet\":36}", "{\"name\":\"recall\"}"};
    const char *allowed[] = {"0123456789", "0123456789", "0123456789", SYMBOLS, "abcdefghijklmnopqrstuvwxyz"};
    Rng r;
    rng_seed(&r, 99);
    for (size_t c = 0; c < ARRAY_LEN(configs); c++) {
        Task *t = make_task(configs[c]);
        char p0[TASK_TEXT_MAX], target0[TASK_TEXT_MAX], gold0[TASK_TEXT_MAX];
        task_eval_problem(t, 0, p0, target0);
        assert_int_equal(task_extract_answer(t, target0, gold0), 1);
        int accepted = 0;
        for (int trial = 0; trial < 20000; trial++) {
            char s[400], answer[TASK_TEXT_MAX];
            size_t n = rng_below(&r, trial % 2 ? 8 : sizeof s);
            // Half the strings use the task's own characters, so that some are well formed.
            for (size_t i = 0; i < n; i++)
                s[i] = trial % 2 ? "0123456789>,=+abc"[rng_below(&r, 17)] : (char)(1 + rng_below(&r, 255));
            s[n] = '\0';
            int ok = task_extract_answer(t, s, answer);
            assert_true(ok == 0 || ok == 1);
            if (ok) {
                accepted++;
                size_t len = strlen(answer);
                assert_true(len > 0 && len < TASK_TEXT_MAX);
                assert_int_equal(strspn(answer, allowed[c]), len);
            } else {
                assert_string_equal(answer, "");
            }
            assert_int_equal(task_is_correct(t, 0, answer), ok && strcmp(answer, gold0) == 0);
        }
        assert_true(accepted > 0);
        task_free(t);
    }
}

// ---------------------------------------------------------------------------------------------
// Rows of whole examples and their masks, rebuilt from task_train_example by independent code

enum { ROLE_BOS, ROLE_PROMPT, ROLE_ANSWER, ROLE_EOS };

// One example "BOS prompt answer EOS" as ids with the role of each token.
typedef struct {
    int n;
    int ids[2 * TASK_TEXT_MAX];
    unsigned char role[2 * TASK_TEXT_MAX];
} Ex;

// Training example j, or evaluation problem j (eval).
static void build_example(const Task *t, uint64_t j, int eval, Ex *e) {
    char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX];
    if (eval)
        task_eval_problem(t, (long)j, p, a);
    else
        task_train_example(t, j, p, a);
    e->n = 0;
    e->ids[e->n] = TOKEN_BOS;
    e->role[e->n++] = ROLE_BOS;
    int np = task_encode(t, p, e->ids + e->n, TASK_TEXT_MAX);
    assert_true(np > 0);
    memset(e->role + e->n, ROLE_PROMPT, (size_t)np);
    e->n += np;
    int na = task_encode(t, a, e->ids + e->n, TASK_TEXT_MAX);
    assert_true(na > 0);
    memset(e->role + e->n, ROLE_ANSWER, (size_t)na);
    e->n += na;
    e->ids[e->n] = TOKEN_EOS;
    e->role[e->n++] = ROLE_EOS;
}

static int counts(int role, int answer_only) { return role == ROLE_BOS ? 0 : role == ROLE_PROMPT ? !answer_only : 1; }

// Check one row of T + 1 tokens: whole examples first, first + 1, ... (below LIMIT) while they
// fit, then EOS padding whose targets never count; positions restart with each example.
// Returns the first example not in the row.
static uint64_t check_row(const Task *t, uint64_t first, uint64_t limit, int eval, int answer_only, const int *row,
                          const unsigned char *mrow, const int *prow, int T) {
    int at = 0;
    uint64_t j = first;
    Ex e;
    for (; j < limit; j++) {
        build_example(t, j, eval, &e);
        if (at + e.n > T + 1) break;
        for (int k = 0; k < e.n; k++, at++) {
            assert_int_equal(row[at], e.ids[k]);
            if (at > 0) assert_int_equal(mrow[at - 1], counts(e.role[k], answer_only));
            if (at < T) assert_int_equal(prow[at], k);
        }
    }
    assert_true(j > first || first == limit); // a row holds at least one example
    for (int pad = at; at <= T; at++) {
        assert_int_equal(row[at], TOKEN_EOS);
        if (at > 0) assert_int_equal(mrow[at - 1], 0);
        if (at < T) assert_int_equal(prow[at], at - pad);
    }
    return j;
}

static void test_packing_and_masks(void **state) {
    (void)state;
    for (size_t c = 0; c < ARRAY_LEN(GENERATED); c++) {
        Task *t = make_task(GENERATED[c]);
        int longest = task_max_prompt_tokens(t) + task_max_answer_tokens(t); // BOS prompt answer EOS
        // (B, T): rows exactly as long as the longest example, a little longer, long
        const int shapes[][2] = {{3, longest - 1}, {2, longest + 4}, {4, MAX(64, 3 * longest)}};
        for (size_t sh = 0; sh < ARRAY_LEN(shapes); sh++) {
            int B = shapes[sh][0], T = shapes[sh][1], NB = 5;
            int *tok = xmalloc((size_t)B * (T + 1) * sizeof *tok), *pos = xmalloc((size_t)B * T * sizeof *pos);
            unsigned char *mask = xmalloc((size_t)B * T);
            TaskCursor cur = {0, 0};
            uint64_t next = 0;
            for (int nb = 0; nb < NB; nb++) {
                task_train_batch(t, &cur, tok, mask, pos, B, T);
                for (int b = 0; b < B; b++)
                    next = check_row(t, next, UINT64_MAX, 0, task_config(t)->answer_loss_only, tok + b * (T + 1),
                                     mask + b * T, pos + b * T, T);
                assert_int_equal(cur.example, next);
            }
            free(tok);
            free(pos);
            free(mask);
        }
        task_free(t);
    }
}

// Three batches straight equal one batch, the saved cursor, and two batches in a new Task.
static void check_resume(const char *json, TaskCursor start, int B, int T) {
    size_t nt = (size_t)B * (T + 1), nm = (size_t)B * T;
    int *straight = xmalloc(3 * nt * sizeof(int)), *resumed = xmalloc(3 * nt * sizeof(int));
    int *ps = xmalloc(3 * nm * sizeof(int)), *pr = xmalloc(3 * nm * sizeof(int));
    unsigned char *ms = xmalloc(3 * nm), *mr = xmalloc(3 * nm);
    Task *a = make_task(json);
    TaskCursor cur = start;
    for (int i = 0; i < 3; i++) task_train_batch(a, &cur, straight + i * nt, ms + i * nm, ps + i * nm, B, T);
    cur = start;
    task_train_batch(a, &cur, resumed, mr, pr, B, T);
    TaskCursor saved = cur;
    int text = task_n_eval(a) == 0;
    task_free(a);
    Task *b = make_task(json);
    for (int i = 1; i < 3; i++) task_train_batch(b, &saved, resumed + i * nt, mr + i * nm, pr + i * nm, B, T);
    assert_memory_equal(straight, resumed, 3 * nt * sizeof(int));
    assert_memory_equal(ms, mr, 3 * nm);
    assert_memory_equal(ps, pr, 3 * nm * sizeof(int));
    for (size_t r = 0; r < (size_t)(3 * B); r++) {
        if (text) // consecutive windows share a byte: the next row starts at the last of the previous
            assert_true(r == 0 || straight[r * (T + 1)] == straight[r * (T + 1) - 1]);
        else // every row starts with a whole example
            assert_int_equal(straight[r * (T + 1)], TOKEN_BOS);
    }
    task_free(b);
    free(straight);
    free(resumed);
    free(ps);
    free(pr);
    free(ms);
    free(mr);
}

static void test_cursor_resume(void **state) {
    (void)state;
    for (size_t c = 0; c < ARRAY_LEN(GENERATED); c++) {
        Task *t = make_task(GENERATED[c]);
        int longest = task_max_prompt_tokens(t) + task_max_answer_tokens(t);
        task_free(t);
        check_resume(GENERATED[c], (TaskCursor){0, 0}, 3, MAX(17, longest));
        check_resume(GENERATED[c], (TaskCursor){123456789, 0}, 2, MAX(64, longest));
    }
    char *dir = tmpdir_make("tasks");
    char *path = write_text(dir, "corpus.txt", "The quick brown fox jumps over the lazy dog. 0123456789\n"
                                               "Pack my box with five dozen liquor jugs!\n");
    char json[4200];
    snprintf(json, sizeof json, "{\"name\":\"text\",\"path\":\"%s\"}", path);
    check_resume(json, (TaskCursor){0, 0}, 3, 7);
    check_resume(json, (TaskCursor){0, 80}, 2, 5);
    free(path);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// Validation batches: the evaluation problems in order, packed like training rows, repeating

static void test_val_batches(void **state) {
    (void)state;
    for (size_t c = 0; c < ARRAY_LEN(GENERATED); c++) {
        Task *t = make_task(GENERATED[c]);
        const int B = 4;
        int T = MAX(20, task_max_prompt_tokens(t) + task_max_answer_tokens(t));
        uint64_t n_eval = (uint64_t)task_n_eval(t);
        // The rows the problems fill, counted independently: row starts, greedy.
        long rows = 0;
        for (uint64_t j = 0, used = 0; j < n_eval; j++) {
            Ex e;
            build_example(t, j, 1, &e);
            if (rows == 0 || used + (uint64_t)e.n > (uint64_t)T + 1) rows++, used = 0;
            used += (uint64_t)e.n;
        }
        long n = task_val_batches(t, B, T);
        assert_int_equal(n, MAX(1, rows / B));
        int *tok = xmalloc((size_t)B * (T + 1) * sizeof(int)), *tok2 = xmalloc((size_t)B * (T + 1) * sizeof(int));
        int *pos = xmalloc((size_t)B * T * sizeof(int)), *pos2 = xmalloc((size_t)B * T * sizeof(int));
        unsigned char *mask = xmalloc((size_t)B * T), *mask2 = xmalloc((size_t)B * T);
        uint64_t next = 0; // the first problem of the next row, in a walk over rows 0, 1, ... repeating
        long row = 0;
        for (long i = 0; i < n + 2; i++) {
            task_val_batch(t, i, tok, mask, pos, B, T);
            for (int b = 0; b < B; b++, row++) {
                if (row % rows == 0) next = 0;
                next = check_row(t, next, n_eval, 1, task_config(t)->answer_loss_only, tok + b * (T + 1), mask + b * T,
                                 pos + b * T, T);
            }
            task_val_batch(t, i, tok2, mask2, pos2, B, T);
            assert_memory_equal(tok, tok2, (size_t)B * (T + 1) * sizeof(int));
            assert_memory_equal(mask, mask2, (size_t)B * T);
            assert_memory_equal(pos, pos2, (size_t)B * T * sizeof(int));
        }
        free(tok), free(tok2), free(pos), free(pos2), free(mask), free(mask2);
        task_free(t);
    }
}

// ---------------------------------------------------------------------------------------------
// Lengths

static void test_lengths(void **state) {
    (void)state;
    for (size_t c = 0; c < ARRAY_LEN(GENERATED); c++) {
        Task *t = make_task(GENERATED[c]);
        int mp = 0, ma = 0;
        for (long i = 0; i < task_n_eval(t) + 5000; i++) {
            char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX];
            if (i < task_n_eval(t))
                task_eval_problem(t, i, p, a);
            else
                task_train_example(t, (uint64_t)(i - task_n_eval(t)), p, a);
            mp = MAX(mp, (int)strlen(p) + 1);
            ma = MAX(ma, (int)strlen(a) + 1);
        }
        assert_true(mp <= task_max_prompt_tokens(t));
        assert_true(ma <= task_max_answer_tokens(t));
        if (task_config(t)->kind == TASK_ADD || task_config(t)->kind == TASK_SORT) { // the bounds are reached
            assert_int_equal(mp, task_max_prompt_tokens(t));
            assert_int_equal(ma, task_max_answer_tokens(t));
        }
        assert_int_equal(task_check_seq_len(t, task_max_prompt_tokens(t) + task_max_answer_tokens(t) - 1, "train.seq_len"), 0);
        task_free(t);
    }
    Task *t = make_task("{\"name\":\"add\",\"digits\":3}");
    assert_int_equal(task_max_prompt_tokens(t), 9);  // BOS 999+999=
    assert_int_equal(task_max_answer_tokens(t), 5);  // 1998 EOS
    assert_int_equal(task_check_seq_len(t, 13, "train.seq_len"), 0);
    assert_int_equal(task_check_seq_len(t, 12, "train.seq_len"), -1);
    assert_string_equal(err_msg(), "train.seq_len: 12 cannot hold the longest add example (14 tokens with BOS and EOS): it must be at least 13");
    assert_int_equal(task_check_seq_len(t, 0, "train.seq_len"), -1);
    assert_string_equal(err_msg(), "train.seq_len: must be at least 1, got 0");
    task_free(t);
}

// ---------------------------------------------------------------------------------------------
// text

static char *write_bytes(const char *dir, const char *name, const unsigned char *data, size_t n) {
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void test_text(void **state) {
    (void)state;
    char *dir = tmpdir_make("tasks");
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7 % 256);
    char *path = write_bytes(dir, "bytes.bin", data, sizeof data);
    char json[4200];
    snprintf(json, sizeof json, "{\"name\":\"text\",\"path\":\"%s\"}", path);
    Task *t = make_task(json);
    assert_int_equal(task_vocab_size(t), 258);
    assert_int_equal(task_n_eval(t), 0);
    assert_int_equal(task_max_answer_tokens(t), 0);
    char buf[16], answer[TASK_TEXT_MAX];
    assert_string_equal(task_token_text(t, 2 + 'A', buf), "A");
    assert_string_equal(task_token_text(t, 2 + '\n', buf), "<0x0A>");
    assert_string_equal(task_token_text(t, 2 + 0xff, buf), "<0xFF>");
    assert_string_equal(task_token_text(t, 258, buf), "<unk>");
    assert_int_equal(task_extract_answer(t, "anything", answer), 0);
    assert_false(task_is_correct(t, 0, "anything"));
    int ids[16];
    assert_int_equal(task_encode(t, "A\xff", ids, 16), 2);
    assert_int_equal(ids[0], 2 + 'A');
    assert_int_equal(ids[1], 2 + 0xff);

    // Training: the first 900 bytes, rows advancing by T, wrapping around; every target counts.
    enum { B = 3, T = 100 };
    int tok[B * (T + 1)], pos[B * T];
    unsigned char mask[B * T];
    TaskCursor cur = {0, 0};
    for (int nb = 0; nb < 5; nb++) {
        task_train_batch(t, &cur, tok, mask, pos, B, T);
        for (int b = 0; b < B; b++) {
            size_t row = (size_t)(nb * B + b);
            for (int i = 0; i <= T; i++) assert_int_equal(tok[b * (T + 1) + i], 2 + data[(row * T + (size_t)i) % 900]);
            for (int i = 0; i < T; i++) assert_int_equal(mask[b * T + i], 1);
            for (int i = 0; i < T; i++) assert_int_equal(pos[b * T + i], i); // one window per row
        }
    }
    assert_int_equal(cur.offset, (15 * T) % 900);

    // Validation: the last 100 bytes; rows of 21 bytes at 0, 20, 40, 60.
    assert_int_equal(task_val_batches(t, 2, 20), 2);
    int vt[2 * 21], vp[2 * 20];
    unsigned char vm[2 * 20];
    for (long i = 0; i < 4; i++) {
        task_val_batch(t, i, vt, vm, vp, 2, 20);
        for (int b = 0; b < 2; b++) {
            size_t r = ((size_t)i * 2 + (size_t)b) % 4;
            for (int k = 0; k <= 20; k++) assert_int_equal(vt[b * 21 + k], 2 + data[900 + r * 20 + (size_t)k]);
            for (int k = 0; k < 20; k++) assert_int_equal(vm[b * 20 + k], 1);
        }
    }
    assert_int_equal(task_check_seq_len(t, 99, "train.seq_len"), 0);
    assert_int_equal(task_check_seq_len(t, 100, "train.seq_len"), -1);
    char *want = xasprintf("%s: too short for seq_len 100: its last 10%% (100 bytes, held out for validation) must "
                           "hold one row of 101 bytes, so the file needs at least 1010 bytes", path);
    assert_string_equal(err_msg(), want);
    free(want);
    task_free(t);

    // The file is read when the task is created: gone by then is an error, not a crash.
    TaskConfig c;
    assert_int_equal(parse_config(json, &c, "task"), 0);
    assert_int_equal(unlink(path), 0);
    assert_null(task_create(&c));
    want = xasprintf("task.path: %s: cannot open: No such file or directory", path);
    assert_string_equal(err_msg(), want);
    free(want);
    free(path);

    // Empty and too short files.
    path = write_bytes(dir, "empty.txt", data, 0);
    snprintf(json, sizeof json, "{\"name\":\"text\",\"path\":\"%s\"}", path);
    want = xasprintf("task.path: %s: empty file", path);
    expect_config_error(json, "task", want);
    free(want);
    free(path);
    path = write_bytes(dir, "short.txt", data, 9);
    snprintf(json, sizeof json, "{\"name\":\"text\",\"path\":\"%s\"}", path);
    want = xasprintf("task.path: %s: 9 bytes is too short: at least 10 are needed to hold out the last 10%% for validation", path);
    expect_config_error(json, "task", want);
    free(want);
    free(path);
    tmpdir_remove(dir);
}

// ---------------------------------------------------------------------------------------------
// recall

static void test_recall(void **state) {
    (void)state;
    Task *t = make_task("{\"name\":\"recall\",\"n_facts\":400,\"eval_problems\":200,\"zipf\":1}");
    enum { N = 50000 };
    // Every training example of a name carries the same attribute, the one its query expects.
    char **examples = xmalloc(N * sizeof *examples);
    for (int j = 0; j < N; j++) {
        char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX];
        task_train_example(t, (uint64_t)j, p, a);
        assert_int_equal(strlen(p), 6);
        assert_int_equal(p[5], '?');
        assert_int_equal(strlen(a), 3);
        examples[j] = xasprintf("%s%s", p, a);
    }
    qsort(examples, N, sizeof *examples, cmp_str);
    int distinct_names = 1, distinct_examples = 1;
    for (int j = 1; j < N; j++) {
        distinct_names += strncmp(examples[j - 1], examples[j], 6) != 0;
        distinct_examples += strcmp(examples[j - 1], examples[j]) != 0;
    }
    assert_int_equal(distinct_names, distinct_examples);
    assert_true(distinct_names <= 400);
    // Frequencies follow rank^-1: fact 0 (problem 0) takes 1/H_400 of the stream.
    double h = 0;
    for (int r = 1; r <= 400; r++) h += 1.0 / r;
    long counts[3] = {0};
    long probe[3] = {0, 1, 100}; // problem i queries fact 2i: ranks 0, 2, 200
    for (int k = 0; k < 3; k++) {
        char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX];
        task_eval_problem(t, probe[k], p, a);
        char *key = xasprintf("%s%s", p, a);
        for (int j = 0; j < N; j++) counts[k] += strcmp(examples[j], key) == 0;
        free(key);
    }
    assert_true(fabs((double)counts[0] / N - 1.0 / h) < 0.01);
    assert_true(fabs((double)counts[1] / N - 1.0 / (3 * h)) < 0.005);
    assert_true(counts[2] > 0 && counts[2] < counts[1]);
    free_strings(examples, N);
    task_free(t);

    // zipf 0: every fact equally often.
    t = make_task("{\"name\":\"recall\",\"n_facts\":50,\"eval_problems\":50,\"zipf\":0}");
    for (long i = 0; i < 50; i++) {
        char p[TASK_TEXT_MAX], a[TASK_TEXT_MAX], q[TASK_TEXT_MAX], b[TASK_TEXT_MAX];
        task_eval_problem(t, i, p, a);
        long count = 0;
        for (int j = 0; j < N; j++) {
            task_train_example(t, (uint64_t)j, q, b);
            count += strcmp(p, q) == 0;
        }
        assert_true(count > 800 && count < 1200); // expected 1000, sd 31
    }
    task_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_and_json),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_create_checks_config),
        cmocka_unit_test(test_vocab),
        cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_seed_changes_everything),
        cmocka_unit_test(test_eval_prefix_stable),
        cmocka_unit_test(test_train_disjoint_from_eval),
        cmocka_unit_test(test_verifiers),
        cmocka_unit_test(test_extract_cases),
        cmocka_unit_test(test_extract_garbage),
        cmocka_unit_test(test_packing_and_masks),
        cmocka_unit_test(test_cursor_resume),
        cmocka_unit_test(test_val_batches),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_recall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
