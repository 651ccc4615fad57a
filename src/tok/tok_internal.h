/* Internals shared by the tok/ sources: the tok struct, hash maps, scratch slots. */
#ifndef ORDO_TOK_INTERNAL_H
#define ORDO_TOK_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "ordo/tok.h"

/* ---- string → int32 map (open addressing, keys point into strings owned elsewhere) ---- */
typedef struct tok_strmap {
  uint32_t mask; /* capacity - 1, capacity a power of two */
  uint32_t count;
  int32_t *val;  /* -1 = empty */
  uint32_t *hash;
  const char **key;
  uint32_t *klen;
} tok_strmap;

void tok_strmap_init(tok_strmap *m, uint32_t expected);
void tok_strmap_free(tok_strmap *m);
/* Returns 1 when inserted, 0 when the key was present (value left unchanged). */
int tok_strmap_put(tok_strmap *m, const char *k, uint32_t len, int32_t v);
int32_t tok_strmap_get(const tok_strmap *m, const char *k, uint32_t len);
uint32_t tok_hash_bytes(const char *s, size_t n);

/* ---- (id, id) → (rank, new id) map for BPE merges ---- */
typedef struct tok_pairmap {
  uint32_t mask;
  uint64_t *key; /* (a << 32) | b; UINT64_MAX = empty */
  int32_t *rank;
  int32_t *merged;
} tok_pairmap;
void tok_pairmap_init(tok_pairmap *m, uint32_t expected);
void tok_pairmap_free(tok_pairmap *m);
int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged);
static inline int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *merged) {
  uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  uint64_t h = k * 0x9E3779B97F4A7C15ull;
  uint32_t i = (uint32_t)(h >> 32) & m->mask;
  for (;;) {
    if (m->key[i] == k) {
      *merged = m->merged[i];
      return m->rank[i];
    }
    if (m->key[i] == UINT64_MAX) return -1;
    i = (i + 1) & m->mask;
  }
}

/* ---- growable int32 vector ---- */
typedef struct tok_ivec {
  int32_t *v;
  int n, cap;
} tok_ivec;
static inline void tok_ivec_push(tok_ivec *a, int32_t x) {
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 256;
    a->v = ordo_realloc(a->v, (size_t)a->cap * sizeof(int32_t));
  }
  a->v[a->n++] = x;
}
void tok_ivec_reserve(tok_ivec *a, int need);

/* ---- per-call scratch: word cache and buffers (one per concurrent encoder) ---- */
#define TOK_CACHE_SLOTS 8192 /* direct-mapped word cache entries, power of two */
#define TOK_CACHE_KEY 22     /* words up to this many bytes are cached */
#define TOK_CACHE_IDS 7      /* with up to this many ids */
typedef struct tok_cache_entry {
  uint8_t klen, nids; /* klen 0 = empty */
  char key[TOK_CACHE_KEY];
  int32_t ids[TOK_CACHE_IDS];
} tok_cache_entry;

typedef struct tok_scratch {
  tok_cache_entry *cache; /* (TOK_CACHE_SLOTS) */
  tok_ivec out;           /* ids of the current segment / sequence */
  tok_ivec res;           /* ids of the current call (sequence and special tokens) */
  tok_ivec sym;           /* BPE symbols of one word: ids */
  tok_ivec aux;           /* BPE heap / links */
  uint32_t *cps;          /* code points of a normalized segment (WordPiece) */
  int ncps_cap;
  char *buf;              /* UTF-8 bytes of a normalized segment */
  size_t buf_cap;
  /* trainers: when set, each pre-token (after normalization) goes here instead of the model */
  void (*on_word)(void *ctx, const char *w, size_t n);
  void *word_ctx;
} tok_scratch;

#define TOK_SCRATCH_POOL 32

/* ---- added tokens (matched on the raw text before the model sees it) ---- */
typedef struct tok_added {
  char *content;
  uint32_t len;
  int32_t id;
  uint8_t special, lstrip, rstrip, single_word, normalized;
} tok_added;

/* ---- post-processor template: one item per special token or sequence ---- */
typedef struct tok_tmpl_item {
  int seq;        /* -1: special tokens ids[0..nids); 0: sequence A; 1: sequence B */
  int32_t ids[4];
  int nids;
  int type_id;
} tok_tmpl_item;
typedef struct tok_tmpl {
  tok_tmpl_item items[8];
  int n;
} tok_tmpl;

enum { TOK_PRE_NONE = 0, TOK_PRE_BYTELEVEL, TOK_PRE_BERT };
enum { TOK_DEC_NONE = 0, TOK_DEC_BYTELEVEL, TOK_DEC_WORDPIECE };

struct tok {
  tok_model_kind kind;
  int nvocab;       /* allocated id space */
  int size;         /* highest id in use + 1 (set by tok_finish) */
  char **tokens;    /* (nvocab) id → token string (NULL for holes) */
  uint32_t *tlen;   /* (nvocab) */
  uint8_t *special; /* (nvocab) 1 for special added tokens */
  tok_strmap vocab; /* token string → id (model vocab and added tokens) */

  /* BPE */
  int32_t byte_id[256]; /* id of the one-byte symbol (byte-level) or -1 */
  int16_t cp_byte[512]; /* byte-level decoding: code point (< 512) → byte, or -1 */
  tok_pairmap merges;
  int32_t unk_id;       /* model's unk id or -1 */
  int byte_level;

  /* WordPiece */
  tok_strmap cont;      /* continuation pieces, keyed without the prefix */
  char prefix[16];
  int prefix_len;
  int max_chars;

  /* normalizer (BertNormalizer or its parts) */
  int norm_clean, norm_cjk, norm_lower, norm_nfd;
  int norm_strip; /* 0 no, 1 nonspacing marks (BertNormalizer), 2 all marks (StripAccents) */
  int pretok;
  int add_prefix_space;

  tok_added *added;
  int nadded;
  uint8_t added_first[256]; /* 1 when some added token starts with this byte */

  int has_post;
  tok_tmpl single, pair;
  int32_t sp[TOK_SP_COUNT];

  int decoder;
  int wp_cleanup;
  char dec_prefix[16];

  atomic_int busy[TOK_SCRATCH_POOL];
  tok_scratch *pool[TOK_SCRATCH_POOL];
};

/* tok.c */
tok *tok_alloc(void);
int tok_add_token(tok *t, int32_t id, const char *s, uint32_t len); /* grows id space */
tok_scratch *tok_scratch_get(const tok *t, int *slot);
void tok_scratch_put(const tok *t, tok_scratch *s, int slot);
void tok_finish(tok *t); /* fills the byte table and specials after loading */

/* unicode.c */
/* Decodes one UTF-8 character at s[0..n); returns its length (1..4) and sets *cp, or returns
 * 1 with *cp = TOK_INVALID for a byte that does not start a valid sequence. */
#define TOK_INVALID 0xFFFFFFFFu
int tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
int tok_utf8_put(char *out, uint32_t cp);
int tok_is_ws(uint32_t cp);    /* Unicode White_Space */
int tok_is_letter(uint32_t cp); /* \p{L} */
int tok_is_number(uint32_t cp); /* \p{N} */
int tok_is_bert_punct(uint32_t cp);
int tok_is_bert_control(uint32_t cp);
int tok_is_cjk(uint32_t cp);
int tok_is_mn(uint32_t cp);   /* nonspacing mark: what BertNormalizer strips */
int tok_is_mark(uint32_t cp); /* any mark (Mn, Mc, Me): what the StripAccents normalizer strips */
/* Lowercase mapping as Rust's char::to_lowercase: writes 1 or 2 code points. */
int tok_lower(uint32_t cp, uint32_t out[2]);
/* Canonical decomposition (NFD) of cps[0..n) into out (cap entries); returns count or -1. */
int tok_nfd(const uint32_t *cps, int n, uint32_t *out, int cap);

/* bpe.c */
void tok_bpe_encode_segment(const tok *t, tok_scratch *s, const char *text, size_t len);
/* wordpiece.c */
void tok_wp_encode_segment(const tok *t, tok_scratch *s, const char *text, size_t len);

/* load.c / train.c */
int tok_load_classic(tok **out, const char *dir_or_file, ordo_err *e);

#endif
