/* A JSON file read whole and parsed. */
#include <stdlib.h>

#include "ordo/json_file.h"

cJSON *ordo_json_read(const char *path, ordo_err *e) {
  size_t len;
  char *txt = ordo_read_file(path, &len, e);
  if (!txt) return NULL;
  cJSON *root = cJSON_ParseWithLength(txt, len);
  free(txt);
  if (!root) ordo_fail(e, "%s: not valid JSON", path);
  return root;
}
