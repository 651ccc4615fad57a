/* libFuzzer target: tokenizer.json loading from arbitrary bytes. A file that loads must then
 * encode and decode a fixed text without a sanitizer report; one that does not load must say
 * why in the error message. */
#include <stdlib.h>
#include <string.h>

#include "ordo/tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tok *t = NULL;
  ordo_err e;
  e.msg[0] = 0;
  if (tok_load_json(&t, (const char *)data, size, "fuzz.json", &e)) {
    if (!e.msg[0] || t) abort();
    return 0;
  }
  static const char text[] = "def f(x):\n    return x  +  1 # héllo 日本 \xF0\x9F\x98\x80 [CLS] <s>\xff\xfe";
  int32_t ids[512];
  int n = tok_encode(t, text, sizeof(text) - 1, ids, 512, TOK_ADD_SPECIAL);
  if (n < 0) abort();
  if (n > 512) n = 512;
  char out[4096];
  tok_decode(t, ids, n, out, sizeof(out), 0);
  tok_free(t);
  return 0;
}
