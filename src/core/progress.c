/* Progress on stderr (progress.h). */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ordo/core.h"
#include "ordo/progress.h"

void progress_init(ordo_progress *p, const char *label, int64_t total) {
  p->label = label;
  p->unit = "steps";
  p->total = total;
  p->done = p->start = 0;
  p->t0 = ordo_time();
  p->last_draw = p->t0;
  p->tty = isatty(2);
  p->line_every = total >= 20 ? total / 20 : 1;
  p->line_secs = 30;
  p->drawn = 0;
  p->printed = -1;
  p->silent = 0;
}

static void fmt_time(char *buf, size_t n, double s) {
  if (s < 0 || s > 1e7) {
    snprintf(buf, n, "--:--");
    return;
  }
  int t = (int)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

/* a rate with 3 significant digits: 0.123, 12.3, 1234 */
static void fmt_rate(char *buf, size_t n, double r) {
  if (r >= 100) snprintf(buf, n, "%.0f", r);
  else if (r >= 10) snprintf(buf, n, "%.1f", r);
  else snprintf(buf, n, "%.2g", r);
}

static void draw(ordo_progress *p, const char *tail, int final) {
  double now = ordo_time(), el = now - p->t0;
  double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
  double rate = el > 0 ? (double)(p->done - p->start) / el : 0;
  char eta[32], ela[32], rt[32];
  fmt_time(eta, sizeof eta, final ? 0 : rate > 0 ? (double)(p->total - p->done) / rate : -1);
  fmt_time(ela, sizeof ela, el);
  fmt_rate(rt, sizeof rt, rate);
  if (p->tty) {
    char bar[21], line[512];
    int fill = (int)(frac * 20);
    for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
    bar[20] = 0;
    snprintf(line, sizeof line, "%s [%s] %lld/%lld %s elapsed, %s left, %s %s/s %s", p->label, bar,
             (long long)p->done, (long long)p->total, ela, eta, rt, p->unit, tail ? tail : "");
    /* one terminal row: a line that wraps cannot be redrawn in place */
    struct winsize ws;
    int cols = ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
    if ((int)strlen(line) > cols - 1) line[cols > 1 ? cols - 1 : 0] = 0;
    fprintf(stderr, "\r%s\033[K", line);
    p->drawn = !final;
    if (final) fputc('\n', stderr);
  } else {
    fprintf(stderr, "%s %lld/%lld (%.0f%%) %s elapsed, %s left, %s %s/s %s\n", p->label,
            (long long)p->done, (long long)p->total, 100 * frac, ela, eta, rt, p->unit,
            tail ? tail : "");
    p->printed = p->done;
  }
  p->last_draw = now;
  fflush(stderr);
}

void progress_update(ordo_progress *p, int64_t done, const char *tail) {
  int64_t prev = p->done;
  p->done = done;
  if (p->silent) return;
  double now = ordo_time();
  if (p->tty) {
    if (now - p->last_draw >= 0.1) draw(p, tail, 0);
  } else if (done / p->line_every != prev / p->line_every || now - p->last_draw >= p->line_secs) {
    draw(p, tail, 0);
  }
}

void progress_clear(ordo_progress *p) {
  if (!p->silent && p->tty && p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->drawn = 0;
  }
}

void progress_finish(ordo_progress *p, const char *tail) {
  p->done = p->total;
  if (p->silent) return;
  if (!p->tty && p->printed == p->total) return; /* the last line said it already */
  draw(p, tail, 1);
}
