// cmd_score.c — `t2 score --ckpt PATH --prompt P --completion C [--json]`: the teacher-forced
// log-probability of C (and the EOS that ends an answer) after BOS + P.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "kernels.h"
#include "nn/loaded.h"
#include "util/json.h"

int cmd_score(int argc, char **argv) {
    char *ckpt = NULL, *prompt = NULL, *completion = NULL;
    int json = 0, no_eos = 0;
    Opt opts[] = {
        ARG_STR("--ckpt", &ckpt, "PATH", "checkpoint", .required = 1),
        ARG_TEXT("--prompt", &prompt, "P", "prompt text (fed after BOS)", .required = 1),
        ARG_TEXT("--completion", &completion, "C", "completion text to score", .required = 1),
        ARG_FLAG("--no-eos", &no_eos, "score C alone, without the EOS that ends an answer"),
        ARG_FLAG("--json", &json, "print {tokens, n_prompt, token_logprobs, logprob}"),
    };
    int rc = args_parse("score", argc, argv, opts, ARRAY_LEN(opts), NULL, "", 0, 0);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    LoadedRun lr;
    if (loaded_run_open_text(&lr, ckpt) != 0) return cmd_fail();
    const ModelConfig *c = &lr.model.cfg;
    int T = c->seq_len, V = c->vocab_size;
    int *ids = xcalloc((size_t)T + 1, sizeof(int));
    int P = loaded_run_encode_prompt(&lr, prompt, ids, T);
    int np = P - 1, nc = P < 0 ? -1 : task_encode(lr.task, completion, ids + P, T - P);
    if (P < 0) goto fail;
    if (nc < 0) {
        err_prefix("--completion");
        goto fail;
    }
    int n = 1 + np + nc;
    if (!no_eos) {
        if (n >= T) {
            err_set("--completion: prompt and completion (%d tokens with BOS and EOS) exceed the context of %d", n + 1, T);
            goto fail;
        }
        ids[n++] = TOKEN_EOS;
    }
    if (n - (1 + np) < 1) {
        err_set("--completion: nothing to score (empty completion with --no-eos)");
        goto fail;
    }
    Activations a;
    acts_build(&a, c, 1, n);
    model_forward(&lr.model, &a, ids, NULL, 1, n);
    log_softmax_rows(a.logits, (size_t)n, V);
    double total = 0;
    cJSON *o = cJSON_CreateObject(), *toks = cJSON_AddArrayToObject(o, "tokens");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(toks, cJSON_CreateNumber(ids[i]));
    cJSON_AddNumberToObject(o, "n_prompt", 1 + np);
    cJSON *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    for (int i = 1 + np; i < n; i++) {
        double lp = a.logits[(size_t)(i - 1) * V + ids[i]];
        total += lp;
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(lp));
    }
    cJSON_AddNumberToObject(o, "logprob", total);
    if (json) {
        json_print(o);
    } else {
        char buf[16];
        for (int i = 1 + np; i < n; i++)
            printf("%8s %10.4f\n", task_token_text(lr.task, ids[i], buf), a.logits[(size_t)(i - 1) * V + ids[i]]);
        printf("logprob %.6f over %d tokens (p = %.4g)\n", total, n - 1 - np, exp(total));
    }
    cJSON_Delete(o);
    acts_free(&a);
    free(ids);
    loaded_run_close(&lr);
    return 0;
fail:
    free(ids);
    loaded_run_close(&lr);
    return cmd_fail();
}
