/* Decoding over all cells (ranker.h, rk_decode_joint): each markdown's slot distribution gives
 * the probability that it truly sits before any code cell, and, with the within-slot evidence of
 * rk_md_order (headings before the text under them), before any other markdown cell. The
 * arrangement chosen minimises the expected number of inversions of the whole order, markdown
 * against code and markdown against markdown, by coordinate descent from the weighted medians
 * (which minimise the markdown-code part alone); markdown cells sharing a slot are ordered by
 * their pairwise probabilities. */
#include <math.h>
#include <string.h>

#include "ordo/ranker.h"

/* 0: not a heading, 1: a heading of level 1 or 2, 2: a deeper one */
static int heading_class(const nb_cell *c) {
  int l = rk_md_heading_level(c);
  return l == 0 ? 0 : l <= 2 ? 1 : 2;
}

void rk_md_order_fit(rk_md_order *o, const nb_dataset *ds, const uint8_t *mask) {
  double cnt[RK_HCLASSES][RK_HCLASSES];
  for (int a = 0; a < RK_HCLASSES; a++)
    for (int b = 0; b < RK_HCLASSES; b++) cnt[a][b] = 1.0; /* add-one */
  for (int32_t i = 0; i < ds->n; i++) {
    if (!mask[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    /* runs of markdown cells between two code cells of the true order share a slot */
    int32_t prev = -1;
    for (int32_t k = 0; k < nb->n_cells; k++) {
      int32_t c = nb->order[k];
      if (c < nb->n_code) {
        prev = -1;
        continue;
      }
      int cls = heading_class(&nb->cells[c]);
      if (prev >= 0)
        for (int32_t j = prev; j < k; j++) cnt[heading_class(&nb->cells[nb->order[j]])][cls] += 1;
      else
        prev = k;
    }
  }
  for (int a = 0; a < RK_HCLASSES; a++)
    for (int b = 0; b < RK_HCLASSES; b++) o->first[a][b] = cnt[a][b] / (cnt[a][b] + cnt[b][a]);
}

/* pb (n_md, n_md): the probability that markdown a truly precedes markdown b, the slot
 * distributions taken as independent: P(s_a < s_b) + P(s_a = s_b) first[class a][class b]. */
static void pair_before(const nb_notebook *nb, const float *prob, const rk_md_order *o,
                        double *pb) {
  int32_t nm = nb->n_md, ns = nb->n_code + 1;
  double *cdf = ordo_malloc((size_t)nm * ns * sizeof *cdf);
  int *cls = ordo_malloc((size_t)nm * sizeof *cls);
  for (int32_t a = 0; a < nm; a++) {
    double acc = 0;
    for (int32_t s = 0; s < ns; s++) cdf[(size_t)a * ns + s] = acc += prob[(size_t)a * ns + s];
    cls[a] = heading_class(&nb->cells[nb->n_code + a]);
  }
  for (int32_t a = 0; a < nm; a++)
    for (int32_t b = 0; b < nm; b++) {
      if (a == b) {
        pb[(size_t)a * nm + b] = 0;
        continue;
      }
      const float *pa = prob + (size_t)a * ns, *pbb = prob + (size_t)b * ns;
      const double *ca = cdf + (size_t)a * ns;
      double less = 0, same = 0;
      for (int32_t s = 0; s < ns; s++) {
        if (s > 0) less += ca[s - 1] * pbb[s];
        same += (double)pa[s] * pbb[s];
      }
      pb[(size_t)a * nm + b] = less + same * o->first[cls[a]][cls[b]];
    }
  free(cdf), free(cls);
}

/* Expected inversions of markdown a at slot s against markdown b at slot t. */
static double pair_cost(const double *pb, int32_t nm, int32_t a, int32_t s, int32_t b, int32_t t) {
  double ab = pb[(size_t)a * nm + b], ba = pb[(size_t)b * nm + a];
  if (s < t) return ba;          /* a placed first: wrong when b truly precedes */
  if (s > t) return ab;
  return ab < ba ? ab : ba;      /* same slot: the better order of the two */
}

void rk_decode_joint(const nb_notebook *nb, const float *prob, const rk_md_order *o, float *md_pos) {
  int32_t nm = nb->n_md, nc = nb->n_code, ns = nc + 1;
  if (nm == 0) return;
  /* large notebooks: the descent costs n_md^2 x slots per pass; the medians alone there */
  if ((double)nm * nm * ns > 2e7) {
    rk_slot_decode(nb, prob, md_pos);
    return;
  }
  double *pb = ordo_malloc((size_t)nm * nm * sizeof *pb);
  pair_before(nb, prob, o, pb);
  /* markdown-code cost of each slot: sum over code c before the slot of P(true <= c), and over
   * code c after it of P(true > c) */
  double *mc = ordo_malloc((size_t)nm * ns * sizeof *mc);
  int32_t *slot = ordo_malloc((size_t)nm * sizeof *slot);
  for (int32_t a = 0; a < nm; a++) {
    const float *p = prob + (size_t)a * ns;
    double *row = mc + (size_t)a * ns, F = 0, after = 0;
    double *cdf = ordo_malloc((size_t)ns * sizeof *cdf);
    for (int32_t c = 0; c < ns; c++) cdf[c] = F += p[c];
    for (int32_t c = 0; c < nc; c++) after += 1.0 - cdf[c];
    double before = 0;
    for (int32_t s = 0; s < ns; s++) {
      row[s] = before + after;
      if (s < nc) before += cdf[s], after -= 1.0 - cdf[s];
    }
    free(cdf);
    slot[a] = ai4_slot_median(p, ns);
  }
  for (int pass = 0; pass < 3; pass++) {
    int moved = 0;
    for (int32_t a = 0; a < nm; a++) {
      int32_t best = slot[a];
      double best_cost = INFINITY;
      for (int32_t s = 0; s < ns; s++) {
        double cost = mc[(size_t)a * ns + s];
        for (int32_t b = 0; b < nm && cost < best_cost; b++)
          if (b != a) cost += pair_cost(pb, nm, a, s, b, slot[b]);
        if (cost < best_cost - 1e-9 || (s == slot[a] && cost <= best_cost)) best_cost = cost, best = s;
      }
      moved += best != slot[a];
      slot[a] = best;
    }
    if (!moved) break;
  }
  /* inside a slot: by the number of the slot's other markdown cells each one likely precedes */
  for (int32_t a = 0; a < nm; a++) {
    double wins = 0;
    int32_t others = 0;
    for (int32_t b = 0; b < nm; b++)
      if (b != a && slot[b] == slot[a]) wins += pb[(size_t)a * nm + b] > pb[(size_t)b * nm + a], others++;
    double t = others ? 1.0 - wins / others : 0.5; /* 0: first in the slot */
    md_pos[a] = (float)(slot[a] - 0.95 + 0.9 * t);
  }
  free(pb), free(mc), free(slot);
}
