/* Number flags of the CLI commands (cli_parse.h). */
#include "cli_parse.h"

#include <stdio.h>
#include <stdlib.h>

int cli_parse_ll(const char *cmd, const char *flag, const char *s, long long lo, long long hi,
                 long long *out) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v < lo || v > hi) {
    fprintf(stderr, "%s: %s must be an integer in [%lld, %lld], got '%s'\n", cmd, flag, lo, hi, s);
    return 0;
  }
  *out = v;
  return 1;
}

int cli_parse_dbl(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  double *out) {
  char *end;
  double v = strtod(s, &end);
  if (!*s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "%s: %s must be a number in [%g, %g], got '%s'\n", cmd, flag, lo, hi, s);
    return 0;
  }
  *out = v;
  return 1;
}
