// args.h — declarative command-line options shared by every command.
//
// Options are declared one way: a table of ARG_* entries, one macro per value type (the macro
// checks the destination's type), optional fields by name after the help text.
//
//   char *db = NULL;  long run = 0;  int json = 0;
//   Opt opts[] = {
//       ARG_STR("--db", &db, "PATH", "results database"),
//       ARG_INT("--run", &run, "ID", "run id (0..R-1)", .required = 1, .min = 0, .max = 1e9),
//       ARG_FLAG("--json", &json, "print one JSON object"),
//   };
//   int rc = args_parse("train", argc, argv, opts, ARRAY_LEN(opts), &pos, "SPEC.json", 1, 1);
//   if (args_seen(opts, ARRAY_LEN(opts), "--db")) ...
//
// args_parse returns 0 on success, 1 when --help was printed (the command then exits 0), and -1
// after err_set() with a message naming the argument ("--run: expected an integer, got 'x'").
// Options are found by name, never by their position in the table.
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

// The destination of each type: a mismatch is a compile-time warning.
static inline void *arg_dst_str(char **p) { return p; }
static inline void *arg_dst_int(long *p) { return p; }
static inline void *arg_dst_double(double *p) { return p; }
static inline void *arg_dst_flag(int *p) { return p; }

#define ARG_STR(NAME, DST, METAVAR, HELP, ...)                                                              \
    {.name = (NAME), .type = OPT_STR, .dst = arg_dst_str(DST), .metavar = (METAVAR), .help = (HELP), __VA_ARGS__}
#define ARG_TEXT(NAME, DST, METAVAR, HELP, ...)                                                             \
    {.name = (NAME), .type = OPT_TEXT, .dst = arg_dst_str(DST), .metavar = (METAVAR), .help = (HELP), __VA_ARGS__}
#define ARG_INT(NAME, DST, METAVAR, HELP, ...)                                                              \
    {.name = (NAME), .type = OPT_INT, .dst = arg_dst_int(DST), .metavar = (METAVAR), .help = (HELP), __VA_ARGS__}
#define ARG_DOUBLE(NAME, DST, METAVAR, HELP, ...)                                                           \
    {.name = (NAME), .type = OPT_DOUBLE, .dst = arg_dst_double(DST), .metavar = (METAVAR), .help = (HELP),     \
     __VA_ARGS__}
#define ARG_FLAG(NAME, DST, HELP, ...)                                                                      \
    {.name = (NAME), .type = OPT_FLAG, .dst = arg_dst_flag(DST), .help = (HELP), __VA_ARGS__}

typedef struct {
    char **items;
    int n;
} Positional;

int args_parse(const char *cmd, int argc, char **argv, Opt *opts, int n_opts, Positional *pos,
               const char *pos_usage, int pos_min, int pos_max);
void args_usage(const char *cmd, const Opt *opts, int n_opts, const char *pos_usage, const char *about);
// The option NAME ("--c-inf", or any alias of it) of a table; a name the table lacks is a bug (dies).
const Opt *args_opt(const Opt *opts, int n_opts, const char *name);
// Was option NAME given on the command line?
int args_seen(const Opt *opts, int n_opts, const char *name);

// The one-line summary a command shows above its options in --help (set by the dispatcher).
extern const char *args_about;

#endif
