/* libFuzzer target: the orders and submission CSVs (id,cell_order) from arbitrary bytes. The
 * input is cut at its first 0xff byte (or in half) into an orders file and a submission file.
 * A file that reads must write back and read again to the same rows; two that read are scored
 * (Kendall tau within [-1, 1]) and ensembled; every refusal must say why. */
#include <stdint.h>

#include "../fuzz_file.h"
#include "ordo/ai4code.h"
#include "ordo/notebook.h"

static char g_a[256], g_b[256], g_w[256];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  char dir[200];
  fuzz_scratch_dir(dir, sizeof dir);
  snprintf(g_a, sizeof g_a, "%s/orders.csv", dir);
  snprintf(g_b, sizeof g_b, "%s/submission.csv", dir);
  snprintf(g_w, sizeof g_w, "%s/written.csv", dir);
  return 0;
}

static int same_rows(const nb_orders *a, const nb_orders *b) {
  if (a->n != b->n) return 0;
  for (int32_t i = 0; i < a->n; i++) {
    if (strcmp(a->ids[i], b->ids[i]) || a->count[i] != b->count[i]) return 0;
    for (int32_t j = 0; j < a->count[i]; j++)
      if (strcmp(a->cells[i][j], b->cells[i][j])) return 0;
  }
  return 1;
}

/* Reads path; on success checks the write/read round trip. 0 when it read. */
static int read_checked(nb_orders *o, const char *path) {
  ordo_err e;
  e.msg[0] = 0;
  if (nb_orders_read(o, path, &e) != 0) {
    if (!e.msg[0] || o->n) abort();
    return -1;
  }
  nb_orders back;
  if (nb_orders_write(o, g_w, &e) != 0 || nb_orders_read(&back, g_w, &e) != 0) abort();
  if (!same_rows(o, &back)) abort();
  nb_orders_free(&back);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *cut = memchr(data, 0xff, size);
  size_t na = cut ? (size_t)(cut - data) : size / 2;
  fuzz_put_file(g_a, data, na);
  fuzz_put_file(g_b, data + na + (cut != NULL), size - na - (cut != NULL));
  nb_orders o = {0}, s = {0};
  int ra = read_checked(&o, g_a), rb = read_checked(&s, g_b);
  if (ra == 0 && rb == 0) {
    double tau = 2;
    ordo_err e;
    e.msg[0] = 0;
    if (ai4_score_orders(&o, &s, &tau, NULL, &e) == 0) {
      if (!(tau >= -1.0 && tau <= 1.0)) abort();
    } else if (!e.msg[0]) {
      abort();
    }
    nb_orders subs[2] = {o, s}, out = {0};
    double w[2] = {0.5, 0.5};
    e.msg[0] = 0;
    if (ai4_ensemble_ranks(subs, w, 2, &out, &e) == 0) nb_orders_free(&out);
    else if (!e.msg[0]) abort();
  }
  nb_orders_free(&o);
  nb_orders_free(&s);
  return 0;
}
