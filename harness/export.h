// export.h — safetensors export (SPEC §5) and the model config as JSON.
#ifndef T2_EXPORT_H
#define T2_EXPORT_H

#include "model.h"

// vocab[i] is the text of token id i (vocab_size entries). Atomic write.
int export_safetensors(const Model *m, const char *const *vocab, const char *path);
// {"n_layer":…, "d_model":…, "n_head":…, "d_ff":…, "vocab_size":…, "seq_len":…, "rope_theta":…,
//  "norm_eps":…, "tied":…}; caller frees.
char *model_config_json(const ModelConfig *c);

#endif
