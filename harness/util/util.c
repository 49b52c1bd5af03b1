// util.c — errors, allocation, RNG, hashing, time, atomic files, number parsing.
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

// ---------------------------------------------------------------------------------------------
static _Thread_local char err_buf[1024];

// A message is one line, whatever it quotes (a key of a hostile spec may hold a newline): control
// characters are written as \n, \t or \xNN.
static void one_line(char *buf, size_t cap) {
    char tmp[sizeof err_buf];
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)buf; *c && n + 5 < sizeof tmp; c++) {
        if (*c == '\n')
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, "\\n");
        else if (*c == '\t')
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, "\\t");
        else if (*c < 0x20 || *c == 0x7f)
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, "\\x%02x", *c);
        else
            tmp[n++] = (char)*c;
    }
    tmp[n] = '\0';
    snprintf(buf, cap, "%s", tmp);
}

void err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    one_line(err_buf, sizeof err_buf);
}

const char *err_msg(void) { return err_buf[0] ? err_buf : "unknown error"; }

void err_prefix(const char *fmt, ...) {
    char old[sizeof err_buf];
    memcpy(old, err_buf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof err_buf - 3) return;
    size_t len = (size_t)n;
    memcpy(err_buf + len, ": ", 2);
    len += 2;
    size_t rest = strnlen(old, sizeof old - 1);
    if (rest > sizeof err_buf - 1 - len) rest = sizeof err_buf - 1 - len;
    memcpy(err_buf + len, old, rest);
    err_buf[len + rest] = '\0';
    one_line(err_buf, sizeof err_buf);
}

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("t2: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

// ---------------------------------------------------------------------------------------------
static void oom(size_t n, const char *file, int line) {
    die("out of memory allocating %zu bytes at %s:%d", n, file, line);
}

void *xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n, file, line);
    return p;
}

void *xcalloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size, file, line);
    return p;
}

void *xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n, file, line);
    return q;
}

char *xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

void *xmalloc_aligned_at(size_t n, const char *file, int line) {
    size_t rounded = (n + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) oom(n, file, line);
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

char *xasprintf(const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) die("xasprintf: bad format");
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

// ---------------------------------------------------------------------------------------------
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(Rng *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t rng_below(Rng *r, uint64_t n) {
    // Lemire's method with rejection: unbiased.
    uint64_t x = rng_u64(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = rng_u64(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double rng_normal(Rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t seed_derive(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ a;
    h = splitmix64(&x);
    x = h ^ b;
    h = splitmix64(&x);
    x = h ^ c;
    return splitmix64(&x);
}

// ---------------------------------------------------------------------------------------------
uint64_t fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void hex64(uint64_t h, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)h); }

uint32_t crc32_bytes(uint32_t crc, const void *data, size_t n) {
    const unsigned char *p = data;
    uLong c = crc;
    while (n > 0) { // zlib takes uInt lengths
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

// ---------------------------------------------------------------------------------------------
double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cpu_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double wall_clock_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void iso_time_utc(char out[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

// ---------------------------------------------------------------------------------------------
static int fsync_dir_of(const char *path) {
    char *copy = xstrdup(path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = 0;
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno != EINVAL) rc = -1;
        close(fd);
    }
    free(copy);
    return rc;
}

int atomic_open(AtomicFile *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (!path || !*path) {
        err_set("empty output path");
        return -1;
    }
    if (make_dirs(path, 0) != 0) return -1;
    af->path = xstrdup(path);
    af->tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        err_set("%s: cannot create: %s", af->tmp, strerror(errno));
        free(af->path);
        free(af->tmp);
        af->path = af->tmp = NULL;
        return -1;
    }
    af->crc = crc32_bytes(0, NULL, 0);
    return 0;
}

int atomic_write(AtomicFile *af, const void *data, size_t n) {
    if (af->failed) return -1;
    if (n && fwrite(data, 1, n, af->f) != n) {
        err_set("%s: write failed: %s", af->tmp, strerror(errno));
        af->failed = 1;
        return -1;
    }
    af->crc = crc32_bytes(af->crc, data, n);
    return 0;
}

static void atomic_free(AtomicFile *af) {
    free(af->path);
    free(af->tmp);
    af->path = af->tmp = NULL;
    af->f = NULL;
}

int atomic_commit(AtomicFile *af) {
    int rc = af->failed ? -1 : 0;
    if (rc == 0 && (fflush(af->f) != 0 || ferror(af->f))) { // also a write made with fwrite on af->f
        err_set("%s: write failed: %s", af->tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && fsync(fileno(af->f)) != 0) {
        err_set("%s: fsync failed: %s", af->tmp, strerror(errno));
        rc = -1;
    }
    if (fclose(af->f) != 0 && rc == 0) {
        err_set("%s: close failed: %s", af->tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(af->tmp, af->path) != 0) {
        err_set("%s: cannot rename to %s: %s", af->tmp, af->path, strerror(errno));
        rc = -1;
    }
    if (rc == 0) rc = fsync_dir_of(af->path);
    if (rc != 0) unlink(af->tmp);
    atomic_free(af);
    return rc;
}

void atomic_abort(AtomicFile *af) {
    if (!af->f) return;
    fclose(af->f);
    unlink(af->tmp);
    atomic_free(af);
}

char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        err_set("%s: read failed", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int make_dirs(const char *path, int is_dir) {
    char *p = xstrdup(path);
    if (!is_dir) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            free(p);
            return 0;
        }
        *slash = '\0';
    }
    for (char *q = p + 1;; q++) {
        char c = *q;
        if (c == '/' || c == '\0') {
            *q = '\0';
            if (p[0] && mkdir(p, 0777) != 0 && errno != EEXIST) {
                err_set("%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *q = c;
            if (c == '\0') break;
        }
    }
    free(p);
    return 0;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *path_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    while (slash > path && slash[-1] == '/') slash--;
    if (slash == path) return xstrdup("/");
    return xasprintf("%.*s", (int)(slash - path), path);
}

char *path_join(const char *dir, const char *rel) {
    if (rel[0] == '/' || !dir[0] || strcmp(dir, ".") == 0) return xstrdup(rel);
    size_t n = strlen(dir);
    return xasprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", rel);
}

char *path_absolute(const char *path) {
    char *full;
    if (path[0] == '/') {
        full = xstrdup(path);
    } else {
        char *cwd = getcwd(NULL, 0);
        full = xasprintf("%s/%s", cwd ? cwd : "", path);
        free(cwd);
    }
    // Rebuild from the parts: skip "" and ".", drop the last part on "..".
    size_t n = strlen(full);
    char *out = xmalloc(n + 2);
    size_t len = 0;
    for (char *save = NULL, *part = strtok_r(full, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0) continue;
        if (strcmp(part, "..") == 0) {
            while (len > 0 && out[len - 1] != '/') len--;
            if (len > 0) len--;
            continue;
        }
        out[len++] = '/';
        size_t m = strlen(part);
        memcpy(out + len, part, m);
        len += m;
    }
    if (len == 0) out[len++] = '/';
    out[len] = '\0';
    free(full);
    return out;
}

char *path_inside(const char *dir, const char *path) {
    char *d = path_absolute(dir), *p = path_absolute(path), *rel = NULL;
    size_t n = strlen(d);
    if (strcmp(d, "/") == 0) n = 0;
    if (strncmp(p, d, n) == 0 && p[n] == '/' && p[n + 1]) rel = xstrdup(p + n + 1);
    free(d);
    free(p);
    return rel;
}

int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int refuse_input_as_output(const char *out_arg, const char *out, const char *in_arg, const char *in) {
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < ARRAY_LEN(suffix); i++) {
        char *side = xasprintf("%s%s", in, suffix[i]);
        int same = same_file(out, side);
        free(side);
        if (same) {
            err_set("%s: %s is %s%s%s itself; refusing to overwrite an input", out_arg, out, in_arg,
                    i ? "'s " : "", i ? suffix[i] + 1 : "");
            return -1;
        }
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void sort_doubles(double *v, size_t n) { qsort(v, n, sizeof *v, cmp_double); }

double quantile_sorted(const double *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    if (i + 1 >= n) return v[n - 1];
    double t = pos - (double)i;
    return v[i] + t * (v[i + 1] - v[i]);
}

// ---------------------------------------------------------------------------------------------
int parse_int(const char *s, long lo, long hi, long *out) {
    const char *shown = s ? s : "";
    // strtol and strtod skip leading blanks: a value is the whole argument or nothing.
    if (!s || !*s || !(s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) {
        err_set("expected an integer, got '%s'", shown);
        return PARSE_NOT_INT;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    int overflow = errno == ERANGE;
    if (*end) { // not plain digits: an integral number written as a float ("1e6")? (not hex, "inf")
        errno = 0;
        double d = strtod(s, &end);
        if (*end || s[strspn(s, "0123456789+-.eE")] || !(isfinite(d) || errno == ERANGE) || (errno != ERANGE && d != floor(d)) ||
            (errno == ERANGE && fabs(d) < 1)) {
            err_set("expected an integer, got '%s'", shown);
            return PARSE_NOT_INT;
        }
        overflow = !(fabs(d) < 9.2e18);
        v = overflow ? 0 : (long)d;
    }
    if (overflow || v < lo || v > hi) {
        err_set("%s is out of range [%ld, %ld]", shown, lo, hi);
        return PARSE_RANGE;
    }
    *out = v;
    return 0;
}

int parse_double(const char *s, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

void human_count(double x, char *out, size_t n) {
    const char *units[] = {"", "k", "M", "G", "T", "P", "E", "Z"};
    int u = 0;
    double a = fabs(x);
    while (a >= 1000.0 && u < 7) {
        a /= 1000.0;
        x /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(out, n, "%.0f", x);
    else
        snprintf(out, n, "%.3g%s", x, units[u]);
}

void human_seconds(double s, char *out, size_t n) {
    if (!(s >= 0) || s > 1e9)
        snprintf(out, n, "?");
    else if (s < 60)
        snprintf(out, n, "%.1fs", s);
    else if (s < 3600)
        snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(out, n, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}
