/* Parameter storage: one allocation described by a spec table (name, shape, dtype, offset).
 * The same table drives safetensors load/save, the gradient buffer, optimizer state and
 * (later) all-reduce spans: every per-parameter buffer is laid out at the same offsets. */
#ifndef ORDO_PARAMS_H
#define ORDO_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "ordo/dtype.h"
#include "ordo/ops.h"

#define ORDO_MAX_DIMS 4
#define ORDO_NAME_MAX 160

enum {
  ORDO_PF_NO_DECAY = 1 << 0, /* excluded from weight decay (biases, LayerNorm) */
  ORDO_PF_FROZEN = 1 << 1,   /* no gradient, no optimizer state */
  ORDO_PF_LORA = 1 << 2,     /* a LoRA adapter matrix (lora_A / lora_B) */
  ORDO_PF_CONV1D = 1 << 3,   /* a 2-D weight held (OUT, IN) like a Linear's that HF checkpoints
                                store transposed, (IN, OUT) (GPT-2's Conv1D): load, save and
                                gradient checks transpose it (enc_param_to_hf) */
};

typedef struct ordo_param_spec {
  char name[ORDO_NAME_MAX]; /* HF name, e.g. "bert.encoder.layer.0.attention.self.query.weight" */
  int ndim;
  int64_t shape[ORDO_MAX_DIMS];
  int64_t numel;
  ordo_dtype dtype; /* dtype written on save (master copy is always float32) */
  size_t offset;    /* element offset into data/grad */
  int flags;        /* ORDO_PF_* */
  int group;        /* optimizer parameter group (layer-wise rates etc.), default 0 */
} ordo_param_spec;

typedef struct ordo_params {
  ordo_param_spec *specs;
  int n, cap;
  size_t total; /* elements, including alignment padding */
  float *data;  /* fp32 master weights, one allocation */
  float *grad;  /* same layout as data; frozen specs' parts are never written (zero, no memory) */
  int borrowed; /* data and grad belong to another table (enc_join_params): not freed here */
  /* The working copy the ops read and write: weights wd and gradients gd in the backend's
   * memory, laid out as data/grad. data/grad are the host image (load, init, save). Without
   * params_attach, or on a host-memory backend, wd == data and gd == grad: no copies. */
  ordo_backend be; /* be.ops NULL: not attached (host) */
  float *wd, *gd;
} ordo_params;

void params_init(ordo_params *p);
void params_free(ordo_params *p);
/* Adds a spec (before params_alloc); returns its index. Offsets are 16-element aligned,
 * unless `contiguous` asks that it follow the previous one with no gap (e.g. fused q/k/v). */
int params_add(ordo_params *p, const char *name, int ndim, const int64_t *shape, int flags);
int params_add_contiguous(ordo_params *p, const char *name, int ndim, const int64_t *shape,
                          int flags);
/* Allocates data and grad (zeroed). */
void params_alloc(ordo_params *p);
int params_find(const ordo_params *p, const char *name);
float *params_data(const ordo_params *p, int idx);
float *params_grad(const ordo_params *p, int idx);
/* Places the working copy in be's memory (after params_alloc and loading): a backend with its
 * own memory gets wd and gd allocated and the weights uploaded; a host-memory backend uses
 * data and grad themselves. Once per table. */
void params_attach(ordo_params *p, const ordo_backend *be);
/* Host image -> working copy (after the host changed the weights: load, init, resume), and
 * back (before the host reads them: save, merge). Nothing on a host-memory backend. */
void params_upload(ordo_params *p);
void params_download(ordo_params *p);
/* The working copy of spec idx's weights / gradients. */
float *params_wd(const ordo_params *p, int idx);
float *params_gd(const ordo_params *p, int idx);
/* Zeroes the gradients of trainable specs (frozen ones stay zero and untouched), in the working
 * copy. */
void params_zero_grad(ordo_params *p);
/* FNV-1a hash of every spec's weights (bits, padding excluded): equal tables hash equal. */
uint64_t params_checksum(const ordo_params *p);
/* Number of parameters (sum of numel, no padding); trainable only when `trainable_only`. */
int64_t params_count(const ordo_params *p, int trainable_only);

#endif
