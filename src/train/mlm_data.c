/* Language-model batches: masked LM with dynamic masking, or causal LM on packed sequences. */
#include <string.h>

#include "ordo/mlm.h"
#include "ordo/rng.h"

int mlm_data_init(mlm_data *d, int32_t *stream, int64_t n_tokens, int seq, int batch,
                  int32_t cls_id, int32_t sep_id, int32_t mask_id, int32_t pad_id, int vocab_size,
                  uint64_t seed, ordo_err *e) {
  memset(d, 0, sizeof *d);
  if (seq < 8) return ordo_fail(e, "sequence length %d is too short (at least 8)", seq);
  if (cls_id < 0 || sep_id < 0 || mask_id < 0)
    return ordo_fail(e, "the tokenizer lacks a [CLS]/<s>, [SEP]/</s> or [MASK]/<mask> token");
  d->stream = stream;
  d->n_tokens = n_tokens;
  d->seq = seq;
  d->n_seqs = n_tokens / (seq - 2);
  if (d->n_seqs < batch) {
    free(stream);
    d->stream = NULL;
    return ordo_fail(e, "the corpus has %lld tokens: fewer than one batch of %d sequences of %d",
                     (long long)n_tokens, batch, seq - 2);
  }
  d->cls_id = cls_id, d->sep_id = sep_id, d->mask_id = mask_id, d->pad_id = pad_id;
  d->vocab_size = vocab_size;
  d->mask_prob = 0.15f;
  d->seed = seed;
  d->order = ordo_malloc((size_t)d->n_seqs * sizeof(int32_t));
  d->order_epoch = -1;
  return 0;
}

int clm_data_init(mlm_data *d, int32_t *stream, int64_t n_tokens, int seq, int batch,
                  int vocab_size, uint64_t seed, ordo_err *e) {
  memset(d, 0, sizeof *d);
  if (seq < 2) return ordo_fail(e, "sequence length %d is too short (at least 2)", seq);
  d->n_seqs = n_tokens > 1 ? (n_tokens - 1) / seq : 0;
  if (d->n_seqs < batch) {
    free(stream);
    return ordo_fail(e, "the corpus has %lld tokens: fewer than one batch of %d sequences of %d "
                     "(plus one target)", (long long)n_tokens, batch, seq);
  }
  d->stream = stream, d->n_tokens = n_tokens, d->seq = seq, d->vocab_size = vocab_size;
  d->seed = seed, d->causal = 1;
  d->cls_id = d->sep_id = d->mask_id = d->pad_id = -1;
  d->order = ordo_malloc((size_t)d->n_seqs * sizeof(int32_t));
  d->order_epoch = -1;
  return 0;
}

/* Sequence s of the causal stream into row r of (ids, mask): every position a row of the loss
 * with the next token as its label. Returns the rows written. */
static int clm_row(const mlm_data *d, int64_t s, int r, int32_t *ids, int32_t *mask,
                   int32_t *rows, int32_t *labels) {
  int T = d->seq;
  const int32_t *src = d->stream + s * T;
  memcpy(ids + (size_t)r * T, src, (size_t)T * sizeof(int32_t));
  for (int t = 0; t < T; t++) {
    mask[(size_t)r * T + t] = 1;
    rows[t] = r * T + t;
    labels[t] = src[t + 1];
  }
  return T;
}

int clm_data_sequences(const mlm_data *d, int64_t first, int n, int32_t *ids, int32_t *mask,
                       int32_t *rows, int32_t *labels) {
  ORDO_CHECK(d->causal && first >= 0 && first + n <= d->n_seqs);
  int k = 0;
  for (int r = 0; r < n; r++) k += clm_row(d, first + r, r, ids, mask, rows + k, labels + k);
  return k;
}

void mlm_data_free(mlm_data *d) {
  free(d->stream);
  free(d->order);
  memset(d, 0, sizeof *d);
}

static void epoch_order(mlm_data *d, int64_t epoch) {
  if (d->order_epoch == epoch) return;
  for (int64_t i = 0; i < d->n_seqs; i++) d->order[i] = (int32_t)i;
  ordo_rng r;
  rng_init(&r, d->seed * 0x100000001B3ull + (uint64_t)epoch + 1);
  rng_shuffle_i32(&r, d->order, d->n_seqs);
  d->order_epoch = epoch;
}

/* The sentence-order cut of row b of step's batch: A is the first `*cut` text tokens (1 to
 * T - 4), and *swap says whether B comes first. Its own Philox range, keyed by step and row. */
static void sop_cut(const mlm_data *d, int64_t step, int B, int b, int *cut, int *swap) {
  uint64_t k = ((uint64_t)step * (uint64_t)B + (uint64_t)b) * 2;
  uint64_t sseed = d->seed ^ 0x3C6EF372FE94F82Bull;
  *cut = 1 + (int)(philox_u32(sseed, k) % (uint32_t)(d->seq - 4));
  *swap = philox_uniform(sseed, k + 1) < 0.5f;
}

void mlm_data_sop_part(const mlm_data *d, int64_t step, int B, int first_row, int n_rows,
                       int32_t *tt, int32_t *sop_labels) {
  int T = d->seq;
  for (int b = first_row; b < first_row + n_rows; b++) {
    int cut, swap;
    sop_cut(d, step, B, b, &cut, &swap);
    int first_len = swap ? T - 3 - cut : cut; /* the segment placed first */
    int32_t *row = tt + (size_t)(b - first_row) * T;
    for (int t = 0; t < T; t++) row[t] = t > first_len + 1;
    sop_labels[b - first_row] = swap;
  }
}

int mlm_data_batch(mlm_data *d, int64_t step, int B, int32_t *ids, int32_t *mask, int32_t *rows,
                   int32_t *labels) {
  return mlm_data_batch_part(d, step, B, 0, B, ids, mask, rows, labels);
}

int mlm_data_batch_part(mlm_data *d, int64_t step, int B, int first_row, int n_rows, int32_t *ids,
                        int32_t *mask, int32_t *rows, int32_t *labels) {
  ORDO_CHECK(first_row >= 0 && n_rows >= 0 && first_row + n_rows <= B);
  int T = d->seq, body = T - 2, n = 0;
  int64_t per_epoch = d->n_seqs / B;
  epoch_order(d, step / per_epoch);
  int64_t first = (step % per_epoch) * B;
  if (d->causal) {
    int k = 0;
    for (int b = first_row; b < first_row + n_rows; b++)
      k += clm_row(d, d->order[first + b], b - first_row, ids, mask, rows + k, labels + k);
    return k;
  }
  /* masking stream: one Philox word range per step, disjoint from the shuffles' */
  uint64_t mseed = d->seed ^ 0x6A09E667F3BCC909ull;
  uint64_t base = (uint64_t)step * (uint64_t)B * (uint64_t)T * 3;
  /* b is the row in the whole batch (it keys the masking), b - first_row the row written */
  for (int b = first_row; b < first_row + n_rows; b++) {
    const int32_t *src = d->stream + (int64_t)d->order[first + b] * body;
    int32_t *row = ids + (size_t)(b - first_row) * T;
    row[0] = d->cls_id;
    if (d->sop) {
      /* [CLS] A [SEP] B [SEP], or B before A, of the T - 3 text tokens cut after A's */
      int cut, swap;
      sop_cut(d, step, B, b, &cut, &swap);
      const int32_t *s1 = swap ? src + cut : src, *s2 = swap ? src : src + cut;
      int n1 = swap ? T - 3 - cut : cut, n2 = T - 3 - n1;
      memcpy(row + 1, s1, (size_t)n1 * sizeof(int32_t));
      row[1 + n1] = d->sep_id;
      memcpy(row + 2 + n1, s2, (size_t)n2 * sizeof(int32_t));
    } else {
      memcpy(row + 1, src, (size_t)body * sizeof(int32_t));
    }
    row[T - 1] = d->sep_id;
    for (int t = 0; t < T; t++) mask[(size_t)(b - first_row) * T + t] = 1;
    int word_on = 0; /* whole-word masking: the decision of the current word */
    for (int t = 1; t < T - 1; t++) {
      uint64_t k = base + ((uint64_t)b * T + t) * 3;
      int32_t orig = row[t];
      if (d->word_start) {
        /* a word cut by the sequence start is a word of its own */
        if (t == 1 || d->word_start[orig]) word_on = philox_uniform(mseed, k) < d->mask_prob;
        if (!word_on) continue;
      } else if (philox_uniform(mseed, k) >= d->mask_prob) {
        continue;
      }
      if (orig == d->sep_id || orig == d->cls_id || orig == d->pad_id) continue;
      float u = philox_uniform(mseed, k + 1);
      if (u < 0.8f) row[t] = d->mask_id;
      else if (u < 0.9f) row[t] = (int32_t)(philox_u32(mseed, k + 2) % (uint32_t)d->vocab_size);
      rows[n] = (b - first_row) * T + t;
      labels[n] = orig;
      n++;
    }
  }
  return n;
}
