// tasks_internal.h — what the task files share: the Task object, the interface of a family of
// generated problems (tasks_gen.c), the byte-level text task (tasks_text.c) and the config
// checks (tasks_config.c). Not for use outside harness/tasks*.c.
#ifndef T2_TASKS_INTERNAL_H
#define T2_TASKS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tasks/tasks.h"
#include "util/util.h"

// Longest training example in tokens: BOS + prompt + answer + EOS.
#define EXAMPLE_MAX (2 * TASK_TEXT_MAX)

// Independent random streams of one task seed (the first word given to seed_derive).
enum { STREAM_EVAL = 1, STREAM_TRAIN = 2, STREAM_FACTS = 3 };

// A family of generated problems (every task but `text`). The answer of a problem is a
// function of its prompt, so two problems are equal exactly when their prompts are.
typedef struct {
    // Characters of token ids 2, 3, ... in order (NUL-terminated).
    const char *(*alphabet)(const TaskConfig *c, char buf[64]);
    // Number of distinct problems (saturating at UINT64_MAX).
    uint64_t (*space)(const TaskConfig *c);
    // "add with digits 3": names the problem space in messages.
    void (*describe)(const TaskConfig *c, char *buf, size_t n);
    // Longest prompt and answer in characters.
    int (*max_prompt)(const TaskConfig *c);
    int (*max_answer)(const TaskConfig *c);
    // One random training problem drawn with R (both strings < TASK_TEXT_MAX).
    void (*draw)(const Task *t, Rng *r, char *prompt, char *answer);
    // Normalised answer from a completion (see task_extract_answer).
    int (*extract)(const Task *t, const char *completion, char answer[TASK_TEXT_MAX]);
} Family;

const Family *family_of(TaskKind kind); // NULL for TASK_TEXT

struct Task {
    TaskConfig cfg;
    const Family *fam;        // NULL for text
    int vocab;                // token ids 0 .. vocab − 1
    char chars[64];           // generated tasks: the character of id 2 + i
    short id_of[256];         // byte → token id, −1 when not in the vocabulary
    int max_prompt_chars, max_answer_chars;

    // Evaluation problems: "prompt\0answer\0" back to back.
    long n_eval;
    char *eval_text;
    size_t *eval_at;          // (n_eval,) offset of problem i's prompt in eval_text
    uint64_t *val_start;      // (n_eval + 1,) token offset of problem i in the validation stream
    int32_t *eval_slots;      // open-addressing set of eval prompts: problem index + 1, 0 = empty
    size_t eval_mask;         // slot count − 1 (a power of two minus one)

    // recall: facts ranked by training frequency (fact 0 is the most frequent).
    char (*fact_name)[8];     // (n_facts,)
    char (*fact_attr)[8];     // (n_facts,)
    double *fact_cdf;         // (n_facts,) cumulative Zipf probabilities, last = 1

    // text: the file's bytes; training part [0, n_train), validation part [n_train, n_train + n_val).
    unsigned char *bytes;
    size_t n_train, n_val;
};

// Config checks shared by task_config_parse and task_create: -1 + err_set naming KEYPATH.KEY.
int task_config_check(const TaskConfig *c, const char *keypath);
// "add", "modarith", ... (kind checked by the caller).
const char *task_kind_name(TaskKind kind);

// recall: build the facts of the task seed (names distinct) and the Zipf table.
void recall_build_facts(Task *t);
// recall: evaluation problem i (spread evenly over the frequency ranks).
void recall_eval_problem(const Task *t, long i, char *prompt, char *answer);

// text: load the file (-1 + err_set when unreadable or too short), and its batches.
int text_load(Task *t);
void text_train_batch(const Task *t, TaskCursor *cur, int *tokens, unsigned char *mask, int *pos, int B, int T);
void text_val_batch(const Task *t, long i, int *tokens, unsigned char *mask, int *pos, int B, int T);
long text_val_batches(const Task *t, int B, int T);
int text_check_seq_len(const Task *t, int seq_len);
// Bytes held out for validation from a file of n bytes: the last 10%, rounded down.
size_t text_val_bytes(size_t n);

#endif
