/* The Prometheus endpoint: counters as text exposition, over a minimal HTTP/1.0. */
#define _GNU_SOURCE
#include "metrics.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pindns/util.h"
#include "xfr.h"

#define PD_METRICS_MAX (512 * 1024)

int pd_metrics_listen(const pd_listen_t *addr, char *err, size_t cap)
{
	int one = 1;
	int fd = socket(addr->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&addr->addr, addr->addr_len) < 0 ||
	    listen(fd, 16) < 0) {
		int e = errno;
		snprintf(err, cap, "metrics-listen %s: %s", addr->text, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
}

/* The counter at offset in st; the worker may be bumping it meanwhile. */
static uint64_t pd__counter_at(const pd_worker_stats_t *st, size_t offset)
{
	return pd_counter_get((const pd_counter_t *)((const char *)st + offset));
}

/*
 * One counter family, per worker, live plus carried over restarts. Each series is
 * labelled with the worker and its transport: the worker alone tells them apart (the TCP
 * threads are numbered after the UDP workers), so the transport adds no series, and
 * selecting or summing by worker works as it did before there was TCP.
 */
static void pd__family(char *buf, size_t cap, size_t *n, const pd_stats_t *s, const char *name,
                       const char *help, size_t offset)
{
	pd_buf_printf(buf, cap, n, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (uint32_t w = 0; w < s->workers; w++) {
		uint64_t v = pd__counter_at(&s->live[w], offset) +
		             pd__counter_at(&s->live[s->workers + w], offset);
		pd_buf_printf(buf, cap, n, "%s{worker=\"%u\",transport=\"%s\"} %llu\n", name, w,
		              pd_transport_name(pd_stats_transport(s, w)), (unsigned long long)v);
	}
}

/*
 * The TCP connections, summed over the TCP threads: per thread the open ones would not
 * add up, as a connection handed over on a restart is closed on one of the predecessor's
 * threads and adopted by any of ours.
 */
static void pd__tcp_families(char *buf, size_t cap, size_t *n, const pd_stats_t *s)
{
	pd_worker_stats_t t;
	pd_stats_total(s, &t);
	pd_buf_printf(buf, cap, n,
	              "# HELP pindns_tcp_connections_open TCP connections open now.\n"
	              "# TYPE pindns_tcp_connections_open gauge\n"
	              "pindns_tcp_connections_open %llu\n"
	              "# HELP pindns_tcp_connections_accepted_total TCP connections accepted "
	              "(also those refused at once).\n"
	              "# TYPE pindns_tcp_connections_accepted_total counter\n"
	              "pindns_tcp_connections_accepted_total %llu\n"
	              "# HELP pindns_tcp_connections_adopted_total TCP connections received open "
	              "from a predecessor.\n"
	              "# TYPE pindns_tcp_connections_adopted_total counter\n"
	              "pindns_tcp_connections_adopted_total %llu\n"
	              "# HELP pindns_tcp_connections_closed_total TCP connections closed, by "
	              "reason.\n"
	              "# TYPE pindns_tcp_connections_closed_total counter\n",
	              (unsigned long long)pd_stats_tcp_open(&t.tcp),
	              (unsigned long long)pd_counter_get(&t.tcp.accepted),
	              (unsigned long long)pd_counter_get(&t.tcp.adopted));
	for (int r = 0; r < PD_TCP_CLOSE_REASONS; r++)
		pd_buf_printf(
		    buf, cap, n, "pindns_tcp_connections_closed_total{reason=\"%s\"} %llu\n",
		    pd_tcp_close_names[r], (unsigned long long)pd_counter_get(&t.tcp.closed[r]));
}

/* The transfer counters: the process's own, not carried over restarts (a successor starts
 * them at 0, which Prometheus takes as a counter reset). */
static void pd__xfr_families(char *buf, size_t cap, size_t *n, const pd_xfr_stats_t *x)
{
	static const struct {
		const char *name, *label, *help;
		size_t off;
	} f[] = {
	    {"pindns_xfr_notify_received_total", "result=\"accepted\"",
	     "NOTIFY received, accepted (an allowed peer) or refused (peer, key or zone).",
	     offsetof(pd_xfr_stats_t, notify_in)},
	    {"pindns_xfr_notify_received_total", "result=\"refused\"", NULL,
	     offsetof(pd_xfr_stats_t, notify_refused)},
	    {"pindns_xfr_notify_sent_total", NULL, "NOTIFY sent, each try.",
	     offsetof(pd_xfr_stats_t, notify_out)},
	    {"pindns_xfr_notify_acked_total", NULL, "NOTIFY sent and answered.",
	     offsetof(pd_xfr_stats_t, notify_acked)},
	    {"pindns_xfr_refresh_total", NULL, "SOA queries to primaries.",
	     offsetof(pd_xfr_stats_t, refresh)},
	    {"pindns_xfr_in_total", "kind=\"axfr\"", "Transfers in that succeeded, by kind.",
	     offsetof(pd_xfr_stats_t, xfr_in_axfr)},
	    {"pindns_xfr_in_total", "kind=\"ixfr\"", NULL, offsetof(pd_xfr_stats_t, xfr_in_ixfr)},
	    {"pindns_xfr_in_failed_total", NULL, "Transfers in that failed or were refused.",
	     offsetof(pd_xfr_stats_t, xfr_in_failed)},
	    {"pindns_xfr_out_total", "kind=\"axfr\"", "Transfers out completed, by kind.",
	     offsetof(pd_xfr_stats_t, xfr_out_axfr)},
	    {"pindns_xfr_out_total", "kind=\"ixfr\"", NULL, offsetof(pd_xfr_stats_t, xfr_out_ixfr)},
	    {"pindns_xfr_out_refused_total", NULL, "AXFR and IXFR requests refused (ACL, key).",
	     offsetof(pd_xfr_stats_t, xfr_out_refused)},
	    {"pindns_xfr_out_failed_total", NULL, "Transfers out cut by the peer or a timeout.",
	     offsetof(pd_xfr_stats_t, xfr_out_failed)},
	    {"pindns_xfr_expired_total", NULL, "Secondary zones that reached their SOA expire.",
	     offsetof(pd_xfr_stats_t, expired)},
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(*f); i++) {
		uint64_t v =
		    x ? pd_counter_get((const pd_counter_t *)((const char *)x + f[i].off)) : 0;
		if (f[i].help) /* the first series of its family */
			pd_buf_printf(buf, cap, n, "# HELP %s %s\n# TYPE %s counter\n", f[i].name,
			              f[i].help, f[i].name);
		pd_buf_printf(buf, cap, n, "%s%s%s%s %llu\n", f[i].name, f[i].label ? "{" : "",
		              f[i].label ? f[i].label : "", f[i].label ? "}" : "",
		              (unsigned long long)v);
	}
}

size_t pd_metrics_render(const pd_stats_t *s, const pd_zoneset_t *zones, const pd_xfr_stats_t *xfr,
                         char *buf, size_t cap)
{
	size_t n = 0;
#define PD_FAMILY(name, help, field)                                                               \
	pd__family(buf, cap, &n, s, name, help, offsetof(pd_worker_stats_t, field))
	PD_FAMILY("pindns_queries_total", "Queries received: UDP datagrams, and messages over TCP.",
	          net.queries);
	PD_FAMILY("pindns_responses_total", "Responses sent.", net.responses);
	PD_FAMILY("pindns_dropped_total", "Queries received and not answered.", net.dropped);
	PD_FAMILY("pindns_truncated_total", "Responses sent with TC set.", dns.truncated);
	PD_FAMILY("pindns_received_bytes_total", "Bytes received.", net.bytes_in);
	PD_FAMILY("pindns_sent_bytes_total", "Bytes sent.", net.bytes_out);
	PD_FAMILY("pindns_batches_total",
	          "recvmmsg calls that returned datagrams; for TCP, reads that returned messages.",
	          net.batches);
	PD_FAMILY("pindns_cache_hits_total", "Answers from the response cache.", dns.cache.hits);
	PD_FAMILY("pindns_cache_misses_total", "Cacheable queries not in the cache.",
	          dns.cache.misses);
	PD_FAMILY("pindns_rrl_dropped_total", "Responses not sent: over the rate limit.",
	          guard.rrl_dropped);
	PD_FAMILY("pindns_rrl_slipped_total",
	          "Responses over the rate limit sent truncated, or as BADCOOKIE, instead.",
	          guard.rrl_slipped);
	PD_FAMILY("pindns_cookie_client_total", "Queries with a client cookie alone.",
	          guard.cookie_client);
	PD_FAMILY("pindns_cookie_valid_total", "Queries with a valid server cookie.",
	          guard.cookie_valid);
	PD_FAMILY("pindns_cookie_invalid_total",
	          "Queries with a server cookie that is not ours or too old.",
	          guard.cookie_invalid);
	PD_FAMILY("pindns_badcookie_total", "Responses with rcode BADCOOKIE.", guard.badcookie);
#undef PD_FAMILY
	pd_buf_printf(buf, cap, &n,
	              "# HELP pindns_responses_by_rcode_total Responses by rcode.\n"
	              "# TYPE pindns_responses_by_rcode_total counter\n");
	for (uint32_t w = 0; w < s->workers; w++)
		for (int r = 0; r < 16; r++) {
			uint64_t v = pd_counter_get(&s->live[w].dns.rcode[r]) +
			             pd_counter_get(&s->live[s->workers + w].dns.rcode[r]);
			if (v || r == 0 || r == 3 || r == 5)
				pd_buf_printf(
				    buf, cap, &n,
				    "pindns_responses_by_rcode_total{worker=\"%u\",transport=\"%"
				    "s\",rcode=\"%s\"} %llu\n",
				    w, pd_transport_name(pd_stats_transport(s, w)),
				    pd_rcode_name((unsigned)r), (unsigned long long)v);
		}
	pd__tcp_families(buf, cap, &n, s);
	pd__xfr_families(buf, cap, &n, xfr);
	pd_buf_printf(
	    buf, cap, &n,
	    "# HELP pindns_zones Zones being served.\n# TYPE pindns_zones gauge\n"
	    "pindns_zones %zu\n"
	    "# HELP pindns_start_time_seconds When counting began (kept across restarts).\n"
	    "# TYPE pindns_start_time_seconds gauge\npindns_start_time_seconds %llu\n",
	    zones ? zones->count : 0, (unsigned long long)s->started_unix);
	return n;
}

void pd_metrics_serve(int conn, const pd_stats_t *stats, const pd_zoneset_t *zones,
                      const pd_xfr_stats_t *xfr)
{
	char req[2048];
	size_t got = 0;
	/* Read the request head briefly; what it asks for does not matter. */
	while (got + 1 < sizeof(req)) {
		struct pollfd p = {.fd = conn, .events = POLLIN};
		if (poll(&p, 1, 1000) <= 0)
			break;
		ssize_t k = read(conn, req + got, sizeof(req) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	char *body = malloc(PD_METRICS_MAX);
	if (body) {
		size_t len = pd_metrics_render(stats, zones, xfr, body, PD_METRICS_MAX);
		char head[200];
		int h = snprintf(head, sizeof(head),
		                 "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
		                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		                 len);
		if (send(conn, head, (size_t)h, MSG_NOSIGNAL) == h)
			for (size_t off = 0; off < len;) {
				ssize_t k = send(conn, body + off, len - off, MSG_NOSIGNAL);
				if (k <= 0)
					break;
				off += (size_t)k;
			}
		free(body);
	}
	close(conn);
}
