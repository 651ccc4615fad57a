/* Parameter spec table and its single allocation. */
#include <string.h>
#include <sys/mman.h>

#include "ordo/core.h"
#include "ordo/params.h"

void params_init(ordo_params *p) { *p = (ordo_params){0}; }

void params_free(ordo_params *p) {
  free(p->specs);
  if (!p->borrowed) {
    if (p->wd != p->data) p->be.ops->free(p->be.ctx, p->wd);
    if (p->gd != p->grad) p->be.ops->free(p->be.ctx, p->gd);
    ordo_free_aligned(p->data);
    if (p->grad) munmap(p->grad, p->total * sizeof(float));
  }
  *p = (ordo_params){0};
}

static int add(ordo_params *p, const char *name, int ndim, const int64_t *shape, int flags,
               int contiguous) {
  ORDO_CHECKF(!p->data, "params_add after params_alloc (%s)", name);
  ORDO_CHECK(ndim >= 0 && ndim <= ORDO_MAX_DIMS);
  ORDO_CHECKF(strlen(name) < ORDO_NAME_MAX, "parameter name too long: %s", name);
  ORDO_CHECKF(params_find(p, name) < 0, "duplicate parameter %s", name);
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 64;
    p->specs = ordo_realloc(p->specs, (size_t)p->cap * sizeof *p->specs);
  }
  ordo_param_spec *s = &p->specs[p->n];
  memset(s, 0, sizeof *s);
  strcpy(s->name, name);
  s->ndim = ndim;
  s->numel = 1;
  for (int i = 0; i < ndim; i++) {
    ORDO_CHECK(shape[i] > 0);
    s->shape[i] = shape[i];
    s->numel *= shape[i];
  }
  s->dtype = ORDO_DT_F32;
  s->flags = flags;
  s->offset = contiguous ? p->total : (p->total + 15) / 16 * 16;
  p->total = s->offset + (size_t)s->numel;
  return p->n++;
}

int params_add(ordo_params *p, const char *name, int ndim, const int64_t *shape, int flags) {
  return add(p, name, ndim, shape, flags, 0);
}

int params_add_contiguous(ordo_params *p, const char *name, int ndim, const int64_t *shape,
                          int flags) {
  return add(p, name, ndim, shape, flags, 1);
}

void params_alloc(ordo_params *p) {
  ORDO_CHECK(!p->data);
  p->total = (p->total + 15) / 16 * 16;
  p->data = ordo_alloc_aligned(p->total * sizeof(float));
  /* Anonymous pages read as zero and cost no memory until written: the gradients of frozen
   * parameters (LoRA's base model) are never written, so they take no memory. */
  void *g = mmap(NULL, p->total * sizeof(float), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  ORDO_CHECKF(g != MAP_FAILED, "out of memory mapping %zu gradient bytes", p->total * sizeof(float));
  p->grad = g;
  p->wd = p->data, p->gd = p->grad;
}

static int own_memory(const ordo_params *p) { return p->wd != p->data; }

void params_attach(ordo_params *p, const ordo_backend *be) {
  ORDO_CHECKF(p->data && !p->be.ops, "params_attach: %s", p->data ? "attached twice" : "not allocated");
  p->be = *be;
  if (be->ops->host_memory) return;
  ORDO_CHECKF(!p->borrowed, "params_attach: a borrowed table cannot move to %s", be->ops->name);
  p->wd = be->ops->alloc(be->ctx, p->total * sizeof(float));
  p->gd = be->ops->alloc(be->ctx, p->total * sizeof(float));
  params_upload(p);
}

void params_upload(ordo_params *p) {
  if (own_memory(p)) p->be.ops->upload(p->be.ctx, p->wd, p->data, p->total * sizeof(float));
}

void params_download(ordo_params *p) {
  if (own_memory(p)) p->be.ops->download(p->be.ctx, p->data, p->wd, p->total * sizeof(float));
}

float *params_wd(const ordo_params *p, int idx) {
  ORDO_CHECK(idx >= 0 && idx < p->n && p->wd);
  return p->wd + p->specs[idx].offset;
}

float *params_gd(const ordo_params *p, int idx) {
  ORDO_CHECK(idx >= 0 && idx < p->n && p->gd);
  return p->gd + p->specs[idx].offset;
}

int params_find(const ordo_params *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (strcmp(p->specs[i].name, name) == 0) return i;
  return -1;
}

float *params_data(const ordo_params *p, int idx) {
  ORDO_CHECK(idx >= 0 && idx < p->n && p->data);
  return p->data + p->specs[idx].offset;
}

float *params_grad(const ordo_params *p, int idx) {
  ORDO_CHECK(idx >= 0 && idx < p->n && p->grad);
  return p->grad + p->specs[idx].offset;
}

void params_zero_grad(ordo_params *p) {
  for (int i = 0; i < p->n; i++) {
    if (p->specs[i].flags & ORDO_PF_FROZEN) continue;
    const size_t bytes = (size_t)p->specs[i].numel * sizeof(float);
    if (own_memory(p)) p->be.ops->zero(p->be.ctx, p->gd + p->specs[i].offset, bytes);
    else memset(p->grad + p->specs[i].offset, 0, bytes);
  }
}

int64_t params_count(const ordo_params *p, int trainable_only) {
  int64_t n = 0;
  for (int i = 0; i < p->n; i++)
    if (!trainable_only || !(p->specs[i].flags & ORDO_PF_FROZEN)) n += p->specs[i].numel;
  return n;
}

uint64_t params_checksum(const ordo_params *p) {
  uint64_t h = ORDO_FNV_OFFSET;
  for (int i = 0; i < p->n; i++)
    h = ordo_fnv1a(h, p->data + p->specs[i].offset, (size_t)p->specs[i].numel * sizeof(float));
  return h;
}
