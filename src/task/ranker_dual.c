/* The dual (cell-pair) encoder's inputs, slot scores and inference (ranker.h): each cell encoded
 * alone, a bilinear score per (markdown, slot) from the cell vectors of the code cells around
 * the slot, a softmax over the slots. */
#include <math.h>
#include <string.h>

#include "ordo/progress.h"
#include "ordo/ranker.h"

int rk_dual_encode_cell(const rk_dual_config *dc, const tok *tk, const rk_cell_tokens *ct,
                        int32_t i, const nb_notebook *nb, int32_t cell, int T, int32_t *ids,
                        int32_t *mask, int32_t *tt) {
  int is_md = cell >= nb->n_code;
  int keep = is_md ? dc->md_tokens : dc->code_tokens;
  ORDO_CHECK(T >= keep + 2);
  int32_t cls = tok_special_id(tk, TOK_SP_CLS), sep = tok_special_id(tk, TOK_SP_SEP);
  int32_t pad = tok_special_id(tk, TOK_SP_PAD);
  const int32_t *src = ct->ids[i] + ct->off[i][cell];
  int64_t len = ct->off[i][cell + 1] - ct->off[i][cell];
  int n = 0;
  ids[n++] = cls >= 0 ? cls : 0;
  for (int64_t j = 0; j < len && j < keep; j++) ids[n++] = src[j];
  ids[n++] = sep >= 0 ? sep : 0;
  for (int j = 0; j < T; j++) {
    mask[j] = j < n;
    tt[j] = j < n ? is_md : 0;
    if (j >= n) ids[j] = pad >= 0 ? pad : 0;
  }
  return n;
}

static float dot(const float *x, const float *y, int n) {
  float s = 0;
  for (int k = 0; k < n; k++) s += x[k] * y[k];
  return s;
}

static void axpy(float *y, float a, const float *x, int n) {
  for (int k = 0; k < n; k++) y[k] += a * x[k];
}

void rk_dual_scores(const nb_notebook *nb, const float *z, int dim, float *score) {
  int32_t nc = nb->n_code, ns = nc + 1;
  for (int32_t m = 0; m < nb->n_md; m++) {
    const float *zm = z + (size_t)(nc + m) * 2 * dim;
    float *row = score + (size_t)m * ns;
    for (int32_t s = 0; s < ns; s++) {
      float v = 0;
      if (s < nc) v += dot(zm, z + (size_t)s * 2 * dim, dim);                      /* a . n_s */
      if (s > 0) v += dot(zm + dim, z + (size_t)(s - 1) * 2 * dim + dim, dim);     /* b . p_(s-1) */
      row[s] = v;
    }
  }
}

void rk_dual_scores_backward(const nb_notebook *nb, const float *z, int dim, const float *dscore,
                             float *dz) {
  int32_t nc = nb->n_code, ns = nc + 1;
  for (int32_t m = 0; m < nb->n_md; m++) {
    const float *zm = z + (size_t)(nc + m) * 2 * dim;
    float *dzm = dz + (size_t)(nc + m) * 2 * dim;
    const float *row = dscore + (size_t)m * ns;
    for (int32_t s = 0; s < ns; s++) {
      float g = row[s];
      if (g == 0) continue;
      if (s < nc) {
        const float *zn = z + (size_t)s * 2 * dim;
        axpy(dzm, g, zn, dim);
        axpy(dz + (size_t)s * 2 * dim, g, zm, dim);
      }
      if (s > 0) {
        const float *zp = z + (size_t)(s - 1) * 2 * dim + dim;
        axpy(dzm + dim, g, zp, dim);
        axpy(dz + (size_t)(s - 1) * 2 * dim + dim, g, zm + dim, dim);
      }
    }
  }
}

void rk_dual_logprobs(const nb_notebook *nb, const float *z, int dim, float *lp) {
  int32_t ns = nb->n_code + 1;
  rk_dual_scores(nb, z, dim, lp);
  for (int32_t m = 0; m < nb->n_md; m++) {
    float *row = lp + (size_t)m * ns, mx = row[0];
    for (int32_t s = 1; s < ns; s++) mx = row[s] > mx ? row[s] : mx;
    double sum = 0;
    for (int32_t s = 0; s < ns; s++) sum += exp((double)(row[s] - mx));
    float lz = mx + (float)log(sum);
    for (int32_t s = 0; s < ns; s++) row[s] -= lz;
  }
}

void rk_slot_nll_grad(float *lp, int32_t n_md, int32_t ns, const int32_t *truth, float g, double *loss) {
  for (int32_t md = 0; md < n_md; md++) {
    float *row = lp + (size_t)md * ns;
    *loss -= row[truth[md]];
    for (int32_t s = 0; s < ns; s++) row[s] = g * (expf(row[s]) - (s == truth[md] ? 1.0f : 0.0f));
  }
}

void rk_dual_positions(const nb_notebook *nb, const float *z, int dim, float *md_pos) {
  size_t R = (size_t)nb->n_md * (nb->n_code + 1) + 1;
  float *p = ordo_malloc(R * sizeof *p);
  rk_dual_logprobs(nb, z, dim, p);
  for (size_t k = 0; k + 1 < R; k++) p[k] = expf(p[k]);
  rk_slot_decode(nb, p, md_pos);
  free(p);
}

/* Rows buffered at stride T, run as one batch at the longest row's length. */
typedef struct dual_rows {
  int T, L, n, longest;
  rk_pool pool;
  int32_t *ids, *msk, *tt;
  float *const *who; /* (n) where each row's vector goes */
  float *z;          /* the batch's outputs on the host: (n, L), or (n, T, L) for RK_POOL_MEAN */
} dual_rows;

static void dual_rows_run(dual_rows *r, enc_model *enc) {
  if (r->n == 0) return;
  /* a pretrained encoder reads every cell as token type 0, as it was trained; the dual encoder
   * tells markdown (1) from code (0) */
  enc_batch b = rk_pack_rows(r->ids, r->msk, r->pool == RK_POOL_HEAD ? r->tt : NULL, r->n, r->T,
                             r->longest);
  /* the head, or the first position's state, read <s> alone */
  b.first_only = r->pool != RK_POOL_MEAN && !enc->att_bias;
  enc_forward(enc, &b, 0);
  if (r->pool == RK_POOL_HEAD) {
    enc_read(enc, r->z, enc->cls_logits, (size_t)r->n * r->L * sizeof(float));
  } else if (b.first_only) {
    enc_read(enc, r->z, enc_hidden(enc), (size_t)r->n * r->L * sizeof(float));
  } else { /* (n, T, L) states: the first row of each, or the mean over its real tokens */
    size_t per = (size_t)b.T * r->L;
    enc_read(enc, r->z, enc_hidden(enc), (size_t)r->n * per * sizeof(float));
    double *acc = ordo_malloc((size_t)r->L * sizeof *acc);
    for (int k = 0; k < r->n; k++) {
      float *h = r->z + (size_t)k * per, *o = r->z + (size_t)k * r->L;
      if (r->pool == RK_POOL_FIRST) {
        memmove(o, h, (size_t)r->L * sizeof *o);
        continue;
      }
      int cnt = 0;
      memset(acc, 0, (size_t)r->L * sizeof *acc);
      for (int t = 0; t < b.T; t++)
        if (b.mask[(size_t)k * b.T + t]) {
          cnt++;
          for (int j = 0; j < r->L; j++) acc[j] += h[(size_t)t * r->L + j];
        }
      for (int j = 0; j < r->L; j++) o[j] = (float)(acc[j] / (cnt ? cnt : 1));
    }
    free(acc);
  }
  for (int k = 0; k < r->n; k++)
    memcpy(r->who[k], r->z + (size_t)k * r->L, (size_t)r->L * sizeof(float));
  r->who += r->n;
  r->n = r->longest = 0;
}

/* Row length of a cell: <s>, its first md_tokens / code_tokens tokens, </s>. */
static int dual_cell_len(const rk_dual_config *dc, const rk_cell_tokens *ct, int32_t i,
                         const nb_notebook *nb, int32_t cell) {
  int keep = cell >= nb->n_code ? dc->md_tokens : dc->code_tokens;
  int64_t len = ct->off[i][cell + 1] - ct->off[i][cell];
  return (int)(len < keep ? len : keep) + 2;
}

/* The cells longest first (a counting sort by row length, stable in the given order, so the
 * batches are the same on every run), run in batches of at most maxB rows and
 * RK_DUAL_BATCH_TOKENS positions: a batch's cells have nearly the same length, so almost
 * nothing is padding, and the products keep about RK_DUAL_BATCH_TOKENS rows. */
void rk_embed_cells(enc_model *enc, const tok *tk, const rk_dual_config *dc, rk_pool pool,
                    const nb_dataset *ds, const rk_cell_tokens *ct, const int32_t *cell_nb,
                    const int32_t *cell_c, int64_t n, float *const *out, ordo_progress *pb) {
  int per = dc->md_tokens > dc->code_tokens ? dc->md_tokens : dc->code_tokens;
  int T = per + 2, B = enc->maxB;
  int L = pool == RK_POOL_HEAD ? 2 * dc->dim : enc->cfg.hidden_size;
  ORDO_CHECK(enc->maxT >= T && (pool != RK_POOL_HEAD || enc->cfg.num_labels == 2 * dc->dim));
  int64_t *start = ordo_calloc((size_t)T + 2, sizeof *start); /* by length, longest first */
  int64_t *sorted = ordo_malloc((size_t)(n + 1) * sizeof *sorted);
  float **who = ordo_malloc((size_t)(n + 1) * sizeof *who);
  for (int64_t k = 0; k < n; k++) start[T + 1 - dual_cell_len(dc, ct, cell_nb[k], &ds->nbs[cell_nb[k]], cell_c[k])]++;
  for (int64_t k = 0, acc = 0; k <= T + 1; k++) {
    int64_t cnt = start[k];
    start[k] = acc, acc += cnt;
  }
  for (int64_t k = 0; k < n; k++) {
    int64_t at = start[T + 1 - dual_cell_len(dc, ct, cell_nb[k], &ds->nbs[cell_nb[k]], cell_c[k])]++;
    sorted[at] = k, who[at] = out[k];
  }
  dual_rows r = {.T = T, .L = L, .pool = pool, .who = who};
  r.ids = ordo_malloc((size_t)B * T * sizeof *r.ids);
  r.msk = ordo_malloc((size_t)B * T * sizeof *r.msk);
  r.tt = ordo_malloc((size_t)B * T * sizeof *r.tt);
  r.z = ordo_malloc((size_t)B * (pool == RK_POOL_HEAD ? 1 : T) * L * sizeof *r.z);
  for (int64_t s = 0; s < n; s++) {
    int32_t i = cell_nb[sorted[s]], c = cell_c[sorted[s]];
    int len = dual_cell_len(dc, ct, i, &ds->nbs[i], c);
    if (r.n > 0 && (int64_t)(r.n + 1) * r.longest > RK_DUAL_BATCH_TOKENS) {
      dual_rows_run(&r, enc);
      if (pb) progress_update(pb, s, NULL);
    }
    rk_dual_encode_cell(dc, tk, ct, i, &ds->nbs[i], c, T, r.ids + (size_t)r.n * T,
                        r.msk + (size_t)r.n * T, r.tt + (size_t)r.n * T);
    r.longest = len > r.longest ? len : r.longest;
    if (++r.n == B) dual_rows_run(&r, enc);
  }
  dual_rows_run(&r, enc);
  free(r.ids), free(r.msk), free(r.tt), free(r.z);
  free(start), free(sorted), free(who);
}

/* Every cell of the selected notebooks, in notebook order (rk_embed_cells sorts them). */
void rk_dual_embed_ct(enc_model *enc, const tok *tk, const rk_dual_config *dc,
                      const nb_dataset *ds, const rk_cell_tokens *ct, const uint8_t *mask,
                      float **z) {
  int64_t n = 0;
  for (int32_t i = 0; i < ds->n; i++)
    if (!mask || mask[i]) n += ds->nbs[i].n_cells;
  int32_t *cell_nb = ordo_malloc((size_t)(n + 1) * sizeof *cell_nb);
  int32_t *cell_c = ordo_malloc((size_t)(n + 1) * sizeof *cell_c);
  float **out = ordo_malloc((size_t)(n + 1) * sizeof *out);
  int64_t k = 0;
  for (int32_t i = 0; i < ds->n; i++) {
    if (mask && !mask[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    z[i] = ordo_calloc((size_t)nb->n_cells * 2 * dc->dim + 1, sizeof **z);
    for (int32_t c = 0; c < nb->n_cells; c++, k++)
      cell_nb[k] = i, cell_c[k] = c, out[k] = z[i] + (size_t)c * 2 * dc->dim;
  }
  rk_embed_cells(enc, tk, dc, RK_POOL_HEAD, ds, ct, cell_nb, cell_c, n, out, NULL);
  free(cell_nb), free(cell_c), free(out);
}

void rk_dual_embed(enc_model *enc, const tok *tk, const rk_dual_config *dc, const nb_dataset *ds,
                   const uint8_t *mask, int threads, float **z) {
  int per = dc->md_tokens > dc->code_tokens ? dc->md_tokens : dc->code_tokens;
  rk_cell_tokens ct;
  rk_cell_tokens_build(&ct, tk, ds, mask, per, threads);
  rk_dual_embed_ct(enc, tk, dc, ds, &ct, mask, z);
  rk_cell_tokens_free(&ct);
}
