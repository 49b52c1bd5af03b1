// fit_csv.c — points for `t2 fit --csv FILE`: a header row naming the columns, then one point
// per row. Every error is one line naming the file, the line and the column.
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit/fit.h"
#include "util/util.h"

const char *fit_csv_help(void) {
    return "CSV columns by law (a header row names them, any order; other columns are ignored;\n"
           "C, training FLOPs, may replace D: D = C / (6 N); blank lines and lines starting with # are skipped):\n"
           "  chinchilla  N, D, loss          loss > 0\n"
           "  t2-loss     N, D, k, nll        nll = mean over problems of -log pass@k, >= 0\n"
           "  t2-acc      N, D, k, pass, nll  pass = pass@k in [0, 1]; nll = the model's NLL (> 0),\n"
           "                                  averaged over its rows for the stage-1 loss law\n"
           "  coverage    model, k, pass      pass in (0, 1]; or N, D, k, pass with (N, D) naming the model\n"
           "N, D, C > 0; k >= 1. Coverage reports a[MODEL], b[MODEL] per model (MODEL = \"N,D\" when keyed by N, D).";
}

// What a column may hold.
typedef enum { V_POSITIVE, V_NONNEG, V_AT_LEAST_1, V_PROB, V_PROB_POS, V_TEXT } ValueKind;

typedef struct {
    const char *name;
    ValueKind kind;
    int index; // position in the header, -1 when absent
} Column;

enum { COL_N, COL_D, COL_C, COL_K, COL_LOSS, COL_NLL, COL_PASS, COL_MODEL, N_COLS };

// Split one line into fields in place: commas separate, surrounding blanks are trimmed, a field
// may be double-quoted ("" is a quote inside). Returns the field count, or -1 on an
// unterminated quote. At most max fields are stored; the count includes the rest.
static int split_fields(char *line, char **fields, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '\0') return -1;
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            while (*p == ' ' || *p == '\t') p++;
            if (*p != ',' && *p != '\0') return -1;
        } else {
            while (*p != ',' && *p != '\0') p++;
            out = p;
            while (out > start && (out[-1] == ' ' || out[-1] == '\t')) out--;
        }
        char sep = *p;
        *out = '\0';
        if (n < max) fields[n] = start;
        n++;
        if (sep == '\0') return n;
        p++;
    }
}

static int is_blank_or_comment(const char *line) {
    while (*line == ' ' || *line == '\t') line++;
    return *line == '\0' || *line == '#';
}

// Next line of buf (NUL-terminated in place, CR stripped); NULL at the end.
static char *next_line(char **cursor) {
    char *s = *cursor;
    if (!s || *s == '\0') return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    size_t len = strlen(s);
    if (len && s[len - 1] == '\r') s[len - 1] = '\0';
    return s;
}

// Which columns a law reads. D may come as C; coverage's model may come as (N, D).
static void law_columns(FitLaw law, Column *cols) {
    static const char *const names[N_COLS] = {"N", "D", "C", "k", "loss", "nll", "pass", "model"};
    for (int c = 0; c < N_COLS; c++) cols[c] = (Column){names[c], V_POSITIVE, -1};
    cols[COL_K].kind = V_AT_LEAST_1;
    cols[COL_NLL].kind = law == FIT_T2_ACC ? V_POSITIVE : V_NONNEG;
    cols[COL_PASS].kind = law == FIT_COVERAGE ? V_PROB_POS : V_PROB;
    cols[COL_MODEL].kind = V_TEXT;
}

// Does the law read column c? by_model: coverage with a model column (then N, D are unused).
static int law_needs(FitLaw law, const Column *cols, int c, int by_model) {
    int nd = law != FIT_COVERAGE || !by_model;
    switch (c) {
    case COL_N: return nd;
    case COL_D: return nd && cols[COL_D].index >= 0;
    case COL_C: return nd && cols[COL_D].index < 0; // C only stands in for a missing D
    case COL_K: return law != FIT_CHINCHILLA;
    case COL_LOSS: return law == FIT_CHINCHILLA;
    case COL_NLL: return law == FIT_T2_LOSS || law == FIT_T2_ACC;
    case COL_PASS: return law == FIT_T2_ACC || law == FIT_COVERAGE;
    case COL_MODEL: return law == FIT_COVERAGE && by_model;
    default: return 0;
    }
}

static void append(char *buf, size_t cap, size_t *len, const char *what) {
    int w = snprintf(buf + *len, cap - *len, "%s%s", *len ? ", " : "", what);
    if (w > 0) *len = MIN(cap - 1, *len + (size_t)w);
}

// Map header fields to columns; -1 + err_set listing every missing column.
static int map_header(const char *path, FitLaw law, char **fields, int n_fields, Column *cols) {
    for (int f = 0; f < n_fields; f++)
        for (int c = 0; c < N_COLS; c++)
            if (strcmp(fields[f], cols[c].name) == 0) {
                if (cols[c].index >= 0) {
                    err_set("%s: column %s appears twice in the header", path, cols[c].name);
                    return -1;
                }
                cols[c].index = f;
            }
    int has_n = cols[COL_N].index >= 0, has_d = cols[COL_D].index >= 0 || cols[COL_C].index >= 0;
    char missing[128] = "";
    size_t len = 0, count = 0;
    if (law == FIT_COVERAGE) {
        if (cols[COL_MODEL].index < 0 && !(has_n && has_d)) append(missing, sizeof missing, &len, "model (or N and D)"), count++;
    } else {
        if (!has_n) append(missing, sizeof missing, &len, "N"), count++;
        if (!has_d) append(missing, sizeof missing, &len, "D (or C)"), count++;
    }
    for (int c = COL_K; c <= COL_PASS; c++)
        if (law_needs(law, cols, c, 1) && cols[c].index < 0) append(missing, sizeof missing, &len, cols[c].name), count++;
    if (count) {
        double v;
        int numeric = n_fields > 0 && parse_double(fields[0], &v) == 0; // data where the header should be
        err_set("%s: missing column%s %s for law %s (%s)", path, count > 1 ? "s" : "", missing, fit_law_name(law),
                numeric ? "the first row must be a header naming the columns" : "see t2 fit --help");
        return -1;
    }
    return 0;
}

static int parse_value(const char *path, int line, const Column *col, const char *text, double *out) {
    if (parse_double(text, out) != 0) {
        err_set("%s:%d: column %s: '%s' is not a number", path, line, col->name, text);
        return -1;
    }
    double v = *out;
    const char *want = NULL;
    switch (col->kind) {
    case V_POSITIVE: want = v > 0 ? NULL : "positive"; break;
    case V_NONNEG: want = v >= 0 ? NULL : ">= 0"; break;
    case V_AT_LEAST_1: want = v >= 1 ? NULL : ">= 1"; break;
    case V_PROB: want = v >= 0 && v <= 1 ? NULL : "in [0, 1]"; break;
    case V_PROB_POS: want = v > 0 && v <= 1 ? NULL : "in (0, 1] (coverage fits log pass@k)"; break;
    case V_TEXT: break;
    }
    if (want) {
        err_set("%s:%d: column %s: %s must be %s", path, line, col->name, text, want);
        return -1;
    }
    return 0;
}

// Parse one data row into point i of out.
static int parse_row(const char *path, int line, FitLaw law, const Column *cols, char **fields, int n_fields,
                     int n_header, FitData *out, size_t i) {
    if (n_fields != n_header) {
        err_set("%s:%d: %d field%s, the header has %d", path, line, n_fields, n_fields == 1 ? "" : "s", n_header);
        return -1;
    }
    int by_model = out->model != NULL;
    double v[N_COLS];
    for (int c = 0; c < N_COLS; c++) {
        v[c] = NAN;
        if (c == COL_MODEL || !law_needs(law, cols, c, by_model)) continue;
        if (parse_value(path, line, &cols[c], fields[cols[c].index], &v[c]) != 0) return -1;
    }
    if (by_model) {
        const char *m = fields[cols[COL_MODEL].index];
        if (*m == '\0') {
            err_set("%s:%d: column model is empty", path, line);
            return -1;
        }
        out->model[i] = xstrdup(m);
    }
    out->N[i] = v[COL_N];
    out->D[i] = law_needs(law, cols, COL_C, by_model) ? v[COL_C] / (6 * v[COL_N]) : v[COL_D];
    out->k[i] = v[COL_K];
    out->loss[i] = v[COL_LOSS];
    out->nll[i] = v[COL_NLL];
    out->pass[i] = v[COL_PASS];
    return 0;
}

int fit_csv_load(const char *path, FitLaw law, FitData *out) {
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return -1;
    int rc = fit_csv_parse(text, len, path, law, out);
    free(text);
    return rc;
}

int fit_csv_parse(const char *csv, size_t len, const char *path, FitLaw law, FitData *out) {
    memset(out, 0, sizeof *out);
    if (strlen(csv) != len) { // what follows a NUL would be silently ignored
        err_set("%s: holds a NUL byte at offset %zu: not a CSV text file", path, strlen(csv));
        return -1;
    }
    char *text = xmalloc(len + 1);
    memcpy(text, csv, len + 1);
    // Rows are at most the line count.
    size_t max_rows = 1;
    for (size_t i = 0; i < len; i++) max_rows += text[i] == '\n';
    char *cursor = text;
    if ((unsigned char)cursor[0] == 0xEF && (unsigned char)cursor[1] == 0xBB && (unsigned char)cursor[2] == 0xBF)
        cursor += 3; // UTF-8 byte-order mark
    enum { MAX_FIELDS = 1024 };
    char *fields[MAX_FIELDS];
    Column cols[N_COLS];
    law_columns(law, cols);
    int line_no = 0, n_header = -1, rc = -1;
    fit_data_alloc(out, max_rows);
    size_t n = 0;
    char *line;
    while ((line = next_line(&cursor)) != NULL) {
        line_no++;
        if (is_blank_or_comment(line)) continue;
        int nf = split_fields(line, fields, MAX_FIELDS);
        if (nf < 0) {
            err_set("%s:%d: unterminated or misplaced double quote", path, line_no);
            goto done;
        }
        if (nf > MAX_FIELDS) {
            err_set("%s:%d: more than %d columns", path, line_no, MAX_FIELDS);
            goto done;
        }
        if (n_header < 0) {
            n_header = nf;
            if (map_header(path, law, fields, nf, cols) != 0) goto done;
            if (law_needs(law, cols, COL_MODEL, cols[COL_MODEL].index >= 0))
                out->model = xcalloc(max_rows, sizeof(char *)); // coverage keyed by a model column
            continue;
        }
        if (parse_row(path, line_no, law, cols, fields, nf, n_header, out, n) != 0) goto done;
        n++;
    }
    if (n_header < 0) {
        err_set("%s: empty; expected a header row naming the columns (see t2 fit --help)", path);
        goto done;
    }
    out->n = n; // the columns keep their capacity of max_rows
    if (fit_data_check(law, out) != 0) {
        err_prefix("%s", path);
        goto done;
    }
    rc = 0;
done:
    free(text);
    if (rc != 0) {
        out->n = max_rows; // free every model string stored so far (the rest are NULL)
        fit_data_free(out);
    }
    return rc;
}
