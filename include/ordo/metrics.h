/* Training metrics written to a run directory, three ways from one record:
 *
 *  - DIR/metrics.jsonl: one JSON object per record, e.g.
 *      {"stage": "dual", "step": 12, "wall": 1795000000.25, "loss": 2.31, "lr": 0.001}
 *    (values printed exactly, %.17g; a value that is not finite is null);
 *  - DIR/tb/<stage>/events.out.tfevents.ordo: TensorBoard event files (TFRecord framing with
 *    masked CRC32C around Event protobuf messages, one scalar summary per record, tags
 *    "<stage>/<name>"), one folder per stage so that each stage is a run with its own steps;
 *  - optionally a CSV file of chosen columns (ordo train's metrics.csv).
 *
 * A stage that resumes from a checkpoint at step k keeps its records with step <= k in all
 * three files and drops the rest (a run killed mid-write leaves a torn last record: dropped). */
#ifndef ORDO_METRICS_H
#define ORDO_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "ordo/core.h"

#define METRICS_MAX_VALUES 24
#define METRICS_NAME_LEN 48

typedef struct metrics_column {
  const char *name; /* a value's name, or "step" */
  const char *fmt;  /* printf format of a double (of an int64 for "step") */
} metrics_column;

typedef struct ordo_metrics {
  char dir[4096];
  char stage[METRICS_NAME_LEN];
  FILE *jsonl, *events, *csv;
  const metrics_column *cols;
  int n_cols;
  /* the record being built */
  int64_t step;
  int n;
  char names[METRICS_MAX_VALUES][METRICS_NAME_LEN];
  double vals[METRICS_MAX_VALUES];
} ordo_metrics;

/* Records go to run directory dir (created when missing); nothing is opened yet. */
int metrics_open(ordo_metrics *m, const char *dir, ordo_err *e);
void metrics_close(ordo_metrics *m);

/* Starts (or, keep_step > 0, resumes) a stage: its earlier records with step > keep_step are
 * dropped from every file. csv_name (NULL: none) is a CSV file in dir with the given columns;
 * cols must outlive the stage. */
int metrics_stage_begin(ordo_metrics *m, const char *stage, int64_t keep_step,
                        const char *csv_name, const metrics_column *cols, int n_cols,
                        ordo_err *e);

/* One record: metrics_record_begin, metrics_record_add per value (at most METRICS_MAX_VALUES),
 * metrics_record_end writes it to every file and flushes. Names are [A-Za-z0-9_.-]. */
void metrics_record_begin(ordo_metrics *m, int64_t step);
void metrics_record_add(ordo_metrics *m, const char *name, double value);
int metrics_record_end(ordo_metrics *m, ordo_err *e);

/* Resident memory of this process now, in MB (from /proc; 0 when unknown). */
double metrics_rss_mb(void);

/* ---- the TensorBoard event format ---------------------------------------------------------- */
/* CRC32C (Castagnoli) of n bytes, and the mask TFRecord stores it under. */
uint32_t events_crc32c(const void *data, size_t n);
uint32_t events_crc_mask(uint32_t crc);

/* Appends one TFRecord (length, masked CRC of the length, data, masked CRC of the data). */
int events_write_record(FILE *f, const void *data, size_t n);
/* An Event message: wall_time, step and either file_version (n_values 0) or a summary of
 * simple_value scalars. Writes it as one record. */
int events_write_event(FILE *f, double wall, int64_t step, const char *file_version,
                       const char *const *tags, const float *values, int n_values);

/* One scalar of an event file. */
typedef struct events_scalar {
  double wall;
  int64_t step;
  char tag[2 * METRICS_NAME_LEN];
  float value;
} events_scalar;

/* What a read got: the scalars, the records read, and where and why it stopped early. */
typedef struct events_read_result {
  events_scalar *s;
  int64_t n, cap;
  int64_t records;
  int64_t bytes_read, bytes_total; /* bytes of whole, valid records; of the file */
  char stop[256];                  /* empty when the whole file was read */
} events_read_result;

/* Reads every whole record of path with valid CRCs; stops at the first torn or damaged one and
 * says so in r->stop (a damaged file is not an error: what is readable is returned). -1 when the
 * file cannot be opened. */
int events_read_file(const char *path, events_read_result *r, ordo_err *e);
void events_read_result_free(events_read_result *r);

#endif
