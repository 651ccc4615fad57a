/* The typed-call layer: every op keeps its fp32 kernel; buffers stored in a 16-bit dtype reach
 * it as fp32 views converted into the model's scratch (backend convert), and the op's typed
 * outputs are converted back when the call ends (tv_end): one rounding (RNE) of the fp32 result,
 * the same bits as rounding a float32 array in place there (round_dtype). A native 16-bit
 * kernel may replace a view later; the rounding points stay where tv_end is. One call site
 * holds its views from its first tv_in / tv_out to its tv_end; they never outlive it. */
#include "model_internal.h"

static float *tv_take(enc_model *m, size_t n) {
  ORDO_CHECKF(m->tv_used + n <= m->tv_cap,
              "typed scratch: %zu floats needed, %zu planned (enc_plan's bound)", m->tv_used + n,
              m->tv_cap);
  float *f = m->tv_base + m->tv_used;
  m->tv_used += (n + 15) & ~(size_t)15; /* 64-byte aligned views */
  if (m->tv_used > m->tv_peak) m->tv_peak = m->tv_used;
  return f;
}

const float *tv_in(enc_model *m, const void *p, ordo_dtype dt, size_t n) {
  if (dt == ORDO_DT_F32 || !p) return p;
  float *f = tv_take(m, n);
  m->be.ops->convert(m->be.ctx, f, ORDO_DT_F32, p, dt, (int64_t)n);
  return f;
}

float *tv_out_dt(enc_model *m, void *p, ordo_dtype dt, size_t n, int load) {
  if (m->precision == ORDO_DT_F32) return p;
  ORDO_CHECK(m->tv_nout < (int)(sizeof m->tv_out / sizeof m->tv_out[0]));
  /* a float32 array (emulated storage, the hidden state): the op writes it itself, rounded in
   * place at tv_end */
  float *f = dt == ORDO_DT_F32 ? p : tv_take(m, n);
  if (load && f != p) m->be.ops->convert(m->be.ctx, f, ORDO_DT_F32, p, dt, (int64_t)n);
  m->tv_out[m->tv_nout].dst = p;
  m->tv_out[m->tv_nout].f = f;
  m->tv_out[m->tv_nout].n = n;
  m->tv_out[m->tv_nout].dt = dt;
  m->tv_nout++;
  return f;
}

float *tv_out(enc_model *m, void *p, size_t n, int load) {
  return tv_out_dt(m, p, m->storage, n, load);
}

void tv_end(enc_model *m) {
  for (int i = 0; i < m->tv_nout; i++) {
    if (m->tv_out[i].dt == ORDO_DT_F32)
      m->be.ops->round_dtype(m->be.ctx, m->tv_out[i].dst, (int64_t)m->tv_out[i].n, m->precision);
    else
      m->be.ops->convert(m->be.ctx, m->tv_out[i].dst, m->tv_out[i].dt, m->tv_out[i].f,
                         ORDO_DT_F32, (int64_t)m->tv_out[i].n);
  }
  m->tv_nout = 0;
  m->tv_used = 0;
}

const void *tv_st(enc_model *m, const float *p, size_t n) {
  if (m->storage == ORDO_DT_F32 || !p) return p;
  void *h = tv_take(m, (n * dtype_size(m->storage) + sizeof(float) - 1) / sizeof(float));
  m->be.ops->convert(m->be.ctx, h, m->storage, p, ORDO_DT_F32, (int64_t)n);
  return h;
}

/* The one place a linear layer's product is chosen. With 16-bit storage and 16-bit operands
 * (the input; backward: the output gradient, and the input when dw is wanted) and no adapter
 * reading views: matmul_forward_ex / matmul_backward_ex on the stored arrays (CUDA: tensor-core
 * products); the op stores a 16-bit output or input gradient itself, rounded once, where tv_end
 * would have stored its view. Otherwise (float32 storage: fp32 precision and the emulation run
 * exactly the code they ran before; a float32 operand whose values are not known to be 16-bit
 * ones; an adapter) matmul_forward / matmul_backward on fp32 views. The CPU backends give the
 * same bits either way (typed_cpu.c). */
static int tmm_direct(const enc_model *m, ordo_dtype a_dt, ordo_dtype b_dt, const tmm_views *v) {
  return m->storage != ORDO_DT_F32 && a_dt == m->storage && b_dt == m->storage && !v;
}

void tmm_forward(enc_model *m, void *out, int out_st, const void *in, ordo_dtype in_dt,
                 const void *w, const void *bias, int N, int IN, int OUT, tmm_views *v) {
  const ordo_ops *op = m->be.ops;
  ordo_dtype st = m->storage;
  if (tmm_direct(m, in_dt, st, v)) {
    op->matmul_forward_ex(m->be.ctx, out, out_st ? st : ORDO_DT_F32, in, w, bias, st, N, IN, OUT);
    return;
  }
  const float *iv = tv_in(m, in, in_dt, (size_t)N * IN);
  float *ov = out_st ? tv_out(m, out, (size_t)N * OUT, 0) : out;
  op->matmul_forward(m->be.ctx, ov, iv, tv_in(m, w, st, (size_t)OUT * IN),
                     tv_in(m, bias, st, (size_t)OUT), N, IN, OUT);
  if (v) v->in = iv, v->out = ov;
}

void tmm_backward(enc_model *m, void *dinp, int dinp_st, int acc, float *dw, float *dbias,
                  const void *dout, ordo_dtype dout_dt, const void *in, ordo_dtype in_dt,
                  const void *w, int N, int IN, int OUT, tmm_views *v) {
  const ordo_ops *op = m->be.ops;
  ordo_dtype st = m->storage;
  size_t nin = (size_t)N * IN;
  if (tmm_direct(m, dout_dt, dw ? in_dt : st, v)) {
    ordo_dtype gdt = dinp_st ? st : ORDO_DT_F32;
    if (dinp && acc == ORDO_OVERWRITE) zero_buf(m, dinp, nin * dtype_size(gdt));
    op->matmul_backward_ex(m->be.ctx, dinp, gdt, dw, dbias, dout, dw ? in : NULL, w, st, N, IN,
                           OUT);
    return;
  }
  const float *iv = tv_in(m, in, in_dt, nin), *dv = tv_in(m, dout, dout_dt, (size_t)N * OUT);
  float *gv = dinp && dinp_st ? tv_out(m, dinp, nin, acc == ORDO_ACCUMULATE) : dinp;
  if (gv && acc == ORDO_OVERWRITE) zero_buf(m, gv, nin * sizeof(float));
  op->matmul_backward(m->be.ctx, gv, dw, dbias, dv, iv, tv_in(m, w, st, (size_t)OUT * IN), N, IN,
                      OUT);
  if (v) v->in = iv, v->dout = dv, v->out = gv;
}

/* The largest sum of views one call site takes (each view rounded up to 16 floats), the
 * largest of three kinds of call. A call beyond the bound stops at tv_take's check, never writes
 * past the scratch.
 *  - layers and heads: the attention core (forward: qkv, probabilities, output; backward: qkv,
 *    probabilities, d output, d qkv: at most att + BT max(4 max(C, I), 7 C)) or a linear layer
 *    on views (an adapter's site or a float32 input: input, output, 16-bit copies and
 *    gradients, BT (2 I + 2 C) within that) plus the weights one op reads: the largest weight
 *    that is not the word embeddings (BERT's q, k and v: three specs read as one) and a
 *    LayerNorm's two vectors;
 *  - a causal model's cached decoding: the word embeddings, which its float32 decoder product
 *    reads as a view;
 *  - the MLM decoder's backward: 16-bit copies of the logits' gradient and of its input rows.
 * The 16-bit products and the embedding lookup read the weight copy itself: no view of it. */
size_t tv_plan(const enc_model *m) {
  if (m->storage == ORDO_DT_F32) return 0;
  const enc_config *c = &m->cfg;
  size_t BT = (size_t)m->maxB * m->maxT, C = c->hidden_size, I = c->intermediate_size;
  size_t E = c->embedding_size, CE = C > E ? C : E, R = m->maxMLM, V = c->vocab_size;
  size_t CI = C > I ? C : I, att = (size_t)m->maxB * c->num_attention_heads * m->maxT * m->maxT;
  size_t wte = 0, w = 3 * C * C + 3 * C; /* BERT's q, k, v read as one */
  for (int i = 0; i < m->params.n; i++) {
    size_t n = (size_t)m->params.specs[i].numel;
    if (i == m->emb.wte) wte = n;
    else if (n > w) w = n;
  }
  size_t acts = 4 * CI > 7 * C ? 4 * CI : 7 * C;
  size_t layer = att + BT * acts + w + 2 * CE + 16 * 8;
  size_t decode = enc_is_causal(c) ? wte + BT * C + 16 * 2 : 0;
  size_t dec = (m->heads & ENC_HEAD_MLM) ? (R * V + R * E) / 2 + 16 * 2 : 0;
  size_t most = layer > decode ? layer : decode;
  return most > dec ? most : dec;
}
