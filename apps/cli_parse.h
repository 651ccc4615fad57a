/* Number flags of the CLI commands: the whole argument must be a number within the bounds,
 * else a message "CMD: FLAG must be ... in [lo, hi], got 'S'" on stderr. */
#ifndef ORDO_CLI_PARSE_H
#define ORDO_CLI_PARSE_H

/* 1 and *out set when s is an integer in [lo, hi]; 0 after the message otherwise. */
int cli_parse_ll(const char *cmd, const char *flag, const char *s, long long lo, long long hi,
                 long long *out);
/* The same for a finite number in [lo, hi]. */
int cli_parse_dbl(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  double *out);

#endif
