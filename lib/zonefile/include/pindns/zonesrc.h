/* Which zone files the configuration names, and building the served set from them. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "pindns/zoneset.h"

/** A zone named explicitly in the configuration. */
typedef struct pd_zone_conf {
	char *origin;
	char *file;
} pd_zone_conf_t;

/** Where the served zones come from: explicit zones, then every *.zone of a folder. */
typedef struct pd_zone_sources {
	const pd_zone_conf_t *zones;
	size_t nzones;
	const char *zones_dir; /* NULL: none */
	/* Warn when a zone's signatures expire within this many seconds; 0: do not look. */
	uint32_t sig_warn_secs;
} pd_zone_sources_t;

/**
 * Loads every zone the configuration names: its "zone" entries, then each *.zone in
 * zones-dir (origin = file name without ".zone", in name order). Warnings (signatures
 * about to expire ...) are logged with file:line and the zone served. A zone that fails is
 * logged with file:line and left out, or, when old is given, kept at old's version, so
 * a bad edit never takes down a zone that is serving. Returns 0 and sets *out (it may
 * hold no zone) and *failed, or a negative errno when nothing could be built at all.
 */
int pd_zones_build(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, pd_zoneset_t **out,
                   int *failed);

/**
 * Like pd_zones_build(), but only the zone named only (presentation form) is read
 * again, whatever its files look like; every other zone of old is kept as it is.
 * *found tells whether the configuration names that zone at all.
 */
int pd_zones_build_one(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, const char *only,
                       pd_zoneset_t **out, int *failed, int *found);
