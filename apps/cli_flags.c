/* The flag-table parser (cli_flags.h); numbers go through cli_parse.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_flags.h"
#include "cli_parse.h"

int cli_flag_parse(const cli_flag *flags, int n, int argc, char **argv, int *i, const char *cmd) {
  const char *f = argv[*i];
  const cli_flag *k = NULL;
  for (int j = 0; j < n && !k; j++)
    if (strcmp(flags[j].name, f) == 0) k = &flags[j];
  if (!k) return 0;
  if (k->kind == CLI_BOOL) {
    *(int *)k->dst = 1;
    return 1;
  }
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s: %s needs a value\n", cmd, f);
    return -1;
  }
  const char *v = argv[++*i];
  if (k->kind == CLI_STR) {
    *(const char **)k->dst = v;
    return 1;
  }
  if (k->kind == CLI_INT || k->kind == CLI_I64) {
    long long iv;
    if (!cli_parse_ll(cmd, f, v, (long long)k->lo, (long long)k->hi, &iv)) return -1;
    if (k->kind == CLI_INT) *(int *)k->dst = (int)iv;
    else *(int64_t *)k->dst = (int64_t)iv;
  } else if (!cli_parse_dbl(cmd, f, v, k->lo, k->hi, (double *)k->dst)) {
    return -1;
  }
  return 1;
}
