/* The one parse of a query: header, question, EDNS, TSIG, and whether the cache may keep it. */
#include "pindns/query.h"

#include "pindns/dns.h"

#define PD__OPT_LEN 11        /* root owner, type, class, TTL, RDLENGTH */
#define PD__OPTION_HDR 4      /* option code and length */
#define PD__IXFR_NS_MAX 64    /* authority records an IXFR may carry (its SOA), as NSD takes */
#define PD__RRCOUNT_MAX 65530 /* more records than a 64 KiB message can hold, as NSD says */
/* As NSD: a MAC is 64 bytes at most and Other Data 6 (BADTIME's time), so more is garbage. */
#define PD__TSIG_MAC_MAX 16384
#define PD__TSIG_OTHER_MAX 16

/* Skips one RR at the cursor. */
static void pd__skip_rr(pd_wire_t *w)
{
	uint8_t name[PD_NAME_MAX];
	pd_name_parse(w, name);
	pd_wire_skip(w, 8); /* type, class, TTL */
	pd_wire_skip(w, pd_wire_u16(w));
}

static void pd__edns_set(pd_query_t *q, uint16_t cls, uint32_t ttl)
{
	q->edns = true;
	q->edns_size = cls < PD_UDP_MIN ? PD_UDP_MIN : cls;
	q->edns_version = (uint8_t)(ttl >> 16);
	q->edns_do = (ttl & PD_EDNS_DO) != 0;
}

/*
 * The options in the rdlen bytes at p, the RDATA of an OPT of version 0: notes those the
 * answer heeds. Returns false when one runs past the RDATA or 1 to 3 bytes are left over
 * (RFC 6891 6.1.2: the RDATA is whole options), which NSD answers with FORMERR.
 */
static bool pd__edns_options(pd_query_t *q, const uint8_t *p, size_t rdlen)
{
	const uint8_t *end = p + rdlen;
	while ((size_t)(end - p) >= PD__OPTION_HDR) {
		uint16_t code = pd_get_u16(p), len = pd_get_u16(p + 2);
		p += PD__OPTION_HDR;
		if ((size_t)(end - p) < len)
			return false;
		if (code == PD_EDNS_OPT_NSID) {
			q->edns_nsid = true;
		} else if (code == PD_EDNS_OPT_COOKIE && !q->cookie_off && !q->cookie_malformed) {
			/* RFC 7873 5.2.2: a client cookie, maybe with a server cookie of 8 to 32.
			 */
			q->cookie_malformed = len < 8 || (len > 8 && len < 16) || len > 40;
			q->cookie_off = (uint16_t)(p - q->wire);
			q->cookie_len = (uint8_t)len;
		} else if (code == PD_EDNS_OPT_KEEPALIVE) {
			q->edns_keepalive = true;
			q->edns_keepalive_timeout |= len != 0;
		}
		p += len;
	}
	return p == end;
}

/*
 * The OPT record at the cursor (its owner already seen to be the root and its type OPT),
 * as NSD reads it: options only for version 0, other versions get BADVERS unread.
 * Returns false for FORMERR: cut short, or malformed options.
 */
static bool pd__parse_opt(pd_query_t *q, pd_wire_t *w)
{
	const uint8_t *p = w->pos;
	pd_wire_skip(w, PD__OPT_LEN);
	if (w->err)
		return false;
	uint16_t rdlen = pd_get_u16(p + 9);
	pd_wire_skip(w, rdlen);
	if (w->err)
		return false;
	pd__edns_set(q, pd_get_u16(p + 3), pd_get_u32(p + 5));
	return q->edns_version != 0 || pd__edns_options(q, p + PD__OPT_LEN, rdlen);
}

static bool pd__at_opt(const pd_wire_t *w)
{
	return pd_wire_left(w) >= 3 && w->pos[0] == 0 && pd_get_u16(w->pos + 1) == PD_TYPE_OPT;
}

/*
 * Reads the record at the cursor as a TSIG (RFC 8945 4.2), checking what NSD checks:
 * class ANY, TTL 0, every field inside the RDATA, MAC and Other Data of sane sizes.
 * Names may be compressed. Returns 1 for a TSIG (its start noted in q->tsig_off), 0 for
 * another record (the cursor is then left where it was), -1 for a malformed one.
 */
static int pd__parse_tsig(pd_query_t *q, pd_wire_t *w)
{
	uint8_t name[PD_NAME_MAX];
	pd_wire_t start = *w;
	pd_name_parse(w, name);
	uint16_t type = pd_wire_u16(w), cls = pd_wire_u16(w);
	if (w->err)
		return -1;
	if (type != PD_TYPE_TSIG || cls != PD_CLASS_ANY) {
		*w = start;
		return 0;
	}
	uint32_t ttl = pd_wire_u32(w);
	uint16_t rdlen = pd_wire_u16(w);
	if (w->err || ttl != 0 || pd_wire_left(w) < rdlen)
		return -1;
	/* The fields, read within the RDATA; names still point into the whole message. */
	pd_wire_t rd = *w;
	rd.end = w->pos + rdlen;
	pd_wire_skip(w, rdlen);
	pd_name_parse(&rd, name); /* algorithm */
	pd_wire_skip(&rd, 8);     /* time signed, fudge */
	uint16_t mac = pd_wire_u16(&rd);
	pd_wire_skip(&rd, mac);
	pd_wire_skip(&rd, 4); /* original ID, error */
	uint16_t other = pd_wire_u16(&rd);
	pd_wire_skip(&rd, other);
	if (rd.err || mac > PD__TSIG_MAC_MAX || other > PD__TSIG_OTHER_MAX)
		return -1;
	q->tsig_off = (uint16_t)pd_wire_offset(&start);
	return 1;
}

/*
 * The records of a QUERY after its question, as NSD takes them: no answers, no
 * authority records but an IXFR's, and in the additional section an OPT first, a TSIG
 * last, nothing else. Bytes after the last record are ignored. Returns an rcode.
 */
static int pd__parse_records(pd_query_t *q, pd_wire_t *w)
{
	if (q->ancount || (q->nscount && q->qtype != PD_TYPE_IXFR) || q->nscount > PD__IXFR_NS_MAX)
		return PD_RCODE_FORMERR;
	for (unsigned i = 0; i < q->nscount; i++)
		pd__skip_rr(w);
	if (w->err)
		return PD_RCODE_FORMERR;
	unsigned left = q->arcount;
	/* RFC 6891 6.1.1: one OPT, owned by the root; NSD looks for it first. */
	if (left && pd__at_opt(w)) {
		if (!pd__parse_opt(q, w))
			return PD_RCODE_FORMERR;
		left--;
	}
	/* RFC 8945 5.1: the TSIG is the last record, and only one; anything else is FORMERR. */
	if (left) {
		if (pd__parse_tsig(q, w) <= 0)
			return PD_RCODE_FORMERR;
		left--;
	}
	return left ? PD_RCODE_FORMERR : PD_RCODE_NOERROR;
}

/*
 * The records of a NOTIFY, as NSD reads them: whether the last one is a TSIG, past the
 * questions (QDCOUNT of them from the header) and every other record, with no rule on
 * what they are (a NOTIFY may carry the zone's SOA as an answer).
 */
static void pd__parse_notify(pd_query_t *q)
{
	pd_wire_t w;
	size_t count = (size_t)q->qdcount + q->ancount + q->nscount + q->arcount;
	if (q->arcount == 0)
		return;
	if (count > PD__RRCOUNT_MAX) {
		q->tsig_malformed = true;
		return;
	}
	pd_wire_init(&w, q->wire, q->len);
	pd_wire_skip(&w, PD_HEADER_LEN);
	for (size_t i = 0; i + 1 < count && !w.err; i++) {
		if (i < q->qdcount) {
			uint8_t name[PD_NAME_MAX];
			pd_name_parse(&w, name);
			pd_wire_skip(&w, 4);
		} else {
			pd__skip_rr(&w);
		}
	}
	q->tsig_malformed = w.err || pd__parse_tsig(q, &w) < 0;
}

/*
 * A QUERY whose QDCOUNT is not 1. NSD answers one thing there: QDCOUNT 0 with nothing
 * but a well-formed OPT of version 0 right after the header (an EDNS or NSID probe) gets
 * NOERROR; anything else is FORMERR. Returns the rcode.
 */
static int pd__parse_no_question(pd_query_t *q)
{
	pd_wire_t w;
	q->formerr_qdcount = true;
	if (q->qdcount != 0 || q->ancount || q->nscount || q->arcount != 1)
		return PD_RCODE_FORMERR;
	pd_wire_init(&w, q->wire, q->len);
	pd_wire_skip(&w, PD_HEADER_LEN);
	if (!pd__at_opt(&w) || !pd__parse_opt(q, &w) || q->edns_version != 0)
		return PD_RCODE_FORMERR;
	q->formerr_qdcount = false;
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
	if (end - p < PD__OPT_LEN || p[0] != 0 || pd_get_u16(p + 1) != PD_TYPE_OPT || p[6] != 0)
		return false;
	size_t rdlen = (size_t)(end - p) - PD__OPT_LEN;
	if (rdlen != pd_get_u16(p + 9))
		return false;
	pd__edns_set(q, pd_get_u16(p + 3), pd_get_u32(p + 5));
	/* Options are rare: an empty OPT costs this one test. Malformed ones are left to
	 * the general parse, which says FORMERR. */
	return rdlen == 0 || pd__edns_options(q, p + PD__OPT_LEN, rdlen);
}

void pd_query_parse(pd_query_t *q, const uint8_t *wire, size_t len)
{
	pd_wire_t w;

	q->wire = wire;
	q->len = len;
	q->tcp = false;
	q->rcode = PD_RCODE_NOERROR;
	q->formerr_qdcount = false;
	q->question_ok = false;
	q->cacheable = false;
	q->edns = false;
	q->edns_do = false;
	q->edns_nsid = false;
	q->edns_keepalive = false;
	q->edns_keepalive_timeout = false;
	q->cookie_off = 0;
	q->cookie_len = 0;
	q->cookie_malformed = false;
	q->cookie = 0;
	q->badcookie = false;
	q->edns_version = 0;
	q->edns_size = 0;
	q->tsig_off = 0;
	q->tsig_malformed = false;
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
	q->qdcount = pd_wire_u16(&w);
	q->ancount = pd_wire_u16(&w);
	q->nscount = pd_wire_u16(&w);
	q->arcount = pd_wire_u16(&w);
	q->opcode = (uint8_t)((q->flags & PD_OPCODE_MASK) >> PD_OPCODE_SHIFT);
	/* The opcode first, as NSD: another one may give the rest another meaning. */
	if (q->opcode != PD_OPCODE_QUERY && q->opcode != PD_OPCODE_NOTIFY) {
		q->rcode = PD_RCODE_NOTIMP;
		return;
	}
	if (q->flags & PD_RCODE_MASK) {
		q->rcode = PD_RCODE_FORMERR; /* a query has no rcode to say */
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
	if (q->opcode == PD_OPCODE_NOTIFY) {
		pd__parse_notify(q);
		return;
	}
	if (q->qdcount != 1) {
		q->rcode = (uint8_t)pd__parse_no_question(q);
		return;
	}
	if (pd__parse_simple(q, w.pos, w.end)) {
		/* A transfer's answer depends on who asks (provide-xfr) and comes by TCP. */
		q->cacheable = !q->edns_keepalive_timeout && q->qtype != PD_TYPE_AXFR &&
		               q->qtype != PD_TYPE_IXFR;
		return;
	}
	q->rcode = (uint8_t)pd__parse_records(q, &w);
}

void pd_query_parse_dgram(pd_query_t *q, const pd_dgram_t *d)
{
	pd_query_parse(q, d->in, d->in_len);
	q->tcp = d->tcp;
}
