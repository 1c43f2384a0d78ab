/*
 * schema.h — every configuration key `warp` knows, for config_load() and for
 * `warp config example`, which writes the documented etc/warp.ini.
 */
#ifndef WARP_CMD_SCHEMA_H
#define WARP_CMD_SCHEMA_H

#include <stddef.h>

#include "core/core.h"

extern const struct config_key warp_schema[];
extern const size_t warp_schema_len;

#endif
