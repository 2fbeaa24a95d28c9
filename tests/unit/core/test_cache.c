/* Unit tests for the per-worker response cache (src/cache.c). */
#include "testutil.h"

#include <stdlib.h>

#include "pindns/cache.h"

#include "msgutil.h"

static pd_zoneset_t *zs;
static const pd_answer_conf_t conf = {.udp_size = 1232,
                                      .identity = "id",
                                      .version = "v",
                                      .nsid = (const uint8_t *)"ns1",
                                      .nsid_len = 3,
                                      .tcp_keepalive = 50};

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
	tu_add_name(b, "chain.example.com", PD_TYPE_CNAME, "alias.example.com");
	tu_add_a(b, "*.wild.example.com", 192, 0, 2, 9);
	tu_add_name(b, "old.example.com", PD_TYPE_DNAME, "new.example.com");
	tu_add_a(b, "www.new.example.com", 192, 0, 2, 42);
	tu_add_name(b, "sub.example.com", PD_TYPE_NS, "ns.sub.example.com");
	tu_add_a(b, "ns.sub.example.com", 192, 0, 2, 153);
	/* Nine in-domain name servers: their NS RRset fits 512 bytes, their glue does not,
	 * which sets TC on a referral that still carries its NS records (RFC 9471). */
	for (int i = 0; i < 9; i++) {
		char ns[64];
		snprintf(ns, sizeof(ns), "ns%d-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.glue.example.com", i);
		tu_add_name(b, "glue.example.com", PD_TYPE_NS, ns);
		tu_add_a(b, ns, 192, 0, 2, (uint8_t)i);
	}
	/* A DNAME whose substitution grows past 255 bytes for a long name: YXDOMAIN. */
	char longt[256] = "";
	for (int i = 0; i < 3; i++)
		strcat(longt, "ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt.");
	strcat(longt, "example.net");
	tu_add_name(b, "long.example.com", PD_TYPE_DNAME, longt);
	/* About 0.9 KB: fits 1232 and a cache slot, not 512. */
	tu_add_txts(b, "mid.example.com", 4, 'm');
	tu_add_txts(b, "big.example.com", 8, 'a');
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

/* Read through an lvalue: the counters may be atomic, and a returned struct is none. */
static uint64_t hits_of(const pd_cache_t *c)
{
	pd_cache_stats_t st = pd_cache_stats(c);
	return st.hits;
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

/*
 * pd_cache_key() of a query in wire form, over TCP or UDP, for a reply buffer of
 * PD_UDP_MAX bytes: pq, which the key points into, gets its parse.
 */
static bool key_via(pd_cache_key_t *k, pd_query_t *pq, const uint8_t *q, size_t n, uint16_t udp,
                    bool tcp)
{
	pd_answer_conf_t c = conf;
	c.udp_size = udp;
	pd_query_parse(pq, q, n);
	pq->tcp = tcp;
	return pd_cache_key(k, pq, &c, PD_UDP_MAX);
}

/* key_via() for a query that came over UDP. */
static bool key_of(pd_cache_key_t *k, pd_query_t *pq, const uint8_t *q, size_t n, uint16_t udp)
{
	return key_via(k, pq, q, n, udp, false);
}

static void key_shapes(void **state)
{
	pd_cache_key_t k1, k2;
	pd_query_t q1, q2;
	uint8_t q[600];
	size_t n = tu_query(q, "WWW.Example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	assert_true(key_of(&k1, &q1, q, n, 1232));
	assert_int_equal(k1.qsection, 17 + 4);
	assert_memory_equal(k1.question, "\3www\7example\3com\0\0\1\0\1", 21);
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	assert_true(key_of(&k2, &q2, q, n, 1232));
	assert_true(k1.hash == k2.hash); /* letter case does not matter */

	/* EDNS, its size and DO make different entries. */
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 4096, 0);
	assert_true(key_of(&k2, &q2, q, n, 1232));
	assert_int_equal(k2.variant, 1232u | 1u << 30);
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 700, PD_EDNS_DO);
	assert_true(key_of(&k2, &q2, q, n, 1232));
	assert_int_equal(k2.variant, 700u | 1u << 30 | 1u << 31);
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 100, 0);
	assert_true(key_of(&k2, &q2, q, n, 1232));
	assert_int_equal(k2.variant, 512u | 1u << 30);

	/* Shapes the cache leaves to pd_answer. */
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	q[n - 5] = 1; /* EDNS version 1 */
	assert_false(key_of(&k2, &q2, q, n, 1232));
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	assert_false(key_of(&k2, &q2, q, n - 1, 1232)); /* cut short */
	q[n] = 0;
	assert_false(key_of(&k2, &q2, q, n + 1, 1232)); /* trailing byte */
	q[2] |= 0x80;
	assert_false(key_of(&k2, &q2, q, n, 1232)); /* a response */
	q[2] = 0x20;
	assert_false(key_of(&k2, &q2, q, n, 1232)); /* opcode 4 */
	q[2] = 1;
	q[7] = 1;
	assert_false(key_of(&k2, &q2, q, n, 1232)); /* an answer record */
	q[7] = 0;
	q[12] = 0xC0;
	assert_false(key_of(&k2, &q2, q, n, 1232)); /* compression */
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
	assert_int_equal(hits_of(c), 1);
	tu_parse(&r, resp, len);
	assert_int_equal(r.rr[0].rdata[3], 80);
	len = pd_cache_answer(c, next, &conf, q, n, resp, sizeof(resp));
	tu_parse(&r, resp, len);
	assert_int_equal(r.rr[0].rdata[3], 81);
	assert_int_equal(hits_of(c), 1);
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
static void low_hit_ratio_samples_inserts_and_lookups(void **state)
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
	/* The first epoch looks every query up and stores every miss; then, at no hit in 8,
	 * only 1 batch (here, query) in 16 is looked up and 1 miss in 8 of those stored. */
	uint64_t trials = 2 * 65536 / 16;
	assert_int_equal(st.misses, 65536 + trials);
	assert_true(st.inserts <= 65536 + trials / 8 + 1);
	assert_true(st.inserts >= 65536 + trials / 8 - 1);
	/* Back to a repeating workload: the trial lookups hit, and after an epoch of them
	 * every query is looked up again and every miss stored (answers right throughout). */
	for (int i = 0; i < 2 * 65536; i++) {
		size_t n = tu_query(q, i % 2 ? "www.example.com" : "alias.example.com", PD_TYPE_A,
		                    PD_CLASS_IN, 1232, 0);
		check_same(c, zs, q, n);
	}
	assert_true(hits_of(c) > 65536);
	pd_cache_free(c);
}

/* One query for each answer rule, and what pd_answer() must make of it. */
typedef struct rule_case {
	const char *name; /* odd letter case on purpose in some */
	uint16_t qtype, qclass;
	uint16_t edns; /* 0: no OPT record */
	bool dnssec_ok;
	int rcode;
	uint16_t an, ns; /* records in the answer and authority sections */
	bool aa, tc;
	unsigned via; /* VIA_TCP: over TCP; VIA_NSID, VIA_KEEPALIVE: with that option */
} rule_case_t;

#define VIA_TCP 1u
#define VIA_NSID 2u
#define VIA_KEEPALIVE 4u

#define LONG_LABEL "lllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll" /* 63 */

/* clang-format off */
static const rule_case_t rules[] = {
	/* name, qtype, qclass, EDNS size, DO; expected rcode, AN, NS, AA, TC; via */
	/* Positive, with and without EDNS and DO, odd case, ours capping 4096. */
	{"www.example.com",      PD_TYPE_A,    PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  1, 0, 1, 0, 0},
	{"www.example.com",      PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  1, 0, 1, 0, 0},
	{"www.example.com",      PD_TYPE_A,    PD_CLASS_IN, 1232, 1, PD_RCODE_NOERROR,  1, 0, 1, 0, 0},
	{"wWw.ExAmPlE.cOm",      PD_TYPE_A,    PD_CLASS_IN, 700,  0, PD_RCODE_NOERROR,  1, 0, 1, 0, 0},
	{"example.com",          PD_TYPE_MX,   PD_CLASS_IN, 4096, 0, PD_RCODE_NOERROR,  1, 0, 1, 0, 0},
	/* NODATA and NXDOMAIN: the SOA. */
	{"www.example.com",      PD_TYPE_AAAA, PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  0, 1, 1, 0, 0},
	{"WWW.example.COM",      PD_TYPE_AAAA, PD_CLASS_IN, 1232, 1, PD_RCODE_NOERROR,  0, 1, 1, 0, 0},
	{"nope.example.com",     PD_TYPE_A,    PD_CLASS_IN, 0,    0, PD_RCODE_NXDOMAIN, 0, 1, 1, 0, 0},
	{"Nope.Example.Com",     PD_TYPE_A,    PD_CLASS_IN, 1232, 1, PD_RCODE_NXDOMAIN, 0, 1, 1, 0, 0},
	/* A CNAME chain: chain, alias, www. */
	{"chain.example.com",    PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  3, 0, 1, 0, 0},
	{"CHAIN.example.com",    PD_TYPE_A,    PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  3, 0, 1, 0, 0},
	/* Wildcard answers, deeper names too, and wildcard NODATA. */
	{"x.wild.example.com",   PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  1, 0, 1, 0, 0},
	{"A.B.WILD.example.com", PD_TYPE_A,    PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  1, 0, 1, 0, 0},
	{"x.wild.example.com",   PD_TYPE_MX,   PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  0, 1, 1, 0, 0},
	/* DNAME: the DNAME, a CNAME made from it, the A. */
	{"www.old.example.com",  PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  3, 0, 1, 0, 0},
	{"WwW.OlD.example.com",  PD_TYPE_A,    PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  3, 0, 1, 0, 0},
	/* A referral with glue. */
	{"www.sub.example.com",  PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  0, 1, 0, 0, 0},
	{"Www.Sub.Example.Com",  PD_TYPE_A,    PD_CLASS_IN, 1232, 1, PD_RCODE_NOERROR,  0, 1, 0, 0, 0},
	/* 0.9 KB: TC in 512 bytes (a client asking for 100 gets 512) or 600, fits 1232. */
	{"mid.example.com",      PD_TYPE_TXT,  PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  0, 0, 1, 1, 0},
	{"mid.example.com",      PD_TYPE_TXT,  PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  4, 0, 1, 0, 0},
	{"mid.example.com",      PD_TYPE_TXT,  PD_CLASS_IN, 600,  0, PD_RCODE_NOERROR,  0, 0, 1, 1, 0},
	{"mid.example.com",      PD_TYPE_TXT,  PD_CLASS_IN, 100,  0, PD_RCODE_NOERROR,  0, 0, 1, 1, 0},
	{"big.example.com",      PD_TYPE_TXT,  PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  0, 0, 1, 1, 0},
	/* A referral whose in-domain glue does not fit 512 bytes: TC with the NS kept. */
	{"www.glue.example.com", PD_TYPE_A,    PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  0, 9, 0, 1, 0},
	{"www.glue.example.com", PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  0, 9, 0, 0, 0},
	/* A DNAME substitution too long for a name. */
	{LONG_LABEL ".long.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0, PD_RCODE_YXDOMAIN, 1, 0, 1, 0, 0},
	/* Not ours: REFUSED with EDE 20; and CHAOS identity, or not. */
	{"www.example.net",      PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_REFUSED,  0, 0, 0, 0, 0},
	{"id.server",            PD_TYPE_TXT,  PD_CLASS_CH, 0,    0, PD_RCODE_NOERROR,  1, 0, 0, 0, 0},
	{"nope.bind",            PD_TYPE_TXT,  PD_CLASS_CH, 1232, 0, PD_RCODE_REFUSED,  0, 0, 0, 0, 0},
	/* Class ANY: IN's data, not authoritatively and without the SOA (NSD). */
	{"www.example.com",      PD_TYPE_A,    PD_CLASS_ANY, 1232, 0, PD_RCODE_NOERROR, 1, 0, 0, 0, 0},
	{"nope.example.com",     PD_TYPE_A,    PD_CLASS_ANY, 0,   0, PD_RCODE_NXDOMAIN, 0, 0, 0, 0, 0},
	/* Over TCP: no TC, whatever the EDNS size (or none). */
	{"mid.example.com",      PD_TYPE_TXT,  PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  4, 0, 1, 0, VIA_TCP},
	{"mid.example.com",      PD_TYPE_TXT,  PD_CLASS_IN, 600,  1, PD_RCODE_NOERROR,  4, 0, 1, 0, VIA_TCP},
	{"www.glue.example.com", PD_TYPE_A,    PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  0, 9, 0, 0, VIA_TCP},
	{"www.example.com",      PD_TYPE_A,    PD_CLASS_IN, 0,    0, PD_RCODE_NOERROR,  1, 0, 1, 0, VIA_TCP},
	/* The NSID asked for, over either transport, and keepalive over TCP. */
	{"www.example.com",      PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  1, 0, 1, 0, VIA_NSID},
	{"www.example.net",      PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_REFUSED,  0, 0, 0, 0, VIA_NSID},
	{"www.example.com",      PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  1, 0, 1, 0, VIA_TCP | VIA_NSID},
	{"www.example.com",      PD_TYPE_A,    PD_CLASS_IN, 1232, 0, PD_RCODE_NOERROR,  1, 0, 1, 0, VIA_TCP | VIA_KEEPALIVE},
	{"nope.example.com",     PD_TYPE_A,    PD_CLASS_IN, 1232, 1, PD_RCODE_NXDOMAIN, 0, 1, 1, 0, VIA_TCP | VIA_KEEPALIVE | VIA_NSID},
};
/* clang-format on */
#define NRULES (sizeof(rules) / sizeof(*rules))

/* Builds the query of a rule with this ID and RD bit. */
static size_t rule_query(uint8_t *q, const rule_case_t *rc, uint16_t id, bool rd)
{
	size_t n =
	    tu_query(q, rc->name, rc->qtype, rc->qclass, rc->edns, rc->dnssec_ok ? PD_EDNS_DO : 0);
	if (rc->via & VIA_NSID)
		mu_add_option(q, &n, PD_EDNS_OPT_NSID, NULL, 0);
	if (rc->via & VIA_KEEPALIVE)
		mu_add_option(q, &n, PD_EDNS_OPT_KEEPALIVE, NULL, 0);
	pd_put_u16(q, id);
	q[2] = rd ? 1 : 0;
	return n;
}

/* Swaps the letter case of the question name, which changes nothing but the case. */
static void flip_case(uint8_t *q)
{
	for (uint8_t *p = q + PD_HEADER_LEN; *p; p += 1 + *p)
		for (uint8_t i = 1; i <= *p; i++)
			if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z')
				p[i] ^= 0x20;
}

/*
 * A datagram answered by a batch holds pd_answer()'s response to the byte, and says of
 * it what pd_answer() said and what its header says: the header's RCODE and TC, or 0
 * and false when there is no reply.
 */
static void assert_answered(const pd_dgram_t *d)
{
	uint8_t want[PD_UDP_MAX];
	pd_answer_info_t info;
	size_t wlen = mu_answer(zs, &conf, d->in, d->in_len, d->tcp, want, d->out_cap, &info);
	assert_int_equal(d->out_len, wlen);
	assert_memory_equal(d->out, want, wlen);
	if (wlen == 0) {
		assert_int_equal(info.rcode, -1);
		assert_int_equal(d->rcode, 0);
		assert_false(d->truncated);
		return;
	}
	assert_int_equal(d->rcode, info.rcode & PD_RCODE_MASK);
	assert_int_equal(d->truncated, !!info.truncated);
	assert_int_equal(d->rcode, d->out[3] & PD_RCODE_MASK);
	assert_int_equal(d->truncated, (pd_get_u16(d->out + 2) & PD_FLAG_TC) != 0);
}

/*
 * A datagram for query q with room for its reply (PD_UDP_MAX bytes, TCP's too), over
 * TCP or not, and what it says of it unset.
 */
static pd_dgram_t dgram(const uint8_t *q, size_t qlen, uint8_t *out, bool tcp)
{
	/* Not 0: a path that forgot to set them shows. */
	return (pd_dgram_t){.in = q,
	                    .in_len = qlen,
	                    .out = out,
	                    .out_cap = PD_UDP_MAX,
	                    .rcode = 0xFF,
	                    .truncated = true,
	                    .tcp = tcp};
}

/* Answers one query through a batch of one: always pd_answer()'s response, to the byte. */
static size_t ask_batch(pd_cache_t *c, const uint8_t *q, size_t qlen, uint8_t *out, bool tcp)
{
	pd_dgram_t d = dgram(q, qlen, out, tcp);
	pd_cache_answer_batch(c, zs, &conf, &d, 1);
	assert_answered(&d);
	return d.out_len;
}

static void assert_counts(const pd_cache_t *c, uint64_t hits, uint64_t misses, uint64_t inserts)
{
	pd_cache_stats_t st = pd_cache_stats(c);
	assert_int_equal(st.hits, hits);
	assert_int_equal(st.misses, misses);
	assert_int_equal(st.inserts, inserts);
	assert_int_equal(st.uncacheable, 0);
}

/*
 * Each rule asked three times on a fresh cache: a miss that stores; the same query
 * with another ID, a hit; then with another ID, RD the other way and the name's letter
 * case swapped, a hit again. Each answer is pd_answer()'s, and the counters prove that
 * the last two came from the cache. Both RD values go first once.
 */
static void every_rule_is_cached_exactly(void **state)
{
	uint8_t q[600], first[PD_UDP_MAX], out[PD_UDP_MAX];
	tu_resp_t r;
	for (size_t k = 0; k < NRULES; k++)
		for (int rd = 0; rd < 2; rd++) {
			const rule_case_t *rc = &rules[k];
			pd_cache_t *c = pd_cache_new(64 * 1024);
			assert_non_null(c);
			bool tcp = rc->via & VIA_TCP;
			size_t n = rule_query(q, rc, (uint16_t)(0x1000 + k), rd);
			size_t len = ask_batch(c, q, n, first, tcp);
			assert_counts(c, 0, 1, 1);
			/* The rule did what it is here for. */
			tu_parse(&r, first, len);
			assert_int_equal(r.rcode, rc->rcode);
			assert_int_equal(r.an, rc->an);
			assert_int_equal(r.ns, rc->ns);
			assert_int_equal(!!(r.flags & PD_FLAG_AA), rc->aa);
			assert_int_equal(!!(r.flags & PD_FLAG_TC), rc->tc);
			assert_int_equal(!!(r.flags & PD_FLAG_RD), rd);
			assert_int_equal(r.has_opt, rc->edns != 0);
			assert_int_equal(!!(r.opt_ttl & PD_EDNS_DO), rc->dnssec_ok);
			assert_int_equal(first[3] & PD_RCODE_MASK, rc->rcode & PD_RCODE_MASK);
			uint16_t olen;
			assert_int_equal(
			    !!mu_find_option(r.opt_rdata, r.opt_rdlen, PD_EDNS_OPT_NSID, &olen),
			    !!(rc->via & VIA_NSID));
			assert_int_equal(!!mu_find_option(r.opt_rdata, r.opt_rdlen,
			                                  PD_EDNS_OPT_KEEPALIVE, &olen),
			                 !!(rc->via & VIA_KEEPALIVE));

			pd_put_u16(q, (uint16_t)(0x2000 + k));
			assert_int_equal(ask_batch(c, q, n, out, tcp), len);
			assert_counts(c, 1, 1, 1);
			assert_int_equal(pd_get_u16(out), 0x2000 + k);
			assert_memory_equal(out + 2, first + 2, len - 2);

			pd_put_u16(q, (uint16_t)(0x3000 + k));
			q[2] ^= 1;
			flip_case(q);
			assert_int_equal(ask_batch(c, q, n, out, tcp), len);
			assert_counts(c, 2, 1, 1);
			pd_cache_free(c);
		}
}

/* The variant tells apart what the answer depends on besides the question. */
static void key_variants(void **state)
{
	pd_cache_key_t k;
	pd_query_t pq;
	uint8_t q[600];
	size_t n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	/* TCP: the buffer is the limit, EDNS or not. */
	assert_true(key_via(&k, &pq, q, n, 1232, true));
	assert_int_equal(k.variant, PD_UDP_MAX | PD_CACHE_V_TCP);
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 700, PD_EDNS_DO);
	assert_true(key_via(&k, &pq, q, n, 1232, true));
	assert_int_equal(k.variant, PD_UDP_MAX | PD_CACHE_V_TCP | PD_CACHE_V_EDNS | PD_CACHE_V_DO);
	/* NSID over either; keepalive over TCP only (UDP ignores it: the same answer). */
	mu_add_option(q, &n, PD_EDNS_OPT_NSID, NULL, 0);
	assert_true(key_of(&k, &pq, q, n, 1232));
	assert_int_equal(k.variant, 700 | PD_CACHE_V_EDNS | PD_CACHE_V_DO | PD_CACHE_V_NSID);
	mu_add_option(q, &n, PD_EDNS_OPT_KEEPALIVE, NULL, 0);
	assert_true(key_of(&k, &pq, q, n, 1232));
	assert_int_equal(k.variant, 700 | PD_CACHE_V_EDNS | PD_CACHE_V_DO | PD_CACHE_V_NSID);
	assert_true(key_via(&k, &pq, q, n, 1232, true));
	assert_int_equal(k.variant, PD_UDP_MAX | PD_CACHE_V_TCP | PD_CACHE_V_EDNS | PD_CACHE_V_DO |
	                                PD_CACHE_V_NSID | PD_CACHE_V_KEEPALIVE);
	/* Options the answer ignores share the entry of a query without them. */
	pd_cache_key_t plain;
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	assert_true(key_of(&plain, &pq, q, n, 1232));
	mu_add_option(q, &n, 12, "\0\0\0\0", 4); /* padding */
	assert_true(key_of(&k, &pq, q, n, 1232));
	assert_int_equal(k.variant, plain.variant);
	assert_true(k.hash == plain.hash);
	/* A keepalive TIMEOUT (FORMERR over TCP), malformed options, a TSIG: not kept. */
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_add_option(q, &n, PD_EDNS_OPT_KEEPALIVE, "\0\1", 2);
	assert_false(key_via(&k, &pq, q, n, 1232, true));
	assert_false(key_of(&k, &pq, q, n, 1232));
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_add_opt_bytes(q, &n, "\0\3\0\1", 4);
	assert_false(key_of(&k, &pq, q, n, 1232));
	n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_tsig_t t = {.key = "k", .alg = "hmac-sha256", .mac_len = 32};
	mu_add_tsig(q, &n, &t);
	assert_false(key_of(&k, &pq, q, n, 1232));
	/* Nor NOTIFY, nor a QUERY without a question. */
	n = tu_query(q, "example.com", PD_TYPE_SOA, PD_CLASS_IN, 0, 0);
	mu_set_opcode(q, PD_OPCODE_NOTIFY);
	assert_false(key_of(&k, &pq, q, n, 1232));
	n = tu_query(q, "example.com", PD_TYPE_SOA, PD_CLASS_IN, 0, 0);
	q[5] = 0;
	assert_false(key_of(&k, &pq, q, n, 1232));
}

/*
 * One question over UDP and TCP, with and without NSID and keepalive, through one cache
 * in every order: each gets its own answer (a UDP TC never reaches TCP, an NSID never a
 * query that did not ask), and the second round is all hits.
 */
static void transport_and_options_are_never_mixed(void **state)
{
	static const struct {
		uint16_t edns;
		unsigned via;
	} cases[] = {{0, 0},
	             {0, VIA_TCP},
	             {512, 0},
	             {512, VIA_TCP},
	             {512, VIA_NSID},
	             {512, VIA_TCP | VIA_NSID},
	             {512, VIA_KEEPALIVE}, /* UDP ignores keepalive: the same as {512, 0} */
	             {512, VIA_TCP | VIA_KEEPALIVE},
	             {512, VIA_TCP | VIA_NSID | VIA_KEEPALIVE},
	             {512, VIA_NSID | VIA_KEEPALIVE}}; /* ... as {512, VIA_NSID} */
	enum { N = sizeof(cases) / sizeof(*cases), DISTINCT = N - 2 };
	uint8_t q[N][600], out[PD_UDP_MAX];
	size_t len[N];
	bool tcp[N];
	for (int i = 0; i < N; i++) {
		rule_case_t rc = {.name = "mid.example.com",
		                  .qtype = PD_TYPE_TXT,
		                  .qclass = PD_CLASS_IN,
		                  .edns = cases[i].edns,
		                  .via = cases[i].via};
		len[i] = rule_query(q[i], &rc, (uint16_t)i, true);
		tcp[i] = cases[i].via & VIA_TCP;
	}
	/* The UDP ones truncate (0.9 KB in 512 bytes), the TCP ones do not. */
	for (int i = 0; i < N; i++) {
		tu_resp_t r;
		size_t n = mu_answer(zs, &conf, q[i], len[i], tcp[i], out, sizeof(out), NULL);
		tu_parse(&r, out, n);
		assert_int_equal(!!(r.flags & PD_FLAG_TC), !tcp[i]);
	}
	srand(3);
	for (int round = 0; round < 50; round++) {
		pd_cache_t *c = pd_cache_new(64 * 1024);
		int order[N];
		for (int i = 0; i < N; i++)
			order[i] = i;
		for (int i = N - 1; i > 0; i--) {
			int j = rand() % (i + 1), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (int pass = 0; pass < 2; pass++)
			for (int i = 0; i < N; i++)
				ask_batch(c, q[order[i]], len[order[i]], out, tcp[order[i]]);
		pd_cache_stats_t st = pd_cache_stats(c);
		assert_int_equal(st.misses, DISTINCT);
		assert_int_equal(st.hits, 2 * N - DISTINCT);
		pd_cache_free(c);
	}
}

/* An answer without its question (REFUSED for an odd class, as NSD) is never kept: a hit
 * writes the question in. */
static void answers_without_question_are_not_kept(void **state)
{
	pd_cache_t *c = pd_cache_new(64 * 1024);
	uint8_t q[600], out[PD_UDP_MAX];
	size_t n = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_HS, 1232, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ask_batch(c, q, n, out, false), 12 + 17);
	assert_counts(c, 0, 3, 0);
	pd_cache_free(c);
}

/* Queries the cache leaves to pd_answer(), in q[0..]: returns how many. */
static size_t uncacheable_queries(uint8_t q[][600], size_t *len)
{
	for (int i = 0; i < 8; i++)
		len[i] = tu_query(q[i], "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	len[0] = tu_query(q[0], "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	q[0][len[0] - 5] = 1; /* EDNS version 1: BADVERS */
	q[1][12] = 0xC0;      /* a compressed question: FORMERR */
	q[1][13] = 0x04;
	len[1] = 14 + 4;
	len[2] -= 2;        /* cut short: FORMERR */
	q[3][2] |= 0x80;    /* a response: dropped */
	q[4][2] |= 2 << 3;  /* STATUS: NOTIMP */
	q[5][len[5]++] = 0; /* a byte after the question */
	q[6][2] |= 4 << 3;  /* NOTIFY for a name that is no zone of ours: NXDOMAIN */
	/* A zone transfer (NOTIMP over UDP): answered per client (conf->special), never kept. */
	len[7] = tu_query(q[7], "example.com", PD_TYPE_AXFR, PD_CLASS_IN, 0, 0);
	return 8;
}

/*
 * Every rule in one batch, with the RD-off, case-swapped twin of each and queries the
 * cache does not take, shuffled: more than 32 datagrams, so the batch is keyed and
 * prefetched in two chunks. In the first pass one of each pair hits what the other stored earlier
 * in the same batch; a second pass with new IDs and a new order hits on every cacheable query.
 */
static void a_mixed_batch_matches_pd_answer(void **state)
{
	enum { MAX = 2 * NRULES + 8 };
	uint8_t q[MAX][600], out[MAX][PD_UDP_MAX];
	size_t len[MAX];
	bool tcp[MAX] = {false};
	int order[MAX];
	pd_dgram_t batch[MAX];
	pd_cache_key_t keys[NRULES];
	pd_query_t parsed[NRULES];
	pd_cache_t *c = pd_cache_new(PD_CACHE_DEFAULT_SIZE); /* no two keys in one set */
	assert_non_null(c);
	size_t n = 0;
	for (size_t k = 0; k < NRULES; k++) {
		tcp[n] = tcp[n + 1] = rules[k].via & VIA_TCP;
		len[n] = rule_query(q[n], &rules[k], 0, true);
		/* Distinct keys, or the counts below would not add up. */
		assert_true(key_via(&keys[k], &parsed[k], q[n], len[n], conf.udp_size, tcp[n]));
		for (size_t j = 0; j < k; j++)
			assert_false(keys[j].variant == keys[k].variant &&
			             keys[j].qsection == keys[k].qsection &&
			             !memcmp(keys[j].question, keys[k].question, keys[k].qsection));
		n++;
		len[n] = rule_query(q[n], &rules[k], 0, false);
		flip_case(q[n++]);
	}
	size_t nunc = uncacheable_queries(q + n, len + n);
	n += nunc;
	assert_true(n > 32 && n <= MAX);
	srand(7);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++)
			order[i] = (int)i;
		/* Whichever of a rule and its twin comes first stores, the other hits. */
		for (size_t i = n - 1; i > 0; i--) {
			size_t j = (size_t)rand() % (i + 1);
			int t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (size_t i = 0; i < n; i++) {
			int k = order[i];
			pd_put_u16(q[k], (uint16_t)(pass << 12 | k));
			batch[i] = dgram(q[k], len[k], out[i], tcp[k]);
		}
		pd_cache_answer_batch(c, zs, &conf, batch, (int)n);
		for (size_t i = 0; i < n; i++)
			assert_answered(&batch[i]);
		pd_cache_stats_t st = pd_cache_stats(c);
		assert_int_equal(st.misses, NRULES);
		assert_int_equal(st.inserts, NRULES);
		assert_int_equal(st.hits, NRULES + pass * 2 * NRULES);
		assert_int_equal(st.uncacheable, (pass + 1) * nunc);
	}
	pd_cache_free(c);
}

/* What each query of uncacheable_queries() gets: header RCODE, or -1 for no reply. */
static const int uncacheable_rcodes[] = {
    PD_RCODE_BADVERS & PD_RCODE_MASK, /* 0: the upper bits are in the OPT record */
    PD_RCODE_FORMERR,
    PD_RCODE_FORMERR,
    -1,
    PD_RCODE_NOTIMP,
    PD_RCODE_NOERROR,
    PD_RCODE_NXDOMAIN,
    PD_RCODE_NOTIMP};

/*
 * Every rule and every uncacheable query in one batch, through pd_answer_batch() and
 * then twice through pd_cache_answer_batch() (misses that store, then hits): each
 * datagram reports the RCODE and TC its rule expects, the same on every path.
 */
static void both_batch_paths_report_rcode_and_tc(void **state)
{
	enum { MAX = NRULES + 8 };
	uint8_t q[MAX][600], out[MAX][PD_UDP_MAX];
	size_t len[MAX], n = 0;
	int rcode[MAX];
	bool tc[MAX], tcp[MAX] = {false};
	pd_dgram_t batch[MAX];
	pd_cache_t *c = pd_cache_new(PD_CACHE_DEFAULT_SIZE); /* no two keys in one set */
	assert_non_null(c);
	for (size_t k = 0; k < NRULES; k++, n++) {
		len[n] = rule_query(q[n], &rules[k], (uint16_t)k, k % 2);
		rcode[n] = rules[k].rcode & PD_RCODE_MASK;
		tc[n] = rules[k].tc;
		tcp[n] = rules[k].via & VIA_TCP;
	}
	size_t nunc = uncacheable_queries(q + n, len + n);
	assert_int_equal(nunc, sizeof(uncacheable_rcodes) / sizeof(*uncacheable_rcodes));
	for (size_t i = 0; i < nunc; i++, n++) {
		rcode[n] = uncacheable_rcodes[i];
		tc[n] = false;
	}
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < n; i++)
			batch[i] = dgram(q[i], len[i], out[i], tcp[i]);
		if (pass == 0)
			pd_answer_batch(zs, &conf, batch, (int)n);
		else
			pd_cache_answer_batch(c, zs, &conf, batch, (int)n);
		for (size_t i = 0; i < n; i++) {
			assert_answered(&batch[i]);
			assert_int_equal(batch[i].out_len == 0, rcode[i] < 0);
			assert_int_equal(batch[i].rcode, rcode[i] < 0 ? 0 : rcode[i]);
			assert_int_equal(batch[i].truncated, tc[i]);
		}
	}
	/* The second pass stored every rule's answer, the last was all hits. */
	pd_cache_stats_t st = pd_cache_stats(c);
	assert_int_equal(st.misses, NRULES);
	assert_int_equal(st.inserts, NRULES);
	assert_int_equal(st.hits, NRULES);
	assert_int_equal(st.uncacheable, 2 * nunc);
	pd_cache_free(c);
}

/*
 * A cache of one set: each set is probed once per batch, so a store that evicts what a
 * later query of the batch found, or stores what it missed, must make it probe again.
 * Otherwise it would be served another name's answer, or store its own twice.
 */
static void a_store_in_a_batch_reprobes_its_set(void **state)
{
	static const char *const names[] = {"www.example.com", "ns1.example.com",
	                                    "alias.example.com"};
	uint8_t q[3][600], out[4][PD_UDP_MAX];
	size_t len[3];
	pd_cache_t *c = pd_cache_new(0); /* two slots: one set of two ways */
	assert_non_null(c);
	for (int i = 0; i < 3; i++)
		len[i] = tu_query(q[i], names[i], PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	for (int round = 0; round < 6; round++) {
		/* Two names stored, then the third (a miss that evicts) before both. */
		int a = round % 3, b = (round + 1) % 3, m = (round + 2) % 3;
		pd_dgram_t batch[4] = {
		    dgram(q[m], len[m], out[0], false), dgram(q[a], len[a], out[1], false),
		    dgram(q[b], len[b], out[2], false), dgram(q[m], len[m], out[3], false)};
		pd_cache_answer_batch(c, zs, &conf, batch + 1, 2);
		pd_cache_answer_batch(c, zs, &conf, batch, 4);
		for (int i = 0; i < 4; i++)
			assert_answered(&batch[i]);
	}
	pd_cache_stats_t st = pd_cache_stats(c);
	/* The last query of each batch found what the first stored in the same batch. */
	assert_true(st.hits >= 6);
	pd_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(key_shapes),
	    cmocka_unit_test(key_variants),
	    cmocka_unit_test(transport_and_options_are_never_mixed),
	    cmocka_unit_test(answers_without_question_are_not_kept),
	    cmocka_unit_test(hits_match_pd_answer),
	    cmocka_unit_test(a_new_zone_generation_is_never_served_stale),
	    cmocka_unit_test(a_full_cache_keeps_answering_right),
	    cmocka_unit_test(random_queries_match_pd_answer),
	    cmocka_unit_test(low_hit_ratio_samples_inserts_and_lookups),
	    cmocka_unit_test(every_rule_is_cached_exactly),
	    cmocka_unit_test(a_mixed_batch_matches_pd_answer),
	    cmocka_unit_test(both_batch_paths_report_rcode_and_tc),
	    cmocka_unit_test(a_store_in_a_batch_reprobes_its_set),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
