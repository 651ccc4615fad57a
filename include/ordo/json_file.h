/* A JSON file read whole and parsed (cJSON), for the readers of ordo's own JSON files. */
#ifndef ORDO_JSON_FILE_H
#define ORDO_JSON_FILE_H

#include <cjson/cJSON.h>

#include "ordo/core.h"

/* The parsed file (cJSON_Delete it), or NULL with an error naming path: unreadable, or
 * "not valid JSON". */
cJSON *ordo_json_read(const char *path, ordo_err *e);

#endif
