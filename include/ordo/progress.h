/* A progress display for long work: done/total, elapsed time, time left, rate and a
 * caller-supplied tail (e.g. "loss 2.31 12400 tok/s"). On a terminal one line redrawn in place
 * (at most 10 times a second); otherwise (a log, CI) plain lines: every 5% of the work and at
 * least every 30 seconds. */
#ifndef ORDO_PROGRESS_H
#define ORDO_PROGRESS_H

#include <stdint.h>

typedef struct ordo_progress {
  const char *label;
  const char *unit;   /* what is counted, for the rate ("steps" unless set after init) */
  int64_t total, done;
  int64_t start;      /* done when timing began (a resumed run): the rate counts from here */
  double t0, last_draw;
  int tty;
  int64_t line_every; /* when not a tty: print a line every this many steps ... */
  double line_secs;   /* ... or when this long has passed since the last one */
  int drawn;          /* a terminal line is on screen */
  int64_t printed;    /* not a terminal: done at the last line printed (-1: none) */
  int silent;         /* draws nothing (set after init: a rank other than 0 of a parallel run) */
} ordo_progress;

void progress_init(ordo_progress *p, const char *label, int64_t total);
/* Sets done = `done` and redraws if due; `tail` may be NULL. */
void progress_update(ordo_progress *p, int64_t done, const char *tail);
void progress_finish(ordo_progress *p, const char *tail);
/* Erases the terminal line, before other output (a log line); the next update redraws it. */
void progress_clear(ordo_progress *p);

#endif
