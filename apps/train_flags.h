/* The training-technique flags, shared by every command that trains (ordo train, ordo ai4code
 * train), so that each technique is one flag everywhere. */
#ifndef ORDO_TRAIN_FLAGS_H
#define ORDO_TRAIN_FLAGS_H

#include <stdio.h>

#include "ordo/trainer.h"

/* Reads the flag at argv[*i] (and its value) into tc. Returns 1 when it was a technique flag
 * (advancing *i past its value), 0 when it is not one, -1 on a bad value (message printed,
 * prefixed by cmd). */
int train_flags_parse(trainer_config *tc, int argc, char **argv, int *i, const char *cmd);
/* Checks combinations after parsing; -1 with a message printed. */
int train_flags_check(const trainer_config *tc, const char *cmd);
void train_flags_usage(FILE *f);

#endif
