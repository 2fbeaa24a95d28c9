/* Unit tests for the answer rules (src/answer.c, src/resp.c). */
#include "testutil.h"

#include <stdlib.h>

#include "pindns/answer.h"
#include "pindns/resp.h"
#include "pindns/zoneset.h"

#include "answer_limit.h"
#include "msgutil.h"

static pd_zoneset_t *zs;
static const pd_answer_conf_t conf = {
    .udp_size = 1232, .identity = "ns.test", .version = "pindns test"};
/* The same with an NSID and a TCP keepalive: 12.3 s. */
static const pd_answer_conf_t conf_ids = {.udp_size = 1232,
                                          .identity = "ns.test",
                                          .version = "pindns test",
                                          .nsid = (const uint8_t *)"ns1.test",
                                          .nsid_len = 8,
                                          .tcp_keepalive = 123};

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
	tu_add_name(b, "*.wd.example.com", PD_TYPE_NS, "ns.example.net"); /* a wildcard cut */
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
	/* Static: r points into it after the return. */
	static uint8_t resp[PD_UDP_MAX];
	uint8_t q[512];
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
	static uint8_t resp[PD_MSG_MAX]; /* r points into it after the return */
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

/* A wildcard NS is a cut (RFC 4592 4.2): a referral from "*", as Knot, not an answer. */
static void wildcard_ns_refers(void **state)
{
	static const uint16_t types[] = {PD_TYPE_A, PD_TYPE_NS};
	for (int i = 0; i < 2; i++) {
		tu_resp_t r;
		ask(&r, "a.B.wd.example.com", types[i]);
		assert_int_equal(r.rcode, PD_RCODE_NOERROR);
		assert_false(r.flags & PD_FLAG_AA);
		assert_int_equal(r.an, 0);
		assert_int_equal(r.ns, 1);
		assert_string_equal(tu_find(&r, 1, PD_TYPE_NS, 0)->owner, "*.wd.example.com.");
	}
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
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, PD_EDNS_DO);
	mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, NULL, 0);
	mu_add_opt_bytes(q, &qlen, "\0\3\0\7", 4); /* malformed: options are not read */
	q[PD_HEADER_LEN + 17 + 4 + 6] = 1;         /* OPT TTL: extended rcode, version, flags */
	q[3] = (uint8_t)(PD_FLAG_CD | PD_FLAG_Z | PD_FLAG_AD);
	answer_with(&r, zs, &conf_ids, q, qlen);
	assert_int_equal(r.rcode, PD_RCODE_BADVERS);
	assert_int_equal(r.flags & 0xF, 0);
	assert_int_equal(r.opt_ttl >> 24, 1);
	assert_int_equal((r.opt_ttl >> 16) & 0xFF, 0); /* we speak version 0 */
	assert_int_equal(r.an, 0);
	assert_int_equal(r.qd, 1);
	/* As NSD: the query's flags come back (but AD), with neither DO nor any option. */
	assert_int_equal(r.flags, PD_FLAG_QR | PD_FLAG_RD | PD_FLAG_CD | PD_FLAG_Z);
	assert_int_equal(r.opt_ttl & PD_EDNS_DO, 0);
	assert_int_equal(r.opt_rdlen, 0);
}

static int answer_rcode(const uint8_t *q, size_t qlen, tu_resp_t *r)
{
	static uint8_t resp[PD_UDP_MAX]; /* r points into it after the return */
	pd_answer_info_t info;
	size_t len = pd_answer(zs, &conf, q, qlen, resp, sizeof(resp), &info);
	if (len == 0)
		return -1;
	tu_parse(r, resp, len);
	assert_int_equal(info.rcode, r->rcode);
	return r->rcode;
}

/* A FORMERR as NSD sends it: header only, RD and the opcode kept (or nothing, rd_kept). */
static void assert_formerr(const tu_resp_t *r, int rcode, bool rd_kept)
{
	assert_int_equal(rcode, PD_RCODE_FORMERR);
	assert_int_equal(r->flags, PD_FLAG_QR | (rd_kept ? PD_FLAG_RD : 0) | PD_RCODE_FORMERR);
	assert_int_equal(r->qd + r->an + r->ns + r->ar, 0);
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

	/* QDCOUNT 0 and 2 with a question after the header: FORMERR with every flag
	 * cleared, as NSD; with nothing after the header RD is kept. */
	q[5] = 0;
	assert_formerr(&r, answer_rcode(q, qlen, &r), false);
	assert_formerr(&r, answer_rcode(q, PD_HEADER_LEN, &r), true);
	q[5] = 2;
	assert_formerr(&r, answer_rcode(q, qlen, &r), false);
	q[5] = 1;

	/* A question cut short, a bad label type, a compressed question name. */
	assert_formerr(&r, answer_rcode(q, qlen - 1, &r), true);
	assert_formerr(&r, answer_rcode(q, 14, &r), true);
	uint8_t bad[] = {0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 'x', 0, 0, 1, 0, 1};
	assert_formerr(&r, answer_rcode(bad, sizeof(bad), &r), true);
	uint8_t ptr[] = {0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x04, 0, 1, 0, 1};
	assert_formerr(&r, answer_rcode(ptr, sizeof(ptr), &r), true);
	uint8_t loop[] = {0xAB, 0xCD, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 0x0C, 0, 1, 0, 1};
	assert_formerr(&r, answer_rcode(loop, sizeof(loop), &r), true);

	/* Trailing bytes after the question are ignored, as NSD does. */
	memcpy(q + qlen, "\0\0\0", 3);
	assert_int_equal(answer_rcode(q, qlen + 3, &r), PD_RCODE_NOERROR);

	/* ARCOUNT 1 without a record: FORMERR, no question echoed (as NSD). */
	q[11] = 1;
	assert_formerr(&r, answer_rcode(q, qlen, &r), true);
	q[11] = 0;

	/* ANCOUNT or NSCOUNT 1 in a query: FORMERR, as NSD. */
	static const uint8_t rr[] = {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4};
	memcpy(q + qlen, rr, sizeof(rr));
	q[7] = 1;
	assert_formerr(&r, answer_rcode(q, qlen + sizeof(rr), &r), true);
	q[7] = 0;
	q[9] = 1;
	assert_formerr(&r, answer_rcode(q, qlen + sizeof(rr), &r), true);
	q[9] = 0;
	/* ... and so is any additional record but an OPT and a TSIG. */
	q[11] = 1;
	assert_formerr(&r, answer_rcode(q, qlen + sizeof(rr), &r), true);
	q[11] = 0;

	/* RCODE bits in a query: FORMERR, as NSD (a query has no rcode to tell). */
	q[3] = PD_RCODE_REFUSED;
	assert_formerr(&r, answer_rcode(q, qlen, &r), true);
	q[3] = 0;
	/* Other flags are ignored. */
	q[2] |= (PD_FLAG_AA | PD_FLAG_TC) >> 8;
	q[3] = (uint8_t)(PD_FLAG_RA | PD_FLAG_Z);
	assert_int_equal(answer_rcode(q, qlen, &r), PD_RCODE_NOERROR);
	assert_int_equal(r.flags, PD_FLAG_QR | PD_FLAG_AA | PD_FLAG_RD);
}

/* A record after the OPT, or before it: FORMERR (NSD takes an OPT first, a TSIG last). */
static void additional_records_are_opt_then_tsig(void **state)
{
	uint8_t q[600];
	tu_resp_t r;
	static const uint8_t a[] = {0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4};
	static const uint8_t opt[] = {0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0};
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	memcpy(q + qlen, a, sizeof(a));
	q[11] = 2;
	assert_formerr(&r, answer_rcode(q, qlen + sizeof(a), &r), true);
	qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	memcpy(q + qlen, a, sizeof(a));
	memcpy(q + qlen + sizeof(a), opt, sizeof(opt));
	q[11] = 2;
	assert_formerr(&r, answer_rcode(q, qlen + sizeof(a) + sizeof(opt), &r), true);
}

/* Every opcode but QUERY and NOTIFY: NOTIMP with the query's flags, as NSD answers. */
static void other_opcodes_are_notimp(void **state)
{
	uint8_t q[600];
	tu_resp_t r;
	for (unsigned op = 1; op < 16; op++) {
		if (op == PD_OPCODE_NOTIFY)
			continue;
		for (int shape = 0; shape < 4; shape++) {
			size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN,
			                       shape & 1 ? 1232 : 0, 0);
			mu_set_opcode(q, op);
			q[2] |= PD_FLAG_AA >> 8;
			q[3] = (uint8_t)(PD_FLAG_CD | PD_FLAG_AD | PD_FLAG_Z | PD_RCODE_NXDOMAIN);
			if (shape & 2)
				q[5] = 0; /* QDCOUNT 0: NOTIMP still, the opcode is read first */
			uint8_t resp[PD_UDP_MAX];
			size_t len = pd_answer(zs, &conf, q, qlen, resp, sizeof(resp), NULL);
			assert_int_equal(len, PD_HEADER_LEN);
			tu_parse(&r, resp, len);
			assert_int_equal(r.id, 0xABCD);
			assert_int_equal(r.flags, PD_FLAG_QR | op << PD_OPCODE_SHIFT | PD_FLAG_AA |
			                              PD_FLAG_RD | PD_FLAG_CD | PD_FLAG_Z |
			                              PD_RCODE_NOTIMP);
			assert_int_equal(r.qd + r.an + r.ns + r.ar, 0);
		}
	}
}

/* A NOTIFY's answer: the query's flags, nothing after the header. */
static int notify_rcode(const uint8_t *q, size_t qlen)
{
	uint8_t resp[PD_UDP_MAX];
	tu_resp_t r;
	size_t len = pd_answer(zs, &conf, q, qlen, resp, sizeof(resp), NULL);
	assert_int_equal(len, PD_HEADER_LEN);
	tu_parse(&r, resp, len);
	assert_int_equal(r.flags & ~PD_RCODE_MASK,
	                 PD_FLAG_QR | PD_OPCODE_NOTIFY << PD_OPCODE_SHIFT | PD_FLAG_AA);
	return r.rcode;
}

/*
 * NOTIFY before zones are kept as secondaries: what NSD answers for the zones it serves
 * without allow-notify (REFUSED), for names that are none of its zones (NXDOMAIN), with
 * records it cannot read (FORMERR) and with a TSIG (NOTAUTH, and its TSIG record).
 */
static void notify_is_refused_as_nsd_does(void **state)
{
	uint8_t q[600];
	static const uint8_t soa[] = {0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0, 0, 0, 0,
	                              7,    0,  0, 0, 0, 0, 0, 0, 0, 0,  0, 0,  0, 0, 0, 0, 0};
	static const char *const refused[] = {"example.com", "EXAMPLE.com", "secure.example.com"};
	static const char *const nxdomain[] = {"www.example.com", "example.net", "com", "."};
	for (int i = 0; i < 3; i++) {
		size_t qlen = tu_query(q, refused[i], PD_TYPE_SOA, PD_CLASS_IN, 0, 0);
		mu_set_opcode(q, PD_OPCODE_NOTIFY);
		q[2] = (uint8_t)((q[2] & ~1) | PD_FLAG_AA >> 8); /* RFC 1996: AA, no RD */
		assert_int_equal(notify_rcode(q, qlen), PD_RCODE_REFUSED);
		/* The SOA in the answer section is no FORMERR in a NOTIFY. */
		memcpy(q + qlen, soa, sizeof(soa));
		q[7] = 1;
		assert_int_equal(notify_rcode(q, qlen + sizeof(soa)), PD_RCODE_REFUSED);
		/* An additional record that is not there is, for our zones: NSD looks at the
		 * last record for a TSIG, past every other one. */
		q[11] = 1;
		assert_int_equal(notify_rcode(q, qlen + sizeof(soa)), PD_RCODE_FORMERR);
		q[7] = q[11] = 0;
		mu_tsig_t t = {.key = "k", .alg = "hmac-sha256", .fudge = 300, .mac_len = 32};
		size_t tlen = qlen;
		mu_add_tsig(q, &tlen, &t);
		uint8_t resp[PD_UDP_MAX];
		tu_resp_t r;
		size_t len = pd_answer(zs, &conf, q, tlen, resp, sizeof(resp), NULL);
		tu_parse(&r, resp, len);
		assert_int_equal(r.rcode, PD_RCODE_NOTAUTH);
		assert_int_equal(r.qd, 0);
		assert_int_equal(r.ar, 1);
		assert_int_equal(r.rr[0].type, PD_TYPE_TSIG);
		assert_int_equal(notify_rcode(q, tlen - 1), PD_RCODE_FORMERR);
	}
	for (int i = 0; i < 4; i++) {
		size_t qlen = tu_query(q, nxdomain[i], PD_TYPE_SOA, PD_CLASS_IN, 0, 0);
		mu_set_opcode(q, PD_OPCODE_NOTIFY);
		q[2] = (uint8_t)((q[2] & ~1) | PD_FLAG_AA >> 8);
		assert_int_equal(notify_rcode(q, qlen), PD_RCODE_NXDOMAIN);
		q[11] = 1; /* a record we cannot read: no zone of ours, so NXDOMAIN still */
		assert_int_equal(notify_rcode(q, qlen), PD_RCODE_NXDOMAIN);
	}
	/* No question to read: FORMERR with RD and the opcode kept, as every FORMERR. */
	size_t qlen = tu_query(q, "example.com", PD_TYPE_SOA, PD_CLASS_IN, 0, 0);
	mu_set_opcode(q, PD_OPCODE_NOTIFY);
	q[5] = 0;
	uint8_t resp[PD_UDP_MAX];
	tu_resp_t r;
	size_t len = pd_answer(zs, &conf, q, PD_HEADER_LEN, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, len);
	assert_int_equal(r.flags, PD_FLAG_QR | PD_OPCODE_NOTIFY << PD_OPCODE_SHIFT | PD_FLAG_RD |
	                              PD_RCODE_FORMERR);
	/* QDCOUNT 0 with a question after the header: NSD reads it all the same. */
	len = pd_answer(zs, &conf, q, qlen, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, len);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
}

/* What the special hook saw, and what it does: answer (a bare NOERROR header) or decline. */
typedef struct special_log {
	int calls;
	bool answer;
	bool take;
	const pd_zoneset_t *zs;
	uint16_t qtype;
	uint8_t opcode;
} special_log_t;

static bool special_hook(void *arg, const pd_zoneset_t *set, const pd_query_t *q, pd_dgram_t *d)
{
	special_log_t *log = arg;
	log->calls++;
	log->zs = set;
	log->qtype = q->qtype;
	log->opcode = q->opcode;
	if (!log->answer)
		return false;
	if (log->take) {
		d->take = true;
		return true;
	}
	memcpy(d->out, d->in, PD_HEADER_LEN);
	d->out[2] |= PD_FLAG_QR >> 8;
	d->out[3] = PD_RCODE_NOTAUTH;
	d->out_len = PD_HEADER_LEN;
	d->rcode = PD_RCODE_NOTAUTH;
	return true;
}

/* Answers q (qlen bytes) through pd_answer_batch() with c, over TCP when tcp. */
static pd_dgram_t special_ask(const pd_answer_conf_t *c, const uint8_t *q, size_t qlen,
                              uint8_t *out, bool tcp)
{
	pd_dgram_t d = {.in = q, .in_len = qlen, .out = out, .out_cap = PD_MSG_MAX, .tcp = tcp};
	pd_answer_batch(zs, c, &d, 1);
	return d;
}

/*
 * The special hook gets NOTIFY, AXFR, IXFR and signed queries, parsed without error,
 * before any rule: what it answers goes out as it made it, what it declines is answered
 * by the rules as without it. Other queries never reach it.
 */
static void special_hook_answers_or_declines(void **state)
{
	static uint8_t out[PD_MSG_MAX], want[PD_MSG_MAX];
	uint8_t q[600];
	special_log_t log = {0};
	pd_answer_conf_t c = conf;
	c.special = special_hook;
	c.special_arg = &log;
	static const uint8_t soa[] = {0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0, 0, 0, 0,
	                              7,    0,  0, 0, 0, 0, 0, 0, 0, 0,  0, 0,  0, 0, 0, 0, 0};
	struct {
		uint16_t qtype;
		int opcode;
		bool tsig, ixfr_soa;
	} special[] = {
	    {PD_TYPE_AXFR, 0, false, false},
	    {PD_TYPE_IXFR, 0, false, true},
	    {PD_TYPE_SOA, PD_OPCODE_NOTIFY, false, false},
	    {PD_TYPE_A, 0, true, false},
	};
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
		for (int tcp = 0; tcp < 2; tcp++) {
			size_t qlen =
			    tu_query(q, "example.com", special[i].qtype, PD_CLASS_IN, 0, 0);
			if (special[i].opcode)
				mu_set_opcode(q, (unsigned)special[i].opcode);
			if (special[i].ixfr_soa) {
				memcpy(q + qlen, soa, sizeof(soa));
				qlen += sizeof(soa);
				q[9] = 1;
			}
			if (special[i].tsig) {
				mu_tsig_t t = {
				    .key = "k", .alg = "hmac-sha256", .fudge = 300, .mac_len = 32};
				mu_add_tsig(q, &qlen, &t);
			}
			/* Declined: the rules' answer, byte for byte. */
			log = (special_log_t){0};
			pd_dgram_t d = special_ask(&c, q, qlen, out, tcp);
			pd_dgram_t w = special_ask(&conf, q, qlen, want, tcp);
			assert_int_equal(log.calls, 1);
			assert_ptr_equal(log.zs, zs);
			assert_int_equal(log.qtype, special[i].qtype);
			assert_int_equal(d.out_len, w.out_len);
			assert_int_equal(d.rcode, w.rcode);
			assert_false(d.take);
			assert_memory_equal(out, want, w.out_len);
			/* Answered: its answer, and the rules never ran. */
			log = (special_log_t){.answer = true};
			d = special_ask(&c, q, qlen, out, tcp);
			assert_int_equal(log.calls, 1);
			assert_int_equal(d.out_len, PD_HEADER_LEN);
			assert_int_equal(d.rcode, PD_RCODE_NOTAUTH);
			assert_int_equal(out[3], PD_RCODE_NOTAUTH);
			/* Taken: no answer, take set. */
			log = (special_log_t){.answer = true, .take = true};
			d = special_ask(&c, q, qlen, out, tcp);
			assert_int_equal(d.out_len, 0);
			assert_true(d.take);
			/* Through pd_answer_dgram() too. */
			log = (special_log_t){0};
			d = (pd_dgram_t){
			    .in = q, .in_len = qlen, .out = out, .out_cap = PD_MSG_MAX};
			pd_answer_dgram(zs, &c, &d);
			assert_int_equal(log.calls, 1);
		}
	}
	/* Ordinary queries, malformed ones and other opcodes never reach it. */
	log = (special_log_t){.answer = true};
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	pd_dgram_t d = special_ask(&c, q, qlen, out, false);
	assert_int_equal(d.rcode, PD_RCODE_NOERROR);
	assert_int_not_equal(d.out_len, PD_HEADER_LEN);
	qlen = tu_query(q, "example.com", PD_TYPE_AXFR, PD_CLASS_IN, 0, 0);
	q[7] = 1; /* an answer record in a query that has none: FORMERR */
	d = special_ask(&c, q, qlen, out, true);
	assert_int_equal(d.rcode, PD_RCODE_FORMERR);
	q[7] = 0;
	mu_set_opcode(q, 5); /* UPDATE */
	d = special_ask(&c, q, qlen, out, true);
	assert_int_equal(d.rcode, PD_RCODE_NOTIMP);
	assert_int_equal(log.calls, 0);
}

/* QDCOUNT 0 and nothing but an OPT: NOERROR with our OPT (and NSID), as NSD answers. */
static void an_opt_without_question_is_answered(void **state)
{
	uint8_t q[600], resp[PD_UDP_MAX];
	tu_resp_t r;
	/* tu_query()'s OPT, moved to right after the header. */
	size_t qlen = tu_query(q, ".", PD_TYPE_A, PD_CLASS_IN, 4096, PD_EDNS_DO);
	memmove(q + PD_HEADER_LEN, q + PD_HEADER_LEN + 5, qlen - PD_HEADER_LEN - 5);
	qlen -= 5;
	q[5] = 0;
	q[3] = PD_FLAG_CD;
	size_t len = pd_answer(zs, &conf_ids, q, qlen, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, len);
	assert_int_equal(r.flags, PD_FLAG_QR | PD_FLAG_RD);
	assert_int_equal(r.qd + r.an + r.ns, 0);
	assert_int_equal(r.has_opt, 1);
	assert_int_equal(r.opt_size, 1232);
	assert_int_equal(r.opt_ttl, PD_EDNS_DO);
	assert_int_equal(r.opt_rdlen, 0);
	/* Asking for the NSID gets it. */
	memcpy(q + qlen, "\0\3\0\0", 4);
	q[PD_HEADER_LEN + 10] = 4;
	len = pd_answer(zs, &conf_ids, q, qlen + 4, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, len);
	assert_int_equal(r.opt_rdlen, 12);
	assert_memory_equal(r.opt_rdata, "\0\3\0\10ns1.test", 12);
	/* Version 1, a second record, or a bad option there: FORMERR, every flag cleared. */
	q[PD_HEADER_LEN + 6] = 1;
	assert_formerr(&r, answer_rcode(q, qlen, &r), false);
	q[PD_HEADER_LEN + 6] = 0;
	q[11] = 2;
	assert_formerr(&r, answer_rcode(q, qlen, &r), false);
	q[11] = 1;
	q[PD_HEADER_LEN + 10] = 3;
	assert_formerr(&r, answer_rcode(q, qlen + 3, &r), false);
}

static void two_opt_records_are_formerr(void **state)
{
	uint8_t q[600];
	tu_resp_t r;
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	memcpy(q + qlen, q + qlen - 11, 11);
	q[11] = 2;
	assert_formerr(&r, answer_rcode(q, qlen + 11, &r), true);
	/* An OPT not owned by the root is malformed too. */
	qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	static const uint8_t opt[] = {0xC0, 12, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0};
	memcpy(q + qlen, opt, sizeof(opt));
	q[11] = 1;
	assert_formerr(&r, answer_rcode(q, qlen + sizeof(opt), &r), true);
}

/* The EDE of a response's OPT record; -1 without one. */
static int ede_of(const tu_resp_t *r)
{
	uint16_t len;
	const uint8_t *ede = mu_find_option(r->opt_rdata, r->opt_rdlen, PD_EDNS_OPT_EDE, &len);
	return ede && len >= 2 ? pd_get_u16(ede) : -1;
}

static void classes_zones_and_transfers(void **state)
{
	tu_resp_t r;
	ask(&r, "www.example.net", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_false(r.flags & PD_FLAG_AA);
	assert_int_equal(r.qd, 1);
	/* EDE 20 "Not Authoritative" rides in the OPT record (RFC 8914). */
	assert_int_equal(r.opt_rdlen, 6);
	assert_memory_equal(r.opt_rdata, "\x00\x0F\x00\x02\x00\x14", 6);
	ask_full(&r, "www.example.net", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_int_equal(r.has_opt, 0);

	/* Classes no one serves: REFUSED without the question and EDE 21, as NSD. */
	static const uint16_t odd[] = {PD_CLASS_HS, PD_CLASS_NONE, 2, 1234, 65535};
	for (size_t i = 0; i < sizeof(odd) / sizeof(*odd); i++) {
		ask_full(&r, "www.example.com", PD_TYPE_A, odd[i], 1232, 0);
		assert_int_equal(r.rcode, PD_RCODE_REFUSED);
		assert_int_equal(r.flags, PD_FLAG_QR | PD_FLAG_RD | PD_RCODE_REFUSED);
		assert_int_equal(r.qd, 0);
		assert_int_equal(ede_of(&r), PD_EDE_NOT_SUPPORTED);
		ask_full(&r, "www.example.com", PD_TYPE_A, odd[i], 0, 0);
		assert_int_equal(r.qd + r.ar, 0);
	}
	/* Zone transfers: not over UDP (NOTIMP), and allowed to no one (REFUSED, EDE 18). */
	ask(&r, "example.com", PD_TYPE_AXFR);
	assert_int_equal(r.rcode, PD_RCODE_NOTIMP);
	assert_int_equal(r.qd, 1);
	assert_int_equal(ede_of(&r), -1);
	ask(&r, "example.com", PD_TYPE_IXFR);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_int_equal(r.qd, 1);
	assert_int_equal(ede_of(&r), PD_EDE_PROHIBITED);
	uint8_t q[600], resp[PD_MSG_MAX];
	size_t qlen = tu_query(q, "example.com", PD_TYPE_AXFR, PD_CLASS_IN, 1232, 0);
	size_t len = mu_answer(zs, &conf, q, qlen, true, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, len);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_int_equal(ede_of(&r), PD_EDE_PROHIBITED);
	/* An IXFR carries the SOA it has in its authority section (RFC 1995 3). */
	qlen = tu_query(q, "example.com", PD_TYPE_IXFR, PD_CLASS_IN, 0, 0);
	static const uint8_t soa[] = {0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0, 0, 0, 0,
	                              7,    0,  0, 0, 0, 0, 0, 0, 0, 0,  0, 0,  0, 0, 0, 0, 0};
	memcpy(q + qlen, soa, sizeof(soa));
	q[9] = 1;
	assert_int_equal(answer_rcode(q, qlen + sizeof(soa), &r), PD_RCODE_REFUSED);
	assert_formerr(&r, answer_rcode(q, qlen + sizeof(soa) - 1, &r), true);
}

/* QCLASS ANY is answered from the IN data, as NSD does: not authoritatively, no SOA. */
static void class_any_is_answered_from_in(void **state)
{
	tu_resp_t r, in;
	static const struct {
		const char *name;
		uint16_t qtype;
		int rcode;
		uint16_t an, ns;
	} cases[] = {{"www.example.com", PD_TYPE_A, PD_RCODE_NOERROR, 1, 0},
	             {"alias.example.com", PD_TYPE_A, PD_RCODE_NOERROR, 3, 0},
	             {"example.com", PD_TYPE_MX, PD_RCODE_NOERROR, 2, 0},
	             {"nope.example.com", PD_TYPE_A, PD_RCODE_NXDOMAIN, 0, 0},
	             {"www.example.com", PD_TYPE_AAAA, PD_RCODE_NOERROR, 0, 0},
	             {"www.sub.example.com", PD_TYPE_A, PD_RCODE_NOERROR, 0, 2},
	             {"www.old.example.com", PD_TYPE_A, PD_RCODE_NOERROR, 3, 0}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		ask_full(&r, cases[i].name, cases[i].qtype, PD_CLASS_ANY, 1232, 0);
		assert_int_equal(r.rcode, cases[i].rcode);
		assert_int_equal(r.an, cases[i].an);
		assert_int_equal(r.ns, cases[i].ns);
		assert_false(r.flags & PD_FLAG_AA);
		assert_int_equal(r.qd, 1);
		/* The records are IN's, class and all. */
		for (int k = 0; k < r.nrr; k++)
			assert_int_equal(r.rr[k].cls, PD_CLASS_IN);
		ask_full(&in, cases[i].name, cases[i].qtype, PD_CLASS_IN, 1232, 0);
		assert_int_equal(r.nrr, in.nrr - in.ns + r.ns);
	}
	ask_full(&r, "www.example.net", PD_TYPE_A, PD_CLASS_ANY, 1232, 0);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_int_equal(r.qd, 1);
	assert_int_equal(ede_of(&r), PD_EDE_NOT_AUTHORITATIVE);
}

static void chaos_identity_and_version(void **state)
{
	tu_resp_t r;
	ask_full(&r, "ID.SERVER", PD_TYPE_TXT, PD_CLASS_CH, 0, 0);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_false(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rr[0].cls, PD_CLASS_CH);
	assert_string_equal(r.rr[0].owner, "ID.SERVER.");
	assert_memory_equal(r.rr[0].rdata, "\x07ns.test", 8);
	ask_full(&r, "version.bind", PD_TYPE_TXT, PD_CLASS_CH, 0, 0);
	assert_memory_equal(r.rr[0].rdata, "\x0bpindns test", 12);
	ask_full(&r, "hostname.bind", PD_TYPE_ANY, PD_CLASS_CH, 0, 0);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rr[0].type, PD_TYPE_TXT);
	/* Other types and names: REFUSED with EDE 21 (Not Supported), question kept (NSD). */
	static const struct {
		const char *name;
		uint16_t qtype;
	} no[] = {{"hostname.bind", PD_TYPE_A}, {"version.server", PD_TYPE_SOA},
	          {"id.server", PD_TYPE_AXFR},  {"www.example.com", PD_TYPE_TXT},
	          {"server", PD_TYPE_TXT},      {"x.id.server", PD_TYPE_TXT}};
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
		ask_full(&r, no[i].name, no[i].qtype, PD_CLASS_CH, 1232, 0);
		assert_int_equal(r.rcode, PD_RCODE_REFUSED);
		assert_int_equal(r.qd, 1);
		assert_int_equal(r.an, 0);
		assert_int_equal(ede_of(&r), PD_EDE_NOT_SUPPORTED);
	}

	/* An empty string hides the answer: REFUSED, EDE 18 (Prohibited). */
	pd_answer_conf_t hidden = conf;
	hidden.version = "";
	hidden.identity = NULL;
	uint8_t q[512];
	size_t qlen = tu_query(q, "version.server", PD_TYPE_TXT, PD_CLASS_CH, 1232, 0);
	answer_with(&r, zs, &hidden, q, qlen);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_int_equal(ede_of(&r), PD_EDE_PROHIBITED);
	qlen = tu_query(q, "id.server", PD_TYPE_TXT, PD_CLASS_CH, 1232, 0);
	answer_with(&r, zs, &hidden, q, qlen);
	assert_int_equal(ede_of(&r), PD_EDE_PROHIBITED);
}

/* The bytes NSD sends for a TSIG with a key it does not have: the TSIG record. */
static size_t badkey_tsig(uint8_t *out, const char *key, const char *alg, uint64_t time,
                          uint16_t fudge, uint16_t orig_id)
{
	size_t n = (size_t)pd_name_from_str(out, key);
	pd_name_lower(out, out);
	pd_put_u16(out + n, PD_TYPE_TSIG);
	pd_put_u16(out + n + 2, PD_CLASS_ANY);
	memset(out + n + 4, 0, 4);
	size_t rd = n + 10;
	size_t alen = (size_t)pd_name_from_str(out + rd, alg);
	pd_name_lower(out + rd, out + rd);
	uint8_t *p = out + rd + alen;
	pd_put_u16(p, (uint16_t)(time >> 32));
	pd_put_u16(p + 2, (uint16_t)(time >> 16));
	pd_put_u16(p + 4, (uint16_t)time);
	pd_put_u16(p + 6, fudge);
	pd_put_u16(p + 8, 0); /* MAC Size */
	pd_put_u16(p + 10, orig_id);
	pd_put_u16(p + 12, 17); /* BADKEY */
	pd_put_u16(p + 14, 0);  /* Other Len */
	pd_put_u16(out + n + 8, (uint16_t)(alen + 16));
	return rd + alen + 16;
}

/*
 * RFC 8945 5.2.2: a TSIG with a key we do not have (we have none) is NOTAUTH, with a TSIG
 * record saying BADKEY; byte for byte what NSD sends: the query's flags, no question,
 * key and algorithm names lower-cased and uncompressed, the query's time, fudge and
 * original ID, no MAC, no Other Data; our OPT before it when the query had one.
 */
static void tsig_with_an_unknown_key_is_badkey(void **state)
{
	uint8_t q[600], resp[PD_UDP_MAX], want[600];
	static const char *const names[] = {"www.example.com", "nope.example.com",
	                                    "www.example.net", "id.server"};
	for (int i = 0; i < 4; i++) {
		for (int edns = 0; edns < 2; edns++) {
			size_t qlen = tu_query(q, names[i], i == 3 ? PD_TYPE_TXT : PD_TYPE_A,
			                       i == 3 ? PD_CLASS_CH : PD_CLASS_IN, edns ? 4096 : 0,
			                       PD_EDNS_DO);
			if (edns)
				mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, NULL, 0);
			q[3] = (uint8_t)(PD_FLAG_CD | PD_FLAG_AD);
			mu_tsig_t t = {.key = "Key.Example",
			               .alg = "HMAC-SHA256",
			               .time_signed = 0x123456789ABCull,
			               .fudge = 300,
			               .mac_len = 32,
			               .orig_id = 0x4242,
			               .error = 0,
			               .other_len = 6};
			mu_add_tsig(q, &qlen, &t);
			size_t len = pd_answer(zs, &conf_ids, q, qlen, resp, sizeof(resp), NULL);
			size_t n = 12;
			memcpy(want, "\xAB\xCD\x81\x19\0\0\0\0\0\0\0\1", 12);
			if (edns) {
				want[11] = 2;
				static const uint8_t opt[] = {
				    0, 0, 41, 4,   0xD0, 0,   0,   0x80, 0,   0,   12, 0,
				    3, 0, 8,  'n', 's',  '1', '.', 't',  'e', 's', 't'};
				memcpy(want + n, opt, sizeof(opt));
				n += sizeof(opt);
			}
			n += badkey_tsig(want + n, "key.example", "hmac-sha256", 0x123456789ABCull,
			                 300, 0x4242);
			assert_int_equal(len, n);
			assert_memory_equal(resp, want, n);
		}
	}
	/* The key name compressed (a pointer to the question's): written out whole. */
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	mu_tsig_t t = {.alg = "hmac-sha256", .time_signed = 7, .fudge = 1, .orig_id = 9};
	mu_add_tsig(q, &qlen, &t);
	size_t len = pd_answer(zs, &conf, q, qlen, resp, sizeof(resp), NULL);
	memcpy(want, "\xAB\xCD\x81\x09\0\0\0\0\0\0\0\1", 12);
	size_t n = 12 + badkey_tsig(want + 12, "www.example.com", "hmac-sha256", 7, 1, 9);
	assert_int_equal(len, n);
	assert_memory_equal(resp, want, n);
	/* Another opcode is NOTIMP first. */
	mu_set_opcode(q, PD_OPCODE_STATUS);
	tu_resp_t r;
	assert_int_equal(answer_rcode(q, qlen, &r), PD_RCODE_NOTIMP);
}

/* A TSIG anywhere but last, twice, or malformed: FORMERR (RFC 8945 5.1, NSD's checks). */
static void misplaced_or_malformed_tsig_is_formerr(void **state)
{
	uint8_t q[900];
	tu_resp_t r;
	const mu_tsig_t good = {.key = "k", .alg = "hmac-sha256", .fudge = 300, .mac_len = 32};
	/* Before the OPT; twice. */
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	mu_add_tsig(q, &qlen, &good);
	static const uint8_t opt[] = {0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0};
	memcpy(q + qlen, opt, sizeof(opt));
	q[11] = 2;
	assert_formerr(&r, answer_rcode(q, qlen + sizeof(opt), &r), true);
	q[11] = 1;
	mu_add_tsig(q, &qlen, &good);
	assert_formerr(&r, answer_rcode(q, qlen, &r), true);
	/* Malformed in each of the ways NSD checks. */
	mu_tsig_t bad[6] = {good, good, good, good, good, good};
	bad[0].ttl = 1;
	bad[1].cls = PD_CLASS_IN; /* then it is no TSIG, and an additional record too many */
	bad[2].other_len = 17;
	bad[3].mac_len = 16385;
	for (int i = 0; i < 4; i++) {
		qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
		if (i == 3) {
			/* A MAC too large to be one: the record is cut where the buffer ends. */
			bad[3].mac_len = 600;
			mu_add_tsig(q, &qlen, &bad[3]);
			pd_put_u16(q + qlen - 6 - 600 - 2, 16385);
		} else {
			mu_add_tsig(q, &qlen, &bad[i]);
		}
		assert_formerr(&r, answer_rcode(q, qlen, &r), true);
	}
	/* Cut short anywhere. */
	size_t base = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 0, 0);
	qlen = base;
	mu_add_tsig(q, &qlen, &good);
	for (size_t cut = base; cut < qlen; cut++)
		assert_formerr(&r, answer_rcode(q, cut, &r), true);
	/* RDLENGTH shorter than its fields. */
	pd_put_u16(q + base + 3 + 8, (uint16_t)(qlen - base - 13 - 1));
	assert_formerr(&r, answer_rcode(q, qlen, &r), true);
}

/* Our NSID (RFC 5001) goes to the queries that ask, and to no other. */
static void nsid_only_when_asked(void **state)
{
	uint8_t q[600];
	tu_resp_t r;
	uint16_t len;
	const uint8_t *nsid;
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	answer_with(&r, zs, &conf_ids, q, qlen);
	assert_int_equal(r.opt_rdlen, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, NULL, 0);
	answer_with(&r, zs, &conf_ids, q, qlen);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.opt_rdlen, 12);
	assert_memory_equal(r.opt_rdata, "\0\3\0\10ns1.test", 12);
	/* Without one configured: nothing. */
	answer_with(&r, zs, &conf, q, qlen);
	assert_int_equal(r.opt_rdlen, 0);
	/* An NSID option with data in the query still asks, as NSD reads it. */
	qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_add_option(q, &qlen, 65001, "abc", 3);
	mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, "xy", 2);
	answer_with(&r, zs, &conf_ids, q, qlen);
	nsid = mu_find_option(r.opt_rdata, r.opt_rdlen, PD_EDNS_OPT_NSID, &len);
	assert_non_null(nsid);
	assert_int_equal(len, 8);
	/* With an EDE: the NSID first, as NSD writes them. */
	qlen = tu_query(q, "www.example.net", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, NULL, 0);
	answer_with(&r, zs, &conf_ids, q, qlen);
	assert_int_equal(r.rcode, PD_RCODE_REFUSED);
	assert_int_equal(r.opt_rdlen, 18);
	assert_memory_equal(r.opt_rdata, "\0\3\0\10ns1.test\0\x0f\0\2\0\x14", 18);
	/* A truncated answer keeps it, and stays within the limit. */
	qlen = tu_query(q, "big.example.com", PD_TYPE_TXT, PD_CLASS_IN, 1232, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, NULL, 0);
	size_t n = answer_with(&r, zs, &conf_ids, q, qlen);
	assert_true(r.flags & PD_FLAG_TC);
	assert_true(n <= 1232);
	assert_non_null(mu_find_option(r.opt_rdata, r.opt_rdlen, PD_EDNS_OPT_NSID, &len));
	/* An NSID longer than the room left is left out, not the answer. */
	static uint8_t huge[600];
	pd_answer_conf_t big = conf_ids;
	big.nsid = huge;
	big.nsid_len = sizeof(huge);
	qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 512, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, NULL, 0);
	n = answer_with(&r, zs, &big, q, qlen);
	assert_true(n <= 512);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.opt_rdlen, 0);
	qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, NULL, 0);
	n = answer_with(&r, zs, &big, q, qlen);
	assert_int_equal(r.opt_rdlen, 4 + sizeof(huge));
}

/* RFC 7828: keepalive is answered over TCP only, and a TIMEOUT in a query is FORMERR there. */
static void keepalive_over_tcp_only(void **state)
{
	uint8_t q[600], resp[PD_MSG_MAX];
	tu_resp_t r;
	uint16_t len;
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_KEEPALIVE, NULL, 0);
	size_t n = mu_answer(zs, &conf_ids, q, qlen, true, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, n);
	assert_int_equal(r.an, 1);
	const uint8_t *ka = mu_find_option(r.opt_rdata, r.opt_rdlen, PD_EDNS_OPT_KEEPALIVE, &len);
	assert_non_null(ka);
	assert_int_equal(len, 2);
	assert_int_equal(pd_get_u16(ka), 123);
	assert_int_equal(r.opt_rdlen, 6);
	/* UDP: ignored (RFC 7828 3.2.2 says the server MUST). */
	n = mu_answer(zs, &conf_ids, q, qlen, false, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, n);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.opt_rdlen, 0);
	/* TCP without the option, or without EDNS: none. */
	qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	n = mu_answer(zs, &conf_ids, q, qlen, true, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, n);
	assert_int_equal(r.opt_rdlen, 0);
	/* With NSID and an EDE, in that order: NSID, keepalive, EDE. */
	qlen = tu_query(q, "www.example.net", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_KEEPALIVE, NULL, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_NSID, NULL, 0);
	n = mu_answer(zs, &conf_ids, q, qlen, true, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, n);
	assert_int_equal(r.opt_rdlen, 24);
	assert_memory_equal(r.opt_rdata, "\0\3\0\10ns1.test\0\x0b\0\2\0\x7b\0\x0f\0\2\0\x14", 24);
	/* A TIMEOUT in the query: FORMERR over TCP, ignored over UDP. */
	qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	mu_add_option(q, &qlen, PD_EDNS_OPT_KEEPALIVE, "\0\x64", 2);
	n = mu_answer(zs, &conf_ids, q, qlen, true, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, n);
	assert_formerr(&r, r.rcode, true);
	n = mu_answer(zs, &conf_ids, q, qlen, false, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, n);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.opt_rdlen, 0);
}

/* Options that do not add up to the OPT's RDATA: FORMERR, as NSD; unknown ones are fine. */
static void malformed_options_are_formerr(void **state)
{
	uint8_t q[600];
	tu_resp_t r;
	static const struct {
		const char *bytes;
		uint16_t len;
		int rcode;
	} cases[] = {
	    {"\0\3\0\5ab", 6, PD_RCODE_FORMERR},         /* runs past the RDATA */
	    {"\0\3", 2, PD_RCODE_FORMERR},               /* half a header */
	    {"\0\3\0\0\0\x0b\0", 7, PD_RCODE_FORMERR},   /* NSID, then 3 bytes */
	    {"\0\x0b\0\2\0", 5, PD_RCODE_FORMERR},       /* keepalive cut short */
	    {"\xfd\xe9\0\3xyz", 7, PD_RCODE_NOERROR},    /* unknown: ignored */
	    {"\0\x0c\0\4\0\0\0\0", 8, PD_RCODE_NOERROR}, /* padding: ignored */
	    {"\0\x0a\0\x08"
	     "12345678",
	     12, PD_RCODE_NOERROR}, /* a client cookie: ignored */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		for (int general = 0; general < 2; general++) {
			size_t qlen =
			    tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
			mu_add_opt_bytes(q, &qlen, cases[i].bytes, cases[i].len);
			if (general) {
				/* A TSIG after it: the general parse reads the options too. */
				mu_tsig_t t = {.key = "k", .alg = "hmac-md5.sig-alg.reg.int"};
				mu_add_tsig(q, &qlen, &t);
			}
			int rcode = answer_rcode(q, qlen, &r);
			if (cases[i].rcode == PD_RCODE_FORMERR) {
				assert_formerr(&r, rcode, true);
			} else {
				assert_int_equal(rcode,
				                 general ? PD_RCODE_NOTAUTH : PD_RCODE_NOERROR);
				assert_int_equal(r.opt_rdlen, 0);
			}
		}
	}
	/* An OPT whose RDATA runs past the packet. */
	size_t qlen = tu_query(q, "www.example.com", PD_TYPE_A, PD_CLASS_IN, 1232, 0);
	pd_put_u16(mu_opt_rdlen(q), 4);
	assert_formerr(&r, answer_rcode(q, qlen, &r), true);
	/* Version 1: BADVERS, its options never read. */
	pd_put_u16(mu_opt_rdlen(q), 0);
	mu_add_opt_bytes(q, &qlen, "\0\3\0\5", 4);
	mu_opt_rdlen(q)[-3] = 1;
	assert_int_equal(answer_rcode(q, qlen, &r), PD_RCODE_BADVERS);
}

/* Over TCP the buffer is the limit (not 512, nor EDNS's), and TC is never set. */
static void tcp_answers_fill_the_buffer(void **state)
{
	uint8_t q[600];
	static uint8_t resp[PD_MSG_MAX];
	tu_resp_t r;
	pd_answer_info_t info;
	static const uint16_t sizes[] = {0, 512, 1232, 4096};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		size_t qlen = tu_query(q, "big.example.com", PD_TYPE_TXT, PD_CLASS_IN, sizes[i], 0);
		size_t n = mu_answer(zs, &conf, q, qlen, true, resp, sizeof(resp), &info);
		tu_parse(&r, resp, n);
		assert_true(n > 1232);
		assert_false(r.flags & PD_FLAG_TC);
		assert_false(info.truncated);
		assert_int_equal(r.an, 8);
		assert_int_equal(r.has_opt, sizes[i] != 0);
		if (sizes[i])
			assert_int_equal(r.opt_size, 1232); /* ours, advertised all the same */
	}
	/* What does not fit even the TCP buffer is SERVFAIL, as Knot answers it. */
	size_t qlen = tu_query(q, "big.example.com", PD_TYPE_TXT, PD_CLASS_IN, 0, 0);
	size_t n = mu_answer(zs, &conf, q, qlen, true, resp, 1000, &info);
	tu_parse(&r, resp, n);
	assert_int_equal(r.rcode, PD_RCODE_SERVFAIL);
	assert_false(r.flags & PD_FLAG_TC);
	assert_int_equal(r.an + r.ns + r.ar, 0);
	/* And over UDP the same query still truncates. */
	n = mu_answer(zs, &conf, q, qlen, false, resp, sizeof(resp), &info);
	tu_parse(&r, resp, n);
	assert_true(r.flags & PD_FLAG_TC);
	assert_true(n <= 512);
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
	static uint8_t tcp[PD_MSG_MAX];
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
		if (out) {
			assert_true(out <= limit);
			tu_parse(&r, resp, out);
		}
		/* Over TCP, with options to send: never TC, always well-formed. */
		out = mu_answer(zs, &conf_ids, heap, len, true, tcp, sizeof(tcp), NULL);
		free(heap);
		if (out) {
			tu_parse(&r, tcp, out);
			assert_false(r.flags & PD_FLAG_TC);
		}
	}
}

#define OPT_LEN 11 /* an OPT record without options */

/*
 * The length of the sections of an answer given all the room it wants, without its OPT
 * record; *opt_rdlen gets that OPT's RDATA length (its options, EDE included).
 */
static size_t whole_sections(const char *name, uint16_t qtype, uint16_t *opt_rdlen)
{
	pd_answer_conf_t roomy = conf;
	tu_resp_t r;
	uint8_t q[512];
	roomy.udp_size = PD_UDP_MAX;
	size_t qlen = tu_query(q, name, qtype, PD_CLASS_IN, PD_UDP_MAX, 0);
	size_t len = answer_with(&r, zs, &roomy, q, qlen);
	assert_false(r.flags & PD_FLAG_TC);
	*opt_rdlen = r.opt_rdlen;
	return len - OPT_LEN - r.opt_rdlen;
}

/*
 * Every client size against several of ours: a response never exceeds the exact limit,
 * and one whose sections fit with room for the OPT record and the options it carries
 * (an EDE only where there is one: no room is held back for it) is sent whole.
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
		uint16_t opts;
		size_t whole = whole_sections(qs[k].name, qs[k].qtype, &opts);
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
				size_t opt = size ? OPT_LEN + opts : 0;
				if (whole + opt <= limit) {
					assert_false(r.flags & PD_FLAG_TC);
					assert_int_equal(len, whole + opt);
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
	    "www.sub.example.com", "alias.example.com", "www.old.example.com", "www.example.net",
	    "mid.example.com",     "example.com"};
	static uint8_t out[N][PD_MSG_MAX], want[PD_MSG_MAX];
	uint8_t q[N][600];
	pd_dgram_t batch[N];
	srand(4242);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < N; i++) {
			size_t n = tu_query(q[i], names[rand() % 10],
			                    (uint16_t)(rand() % 3   ? 1
			                               : rand() % 2 ? 16
			                                            : 28),
			                    PD_CLASS_IN, (uint16_t)(rand() % 2 ? 1232 : 0), 0);
			if (q[i][11] && rand() % 2)
				mu_add_option(q[i], &n, (uint16_t)(rand() % 2 ? 3 : 11), NULL, 0);
			if (rand() % 4 == 0)
				q[i][rand() % (int)n] = (uint8_t)rand();
			if (rand() % 8 == 0)
				n = (size_t)rand() % n;
			q[i][2] &= 0x7F;
			batch[i] = (pd_dgram_t){.in = q[i],
			                        .in_len = n,
			                        .out = out[i],
			                        .out_cap = rand() % 2 ? PD_MSG_MAX : PD_UDP_MAX,
			                        .rcode = 0xFF,
			                        .truncated = true,
			                        .tcp = rand() % 3 == 0};
		}
		pd_answer_batch(zs, &conf_ids, batch, N);
		for (int i = 0; i < N; i++) {
			pd_answer_info_t info;
			size_t len = mu_answer(zs, &conf_ids, batch[i].in, batch[i].in_len,
			                       batch[i].tcp, want, batch[i].out_cap, &info);
			assert_int_equal(batch[i].out_len, len);
			assert_memory_equal(batch[i].out, want, len);
			/* And what the reply says of itself: none of it when there is none. */
			assert_int_equal(batch[i].rcode, len ? info.rcode & PD_RCODE_MASK : 0);
			assert_int_equal(batch[i].truncated, len && info.truncated);
			if (batch[i].tcp)
				assert_false(batch[i].truncated);
		}
	}
}

/* --- DNSSEC: signed zones (mu_sign(): fake signatures, real chains) --- */

static pd_zoneset_t *zs_signed[4]; /* by MU_NSEC, MU_NSEC3, MU_NSEC3_OPTOUT */

/* The zone the DNSSEC tests sign three ways: every kind of answer and proof. */
static pd_zone_t *build_example_org(void)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, "example.org");
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	pd_zone_t *z = NULL;
	tu_add_soa(b, "example.org", 3600, 1, 300);
	tu_add_name(b, "example.org", PD_TYPE_NS, "ns1.example.org");
	tu_add_a(b, "ns1.example.org", 192, 0, 2, 53);
	/* Three MX targets with both addresses: signed, more than 512 bytes. */
	static const char *const mx[] = {"mail.example.org", "mx2.example.org", "mx3.example.org"};
	for (int i = 0; i < 3; i++) {
		uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = (uint8_t)i};
		tu_add_mx(b, "example.org", (uint16_t)(10 * i + 10), mx[i]);
		tu_add_a(b, mx[i], 192, 0, 2, (uint8_t)(25 + i));
		tu_add(b, mx[i], PD_TYPE_AAAA, 3600, aaaa, 16);
	}
	tu_add_a(b, "www.example.org", 192, 0, 2, 80);
	tu_add_txt(b, "www.example.org", "hello");
	tu_add_name(b, "ftp.example.org", PD_TYPE_CNAME, "www.example.org");
	tu_add_name(b, "dangling.example.org", PD_TYPE_CNAME, "nothing.example.org");
	tu_add_name(b, "wcc.example.org", PD_TYPE_CNAME, "a.wc.example.org");
	tu_add_a(b, "*.apps.example.org", 192, 0, 2, 100);
	tu_add_a(b, "fixed.apps.example.org", 192, 0, 2, 101);
	tu_add_name(b, "*.wc.example.org", PD_TYPE_CNAME, "www.example.org");
	tu_add_a(b, "x.y.ent.example.org", 192, 0, 2, 7);
	tu_add_name(b, "sub.example.org", PD_TYPE_NS, "ns.sub.example.org");
	tu_add_a(b, "ns.sub.example.org", 192, 0, 2, 153);
	uint8_t ds[36] = {0x30, 0x39, 13, 2};
	tu_add_name(b, "secure.example.org", PD_TYPE_NS, "ns.example.net");
	tu_add(b, "secure.example.org", PD_TYPE_DS, 3600, ds, sizeof(ds));
	tu_add_name(b, "insecure.example.org", PD_TYPE_NS, "ns.example.net");
	/* oo is an empty non-terminal above an unsigned delegation only: opt-out leaves
	 * both out of the chain. */
	tu_add_name(b, "a.oo.example.org", PD_TYPE_NS, "ns.example.net");
	tu_add_name(b, "old.example.org", PD_TYPE_DNAME, "new.example.org");
	tu_add_a(b, "www.new.example.org", 192, 0, 2, 42);
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	return z;
}

static int setup_signed(void **state)
{
	pd_zone_t *plain = build_example_org();
	for (int mode = MU_NSEC; mode <= MU_NSEC3_OPTOUT; mode++) {
		pd_zone_t *z = mu_sign(plain, mode);
		assert_int_equal(z->dnssec, mode == MU_NSEC ? PD_ZONE_NSEC : PD_ZONE_NSEC3);
		assert_int_equal(pd_zoneset_new(&zs_signed[mode], &z, 1), 0);
	}
	pd_zone_free(plain);
	return 0;
}

static int teardown_signed(void **state)
{
	for (int mode = MU_NSEC; mode <= MU_NSEC3_OPTOUT; mode++)
		pd_zoneset_free(zs_signed[mode]);
	return 0;
}

/* Asks the zone signed in mode, with DO (do_bit) and the given EDNS size. */
static size_t ask_signed(tu_resp_t *r, int mode, const char *name, uint16_t qtype, uint16_t edns,
                         bool do_bit)
{
	uint8_t q[512];
	size_t qlen = tu_query(q, name, qtype, PD_CLASS_IN, edns, do_bit ? PD_EDNS_DO : 0);
	return answer_with(r, zs_signed[mode], &conf, q, qlen);
}

static size_t ask_do(tu_resp_t *r, int mode, const char *name, uint16_t qtype)
{
	return ask_signed(r, mode, name, qtype, 4096, true);
}

/* Record i is of type and owner, and record i + 1 its RRSIG: same owner, covering type. */
static void assert_signed_at(const tu_resp_t *r, int i, int section, uint16_t type,
                             const char *owner)
{
	assert_true(i + 1 < r->nrr);
	assert_int_equal(r->rr[i].section, section);
	assert_int_equal(r->rr[i].type, type);
	if (owner)
		assert_string_equal(r->rr[i].owner, owner);
	assert_int_equal(r->rr[i + 1].section, section);
	assert_int_equal(r->rr[i + 1].type, PD_TYPE_RRSIG);
	assert_string_equal(r->rr[i + 1].owner, r->rr[i].owner);
	assert_int_equal(pd_get_u16(r->rr[i + 1].rdata), type);
}

/* The negative answer's SOA and its RRSIG, both with the negative TTL (as Knot). */
static void assert_soa_at(const tu_resp_t *r, int i)
{
	assert_signed_at(r, i, 1, PD_TYPE_SOA, "example.org.");
	assert_int_equal(r->rr[i].ttl, 300);
	assert_int_equal(r->rr[i + 1].ttl, 300);
}

static void lname_of(uint8_t *out, const char *text)
{
	uint8_t n[PD_NAME_MAX];
	tu_name(n, text);
	pd_name_lower(out, n);
}

/* Does a < b < c hold in a ring (the last link covers up to the first)? */
static bool ring_between(int ab, int bc, int ac)
{
	return ac < 0 ? ab < 0 && bc < 0 : ac > 0 ? ab < 0 || bc < 0 : ab != 0;
}

/* NSEC record i matches name (match) or covers it (RFC 4034 4.1.1, with the wrap). */
static void assert_nsec(const tu_resp_t *r, int i, const char *name, bool match)
{
	uint8_t owner[PD_NAME_MAX], qn[PD_NAME_MAX], next[PD_NAME_MAX], raw[PD_NAME_MAX];
	assert_int_equal(r->rr[i].type, PD_TYPE_NSEC);
	lname_of(owner, r->rr[i].owner);
	lname_of(qn, name);
	pd_wire_t w;
	pd_wire_init(&w, r->rr[i].rdata, r->rr[i].rdlen);
	assert_true(pd_name_parse(&w, raw) > 0);
	pd_name_lower(next, raw);
	if (match) {
		assert_int_equal(pd_name_canonical_cmp(owner, qn), 0);
		return;
	}
	assert_true(ring_between(pd_name_canonical_cmp(owner, qn), pd_name_canonical_cmp(qn, next),
	                         pd_name_canonical_cmp(owner, next)));
}

/* Does NSEC3 record i match the hash of name (match) or cover it? Checks its Opt-Out flag. */
static bool nsec3_proves(const tu_resp_t *r, int i, int mode, const char *name, bool match)
{
	uint8_t qn[PD_NAME_MAX], want[PD_NAME_MAX], o[PD_NAME_MAX];
	uint8_t hash[PD_NSEC3_HASH_LEN], own[PD_NSEC3_HASH_LEN];
	if (r->rr[i].type != PD_TYPE_NSEC3)
		return false;
	lname_of(qn, name);
	lname_of(o, "example.org");
	mu_nsec3_owner(want, mode, qn, pd_name_len(qn), o);
	assert_true(pd_base32hex_decode(hash, sizeof(hash), (const char *)want + 1, 32) == 20);
	lname_of(o, r->rr[i].owner);
	assert_int_equal(o[0], 32);
	assert_true(pd_base32hex_decode(own, sizeof(own), (const char *)o + 1, 32) == 20);
	const uint8_t *rd = r->rr[i].rdata;
	assert_int_equal(rd[1], mode == MU_NSEC3_OPTOUT ? PD_NSEC3_OPTOUT : 0);
	const uint8_t *next = rd + 5 + rd[4] + 1;
	if (match)
		return memcmp(own, hash, 20) == 0;
	return ring_between(memcmp(own, hash, 20), memcmp(hash, next, 20), memcmp(own, next, 20));
}

static void assert_nsec3(const tu_resp_t *r, int i, int mode, const char *name, bool match)
{
	assert_true(nsec3_proves(r, i, mode, name, match));
}

/*
 * The authority section holds, each once and signed, NSEC3 records proving every one
 * of the n names (matching the first nmatch, covering the rest), and no other NSEC3:
 * hashes may put two of them in one record, so which record proves what is searched.
 */
static void assert_nsec3_set(const tu_resp_t *r, int mode, int nmatch, int n, ...)
{
	const char *names[4];
	va_list ap;
	va_start(ap, n);
	for (int k = 0; k < n; k++)
		names[k] = va_arg(ap, const char *);
	va_end(ap);
	int used = 0;
	for (int i = 0; i < r->nrr; i++) {
		if (r->rr[i].section != 1 || r->rr[i].type != PD_TYPE_NSEC3)
			continue;
		assert_signed_at(r, i, 1, PD_TYPE_NSEC3, NULL);
		bool useful = false;
		for (int k = 0; k < n; k++)
			if (nsec3_proves(r, i, mode, names[k], k < nmatch))
				useful = true;
		assert_true(useful);
		for (int j = 0; j < i; j++)
			assert_false(r->rr[j].type == PD_TYPE_NSEC3 &&
			             !strcmp(r->rr[j].owner, r->rr[i].owner));
		used++;
	}
	for (int k = 0; k < n; k++) {
		bool found = false;
		for (int i = 0; i < r->nrr; i++)
			if (r->rr[i].section == 1 && nsec3_proves(r, i, mode, names[k], k < nmatch))
				found = true;
		assert_true(found);
	}
	assert_true(used >= 1 && used <= n);
}

static void dnssec_nxdomain_nsec(void **state)
{
	tu_resp_t r;
	ask_do(&r, MU_NSEC, "nope.example.org", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
	assert_true(r.flags & PD_FLAG_AA);
	assert_true(r.opt_ttl & PD_EDNS_DO);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 6);
	assert_soa_at(&r, 0);
	assert_signed_at(&r, 2, 1, PD_TYPE_NSEC, NULL);
	assert_nsec(&r, 2, "nope.example.org", false);
	assert_signed_at(&r, 4, 1, PD_TYPE_NSEC, NULL);
	assert_nsec(&r, 4, "*.example.org", false);
	assert_int_equal(r.rr[2].ttl, 300); /* the NSEC's own TTL */
	/* One NSEC covers both the name and the wildcard: sent once. */
	ask_do(&r, MU_NSEC, "a.example.org", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
	assert_int_equal(r.ns, 4);
	assert_nsec(&r, 2, "a.example.org", false);
	assert_nsec(&r, 2, "*.example.org", false);
	/* Below an empty non-terminal: the wildcard is the one at the closest encloser. */
	ask_do(&r, MU_NSEC, "z.y.ent.example.org", PD_TYPE_A);
	assert_int_equal(r.ns, 6);
	assert_nsec(&r, 2, "z.y.ent.example.org", false);
	assert_nsec(&r, 4, "*.y.ent.example.org", false);
}

static void dnssec_nxdomain_nsec3(void **state)
{
	tu_resp_t r;
	for (int mode = MU_NSEC3; mode <= MU_NSEC3_OPTOUT; mode++) {
		/* RFC 5155 7.2.2: closest encloser, next closer, wildcard. */
		ask_do(&r, mode, "nope.example.org", PD_TYPE_A);
		assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
		assert_int_equal(r.an, 0);
		assert_soa_at(&r, 0);
		assert_signed_at(&r, 2, 1, PD_TYPE_NSEC3, NULL);
		assert_nsec3(&r, 2, mode, "example.org", true);
		assert_nsec3_set(&r, mode, 1, 3, "example.org", "nope.example.org",
		                 "*.example.org");
		ask_do(&r, mode, "a.b.y.ent.example.org", PD_TYPE_A);
		assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
		assert_nsec3(&r, 2, mode, "y.ent.example.org", true);
		assert_nsec3_set(&r, mode, 1, 3, "y.ent.example.org", "b.y.ent.example.org",
		                 "*.y.ent.example.org");
	}
	/* An NSEC3 owner is no name of the zone (RFC 5155 7.2.8). */
	uint8_t qn[PD_NAME_MAX], o[PD_NAME_MAX], h[PD_NAME_MAX];
	char text[PD_NAME_TXT_MAX];
	lname_of(qn, "www.example.org");
	lname_of(o, "example.org");
	mu_nsec3_owner(h, MU_NSEC3, qn, pd_name_len(qn), o);
	pd_name_to_str(text, sizeof(text), h);
	ask_do(&r, MU_NSEC3, text, PD_TYPE_NSEC3);
	assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
	assert_null(tu_find(&r, 0, PD_TYPE_NSEC3, 0));
}

static void dnssec_nodata(void **state)
{
	tu_resp_t r;
	ask_do(&r, MU_NSEC, "www.example.org", PD_TYPE_AAAA);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 4);
	assert_soa_at(&r, 0);
	assert_signed_at(&r, 2, 1, PD_TYPE_NSEC, "www.example.org.");
	/* An empty non-terminal has no NSEC: the one covering it. */
	ask_do(&r, MU_NSEC, "y.ent.example.org", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.ns, 4);
	assert_nsec(&r, 2, "y.ent.example.org", false);
	for (int mode = MU_NSEC3; mode <= MU_NSEC3_OPTOUT; mode++) {
		ask_do(&r, mode, "www.example.org", PD_TYPE_AAAA);
		assert_int_equal(r.ns, 4);
		assert_soa_at(&r, 0);
		assert_signed_at(&r, 2, 1, PD_TYPE_NSEC3, NULL);
		assert_nsec3(&r, 2, mode, "www.example.org", true);
		ask_do(&r, mode, "ent.example.org", PD_TYPE_A);
		assert_int_equal(r.rcode, PD_RCODE_NOERROR);
		assert_int_equal(r.ns, 4);
		assert_nsec3(&r, 2, mode, "ent.example.org", true);
	}
	/* The apex's DS, with no parent here: NODATA from the zone itself. */
	ask_do(&r, MU_NSEC, "example.org", PD_TYPE_DS);
	assert_int_equal(r.ns, 4);
	assert_signed_at(&r, 2, 1, PD_TYPE_NSEC, "example.org.");
}

static void dnssec_wildcards(void **state)
{
	tu_resp_t r;
	/* The answer under the query's name, its RRSIG saying it was synthesised (labels 3
	 * for *.apps.example.org), and the proof that the name itself does not exist. */
	ask_do(&r, MU_NSEC, "X.apps.example.org", PD_TYPE_A);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 2);
	assert_signed_at(&r, 0, 0, PD_TYPE_A, "X.apps.example.org.");
	assert_int_equal(r.rr[1].rdata[3], 3);
	assert_int_equal(r.ns, 2);
	assert_signed_at(&r, 2, 1, PD_TYPE_NSEC, NULL);
	assert_nsec(&r, 2, "x.apps.example.org", false);
	/* Wildcard NODATA (RFC 4035 3.1.3.4): the wildcard's NSEC, and the covering one. */
	ask_do(&r, MU_NSEC, "x.apps.example.org", PD_TYPE_AAAA);
	assert_int_equal(r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 6);
	assert_soa_at(&r, 0);
	assert_signed_at(&r, 2, 1, PD_TYPE_NSEC, "*.apps.example.org.");
	assert_signed_at(&r, 4, 1, PD_TYPE_NSEC, NULL);
	assert_nsec(&r, 4, "x.apps.example.org", false);
	/* The wildcard asked for by name is no expansion: no proof. */
	ask_do(&r, MU_NSEC, "*.apps.example.org", PD_TYPE_A);
	assert_int_equal(r.an, 2);
	assert_int_equal(r.ns, 0);
	for (int mode = MU_NSEC3; mode <= MU_NSEC3_OPTOUT; mode++) {
		/* RFC 5155 7.2.6: the NSEC3 covering the next closer name. */
		ask_do(&r, mode, "a.b.apps.example.org", PD_TYPE_A);
		assert_int_equal(r.an, 2);
		assert_signed_at(&r, 0, 0, PD_TYPE_A, "a.b.apps.example.org.");
		assert_int_equal(r.ns, 2);
		assert_signed_at(&r, 2, 1, PD_TYPE_NSEC3, NULL);
		assert_nsec3(&r, 2, mode, "b.apps.example.org", false);
		/* RFC 5155 7.2.5: the wildcard's, the closest encloser's, the next closer. */
		ask_do(&r, mode, "x.apps.example.org", PD_TYPE_AAAA);
		assert_int_equal(r.an, 0);
		assert_soa_at(&r, 0);
		assert_nsec3(&r, 2, mode, "*.apps.example.org", true);
		assert_nsec3(&r, 4, mode, "apps.example.org", true);
		assert_nsec3_set(&r, mode, 2, 3, "*.apps.example.org", "apps.example.org",
		                 "x.apps.example.org");
	}
}

static void dnssec_referrals(void **state)
{
	tu_resp_t r;
	/* No DS: the NS unsigned, the NSEC at the cut; glue unsigned. */
	ask_do(&r, MU_NSEC, "www.sub.example.org", PD_TYPE_A);
	assert_false(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_int_equal(r.ns, 3);
	assert_int_equal(r.rr[0].type, PD_TYPE_NS);
	assert_signed_at(&r, 1, 1, PD_TYPE_NSEC, "sub.example.org.");
	assert_int_equal(r.ar, 2); /* the glue and the OPT */
	assert_int_equal(r.rr[3].type, PD_TYPE_A);
	assert_string_equal(r.rr[3].owner, "ns.sub.example.org.");
	/* A DS: it and its RRSIG. */
	for (int mode = MU_NSEC; mode <= MU_NSEC3_OPTOUT; mode++) {
		ask_do(&r, mode, "secure.example.org", PD_TYPE_A);
		assert_int_equal(r.ns, 3);
		assert_int_equal(r.rr[0].type, PD_TYPE_NS);
		assert_signed_at(&r, 1, 1, PD_TYPE_DS, "secure.example.org.");
		ask_do(&r, mode, "secure.example.org", PD_TYPE_DS);
		assert_true(r.flags & PD_FLAG_AA);
		assert_int_equal(r.an, 2);
		assert_signed_at(&r, 0, 0, PD_TYPE_DS, "secure.example.org.");
	}
	/* NSEC3: the NSEC3 matching the cut. */
	ask_do(&r, MU_NSEC3, "sub.example.org", PD_TYPE_A);
	assert_int_equal(r.ns, 3);
	assert_signed_at(&r, 1, 1, PD_TYPE_NSEC3, NULL);
	assert_nsec3(&r, 1, MU_NSEC3, "sub.example.org", true);
	/* Opt-out, the cut out of the chain: the closest provable encloser proof (RFC 5155
	 * 7.2.7), whose next closer's NSEC3 has Opt-Out set. */
	ask_do(&r, MU_NSEC3_OPTOUT, "insecure.example.org", PD_TYPE_A);
	assert_int_equal(r.rr[0].type, PD_TYPE_NS);
	assert_nsec3(&r, 1, MU_NSEC3_OPTOUT, "example.org", true);
	assert_nsec3_set(&r, MU_NSEC3_OPTOUT, 1, 2, "example.org", "insecure.example.org");
	/* ... climbing over an empty non-terminal left out as well. */
	ask_do(&r, MU_NSEC3_OPTOUT, "x.a.oo.example.org", PD_TYPE_A);
	assert_string_equal(r.rr[0].owner, "a.oo.example.org.");
	assert_nsec3(&r, 1, MU_NSEC3_OPTOUT, "example.org", true);
	assert_nsec3_set(&r, MU_NSEC3_OPTOUT, 1, 2, "example.org", "oo.example.org");
	/* Its DS, asked for: NODATA with the same proof (RFC 5155 7.2.4). */
	ask_do(&r, MU_NSEC3_OPTOUT, "insecure.example.org", PD_TYPE_DS);
	assert_true(r.flags & PD_FLAG_AA);
	assert_int_equal(r.an, 0);
	assert_soa_at(&r, 0);
	assert_nsec3(&r, 2, MU_NSEC3_OPTOUT, "example.org", true);
	assert_nsec3_set(&r, MU_NSEC3_OPTOUT, 1, 2, "example.org", "insecure.example.org");
	ask_do(&r, MU_NSEC, "insecure.example.org", PD_TYPE_DS);
	assert_int_equal(r.ns, 4);
	assert_signed_at(&r, 2, 1, PD_TYPE_NSEC, "insecure.example.org.");
}

static void dnssec_cname_and_dname(void **state)
{
	tu_resp_t r;
	for (int mode = MU_NSEC; mode <= MU_NSEC3_OPTOUT; mode++) {
		/* Each CNAME signed; the wildcard step proven in authority. */
		ask_do(&r, mode, "wcc.example.org", PD_TYPE_A);
		assert_int_equal(r.an, 6);
		assert_signed_at(&r, 0, 0, PD_TYPE_CNAME, "wcc.example.org.");
		assert_signed_at(&r, 2, 0, PD_TYPE_CNAME, "a.wc.example.org.");
		assert_signed_at(&r, 4, 0, PD_TYPE_A, "www.example.org.");
		assert_int_equal(r.ns, 2);
		if (mode == MU_NSEC)
			assert_nsec(&r, 6, "a.wc.example.org", false);
		else
			assert_nsec3(&r, 6, mode, "a.wc.example.org", false);
		/* A chain ending in NXDOMAIN: its proof. */
		ask_do(&r, mode, "dangling.example.org", PD_TYPE_A);
		assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
		assert_int_equal(r.an, 2);
		assert_signed_at(&r, 0, 0, PD_TYPE_CNAME, "dangling.example.org.");
		assert_soa_at(&r, 2);
		if (mode == MU_NSEC)
			assert_int_equal(r.ns, 6);
		else
			assert_nsec3_set(&r, mode, 1, 3, "example.org", "nothing.example.org",
			                 "*.example.org");
		/* DNAME signed, the CNAME made from it not (RFC 6672 5.3.1). */
		ask_do(&r, mode, "www.old.example.org", PD_TYPE_A);
		assert_int_equal(r.an, 5);
		assert_signed_at(&r, 0, 0, PD_TYPE_DNAME, "old.example.org.");
		assert_int_equal(r.rr[2].type, PD_TYPE_CNAME);
		assert_signed_at(&r, 3, 0, PD_TYPE_A, "www.new.example.org.");
	}
}

static void dnssec_types_asked_for(void **state)
{
	tu_resp_t r;
	/* With DO: DNSKEY and NSEC are data, signed; RRSIG is answered with the first
	 * RRSIG RRset at the name, unsigned (as Knot). */
	ask_do(&r, MU_NSEC, "example.org", PD_TYPE_DNSKEY);
	assert_int_equal(r.an, 2);
	assert_signed_at(&r, 0, 0, PD_TYPE_DNSKEY, "example.org.");
	ask_do(&r, MU_NSEC, "www.example.org", PD_TYPE_NSEC);
	assert_int_equal(r.an, 2);
	assert_signed_at(&r, 0, 0, PD_TYPE_NSEC, "www.example.org.");
	ask_do(&r, MU_NSEC, "www.example.org", PD_TYPE_RRSIG);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rr[0].type, PD_TYPE_RRSIG);
	ask_do(&r, MU_NSEC3, "example.org", PD_TYPE_NSEC3PARAM);
	assert_int_equal(r.an, 2);
	assert_signed_at(&r, 0, 0, PD_TYPE_NSEC3PARAM, "example.org.");
	/* ANY: the one RRset, signed. */
	ask_do(&r, MU_NSEC, "www.example.org", PD_TYPE_ANY);
	assert_int_equal(r.an, 2);
	assert_signed_at(&r, 0, 0, r.rr[0].type, "www.example.org.");
	/* Without DO: today's answers, the types asked for as data, no other RRSIG. */
	for (int mode = MU_NSEC; mode <= MU_NSEC3_OPTOUT; mode++) {
		ask_signed(&r, mode, "nope.example.org", PD_TYPE_A, 1232, false);
		assert_int_equal(r.rcode, PD_RCODE_NXDOMAIN);
		assert_int_equal(r.ns, 1);
		assert_false(r.opt_ttl & PD_EDNS_DO);
		ask_signed(&r, mode, "x.apps.example.org", PD_TYPE_A, 0, false);
		assert_int_equal(r.an, 1);
		assert_int_equal(r.ns, 0);
		ask_signed(&r, mode, "sub.example.org", PD_TYPE_A, 1232, false);
		assert_int_equal(r.ns, 1);
		ask_signed(&r, mode, "example.org", PD_TYPE_MX, 1232, false);
		assert_int_equal(r.an, 3);
		assert_int_equal(r.ar, 7); /* A and AAAA of each, OPT */
		ask_signed(&r, mode, "example.org", PD_TYPE_DNSKEY, 1232, false);
		assert_int_equal(r.an, 1);
		ask_signed(&r, mode, "www.example.org", PD_TYPE_RRSIG, 1232, false);
		assert_int_equal(r.an, 1);
		assert_int_equal(r.rr[0].type, PD_TYPE_RRSIG);
	}
	ask_signed(&r, MU_NSEC, "www.example.org", PD_TYPE_NSEC, 0, false);
	assert_int_equal(r.an, 1);
	assert_int_equal(r.rr[0].type, PD_TYPE_NSEC);
}

/* DO on an unsigned zone changes nothing but the OPT's DO bit. */
static void dnssec_do_on_unsigned_zone_changes_nothing(void **state)
{
	static const char *const names[] = {"www.example.com",       "nope.example.com",
	                                    "host.apps.example.com", "www.sub.example.com",
	                                    "alias.example.com",     "example.com"};
	static const uint16_t types[] = {PD_TYPE_A, PD_TYPE_AAAA, PD_TYPE_MX, PD_TYPE_DS,
	                                 PD_TYPE_RRSIG};
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++) {
			uint8_t q[512], a[PD_UDP_MAX], b[PD_UDP_MAX];
			size_t qlen = tu_query(q, names[i], types[t], PD_CLASS_IN, 1232, 0);
			size_t alen = pd_answer(zs, &conf, q, qlen, a, sizeof(a), NULL);
			qlen = tu_query(q, names[i], types[t], PD_CLASS_IN, 1232, PD_EDNS_DO);
			size_t blen = pd_answer(zs, &conf, q, qlen, b, sizeof(b), NULL);
			assert_int_equal(alen, blen);
			/* The OPT ends both, without options: its flags 4 bytes before the end. */
			assert_int_equal(b[blen - 4] & 0x80, 0x80);
			b[blen - 4] &= 0x7F;
			assert_memory_equal(a, b, alen);
		}
}

/*
 * At every EDNS size: either TC with the sections empty, or every required RRset with
 * its RRSIG, and in additional each address RRset followed by its RRSIG (dropped
 * together, never alone).
 */
static void dnssec_sizes(void **state)
{
	static const struct {
		const char *name;
		uint16_t type;
	} qs[] = {{"nope.example.org", PD_TYPE_A},
	          {"example.org", PD_TYPE_MX},
	          {"x.apps.example.org", PD_TYPE_AAAA},
	          {"wcc.example.org", PD_TYPE_A},
	          {"insecure.example.org", PD_TYPE_A}};
	for (int mode = MU_NSEC; mode <= MU_NSEC3_OPTOUT; mode++)
		for (size_t k = 0; k < sizeof(qs) / sizeof(*qs); k++) {
			tu_resp_t full, r;
			ask_do(&full, mode, qs[k].name, qs[k].type);
			bool seen_tc = false, seen_short = false;
			for (uint16_t size = 512; size <= 1232; size += 8) {
				size_t len =
				    ask_signed(&r, mode, qs[k].name, qs[k].type, size, true);
				assert_true(len <= size);
				if (r.flags & PD_FLAG_TC) {
					seen_tc = true;
					assert_int_equal(r.an + r.ns, 0);
					continue;
				}
				assert_int_equal(r.an, full.an);
				assert_int_equal(r.ns, full.ns);
				if (r.ar < full.ar)
					seen_short = true;
				for (int i = 0; i < r.nrr; i++) {
					const tu_rr_t *rr = &r.rr[i];
					if (rr->section != 2 || rr->type == PD_TYPE_RRSIG)
						continue;
					int j = i;
					while (j + 1 < r.nrr && r.rr[j + 1].type == rr->type)
						j++;
					assert_true(j + 1 < r.nrr);
					assert_int_equal(r.rr[j + 1].type, PD_TYPE_RRSIG);
					assert_int_equal(pd_get_u16(r.rr[j + 1].rdata), rr->type);
					i = j + 1;
				}
			}
			/* The NSEC3 denials do not fit 512; the MX's addresses shrink first. */
			if (mode != MU_NSEC && k == 0)
				assert_true(seen_tc);
			if (k == 1)
				assert_true(seen_short);
		}
	/* Over TCP the whole answer goes. */
	uint8_t q[512], resp[MU_TCP_CAP];
	size_t qlen = tu_query(q, "nope.example.org", PD_TYPE_A, PD_CLASS_IN, 512, PD_EDNS_DO);
	tu_resp_t r;
	size_t len = mu_answer(zs_signed[MU_NSEC3], &conf, q, qlen, true, resp, sizeof(resp), NULL);
	tu_parse(&r, resp, len);
	assert_false(r.flags & PD_FLAG_TC);
	assert_nsec3_set(&r, MU_NSEC3, 1, 3, "example.org", "nope.example.org", "*.example.org");
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
	    cmocka_unit_test(wildcard_ns_refers),
	    cmocka_unit_test(ds_is_answered_by_the_parent),
	    cmocka_unit_test(additional_addresses_for_mx_ns_srv),
	    cmocka_unit_test(names_are_compressed),
	    cmocka_unit_test(only_rfc1035_rdata_names_are_compressed),
	    cmocka_unit_test(any_gives_one_rrset),
	    cmocka_unit_test(edns_sizes_and_truncation),
	    cmocka_unit_test(big_answer_fits_with_a_big_buffer),
	    cmocka_unit_test(badvers_for_edns_version_1),
	    cmocka_unit_test(bad_input),
	    cmocka_unit_test(additional_records_are_opt_then_tsig),
	    cmocka_unit_test(other_opcodes_are_notimp),
	    cmocka_unit_test(notify_is_refused_as_nsd_does),
	    cmocka_unit_test(special_hook_answers_or_declines),
	    cmocka_unit_test(an_opt_without_question_is_answered),
	    cmocka_unit_test(two_opt_records_are_formerr),
	    cmocka_unit_test(classes_zones_and_transfers),
	    cmocka_unit_test(class_any_is_answered_from_in),
	    cmocka_unit_test(chaos_identity_and_version),
	    cmocka_unit_test(tsig_with_an_unknown_key_is_badkey),
	    cmocka_unit_test(misplaced_or_malformed_tsig_is_formerr),
	    cmocka_unit_test(nsid_only_when_asked),
	    cmocka_unit_test(keepalive_over_tcp_only),
	    cmocka_unit_test(malformed_options_are_formerr),
	    cmocka_unit_test(tcp_answers_fill_the_buffer),
	    cmocka_unit_test(flags_cd_cleared_rd_copied),
	    cmocka_unit_test(no_zones_refuses),
	    cmocka_unit_test(responses_fit_the_exact_limit),
	    cmocka_unit_test(random_input_never_breaks),
	    cmocka_unit_test(batch_answers_match_single),
	    cmocka_unit_test(dnssec_do_on_unsigned_zone_changes_nothing),
	};
	const struct CMUnitTest signed_tests[] = {
	    cmocka_unit_test(dnssec_nxdomain_nsec),   cmocka_unit_test(dnssec_nxdomain_nsec3),
	    cmocka_unit_test(dnssec_nodata),          cmocka_unit_test(dnssec_wildcards),
	    cmocka_unit_test(dnssec_referrals),       cmocka_unit_test(dnssec_cname_and_dname),
	    cmocka_unit_test(dnssec_types_asked_for), cmocka_unit_test(dnssec_sizes),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	failed +=
	    cmocka_run_group_tests_name("signed", signed_tests, setup_signed, teardown_signed);
	return failed;
}
