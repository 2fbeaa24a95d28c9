/*
 * Building the odd parts of queries in wire form (EDNS options, TSIG records, other
 * opcodes), answering them over either transport, and signing zones structurally
 * (mu_sign()), for the unit and fuzz tests. No cmocka here: the fuzz targets use it too.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pindns/answer.h"
#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/query.h"
#include "pindns/wire.h"

#define MU_TCP_CAP PD_MSG_MAX /* a TCP reply buffer, as the engine gives one */

/* Where the RDLENGTH of the OPT record of a query tu_query() wrote is: right after the
 * question, the OPT's 9 bytes in. */
static inline uint8_t *mu_opt_rdlen(uint8_t *q)
{
	return q + PD_HEADER_LEN + pd_name_len(q + PD_HEADER_LEN) + 4 + 9;
}

/* Appends n raw bytes to the RDATA of the OPT record ending q (*len bytes, as tu_query()
 * writes it with EDNS), raising its RDLENGTH: malformed options. Returns the length. */
static inline size_t mu_add_opt_bytes(uint8_t *q, size_t *len, const void *bytes, uint16_t n)
{
	uint8_t *rdlen = mu_opt_rdlen(q);
	memcpy(q + *len, bytes, n);
	*len += n;
	pd_put_u16(rdlen, (uint16_t)(pd_get_u16(rdlen) + n));
	return *len;
}

/* Appends an option of dlen bytes at data to the OPT record ending q, as above. */
static inline size_t mu_add_option(uint8_t *q, size_t *len, uint16_t code, const void *data,
                                   uint16_t dlen)
{
	uint8_t opt[4 + 512];
	pd_put_u16(opt, code);
	pd_put_u16(opt + 2, dlen);
	if (dlen)
		memcpy(opt + 4, data, dlen);
	return mu_add_opt_bytes(q, len, opt, (uint16_t)(4u + dlen));
}

/* What a TSIG record of a query holds (RFC 8945 4.2). */
typedef struct mu_tsig {
	const char *key;      /* NULL: a compression pointer to the question's name */
	const char *alg;      /* the algorithm name */
	uint64_t time_signed; /* 48 bits */
	uint16_t fudge;
	uint16_t mac_len; /* MAC bytes (0x5A each) */
	uint16_t orig_id;
	uint16_t error;
	uint16_t other_len; /* Other Data bytes (0x01 each) */
	uint16_t cls;       /* 0: ANY, as it must be */
	uint32_t ttl;
} mu_tsig_t;

/* Appends a TSIG record to the query q of *len bytes, raising ARCOUNT; returns the length. */
static inline size_t mu_add_tsig(uint8_t *q, size_t *len, const mu_tsig_t *t)
{
	uint8_t *p = q + *len;
	if (t->key) {
		p += pd_name_from_str(p, t->key);
	} else {
		pd_put_u16(p, 0xC000 | PD_HEADER_LEN);
		p += 2;
	}
	pd_put_u16(p, PD_TYPE_TSIG);
	pd_put_u16(p + 2, t->cls ? t->cls : PD_CLASS_ANY);
	pd_put_u16(p + 4, (uint16_t)(t->ttl >> 16));
	pd_put_u16(p + 6, (uint16_t)t->ttl);
	uint8_t *rdlen = p + 8;
	p += 10;
	uint8_t *rd = p;
	p += pd_name_from_str(p, t->alg);
	pd_put_u16(p, (uint16_t)(t->time_signed >> 32));
	pd_put_u16(p + 2, (uint16_t)(t->time_signed >> 16));
	pd_put_u16(p + 4, (uint16_t)t->time_signed);
	pd_put_u16(p + 6, t->fudge);
	pd_put_u16(p + 8, t->mac_len);
	p += 10;
	memset(p, 0x5A, t->mac_len);
	p += t->mac_len;
	pd_put_u16(p, t->orig_id);
	pd_put_u16(p + 2, t->error);
	pd_put_u16(p + 4, t->other_len);
	p += 6;
	memset(p, 1, t->other_len);
	p += t->other_len;
	pd_put_u16(rdlen, (uint16_t)(p - rd));
	pd_put_u16(q + 10, (uint16_t)(pd_get_u16(q + 10) + 1));
	*len = (size_t)(p - q);
	return *len;
}

/* Sets the opcode of the query q. */
static inline void mu_set_opcode(uint8_t *q, unsigned opcode)
{
	q[2] = (uint8_t)((q[2] & ~(PD_OPCODE_MASK >> 8)) | (opcode << 3));
}

/*
 * Answers the query of len bytes at q as it came over TCP (tcp) or UDP, into resp of
 * cap bytes: what the engine's paths do (pd_query_parse_dgram()).
 */
static inline size_t mu_answer(const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                               const uint8_t *q, size_t len, bool tcp, uint8_t *resp, size_t cap,
                               pd_answer_info_t *info)
{
	pd_query_t pq;
	pd_query_parse(&pq, q, len);
	pq.tcp = tcp;
	return pd_answer_query(zs, conf, &pq, resp, cap, info);
}

/*
 * Finds the option code in the OPT RDATA of rdlen bytes at rd; returns its data and sets
 * *len, or NULL when it is not there.
 */
static inline const uint8_t *mu_find_option(const uint8_t *rd, uint16_t rdlen, uint16_t code,
                                            uint16_t *len)
{
	for (size_t p = 0; p + 4 <= rdlen; p += 4u + pd_get_u16(rd + p + 2))
		if (pd_get_u16(rd + p) == code) {
			*len = pd_get_u16(rd + p + 2);
			return rd + p + 4;
		}
	return NULL;
}

/* --- Signing a compiled zone, structurally (fake signatures), for the DNSSEC tests --- */

#include <stdio.h>
#include <stdlib.h>

#include "pindns/nsec3.h"
#include "pindns/zone.h"

static inline void mu_put_u32(uint8_t *p, uint32_t v)
{
	pd_put_u16(p, (uint16_t)(v >> 16));
	pd_put_u16(p + 2, (uint16_t)v);
}

enum { MU_NSEC = 1, MU_NSEC3 = 2, MU_NSEC3_OPTOUT = 3 };

#define MU_SIG_LEN 64     /* an ECDSA P-256 signature's size; its bytes are 0x5A */
#define MU_KEY_TAG 0x3039 /* 12345 */

/* The zone's labels of a wire name, the root's and a leading "*" not counted (RFC 4034
 * 3.1.3). */
static inline uint8_t mu_sig_labels(const uint8_t *name)
{
	int n = pd_name_labels(name);
	return (uint8_t)(pd_name_is_wildcard(name) ? n - 1 : n);
}

/* Adds the RRSIG covering (owner, type, ttl) as a key of origin would make it. */
static inline void mu_add_rrsig(pd_zone_builder_t *b, const uint8_t *owner, uint16_t type,
                                uint32_t ttl, const uint8_t *origin)
{
	uint8_t rd[18 + PD_NAME_MAX + MU_SIG_LEN];
	pd_put_u16(rd, type);
	rd[2] = 13; /* ECDSAP256SHA256 */
	rd[3] = mu_sig_labels(owner);
	mu_put_u32(rd + 4, ttl);
	mu_put_u32(rd + 8, 0x7FFFFFFFu);  /* expiration: 2038 */
	mu_put_u32(rd + 12, 1700000000u); /* inception: 2023 */
	pd_put_u16(rd + 16, MU_KEY_TAG);
	size_t n = 18 + pd_name_len(origin);
	memcpy(rd + 18, origin, n - 18);
	memset(rd + n, 0x5A, MU_SIG_LEN);
	if (pd_zone_builder_add(b, owner, PD_ZONE_RRSIG_TYPE, ttl, rd, (uint16_t)(n + MU_SIG_LEN),
	                        0) < 0)
		abort();
}

/* An RFC 4034 4.1.2 type bitmap of the sorted, distinct types; returns its length. */
static inline size_t mu_bitmap(uint8_t *out, const uint16_t *types, int n)
{
	size_t len = 0;
	for (int i = 0; i < n;) {
		uint8_t win = (uint8_t)(types[i] >> 8), blk[32] = {0}, used = 0;
		for (; i < n && types[i] >> 8 == win; i++) {
			uint8_t t = (uint8_t)types[i];
			blk[t / 8] |= (uint8_t)(0x80 >> (t % 8));
			used = (uint8_t)(t / 8 + 1);
		}
		out[len++] = win;
		out[len++] = used;
		memcpy(out + len, blk, used);
		len += used;
	}
	return len;
}

static inline int mu_type_cmp(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* The types at node n, with extra ones, sorted and distinct, in types[]; returns how many. */
static inline int mu_node_types(const pd_zone_t *z, const pd_node_t *n, uint16_t *types,
                                const uint16_t *extra, int nextra)
{
	int k = 0;
	for (uint32_t i = 0; i < n->rrset_count; i++)
		types[k++] = z->rrsets[n->rrset_first + i].type;
	for (int i = 0; i < nextra; i++)
		types[k++] = extra[i];
	qsort(types, (size_t)k, sizeof(*types), mu_type_cmp);
	int d = 0;
	for (int i = 0; i < k; i++)
		if (d == 0 || types[d - 1] != types[i])
			types[d++] = types[i];
	return d;
}

/* Is node n a delegation without DS, which opt-out leaves out of the NSEC3 chain? */
static inline bool mu_insecure_cut(const pd_zone_t *z, const pd_node_t *n)
{
	return (n->flags & PD_NODE_DELEG) && !pd_zone_rrset(z, n, PD_TYPE_DS);
}

/* Does node e own a name of the NSEC3 chain, with opt-out leaving out unsigned delegations
 * and the empty non-terminals above nothing else (as Knot signs)? */
static inline bool mu_in_nsec3_chain(const pd_zone_t *z, const pd_node_t *e, bool optout)
{
	if (e->flags & PD_NODE_OCCLUDED)
		return false;
	if (!optout)
		return true;
	if (e->rrset_count)
		return !mu_insecure_cut(z, e);
	for (uint32_t i = 0; i < z->node_count; i++) {
		const pd_node_t *n = &z->nodes[i];
		if (n != e && n->rrset_count && !(n->flags & PD_NODE_OCCLUDED) &&
		    !mu_insecure_cut(z, n) &&
		    pd_name_is_under(pd_zone_node_name(z, n), pd_zone_node_name(z, e)))
			return true;
	}
	return false;
}

typedef struct mu_link {
	const pd_node_t *node;
	uint8_t key[PD_NAME_MAX]; /* NSEC: the owner; NSEC3: its hash */
} mu_link_t;

static inline int mu_canon_cmp(const void *a, const void *b)
{
	return pd_name_canonical_cmp(((const mu_link_t *)a)->key, ((const mu_link_t *)b)->key);
}

static inline int mu_hash_cmp(const void *a, const void *b)
{
	return memcmp(((const mu_link_t *)a)->key, ((const mu_link_t *)b)->key, PD_NSEC3_HASH_LEN);
}

/* The NSEC3 parameters mu_sign() uses: salt AB CD and 1 iteration, or for opt-out no
 * salt and 0 iterations. */
static inline void mu_nsec3_params(int mode, const uint8_t **salt, size_t *salt_len,
                                   uint16_t *iterations)
{
	static const uint8_t ab_cd[2] = {0xAB, 0xCD};
	*salt = mode == MU_NSEC3 ? ab_cd : NULL;
	*salt_len = mode == MU_NSEC3 ? 2 : 0;
	*iterations = mode == MU_NSEC3 ? 1 : 0;
}

/* The NSEC3 owner of lname (len bytes) in a zone of origin that mu_sign() signed. */
static inline size_t mu_nsec3_owner(uint8_t *out, int mode, const uint8_t *lname, size_t len,
                                    const uint8_t *origin)
{
	const uint8_t *salt;
	size_t salt_len;
	uint16_t it;
	uint8_t hash[PD_NSEC3_HASH_LEN];
	mu_nsec3_params(mode, &salt, &salt_len, &it);
	pd_nsec3_hash(hash, lname, len, salt, salt_len, it);
	out[0] = PD_NSEC3_B32_LEN;
	pd_base32hex_encode((char *)out + 1, hash, sizeof(hash));
	size_t olen = pd_name_len(origin);
	memcpy(out + 1 + PD_NSEC3_B32_LEN, origin, olen);
	return 1 + PD_NSEC3_B32_LEN + olen;
}

/*
 * Signs the compiled unsigned zone z as a signer would in mode (MU_NSEC, MU_NSEC3 or
 * MU_NSEC3_OPTOUT), with a DNSKEY and fake signatures (structure, not cryptography):
 * every authoritative RRset but the NS of a cut gets an RRSIG, the NSEC or NSEC3 chain
 * (TTL: the SOA's negative TTL, RFC 9077) is built, and NSEC3PARAM added. Returns the
 * compiled signed zone; z is left as it was. Aborts on any failure.
 */
static inline pd_zone_t *mu_sign(const pd_zone_t *z, int mode)
{
	const uint8_t *origin = z->origin;
	pd_zone_builder_t *b = pd_zone_builder_new(origin);
	mu_link_t *links = calloc(z->node_count, sizeof(*links));
	uint16_t types[300];
	uint8_t rd[2 * PD_NAME_MAX + 64 + 256 * 34];
	if (!b || !links)
		abort();
	static const uint8_t dnskey[4 + 64] = {0x01, 0x01, 3, 13}; /* KSK|ZONE, 3, P-256 */
	if (pd_zone_builder_add(b, origin, PD_TYPE_DNSKEY, 3600, dnskey, sizeof(dnskey), 0) < 0)
		abort();
	mu_add_rrsig(b, origin, PD_TYPE_DNSKEY, 3600, origin);
	/* Every record again, with an RRSIG per authoritative RRset. */
	for (uint32_t i = 0; i < z->node_count; i++) {
		const pd_node_t *n = &z->nodes[i];
		const uint8_t *owner = pd_zone_node_name(z, n);
		for (uint32_t k = 0; k < n->rrset_count; k++) {
			const pd_rrset_t *rs = &z->rrsets[n->rrset_first + k];
			const uint8_t *p = pd_zone_rrset_data(z, rs);
			for (uint16_t r = 0; r < rs->count; r++) {
				uint16_t rdlen = pd_get_u16(p);
				if (pd_zone_builder_add(b, owner, rs->type, rs->ttl, p + 2, rdlen,
				                        0) < 0)
					abort();
				p += 2u + rdlen;
			}
			bool cut_ns = (n->flags & PD_NODE_DELEG) && rs->type == PD_TYPE_NS;
			if (!(n->flags & PD_NODE_OCCLUDED) && !cut_ns)
				mu_add_rrsig(b, owner, rs->type, rs->ttl, origin);
		}
	}
	/* The chain: owners in canonical or hash order, each pointing at the next. */
	const uint8_t *salt;
	size_t salt_len;
	uint16_t iterations;
	mu_nsec3_params(mode, &salt, &salt_len, &iterations);
	uint32_t count = 0;
	for (uint32_t i = 0; i < z->node_count; i++) {
		const pd_node_t *n = &z->nodes[i];
		const uint8_t *name = pd_zone_node_name(z, n);
		if (mode == MU_NSEC ? (n->flags & PD_NODE_OCCLUDED) || !n->rrset_count
		                    : !mu_in_nsec3_chain(z, n, mode == MU_NSEC3_OPTOUT))
			continue;
		links[count].node = n;
		if (mode == MU_NSEC)
			memcpy(links[count].key, name, n->name_len);
		else
			pd_nsec3_hash(links[count].key, name, n->name_len, salt, salt_len,
			              iterations);
		count++;
	}
	qsort(links, count, sizeof(*links), mode == MU_NSEC ? mu_canon_cmp : mu_hash_cmp);
	for (uint32_t k = 0; k < count; k++) {
		const pd_node_t *n = links[k].node;
		const uint8_t *name = pd_zone_node_name(z, n);
		const mu_link_t *next = &links[(k + 1) % count];
		bool apex = (n->flags & PD_NODE_APEX) != 0;
		/* What this node will hold: its types, an RRSIG unless all it has is an
		 * unsigned cut's NS (NSEC adds its own RRSIG), and at the apex DNSKEY and
		 * NSEC3PARAM. */
		uint16_t extra[4];
		int nextra = 0;
		if (mode == MU_NSEC) {
			extra[nextra++] = PD_TYPE_NSEC;
			extra[nextra++] = PD_ZONE_RRSIG_TYPE;
		} else if (n->rrset_count && !mu_insecure_cut(z, n)) {
			extra[nextra++] = PD_ZONE_RRSIG_TYPE;
		}
		if (apex) {
			extra[nextra++] = PD_TYPE_DNSKEY;
			if (mode != MU_NSEC)
				extra[nextra++] = PD_TYPE_NSEC3PARAM;
		}
		int nt = n->rrset_count || nextra ? mu_node_types(z, n, types, extra, nextra) : 0;
		size_t len = 0;
		uint8_t owner[PD_NAME_MAX];
		if (mode == MU_NSEC) {
			memcpy(owner, name, n->name_len);
			memcpy(rd, next->key, pd_name_len(next->key));
			len = pd_name_len(next->key);
		} else {
			mu_nsec3_owner(owner, mode, name, n->name_len, origin);
			rd[0] = PD_NSEC3_SHA1;
			rd[1] = mode == MU_NSEC3_OPTOUT ? PD_NSEC3_OPTOUT : 0;
			pd_put_u16(rd + 2, iterations);
			rd[4] = (uint8_t)salt_len;
			if (salt_len)
				memcpy(rd + 5, salt, salt_len);
			len = 5 + salt_len;
			rd[len++] = PD_NSEC3_HASH_LEN;
			memcpy(rd + len, next->key, PD_NSEC3_HASH_LEN);
			len += PD_NSEC3_HASH_LEN;
		}
		len += mu_bitmap(rd + len, types, nt);
		uint16_t type = mode == MU_NSEC ? PD_TYPE_NSEC : PD_TYPE_NSEC3;
		if (pd_zone_builder_add(b, owner, type, z->neg_ttl, rd, (uint16_t)len, 0) < 0)
			abort();
		mu_add_rrsig(b, owner, type, z->neg_ttl, origin);
	}
	if (mode != MU_NSEC) {
		rd[0] = PD_NSEC3_SHA1;
		rd[1] = 0;
		pd_put_u16(rd + 2, iterations);
		rd[4] = (uint8_t)salt_len;
		if (salt_len)
			memcpy(rd + 5, salt, salt_len);
		if (pd_zone_builder_add(b, origin, PD_TYPE_NSEC3PARAM, 0, rd, 5 + salt_len, 0) < 0)
			abort();
		mu_add_rrsig(b, origin, PD_TYPE_NSEC3PARAM, 0, origin);
	}
	pd_zone_t *out = NULL;
	if (pd_zone_builder_finish(b, &out) < 0) {
		fprintf(stderr, "mu_sign: %s\n", pd_zone_builder_error(b));
		abort();
	}
	pd_zone_builder_free(b);
	free(links);
	return out;
}
