#define _GNU_SOURCE /* memfd_create */
/* Unit tests for the shared counter segment (daemon/stats.c), and how pindnsctl's stats
 * (daemon/control.c) and the metrics (daemon/metrics.c) show it. */
#include "testutil.h"

#include <regex.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pindns/control.h"
#include "pindns/stats.h"
/* Private to the daemon's folder, which the unit tests' include path leaves out. */
#include "../../../daemon/metrics.h"
#include "../../../daemon/xfr.h"

/* The layout versions 1 and 2 had, written here by hand as they were, not from the
 * structs: 448-byte entries of 50 counters (and 6 of padding), UDP workers alone. */
#define OLD_ENTRY_COUNTERS 56
#define OLD_COUNTERS 50

/* A predecessor's segment of an older layout version: the fd, and its entries' counters
 * (entry e's counter i at [e * OLD_ENTRY_COUNTERS + i]; live entries, then carried). */
static uint64_t *old_segment(uint32_t version, uint32_t workers, int *fd, size_t *size)
{
	*size = 128 + 2 * (size_t)workers * OLD_ENTRY_COUNTERS * 8;
	*fd = memfd_create("old-stats", MFD_CLOEXEC);
	assert_true(*fd >= 0);
	assert_int_equal(ftruncate(*fd, (off_t)*size), 0);
	uint32_t *h = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	assert_true(h != MAP_FAILED);
	h[0] = 0x70647374; /* "pdst" */
	h[1] = version;
	h[2] = workers;
	((uint64_t *)h)[8] = 1000; /* started_unix, at byte 64 */
	return (uint64_t *)((char *)h + 128);
}

static void old_segment_free(uint64_t *counters, size_t size, int fd)
{
	munmap((char *)counters - 128, size);
	close(fd);
}

/* Worker w's entry as counters, live or carried. */
static const uint64_t *counters_of(const pd_worker_stats_t *e)
{
	return (const uint64_t *)e;
}

/* Maps the segment behind fd as a successor does, carries it into now, unmaps it. */
static void carry_from_fd(pd_stats_t *now, int fd)
{
	pd_stats_t *seen = pd_stats_map(fd);
	assert_non_null(seen);
	pd_stats_carry(now, seen);
	pd_stats_unmap(seen);
}

static void workers_on_their_own_cache_lines(void **state)
{
	int fd;
	pd_stats_t *s = pd_stats_new(3, 2, &fd);
	assert_non_null(s);
	assert_int_equal(sizeof(pd_worker_stats_t) % 64, 0);
	assert_int_equal((uintptr_t)&s->live[1] % 64, 0);
	assert_int_equal(s->workers, 5);
	assert_int_equal(s->tcp_workers, 2);
	assert_int_equal(pd_stats_udp_workers(s), 3);
	assert_int_equal(pd_stats_transport(s, 2), PD_TRANSPORT_UDP);
	assert_int_equal(pd_stats_transport(s, 3), PD_TRANSPORT_TCP);
	assert_int_equal(pd_stats_transport(s, 4), PD_TRANSPORT_TCP);
	assert_string_equal(pd_transport_name(PD_TRANSPORT_TCP), "tcp");
	assert_int_equal(s->live[4].net.queries, 0);
	assert_int_equal(pd_stats_carried(s, 4)->tcp.closed[PD_TCP_CLOSE_REASONS - 1], 0);
	pd_stats_unmap(s);
	close(fd);
	assert_null(pd_stats_new(-1, 1, &fd));
	assert_int_equal(fd, -1);
}

static void totals_carry_over_a_handoff(void **state)
{
	int fd_old, fd_new;
	pd_stats_t *old = pd_stats_new(2, 1, &fd_old);
	pd_stats_t *now = pd_stats_new(2, 1, &fd_new);
	assert_non_null(old);
	assert_non_null(now);
	/* The old process had itself carried totals from an older one. */
	old->live[0].net.queries = 10;
	old->live[1].net.queries = 5;
	pd_stats_carried(old, 1)->net.queries = 100;
	old->live[0].dns.rcode[3] = 2;
	old->live[2].net.queries = 8;
	old->live[2].tcp.accepted = 4;
	old->live[2].tcp.closed[PD_TCP_CLOSE_HANDED] = 3;
	pd_stats_carried(old, 2)->tcp.closed[PD_TCP_CLOSE_EOF] = 1;
	now->live[0].net.queries = 7;
	now->live[2].tcp.adopted = 3;

	carry_from_fd(now, fd_old);

	pd_worker_stats_t t;
	pd_stats_total(now, &t);
	assert_int_equal(t.net.queries, 10 + 5 + 100 + 8 + 7);
	assert_int_equal(t.dns.rcode[3], 2);
	/* The three handed over are closed there and adopted here: none of them counts twice. */
	assert_int_equal(pd_stats_tcp_closed(&t.tcp), 4);
	assert_int_equal(pd_stats_tcp_open(&t.tcp), 4 + 3 - 4);
	/* Live counters stay the new workers' own. */
	assert_int_equal(now->live[0].net.queries, 7);
	assert_int_equal(pd_stats_carried(now, 1)->net.queries, 105);
	assert_int_equal(pd_stats_carried(now, 2)->net.queries, 8);
	pd_stats_transport_total(now, PD_TRANSPORT_UDP, &t);
	assert_int_equal(t.net.queries, 10 + 5 + 100 + 7);
	pd_stats_transport_total(now, PD_TRANSPORT_TCP, &t);
	assert_int_equal(t.net.queries, 8);
	assert_int_equal(t.tcp.accepted, 4);
	pd_stats_unmap(old);
	pd_stats_unmap(now);
	close(fd_old);
	close(fd_new);
}

/* A predecessor with other worker counts: transport by transport, the extra ones into
 * our last of that transport. */
static void carry_by_transport_when_the_counts_differ(void **state)
{
	int fd_old, fd_now, fd_more, fd_udp;
	pd_stats_t *old = pd_stats_new(3, 2, &fd_old);
	pd_stats_t *now = pd_stats_new(2, 1, &fd_now);
	pd_stats_t *more = pd_stats_new(4, 3, &fd_more);
	pd_stats_t *udp = pd_stats_new(2, 0, &fd_udp);
	assert_non_null(old);
	assert_non_null(now);
	assert_non_null(more);
	assert_non_null(udp);
	for (uint32_t w = 0; w < 5; w++) {
		old->live[w].net.queries = 10 * (w + 1);
		pd_stats_carried(old, (int)w)->net.responses = w + 1;
	}
	old->live[3].tcp.accepted = 6;
	old->live[4].tcp.accepted = 7;
	old->live[4].tcp.closed[PD_TCP_CLOSE_IDLE] = 2;
	carry_from_fd(now, fd_old);
	carry_from_fd(more, fd_old);
	carry_from_fd(udp, fd_old);

	/* Fewer: UDP 2 into UDP 1; TCP 0 and 1 into TCP 0 (worker 2). */
	assert_int_equal(pd_stats_carried(now, 0)->net.queries, 10);
	assert_int_equal(pd_stats_carried(now, 1)->net.queries, 20 + 30);
	assert_int_equal(pd_stats_carried(now, 1)->net.responses, 2 + 3);
	assert_int_equal(pd_stats_carried(now, 2)->net.queries, 40 + 50);
	assert_int_equal(pd_stats_carried(now, 2)->tcp.accepted, 13);
	assert_int_equal(pd_stats_carried(now, 2)->tcp.closed[PD_TCP_CLOSE_IDLE], 2);
	pd_worker_stats_t t;
	pd_stats_transport_total(now, PD_TRANSPORT_TCP, &t);
	assert_int_equal(t.net.queries, 90);
	assert_int_equal(pd_stats_tcp_open(&t.tcp), 11);

	/* More: each to its namesake, TCP 0 and 1 to workers 4 and 5; the rest stay 0. */
	assert_int_equal(pd_stats_carried(more, 2)->net.queries, 30);
	assert_int_equal(pd_stats_carried(more, 3)->net.queries, 0);
	assert_int_equal(pd_stats_carried(more, 4)->net.queries, 40);
	assert_int_equal(pd_stats_carried(more, 5)->net.queries, 50);
	assert_int_equal(pd_stats_carried(more, 6)->net.queries, 0);
	pd_stats_transport_total(more, PD_TRANSPORT_UDP, &t);
	assert_int_equal(t.net.queries, 60);

	/* No TCP threads here: theirs go to our last worker, and the totals still add up. */
	assert_int_equal(pd_stats_carried(udp, 1)->net.queries, 20 + 30 + 40 + 50);
	pd_stats_total(udp, &t);
	assert_int_equal(t.net.queries, 150);
	assert_int_equal(t.tcp.accepted, 13);

	pd_stats_unmap(old);
	pd_stats_unmap(now);
	pd_stats_unmap(more);
	pd_stats_unmap(udp);
	close(fd_old);
	close(fd_now);
	close(fd_more);
	close(fd_udp);
}

/* A predecessor of layout version 2: UDP workers alone, entries of 448 bytes. */
static void totals_carry_over_from_version_2(void **state)
{
	int fd_old, fd_new;
	size_t size;
	uint64_t *v2 = old_segment(2, 3, &fd_old, &size);
	/* The word after workers was padding then; a stray value there means no TCP. */
	((uint32_t *)((char *)v2 - 128))[3] = 2;
	for (int e = 0; e < 6; e++)
		for (int i = 0; i < OLD_COUNTERS; i++)
			v2[e * OLD_ENTRY_COUNTERS + i] = 1000 * (uint64_t)(e + 1) + (uint64_t)i;
	pd_stats_t *now = pd_stats_new(2, 1, &fd_new);
	assert_non_null(now);
	now->started_unix = 2000;
	carry_from_fd(now, fd_old);

	/* Version 2's counters are version 3's first ones: worker 0 (entries 0 and 3 there)
	 * to worker 0, workers 1 and 2 (entries 1, 2, 4, 5) to worker 1. */
	const uint64_t *c0 = counters_of(pd_stats_carried(now, 0));
	const uint64_t *c1 = counters_of(pd_stats_carried(now, 1));
	for (uint64_t i = 0; i < OLD_COUNTERS; i++) {
		assert_int_equal(c0[i], 1000 + 4000 + 2 * i);
		assert_int_equal(c1[i], 2000 + 3000 + 5000 + 6000 + 4 * i);
	}
	for (size_t i = OLD_COUNTERS; i < sizeof(pd_worker_stats_t) / 8; i++)
		assert_int_equal(c0[i] + c1[i], 0);
	pd_worker_stats_t t;
	pd_stats_worker(now, 2, &t);
	assert_int_equal(t.net.queries, 0);
	pd_stats_total(now, &t);
	assert_int_equal(t.net.queries, 1000 + 2000 + 3000 + 4000 + 5000 + 6000);
	assert_int_equal(t.dns.truncated, 21000 + 6 * 13);
	assert_int_equal(t.dns.rcode[31], 21000 + 6 * 49);
	assert_int_equal(t.tcp.accepted, 0);
	assert_int_equal(now->started_unix, 1000);
	pd_stats_unmap(now);
	close(fd_new);
	old_segment_free(v2, size, fd_old);
}

/* A predecessor of layout version 1 (before the traffic and DNS counters were apart). */
static void totals_carry_over_from_version_1(void **state)
{
	int fd_old, fd_new;
	size_t size;
	uint64_t *v1 = old_segment(1, 1, &fd_old, &size);
	pd_stats_t *now = pd_stats_new(1, 1, &fd_new);
	assert_non_null(now);
	/* Version 1's order: queries, responses, dropped, truncated, bytes_in, bytes_out,
	 * batches, batch_fill[7], cache hits, misses, uncacheable, inserts, rcode[32]. */
	for (int i = 0; i < OLD_COUNTERS; i++)
		v1[i] = 1000 + (uint64_t)i;
	carry_from_fd(now, fd_old);
	pd_worker_stats_t t;
	pd_stats_total(now, &t);
	assert_int_equal(t.net.queries, 1000);
	assert_int_equal(t.net.responses, 1001);
	assert_int_equal(t.net.dropped, 1002);
	assert_int_equal(t.dns.truncated, 1003);
	assert_int_equal(t.net.bytes_in, 1004);
	assert_int_equal(t.net.bytes_out, 1005);
	assert_int_equal(t.net.batches, 1006);
	assert_int_equal(t.net.batch_fill[0], 1007);
	assert_int_equal(t.net.batch_fill[6], 1013);
	assert_int_equal(t.dns.cache.hits, 1014);
	assert_int_equal(t.dns.cache.inserts, 1017);
	assert_int_equal(t.dns.rcode[0], 1018);
	assert_int_equal(t.dns.rcode[31], 1049);
	assert_int_equal(pd_stats_carried(now, 1)->net.queries, 0);
	assert_int_equal(t.tcp.accepted + t.tcp.closed[0], 0);
	pd_stats_unmap(now);
	close(fd_new);
	old_segment_free(v1, size, fd_old);
}

/* A predecessor of layout version 3: 512-byte entries, the guard's counters not there yet,
 * the others where version 4 has them. */
static void totals_carry_over_from_version_3(void **state)
{
	const uint32_t workers = 2, entry = 512 / 8;
	size_t size = 128 + 2 * (size_t)workers * entry * 8;
	int fd = memfd_create("v3-stats", MFD_CLOEXEC), fd_new;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	uint32_t *h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(h != MAP_FAILED);
	h[0] = 0x70647374;
	h[1] = 3;
	h[2] = workers;
	h[3] = 1; /* one TCP thread */
	uint64_t *c = (uint64_t *)((char *)h + 128);
	for (uint32_t e = 0; e < 2 * workers; e++)
		for (uint32_t i = 0; i < 62; i++) /* 62 counters, 2 of padding */
			c[e * entry + i] = 1000 * e + i;
	pd_stats_t *old = pd_stats_map(fd);
	assert_non_null(old);
	pd_stats_t *now = pd_stats_new(1, 1, &fd_new);
	pd_stats_carry(now, old);
	/* Worker 0 (UDP) carries old entries 0 and 2 (live and carried); 1 (TCP) 1 and 3. */
	const pd_counter_t *udp = (const pd_counter_t *)pd_stats_carried(now, 0);
	const pd_counter_t *tcp = (const pd_counter_t *)pd_stats_carried(now, 1);
	for (uint32_t i = 0; i < 62; i++) {
		assert_int_equal(udp[i], 0 + 2000 + 2 * i);
		assert_int_equal(tcp[i], 1000 + 3000 + 2 * i);
	}
	assert_int_equal(pd_stats_carried(now, 0)->guard.rrl_dropped, 0);
	assert_int_equal(pd_stats_carried(now, 0)->guard.badcookie, 0);
	assert_int_equal(now->cookie_master_set, 0);
	pd_stats_unmap(old);
	pd_stats_unmap(now);
	munmap(h, size);
	close(fd);
	close(fd_new);
}

/* A predecessor of layout version 4: 10 close reasons, so its guard counters sit one
 * place before where version 5 has them. */
static void totals_carry_over_from_version_4(void **state)
{
	const uint32_t workers = 2, entry = 576 / 8;
	size_t size = 128 + 2 * (size_t)workers * entry * 8;
	int fd = memfd_create("v4-stats", MFD_CLOEXEC), fd_new;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	uint32_t *h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(h != MAP_FAILED);
	h[0] = 0x70647374;
	h[1] = 4;
	h[2] = workers;
	h[3] = 1;
	uint64_t *c = (uint64_t *)((char *)h + 128);
	for (uint32_t e = 0; e < 2 * workers; e++)
		for (uint32_t i = 0; i < 68; i++) /* 62 counters, then the guard's 6 */
			c[e * entry + i] = 1000 * e + i + 1;
	pd_stats_t *old = pd_stats_map(fd);
	assert_non_null(old);
	pd_stats_t *now = pd_stats_new(1, 1, &fd_new);
	pd_stats_carry(now, old);
	const pd_counter_t *udp = (const pd_counter_t *)pd_stats_carried(now, 0);
	for (uint32_t i = 0; i < 62; i++)
		assert_int_equal(udp[i], 0 + 2000 + 2 * (i + 1));
	assert_int_equal(pd_stats_carried(now, 0)->tcp.closed[PD_TCP_CLOSE_TAKEN], 0);
	for (uint32_t i = 62; i < 68; i++)
		assert_int_equal(udp[i + 1], 0 + 2000 + 2 * (i + 1));
	assert_int_equal(pd_stats_carried(now, 1)->guard.badcookie,
	                 1000 + 3000 + 2 * (1 + 62 + offsetof(pd_guard_stats_t, badcookie) / 8));
	pd_stats_unmap(old);
	pd_stats_unmap(now);
	munmap(h, size);
	close(fd);
	close(fd_new);
}

static void foreign_memory_is_refused(void **state)
{
	int fd = memfd_create("not-stats", 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_null(pd_stats_map(fd));
	close(fd);

	/* Ours, but not as a successor can read it. */
	pd_stats_t *s = pd_stats_new(1, 1, &fd);
	assert_non_null(s);
	s->tcp_workers = 3; /* more TCP threads than workers */
	assert_null(pd_stats_map(fd));
	s->tcp_workers = 1;
	s->version = 6; /* a layout from the future */
	assert_null(pd_stats_map(fd));
	s->version = 5;
	s->workers = 3; /* more than the segment holds */
	assert_null(pd_stats_map(fd));
	s->workers = 2;
	pd_stats_t *seen = pd_stats_map(fd);
	assert_non_null(seen);
	pd_stats_unmap(seen);
	pd_stats_unmap(s);
	close(fd);

	size_t size;
	uint64_t *v2 = old_segment(2, 2, &fd, &size);
	assert_int_equal(ftruncate(fd, (off_t)size - 8), 0);
	assert_null(pd_stats_map(fd));
	munmap((char *)v2 - 128, size);
	close(fd);
}

/* Two UDP workers and a TCP thread with some traffic and connections. */
static pd_stats_t *busy_segment(int *fd)
{
	pd_stats_t *s = pd_stats_new(2, 1, fd);
	assert_non_null(s);
	s->live[0].net.queries = 10;
	s->live[0].net.responses = 10;
	s->live[0].net.bytes_in = 400;
	pd_stats_carried(s, 1)->net.queries = 20;
	s->live[1].dns.rcode[3] = 1;
	s->live[2].net.queries = 5;
	s->live[2].net.responses = 4;
	s->live[2].net.dropped = 1;
	s->live[2].net.bytes_out = 300;
	s->live[2].tcp.accepted = 4;
	pd_stats_carried(s, 2)->tcp.adopted = 1;
	s->live[2].tcp.closed[PD_TCP_CLOSE_EOF] = 2;
	s->live[2].tcp.closed[PD_TCP_CLOSE_IDLE] = 1;
	s->live[0].guard.rrl_slipped = 7;
	pd_stats_carried(s, 1)->guard.badcookie = 3;
	return s;
}

static void control_stats_per_transport(void **state)
{
	int fd;
	pd_stats_t *s = busy_segment(&fd);
	char buf[8192], want[400];
	size_t n = pd_control_stats(s, NULL, false, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, "worker 0: transport udp queries 10 responses 10 "));
	assert_non_null(strstr(buf, "\nworker 2: transport tcp queries 5 responses 4 dropped 1 "));
	assert_non_null(strstr(buf, "\ntotal: queries 35 responses 14 dropped 1 "));
	assert_non_null(strstr(buf, "\nudp: workers 2 queries 30 responses 10 dropped 0 "
	                            "bytes-in 400 bytes-out 0\n"));
	assert_non_null(strstr(buf, "\ntcp: workers 1 queries 5 responses 4 dropped 1 "
	                            "bytes-in 0 bytes-out 300\n"));
	assert_non_null(
	    strstr(buf, "\ntcp-connections: open 2 accepted 4 adopted 1 closed 3\ntcp-closed: "));
	snprintf(want, sizeof(want), "tcp-closed: %s 2 %s 1 %s 0 ",
	         pd_tcp_close_names[PD_TCP_CLOSE_EOF], pd_tcp_close_names[PD_TCP_CLOSE_IDLE],
	         pd_tcp_close_names[PD_TCP_CLOSE_IO]);
	assert_non_null(strstr(buf, want));
	snprintf(want, sizeof(want),
	         " %s 0\nguard: rrl-dropped 0 rrl-slipped 7 cookie-client 0 cookie-valid 0 "
	         "cookie-invalid 0 badcookie 3\ntransfers: notify-in 0 notify-refused 0 "
	         "notify-out 0 notify-acked 0 refresh 0 in-axfr 0 in-ixfr 0 in-failed 0 "
	         "out-axfr 0 out-ixfr 0 out-refused 0 out-failed 0 expired 0\n"
	         "rcodes: NXDOMAIN 1\n",
	         pd_tcp_close_names[PD_TCP_CLOSE_REASONS - 1]);
	assert_non_null(strstr(buf, want));
	/* The spread is the UDP workers': 10 over 20, the TCP thread's 5 left out. */
	assert_non_null(strstr(buf, "\nspread (least/most busy worker): 0.500\n"));

	n = pd_control_stats(s, NULL, true, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, "{\"workers\": [{\"worker\": 0, \"transport\": \"udp\", "
	                            "\"queries\": 10, "));
	assert_non_null(strstr(buf, "}, {\"worker\": 2, \"transport\": \"tcp\", \"queries\": 5, "));
	assert_non_null(strstr(buf,
	                       "\"transports\": {\"udp\": {\"workers\": 2, \"queries\": 30, "
	                       "\"responses\": 10, \"dropped\": 0, \"bytes_in\": 400, "
	                       "\"bytes_out\": 0}, \"tcp\": {\"workers\": 1, \"queries\": 5, "));
	snprintf(want, sizeof(want),
	         "\"tcp_connections\": {\"open\": 2, \"accepted\": 4, \"adopted\": 1, "
	         "\"closed\": 3, \"closed_by_reason\": {\"%s\": 2, \"%s\": 1, ",
	         pd_tcp_close_names[PD_TCP_CLOSE_EOF], pd_tcp_close_names[PD_TCP_CLOSE_IDLE]);
	assert_non_null(strstr(buf, want));
	assert_non_null(strstr(buf, "\"spread\": 0.500, \"since_unix\": "));
	/* One line of JSON whose brackets pair up (no string holds one). */
	char stack[16];
	int depth = 0;
	for (const char *p = buf; *p; p++) {
		if (*p == '{' || *p == '[') {
			assert_true(depth < (int)sizeof(stack));
			stack[depth++] = *p;
		} else if (*p == '}' || *p == ']') {
			assert_true(depth > 0);
			assert_int_equal(stack[--depth], *p == '}' ? '{' : '[');
		}
		assert_true(*p != '\n' || p[1] == '\0');
	}
	assert_int_equal(depth, 0);
	assert_int_equal(buf[n - 1], '\n');
	pd_stats_unmap(s);
	close(fd);
}

static void tcp_open_never_below_zero(void **state)
{
	pd_tcp_stats_t t = {0};
	t.accepted = 2;
	t.closed[PD_TCP_CLOSE_HANDED] = 3; /* read while a close and an accept crossed */
	assert_int_equal(pd_stats_tcp_open(&t), 0);
	t.adopted = 2;
	assert_int_equal(pd_stats_tcp_open(&t), 1);
}

static void metrics_label_the_transport(void **state)
{
	int fd;
	pd_stats_t *s = busy_segment(&fd);
	static char buf[65536];
	char want[200];
	size_t n = pd_metrics_render(s, NULL, NULL, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, "\npindns_queries_total{worker=\"0\",transport=\"udp\"} 10\n"));
	assert_non_null(strstr(buf, "\npindns_queries_total{worker=\"1\",transport=\"udp\"} 20\n"));
	assert_non_null(strstr(buf, "\npindns_queries_total{worker=\"2\",transport=\"tcp\"} 5\n"));
	assert_non_null(
	    strstr(buf, "\npindns_sent_bytes_total{worker=\"2\",transport=\"tcp\"} 300\n"));
	assert_non_null(strstr(buf, "\npindns_responses_by_rcode_total{worker=\"1\",transport="
	                            "\"udp\",rcode=\"NXDOMAIN\"} 1\n"));
	assert_non_null(strstr(buf, "\n# TYPE pindns_tcp_connections_open gauge\n"
	                            "pindns_tcp_connections_open 2\n"));
	assert_non_null(strstr(buf, "\npindns_tcp_connections_accepted_total 4\n"));
	assert_non_null(strstr(buf, "\npindns_tcp_connections_adopted_total 1\n"));
	for (int r = 0; r < PD_TCP_CLOSE_REASONS; r++) {
		snprintf(want, sizeof(want),
		         "\npindns_tcp_connections_closed_total{reason=\"%s\"} %d\n",
		         pd_tcp_close_names[r],
		         r == PD_TCP_CLOSE_EOF    ? 2
		         : r == PD_TCP_CLOSE_IDLE ? 1
		                                  : 0);
		assert_non_null(strstr(buf, want));
	}
	/* Every line a comment or a sample in the exposition format. */
	regex_t sample;
	assert_int_equal(regcomp(&sample,
	                         "^[a-z_]+(\\{[a-z]+=\"[^\"]*\"(,[a-z]+=\"[^\"]*\")*\\})? [0-9]+$",
	                         REG_EXTENDED | REG_NOSUB),
	                 0);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#')
			continue;
		assert_int_equal(regexec(&sample, line, 0, NULL, 0), 0);
	}
	regfree(&sample);
	pd_stats_unmap(s);
	close(fd);
}

/* The transfer counters: this process's own, beside the shared segment's. */
static void transfer_counters(void **state)
{
	int fd;
	pd_stats_t *s = busy_segment(&fd);
	static char buf[65536];
	pd_xfr_stats_t x = {0};
	pd_counter_add(&x.notify_in, 3);
	pd_counter_add(&x.notify_refused, 1);
	pd_counter_add(&x.xfr_in_ixfr, 2);
	pd_counter_add(&x.xfr_out_axfr, 5);
	pd_counter_add(&x.expired, 1);
	size_t n = pd_control_stats(s, &x, false, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf,
	                       "\ntransfers: notify-in 3 notify-refused 1 notify-out 0 "
	                       "notify-acked 0 refresh 0 in-axfr 0 in-ixfr 2 in-failed 0 "
	                       "out-axfr 5 out-ixfr 0 out-refused 0 out-failed 0 expired 1\n"));
	n = pd_control_stats(s, &x, true, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, ", \"transfers\": {\"notify_in\": 3, \"notify_refused\": 1, "
	                            "\"notify_out\": 0, \"notify_acked\": 0, \"refresh\": 0, "
	                            "\"in_axfr\": 0, \"in_ixfr\": 2, \"in_failed\": 0, "
	                            "\"out_axfr\": 5, \"out_ixfr\": 0, \"out_refused\": 0, "
	                            "\"out_failed\": 0, \"expired\": 1}, \"spread\": "));
	n = pd_metrics_render(s, NULL, &x, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, "\n# TYPE pindns_xfr_notify_received_total counter\n"
	                            "pindns_xfr_notify_received_total{result=\"accepted\"} 3\n"
	                            "pindns_xfr_notify_received_total{result=\"refused\"} 1\n"));
	assert_non_null(strstr(buf, "\npindns_xfr_in_total{kind=\"axfr\"} 0\n"
	                            "pindns_xfr_in_total{kind=\"ixfr\"} 2\n"));
	assert_non_null(strstr(buf, "\npindns_xfr_out_total{kind=\"axfr\"} 5\n"));
	assert_non_null(strstr(buf, "\npindns_xfr_expired_total 1\n"));
	/* Without them (no transfer side), the same families at 0. */
	n = pd_metrics_render(s, NULL, NULL, buf, sizeof(buf));
	assert_non_null(strstr(buf, "\npindns_xfr_out_total{kind=\"axfr\"} 0\n"));
	pd_stats_unmap(s);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(workers_on_their_own_cache_lines),
	    cmocka_unit_test(totals_carry_over_a_handoff),
	    cmocka_unit_test(carry_by_transport_when_the_counts_differ),
	    cmocka_unit_test(totals_carry_over_from_version_2),
	    cmocka_unit_test(totals_carry_over_from_version_1),
	    cmocka_unit_test(totals_carry_over_from_version_3),
	    cmocka_unit_test(totals_carry_over_from_version_4),
	    cmocka_unit_test(foreign_memory_is_refused),
	    cmocka_unit_test(control_stats_per_transport),
	    cmocka_unit_test(tcp_open_never_below_zero),
	    cmocka_unit_test(metrics_label_the_transport),
	    cmocka_unit_test(transfer_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
