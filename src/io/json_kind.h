/* io-internal: what kind of JSON value v is, for error messages ("a string", "null", ...). */
#ifndef ORDO_IO_JSON_KIND_H
#define ORDO_IO_JSON_KIND_H

#include <cjson/cJSON.h>

const char *io_json_kind(const cJSON *v);

#endif
