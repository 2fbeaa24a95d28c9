/* A worker's guard: cookie verdicts before the answer, rate limits after it. */
#include "pindns/guard.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pindns/dns.h"

struct pd_guard {
	const pd_guard_conf_t *conf;
	pd_cookie_t *cookie;
	pd_rrl_t *rrl;
	uint32_t unix_s;
	uint64_t steady_ms;
	pd_guard_stats_t own;
	pd_guard_stats_t *stats;
};

int pd_guard_new(pd_guard_t **out, const pd_guard_conf_t *conf)
{
	int ret = -ENOMEM;
	*out = NULL;
	pd_guard_t *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->conf = conf;
	g->stats = &g->own;
	if (conf->cookie.enabled && (ret = pd_cookie_new(&g->cookie, &conf->cookie)) < 0)
		goto fail;
	if (conf->rrl.rate && (ret = pd_rrl_new(&g->rrl, &conf->rrl)) < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	pd_guard_free(g);
	return ret;
}

void pd_guard_free(pd_guard_t *g)
{
	if (!g)
		return;
	pd_cookie_free(g->cookie);
	pd_rrl_free(g->rrl);
	free(g);
}

void pd_guard_count_into(pd_guard_t *g, pd_guard_stats_t *counters)
{
	pd_counter_t *to = (pd_counter_t *)counters;
	const pd_counter_t *from = (const pd_counter_t *)g->stats;
	for (size_t i = 0; i < sizeof(*counters) / sizeof(pd_counter_t); i++)
		pd_counter_add(&to[i], pd_counter_get(&from[i]));
	g->stats = counters;
}

void pd_guard_set_time(pd_guard_t *g, uint32_t unix_s, uint64_t steady_ms)
{
	g->unix_s = unix_s;
	g->steady_ms = steady_ms;
}

/*
 * The client's address bytes (4 or 16) from a datagram's peer, an IPv4-mapped IPv6
 * address as the IPv4 one it is. Returns the family (4 or 6), or 0 for none.
 */
static int pd__peer_addr(const pd_dgram_t *d, const uint8_t **addr)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	const struct sockaddr *sa = d->peer;
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET && d->peer_len >= sizeof(struct sockaddr_in)) {
		*addr = (const uint8_t *)&((const struct sockaddr_in *)d->peer)->sin_addr;
		return 4;
	}
	if (sa->sa_family == AF_INET6 && d->peer_len >= sizeof(struct sockaddr_in6)) {
		const uint8_t *a = ((const struct sockaddr_in6 *)d->peer)->sin6_addr.s6_addr;
		bool v4 = memcmp(a, mapped, sizeof(mapped)) == 0;
		*addr = v4 ? a + 12 : a;
		return v4 ? 4 : 6;
	}
	return 0;
}

/* One query's cookie: its verdict, the cookie to send, and whether it gets BADCOOKIE. */
static void pd__cookie_query(pd_guard_t *g, pd_query_t *q, const pd_dgram_t *d)
{
	const uint8_t *addr;
	int family;
	if (q->cookie_malformed) {
		/* RFC 7873 5.2.2; as a malformed OPT is, so in the probe without a question
		 * with every flag but QR cleared, as NSD answers a bad probe. */
		q->rcode = PD_RCODE_FORMERR;
		q->formerr_qdcount = q->qdcount != 1;
		q->cacheable = false;
		return;
	}
	if (!q->cookie_off || !(family = pd__peer_addr(d, &addr)))
		return;
	q->cookie = (uint8_t)pd_cookie_check(g->cookie, q->wire + q->cookie_off, q->cookie_len,
	                                     addr, family == 4 ? 4 : 16, g->unix_s, q->cookie_out);
	pd_counter_add(q->cookie == PD_COOKIE_CLIENT  ? &g->stats->cookie_client
	               : q->cookie == PD_COOKIE_VALID ? &g->stats->cookie_valid
	                                              : &g->stats->cookie_invalid,
	               1);
	/* RFC 7873 5.4: a probe without a question learns a cookie, NOERROR even when they
	 * are required; one that brought a bad one gets BADCOOKIE. */
	bool bad = q->qdcount == 0
	               ? q->cookie == PD_COOKIE_INVALID
	               : g->conf->cookie.require && !q->tcp && q->cookie != PD_COOKIE_VALID &&
	                     q->opcode == PD_OPCODE_QUERY;
	if (bad) {
		q->badcookie = true;
		q->cacheable = false;
	}
}

void pd_guard_queries(pd_guard_t *g, pd_query_t *qs, const pd_dgram_t *ds, int n)
{
	if (!g->cookie)
		return;
	for (int i = 0; i < n; i++)
		if (!qs[i].drop && qs[i].edns)
			pd__cookie_query(g, &qs[i], &ds[i]);
}

/* The class a response falls in, from its header. */
static pd_rrl_class_t pd__class(const pd_dgram_t *d)
{
	uint16_t flags = pd_get_u16(d->out + 2);
	if (d->rcode == PD_RCODE_NXDOMAIN)
		return PD_RRL_NXDOMAIN;
	if (d->rcode != PD_RCODE_NOERROR)
		return PD_RRL_ERROR;
	if (!(flags & PD_FLAG_AA) && pd_get_u16(d->out + 6) == 0 && pd_get_u16(d->out + 8) != 0)
		return PD_RRL_REFERRAL;
	return PD_RRL_ANSWER;
}

/*
 * The zone a response's bucket is kept under, 0 for none: its address, mixed with the rest
 * of the key. A reload gives a zone a new one, and its clients full buckets.
 */
static uint32_t pd__zone_hash(const pd_zoneset_t *zs, pd_query_t *q)
{
	if (!q->zone_known && zs && q->question_ok && q->qdcount == 1) {
		q->zone = pd_zoneset_find_labels(zs, q->question, q->qname_len, q->hash,
		                                 q->label_off, q->labels);
		q->zone_known = true;
	}
	uintptr_t z = q->zone_known ? (uintptr_t)q->zone : 0;
	return (uint32_t)(z >> 4) ^ (uint32_t)((uint64_t)z >> 36);
}

/* A slipped reply: the header and question (when it had one), TC set, nothing else. */
static void pd__slip_truncated(const pd_query_t *q, pd_dgram_t *d)
{
	bool question = pd_get_u16(d->out + 4) == 1 && q->question_ok;
	size_t len = question ? q->question_end : PD_HEADER_LEN;
	pd_put_u16(d->out + 2, pd_get_u16(d->out + 2) | PD_FLAG_TC);
	pd_put_u16(d->out + 4, question ? 1 : 0);
	memset(d->out + 6, 0, 6);
	d->out_len = len;
	d->truncated = true;
}

/* Rate limits one answered datagram: passes, drops or slips it. */
static void pd__limit(pd_guard_t *g, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                      pd_query_t *q, pd_dgram_t *d)
{
	const uint8_t *addr;
	int family;
	if (!d->out_len || d->tcp || q->cookie == PD_COOKIE_VALID ||
	    !(family = pd__peer_addr(d, &addr)) || pd_rrl_exempt(&g->conf->rrl, family, addr))
		return;
	pd_rrl_action_t act =
	    pd_rrl_take(g->rrl, family, addr, pd__class(d), pd__zone_hash(zs, q), g->steady_ms);
	if (act == PD_RRL_PASS)
		return;
	if (act == PD_RRL_DROP) {
		pd_counter_add(&g->stats->rrl_dropped, 1);
		d->out_len = 0;
		d->rcode = 0;
		d->truncated = false;
		return;
	}
	pd_counter_add(&g->stats->rrl_slipped, 1);
	if (q->cookie != PD_COOKIE_NONE && q->rcode == PD_RCODE_NOERROR) {
		q->badcookie = true; /* BIND's choice: the retry brings a valid cookie */
		pd_answer_dgram_query(zs, conf, q, d);
	} else {
		pd__slip_truncated(q, d);
	}
}

void pd_guard_replies(pd_guard_t *g, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                      pd_query_t *qs, pd_dgram_t *ds, int n)
{
	if (!g->rrl && !g->cookie)
		return;
	for (int i = 0; i < n; i++) {
		pd_query_t *q = &qs[i];
		pd_dgram_t *d = &ds[i];
		if (g->rrl)
			pd__limit(g, zs, conf, q, d);
		/* Counted as sent, where the header's rcode (7) does not tell BADCOOKIE (23);
		 * a query marked for it may still get an error that comes first (NOTIMP). */
		if (d->out_len && q->badcookie && d->rcode == (PD_RCODE_BADCOOKIE & PD_RCODE_MASK))
			pd_counter_add(&g->stats->badcookie, 1);
	}
}
