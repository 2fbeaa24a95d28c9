/* pindns-load: a closed-loop UDP load generator that can saturate a DNS server's core. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#define PD_LOAD_PIDS_MAX 32
#define PD_LOAD_SECONDS_MAX 3600
#define PD_LAT_BUCKETS 200000 /* 1 us each: up to 200 ms; later answers go in the last */

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
	uint64_t rcodes[16];
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

/* Appends the query for name and type t (ID 0, RD clear, an OPT of size edns unless 0). */
static int pd__queries_add(pd__queries_t *qs, const uint8_t *wire, int wl, int t, uint16_t edns)
{
	size_t len = 12 + (size_t)wl + 4 + (edns ? 11 : 0);
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
	}
	qs->q[qs->n++].len = (uint16_t)len;
	qs->used += len;
	return 0;
}

/* Reads "name TYPE" lines into wire-form queries. Returns 0, or -errno with why printed. */
static int pd__load_queries(const char *path, uint16_t edns, uint8_t **arena_out,
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

static void pd__usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: pindns-load -s ADDR:PORT -f QUERYFILE [OPTION]...\n"
	    "Sends DNS queries over UDP as fast as the server answers them, keeping a fixed\n"
	    "number in flight, and reports throughput, latency, losses and rcodes.\n"
	    "Only loopback servers (127.0.0.0/8, ::1) are accepted.\n"
	    "\n"
	    "  -s, --server ADDR:PORT   server to load (loopback only)\n"
	    "  -f, --queries FILE       dnsperf-format lines: 'name TYPE'\n"
	    "  -d, --duration SECONDS   measured time after the warm-up (default 5, max %d)\n"
	    "  -n, --count N            stop after N queries were sent (measured part)\n"
	    "  -W, --warmup SECONDS     unmeasured time first (default 1)\n"
	    "  -S, --sockets N          UDP sockets, each its own source port (default 8)\n"
	    "  -w, --window N           queries in flight over all sockets (default 128)\n"
	    "  -t, --timeout MS         a query unanswered this long is lost (default 1000)\n"
	    "  -e, --edns SIZE          EDNS buffer size in queries, 0 for none (default 1232)\n"
	    "  -c, --cpu N              pin the load generator to CPU N\n"
	    "  -p, --pid PID            server process to charge CPU to; repeat for a tree\n"
	    "      --json               one JSON line instead of the table, with the\n"
	    "                           CLOCK_MONOTONIC times of the first and last query sent\n"
	    "  -h, --help               this help\n"
	    "SIGINT or SIGTERM ends the run early: sending stops, answers still in flight are\n"
	    "awaited (up to the timeout), and the report covers what was sent.\n",
	    PD_LOAD_SECONDS_MAX);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"server", required_argument, NULL, 's'},   {"queries", required_argument, NULL, 'f'},
	    {"duration", required_argument, NULL, 'd'}, {"count", required_argument, NULL, 'n'},
	    {"warmup", required_argument, NULL, 'W'},   {"sockets", required_argument, NULL, 'S'},
	    {"window", required_argument, NULL, 'w'},   {"timeout", required_argument, NULL, 't'},
	    {"edns", required_argument, NULL, 'e'},     {"cpu", required_argument, NULL, 'c'},
	    {"pid", required_argument, NULL, 'p'},      {"json", no_argument, NULL, 'J'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
	const char *server = NULL, *qfile = NULL;
	double duration = 5, warmup = 1;
	uint64_t count = 0;
	int nsock = 8, window = 128, timeout_ms = 1000, edns = 1232, cpu = -1, npids = 0;
	int pids[PD_LOAD_PIDS_MAX];
	bool json = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "s:f:d:n:W:S:w:t:e:c:p:h", opts, NULL)) != -1) {
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
			break;
		case 'w':
			window = atoi(optarg);
			break;
		case 't':
			timeout_ms = atoi(optarg);
			break;
		case 'e':
			edns = atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'p':
			if (npids < PD_LOAD_PIDS_MAX)
				pids[npids++] = atoi(optarg);
			break;
		case 'J':
			json = true;
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
	if (duration <= 0 || duration > PD_LOAD_SECONDS_MAX || warmup < 0 ||
	    warmup > PD_LOAD_SECONDS_MAX || nsock < 1 || nsock > PD_LOAD_SOCKETS_MAX ||
	    window < nsock || window > nsock * 32768 || timeout_ms < 1 || timeout_ms > 60000 ||
	    edns < 0 || edns > 65535 || (edns > 0 && edns < 512)) {
		fprintf(stderr, "pindns-load: an option is out of range; see --help\n");
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
	if (pd__load_queries(qfile, (uint16_t)edns, &arena, &queries, &nq) < 0)
		return 1;
	size_t *qoff = malloc(nq * sizeof(*qoff));
	for (size_t i = 0, o = 0; i < nq; i++) {
		qoff[i] = o;
		o += queries[i].len;
	}

	pd__sock_t *socks = calloc((size_t)nsock, sizeof(*socks));
	pd__stats_t *st = calloc(1, sizeof(*st));
	if (!socks || !st || !qoff) {
		fprintf(stderr, "pindns-load: out of memory\n");
		return 1;
	}
	for (int i = 0; i < nsock; i++) {
		int fd =
		    socket(target.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int buf = 4 << 20;
		if (fd < 0 || connect(fd, (struct sockaddr *)&target.addr, target.addr_len) < 0) {
			fprintf(stderr, "pindns-load: socket to %s: %s\n", target.text,
			        strerror(errno));
			return 1;
		}
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
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

	struct sigaction sa = {.sa_handler = pd__on_stop};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	uint64_t t_start = pd__now_ns();
	uint64_t t_measure = t_start + (uint64_t)(warmup * 1e9);
	uint64_t t_end = t_measure + (uint64_t)(duration * 1e9);
	uint64_t timeout_ns = (uint64_t)timeout_ms * 1000000ull;
	bool measuring = warmup == 0, sending = true;
	long long cpu0 = measuring ? pd__cpu_ticks(pids, npids) : 0, cpu1 = 0;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	uint64_t t_measured_start = measuring ? t_start : 0, t_measured_end = 0;
	size_t qnext = 0;
	uint64_t measured_sent = 0;
	uint64_t t_first_sent = 0, t_last_sent = 0;

	for (;;) {
		uint64_t now = pd__now_ns();
		if (!measuring && now >= t_measure) {
			/* Warm-up over: forget it and start counting, also the server's CPU. */
			measuring = true;
			memset(st, 0, sizeof(*st));
			cpu0 = pd__cpu_ticks(pids, npids);
			getrusage(RUSAGE_SELF, &ru0);
			t_measured_start = now;
		}
		if (pd__stop && !measuring) {
			/* Stopped during the warm-up: report what was sent, CPU not measured. */
			measuring = true;
			t_measured_start = t_start;
			cpu0 = -1;
		}
		if (sending && measuring &&
		    (now >= t_end || (count && measured_sent >= count) || pd__stop)) {
			sending = false;
			t_measured_end = now;
			cpu1 = pd__cpu_ticks(pids, npids);
			getrusage(RUSAGE_SELF, &ru1);
		}
		uint32_t inflight = 0;
		for (int s = 0; s < nsock; s++) {
			pd__sock_t *k = &socks[s];
			int got = recvmmsg(k->fd, rx, PD_LOAD_BATCH, MSG_DONTWAIT, NULL);
			if (got > 0)
				now = pd__now_ns();
			for (int i = 0; i < got; i++) {
				const uint8_t *r = rxbuf[i];
				if (rx[i].msg_len < 12) {
					st->unexpected++;
					continue;
				}
				uint16_t id = pd_get_u16(r);
				if (!k->live[id]) {
					st->unexpected++; /* late, after we counted it lost */
					continue;
				}
				k->live[id] = 0;
				k->inflight--;
				st->answered++;
				st->rcodes[r[3] & 0xF]++;
				uint64_t us = (now - k->sent_ns[id]) / 1000;
				st->lat[us < PD_LAT_BUCKETS ? us : PD_LAT_BUCKETS - 1]++;
			}
			/* Timeouts, oldest first. */
			while (k->ring_head != k->ring_tail) {
				uint16_t id = k->ring[k->ring_head & 0xFFFF];
				if (k->live[id] && now - k->sent_ns[id] < timeout_ns)
					break;
				if (k->live[id]) {
					k->live[id] = 0;
					k->inflight--;
					st->lost++;
				}
				k->ring_head++;
			}
			int room = sending ? per_sock - (int)k->inflight : 0;
			while (room > 0) {
				int b = room < PD_LOAD_BATCH ? room : PD_LOAD_BATCH;
				int nb = 0;
				for (; nb < b; nb++) {
					uint16_t id = k->next_id;
					if (k->live[id])
						break; /* ID space wrapped onto a live query: wait
						        */
					const pd__query_t *q = &queries[qnext];
					memcpy(txbuf[nb], arena + qoff[qnext], q->len);
					pd_put_u16(txbuf[nb], id);
					txv[nb].iov_len = q->len;
					qnext = qnext + 1 == nq ? 0 : qnext + 1;
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
					qnext = qnext == 0 ? nq - 1 : qnext - 1;
				}
				k->inflight += (uint32_t)sent;
				st->sent += (uint64_t)sent;
				if (sent > 0) {
					t_last_sent = now;
					if (!t_first_sent)
						t_first_sent = now;
				}
				if (measuring)
					measured_sent += (uint64_t)sent;
				room -= nb;
				if (sent < nb)
					break;
			}
			inflight += k->inflight;
		}
		if (!sending && (inflight == 0 || now - t_measured_end > timeout_ns))
			break;
	}
	/* Whatever is still out after the timeout is lost. */
	for (int s = 0; s < nsock; s++)
		for (uint32_t h = socks[s].ring_head; h != socks[s].ring_tail; h++)
			if (socks[s].live[socks[s].ring[h & 0xFFFF]]) {
				socks[s].live[socks[s].ring[h & 0xFFFF]] = 0;
				st->lost++;
			}

	double secs = (double)(t_measured_end - t_measured_start) / 1e9;
	double qps = secs > 0 ? (double)st->answered / secs : 0;
	long tck = sysconf(_SC_CLK_TCK);
	double server_cpu_s =
	    (npids && cpu0 >= 0 && cpu1 >= 0) ? (double)(cpu1 - cpu0) / (double)tck : -1;
	double own_cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	                   (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	                   (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	                   (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double us_per_q =
	    (server_cpu_s >= 0 && st->answered) ? server_cpu_s * 1e6 / (double)st->answered : -1;
	if (json) {
		printf("{\"sent\": %llu, \"answered\": %llu, \"lost\": %llu, \"unexpected\": %llu, "
		       "\"seconds\": %.3f, \"qps\": %.0f, \"p50_us\": %.0f, \"p90_us\": %.0f, "
		       "\"p99_us\": %.0f, \"p999_us\": %.0f, \"server_cpu_s\": %.3f, "
		       "\"server_cpu_us_per_query\": %.4f, \"loadgen_cpu_s\": %.3f, "
		       "\"first_sent_mono\": %.6f, \"last_sent_mono\": %.6f, \"rcodes\": {",
		       (unsigned long long)st->sent, (unsigned long long)st->answered,
		       (unsigned long long)st->lost, (unsigned long long)st->unexpected, secs, qps,
		       pd__percentile(st, 50), pd__percentile(st, 90), pd__percentile(st, 99),
		       pd__percentile(st, 99.9), server_cpu_s, us_per_q, own_cpu_s,
		       (double)t_first_sent / 1e9, (double)t_last_sent / 1e9);
		bool first = true;
		for (int i = 0; i < 16; i++)
			if (st->rcodes[i]) {
				printf("%s\"%s\": %llu", first ? "" : ", ", pd__rcode_label(i),
				       (unsigned long long)st->rcodes[i]);
				first = false;
			}
		printf("}}\n");
	} else {
		printf("server            %s\n", target.text);
		printf("queries sent      %llu\n", (unsigned long long)st->sent);
		printf("answered          %llu\n", (unsigned long long)st->answered);
		printf("lost              %llu\n", (unsigned long long)st->lost);
		printf("unexpected        %llu\n", (unsigned long long)st->unexpected);
		printf("measured          %.3f s\n", secs);
		printf("answered per sec  %.0f\n", qps);
		printf("latency us        p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f\n",
		       pd__percentile(st, 50), pd__percentile(st, 90), pd__percentile(st, 99),
		       pd__percentile(st, 99.9));
		if (server_cpu_s >= 0)
			printf("server CPU        %.2f s, %.3f us per answered query\n",
			       server_cpu_s, us_per_q);
		printf("load CPU          %.2f s\n", own_cpu_s);
		for (int i = 0; i < 16; i++)
			if (st->rcodes[i])
				printf("rcode %-11s %llu\n", pd__rcode_label(i),
				       (unsigned long long)st->rcodes[i]);
	}
	int status = st->answered ? 0 : 1;
	for (int i = 0; i < nsock; i++)
		close(socks[i].fd);
	free(socks);
	free(st);
	free(qoff);
	free(queries);
	free(arena);
	return status;
}
