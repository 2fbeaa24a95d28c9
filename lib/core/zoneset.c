/* A set of zones and the search for the most specific one covering a name. */
#include "pindns/zoneset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

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

int pd_zoneset_new(pd_zoneset_t **out, pd_zone_t *const *zones, size_t count)
{
	/* Only the thread that builds zone sets counts, so no atomics are needed. */
	static uint64_t generations;
	pd_zoneset_t *zs = calloc(1, sizeof(*zs));
	uint32_t cap = 8;
	int ret = -ENOMEM;

	*out = NULL;
	if (!zs)
		return -ENOMEM;
	while (cap < count * 2)
		cap *= 2;
	zs->zones = malloc((count ? count : 1) * sizeof(*zs->zones));
	zs->table = calloc(cap, sizeof(*zs->table));
	if (!zs->zones || !zs->table)
		goto fail;
	zs->table_mask = cap - 1;
	zs->generation = ++generations;
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

void pd_zoneset_free(pd_zoneset_t *zs)
{
	if (!zs)
		return;
	for (size_t i = 0; i < zs->count; i++)
		pd_zone_free(zs->zones[i]);
	free(zs->zones);
	free(zs->table);
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

void pd_zoneset_release(pd_zoneset_t *old, const pd_zoneset_t *keep)
{
	if (!old)
		return;
	for (size_t i = 0; i < old->count; i++) {
		bool shared = false;
		for (size_t j = 0; keep && j < keep->count && !shared; j++)
			shared = keep->zones[j] == old->zones[i];
		if (!shared)
			pd_zone_free(old->zones[i]);
	}
	free(old->zones);
	free(old->table);
	free(old);
}
