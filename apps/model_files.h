/* The tokenizer a trained model keeps beside it, shared by the commands that train. */
#ifndef ORDO_MODEL_FILES_H
#define ORDO_MODEL_FILES_H

#include <stddef.h>

#include "ordo/tok.h"

/* Copies the tokenizer.json that `from` (a tokenizer.json, or a folder holding one) names to
 * out_path (atomically). A folder with only the classic files (vocab.txt, ...) has nothing to
 * copy: 0, nothing written. */
int tokenizer_copy(const char *from, const char *out_path, ordo_err *e);
/* Trains a WordPiece tokenizer (uncased, min frequency 2) of vocab_size on the texts, loads it
 * into *tk and writes it to out_path (atomically; NULL: not written). */
int tokenizer_train(tok **tk, const char *const *texts, const size_t *lens, int n, int vocab_size,
                    const char *out_path, ordo_err *e);

#endif
