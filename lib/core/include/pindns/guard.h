/* One worker's defences around its answers: DNS cookies before, rate limiting after. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pindns/answer.h"
#include "pindns/cookie.h"
#include "pindns/counter.h"
#include "pindns/dgram.h"
#include "pindns/query.h"
#include "pindns/rrl.h"
#include "pindns/zoneset.h"

/** What the guard counts; written by its worker alone, read by anyone. */
typedef struct pd_guard_stats {
	pd_counter_t rrl_dropped;    /* responses not sent: over the rate */
	pd_counter_t rrl_slipped;    /* ... sent truncated (or BADCOOKIE) instead */
	pd_counter_t cookie_client;  /* queries with a client cookie alone */
	pd_counter_t cookie_valid;   /* ... with a valid server cookie of ours */
	pd_counter_t cookie_invalid; /* ... with a server cookie that is not (or too old) */
	pd_counter_t badcookie;      /* answered BADCOOKIE */
} pd_guard_stats_t;

/** The settings of every worker's guard. */
typedef struct pd_guard_conf {
	pd_cookie_conf_t cookie; /* cookie.enabled: cookies are answered */
	pd_rrl_conf_t rrl;       /* rrl.rate 0: no limit */
} pd_guard_conf_t;

typedef struct pd_guard pd_guard_t;

/**
 * Creates a worker's guard for conf, which must outlive it. Returns 0, -EINVAL for
 * settings out of range, or -ENOMEM.
 */
int pd_guard_new(pd_guard_t **out, const pd_guard_conf_t *conf);

/** Frees a guard. */
void pd_guard_free(pd_guard_t *g);

/** Counts from now on into counters, which must outlive the guard (shared statistics). */
void pd_guard_count_into(pd_guard_t *g, pd_guard_stats_t *counters);

/**
 * The time for the next batch: unix seconds for cookies, a steady clock's milliseconds
 * for the buckets. The core reads no clock: the worker sets it.
 */
void pd_guard_set_time(pd_guard_t *g, uint32_t unix_s, uint64_t steady_ms);

/**
 * Before answering: checks the COOKIE option of each of the n parsed queries qs (from
 * datagrams ds): the verdict and the server cookie to send go into the query, a malformed
 * option makes it FORMERR (RFC 7873 5.2.2), and a query to answer BADCOOKIE (cookies
 * required over UDP without a valid one; a probe without a question with an invalid one,
 * 5.4) is marked so and not cached.
 */
void pd_guard_queries(pd_guard_t *g, pd_query_t *qs, const pd_dgram_t *ds, int n);

/**
 * After answering: rate limits the n answered datagrams ds over UDP (TCP never, nor a
 * valid server cookie, nor exempt prefixes), dropping what is over the rate and slipping
 * every slip-th of those: as a reply with TC set and the question alone, or to a client
 * that sent a cookie, BADCOOKIE with a fresh one, so it retries with it (RFC 7873 5.3).
 * zs and conf are what answered them (the zone of a cached answer is looked up here).
 * Counts the BADCOOKIE responses that are sent.
 */
void pd_guard_replies(pd_guard_t *g, const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                      pd_query_t *qs, pd_dgram_t *ds, int n);
