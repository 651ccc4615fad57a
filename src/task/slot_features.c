/* Features of a (markdown, slot) placement, built from the per-notebook similarity matrices. */
#include <math.h>

#include "ordo/ai4code.h"

const char *ai4_slot_feature_name(int k) {
  static const char *const names[AI4_SLOT_NFEAT] = {
      "cos_next", "cos_prev", "bm25_next", "bm25_prev", "cos_next_gap", "cos_next_rank",
      "best_dist", "cos_window", "slot_rel", "is_first", "is_last", "log_n_code", "log_n_md",
      "md_heading", "md_log_len"};
  ORDO_CHECK(k >= 0 && k < AI4_SLOT_NFEAT);
  return names[k];
}

void ai4_slot_features(const ai4_nb_sim *sim, const nb_notebook *nb, int32_t m, int32_t s, float *out) {
  int32_t nc = sim->n_code;
  ORDO_CHECK(m >= 0 && m < sim->n_md && s >= 0 && s <= nc && nc == nb->n_code);
  const float *cos = sim->cos + (size_t)m * nc, *bm = sim->bm25 + (size_t)m * nc;
  float best = 0, win = 0;
  int32_t arg = 0, rank = 0;
  for (int32_t c = 0; c < nc; c++)
    if (cos[c] > best) best = cos[c], arg = c;
  float next = s < nc ? cos[s] : 0;
  for (int32_t c = 0; c < nc && s < nc; c++) rank += cos[c] > next;
  for (int32_t c = s; c < nc && c < s + 3; c++) win = cos[c] > win ? cos[c] : win;
  const nb_cell *md = &nb->cells[nb->n_code + m];
  const char *p = md->source;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  out[AI4_SF_COS_NEXT] = next;
  out[AI4_SF_COS_PREV] = s > 0 ? cos[s - 1] : 0;
  out[AI4_SF_BM25_NEXT] = s < nc ? bm[s] : 0;
  out[AI4_SF_BM25_PREV] = s > 0 ? bm[s - 1] : 0;
  out[AI4_SF_COS_NEXT_GAP] = best - next;
  out[AI4_SF_COS_NEXT_RANK] = s < nc ? (float)rank / (float)nc : 1.0f;
  out[AI4_SF_BEST_DIST] = best > 0 ? (float)(s - arg) / (float)(nc + 1) : 0;
  out[AI4_SF_COS_WINDOW] = win;
  out[AI4_SF_SLOT_REL] = nc ? (float)s / (float)nc : 0;
  out[AI4_SF_IS_FIRST] = s == 0;
  out[AI4_SF_IS_LAST] = s == nc;
  out[AI4_SF_LOG_N_CODE] = logf(1.0f + (float)nc);
  out[AI4_SF_LOG_N_MD] = logf(1.0f + (float)sim->n_md);
  out[AI4_SF_MD_HEADING] = *p == '#';
  out[AI4_SF_MD_LOG_LEN] = logf(1.0f + (float)md->len);
}
