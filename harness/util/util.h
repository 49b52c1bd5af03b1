// util.h — small shared pieces: error messages, checked allocation, RNG, time, files, hashing.
#ifndef T2_UTIL_H
#define T2_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// ---------------------------------------------------------------------------------------------
// Errors. Functions that can fail on user input return -1 (or NULL) after err_set(), and the
// command prints err_msg() as its one line on stderr. The buffer is per thread.
void err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_msg(void);
// Prefix the current message: "PREFIX: old message" (used to add a file or key name on the way up).
void err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Print "t2: MESSAGE" on stderr and exit(1). For errors with no caller to report to.
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

// Checked allocation: out of memory is fatal and names the call site.
#define xmalloc(n) xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, sz) xcalloc_at((n), (sz), __FILE__, __LINE__)
#define xrealloc(p, n) xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) xstrdup_at((s), __FILE__, __LINE__)
void *xmalloc_at(size_t n, const char *file, int line);
void *xcalloc_at(size_t n, size_t size, const char *file, int line);
void *xrealloc_at(void *p, size_t n, const char *file, int line);
char *xstrdup_at(const char *s, const char *file, int line);
// 64-byte aligned, zeroed; free with free().
#define xmalloc_aligned(n) xmalloc_aligned_at((n), __FILE__, __LINE__)
void *xmalloc_aligned_at(size_t n, const char *file, int line);
// printf into a fresh heap string.
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// ---------------------------------------------------------------------------------------------
// RNG: xoshiro256** seeded through splitmix64. State is plain data so checkpoints can save it.
typedef struct {
    uint64_t s[4];
} Rng;
void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
double rng_uniform(Rng *r);           // [0, 1), 53 bits
uint64_t rng_below(Rng *r, uint64_t n); // uniform in [0, n), unbiased; n > 0
double rng_normal(Rng *r);            // standard normal (Box–Muller, no cached spare)
// Derive an independent stream id from a parent seed and a tuple of integers
// (e.g. (run, problem, sample)): splitmix64 applied along the tuple.
uint64_t seed_derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

// ---------------------------------------------------------------------------------------------
// Hashing: FNV-1a 64 over bytes (config hashes, ids), rendered as 16 hex digits.
uint64_t fnv1a64(const void *data, size_t n);
void hex64(uint64_t h, char out[17]);
// CRC-32 (zlib) for checkpoint and file checksums.
uint32_t crc32_bytes(uint32_t crc, const void *data, size_t n);

// ---------------------------------------------------------------------------------------------
// Time.
double now_s(void);       // monotonic seconds
double cpu_time_s(void);  // CPU seconds used by this process (all its threads)
double wall_clock_s(void); // seconds since the epoch
void iso_time_utc(char out[32]); // "2026-11-26T13:33:02Z"

// ---------------------------------------------------------------------------------------------
// Files. An AtomicFile writes PATH.tmp.PID, then fsync + rename + fsync of the directory on
// commit, so a reader (or a crash) only ever sees the old file or the complete new one.
typedef struct {
    FILE *f;
    char *path;
    char *tmp;
    uint32_t crc; // running CRC-32 of everything written
    int failed;
} AtomicFile;
int atomic_open(AtomicFile *af, const char *path);
int atomic_write(AtomicFile *af, const void *data, size_t n);
int atomic_commit(AtomicFile *af); // closes; on failure removes the temporary file
void atomic_abort(AtomicFile *af); // closes and removes the temporary file
// Read a whole file (NUL-terminated for convenience). NULL and err_set() on failure.
char *read_file(const char *path, size_t *len);
// mkdir -p for the directory part of PATH (or PATH itself with is_dir).
int make_dirs(const char *path, int is_dir);
int file_exists(const char *path);
// Paths, lexically (no file need exist; symbolic links are not followed).
// The directory part of PATH: "results" for "results/demo.db", "." for "demo.db", "/" for "/x".
char *path_dir(const char *path);
// REL taken from DIR: REL itself when absolute, else DIR/REL ("." as DIR adds nothing).
char *path_join(const char *dir, const char *rel);
// PATH made absolute from the working directory, with "." and ".." parts and repeated '/' removed.
char *path_absolute(const char *path);
// PATH relative to the directory DIR when it lies inside it ("a/b.ckpt"), else NULL.
char *path_inside(const char *dir, const char *path);
// Are A and B one file (same device and inode, so also through links)? 0 when either is missing.
int same_file(const char *a, const char *b);
// A command never writes over one of its inputs: -1 + err_set("OUT_ARG: OUT is IN_ARG itself; ...")
// when OUT is the file IN, or one of the -wal, -shm and -journal files SQLite keeps beside it.
int refuse_input_as_output(const char *out_arg, const char *out, const char *in_arg, const char *in);

// ---------------------------------------------------------------------------------------------
// Numbers in text: strict parsing (whole string, finite). 0 on success.
// parse_int is the one integer parser: decimal digits with an optional sign, or an integral
// number written as a float ("1e6"), in [lo, hi]. Returns 0; PARSE_NOT_INT after err_set("expected
// an integer, got 'S'"); PARSE_RANGE after err_set("S is out of range [LO, HI]"), also when S
// overflows a long. Callers prefix the argument or key: err_prefix("--shard").
enum { PARSE_NOT_INT = -1, PARSE_RANGE = -2 };
int parse_int(const char *s, long lo, long hi, long *out);
int parse_double(const char *s, double *out);
// Sort V[0..n) ascending (NaN-free input).
void sort_doubles(double *v, size_t n);
// The Q-quantile of the ascending V[0..n), n >= 1, interpolated between order statistics:
// v[i] + t·(v[i+1] − v[i]) at q·(n−1) = i + t (R's and NumPy's default, "type 7").
double quantile_sorted(const double *v, size_t n, double q);
// Format FLOPs and counts for humans: 1.23e12 -> "1.23T", 824448 -> "824.4k".
void human_count(double x, char *out, size_t n);
void human_seconds(double s, char *out, size_t n);

// ---------------------------------------------------------------------------------------------
// Build and library identification, recorded with every run.
const char *t2_git_sha(void);
const char *t2_version(void);
// JSON object text: {"t2":..., "openblas":..., "sqlite":..., "cjson":..., "liblbfgs":..., "compiler":...,
// "cpu":..., "cpu_features": "avx512 avx512_bf16 amx_bf16"}
// SQLITE_VERSION comes from the db layer, the only code that links SQLite directly.
char *lib_versions_json(const char *sqlite_version);

// Threads: set OpenBLAS's own pool size (t2 always calls sgemm with 1 OpenBLAS thread from each
// of its own worker threads; `bench gemm` measures OpenBLAS's pool directly).
void blas_set_threads(int n);
// The OpenBLAS core this machine should use when OpenBLAS fell back to a generic one, or NULL.
const char *blas_better_core(void);
int cpu_count(void);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
