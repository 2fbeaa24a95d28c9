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

/**
 * A zone kept as a secondary: its data comes by zone transfer, and a copy of it is kept
 * in the state folder, never from the zone files.
 */
typedef struct pd_zone_secondary {
	const char *origin; /* presentation form */
	const void *xfr;    /* set as the zone's xfr (the daemon's transfer rules for it) */
} pd_zone_secondary_t;

/** Where the served zones come from: explicit zones, then every *.zone of a folder. */
typedef struct pd_zone_sources {
	const pd_zone_conf_t *zones;
	size_t nzones;
	const char *zones_dir; /* NULL: none */
	/* Warn when a zone's signatures expire within this many seconds; 0: do not look. */
	uint32_t sig_warn_secs;
	/* Follow the zone files' folders with inotify from the first build on, so a reload
	 * reads only what changed instead of a stat() of every file (for the daemon). */
	bool watch;
	/* Secondaries: at the first build each one's copy in state_dir (pd_zone_state_path())
	 * is served when there is one; later builds keep old's PD_ZONE_FROM_XFR zones as
	 * they are, and a zone file with a secondary's origin is ignored. */
	const pd_zone_secondary_t *secondaries;
	size_t nsecondaries;
	const char *state_dir;
} pd_zone_sources_t;

/** What a build of the zone set did: for its log line and the reload command's reply. */
typedef struct pd_zones_report {
	size_t serving;   /* zones in the new set */
	size_t loaded;    /* compiled from their files: new ones, and changed ones */
	size_t added;     /* of those, the zones the old set did not have */
	size_t unchanged; /* kept as compiled before: their files did not change */
	size_t removed;   /* in the old set, and no longer configured or their file gone */
	size_t failed;    /* not loaded (kept at the old version when there was one) */
	size_t records;   /* in the zones loaded */
	double ms;        /* how long the build took */
} pd_zones_report_t;

/**
 * Where the copy of the secondary zone origin (wire form) is kept: state_dir/NAME.zone,
 * NAME its presentation form, lower-cased, without the final dot, "/" escaped as \047.
 * Returns 0, or -ENAMETOOLONG when it does not fit in cap.
 */
int pd_zone_state_path(char *buf, size_t cap, const char *state_dir, const uint8_t *origin);

/**
 * Reads a secondary's kept copy at path (pd_zone_state_path()) for origin: *out is the
 * zone (from PD_ZONE_FROM_XFR, xfr set, loaded_unix the file's modification time: when
 * the copy was last known current), or, when that time plus the SOA expire is past, its
 * stand-in pd_zone_expired_new(). Returns 0, -ENOENT when there is no copy, or another
 * negative errno with the reason in err.
 */
int pd_zone_state_load(const char *path, const uint8_t *origin, const void *xfr, pd_zone_t **out,
                       char *err, size_t cap);

/**
 * Loads every zone the configuration names: its "zone" entries, then each *.zone in
 * zones-dir (origin = file name without ".zone", in name order). Zones of old whose
 * files did not change are kept as they are (with cfg->watch, when inotify says only
 * zone files were written, only those are read again: work in proportion to them); zones old has
 * that are no longer named are left out (pd_zoneset_release() frees them), but for the
 * secondaries' copies (PD_ZONE_FROM_XFR), which are kept as they are. Warnings (signatures
 * about to expire ...) are logged with file:line and the zone served. A zone that fails is logged
 * with file:line and left out, or, when old has it, kept at old's version, so a bad edit never
 * takes down a zone that is serving. On a terminal, a progress line shows how far it got. Returns 0
 * and sets *out (it may hold no zone) and *rep, or a negative errno when nothing could be built at
 * all.
 */
int pd_zones_build(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, pd_zoneset_t **out,
                   pd_zones_report_t *rep);

/**
 * Like pd_zones_build(), but only the zone named only (presentation form) is read
 * again, whatever its files look like, with work in proportion to that zone: every
 * other zone of old is kept as it is, and zones-dir is not read unless the zone is new
 * there. *found tells whether the configuration or zones-dir names that zone at all;
 * when it does not, *out is NULL. -EINVAL: only is not a domain name.
 */
int pd_zones_build_one(const pd_zone_sources_t *cfg, const pd_zoneset_t *old, const char *only,
                       pd_zoneset_t **out, pd_zones_report_t *rep, int *found);
