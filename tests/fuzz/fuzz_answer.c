/*
 * libFuzzer target: arbitrary datagrams through pd_answer() against a fixed zone, as it
 * is and signed with NSEC and with NSEC3 opt-out (mu_sign()), so DO queries walk every
 * proof.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/answer.h"
#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/zoneset.h"

#include "fuzzutil.h"

#include "answer_limit.h" /* from tests/unit/core: the limit the unit tests check too */
#include "msgutil.h"      /* mu_sign() */

static pd_zoneset_t *sets[3]; /* unsigned, NSEC, NSEC3 with opt-out */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pd_zone_t *z = NULL;
	pd_zone_builder_t *b = fz_example_com(1);
	fz_add_name(b, "example.com", PD_TYPE_MX, "ns.example.com");
	fz_add(b, "ns.example.com", PD_TYPE_A, "\x01\x02\x03\x04", 4);
	/* Answers near the limits: 48 A (about 800 bytes) fit 1232 and not 512; 64 AAAA
	 * (about 1800 bytes) fit no client of ours (1232), so they catch a lost cap. */
	for (uint8_t i = 0; i < 64; i++) {
		uint8_t a[4] = {192, 0, 2, i};
		uint8_t aaaa[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = i};
		if (i < 48)
			fz_add(b, "*.w.example.com", PD_TYPE_A, a, 4);
		fz_add(b, "*.w.example.com", PD_TYPE_AAAA, aaaa, 16);
	}
	fz_add_name(b, "c.example.com", PD_TYPE_CNAME, "a.w.example.com");
	fz_add_name(b, "l.example.com", PD_TYPE_CNAME, "l.example.com");
	fz_add_name(b, "d.example.com", PD_TYPE_DNAME, "w.example.com");
	fz_add_name(b, "s.example.com", PD_TYPE_NS, "ns.s.example.com");
	fz_add(b, "ns.s.example.com", PD_TYPE_A, "\x01\x02\x03\x06", 4);
	/* A delegation with a DS, and one below an empty non-terminal. */
	fz_add_name(b, "t.example.com", PD_TYPE_NS, "ns.example.net");
	fz_add(b, "t.example.com", PD_TYPE_DS, "\x30\x39\x0d\x02", 4);
	fz_add_name(b, "u.e.example.com", PD_TYPE_NS, "ns.example.net");
	if (pd_zone_builder_finish(b, &z) < 0)
		abort();
	pd_zone_builder_free(b);
	pd_zone_t *zones[3] = {z, mu_sign(z, MU_NSEC), mu_sign(z, MU_NSEC3_OPTOUT)};
	for (int i = 0; i < 3; i++)
		if (pd_zoneset_new(&sets[i], &zones[i], 1) < 0)
			abort();
	return 0;
}

/* Over TCP the answer fills at most the buffer, never sets TC, and parses as one message. */
static void check_tcp(const pd_zoneset_t *zs, const uint8_t *data, size_t size)
{
	static uint8_t resp[PD_MSG_MAX];
	pd_query_t q;
	pd_query_parse(&q, data, size);
	q.tcp = true;
	pd_answer_prefetch(zs, &q, 1, NULL);
	size_t len = pd_answer_query(zs, &fz_conf, &q, resp, sizeof(resp), NULL);
	if (len && (len < PD_HEADER_LEN || (pd_get_u16(resp + 2) & PD_FLAG_TC)))
		abort();
}

/* Answers into resp (PD_UDP_MAX bytes) and checks the answer; returns its length. */
static size_t check(const pd_zoneset_t *zs, const uint8_t *data, size_t size, uint8_t *resp)
{
	static uint8_t again[PD_UDP_MAX];
	/* The batch path: one parse, the prefetch remembering the zone, then the answer. */
	pd_query_t q;
	pd_query_parse(&q, data, size);
	pd_answer_prefetch(zs, &q, 1, NULL);
	size_t len = pd_answer_query(zs, &fz_conf, &q, resp, PD_UDP_MAX, NULL);
	/* Never larger than the client may take. */
	if (len > tu_exact_limit(data, size, fz_conf.udp_size))
		abort();
	/* The zone remembered by the prefetch changes nothing: the same as a fresh parse. */
	if (pd_answer(zs, &fz_conf, data, size, again, sizeof(again), NULL) != len ||
	    memcmp(resp, again, len) != 0)
		abort();
	check_tcp(zs, data, size);
	return len;
}

/* The types a signed zone answers differently even without DO: its DNSSEC data. */
static bool dnssec_type(uint16_t t)
{
	return t == PD_TYPE_RRSIG || t == PD_TYPE_NSEC || t == PD_TYPE_NSEC3 ||
	       t == PD_TYPE_DNSKEY || t == PD_TYPE_NSEC3PARAM || t == PD_TYPE_ANY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t resp[3][PD_UDP_MAX];
	size_t len[3];
	for (int i = 0; i < 3; i++)
		len[i] = check(sets[i], data, size, resp[i]);
	/* Without DO, signing changes no answer but to the DNSSEC types themselves. */
	pd_query_t q;
	pd_query_parse(&q, data, size);
	if (!q.edns_do && !dnssec_type(q.qtype))
		for (int i = 1; i < 3; i++)
			if (len[i] != len[0] || memcmp(resp[i], resp[0], len[0]) != 0)
				abort();
	return 0;
}
