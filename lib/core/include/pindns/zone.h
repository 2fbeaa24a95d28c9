/* A compiled zone: immutable, compact, in wire form, with hashed exact-match lookup. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/name.h"

/* Node flags. */
#define PD_NODE_APEX 0x01u     /* the zone's origin */
#define PD_NODE_DELEG 0x02u    /* NS below the apex: a zone cut */
#define PD_NODE_DNAME 0x04u    /* owns a DNAME: names below are redirected */
#define PD_NODE_OCCLUDED 0x08u /* below a cut or a DNAME: glue or hidden data only */
#define PD_NODE_WILDCARD 0x10u /* has a "*" child */

/** One RRset; its records live in the zone's data blob as (u16 rdlen, rdata) pairs. */
typedef struct pd_rrset {
	uint16_t type;
	uint16_t count;
	uint32_t ttl;
	uint32_t data_off;
	uint32_t data_len;
} pd_rrset_t;

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
} pd_zone_t;

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
 * Moves every record of src to the end of dst, as if they had been added to dst in
 * the same order. src is left empty. Returns 0 or -ENOMEM.
 */
int pd_zone_builder_merge(pd_zone_builder_t *dst, pd_zone_builder_t *src);

/** Frees a builder. */
void pd_zone_builder_free(pd_zone_builder_t *b);

/** The origin the builder was made for (lower-cased wire form). */
const uint8_t *pd_zone_builder_origin(const pd_zone_builder_t *b);

/** The message of the last error ("out of memory" for -ENOMEM). */
const char *pd_zone_builder_error(const pd_zone_builder_t *b);

/** The location passed with the record the last error is about, or 0 when none is. */
int pd_zone_builder_error_loc(const pd_zone_builder_t *b);

/** Frees a compiled zone. */
void pd_zone_free(pd_zone_t *z);

/** Finds the node of a lower-cased wire name of length len, or NULL. */
const pd_node_t *pd_zone_find(const pd_zone_t *z, const uint8_t *lname, size_t len);

/** pd_zone_find() with the name's pd_name_hash() known already (a parsed query's). */
const pd_node_t *pd_zone_find_hashed(const pd_zone_t *z, const uint8_t *lname, size_t len,
                                     uint32_t hash);

/** The RRset of the given type at a node, or NULL. */
const pd_rrset_t *pd_zone_rrset(const pd_zone_t *z, const pd_node_t *n, uint16_t type);

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
