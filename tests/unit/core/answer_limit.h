/* The size limit of a response, worked out apart from src/answer.c (unit and fuzz tests). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/wire.h"

/*
 * The most bytes a response to the query q (len bytes) that came over UDP may have when
 * our configured EDNS size is ours, by the rule of lib/core/answer.c, read here by a parser
 * of its own so that a change there shows as a difference (over TCP the limit is the
 * buffer, which needs no second opinion). It is an upper bound: where the answer is an
 * error of a header alone (FORMERR, NOTIMP) any rule below holds. The rules, each with
 * its reason:
 * - 512 without EDNS: RFC 1035 4.2.1, the most a client without an OPT record takes.
 * - Not exactly one question, or a malformed one (FORMERR): nothing after it is read, so
 *   no OPT record either: 512.
 * - The records are read in order and reading stops at the first malformed one; an OPT
 *   record seen before that point counts, one after it was never seen (the answer
 *   parser stops there too, with FORMERR).
 * - An OPT record in the answer or authority section, not owned by the root, or a second
 *   one is FORMERR without an OPT in the response (RFC 6891 6.1.1): 512.
 * - Otherwise the client's size, raised to 512 (RFC 6891 6.2.5: less is read as 512),
 *   capped by ours, itself never below 512.
 */
static inline size_t tu_exact_limit(const uint8_t *q, size_t len, uint16_t ours)
{
	uint8_t name[PD_NAME_MAX];
	int edns = -1; /* the client's size once its OPT is seen */
	pd_wire_t w;
	pd_wire_init(&w, q, len);
	pd_wire_skip(&w, 4);
	uint16_t qd = pd_wire_u16(&w), an = pd_wire_u16(&w), ns = pd_wire_u16(&w);
	unsigned total = (unsigned)an + ns + pd_wire_u16(&w);
	if (qd != 1)
		return PD_UDP_MIN;
	pd_name_read_lower(&w, name);
	pd_wire_skip(&w, 4);
	for (unsigned i = 0; i < total && !w.err; i++) {
		bool root = pd_name_parse(&w, name) == 1;
		uint16_t type = pd_wire_u16(&w), size = pd_wire_u16(&w);
		pd_wire_skip(&w, 4);
		pd_wire_skip(&w, pd_wire_u16(&w));
		if (w.err || type != PD_TYPE_OPT)
			continue;
		if (edns >= 0 || i < (unsigned)an + ns || !root)
			return PD_UDP_MIN;
		edns = size;
	}
	if (edns < 0)
		return PD_UDP_MIN;
	size_t asked = edns < PD_UDP_MIN ? PD_UDP_MIN : (size_t)edns;
	size_t cap = ours < PD_UDP_MIN ? PD_UDP_MIN : ours;
	return asked < cap ? asked : cap;
}
