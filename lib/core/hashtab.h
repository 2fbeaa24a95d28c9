/*
 * The open-addressing hash tables of the zones and the zone set: 64-bit entries of
 * (hash << 32) | (index + 1), 0 for an empty slot, linear probing, a power-of-two size
 * kept under half full so a probe always meets an empty slot. The hash beside the
 * index lets a probe pass other names without touching the array they index.
 */
#pragma once

#include <stdint.h>

#define PD__PROBE_END UINT32_MAX /* pd__probe_next(): no more candidates */

/* A probe for one hash: the slots it visits, from the hash's own slot on. */
typedef struct pd__probe {
	const uint64_t *table;
	uint32_t mask; /* table size - 1 */
	uint32_t hash;
	uint32_t pos; /* the next slot to read */
} pd__probe_t;

/* The entry of the element at index with this hash. */
static inline uint64_t pd__hashtab_entry(uint32_t hash, uint32_t index)
{
	return (uint64_t)hash << 32 | (index + 1);
}

/* Stores an entry in the first empty slot of its probe; the table must have one. */
static inline void pd__hashtab_put(uint64_t *table, uint32_t mask, uint64_t entry)
{
	uint32_t j = (uint32_t)(entry >> 32) & mask;
	while (table[j])
		j = (j + 1) & mask;
	table[j] = entry;
}

/* Starts a probe for hash; &table[p->pos] is then the first slot it reads. */
static inline void pd__probe_start(pd__probe_t *p, const uint64_t *table, uint32_t mask,
                                   uint32_t hash)
{
	p->table = table;
	p->mask = mask;
	p->hash = hash;
	p->pos = hash & mask;
}

/*
 * The index of the next element whose hash is the probe's, or PD__PROBE_END at the
 * empty slot that ends the probe. The caller compares the element's key itself.
 */
static inline uint32_t pd__probe_next(pd__probe_t *p)
{
	for (;;) {
		uint64_t e = p->table[p->pos];
		if (!e)
			return PD__PROBE_END;
		p->pos = (p->pos + 1) & p->mask;
		if ((uint32_t)(e >> 32) == p->hash)
			return (uint32_t)e - 1;
	}
}
