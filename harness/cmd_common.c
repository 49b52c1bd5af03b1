// cmd_common.c — pieces every command shares.
#include <stdio.h>

#include "commands.h"
#include "util.h"

int cmd_fail(void) {
    fprintf(stderr, "t2: %s\n", err_msg());
    return 1;
}
