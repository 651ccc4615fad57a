/* The decoder path (enc_decode): greedy continuations equal transformers' (generate.safetensors
 * of the GPT-2 fixtures: 16 ids from the shared gpt2_lm, 64 from hf_gpt2/gpt2_lm), with the
 * key/value cache and without, on both backends; and its logits equal the full forward's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ordo/model.h"
#include "ordo/safetensors.h"

static int32_t argmax(const float *x, int n) {
  int32_t b = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[b]) b = i;
  return b;
}

static void check_fixture(const char *dir, const ordo_backend *be) {
  char path[1024];
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (access(path, R_OK) != 0) {
    printf("skipped: %s absent\n", dir);
    return;
  }
  ordo_err e = {{0}};
  enc_config cfg;
  enc_model m;
  EXPECT(hfconfig_load(&cfg, path, &e) == 0, "%s", e.msg);
  EXPECT(enc_init(&m, &cfg, ENC_HEAD_MLM, be, &e) == 0, "%s", e.msg);
  EXPECT(enc_load(&m, dir, NULL, &e) == 0, "%s", e.msg);
  snprintf(path, sizeof path, "%s/generate.safetensors", dir);
  st_file f;
  EXPECT(st_open(&f, path, &e) == 0, "%s", e.msg);
  const st_tensor *tp = st_find(&f, "prompt"), *tg = st_find(&f, "greedy");
  EXPECT(tp && tg && tp->ndim == 2 && tg->ndim == 2, "%s: prompt/greedy", path);
  int np = (int)tp->shape[1], ng = (int)tg->shape[1], total = np + ng;
  int32_t *want = malloc((size_t)ng * sizeof(int32_t)), *ids = malloc((size_t)total * sizeof(int32_t));
  EXPECT(st_read_i32(&f, "prompt", ids, 2, tp->shape, &e) == 0, "%s", e.msg);
  EXPECT(st_read_i32(&f, "greedy", want, 2, tg->shape, &e) == 0, "%s", e.msg);
  st_close(&f);
  enc_plan(&m, 1, total, total);
  for (int cached = 0; cached < 2; cached++) {
    int T = np, ran = 0, same = 1;
    for (int k = 0; k < ng; k++) {
      const float *lg = enc_decode(&m, ids, T, cached ? ran : 0);
      ran = T;
      ids[T] = argmax(lg, cfg.vocab_size);
      same &= ids[T] == want[k];
      T++;
    }
    EXPECT(same, "%s (%s, %s): greedy ids differ from transformers'", dir, be->ops->name,
           cached ? "cache" : "no cache");
  }
  /* the last position's logits of the cached path equal the full forward's */
  float *cached_logits = malloc((size_t)cfg.vocab_size * sizeof(float));
  memcpy(cached_logits, enc_decode(&m, ids, total - 1, 0), (size_t)cfg.vocab_size * sizeof(float));
  int32_t *mask = malloc((size_t)total * sizeof(int32_t));
  for (int t = 0; t < total; t++) mask[t] = 1;
  enc_batch b = {.B = 1, .T = total - 1, .ids = ids, .mask = mask};
  enc_forward(&m, &b, 0);
  float *full = malloc((size_t)cfg.vocab_size * sizeof(float));
  enc_read(&m, full, m.mlm_logits + (size_t)(total - 2) * cfg.vocab_size,
           (size_t)cfg.vocab_size * sizeof(float));
  double num = 0, den = 0;
  for (int v = 0; v < cfg.vocab_size; v++) {
    num += (double)(full[v] - cached_logits[v]) * (full[v] - cached_logits[v]);
    den += (double)full[v] * full[v];
  }
  EXPECT(sqrt(num / den) < 1e-5, "%s (%s): decode logits vs forward: rel %.3g", dir, be->ops->name,
         sqrt(num / den));
  free(cached_logits), free(full), free(mask), free(want), free(ids);
  enc_free(&m);
}

int main(void) {
  ordo_backend backends[3] = {backend_cpu(), backend_cpu_ref()};
  int n = 2;
  ordo_err e = {{0}};
  if (!ordo_cuda_available()) printf("cuda: skipped: no CUDA device\n");
  else if (ordo_backend_open(&backends[n], "cuda", &e) == 0) n++;
  else EXPECT(0, "cuda: %s", e.msg);
  for (int k = 0; k < n; k++) {
    printf("%s: greedy decoding of the gpt2 fixtures\n", backends[k].ops->name);
    check_fixture(ORDO_SHARED_FIXTURES "/hf/gpt2_lm", &backends[k]);
    check_fixture(ORDO_TEST_FIXTURES "/hf_gpt2/gpt2_lm", &backends[k]);
  }
  if (n == 3) ordo_backend_close(&backends[2]);
  return test_summary();
}
