/* Per-worker counters in shared memory, so their totals outlive a restart by handoff. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "pindns/cache.h"
#include "pindns/counter.h"
#include "pindns/engine.h"

#define PD_STATS_RCODES 32 /* rcodes with the extended bits: BADVERS is 16 */

/** What the DNS side counts of a worker's answers. */
typedef struct pd_dns_stats {
	pd_counter_t truncated; /* answered with TC */
	pd_cache_stats_t cache; /* counted there by the worker's cache itself */
	pd_counter_t rcode[PD_STATS_RCODES];
} pd_dns_stats_t;

/**
 * One worker's counters: its traffic, counted by the engine, and its answers: written
 * by that worker alone (pd_counter_add), on cache lines of their own, and read by the
 * control and metrics code while it runs (pd_counter_get).
 */
typedef struct pd_worker_stats {
	_Alignas(64) pd_engine_stats_t net;
	pd_dns_stats_t dns;
} pd_worker_stats_t;

/** The shared segment: live counters, and the totals carried over from predecessors. */
typedef struct pd_stats {
	uint32_t magic, version;
	uint32_t workers, pad;
	_Alignas(64) uint64_t started_unix;
	pd_worker_stats_t live[]; /* workers entries, then as many carried */
} pd_stats_t;

/* A successor maps its predecessor's segment: a layout change needs a new
 * PD_STATS_VERSION (stats.c), or the two would read each other's counters wrong. */
_Static_assert(sizeof(pd_worker_stats_t) == 448 && _Alignof(pd_worker_stats_t) == 64,
               "pd_worker_stats_t layout changed: bump PD_STATS_VERSION");
_Static_assert(offsetof(pd_worker_stats_t, net.batch_fill) == 48 &&
                   offsetof(pd_worker_stats_t, dns.truncated) == 104 &&
                   offsetof(pd_worker_stats_t, dns.cache) == 112 &&
                   offsetof(pd_worker_stats_t, dns.rcode) == 144,
               "pd_worker_stats_t layout changed: bump PD_STATS_VERSION");
_Static_assert(offsetof(pd_stats_t, started_unix) == 64 && offsetof(pd_stats_t, live) == 128,
               "pd_stats_t layout changed: bump PD_STATS_VERSION");

/** The carried-over totals of worker w (same layout as live). */
static inline pd_worker_stats_t *pd_stats_carried(pd_stats_t *s, int w)
{
	return &s->live[s->workers + (uint32_t)w];
}

/** A new zeroed segment for workers (memfd-backed; *fd for handing over). NULL on error. */
pd_stats_t *pd_stats_new(int workers, int *fd);

/** Maps a segment received from a predecessor; NULL unless it is one of ours. */
pd_stats_t *pd_stats_map(int fd);

/** Unmaps a segment. */
void pd_stats_unmap(pd_stats_t *s);

/**
 * Adds everything a predecessor counted (its live and carried totals) to s's carried
 * totals, worker by worker. Call once its workers have stopped.
 */
void pd_stats_carry(pd_stats_t *s, const pd_stats_t *from);

/**
 * Sums worker w's live and carried counters into out, a private copy: its fields may be
 * read directly. Any thread may call this while the workers run.
 */
void pd_stats_worker(const pd_stats_t *s, uint32_t w, pd_worker_stats_t *out);

/** Sums live and carried counters over all workers into out, like pd_stats_worker(). */
void pd_stats_total(const pd_stats_t *s, pd_worker_stats_t *out);
