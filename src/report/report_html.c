/* The report page: sources, a summary table, each stage's training curves, the held-out Kendall
 * tau per epoch and per notebook length, and a few held-out notebooks (report.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/report.h"
#include "report/report_internal.h"

static const char *const k_css =
    "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1400px}"
    "h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 4px;border-bottom:1px solid #ccc}"
    "p.note{color:#555;margin:4px 0 10px;font-size:13px}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:16px}"
    "figure.chart{margin:0;border:1px solid #ddd;border-radius:4px;padding:8px 8px 4px}"
    "figcaption{font-weight:bold;font-size:14px;margin-bottom:2px}"
    "svg text{font-family:'DejaVu Sans',Arial,sans-serif;fill:#333}"
    ".ty{text-anchor:end;font-size:11px}.tx{text-anchor:middle;font-size:11px}"
    ".xl,.yl{text-anchor:middle;font-size:12px}.grid{stroke:#e6e6e6}.box{fill:none;stroke:#999}"
    ".legend{font-size:12px;display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:2px}"
    ".legend span{display:inline-flex;align-items:center;gap:4px}"
    "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}"
    "th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".warn{background:#fff4e0;border:1px solid #e0a030;padding:8px 12px;border-radius:4px}"
    ".sources li{font-size:13px;font-family:monospace}"
    ".nbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(640px,1fr));gap:18px}"
    "table.nb td{font-family:monospace;font-size:12px;max-width:300px;overflow:hidden;"
    "white-space:nowrap;text-overflow:ellipsis}"
    "table.nb td.pos{color:#777;text-align:right}"
    ".k{display:inline-block;width:34px;font-size:10px;text-align:center;border-radius:3px;"
    "margin-right:6px;color:#fff}.k.code{background:#8a8a8a}.k.md{background:#0072b2}"
    "td.moved{background:#fde0dc}td.okmd{background:#e3f4e8}"
    ".d{float:right;font-weight:bold;color:#b0281a;margin-left:8px}\n";

/* Stage names as the training commands write them, and what they are. */
static const char *stage_title(const char *stage) {
  static const char *const k[][2] = {
      {"train", "masked-LM pretraining (ordo train)"},
      {"dual", "dual encoder: each markdown cell scored against the code around every slot"},
      {"pointwise", "pointwise encoder: each markdown cell's relative position"},
      {"slot_lex", "slot model on lexical features only"},
      {"slot", "slot model with the encoders' evidence"}};
  for (size_t i = 0; i < sizeof k / sizeof *k; i++)
    if (strcmp(stage, k[i][0]) == 0) return k[i][1];
  return "";
}

/* The loss each stage minimises, for the axis label. */
static const char *loss_label(const char *stage) {
  if (strcmp(stage, "pointwise") == 0) return "loss (mean squared error)";
  return "loss (cross-entropy, nats)";
}

static const char *const k_bucket_metric[] = {"val_tau_cells_1_10", "val_tau_cells_11_20",
                                              "val_tau_cells_21_40", "val_tau_cells_41_80",
                                              "val_tau_cells_81_up"};
static const char *const k_bucket_label[] = {"1-10", "11-20", "21-40", "41-80", "81+"};
enum { N_BUCKETS = 5 };

/* The stages of all runs, in order of first appearance. */
static int list_stages(const rp_run *runs, int n_runs, char stages[][48], int max) {
  int n = 0;
  for (int r = 0; r < n_runs; r++)
    for (int i = 0; i < runs[r].n_series; i++) {
      int have = 0;
      for (int k = 0; k < n && !have; k++) have = strcmp(stages[k], runs[r].s[i].stage) == 0;
      if (!have && n < max) snprintf(stages[n++], 48, "%s", runs[r].s[i].stage);
    }
  return n;
}

static int finite_points(const rp_series *s) {
  if (!s) return 0;
  for (int64_t i = 0; i < s->n; i++)
    if (isfinite(s->val[i])) return 1;
  return 0;
}

/* x values (steps) of a series as doubles, owned by the caller */
static double *steps_of(const rp_series *s) {
  double *x = ordo_malloc((size_t)s->n * sizeof *x + 1);
  for (int64_t i = 0; i < s->n; i++) x[i] = (double)s->step[i];
  return x;
}

/* The mean of the finite values in a window of w points centred on each point (NAN where none). */
static double *moving_average(const double *v, int64_t n, int64_t w) {
  double *out = ordo_malloc((size_t)n * sizeof *out + 1);
  for (int64_t i = 0; i < n; i++) {
    double s = 0;
    int64_t c = 0;
    for (int64_t j = i - w / 2; j <= i + w / 2; j++)
      if (j >= 0 && j < n && isfinite(v[j])) s += v[j], c++;
    out[i] = c ? s / (double)c : NAN;
  }
  return out;
}

/* One chart of metric `name` (and, when val_name is given, its held-out counterpart) of a stage
 * over the runs. A long, noisy training curve is drawn pale with its moving average over it. */
static void stage_chart(rp_text *t, const rp_run *runs, int n_runs, const char *stage,
                        const char *name, const char *val_name, const char *title,
                        const char *ylabel) {
  rp_line lines[48];
  double *xs[48], *smooth[48];
  char labels[48][320];
  int n = 0, n_smooth = 0;
  for (int r = 0; r < n_runs && n + 3 <= 48; r++) {
    const char *nm[2] = {name, val_name};
    for (int v = 0; v < 2; v++) {
      const rp_series *s = nm[v] ? report_find_series(&runs[r], stage, nm[v]) : NULL;
      if (!finite_points(s)) continue;
      xs[n] = steps_of(s);
      /* the run's name, and with a held-out counterpart which curve is which */
      const char *kind = v ? "held-out, end of each epoch" : val_name ? "training" : "";
      if (n_runs > 1 || !*kind)
        snprintf(labels[n], sizeof labels[n], "%s%s%s", runs[r].label, *kind ? ": " : "", kind);
      else
        snprintf(labels[n], sizeof labels[n], "%s", kind);
      lines[n] = (rp_line){.label = labels[n], .x = xs[n], .y = s->val, .n = s->n, .color = r,
                           .dashed = v, .markers = v || s->n <= 30};
      n++;
      if (!v && s->n > 60 && strcmp(name, "lr") != 0 && strcmp(name, "loss_scale") != 0 &&
          strcmp(name, "mem_mb") != 0) {
        int64_t w = s->n / 30 < 200 ? s->n / 30 : 200;
        w |= 1; /* odd: centred */
        lines[n - 1].faint = 1;
        char base[320];
        memcpy(base, labels[n - 1], sizeof base);
        snprintf(labels[n], sizeof labels[n], "%.280s, mean of %lld steps", base, (long long)w);
        snprintf(labels[n - 1], sizeof labels[n - 1], "%.280s, each step", base);
        smooth[n_smooth] = moving_average(s->val, s->n, w);
        lines[n] = (rp_line){.label = labels[n], .x = xs[n - 1], .y = smooth[n_smooth++], .n = s->n,
                             .color = r};
        xs[n] = NULL;
        n++;
      }
    }
  }
  if (n > 0) rp_draw_lines(t, title, "optimizer step", ylabel, lines, n);
  for (int i = 0; i < n; i++) free(xs[i]);
  for (int i = 0; i < n_smooth; i++) free(smooth[i]);
}

static void stage_section(rp_text *t, const rp_run *runs, int n_runs, const char *stage) {
  rp_printf(t, "<h2>Stage <code>");
  rp_escape(t, stage);
  rp_printf(t, "</code>: ");
  rp_escape(t, stage_title(stage));
  rp_printf(t, "</h2>\n<div class=\"charts\">\n");
  stage_chart(t, runs, n_runs, stage, "loss", "val_loss", "Loss", loss_label(stage));
  stage_chart(t, runs, n_runs, stage, "lr", NULL, "Learning rate", "learning rate");
  stage_chart(t, runs, n_runs, stage, "grad_norm", NULL, "Gradient norm (before clipping)",
              "global L2 norm");
  stage_chart(t, runs, n_runs, stage, "loss_scale", NULL, "Loss scale (fp16; 1 = no scaling)",
              "loss scale");
  stage_chart(t, runs, n_runs, stage, "tokens_per_s", NULL, "Throughput", "tokens / second");
  stage_chart(t, runs, n_runs, stage, "notebooks_per_s", NULL, "Throughput", "notebooks / second");
  stage_chart(t, runs, n_runs, stage, "mem_mb", NULL, "Memory", "resident memory (MB)");
  rp_printf(t, "</div>\n");
}

/* The value of s at step, NAN when it has none. */
static double value_at(const rp_series *s, int64_t step) {
  for (int64_t i = 0; s && i < s->n; i++)
    if (s->step[i] == step) return s->val[i];
  return NAN;
}

/* Index of the best held-out tau of a stage, -1 when none. */
static int64_t best_val(const rp_series *tau) {
  int64_t b = -1;
  for (int64_t i = 0; tau && i < tau->n; i++)
    if (isfinite(tau->val[i]) && (b < 0 || tau->val[i] > tau->val[b])) b = i;
  return b;
}

static void summary_table(rp_text *t, const rp_run *runs, int n_runs, char stages[][48], int n_st) {
  int any_tau = 0; /* the tau column only for runs that validate */
  for (int r = 0; r < n_runs; r++)
    for (int k = 0; k < n_st; k++) any_tau |= report_find_series(&runs[r], stages[k], "val_tau") != NULL;
  rp_printf(t, "<h2>Summary</h2>\n<table><tr><th>run</th><th>stage</th><th>steps</th>"
            "<th>training loss, first &rarr; last</th>%s</tr>\n",
            any_tau ? "<th>best held-out Kendall tau</th>" : "");
  for (int r = 0; r < n_runs; r++)
    for (int k = 0; k < n_st; k++) {
      const rp_series *loss = report_find_series(&runs[r], stages[k], "loss");
      const rp_series *tau = report_find_series(&runs[r], stages[k], "val_tau");
      if (!loss && !tau) continue;
      rp_printf(t, "<tr><td>");
      rp_escape(t, runs[r].label);
      rp_printf(t, "</td><td>");
      rp_escape(t, stages[k]);
      rp_printf(t, "</td><td class=\"num\">%lld</td><td class=\"num\">",
                loss && loss->n ? (long long)loss->step[loss->n - 1] : 0LL);
      if (loss && loss->n) rp_printf(t, "%.4f &rarr; %.4f", loss->val[0], loss->val[loss->n - 1]);
      rp_printf(t, "</td>");
      if (!any_tau) {
        rp_printf(t, "</tr>\n");
        continue;
      }
      rp_printf(t, "<td class=\"num\">");
      int64_t b = best_val(tau);
      if (b >= 0) {
        double ep = value_at(report_find_series(&runs[r], stages[k], "epoch"), tau->step[b]);
        rp_printf(t, "%.4f", tau->val[b]);
        if (isfinite(ep)) rp_printf(t, " (epoch %.0f)", ep);
      } else {
        rp_printf(t, "&ndash;");
      }
      rp_printf(t, "</td></tr>\n");
    }
  rp_printf(t, "</table>\n");
}

static void tau_section(rp_text *t, const rp_run *runs, int n_runs, char stages[][48], int n_st) {
  rp_line lines[32];
  double *xs[32];
  char labels[32][320];
  const char *bar_names[32];
  int colors[32];
  double bars[32 * N_BUCKETS];
  int n = 0;
  for (int r = 0; r < n_runs; r++)
    for (int k = 0; k < n_st && n < 32; k++) {
      const rp_series *tau = report_find_series(&runs[r], stages[k], "val_tau");
      const rp_series *ep = report_find_series(&runs[r], stages[k], "epoch");
      if (!finite_points(tau)) continue;
      xs[n] = ordo_malloc((size_t)tau->n * sizeof *xs[n]);
      for (int64_t i = 0; i < tau->n; i++) {
        double e = value_at(ep, tau->step[i]);
        xs[n][i] = isfinite(e) ? e : (double)(i + 1);
      }
      if (n_runs > 1) snprintf(labels[n], sizeof labels[n], "%s: %s", runs[r].label, stages[k]);
      else snprintf(labels[n], sizeof labels[n], "%s", stages[k]);
      lines[n] = (rp_line){.label = labels[n], .x = xs[n], .y = tau->val, .n = tau->n,
                           .color = n, .markers = 1};
      bar_names[n] = labels[n];
      colors[n] = n;
      int64_t b = best_val(tau);
      for (int g = 0; g < N_BUCKETS; g++)
        bars[n * N_BUCKETS + g] = value_at(report_find_series(&runs[r], stages[k], k_bucket_metric[g]),
                                           tau->step[b]);
      n++;
    }
  if (n == 0) return;
  rp_printf(t, "<h2>Held-out Kendall tau</h2>\n<p class=\"note\">Measured on the held-out notebooks "
            "at the end of each epoch (the competition's tau: 1 = every cell in place). By length: "
            "each stage at its best epoch, the held-out notebooks grouped by their number of "
            "cells.</p>\n<div class=\"charts\">\n");
  rp_draw_lines(t, "Kendall tau per epoch", "epoch", "Kendall tau", lines, n);
  rp_draw_bars(t, "Kendall tau by notebook length", "notebook length (cells)", "Kendall tau",
                k_bucket_label, N_BUCKETS, bar_names, colors, n, bars);
  rp_printf(t, "</div>\n");
  for (int i = 0; i < n; i++) free(xs[i]);
}

/* One held-out notebook: the true order beside the predicted one; each markdown cell of the
 * prediction marked in place or by how many positions it is off. */
static void notebook_view(rp_text *t, const rp_notebook *nb, const char *why) {
  int32_t *tpos = ordo_malloc((size_t)nb->n * sizeof *tpos), n_md = 0, moved = 0;
  for (int32_t i = 0; i < nb->n; i++) tpos[nb->truth[i]] = i;
  for (int32_t i = 0; i < nb->n; i++)
    if (nb->types[nb->pred[i]] == 'm') n_md++, moved += tpos[nb->pred[i]] != i;
  rp_printf(t, "<div><h3 style=\"font-size:14px;margin:6px 0\">");
  rp_escape(t, why);
  rp_printf(t, ": notebook <code>");
  rp_escape(t, nb->id);
  rp_printf(t, "</code> &mdash; %d cells, %d markdown, %d of them misplaced, Kendall tau %.3f</h3>\n",
            nb->n, n_md, moved, nb->tau);
  rp_printf(t, "<table class=\"nb\"><tr><th>#</th><th>true order</th><th>predicted order</th></tr>\n");
  for (int32_t i = 0; i < nb->n; i++) {
    int32_t a = nb->truth[i], b = nb->pred[i];
    rp_printf(t, "<tr><td class=\"pos\">%d</td><td><span class=\"k %s\">%s</span>", i + 1,
              nb->types[a] == 'm' ? "md" : "code", nb->types[a] == 'm' ? "md" : "code");
    rp_escape(t, nb->text[a]);
    int d = tpos[b] - i; /* > 0: predicted earlier than its place */
    const char *cls = nb->types[b] != 'm' ? "" : d ? "moved" : "okmd";
    rp_printf(t, "</td><td class=\"%s\"><span class=\"k %s\">%s</span>", cls,
              nb->types[b] == 'm' ? "md" : "code", nb->types[b] == 'm' ? "md" : "code");
    if (nb->types[b] == 'm' && d)
      rp_printf(t, "<span class=\"d\">%d too %s</span>", abs(d), d > 0 ? "early" : "late");
    rp_escape(t, nb->text[b]);
    rp_printf(t, "</td></tr>\n");
  }
  rp_printf(t, "</table></div>\n");
  free(tpos);
}

static int md_count(const rp_notebook *nb) {
  int c = 0;
  for (int32_t i = 0; i < nb->n; i++) c += nb->types[i] == 'm';
  return c;
}

static int cmp_tau(const void *a, const void *b) {
  const rp_notebook *x = *(const rp_notebook *const *)a, *y = *(const rp_notebook *const *)b;
  return (x->tau > y->tau) - (x->tau < y->tau);
}

static void notebooks_section(rp_text *t, const rp_run *run) {
  if (run->n_nbs == 0) return;
  /* readable sizes first (6 to 40 cells, 2 markdown or more), else any */
  const rp_notebook **c = ordo_malloc((size_t)run->n_nbs * sizeof *c);
  int n = 0;
  for (int pass = 0; pass < 2 && n == 0; pass++)
    for (int i = 0; i < run->n_nbs; i++)
      if (pass || (run->nbs[i].n >= 6 && run->nbs[i].n <= 40 && md_count(&run->nbs[i]) >= 2))
        c[n++] = &run->nbs[i];
  qsort(c, (size_t)n, sizeof *c, cmp_tau);
  rp_printf(t, "<h2>Held-out notebooks of <code>");
  rp_escape(t, run->label);
  rp_printf(t, "</code></h2>\n<p class=\"note\">The kept model's predictions on %d held-out notebooks "
            "(heldout.jsonl); shown: the worst, the median and the best of those with 6 to 40 cells and "
            "2 markdown cells or more. "
            "Each row is a position: on the left the cell that belongs there, on the right the cell "
            "the model put there. Predicted markdown cells are <span style=\"background:#e3f4e8\">"
            "green in their true place</span> or <span style=\"background:#fde0dc\">red when "
            "misplaced</span>, with how many positions too early or too late. Each cell shows its "
            "first line.</p>\n<div class=\"nbs\">\n", run->n_nbs);
  int pick[3] = {0, n / 2, n - 1};
  const char *why[3] = {"Worst", "Median", "Best"};
  for (int k = 0; k < 3; k++)
    if (k == 0 || pick[k] != pick[k - 1]) notebook_view(t, c[pick[k]], why[k]);
  rp_printf(t, "</div>\n");
  free(c);
}

static void sources_section(rp_text *t, const rp_run *runs, int n_runs) {
  int skipped = 0;
  for (int r = 0; r < n_runs; r++) skipped |= runs[r].skipped;
  if (skipped)
    rp_printf(t, "<div class=\"warn\"><b>Some files could not be read whole.</b> The report shows "
              "what was readable; what was skipped is listed here.<ul class=\"sources\">\n");
  else
    rp_printf(t, "<details><summary>Files read</summary><ul class=\"sources\">\n");
  for (int r = 0; r < n_runs; r++)
    for (int i = 0; i < runs[r].n_notes; i++) {
      rp_printf(t, "<li>");
      rp_escape(t, runs[r].notes[i]);
      rp_printf(t, "</li>\n");
    }
  rp_printf(t, skipped ? "</ul></div>\n" : "</ul></details>\n");
}

int report_write_html(const rp_run *runs, int n_runs, const char *path, ordo_err *e) {
  rp_text t = {0};
  rp_printf(&t, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>ordo report: ");
  rp_escape(&t, runs[0].label);
  rp_printf(&t, "</title>\n<style>%s</style></head><body>\n<h1>Training report: ", k_css);
  rp_escape(&t, runs[0].label);
  for (int r = 1; r < n_runs; r++) {
    rp_printf(&t, r == 1 ? " compared with " : ", ");
    rp_escape(&t, runs[r].label);
  }
  rp_printf(&t, "</h1>\n<p class=\"note\">");
  for (int r = 0; r < n_runs; r++) {
    rp_printf(&t, "%s<span style=\"color:%s\">&#9632;</span> ", r ? "&nbsp; " : "", rp_color(r));
    rp_escape(&t, runs[r].label);
    rp_printf(&t, ": <code>");
    rp_escape(&t, runs[r].dir);
    rp_printf(&t, "</code>");
  }
  rp_printf(&t, "</p>\n");
  sources_section(&t, runs, n_runs);
  char stages[16][48];
  int n_st = list_stages(runs, n_runs, stages, 16);
  summary_table(&t, runs, n_runs, stages, n_st);
  tau_section(&t, runs, n_runs, stages, n_st);
  for (int k = 0; k < n_st; k++) stage_section(&t, runs, n_runs, stages[k]);
  notebooks_section(&t, &runs[0]);
  rp_printf(&t, "</body></html>\n");
  int rc = ordo_write_file_atomic(path, t.p, t.n, e);
  free(t.p);
  return rc;
}
