// threadpool.h — t2's one threading model: a fixed pool of worker threads that run the same
// function together (fork/join), with OpenBLAS held at one thread per caller. Workers spin for a
// few microseconds, then sleep on a condition variable, so an idle pool never steals a core.
#ifndef T2_THREADPOOL_H
#define T2_THREADPOOL_H

typedef struct ThreadPool ThreadPool;
typedef void (*PoolFn)(void *ctx, int tid, int n_threads);

// n_threads counts the caller: pool_create(1) starts no threads and pool_run calls fn inline.
ThreadPool *pool_create(int n_threads);
int pool_size(const ThreadPool *p);
// Run fn(ctx, tid, n) on every thread (tid 0 is the caller) and wait for all to return.
void pool_run(ThreadPool *p, PoolFn fn, void *ctx);
void pool_free(ThreadPool *p);

// Split [0, n) into n_parts contiguous ranges as evenly as possible; part i is [*lo, *hi).
void split_range(long n, int n_parts, int i, long *lo, long *hi);

#endif
