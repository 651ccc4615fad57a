/* Masked-LM batches: whole-word masking masks a word's tokens together and keeps the
 * token-level masking rate; without a word table the draw is per token. Sentence-order rows
 * hold their chunk of text cut in two, swapped exactly where the label says. */
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

/* With d.sop every row is [CLS] A [SEP] B [SEP]: the chunk the plain row would hold, less its
 * last token, cut once; label 1 iff the parts come swapped; types 0 up to the first [SEP]. */
static void check_sop(void) {
  mlm_data d, plain;
  ordo_err e = {{0}};
  EXPECT(mlm_data_init(&d, make_stream(), NTOK, SEQ, BATCH, CLS, SEP, MASK, PAD, V, 5, &e) == 0, "%s", e.msg);
  EXPECT(mlm_data_init(&plain, make_stream(), NTOK, SEQ, BATCH, CLS, SEP, MASK, PAD, V, 5, &e) == 0, "%s", e.msg);
  d.sop = 1, d.mask_prob = plain.mask_prob = 0; /* no masking: the rows show their text */
  int32_t ids[BATCH * SEQ], pids[BATCH * SEQ], mask[BATCH * SEQ], rows[BATCH * SEQ],
      labels[BATCH * SEQ], tt[BATCH * SEQ], sop[BATCH];
  int swapped = 0, bad = 0, n = 0;
  for (int64_t step = 0; step < 50; step++) {
    mlm_data_batch(&d, step, BATCH, ids, mask, rows, labels);
    mlm_data_batch(&plain, step, BATCH, pids, mask, rows, labels);
    mlm_data_sop_part(&d, step, BATCH, 0, BATCH, tt, sop);
    for (int b = 0; b < BATCH; b++, n++) {
      const int32_t *r = ids + b * SEQ, *p = pids + b * SEQ + 1, *y = tt + b * SEQ;
      int s = 1;
      while (s < SEQ - 1 && r[s] != SEP) s++; /* the inner [SEP] (the stream holds none) */
      int n1 = s - 1, n2 = SEQ - 3 - n1, ok = r[0] == CLS && r[SEQ - 1] == SEP && n1 >= 1 && n2 >= 1;
      /* swapped: B = p[0, n2) comes first, A = p[n2, ..) after it */
      for (int t = 0; ok && t < n1; t++) ok = r[1 + t] == p[sop[b] ? n2 + t : t];
      for (int t = 0; ok && t < n2; t++) ok = r[2 + n1 + t] == p[sop[b] ? t : n1 + t];
      for (int t = 0; ok && t < SEQ; t++) ok = y[t] == (t > s);
      bad += !ok;
      swapped += sop[b];
    }
  }
  EXPECT(bad == 0, "sentence order: %d of %d rows are not the chunk cut and swapped as labelled", bad, n);
  EXPECT(swapped > n * 2 / 5 && swapped < n * 3 / 5, "sentence order: %d of %d rows swapped", swapped, n);
  mlm_data_free(&d), mlm_data_free(&plain);
}

int main(void) {
  check(0);
  check(1);
  check_sop();
  return test_summary();
}
