/* ordo: one CLI, `ordo <command> [options]`. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ordo/core.h"
#include "ordo/dist.h"
#include "ordo/ops.h"

static const ordo_command k_commands[] = {
    /* the table: one line per command */
    {"parity", "compare forward and backward with a HF reference fixture", cmd_parity},
    {"train", "masked-LM (encoders) or causal-LM (GPT-2) training on a text corpus", cmd_train},
    {"tokenize", "encode/decode JSON-lines with a tokenizer; train BPE or WordPiece", cmd_tokenize},
    {"nb", "notebook datasets: build from .ipynb trees, info", cmd_nb},
    {"ai4code", "cell ordering: score, baselines, ensembles", cmd_ai4code},
    {"report", "an HTML report with plots of training runs", cmd_report},
    {"generate", "text generation with a causal LM (GPT-2), key/value cache", cmd_generate},
    {"classify", "text classification: train, eval, predict (CSV / JSON-lines)", cmd_classify},
    {NULL, NULL, NULL},
};

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "ordo - transformer training engine and notebook cell-order ranker\n\n"
          "usage: ordo <command> [options]    (ordo <command> --help for each)\n\n"
          "commands:\n");
  for (const ordo_command *c = k_commands; c->name; c++)
    fprintf(f, "  %-10s %s\n", c->name, c->summary);
  fprintf(f, "  %-10s %s\n", "version", "print the version and build features");
}

/* The commands that split their work among mpirun's ranks. */
static int data_parallel(int argc, char **argv) {
  if (strcmp(argv[1], "train") == 0) return 1;
  return strcmp(argv[1], "ai4code") == 0 && argc > 2 && strcmp(argv[2], "train") == 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
#ifdef ORDO_HAVE_CUDA
    const char *cuda = ordo_cuda_available() ? "; CUDA backend (device present)"
                                             : "; CUDA backend (no CUDA device)";
#else
    const char *cuda = "";
#endif
    printf("ordo 0.1.0 (CPU: OpenMP, products on %s%s%s, built for %s)\n", ops_cpu_products(),
           dist_available() ? "; multi-process: MPI" : "", cuda, ORDO_MARCH_NAME);
    return 0;
  }
  for (const ordo_command *c = k_commands; c->name; c++)
    if (strcmp(argv[1], c->name) == 0) {
      if (dist_launch_world() > 1 && !data_parallel(argc, argv)) {
        /* every rank would do the whole work and write the same files */
        fprintf(stderr, "ordo %s%s%s: runs as one process, but was launched as one of %d ranks "
                        "(only `ordo train` and `ordo ai4code train` are data-parallel)\n",
                argv[1], argc > 2 ? " " : "", argc > 2 ? argv[2] : "", dist_launch_world());
        return 2;
      }
      return c->run(argc - 1, argv + 1);
    }
  fprintf(stderr, "ordo: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
