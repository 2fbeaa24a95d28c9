/* What the transfer files (zone_iter.c, journal.c, xfr_out.c, xfr_in.c) share. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/xfr.h"

/*
 * A walk over a zone's records one at a time, in pd_zone_foreach()'s order, so a
 * transfer out can stop at a full message and go on later.
 */
typedef struct pd__zcur {
	uint8_t phase;  /* 0: the apex SOA, 1: the nodes, 2: the NSEC3 chain, 3: done */
	uint32_t item;  /* the node or NSEC3 link */
	uint32_t rrset; /* the RRset's index in z->rrsets */
	uint32_t left;  /* RRsets of the item left after this one */
	uint16_t rec;   /* the record of the RRset */
	uint32_t off;   /* where that record is in z->data */
	uint32_t soa;   /* the apex SOA's RRset index, found once */
} pd__zcur_t;

void pd__zcur_init(pd__zcur_t *c);

/* The next record of z into rr; false once every one was given. */
bool pd__zcur_next(const pd_zone_t *z, pd__zcur_t *c, pd_rr_t *rr);

/*
 * Compares two records by owner, type and RDATA (the names in the RDATA of the types
 * whose names are case-insensitive compared as lower-case, RFC 4034 6.2), not by TTL:
 * what a removal in IXFR must match. A total order, for sorting.
 */
int pd__rr_cmp(const pd_rr_t *a, const pd_rr_t *b);

/* qsort() on pd_rr_t with pd__rr_cmp(). */
int pd__rr_qcmp(const void *a, const void *b);

/* Collects every record of z but its apex SOA into a new array (*n of them), sorted. */
int pd__zone_records(const pd_zone_t *z, pd_rr_t **out, size_t *n);

/* Serial arithmetic (RFC 1982): a is newer than b. */
static inline bool pd__serial_gt(uint32_t a, uint32_t b)
{
	return a != b && (int32_t)(a - b) > 0;
}

/* The serial in SOA RDATA (two uncompressed names, then the serial); false if malformed. */
bool pd__soa_serial(const uint8_t *rdata, uint16_t rdlen, uint32_t *serial);

/* The records of a diff: removed (the old SOA first), then added (the new SOA first). */
const pd_rr_t *pd__diff_rrs(const pd_diff_t *d, size_t *removed, size_t *added);
