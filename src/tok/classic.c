/* The classic tokenizer files, from before tokenizer.json:
 *  - vocab.json + merges.txt (RoBERTa, CodeBERT) or encoder.json + vocab.bpe (GPT-2):
 *    byte-level BPE without prefix space. When the vocabulary has <s> and </s> it is taken as
 *    RoBERTa's (<s> A </s> post-processing; <s> <pad> </s> <unk> <mask> special, <mask> eating
 *    the space before it); otherwise no special tokens are added (GPT-2).
 *  - vocab.txt (BERT): WordPiece with BERT's normalizer and pre-tokenizer, [CLS] A [SEP];
 *    lowercased unless a tokenizer_config.json beside it says "do_lower_case": false. */
#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

#include "tok/tok_internal.h"

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void dir_of(const char *path, char *dir, size_t cap) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(dir, cap, "%s", path);
    return;
  }
  const char *s = strrchr(path, '/');
  if (!s) snprintf(dir, cap, ".");
  else snprintf(dir, cap, "%.*s", (int)(s - path), path);
}

static void add_special_if_present(tok *t, const char *s, int lstrip) {
  int32_t id = tok_token_to_id(t, s);
  if (id < 0) return;
  t->added = ordo_realloc(t->added, (size_t)(t->nadded + 1) * sizeof(tok_added));
  tok_added *a = &t->added[t->nadded++];
  memset(a, 0, sizeof(*a));
  a->content = ordo_strdup(s);
  a->len = (uint32_t)strlen(s);
  a->id = id;
  a->special = 1;
  a->lstrip = (uint8_t)lstrip;
}

static int load_bpe_files(tok *t, const char *vocab, const char *merges, ordo_err *e) {
  size_t len;
  char *data = ordo_read_file(vocab, &len, e);
  if (!data) return -1;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
  if (!root) {
    size_t off = end && end >= data && end <= data + len ? (size_t)(end - data) : 0;
    free(data);
    return ordo_fail(e, "%s: byte %zu: invalid JSON", vocab, off);
  }
  free(data);
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return ordo_fail(e, "%s: expected an object of token → id", vocab);
  }
  tok_strmap_free(&t->vocab);
  tok_strmap_init(&t->vocab, (uint32_t)cJSON_GetArraySize(root) + 64);
  const cJSON *it;
  cJSON_ArrayForEach(it, root) {
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= 2.0 * cJSON_GetArraySize(root) + 1024 ||
        tok_add_token(t, (int32_t)it->valuedouble, it->string, (uint32_t)strlen(it->string))) {
      cJSON_Delete(root);
      return ordo_fail(e, "%s: entry \"%.40s\": expected a distinct non-negative integer id", vocab, it->string);
    }
  }
  cJSON_Delete(root);

  char *m = ordo_read_file(merges, &len, e);
  if (!m) return -1;
  tok_pairmap_init(&t->merges, (uint32_t)(len / 6) + 16);
  size_t line = 0;
  int rank = 0;
  char cat[1024];
  for (char *p = m; p < m + len;) {
    char *nl = memchr(p, '\n', (size_t)(m + len - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(m + len - p);
    char *next = nl ? nl + 1 : m + len;
    line++;
    if (l > 0 && p[l - 1] == '\r') l--;
    if (l == 0 || (line == 1 && l >= 8 && memcmp(p, "#version", 8) == 0)) {
      p = next;
      continue;
    }
    char *sp = memchr(p, ' ', l);
    if (!sp || memchr(sp + 1, ' ', (size_t)(p + l - sp - 1)) || sp == p || sp + 1 == p + l || l >= sizeof(cat)) {
      free(m);
      return ordo_fail(e, "%s: line %zu: expected \"left right\"", merges, line);
    }
    size_t al = (size_t)(sp - p), bl = l - al - 1;
    int32_t a = tok_strmap_get(&t->vocab, p, (uint32_t)al), b = tok_strmap_get(&t->vocab, sp + 1, (uint32_t)bl);
    memcpy(cat, p, al);
    memcpy(cat + al, sp + 1, bl);
    int32_t c = tok_strmap_get(&t->vocab, cat, (uint32_t)(al + bl));
    if (a < 0 || b < 0 || c < 0) {
      free(m);
      return ordo_fail(e, "%s: line %zu: a part or the result of the merge is not in %s", merges, line, vocab);
    }
    tok_pairmap_put(&t->merges, a, b, rank++, c);
    p = next;
  }
  free(m);
  t->kind = TOK_MODEL_BPE;
  t->byte_level = 1;
  t->pretok = TOK_PRE_BYTELEVEL;
  t->decoder = TOK_DEC_BYTELEVEL;
  int32_t s = tok_token_to_id(t, "<s>"), es = tok_token_to_id(t, "</s>");
  if (s >= 0 && es >= 0) {
    add_special_if_present(t, "<s>", 0);
    add_special_if_present(t, "<pad>", 0);
    add_special_if_present(t, "</s>", 0);
    add_special_if_present(t, "<unk>", 0);
    add_special_if_present(t, "<mask>", 1);
    t->has_post = 1;
    tok_tmpl *a = &t->single, *p = &t->pair;
    a->n = 3;
    a->items[0] = (tok_tmpl_item){.seq = -1, .ids = {s}, .nids = 1};
    a->items[1] = (tok_tmpl_item){.seq = 0};
    a->items[2] = (tok_tmpl_item){.seq = -1, .ids = {es}, .nids = 1};
    p->n = 6;
    p->items[0] = a->items[0], p->items[1] = a->items[1], p->items[2] = a->items[2];
    p->items[3] = a->items[2];
    p->items[4] = (tok_tmpl_item){.seq = 1};
    p->items[5] = a->items[2];
    t->unk_id = tok_token_to_id(t, "<unk>");
  }
  return 0;
}

static int load_vocab_txt(tok *t, const char *path, const char *dir, ordo_err *e) {
  size_t len;
  char *data = ordo_read_file(path, &len, e);
  if (!data) return -1;
  tok_strmap_free(&t->vocab);
  tok_strmap_init(&t->vocab, (uint32_t)(len / 5) + 64);
  int32_t id = 0;
  size_t line = 0;
  for (char *p = data; p < data + len;) {
    char *nl = memchr(p, '\n', (size_t)(data + len - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(data + len - p);
    line++;
    if (l > 0 && p[l - 1] == '\r') l--;
    if (tok_add_token(t, id++, p, (uint32_t)l)) {
      free(data);
      return ordo_fail(e, "%s: line %zu: token \"%.*s\" appears twice", path, line, (int)(l > 40 ? 40 : l), p);
    }
    if (!nl) break;
    p = nl + 1;
  }
  free(data);
  t->kind = TOK_MODEL_WORDPIECE;
  t->unk_id = tok_token_to_id(t, "[UNK]");
  if (t->unk_id < 0) return ordo_fail(e, "%s: expected an [UNK] token", path);
  strcpy(t->prefix, "##");
  t->prefix_len = 2;
  strcpy(t->dec_prefix, "##");
  t->wp_cleanup = 1;
  t->pretok = TOK_PRE_BERT;
  t->decoder = TOK_DEC_WORDPIECE;
  t->norm_clean = t->norm_cjk = 1;
  int lower = 1;
  char cfg[4200];
  snprintf(cfg, sizeof(cfg), "%s/tokenizer_config.json", dir);
  if (file_exists(cfg)) {
    char *c = ordo_read_file(cfg, &len, e);
    if (!c) return -1;
    cJSON *root = cJSON_ParseWithLength(c, len);
    free(c);
    if (!root) return ordo_fail(e, "%s: invalid JSON", cfg);
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(root, "do_lower_case");
    if (cJSON_IsBool(dl)) lower = cJSON_IsTrue(dl);
    cJSON_Delete(root);
  }
  t->norm_lower = t->norm_strip = lower;
  static const char *sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < 5; i++) add_special_if_present(t, sp[i], 0);
  int32_t cls = tok_token_to_id(t, "[CLS]"), sep = tok_token_to_id(t, "[SEP]");
  if (cls >= 0 && sep >= 0) {
    t->has_post = 1;
    tok_tmpl *a = &t->single, *p = &t->pair;
    a->n = 3;
    a->items[0] = (tok_tmpl_item){.seq = -1, .ids = {cls}, .nids = 1};
    a->items[1] = (tok_tmpl_item){.seq = 0};
    a->items[2] = (tok_tmpl_item){.seq = -1, .ids = {sep}, .nids = 1};
    p->n = 5;
    p->items[0] = a->items[0], p->items[1] = a->items[1], p->items[2] = a->items[2];
    p->items[3] = (tok_tmpl_item){.seq = 1, .type_id = 1};
    p->items[4] = (tok_tmpl_item){.seq = -1, .ids = {sep}, .nids = 1, .type_id = 1};
  }
  return 0;
}

int tok_load_classic(tok **out, const char *path, ordo_err *e) {
  *out = NULL;
  char dir[4096], a[4200], b[4200];
  dir_of(path, dir, sizeof(dir));
  tok *t = tok_alloc();
  int rc;
  snprintf(a, sizeof(a), "%s/vocab.txt", dir);
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  if (strcmp(base, "vocab.txt") == 0 || (!strstr(base, ".json") && !strstr(base, ".bpe") &&
                                         !strstr(base, ".txt") && file_exists(a))) {
    rc = load_vocab_txt(t, a, dir, e);
  } else {
    snprintf(a, sizeof(a), "%s/vocab.json", dir);
    snprintf(b, sizeof(b), "%s/merges.txt", dir);
    if (!file_exists(a) || !file_exists(b)) {
      snprintf(a, sizeof(a), "%s/encoder.json", dir);
      snprintf(b, sizeof(b), "%s/vocab.bpe", dir);
    }
    if (!file_exists(a) || !file_exists(b)) {
      tok_free(t);
      return ordo_fail(e, "%s: no tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe or vocab.txt there",
                       path);
    }
    rc = load_bpe_files(t, a, b, e);
  }
  if (rc) {
    tok_free(t);
    return -1;
  }
  tok_strmap_free(&t->cont);
  tok_strmap_init(&t->cont, (uint32_t)t->nvocab / 2 + 16);
  if (t->kind == TOK_MODEL_WORDPIECE)
    for (int i = 0; i < t->nvocab; i++)
      if (t->tokens[i] && t->tlen[i] > 2 && memcmp(t->tokens[i], "##", 2) == 0)
        tok_strmap_put(&t->cont, t->tokens[i] + 2, t->tlen[i] - 2, i);
  tok_finish(t);
  *out = t;
  return 0;
}
