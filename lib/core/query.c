/* The one parse of a query: header, question, EDNS, and whether the cache may keep it. */
#include "pindns/query.h"

#include "pindns/dns.h"

#define PD__OPT_LEN 11 /* root owner, type, class, TTL, RDLENGTH */

/* Skips one RR at the cursor, returning its type and filling the OPT fields if it is one. */
static void pd__skip_rr(pd_wire_t *w, uint16_t *type, uint16_t *cls, uint32_t *ttl,
                        bool *root_owner)
{
	uint8_t name[PD_NAME_MAX];
	pd_name_parse(w, name);
	*root_owner = name[0] == 0;
	*type = pd_wire_u16(w);
	*cls = pd_wire_u16(w);
	*ttl = pd_wire_u32(w);
	pd_wire_skip(w, pd_wire_u16(w));
}

static void pd__edns_set(pd_query_t *q, uint16_t cls, uint32_t ttl)
{
	q->edns = true;
	q->edns_size = cls < PD_UDP_MIN ? PD_UDP_MIN : cls;
	q->edns_version = (uint8_t)(ttl >> 16);
	q->edns_do = (ttl & PD_EDNS_DO) != 0;
}

/* The records after the question, in general. Returns an rcode (0 or FORMERR). */
static int pd__parse_records(pd_query_t *q, pd_wire_t *w)
{
	unsigned total = (unsigned)q->ancount + q->nscount + q->arcount;
	for (unsigned i = 0; i < total; i++) {
		uint16_t type, cls;
		uint32_t ttl;
		bool root;
		pd__skip_rr(w, &type, &cls, &ttl, &root);
		if (w->err)
			return PD_RCODE_FORMERR;
		if (type != PD_TYPE_OPT)
			continue;
		/* RFC 6891 6.1.1: one OPT, in the additional section, owned by the root. */
		if (q->edns || i < (unsigned)q->ancount + q->nscount || !root) {
			q->edns = false;
			return PD_RCODE_FORMERR;
		}
		pd__edns_set(q, cls, ttl);
	}
	/* Bytes after the last record are ignored, as NSD does. */
	return PD_RCODE_NOERROR;
}

/*
 * The common shape, read without the general loop: nothing after the question, or
 * exactly one OPT of version 0 ending the packet. Gives what pd__parse_records() would,
 * and false for any other shape (the packet is then parsed in general).
 */
static bool pd__parse_simple(pd_query_t *q, const uint8_t *p, const uint8_t *end)
{
	if (q->ancount || q->nscount || q->arcount > 1)
		return false;
	if (q->arcount == 0)
		return p == end;
	if (end - p < PD__OPT_LEN || p[0] != 0 || pd_get_u16(p + 1) != PD_TYPE_OPT || p[6] != 0 ||
	    (size_t)(end - p) != PD__OPT_LEN + pd_get_u16(p + 9))
		return false;
	pd__edns_set(q, pd_get_u16(p + 3), pd_get_u32(p + 5));
	return true;
}

void pd_query_parse(pd_query_t *q, const uint8_t *wire, size_t len)
{
	pd_wire_t w;

	q->wire = wire;
	q->len = len;
	q->rcode = PD_RCODE_NOERROR;
	q->question_ok = false;
	q->cacheable = false;
	q->edns = false;
	q->edns_do = false;
	q->edns_version = 0;
	q->edns_size = 0;
	q->question_end = PD_HEADER_LEN;
	q->qname_len = 0;
	q->labels = 0;
	q->zone_known = false;
	q->zone = NULL;
	/* Too short to answer, or a response: answering could start a loop between servers. */
	q->drop = len < PD_HEADER_LEN || (pd_get_u16(wire + 2) & PD_FLAG_QR);
	if (q->drop)
		return;
	pd_wire_init(&w, wire, len);
	q->id = pd_wire_u16(&w);
	q->flags = pd_wire_u16(&w);
	uint16_t qdcount = pd_wire_u16(&w);
	q->ancount = pd_wire_u16(&w);
	q->nscount = pd_wire_u16(&w);
	q->arcount = pd_wire_u16(&w);
	if (qdcount != 1) {
		q->rcode = PD_RCODE_FORMERR;
		return;
	}
	/* The question is the first name: a pointer in it could only point at the header. */
	size_t nlen = pd_name_read_question(&w, q->question, q->label_off, &q->labels, &q->hash);
	const uint8_t *tc = w.pos;
	q->qtype = pd_wire_u16(&w);
	q->qclass = pd_wire_u16(&w);
	if (w.err) {
		q->rcode = PD_RCODE_FORMERR;
		return;
	}
	memcpy(q->question + nlen, tc, 4);
	q->qname_len = (uint8_t)nlen;
	q->question_end = (uint16_t)pd_wire_offset(&w);
	q->question_ok = true;
	if (pd__parse_simple(q, w.pos, w.end)) {
		q->cacheable = (q->flags & PD_OPCODE_MASK) == 0;
		return;
	}
	q->rcode = (uint8_t)pd__parse_records(q, &w);
}
