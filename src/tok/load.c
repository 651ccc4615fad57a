/* Loading: HF tokenizer.json (BPE or WordPiece model with the normalizer, pre-tokenizer,
 * post-processor and decoder that GPT-2, RoBERTa/CodeBERT and BERT use) and the classic files
 * (vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt). Anything else in a
 * tokenizer.json is refused with "unsupported: <what>". */
#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

#include "tok/tok_internal.h"

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others get U+0100... */
static void byte_to_cp_table(uint32_t cp[256]) {
  int n = 0;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
  }
}

void tok_finish(tok *t) {
  t->size = t->nvocab;
  while (t->size > 0 && !t->tokens[t->size - 1]) t->size--;
  uint32_t cp[256];
  byte_to_cp_table(cp);
  for (int i = 0; i < 512; i++) t->cp_byte[i] = -1;
  for (int b = 0; b < 256; b++) t->cp_byte[cp[b]] = (int16_t)b;
  if (t->byte_level) {
    for (int b = 0; b < 256; b++) {
      char s[4];
      int l = tok_utf8_put(s, cp[b]);
      t->byte_id[b] = tok_strmap_get(&t->vocab, s, (uint32_t)l);
    }
  }
  memset(t->added_first, 0, sizeof(t->added_first));
  for (int i = 0; i < t->nadded; i++) {
    t->added_first[(unsigned char)t->added[i].content[0]] = 1;
    if (t->added[i].special) t->special[t->added[i].id] = 1;
  }
  /* specials the engine asks for, by the post-processor first, then by the usual names */
  static const char *names[TOK_SP_COUNT][3] = {
      {"[CLS]", "<s>", NULL},           {"[SEP]", "</s>", NULL},  {"<s>", "<|endoftext|>", "[CLS]"},
      {"</s>", "<|endoftext|>", "[SEP]"}, {"[PAD]", "<pad>", NULL}, {"[UNK]", "<unk>", NULL},
      {"[MASK]", "<mask>", NULL}};
  if (t->has_post) {
    const tok_tmpl *s = &t->single;
    if (s->n > 0 && s->items[0].seq < 0 && t->sp[TOK_SP_CLS] < 0) t->sp[TOK_SP_CLS] = s->items[0].ids[0];
    if (s->n > 0 && s->items[s->n - 1].seq < 0 && t->sp[TOK_SP_SEP] < 0)
      t->sp[TOK_SP_SEP] = s->items[s->n - 1].ids[s->items[s->n - 1].nids - 1];
  }
  if (t->unk_id >= 0 && t->sp[TOK_SP_UNK] < 0) t->sp[TOK_SP_UNK] = t->unk_id;
  for (int k = 0; k < TOK_SP_COUNT; k++)
    for (int j = 0; j < 3 && t->sp[k] < 0 && names[k][j]; j++) t->sp[k] = tok_token_to_id(t, names[k][j]);
}

static int add_added(tok *t, const char *content, int32_t id, int special, int lstrip, int rstrip,
                     int single_word, int normalized) {
  t->added = ordo_realloc(t->added, (size_t)(t->nadded + 1) * sizeof(tok_added));
  tok_added *a = &t->added[t->nadded++];
  a->content = ordo_strdup(content);
  a->len = (uint32_t)strlen(content);
  a->id = id;
  a->special = (uint8_t)special, a->lstrip = (uint8_t)lstrip, a->rstrip = (uint8_t)rstrip;
  a->single_word = (uint8_t)single_word, a->normalized = (uint8_t)normalized;
  return 0;
}

/* ---- tokenizer.json ---- */

static int jbool(const cJSON *o, const char *k, int def) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
  return def;
}
static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int jnull(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return !v || cJSON_IsNull(v);
}

static int load_vocab_obj(tok *t, const cJSON *vocab, const char *name, ordo_err *e) {
  if (!cJSON_IsObject(vocab)) return ordo_fail(e, "%s: model.vocab: expected an object of token → id", name);
  int n = cJSON_GetArraySize(vocab);
  tok_strmap_free(&t->vocab);
  tok_strmap_init(&t->vocab, (uint32_t)n + 64);
  const cJSON *it;
  cJSON_ArrayForEach(it, vocab) {
    /* ids are dense in practice; a bound keeps a corrupt file from asking for gigabytes */
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= 2.0 * n + 1024 ||
        it->valuedouble != (double)(int)it->valuedouble)
      return ordo_fail(e, "%s: model.vocab[\"%.40s\"]: expected an integer id in [0, %d)", name, it->string,
                       2 * n + 1024);
    int rc = tok_add_token(t, (int32_t)it->valuedouble, it->string, (uint32_t)strlen(it->string));
    if (rc == -1) return ordo_fail(e, "%s: model.vocab: id %d given to two tokens", name, (int)it->valuedouble);
    if (rc == -2) return ordo_fail(e, "%s: model.vocab: token \"%.40s\" twice", name, it->string);
  }
  return 0;
}

/* One merge "a b" (string) or ["a", "b"] (array): rank r. */
static int add_merge(tok *t, const char *a, size_t al, const char *b, size_t bl, int r, const char *name,
                     ordo_err *e) {
  int32_t ia = tok_strmap_get(&t->vocab, a, (uint32_t)al), ib = tok_strmap_get(&t->vocab, b, (uint32_t)bl);
  char buf[1024];
  if (al + bl >= sizeof(buf)) return ordo_fail(e, "%s: merge %d: tokens too long", name, r);
  memcpy(buf, a, al);
  memcpy(buf + al, b, bl);
  int32_t im = tok_strmap_get(&t->vocab, buf, (uint32_t)(al + bl));
  if (ia < 0 || ib < 0 || im < 0)
    return ordo_fail(e, "%s: merge %d (\"%.*s\" \"%.*s\"): a part or the result is not in the vocabulary",
                     name, r, (int)(al > 40 ? 40 : al), a, (int)(bl > 40 ? 40 : bl), b);
  tok_pairmap_put(&t->merges, ia, ib, r, im);
  return 0;
}

static int load_model(tok *t, const cJSON *m, const char *name, ordo_err *e) {
  if (!cJSON_IsObject(m)) return ordo_fail(e, "%s: \"model\": expected an object", name);
  const char *type = jstr(m, "type");
  if (!type) return ordo_fail(e, "%s: model.type: expected \"BPE\" or \"WordPiece\"", name);
  if (load_vocab_obj(t, cJSON_GetObjectItemCaseSensitive(m, "vocab"), name, e)) return -1;
  const char *unk = jstr(m, "unk_token");
  if (unk) t->unk_id = tok_token_to_id(t, unk);
  if (strcmp(type, "BPE") == 0) {
    t->kind = TOK_MODEL_BPE;
    if (!jnull(m, "dropout")) return ordo_fail(e, "%s: unsupported: BPE dropout", name);
    const char *csp = jstr(m, "continuing_subword_prefix"), *eow = jstr(m, "end_of_word_suffix");
    if (!jnull(m, "continuing_subword_prefix") && (!csp || csp[0]))
      return ordo_fail(e, "%s: unsupported: BPE continuing_subword_prefix (only null or \"\" are)", name);
    if (!jnull(m, "end_of_word_suffix") && (!eow || eow[0]))
      return ordo_fail(e, "%s: unsupported: BPE end_of_word_suffix (only null or \"\" are)", name);
    if (jbool(m, "byte_fallback", 0)) return ordo_fail(e, "%s: unsupported: BPE byte_fallback", name);
    if (jbool(m, "ignore_merges", 0)) return ordo_fail(e, "%s: unsupported: BPE ignore_merges", name);
    if (unk && t->unk_id < 0) return ordo_fail(e, "%s: model.unk_token \"%.40s\" is not in the vocabulary", name, unk);
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (!cJSON_IsArray(merges)) return ordo_fail(e, "%s: model.merges: expected an array", name);
    tok_pairmap_init(&t->merges, (uint32_t)cJSON_GetArraySize(merges) + 16);
    int r = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, merges) {
      if (cJSON_IsString(it)) {
        const char *s = it->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
          return ordo_fail(e, "%s: model.merges[%d]: expected \"left right\" with one space", name, r);
        if (add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), r, name, e)) return -1;
      } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) &&
                 cJSON_IsString(it->child->next)) {
        const char *a = it->child->valuestring, *b = it->child->next->valuestring;
        if (add_merge(t, a, strlen(a), b, strlen(b), r, name, e)) return -1;
      } else {
        return ordo_fail(e, "%s: model.merges[%d]: expected a string or a pair of strings", name, r);
      }
      r++;
    }
  } else if (strcmp(type, "WordPiece") == 0) {
    t->kind = TOK_MODEL_WORDPIECE;
    if (!unk || t->unk_id < 0) return ordo_fail(e, "%s: model.unk_token: expected a token of the vocabulary", name);
    const char *pre = jstr(m, "continuing_subword_prefix");
    if (!pre && !jnull(m, "continuing_subword_prefix"))
      return ordo_fail(e, "%s: model.continuing_subword_prefix: expected a string", name);
    if (!pre) pre = "##";
    if (strlen(pre) >= sizeof(t->prefix)) return ordo_fail(e, "%s: model.continuing_subword_prefix too long", name);
    strcpy(t->prefix, pre);
    t->prefix_len = (int)strlen(pre);
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(m, "max_input_chars_per_word");
    if (mc) {
      if (!cJSON_IsNumber(mc) || mc->valuedouble < 0 || mc->valuedouble > 1e9)
        return ordo_fail(e, "%s: model.max_input_chars_per_word: expected a non-negative integer", name);
      t->max_chars = (int)mc->valuedouble;
    }
  } else {
    return ordo_fail(e, "%s: unsupported: model type \"%.40s\" (BPE and WordPiece are)", name, type);
  }
  return 0;
}

static int load_added(tok *t, const cJSON *arr, const char *name, ordo_err *e) {
  if (!arr || cJSON_IsNull(arr)) return 0;
  if (!cJSON_IsArray(arr)) return ordo_fail(e, "%s: added_tokens: expected an array", name);
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    const char *c = jstr(it, "content");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
    int bound = t->nvocab + 2 * cJSON_GetArraySize(arr) + 1024;
    if (!c || !c[0] || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= bound)
      return ordo_fail(e, "%s: added_tokens[%d]: expected a non-empty \"content\" and an \"id\" in [0, %d)", name,
                       i, bound);
    int32_t iv = (int32_t)id->valuedouble;
    int rc = tok_add_token(t, iv, c, (uint32_t)strlen(c));
    if (rc == -1) return ordo_fail(e, "%s: added_tokens[%d]: id %d already holds another token", name, i, iv);
    if (rc == -2 && tok_token_to_id(t, c) != iv)
      return ordo_fail(e, "%s: added_tokens[%d]: \"%.40s\" already has another id", name, i, c);
    int normalized = jbool(it, "normalized", 0);
    if (normalized && t->kind == TOK_MODEL_WORDPIECE && (t->norm_lower || t->norm_strip))
      return ordo_fail(e, "%s: unsupported: added_tokens[%d] matched on normalized text", name, i);
    add_added(t, c, iv, jbool(it, "special", 0), jbool(it, "lstrip", 0), jbool(it, "rstrip", 0),
              jbool(it, "single_word", 0), normalized);
    i++;
  }
  return 0;
}

static int load_normalizer(tok *t, const cJSON *n, const char *name, ordo_err *e) {
  if (!n || cJSON_IsNull(n)) return 0;
  const char *type = jstr(n, "type");
  if (!type) return ordo_fail(e, "%s: normalizer.type: expected a string", name);
  if (strcmp(type, "BertNormalizer") == 0) {
    t->norm_clean = jbool(n, "clean_text", 1);
    t->norm_cjk = jbool(n, "handle_chinese_chars", 1);
    t->norm_lower = jbool(n, "lowercase", 1);
    t->norm_strip = jbool(n, "strip_accents", t->norm_lower); /* null: follows lowercase */
  } else if (strcmp(type, "Lowercase") == 0) {
    t->norm_lower = 1;
  } else if (strcmp(type, "NFD") == 0) {
    t->norm_nfd = 1;
  } else if (strcmp(type, "StripAccents") == 0) {
    if (!t->norm_nfd) return ordo_fail(e, "%s: unsupported: StripAccents without NFD before it", name);
    t->norm_strip = 2;
  } else if (strcmp(type, "Sequence") == 0) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(n, "normalizers"), *it;
    if (!cJSON_IsArray(arr)) return ordo_fail(e, "%s: normalizer.normalizers: expected an array", name);
    cJSON_ArrayForEach(it, arr) {
      const char *ty = jstr(it, "type");
      if (ty && strcmp(ty, "Sequence") == 0) return ordo_fail(e, "%s: unsupported: nested normalizer Sequence", name);
      if (load_normalizer(t, it, name, e)) return -1;
    }
  } else {
    return ordo_fail(e, "%s: unsupported: normalizer \"%.40s\"", name, type);
  }
  if (t->kind == TOK_MODEL_BPE) return ordo_fail(e, "%s: unsupported: a normalizer with a BPE model", name);
  return 0;
}

static int load_pretok(tok *t, const cJSON *p, const char *name, ordo_err *e) {
  const char *type = p && !cJSON_IsNull(p) ? jstr(p, "type") : "none";
  if (!type) return ordo_fail(e, "%s: pre_tokenizer.type: expected a string", name);
  if (strcmp(type, "ByteLevel") == 0 && t->kind == TOK_MODEL_BPE) {
    if (!jbool(p, "use_regex", 1)) return ordo_fail(e, "%s: unsupported: ByteLevel with use_regex false", name);
    t->pretok = TOK_PRE_BYTELEVEL;
    t->byte_level = 1;
    t->add_prefix_space = jbool(p, "add_prefix_space", 0);
  } else if (strcmp(type, "BertPreTokenizer") == 0 && t->kind == TOK_MODEL_WORDPIECE) {
    t->pretok = TOK_PRE_BERT;
  } else {
    return ordo_fail(e, "%s: unsupported: pre_tokenizer \"%.40s\" with model %s", name, type,
                     t->kind == TOK_MODEL_BPE ? "BPE (ByteLevel is)" : "WordPiece (BertPreTokenizer is)");
  }
  return 0;
}

/* ["token", id] of Roberta/BertProcessing */
static int special_pair(tok *t, const cJSON *p, const char *what, int32_t *id, const char *name, ordo_err *e) {
  if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsString(p->child) || !cJSON_IsNumber(p->child->next))
    return ordo_fail(e, "%s: post_processor.%s: expected [\"token\", id]", name, what);
  double v = p->child->next->valuedouble;
  *id = v >= 0 && v < t->nvocab ? (int32_t)v : -1;
  if (*id < 0 || !t->tokens[*id])
    return ordo_fail(e, "%s: post_processor.%s: id %d is not in the vocabulary", name, what, *id);
  return 0;
}

static void tmpl_special(tok_tmpl *tm, int32_t id, int type_id) {
  tok_tmpl_item *it = &tm->items[tm->n++];
  it->seq = -1, it->ids[0] = id, it->nids = 1, it->type_id = type_id;
}
static void tmpl_seq(tok_tmpl *tm, int seq, int type_id) {
  tok_tmpl_item *it = &tm->items[tm->n++];
  it->seq = seq, it->nids = 0, it->type_id = type_id;
}

static int load_template(tok *t, const cJSON *arr, const cJSON *specials, tok_tmpl *tm, const char *what,
                         const char *name, ordo_err *e) {
  if (!cJSON_IsArray(arr)) return ordo_fail(e, "%s: post_processor.%s: expected an array", name, what);
  tm->n = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (tm->n >= 8) return ordo_fail(e, "%s: unsupported: post_processor.%s with more than 8 items", name, what);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
    const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(sp ? sp : sq, "type_id");
    if (ty && (!cJSON_IsNumber(ty) || ty->valuedouble < 0 || ty->valuedouble > 255))
      return ordo_fail(e, "%s: post_processor.%s: type_id: expected an integer in [0, 255]", name, what);
    int type_id = ty ? (int)ty->valuedouble : 0;
    const char *id = jstr(sp ? sp : sq, "id");
    if (!id) return ordo_fail(e, "%s: post_processor.%s: expected SpecialToken or Sequence items with an id", name, what);
    if (sq) {
      if (strcmp(id, "A") && strcmp(id, "B")) return ordo_fail(e, "%s: post_processor.%s: sequence id \"%.10s\"", name, what, id);
      tmpl_seq(tm, id[0] == 'B', type_id);
      continue;
    }
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(specials, id);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids"), *x;
    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) < 1 || cJSON_GetArraySize(ids) > 4)
      return ordo_fail(e, "%s: post_processor.special_tokens[\"%.40s\"]: expected 1 to 4 ids", name, id);
    tok_tmpl_item *ti = &tm->items[tm->n++];
    ti->seq = -1, ti->nids = 0, ti->type_id = type_id;
    cJSON_ArrayForEach(x, ids) {
      if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= t->nvocab || !t->tokens[(int)x->valuedouble])
        return ordo_fail(e, "%s: post_processor.special_tokens[\"%.40s\"]: id out of the vocabulary", name, id);
      ti->ids[ti->nids++] = (int32_t)x->valuedouble;
    }
  }
  return 0;
}

static int load_post(tok *t, const cJSON *p, const char *name, ordo_err *e) {
  if (!p || cJSON_IsNull(p)) return 0;
  const char *type = jstr(p, "type");
  if (!type) return ordo_fail(e, "%s: post_processor.type: expected a string", name);
  if (strcmp(type, "ByteLevel") == 0) return 0; /* offsets only; ids unchanged */
  if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
    int32_t cls, sep;
    if (special_pair(t, cJSON_GetObjectItemCaseSensitive(p, "cls"), "cls", &cls, name, e) ||
        special_pair(t, cJSON_GetObjectItemCaseSensitive(p, "sep"), "sep", &sep, name, e))
      return -1;
    int roberta = type[0] == 'R';
    if (roberta && jbool(p, "add_prefix_space", 0) != t->add_prefix_space)
      return ordo_fail(e, "%s: unsupported: RobertaProcessing add_prefix_space differing from the pre-tokenizer's", name);
    t->has_post = 1;
    t->single.n = t->pair.n = 0;
    tmpl_special(&t->single, cls, 0), tmpl_seq(&t->single, 0, 0), tmpl_special(&t->single, sep, 0);
    /* RoBERTa: <s> A </s></s> B </s>, all type 0; BERT: [CLS] A [SEP] B [SEP], B part type 1 */
    tmpl_special(&t->pair, cls, 0), tmpl_seq(&t->pair, 0, 0), tmpl_special(&t->pair, sep, 0);
    if (roberta) tmpl_special(&t->pair, sep, 0);
    tmpl_seq(&t->pair, 1, roberta ? 0 : 1), tmpl_special(&t->pair, sep, roberta ? 0 : 1);
    t->sp[TOK_SP_CLS] = cls, t->sp[TOK_SP_SEP] = sep;
    return 0;
  }
  if (strcmp(type, "TemplateProcessing") == 0) {
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(p, "special_tokens");
    if (load_template(t, cJSON_GetObjectItemCaseSensitive(p, "single"), sp, &t->single, "single", name, e) ||
        load_template(t, cJSON_GetObjectItemCaseSensitive(p, "pair"), sp, &t->pair, "pair", name, e))
      return -1;
    t->has_post = 1;
    return 0;
  }
  return ordo_fail(e, "%s: unsupported: post_processor \"%.40s\"", name, type);
}

static int load_decoder(tok *t, const cJSON *d, const char *name, ordo_err *e) {
  if (!d || cJSON_IsNull(d)) return 0;
  const char *type = jstr(d, "type");
  if (!type) return ordo_fail(e, "%s: decoder.type: expected a string", name);
  if (strcmp(type, "ByteLevel") == 0) {
    t->decoder = TOK_DEC_BYTELEVEL;
  } else if (strcmp(type, "WordPiece") == 0) {
    t->decoder = TOK_DEC_WORDPIECE;
    const char *pre = jstr(d, "prefix");
    if (!pre) pre = "##";
    if (strlen(pre) >= sizeof(t->dec_prefix)) return ordo_fail(e, "%s: decoder.prefix too long", name);
    strcpy(t->dec_prefix, pre);
    t->wp_cleanup = jbool(d, "cleanup", 1);
  } else {
    return ordo_fail(e, "%s: unsupported: decoder \"%.40s\"", name, type);
  }
  return 0;
}

/* WordPiece continuation pieces keyed without their prefix, so lookups need no copy */
static void build_cont(tok *t) {
  tok_strmap_init(&t->cont, (uint32_t)t->nvocab / 2 + 16);
  if (t->kind != TOK_MODEL_WORDPIECE || t->prefix_len == 0) return;
  for (int i = 0; i < t->nvocab; i++) {
    const char *s = t->tokens[i];
    if (s && t->tlen[i] > (uint32_t)t->prefix_len && memcmp(s, t->prefix, (size_t)t->prefix_len) == 0)
      tok_strmap_put(&t->cont, s + t->prefix_len, t->tlen[i] - (uint32_t)t->prefix_len, i);
  }
}

static int load_root(tok *t, const cJSON *root, const char *name, ordo_err *e) {
  if (!cJSON_IsObject(root)) return ordo_fail(e, "%s: expected a JSON object at the top", name);
  /* The file's truncation and padding are the defaults of the tokenizers library's encode();
   * ordo takes both per call (tok_enc_opts), as transformers' tokenizers do, so they are read
   * past (sentence-transformers' files set them, e.g. max_length 128 and Fixed padding). */
  static const char *const k_per_call[] = {"truncation", "padding"};
  for (int i = 0; i < 2; i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, k_per_call[i]);
    if (v && !cJSON_IsNull(v) && !cJSON_IsObject(v))
      return ordo_fail(e, "%s: \"%s\" must be null or an object", name, k_per_call[i]);
  }
  if (load_model(t, cJSON_GetObjectItemCaseSensitive(root, "model"), name, e)) return -1;
  if (load_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), name, e)) return -1;
  if (load_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), name, e)) return -1;
  if (load_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), name, e)) return -1;
  if (load_post(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), name, e)) return -1;
  if (load_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), name, e)) return -1;
  build_cont(t);
  tok_finish(t);
  return 0;
}

int tok_load_json(tok **out, const char *json, size_t len, const char *name, ordo_err *e) {
  *out = NULL;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!root) {
    size_t off = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
    size_t line = 1;
    for (size_t i = 0; i < off; i++) line += json[i] == '\n';
    return ordo_fail(e, "%s: line %zu (byte %zu): invalid JSON", name, line, off);
  }
  tok *t = tok_alloc();
  int rc = load_root(t, root, name, e);
  cJSON_Delete(root);
  if (rc) {
    tok_free(t);
    return -1;
  }
  *out = t;
  return 0;
}

/* ---- files and directories ---- */

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}
static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

int tok_load(tok **out, const char *path, ordo_err *e) {
  *out = NULL;
  char buf[4096];
  if (is_dir(path)) {
    snprintf(buf, sizeof(buf), "%s/tokenizer.json", path);
    if (exists(buf)) return tok_load(out, buf, e);
    return tok_load_classic(out, path, e);
  }
  const char *b = base_name(path);
  if (strcmp(b, "vocab.txt") == 0 || strcmp(b, "vocab.json") == 0 || strcmp(b, "encoder.json") == 0 ||
      strcmp(b, "merges.txt") == 0 || strcmp(b, "vocab.bpe") == 0)
    return tok_load_classic(out, path, e);
  size_t len;
  char *data = ordo_read_file(path, &len, e);
  if (!data) return -1;
  int rc = tok_load_json(out, data, len, path, e);
  free(data);
  return rc;
}
