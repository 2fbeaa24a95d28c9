/* Unit tests for the per-worker response cache (src/cache.c). */
#include "testutil.h"

#include <stdlib.h>

#include "pindns/cache.h"

static pd_zoneset_t *zs;
static const pd_answer_conf_t conf = {.udp_size = 1232, .identity = "id", .version = "v"};

static pd_zoneset_t *make_set(uint8_t last_octet)
{
	uint8_t o[PD_NAME_MAX];
	pd_zone_t *z = NULL;
	pd_zoneset_t *set = NULL;
	tu_name(o, "example.com");
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	tu_add_soa(b, "example.com", 3600, 1, 300);
	tu_add_name(b, "example.com", PD_TYPE_NS, "ns1.example.com");
	tu_add_mx(b, "example.com", 10, "ns1.example.com");
	tu_add_a(b, "ns1.example.com", 192, 0, 2, 1);
	tu_add_a(b, "www.example.com", 192, 0, 2, last_octet);
	tu_add_name(b, "alias.example.com", PD_TYPE_CNAME, "www.example.com");
	tu_add_a(b, "*.wild.example.com", 192, 0, 2, 9);
	for (int i = 0; i < 8; i++) {
		char t[201];
		memset(t, 'a' + i, 200);
		t[200] = '\0';
		tu_add_txt(b, "big.example.com", t);
	}
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	assert_int_equal(pd_zoneset_new(&set, &z, 1), 0);
	return set;
}

static int setup(void **state)
{
	zs = make_set(80);
	return 0;
}

static int teardown(void **state)
{
	pd_zoneset_free(zs);
	return 0;
}

/* The cache must give exactly what pd_answer gives, on a miss and on a hit. */
static void check_same(pd_cache_t *c, const pd_zoneset_t *set, const uint8_t *q, size_t qlen)
{
	uint8_t want[PD_UDP_MAX], got[PD_UDP_MAX];
	size_t wlen = pd_answer(set, &conf, q, qlen, want, sizeof(want), NULL);
	size_t glen = pd_cache_answer(c, set, &conf, q, qlen, got, sizeof(got));
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
}

static void key_shapes(void **state)
{
	pd_cache_key_t k1, k2;
	uint8_t q[600];
	size_t n = tu_query(q, "WWW.Example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	assert_true(pd_cache_key(&k1, q, n, 1232));
	assert_int_equal(k1.qsection, 17 + 4);
	assert_memory_equal(k1.question, "\3www\7example\3com\0\0\1\0\1", 21);
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	assert_true(pd_cache_key(&k2, q, n, 1232));
	assert_true(k1.hash == k2.hash); /* letter case does not matter */

	/* EDNS, its size and DO make different entries. */
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 4096, 0);
	assert_true(pd_cache_key(&k2, q, n, 1232));
	assert_int_equal(k2.variant, 1232u | 1u << 30);
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 700, PD_EDNS_DO);
	assert_true(pd_cache_key(&k2, q, n, 1232));
	assert_int_equal(k2.variant, 700u | 1u << 30 | 1u << 31);
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 100, 0);
	assert_true(pd_cache_key(&k2, q, n, 1232));
	assert_int_equal(k2.variant, 512u | 1u << 30);

	/* Shapes the cache leaves to pd_answer. */
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	q[n - 5] = 1; /* EDNS version 1 */
	assert_false(pd_cache_key(&k2, q, n, 1232));
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	assert_false(pd_cache_key(&k2, q, n - 1, 1232)); /* cut short */
	q[n] = 0;
	assert_false(pd_cache_key(&k2, q, n + 1, 1232)); /* trailing byte */
	q[2] |= 0x80;
	assert_false(pd_cache_key(&k2, q, n, 1232)); /* a response */
	q[2] = 0x20;
	assert_false(pd_cache_key(&k2, q, n, 1232)); /* opcode 4 */
	q[2] = 1;
	q[7] = 1;
	assert_false(pd_cache_key(&k2, q, n, 1232)); /* an answer record */
	q[7] = 0;
	q[12] = 0xC0;
	assert_false(pd_cache_key(&k2, q, n, 1232)); /* compression */
}

static void hits_match_pd_answer(void **state)
{
	/* About 300 distinct keys: 1 MiB (1024 slots) holds them all. */
	pd_cache_t *c = pd_cache_new(1024 * 1024);
	static const char *names[] = {
	    "www.example.com",    "WWW.EXAMPLE.COM",    "wWw.eXaMpLe.CoM",  "alias.example.com",
	    "x.wild.example.com", "X.Wild.Example.Com", "nope.example.com", "example.com",
	    "big.example.com",    "www.example.net"};
	static const uint16_t types[] = {PD_TYPE_A, PD_TYPE_AAAA, PD_TYPE_MX, PD_TYPE_TXT,
	                                 PD_TYPE_ANY};
	static const uint16_t sizes[] = {0, 512, 1232, 4096};
	uint8_t q[600];
	assert_non_null(c);
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
			for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++)
				for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++)
					for (int d = 0; d < 2; d++) {
						size_t n =
						    tu_query(q, names[i], types[t], PD_CLASS_IN,
						             sizes[s], d ? PD_EDNS_DO : 0);
						q[0] = (uint8_t)(round * 7 + i);
						q[2] = (uint8_t)(round ? 0 : 1); /* RD */
						check_same(c, zs, q, n);
					}
	pd_cache_stats_t st = pd_cache_stats(c);
	print_message("hits %lu misses %lu uncacheable %lu inserts %lu\n", (unsigned long)st.hits,
	              (unsigned long)st.misses, (unsigned long)st.uncacheable,
	              (unsigned long)st.inserts);
	assert_true(st.hits > 0);
	/* Different letter case of one name shares an entry. */
	assert_true(st.hits > st.misses);
	pd_cache_free(c);
}

static void a_new_zone_generation_is_never_served_stale(void **state)
{
	pd_cache_t *c = pd_cache_new(64 * 1024);
	pd_zoneset_t *next = make_set(81);
	uint8_t q[600], resp[PD_UDP_MAX];
	tu_resp_t r;
	size_t n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	size_t len = pd_cache_answer(c, zs, &conf, q, n, resp, sizeof(resp));
	len = pd_cache_answer(c, zs, &conf, q, n, resp, sizeof(resp));
	assert_int_equal(pd_cache_stats(c).hits, 1);
	tu_parse(&r, resp, len);
	assert_int_equal(r.rr[0].rdata[3], 80);
	len = pd_cache_answer(c, next, &conf, q, n, resp, sizeof(resp));
	tu_parse(&r, resp, len);
	assert_int_equal(r.rr[0].rdata[3], 81);
	assert_int_equal(pd_cache_stats(c).hits, 1);
	pd_zoneset_free(next);
	pd_cache_free(c);
}

static void a_full_cache_keeps_answering_right(void **state)
{
	/* Two slots only: every new name evicts, answers stay exact. */
	pd_cache_t *c = pd_cache_new(1);
	uint8_t q[600];
	char name[64];
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), i % 3 ? "h%d.wild.example.com" : "www.example.com", i);
		size_t n = tu_query(q, name, PD_TYPE_A, PD_CLASS_IN, 1232, 0);
		check_same(c, zs, q, n);
	}
	pd_cache_free(c);
}

static void random_queries_match_pd_answer(void **state)
{
	pd_cache_t *c = pd_cache_new(256 * 1024);
	uint8_t base[600], q[600];
	srand(99);
	size_t n = tu_query(base, "a.wild.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	for (int i = 0; i < 100000; i++) {
		memcpy(q, base, n);
		size_t len = n;
		int edits = rand() % 3;
		for (int k = 0; k < edits; k++)
			q[rand() % (int)n] = (uint8_t)rand();
		if (rand() % 8 == 0)
			len = (size_t)rand() % (n + 1);
		q[2] &= 0x7F;
		/* Twice: the second one is a hit whenever the first was stored. */
		check_same(c, zs, q, len);
		check_same(c, zs, q, len);
	}
	pd_cache_stats_t st = pd_cache_stats(c);
	assert_true(st.hits > 1000);
	assert_true(st.uncacheable > 1000);
	pd_cache_free(c);
}

/* A random workload turns on sampled inserts; a repeating one keeps storing every miss. */
static void low_hit_ratio_samples_inserts(void **state)
{
	pd_cache_t *c = pd_cache_new(64 * 1024); /* 64 slots */
	uint8_t q[600], resp[PD_UDP_MAX];
	char name[64];
	for (int i = 0; i < 3 * 65536; i++) {
		snprintf(name, sizeof(name), "h%d.wild.example.com", i);
		size_t n = tu_query(q, name, PD_TYPE_A, PD_CLASS_IN, 1232, 0);
		pd_cache_answer(c, zs, &conf, q, n, resp, sizeof(resp));
	}
	pd_cache_stats_t st = pd_cache_stats(c);
	assert_int_equal(st.hits, 0);
	/* The first epoch stores everything, the later two about one in eight. */
	assert_true(st.inserts < 65536 + 2 * 65536 / 8 + 16);
	assert_true(st.inserts >= 65536 + 2 * 65536 / 8 - 16);
	/* Back to a repeating workload: hits climb and every miss is stored again. */
	for (int i = 0; i < 2 * 65536; i++) {
		size_t n = tu_query(q, i % 2 ? "www.example.com" : "alias.example.com", PD_TYPE_A,
		                    PD_CLASS_IN, 1232, 0);
		check_same(c, zs, q, n);
	}
	assert_true(pd_cache_stats(c).hits > 65536);
	pd_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(key_shapes),
	    cmocka_unit_test(hits_match_pd_answer),
	    cmocka_unit_test(a_new_zone_generation_is_never_served_stale),
	    cmocka_unit_test(a_full_cache_keeps_answering_right),
	    cmocka_unit_test(random_queries_match_pd_answer),
	    cmocka_unit_test(low_hit_ratio_samples_inserts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
