/* Shared between the train/ optimizer files; not a public API. */
#ifndef ORDO_TRAIN_OPTIM_INTERNAL_H
#define ORDO_TRAIN_OPTIM_INTERNAL_H

#include "ordo/optim.h"

/* Quantizes one block of n <= Q8_BLOCK values: writes the codes, returns the block's absmax. */
float q8_quantize_block(const q8_map *m, const float *x, int n, uint8_t *codes);

/* The backend whose memory holds the table's working copy: the attached one, else the CPU. */
ordo_backend train_backend(const ordo_params *p);

/* One step's AdamW scalars for a group of rate lr_g (in double, as torch keeps a group's rate in
 * a Python float) and decay weight_decay, at step t (>= 1) of c's betas and eps. */
ordo_adamw_hp adamw_hp(const adamw_config *c, int64_t t, double lr_g, float weight_decay);

/* A host copy of `bytes` of backend memory at src: src itself on a host-memory backend, else a
 * new host buffer downloaded from it (NULL for NULL or 0 bytes). */
void *state_to_host(const ordo_backend *be, const void *src, size_t bytes);
/* Ends state_to_host's copy: with `upload` the host copy goes back into src first; the buffer is
 * freed when it was a copy. */
void state_from_host(const ordo_backend *be, void *src, void *host, size_t bytes, int upload);

#endif
