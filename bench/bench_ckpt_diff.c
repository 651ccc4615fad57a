/* How far two checkpoints (or two safetensors files) are apart, tensor by tensor: for float32
 * tensors the largest difference relative to the tensor's largest magnitude, for 8-bit codes
 * (the 8-bit AdamW state) the largest difference of two codes in quantization steps. Used to
 * compare a GPU run's weights and optimizer state with the CPU's (bench/gpu/train_check.sh).
 *
 *   bench_ckpt_diff A B    A, B: checkpoint folders (model.safetensors, optimizer.safetensors)
 *                          or .safetensors files
 * Prints one row per tensor that differs, then the summary line
 *   "max_f32_rel X max_code_step N tensors T (F files)". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/files.h"
#include "ordo/safetensors.h"

typedef struct diff_total {
  double f32_rel;
  int code_step;
  int tensors;
} diff_total;

static int diff_file(const char *pa, const char *pb, diff_total *t, ordo_err *e) {
  st_file a = {0}, b = {0};
  if (st_open(&a, pa, e) != 0) return -1;
  if (st_open(&b, pb, e) != 0) return st_close(&a), -1;
  int rc = 0;
  for (int i = 0; i < a.n && rc == 0; i++) {
    const st_tensor *x = &a.tensors[i], *y = st_find(&b, x->name);
    if (!y || y->dtype != x->dtype || y->numel != x->numel) {
      rc = ordo_fail(e, "%s: tensor %s is not in %s with the same dtype and size", pa, x->name, pb);
      break;
    }
    t->tensors++;
    if (x->dtype == ORDO_DT_U8) {
      const uint8_t *p = x->data, *q = y->data;
      int worst = 0;
      for (int64_t k = 0; k < x->numel; k++) {
        int d = abs((int)p[k] - (int)q[k]);
        worst = d > worst ? d : worst;
      }
      if (worst) printf("%-60s codes differ by up to %d step(s)\n", x->name, worst);
      t->code_step = worst > t->code_step ? worst : t->code_step;
    } else if (x->dtype == ORDO_DT_F32) {
      float *p = ordo_malloc((size_t)x->numel * sizeof(float));
      float *q = ordo_malloc((size_t)x->numel * sizeof(float));
      memcpy(p, x->data, x->nbytes), memcpy(q, y->data, y->nbytes);
      double top = 0, worst = 0;
      for (int64_t k = 0; k < x->numel; k++) {
        top = fabs((double)p[k]) > top ? fabs((double)p[k]) : top;
        worst = fabs((double)p[k] - q[k]) > worst ? fabs((double)p[k] - q[k]) : worst;
      }
      double rel = top > 0 ? worst / top : worst;
      if (rel > 0) printf("%-60s %.3g of its largest magnitude %.3g\n", x->name, rel, top);
      t->f32_rel = rel > t->f32_rel ? rel : t->f32_rel;
      free(p), free(q);
    }
  }
  st_close(&a), st_close(&b);
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bench_ckpt_diff A B (checkpoint folders or .safetensors files)\n");
    return 2;
  }
  ordo_err e = {0};
  diff_total t = {0};
  int files = 0;
  if (ordo_is_dir(argv[1])) {
    const char *names[] = {"model.safetensors", "optimizer.safetensors"};
    for (int k = 0; k < 2; k++) {
      char pa[4200], pb[4200];
      snprintf(pa, sizeof pa, "%s/%s", argv[1], names[k]);
      snprintf(pb, sizeof pb, "%s/%s", argv[2], names[k]);
      if (!ordo_is_file(pa)) continue;
      if (diff_file(pa, pb, &t, &e) != 0) return fprintf(stderr, "%s\n", e.msg), 1;
      files++;
    }
  } else {
    if (diff_file(argv[1], argv[2], &t, &e) != 0) return fprintf(stderr, "%s\n", e.msg), 1;
    files++;
  }
  printf("max_f32_rel %.3g max_code_step %d tensors %d (%d files)\n", t.f32_rel, t.code_step,
         t.tensors, files);
  return 0;
}
