/* The report of a tiny run written through core/metrics: every chart and the notebook view on
 * the page; then the same run with a torn metrics.jsonl and a half-written event file: a page of
 * what is readable, the skipped parts named; a directory with nothing readable is an error. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ordo/metrics.h"
#include "ordo/report.h"

static void write_run(const char *dir) {
  ordo_metrics m;
  ordo_err e;
  EXPECT(metrics_open(&m, dir, &e) == 0, "%s", e.msg);
  EXPECT(metrics_stage_begin(&m, "dual", 0, NULL, NULL, 0, &e) == 0, "%s", e.msg);
  for (int s = 1; s <= 20; s++) {
    metrics_record_begin(&m, s);
    metrics_record_add(&m, "loss", 3.0 - 0.125 * s); /* exact in binary */
    metrics_record_add(&m, "lr", 1e-3 * (20 - s) / 20);
    metrics_record_add(&m, "grad_norm", 0.5 + 0.01 * s);
    metrics_record_add(&m, "loss_scale", 1);
    metrics_record_add(&m, "tokens_per_s", 40000 + 100 * s);
    metrics_record_add(&m, "mem_mb", 120);
    metrics_record_add(&m, "epoch", 1 + (s - 1) / 10);
    EXPECT(metrics_record_end(&m, &e) == 0, "%s", e.msg);
    if (s % 10 == 0) {
      metrics_record_begin(&m, s);
      metrics_record_add(&m, "epoch", s / 10);
      metrics_record_add(&m, "val_tau", 0.5 + 0.01 * s);
      metrics_record_add(&m, "val_loss", 2.5 - 0.05 * s);
      metrics_record_add(&m, "val_tau_cells_1_10", 0.7);
      metrics_record_add(&m, "val_tau_cells_11_20", 0.6);
      EXPECT(metrics_record_end(&m, &e) == 0, "%s", e.msg);
    }
  }
  metrics_close(&m);
  char path[4300];
  snprintf(path, sizeof path, "%s/heldout.jsonl", dir);
  FILE *f = fopen(path, "w");
  /* cells 0, 1 code, 2, 3 markdown; true order 2 0 3 1; predicted 0 2 1 3 */
  fprintf(f, "{\"id\":\"nb_a\",\"tau\":0.333,\"types\":\"ccmm\",\"true\":[2,0,3,1],"
             "\"pred\":[0,2,1,3],\"text\":[\"import os\",\"x = 1\",\"# Title <b>\",\"Then x\"]}\n");
  fprintf(f, "{\"id\":\"nb_b\",\"tau\":1,\"types\":\"cmcm\",\"true\":[1,0,3,2],"
             "\"pred\":[1,0,3,2],\"text\":[\"a\",\"b\",\"c\",\"d\"]}\n");
  fclose(f);
}

static char *report_of(const char *dir, const char *out, rp_run *keep) {
  rp_run r;
  ordo_err e;
  if (report_run_load(&r, dir, &e) != 0) return NULL;
  EXPECT(report_write_html(&r, 1, out, &e) == 0, "%s", e.msg);
  if (keep) *keep = r;
  else report_run_free(&r);
  return ordo_read_file(out, NULL, &e);
}

static int count(const char *s, const char *what) {
  int n = 0;
  for (const char *p = s; p && (p = strstr(p, what)); p += strlen(what)) n++;
  return n;
}

int main(void) {
  char dir[] = "/tmp/ordo-test-report-XXXXXX";
  EXPECT(mkdtemp(dir) != NULL, "mkdtemp");
  char run[4200], out[4300], path[4400];
  snprintf(run, sizeof run, "%s/run", dir);
  snprintf(out, sizeof out, "%s/r.html", dir);
  write_run(run);

  rp_run r;
  char *html = report_of(run, out, &r);
  EXPECT(html != NULL, "no report");
  const rp_series *loss = report_find_series(&r, "dual", "loss");
  EXPECT(loss && loss->n == 20 && loss->step[19] == 20 && loss->val[19] == 0.5,
         "loss series: %lld points, last %g", loss ? (long long)loss->n : -1LL,
         loss && loss->n ? loss->val[loss->n - 1] : 0.0);
  EXPECT(!r.skipped, "nothing skipped");
  report_run_free(&r);
  if (html) {
    const char *titles[] = {">Loss<", ">Learning rate<", ">Gradient norm (before clipping)<",
                            ">Loss scale (fp16; 1 = no scaling)<", ">Throughput<", ">Memory<",
                            ">Kendall tau per epoch<", ">Kendall tau by notebook length<"};
    for (size_t i = 0; i < sizeof titles / sizeof *titles; i++)
      EXPECT(strstr(html, titles[i]), "chart %s missing", titles[i]);
    EXPECT(count(html, "<svg viewBox") == 8, "%d charts", count(html, "<svg viewBox"));
    EXPECT(strstr(html, "optimizer step") && strstr(html, "tokens / second") &&
               strstr(html, "notebook length (cells)"), "axis labels");
    EXPECT(strstr(html, "held-out, end of each epoch"), "validation legend");
    /* the notebook view: markdown 2 belongs at 1, predicted at 2 (1 too late); 3 belongs at 3,
     * predicted at 4 (1 too late); the text escaped */
    EXPECT(count(html, "1 too late") == 2, "%d displacements", count(html, "1 too late"));
    EXPECT(strstr(html, "# Title &lt;b&gt;") && !strstr(html, "<b>\""), "escaping");
    EXPECT(strstr(html, "nb_a") && strstr(html, "nb_b"), "worst and best notebooks");
    EXPECT(strstr(html, "0.7000 (epoch 2)"), "best tau in the summary");
    EXPECT(!strstr(html, "could not be read whole"), "no warning on a whole run");
    EXPECT(!strstr(html, "<script"), "no scripts");
  }
  free(html);

  /* torn: the JSON lines cut inside line 12; the event file cut inside a record */
  snprintf(path, sizeof path, "%s/metrics.jsonl", run);
  char *txt = ordo_read_file(path, NULL, NULL);
  char *p = txt;
  for (int i = 0; i < 11 && p; i++) p = strchr(p, '\n') + 1;
  EXPECT(truncate(path, (off_t)(p - txt) + 30) == 0, "truncate jsonl");
  free(txt);
  snprintf(path, sizeof path, "%s/tb/dual/events.out.tfevents.ordo", run);
  long size = 0;
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END), size = ftell(f), fclose(f);
  EXPECT(truncate(path, size - 100) == 0, "truncate events");
  html = report_of(run, out, &r);
  EXPECT(html != NULL, "no report of a damaged run");
  loss = report_find_series(&r, "dual", "loss");
  /* 11 whole lines hold steps 1..10 and the first validation; the event file, torn inside its
   * last record (the second validation), gives back steps 11..20 */
  EXPECT(loss && loss->n == 20, "loss points %lld", loss ? (long long)loss->n : -1LL);
  const rp_series *tau = report_find_series(&r, "dual", "val_tau");
  EXPECT(tau && tau->n == 1 && tau->step[0] == 10, "val_tau points %lld", tau ? (long long)tau->n : -1LL);
  EXPECT(r.skipped, "skipped");
  report_run_free(&r);
  if (html) {
    EXPECT(strstr(html, "could not be read whole"), "warning");
    EXPECT(strstr(html, "metrics.jsonl: 11 records read; 1 line is not complete (first: line 12"),
           "torn jsonl named");
    EXPECT(strstr(html, "events.out.tfevents.ordo: ") && strstr(html, "record torn at byte"),
           "torn events named");
    EXPECT(strstr(html, "scalars that metrics.jsonl lacks were taken from it"), "merged");
    EXPECT(count(html, "<svg viewBox") == 8, "%d charts", count(html, "<svg viewBox"));
  }
  free(html);

  /* nothing readable: an error naming the directory */
  snprintf(path, sizeof path, "%s/empty", dir);
  EXPECT(mkdir(path, 0755) == 0, "mkdir");
  ordo_err e;
  EXPECT(report_run_load(&r, path, &e) == -1 && strstr(e.msg, path), "empty: %s", e.msg);
  EXPECT(report_run_load(&r, "/nonexistent/run", &e) == -1 && strstr(e.msg, "/nonexistent/run"),
         "missing: %s", e.msg);

  char cmd[4300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_summary();
}
