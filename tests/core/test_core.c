/* Core: dtype conversions (RNE, fp16 overflow, NaN), Philox known-answer, arena, params, file
 * lists, atomic outputs and output folders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "check.h"
#include "ordo/arena.h"
#include "ordo/dtype.h"
#include "ordo/files.h"
#include "ordo/params.h"
#include "ordo/rng.h"

static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static void test_bf16(void) {
  EXPECT(f32_to_bf16(1.0f) == 0x3f80, "1.0");
  /* 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even (1.0). */
  EXPECT(f32_to_bf16(u2f(0x3f808000u)) == 0x3f80, "tie to even down");
  /* 1.0078125 + half ulp: tie, odd mantissa -> rounds up to even. */
  EXPECT(f32_to_bf16(u2f(0x3f818000u)) == 0x3f82, "tie to even up");
  EXPECT(f32_to_bf16(u2f(0x3f808001u)) == 0x3f81, "above half rounds up");
  EXPECT(f32_to_bf16(INFINITY) == 0x7f80, "inf");
  uint16_t n = f32_to_bf16(NAN);
  EXPECT((n & 0x7f80) == 0x7f80 && (n & 0x7f), "nan stays nan %04x", n);
  EXPECT(bf16_to_f32(0xc040) == -3.0f, "decode");
}

static void test_f16(void) {
  EXPECT(f32_to_f16(1.0f) == 0x3c00, "1.0");
  EXPECT(f32_to_f16(65504.0f) == 0x7bff, "max");
  EXPECT(f32_to_f16(65519.0f) == 0x7bff, "below overflow threshold");
  EXPECT(f32_to_f16(65520.0f) == 0x7c00, "overflow to inf");
  EXPECT(f32_to_f16(-1e9f) == 0xfc00, "-inf");
  EXPECT(f32_to_f16(u2f(0x33800000u)) == 0x0001, "2^-24 smallest subnormal");
  EXPECT(f32_to_f16(u2f(0x33000000u)) == 0x0000, "2^-25 ties to even zero");
  EXPECT(f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00, "tie to even");
  EXPECT(f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02, "tie to even up");
  EXPECT(f16_to_f32(0x0001) == u2f(0x33800000u), "subnormal decode");
  EXPECT(f16_to_f32(0xc000) == -2.0f, "decode");
  /* every finite f16 survives a round trip */
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00) continue;
    if (f32_to_f16(f16_to_f32((uint16_t)h)) != h) bad++;
  }
  EXPECT(bad == 0, "%d f16 values do not round-trip", bad);
}

static void test_philox(void) {
  /* Known-answer vector from the Random123 distribution (philox4x32_10, ctr 0, key 0). */
  uint32_t o[4];
  philox4x32(o, 0, 0);
  EXPECT(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu && o[3] == 0x9b00dbd8u,
         "KAT %08x %08x %08x %08x", o[0], o[1], o[2], o[3]);
  ordo_rng r;
  rng_init(&r, 42);
  double s = 0, s2 = 0;
  for (int i = 0; i < 100000; i++) {
    float u = rng_uniform(&r);
    s += u;
    s2 += u * u;
  }
  EXPECT_NEAR(s / 1e5, 0.5, 0.01);
  EXPECT_NEAR(s2 / 1e5 - (s / 1e5) * (s / 1e5), 1.0 / 12, 0.005);
  EXPECT(philox_u32(42, 7) == philox_u32(42, 7), "pure function");
}

static void test_arena_params(void) {
  ordo_arena a;
  arena_init_measure(&a);
  arena_alloc(&a, 10);
  arena_alloc(&a, 100);
  EXPECT(a.used == 64 + 128, "measure %zu", a.used);
  size_t need = a.used;
  arena_init(&a, need);
  float *x = arena_alloc_f32(&a, 2);
  float *y = arena_alloc_f32(&a, 25);
  EXPECT(((uintptr_t)x & 63) == 0 && ((uintptr_t)y & 63) == 0, "aligned");
  arena_free(&a);

  ordo_params p;
  params_init(&p);
  int64_t s1[2] = {3, 5}, s2[1] = {7};
  int i1 = params_add(&p, "a.weight", 2, s1, 0);
  int i2 = params_add(&p, "a.bias", 1, s2, ORDO_PF_NO_DECAY);
  int i3 = params_add_contiguous(&p, "b.bias", 1, s2, 0);
  params_alloc(&p);
  EXPECT(p.specs[i2].offset == 16 && p.specs[i3].offset == 23, "offsets %zu %zu",
         p.specs[i2].offset, p.specs[i3].offset);
  EXPECT(params_find(&p, "a.bias") == i2 && params_find(&p, "zz") < 0, "find");
  EXPECT(params_count(&p, 0) == 29 && i1 == 0, "count");
  params_free(&p);
}

static void touch(const char *dir, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  ORDO_CHECK(f);
  fclose(f);
}

static void test_list_files(void) {
  char dir[] = "/tmp/ordo_files_XXXXXX", sub[600], hid[600];
  ORDO_CHECK(mkdtemp(dir));
  snprintf(sub, sizeof sub, "%s/b_sub", dir);
  snprintf(hid, sizeof hid, "%s/.hidden", dir);
  ORDO_CHECK(mkdir(sub, 0755) == 0 && mkdir(hid, 0755) == 0);
  touch(dir, "z.ipynb"), touch(dir, "a.txt"), touch(sub, "c.ipynb"), touch(hid, "d.ipynb");
  ordo_paths all = {0}, nb = {0}, flat = {0};
  const char *suf[] = {".ipynb"};
  EXPECT(ordo_list_files(dir, NULL, 0, 1, &all, NULL) == 0 && all.n == 3, "all files: %d", all.n);
  EXPECT(all.n == 3 && strstr(all.p[0], "/a.txt") && strstr(all.p[1], "/b_sub/c.ipynb") &&
             strstr(all.p[2], "/z.ipynb"), "sorted, hidden skipped");
  EXPECT(ordo_list_files(dir, suf, 1, 1, &nb, NULL) == 0 && nb.n == 2, "by suffix: %d", nb.n);
  EXPECT(ordo_list_files(dir, suf, 1, 0, &flat, NULL) == 0 && flat.n == 1, "not recursive: %d", flat.n);
  ordo_err e;
  ordo_paths none = {0};
  EXPECT(ordo_list_files("/nonexistent/dir", NULL, 0, 1, &none, &e) != 0 &&
             strstr(e.msg, "/nonexistent/dir"), "a missing folder is an error naming it");
  ordo_paths_free(&all), ordo_paths_free(&nb), ordo_paths_free(&flat), ordo_paths_free(&none);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  EXPECT(system(cmd) == 0, "cleanup");
}

/* Outputs: atomic writes replace regular files only; the output folder rule. */
static void test_outputs(void) {
  char dir[] = "/tmp/ordo_out_XXXXXX", p[600], q[700];
  ORDO_CHECK(mkdtemp(dir));
  ordo_err e = {{0}};
  /* a pipe, a folder and a device are refused and left as they were */
  snprintf(p, sizeof p, "%s/fifo", dir);
  ORDO_CHECK(mkfifo(p, 0644) == 0);
  EXPECT(ordo_write_file_atomic(p, "x", 1, &e) == -1 && strstr(e.msg, "is a pipe, not a regular file") &&
             strstr(e.msg, p), "pipe: %s", e.msg);
  struct stat sb;
  EXPECT(lstat(p, &sb) == 0 && S_ISFIFO(sb.st_mode), "the pipe is still a pipe");
  /* a device node of our own (as root), never a system one: a broken build would replace it */
  snprintf(q, sizeof q, "%s/dev", dir);
  if (geteuid() == 0 && mknod(q, S_IFCHR | 0666, makedev(1, 3)) == 0) {
    EXPECT(ordo_write_file_atomic(q, "x", 1, &e) == -1 && strstr(e.msg, "is a character device"),
           "device: %s", e.msg);
    EXPECT(lstat(q, &sb) == 0 && S_ISCHR(sb.st_mode), "the device is still a device");
  }
  EXPECT(ordo_write_file_atomic(dir, "x", 1, &e) == -1 && strstr(e.msg, "is a folder"), "folder: %s", e.msg);
  /* a link to a regular file: the file is replaced, the link kept */
  snprintf(p, sizeof p, "%s/real.txt", dir);
  snprintf(q, sizeof q, "%s/link.txt", dir);
  ORDO_CHECK(ordo_write_file_atomic(p, "old", 3, &e) == 0 && symlink(p, q) == 0);
  EXPECT(ordo_write_file_atomic(q, "new", 3, &e) == 0, "%s", e.msg);
  size_t n = 0;
  char *txt = ordo_read_file(p, &n, &e);
  EXPECT(txt && n == 3 && memcmp(txt, "new", 3) == 0 && lstat(q, &sb) == 0 && S_ISLNK(sb.st_mode),
         "write through a link");
  free(txt);
  EXPECT(ordo_read_file_max(p, 2, &n, &e) == NULL && strstr(e.msg, "larger than 2 bytes"), "%s", e.msg);
  /* folders: absent or empty is fine, holding files needs force, a file is not a folder */
  snprintf(p, sizeof p, "%s/new", dir);
  EXPECT(ordo_out_dir_check(p, 0, &e) == 0 && ordo_dir_ensure(p, &e) == 0 && ordo_is_dir(p), "new folder");
  EXPECT(ordo_out_dir_check(p, 0, &e) == 0, "an empty folder: %s", e.msg);
  touch(p, "config.json");
  EXPECT(ordo_out_dir_check(p, 0, &e) == -1 && strstr(e.msg, "already holds files (config.json") &&
             strstr(e.msg, "--force"), "a folder with files: %s", e.msg);
  EXPECT(ordo_out_dir_check(p, 1, &e) == 0, "--force");
  snprintf(q, sizeof q, "%s/config.json", p);
  EXPECT(ordo_out_dir_check(q, 1, &e) == -1 && strstr(e.msg, "is not a folder"), "%s", e.msg);
  EXPECT(ordo_dir_ensure(q, &e) == -1 && strstr(e.msg, "is not a folder"), "%s", e.msg);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  EXPECT(system(cmd) == 0, "cleanup");
}

/* CSV fields: plain when nothing needs quoting, else quoted with doubled quotes (the prefix
 * counts as part of the field). */
static void test_csv_field(void) {
  ordo_buf b = {0};
  ordo_buf_csv_field(&b, "p_", "plain");
  ordo_buf_str(&b, "|");
  ordo_buf_csv_field(&b, "", "a,b");
  ordo_buf_str(&b, "|");
  ordo_buf_csv_field(&b, "p_", "say \"hi\"\n");
  ordo_buf_str(&b, "|");
  ordo_buf_csv_field(&b, "x,", "y");
  EXPECT(strcmp(b.p, "p_plain|\"a,b\"|\"p_say \"\"hi\"\"\n\"|\"x,y\"") == 0, "csv fields: '%s'", b.p);
  free(b.p);
}

int main(void) {
  test_csv_field();
  test_outputs();
  test_list_files();
  test_bf16();
  test_f16();
  test_philox();
  test_arena_params();
  return test_summary();
}
