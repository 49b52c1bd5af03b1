// cmd_merge.c — `t2 merge OUT.db IN.db...`: combine the shard databases of a sweep (docs/SPEC.md §8).
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "db/db.h"
#include "util/util.h"

int cmd_merge(int argc, char **argv) {
    int quiet = 0;
    Opt opts[] = {
        ARG_FLAG("--quiet", &quiet, "print nothing on success"),
    };
    Positional pos;
    int rc = args_parse("merge", argc, argv, opts, ARRAY_LEN(opts), &pos, "OUT.db IN.db...", 2, -1);
    if (rc != 0) return rc > 0 ? 0 : cmd_fail();
    const char *out = pos.items[0];
    const char *const *in = (const char *const *)pos.items + 1;
    size_t n_in = (size_t)pos.n - 1;
    DbMergeStats st;
    rc = db_merge(out, in, n_in, &st);
    free(pos.items);
    if (rc != 0) return cmd_fail();
    if (!quiet)
        printf("merged %zu database%s into %s: runs %zu added, %zu updated; evals %zu added; "
               "problems %zu added; fits %zu added\n",
               n_in, n_in == 1 ? "" : "s", out, st.runs_added, st.runs_updated, st.evals_added,
               st.problems_added, st.fits_added);
    return 0;
}
