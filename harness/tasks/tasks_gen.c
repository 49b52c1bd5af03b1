// tasks_gen.c — the families of generated problems: add, modarith, chain, sort, recall.
// Each draws a random problem from an Rng (so example j is a pure function of the stream seed),
// counts its distinct problems, and extracts a normalised answer from a completion.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/tasks_internal.h"

// Sort symbols in their order: digits, then lowercase letters.
static const char SYMBOLS[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char LETTERS[] = "abcdefghijklmnopqrstuvwxyz";

// recall: every entity name has NAME_LEN letters, every attribute ATTR_LEN letters.
enum { NAME_LEN = 5, ATTR_LEN = 3 };

static uint64_t pow10_u64(int e) {
    uint64_t r = 1;
    while (e-- > 0) r *= 10;
    return r;
}

static uint64_t mul_sat(uint64_t a, uint64_t b) {
    if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
    return a * b;
}

static uint64_t pow_sat(uint64_t base, int e) {
    uint64_t r = 1;
    while (e-- > 0) r = mul_sat(r, base);
    return r;
}

static int decimal_digits(uint64_t v) {
    int d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

static void reverse(char *s) {
    for (size_t i = 0, j = strlen(s); i + 1 < j; i++, j--) {
        char c = s[i];
        s[i] = s[j - 1];
        s[j - 1] = c;
    }
}

// A completion made only of characters from SET (at least one, shorter than TASK_TEXT_MAX):
// copied into ANSWER. Anything else is malformed.
static int extract_run(const char *s, const char *set, char answer[TASK_TEXT_MAX]) {
    size_t n = strlen(s);
    if (n == 0 || n >= TASK_TEXT_MAX || strspn(s, set) != n) return 0;
    memcpy(answer, s, n + 1);
    return 1;
}

static int extract_digits(const Task *t, const char *completion, char answer[TASK_TEXT_MAX]) {
    (void)t;
    return extract_run(completion, "0123456789", answer);
}

// ---------------------------------------------------------------------------------------------
// add: "123+456=" → "579" (reversed: "975"); operands uniform in [0, 10^d), d = digits, or with
// min_digits < digits, d drawn uniformly from [min_digits, digits] for each problem (a mixture of
// difficulties; the distinct problems are still those of d = digits, which hold the others).

static const char *add_alphabet(const TaskConfig *c, char buf[64]) {
    (void)c;
    return strcpy(buf, "0123456789+=");
}

static uint64_t add_space(const TaskConfig *c) { return pow10_u64(2 * c->digits); }

static void add_describe(const TaskConfig *c, char *buf, size_t n) {
    if (c->min_digits > 0 && c->min_digits < c->digits)
        snprintf(buf, n, "add with digits %d to %d", c->min_digits, c->digits);
    else
        snprintf(buf, n, "add with digits %d", c->digits);
}

static int add_max_prompt(const TaskConfig *c) { return 2 * c->digits + 2; }
static int add_max_answer(const TaskConfig *c) { return c->digits + 1; }

static void add_draw(const Task *t, Rng *r, char *prompt, char *answer) {
    int lo = t->cfg.min_digits > 0 ? t->cfg.min_digits : t->cfg.digits, d = t->cfg.digits;
    if (lo < d) d = lo + (int)rng_below(r, (uint64_t)(d - lo + 1)); // only then: one size draws as before
    uint64_t top = pow10_u64(d);
    unsigned long long a = rng_below(r, top), b = rng_below(r, top);
    snprintf(prompt, TASK_TEXT_MAX, "%llu+%llu=", a, b);
    snprintf(answer, TASK_TEXT_MAX, "%llu", a + b);
    if (t->cfg.reversed) reverse(answer);
}

static const Family ADD = {add_alphabet, add_space, add_describe, add_max_prompt, add_max_answer, add_draw,
                           extract_digits};

// ---------------------------------------------------------------------------------------------
// modarith: "a op b=" → (a op b) mod p, a and b uniform in [0, p) (b ≠ 0 for '/', which
// multiplies by the inverse of b and so needs a prime p).

static const char *modarith_alphabet(const TaskConfig *c, char buf[64]) {
    (void)c;
    return strcpy(buf, "0123456789+-*/=");
}

static uint64_t modarith_space(const TaskConfig *c) {
    uint64_t p = (uint64_t)c->modulus, n = 0;
    for (const char *op = c->ops; *op; op++) n += *op == '/' ? p * (p - 1) : p * p;
    return n;
}

static void modarith_describe(const TaskConfig *c, char *buf, size_t n) {
    snprintf(buf, n, "modarith with modulus %d, ops \"%s\"", c->modulus, c->ops);
}

static int modarith_max_prompt(const TaskConfig *c) { return 2 * decimal_digits((uint64_t)c->modulus - 1) + 2; }
static int modarith_max_answer(const TaskConfig *c) { return decimal_digits((uint64_t)c->modulus - 1); }

// b^(p − 2) mod p: the inverse of b for a prime p (Fermat).
static uint64_t inverse_mod_prime(uint64_t b, uint64_t p) {
    uint64_t result = 1, e = p - 2;
    b %= p;
    while (e) {
        if (e & 1) result = result * b % p;
        b = b * b % p;
        e >>= 1;
    }
    return result;
}

static void modarith_draw(const Task *t, Rng *r, char *prompt, char *answer) {
    uint64_t p = (uint64_t)t->cfg.modulus;
    char op = t->cfg.ops[rng_below(r, strlen(t->cfg.ops))];
    uint64_t a = rng_below(r, p);
    uint64_t b = op == '/' ? 1 + rng_below(r, p - 1) : rng_below(r, p);
    uint64_t v = op == '+' ? (a + b) % p
               : op == '-' ? (a + p - b) % p
               : op == '*' ? a * b % p
                           : a * inverse_mod_prime(b, p) % p;
    snprintf(prompt, TASK_TEXT_MAX, "%llu%c%llu=", (unsigned long long)a, op, (unsigned long long)b);
    snprintf(answer, TASK_TEXT_MAX, "%llu", (unsigned long long)v);
}

static const Family MODARITH = {modarith_alphabet, modarith_space,      modarith_describe, modarith_max_prompt,
                                modarith_max_answer, modarith_draw, extract_digits};

// ---------------------------------------------------------------------------------------------
// chain: "3+4*2-5=" evaluated left to right mod 10^digits. The answer is a scratchpad of the
// running values after each operation but the last, then the marker '>' and the final value:
// 3+4 = 7, 7*2 = 14 → 4, 4−5 → 9 gives "7,4>9" (one step: ">7").

static const char *chain_alphabet(const TaskConfig *c, char buf[64]) {
    (void)c;
    return strcpy(buf, "0123456789+-*=,>");
}

static uint64_t chain_space(const TaskConfig *c) {
    uint64_t operands = pow_sat(pow10_u64(c->digits), c->steps + 1);
    return mul_sat(operands, pow_sat(3, c->steps));
}

static void chain_describe(const TaskConfig *c, char *buf, size_t n) {
    snprintf(buf, n, "chain with steps %d, digits %d", c->steps, c->digits);
}

static int chain_max_prompt(const TaskConfig *c) { return (c->steps + 1) * c->digits + c->steps + 1; }
static int chain_max_answer(const TaskConfig *c) { return c->steps * c->digits + MAX(c->steps - 2, 0) + 1; }

static void chain_draw(const Task *t, Rng *r, char *prompt, char *answer) {
    static const char OPS[] = "+-*";
    uint64_t m = pow10_u64(t->cfg.digits);
    uint64_t v = rng_below(r, m);
    int np = snprintf(prompt, TASK_TEXT_MAX, "%llu", (unsigned long long)v), na = 0;
    for (int s = 0; s < t->cfg.steps; s++) {
        char op = OPS[rng_below(r, 3)];
        uint64_t x = rng_below(r, m);
        v = op == '+' ? (v + x) % m : op == '-' ? (v + m - x) % m : v * x % m;
        np += snprintf(prompt + np, (size_t)(TASK_TEXT_MAX - np), "%c%llu", op, (unsigned long long)x);
        const char *sep = s == t->cfg.steps - 1 ? ">" : s > 0 ? "," : "";
        na += snprintf(answer + na, (size_t)(TASK_TEXT_MAX - na), "%s%llu", sep, (unsigned long long)v);
    }
    snprintf(prompt + np, (size_t)(TASK_TEXT_MAX - np), "=");
}

// What follows the first marker, which must be digits; no marker is malformed.
static int chain_extract(const Task *t, const char *completion, char answer[TASK_TEXT_MAX]) {
    (void)t;
    const char *marker = strchr(completion, '>');
    return marker ? extract_run(marker + 1, "0123456789", answer) : 0;
}

static const Family CHAIN = {chain_alphabet,   chain_space, chain_describe, chain_max_prompt,
                             chain_max_answer, chain_draw,  chain_extract};

// ---------------------------------------------------------------------------------------------
// sort: "31a9=" → "139a": length symbols drawn uniformly (with repeats) from the first
// `alphabet` of SYMBOLS, answered in SYMBOLS order.

static const char *sort_alphabet(const TaskConfig *c, char buf[64]) {
    memcpy(buf, SYMBOLS, (size_t)c->alphabet);
    strcpy(buf + c->alphabet, "=");
    return buf;
}

static uint64_t sort_space(const TaskConfig *c) { return pow_sat((uint64_t)c->alphabet, c->length); }

static void sort_describe(const TaskConfig *c, char *buf, size_t n) {
    snprintf(buf, n, "sort with length %d, alphabet %d", c->length, c->alphabet);
}

static int sort_max_prompt(const TaskConfig *c) { return c->length + 1; }
static int sort_max_answer(const TaskConfig *c) { return c->length; }

static void sort_draw(const Task *t, Rng *r, char *prompt, char *answer) {
    int count[36] = {0}, n = t->cfg.length;
    for (int i = 0; i < n; i++) {
        int s = (int)rng_below(r, (uint64_t)t->cfg.alphabet);
        prompt[i] = SYMBOLS[s];
        count[s]++;
    }
    prompt[n] = '=';
    prompt[n + 1] = '\0';
    int at = 0;
    for (int s = 0; s < t->cfg.alphabet; s++)
        while (count[s]-- > 0) answer[at++] = SYMBOLS[s];
    answer[at] = '\0';
}

static int sort_extract(const Task *t, const char *completion, char answer[TASK_TEXT_MAX]) {
    char set[40];
    memcpy(set, SYMBOLS, (size_t)t->cfg.alphabet);
    set[t->cfg.alphabet] = '\0';
    return extract_run(completion, set, answer);
}

static const Family SORT = {sort_alphabet, sort_space, sort_describe, sort_max_prompt,
                            sort_max_answer, sort_draw, sort_extract};

// ---------------------------------------------------------------------------------------------
// recall: n_facts entities with random distinct names, each with a random attribute; "name?" →
// "attr". Training draws fact r with probability ∝ (r + 1)^-zipf, so rare facts are seen rarely.
// The evaluation queries are necessarily facts that also occur in training — recalling them is
// the task — so recall alone does not hold its evaluation problems out of the training stream.

static const char *recall_alphabet(const TaskConfig *c, char buf[64]) {
    (void)c;
    memcpy(buf, LETTERS, 26);
    strcpy(buf + 26, "?");
    return buf;
}

static uint64_t recall_space(const TaskConfig *c) { return (uint64_t)c->n_facts; }

static void recall_describe(const TaskConfig *c, char *buf, size_t n) {
    snprintf(buf, n, "recall with n_facts %d", c->n_facts);
}

static int recall_max_prompt(const TaskConfig *c) {
    (void)c;
    return NAME_LEN + 1;
}
static int recall_max_answer(const TaskConfig *c) {
    (void)c;
    return ATTR_LEN;
}

static void fact_text(const Task *t, long f, char *prompt, char *answer) {
    snprintf(prompt, TASK_TEXT_MAX, "%s?", t->fact_name[f]);
    snprintf(answer, TASK_TEXT_MAX, "%s", t->fact_attr[f]);
}

static void recall_draw(const Task *t, Rng *r, char *prompt, char *answer) {
    // The first fact whose cumulative probability exceeds u.
    double u = rng_uniform(r);
    long lo = 0, hi = t->cfg.n_facts - 1;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (t->fact_cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    fact_text(t, lo, prompt, answer);
}

void recall_eval_problem(const Task *t, long i, char *prompt, char *answer) {
    // Evenly spaced ranks, so the evaluation covers frequent and rare facts alike.
    long f = (long)((int64_t)i * t->cfg.n_facts / t->n_eval);
    fact_text(t, f, prompt, answer);
}

static void random_letters(Rng *r, char *out, int n) {
    for (int i = 0; i < n; i++) out[i] = LETTERS[rng_below(r, 26)];
    out[n] = '\0';
}

void recall_build_facts(Task *t) {
    long n = t->cfg.n_facts;
    t->fact_name = xcalloc((size_t)n, sizeof *t->fact_name);
    t->fact_attr = xcalloc((size_t)n, sizeof *t->fact_attr);
    t->fact_cdf = xmalloc((size_t)n * sizeof *t->fact_cdf);
    // Names are distinct: a bitmap over all 26^NAME_LEN names (1.5 MB, only while building).
    size_t n_names = 1;
    for (int i = 0; i < NAME_LEN; i++) n_names *= 26;
    unsigned char *taken = xcalloc(n_names / 8 + 1, 1);
    Rng r;
    rng_seed(&r, seed_derive(t->cfg.seed, STREAM_FACTS, 0, 0));
    for (long f = 0; f < n; f++) {
        size_t code;
        do {
            random_letters(&r, t->fact_name[f], NAME_LEN);
            code = 0;
            for (int i = 0; i < NAME_LEN; i++) code = code * 26 + (size_t)(t->fact_name[f][i] - 'a');
        } while (taken[code / 8] >> (code % 8) & 1);
        taken[code / 8] |= (unsigned char)(1u << (code % 8));
        random_letters(&r, t->fact_attr[f], ATTR_LEN);
    }
    free(taken);
    double total = 0.0;
    for (long f = 0; f < n; f++) total += pow((double)(f + 1), -t->cfg.zipf);
    double acc = 0.0;
    for (long f = 0; f < n; f++) {
        acc += pow((double)(f + 1), -t->cfg.zipf);
        t->fact_cdf[f] = acc / total;
    }
    t->fact_cdf[n - 1] = 1.0; // u < 1 always finds a fact despite rounding
}

static int recall_extract(const Task *t, const char *completion, char answer[TASK_TEXT_MAX]) {
    (void)t;
    return extract_run(completion, LETTERS, answer);
}

static const Family RECALL = {recall_alphabet,   recall_space, recall_describe, recall_max_prompt,
                              recall_max_answer, recall_draw,  recall_extract};

// ---------------------------------------------------------------------------------------------
const Family *family_of(TaskKind kind) {
    switch (kind) {
    case TASK_ADD: return &ADD;
    case TASK_MODARITH: return &MODARITH;
    case TASK_CHAIN: return &CHAIN;
    case TASK_SORT: return &SORT;
    case TASK_RECALL: return &RECALL;
    case TASK_TEXT: return NULL;
    }
    return NULL;
}
