/* Language-model pretraining data: a token stream cut into fixed-length sequences, visited in a
 * seeded random order per epoch. Masked LM: dynamic masking (a fresh mask every time a sequence
 * is seen) drawn from the counter-based RNG so that a run is reproducible from (seed, step).
 * Causal LM (clm_data_init): packed sequences of the stream (documents back to back with EOS
 * between them, so a sequence may span documents) whose every position predicts the next
 * token. */
#ifndef ORDO_MLM_H
#define ORDO_MLM_H

#include <stdint.h>

#include "ordo/core.h"

typedef struct mlm_data {
  int32_t *stream; /* token ids, documents back to back separated by sep_id */
  int64_t n_tokens;
  int seq;         /* sequence length including [CLS] and [SEP] */
  int64_t n_seqs;  /* n_tokens / (seq - 2) */
  int32_t cls_id, sep_id, mask_id, pad_id;
  int vocab_size;
  float mask_prob; /* default 0.15: of those, 80% [MASK], 10% random token, 10% unchanged */
  uint64_t seed;
  const uint8_t *word_start; /* (vocab_size) 1 = the token begins a word; NULL = mask tokens
                                one by one. Set: whole-word masking, where a word's first token
                                draws for the whole word (each token still 80/10/10). Borrowed. */
  int sop;         /* sentence-order rows (ALBERT): [CLS] A [SEP] B [SEP] of seq - 3 tokens of
                      text cut at a random point, A and B swapped in half of the rows;
                      mlm_data_sop_part gives their token types and order labels */
  int32_t *order;  /* current epoch's sequence order */
  int64_t order_epoch;
  int causal;      /* clm_data_init: sequence i is stream[i T, (i + 1) T), its targets shifted
                      by one token; no [CLS]/[SEP], no masking */
} mlm_data;

/* Takes ownership of stream (malloc'd). Returns -1 when there is not enough text for one batch. */
int mlm_data_init(mlm_data *d, int32_t *stream, int64_t n_tokens, int seq, int batch,
                  int32_t cls_id, int32_t sep_id, int32_t mask_id, int32_t pad_id, int vocab_size,
                  uint64_t seed, ordo_err *e);
/* Causal-LM data on the stream (documents separated by their EOS): n_seqs = (n_tokens - 1) / seq
 * sequences of seq tokens, each with seq next-token targets. Takes ownership of stream; -1 when
 * there is not enough text for one batch. The batch functions below then return every position
 * as a row (B * T of them) with the next token as its label. */
int clm_data_init(mlm_data *d, int32_t *stream, int64_t n_tokens, int seq, int batch,
                  int vocab_size, uint64_t seed, ordo_err *e);
/* Causal LM: sequences [first, first + n) in stream order (evaluation: every sequence once). */
int clm_data_sequences(const mlm_data *d, int64_t first, int n, int32_t *ids, int32_t *mask,
                       int32_t *rows, int32_t *labels);
void mlm_data_free(mlm_data *d);

/* The batch of global step `step` (0-based): ids/mask (B, T); rows/labels of the masked
 * positions (at most B*T); returns the number of masked rows. */
int mlm_data_batch(mlm_data *d, int64_t step, int B, int32_t *ids, int32_t *mask, int32_t *rows,
                   int32_t *labels);
/* Rows [first_row, first_row + n_rows) of the batch of B above, bit for bit (same sequences,
 * same masks): one rank's part of a global batch. ids/mask are (n_rows, T), rows index them. */
int mlm_data_batch_part(mlm_data *d, int64_t step, int B, int first_row, int n_rows, int32_t *ids,
                        int32_t *mask, int32_t *rows, int32_t *labels);

/* With d->sop: the token types (n_rows, T) (0 up to the first [SEP], 1 after) and sentence-
 * order labels (n_rows) (0: in order, 1: swapped, AlbertForPreTraining's sentence_order_label)
 * of the rows mlm_data_batch_part gives for the same arguments. */
void mlm_data_sop_part(const mlm_data *d, int64_t step, int B, int first_row, int n_rows,
                       int32_t *tt, int32_t *sop_labels);

#endif
