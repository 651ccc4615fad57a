/* The report's private pieces: a growing text buffer and the SVG charts. */
#ifndef ORDO_REPORT_INTERNAL_H
#define ORDO_REPORT_INTERNAL_H

#include <stdint.h>

typedef struct rp_text {
  char *p;
  size_t n, cap;
} rp_text;

void rp_printf(rp_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with &, <, >, " escaped. */
void rp_escape(rp_text *t, const char *s);

/* The colour of series i (a palette that stays apart for the colour-blind). */
const char *rp_color(int i);

/* One line of a chart: n points (x, y); points with a y that is not finite are left out. */
typedef struct rp_line {
  const char *label;
  const double *x, *y;
  int64_t n;
  int color;
  int dashed;  /* validation curves */
  int markers; /* a dot on every point (few points, e.g. one per epoch) */
  int faint;   /* drawn pale, behind its moving average */
} rp_line;

/* A line chart with its title, axis labels (units in the label), ticks and a legend, as an
 * HTML figure holding an inline SVG. */
void rp_draw_lines(rp_text *t, const char *title, const char *xlabel, const char *ylabel,
                    const rp_line *lines, int n_lines);

/* A grouped bar chart: n_groups categories on x (group_names), one bar per series in each
 * (values[s * n_groups + g], NAN: no bar). */
void rp_draw_bars(rp_text *t, const char *title, const char *xlabel, const char *ylabel,
                   const char *const *group_names, int n_groups, const char *const *series_names,
                   const int *colors, int n_series, const double *values);

#endif
