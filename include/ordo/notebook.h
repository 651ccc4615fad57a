/* Notebooks and notebook datasets for the cell-ordering task (AI4Code layout).
 *
 * In memory a notebook is always held the way the Kaggle files lay it out: its code cells
 * first, in their true relative order, then its markdown cells in a shuffled order. When
 * the true order is known (train_orders.csv, or an .ipynb file), `order` gives it as indices
 * into `cells`.
 *
 * Inputs read here (all user input: errors name the file and the line or offset):
 *  - a Kaggle-layout dataset root: train/{id}.json (or test/{id}.json), train_orders.csv,
 *    train_ancestors.csv;
 *  - a folder of Kaggle notebook json files;
 *  - a folder (searched recursively) of .ipynb / .ipynb.gz files (nbformat 4, also 3).
 * Malformed notebook files are skipped with a warning naming the file, and counted. */
#ifndef ORDO_NOTEBOOK_H
#define ORDO_NOTEBOOK_H

#include <stdint.h>

#include "ordo/core.h"

enum { NB_CELL_CODE = 0, NB_CELL_MARKDOWN = 1 };

/* Bounds on one notebook, checked while it is read: the rankers' work grows with the square of
 * the cell count (a feature row per markdown cell and slot), so a larger notebook is refused
 * with its name and size (the dataset loader then skips it with that warning). */
#define NB_MAX_CELLS 2048
#define NB_MAX_FILE_BYTES (256 << 20) /* a notebook file, after gunzip */

typedef struct nb_cell {
  char id[16];  /* NUL-terminated; Kaggle ids are 8 hex characters */
  int type;     /* NB_CELL_CODE or NB_CELL_MARKDOWN */
  char *source; /* NUL-terminated, owned by the cell */
  int32_t len;  /* strlen(source) */
} nb_cell;

typedef struct nb_notebook {
  char id[32];    /* Kaggle ids are 14 hex characters */
  int32_t n_cells, n_code, n_md;
  nb_cell *cells; /* (n_cells): code cells [0, n_code) in true order, then markdown */
  int32_t *order; /* (n_cells) true order as indices into cells, or NULL when unknown */
  int32_t group;  /* index into nb_dataset.groups, -1 when unknown */
  int32_t repo;   /* index into nb_dataset.repos (sources.csv), -1 when unknown */
} nb_notebook;

typedef struct nb_dataset {
  int32_t n;          /* number of notebooks */
  nb_notebook *nbs;   /* sorted by id */
  int32_t n_groups;
  char **groups;      /* ancestor ids, sorted; notebooks without one get their own id */
  int32_t n_repos;
  char **repos;       /* repositories named by the dataset's sources.csv, sorted; may be none */
  int32_t n_skipped;  /* malformed files skipped while loading */
  int has_orders;     /* every notebook has its true order */
} nb_dataset;

/* ---- a string -> int32 map (open addressing; keys are copied) ------------------------ */
typedef struct nb_strmap {
  char **keys;
  int32_t *vals;
  int64_t cap, n;
} nb_strmap;
void nb_strmap_init(nb_strmap *m, int64_t expected);
void nb_strmap_free(nb_strmap *m);
/* Returns the value for key, or -1 when absent. */
int32_t nb_strmap_get(const nb_strmap *m, const char *key);
/* Inserts key -> val; returns the previous value when key was present (not replaced), else -1. */
int32_t nb_strmap_put(nb_strmap *m, const char *key, int32_t val);

/* ---- single notebooks ------------------------------------------------------------------ */
void nb_notebook_free(nb_notebook *nb);
/* The notebook as plain text: its cells' sources in true order (file order when unknown),
 * separated by blank lines; malloc'd, NUL-terminated, *len its length. */
char *nb_text(const nb_notebook *nb, size_t *len);
/* Parses a Kaggle notebook json ({"cell_type": {id: type}, "source": {id: text}}), keeping the
 * key order. `name` is used in error messages; `id` becomes the notebook id. */
int nb_parse_kaggle_json(nb_notebook *nb, const char *json, size_t len, const char *name,
                         const char *id, ordo_err *e);

/* What an .ipynb parse keeps and drops. */
typedef struct nb_ipynb_opts {
  int32_t max_cell_chars; /* cut a cell's source at this many bytes (0: no cut) */
} nb_ipynb_opts;
/* Parses an nbformat 4 (or 3) notebook into cells in their true order (order[i] = i, no
 * shuffle): raw and blank cells dropped, source lists joined, nbformat-3 heading cells become
 * markdown "# ...". Cell ids are left empty. Returns 0, -1 (malformed: e filled), or 1 when
 * the notebook parsed but its metadata declares a language other than Python. */
int nb_parse_ipynb(nb_notebook *nb, const char *json, size_t len, const char *name,
                   const nb_ipynb_opts *opts, ordo_err *e);
/* Reads a whole file, gunzipping when the name ends in .gz, of at most NB_MAX_FILE_BYTES.
 * Returns NULL and fills e. */
char *nb_read_maybe_gz(const char *path, size_t *len, ordo_err *e);
/* Rearranges a notebook in true order (order[i] = i) into the Kaggle layout: code cells
 * first, markdown shuffled by a Fisher-Yates shuffle from `seed`; `order` is kept right. */
void nb_to_kaggle_layout(nb_notebook *nb, uint64_t seed);

/* ---- datasets -------------------------------------------------------------------------- */
/* Loads DIR: a dataset root (its test/ folder if present, else train/, plus train_orders.csv
 * and train_ancestors.csv when present), a folder of Kaggle json files, or a folder tree of
 * .ipynb/.ipynb.gz files (true order known; markdown shuffled from `seed`). Uses `threads`
 * OpenMP threads (0: the default). Returns -1 on a fatal error (unreadable folder, bad csv). */
int nb_dataset_load(nb_dataset *ds, const char *dir, int threads, uint64_t seed, ordo_err *e);
void nb_dataset_free(nb_dataset *ds);
/* Index of notebook `id`, or -1. */
int32_t nb_dataset_find(const nb_dataset *ds, const char *id);

/* ---- orders csv: "id,cell_order" with space-separated cell ids -------------------------- */
typedef struct nb_orders {
  int32_t n;
  char **ids;      /* (n) notebook ids, in file order */
  int32_t *count;  /* (n) cells per row */
  char ***cells;   /* (n)(count[i]) cell ids */
} nb_orders;
int nb_orders_read(nb_orders *o, const char *path, ordo_err *e);
/* Writes rows in the given order; atomic (temp file + rename). */
int nb_orders_write(const nb_orders *o, const char *path, ordo_err *e);
void nb_orders_free(nb_orders *o);
/* Appends one row (copies the strings). */
void nb_orders_add(nb_orders *o, const char *id, char *const *cells, int32_t count);
/* Appends a notebook's cells in the order given by idx (indices into nb->cells). */
void nb_orders_add_nb(nb_orders *o, const nb_notebook *nb, const int32_t *idx);

/* ---- a small CSV reader (RFC 4180 quoting, CRLF tolerated) ------------------------------ */
/* Splits the line at *pos (advanced past it) into at most max_fields fields, written in place
 * into buf (NUL-separated). Returns the number of fields, 0 at end of input, -1 on an
 * unterminated quote. */
int nb_csv_next(const char *text, size_t len, size_t *pos, char *buf, size_t buf_cap,
                char **fields, int max_fields);

/* ---- splits by repository or ancestor group ------------------------------------------ */
/* The validation side is a seeded random choice of whole units holding about val_frac of the
 * notebooks: units are visited in a seeded shuffle of their sorted names and taken while they
 * fit under the target count (a unit never straddles the split; if none fits, the smallest is
 * taken). val_frac 0 gives an empty validation side.
 *   NB_SPLIT_REPO   units are repositories (sources.csv; a notebook with none is a unit of its
 *                   ancestor group), each at most 1/(NB_SPLIT_MIN_REPOS + 1) of the target so
 *                   that no repository dominates and at least NB_SPLIT_MIN_REPOS are held out
 *                   when there are enough of them. Without sources.csv: as NB_SPLIT_GROUP.
 *   NB_SPLIT_GROUP  units are ancestor groups (train_ancestors.csv), with no size cap.
 * Returns the number of units held out. */
typedef enum nb_split_by { NB_SPLIT_REPO = 0, NB_SPLIT_GROUP = 1 } nb_split_by;
#define NB_SPLIT_MIN_REPOS 8
int32_t nb_split(const nb_dataset *ds, nb_split_by by, double val_frac, uint64_t seed, uint8_t *is_val);
/* Cross-fitting folds of the notebooks in mask, by the same units as nb_split (whole
 * repositories or ancestor groups, never split between folds): fold[i] in [0, k) for the
 * notebooks of mask, -1 for the others. Units are dealt out largest first (ties in a seeded
 * order), each to the fold with the fewest notebooks so far. Returns the number of folds that
 * got notebooks (fewer than k when mask holds fewer units). */
int nb_folds(const nb_dataset *ds, nb_split_by by, const uint8_t *mask, int k, uint64_t seed,
             int32_t *fold);
/* "repositories" or "ancestor groups": what nb_split holds out for this dataset. */
const char *nb_split_unit(const nb_dataset *ds, nb_split_by by);
/* "N notebooks of K repositories held out: a, b, ..." (names when at most 40); malloc'd. */
char *nb_split_summary(const nb_dataset *ds, nb_split_by by, const uint8_t *is_val);
/* "repo" | "group" -> *by; -1 for anything else. */
int nb_split_parse(const char *s, nb_split_by *by);

/* ---- building a dataset from .ipynb trees ---------------------------------------------- */
typedef struct nb_build_opts {
  const char **from;  /* source folders */
  int n_from;
  const char *out;    /* dataset root to create */
  uint64_t seed;
  int group_depth;    /* ancestor group = the first group_depth path components under a --from root */
  int force;          /* replace an existing out folder */
  int threads;
  int progress;       /* show the files' progress on stderr */
} nb_build_opts;
typedef struct nb_build_stats {
  int64_t files, malformed, not_python, too_few, too_many, duplicates, kept, cells, groups;
} nb_build_stats;
int nb_build_dataset(const nb_build_opts *o, nb_build_stats *st, ordo_err *e);

#endif
