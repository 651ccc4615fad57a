/* The tok object: hash maps, the scratch pool, the encode pipeline (added tokens, model,
 * post-processor, truncation, padding), batch encoding and decoding. */
#include <string.h>

#include <omp.h>
#include <pthread.h>

#include "tok/tok_internal.h"

/* ---- hashing and maps ---- */

uint32_t tok_hash_bytes(const char *s, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    s += 8, n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, s, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 29;
  h *= 0x9E3779B97F4A7C15ull;
  return (uint32_t)(h >> 32);
}

static uint32_t pow2_for(uint32_t expected) {
  uint32_t c = 16;
  while (c < expected * 2 + 2) c <<= 1;
  return c;
}

void tok_strmap_init(tok_strmap *m, uint32_t expected) {
  uint32_t c = pow2_for(expected);
  m->mask = c - 1;
  m->count = 0;
  m->val = ordo_malloc(c * sizeof(int32_t));
  for (uint32_t i = 0; i < c; i++) m->val[i] = -1;
  m->hash = ordo_calloc(c, sizeof(uint32_t));
  m->key = ordo_calloc(c, sizeof(char *));
  m->klen = ordo_calloc(c, sizeof(uint32_t));
}

void tok_strmap_free(tok_strmap *m) {
  free(m->val), free(m->hash), free(m->key), free(m->klen);
  memset(m, 0, sizeof(*m));
}

static void strmap_grow(tok_strmap *m) {
  tok_strmap n;
  tok_strmap_init(&n, (m->mask + 1));
  for (uint32_t i = 0; i <= m->mask; i++)
    if (m->val[i] >= 0) tok_strmap_put(&n, m->key[i], m->klen[i], m->val[i]);
  tok_strmap_free(m);
  *m = n;
}

int tok_strmap_put(tok_strmap *m, const char *k, uint32_t len, int32_t v) {
  if ((m->count + 1) * 2 > m->mask + 1) strmap_grow(m);
  uint32_t h = tok_hash_bytes(k, len), i = h & m->mask;
  while (m->val[i] >= 0) {
    if (m->hash[i] == h && m->klen[i] == len && memcmp(m->key[i], k, len) == 0) return 0;
    i = (i + 1) & m->mask;
  }
  m->val[i] = v, m->hash[i] = h, m->key[i] = k, m->klen[i] = len;
  m->count++;
  return 1;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *k, uint32_t len) {
  if (!m->val) return -1;
  uint32_t h = tok_hash_bytes(k, len), i = h & m->mask;
  while (m->val[i] >= 0) {
    if (m->hash[i] == h && m->klen[i] == len && memcmp(m->key[i], k, len) == 0) return m->val[i];
    i = (i + 1) & m->mask;
  }
  return -1;
}

void tok_pairmap_init(tok_pairmap *m, uint32_t expected) {
  uint32_t c = pow2_for(expected);
  m->mask = c - 1;
  m->key = ordo_malloc(c * sizeof(uint64_t));
  for (uint32_t i = 0; i < c; i++) m->key[i] = UINT64_MAX;
  m->rank = ordo_calloc(c, sizeof(int32_t));
  m->merged = ordo_calloc(c, sizeof(int32_t));
}

void tok_pairmap_free(tok_pairmap *m) {
  free(m->key), free(m->rank), free(m->merged);
  memset(m, 0, sizeof(*m));
}

int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged) {
  uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  uint32_t i = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & m->mask;
  while (m->key[i] != UINT64_MAX) {
    if (m->key[i] == k) return 0; /* a repeated merge keeps its first (lowest) rank */
    i = (i + 1) & m->mask;
  }
  m->key[i] = k, m->rank[i] = rank, m->merged[i] = merged;
  return 1;
}

void tok_ivec_reserve(tok_ivec *a, int need) {
  if (a->cap >= need && a->v) return; /* allocates even for need 0: memcpy wants a pointer */
  int c = a->cap ? a->cap : 256;
  while (c < need) c *= 2;
  a->v = ordo_realloc(a->v, (size_t)c * sizeof(int32_t));
  a->cap = c;
}

/* ---- object ---- */

tok *tok_alloc(void) {
  tok *t = ordo_calloc(1, sizeof(tok));
  t->unk_id = -1;
  t->max_chars = 100;
  for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
  for (int i = 0; i < TOK_SP_COUNT; i++) t->sp[i] = -1;
  tok_strmap_init(&t->vocab, 1024);
  for (int i = 0; i < TOK_SCRATCH_POOL; i++) atomic_init(&t->busy[i], 0);
  return t;
}

int tok_add_token(tok *t, int32_t id, const char *s, uint32_t len) {
  if (id >= t->nvocab) {
    int n = t->nvocab ? t->nvocab : 1024;
    while (n <= id) n *= 2;
    t->tokens = ordo_realloc(t->tokens, (size_t)n * sizeof(char *));
    t->tlen = ordo_realloc(t->tlen, (size_t)n * sizeof(uint32_t));
    t->special = ordo_realloc(t->special, (size_t)n);
    for (int i = t->nvocab; i < n; i++) t->tokens[i] = NULL, t->tlen[i] = 0, t->special[i] = 0;
    t->nvocab = n;
  }
  if (t->tokens[id]) { /* the same id again (an added token that is also in the vocab) */
    if (t->tlen[id] == len && memcmp(t->tokens[id], s, len) == 0) return 0;
    return -1;
  }
  char *c = ordo_malloc(len + 1);
  memcpy(c, s, len);
  c[len] = 0;
  t->tokens[id] = c;
  t->tlen[id] = len;
  if (!tok_strmap_put(&t->vocab, c, len, id)) return -2; /* the same string under two ids */
  return 0;
}

static void scratch_free(tok_scratch *s) {
  if (!s) return;
  free(s->cache), free(s->out.v), free(s->res.v), free(s->sym.v), free(s->aux.v), free(s->cps), free(s->buf);
  free(s);
}

void tok_free(tok *t) {
  if (!t) return;
  for (int i = 0; i < t->nvocab; i++) free(t->tokens[i]);
  free(t->tokens), free(t->tlen), free(t->special);
  tok_strmap_free(&t->vocab);
  tok_strmap_free(&t->cont);
  if (t->merges.key) tok_pairmap_free(&t->merges);
  for (int i = 0; i < t->nadded; i++) free(t->added[i].content);
  free(t->added);
  for (int i = 0; i < TOK_SCRATCH_POOL; i++) scratch_free(t->pool[i]);
  free(t);
}

/* A slot is taken with one compare-and-swap; the pool pointer of a taken slot belongs to the
 * taker, so creating it lazily needs no lock. */
tok_scratch *tok_scratch_get(const tok *t, int *slot) {
  tok *mt = (tok *)t;
  /* start from a slot chosen by the calling thread, so a thread keeps finding its own warm
   * word cache instead of the one another core just used */
  uintptr_t self = (uintptr_t)pthread_self();
  int start = (int)((self >> 12) ^ (self >> 20)) & (TOK_SCRATCH_POOL - 1);
  for (int k = 0; k < TOK_SCRATCH_POOL; k++) {
    int i = (start + k) & (TOK_SCRATCH_POOL - 1);
    int expect = 0;
    if (atomic_load_explicit(&mt->busy[i], memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong(&mt->busy[i], &expect, 1)) {
      if (!mt->pool[i]) {
        mt->pool[i] = ordo_calloc(1, sizeof(tok_scratch));
        mt->pool[i]->cache = ordo_calloc(TOK_CACHE_SLOTS, sizeof(tok_cache_entry));
      }
      *slot = i;
      return mt->pool[i];
    }
  }
  tok_scratch *s = ordo_calloc(1, sizeof(tok_scratch));
  s->cache = ordo_calloc(TOK_CACHE_SLOTS, sizeof(tok_cache_entry));
  *slot = -1;
  return s;
}

void tok_scratch_put(const tok *t, tok_scratch *s, int slot) {
  if (slot < 0) {
    scratch_free(s);
    return;
  }
  atomic_store(&((tok *)t)->busy[slot], 0);
}

tok_model_kind tok_kind(const tok *t) { return t->kind; }
int tok_vocab_size(const tok *t) { return t->size; }
int32_t tok_token_to_id(const tok *t, const char *token) {
  return tok_strmap_get(&t->vocab, token, (uint32_t)strlen(token));
}
const char *tok_id_to_token(const tok *t, int32_t id) {
  return id >= 0 && id < t->nvocab ? t->tokens[id] : NULL;
}
int32_t tok_special_id(const tok *t, tok_special which) {
  return which >= 0 && which < TOK_SP_COUNT ? t->sp[which] : -1;
}

int tok_starts_word(const tok *t, int32_t id) {
  if (id < 0 || id >= t->nvocab || !t->tokens[id] || t->special[id] || t->tlen[id] == 0) return 1;
  const unsigned char *s = (const unsigned char *)t->tokens[id];
  if (t->kind == TOK_MODEL_WORDPIECE)
    return !(t->prefix_len > 0 && t->tlen[id] >= (uint32_t)t->prefix_len &&
             memcmp(s, t->prefix, (size_t)t->prefix_len) == 0);
  uint32_t cp;
  tok_utf8_next(s, t->tlen[id], &cp);
  if (cp < 0x80) return !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'));
  /* byte-level: a character standing for a space or control byte (Ġ, Ċ, ...) */
  if (t->byte_level && cp < 512 && t->cp_byte[cp] >= 0 && t->cp_byte[cp] <= 0x20) return 1;
  return 0;
}

int tok_num_special(const tok *t, int pair) {
  if (!t->has_post) return 0;
  const tok_tmpl *tm = pair ? &t->pair : &t->single;
  int n = 0;
  for (int i = 0; i < tm->n; i++)
    if (tm->items[i].seq < 0) n += tm->items[i].nids;
  return n;
}

/* ---- encoding ---- */

static int is_ws_before(const unsigned char *p, size_t start, size_t i, size_t *clen) {
  size_t j = i;
  do {
    j--;
  } while (j > start && (p[j] & 0xC0) == 0x80);
  uint32_t cp;
  int l = tok_utf8_next(p + j, i - j, &cp);
  if ((size_t)l != i - j || !tok_is_ws(cp)) return 0;
  *clen = i - j;
  return 1;
}

static int is_word_char(uint32_t c) { return c == '_' || tok_is_letter(c) || tok_is_number(c); }

static void model_segment(const tok *t, tok_scratch *s, const char *p, size_t n) {
  if (n == 0) return;
  if (t->kind == TOK_MODEL_BPE)
    tok_bpe_encode_segment(t, s, p, n);
  else
    tok_wp_encode_segment(t, s, p, n);
}

/* Splits the text on added tokens (leftmost, then longest), encodes the parts between. */
static void encode_raw(const tok *t, tok_scratch *s, const char *text, size_t len) {
  if (!t->nadded) {
    model_segment(t, s, text, len);
    return;
  }
  const unsigned char *p = (const unsigned char *)text;
  size_t seg = 0, i = 0;
  while (i < len) {
    if (!t->added_first[p[i]]) {
      i++;
      continue;
    }
    const tok_added *best = NULL;
    for (int k = 0; k < t->nadded; k++) {
      const tok_added *a = &t->added[k];
      if (a->len <= len - i && (!best || a->len > best->len) && memcmp(a->content, p + i, a->len) == 0) {
        if (a->single_word) { /* HF: the match must not touch word characters on either side */
          uint32_t c;
          if (i > 0) {
            size_t j = i;
            do j--; while (j > 0 && (p[j] & 0xC0) == 0x80);
            tok_utf8_next(p + j, i - j, &c);
            if (c != TOK_INVALID && is_word_char(c)) continue;
          }
          if (i + a->len < len) {
            tok_utf8_next(p + i + a->len, len - i - a->len, &c);
            if (c != TOK_INVALID && is_word_char(c)) continue;
          }
        }
        best = a;
      }
    }
    if (!best) {
      i++;
      continue;
    }
    size_t ms = i, me = i + best->len, cl;
    if (best->lstrip)
      while (ms > seg && is_ws_before(p, seg, ms, &cl)) ms -= cl;
    if (best->rstrip)
      while (me < len) {
        uint32_t c;
        int l = tok_utf8_next(p + me, len - me, &c);
        if (c == TOK_INVALID || !tok_is_ws(c)) break;
        me += (size_t)l;
      }
    model_segment(t, s, text + seg, ms - seg);
    tok_ivec_push(&s->out, best->id);
    seg = i = me;
  }
  model_segment(t, s, text + seg, len - seg);
}

/* Appends the encoding of one text (with the single-sequence template when asked) to dst;
 * returns the number of ids appended. */
static int encode_append(const tok *t, tok_scratch *s, const char *text, size_t len, int flags, tok_ivec *dst) {
  int before = dst->n;
  int templ = (flags & TOK_ADD_SPECIAL) && t->has_post;
  for (int i = 0; i < (templ ? t->single.n : 1); i++) {
    const tok_tmpl_item *it = templ ? &t->single.items[i] : NULL;
    if (it && it->seq < 0) {
      for (int q = 0; q < it->nids; q++) tok_ivec_push(dst, it->ids[q]);
      continue;
    }
    s->out.n = 0;
    encode_raw(t, s, text, len);
    if (s->out.n == 0) continue; /* (s->out.v may still be NULL) */
    tok_ivec_reserve(dst, dst->n + s->out.n);
    memcpy(dst->v + dst->n, s->out.v, (size_t)s->out.n * sizeof(int32_t));
    dst->n += s->out.n;
  }
  return dst->n - before;
}

int tok_encode(const tok *t, const char *text, size_t len, int32_t *ids, int max_ids, int flags) {
  int slot;
  tok_scratch *s = tok_scratch_get(t, &slot);
  s->res.n = 0;
  int n = encode_append(t, s, text, len, flags, &s->res);
  if (n > 0 && max_ids > 0) memcpy(ids, s->res.v, (size_t)(n < max_ids ? n : max_ids) * sizeof(int32_t));
  tok_scratch_put(t, s, slot);
  return n;
}

int tok_encode_ex(const tok *t, const char *a, size_t alen, const char *b, size_t blen,
                  const tok_enc_opts *o, int32_t *ids, int32_t *type_ids, uint8_t *mask, int cap,
                  ordo_err *e) {
  tok_enc_opts def = {0};
  if (!o) o = &def;
  int slot;
  tok_scratch *s = tok_scratch_get(t, &slot);
  /* both sequences in s->out: A at [0, na), B at [na, na + nb) */
  s->out.n = 0;
  encode_raw(t, s, a, alen);
  int na = s->out.n, nb = 0;
  if (b) {
    encode_raw(t, s, b, blen);
    nb = s->out.n - na;
  }
  int add = o->add_special && t->has_post;
  int nsp = add ? tok_num_special(t, b != NULL) : 0;
  int ka = na, kb = nb; /* kept lengths after truncation */
  if (o->max_len > 0) {
    int budget = o->max_len - nsp;
    if (budget < 0) budget = 0;
    if (!b) {
      if (ka > budget) ka = budget;
    } else if (ka + kb > budget) { /* HF's longest_first */
      int n1 = ka, n2 = kb, swap = 0;
      if (n1 > n2) swap = 1, n1 = kb, n2 = ka;
      if (n1 > budget) n2 = n1;
      else n2 = n2 < budget - n1 ? n2 : budget - n1, n2 = n2 > n1 ? n2 : n1;
      if (n1 + n2 > budget) n1 = budget / 2, n2 = n1 + budget % 2;
      if (swap) {
        int x = n1;
        n1 = n2, n2 = x;
      }
      ka = ka < n1 ? ka : n1;
      kb = kb < n2 ? kb : n2;
    }
  }
  int total = ka + kb + nsp;
  int padded = o->pad_to > total ? o->pad_to : total;
  int rc = 0;
  if (padded > cap) {
    rc = ordo_fail(e, "tokenize: %d ids do not fit the %d given", padded, cap);
    goto done;
  }
  if (padded > total && t->sp[TOK_SP_PAD] < 0) {
    rc = ordo_fail(e, "tokenize: padding asked but the tokenizer has no pad token");
    goto done;
  }
  int k = 0;
#define EMIT(id, ty)                   \
  do {                                 \
    ids[k] = (id);                     \
    if (type_ids) type_ids[k] = (ty);  \
    if (mask) mask[k] = 1;             \
    k++;                               \
  } while (0)
  if (add) {
    const tok_tmpl *tm = b ? &t->pair : &t->single;
    for (int i = 0; i < tm->n; i++) {
      const tok_tmpl_item *it = &tm->items[i];
      if (it->seq < 0)
        for (int q = 0; q < it->nids; q++) EMIT(it->ids[q], it->type_id);
      else if (it->seq == 0)
        for (int q = 0; q < ka; q++) EMIT(s->out.v[q], it->type_id);
      else
        for (int q = 0; q < kb; q++) EMIT(s->out.v[na + q], it->type_id);
    }
  } else {
    for (int q = 0; q < ka; q++) EMIT(s->out.v[q], 0);
    for (int q = 0; q < kb; q++) EMIT(s->out.v[na + q], 1);
  }
#undef EMIT
  for (; k < padded; k++) {
    ids[k] = t->sp[TOK_SP_PAD];
    if (type_ids) type_ids[k] = 0;
    if (mask) mask[k] = 0;
  }
  rc = k;
done:
  tok_scratch_put(t, s, slot);
  return rc;
}

void tok_encode_batch(const tok *t, const char *const *texts, const size_t *lens, int n, int flags,
                      int nthreads, tok_batch *out) {
  if (nthreads <= 0) nthreads = omp_get_max_threads();
  /* each thread keeps one scratch (its word cache stays warm on its core) and appends the ids
   * of its texts to its own vector; a second pass gathers them in text order */
  tok_ivec *vec = ordo_calloc((size_t)nthreads, sizeof(tok_ivec));
  int *who = ordo_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
  int64_t *pos = ordo_malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  out->n = n;
  out->offsets = ordo_calloc((size_t)n + 1, sizeof(int64_t));
#pragma omp parallel num_threads(nthreads)
  {
    int tid = omp_get_thread_num(), slot;
    tok_scratch *s = tok_scratch_get(t, &slot);
    tok_ivec *v = &vec[tid];
#pragma omp for schedule(dynamic, 8)
    for (int i = 0; i < n; i++) {
      who[i] = tid;
      pos[i] = v->n;
      out->offsets[i + 1] = encode_append(t, s, texts[i], lens[i], flags, v);
    }
    tok_scratch_put(t, s, slot);
  }
  for (int i = 0; i < n; i++) out->offsets[i + 1] += out->offsets[i];
  out->ids = ordo_malloc((size_t)(out->offsets[n] > 0 ? out->offsets[n] : 1) * sizeof(int32_t));
#pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int i = 0; i < n; i++)
    if (out->offsets[i + 1] > out->offsets[i])
      memcpy(out->ids + out->offsets[i], vec[who[i]].v + pos[i],
             (size_t)(out->offsets[i + 1] - out->offsets[i]) * sizeof(int32_t));
  for (int k = 0; k < nthreads; k++) free(vec[k].v);
  free(vec), free(who), free(pos);
}

void tok_batch_free(tok_batch *b) {
  free(b->offsets), free(b->ids);
  memset(b, 0, sizeof(*b));
}

/* ---- decoding ---- */

typedef struct {
  char *out;
  size_t cap, n;
} sink;
static void sink_put(sink *k, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++, k->n++)
    if (k->n < k->cap) k->out[k->n] = s[i];
}

/* HF's WordPiece decoder clean-up, applied to each " piece" */
static void wp_cleanup_put(sink *k, const char *s, size_t n) {
  static const char *from[] = {" .", " ?", " !", " ,", " ' ", " n't", " 'm", " do not", " 's", " 've", " 're"};
  static const char *to[] = {".", "?", "!", ",", "'", "n't", "'m", " don't", "'s", "'ve", "'re"};
  char a[512], b[512];
  if (n >= sizeof(a) / 2) {
    sink_put(k, s, n);
    return;
  }
  memcpy(a, s, n);
  size_t an = n;
  for (int r = 0; r < 11; r++) {
    size_t fl = strlen(from[r]), tl = strlen(to[r]), bn = 0;
    for (size_t i = 0; i < an;) {
      if (i + fl <= an && memcmp(a + i, from[r], fl) == 0) {
        memcpy(b + bn, to[r], tl), bn += tl, i += fl;
      } else {
        b[bn++] = a[i++];
      }
    }
    memcpy(a, b, bn), an = bn;
  }
  sink_put(k, a, an);
}

static void bytelevel_put(const tok *t, sink *k, const char *tkn, size_t n) {
  char tmp[256];
  size_t m = 0;
  const unsigned char *p = (const unsigned char *)tkn;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    i += (size_t)tok_utf8_next(p + i, n - i, &cp);
    int b = cp < 512 ? t->cp_byte[cp] : -1; /* GPT-2's byte → character map, reversed */
    if (b < 0 || m >= sizeof(tmp)) { /* HF: a token with unmapped characters is taken as is */
      sink_put(k, tkn, n);
      return;
    }
    tmp[m++] = (char)b;
  }
  sink_put(k, tmp, m);
}

size_t tok_decode(const tok *t, const int32_t *ids, int n, char *out, size_t cap, int flags) {
  sink k = {out, cap, 0};
  int first = 1;
  for (int i = 0; i < n; i++) {
    int32_t id = ids[i];
    if (id < 0 || id >= t->nvocab || !t->tokens[id]) continue;
    if ((flags & TOK_SKIP_SPECIAL) && t->special[id]) continue;
    const char *s = t->tokens[id];
    size_t l = t->tlen[id];
    if (t->decoder == TOK_DEC_BYTELEVEL) {
      bytelevel_put(t, &k, s, l);
    } else if (t->decoder == TOK_DEC_WORDPIECE) {
      size_t pl = strlen(t->dec_prefix);
      char tmp[600];
      size_t tn = 0;
      if (!first && pl && l >= pl && memcmp(s, t->dec_prefix, pl) == 0) {
        s += pl, l -= pl;
      } else if (!first) {
        tmp[tn++] = ' ';
      }
      if (l + tn < sizeof(tmp) && t->wp_cleanup) {
        memcpy(tmp + tn, s, l);
        wp_cleanup_put(&k, tmp, tn + l);
      } else {
        sink_put(&k, tmp, tn);
        sink_put(&k, s, l);
      }
    } else {
      sink_put(&k, s, l);
    }
    first = 0;
  }
  if (k.n < cap) out[k.n] = 0;
  else if (cap > 0) out[cap - 1] = 0;
  return k.n;
}
