// json.h — the cJSON helpers every layer shares: numbers written so they read back exactly, and
// printing (to a heap string, or as one line on stdout).
#ifndef T2_JSON_H
#define T2_JSON_H

#include <cjson/cJSON.h>

// Numbers in the shortest form that reads back exactly (cJSON's own printer keeps only 15
// digits, so a re-parsed spec or config could differ in the last bits).
cJSON *json_exact_number(double v);
// Floats: the shortest form whose value, read as a double and rounded to float, is v.
cJSON *json_exact_float(float v);
void json_add_num(cJSON *o, const char *key, double v);
void json_add_doubles(cJSON *o, const char *key, const double *v, int n);
void json_add_longs(cJSON *o, const char *key, const long *v, int n);

// O as compact JSON text in a heap string (free()). Out of memory is fatal.
char *json_text(const cJSON *o);
// json_text, then cJSON_Delete(o).
char *json_text_free(cJSON *o);
// O as compact JSON on one line of stdout (the --json output of a command).
void json_print(const cJSON *o);

#endif
