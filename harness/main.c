// main.c — `t2 <command> ...`: one table of commands, each in its own cmd_*.c file.
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "util.h"

static const Command commands[] = {
    {"fit", cmd_fit, "fit a scaling law (chinchilla, t2-loss, t2-acc, coverage) to points"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: t2 <command> [options]   (t2 <command> --help for details)\n\n"
                 "Train-to-Test scaling experiments: train small transformers across compute budgets,\n"
                 "sample them k times per problem, fit scaling laws, find the compute-optimal (N, D, k).\n\n"
                 "commands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        printf("t2 %s (git %s)\n", t2_version(), t2_git_sha());
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0) {
            args_about = commands[i].help;
            return commands[i].fn(argc - 2, argv + 2);
        }
    fprintf(stderr, "t2: unknown command '%s' (t2 --help lists them)\n", name);
    return 2;
}
