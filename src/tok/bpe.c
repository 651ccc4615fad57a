/* Byte-level BPE: GPT-2's pre-tokenization pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * hand-coded as a scanner (same leftmost-first semantics as HF's regex), then merges by rank
 * on the word's bytes. Short words merge in a flat array; long ones through a heap, so a
 * megabyte-long word costs O(n log n), not O(n^2). */
#include <string.h>

#include "tok/tok_internal.h"

enum { C_OTHER = 0, C_LETTER = 1, C_NUMBER = 2, C_WS = 3 };

/* class of each ASCII byte */
static const uint8_t k_ascii_class[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3, 0, 0, /* \t \n \v \f \r */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, /* 0-9 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
};

static inline int class_at(const unsigned char *p, size_t n, size_t i, int *len) {
  if (p[i] < 0x80) {
    *len = 1;
    return k_ascii_class[p[i]];
  }
  uint32_t cp;
  *len = tok_utf8_next(p + i, n - i, &cp);
  if (cp == TOK_INVALID) return C_OTHER;
  if (tok_is_ws(cp)) return C_WS;
  if (tok_is_letter(cp)) return C_LETTER;
  if (tok_is_number(cp)) return C_NUMBER;
  return C_OTHER;
}

/* End of the pre-token that starts at i. */
static size_t gpt2_next(const unsigned char *p, size_t n, size_t i) {
  unsigned c = p[i];
  if (c == '\'' && i + 1 < n) {
    unsigned d = p[i + 1];
    if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
    if (i + 2 < n) {
      unsigned f = p[i + 2];
      if ((d == 'r' && f == 'e') || (d == 'v' && f == 'e') || (d == 'l' && f == 'l')) return i + 3;
    }
  }
  int l, k = class_at(p, n, i, &l);
  size_t j = i;
  if (c == ' ' && i + 1 < n) { /* the optional leading space of ' ?\p{L}+' and its siblings */
    int l2, k2 = class_at(p, n, i + 1, &l2);
    if (k2 != C_WS) j = i + 1, k = k2, l = l2;
  }
  if (k != C_WS) {
    j += (size_t)l;
    while (j < n) {
      int l2, k2 = class_at(p, n, j, &l2);
      if (k2 != k) break;
      j += (size_t)l2;
    }
    return j;
  }
  /* whitespace: '\s+(?!\S)' keeps the last space for the word that follows, '\s+' otherwise */
  size_t e = i, last = i;
  while (e < n) {
    int l2, k2 = class_at(p, n, e, &l2);
    if (k2 != C_WS) break;
    last = e;
    e += (size_t)l2;
  }
  if (e == n) return e;
  if (last > i) return last;
  return e;
}

/* Short words: symbols in a flat array, rank[i] for the pair (i, i+1). */
static void merge_flat(const tok *t, int32_t *sym, int n, int32_t *rank, int32_t *merged, int *nout) {
  for (int i = 0; i + 1 < n; i++) rank[i] = tok_pairmap_get(&t->merges, sym[i], sym[i + 1], &merged[i]);
  while (n > 1) {
    int best = -1;
    int32_t br = INT32_MAX;
    for (int i = 0; i + 1 < n; i++)
      if (rank[i] >= 0 && rank[i] < br) br = rank[i], best = i;
    if (best < 0) break;
    sym[best] = merged[best];
    memmove(sym + best + 1, sym + best + 2, (size_t)(n - best - 2) * sizeof(int32_t));
    memmove(rank + best, rank + best + 1, (size_t)(n - best - 2) * sizeof(int32_t));
    memmove(merged + best, merged + best + 1, (size_t)(n - best - 2) * sizeof(int32_t));
    n--;
    if (best > 0) rank[best - 1] = tok_pairmap_get(&t->merges, sym[best - 1], sym[best], &merged[best - 1]);
    if (best + 1 < n) rank[best] = tok_pairmap_get(&t->merges, sym[best], sym[best + 1], &merged[best]);
  }
  *nout = n;
}

/* Long words: doubly linked symbols and a binary min-heap of (rank, position) entries;
 * stale entries are dropped when popped (the pair at that position no longer has that rank). */
typedef struct {
  int32_t rank, pos;
} heap_ent;

static inline int ent_less(heap_ent a, heap_ent b) {
  return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}
static void heap_push(heap_ent *h, int *n, heap_ent x) {
  int i = (*n)++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!ent_less(x, h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}
static heap_ent heap_pop(heap_ent *h, int *n) {
  heap_ent top = h[0], x = h[--(*n)];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && ent_less(h[c + 1], h[c])) c++;
    if (!ent_less(h[c], x)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
  return top;
}

static void merge_heap(const tok *t, tok_scratch *s, int32_t *sym, int n, int *nout) {
  /* aux layout: prev (n), next (n), heap (3n entries of 2 ints) */
  tok_ivec_reserve(&s->aux, 8 * n + 8);
  int32_t *prev = s->aux.v, *next = prev + n;
  heap_ent *h = (heap_ent *)(next + n);
  int hn = 0;
  for (int i = 0; i < n; i++) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
  for (int i = 0; i + 1 < n; i++) {
    int32_t m, r = tok_pairmap_get(&t->merges, sym[i], sym[i + 1], &m);
    if (r >= 0) heap_push(h, &hn, (heap_ent){r, i});
  }
  while (hn > 0) {
    heap_ent e = heap_pop(h, &hn);
    int i = e.pos, j = next[i];
    if (sym[i] < 0 || j < 0) continue;
    int32_t m = -1, r = tok_pairmap_get(&t->merges, sym[i], sym[j], &m);
    if (r != e.rank) continue;
    sym[i] = m;
    sym[j] = -1; /* dead */
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    if (prev[i] >= 0) {
      r = tok_pairmap_get(&t->merges, sym[prev[i]], sym[i], &m);
      if (r >= 0) heap_push(h, &hn, (heap_ent){r, prev[i]});
    }
    if (next[i] >= 0) {
      r = tok_pairmap_get(&t->merges, sym[i], sym[next[i]], &m);
      if (r >= 0) heap_push(h, &hn, (heap_ent){r, i});
    }
  }
  int k = 0;
  for (int i = 0; i >= 0; i = next[i]) sym[k++] = sym[i];
  *nout = k;
}

static inline uint32_t cache_hash(const char *w, size_t n) {
  return tok_hash_bytes(w, n) & (TOK_CACHE_SLOTS - 1);
}

static void bpe_word(const tok *t, tok_scratch *s, const unsigned char *w, size_t n) {
  if (s->on_word) {
    s->on_word(s->word_ctx, (const char *)w, n);
    return;
  }
  if (n == 1) {
    int32_t id = t->byte_id[w[0]];
    if (id < 0) id = t->unk_id;
    if (id >= 0) tok_ivec_push(&s->out, id);
    return;
  }
  tok_cache_entry *ce = NULL;
  if (n <= TOK_CACHE_KEY) {
    ce = &s->cache[cache_hash((const char *)w, n)];
    if (ce->klen == n && memcmp(ce->key, w, n) == 0) {
      tok_ivec_reserve(&s->out, s->out.n + ce->nids);
      memcpy(s->out.v + s->out.n, ce->ids, ce->nids * sizeof(int32_t));
      s->out.n += ce->nids;
      return;
    }
  }
  tok_ivec_reserve(&s->sym, 3 * (int)n + 3);
  int32_t *sym = s->sym.v;
  int m = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t id = t->byte_id[w[i]];
    if (id < 0) id = t->unk_id;
    if (id >= 0) sym[m++] = id;
  }
  int k;
  if (m <= 64)
    merge_flat(t, sym, m, sym + n + 1, sym + 2 * n + 2, &k);
  else
    merge_heap(t, s, sym, m, &k);
  tok_ivec_reserve(&s->out, s->out.n + k);
  memcpy(s->out.v + s->out.n, sym, (size_t)k * sizeof(int32_t));
  s->out.n += k;
  if (ce && k <= TOK_CACHE_IDS) {
    ce->klen = (uint8_t)n;
    ce->nids = (uint8_t)k;
    memcpy(ce->key, w, n);
    memcpy(ce->ids, sym, (size_t)k * sizeof(int32_t));
  }
}

void tok_bpe_encode_segment(const tok *t, tok_scratch *s, const char *text, size_t len) {
  const unsigned char *p = (const unsigned char *)text;
  if (t->add_prefix_space && len > 0 && p[0] != ' ') {
    /* HF's ByteLevel add_prefix_space: the segment is read as if it started with a space */
    if (s->buf_cap < len + 1) {
      s->buf_cap = len + 1 + len / 2;
      s->buf = ordo_realloc(s->buf, s->buf_cap);
    }
    s->buf[0] = ' ';
    memcpy(s->buf + 1, text, len);
    p = (const unsigned char *)s->buf;
    len++;
  }
  size_t i = 0;
  while (i < len) {
    size_t e = gpt2_next(p, len, i);
    bpe_word(t, s, p + i, e - i);
    i = e;
  }
}
