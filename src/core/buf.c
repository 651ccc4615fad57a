/* The growing byte buffer (ordo_buf): doubles its capacity, keeps a NUL after the data. */
#include <string.h>

#include "ordo/core.h"

void ordo_buf_add(ordo_buf *b, const void *data, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->n + n + 1 > cap) cap *= 2;
    b->p = ordo_realloc(b->p, cap);
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
  b->p[b->n] = 0;
}

void ordo_buf_str(ordo_buf *b, const char *s) { ordo_buf_add(b, s, strlen(s)); }
