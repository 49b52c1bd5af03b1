// fuzz_spec.c — the experiment-file parser (spec/spec.c, tasks/tasks_config.c): any bytes give a
// parsed spec or one error line; a parsed spec's canonical JSON parses again to the same spec.
#include <string.h>

#include "fuzz.h"
#include "spec/spec.h"
#include "util/util.h"

FUZZ_TARGET(spec) {
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    Spec s;
    if (spec_parse(&s, text, "fuzz.json") == 0) {
        FUZZ_ASSERT(s.n_runs >= 1 && s.json && strlen(s.hash) == 16);
        Spec again;
        FUZZ_ASSERT(spec_parse(&again, s.json, "canonical.json") == 0);
        FUZZ_ASSERT(strcmp(again.json, s.json) == 0 && strcmp(again.hash, s.hash) == 0);
        FUZZ_ASSERT(again.n_runs == s.n_runs);
        for (int i = 0; i < s.n_runs; i++) {
            const RunSpec *r = &s.runs[i];
            FUZZ_ASSERT(r->run_id == i && r->steps >= 1 && r->train_tokens > 0 && r->n_params > 0);
            char *a = run_config_json(&s, r), *b = run_config_json(&again, &again.runs[i]);
            FUZZ_ASSERT(strcmp(a, b) == 0);
            free(a);
            free(b);
        }
        spec_free(&again);
        spec_free(&s);
    } else {
        FUZZ_ONE_LINE(err_msg());
    }
    free(text);
    return 0;
}
