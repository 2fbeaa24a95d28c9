/*
 * TSIG against real peers (tests/unit/core/tsig_interop.py): a server answering kdig and
 * dig with pd_tsig_check_request() and pd_tsig_sign(), and an AXFR client verifying Knot's
 * signed stream with pd_tsig_verify().
 *
 *   tsig_peer serve SKEW ALG:NAME:SECRET...   UDP and TCP on 127.0.0.1, the port printed;
 *       answers SOA over UDP, AXFR over TCP (SOA, 3 A, SOA: one message each), our clock
 *       SKEW seconds off; prints each check's result.
 *   tsig_peer axfr PORT ZONE ALG:NAME:SECRET  prints "verified N of M messages".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pindns/dns.h"
#include "pindns/query.h"
#include "pindns/tsig.h"

#define MSG_MAX 65535

static int parse_key(pd_tsig_key_t *k, char *spec)
{
	char err[160], *name = strchr(spec, ':'), *secret = name ? strchr(name + 1, ':') : NULL;
	if (!secret)
		return -1;
	*name++ = 0;
	*secret++ = 0;
	if (pd_tsig_key_parse(k, name, spec, secret, err, sizeof(err)) < 0) {
		fprintf(stderr, "tsig_peer: %s\n", err);
		return -1;
	}
	return 0;
}

/* The end of the question of a query (one, uncompressed); 0 when there is none. */
static size_t question_end(const uint8_t *q, size_t len)
{
	size_t p = 12;
	while (p < len && q[p])
		p += 1u + q[p];
	return p + 5 <= len && pd_get_u16(q + 4) == 1 ? p + 5 : 0;
}

/* Appends a record owned by the question's name (a pointer to it). */
static size_t put_rr(uint8_t *m, size_t len, uint16_t type, const uint8_t *rd, uint16_t rdlen)
{
	pd_put_u16(m + len, 0xC00C);
	pd_put_u16(m + len + 2, type);
	pd_put_u16(m + len + 4, PD_CLASS_IN);
	pd_put_u16(m + len + 6, 0);
	pd_put_u16(m + len + 8, 300);
	pd_put_u16(m + len + 10, rdlen);
	memcpy(m + len + 12, rd, rdlen);
	pd_put_u16(m + 6, (uint16_t)(pd_get_u16(m + 6) + 1));
	return len + 12 + rdlen;
}

static const uint8_t soa[] = "\002ns\007example\003com\000\001h\007example\003com\000"
                             "\000\000\000\001\000\000\016\020\000\000\007\010"
                             "\000\011\072\200\000\000\001\054";

/* The header and question of the answer to q, rcode rcode; returns its length. */
static size_t answer_head(uint8_t *m, const uint8_t *q, size_t qend, unsigned rcode)
{
	memcpy(m, q, qend);
	m[2] = (uint8_t)(0x84 | (q[2] & 0x79)); /* QR, AA; opcode and RD as asked */
	m[3] = (uint8_t)rcode;
	memset(m + 6, 0, 6);
	return qend;
}

/* Checks the request, answers (one message, or the AXFR's five), each signed. */
static void serve_one(int fd, bool tcp, const uint8_t *q, size_t len, const pd_tsig_key_t *keys,
                      size_t nkeys, long skew, const struct sockaddr *peer, socklen_t plen)
{
	static uint8_t m[MSG_MAX + 2];
	pd_query_t pq;
	pd_tsig_ctx_t ctx;
	uint64_t now = (uint64_t)((long)time(NULL) + skew);
	size_t qend = question_end(q, len);
	pd_query_parse(&pq, q, len);
	if (!qend || !pq.tsig_off) {
		printf("unsigned or bad query\n");
		fflush(stdout);
		return;
	}
	int ret = pd_tsig_check_request(&ctx, keys, nkeys, q, len, pq.tsig_off, now);
	printf("check %d\n", ret);
	fflush(stdout);
	bool axfr = tcp && ret == 0 && pd_get_u16(q + qend - 4) == PD_TYPE_AXFR;
	unsigned rcode = ret == 0 ? PD_RCODE_NOERROR : ret < 0 ? PD_RCODE_FORMERR : 9; /* NOTAUTH */
	for (unsigned i = 0; i < (axfr ? 5u : 1u); i++) {
		uint8_t *out = m + 2;
		size_t n = answer_head(out, q, qend, rcode);
		if (ret == 0 && (!axfr || i == 0 || i == 4))
			n = put_rr(out, n, PD_TYPE_SOA, soa, sizeof(soa) - 1);
		else if (ret == 0)
			n = put_rr(out, n, PD_TYPE_A, (const uint8_t[]){192, 0, 2, (uint8_t)i}, 4);
		n = pd_tsig_sign(&ctx, out, n, MSG_MAX, now);
		if (!n)
			abort();
		pd_put_u16(m, (uint16_t)n);
		if (tcp)
			(void)!write(fd, m, n + 2);
		else
			(void)!sendto(fd, out, n, 0, peer, plen);
	}
}

/* Reads a TCP message (2-byte length first) into m; returns its length, or -1. */
static long read_msg(int fd, uint8_t *m)
{
	uint8_t l[2];
	size_t got = 0, want = 2;
	uint8_t *dst = l;
	for (int part = 0; part < 2; part++) {
		while (got < want) {
			ssize_t r = read(fd, dst + got, want - got);
			if (r <= 0)
				return -1;
			got += (size_t)r;
		}
		dst = m;
		got = 0;
		want = pd_get_u16(l);
	}
	return (long)want;
}

static int serve(long skew, pd_tsig_key_t *keys, size_t nkeys)
{
	static uint8_t q[MSG_MAX];
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(u, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(u, (struct sockaddr *)&a, &alen) < 0 ||
	    bind(t, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(t, 4) < 0)
		return 1;
	printf("port %u\n", ntohs(a.sin_port));
	fflush(stdout);
	for (;;) {
		struct pollfd p[2] = {{.fd = u, .events = POLLIN}, {.fd = t, .events = POLLIN}};
		if (poll(p, 2, -1) < 0)
			return 1;
		if (p[0].revents) {
			struct sockaddr_storage peer;
			socklen_t plen = sizeof(peer);
			ssize_t n = recvfrom(u, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
			if (n > 0)
				serve_one(u, false, q, (size_t)n, keys, nkeys, skew, (void *)&peer,
				          plen);
		}
		if (p[1].revents) {
			int c = accept(t, NULL, NULL);
			long n = c < 0 ? -1 : read_msg(c, q);
			if (n > 0)
				serve_one(c, true, q, (size_t)n, keys, nkeys, skew, NULL, 0);
			if (c >= 0)
				close(c);
		}
	}
}

/* AXFR of zone from 127.0.0.1:port, each message verified; the last must be signed. */
static int axfr(int port, const char *zone, const pd_tsig_key_t *k)
{
	static uint8_t m[MSG_MAX + 2];
	pd_tsig_ctx_t ctx;
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return 1;
	uint8_t *q = m + 2;
	memset(q, 0, 12);
	pd_put_u16(q, 0x4242);
	pd_put_u16(q + 4, 1);
	int nlen = pd_name_from_str(q + 12, zone);
	size_t len = 12 + (size_t)nlen;
	pd_put_u16(q + len, PD_TYPE_AXFR);
	pd_put_u16(q + len + 2, PD_CLASS_IN);
	pd_tsig_ctx_init(&ctx, k);
	len = pd_tsig_sign(&ctx, q, len + 4, MSG_MAX, (uint64_t)time(NULL));
	pd_put_u16(m, (uint16_t)len);
	if (write(fd, m, len + 2) != (ssize_t)(len + 2))
		return 1;
	unsigned soas = 0, msgs = 0, verified = 0;
	int ret = 0;
	while (soas < 2) {
		long n = read_msg(fd, m);
		if (n < 0)
			break;
		size_t body;
		msgs++;
		ret = pd_tsig_verify(&ctx, m, (size_t)n, (uint64_t)time(NULL), &body);
		if (ret != 0 && ret != 1) {
			printf("message %u: verify %d\n", msgs, ret);
			break;
		}
		verified += ret == 0;
		/* The records' types, to find the closing SOA (Knot compresses owners). */
		pd_wire_t w;
		uint8_t name[PD_NAME_MAX];
		pd_wire_init(&w, m, body);
		pd_wire_skip(&w, 4);
		unsigned qd = pd_wire_u16(&w), an = pd_wire_u16(&w);
		pd_wire_skip(&w, 4);
		for (unsigned i = 0; i < qd; i++) {
			pd_name_parse(&w, name);
			pd_wire_skip(&w, 4);
		}
		for (unsigned i = 0; i < an && !w.err; i++) {
			pd_name_parse(&w, name);
			soas += pd_wire_u16(&w) == PD_TYPE_SOA;
			pd_wire_skip(&w, 6);
			pd_wire_skip(&w, pd_wire_u16(&w));
		}
	}
	pd_tsig_ctx_clear(&ctx);
	close(fd);
	printf("verified %u of %u messages, last %s\n", verified, msgs,
	       ret == 0 ? "signed" : "not verified");
	return !(soas == 2 && ret == 0);
}

int main(int argc, char **argv)
{
	pd_tsig_key_t keys[8];
	size_t nkeys = 0;
	signal(SIGPIPE, SIG_IGN); /* a peer that hangs up mid-AXFR (kdig failing to verify) */
	if (argc >= 4 && !strcmp(argv[1], "serve")) {
		for (int i = 3; i < argc && nkeys < 8; i++)
			if (parse_key(&keys[nkeys++], argv[i]) < 0)
				return 2;
		return serve(atol(argv[2]), keys, nkeys);
	}
	if (argc == 5 && !strcmp(argv[1], "axfr")) {
		if (parse_key(&keys[0], argv[4]) < 0)
			return 2;
		return axfr(atoi(argv[2]), argv[3], &keys[0]);
	}
	fprintf(stderr, "usage: tsig_peer serve SKEW KEY... | axfr PORT ZONE KEY\n");
	return 2;
}
