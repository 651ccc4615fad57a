/* Training checkpoints: one directory, built beside the target and swapped in atomically.
 * See include/ordo/checkpoint.h for the layout. */
#include "ordo/checkpoint.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ordo/files.h"
#include "ordo/json_file.h"
#include "ordo/safetensors.h"

#define CKPT_MANIFEST "manifest.json"
#define CKPT_MODEL "model.safetensors"
#define CKPT_OPTIM "optimizer.safetensors"
#define CKPT_PATH_MAX 4096

ordo_scaler_state scaler_state_defaults(void) {
  return (ordo_scaler_state){.enabled = 0, .scale = 65536.0f, .good_steps = 0,
                             .growth_factor = 2.0f, .backoff_factor = 0.5f,
                             .growth_interval = 2000, .skipped_steps = 0};
}

/* ---- small file-system helpers ------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

/* rm -r; a missing path is not an error. */
static int remove_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
  return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fsync_path(const char *path, int directory) {
  int fd = open(path, (directory ? O_DIRECTORY : 0) | O_RDONLY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* dir without trailing slashes, and its parent directory. */
static int split_dir(const char *dir, char *clean, char *parent, ordo_err *e) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  if (n == 0 || n >= CKPT_PATH_MAX - 64) return ordo_fail(e, "checkpoint path '%s' is empty or too long", dir);
  memcpy(clean, dir, n);
  clean[n] = 0;
  const char *slash = strrchr(clean, '/');
  if (!slash) snprintf(parent, CKPT_PATH_MAX, ".");
  else if (slash == clean) snprintf(parent, CKPT_PATH_MAX, "/");
  else snprintf(parent, CKPT_PATH_MAX, "%.*s", (int)(slash - clean), clean);
  return 0;
}

/* Removes BASE.tmp.<pid> siblings left by processes that no longer exist (killed mid-save). */
static void remove_stale_tmp(const char *clean, const char *parent) {
  const char *slash = strrchr(clean, '/');
  const char *base = slash ? slash + 1 : clean;
  char prefix[CKPT_PATH_MAX + 16];
  snprintf(prefix, sizeof prefix, "%s.tmp.", base);
  size_t plen = strlen(prefix);
  DIR *d = opendir(parent);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (strncmp(de->d_name, prefix, plen) != 0) continue;
    char *end;
    long pid = strtol(de->d_name + plen, &end, 10);
    if (*end || pid <= 0) continue;
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
    char path[CKPT_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", parent, de->d_name);
    log_info("removing %s, left by an interrupted save", path);
    remove_tree(path);
  }
  closedir(d);
}

/* 64-bit checksum of a file: FNV-1a over 8-byte little-endian words (the tail zero-padded),
 * then a final avalanche. It guards against truncated or altered files, not against tampering. */
static int file_h64(const char *path, uint64_t *h_out, uint64_t *bytes, ordo_err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return ordo_fail(e, "%s: cannot open: %s", path, strerror(errno));
  uint64_t h = 0xcbf29ce484222325ull, n = 0;
  enum { CH = 1 << 20 };
  unsigned char *buf = ordo_malloc(CH + 8);
  size_t got;
  while ((got = fread(buf, 1, CH, f)) > 0) {
    n += got;
    size_t words = (got + 7) / 8;
    memset(buf + got, 0, words * 8 - got);
    for (size_t i = 0; i < words; i++) {
      uint64_t w;
      memcpy(&w, buf + 8 * i, 8);
      h = (h ^ w) * 0x100000001b3ull;
    }
  }
  int err = ferror(f);
  fclose(f);
  free(buf);
  if (err) return ordo_fail(e, "%s: read error", path);
  h ^= n;
  h ^= h >> 33, h *= 0xff51afd7ed558ccdull, h ^= h >> 33;
  *h_out = h;
  *bytes = n;
  return 0;
}

/* ---- save ---------------------------------------------------------------------------------- */

static void stage(const ckpt_io *c, const char *name) {
  if (c->on_stage) c->on_stage(c->stage_ctx, name);
}

static int save_model(const ckpt_io *c, const char *path, ordo_err *e) {
  const ordo_params *p = c->params;
  st_writer w;
  st_writer_init(&w);
  st_writer_meta(&w, "format", "pt");
  /* float32 whatever the spec's export dtype: resuming needs the master weights exactly */
  for (int i = 0; i < p->n; i++)
    st_writer_add(&w, p->specs[i].name, ORDO_DT_F32, p->specs[i].ndim, p->specs[i].shape,
                  p->data + p->specs[i].offset);
  int rc = st_writer_save(&w, path, e);
  st_writer_free(&w);
  return rc;
}

static void tensor_name(char *out, const char *spec, const char *suffix) {
  snprintf(out, ORDO_NAME_MAX + 32, "%s%s", spec, suffix);
}

static int save_optimizer(const ckpt_io *c, const char *path, ordo_err *e) {
  const ordo_params *p = c->params;
  st_writer w;
  st_writer_init(&w);
  char name[ORDO_NAME_MAX + 32];
  if (c->adamw) {
    st_writer_meta(&w, "optimizer", "adamw");
    for (int i = 0; i < p->n; i++) {
      const ordo_param_spec *s = &p->specs[i];
      if (s->flags & ORDO_PF_FROZEN) continue;
      tensor_name(name, s->name, ".exp_avg");
      st_writer_add(&w, name, ORDO_DT_F32, s->ndim, s->shape, c->adamw->m + s->offset);
      tensor_name(name, s->name, ".exp_avg_sq");
      st_writer_add(&w, name, ORDO_DT_F32, s->ndim, s->shape, c->adamw->v + s->offset);
    }
  } else {
    const opt_adamw8 *o = c->adamw8;
    st_writer_meta(&w, "optimizer", "adamw8");
    int64_t mshape[1] = {256};
    st_writer_add(&w, "__map.signed", ORDO_DT_F32, 1, mshape, o->map_m.v);
    st_writer_add(&w, "__map.unsigned", ORDO_DT_F32, 1, mshape, o->map_v.v);
    for (int i = 0; i < p->n; i++) {
      const ordo_param_spec *s = &p->specs[i];
      const adamw8_spec *os = &o->spec[i];
      if (os->bits == 32) {
        tensor_name(name, s->name, ".exp_avg");
        st_writer_add(&w, name, ORDO_DT_F32, s->ndim, s->shape, o->m32 + os->off);
        tensor_name(name, s->name, ".exp_avg_sq");
        st_writer_add(&w, name, ORDO_DT_F32, s->ndim, s->shape, o->v32 + os->off);
      } else if (os->bits == 8) {
        int64_t nb[1] = {(s->numel + Q8_BLOCK - 1) / Q8_BLOCK};
        tensor_name(name, s->name, ".exp_avg.q8");
        st_writer_add(&w, name, ORDO_DT_U8, s->ndim, s->shape, o->qm + os->off);
        tensor_name(name, s->name, ".exp_avg.absmax");
        st_writer_add(&w, name, ORDO_DT_F32, 1, nb, o->sm + os->block_off);
        tensor_name(name, s->name, ".exp_avg_sq.q8");
        st_writer_add(&w, name, ORDO_DT_U8, s->ndim, s->shape, o->qv + os->off);
        tensor_name(name, s->name, ".exp_avg_sq.absmax");
        st_writer_add(&w, name, ORDO_DT_F32, 1, nb, o->sv + os->block_off);
      }
    }
  }
  int rc = st_writer_save(&w, path, e);
  st_writer_free(&w);
  return rc;
}

/* save_optimizer from host copies of the state (the state itself on a host-memory backend). */
static int save_optimizer_host(const ckpt_io *c, const char *path, ordo_err *e) {
  ckpt_io h = *c;
  opt_adamw ha;
  opt_adamw8 h8;
  if (c->adamw) opt_adamw_to_host(c->adamw, &ha), h.adamw = &ha;
  if (c->adamw8) opt_adamw8_to_host(c->adamw8, &h8), h.adamw8 = &h8;
  int rc = save_optimizer(&h, path, e);
  if (c->adamw) opt_adamw_from_host(c->adamw, &ha, 0);
  if (c->adamw8) opt_adamw8_from_host(c->adamw8, &h8, 0);
  return rc;
}

static void json_u64(cJSON *obj, const char *key, uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  cJSON_AddStringToObject(obj, key, buf);
}

static int add_file_entry(cJSON *files, const char *dir, const char *name, ordo_err *e) {
  char path[CKPT_PATH_MAX * 2];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  uint64_t h, n;
  if (file_h64(path, &h, &n, e) != 0) return -1;
  cJSON *f = cJSON_AddObjectToObject(files, name);
  cJSON_AddNumberToObject(f, "bytes", (double)n);
  char hex[24];
  snprintf(hex, sizeof hex, "%016" PRIx64, h);
  cJSON_AddStringToObject(f, "h64", hex);
  return 0;
}

static char *manifest_json(const ckpt_io *c, const char *tmp, ordo_err *e) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", CKPT_FORMAT);
  cJSON_AddNumberToObject(root, "version", CKPT_VERSION);

  const ckpt_progress *pr = c->progress;
  cJSON *jp = cJSON_AddObjectToObject(root, "progress");
  cJSON_AddNumberToObject(jp, "step", (double)pr->step);
  cJSON_AddNumberToObject(jp, "epoch", (double)pr->epoch);
  cJSON_AddNumberToObject(jp, "micro_step", (double)pr->micro_step);
  cJSON_AddNumberToObject(jp, "tokens", (double)pr->tokens);
  json_u64(jp, "run_seed", pr->run_seed);
  json_u64(jp, "rng_seed", pr->rng.seed);
  json_u64(jp, "rng_pos", pr->rng.pos);
  /* a skipped fp16 step can leave an infinite loss: JSON has no inf, so it is written as null */
  if (isfinite(pr->loss)) cJSON_AddNumberToObject(jp, "loss", pr->loss);
  else cJSON_AddNullToObject(jp, "loss");

  if (c->sched) {
    cJSON *js = cJSON_AddObjectToObject(root, "schedule");
    const char *kinds[] = {"linear", "cosine", "constant"};
    cJSON_AddStringToObject(js, "kind", (unsigned)c->sched->kind < 3 ? kinds[c->sched->kind] : "?");
    cJSON_AddNumberToObject(js, "lr", c->sched->lr);
    cJSON_AddNumberToObject(js, "warmup_steps", (double)c->sched->warmup_steps);
    cJSON_AddNumberToObject(js, "total_steps", (double)c->sched->total_steps);
    cJSON_AddNumberToObject(js, "min_lr", c->sched->min_lr);
  }
  if (c->scaler) {
    const ordo_scaler_state *s = c->scaler;
    cJSON *jsc = cJSON_AddObjectToObject(root, "scaler");
    cJSON_AddBoolToObject(jsc, "enabled", s->enabled != 0);
    cJSON_AddNumberToObject(jsc, "scale", s->scale);
    cJSON_AddNumberToObject(jsc, "good_steps", (double)s->good_steps);
    cJSON_AddNumberToObject(jsc, "growth_factor", s->growth_factor);
    cJSON_AddNumberToObject(jsc, "backoff_factor", s->backoff_factor);
    cJSON_AddNumberToObject(jsc, "growth_interval", (double)s->growth_interval);
    cJSON_AddNumberToObject(jsc, "skipped_steps", (double)s->skipped_steps);
  }
  cJSON *jo = cJSON_AddObjectToObject(root, "optimizer");
  const adamw_config *ac = c->adamw ? &c->adamw->cfg : c->adamw8 ? &c->adamw8->cfg : NULL;
  cJSON_AddStringToObject(jo, "type", c->adamw ? "adamw" : c->adamw8 ? "adamw8" : "none");
  if (ac) {
    cJSON_AddNumberToObject(jo, "step", (double)(c->adamw ? c->adamw->t : c->adamw8->t));
    cJSON_AddNumberToObject(jo, "beta1", ac->beta1);
    cJSON_AddNumberToObject(jo, "beta2", ac->beta2);
    cJSON_AddNumberToObject(jo, "eps", ac->eps);
    cJSON_AddNumberToObject(jo, "weight_decay", ac->weight_decay);
  }
  if (c->adamw8) {
    int64_t n8, n32;
    opt_adamw8_counts(c->adamw8, c->params, &n8, &n32);
    cJSON_AddNumberToObject(jo, "block", Q8_BLOCK);
    cJSON_AddNumberToObject(jo, "values_8bit", (double)n8);
    cJSON_AddNumberToObject(jo, "values_32bit", (double)n32);
    cJSON_AddNumberToObject(jo, "state_bytes", (double)opt_adamw8_state_bytes(c->adamw8));
  }
  cJSON *jm = cJSON_AddObjectToObject(root, "params");
  cJSON_AddNumberToObject(jm, "tensors", c->params->n);
  cJSON_AddNumberToObject(jm, "values", (double)params_count(c->params, 0));

  cJSON *files = cJSON_AddObjectToObject(root, "files");
  char *out = NULL;
  if (add_file_entry(files, tmp, CKPT_MODEL, e) == 0 &&
      (!(c->adamw || c->adamw8) || add_file_entry(files, tmp, CKPT_OPTIM, e) == 0))
    out = cJSON_Print(root);
  cJSON_Delete(root);
  return out;
}

static int dir_is_empty_or_absent(const char *path) {
  int r = ordo_dir_first_entry(path, NULL, 0);
  return r == 0 || (r < 0 && errno == ENOENT);
}

int ckpt_save(const ckpt_io *c, const char *dir, ordo_err *e) {
  ORDO_CHECK(c->params && c->params->data && c->progress);
  ORDO_CHECKF(!(c->adamw && c->adamw8), "ckpt_save: at most one optimizer");
  if (c->adamw8) ORDO_CHECK(c->adamw8->n_specs == c->params->n);
  if (c->adamw) ORDO_CHECK(c->adamw->n == c->params->total);
  char clean[CKPT_PATH_MAX], parent[CKPT_PATH_MAX], tmp[CKPT_PATH_MAX + 32], path[CKPT_PATH_MAX * 2];
  if (split_dir(dir, clean, parent, e) != 0) return -1;
  /* the swap replaces DIR wholesale: never do that to a directory that is not a checkpoint */
  if (ckpt_check_dir(clean, e) != 0) return -1;
  remove_stale_tmp(clean, parent);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", clean, (long)getpid());
  remove_tree(tmp);
  if (mkdir(tmp, 0755) != 0)
    return ordo_fail(e, "%s: cannot create directory: %s", tmp, strerror(errno));
  stage(c, "begin");
  char *json = NULL;
  snprintf(path, sizeof path, "%s/%s", tmp, CKPT_MODEL);
  params_download(c->params); /* the working copy's weights into the host image */
  if (save_model(c, path, e) != 0) goto fail;
  stage(c, "model");
  if (c->adamw || c->adamw8) {
    snprintf(path, sizeof path, "%s/%s", tmp, CKPT_OPTIM);
    if (save_optimizer_host(c, path, e) != 0) goto fail;
  }
  stage(c, "optimizer");
  if (c->write_extra && c->write_extra(c->extra_ctx, tmp, e) != 0) goto fail;
  stage(c, "extra");
  /* the manifest last: its checksums cover the files as written */
  json = manifest_json(c, tmp, e);
  if (!json) goto fail;
  snprintf(path, sizeof path, "%s/%s", tmp, CKPT_MANIFEST);
  if (ordo_write_file_atomic(path, json, strlen(json), e) != 0) goto fail;
  free(json);
  json = NULL;
  stage(c, "manifest");
  if (fsync_path(tmp, 1) != 0) {
    ordo_fail(e, "%s: cannot sync directory: %s", tmp, strerror(errno));
    goto fail;
  }
  stage(c, "synced");
  struct stat sb;
  if (lstat(clean, &sb) == 0) {
    if (!S_ISDIR(sb.st_mode)) {
      ordo_fail(e, "%s: exists and is not a directory", clean);
      goto fail;
    }
    /* one atomic swap: DIR is the old checkpoint or the new one at every instant */
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, clean, RENAME_EXCHANGE) == 0) {
      stage(c, "swapped");
      remove_tree(tmp); /* now the previous checkpoint */
    } else if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
      /* a file system without exchange: two renames. Between them DIR is absent and the
       * previous checkpoint sits at DIR.old.<pid> (ckpt_load says so if it finds DIR missing) */
      char old[CKPT_PATH_MAX + 32];
      snprintf(old, sizeof old, "%s.old.%ld", clean, (long)getpid());
      remove_tree(old);
      if (rename(clean, old) != 0 || rename(tmp, clean) != 0) {
        ordo_fail(e, "%s: cannot move the new checkpoint into place: %s", clean, strerror(errno));
        goto fail;
      }
      stage(c, "swapped");
      remove_tree(old);
    } else {
      ordo_fail(e, "%s: cannot swap in the new checkpoint: %s", clean, strerror(errno));
      goto fail;
    }
  } else if (rename(tmp, clean) != 0) {
    ordo_fail(e, "%s: cannot rename into place: %s", clean, strerror(errno));
    goto fail;
  }
  if (fsync_path(parent, 1) != 0)
    return ordo_fail(e, "%s: cannot sync directory: %s", parent, strerror(errno));
  return 0;
fail:
  free(json);
  remove_tree(tmp);
  return -1;
}

int ckpt_check_dir(const char *dir, ordo_err *e) {
  if (ckpt_exists(dir) || dir_is_empty_or_absent(dir)) return 0;
  return ordo_fail(e, "%s: exists and is not a checkpoint (no %s): refusing to replace it (move "
                   "it away, or choose another output folder)", dir, CKPT_MANIFEST);
}

int ckpt_exists(const char *dir) {
  char path[CKPT_PATH_MAX * 2];
  snprintf(path, sizeof path, "%s/%s", dir, CKPT_MANIFEST);
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ---- load ---------------------------------------------------------------------------------- */

/* Manifest accessors: each failure names the file and the key. */
static int get_obj(const cJSON *o, const char *key, const char *file, const cJSON **out, ordo_err *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsObject(v)) return ordo_fail(e, "%s: key '%s' missing or not an object", file, key);
  *out = v;
  return 0;
}

static int get_num(const cJSON *o, const char *key, const char *file, double *out, ordo_err *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsNumber(v)) return ordo_fail(e, "%s: key '%s' missing or not a number", file, key);
  *out = v->valuedouble;
  return 0;
}

static int get_i64(const cJSON *o, const char *key, const char *file, int64_t *out, ordo_err *e) {
  double d = 0;
  if (get_num(o, key, file, &d, e) != 0) return -1;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
    return ordo_fail(e, "%s: key '%s' must be a non-negative integer, got %g", file, key, d);
  *out = (int64_t)d;
  return 0;
}

static int get_f32(const cJSON *o, const char *key, const char *file, float *out, ordo_err *e) {
  double d = 0;
  if (get_num(o, key, file, &d, e) != 0) return -1;
  if (!isfinite(d)) return ordo_fail(e, "%s: key '%s' is not finite", file, key);
  *out = (float)d;
  return 0;
}

static int get_u64s(const cJSON *o, const char *key, const char *file, uint64_t *out, ordo_err *e) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!cJSON_IsString(v)) return ordo_fail(e, "%s: key '%s' missing or not a string", file, key);
  const char *s = v->valuestring;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (!*s || *end || errno || s[0] == '-')
    return ordo_fail(e, "%s: key '%s' must be a decimal unsigned 64-bit integer, got '%s'", file, key, s);
  *out = (uint64_t)x;
  return 0;
}

static int check_file(const cJSON *files, const char *dir, const char *name, const char *mpath,
                      ordo_err *e) {
  const cJSON *f = NULL;
  if (get_obj(files, name, mpath, &f, e) != 0) return -1;
  int64_t want;
  if (get_i64(f, "bytes", mpath, &want, e) != 0) return -1;
  const cJSON *hx = cJSON_GetObjectItemCaseSensitive(f, "h64");
  if (!cJSON_IsString(hx)) return ordo_fail(e, "%s: files.%s.h64 missing", mpath, name);
  char path[CKPT_PATH_MAX * 2];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  uint64_t h, n;
  if (file_h64(path, &h, &n, e) != 0) return -1;
  if ((int64_t)n != want)
    return ordo_fail(e, "%s: %lld bytes, the manifest expects %lld (truncated or replaced)", path,
                     (long long)n, (long long)want);
  char hex[24];
  snprintf(hex, sizeof hex, "%016" PRIx64, h);
  if (strcmp(hex, hx->valuestring) != 0)
    return ordo_fail(e, "%s: checksum %s, the manifest expects %s (the file is corrupt)", path, hex,
                     hx->valuestring);
  return 0;
}

/* The tensor `name` with exactly this dtype and shape, or an error naming the file. */
static int want_tensor(const st_file *f, const char *name, ordo_dtype dt, int ndim,
                       const int64_t *shape, const st_tensor **out, ordo_err *e) {
  const st_tensor *t = st_find(f, name);
  if (!t) return ordo_fail(e, "%s: missing tensor '%s'", f->path, name);
  int same = t->dtype == dt && t->ndim == ndim;
  for (int k = 0; same && k < ndim; k++) same = t->shape[k] == shape[k];
  if (!same) {
    char a[96] = "", b[96] = "";
    size_t na = 0, nb = 0;
    for (int k = 0; k < ndim && na < sizeof a; k++)
      na += (size_t)snprintf(a + na, sizeof a - na, "%s%lld", k ? "," : "", (long long)shape[k]);
    for (int k = 0; k < t->ndim && nb < sizeof b; k++)
      nb += (size_t)snprintf(b + nb, sizeof b - nb, "%s%lld", k ? "," : "", (long long)t->shape[k]);
    return ordo_fail(e, "%s: tensor '%s' is %s [%s], expected %s [%s]", f->path, name,
                     dtype_name(t->dtype), b, dtype_name(dt), a);
  }
  *out = t;
  return 0;
}

/* Every tensor of the file must be one we asked for: counts must agree. */
static int check_count(const st_file *f, int expected, ordo_err *e) {
  if (f->n == expected) return 0;
  return ordo_fail(e, "%s: %d tensors, expected %d (the checkpoint is of a different model or "
                   "optimizer configuration)", f->path, f->n, expected);
}

/* Checks (copy == 0) or copies (copy == 1) the weights. */
static int model_pass(ckpt_io *c, const st_file *f, int copy, ordo_err *e) {
  ordo_params *p = c->params;
  const st_tensor *t;
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    if (want_tensor(f, s->name, ORDO_DT_F32, s->ndim, s->shape, &t, e) != 0) return -1;
    if (copy) memcpy(p->data + s->offset, t->data, t->nbytes);
  }
  return copy ? 0 : check_count(f, p->n, e);
}

/* Checks (copy == 0) or copies (copy == 1) the optimizer tensors. */
static int optim_pass(ckpt_io *c, const st_file *f, int copy, ordo_err *e) {
  const ordo_params *p = c->params;
  char name[ORDO_NAME_MAX + 32];
  const st_tensor *t;
  int expected = 0;
  if (c->adamw) {
    for (int i = 0; i < p->n; i++) {
      const ordo_param_spec *s = &p->specs[i];
      if (s->flags & ORDO_PF_FROZEN) continue;
      float *dst[2] = {c->adamw->m + s->offset, c->adamw->v + s->offset};
      const char *suf[2] = {".exp_avg", ".exp_avg_sq"};
      for (int k = 0; k < 2; k++) {
        tensor_name(name, s->name, suf[k]);
        if (want_tensor(f, name, ORDO_DT_F32, s->ndim, s->shape, &t, e) != 0) return -1;
        if (copy) memcpy(dst[k], t->data, t->nbytes);
        expected++;
      }
    }
    return copy ? 0 : check_count(f, expected, e);
  }
  opt_adamw8 *o = c->adamw8;
  int64_t mshape[1] = {256};
  const q8_map *maps[2] = {&o->map_m, &o->map_v};
  const char *mnames[2] = {"__map.signed", "__map.unsigned"};
  for (int k = 0; k < 2; k++) {
    if (want_tensor(f, mnames[k], ORDO_DT_F32, 1, mshape, &t, e) != 0) return -1;
    if (memcmp(t->data, maps[k]->v, sizeof maps[k]->v) != 0)
      return ordo_fail(e, "%s: quantization map '%s' differs from this build's: the 8-bit state "
                       "cannot be decoded", f->path, mnames[k]);
    expected++;
  }
  for (int i = 0; i < p->n; i++) {
    const ordo_param_spec *s = &p->specs[i];
    const adamw8_spec *os = &o->spec[i];
    if (os->bits == 0) continue;
    const char *other = os->bits == 8 ? ".exp_avg" : ".exp_avg.q8";
    tensor_name(name, s->name, other);
    if (st_find(f, name))
      return ordo_fail(e, "%s: '%s' holds %d-bit optimizer state but this run keeps it in %d bits "
                       "(match the 8-bit settings: min size, 32-bit patterns)", f->path, s->name,
                       os->bits == 8 ? 32 : 8, os->bits);
    if (os->bits == 32) {
      float *dst[2] = {o->m32 + os->off, o->v32 + os->off};
      const char *suf[2] = {".exp_avg", ".exp_avg_sq"};
      for (int k = 0; k < 2; k++) {
        tensor_name(name, s->name, suf[k]);
        if (want_tensor(f, name, ORDO_DT_F32, s->ndim, s->shape, &t, e) != 0) return -1;
        if (copy) memcpy(dst[k], t->data, t->nbytes);
        expected++;
      }
    } else {
      int64_t nb[1] = {(s->numel + Q8_BLOCK - 1) / Q8_BLOCK};
      uint8_t *codes[2] = {o->qm + os->off, o->qv + os->off};
      float *scales[2] = {o->sm + os->block_off, o->sv + os->block_off};
      const char *suf[2] = {".exp_avg", ".exp_avg_sq"};
      for (int k = 0; k < 2; k++) {
        char qn[ORDO_NAME_MAX + 32], sn[ORDO_NAME_MAX + 64];
        snprintf(qn, sizeof qn, "%s%s.q8", s->name, suf[k]);
        snprintf(sn, sizeof sn, "%s%s.absmax", s->name, suf[k]);
        if (want_tensor(f, qn, ORDO_DT_U8, s->ndim, s->shape, &t, e) != 0) return -1;
        if (copy) memcpy(codes[k], t->data, t->nbytes);
        if (want_tensor(f, sn, ORDO_DT_F32, 1, nb, &t, e) != 0) return -1;
        if (copy) memcpy(scales[k], t->data, t->nbytes);
        expected += 2;
      }
    }
  }
  return copy ? 0 : check_count(f, expected, e);
}

static int optim_kind(const ckpt_io *c, const st_file *f, ordo_err *e) {
  const char *kind = st_metadata(f, "optimizer");
  const char *want = c->adamw ? "adamw" : "adamw8";
  if (!kind || strcmp(kind, want) != 0)
    return ordo_fail(e, "%s: optimizer state of type '%s', this run uses '%s'", f->path,
                     kind ? kind : "(none)", want);
  return 0;
}

static void warn_diff_f(const char *file, const char *what, double saved, double now) {
  if (saved != now)
    log_warn("%s: %s was %.9g when saved, now %.9g: continuing with the current value", file, what,
             saved, now);
}

/* A save on a file system without rename-exchange that died between its two renames leaves
 * the previous checkpoint at DIR.old.<pid>: name it in the error instead of guessing. */
static void find_old_copy(const char *dir, char *hint, size_t cap) {
  char clean[CKPT_PATH_MAX], parent[CKPT_PATH_MAX];
  ordo_err ignore;
  if (split_dir(dir, clean, parent, &ignore) != 0) return;
  const char *slash = strrchr(clean, '/');
  char prefix[CKPT_PATH_MAX + 16];
  snprintf(prefix, sizeof prefix, "%s.old.", slash ? slash + 1 : clean);
  DIR *d = opendir(parent);
  struct dirent *de;
  while (d && (de = readdir(d)))
    if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
      snprintf(hint, cap, " (an interrupted save left the previous checkpoint at %s/%s: rename it "
               "back to resume)", parent, de->d_name);
      break;
    }
  if (d) closedir(d);
}

int ckpt_load(ckpt_io *c, const char *dir, ordo_err *e) {
  ORDO_CHECK(c->params && c->params->data && c->progress);
  ORDO_CHECKF(!(c->adamw && c->adamw8), "ckpt_load: at most one optimizer");
  char mpath[CKPT_PATH_MAX * 2], path[CKPT_PATH_MAX * 2];
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    char hint[CKPT_PATH_MAX * 2] = "";
    find_old_copy(dir, hint, sizeof hint);
    return ordo_fail(e, "%s: no such checkpoint directory%s", dir, hint);
  }
  snprintf(mpath, sizeof mpath, "%s/%s", dir, CKPT_MANIFEST);
  cJSON *root = ordo_json_read(mpath, e);
  if (!root) return -1;
  int rc = -1;
  const cJSON *jp = NULL, *jo = NULL, *files = NULL, *jm = NULL;
  double ver = 0;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, CKPT_FORMAT) != 0) {
    ordo_fail(e, "%s: 'format' must be \"%s\"", mpath, CKPT_FORMAT);
    goto done;
  }
  if (get_num(root, "version", mpath, &ver, e) != 0) goto done;
  if (ver != CKPT_VERSION) {
    ordo_fail(e, "%s: checkpoint format version %g, this build reads version %d", mpath, ver,
              CKPT_VERSION);
    goto done;
  }
  if (get_obj(root, "progress", mpath, &jp, e) != 0 || get_obj(root, "optimizer", mpath, &jo, e) != 0 ||
      get_obj(root, "files", mpath, &files, e) != 0 || get_obj(root, "params", mpath, &jm, e) != 0)
    goto done;

  /* structure before contents */
  int64_t ntens;
  if (get_i64(jm, "tensors", mpath, &ntens, e) != 0) goto done;
  if (ntens != c->params->n) {
    ordo_fail(e, "%s: the checkpoint has %lld parameter tensors, this model %d", mpath,
              (long long)ntens, c->params->n);
    goto done;
  }
  const cJSON *jt = cJSON_GetObjectItemCaseSensitive(jo, "type");
  const char *want = c->adamw ? "adamw" : c->adamw8 ? "adamw8" : NULL;
  if (!cJSON_IsString(jt)) {
    ordo_fail(e, "%s: optimizer.type missing", mpath);
    goto done;
  }
  if (want && strcmp(jt->valuestring, want) != 0) {
    ordo_fail(e, "%s: optimizer state is '%s', this run uses '%s'", mpath, jt->valuestring, want);
    goto done;
  }
  int64_t opt_t = 0;
  if (want) {
    float b1, b2, eps;
    if (get_i64(jo, "step", mpath, &opt_t, e) != 0 || get_f32(jo, "beta1", mpath, &b1, e) != 0 ||
        get_f32(jo, "beta2", mpath, &b2, e) != 0 || get_f32(jo, "eps", mpath, &eps, e) != 0)
      goto done;
    const adamw_config *ac = c->adamw ? &c->adamw->cfg : &c->adamw8->cfg;
    warn_diff_f(mpath, "beta1", b1, ac->beta1);
    warn_diff_f(mpath, "beta2", b2, ac->beta2);
    warn_diff_f(mpath, "eps", eps, ac->eps);
  }
  ckpt_progress pr = {0};
  if (get_i64(jp, "step", mpath, &pr.step, e) != 0 || get_i64(jp, "epoch", mpath, &pr.epoch, e) != 0 ||
      get_i64(jp, "micro_step", mpath, &pr.micro_step, e) != 0 ||
      get_i64(jp, "tokens", mpath, &pr.tokens, e) != 0 ||
      get_u64s(jp, "run_seed", mpath, &pr.run_seed, e) != 0 ||
      get_u64s(jp, "rng_seed", mpath, &pr.rng.seed, e) != 0 ||
      get_u64s(jp, "rng_pos", mpath, &pr.rng.pos, e) != 0)
    goto done;
  const cJSON *jl = cJSON_GetObjectItemCaseSensitive(jp, "loss");
  pr.loss = cJSON_IsNumber(jl) ? jl->valuedouble : NAN;
  ordo_scaler_state sc = scaler_state_defaults();
  const cJSON *jsc = cJSON_GetObjectItemCaseSensitive(root, "scaler");
  if (c->scaler && jsc) {
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(jsc, "enabled");
    if (!cJSON_IsBool(en)) {
      ordo_fail(e, "%s: scaler.enabled missing or not a boolean", mpath);
      goto done;
    }
    sc.enabled = cJSON_IsTrue(en);
    if (get_f32(jsc, "scale", mpath, &sc.scale, e) != 0 ||
        get_i64(jsc, "good_steps", mpath, &sc.good_steps, e) != 0 ||
        get_f32(jsc, "growth_factor", mpath, &sc.growth_factor, e) != 0 ||
        get_f32(jsc, "backoff_factor", mpath, &sc.backoff_factor, e) != 0 ||
        get_i64(jsc, "growth_interval", mpath, &sc.growth_interval, e) != 0 ||
        get_i64(jsc, "skipped_steps", mpath, &sc.skipped_steps, e) != 0)
      goto done;
  } else if (c->scaler && !jsc) {
    log_warn("%s: no loss-scaler state saved: starting the scaler afresh", mpath);
  }
  const cJSON *js = cJSON_GetObjectItemCaseSensitive(root, "schedule");
  if (c->sched && js) {
    sched_config s = {0};
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(js, "kind");
    if (!cJSON_IsString(k) || sched_kind_parse(k->valuestring, &s.kind) != 0) {
      ordo_fail(e, "%s: schedule.kind must be linear, cosine or constant", mpath);
      goto done;
    }
    if (get_f32(js, "lr", mpath, &s.lr, e) != 0 ||
        get_i64(js, "warmup_steps", mpath, &s.warmup_steps, e) != 0 ||
        get_i64(js, "total_steps", mpath, &s.total_steps, e) != 0 ||
        get_f32(js, "min_lr", mpath, &s.min_lr, e) != 0)
      goto done;
    if (s.kind != c->sched->kind)
      log_warn("%s: the schedule kind differs from the saved one: continuing with the current", mpath);
    warn_diff_f(mpath, "schedule lr", s.lr, c->sched->lr);
    warn_diff_f(mpath, "warmup steps", (double)s.warmup_steps, (double)c->sched->warmup_steps);
    warn_diff_f(mpath, "total steps", (double)s.total_steps, (double)c->sched->total_steps);
    warn_diff_f(mpath, "min lr", s.min_lr, c->sched->min_lr);
  }

  /* files: sizes and checksums, then contents (each load checks before it copies) */
  if (check_file(files, dir, CKPT_MODEL, mpath, e) != 0) goto done;
  if (want && check_file(files, dir, CKPT_OPTIM, mpath, e) != 0) goto done;
  /* every tensor is checked in both files before anything is copied: a failed load leaves
   * the caller's objects as they were */
  st_file fm = {0}, fo = {0};
  snprintf(path, sizeof path, "%s/%s", dir, CKPT_MODEL);
  if (st_open(&fm, path, e) != 0) goto done;
  if (want) {
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_OPTIM);
    if (st_open(&fo, path, e) != 0) {
      st_close(&fm);
      goto done;
    }
  }
  int ok = model_pass(c, &fm, 0, e) == 0 &&
           (!want || (optim_kind(c, &fo, e) == 0 && optim_pass(c, &fo, 0, e) == 0));
  if (ok) {
    model_pass(c, &fm, 1, e);
    params_upload(c->params); /* the host image into the working copy */
    if (want) { /* read into host copies of the state, then uploaded */
      ckpt_io h = *c;
      opt_adamw ha;
      opt_adamw8 h8;
      if (c->adamw) opt_adamw_to_host(c->adamw, &ha), h.adamw = &ha, ha.t = opt_t;
      if (c->adamw8) opt_adamw8_to_host(c->adamw8, &h8), h.adamw8 = &h8, h8.t = opt_t;
      optim_pass(&h, &fo, 1, e);
      if (c->adamw) opt_adamw_from_host(c->adamw, &ha, 1);
      if (c->adamw8) opt_adamw8_from_host(c->adamw8, &h8, 1);
    }
  }
  st_close(&fm);
  if (want) st_close(&fo);
  if (!ok) goto done;
  *c->progress = pr;
  if (c->scaler && jsc) *c->scaler = sc;
  rc = 0;
done:
  cJSON_Delete(root);
  return rc;
}
