/* AXFR and IXFR responses (RFC 5936, RFC 1995), one message at a time. */
#include <stdlib.h>

#include "pindns/dns.h"
#include "pindns/resp.h"
#include "pindns/xfr.h"

#include "xfr_int.h"

enum { PD__OUT_SOA_ONLY, PD__OUT_AXFR, PD__OUT_IXFR };

struct pd_xfr_out {
	const pd_zone_t *z;
	uint8_t kind;
	uint8_t stage; /* 0: the first SOA, 1: the body, 2: the last SOA, 3: all given */
	bool first;    /* the first message (with the question) is still to write */
	bool pending;  /* rr did not fit in the last message: it starts the next */
	uint16_t id, flags;
	uint16_t qlen; /* the question as sent, after the header */
	uint8_t question[PD_NAME_MAX + 4];
	pd__zcur_t cur;
	pd_diff_t **diffs;
	size_t ndiffs, di, ri;
	pd_rr_t rr;
};

static pd_xfr_out_t *pd__out_new(const pd_zone_t *z, const pd_query_t *q, int kind)
{
	pd_xfr_out_t *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->z = z;
	x->kind = (uint8_t)kind;
	x->first = true;
	x->id = q->id;
	x->flags = PD_FLAG_QR | PD_FLAG_AA | (q->flags & PD_FLAG_RD);
	if (q->question_ok && q->question_end > PD_HEADER_LEN &&
	    (size_t)(q->question_end - PD_HEADER_LEN) <= sizeof(x->question)) {
		x->qlen = (uint16_t)(q->question_end - PD_HEADER_LEN);
		memcpy(x->question, q->wire + PD_HEADER_LEN, x->qlen);
	}
	pd__zcur_init(&x->cur);
	if (kind == PD__OUT_AXFR) {
		pd_rr_t soa;
		pd__zcur_next(z, &x->cur, &soa); /* the SOA comes first: it is sent apart */
	}
	return x;
}

int pd_xfr_out_axfr(pd_xfr_out_t **out, const pd_zone_t *z, const pd_query_t *q)
{
	*out = NULL;
	if (z->expired)
		return -ENOENT;
	*out = pd__out_new(z, q, PD__OUT_AXFR);
	return *out ? 0 : -ENOMEM;
}

int pd_xfr_ixfr_serial(const pd_query_t *q, uint32_t *serial)
{
	pd_wire_t w;
	uint8_t name[PD_NAME_MAX];
	if (q->nscount < 1 || q->ancount != 0 || !q->question_ok)
		return -EINVAL;
	pd_wire_init(&w, q->wire, q->len);
	pd_wire_skip(&w, q->question_end);
	pd_name_parse(&w, name);
	bool owner_ok = pd_name_equal(name, q->wire + PD_HEADER_LEN); /* as Knot: FORMERR */
	uint16_t type = pd_wire_u16(&w);
	pd_wire_skip(&w, 6); /* class, TTL */
	uint16_t rdlen = pd_wire_u16(&w);
	const uint8_t *end = w.pos + rdlen;
	pd_name_parse(&w, name); /* compressed or not: the base is the message */
	pd_name_parse(&w, name);
	uint32_t s = pd_wire_u32(&w);
	if (w.err || !owner_ok || type != PD_TYPE_SOA || w.pos > end)
		return -EINVAL;
	*serial = s;
	return 0;
}

/* diffs lead from serial, one after the other, to z's version. */
static bool pd__diffs_chain(const pd_zone_t *z, pd_diff_t *const *diffs, size_t n, uint32_t serial)
{
	if (n == 0 || pd_diff_from(diffs[0]) != serial || pd_diff_to(diffs[n - 1]) != z->serial)
		return false;
	for (size_t i = 1; i < n; i++)
		if (pd_diff_from(diffs[i]) != pd_diff_to(diffs[i - 1]))
			return false;
	return true;
}

int pd_xfr_out_ixfr(pd_xfr_out_t **out, const pd_zone_t *z, pd_diff_t *const *diffs, size_t n,
                    const pd_query_t *q)
{
	uint32_t serial;
	*out = NULL;
	if (pd_xfr_ixfr_serial(q, &serial) < 0)
		return -EINVAL;
	if (z->expired)
		return -ENOENT;
	int kind = PD__OUT_AXFR;
	if (!q->tcp || serial == z->serial || pd__serial_gt(serial, z->serial))
		kind = PD__OUT_SOA_ONLY; /* RFC 1995 2: over UDP, the SOA says "use TCP" */
	else if (pd__diffs_chain(z, diffs, n, serial))
		kind = PD__OUT_IXFR;
	pd_xfr_out_t *x = pd__out_new(z, q, kind);
	if (!x)
		return -ENOMEM;
	if (kind == PD__OUT_IXFR) {
		x->diffs = malloc(n * sizeof(*x->diffs));
		if (!x->diffs) {
			pd_xfr_out_free(x);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++)
			x->diffs[i] = pd_diff_ref(diffs[i]);
		x->ndiffs = n;
	}
	*out = x;
	return 0;
}

/* The next record of the incremental body: each diff's removed, then added records. */
static bool pd__ixfr_body(pd_xfr_out_t *x, pd_rr_t *rr)
{
	while (x->di < x->ndiffs) {
		size_t rm, add;
		const pd_rr_t *rrs = pd__diff_rrs(x->diffs[x->di], &rm, &add);
		if (x->ri < rm + add) {
			*rr = rrs[x->ri++];
			return true;
		}
		x->di++;
		x->ri = 0;
	}
	return false;
}

/* The next record to send; false when all were. */
static bool pd__out_rr(pd_xfr_out_t *x, pd_rr_t *rr)
{
	switch (x->stage) {
	case 0:
		pd_zone_soa(x->z, rr);
		x->stage = x->kind == PD__OUT_SOA_ONLY ? 3 : 1;
		return true;
	case 1:
		if (x->kind == PD__OUT_AXFR ? pd__zcur_next(x->z, &x->cur, rr)
		                            : pd__ixfr_body(x, rr))
			return true;
		/* fall through */
	case 2:
		pd_zone_soa(x->z, rr);
		x->stage = 3;
		return true;
	default:
		return false;
	}
}

/* The header and, in the first message, the question; the writer set up after them. */
static void pd__out_start(pd_xfr_out_t *x, pd_resp_t *r, uint8_t *msg, size_t limit)
{
	bool q = x->first && x->qlen;
	memset(msg, 0, PD_HEADER_LEN);
	pd_put_u16(msg, x->id);
	pd_put_u16(msg + 2, x->flags);
	pd_put_u16(msg + 4, q ? 1 : 0);
	if (q)
		memcpy(msg + PD_HEADER_LEN, x->question, x->qlen);
	pd_resp_init(r, msg, PD_HEADER_LEN + (q ? x->qlen : 0), limit, q ? PD_HEADER_LEN : 0);
}

/* After a record whose names' entries start at mark: keeps those of the base (set to the
 * first record's when there is no question) and the record's own, if it added any. */
static void pd__out_compr_keep(pd_resp_t *r, unsigned *base, unsigned mark)
{
	if (*base == 0) {
		*base = r->ncompr;
		return;
	}
	if (r->ncompr == mark || mark == *base)
		return; /* nothing new (a pointer to the last owner), or nothing to drop */
	unsigned n = r->ncompr - mark;
	memmove(&r->compr[*base], &r->compr[mark], n * sizeof(r->compr[0]));
	r->ncompr = *base + n;
}

int pd_xfr_out_next(pd_xfr_out_t *x, uint8_t *msg, size_t cap, size_t reserve)
{
	pd_resp_t r;
	if (x->stage == 3 && !x->pending)
		return 0;
	if (cap < reserve + PD_HEADER_LEN + x->qlen || cap > PD_MSG_MAX)
		return -EMSGSIZE;
	pd__out_start(x, &r, msg, cap - reserve);
	/* The names compressed against: the question's, or the first record's (the origin is
	 * a suffix of both), and the last record's that wrote any. Records come owner by
	 * owner, so these find what a full table would, and each name is matched against a
	 * handful instead of the writer's 64 (a 64-entry search per name was 92% of an
	 * AXFR's time). */
	unsigned base = r.ncompr;
	for (;;) {
		if (!x->pending && !pd__out_rr(x, &x->rr))
			break;
		x->pending = true;
		const pd_rr_t *rr = &x->rr;
		unsigned mark = r.ncompr;
		if (pd_resp_put_rr(&r, PD_SEC_ANSWER, rr->owner, rr->type, PD_CLASS_IN, rr->ttl,
		                   rr->rdata, rr->rdlen) < 0) {
			if (r.count[PD_SEC_ANSWER] == 0)
				return -EMSGSIZE;
			break;
		}
		x->pending = false;
		pd__out_compr_keep(&r, &base, mark);
	}
	x->first = false;
	pd_put_u16(msg + 6, r.count[PD_SEC_ANSWER]);
	return (int)r.len;
}

void pd_xfr_out_free(pd_xfr_out_t *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->ndiffs; i++)
		pd_diff_unref(x->diffs[i]);
	free(x->diffs);
	free(x);
}
