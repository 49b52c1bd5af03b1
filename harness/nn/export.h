// export.h — safetensors export (docs/SPEC.md §5).
#ifndef T2_EXPORT_H
#define T2_EXPORT_H

#include "nn/model.h"

#include <stdio.h>

// vocab[i] is the text of token id i (vocab_size entries). The `config` metadata is
// model_config_cjson(c, 1). Atomic write.
int export_safetensors(const Model *m, const char *const *vocab, const char *path);
// The same bytes to a stream (0, or -1 + err_set on a write error).
int safetensors_write(FILE *f, const Model *m, const char *const *vocab);

// Read back what export_safetensors wrote, from the LEN bytes of a file in memory (NAME names it
// in messages): the model (built, every parameter filled) and its vocabulary (vocab_size heap
// strings, free_vocab). Anything else — another layout, dtype, shape or tensor set, offsets
// outside the data, a damaged header — is -1 + err_set, with nothing left to free.
int safetensors_parse(const char *buf, size_t len, const char *name, Model *m, char ***vocab);

#endif
