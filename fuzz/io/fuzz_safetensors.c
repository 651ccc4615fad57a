/* libFuzzer target: safetensors files from arbitrary bytes. A file that opens must describe
 * tensors that lie inside it, sorted by name, with consistent sizes; every float tensor must
 * convert to float32 and every integer one to int32 without a sanitizer report. One that does
 * not open must say why. */
#include <stdint.h>

#include "../fuzz_file.h"
#include "ordo/safetensors.h"

static char g_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  char dir[200];
  fuzz_scratch_dir(dir, sizeof dir);
  snprintf(g_path, sizeof g_path, "%s/model.safetensors", dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_put_file(g_path, data, size);
  st_file f;
  ordo_err e;
  e.msg[0] = 0;
  if (st_open(&f, g_path, &e) != 0) {
    if (!e.msg[0]) abort();
    return 0;
  }
  for (int i = 0; i < f.n; i++) {
    const st_tensor *t = &f.tensors[i];
    if (i && strcmp(f.tensors[i - 1].name, t->name) >= 0) abort();
    if (st_find(&f, t->name) != t) abort();
    const uint8_t *p = t->data;
    if (t->nbytes && (p < (const uint8_t *)f.map || p + t->nbytes > (const uint8_t *)f.map + f.size))
      abort();
    int64_t numel = t->numel;
    if (numel < 0 || (size_t)numel * dtype_size(t->dtype) != t->nbytes) abort();
    /* the tensor fits in the file, so a buffer of its element count is bounded by the input */
    void *buf = malloc((size_t)(numel ? numel : 1) * 4);
    ordo_err e2;
    e2.msg[0] = 0;
    int rf = st_read_f32(&f, t->name, buf, t->ndim, t->shape, &e2);
    int ri = st_read_i32(&f, t->name, buf, t->ndim, t->shape, &e2);
    if ((rf || ri) && !e2.msg[0]) abort();
    free(buf);
  }
  for (int i = 0; i < f.n_meta; i++)
    if (st_metadata(&f, f.meta[2 * i]) == NULL) abort();
  st_close(&f);
  return 0;
}
