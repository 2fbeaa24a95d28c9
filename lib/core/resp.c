/* Response sections: RRsets written whole or not at all, with name compression. */
#include "pindns/resp.h"

#include "pindns/dns.h"

#include "rdata.h"

static inline uint8_t pd__lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static void pd__compr_add(pd_resp_t *r, size_t off, int labels)
{
	if (r->ncompr < PD_COMPR_MAX && off < 0x4000 && labels > 0) {
		r->compr[r->ncompr].off = (uint16_t)off;
		r->compr[r->ncompr].labels = (uint8_t)labels;
		r->ncompr++;
	}
}

void pd_resp_init(pd_resp_t *r, uint8_t *buf, size_t len, size_t limit, size_t qname_off)
{
	r->buf = buf;
	r->len = len;
	r->limit = limit;
	r->count[0] = r->count[1] = r->count[2] = 0;
	r->ncompr = 0;
	if (qname_off == 0)
		return; /* no question to point into */
	const uint8_t *q = buf + qname_off;
	int labels = pd_name_labels(q);
	for (const uint8_t *p = q; *p; p = pd_name_parent(p))
		pd__compr_add(r, (size_t)(p - buf), labels--);
}

void pd_resp_init_labels(pd_resp_t *r, uint8_t *buf, size_t len, size_t limit, size_t qname_off,
                         const uint8_t *label_off, unsigned labels)
{
	pd_resp_init(r, buf, len, limit, 0);
	/* The same entries pd_resp_init() makes, from offsets the parse noted. */
	for (unsigned i = 0; i + 1 < labels; i++)
		pd__compr_add(r, qname_off + label_off[i], (int)(labels - 1 - i));
}

void pd_resp_clear(pd_resp_t *r, size_t question_end)
{
	r->len = question_end;
	r->count[0] = r->count[1] = r->count[2] = 0;
	/* Entries past the question point at bytes that are gone. */
	unsigned keep = 0;
	while (keep < r->ncompr && r->compr[keep].off < question_end)
		keep++;
	r->ncompr = keep;
}

/* Does the (possibly compressed) name at buf+off equal the uncompressed name s? */
static bool pd__compr_match(const uint8_t *buf, size_t off, const uint8_t *s)
{
	const uint8_t *p = buf + off;
	for (;;) {
		while ((*p & 0xC0) == 0xC0)
			p = buf + ((size_t)(p[0] & 0x3F) << 8 | p[1]);
		if (*p != *s)
			return false;
		if (*p == 0)
			return true;
		for (uint8_t i = 1; i <= *p; i++)
			if (pd__lower(p[i]) != pd__lower(s[i]))
				return false;
		p += 1 + *p;
		s += 1 + *s;
	}
}

/* Writes name at r->len, compressed when compress is set; returns 0 or -ENOSPC. */
static int pd__put_name(pd_resp_t *r, const uint8_t *name, bool compress)
{
	int labels = pd_name_labels(name);
	const uint8_t *suffix = name;
	int ptr = -1;
	int sl = labels;

	if (compress) {
		for (; sl > 0; sl--, suffix = pd_name_parent(suffix)) {
			for (unsigned i = 0; i < r->ncompr; i++) {
				if (r->compr[i].labels == sl &&
				    pd__compr_match(r->buf, r->compr[i].off, suffix)) {
					ptr = r->compr[i].off;
					break;
				}
			}
			if (ptr >= 0)
				break;
		}
	} else {
		suffix = name + pd_name_len(name) - 1;
		sl = 0;
	}
	size_t lit = (size_t)(suffix - name);
	size_t need = lit + (ptr >= 0 ? 2 : 1);
	if (r->len + need > r->limit)
		return -ENOSPC;
	size_t start = r->len;
	memcpy(r->buf + r->len, name, lit);
	r->len += lit;
	if (ptr >= 0) {
		pd_put_u16(r->buf + r->len, (uint16_t)(0xC000 | ptr));
		r->len += 2;
	} else {
		r->buf[r->len++] = 0;
	}
	if (compress) {
		int l = labels;
		for (const uint8_t *p = name; p < suffix; p = pd_name_parent(p))
			pd__compr_add(r, start + (size_t)(p - name), l--);
	}
	return 0;
}

int pd_resp_put_rr(pd_resp_t *r, int section, const uint8_t *owner, uint16_t type, uint16_t cls,
                   uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	size_t start = r->len;
	unsigned ncompr = r->ncompr;

	if (pd__put_name(r, owner, true) < 0)
		goto nospace;
	if (r->len + 10 > r->limit)
		goto nospace;
	uint8_t *h = r->buf + r->len;
	pd_put_u16(h, type);
	pd_put_u16(h + 2, cls);
	pd_put_u16(h + 4, (uint16_t)(ttl >> 16));
	pd_put_u16(h + 6, (uint16_t)ttl);
	r->len += 10;
	size_t rd_start = r->len;

	pd__rdata_names_t names = pd__rdata_names(type);
	if (names.flags & PD__RDATA_COMPRESS) {
		/* Zone data was validated by ldns, but stay inside rdlen regardless. */
		size_t name_off = names.off;
		pd_wire_t w;
		pd_wire_init(&w, rdata, rdlen);
		pd_wire_skip(&w, name_off);
		if (r->len + name_off > r->limit)
			goto nospace;
		memcpy(r->buf + r->len, rdata, name_off);
		r->len += name_off;
		for (int i = 0; i < names.count; i++) {
			uint8_t name[PD_NAME_MAX];
			if (!pd_name_parse(&w, name))
				goto copy_raw;
			if (pd__put_name(r, name, true) < 0)
				goto nospace;
		}
		size_t rest = pd_wire_left(&w);
		if (w.err)
			goto copy_raw;
		if (r->len + rest > r->limit)
			goto nospace;
		memcpy(r->buf + r->len, w.pos, rest);
		r->len += rest;
		goto done;
	copy_raw:
		r->len = rd_start;
		r->ncompr = ncompr;
	}
	if (r->len + rdlen > r->limit)
		goto nospace;
	memcpy(r->buf + r->len, rdata, rdlen);
	r->len += rdlen;
done:
	pd_put_u16(r->buf + rd_start - 2, (uint16_t)(r->len - rd_start));
	r->count[section]++;
	return 0;
nospace:
	r->len = start;
	r->ncompr = ncompr;
	return -ENOSPC;
}

int pd_resp_put_rrset(pd_resp_t *r, int section, const uint8_t *owner, const pd_zone_t *z,
                      const pd_rrset_t *rs, uint32_t ttl)
{
	pd_resp_mark_t m = pd_resp_mark(r);
	const uint8_t *p = pd_zone_rrset_data(z, rs);

	for (uint16_t i = 0; i < rs->count; i++) {
		uint16_t rdlen = pd_get_u16(p);
		if (pd_resp_put_rr(r, section, owner, rs->type, PD_CLASS_IN, ttl, p + 2, rdlen) <
		    0) {
			pd_resp_rewind(r, &m);
			return -ENOSPC;
		}
		p += 2u + rdlen;
	}
	return 0;
}
