/* Parameter groups: per-group learning-rate multipliers and weight decay, built from the HF
 * names and flags of the spec table, with layer-wise rate decay (as in ELECTRA/BEiT fine-tuning
 * recipes: a layer's rate is lr * decay^(depth from the top)). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordo/core.h"
#include "ordo/optim.h"

param_groups_config param_groups_defaults(void) {
  return (param_groups_config){.weight_decay = 0.01f, .decay_all = 0, .layer_decay = 1.0,
                               .head_lr_mul = 1.0, .n_layers = 0};
}

void opt_groups_init(opt_groups *gs) { memset(gs, 0, sizeof *gs); }

void opt_groups_free(opt_groups *gs) {
  free(gs->g);
  memset(gs, 0, sizeof *gs);
}

int opt_groups_add(opt_groups *gs, const char *name, double lr_mul, float weight_decay) {
  if (gs->n == gs->cap) {
    gs->cap = gs->cap ? 2 * gs->cap : 16;
    gs->g = ordo_realloc(gs->g, (size_t)gs->cap * sizeof *gs->g);
  }
  opt_group *g = &gs->g[gs->n];
  memset(g, 0, sizeof *g);
  snprintf(g->name, sizeof g->name, "%s", name);
  g->lr_mul = lr_mul;
  g->weight_decay = weight_decay;
  return gs->n++;
}

int param_layer_index(const char *name) {
  const char *key = "encoder.layer.";
  for (const char *s = strstr(name, key); s; s = strstr(s + 1, key)) {
    const char *d = s + strlen(key);
    if (!isdigit((unsigned char)*d)) continue;
    char *end;
    long v = strtol(d, &end, 10);
    if (*end == '.' && v >= 0 && v < 1000000) return (int)v;
  }
  return -1;
}

static int find_group(const opt_groups *gs, const char *name) {
  for (int i = 0; i < gs->n; i++)
    if (strcmp(gs->g[i].name, name) == 0) return i;
  return -1;
}

int param_groups_build(opt_groups *gs, ordo_params *p, const param_groups_config *c) {
  int L = c->n_layers;
  if (L <= 0)
    for (int i = 0; i < p->n; i++) {
      int li = param_layer_index(p->specs[i].name);
      if (li + 1 > L) L = li + 1;
    }
  const int lwise = c->layer_decay != 1.0;
  for (int i = 0; i < p->n; i++) {
    ordo_param_spec *s = &p->specs[i];
    const int li = param_layer_index(s->name);
    const int is_emb = li < 0 && strstr(s->name, "embeddings") != NULL;
    /* names inside the encoder without a layer index (ALBERT's shared layer groups) sit with
     * the top layer; everything outside embeddings and encoder is a head */
    const int in_enc = li < 0 && !is_emb && strstr(s->name, "encoder.") != NULL;
    const int is_head = li < 0 && !is_emb && !in_enc;
    int depth = is_head ? 0 : is_emb ? L + 1 : in_enc ? 1 : L - li;
    if (depth < 0) depth = 0; /* a layer index past n_layers: treat as the top */
    const int decay = c->decay_all || !(s->flags & ORDO_PF_NO_DECAY);
    char name[OPT_GROUP_NAME_MAX];
    const char *base;
    char lname[OPT_GROUP_NAME_MAX - 10];
    if (is_head) base = "head";
    else if (!lwise) base = "body"; /* without layer decay every non-head spec shares one */
    else if (is_emb) base = "emb";
    else if (in_enc) base = "enc";
    else {
      snprintf(lname, sizeof lname, "layer.%d", li);
      base = lname;
    }
    snprintf(name, sizeof name, "%s%s", base, decay ? "" : ".no_decay");
    int g = find_group(gs, name);
    if (g < 0) {
      double mul = lwise ? pow(c->layer_decay, depth) : 1.0;
      if (is_head) mul *= c->head_lr_mul;
      g = opt_groups_add(gs, name, mul, decay ? c->weight_decay : 0.0f);
    }
    s->group = g;
  }
  return gs->n;
}

int param_groups_override(opt_groups *gs, ordo_params *p, const char *pattern, double lr_mul,
                          float weight_decay) {
  int g = -1, moved = 0;
  for (int i = 0; i < p->n; i++) {
    if (!strstr(p->specs[i].name, pattern)) continue;
    if (g < 0) {
      char name[OPT_GROUP_NAME_MAX];
      snprintf(name, sizeof name, "match:%s", pattern);
      g = opt_groups_add(gs, name, lr_mul, weight_decay);
    }
    p->specs[i].group = g;
    moved++;
  }
  return moved;
}

void param_groups_log(const opt_groups *gs, const ordo_params *p) {
  for (int g = 0; g < gs->n; g++) {
    int n = 0;
    int64_t el = 0;
    for (int i = 0; i < p->n; i++)
      if (p->specs[i].group == g && !(p->specs[i].flags & ORDO_PF_FROZEN)) n++, el += p->specs[i].numel;
    log_info("param group %-20s lr x %.6g  weight decay %g  %d tensors, %lld values", gs->g[g].name,
             gs->g[g].lr_mul, (double)gs->g[g].weight_decay, n, (long long)el);
  }
}
