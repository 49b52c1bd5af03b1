// tasks.h — verifiable tasks: vocabulary, deterministic training stream, fixed evaluation
// problems, answer extraction and checking.
//
// Every task has a character vocabulary plus two specials: id 0 = BOS, id 1 = EOS, then one id
// per character (the byte task `text`: ids 2..257 are bytes 0..255). A prompt is fed as
// BOS + its characters; an answer is its characters + EOS.
//
// Training examples are "BOS prompt answer EOS". A row of T+1 tokens holds whole examples back to
// back, as many as fit, then padding; no example is cut, and the positions restart at 0 with each
// example, so the model sees every prompt whole and at the positions it has when sampled.
// Example j is a pure function of (task seed, j), and never equals an evaluation problem.
// Evaluation problem i is a pure function of (task seed, i).
#ifndef T2_TASKS_H
#define T2_TASKS_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define TOKEN_BOS 0
#define TOKEN_EOS 1
#define TASK_TEXT_MAX 256 // longest prompt or answer text of any generated task, NUL included

typedef enum { TASK_ADD, TASK_MODARITH, TASK_CHAIN, TASK_SORT, TASK_RECALL, TASK_TEXT } TaskKind;

typedef struct {
    TaskKind kind;
    char name[16];          // "add", "modarith", "chain", "sort", "recall", "text"
    long eval_problems;     // fixed evaluation problems (0 for text)
    uint64_t seed;          // fixes the problems and the training stream
    int answer_loss_only;   // train on answer tokens (and EOS) only, not on prompts
    // Knobs; each task reads its own, the rest stay 0. Defaults are set by task_config_parse.
    int digits;             // add: operand digits; chain: operand digits
    int reversed;           // add: answer written least-significant digit first
    int modulus;            // modarith: p
    char ops[8];            // modarith: subset of "+-*/" ("/" needs a prime modulus)
    int steps;              // chain: number of operations
    int length;             // sort: list length
    int alphabet;           // sort: distinct symbols (digits 0-9, then letters)
    int n_facts;            // recall: entity→attribute facts
    double zipf;            // recall: fact frequency in training ~ rank^-zipf
    char path[4096];        // text: file
} TaskConfig;

// Parse and validate the experiment file's "task" object (key path KEYPATH, e.g. "task").
// Unknown keys, wrong types, impossible settings: -1 with err_set naming "task.KEY".
int task_config_parse(TaskConfig *tc, const struct cJSON *obj, const char *keypath);
// The config as canonical JSON text (for hashing and the database); caller frees.
char *task_config_json(const TaskConfig *tc);

typedef struct Task Task;

Task *task_create(const TaskConfig *cfg); // NULL + err_set on failure (e.g. unreadable text file)
void task_free(Task *t);
const TaskConfig *task_config(const Task *t);

int task_vocab_size(const Task *t);
// Printable text of a token id: "<bos>", "<eos>", the character, or "<0xNN>" for other bytes.
const char *task_token_text(const Task *t, int id, char buf[16]);
// Characters → ids (no BOS/EOS added). Returns the count, or -1 + err_set naming the character
// that is not in the vocabulary, or a text longer than max_ids.
int task_encode(const Task *t, const char *text, int *ids, int max_ids);
// Ids → characters, stopping at EOS; BOS is skipped. Returns the length written (NUL-terminated).
size_t task_decode(const Task *t, const int *ids, int n, char *out, size_t cap);

// Evaluation problems (none for `text`).
long task_n_eval(const Task *t);
void task_eval_problem(const Task *t, long i, char prompt[TASK_TEXT_MAX], char target[TASK_TEXT_MAX]);
// Longest answer of any problem in tokens, EOS included (a floor for max_new_tokens).
int task_max_answer_tokens(const Task *t);
// Longest prompt of any problem in tokens, BOS included (0 for text).
int task_max_prompt_tokens(const Task *t);
// Can rows of SEQ_LEN + 1 tokens be cut? Generated tasks: a row must be able to hold the longest
// example (BOS prompt answer EOS) whole; text: the validation part (the file's last 10%) must
// hold one row. -1 + err_set otherwise, naming SEQ_LEN_KEY (e.g. "train.seq_len") or the file.
int task_check_seq_len(const Task *t, int seq_len, const char *seq_len_key);

// Training stream.
typedef struct {
    uint64_t example; // the next training example: the first of the next row (text: unused)
    uint64_t offset;  // text: byte offset in the training part (generated tasks: always 0)
} TaskCursor;
// Training example j (generated tasks; text: empty strings): the problem task_train_batch packs
// as example j. Never an evaluation problem, except for recall, whose evaluation queries are
// facts that training shows by design.
void task_train_example(const Task *t, uint64_t j, char prompt[TASK_TEXT_MAX], char answer[TASK_TEXT_MAX]);
// Fill B rows of T+1 tokens; mask[b·T + t] says whether target tokens[b·(T+1) + t + 1] counts
// in the loss, and pos[b·T + t] is the position of input token t inside its example (the RoPE
// position; attention stays inside the example, see model.h). Advances the cursor.
// Generated tasks: each row starts with a new example (the cursor's) and takes whole examples
// while they fit in T+1 tokens (task_check_seq_len guarantees one does), then pads with EOS
// tokens whose targets never count. Loss "all": every target but BOS (the token after an EOS,
// trivially predictable and never sampled) counts; loss "answer": only answer characters and
// EOS count. text: rows are raw bytes, no BOS/EOS, wrapping around; row b + 1 starts with the
// last byte of row b, so every byte is a target once; every target counts; pos = 0 .. T−1.
// Cheap (no allocation); the cursor is all the state a resumed run needs.
void task_train_batch(const Task *t, TaskCursor *cur, int *tokens /* (B, T+1) */,
                      unsigned char *mask /* (B, T) */, int *pos /* (B, T) */, int B, int T);
// Held-out validation rows (text: the last part of the file; generated tasks: the evaluation
// problems in order, packed into rows like the training examples, repeating after the last row).
// Batch i is rows i·B .. i·B + B − 1 and is deterministic.
void task_val_batch(const Task *t, long i, int *tokens /* (B, T+1) */, unsigned char *mask /* (B, T) */,
                    int *pos /* (B, T) */, int B, int T);
// Number of distinct validation batches of size (B, T) before they repeat (at least 1).
long task_val_batches(const Task *t, int B, int T);

// Answers. Extract the normalised answer from a completion (text generated after the prompt,
// EOS excluded): 1 and ANSWER filled, or 0 (ANSWER empty) when the completion is malformed
// (never a crash). Well formed: add, modarith: digits only; chain: digits after the first '>'
// (the scratchpad before it is not checked); sort: symbols of the alphabet only; recall:
// lowercase letters only. text has no answers (always 0). Answers compare as exact strings.
int task_extract_answer(const Task *t, const char *completion, char answer[TASK_TEXT_MAX]);
// Is a normalised answer correct for problem i? (Exact verifier.)
int task_is_correct(const Task *t, long i, const char *answer);

#endif
