/* TensorBoard event files without a protobuf library: the few fields of Event and Summary that
 * scalars need, encoded and decoded by hand, in TFRecord framing.
 *
 *   record  := uint64 length (LE) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
 *   Event   := 1: wall_time (double, fixed64) | 2: step (int64, varint)
 *              | 3: file_version (string) | 5: summary (Summary)
 *   Summary := 1: value (Value), repeated
 *   Value   := 1: tag (string) | 2: simple_value (float, fixed32) */
#include <string.h>

#include "ordo/metrics.h"

uint32_t events_crc32c(const void *data, size_t n) {
  const uint8_t *p = data;
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u))); /* reflected poly */
  }
  return c ^ 0xffffffffu;
}

uint32_t events_crc_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int events_write_record(FILE *f, const void *data, size_t n) {
  uint8_t head[12], tail[4];
  put_le(head, n, 8);
  put_le(head + 8, events_crc_mask(events_crc32c(head, 8)), 4);
  put_le(tail, events_crc_mask(events_crc32c(data, n)), 4);
  if (fwrite(head, 1, 12, f) != 12 || fwrite(data, 1, n, f) != n || fwrite(tail, 1, 4, f) != 4)
    return -1;
  return 0;
}

/* ---- protobuf encoding into a growing buffer ---- */
static void pb_varint(ordo_buf *b, uint64_t v) {
  uint8_t t[10];
  int k = 0;
  do {
    t[k] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) t[k] |= 0x80;
    k++;
  } while (v);
  ordo_buf_add(b, t, (size_t)k);
}

static void pb_key(ordo_buf *b, int field, int wire) { pb_varint(b, (uint64_t)(field << 3 | wire)); }

static void pb_len_delim(ordo_buf *b, int field, const void *d, size_t n) {
  pb_key(b, field, 2);
  pb_varint(b, n);
  ordo_buf_add(b, d, n);
}

int events_write_event(FILE *f, double wall, int64_t step, const char *file_version,
                       const char *const *tags, const float *values, int n_values) {
  ordo_buf ev = {0}, sum = {0}, val = {0};
  uint8_t t[8];
  uint64_t bits;
  memcpy(&bits, &wall, 8);
  put_le(t, bits, 8);
  pb_key(&ev, 1, 1);
  ordo_buf_add(&ev, t, 8);
  pb_key(&ev, 2, 0);
  pb_varint(&ev, (uint64_t)step);
  if (file_version) pb_len_delim(&ev, 3, file_version, strlen(file_version));
  for (int i = 0; i < n_values; i++) {
    val.n = 0;
    pb_len_delim(&val, 1, tags[i], strlen(tags[i]));
    uint32_t fb;
    memcpy(&fb, &values[i], 4);
    put_le(t, fb, 4);
    pb_key(&val, 2, 5);
    ordo_buf_add(&val, t, 4);
    pb_len_delim(&sum, 1, val.p, val.n);
  }
  if (n_values > 0) pb_len_delim(&ev, 5, sum.p, sum.n);
  int rc = events_write_record(f, ev.p, ev.n);
  free(ev.p), free(sum.p), free(val.p);
  return rc;
}

/* ---- decoding ---- */
typedef struct pb_in {
  const uint8_t *p, *end;
} pb_in;

static int pb_get_varint(pb_in *in, uint64_t *v) {
  *v = 0;
  for (int s = 0; s < 64 && in->p < in->end; s += 7) {
    uint8_t c = *in->p++;
    *v |= (uint64_t)(c & 0x7f) << s;
    if (!(c & 0x80)) return 0;
  }
  return -1;
}

/* Reads one field's key and, for length-delimited ones, the span; skips what it does not need.
 * Returns the field number, 0 at the end, -1 on malformed input. */
static int pb_next(pb_in *in, int *wire, uint64_t *v, pb_in *sub) {
  if (in->p >= in->end) return 0;
  uint64_t key;
  if (pb_get_varint(in, &key) != 0) return -1;
  *wire = (int)(key & 7);
  switch (*wire) {
  case 0: return pb_get_varint(in, v) == 0 ? (int)(key >> 3) : -1;
  case 1:
    if (in->end - in->p < 8) return -1;
    *v = get_le(in->p, 8), in->p += 8;
    return (int)(key >> 3);
  case 5:
    if (in->end - in->p < 4) return -1;
    *v = get_le(in->p, 4), in->p += 4;
    return (int)(key >> 3);
  case 2: {
    uint64_t n;
    if (pb_get_varint(in, &n) != 0 || n > (uint64_t)(in->end - in->p)) return -1;
    sub->p = in->p, sub->end = in->p + n, in->p += n;
    return (int)(key >> 3);
  }
  default: return -1;
  }
}

static void result_push(events_read_result *r, const events_scalar *s) {
  if (r->n == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 256;
    r->s = ordo_realloc(r->s, (size_t)r->cap * sizeof *r->s);
  }
  r->s[r->n++] = *s;
}

/* One Event's scalars into r; -1 when the message is malformed. */
static int parse_event(const uint8_t *d, size_t n, events_read_result *r) {
  pb_in in = {d, d + n}, sub, vin, vsub;
  events_scalar s;
  memset(&s, 0, sizeof s);
  int64_t first = r->n;
  int f, wire, fv, g = 0;
  uint64_t v;
  while ((f = pb_next(&in, &wire, &v, &sub)) > 0) {
    if (f == 1 && wire == 1) memcpy(&s.wall, &v, 8);
    else if (f == 2 && wire == 0) s.step = (int64_t)v;
    else if (f == 5 && wire == 2) {
      pb_in sin = sub;
      while ((fv = pb_next(&sin, &wire, &v, &vin)) > 0) {
        if (fv != 1 || wire != 2) continue;
        events_scalar x = s;
        int have = 0;
        pb_in vv = vin;
        while ((g = pb_next(&vv, &wire, &v, &vsub)) > 0) {
          if (g == 1 && wire == 2) {
            size_t len = (size_t)(vsub.end - vsub.p);
            if (len >= sizeof x.tag) len = sizeof x.tag - 1;
            memcpy(x.tag, vsub.p, len);
            x.tag[len] = 0;
          } else if (g == 2 && wire == 5) {
            uint32_t b = (uint32_t)v;
            memcpy(&x.value, &b, 4);
            have = 1;
          }
        }
        if (g < 0) break;
        if (have) result_push(r, &x);
      }
      if (fv < 0 || g < 0) {
        f = -1;
        break;
      }
    }
  }
  if (f < 0) {
    r->n = first; /* none of a malformed message's scalars */
    return -1;
  }
  /* wall and step may follow the summary in a message: set them on its scalars */
  for (int64_t i = first; i < r->n; i++) r->s[i].wall = s.wall, r->s[i].step = s.step;
  return 0;
}

int events_read_file(const char *path, events_read_result *r, ordo_err *e) {
  memset(r, 0, sizeof *r);
  size_t len;
  uint8_t *d = (uint8_t *)ordo_read_file(path, &len, e);
  if (!d) return -1;
  r->bytes_total = (int64_t)len;
  size_t off = 0;
  while (off < len) {
    if (len - off < 12) {
      snprintf(r->stop, sizeof r->stop, "a record header torn at byte %zu", off);
      break;
    }
    uint64_t n = get_le(d + off, 8);
    if ((uint32_t)get_le(d + off + 8, 4) != events_crc_mask(events_crc32c(d + off, 8))) {
      snprintf(r->stop, sizeof r->stop, "a damaged record length (CRC mismatch) at byte %zu", off);
      break;
    }
    if (n > len - off - 12 || len - off - 12 - n < 4) {
      snprintf(r->stop, sizeof r->stop, "a record torn at byte %zu (%llu bytes announced, %zu left)",
               off, (unsigned long long)n, len - off - 12);
      break;
    }
    const uint8_t *data = d + off + 12;
    if ((uint32_t)get_le(data + n, 4) != events_crc_mask(events_crc32c(data, (size_t)n))) {
      snprintf(r->stop, sizeof r->stop, "a damaged record (CRC mismatch) at byte %zu", off);
      break;
    }
    if (parse_event(data, (size_t)n, r) != 0) {
      snprintf(r->stop, sizeof r->stop, "a malformed Event message at byte %zu", off);
      break;
    }
    r->records++;
    off += 12 + (size_t)n + 4;
  }
  r->bytes_read = (int64_t)off;
  free(d);
  return 0;
}

void events_read_result_free(events_read_result *r) {
  free(r->s);
  memset(r, 0, sizeof *r);
}
