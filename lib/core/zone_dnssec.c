/* DNSSEC in a compiled zone: the NSEC index, the NSEC3 chain, and the checks on both. */
#define _GNU_SOURCE /* qsort_r */
#include "pindns/zone.h"

#include <stdio.h>
#include <stdlib.h>

#include "pindns/dns.h"
#include "pindns/nsec3.h"

#include "hugemem.h"
#include "zone_int.h"

int pd__nsec3_run(pd__compile_t *cc, size_t i, size_t end)
{
	if (pd__grow((void **)&cc->nsec3_runs, &cc->nsec3_runs_cap, cc->nsec3_runs_len + 1,
	             sizeof(*cc->nsec3_runs)) < 0)
		return -ENOMEM;
	cc->nsec3_runs[cc->nsec3_runs_len][0] = i;
	cc->nsec3_runs[cc->nsec3_runs_len][1] = end;
	cc->nsec3_runs_len++;
	return 0;
}

/* Makes the NSEC3 link of the records [i, end) of one owner: its NSEC3, then RRSIGs. */
static int pd__nsec3_link(pd__compile_t *cc, size_t i, size_t end)
{
	pd_zone_builder_t *b = cc->b;
	pd_zone_t *z = cc->z;
	const pd__rec_t *r = &b->recs[i];
	if (pd__grow((void **)&z->names, &cc->names_cap, z->names_len + r->owner_len, 1) < 0)
		return -ENOMEM;
	pd_nsec3_t *l = &z->nsec3[z->nsec3_count++];
	l->name_off = (uint32_t)z->names_len;
	l->name_len = r->owner_len;
	l->rrset = z->rrset_count;
	memcpy(z->names + z->names_len, b->names + r->owner_off, r->owner_len);
	z->names_len += r->owner_len;
	int ret = pd__group_owner(cc, NULL, i, end);
	if (ret < 0)
		return ret;
	/* The NSEC3 RRset is there, as the run has one: anything else sorts before it or is
	 * not an RRSIG (an RRSIG of another type there was an orphan). */
	for (uint32_t k = l->rrset; k < z->rrset_count; k++) {
		uint16_t t = z->rrsets[k].type;
		if (t == (k == l->rrset ? PD_TYPE_NSEC3 : PD_TYPE_RRSIG))
			continue;
		char name[PD_NAME_TXT_MAX], tbuf[16];
		pd_name_to_str(name, sizeof(name), b->names + r->owner_off);
		return pd__builder_fail(b, cc->first_line[k], "NSEC3 at %s beside other data (%s)",
		                        name, pd__type_str(t, tbuf, sizeof(tbuf)));
	}
	const uint8_t *rd = pd_zone_rrset_data(z, &z->rrsets[l->rrset]);
	l->flags = rd[2 + 1];
	return 0;
}

/* Orders wire names by their first label (an NSEC3 owner's hash, in Base32hex), then the rest. */
static int pd__nsec3_name_cmp(const uint8_t *x, size_t xlen, const uint8_t *y, size_t ylen)
{
	int d = memcmp(x + 1, y + 1, x[0] < y[0] ? x[0] : y[0]);
	if (d)
		return d;
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	if (xlen != ylen)
		return xlen < ylen ? -1 : 1;
	return memcmp(x, y, xlen);
}

/* A link to sort: where the first 8 bytes of its first label sort it, as an integer. */
typedef struct pd__nsec3_ent {
	uint64_t key;
	uint32_t link;
} pd__nsec3_ent_t;

static int pd__nsec3_ent_cmp(const void *pa, const void *pb, void *arg)
{
	const pd_zone_t *z = arg;
	const pd__nsec3_ent_t *a = pa, *b = pb;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	const pd_nsec3_t *x = &z->nsec3[a->link], *y = &z->nsec3[b->link];
	return pd__nsec3_name_cmp(z->names + x->name_off, x->name_len, z->names + y->name_off,
	                          y->name_len);
}

/*
 * Puts the links in hash order. The sort compares integers, and names only when their
 * first 8 bytes are the same: a large zone has 100,000s of links, and their names lie
 * all over memory. Unless the records are sorted, returns -EAGAIN when an owner comes
 * twice.
 */
static int pd__sort_nsec3(pd__compile_t *cc, bool sorted)
{
	pd_zone_t *z = cc->z;
	uint32_t n = z->nsec3_count;
	pd__nsec3_ent_t *ents = malloc(n * sizeof(*ents));
	pd_nsec3_t *links = malloc(n * sizeof(*links));
	int ret = 0;
	if (!ents || !links) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t k = 0; k < n; k++) {
		const uint8_t *label = z->names + z->nsec3[k].name_off;
		uint64_t key = 0;
		for (int c = 1; c <= 8; c++)
			key = key << 8 | (c <= label[0] ? label[c] : 0);
		ents[k] = (pd__nsec3_ent_t){.key = key, .link = k};
	}
	qsort_r(ents, n, sizeof(*ents), pd__nsec3_ent_cmp, z);
	for (uint32_t k = 0; k < n; k++) {
		if (k && !sorted && pd__nsec3_ent_cmp(&ents[k - 1], &ents[k], z) == 0) {
			ret = -EAGAIN; /* sorted, an owner's records are one run */
			goto out;
		}
		links[k] = z->nsec3[ents[k].link];
	}
	memcpy(z->nsec3, links, n * sizeof(*links));
out:
	free(ents);
	free(links);
	return ret;
}

int pd__group_nsec3(pd__compile_t *cc, bool sorted)
{
	size_t n = cc->nsec3_runs_len;
	if (!n)
		return 0;
	if (pd__grow((void **)&cc->z->nsec3, &cc->nsec3_cap, n, sizeof(*cc->z->nsec3)) < 0)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		int ret = pd__nsec3_link(cc, cc->nsec3_runs[k][0], cc->nsec3_runs[k][1]);
		if (ret < 0)
			return ret;
	}
	return pd__sort_nsec3(cc, sorted);
}

const pd_node_t *pd_zone_nsec_find(const pd_zone_t *z, const uint8_t *lname, size_t len)
{
	uint32_t lo = 0, hi = z->nsec_count;
	if (z->dnssec != PD_ZONE_NSEC || !z->nsec_count)
		return NULL;
	/* The first NSEC owner after lname; the one before it matches or covers lname. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (pd_name_canonical_cmp(lname, z->names + z->nodes[z->nsec[mid]].name_off) < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	/* Only a name outside the zone sorts before the apex; the last NSEC covers it. */
	return &z->nodes[z->nsec[lo ? lo - 1 : z->nsec_count - 1]];
}

/* The link whose owner label matches b32 (*match) or is the last before it (wrapping). */
static const pd_nsec3_t *pd__nsec3_search(const pd_zone_t *z, const char *b32, bool *match)
{
	uint32_t lo = 0, hi = z->nsec3_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (memcmp(b32, z->names + z->nsec3[mid].name_off + 1, PD_NSEC3_B32_LEN) < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	const pd_nsec3_t *l = &z->nsec3[lo ? lo - 1 : z->nsec3_count - 1];
	*match = lo && memcmp(b32, z->names + l->name_off + 1, PD_NSEC3_B32_LEN) == 0;
	return l;
}

const pd_nsec3_t *pd_zone_nsec3_find(const pd_zone_t *z, const uint8_t *lname, size_t len,
                                     bool *match)
{
	uint8_t hash[PD_NSEC3_HASH_LEN];
	char b32[PD_NSEC3_B32_LEN];
	*match = false;
	if (z->dnssec != PD_ZONE_NSEC3 || !z->nsec3_count)
		return NULL;
	pd_nsec3_hash(hash, lname, len, pd_zone_nsec3_salt(z), z->nsec3_salt_len,
	              z->nsec3_iterations);
	pd_base32hex_encode(b32, hash, sizeof(hash));
	return pd__nsec3_search(z, b32, match);
}

/* The name of node or link in presentation form, for a message. */
static const char *pd__zname(const pd_zone_t *z, uint32_t name_off, char *buf)
{
	pd_name_to_str(buf, PD_NAME_TXT_MAX, z->names + name_off);
	return buf;
}

/* An NSEC3 salt as the zone file writes it: hex, or "-" when empty. */
static const char *pd__salt_str(const uint8_t *salt, size_t len, char *buf)
{
	if (!len)
		return "-";
	for (size_t i = 0; i < len; i++)
		snprintf(buf + 2 * i, 3, "%02x", salt[i]);
	return buf;
}

/*
 * Up to 7 symbols of a name's labels below the origin, from the top, 9 bits each: each
 * byte of a label as 1 to 256, then 0 where the label ends. Where the keys of two names
 * differ, they sort as the names do in canonical order (RFC 4034 6.1), so sorting
 * compares these integers first and the names only when they are equal.
 */
static uint64_t pd__canon_key(const uint8_t *name, int below)
{
	uint8_t st[128];
	uint64_t key = 0;
	int sym = 0;
	pd_name_label_starts(name, st);
	for (int k = below - 1; k >= 0 && sym < 7; k--) {
		const uint8_t *l = name + st[k];
		for (int c = 1; c <= l[0] && sym < 7; c++, sym++)
			key = key << 9 | (l[c] + 1u);
		if (sym < 7) {
			key <<= 9;
			sym++;
		}
	}
	return key << (9 * (7 - sym));
}

typedef struct pd__canon_ent {
	uint64_t key;
	uint32_t node;
} pd__canon_ent_t;

static int pd__canon_ent_cmp(const void *pa, const void *pb, void *arg)
{
	const pd_zone_t *z = arg;
	const pd__canon_ent_t *a = pa, *b = pb;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return pd_name_canonical_cmp(z->names + z->nodes[a->node].name_off,
	                             z->names + z->nodes[b->node].name_off);
}

/* z->nsec: the nodes owning an NSEC, in canonical order; count of them known. */
static int pd__nsec_sort(pd__compile_t *cc, uint32_t count)
{
	pd_zone_t *z = cc->z;
	pd__canon_ent_t *ents = malloc((size_t)count * sizeof(*ents));
	z->nsec = pd__huge_alloc((size_t)count * sizeof(*z->nsec), 0);
	if (!ents || !z->nsec) {
		free(ents);
		return -ENOMEM;
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < z->node_count; i++) {
		const pd_node_t *n = &z->nodes[i];
		if (!pd_zone_rrset(z, n, PD_TYPE_NSEC))
			continue;
		ents[k].key = pd__canon_key(z->names + n->name_off, n->labels - z->origin_labels);
		ents[k++].node = i;
	}
	qsort_r(ents, count, sizeof(*ents), pd__canon_ent_cmp, z);
	for (k = 0; k < count; k++)
		z->nsec[k] = ents[k].node;
	z->nsec_count = count;
	free(ents);
	return 0;
}

/* Every authoritative name with data owns an NSEC (delegations too), no occluded one. */
static int pd__check_nsec_owners(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	char name[PD_NAME_TXT_MAX], cut[PD_NAME_TXT_MAX];
	for (uint32_t i = 0; i < z->node_count; i++) {
		const pd_node_t *n = &z->nodes[i];
		const pd_rrset_t *nsec = pd_zone_rrset(z, n, PD_TYPE_NSEC);
		if ((n->flags & PD_NODE_OCCLUDED) && nsec)
			return pd__builder_fail(
			    cc->b, cc->first_line[nsec - z->rrsets],
			    "NSEC at %s, below %s, which %s", pd__zname(z, n->name_off, name),
			    pd__zname(z, z->nodes[n->cut].name_off, cut),
			    z->nodes[n->cut].flags & PD_NODE_DNAME ? "has a DNAME"
			                                           : "is a zone cut");
		if (!(n->flags & PD_NODE_OCCLUDED) && n->rrset_count && !nsec)
			return pd__builder_fail(cc->b, cc->first_line[n->rrset_first],
			                        "no NSEC at %s in an NSEC-signed zone",
			                        pd__zname(z, n->name_off, name));
	}
	return 0;
}

/*
 * PD_ZONE_NSEC: the index, and the chain: each NSEC's next name is the next owner in
 * canonical order, the last's the apex (RFC 4034 4.1.1), so every proof holds.
 */
static int pd__nsec_chain(pd__compile_t *cc, uint32_t count)
{
	pd_zone_t *z = cc->z;
	char name[PD_NAME_TXT_MAX], next[PD_NAME_TXT_MAX], want[PD_NAME_TXT_MAX];
	int ret = pd__check_nsec_owners(cc);
	if (ret < 0)
		return ret;
	ret = pd__nsec_sort(cc, count);
	if (ret < 0)
		return ret;
	for (uint32_t k = 0; k < count; k++) {
		const pd_node_t *n = &z->nodes[z->nsec[k]];
		const pd_node_t *e = &z->nodes[z->nsec[(k + 1) % count]];
		const pd_rrset_t *rs = pd_zone_rrset(z, n, PD_TYPE_NSEC);
		int loc = cc->first_line[rs - z->rrsets];
		uint8_t lnext[PD_NAME_MAX];
		if (rs->count > 1)
			return pd__builder_fail(cc->b, loc, "more than one NSEC record at %s",
			                        pd__zname(z, n->name_off, name));
		size_t len = pd_name_lower(lnext, pd_zone_rrset_data(z, rs) + 2);
		if (len == e->name_len && memcmp(lnext, z->names + e->name_off, len) == 0)
			continue;
		pd_name_to_str(next, sizeof(next), lnext);
		return pd__builder_fail(
		    cc->b, loc, "NSEC chain broken at %s: next name is %s, expected %s",
		    pd__zname(z, n->name_off, name), next, pd__zname(z, e->name_off, want));
	}
	return 0;
}

/* The apex NSEC3PARAM: one, SHA-1, flags 0; its iterations and salt become the zone's. */
static int pd__read_nsec3param(pd__compile_t *cc, const pd_rrset_t *rs)
{
	pd_zone_t *z = cc->z;
	int loc = cc->first_line[rs - z->rrsets];
	const uint8_t *rd = pd_zone_rrset_data(z, rs) + 2;
	char name[PD_NAME_TXT_MAX];
	pd_name_to_str(name, sizeof(name), z->origin);
	if (rs->count > 1)
		return pd__builder_fail(cc->b, loc, "more than one NSEC3PARAM record at %s", name);
	if (rd[0] != PD_NSEC3_SHA1)
		return pd__builder_fail(cc->b, loc, "NSEC3PARAM at %s has hash algorithm %u, not 1",
		                        name, rd[0]);
	if (rd[1] != 0) /* RFC 5155 4.1.2: flags are ignored, as Knot serves such a zone */
		pd__warn(cc->b, loc, "NSEC3PARAM at %s has flags %u, not 0: ignored", name, rd[1]);
	z->nsec3_iterations = pd_get_u16(rd + 2);
	z->nsec3_salt_len = rd[4];
	/* An offset: sealing the zone may move its data. */
	z->nsec3_salt_off = (uint32_t)(rd + 5 - z->data);
	if (z->nsec3_iterations > 0)
		pd__warn(cc->b, loc, "NSEC3PARAM at %s has %u iterations; RFC 9276 asks for 0",
		         name, z->nsec3_iterations);
	return 0;
}

/*
 * Link k: one NSEC3 (with the NSEC3PARAM's parameters: pd__other_chains()), a SHA-1
 * hash as next hashed owner, its owner the Base32hex of a hash right below the apex, and no
 * node there. Writes the owner's hash to hash and the next hashed owner to *next.
 */
static int pd__check_nsec3_link(pd__compile_t *cc, uint32_t k, uint8_t *hash, const uint8_t **next)
{
	pd_zone_t *z = cc->z;
	const pd_nsec3_t *l = &z->nsec3[k];
	const uint8_t *owner = z->names + l->name_off;
	const pd_rrset_t *rs = &z->rrsets[l->rrset];
	const uint8_t *rd = pd_zone_rrset_data(z, rs) + 2;
	int loc = cc->first_line[l->rrset];
	uint8_t salt_len = rd[4];
	char name[PD_NAME_TXT_MAX];
	if (rs->count > 1)
		return pd__builder_fail(cc->b, loc, "more than one NSEC3 record at %s",
		                        pd__zname(z, l->name_off, name));
	if (rd[5 + salt_len] != PD_NSEC3_HASH_LEN)
		return pd__builder_fail(cc->b, loc,
		                        "NSEC3 at %s has a next hashed owner of %u bytes",
		                        pd__zname(z, l->name_off, name), rd[5 + salt_len]);
	*next = rd + 6 + salt_len;
	if (owner[0] != PD_NSEC3_B32_LEN || l->name_len != 1 + owner[0] + z->origin_len ||
	    pd_base32hex_decode(hash, PD_NSEC3_HASH_LEN, (const char *)owner + 1, owner[0]) < 0)
		return pd__builder_fail(cc->b, loc,
		                        "NSEC3 owner %s is not the Base32hex of a SHA-1 hash under "
		                        "the apex",
		                        pd__zname(z, l->name_off, name));
	const pd_node_t *n = pd_zone_find(z, owner, l->name_len);
	if (n && n->rrset_count)
		return pd__builder_fail(cc->b, cc->first_line[n->rrset_first],
		                        "NSEC3 at %s beside other data",
		                        pd__zname(z, l->name_off, name));
	if (n)
		return pd__builder_fail(cc->b, loc, "names below the NSEC3 owner %s",
		                        pd__zname(z, l->name_off, name));
	return 0;
}

/* Link k's next hashed owner is want, or the chain is broken there. */
static int pd__nsec3_next_is(pd__compile_t *cc, uint32_t k, const uint8_t *next,
                             const uint8_t *want)
{
	pd_zone_t *z = cc->z;
	char name[PD_NAME_TXT_MAX], got[PD_NSEC3_B32_LEN + 1], exp[PD_NSEC3_B32_LEN + 1];
	if (memcmp(next, want, PD_NSEC3_HASH_LEN) == 0)
		return 0;
	got[pd_base32hex_encode(got, next, PD_NSEC3_HASH_LEN)] = '\0';
	exp[pd_base32hex_encode(exp, want, PD_NSEC3_HASH_LEN)] = '\0';
	return pd__builder_fail(cc->b, cc->first_line[z->nsec3[k].rrset],
	                        "NSEC3 chain broken at %s: next hashed owner is %s, expected %s%s",
	                        pd__zname(z, z->nsec3[k].name_off, name), got, exp,
	                        cc->nsec3_other ? " (NSEC3 records with other parameters than "
	                                          "the NSEC3PARAM's are left out)"
	                                        : "");
}

/* Whether an NSEC3's RDATA has the zone's algorithm, iterations and salt. */
static bool pd__nsec3_params_match(const pd_zone_t *z, const uint8_t *rd)
{
	return rd[0] == PD_NSEC3_SHA1 && pd_get_u16(rd + 2) == z->nsec3_iterations &&
	       rd[4] == z->nsec3_salt_len &&
	       memcmp(rd + 5, pd_zone_nsec3_salt(z), z->nsec3_salt_len) == 0;
}

/*
 * Leaves out of the chain the NSEC3 records whose parameters are not the NSEC3PARAM's:
 * a zone may hold several chains while its salt or iterations change (RFC 5155 7.3), and
 * the NSEC3PARAM says which one answers, as Knot takes it. One warning says so. They are
 * kept after the chain (nsec3_other), for a transfer out to send the zone whole.
 */
static int pd__other_chains(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	uint32_t kept = 0;
	pd_nsec3_t *other = malloc(z->nsec3_count * sizeof(*other));
	if (!other)
		return -ENOMEM;
	for (uint32_t k = 0; k < z->nsec3_count; k++) {
		const uint8_t *rd = pd_zone_rrset_data(z, &z->rrsets[z->nsec3[k].rrset]) + 2;
		if (pd__nsec3_params_match(z, rd))
			z->nsec3[kept++] = z->nsec3[k];
		else
			other[cc->nsec3_other++] = z->nsec3[k];
	}
	if (!cc->nsec3_other) {
		free(other);
		return 0;
	}
	memcpy(z->nsec3 + kept, other, cc->nsec3_other * sizeof(*other));
	z->nsec3_count = kept;
	z->nsec3_other = cc->nsec3_other;
	const pd_nsec3_t *l = &other[0];
	const uint8_t *rd = pd_zone_rrset_data(z, &z->rrsets[l->rrset]) + 2;
	char name[PD_NAME_TXT_MAX], s1[512], s2[512];
	pd__warn(cc->b, cc->first_line[l->rrset],
	         "%u NSEC3 record(s) with other parameters than the NSEC3PARAM's are left out "
	         "of the chain, the first at %s (algorithm %u, %u iterations, salt %s; the "
	         "NSEC3PARAM has %u iterations, salt %s)",
	         cc->nsec3_other, pd__zname(z, l->name_off, name), rd[0], pd_get_u16(rd + 2),
	         pd__salt_str(rd + 5, rd[4], s1), z->nsec3_iterations,
	         pd__salt_str(pd_zone_nsec3_salt(z), z->nsec3_salt_len, s2));
	free(other);
	return 0;
}

/* Each link's next hashed owner is the next link's hash, the last's the first's. */
static int pd__check_nsec3_chain(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	uint8_t first[PD_NSEC3_HASH_LEN], hash[PD_NSEC3_HASH_LEN];
	const uint8_t *next = NULL, *prev_next = NULL;
	for (uint32_t k = 0; k < z->nsec3_count; k++) {
		int ret = pd__check_nsec3_link(cc, k, k ? hash : first, &next);
		if (ret == 0 && k)
			ret = pd__nsec3_next_is(cc, k - 1, prev_next, hash);
		if (ret < 0)
			return ret;
		prev_next = next;
	}
	return pd__nsec3_next_is(cc, z->nsec3_count - 1, prev_next, first);
}

/* A delegation without DS: opt-out may leave it out of the chain (RFC 5155 6). */
static bool pd__insecure_cut(const pd_zone_t *z, const pd_node_t *n)
{
	return (n->flags & PD_NODE_DELEG) && !pd_zone_rrset(z, n, PD_TYPE_DS);
}

/*
 * need[i]: node i is an empty non-terminal with a name below it that must have an NSEC3
 * (anything authoritative but an insecure delegation), so it must have one too (RFC
 * 5155 7.1). Marks up from each such name to the first node already marked or not empty.
 */
static void pd__mark_needed_ents(const pd_zone_t *z, uint8_t *need)
{
	for (uint32_t i = 0; i < z->node_count; i++) {
		const pd_node_t *n = &z->nodes[i];
		if ((n->flags & PD_NODE_OCCLUDED) || !n->rrset_count || pd__insecure_cut(z, n))
			continue;
		while (n != &z->nodes[z->apex]) {
			const uint8_t *name = z->names + n->name_off;
			n = pd_zone_find(z, pd_name_parent(name), n->name_len - 1u - name[0]);
			if (n->rrset_count || need[n - z->nodes])
				break;
			need[n - z->nodes] = 1;
		}
	}
}

/*
 * Every authoritative name has the NSEC3 of its hash, but for insecure delegations, and
 * empty non-terminals with only those below, in the span of an opt-out NSEC3; and every
 * NSEC3 is some name's.
 */
static int pd__check_nsec3_names(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	uint8_t *need = calloc(z->node_count, 1), *used = calloc(z->nsec3_count, 1);
	char name[PD_NAME_TXT_MAX];
	int ret = 0;
	if (!need || !used) {
		ret = -ENOMEM;
		goto out;
	}
	pd__mark_needed_ents(z, need);
	for (uint32_t i = 0; i < z->node_count && ret == 0; i++) {
		const pd_node_t *n = &z->nodes[i];
		bool match;
		if (n->flags & PD_NODE_OCCLUDED)
			continue;
		const pd_nsec3_t *l =
		    pd_zone_nsec3_find(z, z->names + n->name_off, n->name_len, &match);
		if (match) {
			used[l - z->nsec3] = 1;
			continue;
		}
		bool optional = n->rrset_count ? pd__insecure_cut(z, n) : !need[i];
		if (optional && (l->flags & PD_NSEC3_OPTOUT))
			continue;
		uint8_t hash[PD_NSEC3_HASH_LEN];
		char b32[PD_NSEC3_B32_LEN + 1];
		pd_nsec3_hash(hash, z->names + n->name_off, n->name_len, pd_zone_nsec3_salt(z),
		              z->nsec3_salt_len, z->nsec3_iterations);
		b32[pd_base32hex_encode(b32, hash, sizeof(hash))] = '\0';
		ret = pd__builder_fail(
		    cc->b, n->rrset_count ? cc->first_line[n->rrset_first] : 0,
		    "no NSEC3 for %s (hash %s)%s", pd__zname(z, n->name_off, name), b32,
		    optional ? ", and the NSEC3 covering it is not opt-out" : "");
	}
	for (uint32_t k = 0; k < z->nsec3_count && ret == 0; k++)
		if (!used[k])
			ret = pd__builder_fail(cc->b, cc->first_line[z->nsec3[k].rrset],
			                       "NSEC3 at %s is the hash of no name in the zone",
			                       pd__zname(z, z->nsec3[k].name_off, name));
out:
	free(need);
	free(used);
	return ret;
}

/* PD_ZONE_NSEC3: the NSEC3PARAM, the chain, and every name in it. */
static int pd__nsec3_checks(pd__compile_t *cc, const pd_rrset_t *param)
{
	pd_zone_t *z = cc->z;
	int ret = pd__read_nsec3param(cc, param);
	if (ret < 0)
		return ret;
	if (z->nsec3_count) {
		ret = pd__other_chains(cc);
		if (ret < 0)
			return ret;
	}
	if (!z->nsec3_count) {
		char origin[PD_NAME_TXT_MAX];
		pd_name_to_str(origin, sizeof(origin), z->origin);
		return pd__builder_fail(cc->b, cc->first_line[param - z->rrsets],
		                        cc->nsec3_other ? "NSEC3PARAM at %s but no NSEC3 records "
		                                          "with its parameters"
		                                        : "NSEC3PARAM at %s but no NSEC3 records",
		                        origin);
	}
	z->dnssec = PD_ZONE_NSEC3;
	ret = pd__check_nsec3_chain(cc);
	if (ret < 0)
		return ret;
	return pd__check_nsec3_names(cc);
}

int pd__dnssec(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	const pd_node_t *apex = &z->nodes[z->apex];
	const pd_rrset_t *param = pd_zone_rrset(z, apex, PD_TYPE_NSEC3PARAM);
	const pd_rrset_t *nsec = NULL; /* the first found */
	uint32_t nsec_count = 0, nsec_node = 0;
	char origin[PD_NAME_TXT_MAX], name[PD_NAME_TXT_MAX];
	pd_name_to_str(origin, sizeof(origin), z->origin);
	for (uint32_t i = 0; i < z->node_count; i++) {
		const pd_rrset_t *rs = pd_zone_rrset(z, &z->nodes[i], PD_TYPE_NSEC);
		if (rs && !nsec_count++) {
			nsec = rs;
			nsec_node = i;
		}
	}
	if (z->nsec3_count && !param)
		return pd__builder_fail(cc->b, cc->first_line[z->nsec3[0].rrset],
		                        "NSEC3 records but no NSEC3PARAM at the zone apex %s",
		                        origin);
	if (param) {
		if (nsec)
			pd__warn(cc->b, cc->first_line[nsec - z->rrsets],
			         "both NSEC and NSEC3 records in %s; answers prove with NSEC3",
			         origin);
		return pd__nsec3_checks(cc, param);
	}
	if (!nsec)
		return 0;
	if (!pd_zone_rrset(z, apex, PD_TYPE_NSEC))
		return pd__builder_fail(cc->b, cc->first_line[nsec - z->rrsets],
		                        "NSEC at %s but none at the zone apex %s",
		                        pd__zname(z, z->nodes[nsec_node].name_off, name), origin);
	z->dnssec = PD_ZONE_NSEC;
	return pd__nsec_chain(cc, nsec_count);
}
