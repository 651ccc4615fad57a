/* ordo train: masked-LM pretraining of a BERT-family encoder, or causal-LM training of GPT-2,
 * on a text corpus (text, code, notebooks). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli_parse.h"
#include "commands.h"
#include "model_files.h"
#include "device_flag.h"
#include "train_flags.h"
#include "ordo/dist.h"
#include "ordo/electra_task.h"
#include "ordo/files.h"
#include "ordo/metrics.h"
#include "ordo/mlm.h"
#include "ordo/mlm_task.h"
#include "ordo/model.h"
#include "ordo/notebook.h"
#include "ordo/optim.h"
#include "ordo/progress.h"
#include "ordo/schedule.h"
#include "ordo/tok.h"
#include "ordo/trainer.h"

typedef struct train_args {
  const char *out, *tokenizer, *init, *config;
  const char *device;                /* --device: the backend (NULL: cpu) */
  const char *model_type, *position; /* a new model's family and position scheme, or NULL */
  int embedding_size, groups;        /* 0: the family's default (= hidden; 1 ALBERT group) */
  int whole_word;                    /* mask whole words (the tokenizer's word starts) */
  int no_overlap;                    /* reduce the gradients after the backward pass */
  int nccl;                          /* --nccl: the NCCL path even as one process */
  int electra;                       /* --objective electra */
  int clm;                           /* --objective clm: next-token loss on packed sequences */
  const char **eval_corpus;          /* --eval-corpus: held-out text for perplexity */
  int n_eval_corpus;
  int64_t eval_every;                /* 0: at the end only */
  enc_lora_config lora;              /* --lora-r > 0: adapters trained, base frozen */
  const char *lora_targets;
  int sop;                           /* ALBERT: sentence-order prediction beside the masked LM */
  double gen_frac, rtd_weight;       /* ELECTRA: generator width fraction, lambda */
  const char **corpus;
  int n_corpus;
  int vocab_size, layers, hidden, heads, intermediate, seq, batch, threads, log_every, force;
  int64_t steps;
  double lr, warmup, dropout, min_lr, dist_timeout;
  double max_minutes; /* stop the steps after this long (0: no cap) */
  uint64_t seed;
  trainer_config tc; /* the technique flags (train_flags.h) */
} train_args;

static const char *k_recompute_names[] = {"none", "attention", "layer"};

static int write_model_files(void *ctx, const char *dir, ordo_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  return hfconfig_save(&((enc_model *)ctx)->cfg, path, e);
}

/* metrics.csv's columns: the record's values, printed as they always were */
static const metrics_column k_csv_cols[] = {
    {"step", "%lld"}, {"loss", "%.6f"}, {"lr", "%.6e"}, {"grad_norm", "%.6f"},
    {"tokens_per_s", "%.1f"}, {"loss_scale", "%g"}, {"skipped", "%.0f"}};

static void usage(FILE *f) {
  fprintf(f,
    "usage: ordo train --corpus PATH... --out DIR [options]\n\n"
    "Masked-LM pretraining of an encoder (dynamic masking: 15%% of tokens, 80/10/10), or\n"
    "causal-LM training of GPT-2 (--objective clm).\n"
    "Writes DIR/config.json, DIR/model.safetensors (loadable by HF transformers),\n"
    "DIR/tokenizer.json and DIR/metrics.csv (step, loss, lr, grad norm, tokens/s); the same per\n"
    "step (and memory) in DIR/metrics.jsonl and as TensorBoard scalars in DIR/tb/train/\n"
    "(`tensorboard --logdir DIR/tb`, or `ordo report DIR --out report.html`).\n\n"
    "data:\n"
    "  --corpus PATH...     text files or directories (read recursively; binary files skipped;\n"
    "                       .ipynb notebooks: their cells' sources in order, blank-line separated)\n"
    "  --eval-corpus PATH...  held-out text (clm): mean next-token loss and perplexity over all\n"
    "                       of it, at the end and every --eval-every steps (metrics eval_loss,\n"
    "                       eval_ppl)\n"
    "  --eval-every N       evaluate every N steps too (default: at the end only)\n"
    "  --tokenizer FILE     tokenizer.json or a directory with one; default: train a WordPiece\n"
    "                       tokenizer on the corpus first (clm: a byte-level BPE)\n"
    "  --vocab-size N       vocabulary of the trained tokenizer (default 8192)\n"
    "model:\n"
    "  --init DIR           start from a checkpoint (config.json + model.safetensors)\n"
    "  --config FILE        HF config.json of a new model (random init)\n"
    "  --layers N --hidden N --heads N --intermediate N   a new model (default 4/256/4/1024)\n"
    "  --model-type T       family of a new model: bert (default), roberta, roformer, albert,\n"
    "                       electra (ELECTRA's MLM head is its generator's, ElectraForMaskedLM),\n"
    "                       gpt2 (--objective clm's default and only family)\n"
    "  --position P         position scheme of a new model: absolute (learned; the default),\n"
    "                       sinusoidal, rope (RoFormer's and only choice), alibi, relative\n"
    "                       (T5-style buckets); other than the family's own, the checkpoint\n"
    "                       carries ordo_position and loads in ordo only\n"
    "  --embedding-size N   embedding width of a new ALBERT/ELECTRA/RoFormer, projected to\n"
    "                       --hidden (default: --hidden)\n"
    "  --groups N           ALBERT: layers share the parameters of N groups (default 1)\n"
    "  --dropout P          hidden and attention-probability dropout of a new model (default 0.1)\n"
    "training:\n"
    "  --seq N              tokens per sequence incl. [CLS]/[SEP] (default 128)\n"
    "  --batch N            sequences per step (default 16)\n"
    "  --steps N            optimizer steps (default 50)\n"
    "  --max-minutes F      stop after F minutes of steps (the schedule still spans --steps)\n"
    "                       and save as at the end: runs of one wall-clock budget (default 0:\n"
    "                       no cap)\n"
    "  --lr X               peak learning rate (default 5e-4)\n"
    "  --warmup X           warmup steps, or a fraction of --steps when < 1 (default 0.1)\n"
    "  --min-lr X           rate at the end of the decay (default 0)\n"
    "  --seed N             seeds init, data order, masking and dropout (default 1)\n"
    "  --objective O        clm: next-token loss of GPT-2 on packed sequences (documents back to\n"
    "                       back, the tokenizer's EOS between them; every position a target)\n"
    "                       mlm (default) or electra: a generator (--generator-frac of the\n"
    "                       heads and intermediate width, default 0.25, same depth, shared\n"
    "                       embeddings) learns the masked LM, its samples replace the masked\n"
    "                       tokens, the discriminator (the model saved) learns replaced-token\n"
    "                       detection over every position; loss MLM + --rtd-weight (50) x RTD.\n"
    "                       Writes the discriminator (ElectraForPreTraining) and generator/\n"
    "  --lora-r N           LoRA adapters of rank N (base frozen); writes the merged model to\n"
    "                       DIR and the adapters (peft layout) to DIR/adapter\n"
    "  --lora-alpha A       scaling A / r (default 2 r)    --lora-dropout P (default 0)\n"
    "  --lora-targets LIST  comma-separated modules (default: c_attn for gpt2, query,value else)\n"
    "  --sop                ALBERT: sentence-order prediction beside the masked LM (each\n"
    "                       sequence [CLS] A [SEP] B [SEP], its text cut at a random point, A\n"
    "                       and B swapped in half of them; loss MLM + SOP cross-entropy on the\n"
    "                       pooler's sop_classifier, AlbertForPreTraining's names)\n"
    "  --whole-word         whole-word masking: a word's tokens are masked together (each\n"
    "                       still 80/10/10); words as the tokenizer marks them (WordPiece:\n"
    "                       no \"##\"; byte-level BPE: a leading space or punctuation)\n"
    "  --threads N          CPU threads (default: all cores)\n"
    "  --log-every N        print a loss line every N steps (default 10)\n"
    "  --force              write into DIR even when it holds files (a finished model, another\n"
    "                       run); without it such a DIR is refused. A DIR/checkpoint is resumed.\n"
    "  (a checkpoint is always written to DIR/checkpoint at the end)\n"
    "several processes (a build with MPI; see README):\n"
    "  mpirun -np N ordo train ...   N ranks, each with --batch sequences of every step (the\n"
    "                       step's batch is N * --batch * --accum-steps); gradients summed over\n"
    "                       ranks; rank 0 writes logs, metrics and checkpoints\n"
    "  --dist-timeout S     a rank waiting longer than S seconds for the others aborts the job,\n"
    "                       naming the ranks that did not come (default %.0f)\n"
    "  --bucket-mb X        the gradients of the layers whose backward is done are reduced in\n"
    "                       buckets of X MB while the backward pass goes on (default 4; 0: each\n"
    "                       layer on its own)\n"
    "  --no-overlap         reduce all gradients after the backward pass instead\n"
    "  --nccl               with --device cuda in a build with NCCL (always so under mpirun):\n"
    "                       the collectives act on GPU memory through NCCL, even as one\n"
    "                       process (one rank: the same weights as without it)\n"
    "  --zero 1             ZeRO stage 1: each rank holds and updates the optimizer state of\n"
    "                       its part of the weights; gradients reduce-scattered, weights\n"
    "                       all-gathered; checkpoints hold the whole state (default 0)\n\n",
    DIST_TIMEOUT_DEFAULT);
  device_flag_usage(f);
  train_flags_usage(f);
}

/* ---- corpus ---- */
/* The files named, and the files under the folders named (recursively, sorted). */
static int corpus_collect(ordo_paths *c, const char **args, int n, ordo_err *e) {
  memset(c, 0, sizeof *c);
  for (int i = 0; i < n; i++) {
    if (ordo_is_file(args[i])) ordo_paths_add(c, args[i]);
    else if (!ordo_is_dir(args[i])) return ordo_fail(e, "%s: no such file or directory", args[i]);
    else if (ordo_list_files(args[i], NULL, 0, 1, c, e) != 0) return -1;
  }
  if (c->n == 0) return ordo_fail(e, "the corpus paths hold no files");
  return 0;
}

/* A notebook file's text (nb_text). */
static char *notebook_text(const char *json, size_t len, const char *path, size_t *out_len,
                           ordo_err *e) {
  nb_notebook nb;
  nb_ipynb_opts o = {0};
  if (nb_parse_ipynb(&nb, json, len, path, &o, e) < 0) return NULL;
  char *out = nb_text(&nb, out_len);
  nb_notebook_free(&nb);
  return out;
}

/* Reads the text files (files with NUL bytes are skipped as binary). */
static int corpus_read(const ordo_paths *c, char ***texts, size_t **lens, int *n, ordo_err *e) {
  *texts = ordo_calloc((size_t)c->n, sizeof(char *));
  *lens = ordo_calloc((size_t)c->n, sizeof(size_t));
  *n = 0;
  int skipped = 0;
  for (int i = 0; i < c->n; i++) {
    size_t len;
    char *t = ordo_read_file(c->p[i], &len, e);
    if (!t) return -1;
    if (memchr(t, 0, len) || len == 0) {
      free(t);
      skipped++;
      continue;
    }
    size_t nl = strlen(c->p[i]);
    if (nl > 6 && strcmp(c->p[i] + nl - 6, ".ipynb") == 0) {
      char *cells = notebook_text(t, len, c->p[i], &len, e);
      free(t);
      if (!cells) return -1;
      t = cells;
    }
    (*texts)[*n] = t;
    (*lens)[*n] = len;
    (*n)++;
  }
  if (skipped) log_info("corpus: skipped %d binary or empty files", skipped);
  if (*n == 0) return ordo_fail(e, "the corpus holds no text files");
  return 0;
}

/* The token stream: the documents back to back, each followed by sep (clm: the EOS). */
static int32_t *token_stream(const tok *tk, char **texts, const size_t *lens, int n, int32_t sep,
                             int threads, int64_t *n_tokens) {
  tok_batch tb;
  tok_encode_batch(tk, (const char *const *)texts, lens, n, 0, threads, &tb);
  int64_t k = 0;
  int32_t *stream = ordo_malloc((size_t)(tb.offsets[n] + n) * sizeof(int32_t));
  for (int i = 0; i < n; i++) {
    int64_t len = tb.offsets[i + 1] - tb.offsets[i];
    memcpy(stream + k, tb.ids + tb.offsets[i], (size_t)len * sizeof(int32_t));
    k += len;
    stream[k++] = sep;
  }
  tok_batch_free(&tb);
  *n_tokens = k;
  return stream;
}

/* ---- flags ---- */
static int want(int i, int argc, char **argv) {
  if (i + 1 >= argc) {
    fprintf(stderr, "ordo train: %s needs a value\n", argv[i]);
    return 0;
  }
  return 1;
}

static int parse_args(train_args *a, int argc, char **argv) {
  *a = (train_args){.vocab_size = 8192, .layers = 4, .hidden = 256, .heads = 4,
                    .intermediate = 1024, .seq = 128, .batch = 16, .threads = 0, .log_every = 10,
                    .steps = 50, .lr = 5e-4, .warmup = 0.1, .dropout = 0.1, .seed = 1,
                    .dist_timeout = DIST_TIMEOUT_DEFAULT,
                    .gen_frac = 0.25, .rtd_weight = 50,
                    .tc = trainer_defaults()};
  a->corpus = ordo_calloc((size_t)argc, sizeof(char *));
  a->eval_corpus = ordo_calloc((size_t)argc, sizeof(char *));
  double lora_alpha = 0, lora_dropout = 0;
  for (int i = 1; i < argc; i++) {
    const char *f = argv[i];
    long long iv;
    double dv;
    int tf;
    if (strcmp(f, "--corpus") == 0 || strcmp(f, "--eval-corpus") == 0) {
      int ev = f[2] == 'e';
      const char **dst = ev ? a->eval_corpus : a->corpus;
      int *n = ev ? &a->n_eval_corpus : &a->n_corpus;
      while (i + 1 < argc && argv[i + 1][0] != '-') dst[(*n)++] = argv[++i];
      if (*n == 0) {
        fprintf(stderr, "ordo train: %s needs at least one path\n", f);
        return 0;
      }
    } else if (strcmp(f, "--lora-targets") == 0) {
      if (!want(i, argc, argv)) return 0;
      a->lora_targets = argv[++i];
    } else if (strcmp(f, "--out") == 0 || strcmp(f, "--tokenizer") == 0 ||
               strcmp(f, "--init") == 0 || strcmp(f, "--config") == 0 || strcmp(f, "--device") == 0) {
      if (!want(i, argc, argv)) return 0;
      const char **dst = f[2] == 'o' ? &a->out : f[2] == 't' ? &a->tokenizer
                         : f[2] == 'i' ? &a->init : f[2] == 'd' ? &a->device : &a->config;
      *dst = argv[++i];
    } else if (strcmp(f, "--force") == 0) {
      a->force = 1;
    } else if (strcmp(f, "--whole-word") == 0) {
      a->whole_word = 1;
    } else if (strcmp(f, "--no-overlap") == 0) {
      a->no_overlap = 1;
    } else if (strcmp(f, "--nccl") == 0) {
      a->nccl = 1;
    } else if (strcmp(f, "--sop") == 0) {
      a->sop = 1;
    } else if (strcmp(f, "--objective") == 0) {
      if (!want(i, argc, argv)) return 0;
      const char *v = argv[++i];
      if (strcmp(v, "mlm") != 0 && strcmp(v, "electra") != 0 && strcmp(v, "clm") != 0) {
        fprintf(stderr, "ordo train: --objective must be mlm, electra or clm, got '%s'\n", v);
        return 0;
      }
      a->electra = strcmp(v, "electra") == 0;
      a->clm = strcmp(v, "clm") == 0;
    } else if (strcmp(f, "--model-type") == 0 || strcmp(f, "--position") == 0) {
      if (!want(i, argc, argv)) return 0;
      const char *v = argv[++i];
      int ok = 0;
      if (f[2] == 'm') {
        for (int k = 0; k < ORDO_ARCH_COUNT; k++) ok |= strcmp(v, arch_name((ordo_arch)k)) == 0;
        a->model_type = v;
      } else {
        enc_position p;
        ok = enc_position_parse(v, &p) == 0;
        a->position = v;
      }
      if (!ok) {
        fprintf(stderr, "ordo train: %s '%s' is not one of %s\n", f, v,
                f[2] == 'm' ? "bert, roberta, electra, albert, roformer, gpt2"
                            : "absolute, sinusoidal, rope, alibi, relative");
        return 0;
      }
    } else if ((tf = train_flags_parse(&a->tc, argc, argv, &i, "ordo train")) != 0) {
      if (tf < 0) return 0;
    } else {
      struct { const char *name; int *ip; int64_t *lp; double *dp; double lo, hi; } k[] = {
          {"--vocab-size", &a->vocab_size, NULL, NULL, 64, ENC_MAX_VOCAB},
          {"--layers", &a->layers, NULL, NULL, 1, ENC_MAX_LAYERS},
          {"--hidden", &a->hidden, NULL, NULL, 8, ENC_MAX_HIDDEN},
          {"--heads", &a->heads, NULL, NULL, 1, ENC_MAX_HEADS},
          {"--intermediate", &a->intermediate, NULL, NULL, 8, ENC_MAX_INTERMEDIATE},
          {"--embedding-size", &a->embedding_size, NULL, NULL, 2, ENC_MAX_HIDDEN},
          {"--generator-frac", NULL, NULL, &a->gen_frac, 0.01, 1},
          {"--rtd-weight", NULL, NULL, &a->rtd_weight, 0, 1e6},
          {"--groups", &a->groups, NULL, NULL, 1, ENC_MAX_LAYERS},
          {"--seq", &a->seq, NULL, NULL, 8, 8192},
          {"--batch", &a->batch, NULL, NULL, 1, 65536},
          {"--threads", &a->threads, NULL, NULL, 1, 1024},
          {"--log-every", &a->log_every, NULL, NULL, 1, 1e9},
          {"--steps", NULL, &a->steps, NULL, 1, 1e12},
          {"--lr", NULL, NULL, &a->lr, 0, 10},
          {"--warmup", NULL, NULL, &a->warmup, 0, 1e12},
          {"--min-lr", NULL, NULL, &a->min_lr, 0, 10},
          {"--dropout", NULL, NULL, &a->dropout, 0, 0.99},
          {"--dist-timeout", NULL, NULL, &a->dist_timeout, 1, 1e7},
          {"--eval-every", NULL, &a->eval_every, NULL, 1, 1e12},
          {"--lora-r", &a->lora.r, NULL, NULL, 1, 4096},
          {"--lora-alpha", NULL, NULL, &lora_alpha, 1e-6, 1e6},
          {"--lora-dropout", NULL, NULL, &lora_dropout, 0, 0.99},
          {"--zero", &a->tc.zero, NULL, NULL, 0, 1},
          {"--bucket-mb", NULL, NULL, &a->tc.bucket_mb, 0, 1e6},
          {"--max-minutes", NULL, NULL, &a->max_minutes, 0, 1e7},
          {"--seed", NULL, NULL, NULL, 0, 9e18},
      };
      int hit = 0;
      for (size_t j = 0; j < sizeof k / sizeof k[0]; j++) {
        if (strcmp(f, k[j].name) != 0) continue;
        hit = 1;
        if (!want(i, argc, argv)) return 0;
        const char *v = argv[++i];
        if (k[j].dp) {
          if (!cli_parse_dbl("ordo train", f, v, k[j].lo, k[j].hi, &dv)) return 0;
          *k[j].dp = dv;
        } else {
          if (!cli_parse_ll("ordo train", f, v, (long long)k[j].lo, (long long)k[j].hi, &iv))
            return 0;
          if (k[j].ip) *k[j].ip = (int)iv;
          else if (k[j].lp) *k[j].lp = iv;
          else a->seed = (uint64_t)iv;
        }
      }
      if (!hit) {
        fprintf(stderr, "ordo train: unknown option '%s' (see ordo train --help)\n", f);
        return 0;
      }
    }
  }
  if (!a->out || a->n_corpus == 0) {
    fprintf(stderr, "ordo train: --corpus and --out are required (see ordo train --help)\n");
    return 0;
  }
  if (train_flags_check(&a->tc, "ordo train") != 0) return 0;
  if (a->n_eval_corpus && !a->clm) {
    fprintf(stderr, "ordo train: --eval-corpus measures perplexity: it needs --objective clm\n");
    return 0;
  }
  if (a->eval_every && !a->n_eval_corpus) {
    fprintf(stderr, "ordo train: --eval-every needs --eval-corpus\n");
    return 0;
  }
  if ((lora_alpha > 0 || lora_dropout > 0 || a->lora_targets) && a->lora.r == 0) {
    fprintf(stderr, "ordo train: --lora-alpha, --lora-dropout and --lora-targets need --lora-r\n");
    return 0;
  }
  a->lora.alpha = lora_alpha > 0 ? (float)lora_alpha : 2.0f * (float)a->lora.r;
  a->lora.dropout = (float)lora_dropout;
  if (a->lora.r > 0 && a->electra) {
    fprintf(stderr, "ordo train: --lora-r does not combine with --objective electra\n");
    return 0;
  }
  if (a->clm) {
    if (a->model_type && strcmp(a->model_type, "gpt2") != 0) {
      fprintf(stderr, "ordo train: --objective clm trains a decoder: --model-type gpt2, not '%s'\n",
              a->model_type);
      return 0;
    }
    if (!a->init && !a->config) a->model_type = "gpt2";
    if (a->whole_word) {
      fprintf(stderr, "ordo train: --whole-word is a masking option: not with --objective clm\n");
      return 0;
    }
  }
  /* the activations grow with the tokens of a micro-batch: bound them before they are sized */
  if ((int64_t)a->batch * a->seq > (1 << 20)) {
    fprintf(stderr, "ordo train: --batch %d x --seq %d is %lld tokens per micro-batch, more than "
                    "%d (use --accum-steps for larger steps)\n", a->batch, a->seq,
            (long long)a->batch * a->seq, 1 << 20);
    return 0;
  }
  if (a->tc.group_by_length) {
    fprintf(stderr, "ordo train: --group-by-length: language-model sequences are packed to --seq "
                    "tokens, there is no padding to save\n");
    return 0;
  }
  if (a->init && a->config) {
    fprintf(stderr, "ordo train: --init and --config exclude each other\n");
    return 0;
  }
  if (a->sop && a->electra) {
    fprintf(stderr, "ordo train: --sop is ALBERT's objective, not ELECTRA's\n");
    return 0;
  }
  if (a->sop && a->model_type && strcmp(a->model_type, "albert") != 0) {
    fprintf(stderr, "ordo train: --sop trains --model-type albert\n");
    return 0;
  }
  if (a->electra) {
    if (a->init || a->config) {
      fprintf(stderr, "ordo train: --objective electra trains a new generator and discriminator "
                      "(no --init or --config)\n");
      return 0;
    }
    if (a->model_type && strcmp(a->model_type, "electra") != 0) {
      fprintf(stderr, "ordo train: --objective electra trains --model-type electra\n");
      return 0;
    }
    a->model_type = "electra";
    if (a->tc.precision != ORDO_DT_F32) {
      fprintf(stderr, "ordo train: --objective electra runs in fp32 only\n");
      return 0;
    }
  }
  if ((a->init || a->config) && (a->model_type || a->position || a->embedding_size || a->groups)) {
    fprintf(stderr, "ordo train: --model-type, --position, --embedding-size and --groups describe "
                    "a new model; with --init or --config its config.json decides\n");
    return 0;
  }
  return 1;
}

/* A new model from the flags: --model-type's family (BERT by default) with its own position
 * scheme unless --position names another. */
static int new_config(enc_config *cfg, const train_args *a, ordo_err *e) {
  ordo_arch arch = ORDO_ARCH_BERT;
  for (int k = 0; k < ORDO_ARCH_COUNT && a->model_type; k++)
    if (strcmp(a->model_type, arch_name((ordo_arch)k)) == 0) arch = (ordo_arch)k;
  hfconfig_defaults(cfg, arch);
  cfg->num_hidden_layers = a->layers;
  cfg->hidden_size = cfg->embedding_size = a->hidden;
  if (a->embedding_size) cfg->embedding_size = a->embedding_size;
  cfg->num_attention_heads = a->heads;
  cfg->intermediate_size = a->intermediate;
  cfg->hidden_dropout_prob = (float)a->dropout;
  cfg->attention_probs_dropout_prob = (float)a->dropout;
  if (arch != ORDO_ARCH_GPT2) /* ALBERT's default is gelu_new; GPT-2 keeps its gelu_new */
    snprintf(cfg->hidden_act, sizeof cfg->hidden_act, "gelu");
  cfg->max_position_embeddings = a->seq > 512 ? a->seq : 512;
  if (a->position) enc_position_parse(a->position, &cfg->position);
  if (a->groups) {
    if (arch != ORDO_ARCH_ALBERT) return ordo_fail(e, "--groups is ALBERT's (--model-type albert)");
    if (a->layers % a->groups != 0)
      return ordo_fail(e, "--groups %d does not divide --layers %d", a->groups, a->layers);
    cfg->num_hidden_groups = a->groups;
  }
  return 0;
}

int cmd_train(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  train_args a;
  if (!parse_args(&a, argc, argv)) {
    free(a.corpus);
    free(a.eval_corpus);
    return 2;
  }
  ordo_set_threads(a.threads);
  ordo_err e = {0};
  ordo_dist dist;
  if (dist_init(&dist, a.dist_timeout, &e) != 0) {
    fprintf(stderr, "ordo train: %s\n", e.msg);
    free(a.corpus);
    return 1;
  }
  const int root = dist_is_root(&dist), world = dist_world(&dist);
  /* the ranks run the same program on the same files, so rank 0 speaks for all; what only one
   * rank sees (a collective timing out, a rank's own failure) is an error and still printed */
  if (!root && ordo_log_level() > ORDO_LOG_ERROR) ordo_log_set_level(ORDO_LOG_ERROR);
  int rc = 1;
  ordo_paths cp = {0};
  char **texts = NULL;
  size_t *lens = NULL;
  int n_texts = 0;
  tok *tk = NULL;
  ordo_backend be = {0};
  mlm_data data = {0}, eval_data = {0};
  int have_eval = 0;
  uint8_t *word_start = NULL;
  enc_model m, gen;
  int have_model = 0, have_gen = 0;
  ordo_params joint = {0};
  electra_task etask = {0};
  trainer tr;
  int have_trainer = 0;
  mlm_task task = {0};
  ordo_metrics metrics;
  int have_metrics = 0;
  char path[4096];

  if (world > 1 && a.electra) {
    /* its generator's samples are drawn per micro-batch of one process */
    ordo_fail(&e, "--objective electra runs as one process, not under mpirun with %d ranks", world);
    goto done;
  }
  if (world > 1 && a.max_minutes > 0) {
    /* each rank would read its own clock and stop at a different step */
    ordo_fail(&e, "--max-minutes runs as one process, not under mpirun with %d ranks", world);
    goto done;
  }
  /* the backend, before anything is written */
  if (device_open(&be, a.device, &e) != 0) {
    be.ops = NULL;
    goto done;
  }
  if (device_dist_join(&be, &dist, a.nccl, &e) != 0) goto done;
  if (world > 1)
    log_info("data parallel: %d ranks, %d sequences each per micro-batch, global batch %d", world,
             a.batch, world * a.batch * a.tc.accum_steps);
  /* the output folder: empty, a run to resume, or --force; its checkpoint folder, when there is
   * one, must be a checkpoint (checked now, not when the run ends and saves) */
  char ckpt_dir[4096];
  snprintf(ckpt_dir, sizeof ckpt_dir, "%s/checkpoint", a.out);
  if (root && ordo_out_dir_check(a.out, a.force || ckpt_exists(ckpt_dir), &e) != 0) goto done;
  if (root && ckpt_check_dir(ckpt_dir, &e) != 0) goto done;
  /* the model's configuration, checked before anything is written */
  enc_config cfg;
  if (a.init) {
    snprintf(path, sizeof path, "%s/config.json", a.init);
    if (hfconfig_load(&cfg, path, &e) != 0) goto done;
  } else if (a.config) {
    if (hfconfig_load(&cfg, a.config, &e) != 0) goto done;
  } else if (new_config(&cfg, &a, &e) != 0) {
    goto done;
  }
  if (enc_is_causal(&cfg) != a.clm) {
    ordo_fail(&e, "%s is %s: %s", a.init ? path : a.config ? a.config : "the new model",
              cfg.model_type, a.clm ? "--objective clm trains a causal LM (gpt2)"
                                    : "a causal LM trains with --objective clm");
    goto done;
  }
  if (a.lora.r > 0) {
    const char *list = a.lora_targets ? a.lora_targets : a.clm ? "c_attn" : "query,value";
    char buf[256];
    const char *names[16];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tkn = strtok(buf, ","); tkn && n < 16; tkn = strtok(NULL, ",")) names[n++] = tkn;
    if (enc_lora_parse_targets(cfg.arch, names, n, &a.lora.targets, &e) != 0) {
      ordo_err_prefix(&e, "--lora-targets");
      goto done;
    }
  }
  if (a.sop && cfg.arch != ORDO_ARCH_ALBERT) {
    ordo_fail(&e, "--sop is ALBERT's: %s is a %s model", a.init ? a.init : a.config, cfg.model_type);
    goto done;
  }
  if (enc_check_seq(&cfg, a.seq, &e) != 0) {
    ordo_err_prefix(&e, "--seq %d with %s", a.seq, a.init ? path : a.config ? a.config : "the new model");
    goto done;
  }
  int heads = a.electra ? ENC_HEAD_RTD : a.sop ? ENC_HEAD_MLM | ENC_HEAD_SOP : ENC_HEAD_MLM;
  if (enc_check_config(&cfg, heads, &a.lora, &e) != 0) {
    ordo_err_prefix(&e, "%s", a.init ? path : a.config ? a.config : "the new model");
    goto done;
  }
  if (root && ordo_dir_ensure(a.out, &e) != 0) goto done;
  if (corpus_collect(&cp, a.corpus, a.n_corpus, &e) != 0) goto done;
  if (corpus_read(&cp, &texts, &lens, &n_texts, &e) != 0) goto done;
  size_t bytes = 0;
  for (int i = 0; i < n_texts; i++) bytes += lens[i];
  log_info("corpus: %d files, %.1f MB", n_texts, bytes / 1e6);

  /* tokenizer: given, from --init, or trained on the corpus */
  snprintf(path, sizeof path, "%s/tokenizer.json", a.out);
  {
    const char *from = a.tokenizer ? a.tokenizer : a.init;
    char *json = NULL;
    if (from ? tok_load(&tk, from, &e)
             : tokenizer_train(&tk, (const char *const *)texts, lens, n_texts, a.vocab_size, a.clm, &json, &e))
      goto done;
    /* keep the tokenizer with the model */
    int kept = root ? tokenizer_keep(from, json, path, &e) : 0;
    free(json);
    if (kept != 0) goto done;
  }

  /* token stream: documents back to back, separated by [SEP] (clm: packed, EOS between) */
  int32_t eos = tok_special_id(tk, TOK_SP_EOS);
  if (a.clm && eos < 0) {
    ordo_fail(&e, "%s: the tokenizer has no end-of-text token (<|endoftext|>, </s> or [SEP]) to "
                  "separate documents", a.tokenizer ? a.tokenizer : a.init ? a.init : "trained");
    goto done;
  }
  if (a.clm) {
    int64_t k;
    int32_t *stream = token_stream(tk, texts, lens, n_texts, eos, a.threads, &k);
    log_info("corpus: %lld tokens, packed into sequences of %d", (long long)k, a.seq);
    if (clm_data_init(&data, stream, k, a.seq, a.batch * world * a.tc.accum_steps,
                      tok_vocab_size(tk), a.seed, &e) != 0)
      goto done;
  } else {
    int32_t sep = tok_special_id(tk, TOK_SP_SEP);
    int64_t k;
    int32_t *stream = token_stream(tk, texts, lens, n_texts, sep, a.threads, &k);
    log_info("corpus: %lld tokens", (long long)k);
    if (mlm_data_init(&data, stream, k, a.seq, a.batch * world * a.tc.accum_steps,
                      tok_special_id(tk, TOK_SP_CLS), sep,
                      tok_special_id(tk, TOK_SP_MASK), tok_special_id(tk, TOK_SP_PAD),
                      tok_vocab_size(tk), a.seed, &e) != 0)
      goto done;
    if (a.whole_word) {
      int V = tok_vocab_size(tk);
      word_start = ordo_malloc((size_t)V);
      for (int32_t id = 0; id < V; id++) word_start[id] = (uint8_t)tok_starts_word(tk, id);
      data.word_start = word_start;
    }
    data.sop = a.sop;
  }

  /* model */
  {
    if (!a.init) {
      cfg.vocab_size = tok_vocab_size(tk);
      int32_t pad = tok_special_id(tk, TOK_SP_PAD);
      cfg.pad_token_id = pad >= 0 ? pad : 0;
      if (a.clm) { /* generation starts from BOS and stops at EOS */
        int32_t bos = tok_special_id(tk, TOK_SP_BOS);
        cfg.eos_token_id = eos;
        cfg.bos_token_id = bos >= 0 ? bos : eos;
      }
      /* RoBERTa numbers positions from pad_token_id + 1 */
      if (!a.config && cfg.arch == ORDO_ARCH_ROBERTA) cfg.max_position_embeddings += cfg.pad_token_id + 1;
    } else if (cfg.vocab_size < tok_vocab_size(tk)) {
      ordo_fail(&e, "%s: vocab_size %d is smaller than the tokenizer's %d", a.init, cfg.vocab_size,
                tok_vocab_size(tk));
      goto done;
    }
    if (enc_init_lora(&m, &cfg, heads, &a.lora, &be, &e) != 0) goto done;
    have_model = 1;
    enc_init_weights(&m, a.seed);
    if (a.init && enc_load(&m, a.init, NULL, &e) != 0) goto done;
    if (a.electra) {
      int n_shared = electra_generator_init(&gen, &m, a.gen_frac, a.seed, &joint, &e);
      if (n_shared < 0) goto done;
      have_gen = 1;
      log_info("ELECTRA: generator H%d A%d I%d sharing %d embedding tensors, lambda %g",
               gen.cfg.hidden_size, gen.cfg.num_attention_heads, gen.cfg.intermediate_size,
               n_shared, a.rtd_weight);
    }
  }
  trainer_config tc = a.tc;
  tc.steps = a.steps;
  tc.sched = (sched_config){.kind = a.tc.sched.kind, .lr = (float)a.lr, .total_steps = a.steps,
                            .min_lr = (float)a.min_lr,
                            .warmup_steps = a.warmup < 1 ? (int64_t)(a.warmup * a.steps) : (int64_t)a.warmup};
  tc.adamw.lr = (float)a.lr;
  tc.seed = a.seed;
  tc.ckpt_dir = ckpt_dir;
  /* the masked-LM micro-batch runs the encoder's backward once: its layers can start reducing */
  tc.overlap = !a.no_overlap && !a.electra;
  if (a.electra) {
    /* one optimizer over both models' table; recompute is set on each model */
    enc_set_recompute(&m, tc.recompute);
    enc_set_recompute(&gen, tc.recompute);
    trainer_config jc = tc;
    jc.recompute = ENC_RECOMPUTE_NONE;
    if (trainer_init_params(&tr, &joint, &jc, &e) != 0) goto done;
    enc_plan(&gen, a.batch, a.seq, a.batch * a.seq);
  } else if (trainer_init(&tr, &m, &tc, &e) != 0) {
    goto done;
  }
  have_trainer = 1;
  if (trainer_set_dist(&tr, &dist, &e) != 0) goto done;
  if (tc.zero && world < 2) log_info("--zero 1 on one process: it holds the whole optimizer state");
  enc_plan(&m, a.batch, a.seq, a.batch * a.seq);
  log_info("model: %s L%d H%d A%d I%d, %.2fM parameters, activations %.1f MB, optimizer state "
           "%.1f MB%s (%d-bit AdamW), %s, recompute %s, accumulation %d",
           m.cfg.model_type, m.cfg.num_hidden_layers, m.cfg.hidden_size, m.cfg.num_attention_heads,
           m.cfg.intermediate_size, params_count(&m.params, 0) / 1e6, m.arena.cap / 1e6,
           trainer_state_bytes(&tr) / 1e6, tr.shard ? " per rank (ZeRO-1)" : "", tc.q8.bits, tc.precision == ORDO_DT_F32 ? "fp32"
           : tc.precision == ORDO_DT_BF16 ? "bf16" : "fp16", k_recompute_names[tc.recompute],
           tc.accum_steps);
  /* the model's files travel with every checkpoint (ELECTRA's: at the end) */
  tr.write_extra = a.electra ? NULL : write_model_files;
  tr.extra_ctx = &m;
  int resumed = trainer_resume(&tr, &e);
  if (resumed < 0) goto done;
  if (resumed) log_info("resumed from %s at step %lld", ckpt_dir, (long long)tr.prog.step);

  if (a.n_eval_corpus) {
    ordo_paths ep = {0};
    char **et = NULL;
    size_t *el = NULL;
    int en = 0, erc = corpus_collect(&ep, a.eval_corpus, a.n_eval_corpus, &e);
    if (erc == 0) erc = corpus_read(&ep, &et, &el, &en, &e);
    if (erc == 0) {
      int64_t k;
      int32_t *stream = token_stream(tk, et, el, en, eos, a.threads, &k);
      erc = clm_data_init(&eval_data, stream, k, a.seq, 1, tok_vocab_size(tk), a.seed, &e);
      if (erc == 0)
        log_info("held-out: %d files, %lld tokens, %lld sequences of %d", en, (long long)k,
                 (long long)eval_data.n_seqs, a.seq);
    }
    for (int i = 0; i < en; i++) free(et[i]);
    free(et);
    free(el);
    ordo_paths_free(&ep);
    if (erc != 0) {
      ordo_err_prefix(&e, "--eval-corpus");
      goto done;
    }
    have_eval = 1;
  }
  mlm_task_init(&task, &data, &dist, a.batch, a.seq, tc.accum_steps);
  size_t BTall = (size_t)a.batch * a.seq * tc.accum_steps;
  if (a.electra) electra_task_init(&etask, &task, &gen, &m, (float)a.rtd_weight, a.seed);
  /* metrics.csv, metrics.jsonl and tb/train/: the rows up to a resumed step kept (rank 0's) */
  if (root) {
    if (metrics_open(&metrics, a.out, &e) != 0) goto done;
    have_metrics = 1;
    if (metrics_stage_begin(&metrics, "train", tr.prog.step, "metrics.csv", k_csv_cols,
                            (int)(sizeof k_csv_cols / sizeof *k_csv_cols), &e) != 0)
      goto done;
  }

  ordo_progress pb;
  if (root) {
    progress_init(&pb, "train", a.steps);
    pb.start = pb.done = tr.prog.step; /* a resumed run: the rate from here */
  }
  double t0 = ordo_time(), loss_first = NAN, loss_last = NAN, coll0 = dist.coll_s;
  int64_t first_step = tr.prog.step;
  while (tr.prog.step < a.steps) {
    double ts = ordo_time();
    int64_t step = tr.prog.step;
    trainer_stats st;
    if (a.electra)
      trainer_step(&tr, &etask, electra_task_prepare, electra_task_micro, &st);
    else
      trainer_step(&tr, &task, mlm_task_prepare, mlm_task_micro, &st);
    double tps = (double)BTall * world / (ordo_time() - ts); /* the global batch's tokens */
    if (isnan(loss_first)) loss_first = st.loss;
    loss_last = st.loss;
    double eval_loss = NAN;
    int64_t eval_n = 0;
    if (have_eval && ((a.eval_every && (step + 1) % a.eval_every == 0) || step + 1 == a.steps))
      eval_loss = clm_eval_loss(&m, &eval_data, a.batch, &eval_n);
    int save_now = tc.save_every > 0 && tr.prog.step % tc.save_every == 0 && tr.prog.step < a.steps;
    if (!root) { /* logs, metrics and checkpoints: rank 0's (under ZeRO every rank sends its part) */
      if (save_now && trainer_save(&tr, &e) != 0) goto done;
      continue;
    }
    metrics_record_begin(&metrics, step + 1);
    trainer_metrics_add(&metrics, &st);
    metrics_record_add(&metrics, "tokens_per_s", tps);
    if (!isnan(eval_loss)) {
      metrics_record_add(&metrics, "eval_loss", eval_loss);
      metrics_record_add(&metrics, "eval_ppl", exp(eval_loss));
      progress_clear(&pb);
      printf("eval step %lld: held-out loss %.4f perplexity %.2f over %lld tokens\n",
             (long long)step + 1, eval_loss, exp(eval_loss), (long long)eval_n);
    }
    if (metrics_record_end(&metrics, &e) != 0) goto done;
    char tail[160];
    snprintf(tail, sizeof tail, "loss %.4f lr %.2e gnorm %.3f %.0f tok/s", st.loss, st.lr,
             st.grad_norm, tps);
    if ((step + 1) % a.log_every == 0 || step == first_step || step + 1 == a.steps || st.skipped) {
      char extra[64] = "";
      if (tr.scaler.enabled)
        snprintf(extra, sizeof extra, " loss_scale %g%s", st.loss_scale, st.skipped ? " (skipped)" : "");
      progress_clear(&pb);
      printf("step %lld/%lld loss %.6f lr %.3e grad_norm %.4f tokens/s %.0f%s\n",
             (long long)step + 1, (long long)a.steps, st.loss, st.lr, st.grad_norm, tps, extra);
    }
    progress_update(&pb, tr.prog.step, tail);
    if (save_now && trainer_save(&tr, &e) != 0) goto done;
    if (a.max_minutes > 0 && tr.prog.step < a.steps && ordo_time() - t0 > a.max_minutes * 60) {
      progress_clear(&pb);
      printf("stopped at step %lld of %lld: --max-minutes %g reached\n", (long long)tr.prog.step,
             (long long)a.steps, a.max_minutes);
      break;
    }
  }
  if (root) progress_finish(&pb, NULL);
  double el = ordo_time() - t0;
  int64_t ran = tr.prog.step - first_step;
  if (ran > 0 && root)
    printf("done: %lld steps in %.1f s, %.0f tokens/s, loss %.4f -> %.4f\n", (long long)ran, el,
           (double)ran * BTall * world / el, loss_first, loss_last);
  if (world > 1) {
    if (ran > 0 && root)
      printf("collectives: %.3f s per step of %.3f s (%.1f%%), %.2f MB of gradients per step\n",
             (dist.coll_s - coll0) / ran, el / ran, 100 * (dist.coll_s - coll0) / el,
             dist.coll_bytes / 1e6 / ran);
    params_download(&m.params); /* the host image of the working copy, to compare */
    if (!dist_same_u64(&dist, params_checksum(&m.params), "weights check")) {
      ordo_fail(&e, "rank %d: the ranks ended with different weights", dist.rank);
      goto done;
    }
  }
  if (trainer_save(&tr, &e) != 0) goto done;
  if (root && m.lora.r > 0) {
    /* the adapters alone (peft's layout), and the model with them folded in */
    snprintf(path, sizeof path, "%s/adapter", a.out);
    if (enc_lora_save_adapters(&m, path, &e) != 0) goto done;
  }
  if (root && enc_save_merged(&m, a.out, &e) != 0) goto done;
  if (root && a.electra) {
    snprintf(path, sizeof path, "%s/generator", a.out);
    if (enc_save(&gen, path, &e) != 0) goto done;
  }
  if (root)
    printf("saved %s (config.json, model.safetensors, tokenizer.json, metrics.csv, metrics.jsonl, tb/%s)\n",
           a.out, a.electra ? "; the generator in generator/" : "");
  rc = 0;
done:
  if (rc != 0) dist_fail(&dist, "ordo train", e.msg, rc);
  if (have_metrics) metrics_close(&metrics);
  mlm_task_free(&task);
  if (have_trainer) trainer_free(&tr);
  if (have_gen) enc_free(&gen);
  if (have_model) enc_free(&m);
  params_free(&joint);
  electra_task_free(&etask);
  mlm_data_free(&data);
  mlm_data_free(&eval_data);
  free(word_start);
  tok_free(tk);
  for (int i = 0; i < n_texts; i++) free(texts[i]);
  free(texts);
  free(lens);
  ordo_paths_free(&cp);
  free(a.corpus);
  free(a.eval_corpus);
  dist_dev_free(&dist);
  if (be.ops) ordo_backend_close(&be);
  dist_free(&dist);
  return rc;
}
