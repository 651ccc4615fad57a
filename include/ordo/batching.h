/* Length-grouped batching: samples of similar length share a batch so that padding (to the
 * batch's longest sample) is small, while the order stays random. As HF's
 * LengthGroupedSampler: shuffle all samples with the epoch's seed, cut the shuffled list into
 * mega-batches of `group` batches, sort each mega-batch by length (longest first), cut it into
 * batches, then shuffle the batches so that lengths are mixed across the epoch. */
#ifndef ORDO_BATCHING_H
#define ORDO_BATCHING_H

#include <stdint.h>

typedef struct length_batches {
  int32_t n_batches;
  int32_t *start;  /* (n_batches + 1): batch b is order[start[b] .. start[b+1]) */
  int32_t *order;  /* (n) sample indices */
  int64_t padded_tokens;  /* sum over batches of batch size x longest length */
  int64_t real_tokens;    /* sum of all lengths */
  int64_t random_padded_tokens; /* the same for plain shuffled batches of the same seed */
} length_batches;

/* Plans one epoch over n samples. group <= 1: plain shuffled batches (no grouping). The last
 * batch may be smaller. Deterministic in (seed, epoch). */
void length_batches_plan(length_batches *lb, const int32_t *lengths, int32_t n, int batch_size,
                         int group, uint64_t seed, int64_t epoch);
void length_batches_free(length_batches *lb);
/* Fraction of padding tokens removed relative to plain shuffled batches: 1 - pad/pad_random. */
double length_batches_padding_saved(const length_batches *lb);

#endif
