// export.h — safetensors export (docs/SPEC.md §5).
#ifndef T2_EXPORT_H
#define T2_EXPORT_H

#include "nn/model.h"

// vocab[i] is the text of token id i (vocab_size entries). The `config` metadata is
// model_config_cjson(c, 1). Atomic write.
int export_safetensors(const Model *m, const char *const *vocab, const char *path);

#endif
