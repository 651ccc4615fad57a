/* Training-technique flags shared by the commands that train. */
#include <stdlib.h>
#include <string.h>

#include "train_flags.h"

static int num(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (!*s || *end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "%s: %s must be a number in [%g, %g], got '%s'\n", cmd, flag, lo, hi, s);
    return -1;
  }
  *out = v;
  return 0;
}

int train_flags_parse(trainer_config *tc, int argc, char **argv, int *i, const char *cmd) {
  static const char *known[] = {"--accum-steps", "--precision", "--optim", "--keep32",
                                "--layer-decay", "--head-lr-mul", "--recompute", "--l2",
                                "--l2-layers", "--clip", "--weight-decay", "--schedule", "--save-every",
                                NULL};
  const char *f = argv[*i];
  if (strcmp(f, "--group-by-length") == 0) {
    tc->group_by_length = 1;
    return 1;
  }
  if (strcmp(f, "--stable-embedding") == 0) {
    /* bitsandbytes' StableEmbedding: a LayerNorm after the embedding (every BERT-family model
     * here has one: embeddings.LayerNorm) and 32-bit optimizer state for the embeddings */
    if (tc->q8.n_keep32 >= ADAMW8_MAX_KEEP32)
      return fprintf(stderr, "%s: at most %d --keep32 patterns\n", cmd, ADAMW8_MAX_KEEP32), -1;
    tc->q8.keep32[tc->q8.n_keep32++] = "embeddings.";
    tc->stable_embedding = 1;
    return 1;
  }
  int k = 0;
  while (known[k] && strcmp(known[k], f) != 0) k++;
  if (!known[k]) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "%s: %s needs a value\n", cmd, f);
    return -1;
  }
  const char *v = argv[++*i];
  double d;
  if (strcmp(f, "--accum-steps") == 0) {
    if (num(cmd, f, v, 1, 65536, &d)) return -1;
    if (d != (int)d) return fprintf(stderr, "%s: %s must be an integer\n", cmd, f), -1;
    tc->accum_steps = (int)d;
  } else if (strcmp(f, "--precision") == 0) {
    if (strcmp(v, "fp32") == 0) tc->precision = ORDO_DT_F32;
    else if (strcmp(v, "bf16") == 0) tc->precision = ORDO_DT_BF16;
    else if (strcmp(v, "fp16") == 0) tc->precision = ORDO_DT_F16;
    else return fprintf(stderr, "%s: --precision must be fp32, bf16 or fp16\n", cmd), -1;
  } else if (strcmp(f, "--optim") == 0) {
    if (strcmp(v, "adamw") == 0) tc->q8.bits = 32;
    else if (strcmp(v, "adamw8") == 0) tc->q8.bits = 8;
    else return fprintf(stderr, "%s: --optim must be adamw or adamw8\n", cmd), -1;
  } else if (strcmp(f, "--keep32") == 0) {
    if (tc->q8.n_keep32 >= ADAMW8_MAX_KEEP32)
      return fprintf(stderr, "%s: at most %d --keep32 patterns\n", cmd, ADAMW8_MAX_KEEP32), -1;
    tc->q8.keep32[tc->q8.n_keep32++] = v;
  } else if (strcmp(f, "--layer-decay") == 0) {
    if (num(cmd, f, v, 0.01, 1, &tc->groups.layer_decay)) return -1;
  } else if (strcmp(f, "--head-lr-mul") == 0) {
    if (num(cmd, f, v, 0, 1000, &tc->groups.head_lr_mul)) return -1;
  } else if (strcmp(f, "--recompute") == 0) {
    if (enc_recompute_parse(v, &tc->recompute) != 0)
      return fprintf(stderr, "%s: --recompute must be none, attention or layer\n", cmd), -1;
  } else if (strcmp(f, "--l2") == 0) {
    if (num(cmd, f, v, 0, 100, &d)) return -1;
    tc->l2 = (float)d;
  } else if (strcmp(f, "--l2-layers") == 0) {
    tc->l2_pattern = v;
  } else if (strcmp(f, "--clip") == 0) {
    if (num(cmd, f, v, 0, 1e9, &tc->clip)) return -1;
  } else if (strcmp(f, "--weight-decay") == 0) {
    if (num(cmd, f, v, 0, 10, &d)) return -1;
    tc->adamw.weight_decay = (float)d;
  } else if (strcmp(f, "--save-every") == 0) {
    if (num(cmd, f, v, 0, 1e12, &d)) return -1;
    if (d != (int64_t)d) return fprintf(stderr, "%s: %s must be an integer\n", cmd, f), -1;
    tc->save_every = (int64_t)d;
  } else if (strcmp(f, "--schedule") == 0) {
    if (sched_kind_parse(v, &tc->sched.kind) != 0)
      return fprintf(stderr, "%s: --schedule must be linear, cosine or constant\n", cmd), -1;
  }
  return 1;
}

int train_flags_check(const trainer_config *tc, const char *cmd) {
  if (tc->l2 > 0 && !tc->l2_pattern) {
    fprintf(stderr, "%s: --l2 needs --l2-layers PATTERN (e.g. encoder.layer.11. or classifier)\n", cmd);
    return -1;
  }
  if (tc->q8.n_keep32 > 0 && tc->q8.bits != 8) {
    fprintf(stderr, "%s: --keep32 and --stable-embedding apply to --optim adamw8\n", cmd);
    return -1;
  }
  return 0;
}

void train_flags_usage(FILE *f) {
  fprintf(f,
    "training techniques:\n"
    "  --accum-steps N      micro-batches per optimizer step: the gradient of an N-times larger\n"
    "                       batch (default 1)\n"
    "  --clip X             clip the global gradient L2 norm, logged each step (default 1.0; 0 off)\n"
    "  --schedule S         linear | cosine | constant after the warmup (default linear)\n"
    "  --weight-decay X     AdamW decoupled decay, not on biases/LayerNorm (default 0.01)\n"
    "  --layer-decay X      layer-wise learning-rate decay, rate x X^depth from the top (default 1)\n"
    "  --head-lr-mul X      learning-rate multiplier of the heads (default 1)\n"
    "  --precision P        fp32 | bf16 | fp16: storage of weight copies and activations, float32\n"
    "                       masters and optimizer state; fp16 with dynamic loss scaling\n"
    "  --optim O            adamw (32-bit state) | adamw8 (8-bit block-wise state)\n"
    "  --keep32 PATTERN     with adamw8: names containing PATTERN keep 32-bit state (repeatable)\n"
    "  --stable-embedding   with adamw8: the stable-embedding recipe, a LayerNorm after the\n"
    "                       embedding (built into every BERT-family model) and 32-bit state for\n"
    "                       the embeddings\n"
    "  --recompute R        none | attention | layer: activation recompute (default none)\n"
    "  --l2 X --l2-layers P L2 penalty X/2 |w|^2 on parameters whose name contains P\n"
    "  --save-every N       write OUT/checkpoint every N steps (model, optimizer state, scaler,\n"
    "                       schedule, data position, RNG), atomically; running the same command\n"
    "                       again resumes from it, bit for bit\n"
    "  --group-by-length    variable-length inputs (ai4code train): batches drawn from buckets of\n"
    "                       similar length, padded only to the batch's longest; padding saved logged\n");
}
