/* Text classification: the report's metrics against hand-computed values, and the labelled
 * set readers (CSV quoting, column order, JSON-lines, label sets, errors with file and line). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ordo/classify.h"

static void check_report(void) {
  /* confusion [truth][pred]: t0 = [1 0 1 0], t1 = [1 0 0 0], t2 = [1 0 2 0]; class 3 absent.
   * P = 1/3, 0, 2/3; R = 1/2, 0, 2/3; F1 = 0.4, 0, 2/3; macro over classes 0-2 = 16/45. */
  const int32_t truth[] = {0, 0, 1, 2, 2, 2}, pred[] = {0, 2, 0, 2, 2, 0};
  cls_report r;
  cls_report_compute(&r, truth, pred, 6, 4);
  EXPECT(r.correct == 3, "%lld", (long long)r.correct);
  EXPECT_NEAR(r.accuracy, 0.5, 1e-12);
  EXPECT_NEAR(r.precision[0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(r.recall[0], 0.5, 1e-12);
  EXPECT_NEAR(r.f1[0], 0.4, 1e-12);
  EXPECT_NEAR(r.precision[1], 0, 1e-12);
  EXPECT_NEAR(r.recall[1], 0, 1e-12);
  EXPECT_NEAR(r.f1[1], 0, 1e-12);
  EXPECT_NEAR(r.precision[2], 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.recall[2], 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.f1[2], 2.0 / 3, 1e-12);
  EXPECT_NEAR(r.macro_f1, 16.0 / 45, 1e-12);
  EXPECT(r.support[0] == 2 && r.support[1] == 1 && r.support[2] == 3 && r.support[3] == 0, "support");
  EXPECT(r.predicted[0] == 3 && r.predicted[1] == 0 && r.predicted[2] == 3, "predicted");
  EXPECT(r.confusion[0 * 4 + 2] == 1 && r.confusion[2 * 4 + 0] == 1 && r.confusion[2 * 4 + 2] == 2,
         "confusion cells");
  cls_report_free(&r);
  /* all right: every metric 1 */
  const int32_t same[] = {1, 0, 1};
  cls_report_compute(&r, same, same, 3, 2);
  EXPECT(r.accuracy == 1 && r.macro_f1 == 1 && r.f1[0] == 1 && r.f1[1] == 1, "perfect");
  cls_report_free(&r);
}

static char g_dir[] = "/tmp/ordo_classify_XXXXXX";

static const char *put(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  fwrite(text, 1, strlen(text), f);
  fclose(f);
  return path;
}

static void check_readers(void) {
  ordo_err e;
  cls_set s;
  /* label before text, quoted fields with commas, quotes and a newline, an extra column, a blank
   * line, a BOM and CRLF line ends */
  const char *p = put("a.csv", "\xEF\xBB\xBFlabel,id,text\r\nspam,1,\"buy, now\"\r\n\r\n"
                               "ham,2,\"say \"\"hi\"\"\nplease\"\r\nham,3,plain\r\n");
  EXPECT(cls_set_read(&s, p, 1, &e) == 0, "%s", e.msg);
  if (s.n == 3) {
    EXPECT(strcmp(s.text[0], "buy, now") == 0 && strcmp(s.label[0], "spam") == 0, "%s|%s", s.text[0], s.label[0]);
    EXPECT(strcmp(s.text[1], "say \"hi\"\nplease") == 0 && s.len[1] == 15, "[%s]", s.text[1]);
    EXPECT(strcmp(s.text[2], "plain") == 0 && s.line[2] == 6, "line %lld", (long long)s.line[2]);
    char **names = NULL;
    int n = 0;
    EXPECT(cls_labels_collect(&s, p, &names, &n, &e) == 0 && n == 2, "%s", e.msg);
    if (n == 2) {
      EXPECT(strcmp(names[0], "ham") == 0 && strcmp(names[1], "spam") == 0, "sorted");
      int32_t ids[3];
      EXPECT(cls_labels_index(&s, p, names, n, ids, &e) == 0 && ids[0] == 1 && ids[1] == 0 && ids[2] == 0,
             "indices");
      /* a set with a label the names lack: the file, the line and the label */
      cls_set u;
      const char *q = put("u.csv", "text,label\na,ham\nb,eggs\n");
      EXPECT(cls_set_read(&u, q, 1, &e) == 0, "%s", e.msg);
      EXPECT(cls_labels_index(&u, q, names, n, ids, &e) == -1 && strstr(e.msg, "u.csv: line 3 has the label 'eggs'"),
             "%s", e.msg);
      cls_set_free(&u);
    }
    cls_labels_free(names, n);
  } else {
    EXPECT(0, "rows: %lld", (long long)s.n);
  }
  cls_set_free(&s);

  /* JSON-lines: integer labels, blank lines, labels optional for predict */
  p = put("b.jsonl", "{\"text\": \"one\", \"label\": 3}\n\n{\"label\": \"x\", \"text\": \"two\"}\n");
  EXPECT(cls_set_read(&s, p, 1, &e) == 0 && s.n == 2, "%s", e.msg);
  if (s.n == 2) EXPECT(strcmp(s.label[0], "3") == 0 && s.line[1] == 3, "label %s line %lld", s.label[0], (long long)s.line[1]);
  cls_set_free(&s);
  p = put("c.jsonl", "{\"text\": \"one\"}\n");
  EXPECT(cls_set_read(&s, p, 0, &e) == 0 && s.n == 1 && s.label[0] == NULL, "%s", e.msg);
  cls_set_free(&s);
  EXPECT(cls_set_read(&s, p, 1, &e) == -1 && strstr(e.msg, "c.jsonl: line 1 has no label"), "%s", e.msg);

  /* errors: file and line named */
  struct { const char *name, *text, *want; } bad[] = {
      {"e1.csv", "", "e1.csv holds no rows"},
      {"e2.csv", "text,label\n", "e2.csv holds no rows"},
      {"e3.csv", "words,label\na,b\n", "e3.csv: the header (line 1) must name"},
      {"e4.csv", "text,label\na,b\n\"open,c\n", "e4.csv: line 3: a quoted field is not closed"},
      {"e5.csv", "text,label\na,\n", "e5.csv: line 2 has an empty label"},
      {"e6.csv", "text,label\na,\xff\xfe\n", "e6.csv: line 2 has a label that is not valid UTF-8"},
      {"e7.jsonl", "{\"text\": \"a\", \"label\": \"b\"}\n{\"text\": 5}\n", "e7.jsonl: line 2: expected"},
      {"e8.jsonl", "{\"text\": \"a\", \"label\": 1.5}\n", "e8.jsonl: line 1: \"label\" must be"},
      {"e9.jsonl", "{\"text\": \"a\", \"label\": \"b\"\n", "e9.jsonl: line 1: expected"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    p = put(bad[i].name, bad[i].text);
    EXPECT(cls_set_read(&s, p, 1, &e) == -1 && strstr(e.msg, bad[i].want), "%s: %s", bad[i].name, e.msg);
  }
  EXPECT(cls_set_read(&s, "/nonexistent/x.csv", 1, &e) == -1 && strstr(e.msg, "/nonexistent/x.csv"), "%s", e.msg);
  /* one class cannot be learned */
  p = put("one.csv", "text,label\na,same\nb,same\n");
  EXPECT(cls_set_read(&s, p, 1, &e) == 0, "%s", e.msg);
  char **names = NULL;
  int n = 0;
  EXPECT(cls_labels_collect(&s, p, &names, &n, &e) == -1 && strstr(e.msg, "one.csv: every row has the label 'same'"),
         "%s", e.msg);
  cls_set_free(&s);
}

int main(void) {
  check_report();
  if (!mkdtemp(g_dir)) return fprintf(stderr, "mkdtemp failed\n"), 1;
  check_readers();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return test_summary();
}
