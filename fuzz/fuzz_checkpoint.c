// fuzz_checkpoint.c — the checkpoint reader (nn/checkpoint.c): any bytes are a checkpoint whose
// arrays match its model config, or one error line; never a read outside the bytes.
#include <string.h>

#include "fuzz.h"
#include "nn/checkpoint.h"
#include "util/util.h"

FUZZ_TARGET(checkpoint) {
    const char *buf = (const char *)data;
    Checkpoint ck;
    if (checkpoint_parse(buf, size, "fuzz.ckpt", &ck) == 0) {
        FUZZ_ASSERT(model_config_validate(&ck.cfg) == 0);
        FUZZ_ASSERT(ck.n_params == param_layout(&ck.cfg).total && ck.params);
        FUZZ_ASSERT((ck.m == NULL) == (ck.v == NULL));
        FUZZ_ASSERT(ck.config_json && strlen(ck.id.sweep) < sizeof ck.id.sweep && ck.id.run_id >= -1);
        // The identity read from the header alone is the one the whole file gives.
        CkptIdentity id;
        FUZZ_ASSERT(checkpoint_parse_identity(buf, size, "fuzz.ckpt", &id) == 0);
        FUZZ_ASSERT(checkpoint_check_identity("fuzz.ckpt", &id, &ck.id) == 0);
        checkpoint_free(&ck);
    } else {
        FUZZ_ONE_LINE(err_msg());
    }
    CkptIdentity id;
    if (checkpoint_parse_identity(buf, size, "fuzz.ckpt", &id) != 0) FUZZ_ONE_LINE(err_msg());
    return 0;
}
