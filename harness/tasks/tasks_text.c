// tasks_text.c — the `text` task: any file as a stream of bytes (ids 2..257), loss on every byte.
// The first 90% trains (rows wrap around its end), the last 10% validates. The stream is the
// raw bytes, without BOS or EOS, as in llm.c and nanoGPT; rows are consecutive windows of T + 1
// bytes that overlap by one, so every byte is a target once per pass.
#include <stdio.h>
#include <stdlib.h>

#include "tasks/tasks_internal.h"

size_t text_val_bytes(size_t n) { return n / 10; }

int text_load(Task *t) {
    size_t n = 0;
    char *data = read_file(t->cfg.path, &n);
    if (!data) return -1; // read_file's message names the file
    size_t n_val = text_val_bytes(n);
    if (n == 0) { // the file changed since the config was checked
        err_set("%s: empty file", t->cfg.path);
        free(data);
        return -1;
    }
    if (n_val == 0) {
        err_set("%s: %zu bytes is too short: at least 10 are needed to hold out the last 10%% for validation",
                t->cfg.path, n);
        free(data);
        return -1;
    }
    t->bytes = (unsigned char *)data;
    t->n_val = n_val;
    t->n_train = n - n_val;
    return 0;
}

int text_check_seq_len(const Task *t, int seq_len) {
    if (t->n_val >= (size_t)seq_len + 1) return 0;
    err_set("%s: too short for seq_len %d: its last 10%% (%zu bytes, held out for validation) must hold one row of "
            "%d bytes, so the file needs at least %zu bytes",
            t->cfg.path, seq_len, t->n_val, seq_len + 1, 10 * ((size_t)seq_len + 1));
    return -1;
}

// One window per row: positions 0 .. T − 1.
static void fill_positions(int *pos, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) pos[(size_t)b * (size_t)T + (size_t)i] = i;
}

void text_train_batch(const Task *t, TaskCursor *cur, int *tokens, unsigned char *mask, int *pos, int B, int T) {
    const unsigned char *train = t->bytes; // (n_train,)
    size_t off = (size_t)(cur->offset % t->n_train);
    for (int b = 0; b < B; b++) {
        int *row = tokens + (size_t)b * (size_t)(T + 1); // (T + 1,)
        size_t at = off;
        for (int i = 0; i <= T; i++) {
            row[i] = 2 + train[at];
            if (++at == t->n_train) at = 0;
        }
        for (int i = 0; i < T; i++) mask[(size_t)b * (size_t)T + (size_t)i] = 1;
        off = (off + (size_t)T) % t->n_train;
    }
    fill_positions(pos, B, T);
    cur->offset = off;
}

// Whole rows in the validation part (at least 1: a part shorter than a row wraps around).
static size_t val_rows(const Task *t, int T) {
    return t->n_val > (size_t)T ? (t->n_val - 1) / (size_t)T : 1;
}

void text_val_batch(const Task *t, long i, int *tokens, unsigned char *mask, int *pos, int B, int T) {
    const unsigned char *val = t->bytes + t->n_train; // (n_val,)
    size_t rows = val_rows(t, T);
    for (int b = 0; b < B; b++) {
        size_t r = ((size_t)i * (size_t)B + (size_t)b) % rows;
        int *row = tokens + (size_t)b * (size_t)(T + 1); // (T + 1,)
        for (int k = 0; k <= T; k++) row[k] = 2 + val[(r * (size_t)T + (size_t)k) % t->n_val];
        for (int k = 0; k < T; k++) mask[(size_t)b * (size_t)T + (size_t)k] = 1;
    }
    fill_positions(pos, B, T);
}

long text_val_batches(const Task *t, int B, int T) {
    size_t n = val_rows(t, T) / (size_t)B;
    return n > 0 ? (long)n : 1;
}
