/* A query parsed once per datagram: what the cache, the prefetch and the answer rules read. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/dgram.h"
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
	const uint8_t *wire; /* the message, len bytes */
	size_t len;
	bool drop; /* shorter than a header, or a response: no answer at all */
	/* Set by the caller, not the parse: the message came over TCP (pd_query_parse_dgram()
	 * copies pd_dgram_t's). The buffer is then the size limit, TC is never set, and the
	 * keepalive option is answered. */
	bool tcp;
	/* The rcode parsing decided: NOERROR; NOTIMP for an opcode other than QUERY and
	 * NOTIFY (nothing after the header is read then); FORMERR for RCODE bits set in the
	 * query, a garbled question, QDCOUNT != 1 (but see qdcount), answer records, authority
	 * records but an IXFR's, an additional section other than [OPT][TSIG], or a malformed
	 * OPT or TSIG (as NSD decides each). A NOTIFY's records are left to the answer. */
	uint8_t rcode;
	/* FORMERR for a QDCOUNT other than 1 with a question readable after the header: NSD
	 * answers it with every header flag cleared (RD too), other FORMERRs keep RD. */
	bool formerr_qdcount;
	/* A question was read after the header, also when QDCOUNT is not 1 (NSD reads it
	 * then too: a NOTIFY is answered for it). Echoed only for QDCOUNT 1. */
	bool question_ok;
	/* The one shape whose answer depends on nothing but the question, the EDNS
	 * fields below, tcp, ID, RD and the name's case: opcode QUERY, one uncompressed
	 * question, no answer or authority records, at most one OPT of version 0 with
	 * well-formed options (no keepalive TIMEOUT) and nothing after it. The cache keeps
	 * only these. */
	bool cacheable;
	uint8_t opcode;
	uint16_t id;
	uint16_t flags; /* the header's flags as sent: opcode, RD and the rest */
	/* QDCOUNT as sent. QUERY with 0 and NOERROR is the one case NSD answers without a
	 * question: nothing but a well-formed OPT of version 0 after the header (a probe for
	 * EDNS or an NSID), answered with our OPT. */
	uint16_t qdcount;
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
	bool edns_nsid;      /* its options ask for our NSID (RFC 5001; any length, as NSD) */
	bool edns_keepalive; /* they carry edns-tcp-keepalive (RFC 7828), which TCP answers */
	/* ... with a TIMEOUT, which a client must not send (RFC 7828 3.2.1): FORMERR over TCP,
	 * where the option is read, and ignored over UDP, where it is not (as Unbound). */
	bool edns_keepalive_timeout;
	/* The first COOKIE option (RFC 7873): where its data starts in wire (0: none) and its
	 * length; one of a length no cookie has (not 8, nor 16 to 40) is noted malformed,
	 * which is FORMERR when cookies are on (pd_guard_queries()) and ignored when off. */
	uint16_t cookie_off;
	uint8_t cookie_len;
	bool cookie_malformed;
	/* Set by pd_guard_queries(), PD_COOKIE_NONE (0) without: the pd_cookie_verdict_t,
	 * the server cookie to send with the client's, and whether to answer BADCOOKIE. */
	uint8_t cookie;
	bool badcookie;
	uint8_t cookie_out[16];
	uint8_t edns_version; /* options are read for version 0 only: others get BADVERS */
	uint16_t edns_size;   /* the client's buffer size, at least PD_UDP_MIN */
	/* Where the TSIG record ending the message starts (its owner name), if it ends with a
	 * well-formed one; 0 for none. Ours has no keys yet: any key is unknown, BADKEY. */
	uint16_t tsig_off;
	/* NOTIFY only: the records after the question, or the TSIG ending them, are
	 * malformed (FORMERR when the zone is ours, as NSD). */
	bool tsig_malformed;
	/* Filled by pd_answer_prefetch() for the zone set it was given: the zone
	 * pd_zoneset_find() gives for the name, so the answer does not search again. */
	bool zone_known;
	const pd_zone_t *zone;
	/* The lower-cased name, then type and class as on the wire: the cache's key. */
	uint8_t question[PD_NAME_MAX + 4];
	uint8_t label_off[PD_QUERY_LABELS_MAX]; /* where each label of the name starts */
} pd_query_t;

/**
 * Parses the message of len bytes at wire into q, once, reading the question name a
 * single time (lower-casing it, noting its labels and hashing it on the way) and the
 * options of an empty OPT at the cost of one test. Never fails: what the answer must
 * say about a bad packet is in q->drop and q->rcode. q->tcp is left false.
 */
void pd_query_parse(pd_query_t *q, const uint8_t *wire, size_t len);

/**
 * Parses the message d brought (d->in) with pd_query_parse() and notes its transport
 * (d->tcp): how every path from a pd_dgram_t parses.
 */
void pd_query_parse_dgram(pd_query_t *q, const pd_dgram_t *d);
