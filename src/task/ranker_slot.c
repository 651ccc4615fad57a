/* The slot ranker: lexical matching features per (markdown, slot), a small MLP scoring them,
 * a softmax over each markdown's slots and weighted-median decoding. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "ordo/ranker.h"
#include "ordo/rng.h"

/* ---- truth and orders ---------------------------------------------------------------------- */
void rk_true_slots(const nb_notebook *nb, int32_t *md_slot) {
  ORDO_CHECK(nb->order);
  int32_t seen_code = 0;
  for (int32_t k = 0; k < nb->n_cells; k++) {
    int32_t c = nb->order[k];
    if (c < nb->n_code) seen_code++;
    else md_slot[c - nb->n_code] = seen_code;
  }
}

void rk_order_from_md_pos(const nb_notebook *nb, const float *md_pos, int32_t *out) {
  int32_t n = nb->n_cells;
  float *pos = ordo_malloc((size_t)(n ? n : 1) * sizeof *pos);
  for (int32_t i = 0; i < nb->n_code; i++) pos[i] = (float)i;
  for (int32_t m = 0; m < nb->n_md; m++) pos[nb->n_code + m] = md_pos[m];
  ai4_order_from_positions(nb, pos, 0, out);
  free(pos);
}

double rk_tau_of_positions(const nb_dataset *ds, const uint8_t *mask, float *const *md_pos) {
  ai4_tau t = {0, 0};
  for (int32_t i = 0; i < ds->n; i++) {
    if (!mask[i]) continue;
    const nb_notebook *nb = &ds->nbs[i];
    int32_t *ord = ordo_malloc((size_t)nb->n_cells * sizeof *ord);
    rk_order_from_md_pos(nb, md_pos[i], ord);
    ai4_tau_add(&t, ord, nb->order, nb->n_cells);
    free(ord);
  }
  return ai4_tau_value(&t);
}

/* ---- lexical evidence ---------------------------------------------------------------------- */
/* 1 when the cell's source starts with the word (after blanks) followed by a space. */
static int starts_with_word(const nb_cell *c, const char *w) {
  int32_t i = 0, n = (int32_t)strlen(w);
  while (i < c->len && (c->source[i] == ' ' || c->source[i] == '\n' || c->source[i] == '\t')) i++;
  return c->len - i > n && strncmp(c->source + i, w, (size_t)n) == 0 && c->source[i + n] == ' ';
}

/* 1 when the cell ends by showing a result: its last line (not blank, not a comment) is an
 * unindented expression (no assignment outside brackets, no statement keyword) or calls print,
 * display or show. Markdown that comments on a result follows such cells. */
static int shows_result(const nb_cell *c) {
  int32_t e = c->len, a;
  for (;;) {
    while (e > 0 && (c->source[e - 1] == '\n' || c->source[e - 1] == ' ' || c->source[e - 1] == '\r' ||
                     c->source[e - 1] == '\t'))
      e--;
    a = e;
    while (a > 0 && c->source[a - 1] != '\n') a--;
    if (e == 0) return 0;
    int32_t k = a;
    while (k < e && (c->source[k] == ' ' || c->source[k] == '\t')) k++;
    if (c->source[k] != '#') break;
    e = a; /* a comment line: look at the one above */
  }
  const char *l = c->source + a;
  int32_t n = e - a;
  char line[256];
  snprintf(line, sizeof line, "%.*s", n < 255 ? n : 255, l);
  if (strstr(line, "print(") || strstr(line, "display(") || strstr(line, ".show(")) return 1;
  if (l[0] == ' ' || l[0] == '\t' || l[0] == ')' || l[0] == ']' || l[0] == '}') return 0;
  static const char *const k_stmt[] = {"import", "from", "def", "class", "for", "if", "while",
                                       "with", "try", "return", "del", "assert", "raise", "else",
                                       "elif", "except", "finally", "pass", "global", "async"};
  for (size_t i = 0; i < sizeof k_stmt / sizeof *k_stmt; i++) {
    size_t w = strlen(k_stmt[i]);
    if ((size_t)n >= w && strncmp(l, k_stmt[i], w) == 0 &&
        ((size_t)n == w || l[w] == ' ' || l[w] == ':' || l[w] == '('))
      return 0;
  }
  if (l[0] == '%' || l[0] == '!' || l[0] == '@') return 0;
  int depth = 0;
  for (int32_t i = 0; i < n; i++) {
    char ch = l[i];
    if (ch == '(' || ch == '[' || ch == '{') depth++;
    else if (ch == ')' || ch == ']' || ch == '}') depth -= depth > 0;
    else if (ch == '=' && depth == 0) {
      char p = i > 0 ? l[i - 1] : 0, q = i + 1 < n ? l[i + 1] : 0;
      if (q != '=' && p != '=' && p != '!' && p != '<' && p != '>') return 0; /* an assignment */
      if (q == '=') i++;
    }
  }
  return 1;
}

void rk_lex_compute(rk_lex *l, const ai4_tfidf *tf, const rk_term_prior *prior,
                    const nb_notebook *nb) {
  int32_t nc = nb->n_code;
  l->dual = l->nbm = l->dcos = l->dadj = l->dmcos = NULL;
  l->md_prior = ordo_malloc(((size_t)nb->n_md + 1) * sizeof *l->md_prior);
  l->md_bins = ordo_calloc((size_t)nb->n_md * RK_PBINS + 1, sizeof *l->md_bins);
  if (prior) {
    rk_term_prior_md(prior, nb, l->md_prior);
    rk_term_prior_bins(prior, nb, l->md_bins);
  } else
    for (int32_t m = 0; m < nb->n_md; m++) l->md_prior[m] = -1.0f;
  ai4_nb_sim_compute(&l->sim, tf, nb);
  l->adj = ordo_malloc(((size_t)nc + 1) * sizeof *l->adj);
  l->ctrait = ordo_malloc(((size_t)nc * RK_CTRAITS + 1) * sizeof *l->ctrait);
  ai4_svec prev = {0}, cur = {0};
  ai4_terms t = {0};
  for (int32_t c = 0; c < nc; c++) {
    t.n = 0;
    ai4_tokenize(nb->cells[c].source, nb->cells[c].len, tf->stem, &t);
    ai4_tfidf_vector(tf, &t, &cur);
    l->adj[c] = c == 0 ? 1.0f : ai4_svec_dot(&prev, &cur);
    ai4_svec_free(&prev);
    prev = cur;
    memset(&cur, 0, sizeof cur);
    float *tr = l->ctrait + (size_t)c * RK_CTRAITS;
    tr[0] = logf(1.0f + (float)nb->cells[c].len) / 8.0f;
    tr[1] = (float)(starts_with_word(&nb->cells[c], "import") || starts_with_word(&nb->cells[c], "from"));
    tr[2] = (float)shows_result(&nb->cells[c]);
    tr[3] = (float)(starts_with_word(&nb->cells[c], "def") || starts_with_word(&nb->cells[c], "class"));
  }
  l->adj[nc] = 1.0f;
  ai4_svec_free(&prev);
  ai4_terms_free(&t);
}

void rk_lex_free(rk_lex *l) {
  ai4_nb_sim_free(&l->sim);
  free(l->adj), free(l->ctrait), free(l->md_prior), free(l->md_bins), free(l->dual);
  free(l->nbm), free(l->dcos), free(l->dadj), free(l->dmcos);
  memset(l, 0, sizeof *l);
}

void rk_lex_dense(rk_lex *l, const nb_notebook *nb, const float *x, int in) {
  const int32_t nc = nb->n_code, nm = nb->n_md;
  float *inv = ordo_malloc(((size_t)nb->n_cells + 1) * sizeof *inv); /* 1 / |x_c| */
  for (int32_t c = 0; c < nb->n_cells; c++) {
    double ss = 0;
    for (int k = 0; k < in; k++) ss += (double)x[(size_t)c * in + k] * x[(size_t)c * in + k];
    inv[c] = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
  }
  free(l->dcos), free(l->dadj);
  l->dcos = ordo_malloc(((size_t)nm * nc + 1) * sizeof *l->dcos);
  l->dadj = ordo_malloc(((size_t)nc + 1) * sizeof *l->dadj);
  for (int32_t m = 0; m < nm; m++) {
    const float *xm = x + (size_t)(nc + m) * in;
    for (int32_t c = 0; c < nc; c++) {
      const float *xc = x + (size_t)c * in;
      float d = 0;
      for (int k = 0; k < in; k++) d += xm[k] * xc[k];
      l->dcos[(size_t)m * nc + c] = d * inv[nc + m] * inv[c];
    }
  }
  free(l->dmcos);
  l->dmcos = ordo_malloc(((size_t)nm * nm + 1) * sizeof *l->dmcos);
  for (int32_t m = 0; m < nm; m++) { /* each pair's product once, scaled as row x column */
    l->dmcos[(size_t)m * nm + m] = 0.0f;
    for (int32_t k = m + 1; k < nm; k++) {
      const float *a = x + (size_t)(nc + m) * in, *b = x + (size_t)(nc + k) * in;
      float d = 0;
      for (int i = 0; i < in; i++) d += a[i] * b[i];
      l->dmcos[(size_t)m * nm + k] = d * inv[nc + m] * inv[nc + k];
      l->dmcos[(size_t)k * nm + m] = d * inv[nc + k] * inv[nc + m];
    }
  }
  l->dadj[0] = l->dadj[nc] = 1.0f;
  for (int32_t c = 1; c < nc; c++) {
    const float *a = x + (size_t)(c - 1) * in, *b = x + (size_t)c * in;
    float d = 0;
    for (int k = 0; k < in; k++) d += a[k] * b[k];
    l->dadj[c] = d * inv[c - 1] * inv[c];
  }
  free(inv);
}

/* ---- features ------------------------------------------------------------------------------ */
/* 1 when the text holds the needle. */
static int has(const nb_cell *c, const char *needle) { return strstr(c->source, needle) != NULL; }

int rk_md_heading_level(const nb_cell *c) {
  int32_t i = 0;
  while (i < c->len && (c->source[i] == ' ' || c->source[i] == '\n' || c->source[i] == '\r' ||
                        c->source[i] == '\t'))
    i++;
  int l = 0;
  while (i + l < c->len && c->source[i + l] == '#') l++;
  if (l == 0 && i + 1 < c->len && c->source[i] == '<' && (c->source[i + 1] == 'h' || c->source[i + 1] == 'H'))
    l = 2; /* an html heading */
  return l > 6 ? 6 : l;
}

/* The section number a markdown cell opens with ("## 3. Fit", "Step 2:", "1.2 Data"), as
 * major + minor / 1000, or -1 when there is none. Numbered sections order markdown cells among
 * themselves. */
static double md_section_number(const nb_cell *c) {
  static const char *k_lead[] = {"step", "part", "chapter", "section", "exercise", "question",
                                 "task", "lesson", "example"};
  const char *s = c->source, *end = s + c->len;
  while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t' || *s == '#' || *s == '*'))
    s++;
  for (size_t k = 0; k < sizeof k_lead / sizeof *k_lead; k++) {
    size_t l = strlen(k_lead[k]);
    if ((size_t)(end - s) > l && strncasecmp(s, k_lead[k], l) == 0) {
      s += l;
      while (s < end && *s == ' ') s++;
      break;
    }
  }
  if (s >= end || *s < '0' || *s > '9') return -1;
  double major = 0, minor = 0;
  int nd = 0;
  while (s < end && *s >= '0' && *s <= '9' && nd < 6) major = major * 10 + (*s++ - '0'), nd++;
  if (nd >= 4) return -1; /* a year or a count, not a section */
  if (s < end && *s == '.' && s + 1 < end && s[1] >= '0' && s[1] <= '9') {
    s++;
    nd = 0;
    while (s < end && *s >= '0' && *s <= '9' && nd < 3) minor = minor * 10 + (*s++ - '0'), nd++;
  }
  /* "3 apples" is a count: a section number is followed by '.', ')', ':', '-' or a blank line */
  if (s < end && !(*s == '.' || *s == ')' || *s == ':' || *s == '-' || *s == ' ' || *s == '\n'))
    return -1;
  return major + minor / 1000.0;
}

/* The RK_NFEAT_DENSE features of placing markdown m at slot s from the encoder's similarities
 * (zero without them): to the code after and before the slot, their gap to the markdown's best,
 * the best of the three cells after and before, the slot at or next to the best, its distance,
 * and the change of topic between the code cells around the slot. */
static void dense_features(const rk_lex *lex, int32_t m, int32_t nc, int32_t s, float *f) {
  memset(f, 0, RK_NFEAT_DENSE * sizeof *f);
  if (!lex->dcos || nc == 0) return;
  const float *cs = lex->dcos + (size_t)m * nc;
  int32_t best = 0;
  for (int32_t c = 1; c < nc; c++) best = cs[c] > cs[best] ? c : best;
  float cn = s < nc ? cs[s] : 0.0f, cp = s > 0 ? cs[s - 1] : 0.0f, wn = -1, wp = -1;
  for (int32_t c = s; c < nc && c < s + 3; c++) wn = cs[c] > wn ? cs[c] : wn;
  for (int32_t c = s - 3 < 0 ? 0 : s - 3; c < s; c++) wp = cs[c] > wp ? cs[c] : wp;
  f[0] = cn;
  f[1] = cp;
  f[2] = s < nc ? cs[best] - cn : 1.0f;
  f[3] = s > 0 ? cs[best] - cp : 1.0f;
  f[4] = wn > -1 ? wn : 0.0f;
  f[5] = wp > -1 ? wp : 0.0f;
  f[6] = s == best || s == best + 1 ? 1.0f : 0.0f;
  f[7] = fabsf((float)(s - best)) / (float)(nc + 1);
  f[8] = 1.0f - lex->dadj[s];
}

/* The RK_NFEAT_FLOW features of placing markdown m at slot s: the part of the TF-IDF cosine with
 * the code after and before the slot that comes from terms those cells are the first to use, and
 * from terms the cell before is the last to use; the share of the markdown's shared terms no code
 * before the slot uses yet, the share code s is the first to use, the share whose last use is
 * before the slot; the share of the markdown's cosine over all code that falls before the slot.
 * (The caller adds the code traits and the rivals after them.) */
static void flow_features(const ai4_nb_sim *sim, int32_t m, int32_t s, const float *cos_before,
                          float *f) {
  const int32_t nc = sim->n_code;
  const float *nco = sim->ncos + (size_t)m * nc, *lco = sim->lcos + (size_t)m * nc;
  const float *u = sim->unmet + (size_t)m * (nc + 1), *sp = sim->spent + (size_t)m * (nc + 1);
  f[0] = s < nc ? nco[s] : 0.0f;
  f[1] = s > 0 ? nco[s - 1] : 0.0f;
  f[2] = u[s];
  f[3] = s < nc ? u[s] - u[s + 1] : 0.0f;
  f[4] = cos_before[nc] > 0 ? cos_before[s] / cos_before[nc] : 0.0f;
  f[5] = s > 0 ? lco[s - 1] : 0.0f;
  f[6] = sp[s];
  f[7] = s > 0 ? sp[s] - sp[s - 1] : 0.0f;
}

/* Per code cell: how many markdown cells match it best, its two best markdown similarities and
 * the markdown of the best; per markdown its best code cell. */
typedef struct rk_rivals {
  int32_t nm, nc, *claims, *top_md, *best; /* best: (nm) each markdown's best code cell, -1: none */
  float *top; /* (nc, 2) */
} rk_rivals;

static void rivals_find(rk_rivals *r, const float *sim, int32_t nm, int32_t nc) {
  r->nm = nm, r->nc = sim ? nc : 0;
  r->claims = ordo_calloc((size_t)nc + 1, sizeof *r->claims);
  r->top_md = ordo_malloc(((size_t)nc + 1) * sizeof *r->top_md);
  r->top = ordo_malloc(2 * ((size_t)nc + 1) * sizeof *r->top);
  r->best = ordo_malloc(((size_t)nm + 1) * sizeof *r->best);
  for (int32_t c = 0; c < nc; c++) r->top_md[c] = -1, r->top[2 * c] = r->top[2 * c + 1] = -INFINITY;
  for (int32_t m = 0; m < nm; m++) r->best[m] = -1;
  for (int32_t m = 0; m < nm && sim; m++) {
    const float *cs = sim + (size_t)m * nc;
    int32_t b = -1;
    for (int32_t c = 0; c < nc; c++) {
      if (cs[c] > (b < 0 ? 0.0f : cs[b])) b = c;
      if (cs[c] > r->top[2 * c]) r->top[2 * c + 1] = r->top[2 * c], r->top[2 * c] = cs[c], r->top_md[c] = m;
      else if (cs[c] > r->top[2 * c + 1]) r->top[2 * c + 1] = cs[c];
    }
    if (b >= 0) r->claims[b]++;
    r->best[m] = b;
  }
}

static void rivals_free(rk_rivals *r) { free(r->claims), free(r->top_md), free(r->top), free(r->best); }

/* Four features of markdown m at slot s against the other markdown cells: the share of them that
 * match code s (s - 1) best, and m's similarity to code s (s - 1) minus the best of theirs; zero
 * without similarities, without other markdown cells, or past the ends. */
static void rivals_features(const rk_rivals *r, const float *sim, int32_t m, int32_t s, float *f) {
  memset(f, 0, 4 * sizeof *f);
  if (!r->nc || r->nm < 2) return;
  const float *cs = sim + (size_t)m * r->nc;
  int32_t best = r->best[m];
  for (int k = 0; k < 2; k++) {
    int32_t c = s - k;
    if (c < 0 || c >= r->nc) continue;
    f[2 * k] = (float)(r->claims[c] - (best == c)) / (float)(r->nm - 1);
    f[2 * k + 1] = cs[c] - r->top[2 * c + (r->top_md[c] == m)];
  }
}

/* Markdown m's kin, the other markdown cells that share words with it (similarity mcos), by where
 * each matches code best (r->best): near (n_code + 1) gets, per code cell, the similarity of the
 * kin that match it best, summed. Returns m's most similar kin that matches some code, -1: none
 * (or no similarity to it). */
static int32_t kin_find(const rk_rivals *r, const float *mcos, int32_t m, float *near) {
  memset(near, 0, ((size_t)r->nc + 1) * sizeof *near);
  if (!r->nc || r->nm < 2 || !mcos) return -1;
  const float *row = mcos + (size_t)m * r->nm;
  int32_t kin = -1;
  for (int32_t k = 0; k < r->nm; k++) {
    if (k == m || r->best[k] < 0) continue;
    if (kin < 0 || row[k] > row[kin]) kin = k;
    near[r->best[k]] += row[k];
  }
  return kin >= 0 && row[kin] > 0 ? kin : -1;
}

/* Three features of markdown m at slot s from its kin (kin_find): the closeness of s to the slot
 * before the best code of m's most similar kin, times that similarity; the distance to it; the
 * summed similarity of the kin whose best code is code s. Zero without kin. */
static void kin_features(const rk_rivals *r, const float *mcos, int32_t m, int32_t kin,
                         const float *near, int32_t s, float *f) {
  memset(f, 0, 3 * sizeof *f);
  if (kin < 0) return;
  float d = fabsf((float)(s - r->best[kin]));
  f[0] = mcos[(size_t)m * r->nm + kin] / (1.0f + d);
  f[1] = d / (float)(r->nc + 1);
  f[2] = near[s];
}

static int cmp_desc(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

void rk_slot_features(const nb_notebook *nb, const rk_lex *lex, const float *point_pos,
                      float *feats) {
  const int32_t nc = nb->n_code, nm = nb->n_md, ns = nc + 1;
  float *sorted = ordo_malloc(((size_t)nc + 1) * sizeof *sorted);
  float *ahead = ordo_malloc(((size_t)nc + 1) * sizeof *ahead);
  float *behind = ordo_malloc(((size_t)nc + 1) * sizeof *behind);
  float *before = ordo_malloc(((size_t)nc + 1) * sizeof *before);
  float *dprob = lex->dual ? ordo_malloc(((size_t)nc + 1) * sizeof *dprob) : NULL;
  /* relative rank of each numbered markdown among the numbered ones (-1: not numbered) */
  double *num = ordo_malloc(((size_t)nm + 1) * sizeof *num);
  float *numq = ordo_malloc(((size_t)nm + 1) * sizeof *numq);
  int32_t n_num = 0;
  for (int32_t m = 0; m < nm; m++) n_num += (num[m] = md_section_number(&nb->cells[nc + m])) >= 0;
  for (int32_t m = 0; m < nm; m++) {
    numq[m] = -1;
    if (num[m] < 0 || n_num < 2) continue;
    int32_t below = 0, same = 0;
    for (int32_t k = 0; k < nm; k++) {
      if (num[k] < 0) continue;
      below += num[k] < num[m];
      same += num[k] == num[m];
    }
    numq[m] = ((float)below + 0.5f * (float)same) / (float)n_num;
  }
  /* the rivals of each markdown for each code cell, by TF-IDF and by the encoder's vectors */
  rk_rivals lr, dr;
  rivals_find(&lr, lex->sim.cos, nm, nc);
  rivals_find(&dr, lex->dcos, nm, nc);
  float *near_l = ordo_malloc(((size_t)nc + 1) * sizeof *near_l);
  float *near_d = ordo_malloc(((size_t)nc + 1) * sizeof *near_d);
  for (int32_t m = 0; m < nm; m++) {
    const float *cs = lex->sim.cos + (size_t)m * nc, *bm = lex->sim.bm25 + (size_t)m * nc;
    float maxcos = 0, maxbm = 0, wsum = 0, wpos = 0;
    int32_t kin_l = kin_find(&lr, lex->sim.mcos, m, near_l), kin_d = kin_find(&dr, lex->dmcos, m, near_d);
    int32_t best = -1;
    for (int32_t c = 0; c < nc; c++) {
      if (cs[c] > maxcos) maxcos = cs[c], best = c;
      if (bm[c] > maxbm) maxbm = bm[c];
      wsum += cs[c] * cs[c];
      wpos += cs[c] * cs[c] * (float)c;
    }
    /* similarity-weighted mean slot of the markdown, relative */
    float simpos = wsum > 0 && nc > 0 ? (wpos / wsum + 0.5f) / (float)nc : -1.0f;
    const nb_cell *cell = &nb->cells[nc + m];
    int hl = rk_md_heading_level(cell);
    float is_head = hl > 0 ? 1.0f : 0.0f, loglen = logf(1.0f + (float)cell->len) / 8.0f;
    float ibm = maxbm > 0 ? 1.0f / maxbm : 0.0f, icos = maxcos > 0 ? 1.0f / maxcos : 0.0f;
    int32_t best_bm = -1;
    for (int32_t c = 0; c < nc; c++)
      if (bm[c] > 0 && (best_bm < 0 || bm[c] > bm[best_bm])) best_bm = c;
    float md_code = (float)has(cell, "`"), md_link = (float)(has(cell, "](") || has(cell, "http"));
    float md_math = (float)has(cell, "$");
    /* exponentially smoothed similarity of the code after the slot (ahead[s] over cells s, s+1,
     * ...) and before it (behind[s] over cells s-1, s-2, ...): a markdown often introduces a
     * run of cells, not one */
    const float decay = 0.5f;
    ahead[nc] = 0;
    for (int32_t c = nc - 1; c >= 0; c--) ahead[c] = cs[c] + decay * ahead[c + 1];
    behind[0] = 0;
    for (int32_t c = 1; c <= nc; c++) behind[c] = cs[c - 1] + decay * behind[c - 1];
    before[0] = 0; /* the cosine summed over the code before each slot */
    for (int32_t c = 1; c <= nc; c++) before[c] = before[c - 1] + cs[c - 1];
    for (int32_t c = 0; c < nc; c++) sorted[c] = cs[c];
    qsort(sorted, (size_t)nc, sizeof *sorted, cmp_desc);
    /* the dual encoder's slot distribution: its log-probabilities, their maximum, the
     * probabilities and their weighted median */
    const float *dl = lex->dual ? lex->dual + (size_t)m * ns : NULL;
    float dmax = -INFINITY;
    int32_t dmed = 0;
    if (dl) {
      for (int32_t s = 0; s < ns; s++) dmax = dl[s] > dmax ? dl[s] : dmax, dprob[s] = expf(dl[s]);
      dmed = ai4_slot_median(dprob, ns);
    }
    for (int32_t s = 0; s < ns; s++) {
      float *f = feats + ((size_t)m * ns + s) * RK_NFEAT;
      float rel = nc > 0 ? (float)s / (float)nc : 0.0f;
      float cn = s < nc ? cs[s] : 0.0f, cp = s > 0 ? cs[s - 1] : 0.0f;
      float win_n = 0, win_p = 0;
      for (int32_t c = s; c < nc && c < s + 3; c++) win_n = cs[c] > win_n ? cs[c] : win_n;
      for (int32_t c = s - 3 < 0 ? 0 : s - 3; c < s; c++) win_p = cs[c] > win_p ? cs[c] : win_p;
      f[0] = 1.0f;
      f[1] = cn;
      f[2] = cp;
      f[3] = s < nc ? bm[s] * ibm : 0.0f;
      f[4] = s > 0 ? bm[s - 1] * ibm : 0.0f;
      f[5] = best >= 0 && s == best ? 1.0f : 0.0f;
      f[6] = best >= 0 && s == best + 1 ? 1.0f : 0.0f;
      f[7] = cn * icos;
      f[8] = cp * icos;
      f[9] = rel;
      f[10] = s == 0 ? 1.0f : 0.0f;
      f[11] = s == nc ? 1.0f : 0.0f;
      f[12] = best >= 0 ? fabsf((float)(s - best)) / (float)ns : 0.0f;
      f[13] = best < 0 ? 1.0f : 0.0f;
      f[14] = maxcos;
      f[15] = is_head;
      f[16] = is_head * rel;
      f[17] = hl == 1 && s == 0 ? 1.0f : 0.0f;
      f[18] = loglen * rel;
      f[19] = win_n;
      f[20] = win_p;
      if (point_pos) {
        float d = point_pos[m] - rel;
        f[21] = fabsf(d);
        f[22] = 4.0f * d * d;
      } else {
        f[21] = f[22] = 0.0f;
      }
      f[23] = simpos >= 0 ? fabsf(simpos - rel) : 0.0f;
      f[24] = 1.0f - lex->adj[s];
      const float *tn = s < nc ? lex->ctrait + (size_t)s * RK_CTRAITS : NULL;
      const float *tp = s > 0 ? lex->ctrait + (size_t)(s - 1) * RK_CTRAITS : NULL;
      f[25] = tn ? tn[1] : 0.0f;
      f[26] = tn ? tn[0] : 0.0f;
      f[27] = tp ? tp[0] : 0.0f;
      f[28] = md_code;
      f[29] = md_link;
      f[30] = md_math;
      f[31] = loglen;
      /* code cells more similar than the next one: binary search in the sorted copy */
      int32_t lo = 0, hi = nc;
      while (lo < hi) {
        int32_t mid = (lo + hi) / 2;
        if (sorted[mid] > cn) lo = mid + 1;
        else hi = mid;
      }
      int32_t higher = lo;
      f[32] = s < nc && cn > 0 ? (float)higher / (float)nc : 1.0f;
      f[33] = best_bm >= 0 ? fabsf((float)(s - best_bm)) / (float)ns : 0.0f;
      f[34] = md_code * rel;
      f[35] = (float)hl / 6.0f;
      f[36] = numq[m] >= 0 ? 1.0f : 0.0f;
      f[37] = numq[m] >= 0 ? fabsf(numq[m] - rel) : 0.0f;
      f[38] = ahead[s] * icos * 0.5f;
      f[39] = behind[s] * icos * 0.5f;
      float pr = lex->md_prior[m], dp = pr - rel;
      f[40] = pr >= 0 ? fabsf(dp) : 0.0f;
      f[41] = pr >= 0 ? 4.0f * dp * dp : 0.0f;
      f[42] = pr >= 0 ? 1.0f : 0.0f;
      int pb = (int)(rel * RK_PBINS);
      f[43] = lex->md_bins[(size_t)m * RK_PBINS + (pb < RK_PBINS ? pb : RK_PBINS - 1)];
      f[44] = dl ? fmaxf(dl[s], -16.0f) / 8.0f : 0.0f;
      f[45] = dl ? fmaxf(dl[s] - dmax, -16.0f) / 8.0f : 0.0f;
      f[46] = dl ? dprob[s] : 0.0f;
      f[47] = dl ? fabsf((float)(s - dmed)) / (float)ns : 0.0f;
      dense_features(lex, m, nc, s, f + RK_NFEAT_LEX);
      float *fl = f + RK_NFEAT_LEX + RK_NFEAT_DENSE;
      flow_features(&lex->sim, m, s, before, fl);
      fl[8] = tp ? tp[2] : 0.0f;
      fl[9] = tn ? tn[2] : 0.0f;
      fl[10] = tn ? tn[3] : 0.0f;
      rivals_features(&lr, lex->sim.cos, m, s, fl + 11);
      rivals_features(&dr, lex->dcos, m, s, fl + 15);
      kin_features(&lr, lex->sim.mcos, m, kin_l, near_l, s, fl + 19);
      kin_features(&dr, lex->dmcos, m, kin_d, near_d, s, fl + 22);
    }
  }
  free(sorted), free(num), free(numq), free(ahead), free(behind), free(before), free(dprob);
  rivals_free(&lr), rivals_free(&dr);
  free(near_l), free(near_d);
}

/* ---- the MLP ------------------------------------------------------------------------------- */
void rk_slot_init(rk_slot_model *m, int hidden, const ordo_ops *ops) {
  memset(m, 0, sizeof *m);
  m->hidden = hidden;
  m->ops = ops;
  params_init(&m->params);
  int64_t s1[2] = {hidden, RK_NFEAT}, s2[1] = {hidden}, s3[2] = {1, hidden}, s4[1] = {1};
  m->w1 = params_add(&m->params, "w1", 2, s1, 0);
  m->b1 = params_add(&m->params, "b1", 1, s2, ORDO_PF_NO_DECAY);
  m->w2 = params_add(&m->params, "w2", 2, s3, 0);
  m->b2 = params_add(&m->params, "b2", 1, s4, ORDO_PF_NO_DECAY);
  params_alloc(&m->params);
}

void rk_slot_free(rk_slot_model *m) {
  params_free(&m->params);
  memset(m, 0, sizeof *m);
}

void rk_slot_init_weights(rk_slot_model *m, uint64_t seed) {
  ordo_rng r;
  rng_init(&r, seed);
  float *w1 = params_data(&m->params, m->w1), *w2 = params_data(&m->params, m->w2);
  /* the lexical columns first, drawn as before the dense ones were added, then w2, then the dense
   * columns, then the flow ones */
  float s1 = 1.0f / sqrtf((float)RK_NFEAT_LEX), s2 = 1.0f / sqrtf((float)m->hidden);
  for (int o = 0; o < m->hidden; o++)
    for (int i = 0; i < RK_NFEAT_LEX; i++) w1[o * RK_NFEAT + i] = s1 * rng_normal(&r);
  for (int i = 0; i < m->hidden; i++) w2[i] = s2 * rng_normal(&r);
  for (int o = 0; o < m->hidden; o++)
    for (int i = RK_NFEAT_LEX; i < RK_NFEAT_LEX + RK_NFEAT_DENSE; i++)
      w1[o * RK_NFEAT + i] = s1 * rng_normal(&r);
  for (int o = 0; o < m->hidden; o++)
    for (int i = RK_NFEAT_LEX + RK_NFEAT_DENSE; i < RK_NFEAT; i++)
      w1[o * RK_NFEAT + i] = s1 * rng_normal(&r);
}

void rk_slot_work_free(rk_slot_work *w) {
  free(w->feats), free(w->h), free(w->a), free(w->score), free(w->prob);
  free(w->dscore), free(w->da), free(w->dh);
  memset(w, 0, sizeof *w);
}

static void work_reserve(rk_slot_work *w, size_t rows, int hidden) {
  if (rows <= w->cap_rows) return;
  rk_slot_work_free(w);
  w->cap_rows = rows;
  w->feats = ordo_malloc(rows * RK_NFEAT * sizeof(float));
  w->h = ordo_malloc(rows * (size_t)hidden * sizeof(float));
  w->a = ordo_malloc(rows * (size_t)hidden * sizeof(float));
  w->da = ordo_malloc(rows * (size_t)hidden * sizeof(float));
  w->dh = ordo_malloc(rows * (size_t)hidden * sizeof(float));
  w->score = ordo_malloc(rows * sizeof(float));
  w->prob = ordo_malloc(rows * sizeof(float));
  w->dscore = ordo_malloc(rows * sizeof(float));
}

/* Scores of all (markdown, slot) rows: w->score (n_md * (n_code + 1)). */
static size_t slot_forward(const rk_slot_model *m, const nb_notebook *nb, const rk_lex *lex,
                           const float *point_pos, rk_slot_work *w) {
  size_t R = (size_t)nb->n_md * (size_t)(nb->n_code + 1);
  work_reserve(w, R ? R : 1, m->hidden);
  rk_lex view = *lex;
  /* the learned evidence in the four slot-distribution features: the dual encoder's, or the
   * notebook-level model's in its place */
  view.dual = m->use_nbm ? lex->nbm : m->use_dual ? lex->dual : NULL;
  if (!m->use_dense) view.dcos = view.dadj = view.dmcos = NULL;
  rk_slot_features(nb, &view, m->use_point ? point_pos : NULL, w->feats);
  const ordo_params *p = &m->params;
  m->ops->matmul_forward(NULL, w->h, w->feats, params_data(p, m->w1), params_data(p, m->b1), (int)R,
                         RK_NFEAT, m->hidden);
  m->ops->gelu_forward(NULL, w->a, w->h, (int64_t)R * m->hidden);
  m->ops->matmul_forward(NULL, w->score, w->a, params_data(p, m->w2), params_data(p, m->b2), (int)R,
                         m->hidden, 1);
  return R;
}

/* Row-wise softmax of the scores, per markdown over its n_code + 1 slots. */
static void slot_softmax(const float *score, int32_t nm, int32_t ns, float *prob) {
  for (int32_t md = 0; md < nm; md++) {
    const float *x = score + (size_t)md * ns;
    float *p = prob + (size_t)md * ns, mx = x[0];
    for (int32_t s = 1; s < ns; s++) mx = x[s] > mx ? x[s] : mx;
    double z = 0;
    for (int32_t s = 0; s < ns; s++) z += (p[s] = expf(x[s] - mx));
    for (int32_t s = 0; s < ns; s++) p[s] = (float)(p[s] / z);
  }
}

void rk_slot_predict_nb(const rk_slot_model *m, const nb_notebook *nb, const rk_lex *lex,
                        const float *point_pos, rk_slot_work *w, float *prob) {
  if (nb->n_md == 0) return;
  slot_forward(m, nb, lex, point_pos, w);
  slot_softmax(w->score, nb->n_md, nb->n_code + 1, prob);
}

float rk_slot_loss_nb(rk_slot_model *m, const nb_notebook *nb, const rk_lex *lex,
                      const float *point_pos, rk_slot_work *w, float dloss) {
  int32_t nm = nb->n_md, ns = nb->n_code + 1;
  if (nm == 0) return 0.0f;
  size_t R = slot_forward(m, nb, lex, point_pos, w);
  slot_softmax(w->score, nm, ns, w->prob);
  int32_t *truth = ordo_malloc((size_t)nm * sizeof *truth);
  rk_true_slots(nb, truth);
  double loss = 0;
  float g = dloss / (float)nm;
  for (int32_t md = 0; md < nm; md++) {
    const float *p = w->prob + (size_t)md * ns;
    float *d = w->dscore + (size_t)md * ns;
    loss -= log((double)p[truth[md]] + 1e-12);
    for (int32_t s = 0; s < ns; s++) d[s] = g * (p[s] - (s == truth[md] ? 1.0f : 0.0f));
  }
  free(truth);
  ordo_params *p = &m->params;
  memset(w->da, 0, R * (size_t)m->hidden * sizeof(float));
  memset(w->dh, 0, R * (size_t)m->hidden * sizeof(float));
  m->ops->matmul_backward(NULL, w->da, params_grad(p, m->w2), params_grad(p, m->b2), w->dscore, w->a,
                          params_data(p, m->w2), (int)R, m->hidden, 1);
  m->ops->gelu_backward(NULL, w->dh, ORDO_ACCUMULATE, w->h, w->da, (int64_t)R * m->hidden);
  m->ops->matmul_backward(NULL, NULL, params_grad(p, m->w1), params_grad(p, m->b1), w->dh, w->feats,
                          params_data(p, m->w1), (int)R, RK_NFEAT, m->hidden);
  return (float)(loss / nm);
}

void rk_slot_decode(const nb_notebook *nb, const float *prob, float *md_pos) {
  int32_t ns = nb->n_code + 1;
  for (int32_t md = 0; md < nb->n_md; md++) {
    const float *p = prob + (size_t)md * ns;
    int32_t s = ai4_slot_median(p, ns);
    double mean = 0;
    for (int32_t k = 0; k < ns; k++) mean += (double)p[k] * k;
    /* inside the slot (s - 1, s): the mean orders markdown cells that share it */
    double t = (mean - s) / ns;
    t = t < -1 ? -1 : t > 1 ? 1 : t;
    md_pos[md] = (float)(s - 0.5 + 0.45 * t);
  }
}
