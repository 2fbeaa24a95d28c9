/* Unit tests for the answer rules (src/answer.c, src/resp.c). */
#include "testutil.h"

#include <stdlib.h>

#include "pindns/answer.h"
#include "pindns/resp.h"
#include "pindns/zoneset.h"

#include "answer_limit.h"

static pd_zoneset_t *zs;
static const pd_answer_conf_t conf = {
    .udp_size = 1232, .identity = "ns.test", .version = "pindns test"};

static pd_zone_t *build_example_com(void)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, "example.com");
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	pd_zone_t *z = NULL;
	tu_add_soa(b, "example.com", 3600, 7, 300);
	tu_add_name(b, "example.com", PD_TYPE_NS, "ns1.example.com");
	tu_add_name(b, "example.com", PD_TYPE_NS, "ns2.example.net");
	tu_add_mx(b, "example.com", 10, "mail.example.com");
	tu_add_mx(b, "example.com", 20, "mail.example.com"); /* same target twice */
	tu_add_a(b, "ns1.example.com", 192, 0, 2, 53);
	tu_add_a(b, "mail.example.com", 192, 0, 2, 25);
	uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8};
	tu_add(b, "mail.example.com", PD_TYPE_AAAA, 3600, aaaa, 16);
	tu_add_a(b, "www.example.com", 192, 0, 2, 80);
	tu_add_txt(b, "www.example.com", "hello");
	tu_add_name(b, "ftp.example.com", PD_TYPE_CNAME, "www.example.com");
	tu_add_name(b, "alias.example.com", PD_TYPE_CNAME, "ftp.example.com");
	tu_add_name(b, "out.example.com", PD_TYPE_CNAME, "www.example.net");
	tu_add_name(b, "dangling.example.com", PD_TYPE_CNAME, "nothing.example.com");
	tu_add_name(b, "loop1.example.com", PD_TYPE_CNAME, "loop2.example.com");
	tu_add_name(b, "loop2.example.com", PD_TYPE_CNAME, "loop1.example.com");
	tu_add_a(b, "*.apps.example.com", 192, 0, 2, 100);
	tu_add_a(b, "fixed.apps.example.com", 192, 0, 2, 101);
	tu_add_name(b, "*.wc.example.com", PD_TYPE_CNAME, "www.example.com");
	tu_add_a(b, "x.y.ent.example.com", 192, 0, 2, 7);
	tu_add_name(b, "sub.example.com", PD_TYPE_NS, "ns.sub.example.com");
	tu_add_name(b, "sub.example.com", PD_TYPE_NS, "ns.example.net");
	tu_add_a(b, "ns.sub.example.com", 192, 0, 2, 153);
	uint8_t ds[8] = {0x30, 0x39, 13, 2, 1, 2, 3, 4};
	tu_add_name(b, "secure.example.com", PD_TYPE_NS, "ns.example.net");
	tu_add(b, "secure.example.com", PD_TYPE_DS, 3600, ds, sizeof(ds));
	tu_add_name(b, "old.example.com", PD_TYPE_DNAME, "new.example.com");
	tu_add_a(b, "www.new.example.com", 192, 0, 2, 42);
	tu_add_name(b, "far.example.com", PD_TYPE_DNAME, "example.net");
	uint8_t srv[6 + PD_NAME_MAX] = {0, 10, 0, 60, 0x13, 0xC4};
	tu_add(b, "_sip._udp.example.com", PD_TYPE_SRV, 3600, srv,
	       6 + tu_name(srv + 6, "mail.example.com"));
	/* 4 x 200-byte TXT: about 0.9 KB, more than 512 but less than 1232. */
	tu_add_txts(b, "mid.example.com", 4, 'm');
	/* 8 x 200-byte TXT: about 1.6 KB, more than 1232 and far more than 512. */
	tu_add_txts(b, "big.example.com", 8, 'a');
	/* A long DNAME target: substitution can exceed 255 bytes. */
	char longt[300] = "";
	for (int i = 0; i < 3; i++)
		strcat(longt, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
	strcat(longt, "example.net");
	tu_add_name(b, "long.example.com", PD_TYPE_DNAME, longt);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	return z;
}

static pd_zone_t *build_child(void)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, "secure.example.com");
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	pd_zone_t *z = NULL;
	tu_add_soa(b, "secure.example.com", 3600, 9, 60);
	tu_add_name(b, "secure.example.com", PD_TYPE_NS, "ns.example.net");
	tu_add_a(b, "www.secure.example.com", 192, 0, 2, 9);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	return z;
}

static int setup(void **state)
{
	pd_zone_t *zones[2] = {build_example_com(), build_child()};
	return pd_zoneset_new(&zs, zones, 2);
}

static int teardown(void **state)
{
	pd_zoneset_free(zs);
	return 0;
}

/* Sends a query and parses the answer; returns the response length. */
static size_t ask_full(tu_resp_t *r, const char *name, uint16_t qtype, uint16_t qclass,
                       uint16_t edns, uint16_t edns_flags)
{
	uint8_t q[512], resp[PD_UDP_MAX];
	size_t qlen = tu_query(q, name, qtype, qclass, edns, edns_flags);
	size_t len = pd_answer(zs, &conf, q, qlen, resp, sizeof(resp), NULL);
	assert_true(len >= 12);
	tu_parse(r, resp, len);
	assert_int_equal(r->id, 0xABCD);
	assert_true(r->flags & PD_FLAG_QR);
	return len;
}

static size_t ask(tu_resp_t *r, const char *name, uint16_t qtype)
{
	return ask_full(r, name, qtype, PD_CLASS_IN, 1232, 0);
}

/* Answers a prepared query with the given zones and configuration, then parses it. */
static size_t answer_with(tu_resp_t *r, const pd_zoneset_t *set, const pd_answer_conf_t *c,
                          const uint8_t *q, size_t qlen)
{
	uint8_t resp[PD_UDP_MAX];
	size_t len = pd_answer(set, c, q, qlen, resp, sizeof(resp), NULL);
	assert_true(len >= 12);
	tu_parse(r, resp, len);
	return len;
}

static void exact_match(void **state)
{
	tu_resp_t r;
	ask(&r, "www.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_true(r.flags & PD_FLAG_AA);
	assert_true(r.flags & PD_FLAG_RD); /* copied */
	assert_false(r.flags & (PD_FLAG_RA | PD_FLAG_TC | PD_FLAG_AD | PD_FLAG_CD));
	assert_int_equal(r.an, 1);
	assert_int_equal(r.ns, 0);
	assert_int_equal(r.ar, 1); /* OPT */
	assert_int_equal(r.has_opt, 1);
	assert_int_equal(r.opt_size, 1232);
	const tu_rr_t *a = tu_find(&r, 0, PD_TYPE_A, 0);
	assert_string_equal(a->owner, "www.example.com.");
	assert_int_equal(a->ttl, 3600);
	assert_int_equal(a->rdlen, 4);
	assert_memory_equal(a->rdata, "\xC0\x00\x02\x50", 4);
}

static void qname_case_is_kept(void **state)
{
	tu_resp_t r;
	uint8_t q[512], resp[PD_UDP_MAX];
	size_t qlen = tu_query(q, "wWw.ExAmPlE.cOm", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	size_t len = pd_answer(zs, &conf, q, qlen, resp, sizeof(resp), NULL);
	/* The question comes back byte for byte, and the owner points at it. */
	assert_memory_equal(resp + 12, q + 12, qlen - 12);
	tu_parse(&r, resp, len);
	assert_string_equal(r.qname, "wWw.ExAmPlE.cOm.");
	assert_string_equal(tu_find(&r, 0, PD_TYPE_A, 0)->owner, "wWw.ExAmPlE.cOm.");
	assert_int_equal(resp[qlen], 0xC0);
	assert_int_equal(resp[qlen + 1], 12);
}

static void nodata_and_nxdomain_carry_soa(void **state)
{
	tu_resp_t r;
	ask(&r, "www.example.com", PD_TYPE_AAAA);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_true(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);
	const tu_rr_t *soa = tu_find(&r, 1, PD_TYPE_SOA, 0);
	assert_string_equal(soa->owner, "example.com.");
	assert_int_equal(soa->ttl, 300); /* min(3600, MINIMUM 300) */

	ask(&r, "nope.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
	assert_true(r.flags & PD_FLAG_AA);
	assert_int_equal(r.ns, 1);
	assert_non_null(tu_find(&r, 1, PD_TYPE_SOA, 0));

	/* Empty non-terminals exist: NODATA, not NXDOMAIN. */
	ask(&r, "ent.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 0);
	ask(&r, "y.ent.example.com", PD_TYPE_ANY);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 0);
	ask(&r, "z.ent.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
}

static void cname_chain_is_followed(void **state)
{
	tu_resp_t r;
	ask(&r, "alias.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 3);
	assert_string_equal(r.rr[0].owner, "alias.example.com.");
	assert_string_equal(r.rr[0].rname, "ftp.example.com.");
	assert_string_equal(r.rr[1].owner, "ftp.example.com.");
	assert_string_equal(r.rr[2].owner, "www.example.com.");
	assert_int_equal(r.rr[2].type, PD_TYPE_A);

	/* Asking for the CNAME itself stops at it. */
	ask(&r, "alias.example.com", PD_TYPE_CNAME);
	assert_int_equal(r.an, 1);

	/* A chain ending in NODATA has the SOA; ending nowhere is NXDOMAIN (RFC 6604). */
	ask(&r, "ftp.example.com", PD_TYPE_AAAA);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_non_null(tu_find(&r, 1, PD_TYPE_SOA, 0));
	ask(&r, "dangling.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
	assert_int_equal(r.an, 1);
	assert_true(r.flags & PD_FLAG_AA);
}

static void cname_out_of_zone_and_loops_stop(void **state)
{
	tu_resp_t r;
	ask(&r, "out.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.ns, 0);

	ask(&r, "loop1.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 2); /* loop1 -> loop2 -> (loop1 again: stop) */
	assert_string_equal(r.rr[1].owner, "loop2.example.com.");
}

static void wildcard_synthesis(void **state)
{
	tu_resp_t r;
	ask(&r, "Host.Apps.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_string_equal(r.rr[0].owner, "Host.Apps.example.com."); /* the query's name */
	assert_memory_equal(r.rr[0].rdata, "\xC0\x00\x02\x64", 4);

	/* Deeper names match too (RFC 4592: the closest encloser is apps). */
	ask(&r, "a.b.apps.example.com", PD_TYPE_A);
	assert_int_equal(r.an, 1);
	/* An existing name is never synthesized. */
	ask(&r, "fixed.apps.example.com", PD_TYPE_A);
	assert_memory_equal(r.rr[0].rdata, "\xC0\x00\x02\x65", 4);
	ask(&r, "fixed.apps.example.com", PD_TYPE_TXT);
	assert_int_equal(r.an, 0);
	/* ...nor below an existing name that does not own the wildcard. */
	ask(&r, "a.fixed.apps.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
	/* Wildcard NODATA. */
	ask(&r, "host.apps.example.com", PD_TYPE_MX);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);
	/* A wildcard CNAME is followed. */
	ask(&r, "anything.wc.example.com", PD_TYPE_A);
	assert_int_equal(r.an, 2);
	assert_string_equal(r.rr[0].owner, "anything.wc.example.com.");
	assert_int_equal(r.rr[0].type, PD_TYPE_CNAME);
	assert_string_equal(r.rr[1].owner, "www.example.com.");
}

static void dname_substitution(void **state)
{
	tu_resp_t r;
	ask(&r, "www.old.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 3);
	assert_int_equal(r.rr[0].type, PD_TYPE_DNAME);
	assert_string_equal(r.rr[0].owner, "old.example.com.");
	assert_int_equal(r.rr[1].type, PD_TYPE_CNAME);
	assert_string_equal(r.rr[1].owner, "www.old.example.com.");
	assert_string_equal(r.rr[1].rname, "www.new.example.com.");
	assert_int_equal(r.rr[1].ttl, 3600);
	assert_string_equal(r.rr[2].owner, "www.new.example.com.");

	/* The DNAME owner itself is not redirected. */
	ask(&r, "old.example.com", PD_TYPE_DNAME);
	assert_int_equal(r.an, 1);
	ask(&r, "old.example.com", PD_TYPE_A);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);

	/* Out of the zone: DNAME and CNAME, nothing more. */
	ask(&r, "a.far.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 2);
	assert_string_equal(r.rr[1].rname, "a.example.net.");

	/* A substitution longer than 255 bytes is YXDOMAIN (RFC 6672 2.2). */
	char q[300] = "";
	for (int i = 0; i < 2; i++)
		strcat(q, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.");
	strcat(q, "long.example.com");
	ask(&r, q, PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_YXDOMAIN);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rr[0].type, PD_TYPE_DNAME);
}

static void referral_below_cut(void **state)
{
	tu_resp_t r;
	ask(&r, "www.sub.example.com", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_false(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 2);
	assert_string_equal(tu_find(&r, 1, PD_TYPE_NS, 0)->owner, "sub.example.com.");
	const tu_rr_t *glue = tu_find(&r, 2, PD_TYPE_A, 0);
	assert_non_null(glue);
	assert_string_equal(glue->owner, "ns.sub.example.com.");

	/* At the cut, and for the glue name itself. */
	ask(&r, "sub.example.com", PD_TYPE_NS);
	assert_false(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 2);
	ask(&r, "ns.sub.example.com", PD_TYPE_A);
	assert_false(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 0);
}

static void ds_is_answered_by_the_parent(void **state)
{
	tu_resp_t r;
	/* secure.example.com is served as a zone too; DS still comes from example.com. */
	ask(&r, "secure.example.com", PD_TYPE_DS);
	assert_true(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rr[0].type, PD_TYPE_DS);
	ask(&r, "secure.example.com", PD_TYPE_SOA);
	assert_true(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 1);
	assert_string_equal(r.rr[0].rname, "ns1.example.com.");
	/* DS at a cut without DS: NODATA from the parent. */
	ask(&r, "sub.example.com", PD_TYPE_DS);
	assert_true(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 1);
	assert_string_equal(tu_find(&r, 1, PD_TYPE_SOA, 0)->owner, "example.com.");
}

static void additional_addresses_for_mx_ns_srv(void **state)
{
	tu_resp_t r;
	ask(&r, "example.com", PD_TYPE_MX);
	assert_int_equal(r.an, 2);
	/* mail.example.com once, though two MX name it: A and AAAA. */
	assert_int_equal(r.ar, 3);
	assert_non_null(tu_find(&r, 2, PD_TYPE_A, 0));
	assert_non_null(tu_find(&r, 2, PD_TYPE_AAAA, 0));
	assert_null(tu_find(&r, 2, PD_TYPE_A, 1));

	ask(&r, "example.com", PD_TYPE_NS);
	assert_int_equal(r.an, 2);
	assert_string_equal(tu_find(&r, 2, PD_TYPE_A, 0)->owner, "ns1.example.com.");
	assert_null(tu_find(&r, 2, PD_TYPE_A, 1)); /* ns2.example.net is not ours */

	ask(&r, "_sip._udp.example.com", PD_TYPE_SRV);
	assert_int_equal(r.an, 1);
	assert_non_null(tu_find(&r, 2, PD_TYPE_AAAA, 0));
}

static void names_are_compressed(void **state)
{
	tu_resp_t r;
	size_t len = ask_full(&r, "example.com", PD_TYPE_MX, PD_CLASS_IN, 0, 0);
	/*
	 * header 12 + question 17 + 2 MX (owner ptr 2 + fixed 10 + pref 2 + "mail" 5 +
	 * ptr 2, then the second target is a pointer: 2 + 10 + 2 + 2) + A (2 + 10 + 4) +
	 * AAAA (2 + 10 + 16).
	 */
	assert_int_equal(len, 12 + 17 + 21 + 16 + 16 + 28);
}

/* Writes one RR of this type owned by the question's name; returns its RDATA's offset. */
static size_t put_rr(pd_resp_t *r, uint16_t type, const uint8_t *rdata, size_t rdlen)
{
	uint8_t owner[PD_NAME_MAX];
	size_t start = r->len;
	tu_name(owner, "www.example.com");
	assert_int_equal(
	    pd_resp_put_rr(r, PD_SEC_ANSWER, owner, type, PD_CLASS_IN, 60, rdata, (uint16_t)rdlen),
	    0);
	/* The owner is a pointer to the question, then type, class, TTL and RDLENGTH. */
	assert_int_equal(pd_get_u16(r->buf + start), 0xC000 | PD_HEADER_LEN);
	assert_int_equal(pd_get_u16(r->buf + start + 10), r->len - start - 12);
	return start + 12;
}

/*
 * Names in RDATA are compressed in the RFC 1035 types only (RFC 3597 4): the RDATA of
 * each of those shrinks to a pointer at the question, that of SRV and DNAME does not.
 */
static void only_rfc1035_rdata_names_are_compressed(void **state)
{
	static const struct {
		uint16_t type;
		size_t off; /* bytes before the name */
		int names;
		bool compressed;
	} types[] = {{PD_TYPE_NS, 0, 1, true},     {PD_TYPE_CNAME, 0, 1, true},
	             {PD_TYPE_PTR, 0, 1, true},    {PD_TYPE_MB, 0, 1, true},
	             {PD_TYPE_MX, 2, 1, true},     {PD_TYPE_SOA, 0, 2, true},
	             {PD_TYPE_MINFO, 0, 2, true},  {PD_TYPE_SRV, 6, 1, false},
	             {PD_TYPE_DNAME, 0, 1, false}, {PD_TYPE_TXT, 0, 1, false}};
	uint8_t buf[PD_UDP_MAX], rd[64];
	size_t qlen = tu_query(buf, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++) {
		pd_resp_t r;
		pd_resp_init(&r, buf, qlen, sizeof(buf), PD_HEADER_LEN);
		size_t n = types[t].off;
		memset(rd, 7, n);
		for (int i = 0; i < types[t].names; i++)
			n += tu_name(rd + n, "www.example.com");
		size_t start = put_rr(&r, types[t].type, rd, n);
		size_t rdlen = r.len - start;
		if (!types[t].compressed) {
			assert_int_equal(rdlen, n);
			assert_memory_equal(buf + start, rd, n);
			continue;
		}
		/* Each name is a pointer to the question's name. */
		assert_int_equal(rdlen, types[t].off + 2u * types[t].names);
		assert_memory_equal(buf + start, rd, types[t].off);
		for (int i = 0; i < types[t].names; i++)
			assert_int_equal(pd_get_u16(buf + start + types[t].off + 2 * i),
			                 0xC000 | PD_HEADER_LEN);
	}
}

static void any_gives_one_rrset(void **state)
{
	tu_resp_t r;
	ask(&r, "example.com", PD_TYPE_ANY);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rr[0].type, PD_TYPE_SOA);
	ask(&r, "www.example.com", PD_TYPE_ANY);
	assert_int_equal(r.an, 1);
}

static void edns_sizes_and_truncation(void **state)
{
	tu_resp_t r;
	/* No EDNS: 512 bytes at most; the TXT RRset does not fit, so TC and nothing. */
	size_t len = ask_full(&r, "big.example.com", PD_TYPE_TXT, PD_CLASS_IN, 0, 0);
	assert_true(r.flags & PD_FLAG_TC);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.has_opt, 0);
	assert_true(len <= 512);
	/* 1232 is still too small for 1.6 KB. */
	len = ask_full(&r, "big.example.com", PD_TYPE_TXT, PD_CLASS_IN, 4096, 0);
	assert_true(r.flags & PD_FLAG_TC);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.has_opt, 1);
	assert_true(len <= 1232);
	/* A client asking for less than 512 gets 512. */
	len = ask_full(&r, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 100, 0);
	assert_false(r.flags & PD_FLAG_TC);
	assert_int_equal(r.an, 1);
	/* DO is echoed. */
	ask_full(&r, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, PD_EDNS_DO);
	assert_int_equal(r.opt_ttl & PD_EDNS_DO, PD_EDNS_DO);
	ask_full(&r, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	assert_int_equal(r.opt_ttl & PD_EDNS_DO, 0);
}

static void big_answer_fits_with_a_big_buffer(void **state)
{
	pd_answer_conf_t big = conf;
	tu_resp_t r;
	uint8_t q[512];
	big.udp_size = 4096;
	size_t qlen = tu_query(q, "big.example.com", PD_TYPE_TXT, PD_CLASS_IN, 4096, 0);
	answer_with(&r, zs, &big, q, qlen);
	assert_false(r.flags & PD_FLAG_TC);
	assert_int_equal(r.an, 8);
	assert_int_equal(r.opt_size, 4096);
}

static void badvers_for_edns_version_1(void **state)
{
	uint8_t q[512];
	tu_resp_t r;
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	q[qlen - 5] = 1; /* OPT TTL: extended rcode, version, flags */
	answer_with(&r, zs, &conf, q, qlen);
	assert_int_equal(r.rcode, PD_RCODE_BADVERS);
	assert_int_equal(r.flags & 0xF, 0);
	assert_int_equal(r.opt_ttl >> 24, 1);
	assert_int_equal((r.opt_ttl >> 16) & 0xFF, 0); /* we speak version 0 */
	assert_int_equal(r.an, 0);
}

static int answer_rcode(const uint8_t *q, size_t qlen, tu_resp_t *r)
{
	uint8_t resp[PD_UDP_MAX];
	pd_answer_info_t info;
	size_t len = pd_answer(zs, &conf, q, qlen, resp, sizeof(resp), &info);
	if (len == 0)
		return -1;
	tu_parse(r, resp, len);
	assert_int_equal(info.rcode, r->rcode);
	return r->rcode;
}

static void bad_input(void **state)
{
	uint8_t q[600];
	tu_resp_t r;
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);

	/* Shorter than a header, or a response: dropped. */
	assert_int_equal(answer_rcode(q, 11, &r), -1);
	assert_int_equal(answer_rcode(q, 0, &r), -1);
	q[2] |= 0x80;
	assert_int_equal(answer_rcode(q, qlen, &r), -1);
	q[2] &= 0x7F;

	/* QDCOUNT 0 and 2: FORMERR without a question. */
	q[5] = 0;
	assert_int_equal(answer_rcode(q, qlen, &r), PD_RCODE_FORMERR);
	assert_int_equal(r.qd, 0);
	q[5] = 2;
	assert_int_equal(answer_rcode(q, qlen, &r), PD_RCODE_FORMERR);
	q[5] = 1;

	/* A question cut short, a bad label type, a compressed question name. */
	assert_int_equal(answer_rcode(q, qlen - 1, &r), PD_RCODE_FORMERR);
	assert_int_equal(answer_rcode(q, 14, &r), PD_RCODE_FORMERR);
	uint8_t bad[] = {0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'x', 0, 0, 1, 0, 1};
	assert_int_equal(answer_rcode(bad, sizeof(bad), &r), PD_RCODE_FORMERR);
	uint8_t ptr[] = {0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x04, 0, 1, 0, 1};
	assert_int_equal(answer_rcode(ptr, sizeof(ptr), &r), PD_RCODE_FORMERR);
	uint8_t loop[] = {0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1};
	assert_int_equal(answer_rcode(loop, sizeof(loop), &r), PD_RCODE_FORMERR);

	/* Trailing bytes after the question are ignored, as NSD does. */
	memcpy(q + qlen, "\0\0\0", 3);
	assert_int_equal(answer_rcode(q, qlen + 3, &r), PD_RCODE_NOERROR);

	/* ARCOUNT 1 without a record: FORMERR, question echoed. */
	q[11] = 1;
	assert_int_equal(answer_rcode(q, qlen, &r), PD_RCODE_FORMERR);
	assert_int_equal(r.qd, 1);
	q[11] = 0;

	/* ANCOUNT 1 in a query: FORMERR, as NSD. */
	q[7] = 1;
	static const uint8_t rr[] = {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4};
	memcpy(q + qlen, rr, sizeof(rr));
	assert_int_equal(answer_rcode(q, qlen + sizeof(rr), &r), PD_RCODE_FORMERR);
	q[7] = 0;

	/* Opcodes other than QUERY: NOTIMP, opcode echoed. */
	q[2] = (uint8_t)(q[2] | (4 << 3)); /* NOTIFY */
	assert_int_equal(answer_rcode(q, qlen, &r), PD_RCODE_NOTIMP);
	assert_int_equal((r.flags >> 11) & 0xF, 4);
	q[2] = 0x01;
}

static void two_opt_records_are_formerr(void **state)
{
	uint8_t q[600];
	tu_resp_t r;
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	memcpy(q + qlen, q + qlen - 11, 11);
	q[11] = 2;
	assert_int_equal(answer_rcode(q, qlen + 11, &r), PD_RCODE_FORMERR);
	assert_int_equal(r.has_opt, 0);
	/* An OPT not owned by the root is malformed too. */
	qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	static const uint8_t opt[] = {0xC0, 12, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0};
	memcpy(q + qlen, opt, sizeof(opt));
	q[11] = 1;
	assert_int_equal(answer_rcode(q, qlen + sizeof(opt), &r), PD_RCODE_FORMERR);
}

static void classes_zones_and_transfers(void **state)
{
	tu_resp_t r;
	ask(&r, "www.example.net", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_false(r.flags & PD_FLAG_AA);
	/* EDE 20 "Not Authoritative" rides in the OPT record (RFC 8914). */
	assert_int_equal(r.opt_rdlen, 6);
	assert_memory_equal(r.opt_rdata, "\x00\x0F\x00\x02\x00\x14", 6);
	ask_full(&r, "www.example.net", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_int_equal(r.has_opt, 0);

	ask_full(&r, "www.example.com", PD_TYPE_A, 4 /* HS */, 1232, 0);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	ask_full(&r, "www.example.com", PD_TYPE_A, PD_CLASS_ANY, 1232, 0);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	ask(&r, "example.com", PD_TYPE_AXFR);
	assert_int_equal(r.rcode, PD_RCODE_NOTIMP);
	ask(&r, "example.com", PD_TYPE_IXFR);
	assert_int_equal(r.rcode, PD_RCODE_NOTIMP);
}

static void chaos_identity_and_version(void **state)
{
	tu_resp_t r;
	ask_full(&r, "ID.SERVER", PD_TYPE_TXT, PD_CLASS_CH, 0, 0);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_false(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rr[0].cls, PD_CLASS_CH);
	assert_memory_equal(r.rr[0].rdata, "\x07ns.test", 8);
	ask_full(&r, "version.bind", PD_TYPE_TXT, PD_CLASS_CH, 0, 0);
	assert_memory_equal(r.rr[0].rdata, "\x0bpindns test", 12);
	ask_full(&r, "hostname.bind", PD_TYPE_A, PD_CLASS_CH, 0, 0);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 0);
	ask_full(&r, "www.example.com", PD_TYPE_TXT, PD_CLASS_CH, 0, 0);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);

	/* An empty string hides the answer. */
	pd_answer_conf_t hidden = conf;
	hidden.version = "";
	uint8_t q[512];
	size_t qlen = tu_query(q, "version.server", PD_TYPE_TXT, PD_CLASS_CH, 0, 0);
	answer_with(&r, zs, &hidden, q, qlen);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
}

static void flags_cd_cleared_rd_copied(void **state)
{
	uint8_t q[512];
	tu_resp_t r;
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	q[2] = 0x00;                               /* RD off */
	q[3] = (uint8_t)(PD_FLAG_CD | PD_FLAG_AD); /* CD and AD on */
	answer_with(&r, zs, &conf, q, qlen);
	assert_int_equal(r.flags & (PD_FLAG_RD | PD_FLAG_CD | PD_FLAG_AD | PD_FLAG_RA), 0);
}

static void no_zones_refuses(void **state)
{
	uint8_t q[512];
	tu_resp_t r;
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	answer_with(&r, NULL, &conf, q, qlen);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
}

/* Random and mutated packets: any answer must parse and fit; ASan watches the reads. */
static void random_input_never_breaks(void **state)
{
	uint8_t q[2][600], resp[PD_UDP_MAX];
	tu_resp_t r;
	srand(12345);
	/* A small answer, and one that fits with EDNS only: mutations move it across. */
	size_t bases[2] = {tu_query(q[0], "a.b.apps.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0),
	                   tu_query(q[1], "mid.example.com", PD_TYPE_TXT, PD_CLASS_IN, 1232, 0)};
	for (int i = 0; i < 200000; i++) {
		uint8_t m[600];
		size_t len;
		if (i % 2) {
			len = (size_t)rand() % 80;
			for (size_t k = 0; k < len; k++)
				m[k] = (uint8_t)rand();
		} else {
			size_t base = bases[i / 2 % 2];
			memcpy(m, q[i / 2 % 2], base);
			len = base;
			for (int k = 0; k < 3; k++)
				m[rand() % (int)base] = (uint8_t)rand();
			if (rand() % 4 == 0)
				len = (size_t)rand() % (base + 1);
		}
		m[2] &= 0x7F;
		/* A heap copy of exactly len bytes, so ASan sees any over-read. */
		uint8_t *heap = malloc(len ? len : 1);
		memcpy(heap, m, len);
		size_t out = pd_answer(zs, &conf, heap, len, resp, sizeof(resp), NULL);
		size_t limit = tu_exact_limit(heap, len, conf.udp_size);
		free(heap);
		if (out) {
			assert_true(out <= limit);
			tu_parse(&r, resp, out);
		}
	}
}

#define OPT_LEN 11 /* an OPT record without options */
#define EDE_LEN 6  /* an EDE option with its INFO-CODE */

/* The length of the sections of an answer given all the room it wants: no OPT record. */
static size_t whole_sections(const char *name, uint16_t qtype)
{
	pd_answer_conf_t roomy = conf;
	tu_resp_t r;
	uint8_t q[512];
	roomy.udp_size = PD_UDP_MAX;
	size_t qlen = tu_query(q, name, qtype, PD_CLASS_IN, PD_UDP_MAX, 0);
	size_t len = answer_with(&r, zs, &roomy, q, qlen);
	assert_false(r.flags & PD_FLAG_TC);
	return len - OPT_LEN - r.opt_rdlen;
}

/*
 * Every client size against several of ours: a response never exceeds the exact limit,
 * and one whose sections fit with room for the OPT record and its EDE option (set aside
 * even when unused) is sent whole.
 */
static void responses_fit_the_exact_limit(void **state)
{
	static const struct {
		const char *name;
		uint16_t qtype;
	} qs[] = {{"mid.example.com", PD_TYPE_TXT}, {"big.example.com", PD_TYPE_TXT},
	          {"example.com", PD_TYPE_MX},      {"www.sub.example.com", PD_TYPE_A},
	          {"www.example.net", PD_TYPE_A},   {"www.example.com", PD_TYPE_A}};
	static const uint16_t ours[] = {0, 512, 1000, 1232, PD_UDP_MAX};
	uint8_t q[512], resp[PD_UDP_MAX];
	tu_resp_t r;
	for (size_t k = 0; k < sizeof(qs) / sizeof(*qs); k++) {
		size_t whole = whole_sections(qs[k].name, qs[k].qtype);
		for (size_t o = 0; o < sizeof(ours) / sizeof(*ours); o++) {
			pd_answer_conf_t c = conf;
			c.udp_size = ours[o];
			/* 0 is no EDNS; then every size to past the largest answer, and 65535. */
			for (unsigned i = 0; i <= 2101; i++) {
				uint16_t size = i <= 2100 ? (uint16_t)i : 65535;
				size_t qlen =
				    tu_query(q, qs[k].name, qs[k].qtype, PD_CLASS_IN, size, 0);
				size_t limit = tu_exact_limit(q, qlen, c.udp_size);
				size_t len = pd_answer(zs, &c, q, qlen, resp, sizeof(resp), NULL);
				assert_true(len <= limit);
				tu_parse(&r, resp, len);
				if (whole + (size ? OPT_LEN + EDE_LEN : 0) <= limit) {
					assert_false(r.flags & PD_FLAG_TC);
					assert_int_equal(
					    len, whole + (size ? OPT_LEN + r.opt_rdlen : 0));
				}
			}
		}
	}
}

/* A batch, prefetched stage by stage, answers exactly as one query at a time. */
static void batch_answers_match_single(void **state)
{
	enum { N = 40 };
	static const char *names[] = {
	    "www.example.com",     "Mail.Example.com",  "nope.example.com",    "x.apps.example.com",
	    "www.sub.example.com", "alias.example.com", "www.old.example.com", "www.example.net"};
	uint8_t q[N][600], out[N][PD_UDP_MAX], want[PD_UDP_MAX];
	pd_dgram_t batch[N];
	srand(4242);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < N; i++) {
			size_t n =
			    tu_query(q[i], names[rand() % 8], (uint16_t)(rand() % 3 ? 1 : 28),
			             PD_CLASS_IN, (uint16_t)(rand() % 2 ? 1232 : 0), 0);
			if (rand() % 4 == 0)
				q[i][rand() % (int)n] = (uint8_t)rand();
			if (rand() % 8 == 0)
				n = (size_t)rand() % n;
			q[i][2] &= 0x7F;
			batch[i] = (pd_dgram_t){.in = q[i],
			                        .in_len = n,
			                        .out = out[i],
			                        .out_cap = sizeof(out[i]),
			                        .rcode = 0xFF,
			                        .truncated = true};
		}
		pd_answer_batch(zs, &conf, batch, N);
		for (int i = 0; i < N; i++) {
			pd_answer_info_t info;
			size_t len = pd_answer(zs, &conf, batch[i].in, batch[i].in_len, want,
			                       sizeof(want), &info);
			assert_int_equal(batch[i].out_len, len);
			assert_memory_equal(batch[i].out, want, len);
			/* And what the reply says of itself: none of it when there is none. */
			assert_int_equal(batch[i].rcode, len ? info.rcode & PD_RCODE_MASK : 0);
			assert_int_equal(batch[i].truncated, len && info.truncated);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(exact_match),
	    cmocka_unit_test(qname_case_is_kept),
	    cmocka_unit_test(nodata_and_nxdomain_carry_soa),
	    cmocka_unit_test(cname_chain_is_followed),
	    cmocka_unit_test(cname_out_of_zone_and_loops_stop),
	    cmocka_unit_test(wildcard_synthesis),
	    cmocka_unit_test(dname_substitution),
	    cmocka_unit_test(referral_below_cut),
	    cmocka_unit_test(ds_is_answered_by_the_parent),
	    cmocka_unit_test(additional_addresses_for_mx_ns_srv),
	    cmocka_unit_test(names_are_compressed),
	    cmocka_unit_test(only_rfc1035_rdata_names_are_compressed),
	    cmocka_unit_test(any_gives_one_rrset),
	    cmocka_unit_test(edns_sizes_and_truncation),
	    cmocka_unit_test(big_answer_fits_with_a_big_buffer),
	    cmocka_unit_test(badvers_for_edns_version_1),
	    cmocka_unit_test(bad_input),
	    cmocka_unit_test(two_opt_records_are_formerr),
	    cmocka_unit_test(classes_zones_and_transfers),
	    cmocka_unit_test(chaos_identity_and_version),
	    cmocka_unit_test(flags_cd_cleared_rd_copied),
	    cmocka_unit_test(no_zones_refuses),
	    cmocka_unit_test(responses_fit_the_exact_limit),
	    cmocka_unit_test(random_input_never_breaks),
	    cmocka_unit_test(batch_answers_match_single),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
