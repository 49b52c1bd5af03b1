// threadpool.c — fork/join pool: a generation counter announces work, a counter of finished
// workers announces completion. Short spins first (the work items are milliseconds long), then
// condition variables.
#include "util/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util/util.h"

#define SPIN_ITERS 20000

struct ThreadPool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    atomic_long generation;
    atomic_int remaining;
    atomic_int stop;
    PoolFn fn;
    void *ctx;
};

typedef struct {
    ThreadPool *pool;
    int tid;
} WorkerArg;

static void *worker_main(void *arg) {
    WorkerArg *wa = arg;
    ThreadPool *p = wa->pool;
    int tid = wa->tid;
    free(wa);
    long seen = 0;
    for (;;) {
        long gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop) && spins < SPIN_ITERS) {
            spins++;
            __builtin_ia32_pause();
        }
        if (gen == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while ((gen = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->work_cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen;
        p->fn(p->ctx, tid, p->n);
        if (atomic_fetch_sub_explicit(&p->remaining, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

ThreadPool *pool_create(int n_threads) {
    ThreadPool *p = xcalloc(1, sizeof *p);
    p->n = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    blas_set_threads(1);
    p->threads = xcalloc((size_t)p->n, sizeof(pthread_t));
    for (int t = 1; t < p->n; t++) {
        WorkerArg *wa = xmalloc(sizeof *wa);
        wa->pool = p;
        wa->tid = t;
        if (pthread_create(&p->threads[t], NULL, worker_main, wa) != 0) die("cannot start worker thread %d", t);
    }
    return p;
}

int pool_size(const ThreadPool *p) { return p->n; }

void pool_run(ThreadPool *p, PoolFn fn, void *ctx) {
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->remaining, p->n - 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->remaining, memory_order_acquire) > 0 && spins < SPIN_ITERS) {
        spins++;
        __builtin_ia32_pause();
    }
    if (atomic_load(&p->remaining) > 0) {
        pthread_mutex_lock(&p->mu);
        while (atomic_load(&p->remaining) > 0) pthread_cond_wait(&p->done_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

void pool_free(ThreadPool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++) pthread_join(p->threads[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p);
}

void split_range(long n, int n_parts, int i, long *lo, long *hi) {
    long base = n / n_parts, extra = n % n_parts;
    *lo = i * base + (i < extra ? i : extra);
    *hi = *lo + base + (i < extra ? 1 : 0);
}
