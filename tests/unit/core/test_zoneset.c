/* Unit tests for the zone set: lookup by origin, replacing zones, releasing old sets. */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "pindns/query.h"
#include "pindns/zoneset.h"

/* A compiled zone with just its apex; serial tells zones of one origin apart. */
static pd_zone_t *zone(const char *origin, uint32_t serial)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, origin);
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	assert_non_null(b);
	tu_add_soa(b, origin, 3600, serial, 300);
	tu_add_name(b, origin, PD_TYPE_NS, "ns.nameservers.test");
	pd_zone_t *z = NULL;
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	return z;
}

/* A name in lower-cased wire form, as the set wants it. */
static const uint8_t *lname(uint8_t *buf, const char *text)
{
	tu_name(buf, text);
	pd_name_lower(buf, buf);
	return buf;
}

static const pd_zone_t *get(const pd_zoneset_t *zs, const char *origin)
{
	uint8_t n[PD_NAME_MAX];
	return pd_zoneset_get(zs, lname(n, origin));
}

/* pd_zoneset_find(), checked against pd_zoneset_find_labels() on the parse of the name. */
static const pd_zone_t *find(const pd_zoneset_t *zs, const char *name)
{
	uint8_t n[PD_NAME_MAX], l[PD_NAME_MAX], off[PD_QUERY_LABELS_MAX], labels;
	uint32_t hash;
	pd_wire_t w;
	int len = (int)tu_name(n, name);
	pd_wire_init(&w, n, (size_t)len);
	assert_int_equal(pd_name_read_question(&w, l, off, &labels, &hash), len);
	const pd_zone_t *z = pd_zoneset_find(zs, l);
	assert_ptr_equal(pd_zoneset_find_labels(zs, l, (size_t)len, hash, off, labels), z);
	return z;
}

static void new_and_get(void **state)
{
	(void)state;
	pd_zone_t *zones[3] = {zone("example", 1), zone("b.example", 1), zone("Other.ORG", 1)};
	pd_zoneset_t *zs = NULL;
	assert_int_equal(pd_zoneset_new(&zs, zones, 3), 0);
	assert_int_equal(zs->count, 3);
	assert_true(zs->generation != 0);
	assert_int_equal(zs->from_generation, 0);
	assert_int_equal(zs->max_labels, 2);

	/* Exact origins only: a name below one is not its zone's origin. */
	assert_ptr_equal(get(zs, "example"), zones[0]);
	assert_ptr_equal(get(zs, "b.example"), zones[1]);
	assert_null(get(zs, "a.b.example"));
	assert_null(get(zs, "org"));
	assert_null(get(zs, "."));
	/* The origin was lower-cased when the zone was built. */
	assert_ptr_equal(get(zs, "other.org"), zones[2]);
	uint8_t n[PD_NAME_MAX];
	assert_memory_equal(zones[2]->origin, lname(n, "other.org"), zones[2]->origin_len);
	assert_null(pd_zoneset_get(NULL, lname(n, "example")));

	pd_zoneset_t *other = NULL;
	assert_int_equal(pd_zoneset_new(&other, NULL, 0), 0);
	assert_true(other->generation != zs->generation);
	assert_null(get(other, "example"));
	assert_null(find(other, "www.example"));
	pd_zoneset_free(other);
	pd_zoneset_free(zs);
}

static void new_rejects_duplicate_origin(void **state)
{
	(void)state;
	pd_zone_t *zones[4] = {zone("example", 1), zone("org", 1), zone("net", 1),
	                       zone("EXAMPLE", 2)};
	pd_zoneset_t *zs = (pd_zoneset_t *)1;
	assert_int_equal(pd_zoneset_new(&zs, zones, 4), -EEXIST);
	assert_null(zs);
	/* The zones are still the caller's: none freed, each usable (and freed here once). */
	for (int i = 0; i < 4; i++) {
		assert_live(zones[i]);
		assert_int_equal(zones[i]->serial, i == 3 ? 2 : 1);
		pd_zone_free(zones[i]);
	}
}

static void find_most_specific(void **state)
{
	(void)state;
	pd_zone_t *zones[3] = {zone("example", 1), zone("b.example", 2), zone("d.c.b.example", 3)};
	pd_zoneset_t *zs = NULL;
	assert_int_equal(pd_zoneset_new(&zs, zones, 3), 0);
	assert_ptr_equal(find(zs, "a.b.example"), zones[1]);
	assert_ptr_equal(find(zs, "A.B.Example"), zones[1]);
	assert_ptr_equal(find(zs, "b.example"), zones[1]);
	assert_ptr_equal(find(zs, "c.b.example"), zones[1]);
	assert_ptr_equal(find(zs, "d.c.b.example"), zones[2]);
	assert_ptr_equal(find(zs, "x.y.z.d.c.b.example"), zones[2]);
	assert_ptr_equal(find(zs, "c.example"), zones[0]);
	assert_ptr_equal(find(zs, "example"), zones[0]);
	assert_ptr_equal(find(zs, "b.c.d.example"), zones[0]);
	/* Suffixes by whole labels only. */
	assert_null(find(zs, "xexample"));
	assert_null(find(zs, "example.org"));
	assert_null(find(zs, "org"));
	assert_null(find(zs, "."));
	pd_zoneset_free(zs);

	/* The root zone covers every name no other zone does. */
	pd_zone_t *with_root[2] = {zone(".", 1), zone("example", 2)};
	assert_int_equal(pd_zoneset_new(&zs, with_root, 2), 0);
	assert_ptr_equal(find(zs, "www.example"), with_root[1]);
	assert_ptr_equal(find(zs, "www.example.org"), with_root[0]);
	assert_ptr_equal(find(zs, "."), with_root[0]);
	assert_ptr_equal(get(zs, "."), with_root[0]);
	pd_zoneset_free(zs);
}

static void replace_one_zone(void **state)
{
	(void)state;
	pd_zone_t *zones[3] = {zone("example", 1), zone("b.example", 1), zone("org", 1)};
	pd_zoneset_t *old = NULL, *next = NULL;
	assert_int_equal(pd_zoneset_new(&old, zones, 3), 0);
	pd_zone_t *b2 = zone("b.example", 2);
	assert_int_equal(pd_zoneset_replace(old, &b2, 1, &next), 0);

	assert_int_equal(next->count, 3);
	assert_true(next->generation != 0 && next->generation != old->generation);
	assert_int_equal(next->from_generation, old->generation);
	assert_int_equal(next->retired_count, 1);
	assert_ptr_equal(next->retired[0], zones[1]);
	/* The new set answers from the new zone, the old one still from its own. */
	assert_ptr_equal(get(next, "b.example"), b2);
	assert_ptr_equal(find(next, "a.b.example"), b2);
	assert_ptr_equal(get(old, "b.example"), zones[1]);
	assert_ptr_equal(find(old, "a.b.example"), zones[1]);
	assert_int_equal(old->count, 3);
	for (int i = 0; i < 3; i += 2) {
		assert_ptr_equal(get(next, i ? "org" : "example"), zones[i]);
		assert_ptr_equal(get(old, i ? "org" : "example"), zones[i]);
	}

	/* Releasing the old set frees the zone replaced, and only it. */
	pd_zoneset_release(old, next);
	assert_freed(zones[1]);
	assert_live(zones[0]);
	assert_live(zones[2]);
	assert_live(b2);
	assert_ptr_equal(find(next, "www.example"), zones[0]);
	assert_int_equal(find(next, "www.example")->serial, 1);
	assert_int_equal(find(next, "x.org")->serial, 1);
	assert_int_equal(find(next, "x.b.example")->serial, 2);
	pd_zoneset_free(next);
}

/* Zones a0.NAME .. a(n-1).NAME with serial. */
static void zones_under(pd_zone_t **out, int n, const char *name, uint32_t serial)
{
	char o[64];
	for (int i = 0; i < n; i++) {
		snprintf(o, sizeof(o), "a%d.%s", i, name);
		out[i] = zone(o, serial);
	}
}

/* Every zone of zones (n) is in zs, found by its origin and below it. */
static void assert_holds(const pd_zoneset_t *zs, pd_zone_t *const *zones, int n)
{
	uint8_t q[PD_NAME_MAX + 8] = {3, 'w', 'w', 'w'};
	for (int i = 0; i < n; i++) {
		const pd_zone_t *z = zones[i];
		assert_ptr_equal(pd_zoneset_get(zs, z->origin), z);
		memcpy(q + 4, z->origin, z->origin_len);
		assert_ptr_equal(pd_zoneset_find(zs, q), z);
	}
}

static void replace_adds_zones(void **state)
{
	(void)state;
	/* From 3 zones (a table of 8) to 43 plus one replaced: the table grows. */
	pd_zone_t *base[3], *added[41];
	zones_under(base, 3, "base", 1);
	pd_zoneset_t *old = NULL, *next = NULL;
	assert_int_equal(pd_zoneset_new(&old, base, 3), 0);
	uint32_t old_mask = old->table_mask;
	zones_under(added, 40, "added", 1);
	added[40] = zone("a1.base", 2);
	assert_int_equal(pd_zoneset_replace(old, added, 41, &next), 0);
	assert_int_equal(next->count, 43);
	assert_true(next->table_mask > old_mask);
	assert_true(next->table_mask + 1 >= 2 * 43);
	assert_holds(next, added, 41);
	assert_ptr_equal(get(next, "a0.base"), base[0]);
	assert_ptr_equal(get(next, "a2.base"), base[2]);
	/* The old set is as it was. */
	assert_int_equal(old->count, 3);
	assert_int_equal(old->table_mask, old_mask);
	assert_holds(old, base, 3);
	assert_null(get(old, "a5.added"));
	assert_null(find(old, "www.a5.added"));
	pd_zoneset_release(old, next);
	assert_freed(base[1]);
	assert_live(base[0]);
	assert_live(base[2]);
	assert_int_equal(find(next, "x.a0.base")->serial, 1);
	assert_int_equal(find(next, "x.a1.base")->serial, 2);

	/* A few more, within the table's size: the table is copied as it is. */
	pd_zoneset_t *third = NULL;
	pd_zone_t *one = zone("one.more", 1);
	uint32_t mask = next->table_mask;
	assert_int_equal(pd_zoneset_replace(next, &one, 1, &third), 0);
	assert_int_equal(third->table_mask, mask);
	assert_int_equal(third->count, 44);
	assert_holds(third, added, 41);
	assert_holds(third, &one, 1);
	assert_null(get(next, "one.more"));
	assert_int_equal(third->retired_count, 0);
	pd_zoneset_release(next, third);
	assert_holds(third, added, 41);
	pd_zoneset_free(third);

	/* From 100 (a table of 256) by 200 more. */
	pd_zone_t *many[300];
	zones_under(many, 100, "first", 1);
	assert_int_equal(pd_zoneset_new(&old, many, 100), 0);
	zones_under(many + 100, 200, "second", 1);
	assert_int_equal(pd_zoneset_replace(old, many + 100, 200, &next), 0);
	assert_int_equal(next->count, 300);
	assert_true(next->table_mask + 1 >= 2 * 300);
	assert_holds(next, many, 300);
	assert_int_equal(old->count, 100);
	assert_holds(old, many, 100);
	assert_null(get(old, "a0.second"));
	pd_zoneset_release(old, next);
	for (int i = 0; i < 300; i++)
		assert_live(many[i]);
	assert_holds(next, many, 300);
	pd_zoneset_free(next);
}

static void replace_rejects_two_of_one_origin(void **state)
{
	(void)state;
	pd_zone_t *zones[2] = {zone("example", 1), zone("org", 1)};
	pd_zoneset_t *old = NULL, *next = (pd_zoneset_t *)1;
	assert_int_equal(pd_zoneset_new(&old, zones, 2), 0);

	/* Two new zones of one origin (not in old), with another zone between them. */
	pd_zone_t *twice_new[3] = {zone("x.net", 1), zone("example", 2), zone("X.net", 2)};
	assert_int_equal(pd_zoneset_replace(old, twice_new, 3, &next), -EEXIST);
	assert_null(next);
	/* The same origin replaced twice in one call. */
	pd_zone_t *twice_old[3] = {zone("org", 2), zone("y.net", 1), zone("org", 3)};
	next = (pd_zoneset_t *)1;
	assert_int_equal(pd_zoneset_replace(old, twice_old, 3, &next), -EEXIST);
	assert_null(next);

	/* Nothing was freed, and old is untouched. */
	for (int i = 0; i < 3; i++) {
		assert_live(twice_new[i]);
		assert_live(twice_old[i]);
		pd_zone_free(twice_new[i]);
		pd_zone_free(twice_old[i]);
	}
	assert_int_equal(old->count, 2);
	assert_live(zones[0]);
	assert_live(zones[1]);
	assert_ptr_equal(get(old, "example"), zones[0]);
	assert_ptr_equal(get(old, "org"), zones[1]);
	assert_null(get(old, "x.net"));
	assert_int_equal(find(old, "www.example")->serial, 1);
	pd_zoneset_free(old);
}

static void replace_keeps_max_labels(void **state)
{
	(void)state;
	pd_zone_t *top = zone("example", 1);
	pd_zoneset_t *old = NULL, *next = NULL, *third = NULL;
	assert_int_equal(pd_zoneset_new(&old, &top, 1), 0);
	assert_int_equal(old->max_labels, 1);
	pd_zone_t *deep = zone("a.b.c.d.example", 1);
	assert_int_equal(pd_zoneset_replace(old, &deep, 1, &next), 0);
	assert_int_equal(next->max_labels, 5);
	assert_int_equal(old->max_labels, 1);
	/* find_labels() skips suffixes longer than max_labels: the deep zone must be found. */
	assert_ptr_equal(find(next, "x.y.a.b.c.d.example"), deep);
	assert_ptr_equal(find(next, "a.b.c.d.example"), deep);
	assert_ptr_equal(find(next, "x.b.c.d.example"), top);
	assert_ptr_equal(find(old, "x.y.a.b.c.d.example"), top);
	pd_zoneset_release(old, next);

	/* Replacing the deep zone keeps it. */
	pd_zone_t *deep2 = zone("a.b.c.d.example", 2);
	assert_int_equal(pd_zoneset_replace(next, &deep2, 1, &third), 0);
	assert_int_equal(third->max_labels, 5);
	assert_ptr_equal(find(third, "x.y.a.b.c.d.example"), deep2);
	pd_zoneset_release(next, third);
	assert_freed(deep);
	assert_live(top);
	pd_zoneset_free(third);
}

static void release_without_keep_frees_all(void **state)
{
	(void)state;
	pd_zone_t *zones[3] = {zone("example", 1), zone("org", 1), zone("net", 1)};
	pd_zoneset_t *old = NULL, *next = NULL;
	assert_int_equal(pd_zoneset_new(&old, zones, 3), 0);
	pd_zoneset_release(old, NULL);
	for (int i = 0; i < 3; i++)
		assert_freed(zones[i]);

	/* Likewise for a set made by replace: its own zones and those it shares. */
	pd_zone_t *more[3] = {zone("example", 1), zone("org", 1), zone("net", 1)};
	assert_int_equal(pd_zoneset_new(&old, more, 2), 0);
	assert_int_equal(pd_zoneset_replace(old, more + 2, 1, &next), 0);
	pd_zoneset_release(old, next);
	pd_zoneset_release(next, NULL);
	for (int i = 0; i < 3; i++)
		assert_freed(more[i]);
}

static void release_against_unrelated_set(void **state)
{
	(void)state;
	pd_zone_t *a = zone("a.test", 1), *b = zone("b.test", 1), *c = zone("c.test", 1);
	pd_zone_t *b2 = zone("b.test", 2), *c2 = zone("c.test", 2), *d = zone("d.test", 1);
	pd_zone_t *first[3] = {a, b, c};
	pd_zoneset_t *s1 = NULL, *s2 = NULL, *other0 = NULL, *other = NULL;
	assert_int_equal(pd_zoneset_new(&s1, first, 3), 0);
	assert_int_equal(pd_zoneset_replace(s1, &b2, 1, &s2), 0);
	pd_zoneset_release(s1, s2);
	assert_freed(b);

	/*
	 * A set built apart, itself made by replace (from another set): it shares a with s2,
	 * and has a zone of its own for c's origin.
	 */
	pd_zone_t *put[2] = {a, c2};
	assert_int_equal(pd_zoneset_new(&other0, &d, 1), 0);
	assert_int_equal(pd_zoneset_replace(other0, put, 2, &other), 0);
	assert_true(other->from_generation != s2->generation);
	pd_zoneset_release(other0, other);
	assert_live(d);
	assert_live(a);

	/* s2's zones other does not hold go (c too: other's c.test is another zone). */
	pd_zoneset_release(s2, other);
	assert_freed(b2);
	assert_freed(c);
	assert_live(a);
	assert_live(c2);
	assert_live(d);
	assert_ptr_equal(find(other, "www.a.test"), a);
	assert_ptr_equal(find(other, "www.c.test"), c2);
	assert_ptr_equal(find(other, "www.d.test"), d);
	assert_null(find(other, "www.b.test"));
	pd_zoneset_free(other);
}

/* As a daemon does it: each set released against the one after it, once readers are off. */
static void release_chain(void **state)
{
	(void)state;
	pd_zone_t *ex1 = zone("example", 1), *org1 = zone("org", 1), *net1 = zone("net", 1);
	pd_zone_t *first[3] = {ex1, org1, net1};
	pd_zoneset_t *set1 = NULL, *set2 = NULL, *set3 = NULL;
	assert_int_equal(pd_zoneset_new(&set1, first, 3), 0);

	pd_zone_t *ex2 = zone("example", 2), *test1 = zone("new.test", 1);
	pd_zone_t *second[2] = {ex2, test1};
	assert_int_equal(pd_zoneset_replace(set1, second, 2, &set2), 0);
	assert_int_equal(set2->from_generation, set1->generation);

	/* set3 is made while set1 still waits for its readers. */
	pd_zone_t *ex3 = zone("example", 3), *org2 = zone("org", 2);
	pd_zone_t *third[2] = {ex3, org2};
	assert_int_equal(pd_zoneset_replace(set2, third, 2, &set3), 0);
	assert_int_equal(set3->from_generation, set2->generation);
	assert_int_equal(set3->count, 4);

	pd_zoneset_release(set1, set2);
	assert_freed(ex1);
	assert_live(org1); /* set2 still holds it, and set2 is not released yet */
	assert_live(net1);
	assert_int_equal(find(set2, "www.org")->serial, 1);
	assert_int_equal(find(set2, "www.example")->serial, 2);

	pd_zoneset_release(set2, set3);
	assert_freed(ex2);
	assert_freed(org1);
	assert_live(net1);
	assert_live(test1);
	assert_live(ex3);
	assert_live(org2);
	assert_int_equal(find(set3, "www.example")->serial, 3);
	assert_int_equal(find(set3, "www.org")->serial, 2);
	assert_ptr_equal(find(set3, "www.net"), net1);
	assert_ptr_equal(find(set3, "a.new.test"), test1);
	pd_zoneset_free(set3);
}

/* Zones left out of a set (a catalog member gone): freed when the old set is released. */
static void remove_zones(void **state)
{
	pd_zone_t *zones[3] = {zone("example", 1), zone("b.example", 1), zone("org", 1)};
	pd_zoneset_t *old, *next;
	assert_int_equal(pd_zoneset_new(&old, zones, 3), 0);
	uint8_t b[PD_NAME_MAX], none[PD_NAME_MAX];
	const uint8_t *origins[] = {lname(b, "b.example"), lname(none, "not.there")};
	assert_int_equal(pd_zoneset_remove(old, origins, 2, &next), 0);
	assert_int_equal(next->count, 2);
	assert_true(next->generation != old->generation);
	assert_int_equal(next->from_generation, old->generation);
	assert_null(get(next, "b.example"));
	assert_ptr_equal(find(next, "a.b.example"), zones[0]);
	assert_ptr_equal(get(next, "org"), zones[2]);
	assert_ptr_equal(get(old, "b.example"), zones[1]);
	pd_zoneset_release(old, next);
	assert_freed(zones[1]);
	assert_live(zones[0]);
	assert_live(zones[2]);
	/* Removing nothing: the same zones in a new set. */
	pd_zoneset_t *third;
	assert_int_equal(pd_zoneset_remove(next, origins, 0, &third), 0);
	assert_int_equal(third->count, 2);
	pd_zoneset_release(next, third);
	assert_live(zones[0]);
	pd_zoneset_free(third);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(new_and_get),
	    cmocka_unit_test(new_rejects_duplicate_origin),
	    cmocka_unit_test(find_most_specific),
	    cmocka_unit_test(replace_one_zone),
	    cmocka_unit_test(replace_adds_zones),
	    cmocka_unit_test(replace_rejects_two_of_one_origin),
	    cmocka_unit_test(replace_keeps_max_labels),
	    cmocka_unit_test(release_without_keep_frees_all),
	    cmocka_unit_test(release_against_unrelated_set),
	    cmocka_unit_test(release_chain),
	    cmocka_unit_test(remove_zones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
