/* Losses. Rows (or elements) run in parallel, the softmax's expf vectorized (vecmath.h); every scalar sum is taken over LOSS_CHUNKS fixed
 * chunks of the index range, each summed in order in double and the chunk sums then added in
 * chunk order. The partition depends on N only, so the loss has the same bits for any thread
 * count; the partial sums live in a small stack array (no allocation). */
#include <math.h>
#include <string.h>

#include "cpu/cpu_ops.h"
#include "cpu/vecmath.h"
#include "ordo/core.h"

enum { LOSS_CHUNKS = 64 }; /* enough tasks for 64 threads; 64 doubles of stack */
/* The softmax's clamp, exp and flush-and-sum loops run over blocks of a row this long (2 KB), so
 * that each block stays in L1 between them (a full head's 8,192-wide rows did not: 19.5 -> 15.0
 * ms for 2,048 rows, bench/NOTES.md). */
enum { CE_BLOCK = 512 };

static int64_t chunk_begin(int64_t N, int k) { return N * k / LOSS_CHUNKS; }

static float crossentropy_mean_cpu(float *probs, const float *logits, const int32_t *targets,
                               int ignore_index, int N, int V, int *count) {
  double part[LOSS_CHUNKS];
  int cnt[LOSS_CHUNKS];
#pragma omp parallel for schedule(static)
  for (int k = 0; k < LOSS_CHUNKS; k++) {
    double tot = 0.0;
    int c = 0;
    for (int64_t n = chunk_begin(N, k); n < chunk_begin(N, k + 1); n++) {
      const float *l = logits + n * V;
      float *pr = probs + n * V;
      float mx = -INFINITY, sum = 0.0f;
#pragma omp simd reduction(max : mx)
      for (int v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
      /* clamp, exp, flush as separate loops so that expf vectorizes (vecmath.h) */
      for (int v0 = 0; v0 < V; v0 += CE_BLOCK) {
        const int nb = V - v0 < CE_BLOCK ? V - v0 : CE_BLOCK;
        const float *lb = l + v0;
        float *pb = pr + v0;
#pragma omp simd
        for (int v = 0; v < nb; v++) pb[v] = lb[v] - mx < VEC_EXP_MIN ? VEC_EXP_MIN : lb[v] - mx;
#pragma omp simd
        for (int v = 0; v < nb; v++) pb[v] = expf(pb[v]);
#pragma omp simd reduction(+ : sum)
        for (int v = 0; v < nb; v++) {
          pb[v] = pb[v] > VEC_EXP_TINY ? pb[v] : 0.0f;
          sum += pb[v];
        }
      }
      float inv = 1.0f / sum;
#pragma omp simd
      for (int v = 0; v < V; v++) pr[v] *= inv;
      int t = targets[n];
      if (t == ignore_index) continue;
      ORDO_CHECKF(t >= 0 && t < V, "crossentropy: target %d of row %lld outside [0, %d)", t,
                  (long long)n, V);
      tot += (double)(logf(sum) - (l[t] - mx));
      c++;
    }
    part[k] = tot;
    cnt[k] = c;
  }
  double total = 0.0;
  int c = 0;
  for (int k = 0; k < LOSS_CHUNKS; k++) total += part[k], c += cnt[k];
  if (count) *count = c;
  return c ? (float)(total / c) : 0.0f;
}

/* With acc == ORDO_OVERWRITE each row is zeroed just before its += loop (in cache: the bits of
 * += onto zeros), so the caller needs no zero-fill pass over all the rows first. */
void crossentropy_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dlogits, int acc, const float *probs, const int32_t *targets,
                               int ignore_index, float dloss_per_row, int N, int V) {
  if (!dlogits) return;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    int t = targets[n];
    float *d = dlogits + (int64_t)n * V;
    if (!acc) memset(d, 0, (size_t)V * sizeof(float));
    if (t == ignore_index) continue;
    ORDO_CHECKF(t >= 0 && t < V, "crossentropy: target %d of row %d outside [0, %d)", t, n, V);
    const float *pr = probs + (int64_t)n * V;
#pragma omp simd
    for (int v = 0; v < V; v++) d[v] += dloss_per_row * pr[v];
    d[t] -= dloss_per_row;
  }
}

static float mse_mean_cpu(const float *pred, const float *target, int64_t N) {
  double part[LOSS_CHUNKS];
#pragma omp parallel for schedule(static)
  for (int k = 0; k < LOSS_CHUNKS; k++) {
    double s = 0.0;
    for (int64_t i = chunk_begin(N, k); i < chunk_begin(N, k + 1); i++) {
      float e = pred[i] - target[i];
      s += (double)(e * e);
    }
    part[k] = s;
  }
  double s = 0.0;
  for (int k = 0; k < LOSS_CHUNKS; k++) s += part[k];
  return N ? (float)(s / (double)N) : 0.0f;
}

void mse_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dpred, const float *pred, const float *target, float dloss,
                      int64_t N) {
  if (!dpred || N == 0) return;
  const float k = dloss * 2.0f / (float)N;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; i++) dpred[i] += k * (pred[i] - target[i]);
}

/* Sum of the weights (N when weights is NULL), chunked as above. */
static double weight_sum(const float *weights, int64_t N) {
  if (!weights) return (double)N;
  double part[LOSS_CHUNKS];
#pragma omp parallel for schedule(static)
  for (int k = 0; k < LOSS_CHUNKS; k++) {
    double s = 0.0;
    for (int64_t i = chunk_begin(N, k); i < chunk_begin(N, k + 1); i++) s += (double)weights[i];
    part[k] = s;
  }
  double s = 0.0;
  for (int k = 0; k < LOSS_CHUNKS; k++) s += part[k];
  return s;
}

static float bce_logits_mean_cpu(const float *logits, const float *targets, const float *weights,
                             int64_t N) {
  double part[LOSS_CHUNKS];
#pragma omp parallel for schedule(static)
  for (int k = 0; k < LOSS_CHUNKS; k++) {
    double s = 0.0;
    for (int64_t i = chunk_begin(N, k); i < chunk_begin(N, k + 1); i++) {
      float w = weights ? weights[i] : 1.0f;
      s += (double)(w * bce_logits_term(logits[i], targets[i]));
    }
    part[k] = s;
  }
  double s = 0.0;
  for (int k = 0; k < LOSS_CHUNKS; k++) s += part[k];
  double ws = weight_sum(weights, N);
  return ws != 0.0 ? (float)(s / ws) : 0.0f;
}

void bce_logits_backward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *dlogits, const float *logits, const float *targets,
                             const float *weights, float dloss, int64_t N) {
  if (!dlogits) return;
  double ws = weight_sum(weights, N);
  if (ws == 0.0) return;
  const float k = (float)(dloss / ws);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; i++) {
    float w = weights ? weights[i] : 1.0f;
    dlogits[i] += k * w * (bce_sigmoid(logits[i]) - targets[i]);
  }
}

void crossentropy_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, float *probs,
                              const float *logits, const int32_t *targets, int ignore_index, int N,
                              int V) {
  *loss = crossentropy_mean_cpu(probs, logits, targets, ignore_index, N, V, NULL);
}

void mse_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, const float *pred, const float *target,
                     int64_t N) {
  *loss = mse_mean_cpu(pred, target, N);
}

void bce_logits_forward_cpu(ordo_ctx *ctx ORDO_UNUSED, float *loss, const float *logits,
                            const float *targets, const float *weights, int64_t N) {
  *loss = bce_logits_mean_cpu(logits, targets, weights, N);
}
