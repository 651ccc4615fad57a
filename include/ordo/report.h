/* `ordo report`: one self-contained HTML page (inline SVG plots, no scripts) of one or more run
 * directories written by the training commands (metrics.h): the training curves of every stage,
 * the held-out Kendall tau per epoch and per notebook length, and a few held-out notebooks with
 * the predicted order beside the true one.
 *
 * A run is read from what is readable: metrics.jsonl line by line (a torn or malformed line is
 * skipped), then the event files under tb/ up to their first torn or damaged record (scalars the
 * JSON lines lack are added), then heldout.jsonl. What was skipped is listed on the page. */
#ifndef ORDO_REPORT_H
#define ORDO_REPORT_H

#include <stdint.h>

#include "ordo/core.h"

/* One metric of one stage: its points in step order (value NAN where not finite). */
typedef struct rp_series {
  char stage[48], name[48];
  int64_t n, cap;
  int64_t *step;
  double *val;
} rp_series;

/* A held-out notebook: cell types ('c'/'m'), the true and the predicted order (indices into the
 * cells), each cell's first line. */
typedef struct rp_notebook {
  char id[64];
  double tau;
  int32_t n;
  char *types;
  int32_t *truth, *pred;
  char **text;
} rp_notebook;

typedef struct rp_run {
  char dir[4096], label[256];
  rp_series *s;
  int n_series, cap_series;
  rp_notebook *nbs;
  int n_nbs;
  char **notes; /* what was read and what was skipped, one sentence each */
  int n_notes;
  int skipped;  /* something was skipped */
} rp_run;

/* Reads a run directory. -1 (e naming the directory) only when it holds nothing readable. */
int report_run_load(rp_run *r, const char *dir, ordo_err *e);
void report_run_free(rp_run *r);
/* The series (stage, name) of a run, or NULL. */
const rp_series *report_find_series(const rp_run *r, const char *stage, const char *name);

/* Writes the page for runs[0] (and, from runs[1] on, the runs compared with it). */
int report_write_html(const rp_run *runs, int n_runs, const char *path, ordo_err *e);

#endif
