/* Encode throughput of ordo's tokenizers on a JSON-lines corpus (one JSON string per document).
 *   bench_tok CORPUS.jsonl NAME=TOKENIZER [NAME=TOKENIZER ...]
 * Per tokenizer: "1 thread" encodes document by document with tok_encode (as HF's encode());
 * "N threads" is tok_encode_batch on all cores (as HF's encode_batch). Prints one table row
 * each: MB/s of input text (wall clock, and per CPU-second, which a busy machine disturbs less);
 * the batch on 1 thread and on all; the wall-clock scaling between those two; and the CPU
 * efficiency (CPU time of the 1-thread batch / CPU time of the all-thread batch: 1.00 means no
 * parallel overhead, so the wall-clock scaling is limited only by how many cores are free).
 * Built and run by bench_tok.sh. */
#include <cjson/cJSON.h>
#include <omp.h>
#include <string.h>
#include <time.h>

#include "ordo/tok.h"

static double cpu_time(void) { /* all threads of the process */
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_tok CORPUS.jsonl NAME=TOKENIZER...\n");
    return 2;
  }
  ordo_err e;
  size_t len;
  char *d = ordo_read_file(argv[1], &len, &e);
  if (!d) {
    fprintf(stderr, "%s\n", e.msg);
    return 1;
  }
  int cap = 1 << 14, n = 0;
  char **txt = malloc(cap * sizeof(char *));
  size_t *lens = malloc(cap * sizeof(size_t)), total = 0;
  for (char *p = d; p < d + len;) {
    char *nl = memchr(p, '\n', (size_t)(d + len - p));
    if (nl) *nl = 0;
    cJSON *j = cJSON_Parse(p);
    p = nl ? nl + 1 : d + len;
    if (!cJSON_IsString(j)) continue;
    if (n == cap) cap *= 2, txt = realloc(txt, cap * sizeof(char *)), lens = realloc(lens, cap * sizeof(size_t));
    txt[n] = strdup(j->valuestring);
    lens[n] = strlen(txt[n]);
    total += lens[n++];
    cJSON_Delete(j);
  }
  free(d);
  int nth = omp_get_max_threads();
  printf("# corpus %s: %d documents, %.1f MB\n", argv[1], n, total / 1e6);
  printf("| tokenizer | engine | 1 thread MB/s | 1 thread MB per CPU-s | batch 1 thread MB/s | batch %d threads MB/s | "
         "wall scaling | CPU efficiency | ids |\n", nth);
  printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  int32_t *ids = malloc((size_t)(1 << 22) * sizeof(int32_t));
  for (int a = 2; a < argc; a++) {
    char *eq = strchr(argv[a], '=');
    if (!eq) return 2;
    *eq = 0;
    tok *t;
    if (tok_load(&t, eq + 1, &e)) {
      fprintf(stderr, "%s\n", e.msg);
      return 1;
    }
    for (int i = 0; i < n && i < 200; i++) tok_encode(t, txt[i], lens[i], ids, 1 << 22, 0); /* warm-up */
    double t0 = ordo_time(), c1 = cpu_time();
    long nids = 0;
    for (int i = 0; i < n; i++) nids += tok_encode(t, txt[i], lens[i], ids, 1 << 22, 0);
    double t1 = ordo_time() - t0;
    c1 = cpu_time() - c1;
    /* the batch on 1 thread, then on all: same work, same output memory */
    double tb[2], cb[2];
    for (int r = 0; r < 2; r++) {
      tok_batch b;
      t0 = ordo_time();
      double c0 = cpu_time();
      tok_encode_batch(t, (const char *const *)txt, lens, n, 0, r ? nth : 1, &b);
      tb[r] = ordo_time() - t0, cb[r] = cpu_time() - c0;
      if (b.offsets[n] != nids) fprintf(stderr, "batch and single disagree: %ld vs %ld\n", (long)b.offsets[n], nids);
      tok_batch_free(&b);
    }
    printf("| %s | ordo | %.1f | %.1f | %.1f | %.1f | %.2fx | %.2f | %ld |\n", argv[a], total / 1e6 / t1, total / 1e6 / c1,
           total / 1e6 / tb[0], total / 1e6 / tb[1], tb[0] / tb[1], cb[0] / cb[1], nids);
    fflush(stdout);
    tok_free(t);
  }
  for (int i = 0; i < n; i++) free(txt[i]);
  free(txt), free(lens), free(ids);
  return 0;
}
