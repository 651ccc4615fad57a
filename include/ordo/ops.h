/* The backend: one op table per backend that owns memory as well as compute, and the context
 * its ops run in. model/, train/ and task/ call every op through the ordo_backend chosen once
 * (ordo_backend_open from --device), so one model driver serves every backend.
 *
 * Memory: every tensor an op reads or writes lives in the backend's memory (alloc/free); the
 * host reaches it only through upload/download (CPU backends: host memory, where both are
 * copies). Pointers into backend memory are ordinary pointers: float *, int32_t * ..., and
 * pointer arithmetic on them is fine; only dereferencing on the host is not (CUDA: device
 * pointers). Tensors are float32 unless an op says otherwise; row-major, PyTorch shape order.
 * The context (CUDA: stream, cuBLASLt handle, workspace) is the first argument of every op;
 * there are no globals. Ops run in order on the context; download waits for them.
 *
 * Conventions (llm.c style):
 *  - outputs first, inputs const, sizes last;
 *  - backward functions ACCUMULATE (+=) into every gradient they write, parameters and
 *    inputs alike: residual branches and gradient accumulation need no extra code, and the
 *    caller zeroes activation gradients before a backward pass. Where an op is often the
 *    first writer of its input's gradient (layernorm_backward, attention_backward, the
 *    activations' backward: gelu, gelu_tanh, tanh, and crossentropy_backward) it takes `acc`
 *    after dinp: ORDO_ACCUMULATE adds as above, ORDO_OVERWRITE stores the gradient without
 *    reading dinp's earlier contents (no zero-fill pass before it; the same bits as
 *    accumulating onto zeros);
 *  - a NULL gradient pointer means "not needed" (frozen weight, no bias, first layer);
 *  - results are bit-identical run to run for the same thread count (no float atomics,
 *    fixed reduction order).
 * Shapes: B batch, T sequence, C channels, NH heads, BT = B*T rows, V vocabulary. */
#ifndef ORDO_OPS_H
#define ORDO_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "ordo/dtype.h"

/* The `acc` argument of the backward ops that take one (see the conventions above). */
enum { ORDO_OVERWRITE = 0, ORDO_ACCUMULATE = 1 };

typedef struct ordo_ctx ordo_ctx; /* a backend's own context, opaque to its callers */
/* For op implementations that have no use for the context (the CPU backends). */
#define ORDO_UNUSED __attribute__((unused))

/* AdamW hyperparameters of one step over one span (torch.optim.AdamW's formula and order:
 * w *= wd_mul; m += (1 - b1)(g - m); v = v b2 + (1 - b2) g g;
 * w -= step_size * (m / (sqrt(v) / bc2_sqrt + eps))). The host computes the scalars in double
 * as torch does in Python and passes them as float. */
typedef struct ordo_adamw_hp {
  float b1, b2, eps, bc2_sqrt, step_size, wd_mul;
} ordo_adamw_hp;

/* sumsq_blocks' running sums per block: independent chains, so that the sum is not one long
 * chain of dependent additions (a sixth of the time measured with 32) */
#define ORDO_SUMSQ_LANES 32

typedef struct ordo_ops {
  const char *name;
  int host_memory; /* 1: alloc returns host memory (the CPU backends) */

  /* ---- memory ------------------------------------------------------------------------------
   * alloc: bytes of backend memory, zero-filled, aligned to 64 bytes; NULL only for bytes 0.
   * Aborts with a message when the memory is not there. free(NULL) does nothing. */
  void *(*alloc)(ordo_ctx *ctx, size_t bytes);
  void (*free)(ordo_ctx *ctx, void *p);
  /* Host to backend and back, synchronous: when they return, src may be reused (upload) and
   * dst holds every earlier op's result (download). */
  void (*upload)(ordo_ctx *ctx, void *dst, const void *host_src, size_t bytes);
  void (*download)(ordo_ctx *ctx, void *host_dst, const void *src, size_t bytes);
  /* Backend to backend, in op order; the ranges may not overlap. */
  void (*copy)(ordo_ctx *ctx, void *dst, const void *src, size_t bytes);
  void (*zero)(ordo_ctx *ctx, void *dst, size_t bytes);
  /* x[i] = v for i < N. */
  void (*fill)(ordo_ctx *ctx, float *x, float v, int64_t N);
  /* Waits until every op issued so far has finished. */
  void (*sync)(ordo_ctx *ctx);
  /* Bytes of device memory in use now beyond what was in use when the backend opened (its
   * allocations, workspaces and the libraries' own; CUDA: cudaMemGetInfo, so another process
   * on the same device counts too), or NULL where the memory is the host's (the CPU backends). */
  size_t (*mem_in_use)(ordo_ctx *ctx);

  /* out[r] = wte[ids[r]] + (wpe ? wpe[pos[r]] : 0) + (wtt ? wtt[tt[r]] : 0); out (BT, C). */
  void (*embed_forward)(ordo_ctx *ctx, float *out, const int32_t *ids, const int32_t *pos, const int32_t *tt,
                        const float *wte, const float *wpe, const float *wtt, int BT, int C);
  /* embed_forward on tables of dtype dt (F32, BF16 or F16; out float32): the same sums of the
   * same (exactly converted) values, so the bits of embed_forward on the rounded tables held as
   * float arrays; the tables are read where they are, without a float32 copy of them. */
  void (*embed_forward_ex)(ordo_ctx *ctx, float *out, const int32_t *ids, const int32_t *pos,
                           const int32_t *tt, const void *wte, const void *wpe, const void *wtt,
                           ordo_dtype dt, int BT, int C);
  void (*embed_backward)(ordo_ctx *ctx, float *dwte, float *dwpe, float *dwtt, const float *dout,
                         const int32_t *ids, const int32_t *pos, const int32_t *tt, int BT,
                         int C);

  /* out (N, C); mean, rstd (N) saved for backward. */
  void (*layernorm_forward)(ordo_ctx *ctx, float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, float eps, int N, int C);
  void (*layernorm_backward)(ordo_ctx *ctx, float *dinp, int acc, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean,
                             const float *rstd, int N, int C);

  /* Linear layer as HF stores it: out (N, OUT) = inp (N, IN) @ w^T + bias, w (OUT, IN),
   * bias (OUT) or NULL. */
  void (*matmul_forward)(ordo_ctx *ctx, float *out, const float *inp, const float *w, const float *bias, int N,
                         int IN, int OUT);
  void (*matmul_backward)(ordo_ctx *ctx, float *dinp, float *dw, float *dbias, const float *dout,
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
  void (*attention_forward)(ordo_ctx *ctx, float *out, float *att, float *scratch, const float *qkv,
                            const int32_t *mask, int causal, const float *bias, float p, uint64_t seed,
                            uint64_t offset, int B, int T, int C, int NH);
  /* The same p, seed and offset as the forward (the mask is drawn again, never stored; the
   * padding and causal masks need no argument: their probabilities are exactly 0 in att):
   * dV += Pd^T dO; dP = (dO V^T) * keep / (1 - p); then the softmax backward with P.
   * scratch: B*NH*T*T floats of workspace (overwritten), needed for any p.
   * dbias (NH, T, T) or NULL: += the gradient of the softmax input, summed over the batch in
   * batch order (the bias's gradient); computed only along with dqkv (dqkv NULL: nothing). */
  void (*attention_backward)(ordo_ctx *ctx, float *dqkv, int acc, float *dbias, float *scratch, const float *dout,
                             const float *qkv, const float *att, const int32_t *mask, float p,
                             uint64_t seed, uint64_t offset, int B, int T, int C, int NH);

  /* attention_forward at some query rows only (optional: NULL where a backend has none; the
   * model then runs attention_forward on every row). rows (n): indices b*T + t into the batch,
   * strictly increasing; q (n rows, stride ldq) their queries; k, v (B*T rows, stride ldkv) every
   * position's keys and values; out (n, C); att (NH, n, T) the probabilities before dropout. Row
   * j is attention_forward's row t of pair b*NH + h, bit for bit where the products are: the
   * same scores, padding mask, softmax and dropout counters (offset + ((b*NH + h)*T + t)*T + u).
   * Not causal, no bias. scratch: NH*n*T floats (p > 0; may be NULL at p == 0). */
  void (*attention_rows_forward)(ordo_ctx *ctx, float *out, float *att, float *scratch,
                                 const float *q, int ldq, const float *k, const float *v, int ldkv,
                                 const int32_t *rows, int n, const int32_t *mask, float p,
                                 uint64_t seed, uint64_t offset, int B, int T, int C, int NH);
  /* Its backward from dout (n, C): dq (n rows, stride ldq), dk and dv (B*T rows, stride ldkv)
   * overwritten, those of a sequence with no row among rows with zeros: attention_backward's
   * d qkv for a d out that is zero outside the rows. The same p, seed and offset as the forward;
   * scratch: NH*n*T floats. */
  void (*attention_rows_backward)(ordo_ctx *ctx, float *dq, float *dk, float *dv, float *scratch,
                                  const float *dout, const float *q, int ldq, const float *k,
                                  const float *v, int ldkv, const float *att, const int32_t *rows,
                                  int n, float p, uint64_t seed, uint64_t offset, int B, int T,
                                  int C, int NH);

  /* Causal attention of Tq new query rows over Tk >= Tq keys of one sequence (a decoder's
   * key/value cache: the keys and values of the Tk - Tq earlier positions, then the new ones):
   * query i, at position Tk - Tq + i, sees keys 0 .. Tk - Tq + i. q (Tq rows, stride ldq),
   * k and v (Tk rows, stride ldkv), head h at columns h*C/NH of each; out (Tq, C) heads
   * concatenated; att (NH, Tq, Tk) scratch for the probabilities. No mask, bias or dropout:
   * inference only. With Tq == Tk it is attention_forward's causal result for one sequence. */
  void (*attention_cached_forward)(ordo_ctx *ctx, float *out, float *att, const float *q, const float *k,
                                   const float *v, int ldq, int ldkv, int Tq, int Tk, int C,
                                   int NH);

  /* Rotary position embedding (RoFormer's layout), in place on the first nseg (2: q and k;
   * 3: v too) C-wide column blocks of qkv (B, T, 3C). Within each head (size hs = C/NH) the
   * pair (x[2i], x[2i+1]) of row r turns by the angle a = pos[r] * scale * theta^(-2i/hs):
   *   x[2i]' = x[2i] cos a - x[2i+1] sin a,   x[2i+1]' = x[2i+1] cos a + x[2i] sin a,
   * with cos a and sin a computed in double and rounded to float (transformers' table).
   * scale < 1 is position interpolation (L_train / L_target). */
  void (*rope_forward)(ordo_ctx *ctx, float *qkv, const int32_t *pos, float scale, float theta, int nseg,
                       int BT, int C, int NH);
  /* The transpose (the inverse rotation), in place on dqkv: unlike the other backward ops it
   * maps the gradient of the rotated columns to that of the unrotated ones. */
  void (*rope_backward)(ordo_ctx *ctx, float *dqkv, const int32_t *pos, float scale, float theta, int nseg,
                        int BT, int C, int NH);

  /* GELU, exact erf form: 0.5 x (1 + erf(x / sqrt 2)). */
  void (*gelu_forward)(ordo_ctx *ctx, float *out, const float *inp, int64_t N);
  void (*gelu_backward)(ordo_ctx *ctx, float *dinp, int acc, const float *inp, const float *dout, int64_t N);
  /* GELU, tanh approximation (GPT-2's "gelu_new"):
   * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  void (*gelu_tanh_forward)(ordo_ctx *ctx, float *out, const float *inp, int64_t N);
  void (*gelu_tanh_backward)(ordo_ctx *ctx, float *dinp, int acc, const float *inp, const float *dout, int64_t N);
  /* tanh (pooler); backward uses the forward output. */
  void (*tanh_forward)(ordo_ctx *ctx, float *out, const float *inp, int64_t N);
  void (*tanh_backward)(ordo_ctx *ctx, float *dinp, int acc, const float *out, const float *dout, int64_t N);

  /* Inverted dropout: element i is kept when philox_uniform(seed, offset + i) >= p, and kept
   * elements are scaled by 1/(1-p). The mask is regenerated in backward, never stored.
   * p == 0 copies (forward) / passes through (backward). out may alias inp. */
  void (*dropout_forward)(ordo_ctx *ctx, float *out, const float *inp, float p, uint64_t seed, uint64_t offset,
                          int64_t N);
  void (*dropout_backward)(ordo_ctx *ctx, float *dinp, const float *dout, float p, uint64_t seed,
                           uint64_t offset, int64_t N);

  /* out = a + b. */
  void (*residual_forward)(ordo_ctx *ctx, float *out, const float *a, const float *b, int64_t N);

  /* Softmax cross-entropy over V classes for N rows, rows whose target == ignore_index skipped.
   * probs (N, V) receives the softmax (used by backward). *loss (one float in the backend's
   * memory) receives the mean loss over the counted rows (0 when none); the caller knows their
   * number from its host copy of the targets. */
  void (*crossentropy_forward)(ordo_ctx *ctx, float *loss, float *probs, const float *logits,
                               const int32_t *targets, int ignore_index, int N, int V);
  /* dlogits += dloss_per_row * (probs - onehot(target)) for counted rows, where
   * dloss_per_row = d(total loss)/d(row loss), e.g. 1/count for a mean; ignored rows get nothing
   * (with acc = ORDO_OVERWRITE: zeros). */
  void (*crossentropy_backward)(ordo_ctx *ctx, float *dlogits, int acc, const float *probs, const int32_t *targets,
                                int ignore_index, float dloss_per_row, int N, int V);

  /* Mean squared error over N values into *loss (backend memory): mean((pred - target)^2). */
  void (*mse_forward)(ordo_ctx *ctx, float *loss, const float *pred, const float *target,
                      int64_t N);
  /* dpred += dloss * 2 (pred - target) / N. */
  void (*mse_backward)(ordo_ctx *ctx, float *dpred, const float *pred, const float *target, float dloss,
                       int64_t N);

  /* Binary cross-entropy with logits into *loss (backend memory), weighted mean:
   * sum(w_i * l_i) / sum(w_i), w NULL = all 1.
   * l_i = max(x,0) - x*y + log(1 + exp(-|x|)). */
  void (*bce_logits_forward)(ordo_ctx *ctx, float *loss, const float *logits,
                             const float *targets, const float *weights, int64_t N);
  /* dlogits += dloss * w_i (sigmoid(x_i) - y_i) / sum(w). */
  void (*bce_logits_backward)(ordo_ctx *ctx, float *dlogits, const float *logits, const float *targets,
                              const float *weights, float dloss, int64_t N);
  /* ---- general products and row moves ------------------------------------------------------
   * C (M, N) = alpha * op(A) op(B) + beta * C, row-major with leading dimensions (elements
   * between rows): op(A) is (M, K): A stored (M, lda >= K), or (K, lda >= M) when ta; op(B) is
   * (K, N): B stored (K, ldb >= N), or (N, ldb >= K) when tb; C (M, ldc >= N). beta == 0 never
   * reads C (NaN there does not propagate). Sums run over k in order per element in the
   * reference; fp32 accumulation everywhere (no TF32). */
  void (*gemm)(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);
  /* out (n, C): out[r] = src[rows[r]] (src rows C wide); rows in backend memory. */
  void (*gather_rows)(ordo_ctx *ctx, float *out, const float *src, const int32_t *rows, int n,
                      int C);
  /* dst[rows[r]] += src[r] for r < n (rows C wide). The rows must be distinct. */
  void (*scatter_add_rows)(ordo_ctx *ctx, float *dst, const float *src, const int32_t *rows,
                           int n, int C);
  /* y += a * x. */
  void (*axpy)(ordo_ctx *ctx, float *y, float a, const float *x, int64_t N);
  /* x *= s. */
  void (*scale)(ordo_ctx *ctx, float *x, float s, int64_t N);
  /* Rounds x in place to the nearest value of dt (F16, BF16; F32: nothing), round-to-nearest-
   * even, fp16 overflowing to inf: the mixed-precision storage rounding. */
  void (*round_dtype)(ordo_ctx *ctx, float *x, int64_t N, ordo_dtype dt);

  /* ---- storage dtypes (F32, BF16, F16: real 16-bit arrays, 2 bytes an element) -------------
   * dst[i] = src[i] for i < N, converted from src_dt to dst_dt: F32 to BF16/F16 rounds to
   * nearest even exactly as round_dtype (fp16 overflowing to inf, NaN kept), BF16/F16 to F32 is
   * exact, the same dtype copies. The ranges may not overlap. */
  void (*convert)(ordo_ctx *ctx, void *dst, ordo_dtype dst_dt, const void *src,
                  ordo_dtype src_dt, int64_t N);
  /* gemm on storage dtypes: A and B both ab_dt (F32, BF16 or F16), C c_dt (F32 or ab_dt); leading
   * dimensions in elements; the products and sums in fp32 and C = alpha op(A) op(B) + beta C
   * formed in fp32, then stored to c_dt (round-to-nearest-even). beta == 0 never reads C. CPU:
   * the operands converted to fp32, then gemm: the same bits as gemm on the rounded values.
   * CUDA: cuBLASLt on the 16-bit operands with CUBLAS_COMPUTE_32F (tensor cores). */
  void (*gemm_ex)(ordo_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha, const void *A,
                  int lda, const void *B, int ldb, ordo_dtype ab_dt, float beta, void *C, int ldc,
                  ordo_dtype c_dt);
  /* The linear layer on storage dtypes: matmul_forward / matmul_backward with inp, w, bias and
   * dout of dtype dt (F32, BF16 or F16), out of dtype out_dt and dinp of dtype dinp_dt (each F32
   * or dt); dw and dbias float32. Products and sums in fp32; a 16-bit out is stored once, rounded
   * to nearest even, when out = inp w^T + bias is complete; a 16-bit dinp is read, accumulated
   * onto in fp32 and stored once the same way; dw and dbias accumulate (+=) as matmul_backward's.
   * inp may be NULL when dw is, w when dinp is. CPU: the operands converted to fp32 around the
   * backend's own matmul_forward / matmul_backward: the same bits as those ops on the rounded
   * values held as float arrays (a separate op rather than gemm_ex for that reason: the plain
   * reference starts each output's sum at its bias and accumulates dw and dbias in place, row
   * by row, which gemm's C = alpha AB + beta C cannot give). CUDA: cuBLASLt on the 16-bit
   * operands (gemm_ex: tensor cores, fp32 accumulation), the bias broadcast into out first
   * (exact: it is a value of dt) and the product added onto it in fp32 before out's one
   * rounding, as cuBLASLt's bias epilogue adds it. */
  void (*matmul_forward_ex)(ordo_ctx *ctx, void *out, ordo_dtype out_dt, const void *inp,
                            const void *w, const void *bias, ordo_dtype dt, int N, int IN, int OUT);
  void (*matmul_backward_ex)(ordo_ctx *ctx, void *dinp, ordo_dtype dinp_dt, float *dw,
                             float *dbias, const void *dout, const void *inp, const void *w,
                             ordo_dtype dt, int N, int IN, int OUT);
  /* Optional (NULL where a backend has no such mode: the CPU backends). on != 0: the products
   * of fp32 operands (matmul, gemm, attention) may round their operands to TF32 (11 significant
   * bits, fp32's exponent range) on tensor cores, accumulating in fp32; on == 0, the state of a
   * new context: full fp32 products. TF32 holds every bf16 (8 significant bits) and fp16 (11)
   * value exactly, so products of operands that hold 16-bit values are exact either way and only
   * the summation order can differ. The mixed-precision driver turns it on for the passes of a
   * bf16/fp16 model, whose product operands hold 16-bit values, and off after them; the
   * exceptions there (LoRA's fp32 adapter weights and their products, attention's
   * dropout-scaled probabilities and softmax gradient) TF32 rounds to 11 bits, still finer than
   * the 16-bit storage of everything around them. */
  void (*set_products_tf32)(ordo_ctx *ctx, int on);

  /* ---- optimizer and gradient reductions ---------------------------------------------------
   * parts[b] = sum over the elements of block b (x[b*block .. min(N, (b+1)*block) - 1]) of x^2,
   * in double (the global norm's and ZeRO's parts), in one order on every backend:
   * ORDO_SUMSQ_LANES running sums, the block's element i added to sum i mod ORDO_SUMSQ_LANES by
   * a fused multiply-add, in element order; then the sums added in lane order (0 + s0 + s1 ...).
   * parts in backend memory, ceil(N / block) of them. */
  void (*sumsq_blocks)(ordo_ctx *ctx, double *parts, const float *x, int64_t N, int block);
  /* One AdamW step over N elements with 32-bit moments m, v (all in backend memory). */
  void (*adamw_step)(ordo_ctx *ctx, float *w, const float *g, float *m, float *v, int64_t N,
                     ordo_adamw_hp hp);
  /* One AdamW step with 8-bit moments: per block of `block` elements (the last may be short),
   * m = map_m[qm] * sm[block], v = map_v[qv] * sv[block]; the element update of adamw_step;
   * then each block requantized: its absmax (largest |x| bit pattern) into sm/sv and each value's
   * code the count of mid[] entries below x * (1 / absmax), the reciprocal rounded to float first
   * (absmax 0: x taken as 0), as q8_quantize_block computes it. map_m/map_v (256 values) and mid_m/mid_v (255 midpoints) in backend
   * memory. */
  void (*adamw8_step)(ordo_ctx *ctx, float *w, const float *g, uint8_t *qm, uint8_t *qv,
                      float *sm, float *sv, const float *map_m, const float *mid_m,
                      const float *map_v, const float *mid_v, int64_t N, int block,
                      ordo_adamw_hp hp);
} ordo_ops;

/* A backend as the rest of the program holds it: its table and its context. */
typedef struct ordo_backend {
  const ordo_ops *ops;
  ordo_ctx *ctx;
  int device; /* the CUDA device's index; 0 on the CPU */
} ordo_backend;

/* The plain float32 reference kernels: simple loops, the truth the fast paths are tested
 * against. Host memory; no context (ctx NULL). */
const ordo_ops *ops_cpu_ref(void);
/* The fast CPU backend (OpenMP; its products on AVX-512 where the CPU has it, else OpenBLAS).
 * Host memory; no context (ctx NULL). */
const ordo_ops *ops_cpu(void);
/* What the fast CPU backend multiplies matrices with on this machine: "AVX-512" (ordo's own
 * products: the same bits for any thread count) or "OpenBLAS" (no AVX-512, or ORDO_SGEMM=openblas
 * in the environment). */
const char *ops_cpu_products(void);
/* The CPU backends as ordo_backend values. */
ordo_backend backend_cpu(void);
ordo_backend backend_cpu_ref(void);

/* The one place a backend is chosen: "cpu", "cpu-ref", "cuda" or "cuda:N". "cuda" is the device
 * of this process's local rank (ordo_local_rank) modulo the device count: device 0 for one
 * process, one device per rank under mpirun; "cuda:N" is device N. Returns -1 with a message
 * when the name is unknown, the build has no CUDA, or no such device is present. */
struct ordo_err;
int ordo_backend_open(ordo_backend *be, const char *device, struct ordo_err *e);
/* The rank of this process among those of a launcher (mpirun, srun) on its own machine, from the
 * launcher's environment (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID); 0 when
 * not launched by one. */
int ordo_local_rank(void);
/* The device "cuda" takes: local_rank modulo count (count > 0). */
int ordo_cuda_device_of(int local_rank, int count);
/* Frees the context (nothing for the CPU backends). */
void ordo_backend_close(ordo_backend *be);
/* 1 when this build has the CUDA backend and a CUDA device is present. */
int ordo_cuda_available(void);

/* Helpers over the table (src/core/backend.c): typed allocation and host transfers. */
float *be_alloc_f32(const ordo_backend *be, size_t n);
void be_free(const ordo_backend *be, void *p);
void be_upload(const ordo_backend *be, void *dst, const void *src, size_t bytes);
void be_download(const ordo_backend *be, void *dst, const void *src, size_t bytes);
/* A backend float scalar read on the host (waits for the ops before it). */
float be_read_f32(const ordo_backend *be, const float *x);

#endif
