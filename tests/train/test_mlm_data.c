/* Masked-LM batches: whole-word masking masks a word's tokens together and keeps the
 * token-level masking rate; without a word table the draw is per token. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/mlm.h"
#include "ordo/rng.h"

enum { V = 60, CLS = 1, SEP = 2, MASK = 3, PAD = 0, SEQ = 40, BATCH = 8, NTOK = 40000 };

/* ids 4..29 start a word, 30..59 continue one; words are 1 to 4 tokens long */
static int32_t *make_stream(void) {
  int32_t *s = malloc(NTOK * sizeof(int32_t));
  ordo_rng r;
  rng_init(&r, 8);
  for (int i = 0; i < NTOK;) {
    int len = 1 + (int)rng_below(&r, 4);
    for (int k = 0; k < len && i < NTOK; k++, i++)
      s[i] = k == 0 ? 4 + (int32_t)rng_below(&r, 26) : 30 + (int32_t)rng_below(&r, 30);
  }
  return s;
}

static void check(int whole) {
  static uint8_t start[V];
  for (int i = 0; i < V; i++) start[i] = i < 30;
  mlm_data d;
  ordo_err e = {{0}};
  int32_t *stream = make_stream(), *orig = malloc(NTOK * sizeof(int32_t));
  memcpy(orig, stream, NTOK * sizeof(int32_t));
  EXPECT(mlm_data_init(&d, stream, NTOK, SEQ, BATCH, CLS, SEP, MASK, PAD, V, 5, &e) == 0, "%s", e.msg);
  if (whole) d.word_start = start;
  int32_t ids[BATCH * SEQ], mask[BATCH * SEQ], rows[BATCH * SEQ], labels[BATCH * SEQ];
  long masked = 0, body = 0, split_words = 0, words = 0;
  for (int64_t step = 0; step < 200; step++) {
    int n = mlm_data_batch(&d, step, BATCH, ids, mask, rows, labels);
    char hit[BATCH * SEQ] = {0};
    int32_t lab[BATCH * SEQ];
    for (int i = 0; i < n; i++) hit[rows[i]] = 1, lab[rows[i]] = labels[i];
    for (int b = 0; b < BATCH; b++) {
      /* the original tokens: labels where masked, the ids elsewhere */
      int32_t tokv[SEQ];
      for (int t = 0; t < SEQ; t++) tokv[t] = hit[b * SEQ + t] ? lab[b * SEQ + t] : ids[b * SEQ + t];
      for (int t = 1; t < SEQ - 1;) {
        int end = t + 1;
        while (end < SEQ - 1 && !start[tokv[end]]) end++;
        int m = 0;
        for (int u = t; u < end; u++) m += hit[b * SEQ + u];
        split_words += m != 0 && m != end - t;
        words++;
        t = end;
      }
      for (int t = 1; t < SEQ - 1; t++) masked += hit[b * SEQ + t], body++;
    }
  }
  double rate = (double)masked / body;
  EXPECT(rate > 0.13 && rate < 0.17, "%s: masked %.4f of the tokens, expected about 0.15",
         whole ? "whole words" : "tokens", rate);
  if (whole)
    EXPECT(split_words == 0, "%ld of %ld words masked in part", split_words, words);
  else
    EXPECT(split_words > words / 20, "per-token masking splits words (%ld of %ld)", split_words, words);
  mlm_data_free(&d);
  free(orig);
}

int main(void) {
  check(0);
  check(1);
  return test_summary();
}
