/* Unit tests for the IXFR journal: a bounded chain of diffs, and what it gives back. */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "pindns/xfr.h"

/* example.com at serial, with a TXT record of pad bytes (a diff's size grows with it). */
static pd_zone_t *zone(uint32_t serial, size_t pad)
{
	uint8_t o[PD_NAME_MAX], rd[256];
	tu_name(o, "example.com");
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	assert_non_null(b);
	tu_add_soa(b, "example.com", 3600, serial, 300);
	tu_add_name(b, "example.com", PD_TYPE_NS, "ns.example.net");
	rd[0] = (uint8_t)pad;
	memset(rd + 1, 'a' + (int)(serial % 26), pad);
	tu_add(b, "txt.example.com", PD_TYPE_TXT, 3600, rd, pad + 1);
	pd_zone_t *z = NULL;
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	return z;
}

static pd_diff_t *diff(uint32_t from, uint32_t to, size_t pad)
{
	pd_zone_t *a = zone(from, pad), *b = zone(to, pad);
	pd_diff_t *d;
	assert_int_equal(pd_diff_new(a, b, &d), 0);
	pd_zone_free(a);
	pd_zone_free(b);
	return d;
}

/* Adds the diff from -> to and drops the caller's reference. */
static void add(pd_journal_t *j, uint32_t from, uint32_t to, size_t pad)
{
	pd_diff_t *d = diff(from, to, pad);
	assert_int_equal(pd_journal_add(j, d), 0);
	pd_diff_unref(d);
}

/* since(from) gives n diffs, from from on, each following the last. */
static void assert_since(const pd_journal_t *j, uint32_t from, int n, uint32_t to)
{
	pd_diff_t *out[16];
	assert_int_equal(pd_journal_since(j, from, out, 16), n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(pd_diff_from(out[i]), i ? pd_diff_to(out[i - 1]) : from);
		pd_diff_unref(out[i]);
	}
	if (n > 0)
		assert_int_equal(pd_diff_to(out[n - 1]), to);
}

static void test_chain(void **state)
{
	pd_journal_t *j = pd_journal_new(1 << 20);
	assert_non_null(j);
	pd_diff_t *out[4];
	assert_int_equal(pd_journal_since(j, 1, out, 4), -ENOENT); /* empty */
	add(j, 1, 2, 10);
	add(j, 2, 3, 10);
	add(j, 3, 4, 10);
	assert_since(j, 1, 3, 4);
	assert_since(j, 2, 2, 4);
	assert_since(j, 3, 1, 4);
	assert_since(j, 4, 0, 4);
	assert_int_equal(pd_journal_since(j, 9, out, 4), -ENOENT);
	assert_int_equal(pd_journal_since(j, 0, out, 4), -ENOENT);
	assert_int_equal(pd_journal_since(j, 1, out, 2), -ENOSPC);
	/* A serial wrapping past 2^32 is just the next one. */
	add(j, 4, 0xFFFFFFFFu, 10);
	add(j, 0xFFFFFFFFu, 0, 10);
	assert_since(j, 1, 5, 0);
	pd_journal_free(j);
}

static void test_gap(void **state)
{
	pd_journal_t *j = pd_journal_new(1 << 20);
	add(j, 1, 2, 10);
	add(j, 2, 3, 10);
	add(j, 7, 8, 10); /* a gap: the history before cannot reach 8 */
	pd_diff_t *out[4];
	assert_int_equal(pd_journal_since(j, 1, out, 4), -ENOENT);
	assert_int_equal(pd_journal_since(j, 2, out, 4), -ENOENT);
	assert_since(j, 7, 1, 8);
	assert_since(j, 8, 0, 8);
	pd_journal_free(j);
}

static void test_bound(void **state)
{
	pd_diff_t *d = diff(1, 2, 200);
	size_t size = pd_diff_size(d);
	assert_true(size > 400);
	pd_diff_unref(d);
	/* Room for three: the oldest go. */
	pd_journal_t *j = pd_journal_new(3 * size + size / 2);
	for (uint32_t s = 1; s <= 6; s++)
		add(j, s, s + 1, 200);
	pd_diff_t *out[8];
	assert_int_equal(pd_journal_since(j, 1, out, 8), -ENOENT);
	assert_int_equal(pd_journal_since(j, 3, out, 8), -ENOENT);
	assert_since(j, 4, 3, 7);
	pd_journal_free(j);
	/* One larger than the bound empties the journal. */
	d = diff(1, 2, 10);
	j = pd_journal_new(pd_diff_size(d) + 100);
	pd_diff_unref(d);
	add(j, 1, 2, 10);
	assert_since(j, 1, 1, 2);
	add(j, 2, 3, 250);
	assert_int_equal(pd_journal_since(j, 1, out, 8), -ENOENT);
	assert_int_equal(pd_journal_since(j, 2, out, 8), -ENOENT);
	assert_int_equal(pd_journal_since(j, 3, out, 8), -ENOENT);
	pd_journal_free(j);
	/* 0 bytes: AXFR only. */
	j = pd_journal_new(0);
	add(j, 1, 2, 10);
	assert_int_equal(pd_journal_since(j, 1, out, 8), -ENOENT);
	pd_journal_free(j);
}

/* The journal's references: a diff handed out outlives the journal. */
static void test_refs(void **state)
{
	pd_journal_t *j = pd_journal_new(1 << 20);
	add(j, 1, 2, 10);
	pd_diff_t *out[2];
	assert_int_equal(pd_journal_since(j, 1, out, 2), 1);
	pd_journal_free(j);
	assert_int_equal(pd_diff_from(out[0]), 1);
	assert_int_equal(pd_diff_to(out[0]), 2);
	pd_diff_unref(out[0]);
	pd_journal_free(NULL);
}

/*
 * pd_journal_clear(): a zone changed without its serial moving (a file edited, its serial
 * left) has a history that no longer leads to what is served, so xfr_serve clears the
 * journal and IXFR falls back to AXFR. Cleared, no serial is reachable any more, its
 * bytes are given back (three diffs fit again under a bound of three), and diffs added
 * after it chain from where they start.
 */
static void test_clear(void **state)
{
	pd_diff_t *d = diff(1, 2, 200);
	size_t size = pd_diff_size(d);
	pd_diff_unref(d);
	pd_journal_t *j = pd_journal_new(3 * size + size / 2);
	add(j, 1, 2, 200);
	add(j, 2, 3, 200);
	add(j, 3, 4, 200);
	assert_since(j, 1, 3, 4);
	pd_diff_t *out[8];
	pd_journal_clear(j);
	for (uint32_t s = 1; s <= 4; s++)
		assert_int_equal(pd_journal_since(j, s, out, 8), -ENOENT);
	pd_journal_clear(j); /* empty: nothing to do */
	add(j, 4, 5, 200);
	add(j, 5, 6, 200);
	add(j, 6, 7, 200);
	assert_since(j, 4, 3, 7); /* all three kept: the cleared ones' bytes are not counted */
	assert_int_equal(pd_journal_since(j, 1, out, 8), -ENOENT);
	pd_journal_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain), cmocka_unit_test(test_gap),
	    cmocka_unit_test(test_bound), cmocka_unit_test(test_refs),
	    cmocka_unit_test(test_clear),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
