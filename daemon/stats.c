/* The shared-memory counter segment: create, map, carry over, sum. */
#define _GNU_SOURCE
#include "pindns/stats.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PD_STATS_MAGIC 0x70647374u /* "pdst" */
/* 2: traffic and DNS counters apart (truncated moved behind the traffic ones).
 * 3: TCP threads as workers after the UDP ones (tcp_workers in the header), and each
 *    entry's connection counters behind the DNS ones.
 * 4: the guard's counters behind those (an entry of 9 cache lines, where 3's was 8 with
 *    its counters in the same places), the cookie master secret in the header.
 * 5: a TCP close reason more ("taken"), which moves the guard's counters one up. */
#define PD_STATS_VERSION 5
#define PD__V3_ENTRY 512
/* Versions 3 and 4: the counters before the guard's (the traffic, DNS and connection
 * ones, 10 close reasons), in the places version 5 has them; version 4's 6 guard
 * counters followed, one place before where version 5 has them. */
#define PD__V4_BEFORE_GUARD 62
#define PD__V4_GUARD 6

/* The struct is nothing but counters (and trailing alignment padding, kept zero). */
#define PD__COUNTERS (sizeof(pd_worker_stats_t) / sizeof(pd_counter_t))

/* Versions 1 and 2: an entry was 7 cache lines, 50 counters and 6 of padding. */
#define PD__OLD_ENTRY 448
#define PD__OLD_COUNTERS 50

static size_t pd__entry_size(uint32_t version)
{
	return version < 3    ? PD__OLD_ENTRY
	       : version == 3 ? PD__V3_ENTRY
	                      : sizeof(pd_worker_stats_t);
}

static size_t pd__stats_size(uint32_t version, uint32_t workers)
{
	return sizeof(pd_stats_t) + 2u * workers * pd__entry_size(version);
}

pd_stats_t *pd_stats_new(int udp_workers, int tcp_workers, int *fd)
{
	*fd = -1;
	if (udp_workers < 0 || tcp_workers < 0) {
		errno = EINVAL;
		return NULL;
	}
	int e;
	uint32_t workers = (uint32_t)udp_workers + (uint32_t)tcp_workers;
	size_t size = pd__stats_size(PD_STATS_VERSION, workers);
	*fd = memfd_create("pindns-stats", MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	if (ftruncate(*fd, (off_t)size) < 0)
		goto fail;
	pd_stats_t *s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (s == MAP_FAILED)
		goto fail;
	s->magic = PD_STATS_MAGIC;
	s->version = PD_STATS_VERSION;
	s->workers = workers;
	s->tcp_workers = (uint32_t)tcp_workers;
	s->started_unix = (uint64_t)time(NULL);
	return s;
fail:
	e = errno; /* the caller reports it, not close's */
	close(*fd);
	*fd = -1;
	errno = e;
	return NULL;
}

pd_stats_t *pd_stats_map(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(pd_stats_t))
		return NULL;
	pd_stats_t *s = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED)
		return NULL;
	if (s->magic != PD_STATS_MAGIC || s->version < 1 || s->version > PD_STATS_VERSION ||
	    (s->version >= 3 && s->tcp_workers > s->workers) ||
	    (size_t)st.st_size < pd__stats_size(s->version, s->workers)) {
		munmap(s, (size_t)st.st_size);
		return NULL;
	}
	return s;
}

void pd_stats_unmap(pd_stats_t *s)
{
	if (s)
		munmap(s, pd__stats_size(s->version, s->workers));
}

/* Adds from to to; to must be written by this thread alone (carried totals, a copy). */
static void pd__add(pd_worker_stats_t *to, const pd_worker_stats_t *from)
{
	pd_counter_t *t = (pd_counter_t *)to;
	const pd_counter_t *f = (const pd_counter_t *)from;
	for (size_t i = 0; i < PD__COUNTERS; i++)
		pd_counter_add(&t[i], pd_counter_get(&f[i]));
}

/*
 * Where counter i of a version 1 entry is now: version 1 kept truncated (3) among the
 * traffic counters, which version 2 moved one up to make room behind them. Version 2's
 * counters are version 3's first ones, in the same places.
 */
static size_t pd__v1_index(size_t i)
{
	return i < 3    ? i
	       : i == 3 ? offsetof(pd_worker_stats_t, dns.truncated) / 8
	       : i < 14 ? i - 1
	                : i;
}

/* Adds entry i of a predecessor's live[] to to, whatever layout version it has: its
 * entries may not be the size of ours. */
static void pd__add_from(pd_worker_stats_t *to, const pd_stats_t *from, uint32_t i)
{
	const void *entry = (const char *)from->live + (size_t)i * pd__entry_size(from->version);
	if (from->version == PD_STATS_VERSION) {
		pd__add(to, entry);
		return;
	}
	pd_counter_t *t = (pd_counter_t *)to;
	const pd_counter_t *f = entry;
	if (from->version == 3 || from->version == 4) {
		size_t n = PD__V4_BEFORE_GUARD + (from->version == 4 ? PD__V4_GUARD : 0);
		for (size_t k = 0; k < n; k++)
			pd_counter_add(&t[k < PD__V4_BEFORE_GUARD ? k : k + 1],
			               pd_counter_get(&f[k]));
		return;
	}
	for (size_t k = 0; k < PD__OLD_COUNTERS; k++)
		pd_counter_add(&t[from->version == 1 ? pd__v1_index(k) : k], pd_counter_get(&f[k]));
}

/* Our worker that carries the totals of the predecessor's k-th worker of transport t. */
static uint32_t pd__carrier(const pd_stats_t *s, pd_transport_t t, uint32_t k)
{
	uint32_t first = t == PD_TRANSPORT_UDP ? 0 : pd_stats_udp_workers(s);
	uint32_t count = t == PD_TRANSPORT_UDP ? pd_stats_udp_workers(s) : s->tcp_workers;
	if (count == 0)
		return s->workers - 1;
	return first + (k < count ? k : count - 1);
}

void pd_stats_carry(pd_stats_t *s, const pd_stats_t *from)
{
	/* Before version 3 that header word was padding, and every worker UDP. */
	uint32_t from_tcp = from->version >= 3 ? from->tcp_workers : 0;
	uint32_t from_udp = from->workers - from_tcp;
	for (uint32_t w = 0; s->workers && w < from->workers; w++) {
		uint32_t to = w < from_udp ? pd__carrier(s, PD_TRANSPORT_UDP, w)
		                           : pd__carrier(s, PD_TRANSPORT_TCP, w - from_udp);
		pd__add_from(pd_stats_carried(s, (int)to), from, w);
		pd__add_from(pd_stats_carried(s, (int)to), from, from->workers + w);
	}
	if (from->started_unix && from->started_unix < s->started_unix)
		s->started_unix = from->started_unix;
}

void pd_stats_worker(const pd_stats_t *s, uint32_t w, pd_worker_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	pd__add(out, &s->live[w]);
	pd__add(out, &s->live[s->workers + w]);
}

void pd_stats_total(const pd_stats_t *s, pd_worker_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < 2 * s->workers; i++)
		pd__add(out, &s->live[i]);
}

void pd_stats_transport_total(const pd_stats_t *s, pd_transport_t t, pd_worker_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t w = 0; w < s->workers; w++)
		if (pd_stats_transport(s, w) == t) {
			pd__add(out, &s->live[w]);
			pd__add(out, &s->live[s->workers + w]);
		}
}

uint64_t pd_stats_tcp_closed(const pd_tcp_stats_t *t)
{
	uint64_t closed = 0;
	for (int r = 0; r < PD_TCP_CLOSE_REASONS; r++)
		closed += pd_counter_get(&t->closed[r]);
	return closed;
}

uint64_t pd_stats_tcp_open(const pd_tcp_stats_t *t)
{
	uint64_t closed = pd_stats_tcp_closed(t);
	uint64_t opened = pd_counter_get(&t->accepted) + pd_counter_get(&t->adopted);
	return opened > closed ? opened - closed : 0;
}
