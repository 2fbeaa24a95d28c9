/* Response rate limiting: a per-worker table of token buckets, keyed by prefix and class. */
#include "pindns/rrl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PD__MILLI 1000 /* tokens are counted in thousandths: a response costs 1000 */
#define PD__WAYS 2     /* slots a key may take: the older one goes for a new key */

/* One bucket: 16 bytes. last is milliseconds of the table's clock, modulo 2^32. */
typedef struct pd__bucket {
	uint64_t key; /* 0: free */
	uint32_t last;
	int32_t tokens;
} pd__bucket_t;

struct pd_rrl {
	const pd_rrl_conf_t *conf;
	uint32_t mask;
	uint32_t limited; /* limited responses so far, for the slip's turn */
	int32_t cap;      /* rate x window, in thousandths */
	pd__bucket_t *buckets;
};

int pd_rrl_new(pd_rrl_t **out, const pd_rrl_conf_t *conf)
{
	*out = NULL;
	if (conf->rate == 0 || conf->rate > PD_RRL_RATE_MAX || conf->window == 0 ||
	    conf->window > PD_RRL_WINDOW_MAX || conf->ipv4_prefix > 32 || conf->ipv6_prefix > 128 ||
	    (uint64_t)conf->rate * conf->window * PD__MILLI > INT32_MAX ||
	    conf->nexempt > PD_RRL_EXEMPT_MAX)
		return -EINVAL;
	pd_rrl_t *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	uint32_t size = PD__WAYS;
	while (size < conf->table_size && size < (1u << 30))
		size <<= 1;
	r->buckets = calloc(size, sizeof(*r->buckets));
	if (!r->buckets) {
		free(r);
		return -ENOMEM;
	}
	r->conf = conf;
	r->mask = size - 1;
	r->cap = (int32_t)(conf->rate * conf->window * PD__MILLI);
	*out = r;
	return 0;
}

void pd_rrl_free(pd_rrl_t *r)
{
	if (!r)
		return;
	free(r->buckets);
	free(r);
}

/* Whether the first bits of a and b agree. */
static bool pd__prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ b[whole]) & (uint8_t)(0xFF00u >> rest)) == 0;
}

bool pd_rrl_exempt(const pd_rrl_conf_t *conf, int family, const uint8_t *addr)
{
	for (unsigned i = 0; i < conf->nexempt; i++)
		if (conf->exempt[i].family == family &&
		    pd__prefix_eq(conf->exempt[i].addr, addr, conf->exempt[i].bits))
			return true;
	return false;
}

/* A 64-bit mix (the finaliser of SplitMix64): every input bit moves every output bit. */
static uint64_t pd__mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The bucket key of a prefix, class and zone: never 0, which marks a free bucket. */
static uint64_t pd__key(const pd_rrl_t *r, int family, const uint8_t *addr, pd_rrl_class_t cls,
                        uint32_t zone_hash)
{
	unsigned bits = family == 4 ? r->conf->ipv4_prefix : r->conf->ipv6_prefix;
	uint8_t p[16] = {0};
	memcpy(p, addr, (bits + 7) / 8);
	if (bits % 8)
		p[bits / 8] &= (uint8_t)(0xFF00u >> (bits % 8));
	uint64_t hi, lo;
	memcpy(&hi, p, 8);
	memcpy(&lo, p + 8, 8);
	uint64_t h = pd__mix(r->conf->seed ^ hi);
	h = pd__mix(h ^ lo);
	h = pd__mix(h ^ ((uint64_t)zone_hash << 8 | (uint64_t)cls << 1 | (family == 6)));
	return h ? h : 1;
}

pd_rrl_action_t pd_rrl_take(pd_rrl_t *r, int family, const uint8_t *addr, pd_rrl_class_t cls,
                            uint32_t zone_hash, uint64_t now_ms)
{
	uint64_t key = pd__key(r, family, addr, cls, zone_hash);
	uint32_t now = (uint32_t)now_ms;
	pd__bucket_t *set = &r->buckets[(uint32_t)key & r->mask & ~(uint32_t)(PD__WAYS - 1)];
	pd__bucket_t *b = NULL;
	for (int w = 0; w < PD__WAYS && !b; w++)
		if (set[w].key == key)
			b = &set[w];
	if (!b) {
		/* A new prefix: the way used least recently, starting full. */
		b = (uint32_t)(now - set[0].last) >= (uint32_t)(now - set[1].last) ? &set[0]
		                                                                   : &set[1];
		b->key = key;
		b->tokens = r->cap;
		b->last = now;
	}
	uint64_t refill = (uint64_t)(uint32_t)(now - b->last) * r->conf->rate;
	b->tokens = refill >= (uint64_t)(r->cap - b->tokens) ? r->cap : b->tokens + (int32_t)refill;
	b->last = now;
	if (b->tokens >= PD__MILLI) {
		b->tokens -= PD__MILLI;
		return PD_RRL_PASS;
	}
	uint32_t slip = r->conf->slip;
	return slip && ++r->limited % slip == 0 ? PD_RRL_SLIP : PD_RRL_DROP;
}
