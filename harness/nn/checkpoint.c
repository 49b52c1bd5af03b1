// checkpoint.c — write and read checkpoint files (layout in checkpoint.h).
#include "nn/checkpoint.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checkpoints are little-endian");

static const char CKPT_MAGIC[8] = {'T', '2', 'C', 'K', 'P', 'T', '\r', '\n'};

// Fixed-size header after magic, version and header_bytes.
typedef struct __attribute__((packed)) {
    int32_t n_layer, d_model, n_head, d_ff, vocab_size, seq_len, tied;
    float rope_theta, norm_eps;
    int64_t step, total_steps;
    uint64_t rng[4];
    uint64_t cursor_example, cursor_offset;
    double wall_s;
    double tail_loss_sum;
    int64_t tail_count;
    uint64_t n_params;
    uint32_t has_moments;
    uint32_t config_json_len;
} CkptHeader;

typedef struct __attribute__((packed)) {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
} CkptPrefix;

int checkpoint_write(const char *path, const Checkpoint *ck) {
    CkptPrefix pre;
    memcpy(pre.magic, CKPT_MAGIC, 8);
    pre.version = CKPT_VERSION;
    pre.header_bytes = sizeof(CkptHeader);
    size_t json_len = ck->config_json ? strlen(ck->config_json) : 0;
    CkptHeader h = {
        .n_layer = ck->cfg.n_layer, .d_model = ck->cfg.d_model, .n_head = ck->cfg.n_head,
        .d_ff = ck->cfg.d_ff, .vocab_size = ck->cfg.vocab_size, .seq_len = ck->cfg.seq_len,
        .tied = ck->cfg.tied, .rope_theta = ck->cfg.rope_theta, .norm_eps = ck->cfg.norm_eps,
        .step = ck->step, .total_steps = ck->total_steps,
        .cursor_example = ck->cursor.example, .cursor_offset = ck->cursor.offset,
        .wall_s = ck->wall_s, .tail_loss_sum = ck->tail_loss_sum, .tail_count = ck->tail_count, .n_params = ck->n_params,
        .has_moments = ck->m && ck->v, .config_json_len = (uint32_t)json_len,
    };
    memcpy(h.rng, ck->rng.s, sizeof h.rng);
    AtomicFile af;
    if (atomic_open(&af, path) != 0) return -1;
    size_t bytes = ck->n_params * sizeof(float);
    atomic_write(&af, &pre, sizeof pre);
    atomic_write(&af, &h, sizeof h);
    atomic_write(&af, ck->config_json ? ck->config_json : "", json_len);
    atomic_write(&af, ck->params, bytes);
    if (h.has_moments) {
        atomic_write(&af, ck->m, bytes);
        atomic_write(&af, ck->v, bytes);
    }
    uint32_t crc = af.crc;
    atomic_write(&af, &crc, sizeof crc);
    if (atomic_commit(&af) != 0) {
        err_prefix("checkpoint %s", path);
        return -1;
    }
    return 0;
}

static int fail(const char *path, const char *what) {
    err_set("%s: %s", path, what);
    return -1;
}

int checkpoint_read(const char *path, Checkpoint *ck) {
    memset(ck, 0, sizeof *ck);
    size_t len;
    char *buf = read_file(path, &len);
    if (!buf) return -1;
    int rc = -1;
    CkptPrefix pre;
    CkptHeader h;
    if (len < sizeof pre || memcmp(buf, CKPT_MAGIC, 8) != 0) {
        fail(path, "not a t2 checkpoint (bad magic)");
        goto out;
    }
    memcpy(&pre, buf, sizeof pre);
    if (pre.version != CKPT_VERSION) {
        err_set("%s: checkpoint version %u, this t2 reads version %d", path, pre.version, CKPT_VERSION);
        goto out;
    }
    if (pre.header_bytes != sizeof h || len < sizeof pre + sizeof h + 4) {
        fail(path, "truncated or damaged checkpoint header");
        goto out;
    }
    memcpy(&h, buf + sizeof pre, sizeof h);
    size_t per = h.n_params * sizeof(float), mult = h.has_moments ? 3 : 1;
    if (h.n_params == 0 || h.n_params > ((size_t)1 << 40) || h.has_moments > 1) {
        fail(path, "damaged checkpoint header");
        goto out;
    }
    size_t want = sizeof pre + sizeof h + h.config_json_len + mult * per + 4;
    if (len != want) {
        err_set("%s: checkpoint is %zu bytes, its header says %zu (truncated or damaged)", path, len, want);
        goto out;
    }
    uint32_t stored;
    memcpy(&stored, buf + len - 4, 4);
    if (crc32_bytes(crc32_bytes(0, NULL, 0), buf, len - 4) != stored) {
        fail(path, "checksum mismatch (the checkpoint is corrupted)");
        goto out;
    }
    ModelConfig c = {h.n_layer, h.d_model, h.n_head, h.d_ff, h.vocab_size, h.seq_len, h.tied, h.rope_theta, h.norm_eps};
    if (model_config_validate(&c) != 0) {
        err_prefix("%s: invalid model config", path);
        goto out;
    }
    if (param_layout(&c).total != h.n_params) {
        fail(path, "parameter count does not match the model config");
        goto out;
    }
    ck->cfg = c;
    ck->step = h.step;
    ck->total_steps = h.total_steps;
    memcpy(ck->rng.s, h.rng, sizeof h.rng);
    ck->cursor.example = h.cursor_example;
    ck->cursor.offset = h.cursor_offset;
    ck->wall_s = h.wall_s;
    ck->tail_loss_sum = h.tail_loss_sum;
    ck->tail_count = h.tail_count;
    ck->n_params = h.n_params;
    const char *p = buf + sizeof pre + sizeof h;
    ck->config_json = xmalloc(h.config_json_len + 1);
    memcpy(ck->config_json, p, h.config_json_len);
    ck->config_json[h.config_json_len] = '\0';
    p += h.config_json_len;
    ck->params = xmalloc_aligned(per);
    memcpy(ck->params, p, per);
    if (h.has_moments) {
        ck->m = xmalloc_aligned(per);
        ck->v = xmalloc_aligned(per);
        memcpy(ck->m, p + per, per);
        memcpy(ck->v, p + 2 * per, per);
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

void checkpoint_free(Checkpoint *ck) {
    free(ck->config_json);
    free(ck->params);
    free(ck->m);
    free(ck->v);
    memset(ck, 0, sizeof *ck);
}
