/* ordo parity DIR: runs a HF reference fixture (config.json, model/inputs/outputs/grads
 * .safetensors, optional adamw.json) through the encoder and compares every output and
 * every gradient (layout: ../shared/fixtures/README.md). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "device_flag.h"
#include "ordo/files.h"
#include "ordo/model.h"
#include "ordo/optim.h"
#include "ordo/safetensors.h"

typedef struct cmp_state {
  double tol, worst;
  char worst_name[ORDO_NAME_MAX];
  int fails, n, n_zero;
} cmp_state;

/* a tensor whose |ref|_2 is below this fraction of its group's is float32 rounding noise
 * (float32 epsilon is 1.2e-7; sums over a few hundred terms reach ~1e-6) */
#define ZERO_REF_REL 1e-6

static double file_norm(const st_file *f, ordo_err *e) {
  double ss = 0;
  for (int t = 0; t < f->n; t++) {
    const st_tensor *x = &f->tensors[t];
    float *d = ordo_malloc((size_t)x->numel * sizeof(float));
    if (st_read_f32(f, x->name, d, x->ndim, x->shape, e) != 0) {
      free(d);
      return -1;
    }
    for (int64_t i = 0; i < x->numel; i++) ss += (double)d[i] * d[i];
    free(d);
  }
  return sqrt(ss);
}

/* group_norm: |ref|_2 of the whole group the tensor belongs to (all gradients, all updates),
 * or 0 for a tensor judged on its own. */
static void compare(cmp_state *cs, const char *name, const float *out, const float *ref, size_t n,
                    double tol, double group_norm) {
  double num = 0, den = 0, maxabs = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)out[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
    if (fabs(d) > maxabs || isnan(d)) maxabs = isnan(d) ? INFINITY : fabs(d);
  }
  double rel = den > 0 ? sqrt(num) / sqrt(den) : INFINITY;
  if (isnan(rel)) rel = INFINITY;
  /* A tensor whose reference is float32 rounding noise next to its group is zero in exact
   * arithmetic (the key bias gradient is: softmax ignores a shift shared by a whole row). Its
   * relative error compares noise with noise and means nothing; it passes when ordo's value
   * is noise at the same level too: |out - ref| <= ZERO_REF_REL * |group|. */
  double floor_ = ZERO_REF_REL * group_norm;
  int zero_ref = group_norm > 0 && sqrt(den) <= floor_;
  int ok = zero_ref ? sqrt(num) <= floor_ : rel <= tol;
  printf("%-64s max_abs=%.3e rel=%.3e%s%s\n", name, maxabs, rel,
         zero_ref ? "  (zero up to rounding: |out-ref| vs 1e-6 |all|)" : "",
         ok ? "" : "  <-- FAIL");
  cs->n++;
  if (!ok) cs->fails++;
  if (zero_ref) {
    cs->n_zero++;
    return;
  }
  if (rel > cs->worst || cs->n == 1) {
    cs->worst = rel;
    snprintf(cs->worst_name, sizeof cs->worst_name, "%s", name);
  }
}

static int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}

static float *read_f32(const st_file *f, const char *name, size_t *n, ordo_err *e) {
  const st_tensor *t = st_find(f, name);
  if (!t) {
    ordo_fail(e, "%s: no tensor '%s'", f->path, name);
    return NULL;
  }
  float *d = ordo_malloc((size_t)t->numel * sizeof(float));
  if (st_read_f32(f, name, d, t->ndim, t->shape, e) != 0) {
    free(d);
    return NULL;
  }
  *n = (size_t)t->numel;
  return d;
}

/* The AdamW fixture: three steps from the fixture weights with gradient grads * (1 + s);
 * parameters without a gradient do not move. Compares (after - before) per parameter. */
static int check_adamw(enc_model *m, const char *dir, const st_file *grads, cmp_state *cs,
                       double tol, ordo_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/adamw.json", dir);
  char *txt = ordo_read_file(path, NULL, e);
  if (!txt) return -1;
  cJSON *j = cJSON_Parse(txt);
  free(txt);
  if (!j || !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    return ordo_fail(e, "%s: not a JSON object", path);
  }
  adamw_config ac = adamw_defaults();
  ac.decay_all = 1; /* the fixture decays every parameter that has a gradient */
  const char *keys[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "steps"};
  double vals[6];
  for (int k = 0; k < 6; k++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
    if (!cJSON_IsNumber(v)) {
      cJSON_Delete(j);
      return ordo_fail(e, "%s: key '%s' missing or not a number", path, keys[k]);
    }
    vals[k] = v->valuedouble;
  }
  cJSON_Delete(j);
  ac.lr = (float)vals[0], ac.beta1 = (float)vals[1], ac.beta2 = (float)vals[2];
  ac.eps = (float)vals[3], ac.weight_decay = (float)vals[4];
  int steps = (int)vals[5];
  if (steps < 1 || steps > 1000) return ordo_fail(e, "%s: steps %d out of range", path, steps);

  ordo_params *p = &m->params;
  float *before = ordo_malloc(p->total * sizeof(float));
  params_download(p);
  memcpy(before, p->data, p->total * sizeof(float));
  /* only parameters with a fixture gradient take part */
  int *saved_flags = ordo_malloc((size_t)p->n * sizeof(int));
  for (int i = 0; i < p->n; i++) {
    saved_flags[i] = p->specs[i].flags;
    if (!st_find(grads, p->specs[i].name)) p->specs[i].flags |= ORDO_PF_FROZEN;
  }
  opt_adamw o;
  opt_adamw_init(&o, p, &ac);
  int rc = 0;
  for (int s = 0; s < steps && rc == 0; s++) {
    params_zero_grad(p);
    for (int i = 0; i < p->n && rc == 0; i++) {
      ordo_param_spec *sp = &p->specs[i];
      if (sp->flags & ORDO_PF_FROZEN) continue;
      float *g = params_grad(p, i);
      rc = st_read_f32(grads, sp->name, g, sp->ndim, sp->shape, e);
      for (int64_t k = 0; k < sp->numel; k++) g[k] *= (float)(1 + s);
    }
    /* the host image's gradients (frozen parts never written: zero) to the working copy */
    if (p->gd != p->grad) be_upload(&m->be, p->gd, p->grad, p->total * sizeof(float));
    if (rc == 0) opt_adamw_step(&o, p, ac.lr);
  }
  opt_adamw_free(&o);
  params_download(p);
  st_file after;
  snprintf(path, sizeof path, "%s/adamw_after_3_steps.safetensors", dir);
  if (rc == 0) rc = st_open(&after, path, e);
  double upd_norm = 0;
  if (rc == 0) {
    for (int t = 0; t < after.n; t++) {
      int i = params_find(p, after.tensors[t].name);
      if (i < 0) continue;
      size_t n = 0;
      float *ref = read_f32(&after, after.tensors[t].name, &n, e);
      if (!ref) {
        rc = -1;
        break;
      }
      const float *w0 = before + p->specs[i].offset;
      for (size_t k = 0; k < n && (int64_t)k < p->specs[i].numel; k++)
        upd_norm += ((double)ref[k] - w0[k]) * ((double)ref[k] - w0[k]);
      free(ref);
    }
    upd_norm = sqrt(upd_norm);
  }
  if (rc == 0) {
    for (int t = 0; t < after.n && rc == 0; t++) {
      const st_tensor *at = &after.tensors[t];
      int i = params_find(p, at->name);
      char label[ORDO_NAME_MAX + 16];
      snprintf(label, sizeof label, "adamw:%s", at->name);
      if (i < 0) {
        printf("%-64s not a parameter of the model  <-- FAIL\n", label);
        cs->fails++;
        continue;
      }
      size_t n = 0;
      float *ref = read_f32(&after, at->name, &n, e);
      if (!ref) {
        rc = -1;
        break;
      }
      float *d_ours = ordo_malloc(n * sizeof(float));
      const float *w = params_data(p, i), *w0 = before + p->specs[i].offset;
      for (size_t k = 0; k < n; k++) {
        d_ours[k] = w[k] - w0[k];
        ref[k] = ref[k] - w0[k];
      }
      compare(cs, label, d_ours, ref, n, tol, upd_norm);
      free(d_ours);
      free(ref);
    }
    st_close(&after);
  }
  for (int i = 0; i < p->n; i++) p->specs[i].flags = saved_flags[i];
  memcpy(p->data, before, p->total * sizeof(float));
  params_upload(p);
  free(saved_flags);
  free(before);
  return rc;
}

/* lora.json: {"r": 4, "lora_alpha": 8, "target_modules": ["query", "value"], ...} */
static int read_lora_json(const char *path, ordo_arch arch, enc_lora_config *lc, ordo_err *e) {
  char *txt = ordo_read_file(path, NULL, e);
  if (!txt) return -1;
  cJSON *j = cJSON_Parse(txt);
  free(txt);
  int rc = 0;
  cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "r");
  cJSON *alpha = cJSON_GetObjectItemCaseSensitive(j, "lora_alpha");
  cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "target_modules");
  cJSON *drop = cJSON_GetObjectItemCaseSensitive(j, "lora_dropout");
  if (!cJSON_IsObject(j)) rc = ordo_fail(e, "%s: not a JSON object", path);
  else if (!cJSON_IsNumber(r) || r->valuedouble < 1 || r->valuedouble > 4096 || r->valuedouble != (int)r->valuedouble)
    rc = ordo_fail(e, "%s: 'r' must be an integer in [1, 4096]", path);
  else if (!cJSON_IsNumber(alpha) || !(alpha->valuedouble > 0))
    rc = ordo_fail(e, "%s: 'lora_alpha' must be a positive number", path);
  else if (!cJSON_IsArray(tm) || cJSON_GetArraySize(tm) < 1 || cJSON_GetArraySize(tm) > 16)
    rc = ordo_fail(e, "%s: 'target_modules' must be a list of 1 to 16 names", path);
  if (rc == 0) {
    const char *names[16];
    int n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, tm) {
      if (!cJSON_IsString(it)) {
        rc = ordo_fail(e, "%s: 'target_modules' holds a non-string", path);
        break;
      }
      names[n++] = it->valuestring;
    }
    if (rc == 0 && enc_lora_parse_targets(arch, names, n, &lc->targets, e) != 0)
      rc = ordo_err_prefix(e, "%s", path);
    lc->r = (int)r->valuedouble;
    lc->alpha = (float)alpha->valuedouble;
    lc->dropout = cJSON_IsNumber(drop) ? (float)drop->valuedouble : 0.0f;
  }
  cJSON_Delete(j);
  return rc;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: ordo parity DIR [--device cpu|cpu-ref|cuda] [--tol T] [--adamw-tol T]\n\n"
          "Runs a reference fixture through ordo and compares every output and gradient.\n"
          "DIR holds config.json, model.safetensors, inputs.safetensors, outputs.safetensors,\n"
          "grads.safetensors and optionally adamw.json + adamw_after_3_steps.safetensors.\n"
          "The loss follows the inputs: `labels` -> masked-LM cross-entropy (gpt2: next-token,\n"
          "position t against labels[t + 1]); `target` with a\n"
          "`logits` output -> MSE of the classification head; a (B, T, C) `target` -> the\n"
          "hidden-state MSE over real tokens; `replaced` -> ELECTRA's replaced-token detection\n"
          "(BCE-with-logits over real tokens); `labels` with `sentence_order_label` (B) -> the\n"
          "masked LM plus ALBERT's sentence-order cross-entropy (AlbertForPreTraining; its\n"
          "`sop_logits` compared). A lora.json beside the config (r, lora_alpha,\n"
          "target_modules) adds LoRA adapters and freezes the base model.\n"
          "Prints one line per tensor (max abs error, relative error |out-ref|/|ref|) and\n"
          "`parity: PASS worst_rel=...` (exit 0) or `parity: FAIL ...` (exit 1).\n\n"
          "  --device D      cpu (default, the fast path), cpu-ref (plain reference loops) or\n"
          "                  cuda (GPU 0; outputs and gradients compared on the host)\n"
          "  --backend D     the same as --device\n"
          "  --tol T         relative tolerance for outputs and gradients (default 1e-4)\n"
          "  --adamw-tol T   relative tolerance for the AdamW updates (default 1e-5)\n"
          "  --precision P   fp32 (default), bf16 or fp16: weights and activations rounded to P\n"
          "                  (float32 master weights and gradients), to measure mixed precision\n"
          "  --recompute R   none (default), attention or layer: activation recompute\n"
          "  --save-model D  also write the model as loaded to D (config.json + model.safetensors;\n"
          "                  LoRA adapters merged), to check that transformers reads it back;\n"
          "                  a D that already holds files is replaced only with --force\n"
          "  --force         see --save-model\n");
}

static int parse_double(const char *s, double *out) {
  char *end;
  *out = strtod(s, &end);
  return *s && !*end && *out > 0 && isfinite(*out);
}

int cmd_parity(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *dir = NULL, *backend = "cpu", *save_dir = NULL;
  int force = 0;
  ordo_dtype precision = ORDO_DT_F32;
  enc_recompute recompute = ENC_RECOMPUTE_NONE;
  double tol = 1e-4, adamw_tol = 1e-5;
  for (int i = 1; i < argc; i++) {
    if ((strcmp(argv[i], "--device") == 0 || strcmp(argv[i], "--backend") == 0) && i + 1 < argc) {
      backend = argv[++i];
    } else if (strcmp(argv[i], "--save-model") == 0 && i + 1 < argc) {
      save_dir = argv[++i];
    } else if (strcmp(argv[i], "--force") == 0) {
      force = 1;
    } else if (strcmp(argv[i], "--precision") == 0 && i + 1 < argc) {
      const char *v = argv[++i];
      if (strcmp(v, "fp32") == 0) precision = ORDO_DT_F32;
      else if (strcmp(v, "bf16") == 0) precision = ORDO_DT_BF16;
      else if (strcmp(v, "fp16") == 0) precision = ORDO_DT_F16;
      else {
        fprintf(stderr, "ordo parity: --precision must be fp32, bf16 or fp16\n");
        return 2;
      }
    } else if (strcmp(argv[i], "--recompute") == 0 && i + 1 < argc) {
      if (enc_recompute_parse(argv[++i], &recompute) != 0) {
        fprintf(stderr, "ordo parity: --recompute must be none, attention or layer\n");
        return 2;
      }
    } else if ((strcmp(argv[i], "--tol") == 0 || strcmp(argv[i], "--adamw-tol") == 0) && i + 1 < argc) {
      double *dst = argv[i][2] == 't' ? &tol : &adamw_tol;
      if (!parse_double(argv[i + 1], dst)) {
        fprintf(stderr, "ordo parity: %s needs a positive number, got '%s'\n", argv[i], argv[i + 1]);
        return 2;
      }
      i++;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "ordo parity: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else if (!dir) {
      dir = argv[i];
    } else {
      fprintf(stderr, "ordo parity: one fixture directory expected\n");
      return 2;
    }
  }
  if (!dir) {
    usage(stderr);
    return 2;
  }
  if (save_dir) {
    ordo_err se = {{0}};
    if (ordo_out_dir_check(save_dir, force, &se) != 0) {
      fprintf(stderr, "ordo parity: --save-model %s\n", se.msg);
      return 1;
    }
  }
  ordo_backend be;
  ordo_err be_err = {{0}};
  if (device_open(&be, backend, &be_err) != 0) {
    fprintf(stderr, "ordo parity: %s\n", be_err.msg);
    return 1;
  }

  ordo_err e = {0};
  char path[4096];
  enc_config cfg;
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (hfconfig_load(&cfg, path, &e) != 0) goto fail_early;
  enc_lora_config lora = {0};
  snprintf(path, sizeof path, "%s/lora.json", dir);
  if (file_exists(path) && read_lora_json(path, cfg.arch, &lora, &e) != 0) goto fail_early;
  st_file in, out, grads;
  snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
  if (st_open(&in, path, &e) != 0) goto fail_early;
  snprintf(path, sizeof path, "%s/outputs.safetensors", dir);
  if (st_open(&out, path, &e) != 0) {
    st_close(&in);
    goto fail_early;
  }
  snprintf(path, sizeof path, "%s/grads.safetensors", dir);
  if (st_open(&grads, path, &e) != 0) {
    st_close(&in);
    st_close(&out);
    goto fail_early;
  }

  enc_model m;
  int model_ok = 0, rc = 1;
  int32_t *ids = NULL, *mask = NULL, *tt = NULL, *labels = NULL, *sop = NULL;
  float *target = NULL;
  const st_tensor *tid = st_find(&in, "input_ids");
  if (!tid || tid->ndim != 2) {
    ordo_fail(&e, "%s: input_ids missing or not 2-D", in.path);
    goto done;
  }
  if (tid->shape[0] < 1 || tid->shape[1] < 1 || tid->shape[0] > 65536 || tid->shape[1] > 65536) {
    ordo_fail(&e, "%s: input_ids is [%lld, %lld], expected a batch and a length in [1, 65536]",
              in.path, (long long)tid->shape[0], (long long)tid->shape[1]);
    goto done;
  }
  int B = (int)tid->shape[0], T = (int)tid->shape[1];
  int64_t shp[2] = {B, T};
  enum { LOSS_MLM, LOSS_CLS_MSE, LOSS_HIDDEN_MSE, LOSS_RTD } loss_kind;
  int heads = 0;
  if (st_find(&in, "labels")) {
    loss_kind = LOSS_MLM;
    heads = ENC_HEAD_MLM;
    if (st_find(&out, "pooler_output")) heads |= ENC_HEAD_POOLER;
    if (st_find(&in, "sentence_order_label")) heads |= ENC_HEAD_SOP; /* + ALBERT's SOP loss */
  } else if (st_find(&in, "target") && st_find(&in, "target")->ndim == 3) {
    loss_kind = LOSS_HIDDEN_MSE;
  } else if (st_find(&in, "target") && st_find(&out, "logits")) {
    loss_kind = LOSS_CLS_MSE;
    heads = ENC_HEAD_CLS;
  } else if (st_find(&in, "replaced")) {
    loss_kind = LOSS_RTD;
    heads = ENC_HEAD_RTD;
  } else {
    ordo_fail(&e, "%s: cannot tell the loss: expected `labels` (masked LM) or `target` with a "
                  "`logits` output (regression)", in.path);
    goto done;
  }
  {
    st_file mf;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (st_open(&mf, path, &e) != 0) goto done;
    if (st_find(&mf, "cls.seq_relationship.weight")) heads |= ENC_HEAD_NSP;
    st_close(&mf);
  }
  if (enc_init_lora(&m, &cfg, heads, &lora, &be, &e) != 0) {
    ordo_err_prefix(&e, "%s/config.json", dir);
    goto done;
  }
  model_ok = 1;
  if (enc_load(&m, dir, NULL, &e) != 0) goto done;
  /* the pooler output is compared but no loss reaches it: no gradient, as in PyTorch */
  if (m.pool_w >= 0) {
    m.params.specs[m.pool_w].flags |= ORDO_PF_FROZEN;
    m.params.specs[m.pool_b].flags |= ORDO_PF_FROZEN;
  }
  ids = ordo_malloc((size_t)B * T * sizeof(int32_t));
  mask = ordo_malloc((size_t)B * T * sizeof(int32_t));
  if (st_read_i32(&in, "input_ids", ids, 2, shp, &e) != 0) goto done;
  if (st_find(&in, "attention_mask")) {
    if (st_read_i32(&in, "attention_mask", mask, 2, shp, &e) != 0) goto done;
  } else {
    for (int i = 0; i < B * T; i++) mask[i] = 1;
  }
  if (st_find(&in, "token_type_ids")) {
    tt = ordo_malloc((size_t)B * T * sizeof(int32_t));
    if (st_read_i32(&in, "token_type_ids", tt, 2, shp, &e) != 0) goto done;
  }
  for (int i = 0; i < B * T; i++)
    if (ids[i] < 0 || ids[i] >= cfg.vocab_size || (tt && (tt[i] < 0 || tt[i] >= cfg.type_vocab_size))) {
      ordo_fail(&e, "%s: input %d (token %d, type %d) outside the vocabulary/type table", in.path, i,
                ids[i], tt ? tt[i] : 0);
      goto done;
    }
  enc_batch batch = {.B = B, .T = T, .ids = ids, .mask = mask, .tt = tt};
  if (loss_kind == LOSS_MLM) {
    labels = ordo_malloc((size_t)B * T * sizeof(int32_t));
    if (st_read_i32(&in, "labels", labels, 2, shp, &e) != 0) goto done;
    for (int i = 0; i < B * T; i++)
      if (labels[i] != -100 && (labels[i] < 0 || labels[i] >= cfg.vocab_size)) {
        ordo_fail(&e, "%s: label %d at %d outside the vocabulary", in.path, labels[i], i);
        goto done;
      }
    if (enc_is_causal(&cfg)) {
      /* next-token loss: position t predicts labels[t + 1] (HF shifts inside its loss) */
      for (int i = 0; i < B; i++) {
        for (int t = 0; t + 1 < T; t++) labels[i * T + t] = labels[i * T + t + 1];
        labels[i * T + T - 1] = -100;
      }
    }
    batch.mlm_labels = labels;
    if (heads & ENC_HEAD_SOP) {
      int64_t sb[1] = {B};
      sop = ordo_malloc((size_t)B * sizeof(int32_t));
      if (st_read_i32(&in, "sentence_order_label", sop, 1, sb, &e) != 0) goto done;
      for (int i = 0; i < B; i++)
        if (sop[i] < 0 || sop[i] >= cfg.num_labels) {
          ordo_fail(&e, "%s: sentence_order_label %d of row %d is not in [0, %d)", in.path, sop[i],
                    i, cfg.num_labels);
          goto done;
        }
    }
  } else if (loss_kind == LOSS_RTD) {
    int32_t *rep = ordo_malloc((size_t)B * T * sizeof(int32_t));
    target = ordo_malloc((size_t)B * T * sizeof(float));
    int rrc = st_read_i32(&in, "replaced", rep, 2, shp, &e);
    for (int i = 0; i < B * T && rrc == 0; i++) target[i] = rep[i] ? 1.0f : 0.0f;
    free(rep);
    if (rrc != 0) goto done;
  } else if (loss_kind == LOSS_HIDDEN_MSE) {
    int64_t ts[3] = {B, T, cfg.hidden_size};
    target = ordo_malloc((size_t)B * T * cfg.hidden_size * sizeof(float));
    if (st_read_f32(&in, "target", target, 3, ts, &e) != 0) goto done;
  } else {
    int64_t ts[2] = {B, cfg.num_labels};
    target = ordo_malloc((size_t)B * cfg.num_labels * sizeof(float));
    if (st_read_f32(&in, "target", target, 2, ts, &e) != 0) goto done;
  }

  if (save_dir) {
    /* the saved model is the loaded one with adapters folded in: a plain HF checkpoint */
    if (enc_save_merged(&m, save_dir, &e) != 0) goto done;
    printf("saved the model to %s\n", save_dir);
  }
  if (enc_check_seq(&m.cfg, T, &e) != 0) {
    ordo_err_prefix(&e, "%s: input_ids", in.path);
    goto done;
  }
  enc_set_recompute(&m, recompute);
  if (precision != ORDO_DT_F32) enc_set_precision(&m, precision);
  enc_plan(&m, B, T, 0);
  params_zero_grad(&m.params);
  enc_forward(&m, &batch, 0);
  enc_zero_output_grads(&m, &batch);
  float loss = loss_kind == LOSS_MLM          ? enc_loss_mlm(&m, &batch, 1.0f, NULL)
               : loss_kind == LOSS_HIDDEN_MSE ? enc_loss_hidden_mse(&m, &batch, target, 1.0f)
               : loss_kind == LOSS_RTD        ? enc_loss_rtd(&m, &batch, target, 1.0f)
                                              : enc_loss_cls_mse(&m, &batch, target, 1.0f);
  if (sop) loss += enc_loss_cls_ce(&m, &batch, sop, 1.0f); /* AlbertForPreTraining: MLM + SOP */
  enc_backward(&m, &batch);

  cmp_state cs = {.tol = tol};
  printf("parity %s (%s%s, %s backend, B=%d T=%d)\n", dir, cfg.model_type, lora.r ? " + LoRA" : "",
         be.ops->name, B, T);
  for (int t = 0; t < out.n; t++) {
    const st_tensor *ot = &out.tensors[t];
    size_t n = 0;
    const float *ours = NULL; /* backend memory, but the loss */
    size_t expect = 0;
    if (strcmp(ot->name, "loss") == 0) ours = &loss, expect = 1;
    else if (strcmp(ot->name, "last_hidden_state") == 0)
      ours = enc_hidden(&m), expect = (size_t)B * T * cfg.hidden_size;
    else if (strcmp(ot->name, "mlm_logits") == 0 && m.mlm_logits)
      ours = m.mlm_logits, expect = (size_t)B * T * cfg.vocab_size;
    else if (strcmp(ot->name, "rtd_logits") == 0 && m.rtd_logits)
      ours = m.rtd_logits, expect = (size_t)B * T;
    else if (strcmp(ot->name, "pooler_output") == 0 && m.pooled)
      ours = m.pooled, expect = (size_t)B * cfg.hidden_size;
    else if ((strcmp(ot->name, "logits") == 0 || strcmp(ot->name, "sop_logits") == 0) && m.cls_logits)
      ours = m.cls_logits, expect = (size_t)B * cfg.num_labels;
    else if (strcmp(ot->name, "logits") == 0 && enc_is_causal(&cfg) && m.mlm_logits)
      ours = m.mlm_logits, expect = (size_t)B * T * cfg.vocab_size; /* the LM head's */
    if (!ours) {
      printf("%-64s not computed by this model  <-- FAIL\n", ot->name);
      cs.fails++;
      continue;
    }
    float *ref = read_f32(&out, ot->name, &n, &e);
    if (!ref) goto done;
    if (n != expect) {
      printf("%-64s size %zu, expected %zu  <-- FAIL\n", ot->name, n, expect);
      cs.fails++;
    } else {
      float *host = ordo_malloc(n * sizeof(float));
      if (ours == &loss) host[0] = loss;
      else enc_read(&m, host, ours, n * sizeof(float));
      compare(&cs, ot->name, host, ref, n, tol, 0);
      free(host);
    }
    free(ref);
  }
  double grad_norm = file_norm(&grads, &e);
  if (grad_norm < 0) goto done;
  for (int t = 0; t < grads.n; t++) {
    const st_tensor *gt = &grads.tensors[t];
    int i = enc_find_param(&m, gt->name);
    char label[ORDO_NAME_MAX + 8];
    snprintf(label, sizeof label, "grad:%s", gt->name);
    if (i < 0) {
      printf("%-64s not a parameter of the model  <-- FAIL\n", label);
      cs.fails++;
      continue;
    }
    size_t n = 0;
    float *ref = read_f32(&grads, gt->name, &n, &e);
    if (!ref) goto done;
    if ((int64_t)n != m.params.specs[i].numel) {
      printf("%-64s size %zu, expected %lld  <-- FAIL\n", label, n, (long long)m.params.specs[i].numel);
      cs.fails++;
    } else {
      /* in the checkpoint's layout (Conv1D weights transposed) */
      float *ours = ordo_malloc(2 * n * sizeof(float)), *g = ours + n;
      int64_t shape[ORDO_MAX_DIMS];
      enc_read(&m, g, params_gd(&m.params, i), n * sizeof(float));
      enc_param_to_hf(&m, i, g, ours, shape);
      compare(&cs, label, ours, ref, n, tol, grad_norm);
      free(ours);
    }
    free(ref);
  }
  snprintf(path, sizeof path, "%s/adamw.json", dir);
  if (file_exists(path) && check_adamw(&m, dir, &grads, &cs, adamw_tol, &e) != 0) goto done;
  if (cs.fails == 0)
    printf("parity: PASS worst_rel=%.3e (%s) over %d tensors (%d zero in exact arithmetic, checked "
           "as rounding noise)\n", cs.worst, cs.worst_name, cs.n, cs.n_zero);
  else
    printf("parity: FAIL %d of %d tensors beyond tolerance; worst_rel=%.3e (%s)\n", cs.fails, cs.n,
           cs.worst, cs.worst_name);
  rc = cs.fails ? 1 : 0;
  e.msg[0] = 0;
done:
  if (e.msg[0]) {
    fprintf(stderr, "ordo parity: %s\n", e.msg);
    printf("parity: FAIL %s\n", e.msg);
    rc = 1;
  }
  free(ids);
  free(mask);
  free(tt);
  free(labels);
  free(sop);
  free(target);
  if (model_ok) enc_free(&m);
  st_close(&in);
  st_close(&out);
  st_close(&grads);
  ordo_backend_close(&be);
  return rc;
fail_early:
  ordo_backend_close(&be);
  fprintf(stderr, "ordo parity: %s\n", e.msg);
  printf("parity: FAIL %s\n", e.msg);
  return 1;
}
