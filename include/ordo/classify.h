/* Text classification: labelled sets of (text, label) rows, read from CSV or JSON-lines, and
 * the evaluation report (accuracy, per-class precision, recall, F1, macro-F1, confusion).
 *
 * A set file is CSV (a header naming a "text" and a "label" column, other columns ignored;
 * RFC 4180 quoting) or JSON-lines (one object per line with a string "text" and a string or
 * integer "label"), told apart by the first non-blank byte ('{' = JSON-lines). Labels are
 * non-empty valid UTF-8 of at most CLS_MAX_LABEL_LEN bytes. */
#ifndef ORDO_CLASSIFY_H
#define ORDO_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

#include "ordo/core.h"

#define CLS_MAX_LABEL_LEN 200
#define CLS_MAX_ROWS 50000000

typedef struct cls_set {
  int64_t n;
  char **text;  /* (n) NUL-terminated */
  size_t *len;  /* (n) bytes of each text */
  char **label; /* (n); an entry is NULL for a row without a label (predict's input) */
  int64_t *line; /* (n) the line each row starts on, for messages */
} cls_set;

/* Reads path. need_labels: 1 = every row must have a label (train, eval), 0 = labels read
 * when present (predict). -1 with e naming the file, the line and what is wrong. */
int cls_set_read(cls_set *s, const char *path, int need_labels, ordo_err *e);
void cls_set_free(cls_set *s);

/* The sorted distinct labels of s (at least two, else -1 naming path: one class cannot be
 * learned). names are malloc'd copies; free with cls_labels_free. */
int cls_labels_collect(const cls_set *s, const char *path, char ***names, int *n, ordo_err *e);
void cls_labels_free(char **names, int n);
/* Maps each row's label to its index in names (sorted, as cls_labels_collect gives them). A
 * label not in the set is an error naming the file, the row's line and the label. */
int cls_labels_index(const cls_set *s, const char *path, char *const *names, int n, int32_t *ids,
                     ordo_err *e);

/* Evaluation of predictions against the truth over L classes. Precision of a class never
 * predicted, recall of a class absent from the truth and F1 when both are 0 are 0. macro_f1
 * averages F1 over the classes present in the truth or the predictions (sklearn's
 * f1_score(average="macro") without a labels argument). */
typedef struct cls_report {
  int L;
  int64_t n, correct;
  int64_t *confusion; /* (L, L): [truth][prediction] counts */
  int64_t *support;   /* (L) rows of each true class */
  int64_t *predicted; /* (L) rows predicted as each class */
  double *precision, *recall, *f1; /* (L) */
  double accuracy, macro_f1;
} cls_report;

void cls_report_compute(cls_report *r, const int32_t *truth, const int32_t *pred, int64_t n, int L);
void cls_report_free(cls_report *r);

#endif
