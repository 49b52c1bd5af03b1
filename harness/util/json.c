// json.c — exact numbers and printing for cJSON (see json.h).
#include "util/json.h"

#include <stdio.h>
#include <stdlib.h>

#include "util/util.h"

cJSON *json_exact_number(double v) {
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return cJSON_CreateRaw(buf);
}

cJSON *json_exact_float(float v) {
    char buf[40];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    return cJSON_CreateRaw(buf);
}

void json_add_num(cJSON *o, const char *key, double v) { cJSON_AddItemToObject(o, key, json_exact_number(v)); }

void json_add_doubles(cJSON *o, const char *key, const double *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, json_exact_number(v[i]));
}

void json_add_longs(cJSON *o, const char *key, const long *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, json_exact_number((double)v[i]));
}

char *json_text(const cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    if (!s) die("out of memory printing JSON");
    char *out = xstrdup(s);
    cJSON_free(s);
    return out;
}

char *json_text_free(cJSON *o) {
    char *s = json_text(o);
    cJSON_Delete(o);
    return s;
}

void json_print(const cJSON *o) {
    char *s = json_text(o);
    printf("%s\n", s);
    free(s);
}
