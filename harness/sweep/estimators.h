// estimators.h — repeated-sampling estimators: unbiased pass@k, exact expected maj@k, analytic pass@k.
#ifndef T2_SCORE_H
#define T2_SCORE_H

// Unbiased pass@k (Chen et al. 2021) for one problem with n samples, c correct:
// 1 if n − c < k, else 1 − ∏_{i=n−c+1}^{n} (1 − k/i). Returns NAN when k > n, k < 1 or c ∉ [0, n].
double pass_at_k(long n, long c, long k);

// Expected majority-vote accuracy over uniformly drawn k-subsets of the n samples of one problem.
// The samples' answers are grouped into m distinct normalised answers with counts[j] samples each
// (correct[j] = 1 when answer j is right) plus n_missing samples without an answer, so
// n = n_missing + Σ counts. In a subset, missing answers do not vote; the winner is the most
// frequent answer; a tie is counted wrong unless every tied answer is correct; a subset with no
// answer at all is wrong. Exact (hypergeometric convolution). NAN when k > n or k < 1, or when
// the counts are negative or do not add up to n.
double maj_at_k(long n, long k, const long *counts, const unsigned char *correct, int m, long n_missing);

// Analytic pass@k from the gold log-probability: 1 − (1 − exp(logprob))^k, k real ≥ 0.
double pass_at_k_analytic(double logprob, double k);

#endif
