// export.c — write a model as safetensors with Hugging Face LlamaForCausalLM tensor names
// (docs/SPEC.md §5): 8-byte little-endian header length, JSON header (padded with spaces to 8 bytes),
// raw little-endian F32 data. The fused wqkv and wgu matrices are written as their row blocks.
#include "nn/export.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/loaded.h"
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

int safetensors_write(FILE *f, const Model *m, const char *const *vocab) {
    int max_tensors = 3 + 9 * m->cfg.n_layer;
    Tensor *t = xcalloc((size_t)max_tensors, sizeof(Tensor));
    int n = collect(m, t);
    char *hdr = header_json(m, t, n, vocab);
    size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
    uint64_t len64 = padded; // little-endian on every machine t2 builds on (checked in checkpoint.c)
    int ok = fwrite(&len64, 8, 1, f) == 1 && fwrite(hdr, 1, hlen, f) == hlen;
    for (size_t i = hlen; i < padded && ok; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; i < n && ok; i++) ok = fwrite(t[i].data, 1, tensor_bytes(&t[i]), f) == tensor_bytes(&t[i]);
    free(hdr);
    free(t);
    if (!ok) err_set("write failed: %s", strerror(errno));
    return ok ? 0 : -1;
}

int export_safetensors(const Model *m, const char *const *vocab, const char *path) {
    AtomicFile af;
    if (atomic_open(&af, path) != 0) return -1;
    if (safetensors_write(af.f, m, vocab) != 0) {
        err_prefix("%s", af.tmp);
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af);
}

// ---------------------------------------------------------------------------------------------
// Reading back.

static int bad(const char *name, const char *what) {
    err_set("%s: %s", name, what);
    return -1;
}

// An integer member of CONFIG in [lo, hi].
static int config_int(const cJSON *config, const char *key, long lo, long hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return -1;
    *out = (int)v->valuedouble;
    return 0;
}

static int parse_config(const cJSON *meta, ModelConfig *c) {
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(meta, "config");
    cJSON *config = cJSON_IsString(text) ? cJSON_Parse(text->valuestring) : NULL;
    const cJSON *tied = cJSON_GetObjectItemCaseSensitive(config, "tied");
    const cJSON *theta = cJSON_GetObjectItemCaseSensitive(config, "rope_theta");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(config, "norm_eps");
    memset(c, 0, sizeof *c);
    int rc = config && config_int(config, "n_layer", 1, 256, &c->n_layer) == 0 &&
                     config_int(config, "d_model", 2, 65536, &c->d_model) == 0 &&
                     config_int(config, "n_head", 1, 65536, &c->n_head) == 0 &&
                     config_int(config, "d_ff", 1, 1 << 20, &c->d_ff) == 0 &&
                     config_int(config, "vocab_size", 1, 1 << 24, &c->vocab_size) == 0 &&
                     config_int(config, "seq_len", 1, 1 << 20, &c->seq_len) == 0 && cJSON_IsBool(tied) &&
                     cJSON_IsNumber(theta) && cJSON_IsNumber(eps)
                 ? 0
                 : -1;
    if (rc == 0) {
        c->tied = cJSON_IsTrue(tied);
        c->rope_theta = (float)theta->valuedouble;
        c->norm_eps = (float)eps->valuedouble;
    }
    cJSON_Delete(config);
    return rc;
}

static char **parse_vocab(const cJSON *meta, int V) {
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(meta, "vocab");
    cJSON *arr = cJSON_IsString(text) ? cJSON_Parse(text->valuestring) : NULL;
    char **vocab = NULL;
    if (cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == V) {
        vocab = xcalloc((size_t)V, sizeof(char *));
        int i = 0;
        for (const cJSON *v = arr->child; v; v = v->next, i++) {
            if (!cJSON_IsString(v)) {
                free_vocab(vocab, V);
                vocab = NULL;
                break;
            }
            vocab[i] = xstrdup(v->valuestring);
        }
    }
    cJSON_Delete(arr);
    return vocab;
}

// Tensor T as the header entry E describes it: F32, its shape, its bytes inside the data.
static int check_entry(const cJSON *e, const Tensor *t, size_t data_len, size_t *begin) {
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || strcmp(dtype->valuestring, "F32") != 0) return -1;
    int dims = t->cols ? 2 : 1;
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) != dims || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return -1;
    double want[2] = {(double)t->rows, (double)t->cols};
    for (int i = 0; i < dims; i++)
        if (!cJSON_IsNumber(cJSON_GetArrayItem(shape, i)) || cJSON_GetArrayItem(shape, i)->valuedouble != want[i])
            return -1;
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble, end = cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)) || !(b >= 0) ||
        b != floor(b) || end != b + (double)tensor_bytes(t) || !(end <= (double)data_len))
        return -1;
    *begin = (size_t)b;
    return 0;
}

int safetensors_parse(const char *buf, size_t len, const char *name, Model *m, char ***vocab) {
    memset(m, 0, sizeof *m);
    *vocab = NULL;
    uint64_t hlen;
    if (len < 8) return bad(name, "not a safetensors file (shorter than its 8-byte header length)");
    memcpy(&hlen, buf, 8);
    if (hlen > len - 8) return bad(name, "header length runs past the end of the file");
    cJSON *h = cJSON_ParseWithLength(buf + 8, (size_t)hlen);
    if (!cJSON_IsObject(h)) {
        cJSON_Delete(h);
        return bad(name, "header is not a JSON object");
    }
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    ModelConfig c;
    const char *data = buf + 8 + hlen;
    size_t data_len = len - 8 - (size_t)hlen;
    int rc = -1;
    if (parse_config(meta, &c) != 0 || model_config_validate(&c) != 0) {
        bad(name, "__metadata__.config is not a t2 model config");
    } else if ((double)count_params(&c) * sizeof(float) > (double)data_len) {
        bad(name, "holds fewer parameters than its config needs");
    } else if (!(*vocab = parse_vocab(meta, c.vocab_size))) {
        bad(name, "__metadata__.vocab is not an array of vocab_size strings");
    } else {
        model_build(m, &c);
        Tensor *t = xcalloc((size_t)(3 + 9 * c.n_layer), sizeof(Tensor));
        int n = collect(m, t), found = 0;
        rc = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(h, t[i].name);
            size_t begin;
            if (!e || check_entry(e, &t[i], data_len, &begin) != 0) {
                err_set("%s: tensor %s: missing, or not F32 of its shape inside the data", name, t[i].name);
                rc = -1;
            } else {
                memcpy((float *)t[i].data, data + begin, tensor_bytes(&t[i])); // collect's views into m
                found++;
            }
        }
        if (rc == 0 && cJSON_GetArraySize(h) != found + 1) {
            err_set("%s: holds tensors a t2 model of its config does not have", name);
            rc = -1;
        }
        free(t);
        if (rc != 0) {
            model_free(m);
            free_vocab(*vocab, c.vocab_size);
            *vocab = NULL;
        }
    }
    if (rc != 0 && *vocab) {
        free_vocab(*vocab, c.vocab_size);
        *vocab = NULL;
    }
    cJSON_Delete(h);
    return rc;
}
