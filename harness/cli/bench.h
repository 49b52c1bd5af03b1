// bench.h — shared pieces of `t2 bench`.
#ifndef T2_BENCH_H
#define T2_BENCH_H

#include <cjson/cJSON.h>

// GFLOP/s of (m, k)·(n, k)ᵀ on OpenBLAS's pool of `threads` threads, best of `reps`.
double sgemm_gflops(int m, int n, int k, int threads, int reps);
// Best of square products from 512 (or max_n) doubling up to max_n: the peak MFU is measured against.
double sgemm_peak_gflops(int threads, int max_n);
// Print a flat result object: one JSON line with json, else "key: value" lines. Frees o.
void bench_print(cJSON *o, int json);
int bench_sample(int argc, char **argv);
// bench_fit.c: `t2 bench fit`, a fit with bootstrap intervals on synthetic data.
int bench_fit(int argc, char **argv);

#endif
