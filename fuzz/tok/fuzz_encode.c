/* libFuzzer target: encode and decode arbitrary bytes with each tokenizer named in
 * ORDO_FUZZ_TOKENIZERS (':'-separated files or directories). Checks, beyond the sanitizers:
 * the count tok_encode reports is the count it writes, encode_ex with a pair and truncation
 * stays within its bounds, and byte-level BPE decodes back to the exact input bytes (for
 * tokenizers whose added tokens have no lstrip/rstrip, like the fixtures). */
#include <stdlib.h>
#include <string.h>

#include "ordo/tok.h"

static tok *g_tok[8];
static int g_n;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  const char *env = getenv("ORDO_FUZZ_TOKENIZERS");
  if (!env) {
    fprintf(stderr, "set ORDO_FUZZ_TOKENIZERS=path[:path...]\n");
    exit(2);
  }
  char *list = ordo_strdup(env), *save = NULL;
  for (char *p = strtok_r(list, ":", &save); p && g_n < 8; p = strtok_r(NULL, ":", &save)) {
    ordo_err e;
    if (tok_load(&g_tok[g_n], p, &e)) {
      fprintf(stderr, "%s\n", e.msg);
      exit(2);
    }
    g_n++;
  }
  free(list);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  int32_t small[16];
  for (int k = 0; k < g_n; k++) {
    const tok *t = g_tok[k];
    int n = tok_encode(t, text, size, small, 16, 0);
    int32_t *ids = malloc(((size_t)n + 8) * sizeof(int32_t));
    int n2 = tok_encode(t, text, size, ids, n + 8, 0);
    if (n2 != n || memcmp(ids, small, (size_t)(n < 16 ? n : 16) * sizeof(int32_t))) abort();
    for (int i = 0; i < n; i++)
      if (ids[i] < 0 || ids[i] >= tok_vocab_size(t)) abort();
    size_t m = tok_decode(t, ids, n, NULL, 0, 0);
    char *out = malloc(m + 1);
    if (tok_decode(t, ids, n, out, m + 1, TOK_SKIP_SPECIAL * (size & 1)) > m) abort();
    /* byte-level BPE is lossless (the fixtures' added tokens strip no spaces) */
    if (tok_kind(t) == TOK_MODEL_BPE && !(size & 1) && (m != size || memcmp(out, text, size))) abort();
    free(out);
    /* a pair with truncation and padding */
    size_t half = size / 2;
    tok_enc_opts o = {.add_special = 1, .max_len = (int)(size % 37), .pad_to = 40};
    int32_t pid[64], tid[64];
    uint8_t mask[64];
    ordo_err e;
    int r = tok_encode_ex(t, text, half, text + half, size - half, &o, pid, tid, mask, 64, &e);
    if (r > 64) abort();
    free(ids);
  }
  return 0;
}
