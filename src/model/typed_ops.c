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

/* The largest sum of views one call site takes: the attention core (forward: qkv, probabilities,
 * output; backward: qkv, probabilities, d output, d qkv: at most
 * att + BT max(4 max(C, I), 7 C)) or a linear layer (input, output, BT (I + C) within that) plus
 * the weights one op reads (the three largest tensors bound the embeddings' three tables and a
 * matrix with its bias; BERT's fused q, k, v spans three tensors); each view rounded up to 16
 * floats. A call beyond the bound stops at tv_take's check, never writes past the scratch. */
size_t tv_plan(const enc_model *m) {
  if (m->storage == ORDO_DT_F32) return 0;
  const enc_config *c = &m->cfg;
  size_t BT = (size_t)m->maxB * m->maxT, C = c->hidden_size, I = c->intermediate_size;
  size_t CI = C > I ? C : I, att = (size_t)m->maxB * c->num_attention_heads * m->maxT * m->maxT;
  size_t top[3] = {0, 0, 0};
  for (int i = 0; i < m->params.n; i++) {
    size_t n = (size_t)m->params.specs[i].numel;
    for (int k = 0; k < 3; k++)
      if (n > top[k]) {
        size_t t = top[k];
        top[k] = n;
        n = t;
      }
  }
  size_t w = top[0] + top[1] + top[2], qkv = 3 * C * C + 3 * C; /* BERT's q, k, v read as one */
  size_t acts = 4 * CI > 7 * C ? 4 * CI : 7 * C;
  return att + BT * acts + (w > qkv ? w : qkv) + 16 * 8;
}
