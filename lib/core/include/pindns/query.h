/* A query parsed once per datagram: what the cache, the prefetch and the answer rules read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/name.h"
#include "pindns/zone.h"

#define PD_QUERY_LABELS_MAX 128 /* labels of a 255-byte name, the root's included */

/**
 * One query as it came in, parsed by pd_query_parse(). The cache derives its key from
 * it, the prefetch stages and the answer rules start from it, so the packet's name is
 * read once. The wire bytes stay the caller's and must outlive the query: the answer
 * echoes the question from them, with the letter case as sent.
 */
typedef struct pd_query {
	const uint8_t *wire; /* the datagram, len bytes */
	size_t len;
	bool drop; /* shorter than a header, or a response: no answer at all */
	/* The rcode parsing decided: NOERROR, or FORMERR for QDCOUNT != 1, a garbled
	 * question, a garbled record after it, or a misplaced or second OPT. */
	uint8_t rcode;
	bool question_ok; /* the question was read; otherwise none is echoed */
	/* The one shape whose answer depends on nothing but the question, the EDNS
	 * fields below, ID, RD and the name's case: opcode QUERY, one uncompressed
	 * question, no answer or authority records, at most one OPT of version 0 and
	 * nothing after it. The cache keeps only these. */
	bool cacheable;
	uint16_t id;
	uint16_t flags; /* the header's flags as sent: opcode, RD and the rest */
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount;
	uint16_t qtype;
	uint16_t qclass;
	uint16_t question_end; /* offset after the question; PD_HEADER_LEN without one */
	uint8_t qname_len;     /* bytes of the name in question[] */
	uint8_t labels;        /* entries of label_off[], the root label included */
	uint32_t hash;         /* pd_name_hash() of the lower-cased name */
	bool edns;             /* an OPT record was found (also when rcode says FORMERR) */
	bool edns_do;
	uint8_t edns_version;
	uint16_t edns_size; /* the client's buffer size, at least PD_UDP_MIN */
	/* Filled by pd_answer_prefetch() for the zone set it was given: the zone
	 * pd_zoneset_find() gives for the name, so the answer does not search again. */
	bool zone_known;
	const pd_zone_t *zone;
	/* The lower-cased name, then type and class as on the wire: the cache's key. */
	uint8_t question[PD_NAME_MAX + 4];
	uint8_t label_off[PD_QUERY_LABELS_MAX]; /* where each label of the name starts */
} pd_query_t;

/**
 * Parses the datagram of len bytes at wire into q, once, reading the question name a
 * single time (lower-casing it, noting its labels and hashing it on the way). Never
 * fails: what the answer must say about a bad packet is in q->drop and q->rcode.
 */
void pd_query_parse(pd_query_t *q, const uint8_t *wire, size_t len);
