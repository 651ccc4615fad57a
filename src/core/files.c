/* Path lists and the recursive file lister. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ordo/files.h"

void ordo_paths_add(ordo_paths *l, const char *s) {
  if (l->n == l->cap)
    l->p = ordo_realloc(l->p, (size_t)(l->cap = l->cap ? l->cap * 2 : 64) * sizeof *l->p);
  l->p[l->n++] = ordo_strdup(s);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void ordo_paths_sort(ordo_paths *l) {
  if (l->n) qsort(l->p, (size_t)l->n, sizeof *l->p, cmp_str);
}

void ordo_paths_free(ordo_paths *l) {
  for (int32_t i = 0; i < l->n; i++) free(l->p[i]);
  free(l->p);
  memset(l, 0, sizeof *l);
}

int ordo_dir_first_entry(const char *dir, char *name, size_t cap) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  struct dirent *de;
  int found = 0;
  while (!found && (de = readdir(d)))
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
      found = 1;
      if (name && cap) snprintf(name, cap, "%s", de->d_name);
    }
  closedir(d);
  return found;
}

int ordo_out_dir_check(const char *dir, int force, ordo_err *e) {
  struct stat sb;
  if (stat(dir, &sb) != 0) return 0;
  if (!S_ISDIR(sb.st_mode)) return ordo_fail(e, "%s: exists and is not a folder", dir);
  if (force) return 0;
  char first[256];
  int r = ordo_dir_first_entry(dir, first, sizeof first);
  if (r < 0) return ordo_fail(e, "%s: cannot open folder: %s", dir, strerror(errno));
  if (r == 0) return 0;
  return ordo_fail(e, "%s: already holds files (%s, ...): use --force to replace them, or "
                   "choose another folder", dir, first);
}

int ordo_dir_ensure(const char *dir, ordo_err *e) {
  struct stat sb;
  if (stat(dir, &sb) == 0) return S_ISDIR(sb.st_mode) ? 0 : ordo_fail(e, "%s: exists and is not a folder", dir);
  if (mkdir(dir, 0755) != 0 && !(errno == EEXIST && ordo_is_dir(dir)))
    return ordo_fail(e, "%s: cannot create the folder: %s", dir, strerror(errno));
  return 0;
}

int ordo_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ordo_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

static int list_rec(const char *dir, const char *const *suf, int ns, int recursive, int depth,
                    ordo_paths *out, ordo_err *e) {
  DIR *d = opendir(dir);
  if (!d) return ordo_fail(e, "%s: cannot open folder", dir);
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue; /* hidden files, . and .., .ipynb_checkpoints */
    size_t need = strlen(dir) + strlen(de->d_name) + 2;
    char *p = ordo_malloc(need);
    snprintf(p, need, "%s/%s", dir, de->d_name);
    if (ordo_is_dir(p)) {
      if (recursive && depth < 64) rc = list_rec(p, suf, ns, recursive, depth + 1, out, e);
    } else if (ordo_is_file(p)) {
      int keep = ns == 0;
      for (int i = 0; i < ns && !keep; i++) keep = ends_with(de->d_name, suf[i]);
      if (keep) ordo_paths_add(out, p);
    }
    free(p);
    if (rc) break;
  }
  closedir(d);
  return rc;
}

int ordo_list_files(const char *dir, const char *const *suffixes, int n_suffixes, int recursive,
                    ordo_paths *out, ordo_err *e) {
  int rc = list_rec(dir, suffixes, n_suffixes, recursive, 0, out, e);
  ordo_paths_sort(out);
  return rc;
}
