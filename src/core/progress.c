/* Progress bar on stderr. */
#include <stdio.h>
#include <unistd.h>

#include "ordo/core.h"
#include "ordo/progress.h"

void progress_init(ordo_progress *p, const char *label, int64_t total) {
  p->label = label;
  p->total = total;
  p->done = 0;
  p->t0 = ordo_time();
  p->last_draw = 0;
  p->tty = isatty(2);
  p->line_every = total >= 20 ? total / 20 : 1;
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

static void draw(ordo_progress *p, const char *tail, int final) {
  double el = ordo_time() - p->t0;
  double frac = p->total > 0 ? (double)p->done / (double)p->total : 0;
  char eta[32], ela[32];
  fmt_time(eta, sizeof eta, p->done > 0 ? el / frac - el : -1);
  fmt_time(ela, sizeof ela, el);
  if (p->tty) {
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%s [%s] %lld/%lld %s<%s %s\033[K", p->label, bar, (long long)p->done,
            (long long)p->total, ela, eta, tail ? tail : "");
    if (final) fputc('\n', stderr);
  } else {
    fprintf(stderr, "%s %lld/%lld %s<%s %s\n", p->label, (long long)p->done, (long long)p->total,
            ela, eta, tail ? tail : "");
  }
  fflush(stderr);
}

void progress_update(ordo_progress *p, int64_t done, const char *tail) {
  int64_t prev = p->done;
  p->done = done;
  if (p->tty) {
    double now = ordo_time();
    if (now - p->last_draw < 0.1) return;
    p->last_draw = now;
    draw(p, tail, 0);
  } else if (done / p->line_every != prev / p->line_every) {
    draw(p, tail, 0);
  }
}

void progress_finish(ordo_progress *p, const char *tail) {
  p->done = p->total;
  draw(p, tail, 1);
}
