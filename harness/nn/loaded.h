// loaded.h — a trained model read back from its checkpoint, with the task it was trained on
// (from the run config stored in the checkpoint), for `t2 sample`, `score`, `export` and `eval`.
#ifndef T2_LOADED_H
#define T2_LOADED_H

#include "nn/checkpoint.h"
#include "nn/model.h"
#include "tasks/tasks.h"

typedef struct {
    Model model;
    Task *task;        // NULL when the checkpoint holds no task config (e.g. from a benchmark)
    char *config_json; // the run config stored in the checkpoint
    CkptIdentity id;   // the run the checkpoint belongs to
    long step, total_steps;
} LoadedRun;

// -1 + err_set naming the file when the checkpoint is unreadable or its task cannot be rebuilt.
int loaded_run_open(LoadedRun *lr, const char *ckpt_path);
void loaded_run_close(LoadedRun *lr);
// As loaded_run_open, for commands that take text (sample, score): the checkpoint must carry the
// task that tokenises it.
int loaded_run_open_text(LoadedRun *lr, const char *ckpt_path);
// "BOS prompt" into ids (at most cap); the count, or -1 + err_set naming --prompt.
int loaded_run_encode_prompt(const LoadedRun *lr, const char *prompt, int *ids, int cap);
// vocab strings for export: token_text of every id (a task's characters, or "<N>" without a task).
char **loaded_run_vocab(const LoadedRun *lr);
void free_vocab(char **vocab, int n);

#endif
