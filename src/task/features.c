/* Lexical matching between markdown and code cells: a tokenizer for code and prose, TF-IDF
 * vectors with document frequencies fitted over cells, cosine and BM25 per (markdown, code). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ordo/ai4code.h"

/* ---- tokenizer ------------------------------------------------------------------------- */
void ai4_terms_free(ai4_terms *t) {
  free(t->h);
  memset(t, 0, sizeof *t);
}

static void terms_push_raw(ai4_terms *t, uint64_t h) {
  if (t->n == t->cap) t->h = ordo_realloc(t->h, (size_t)(t->cap = t->cap ? t->cap * 2 : 256) * sizeof *t->h);
  t->h[t->n++] = h;
}
/* 0 marks an empty slot in hash tables (and a cell's end in ai4_tfidf_fit): never a term */
static void terms_push(ai4_terms *t, uint64_t h) { terms_push_raw(t, h ? h : 1); }

static uint64_t term_hash(const char *s, int32_t a, int32_t b) {
  uint64_t h = 1469598103934665603ULL;
  for (int32_t i = a; i < b; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    h = (h ^ c) * 1099511628211ULL;
  }
  h ^= h >> 29; /* FNV's low bits are weak for power-of-two tables */
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 32);
}

/* The hash of s[a, b) lowercased and stemmed: a light English suffix stripper, so that prose and
 * code meet ("Training the models" and train_model: train, model). Plurals (-s, -ies -> -y),
 * -ation, -ing and -ed (and the doubled consonant they leave: plotting -> plot), then a final -e
 * (create, created, creating -> creat); the stem keeps at least 3 letters. Parts that are long
 * or not ASCII are hashed as they are. */
static uint64_t stem_hash(const char *s, int32_t a, int32_t b) {
  char w[40];
  int32_t n = b - a;
  if (n < 4 || n >= (int32_t)sizeof w) return term_hash(s, a, b);
  for (int32_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[a + i];
    if (c >= 0x80) return term_hash(s, a, b);
    w[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
#define ENDS(x) (n >= (int32_t)sizeof(x) - 1 && memcmp(w + n - ((int32_t)sizeof(x) - 1), x, sizeof(x) - 1) == 0)
  if (ENDS("ies") && n > 4) n -= 2, w[n - 1] = 'y';
  else if (ENDS("sses")) n -= 2;
  else if (ENDS("s") && !ENDS("ss") && !ENDS("us") && !ENDS("is") && n > 3) n--;
  int cut = 0;
  if (ENDS("ation") && n - 5 >= 3) n -= 5;
  else if (ENDS("ing") && n - 3 >= 3) n -= 3, cut = 1;
  else if (ENDS("ed") && n - 2 >= 3) n -= 2, cut = 1;
  if (cut && n >= 4 && w[n - 1] == w[n - 2] && w[n - 1] != 'l' && w[n - 1] != 's' && w[n - 1] != 'z' &&
      !strchr("aeiou", w[n - 1]))
    n--;
  if (n > 3 && w[n - 1] == 'e') n--;
#undef ENDS
  return term_hash(w, 0, n);
}

static int is_word(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}
static int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }

/* Emits the part s[a, b) split at camelCase boundaries ("HTTPServer" -> http, server;
 * "readCsv" -> read, csv); parts of one character are dropped as noise. */
static void emit_part(const char *s, int32_t a, int32_t b, int stem, ai4_terms *t) {
  int32_t st = a;
  for (int32_t i = a + 1; i <= b; i++) {
    int cut = i == b;
    if (!cut) {
      unsigned char p = (unsigned char)s[i - 1], c = (unsigned char)s[i];
      if (is_lower(p) && is_upper(c)) cut = 1;
      else if (is_upper(p) && is_upper(c) && i + 1 < b && is_lower((unsigned char)s[i + 1])) cut = 1;
    }
    if (cut) {
      if (i - st > 1) terms_push(t, stem ? stem_hash(s, st, i) : term_hash(s, st, i));
      st = i;
    }
  }
}

void ai4_tokenize(const char *text, int32_t len, int stem, ai4_terms *t) {
  int32_t i = 0;
  while (i < len) {
    if (!is_word((unsigned char)text[i])) {
      i++;
      continue;
    }
    /* an identifier: word characters joined by '_' */
    int32_t a = i, parts = 0;
    while (i < len && (is_word((unsigned char)text[i]) || text[i] == '_')) i++;
    int32_t b = i;
    for (int32_t p = a; p < b;) {
      while (p < b && text[p] == '_') p++;
      int32_t q = p;
      while (q < b && text[q] != '_') q++;
      if (q > p) {
        emit_part(text, p, q, stem, t);
        parts++;
      }
      p = q;
    }
    /* the whole identifier too, when it was split: exact names are strong evidence */
    int split = parts > 1;
    for (int32_t p = a + 1; p < b && !split; p++)
      if (is_lower((unsigned char)text[p - 1]) && is_upper((unsigned char)text[p])) split = 1;
    if (split) terms_push(t, term_hash(text, a, b) ^ 0x5bd1e9955bd1e995ULL);
  }
}

/* ---- sparse vectors -------------------------------------------------------------------- */
void ai4_svec_free(ai4_svec *v) {
  free(v->h);
  free(v->w);
  memset(v, 0, sizeof *v);
}

float ai4_svec_dot(const ai4_svec *a, const ai4_svec *b) {
  float s = 0;
  int32_t i = 0, j = 0;
  while (i < a->n && j < b->n) {
    if (a->h[i] < b->h[j]) i++;
    else if (a->h[i] > b->h[j]) j++;
    else s += a->w[i++] * b->w[j++];
  }
  return s;
}

/* Sorts n hashes ascending: quicksort with a median-of-three pivot, insertion sort below 24
 * (cells hold tens to thousands of terms; qsort's callback cost dominated here). */
static void sort_u64(uint64_t *a, int32_t n) {
  while (n > 24) {
    uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
    uint64_t piv = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
    int32_t i = 0, j = n - 1;
    for (;;) {
      while (a[i] < piv) i++;
      while (a[j] > piv) j--;
      if (i >= j) break;
      uint64_t t = a[i];
      a[i++] = a[j];
      a[j--] = t;
    }
    /* recurse into the smaller part, loop on the larger: O(log n) stack */
    int32_t left = j + 1;
    if (left < n - left) {
      sort_u64(a, left);
      a += left;
      n -= left;
    } else {
      sort_u64(a + left, n - left);
      n = left;
    }
  }
  for (int32_t i = 1; i < n; i++) {
    uint64_t v = a[i];
    int32_t j = i - 1;
    while (j >= 0 && a[j] > v) a[j + 1] = a[j], j--;
    a[j + 1] = v;
  }
}

/* Sorts t's hashes and collapses them to (unique hash, count). Returns the unique count. */
static int32_t terms_unique(ai4_terms *t, int32_t *count) {
  if (t->n == 0) return 0;
  sort_u64(t->h, t->n);
  int32_t u = 0;
  for (int32_t i = 0; i < t->n; i++) {
    if (u && t->h[u - 1] == t->h[i]) {
      if (count) count[u - 1]++;
      continue;
    }
    t->h[u] = t->h[i];
    if (count) count[u] = 1;
    u++;
  }
  return u;
}

/* ---- document frequencies -------------------------------------------------------------- */
static int64_t df_slot(const ai4_tfidf *tf, uint64_t h) {
  int64_t i = (int64_t)(h & (uint64_t)(tf->cap - 1));
  while (tf->keys[i] && tf->keys[i] != h) i = (i + 1) & (tf->cap - 1);
  return i;
}

static void df_grow(ai4_tfidf *tf) {
  ai4_tfidf big = *tf;
  big.cap = tf->cap * 2;
  big.keys = ordo_calloc((size_t)big.cap, sizeof *big.keys);
  big.df = ordo_calloc((size_t)big.cap, sizeof *big.df);
  for (int64_t i = 0; i < tf->cap; i++)
    if (tf->keys[i]) {
      int64_t j = df_slot(&big, tf->keys[i]);
      big.keys[j] = tf->keys[i];
      big.df[j] = tf->df[i];
    }
  free(tf->keys);
  free(tf->df);
  *tf = big;
}

void ai4_tfidf_free(ai4_tfidf *tf) {
  free(tf->keys);
  free(tf->df);
  memset(tf, 0, sizeof *tf);
}

void ai4_tfidf_fit(ai4_tfidf *tf, const nb_dataset *ds, const uint8_t *mask, int stem,
                   int threads) {
  memset(tf, 0, sizeof *tf);
  tf->stem = stem;
  tf->cap = 1 << 16;
  tf->keys = ordo_calloc((size_t)tf->cap, sizeof *tf->keys);
  tf->df = ordo_calloc((size_t)tf->cap, sizeof *tf->df);
  if (threads <= 0) threads = omp_get_max_threads();
  int64_t total_terms = 0;
  /* chunks of notebooks: tokenized in parallel, counted in one thread */
  enum { CHUNK = 256 };
  ai4_terms *per = ordo_calloc(CHUNK, sizeof *per);
  for (int32_t c0 = 0; c0 < ds->n; c0 += CHUNK) {
    int32_t c1 = c0 + CHUNK < ds->n ? c0 + CHUNK : ds->n;
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads) reduction(+ : total_terms)
    for (int32_t i = c0; i < c1; i++) {
      ai4_terms *t = &per[i - c0];
      t->n = 0;
      if (mask && !mask[i]) continue;
      const nb_notebook *nb = &ds->nbs[i];
      /* per cell: unique terms, packed one cell after another, a 0 ends each cell */
      ai4_terms cell = {0};
      for (int32_t k = 0; k < nb->n_cells; k++) {
        cell.n = 0;
        ai4_tokenize(nb->cells[k].source, nb->cells[k].len, stem, &cell);
        total_terms += cell.n;
        int32_t u = terms_unique(&cell, NULL);
        for (int32_t j = 0; j < u; j++) terms_push(t, cell.h[j]);
        terms_push_raw(t, 0);
      }
      ai4_terms_free(&cell);
    }
    for (int32_t i = c0; i < c1; i++) {
      const ai4_terms *t = &per[i - c0];
      for (int32_t j = 0; j < t->n; j++) {
        if (t->h[j] == 0) {
          tf->n_docs++;
          continue;
        }
        if ((tf->n_terms + 1) * 2 > tf->cap) df_grow(tf);
        int64_t s = df_slot(tf, t->h[j]);
        if (!tf->keys[s]) tf->keys[s] = t->h[j], tf->n_terms++;
        tf->df[s]++;
      }
    }
  }
  for (int i = 0; i < CHUNK; i++) ai4_terms_free(&per[i]);
  free(per);
  tf->avg_len = tf->n_docs ? (double)total_terms / (double)tf->n_docs : 1.0;
}

static int32_t tfidf_df(const ai4_tfidf *tf, uint64_t h) {
  if (!tf->cap) return 0;
  int64_t s = df_slot(tf, h);
  return tf->keys[s] ? tf->df[s] : 0;
}

float ai4_tfidf_idf(const ai4_tfidf *tf, uint64_t h) {
  return (float)(log((1.0 + (double)tf->n_docs) / (1.0 + tfidf_df(tf, h))) + 1.0);
}

void ai4_tfidf_vector(const ai4_tfidf *tf, const ai4_terms *terms, ai4_svec *out) {
  ai4_terms t = {0};
  for (int32_t i = 0; i < terms->n; i++) terms_push(&t, terms->h[i]);
  int32_t *cnt = ordo_malloc((size_t)(t.n ? t.n : 1) * sizeof *cnt);
  int32_t u = terms_unique(&t, cnt);
  out->n = u;
  out->h = ordo_malloc((size_t)(u ? u : 1) * sizeof *out->h);
  out->w = ordo_malloc((size_t)(u ? u : 1) * sizeof *out->w);
  double nn = 0;
  for (int32_t i = 0; i < u; i++) {
    out->h[i] = t.h[i];
    out->w[i] = (float)(1.0 + log((double)cnt[i])) * ai4_tfidf_idf(tf, t.h[i]);
    nn += (double)out->w[i] * out->w[i];
  }
  out->norm = (float)sqrt(nn);
  if (nn > 0)
    for (int32_t i = 0; i < u; i++) out->w[i] /= out->norm;
  free(cnt);
  ai4_terms_free(&t);
}

/* ---- per-notebook similarities --------------------------------------------------------- */
void ai4_nb_sim_free(ai4_nb_sim *s) {
  free(s->cos);
  free(s->bm25);
  free(s->ncos);
  free(s->lcos);
  free(s->unmet);
  free(s->spent);
  free(s->mcos);
  memset(s, 0, sizeof *s);
}

/* Per code cell (cells 0..n_code-1 of nb), per unique term of its vector v[c]: 1 when no earlier
 * code cell uses the term (last: no later one). */
static uint8_t **first_uses(const nb_notebook *nb, const ai4_svec *v, int last) {
  int32_t nc = nb->n_code;
  int64_t total = 0;
  for (int32_t c = 0; c < nc; c++) total += v[c].n;
  int64_t cap = 16;
  while (cap < 2 * total) cap *= 2;
  uint64_t *seen = ordo_calloc((size_t)cap, sizeof *seen); /* 0: empty (never a term) */
  uint8_t **fresh = ordo_calloc((size_t)(nc ? nc : 1), sizeof *fresh);
  for (int32_t k = 0; k < nc; k++) {
    int32_t c = last ? nc - 1 - k : k;
    fresh[c] = ordo_malloc((size_t)(v[c].n ? v[c].n : 1));
    for (int32_t j = 0; j < v[c].n; j++) {
      int64_t i = (int64_t)(v[c].h[j] & (uint64_t)(cap - 1));
      while (seen[i] && seen[i] != v[c].h[j]) i = (i + 1) & (cap - 1);
      fresh[c][j] = !seen[i];
      seen[i] = v[c].h[j];
    }
  }
  free(seen);
  return fresh;
}

void ai4_nb_sim_compute(ai4_nb_sim *s, const ai4_tfidf *tf, const nb_notebook *nb) {
  const double k1 = 1.2, b = 0.75;
  int32_t nc = nb->n_code, nm = nb->n_md, n = nb->n_cells;
  s->n_md = nm;
  s->n_code = nc;
  s->cos = ordo_calloc((size_t)nm * nc + 1, sizeof *s->cos);
  s->bm25 = ordo_calloc((size_t)nm * nc + 1, sizeof *s->bm25);
  s->ncos = ordo_calloc((size_t)nm * nc + 1, sizeof *s->ncos);
  s->lcos = ordo_calloc((size_t)nm * nc + 1, sizeof *s->lcos);
  s->unmet = ordo_calloc((size_t)nm * (nc + 1) + 1, sizeof *s->unmet);
  s->spent = ordo_calloc((size_t)nm * (nc + 1) + 1, sizeof *s->spent);
  s->mcos = ordo_calloc((size_t)nm * nm + 1, sizeof *s->mcos);
  ai4_svec *v = ordo_calloc((size_t)(n ? n : 1), sizeof *v);
  /* code cells as BM25 documents: unique terms (in v[k].h) with raw counts and length */
  int32_t **cnt = ordo_calloc((size_t)(n ? n : 1), sizeof *cnt);
  int32_t *dl = ordo_calloc((size_t)(n ? n : 1), sizeof *dl);
  ai4_terms t = {0};
  for (int32_t k = 0; k < n; k++) {
    t.n = 0;
    ai4_tokenize(nb->cells[k].source, nb->cells[k].len, tf->stem, &t);
    ai4_tfidf_vector(tf, &t, &v[k]);
    if (nb->cells[k].type == NB_CELL_CODE) {
      dl[k] = t.n;
      cnt[k] = ordo_malloc((size_t)(t.n ? t.n : 1) * sizeof **cnt);
      int32_t u = terms_unique(&t, cnt[k]);
      ORDO_CHECK(u == v[k].n);
    }
  }
  uint8_t **fresh = first_uses(nb, v, 0), **final = first_uses(nb, v, 1);
  double avg = tf->avg_len > 0 ? tf->avg_len : 1.0, N = (double)tf->n_docs;
  float *norm = ordo_malloc((size_t)(nc ? nc : 1) * sizeof *norm); /* BM25 length norm per code cell */
  for (int32_t c = 0; c < nc; c++) norm[c] = (float)(k1 * (1 - b + b * dl[c] / avg));
  float *qidf = NULL, *wfirst = ordo_malloc(((size_t)nc + 1) * sizeof *wfirst);
  float *wlast = ordo_malloc(((size_t)nc + 1) * sizeof *wlast);
  int32_t qcap = 0, *first = NULL, *last = NULL;
  for (int32_t m = 0; m < nm; m++) {
    const ai4_svec *q = &v[nc + m];
    if (q->n > qcap) {
      qidf = ordo_realloc(qidf, (size_t)(qcap = q->n) * sizeof *qidf);
      first = ordo_realloc(first, (size_t)qcap * sizeof *first);
      last = ordo_realloc(last, (size_t)qcap * sizeof *last);
    }
    for (int32_t i = 0; i < q->n; i++) first[i] = last[i] = -1;
    for (int32_t i = 0; i < q->n; i++) { /* BM25 idf of each query term, once per markdown */
      double df = tfidf_df(tf, q->h[i]);
      qidf[i] = (float)log(1.0 + (N - df + 0.5) / (df + 0.5));
    }
    for (int32_t c = 0; c < nc; c++) {
      /* one merge of the sorted term lists gives the cosine and BM25 (over the markdown's
       * distinct terms found in the code cell) */
      const ai4_svec *d = &v[c];
      float dot = 0, score = 0, ndot = 0, ldot = 0;
      int32_t i = 0, j = 0;
      while (i < q->n && j < d->n) {
        if (q->h[i] < d->h[j]) i++;
        else if (q->h[i] > d->h[j]) j++;
        else {
          float f = (float)cnt[c][j];
          dot += q->w[i] * d->w[j];
          score += qidf[i] * f * (float)(k1 + 1) / (f + norm[c]);
          if (fresh[c][j]) ndot += q->w[i] * d->w[j];
          if (final[c][j]) ldot += q->w[i] * d->w[j];
          if (first[i] < 0) first[i] = c;
          last[i] = c;
          i++, j++;
        }
      }
      s->cos[(size_t)m * nc + c] = dot;
      s->bm25[(size_t)m * nc + c] = score;
      s->ncos[(size_t)m * nc + c] = ndot;
      s->lcos[(size_t)m * nc + c] = ldot;
    }
    /* the weight of the shared terms by the code cell that first (last) uses them, summed from
     * the end (the start) */
    memset(wfirst, 0, ((size_t)nc + 1) * sizeof *wfirst);
    memset(wlast, 0, ((size_t)nc + 1) * sizeof *wlast);
    for (int32_t i = 0; i < q->n; i++)
      if (first[i] >= 0) wfirst[first[i]] += q->w[i], wlast[last[i]] += q->w[i];
    float *u = s->unmet + (size_t)m * (nc + 1), *sp = s->spent + (size_t)m * (nc + 1);
    for (int32_t c = nc - 1; c >= 0; c--) u[c] = u[c + 1] + wfirst[c];
    for (int32_t c = 1; c <= nc; c++) sp[c] = sp[c - 1] + wlast[c - 1];
    float all = u[0];
    for (int32_t c = 0; c <= nc; c++) {
      u[c] = all > 0 ? u[c] / all : 0.0f;
      sp[c] = all > 0 ? sp[c] / all : 0.0f;
    }
  }
  for (int32_t m = 0; m < nm; m++) /* markdown to markdown, each pair once (0 on the diagonal) */
    for (int32_t k = m + 1; k < nm; k++)
      s->mcos[(size_t)m * nm + k] = s->mcos[(size_t)k * nm + m] = ai4_svec_dot(&v[nc + m], &v[nc + k]);
  free(qidf), free(first), free(last), free(wfirst), free(wlast);
  for (int32_t c = 0; c < nc; c++) free(fresh[c]), free(final[c]);
  free(fresh), free(final);
  free(norm);
  for (int32_t k = 0; k < n; k++) {
    ai4_svec_free(&v[k]);
    free(cnt[k]);
  }
  free(v), free(cnt), free(dl);
  ai4_terms_free(&t);
}
