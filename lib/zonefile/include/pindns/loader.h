/* Loading zone files (RFC 1035 master format, via ldns) into compiled zones. */
#pragma once

#include <stdbool.h>
#include <stdbool.h>
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

#define PD_ZONE_FILES_MAX 128

/** The files a zone was read from, with what identifies their content. */
typedef struct pd_zone_files {
	int count;
	struct {
		char *path;
		unsigned long long dev, ino, size;
		long long mtime_ns;
	} file[PD_ZONE_FILES_MAX];
} pd_zone_files_t;

/**
 * Like pd_zone_load(), and also fills files (the main file first, then every $INCLUDE)
 * for pd_zone_files_unchanged(). Free it with pd_zone_files_clear().
 */
int pd_zone_load_files(const char *path, const uint8_t *origin, pd_zone_t **out, char *err,
                       size_t err_cap, pd_zone_files_t *files);

/** True when every file still has the same identity, size and modification time. */
bool pd_zone_files_unchanged(const pd_zone_files_t *files);

/** Frees the paths in files. */
void pd_zone_files_clear(pd_zone_files_t *files);
