/* A terminal progress bar for long work: step/total, rate, ETA and a caller-supplied tail
 * (e.g. "loss 2.31  12,400 tok/s"). Redraws at most 10 times a second; plain lines when
 * stderr is not a terminal. */
#ifndef ORDO_PROGRESS_H
#define ORDO_PROGRESS_H

#include <stdint.h>

typedef struct ordo_progress {
  const char *label;
  int64_t total, done;
  double t0, last_draw;
  int tty;
  int64_t line_every; /* when not a tty: print a line every this many steps */
} ordo_progress;

void progress_init(ordo_progress *p, const char *label, int64_t total);
/* Sets done = `done` and redraws if due; `tail` may be NULL. */
void progress_update(ordo_progress *p, int64_t done, const char *tail);
void progress_finish(ordo_progress *p, const char *tail);

#endif
