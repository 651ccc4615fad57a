/* The flag-table parser (cli_flags.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_flags.h"

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
  char *end;
  double d = strtod(v, &end);
  int integral = k->kind == CLI_INT || k->kind == CLI_I64;
  if (!*v || *end || !(d >= k->lo && d <= k->hi) || (integral && d != (double)(int64_t)d)) {
    fprintf(stderr, "%s: %s must be %s in [%g, %g], got '%s'\n", cmd, f,
            integral ? "an integer" : "a number", k->lo, k->hi, v);
    return -1;
  }
  if (k->kind == CLI_INT) *(int *)k->dst = (int)d;
  else if (k->kind == CLI_I64) *(int64_t *)k->dst = (int64_t)d;
  else *(double *)k->dst = d;
  return 1;
}
