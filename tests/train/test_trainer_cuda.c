/* The trainer, 8- and 32-bit AdamW and checkpoints on the CUDA backend against the CPU: the same
 * run as test_trainer_backend (accumulation, clipping, L2, both state widths) on the GPU, and
 * checkpoints moved CUDA -> CPU and CPU -> CUDA. Exits 77 (skipped) without a CUDA device.
 * Tolerances: weights and 32-bit state within 1e-5 relative (the GPU kernels may fuse a multiply
 * and an add that the CPU rounds twice: a last-bit difference per operation, over 8 steps);
 * 8-bit codes within one quantization step (a moment on the midpoint between two codes may round
 * either way). */
#include "train/trainer_backend_check.h"

static void compare(tb_run *ref, tb_run *r, const char *what) {
  tb_weights(ref), tb_weights(r);
  double wrel = tb_weight_rel(ref, r);
  size_t differ;
  int gap;
  double rel;
  tb_state_diff(ref, r, &differ, &gap, &rel);
  EXPECT(wrel <= 1e-5, "%s: weights differ by %.3g relative", what, wrel);
  EXPECT(gap <= 1, "%s: 8-bit codes differ by %d steps", what, gap);
  EXPECT(rel <= 1e-5, "%s: 32-bit state / block scales differ by %.3g of their largest", what, rel);
  printf("%s: weights within %.3g relative (bound 1e-5), 8-bit codes within %d step(s) (bound 1), "
         "32-bit state and scales within %.3g of their largest (bound 1e-5); %zu state values "
         "not bit-identical\n", what, wrel, gap, rel, differ);
}

int main(void) {
  ordo_backend cuda;
  ordo_err e = {0};
  if (!ordo_cuda_available() || ordo_backend_open(&cuda, "cuda", &e) != 0) {
    printf("skipped: no CUDA device%s%s\n", e.msg[0] ? ": " : "", e.msg);
    return 77;
  }
  tb_run ref, r;
  tb_train_both(&ref, &r, &cuda);
  double worst = 0;
  for (int s = 0; s < TB_STEPS; s++) {
    double d = fabs(ref.st[s].grad_norm - r.st[s].grad_norm) / ref.st[s].grad_norm;
    if (d > worst) worst = d;
    EXPECT(ref.st[s].skipped == r.st[s].skipped, "step %d: skipped differs", s + 1);
  }
  EXPECT(worst <= 1e-5, "gradient norms differ by %.3g relative", worst);
  printf("%d steps on %s: gradient norms within %.3g relative of the CPU's (bound 1e-5)\n", TB_STEPS,
         cuda.ops->name, worst);
  compare(&ref, &r, "trained on CUDA");
  tb_free(&r);
  char dir[512];
  tb_scratch(dir, sizeof dir, "cuda");
  tb_resume_across(&r, &cuda, NULL, dir);
  compare(&ref, &r, "saved on CUDA, resumed on the CPU");
  tb_free(&r);
  tb_resume_across(&r, NULL, &cuda, dir);
  compare(&ref, &r, "saved on the CPU, resumed on CUDA");
  tb_free(&r);
  tb_free(&ref);
  tb_scratch_remove(dir);
  ordo_backend_close(&cuda);
  return test_summary();
}
