// fuzz_args.c — the command-line parser (cli/args.c) and the number parsers under it
// (util/util.c). The input is split into arguments at newlines and NUL bytes; every option type
// is declared. Any arguments are parsed within their declared ranges, or refused with one line.
#include <math.h>
#include <string.h>

#include "cli/args.h"
#include "fuzz.h"
#include "util/util.h"

#ifndef T2_FUZZ_REPLAY
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    if (!freopen("/dev/null", "w", stdout)) return 1; // --help prints usage
    return 0;
}
#endif

FUZZ_TARGET(args) {
    char *copy = xmalloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *argv[33];
    int argc = 0;
    for (size_t i = 0, start = 0; i <= size && argc < 32; i++)
        if (i == size || copy[i] == '\n' || copy[i] == '\0') {
            copy[i] = '\0';
            argv[argc++] = copy + start;
            start = i + 1;
        }
    argv[argc] = NULL;
    char *db = NULL, *prompt = NULL;
    long run = -7, k = 1;
    double temp = 1.0, anything = 0;
    int json = 0;
    Opt opts[] = {
        {"--db", OPT_STR, &db, "PATH", "a path"},
        {"--prompt", OPT_TEXT, &prompt, "P", "text"},
        {"--run", OPT_INT, &run, "ID", "required", 1, 0, 1e9},
        {"-k|--k", OPT_INT, &k, "K", "aliases", 0, 1, 65536},
        {"--temperature", OPT_DOUBLE, &temp, "T", "ranged", 0, 0, 100},
        {"--x", OPT_DOUBLE, &anything, "X", "unranged"},
        {"--json", OPT_FLAG, &json, NULL, "flag"},
    };
    Positional pos;
    int rc = args_parse("fuzz", argc, argv, opts, (int)ARRAY_LEN(opts), &pos, "A [B]", 1, 2);
    if (rc == 0) {
        FUZZ_ASSERT(opts[2].seen && run >= 0 && run <= 1000000000);
        FUZZ_ASSERT(k >= 1 && k <= 65536 && temp >= 0 && temp <= 100 && isfinite(anything));
        FUZZ_ASSERT(!db || *db);
        FUZZ_ASSERT(pos.n >= 1 && pos.n <= 2);
        for (int i = 0; i < pos.n; i++) FUZZ_ASSERT(pos.items[i][0] != '\0');
        free(pos.items);
    } else if (rc < 0) {
        FUZZ_ONE_LINE(err_msg());
    }
    for (int i = 0; i < argc; i++) {
        long v;
        int p = parse_int(argv[i], -1000, 1000, &v);
        FUZZ_ASSERT(p == 0 || p == PARSE_NOT_INT || p == PARSE_RANGE);
        if (p == 0) FUZZ_ASSERT(v >= -1000 && v <= 1000);
        double d;
        if (parse_double(argv[i], &d) == 0) FUZZ_ASSERT(isfinite(d));
        if (p == 0) FUZZ_ASSERT(parse_double(argv[i], &d) == 0 && d == (double)v);
    }
    free(copy);
    return 0;
}
