/* Optimizers over the parameter table. State buffers share the table's layout (offsets), so a
 * spec's moments sit at the same offset as its weights. Frozen specs get no update.
 * Backends: an optimizer reads the gradients and writes the weights of the table's working copy
 * (params_gd / params_wd), and keeps its state in the memory of the table's backend (p->be when
 * the table is attached at init, else the host); its steps and the gradient reductions below
 * are backend ops (adamw_step, adamw8_step, sumsq_blocks, scale). */
#ifndef ORDO_OPTIM_H
#define ORDO_OPTIM_H

#include <stdint.h>

#include "ordo/core.h"
#include "ordo/params.h"

typedef struct adamw_config {
  float lr;           /* base learning rate (a schedule passes the current one to step) */
  float beta1, beta2, eps;
  float weight_decay; /* decoupled: p -= lr * wd * p */
  int decay_all;      /* 1: decay every parameter; 0 (default recipe): skip ORDO_PF_NO_DECAY */
} adamw_config;

typedef struct opt_adamw {
  adamw_config cfg;
  ordo_backend be; /* whose memory holds m and v */
  float *m, *v; /* first and second moments, params->total floats each (backend memory) */
  size_t n;
  int64_t t;    /* steps taken */
} opt_adamw;

/* torch.optim.AdamW defaults: lr 1e-3, betas 0.9/0.999, eps 1e-8, weight_decay 0.01. */
adamw_config adamw_defaults(void);
void opt_adamw_init(opt_adamw *o, const ordo_params *p, const adamw_config *cfg);
void opt_adamw_free(opt_adamw *o);
/* One step with learning rate lr, from the working copy's gradients, as torch.optim.AdamW
 * computes it (the backend's adamw_step over each trainable spec). */
void opt_adamw_step(opt_adamw *o, ordo_params *p, float lr);
/* The state in host memory (checkpoints): h is o with m and v host copies (o's own arrays on a
 * host-memory backend); opt_adamw_from_host ends the copy, uploading it (and h's step count)
 * first when `upload` (after the host wrote it: a checkpoint load). */
void opt_adamw_to_host(const opt_adamw *o, opt_adamw *h);
void opt_adamw_from_host(opt_adamw *o, opt_adamw *h, int upload);

/* Global L2 norm of the gradients of trainable parameters: the squares summed in double per
 * block of Q8_BLOCK elements of each spec (the backend's sumsq_blocks), the blocks' sums
 * downloaded and added on the host in table order (so a ZeRO rank can sum its own blocks, and
 * the sum of every rank's parts in order has the same bits). */
double grad_global_norm(const ordo_params *p);
/* The blocks' squared sums (as above) of the table's elements [lo, hi) (on block boundaries)
 * into parts, in the backend memory of the table (NULL: only counted); returns how many. */
int64_t grad_norm_parts(const ordo_params *p, size_t lo, size_t hi, double *parts);
/* Scales all gradients (the working copy's) by s. */
void grad_scale(ordo_params *p, float s);

/* ---- parameter groups (src/train/param_groups.c) --------------------------------------------
 * A group is what torch calls a param_group: its own learning-rate multiplier and weight decay.
 * Each spec's `group` field indexes the table. The rate a group uses at a step is
 * lr(step) * lr_mul, computed in double like torch's per-group rate, then rounded once. */
#define OPT_GROUP_NAME_MAX 32

typedef struct opt_group {
  char name[OPT_GROUP_NAME_MAX]; /* "emb", "layer.3", "head", "layer.3.no_decay" ... (for logs) */
  double lr_mul;
  float weight_decay;
} opt_group;

typedef struct opt_groups {
  opt_group *g;
  int n, cap;
} opt_groups;

typedef struct param_groups_config {
  float weight_decay; /* for specs without ORDO_PF_NO_DECAY */
  int decay_all;      /* 1: decay ORDO_PF_NO_DECAY specs too */
  /* Layer-wise rate decay: 1 = off. Depth counts from the top: heads 0, encoder layer i of L
   * (HF name "...encoder.layer.<i>.") L - i, embeddings (and anything below the first layer)
   * L + 1; a spec's multiplier is layer_decay^depth. */
  double layer_decay;
  double head_lr_mul; /* extra multiplier for heads (specs outside embeddings/encoder layers) */
  int n_layers;       /* encoder layers; 0 = one more than the largest index in the names */
} param_groups_config;

/* weight_decay 0.01, decay_all 0, layer_decay 1, head_lr_mul 1, n_layers 0. */
param_groups_config param_groups_defaults(void);
void opt_groups_init(opt_groups *gs);
void opt_groups_free(opt_groups *gs);
/* Adds a group and returns its index. */
int opt_groups_add(opt_groups *gs, const char *name, double lr_mul, float weight_decay);
/* Builds groups from the spec names and flags and writes every spec's `group`. Frozen specs
 * get a group too (never used). Returns the number of groups. */
int param_groups_build(opt_groups *gs, ordo_params *p, const param_groups_config *c);
/* Moves every spec whose name contains `pattern` into a new group (lr_mul, weight_decay);
 * returns the number of specs moved. */
int param_groups_override(opt_groups *gs, ordo_params *p, const char *pattern, double lr_mul,
                          float weight_decay);
/* Encoder layer index parsed from "...encoder.layer.<i>....", -1 when the name has none. */
int param_layer_index(const char *name);
/* One log line per group: name, multiplier, decay, spec and element counts. */
void param_groups_log(const opt_groups *gs, const ordo_params *p);

/* ---- block-wise 8-bit quantization (Dettmers et al. 2021) -----------------------------------
 * Values are stored as uint8 indices into a sorted 256-entry map of numbers in [-1, 1] (signed)
 * or [0, 1] (unsigned), per block of Q8_BLOCK values scaled by the block's absolute maximum. */
#define Q8_BLOCK 2048

typedef struct q8_map {
  float v[256];   /* sorted ascending */
  float mid[255]; /* mid[i] = (v[i] + v[i+1]) / 2: a value nearest to code i lies below mid[i] */
} q8_map;

/* Dynamic tree quantization maps: signed (first moment) and unsigned (second moment). */
void q8_map_dynamic(q8_map *m, int is_signed);
/* Nearest code of x (already divided by the block's absmax). */
uint8_t q8_code(const q8_map *m, float x);
/* Quantizes n values in blocks of Q8_BLOCK: codes (n), absmax (ceil(n / Q8_BLOCK)). */
void q8_quantize(const q8_map *m, const float *x, int64_t n, uint8_t *codes, float *absmax);
void q8_dequantize(const q8_map *m, const uint8_t *codes, const float *absmax, int64_t n,
                   float *x);

/* ---- AdamW with 8-bit or 32-bit state and parameter groups (src/train/adamw8.c) -------------
 * Same formula and order as opt_adamw_step, with each spec's rate and decay from its group.
 * A spec keeps 32-bit moments when it is smaller than min_8bit_numel, when its name contains one
 * of the keep32 patterns (e.g. "word_embeddings"), or when bits == 32; otherwise its moments are
 * 8-bit codes (signed map for m, unsigned for v) with one float absmax per block of Q8_BLOCK.
 * Frozen specs get no state at all. State is laid out per spec in table order, packed. */
#define ADAMW8_MAX_KEEP32 16

typedef struct adamw8_config {
  int bits;               /* 8 (default) or 32 */
  int64_t min_8bit_numel; /* default 4096 */
  const char *keep32[ADAMW8_MAX_KEEP32]; /* name substrings forced to 32-bit state (not copied) */
  int n_keep32;
} adamw8_config;

typedef struct adamw8_spec {
  int bits;         /* 0 frozen (no state), 8 or 32 */
  int64_t lo, hi;   /* the elements [lo, hi) of the spec this state holds ([0, numel) unless a
                       ZeRO shard; 8-bit: lo and hi on block boundaries, or hi = numel) */
  size_t off;       /* 8: byte offset into qm/qv; 32: float offset into m32/v32 (of element lo) */
  size_t block_off; /* 8: offset into sm/sv (of lo's block) */
  double lr_mul;
  float weight_decay;
} adamw8_spec;

typedef struct opt_adamw8 {
  adamw_config cfg; /* lr, betas, eps (weight decay comes from the groups) */
  int n_specs;
  adamw8_spec *spec;
  ordo_backend be;  /* whose memory holds the arrays below */
  uint8_t *qm, *qv; /* 8-bit moments, n_q bytes each */
  float *sm, *sv;   /* their block absmax, n_blocks each */
  float *m32, *v32; /* 32-bit moments, n_32 floats each */
  size_t n_q, n_blocks, n_32;
  q8_map map_m, map_v; /* on the host (checkpoints check them) ... */
  float *maps;         /* ... and in backend memory, uploaded once: map_m.v (256), map_m.mid
                          (255), map_v.v (256), map_v.mid (255) */
  int64_t t;
} opt_adamw8;

/* bits 8, min_8bit_numel 4096, no patterns. */
adamw8_config adamw8_defaults(void);
/* groups: NULL = every spec in one group of rate 1 with cfg->weight_decay, not applied to
 * ORDO_PF_NO_DECAY specs unless cfg->decay_all (as opt_adamw). Otherwise spec->group indexes it.
 * Returns -1 with a message for a bad configuration (bits not 8/32, group index out of range). */
int opt_adamw8_init(opt_adamw8 *o, const ordo_params *p, const adamw_config *cfg,
                    const adamw8_config *qc, const opt_groups *groups, ordo_err *e);
/* ZeRO stage 1: the state of the table's elements [lo, hi) only (element offsets into the table;
 * a boundary inside an 8-bit spec must be on one of its blocks' boundaries). The step updates
 * those elements only. Laid out as the whole state's slice: the state of [lo, hi) in each array
 * (qm, qv, sm, sv, m32, v32) is the run [n(0, lo), n(0, hi)) of the whole state's array, n as
 * opt_adamw8_range_sizes counts. */
int opt_adamw8_init_range(opt_adamw8 *o, const ordo_params *p, const adamw_config *cfg,
                          const adamw8_config *qc, const opt_groups *groups, size_t lo, size_t hi,
                          ordo_err *e);
/* Counts of the state of the table's elements [0, end): 8-bit codes, blocks, 32-bit floats
 * (each array's length for a state holding [0, end)). */
void opt_adamw8_range_sizes(const opt_adamw8 *o, const ordo_params *p, size_t end, size_t *n_q,
                            size_t *n_blocks, size_t *n_32);
void opt_adamw8_free(opt_adamw8 *o);
/* One step at schedule rate lr (group rates lr * lr_mul), from the working copy's gradients: per
 * spec the backend's adamw_step (32-bit) or adamw8_step (8-bit). Deterministic and independent
 * of the thread count (blocks are independent). */
void opt_adamw8_step(opt_adamw8 *o, ordo_params *p, float lr);
/* The state in host memory (checkpoints, ZeRO gathers): h is o with the six arrays as host
 * copies (o's own arrays on a host-memory backend); opt_adamw8_from_host ends the copy,
 * uploading it (and h's step count) first when `upload`. */
void opt_adamw8_to_host(const opt_adamw8 *o, opt_adamw8 *h);
void opt_adamw8_from_host(opt_adamw8 *o, opt_adamw8 *h, int upload);
/* Bytes of optimizer state held (moments, codes and block scales). */
size_t opt_adamw8_state_bytes(const opt_adamw8 *o);
/* Trainable elements whose state is 8-bit / 32-bit. */
void opt_adamw8_counts(const opt_adamw8 *o, const ordo_params *p, int64_t *n8, int64_t *n32);
/* A spec's moments as float32 (dequantized when 8-bit) in host memory: m, v of spec->numel
 * each. */
void opt_adamw8_moments(const opt_adamw8 *o, const ordo_params *p, int idx, float *m, float *v);

#endif
