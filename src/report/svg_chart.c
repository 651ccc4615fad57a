/* SVG charts for the report: axes with round ticks, labelled axes, lines or grouped bars, and an
 * HTML legend under the chart (so that no label is drawn over the data). */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "ordo/core.h"
#include "report/report_internal.h"

void rp_printf(rp_text *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int need = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (t->n + (size_t)need + 1 > t->cap) {
    t->cap = (t->n + (size_t)need + 1) * 2;
    t->p = ordo_realloc(t->p, t->cap);
  }
  va_start(ap, fmt);
  vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
  va_end(ap);
  t->n += (size_t)need;
}

void rp_escape(rp_text *t, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': rp_printf(t, "&amp;"); break;
    case '<': rp_printf(t, "&lt;"); break;
    case '>': rp_printf(t, "&gt;"); break;
    case '"': rp_printf(t, "&quot;"); break;
    default: rp_printf(t, "%c", *s);
    }
  }
}

const char *rp_color(int i) {
  static const char *const pal[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7",
                                    "#e69f00", "#56b4e9", "#000000", "#999933"};
  return pal[(i % 8 + 8) % 8];
}

/* the chart's frame in SVG units */
enum { W = 480, H = 270, ML = 72, MR = 14, MT = 10, MB = 46 };

typedef struct axis {
  double lo, hi, step; /* the range shown and the tick spacing */
} axis;

/* Round ticks (1, 2 or 5 times a power of ten) over [lo, hi], about 5 of them; whole numbers
 * only on an integer axis (steps, epochs). */
static axis axis_make(double lo, double hi, int from_zero, int integer) {
  if (from_zero && lo > 0) lo = 0;
  if (!(hi > lo)) {
    double d = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
    lo -= d, hi += d;
  }
  double raw = (hi - lo) / 5, p = pow(10, floor(log10(raw))), m = raw / p;
  double step = (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  if (integer && step < 1) step = 1;
  axis a = {floor(lo / step) * step, ceil(hi / step) * step, step};
  return a;
}

/* A tick label, alike on every tick of an axis: decimals as the tick spacing needs them, k and M
 * for large numbers, powers of ten when every number of the axis is small (learning rates). */
static void tick_label(char *buf, size_t n, double v, const axis *a) {
  double mag = fmax(fabs(a->lo), fabs(a->hi)), step = a->step;
  if (fabs(v) < step * 1e-6) v = 0;
  if (v == 0) {
    snprintf(buf, n, "0");
  } else if (mag >= 1e6) {
    snprintf(buf, n, "%.*fM", step >= 1e6 ? 0 : (int)ceil(-log10(step / 1e6) - 1e-9), v / 1e6);
  } else if (mag >= 1e4) {
    snprintf(buf, n, "%.*fk", step >= 1e3 ? 0 : (int)ceil(-log10(step / 1e3) - 1e-9), v / 1e3);
  } else if (mag < 1e-2) {
    snprintf(buf, n, "%.1e", v);
  } else {
    int d = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, n, "%.*f", d, v);
  }
}

static double map(double v, const axis *a, double p0, double p1) {
  return p0 + (v - a->lo) / (a->hi - a->lo) * (p1 - p0);
}

/* The frame: grid, ticks and labels of both axes (x ticks skipped when x is categorical). */
static void frame(rp_text *t, const axis *ax, const axis *ay, const char *xlabel, const char *ylabel) {
  char buf[64];
  rp_printf(t, "<svg viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\">\n", W, H);
  for (double y = ay->lo; y <= ay->hi + ay->step * 1e-6; y += ay->step) {
    double py = map(y, ay, H - MB, MT);
    tick_label(buf, sizeof buf, y, ay);
    rp_printf(t, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
              "<text x=\"%d\" y=\"%.1f\" class=\"ty\">%s</text>\n", ML, py, W - MR, py, ML - 6, py + 4, buf);
  }
  if (ax) {
    for (double x = ax->lo; x <= ax->hi + ax->step * 1e-6; x += ax->step) {
      double px = map(x, ax, ML, W - MR);
      tick_label(buf, sizeof buf, x, ax);
      rp_printf(t, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"grid\"/>"
                "<text x=\"%.1f\" y=\"%d\" class=\"tx\">%s</text>\n", px, MT, px, H - MB, px, H - MB + 15, buf);
    }
  }
  rp_printf(t, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" class=\"box\"/>\n", ML, MT,
            W - ML - MR, H - MT - MB);
  rp_printf(t, "<text x=\"%d\" y=\"%d\" class=\"xl\">", (ML + W - MR) / 2, H - 8);
  rp_escape(t, xlabel);
  rp_printf(t, "</text><text transform=\"translate(14 %d) rotate(-90)\" class=\"yl\">", (MT + H - MB) / 2);
  rp_escape(t, ylabel);
  rp_printf(t, "</text>\n");
}

static void legend(rp_text *t, const char *const *names, const int *colors, const int *dashed,
                   const int *faint, int n) {
  rp_printf(t, "<div class=\"legend\">");
  for (int i = 0; i < n; i++) {
    rp_printf(t, "<span><svg width=\"26\" height=\"10\"><line x1=\"1\" y1=\"5\" x2=\"25\" y2=\"5\" "
              "stroke=\"%s\" stroke-width=\"%s\"%s%s/></svg>", rp_color(colors[i]),
              dashed && dashed[i] ? "2" : "2.5", dashed && dashed[i] ? " stroke-dasharray=\"5 3\"" : "",
              faint && faint[i] ? " stroke-opacity=\"0.35\"" : "");
    rp_escape(t, names[i]);
    rp_printf(t, "</span>");
  }
  rp_printf(t, "</div>\n");
}

void rp_draw_lines(rp_text *t, const char *title, const char *xlabel, const char *ylabel,
                    const rp_line *lines, int n_lines) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (int l = 0; l < n_lines; l++)
    for (int64_t i = 0; i < lines[l].n; i++) {
      if (!isfinite(lines[l].y[i])) continue;
      x0 = fmin(x0, lines[l].x[i]), x1 = fmax(x1, lines[l].x[i]);
      y0 = fmin(y0, lines[l].y[i]), y1 = fmax(y1, lines[l].y[i]);
    }
  if (!isfinite(x0)) return;
  axis ax = axis_make(x0, x1, 0, 1), ay = axis_make(y0, y1, 0, 0);
  rp_printf(t, "<figure class=\"chart\"><figcaption>");
  rp_escape(t, title);
  rp_printf(t, "</figcaption>\n");
  frame(t, &ax, &ay, xlabel, ylabel);
  for (int l = 0; l < n_lines; l++) {
    const rp_line *ln = &lines[l];
    /* at most about 1,500 vertices per line: every k-th point */
    int64_t k = ln->n > 1500 ? (ln->n + 1499) / 1500 : 1;
    rp_printf(t, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s%s points=\"",
              rp_color(ln->color), ln->dashed ? "1.8" : ln->faint ? "1" : "1.6",
              ln->dashed ? " stroke-dasharray=\"5 3\"" : "", ln->faint ? " stroke-opacity=\"0.35\"" : "");
    for (int64_t i = 0; i < ln->n; i++) {
      if (!isfinite(ln->y[i]) || (i % k && i != ln->n - 1)) continue;
      rp_printf(t, "%.1f,%.1f ", map(ln->x[i], &ax, ML, W - MR), map(ln->y[i], &ay, H - MB, MT));
    }
    rp_printf(t, "\"/>\n");
    if (ln->markers)
      for (int64_t i = 0; i < ln->n; i++)
        if (isfinite(ln->y[i]))
          rp_printf(t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", map(ln->x[i], &ax, ML, W - MR),
                    map(ln->y[i], &ay, H - MB, MT), rp_color(ln->color));
  }
  rp_printf(t, "</svg>\n");
  const char **names = ordo_malloc((size_t)n_lines * sizeof *names + 1);
  int *colors = ordo_malloc((size_t)n_lines * sizeof *colors + 1);
  int *dashed = ordo_malloc((size_t)n_lines * sizeof *dashed + 1), *faint = ordo_malloc((size_t)n_lines * sizeof *faint + 1);
  for (int l = 0; l < n_lines; l++)
    names[l] = lines[l].label, colors[l] = lines[l].color, dashed[l] = lines[l].dashed, faint[l] = lines[l].faint;
  legend(t, names, colors, dashed, faint, n_lines);
  free(names), free(colors), free(dashed), free(faint);
  rp_printf(t, "</figure>\n");
}

void rp_draw_bars(rp_text *t, const char *title, const char *xlabel, const char *ylabel,
                   const char *const *group_names, int n_groups, const char *const *series_names,
                   const int *colors, int n_series, const double *values) {
  double y0 = 0, y1 = -INFINITY;
  for (int i = 0; i < n_groups * n_series; i++)
    if (isfinite(values[i])) y0 = fmin(y0, values[i]), y1 = fmax(y1, values[i]);
  if (!isfinite(y1)) return;
  axis ay = axis_make(y0, fmax(y1, 0), 1, 0);
  rp_printf(t, "<figure class=\"chart\"><figcaption>");
  rp_escape(t, title);
  rp_printf(t, "</figcaption>\n");
  frame(t, NULL, &ay, xlabel, ylabel);
  double gw = (double)(W - ML - MR) / n_groups, bw = gw * 0.8 / n_series, zero = map(0, &ay, H - MB, MT);
  for (int g = 0; g < n_groups; g++) {
    rp_printf(t, "<text x=\"%.1f\" y=\"%d\" class=\"tx\">", ML + gw * (g + 0.5), H - MB + 15);
    rp_escape(t, group_names[g]);
    rp_printf(t, "</text>\n");
    for (int s = 0; s < n_series; s++) {
      double v = values[s * n_groups + g];
      if (!isfinite(v)) continue;
      double py = map(v, &ay, H - MB, MT), x = ML + gw * g + gw * 0.1 + bw * s;
      rp_printf(t, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                "<title>%.4f</title></rect>\n", x, fmin(py, zero), bw * 0.92, fabs(zero - py),
                rp_color(colors[s]), v);
    }
  }
  rp_printf(t, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#444\"/>\n", ML, zero, W - MR, zero);
  rp_printf(t, "</svg>\n");
  legend(t, series_names, colors, NULL, NULL, n_series);
  rp_printf(t, "</figure>\n");
}
