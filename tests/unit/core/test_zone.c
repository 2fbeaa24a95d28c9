/* Unit tests for zone compilation and lookup (src/zone.c, src/zoneset.c). */
#include "testutil.h"

#include <stdlib.h>

#include "pindns/nsec3.h"
#include "pindns/query.h"
#include "pindns/zoneset.h"

static pd_zone_builder_t *new_builder(const char *origin)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, origin);
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	assert_non_null(b);
	return b;
}

static void add_apex(pd_zone_builder_t *b, const char *origin)
{
	tu_add_soa(b, origin, 3600, 42, 300);
	char ns[300];
	snprintf(ns, sizeof(ns), "ns1.%s", origin);
	tu_add_name(b, origin, PD_TYPE_NS, ns);
}

static const pd_node_t *find(const pd_zone_t *z, const char *name)
{
	uint8_t n[PD_NAME_MAX], l[PD_NAME_MAX];
	tu_name(n, name);
	size_t len = pd_name_lower(l, n);
	return pd_zone_find(z, l, len);
}

static void compiles_nodes_flags_and_soa(void **state)
{
	pd_zone_builder_t *b = new_builder("Example.COM");
	pd_zone_t *z = NULL;
	add_apex(b, "example.com");
	tu_add_a(b, "WWW.example.com", 192, 0, 2, 1);
	tu_add_a(b, "www.example.com", 192, 0, 2, 2);
	tu_add_a(b, "a.b.ent.example.com", 192, 0, 2, 3);
	tu_add_a(b, "*.apps.example.com", 192, 0, 2, 4);
	tu_add_name(b, "sub.example.com", PD_TYPE_NS, "ns.sub.example.com");
	tu_add_a(b, "ns.sub.example.com", 192, 0, 2, 5);
	tu_add_a(b, "deep.ns.sub.example.com", 192, 0, 2, 6);
	tu_add_name(b, "old.example.com", PD_TYPE_DNAME, "example.org");
	tu_add_a(b, "hidden.old.example.com", 192, 0, 2, 7);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);

	assert_int_equal(z->serial, 42);
	assert_int_equal(z->neg_ttl, 300); /* min(SOA TTL 3600, MINIMUM 300) */
	assert_int_equal(z->record_count, 11);
	const pd_node_t *www = find(z, "www.EXAMPLE.com");
	assert_non_null(www);
	const pd_rrset_t *a = pd_zone_rrset(z, www, PD_TYPE_A);
	assert_non_null(a);
	assert_int_equal(a->count, 2); /* owner case does not split an RRset */
	assert_null(pd_zone_rrset(z, www, PD_TYPE_AAAA));
	assert_true(find(z, "example.com")->flags & PD_NODE_APEX);
	/* Empty non-terminals exist as nodes without data. */
	const pd_node_t *ent = find(z, "ent.example.com");
	assert_non_null(ent);
	assert_int_equal(ent->rrset_count, 0);
	assert_non_null(find(z, "b.ent.example.com"));
	assert_null(find(z, "c.ent.example.com"));
	assert_true(find(z, "apps.example.com")->flags & PD_NODE_WILDCARD);
	const pd_node_t *sub = find(z, "sub.example.com");
	assert_true(sub->flags & PD_NODE_DELEG);
	assert_false(sub->flags & PD_NODE_OCCLUDED);
	/* Glue and everything deeper point at the topmost cut. */
	const pd_node_t *glue = find(z, "deep.ns.sub.example.com");
	assert_true(glue->flags & PD_NODE_OCCLUDED);
	assert_ptr_equal(&z->nodes[glue->cut], sub);
	assert_true(find(z, "old.example.com")->flags & PD_NODE_DNAME);
	assert_true(find(z, "hidden.old.example.com")->flags & PD_NODE_OCCLUDED);
	pd_zone_free(z);
}

static void duplicates_dropped_first_ttl_wins(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	uint8_t rd[4] = {10, 0, 0, 1};
	add_apex(b, "example.com");
	tu_add(b, "x.example.com", PD_TYPE_A, 100, rd, 4);
	tu_add(b, "x.example.com", PD_TYPE_A, 200, rd, 4);
	rd[3] = 2;
	tu_add(b, "x.example.com", PD_TYPE_A, 300, rd, 4);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	const pd_rrset_t *a = pd_zone_rrset(z, find(z, "x.example.com"), PD_TYPE_A);
	assert_int_equal(a->count, 2);
	assert_int_equal(a->ttl, 100);
	/* File order is kept inside the RRset. */
	const uint8_t *d = pd_zone_rrset_data(z, a);
	assert_int_equal(pd_get_u16(d), 4);
	assert_int_equal(d[5], 1);
	assert_int_equal(d[6 + 5], 2);
	pd_zone_free(z);
}

static void expect_error(pd_zone_builder_t *b, const char *needle, int loc)
{
	pd_zone_t *z = NULL;
	assert_int_equal(pd_zone_builder_finish(b, &z), -EINVAL);
	assert_null(z);
	if (!strstr(pd_zone_builder_error(b), needle))
		fail_msg("error '%s' lacks '%s'", pd_zone_builder_error(b), needle);
	assert_int_equal(pd_zone_builder_error_loc(b), loc);
	pd_zone_builder_free(b);
}

static void rejects_missing_soa_and_ns(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	tu_add_name(b, "example.com", PD_TYPE_NS, "ns1.example.com");
	expect_error(b, "no SOA record at the zone apex example.com.", 0);

	b = new_builder("example.com");
	tu_add_soa(b, "example.com", 3600, 1, 300);
	expect_error(b, "no NS records at the zone apex", 0);

	b = new_builder("example.com");
	add_apex(b, "example.com");
	tu_add_soa(b, "example.com", 3600, 2, 300);
	expect_error(b, "more than one SOA", 0);
}

static void rejects_records_outside_and_soa_below_apex(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	uint8_t o[PD_NAME_MAX], rd[4] = {1, 2, 3, 4};
	tu_name(o, "www.example.net");
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_A, 60, rd, 4, 17), -EINVAL);
	assert_string_equal(pd_zone_builder_error(b),
	                    "owner www.example.net. is outside the zone example.com.");
	assert_int_equal(pd_zone_builder_error_loc(b), 17);
	/* "notexample.com" merely ends with the same letters. */
	tu_name(o, "notexample.com");
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_A, 60, rd, 4, 18), -EINVAL);
	tu_name(o, "sub.example.com");
	uint8_t soa[22] = {0};
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_SOA, 60, soa, sizeof(soa), 19), -EINVAL);
	assert_non_null(strstr(pd_zone_builder_error(b), "not at the zone apex"));
	pd_zone_builder_free(b);
}

static void rejects_malformed_name_rdata(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	uint8_t o[PD_NAME_MAX];
	tu_name(o, "x.example.com");
	/* A label running past the end, a compression pointer, bytes after the name. */
	assert_int_equal(
	    pd_zone_builder_add(b, o, PD_TYPE_DNAME, 60, (const uint8_t *)"\5ab", 3, 4), -EINVAL);
	assert_string_equal(pd_zone_builder_error(b), "malformed DNAME RDATA at x.example.com.");
	assert_int_equal(pd_zone_builder_error_loc(b), 4);
	assert_int_equal(
	    pd_zone_builder_add(b, o, PD_TYPE_CNAME, 60, (const uint8_t *)"\1a\xC0\x00", 4, 5),
	    -EINVAL);
	assert_int_equal(
	    pd_zone_builder_add(b, o, PD_TYPE_NS, 60, (const uint8_t *)"\1a\0\0", 4, 6), -EINVAL);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_MX, 60, (const uint8_t *)"\0", 1, 7),
	                 -EINVAL);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_SOA, 60, (const uint8_t *)"\0\0", 2, 8),
	                 -EINVAL);
	/* SRV's target after priority, weight and port; PTR; SOA's fixed fields exactly. */
	assert_int_equal(
	    pd_zone_builder_add(b, o, PD_TYPE_SRV, 60, (const uint8_t *)"\0\1\0\2\0\3\5ab", 9, 10),
	    -EINVAL);
	assert_string_equal(pd_zone_builder_error(b), "malformed SRV RDATA at x.example.com.");
	assert_int_equal(
	    pd_zone_builder_add(b, o, PD_TYPE_SRV, 60, (const uint8_t *)"\0\1\0\2\0\3\1a\0", 9, 11),
	    0);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_PTR, 60, (const uint8_t *)"\1a", 2, 12),
	                 -EINVAL);
	/* At the apex: two root names and 20 bytes, no more and no less. */
	uint8_t soa[2 + 20 + 1] = {0};
	tu_name(o, "example.com");
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_SOA, 60, soa, 23, 14), -EINVAL);
	assert_string_equal(pd_zone_builder_error(b), "malformed SOA RDATA at example.com.");
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_SOA, 60, soa, 21, 15), -EINVAL);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_SOA, 60, soa, 22, 16), 0);
	tu_name(o, "x.example.com");
	/* Types whose RDATA holds no name we read pass as they are; so do the names of the
	 * old RFC 1035 types, which are compressed but never read. */
	assert_int_equal(pd_zone_builder_add(b, o, 65280, 60, (const uint8_t *)"\5ab", 3, 9), 0);
	assert_int_equal(
	    pd_zone_builder_add(b, o, PD_TYPE_MINFO, 60, (const uint8_t *)"\5ab", 3, 9), 0);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_MB, 60, (const uint8_t *)"\5ab", 3, 9),
	                 0);
	pd_zone_builder_free(b);
}

static void rejects_cname_beside_data(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	uint8_t o[PD_NAME_MAX], rd[PD_NAME_MAX];
	add_apex(b, "example.com");
	tu_name(o, "www.example.com");
	size_t n = tu_name(rd, "web.example.com");
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_CNAME, 60, rd, (uint16_t)n, 7), 0);
	tu_add_a(b, "www.example.com", 1, 2, 3, 4);
	expect_error(b, "CNAME at www.example.com. beside other data (A)", 7);

	b = new_builder("example.com");
	add_apex(b, "example.com");
	tu_add_name(b, "www.example.com", PD_TYPE_CNAME, "a.example.com");
	tu_add_name(b, "www.example.com", PD_TYPE_CNAME, "b.example.com");
	expect_error(b, "more than one CNAME record at www.example.com.", 0);

	/* At the apex, a CNAME meets the SOA. */
	b = new_builder("example.com");
	add_apex(b, "example.com");
	tu_add_name(b, "example.com", PD_TYPE_CNAME, "a.example.net");
	expect_error(b, "CNAME at example.com. beside other data", 0);

	/* DNSSEC records may stand beside a CNAME (RFC 4035 2.5). */
	pd_zone_t *z = NULL;
	b = new_builder("example.com");
	add_apex(b, "example.com");
	tu_add_name(b, "www.example.com", PD_TYPE_CNAME, "a.example.com");
	uint8_t nsec[PD_NAME_MAX + 8];
	size_t nl = tu_name(nsec, "example.com");
	memcpy(nsec + nl, "\0\1\x40", 3);
	tu_add(b, "www.example.com", PD_TYPE_NSEC, 60, nsec, nl + 3);
	nl = tu_name(nsec, "www.example.com"); /* a whole chain: the apex's NSEC too */
	memcpy(nsec + nl, "\0\1\x40", 3);
	tu_add(b, "example.com", PD_TYPE_NSEC, 60, nsec, nl + 3);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	pd_zone_free(z);
}

static void large_zone_lookups(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	char name[64];
	add_apex(b, "example.com");
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "h%d.g%d.example.com", i, i % 97);
		tu_add_a(b, name, 10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i);
	}
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	/* 20000 hosts + 97 group non-terminals + the apex. */
	assert_int_equal(z->node_count, 20000 + 97 + 1);
	for (int i = 0; i < 20000; i += 7) {
		snprintf(name, sizeof(name), "H%d.g%d.example.com", i, i % 97);
		const pd_node_t *n = find(z, name);
		assert_non_null(n);
		const uint8_t *d = pd_zone_rrset_data(z, pd_zone_rrset(z, n, PD_TYPE_A));
		assert_int_equal(d[5], (uint8_t)i);
	}
	assert_null(find(z, "h1.g2.example.com"));
	pd_zone_free(z);
}

static void ent_insertion_that_moves_nodes(void **state)
{
	/* 64 nodes with data fill the node array; the ENT "g" makes it grow and move. */
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	char name[64];
	add_apex(b, "example.com");
	tu_add_a(b, "ns1.example.com", 192, 0, 2, 1);
	for (int i = 0; i < 62; i++) {
		snprintf(name, sizeof(name), "h%d.g.example.com", i);
		tu_add_a(b, name, 10, 0, 0, (uint8_t)i);
	}
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	assert_int_equal(z->node_count, 65);
	assert_int_equal(z->serial, 42);
	assert_int_equal(z->neg_ttl, 300);
	pd_zone_free(z);
}

static void owner_coming_back_later(void **state)
{
	/* File order with the apex and www each split over two runs. */
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8};
	tu_add_soa(b, "example.com", 3600, 42, 300);
	tu_add_a(b, "www.example.com", 192, 0, 2, 1);
	tu_add_name(b, "EXAMPLE.com", PD_TYPE_NS, "ns1.example.com");
	tu_add_a(b, "ns1.example.com", 192, 0, 2, 2);
	tu_add(b, "www.example.com", PD_TYPE_AAAA, 60, aaaa, 16);
	tu_add_a(b, "www.example.com", 192, 0, 2, 3);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	assert_int_equal(z->node_count, 3);
	const pd_node_t *apex = find(z, "example.com");
	assert_non_null(pd_zone_rrset(z, apex, PD_TYPE_SOA));
	assert_non_null(pd_zone_rrset(z, apex, PD_TYPE_NS));
	const pd_node_t *www = find(z, "www.example.com");
	assert_int_equal(www->rrset_count, 2);
	assert_int_equal(pd_zone_rrset(z, www, PD_TYPE_A)->count, 2);
	/* File order survives inside the RRset. */
	const uint8_t *d = pd_zone_rrset_data(z, pd_zone_rrset(z, www, PD_TYPE_A));
	assert_int_equal(d[5], 1);
	assert_int_equal(d[11], 3);
	pd_zone_free(z);
}

static pd_zone_t *small_zone(const char *origin)
{
	pd_zone_builder_t *b = new_builder(origin);
	pd_zone_t *z = NULL;
	add_apex(b, origin);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	return z;
}

/* Adds a record with a location, so errors and warnings can be told apart. */
static void add_at(pd_zone_builder_t *b, const char *owner, uint16_t type, const void *rd,
                   size_t len, int loc)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, owner);
	/* The location doubles as the TTL: the first record's is the RRset's. */
	assert_int_equal(
	    pd_zone_builder_add(b, o, type, 1000 + (uint32_t)loc, rd, (uint16_t)len, loc), 0);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	pd_put_u16(p, (uint16_t)(v >> 16));
	pd_put_u16(p + 2, (uint16_t)v);
}

/* RRSIG RDATA covering a type, expiring at exp, with a 4-byte "signature" tag. */
static size_t rrsig_rdata(uint8_t *rd, uint16_t covered, uint32_t exp, uint8_t tag)
{
	pd_put_u16(rd, covered);
	rd[2] = 13; /* ECDSAP256SHA256 */
	rd[3] = 2;
	put_u32(rd + 4, 3600);
	put_u32(rd + 8, exp);
	put_u32(rd + 12, exp - 30 * 86400);
	pd_put_u16(rd + 16, 4242);
	size_t n = 18 + tu_name(rd + 18, "example.com");
	memset(rd + n, tag, 4);
	return n + 4;
}

#define SIG_EXP 2000000000u /* 2033: far enough for every test not about expiry */

static void add_rrsig(pd_zone_builder_t *b, const char *owner, uint16_t covered, uint32_t exp,
                      uint8_t tag, int loc)
{
	uint8_t rd[64];
	add_at(b, owner, PD_TYPE_RRSIG, rd, rrsig_rdata(rd, covered, exp, tag), loc);
}

static void add_nsec(pd_zone_builder_t *b, const char *owner, const char *next, int loc)
{
	uint8_t rd[PD_NAME_MAX + 8];
	size_t n = tu_name(rd, next);
	memcpy(rd + n, "\0\1\x40", 3); /* a bitmap; nothing reads it */
	add_at(b, owner, PD_TYPE_NSEC, rd, n + 3, loc);
}

/*
 * The placement pd_zone_rrsig() relies on: at every node, an RRSIG RRset follows the
 * RRset of the type each of its records covers, and no RRset starts a node or follows
 * another RRSIG RRset.
 */
static void check_rrsig_placement(const pd_zone_t *z)
{
	for (uint32_t i = 0; i < z->node_count; i++) {
		const pd_node_t *n = &z->nodes[i];
		for (uint32_t k = 0; k < n->rrset_count; k++) {
			const pd_rrset_t *rs = &z->rrsets[n->rrset_first + k];
			if (rs->type != PD_TYPE_RRSIG) {
				const pd_rrset_t *sig = pd_zone_rrsig(z, rs);
				assert_true(!sig || k + 1 < n->rrset_count);
				continue;
			}
			assert_true(k > 0);
			assert_int_not_equal(rs[-1].type, PD_TYPE_RRSIG);
			assert_ptr_equal(pd_zone_rrsig(z, &rs[-1]), rs);
			const uint8_t *d = pd_zone_rrset_data(z, rs);
			for (uint16_t r = 0; r < rs->count; r++) {
				assert_int_equal(pd_get_u16(d + 2), rs[-1].type);
				d += 2 + pd_get_u16(d);
			}
		}
	}
}

/* The last byte of record i of an RRset: the tag rrsig_rdata() put in the signature. */
static uint8_t sig_tag(const pd_zone_t *z, const pd_rrset_t *rs, int i)
{
	const uint8_t *d = pd_zone_rrset_data(z, rs);
	while (i-- > 0)
		d += 2 + pd_get_u16(d);
	return d[2 + pd_get_u16(d) - 1];
}

/* Whether warning text needle was given, at loc. */
static bool has_warning(const pd_zone_builder_t *b, const char *needle, int loc)
{
	unsigned n = pd_zone_builder_warning_count(b);
	for (unsigned i = 0; i < n && i < PD_ZONE_WARN_MAX; i++) {
		int wloc;
		const char *w = pd_zone_builder_warning(b, i, &wloc);
		if (strstr(w, needle) && wloc == loc)
			return true;
	}
	for (unsigned i = 0; i < n && i < PD_ZONE_WARN_MAX; i++) {
		int wloc;
		const char *w = pd_zone_builder_warning(b, i, &wloc);
		print_message("warning at %d: %s\n", wloc, w); /* what there was instead */
	}
	return false;
}

static void rrsigs_grouped_after_what_they_cover(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8};
	add_apex(b, "example.com");
	add_rrsig(b, "example.com", PD_TYPE_NS, SIG_EXP, 1, 0);
	add_rrsig(b, "example.com", PD_TYPE_SOA, SIG_EXP, 2, 0);
	/* RRSIGs before their data, two keys over AAAA, one over MX with no MX (an orphan). */
	add_rrsig(b, "www.example.com", PD_TYPE_AAAA, SIG_EXP, 3, 10);
	add_rrsig(b, "www.example.com", PD_TYPE_MX, SIG_EXP, 4, 11);
	tu_add(b, "www.example.com", PD_TYPE_AAAA, 60, aaaa, 16);
	add_rrsig(b, "www.example.com", PD_TYPE_AAAA, SIG_EXP, 5, 12);
	tu_add_a(b, "www.example.com", 192, 0, 2, 1);
	add_rrsig(b, "www.example.com", PD_TYPE_A, SIG_EXP, 6, 13);
	/* An unsigned node, then one whose RRSIG covers a type that sorts before all its data. */
	tu_add_a(b, "a.example.com", 192, 0, 2, 2);
	add_rrsig(b, "b.example.com", PD_TYPE_A, SIG_EXP, 7, 14);
	tu_add_txt(b, "b.example.com", "no A here");
	/* Only RRSIGs: no node at all. */
	add_rrsig(b, "ghost.example.com", PD_TYPE_A, SIG_EXP, 8, 15);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);

	check_rrsig_placement(z);
	const pd_node_t *www = find(z, "www.example.com");
	assert_int_equal(www->rrset_count, 4); /* A, RRSIG, AAAA, RRSIG */
	const pd_rrset_t *a = pd_zone_rrset(z, www, PD_TYPE_A);
	const pd_rrset_t *sig = pd_zone_rrsig(z, a);
	assert_non_null(sig);
	assert_int_equal(sig->count, 1);
	sig = pd_zone_rrsig(z, pd_zone_rrset(z, www, PD_TYPE_AAAA));
	assert_int_equal(sig->count, 2);
	/* File order in the RRset; the TTL of its first record, as for any RRset. */
	assert_int_equal(sig_tag(z, sig, 0), 3);
	assert_int_equal(sig_tag(z, sig, 1), 5);
	assert_int_equal(sig->ttl, 1010);
	assert_null(pd_zone_rrsig(z, pd_zone_rrset(z, find(z, "a.example.com"), PD_TYPE_A)));
	const pd_node_t *bn = find(z, "b.example.com");
	assert_int_equal(bn->rrset_count, 1);
	assert_null(pd_zone_rrsig(z, pd_zone_rrset(z, bn, PD_TYPE_TXT)));
	assert_null(find(z, "ghost.example.com"));
	assert_non_null(pd_zone_rrsig(z, pd_zone_rrset(z, find(z, "example.com"), PD_TYPE_SOA)));
	assert_int_equal(z->record_count, 2 + 2 + 1 + 1 + 2 + 1 + 1 + 1);

	assert_int_equal(pd_zone_builder_warning_count(b), 3);
	assert_true(has_warning(b, "RRSIG covering MX at www.example.com. without such RRset", 11));
	assert_true(has_warning(b, "RRSIG covering A at b.example.com. without such RRset", 14));
	assert_true(
	    has_warning(b, "RRSIG covering A at ghost.example.com. without such RRset", 15));
	/* Warnings start again at each finish. */
	pd_zone_free(z);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(pd_zone_builder_warning_count(b), 3);
	assert_null(pd_zone_builder_warning(b, 3, NULL));
	pd_zone_builder_free(b);
	pd_zone_free(z);
}

static void rrsigs_grouped_when_owners_come_back(void **state)
{
	/* RRSIGs far from their data: the whole zone is sorted, and the placement holds. */
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	add_rrsig(b, "later.example.com", PD_TYPE_A, SIG_EXP, 1, 1);
	add_apex(b, "example.com");
	tu_add_a(b, "www.example.com", 192, 0, 2, 1);
	tu_add_a(b, "later.example.com", 192, 0, 2, 2);
	add_rrsig(b, "www.example.com", PD_TYPE_A, SIG_EXP, 2, 2);
	add_rrsig(b, "example.com", PD_TYPE_SOA, SIG_EXP, 3, 3);
	add_rrsig(b, "www.example.com", PD_TYPE_TXT, SIG_EXP, 4, 4);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	check_rrsig_placement(z);
	assert_non_null(
	    pd_zone_rrsig(z, pd_zone_rrset(z, find(z, "later.example.com"), PD_TYPE_A)));
	assert_non_null(pd_zone_rrsig(z, pd_zone_rrset(z, find(z, "www.example.com"), PD_TYPE_A)));
	assert_non_null(pd_zone_rrsig(z, pd_zone_rrset(z, find(z, "example.com"), PD_TYPE_SOA)));
	assert_null(pd_zone_rrsig(z, pd_zone_rrset(z, find(z, "example.com"), PD_TYPE_NS)));
	/* Only the orphan warned: the first pass's warnings were forgotten. */
	assert_int_equal(pd_zone_builder_warning_count(b), 1);
	assert_true(has_warning(b, "RRSIG covering TXT at www.example.com.", 4));
	pd_zone_builder_free(b);
	pd_zone_free(z);
}

static void rejects_malformed_rrsig(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	uint8_t o[PD_NAME_MAX], rd[64];
	tu_name(o, "x.example.com");
	size_t n = rrsig_rdata(rd, PD_TYPE_A, SIG_EXP, 1);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_RRSIG, 60, rd, 17, 21), -EINVAL);
	assert_string_equal(pd_zone_builder_error(b), "malformed RRSIG RDATA at x.example.com.");
	assert_int_equal(pd_zone_builder_error_loc(b), 21);
	/* The fields but no signer; a signer cut short; a compressed one. */
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_RRSIG, 60, rd, 18, 22), -EINVAL);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_RRSIG, 60, rd, 22, 23), -EINVAL);
	rd[18] = 0xC0;
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_RRSIG, 60, rd, (uint16_t)n, 24),
	                 -EINVAL);
	rrsig_rdata(rd, PD_TYPE_A, SIG_EXP, 1);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_RRSIG, 60, rd, (uint16_t)n, 25), 0);
	/* A signer and no signature is well formed here: validators judge signatures. */
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_RRSIG, 60, rd, (uint16_t)n - 4, 26), 0);
	/* NSEC: a next name; NSEC3: its fields; NSEC3PARAM: its fields and nothing more. */
	assert_int_equal(
	    pd_zone_builder_add(b, o, PD_TYPE_NSEC, 60, (const uint8_t *)"\5ab", 3, 27), -EINVAL);
	assert_string_equal(pd_zone_builder_error(b), "malformed NSEC RDATA at x.example.com.");
	assert_int_equal(
	    pd_zone_builder_add(b, o, PD_TYPE_NSEC3, 60, (const uint8_t *)"\1\0\0\0\4ab", 7, 28),
	    -EINVAL);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_NSEC3PARAM, 60,
	                                     (const uint8_t *)"\1\0\0\0\1ab", 7, 29),
	                 -EINVAL);
	assert_int_equal(pd_zone_builder_add(b, o, PD_TYPE_NSEC3PARAM, 60,
	                                     (const uint8_t *)"\1\0\0\0\2ab", 7, 30),
	                 0);
	pd_zone_builder_free(b);
}

static void rrsig_and_nsec_beside_cname(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	add_apex(b, "example.com");
	add_nsec(b, "example.com", "www.example.com", 0);
	tu_add_name(b, "www.example.com", PD_TYPE_CNAME, "a.example.org");
	add_rrsig(b, "www.example.com", PD_TYPE_CNAME, SIG_EXP, 1, 0);
	add_nsec(b, "www.example.com", "example.com", 0);
	add_rrsig(b, "www.example.com", PD_TYPE_NSEC, SIG_EXP, 2, 0);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	check_rrsig_placement(z);
	assert_int_equal(find(z, "www.example.com")->rrset_count, 4);
	pd_zone_builder_free(b);
	pd_zone_free(z);
	/* Still: a signed A is other data. */
	b = new_builder("example.com");
	add_apex(b, "example.com");
	tu_add_name(b, "www.example.com", PD_TYPE_CNAME, "a.example.org");
	add_rrsig(b, "www.example.com", PD_TYPE_CNAME, SIG_EXP, 1, 0);
	tu_add_a(b, "www.example.com", 1, 2, 3, 4);
	add_rrsig(b, "www.example.com", PD_TYPE_A, SIG_EXP, 2, 0);
	expect_error(b, "CNAME at www.example.com. beside other data (A)", 0);
}

/*
 * An NSEC zone: the apex, a, an empty non-terminal c over b.c, a delegation sub with
 * glue, a wildcard under the empty non-terminal w, and z; in canonical order the chain
 * is example.com, a, b.c, sub, *.w, z. skip: an owner whose NSEC is left out.
 */
static pd_zone_builder_t *nsec_zone(const char *skip, const char *a_next)
{
	static const char *const chain[] = {"example.com",     "a.example.com",   "b.c.example.com",
	                                    "sub.example.com", "*.w.example.com", "z.example.com"};
	enum { N = sizeof(chain) / sizeof(chain[0]) };
	pd_zone_builder_t *b = new_builder("example.com");
	add_apex(b, "example.com");
	tu_add_a(b, "a.example.com", 192, 0, 2, 1);
	tu_add_a(b, "b.c.example.com", 192, 0, 2, 2);
	tu_add_name(b, "sub.example.com", PD_TYPE_NS, "ns.sub.example.com");
	tu_add_a(b, "ns.sub.example.com", 192, 0, 2, 3);
	tu_add_a(b, "*.w.example.com", 192, 0, 2, 4);
	tu_add_a(b, "z.example.com", 192, 0, 2, 5);
	/* Listed out of order, as the checks must not rely on the file's. */
	for (int i = N - 1; i >= 0; i--) {
		const char *next = i == 1 && a_next ? a_next : chain[(i + 1) % N];
		if (!skip || strcmp(skip, chain[i]) != 0)
			add_nsec(b, chain[i], next, 100 + i);
	}
	return b;
}

/* The name of the node pd_zone_nsec_find() gives for name. */
static void expect_nsec(const pd_zone_t *z, const char *name, const char *owner)
{
	uint8_t n[PD_NAME_MAX], l[PD_NAME_MAX];
	char got[PD_NAME_TXT_MAX], want[PD_NAME_TXT_MAX];
	size_t len = pd_name_lower(l, n + 0 * tu_name(n, name));
	const pd_node_t *node = pd_zone_nsec_find(z, l, len);
	assert_non_null(node);
	pd_name_to_str(got, sizeof(got), pd_zone_node_name(z, node));
	snprintf(want, sizeof(want), "%s.", owner);
	if (strcmp(got, want) != 0)
		fail_msg("NSEC for %s: %s, expected %s", name, got, want);
}

static void nsec_chain_index(void **state)
{
	pd_zone_builder_t *b = nsec_zone(NULL, NULL);
	pd_zone_t *z = NULL;
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(pd_zone_builder_warning_count(b), 0);
	pd_zone_builder_free(b);
	assert_int_equal(z->dnssec, PD_ZONE_NSEC);
	assert_int_equal(z->nsec_count, 6);
	assert_ptr_equal(&z->nodes[z->nsec[0]], find(z, "example.com"));
	assert_ptr_equal(&z->nodes[z->nsec[5]], find(z, "z.example.com"));
	/* Matches. */
	expect_nsec(z, "example.com", "example.com");
	expect_nsec(z, "A.example.com", "a.example.com");
	expect_nsec(z, "*.w.example.com", "*.w.example.com");
	/* Covers: before a, after a and below it, the empty non-terminal c (before b.c), past
	 * the delegation and under it, between *.w and z, and after z up to the apex. */
	expect_nsec(z, "0.example.com", "example.com");
	expect_nsec(z, "x.a.example.com", "a.example.com");
	expect_nsec(z, "c.example.com", "a.example.com");
	expect_nsec(z, "a.b.c.example.com", "b.c.example.com");
	expect_nsec(z, "x.ns.sub.example.com", "sub.example.com");
	expect_nsec(z, "w.example.com", "sub.example.com");
	expect_nsec(z, "x.w.example.com", "*.w.example.com");
	expect_nsec(z, "y.example.com", "*.w.example.com");
	expect_nsec(z, "zz.example.com", "z.example.com");
	expect_nsec(z, "a.z.example.com", "z.example.com");
	assert_null(pd_zone_nsec3_find(z, (const uint8_t *)"\0", 1, &(bool){false}));
	pd_zone_free(z);

	/* Unsigned: no chain, no index. */
	z = small_zone("example.com");
	assert_int_equal(z->dnssec, PD_ZONE_UNSIGNED);
	assert_null(pd_zone_nsec_find(z, (const uint8_t *)"\7example\3com", 13));
	pd_zone_free(z);
}

/* A large NSEC chain: the index sorts as pd_name_canonical_cmp() does. */
static void nsec_index_large(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	enum { N = 3000 };
	static char names[N + 1][64];
	add_apex(b, "example.com");
	snprintf(names[0], sizeof(names[0]), "example.com");
	for (int i = 1; i <= N; i++) {
		/* Shared prefixes, labels that are prefixes of others, a second level. */
		snprintf(names[i], sizeof(names[i]),
		         i % 3 ? "h%d.example.com" : "x.hhhhhhh%d.example.com", i * 7919 % 10007);
		tu_add_a(b, names[i], 10, 0, (uint8_t)(i >> 8), (uint8_t)i);
	}
	/* Sort the names with the comparator under test, then chain them. */
	static uint8_t wire[N + 1][PD_NAME_MAX];
	static int order[N + 1];
	for (int i = 0; i <= N; i++) {
		tu_name(wire[i], names[i]);
		order[i] = i;
	}
	for (int i = 1; i <= N; i++) /* insertion sort: slow, plain, and not the code's */
		for (int j = i;
		     j > 0 && pd_name_canonical_cmp(wire[order[j - 1]], wire[order[j]]) > 0; j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i <= N; i++)
		add_nsec(b, names[order[i]], names[order[(i + 1) % (N + 1)]], i);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	/* Every "x.hhhhhhhN" adds an empty non-terminal "hhhhhhhN", which has no NSEC. */
	assert_int_equal(z->nsec_count, N + 1);
	for (int i = 0; i <= N; i++)
		expect_nsec(z, names[order[i]], names[order[i]]);
	pd_zone_free(z);
}

static void nsec_chain_errors(void **state)
{
	pd_zone_builder_t *b = nsec_zone(NULL, "c.example.com");
	expect_error(b,
	             "NSEC chain broken at a.example.com.: next name is c.example.com., expected "
	             "b.c.example.com.",
	             101);
	/* The last must point back at the apex. */
	b = nsec_zone("z.example.com", NULL);
	add_nsec(b, "z.example.com", "zz.example.com", 7);
	expect_error(b,
	             "NSEC chain broken at z.example.com.: next name is zz.example.com., expected "
	             "example.com.",
	             7);
	/* A name with data but no NSEC; a delegation too. */
	b = nsec_zone("b.c.example.com", NULL);
	expect_error(b, "no NSEC at b.c.example.com.", 0);
	b = nsec_zone("sub.example.com", NULL);
	expect_error(b, "no NSEC at sub.example.com.", 0);
	/* Glue owns none. */
	b = nsec_zone(NULL, NULL);
	add_nsec(b, "ns.sub.example.com", "z.example.com", 8);
	expect_error(b, "NSEC at ns.sub.example.com., below sub.example.com., which is a zone cut",
	             8);
	/* One per name. */
	b = nsec_zone(NULL, NULL);
	add_nsec(b, "a.example.com", "b.example.com", 9);
	expect_error(b, "more than one NSEC record at a.example.com.", 101);
	/* NSECs, but none at the apex: no chain to prove with. */
	b = new_builder("example.com");
	add_apex(b, "example.com");
	tu_add_a(b, "a.example.com", 192, 0, 2, 1);
	add_nsec(b, "a.example.com", "example.com", 5);
	expect_error(b, "NSEC at a.example.com. but none at the zone apex example.com.", 5);
}

/* RFC 5155 Appendix A's names that have an NSEC3, with their hashes (salt aabbccdd, 12
 * iterations), in hash order. Its name 2t7b4g4vsa5smi47k61mv5bv1a22bojr.example is left
 * out: it is also an NSEC3 owner there, which this compiler refuses. */
static const char *const rfc_links[][2] = {
    {"example", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"},
    {"ns1.example", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"},
    {"x.y.w.example", "2vptu5timamqttgl4luu9kg21e0aor3s"},
    {"a.example", "35mthgpgcu1qg68fab165klnsnk3dpvl"},
    {"x.w.example", "b4um86eghhds6nea196smvmlo4ors995"},
    {"ai.example", "gjeqe526plbf1g8mklp59enfd789njgi"},
    {"y.w.example", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"},
    {"w.example", "k8udemvp1j2f7eg6jebps17vp3n8i58h"},
    {"ns2.example", "q04jkcevqvmu85r014c7dkba38o0ji5r"},
    {"*.w.example", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"},
    {"xx.example", "t644ebqk9bibcna874givr6joj62mlhv"},
};
enum { RFC_LINKS = sizeof(rfc_links) / sizeof(rfc_links[0]) };
static const uint8_t rfc_salt[4] = {0xaa, 0xbb, 0xcc, 0xdd};

/* How nsec3_zone() spoils the zone; zero: not at all. */
typedef struct n3opt {
	const char *skip;  /* a name whose NSEC3 is left out, the chain closed over it */
	const char *extra; /* a name not in the zone that gets an NSEC3 */
	bool no_optout;    /* NSEC3 flags 0: c.example, unsigned, then needs one */
	bool no_param;
	uint8_t param[2];     /* NSEC3PARAM algorithm - 1 and flags */
	int bad_next;         /* 1 + the link whose next hashed owner is its own hash */
	int bad_params;       /* 1 + the link with 11 iterations */
	int bad_salt;         /* 1 + the link with salt aabbccde */
	const char *bad_name; /* the owner label of the last link, as it is */
	bool other_chain;     /* a second whole chain, salt aabbccde, at locations 200 + i */
} n3opt_t;

static void add_nsec3(pd_zone_builder_t *b, const char *owner_b32, const char *next_b32,
                      uint8_t flags, uint16_t iterations, const uint8_t *salt, int loc)
{
	uint8_t rd[64];
	char owner[300];
	size_t n = 0;
	rd[n++] = 1;
	rd[n++] = flags;
	pd_put_u16(rd + n, iterations);
	n += 2;
	rd[n++] = 4;
	memcpy(rd + n, salt, 4);
	n += 4;
	rd[n++] = PD_NSEC3_HASH_LEN;
	assert_int_equal(pd_base32hex_decode(rd + n, PD_NSEC3_HASH_LEN, next_b32, 32), 20);
	n += PD_NSEC3_HASH_LEN;
	memcpy(rd + n, "\0\1\x40", 3);
	snprintf(owner, sizeof(owner), "%s.example", owner_b32);
	add_at(b, owner, PD_TYPE_NSEC3, rd, n + 3, loc);
}

static void hash_b32(char *out, const char *name)
{
	uint8_t n[PD_NAME_MAX], l[PD_NAME_MAX], h[PD_NSEC3_HASH_LEN];
	size_t len = pd_name_lower(l, n + 0 * tu_name(n, name));
	pd_nsec3_hash(h, l, len, rfc_salt, sizeof(rfc_salt), 12);
	out[pd_base32hex_encode(out, h, sizeof(h))] = '\0';
}

static int b32_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * RFC 5155 Appendix A's zone: a signed delegation a, an unsigned one c (opt-out), glue,
 * the empty non-terminals w and y.w, a wildcard. Link i is at location 100 + i, the
 * NSEC3PARAM at 50; RRSIGs over the first three links.
 */
static pd_zone_builder_t *nsec3_zone(const n3opt_t *o)
{
	pd_zone_builder_t *b = new_builder("example");
	uint8_t ds[24] = {0x12, 0x34, 8, 2};
	add_apex(b, "example");
	tu_add_name(b, "example", PD_TYPE_NS, "ns2.example");
	tu_add_mx(b, "example", 1, "xx.example");
	tu_add_name(b, "a.example", PD_TYPE_NS, "ns1.a.example");
	tu_add(b, "a.example", PD_TYPE_DS, 3600, ds, sizeof(ds));
	tu_add_a(b, "ns1.a.example", 192, 0, 2, 5);
	tu_add_a(b, "ai.example", 192, 0, 2, 9);
	tu_add_name(b, "c.example", PD_TYPE_NS, "ns1.c.example");
	tu_add_a(b, "ns1.c.example", 192, 0, 2, 7);
	tu_add_a(b, "ns1.example", 192, 0, 2, 1);
	tu_add_a(b, "ns2.example", 192, 0, 2, 2);
	tu_add_mx(b, "*.w.example", 1, "ai.example");
	tu_add_mx(b, "x.w.example", 1, "xx.example");
	tu_add_mx(b, "x.y.w.example", 1, "xx.example");
	tu_add_a(b, "xx.example", 192, 0, 2, 10);
	if (!o->no_param) {
		uint8_t p[9] = {(uint8_t)(1 + o->param[0]), o->param[1], 0, 12, 4};
		memcpy(p + 5, rfc_salt, 4);
		add_at(b, "example", PD_TYPE_NSEC3PARAM, p, sizeof(p), 50);
	}
	static char links[RFC_LINKS + 1][PD_NSEC3_B32_LEN + 1];
	int n = 0;
	for (int i = 0; i < RFC_LINKS; i++)
		if (!o->skip || strcmp(o->skip, rfc_links[i][0]) != 0)
			snprintf(links[n++], sizeof(links[0]), "%s", rfc_links[i][1]);
	if (o->extra)
		hash_b32(links[n++], o->extra);
	qsort(links, (size_t)n, sizeof(links[0]), b32_cmp);
	for (int i = n - 1; i >= 0; i--) { /* backwards: the file's order does not matter */
		static const uint8_t salt2[4] = {0xaa, 0xbb, 0xcc, 0xde};
		const char *next = o->bad_next == i + 1 ? links[i] : links[(i + 1) % n];
		const char *owner = o->bad_name && i == n - 1 ? o->bad_name : links[i];
		uint16_t iter = o->bad_params == i + 1 ? 11 : 12;
		add_nsec3(b, owner, next, o->no_optout ? 0 : 1, iter,
		          o->bad_salt == i + 1 ? salt2 : rfc_salt, 100 + i);
		if (i < 3) {
			char full[300];
			snprintf(full, sizeof(full), "%s.example", links[i]);
			add_rrsig(b, full, PD_TYPE_NSEC3, SIG_EXP, (uint8_t)i, 0);
		}
	}
	for (int i = 0; o->other_chain && i < n; i++) {
		/* Owners one digit off the real ones: a chain of its own, in the same order. */
		static const uint8_t salt2[4] = {0xaa, 0xbb, 0xcc, 0xde};
		char owner[PD_NSEC3_B32_LEN + 1], next[PD_NSEC3_B32_LEN + 1];
		snprintf(owner, sizeof(owner), "%s", links[i]);
		snprintf(next, sizeof(next), "%s", links[(i + 1) % n]);
		owner[31] = owner[31] == '0' ? '1' : '0';
		next[31] = next[31] == '0' ? '1' : '0';
		add_nsec3(b, owner, next, 1, 12, salt2, 200 + i);
	}
	return b;
}

/* The owner label of the link pd_zone_nsec3_find() gives for name; *match as it says. */
static const char *nsec3_for(const pd_zone_t *z, const char *name, bool *match)
{
	static char label[64];
	uint8_t n[PD_NAME_MAX], l[PD_NAME_MAX];
	size_t len = pd_name_lower(l, n + 0 * tu_name(n, name));
	const pd_nsec3_t *link = pd_zone_nsec3_find(z, l, len, match);
	assert_non_null(link);
	const uint8_t *owner = z->names + link->name_off;
	memcpy(label, owner + 1, owner[0]);
	label[owner[0]] = '\0';
	return label;
}

static void nsec3_rfc5155_zone(void **state)
{
	pd_zone_builder_t *b = nsec3_zone(&(n3opt_t){0});
	pd_zone_t *z = NULL;
	bool match;
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(z->dnssec, PD_ZONE_NSEC3);
	assert_int_equal(z->nsec3_iterations, 12);
	assert_int_equal(z->nsec3_salt_len, 4);
	assert_memory_equal(pd_zone_nsec3_salt(z), rfc_salt, 4);
	assert_int_equal(pd_zone_builder_warning_count(b), 1);
	assert_true(
	    has_warning(b, "NSEC3PARAM at example. has 12 iterations; RFC 9276 asks for 0", 50));
	pd_zone_builder_free(b);
	/* The chain in hash order, its owners no nodes, its RRsets after every node's. */
	assert_int_equal(z->nsec3_count, RFC_LINKS);
	uint32_t node_rrsets = 0;
	for (uint32_t i = 0; i < z->node_count; i++)
		node_rrsets += z->nodes[i].rrset_count;
	check_rrsig_placement(z);
	for (int i = 0; i < RFC_LINKS; i++) {
		const pd_nsec3_t *l = &z->nsec3[i];
		const uint8_t *owner = z->names + l->name_off;
		assert_int_equal(owner[0], 32);
		assert_memory_equal(owner + 1, rfc_links[i][1], 32);
		assert_null(pd_zone_find(z, owner, l->name_len));
		assert_int_equal(l->flags, PD_NSEC3_OPTOUT);
		const pd_rrset_t *rs = pd_zone_nsec3_rrset(z, l);
		assert_int_equal(rs->type, PD_TYPE_NSEC3);
		assert_true(l->rrset >= node_rrsets);
		const pd_rrset_t *sig = pd_zone_rrsig(z, rs);
		if (i < 3) {
			assert_non_null(sig);
			assert_int_equal(pd_get_u16(pd_zone_rrset_data(z, sig) + 2), PD_TYPE_NSEC3);
		} else {
			assert_null(sig);
		}
	}
	assert_int_equal(z->rrset_count, node_rrsets + RFC_LINKS + 3);
	/* Every name with an NSEC3 matches its own. */
	for (int i = 0; i < RFC_LINKS; i++) {
		assert_string_equal(nsec3_for(z, rfc_links[i][0], &match), rfc_links[i][1]);
		assert_true(match);
	}
	assert_string_equal(nsec3_for(z, "XX.Example", &match), "t644ebqk9bibcna874givr6joj62mlhv");
	assert_true(match);
	/* RFC 5155 B.1: a.c.x.w.example's next closer and wildcard; B.3: the opt-out span
	 * over c.example. */
	assert_string_equal(nsec3_for(z, "c.x.w.example", &match),
	                    "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
	assert_false(match);
	assert_string_equal(nsec3_for(z, "*.x.w.example", &match),
	                    "35mthgpgcu1qg68fab165klnsnk3dpvl");
	assert_false(match);
	assert_string_equal(nsec3_for(z, "c.example", &match), "35mthgpgcu1qg68fab165klnsnk3dpvl");
	assert_false(match);
	/* Before the first link, the last covers (the chain wraps); after it, too. */
	int before = 0, after = 0;
	for (int i = 0; i < 5000 && (!before || !after); i++) {
		char name[32], h[PD_NSEC3_B32_LEN + 1];
		snprintf(name, sizeof(name), "n%d.example", i);
		hash_b32(h, name);
		bool first = strcmp(h, rfc_links[0][1])<0, last = strcmp(h, rfc_links[10][1])> 0;
		if (!first && !last)
			continue;
		assert_string_equal(nsec3_for(z, name, &match), "t644ebqk9bibcna874givr6joj62mlhv");
		assert_false(match);
		before += first;
		after += last;
	}
	assert_true(before && after);
	assert_null(pd_zone_nsec_find(z, (const uint8_t *)"\7example", 9));
	pd_zone_free(z);
}

/* The NSEC3 zone spoiled by o fails to compile with an error holding needle, at loc. */
static void nsec3_error(const n3opt_t *o, const char *needle, int loc)
{
	expect_error(nsec3_zone(o), needle, loc);
}

/*
 * RFC 5155 7.3: while the salt changes a zone has two chains; the NSEC3PARAM's answers,
 * the other is left out with a warning. NSEC3PARAM flags are ignored (4.1.2), as Knot.
 */
static void nsec3_other_chain_and_flags(void **state)
{
	pd_zone_builder_t *b = nsec3_zone(&(n3opt_t){.other_chain = true, .param = {0, 1}});
	pd_zone_t *z = NULL;
	bool match;
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(z->dnssec, PD_ZONE_NSEC3);
	assert_int_equal(z->nsec3_count, RFC_LINKS);
	assert_true(has_warning(b, "NSEC3PARAM at example. has flags 1, not 0: ignored", 50));
	assert_true(has_warning(b,
	                        "11 NSEC3 record(s) with other parameters than the NSEC3PARAM's "
	                        "are left out of the chain, the first at "
	                        "0p9mhaveqvm6t7vbl5lop2u3t2rp3to0.example. (algorithm 1, 12 "
	                        "iterations, salt aabbccde; the NSEC3PARAM has 12 iterations, "
	                        "salt aabbccdd)",
	                        200));
	pd_zone_builder_free(b);
	for (int i = 0; i < RFC_LINKS; i++) {
		assert_string_equal(nsec3_for(z, rfc_links[i][0], &match), rfc_links[i][1]);
		assert_true(match);
	}
	pd_zone_free(z);
}

static void nsec3_chain_errors(void **state)
{
	nsec3_error(&(n3opt_t){.no_param = true},
	            "NSEC3 records but no NSEC3PARAM at the zone apex example.", 100);
	nsec3_error(&(n3opt_t){.param = {1, 0}},
	            "NSEC3PARAM at example. has hash algorithm 2, not 1", 50);
	/* A link with other parameters is another chain's: left out, this one has a gap. */
	nsec3_error(&(n3opt_t){.bad_params = 4},
	            "NSEC3 chain broken at 2vptu5timamqttgl4luu9kg21e0aor3s.example.: next hashed "
	            "owner is 35mthgpgcu1qg68fab165klnsnk3dpvl, expected "
	            "b4um86eghhds6nea196smvmlo4ors995 (NSEC3 records with other parameters than "
	            "the NSEC3PARAM's are left out)",
	            102);
	nsec3_error(&(n3opt_t){.bad_salt = 1},
	            " (NSEC3 records with other parameters than the NSEC3PARAM's are left out)",
	            110);
	nsec3_error(&(n3opt_t){.bad_next = 2},
	            "NSEC3 chain broken at 2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.: next hashed "
	            "owner is 2t7b4g4vsa5smi47k61mv5bv1a22bojr, expected "
	            "2vptu5timamqttgl4luu9kg21e0aor3s",
	            101);
	/* The last link's next is the first's hash. */
	nsec3_error(&(n3opt_t){.bad_next = RFC_LINKS},
	            "NSEC3 chain broken at t644ebqk9bibcna874givr6joj62mlhv.example.: next hashed "
	            "owner is t644ebqk9bibcna874givr6joj62mlhv, expected "
	            "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",
	            110);
	/* Owner labels that are no SHA-1 hash in Base32hex: a letter past v, a short one. */
	nsec3_error(
	    &(n3opt_t){.bad_name = "w644ebqk9bibcna874givr6joj62mlhv"},
	    "NSEC3 owner w644ebqk9bibcna874givr6joj62mlhv.example. is not the Base32hex of a "
	    "SHA-1 hash under the apex",
	    110);
	nsec3_error(&(n3opt_t){.bad_name = "t644ebqk9bibcna874givr6joj62mlh"},
	            "is not the Base32hex of a SHA-1 hash", 110);
	/* A name without its NSEC3; c.example without opt-out; an NSEC3 of no name. */
	nsec3_error(&(n3opt_t){.skip = "ai.example"},
	            "no NSEC3 for ai.example. (hash gjeqe526plbf1g8mklp59enfd789njgi)", 0);
	nsec3_error(&(n3opt_t){.skip = "a.example"}, "no NSEC3 for a.example.", 0);
	nsec3_error(
	    &(n3opt_t){.no_optout = true},
	    "no NSEC3 for c.example. (hash 4g6p9u5gvfshp30pqecj98b3maqbn1ck), and the NSEC3 "
	    "covering it is not opt-out",
	    0);
	char gone[PD_NSEC3_B32_LEN + 1], msg[128];
	int at = 100;
	hash_b32(gone, "gone.example");
	for (int i = 0; i < RFC_LINKS; i++)
		at += strcmp(rfc_links[i][1], gone) < 0;
	snprintf(msg, sizeof(msg), "NSEC3 at %s.example. is the hash of no name in the zone", gone);
	nsec3_error(&(n3opt_t){.extra = "gone.example"}, msg, at);
	/* An empty non-terminal with names below that need NSEC3s needs one too. */
	nsec3_error(&(n3opt_t){.skip = "y.w.example"}, "no NSEC3 for y.w.example.", 0);
}

/* Opt-out lets unsigned delegations, and empty non-terminals above only those, go without. */
static void nsec3_optout_spans(void **state)
{
	pd_zone_builder_t *b = nsec3_zone(&(n3opt_t){0});
	pd_zone_t *z = NULL;
	/* d.e.example: an unsigned delegation under the new empty non-terminal e. */
	tu_add_name(b, "d.e.example", PD_TYPE_NS, "ns.d.e.example");
	tu_add_a(b, "ns.d.e.example", 192, 0, 2, 11);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	pd_zone_free(z);
	/* A secure name under e: e needs its NSEC3 again. */
	b = nsec3_zone(&(n3opt_t){0});
	tu_add_name(b, "d.e.example", PD_TYPE_NS, "ns.d.e.example");
	tu_add_a(b, "f.e.example", 192, 0, 2, 12);
	expect_error(b, "no NSEC3 for ", 0);
}

static void nsec3_owner_beside_data(void **state)
{
	pd_zone_builder_t *b = nsec3_zone(&(n3opt_t){0});
	/* In the same run as the NSEC3: the run is checked as it is made. */
	tu_add_a(b, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example", 192, 0, 2, 99);
	expect_error(b, "NSEC3 at 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. beside other data (A)",
	             0);
	/* In a run of its own, apart from the NSEC3's. */
	b = nsec3_zone(&(n3opt_t){0});
	add_at(b, "gjeqe526plbf1g8mklp59enfd789njgi.example", PD_TYPE_TXT, "\1x", 2, 9);
	expect_error(b, "NSEC3 at gjeqe526plbf1g8mklp59enfd789njgi.example. beside other data", 9);
	/* A name below an NSEC3 owner. */
	b = nsec3_zone(&(n3opt_t){0});
	tu_add_a(b, "x.0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example", 192, 0, 2, 99);
	expect_error(b, "names below the NSEC3 owner 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.",
	             100);
	/* And both NSEC and NSEC3: NSEC3 wins, with a warning. */
	b = nsec3_zone(&(n3opt_t){0});
	pd_zone_t *z = NULL;
	add_nsec(b, "example", "a.example", 7);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(z->dnssec, PD_ZONE_NSEC3);
	assert_true(has_warning(b, "both NSEC and NSEC3 records in example.", 7));
	pd_zone_builder_free(b);
	pd_zone_free(z);
}

static void rrsig_expiry_warnings(void **state)
{
	pd_zone_builder_t *b = new_builder("example.com");
	pd_zone_t *z = NULL;
	int64_t now = 1764547200; /* 2025-12-01 00:00:00 UTC */
	add_apex(b, "example.com");
	add_rrsig(b, "example.com", PD_TYPE_SOA, (uint32_t)now - 10, 1, 1);
	add_rrsig(b, "example.com", PD_TYPE_NS, (uint32_t)now + 3600, 2, 2);
	tu_add_a(b, "www.example.com", 192, 0, 2, 1);
	add_rrsig(b, "www.example.com", PD_TYPE_A, (uint32_t)now + 30 * 86400, 3, 3);
	/* Not asked: no warning, but the earliest expiration is known. */
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(pd_zone_builder_warning_count(b), 0);
	assert_int_equal(z->sig_expire_first, (uint32_t)now - 10);
	pd_zone_free(z);
	pd_zone_builder_check_sigs(b, now, 7 * 86400);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(pd_zone_builder_warning_count(b), 2);
	assert_true(has_warning(
	    b, "RRSIG covering SOA at example.com. expired on 2025-11-30 23:59:50 UTC", 1));
	assert_true(has_warning(
	    b, "RRSIG covering NS at example.com. expires on 2025-12-01 01:00:00 UTC", 2));
	pd_zone_free(z);
	/* Past 2106 the 32-bit times wrap: serial arithmetic still tells past from future. */
	int64_t later = (int64_t)UINT32_MAX + 1 + 1000;
	pd_zone_builder_check_sigs(b, later, 7 * 86400);
	pd_zone_builder_free(b);
	b = new_builder("example.com");
	add_apex(b, "example.com");
	add_rrsig(b, "example.com", PD_TYPE_SOA, 2000, 1, 1);             /* 1000 s after */
	add_rrsig(b, "example.com", PD_TYPE_NS, UINT32_MAX - 5000, 2, 2); /* 6001 s before */
	tu_add_a(b, "www.example.com", 192, 0, 2, 1);
	add_rrsig(b, "www.example.com", PD_TYPE_A, 1000 + 30 * 86400, 3, 3);
	pd_zone_builder_check_sigs(b, later, 7 * 86400);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(z->sig_expire_first, UINT32_MAX - 5000);
	assert_int_equal(pd_zone_builder_warning_count(b), 2);
	assert_true(has_warning(b, "RRSIG covering SOA at example.com. expires on", 1));
	assert_true(has_warning(b, "RRSIG covering NS at example.com. expired on", 2));
	pd_zone_free(z);
	pd_zone_builder_free(b);
	/* Many: all counted, PD_ZONE_WARN_MAX kept. */
	b = new_builder("example.com");
	add_apex(b, "example.com");
	for (int i = 0; i < 40; i++) {
		char name[32];
		snprintf(name, sizeof(name), "h%d.example.com", i);
		tu_add_a(b, name, 192, 0, 2, (uint8_t)i);
		add_rrsig(b, name, PD_TYPE_A, (uint32_t)now - 1, 1, i);
	}
	pd_zone_builder_check_sigs(b, now, 0);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	assert_int_equal(pd_zone_builder_warning_count(b), 40);
	assert_non_null(pd_zone_builder_warning(b, PD_ZONE_WARN_MAX - 1, NULL));
	assert_null(pd_zone_builder_warning(b, PD_ZONE_WARN_MAX, NULL));
	pd_zone_free(z);
	pd_zone_builder_free(b);
}

/* pd_zoneset_find(), checked against pd_zoneset_find_labels() on the parse of the name. */
static const pd_zone_t *set_find(const pd_zoneset_t *zs, const char *name)
{
	uint8_t n[PD_NAME_MAX], lname[PD_NAME_MAX], off[PD_QUERY_LABELS_MAX], labels;
	uint32_t hash;
	pd_wire_t w;
	int len = tu_name(n, name);
	pd_wire_init(&w, n, (size_t)len);
	assert_int_equal(pd_name_read_question(&w, lname, off, &labels, &hash), len);
	const pd_zone_t *z = pd_zoneset_find(zs, n);
	assert_ptr_equal(pd_zoneset_find_labels(zs, lname, (size_t)len, hash, off, labels), z);
	return z;
}

static void zoneset_most_specific_wins(void **state)
{
	pd_zone_t *zones[3] = {small_zone("example.com"), small_zone("sub.example.com"),
	                       small_zone("org")};
	pd_zoneset_t *zs = NULL;
	assert_int_equal(pd_zoneset_new(&zs, zones, 3), 0);
	assert_ptr_equal(set_find(zs, "a.sub.example.com"), zones[1]);
	assert_ptr_equal(set_find(zs, "sub.example.com"), zones[1]);
	assert_ptr_equal(set_find(zs, "www.example.com"), zones[0]);
	assert_ptr_equal(set_find(zs, "example.org"), zones[2]);
	assert_null(set_find(zs, "example.net"));
	assert_null(set_find(zs, "."));

	/* A second set sharing one zone: releasing the first frees only the others. */
	pd_zone_t *next[2] = {zones[0], small_zone("net")};
	pd_zoneset_t *zs2 = NULL;
	assert_int_equal(pd_zoneset_new(&zs2, next, 2), 0);
	pd_zoneset_release(zs, zs2);
	assert_ptr_equal(set_find(zs2, "www.example.com"), zones[0]);
	/* Deeper than every origin: the suffixes too long to be one are skipped. */
	assert_ptr_equal(set_find(zs2, "a.b.c.d.e.f.www.example.com"), zones[0]);
	assert_ptr_equal(set_find(zs2, "a.b.c.d.e.f.net"), next[1]);
	assert_null(set_find(zs2, "a.b.c.d.e.f.org"));
	pd_zoneset_free(zs2);
}

static void zoneset_rejects_duplicate_origin(void **state)
{
	pd_zone_t *zones[2] = {small_zone("example.com"), small_zone("EXAMPLE.com")};
	pd_zoneset_t *zs = NULL;
	assert_int_equal(pd_zoneset_new(&zs, zones, 2), -EEXIST);
	assert_null(zs);
	pd_zone_free(zones[0]);
	pd_zone_free(zones[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(compiles_nodes_flags_and_soa),
	    cmocka_unit_test(duplicates_dropped_first_ttl_wins),
	    cmocka_unit_test(rejects_missing_soa_and_ns),
	    cmocka_unit_test(rejects_records_outside_and_soa_below_apex),
	    cmocka_unit_test(rejects_malformed_name_rdata),
	    cmocka_unit_test(rejects_cname_beside_data),
	    cmocka_unit_test(large_zone_lookups),
	    cmocka_unit_test(ent_insertion_that_moves_nodes),
	    cmocka_unit_test(owner_coming_back_later),
	    cmocka_unit_test(rrsigs_grouped_after_what_they_cover),
	    cmocka_unit_test(rrsigs_grouped_when_owners_come_back),
	    cmocka_unit_test(rejects_malformed_rrsig),
	    cmocka_unit_test(rrsig_and_nsec_beside_cname),
	    cmocka_unit_test(nsec_chain_index),
	    cmocka_unit_test(nsec_index_large),
	    cmocka_unit_test(nsec_chain_errors),
	    cmocka_unit_test(nsec3_rfc5155_zone),
	    cmocka_unit_test(nsec3_chain_errors),
	    cmocka_unit_test(nsec3_other_chain_and_flags),
	    cmocka_unit_test(nsec3_optout_spans),
	    cmocka_unit_test(nsec3_owner_beside_data),
	    cmocka_unit_test(rrsig_expiry_warnings),
	    cmocka_unit_test(zoneset_most_specific_wins),
	    cmocka_unit_test(zoneset_rejects_duplicate_origin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
