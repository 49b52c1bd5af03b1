// commands.h — every `t2 <command>`: int cmd_NAME(int argc, char **argv), argv after the name.
// Each returns the process exit code; on failure it has already printed its one line on stderr.
#ifndef T2_COMMANDS_H
#define T2_COMMANDS_H

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} Command;

int cmd_sweep(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_slurm(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_optimize(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_merge(int argc, char **argv);

// Print "t2: MESSAGE" from err_msg() and return 1: the common failure exit of a command.
int cmd_fail(void);

#endif
