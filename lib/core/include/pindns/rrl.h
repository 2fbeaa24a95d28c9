/* Response rate limiting: token buckets per client prefix and response class, per worker. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_RRL_EXEMPT_MAX 64
#define PD_RRL_TABLE_DEFAULT 65536 /* buckets per worker: 16 bytes each */
#define PD_RRL_RATE_MAX 1000000
#define PD_RRL_WINDOW_MAX 60

/** The classes of response limited apart (each zone's apart too). */
typedef enum pd_rrl_class {
	PD_RRL_ANSWER,   /* NOERROR with the authority: answers and NODATA */
	PD_RRL_NXDOMAIN, /* NXDOMAIN */
	PD_RRL_REFERRAL, /* NOERROR without AA: a delegation */
	PD_RRL_ERROR,    /* every other rcode (REFUSED, FORMERR, SERVFAIL, ...) */
	PD_RRL_CLASSES
} pd_rrl_class_t;

/** What to do with one response. */
typedef enum pd_rrl_action {
	PD_RRL_PASS, /* within the rate: send it */
	PD_RRL_DROP, /* over it: send nothing */
	PD_RRL_SLIP, /* over it, and its turn to slip: send a truncated reply instead */
} pd_rrl_action_t;

/** A prefix exempt from limiting: family 4 or 6, the address, its length in bits. */
typedef struct pd_rrl_prefix {
	uint8_t family;
	uint8_t bits;
	uint8_t addr[16];
} pd_rrl_prefix_t;

/** Rate limiting settings; rate 0 turns it off. */
typedef struct pd_rrl_conf {
	uint32_t rate;   /* responses per second to one prefix, in one class, for one zone */
	uint32_t window; /* seconds a quiet prefix may save up: a burst of rate x window */
	uint32_t slip;   /* every slip-th limited response slips; 0: none does */
	uint32_t ipv4_prefix, ipv6_prefix; /* bits of a client address that make its prefix */
	uint32_t table_size;               /* buckets per worker (rounded up to a power of 2) */
	uint64_t seed;                     /* keys the bucket hash, so no one can aim at a bucket */
	pd_rrl_prefix_t exempt[PD_RRL_EXEMPT_MAX];
	unsigned nexempt;
} pd_rrl_conf_t;

typedef struct pd_rrl pd_rrl_t;

/**
 * Creates one worker's bucket table for conf, which must outlive it. Returns 0, -EINVAL
 * for a rate of 0 or settings out of range, or -ENOMEM.
 */
int pd_rrl_new(pd_rrl_t **out, const pd_rrl_conf_t *conf);

/** Frees a bucket table. */
void pd_rrl_free(pd_rrl_t *r);

/** Whether the address (family 4 or 6, 4 or 16 bytes) is in an exempt prefix of conf. */
bool pd_rrl_exempt(const pd_rrl_conf_t *conf, int family, const uint8_t *addr);

/**
 * Takes one response of class cls for the zone whose origin hashes to zone_hash (0 for
 * none) to the client at addr (family 4 or 6), at now_ms on a steady clock, from the
 * bucket of the client's prefix: passes while the bucket has a token (refilled at the
 * rate, up to rate x window), drops or slips when it has none. A limited response costs
 * no token, so a flood gets the rate through, never less. Exempt prefixes are the
 * caller's to test first.
 */
pd_rrl_action_t pd_rrl_take(pd_rrl_t *r, int family, const uint8_t *addr, pd_rrl_class_t cls,
                            uint32_t zone_hash, uint64_t now_ms);
