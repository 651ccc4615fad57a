/* The run metrics: CRC32C known answers, the Event bytes of a known scalar, a round trip of
 * records through the writer and the C reader of event files, damaged files read up to the
 * damage, and a resumed stage keeping only its records up to the resumed step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ordo/metrics.h"

static void test_crc(void) {
  /* RFC 3720 (iSCSI) B.4 and the usual check value */
  uint8_t buf[32];
  EXPECT(events_crc32c("123456789", 9) == 0xe3069283u, "%08x", events_crc32c("123456789", 9));
  memset(buf, 0, sizeof buf);
  EXPECT(events_crc32c(buf, 32) == 0x8a9136aau, "zeros %08x", events_crc32c(buf, 32));
  memset(buf, 0xff, sizeof buf);
  EXPECT(events_crc32c(buf, 32) == 0x62a8ab43u, "ones %08x", events_crc32c(buf, 32));
  for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
  EXPECT(events_crc32c(buf, 32) == 0x46dd794eu, "ascending %08x", events_crc32c(buf, 32));
  EXPECT(events_crc32c("", 0) == 0, "empty");
  /* the TFRecord mask: rotate right by 15, add 0xa282ead8 */
  EXPECT(events_crc_mask(0) == 0xa282ead8u, "%08x", events_crc_mask(0));
  EXPECT(events_crc_mask(0x00008000u) == 0xa282ead9u, "%08x", events_crc_mask(0x00008000u));
}

/* An Event of wall 1.5, step 3 and scalar "a" = 1.0, byte for byte. */
static void test_event_bytes(void) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  const char *tags[] = {"a"};
  float vals[] = {1.0f};
  EXPECT(events_write_event(f, 1.5, 3, NULL, tags, vals, 1) == 0, "write");
  fclose(f);
  static const uint8_t ev[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, /* 1: wall_time 1.5 */
                               0x10, 0x03,                         /* 2: step 3 */
                               0x2a, 0x0a,                         /* 5: summary, 10 bytes */
                               0x0a, 0x08,                         /*   1: value, 8 bytes */
                               0x0a, 0x01, 'a',                    /*     1: tag "a" */
                               0x15, 0x00, 0x00, 0x80, 0x3f};      /*     2: simple_value 1.0 */
  EXPECT(n == 12 + sizeof ev + 4, "record of %zu bytes", n);
  if (n == 12 + sizeof ev + 4) {
    const uint8_t *p = (const uint8_t *)buf;
    EXPECT(p[0] == sizeof ev && p[1] == 0 && p[7] == 0, "length field");
    EXPECT(memcmp(p + 12, ev, sizeof ev) == 0, "event bytes");
    uint32_t crc = (uint32_t)p[n - 4] | (uint32_t)p[n - 3] << 8 | (uint32_t)p[n - 2] << 16 |
                   (uint32_t)p[n - 1] << 24;
    EXPECT(crc == events_crc_mask(events_crc32c(ev, sizeof ev)), "data crc");
  }
  free(buf);
}

static void write_run(const char *dir, int steps) {
  ordo_metrics m;
  ordo_err e;
  EXPECT(metrics_open(&m, dir, &e) == 0, "%s", e.msg);
  static const metrics_column cols[] = {{"step", "%lld"}, {"loss", "%.6f"}};
  EXPECT(metrics_stage_begin(&m, "train", 0, "m.csv", cols, 2, &e) == 0, "%s", e.msg);
  for (int s = 1; s <= steps; s++) {
    metrics_record_begin(&m, s);
    metrics_record_add(&m, "loss", 3.0 / s);
    metrics_record_add(&m, "grad_norm", s == 4 ? INFINITY : 0.25 * s);
    EXPECT(metrics_record_end(&m, &e) == 0, "%s", e.msg);
  }
  metrics_close(&m);
}

static void test_round_trip(const char *dir) {
  write_run(dir, 6);
  char path[4300];
  snprintf(path, sizeof path, "%s/tb/train/events.out.tfevents.ordo", dir);
  events_read_result r;
  ordo_err e;
  EXPECT(events_read_file(path, &r, &e) == 0, "%s", e.msg);
  EXPECT(r.records == 7 && r.n == 12 && r.stop[0] == 0, "records %lld scalars %lld stop '%s'",
         (long long)r.records, (long long)r.n, r.stop);
  for (int64_t i = 0; i + 1 < r.n && r.n == 12; i += 2) {
    int s = (int)(i / 2) + 1;
    EXPECT(r.s[i].step == s && strcmp(r.s[i].tag, "train/loss") == 0, "step %lld tag %s",
           (long long)r.s[i].step, r.s[i].tag);
    EXPECT(r.s[i].value == (float)(3.0 / s), "loss %g", r.s[i].value);
    EXPECT(strcmp(r.s[i + 1].tag, "train/grad_norm") == 0, "%s", r.s[i + 1].tag);
    EXPECT(s == 4 ? isinf(r.s[i + 1].value) : r.s[i + 1].value == (float)(0.25 * s), "gn %g",
           r.s[i + 1].value);
    EXPECT(r.s[i].wall > 1e9, "wall %f", r.s[i].wall);
  }
  int64_t whole = r.bytes_total;
  events_read_result_free(&r);
  /* the JSON line of step 4 has null for the infinite norm */
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  char *txt = ordo_read_file(path, NULL, &e);
  EXPECT(txt && strstr(txt, "\"step\": 4, ") && strstr(txt, "\"grad_norm\": null"), "jsonl");
  EXPECT(txt && strstr(txt, "\"loss\": 0.75,"), "exact values: %s", txt ? txt : "");
  free(txt);

  /* torn: the last record loses its final bytes; a damaged one: a flipped bit */
  snprintf(path, sizeof path, "%s/tb/train/events.out.tfevents.ordo", dir);
  EXPECT(truncate(path, whole - 3) == 0, "truncate");
  EXPECT(events_read_file(path, &r, &e) == 0, "%s", e.msg);
  EXPECT(r.records == 6 && r.n == 10 && strstr(r.stop, "torn"), "torn: %lld '%s'",
         (long long)r.records, r.stop);
  int64_t good = r.bytes_read;
  events_read_result_free(&r);
  FILE *f = fopen(path, "r+b");
  fseek(f, (long)good - 6, SEEK_SET);
  int c = fgetc(f);
  fseek(f, (long)good - 6, SEEK_SET);
  fputc(c ^ 0x10, f);
  fclose(f);
  EXPECT(events_read_file(path, &r, &e) == 0, "%s", e.msg);
  EXPECT(r.records == 5 && strstr(r.stop, "CRC mismatch"), "flipped: %lld '%s'",
         (long long)r.records, r.stop);
  events_read_result_free(&r);
  EXPECT(events_read_file("/nonexistent/events", &r, &e) == -1 && strstr(e.msg, "/nonexistent"),
         "missing file: %s", e.msg);
}

/* A stage resumed at step 3 keeps steps 1..3 in every file; other stages' lines stay. */
static void test_resume(const char *dir) {
  write_run(dir, 6);
  ordo_metrics m;
  ordo_err e;
  EXPECT(metrics_open(&m, dir, &e) == 0, "%s", e.msg);
  EXPECT(metrics_stage_begin(&m, "other", 0, NULL, NULL, 0, &e) == 0, "%s", e.msg);
  metrics_record_begin(&m, 9);
  metrics_record_add(&m, "val_tau", 0.5);
  EXPECT(metrics_record_end(&m, &e) == 0, "%s", e.msg);
  static const metrics_column cols[] = {{"step", "%lld"}, {"loss", "%.6f"}};
  EXPECT(metrics_stage_begin(&m, "train", 3, "m.csv", cols, 2, &e) == 0, "%s", e.msg);
  metrics_record_begin(&m, 4);
  metrics_record_add(&m, "loss", 7.0);
  metrics_record_add(&m, "grad_norm", 1.0);
  EXPECT(metrics_record_end(&m, &e) == 0, "%s", e.msg);
  metrics_close(&m);
  char path[4300];
  snprintf(path, sizeof path, "%s/m.csv", dir);
  char *txt = ordo_read_file(path, NULL, &e);
  EXPECT(txt && strcmp(txt, "step,loss\n1,3.000000\n2,1.500000\n3,1.000000\n4,7.000000\n") == 0,
         "csv: %s", txt ? txt : "");
  free(txt);
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  txt = ordo_read_file(path, NULL, &e);
  int lines = 0;
  for (char *p = txt; p && *p; p++) lines += *p == '\n';
  EXPECT(lines == 5 && strstr(txt, "\"stage\": \"other\"") && strstr(txt, "\"loss\": 7"),
         "jsonl %d lines", lines);
  free(txt);
  snprintf(path, sizeof path, "%s/tb/train/events.out.tfevents.ordo", dir);
  events_read_result r;
  EXPECT(events_read_file(path, &r, &e) == 0, "%s", e.msg);
  EXPECT(r.records == 5 && r.n == 8 && r.s[6].step == 4 && r.s[6].value == 7.0f,
         "resumed events: %lld records, %lld scalars", (long long)r.records, (long long)r.n);
  events_read_result_free(&r);
}

int main(void) {
  test_crc();
  test_event_bytes();
  char dir[] = "/tmp/ordo-test-metrics-XXXXXX";
  EXPECT(mkdtemp(dir) != NULL, "mkdtemp");
  char run[4200];
  snprintf(run, sizeof run, "%s/a", dir);
  test_round_trip(run);
  snprintf(run, sizeof run, "%s/b", dir);
  test_resume(run);
  char cmd[4300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_summary();
}
