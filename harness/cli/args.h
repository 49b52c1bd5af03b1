// args.h — declarative command-line options shared by every command.
//
//   Opt opts[] = {
//       {"--db", OPT_STR, &db, "PATH", "results database"},
//       {"--run", OPT_INT, &run, "ID", "run id (0..R-1)", .required = 1},
//       {"--json", OPT_FLAG, &json, NULL, "print one JSON object"},
//   };
//   int rc = args_parse("train", argc, argv, opts, ARRAY_LEN(opts), &pos, "SPEC.json", 1, 1);
//
// args_parse returns 0 on success, 1 when --help was printed (the command then exits 0), and -1
// after err_set() with a message naming the argument ("--run: expected an integer, got 'x'").
#ifndef T2_ARGS_H
#define T2_ARGS_H

// OPT_STR is a non-empty string (a path, a name: an empty one is an error, never "/" or "here");
// OPT_TEXT is free text that may be empty (a prompt).
typedef enum { OPT_STR, OPT_TEXT, OPT_INT, OPT_DOUBLE, OPT_FLAG } OptType;

typedef struct {
    const char *name;  // "--db"; a short alias may follow after '|': "-k|--k"
    OptType type;
    void *dst;         // char ** (STR, TEXT), long *, double *, int *
    const char *metavar;
    const char *help;
    int required;
    double min, max;   // range check for OPT_INT / OPT_DOUBLE when min < max
    int seen;          // set by args_parse
} Opt;

typedef struct {
    char **items;
    int n;
} Positional;

int args_parse(const char *cmd, int argc, char **argv, Opt *opts, int n_opts, Positional *pos,
               const char *pos_usage, int pos_min, int pos_max);
void args_usage(const char *cmd, const Opt *opts, int n_opts, const char *pos_usage, const char *about);

// The one-line summary a command shows above its options in --help (set by the dispatcher).
extern const char *args_about;

#endif
