/* WordPiece as BERT uses it: BertNormalizer (clean-up of control characters, whitespace to
 * ' ', spaces around CJK ideographs, NFD + removal of nonspacing marks, lowercase), then
 * BertPreTokenizer (split on whitespace, every punctuation character its own word), then
 * greedy longest-match-first pieces with the continuation prefix; a word longer than
 * max_chars characters, or one with a part no piece matches, becomes the unk token. */
#include <string.h>

#include "tok/tok_internal.h"

static void wp_word(const tok *t, tok_scratch *s, const char *w, size_t n, int nchars) {
  if (n == 0) return;
  if (s->on_word) {
    s->on_word(s->word_ctx, w, n);
    return;
  }
  tok_cache_entry *ce = NULL;
  if (n <= TOK_CACHE_KEY) {
    ce = &s->cache[tok_hash_bytes(w, n) & (TOK_CACHE_SLOTS - 1)];
    if (ce->klen == n && memcmp(ce->key, w, n) == 0) {
      tok_ivec_reserve(&s->out, s->out.n + ce->nids);
      memcpy(s->out.v + s->out.n, ce->ids, ce->nids * sizeof(int32_t));
      s->out.n += ce->nids;
      return;
    }
  }
  int first = s->out.n;
  if (nchars > t->max_chars) goto unk;
  size_t start = 0;
  while (start < n) {
    size_t end = n;
    int32_t id = -1;
    const tok_strmap *m = start == 0 || t->prefix_len == 0 ? &t->vocab : &t->cont;
    while (end > start) {
      id = tok_strmap_get(m, w + start, (uint32_t)(end - start));
      if (id >= 0) break;
      end--; /* step back to the previous character boundary */
      while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
    }
    if (id < 0) goto unk;
    tok_ivec_push(&s->out, id);
    start = end;
  }
  goto cache;
unk:
  s->out.n = first;
  tok_ivec_push(&s->out, t->unk_id);
cache:
  if (ce && s->out.n - first <= TOK_CACHE_IDS) {
    ce->klen = (uint8_t)n;
    ce->nids = (uint8_t)(s->out.n - first);
    memcpy(ce->key, w, n);
    memcpy(ce->ids, s->out.v + first, (size_t)ce->nids * sizeof(int32_t));
  }
}

static void ensure_buf(tok_scratch *s, size_t n) {
  if (s->buf_cap < n) {
    s->buf_cap = n + n / 2 + 64;
    s->buf = ordo_realloc(s->buf, s->buf_cap);
  }
}
static void ensure_cps(tok_scratch *s, size_t n) {
  if ((size_t)s->ncps_cap < n) {
    s->ncps_cap = (int)(n + n / 2 + 64);
    s->cps = ordo_realloc(s->cps, (size_t)s->ncps_cap * sizeof(uint32_t));
  }
}

/* ASCII text: normalizer and pre-tokenizer in one pass, no code points. */
static void wp_ascii(const tok *t, tok_scratch *s, const unsigned char *p, size_t len) {
  ensure_buf(s, len + 1);
  char *w = s->buf;
  size_t wn = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned c = p[i];
    int ws = c == ' ' || (c >= 9 && c <= 13);
    if (t->norm_clean && (c == 0 || tok_is_bert_control(c))) continue;
    if (ws) {
      wp_word(t, s, w, wn, (int)wn);
      wn = 0;
    } else if (tok_is_bert_punct(c)) {
      wp_word(t, s, w, wn, (int)wn);
      wn = 0;
      char pc = (char)c;
      wp_word(t, s, &pc, 1, 1);
    } else {
      w[wn++] = (char)(t->norm_lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
  }
  wp_word(t, s, w, wn, (int)wn);
}

void tok_wp_encode_segment(const tok *t, tok_scratch *s, const char *text, size_t len) {
  const unsigned char *p = (const unsigned char *)text;
  size_t i;
  for (i = 0; i < len && p[i] < 0x80; i++) {
  }
  if (i == len) {
    wp_ascii(t, s, p, len);
    return;
  }
  /* 1. decode, clean, CJK spacing: at most 3 code points per input byte */
  ensure_cps(s, 3 * len + 8);
  uint32_t *cp = s->cps;
  int n = 0;
  for (i = 0; i < len;) {
    uint32_t c;
    i += (size_t)tok_utf8_next(p + i, len - i, &c);
    if (c == TOK_INVALID) continue; /* not a character: dropped (documented in tok.h) */
    if (t->norm_clean) {
      if (c == 0 || c == 0xFFFD || tok_is_bert_control(c)) continue;
      if (tok_is_ws(c)) c = ' ';
    }
    if (t->norm_cjk && tok_is_cjk(c)) {
      cp[n++] = ' ', cp[n++] = c, cp[n++] = ' ';
    } else {
      cp[n++] = c;
    }
  }
  /* 2. NFD and removal of nonspacing marks; decomposition may grow the text (up to 18x for
   * one character in Unicode, so retry with room when it does not fit) */
  if (t->norm_strip || t->norm_nfd) {
    int cap = 2 * n + 16;
    uint32_t *d;
    int m;
    for (;;) {
      ensure_buf(s, (size_t)cap * sizeof(uint32_t));
      d = (uint32_t *)(void *)s->buf;
      m = tok_nfd(cp, n, d, cap);
      if (m >= 0) break;
      cap *= 4;
    }
    ensure_cps(s, (size_t)m + 8);
    cp = s->cps;
    n = 0;
    for (int k = 0; k < m; k++)
      if (!(t->norm_strip == 1 ? tok_is_mn(d[k]) : t->norm_strip == 2 ? tok_is_mark(d[k]) : 0)) cp[n++] = d[k];
  }
  /* 3. lowercase (one character may become two) */
  if (t->norm_lower) {
    int grow = 0;
    for (int k = 0; k < n; k++) grow += cp[k] == 0x130;
    if (grow) {
      ensure_cps(s, (size_t)(n + grow) + 8);
      cp = s->cps;
      memmove(cp + grow, cp, (size_t)n * sizeof(uint32_t));
      int o = 0;
      for (int k = grow; k < n + grow; k++) {
        uint32_t lo[2];
        int c = tok_lower(cp[k], lo);
        for (int q = 0; q < c; q++) cp[o++] = lo[q];
      }
      n = o;
    } else {
      for (int k = 0; k < n; k++) {
        uint32_t lo[2];
        tok_lower(cp[k], lo);
        cp[k] = lo[0];
      }
    }
  }
  /* 4. pre-tokenize and encode each word from its UTF-8 bytes */
  ensure_buf(s, 4 * (size_t)n + 8);
  char *w = s->buf;
  size_t wn = 0;
  int wc = 0;
  for (int k = 0; k < n; k++) {
    uint32_t c = cp[k];
    if (tok_is_ws(c)) {
      wp_word(t, s, w, wn, wc);
      wn = 0, wc = 0;
    } else if (tok_is_bert_punct(c)) {
      wp_word(t, s, w, wn, wc);
      wn = 0, wc = 0;
      char pc[4];
      int l = tok_utf8_put(pc, c);
      wp_word(t, s, pc, (size_t)l, 1);
    } else {
      wn += (size_t)tok_utf8_put(w + wn, c);
      wc++;
    }
  }
  wp_word(t, s, w, wn, wc);
}
