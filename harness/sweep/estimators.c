// estimators.c — repeated-sampling estimators: unbiased pass@k, exact expected maj@k, analytic pass@k.
//
// maj@k is the exact expectation over the C(n, k) equally likely k-subsets of one problem's n
// samples. Counting subsets by the number y_j they take from each answer group is a product of
// polynomials Σ_y C(c_j, y) t^y read at t^k. To stay finite for large n, every coefficient is
// scaled by p^y (1 − p)^(c − y) with p = k / n: the rows become Binomial(c_j, p) probabilities
// (all ≤ 1), the product's t^k coefficient is scaled by p^k (1 − p)^(n − k) overall, and the
// same scaling of C(n, k) — the Binomial(n, p) probability of k — divides it out at the end.
// In other words: a uniform k-subset is independent Bernoulli(p) inclusion conditioned on the
// total being k. Arithmetic is in long double (64-bit mantissa, exponent range to 1e±4932),
// so nothing overflows and the far tails underflow harmlessly to zero.
#include "sweep/estimators.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

double pass_at_k(long n, long c, long k) {
    if (k < 1 || k > n || c < 0 || c > n) return NAN;
    if (n - c < k) return 1.0;
    // 1 − ∏_{i=n−c+1}^{n} (1 − k/i), the product summed in logs so that small results keep their
    // relative precision; every factor is > 0 here because i ≥ n − c + 1 > k.
    double log_prod = 0.0;
    for (long i = n - c + 1; i <= n; i++) log_prod += log1p(-(double)k / (double)i);
    return -expm1(log_prod);
}

// ---------------------------------------------------------------------------------------------
// maj@k

// A group's scaled row is kept only where it is at least e^-69 ≈ 1e-30 of its peak. Dropped
// terms change the result by less than n²·1e-30 (each row loses < c·1e-30 of a total mass ≤ 1,
// and the final divisor, the Binomial(n, p) probability of its mode k, is ≥ 1/(n + 1)), far
// below double precision, and they make large n fast: a row keeps O(√c) terms, not c + 1.
#define ROW_LOG_CUTOFF 69.0L

typedef struct {
    long lo, hi;   // kept degrees
    size_t at;     // offset of degree lo in MajWork.rows
} Row;

typedef struct {
    long n, k;
    long double log_p, log_q; // log p, log(1 − p), p = k / n
    long double *log_fact;    // (n + 1,)  log i!
    long double *poly, *tmp;  // (k + 1,)  running product and scratch
    long double *rows;        // kept scaled binomial terms of every group, back to back
    Row *row;                 // (m,)
} MajWork;

static long double log_scaled_binom(const MajWork *w, long c, long y) {
    return w->log_fact[c] - w->log_fact[y] - w->log_fact[c - y] + (long double)y * w->log_p +
           (long double)(c - y) * w->log_q;
}

// Binomial(c, p) probability of y, i.e. C(c, y) p^y (1 − p)^(c − y).
static long double scaled_binom(const MajWork *w, long c, long y) {
    if (y < 0 || y > c) return 0.0L;
    return expl(log_scaled_binom(w, c, y));
}

// Group row for c samples: the unimodal terms within ROW_LOG_CUTOFF of the peak (an interval).
static void build_row(MajWork *w, Row *row, size_t *at, long c) {
    long mode = (long)floorl((long double)(c + 1) * expl(w->log_p));
    mode = MIN(MAX(mode, 0), c);
    long double floor_log = log_scaled_binom(w, c, mode) - ROW_LOG_CUTOFF;
    long lo = mode, hi = mode;
    while (lo > 0 && log_scaled_binom(w, c, lo - 1) >= floor_log) lo--;
    while (hi < c && log_scaled_binom(w, c, hi + 1) >= floor_log) hi++;
    row->lo = lo;
    row->hi = hi;
    row->at = *at;
    for (long y = lo; y <= hi; y++) w->rows[(*at)++] = scaled_binom(w, c, y);
}

// poly (support [*plo, *phi]) ← poly × row truncated at degree limit, and at degree k.
// Returns 0 when the product is zero.
static int poly_mul_row(MajWork *w, long *plo, long *phi, const Row *row, long limit) {
    long rhi = MIN(row->hi, limit);
    long new_lo = *plo + row->lo, new_hi = MIN(*phi + rhi, w->k);
    if (rhi < row->lo || new_lo > w->k) return 0;
    const long double *r = w->rows + row->at - row->lo; // r[y] for y in [row->lo, rhi]
    for (long d = new_lo; d <= new_hi; d++) w->tmp[d] = 0.0L;
    for (long a = *plo; a <= *phi; a++) {
        long double pa = w->poly[a];
        if (pa == 0.0L) continue;
        long top = MIN(rhi, new_hi - a);
        for (long y = row->lo; y <= top; y++) w->tmp[a + y] += pa * r[y];
    }
    memcpy(w->poly + new_lo, w->tmp + new_lo, (size_t)(new_hi - new_lo + 1) * sizeof *w->poly);
    *plo = new_lo;
    *phi = new_hi;
    return 1;
}

// Scaled count of k-subsets in which every group j takes at most limit_j samples, where
// limit_j = x for correct groups when correct_limit_x is set, else x − 1. Groups that cannot
// exceed their limit are left free; they and the missing samples merge into one binomial.
static long double subsets_below(MajWork *w, const long *counts, const unsigned char *correct, int m,
                                 long n_missing, long x, int correct_limit_x) {
    long plo = 0, phi = 0, free_n = n_missing;
    w->poly[0] = 1.0L;
    for (int j = 0; j < m; j++) {
        long limit = (correct_limit_x && correct[j]) ? x : x - 1;
        if (counts[j] <= limit)
            free_n += counts[j];
        else if (!poly_mul_row(w, &plo, &phi, &w->row[j], limit))
            return 0.0L;
    }
    long double sum = 0.0L;
    for (long i = plo; i <= phi; i++)
        if (w->poly[i] != 0.0L) sum += w->poly[i] * scaled_binom(w, free_n, w->k - i);
    return sum;
}

// k = n: the one subset is every sample.
static double maj_all_samples(const long *counts, const unsigned char *correct, int m) {
    long best = 0;
    for (int j = 0; j < m; j++) best = MAX(best, counts[j]);
    if (best == 0) return 0.0;
    for (int j = 0; j < m; j++)
        if (counts[j] == best && !correct[j]) return 0.0;
    return 1.0;
}

double maj_at_k(long n, long k, const long *counts, const unsigned char *correct, int m, long n_missing) {
    if (k < 1 || k > n || m < 0 || n_missing < 0 || (m > 0 && (!counts || !correct))) return NAN;
    long total = n_missing, max_correct = 0;
    for (int j = 0; j < m; j++) {
        if (counts[j] < 0) return NAN;
        total += counts[j];
        if (correct[j]) max_correct = MAX(max_correct, counts[j]);
    }
    if (total != n) return NAN;
    if (max_correct == 0) return 0.0; // no correct answer can win
    if (k == n) return maj_all_samples(counts, correct, m);

    MajWork w = {.n = n, .k = k};
    long double p = (long double)k / (long double)n;
    w.log_p = logl(p);
    w.log_q = log1pl(-p);
    w.log_fact = xmalloc((size_t)(n + 1) * sizeof *w.log_fact);
    for (long i = 0; i <= n; i++) { // lgammal_r: lgammal writes the global signgam, a race across threads
        int sign;
        w.log_fact[i] = lgammal_r((long double)i + 1.0L, &sign);
    }
    w.poly = xmalloc((size_t)(k + 1) * sizeof *w.poly);
    w.tmp = xmalloc((size_t)(k + 1) * sizeof *w.tmp);
    w.row = xmalloc((size_t)(m > 0 ? m : 1) * sizeof *w.row);
    w.rows = xmalloc((size_t)(n - n_missing + m) * sizeof *w.rows);
    size_t at = 0;
    long x_max = 0; // beyond the kept range of every correct row, no correct group reaches x
    for (int j = 0; j < m; j++) {
        build_row(&w, &w.row[j], &at, counts[j]);
        if (correct[j]) x_max = MAX(x_max, w.row[j].hi);
    }

    // The subset is right when its largest group count x ≥ 1 is reached by correct groups only:
    // wrong groups take < x, correct groups ≤ x, and some correct group exactly x. That is
    // (subsets with wrong < x, correct ≤ x) − (subsets with every group < x).
    long double hit = 0.0L;
    for (long x = 1; x <= MIN(k, x_max); x++)
        hit += subsets_below(&w, counts, correct, m, n_missing, x, 1) -
               subsets_below(&w, counts, correct, m, n_missing, x, 0);
    long double all = scaled_binom(&w, n, k); // the same scaling applied to C(n, k)

    free(w.log_fact);
    free(w.poly);
    free(w.tmp);
    free(w.row);
    free(w.rows);
    double r = (double)(hit / all);
    return r < 0.0 ? 0.0 : r > 1.0 ? 1.0 : r; // rounding only: the exact value is in [0, 1]
}

// ---------------------------------------------------------------------------------------------
double pass_at_k_analytic(double logprob, double k) {
    if (isnan(logprob) || isnan(k) || k < 0.0) return NAN;
    if (k == 0.0) return 0.0;
    if (logprob >= 0.0) return 1.0; // p = 1 (a log-probability can round to just above 0)
    // log(1 − p) with p = e^logprob, accurate at both ends (Mächler's log1mexp).
    double log1m_p = logprob > -M_LN2 ? log(-expm1(logprob)) : log1p(-exp(logprob));
    return -expm1(k * log1m_p);
}
