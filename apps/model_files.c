/* The tokenizer kept with a trained model (model_files.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_files.h"
#include "ordo/files.h"

int tokenizer_train(tok **tk, const char *const *texts, const size_t *lens, int n, int vocab_size,
                    int bpe, char **json, ordo_err *e) {
  tok_train_opts to = {.vocab_size = vocab_size, .min_frequency = 2, .lowercase = 1, .progress = 1};
  log_info("training a %s tokenizer (vocab %d) on the texts", bpe ? "byte-level BPE" : "WordPiece", vocab_size);
  *json = NULL;
  if ((bpe ? tok_train_bpe_texts(texts, lens, n, &to, json, e)
           : tok_train_wordpiece_texts(texts, lens, n, &to, json, e)) != 0)
    return -1;
  if (tok_load_json(tk, *json, strlen(*json), "trained tokenizer", e) == 0) return 0;
  free(*json);
  *json = NULL;
  return -1;
}

int tokenizer_keep(const char *from, const char *json, const char *out_path, ordo_err *e) {
  if (json) return ordo_write_file_atomic(out_path, json, strlen(json), e);
  char src[4096];
  if (ordo_is_dir(from)) snprintf(src, sizeof src, "%s/tokenizer.json", from);
  else snprintf(src, sizeof src, "%s", from);
  size_t len;
  char *txt = ordo_read_file(src, &len, NULL);
  if (!txt) return 0;
  int rc = ordo_write_file_atomic(out_path, txt, len, e);
  free(txt);
  return rc;
}
