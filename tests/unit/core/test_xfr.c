/* Unit tests for zone transfers in the core: records of a zone, diffs, AXFR/IXFR out and in. */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <strings.h>

#include "pindns/answer.h"
#include "pindns/query.h"
#include "pindns/xfr.h"
#include "pindns/zoneset.h"

#include "msgutil.h"

/* Internal to the core (lib/core/xfr_int.h): the records a diff holds. */
const pd_rr_t *pd__diff_rrs(const pd_diff_t *d, size_t *removed, size_t *added);

#define ORIGIN "example.com"
#define ID 0x4242

/*
 * example.com in versions: 0 the base; 1 www's address changed, txt's TTL changed, old
 * gone, new added, NS target in upper case (the same record); 2 as 1 with 300 more names,
 * so that a transfer takes several messages.
 */
static pd_zone_t *mkzone(uint32_t serial, int v)
{
	uint8_t o[PD_NAME_MAX], rd[64];
	tu_name(o, ORIGIN);
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	assert_non_null(b);
	tu_add_soa(b, ORIGIN, 3600, serial, 300);
	tu_add_name(b, ORIGIN, PD_TYPE_NS, v ? "NS1.Example.COM" : "ns1.example.com");
	tu_add_name(b, ORIGIN, PD_TYPE_NS, "ns2.example.com");
	tu_add_a(b, "ns1.example.com", 192, 0, 2, 1);
	tu_add_a(b, "ns2.example.com", 192, 0, 2, 2);
	tu_add_a(b, "www.example.com", 192, 0, 2, v ? 11 : 10);
	tu_add_mx(b, "mail.example.com", 10, "mx.example.com");
	rd[0] = 5;
	memcpy(rd + 1, "hello", 5);
	tu_add(b, "txt.example.com", PD_TYPE_TXT, v ? 600 : 3600, rd, 6);
	tu_add_a(b, v ? "new.example.com" : "old.example.com", 192, 0, 2, 99);
	tu_add_name(b, "sub.example.com", PD_TYPE_NS, "ns.sub.example.com");
	tu_add_a(b, "ns.sub.example.com", 192, 0, 2, 53);
	for (int i = 0; v == 2 && i < 300; i++) {
		char name[64];
		snprintf(name, sizeof(name), "host%d.example.com", i);
		tu_add_a(b, name, 198, 51, (uint8_t)(i >> 8), (uint8_t)i);
	}
	pd_zone_t *z = NULL;
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	return z;
}

/* A record copied out of a zone, to compare zones by. */
typedef struct rec {
	uint8_t owner[PD_NAME_MAX];
	uint8_t owner_len;
	uint16_t type, rdlen;
	uint32_t ttl;
	uint8_t rdata[600];
} rec_t;

typedef struct recs {
	rec_t *r;
	size_t n, cap;
} recs_t;

static int collect_fn(void *arg, const pd_rr_t *rr)
{
	recs_t *s = arg;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->r = realloc(s->r, s->cap * sizeof(*s->r));
		assert_non_null(s->r);
	}
	rec_t *r = &s->r[s->n++];
	memset(r, 0, sizeof(*r));
	assert_true(rr->rdlen <= sizeof(r->rdata));
	memcpy(r->owner, rr->owner, rr->owner_len);
	r->owner_len = rr->owner_len;
	r->type = rr->type;
	r->ttl = rr->ttl;
	r->rdlen = rr->rdlen;
	memcpy(r->rdata, rr->rdata, rr->rdlen);
	/* Compression may take an RDATA name's letters from an earlier name (matched without
	 * case): the test zones have upper case in an NS target, which others may point into
	 * (their fixed fields have no byte in 'A'..'Z'). */
	bool fold = rr->type == PD_TYPE_NS || rr->type == PD_TYPE_MX || rr->type == PD_TYPE_SOA;
	for (size_t i = 0; fold && i < r->rdlen; i++)
		if (r->rdata[i] >= 'A' && r->rdata[i] <= 'Z')
			r->rdata[i] += 32;
	return 0;
}

static int rec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(rec_t));
}

/* The records of z in order (sorted: false) or sorted. */
static recs_t collect(const pd_zone_t *z, bool sorted)
{
	recs_t s = {0};
	assert_int_equal(pd_zone_foreach(z, collect_fn, &s), 0);
	if (sorted)
		qsort(s.r, s.n, sizeof(*s.r), rec_cmp);
	return s;
}

/* z and y hold the same records, with the same TTLs. */
static void assert_same_records(const pd_zone_t *z, const pd_zone_t *y)
{
	recs_t a = collect(z, true), b = collect(y, true);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		if (rec_cmp(&a.r[i], &b.r[i]) != 0)
			print_message("record %zu differs: type %u/%u rdlen %u/%u\n", i,
			              a.r[i].type, b.r[i].type, a.r[i].rdlen, b.r[i].rdlen);
		assert_int_equal(rec_cmp(&a.r[i], &b.r[i]), 0);
	}
	free(a.r);
	free(b.r);
}

static void test_zone_refs(void **state)
{
	pd_zone_t *z = mkzone(1, 0);
	assert_int_equal(z->refs, 1);
	assert_ptr_equal(pd_zone_ref(z), z);
	assert_int_equal(z->refs, 2);
	pd_zone_free(z);
	assert_live(z);
	assert_int_equal(z->refs, 1);
	pd_zone_free(z);
	assert_freed(z);
	pd_zone_free(NULL);
}

static int stop_at_third(void *arg, const pd_rr_t *rr)
{
	return ++*(int *)arg == 3 ? 42 : 0;
}

static void test_foreach(void **state)
{
	pd_zone_t *z = mkzone(7, 0);
	recs_t s = collect(z, false);
	assert_int_equal(s.n, z->record_count);
	assert_int_equal(s.r[0].type, PD_TYPE_SOA);
	assert_int_equal(s.r[0].owner_len, z->origin_len);
	assert_memory_equal(s.r[0].owner, z->origin, z->origin_len);
	for (size_t i = 1; i < s.n; i++) {
		assert_int_not_equal(s.r[i].type, PD_TYPE_SOA);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(rec_cmp(&s.r[i], &s.r[j]), 0);
	}
	int seen = 0;
	assert_int_equal(pd_zone_foreach(z, stop_at_third, &seen), 42);
	assert_int_equal(seen, 3);
	pd_rr_t soa;
	pd_zone_soa(z, &soa);
	assert_int_equal(soa.type, PD_TYPE_SOA);
	assert_int_equal(soa.ttl, 3600);
	assert_int_equal(soa.rdlen, s.r[0].rdlen);
	assert_memory_equal(soa.rdata, s.r[0].rdata, soa.rdlen);
	free(s.r);
	pd_zone_free(z);
}

/* Signed with NSEC3: the chain (not nodes) and every RRSIG come too, once each. */
static void test_foreach_nsec3(void **state)
{
	pd_zone_t *u = mkzone(7, 0);
	pd_zone_t *z = mu_sign(u, MU_NSEC3);
	assert_int_equal(z->dnssec, PD_ZONE_NSEC3);
	recs_t s = collect(z, false);
	assert_int_equal(s.n, z->record_count);
	size_t nsec3 = 0, sigs = 0;
	for (size_t i = 0; i < s.n; i++) {
		nsec3 += s.r[i].type == PD_TYPE_NSEC3;
		sigs += s.r[i].type == PD_TYPE_RRSIG;
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(rec_cmp(&s.r[i], &s.r[j]), 0);
	}
	assert_int_equal(nsec3, z->nsec3_count);
	assert_true(sigs > nsec3);
	/* With an NSEC3 of another chain (a resalt under way): kept, and walked too. */
	pd_zone_builder_t *b = pd_zone_builder_new(z->origin);
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(pd_zone_builder_add(b, s.r[i].owner, s.r[i].type, s.r[i].ttl,
		                                     s.r[i].rdata, s.r[i].rdlen, 0),
		                 0);
	uint8_t rd[64] = {1, 0, 0, 0, 1, 0xff, 20};
	memset(rd + 7, 0x11, 20);
	rd[27] = 0; /* an empty type bitmap */
	tu_add(b, "0123456789abcdefghijklmnopqrstuv.example.com", PD_TYPE_NSEC3, 300, rd, 27);
	pd_zone_t *y;
	assert_int_equal(pd_zone_builder_finish(b, &y), 0);
	/* Warned about (with the iterations above 0 of mu_sign()'s chain). */
	assert_int_equal(pd_zone_builder_warning_count(b), 2);
	assert_non_null(strstr(pd_zone_builder_warning(b, 1, NULL), "other parameters"));
	pd_zone_builder_free(b);
	assert_int_equal(y->nsec3_count, z->nsec3_count);
	assert_int_equal(y->nsec3_other, 1);
	assert_int_equal(y->record_count, z->record_count + 1);
	recs_t t = collect(y, false);
	assert_int_equal(t.n, y->record_count);
	free(t.r);
	/* An AXFR of it brings both chains. */
	uint8_t qb[512], m[PD_MSG_MAX];
	pd_query_t q;
	size_t qlen = tu_query(qb, ORIGIN, PD_TYPE_AXFR, PD_CLASS_IN, 0, 0);
	pd_query_parse(&q, qb, qlen);
	pd_xfr_out_t *x;
	assert_int_equal(pd_xfr_out_axfr(&x, y, &q), 0);
	pd_xfr_in_t *in = pd_xfr_in_new(z->origin, NULL, q.id, 0);
	int n, ret = 0;
	while ((n = pd_xfr_out_next(x, m, sizeof(m), 0)) > 0)
		ret = pd_xfr_in_feed(in, m, (size_t)n);
	assert_int_equal(ret, 1);
	pd_zone_t *got;
	assert_int_equal(pd_xfr_in_finish(in, &got), 0);
	assert_int_equal(got->nsec3_other, 1);
	assert_same_records(got, y);
	pd_zone_free(got);
	pd_xfr_in_free(in);
	pd_xfr_out_free(x);
	pd_zone_free(y);
	free(s.r);
	pd_zone_free(u);
	pd_zone_free(z);
}

static void test_expired(void **state)
{
	pd_zone_t *z = mkzone(9, 0);
	z->from = PD_ZONE_FROM_XFR;
	z->xfr = &state;
	pd_zone_t *e = pd_zone_expired_new(z);
	assert_non_null(e);
	assert_true(e->expired);
	assert_int_equal(e->serial, 9);
	assert_int_equal(e->from, PD_ZONE_FROM_XFR);
	assert_ptr_equal(e->xfr, &state);
	assert_int_equal(e->record_count, 0);
	assert_int_equal(e->origin_len, z->origin_len);
	assert_memory_equal(e->origin, z->origin, z->origin_len);
	recs_t s = collect(e, false);
	assert_int_equal(s.n, 0);
	pd_rr_t soa;
	pd_zone_soa(e, &soa);
	assert_int_equal(soa.rdlen, 0);
	pd_diff_t *d = (pd_diff_t *)1;
	assert_int_equal(pd_diff_new(z, e, &d), -EINVAL);
	assert_null(d);
	pd_zone_free(z);

	/* Queried: SERVFAIL, no AA, the question echoed, nothing else (as Knot). */
	/* Nothing to transfer: the daemon answers SERVFAIL. */
	uint8_t qb[512];
	pd_query_t xq;
	pd_xfr_out_t *x = (pd_xfr_out_t *)1;
	pd_query_parse(&xq, qb, tu_query(qb, "example.com", PD_TYPE_AXFR, PD_CLASS_IN, 0, 0));
	xq.tcp = true;
	assert_int_equal(pd_xfr_out_axfr(&x, e, &xq), -ENOENT);
	assert_null(x);
	pd_query_parse(&xq, qb, pd_xfr_query(qb, sizeof(qb), 1, e->origin, PD_TYPE_IXFR, 1));
	xq.tcp = true;
	assert_int_equal(pd_xfr_out_ixfr(&x, e, NULL, 0, &xq), -ENOENT);

	pd_zoneset_t *zs;
	assert_int_equal(pd_zoneset_new(&zs, &e, 1), 0);
	pd_answer_conf_t conf = {.udp_size = 1232};
	/* Checked against knotd 3.2.6 with an expired secondary: "flags: qr", the question,
	 * and an OPT when the query had one. */
	const char *names[] = {"example.com", "www.example.com", "nothing.example.com"};
	for (int i = 0; i < 3; i++) {
		uint8_t q[512], resp[PD_MSG_MAX];
		tu_resp_t r;
		size_t qlen = tu_query(q, names[i], PD_TYPE_A, PD_CLASS_IN, i == 1 ? 1232 : 0, 0);
		pd_query_t pq;
		pd_query_parse(&pq, q, qlen);
		pd_answer_prefetch(zs, &pq, 1, NULL);
		size_t n = pd_answer_query(zs, &conf, &pq, resp, sizeof(resp), NULL);
		assert_true(n > 0);
		tu_parse(&r, resp, n);
		assert_int_equal(r.rcode, PD_RCODE_SERVFAIL);
		assert_int_equal(r.flags & PD_FLAG_AA, 0);
		assert_int_equal(r.qd, 1);
		assert_int_equal(r.an + r.ns, 0);
		assert_int_equal(r.ar, i == 1);
		assert_int_equal(r.has_opt, i == 1);
	}
	pd_zoneset_free(zs);
}

/* The records of d as (removed, added) counts, checking the SOAs lead each list. */
static void diff_counts(const pd_diff_t *d, uint32_t from, uint32_t to, size_t *rm, size_t *add)
{
	const pd_rr_t *rrs = pd__diff_rrs(d, rm, add);
	assert_true(*rm >= 1 && *add >= 1);
	assert_int_equal(rrs[0].type, PD_TYPE_SOA);
	assert_int_equal(rrs[*rm].type, PD_TYPE_SOA);
	assert_int_equal(pd_get_u32(rrs[0].rdata + rrs[0].rdlen - 20), from);
	assert_int_equal(pd_get_u32(rrs[*rm].rdata + rrs[*rm].rdlen - 20), to);
	for (size_t i = 1; i < *rm + *add; i++)
		if (i != *rm)
			assert_int_not_equal(rrs[i].type, PD_TYPE_SOA);
	assert_int_equal(pd_diff_from(d), from);
	assert_int_equal(pd_diff_to(d), to);
}

static void test_diff(void **state)
{
	pd_zone_t *a = mkzone(1, 0), *b = mkzone(2, 1), *c = mkzone(3, 2);
	pd_diff_t *d;
	size_t rm, add;
	assert_int_equal(pd_diff_new(a, b, &d), 0);
	diff_counts(d, 1, 2, &rm, &add);
	/* www's A, txt's TTL, old -> new; the NS in other letter case is the same record. */
	assert_int_equal(rm, 4);
	assert_int_equal(add, 4);
	const pd_rr_t *rrs = pd__diff_rrs(d, &rm, &add);
	bool txt_out = false, txt_in = false;
	for (size_t i = 0; i < rm + add; i++)
		if (rrs[i].type == PD_TYPE_TXT) {
			if (i < rm)
				txt_out = rrs[i].ttl == 3600;
			else
				txt_in = rrs[i].ttl == 600;
		}
	assert_true(txt_out && txt_in);
	assert_true(pd_diff_size(d) > 0);
	pd_diff_t *d2 = pd_diff_ref(d);
	pd_diff_unref(d);
	diff_counts(d2, 1, 2, &rm, &add); /* still there */
	pd_diff_unref(d2);

	assert_int_equal(pd_diff_new(b, c, &d), 0);
	diff_counts(d, 2, 3, &rm, &add);
	assert_int_equal(rm, 1);
	assert_int_equal(add, 301);
	pd_diff_unref(d);

	/* Nothing changed but the serial: the SOAs alone. */
	pd_zone_t *a2 = mkzone(5, 0);
	assert_int_equal(pd_diff_new(a, a2, &d), 0);
	diff_counts(d, 1, 5, &rm, &add);
	assert_int_equal(rm + add, 2);
	pd_diff_unref(d);

	uint8_t o[PD_NAME_MAX];
	tu_name(o, "example.net");
	pd_zone_builder_t *bn = pd_zone_builder_new(o);
	tu_add_soa(bn, "example.net", 3600, 1, 300);
	tu_add_name(bn, "example.net", PD_TYPE_NS, "ns.example.com");
	pd_zone_t *other;
	assert_int_equal(pd_zone_builder_finish(bn, &other), 0);
	pd_zone_builder_free(bn);
	assert_int_equal(pd_diff_new(a, other, &d), -EINVAL);
	assert_null(d);
	pd_zone_free(other);
	pd_zone_free(a);
	pd_zone_free(a2);
	pd_zone_free(b);
	pd_zone_free(c);
}

/* A parsed query, over TCP unless told; the wire stays in buf. */
static void parse_query(pd_query_t *q, const uint8_t *buf, size_t len, bool tcp)
{
	pd_query_parse(q, buf, len);
	assert_false(q->drop);
	assert_int_equal(q->rcode, 0);
	q->tcp = tcp;
}

/* Checks one message of a transfer and returns its answer count. */
static int check_msg(const uint8_t *m, size_t len, bool first, uint16_t id, bool rd)
{
	tu_resp_t r;
	assert_true(len <= PD_MSG_MAX);
	assert_int_equal(pd_get_u16(m), id);
	uint16_t flags = pd_get_u16(m + 2);
	assert_true(flags & PD_FLAG_QR);
	assert_true(flags & PD_FLAG_AA);
	assert_int_equal((flags & PD_FLAG_RD) != 0, rd);
	assert_int_equal(flags & PD_RCODE_MASK, 0);
	assert_int_equal(pd_get_u16(m + 4), first ? 1 : 0);
	if (pd_get_u16(m + 6) <= 64) { /* tu_parse() keeps 64 records */
		tu_parse(&r, m, len);
		if (first)
			assert_int_equal(strcasecmp(r.qname, "example.com."), 0);
	}
	return pd_get_u16(m + 6);
}

/*
 * Sends x's messages of at most cap bytes (reserve kept free) into a transfer in of the
 * zone, from old; returns the new version (NULL: current) and the message count.
 */
static pd_zone_t *pump(pd_xfr_out_t *x, const pd_zone_t *old, size_t cap, size_t reserve, int *msgs,
                       uint16_t id, bool rd, bool *was_ixfr)
{
	static uint8_t m[PD_MSG_MAX];
	uint8_t o[PD_NAME_MAX];
	tu_name(o, "EXAMPLE.com");
	pd_xfr_in_t *in = pd_xfr_in_new(o, old, id, 0);
	assert_non_null(in);
	int ret = 0, n;
	*msgs = 0;
	while ((n = pd_xfr_out_next(x, m, cap, reserve)) > 0) {
		assert_true((size_t)n <= cap - reserve);
		check_msg(m, (size_t)n, *msgs == 0, id, rd);
		assert_int_equal(ret, 0); /* not done before the last message */
		ret = pd_xfr_in_feed(in, m, (size_t)n);
		if (ret < 0)
			fail_msg("feed: %d %s", ret, pd_xfr_in_error(in));
		(*msgs)++;
	}
	assert_int_equal(n, 0);
	assert_int_equal(pd_xfr_out_next(x, m, cap, reserve), 0);
	assert_int_equal(ret, 1);
	pd_zone_t *z = (pd_zone_t *)1;
	assert_int_equal(pd_xfr_in_finish(in, &z), 0);
	*was_ixfr = pd_xfr_in_was_ixfr(in);
	assert_true(pd_xfr_in_records(in) > 0);
	pd_xfr_in_free(in);
	return z;
}

static void test_axfr_roundtrip(void **state)
{
	pd_zone_t *z = mkzone(3, 2);
	pd_zone_t *s = mu_sign(z, MU_NSEC3);
	uint8_t qb[512];
	size_t qlen = tu_query(qb, "Example.COM", PD_TYPE_AXFR, PD_CLASS_IN, 0, 0);
	pd_query_t q;
	parse_query(&q, qb, qlen, true);
	const size_t caps[] = {PD_MSG_MAX, 512, 300};
	for (int k = 0; k < 2; k++) {
		const pd_zone_t *src = k ? s : z;
		for (int i = 0; i < 3; i++) {
			pd_xfr_out_t *x;
			int msgs;
			bool ixfr;
			assert_int_equal(pd_xfr_out_axfr(&x, src, &q), 0);
			pd_zone_t *got = pump(x, NULL, caps[i], 100, &msgs, 0xABCD, true, &ixfr);
			assert_non_null(got);
			assert_false(ixfr);
			/* The signed one is over 64 KiB. */
			assert_int_equal(msgs > 1, i > 0 || k == 1);
			assert_same_records(src, got);
			assert_int_equal(got->serial, 3);
			assert_int_equal(got->dnssec, src->dnssec);
			pd_zone_free(got);
			pd_xfr_out_free(x);
		}
	}
	/* A record larger than the room: -EMSGSIZE. */
	pd_xfr_out_t *x;
	uint8_t m[PD_MSG_MAX];
	assert_int_equal(pd_xfr_out_axfr(&x, z, &q), 0);
	assert_int_equal(pd_xfr_out_next(x, m, 60, 0), -EMSGSIZE);
	assert_int_equal(pd_xfr_out_next(x, m, 20, 10), -EMSGSIZE);
	pd_xfr_out_free(x);
	/* The question echoed as sent; compression makes the SOA owner a pointer to it. */
	assert_int_equal(pd_xfr_out_axfr(&x, z, &q), 0);
	int n = pd_xfr_out_next(x, m, 512, 0);
	assert_true(n > 0);
	assert_memory_equal(m + 12, qb + 12, qlen - 12);
	assert_int_equal(pd_get_u16(m + qlen), 0xC000 | 12);
	pd_xfr_out_free(x);
	pd_zone_free(s);
	pd_zone_free(z);
}

/* An IXFR query with serial, as a client sends it. */
static size_t ixfr_query(uint8_t *buf, uint32_t serial)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, ORIGIN);
	size_t n = pd_xfr_query(buf, 512, ID, o, PD_TYPE_IXFR, serial);
	assert_true(n > 0);
	return n;
}

static void test_xfr_query(void **state)
{
	uint8_t buf[512], o[PD_NAME_MAX];
	tu_name(o, ORIGIN);
	pd_query_t q;
	uint32_t serial = 0;
	size_t n = ixfr_query(buf, 0xFFFFFFF0u);
	parse_query(&q, buf, n, true);
	assert_int_equal(q.qtype, PD_TYPE_IXFR);
	assert_int_equal(q.id, ID);
	assert_int_equal(q.nscount, 1);
	assert_int_equal(pd_xfr_ixfr_serial(&q, &serial), 0);
	assert_int_equal(serial, 0xFFFFFFF0u);
	n = pd_xfr_query(buf, sizeof(buf), 7, o, PD_TYPE_AXFR, 0);
	parse_query(&q, buf, n, true);
	assert_int_equal(q.qtype, PD_TYPE_AXFR);
	assert_int_equal(q.nscount, 0);
	assert_int_equal(pd_xfr_ixfr_serial(&q, &serial), -EINVAL);
	n = pd_xfr_query(buf, sizeof(buf), 7, o, PD_TYPE_SOA, 0);
	parse_query(&q, buf, n, false);
	assert_int_equal(q.qtype, PD_TYPE_SOA);
	assert_int_equal(pd_xfr_query(buf, 20, 7, o, PD_TYPE_IXFR, 1), 0);
	/* The SOA of another name than the question's: -EINVAL. */
	uint8_t other[PD_NAME_MAX];
	size_t olen = tu_name(other, "example.org");
	size_t qn = 12 + olen + 4;
	memset(buf, 0, 12);
	buf[5] = 1;
	buf[9] = 1;
	memcpy(buf + 12, other, olen);
	pd_put_u16(buf + 12 + olen, PD_TYPE_IXFR);
	pd_put_u16(buf + 14 + olen, PD_CLASS_IN);
	uint8_t tail[PD_NAME_MAX + 40];
	size_t t = tu_name(tail, ORIGIN);
	n = pd_xfr_query(buf + 256, 256, 7, o, PD_TYPE_IXFR, 9);
	memcpy(tail + t, buf + 256 + 12 + t + 4 + 2, n - (12 + t + 4 + 2));
	t += n - (12 + t + 4 + 2);
	memcpy(buf + qn, tail, t);
	parse_query(&q, buf, qn + t, true);
	assert_int_equal(pd_xfr_ixfr_serial(&q, &serial), -EINVAL);
	/* No SOA in the authority section: -EINVAL. */
	pd_zone_t *z = mkzone(5, 0);
	pd_xfr_out_t *x = (pd_xfr_out_t *)1;
	n = pd_xfr_query(buf, sizeof(buf), 7, o, PD_TYPE_AXFR, 0);
	pd_put_u16(buf + 2 + 2 + 2, 0); /* still no records */
	parse_query(&q, buf, n, true);
	assert_int_equal(pd_xfr_out_ixfr(&x, z, NULL, 0, &q), -EINVAL);
	assert_null(x);
	pd_zone_free(z);
}

/* Transfers are never cached: the answer depends on who asks. */
static void test_not_cacheable(void **state)
{
	uint8_t buf[512];
	pd_query_t q;
	size_t n = tu_query(buf, ORIGIN, PD_TYPE_AXFR, PD_CLASS_IN, 0, 0);
	parse_query(&q, buf, n, true);
	assert_false(q.cacheable);
	parse_query(&q, buf, ixfr_query(buf, 1), false);
	assert_false(q.cacheable);
	n = tu_query(buf, ORIGIN, PD_TYPE_SOA, PD_CLASS_IN, 0, 0);
	parse_query(&q, buf, n, false);
	assert_true(q.cacheable);
}

/* The single SOA answer: for a client current, newer (RFC 1982), or asking over UDP. */
static void test_ixfr_soa_only(void **state)
{
	pd_zone_t *z = mkzone(5, 0), *old = mkzone(1, 0);
	pd_diff_t *d;
	assert_int_equal(pd_diff_new(old, z, &d), 0);
	const struct {
		uint32_t serial;
		bool tcp;
	} cases[] = {{5, true}, {6, true}, {0x80000004u, true}, {5, false}, {1, false}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t qb[512], m[512];
		pd_query_t q;
		parse_query(&q, qb, ixfr_query(qb, cases[i].serial), cases[i].tcp);
		pd_xfr_out_t *x;
		assert_int_equal(pd_xfr_out_ixfr(&x, z, &d, cases[i].serial == 1, &q), 0);
		int n = pd_xfr_out_next(x, m, 512, 0);
		assert_true(n > 0);
		tu_resp_t r;
		tu_parse(&r, m, (size_t)n);
		assert_int_equal(r.an, 1);
		assert_int_equal(r.rr[0].type, PD_TYPE_SOA);
		assert_int_equal(pd_get_u32(r.rr[0].rdata + r.rr[0].rdlen - 20), 5);
		assert_int_equal(r.id, ID);
		assert_int_equal(r.qd, 1);
		assert_true(r.flags & PD_FLAG_AA);
		assert_int_equal(pd_xfr_out_next(x, m, 512, 0), 0);
		pd_xfr_out_free(x);
	}
	/* The client that is current takes the answer as "up to date". */
	uint8_t qb[512], m[512];
	pd_query_t q;
	pd_xfr_out_t *x;
	parse_query(&q, qb, ixfr_query(qb, 5), true);
	assert_int_equal(pd_xfr_out_ixfr(&x, z, NULL, 0, &q), 0);
	int msgs;
	bool ixfr;
	assert_null(pump(x, z, 512, 0, &msgs, ID, false, &ixfr));
	assert_int_equal(msgs, 1);
	pd_xfr_out_free(x);
	(void)m;
	pd_diff_unref(d);
	pd_zone_free(old);
	pd_zone_free(z);
}

/* Diffs out as IXFR and in again, applied to the old version: the new version. */
static void test_ixfr_roundtrip(void **state)
{
	pd_zone_t *v[3] = {mkzone(1, 0), mkzone(2, 1), mkzone(3, 2)};
	pd_diff_t *d[2];
	assert_int_equal(pd_diff_new(v[0], v[1], &d[0]), 0);
	assert_int_equal(pd_diff_new(v[1], v[2], &d[1]), 0);
	const size_t caps[] = {PD_MSG_MAX, 512};
	for (int from = 0; from < 2; from++)
		for (int c = 0; c < 2; c++) {
			uint8_t qb[512];
			pd_query_t q;
			pd_xfr_out_t *x;
			int msgs;
			bool ixfr;
			parse_query(&q, qb, ixfr_query(qb, v[from]->serial), true);
			assert_int_equal(pd_xfr_out_ixfr(&x, v[2], d + from, 2 - from, &q), 0);
			pd_zone_t *got = pump(x, v[from], caps[c], 0, &msgs, ID, false, &ixfr);
			assert_non_null(got);
			assert_true(ixfr);
			assert_int_equal(msgs > 1, c == 1);
			assert_same_records(got, v[2]);
			pd_zone_free(got);
			pd_xfr_out_free(x);
		}
	/* No diffs reaching back (or ones that do not lead here): the AXFR form, taken whole. */
	for (int k = 0; k < 2; k++) {
		uint8_t qb[512];
		pd_query_t q;
		pd_xfr_out_t *x;
		int msgs;
		bool ixfr;
		parse_query(&q, qb, ixfr_query(qb, 1), true);
		assert_int_equal(pd_xfr_out_ixfr(&x, v[2], k ? d + 1 : NULL, k, &q), 0);
		pd_zone_t *got = pump(x, v[0], PD_MSG_MAX, 0, &msgs, ID, false, &ixfr);
		assert_non_null(got);
		assert_false(ixfr);
		assert_same_records(got, v[2]);
		pd_zone_free(got);
		pd_xfr_out_free(x);
	}
	pd_diff_unref(d[0]);
	pd_diff_unref(d[1]);
	for (int i = 0; i < 3; i++)
		pd_zone_free(v[i]);
}

/* ---- transfers in that fail: messages made by hand ---- */

typedef struct mb {
	uint8_t m[4096];
	size_t len;
	uint16_t an;
} mb_t;

static void mb_start(mb_t *b, uint16_t id, uint16_t flags, const char *qname, uint16_t qtype)
{
	memset(b, 0, sizeof(*b));
	pd_put_u16(b->m, id);
	pd_put_u16(b->m + 2, flags);
	b->len = 12;
	if (qname) {
		pd_put_u16(b->m + 4, 1);
		b->len += tu_name(b->m + 12, qname);
		pd_put_u16(b->m + b->len, qtype);
		pd_put_u16(b->m + b->len + 2, PD_CLASS_IN);
		b->len += 4;
	}
}

static void mb_rr(mb_t *b, const char *owner, uint16_t type, uint16_t cls, const void *rd,
                  size_t rdlen)
{
	b->len += tu_name(b->m + b->len, owner);
	pd_put_u16(b->m + b->len, type);
	pd_put_u16(b->m + b->len + 2, cls);
	mu_put_u32(b->m + b->len + 4, 3600);
	pd_put_u16(b->m + b->len + 8, (uint16_t)rdlen);
	memcpy(b->m + b->len + 10, rd, rdlen);
	b->len += 10 + rdlen;
	pd_put_u16(b->m + 6, ++b->an);
}

static void mb_soa(mb_t *b, uint32_t serial)
{
	uint8_t rd[2 * PD_NAME_MAX + 20];
	size_t n = tu_name(rd, "ns1.example.com");
	n += tu_name(rd + n, "hostmaster.example.com");
	uint32_t v[5] = {serial, 7200, 3600, 1209600, 300};
	for (int i = 0; i < 5; i++, n += 4)
		mu_put_u32(rd + n, v[i]);
	mb_rr(b, ORIGIN, PD_TYPE_SOA, PD_CLASS_IN, rd, n);
}

static void mb_a(mb_t *b, const char *owner, uint8_t last)
{
	uint8_t rd[4] = {192, 0, 2, last};
	mb_rr(b, owner, PD_TYPE_A, PD_CLASS_IN, rd, 4);
}

static void mb_ns(mb_t *b, const char *target)
{
	uint8_t rd[PD_NAME_MAX];
	mb_rr(b, ORIGIN, PD_TYPE_NS, PD_CLASS_IN, rd, tu_name(rd, target));
}

#define RESP (PD_FLAG_QR | PD_FLAG_AA)

static pd_xfr_in_t *in_new(const pd_zone_t *old, size_t max)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, ORIGIN);
	pd_xfr_in_t *in = pd_xfr_in_new(o, old, ID, max);
	assert_non_null(in);
	return in;
}

/* Feeds one message to a new transfer in; returns what pd_xfr_in_feed() said. */
static int feed1(const mb_t *b, const pd_zone_t *old, size_t max, int *rcode)
{
	pd_xfr_in_t *in = in_new(old, max);
	int ret = pd_xfr_in_feed(in, b->m, b->len);
	if (ret < 0)
		assert_true(pd_xfr_in_error(in)[0] != '\0');
	if (rcode)
		*rcode = pd_xfr_in_rcode(in);
	if (ret < 0) /* a failed transfer stays failed */
		assert_int_equal(pd_xfr_in_feed(in, b->m, b->len), -EPROTO);
	pd_xfr_in_free(in);
	return ret;
}

/* A whole AXFR of a minimal zone, in one message. */
static void axfr_msg(mb_t *b, uint32_t first, uint32_t last)
{
	mb_start(b, ID, RESP, ORIGIN, PD_TYPE_AXFR);
	mb_soa(b, first);
	mb_ns(b, "ns1.example.com");
	mb_a(b, "ns1.example.com", 1);
	mb_soa(b, last);
}

static void test_in_axfr(void **state)
{
	mb_t b;
	int rcode;
	axfr_msg(&b, 5, 5);
	assert_int_equal(feed1(&b, NULL, 0, NULL), 1);
	/* The last SOA another serial (RFC 5936 2.2). */
	axfr_msg(&b, 5, 6);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	/* Another ID; not a response; another opcode. */
	axfr_msg(&b, 5, 5);
	pd_put_u16(b.m, ID + 1);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	axfr_msg(&b, 5, 5);
	pd_put_u16(b.m + 2, PD_FLAG_AA);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	axfr_msg(&b, 5, 5);
	pd_put_u16(b.m + 2, RESP | (4 << PD_OPCODE_SHIFT));
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	/* An error rcode: refused, and the rcode kept. */
	mb_start(&b, ID, PD_FLAG_QR | PD_RCODE_NOTAUTH, ORIGIN, PD_TYPE_AXFR);
	assert_int_equal(feed1(&b, NULL, 0, &rcode), -ECONNREFUSED);
	assert_int_equal(rcode, PD_RCODE_NOTAUTH);
	/* The question: another name, another type, none in the first message. */
	mb_start(&b, ID, RESP, "example.net", PD_TYPE_AXFR);
	mb_soa(&b, 5);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_A);
	mb_soa(&b, 5);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	mb_start(&b, ID, RESP, NULL, 0);
	mb_soa(&b, 5);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	/* The first record not the SOA. */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_AXFR);
	mb_ns(&b, "ns1.example.com");
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	/* A record outside the zone; one of class CH. */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_AXFR);
	mb_soa(&b, 5);
	mb_a(&b, "www.example.net", 1);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_AXFR);
	mb_soa(&b, 5);
	uint8_t a[4] = {1, 2, 3, 4};
	mb_rr(&b, "www.example.com", PD_TYPE_A, PD_CLASS_CH, a, 4);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	/* Cut short inside a record. */
	axfr_msg(&b, 5, 5);
	b.len -= 3;
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	/* Past max_bytes. */
	axfr_msg(&b, 5, 5);
	assert_int_equal(feed1(&b, NULL, 60, NULL), -EFBIG);
	assert_int_equal(feed1(&b, NULL, 1000, NULL), 1);
	/* Records after the last SOA, in the same message or another. */
	axfr_msg(&b, 5, 5);
	mb_a(&b, "www.example.com", 1);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -EPROTO);
	pd_xfr_in_t *in = in_new(NULL, 0);
	axfr_msg(&b, 5, 5);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 1);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), -EPROTO);
	pd_xfr_in_free(in);
	/* Complete, but no zone the builder takes (no NS): the builder's reason. */
	in = in_new(NULL, 0);
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_AXFR);
	mb_soa(&b, 5);
	mb_a(&b, "www.example.com", 1);
	mb_soa(&b, 5);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 1);
	pd_zone_t *z = (pd_zone_t *)1;
	assert_true(pd_xfr_in_finish(in, &z) < 0);
	assert_null(z);
	assert_non_null(strstr(pd_xfr_in_error(in), "NS"));
	pd_xfr_in_free(in);
	/* Not complete yet: finish says so. */
	in = in_new(NULL, 0);
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_AXFR);
	mb_soa(&b, 5);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 0);
	assert_int_equal(pd_xfr_in_finish(in, &z), -EINPROGRESS);
	/* The rest in a second message without a question. */
	mb_start(&b, ID, RESP, NULL, 0);
	mb_ns(&b, "ns1.example.com");
	mb_soa(&b, 5);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 1);
	assert_int_equal(pd_xfr_in_finish(in, &z), 0);
	assert_int_equal(z->serial, 5);
	assert_int_equal(z->record_count, 2);
	pd_zone_free(z);
	pd_xfr_in_free(in);
}

/* IXFR of the old zone (mkzone(1, 0)) to serial 2: failures of the incremental form. */
static void test_in_ixfr(void **state)
{
	pd_zone_t *old = mkzone(1, 0);
	mb_t b;
	/* Well formed: www 10 -> 11. */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 2);
	mb_soa(&b, 1);
	mb_a(&b, "WWW.example.com", 10); /* the case of a name does not matter */
	mb_soa(&b, 2);
	mb_a(&b, "www.example.com", 11);
	mb_soa(&b, 2);
	pd_xfr_in_t *in = in_new(old, 0);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 1);
	assert_true(pd_xfr_in_was_ixfr(in));
	pd_zone_t *z;
	assert_int_equal(pd_xfr_in_finish(in, &z), 0);
	assert_int_equal(z->serial, 2);
	assert_int_equal(z->record_count, old->record_count);
	uint8_t www[PD_NAME_MAX];
	tu_name(www, "www.example.com");
	const pd_node_t *n = pd_zone_find(z, www, pd_name_len(www));
	assert_non_null(n);
	const pd_rrset_t *rs = pd_zone_rrset(z, n, PD_TYPE_A);
	assert_int_equal(pd_zone_rrset_data(z, rs)[2 + 3], 11);
	pd_zone_free(z);
	pd_xfr_in_free(in);
	/* Starting from another serial than ours: -ENOENT (AXFR instead). */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 2);
	mb_soa(&b, 0);
	assert_int_equal(feed1(&b, old, 0, NULL), -ENOENT);
	assert_int_equal(feed1(&b, NULL, 0, NULL), -ENOENT);
	/* Deleting what we do not have: -ENOENT. */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 2);
	mb_soa(&b, 1);
	mb_a(&b, "www.example.com", 77);
	assert_int_equal(feed1(&b, old, 0, NULL), -ENOENT);
	/* The next diff not starting where the last ended. */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 3);
	mb_soa(&b, 1);
	mb_soa(&b, 2);
	mb_soa(&b, 7);
	assert_int_equal(feed1(&b, old, 0, NULL), -EPROTO);
	/* Two diffs, the second deleting what the first added. */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 3);
	mb_soa(&b, 1);
	mb_soa(&b, 2);
	mb_a(&b, "extra.example.com", 5);
	mb_soa(&b, 2);
	mb_a(&b, "extra.example.com", 5);
	mb_soa(&b, 3);
	mb_a(&b, "extra2.example.com", 6);
	mb_soa(&b, 3);
	in = in_new(old, 0);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 1);
	assert_int_equal(pd_xfr_in_finish(in, &z), 0);
	assert_int_equal(z->serial, 3);
	assert_int_equal(z->record_count, old->record_count + 1);
	pd_zone_free(z);
	pd_xfr_in_free(in);
	/* Past max_bytes. */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 2);
	mb_soa(&b, 1);
	mb_soa(&b, 2);
	mb_soa(&b, 2);
	assert_int_equal(feed1(&b, old, 100, NULL), -EFBIG);
	assert_int_equal(feed1(&b, old, 0, NULL), 1);
	/* Our own SOA alone, or an older one: current, no zone. */
	for (uint32_t s = 0; s <= 1; s++) {
		mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
		mb_soa(&b, s);
		in = in_new(old, 0);
		assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 1);
		z = (pd_zone_t *)1;
		assert_int_equal(pd_xfr_in_finish(in, &z), 0);
		assert_null(z);
		pd_xfr_in_free(in);
	}
	/* A newer SOA alone: more is due. */
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 2);
	assert_int_equal(feed1(&b, old, 0, NULL), 0);
	/* The question changing between messages. */
	in = in_new(old, 0);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 0);
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_AXFR);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), -EPROTO);
	pd_xfr_in_free(in);
	pd_zone_free(old);
}

/*
 * A primary that sends messages without records, without end, once held xfrd's transfer
 * for ever: they added nothing to the bytes counted against max_bytes (only records did)
 * and nothing ended the run. Now every byte counts, and more than 16 messages in a row
 * without a record fail the transfer (-EPROTO); a record ends a run.
 */
static void test_in_empty_messages(void **state)
{
	mb_t first, empty, one;
	mb_start(&first, ID, RESP, ORIGIN, PD_TYPE_AXFR);
	mb_soa(&first, 5);
	mb_start(&empty, ID, RESP, NULL, 0); /* a header alone: 12 bytes */
	mb_start(&one, ID, RESP, NULL, 0);
	mb_a(&one, "ns1.example.com", 1);
	/* Sixteen in a row are taken, and a record starts the count again; the 17th is not. */
	pd_xfr_in_t *in = in_new(NULL, 0);
	assert_int_equal(pd_xfr_in_feed(in, first.m, first.len), 0);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 16; i++)
			assert_int_equal(pd_xfr_in_feed(in, empty.m, empty.len), 0);
		if (round == 0)
			assert_int_equal(pd_xfr_in_feed(in, one.m, one.len), 0);
	}
	assert_int_equal(pd_xfr_in_feed(in, empty.m, empty.len), -EPROTO);
	assert_non_null(strstr(pd_xfr_in_error(in), "without a record"));
	pd_xfr_in_free(in);
	/* Empty messages count against max_bytes: 10 of them (120 bytes) pass 60 to spare. */
	in = in_new(NULL, first.len + 60);
	assert_int_equal(pd_xfr_in_feed(in, first.m, first.len), 0);
	int ret = 0, i;
	for (i = 0; i < 10 && ret == 0; i++)
		ret = pd_xfr_in_feed(in, empty.m, empty.len);
	assert_int_equal(ret, -EFBIG);
	assert_int_equal(i, 6); /* the 6th brings 72 bytes more */
	pd_xfr_in_free(in);
}

/*
 * IXFR: a diff that adds a record the zone already has, then a later diff deleting it,
 * leaves it deleted. The add used to put a second copy into the version so far, the
 * delete took one of the two out, and the zone built kept the record.
 */
static void test_in_ixfr_add_existing(void **state)
{
	pd_zone_t *old = mkzone(1, 0); /* www.example.com A 192.0.2.10 */
	mb_t b;
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 3);
	mb_soa(&b, 1); /* 1 -> 2: www's A added, though there */
	mb_soa(&b, 2);
	mb_a(&b, "www.example.com", 10);
	mb_soa(&b, 2); /* 2 -> 3: www's A deleted */
	mb_a(&b, "www.example.com", 10);
	mb_soa(&b, 3);
	mb_soa(&b, 3);
	pd_xfr_in_t *in = in_new(old, 0);
	assert_int_equal(pd_xfr_in_feed(in, b.m, b.len), 1);
	pd_zone_t *z;
	assert_int_equal(pd_xfr_in_finish(in, &z), 0);
	assert_int_equal(z->serial, 3);
	assert_int_equal(z->record_count, old->record_count - 1);
	uint8_t www[PD_NAME_MAX];
	tu_name(www, "www.example.com");
	const pd_node_t *n = pd_zone_find(z, www, pd_name_len(www));
	assert_true(!n || !pd_zone_rrset(z, n, PD_TYPE_A));
	pd_zone_free(z);
	pd_xfr_in_free(in);
	pd_zone_free(old);
}

#ifdef TU_ASAN
/* ASan's hook on every allocation (compiler-rt's sanitizer/allocator_interface.h, which
 * GCC does not ship): the bytes allocated while counting is on. */
int __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                              void (*f)(const volatile void *));
static bool alloc_counting;
static size_t alloc_bytes;
static void alloc_hook(const volatile void *p, size_t size)
{
	if (alloc_counting)
		alloc_bytes += size;
}
static void free_hook(const volatile void *p)
{
}
#endif

/*
 * IXFR of many small diffs onto a large zone is applied in proportion to what they add,
 * not to the zone at each diff: each diff used to rewrite (and sort) the whole version so
 * far, so 2,000 diffs onto 50,000 records took 34 s. The work is measured as the bytes
 * allocated (under ASan, whose hook sees them; without it the result alone is checked):
 * 1,000 diffs onto 20,000 records, each replacing one address, must allocate less than a
 * quarter of one copy of the zone's records per diff (the old way allocated one per diff;
 * now about 1/40 of that).
 */
static void test_in_ixfr_many_diffs(void **state)
{
	enum { NBASE = 20000, NDIFFS = 1000 };
	uint8_t o[PD_NAME_MAX];
	tu_name(o, ORIGIN);
	pd_zone_builder_t *zb = pd_zone_builder_new(o);
	tu_add_soa(zb, ORIGIN, 3600, 1, 300);
	tu_add_name(zb, ORIGIN, PD_TYPE_NS, "ns1.example.com");
	tu_add_a(zb, "ns1.example.com", 192, 0, 2, 1);
	char name[64];
	for (int i = 0; i < NBASE; i++) {
		snprintf(name, sizeof(name), "h%d.example.com", i);
		tu_add_a(zb, name, 198, 51, (uint8_t)(i >> 8), (uint8_t)i);
	}
	pd_zone_t *old;
	assert_int_equal(pd_zone_builder_finish(zb, &old), 0);
	pd_zone_builder_free(zb);

#ifdef TU_ASAN
	__sanitizer_install_malloc_and_free_hooks(alloc_hook, free_hook);
	alloc_bytes = 0;
	alloc_counting = true;
#endif
	pd_xfr_in_t *in = in_new(old, 0);
	mb_t b;
	mb_start(&b, ID, RESP, ORIGIN, PD_TYPE_IXFR);
	mb_soa(&b, 1 + NDIFFS);
	int ret = 0;
	for (int k = 0; k < NDIFFS; k++) { /* k + 1 -> k + 2: h<k> moves to 203.0.113.x */
		uint8_t was[4] = {198, 51, (uint8_t)(k >> 8), (uint8_t)k};
		uint8_t now[4] = {203, 0, 113, (uint8_t)k};
		snprintf(name, sizeof(name), "h%d.example.com", k);
		mb_soa(&b, 1 + k);
		mb_rr(&b, name, PD_TYPE_A, PD_CLASS_IN, was, 4);
		mb_soa(&b, 2 + k);
		mb_rr(&b, name, PD_TYPE_A, PD_CLASS_IN, now, 4);
		if (b.len > 3500) {
			assert_int_equal(ret = pd_xfr_in_feed(in, b.m, b.len), 0);
			mb_start(&b, ID, RESP, NULL, 0);
		}
	}
	mb_soa(&b, 1 + NDIFFS);
	ret = pd_xfr_in_feed(in, b.m, b.len);
	if (ret < 0)
		fail_msg("feed: %d %s", ret, pd_xfr_in_error(in));
	assert_int_equal(ret, 1);
#ifdef TU_ASAN
	alloc_counting = false;
	size_t bound = (size_t)NDIFFS * NBASE * sizeof(pd_rr_t) / 4;
	print_message("allocated %zu bytes applying %d diffs (bound %zu)\n", alloc_bytes, NDIFFS,
	              bound);
	assert_true(alloc_bytes < bound);
#endif
	pd_zone_t *z;
	assert_int_equal(pd_xfr_in_finish(in, &z), 0);
	assert_true(pd_xfr_in_was_ixfr(in));
	assert_int_equal(z->serial, 1 + NDIFFS);
	assert_int_equal(z->record_count, old->record_count);
	for (int k = 0; k < NDIFFS + 1; k += NDIFFS / 2) {
		snprintf(name, sizeof(name), "h%d.example.com", k);
		tu_name(o, name);
		const pd_node_t *n = pd_zone_find(z, o, pd_name_len(o));
		assert_non_null(n);
		const pd_rrset_t *rs = pd_zone_rrset(z, n, PD_TYPE_A);
		assert_non_null(rs);
		assert_int_equal(pd_zone_rrset_data(z, rs)[2], k < NDIFFS ? 203 : 198);
	}
	pd_zone_free(z);
	pd_xfr_in_free(in);
	pd_zone_free(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zone_refs),
	    cmocka_unit_test(test_foreach),
	    cmocka_unit_test(test_foreach_nsec3),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_diff),
	    cmocka_unit_test(test_xfr_query),
	    cmocka_unit_test(test_axfr_roundtrip),
	    cmocka_unit_test(test_ixfr_soa_only),
	    cmocka_unit_test(test_ixfr_roundtrip),
	    cmocka_unit_test(test_in_axfr),
	    cmocka_unit_test(test_in_ixfr),
	    cmocka_unit_test(test_not_cacheable),
	    cmocka_unit_test(test_in_empty_messages),
	    cmocka_unit_test(test_in_ixfr_add_existing),
	    cmocka_unit_test(test_in_ixfr_many_diffs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
