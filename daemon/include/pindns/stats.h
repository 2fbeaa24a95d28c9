/* Per-worker counters in shared memory, so their totals outlive a restart by handoff. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "pindns/cache.h"
#include "pindns/counter.h"
#include "pindns/engine.h"
#include "pindns/guard.h"

#define PD_STATS_RCODES 32 /* rcodes with the extended bits: BADVERS is 16 */

/** What the DNS side counts of a worker's answers. */
typedef struct pd_dns_stats {
	pd_counter_t truncated; /* answered with TC */
	pd_cache_stats_t cache; /* counted there by the worker's cache itself */
	pd_counter_t rcode[PD_STATS_RCODES];
} pd_dns_stats_t;

/**
 * One worker's counters: its traffic, counted by the engine, its answers, and for a TCP
 * thread its connections (counted by the engine too; zero for a UDP worker): written by
 * that worker alone (pd_counter_add), on cache lines of their own, and read by the
 * control and metrics code while it runs (pd_counter_get).
 */
typedef struct pd_worker_stats {
	_Alignas(64) pd_engine_stats_t net;
	pd_dns_stats_t dns;
	pd_tcp_stats_t tcp;
	pd_guard_stats_t guard; /* cookies and rate limits, counted by the worker's guard */
} pd_worker_stats_t;

/** The transport a worker serves. */
typedef enum pd_transport {
	PD_TRANSPORT_UDP,
	PD_TRANSPORT_TCP,
} pd_transport_t;

#define PD_TRANSPORTS 2

/**
 * The shared segment: live counters, and the totals carried over from predecessors. The
 * workers are numbered as the engine numbers them: the UDP workers first, then the TCP
 * threads (the last tcp_workers of them).
 */
typedef struct pd_stats {
	uint32_t magic, version;
	uint32_t workers;     /* all of them, UDP and TCP */
	uint32_t tcp_workers; /* zero padding in a version 2 segment, which had UDP alone */
	_Alignas(64) uint64_t started_unix;
	/* Version 4: the random master secret of DNS cookies (cookie_master_set 1), which a
	 * successor takes on, so that the cookies its predecessor gave stay valid. */
	uint32_t cookie_master_set;
	uint8_t cookie_master[PD_COOKIE_SECRET_LEN];
	pd_worker_stats_t live[]; /* workers entries, then as many carried */
} pd_stats_t;

/* A successor maps its predecessor's segment: a layout change needs a new
 * PD_STATS_VERSION (stats.c), or the two would read each other's counters wrong. The
 * sizes of the engine's structs are checked too: a new counter there (a close reason, a
 * batch fill bucket) moves what follows it, and the padding would hide that from the
 * size of the whole. */
_Static_assert(sizeof(pd_worker_stats_t) == 576 && _Alignof(pd_worker_stats_t) == 64,
               "pd_worker_stats_t layout changed: bump PD_STATS_VERSION");
_Static_assert(sizeof(pd_engine_stats_t) == 104 && sizeof(pd_tcp_stats_t) == 104 &&
                   PD_TCP_CLOSE_REASONS == 11,
               "the engine's counters changed: bump PD_STATS_VERSION");
_Static_assert(offsetof(pd_worker_stats_t, net.batch_fill) == 48 &&
                   offsetof(pd_worker_stats_t, dns.truncated) == 104 &&
                   offsetof(pd_worker_stats_t, dns.cache) == 112 &&
                   offsetof(pd_worker_stats_t, dns.rcode) == 144 &&
                   offsetof(pd_worker_stats_t, tcp.accepted) == 400 &&
                   offsetof(pd_worker_stats_t, tcp.closed) == 416 &&
                   offsetof(pd_worker_stats_t, guard) == 504 && sizeof(pd_guard_stats_t) == 48,
               "pd_worker_stats_t layout changed: bump PD_STATS_VERSION");
_Static_assert(offsetof(pd_stats_t, workers) == 8 && offsetof(pd_stats_t, tcp_workers) == 12 &&
                   offsetof(pd_stats_t, started_unix) == 64 &&
                   offsetof(pd_stats_t, cookie_master) == 76 && offsetof(pd_stats_t, live) == 128,
               "pd_stats_t layout changed: bump PD_STATS_VERSION");

/** The carried-over totals of worker w (same layout as live). */
static inline pd_worker_stats_t *pd_stats_carried(pd_stats_t *s, int w)
{
	return &s->live[s->workers + (uint32_t)w];
}

/** UDP workers: 0 to this - 1; the TCP threads follow them. */
static inline uint32_t pd_stats_udp_workers(const pd_stats_t *s)
{
	return s->workers - s->tcp_workers;
}

/** The transport worker w serves. */
static inline pd_transport_t pd_stats_transport(const pd_stats_t *s, uint32_t w)
{
	return w < pd_stats_udp_workers(s) ? PD_TRANSPORT_UDP : PD_TRANSPORT_TCP;
}

/** The transport's name as pindnsctl and the metrics show it: "udp" or "tcp". */
static inline const char *pd_transport_name(pd_transport_t t)
{
	return t == PD_TRANSPORT_TCP ? "tcp" : "udp";
}

/**
 * A new zeroed segment for udp_workers UDP workers and tcp_workers TCP threads, which
 * are workers udp_workers to udp_workers + tcp_workers - 1 (memfd-backed; *fd for handing
 * over). NULL with errno set on error.
 */
pd_stats_t *pd_stats_new(int udp_workers, int tcp_workers, int *fd);

/**
 * Maps a segment received from a predecessor, read-only; NULL unless it is one of ours,
 * of this layout version or an older one. Only for pd_stats_carry() and pd_stats_unmap():
 * an older one's entries are laid out differently.
 */
pd_stats_t *pd_stats_map(int fd);

/** Unmaps a segment. */
void pd_stats_unmap(pd_stats_t *s);

/**
 * Adds everything a predecessor counted (its live and carried totals) to s's carried
 * totals, transport by transport and worker by worker within one: its UDP worker i to
 * ours, its TCP thread i to our TCP thread i. What it had more of than we have is added
 * to our last one of that transport; a transport we have none of, to our last worker (the
 * totals still add up). A predecessor before version 3 had UDP workers alone. Call once
 * its workers have stopped.
 */
void pd_stats_carry(pd_stats_t *s, const pd_stats_t *from);

/**
 * Sums worker w's live and carried counters into out, a private copy: its fields may be
 * read directly. Any thread may call this while the workers run.
 */
void pd_stats_worker(const pd_stats_t *s, uint32_t w, pd_worker_stats_t *out);

/** Sums live and carried counters over all workers into out, like pd_stats_worker(). */
void pd_stats_total(const pd_stats_t *s, pd_worker_stats_t *out);

/** Sums them over the workers of one transport into out, like pd_stats_worker(). */
void pd_stats_transport_total(const pd_stats_t *s, pd_transport_t t, pd_worker_stats_t *out);

/** Connections closed, for all reasons, in a private copy such as pd_stats_total() fills. */
uint64_t pd_stats_tcp_closed(const pd_tcp_stats_t *t);

/**
 * Connections open: accepted and adopted, less those closed. Meaningful only summed over
 * all TCP threads (pd_stats_total()), since a connection handed over is closed on one of
 * the predecessor's threads and adopted by any of ours. Never below 0: the counters are
 * read one after another while they move.
 */
uint64_t pd_stats_tcp_open(const pd_tcp_stats_t *t);
