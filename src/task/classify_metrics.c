/* The classification report: confusion counts and the metrics derived from them. */
#include <string.h>

#include "ordo/classify.h"

void cls_report_compute(cls_report *r, const int32_t *truth, const int32_t *pred, int64_t n, int L) {
  ORDO_CHECK(L >= 1 && n >= 0);
  memset(r, 0, sizeof *r);
  r->L = L;
  r->n = n;
  r->confusion = ordo_calloc((size_t)L * L, sizeof(int64_t));
  r->support = ordo_calloc((size_t)L, sizeof(int64_t));
  r->predicted = ordo_calloc((size_t)L, sizeof(int64_t));
  r->precision = ordo_calloc((size_t)L, sizeof(double));
  r->recall = ordo_calloc((size_t)L, sizeof(double));
  r->f1 = ordo_calloc((size_t)L, sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    ORDO_CHECK(truth[i] >= 0 && truth[i] < L && pred[i] >= 0 && pred[i] < L);
    r->confusion[(size_t)truth[i] * L + pred[i]]++;
    r->support[truth[i]]++;
    r->predicted[pred[i]]++;
    r->correct += truth[i] == pred[i];
  }
  r->accuracy = n > 0 ? (double)r->correct / n : 0;
  int present = 0;
  double sum_f1 = 0;
  for (int c = 0; c < L; c++) {
    int64_t tp = r->confusion[(size_t)c * L + c];
    r->precision[c] = r->predicted[c] > 0 ? (double)tp / r->predicted[c] : 0;
    r->recall[c] = r->support[c] > 0 ? (double)tp / r->support[c] : 0;
    double pr = r->precision[c] + r->recall[c];
    r->f1[c] = pr > 0 ? 2 * r->precision[c] * r->recall[c] / pr : 0;
    if (r->support[c] > 0 || r->predicted[c] > 0) {
      present++;
      sum_f1 += r->f1[c];
    }
  }
  r->macro_f1 = present > 0 ? sum_f1 / present : 0;
}

void cls_report_free(cls_report *r) {
  free(r->confusion);
  free(r->support);
  free(r->predicted);
  free(r->precision);
  free(r->recall);
  free(r->f1);
  memset(r, 0, sizeof *r);
}
