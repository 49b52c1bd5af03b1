// loaded.c — checkpoint + task → a model ready for inference.
#include "nn/loaded.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "nn/checkpoint.h"

static int rebuild_task(LoadedRun *lr, const char *path) {
    cJSON *root = cJSON_Parse(lr->config_json);
    const cJSON *task = root ? cJSON_GetObjectItemCaseSensitive(root, "task") : NULL;
    int rc = 0;
    if (task) {
        TaskConfig tc;
        rc = task_config_parse(&tc, task, "task");
        if (rc == 0 && !(lr->task = task_create(&tc))) rc = -1;
        if (rc == 0 && task_vocab_size(lr->task) != lr->model.cfg.vocab_size) {
            err_set("vocabulary of %d tokens does not fit task '%s' (%d tokens)", lr->model.cfg.vocab_size, tc.name,
                    task_vocab_size(lr->task));
            rc = -1;
        }
        if (rc != 0) err_prefix("%s: task of the checkpoint", path);
    }
    cJSON_Delete(root);
    return rc;
}

int loaded_run_open(LoadedRun *lr, const char *ckpt_path) {
    memset(lr, 0, sizeof *lr);
    Checkpoint ck;
    if (checkpoint_read(ckpt_path, &ck) != 0) return -1;
    model_build(&lr->model, &ck.cfg);
    memcpy(lr->model.params, ck.params, ck.n_params * sizeof(float));
    lr->config_json = ck.config_json;
    ck.config_json = NULL;
    lr->id = ck.id;
    lr->step = ck.step;
    lr->total_steps = ck.total_steps;
    checkpoint_free(&ck);
    if (rebuild_task(lr, ckpt_path) != 0) {
        loaded_run_close(lr);
        return -1;
    }
    return 0;
}

int loaded_run_open_text(LoadedRun *lr, const char *ckpt_path) {
    if (loaded_run_open(lr, ckpt_path) != 0) return -1;
    if (lr->task) return 0;
    loaded_run_close(lr);
    err_set("%s: the checkpoint has no task, so text cannot be tokenised", ckpt_path);
    return -1;
}

int loaded_run_encode_prompt(const LoadedRun *lr, const char *prompt, int *ids, int cap) {
    ids[0] = TOKEN_BOS;
    int n = task_encode(lr->task, prompt, ids + 1, cap - 1);
    if (n < 0) {
        err_prefix("--prompt");
        return -1;
    }
    return n + 1;
}

void loaded_run_close(LoadedRun *lr) {
    model_free(&lr->model);
    task_free(lr->task);
    free(lr->config_json);
    memset(lr, 0, sizeof *lr);
}

char **loaded_run_vocab(const LoadedRun *lr) {
    int V = lr->model.cfg.vocab_size;
    char **v = xcalloc((size_t)V, sizeof(char *));
    for (int i = 0; i < V; i++) {
        char buf[16];
        if (lr->task)
            v[i] = xstrdup(task_token_text(lr->task, i, buf));
        else
            v[i] = xasprintf("<%d>", i);
    }
    return v;
}

void free_vocab(char **vocab, int n) {
    for (int i = 0; i < n; i++) free(vocab[i]);
    free(vocab);
}
