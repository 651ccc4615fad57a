/* The CLI's subcommands. Each lives in apps/cmd_<name>.c and returns the process exit status
 * (0 success, 1 failure, 2 usage error). argv[0] is the subcommand name. */
#ifndef ORDO_COMMANDS_H
#define ORDO_COMMANDS_H

typedef struct ordo_command {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
} ordo_command;

int cmd_parity(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_nb(int argc, char **argv);
int cmd_ai4code(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_classify(int argc, char **argv);

/* True when argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
