/* The tokenizer a trained model keeps beside it, shared by the commands that train. */
#ifndef ORDO_MODEL_FILES_H
#define ORDO_MODEL_FILES_H

#include <stddef.h>

#include "ordo/tok.h"

/* Trains a tokenizer of vocab_size on the texts (min frequency 2): WordPiece (uncased) for the
 * encoders, byte-level BPE (bpe != 0) for causal LMs; loads it into *tk; *json gets its
 * tokenizer.json (malloc'd) for tokenizer_keep. */
int tokenizer_train(tok **tk, const char *const *texts, const size_t *lens, int n, int vocab_size,
                    int bpe, char **json, ordo_err *e);
/* Writes the model's tokenizer.json to out_path (atomically): json when given (a trained one),
 * else a copy of the tokenizer.json that `from` (the file, or a folder holding one) names; a
 * folder with only the classic files (vocab.txt, ...) has nothing to copy: 0, nothing written. */
int tokenizer_keep(const char *from, const char *json, const char *out_path, ordo_err *e);

#endif
