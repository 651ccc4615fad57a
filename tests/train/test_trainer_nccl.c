/* The trainer's NCCL path with one rank on the CUDA backend against the same runs without it:
 * the gradients summed by NCCL (a sum over one rank is the rank's own), and with ZeRO-1 the
 * gradients reduce-scattered, the weights all-gathered and the state of the one shard gathered
 * into a checkpoint and taken back from it. Each run trains half its steps, saves, resumes in a
 * fresh trainer and finishes; weights and optimizer state must be bit-identical to the run
 * without NCCL. Exits 77 (skipped) without NCCL or without a CUDA device. */
#include "ordo/dist.h"
#include "train/trainer_backend_check.h"

/* The run's ZeRO stage, and the job it joins (NULL: none). */
typedef struct joined {
  int zero;
  ordo_dist *d;
} joined;

static void join(tb_run *r, void *ctx) {
  const joined *j = ctx;
  r->t.cfg.zero = j->zero;
  ordo_err e = {0};
  ORDO_CHECKF(trainer_set_dist(&r->t, j->d, &e) == 0, "trainer_set_dist: %s", e.msg);
}

int main(void) {
  if (!dist_dev_available()) {
    printf("skipped: built without NCCL\n");
    return 77;
  }
  ordo_backend cuda;
  ordo_err e = {0};
  if (!ordo_cuda_available() || ordo_backend_open(&cuda, "cuda", &e) != 0) {
    printf("skipped: no CUDA device%s%s\n", e.msg[0] ? ": " : "", e.msg);
    return 77;
  }
  ordo_dist d;
  ORDO_CHECK(dist_init(&d, 60, &e) == 0);
  ORDO_CHECKF(dist_dev_init(&d, 0, &e) == 0, "dist_dev_init: %s", e.msg);
  char dir[512];
  tb_scratch(dir, sizeof dir, "nccl");
  for (int zero = 0; zero <= 1; zero++) {
    tb_run ref, r;
    tb_resume_across_with(&ref, &cuda, &cuda, dir, join, &(joined){zero, NULL});
    tb_resume_across_with(&r, &cuda, &cuda, dir, join, &(joined){zero, &d});
    EXPECT(zero == 0 || r.t.shard, "ZeRO-1 with one NCCL rank is not sharded");
    size_t differ;
    int gap;
    double rel;
    tb_state_diff(&ref, &r, &differ, &gap, &rel);
    int same_w = memcmp(ref.p.data, r.p.data, ref.p.total * sizeof(float)) == 0;
    EXPECT(same_w, "zero %d: weights through one NCCL rank differ", zero);
    EXPECT(differ == 0, "zero %d: %zu optimizer state values differ", zero, differ);
    int same_norms = 1;
    for (int s = 0; s < TB_STEPS; s++) same_norms &= ref.st[s].grad_norm == r.st[s].grad_norm;
    EXPECT(same_norms, "zero %d: gradient norms after the resume differ", zero);
    printf("ZeRO %d, %d steps saved and resumed at %d: one NCCL rank %s the run without it "
           "(weights, optimizer state, gradient norms after the resume)\n", zero, TB_STEPS, TB_STEPS / 2,
           same_w && differ == 0 && same_norms ? "bit-identical to" : "DIFFERS from");
    tb_free(&ref), tb_free(&r);
  }
  tb_scratch_remove(dir);
  dist_dev_free(&d);
  dist_free(&d);
  ordo_backend_close(&cuda);
  return test_summary();
}
