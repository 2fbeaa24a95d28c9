/*
 * libFuzzer target: batches through the response cache, and through pd_answer_batch() as
 * a pindnsd without a cache answers them, must answer as pd_answer() does, and report the
 * same RCODE and TC as its pd_answer_info_t.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/answer.h"
#include "pindns/cache.h"
#include "pindns/dns.h"
#include "pindns/zoneset.h"

#include "fuzzutil.h"

#define PD_FUZZ_PACKETS 40 /* with their twins 80 datagrams: more than one chunk of 32 */

/*
 * Two zone sets with the same names and different data: the input picks one, so the
 * cache sees a new generation again and again and must never serve the other's entry.
 */
static pd_zoneset_t *sets[2];
/* Kept across inputs, so that a packet meets entries an earlier input stored; small,
 * so that entries are evicted too. */
static pd_cache_t *cache;

/* count TXT strings of 200 bytes: 4 fit 1232 and a cache slot but not 512, 8 fit neither. */
static void add_txt(pd_zone_builder_t *b, const char *owner, int count, uint8_t fill)
{
	uint8_t rd[201];
	rd[0] = 200;
	for (int i = 0; i < count; i++) {
		memset(rd + 1, fill + i, 200);
		fz_add(b, owner, PD_TYPE_TXT, rd, sizeof(rd));
	}
}

static pd_zoneset_t *make_set(uint8_t v)
{
	uint8_t a[4] = {192, 0, 2, v};
	pd_zone_t *z = NULL;
	pd_zoneset_t *set = NULL;
	pd_zone_builder_t *b = fz_example_com(v);
	fz_add_name(b, "example.com", PD_TYPE_MX, "ns.example.com");
	fz_add(b, "ns.example.com", PD_TYPE_A, a, 4);
	fz_add(b, "www.example.com", PD_TYPE_A, a, 4);
	fz_add(b, "*.w.example.com", PD_TYPE_A, a, 4);
	fz_add_name(b, "c.example.com", PD_TYPE_CNAME, "a.w.example.com");
	fz_add_name(b, "cc.example.com", PD_TYPE_CNAME, "c.example.com");
	fz_add_name(b, "l.example.com", PD_TYPE_CNAME, "l.example.com");
	fz_add_name(b, "d.example.com", PD_TYPE_DNAME, "w.example.com");
	fz_add_name(b, "s.example.com", PD_TYPE_NS, "ns.s.example.com");
	fz_add(b, "ns.s.example.com", PD_TYPE_A, a, 4);
	/* A referral whose glue does not fit 512 bytes: TC with the NS RRset kept. */
	for (int i = 0; i < 9; i++) {
		char ns[64];
		snprintf(ns, sizeof(ns), "ns%d-gggggggggggggggggggggggggggggg.g.example.com", i);
		fz_add_name(b, "g.example.com", PD_TYPE_NS, ns);
		fz_add(b, ns, PD_TYPE_A, a, 4);
	}
	add_txt(b, "mid.example.com", 4, (uint8_t)('a' + v % 8));
	add_txt(b, "big.example.com", 8, (uint8_t)('a' + v % 8));
	if (pd_zone_builder_finish(b, &z) < 0)
		abort();
	pd_zone_builder_free(b);
	if (pd_zoneset_new(&set, &z, 1) < 0)
		abort();
	return set;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sets[0] = make_set(1);
	sets[1] = make_set(2);
	cache = pd_cache_new(64 * 1024);
	if (!cache)
		abort();
	return 0;
}

/* The same question in other clothes: another ID, RD the other way, letter case swapped. */
static void make_twin(uint8_t *q, size_t len)
{
	if (len < PD_HEADER_LEN)
		return;
	q[0] ^= 0x5A;
	q[1] ^= 0xA5;
	q[2] ^= 1;
	for (size_t p = PD_HEADER_LEN; p < len && q[p] && q[p] < 0x40; p += 1u + q[p])
		for (size_t i = p + 1; i <= p + q[p] && i < len; i++)
			if ((q[i] | 0x20) >= 'a' && (q[i] | 0x20) <= 'z')
				q[i] ^= 0x20;
}

/*
 * Whether a datagram says of its reply what pd_answer() said of the same reply, resp,
 * and what that reply's header says: its RCODE's 4 bits and TC, or 0 and false for none.
 */
static bool same_info(const pd_dgram_t *d, const pd_answer_info_t *info, const uint8_t *resp)
{
	if (d->out_len == 0)
		return info->rcode == -1 && d->rcode == 0 && !d->truncated;
	return d->rcode == (info->rcode & PD_RCODE_MASK) && d->truncated == !!info->truncated &&
	       d->rcode == (resp[3] & PD_RCODE_MASK) &&
	       d->truncated == ((pd_get_u16(resp + 2) & PD_FLAG_TC) != 0);
}

/*
 * Input: one byte whose low bit picks the zone set, then packets, each a 16-bit
 * big-endian length and that many bytes (fewer if the input ends). The packets and then
 * a twin of each go through pd_cache_answer_batch() as one batch, and through
 * pd_answer_batch() as another. The length's top bit says the packet came over TCP; bit
 * 1 of the first byte sends the twins over the other transport, so that an answer kept
 * for one is tried on the other.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[2 * PD_FUZZ_PACKETS][PD_UDP_MAX],
	    out_nocache[2 * PD_FUZZ_PACKETS][PD_UDP_MAX];
	uint8_t want[PD_UDP_MAX];
	pd_dgram_t batch[2 * PD_FUZZ_PACKETS], nocache[2 * PD_FUZZ_PACKETS];
	int n = 0;
	if (size < 1)
		return 0;
	const pd_zoneset_t *zs = sets[data[0] & 1];
	for (size_t off = 1; off + 2 <= size && n < PD_FUZZ_PACKETS; n++) {
		size_t len = pd_get_u16(data + off) & 0x7FFF;
		bool tcp = data[off] & 0x80;
		off += 2;
		if (len > size - off)
			len = size - off;
		batch[n] = (pd_dgram_t){.in = fz_copy(data + off, len), .in_len = len, .tcp = tcp};
		off += len;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *twin = fz_copy(batch[i].in, batch[i].in_len);
		make_twin(twin, batch[i].in_len);
		batch[n + i] = (pd_dgram_t){
		    .in = twin, .in_len = batch[i].in_len, .tcp = batch[i].tcp ^ !!(data[0] & 2)};
	}
	for (int i = 0; i < 2 * n; i++) {
		batch[i].out = out[i];
		batch[i].out_cap = sizeof(out[i]);
		batch[i].rcode = 0xFF; /* so that a path which leaves them unset shows */
		batch[i].truncated = true;
	}
	/* The same batch as a pindnsd without a cache answers it, and through the cache. */
	memcpy(nocache, batch, sizeof(batch[0]) * (size_t)(2 * n));
	for (int i = 0; i < 2 * n; i++)
		nocache[i].out = out_nocache[i];
	pd_answer_batch(zs, &fz_conf, nocache, 2 * n);
	pd_cache_answer_batch(cache, zs, &fz_conf, batch, 2 * n);
	for (int i = 0; i < 2 * n; i++) {
		pd_answer_info_t info;
		pd_query_t q;
		pd_query_parse_dgram(&q, &batch[i]);
		size_t len = pd_answer_query(zs, &fz_conf, &q, want, batch[i].out_cap, &info);
		if (batch[i].out_len != len || memcmp(batch[i].out, want, len) != 0 ||
		    nocache[i].out_len != len || memcmp(nocache[i].out, want, len) != 0)
			abort();
		if (!same_info(&batch[i], &info, want) || !same_info(&nocache[i], &info, want))
			abort();
		free((void *)batch[i].in);
	}
	return 0;
}
