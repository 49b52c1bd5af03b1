// fuzz_csv.c — the fit CSV reader (fit/fit_csv.c): the first byte picks the law, the rest is the
// file. Any bytes give points that pass the law's checks, or one error line.
#include <math.h>
#include <string.h>

#include "fit/fit.h"
#include "fuzz.h"
#include "util/util.h"

FUZZ_TARGET(csv) {
    if (size < 1) return 0;
    FitLaw law = (FitLaw)(data[0] % FIT_N_LAWS);
    char *text = xmalloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    FitData d;
    if (fit_csv_parse(text, size - 1, "fuzz.csv", law, &d) == 0) {
        FUZZ_ASSERT(fit_data_check(law, &d) == 0);
        size_t lines = 1;
        for (size_t i = 0; i + 1 < size; i++) lines += text[i] == '\n';
        FUZZ_ASSERT(d.n <= lines);
        for (size_t i = 0; i < d.n; i++) {
            if (law != FIT_COVERAGE || !d.model) FUZZ_ASSERT(d.N[i] > 0 && isfinite(d.N[i]) && d.D[i] > 0);
            if (law != FIT_CHINCHILLA) FUZZ_ASSERT(d.k[i] >= 1);
            if (law == FIT_CHINCHILLA) FUZZ_ASSERT(d.loss[i] > 0 && isfinite(d.loss[i]));
            if (law == FIT_T2_ACC || law == FIT_COVERAGE) FUZZ_ASSERT(d.pass[i] >= 0 && d.pass[i] <= 1);
        }
        fit_data_free(&d);
    } else {
        FUZZ_ONE_LINE(err_msg());
    }
    free(text);
    return 0;
}
