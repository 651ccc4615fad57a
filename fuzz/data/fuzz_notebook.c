/* libFuzzer target: one notebook file from arbitrary bytes, parsed both as a Kaggle json
 * notebook and as an .ipynb. A parsed notebook must be consistent (code cells first in the Kaggle layout, lengths
 * equal to the sources, the true order a permutation, at most NB_MAX_CELLS cells) before and
 * after it is laid out the Kaggle way; a file that does not parse must say why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/notebook.h"

static void check_nb(const nb_notebook *nb, int code_first) {
  if (nb->n_cells != nb->n_code + nb->n_md || nb->n_cells < 0 || nb->n_cells > NB_MAX_CELLS)
    abort();
  int32_t n_code = 0;
  for (int32_t i = 0; i < nb->n_cells; i++) {
    const nb_cell *c = &nb->cells[i];
    n_code += c->type == NB_CELL_CODE;
    if (code_first && c->type != (i < nb->n_code ? NB_CELL_CODE : NB_CELL_MARKDOWN)) abort();
    if (!c->source || (size_t)c->len != strlen(c->source)) abort();
    if (strnlen(c->id, sizeof c->id) == sizeof c->id) abort();
  }
  if (n_code != nb->n_code) abort();
  if (!nb->order) return;
  uint8_t *seen = calloc((size_t)nb->n_cells + 1, 1);
  for (int32_t i = 0; i < nb->n_cells; i++) {
    int32_t k = nb->order[i];
    if (k < 0 || k >= nb->n_cells || seen[k]++) abort();
  }
  free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  nb_notebook nb;
  ordo_err e;
  e.msg[0] = 0;
  if (nb_parse_kaggle_json(&nb, text, size, "fuzz.json", "0123456789abcd", &e) == 0) {
    check_nb(&nb, 1);
    nb_notebook_free(&nb);
  } else if (!e.msg[0]) {
    abort();
  }
  e.msg[0] = 0;
  nb_ipynb_opts o = {.max_cell_chars = size & 1 ? 64 : 0};
  int r = nb_parse_ipynb(&nb, text, size, "fuzz.ipynb", &o, &e);
  if (r < 0) {
    if (!e.msg[0]) abort();
    return 0;
  }
  check_nb(&nb, 0);
  nb_to_kaggle_layout(&nb, size);
  check_nb(&nb, 1);
  nb_notebook_free(&nb);
  return 0;
}
