/* ordo tokenize: encode JSON-lines of text to JSON-lines of ids (with the post-processor's
 * special tokens), decode ids back to text, or train a BPE / WordPiece tokenizer. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "ordo/core.h"
#include "ordo/tok.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: ordo tokenize --tokenizer FILE_OR_DIR --jsonl IN.jsonl --out OUT.jsonl [options]\n"
          "       ordo tokenize --tokenizer FILE_OR_DIR --decode --jsonl IDS.jsonl --out OUT.jsonl\n"
          "       ordo tokenize --train bpe|wordpiece --vocab-size N --corpus FILE... --out tokenizer.json\n"
          "\n"
          "Encoding: each input line is a JSON string; each output line is a JSON array of ids,\n"
          "with the special tokens the tokenizer's post-processor adds ([CLS] ... [SEP], <s> ... </s>).\n"
          "Decoding: each input line is a JSON array of ids; each output line a JSON string.\n"
          "FILE_OR_DIR: tokenizer.json, or a directory with tokenizer.json, vocab.json + merges.txt,\n"
          "encoder.json + vocab.bpe, or vocab.txt.\n"
          "\n"
          "options:\n"
          "  --no-special        encode without the special tokens\n"
          "  --max-len N         truncate each encoding to N ids (special tokens included)\n"
          "  --threads N         encoding threads (default: all cores)\n"
          "  --skip-special      decode: leave out special tokens\n"
          "  --min-frequency N   train: merge only pairs seen at least N times (default 2)\n"
          "  --cased             train wordpiece: keep case and accents (default: uncased)\n");
}

static int parse_int(const char *s, const char *flag, int lo, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < lo || v > INT_MAX) {
    fprintf(stderr, "ordo tokenize: %s expects an integer >= %d, got '%s'\n", flag, lo, s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* ---- JSON string literal of one line → bytes ---- */

static int hex4(const char *p, unsigned *v) {
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                 : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                 : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                        : 99;
    if (d == 99) return -1;
    *v = *v * 16 + d;
  }
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000)
    return o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
           o[2] = (char)(0x80 | (cp & 0x3F)), 3;
  o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes the JSON string in s[0..n) (surrounding whitespace allowed) in place; returns its
 * byte length, or -1 with *col set to the offending column. */
static long json_string(char *s, size_t n, size_t *col) {
  size_t i = 0, o = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
  if (i >= n || s[i] != '"') return *col = i, -1;
  i++;
  for (;;) {
    if (i >= n) return *col = i, -1;
    unsigned char c = (unsigned char)s[i];
    if (c == '"') break;
    if (c < 0x20) return *col = i, -1;
    if (c != '\\') {
      s[o++] = s[i++];
      continue;
    }
    if (i + 1 >= n) return *col = i, -1;
    char x = s[i + 1];
    i += 2;
    switch (x) {
      case '"': s[o++] = '"'; break;
      case '\\': s[o++] = '\\'; break;
      case '/': s[o++] = '/'; break;
      case 'b': s[o++] = '\b'; break;
      case 'f': s[o++] = '\f'; break;
      case 'n': s[o++] = '\n'; break;
      case 'r': s[o++] = '\r'; break;
      case 't': s[o++] = '\t'; break;
      case 'u': {
        unsigned v, w;
        if (i + 4 > n || hex4(s + i, &v)) return *col = i, -1;
        i += 4;
        if (v >= 0xD800 && v <= 0xDBFF) { /* a surrogate pair */
          if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' || hex4(s + i + 2, &w) || w < 0xDC00 || w > 0xDFFF)
            return *col = i, -1;
          v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
          i += 6;
        } else if (v >= 0xDC00 && v <= 0xDFFF) {
          return *col = i, -1;
        }
        o += put_utf8(s + o, v); /* never longer than the escape it replaces */
        break;
      }
      default: return *col = i - 1, -1;
    }
  }
  i++;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
  if (i != n) return *col = i, -1;
  return (long)o;
}

/* ---- output buffer ---- */

typedef struct {
  char *p;
  size_t n, cap;
} obuf;
static void ob_put(obuf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    b->cap = (b->n + n + 1) * 2;
    b->p = ordo_realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}
static void ob_int(obuf *b, long v) {
  char t[24];
  int k = snprintf(t, sizeof(t), "%ld", v);
  ob_put(b, t, (size_t)k);
}

/* JSON string of bytes, escaped as Python's json.dumps(ensure_ascii=False) does; invalid UTF-8
 * becomes U+FFFD (as HF's decode does) */
static void ob_json_string(obuf *b, const char *s, size_t n) {
  ob_put(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    if (c < 0x80) {
      char esc[8];
      if (c == '"' || c == '\\') esc[0] = '\\', esc[1] = (char)c, ob_put(b, esc, 2);
      else if (c == '\n') ob_put(b, "\\n", 2);
      else if (c == '\t') ob_put(b, "\\t", 2);
      else if (c == '\r') ob_put(b, "\\r", 2);
      else if (c == '\b') ob_put(b, "\\b", 2);
      else if (c == '\f') ob_put(b, "\\f", 2);
      else if (c < 0x20) snprintf(esc, sizeof(esc), "\\u%04x", c), ob_put(b, esc, 6);
      else ob_put(b, (const char *)p + i, 1);
      i++;
      continue;
    }
    int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    int ok = len > 0 && c <= 0xF4 && i + (size_t)len <= n;
    unsigned v = ok ? (c & (0x7F >> len)) : 0;
    for (int k = 1; ok && k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) ok = 0;
      v = (v << 6) | (p[i + k] & 0x3F);
    }
    if (ok && ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (len == 4 && (v < 0x10000 || v > 0x10FFFF))))
      ok = 0;
    if (ok) {
      ob_put(b, (const char *)p + i, (size_t)len);
      i += (size_t)len;
    } else {
      ob_put(b, "\xEF\xBF\xBD", 3);
      i++;
    }
  }
  ob_put(b, "\"", 1);
}

/* ---- the three modes ---- */

typedef struct {
  char **line;
  size_t *len;
  int n;
  char *data;
} lines;

static int read_lines(const char *path, lines *L) {
  ordo_err e;
  size_t len;
  L->data = ordo_read_file(path, &len, &e);
  if (!L->data) {
    fprintf(stderr, "ordo tokenize: %s\n", e.msg);
    return -1;
  }
  int cap = 1024;
  L->n = 0;
  L->line = ordo_malloc((size_t)cap * sizeof(char *));
  L->len = ordo_malloc((size_t)cap * sizeof(size_t));
  for (char *p = L->data; p < L->data + len;) {
    char *nl = memchr(p, '\n', (size_t)(L->data + len - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(L->data + len - p);
    if (L->n == cap) {
      cap *= 2;
      L->line = ordo_realloc(L->line, (size_t)cap * sizeof(char *));
      L->len = ordo_realloc(L->len, (size_t)cap * sizeof(size_t));
    }
    L->line[L->n] = p, L->len[L->n] = l, L->n++;
    p = nl ? nl + 1 : L->data + len;
  }
  return 0;
}

static void free_lines(lines *L) {
  free(L->line), free(L->len), free(L->data);
}

static int write_out(const char *path, obuf *b) {
  ordo_err e;
  if (ordo_write_file_atomic(path, b->p ? b->p : "", b->n, &e)) {
    fprintf(stderr, "ordo tokenize: %s\n", e.msg);
    return -1;
  }
  return 0;
}

static int do_encode(const tok *t, const char *in, const char *out, int special, int max_len, int threads) {
  lines L;
  if (read_lines(in, &L)) return 1;
  for (int i = 0; i < L.n; i++) {
    size_t col = 0;
    long k = json_string(L.line[i], L.len[i], &col);
    if (k < 0) {
      fprintf(stderr, "ordo tokenize: %s: line %d, column %zu: expected one JSON string per line\n", in, i + 1, col + 1);
      free_lines(&L);
      return 1;
    }
    L.len[i] = (size_t)k;
  }
  obuf o = {0};
  if (max_len > 0) { /* truncation through the post-processor (keeps the closing special) */
    int32_t *ids = ordo_malloc((size_t)max_len * sizeof(int32_t));
    tok_enc_opts opt = {.add_special = special, .max_len = max_len};
    for (int i = 0; i < L.n; i++) {
      ordo_err e = {{0}};
      int n = tok_encode_ex(t, L.line[i], L.len[i], NULL, 0, &opt, ids, NULL, NULL, max_len, &e);
      if (n < 0) { /* e.g. a length too short for the special tokens */
        fprintf(stderr, "ordo tokenize: --max-len %d: %s\n", max_len, e.msg);
        free(ids), free(o.p);
        free_lines(&L);
        return 2;
      }
      ORDO_CHECK(n <= max_len);
      ob_put(&o, "[", 1);
      for (int q = 0; q < n; q++) {
        if (q) ob_put(&o, ", ", 2);
        ob_int(&o, ids[q]);
      }
      ob_put(&o, "]\n", 2);
    }
    free(ids);
    free_lines(&L);
    int rc = write_out(out, &o) ? 1 : 0;
    free(o.p);
    return rc;
  }
  tok_batch b;
  tok_encode_batch(t, (const char *const *)L.line, L.len, L.n, special ? TOK_ADD_SPECIAL : 0, threads, &b);
  for (int i = 0; i < L.n; i++) {
    int64_t s = b.offsets[i], n = b.offsets[i + 1] - s;
    int32_t *ids = b.ids + s;
    ob_put(&o, "[", 1);
    for (int64_t q = 0; q < n; q++) {
      if (q) ob_put(&o, ", ", 2);
      ob_int(&o, ids[q]);
    }
    ob_put(&o, "]\n", 2);
  }
  tok_batch_free(&b);
  free_lines(&L);
  int rc = write_out(out, &o) ? 1 : 0;
  free(o.p);
  return rc;
}

static int do_decode(const tok *t, const char *in, const char *out, int skip) {
  lines L;
  if (read_lines(in, &L)) return 1;
  obuf o = {0};
  int cap = 4096;
  int32_t *ids = ordo_malloc((size_t)cap * sizeof(int32_t));
  size_t tcap = 1 << 16;
  char *text = ordo_malloc(tcap);
  int rc = 0;
  for (int i = 0; i < L.n && rc == 0; i++) {
    char *p = L.line[i], *end = p + L.len[i];
    int n = 0;
    while (p < end && (*p == ' ' || *p == '\r')) p++;
    if (p >= end || *p != '[') {
      fprintf(stderr, "ordo tokenize: %s: line %d, column %ld: expected a JSON array of ids\n", in, i + 1,
              (long)(p - L.line[i]) + 1);
      rc = 1;
      break;
    }
    p++;
    for (;;) {
      while (p < end && (*p == ' ' || *p == '\r')) p++;
      if (p < end && *p == ']' && n == 0) break;
      char *q;
      errno = 0;
      long v = p < end ? strtol(p, &q, 10) : 0;
      if (p >= end || q == p || q > end || errno || v < 0 || v >= tok_vocab_size(t)) {
        fprintf(stderr, "ordo tokenize: %s: line %d, column %ld: expected an id in [0, %d)\n", in, i + 1,
                (long)(p - L.line[i]) + 1, tok_vocab_size(t));
        rc = 1;
        break;
      }
      if (n == cap) cap *= 2, ids = ordo_realloc(ids, (size_t)cap * sizeof(int32_t));
      ids[n++] = (int32_t)v;
      p = q;
      while (p < end && (*p == ' ' || *p == '\r')) p++;
      if (p < end && *p == ',') {
        p++;
        continue;
      }
      if (p < end && *p == ']') break;
      fprintf(stderr, "ordo tokenize: %s: line %d, column %ld: expected ',' or ']'\n", in, i + 1,
              (long)(p - L.line[i]) + 1);
      rc = 1;
      break;
    }
    if (rc) break;
    size_t m = tok_decode(t, ids, n, text, tcap, skip ? TOK_SKIP_SPECIAL : 0);
    if (m + 1 > tcap) {
      tcap = m + 1;
      text = ordo_realloc(text, tcap);
      tok_decode(t, ids, n, text, tcap, skip ? TOK_SKIP_SPECIAL : 0);
    }
    ob_json_string(&o, text, m);
    ob_put(&o, "\n", 1);
  }
  if (rc == 0 && write_out(out, &o)) rc = 1;
  free(ids), free(text), free(o.p);
  free_lines(&L);
  return rc;
}

int cmd_tokenize(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *tokp = NULL, *in = NULL, *out = NULL, *train = NULL;
  const char **corpus = ordo_calloc((size_t)argc + 1, sizeof(char *));
  int ncorpus = 0, decode = 0, special = 1, skip = 0, max_len = 0, threads = 0, vocab = 0, minf = 0, cased = 0;
  int rc = 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has = i + 1 < argc;
#define NEED_VALUE()                                                   \
  if (!has) {                                                          \
    fprintf(stderr, "ordo tokenize: %s needs a value\n\n", a);         \
    goto usage_err;                                                    \
  }
    if (strcmp(a, "--tokenizer") == 0) {
      NEED_VALUE();
      tokp = argv[++i];
    } else if (strcmp(a, "--jsonl") == 0) {
      NEED_VALUE();
      in = argv[++i];
    } else if (strcmp(a, "--out") == 0) {
      NEED_VALUE();
      out = argv[++i];
    } else if (strcmp(a, "--train") == 0) {
      NEED_VALUE();
      train = argv[++i];
    } else if (strcmp(a, "--decode") == 0) {
      decode = 1;
    } else if (strcmp(a, "--no-special") == 0) {
      special = 0;
    } else if (strcmp(a, "--skip-special") == 0) {
      skip = 1;
    } else if (strcmp(a, "--cased") == 0) {
      cased = 1;
    } else if (strcmp(a, "--max-len") == 0) {
      NEED_VALUE();
      if (parse_int(argv[++i], a, 1, &max_len)) goto done;
    } else if (strcmp(a, "--threads") == 0) {
      NEED_VALUE();
      if (parse_int(argv[++i], a, 1, &threads)) goto done;
    } else if (strcmp(a, "--vocab-size") == 0) {
      NEED_VALUE();
      if (parse_int(argv[++i], a, 1, &vocab)) goto done;
    } else if (strcmp(a, "--min-frequency") == 0) {
      NEED_VALUE();
      if (parse_int(argv[++i], a, 1, &minf)) goto done;
    } else if (strcmp(a, "--corpus") == 0) {
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) corpus[ncorpus++] = argv[++i];
      if (ncorpus == 0) {
        fprintf(stderr, "ordo tokenize: --corpus needs at least one file\n\n");
        goto usage_err;
      }
    } else {
      fprintf(stderr, "ordo tokenize: unknown option '%s'\n\n", a);
      goto usage_err;
    }
#undef NEED_VALUE
  }
  if (train) {
    int wp = strcmp(train, "wordpiece") == 0;
    if (!wp && strcmp(train, "bpe") != 0) {
      fprintf(stderr, "ordo tokenize: --train expects bpe or wordpiece, got '%s'\n\n", train);
      goto usage_err;
    }
    if (!vocab || !ncorpus || !out) {
      fprintf(stderr, "ordo tokenize: --train needs --vocab-size, --corpus and --out\n\n");
      goto usage_err;
    }
    tok_train_opts o = {.vocab_size = vocab, .min_frequency = minf, .lowercase = !cased, .progress = 1};
    ordo_err e;
    if (ordo_check_output_file(out, &e) != 0) {
      fprintf(stderr, "ordo tokenize: --out %s\n", e.msg);
      rc = 1;
      goto done;
    }
    double t0 = ordo_time();
    int r = wp ? tok_train_wordpiece(corpus, ncorpus, &o, out, &e) : tok_train_bpe(corpus, ncorpus, &o, out, &e);
    if (r) {
      fprintf(stderr, "ordo tokenize: %s\n", e.msg);
      rc = 1;
      goto done;
    }
    fprintf(stderr, "ordo tokenize: wrote %s (%.1f s)\n", out, ordo_time() - t0);
    rc = 0;
    goto done;
  }
  if (!tokp || !in || !out) {
    fprintf(stderr, "ordo tokenize: needs --tokenizer, --jsonl and --out\n\n");
    goto usage_err;
  }
  tok *t;
  ordo_err e;
  if (ordo_check_output_file(out, &e) != 0) { /* before any work, not after it */
    fprintf(stderr, "ordo tokenize: --out %s\n", e.msg);
    rc = 1;
    goto done;
  }
  if (tok_load(&t, tokp, &e)) {
    fprintf(stderr, "ordo tokenize: %s\n", e.msg);
    rc = 1;
    goto done;
  }
  rc = decode ? do_decode(t, in, out, skip) : do_encode(t, in, out, special, max_len, threads);
  tok_free(t);
  goto done;
usage_err:
  usage(stderr);
  rc = 2;
done:
  free(corpus);
  return rc;
}
