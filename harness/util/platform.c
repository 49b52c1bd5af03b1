// platform.c — what built this binary and which libraries it runs on (recorded with every run).
#include <cblas.h>
#include <cjson/cJSON.h>
#include <lbfgs.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "util/cpu.h"
#include "util/json.h"
#include "util/util.h"

#ifndef T2_GIT_SHA
#define T2_GIT_SHA "unknown"
#endif

const char *t2_git_sha(void) { return T2_GIT_SHA; }
const char *t2_version(void) { return "0.1.0"; }

// Debian's liblbfgs does not export a version string; the package version is the best record.
#define LIBLBFGS_VERSION "1.10"

char *lib_versions_json(const char *sqlite_version) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "t2", t2_version());
    cJSON_AddStringToObject(o, "git", t2_git_sha());
    cJSON_AddStringToObject(o, "openblas", openblas_get_config());
    cJSON_AddStringToObject(o, "openblas_core", openblas_get_corename());
    cJSON_AddStringToObject(o, "sqlite", sqlite_version);
    cJSON_AddStringToObject(o, "cjson", cJSON_Version());
    cJSON_AddStringToObject(o, "zlib", zlibVersion());
    cJSON_AddStringToObject(o, "liblbfgs", LIBLBFGS_VERSION);
#ifdef __VERSION__
    cJSON_AddStringToObject(o, "compiler", __VERSION__);
#endif
    cJSON_AddStringToObject(o, "build_arch", t2_build_arch);
    const CpuInfo *cpu = cpu_info();
    char features[128];
    cpu_features_string(cpu, features, sizeof features);
    cJSON_AddStringToObject(o, "cpu", cpu->brand[0] ? cpu->brand : cpu->vendor);
    cJSON_AddStringToObject(o, "cpu_features", features);
    return json_text_free(o);
}

// OpenBLAS 0.3.21 does not know recent CPUs (e.g. Intel family 6 model 207) and falls back to
// its SSE3 "Prescott" kernels, 4-5x slower than the AVX-512 ones (OpenMathLib/OpenBLAS#4267).
// The core is chosen when the library loads, so the only fix is OPENBLAS_CORETYPE in the
// environment of a fresh process: returns the core to use, or NULL when the choice is fine.
const char *blas_better_core(void) {
    static const char *const generic[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom"};
    const char *core = openblas_get_corename();
    int is_generic = 0;
    for (size_t i = 0; i < ARRAY_LEN(generic); i++) is_generic |= core && strcasecmp(core, generic[i]) == 0;
    if (!is_generic) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

void blas_set_threads(int n) { openblas_set_num_threads(n > 0 ? n : 1); }

int cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
