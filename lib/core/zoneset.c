/* A set of zones and the search for the most specific one covering a name. */
#include "pindns/zoneset.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"

static const pd_zone_t *pd__zoneset_exact(const pd_zoneset_t *zs, const uint8_t *lname, size_t len,
                                          uint32_t hash)
{
	pd__probe_t p;
	pd__probe_start(&p, zs->table, zs->table_mask, hash);
	for (uint32_t i; (i = pd__probe_next(&p)) != PD__PROBE_END;) {
		const pd_zone_t *z = zs->zones[i];
		if (z->origin_len == len && memcmp(z->origin, lname, len) == 0)
			return z;
	}
	return NULL;
}

/* Only the thread that builds zone sets counts, so no atomics are needed. */
static uint64_t pd__generations;

/* The table size for count zones: kept under half full. */
static uint32_t pd__table_cap(size_t count)
{
	uint32_t cap = 8;
	while (cap < count * 2)
		cap *= 2;
	return cap;
}

int pd_zoneset_new(pd_zoneset_t **out, pd_zone_t *const *zones, size_t count)
{
	pd_zoneset_t *zs = calloc(1, sizeof(*zs));
	uint32_t cap = pd__table_cap(count);
	int ret = -ENOMEM;

	*out = NULL;
	if (!zs)
		return -ENOMEM;
	zs->zones = malloc((count ? count : 1) * sizeof(*zs->zones));
	zs->table = calloc(cap, sizeof(*zs->table));
	if (!zs->zones || !zs->table)
		goto fail;
	zs->table_mask = cap - 1;
	zs->generation = ++pd__generations;
	for (size_t i = 0; i < count; i++) {
		uint32_t h = pd_name_hash(zones[i]->origin, zones[i]->origin_len);
		if (pd__zoneset_exact(zs, zones[i]->origin, zones[i]->origin_len, h)) {
			ret = -EEXIST;
			goto fail;
		}
		zs->zones[i] = zones[i];
		zs->count = i + 1;
		if (zones[i]->origin_labels > zs->max_labels)
			zs->max_labels = zones[i]->origin_labels;
		pd__hashtab_put(zs->table, zs->table_mask, pd__hashtab_entry(h, (uint32_t)i));
	}
	*out = zs;
	return 0;
fail:
	/* The zones are still the caller's. */
	free(zs->zones);
	free(zs->table);
	free(zs);
	return ret;
}

/* The index in zs->zones of the zone with this origin (len bytes, hash h), or -1. */
static ptrdiff_t pd__zoneset_index(const pd_zoneset_t *zs, const uint8_t *origin, size_t len,
                                   uint32_t h)
{
	const pd_zone_t *z = pd__zoneset_exact(zs, origin, len, h);
	if (!z)
		return -1;
	for (uint32_t j = h & zs->table_mask;; j = (j + 1) & zs->table_mask)
		if (zs->zones[(uint32_t)zs->table[j] - 1] == z)
			return (uint32_t)zs->table[j] - 1;
}

/*
 * Puts z into zs, made from from (room made by the caller): over the zone with its
 * origin, or added after from's zones.
 */
static int pd__zoneset_put(pd_zoneset_t *zs, const pd_zoneset_t *from, pd_zone_t *z)
{
	uint32_t h = pd_name_hash(z->origin, z->origin_len);
	ptrdiff_t i = pd__zoneset_index(zs, z->origin, z->origin_len, h);
	if (i >= (ptrdiff_t)from->count || (i >= 0 && zs->zones[i] != from->zones[i]))
		return -EEXIST; /* one of the zones put in this time has that origin */
	if (i >= 0) {
		zs->retired[zs->retired_count++] = zs->zones[i];
		zs->zones[i] = z;
		return 0;
	}
	zs->zones[zs->count] = z;
	pd__hashtab_put(zs->table, zs->table_mask, pd__hashtab_entry(h, (uint32_t)zs->count));
	zs->count++;
	if (z->origin_labels > zs->max_labels)
		zs->max_labels = z->origin_labels;
	return 0;
}

int pd_zoneset_replace(const pd_zoneset_t *from, pd_zone_t *const *zones, size_t count,
                       pd_zoneset_t **out)
{
	pd_zoneset_t *zs = calloc(1, sizeof(*zs));
	uint32_t cap = pd__table_cap(from->count + count);
	int ret = -ENOMEM;

	*out = NULL;
	if (!zs)
		return -ENOMEM;
	/* The zones added go at the end, so the index of from's zones stays as it is. */
	if (cap <= from->table_mask + 1)
		cap = from->table_mask + 1;
	zs->zones = malloc((from->count + count + 1) * sizeof(*zs->zones));
	zs->table = calloc(cap, sizeof(*zs->table));
	zs->retired = malloc((count ? count : 1) * sizeof(*zs->retired));
	if (!zs->zones || !zs->table || !zs->retired)
		goto fail;
	memcpy(zs->zones, from->zones, from->count * sizeof(*zs->zones));
	zs->count = from->count;
	zs->table_mask = cap - 1;
	zs->max_labels = from->max_labels;
	if (cap == from->table_mask + 1)
		memcpy(zs->table, from->table, cap * sizeof(*zs->table));
	else
		for (uint32_t j = 0; j <= from->table_mask; j++)
			if (from->table[j])
				pd__hashtab_put(zs->table, zs->table_mask, from->table[j]);
	for (size_t i = 0; i < count; i++) {
		ret = pd__zoneset_put(zs, from, zones[i]);
		if (ret < 0)
			goto fail;
	}
	zs->generation = ++pd__generations;
	zs->from_generation = from->generation;
	*out = zs;
	return 0;
fail:
	free(zs->zones);
	free(zs->table);
	free(zs->retired);
	free(zs);
	return ret;
}

void pd_zoneset_free(pd_zoneset_t *zs)
{
	if (!zs)
		return;
	for (size_t i = 0; i < zs->count; i++)
		pd_zone_free(zs->zones[i]);
	free(zs->zones);
	free(zs->table);
	free(zs->retired);
	free(zs);
}

const pd_zone_t *pd_zoneset_find_labels(const pd_zoneset_t *zs, const uint8_t *lname, size_t len,
                                        uint32_t hash, const uint8_t *label_off, unsigned labels)
{
	/* labels counts the root; the first suffix that could be an origin comes first. */
	unsigned first = labels - 1 > zs->max_labels ? labels - 1 - zs->max_labels : 0;
	for (unsigned i = first; i < labels; i++) {
		const uint8_t *p = lname + label_off[i];
		size_t plen = len - label_off[i];
		const pd_zone_t *z =
		    pd__zoneset_exact(zs, p, plen, i == 0 ? hash : pd_name_hash(p, plen));
		if (z)
			return z;
	}
	return NULL;
}

const pd_zone_t *pd_zoneset_find(const pd_zoneset_t *zs, const uint8_t *lname)
{
	size_t len = pd_name_len(lname);
	for (const uint8_t *p = lname;; p = pd_name_parent(p)) {
		size_t plen = len - (size_t)(p - lname);
		const pd_zone_t *z = pd__zoneset_exact(zs, p, plen, pd_name_hash(p, plen));
		if (z)
			return z;
		if (!*p)
			return NULL;
	}
}

const pd_zone_t *pd_zoneset_get(const pd_zoneset_t *zs, const uint8_t *origin)
{
	if (!zs)
		return NULL;
	size_t len = pd_name_len(origin);
	return pd__zoneset_exact(zs, origin, len, pd_name_hash(origin, len));
}

void pd_zoneset_release(pd_zoneset_t *old, const pd_zoneset_t *keep)
{
	if (!old)
		return;
	if (keep && keep->from_generation == old->generation) {
		for (size_t i = 0; i < keep->retired_count; i++)
			pd_zone_free(keep->retired[i]);
	} else {
		for (size_t i = 0; i < old->count; i++)
			if (pd_zoneset_get(keep, old->zones[i]->origin) != old->zones[i])
				pd_zone_free(old->zones[i]);
	}
	free(old->zones);
	free(old->table);
	free(old->retired);
	free(old);
}

/* Whether z's origin is one of the n given. */
static bool pd__origin_listed(const pd_zone_t *z, const uint8_t *const *origins, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pd_name_len(origins[i]) == z->origin_len &&
		    memcmp(origins[i], z->origin, z->origin_len) == 0)
			return true;
	return false;
}

int pd_zoneset_remove(const pd_zoneset_t *from, const uint8_t *const *origins, size_t n,
                      pd_zoneset_t **out)
{
	pd_zone_t **keep = malloc((from->count + 1) * sizeof(*keep));
	pd_zone_t **gone = malloc((n + 1) * sizeof(*gone));
	size_t nkeep = 0, ngone = 0;
	int ret = -ENOMEM;

	*out = NULL;
	if (!keep || !gone)
		goto fail;
	/* A few origins at a time (a catalog's members going): one pass over the zones. */
	for (size_t i = 0; i < from->count; i++) {
		if (ngone < n && pd__origin_listed(from->zones[i], origins, n))
			gone[ngone++] = from->zones[i];
		else
			keep[nkeep++] = from->zones[i];
	}
	ret = pd_zoneset_new(out, keep, nkeep);
	if (ret < 0)
		goto fail;
	(*out)->from_generation = from->generation;
	(*out)->retired = gone;
	(*out)->retired_count = ngone;
	free(keep);
	return 0;
fail:
	free(keep);
	free(gone);
	return ret;
}
