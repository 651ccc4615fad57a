/* The frozen route's encoder side (ranker.h, rk_frozen): a pretrained encoder run once per cell
 * text, its pooled vectors kept in a cache keyed by the text, the cache written to and read from
 * a safetensors file whose metadata names what the vectors come from. */
#include <string.h>

#include "ordo/files.h"
#include "ordo/progress.h"
#include "ordo/ranker.h"
#include "ordo/safetensors.h"

static const char *const pool_names[] = {"head", "mean", "first"};

const char *rk_pool_name(rk_pool p) { return pool_names[p]; }

int rk_pool_parse(const char *s, rk_pool *out) {
  if (strcmp(s, "mean") == 0) return *out = RK_POOL_MEAN, 0;
  if (strcmp(s, "first") == 0) return *out = RK_POOL_FIRST, 0;
  return -1;
}

int rk_frozen_check_init(const char *dir, ordo_err *e) {
  char path[4200];
  if (!ordo_is_dir(dir)) return ordo_fail(e, "--init %s: not a folder", dir);
  snprintf(path, sizeof path, "%s/config.json", dir);
  enc_config cfg;
  if (hfconfig_load(&cfg, path, e) != 0) return ordo_err_prefix(e, "--init %s", dir);
  if (enc_is_causal(&cfg))
    return ordo_fail(e, "--init %s: model_type \"%s\" is a decoder; the dual encoder starts from "
                     "a BERT-family encoder (bert, roberta, electra, albert, roformer)", dir,
                     cfg.model_type);
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  if (!ordo_is_file(path))
    return ordo_fail(e, "--init %s: no tokenizer.json (the checkpoint's cells must be encoded "
                     "with its own tokenizer)", dir);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if (!ordo_is_file(path)) return ordo_fail(e, "--init %s: no model.safetensors", dir);
  return 0;
}

int rk_frozen_open(rk_frozen *f, const char *enc_dir, const char *tok_path, rk_pool pool,
                   const rk_dual_config *dc, int hidden, const ordo_backend *be, ordo_err *e) {
  memset(f, 0, sizeof *f);
  enc_config cfg;
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", enc_dir);
  if (hfconfig_load(&cfg, path, e) != 0) return -1;
  if (enc_is_causal(&cfg))
    return ordo_fail(e, "%s: model_type \"%s\" is a decoder, not a BERT-family encoder", path,
                     cfg.model_type);
  int per = dc->md_tokens > dc->code_tokens ? dc->md_tokens : dc->code_tokens;
  if (enc_init(&f->enc, &cfg, 0, be, e) != 0) return -1;
  if (enc_check_seq(&f->enc.cfg, per + 2, e) != 0 || enc_load(&f->enc, enc_dir, NULL, e) != 0) {
    enc_free(&f->enc);
    return ordo_err_prefix(e, "%s", enc_dir);
  }
  size_t tlen;
  char *tj = ordo_read_file(tok_path, &tlen, e);
  if (!tj) {
    enc_free(&f->enc);
    return -1;
  }
  uint64_t th = ordo_fnv1a(ORDO_FNV_OFFSET, tj, tlen);
  free(tj);
  params_download(&f->enc.params);
  enc_plan(&f->enc, 256, per + 2, 0);
  f->pool = pool;
  f->in = cfg.hidden_size;
  snprintf(f->ident, sizeof f->ident,
           "weights %016llx, tokenizer %016llx, pooling %s, tokens %d/%d, width %d",
           (unsigned long long)params_checksum(&f->enc.params), (unsigned long long)th,
           rk_pool_name(pool), dc->md_tokens, dc->code_tokens, f->in);
  f->cache.width = f->in;
  rk_frozen_head_alloc(f, f->in, hidden, dc->dim);
  return 0;
}

void rk_frozen_head_alloc(rk_frozen *f, int in, int hidden, int dim) {
  f->in = in, f->hidden = hidden, f->dim = dim;
  params_init(&f->params);
  static const char *const side[2] = {"code", "markdown"};
  for (int s = 0; s < 2; s++) {
    char n[64];
    int64_t s1[2] = {hidden, in}, s2[1] = {hidden}, s3[2] = {2 * dim, hidden}, s4[1] = {2 * dim};
    snprintf(n, sizeof n, "%s.w1", side[s]), f->w1[s] = params_add(&f->params, n, 2, s1, 0);
    snprintf(n, sizeof n, "%s.b1", side[s]), f->b1[s] = params_add(&f->params, n, 1, s2, ORDO_PF_NO_DECAY);
    snprintf(n, sizeof n, "%s.w2", side[s]), f->w2[s] = params_add(&f->params, n, 2, s3, 0);
    snprintf(n, sizeof n, "%s.b2", side[s]), f->b2[s] = params_add(&f->params, n, 1, s4, ORDO_PF_NO_DECAY);
  }
  params_alloc(&f->params);
}

static void cache_free(rk_vec_cache *c) {
  free(c->keys), free(c->vec), free(c->table);
  int w = c->width;
  memset(c, 0, sizeof *c);
  c->width = w;
}

void rk_frozen_free(rk_frozen *f) {
  enc_free(&f->enc);
  params_free(&f->params);
  cache_free(&f->cache);
  free(f->fold_w);
  memset(f, 0, sizeof *f);
}

/* ---- the cache ------------------------------------------------------------------------------ */
static int64_t cache_find(const rk_vec_cache *c, uint64_t key) {
  if (!c->tcap) return -1;
  for (int64_t h = (int64_t)(key & (uint64_t)(c->tcap - 1));; h = (h + 1) & (c->tcap - 1)) {
    int64_t r = c->table[h] - 1;
    if (r < 0) return -1;
    if (c->keys[r] == key) return r;
  }
}

static void cache_index(rk_vec_cache *c, int64_t r) {
  int64_t h = (int64_t)(c->keys[r] & (uint64_t)(c->tcap - 1));
  while (c->table[h]) h = (h + 1) & (c->tcap - 1);
  c->table[h] = r + 1;
}

/* A new row for key (not present): its vector is left for the caller to fill. */
static float *cache_add(rk_vec_cache *c, uint64_t key) {
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 4096;
    c->keys = ordo_realloc(c->keys, (size_t)c->cap * sizeof *c->keys);
    c->vec = ordo_realloc(c->vec, ((size_t)c->cap * c->width + 1) * sizeof *c->vec);
  }
  if (2 * (c->n + 1) > c->tcap) { /* at most half full */
    free(c->table);
    c->tcap = c->tcap ? 2 * c->tcap : 8192;
    while (c->tcap < 2 * c->cap) c->tcap *= 2;
    c->table = ordo_calloc((size_t)c->tcap, sizeof *c->table);
    for (int64_t r = 0; r < c->n; r++) cache_index(c, r);
  }
  c->keys[c->n] = key;
  cache_index(c, c->n);
  return c->vec + (size_t)c->n++ * c->width;
}

int rk_frozen_cache_load(rk_frozen *f, const char *path, ordo_err *e) {
  if (!ordo_is_file(path)) return 0;
  st_file sf;
  if (st_open(&sf, path, e) != 0) return -1;
  const char *id = st_metadata(&sf, "ordo_cell_vectors");
  if (!id || strcmp(id, f->ident) != 0) {
    ordo_fail(e, "%s: cell vectors of %s; this model's are of %s: remove the file to compute "
              "them anew", path, id ? id : "an unnamed origin", f->ident);
    st_close(&sf);
    return -1;
  }
  const st_tensor *k = st_find(&sf, "keys");
  int64_t n = k && k->ndim == 2 ? k->shape[0] : -1;
  int rc = -1;
  if (n < 0) {
    ordo_fail(e, "%s: no \"keys\" tensor of shape (n, 2)", path);
  } else {
    int64_t ks[2] = {n, 2}, vs[2] = {n, f->in};
    int32_t *kk = ordo_malloc((size_t)(2 * n + 1) * sizeof *kk);
    float *vv = ordo_malloc((size_t)(n * f->in + 1) * sizeof *vv);
    if (st_read_i32(&sf, "keys", kk, 2, ks, e) == 0 && st_read_f32(&sf, "vectors", vv, 2, vs, e) == 0) {
      cache_free(&f->cache);
      for (int64_t r = 0; r < n; r++) {
        uint64_t key = (uint64_t)(uint32_t)kk[2 * r] << 32 | (uint32_t)kk[2 * r + 1];
        if (cache_find(&f->cache, key) >= 0) continue;
        memcpy(cache_add(&f->cache, key), vv + (size_t)r * f->in, (size_t)f->in * sizeof *vv);
      }
      rc = 0;
    }
    free(kk), free(vv);
  }
  st_close(&sf);
  return rc;
}

int rk_frozen_cache_save(const rk_frozen *f, const char *path, ordo_err *e) {
  const rk_vec_cache *c = &f->cache;
  int32_t *kk = ordo_malloc((size_t)(2 * c->n + 1) * sizeof *kk);
  for (int64_t r = 0; r < c->n; r++)
    kk[2 * r] = (int32_t)(uint32_t)(c->keys[r] >> 32), kk[2 * r + 1] = (int32_t)(uint32_t)c->keys[r];
  int64_t ks[2] = {c->n, 2}, vs[2] = {c->n, f->in};
  st_writer w;
  st_writer_init(&w);
  st_writer_add(&w, "keys", ORDO_DT_I32, 2, ks, kk);
  st_writer_add(&w, "vectors", ORDO_DT_F32, 2, vs, c->vec ? (const void *)c->vec : (const void *)kk);
  st_writer_meta(&w, "ordo_cell_vectors", f->ident);
  int rc = st_writer_save(&w, path, e);
  st_writer_free(&w);
  free(kk);
  return rc;
}

/* ---- the vectors ---------------------------------------------------------------------------- */
/* A cell's key: its text and the tokens kept of it (the vector depends on nothing else). */
static uint64_t cell_key(const rk_dual_config *dc, const nb_notebook *nb, int32_t c) {
  int keep = c >= nb->n_code ? dc->md_tokens : dc->code_tokens;
  uint64_t h = ordo_fnv1a(ORDO_FNV_OFFSET, &keep, sizeof keep);
  return ordo_fnv1a(h, nb->cells[c].source, (size_t)nb->cells[c].len);
}

void rk_frozen_vectors(rk_frozen *f, const tok *tk, const rk_dual_config *dc,
                       const nb_dataset *ds, const uint8_t *mask, int threads, float **x) {
  int64_t n = 0;
  for (int32_t i = 0; i < ds->n; i++)
    if (!mask || mask[i]) n += ds->nbs[i].n_cells;
  /* the cells of texts not cached yet, once per text: row k of fresh is cell k of the list */
  int32_t *cell_nb = ordo_malloc((size_t)(n + 1) * sizeof *cell_nb);
  int32_t *cell_c = ordo_malloc((size_t)(n + 1) * sizeof *cell_c);
  uint8_t *need = ordo_calloc((size_t)(ds->n ? ds->n : 1), 1);
  rk_vec_cache fresh = {.width = f->in};
  for (int32_t i = 0; i < ds->n; i++) {
    if (mask && !mask[i]) continue;
    for (int32_t c = 0; c < ds->nbs[i].n_cells; c++) {
      uint64_t key = cell_key(dc, &ds->nbs[i], c);
      if (cache_find(&f->cache, key) >= 0 || cache_find(&fresh, key) >= 0) continue;
      cell_nb[fresh.n] = i, cell_c[fresh.n] = c;
      cache_add(&fresh, key);
      need[i] = 1;
    }
  }
  const int64_t miss = fresh.n;
  if (miss > 0) {
    int per = dc->md_tokens > dc->code_tokens ? dc->md_tokens : dc->code_tokens;
    rk_cell_tokens ct;
    rk_cell_tokens_build(&ct, tk, ds, need, per, threads);
    float **out = ordo_malloc((size_t)miss * sizeof *out);
    for (int64_t k = 0; k < miss; k++) out[k] = fresh.vec + (size_t)k * f->in;
    ordo_progress pb;
    progress_init(&pb, "cell vectors", miss);
    pb.unit = "cells";
    pb.silent = !f->progress;
    rk_embed_cells(&f->enc, tk, dc, f->pool, ds, &ct, cell_nb, cell_c, miss, out, &pb);
    progress_finish(&pb, NULL);
    free(out);
    rk_cell_tokens_free(&ct);
  }
  for (int32_t i = 0; i < ds->n; i++) {
    if (mask && !mask[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    x[i] = ordo_malloc(((size_t)nb->n_cells * f->in + 1) * sizeof **x);
    for (int32_t c = 0; c < nb->n_cells; c++) {
      uint64_t key = cell_key(dc, nb, c);
      int64_t r = cache_find(&f->cache, key);
      const float *v = r >= 0 ? f->cache.vec + (size_t)r * f->in : NULL;
      if (!v && (r = cache_find(&fresh, key)) >= 0) v = fresh.vec + (size_t)r * f->in;
      ORDO_CHECK(v);
      memcpy(x[i] + (size_t)c * f->in, v, (size_t)f->in * sizeof **x);
    }
  }
  if (f->grow) /* kept for the cache file; otherwise (prediction) held for this call only */
    for (int64_t k = 0; k < miss; k++)
      memcpy(cache_add(&f->cache, fresh.keys[k]), fresh.vec + (size_t)k * f->in,
             (size_t)f->in * sizeof *fresh.vec);
  f->computed = miss, f->reused = n - miss;
  cache_free(&fresh);
  free(cell_nb), free(cell_c), free(need);
}
