// fuzz_safetensors.c — the safetensors writer and reader (nn/export.c). Any bytes read as a file
// give a model or one error line; a file that reads is written and read back to the same model. And a
// model made from the bytes (shape, raw float bits including NaNs, vocabulary strings with quotes,
// control characters and invalid UTF-8) is written and read back bit for bit.
#include <string.h>

#include "fuzz.h"
#include "nn/export.h"
#include "nn/loaded.h"
#include "util/util.h"

// Write M with VOCAB into memory.
static char *write_mem(const Model *m, char **vocab, size_t *len) {
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(safetensors_write(f, m, (const char *const *)vocab) == 0);
    FUZZ_ASSERT(fclose(f) == 0);
    return buf;
}

static void assert_same_model(const Model *a, char **va, const Model *b, char **vb) {
    FUZZ_ASSERT(memcmp(&a->cfg, &b->cfg, sizeof a->cfg) == 0);
    FUZZ_ASSERT(a->layout.total == b->layout.total);
    FUZZ_ASSERT(memcmp(a->params, b->params, a->layout.total * sizeof(float)) == 0);
    for (int i = 0; i < a->cfg.vocab_size; i++) FUZZ_ASSERT(strcmp(va[i], vb[i]) == 0);
}

// The reader on the input itself.
static void read_input(const uint8_t *data, size_t size) {
    Model m;
    char **vocab;
    if (safetensors_parse((const char *)data, size, "fuzz.safetensors", &m, &vocab) != 0) {
        FUZZ_ONE_LINE(err_msg());
        return;
    }
    size_t len;
    char *again = write_mem(&m, vocab, &len);
    Model m2;
    char **vocab2;
    FUZZ_ASSERT(safetensors_parse(again, len, "again", &m2, &vocab2) == 0);
    assert_same_model(&m, vocab, &m2, vocab2);
    free(again);
    free_vocab(vocab, m.cfg.vocab_size);
    free_vocab(vocab2, m2.cfg.vocab_size);
    model_free(&m);
    model_free(&m2);
}

// A model shaped and filled by the input, written and read back.
static void round_trip(const uint8_t *data, size_t size) {
    if (size < 8) return;
    int heads = 1 + data[1] % 3, head_dim = 2 * (1 + data[2] % 3);
    ModelConfig c = {.n_layer = 1 + data[0] % 2, .d_model = heads * head_dim, .n_head = heads,
                     .d_ff = 1 + data[3] % 12, .vocab_size = 3 + data[4] % 8, .seq_len = 2 + data[5] % 6,
                     .tied = data[6] & 1, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    FUZZ_ASSERT(model_config_validate(&c) == 0);
    Model m;
    model_build(&m, &c);
    const uint8_t *rest = data + 8;
    size_t n_rest = size - 8;
    unsigned char *bytes = (unsigned char *)m.params;
    for (size_t i = 0; i < m.layout.total * sizeof(float); i++) bytes[i] = n_rest ? rest[i % n_rest] : (uint8_t)i;
    char **vocab = xcalloc((size_t)c.vocab_size, sizeof(char *));
    for (int i = 0; i < c.vocab_size; i++) { // up to 6 bytes of the input each, never a NUL
        char s[7];
        int n = 0;
        for (int k = 0; k < 6 && n_rest; k++) {
            uint8_t b = rest[(size_t)(i * 6 + k) % n_rest];
            if (b) s[n++] = (char)b;
        }
        s[n] = '\0';
        vocab[i] = xstrdup(s);
    }
    size_t len;
    char *file = write_mem(&m, vocab, &len);
    Model back;
    char **vocab_back;
    if (safetensors_parse(file, len, "written", &back, &vocab_back) != 0) {
        fprintf(stderr, "written file not read back: %s\n", err_msg());
        FUZZ_ASSERT(0);
    }
    assert_same_model(&m, vocab, &back, vocab_back);
    free(file);
    free_vocab(vocab, c.vocab_size);
    free_vocab(vocab_back, c.vocab_size);
    model_free(&m);
    model_free(&back);
}

FUZZ_TARGET(safetensors) {
    read_input(data, size);
    round_trip(data, size);
    return 0;
}
