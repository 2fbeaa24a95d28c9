/* pindns-load: a load generator, closed-loop over UDP or TCP (it can saturate a DNS server's
 * core), or open-loop at a fixed rate over UDP (a flood, for rate limits). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pindns/listen.h"
#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/util.h"

#define PD_LOAD_BATCH 64
#define PD_LOAD_SOCKETS_MAX 256
#define PD_RATE_MAX 10000000 /* --rate: queries per second at most */
#define PD_LOAD_PIDS_MAX 32
#define PD_LOAD_SECONDS_MAX 3600
#define PD_LAT_BUCKETS 200000 /* 1 us each: up to 200 ms; later answers go in the last */
#define PD_LOAD_CONNS_MAX 4096
#define PD_LOAD_INFLIGHT_MAX 16384  /* per connection; twice as many slots: see pd__conn_t */
#define PD_TCP_RXBUF (2 * 65536)    /* the largest framed message, and as much again */
#define PD_TCP_RETRY_NS 10000000ull /* a failed connect is tried again 10 ms later */
#define PD_TCP_SCAN_NS 1000000ull   /* timeouts and retries are looked at every 1 ms */
#define PD_TCP_EVENTS 256

typedef struct pd__query {
	uint16_t len; /* its bytes follow the previous query's in the arena */
} pd__query_t;

typedef struct pd__sock {
	int fd;
	uint16_t next_id;
	uint32_t inflight;
	uint32_t ring_head, ring_tail; /* IDs in send order, for timeouts */
	uint16_t ring[65536];
	uint8_t live[65536];
	uint64_t sent_ns[65536];
} pd__sock_t;

typedef struct pd__stats {
	uint64_t sent, answered, lost, unexpected;
	uint64_t timeouts; /* TCP: of the lost, those that timed out (the rest died with their
	                    * connection); UDP loses only by timing out and leaves this 0 */
	uint64_t rcodes[16];
	uint64_t truncated;    /* answers with TC set: a resolver would ask again over TCP */
	uint64_t answer_bytes; /* of every answer, for the mean size */
	uint64_t lat[PD_LAT_BUCKETS];
} pd__stats_t;

/* Set by SIGINT or SIGTERM: stop sending, wait for what is in flight, report. */
static volatile sig_atomic_t pd__stop;

static void pd__on_stop(int sig)
{
	pd__stop = 1;
}

static uint64_t pd__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const struct {
	const char *name;
	uint16_t type;
} pd__types[] = {{"A", 1},       {"NS", 2},     {"CNAME", 5}, {"SOA", 6},    {"PTR", 12},
                 {"HINFO", 13},  {"MX", 15},    {"TXT", 16},  {"AAAA", 28},  {"SRV", 33},
                 {"NAPTR", 35},  {"DNAME", 39}, {"DS", 43},   {"RRSIG", 46}, {"NSEC", 47},
                 {"DNSKEY", 48}, {"TLSA", 52},  {"SVCB", 64}, {"HTTPS", 65}, {"CAA", 257},
                 {"ANY", 255}};

/* The type named s ("AAAA", "TYPE65280"): 0 to 65535, or -EINVAL. */
static int pd__parse_type(const char *s)
{
	for (size_t i = 0; i < sizeof(pd__types) / sizeof(*pd__types); i++)
		if (strcasecmp(s, pd__types[i].name) == 0)
			return pd__types[i].type;
	if (strncasecmp(s, "TYPE", 4) == 0 && isdigit((unsigned char)s[4])) {
		long v = strtol(s + 4, NULL, 10);
		if (v >= 0 && v <= 65535)
			return (int)v;
	}
	return -EINVAL;
}

/* The queries read so far: their wire forms one after another in the arena. */
typedef struct pd__queries {
	uint8_t *arena;
	size_t used, acap;
	pd__query_t *q;
	size_t n, cap;
} pd__queries_t;

/* Room for one more query of len bytes; 0 or -ENOMEM (what was there is kept). */
static int pd__queries_grow(pd__queries_t *qs, size_t len)
{
	if (qs->n == qs->cap) {
		size_t cap = qs->cap ? qs->cap * 2 : 1024;
		pd__query_t *q = realloc(qs->q, cap * sizeof(*q));
		if (!q)
			return -ENOMEM;
		qs->q = q;
		qs->cap = cap;
	}
	while (qs->used + len > qs->acap) {
		size_t acap = qs->acap ? qs->acap * 2 : 65536;
		uint8_t *arena = realloc(qs->arena, acap);
		if (!arena)
			return -ENOMEM;
		qs->arena = arena;
		qs->acap = acap;
	}
	return 0;
}

/* What every query's OPT says: its size (0: no OPT), DO, and a COOKIE option if any. */
typedef struct pd__edns {
	uint16_t size;
	bool dnssec;
	uint8_t cookie[40];
	size_t cookie_len; /* 0: none; else 8 to 40 bytes, client cookie first */
} pd__edns_t;

/*
 * Appends the query for name and type t (ID 0, RD clear, an OPT as e says unless its size
 * is 0).
 */
static int pd__queries_add(pd__queries_t *qs, const uint8_t *wire, int wl, int t,
                           const pd__edns_t *e)
{
	uint16_t edns = e->size;
	size_t opt = e->cookie_len ? 4 + e->cookie_len : 0;
	size_t len = 12 + (size_t)wl + 4 + (edns ? 11 + opt : 0);
	int ret = pd__queries_grow(qs, len);
	if (ret < 0)
		return ret;
	uint8_t *p = qs->arena + qs->used;
	memset(p, 0, 12);
	p[5] = 1;
	p[11] = edns ? 1 : 0;
	memcpy(p + 12, wire, (size_t)wl);
	pd_put_u16(p + 12 + wl, (uint16_t)t);
	pd_put_u16(p + 14 + wl, PD_CLASS_IN);
	if (edns) {
		uint8_t *o = p + 16 + wl;
		memset(o, 0, 11);
		pd_put_u16(o + 1, PD_TYPE_OPT);
		pd_put_u16(o + 3, edns);
		if (e->dnssec)
			o[7] = 0x80; /* DO: the top bit of the OPT TTL's flags (RFC 3225) */
		if (opt) {
			pd_put_u16(o + 9, (uint16_t)opt);
			pd_put_u16(o + 11, 10); /* COOKIE (RFC 7873) */
			pd_put_u16(o + 13, (uint16_t)e->cookie_len);
			memcpy(o + 15, e->cookie, e->cookie_len);
		}
	}
	qs->q[qs->n++].len = (uint16_t)len;
	qs->used += len;
	return 0;
}

/* --cookie: the option's bytes from hex; 8, or 16 to 40 of them. Returns 0 or -EINVAL. */
static int pd__cookie_parse(pd__edns_t *e, const char *hex)
{
	size_t n = strlen(hex) / 2;
	if (strlen(hex) % 2 || !(n == 8 || (n >= 16 && n <= sizeof(e->cookie))))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		if (!isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]) || sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		e->cookie[i] = (uint8_t)b;
	}
	e->cookie_len = n;
	return 0;
}

/* Reads "name TYPE" lines into wire-form queries. Returns 0, or -errno with why printed. */
static int pd__load_queries(const char *path, const pd__edns_t *edns, uint8_t **arena_out,
                            pd__query_t **q_out, size_t *n_out)
{
	pd__queries_t qs = {0};
	char line[1024];
	int lineno = 0, ret = 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		fprintf(stderr, "pindns-load: %s: %s\n", path, strerror(-ret));
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[512], type[64] = "A";
		uint8_t wire[PD_NAME_MAX];
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (sscanf(line, "%511s %63s", name, type) < 1)
			continue;
		int t = pd__parse_type(type);
		int wl = pd_name_from_str(wire, name);
		if (t < 0 || wl < 0) {
			fprintf(stderr, "pindns-load: %s:%d: bad %s '%s'\n", path, lineno,
			        t < 0 ? "type" : "name", t < 0 ? type : name);
			ret = -EINVAL;
			goto fail;
		}
		ret = pd__queries_add(&qs, wire, wl, t, edns);
		if (ret < 0) {
			fprintf(stderr, "pindns-load: too many queries or out of memory\n");
			goto fail;
		}
	}
	if (qs.n == 0) {
		fprintf(stderr, "pindns-load: %s has no queries\n", path);
		ret = -ENODATA;
		goto fail;
	}
	fclose(f);
	*arena_out = qs.arena;
	*q_out = qs.q;
	*n_out = qs.n;
	return 0;
fail:
	fclose(f);
	free(qs.arena);
	free(qs.q);
	return ret;
}

/* How the report names a header rcode: the unassigned ones together as OTHER. */
static const char *pd__rcode_label(int rcode)
{
	return rcode < PD_RCODE_NAMED ? pd_rcode_name((unsigned)rcode) : "OTHER";
}

static bool pd__is_loopback(const pd_listen_t *l)
{
	if (l->addr.ss_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)&l->addr)->sin_addr.s_addr);
		return (a >> 24) == 127;
	}
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&l->addr)->sin6_addr);
}

/* utime + stime of the given processes, in clock ticks; -1 (not measured, as the report
 * says: a count, not an error code) if one is gone. */
static long long pd__cpu_ticks(const int *pids, int npids)
{
	long long total = 0;
	for (int i = 0; i < npids; i++) {
		char path[64], buf[1024];
		snprintf(path, sizeof(path), "/proc/%d/stat", pids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			return -1;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		/* Fields after the command name, which may hold spaces: start after ')'. */
		char *p = strrchr(buf, ')');
		unsigned long long ut = 0, st = 0;
		if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		                 &ut, &st) != 2)
			return -1;
		total += (long long)(ut + st);
	}
	return total;
}

static double pd__percentile(const pd__stats_t *s, double pct)
{
	uint64_t total = 0, want, acc = 0;
	for (int i = 0; i < PD_LAT_BUCKETS; i++)
		total += s->lat[i];
	if (total == 0)
		return 0;
	want = (uint64_t)((double)total * pct / 100.0);
	if (want == 0)
		want = 1;
	for (int i = 0; i < PD_LAT_BUCKETS; i++) {
		acc += s->lat[i];
		if (acc >= want)
			return i;
	}
	return PD_LAT_BUCKETS;
}

/* One run's queries, limits and clock, and what it measured, whatever the transport. */
typedef struct pd__run {
	const uint8_t *arena;
	const pd__query_t *queries;
	const size_t *qoff;
	size_t nq, qnext; /* qnext: the query sent next, round robin over the file */
	const int *pids;
	int npids;
	double warmup, duration;
	uint64_t count, timeout_ns;
	pd__stats_t *st;
	uint64_t t_start, t_measure, t_end;
	bool measuring, sending;
	uint64_t measured_sent;
	uint64_t t_measured_start, t_measured_end, t_first_sent, t_last_sent;
	long long cpu0, cpu1;
	struct rusage ru0, ru1;
} pd__run_t;

/* Starts the clock: the warm-up, then the measured part. */
static void pd__run_begin(pd__run_t *r)
{
	r->t_start = pd__now_ns();
	r->t_measure = r->t_start + (uint64_t)(r->warmup * 1e9);
	r->t_end = r->t_measure + (uint64_t)(r->duration * 1e9);
	r->measuring = r->warmup == 0;
	r->sending = true;
	r->cpu0 = r->measuring ? pd__cpu_ticks(r->pids, r->npids) : 0;
	getrusage(RUSAGE_SELF, &r->ru0);
	r->t_measured_start = r->measuring ? r->t_start : 0;
}

/* Moves the run on at time now: from the warm-up to measuring, and from sending to waiting
 * for what is in flight (at the end, after --count queries, or on a signal). */
static void pd__run_phase(pd__run_t *r, uint64_t now)
{
	if (!r->measuring && now >= r->t_measure) {
		/* Warm-up over: forget it and start counting, also the server's CPU. */
		r->measuring = true;
		memset(r->st, 0, sizeof(*r->st));
		r->cpu0 = pd__cpu_ticks(r->pids, r->npids);
		getrusage(RUSAGE_SELF, &r->ru0);
		r->t_measured_start = now;
	}
	if (pd__stop && !r->measuring) {
		/* Stopped during the warm-up: report what was sent, CPU not measured. */
		r->measuring = true;
		r->t_measured_start = r->t_start;
		r->cpu0 = -1;
	}
	if (r->sending && r->measuring &&
	    (now >= r->t_end || (r->count && r->measured_sent >= r->count) || pd__stop)) {
		r->sending = false;
		r->t_measured_end = now;
		r->cpu1 = pd__cpu_ticks(r->pids, r->npids);
		getrusage(RUSAGE_SELF, &r->ru1);
	}
}

/* Counts n queries that went out at now. */
static void pd__run_sent(pd__run_t *r, uint64_t now, uint64_t n)
{
	r->st->sent += n;
	if (n > 0) {
		r->t_last_sent = now;
		if (!r->t_first_sent)
			r->t_first_sent = now;
	}
	if (r->measuring)
		r->measured_sent += n;
}

/* Counts the answer msg (len bytes, 12 at least) to a query sent at sent_ns. */
static void pd__run_answered(pd__stats_t *st, const uint8_t *msg, size_t len, uint64_t sent_ns,
                             uint64_t now)
{
	st->answered++;
	st->rcodes[msg[3] & 0xF]++;
	st->truncated += (msg[2] & 0x02) != 0;
	st->answer_bytes += len;
	uint64_t us = (now - sent_ns) / 1000;
	st->lat[us < PD_LAT_BUCKETS ? us : PD_LAT_BUCKETS - 1]++;
}

/* A UDP socket connected to target (its own source port), from the address src when
 * given. Returns the descriptor, or -1 with why printed. */
static int pd__udp_socket(const pd_listen_t *target, const pd_listen_t *src)
{
	int fd = socket(target->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int buf = 4 << 20;
	if (fd < 0 || (src && bind(fd, (const struct sockaddr *)&src->addr, src->addr_len) < 0) ||
	    connect(fd, (const struct sockaddr *)&target->addr, target->addr_len) < 0) {
		int err = errno;
		if (src)
			fprintf(stderr, "pindns-load: socket from %s to %s: %s\n", src->text,
			        target->text, strerror(err));
		else
			fprintf(stderr, "pindns-load: socket to %s: %s\n", target->text,
			        strerror(err));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	return fd;
}

/* UDP: nsock connected sockets (distinct source ports), window queries in flight over
 * them, busy-polled. Returns 0, or 1 with why printed. */
static int pd__run_udp(pd__run_t *r, const pd_listen_t *target, const pd_listen_t *src, int nsock,
                       int window)
{
	pd__sock_t *socks = calloc((size_t)nsock, sizeof(*socks));
	pd__stats_t *st = r->st;
	if (!socks) {
		fprintf(stderr, "pindns-load: out of memory\n");
		return 1;
	}
	for (int i = 0; i < nsock; i++) {
		int fd = pd__udp_socket(target, src);
		if (fd < 0)
			return 1;
		socks[i].fd = fd;
		socks[i].next_id = (uint16_t)(i * 7919);
	}
	int per_sock = window / nsock;

	static uint8_t txbuf[PD_LOAD_BATCH][512], rxbuf[PD_LOAD_BATCH][4096];
	struct mmsghdr tx[PD_LOAD_BATCH], rx[PD_LOAD_BATCH];
	struct iovec txv[PD_LOAD_BATCH], rxv[PD_LOAD_BATCH];
	memset(tx, 0, sizeof(tx));
	memset(rx, 0, sizeof(rx));
	for (int i = 0; i < PD_LOAD_BATCH; i++) {
		txv[i].iov_base = txbuf[i];
		tx[i].msg_hdr.msg_iov = &txv[i];
		tx[i].msg_hdr.msg_iovlen = 1;
		rxv[i].iov_base = rxbuf[i];
		rxv[i].iov_len = sizeof(rxbuf[i]);
		rx[i].msg_hdr.msg_iov = &rxv[i];
		rx[i].msg_hdr.msg_iovlen = 1;
	}

	pd__run_begin(r);
	for (;;) {
		uint64_t now = pd__now_ns();
		pd__run_phase(r, now);
		uint32_t inflight = 0;
		for (int s = 0; s < nsock; s++) {
			pd__sock_t *k = &socks[s];
			int got = recvmmsg(k->fd, rx, PD_LOAD_BATCH, MSG_DONTWAIT, NULL);
			if (got > 0)
				now = pd__now_ns();
			for (int i = 0; i < got; i++) {
				const uint8_t *m = rxbuf[i];
				if (rx[i].msg_len < 12) {
					st->unexpected++;
					continue;
				}
				uint16_t id = pd_get_u16(m);
				if (!k->live[id]) {
					st->unexpected++; /* late, after we counted it lost */
					continue;
				}
				k->live[id] = 0;
				k->inflight--;
				pd__run_answered(st, m, rx[i].msg_len, k->sent_ns[id], now);
			}
			/* Timeouts, oldest first. */
			while (k->ring_head != k->ring_tail) {
				uint16_t id = k->ring[k->ring_head & 0xFFFF];
				if (k->live[id] && now - k->sent_ns[id] < r->timeout_ns)
					break;
				if (k->live[id]) {
					k->live[id] = 0;
					k->inflight--;
					st->lost++;
				}
				k->ring_head++;
			}
			int room = r->sending ? per_sock - (int)k->inflight : 0;
			while (room > 0) {
				int b = room < PD_LOAD_BATCH ? room : PD_LOAD_BATCH;
				int nb = 0;
				for (; nb < b; nb++) {
					uint16_t id = k->next_id;
					if (k->live[id])
						break; /* ID space wrapped onto a live query: wait
						        */
					const pd__query_t *q = &r->queries[r->qnext];
					memcpy(txbuf[nb], r->arena + r->qoff[r->qnext], q->len);
					pd_put_u16(txbuf[nb], id);
					txv[nb].iov_len = q->len;
					r->qnext = r->qnext + 1 == r->nq ? 0 : r->qnext + 1;
					k->next_id++;
					k->live[id] = 1;
					k->sent_ns[id] = now;
					k->ring[k->ring_tail & 0xFFFF] = id;
					k->ring_tail++;
				}
				if (nb == 0)
					break;
				int sent = sendmmsg(k->fd, tx, (unsigned)nb, 0);
				if (sent < 0)
					sent = 0;
				/* Unsent ones were never on the wire: take them back. */
				for (int i = sent; i < nb; i++) {
					k->next_id--;
					k->ring_tail--;
					k->live[k->ring[k->ring_tail & 0xFFFF]] = 0;
					r->qnext = r->qnext == 0 ? r->nq - 1 : r->qnext - 1;
				}
				k->inflight += (uint32_t)sent;
				pd__run_sent(r, now, (uint64_t)sent);
				room -= nb;
				if (sent < nb)
					break;
			}
			inflight += k->inflight;
		}
		if (!r->sending && (inflight == 0 || now - r->t_measured_end > r->timeout_ns))
			break;
	}
	/* Whatever is still out after the timeout is lost. */
	for (int s = 0; s < nsock; s++)
		for (uint32_t h = socks[s].ring_head; h != socks[s].ring_tail; h++)
			if (socks[s].live[socks[s].ring[h & 0xFFFF]]) {
				socks[s].live[socks[s].ring[h & 0xFFFF]] = 0;
				st->lost++;
			}
	for (int i = 0; i < nsock; i++)
		close(socks[i].fd);
	free(socks);
	return 0;
}

/* What only an open-loop run (--rate) reports. */
typedef struct pd__open_counts {
	double rate;      /* queries per second asked for */
	uint64_t skipped; /* due but never sent: the sender fell behind (see pd__run_udp_rate) */
} pd__open_counts_t;

/* Open loop: a query that went out in the warm-up (live[] = PD__LIVE_WARM) is neither
 * counted as answered nor as lost, so that the measured part adds up: every query sent in
 * it is answered or lost. The closed loop marks all of them PD__LIVE. */
enum { PD__LIVE = 1, PD__LIVE_WARM = 2 };

#define PD_RATE_BATCH 16               /* queries in one sendmmsg() to one socket at most */
#define PD_RATE_BACKLOG_NS 50000000ull /* due queries older than this are given up */

/* Reads what socket k has: answers counted, late or unknown ones as unexpected. */
static void pd__rate_receive(pd__run_t *r, pd__sock_t *k, struct mmsghdr *rx,
                             uint8_t (*rxbuf)[4096])
{
	for (;;) {
		int got = recvmmsg(k->fd, rx, PD_LOAD_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;
		uint64_t now = pd__now_ns();
		for (int i = 0; i < got; i++) {
			const uint8_t *m = rxbuf[i];
			uint16_t id;
			if (rx[i].msg_len < 12 || !k->live[id = pd_get_u16(m)]) {
				r->st->unexpected++;
				continue;
			}
			if (k->live[id] == PD__LIVE)
				pd__run_answered(r->st, m, rx[i].msg_len, k->sent_ns[id], now);
			k->live[id] = 0;
			k->inflight--;
		}
		if (got < PD_LOAD_BATCH)
			return;
	}
}

/* Counts as lost what socket k has had out longer than the timeout, oldest first. */
static void pd__rate_expire(pd__run_t *r, pd__sock_t *k, uint64_t now, bool all)
{
	while (k->ring_head != k->ring_tail) {
		uint16_t id = k->ring[k->ring_head & 0xFFFF];
		if (k->live[id] && !all && now - k->sent_ns[id] < r->timeout_ns)
			break;
		if (k->live[id]) {
			r->st->lost += k->live[id] == PD__LIVE;
			k->live[id] = 0;
			k->inflight--;
		}
		k->ring_head++;
	}
}

/* Sends up to n queries on k in one sendmmsg(); returns how many went out. */
static int pd__rate_send(pd__run_t *r, pd__sock_t *k, int n, uint64_t now, struct mmsghdr *tx,
                         struct iovec *txv, uint8_t (*txbuf)[512])
{
	int nb = 0;
	for (; nb < n; nb++) {
		uint16_t id = (uint16_t)(k->next_id + nb);
		if (k->live[id])
			break; /* the ID space wrapped onto one still out: this socket is full */
		const pd__query_t *q = &r->queries[r->qnext];
		memcpy(txbuf[nb], r->arena + r->qoff[r->qnext], q->len);
		pd_put_u16(txbuf[nb], id);
		txv[nb].iov_len = q->len;
		r->qnext = r->qnext + 1 == r->nq ? 0 : r->qnext + 1;
	}
	int sent = nb ? sendmmsg(k->fd, tx, (unsigned)nb, 0) : 0;
	if (sent < 0)
		sent = 0;
	/* Unsent ones were never on the wire: their queries go out next time. */
	for (int i = sent; i < nb; i++)
		r->qnext = r->qnext == 0 ? r->nq - 1 : r->qnext - 1;
	for (int i = 0; i < sent; i++) {
		uint16_t id = k->next_id++;
		k->live[id] = r->measuring ? PD__LIVE : PD__LIVE_WARM;
		k->sent_ns[id] = now;
		k->ring[k->ring_tail++ & 0xFFFF] = id;
	}
	k->inflight += (uint32_t)sent;
	pd__run_sent(r, now, (uint64_t)sent);
	return sent;
}

/*
 * UDP, open loop: queries go out at rate per second, whatever comes back, over nsock
 * connected sockets in turn (distinct source ports, from src when given), each turn a
 * sendmmsg() of up to PD_RATE_BATCH; between turns the sockets are polled until the next
 * one is due. What the sender cannot send on time (a full socket buffer, all 65536 IDs of
 * a socket out) stays due for PD_RATE_BACKLOG_NS, then is given up and counted skipped, so
 * a slow moment does not turn into a burst later. Returns 0, or 1 with why printed.
 */
static int pd__run_udp_rate(pd__run_t *r, const pd_listen_t *target, const pd_listen_t *src,
                            int nsock, double rate, pd__open_counts_t *oc)
{
	pd__sock_t *socks = calloc((size_t)nsock, sizeof(*socks));
	struct pollfd *pfd = calloc((size_t)nsock, sizeof(*pfd));
	int ret = 1, opened = 0;
	if (!socks || !pfd) {
		fprintf(stderr, "pindns-load: out of memory\n");
		goto done;
	}
	for (; opened < nsock; opened++) {
		int fd = pd__udp_socket(target, src);
		if (fd < 0)
			goto done;
		socks[opened].fd = pfd[opened].fd = fd;
		socks[opened].next_id = (uint16_t)(opened * 7919);
		pfd[opened].events = POLLIN;
	}

	static uint8_t txbuf[PD_RATE_BATCH][512], rxbuf[PD_LOAD_BATCH][4096];
	struct mmsghdr tx[PD_RATE_BATCH], rx[PD_LOAD_BATCH];
	struct iovec txv[PD_RATE_BATCH], rxv[PD_LOAD_BATCH];
	memset(tx, 0, sizeof(tx));
	memset(rx, 0, sizeof(rx));
	for (int i = 0; i < PD_RATE_BATCH; i++) {
		txv[i].iov_base = txbuf[i];
		tx[i].msg_hdr.msg_iov = &txv[i];
		tx[i].msg_hdr.msg_iovlen = 1;
	}
	for (int i = 0; i < PD_LOAD_BATCH; i++) {
		rxv[i].iov_base = rxbuf[i];
		rxv[i].iov_len = sizeof(rxbuf[i]);
		rx[i].msg_hdr.msg_iov = &rxv[i];
		rx[i].msg_hdr.msg_iovlen = 1;
	}
	/* At low rates one query a turn, so that they spread over the ports; at high rates
	 * a batch a turn, so that each system call carries several. */
	int batch = rate >= 16000 ? PD_RATE_BATCH : rate >= 1000 ? (int)(rate / 1000) : 1;
	uint64_t issued = 0; /* queries due so far: sent, or skipped */
	int turn = 0;
	/* Sleeps between turns are short (320 us at 50k QPS): the default 50 us of timer
	 * slack would add a sixth to each, and the batches would go out in bunches. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	pd__run_begin(r);
	for (;;) {
		uint64_t now = pd__now_ns();
		pd__run_phase(r, now);
		uint64_t inflight = 0;
		for (int s = 0; s < nsock; s++) {
			if (pfd[s].revents & POLLIN)
				pd__rate_receive(r, &socks[s], rx, rxbuf);
			pd__rate_expire(r, &socks[s], now, false);
			inflight += socks[s].inflight;
		}
		if (!r->sending && (inflight == 0 || now - r->t_measured_end > r->timeout_ns))
			break;
		uint64_t wait_ns = PD_TCP_SCAN_NS;
		if (r->sending) {
			/* Query k (from 0) is due k / rate s in; those due more than the backlog
			 * ago are given up. due and stale count queries from the first. */
			uint64_t el = now - r->t_start;
			uint64_t due = (uint64_t)((double)el * rate / 1e9) + 1;
			uint64_t stale =
			    el >= PD_RATE_BACKLOG_NS
			        ? (uint64_t)((double)(el - PD_RATE_BACKLOG_NS) * rate / 1e9) + 1
			        : 0;
			if (issued < stale) {
				if (r->measuring)
					oc->skipped += stale - issued;
				issued = stale;
			}
			/* Sockets in turn until nothing is due or a whole round sent nothing. */
			for (int idle = 0; issued < due && idle < nsock;
			     turn = (turn + 1) % nsock) {
				uint64_t want = due - issued;
				int sent = pd__rate_send(r, &socks[turn],
				                         want < (uint64_t)batch ? (int)want : batch,
				                         now, tx, txv, txbuf);
				issued += (uint64_t)sent;
				idle = sent ? 0 : idle + 1;
			}
			/* Until the next turn's queries are due (now, if the sender is behind). */
			double next = (double)(issued + (uint64_t)batch - 1) * 1e9 / rate;
			double in = next - (double)(pd__now_ns() - r->t_start);
			wait_ns = in <= 0 ? 0 : in < (double)wait_ns ? (uint64_t)in : wait_ns;
		}
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait_ns};
		/* A signal (EINTR) leaves revents as they were: at worst a read finds nothing. */
		if (ppoll(pfd, (nfds_t)nsock, &ts, NULL) < 0 && errno != EINTR) {
			fprintf(stderr, "pindns-load: ppoll: %s\n", strerror(errno));
			goto done;
		}
	}
	/* Whatever is still out after the timeout is lost. */
	for (int s = 0; s < nsock; s++)
		pd__rate_expire(r, &socks[s], 0, true);
	ret = 0;
done:
	for (int i = 0; i < opened; i++)
		close(socks[i].fd);
	free(socks);
	free(pfd);
	return ret;
}

/* How a TCP run loads the server. */
typedef struct pd__tcp_shape {
	int connections, inflight; /* inflight: queries pipelined on each connection */
	uint64_t conn_queries;     /* answers after which a connection is closed; 0: never */
	int sources;               /* IPv4 source addresses to connect from, 127.0.0.1 on */
} pd__tcp_shape_t;

/* What only TCP reports: connection counts over the whole run, warm-up included (a
 * connection is opened once and then lasts), and the longest wait between answers. */
typedef struct pd__tcp_counts {
	uint64_t connects;       /* connections established */
	uint64_t connect_errors; /* refused, failed or timed out before they were established */
	uint64_t server_closes;  /* closed by the server (end of stream) */
	uint64_t resets;         /* reset, or another error, once established */
	uint64_t client_closes;  /* closed by us after --conn-queries answers */
	uint64_t max_gap_ns;     /* measured part: the longest time without an answer */
} pd__tcp_counts_t;

/* A query in flight on a TCP connection, found by its ID: slot[id & mask]. */
typedef struct pd__slot {
	uint64_t sent_ns;
	uint16_t id;
	bool live;
} pd__slot_t;

enum pd__conn_state { PD__CONN_DOWN, PD__CONN_CONNECTING, PD__CONN_OPEN };

/*
 * One TCP connection. IDs go out in order, so those still in flight lie in head..next_id-1
 * (oldest first, for timeouts). With at least twice as many slots as queries in flight, the
 * next ID's slot is free unless it holds the oldest query, which its answer or its timeout
 * frees, and head never falls more than the slots behind: IDs cannot wrap onto a live one.
 */
typedef struct pd__conn {
	int fd;
	enum pd__conn_state state;
	uint32_t gen; /* bumped per socket, so that an event for a closed one is seen as stale */
	uint16_t next_id, head;
	uint32_t inflight;
	uint64_t on_conn;  /* queries sent on this socket, for --conn-queries */
	uint64_t since_ns; /* CONNECTING: when connect() was called; DOWN: when to try again */
	bool pollout;      /* out holds bytes the socket did not take yet; EPOLLOUT is asked for */
	uint8_t *out, *in;
	size_t out_len, out_off, in_len;
	pd__slot_t *slot;
} pd__conn_t;

typedef struct pd__tcp {
	pd__run_t *run;
	const pd_listen_t *target;
	int ep;
	int nconn;
	uint32_t window; /* queries in flight per connection */
	uint32_t mask;   /* slots per connection, less 1 */
	uint64_t conn_queries;
	int sources; /* IPv4: connect from 127.0.0.1 to 127.0.0.<sources>, in turn */
	uint32_t next_source;
	uint64_t inflight; /* over all connections */
	uint64_t last_answer_ns;
	pd__conn_t *conns;
	pd__tcp_counts_t *n;
} pd__tcp_t;

static int pd__tcp_watch(pd__tcp_t *t, pd__conn_t *c, int op, uint32_t events)
{
	struct epoll_event ev = {.events = events};
	ev.data.u64 = (uint64_t)c->gen << 32 | (uint32_t)(c - t->conns);
	return epoll_ctl(t->ep, op, c->fd, &ev);
}

static void pd__tcp_open(pd__tcp_t *t, pd__conn_t *c, uint64_t now);

/* Closes c: what it had in flight is lost, since no answer comes on another connection.
 * Opened again after delay_ns (at once for 0) if the run is still sending. */
static void pd__tcp_close(pd__tcp_t *t, pd__conn_t *c, uint64_t now, uint64_t delay_ns)
{
	for (uint16_t id = c->head; id != c->next_id; id++)
		c->slot[id & t->mask].live = false;
	t->run->st->lost += c->inflight;
	t->inflight -= c->inflight;
	c->inflight = 0;
	c->head = c->next_id;
	c->in_len = c->out_len = c->out_off = 0;
	c->pollout = false;
	close(c->fd); /* which also takes it out of the epoll set */
	c->fd = -1;
	c->state = PD__CONN_DOWN;
	c->since_ns = now + delay_ns;
	if (delay_ns == 0 && t->run->sending)
		pd__tcp_open(t, c, now);
}

static void pd__tcp_open(pd__tcp_t *t, pd__conn_t *c, uint64_t now)
{
	const pd_listen_t *target = t->target;
	int one = 1;
	c->fd = socket(target->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		t->n->connect_errors++;
		c->since_ns = now + PD_TCP_RETRY_NS;
		return;
	}
	/* A query goes out when it is written, not once the previous segment is acked. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/*
	 * We close first, so each connection we close leaves its port in TIME_WAIT for a
	 * minute, reusable (tcp_tw_reuse) only after a second: at thousands of connections a
	 * second, connect() spends most of its time looking for a free port. Each source
	 * address has ports of its own; the port is still picked by connect()
	 * (IP_BIND_ADDRESS_NO_PORT), which knows the server's address and port.
	 */
	if (target->addr.ss_family == AF_INET && t->sources > 1) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7F000001u + t->next_source++ % (uint32_t)t->sources);
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (const struct sockaddr *)&src, sizeof(src)) < 0) {
			t->n->connect_errors++;
			pd__tcp_close(t, c, now, PD_TCP_RETRY_NS);
			return;
		}
	}
	c->gen++;
	c->on_conn = 0;
	c->since_ns = now;
	c->state = PD__CONN_CONNECTING;
	/* Writable once connected or failed (also at once if connect() completed here). */
	if ((connect(c->fd, (const struct sockaddr *)&target->addr, target->addr_len) < 0 &&
	     errno != EINPROGRESS) ||
	    pd__tcp_watch(t, c, EPOLL_CTL_ADD, EPOLLOUT) < 0) {
		t->n->connect_errors++;
		pd__tcp_close(t, c, now, PD_TCP_RETRY_NS);
	}
}

/* Sends what out holds; what the socket does not take waits for EPOLLOUT. Returns 0, or
 * -1 when the connection failed and was closed. */
static int pd__tcp_flush(pd__tcp_t *t, pd__conn_t *c, uint64_t now)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w > 0) {
			c->out_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		/* Full: no more queries on c until EPOLLOUT says the rest went (pollout). */
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    (c->pollout || pd__tcp_watch(t, c, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT) == 0)) {
			c->pollout = true;
			return 0;
		}
		goto fail;
	}
	c->out_off = c->out_len = 0;
	if (c->pollout && pd__tcp_watch(t, c, EPOLL_CTL_MOD, EPOLLIN) < 0)
		goto fail;
	c->pollout = false;
	return 0;
fail:
	t->n->resets++;
	pd__tcp_close(t, c, now, 0);
	return -1;
}

/* Counts the queries of c that waited longer than the timeout as lost, oldest first. */
static void pd__tcp_expire(pd__tcp_t *t, pd__conn_t *c, uint64_t now)
{
	pd__stats_t *st = t->run->st;
	while (c->head != c->next_id) {
		pd__slot_t *s = &c->slot[c->head & t->mask];
		if (s->live && s->id == c->head) {
			if (now - s->sent_ns < t->run->timeout_ns)
				break;
			s->live = false;
			c->inflight--;
			t->inflight--;
			st->lost++;
			st->timeouts++;
		}
		c->head++;
	}
}

/* Keeps c busy: up to the window in flight, pipelined in one write; after --conn-queries
 * answers, closes it and opens another. */
static void pd__tcp_tend(pd__tcp_t *t, pd__conn_t *c, uint64_t now)
{
	pd__run_t *r = t->run;
	if (c->state != PD__CONN_OPEN)
		return;
	if (t->conn_queries && c->on_conn >= t->conn_queries && c->inflight == 0) {
		t->n->client_closes++;
		pd__tcp_close(t, c, now, 0);
		return;
	}
	if (c->pollout || !r->sending)
		return;
	pd__tcp_expire(t, c, now);
	uint64_t room = t->window - c->inflight;
	if (t->conn_queries && room > t->conn_queries - c->on_conn)
		room = t->conn_queries - c->on_conn;
	uint32_t n = 0;
	for (; n < room; n++) {
		uint16_t id = c->next_id;
		pd__slot_t *s = &c->slot[id & t->mask];
		if (s->live)
			break; /* the oldest query is still out: its answer or timeout frees it */
		const pd__query_t *q = &r->queries[r->qnext];
		uint8_t *p = c->out + c->out_len;
		pd_put_u16(p, q->len);
		memcpy(p + 2, r->arena + r->qoff[r->qnext], q->len);
		pd_put_u16(p + 2, id);
		c->out_len += 2 + (size_t)q->len;
		r->qnext = r->qnext + 1 == r->nq ? 0 : r->qnext + 1;
		c->next_id++;
		s->id = id;
		s->live = true;
		s->sent_ns = now;
	}
	if (n == 0)
		return;
	/* Counted as sent once written to out: a connection that fails before the bytes go
	 * out loses them as it loses the others in flight. */
	c->inflight += n;
	c->on_conn += n;
	t->inflight += n;
	pd__run_sent(r, now, n);
	pd__tcp_flush(t, c, now);
}

/* c's connect() finished: established, or failed (tried again after a pause). */
static void pd__tcp_connected(pd__tcp_t *t, pd__conn_t *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err || pd__tcp_watch(t, c, EPOLL_CTL_MOD, EPOLLIN) < 0) {
		t->n->connect_errors++;
		pd__tcp_close(t, c, now, PD_TCP_RETRY_NS);
		return;
	}
	c->state = PD__CONN_OPEN;
	t->n->connects++;
	pd__tcp_tend(t, c, now);
}

/* Matches one framed answer to its query by ID. */
static void pd__tcp_answer(pd__tcp_t *t, pd__conn_t *c, const uint8_t *msg, size_t len,
                           uint64_t now)
{
	pd__stats_t *st = t->run->st;
	if (len < 12) {
		st->unexpected++;
		return;
	}
	uint16_t id = pd_get_u16(msg);
	pd__slot_t *s = &c->slot[id & t->mask];
	if (!s->live || s->id != id) {
		st->unexpected++; /* late, after we counted it lost, or never asked */
		return;
	}
	s->live = false;
	c->inflight--;
	t->inflight--;
	pd__run_answered(st, msg, len, s->sent_ns, now);
	if (now - t->last_answer_ns > t->n->max_gap_ns && t->run->measuring)
		t->n->max_gap_ns = now - t->last_answer_ns;
	t->last_answer_ns = now;
}

/* Reads what c has and answers each whole message in it; the end of the stream or an error
 * closes c and opens another. */
static void pd__tcp_read(pd__tcp_t *t, pd__conn_t *c)
{
	ssize_t got = recv(c->fd, c->in + c->in_len, PD_TCP_RXBUF - c->in_len, 0);
	uint64_t now = pd__now_ns();
	if (got == 0) {
		t->n->server_closes++;
		pd__tcp_close(t, c, now, 0);
		return;
	}
	if (got < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		t->n->resets++;
		pd__tcp_close(t, c, now, 0);
		return;
	}
	c->in_len += (size_t)got;
	size_t p = 0;
	while (c->in_len - p >= 2) {
		size_t len = pd_get_u16(c->in + p);
		if (c->in_len - p - 2 < len)
			break;
		pd__tcp_answer(t, c, c->in + p + 2, len, now);
		p += 2 + len;
	}
	if (p) {
		memmove(c->in, c->in + p, c->in_len - p);
		c->in_len -= p;
	}
	pd__tcp_tend(t, c, now);
}

/* Once a millisecond: timeouts of queries and of connects, and connects to try again. */
static void pd__tcp_scan(pd__tcp_t *t, uint64_t now)
{
	for (int i = 0; i < t->nconn; i++) {
		pd__conn_t *c = &t->conns[i];
		switch (c->state) {
		case PD__CONN_DOWN:
			if (t->run->sending && now >= c->since_ns)
				pd__tcp_open(t, c, now);
			break;
		case PD__CONN_CONNECTING:
			if (now - c->since_ns >= t->run->timeout_ns) {
				t->n->connect_errors++;
				pd__tcp_close(t, c, now, PD_TCP_RETRY_NS);
			}
			break;
		case PD__CONN_OPEN:
			pd__tcp_expire(t, c, now);
			pd__tcp_tend(t, c, now);
			break;
		}
	}
}

/*
 * TCP (RFC 7766): nconn connections, window queries pipelined on each, each answer (in any
 * order, matched by ID) letting the next query go; a connection the server closes is opened
 * again. One epoll set, busy-polled as the UDP sockets are: a blocked client would add a
 * wake-up to every round trip. Returns 0, or 1 with why printed.
 */
static int pd__run_tcp(pd__run_t *r, const pd_listen_t *target, const pd__tcp_shape_t *shape,
                       pd__tcp_counts_t *counts)
{
	int nconn = shape->connections, window = shape->inflight;
	pd__tcp_t t = {.run = r,
	               .target = target,
	               .nconn = nconn,
	               .window = (uint32_t)window,
	               .conn_queries = shape->conn_queries,
	               .sources = shape->sources,
	               .n = counts};
	uint32_t slots = 2;
	while (slots < 2 * (uint32_t)window)
		slots <<= 1;
	t.mask = slots - 1;
	size_t qmax = 0;
	for (size_t i = 0; i < r->nq; i++)
		if (r->queries[i].len > qmax)
			qmax = r->queries[i].len;
	t.ep = epoll_create1(EPOLL_CLOEXEC);
	t.conns = calloc((size_t)nconn, sizeof(*t.conns));
	if (t.ep < 0 || !t.conns) {
		fprintf(stderr, "pindns-load: %s\n", t.ep < 0 ? strerror(errno) : "out of memory");
		return 1;
	}
	for (int i = 0; i < nconn; i++) {
		pd__conn_t *c = &t.conns[i];
		c->fd = -1;
		c->next_id = c->head = (uint16_t)(i * 7919);
		c->out = malloc((size_t)window * (2 + qmax));
		c->in = malloc(PD_TCP_RXBUF);
		c->slot = calloc(slots, sizeof(*c->slot));
		if (!c->out || !c->in || !c->slot) {
			fprintf(stderr, "pindns-load: out of memory\n");
			return 1;
		}
	}

	struct epoll_event ev[PD_TCP_EVENTS];
	pd__run_begin(r);
	t.last_answer_ns = r->t_start;
	for (int i = 0; i < nconn; i++)
		pd__tcp_open(&t, &t.conns[i], r->t_start);
	uint64_t last_scan = r->t_start;
	for (;;) {
		uint64_t now = pd__now_ns();
		bool warm = !r->measuring;
		pd__run_phase(r, now);
		if (warm && r->measuring && r->t_measured_start != r->t_start) {
			t.last_answer_ns = now; /* gaps count from the start of the measured part */
			counts->max_gap_ns = 0;
		}
		int got = epoll_wait(t.ep, ev, PD_TCP_EVENTS, 0);
		for (int i = 0; i < got; i++) {
			pd__conn_t *c = &t.conns[(uint32_t)ev[i].data.u64];
			if (c->fd < 0 || c->gen != (uint32_t)(ev[i].data.u64 >> 32))
				continue; /* closed, maybe opened again, since this was reported */
			if (c->state == PD__CONN_CONNECTING) {
				pd__tcp_connected(&t, c, pd__now_ns());
				continue;
			}
			if ((ev[i].events & EPOLLOUT) && pd__tcp_flush(&t, c, pd__now_ns()) < 0)
				continue;
			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				pd__tcp_read(&t, c);
			else
				pd__tcp_tend(&t, c, pd__now_ns());
		}
		if (got > 0)
			now = pd__now_ns();
		if (now - last_scan >= PD_TCP_SCAN_NS) {
			last_scan = now;
			pd__tcp_scan(&t, now);
		}
		if (!r->sending && (t.inflight == 0 || now - r->t_measured_end > r->timeout_ns))
			break;
	}
	/* Answers stopped coming before the end: that wait is a gap too. */
	if (r->t_measured_end > t.last_answer_ns &&
	    r->t_measured_end - t.last_answer_ns > counts->max_gap_ns)
		counts->max_gap_ns = r->t_measured_end - t.last_answer_ns;
	for (int i = 0; i < nconn; i++) {
		pd__conn_t *c = &t.conns[i];
		/* Whatever is still out after the timeout is lost. */
		r->st->lost += c->inflight;
		r->st->timeouts += c->inflight;
		if (c->fd >= 0)
			close(c->fd);
		free(c->out);
		free(c->in);
		free(c->slot);
	}
	free(t.conns);
	close(t.ep);
	return 0;
}

/* The report, a table or one JSON line; tcp is NULL for a UDP run, ol NULL unless it was
 * open-loop (--rate). */
static void pd__report(const pd__run_t *r, const pd_listen_t *target, bool json,
                       const pd__tcp_shape_t *shape, const pd__tcp_counts_t *tcp,
                       const pd__open_counts_t *ol)
{
	const pd__stats_t *st = r->st;
	double secs = (double)(r->t_measured_end - r->t_measured_start) / 1e9;
	double qps = secs > 0 ? (double)st->answered / secs : 0;
	long tck = sysconf(_SC_CLK_TCK);
	double server_cpu_s = (r->npids && r->cpu0 >= 0 && r->cpu1 >= 0)
	                          ? (double)(r->cpu1 - r->cpu0) / (double)tck
	                          : -1;
	double own_cpu_s = (double)(r->ru1.ru_utime.tv_sec - r->ru0.ru_utime.tv_sec) +
	                   (double)(r->ru1.ru_stime.tv_sec - r->ru0.ru_stime.tv_sec) +
	                   (double)(r->ru1.ru_utime.tv_usec - r->ru0.ru_utime.tv_usec) / 1e6 +
	                   (double)(r->ru1.ru_stime.tv_usec - r->ru0.ru_stime.tv_usec) / 1e6;
	double us_per_q =
	    (server_cpu_s >= 0 && st->answered) ? server_cpu_s * 1e6 / (double)st->answered : -1;
	/* Open loop: the server's work is every query it got, answered or not. */
	double us_per_sent =
	    (server_cpu_s >= 0 && st->sent) ? server_cpu_s * 1e6 / (double)st->sent : -1;
	uint64_t full = st->answered - st->truncated;
	if (json) {
		printf("{\"sent\": %llu, \"answered\": %llu, \"lost\": %llu, \"unexpected\": %llu, "
		       "\"seconds\": %.3f, \"qps\": %.0f, \"p50_us\": %.0f, \"p90_us\": %.0f, "
		       "\"p99_us\": %.0f, \"p999_us\": %.0f, \"server_cpu_s\": %.3f, "
		       "\"server_cpu_us_per_query\": %.4f, \"loadgen_cpu_s\": %.3f, "
		       "\"first_sent_mono\": %.6f, \"last_sent_mono\": %.6f, ",
		       (unsigned long long)st->sent, (unsigned long long)st->answered,
		       (unsigned long long)st->lost, (unsigned long long)st->unexpected, secs, qps,
		       pd__percentile(st, 50), pd__percentile(st, 90), pd__percentile(st, 99),
		       pd__percentile(st, 99.9), server_cpu_s, us_per_q, own_cpu_s,
		       (double)r->t_first_sent / 1e9, (double)r->t_last_sent / 1e9);
		if (tcp)
			printf(
			    "\"transport\": \"tcp\", \"connections\": %d, \"inflight\": %d, "
			    "\"timeouts\": %llu, \"connects\": %llu, \"connect_errors\": %llu, "
			    "\"server_closes\": %llu, \"resets\": %llu, \"client_closes\": %llu, "
			    "\"max_gap_us\": %.0f, ",
			    shape->connections, shape->inflight, (unsigned long long)st->timeouts,
			    (unsigned long long)tcp->connects,
			    (unsigned long long)tcp->connect_errors,
			    (unsigned long long)tcp->server_closes, (unsigned long long)tcp->resets,
			    (unsigned long long)tcp->client_closes, (double)tcp->max_gap_ns / 1e3);
		if (ol)
			printf("\"rate\": %.0f, \"sent_qps\": %.0f, \"skipped\": %llu, "
			       "\"full\": %llu, \"server_cpu_us_per_sent\": %.4f, ",
			       ol->rate, secs > 0 ? (double)st->sent / secs : 0,
			       (unsigned long long)ol->skipped, (unsigned long long)full,
			       us_per_sent);
		printf("\"truncated\": %llu, \"answer_bytes\": %llu, ",
		       (unsigned long long)st->truncated, (unsigned long long)st->answer_bytes);
		printf("\"rcodes\": {");
		bool first = true;
		for (int i = 0; i < 16; i++)
			if (st->rcodes[i]) {
				printf("%s\"%s\": %llu", first ? "" : ", ", pd__rcode_label(i),
				       (unsigned long long)st->rcodes[i]);
				first = false;
			}
		printf("}}\n");
		return;
	}
	printf("server            %s%s\n", target->text, tcp ? " (TCP)" : "");
	printf("queries sent      %llu\n", (unsigned long long)st->sent);
	printf("answered          %llu\n", (unsigned long long)st->answered);
	printf("lost              %llu\n", (unsigned long long)st->lost);
	if (tcp)
		printf("  timed out       %llu\n", (unsigned long long)st->timeouts);
	printf("unexpected        %llu\n", (unsigned long long)st->unexpected);
	printf("measured          %.3f s\n", secs);
	printf("answered per sec  %.0f\n", qps);
	if (ol) {
		printf("rate asked        %.0f per sec\n", ol->rate);
		printf("sent per sec      %.0f\n", secs > 0 ? (double)st->sent / secs : 0);
		printf("not sent (behind) %llu\n", (unsigned long long)ol->skipped);
		printf("full answers      %llu\n", (unsigned long long)full);
	}
	printf("truncated (TC)    %llu\n", (unsigned long long)st->truncated);
	printf("bytes per answer  %.1f\n",
	       st->answered ? (double)st->answer_bytes / (double)st->answered : 0.0);
	printf("latency us        p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f\n",
	       pd__percentile(st, 50), pd__percentile(st, 90), pd__percentile(st, 99),
	       pd__percentile(st, 99.9));
	if (tcp)
		printf("longest gap       %.3f ms\n", (double)tcp->max_gap_ns / 1e6);
	if (server_cpu_s >= 0)
		printf("server CPU        %.2f s, %.3f us per answered query\n", server_cpu_s,
		       us_per_q);
	if (server_cpu_s >= 0 && ol)
		printf("                  %.3f us per query sent\n", us_per_sent);
	printf("load CPU          %.2f s\n", own_cpu_s);
	if (tcp) {
		printf("connections       %d x %d in flight\n", shape->connections,
		       shape->inflight);
		printf("  established     %llu\n", (unsigned long long)tcp->connects);
		printf("  connect errors  %llu\n", (unsigned long long)tcp->connect_errors);
		printf("  server closed   %llu\n", (unsigned long long)tcp->server_closes);
		printf("  reset           %llu\n", (unsigned long long)tcp->resets);
		printf("  we closed       %llu\n", (unsigned long long)tcp->client_closes);
	}
	for (int i = 0; i < 16; i++)
		if (st->rcodes[i])
			printf("rcode %-11s %llu\n", pd__rcode_label(i),
			       (unsigned long long)st->rcodes[i]);
}

static void pd__usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: pindns-load -s ADDR:PORT -f QUERYFILE [OPTION]...\n"
	    "Sends DNS queries over UDP, or TCP with --tcp, as fast as the server answers them,\n"
	    "keeping a fixed number in flight (or, with --rate, at a fixed rate whatever the\n"
	    "server does), and reports throughput, latency, losses and rcodes. Only loopback\n"
	    "servers (127.0.0.0/8, ::1) are accepted.\n"
	    "\n"
	    "  -s, --server ADDR:PORT   server to load (loopback only)\n"
	    "  -f, --queries FILE       dnsperf-format lines: 'name TYPE'\n"
	    "  -d, --duration SECONDS   measured time after the warm-up (default 5, max %d)\n"
	    "  -n, --count N            stop after N queries were sent (measured part)\n"
	    "  -W, --warmup SECONDS     unmeasured time first (default 1)\n"
	    "  -S, --sockets N          UDP sockets, each its own source port (default 8, max\n"
	    "                           %d)\n"
	    "  -w, --window N           UDP queries in flight over all sockets (default 128)\n"
	    "  -b, --bind ADDR          UDP: send from this loopback address (default: the\n"
	    "                           kernel's choice, 127.0.0.1 or ::1)\n"
	    "  -t, --timeout MS         a query unanswered this long is lost (default 1000)\n"
	    "  -e, --edns SIZE          EDNS buffer size in queries, 0 for none (default 1232)\n"
	    "  -D, --dnssec             set DO in the queries' OPT (asks for RRSIGs and proofs)\n"
	    "  -C, --cookie HEX         a DNS COOKIE option (RFC 7873) in every query: a client\n"
	    "                           cookie of 8 bytes, maybe a server cookie after it\n"
	    "  -c, --cpu N              pin the load generator to CPU N\n"
	    "  -p, --pid PID            server process to charge CPU to; repeat for a tree\n"
	    "      --json               one JSON line instead of the table, with the\n"
	    "                           CLOCK_MONOTONIC times of the first and last query sent\n"
	    "  -h, --help               this help\n"
	    "\n"
	    "Open loop (UDP):\n"
	    "  -r, --rate QPS           send QPS queries a second over all sockets, whatever\n"
	    "                           comes back, instead of keeping a window in flight: a\n"
	    "                           flood that does not slow down when answers stop, as\n"
	    "                           for rate limits. They go out paced, in sendmmsg()\n"
	    "                           batches to one socket after another: up to %d each,\n"
	    "                           one per 1000 QPS below 16000 QPS, at least one.\n"
	    "                           Queries the sender cannot send within 50 ms of being\n"
	    "                           due are given up and counted as not sent. In the\n"
	    "                           report, lost is what never came back (dropped, or\n"
	    "                           later than --timeout), full answers those without TC,\n"
	    "                           and the server CPU is also given per query sent;\n"
	    "                           --json adds rate, sent_qps, skipped (not sent), full\n"
	    "                           and server_cpu_us_per_sent. Only queries sent after\n"
	    "                           the warm-up are counted, answered or lost.\n"
	    "\n"
	    "TCP (RFC 7766: 2-byte length before each message, answers in any order):\n"
	    "      --tcp                load over TCP instead of UDP\n"
	    "      --connections N      connections open at once (default 8, max %d)\n"
	    "      --inflight N         queries pipelined on each connection (default 16,\n"
	    "                           max %d)\n"
	    "      --conn-queries N     close a connection after N answers and open another\n"
	    "                           (default 0: keep it)\n"
	    "      --sources N          to an IPv4 server, connect from 127.0.0.1 to 127.0.0.N\n"
	    "                           in turn (default 16, max 254): each has its own ports,\n"
	    "                           which the TIME_WAIT of every close would use up\n"
	    "A connection the server closes or resets is opened again at once (one that cannot\n"
	    "connect, after 10 ms); its queries in flight count as lost. The report adds the\n"
	    "timeouts among the lost, the connection counts (whole run, warm-up included) and\n"
	    "the longest time without an answer (max_gap_us).\n"
	    "\n"
	    "SIGINT or SIGTERM ends the run early: sending stops, answers still in flight are\n"
	    "awaited (up to the timeout), and the report covers what was sent.\n",
	    PD_LOAD_SECONDS_MAX, PD_LOAD_SOCKETS_MAX, PD_RATE_BATCH, PD_LOAD_CONNS_MAX,
	    PD_LOAD_INFLIGHT_MAX);
}

/* Long options without a short form. */
enum {
	PD__OPT_JSON = 256,
	PD__OPT_TCP,
	PD__OPT_CONNS,
	PD__OPT_INFLIGHT,
	PD__OPT_CONN_QUERIES,
	PD__OPT_SOURCES
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"queries", required_argument, NULL, 'f'},
	    {"duration", required_argument, NULL, 'd'},
	    {"count", required_argument, NULL, 'n'},
	    {"warmup", required_argument, NULL, 'W'},
	    {"sockets", required_argument, NULL, 'S'},
	    {"window", required_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"edns", required_argument, NULL, 'e'},
	    {"dnssec", no_argument, NULL, 'D'},
	    {"cookie", required_argument, NULL, 'C'},
	    {"cpu", required_argument, NULL, 'c'},
	    {"pid", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, PD__OPT_JSON},
	    {"tcp", no_argument, NULL, PD__OPT_TCP},
	    {"connections", required_argument, NULL, PD__OPT_CONNS},
	    {"inflight", required_argument, NULL, PD__OPT_INFLIGHT},
	    {"conn-queries", required_argument, NULL, PD__OPT_CONN_QUERIES},
	    {"sources", required_argument, NULL, PD__OPT_SOURCES},
	    {"rate", required_argument, NULL, 'r'},
	    {"bind", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *server = NULL, *qfile = NULL, *bind_text = NULL, *cookie_hex = NULL;
	double rate = 0;
	double duration = 5, warmup = 1;
	uint64_t count = 0;
	int nsock = 8, window = 128, timeout_ms = 1000, edns = 1232, cpu = -1, npids = 0;
	pd__tcp_shape_t shape = {.connections = 8, .inflight = 16, .sources = 16};
	int pids[PD_LOAD_PIDS_MAX];
	bool json = false, tcp = false, udp_opts = false, tcp_opts = false, dnssec = false;
	bool window_set = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:f:d:n:W:S:w:t:e:DC:c:p:r:b:h", opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 's':
			server = optarg;
			break;
		case 'f':
			qfile = optarg;
			break;
		case 'd':
			duration = atof(optarg);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 'W':
			warmup = atof(optarg);
			break;
		case 'S':
			nsock = atoi(optarg);
			udp_opts = true;
			break;
		case 'w':
			window = atoi(optarg);
			udp_opts = window_set = true;
			break;
		case 'r':
			rate = atof(optarg);
			udp_opts = true;
			if (!(rate > 0 && rate <= PD_RATE_MAX)) {
				fprintf(stderr, "pindns-load: --rate wants 0 < QPS <= %d\n",
				        PD_RATE_MAX);
				return 2;
			}
			break;
		case 'b':
			bind_text = optarg;
			udp_opts = true;
			break;
		case 't':
			timeout_ms = atoi(optarg);
			break;
		case 'e':
			edns = atoi(optarg);
			break;
		case 'D':
			dnssec = true;
			break;
		case 'C':
			cookie_hex = optarg;
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'p':
			if (npids < PD_LOAD_PIDS_MAX)
				pids[npids++] = atoi(optarg);
			break;
		case PD__OPT_JSON:
			json = true;
			break;
		case PD__OPT_TCP:
			tcp = true;
			break;
		case PD__OPT_CONNS:
			shape.connections = atoi(optarg);
			tcp_opts = true;
			break;
		case PD__OPT_INFLIGHT:
			shape.inflight = atoi(optarg);
			tcp_opts = true;
			break;
		case PD__OPT_CONN_QUERIES:
			shape.conn_queries = strtoull(optarg, NULL, 10);
			tcp_opts = true;
			break;
		case PD__OPT_SOURCES:
			shape.sources = atoi(optarg);
			tcp_opts = true;
			break;
		case 'h':
			pd__usage(stdout);
			return 0;
		default:
			pd__usage(stderr);
			return 2;
		}
	}
	if (!server || !qfile) {
		pd__usage(stderr);
		return 2;
	}
	/* Each transport has its own shape: a UDP window over sockets, or so many queries on
	 * each connection. An option of the other one is a mistake, not something to ignore. */
	if (tcp ? udp_opts : tcp_opts) {
		fprintf(stderr, "pindns-load: %s\n",
		        tcp ? "--sockets, --window, --rate and --bind are for UDP; TCP takes "
		              "--connections and --inflight"
		            : "--connections, --inflight, --conn-queries and --sources need --tcp");
		return 2;
	}
	if (rate && window_set) {
		fprintf(stderr, "pindns-load: --rate sends open-loop, without a --window\n");
		return 2;
	}
	if (duration <= 0 || duration > PD_LOAD_SECONDS_MAX || warmup < 0 ||
	    warmup > PD_LOAD_SECONDS_MAX || nsock < 1 || nsock > PD_LOAD_SOCKETS_MAX ||
	    (!rate && (window < nsock || window > nsock * 32768)) || shape.connections < 1 ||
	    shape.connections > PD_LOAD_CONNS_MAX || shape.inflight < 1 ||
	    shape.inflight > PD_LOAD_INFLIGHT_MAX || shape.sources < 1 || shape.sources > 254 ||
	    timeout_ms < 1 || timeout_ms > 60000 || edns < 0 || edns > 65535 ||
	    (edns > 0 && edns < 512)) {
		fprintf(stderr, "pindns-load: an option is out of range; see --help\n");
		return 2;
	}
	if (dnssec && edns == 0) {
		fprintf(stderr, "pindns-load: --dnssec needs EDNS (DO lives in the OPT record)\n");
		return 2;
	}
	pd_listen_t target;
	if (pd_listen_parse(&target, server) < 0) {
		fprintf(stderr, "pindns-load: bad server address '%s'\n", server);
		return 2;
	}
	if (!pd__is_loopback(&target)) {
		fprintf(stderr, "pindns-load: refusing %s: only loopback servers are loaded\n",
		        target.text);
		return 2;
	}
	pd_listen_t src;
	if (bind_text) {
		if (pd_listen_parse(&src, bind_text) < 0 || !pd__is_loopback(&src) ||
		    src.addr.ss_family != target.addr.ss_family) {
			fprintf(stderr,
			        "pindns-load: --bind wants a loopback address of the "
			        "server's family, not '%s'\n",
			        bind_text);
			return 2;
		}
		/* Any port: each socket gets its own. */
		if (src.addr.ss_family == AF_INET)
			((struct sockaddr_in *)&src.addr)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&src.addr)->sin6_port = 0;
		snprintf(src.text, sizeof(src.text), "%s", bind_text);
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			fprintf(stderr, "pindns-load: cannot pin to CPU %d: %s\n", cpu,
			        strerror(errno));
			return 1;
		}
	}

	uint8_t *arena;
	pd__query_t *queries;
	size_t nq;
	pd__edns_t ed = {.size = (uint16_t)edns, .dnssec = dnssec};
	if (cookie_hex && pd__cookie_parse(&ed, cookie_hex) < 0) {
		fprintf(stderr,
		        "pindns-load: --cookie wants 16 to 80 hex digits (a client cookie of 8 "
		        "bytes, maybe a server cookie of 8 to 32 after it), not '%s'\n",
		        cookie_hex);
		return 2;
	}
	if (ed.cookie_len && edns == 0) {
		fprintf(stderr,
		        "pindns-load: --cookie needs EDNS (the option lives in the OPT record)\n");
		return 2;
	}
	if (pd__load_queries(qfile, &ed, &arena, &queries, &nq) < 0)
		return 1;
	size_t *qoff = malloc(nq * sizeof(*qoff));
	pd__stats_t *st = calloc(1, sizeof(*st));
	if (!st || !qoff) {
		fprintf(stderr, "pindns-load: out of memory\n");
		return 1;
	}
	for (size_t i = 0, o = 0; i < nq; i++) {
		qoff[i] = o;
		o += queries[i].len;
	}

	struct sigaction sa = {.sa_handler = pd__on_stop};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	pd__run_t run = {.arena = arena,
	                 .queries = queries,
	                 .qoff = qoff,
	                 .nq = nq,
	                 .pids = pids,
	                 .npids = npids,
	                 .warmup = warmup,
	                 .duration = duration,
	                 .count = count,
	                 .timeout_ns = (uint64_t)timeout_ms * 1000000ull,
	                 .st = st};
	pd__tcp_counts_t counts = {0};
	pd__open_counts_t ol = {.rate = rate};
	const pd_listen_t *from = bind_text ? &src : NULL;
	int ret = tcp    ? pd__run_tcp(&run, &target, &shape, &counts)
	          : rate ? pd__run_udp_rate(&run, &target, from, nsock, rate, &ol)
	                 : pd__run_udp(&run, &target, from, nsock, window);
	if (ret == 0)
		pd__report(&run, &target, json, &shape, tcp ? &counts : NULL, rate ? &ol : NULL);
	int status = ret ? ret : st->answered ? 0 : 1;
	free(st);
	free(qoff);
	free(queries);
	free(arena);
	return status;
}
