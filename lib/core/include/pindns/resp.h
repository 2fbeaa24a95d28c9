/* Building a response: whole RRsets or nothing, and compressed names. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pindns/zone.h"

#define PD_COMPR_MAX 64 /* names remembered for compression; more only costs bytes */

enum { PD_SEC_ANSWER = 0, PD_SEC_AUTHORITY = 1, PD_SEC_ADDITIONAL = 2 };

/** A response under construction; header and question are written by the caller. */
typedef struct pd_resp {
	uint8_t *buf;
	size_t limit; /* the most bytes the sections may reach (OPT space already taken off) */
	size_t len;
	uint16_t count[3];
	unsigned ncompr;
	struct {
		uint16_t off;   /* where a name (suffix) starts in buf */
		uint8_t labels; /* its label count, to skip hopeless comparisons */
	} compr[PD_COMPR_MAX];
} pd_resp_t;

/**
 * Starts the sections at offset len of buf, with the query name already written at
 * qname_off (uncompressed) so later names can point into it; 0 when there is no question.
 */
void pd_resp_init(pd_resp_t *r, uint8_t *buf, size_t len, size_t limit, size_t qname_off);

/**
 * pd_resp_init() for a query name whose labels are known: label_off holds where each
 * of its labels starts, relative to qname_off, labels of them with the root last (a
 * parsed query's), so the name is not walked again.
 */
void pd_resp_init_labels(pd_resp_t *r, uint8_t *buf, size_t len, size_t limit, size_t qname_off,
                         const uint8_t *label_off, unsigned labels);

/**
 * Writes one RR. Names inside the RDATA of the RFC 1035 types are compressed, others
 * copied. Returns 0, or -ENOSPC with the response left exactly as it was.
 */
int pd_resp_put_rr(pd_resp_t *r, int section, const uint8_t *owner, uint16_t type, uint16_t cls,
                   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

/**
 * Writes every RR of an RRset with the given owner and TTL, class IN. Returns 0, or
 * -ENOSPC with none of the RRset written.
 */
int pd_resp_put_rrset(pd_resp_t *r, int section, const uint8_t *owner, const pd_zone_t *z,
                      const pd_rrset_t *rs, uint32_t ttl);

/** Where a response stands, for pd_resp_rewind() to go back to. */
typedef struct pd_resp_mark {
	size_t len;
	unsigned ncompr;
	uint16_t count[3];
} pd_resp_mark_t;

/** The response's position now. */
static inline pd_resp_mark_t pd_resp_mark(const pd_resp_t *r)
{
	return (pd_resp_mark_t){r->len, r->ncompr, {r->count[0], r->count[1], r->count[2]}};
}

/** Takes back everything written since m was taken, as if it had never been. */
static inline void pd_resp_rewind(pd_resp_t *r, const pd_resp_mark_t *m)
{
	r->len = m->len;
	r->ncompr = m->ncompr;
	memcpy(r->count, m->count, sizeof(r->count));
}

/** Forgets every section: back to just after the question. */
void pd_resp_clear(pd_resp_t *r, size_t question_end);
