/* The cell-ordering task: Kendall tau as the AI4Code competition scores it, order decoding,
 * lexical similarity features (TF-IDF, BM25), the simple baselines, and rank-level ensembles
 * of whole submissions.
 *
 * Orders are int32 index arrays into nb_notebook.cells (see ordo/notebook.h). */
#ifndef ORDO_AI4CODE_H
#define ORDO_AI4CODE_H

#include <stdint.h>

#include "ordo/core.h"
#include "ordo/notebook.h"

/* ---- Kendall tau ------------------------------------------------------------------------ */
/* Number of pairs i < j with a[i] > a[j], by merge sort in O(n log n). a is not modified;
 * scratch needs 2n ints. */
int64_t ai4_count_inversions(const int32_t *a, int32_t n, int32_t *scratch);

/* Pooled score: inversions and the sum of n(n-1) over notebooks.
 * tau = 1 - 4 * inversions / pairs2 (the competition's formula). */
typedef struct ai4_tau {
  int64_t inversions;
  int64_t pairs2; /* sum of n_i (n_i - 1) */
} ai4_tau;
/* Adds one notebook: pred and truth are orders of the same n items (indices 0..n-1). */
void ai4_tau_add(ai4_tau *t, const int32_t *pred, const int32_t *truth, int32_t n);
double ai4_tau_value(const ai4_tau *t);

/* Scores a submission against true orders. Every notebook of `orders` must be in `sub` and
 * vice versa, and each row must hold exactly the true cell ids, each once. On a mismatch
 * returns -1 naming the notebooks (the first few) and cells at fault. */
int ai4_score_orders(const nb_orders *orders, const nb_orders *sub, double *tau,
                     ai4_tau *acc, ordo_err *e);

/* ---- order decoding ---------------------------------------------------------------------- */
/* From a predicted position per cell (code cells included): stable sort by position; ties keep
 * the cell index order. out: (n_cells). When keep_code is set, code cells are first forced
 * into their known order (code cell i takes the i-th smallest code position). */
void ai4_order_from_positions(const nb_notebook *nb, const float *pos, int keep_code,
                              int32_t *out);
/* From a slot per markdown cell: slot s in [0, n_code] puts it just before code cell s
 * (n_code: after the last one). Markdown cells sharing a slot are ordered by `key` ascending
 * (NULL: by their index). md_slot and key are (n_md), for cells n_code .. n_cells-1. */
void ai4_order_from_slots(const nb_notebook *nb, const int32_t *md_slot, const float *key,
                          int32_t *out);
/* The slot minimising the expected displacement |s - s_true| under a slot distribution p
 * (n_slots, need not be normalised): its weighted median. Kendall tau punishes distance, so
 * this beats the argmax. */
int32_t ai4_slot_median(const float *p, int32_t n_slots);

/* ---- lexical features ---------------------------------------------------------------------- */
/* Words of code and prose: lowercase runs of letters/digits, identifiers also split at '_'
 * and camelCase boundaries; hashed to 64 bits (collisions are negligible at this scale). With
 * stem, each part is stemmed by a light English suffix stripper (plurals, -ation, -ing, -ed, a
 * final -e), so that prose and code meet: "Training the models" and train_model give the same
 * train, model. Models made before stemming keep it off (their term hashes are unstemmed). */
typedef struct ai4_terms {
  uint64_t *h;  /* term hashes */
  int32_t n, cap;
} ai4_terms;
void ai4_terms_free(ai4_terms *t);
/* Appends the terms of text to t (t may start zeroed). */
void ai4_tokenize(const char *text, int32_t len, int stem, ai4_terms *t);

/* A sparse vector sorted by term hash. */
typedef struct ai4_svec {
  uint64_t *h;
  float *w;
  int32_t n;
  float norm; /* L2 norm of w */
} ai4_svec;
void ai4_svec_free(ai4_svec *v);
/* Dot product of two sorted sparse vectors. */
float ai4_svec_dot(const ai4_svec *a, const ai4_svec *b);

/* Document frequencies fitted over cells (each cell a document). */
typedef struct ai4_tfidf {
  uint64_t *keys;  /* open addressing table of term hashes (0: empty) */
  int32_t *df;
  int64_t cap, n_terms;
  int64_t n_docs;
  double avg_len;  /* mean terms per document (for BM25) */
  int stem;        /* the terms are stemmed (ai4_tokenize), here and wherever tf is used */
} ai4_tfidf;
/* Fits document frequencies over the cells of ds's notebooks selected by mask (NULL: all). */
void ai4_tfidf_fit(ai4_tfidf *tf, const nb_dataset *ds, const uint8_t *mask, int stem,
                   int threads);
void ai4_tfidf_free(ai4_tfidf *tf);
/* Smoothed idf = ln((1 + N) / (1 + df)) + 1 (unseen terms get df = 0). */
float ai4_tfidf_idf(const ai4_tfidf *tf, uint64_t h);
/* TF-IDF vector of a cell's terms: sublinear tf (1 + ln tf) times idf, L2-normalised. */
void ai4_tfidf_vector(const ai4_tfidf *tf, const ai4_terms *terms, ai4_svec *out);

/* Per-notebook similarity matrices between markdown and code cells. */
typedef struct ai4_nb_sim {
  int32_t n_md, n_code;
  float *cos;  /* (n_md, n_code) TF-IDF cosine */
  float *bm25; /* (n_md, n_code) BM25 of the markdown's terms as the query against the code cell */
  float *ncos; /* (n_md, n_code) the part of cos from terms code c is the first code cell to use */
  float *lcos; /* (n_md, n_code) ... the last code cell to use */
  float *unmet; /* (n_md, n_code + 1) the share of the markdown's TF-IDF weight over the terms it
                   shares with some code cell that no code cell before slot s uses yet (0 when it
                   shares none) */
  float *spent; /* (n_md, n_code + 1) ... whose last use is before slot s */
  float *mcos;  /* (n_md, n_md) TF-IDF cosine between markdown cells, 0 on the diagonal */
} ai4_nb_sim;
/* Computes the matrices for one notebook (bm25: k1 = 1.2, b = 0.75). */
void ai4_nb_sim_compute(ai4_nb_sim *s, const ai4_tfidf *tf, const nb_notebook *nb);
void ai4_nb_sim_free(ai4_nb_sim *s);

/* Features of placing markdown m in slot s (just before code cell s; s = n_code: at the end),
 * for rankers that score (markdown, slot) pairs. All finite; similarities from ai4_nb_sim. */
enum {
  AI4_SF_COS_NEXT = 0,  /* cosine with code s (0 at the end) */
  AI4_SF_COS_PREV,      /* cosine with code s-1 (0 at the start) */
  AI4_SF_BM25_NEXT,
  AI4_SF_BM25_PREV,
  AI4_SF_COS_NEXT_GAP,  /* max cosine over all code minus cosine with code s */
  AI4_SF_COS_NEXT_RANK, /* rank of code s by cosine among the code cells, / n_code (0 = best) */
  AI4_SF_BEST_DIST,     /* (s - the slot before the most similar code) / (n_code + 1), signed */
  AI4_SF_COS_WINDOW,    /* max cosine over code s .. s+2 */
  AI4_SF_SLOT_REL,      /* s / n_code */
  AI4_SF_IS_FIRST,
  AI4_SF_IS_LAST,
  AI4_SF_LOG_N_CODE,
  AI4_SF_LOG_N_MD,
  AI4_SF_MD_HEADING,    /* the markdown starts with '#' (a heading) */
  AI4_SF_MD_LOG_LEN,    /* ln(1 + bytes of the markdown) */
  AI4_SLOT_NFEAT
};
/* Names of the features above, for model files and reports. */
const char *ai4_slot_feature_name(int k);
/* out: (AI4_SLOT_NFEAT) for markdown m (0-based among the markdown cells) and slot s. */
void ai4_slot_features(const ai4_nb_sim *sim, const nb_notebook *nb, int32_t m, int32_t s, float *out);

/* ---- baselines --------------------------------------------------------------------------- */
enum { AI4_BASE_FIRST = 0, AI4_BASE_EVEN, AI4_BASE_TFIDF };
/* Parses "first" | "even" | "tfidf"; -1 when unknown. */
int ai4_baseline_parse(const char *name);
/* Predicts orders for the notebooks selected by mask (NULL: all) into sub (rows appended in
 * dataset order). tf is needed by AI4_BASE_TFIDF only. */
void ai4_baseline_predict(int method, const nb_dataset *ds, const uint8_t *mask,
                          const ai4_tfidf *tf, int threads, nb_orders *sub);

/* ---- ensembles of whole submissions ------------------------------------------------------ */
/* Averages each cell's position across the submissions with the weights (normalised), then
 * re-sorts each notebook (ties: the position in the first submission). All submissions must
 * hold the same notebooks and the same cells per notebook; rows follow the first one. */
int ai4_ensemble_ranks(const nb_orders *subs, const double *weights, int n_subs,
                       nb_orders *out, ordo_err *e);
/* The weights (n_subs, summing to 1, steps of 1 / grid) whose rank-level ensemble scores the
 * highest Kendall tau against truth (which must hold every notebook of the submissions; other
 * rows are ignored): every point of the grid on the simplex is tried, ties keep the earlier
 * submissions' larger shares. *tau: the best ensemble's tau. */
int ai4_ensemble_fit(const nb_orders *subs, int n_subs, const nb_orders *truth, int grid,
                     double *weights, double *tau, ordo_err *e);

#endif
