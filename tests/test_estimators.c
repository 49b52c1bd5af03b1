// test_estimators.c — pass@k against exact combinatorics, maj@k against brute-force enumeration of
// k-subsets and closed forms at large n, analytic pass@k at the edges.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/estimators.h"
#include "testutil.h"
#include "util/util.h"

// Exact binomial for small arguments (n ≤ 60 stays exact in 64 bits along the way).
static uint64_t binom_exact(int n, int k) {
    if (k < 0 || k > n) return 0;
    uint64_t r = 1;
    for (int i = 1; i <= k; i++) r = r * (uint64_t)(n - k + i) / (uint64_t)i;
    return r;
}

// ---------------------------------------------------------------------------------------------
// pass@k

static void test_pass_at_k_exact_small(void **state) {
    (void)state;
    for (int n = 1; n <= 20; n++)
        for (int c = 0; c <= n; c++)
            for (int k = 1; k <= n; k++) {
                long double want = 1.0L - (long double)binom_exact(n - c, k) / (long double)binom_exact(n, k);
                double got = pass_at_k(n, c, k);
                if (fabsl((long double)got - want) > 1e-15L) {
                    fprintf(stderr, "pass_at_k(%d, %d, %d) = %.17g, want %.17Lg\n", n, c, k, got, want);
                    fail();
                }
            }
}

static void test_pass_at_k_edges(void **state) {
    (void)state;
    for (int n = 1; n <= 20; n++) {
        assert_true(pass_at_k(n, 0, 1) == 0.0); // c = 0 is 0, not 1
        assert_true(pass_at_k(n, 0, n) == 0.0);
        assert_true(pass_at_k(n, n, 1) == 1.0);
        assert_true(pass_at_k(n, n, n) == 1.0);
        assert_true(isnan(pass_at_k(n, 1, n + 1))); // k > n
        assert_true(isnan(pass_at_k(n, 0, 0)));
        assert_true(isnan(pass_at_k(n, -1, 1)));
        assert_true(isnan(pass_at_k(n, n + 1, 1)));
    }
    // k = 1 is the fraction correct; tiny values keep their relative precision.
    assert_true(rel_diff(pass_at_k(1000, 37, 1), 0.037, 0) < 1e-14);
    assert_true(rel_diff(pass_at_k(100000, 1, 1), 1e-5, 0) < 1e-12);
    // Non-decreasing in k and in c at large n.
    double prev = 0.0;
    for (long k = 1; k <= 1024; k++) {
        double v = pass_at_k(1024, 3, k);
        assert_true(v >= prev && v <= 1.0);
        prev = v;
    }
}

// ---------------------------------------------------------------------------------------------
// maj@k against brute force

// Samples: answer[i] = group index, or -1 when the sample has no answer.
typedef struct {
    int n;
    int answer[16];
    int m;
    unsigned char correct[8];
} SampleSet;

static void to_counts(const SampleSet *s, long *counts, long *missing) {
    memset(counts, 0, sizeof(long) * 8);
    *missing = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->answer[i] < 0)
            (*missing)++;
        else
            counts[s->answer[i]]++;
    }
}

// Mean over every k-subset of the majority vote's correctness, by enumeration.
static double maj_brute(const SampleSet *s, int k) {
    long hits = 0, subsets = 0;
    for (uint32_t mask = 0; mask < (1u << s->n); mask++) {
        if (__builtin_popcount(mask) != k) continue;
        int votes[8] = {0};
        for (int i = 0; i < s->n; i++)
            if ((mask >> i & 1) && s->answer[i] >= 0) votes[s->answer[i]]++;
        int best = 0;
        for (int j = 0; j < s->m; j++) best = MAX(best, votes[j]);
        int right = best > 0;
        for (int j = 0; j < s->m; j++)
            if (votes[j] == best && !s->correct[j]) right = 0;
        hits += right;
        subsets++;
    }
    return (double)hits / (double)subsets;
}

static void check_against_brute(const SampleSet *s) {
    long counts[8], missing;
    to_counts(s, counts, &missing);
    for (int k = 1; k <= s->n; k++) {
        double want = maj_brute(s, k);
        double got = maj_at_k(s->n, k, counts, s->correct, s->m, missing);
        if (!(fabs(got - want) < 1e-13)) {
            fprintf(stderr, "maj_at_k n=%d k=%d m=%d missing=%ld: got %.17g, want %.17g\n", s->n, k, s->m,
                    missing, got, want);
            fail();
        }
    }
}

static void test_maj_hand_cases(void **state) {
    (void)state;
    // Two answers tied 2–2 at k = n = 4: wrong unless both are correct.
    SampleSet tie = {.n = 4, .answer = {0, 0, 1, 1}, .m = 2, .correct = {1, 0}};
    long counts[8], missing;
    to_counts(&tie, counts, &missing);
    assert_true(maj_at_k(4, 4, counts, tie.correct, 2, missing) == 0.0);
    check_against_brute(&tie);
    tie.correct[1] = 1; // two correct answer groups (e.g. "7" and "07" both accepted)
    assert_true(maj_at_k(4, 4, counts, tie.correct, 2, missing) == 1.0);
    check_against_brute(&tie);

    // Missing answers do not vote: one correct sample among missing ones wins whenever drawn.
    SampleSet lone = {.n = 6, .answer = {0, -1, -1, -1, -1, -1}, .m = 1, .correct = {1}};
    check_against_brute(&lone);
    to_counts(&lone, counts, &missing);
    for (int k = 1; k <= 6; k++) assert_true(fabs(maj_at_k(6, k, counts, lone.correct, 1, missing) - k / 6.0) < 1e-15);

    // All missing: every subset is wrong.
    SampleSet none = {.n = 5, .answer = {-1, -1, -1, -1, -1}, .m = 0};
    check_against_brute(&none);
    assert_true(maj_at_k(5, 3, counts, none.correct, 0, 5) == 0.0);

    // The modal answer is wrong: maj@k falls with k while pass@k rises.
    SampleSet modal = {.n = 10, .answer = {1, 1, 1, 1, 0, 0, 0, 2, 3, -1}, .m = 4, .correct = {1, 0, 0, 0}};
    check_against_brute(&modal);
    to_counts(&modal, counts, &missing);
    assert_true(maj_at_k(10, 9, counts, modal.correct, 4, missing) < maj_at_k(10, 1, counts, modal.correct, 4, missing));
}

static void test_maj_random_vs_brute(void **state) {
    (void)state;
    Rng r;
    rng_seed(&r, 12345);
    for (int trial = 0; trial < 400; trial++) {
        SampleSet s = {.n = 1 + (int)rng_below(&r, 14), .m = 1 + (int)rng_below(&r, 5)};
        for (int j = 0; j < s.m; j++) s.correct[j] = rng_below(&r, 3) == 0;
        if (trial % 3 == 0) s.correct[0] = 1; // often at least one correct group
        int missing_weight = (int)rng_below(&r, 3); // none, some or many missing answers
        for (int i = 0; i < s.n; i++) {
            if (rng_below(&r, 4) < (uint64_t)missing_weight)
                s.answer[i] = -1;
            else // skewed group sizes so that ties and clear winners both occur
                s.answer[i] = (int)MIN(rng_below(&r, (uint64_t)s.m), rng_below(&r, (uint64_t)s.m));
        }
        check_against_brute(&s);
    }
}

static void test_maj_invalid(void **state) {
    (void)state;
    long counts[2] = {3, 2};
    unsigned char correct[2] = {1, 0};
    assert_true(isnan(maj_at_k(6, 7, counts, correct, 2, 1)));  // k > n
    assert_true(isnan(maj_at_k(6, 0, counts, correct, 2, 1)));  // k < 1
    assert_true(isnan(maj_at_k(7, 2, counts, correct, 2, 1)));  // counts do not add up to n
    assert_true(isnan(maj_at_k(6, 2, counts, correct, 2, -1))); // negative missing
    long neg[2] = {-1, 7};
    assert_true(isnan(maj_at_k(6, 2, neg, correct, 2, 0)));
}

// ---------------------------------------------------------------------------------------------
// maj@k at large n against closed forms

static long double log_binom(long n, long k) {
    return lgammal(n + 1.0L) - lgammal(k + 1.0L) - lgammal(n - k + 1.0L);
}

// One correct group of c and one wrong group of w among n samples: P(Y_c > Y_w) under the
// multivariate hypergeometric law, summed term by term (a different algorithm from score.c).
static double maj_two_groups(long n, long k, long c, long w) {
    long missing = n - c - w;
    long double lt = log_binom(n, k), sum = 0.0L;
    for (long yc = 1; yc <= MIN(c, k); yc++)
        for (long yw = 0; yw < yc && yw <= MIN(w, k - yc); yw++) {
            long ym = k - yc - yw;
            if (ym > missing) continue;
            sum += expl(log_binom(c, yc) + log_binom(w, yw) + log_binom(missing, ym) - lt);
        }
    return (double)sum;
}

static void test_maj_large_n(void **state) {
    (void)state;
    const long n = 1024;
    // One correct group among missing answers: maj@k is exactly pass@k.
    long c1[1] = {300};
    unsigned char r1[1] = {1};
    for (long k = 1; k <= n; k += 37) {
        double got = maj_at_k(n, k, c1, r1, 1, n - 300), want = pass_at_k(n, 300, k);
        assert_true(fabs(got - want) < 1e-12);
    }
    // One correct and one wrong group: the direct double sum.
    long c2[2] = {420, 380};
    unsigned char r2[2] = {1, 0};
    long ks[] = {1, 2, 3, 10, 100, 255, 511, 700, 1000, 1023, 1024};
    for (size_t i = 0; i < ARRAY_LEN(ks); i++) {
        double got = maj_at_k(n, ks[i], c2, r2, 2, n - 800), want = maj_two_groups(n, ks[i], 420, 380);
        if (!(fabs(got - want) < 1e-12)) {
            fprintf(stderr, "k=%ld got %.17g want %.17g\n", ks[i], got, want);
            fail();
        }
    }
    // Many groups, singletons and missing answers: values in [0, 1], k = 1 is the fraction of
    // samples whose answer is correct, k = n is the vote of all samples.
    long counts[40];
    unsigned char correct[40] = {0};
    int m = 0;
    counts[m] = 400, correct[m++] = 1;
    counts[m] = 300, m++;
    counts[m] = 150, correct[m++] = 1;
    for (int j = 0; j < 24; j++) counts[m++] = 1;
    long missing = n - 400 - 300 - 150 - 24;
    assert_true(fabs(maj_at_k(n, 1, counts, correct, m, missing) - 550.0 / 1024.0) < 1e-13);
    assert_true(maj_at_k(n, n, counts, correct, m, missing) == 1.0);
    for (long k = 1; k <= n; k += 61) {
        double v = maj_at_k(n, k, counts, correct, m, missing);
        assert_true(v >= 0.0 && v <= 1.0);
    }
    // Beyond the range of C(n, k) in double (C(4096, 2048) ≈ 1e1231): still finite and right at k = 1.
    long big[2] = {2000, 1500};
    unsigned char rb[2] = {0, 1};
    double v = maj_at_k(4096, 1, big, rb, 2, 596);
    assert_true(fabs(v - 1500.0 / 4096.0) < 1e-13);
    v = maj_at_k(4096, 2000, big, rb, 2, 596);
    assert_true(v >= 0.0 && v < 1e-6); // the wrong group is larger: it nearly always wins
}

// ---------------------------------------------------------------------------------------------
// analytic pass@k

static void test_pass_analytic(void **state) {
    (void)state;
    assert_true(fabs(pass_at_k_analytic(log(0.5), 3) - 0.875) < 1e-15);
    assert_true(fabs(pass_at_k_analytic(log(0.3), 1) - 0.3) < 1e-15);
    assert_true(fabs(pass_at_k_analytic(log(0.5), 2.5) - (1 - pow(0.5, 2.5))) < 1e-15);
    assert_true(pass_at_k_analytic(-INFINITY, 64) == 0.0);
    assert_true(pass_at_k_analytic(0.0, 64) == 1.0);
    assert_true(pass_at_k_analytic(1e-9, 4) == 1.0); // rounding above 0 is p = 1
    assert_true(pass_at_k_analytic(log(0.5), 0) == 0.0);
    // Tiny p: 1 − (1 − p)^k would round to 0; the stable form keeps k·p.
    assert_true(rel_diff(pass_at_k_analytic(-40.0, 10), 10 * exp(-40.0), 0) < 1e-12);
    // p close to 1: 1 − (1 − p)^2 with 1 − p = 1e-12.
    assert_true(fabs(pass_at_k_analytic(log1p(-1e-12), 2) - (1 - 1e-24)) < 1e-15);
    assert_true(isnan(pass_at_k_analytic(NAN, 2)));
    assert_true(isnan(pass_at_k_analytic(-1, -1)));
}

// The shared order statistics behind every percentile interval and median: against hand values
// (NumPy's default quantile: np.quantile([1, 2, 4, 8], 0.25) = 1.75, 0.9 -> 6.8).
static void test_quantile_sorted(void **state) {
    (void)state;
    double v[] = {8, 1, 4, 2};
    sort_doubles(v, 4);
    assert_true(v[0] == 1 && v[1] == 2 && v[2] == 4 && v[3] == 8);
    assert_float_equal(quantile_sorted(v, 4, 0.0), 1.0, 0);
    assert_float_equal(quantile_sorted(v, 4, 0.25), 1.75, 1e-15);
    assert_float_equal(quantile_sorted(v, 4, 0.5), 3.0, 1e-15);
    assert_float_equal(quantile_sorted(v, 4, 0.9), 6.8, 1e-15);
    assert_float_equal(quantile_sorted(v, 4, 1.0), 8.0, 0);
    double one = 5;
    assert_float_equal(quantile_sorted(&one, 1, 0.3), 5.0, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_at_k_exact_small), cmocka_unit_test(test_pass_at_k_edges),
        cmocka_unit_test(test_maj_hand_cases),        cmocka_unit_test(test_maj_random_vs_brute),
        cmocka_unit_test(test_maj_invalid),           cmocka_unit_test(test_maj_large_n),
        cmocka_unit_test(test_pass_analytic),
        cmocka_unit_test(test_quantile_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
