/* The float32 reference kernels: plain single-threaded loops written for obviousness, not
 * speed. They are the truth every other backend is tested against (tests/cpu), so each one
 * follows its formula in ops.h as literally as possible.
 *
 * Shared semantics, also followed by the fast backend:
 *  - embed: tt == NULL with wtt != NULL means token type 0 for every row (HF's default);
 *    wpe != NULL needs pos.
 *  - layernorm: torch's biased variance, eps inside the sqrt; w == NULL means 1, b == NULL 0.
 *  - attention: mask == NULL means every key is real. Padded keys get probability exactly 0;
 *    the row max subtracted before exp is taken over real keys only. A query row whose keys
 *    are all padding gets all-zero probabilities (and so a zero output and zero gradient)
 *    instead of a 0/0. Attention-probability dropout draws the dropout op's mask over the
 *    flat (B*NH, T, T) index and leaves att undropped.
 *  - crossentropy: probs is filled for every row, ignored ones included, so callers can use
 *    it for prediction; the loss is taken from the logits (log-sum-exp), never log(probs). */
#include <math.h>
#include <string.h>

#include "core/layernorm_row.h"
#include "cpu/cpu_ops.h"
#include "ordo/core.h"
#include "ordo/rng.h"

/* ---- embeddings ----------------------------------------------------------------------- */

static void embed_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const int32_t *ids, const int32_t *pos,
                              const int32_t *tt, const float *wte, const float *wpe,
                              const float *wtt, int BT, int C) {
  ORDO_CHECK(wpe == NULL || pos != NULL);
  for (int r = 0; r < BT; r++) {
    const float *e = wte + (int64_t)ids[r] * C;
    const float *p = wpe ? wpe + (int64_t)pos[r] * C : NULL;
    const float *y = wtt ? wtt + (int64_t)(tt ? tt[r] : 0) * C : NULL;
    float *o = out + (int64_t)r * C;
    for (int c = 0; c < C; c++) {
      float v = e[c];
      if (p) v += p[c];
      if (y) v += y[c];
      o[c] = v;
    }
  }
}

static void embed_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dwte, float *dwpe, float *dwtt, const float *dout,
                               const int32_t *ids, const int32_t *pos, const int32_t *tt,
                               int BT, int C) {
  ORDO_CHECK(dwpe == NULL || pos != NULL);
  for (int r = 0; r < BT; r++) {
    const float *d = dout + (int64_t)r * C;
    float *ge = dwte ? dwte + (int64_t)ids[r] * C : NULL;
    float *gp = dwpe ? dwpe + (int64_t)pos[r] * C : NULL;
    float *gt = dwtt ? dwtt + (int64_t)(tt ? tt[r] : 0) * C : NULL;
    for (int c = 0; c < C; c++) {
      if (ge) ge[c] += d[c];
      if (gp) gp[c] += d[c];
      if (gt) gt[c] += d[c];
    }
  }
}

/* ---- layernorm ------------------------------------------------------------------------ */

static void layernorm_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, float *mean, float *rstd, const float *inp,
                                  const float *w, const float *b, float eps, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (int64_t)n * C;
    float m = 0.0f;
    for (int c = 0; c < C; c++) m += x[c];
    m /= (float)C;
    float v = 0.0f;
    for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
    v /= (float)C; /* biased, as torch */
    float s = 1.0f / sqrtf(v + eps);
    float *o = out + (int64_t)n * C;
    for (int c = 0; c < C; c++) {
      float y = (x[c] - m) * s;
      o[c] = y * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
    }
    mean[n] = m;
    rstd[n] = s;
  }
}

/* With xh = (x - mean) * rstd and g = dout * w:
 * dx = rstd * (g - mean(g) - xh * mean(g * xh)); dw += dout * xh; db += dout. */
static void layernorm_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, float *dw, float *db, const float *dout,
                                   const float *inp, const float *w, const float *mean,
                                   const float *rstd, int N, int C) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (int64_t)n * C, *d = dout + (int64_t)n * C;
    float m = mean[n], s = rstd[n], gmean, gxmean;
    layernorm_row_grad_means(x, d, w, m, s, C, &gmean, &gxmean);
    if (dinp && !acc) memset(dinp + (int64_t)n * C, 0, (size_t)C * sizeof(float));
    for (int c = 0; c < C; c++) {
      float xh = (x[c] - m) * s;
      float g = d[c] * (w ? w[c] : 1.0f);
      if (dinp) dinp[(int64_t)n * C + c] += s * (g - gmean - xh * gxmean);
      if (dw) dw[c] += d[c] * xh;
      if (db) db[c] += d[c];
    }
  }
}

/* ---- linear layer --------------------------------------------------------------------- */

static void matmul_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, const float *w, const float *bias,
                               int N, int IN, int OUT) {
  for (int n = 0; n < N; n++) {
    const float *x = inp + (int64_t)n * IN;
    for (int o = 0; o < OUT; o++) {
      const float *wr = w + (int64_t)o * IN;
      float acc = bias ? bias[o] : 0.0f;
      for (int i = 0; i < IN; i++) acc += x[i] * wr[i];
      out[(int64_t)n * OUT + o] = acc;
    }
  }
}

/* dinp (N, IN) += dout (N, OUT) @ w (OUT, IN); dw (OUT, IN) += dout^T @ inp; dbias += sum_n. */
static void matmul_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dinp, float *dw, float *dbias, const float *dout,
                                const float *inp, const float *w, int N, int IN, int OUT) {
  for (int n = 0; n < N; n++) {
    const float *d = dout + (int64_t)n * OUT, *x = inp + (int64_t)n * IN;
    if (dinp) {
      for (int i = 0; i < IN; i++) {
        float acc = 0.0f;
        for (int o = 0; o < OUT; o++) acc += d[o] * w[(int64_t)o * IN + i];
        dinp[(int64_t)n * IN + i] += acc;
      }
    }
    for (int o = 0; o < OUT; o++) {
      if (dw)
        for (int i = 0; i < IN; i++) dw[(int64_t)o * IN + i] += d[o] * x[i];
      if (dbias) dbias[o] += d[o];
    }
  }
}

/* ---- attention ------------------------------------------------------------------------ */

static void attention_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, float *scratch, const float *qkv,
                                  const int32_t *mask, int causal, const float *bias, float pdrop,
                                  uint64_t seed, uint64_t offset, int B, int T, int C, int NH) {
  ORDO_CHECK(NH > 0 && C % NH == 0);
  ORDO_CHECK(pdrop >= 0.0f && pdrop <= 1.0f && (pdrop == 0.0f || scratch));
  int hs = C / NH;
  float scale = 1.0f / sqrtf((float)hs);
  float dscale = pdrop < 1.0f ? 1.0f / (1.0f - pdrop) : 0.0f;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        const float *q = qkv + ((int64_t)b * T + t) * 3 * C + h * hs;
        int64_t row = (((int64_t)b * NH + h) * T + t) * T; /* flat index of (bh, t, 0) */
        float *p = att + row;
        float mx = -INFINITY;
        for (int u = 0; u < T; u++) {
          if ((mask && !mask[b * T + u]) || (causal && u > t)) continue;
          const float *k = qkv + ((int64_t)b * T + u) * 3 * C + C + h * hs;
          float s = 0.0f;
          for (int i = 0; i < hs; i++) s += q[i] * k[i];
          p[u] = s * scale;
          if (bias) p[u] += bias[((int64_t)h * T + t) * T + u];
          if (p[u] > mx) mx = p[u];
        }
        float sum = 0.0f;
        for (int u = 0; u < T; u++) {
          if ((mask && !mask[b * T + u]) || (causal && u > t)) {
            p[u] = 0.0f;
            continue;
          }
          p[u] = expf(p[u] - mx);
          sum += p[u];
        }
        /* sum == 0 only when every key is padding: the row stays all zeros. */
        float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        for (int u = 0; u < T; u++) p[u] *= inv;
        /* the value product reads P, or with dropout its dropped copy Pd in scratch */
        const float *pv = p;
        if (pdrop > 0.0f) {
          float *pd = scratch + row;
          for (int u = 0; u < T; u++) {
            int keep = philox_uniform(seed, offset + (uint64_t)(row + u)) >= pdrop;
            pd[u] = keep ? p[u] * dscale : 0.0f;
          }
          pv = pd;
        }
        float *o = out + ((int64_t)b * T + t) * C + h * hs;
        for (int i = 0; i < hs; i++) o[i] = 0.0f;
        for (int u = 0; u < T; u++) {
          const float *v = qkv + ((int64_t)b * T + u) * 3 * C + 2 * C + h * hs;
          for (int i = 0; i < hs; i++) o[i] += pv[u] * v[i];
        }
      }
}

static void attention_cached_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, float *att, const float *q, const float *k,
                                         const float *v, int ldq, int ldkv, int Tq, int Tk, int C,
                                         int NH) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && Tk >= Tq && Tq > 0);
  int hs = C / NH;
  float scale = 1.0f / sqrtf((float)hs);
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < Tq; i++) {
      int last = Tk - Tq + i; /* the query's own position: the last key it sees */
      const float *qi = q + (int64_t)i * ldq + h * hs;
      float *p = att + ((int64_t)h * Tq + i) * Tk, mx = -INFINITY, sum = 0.0f;
      for (int u = 0; u <= last; u++) {
        const float *ku = k + (int64_t)u * ldkv + h * hs;
        float s = 0.0f;
        for (int j = 0; j < hs; j++) s += qi[j] * ku[j];
        p[u] = s * scale;
        if (p[u] > mx) mx = p[u];
      }
      for (int u = 0; u <= last; u++) {
        p[u] = expf(p[u] - mx);
        sum += p[u];
      }
      float *o = out + (int64_t)i * C + h * hs;
      for (int j = 0; j < hs; j++) o[j] = 0.0f;
      for (int u = 0; u <= last; u++) {
        const float *vu = v + (int64_t)u * ldkv + h * hs;
        for (int j = 0; j < hs; j++) o[j] += p[u] / sum * vu[j];
      }
    }
}

/* With P the probabilities, S the scaled scores of one row and M[u] = keep[u] / (1 - p) the
 * dropout factor (1 without dropout), Pd = P M:
 * dPd[u] = dout . v[u]; dv[u] += Pd[u] dout; dP[u] = M[u] dPd[u];
 * dS[u] = P[u] (dP[u] - sum_w P[w] dP[w]); dq += scale sum_u dS[u] k[u]; dk[u] += scale dS[u] q.
 * The reference keeps dP in scratch. */
static void attention_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dqkv, int acc, float *dbias, float *scratch,
                                   const float *dout, const float *qkv, const float *att,
                                   const int32_t *mask, float pdrop, uint64_t seed,
                                   uint64_t offset, int B, int T, int C, int NH) {
  (void)mask; /* padded keys have P == 0, so their dS and dv contributions vanish by themselves */
  ORDO_CHECK(NH > 0 && C % NH == 0);
  ORDO_CHECK(pdrop >= 0.0f && pdrop <= 1.0f);
  if (!dqkv) return;
  if (!acc) memset(dqkv, 0, (size_t)B * T * 3 * C * sizeof(float));
  int hs = C / NH;
  float scale = 1.0f / sqrtf((float)hs);
  float dscale = pdrop < 1.0f ? 1.0f / (1.0f - pdrop) : 0.0f;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < T; t++) {
        int64_t row = (((int64_t)b * NH + h) * T + t) * T;
        const float *p = att + row;
        float *dp = scratch + row;
        const float *d = dout + ((int64_t)b * T + t) * C + h * hs;
        const float *q = qkv + ((int64_t)b * T + t) * 3 * C + h * hs;
        float *dq = dqkv + ((int64_t)b * T + t) * 3 * C + h * hs;
        float pdp = 0.0f;
        for (int u = 0; u < T; u++) {
          const float *v = qkv + ((int64_t)b * T + u) * 3 * C + 2 * C + h * hs;
          float *dv = dqkv + ((int64_t)b * T + u) * 3 * C + 2 * C + h * hs;
          float pd = p[u], m = 1.0f; /* Pd[u] and M[u] */
          if (pdrop > 0.0f) {
            int keep = philox_uniform(seed, offset + (uint64_t)(row + u)) >= pdrop;
            m = keep ? dscale : 0.0f;
            pd = keep ? p[u] * dscale : 0.0f;
          }
          float s = 0.0f;
          for (int i = 0; i < hs; i++) {
            s += d[i] * v[i];
            dv[i] += pd * d[i];
          }
          dp[u] = pdrop > 0.0f ? s * m : s;
          pdp += p[u] * dp[u];
        }
        for (int u = 0; u < T; u++) {
          float dsl = p[u] * (dp[u] - pdp); /* d softmax input */
          if (dbias) dbias[((int64_t)h * T + t) * T + u] += dsl;
          float ds = dsl * scale;
          const float *k = qkv + ((int64_t)b * T + u) * 3 * C + C + h * hs;
          float *dk = dqkv + ((int64_t)b * T + u) * 3 * C + C + h * hs;
          for (int i = 0; i < hs; i++) {
            dq[i] += ds * k[i];
            dk[i] += ds * q[i];
          }
        }
      }
}

/* ---- pointwise ------------------------------------------------------------------------ */

static void gelu_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N) {
  for (int64_t i = 0; i < N; i++) out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * (float)M_SQRT1_2));
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x). */
static void gelu_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *inp, const float *dout, int64_t N) {
  if (!dinp) return;
  if (!acc) memset(dinp, 0, (size_t)N * sizeof(float));
  const float inv_sqrt_2pi = 0.3989422804014327f;
  for (int64_t i = 0; i < N; i++) {
    float x = inp[i];
    float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
    float pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
    dinp[i] += dout[i] * (cdf + x * pdf);
  }
}

/* GPT-2's gelu_new: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). */
#define GELU_TANH_K 0.7978845608028654f /* sqrt(2 / pi) */
static void gelu_tanh_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N) {
  for (int64_t i = 0; i < N; i++) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_TANH_K * (x + 0.044715f * x * x * x)));
  }
}

/* d/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2). */
static void gelu_tanh_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *inp, const float *dout, int64_t N) {
  if (!dinp) return;
  if (!acc) memset(dinp, 0, (size_t)N * sizeof(float));
  for (int64_t i = 0; i < N; i++) {
    float x = inp[i];
    float th = tanhf(GELU_TANH_K * (x + 0.044715f * x * x * x));
    float du = GELU_TANH_K * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du);
  }
}

static void tanh_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, int64_t N) {
  for (int64_t i = 0; i < N; i++) out[i] = tanhf(inp[i]);
}

static void tanh_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dinp, int acc, const float *out, const float *dout, int64_t N) {
  if (!dinp) return;
  if (!acc) memset(dinp, 0, (size_t)N * sizeof(float));
  for (int64_t i = 0; i < N; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

static void dropout_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *inp, float p, uint64_t seed,
                                uint64_t offset, int64_t N) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  for (int64_t i = 0; i < N; i++) {
    if (p == 0.0f) {
      out[i] = inp[i];
      continue;
    }
    int keep = philox_uniform(seed, offset + (uint64_t)i) >= p;
    out[i] = keep ? inp[i] * scale : 0.0f;
  }
}

static void dropout_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dinp, const float *dout, float p, uint64_t seed,
                                 uint64_t offset, int64_t N) {
  ORDO_CHECK(p >= 0.0f && p <= 1.0f);
  if (!dinp) return;
  float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  for (int64_t i = 0; i < N; i++) {
    if (p == 0.0f) {
      dinp[i] += dout[i];
      continue;
    }
    int keep = philox_uniform(seed, offset + (uint64_t)i) >= p;
    if (keep) dinp[i] += dout[i] * scale;
  }
}

static void residual_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *out, const float *a, const float *b, int64_t N) {
  for (int64_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}

/* ---- losses --------------------------------------------------------------------------- */

static float crossentropy_mean_ref(float *probs, const float *logits, const int32_t *targets,
                                      int ignore_index, int N, int V, int *count) {
  double total = 0.0; /* summed over rows in double: the mean over many rows stays exact */
  int cnt = 0;
  for (int n = 0; n < N; n++) {
    const float *l = logits + (int64_t)n * V;
    float *pr = probs + (int64_t)n * V;
    float mx = -INFINITY;
    for (int v = 0; v < V; v++)
      if (l[v] > mx) mx = l[v];
    float sum = 0.0f;
    for (int v = 0; v < V; v++) {
      pr[v] = expf(l[v] - mx);
      sum += pr[v];
    }
    float inv = 1.0f / sum;
    for (int v = 0; v < V; v++) pr[v] *= inv;
    int t = targets[n];
    if (t == ignore_index) continue;
    ORDO_CHECKF(t >= 0 && t < V, "crossentropy: target %d of row %d outside [0, %d)", t, n, V);
    total += (double)(logf(sum) - (l[t] - mx));
    cnt++;
  }
  if (count) *count = cnt;
  return cnt ? (float)(total / cnt) : 0.0f;
}

static void crossentropy_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dlogits, int acc, const float *probs, const int32_t *targets,
                                      int ignore_index, float dloss_per_row, int N, int V) {
  if (!dlogits) return;
  for (int n = 0; n < N; n++) {
    int t = targets[n];
    if (!acc)
      for (int v = 0; v < V; v++) dlogits[(int64_t)n * V + v] = 0.0f;
    if (t == ignore_index) continue;
    ORDO_CHECKF(t >= 0 && t < V, "crossentropy: target %d of row %d outside [0, %d)", t, n, V);
    const float *pr = probs + (int64_t)n * V;
    float *d = dlogits + (int64_t)n * V;
    for (int v = 0; v < V; v++) d[v] += dloss_per_row * (pr[v] - (v == t ? 1.0f : 0.0f));
  }
}

static float mse_mean_ref(const float *pred, const float *target, int64_t N) {
  double s = 0.0;
  for (int64_t i = 0; i < N; i++) {
    float e = pred[i] - target[i];
    s += (double)(e * e);
  }
  return N ? (float)(s / (double)N) : 0.0f;
}

static void mse_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dpred, const float *pred, const float *target, float dloss,
                             int64_t N) {
  if (!dpred || N == 0) return;
  float k = dloss * 2.0f / (float)N;
  for (int64_t i = 0; i < N; i++) dpred[i] += k * (pred[i] - target[i]);
}

float bce_logits_term(float x, float y) {
  return fmaxf(x, 0.0f) - x * y + log1pf(expf(-fabsf(x)));
}

float bce_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

static float bce_logits_mean_ref(const float *logits, const float *targets,
                                    const float *weights, int64_t N) {
  double s = 0.0, ws = 0.0;
  for (int64_t i = 0; i < N; i++) {
    float w = weights ? weights[i] : 1.0f;
    s += (double)(w * bce_logits_term(logits[i], targets[i]));
    ws += (double)w;
  }
  return ws != 0.0 ? (float)(s / ws) : 0.0f; /* no weight at all: nothing to average */
}

static void bce_logits_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dlogits, const float *logits, const float *targets,
                                    const float *weights, float dloss, int64_t N) {
  if (!dlogits) return;
  double ws = 0.0;
  for (int64_t i = 0; i < N; i++) ws += weights ? (double)weights[i] : 1.0;
  if (ws == 0.0) return;
  float k = (float)(dloss / ws);
  for (int64_t i = 0; i < N; i++) {
    float w = weights ? weights[i] : 1.0f;
    dlogits[i] += k * w * (bce_sigmoid(logits[i]) - targets[i]);
  }
}

/* ---- rotary positions ------------------------------------------------------------------ */


static void crossentropy_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *loss, float *probs,
                                     const float *logits, const int32_t *targets, int ignore_index, int N,
                                     int V) {
  *loss = crossentropy_mean_ref(probs, logits, targets, ignore_index, N, V, NULL);
}

static void mse_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *loss, const float *pred, const float *target,
                            int64_t N) {
  *loss = mse_mean_ref(pred, target, N);
}

static void bce_logits_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *loss, const float *logits,
                                   const float *targets, const float *weights, int64_t N) {
  *loss = bce_logits_mean_ref(logits, targets, weights, N);
}

/* dir +1 rotates by +a (forward), -1 by -a (backward: the transpose) */
static void rope_apply_ref(float *x, const int32_t *pos, float scale, float theta, int nseg,
                           int BT, int C, int NH, int dir) {
  ORDO_CHECK(NH > 0 && C % NH == 0 && (C / NH) % 2 == 0 && nseg >= 1 && nseg <= 3);
  int hs = C / NH;
  for (int r = 0; r < BT; r++)
    for (int sg = 0; sg < nseg; sg++)
      for (int h = 0; h < NH; h++)
        for (int i = 0; i < hs / 2; i++) {
          float c, s;
          rope_cos_sin((double)pos[r] * scale, theta, i, hs, &c, &s);
          s *= (float)dir;
          float *v = x + (int64_t)r * 3 * C + (int64_t)sg * C + h * hs + 2 * i;
          float a = v[0], b = v[1];
          v[0] = a * c - b * s;
          v[1] = b * c + a * s;
        }
}

static void rope_forward_ref(ordo_ctx *ctx ORDO_UNUSED, float *qkv, const int32_t *pos, float scale, float theta, int nseg,
                             int BT, int C, int NH) {
  rope_apply_ref(qkv, pos, scale, theta, nseg, BT, C, NH, 1);
}

static void rope_backward_ref(ordo_ctx *ctx ORDO_UNUSED, float *dqkv, const int32_t *pos, float scale, float theta,
                              int nseg, int BT, int C, int NH) {
  if (dqkv) rope_apply_ref(dqkv, pos, scale, theta, nseg, BT, C, NH, -1);
}

static const ordo_ops k_ops_cpu_ref = {
    .name = "cpu-ref",
    CPU_HOST_MEMORY_OPS,
    .embed_forward = embed_forward_ref,
    .embed_backward = embed_backward_ref,
    .layernorm_forward = layernorm_forward_ref,
    .layernorm_backward = layernorm_backward_ref,
    .matmul_forward = matmul_forward_ref,
    .matmul_backward = matmul_backward_ref,
    .attention_forward = attention_forward_ref,
    .attention_backward = attention_backward_ref,
    .attention_cached_forward = attention_cached_forward_ref,
    .rope_forward = rope_forward_ref,
    .rope_backward = rope_backward_ref,
    .gelu_forward = gelu_forward_ref,
    .gelu_backward = gelu_backward_ref,
    .gelu_tanh_forward = gelu_tanh_forward_ref,
    .gelu_tanh_backward = gelu_tanh_backward_ref,
    .tanh_forward = tanh_forward_ref,
    .tanh_backward = tanh_backward_ref,
    .dropout_forward = dropout_forward_ref,
    .dropout_backward = dropout_backward_ref,
    .residual_forward = residual_forward_ref,
    .crossentropy_forward = crossentropy_forward_ref,
    .crossentropy_backward = crossentropy_backward_ref,
    .mse_forward = mse_forward_ref,
    .mse_backward = mse_backward_ref,
    .bce_logits_forward = bce_logits_forward_ref,
    .bce_logits_backward = bce_logits_backward_ref,
    .gemm = gemm_ref,
    .gather_rows = gather_rows_ref,
    .scatter_add_rows = scatter_add_rows_ref,
    .axpy = axpy_ref,
    .scale = scale_ref,
    .round_dtype = round_dtype_ref,
    .convert = convert_ref,
    .gemm_ex = gemm_ex_ref,
    .embed_forward_ex = embed_forward_ex_ref,
    .matmul_forward_ex = matmul_forward_ex_ref,
    .matmul_backward_ex = matmul_backward_ex_ref,
    .sumsq_blocks = sumsq_blocks_ref,
    .adamw_step = adamw_step_ref,
    .adamw8_step = adamw8_step_ref,
};

const ordo_ops *ops_cpu_ref(void) { return &k_ops_cpu_ref; }
