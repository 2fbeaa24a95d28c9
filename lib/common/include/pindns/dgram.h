/* A datagram in and the reply out: what the engine hands to whoever answers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * One received datagram and room for its reply. Whoever answers sets out_len (0 means
 * no reply) and, with it, what the reply's header says, so that statistics and logs
 * need not read the reply's bytes again.
 */
typedef struct pd_dgram {
	const void *peer; /* the sender's struct sockaddr, peer_len bytes */
	const uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_cap;
	size_t out_len;
	/* peer_len sits down here so that the four fields after it fill its padding: the
	 * engine keeps an array of these per worker, touched by every query, and it stays
	 * 56 bytes on 64-bit hosts. */
	unsigned peer_len;
	/* The reply's header RCODE, its 4 bits (extended ones show their low bits: BADVERS
	 * as 0), and whether it has TC set; 0 and false when out_len is 0. */
	uint8_t rcode;
	bool truncated;
	/* Set by the engine: the message came over TCP (one length-framed message, in and
	 * out), so the reply may fill out_cap (up to 65,535 bytes) and never needs TC. */
	bool tcp;
	/* Set by whoever answers, over TCP only, with out_len 0: the connection leaves the
	 * engine from this message on (a zone transfer), handed to pd_engine_set_take()'s
	 * function with this message and what follows it unread. */
	bool take;
} pd_dgram_t;
