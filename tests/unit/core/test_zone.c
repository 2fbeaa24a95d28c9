/* Unit tests for zone compilation and lookup (src/zone.c, src/zoneset.c). */
#include "testutil.h"

#include <stdlib.h>

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
	size_t nl = tu_name(nsec, "z.example.com");
	memcpy(nsec + nl, "\0\1\x40", 3);
	tu_add(b, "www.example.com", PD_TYPE_NSEC, 60, nsec, nl + 3);
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
	    cmocka_unit_test(zoneset_most_specific_wins),
	    cmocka_unit_test(zoneset_rejects_duplicate_origin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
