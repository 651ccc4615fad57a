/* Helpers shared by the data module's files (not a public API). */
#ifndef ORDO_DATA_INTERNAL_H
#define ORDO_DATA_INTERNAL_H

#include <stdint.h>

#include "ordo/files.h"
#include "ordo/notebook.h"

/* 64-bit mix of a seed and a string (deterministic ids and shuffles). */
uint64_t nb_hash_str(uint64_t seed, const char *s);
/* Gives an .ipynb-derived notebook (true order, no ids) its ids: a 14-hex notebook id from
 * (seed, key) and 8-hex cell ids unique within the notebook; then the Kaggle layout. */
void nb_assign_ids(nb_notebook *nb, uint64_t seed, const char *key);

#endif
