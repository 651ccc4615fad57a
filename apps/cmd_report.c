/* ordo report: one self-contained HTML page of a training run (and runs compared with it). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ordo/report.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: ordo report RUN_DIR [--compare RUN_DIR...] --out FILE.html\n\n"
          "Writes one self-contained HTML file (inline SVG plots, no scripts, nothing fetched) of a\n"
          "run directory written by 'ordo train' or 'ordo ai4code train': for each stage the\n"
          "training and held-out loss, learning rate, gradient norm, loss scale, throughput and\n"
          "memory; the held-out Kendall tau per epoch and per notebook length; a few held-out\n"
          "notebooks with the predicted order beside the true one. --compare draws other runs'\n"
          "curves on the same plots (e.g. 8-bit against 32-bit AdamW).\n\n"
          "It reads metrics.jsonl, tb/<stage>/ event files and heldout.jsonl as far as they are\n"
          "readable: a torn or damaged file gives a report of the rest, and the page lists what\n"
          "was skipped (also printed to stderr). Exit 1 when a run holds nothing readable.\n");
}

int cmd_report(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) return usage(stdout), 0;
  const char *out = NULL, *dirs[33];
  int n = 0, bad = 0, comparing = 0;
  for (int i = 1; i < argc && !bad; i++) {
    if (strcmp(argv[i], "--out") == 0) {
      if (i + 1 >= argc) bad = 1;
      else out = argv[++i];
      comparing = 0;
    } else if (strcmp(argv[i], "--compare") == 0) {
      comparing = 1;
      if (n == 0) bad = 1; /* the run compared with comes first */
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "ordo report: unknown argument '%s'\n", argv[i]);
      bad = 1;
    } else if (n >= 33 || (n >= 1 && !comparing)) {
      fprintf(stderr, "ordo report: '%s': one RUN_DIR, others after --compare (at most 32)\n", argv[i]);
      bad = 1;
    } else {
      dirs[n++] = argv[i];
    }
  }
  if (!bad && (n == 0 || !out)) {
    fprintf(stderr, "ordo report: RUN_DIR and --out are required\n");
    bad = 1;
  }
  if (bad) return usage(stderr), 2;
  rp_run runs[33];
  ordo_err e;
  int rc = 0, loaded = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    if (report_run_load(&runs[i], dirs[i], &e) != 0) rc = 1;
    else loaded++;
  }
  for (int i = 0; i < loaded; i++)
    for (int k = 0; k < runs[i].n_notes; k++)
      if (runs[i].skipped) fprintf(stderr, "report: %s\n", runs[i].notes[k]);
  if (rc == 0 && report_write_html(runs, n, out, &e) != 0) rc = 1;
  if (rc) fprintf(stderr, "ordo report: %s\n", e.msg);
  else printf("wrote %s\n", out);
  for (int i = 0; i < loaded; i++) report_run_free(&runs[i]);
  return rc;
}
