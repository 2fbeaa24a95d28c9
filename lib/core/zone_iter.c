/* The records of a compiled zone one by one, their order, and the expired stand-in. */
#include <stdlib.h>

#include "pindns/dns.h"
#include "pindns/xfr.h"

#include "hugemem.h"
#include "rdata.h"
#include "xfr_int.h"

void pd__zcur_init(pd__zcur_t *c)
{
	memset(c, 0, sizeof(*c));
}

static uint32_t pd__soa_index(const pd_zone_t *z)
{
	return (uint32_t)(pd_zone_rrset(z, &z->nodes[z->apex], PD_TYPE_SOA) - z->rrsets);
}

/* The next RRset of a node, the apex SOA left out (it came first); false past the last. */
static bool pd__zcur_node_rrset(const pd_zone_t *z, pd__zcur_t *c)
{
	for (; c->item < z->node_count; c->item++, c->left = 0) {
		const pd_node_t *n = &z->nodes[c->item];
		while (c->left < n->rrset_count) {
			uint32_t idx = n->rrset_first + c->left++;
			if (idx != c->soa) {
				c->rrset = idx;
				return true;
			}
		}
	}
	return false;
}

/* The next RRset of the NSEC3 chain: each link's NSEC3, then its RRSIGs if any. */
static bool pd__zcur_nsec3_rrset(const pd_zone_t *z, pd__zcur_t *c)
{
	for (; c->item < z->nsec3_count + z->nsec3_other; c->item++, c->left = 0) {
		const pd_rrset_t *rs = &z->rrsets[z->nsec3[c->item].rrset];
		const pd_rrset_t *sig = pd_zone_rrsig(z, rs);
		if (c->left == 0 || (c->left == 1 && sig)) {
			c->rrset = (uint32_t)((c->left ? sig : rs) - z->rrsets);
			c->left++;
			return true;
		}
	}
	return false;
}

/* Moves to the next RRset to walk; false when there is none. */
static bool pd__zcur_step(const pd_zone_t *z, pd__zcur_t *c)
{
	switch (c->phase) {
	case 0:
		c->phase = z->node_count ? 1 : 3; /* an expired stand-in has no records */
		if (c->phase == 3)
			return false;
		c->rrset = c->soa = pd__soa_index(z);
		return true;
	case 1:
		if (pd__zcur_node_rrset(z, c))
			return true;
		c->phase = 2;
		c->item = c->left = 0;
		/* fall through */
	case 2:
		if (pd__zcur_nsec3_rrset(z, c))
			return true;
		c->phase = 3;
		/* fall through */
	default:
		return false;
	}
}

/* The owner of the RRset the cursor is on: the apex SOA's comes before any node's. */
static const uint8_t *pd__zcur_owner(const pd_zone_t *z, const pd__zcur_t *c, uint8_t *len)
{
	if (c->phase == 2) {
		*len = z->nsec3[c->item].name_len;
		return z->names + z->nsec3[c->item].name_off;
	}
	const pd_node_t *n = c->rrset == c->soa ? &z->nodes[z->apex] : &z->nodes[c->item];
	*len = n->name_len;
	return z->names + n->name_off;
}

bool pd__zcur_next(const pd_zone_t *z, pd__zcur_t *c, pd_rr_t *rr)
{
	for (;;) {
		if (c->phase > 0 && c->phase < 3 && c->rec < z->rrsets[c->rrset].count) {
			const pd_rrset_t *rs = &z->rrsets[c->rrset];
			if (c->rec == 0)
				c->off = rs->data_off;
			rr->owner = pd__zcur_owner(z, c, &rr->owner_len);
			rr->type = rs->type;
			rr->ttl = rs->ttl;
			rr->rdlen = pd_get_u16(z->data + c->off);
			rr->rdata = z->data + c->off + 2;
			c->off += 2u + rr->rdlen;
			c->rec++;
			return true;
		}
		c->rec = 0;
		if (!pd__zcur_step(z, c))
			return false;
	}
}

int pd_zone_foreach(const pd_zone_t *z, pd_rr_fn fn, void *arg)
{
	pd__zcur_t c;
	pd_rr_t rr;
	pd__zcur_init(&c);
	while (pd__zcur_next(z, &c, &rr)) {
		int ret = fn(arg, &rr);
		if (ret)
			return ret;
	}
	return 0;
}

void pd_zone_soa(const pd_zone_t *z, pd_rr_t *out)
{
	memset(out, 0, sizeof(*out));
	out->owner = z->origin;
	out->owner_len = z->origin_len;
	out->type = PD_TYPE_SOA;
	if (!z->node_count)
		return; /* an expired stand-in: the SOA is gone with the rest */
	const pd_rrset_t *rs = &z->rrsets[pd__soa_index(z)];
	const uint8_t *p = pd_zone_rrset_data(z, rs);
	out->ttl = rs->ttl;
	out->rdlen = pd_get_u16(p);
	out->rdata = p + 2;
}

/*
 * The bytes [*lo, *hi) of RDATA whose letters compare without case: the names that RFC
 * 4034 6.2 lower-cases for the canonical form, as far as the rdata.h table and RRSIG's
 * signer say where they are. Label lengths are below 'A', so lowering them is harmless.
 */
static void pd__rdata_fold(uint16_t type, const uint8_t *rd, uint16_t len, size_t *lo, size_t *hi)
{
	pd__rdata_names_t names = pd__rdata_names(type);
	if (type == PD_TYPE_RRSIG)
		names = (pd__rdata_names_t){.off = 18, .count = 1};
	size_t p = names.off;
	*lo = p;
	for (int i = 0; i < names.count && p < len; i++) {
		while (p < len && rd[p] != 0 && rd[p] <= PD_LABEL_MAX)
			p += 1u + rd[p];
		p++;
	}
	*hi = p < len ? p : len;
}

static inline uint8_t pd__fold(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static int pd__rdata_cmp(uint16_t type, const pd_rr_t *a, const pd_rr_t *b)
{
	size_t alo, ahi, blo, bhi;
	size_t n = a->rdlen < b->rdlen ? a->rdlen : b->rdlen;
	pd__rdata_fold(type, a->rdata, a->rdlen, &alo, &ahi);
	pd__rdata_fold(type, b->rdata, b->rdlen, &blo, &bhi);
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a->rdata[i], y = b->rdata[i];
		if (i >= alo && i < ahi)
			x = pd__fold(x);
		if (i >= blo && i < bhi)
			y = pd__fold(y);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return a->rdlen < b->rdlen ? -1 : a->rdlen > b->rdlen;
}

int pd__rr_cmp(const pd_rr_t *a, const pd_rr_t *b)
{
	if (a->owner_len != b->owner_len)
		return a->owner_len < b->owner_len ? -1 : 1;
	int d = memcmp(a->owner, b->owner, a->owner_len);
	if (d)
		return d;
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	return pd__rdata_cmp(a->type, a, b);
}

int pd__rr_qcmp(const void *a, const void *b)
{
	return pd__rr_cmp(a, b);
}

int pd__zone_records(const pd_zone_t *z, pd_rr_t **out, size_t *n)
{
	pd__zcur_t c;
	pd_rr_t rr;
	size_t k = 0;
	*out = malloc((z->record_count + 1) * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	pd__zcur_init(&c);
	for (bool soa = true; pd__zcur_next(z, &c, &rr); soa = false)
		if (!soa && k < z->record_count)
			(*out)[k++] = rr;
	qsort(*out, k, sizeof(**out), pd__rr_qcmp);
	*n = k;
	return 0;
}

bool pd__soa_serial(const uint8_t *rdata, uint16_t rdlen, uint32_t *serial)
{
	pd_wire_t w;
	uint8_t tmp[PD_NAME_MAX];
	pd_wire_init(&w, rdata, rdlen);
	pd_name_parse(&w, tmp);
	pd_name_parse(&w, tmp);
	*serial = pd_wire_u32(&w);
	pd_wire_skip(&w, 16);
	return w.err == 0;
}

pd_zone_t *pd_zone_expired_new(const pd_zone_t *z)
{
	pd_zone_t *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	/* One empty slot: lookups (the prefetch's too) find nothing without a special case. */
	e->table = pd__huge_alloc(sizeof(*e->table), 0);
	if (!e->table) {
		free(e);
		return NULL;
	}
	e->table[0] = 0;
	memcpy(e->origin, z->origin, z->origin_len);
	e->origin_len = z->origin_len;
	e->origin_labels = z->origin_labels;
	e->serial = z->serial;
	e->neg_ttl = z->neg_ttl;
	e->loaded_unix = z->loaded_unix;
	e->from = z->from;
	e->xfr = z->xfr;
	e->expired = true;
	e->refs = 1;
	return e;
}
