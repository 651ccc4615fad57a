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

void ordo_buf_csv_field(ordo_buf *b, const char *prefix, const char *s) {
  int quote = strpbrk(prefix, ",\"\r\n") || strpbrk(s, ",\"\r\n");
  if (quote) ordo_buf_str(b, "\"");
  for (int part = 0; part < 2; part++)
    for (const char *c = part ? s : prefix; *c; c++) ordo_buf_add(b, *c == '"' ? "\"\"" : c, *c == '"' ? 2 : 1);
  if (quote) ordo_buf_str(b, "\"");
}
