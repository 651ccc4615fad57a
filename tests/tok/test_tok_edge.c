/* Self-contained tokenizer tests (nothing outside the repository):
 *  - edge cases against ids made by HF tokenizers (bench/tok/make_edge_fixtures.py) for three
 *    small tokenizers trained by ordo on tests/tok/data/corpus.txt: empty, whitespace runs,
 *    tabs, newlines, emoji and other 4-byte UTF-8, CJK, combining accents, very long words,
 *    special tokens inside the text, pairs with truncation and padding, decoding;
 *  - invalid UTF-8 (documented behaviour), megabyte-long words, concurrent encoding;
 *  - the classic files, the trainers, and error messages for bad files. */
#include <cjson/cJSON.h>
#include <omp.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ordo/tok.h"

#define DATA ORDO_TEST_FIXTURES "/../tok/data"

/* ---- a JSON string decoder that keeps NUL bytes (cJSON's strings end at the first NUL) ---- */
static int hexv(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}
static size_t put8(char *o, unsigned cp) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000)
    return o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[2] = (char)(0x80 | (cp & 0x3F)), 3;
  o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}
/* s points at the opening quote; returns malloc'd bytes and their length */
static char *json_str(const char *s, size_t *len) {
  char *o = malloc(strlen(s) + 1);
  size_t n = 0;
  for (s++; *s && *s != '"'; s++) {
    if (*s != '\\') {
      o[n++] = *s;
      continue;
    }
    s++;
    switch (*s) {
      case 'n': o[n++] = '\n'; break;
      case 't': o[n++] = '\t'; break;
      case 'r': o[n++] = '\r'; break;
      case 'b': o[n++] = '\b'; break;
      case 'f': o[n++] = '\f'; break;
      case 'u': {
        unsigned v = 0;
        for (int i = 1; i <= 4; i++) v = v * 16 + (unsigned)hexv(s[i]);
        s += 4;
        if (v >= 0xD800 && v <= 0xDBFF && s[1] == '\\' && s[2] == 'u') {
          unsigned w = 0;
          for (int i = 3; i <= 6; i++) w = w * 16 + (unsigned)hexv(s[i]);
          v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
          s += 6;
        }
        n += put8(o + n, v);
        break;
      }
      default: o[n++] = *s;
    }
  }
  *len = n;
  return o;
}

typedef struct {
  char **s;
  size_t *len;
  int n;
} strs;

static void read_edge(strs *E) {
  ordo_err e;
  size_t len;
  char *d = ordo_read_file(DATA "/edge.jsonl", &len, &e);
  EXPECT(d != NULL, "%s", e.msg);
  E->n = 0;
  E->s = malloc(256 * sizeof(char *));
  E->len = malloc(256 * sizeof(size_t));
  for (char *p = d; d && p < d + len && E->n < 256;) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    E->s[E->n] = json_str(p, &E->len[E->n]);
    E->n++;
    p = nl ? nl + 1 : d + len;
  }
  free(d);
}

static int same_ids(const cJSON *arr, const int32_t *ids, int n) {
  if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != n) return 0;
  int k = 0;
  const cJSON *x;
  cJSON_ArrayForEach(x, arr) if ((int)x->valuedouble != ids[k++]) return 0;
  return 1;
}

/* Every edge string against HF: ids, pair + truncation + padding, decode. */
static void check_against_hf(const char *name, const strs *E) {
  char path[512];
  tok *t;
  ordo_err e;
  snprintf(path, sizeof(path), DATA "/%s.json", name);
  int rc = tok_load(&t, path, &e);
  EXPECT(rc == 0, "%s", e.msg);
  if (rc) return;
  snprintf(path, sizeof(path), DATA "/edge_%s.jsonl", name);
  size_t len;
  char *d = ordo_read_file(path, &len, &e);
  EXPECT(d != NULL, "%s", e.msg);
  int32_t ids[8192], pid[32], ptype[32];
  uint8_t pmask[32];
  char dec[65536];
  int i = 0, ok_ids = 0, ok_pair = 0, ok_dec = 0, ok_rt = 0;
  for (char *p = d; d && p < d + len && i < E->n; i++) {
    char *nl = strchr(p, '\n'), *line = p;
    if (nl) *nl = 0;
    cJSON *j = cJSON_Parse(line);
    p = nl ? nl + 1 : d + len;
    int n = tok_encode(t, E->s[i], E->len[i], ids, 8192, TOK_ADD_SPECIAL);
    int good = same_ids(cJSON_GetObjectItem(j, "ids"), ids, n);
    EXPECT(good, "%s: edge string %d: ids differ from HF (%d ids)", name, i + 1, n);
    ok_ids += good;
    /* pair, truncated to 16 and padded to 20 */
    tok_enc_opts o = {.add_special = 1, .max_len = 16, .pad_to = 20};
    const int k = (i + 1) % E->n;
    int pn = tok_encode_ex(t, E->s[i], E->len[i], E->s[k], E->len[k], &o, pid, ptype, pmask, 32, &e);
    const cJSON *pj = cJSON_GetObjectItem(j, "pair");
    int32_t m32[32];
    for (int q = 0; q < pn; q++) m32[q] = pmask[q];
    good = pn == 20 && same_ids(cJSON_GetObjectItem(pj, "ids"), pid, pn) &&
           same_ids(cJSON_GetObjectItem(pj, "type_ids"), ptype, pn) && same_ids(cJSON_GetObjectItem(pj, "mask"), m32, pn);
    EXPECT(good, "%s: edge string %d: pair encoding differs from HF", name, i + 1);
    ok_pair += good;
    /* decode, skipping special tokens */
    size_t m = tok_decode(t, ids, n, dec, sizeof(dec), TOK_SKIP_SPECIAL);
    size_t hl;
    /* "decoded" is the last key; read it from the line itself since it may hold NUL bytes */
    char *w = json_str(strstr(line, "\"decoded\": ") + 11, &hl);
    good = m == hl && memcmp(dec, w, hl) == 0;
    EXPECT(good, "%s: edge string %d: decode differs from HF", name, i + 1);
    ok_dec += good;
    free(w);
    /* byte-exact round trip without special tokens (lstrip/rstrip tokens eat spaces: not there) */
    if (tok_kind(t) == TOK_MODEL_BPE && !strstr(name, "strip")) {
      n = tok_encode(t, E->s[i], E->len[i], ids, 8192, 0);
      m = tok_decode(t, ids, n, dec, sizeof(dec), 0);
      good = m == E->len[i] && memcmp(dec, E->s[i], m) == 0;
      EXPECT(good, "%s: edge string %d: round trip not exact", name, i + 1);
      ok_rt += good;
    }
    cJSON_Delete(j);
  }
  printf("%-16s %d/%d ids, %d/%d pairs, %d/%d decodes agree with HF; %d round trips exact\n", name, ok_ids, E->n,
         ok_pair, E->n, ok_dec, E->n, ok_rt);
  free(d);
  tok_free(t);
}

/* Invalid UTF-8: byte-level BPE keeps every byte (exact round trip); WordPiece drops the bytes
 * that are not characters, as its clean-up drops control characters. */
static void check_invalid_utf8(void) {
  tok *b, *w;
  ordo_err e;
  EXPECT(tok_load(&b, DATA "/bpe_small.json", &e) == 0, "%s", e.msg);
  EXPECT(tok_load(&w, DATA "/wp_small.json", &e) == 0, "%s", e.msg);
  static const char *bad[] = {"\xff\xfe", "abc\xc3", "\xed\xa0\x80 surrogate", "\xc0\xaf overlong", "\xf4\x90\x80\x80 big",
                              "ok \xe2\x82 cut", "\x80\x80\x80", "caf\xc3\xa9\xff"};
  int32_t ids[256], ids2[256];
  char dec[256];
  for (int i = 0; i < 8; i++) {
    size_t l = strlen(bad[i]);
    int n = tok_encode(b, bad[i], l, ids, 256, 0);
    size_t m = tok_decode(b, ids, n, dec, sizeof(dec), 0);
    EXPECT(n > 0 && m == l && memcmp(dec, bad[i], l) == 0, "invalid UTF-8 %d: BPE round trip", i);
    /* WordPiece: the same ids as the text with the invalid bytes taken out */
    char clean[64];
    size_t cl = 0;
    const unsigned char *p = (const unsigned char *)bad[i];
    for (size_t k = 0; k < l;) {
      unsigned c = p[k];
      size_t sl = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
      int valid = sl > 0 && k + sl <= l;
      for (size_t q = 1; valid && q < sl; q++) valid = (p[k + q] & 0xC0) == 0x80;
      if (valid && sl == 3 && c == 0xED && p[k + 1] >= 0xA0) valid = 0; /* surrogates */
      if (valid && sl == 4 && c == 0xF4 && p[k + 1] >= 0x90) valid = 0; /* past U+10FFFF */
      if (valid) memcpy(clean + cl, p + k, sl), cl += sl, k += sl;
      else k++;
    }
    n = tok_encode(w, bad[i], l, ids, 256, TOK_ADD_SPECIAL);
    int n2 = tok_encode(w, clean, cl, ids2, 256, TOK_ADD_SPECIAL);
    EXPECT(n == n2 && memcmp(ids, ids2, (size_t)n * sizeof(int32_t)) == 0, "invalid UTF-8 %d: WordPiece", i);
  }
  /* a megabyte-long word: BPE merges it in O(n log n) and round-trips; WordPiece gives [UNK] */
  size_t big = 1 << 20;
  char *s = malloc(big);
  for (size_t i = 0; i < big; i++) s[i] = "abcdefghij"[(i * 7 + i / 3) % 10];
  int32_t *many = malloc(big * sizeof(int32_t));
  double t0 = ordo_time();
  int n = tok_encode(b, s, big, many, (int)big, 0);
  double dt = ordo_time() - t0;
  char *out = malloc(big + 1);
  size_t m = tok_decode(b, many, n, out, big + 1, 0);
  EXPECT(m == big && memcmp(out, s, big) == 0, "1 MB word round trip");
  printf("1 MB single word: %d ids in %.3f s\n", n, dt);
  n = tok_encode(w, s, big, ids, 256, TOK_ADD_SPECIAL);
  EXPECT(n == 3 && ids[1] == tok_special_id(w, TOK_SP_UNK), "1 MB word is one [UNK] (%d ids)", n);
  /* 100 characters is the limit per word: 100 → pieces, 101 → [UNK] */
  n = tok_encode(w, s, 100, ids, 256, 0);
  EXPECT(n > 1 || ids[0] != tok_special_id(w, TOK_SP_UNK), "100-char word in pieces");
  n = tok_encode(w, s, 101, ids, 256, 0);
  EXPECT(n == 1 && ids[0] == tok_special_id(w, TOK_SP_UNK), "101-char word is [UNK]");
  free(s), free(many), free(out);
  tok_free(b), tok_free(w);
}

static void check_api(const strs *E) {
  tok *b, *w;
  ordo_err e;
  EXPECT(tok_load(&b, DATA "/bpe_small.json", &e) == 0, "%s", e.msg);
  EXPECT(tok_load(&w, DATA "/wp_small.json", &e) == 0, "%s", e.msg);
  EXPECT(tok_vocab_size(b) == 500 && tok_vocab_size(w) == 400, "vocab sizes %d %d", tok_vocab_size(b), tok_vocab_size(w));
  EXPECT(tok_special_id(b, TOK_SP_CLS) == 0 && tok_special_id(b, TOK_SP_PAD) == 1 && tok_special_id(b, TOK_SP_SEP) == 2 &&
             tok_special_id(b, TOK_SP_UNK) == 3 && tok_special_id(b, TOK_SP_MASK) == 4 && tok_special_id(b, TOK_SP_BOS) == 0 &&
             tok_special_id(b, TOK_SP_EOS) == 2,
         "BPE special ids");
  EXPECT(tok_special_id(w, TOK_SP_PAD) == 0 && tok_special_id(w, TOK_SP_UNK) == 1 && tok_special_id(w, TOK_SP_CLS) == 2 &&
             tok_special_id(w, TOK_SP_SEP) == 3 && tok_special_id(w, TOK_SP_MASK) == 4,
         "WordPiece special ids");
  EXPECT(tok_token_to_id(w, "[MASK]") == 4 && tok_token_to_id(w, "no such token") == -1, "token_to_id");
  EXPECT(tok_id_to_token(b, 2) && strcmp(tok_id_to_token(b, 2), "</s>") == 0 && !tok_id_to_token(b, 500), "id_to_token");
  EXPECT(tok_num_special(b, 0) == 2 && tok_num_special(b, 1) == 4 && tok_num_special(w, 1) == 3, "num_special");
  /* a short buffer: the full count comes back, the prefix is written */
  int32_t ids[64], full[4096];
  const char *txt = "The markdown explains what the code does.";
  int n = tok_encode(w, txt, strlen(txt), full, 4096, TOK_ADD_SPECIAL);
  int k = tok_encode(w, txt, strlen(txt), ids, 3, TOK_ADD_SPECIAL);
  EXPECT(k == n && n > 3 && memcmp(ids, full, 3 * sizeof(int32_t)) == 0, "short buffer: %d vs %d", k, n);
  /* encode_ex: too small a buffer and padding without a pad token are errors, not crashes */
  tok_enc_opts o = {.add_special = 1, .pad_to = 100};
  EXPECT(tok_encode_ex(w, txt, strlen(txt), NULL, 0, &o, ids, NULL, NULL, 64, &e) == -1 && strstr(e.msg, "fit"), "cap");
  /* concurrent encoding on 4 threads equals one thread */
  int bad = 0;
#pragma omp parallel for num_threads(4) reduction(+ : bad)
  for (int r = 0; r < 64 * E->n; r++) {
    int i = r % E->n;
    int32_t a[8192], c[8192];
    const tok *t = (r / E->n) % 2 ? b : w;
    int na = tok_encode(t, E->s[i], E->len[i], a, 8192, TOK_ADD_SPECIAL);
    int nc = tok_encode(t, E->s[i], E->len[i], c, 8192, TOK_ADD_SPECIAL);
    bad += na != nc || memcmp(a, c, (size_t)na * sizeof(int32_t)) != 0;
  }
  EXPECT(bad == 0, "concurrent encodes differ: %d", bad);
  tok_free(b), tok_free(w);
}

static int write_text(const char *path, const char *s) {
  ordo_err e;
  return ordo_write_file_atomic(path, s, strlen(s), &e);
}

static void check_errors(void) {
  tok *t = NULL;
  ordo_err e;
  const char *badjson = "{\n  \"model\": {\n    \"type\": \"BPE\",,\n  }\n}";
  EXPECT(tok_load_json(&t, badjson, strlen(badjson), "x.json", &e) == -1 && strstr(e.msg, "x.json: line 3") && !t,
         "invalid JSON: %s", e.msg);
  const char *uni = "{\"model\": {\"type\": \"Unigram\", \"vocab\": {}}}";
  EXPECT(tok_load_json(&t, uni, strlen(uni), "u.json", &e) == -1 && strstr(e.msg, "unsupported: model type \"Unigram\""),
         "%s", e.msg);
  const char *pre = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}";
  EXPECT(tok_load_json(&t, pre, strlen(pre), "m.json", &e) == -1 && strstr(e.msg, "unsupported: pre_tokenizer \"Metaspace\""),
         "%s", e.msg);
  const char *mer = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}";
  EXPECT(tok_load_json(&t, mer, strlen(mer), "g.json", &e) == -1 && strstr(e.msg, "merge 0"), "%s", e.msg);
  const char *ids = "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 99999999}}}";
  EXPECT(tok_load_json(&t, ids, strlen(ids), "i.json", &e) == -1 && strstr(e.msg, "id in [0,"), "%s", e.msg);
  /* found by fuzz_load: a huge type_id was cast to int unchecked */
  const char *ty =
      "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1}},"
      "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"post_processor\": {\"type\": "
      "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 7e89}}], \"pair\": [],"
      "\"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [1], \"tokens\": [\"[CLS]\"]}}}}";
  EXPECT(tok_load_json(&t, ty, strlen(ty), "ty.json", &e) == -1 && strstr(e.msg, "type_id"), "%s", e.msg);
  /* found by fuzz_load: a non-string prefix was dereferenced */
  const char *csp = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [], \"continuing_subword_prefix\": 1}}";
  EXPECT(tok_load_json(&t, csp, strlen(csp), "p.json", &e) == -1 && strstr(e.msg, "continuing_subword_prefix"), "%s", e.msg);
  /* found by fuzz_load: a vocabulary without the byte symbols encodes to nothing, no crash */
  const char *nob = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"zz\": 0}, \"merges\": []}, \"pre_tokenizer\": "
                    "{\"type\": \"ByteLevel\"}}";
  EXPECT(tok_load_json(&t, nob, strlen(nob), "n.json", &e) == 0, "%s", e.msg);
  if (t) {
    int32_t one[4];
    EXPECT(tok_encode(t, "abc abc", 7, one, 4, TOK_ADD_SPECIAL) == 0, "no byte symbols: no ids");
    tok_free(t);
    t = NULL;
  }
  EXPECT(tok_load(&t, "/nonexistent/tokenizer.json", &e) == -1 && strstr(e.msg, "/nonexistent"), "%s", e.msg);
  const char *tr = "{\"truncation\": 8, \"model\": {}}";
  EXPECT(tok_load_json(&t, tr, strlen(tr), "t.json", &e) == -1 && strstr(e.msg, "t.json: \"truncation\" must be"),
         "%s", e.msg);
  const char *pad = "{\"padding\": [128], \"model\": {}}";
  EXPECT(tok_load_json(&t, pad, strlen(pad), "q.json", &e) == -1 && strstr(e.msg, "q.json: \"padding\" must be"),
         "%s", e.msg);
}

/* A tokenizer.json that sets truncation and padding (as sentence-transformers' files do) loads,
 * and encodes as the same file without them: ordo truncates and pads per call. */
static void check_file_truncation(void) {
  ordo_err e;
  size_t len;
  char *json = ordo_read_file(DATA "/wp_small.json", &len, &e);
  EXPECT(json != NULL, "%s", e.msg);
  if (!json) return;
  const char *key = "\"truncation\":null", *pkey = "\"padding\":null";
  char *tp = strstr(json, key), *pp = strstr(json, pkey);
  EXPECT(tp && pp, "wp_small.json has null truncation and padding");
  if (!tp || !pp) return free(json);
  ordo_buf b = {0};
  ordo_buf_add(&b, json, (size_t)(tp - json));
  ordo_buf_str(&b, "\"truncation\": {\"max_length\": 4, \"strategy\": \"LongestFirst\", \"stride\": 0}");
  ordo_buf_add(&b, tp + strlen(key), (size_t)(pp - tp - (ptrdiff_t)strlen(key)));
  ordo_buf_str(&b, "\"padding\": {\"strategy\": {\"Fixed\": 32}, \"pad_id\": 0, \"pad_token\": \"[PAD]\"}");
  ordo_buf_str(&b, pp + strlen(pkey));
  tok *plain = NULL, *set = NULL;
  EXPECT(tok_load_json(&plain, json, len, "plain", &e) == 0, "%s", e.msg);
  EXPECT(tok_load_json(&set, b.p, b.n, "with truncation", &e) == 0, "%s", e.msg);
  if (plain && set) {
    const char *text = "the quick brown fox jumps over the lazy dog again and again";
    int32_t a[64], c[64];
    int na = tok_encode(plain, text, strlen(text), a, 64, TOK_ADD_SPECIAL);
    int nc = tok_encode(set, text, strlen(text), c, 64, TOK_ADD_SPECIAL);
    EXPECT(na > 4 && na == nc && memcmp(a, c, (size_t)na * sizeof(int32_t)) == 0,
           "ids differ with the file's truncation: %d vs %d", na, nc);
  }
  tok_free(plain), tok_free(set);
  free(b.p);
  free(json);
}

/* vocab.txt and vocab.json + merges.txt written from the small tokenizers give the same ids */
static void check_classic(const strs *E) {
  char dir[] = "/tmp/ordo_tok_classicXXXXXX";
  EXPECT(mkdtemp(dir) != NULL, "mkdtemp");
  char p1[256], p2[256];
  tok *w, *b, *cw, *cb;
  ordo_err e;
  EXPECT(tok_load(&w, DATA "/wp_small.json", &e) == 0, "%s", e.msg);
  EXPECT(tok_load(&b, DATA "/bpe_small.json", &e) == 0, "%s", e.msg);
  /* vocab.txt: one token per line in id order */
  size_t cap = 1 << 16, n = 0;
  char *s = malloc(cap);
  for (int i = 0; i < tok_vocab_size(w); i++) n += (size_t)snprintf(s + n, cap - n, "%s\n", tok_id_to_token(w, i));
  snprintf(p1, sizeof(p1), "%s/vocab.txt", dir);
  EXPECT(ordo_write_file_atomic(p1, s, n, &e) == 0, "%s", e.msg);
  EXPECT(tok_load(&cw, dir, &e) == 0, "%s", e.msg);
  /* vocab.json + merges.txt from the tokenizer.json's model */
  size_t len;
  char *js = ordo_read_file(DATA "/bpe_small.json", &len, &e);
  cJSON *root = cJSON_Parse(js);
  cJSON *model = cJSON_GetObjectItem(root, "model");
  char *vj = cJSON_PrintUnformatted(cJSON_GetObjectItem(model, "vocab"));
  snprintf(p1, sizeof(p1), "%s/vocab.json", dir);
  write_text(p1, vj);
  n = (size_t)snprintf(s, cap, "#version: 0.2\n");
  const cJSON *m;
  cJSON_ArrayForEach(m, cJSON_GetObjectItem(model, "merges"))
      n += (size_t)snprintf(s + n, cap - n, "%s %s\n", m->child->valuestring, m->child->next->valuestring);
  snprintf(p2, sizeof(p2), "%s/merges.txt", dir);
  EXPECT(ordo_write_file_atomic(p2, s, n, &e) == 0, "%s", e.msg);
  EXPECT(tok_load(&cb, p1, &e) == 0, "%s", e.msg);
  int32_t a[8192], c[8192];
  int same_w = 0, same_b = 0, nb = 0;
  for (int i = 0; i < E->n; i++) {
    int na = tok_encode(w, E->s[i], E->len[i], a, 8192, TOK_ADD_SPECIAL);
    int nc = tok_encode(cw, E->s[i], E->len[i], c, 8192, TOK_ADD_SPECIAL);
    same_w += na == nc && memcmp(a, c, (size_t)na * sizeof(int32_t)) == 0;
    if (memmem(E->s[i], E->len[i], "<mask>", 6)) continue; /* classic RoBERTa's <mask> takes the space before it */
    nb++;
    na = tok_encode(b, E->s[i], E->len[i], a, 8192, TOK_ADD_SPECIAL);
    nc = tok_encode(cb, E->s[i], E->len[i], c, 8192, TOK_ADD_SPECIAL);
    same_b += na == nc && memcmp(a, c, (size_t)na * sizeof(int32_t)) == 0;
  }
  EXPECT(same_w == E->n, "vocab.txt: %d of %d strings agree", same_w, E->n);
  EXPECT(same_b == nb, "vocab.json + merges.txt: %d of %d strings agree", same_b, nb);
  /* a broken merges.txt names its line */
  write_text(p2, "#version: 0.2\n\xc4\xa0 t\nno_such token\n");
  tok *x;
  EXPECT(tok_load(&x, p2, &e) == -1 && strstr(e.msg, "merges.txt: line 3"), "%s", e.msg);
  free(vj), free(js), free(s);
  cJSON_Delete(root);
  tok_free(w), tok_free(b), tok_free(cw), tok_free(cb);
  unlink(p1), unlink(p2);
  snprintf(p1, sizeof(p1), "%s/vocab.txt", dir);
  unlink(p1);
  rmdir(dir);
}

static void check_trainers(const strs *E) {
  ordo_err e;
  size_t len;
  char *corpus = ordo_read_file(DATA "/corpus.txt", &len, &e);
  const char *texts[1] = {corpus};
  tok_train_opts o = {.vocab_size = 420, .min_frequency = 1, .lowercase = 1};
  char *j1, *j2, *jw;
  EXPECT(tok_train_bpe_texts(texts, &len, 1, &o, &j1, &e) == 0, "%s", e.msg);
  EXPECT(tok_train_bpe_texts(texts, &len, 1, &o, &j2, &e) == 0, "%s", e.msg);
  EXPECT(strcmp(j1, j2) == 0, "BPE training is deterministic");
  EXPECT(tok_train_wordpiece_texts(texts, &len, 1, &o, &jw, &e) == 0, "%s", e.msg);
  tok *b, *w;
  EXPECT(tok_load_json(&b, j1, strlen(j1), "bpe", &e) == 0, "%s", e.msg);
  EXPECT(tok_load_json(&w, jw, strlen(jw), "wp", &e) == 0, "%s", e.msg);
  EXPECT(tok_vocab_size(b) == 420 && tok_vocab_size(w) == 420, "trained sizes %d %d", tok_vocab_size(b), tok_vocab_size(w));
  /* the corpus itself: BPE round-trips, and 159 merges make it clearly shorter than its bytes */
  int32_t *ids = malloc((len + 8) * sizeof(int32_t));
  char *out = malloc(len + 1);
  int n = tok_encode(b, corpus, len, ids, (int)len + 8, 0);
  size_t m = tok_decode(b, ids, n, out, len + 1, 0);
  EXPECT(m == len && memcmp(out, corpus, len) == 0 && n < (int)len * 3 / 4, "trained BPE: %d ids for %zu bytes", n, len);
  n = tok_encode(w, corpus, len, ids, (int)len + 8, 0);
  int unk = 0;
  for (int i = 0; i < n; i++) unk += ids[i] == tok_special_id(w, TOK_SP_UNK);
  EXPECT(unk == 0, "trained WordPiece: %d unknown words in its own corpus", unk);
  /* a vocabulary smaller than the alphabet keeps the alphabet and merges nothing */
  o.vocab_size = 10;
  char *js;
  EXPECT(tok_train_bpe_texts(texts, &len, 1, &o, &js, &e) == 0, "%s", e.msg);
  tok *s;
  EXPECT(tok_load_json(&s, js, strlen(js), "tiny", &e) == 0, "%s", e.msg);
  EXPECT(tok_vocab_size(s) == 261, "tiny: %d", tok_vocab_size(s));
  o.vocab_size = 0;
  free(j2);
  EXPECT(tok_train_bpe_texts(texts, &len, 1, &o, &j2, &e) == -1 && !j2, "vocab 0 is an error");
  (void)E;
  tok_free(s), tok_free(b), tok_free(w);
  free(js), free(j1), free(jw), free(ids), free(out), free(corpus);
  free(j2);
}

/* Whole-word masking's word starts: a text of five words (punctuation is a word of its
 * own, as the pre-tokenizers split it) has five starting tokens, however the words split. */
static void check_word_starts(void) {
  const char *names[2] = {"bpe_small", "wp_small"};
  const char *text = " hello wonderful world, againstandingly";
  for (int k = 0; k < 2; k++) {
    tok *t = NULL;
    ordo_err e = {{0}};
    char path[512];
    snprintf(path, sizeof path, DATA "/%s.json", names[k]);
    EXPECT(tok_load(&t, path, &e) == 0, "%s", e.msg);
    if (!t) continue;
    int32_t ids[64];
    int n = tok_encode(t, text, strlen(text), ids, 64, 0);
    int starts = 0;
    for (int i = 0; i < n; i++) starts += tok_starts_word(t, ids[i]);
    EXPECT(starts == 5 && n > 5, "%s: %d tokens, %d word starts, expected 5 (and some pieces)",
           names[k], n, starts);
    EXPECT(tok_starts_word(t, -1) == 1 && tok_starts_word(t, tok_special_id(t, TOK_SP_CLS)) == 1,
           "%s: specials and unknown ids start words", names[k]);
    tok_free(t);
  }
}

int main(void) {
  strs E;
  read_edge(&E);
  EXPECT(E.n == 46, "edge strings: %d", E.n);
  check_against_hf("bpe_small", &E);
  check_against_hf("wp_small", &E);
  check_against_hf("wp_cased_small", &E);
  /* variants of the trained files: NFD + Lowercase + StripAccents as a normalizer Sequence,
   * lowercase keeping accents, and added tokens with lstrip / rstrip / single_word */
  check_against_hf("wp_seq_small", &E);
  check_against_hf("wp_keepaccents_small", &E);
  check_against_hf("bpe_strip_small", &E);
  check_invalid_utf8();
  check_api(&E);
  check_errors();
  check_file_truncation();
  check_classic(&E);
  check_trainers(&E);
  check_word_starts();
  for (int i = 0; i < E.n; i++) free(E.s[i]);
  free(E.s), free(E.len);
  return test_summary();
}
