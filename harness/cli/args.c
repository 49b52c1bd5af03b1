// args.c — parse "--name value" options from a table; errors name the argument.
#include "cli/args.h"
#include "cli/commands.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

const char *args_about = "";

static int opt_matches(const char *spec, const char *arg) {
    // spec may hold aliases separated by '|'.
    size_t n = strlen(arg);
    for (const char *p = spec; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, arg, n) == 0) return 1;
        if (!bar) break;
        p = bar + 1;
    }
    return 0;
}

const Opt *args_opt(const Opt *opts, int n_opts, const char *name) {
    for (int i = 0; i < n_opts; i++)
        if (opt_matches(opts[i].name, name)) return &opts[i];
    die("args_opt: no option %s in the table", name);
}

int args_seen(const Opt *opts, int n_opts, const char *name) { return args_opt(opts, n_opts, name)->seen; }

static int set_value(Opt *o, const char *arg, const char *val) {
    switch (o->type) {
    case OPT_STR:
        if (!*val) {
            err_set("%s: empty value%s%s", arg, o->metavar ? ", expected " : "", o->metavar ? o->metavar : "");
            return -1;
        }
        *(char **)o->dst = (char *)val;
        return 0;
    case OPT_TEXT:
        *(char **)o->dst = (char *)val;
        return 0;
    case OPT_INT: {
        long v, lo = LONG_MIN, hi = LONG_MAX;
        if (o->min < o->max) {
            lo = (long)o->min;
            hi = o->max >= 9.2e18 ? LONG_MAX : (long)o->max;
        }
        if (parse_int(val, lo, hi, &v) != 0) {
            err_prefix("%s", arg);
            return -1;
        }
        *(long *)o->dst = v;
        return 0;
    }
    case OPT_DOUBLE: {
        double v;
        if (parse_double(val, &v) != 0) {
            err_set("%s: expected a number, got '%s'", arg, val);
            return -1;
        }
        if (o->min < o->max && (v < o->min || v > o->max)) {
            err_set("%s: %g is out of range [%g, %g]", arg, v, o->min, o->max);
            return -1;
        }
        *(double *)o->dst = v;
        return 0;
    }
    case OPT_FLAG:
        *(int *)o->dst = 1;
        return 0;
    }
    return -1;
}

void args_usage(const char *cmd, const Opt *opts, int n_opts, const char *pos_usage, const char *about) {
    printf("usage: t2 %s%s%s", cmd, pos_usage && *pos_usage ? " " : "", pos_usage ? pos_usage : "");
    for (int i = 0; i < n_opts; i++) {
        const Opt *o = &opts[i];
        printf(o->required ? " %s%s%s" : " [%s%s%s]", o->name, o->metavar ? " " : "",
               o->metavar ? o->metavar : "");
    }
    printf("\n");
    if (about && *about) printf("\n%s\n", about);
    if (n_opts) printf("\noptions:\n");
    for (int i = 0; i < n_opts; i++) {
        const Opt *o = &opts[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        printf("  %-24s %s%s\n", left, o->help ? o->help : "", o->required ? " (required)" : "");
    }
}

int args_parse(const char *cmd, int argc, char **argv, Opt *opts, int n_opts, Positional *pos,
               const char *pos_usage, int pos_min, int pos_max) {
    static char *none[1];
    if (pos) {
        pos->items = NULL;
        pos->n = 0;
    }
    char **items = argc > 0 ? xcalloc((size_t)argc, sizeof(char *)) : none;
    int n_items = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            args_usage(cmd, opts, n_opts, pos_usage, args_about);
            if (items != none) free(items);
            return 1;
        }
        if (a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
            // --name=value is accepted too.
            char name[128];
            const char *eq = strchr(a, '=');
            const char *val = NULL;
            snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
            if (eq) val = eq + 1;
            Opt *o = NULL;
            for (int j = 0; j < n_opts; j++)
                if (opt_matches(opts[j].name, name)) o = &opts[j];
            if (!o) {
                err_set("%s: unknown option '%s' (see t2 %s --help)", cmd, name, cmd);
                goto fail;
            }
            if (o->type == OPT_FLAG) {
                if (val) {
                    err_set("%s: takes no value", name);
                    goto fail;
                }
            } else if (!val) {
                if (i + 1 >= argc) {
                    err_set("%s: missing value%s%s", name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
                    goto fail;
                }
                val = argv[++i];
            }
            if (set_value(o, name, val) != 0) goto fail;
            o->seen = 1;
        } else if (!*a) {
            err_set("%s: empty argument where %s is expected", cmd, pos_usage && *pos_usage ? pos_usage : "none");
            goto fail;
        } else {
            items[n_items++] = argv[i];
        }
    }
    for (int j = 0; j < n_opts; j++)
        if (opts[j].required && !opts[j].seen) {
            err_set("%s: missing required option %s", cmd, opts[j].name);
            goto fail;
        }
    if (n_items < pos_min || (pos_max >= 0 && n_items > pos_max)) {
        if (n_items < pos_min)
            err_set("%s: missing argument %s", cmd, pos_usage ? pos_usage : "");
        else
            err_set("%s: unexpected argument '%s'", cmd, items[pos_max]);
        goto fail;
    }
    if (pos) {
        pos->items = items;
        pos->n = n_items;
    } else if (items != none) {
        free(items);
    }
    return 0;
fail:
    if (items != none) free(items);
    return -1;
}

int cmd_fail(void) {
    fprintf(stderr, "t2: %s\n", err_msg());
    return 1;
}
