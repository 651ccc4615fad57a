/* The pointwise ranker's inputs and inference: <s> markdown </s> code </s> code ... </s>, with up
 * to n_code code cells sampled evenly from the notebook, and the regression head's output read
 * as the markdown's relative slot in [0, 1]. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ordo/ranker.h"

void rk_cell_tokens_build(rk_cell_tokens *ct, const tok *tk, const nb_dataset *ds,
                          const uint8_t *mask, int max_per_cell, int threads) {
  ct->n_nb = ds->n;
  ct->off = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *ct->off);
  ct->ids = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *ct->ids);
  if (threads <= 0) threads = omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
  for (int32_t i = 0; i < ds->n; i++) {
    if (mask && !mask[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    int64_t *off = ordo_malloc(((size_t)nb->n_cells + 1) * sizeof *off);
    int32_t *ids = ordo_malloc(((size_t)nb->n_cells * max_per_cell + 1) * sizeof *ids);
    off[0] = 0;
    for (int32_t k = 0; k < nb->n_cells; k++) {
      /* only the first bytes matter: a cell's first max_per_cell tokens rarely need more
       * than 8 bytes each */
      size_t len = (size_t)nb->cells[k].len;
      size_t cap = (size_t)max_per_cell * 8;
      int n = tok_encode(tk, nb->cells[k].source, len < cap ? len : cap, ids + off[k], max_per_cell, 0);
      off[k + 1] = off[k] + (n < max_per_cell ? n : max_per_cell);
    }
    ct->off[i] = off;
    ct->ids[i] = ids;
  }
}

void rk_cell_tokens_free(rk_cell_tokens *ct) {
  for (int32_t i = 0; i < ct->n_nb; i++) free(ct->off[i]), free(ct->ids[i]);
  free(ct->off), free(ct->ids);
  memset(ct, 0, sizeof *ct);
}

void rk_point_head_features(const nb_notebook *nb, float *out) {
  out[0] = logf(1.0f + (float)nb->n_md) / 4.0f;
  out[1] = logf(1.0f + (float)nb->n_code) / 4.0f;
}

void rk_point_to_pos(const nb_notebook *nb, const float *rel, float *pos) {
  for (int32_t m = 0; m < nb->n_md; m++) {
    float r = rel[m] < 0 ? 0 : rel[m] > 1 ? 1 : rel[m];
    pos[m] = r * (float)nb->n_code - 0.5f;
  }
}

enc_batch rk_pack_rows(int32_t *ids, int32_t *msk, int32_t *tt, int rows, int T, int longest) {
  for (int r = 1; r < rows && longest < T; r++) {
    memmove(ids + (size_t)r * longest, ids + (size_t)r * T, (size_t)longest * sizeof *ids);
    memmove(msk + (size_t)r * longest, msk + (size_t)r * T, (size_t)longest * sizeof *msk);
    if (tt) memmove(tt + (size_t)r * longest, tt + (size_t)r * T, (size_t)longest * sizeof *tt);
  }
  return (enc_batch){.B = rows, .T = longest, .ids = ids, .mask = msk, .tt = tt};
}

/* Appends up to `keep` ids of a cell and a separator, within cap. */
static int put_cell(int32_t *ids, int n, int cap, const int32_t *src, int64_t len, int keep,
                    int32_t sep) {
  if (n >= cap) return n;
  int64_t k = len < keep ? len : keep;
  if (n + k + 1 > cap) k = cap - n - 1;
  for (int64_t j = 0; j < k; j++) ids[n++] = src[j];
  ids[n++] = sep;
  return n;
}

int rk_point_encode_ct(const rk_point_config *c, const tok *tk, const rk_cell_tokens *ct,
                       int32_t i, const nb_notebook *nb, int32_t md, int32_t *ids, int32_t *mask) {
  int32_t cls = tok_special_id(tk, TOK_SP_CLS), sep = tok_special_id(tk, TOK_SP_SEP);
  int32_t pad = tok_special_id(tk, TOK_SP_PAD);
  if (pad < 0) pad = 0;
  const int64_t *off = ct->off[i];
  const int32_t *all = ct->ids[i];
  int T = c->seq, n = 0;
  if (cls >= 0) ids[n++] = cls;
  int32_t k = nb->n_code + md;
  n = put_cell(ids, n, T, all + off[k], off[k + 1] - off[k], c->md_tokens, sep);
  int32_t nc = nb->n_code, take = nc < c->n_code ? nc : c->n_code;
  for (int32_t j = 0; j < take; j++) {
    /* evenly spaced code cells, first and last included */
    int32_t cc = take == 1 ? 0 : (int32_t)(((int64_t)j * (nc - 1) + (take - 1) / 2) / (take - 1));
    n = put_cell(ids, n, T, all + off[cc], off[cc + 1] - off[cc], c->code_tokens, sep);
  }
  for (int t = 0; t < T; t++) {
    mask[t] = t < n;
    if (t >= n) ids[t] = pad;
  }
  return n;
}

int rk_point_encode(const rk_point_config *c, const tok *tk, const nb_notebook *nb, int32_t md,
                    int32_t *ids, int32_t *mask) {
  /* a one-notebook dataset view for the shared path */
  nb_dataset one = {.n = 1, .nbs = (nb_notebook *)nb};
  rk_cell_tokens ct;
  int per = c->md_tokens > c->code_tokens ? c->md_tokens : c->code_tokens;
  rk_cell_tokens_build(&ct, tk, &one, NULL, per, 1);
  int n = rk_point_encode_ct(c, tk, &ct, 0, nb, md, ids, mask);
  rk_cell_tokens_free(&ct);
  return n;
}

void rk_point_predict(enc_model *enc, const tok *tk, const rk_point_config *pc,
                      const nb_dataset *ds, const uint8_t *mask, int threads, float **out) {
  int per = pc->md_tokens > pc->code_tokens ? pc->md_tokens : pc->code_tokens;
  rk_cell_tokens ct;
  rk_cell_tokens_build(&ct, tk, ds, mask, per, threads);
  int B = enc->maxB, T = pc->seq;
  int32_t *ids = ordo_malloc((size_t)B * T * sizeof *ids), *msk = ordo_malloc((size_t)B * T * sizeof *msk);
  int32_t *who_nb = ordo_malloc((size_t)B * sizeof *who_nb), *who_md = ordo_malloc((size_t)B * sizeof *who_md);
  float *feats = ordo_malloc((size_t)B * RK_POINT_NFEAT * sizeof *feats);
  float *score = ordo_malloc((size_t)B * sizeof *score); /* (B, 1) logits, on the host */
  int nb_in = 0;
  for (int32_t i = 0; i <= ds->n; i++) {
    /* fill rows notebook by notebook; run the batch when full or at the end */
    if (i < ds->n && !(mask && !mask[i])) {
      const nb_notebook *nb = &ds->nbs[i];
      out[i] = ordo_calloc((size_t)(nb->n_md ? nb->n_md : 1), sizeof **out);
      for (int32_t md = 0; md < nb->n_md; md++) {
        rk_point_encode_ct(pc, tk, &ct, i, nb, md, ids + (size_t)nb_in * T, msk + (size_t)nb_in * T);
        who_nb[nb_in] = i, who_md[nb_in] = md;
        rk_point_head_features(nb, feats + (size_t)nb_in * RK_POINT_NFEAT);
        if (++nb_in == B) {
          enc_batch b = {.B = B, .T = T, .ids = ids, .mask = msk, .head_feats = feats};
          enc_forward(enc, &b, 0);
          enc_read(enc, score, enc->cls_logits, (size_t)B * sizeof *score);
          for (int r = 0; r < B; r++) out[who_nb[r]][who_md[r]] = score[r];
          nb_in = 0;
        }
      }
    }
    if (i == ds->n && nb_in > 0) {
      enc_batch b = {.B = nb_in, .T = T, .ids = ids, .mask = msk, .head_feats = feats};
      enc_forward(enc, &b, 0);
      enc_read(enc, score, enc->cls_logits, (size_t)nb_in * sizeof *score);
      for (int r = 0; r < nb_in; r++) out[who_nb[r]][who_md[r]] = score[r];
      nb_in = 0;
    }
  }
  free(ids), free(msk), free(who_nb), free(who_md), free(feats), free(score);
  rk_cell_tokens_free(&ct);
}
