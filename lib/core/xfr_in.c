/* Zone transfers in: the query, the response messages read, checked and made a zone. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "pindns/dns.h"
#include "pindns/xfr.h"

#include "rdata.h"
#include "xfr_int.h"

#define PD__CHUNK (64u << 10)
#define PD__EMPTY_MAX 16 /* messages in a row without a record: a primary gone astray */

/* Room for the records received: chunks that never move, so records can point into them. */
typedef struct pd__chunk {
	struct pd__chunk *next;
	size_t used, cap;
	uint8_t data[];
} pd__chunk_t;

enum { PD__IN_FIRST, PD__IN_SECOND, PD__IN_AXFR, PD__IN_DEL, PD__IN_ADD, PD__IN_DONE };

struct pd_xfr_in {
	uint8_t origin[PD_NAME_MAX];
	uint8_t origin_len;
	uint8_t state;
	bool ixfr;     /* the question was IXFR */
	bool was_ixfr; /* the answer was incremental */
	bool current;  /* the answer was our SOA alone */
	bool failed;
	int rcode;
	uint16_t id;
	const pd_zone_t *old;
	size_t max_bytes, bytes, records, msgs;
	uint32_t serial;      /* the first SOA's: the version being sent */
	uint32_t diff_to;     /* the incremental form: the new serial of the diff being read */
	pd_rr_t soa;          /* the first SOA, in the chunks */
	pd_zone_builder_t *b; /* the AXFR form */
	/* The incremental form: the version so far is old's records (base, sorted, but its
	 * SOA) and those the diffs read so far added (extra, sorted), less the dead ones;
	 * adds are what the diff being read adds. base is never rewritten, so a diff costs
	 * in proportion to what this transfer added, not to the zone. */
	pd_rr_t *base, *extra, *adds;
	bool *dead, *extra_dead;
	size_t nbase, nextra, nadds, adds_cap;
	unsigned empty_run; /* messages in a row without a record */
	pd__chunk_t *chunks;
	char err[256];
	uint8_t owner[PD_NAME_MAX];
	uint8_t rdata[PD_MSG_MAX + 2 * PD_NAME_MAX]; /* a record's RDATA, decompressed */
};

size_t pd_xfr_query(uint8_t *msg, size_t cap, uint16_t id, const uint8_t *origin, uint16_t qtype,
                    uint32_t serial)
{
	pd_wbuf_t w;
	pd_wbuf_init(&w, msg, cap);
	pd_wbuf_u16(&w, id);
	pd_wbuf_u16(&w, 0);
	pd_wbuf_u16(&w, 1);
	pd_wbuf_u16(&w, 0);
	pd_wbuf_u16(&w, qtype == PD_TYPE_IXFR ? 1 : 0);
	pd_wbuf_u16(&w, 0);
	pd_wbuf_put(&w, origin, pd_name_len(origin));
	pd_wbuf_u16(&w, qtype);
	pd_wbuf_u16(&w, PD_CLASS_IN);
	if (qtype == PD_TYPE_IXFR) {
		/* RFC 1995 3: our SOA in the authority section; only its serial is read. */
		pd_wbuf_u16(&w, 0xC000 | PD_HEADER_LEN);
		pd_wbuf_u16(&w, PD_TYPE_SOA);
		pd_wbuf_u16(&w, PD_CLASS_IN);
		pd_wbuf_u32(&w, 0);
		pd_wbuf_u16(&w, 22);
		pd_wbuf_u16(&w, 0); /* MNAME and RNAME: the root */
		pd_wbuf_u32(&w, serial);
		for (int i = 0; i < 4; i++)
			pd_wbuf_u32(&w, 0);
	}
	return w.err ? 0 : pd_wbuf_len(&w);
}

pd_xfr_in_t *pd_xfr_in_new(const uint8_t *origin, const pd_zone_t *old, uint16_t id,
                           size_t max_bytes)
{
	pd_xfr_in_t *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->origin_len = (uint8_t)pd_name_lower(x->origin, origin);
	x->old = old;
	x->id = id;
	x->max_bytes = max_bytes;
	x->rcode = -1;
	return x;
}

static int pd__in_fail(pd_xfr_in_t *x, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int pd__in_fail(pd_xfr_in_t *x, int ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err, sizeof(x->err), fmt, ap);
	va_end(ap);
	x->failed = true;
	return ret;
}

/* n bytes that stay where they are until the transfer is freed; NULL: out of memory. */
static uint8_t *pd__in_alloc(pd_xfr_in_t *x, size_t n)
{
	pd__chunk_t *c = x->chunks;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > PD__CHUNK ? n : PD__CHUNK;
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = x->chunks;
		c->used = 0;
		c->cap = cap;
		x->chunks = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

/* rr with its owner and RDATA copied into the chunks. */
static int pd__in_keep(pd_xfr_in_t *x, pd_rr_t *rr)
{
	uint8_t *p = pd__in_alloc(x, rr->owner_len + (size_t)rr->rdlen);
	if (!p)
		return pd__in_fail(x, -ENOMEM, "out of memory");
	memcpy(p, rr->owner, rr->owner_len);
	memcpy(p + rr->owner_len, rr->rdata, rr->rdlen);
	rr->owner = p;
	rr->rdata = p + rr->owner_len;
	return 0;
}

/*
 * The RDATA at the cursor (rdlen bytes), its names decompressed for the RFC 1035 types
 * that may compress them (RFC 3597 4), into x->rdata. Returns its length or -EPROTO.
 */
static int pd__in_rdata(pd_xfr_in_t *x, pd_wire_t *w, uint16_t type, uint16_t rdlen)
{
	pd__rdata_names_t names = pd__rdata_names(type);
	const uint8_t *end = w->pos + rdlen;
	size_t len = 0;
	if (rdlen > pd_wire_left(w))
		return -EPROTO;
	if (!(names.flags & PD__RDATA_COMPRESS) || rdlen < names.off) {
		pd_wire_read(w, x->rdata, rdlen);
		return rdlen;
	}
	pd_wire_read(w, x->rdata, names.off);
	len = names.off;
	for (int i = 0; i < names.count; i++) {
		size_t n = pd_name_parse(w, x->rdata + len);
		if (!n || w->pos > end)
			return -EPROTO;
		len += n;
	}
	size_t rest = (size_t)(end - w->pos);
	if (len + rest > UINT16_MAX)
		return -EPROTO;
	pd_wire_read(w, x->rdata + len, rest);
	return w->err ? -EPROTO : (int)(len + rest);
}

/* Reads one answer record into rr (pointing into x's buffers); 0 or a negative errno. */
static int pd__in_parse_rr(pd_xfr_in_t *x, pd_wire_t *w, pd_rr_t *rr)
{
	uint8_t name[PD_NAME_MAX];
	if (!pd_name_parse(w, name))
		return pd__in_fail(x, -EPROTO, "malformed record owner");
	rr->owner_len = (uint8_t)pd_name_lower(x->owner, name);
	rr->owner = x->owner;
	rr->type = pd_wire_u16(w);
	uint16_t cls = pd_wire_u16(w);
	rr->ttl = pd_wire_u32(w);
	uint16_t rdlen = pd_wire_u16(w);
	int n = w->err ? -EPROTO : pd__in_rdata(x, w, rr->type, rdlen);
	if (n < 0)
		return pd__in_fail(x, -EPROTO, "malformed record");
	rr->rdata = x->rdata;
	rr->rdlen = (uint16_t)n;
	char o[PD_NAME_TXT_MAX];
	if (!pd_name_is_under(x->owner, x->origin)) {
		pd_name_to_str(o, sizeof(o), x->owner);
		return pd__in_fail(x, -EPROTO, "record %s outside the zone", o);
	}
	if (cls != PD_CLASS_IN) {
		pd_name_to_str(o, sizeof(o), x->owner);
		return pd__in_fail(x, -EPROTO, "record %s of class %u, not IN", o, cls);
	}
	x->records++;
	return 0;
}

/* The serial of an SOA record at the apex; -EPROTO for any other record. */
static int pd__in_soa(pd_xfr_in_t *x, const pd_rr_t *rr, uint32_t *serial)
{
	if (rr->type != PD_TYPE_SOA)
		return -EPROTO;
	if (rr->owner_len != x->origin_len || !pd__soa_serial(rr->rdata, rr->rdlen, serial))
		return pd__in_fail(x, -EPROTO, "malformed SOA record");
	return 0;
}

static int pd__in_builder_add(pd_xfr_in_t *x, const pd_rr_t *rr)
{
	int ret = pd_zone_builder_add(x->b, rr->owner, rr->type, rr->ttl, rr->rdata, rr->rdlen, 0);
	if (ret == -ENOMEM)
		return pd__in_fail(x, ret, "out of memory");
	if (ret < 0)
		return pd__in_fail(x, -EPROTO, "%s", pd_zone_builder_error(x->b));
	return 0;
}

/* The AXFR form: records up to the SOA again (RFC 5936 2.2). */
static int pd__in_axfr_rr(pd_xfr_in_t *x, const pd_rr_t *rr)
{
	uint32_t serial;
	int ret = pd__in_soa(x, rr, &serial);
	if (ret == 0) {
		if (serial != x->serial)
			return pd__in_fail(x, -EPROTO, "last SOA serial %u, the first was %u",
			                   serial, x->serial);
		x->state = PD__IN_DONE;
		return 0;
	}
	return x->failed ? ret : pd__in_builder_add(x, rr);
}

static int pd__in_start_axfr(pd_xfr_in_t *x)
{
	x->b = pd_zone_builder_new(x->origin);
	if (!x->b)
		return pd__in_fail(x, -ENOMEM, "out of memory");
	x->state = PD__IN_AXFR;
	return pd__in_builder_add(x, &x->soa);
}

/* The incremental form starts from old's records (RFC 1995 4): its serial first. */
static int pd__in_start_ixfr(pd_xfr_in_t *x, uint32_t from)
{
	if (!x->old || x->old->serial != from)
		return pd__in_fail(x, -ENOENT, "IXFR from serial %u, we have %u", from,
		                   x->old ? x->old->serial : 0);
	int ret = pd__zone_records(x->old, &x->base, &x->nbase);
	x->dead = calloc(x->nbase + 1, sizeof(*x->dead));
	if (ret < 0 || !x->dead)
		return pd__in_fail(x, -ENOMEM, "out of memory");
	x->was_ixfr = true;
	x->state = PD__IN_DEL;
	return 0;
}

/* The first record of the sorted v (n of them) equal to rr and not dead, or n. */
static size_t pd__find_live(const pd_rr_t *v, const bool *dead, size_t n, const pd_rr_t *rr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* the first not below rr */
		size_t mid = lo + (hi - lo) / 2;
		if (pd__rr_cmp(&v[mid], rr) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && pd__rr_cmp(&v[lo], rr) == 0; lo++)
		if (!dead[lo])
			return lo;
	return n;
}

/* Marks the record of the version so far equal to rr dead; false when it has none. */
static bool pd__in_kill(pd_xfr_in_t *x, const pd_rr_t *rr)
{
	size_t i = pd__find_live(x->base, x->dead, x->nbase, rr);
	if (i < x->nbase)
		return x->dead[i] = true;
	i = pd__find_live(x->extra, x->extra_dead, x->nextra, rr);
	if (i < x->nextra)
		return x->extra_dead[i] = true;
	return false;
}

/* Marks the record of the version so far equal to rr deleted; -ENOENT if there is none. */
static int pd__in_delete(pd_xfr_in_t *x, const pd_rr_t *rr)
{
	if (pd__in_kill(x, rr))
		return 0;
	char o[PD_NAME_TXT_MAX];
	pd_name_to_str(o, sizeof(o), rr->owner);
	return pd__in_fail(x, -ENOENT, "IXFR deletes a record of %s (type %u) we do not have", o,
	                   rr->type);
}

static int pd__in_add(pd_xfr_in_t *x, pd_rr_t rr)
{
	if (x->nadds == x->adds_cap) {
		size_t cap = x->adds_cap ? x->adds_cap * 2 : 256;
		pd_rr_t *n = realloc(x->adds, cap * sizeof(*n));
		if (!n)
			return pd__in_fail(x, -ENOMEM, "out of memory");
		x->adds = n;
		x->adds_cap = cap;
	}
	int ret = pd__in_keep(x, &rr);
	if (ret == 0)
		x->adds[x->nadds++] = rr;
	return ret;
}

/*
 * The diff read is applied: its additions join extra. An addition of a record the version
 * already has replaces it (RFC 1995 has no "add if missing": BIND takes it so), so that
 * no record is held twice and a later deletion of it deletes it.
 */
static int pd__in_commit(pd_xfr_in_t *x)
{
	if (!x->nadds)
		return 0;
	qsort(x->adds, x->nadds, sizeof(*x->adds), pd__rr_qcmp);
	size_t k = 0;
	for (size_t i = 0; i < x->nadds; i++) {
		if (k && pd__rr_cmp(&x->adds[k - 1], &x->adds[i]) == 0) {
			x->adds[k - 1] = x->adds[i]; /* twice in one diff: the last one */
			continue;
		}
		pd__in_kill(x, &x->adds[i]);
		x->adds[k++] = x->adds[i];
	}
	size_t cap = x->nextra + k + 1, n = 0, i = 0, j = 0;
	pd_rr_t *v = malloc(cap * sizeof(*v));
	bool *dead = calloc(cap, sizeof(*dead));
	if (!v || !dead) {
		free(v);
		free(dead);
		return pd__in_fail(x, -ENOMEM, "out of memory");
	}
	while (i < x->nextra || j < k) { /* both sorted: merged, the dead left out */
		if (i < x->nextra && x->extra_dead[i]) {
			i++;
			continue;
		}
		bool from_extra =
		    j == k || (i < x->nextra && pd__rr_cmp(&x->extra[i], &x->adds[j]) < 0);
		v[n++] = from_extra ? x->extra[i++] : x->adds[j++];
	}
	free(x->extra);
	free(x->extra_dead);
	x->extra = v;
	x->extra_dead = dead;
	x->nextra = n;
	x->nadds = 0;
	return 0;
}

/* The incremental form: deletions up to the new SOA, additions up to the next SOA. */
static int pd__in_ixfr_rr(pd_xfr_in_t *x, const pd_rr_t *rr)
{
	uint32_t serial;
	int ret = pd__in_soa(x, rr, &serial);
	if (ret < 0 && x->failed)
		return ret;
	if (ret < 0)
		return x->state == PD__IN_DEL ? pd__in_delete(x, rr) : pd__in_add(x, *rr);
	if (x->state == PD__IN_DEL) {
		x->diff_to = serial;
		x->state = PD__IN_ADD;
		return 0;
	}
	/* The SOA ending the additions: the last one once the version sent is reached. */
	bool last = x->diff_to == x->serial && serial == x->serial;
	if (!last && serial != x->diff_to)
		return pd__in_fail(x, -EPROTO, "IXFR goes on from serial %u after %u", serial,
		                   x->diff_to);
	ret = pd__in_commit(x);
	x->state = last ? PD__IN_DONE : PD__IN_DEL;
	return ret;
}

/* The first two records tell the form: an SOA, then the old SOA (incremental) or not. */
static int pd__in_rr(pd_xfr_in_t *x, pd_rr_t *rr)
{
	uint32_t serial;
	int ret;
	switch (x->state) {
	case PD__IN_FIRST:
		if (pd__in_soa(x, rr, &x->serial) < 0)
			return pd__in_fail(x, -EPROTO, "the first record is not the zone's SOA");
		x->soa = *rr;
		ret = pd__in_keep(x, &x->soa);
		if (ret < 0)
			return ret;
		if (x->ixfr) {
			x->state = PD__IN_SECOND;
			return 0;
		}
		return pd__in_start_axfr(x);
	case PD__IN_SECOND:
		if (pd__in_soa(x, rr, &serial) == 0)
			return pd__in_start_ixfr(x, serial);
		if (x->failed)
			return -EPROTO;
		ret = pd__in_start_axfr(x); /* RFC 1995 4: the whole zone, as AXFR sends it */
		return ret < 0 ? ret : pd__in_axfr_rr(x, rr);
	case PD__IN_AXFR:
		return pd__in_axfr_rr(x, rr);
	case PD__IN_DEL:
	case PD__IN_ADD:
		return pd__in_ixfr_rr(x, rr);
	default:
		return pd__in_fail(x, -EPROTO, "records after the last SOA");
	}
}

/* The header: a response to our query, without error. */
static int pd__in_header(pd_xfr_in_t *x, pd_wire_t *w)
{
	uint16_t id = pd_wire_u16(w), flags = pd_wire_u16(w);
	if (w->err)
		return pd__in_fail(x, -EPROTO, "message shorter than a header");
	if (id != x->id || !(flags & PD_FLAG_QR) || (flags & PD_OPCODE_MASK))
		return pd__in_fail(x, -EPROTO, "not a response to our query");
	x->rcode = flags & PD_RCODE_MASK;
	if (x->rcode)
		return pd__in_fail(x, -ECONNREFUSED, "the primary answered rcode %d", x->rcode);
	return 0;
}

/* The question: required in the first message (RFC 5936 2.2.1), ours if in another. */
static int pd__in_question(pd_xfr_in_t *x, pd_wire_t *w, uint16_t qdcount)
{
	uint8_t name[PD_NAME_MAX];
	if (qdcount > 1 || (qdcount == 0 && x->msgs == 0))
		return pd__in_fail(x, -EPROTO, "%u questions", qdcount);
	if (qdcount == 0)
		return 0;
	size_t len = pd_name_parse(w, name);
	uint16_t qtype = pd_wire_u16(w), qclass = pd_wire_u16(w);
	bool ixfr = qtype == PD_TYPE_IXFR;
	if (w->err || !len || !pd_name_equal(name, x->origin) || qclass != PD_CLASS_IN ||
	    (qtype != PD_TYPE_AXFR && !ixfr) || (x->msgs && ixfr != x->ixfr))
		return pd__in_fail(x, -EPROTO, "not the question we asked");
	x->ixfr = ixfr;
	return 0;
}

int pd_xfr_in_feed(pd_xfr_in_t *x, const uint8_t *msg, size_t len)
{
	pd_wire_t w;
	pd_rr_t rr;
	if (x->failed)
		return -EPROTO;
	if (x->state == PD__IN_DONE)
		return pd__in_fail(x, -EPROTO, "a message after the last SOA");
	/* What comes counts, records or not: a primary that sends empty messages without end
	 * reaches xfr-max-size too, and a run of them is cut short. */
	x->bytes += len;
	if (x->max_bytes && x->bytes > x->max_bytes)
		return pd__in_fail(x, -EFBIG, "transfer larger than %zu bytes", x->max_bytes);
	pd_wire_init(&w, msg, len);
	int ret = pd__in_header(x, &w);
	if (ret < 0)
		return ret;
	uint16_t qd = pd_wire_u16(&w), an = pd_wire_u16(&w);
	pd_wire_skip(&w, 4); /* authority and additional (the TSIG): not read */
	ret = pd__in_question(x, &w, qd);
	for (uint16_t i = 0; ret == 0 && i < an; i++) {
		ret = pd__in_parse_rr(x, &w, &rr);
		if (ret == 0)
			ret = pd__in_rr(x, &rr);
	}
	if (ret < 0)
		return ret;
	x->empty_run = an ? 0 : x->empty_run + 1;
	if (x->empty_run > PD__EMPTY_MAX)
		return pd__in_fail(x, -EPROTO, "%u messages in a row without a record",
		                   x->empty_run);
	x->msgs++;
	/* Our own SOA alone: we are current (RFC 1995 4), or newer than what it has. */
	if (x->state == PD__IN_SECOND && x->old && !pd__serial_gt(x->serial, x->old->serial)) {
		x->current = true;
		x->state = PD__IN_DONE;
	}
	return x->state == PD__IN_DONE ? 1 : 0;
}

/* The version the incremental form made: its last SOA and the records left. */
static int pd__in_build_ixfr(pd_xfr_in_t *x)
{
	x->b = pd_zone_builder_new(x->origin);
	if (!x->b || pd_zone_builder_reserve(x->b, x->nbase + x->nextra + 1, x->bytes) < 0)
		return pd__in_fail(x, -ENOMEM, "out of memory");
	int ret = pd__in_builder_add(x, &x->soa);
	for (size_t i = 0; ret == 0 && i < x->nbase; i++)
		if (!x->dead[i])
			ret = pd__in_builder_add(x, &x->base[i]);
	for (size_t i = 0; ret == 0 && i < x->nextra; i++)
		if (!x->extra_dead[i])
			ret = pd__in_builder_add(x, &x->extra[i]);
	return ret;
}

int pd_xfr_in_finish(pd_xfr_in_t *x, pd_zone_t **out)
{
	*out = NULL;
	if (x->failed || x->state != PD__IN_DONE)
		return x->failed ? -EPROTO : -EINPROGRESS;
	if (x->current)
		return 0;
	int ret = x->was_ixfr ? pd__in_build_ixfr(x) : 0;
	if (ret < 0)
		return ret;
	ret = pd_zone_builder_finish(x->b, out);
	if (ret < 0)
		return pd__in_fail(x, ret, "%s", pd_zone_builder_error(x->b));
	return 0;
}

bool pd_xfr_in_was_ixfr(const pd_xfr_in_t *x)
{
	return x->was_ixfr;
}

int pd_xfr_in_rcode(const pd_xfr_in_t *x)
{
	return x->rcode;
}

size_t pd_xfr_in_records(const pd_xfr_in_t *x)
{
	return x->records;
}

const char *pd_xfr_in_error(const pd_xfr_in_t *x)
{
	return x->err;
}

void pd_xfr_in_free(pd_xfr_in_t *x)
{
	if (!x)
		return;
	while (x->chunks) {
		pd__chunk_t *c = x->chunks;
		x->chunks = c->next;
		free(c);
	}
	pd_zone_builder_free(x->b);
	free(x->base);
	free(x->dead);
	free(x->extra);
	free(x->extra_dead);
	free(x->adds);
	free(x);
}
