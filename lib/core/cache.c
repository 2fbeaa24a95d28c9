/* Per-worker response cache: lock-free because nothing in it is ever shared. */
#include "pindns/cache.h"

#include <stdlib.h>
#include <string.h>

#include "pindns/dns.h"

#include "hugemem.h"

#define PD_CACHE_WAYS 2
#define PD_CACHE_BATCH 32    /* keys computed and prefetched ahead of answering */
#define PD_CACHE_EPOCH 65536 /* lookups between decisions on whether to sample inserts */
#define PD_CACHE_SAMPLE 8    /* below 1 hit in this many lookups, store 1 miss in this many */

typedef struct pd__slot {
	uint64_t hash;
	uint64_t gen;
	uint32_t variant;
	uint16_t qsection;
	/* The response's length, and its header's RCODE and TC for pd_dgram_t: in the
	 * 16 bits of the length, so the data keeps its room and a hit reads one word. */
	uint16_t rlen : 11;
	uint16_t rcode : 4;
	uint16_t truncated : 1;
	uint8_t data[PD_CACHE_SLOT - 24]; /* question, then the response */
} pd__slot_t;

_Static_assert(sizeof(pd__slot_t) == PD_CACHE_SLOT, "slot size");
_Static_assert(sizeof(((pd__slot_t *)0)->data) < 1u << 11, "rlen holds any stored length");

struct pd_cache {
	pd__slot_t *slots;
	uint64_t set_mask;       /* sets of PD_CACHE_WAYS slots */
	pd_cache_stats_t *stats; /* &own, or counters the owner keeps elsewhere */
	pd_cache_stats_t own;
	uint8_t victim; /* which way to evict next: cheap round robin instead of LRU stamps */
	bool sampling;  /* hit ratio too low to keep every miss: keep one in PD_CACHE_SAMPLE */
	uint32_t epoch_lookups, epoch_hits;
};

pd_cache_t *pd_cache_new(size_t bytes)
{
	pd_cache_t *c = calloc(1, sizeof(*c));
	size_t sets = 1;
	if (!c)
		return NULL;
	while (sets * 2 * PD_CACHE_WAYS * PD_CACHE_SLOT <= bytes)
		sets *= 2;
	size_t size = sets * PD_CACHE_WAYS * PD_CACHE_SLOT;
	/* Huge pages where the size allows: a lookup lands anywhere in the table, and with
	 * 4 KiB pages nearly every hit would also miss the TLB. Sets on cache lines. */
	c->slots = pd__huge_alloc(size, 64);
	if (!c->slots) {
		free(c);
		return NULL;
	}
	/* Generation 0 is never a zone set's, so zeroed slots never match. */
	memset(c->slots, 0, size);
	c->set_mask = sets - 1;
	c->stats = &c->own;
	return c;
}

void pd_cache_free(pd_cache_t *c)
{
	if (!c)
		return;
	pd__huge_free(c->slots);
	free(c);
}

/* Field by field: a struct copy would read the counters without atomic loads. */
static void pd__stats_copy(pd_cache_stats_t *to, const pd_cache_stats_t *from)
{
	pd_counter_set(&to->hits, pd_counter_get(&from->hits));
	pd_counter_set(&to->misses, pd_counter_get(&from->misses));
	pd_counter_set(&to->uncacheable, pd_counter_get(&from->uncacheable));
	pd_counter_set(&to->inserts, pd_counter_get(&from->inserts));
}

pd_cache_stats_t pd_cache_stats(const pd_cache_t *c)
{
	pd_cache_stats_t st;
	pd__stats_copy(&st, c->stats);
	return st;
}

void pd_cache_count_into(pd_cache_t *c, pd_cache_stats_t *counters)
{
	pd__stats_copy(counters, c->stats);
	c->stats = counters;
}

bool pd_cache_key(pd_cache_key_t *key, const uint8_t *q, size_t qlen, uint16_t udp_size)
{
	/* Header: not a response, opcode QUERY, QD=1, AN=NS=0, AR 0 or 1. */
	if (qlen < PD_HEADER_LEN + 5 || (q[2] & 0xF8) != 0 || q[4] != 0 || q[5] != 1 ||
	    q[6] | q[7] | q[8] | q[9] | q[10] || q[11] > 1)
		return false;
	pd_wire_t w;
	uint8_t *out = key->question;
	pd_wire_init(&w, q, qlen);
	pd_wire_skip(&w, PD_HEADER_LEN);
	size_t nlen = pd_name_read_lower(&w, out); /* compression is not cached */
	pd_wire_read(&w, out + nlen, 4);           /* type and class */
	if (w.err)
		return false;
	const uint8_t *p = w.pos, *end = q + qlen;
	key->qsection = (uint16_t)(nlen + 4);
	/* Eight bytes a step over the lower-cased question; fmix64 below mixes it well. */
	uint64_t h = 1469598103934665603ull;
	size_t i = 0;
	for (; i + 8 <= key->qsection; i += 8) {
		uint64_t v;
		memcpy(&v, out + i, 8);
		h = (h ^ v) * 1099511628211ull;
	}
	uint64_t tail = 0;
	memcpy(&tail, out + i, key->qsection - i);
	h = (h ^ tail ^ key->qsection) * 1099511628211ull;

	uint32_t variant = PD_UDP_MIN;
	if (q[11] == 1) {
		/* The OPT record: root owner, type 41, version 0, and nothing after it. */
		if (end - p < 11 || p[0] != 0 || pd_get_u16(p + 1) != PD_TYPE_OPT || p[6] != 0 ||
		    (size_t)(end - p) != 11u + pd_get_u16(p + 9))
			return false;
		uint16_t size = pd_get_u16(p + 3);
		uint16_t ours = udp_size < PD_UDP_MIN ? PD_UDP_MIN : udp_size;
		if (size < PD_UDP_MIN)
			size = PD_UDP_MIN;
		variant = (size < ours ? size : ours) | 1u << 30 | (p[7] & 0x80u) << 24;
	} else if (p != end) {
		return false;
	}
	key->variant = variant;
	/* FNV's low bits mix poorly and they pick the set: finish with murmur3's fmix64. */
	h ^= variant;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	key->hash = h;
	return true;
}

static inline pd__slot_t *pd__set(const pd_cache_t *c, const pd_cache_key_t *key)
{
	return &c->slots[(key->hash & c->set_mask) * PD_CACHE_WAYS];
}

static inline bool pd__slot_matches(const pd__slot_t *s, const pd_cache_key_t *key, uint64_t gen)
{
	return s->hash == key->hash && s->gen == gen && s->variant == key->variant &&
	       s->qsection == key->qsection && memcmp(s->data, key->question, key->qsection) == 0;
}

/* A hit: the stored answer, with this query's ID, RD bit and question (its case). */
static void pd__hit(const pd__slot_t *s, const pd_cache_key_t *key, pd_dgram_t *d)
{
	uint8_t *resp = d->out;
	const uint8_t *query = d->in;
	memcpy(resp, s->data + s->qsection, s->rlen);
	resp[0] = query[0];
	resp[1] = query[1];
	resp[2] = (uint8_t)((resp[2] & ~1u) | (query[2] & 1u));
	memcpy(resp + PD_HEADER_LEN, query + PD_HEADER_LEN, key->qsection);
	d->out_len = s->rlen;
	d->rcode = s->rcode;
	d->truncated = s->truncated;
}

/* Stores the answer d just got for a miss in one of the ways of set. */
static void pd__store(pd_cache_t *c, pd__slot_t *set, const pd_cache_key_t *key, uint64_t gen,
                      const pd_dgram_t *d)
{
	/* Prefer a free or stale way; otherwise take turns. */
	int way = c->victim++ % PD_CACHE_WAYS;
	for (int w = 0; w < PD_CACHE_WAYS; w++)
		if (set[w].gen != gen) {
			way = w;
			break;
		}
	pd__slot_t *s = &set[way];
	s->hash = key->hash;
	s->gen = gen;
	s->variant = key->variant;
	s->qsection = key->qsection;
	s->rlen = (uint16_t)d->out_len;
	s->rcode = d->rcode;
	s->truncated = d->truncated;
	memcpy(s->data, key->question, key->qsection);
	memcpy(s->data + key->qsection, d->out, d->out_len);
	pd_counter_add(&c->stats->inserts, 1);
}

/* Answers d with a key already computed (key NULL: not cacheable). */
static void pd__cache_answer_keyed(pd_cache_t *c, const pd_zoneset_t *zs,
                                   const pd_answer_conf_t *conf, const pd_cache_key_t *key,
                                   pd_dgram_t *d)
{
	if (!key) {
		pd_counter_add(&c->stats->uncacheable, 1);
		pd_answer_dgram(zs, conf, d);
		return;
	}
	uint64_t gen = zs->generation;
	pd__slot_t *set = pd__set(c, key);
	if (++c->epoch_lookups == PD_CACHE_EPOCH) {
		c->sampling = c->epoch_hits * PD_CACHE_SAMPLE < c->epoch_lookups;
		c->epoch_lookups = c->epoch_hits = 0;
	}
	for (int w = 0; w < PD_CACHE_WAYS; w++) {
		const pd__slot_t *s = &set[w];
		if (!pd__slot_matches(s, key, gen) || s->rlen > d->out_cap)
			continue;
		pd__hit(s, key, d);
		pd_counter_add(&c->stats->hits, 1);
		c->epoch_hits++;
		return;
	}
	pd_counter_add(&c->stats->misses, 1);
	pd_answer_dgram(zs, conf, d);
	if (d->out_len == 0 || key->qsection + d->out_len > sizeof(set->data))
		return;
	/*
	 * Names asked for at random from a large zone almost never repeat before being
	 * evicted: storing each one is memory traffic for nothing. Keep a sample then, so
	 * that names which do recur still make it in.
	 */
	if (c->sampling && pd_counter_get(&c->stats->misses) % PD_CACHE_SAMPLE != 0)
		return;
	pd__store(c, set, key, gen, d);
}

size_t pd_cache_answer(pd_cache_t *c, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                       const uint8_t *query, size_t qlen, uint8_t *resp, size_t resp_cap)
{
	pd_cache_key_t key;
	pd_dgram_t d = {.in = query, .in_len = qlen, .out = resp, .out_cap = resp_cap};
	bool ok = zs && pd_cache_key(&key, query, qlen, conf->udp_size);
	pd__cache_answer_keyed(c, zs, conf, ok ? &key : NULL, &d);
	return d.out_len;
}

void pd_cache_answer_batch(pd_cache_t *c, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                           pd_dgram_t *batch, int n)
{
	pd_cache_key_t keys[PD_CACHE_BATCH];
	bool ok[PD_CACHE_BATCH], hit[PD_CACHE_BATCH];
	for (int start = 0; start < n; start += PD_CACHE_BATCH) {
		int m = n - start < PD_CACHE_BATCH ? n - start : PD_CACHE_BATCH;
		for (int i = 0; i < m; i++) {
			const pd_dgram_t *d = &batch[start + i];
			ok[i] = zs && pd_cache_key(&keys[i], d->in, d->in_len, conf->udp_size);
			if (ok[i]) {
				const pd__slot_t *set = pd__set(c, &keys[i]);
				__builtin_prefetch(set);
				__builtin_prefetch(&set[1]);
			}
		}
		/* The sets are on their way in: which queries will miss? Warm the zone for those.
		 */
		for (int i = 0; i < m; i++) {
			hit[i] = false;
			if (!ok[i])
				continue;
			const pd__slot_t *set = pd__set(c, &keys[i]);
			for (int w = 0; w < PD_CACHE_WAYS && !hit[i]; w++)
				hit[i] = pd__slot_matches(&set[w], &keys[i], zs->generation);
		}
		pd_answer_prefetch(zs, batch + start, m, hit);
		for (int i = 0; i < m; i++)
			pd__cache_answer_keyed(c, zs, conf, ok[i] ? &keys[i] : NULL,
			                       &batch[start + i]);
	}
}
