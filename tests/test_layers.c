// test_layers.c — the layer rule of harness/README.md holds: its picture names every folder of
// harness/, a file includes only its own layer and the layers drawn below it, the kernels include
// nothing of the harness, and only db/ includes sqlite3.h. The layer order is read from the
// README's picture itself, so the picture and the code cannot drift apart. Run from the root.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util/util.h"

#define MAX_LAYERS 32

typedef struct {
    char name[MAX_LAYERS][32]; // top to bottom; the last is "kernels"
    int n;
} Layers;

// The folders of the README's first code block, in order: lines "NAME/  ..." and "../kernels/".
static void read_layers(Layers *l) {
    size_t len;
    char *text = read_file("harness/README.md", &len);
    if (!text) fail_msg("%s", err_msg());
    l->n = 0;
    char *block = strstr(text, "```");
    assert_non_null(block);
    block = strchr(block, '\n');
    char *end = strstr(block, "```");
    assert_non_null(end);
    *end = '\0';
    for (char *line = strtok(block, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "../", 3) == 0) line += 3;
        char *slash = strchr(line, '/');
        size_t n = slash ? (size_t)(slash - line) : 0;
        if (n == 0 || n >= sizeof l->name[0] || strspn(line, "abcdefghijklmnopqrstuvwxyz_") != n) continue;
        assert_true(l->n < MAX_LAYERS);
        memcpy(l->name[l->n], line, n);
        l->name[l->n++][n] = '\0';
    }
    free(text);
    assert_true(l->n >= 2);
    assert_string_equal(l->name[l->n - 1], "kernels");
}

static int layer_index(const Layers *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0) return i;
    return -1;
}

static int is_source(const char *name) {
    size_t n = strlen(name);
    return n > 2 && name[n - 2] == '.' && (name[n - 1] == 'c' || name[n - 1] == 'h');
}

// Every violation in FILE of layer L (index at): returns how many, printing each.
static int check_file(const Layers *l, const char *layer, const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) fail_msg("%s", err_msg());
    int at = layer_index(l, layer), bad = 0, lineno = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lineno++;
        if (strncmp(line, "#include", 8) != 0) continue;
        const char *q = strchr(line, '"'), *a = strchr(line, '<');
        if (a && strstr(a, "sqlite3.h") && strcmp(layer, "db") != 0) {
            print_error("%s:%d: only harness/db/ includes sqlite3.h\n", path, lineno);
            bad++;
        }
        if (!q) continue;
        char target[64] = "";
        const char *slash = strchr(q + 1, '/');
        if (strncmp(q + 1, "kernels.h", 9) == 0) {
            snprintf(target, sizeof target, "kernels");
        } else if (slash && slash - q - 1 < (long)sizeof target) {
            memcpy(target, q + 1, (size_t)(slash - q - 1));
            target[slash - q - 1] = '\0';
        } else {
            continue; // a header of the file's own folder (kernels' "vecmath.h")
        }
        int to = layer_index(l, target);
        if (to < 0 || to < at) {
            print_error("%s:%d: %s/ includes %s/, which is %s\n", path, lineno, layer, target,
                        to < 0 ? "not a layer of harness/README.md" : "above it in harness/README.md");
            bad++;
        }
    }
    free(text);
    return bad;
}

static int check_dir(const Layers *l, const char *layer, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    int bad = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_source(e->d_name)) continue;
        char *path = xasprintf("%s/%s", dir, e->d_name);
        bad += check_file(l, layer, path);
        free(path);
    }
    closedir(d);
    return bad;
}

static void test_readme_draws_every_folder(void **state) {
    (void)state;
    Layers l;
    read_layers(&l);
    DIR *d = opendir("harness");
    assert_non_null(d);
    int missing = 0, folders = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR) continue;
        folders++;
        if (layer_index(&l, e->d_name) < 0) {
            print_error("harness/%s/ is not in the layer picture of harness/README.md\n", e->d_name);
            missing++;
        }
    }
    closedir(d);
    assert_int_equal(folders, l.n - 1); // every layer but kernels is a folder of harness/
    assert_int_equal(missing, 0);
}

static void test_includes_point_down(void **state) {
    (void)state;
    Layers l;
    read_layers(&l);
    int bad = 0;
    for (int i = 0; i < l.n; i++) {
        char *dir = strcmp(l.name[i], "kernels") == 0 ? xstrdup("kernels") : xasprintf("harness/%s", l.name[i]);
        bad += check_dir(&l, l.name[i], dir);
        free(dir);
    }
    assert_int_equal(bad, 0);
}

// The checker itself finds what it must: an include that points up, and sqlite3.h outside db/.
static void test_checker_finds_violations(void **state) {
    (void)state;
    Layers l;
    read_layers(&l);
    char *dir = tmpdir_make("layers");
    char *up = write_text(dir, "up.c", "#include <math.h>\n#include \"cli/args.h\"\n#include \"nn/model.h\"\n");
    char *sq = write_text(dir, "sq.c", "#include <sqlite3.h>\n");
    char *ok = write_text(dir, "ok.c", "#include \"util/util.h\"\n#include \"kernels.h\"\n#include \"own.h\"\n");
    assert_int_equal(check_file(&l, "nn", up), 1);
    assert_int_equal(check_file(&l, "report", sq), 1);
    assert_int_equal(check_file(&l, "db", sq), 0);
    assert_int_equal(check_file(&l, "tasks", ok), 0);
    assert_int_equal(check_file(&l, "kernels", ok), 1); // kernels include nothing of the harness
    free(up), free(sq), free(ok);
    tmpdir_remove(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readme_draws_every_folder),
        cmocka_unit_test(test_includes_point_down),
        cmocka_unit_test(test_checker_finds_violations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
