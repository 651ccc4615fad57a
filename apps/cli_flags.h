/* A table of a command's flags and one parser for it: each entry names a flag, the kind of
 * its value, where it goes and its bounds; bad values are refused with the flag named. */
#ifndef ORDO_CLI_FLAGS_H
#define ORDO_CLI_FLAGS_H

#include <stdint.h>

typedef enum { CLI_INT, CLI_I64, CLI_NUM, CLI_STR, CLI_BOOL } cli_kind;

typedef struct cli_flag {
  const char *name; /* "--seq" */
  cli_kind kind;
  void *dst;        /* int *, int64_t *, double *, const char **, int * (set to 1) */
  double lo, hi;    /* bounds of numbers */
} cli_flag;

/* Reads the flag at argv[*i] (and its value) through the table. Returns 1 when it was one of
 * them (advancing *i past its value), 0 when it is not, -1 on a bad or missing value (message
 * printed, prefixed by cmd). */
int cli_flag_parse(const cli_flag *flags, int n, int argc, char **argv, int *i, const char *cmd);

#endif
