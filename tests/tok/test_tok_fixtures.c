/* Exact ids against HF tokenizers on the 6,023 shared notebook cells, for the three fixture
 * tokenizers (and GPT-2 again from its classic files), byte-exact decode round trips for the
 * byte-level ones, and batch encoding on 2 threads equal to one-by-one. Skipped when
 * ../shared/fixtures is absent. */
#include <cjson/cJSON.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "ordo/tok.h"

typedef struct {
  char **text;
  size_t *len;
  int n;
} cells;

static char *next_line(char **p, char *end) {
  if (*p >= end) return NULL;
  char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
  if (nl) *nl = 0, *p = nl + 1;
  else *p = end;
  return s;
}

static int load_cells(const char *path, cells *c) {
  ordo_err e;
  size_t len;
  char *d = ordo_read_file(path, &len, &e);
  if (!d) return -1;
  c->n = 0;
  int cap = 8192;
  c->text = malloc(cap * sizeof(char *));
  c->len = malloc(cap * sizeof(size_t));
  char *p = d, *line;
  while ((line = next_line(&p, d + len))) {
    cJSON *j = cJSON_Parse(line);
    if (!cJSON_IsString(j)) return -1;
    if (c->n == cap) {
      cap *= 2;
      c->text = realloc(c->text, cap * sizeof(char *));
      c->len = realloc(c->len, cap * sizeof(size_t));
    }
    c->text[c->n] = strdup(j->valuestring);
    c->len[c->n] = strlen(j->valuestring);
    c->n++;
    cJSON_Delete(j);
  }
  free(d);
  return 0;
}

/* Compares every cell; returns the number of cells that match exactly. */
static int check_ids(const tok *t, const cells *c, const char *ids_path, const char *what) {
  ordo_err e;
  size_t len;
  char *d = ordo_read_file(ids_path, &len, &e);
  EXPECT(d != NULL, "%s", e.msg);
  if (!d) return 0;
  char *p = d, *line;
  int i = 0, ok = 0, cap = 1 << 20, first_bad = -1;
  int32_t *ids = malloc(cap * sizeof(int32_t));
  while ((line = next_line(&p, d + len)) && i < c->n) {
    cJSON *j = cJSON_Parse(line);
    int n = tok_encode(t, c->text[i], c->len[i], ids, cap, TOK_ADD_SPECIAL);
    int same = cJSON_IsArray(j) && cJSON_GetArraySize(j) == n;
    if (same) {
      int k = 0;
      const cJSON *x;
      cJSON_ArrayForEach(x, j) if ((int)x->valuedouble != ids[k++]) same = 0;
    }
    if (same) ok++;
    else if (first_bad < 0) first_bad = i;
    cJSON_Delete(j);
    i++;
  }
  printf("%-28s %d / %d cells exact (%.2f%%)\n", what, ok, c->n, 100.0 * ok / c->n);
  EXPECT(ok == c->n && i == c->n, "%s: %d of %d cells differ, first at line %d", what, c->n - ok, c->n,
         first_bad + 1);
  free(ids);
  free(d);
  return ok;
}

static void check_roundtrip(const tok *t, const cells *c, const char *what) {
  int ok = 0, cap = 1 << 20;
  int32_t *ids = malloc(cap * sizeof(int32_t));
  char *out = malloc(4 << 20);
  for (int i = 0; i < c->n; i++) {
    int n = tok_encode(t, c->text[i], c->len[i], ids, cap, 0);
    size_t m = tok_decode(t, ids, n, out, 4 << 20, 0);
    ok += m == c->len[i] && memcmp(out, c->text[i], m) == 0;
  }
  printf("%-28s %d / %d decode round trips byte-exact\n", what, ok, c->n);
  EXPECT(ok == c->n, "%s: %d round trips differ", what, c->n - ok);
  free(ids);
  free(out);
}

static void check_batch(const tok *t, const cells *c, const char *what) {
  tok_batch b;
  tok_encode_batch(t, (const char *const *)c->text, c->len, c->n, TOK_ADD_SPECIAL, 2, &b);
  int ok = 0, cap = 1 << 20;
  int32_t *ids = malloc(cap * sizeof(int32_t));
  for (int i = 0; i < c->n; i++) {
    int n = tok_encode(t, c->text[i], c->len[i], ids, cap, TOK_ADD_SPECIAL);
    ok += n == b.offsets[i + 1] - b.offsets[i] && memcmp(ids, b.ids + b.offsets[i], n * sizeof(int32_t)) == 0;
  }
  EXPECT(ok == c->n, "%s: batch differs from one-by-one on %d cells", what, c->n - ok);
  free(ids);
  tok_batch_free(&b);
}

int main(void) {
  const char *root = ORDO_SHARED_FIXTURES "/tokenizers";
  char path[4096], ids[4096];
  struct stat st;
  snprintf(path, sizeof(path), "%s/cells.jsonl", root);
  if (stat(path, &st) != 0) {
    printf("skipped: %s not found (shared fixtures absent)\n", path);
    return test_summary();
  }
  cells c;
  EXPECT(load_cells(path, &c) == 0, "cells.jsonl");
  const char *names[] = {"gpt2_bpe", "bytelevel_bpe_16k", "wordpiece_uncased_8k"};
  for (int k = 0; k < 3; k++) {
    tok *t;
    ordo_err e;
    snprintf(path, sizeof(path), "%s/%s/tokenizer.json", root, names[k]);
    snprintf(ids, sizeof(ids), "%s/%s/cells_ids.jsonl", root, names[k]);
    int rc = tok_load(&t, path, &e);
    EXPECT(rc == 0, "%s", e.msg);
    if (rc) continue;
    check_ids(t, &c, ids, names[k]);
    if (k < 2) check_roundtrip(t, &c, names[k]);
    check_batch(t, &c, names[k]);
    tok_free(t);
  }
  /* GPT-2 from encoder.json + vocab.bpe gives the same ids */
  {
    tok *t;
    ordo_err e;
    snprintf(path, sizeof(path), "%s/gpt2_bpe/encoder.json", root);
    snprintf(ids, sizeof(ids), "%s/gpt2_bpe/cells_ids.jsonl", root);
    int rc = tok_load(&t, path, &e);
    EXPECT(rc == 0, "%s", e.msg);
    if (rc == 0) {
      check_ids(t, &c, ids, "gpt2_bpe (encoder.json)");
      tok_free(t);
    }
  }
  for (int i = 0; i < c.n; i++) free(c.text[i]);
  free(c.text);
  free(c.len);
  return test_summary();
}
