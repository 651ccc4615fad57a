/* Fixed position tables: the sinusoidal embedding and RoFormer's stored rotary table. Both are
 * computed in double and rounded to float, as transformers builds them (numpy float64). */
#include <math.h>

#include "model_internal.h"

void enc_sinusoidal_table(float *out, int P, int D) {
  ORDO_CHECK(D % 2 == 0);
  for (int p = 0; p < P; p++)
    for (int i = 0; i < D / 2; i++) {
      double a = p / pow(10000.0, 2.0 * i / D);
      out[(size_t)p * D + 2 * i] = (float)sin(a);
      out[(size_t)p * D + 2 * i + 1] = (float)cos(a);
    }
}

void enc_rope_table(float *out, int P, int hs) {
  ORDO_CHECK(hs % 2 == 0);
  for (int p = 0; p < P; p++)
    for (int i = 0; i < hs / 2; i++) {
      double a = p / pow(10000.0, 2.0 * i / hs);
      out[(size_t)p * hs + i] = (float)sin(a);
      out[(size_t)p * hs + hs / 2 + i] = (float)cos(a);
    }
}

float enc_alibi_slope(int h, int NH) { return (float)exp2(-8.0 * (h + 1) / NH); }

int enc_relative_bucket(int rel, int nb, int max_distance) {
  /* T5's bidirectional buckets: half for keys after the query, half for keys before; in each
   * half, offsets below max_exact get a bucket each, longer ones share log-spaced buckets up
   * to max_distance (and the last bucket beyond) */
  int half = nb / 2, max_exact = half / 2;
  int ret = rel > 0 ? half : 0, n = rel < 0 ? -rel : rel;
  if (n < max_exact) return ret + n;
  float f = logf((float)n / (float)max_exact) / (float)log((double)max_distance / max_exact) *
            (float)(half - max_exact);
  int large = max_exact + (int)f;
  return ret + (large < half - 1 ? large : half - 1);
}

void enc_position_bias(const enc_model *m, int T, float *bias) {
  const enc_config *c = &m->cfg;
  int NH = c->num_attention_heads;
  float *W = NULL; /* the relative table (buckets, NH), read from the working weights */
  if (c->position == ENC_POS_RELATIVE) {
    size_t n = (size_t)c->relative_buckets * NH;
    W = ordo_malloc(n * sizeof(float));
    enc_read(m, W, params_wd(&m->params, m->emb.rel_bias), n * sizeof(float));
  }
  for (int h = 0; h < NH; h++) {
    float slope = enc_alibi_slope(h, NH);
    for (int i = 0; i < T; i++)
      for (int j = 0; j < T; j++) {
        float *o = bias + ((size_t)h * T + i) * T + j;
        if (c->position == ENC_POS_ALIBI)
          *o = -slope * (float)(i > j ? i - j : j - i);
        else
          *o = W[(size_t)enc_relative_bucket(j - i, c->relative_buckets, c->relative_max_distance) * NH + h];
      }
  }
  free(W);
}

void enc_position_bias_backward(enc_model *m, int T, const float *dbias) {
  const enc_config *c = &m->cfg;
  if (c->position != ENC_POS_RELATIVE || (m->params.specs[m->emb.rel_bias].flags & ORDO_PF_FROZEN))
    return;
  int NH = c->num_attention_heads;
  /* the table's gradient is small: accumulated on the host in the working gradient's order */
  size_t n = (size_t)c->relative_buckets * NH;
  float *gd = params_gd(&m->params, m->emb.rel_bias), *dW = ordo_malloc(n * sizeof(float));
  enc_read(m, dW, gd, n * sizeof(float));
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < T; i++)
      for (int j = 0; j < T; j++)
        dW[(size_t)enc_relative_bucket(j - i, c->relative_buckets, c->relative_max_distance) * NH + h] +=
            dbias[((size_t)h * T + i) * T + j];
  enc_write(m, gd, dW, n * sizeof(float));
  free(dW);
}
