/* Loading zone files (RFC 1035 master format, via ldns) into compiled zones. */
#pragma once

#include <stddef.h>

#include "pindns/zone.h"

/**
 * Parses the zone file at path for the given origin (wire form) and compiles it.
 * $ORIGIN, $TTL and $INCLUDE (relative to the including file's folder) are honoured;
 * records of unknown types in RFC 3597 generic syntax pass through. Returns 0 and
 * sets *out, or a negative errno with "file:line: what is wrong" in err.
 */
int pd_zone_load(const char *path, const uint8_t *origin, pd_zone_t **out, char *err,
                 size_t err_cap);
