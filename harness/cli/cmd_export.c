// cmd_export.c — `t2 export --ckpt PATH --out FILE.safetensors`
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "nn/export.h"
#include "nn/loaded.h"

int cmd_export(int argc, char **argv) {
    char *ckpt = NULL, *out = NULL;
    Opt opts[] = {
        ARG_STR("--ckpt", &ckpt, "PATH", "checkpoint to export", .required = 1),
        ARG_STR("--out", &out, "FILE", "safetensors file to write (Hugging Face Llama names)", .required = 1),
    };
    int rc = args_parse("export", argc, argv, opts, ARRAY_LEN(opts), NULL, "", 0, 0);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    if (refuse_input_as_output("--out", out, "--ckpt", ckpt) != 0) return cmd_fail();
    LoadedRun lr;
    if (loaded_run_open(&lr, ckpt) != 0) return cmd_fail();
    char **vocab = loaded_run_vocab(&lr);
    rc = export_safetensors(&lr.model, (const char *const *)vocab, out);
    free_vocab(vocab, lr.model.cfg.vocab_size);
    if (rc == 0) fprintf(stderr, "t2: wrote %s (%zu parameters, step %ld)\n", out, lr.model.layout.total, lr.step);
    loaded_run_close(&lr);
    return rc == 0 ? 0 : cmd_fail();
}
