/* Helpers shared by the data module's files (not a public API). */
#ifndef ORDO_DATA_INTERNAL_H
#define ORDO_DATA_INTERNAL_H

#include <stdint.h>

#include "ordo/notebook.h"

/* A growable list of strings. */
typedef struct nb_paths {
  char **p;
  int32_t n, cap;
} nb_paths;
void nb_paths_add(nb_paths *l, const char *s);
void nb_paths_sort(nb_paths *l);
void nb_paths_free(nb_paths *l);

/* Files under dir (recursively when `recursive`) whose names end in one of the suffixes;
 * paths are dir-joined and sorted. .ipynb_checkpoints and hidden folders are skipped. */
int nb_list_files(const char *dir, const char *const *suffixes, int n_suffixes, int recursive,
                  nb_paths *out, ordo_err *e);
int nb_is_dir(const char *path);
int nb_is_file(const char *path);

/* 64-bit mix of a seed and a string (deterministic ids and shuffles). */
uint64_t nb_hash_str(uint64_t seed, const char *s);
/* Gives an .ipynb-derived notebook (true order, no ids) its ids: a 14-hex notebook id from
 * (seed, key) and 8-hex cell ids unique within the notebook; then the Kaggle layout. */
void nb_assign_ids(nb_notebook *nb, uint64_t seed, const char *key);

#endif
