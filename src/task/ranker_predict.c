/* Prediction over a dataset with a loaded ranker (rk_model): the dual cell vectors, the slot
 * ranker and the notebook-level model per notebook, in chunks; with cross-fitting the slot
 * distributions of every fold's MLPs or dual encoder averaged; then the decoding. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ordo/progress.h"
#include "ordo/ranker.h"

/* The frozen encoder's vectors x[i] (n_cells, in) of the notebooks in mask (NULL elsewhere). */
static float **frozen_inputs(rk_model *m, const nb_dataset *ds, const uint8_t *mask, int threads) {
  float **x = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *x);
  m->fz.progress = m->progress != NULL;
  rk_frozen_vectors(&m->fz, m->tk, &m->dc, ds, mask, threads, x);
  return x;
}

/* Head `head`'s dual vectors z[i] of the notebooks with x[i] (allocated here). */
static void frozen_outputs(const rk_model *m, const nb_dataset *ds, float *const *x, int head,
                           float **z) {
  for (int32_t i = 0; i < ds->n; i++) {
    if (!x[i]) continue;
    z[i] = ordo_malloc(((size_t)ds->nbs[i].n_cells * 2 * m->dc.dim + 1) * sizeof **z);
    rk_frozen_head(&m->fz, head, &ds->nbs[i], x[i], z[i]);
  }
}

static void free_rows(float **x, int32_t n) {
  if (!x) return;
  for (int32_t i = 0; i < n; i++) free(x[i]);
  free(x);
}

void rk_model_dual_vectors(rk_model *m, const nb_dataset *ds, const uint8_t *mask, int threads,
                           float **z) {
  if (!m->dual_frozen) {
    rk_dual_embed(&m->dual, m->tk, &m->dc, ds, mask, threads, z);
    return;
  }
  float **x = frozen_inputs(m, ds, mask, threads);
  frozen_outputs(m, ds, x, RK_HEAD_ALL, z);
  free_rows(x, ds->n);
}

/* Positions of notebook i from its slot distributions by the model's decoding (and the other
 * one into m->alt_pos when asked). */
static void decode(const rk_model *m, const nb_notebook *nb, int32_t i, const float *prob,
                   float **md_pos) {
  float *alt = NULL;
  if (m->alt_pos) alt = m->alt_pos[i] = ordo_malloc(((size_t)nb->n_md + 1) * sizeof *alt);
  if (m->decode_joint) {
    rk_decode_joint(nb, prob, &m->mdo, md_pos[i]);
    if (alt) rk_slot_decode(nb, prob, alt);
  } else {
    rk_slot_decode(nb, prob, md_pos[i]);
    if (alt) rk_decode_joint(nb, prob, &m->mdo, alt);
  }
}

/* A head's slot distribution prob (R values) into the sum *acc: the first one is taken as it is. */
static void acc_add(float **acc, float *prob, size_t R) {
  if (!*acc) {
    *acc = prob;
    return;
  }
  for (size_t k = 0; k < R; k++) (*acc)[k] += prob[k];
  free(prob);
}

void rk_predict_positions(rk_model *m, const nb_dataset *ds, const uint8_t *mask, int threads,
                          float **md_pos) {
  if (threads <= 0) threads = omp_get_max_threads();
  if (m->point_only && m->has_point) {
    rk_point_predict(&m->enc, m->tk, &m->pc, ds, mask, threads, md_pos);
    for (int32_t i = 0; i < ds->n; i++)
      if (md_pos[i]) rk_point_to_pos(&ds->nbs[i], md_pos[i], md_pos[i]);
    return;
  }
  ORDO_CHECKF(!m->dual_only || m->has_dual, "dual_only without a dual encoder");
  ORDO_CHECKF(!m->nbm_only || m->has_nbm, "nbm_only without a notebook model");
  /* the notebook model over the dual encoder's distributions runs before the slot ranker (its
   * evidence, or alone with nbm_only); over the slot ranker's, after it (the model's output) */
  int nbm_post = m->has_nbm && m->nbm_over_slot && !m->dual_only;
  int nbm_pre = m->has_nbm && !m->nbm_over_slot && !m->dual_only && (m->nbm_only || m->slot.use_nbm);
  int alone = m->dual_only || (m->nbm_only && nbm_pre); /* no slot ranker */
  int use_dual = m->has_dual && (m->slot.use_dual || m->slot.use_dense || nbm_pre || nbm_post ||
                                 m->dual_only);
  /* with cross-fitting and fold_mean, the whole model runs once per fold's MLPs (the frozen
   * encoder's vectors computed once) or dual encoder, and the slot distributions are averaged */
  int heads = use_dual && m->fold_mean ? rk_model_fold_heads(m) : 1;
  float **pp = NULL;
  if (m->slot.use_point && !alone) {
    pp = ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *pp);
    rk_point_predict(&m->enc, m->tk, &m->pc, ds, mask, threads, pp);
  }
  ai4_tfidf tf = {0};
  if (!alone) ai4_tfidf_fit(&tf, ds, mask, m->stem, threads);
  /* notebooks in chunks, so that the dual encoder's cell vectors (2 x dim floats per cell) are
   * held for one chunk at a time, not for a whole test set */
  enum { CHUNK = 1024 };
  float **z = use_dual ? ordo_calloc((size_t)(ds->n ? ds->n : 1), sizeof *z) : NULL;
  uint8_t *part = ordo_calloc((size_t)(ds->n ? ds->n : 1), 1);
  int64_t n_sel = 0, n_done = 0;
  for (int32_t i = 0; i < ds->n; i++) n_sel += !mask || mask[i];
  ordo_progress pb;
  progress_init(&pb, m->progress ? m->progress : "predict", n_sel);
  pb.unit = "notebooks";
  for (int32_t c0 = 0; c0 < ds->n; c0 += CHUNK) {
    int32_t c1 = c0 + CHUNK < ds->n ? c0 + CHUNK : ds->n;
    memset(part, 0, (size_t)ds->n);
    for (int32_t i = c0; i < c1; i++) part[i] = !mask || mask[i];
    float **x = use_dual && m->dual_frozen ? frozen_inputs(m, ds, part, threads) : NULL;
    /* each notebook's slot distribution (n_md, n_code + 1), summed over the heads */
    float **acc = ordo_calloc((size_t)(c1 - c0), sizeof *acc);
    for (int h = 0; h < heads; h++) {
      if (x) frozen_outputs(m, ds, x, heads > 1 ? h : RK_HEAD_ALL, z);
      else if (use_dual && heads > 1) rk_dual_embed(&m->dual_fold[h], m->tk, &m->dc, ds, part, threads, z);
      else if (use_dual) rk_model_dual_vectors(m, ds, part, threads, z);
      /* the notebook model's distributions (log-probabilities), one notebook at a time: its
       * activations are shared; before the slot ranker, or from its distributions after it */
      float **nlp = m->has_nbm ? ordo_calloc((size_t)(c1 - c0), sizeof *nlp) : NULL;
      for (int32_t i = c0; i < c1 && nbm_pre; i++) {
        if (!part[i]) continue;
        const nb_notebook *nb = &ds->nbs[i];
        size_t R = (size_t)nb->n_md * (nb->n_code + 1) + 1;
        float *base = ordo_malloc(R * sizeof *base);
        rk_dual_logprobs(nb, z[i], m->dc.dim, base);
        nlp[i - c0] = ordo_malloc(R * sizeof **nlp);
        rk_nbm_logprobs(&m->nbm, nb, z[i], m->dc.dim, base, nlp[i - c0]);
        free(base);
      }
#pragma omp parallel num_threads(threads)
      {
        rk_slot_work w = {0};
        rk_lex sim;
#pragma omp for schedule(dynamic, 4)
        for (int32_t i = c0; i < c1; i++) {
          if (!part[i]) continue;
          const nb_notebook *nb = &ds->nbs[i];
          size_t R = (size_t)nb->n_md * (nb->n_code + 1) + 1;
          float *prob = ordo_malloc(R * sizeof *prob);
          if (m->dual_only) {
            rk_dual_logprobs(nb, z[i], m->dc.dim, prob);
            for (size_t k = 0; k + 1 < R; k++) prob[k] = expf(prob[k]);
          } else if (alone) {
            for (size_t k = 0; k + 1 < R; k++) prob[k] = expf(nlp[i - c0][k]);
          } else {
            rk_lex_compute(&sim, &tf, m->has_prior ? &m->prior : NULL, nb);
            if (m->slot.use_dense && x) rk_lex_dense(&sim, nb, x[i], m->fz.in);
            else if (m->slot.use_dense) rk_lex_dense(&sim, nb, z[i], 2 * m->dc.dim);
            if (use_dual && m->slot.use_dual) {
              sim.dual = ordo_malloc(R * sizeof *sim.dual);
              rk_dual_logprobs(nb, z[i], m->dc.dim, sim.dual);
            }
            if (nbm_pre) sim.nbm = nlp[i - c0], nlp[i - c0] = NULL; /* freed with sim */
            rk_slot_predict_nb(&m->slot, nb, &sim, pp ? pp[i] : NULL, &w, prob);
            rk_lex_free(&sim);
          }
          if (nbm_post) { /* the notebook model's base, after this loop */
            for (size_t k = 0; k + 1 < R; k++) prob[k] = logf(prob[k] + 1e-30f);
            nlp[i - c0] = prob;
          } else {
            acc_add(&acc[i - c0], prob, R - 1);
          }
          if (z && !nbm_post) free(z[i]), z[i] = NULL;
        }
        rk_slot_work_free(&w);
      }
      for (int32_t i = c0; i < c1 && nbm_post; i++) {
        if (!part[i]) continue;
        const nb_notebook *nb = &ds->nbs[i];
        size_t R = (size_t)nb->n_md * (nb->n_code + 1);
        float *lp = ordo_malloc((R + 1) * sizeof *lp);
        rk_nbm_logprobs(&m->nbm, nb, z[i], m->dc.dim, nlp[i - c0], lp);
        for (size_t k = 0; k < R; k++) lp[k] = expf(lp[k]);
        acc_add(&acc[i - c0], lp, R);
        free(z[i]);
        z[i] = NULL;
      }
      free_rows(nlp, c1 - c0);
    }
    free_rows(x, ds->n);
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads)
    for (int32_t i = c0; i < c1; i++) {
      if (!part[i]) continue;
      const nb_notebook *nb = &ds->nbs[i];
      float *prob = acc[i - c0];
      size_t R = (size_t)nb->n_md * (nb->n_code + 1);
      for (size_t k = 0; k < R && heads > 1; k++) prob[k] /= (float)heads;
      md_pos[i] = ordo_malloc((size_t)(nb->n_md + 1) * sizeof **md_pos);
      if (m->dual_only) rk_slot_decode(nb, prob, md_pos[i]);
      else decode(m, nb, i, prob, md_pos);
      if (m->progress) {
#pragma omp critical(rk_predict_progress)
        progress_update(&pb, ++n_done, NULL);
      }
    }
    free_rows(acc, c1 - c0);
  }
  if (m->progress) progress_finish(&pb, NULL);
  free(part), free(z);
  if (!alone) ai4_tfidf_free(&tf);
  free_rows(pp, pp ? ds->n : 0);
}
