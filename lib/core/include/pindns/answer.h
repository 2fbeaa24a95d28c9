/* Answering one query from a zone set: the DNS rules, with no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/dgram.h"
#include "pindns/query.h"
#include "pindns/zoneset.h"

#define PD_UDP_DEFAULT 1232 /* EDNS buffer size: avoids IP fragmentation (DNS Flag Day 2020) */
#define PD_UDP_MAX 4096     /* the largest EDNS buffer size we accept in configuration */
#define PD_CHAIN_MAX 16     /* CNAME/DNAME steps followed before giving up */

typedef struct pd_guard pd_guard_t; /* pindns/guard.h */

/** What the answering code needs from configuration. */
typedef struct pd_answer_conf {
	uint16_t udp_size;    /* our EDNS buffer size: advertised, and the most we send */
	const char *identity; /* CH TXT id.server / hostname.bind; NULL or "" refuses */
	const char *version;  /* CH TXT version.server / version.bind; NULL or "" refuses */
	const uint8_t *nsid;  /* NSID (RFC 5001), sent only to queries that ask; NULL: none */
	uint16_t nsid_len;
	uint16_t tcp_keepalive; /* RFC 7828 TIMEOUT over TCP, in units of 100 ms */
	/* The calling worker's own cookie checks and rate limits, which the batch functions
	 * apply (pd_guard_queries() and pd_guard_replies()); NULL: none. A worker with a
	 * guard has a conf of its own, the rest copied from the shared one. */
	pd_guard_t *guard;
	/* Zone transfers and NOTIFY: a query with opcode NOTIFY, or QTYPE AXFR or IXFR, or
	 * ending in a TSIG record, parsed without error, is given to this first (with the zone
	 * set); it returns true when it answered d (out_len, rcode, or take), false to leave
	 * it to the rules here (which refuse it). NULL: none. Never reached by cacheable
	 * queries, so the cache needs no say. */
	bool (*special)(void *arg, const pd_zoneset_t *zs, const pd_query_t *q, pd_dgram_t *d);
	void *special_arg;
} pd_answer_conf_t;

/** What happened to a query, for statistics and logs. */
typedef struct pd_answer_info {
	int rcode;     /* including extended (BADVERS is 16); -1 when dropped */
	int truncated; /* TC was set */
	int authoritative;
} pd_answer_info_t;

/**
 * The most bytes a response to q may have in a buffer of resp_cap bytes: over TCP the
 * buffer (at most 65,535 bytes, what TCP's length can frame), never the EDNS size; over
 * UDP 512 without EDNS, else the client's EDNS size capped by ours (conf->udp_size, taken
 * as 512 when below), and never more than resp_cap.
 */
size_t pd_answer_limit(const pd_answer_conf_t *conf, const pd_query_t *q, size_t resp_cap);

/**
 * Answers the parsed query q into resp (resp_cap bytes; at least PD_UDP_MIN, and the
 * response never exceeds pd_answer_limit()). Over TCP (q->tcp) TC is never set: a
 * required RRset that does not fit even there is SERVFAIL, as Knot answers it. zs may be
 * NULL (no zones: everything is refused). info may be NULL. When q->zone_known, q->zone
 * is taken as the zone pd_zoneset_find() gives in zs (pd_answer_prefetch() remembers
 * it). Returns the response length, or 0 when the query must be dropped without an
 * answer (too short, or itself a response).
 */
size_t pd_answer_query(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, const pd_query_t *q,
                       uint8_t *resp, size_t resp_cap, pd_answer_info_t *info);

/**
 * Parses the query of qlen bytes at query with pd_query_parse() and answers it with
 * pd_answer_query(), as a query that came over UDP.
 */
size_t pd_answer(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, const uint8_t *query,
                 size_t qlen, uint8_t *resp, size_t resp_cap, pd_answer_info_t *info);

/**
 * Warms the caches for answering these n parsed queries: for each, the zone's hash
 * slot, node, name, RRsets and RDATA are prefetched stage by stage across the whole
 * batch, so the memory misses of different queries overlap instead of adding up. The
 * zone found for each is remembered in it (zone_known, zone) for pd_answer_query() with
 * the same zs. Changes nothing else; queries that will not reach a zone are skipped.
 * skip may be NULL, or mark entries already answered.
 */
void pd_answer_prefetch(const pd_zoneset_t *zs, pd_query_t *qs, int n, const bool *skip);

/**
 * Answers the datagram d, parsed as q by pd_query_parse_dgram() (so q->tcp is d->tcp),
 * with pd_answer_query(), setting d->out_len and,
 * from what it answered, d->rcode (the header's 4 bits) and d->truncated; both 0 when
 * the query is dropped.
 */
void pd_answer_dgram_query(const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                           const pd_query_t *q, pd_dgram_t *d);

/**
 * Parses one datagram (pd_query_parse_dgram()) and answers it with pd_answer_dgram_query(),
 * through conf->guard when there is one, as the batch does.
 */
void pd_answer_dgram(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, pd_dgram_t *d);

/**
 * Answers a batch: each datagram parsed once (pd_query_parse_dgram()), its cookie checked
 * (pd_guard_queries(), with conf->guard), pd_answer_prefetch(), then pd_answer_dgram_query()
 * for each and the rate limits (pd_guard_replies()), 32 datagrams at a time (the parsed
 * queries are on the stack, nothing is allocated).
 */
void pd_answer_batch(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, pd_dgram_t *batch,
                     int n);
