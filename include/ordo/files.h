/* Lists of file paths and a recursive file lister, shared by everything that reads a tree of
 * files (notebook datasets, training corpora). */
#ifndef ORDO_FILES_H
#define ORDO_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "ordo/core.h"

typedef struct ordo_paths {
  char **p;
  int32_t n, cap;
} ordo_paths;

void ordo_paths_add(ordo_paths *l, const char *s); /* copies s */
void ordo_paths_sort(ordo_paths *l);
void ordo_paths_free(ordo_paths *l);

/* Appends the regular files in folder dir whose names end in one of the suffixes (n_suffixes 0:
 * every file), descending into subfolders when recursive (at most 64 deep); hidden entries
 * (".name", so also .ipynb_checkpoints) are skipped. The result is sorted, so the order does
 * not depend on the file system. -1 and e naming the folder when one cannot be opened. */
int ordo_list_files(const char *dir, const char *const *suffixes, int n_suffixes, int recursive,
                    ordo_paths *out, ordo_err *e);
/* The one rule for the folders commands write (a model, a run, a dataset): a folder that
 * already holds files is replaced or written into only when the user said --force. Returns 0
 * when dir is absent, an empty folder, or force is set and dir is a folder; else -1 with e
 * naming dir, one of the files it holds and the flag. */
int ordo_out_dir_check(const char *dir, int force, ordo_err *e);
/* 1 when folder dir holds an entry (its name copied into name, when given), 0 when it is
 * empty, -1 (errno set) when it cannot be opened. */
int ordo_dir_first_entry(const char *dir, char *name, size_t cap);
/* Creates folder dir when absent; -1 naming it when it cannot, or when it is not a folder. */
int ordo_dir_ensure(const char *dir, ordo_err *e);
int ordo_is_dir(const char *path);
int ordo_is_file(const char *path);

#endif
