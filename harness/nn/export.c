// export.c — write a model as safetensors with Hugging Face LlamaForCausalLM tensor names
// (docs/SPEC.md §5): 8-byte little-endian header length, JSON header (padded with spaces to 8 bytes),
// raw little-endian F32 data. The fused wqkv and wgu matrices are written as their row blocks.
#include "nn/export.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

typedef struct {
    char name[96];
    const float *data;
    size_t rows, cols; // cols == 0: a vector of `rows`
} Tensor;

static int collect(const Model *m, Tensor *t) {
    const ModelConfig *c = &m->cfg;
    size_t C = (size_t)c->d_model, F = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    int n = 0;
    t[n++] = (Tensor){"model.embed_tokens.weight", m->w.wte, V, C};
    for (size_t l = 0; l < (size_t)c->n_layer; l++) {
        const float *qkv = m->w.wqkv + l * 3 * C * C, *gu = m->w.wgu + l * 2 * F * C;
        static const char *const qkv_names[] = {"q_proj", "k_proj", "v_proj"};
        for (int i = 0; i < 3; i++) {
            t[n] = (Tensor){"", qkv + (size_t)i * C * C, C, C};
            snprintf(t[n++].name, sizeof t->name, "model.layers.%zu.self_attn.%s.weight", l, qkv_names[i]);
        }
        t[n] = (Tensor){"", m->w.wo + l * C * C, C, C};
        snprintf(t[n++].name, sizeof t->name, "model.layers.%zu.self_attn.o_proj.weight", l);
        t[n] = (Tensor){"", gu, F, C};
        snprintf(t[n++].name, sizeof t->name, "model.layers.%zu.mlp.gate_proj.weight", l);
        t[n] = (Tensor){"", gu + F * C, F, C};
        snprintf(t[n++].name, sizeof t->name, "model.layers.%zu.mlp.up_proj.weight", l);
        t[n] = (Tensor){"", m->w.wdown + l * C * F, C, F};
        snprintf(t[n++].name, sizeof t->name, "model.layers.%zu.mlp.down_proj.weight", l);
        t[n] = (Tensor){"", m->w.ln1 + l * C, C, 0};
        snprintf(t[n++].name, sizeof t->name, "model.layers.%zu.input_layernorm.weight", l);
        t[n] = (Tensor){"", m->w.ln2 + l * C, C, 0};
        snprintf(t[n++].name, sizeof t->name, "model.layers.%zu.post_attention_layernorm.weight", l);
    }
    t[n++] = (Tensor){"model.norm.weight", m->w.lnf, C, 0};
    if (!c->tied) t[n++] = (Tensor){"lm_head.weight", m->w.lm_head, V, C}; // tied: omitted, as Hugging Face does
    return n;
}

static size_t tensor_bytes(const Tensor *t) { return t->rows * (t->cols ? t->cols : 1) * sizeof(float); }

static char *header_json(const Model *m, const Tensor *t, int n, const char *const *vocab) {
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    char *cfg = json_text_free(model_config_cjson(&m->cfg, 1));
    cJSON_AddStringToObject(meta, "config", cfg);
    free(cfg);
    cJSON *voc = cJSON_CreateArray();
    for (int i = 0; i < m->cfg.vocab_size; i++) cJSON_AddItemToArray(voc, cJSON_CreateString(vocab[i]));
    char *voc_s = json_text_free(voc);
    cJSON_AddStringToObject(meta, "vocab", voc_s);
    free(voc_s);
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, t[i].name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].rows));
        if (t[i].cols) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].cols));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        off += tensor_bytes(&t[i]);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    }
    return json_text_free(h);
}

int export_safetensors(const Model *m, const char *const *vocab, const char *path) {
    int max_tensors = 3 + 9 * m->cfg.n_layer;
    Tensor *t = xcalloc((size_t)max_tensors, sizeof(Tensor));
    int n = collect(m, t);
    char *hdr = header_json(m, t, n, vocab);
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    char *hbuf = xmalloc(padded);
    memcpy(hbuf, hdr, hlen);
    memset(hbuf + hlen, ' ', padded - hlen);
    uint64_t len64 = padded; // little-endian on every machine t2 builds on (checked in checkpoint.c)
    AtomicFile af;
    int rc = atomic_open(&af, path);
    if (rc == 0) {
        atomic_write(&af, &len64, 8);
        atomic_write(&af, hbuf, padded);
        for (int i = 0; i < n; i++) atomic_write(&af, t[i].data, tensor_bytes(&t[i]));
        rc = atomic_commit(&af);
    }
    free(hbuf);
    free(hdr);
    free(t);
    return rc;
}
