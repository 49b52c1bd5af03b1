// checkpoint.h — the checkpoint file (docs/SPEC.md §5).
//
// Layout, little-endian:
//   magic "T2CKPT\r\n" (8) | u32 version | u32 header_bytes (fixed part, for forward checks)
//   model: i32 n_layer, d_model, n_head, d_ff, vocab_size, seq_len, tied; f32 rope_theta, norm_eps
//   i64 step, total_steps | u64 rng[4] | u64 cursor.example, cursor.offset | f64 wall_s
//   f64 tail_loss_sum | i64 tail_count (the running mean behind final_loss)
//   u64 n_params | u32 has_moments | u32 config_json_len
//   version 2 on: the run's identity: char sweep[128] (NUL-padded) | char spec_hash[16] |
//   i64 run_id (-1: no run, e.g. a benchmark) | char config_hash[16] (hex digits, no NUL)
//   config_json bytes | f32 params[n] | (f32 m[n] | f32 v[n] when has_moments)
//   u32 crc32 of everything before it
// Written through AtomicFile (temporary name, fsync, rename): a crash leaves the old file.
// Version 1 files (no identity block) are still read; their identity is taken from the run config
// they hold (sweep, run_id, config hash), and their spec hash is unknown.
#ifndef T2_CHECKPOINT_H
#define T2_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"
#include "tasks/tasks.h"
#include "util/util.h"

#define CKPT_VERSION 2

// Which run of which sweep a checkpoint belongs to: checked before resuming from it or evaluating
// it, so that a file of another sweep (or another spec of the same sweep) is never mistaken for it.
typedef struct {
    char sweep[128];
    char spec_hash[17];   // "" when unknown (version 1 files)
    long run_id;          // -1: not a run of a sweep
    char config_hash[17]; // FNV-1a 64 of the run's config JSON, as runs.config_hash
} CkptIdentity;

typedef struct {
    ModelConfig cfg;
    CkptIdentity id;
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
// The same from the LEN bytes of a file in memory (PATH names it in messages). On failure *ck
// holds nothing to free.
int checkpoint_parse(const char *buf, size_t len, const char *path, Checkpoint *ck);
void checkpoint_free(Checkpoint *ck);

// The identity of the checkpoint at PATH from its header alone (no checksum: the file may be
// damaged). 0 and *id; 1 when PATH is not a t2 checkpoint (no magic), with err_set; -1 + err_set
// when it cannot be read or its header is cut short.
int checkpoint_peek_identity(const char *path, CkptIdentity *id);
// The same from the first LEN bytes of a file in memory.
int checkpoint_parse_identity(const char *buf, size_t len, const char *path, CkptIdentity *id);
// Does HAVE (the checkpoint at PATH) belong to the run WANT? 0, or -1 + err_set naming both runs.
// An unknown spec hash (a version 1 file) is not held against it.
int checkpoint_check_identity(const char *path, const CkptIdentity *have, const CkptIdentity *want);
// A run's identity; CONFIG_JSON is hashed into config_hash.
void ckpt_identity(CkptIdentity *id, const char *sweep, const char *spec_hash, long run_id, const char *config_json);

#endif
