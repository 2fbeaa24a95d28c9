/* A response cache owned by one worker: encoded answers keyed by the question. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/answer.h"
#include "pindns/counter.h"
#include "pindns/dgram.h"
#include "pindns/name.h"
#include "pindns/query.h"
#include "pindns/zoneset.h"

#define PD_CACHE_SLOT 1024 /* bytes per entry: key and response; larger answers are not kept */
#define PD_CACHE_DEFAULT_SIZE (16u << 20)

/* Bits of a key's variant above the response size limit (its low 16 bits). */
/* The query's cookie is answered: the entry ends with a COOKIE option whose 24 bytes each
 * hit patches with this query's client cookie and the server cookie made for it. */
#define PD_CACHE_V_COOKIE (1u << 26)
#define PD_CACHE_V_KEEPALIVE (1u << 27) /* over TCP, the query asked for keepalive */
#define PD_CACHE_V_TCP (1u << 28)       /* the query came over TCP */
#define PD_CACHE_V_NSID (1u << 29)      /* the query asked for the NSID */
#define PD_CACHE_V_EDNS (1u << 30)      /* the query had an OPT record */
#define PD_CACHE_V_DO (1u << 31)        /* ... with the DO bit */

/** The cache key of a query, and what a hit needs to patch. */
typedef struct pd_cache_key {
	uint64_t hash;
	uint32_t variant;        /* size limit, transport, EDNS, DO, NSID, keepalive, cookie */
	uint16_t qsection;       /* bytes of the question section: name + type + class */
	const uint8_t *question; /* the query's: lower-cased name, then type and class */
} pd_cache_key_t;

/** Counters, written only by the owning worker; any thread may read them (pd_counter_get). */
typedef struct pd_cache_stats {
	pd_counter_t hits;
	pd_counter_t misses;
	pd_counter_t uncacheable; /* queries not in the simple form the cache takes */
	pd_counter_t inserts;
} pd_cache_stats_t;

typedef struct pd_cache pd_cache_t;

/**
 * Creates a cache of about bytes of memory (at least two slots). Returns NULL when out
 * of memory. One cache belongs to one thread: no call here locks anything.
 */
pd_cache_t *pd_cache_new(size_t bytes);

/** Frees a cache. */
void pd_cache_free(pd_cache_t *c);

/**
 * Builds the key of a parsed query if it has the one shape whose answer depends on
 * nothing but the key, ID, RD and the letter case of the name (q->cacheable), from
 * what the parse found: the name is not read again, and key->question points into q,
 * which must outlive the key. The variant holds the rest the answer depends on, with
 * pd_answer_limit() for conf and a reply buffer of resp_cap bytes: a UDP answer is never
 * served over TCP nor one with an NSID to a query that did not ask. Returns false for
 * any other shape.
 */
bool pd_cache_key(pd_cache_key_t *key, const pd_query_t *q, const pd_answer_conf_t *conf,
                  size_t resp_cap);

/**
 * Answers a query that came over UDP from the cache, or with pd_answer() and stores the
 * result. The response is byte for byte what pd_answer() would give. gen is the zone set's
 * generation: entries of another generation are never served.
 */
size_t pd_cache_answer(pd_cache_t *c, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                       const uint8_t *query, size_t qlen, uint8_t *resp, size_t resp_cap);

/**
 * Answers a batch of queries like pd_cache_answer(), over the transport each datagram
 * says (d->tcp), through conf->guard as pd_answer_batch() does, first parsing every query once
 * and prefetching every cache set, so the batch's memory misses overlap instead of
 * following one another. Each set is probed once; the misses' zones are prefetched
 * and remembered for the answer, and a miss is stored in the set it probed (32
 * datagrams at a time, with their parsed queries on the stack). Each datagram gets out_len, rcode
 * and truncated as pd_answer_dgram() sets them; a hit takes the last two from its entry, stored
 * with it.
 */
void pd_cache_answer_batch(pd_cache_t *c, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                           pd_dgram_t *batch, int n);

/**
 * Counts from now on into counters (carrying over what was counted so far), which must
 * outlive the cache and be written by no one else: a worker's shared statistics.
 */
void pd_cache_count_into(pd_cache_t *c, pd_cache_stats_t *counters);

/** A copy of the cache's counters. */
pd_cache_stats_t pd_cache_stats(const pd_cache_t *c);
