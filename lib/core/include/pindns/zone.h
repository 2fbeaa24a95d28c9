/* A compiled zone: immutable, compact, in wire form, with hashed exact-match lookup. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/name.h"

#define PD_ZONE_RRSIG_TYPE 46 /* PD_TYPE_RRSIG, without dns.h */

/* Node flags. */
#define PD_NODE_APEX 0x01u     /* the zone's origin */
#define PD_NODE_DELEG 0x02u    /* NS below the apex: a zone cut */
#define PD_NODE_DNAME 0x04u    /* owns a DNAME: names below are redirected */
#define PD_NODE_OCCLUDED 0x08u /* below a cut or a DNAME: glue or hidden data only */
#define PD_NODE_WILDCARD 0x10u /* has a "*" child */

/* How a zone proves that names and types do not exist (pd_zone_t.dnssec). */
enum { PD_ZONE_UNSIGNED = 0, PD_ZONE_NSEC = 1, PD_ZONE_NSEC3 = 2 };

#define PD_NSEC3_OPTOUT 0x01u /* the NSEC3 Flags field's Opt-Out bit (RFC 5155 3.1.2.1) */
#define PD_ZONE_WARN_MAX 16   /* warnings a builder keeps the text of; it counts them all */

/** One RRset; its records live in the zone's data blob as (u16 rdlen, rdata) pairs. */
typedef struct pd_rrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl;
	uint32_t data_off;
	uint32_t data_len;
} pd_rrset_t;

/**
 * One link of the NSEC3 chain. NSEC3 owners are not nodes: a query for one is answered
 * as for any name that does not exist (RFC 5155 7.2.8), as Knot does.
 */
typedef struct pd_nsec3 {
	uint32_t name_off; /* owner in the zone's names blob, lower-cased wire form */
	uint8_t name_len;
	uint8_t flags;  /* the record's Flags field (PD_NSEC3_OPTOUT) */
	uint32_t rrset; /* index of its NSEC3 RRset in rrsets; its RRSIG RRset follows it */
} pd_nsec3_t;

/** One owner name; empty non-terminals are nodes without RRsets. */
typedef struct pd_node {
	uint32_t name_off; /* into the zone's names blob, lower-cased wire form */
	uint8_t name_len;
	uint8_t labels;
	uint16_t flags;
	uint32_t rrset_first;
	uint32_t rrset_count;
	uint32_t cut; /* for occluded nodes: index of the topmost cut or DNAME above */
} pd_node_t;

/** A compiled zone; never changed after pd_zone_builder_finish() returns it. */
typedef struct pd_zone {
	uint8_t origin[PD_NAME_MAX]; /* lower-cased */
	uint8_t origin_len;
	uint8_t origin_labels;
	uint32_t serial;
	uint32_t neg_ttl; /* min(SOA TTL, SOA MINIMUM): the TTL of negative answers (RFC 2308) */
	uint32_t apex;    /* node index of the origin */
	size_t record_count;
	int64_t loaded_unix; /* when it was compiled (set by whoever loads it) */
	/* What it was loaded from (its files ...), for whoever loaded it: one block, opaque
	 * here, free()d with the zone. */
	void *source;
	pd_node_t *nodes;
	uint32_t node_count;
	pd_rrset_t *rrsets;
	uint32_t rrset_count;
	uint64_t *table; /* open addressing: (hash << 32) | (node index + 1); 0 is empty */
	uint32_t table_mask;
	uint8_t *names;
	uint8_t *data;
	size_t names_len;
	size_t data_len;
	/* DNSSEC. RRSIG records are grouped by the type they cover into RRsets of type
	 * RRSIG, each placed right after the RRset it covers at the same node, so
	 * pd_zone_rrsig() is one comparison. */
	uint8_t dnssec; /* PD_ZONE_UNSIGNED, PD_ZONE_NSEC or PD_ZONE_NSEC3 */
	uint32_t *nsec; /* PD_ZONE_NSEC: the nodes owning an NSEC, in canonical order */
	uint32_t nsec_count;
	pd_nsec3_t *nsec3; /* PD_ZONE_NSEC3: the chain, in hash order */
	uint32_t nsec3_count;
	/* NSEC3 links of other chains than the NSEC3PARAM's (a resalt under way), kept after
	 * the chain's in nsec3[] for transfers out: no answer reads them. */
	uint32_t nsec3_other;
	uint16_t nsec3_iterations; /* from the apex NSEC3PARAM; algorithm 1 (SHA-1) only */
	uint8_t nsec3_salt_len;
	uint32_t nsec3_salt_off;   /* the salt, in data (the NSEC3PARAM's): pd_zone_nsec3_salt() */
	uint32_t sig_expire_first; /* the earliest RRSIG expiration (RFC 4034 3.1.5), or 0 */
	/* Set by whoever makes it, after pd_zone_builder_finish(). */
	uint8_t from;    /* PD_ZONE_FROM_FILE, or PD_ZONE_FROM_XFR: a secondary's copy, which a
	                  * reload of the zone files keeps as it is */
	bool expired;    /* a secondary's past its SOA expire: every query for it is SERVFAIL */
	const void *xfr; /* the daemon's transfer rules for it (opaque here); NULL: the defaults */
	/* References (__atomic): 1 from pd_zone_builder_finish(); a transfer out takes one
	 * with pd_zone_ref() so a reload can replace the zone while it is being sent. */
	uint32_t refs;
} pd_zone_t;

enum { PD_ZONE_FROM_FILE = 0, PD_ZONE_FROM_XFR = 1 };

/**
 * A stand-in for a secondary zone past its SOA expire (RFC 1035 3.3.13): origin and serial
 * of z, no records, expired set, from and xfr copied. Returns NULL when out of memory.
 */
pd_zone_t *pd_zone_expired_new(const pd_zone_t *z);

typedef struct pd_zone_builder pd_zone_builder_t;

/**
 * Starts a zone with the given origin (wire form, any case). Returns NULL when out
 * of memory.
 */
pd_zone_builder_t *pd_zone_builder_new(const uint8_t *origin);

/**
 * Adds one IN-class record. rdata is in uncompressed wire form. loc is an opaque
 * source location (the loader's file and line) reported back with errors. Returns 0,
 * -ENOMEM, or -EINVAL when the record can never be valid here (see
 * pd_zone_builder_error()).
 */
int pd_zone_builder_add(pd_zone_builder_t *b, const uint8_t *owner, uint16_t type, uint32_t ttl,
                        const uint8_t *rdata, uint16_t rdlen, int loc);

/**
 * Validates and compiles the zone: an SOA and NS at the apex, every owner inside the
 * origin, no CNAME beside other data. Returns 0 and sets *out, or a negative errno with
 * the error kept in the builder. The builder is still the caller's to free.
 */
int pd_zone_builder_finish(pd_zone_builder_t *b, pd_zone_t **out);

/**
 * Makes room for about this many records and RDATA bytes up front, so that adding a
 * large zone does not copy growing arrays again and again. A hint only.
 */
int pd_zone_builder_reserve(pd_zone_builder_t *b, size_t records, size_t rdata_bytes);

/**
 * Asks pd_zone_builder_finish() to warn about every RRSIG that has expired or expires
 * within warn_secs of now (both in seconds since the epoch; RRSIG times are compared in
 * serial arithmetic, RFC 4034 3.1.5). Not called: signature times are not looked at.
 */
void pd_zone_builder_check_sigs(pd_zone_builder_t *b, int64_t now, uint32_t warn_secs);

/**
 * How many warnings the last pd_zone_builder_finish() gave (expiring signatures,
 * dropped orphan RRSIGs, NSEC3 iterations above 0 ...): things an operator should fix
 * that do not stop the zone from loading. The text of the first PD_ZONE_WARN_MAX is
 * kept.
 */
unsigned pd_zone_builder_warning_count(const pd_zone_builder_t *b);

/**
 * The text of warning i (< PD_ZONE_WARN_MAX and < the count), and in *loc the location
 * passed with the record it is about, or 0.
 */
const char *pd_zone_builder_warning(const pd_zone_builder_t *b, unsigned i, int *loc);

/** Frees a builder. */
void pd_zone_builder_free(pd_zone_builder_t *b);

/** The message of the last error ("out of memory" for -ENOMEM). */
const char *pd_zone_builder_error(const pd_zone_builder_t *b);

/** The location passed with the record the last error is about, or 0 when none is. */
int pd_zone_builder_error_loc(const pd_zone_builder_t *b);

/** Takes a reference to z (thread-safe); returns z. */
pd_zone_t *pd_zone_ref(pd_zone_t *z);

/**
 * Drops a reference to a compiled zone (thread-safe) and frees it with the last one.
 * NULL is ignored.
 */
void pd_zone_free(pd_zone_t *z);

/** Finds the node of a lower-cased wire name of length len, or NULL. */
const pd_node_t *pd_zone_find(const pd_zone_t *z, const uint8_t *lname, size_t len);

/** pd_zone_find() with the name's pd_name_hash() known already (a parsed query's). */
const pd_node_t *pd_zone_find_hashed(const pd_zone_t *z, const uint8_t *lname, size_t len,
                                     uint32_t hash);

/** The RRset of the given type at a node, or NULL. */
const pd_rrset_t *pd_zone_rrset(const pd_zone_t *z, const pd_node_t *n, uint16_t type);

/**
 * The RRSIG RRset covering rs (an RRset of this zone, at a node or in the NSEC3
 * chain), or NULL when rs is not signed.
 */
static inline const pd_rrset_t *pd_zone_rrsig(const pd_zone_t *z, const pd_rrset_t *rs)
{
	const pd_rrset_t *next = rs + 1;
	if (rs->type == PD_ZONE_RRSIG_TYPE || next >= z->rrsets + z->rrset_count ||
	    next->type != PD_ZONE_RRSIG_TYPE)
		return NULL;
	return next;
}

/**
 * PD_ZONE_NSEC: the node whose NSEC matches or covers the lower-cased name lname (len
 * bytes, inside the zone): the last node with an NSEC at or before it in canonical order
 * (RFC 4034 6.1). NULL when the zone has no NSEC chain.
 */
const pd_node_t *pd_zone_nsec_find(const pd_zone_t *z, const uint8_t *lname, size_t len);

/**
 * PD_ZONE_NSEC3: hashes the lower-cased name lname (len bytes) with the zone's NSEC3
 * parameters and returns the link that matches it (*match set) or covers it (the last
 * link before the hash, or the chain's last when the hash sorts before every link).
 * NULL when the zone has no NSEC3 chain.
 */
const pd_nsec3_t *pd_zone_nsec3_find(const pd_zone_t *z, const uint8_t *lname, size_t len,
                                     bool *match);

/** The salt of the zone's NSEC3 hashes (nsec3_salt_len bytes). */
static inline const uint8_t *pd_zone_nsec3_salt(const pd_zone_t *z)
{
	return z->data + z->nsec3_salt_off;
}

/** The NSEC3 RRset of a link of the chain. */
static inline const pd_rrset_t *pd_zone_nsec3_rrset(const pd_zone_t *z, const pd_nsec3_t *l)
{
	return &z->rrsets[l->rrset];
}

/** The node's name (lower-cased wire form). */
static inline const uint8_t *pd_zone_node_name(const pd_zone_t *z, const pd_node_t *n)
{
	return z->names + n->name_off;
}

/** The records of an RRset: count (u16 rdlen, rdata) pairs. */
static inline const uint8_t *pd_zone_rrset_data(const pd_zone_t *z, const pd_rrset_t *rs)
{
	return z->data + rs->data_off;
}
