// cmd_sample.c — `t2 sample --ckpt PATH --prompt P [-k K] [--temperature T] [--top-p P] [--seed S]`
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "nn/loaded.h"
#include "nn/sampler.h"
#include "util/json.h"

int cmd_sample(int argc, char **argv) {
    char *ckpt = NULL, *prompt = NULL;
    long k = 1, seed = 1, max_new = 0, threads = cpu_count();
    double temperature = 1.0, top_p = 1.0;
    int json = 0;
    Opt opts[] = {
        ARG_STR("--ckpt", &ckpt, "PATH", "checkpoint", .required = 1),
        ARG_TEXT("--prompt", &prompt, "P", "prompt text (fed after BOS)", .required = 1),
        ARG_INT("-k|--k", &k, "K", "number of completions (default 1)", .min = 1, .max = 1 << 16),
        ARG_DOUBLE("--temperature", &temperature, "T", "sampling temperature > 0 (default 1)"),
        ARG_DOUBLE("--top-p", &top_p, "P", "nucleus mass in (0, 1] (default 1)"),
        ARG_INT("--seed", &seed, "S", "random seed (default 1)", .min = 0, .max = 9e15),
        ARG_INT("--max-new-tokens", &max_new, "M", "longest completion (default: the rest of the context)", .min = 1,
                .max = 1 << 16),
        ARG_INT("--threads", &threads, "P", "worker threads (default: all cores)", .min = 1, .max = 1024),
        ARG_FLAG("--json", &json, "print one JSON object"),
    };
    int rc = args_parse("sample", argc, argv, opts, ARRAY_LEN(opts), NULL, "", 0, 0);
    if (rc) return rc < 0 ? cmd_fail() : 0;
    if (!(temperature > 0)) {
        err_set("--temperature: must be > 0, got %g", temperature);
        return cmd_fail();
    }
    if (!(top_p > 0 && top_p <= 1)) {
        err_set("--top-p: must be in (0, 1], got %g", top_p);
        return cmd_fail();
    }
    LoadedRun lr;
    if (loaded_run_open_text(&lr, ckpt) != 0) return cmd_fail();
    int T = lr.model.cfg.seq_len;
    int *ids = xcalloc((size_t)T, sizeof(int));
    int P = loaded_run_encode_prompt(&lr, prompt, ids, T);
    if (P < 0) {
        free(ids);
        loaded_run_close(&lr);
        return cmd_fail();
    }
    if (max_new == 0) max_new = T - P;
    if (P + max_new > T) {
        err_set("--max-new-tokens: the prompt (%d tokens with BOS) plus %ld new tokens exceed the context of %d", P,
                max_new, T);
        free(ids);
        loaded_run_close(&lr);
        return cmd_fail();
    }
    if (max_new < 1) {
        err_set("--prompt: %d tokens leave no room in the model's context of %d", P, T);
        free(ids);
        loaded_run_close(&lr);
        return cmd_fail();
    }
    Sampler *smp = sampler_create(&lr.model, P, (int)max_new, (int)k, (int)threads);
    SampleOut out;
    sample_out_alloc(&out, (int)k, (int)max_new);
    uint64_t *seeds = xcalloc((size_t)k, sizeof(uint64_t));
    for (long i = 0; i < k; i++) seeds[i] = seed_derive((uint64_t)seed, 0x5a3b1e, (uint64_t)i, 0);
    sampler_run(smp, ids, P, (int)k, seeds, (float)temperature, (float)top_p, &out);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "completions");
    cJSON_AddStringToObject(o, "prompt", prompt);
    for (long i = 0; i < k; i++) {
        char text[8192], answer[TASK_TEXT_MAX];
        task_decode(lr.task, out.tokens + (size_t)i * (size_t)max_new, out.n_tokens[i], text, sizeof text);
        int has = task_n_eval(lr.task) > 0 && task_extract_answer(lr.task, text, answer);
        if (json) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "text", text);
            cJSON_AddNumberToObject(c, "n_tokens", out.n_tokens[i]);
            cJSON_AddBoolToObject(c, "eos", out.hit_eos[i]);
            cJSON_AddNumberToObject(c, "logprob", out.logprob[i]);
            if (has) cJSON_AddStringToObject(c, "answer", answer);
            cJSON_AddItemToArray(arr, c);
        } else {
            printf("%s%s\n", text, out.hit_eos[i] ? "" : "…");
        }
    }
    if (json) json_print(o);
    cJSON_Delete(o);
    free(seeds);
    sample_out_free(&out);
    sampler_free(smp);
    free(ids);
    loaded_run_close(&lr);
    return 0;
}
