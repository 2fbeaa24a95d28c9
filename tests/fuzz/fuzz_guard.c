/*
 * libFuzzer target: cookies and rate limits around the answers. A batch through the cache
 * and the same batch answered without it, each with a guard of its own fed the same time,
 * must give the same bytes: every cookie patched into a cached answer, every limited and
 * slipped reply, as the uncached path makes them.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pindns/answer.h"
#include "pindns/cache.h"
#include "pindns/dns.h"
#include "pindns/guard.h"
#include "pindns/zoneset.h"

#include "fuzzutil.h"

#define PD_FUZZ_PACKETS 48
#define PD_FUZZ_PEERS 4

static pd_zoneset_t *set;
static pd_cache_t *cache;
static pd_guard_conf_t gconf[2]; /* [1] requires cookies */
static pd_guard_t *cached[2], *plain[2];
static uint32_t unix_s = 1700000000;
static uint64_t steady_ms = 1000;
static struct sockaddr_storage peers[PD_FUZZ_PEERS];
static socklen_t peer_lens[PD_FUZZ_PEERS];

static void make_peers(void)
{
	struct sockaddr_in *a = (void *)&peers[0], *b = (void *)&peers[1];
	struct sockaddr_in6 *c = (void *)&peers[2], *m = (void *)&peers[3];
	a->sin_family = b->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(0x7F000001);
	b->sin_addr.s_addr = htonl(0xC0000201);
	c->sin6_family = m->sin6_family = AF_INET6;
	c->sin6_addr.s6_addr[15] = 1;
	m->sin6_addr.s6_addr[10] = m->sin6_addr.s6_addr[11] = 0xFF; /* ::ffff:127.0.0.1 */
	m->sin6_addr.s6_addr[12] = 127;
	m->sin6_addr.s6_addr[15] = 1;
	peer_lens[0] = peer_lens[1] = sizeof(struct sockaddr_in);
	peer_lens[2] = peer_lens[3] = sizeof(struct sockaddr_in6);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t a[4] = {192, 0, 2, 1};
	pd_zone_t *z = NULL;
	pd_zone_builder_t *b = fz_example_com(1);
	fz_add(b, "www.example.com", PD_TYPE_A, a, 4);
	fz_add_name(b, "s.example.com", PD_TYPE_NS, "ns.s.example.com");
	fz_add(b, "ns.s.example.com", PD_TYPE_A, a, 4);
	if (pd_zone_builder_finish(b, &z) < 0 || pd_zoneset_new(&set, &z, 1) < 0)
		abort();
	pd_zone_builder_free(b);
	cache = pd_cache_new(64 * 1024);
	for (int k = 0; k < 2; k++) {
		pd_guard_conf_t *g = &gconf[k];
		g->cookie.enabled = true;
		g->cookie.require = k == 1;
		g->cookie.nsecrets = 1;
		memset(g->cookie.secret[0], 0x5A, PD_COOKIE_SECRET_LEN);
		g->rrl = (pd_rrl_conf_t){.rate = 5,
		                         .window = 1,
		                         .slip = 2,
		                         .ipv4_prefix = 24,
		                         .ipv6_prefix = 56,
		                         .table_size = 1024,
		                         .seed = 7};
		if (!cache || pd_guard_new(&cached[k], g) < 0 || pd_guard_new(&plain[k], g) < 0)
			abort();
	}
	make_peers();
	return 0;
}

/*
 * Input: a byte whose low bit picks the guards (bit 0: cookies required) and whose high
 * bits move the clocks on (by up to 7 s, for the buckets and for cookie timestamps), then
 * packets: a 16-bit length (top bit: TCP), a byte picking the sender, the bytes. Each packet
 * goes twice into the batch, so the second may hit what the first stored.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[2][2 * PD_FUZZ_PACKETS][PD_UDP_MAX];
	pd_dgram_t batch[2][2 * PD_FUZZ_PACKETS];
	int n = 0;
	if (size < 1)
		return 0;
	int k = data[0] & 1;
	unix_s += data[0] >> 5;
	steady_ms += (uint64_t)(data[0] >> 1) * 250;
	for (size_t off = 1; off + 3 <= size && n < 2 * PD_FUZZ_PACKETS; n += 2) {
		size_t len = pd_get_u16(data + off) & 0x7FFF;
		bool tcp = data[off] & 0x80;
		int peer = data[off + 2] % PD_FUZZ_PEERS;
		off += 3;
		if (len > size - off)
			len = size - off;
		for (int t = 0; t < 2; t++)
			for (int j = 0; j < 2; j++)
				batch[t][n + j] = (pd_dgram_t){.in = fz_copy(data + off, len),
				                               .in_len = len,
				                               .tcp = tcp,
				                               .peer = &peers[peer],
				                               .peer_len = peer_lens[peer],
				                               .out = out[t][n + j],
				                               .out_cap = PD_UDP_MAX};
		off += len;
	}
	pd_answer_conf_t with_cache = fz_conf, without = fz_conf;
	with_cache.guard = cached[k];
	without.guard = plain[k];
	pd_guard_set_time(cached[k], unix_s, steady_ms);
	pd_guard_set_time(plain[k], unix_s, steady_ms);
	pd_cache_answer_batch(cache, set, &with_cache, batch[0], n);
	pd_answer_batch(set, &without, batch[1], n);
	for (int i = 0; i < n; i++) {
		if (batch[0][i].out_len != batch[1][i].out_len ||
		    memcmp(batch[0][i].out, batch[1][i].out, batch[0][i].out_len) != 0 ||
		    batch[0][i].rcode != batch[1][i].rcode ||
		    batch[0][i].truncated != batch[1][i].truncated)
			abort();
		free((void *)batch[0][i].in);
		free((void *)batch[1][i].in);
	}
	return 0;
}
