/* Kendall tau: merge-sort inversion counts against brute force, the competition's formula on
 * hand-made cases, and the score's errors on mismatched submissions. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ordo/ai4code.h"
#include "ordo/rng.h"

static int64_t brute_inversions(const int32_t *a, int32_t n) {
  int64_t s = 0;
  for (int32_t i = 0; i < n; i++)
    for (int32_t j = i + 1; j < n; j++) s += a[i] > a[j];
  return s;
}

static void test_inversions_random(void) {
  ordo_rng r;
  rng_init(&r, 7);
  int32_t a[300], scratch[600];
  for (int trial = 0; trial < 400; trial++) {
    int32_t n = (int32_t)rng_below(&r, 300);
    for (int32_t i = 0; i < n; i++) a[i] = i;
    rng_shuffle_i32(&r, a, n);
    if (trial % 4 == 3) /* values with ties: equal values are not inversions */
      for (int32_t i = 0; i < n; i++) a[i] /= 3;
    int32_t copy[300];
    memcpy(copy, a, sizeof(int32_t) * (size_t)n);
    int64_t fast = ai4_count_inversions(a, n, scratch), slow = brute_inversions(a, n);
    EXPECT(fast == slow, "n=%d: merge %lld vs brute %lld", n, (long long)fast, (long long)slow);
    EXPECT(memcmp(copy, a, sizeof(int32_t) * (size_t)n) == 0, "input modified");
  }
}

static void test_tau_hand(void) {
  int32_t id4[] = {0, 1, 2, 3}, rev4[] = {3, 2, 1, 0}, swap4[] = {0, 2, 1, 3};
  ai4_tau t = {0, 0};
  ai4_tau_add(&t, id4, id4, 4);
  EXPECT_NEAR(ai4_tau_value(&t), 1.0, 1e-12);
  t = (ai4_tau){0, 0};
  ai4_tau_add(&t, rev4, id4, 4);
  EXPECT(t.inversions == 6 && t.pairs2 == 12, "reversed: %lld / %lld", (long long)t.inversions, (long long)t.pairs2);
  EXPECT_NEAR(ai4_tau_value(&t), -1.0, 1e-12);
  /* one adjacent swap of 4: S = 1, tau = 1 - 4/12 */
  t = (ai4_tau){0, 0};
  ai4_tau_add(&t, swap4, id4, 4);
  EXPECT_NEAR(ai4_tau_value(&t), 1.0 - 4.0 / 12.0, 1e-12);
  /* pooled, not averaged: notebook 1 (n=3 reversed: S=3, n(n-1)=6), notebook 2 (n=2 right:
   * S=0, 2): tau = 1 - 4*3/8 = -0.5 (the mean of per-notebook taus would be 0) */
  int32_t id3[] = {0, 1, 2}, rev3[] = {2, 1, 0}, id2[] = {0, 1};
  t = (ai4_tau){0, 0};
  ai4_tau_add(&t, rev3, id3, 3);
  ai4_tau_add(&t, id2, id2, 2);
  EXPECT_NEAR(ai4_tau_value(&t), -0.5, 1e-12);
  /* a truth that is not the identity: items named by index, truth [2 0 1], pred [0 2 1]:
   * true ranks of pred = [1 0 2] -> 1 inversion of 3 pairs: tau = 1 - 4/6 */
  int32_t truth[] = {2, 0, 1}, pred[] = {0, 2, 1};
  t = (ai4_tau){0, 0};
  ai4_tau_add(&t, pred, truth, 3);
  EXPECT_NEAR(ai4_tau_value(&t), 1.0 - 4.0 / 6.0, 1e-12);
  /* one-cell notebooks add no pairs */
  int32_t one[] = {0};
  t = (ai4_tau){0, 0};
  ai4_tau_add(&t, one, one, 1);
  EXPECT(t.pairs2 == 0, "one cell has no pairs");
}

/* A long random case: pooled tau equals the O(n^2) definition. */
static void test_tau_pooled_random(void) {
  ordo_rng r;
  rng_init(&r, 99);
  ai4_tau t = {0, 0};
  int64_t inv = 0, pairs2 = 0;
  for (int nb = 0; nb < 30; nb++) {
    int32_t n = 1 + (int32_t)rng_below(&r, 120), truth[120], pred[120], rank[120], a[120];
    for (int32_t i = 0; i < n; i++) truth[i] = pred[i] = i;
    rng_shuffle_i32(&r, truth, n);
    rng_shuffle_i32(&r, pred, n);
    ai4_tau_add(&t, pred, truth, n);
    for (int32_t i = 0; i < n; i++) rank[truth[i]] = i;
    for (int32_t i = 0; i < n; i++) a[i] = rank[pred[i]];
    inv += brute_inversions(a, n);
    pairs2 += (int64_t)n * (n - 1);
  }
  EXPECT(t.inversions == inv && t.pairs2 == pairs2, "pooled counts");
  EXPECT_NEAR(ai4_tau_value(&t), 1.0 - 4.0 * (double)inv / (double)pairs2, 1e-12);
}

static void add_row(nb_orders *o, const char *id, const char *cells) {
  char buf[256], *parts[32];
  snprintf(buf, sizeof buf, "%s", cells);
  int n = 0;
  for (char *s = strtok(buf, " "); s; s = strtok(NULL, " ")) parts[n++] = s;
  nb_orders_add(o, id, parts, n);
}

static void test_score_orders(void) {
  nb_orders truth = {0}, sub = {0};
  add_row(&truth, "nb1", "a b c d");
  add_row(&truth, "nb2", "x y z");
  add_row(&sub, "nb2", "x z y"); /* 1 inversion of 3 pairs */
  add_row(&sub, "nb1", "a b c d");
  double tau;
  ordo_err e = {{0}};
  EXPECT(ai4_score_orders(&truth, &sub, &tau, NULL, &e) == 0, "%s", e.msg);
  EXPECT_NEAR(tau, 1.0 - 4.0 * 1 / (12 + 6), 1e-12);

  struct {
    const char *nb, *cells, *expect;
  } bad[] = {
      {"nb1", "a b c q", "unknown cell id q"},
      {"nb1", "a b c c", "cell id c listed twice"},
      {"nb1", "a b c", "missing: d"},
      {"nb1", "a b c d e", "unknown cell id e"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    nb_orders s2 = {0};
    add_row(&s2, "nb2", "x y z");
    add_row(&s2, bad[k].nb, bad[k].cells);
    e.msg[0] = 0;
    EXPECT(ai4_score_orders(&truth, &s2, &tau, NULL, &e) == -1, "case %zu accepted", k);
    EXPECT(strstr(e.msg, bad[k].expect) && strstr(e.msg, "nb1"), "case %zu: message '%s'", k, e.msg);
    nb_orders_free(&s2);
  }
  nb_orders s3 = {0};
  add_row(&s3, "nb1", "a b c d");
  EXPECT(ai4_score_orders(&truth, &s3, &tau, NULL, &e) == -1 && strstr(e.msg, "missing: nb2"),
         "missing notebook: '%s'", e.msg);
  add_row(&s3, "nb2", "x y z");
  add_row(&s3, "nb9", "k");
  EXPECT(ai4_score_orders(&truth, &s3, &tau, NULL, &e) == -1 && strstr(e.msg, "not in the orders: nb9"),
         "extra notebook: '%s'", e.msg);
  nb_orders_free(&s3);
  nb_orders_free(&truth);
  nb_orders_free(&sub);
}

int main(void) {
  test_inversions_random();
  test_tau_hand();
  test_tau_pooled_random();
  test_score_orders();
  return test_summary();
}
