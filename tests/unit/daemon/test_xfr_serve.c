/* Unit tests for the primary side of zone transfers (daemon/xfr_serve.c). */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pindns/answer.h"
#include "pindns/tsig.h"
#include "pindns/xfr.h"
#include "pindns/zoneset.h"
#include "xfr.h"

/* xfrd is another thread's business: here, what it was told. */
static int notified;
static uint8_t notified_origin[PD_NAME_MAX];

void pd_xfrd_notified(pd_xfrd_t *x, const uint8_t *origin)
{
	assert_non_null(x);
	notified++;
	memcpy(notified_origin, origin, pd_name_len(origin));
}

static pd_tsig_key_t keys[2];
static pd_xfr_rule_t notify_rules[1], provide_rules[2];
static pd_xfr_secondary_t secondary;
static pd_xfr_provide_t provide[1];
static pd_xfr_conf_t conf;
static pd_xfr_stats_t stats;
static pd_answer_conf_t answer = {.udp_size = 1232};
static int fake_xfrd;

static pd_xfr_rule_t rule(const char *addr, uint8_t prefix, const pd_tsig_key_t *key)
{
	pd_xfr_rule_t r = {.family = AF_INET, .prefix = prefix, .key = key};
	assert_int_equal(inet_pton(AF_INET, addr, r.addr), 1);
	return r;
}

static pd_zone_t *zone_v(uint32_t serial, int extra)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, "example.com");
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	pd_zone_t *z = NULL;
	tu_add_soa(b, "example.com", 3600, serial, 300);
	tu_add_name(b, "example.com", PD_TYPE_NS, "ns1.example.com");
	tu_add_a(b, "ns1.example.com", 192, 0, 2, 53);
	tu_add_a(b, "www.example.com", 192, 0, 2, 80);
	for (int i = 0; i < extra; i++) {
		char owner[64];
		snprintf(owner, sizeof(owner), "host%d.example.com", i);
		tu_add_a(b, owner, 192, 0, 2, (uint8_t)i);
	}
	assert_int_equal(pd_zone_builder_finish(b, &z), 0);
	pd_zone_builder_free(b);
	return z;
}

static pd_zoneset_t *set_of(pd_zone_t *z)
{
	pd_zoneset_t *zs = NULL;
	assert_int_equal(pd_zoneset_new(&zs, &z, 1), 0);
	return zs;
}

static void set_key(pd_tsig_key_t *k, const char *name, const char *secret)
{
	char err[128];
	assert_int_equal(pd_tsig_key_parse(k, name, "hmac-sha256", secret, err, sizeof(err)), 0);
}

static int setup(void **state)
{
	(void)state;
	set_key(&keys[0], "xfr.key", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=");
	set_key(&keys[1], "other.key", "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI=");
	notify_rules[0] = rule("127.0.0.1", 32, NULL);
	secondary.origin = "sec.test";
	tu_name(secondary.wire, "sec.test");
	secondary.notify_from = (pd_xfr_acl_t){.rules = notify_rules, .n = 1};
	provide_rules[0] = rule("127.0.0.0", 8, NULL);
	provide_rules[1] = rule("10.0.0.0", 8, &keys[0]);
	provide[0].origin = "example.com";
	tu_name(provide[0].wire, "example.com");
	provide[0].acl = (pd_xfr_acl_t){.rules = provide_rules, .n = 2};
	conf = (pd_xfr_conf_t){.keys = keys,
	                       .nkeys = 2,
	                       .secondaries = &secondary,
	                       .nsecondaries = 1,
	                       .provide = provide,
	                       .nprovide = 1,
	                       .journal_size = 1 << 20,
	                       .timeout_ms = 2000};
	return 0;
}

static struct sockaddr_in peer_of(const char *addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(40000)};
	assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	return sa;
}

/* A query for name/qtype; IXFR carries serial in an authority SOA; opcode as given. */
static size_t make_query(uint8_t *q, const char *name, uint16_t qtype, int opcode, uint32_t serial)
{
	size_t n = tu_query(q, name, qtype, PD_CLASS_IN, 0, 0);
	q[2] = (uint8_t)(opcode << 3);
	if (opcode == PD_OPCODE_NOTIFY)
		q[2] |= PD_FLAG_AA >> 8;
	if (qtype == PD_TYPE_IXFR) {
		/* The apex SOA; RDATA: root MNAME and RNAME, serial, four zero timers. */
		uint8_t soa[34] = {0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22};
		pd_put_u16(soa + 14, (uint16_t)(serial >> 16));
		pd_put_u16(soa + 16, (uint16_t)serial);
		memcpy(q + n, soa, sizeof(soa));
		n += sizeof(soa);
		q[9] = 1;
	}
	return n;
}

/* Signs the query q (len bytes) with key into ctx; returns the new length. */
static size_t sign(pd_tsig_ctx_t *ctx, const pd_tsig_key_t *key, uint8_t *q, size_t len)
{
	pd_tsig_ctx_init(ctx, key);
	size_t n = pd_tsig_sign(ctx, q, len, 600, (uint64_t)time(NULL));
	assert_true(n > len);
	return n;
}

typedef struct asked {
	bool handled;
	pd_dgram_t d;
	tu_resp_t r;
	uint8_t out[PD_MSG_MAX];
} asked_t;

/* Gives q to pd_xfr_serve_special() as it comes from peer (over TCP when tcp). */
static void ask(pd_xfr_serve_t *s, const pd_zoneset_t *zs, const uint8_t *q, size_t len,
                const char *peer, bool tcp, asked_t *a)
{
	static struct sockaddr_in sa;
	sa = peer_of(peer);
	pd_query_t pq;
	a->d = (pd_dgram_t){.peer = &sa,
	                    .peer_len = sizeof(sa),
	                    .in = q,
	                    .in_len = len,
	                    .out = a->out,
	                    .out_cap = PD_MSG_MAX,
	                    .tcp = tcp};
	pd_query_parse_dgram(&pq, &a->d);
	a->handled = pd_xfr_serve_special(s, zs, &pq, &a->d);
	memset(&a->r, 0, sizeof(a->r));
	if (a->handled && a->d.out_len)
		tu_parse(&a->r, a->out, a->d.out_len);
}

static pd_xfr_serve_t *serve_new(void)
{
	pd_xfr_serve_t *s = NULL;
	char err[128];
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(
	    pd_xfr_serve_new(&s, &conf, (pd_xfrd_t *)&fake_xfrd, &stats, err, sizeof(err)), 0);
	pd_xfr_serve_set_answer(s, &answer);
	return s;
}

/*
 * NOTIFY for a secondary from a peer its notify-from rules let in: NOERROR, AA, the
 * question echoed, xfrd told. Any other peer: REFUSED. A zone we do not keep as a
 * secondary: left to the rules (NSD's answers).
 */
static void notify_for_secondaries(void **state)
{
	(void)state;
	pd_xfr_serve_t *s = serve_new();
	pd_zoneset_t *zs = set_of(zone_v(1, 0));
	uint8_t q[600];
	asked_t *a = malloc(sizeof(*a));
	size_t n = make_query(q, "SEC.test", PD_TYPE_SOA, PD_OPCODE_NOTIFY, 0);
	notified = 0;
	ask(s, zs, q, n, "127.0.0.1", false, a);
	assert_true(a->handled);
	assert_int_equal(a->r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(a->r.flags & (PD_FLAG_QR | PD_FLAG_AA | PD_OPCODE_MASK),
	                 PD_FLAG_QR | PD_FLAG_AA | PD_OPCODE_NOTIFY << PD_OPCODE_SHIFT);
	assert_int_equal(a->r.qd, 1);
	assert_string_equal(a->r.qname, "SEC.test.");
	assert_int_equal(notified, 1);
	assert_true(pd_name_equal(notified_origin, secondary.wire));
	assert_int_equal(pd_counter_get(&stats.notify_in), 1);
	ask(s, zs, q, n, "127.0.0.2", false, a);
	assert_true(a->handled);
	assert_int_equal(a->r.rcode, PD_RCODE_REFUSED);
	assert_int_equal(notified, 1);
	assert_int_equal(pd_counter_get(&stats.notify_refused), 1);
	/* Not a secondary of ours: the rules answer. */
	n = make_query(q, "example.com", PD_TYPE_SOA, PD_OPCODE_NOTIFY, 0);
	ask(s, zs, q, n, "127.0.0.1", false, a);
	assert_false(a->handled);
	/* Signed with a key we know: answered signed; with a secret that is not the key's:
	 * NOTAUTH, with BADSIG in its TSIG record. */
	n = make_query(q, "sec.test", PD_TYPE_SOA, PD_OPCODE_NOTIFY, 0);
	pd_tsig_ctx_t ctx;
	size_t sn = sign(&ctx, &keys[0], q, n);
	ask(s, zs, q, sn, "127.0.0.1", false, a);
	assert_int_equal(a->r.rcode, PD_RCODE_NOERROR);
	size_t body;
	assert_int_equal(pd_tsig_verify(&ctx, a->out, a->d.out_len, (uint64_t)time(NULL), &body),
	                 0);
	pd_tsig_ctx_clear(&ctx);
	assert_int_equal(notified, 2);
	pd_tsig_key_t wrong = keys[0];
	wrong.secret[0] ^= 1;
	n = make_query(q, "sec.test", PD_TYPE_SOA, PD_OPCODE_NOTIFY, 0);
	sn = sign(&ctx, &wrong, q, n);
	ask(s, zs, q, sn, "127.0.0.1", false, a);
	assert_int_equal(a->r.rcode, PD_RCODE_NOTAUTH);
	const tu_rr_t *t = tu_find(&a->r, 2, PD_TYPE_TSIG, 0);
	assert_non_null(t);
	/* Error field: after the algorithm name, 6 bytes of time, fudge, MAC size (0 for
	 * BADSIG), original ID. */
	size_t alg = 13; /* hmac-sha256. in wire form */
	assert_int_equal(pd_get_u16(t->rdata + alg + 8), 0);
	assert_int_equal(pd_get_u16(t->rdata + alg + 12), PD_TSIG_BADSIG);
	pd_tsig_ctx_clear(&ctx);
	assert_int_equal(notified, 2);
	free(a);
	pd_zoneset_free(zs);
	pd_xfr_serve_free(s);
}

/*
 * AXFR and IXFR: refused to peers provide-xfr does not let in (a rule with a key wants
 * that key), over UDP AXFR is NOTIMP and IXFR the SOA alone, over TCP allowed ones are
 * taken. Zones not ours are left to the rules.
 */
static void transfers_are_refused_answered_or_taken(void **state)
{
	(void)state;
	pd_xfr_serve_t *s = serve_new();
	pd_zoneset_t *zs = set_of(zone_v(7, 0));
	uint8_t q[600];
	asked_t *a = malloc(sizeof(*a));
	size_t n = make_query(q, "example.com", PD_TYPE_AXFR, 0, 0);
	ask(s, zs, q, n, "127.0.0.1", true, a);
	assert_true(a->handled);
	assert_true(a->d.take);
	assert_int_equal(a->d.out_len, 0);
	/* Refused, unsigned: left to the rules, whose REFUSED (with its EDE) it is today. */
	ask(s, zs, q, n, "192.0.2.1", true, a);
	assert_false(a->handled);
	assert_false(a->d.take);
	ask(s, zs, q, n, "10.1.1.1", true, a); /* this rule wants xfr.key */
	assert_false(a->handled);
	assert_false(a->d.take);
	assert_int_equal(pd_counter_get(&stats.xfr_out_refused), 2);
	pd_tsig_ctx_t ctx;
	size_t sn = sign(&ctx, &keys[0], q, n);
	ask(s, zs, q, sn, "10.1.1.1", true, a);
	assert_true(a->d.take);
	pd_tsig_ctx_clear(&ctx);
	sn = sign(&ctx, &keys[1], q, n); /* known, but not the rule's */
	ask(s, zs, q, sn, "10.1.1.1", true, a);
	assert_int_equal(a->r.rcode, PD_RCODE_REFUSED);
	size_t body;
	assert_int_equal(pd_tsig_verify(&ctx, a->out, a->d.out_len, (uint64_t)time(NULL), &body),
	                 0);
	pd_tsig_ctx_clear(&ctx);
	/* Over UDP: AXFR is the rules' NOTIMP, signed it is answered so here. */
	ask(s, zs, q, n, "127.0.0.1", false, a);
	assert_false(a->handled);
	sn = sign(&ctx, &keys[0], q, n);
	ask(s, zs, q, sn, "127.0.0.1", false, a);
	assert_int_equal(a->r.rcode, PD_RCODE_NOTIMP);
	assert_int_equal(pd_tsig_verify(&ctx, a->out, a->d.out_len, (uint64_t)time(NULL), &body),
	                 0);
	pd_tsig_ctx_clear(&ctx);
	n = make_query(q, "example.com", PD_TYPE_IXFR, 0, 3);
	ask(s, zs, q, n, "127.0.0.1", false, a);
	assert_int_equal(a->r.rcode, PD_RCODE_NOERROR);
	assert_true(a->r.flags & PD_FLAG_AA);
	assert_int_equal(a->r.an, 1);
	assert_int_equal(a->r.rr[0].type, PD_TYPE_SOA);
	assert_int_equal(pd_get_u32(a->r.rr[0].rdata + a->r.rr[0].rdlen - 20), 7);
	ask(s, zs, q, n, "127.0.0.1", true, a);
	assert_true(a->d.take);
	/* Not ours: the rules' REFUSED. */
	n = make_query(q, "example.net", PD_TYPE_AXFR, 0, 0);
	ask(s, zs, q, n, "127.0.0.1", true, a);
	assert_false(a->handled);
	n = make_query(q, "www.example.com", PD_TYPE_AXFR, 0, 0);
	ask(s, zs, q, n, "127.0.0.1", true, a);
	assert_false(a->handled);
	/* A signed ordinary query: the rules' answer, signed. */
	n = make_query(q, "www.example.com", PD_TYPE_A, 0, 0);
	sn = sign(&ctx, &keys[1], q, n);
	ask(s, zs, q, sn, "192.0.2.9", false, a);
	assert_true(a->handled);
	assert_int_equal(a->r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(a->r.an, 1);
	assert_int_equal(a->r.rr[0].type, PD_TYPE_A);
	assert_int_equal(pd_tsig_verify(&ctx, a->out, a->d.out_len, (uint64_t)time(NULL), &body),
	                 0);
	pd_tsig_ctx_clear(&ctx);
	free(a);
	pd_zoneset_free(zs);
	pd_xfr_serve_free(s);
}

/* Reads one framed message from fd into buf (5 s at most); its length, or 0 at EOF. */
static size_t read_msg(int fd, uint8_t *buf)
{
	size_t have = 0, want = 2;
	while (have < want) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&pfd, 1, 5000), 1);
		ssize_t got = read(fd, buf + have, want - have);
		assert_true(got >= 0);
		if (got == 0) {
			assert_int_equal(have, 0);
			return 0;
		}
		have += (size_t)got;
		if (have == 2 && want == 2)
			want = 2 + pd_get_u16(buf);
	}
	memmove(buf, buf + 2, want - 2);
	return want - 2;
}

/*
 * Takes the connection as the engine would (the query framed, and an answer owed
 * before it), on a socket pair: what comes out is the owed answer, then the transfer.
 * Returns the SOA serials of the records, in order, in serials (their count in *n) and
 * the records in all.
 */
static void transfer(pd_xfr_serve_t *s, const pd_zoneset_t *zs, const uint8_t *q, size_t len,
                     pd_tsig_ctx_t *tsig, uint32_t *serials, int *nserials, int *records)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	uint8_t framed[700];
	pd_put_u16(framed, (uint16_t)len);
	memcpy(framed + 2, q, len);
	static const uint8_t owed[] = {0, 3, 'o', 'w', 'e'};
	struct iovec iov = {.iov_base = (void *)owed, .iov_len = sizeof(owed)};
	pd_engine_conn_t conn = {
	    .fd = sv[0], .unread = framed, .unread_len = len + 2, .unsent = &iov, .nunsent = 1};
	struct sockaddr_in sa = peer_of("127.0.0.1");
	pd_xfr_serve_take(s, 0, zs, &conn, (const struct sockaddr *)&sa, sizeof(sa));
	uint8_t *buf = malloc(2 + PD_MSG_MAX);
	assert_int_equal(read_msg(sv[1], buf), 3);
	assert_memory_equal(buf, "owe", 3);
	*nserials = *records = 0;
	tu_resp_t *r = malloc(sizeof(*r));
	for (;;) {
		size_t n = read_msg(sv[1], buf);
		if (n == 0)
			break; /* our side shut down: the transfer is all sent */
		if (tsig) {
			size_t body;
			assert_int_equal(pd_tsig_verify(tsig, buf, n, (uint64_t)time(NULL), &body),
			                 0);
		}
		tu_parse(r, buf, n);
		assert_int_equal(r->rcode, PD_RCODE_NOERROR);
		assert_int_equal(r->id, pd_get_u16(q));
		for (int i = 0; i < r->nrr; i++) {
			if (r->rr[i].type == PD_TYPE_TSIG)
				continue;
			if (r->rr[i].type == PD_TYPE_SOA)
				serials[(*nserials)++] =
				    pd_get_u32(r->rr[i].rdata + r->rr[i].rdlen - 20);
			(*records)++;
		}
	}
	free(r);
	free(buf);
	close(sv[1]);
}

static void axfr_and_ixfr_out(void **state)
{
	(void)state;
	pd_xfr_serve_t *s = serve_new();
	pd_zone_t *v1 = zone_v(1, 0);
	pd_zoneset_t *old = set_of(v1);
	pd_zoneset_t *zs = NULL;
	pd_zone_t *v2 = zone_v(2, 1);
	assert_int_equal(pd_zoneset_replace(old, &v2, 1, &zs), 0);
	pd_xfr_serve_published(s, old, zs);
	pd_zoneset_release(old, zs);
	uint8_t q[600];
	uint32_t serials[16];
	int ns, nrec;
	/* AXFR: SOA, the 4 other records, SOA. */
	size_t n = make_query(q, "example.com", PD_TYPE_AXFR, 0, 0);
	transfer(s, zs, q, n, NULL, serials, &ns, &nrec);
	assert_int_equal(ns, 2);
	assert_int_equal(serials[0], 2);
	assert_int_equal(serials[1], 2);
	assert_int_equal(nrec, 6);
	/* IXFR from 1: new SOA, old SOA, (nothing removed), new SOA, the added record, new
	 * SOA. */
	n = make_query(q, "example.com", PD_TYPE_IXFR, 0, 1);
	transfer(s, zs, q, n, NULL, serials, &ns, &nrec);
	assert_int_equal(ns, 4);
	assert_int_equal(serials[0], 2);
	assert_int_equal(serials[1], 1);
	assert_int_equal(serials[2], 2);
	assert_int_equal(serials[3], 2);
	assert_int_equal(nrec, 5);
	/* From a serial the journal does not reach: AXFR form. Signed: every message too. */
	n = make_query(q, "example.com", PD_TYPE_IXFR, 0, 0);
	pd_tsig_ctx_t ctx;
	size_t sn = sign(&ctx, &keys[0], q, n);
	transfer(s, zs, q, sn, &ctx, serials, &ns, &nrec);
	pd_tsig_ctx_clear(&ctx);
	assert_int_equal(ns, 2);
	assert_int_equal(nrec, 6);
	/* The zone set may go while a transfer holds its zone; counters. */
	pd_xfr_serve_free(s);
	assert_int_equal(pd_counter_get(&stats.xfr_out_axfr), 1);
	assert_int_equal(pd_counter_get(&stats.xfr_out_ixfr), 2);
	assert_int_equal(pd_counter_get(&stats.xfr_out_failed), 0);
	pd_zoneset_free(zs);
}

/*
 * Clients that do not read: each transfer's thread gives up after xfr-timeout (counted
 * failed), and while 8 are under way a ninth transfer is answered SERVFAIL.
 */
static void stalled_readers_time_out_within_the_limit(void **state)
{
	(void)state;
	pd_xfr_serve_t *s = serve_new();
	pd_zoneset_t *zs = set_of(zone_v(3, 20000)); /* some 600 KB: more than a socket holds */
	uint8_t q[600];
	size_t n = make_query(q, "example.com", PD_TYPE_AXFR, 0, 0);
	uint8_t framed[700];
	pd_put_u16(framed, (uint16_t)n);
	memcpy(framed + 2, q, n);
	struct sockaddr_in sa = peer_of("127.0.0.1");
	int readers[8];
	for (int i = 0; i < 8; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		pd_engine_conn_t conn = {.fd = sv[0], .unread = framed, .unread_len = n + 2};
		pd_xfr_serve_take(s, 0, zs, &conn, (const struct sockaddr *)&sa, sizeof(sa));
		readers[i] = sv[1];
	}
	asked_t *a = malloc(sizeof(*a));
	ask(s, zs, q, n, "127.0.0.1", true, a);
	assert_true(a->handled);
	assert_false(a->d.take);
	assert_int_equal(a->r.rcode, PD_RCODE_SERVFAIL);
	free(a);
	/* conf.timeout_ms is 2 s: all eight fail within some seconds, none succeeds. */
	for (int waited = 0; pd_counter_get(&stats.xfr_out_failed) < 8 && waited < 100; waited++)
		usleep(100000);
	assert_int_equal(pd_counter_get(&stats.xfr_out_failed), 8);
	assert_int_equal(pd_counter_get(&stats.xfr_out_axfr), 0);
	for (int i = 0; i < 8; i++)
		close(readers[i]);
	pd_xfr_serve_free(s);
	pd_zoneset_free(zs);
}

/*
 * An IXFR query without the client's SOA in its authority section says nothing to
 * start from: FORMERR (as Knot answers it), over UDP and over TCP, signed when asked
 * signed. It used to be answered the SOA alone over UDP, and over TCP taken, for a
 * transfer that could not be made.
 */
static void ixfr_without_soa_is_formerr(void **state)
{
	(void)state;
	pd_xfr_serve_t *s = serve_new();
	pd_zoneset_t *zs = set_of(zone_v(7, 0));
	uint8_t q[600];
	asked_t *a = malloc(sizeof(*a));
	size_t n = tu_query(q, "example.com", PD_TYPE_IXFR, PD_CLASS_IN, 0, 0);
	for (int tcp = 0; tcp < 2; tcp++) {
		ask(s, zs, q, n, "127.0.0.1", tcp, a);
		assert_true(a->handled);
		assert_false(a->d.take);
		assert_int_equal(a->r.rcode, PD_RCODE_FORMERR);
		assert_int_equal(a->r.id, pd_get_u16(q));
		assert_int_equal(a->r.an, 0);
	}
	pd_tsig_ctx_t ctx;
	size_t sn = sign(&ctx, &keys[0], q, n);
	ask(s, zs, q, sn, "10.1.1.1", true, a);
	assert_false(a->d.take);
	assert_int_equal(a->r.rcode, PD_RCODE_FORMERR);
	size_t body;
	assert_int_equal(pd_tsig_verify(&ctx, a->out, a->d.out_len, (uint64_t)time(NULL), &body),
	                 0);
	pd_tsig_ctx_clear(&ctx);
	/* With its SOA the same query is the SOA alone over UDP, and taken over TCP. */
	n = make_query(q, "example.com", PD_TYPE_IXFR, 0, 3);
	ask(s, zs, q, n, "127.0.0.1", false, a);
	assert_int_equal(a->r.rcode, PD_RCODE_NOERROR);
	assert_int_equal(a->r.an, 1);
	ask(s, zs, q, n, "127.0.0.1", true, a);
	assert_true(a->d.take);
	free(a);
	pd_zoneset_free(zs);
	pd_xfr_serve_free(s);
}

/*
 * A zone published again under the same serial with other records (its file edited, the
 * serial left): the journal's diffs no longer lead to what is served, so it is cleared
 * and an IXFR from the old serial gets the AXFR form (the records served), not the diff
 * to a version that is gone. Once the serial moves on, a secondary at that serial may
 * hold either version of it: it gets the AXFR form too, never the diff from the version
 * it may not have (a Knot secondary missed records so); IXFR works again from the next.
 */
static void same_serial_clears_the_journal(void **state)
{
	(void)state;
	pd_xfr_serve_t *s = serve_new();
	pd_zoneset_t *zs = set_of(zone_v(1, 0)), *next = NULL;
	pd_zone_t *v[] = {zone_v(2, 1), zone_v(2, 3), zone_v(3, 3), zone_v(4, 4)};
	uint8_t q[600];
	uint32_t serials[16];
	int ns, nrec;
	size_t n = make_query(q, "example.com", PD_TYPE_IXFR, 0, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pd_zoneset_replace(zs, &v[i], 1, &next), 0);
		pd_xfr_serve_published(s, zs, next);
		pd_zoneset_release(zs, next);
		zs = next;
		if (i == 0) { /* 1 -> 2 journaled: the incremental form */
			transfer(s, zs, q, n, NULL, serials, &ns, &nrec);
			assert_int_equal(ns, 4);
		}
		if (i == 1) { /* 2 again, 2 more records: from 1, the whole zone */
			transfer(s, zs, q, n, NULL, serials, &ns, &nrec);
			assert_int_equal(ns, 2);
			assert_int_equal(nrec, 2 + 3 + 3);
		}
		if (i == 2) { /* 2 -> 3: from 2, whichever 2 it holds, the whole zone */
			n = make_query(q, "example.com", PD_TYPE_IXFR, 0, 2);
			transfer(s, zs, q, n, NULL, serials, &ns, &nrec);
			assert_int_equal(ns, 2);
			assert_int_equal(nrec, 2 + 3 + 3);
		}
	}
	/* 3 -> 4 journaled: from 3, the incremental form; from 2 and 1 still the AXFR one. */
	n = make_query(q, "example.com", PD_TYPE_IXFR, 0, 3);
	transfer(s, zs, q, n, NULL, serials, &ns, &nrec);
	assert_int_equal(ns, 4);
	for (uint32_t from = 1; from <= 2; from++) {
		n = make_query(q, "example.com", PD_TYPE_IXFR, 0, from);
		transfer(s, zs, q, n, NULL, serials, &ns, &nrec);
		assert_int_equal(ns, 2);
	}
	pd_xfr_serve_free(s);
	pd_zoneset_free(zs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(notify_for_secondaries),
	    cmocka_unit_test(transfers_are_refused_answered_or_taken),
	    cmocka_unit_test(axfr_and_ixfr_out),
	    cmocka_unit_test(stalled_readers_time_out_within_the_limit),
	    cmocka_unit_test(ixfr_without_soa_is_formerr),
	    cmocka_unit_test(same_serial_clears_the_journal),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
