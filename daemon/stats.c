/* The shared-memory counter segment: create, map, carry over, sum. */
#define _GNU_SOURCE
#include "pindns/stats.h"

#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PD_STATS_MAGIC 0x70647374u /* "pdst" */
/* 2: traffic and DNS counters apart (truncated moved behind the traffic ones). */
#define PD_STATS_VERSION 2

static size_t pd__stats_size(uint32_t workers)
{
	return sizeof(pd_stats_t) + 2u * workers * sizeof(pd_worker_stats_t);
}

pd_stats_t *pd_stats_new(int workers, int *fd)
{
	size_t size = pd__stats_size((uint32_t)workers);
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
	s->workers = (uint32_t)workers;
	s->started_unix = (uint64_t)time(NULL);
	return s;
fail:
	close(*fd);
	*fd = -1;
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
	if (s->magic != PD_STATS_MAGIC || (s->version != PD_STATS_VERSION && s->version != 1) ||
	    (size_t)st.st_size < pd__stats_size(s->workers)) {
		munmap(s, (size_t)st.st_size);
		return NULL;
	}
	return s;
}

void pd_stats_unmap(pd_stats_t *s)
{
	if (s)
		munmap(s, pd__stats_size(s->workers));
}

/* The struct is nothing but counters (and trailing alignment padding, kept zero). */
#define PD__COUNTERS (sizeof(pd_worker_stats_t) / sizeof(pd_counter_t))

/* Adds from to to; to must be written by this thread alone (carried totals, a copy). */
static void pd__add(pd_worker_stats_t *to, const pd_worker_stats_t *from)
{
	pd_counter_t *t = (pd_counter_t *)to;
	const pd_counter_t *f = (const pd_counter_t *)from;
	for (size_t i = 0; i < PD__COUNTERS; i++)
		pd_counter_add(&t[i], pd_counter_get(&f[i]));
}

/*
 * Where counter i of a version 1 entry is in version 2: version 1 kept truncated (3)
 * among the traffic counters, which version 2 moved one up to make room behind them.
 */
static size_t pd__v1_index(size_t i)
{
	return i < 3    ? i
	       : i == 3 ? offsetof(pd_worker_stats_t, dns.truncated) / 8
	       : i < 14 ? i - 1
	                : i;
}

/* Adds a predecessor's entry to to, whatever layout version it has. */
static void pd__add_from(pd_worker_stats_t *to, const pd_worker_stats_t *from, uint32_t version)
{
	if (version == PD_STATS_VERSION) {
		pd__add(to, from);
		return;
	}
	pd_counter_t *t = (pd_counter_t *)to;
	const pd_counter_t *f = (const pd_counter_t *)from;
	for (size_t i = 0; i < PD__COUNTERS; i++)
		pd_counter_add(&t[pd__v1_index(i)], pd_counter_get(&f[i]));
}

void pd_stats_carry(pd_stats_t *s, const pd_stats_t *from)
{
	for (uint32_t w = 0; w < from->workers; w++) {
		/* Same socket set, so the same worker count; fold any extra into worker 0. */
		pd_worker_stats_t *to = pd_stats_carried(s, w < s->workers ? (int)w : 0);
		pd__add_from(to, &from->live[w], from->version);
		pd__add_from(to, &from->live[from->workers + w], from->version);
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
