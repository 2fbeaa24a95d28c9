/* A set of zones and the search for the most specific one covering a name. */
#include "pindns/zoneset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

static const pd_zone_t *pd__zoneset_exact(const pd_zoneset_t *zs, const uint8_t *lname, size_t len)
{
	uint32_t h = pd_name_hash(lname, len);
	for (uint32_t j = h & zs->table_mask;; j = (j + 1) & zs->table_mask) {
		uint32_t e = zs->table[j];
		if (!e)
			return NULL;
		const pd_zone_t *z = zs->zones[e - 1];
		if (z->origin_len == len && memcmp(z->origin, lname, len) == 0)
			return z;
	}
}

int pd_zoneset_new(pd_zoneset_t **out, pd_zone_t *const *zones, size_t count)
{
	/* Only the thread that builds zone sets counts, so no atomics are needed. */
	static uint64_t generations;
	pd_zoneset_t *zs = calloc(1, sizeof(*zs));
	uint32_t cap = 8;

	*out = NULL;
	if (!zs)
		return -ENOMEM;
	while (cap < count * 2)
		cap *= 2;
	zs->zones = malloc((count ? count : 1) * sizeof(*zs->zones));
	zs->table = calloc(cap, sizeof(*zs->table));
	if (!zs->zones || !zs->table) {
		free(zs->zones);
		free(zs->table);
		free(zs);
		return -ENOMEM;
	}
	zs->table_mask = cap - 1;
	zs->generation = ++generations;
	for (size_t i = 0; i < count; i++) {
		if (pd__zoneset_exact(zs, zones[i]->origin, zones[i]->origin_len)) {
			free(zs->zones);
			free(zs->table);
			free(zs);
			return -EEXIST;
		}
		zs->zones[i] = zones[i];
		zs->count = i + 1;
		uint32_t j = pd_name_hash(zones[i]->origin, zones[i]->origin_len) & zs->table_mask;
		while (zs->table[j])
			j = (j + 1) & zs->table_mask;
		zs->table[j] = (uint32_t)i + 1;
	}
	*out = zs;
	return 0;
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

const pd_zone_t *pd_zoneset_find(const pd_zoneset_t *zs, const uint8_t *lname)
{
	size_t len = pd_name_len(lname);
	for (const uint8_t *p = lname;; p = pd_name_parent(p)) {
		const pd_zone_t *z = pd__zoneset_exact(zs, p, len - (size_t)(p - lname));
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
