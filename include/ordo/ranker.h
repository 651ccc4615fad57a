/* The AI4Code rankers: models that place each markdown cell among a notebook's code cells.
 *
 * Every ranker speaks in slots: slot s in [0, n_code] is "just before code cell s" (n_code:
 * after the last one). A markdown's predicted position is a real number in code-index units:
 * slot s becomes s - 0.5, so that code cell i sits at i and sorting gives the order.
 *
 *  - pairwise (slot) ranker: for each (markdown, slot) pair a small MLP scores a vector of
 *    lexical matching features (TF-IDF/BM25 similarity to the code before and after the slot,
 *    the slot's relative place, heading traits, the distance to the most similar code cell and,
 *    when a pointwise model is given, the distance to its predicted position). A softmax over
 *    the slots gives each markdown's slot distribution; the slot taken is its weighted median
 *    (Kendall tau punishes distance, so the median beats the argmax).
 *  - pointwise ranker: the encoder (ordo/model.h) reads the markdown's tokens followed by up to
 *    rk_point_config.n_code code cells sampled evenly from the notebook, and a regression head
 *    predicts the markdown's relative slot s / n_code in [0, 1] (MSE).
 *
 * A model directory holds ranker.json (kind, settings, the slot MLP's weights) and, for a
 * pointwise part, config.json + model.safetensors + tokenizer.json. */
#ifndef ORDO_RANKER_H
#define ORDO_RANKER_H

#include <stdint.h>

#include "ordo/ai4code.h"
#include "ordo/core.h"
#include "ordo/metrics.h"
#include "ordo/model.h"
#include "ordo/notebook.h"
#include "ordo/ops.h"
#include "ordo/optim.h"
#include "ordo/params.h"
#include "ordo/tok.h"
#include "ordo/trainer.h"

/* ---- truth ------------------------------------------------------------------------------- */
/* The true slot of each markdown cell (number of code cells before it in the true order).
 * md_slot (n_md). nb->order must be known. */
void rk_true_slots(const nb_notebook *nb, int32_t *md_slot);
/* Predicted positions (n_md, code-index units) to an order of all cells: code cell i at i. */
void rk_order_from_md_pos(const nb_notebook *nb, const float *md_pos, int32_t *out);
/* The competition's Kendall tau over the notebooks in mask from their markdown positions. */
double rk_tau_of_positions(const nb_dataset *ds, const uint8_t *mask, float *const *md_pos);

/* A validation's numbers: the held-out tau, a loss (NAN where not measured) and the tau of the
 * notebooks in each length bucket (by cells: 1-10, 11-20, 21-40, 41-80, 81+; NAN when empty). */
#define RK_LEN_BUCKETS 5
typedef struct rk_val_metrics {
  double tau, loss;
  double tau_len[RK_LEN_BUCKETS];
} rk_val_metrics;
/* The bucket of a notebook of n cells, and the bucket's metric name ("val_tau_cells_1_10"). */
int rk_len_bucket(int32_t n_cells);
const char *rk_len_bucket_name(int b);
/* tau and tau_len from markdown positions (loss set to NAN). */
void rk_val_of_positions(const nb_dataset *ds, const uint8_t *mask, float *const *md_pos,
                         rk_val_metrics *out);
/* The same over a held-out set shared out among the ranks of d (NULL: one process): each rank
 * passes its part (mask, e.g. rk_val_part's), with the sum of its markdown cells' losses and
 * their count; the counts behind tau (inversions, pairs: integers, summed exactly) and the losses
 * are summed over the ranks, so every rank gets the whole set's figures, tau the same bits as
 * one process's. loss: the mean (NAN when n_md is 0 on every rank). */
void rk_val_sum(ordo_dist *d, const nb_dataset *ds, const uint8_t *mask,
                float *const *md_pos, double nll, int64_t n_md, rk_val_metrics *out);
/* Writes a validation record: epoch, val_tau, val_loss and the bucket taus (where measured). */
int rk_val_log(ordo_metrics *m, int64_t step, int epoch, const rk_val_metrics *v, ordo_err *e);

/* DIR/heldout.jsonl: per held-out notebook (mask) one line {"id", "tau", "types" ("c"/"m" per
 * cell), "true" and "pred" (the orders, as indices into the cells), "text" (each cell's first
 * line, cut at 80 bytes)}: what `ordo report` shows of the predictions. */
int rk_heldout_write(const nb_dataset *ds, const uint8_t *mask, float *const *md_pos,
                     const char *path, ordo_err *e);

/* ---- slot features ----------------------------------------------------------------------- */
/* Features 0..RK_NFEAT_LEX - 1 are lexical and learned evidence read as slot distributions; the
 * next RK_NFEAT_DENSE are similarities of cell vectors (rk_lex.dcos, dadj), zero where there
 * are none; the last RK_NFEAT_FLOW follow the markdown's terms through the code (the code cells
 * that first and last use them: ai4_nb_sim.ncos, lcos, unmet, spent), say whether the code
 * around the slot shows a result or defines a function, weigh the markdown against its rivals
 * (the other markdown cells matching that code) and place it by its kin (the markdown cells that
 * share its words, by the code they match). Models saved before the dense ones have
 * RK_NFEAT_LEX features, before the flow ones RK_NFEAT_LEX + RK_NFEAT_DENSE. */
#define RK_NFEAT_LEX 48
#define RK_NFEAT_DENSE 9
#define RK_NFEAT_FLOW 25
#define RK_NFEAT (RK_NFEAT_LEX + RK_NFEAT_DENSE + RK_NFEAT_FLOW)

/* Where markdown words sit in the notebooks they come from (src/task/ranker_prior.c): per term
 * of markdown cells, the sum of relative true slots (s / n_code) and the count. */
#define RK_PBINS 8
typedef struct rk_term_prior {
  uint64_t *keys; /* open addressing (0: empty) */
  double *sum;
  int32_t *count;
  int32_t *hist; /* (cap, RK_PBINS) counts of relative slot bins */
  int64_t cap, n;
  int stem; /* its terms are stemmed (ai4_tokenize): "stem" in term_prior.json, absent: off */
} rk_term_prior;
/* Fits over the markdown cells of the notebooks selected by mask (true orders needed). */
void rk_term_prior_fit(rk_term_prior *p, const nb_dataset *ds, const uint8_t *mask, int stem);
void rk_term_prior_free(rk_term_prior *p);
/* Each markdown's prior relative position in [0, 1], -1 when none of its terms is known;
 * md_prior (n_md). */
void rk_term_prior_md(const rk_term_prior *p, const nb_notebook *nb, float *md_prior);
/* Per markdown, the mean log-likelihood of each relative-position bin under its words
 * (naive Bayes, add-one smoothing), minus its maximum: md_bins (n_md, RK_PBINS). */
void rk_term_prior_bins(const rk_term_prior *p, const nb_notebook *nb, float *md_bins);
/* term_prior.json: {"terms": [hex], "sum": [...], "count": [...], "bins": [RK_PBINS per term]}
 * (terms seen 3 times or more). */
int rk_term_prior_save(const rk_term_prior *p, const char *path, ordo_err *e);
int rk_term_prior_load(rk_term_prior *p, const char *path, ordo_err *e);

/* A notebook's lexical evidence, computed once: markdown-code similarities, the similarity of
 * neighbouring code cells (a low one marks a change of topic, where markdown tends to sit) and
 * code cell traits. */
#define RK_CTRAITS 4
typedef struct rk_lex {
  ai4_nb_sim sim;
  float *adj;    /* (n_code + 1): TF-IDF cosine of code s-1 and code s; 1 at s = 0, n_code */
  float *ctrait; /* (n_code, RK_CTRAITS): log(1 + length) / 8, starts with an import, ends by
                    showing a result, starts with def or class */
  float *md_prior; /* (n_md) the term prior's position of each markdown, -1: none */
  float *md_bins;  /* (n_md, RK_PBINS) rk_term_prior_bins, 0 without a prior */
  float *dual;     /* (n_md, n_code + 1) the dual encoder's slot log-probabilities, or NULL
                      (learned evidence, set by the caller: see rk_dual_logprobs) */
  float *nbm;      /* (n_md, n_code + 1) the notebook-level model's, or NULL (rk_nbm_logprobs) */
  float *dcos;     /* (n_md, n_code) cosine of the markdown and code cells' vectors, or NULL
                      (rk_lex_dense: the frozen encoder's, or the dual encoder's) */
  float *dadj;     /* (n_code + 1) the same of code s-1 and code s; 1 at s = 0, n_code */
  float *dmcos;    /* (n_md, n_md) the same between markdown cells, 0 on the diagonal */
} rk_lex;
/* prior may be NULL (no term-prior features). */
void rk_lex_compute(rk_lex *l, const ai4_tfidf *tf, const rk_term_prior *prior,
                    const nb_notebook *nb);
void rk_lex_free(rk_lex *l);
/* dcos and dadj of l from a notebook's encoder cell vectors x (n_cells, in), code cells first. */
void rk_lex_dense(rk_lex *l, const nb_notebook *nb, const float *x, int in);

/* A notebook's features for every (markdown, slot): feats (n_md, n_code + 1, RK_NFEAT).
 * point_pos (n_md) relative slot predictions of a pointwise model in [0, 1], or NULL. */
void rk_slot_features(const nb_notebook *nb, const rk_lex *lex, const float *point_pos,
                      float *feats);

/* ---- the slot MLP: RK_NFEAT -> hidden (GELU) -> 1 ---------------------------------------- */
typedef struct rk_slot_model {
  int hidden;
  int use_point; /* trained with a pointwise model's positions as a feature */
  int use_dual;  /* trained with the dual encoder's slot log-probabilities (rk_lex.dual) */
  int use_nbm;   /* ... with the notebook-level model's in their place (rk_lex.nbm) */
  int use_dense; /* ... with the cell vectors' similarities (rk_lex.dcos, dadj) */
  ordo_params params; /* "w1" (hidden, RK_NFEAT), "b1" (hidden), "w2" (1, hidden), "b2" (1) */
  int w1, b1, w2, b2;
  const ordo_ops *ops;
} rk_slot_model;

/* ops: the plain reference kernels suit it (products of rows x RK_NFEAT x hidden are tiny, and
 * prediction runs one notebook per thread). */
void rk_slot_init(rk_slot_model *m, int hidden, const ordo_ops *ops);
void rk_slot_free(rk_slot_model *m);
void rk_slot_init_weights(rk_slot_model *m, uint64_t seed);

/* Working buffers for one notebook (grown as needed). */
typedef struct rk_slot_work {
  float *feats, *h, *a, *score, *prob, *dscore, *da, *dh;
  size_t cap_rows;
} rk_slot_work;
void rk_slot_work_free(rk_slot_work *w);

/* Slot distribution of every markdown of nb: prob (n_md, n_code + 1), rows sum to 1. */
void rk_slot_predict_nb(const rk_slot_model *m, const nb_notebook *nb, const rk_lex *lex,
                        const float *point_pos, rk_slot_work *w, float *prob);
/* Forward, softmax cross-entropy against the true slots (mean over markdown cells) and
 * backward into m->params.grad (+=), scaled by dloss. Returns the mean loss. */
float rk_slot_loss_nb(rk_slot_model *m, const nb_notebook *nb, const rk_lex *lex,
                      const float *point_pos, rk_slot_work *w, float dloss);
/* Markdown positions (n_md, code-index units) from slot distributions: the weighted median slot,
 * ties inside a slot broken by the distribution's mean. */
void rk_slot_decode(const nb_notebook *nb, const float *prob, float *md_pos);

/* ---- the pointwise encoder ranker -------------------------------------------------------- */
typedef struct rk_point_config {
  int md_tokens;   /* markdown tokens kept (after <s>) */
  int n_code;      /* code cells sampled evenly */
  int code_tokens; /* tokens kept per code cell */
  int seq;         /* total length T (<s> md </s> code </s> code ... </s>, padded) */
} rk_point_config;

/* The head's features beside the text: the notebook's numbers of markdown and of code cells,
 * each as log(1 + n) / 4; out (RK_POINT_NFEAT). */
#define RK_POINT_NFEAT 2
void rk_point_head_features(const nb_notebook *nb, float *out);

/* Pointwise relative slots in [0, 1] (clamped) to positions in code-index units; pos may be rel. */
void rk_point_to_pos(const nb_notebook *nb, const float *rel, float *pos);

/* Encoder rows written at stride T and right-padded, moved in place to stride `longest` (tt may
 * be NULL): the batch of `rows` rows that runs at the longest row's length. */
enc_batch rk_pack_rows(int32_t *ids, int32_t *msk, int32_t *tt, int rows, int T, int longest);

/* One input row: ids/mask (T) for markdown m of nb. Returns the real length. */
int rk_point_encode(const rk_point_config *c, const tok *tk, const nb_notebook *nb, int32_t md,
                    int32_t *ids, int32_t *mask);

/* Token ids of every cell of the notebooks selected by mask, encoded once (no specials). */
typedef struct rk_cell_tokens {
  int32_t n_nb;
  int64_t **off;  /* (n_nb)(n_cells + 1) offsets into ids[i]; NULL for notebooks not selected */
  int32_t **ids;
} rk_cell_tokens;
void rk_cell_tokens_build(rk_cell_tokens *ct, const tok *tk, const nb_dataset *ds,
                          const uint8_t *mask, int max_per_cell, int threads);
void rk_cell_tokens_free(rk_cell_tokens *ct);
/* rk_point_encode from pre-tokenized cells of notebook i. */
int rk_point_encode_ct(const rk_point_config *c, const tok *tk, const rk_cell_tokens *ct,
                       int32_t i, const nb_notebook *nb, int32_t md, int32_t *ids, int32_t *mask);

/* One optimizer step of the pointwise encoder on one batch through the shared trainer (whose
 * accumulation must be 1): MSE of the head's output against targets (B). Returns the loss. */
float rk_point_train_step(trainer *t, const enc_batch *b, const float *targets);

/* ---- the dual (cell-pair) encoder ----------------------------------------------------------
 * The pairwise text model. Every cell is encoded alone (<s> tokens </s>, token type 1 for
 * markdown, 0 for code), and the classification head maps its <s> state to 2 * dim numbers:
 * a markdown's (a, b), a code cell's (n, p). The score of markdown m in slot s is
 *   a_m . n_s  (the code cell after the slot, s < n_code)  +  b_m . p_(s-1)  (the one before, s > 0)
 * and a softmax over the slots is trained by cross-entropy against the true slot, so every code
 * cell of the notebook serves as a negative. Encoding cells alone costs one pass per cell for a
 * whole notebook (a cross-encoder would need one per pair). */
typedef struct rk_dual_config {
  int md_tokens;   /* markdown tokens kept per cell */
  int code_tokens; /* code tokens kept per cell */
  int dim;         /* each side's vector; the head has 2 * dim outputs */
} rk_dual_config;

/* Row of one cell: ids/mask/tt (T >= max(md_tokens, code_tokens) + 2). Returns the length. */
int rk_dual_encode_cell(const rk_dual_config *dc, const tok *tk, const rk_cell_tokens *ct,
                        int32_t i, const nb_notebook *nb, int32_t cell, int T, int32_t *ids,
                        int32_t *mask, int32_t *tt);
/* Slot scores of a notebook from its cell vectors z (n_cells, 2 dim): score (n_md, n_code + 1). */
void rk_dual_scores(const nb_notebook *nb, const float *z, int dim, float *score);
/* Backward of rk_dual_scores: dz (n_cells, 2 dim) += d loss / d z given dscore. */
void rk_dual_scores_backward(const nb_notebook *nb, const float *z, int dim, const float *dscore,
                             float *dz);
/* Log-softmax over each markdown's slots: lp (n_md, n_code + 1) from z. */
void rk_dual_logprobs(const nb_notebook *nb, const float *z, int dim, float *lp);
/* The slot cross-entropy of n_md markdown cells from their log-probabilities lp (n_md, ns) and
 * true slots: *loss -= log p(truth) for each, and lp becomes its gradient, scaled by g. */
void rk_slot_nll_grad(float *lp, int32_t n_md, int32_t ns, const int32_t *truth, float g, double *loss);
/* Cell vectors of every notebook selected by mask (NULL: all): z[i] (n_cells, 2 dim), allocated
 * here. The encoder must be planned for rows of max(md_tokens, code_tokens) + 2. */
void rk_dual_embed(enc_model *enc, const tok *tk, const rk_dual_config *dc, const nb_dataset *ds,
                   const uint8_t *mask, int threads, float **z);
/* Positions (rows x longest row) of one inference batch of rk_dual_embed: large enough for the
 * products to run near their best, small enough for a layer's activations to stay in cache
 * (512 to 16384 measured on the default dual model: bench/NOTES.md). */
#ifndef RK_DUAL_BATCH_TOKENS
#define RK_DUAL_BATCH_TOKENS 2048
#endif
/* What an encoder pass gives for a cell: the dual head's 2 x dim outputs, or the last hidden
 * state pooled (hidden_size wide): the mean over the real tokens, or the first position. */
typedef enum { RK_POOL_HEAD = 0, RK_POOL_MEAN, RK_POOL_FIRST } rk_pool;
/* Inference over a list of cells: cell k is cell cell_c[k] of notebook cell_nb[k] (tokenized in
 * ct), its vector written to out[k]. Run longest first in batches of nearly equal lengths; pb
 * (or NULL) is told the cells done. */
struct ordo_progress;
void rk_embed_cells(enc_model *enc, const tok *tk, const rk_dual_config *dc, rk_pool pool,
                    const nb_dataset *ds, const rk_cell_tokens *ct, const int32_t *cell_nb,
                    const int32_t *cell_c, int64_t n, float *const *out,
                    struct ordo_progress *pb);
/* The same from cells tokenized beforehand (rk_cell_tokens_build with max(md_tokens, code_tokens)
 * per cell, over at least the notebooks in mask). */
void rk_dual_embed_ct(enc_model *enc, const tok *tk, const rk_dual_config *dc,
                      const nb_dataset *ds, const rk_cell_tokens *ct, const uint8_t *mask,
                      float **z);
/* The dual encoder alone: each markdown at the weighted median of its slot distribution (as
 * rk_slot_decode), md_pos (n_md) in code-index units. */
void rk_dual_positions(const nb_notebook *nb, const float *z, int dim, float *md_pos);

/* ---- the frozen route (src/task/ranker_frozen.c, ranker_frozen_head.c) ----------------------
 * A pretrained encoder (--init, the route chosen by --init-route) kept as it is: each cell's
 * vector (pooled by rk_pool, token type 0) is computed once and cached, keyed by the cell's
 * text; a small MLP per side (code cells, markdown cells: in -> hidden GELU -> 2 dim) maps it to
 * the 2 x dim vector the dual scoring reads (rk_dual_scores), and only the MLPs train, on the
 * dual objective. Everything after the dual encoder reads their vectors as it reads its. */
typedef struct rk_vec_cache {
  int width;
  int64_t n, cap;  /* rows held, allocated */
  uint64_t *keys;  /* (cap) each row's key */
  float *vec;      /* (cap, width) */
  int64_t *table;  /* (tcap) open addressing: row + 1, 0 empty */
  int64_t tcap;
} rk_vec_cache;

typedef struct rk_frozen {
  enc_model enc; /* the pretrained encoder without heads, inference only */
  rk_pool pool;
  int in, hidden, dim; /* in: the encoder's width */
  ordo_params params;  /* per side s (0 code, 1 markdown): "s.w1" (hidden, in), "s.b1",
                          "s.w2" (2 dim, hidden), "s.b2" */
  int w1[2], b1[2], w2[2], b2[2];
  char ident[512]; /* what the vectors come from: the weights' and the tokenizer's checksums,
                      pooling, tokens kept per cell, width */
  rk_vec_cache cache;
  int64_t computed, reused; /* cells of the last rk_frozen_vectors */
  int progress;             /* show the cells' progress on stderr */
  int grow;                 /* computed vectors join the cache (training: it is saved); 0: they
                               are held for the one call (prediction: a test set's cells) */
  /* cross-fitting (--dual-folds): fold k's MLPs trained without fold k's notebooks, so that
   * their vectors are out-of-fold evidence for every training notebook */
  int folds;     /* 0: none */
  float *fold_w; /* (folds, params.total): fold k's weights, laid out as params.data */
} rk_frozen;
#define RK_HEAD_ALL (-1) /* the MLPs trained on every training notebook (rk_frozen.params) */

/* The checks of an --init directory for the frozen route, before any work: a config.json of
 * an encoder family (not a decoder), a tokenizer.json and a model.safetensors. */
int rk_frozen_check_init(const char *dir, ordo_err *e);
/* The encoder of enc_dir (config.json, model.safetensors) without heads, for cells of dc's
 * sizes; tok_path: the tokenizer.json its cells are encoded with (its checksum goes into the
 * identity); the MLPs' table of the given width, zero (rk_frozen_init_head draws them). */
int rk_frozen_open(rk_frozen *f, const char *enc_dir, const char *tok_path, rk_pool pool,
                   const rk_dual_config *dc, int hidden, const ordo_backend *be, ordo_err *e);
void rk_frozen_free(rk_frozen *f);
const char *rk_pool_name(rk_pool p);
int rk_pool_parse(const char *s, rk_pool *out); /* mean | first */
/* The cache file (safetensors: "keys" (n, 2) I32, "vectors" (n, in) F32, the identity in its
 * metadata): absent is no error; one of another identity is refused, naming both. */
int rk_frozen_cache_load(rk_frozen *f, const char *path, ordo_err *e);
int rk_frozen_cache_save(const rk_frozen *f, const char *path, ordo_err *e);
/* Encoder vectors x[i] (n_cells, in) of the notebooks in mask (NULL: all), allocated here:
 * cached cells are taken from the cache, the others computed (each text once) and, with
 * f->grow, added to it. */
void rk_frozen_vectors(rk_frozen *f, const tok *tk, const rk_dual_config *dc,
                       const nb_dataset *ds, const uint8_t *mask, int threads, float **x);

/* The MLPs' table (rk_frozen_open's part), zero: in -> hidden -> 2 dim per side. */
void rk_frozen_head_alloc(rk_frozen *f, int in, int hidden, int dim);
void rk_frozen_init_head(rk_frozen *f, uint64_t seed);
/* Room for the weights of `folds` cross-fitted heads (zero; 0: none). */
void rk_frozen_set_folds(rk_frozen *f, int folds);
/* The weights in f->params become fold k's. */
void rk_frozen_keep_fold(rk_frozen *f, int k);
/* The MLPs of head `head` (RK_HEAD_ALL, or a fold in [0, folds)) on a notebook's encoder
 * vectors x (n_cells, in): z (n_cells, 2 dim). */
void rk_frozen_head(const rk_frozen *f, int head, const nb_notebook *nb, const float *x, float *z);
/* Forward, slot cross-entropy against truth (n_md), backward into f->params' gradients scaled
 * by g per markdown cell; returns the summed loss. */
double rk_frozen_head_loss(rk_frozen *f, const nb_notebook *nb, const float *x,
                           const int32_t *truth, float g);
/* DIR/dual/head.safetensors (f->params); the folds' are DIR/dual/head_fold<k + 1>.safetensors,
 * written as they train (rk_frozen_train) */
int rk_frozen_head_save(const rk_frozen *f, const char *dir, ordo_err *e);
int rk_frozen_head_load(rk_frozen *f, const char *dir, int head, ordo_err *e);

/* ---- decoding over all cells (src/task/ranker_decode.c) ------------------------------------ */
/* Heading level of a markdown cell: leading '#' of its first non-blank line (an html <h..> counts
 * as 2), 0 when it is not a heading. */
int rk_md_heading_level(const nb_cell *c);
/* Within-slot order evidence: first[a][b] = P(a markdown of heading class a precedes one of class
 * b | both truly share a slot), classes 0 (not a heading), 1 (level 1-2), 2 (deeper), fitted on
 * training notebooks with add-one smoothing. */
#define RK_HCLASSES 3
typedef struct rk_md_order {
  double first[RK_HCLASSES][RK_HCLASSES];
} rk_md_order;
void rk_md_order_fit(rk_md_order *o, const nb_dataset *ds, const uint8_t *mask);
/* Markdown positions (n_md, code-index units) from slot distributions prob (n_md, n_code + 1):
 * the arrangement of minimum expected inversions over all cell pairs (markdown-code and
 * markdown-markdown, the distributions taken as independent, o for pairs that share a slot),
 * by coordinate descent from the weighted medians; notebooks too large for it (n_md^2 x slots >
 * 2e7) keep rk_slot_decode's positions. */
void rk_decode_joint(const nb_notebook *nb, const float *prob, const rk_md_order *o, float *md_pos);

/* ---- the notebook-level model --------------------------------------------------------------
 * A small encoder over the cells of one notebook (src/task/ranker_notebook.c): its inputs are
 * the dual encoder's cell vectors (2 dim wide, computed once), added to an embedding of the
 * cell's type; code cells sit at the position of their order (1, 2, ...), markdown cells all at
 * position 0 (their place is what is asked). Its output states, split in halves, score every
 * (markdown, slot) as the dual encoder's vectors do (rk_dual_scores), scaled by
 * 1 / sqrt(half) and added to the dual encoder's log-probabilities: it refines them with what
 * the whole notebook says, every markdown's slots scored jointly. Notebooks of more than
 * RK_NBM_MAX_CELLS cells keep the dual encoder's distribution. */
#define RK_NBM_MAX_CELLS 1024
#define RK_NBM_EXTRA 2 /* inputs beside the dual vector: where the base distribution puts the cell */
typedef struct rk_nbm_config {
  int layers, hidden, heads, intermediate;
} rk_nbm_config;
/* An ELECTRA-layout encoder (embedding width in_dim = 2 x the dual dim, + RK_NBM_EXTRA,
 * projected to hidden),
 * sinusoidal positions, no head, planned for one notebook of RK_NBM_MAX_CELLS cells. */
/* be: the backend (NULL: the CPU). */
int rk_nbm_init(enc_model *m, const rk_nbm_config *c, int in_dim, const ordo_backend *be,
                ordo_err *e);
void rk_nbm_init_weights(enc_model *m, uint64_t seed);
int rk_nbm_fits(const nb_notebook *nb);
/* Slot log-probabilities lp (n_md, n_code + 1) of nb from its dual cell vectors z and the base
 * distribution's log-probabilities base (n_md, n_code + 1). */
void rk_nbm_logprobs(enc_model *m, const nb_notebook *nb, const float *z, int dual_dim,
                     const float *base, float *lp);
/* Forward, cross-entropy against truth (n_md) and backward into m's gradients scaled by dloss;
 * returns the mean loss over the markdown cells. */
float rk_nbm_loss_nb(enc_model *m, const nb_notebook *nb, const float *z, int dual_dim,
                     const float *base, const int32_t *truth, float dloss);
/* Positions of the notebooks in mask with z[i] (weighted-median decoding), and the summed
 * cross-entropy of their true slots in *nll with the count of markdown cells in *n_md (both
 * NULL, or both given). */
void rk_nbm_positions(enc_model *m, const nb_dataset *ds, const uint8_t *mask, float *const *z,
                      int dual_dim, float *const *base, float **md_pos, double *nll,
                      int64_t *n_md);

/* ---- training and prediction ------------------------------------------------------------- */
typedef struct rk_train_opts {
  double val_frac;
  nb_split_by split_by; /* what the held-out side is made of (NB_SPLIT_REPO by default) */
  uint64_t seed;      /* the split */
  uint64_t init_seed; /* weights, data order, dropout (the CLI sets it to seed unless given) */
  int threads;
  int verbose;
  const ordo_backend *be; /* where the encoders train (--device); NULL: the CPU */
  /* the ranks of a data-parallel run (NULL: one process). Each rank runs every stage; a step's
   * global batch is ranks x accumulation micro-batches, rank r computing micro-batches
   * r * accum .. r * accum + accum - 1 of it, normalised by the global batch, so the trainer's
   * sum over ranks is the whole batch's gradient. The tokenizer is rank 0's; lexical features
   * and cell vectors are computed alike on every rank; validation is shared out (rk_val_part,
   * rk_val_sum; the pointwise stage's is not); the choices made on held-out figures and the time
   * cap are rank 0's, broadcast; only rank 0 writes or prints. */
  ordo_dist *dist;
  /* slot ranker */
  int slot_hidden, slot_epochs; /* 0: by the model (RK_SLOT_HIDDEN, ...) */
  double slot_lr;
  int slot_max_nb; /* > 0: the slot MLP trains on at most this many notebooks (with a pointwise
                      part, these are the notebooks the encoder must score first) */
  /* pointwise ranker: 0 = none */
  int point;
  int layers, hidden, heads, intermediate, vocab_size;
  rk_point_config pc;
  int point_epochs, batch;
  double point_lr, point_warmup;
  int64_t max_steps;        /* > 0: stop the pointwise training after this many steps */
  double max_minutes;       /* > 0: stop the pointwise training after this long */
  int max_train_nb;         /* > 0: use at most this many training notebooks */
  const char *tokenizer;    /* NULL: train a BPE tokenizer on the training notebooks */
  const char *init;         /* NULL or an encoder checkpoint directory */
  int init_frozen;          /* with init: 1 the frozen route (rk_frozen) for the dual encoder,
                               0 fine-tuning, -1 frozen on the CPU backends (be NULL or host
                               memory), fine-tuning on a GPU */
  rk_pool frozen_pool;      /* its pooling (RK_POOL_MEAN or RK_POOL_FIRST) */
  int frozen_hidden, frozen_epochs; /* its MLPs' width and epochs */
  double frozen_lr;
  int dual_folds; /* cross-fitting: K > 1 folds of the training notebooks (by the split's
                     units), fold k's dual part (the frozen route's MLPs, or a trained dual
                     encoder) trained on the others; their out-of-fold vectors are the evidence of
                     every training notebook, so that the slot model and the notebook model train
                     on all of them. 0: none (the slot model with evidence on slot_max_nb
                     notebooks the dual part did not see); -1: RK_DUAL_FOLDS on the frozen route,
                     RK_DUAL_FOLDS_TRAINED with a trained dual encoder, as many as dual_from
                     holds with it, none without a dual part */
  int stem;        /* the lexical terms are stemmed (ai4_tokenize; default 1, --no-stem) */
  int dense_feats; /* the slot model with evidence reads the similarities of the cell vectors
                      too (rk_lex.dcos, dadj): the pretrained encoder's on the frozen route, the
                      trained dual encoder's own otherwise */
  /* dual (cell-pair) encoder: 0 = none. Without cross-fitting it trains on the training notebooks
   * that the slot model with its evidence does not (those are the first slot_max_nb), so that the
   * slot model learns how far to trust it on notebooks it has not seen; with it, on all of them,
   * and the slot model reads the folds' encoders' evidence */
  int dual;
  rk_dual_config dc;
  int dual_cells;  /* rows (cells) per micro-batch: whole notebooks packed up to this */
  int dual_epochs;
  double dual_lr;
  const char *dual_from; /* NULL, or a model directory whose dual encoder (DIR/dual), its
                            cross-fitting folds' (DIR/dual_fold<k>) and tokenizer are taken as
                            they are instead of training them */
  /* the notebook-level model: 0 = none. It trains on the slot model's notebooks (which the
   * dual encoder did not see, or whose vectors are out of fold) from their dual cell vectors */
  int nbm;
  rk_nbm_config nbc;
  int nbm_epochs, nbm_notebooks; /* notebooks per step (per rank: a step takes ranks x this) */
  int nbm_over_slot; /* 1: it refines the slot ranker's distribution (the model's last stage);
                        0: the dual encoder's, and the slot ranker reads its (rk_lex.nbm) */
  double nbm_lr;
  trainer_config tech;      /* the encoder's training techniques (accumulation, precision, ...):
                               its steps and schedule are set from the fields above */
} rk_train_opts;

rk_train_opts rk_train_defaults(void);
#define RK_DUAL_FOLDS 5
#define RK_DUAL_FOLDS_TRAINED 2 /* each fold's encoder costs a training of its own */
#define RK_SLOT_HIDDEN 32
#define RK_SLOT_EPOCHS 6
#define RK_SLOT_HIDDEN_ALL 64 /* the slot model with cross-fitted evidence */
#define RK_SLOT_EPOCHS_ALL 10
#define RK_MAX_FOLDS 64

typedef struct rk_train_result {
  /* Kendall tau on the validation notebooks (-1: not measured): the model kept (tau_slot), the
   * slot MLP on lexical features only, the pointwise encoder alone, the slot MLP with it */
  double tau_slot, tau_lex, tau_point, tau_both;
  double tau_dual, tau_with_dual; /* the dual encoder alone; the slot MLP with its evidence */
  double tau_nbm, tau_with_nbm;   /* the notebook-level model alone; the slot MLP with it */
  double seconds_nbm;
  double tau_median, tau_joint; /* the kept model with each decoding (-1: not measured) */
  double tau_fold_all, tau_fold_mean; /* with cross-fitting, the kept model (its best decoding)
                                         from the dual part (MLPs or encoder) trained on all, from
                                         the folds' mean */
  int validated; /* 0: no notebook was held out (--val-frac 0), so no tau was measured and no
                    choice was made on one: the fullest model trained is the one kept */
  int64_t dual_steps, fold_steps;    /* the encoder on all; the cross-fitting folds' together */
  double seconds_dual, seconds_folds;
  float dual_loss_first, dual_loss_last;
  double seconds_point, seconds_slot;
  float point_loss_first, point_loss_last;
  int64_t point_steps;
} rk_train_result;

/* Resume state of an encoder stage kept beside the trainer's checkpoint (trainer.write_extra):
 * the best epoch's weights (best.safetensors) and its held-out tau (best_state.json). */
typedef struct rk_best_ckpt {
  const ordo_params *params;
  float *best;
  double *best_tau;
  int64_t micro_per_step; /* ranks x accumulation: a step's meaning, checked on resume */
} rk_best_ckpt;
int rk_best_write_extra(void *ctx, const char *dir, ordo_err *e);
int rk_best_read_extra(rk_best_ckpt *pc, const char *dir, ordo_err *e);

/* An encoder stage's epoch loop (src/task/ranker_stage.c), shared by the dual and the pointwise
 * encoders: the stage supplies its data through callbacks, the loop runs the steps on the
 * trainer with a progress bar, checkpoints inside epochs (with --save-every) and resumes bit for
 * bit, stops at --max-minutes, validates at each epoch's end and keeps the best epoch's weights
 * (back in m at the end, written to save_dir by enc_save when they become the best). */
typedef struct rk_stage {
  const char *name; /* "dual", "pointwise": progress bar and log lines */
  enc_model *m;     /* or NULL: the stage trains params, and save writes them */
  ordo_params *params;
  int (*save)(void *ctx, const char *dir, ordo_err *e);
  const char *unit; /* what `step` counts (NULL: "tok", tokens) */
  trainer *tr;      /* built for m; its steps and schedule already set */
  const rk_train_opts *o; /* save_every, max_minutes, verbose */
  int epochs;
  int64_t total;    /* steps of the run */
  const char *ckpt_dir; /* checkpoints there with o->tech.save_every > 0; NULL: none */
  const char *save_dir;
  ordo_metrics *metrics; /* per step and per validation records (stage `name`), or NULL */
  int has_val;      /* 0: validate is not meaningful, the last epoch is kept */
  void *ctx;
  /* prepares epoch ep (called for every epoch, also those a resume skips) and returns its
   * number of steps */
  int64_t (*epoch_begin)(void *ctx, int ep);
  /* runs step k of epoch ep (trainer_step): its statistics and the real tokens it read */
  void (*step)(void *ctx, int ep, int64_t k, trainer_stats *st, int64_t *tokens);
  /* held-out Kendall tau (overall and per length bucket) and loss of the current weights */
  void (*validate)(void *ctx, rk_val_metrics *v);
  void (*kept)(void *ctx);       /* the current weights became the best (may be NULL) */
} rk_stage;

typedef struct rk_stage_result {
  double best_tau;
  int64_t steps, resumed_at; /* resumed_at: the checkpoint's step, 0 when none */
  float loss_first, loss_last; /* this run's first and last step */
  double seconds;
} rk_stage_result;

int rk_stage_run(const rk_stage *s, rk_stage_result *res, ordo_err *e);
/* A dual stage's figures (its best held-out tau, steps, time and losses) into the train result. */
void rk_dual_result(rk_train_result *res, const rk_stage_result *sr);

/* Data parallelism of the stages (rk_train_opts.dist): the micro-batches of a step over all ranks
 * (ranks x accumulation) and the first of them this rank computes. */
int rk_micro_per_step(const trainer *t);
int rk_first_micro(const trainer *t);
/* Micro-batch i of this rank within a step's notebooks [first, last), nb_per_micro notebooks each
 * and the rank's micro-batches from first_micro on: the positions [*a, *b) (empty past last). */
void rk_micro_span(int32_t first, int32_t last, int first_micro, int i, int nb_per_micro,
                   int32_t *a, int32_t *b);
/* Rank 0's held-out figures on every rank, so that every rank keeps the same epoch. */
void rk_val_agree(const rk_train_opts *o, rk_val_metrics *v);
/* This rank's part of the held-out notebooks val: every world-th of them, from the rank's
 * (a new mask of ds->n; the whole of val for one process). */
uint8_t *rk_val_part(const ordo_dist *d, const nb_dataset *ds, const uint8_t *val);

/* The notebook-level model's training from the cell vectors z and base log-probabilities of the
 * train and val notebooks:
 * keeps the best held-out epoch in m, written to DIR/notebook (stage "notebook"). */
int rk_nbm_train(enc_model *m, const nb_dataset *ds, float *const *z, int dual_dim,
                 float *const *base, const uint8_t *train, const uint8_t *val, const rk_train_opts *o, const char *dir,
                 ordo_metrics *metrics, rk_train_result *res, ordo_err *e);

/* The dual encoder's training (on the shared trainer tr, built for m) on the train notebooks:
 * keeps the weights with the best held-out tau in m and writes them to DIR/<name> ("dual", or a
 * cross-fitting fold's "dual_fold<k>"; its checkpoints in DIR/checkpoint_<name>); its records go
 * to metrics (may be NULL) as stage <name>. */
int rk_dual_train(enc_model *m, trainer *tr, const tok *tk, const rk_dual_config *dc,
                  const nb_dataset *ds, const uint8_t *train, const uint8_t *val,
                  const rk_train_opts *o, const char *dir, const char *name,
                  ordo_metrics *metrics, rk_train_result *res, ordo_err *e);

/* The frozen route (rk_frozen): trains the MLPs f->params (drawn before) on the encoder vectors
 * x of the train notebooks, validated on val by the held-out tau of their slot distributions:
 * the best epoch kept (in f->params, and in head `head`'s file of DIR/dual; records as stage
 * "dual", or "dual_fold<k + 1>"). */
int rk_frozen_train(rk_frozen *f, int head, const nb_dataset *ds, float *const *x,
                    const uint8_t *train, const uint8_t *val, const rk_train_opts *o,
                    const char *dir, ordo_metrics *metrics, rk_train_result *res, ordo_err *e);

/* Cross-fitting of the frozen route's MLPs: for each of the folds (fold[i] in [0, folds) for
 * the train notebooks), MLPs drawn anew and trained on the other folds' notebooks (validated on
 * val), kept as fold k's weights (f->fold_w, DIR/dual/head_fold<k + 1>.safetensors), and their
 * vectors z[i] (n_cells, 2 dim; allocated here) of fold k's notebooks: every training notebook
 * gets vectors from MLPs that never saw it. f->params is left as the last fold's. */
int rk_frozen_cross_fit(rk_frozen *f, const nb_dataset *ds, float *const *x, const uint8_t *train,
                        const int32_t *fold, int folds, const uint8_t *val, const rk_train_opts *o,
                        const char *dir, ordo_metrics *metrics, float **z, ordo_err *e);

/* The output folder rule (ordo_out_dir_check) for a training run: dir must be absent or empty,
 * hold a checkpoint of a run to resume (checkpoint/, checkpoint_dual/, checkpoint_dual_fold<k>/,
 * a frozen route's cache), or force be set; the
 * checkpoint folders it holds must be checkpoints. Checked before any work. */
int rk_train_check_dir(const char *dir, int force, ordo_err *e);
/* Trains on ds (true orders required), writes the model to out_dir, with the run's records
 * (metrics.jsonl, tb/<stage>/ for the stages dual, pointwise, slot_lex and slot) and the kept
 * model's held-out predictions (heldout.jsonl). */
int rk_train(const nb_dataset *ds, const rk_train_opts *o, const char *out_dir,
             rk_train_result *res, ordo_err *e);

/* A loaded ranker for prediction. */
typedef struct rk_model {
  rk_slot_model slot;
  int has_prior;
  rk_term_prior prior;
  int stem; /* the lexical terms are stemmed (ai4_tokenize); ranker.json's "slot": "stem" */
  int has_point;
  enc_model enc;
  tok *tk;
  rk_point_config pc;
  int has_dual;
  enc_model dual; /* the dual encoder (its files in DIR/dual), sharing the tokenizer */
  int dual_folds;        /* a trained dual encoder's cross-fitting folds (0: none) */
  enc_model *dual_fold;  /* (dual_folds) fold k's encoder, trained without fold k's notebooks
                            (DIR/dual_fold<k + 1>) */
  uint64_t fold_hash;    /* the fingerprint of the folds' dealing (rk_fold_hash) */
  rk_dual_config dc;
  int dual_frozen; /* the dual vectors come from fz (the frozen route) instead of dual */
  rk_frozen fz;    /* its encoder in DIR/frozen, its MLPs in DIR/dual/head.safetensors */
  int has_nbm;
  enc_model nbm;  /* the notebook-level model (DIR/notebook) over the dual cell vectors */
  int nbm_over_slot; /* its base is the slot ranker's distribution and its output the model's;
                        0: its base is the dual encoder's and its output the slot features' */
  int point_only; /* predict from the pointwise encoder alone (set by the caller) */
  int dual_only;  /* predict from the dual encoder alone (set by the caller) */
  int nbm_only;   /* predict from the notebook-level model alone (set by the caller) */
  int decode_joint; /* rk_decode_joint with mdo instead of the weighted medians (chosen on the
                       held-out notebooks at training time) */
  int fold_mean; /* with cross-fitted frozen MLPs (fz.folds) or dual encoders (dual_folds): the
                    slot distributions are the mean of the whole model's over each fold's; 0:
                    from the MLPs or encoder trained on all (chosen on the held-out notebooks at
                    training time) */
  rk_md_order mdo;
  float **alt_pos; /* when set (n notebooks): rk_predict_positions writes there the positions of
                      the other decoding too (rk_md_order fitted in mdo), to choose between them */
  const char *progress; /* a label: show the notebooks' progress on stderr (set by the caller) */
} rk_model;
/* Loads model directory dir, its encoders on be (NULL: the CPU; the slot MLP stays on the
 * CPU). */
int rk_model_load(rk_model *m, const char *dir, const ordo_backend *be, ordo_err *e);
/* The dual encoder of model directory dir (dir/<name>: "dual", or a fold's "dual_fold<k>") for
 * cells of dc's sizes, on be. */
int rk_dual_load(enc_model *m, const char *dir, const char *name, const rk_dual_config *dc,
                 const ordo_backend *be, ordo_err *e);
/* The cross-fitting folds of a trained dual encoder that model dir holds (ranker.json's "dual":
 * "folds" and "fold_hash", the fingerprint of their dealing: rk_fold_hash): 0 and 0 when none;
 * an error when dir holds fold encoders without a ranker.json to check them by. */
int rk_dual_folds_of(const char *dir, int *folds, uint64_t *hash, ordo_err *e);
/* The fingerprint of a dealing of the train notebooks into folds (their ids and folds). */
uint64_t rk_fold_hash(const nb_dataset *ds, const uint8_t *train, const int32_t *fold);
/* How many fold heads prediction averages over (the folds' MLPs or encoders; 1: none). */
int rk_model_fold_heads(const rk_model *m);
void rk_model_free(rk_model *m);

/* The dual cell vectors z[i] (n_cells, 2 dim) of the notebooks in mask, allocated here: the
 * dual encoder's, or the frozen route's. */
void rk_model_dual_vectors(rk_model *m, const nb_dataset *ds, const uint8_t *mask, int threads,
                           float **z);

/* Markdown positions of every notebook selected by mask (NULL: all): md_pos[i] (n_md) in
 * code-index units, allocated here for selected notebooks (NULL otherwise). */
void rk_predict_positions(rk_model *m, const nb_dataset *ds, const uint8_t *mask, int threads,
                          float **md_pos);

/* Pointwise relative slot predictions in [0, 1] of every markdown of the selected notebooks:
 * out[i] (n_md), allocated here. */
void rk_point_predict(enc_model *enc, const tok *tk, const rk_point_config *pc,
                      const nb_dataset *ds, const uint8_t *mask, int threads, float **out);

#endif
