/* Loading zone files (RFC 1035 master format, via ldns) into compiled zones. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/zone.h"

/**
 * Parses the zone file at path for the given origin (wire form) and compiles it.
 * $ORIGIN, $TTL and $INCLUDE (relative to the including file's folder) are honoured;
 * records of unknown types in RFC 3597 generic syntax pass through. Returns 0 and
 * sets *out, or a negative errno with "file:line: what is wrong" in err.
 */
int pd_zone_load(const char *path, const uint8_t *origin, pd_zone_t **out, char *err,
                 size_t err_cap);

/** One file a zone was read from, with what identifies its content. */
typedef struct pd_zone_file {
	const char *path;
	unsigned long long dev, ino, size;
	long long mtime_ns;
} pd_zone_file_t;

/**
 * The files a zone was read from, the main file first, then each $INCLUDE: one block
 * (the paths follow the array), freed with free().
 */
typedef struct pd_zone_files {
	unsigned count;
	bool stale; /* the caller's: a newer version failed to load, so read the files again */
	pd_zone_file_t file[];
} pd_zone_files_t;

#define PD_ZONE_SIG_WARN_DEFAULT (7 * 86400) /* warn a week before signatures expire */

/** What pd_zone_load_ex() does beyond pd_zone_load(); all zero: nothing more. */
typedef struct pd_zone_load_opts {
	/* Set to the files the zone was read from when it loads, for
	 * pd_zone_files_unchanged() (free() it); NULL: not wanted. */
	pd_zone_files_t **files;
	/* Warn about every RRSIG that has expired or expires within sig_warn_secs of now
	 * (seconds since the epoch; 0: time(NULL)). sig_warn_secs 0: not looked at. */
	uint32_t sig_warn_secs;
	int64_t now;
	/* Called with each warning as "file:line: warning: what", and, past the
	 * PD_ZONE_WARN_MAX the builder keeps, "file: ... and N more warnings". */
	void (*warn)(void *arg, const char *text);
	void *warn_arg;
	unsigned warnings; /* set: how many warnings the zone gave, all of them */
} pd_zone_load_opts_t;

/**
 * Like pd_zone_load(), with opts (may be NULL). Warnings never fail a load: a zone whose
 * signatures expired loads and serves, so it can be re-signed meanwhile. They are passed
 * to opts->warn before the function returns, whether the zone loads or not.
 */
int pd_zone_load_ex(const char *path, const uint8_t *origin, pd_zone_t **out, char *err,
                    size_t err_cap, pd_zone_load_opts_t *opts);

/** "NSEC" or "NSEC3" for a signed zone (z->dnssec), NULL for an unsigned one. */
const char *pd_zone_dnssec_str(const pd_zone_t *z);

/**
 * Writes z's earliest signature expiration as "YYYY-MM-DD hh:mm:ss UTC", read in serial
 * arithmetic around now (RFC 4034 3.1.5), and sets *at to it in seconds since the epoch.
 * Returns false, and writes nothing, when z has no signature.
 */
bool pd_zone_sig_expiry(const pd_zone_t *z, int64_t now, int64_t *at, char *buf, size_t cap);

/** True when every file still has the same identity, size and modification time. */
bool pd_zone_files_unchanged(const pd_zone_files_t *files);
