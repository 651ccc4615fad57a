/* Trainers. Both count the corpus's words with the exact pre-tokenization the encoder uses,
 * then merge the most frequent adjacent pair of symbols again and again (ties: smaller ids
 * first) until the vocabulary is full or no pair is seen min_frequency times.
 *  - BPE: byte-level, alphabet = the 256 byte symbols; <s> <pad> </s> <unk> <mask> = ids 0..4;
 *    RoBERTa post-processing.
 *  - WordPiece: BERT normalizer and pre-tokenizer; alphabet = every character seen, as itself
 *    (word start) and as ##c (inside a word); merging x + ##y gives xy, ##x + ##y gives ##xy;
 *    [PAD] [UNK] [CLS] [SEP] [MASK] = ids 0..4; [CLS] A [SEP] post-processing.
 * The output is a tokenizer.json that HF tokenizers loads and encodes the same way. */
#include <cjson/cJSON.h>
#include <string.h>

#include "ordo/progress.h"
#include "tok/tok_internal.h"

typedef struct {
  int64_t count;
  int32_t a, b;
  int32_t *where; /* words holding the pair (may repeat; stale ones are skipped) */
  int nwhere, capwhere;
} pair_info;

typedef struct {
  int64_t count;
  int32_t a, b;
} heap_item;

typedef struct trainer {
  int wordpiece;
  /* words and their counts */
  tok_strmap wmap;
  char **wstr;
  uint32_t *wlen;
  int64_t *wcount;
  int nw, capw;
  /* symbols (vocabulary being built) */
  tok_strmap smap;
  char **sym;
  uint32_t *slen;
  int nsym, capsym;
  /* each word as symbols */
  int32_t **seq;
  int *seqlen;
  /* pairs */
  uint64_t *pkey; /* open addressing: pair → index + 1 in pinfo, 0 = empty */
  int32_t *pidx;
  uint32_t pmask;
  pair_info *pinfo;
  int np, capp;
  heap_item *heap;
  int nheap, capheap;
  /* merges in order (BPE output) */
  int32_t *ma, *mb;
  int nm, capm;
} trainer;

static void on_word(void *ctx, const char *w, size_t n) {
  trainer *tr = ctx;
  int32_t id = tok_strmap_get(&tr->wmap, w, (uint32_t)n);
  if (id >= 0) {
    tr->wcount[id]++;
    return;
  }
  if (tr->nw == tr->capw) {
    tr->capw = tr->capw ? 2 * tr->capw : 4096;
    tr->wstr = ordo_realloc(tr->wstr, (size_t)tr->capw * sizeof(char *));
    tr->wlen = ordo_realloc(tr->wlen, (size_t)tr->capw * sizeof(uint32_t));
    tr->wcount = ordo_realloc(tr->wcount, (size_t)tr->capw * sizeof(int64_t));
  }
  char *c = ordo_malloc(n + 1);
  memcpy(c, w, n);
  c[n] = 0;
  tr->wstr[tr->nw] = c, tr->wlen[tr->nw] = (uint32_t)n, tr->wcount[tr->nw] = 1;
  tok_strmap_put(&tr->wmap, c, (uint32_t)n, tr->nw);
  tr->nw++;
}

static int32_t sym_get(trainer *tr, const char *s, uint32_t n) {
  int32_t id = tok_strmap_get(&tr->smap, s, n);
  if (id >= 0) return id;
  if (tr->nsym == tr->capsym) {
    tr->capsym = tr->capsym ? 2 * tr->capsym : 1024;
    tr->sym = ordo_realloc(tr->sym, (size_t)tr->capsym * sizeof(char *));
    tr->slen = ordo_realloc(tr->slen, (size_t)tr->capsym * sizeof(uint32_t));
  }
  char *c = ordo_malloc(n + 1);
  memcpy(c, s, n);
  c[n] = 0;
  tr->sym[tr->nsym] = c, tr->slen[tr->nsym] = n;
  tok_strmap_put(&tr->smap, c, n, tr->nsym);
  return tr->nsym++;
}

/* ---- pair table ---- */

static int32_t pair_find(trainer *tr, int32_t a, int32_t b, int create) {
  uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
  if (create && (uint32_t)(tr->np + 1) * 2 > tr->pmask + 1) { /* grow and rehash */
    uint32_t cap = (tr->pmask + 1) * 2;
    uint64_t *nk = ordo_calloc(cap, sizeof(uint64_t));
    int32_t *ni = ordo_calloc(cap, sizeof(int32_t));
    for (uint32_t i = 0; i <= tr->pmask; i++) {
      if (!tr->pidx[i]) continue;
      uint32_t j = (uint32_t)((tr->pkey[i] * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
      while (ni[j]) j = (j + 1) & (cap - 1);
      nk[j] = tr->pkey[i], ni[j] = tr->pidx[i];
    }
    free(tr->pkey), free(tr->pidx);
    tr->pkey = nk, tr->pidx = ni, tr->pmask = cap - 1;
  }
  uint32_t i = (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32) & tr->pmask;
  while (tr->pidx[i]) {
    if (tr->pkey[i] == k) return tr->pidx[i] - 1;
    i = (i + 1) & tr->pmask;
  }
  if (!create) return -1;
  if (tr->np == tr->capp) {
    tr->capp = tr->capp ? 2 * tr->capp : 4096;
    tr->pinfo = ordo_realloc(tr->pinfo, (size_t)tr->capp * sizeof(pair_info));
  }
  pair_info *p = &tr->pinfo[tr->np];
  memset(p, 0, sizeof(*p));
  p->a = a, p->b = b;
  tr->pkey[i] = k, tr->pidx[i] = tr->np + 1;
  return tr->np++;
}

static void pair_add(trainer *tr, int32_t a, int32_t b, int64_t delta, int word, tok_ivec *changed) {
  int32_t p = pair_find(tr, a, b, 1);
  pair_info *pi = &tr->pinfo[p];
  pi->count += delta;
  if (delta > 0 && word >= 0) {
    if (pi->nwhere == pi->capwhere) {
      pi->capwhere = pi->capwhere ? 2 * pi->capwhere : 4;
      pi->where = ordo_realloc(pi->where, (size_t)pi->capwhere * sizeof(int32_t));
    }
    pi->where[pi->nwhere++] = word;
  }
  if (changed) tok_ivec_push(changed, p);
}

static int heap_before(heap_item x, heap_item y) { /* max count first, then smaller ids */
  if (x.count != y.count) return x.count > y.count;
  if (x.a != y.a) return x.a < y.a;
  return x.b < y.b;
}
static void heap_push(trainer *tr, heap_item x) {
  if (tr->nheap == tr->capheap) {
    tr->capheap = tr->capheap ? 2 * tr->capheap : 4096;
    tr->heap = ordo_realloc(tr->heap, (size_t)tr->capheap * sizeof(heap_item));
  }
  int i = tr->nheap++;
  while (i > 0 && heap_before(x, tr->heap[(i - 1) / 2])) {
    tr->heap[i] = tr->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  tr->heap[i] = x;
}
static heap_item heap_pop(trainer *tr) {
  heap_item top = tr->heap[0], x = tr->heap[--tr->nheap];
  int i = 0, n = tr->nheap;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap_before(tr->heap[c + 1], tr->heap[c])) c++;
    if (!heap_before(tr->heap[c], x)) break;
    tr->heap[i] = tr->heap[c];
    i = c;
  }
  tr->heap[i] = x;
  return top;
}

/* ---- the merge loop ---- */

static void train_merges(trainer *tr, const tok_train_opts *o) {
  int min_freq = o->min_frequency > 0 ? o->min_frequency : 2;
  tr->pmask = 4095;
  tr->pkey = ordo_calloc(4096, sizeof(uint64_t));
  tr->pidx = ordo_calloc(4096, sizeof(int32_t));
  for (int w = 0; w < tr->nw; w++)
    for (int i = 0; i + 1 < tr->seqlen[w]; i++) pair_add(tr, tr->seq[w][i], tr->seq[w][i + 1], tr->wcount[w], w, NULL);
  for (int p = 0; p < tr->np; p++)
    if (tr->pinfo[p].count > 0) heap_push(tr, (heap_item){tr->pinfo[p].count, tr->pinfo[p].a, tr->pinfo[p].b});
  int *stamp = ordo_calloc((size_t)tr->nw + 1, sizeof(int));
  tok_ivec changed = {0};
  char buf[4096];
  int iter = 0;
  ordo_progress pb;
  progress_init(&pb, "tokenizer", o->vocab_size);
  pb.unit = "symbols";
  pb.start = pb.done = tr->nsym;
  while (tr->nsym < o->vocab_size && tr->nheap > 0) {
    if (o->progress) progress_update(&pb, tr->nsym, NULL);
    heap_item top = heap_pop(tr);
    int32_t p = pair_find(tr, top.a, top.b, 0);
    if (p < 0 || tr->pinfo[p].count != top.count) continue; /* stale */
    if (top.count < min_freq) break;
    int32_t a = top.a, b = top.b;
    /* the merged symbol's text */
    const char *sb = tr->sym[b];
    uint32_t lb = tr->slen[b];
    if (tr->wordpiece && lb > 2 && memcmp(sb, "##", 2) == 0) sb += 2, lb -= 2;
    if (tr->slen[a] + lb >= sizeof(buf)) { /* absurdly long symbol: never merge further */
      tr->pinfo[p].count = 0;
      continue;
    }
    memcpy(buf, tr->sym[a], tr->slen[a]);
    memcpy(buf + tr->slen[a], sb, lb);
    int32_t c = sym_get(tr, buf, tr->slen[a] + lb);
    if (tr->nm == tr->capm) {
      tr->capm = tr->capm ? 2 * tr->capm : 1024;
      tr->ma = ordo_realloc(tr->ma, (size_t)tr->capm * sizeof(int32_t));
      tr->mb = ordo_realloc(tr->mb, (size_t)tr->capm * sizeof(int32_t));
    }
    tr->ma[tr->nm] = a, tr->mb[tr->nm] = b, tr->nm++;
    iter++;
    changed.n = 0;
    /* the where list may grow while we walk it (pairs (c, c)); take its current length */
    int nwhere = tr->pinfo[p].nwhere;
    for (int k = 0; k < nwhere; k++) {
      int w = tr->pinfo[p].where[k];
      if (stamp[w] == iter) continue;
      stamp[w] = iter;
      int32_t *s = tr->seq[w];
      int n = tr->seqlen[w];
      int64_t cnt = tr->wcount[w];
      for (int i = 0; i + 1 < n; i++) {
        if (s[i] != a || s[i + 1] != b) continue;
        if (i > 0) {
          pair_add(tr, s[i - 1], a, -cnt, -1, &changed);
          pair_add(tr, s[i - 1], c, cnt, w, &changed);
        }
        if (i + 2 < n) {
          pair_add(tr, b, s[i + 2], -cnt, -1, &changed);
          pair_add(tr, c, s[i + 2], cnt, w, &changed);
        }
        pair_add(tr, a, b, -cnt, -1, &changed);
        s[i] = c;
        memmove(s + i + 1, s + i + 2, (size_t)(n - i - 2) * sizeof(int32_t));
        n--;
      }
      tr->seqlen[w] = n;
    }
    p = pair_find(tr, a, b, 0);
    free(tr->pinfo[p].where);
    tr->pinfo[p].where = NULL, tr->pinfo[p].nwhere = tr->pinfo[p].capwhere = 0;
    for (int k = 0; k < changed.n; k++) {
      pair_info *pi = &tr->pinfo[changed.v[k]];
      if (pi->count > 0) heap_push(tr, (heap_item){pi->count, pi->a, pi->b});
    }
  }
  if (o->progress) {
    pb.total = tr->nsym; /* the merges may run out before the target size */
    progress_finish(&pb, NULL);
  }
  free(stamp);
  free(changed.v);
}

static void trainer_free(trainer *tr) {
  for (int i = 0; i < tr->nw; i++) free(tr->wstr[i]), free(tr->seq ? tr->seq[i] : NULL);
  for (int i = 0; i < tr->nsym; i++) free(tr->sym[i]);
  for (int i = 0; i < tr->np; i++) free(tr->pinfo[i].where);
  free(tr->wstr), free(tr->wlen), free(tr->wcount), free(tr->seq), free(tr->seqlen);
  free(tr->sym), free(tr->slen), free(tr->pkey), free(tr->pidx), free(tr->pinfo), free(tr->heap);
  free(tr->ma), free(tr->mb);
  tok_strmap_free(&tr->wmap);
  tok_strmap_free(&tr->smap);
}

/* ---- collecting words ---- */

static void collect(trainer *tr, tok *cfg, const char *const *texts, const size_t *lens, int n) {
  int slot;
  tok_scratch *s = tok_scratch_get(cfg, &slot);
  s->on_word = on_word;
  s->word_ctx = tr;
  for (int i = 0; i < n; i++) {
    if (cfg->kind == TOK_MODEL_BPE)
      tok_bpe_encode_segment(cfg, s, texts[i], lens[i]);
    else
      tok_wp_encode_segment(cfg, s, texts[i], lens[i]);
  }
  s->on_word = NULL;
  tok_scratch_put(cfg, s, slot);
}

static void add_specials_json(cJSON *root, const char *const *sp) {
  cJSON *arr = cJSON_AddArrayToObject(root, "added_tokens");
  for (int i = 0; i < 5; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", i);
    cJSON_AddStringToObject(o, "content", sp[i]);
    cJSON_AddBoolToObject(o, "single_word", 0);
    cJSON_AddBoolToObject(o, "lstrip", 0);
    cJSON_AddBoolToObject(o, "rstrip", 0);
    cJSON_AddBoolToObject(o, "normalized", 0);
    cJSON_AddBoolToObject(o, "special", 1);
    cJSON_AddItemToArray(arr, o);
  }
}

static cJSON *vocab_json(const trainer *tr) {
  cJSON *v = cJSON_CreateObject();
  for (int i = 0; i < tr->nsym; i++) cJSON_AddNumberToObject(v, tr->sym[i], i);
  return v;
}

static cJSON *special_ref(const char *tokn, int id) {
  cJSON *a = cJSON_CreateArray();
  cJSON_AddItemToArray(a, cJSON_CreateString(tokn));
  cJSON_AddItemToArray(a, cJSON_CreateNumber(id));
  return a;
}

static int check_opts(const tok_train_opts *o, ordo_err *e) {
  if (!o || o->vocab_size < 1) return ordo_fail(e, "train: --vocab-size must be positive");
  if (o->vocab_size > 10000000) return ordo_fail(e, "train: --vocab-size %d is too large", o->vocab_size);
  return 0;
}

int tok_train_bpe_texts(const char *const *texts, const size_t *lens, int n, const tok_train_opts *o,
                        char **json_out, ordo_err *e) {
  *json_out = NULL;
  if (check_opts(o, e)) return -1;
  tok *cfg = tok_alloc();
  cfg->kind = TOK_MODEL_BPE;
  cfg->pretok = TOK_PRE_BYTELEVEL;
  trainer tr = {0};
  tok_strmap_init(&tr.wmap, 1 << 14);
  tok_strmap_init(&tr.smap, 1 << 12);
  collect(&tr, cfg, texts, lens, n);
  tok_free(cfg);
  static const char *sp[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
  for (int i = 0; i < 5; i++) sym_get(&tr, sp[i], (uint32_t)strlen(sp[i]));
  /* the 256 byte symbols, in byte order (GPT-2's byte → character map) */
  int32_t byte_sym[256];
  int m = 0;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    uint32_t cp = printable ? (uint32_t)b : (uint32_t)(256 + m++);
    char s[4];
    byte_sym[b] = sym_get(&tr, s, (uint32_t)tok_utf8_put(s, cp));
  }
  tr.seq = ordo_malloc((size_t)(tr.nw + 1) * sizeof(int32_t *));
  tr.seqlen = ordo_malloc((size_t)(tr.nw + 1) * sizeof(int));
  for (int w = 0; w < tr.nw; w++) {
    tr.seq[w] = ordo_malloc((tr.wlen[w] + 1) * sizeof(int32_t));
    for (uint32_t i = 0; i < tr.wlen[w]; i++) tr.seq[w][i] = byte_sym[(unsigned char)tr.wstr[w][i]];
    tr.seqlen[w] = (int)tr.wlen[w];
  }
  train_merges(&tr, o);

  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "version", "1.0");
  cJSON_AddNullToObject(root, "truncation");
  cJSON_AddNullToObject(root, "padding");
  add_specials_json(root, sp);
  cJSON_AddNullToObject(root, "normalizer");
  cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
  cJSON_AddStringToObject(pre, "type", "ByteLevel");
  cJSON_AddBoolToObject(pre, "add_prefix_space", 0);
  cJSON_AddBoolToObject(pre, "trim_offsets", 1);
  cJSON_AddBoolToObject(pre, "use_regex", 1);
  cJSON *post = cJSON_AddObjectToObject(root, "post_processor");
  cJSON_AddStringToObject(post, "type", "RobertaProcessing");
  cJSON_AddItemToObject(post, "sep", special_ref("</s>", 2));
  cJSON_AddItemToObject(post, "cls", special_ref("<s>", 0));
  cJSON_AddBoolToObject(post, "trim_offsets", 1);
  cJSON_AddBoolToObject(post, "add_prefix_space", 0);
  cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
  cJSON_AddStringToObject(dec, "type", "ByteLevel");
  cJSON_AddBoolToObject(dec, "add_prefix_space", 1);
  cJSON_AddBoolToObject(dec, "trim_offsets", 1);
  cJSON_AddBoolToObject(dec, "use_regex", 1);
  cJSON *model = cJSON_AddObjectToObject(root, "model");
  cJSON_AddStringToObject(model, "type", "BPE");
  cJSON_AddNullToObject(model, "dropout");
  cJSON_AddNullToObject(model, "unk_token");
  cJSON_AddNullToObject(model, "continuing_subword_prefix");
  cJSON_AddNullToObject(model, "end_of_word_suffix");
  cJSON_AddBoolToObject(model, "fuse_unk", 0);
  cJSON_AddBoolToObject(model, "byte_fallback", 0);
  cJSON_AddBoolToObject(model, "ignore_merges", 0);
  cJSON_AddItemToObject(model, "vocab", vocab_json(&tr));
  cJSON *merges = cJSON_AddArrayToObject(model, "merges");
  for (int i = 0; i < tr.nm; i++) {
    cJSON *pr = cJSON_CreateArray();
    cJSON_AddItemToArray(pr, cJSON_CreateString(tr.sym[tr.ma[i]]));
    cJSON_AddItemToArray(pr, cJSON_CreateString(tr.sym[tr.mb[i]]));
    cJSON_AddItemToArray(merges, pr);
  }
  *json_out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  trainer_free(&tr);
  return 0;
}

int tok_train_wordpiece_texts(const char *const *texts, const size_t *lens, int n, const tok_train_opts *o,
                              char **json_out, ordo_err *e) {
  *json_out = NULL;
  if (check_opts(o, e)) return -1;
  tok *cfg = tok_alloc();
  cfg->kind = TOK_MODEL_WORDPIECE;
  cfg->pretok = TOK_PRE_BERT;
  cfg->norm_clean = cfg->norm_cjk = 1;
  cfg->norm_lower = cfg->norm_strip = o->lowercase ? 1 : 0;
  trainer tr = {0};
  tr.wordpiece = 1;
  tok_strmap_init(&tr.wmap, 1 << 14);
  tok_strmap_init(&tr.smap, 1 << 12);
  collect(&tr, cfg, texts, lens, n);
  tok_free(cfg);
  static const char *sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < 5; i++) sym_get(&tr, sp[i], (uint32_t)strlen(sp[i]));
  /* alphabet: each character as a word start and as a continuation, in order of appearance */
  tr.seq = ordo_malloc((size_t)(tr.nw + 1) * sizeof(int32_t *));
  tr.seqlen = ordo_malloc((size_t)(tr.nw + 1) * sizeof(int));
  char buf[8];
  for (int w = 0; w < tr.nw; w++) {
    tr.seq[w] = ordo_malloc((tr.wlen[w] + 1) * sizeof(int32_t));
    int k = 0;
    const unsigned char *p = (const unsigned char *)tr.wstr[w];
    for (uint32_t i = 0; i < tr.wlen[w];) {
      uint32_t cp;
      int l = tok_utf8_next(p + i, tr.wlen[w] - i, &cp);
      if (i == 0) {
        tr.seq[w][k++] = sym_get(&tr, (const char *)p, (uint32_t)l);
      } else {
        buf[0] = '#', buf[1] = '#';
        memcpy(buf + 2, p + i, (size_t)l);
        tr.seq[w][k++] = sym_get(&tr, buf, (uint32_t)l + 2);
      }
      i += (uint32_t)l;
    }
    tr.seqlen[w] = k;
  }
  train_merges(&tr, o);

  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "version", "1.0");
  cJSON_AddNullToObject(root, "truncation");
  cJSON_AddNullToObject(root, "padding");
  add_specials_json(root, sp);
  cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
  cJSON_AddStringToObject(norm, "type", "BertNormalizer");
  cJSON_AddBoolToObject(norm, "clean_text", 1);
  cJSON_AddBoolToObject(norm, "handle_chinese_chars", 1);
  cJSON_AddBoolToObject(norm, "strip_accents", o->lowercase ? 1 : 0);
  cJSON_AddBoolToObject(norm, "lowercase", o->lowercase ? 1 : 0);
  cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
  cJSON_AddStringToObject(pre, "type", "BertPreTokenizer");
  cJSON *post = cJSON_AddObjectToObject(root, "post_processor");
  cJSON_AddStringToObject(post, "type", "BertProcessing");
  cJSON_AddItemToObject(post, "sep", special_ref("[SEP]", 3));
  cJSON_AddItemToObject(post, "cls", special_ref("[CLS]", 2));
  cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
  cJSON_AddStringToObject(dec, "type", "WordPiece");
  cJSON_AddStringToObject(dec, "prefix", "##");
  cJSON_AddBoolToObject(dec, "cleanup", 1);
  cJSON *model = cJSON_AddObjectToObject(root, "model");
  cJSON_AddStringToObject(model, "type", "WordPiece");
  cJSON_AddStringToObject(model, "unk_token", "[UNK]");
  cJSON_AddStringToObject(model, "continuing_subword_prefix", "##");
  cJSON_AddNumberToObject(model, "max_input_chars_per_word", 100);
  cJSON_AddItemToObject(model, "vocab", vocab_json(&tr));
  *json_out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  trainer_free(&tr);
  return 0;
}

static int train_files(const char *const *files, int nfiles, const tok_train_opts *o, const char *out_path,
                       int wordpiece, ordo_err *e) {
  char **texts = ordo_calloc((size_t)nfiles + 1, sizeof(char *));
  size_t *lens = ordo_calloc((size_t)nfiles + 1, sizeof(size_t));
  int rc = 0;
  for (int i = 0; i < nfiles && rc == 0; i++)
    if (!(texts[i] = ordo_read_file(files[i], &lens[i], e))) rc = -1;
  char *json = NULL;
  if (rc == 0)
    rc = wordpiece ? tok_train_wordpiece_texts((const char *const *)texts, lens, nfiles, o, &json, e)
                   : tok_train_bpe_texts((const char *const *)texts, lens, nfiles, o, &json, e);
  if (rc == 0) rc = ordo_write_file_atomic(out_path, json, strlen(json), e);
  free(json);
  for (int i = 0; i < nfiles; i++) free(texts[i]);
  free(texts);
  free(lens);
  return rc;
}

int tok_train_bpe(const char *const *files, int nfiles, const tok_train_opts *o, const char *out_path, ordo_err *e) {
  return train_files(files, nfiles, o, out_path, 0, e);
}
int tok_train_wordpiece(const char *const *files, int nfiles, const tok_train_opts *o, const char *out_path,
                        ordo_err *e) {
  return train_files(files, nfiles, o, out_path, 1, e);
}
