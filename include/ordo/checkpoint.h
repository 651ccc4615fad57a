/* Training checkpoints: everything a run needs to continue bit for bit, in one directory that is
 * replaced atomically.
 *
 * DIR/manifest.json          format name and version, progress (step = data position, epoch,
 *                            RNG, run seed), schedule, loss scaler, optimizer scalars, and the
 *                            size and checksum of every file below
 * DIR/model.safetensors      float32 master weights under their HF names
 * DIR/optimizer.safetensors  moments: "<name>.exp_avg" / ".exp_avg_sq" (F32), or for 8-bit
 *                            state ".exp_avg.q8" (U8 codes, the weight's shape) and
 *                            ".exp_avg.absmax" (F32, one per block of Q8_BLOCK), plus the two
 *                            quantization maps, which must equal this build's on load
 * DIR/...                    files added by the caller's write_extra (config.json, tokenizer)
 *
 * The files hold host data whatever the backend: a save downloads the table's working copy
 * (params_download) and the optimizer state into host copies first, a load reads into host copies
 * and uploads them, so a checkpoint written on one backend resumes on another.
 *
 * A save builds DIR.tmp.<pid>, fsyncs every file and the directory, then swaps it with DIR in one
 * rename (renameat2 RENAME_EXCHANGE) and removes the old copy. A process killed at any point
 * leaves either the previous checkpoint or the new one at DIR, complete; a leftover DIR.tmp.<pid>
 * of a dead process is removed by the next save. */
#ifndef ORDO_CHECKPOINT_H
#define ORDO_CHECKPOINT_H

#include <stdint.h>

#include "ordo/core.h"
#include "ordo/optim.h"
#include "ordo/params.h"
#include "ordo/rng.h"
#include "ordo/schedule.h"

#define CKPT_FORMAT "ordo-checkpoint"
#define CKPT_VERSION 1

/* Dynamic loss scaling state (torch.cuda.amp.GradScaler's): filled by the mixed-precision step. */
typedef struct ordo_scaler_state {
  int enabled;            /* 0: no loss scaling (fp32 or bf16 runs) */
  float scale;            /* current loss scale */
  int64_t good_steps;     /* consecutive finite steps since the last change (growth tracker) */
  float growth_factor;    /* x2 ... */
  float backoff_factor;   /* x0.5 ... */
  int64_t growth_interval;/* ... after this many good steps */
  int64_t skipped_steps;  /* updates skipped on inf/NaN so far */
} ordo_scaler_state;

/* GradScaler's defaults, disabled: scale 2^16, growth 2 every 2000 good steps, backoff 0.5. */
ordo_scaler_state scaler_state_defaults(void);

/* Where the run is. `step` counts completed optimizer steps: it is the global index of the next
 * step, which is the data position (mlm_data_batch(step)), the schedule position
 * (sched_lr(step)) and the dropout key. */
typedef struct ckpt_progress {
  int64_t step;
  int64_t epoch;       /* data epoch of the next step (derivable from step; kept for logs) */
  int64_t micro_step;  /* micro-batches consumed (gradient accumulation) */
  int64_t tokens;      /* training tokens seen */
  uint64_t run_seed;   /* the run's --seed */
  ordo_rng rng;        /* the trainer's sequential stream (seed, position) */
  double loss;         /* last step's loss (for the first log line after resuming) */
} ckpt_progress;

/* What a save writes and a load fills. params and progress are required; at most one of adamw /
 * adamw8; the rest optional (NULL). A load fills existing objects, which must have been built
 * with the same structure (same specs, same optimizer kind and per-tensor state width). */
typedef struct ckpt_io {
  ordo_params *params;
  opt_adamw *adamw;
  opt_adamw8 *adamw8;
  ordo_scaler_state *scaler;
  /* Saved for checking: on load a differing schedule is reported (warning) and the caller's
   * is kept, so that extending a run with more steps still resumes. */
  sched_config *sched;
  ckpt_progress *progress;
  /* Optional: writes extra files into the directory being built (e.g. config.json). */
  int (*write_extra)(void *ctx, const char *dir, ordo_err *e);
  void *extra_ctx;
  /* Optional, for tests: called at each stage of a save ("begin", "model", "optimizer",
   * "extra", "manifest", "synced", "swapped"). */
  void (*on_stage)(void *ctx, const char *stage);
  void *stage_ctx;
} ckpt_io;

/* Writes the checkpoint atomically to dir (replacing a previous one). */
int ckpt_save(const ckpt_io *c, const char *dir, ordo_err *e);
/* Reads dir into c's objects after checking format, version, file sizes and checksums, tensor
 * names, dtypes and shapes. Errors name the file and what was expected. */
int ckpt_load(ckpt_io *c, const char *dir, ordo_err *e);
/* 1 when dir holds a manifest.json (a checkpoint to resume from), else 0. */
int ckpt_exists(const char *dir);
/* 0 when dir may receive a checkpoint: absent, an empty folder, or a checkpoint. Else -1 with
 * e naming dir (a save would refuse to replace it: callers check before the work, not after). */
int ckpt_check_dir(const char *dir, ordo_err *e);

#endif
