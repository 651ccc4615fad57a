/* Ranker model directories: ranker.json, the pointwise and dual encoders, the frozen route's parts
 * and the notebook-level model (prediction over a dataset: ranker_predict.c). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/files.h"
#include "ordo/json_file.h"
#include "ordo/ranker.h"

#define RK_FORMAT "ordo-ai4code-ranker"
#define RK_VERSION 1

static cJSON *float_array(const float *x, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)x[i]));
  return a;
}

int rk_save_meta(const rk_model *m, const rk_train_result *res, const char *dir, ordo_err *e);
int rk_save_meta(const rk_model *m, const rk_train_result *res, const char *dir, ordo_err *e) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", RK_FORMAT);
  cJSON_AddNumberToObject(root, "version", RK_VERSION);
  cJSON *s = cJSON_AddObjectToObject(root, "slot");
  cJSON_AddNumberToObject(s, "features", RK_NFEAT);
  cJSON_AddNumberToObject(s, "hidden", m->slot.hidden);
  cJSON_AddBoolToObject(s, "use_point", m->slot.use_point);
  cJSON_AddBoolToObject(s, "use_dual", m->slot.use_dual);
  cJSON_AddBoolToObject(s, "use_notebook", m->slot.use_nbm);
  cJSON_AddBoolToObject(s, "use_dense", m->slot.use_dense);
  cJSON_AddBoolToObject(s, "use_prior", m->has_prior);
  cJSON_AddBoolToObject(s, "stem", m->stem);
  const ordo_params *p = &m->slot.params;
  cJSON_AddItemToObject(s, "w1", float_array(params_data(p, m->slot.w1), m->slot.hidden * RK_NFEAT));
  cJSON_AddItemToObject(s, "b1", float_array(params_data(p, m->slot.b1), m->slot.hidden));
  cJSON_AddItemToObject(s, "w2", float_array(params_data(p, m->slot.w2), m->slot.hidden));
  cJSON_AddItemToObject(s, "b2", float_array(params_data(p, m->slot.b2), 1));
  if (m->has_point) {
    cJSON *pc = cJSON_AddObjectToObject(root, "point");
    cJSON_AddNumberToObject(pc, "md_tokens", m->pc.md_tokens);
    cJSON_AddNumberToObject(pc, "n_code", m->pc.n_code);
    cJSON_AddNumberToObject(pc, "code_tokens", m->pc.code_tokens);
    cJSON_AddNumberToObject(pc, "seq", m->pc.seq);
  }
  if (m->has_dual) {
    cJSON *dc = cJSON_AddObjectToObject(root, "dual");
    cJSON_AddNumberToObject(dc, "md_tokens", m->dc.md_tokens);
    cJSON_AddNumberToObject(dc, "code_tokens", m->dc.code_tokens);
    cJSON_AddNumberToObject(dc, "dim", m->dc.dim);
    if (m->dual_frozen) { /* the encoder in DIR/frozen, the MLPs in DIR/dual/head.safetensors */
      cJSON *fz = cJSON_AddObjectToObject(dc, "frozen");
      cJSON_AddStringToObject(fz, "pooling", rk_pool_name(m->fz.pool));
      cJSON_AddNumberToObject(fz, "hidden", m->fz.hidden);
      if (m->fz.folds > 1) { /* their files DIR/dual/head_fold<k>.safetensors */
        cJSON_AddNumberToObject(fz, "folds", m->fz.folds);
        cJSON_AddBoolToObject(fz, "fold_mean", m->fold_mean);
      }
    } else if (m->dual_folds > 1) { /* the folds' encoders in DIR/dual_fold<k> */
      cJSON_AddNumberToObject(dc, "folds", m->dual_folds);
      cJSON_AddBoolToObject(dc, "fold_mean", m->fold_mean);
      char hash[17];
      snprintf(hash, sizeof hash, "%016llx", (unsigned long long)m->fold_hash);
      cJSON_AddStringToObject(dc, "fold_hash", hash);
    }
  }
  if (m->has_nbm) /* its files in DIR/notebook */
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "notebook"), "over",
                            m->nbm_over_slot ? "slot" : "dual");
  cJSON *dj = cJSON_AddObjectToObject(root, "decode");
  cJSON_AddBoolToObject(dj, "joint", m->decode_joint);
  float first[RK_HCLASSES * RK_HCLASSES];
  for (int k = 0; k < RK_HCLASSES * RK_HCLASSES; k++)
    first[k] = (float)m->mdo.first[k / RK_HCLASSES][k % RK_HCLASSES];
  cJSON_AddItemToObject(dj, "same_slot_first", float_array(first, RK_HCLASSES * RK_HCLASSES));
  if (res) {
    cJSON *r = cJSON_AddObjectToObject(root, "validation");
    cJSON_AddNumberToObject(r, "tau_notebook", res->tau_nbm);
    cJSON_AddNumberToObject(r, "tau_slot", res->tau_slot);
    cJSON_AddNumberToObject(r, "tau_lexical", res->tau_lex);
    cJSON_AddNumberToObject(r, "tau_dual", res->tau_dual);
    cJSON_AddNumberToObject(r, "tau_point", res->tau_point);
    cJSON_AddNumberToObject(r, "point_steps", (double)res->point_steps);
  }
  char *txt = cJSON_Print(root);
  cJSON_Delete(root);
  char path[4096];
  snprintf(path, sizeof path, "%s/ranker.json", dir);
  int rc = ordo_write_file_atomic(path, txt, strlen(txt), e);
  free(txt);
  return rc;
}

static int get_int(const cJSON *o, const char *key, const char *file, int lo, int hi, int *out,
                   ordo_err *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      v->valuedouble != floor(v->valuedouble))
    return ordo_fail(e, "%s: \"%s\": expected an integer in [%d, %d]", file, key, lo, hi);
  *out = (int)v->valuedouble;
  return 0;
}

static int get_floats(const cJSON *o, const char *key, const char *file, float *out, int n,
                      ordo_err *e) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
    return ordo_fail(e, "%s: \"%s\": expected an array of %d numbers", file, key, n);
  int i = 0;
  const cJSON *v;
  cJSON_ArrayForEach(v, a) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
      return ordo_fail(e, "%s: \"%s\"[%d]: expected a finite number", file, key, i);
    out[i++] = (float)v->valuedouble;
  }
  return 0;
}

/* A ranker's encoder from DIR/config.json and DIR/model.safetensors, checked against what the
 * ranker needs: its head's outputs and feature inputs, token types, and complete head weights. */
static int load_encoder(enc_model *m, const char *dir, int num_labels, int head_features,
                        int type_vocab, const char *what, const ordo_backend *be, ordo_err *e) {
  enc_config cfg;
  char path[4400];
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (hfconfig_load(&cfg, path, e) != 0) return -1;
  if (cfg.num_labels != num_labels || cfg.head_features != head_features ||
      cfg.type_vocab_size < type_vocab)
    return ordo_fail(e, "%s: num_labels %d, ordo_head_features %d, type_vocab_size %d; %s needs %d, "
                     "%d and at least %d", path, cfg.num_labels, cfg.head_features,
                     cfg.type_vocab_size, what, num_labels, head_features, type_vocab);
  if (enc_init(m, &cfg, ENC_HEAD_CLS, be, e) != 0) return -1;
  int missing = 0;
  if (enc_load(m, dir, &missing, e) != 0 ||
      (missing && ordo_fail(e, "%s/model.safetensors: the weights of %s's head are missing", dir, what))) {
    enc_free(m);
    return -1;
  }
  return 0;
}

int rk_dual_load(enc_model *m, const char *dir, const char *name, const rk_dual_config *dc,
                 const ordo_backend *be, ordo_err *e) {
  char sub[4200];
  snprintf(sub, sizeof sub, "%s/%s", dir, name);
  if (load_encoder(m, sub, 2 * dc->dim, 0, 2, "the dual encoder", be, e) != 0) return -1;
  int per = dc->md_tokens > dc->code_tokens ? dc->md_tokens : dc->code_tokens;
  if (enc_check_seq(&m->cfg, per + 2, e) != 0) {
    enc_free(m);
    return ordo_err_prefix(e, "%s: dual cells of %d tokens", sub, per);
  }
  enc_plan(m, 256, per + 2, 0);
  return 0;
}

/* The notebook-level model of DIR/notebook, over cell vectors of in_dim. */
static int nbm_load(enc_model *m, const char *dir, int in_dim, const ordo_backend *be,
                    ordo_err *e) {
  enc_config cfg;
  char path[4400];
  snprintf(path, sizeof path, "%s/notebook/config.json", dir);
  if (hfconfig_load(&cfg, path, e) != 0) return -1;
  if (cfg.embedding_size != in_dim + RK_NBM_EXTRA || cfg.max_position_embeddings != RK_NBM_MAX_CELLS + 1 ||
      cfg.hidden_size % 2 != 0)
    return ordo_fail(e, "%s: embedding_size %d, max_position_embeddings %d, hidden_size %d; the "
                     "notebook model needs %d, %d and an even size", path, cfg.embedding_size,
                     cfg.max_position_embeddings, cfg.hidden_size, in_dim + RK_NBM_EXTRA,
                     RK_NBM_MAX_CELLS + 1);
  if (enc_init(m, &cfg, 0, be, e) != 0) return -1;
  snprintf(path, sizeof path, "%s/notebook", dir);
  if (enc_load(m, path, NULL, e) != 0) {
    enc_free(m);
    return -1;
  }
  enc_plan(m, 1, RK_NBM_MAX_CELLS, 0);
  return 0;
}

/* The frozen route's parts of model DIR (ranker.json's "dual": "frozen" object fz): the
 * encoder of DIR/frozen, its cell vectors cached there, the MLPs of DIR/dual (and the
 * cross-fitted folds' there, with how predictions use them into *fold_mean). */
static int frozen_load(rk_frozen *f, int *fold_mean, const char *dir, const cJSON *fz,
                       const rk_dual_config *dc, const ordo_backend *be, const char *file,
                       ordo_err *e) {
  const cJSON *pool = cJSON_GetObjectItemCaseSensitive(fz, "pooling");
  rk_pool pl = RK_POOL_MEAN;
  int hidden = 0, folds = 0;
  if (!cJSON_IsString(pool) || rk_pool_parse(pool->valuestring, &pl) != 0)
    return ordo_fail(e, "%s: \"dual\": \"frozen\": \"pooling\": expected \"mean\" or \"first\"", file);
  if (get_int(fz, "hidden", file, 1, 65536, &hidden, e) != 0) return -1;
  /* absent in models made before cross-fitting: none */
  if (cJSON_GetObjectItemCaseSensitive(fz, "folds") &&
      get_int(fz, "folds", file, 2, RK_MAX_FOLDS, &folds, e) != 0)
    return -1;
  *fold_mean = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fz, "fold_mean"));
  char sub[4200], tokp[4200], cache[4300];
  snprintf(sub, sizeof sub, "%s/frozen", dir);
  snprintf(tokp, sizeof tokp, "%s/tokenizer.json", dir);
  snprintf(cache, sizeof cache, "%s/cell_vectors.safetensors", sub);
  if (rk_frozen_open(f, sub, tokp, pl, dc, hidden, be, e) != 0) return -1;
  rk_frozen_set_folds(f, folds);
  int rc = rk_frozen_head_load(f, dir, RK_HEAD_ALL, e);
  for (int k = 0; k < folds && rc == 0; k++) rc = rk_frozen_head_load(f, dir, k, e);
  if (rc != 0 || rk_frozen_cache_load(f, cache, e) != 0) {
    rk_frozen_free(f);
    return -1;
  }
  return 0;
}

/* A trained dual encoder's cross-fitting folds (ranker.json's "dual" object dc: "folds", absent
 * in models made before them, and "fold_mean"), their encoders from DIR/dual_fold<k>. */
static int dual_folds_load(rk_model *m, const char *dir, const cJSON *dc, const ordo_backend *be,
                           const char *file, ordo_err *e) {
  int folds = 0;
  if (cJSON_GetObjectItemCaseSensitive(dc, "folds") &&
      get_int(dc, "folds", file, 2, RK_MAX_FOLDS, &folds, e) != 0)
    return -1;
  m->fold_mean = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dc, "fold_mean"));
  if (folds > 0) m->dual_fold = ordo_calloc((size_t)folds, sizeof *m->dual_fold);
  for (int k = 0; k < folds; k++) {
    char name[32];
    snprintf(name, sizeof name, "dual_fold%d", k + 1);
    if (rk_dual_load(&m->dual_fold[k], dir, name, &m->dc, be, e) != 0) return -1;
    m->dual_folds = k + 1;
  }
  return 0;
}

int rk_dual_folds_of(const char *dir, int *folds, uint64_t *hash, ordo_err *e) {
  *folds = 0, *hash = 0;
  char path[4400];
  snprintf(path, sizeof path, "%s/ranker.json", dir);
  if (!ordo_is_file(path)) {
    snprintf(path, sizeof path, "%s/dual_fold1", dir);
    return ordo_is_dir(path) ? ordo_fail(e, "%s/ranker.json: missing (an unfinished run?): the "
                                         "folds' encoders of %s cannot be checked", dir, dir) : 0;
  }
  cJSON *root = ordo_json_read(path, e);
  if (!root) return -1;
  const cJSON *dc = cJSON_GetObjectItemCaseSensitive(root, "dual");
  const cJSON *fh = cJSON_IsObject(dc) ? cJSON_GetObjectItemCaseSensitive(dc, "fold_hash") : NULL;
  int rc = 0;
  if (cJSON_IsObject(dc) && cJSON_GetObjectItemCaseSensitive(dc, "folds") &&
      !cJSON_GetObjectItemCaseSensitive(dc, "frozen")) {
    char *end = NULL;
    if (cJSON_IsString(fh)) *hash = strtoull(fh->valuestring, &end, 16);
    if (get_int(dc, "folds", path, 2, RK_MAX_FOLDS, folds, e) != 0) rc = -1;
    else if (!end || *end || end == fh->valuestring)
      rc = ordo_fail(e, "%s: \"dual\": \"fold_hash\": expected 16 hex digits", path);
  }
  cJSON_Delete(root);
  return rc;
}

int rk_model_fold_heads(const rk_model *m) {
  int folds = m->dual_frozen ? m->fz.folds : m->dual_folds;
  return m->has_dual && folds > 1 ? folds : 1;
}

int rk_model_load(rk_model *m, const char *dir, const ordo_backend *be, ordo_err *e) {
  memset(m, 0, sizeof *m);
  char path[4400];
  snprintf(path, sizeof path, "%s/ranker.json", dir);
  cJSON *root = ordo_json_read(path, e);
  if (!root) return -1;
  int rc = -1, hidden = 0, feats = 0;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, RK_FORMAT) != 0) {
    ordo_fail(e, "%s: \"format\": expected \"%s\"", path, RK_FORMAT);
    goto done;
  }
  int ver;
  if (get_int(root, "version", path, RK_VERSION, RK_VERSION, &ver, e) != 0) goto done;
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "slot");
  if (!cJSON_IsObject(s)) {
    ordo_fail(e, "%s: \"slot\": expected an object", path);
    goto done;
  }
  if (get_int(s, "features", path, RK_NFEAT_LEX, RK_NFEAT, &feats, e) != 0) goto done;
  /* get_int bounds it to [RK_NFEAT_LEX, RK_NFEAT]: features are only ever appended, so a model
   * made before some of them (48: before the dense ones, 57: before the flow ones, or part of
   * the flow ones) reads the first `feats` and gets zero weights for the rest */
  if (get_int(s, "hidden", path, 1, 4096, &hidden, e) != 0) goto done;
  rk_slot_init(&m->slot, hidden, ops_cpu_ref());
  m->slot.use_point = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "use_point"));
  m->slot.use_dual = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "use_dual"));
  m->slot.use_nbm = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "use_notebook"));
  m->slot.use_dense = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "use_dense"));
  ordo_params *p = &m->slot.params;
  /* w1 (hidden, feats); a model of fewer features gets zero weights for the others */
  float *w1 = ordo_malloc((size_t)hidden * feats * sizeof *w1);
  int w1_rc = get_floats(s, "w1", path, w1, hidden * feats, e);
  float *dst = params_data(p, m->slot.w1);
  memset(dst, 0, (size_t)hidden * RK_NFEAT * sizeof *dst);
  for (int o = 0; o < hidden && w1_rc == 0; o++)
    memcpy(dst + (size_t)o * RK_NFEAT, w1 + (size_t)o * feats, (size_t)feats * sizeof *w1);
  free(w1);
  if (w1_rc ||
      get_floats(s, "b1", path, params_data(p, m->slot.b1), hidden, e) ||
      get_floats(s, "w2", path, params_data(p, m->slot.w2), hidden, e) ||
      get_floats(s, "b2", path, params_data(p, m->slot.b2), 1, e))
    goto done;
  m->stem = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "stem")); /* absent: made before */
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "use_prior"))) {
    char pp[4200];
    snprintf(pp, sizeof pp, "%s/term_prior.json", dir);
    if (rk_term_prior_load(&m->prior, pp, e) != 0) goto done;
    m->has_prior = 1;
    if (m->prior.stem != m->stem) {
      ordo_fail(e, "%s: its terms are %sstemmed, but ranker.json's \"slot\" says \"stem\": %s",
                pp, m->prior.stem ? "" : "not ", m->stem ? "true" : "false");
      goto done;
    }
  }
  const cJSON *pc = cJSON_GetObjectItemCaseSensitive(root, "point");
  if (m->slot.use_point && !cJSON_IsObject(pc)) {
    ordo_fail(e, "%s: \"point\": the slot model uses a pointwise model but none is described", path);
    goto done;
  }
  if (cJSON_IsObject(pc)) {
    if (get_int(pc, "md_tokens", path, 1, 4096, &m->pc.md_tokens, e) ||
        get_int(pc, "n_code", path, 0, 4096, &m->pc.n_code, e) ||
        get_int(pc, "code_tokens", path, 1, 4096, &m->pc.code_tokens, e) ||
        get_int(pc, "seq", path, 4, 8192, &m->pc.seq, e))
      goto done;
    if (tok_load(&m->tk, dir, e) != 0) goto done;
    if (load_encoder(&m->enc, dir, 1, RK_POINT_NFEAT, 1, "the pointwise ranker", be, e) != 0) goto done;
    m->has_point = 1;
    if (enc_check_seq(&m->enc.cfg, m->pc.seq, e) != 0) {
      ordo_err_prefix(e, "%s: pointwise \"seq\" %d", path, m->pc.seq);
      goto done;
    }
    enc_plan(&m->enc, 32, m->pc.seq, 0);
  }
  const cJSON *dc = cJSON_GetObjectItemCaseSensitive(root, "dual");
  const cJSON *dj = cJSON_GetObjectItemCaseSensitive(root, "decode");
  if (cJSON_IsObject(dj)) { /* absent in models made before it: the weighted medians */
    float first[RK_HCLASSES * RK_HCLASSES];
    if (get_floats(dj, "same_slot_first", path, first, RK_HCLASSES * RK_HCLASSES, e) != 0) goto done;
    for (int k = 0; k < RK_HCLASSES * RK_HCLASSES; k++) {
      if (!(first[k] > 0 && first[k] < 1)) {
        ordo_fail(e, "%s: \"decode\": \"same_slot_first\"[%d]: expected a probability in (0, 1)", path, k);
        goto done;
      }
      m->mdo.first[k / RK_HCLASSES][k % RK_HCLASSES] = first[k];
    }
    m->decode_joint = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dj, "joint"));
  }
  const cJSON *nc = cJSON_GetObjectItemCaseSensitive(root, "notebook");
  if ((m->slot.use_dual || m->slot.use_nbm || cJSON_IsObject(nc)) && !cJSON_IsObject(dc)) {
    ordo_fail(e, "%s: \"dual\": the slot model uses a dual encoder but none is described", path);
    goto done;
  }
  if (cJSON_IsObject(dc)) {
    if (get_int(dc, "md_tokens", path, 1, 4096, &m->dc.md_tokens, e) ||
        get_int(dc, "code_tokens", path, 1, 4096, &m->dc.code_tokens, e) ||
        get_int(dc, "dim", path, 1, 4096, &m->dc.dim, e))
      goto done;
    if (!m->tk && tok_load(&m->tk, dir, e) != 0) goto done;
    const cJSON *fz = cJSON_GetObjectItemCaseSensitive(dc, "frozen");
    if (fz) {
      if (frozen_load(&m->fz, &m->fold_mean, dir, fz, &m->dc, be, path, e) != 0) goto done;
      m->dual_frozen = 1;
    } else {
      if (rk_dual_load(&m->dual, dir, "dual", &m->dc, be, e) != 0) goto done;
      m->has_dual = 1; /* from here on freed with the model */
      if (dual_folds_load(m, dir, dc, be, path, e) != 0) goto done;
    }
    m->has_dual = 1;
  }
  if (m->slot.use_dense && !m->has_dual) {
    ordo_fail(e, "%s: \"use_dense\": the slot model reads the cell vectors' similarities but the "
              "model has no dual encoder (\"dual\")", path);
    goto done;
  }
  if (m->slot.use_nbm && !cJSON_IsObject(nc)) {
    ordo_fail(e, "%s: \"notebook\": the slot model uses a notebook model but none is described", path);
    goto done;
  }
  if (cJSON_IsObject(nc)) {
    const cJSON *over = cJSON_GetObjectItemCaseSensitive(nc, "over");
    if (!cJSON_IsString(over) || (strcmp(over->valuestring, "slot") && strcmp(over->valuestring, "dual"))) {
      ordo_fail(e, "%s: \"notebook\": \"over\": expected \"slot\" or \"dual\"", path);
      goto done;
    }
    m->nbm_over_slot = strcmp(over->valuestring, "slot") == 0;
    if (m->nbm_over_slot && m->slot.use_nbm) {
      ordo_fail(e, "%s: a notebook model over the slot ranker cannot be the slot ranker's evidence", path);
      goto done;
    }
    if (nbm_load(&m->nbm, dir, 2 * m->dc.dim, be, e) != 0) goto done;
    m->has_nbm = 1;
  }
  rc = 0;
done:
  cJSON_Delete(root);
  if (rc) rk_model_free(m);
  return rc;
}

void rk_model_free(rk_model *m) {
  rk_slot_free(&m->slot);
  rk_term_prior_free(&m->prior);
  if (m->has_point) enc_free(&m->enc);
  if (m->has_dual && m->dual_frozen) rk_frozen_free(&m->fz);
  else if (m->has_dual) enc_free(&m->dual);
  for (int k = 0; k < m->dual_folds; k++) enc_free(&m->dual_fold[k]);
  free(m->dual_fold);
  if (m->has_nbm) enc_free(&m->nbm);
  tok_free(m->tk);
  memset(m, 0, sizeof *m);
}
