/* The fast path of the zone file parser: simple one-line records without ldns. */
#ifndef PINDNS_ZONEFILE_FASTRR_H
#define PINDNS_ZONEFILE_FASTRR_H

#include <stddef.h>
#include <stdint.h>

#include "pindns/name.h"

/* What a run of lines needs from the lines before: origin, last owner, default TTL. */
typedef struct pd__fastrr {
	uint8_t origin[PD_NAME_MAX];
	size_t origin_len;
	uint8_t prev[PD_NAME_MAX]; /* the last owner written out, for lines without one */
	size_t prev_len;           /* 0: none yet */
	const uint32_t *default_ttl;
	/* The record parsed last: owner is prev. */
	uint16_t type;
	uint32_t ttl;
	uint16_t rdlen;
	uint8_t rdata[65535];
} pd__fastrr_t;

enum {
	PD__FASTRR_NO = -1,   /* not a line this parser takes: hand it to ldns */
	PD__FASTRR_EMPTY = 0, /* blank or only a comment */
	PD__FASTRR_RR = 1,    /* a record, in type, ttl, rdata and prev */
};

/*
 * Parses the line [line, line + len) (no newline) as ldns would, if it is one of the
 * simple shapes: "[owner] [TTL] [IN] TYPE RDATA" on one line, no parentheses, quotes or
 * escapes, TTL in seconds, and TYPE one of A, AAAA, NS, CNAME, PTR, DNAME, MX, RRSIG,
 * NSEC or NSEC3 written the usual way. Everything else, errors included, is
 * PD__FASTRR_NO and left to ldns, so the two never disagree on what a line means.
 */
int pd__fastrr_parse(pd__fastrr_t *c, const char *line, size_t len);

#endif
