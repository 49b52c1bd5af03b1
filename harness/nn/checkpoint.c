// checkpoint.c — write and read checkpoint files (layout in checkpoint.h).
#include "nn/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checkpoints are little-endian");

static const char CKPT_MAGIC[8] = {'T', '2', 'C', 'K', 'P', 'T', '\r', '\n'};

// Fixed-size header after magic, version and header_bytes (all versions).
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

// Version 2 on: the run the checkpoint belongs to, right after CkptHeader.
typedef struct __attribute__((packed)) {
    char sweep[128]; // NUL-padded
    char spec_hash[16];
    int64_t run_id;
    char config_hash[16];
} CkptIdBlock;

typedef struct __attribute__((packed)) {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;
} CkptPrefix;

static size_t header_bytes_of(uint32_t version) {
    return version == 1 ? sizeof(CkptHeader) : sizeof(CkptHeader) + sizeof(CkptIdBlock);
}

void ckpt_identity(CkptIdentity *id, const char *sweep, const char *spec_hash, long run_id, const char *config_json) {
    memset(id, 0, sizeof *id);
    snprintf(id->sweep, sizeof id->sweep, "%s", sweep ? sweep : "");
    snprintf(id->spec_hash, sizeof id->spec_hash, "%s", spec_hash ? spec_hash : "");
    id->run_id = run_id;
    if (config_json) hex64(fnv1a64(config_json, strlen(config_json)), id->config_hash);
}

int checkpoint_write(const char *path, const Checkpoint *ck) {
    CkptPrefix pre;
    memcpy(pre.magic, CKPT_MAGIC, 8);
    pre.version = CKPT_VERSION;
    pre.header_bytes = (uint32_t)header_bytes_of(CKPT_VERSION);
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
    CkptIdBlock idb;
    memset(&idb, 0, sizeof idb);
    memcpy(idb.sweep, ck->id.sweep, strnlen(ck->id.sweep, sizeof idb.sweep - 1));
    memcpy(idb.spec_hash, ck->id.spec_hash, strnlen(ck->id.spec_hash, 16));
    idb.run_id = ck->id.run_id;
    memcpy(idb.config_hash, ck->id.config_hash, strnlen(ck->id.config_hash, 16));
    AtomicFile af;
    if (atomic_open(&af, path) != 0) return -1;
    size_t bytes = ck->n_params * sizeof(float);
    atomic_write(&af, &pre, sizeof pre);
    atomic_write(&af, &h, sizeof h);
    atomic_write(&af, &idb, sizeof idb);
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

// Hex digits (or nothing) in a fixed field: the field as a string, or -1 when it is damaged.
static int hex_field(const char *field, size_t n, char out[17]) {
    size_t len = strnlen(field, n);
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789abcdef", field[i])) return -1;
    for (size_t i = len; i < n; i++)
        if (field[i]) return -1;
    memcpy(out, field, len);
    out[len] = '\0';
    return 0;
}

static int id_from_block(const CkptIdBlock *b, CkptIdentity *id) {
    memset(id, 0, sizeof *id);
    size_t n = strnlen(b->sweep, sizeof b->sweep);
    if (n == sizeof b->sweep || hex_field(b->spec_hash, 16, id->spec_hash) != 0 ||
        hex_field(b->config_hash, 16, id->config_hash) != 0 || b->run_id < -1)
        return -1;
    memcpy(id->sweep, b->sweep, n + 1);
    id->run_id = b->run_id;
    return 0;
}

// Version 1: the identity the run config holds ({"sweep": ..., "run_id": ...}), spec hash unknown.
static void id_from_config(const char *json, size_t len, CkptIdentity *id) {
    char *text = xmalloc(len + 1);
    memcpy(text, json, len);
    text[len] = '\0';
    cJSON *o = cJSON_Parse(text);
    const cJSON *sweep = cJSON_GetObjectItemCaseSensitive(o, "sweep"), *run = cJSON_GetObjectItemCaseSensitive(o, "run_id");
    ckpt_identity(id, cJSON_IsString(sweep) ? sweep->valuestring : "", "",
                  cJSON_IsNumber(run) ? (long)run->valuedouble : -1, len ? text : NULL);
    cJSON_Delete(o);
    free(text);
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
    int rc = checkpoint_parse(buf, len, path, ck);
    free(buf);
    return rc;
}

int checkpoint_parse(const char *buf, size_t len, const char *path, Checkpoint *ck) {
    memset(ck, 0, sizeof *ck);
    int rc = -1;
    CkptPrefix pre;
    CkptHeader h;
    if (len < sizeof pre || memcmp(buf, CKPT_MAGIC, 8) != 0) {
        fail(path, "not a t2 checkpoint (bad magic)");
        goto out;
    }
    memcpy(&pre, buf, sizeof pre);
    if (pre.version < 1 || pre.version > CKPT_VERSION) {
        err_set("%s: checkpoint version %u, this t2 reads versions 1 to %d", path, pre.version, CKPT_VERSION);
        goto out;
    }
    size_t hb = header_bytes_of(pre.version);
    if (pre.header_bytes != hb || len < sizeof pre + hb + 4) {
        fail(path, "truncated or damaged checkpoint header");
        goto out;
    }
    memcpy(&h, buf + sizeof pre, sizeof h);
    size_t per = h.n_params * sizeof(float), mult = h.has_moments ? 3 : 1;
    if (h.n_params == 0 || h.n_params > ((size_t)1 << 40) || h.has_moments > 1) {
        fail(path, "damaged checkpoint header");
        goto out;
    }
    size_t want = sizeof pre + hb + h.config_json_len + mult * per + 4;
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
    const char *p = buf + sizeof pre + sizeof h;
    if (pre.version >= 2) {
        CkptIdBlock idb;
        memcpy(&idb, p, sizeof idb);
        if (id_from_block(&idb, &ck->id) != 0) {
            fail(path, "damaged checkpoint identity");
            goto out;
        }
        p += sizeof idb;
    } else {
        id_from_config(p, h.config_json_len, &ck->id);
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
    if (rc != 0) checkpoint_free(ck);
    return rc;
}

int checkpoint_parse_identity(const char *buf, size_t len, const char *path, CkptIdentity *id) {
    memset(id, 0, sizeof *id);
    CkptPrefix pre;
    CkptHeader h;
    if (len < sizeof pre || memcmp(buf, CKPT_MAGIC, 8) != 0) {
        fail(path, "not a t2 checkpoint (bad magic)");
        return 1;
    }
    memcpy(&pre, buf, sizeof pre);
    if (pre.version < 1 || pre.version > CKPT_VERSION || pre.header_bytes != header_bytes_of(pre.version) ||
        len < sizeof pre + sizeof h)
        return fail(path, "truncated or damaged checkpoint header");
    memcpy(&h, buf + sizeof pre, sizeof h);
    const char *p = buf + sizeof pre + sizeof h;
    size_t left = len - sizeof pre - sizeof h;
    if (pre.version >= 2) {
        CkptIdBlock idb;
        if (left < sizeof idb) return fail(path, "truncated or damaged checkpoint header");
        memcpy(&idb, p, sizeof idb);
        if (id_from_block(&idb, id) != 0) return fail(path, "damaged checkpoint identity");
        return 0;
    }
    if (left < h.config_json_len) return fail(path, "truncated or damaged checkpoint header");
    id_from_config(p, h.config_json_len, id);
    return 0;
}

int checkpoint_peek_identity(const char *path, CkptIdentity *id) {
    memset(id, 0, sizeof *id);
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    // The header; for a version 1 file also its run config (up to 16 MiB of it).
    size_t fixed = sizeof(CkptPrefix) + sizeof(CkptHeader), len = 0;
    char *buf = xmalloc(fixed + sizeof(CkptIdBlock));
    len = fread(buf, 1, fixed + sizeof(CkptIdBlock), f);
    CkptPrefix pre;
    CkptHeader h;
    if (len >= fixed) {
        memcpy(&pre, buf, sizeof pre);
        memcpy(&h, buf + sizeof pre, sizeof h);
        if (pre.version == 1 && h.config_json_len < (1u << 24) && fixed + h.config_json_len > len) {
            buf = xrealloc(buf, fixed + h.config_json_len);
            len += fread(buf + len, 1, fixed + h.config_json_len - len, f);
        }
    }
    fclose(f);
    int rc = checkpoint_parse_identity(buf, len, path, id);
    free(buf);
    return rc;
}

static void describe(const CkptIdentity *id, char *out, size_t n) {
    if (id->run_id < 0)
        snprintf(out, n, "no run of a sweep");
    else
        snprintf(out, n, "run %ld of sweep '%s' (spec %s, config %s)", id->run_id, id->sweep,
                 id->spec_hash[0] ? id->spec_hash : "unknown", id->config_hash);
}

int checkpoint_check_identity(const char *path, const CkptIdentity *have, const CkptIdentity *want) {
    int same = have->run_id == want->run_id && strcmp(have->sweep, want->sweep) == 0 &&
               strcmp(have->config_hash, want->config_hash) == 0 &&
               (!have->spec_hash[0] || strcmp(have->spec_hash, want->spec_hash) == 0);
    if (same) return 0;
    char a[300], b[300];
    describe(have, a, sizeof a);
    describe(want, b, sizeof b);
    err_set("%s: checkpoint of %s, not of %s", path, a, b);
    return -1;
}

void checkpoint_free(Checkpoint *ck) {
    free(ck->config_json);
    free(ck->params);
    free(ck->m);
    free(ck->v);
    memset(ck, 0, sizeof *ck);
}
