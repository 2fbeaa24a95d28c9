/* The set of zones a server answers for, found by the most specific origin. */
#pragma once

#include <stddef.h>

#include "pindns/zone.h"

/** An immutable set of compiled zones, owned by the set. */
typedef struct pd_zoneset {
	uint64_t generation; /* unique per set, never 0: tells cached answers apart */
	size_t count;
	pd_zone_t **zones;
	uint64_t *table; /* open addressing: (origin hash << 32) | (zone index + 1); 0 is empty */
	uint32_t table_mask;
	uint8_t max_labels; /* the most labels of any origin: a longer suffix is no zone's */
	/* Made by pd_zoneset_replace(): the set it was made from, and that set's zones it does
	 * not hold, so releasing that set frees these without looking at every zone. */
	uint64_t from_generation; /* 0: made by pd_zoneset_new() */
	pd_zone_t **retired;
	size_t retired_count;
} pd_zoneset_t;

/**
 * Builds a set that takes ownership of count zones (the array itself is copied).
 * Two zones with the same origin are an error (-EEXIST); the zones are then not freed.
 * Returns 0 and sets *out, or a negative errno.
 */
int pd_zoneset_new(pd_zoneset_t **out, pd_zone_t *const *zones, size_t count);

/**
 * A new set holding from's zones with each of the count zones put in: in place of from's
 * zone with its origin, or added. The new zones become the set's; from keeps its own, and
 * pd_zoneset_release(from, new set) frees the ones replaced, in proportion to them. Work
 * and memory are a copy of from's index, not of its zones. Two of zones with one origin:
 * -EEXIST. Returns 0 and sets *out, or a negative errno (the zones are still the caller's).
 */
int pd_zoneset_replace(const pd_zoneset_t *from, pd_zone_t *const *zones, size_t count,
                       pd_zoneset_t **out);

/**
 * A new set holding from's zones but those with the n origins given (lower-cased wire
 * form; origins from does not hold are ignored), as pd_zoneset_replace() makes one:
 * pd_zoneset_release(from, new set) frees the zones left out. Returns 0 and sets *out, or
 * -ENOMEM.
 */
int pd_zoneset_remove(const pd_zoneset_t *from, const uint8_t *const *origins, size_t n,
                      pd_zoneset_t **out);

/** Frees the set and every zone in it. */
void pd_zoneset_free(pd_zoneset_t *zs);

/**
 * The zone with the longest origin at or above lname (lower-cased wire form), or NULL
 * when no zone covers the name.
 */
const pd_zone_t *pd_zoneset_find(const pd_zoneset_t *zs, const uint8_t *lname);

/**
 * pd_zoneset_find() for a parsed query's name: len bytes, its pd_name_hash(), and
 * where its labels start (labels of them, the root last). The suffixes with more
 * labels than any origin are skipped without hashing them, and the name's own hash
 * is not made again.
 */
const pd_zone_t *pd_zoneset_find_labels(const pd_zoneset_t *zs, const uint8_t *lname, size_t len,
                                        uint32_t hash, const uint8_t *label_off, unsigned labels);

/** The zone whose origin is exactly origin (lower-cased wire form), or NULL; zs may be NULL. */
const pd_zone_t *pd_zoneset_get(const pd_zoneset_t *zs, const uint8_t *origin);

/**
 * Frees old after a newer set has replaced it: every zone of old that keep does not
 * also hold is freed, then the set itself. keep may be NULL. When keep was made from old
 * by pd_zoneset_replace(), only the zones it replaced are looked at.
 */
void pd_zoneset_release(pd_zoneset_t *old, const pd_zoneset_t *keep);
