/* Shared between the train/ optimizer files; not a public API. */
#ifndef ORDO_TRAIN_OPTIM_INTERNAL_H
#define ORDO_TRAIN_OPTIM_INTERNAL_H

#include "ordo/optim.h"

/* Quantizes one block of n <= Q8_BLOCK values: writes the codes, returns the block's absmax. */
float q8_quantize_block(const q8_map *m, const float *x, int n, uint8_t *codes);

#endif
