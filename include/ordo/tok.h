/* ordo tokenizers: byte-level BPE (GPT-2, RoBERTa, CodeBERT) and WordPiece (BERT), giving the
 * same ids as HF tokenizers, plus BPE and WordPiece trainers that write tokenizer.json.
 *
 * Loading: tok_load takes a tokenizer.json, or a directory holding tokenizer.json, or the
 * classic files (vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt).
 *
 * Thread safety: a loaded tok is read-only. tok_encode / tok_decode may be called from any
 * number of threads at once on the same tok; each call borrows a scratch slot (word cache and
 * buffers) from a small lock-free pool in the tok, or uses a private one when all are busy.
 *
 * Text is bytes. Invalid UTF-8 is documented behaviour, never a crash: each byte that does not
 * start a valid UTF-8 sequence is taken as one character of its own. Byte-level BPE encodes it
 * as that byte (so decode gives back the exact input bytes); WordPiece drops it like the
 * control characters that BERT's clean-up removes. */
#ifndef ORDO_TOK_H
#define ORDO_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "ordo/core.h"

typedef struct tok tok;

typedef enum { TOK_MODEL_BPE = 1, TOK_MODEL_WORDPIECE = 2 } tok_model_kind;

/* Special tokens whose ids the rest of the engine asks for; -1 when the tokenizer has none. */
typedef enum {
  TOK_SP_CLS = 0, /* first token of a sequence: [CLS] or <s> */
  TOK_SP_SEP,     /* separator / end: [SEP] or </s> */
  TOK_SP_BOS,
  TOK_SP_EOS,
  TOK_SP_PAD,
  TOK_SP_UNK,
  TOK_SP_MASK,
  TOK_SP_COUNT
} tok_special;

/* flags for tok_encode / tok_decode */
enum {
  TOK_ADD_SPECIAL = 1,  /* encode: add the post-processor's special tokens (CLS/SEP, <s>/</s>) */
  TOK_SKIP_SPECIAL = 2, /* decode: leave out special tokens (HF's skip_special_tokens) */
};

int tok_load(tok **t, const char *file_or_dir, ordo_err *e);
/* Loads a tokenizer.json held in memory; name is used in error messages. */
int tok_load_json(tok **t, const char *json, size_t len, const char *name, ordo_err *e);
void tok_free(tok *t);

tok_model_kind tok_kind(const tok *t);
int tok_vocab_size(const tok *t); /* model vocabulary plus added tokens: max id + 1 */
int32_t tok_token_to_id(const tok *t, const char *token); /* -1 if absent */
const char *tok_id_to_token(const tok *t, int32_t id);    /* NULL if out of range */
int32_t tok_special_id(const tok *t, tok_special which);
/* 1 when token id begins a word (whole-word masking): WordPiece, unless it carries the
 * continuation prefix ("##"); byte-level BPE, when it starts with a mapped space or control
 * byte (Ġ, Ċ, ...) or ASCII punctuation, not with a letter, digit or other byte of a word.
 * Special and unknown ids count as starts. */
int tok_starts_word(const tok *t, int32_t id);
/* Number of special tokens the post-processor adds to one sequence (pair: 0) or a pair (1). */
int tok_num_special(const tok *t, int pair);

/* Encodes len bytes of text. Writes at most max_ids ids and returns the full count, which
 * may be larger than max_ids (then call again with a bigger buffer), like snprintf. */
int tok_encode(const tok *t, const char *text, size_t len, int32_t *ids, int max_ids, int flags);

/* Encoding with the post-processor, truncation and padding, one sequence or a pair. */
typedef struct tok_enc_opts {
  int add_special; /* add the post-processor's special tokens */
  int max_len;     /* > 0: truncate to this many ids in all (specials included), longest first */
  int pad_to;      /* > 0: pad with the pad id up to this length (mask 0 there) */
} tok_enc_opts;

/* The out arrays hold cap entries; type_ids and mask may be NULL. Returns the length written
 * (<= cap), or -1 with e filled when the result does not fit or the options are inconsistent
 * (padding asked but no pad token). */
int tok_encode_ex(const tok *t, const char *a, size_t alen, const char *b, size_t blen,
                  const tok_enc_opts *o, int32_t *ids, int32_t *type_ids, uint8_t *mask, int cap,
                  ordo_err *e);

/* Batch encoding on nthreads threads (<= 0: all cores). Result ids of text i are
 * ids[offsets[i] .. offsets[i+1]). */
typedef struct tok_batch {
  int n;
  int64_t *offsets; /* (n + 1) */
  int32_t *ids;     /* (offsets[n]) */
} tok_batch;
void tok_encode_batch(const tok *t, const char *const *texts, const size_t *lens, int n, int flags,
                      int nthreads, tok_batch *out);
void tok_batch_free(tok_batch *b);

/* Decodes ids to bytes (the exact text for byte-level BPE). Writes at most cap bytes plus a
 * NUL when room, and returns the full length in bytes, like snprintf. Unknown ids are skipped. */
size_t tok_decode(const tok *t, const int32_t *ids, int n, char *out, size_t cap, int flags);

/* ---- trainers ---- */
typedef struct tok_train_opts {
  int vocab_size;    /* target size, special tokens and alphabet included */
  int min_frequency; /* pairs seen fewer times are not merged (default 2 when 0) */
  int lowercase;     /* WordPiece only: BERT uncased normalizer (1) or cased (0) */
  int progress;      /* show the merges' progress on stderr */
} tok_train_opts;

/* Trains on in-memory texts and returns a tokenizer.json (malloc'd, NUL-terminated). */
int tok_train_bpe_texts(const char *const *texts, const size_t *lens, int n,
                        const tok_train_opts *o, char **json_out, ordo_err *e);
int tok_train_wordpiece_texts(const char *const *texts, const size_t *lens, int n,
                              const tok_train_opts *o, char **json_out, ordo_err *e);
/* Trains on text files (each read whole) and writes out_path atomically. */
int tok_train_bpe(const char *const *files, int nfiles, const tok_train_opts *o,
                  const char *out_path, ordo_err *e);
int tok_train_wordpiece(const char *const *files, int nfiles, const tok_train_opts *o,
                        const char *out_path, ordo_err *e);

#endif
