/* Losses. The value goes to a float in device memory; the sums behind it are taken as the
 * reference takes them: per-element (or per-row) terms in float, added in index order in double
 * by one thread (cuda_mean_f64), so the loss does not depend on the launch shape. The softmax of
 * each row is one thread block (tree reductions in a fixed order: the same bits run to run). */
#include <stdio.h>

#include "cuda/cuda_ops.h"

/* ---- the ordered mean ---------------------------------------------------------------------- */

static __global__ void mean_f64_kernel(float *out, const double *terms, const double *weights,
                                       int64_t n, double div_host) {
  double s = 0.0, div = div_host;
  for (int64_t i = 0; i < n; i++) s += terms[i];
  if (weights) {
    div = 0.0;
    for (int64_t i = 0; i < n; i++) div += weights[i];
  }
  *out = div != 0.0 ? (float)(s / div) : 0.0f;
}

void cuda_mean_f64(ordo_ctx *ctx, float *out, const double *terms, int64_t n, const double *div_dev,
                   double div_host) {
  mean_f64_kernel<<<1, 1, 0, ctx->stream>>>(out, terms, div_dev, n, div_host);
  CUDA_LAUNCH_CHECK();
}

/* ---- softmax cross-entropy ----------------------------------------------------------------- */

/* A target outside [0, V) is a caller's bug, as on the CPU (which aborts): stop the kernel. */
static __device__ void check_target(int t, int64_t n, int V) {
  if (t < 0 || t >= V) {
    printf("crossentropy: target %d of row %lld outside [0, %d)\n", t, (long long)n, V);
    __trap();
  }
}

/* One block per row: probs = softmax(logits); term[n] = logsumexp - logit[t] (0 for ignored
 * rows) and counted[n] = 1 or 0. */
static __global__ void crossentropy_rows_kernel(double *term, double *counted, float *probs,
                                                const float *logits, const int32_t *targets,
                                                int ignore_index, int V) {
  __shared__ float red[CUDA_THREADS];
  int64_t n = blockIdx.x;
  const float *l = logits + n * V;
  float *pr = probs + n * V;
  int tid = threadIdx.x;

  float mx = -INFINITY;
  for (int v = tid; v < V; v += blockDim.x) mx = fmaxf(mx, l[v]);
  red[tid] = mx;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] = fmaxf(red[tid], red[tid + s]);
    __syncthreads();
  }
  mx = red[0];
  __syncthreads();

  float sum = 0.0f;
  for (int v = tid; v < V; v += blockDim.x) {
    float e = expf(l[v] - mx);
    pr[v] = e;
    sum += e;
  }
  red[tid] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] += red[tid + s];
    __syncthreads();
  }
  sum = red[0];
  float inv = 1.0f / sum;
  for (int v = tid; v < V; v += blockDim.x) pr[v] *= inv;

  if (tid == 0) {
    int t = targets[n];
    if (t == ignore_index) {
      term[n] = 0.0;
      counted[n] = 0.0;
    } else {
      check_target(t, n, V);
      term[n] = (double)(logf(sum) - (l[t] - mx));
      counted[n] = 1.0;
    }
  }
}

void crossentropy_forward_cuda(ordo_ctx *ctx, float *loss, float *probs, const float *logits,
                               const int32_t *targets, int ignore_index, int N, int V) {
  if (N <= 0) {
    fill_cuda(ctx, loss, 0.0f, 1);
    return;
  }
  double *term = (double *)cuda_scratch(ctx, 2 * (size_t)N * sizeof(double)), *counted = term + N;
  crossentropy_rows_kernel<<<N, CUDA_THREADS, 0, ctx->stream>>>(term, counted, probs, logits,
                                                                targets, ignore_index, V);
  CUDA_LAUNCH_CHECK();
  cuda_mean_f64(ctx, loss, term, N, counted, 0.0); /* mean over the counted rows */
}

/* acc == ORDO_OVERWRITE: dlogits is not read (the bits of += onto zeros, ignored rows zero) */
static __global__ void crossentropy_backward_kernel(float *dlogits, int acc, const float *probs,
                                                    const int32_t *targets, int ignore_index,
                                                    float dloss_per_row, int N, int V) {
  CUDA_FOR(i, (int64_t)N * V) {
    int64_t n = i / V;
    int v = (int)(i % V), t = targets[n];
    if (t == ignore_index) {
      if (!acc) dlogits[i] = 0.0f;
      continue;
    }
    check_target(t, n, V);
    dlogits[i] = (acc ? dlogits[i] : 0.0f) + dloss_per_row * (probs[i] - (v == t ? 1.0f : 0.0f));
  }
}

void crossentropy_backward_cuda(ordo_ctx *ctx, float *dlogits, int acc, const float *probs,
                                const int32_t *targets, int ignore_index, float dloss_per_row,
                                int N, int V) {
  int64_t n = (int64_t)N * V;
  if (!dlogits || n <= 0) return;
  CUDA_LAUNCH_1D(crossentropy_backward_kernel, n, dlogits, acc, probs, targets, ignore_index,
                 dloss_per_row, N, V);
}

/* ---- mean squared error -------------------------------------------------------------------- */

static __global__ void mse_terms_kernel(double *term, const float *pred, const float *target,
                                        int64_t N) {
  CUDA_FOR(i, N) {
    float e = pred[i] - target[i];
    term[i] = (double)(e * e);
  }
}

void mse_forward_cuda(ordo_ctx *ctx, float *loss, const float *pred, const float *target,
                      int64_t N) {
  if (N <= 0) {
    fill_cuda(ctx, loss, 0.0f, 1);
    return;
  }
  double *term = (double *)cuda_scratch(ctx, (size_t)N * sizeof(double));
  CUDA_LAUNCH_1D(mse_terms_kernel, N, term, pred, target, N);
  cuda_mean_f64(ctx, loss, term, N, NULL, (double)N);
}

static __global__ void mse_backward_kernel(float *dpred, const float *pred, const float *target,
                                           float k, int64_t N) {
  CUDA_FOR(i, N) dpred[i] += k * (pred[i] - target[i]);
}

void mse_backward_cuda(ordo_ctx *ctx, float *dpred, const float *pred, const float *target,
                       float dloss, int64_t N) {
  if (!dpred || N <= 0) return;
  float k = dloss * 2.0f / (float)N;
  CUDA_LAUNCH_1D(mse_backward_kernel, N, dpred, pred, target, k, N);
}

/* ---- binary cross-entropy with logits ------------------------------------------------------ */

/* max(x,0) - x y + log(1 + exp(-|x|)) (src/cpu/ref_ops.c's bce_logits_term) */
static __device__ float bce_term(float x, float y) {
  return fmaxf(x, 0.0f) - x * y + log1pf(expf(-fabsf(x)));
}

/* 1 / (1 + exp(-x)) without overflow (bce_sigmoid) */
static __device__ float bce_sig(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

static __global__ void bce_terms_kernel(double *term, double *wt, const float *logits,
                                        const float *targets, const float *weights, int64_t N) {
  CUDA_FOR(i, N) {
    float w = weights ? weights[i] : 1.0f;
    term[i] = (double)(w * bce_term(logits[i], targets[i]));
    wt[i] = (double)w;
  }
}

void bce_logits_forward_cuda(ordo_ctx *ctx, float *loss, const float *logits, const float *targets,
                             const float *weights, int64_t N) {
  if (N <= 0) {
    fill_cuda(ctx, loss, 0.0f, 1);
    return;
  }
  double *term = (double *)cuda_scratch(ctx, 2 * (size_t)N * sizeof(double)), *wt = term + N;
  CUDA_LAUNCH_1D(bce_terms_kernel, N, term, wt, logits, targets, weights, N);
  cuda_mean_f64(ctx, loss, term, N, wt, 0.0); /* sum(w l) / sum(w), 0 when sum(w) is 0 */
}

/* k[0] = (float)(dloss / sum(w)) with the weights summed in order in double; k[1] = 0 when the
 * sum is 0 (nothing to average: no gradient), else 1 */
static __global__ void bce_factor_kernel(float *k, const float *weights, float dloss, int64_t N) {
  double ws = 0.0;
  for (int64_t i = 0; i < N; i++) ws += (double)weights[i];
  k[0] = ws != 0.0 ? (float)(dloss / ws) : 0.0f;
  k[1] = ws != 0.0 ? 1.0f : 0.0f;
}

static __global__ void bce_backward_kernel(float *dlogits, const float *logits,
                                           const float *targets, const float *weights,
                                           const float *kdev, float khost, int64_t N) {
  if (kdev && kdev[1] == 0.0f) return;
  float k = kdev ? kdev[0] : khost;
  CUDA_FOR(i, N) {
    float w = weights ? weights[i] : 1.0f;
    dlogits[i] += k * w * (bce_sig(logits[i]) - targets[i]);
  }
}

void bce_logits_backward_cuda(ordo_ctx *ctx, float *dlogits, const float *logits,
                              const float *targets, const float *weights, float dloss, int64_t N) {
  if (!dlogits || N <= 0) return;
  float *kdev = NULL, khost = 0.0f;
  if (weights) {
    kdev = (float *)cuda_scratch(ctx, 2 * sizeof(float));
    bce_factor_kernel<<<1, 1, 0, ctx->stream>>>(kdev, weights, dloss, N);
    CUDA_LAUNCH_CHECK();
  } else {
    khost = (float)(dloss / (double)N); /* N ones summed in double: exactly N */
  }
  CUDA_LAUNCH_1D(bce_backward_kernel, N, dlogits, logits, targets, weights, kdev, khost, N);
}
