/* Per-worker counters in shared memory, so their totals outlive a restart by handoff. */
#pragma once

#include <stdint.h>

#include "pindns/cache.h"

#define PD_STATS_RCODES 32 /* rcodes with the extended bits: BADVERS is 16 */
#define PD_STATS_FILL 7    /* batch fill histogram: 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+ */

/** One worker's counters: written by that worker alone, on cache lines of their own. */
typedef struct pd_worker_stats {
	_Alignas(64) uint64_t queries; /* datagrams received */
	uint64_t responses;            /* datagrams sent */
	uint64_t dropped;              /* received and not answered */
	uint64_t truncated;            /* answered with TC */
	uint64_t bytes_in, bytes_out;
	uint64_t batches; /* recvmmsg calls that returned datagrams */
	uint64_t batch_fill[PD_STATS_FILL];
	pd_cache_stats_t cache; /* counted there by the worker's cache itself */
	uint64_t rcode[PD_STATS_RCODES];
} pd_worker_stats_t;

/** The shared segment: live counters, and the totals carried over from predecessors. */
typedef struct pd_stats {
	uint32_t magic, version;
	uint32_t workers, pad;
	_Alignas(64) uint64_t started_unix;
	pd_worker_stats_t live[]; /* workers entries, then as many carried */
} pd_stats_t;

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

/** Sums live and carried counters over all workers into out. */
void pd_stats_total(const pd_stats_t *s, pd_worker_stats_t *out);
