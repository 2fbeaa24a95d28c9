/* Writing a compiled zone back out as a zone file: a secondary's copy kept on disk. */
#pragma once

#include <stddef.h>

#include "pindns/zone.h"

/**
 * Writes every record of z (the apex SOA first) to path as an RFC 1035 zone file that
 * pd_zone_load() reads back to the same records: $ORIGIN, then one record a line in
 * absolute names, formatted by ldns (RFC 3597 generic syntax for what ldns would not
 * read back as it wrote it). Atomic: written to path.tmp, synced, renamed over path,
 * and the folder synced, so a crash leaves the old file or the new one, never half of
 * one. Returns 0, or a negative errno with "path: what failed" in err.
 */
int pd_zone_write(const pd_zone_t *z, const char *path, char *err, size_t cap);
