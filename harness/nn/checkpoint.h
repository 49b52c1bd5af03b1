// checkpoint.h — the checkpoint file (docs/SPEC.md §5).
//
// Layout, little-endian:
//   magic "T2CKPT\r\n" (8) | u32 version | u32 header_bytes (fixed part, for forward checks)
//   model: i32 n_layer, d_model, n_head, d_ff, vocab_size, seq_len, tied; f32 rope_theta, norm_eps
//   i64 step, total_steps | u64 rng[4] | u64 cursor.example, cursor.offset | f64 wall_s
//   f64 tail_loss_sum | i64 tail_count (the running mean behind final_loss)
//   u64 n_params | u32 has_moments | u32 config_json_len | config_json bytes
//   f32 params[n] | (f32 m[n] | f32 v[n] when has_moments)
//   u32 crc32 of everything before it
// Written through AtomicFile (temporary name, fsync, rename): a crash leaves the old file.
#ifndef T2_CHECKPOINT_H
#define T2_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "tasks/tasks.h"
#include "util/util.h"

#define CKPT_VERSION 1

typedef struct {
    ModelConfig cfg;
    long step, total_steps;
    Rng rng;
    TaskCursor cursor;
    double wall_s;      // training wall time accumulated over all sessions of the run
    double tail_loss_sum; // Σ training loss over the final window of steps seen so far
    long tail_count;
    char *config_json;  // the run's canonical config (task, training settings, seed)
    size_t n_params;
    float *params;      // (n_params,)
    float *m, *v;       // Adam moments, or NULL
} Checkpoint;

int checkpoint_write(const char *path, const Checkpoint *ck);
// Allocates the arrays; refuses truncated, corrupted (checksum), foreign (magic) or
// incompatible (version, sizes) files with one clear message naming the file.
int checkpoint_read(const char *path, Checkpoint *ck);
void checkpoint_free(Checkpoint *ck);

#endif
