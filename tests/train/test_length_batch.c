/* Length-grouped batching: every sample once per epoch, deterministic per (seed, epoch),
 * different across epochs, less padding than plain shuffled batches; and the schedules. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/batching.h"
#include "ordo/rng.h"
#include "ordo/schedule.h"

static void test_batches(void) {
  enum { N = 1003 };
  int32_t len[N];
  ordo_rng r;
  rng_init(&r, 3);
  for (int i = 0; i < N; i++) len[i] = 8 + (int32_t)rng_below(&r, 500); /* 8 .. 507 */
  length_batches a, b, c, plain;
  length_batches_plan(&a, len, N, 16, 50, 42, 0);
  length_batches_plan(&b, len, N, 16, 50, 42, 0);
  length_batches_plan(&c, len, N, 16, 50, 42, 1);
  length_batches_plan(&plain, len, N, 16, 1, 42, 0);
  EXPECT(a.n_batches == (N + 15) / 16, "batches %d", a.n_batches);
  EXPECT(memcmp(a.order, b.order, N * sizeof(int32_t)) == 0, "same seed and epoch, same plan");
  EXPECT(memcmp(a.order, c.order, N * sizeof(int32_t)) != 0, "another epoch, another plan");
  char seen[N] = {0};
  int dup = 0;
  for (int i = 0; i < N; i++) dup += seen[a.order[i]]++;
  EXPECT(dup == 0, "every sample once (%d repeats)", dup);
  double saved = length_batches_padding_saved(&a);
  EXPECT(saved > 0.8, "padding saved %.3f", saved);
  EXPECT(length_batches_padding_saved(&plain) == 0.0, "plain batches save nothing");
  /* batches are not sorted globally: the first ten batch maxima are not monotone */
  int up = 0, down = 0;
  for (int bi = 1; bi < 10; bi++) {
    int m0 = len[a.order[a.start[bi - 1]]], m1 = len[a.order[a.start[bi]]];
    up += m1 > m0, down += m1 < m0;
  }
  EXPECT(up > 0 && down > 0, "batch lengths shuffled across the epoch (%d up, %d down)", up, down);
  length_batches_free(&a);
  length_batches_free(&b);
  length_batches_free(&c);
  length_batches_free(&plain);
}

static void test_schedules(void) {
  sched_config s = {.kind = SCHED_LINEAR, .lr = 1.0f, .warmup_steps = 10, .total_steps = 110};
  EXPECT_NEAR(sched_lr(&s, 0), 0.0, 1e-7);
  EXPECT_NEAR(sched_lr(&s, 5), 0.5, 1e-7);
  EXPECT_NEAR(sched_lr(&s, 10), 1.0, 1e-7);
  EXPECT_NEAR(sched_lr(&s, 60), 0.5, 1e-7);
  EXPECT_NEAR(sched_lr(&s, 110), 0.0, 1e-7);
  s.kind = SCHED_COSINE;
  EXPECT_NEAR(sched_lr(&s, 60), 0.5, 1e-6);
  EXPECT_NEAR(sched_lr(&s, 35), 0.5 * (1 + cos(M_PI * 0.25)), 1e-6);
  s.kind = SCHED_CONSTANT;
  EXPECT_NEAR(sched_lr(&s, 100), 1.0, 1e-7);
  s.kind = SCHED_LINEAR, s.min_lr = 0.1f;
  EXPECT_NEAR(sched_lr(&s, 110), 0.1, 1e-7);
  sched_kind k;
  EXPECT(sched_kind_parse("cosine", &k) == 0 && k == SCHED_COSINE, "parse");
  EXPECT(sched_kind_parse("step", &k) != 0, "unknown schedule rejected");
}

int main(void) {
  test_batches();
  test_schedules();
  return test_summary();
}
