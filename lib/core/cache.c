/* Per-worker response cache: lock-free because nothing in it is ever shared. */
#include "pindns/cache.h"

#include <stdlib.h>
#include <string.h>

#include "pindns/cookie.h"
#include "pindns/dns.h"
#include "pindns/guard.h"

#include "hugemem.h"

#define PD_CACHE_WAYS 2
#define PD_CACHE_BATCH 32    /* keys computed and prefetched ahead of answering */
#define PD_CACHE_EPOCH 65536 /* lookups between decisions on whether to sample inserts */
#define PD_CACHE_SAMPLE 8    /* when not worth it, store 1 miss in this many */
/*
 * A miss costs the key and the probe (about 17 ns in a driver on the realistic mix), a
 * hit saves about 60 ns of answering: below about 1 hit in 4 lookups (PD_CACHE_WORTH)
 * the cache costs more than it saves. Then only 1 batch in PD_CACHE_TRIAL is looked up,
 * enough to see the hit ratio come back, and 1 miss in PD_CACHE_SAMPLE of those stored;
 * the other batches are answered straight from the zone, as with the cache off.
 */
#define PD_CACHE_WORTH 4
#define PD_CACHE_TRIAL 16

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
	bool sampling;  /* not worth it (PD_CACHE_WORTH): look up one batch in PD_CACHE_TRIAL,
	                 * keep one miss in PD_CACHE_SAMPLE */
	uint32_t epoch_lookups, epoch_hits;
	uint32_t batches; /* counts batches while sampling, to pick the trial ones */
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

bool pd_cache_key(pd_cache_key_t *key, const pd_query_t *q, const pd_answer_conf_t *conf,
                  size_t resp_cap)
{
	if (!q->cacheable)
		return false;
	/* Everything but the question that the answer depends on. The size limit takes the
	 * low 16 bits (up to 65,535 over TCP); keepalive counts over TCP only, UDP ignores it. */
	uint32_t variant = (uint32_t)pd_answer_limit(conf, q, resp_cap);
	if (q->edns)
		variant |= PD_CACHE_V_EDNS | (q->edns_do ? PD_CACHE_V_DO : 0) |
		           (q->edns_nsid ? PD_CACHE_V_NSID : 0) |
		           (q->tcp && q->edns_keepalive ? PD_CACHE_V_KEEPALIVE : 0) |
		           (q->cookie != PD_COOKIE_NONE ? PD_CACHE_V_COOKIE : 0);
	if (q->tcp)
		variant |= PD_CACHE_V_TCP;
	key->variant = variant;
	key->qsection = (uint16_t)(q->qname_len + 4);
	key->question = q->question;
	/*
	 * From the name's hash the parse made, not the name: a collision costs one more
	 * comparison of the question, which a hit makes anyway. fmix64 (murmur3) spreads
	 * the bits, as the low ones pick the set.
	 */
	uint64_t h = (uint64_t)q->hash << 32 | (uint32_t)q->qtype << 16 | q->qclass;
	h ^= (uint64_t)variant * 0x9e3779b97f4a7c15ull;
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

/* A hit: the stored answer, with this query's ID, RD bit, question (its case) and cookie. */
static void pd__hit(const pd__slot_t *s, const pd_cache_key_t *key, const pd_query_t *q,
                    pd_dgram_t *d)
{
	uint8_t *resp = d->out;
	const uint8_t *query = d->in;
	memcpy(resp, s->data + s->qsection, s->rlen);
	resp[0] = query[0];
	resp[1] = query[1];
	resp[2] = (uint8_t)((resp[2] & ~1u) | (query[2] & 1u));
	memcpy(resp + PD_HEADER_LEN, query + PD_HEADER_LEN, key->qsection);
	if (key->variant & PD_CACHE_V_COOKIE) {
		/* The OPT ends a cacheable answer (no TSIG), and the cookie ends the OPT. */
		uint8_t *cookie = resp + s->rlen - PD_COOKIE_CLIENT_LEN - PD_COOKIE_SERVER_LEN;
		memcpy(cookie, query + q->cookie_off, PD_COOKIE_CLIENT_LEN);
		memcpy(cookie + PD_COOKIE_CLIENT_LEN, q->cookie_out, PD_COOKIE_SERVER_LEN);
	}
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

/* The way of set that answers key for a reply of at most cap bytes, or -1: a miss. */
static int pd__probe(const pd__slot_t *set, const pd_cache_key_t *key, uint64_t gen, size_t cap)
{
	for (int w = 0; w < PD_CACHE_WAYS; w++)
		if (pd__slot_matches(&set[w], key, gen) && set[w].rlen <= cap)
			return w;
	return -1;
}

/* One datagram of a batch, whose set was probed already: way is the probe's answer. */
typedef struct pd__entry {
	pd_cache_key_t key;
	pd__slot_t *set; /* NULL: not cacheable */
	int way;
} pd__entry_t;

/* Answers d from its probed entry e. Returns true when it stored into e->set. */
static bool pd__cache_serve(pd_cache_t *c, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                            const pd_query_t *q, const pd__entry_t *e, pd_dgram_t *d)
{
	if (!e->set) {
		pd_counter_add(&c->stats->uncacheable, 1);
		pd_answer_dgram_query(zs, conf, q, d);
		return false;
	}
	/* Sampling, only 1 batch in PD_CACHE_TRIAL looks up: an epoch as short in time. */
	if (++c->epoch_lookups ==
	    (c->sampling ? PD_CACHE_EPOCH / PD_CACHE_TRIAL : PD_CACHE_EPOCH)) {
		c->sampling = c->epoch_hits * PD_CACHE_WORTH < c->epoch_lookups;
		c->epoch_lookups = c->epoch_hits = 0;
	}
	if (e->way >= 0) {
		pd__hit(&e->set[e->way], &e->key, q, d);
		pd_counter_add(&c->stats->hits, 1);
		c->epoch_hits++;
		return false;
	}
	pd_counter_add(&c->stats->misses, 1);
	pd_answer_dgram_query(zs, conf, q, d);
	/* A hit patches the query's question in: an answer without one (NSD's REFUSED for
	 * the classes nobody serves) is not kept, nor one larger than a slot. */
	if (d->out_len == 0 || pd_get_u16(d->out + 4) != 1 ||
	    e->key.qsection + d->out_len > sizeof(e->set->data))
		return false;
	/*
	 * Names asked for at random from a large zone almost never repeat before being
	 * evicted: storing each one is memory traffic for nothing. Keep a sample then, so
	 * that names which do recur still make it in.
	 */
	if (c->sampling && pd_counter_get(&c->stats->misses) % PD_CACHE_SAMPLE != 0)
		return false;
	pd__store(c, e->set, &e->key, zs->generation, d);
	return true;
}

/* Parses, keys and probes m datagrams, prefetching every set before any is probed. */
static void pd__cache_probe(pd_cache_t *c, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                            const pd_dgram_t *batch, int m, pd_query_t *qs, pd__entry_t *es,
                            bool *hit)
{
	for (int i = 0; i < m; i++)
		pd_query_parse_dgram(&qs[i], &batch[i]);
	if (conf->guard)
		pd_guard_queries(conf->guard, qs, batch, m);
	for (int i = 0; i < m; i++) {
		es[i].set = NULL;
		if (zs && pd_cache_key(&es[i].key, &qs[i], conf, batch[i].out_cap)) {
			es[i].set = pd__set(c, &es[i].key);
			__builtin_prefetch(es[i].set);
			__builtin_prefetch(&es[i].set[1]);
		}
	}
	/* The sets are on their way in: which queries hit, and in which way? */
	for (int i = 0; i < m; i++) {
		es[i].way = es[i].set
		                ? pd__probe(es[i].set, &es[i].key, zs->generation, batch[i].out_cap)
		                : -1;
		hit[i] = es[i].way >= 0;
	}
}

void pd_cache_answer_batch(pd_cache_t *c, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                           pd_dgram_t *batch, int n)
{
	pd_query_t qs[PD_CACHE_BATCH];
	pd__entry_t es[PD_CACHE_BATCH];
	bool hit[PD_CACHE_BATCH];
	if (c->sampling && c->batches++ % PD_CACHE_TRIAL != 0) {
		pd_answer_batch(zs, conf, batch, n); /* what a hit would have given, too */
		return;
	}
	for (int start = 0; start < n; start += PD_CACHE_BATCH) {
		int m = n - start < PD_CACHE_BATCH ? n - start : PD_CACHE_BATCH;
		pd_dgram_t *b = batch + start;
		pd__cache_probe(c, zs, conf, b, m, qs, es, hit);
		/* Warm the zone for the misses; it remembers each one's zone in qs. */
		pd_answer_prefetch(zs, qs, m, hit);
		for (int i = 0; i < m; i++) {
			if (!pd__cache_serve(c, zs, conf, &qs[i], &es[i], &b[i]))
				continue;
			/* A store may have evicted what a later query found, or added what it
			 * missed (the same name twice in a batch): those probe again. */
			for (int j = i + 1; j < m; j++)
				if (es[j].set == es[i].set)
					es[j].way = pd__probe(es[j].set, &es[j].key, zs->generation,
					                      b[j].out_cap);
		}
		if (conf->guard)
			pd_guard_replies(conf->guard, zs, conf, qs, b, m);
	}
}

size_t pd_cache_answer(pd_cache_t *c, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                       const uint8_t *query, size_t qlen, uint8_t *resp, size_t resp_cap)
{
	pd_dgram_t d = {.in = query, .in_len = qlen, .out = resp, .out_cap = resp_cap};
	pd_cache_answer_batch(c, zs, conf, &d, 1);
	return d.out_len;
}
