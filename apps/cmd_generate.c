/* ordo generate: text generation with a causal LM (GPT-2) through the model driver's decoder
 * path (enc_decode): a key/value cache, or --no-cache to rerun the whole sequence per token;
 * greedy or sampled (temperature, top-k, top-p) from a seed; stops at EOS or the token budget. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_parse.h"
#include "commands.h"
#include "device_flag.h"
#include "ordo/files.h"
#include "ordo/model.h"
#include "ordo/rng.h"
#include "ordo/tok.h"

#define CMD "ordo generate"

typedef struct gen_args {
  const char *model, *prompt, *prompt_ids, *device;
  int max_new, top_k, threads, no_cache, ignore_eos;
  double temperature, top_p;
  uint64_t seed;
} gen_args;

static void usage(FILE *f) {
  fprintf(f,
          "usage: ordo generate --model DIR (--prompt TEXT | --prompt-ids IDS) [options]\n\n"
          "Continues a prompt with a causal LM (model_type gpt2: config.json + model.safetensors,\n"
          "and tokenizer.json for text). Streams to stdout as it is made: the prompt's text and its\n"
          "continuation, or with --prompt-ids the new ids on one line; tokens/s on stderr.\n\n"
          "  --model DIR          the model folder (what ordo train --objective clm writes, or a\n"
          "                       transformers GPT-2 checkpoint)\n"
          "  --prompt TEXT        the prompt, encoded with DIR/tokenizer.json\n"
          "  --prompt-ids IDS     the prompt as token ids, comma- or space-separated\n"
          "  --max-new-tokens N   tokens to add at most (default 32); prompt + N must fit the\n"
          "                       model's context (n_positions)\n"
          "  --greedy             the most likely token each step (the default without sampling\n"
          "                       flags); same as --temperature 0\n"
          "  --temperature T      sample from softmax(logits / T) (T > 0; 0 = greedy)\n"
          "  --top-k K            sample among the K most likely tokens (0 = all)\n"
          "  --top-p P            sample among the most likely tokens whose probabilities add up\n"
          "                       to P (nucleus; 1 = all)\n"
          "  --seed N             seeds the sampling (default 1): the same seed, the same text\n"
          "  --ignore-eos         do not stop at the model's eos_token_id\n"
          "  --no-cache           rerun the whole sequence for each token (no key/value cache):\n"
          "                       the same tokens, slower; for comparison\n"
          "  --threads N          CPU threads (default: all cores)\n");
  device_flag_usage(f);
}

static int parse_args(gen_args *a, int argc, char **argv) {
  *a = (gen_args){.max_new = 32, .temperature = -1, .top_p = 1.0, .seed = 1};
  int greedy = 0;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    long long iv;
    if (strcmp(f, "--no-cache") == 0) { a->no_cache = 1; continue; }
    if (strcmp(f, "--ignore-eos") == 0) { a->ignore_eos = 1; continue; }
    if (strcmp(f, "--greedy") == 0) { greedy = 1; continue; }
    if (f[0] != '-' || f[1] != '-') {
      fprintf(stderr, "ordo generate: unexpected argument '%s' (see --help)\n", f);
      return 0;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "ordo generate: %s needs a value\n", f);
      return 0;
    }
    const char *v = argv[++i];
    if (strcmp(f, "--model") == 0) a->model = v;
    else if (strcmp(f, "--prompt") == 0) a->prompt = v;
    else if (strcmp(f, "--prompt-ids") == 0) a->prompt_ids = v;
    else if (strcmp(f, "--device") == 0) a->device = v;
    else if (strcmp(f, "--max-new-tokens") == 0) {
      if (!cli_parse_ll(CMD, f, v, 1, 1 << 20, &iv)) return 0;
      a->max_new = (int)iv;
    } else if (strcmp(f, "--top-k") == 0) {
      if (!cli_parse_ll(CMD, f, v, 0, 1 << 24, &iv)) return 0;
      a->top_k = (int)iv;
    } else if (strcmp(f, "--threads") == 0) {
      if (!cli_parse_ll(CMD, f, v, 1, 1024, &iv)) return 0;
      a->threads = (int)iv;
    } else if (strcmp(f, "--seed") == 0) {
      if (!cli_parse_ll(CMD, f, v, 0, (long long)9e18, &iv)) return 0;
      a->seed = (uint64_t)iv;
    } else if (strcmp(f, "--temperature") == 0) {
      if (!cli_parse_dbl(CMD, f, v, 0, 100, &a->temperature)) return 0;
    } else if (strcmp(f, "--top-p") == 0) {
      if (!cli_parse_dbl(CMD, f, v, 1e-6, 1, &a->top_p)) return 0;
    } else {
      fprintf(stderr, "ordo generate: unknown option '%s' (see --help)\n", f);
      return 0;
    }
  }
  if (!a->model || !!a->prompt == !!a->prompt_ids) {
    fprintf(stderr, "ordo generate: --model and one of --prompt or --prompt-ids are required\n");
    return 0;
  }
  int sampling = a->temperature > 0 || a->top_k > 0 || a->top_p < 1;
  if (greedy && sampling) {
    fprintf(stderr, "ordo generate: --greedy excludes --temperature, --top-k and --top-p\n");
    return 0;
  }
  if (a->temperature < 0) a->temperature = sampling ? 1.0 : 0.0;
  if (a->temperature == 0 && (a->top_k > 0 || a->top_p < 1)) {
    fprintf(stderr, "ordo generate: --top-k and --top-p sample: they need --temperature > 0\n");
    return 0;
  }
  return 1;
}

/* "5, 17 3": ids separated by commas and/or spaces, each in [0, vocab). */
static int parse_ids(const char *s, int vocab, int32_t **out, int *n, ordo_err *e) {
  int cap = 16, k = 0;
  int32_t *ids = ordo_malloc((size_t)cap * sizeof(int32_t));
  const char *p = s;
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 0 || v >= vocab) {
      free(ids);
      return ordo_fail(e, "--prompt-ids: '%.*s' is not a token id in [0, %d)",
                       (int)strcspn(p, " ,"), p, vocab);
    }
    if (k == cap) ids = ordo_realloc(ids, (size_t)(cap *= 2) * sizeof(int32_t));
    ids[k++] = (int32_t)v;
    p = end;
    if (*p && *p != ' ' && *p != ',') {
      free(ids);
      return ordo_fail(e, "--prompt-ids: unexpected '%c' (ids are separated by commas or spaces)", *p);
    }
  }
  if (k == 0) {
    free(ids);
    return ordo_fail(e, "--prompt-ids: no ids given");
  }
  *out = ids, *n = k;
  return 0;
}

typedef struct cand {
  float p;
  int32_t id;
} cand;

static int by_prob_desc(const void *a, const void *b) {
  const cand *x = a, *y = b;
  return x->p < y->p ? 1 : x->p > y->p ? -1 : (x->id > y->id) - (x->id < y->id);
}

/* The next token from the logits: the argmax (temperature 0), or a draw from the softmax of
 * logits / T restricted to the top-k, then to the smallest prefix whose mass reaches top-p. */
static int32_t pick_token(const float *logits, int V, const gen_args *a, ordo_rng *r, cand *buf) {
  if (a->temperature == 0) {
    int32_t best = 0;
    for (int v = 1; v < V; v++)
      if (logits[v] > logits[best]) best = v;
    return best;
  }
  float mx = -INFINITY;
  for (int v = 0; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
  for (int v = 0; v < V; v++) buf[v] = (cand){expf((float)((logits[v] - mx) / a->temperature)), v};
  qsort(buf, (size_t)V, sizeof *buf, by_prob_desc);
  int n = a->top_k > 0 && a->top_k < V ? a->top_k : V;
  double total = 0;
  for (int i = 0; i < n; i++) total += buf[i].p;
  if (a->top_p < 1) {
    double run = 0;
    for (int i = 0; i < n; i++) {
      run += buf[i].p / total;
      if (run >= a->top_p) {
        n = i + 1;
        break;
      }
    }
    total = 0;
    for (int i = 0; i < n; i++) total += buf[i].p;
  }
  double u = rng_uniform(r) * total, run = 0;
  for (int i = 0; i < n; i++) {
    run += buf[i].p;
    if (u < run) return buf[i].id;
  }
  return buf[n - 1].id;
}

int cmd_generate(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  gen_args a;
  if (!parse_args(&a, argc, argv)) return 2;
  ordo_set_threads(a.threads);
  ordo_err e = {0};
  int rc = 1, have_model = 0, have_be = 0;
  enc_model m;
  ordo_backend be;
  tok *tk = NULL;
  int32_t *ids = NULL;
  cand *buf = NULL;
  char *text = NULL;
  char path[4096];
  enc_config cfg;
  snprintf(path, sizeof path, "%s/config.json", a.model);
  if (hfconfig_load(&cfg, path, &e) != 0) goto done;
  if (!enc_is_causal(&cfg)) {
    ordo_fail(&e, "%s: model_type %s is not a causal LM: generate needs gpt2", path, cfg.model_type);
    goto done;
  }
  if (cfg.position != ENC_POS_LEARNED && cfg.position != ENC_POS_ROPE) {
    ordo_fail(&e, "%s: %s positions: generation runs absolute or rope positions", path,
              enc_position_name(cfg.position));
    goto done;
  }
  snprintf(path, sizeof path, "%s/tokenizer.json", a.model);
  int have_tok = ordo_is_file(path);
  if (have_tok && tok_load(&tk, path, &e) != 0) goto done;
  if (a.prompt && !tk) {
    ordo_fail(&e, "--prompt: %s has no tokenizer.json to encode it (give --prompt-ids)", a.model);
    goto done;
  }
  int n_prompt = 0;
  if (a.prompt) {
    size_t len = strlen(a.prompt);
    n_prompt = tok_encode(tk, a.prompt, len, NULL, 0, 0);
    ids = ordo_malloc(((size_t)n_prompt + (size_t)a.max_new) * sizeof(int32_t));
    tok_encode(tk, a.prompt, len, ids, n_prompt, 0);
    if (n_prompt == 0) {
      ordo_fail(&e, "--prompt: the text encodes to no tokens");
      goto done;
    }
  } else {
    int32_t *p = NULL;
    if (parse_ids(a.prompt_ids, cfg.vocab_size, &p, &n_prompt, &e) != 0) goto done;
    ids = ordo_malloc(((size_t)n_prompt + (size_t)a.max_new) * sizeof(int32_t));
    memcpy(ids, p, (size_t)n_prompt * sizeof(int32_t));
    free(p);
  }
  for (int i = 0; i < n_prompt; i++)
    if (ids[i] >= cfg.vocab_size) {
      ordo_fail(&e, "--prompt: token %d is outside the model's vocabulary (%d)", ids[i], cfg.vocab_size);
      goto done;
    }
  int total = n_prompt + a.max_new;
  if (total > cfg.max_position_embeddings) {
    ordo_fail(&e, "the prompt (%d tokens) plus --max-new-tokens %d is %d tokens, more than the "
                  "model's context of %d (n_positions in %s/config.json)",
              n_prompt, a.max_new, total, cfg.max_position_embeddings, a.model);
    goto done;
  }
  if (device_open(&be, a.device, &e) != 0) goto done;
  have_be = 1;
  if (enc_init(&m, &cfg, ENC_HEAD_MLM, &be, &e) != 0) goto done;
  have_model = 1;
  if (enc_load(&m, a.model, NULL, &e) != 0) goto done;
  enc_plan(&m, 1, total, total);
  buf = ordo_malloc((size_t)cfg.vocab_size * sizeof *buf);
  ordo_rng r;
  rng_init(&r, a.seed);
  int eos = a.ignore_eos ? -1 : cfg.eos_token_id;
  size_t printed = 0, cap = 0;
  if (tk && !a.prompt_ids) {
    /* the prompt's text as the tokenizer gives it back, then the continuation */
    cap = tok_decode(tk, ids, n_prompt, NULL, 0, 0) + 1;
    text = ordo_malloc(cap);
    printed = tok_decode(tk, ids, n_prompt, text, cap, 0);
    fwrite(text, 1, printed, stdout);
  }
  double t0 = ordo_time(), t_first = 0;
  int T = n_prompt, done_run = 0, n_new = 0;
  while (n_new < a.max_new) {
    /* with the cache only the tokens not yet run go through the model */
    const float *logits = enc_decode(&m, ids, T, a.no_cache ? 0 : done_run);
    done_run = T;
    int32_t next = pick_token(logits, cfg.vocab_size, &a, &r, buf);
    if (n_new == 0) t_first = ordo_time() - t0;
    ids[T++] = next;
    n_new++;
    if (text) {
      size_t need = tok_decode(tk, ids, T, NULL, 0, 0) + 1;
      if (need > cap) text = ordo_realloc(text, cap = 2 * need);
      size_t len = tok_decode(tk, ids, T, text, cap, 0);
      if (len > printed) fwrite(text + printed, 1, len - printed, stdout);
      printed = len;
    } else {
      printf("%s%d", n_new > 1 ? " " : "", next);
    }
    fflush(stdout);
    if (next == eos) break;
  }
  printf("\n");
  double el = ordo_time() - t0;
  fprintf(stderr, "generate: %d new tokens in %.3f s: %.1f tokens/s (%s; first token %.3f s, "
          "prompt %d tokens)%s\n", n_new, el, n_new / el, a.no_cache ? "no cache" : "key/value cache",
          t_first, n_prompt, ids[T - 1] == eos ? ", stopped at EOS" : "");
  rc = 0;
done:
  if (rc != 0) fprintf(stderr, "ordo generate: %s\n", e.msg);
  if (have_model) enc_free(&m);
  if (have_be) ordo_backend_close(&be);
  tok_free(tk);
  free(ids);
  free(buf);
  free(text);
  return rc;
}
