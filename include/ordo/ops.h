/* The backend op table. model/ calls every op through an ordo_ops chosen at init, so one model
 * driver serves every backend. All tensors are float32, row-major, PyTorch shape order.
 *
 * Conventions (llm.c style):
 *  - outputs first, inputs const, sizes last;
 *  - backward functions ACCUMULATE (+=) into every gradient they write, parameters and
 *    inputs alike: residual branches and gradient accumulation need no extra code, and the
 *    caller zeroes activation gradients before a backward pass;
 *  - a NULL gradient pointer means "not needed" (frozen weight, no bias, first layer);
 *  - results are bit-identical run to run for the same thread count (no float atomics,
 *    fixed reduction order).
 * Shapes: B batch, T sequence, C channels, NH heads, BT = B*T rows, V vocabulary. */
#ifndef ORDO_OPS_H
#define ORDO_OPS_H

#include <stdint.h>

typedef struct ordo_ops {
  const char *name;

  /* out[r] = wte[ids[r]] + (wpe ? wpe[pos[r]] : 0) + (wtt ? wtt[tt[r]] : 0); out (BT, C). */
  void (*embed_forward)(float *out, const int32_t *ids, const int32_t *pos, const int32_t *tt,
                        const float *wte, const float *wpe, const float *wtt, int BT, int C);
  void (*embed_backward)(float *dwte, float *dwpe, float *dwtt, const float *dout,
                         const int32_t *ids, const int32_t *pos, const int32_t *tt, int BT,
                         int C);

  /* out (N, C); mean, rstd (N) saved for backward. */
  void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, float eps, int N, int C);
  void (*layernorm_backward)(float *dinp, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean,
                             const float *rstd, int N, int C);

  /* Linear layer as HF stores it: out (N, OUT) = inp (N, IN) @ w^T + bias, w (OUT, IN),
   * bias (OUT) or NULL. */
  void (*matmul_forward)(float *out, const float *inp, const float *w, const float *bias, int N,
                         int IN, int OUT);
  void (*matmul_backward)(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int IN, int OUT);

  /* Multi-head self-attention core. qkv (B, T, 3C): q in [0, C), k in [C, 2C), v in [2C, 3C),
   * head h at columns h*C/NH .. (h+1)*C/NH of each. mask (B, T): 1 = real key, 0 = padding
   * (excluded from every softmax); causal != 0 also excludes every key after the query
   * (u > t: decoders such as GPT-2), whose probabilities are exactly 0. att (B, NH, T, T) keeps the softmax probabilities P, before
   * dropout, for backward; out (B, T, C) heads concatenated. Scores scaled by 1/sqrt(C/NH).
   * Dropout on the probabilities (BERT's attention_probs_dropout_prob): the value product
   * uses Pd = P * keep / (1 - p), where element (bh, t, u) of (B*NH, T, T), flat index
   * i = (bh*T + t)*T + u with bh = b*NH + h, is kept when philox_uniform(seed, offset + i) >= p
   * (the dropout op's rule); a call uses counters offset .. offset + B*NH*T*T - 1.
   * scratch: B*NH*T*T floats of workspace for Pd (overwritten); p == 0 gives exactly the
   * op without dropout, does not touch scratch and allows it to be NULL.
   * bias (NH, T, T) or NULL: added to the scaled scores of every sequence before the softmax
   * (position biases: ALiBi, relative buckets); NULL is exactly the op without it. */
  void (*attention_forward)(float *out, float *att, float *scratch, const float *qkv,
                            const int32_t *mask, int causal, const float *bias, float p, uint64_t seed,
                            uint64_t offset, int B, int T, int C, int NH);
  /* The same p, seed and offset as the forward (the mask is drawn again, never stored; the
   * padding and causal masks need no argument: their probabilities are exactly 0 in att):
   * dV += Pd^T dO; dP = (dO V^T) * keep / (1 - p); then the softmax backward with P.
   * scratch: B*NH*T*T floats of workspace (overwritten), needed for any p.
   * dbias (NH, T, T) or NULL: += the gradient of the softmax input, summed over the batch in
   * batch order (the bias's gradient); computed only along with dqkv (dqkv NULL: nothing). */
  void (*attention_backward)(float *dqkv, float *dbias, float *scratch, const float *dout,
                             const float *qkv, const float *att, const int32_t *mask, float p,
                             uint64_t seed, uint64_t offset, int B, int T, int C, int NH);

  /* Causal attention of Tq new query rows over Tk >= Tq keys of one sequence (a decoder's
   * key/value cache: the keys and values of the Tk - Tq earlier positions, then the new ones):
   * query i, at position Tk - Tq + i, sees keys 0 .. Tk - Tq + i. q (Tq rows, stride ldq),
   * k and v (Tk rows, stride ldkv), head h at columns h*C/NH of each; out (Tq, C) heads
   * concatenated; att (NH, Tq, Tk) scratch for the probabilities. No mask, bias or dropout:
   * inference only. With Tq == Tk it is attention_forward's causal result for one sequence. */
  void (*attention_cached_forward)(float *out, float *att, const float *q, const float *k,
                                   const float *v, int ldq, int ldkv, int Tq, int Tk, int C,
                                   int NH);

  /* Rotary position embedding (RoFormer's layout), in place on the first nseg (2: q and k;
   * 3: v too) C-wide column blocks of qkv (B, T, 3C). Within each head (size hs = C/NH) the
   * pair (x[2i], x[2i+1]) of row r turns by the angle a = pos[r] * scale * theta^(-2i/hs):
   *   x[2i]' = x[2i] cos a - x[2i+1] sin a,   x[2i+1]' = x[2i+1] cos a + x[2i] sin a,
   * with cos a and sin a computed in double and rounded to float (transformers' table).
   * scale < 1 is position interpolation (L_train / L_target). */
  void (*rope_forward)(float *qkv, const int32_t *pos, float scale, float theta, int nseg,
                       int BT, int C, int NH);
  /* The transpose (the inverse rotation), in place on dqkv: unlike the other backward ops it
   * maps the gradient of the rotated columns to that of the unrotated ones. */
  void (*rope_backward)(float *dqkv, const int32_t *pos, float scale, float theta, int nseg,
                        int BT, int C, int NH);

  /* GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)). */
  void (*gelu_forward)(float *out, const float *inp, int64_t N);
  void (*gelu_backward)(float *dinp, const float *inp, const float *dout, int64_t N);
  /* GELU, tanh approximation (GPT-2's "gelu_new"):
   * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  void (*gelu_tanh_forward)(float *out, const float *inp, int64_t N);
  void (*gelu_tanh_backward)(float *dinp, const float *inp, const float *dout, int64_t N);
  /* tanh (pooler); backward uses the forward output. */
  void (*tanh_forward)(float *out, const float *inp, int64_t N);
  void (*tanh_backward)(float *dinp, const float *out, const float *dout, int64_t N);

  /* Inverted dropout: element i is kept when philox_uniform(seed, offset + i) >= p, and kept
   * elements are scaled by 1/(1-p). The mask is regenerated in backward, never stored.
   * p == 0 copies (forward) / passes through (backward). out may alias inp. */
  void (*dropout_forward)(float *out, const float *inp, float p, uint64_t seed, uint64_t offset,
                          int64_t N);
  void (*dropout_backward)(float *dinp, const float *dout, float p, uint64_t seed,
                           uint64_t offset, int64_t N);

  /* out = a + b. */
  void (*residual_forward)(float *out, const float *a, const float *b, int64_t N);

  /* Softmax cross-entropy over V classes for N rows, rows whose target == ignore_index skipped.
   * probs (N, V) receives the softmax (used by backward). Returns the mean loss over counted
   * rows (0 when none) and their number in *count. */
  float (*crossentropy_forward)(float *probs, const float *logits, const int32_t *targets,
                                int ignore_index, int N, int V, int *count);
  /* dlogits += dloss_per_row * (probs - onehot(target)) for counted rows, where
   * dloss_per_row = d(total loss)/d(row loss), e.g. 1/count for a mean. */
  void (*crossentropy_backward)(float *dlogits, const float *probs, const int32_t *targets,
                                int ignore_index, float dloss_per_row, int N, int V);

  /* Mean squared error over N values: mean((pred - target)^2). */
  float (*mse_forward)(const float *pred, const float *target, int64_t N);
  /* dpred += dloss * 2 (pred - target) / N. */
  void (*mse_backward)(float *dpred, const float *pred, const float *target, float dloss,
                       int64_t N);

  /* Binary cross-entropy with logits, weighted mean: sum(w_i * l_i) / sum(w_i), w NULL = all 1.
   * l_i = max(x,0) - x*y + log(1 + exp(-|x|)). */
  float (*bce_logits_forward)(const float *logits, const float *targets, const float *weights,
                              int64_t N);
  /* dlogits += dloss * w_i (sigmoid(x_i) - y_i) / sum(w). */
  void (*bce_logits_backward)(float *dlogits, const float *logits, const float *targets,
                              const float *weights, float dloss, int64_t N);
} ordo_ops;

/* The plain float32 reference kernels: simple loops, the truth the fast paths are tested
 * against. */
const ordo_ops *ops_cpu_ref(void);
/* The fast CPU backend (OpenBLAS + OpenMP). */
const ordo_ops *ops_cpu(void);

#endif
