/* Unicode helpers for the tokenizers: strict UTF-8 decoding, the character classes that
 * GPT-2's pattern and BERT's normalizer use, lowercase and NFD (tables from utf8proc). */
#include <utf8proc.h>

#include "tok/tok_internal.h"

int tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, v = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, v = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    *cp = TOK_INVALID;
    return 1;
  }
  if ((size_t)len > n) {
    *cp = TOK_INVALID;
    return 1;
  }
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) {
      *cp = TOK_INVALID;
      return 1;
    }
    v = (v << 6) | (s[i] & 0x3F);
  }
  /* overlong forms, surrogates and values past U+10FFFF are not valid UTF-8 */
  if (v < min || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) {
    *cp = TOK_INVALID;
    return 1;
  }
  *cp = v;
  return len;
}

int tok_utf8_put(char *out, uint32_t cp) {
  unsigned char *o = (unsigned char *)out;
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Unicode White_Space: what both Oniguruma's \s (HF's regex) and Rust's is_whitespace use. */
int tok_is_ws(uint32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return 1;
  if (c < 0x85) return 0;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int tok_is_letter(uint32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  if (c == TOK_INVALID) return 0;
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

int tok_is_number(uint32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  if (c == TOK_INVALID) return 0;
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* BERT's punctuation: any ASCII punctuation or symbol, or a Unicode P* character. */
int tok_is_bert_punct(uint32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126))
    return 1;
  if (c < 0x80 || c == TOK_INVALID) return 0;
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* BERT's control characters (removed by clean_text): C* categories except \t \n \r. */
int tok_is_bert_control(uint32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return 0;
  if (c < 0x20 || c == 0x7F) return 1;
  if (c < 0x80) return 0;
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
         k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CN;
}

int tok_is_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int tok_is_mn(uint32_t c) {
  if (c < 0x300) return 0;
  return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_MN;
}

int tok_is_mark(uint32_t c) {
  if (c < 0x300) return 0;
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

int tok_lower(uint32_t c, uint32_t out[2]) {
  if (c < 0x80) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  if (c == 0x130) { /* the one unconditional multi-character lowercase: İ → i + U+0307 */
    out[0] = 'i', out[1] = 0x307;
    return 2;
  }
  out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
  return 1;
}

int tok_nfd(const uint32_t *cps, int n, uint32_t *out, int cap) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (cps[i] < 0xC0) { /* nothing below U+00C0 decomposes canonically */
      if (m >= cap) return -1;
      out[m++] = cps[i];
      continue;
    }
    int last = 0;
    utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)cps[i], (utf8proc_int32_t *)out + m,
                                                  cap - m, UTF8PROC_DECOMPOSE, &last);
    if (k < 0 || k > cap - m) return -1;
    m += (int)k;
  }
  /* canonical ordering: stable sort of each run of non-starters by combining class */
  for (int i = 1; i < m; i++) {
    int ci = utf8proc_get_property((utf8proc_int32_t)out[i])->combining_class;
    if (ci == 0) continue;
    int j = i;
    while (j > 0) {
      int cj = utf8proc_get_property((utf8proc_int32_t)out[j - 1])->combining_class;
      if (cj <= ci) break;
      uint32_t tmp = out[j];
      out[j] = out[j - 1];
      out[j - 1] = tmp;
      j--;
    }
  }
  return m;
}
