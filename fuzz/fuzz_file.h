/* For fuzz targets whose parser reads a path: one scratch folder per process (in /dev/shm when
 * there is one) and a whole-file write. */
#ifndef ORDO_FUZZ_FILE_H
#define ORDO_FUZZ_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Creates the scratch folder into dir (capacity cap) or exits. */
static inline void fuzz_scratch_dir(char *dir, size_t cap) {
  const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(dir, cap, "%s/ordo-fuzz-XXXXXX", base);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(2);
  }
}

static inline void fuzz_put_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(path);
    exit(2);
  }
}

#endif
