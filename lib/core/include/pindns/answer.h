/* Answering one query from a zone set: the DNS rules, with no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/dgram.h"
#include "pindns/zoneset.h"

#define PD_UDP_DEFAULT 1232 /* EDNS buffer size: avoids IP fragmentation (DNS Flag Day 2020) */
#define PD_UDP_MAX 4096     /* the largest EDNS buffer size we accept in configuration */
#define PD_CHAIN_MAX 16     /* CNAME/DNAME steps followed before giving up */

/** What the answering code needs from configuration. */
typedef struct pd_answer_conf {
	uint16_t udp_size;    /* our EDNS buffer size: advertised, and the most we send */
	const char *identity; /* CH TXT id.server / hostname.bind; NULL or "" refuses */
	const char *version;  /* CH TXT version.server / version.bind; NULL or "" refuses */
} pd_answer_conf_t;

/** What happened to a query, for statistics and logs. */
typedef struct pd_answer_info {
	int rcode;     /* including extended (BADVERS is 16); -1 when dropped */
	int truncated; /* TC was set */
	int authoritative;
} pd_answer_info_t;

/**
 * Answers the query of qlen bytes at query into resp (resp_cap bytes; at least
 * PD_UDP_MIN, and the response never exceeds what the client accepts). zs may be NULL
 * (no zones: everything is refused). info may be NULL. Returns the response length,
 * or 0 when the query must be dropped without an answer (too short, or itself a
 * response).
 */
size_t pd_answer(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, const uint8_t *query,
                 size_t qlen, uint8_t *resp, size_t resp_cap, pd_answer_info_t *info);

/**
 * Warms the caches for answering these queries: for each, the zone's hash slot, node,
 * name, RRsets and RDATA are prefetched stage by stage across the whole batch, so the
 * memory misses of different queries overlap instead of adding up. Changes nothing;
 * queries it cannot read quickly are skipped. skip may be NULL, or mark entries
 * already answered.
 */
void pd_answer_prefetch(const pd_zoneset_t *zs, const pd_dgram_t *batch, int n, const bool *skip);

/**
 * Answers one datagram with pd_answer(), setting d->out_len and, from what it answered,
 * d->rcode (the header's 4 bits) and d->truncated; both 0 when the query is dropped.
 */
void pd_answer_dgram(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, pd_dgram_t *d);

/** Answers a batch: pd_answer_prefetch(), then pd_answer_dgram() for each datagram. */
void pd_answer_batch(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, pd_dgram_t *batch,
                     int n);
