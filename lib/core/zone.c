/* Zone compilation: records in, an immutable hashed node/RRset structure out. */
#define _GNU_SOURCE /* qsort_r */
#include "pindns/zone.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pindns/dns.h"

typedef struct pd__rec {
	uint32_t owner_hash; /* sorts owners together with integer compares */
	uint32_t owner_off;  /* into builder names, lower-cased */
	uint8_t owner_len;
	uint16_t type;
	uint16_t rdlen;
	uint32_t ttl;
	uint32_t rd_off;
	uint32_t seq; /* file order, so RRs keep it and "first TTL wins" is well defined */
	int line;
} pd__rec_t;

struct pd_zone_builder {
	uint8_t origin[PD_NAME_MAX];
	size_t origin_len;
	pd__rec_t *recs;
	size_t nrecs, recs_cap;
	uint8_t *names;
	size_t names_len, names_cap;
	uint8_t *rdata;
	size_t rdata_len, rdata_cap;
	char err[512];
	int err_loc;
};

static int pd__grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *n = realloc(*buf, ncap * elem);
	if (!n)
		return -ENOMEM;
	*buf = n;
	*cap = ncap;
	return 0;
}

#define PD_HUGE_PAGE (2u << 20)

/*
 * Memory for a large array of a compiled zone: on huge pages when it is large, since
 * lookups land anywhere in a big zone and with 4 KiB pages nearly each of a query's
 * few memory accesses would also miss the TLB (a two-level page walk in a VM).
 */
static void *pd__alloc_big(size_t bytes)
{
	if (bytes < PD_HUGE_PAGE)
		return malloc(bytes ? bytes : 1);
	size_t size = (bytes + PD_HUGE_PAGE - 1) / PD_HUGE_PAGE * PD_HUGE_PAGE;
	void *p = aligned_alloc(PD_HUGE_PAGE, size);
	if (p)
		madvise(p, size, MADV_HUGEPAGE); /* a hint: fine if the kernel says no */
	return p;
}

/* Makes an array of `cap` elements the size of a presized array. */
static int pd__alloc_array(void **p, size_t *cap, size_t n, size_t elem)
{
	*p = pd__alloc_big(n * elem);
	if (!*p)
		return -ENOMEM;
	*cap = n;
	return 0;
}

static int pd__builder_fail(pd_zone_builder_t *b, int loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->err, sizeof(b->err), fmt, ap);
	va_end(ap);
	b->err_loc = loc;
	return -EINVAL;
}

pd_zone_builder_t *pd_zone_builder_new(const uint8_t *origin)
{
	pd_zone_builder_t *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->origin_len = pd_name_lower(b->origin, origin);
	return b;
}

int pd_zone_builder_reserve(pd_zone_builder_t *b, size_t records, size_t rdata_bytes)
{
	if (pd__grow((void **)&b->recs, &b->recs_cap, records, sizeof(*b->recs)) < 0 ||
	    pd__grow((void **)&b->rdata, &b->rdata_cap, rdata_bytes, 1) < 0 ||
	    pd__grow((void **)&b->names, &b->names_cap, records * 8, 1) < 0)
		return -ENOMEM;
	return 0;
}

int pd_zone_builder_merge(pd_zone_builder_t *dst, pd_zone_builder_t *src)
{
	if (pd__grow((void **)&dst->recs, &dst->recs_cap, dst->nrecs + src->nrecs,
	             sizeof(*dst->recs)) < 0 ||
	    pd__grow((void **)&dst->names, &dst->names_cap, dst->names_len + src->names_len + 1,
	             1) < 0 ||
	    pd__grow((void **)&dst->rdata, &dst->rdata_cap, dst->rdata_len + src->rdata_len + 1,
	             1) < 0)
		return -ENOMEM;
	if (src->names_len)
		memcpy(dst->names + dst->names_len, src->names, src->names_len);
	if (src->rdata_len)
		memcpy(dst->rdata + dst->rdata_len, src->rdata, src->rdata_len);
	for (size_t i = 0; i < src->nrecs; i++) {
		pd__rec_t r = src->recs[i];
		r.owner_off += (uint32_t)dst->names_len;
		r.rd_off += (uint32_t)dst->rdata_len;
		r.seq += (uint32_t)dst->nrecs;
		dst->recs[dst->nrecs + i] = r;
	}
	dst->nrecs += src->nrecs;
	dst->names_len += src->names_len;
	dst->rdata_len += src->rdata_len;
	src->nrecs = src->names_len = src->rdata_len = 0;
	return 0;
}

void pd_zone_builder_free(pd_zone_builder_t *b)
{
	if (!b)
		return;
	free(b->recs);
	free(b->names);
	free(b->rdata);
	free(b);
}

const char *pd_zone_builder_error(const pd_zone_builder_t *b)
{
	return b->err;
}

const uint8_t *pd_zone_builder_origin(const pd_zone_builder_t *b)
{
	return b->origin;
}

int pd_zone_builder_error_loc(const pd_zone_builder_t *b)
{
	return b->err_loc;
}

static const char *pd__type_str(uint16_t type, char *buf, size_t cap)
{
	static const struct {
		uint16_t t;
		const char *s;
	} known[] = {{PD_TYPE_A, "A"},         {PD_TYPE_NS, "NS"},     {PD_TYPE_CNAME, "CNAME"},
	             {PD_TYPE_SOA, "SOA"},     {PD_TYPE_PTR, "PTR"},   {PD_TYPE_MX, "MX"},
	             {PD_TYPE_TXT, "TXT"},     {PD_TYPE_AAAA, "AAAA"}, {PD_TYPE_SRV, "SRV"},
	             {PD_TYPE_DNAME, "DNAME"}, {PD_TYPE_DS, "DS"}};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (known[i].t == type)
			return known[i].s;
	snprintf(buf, cap, "TYPE%u", type);
	return buf;
}

/* Reads one uncompressed name from the RDATA cursor; false if it is not one. */
static bool pd__rdata_name(pd_wire_t *w)
{
	uint8_t name[PD_NAME_MAX];
	const uint8_t *start = w->pos;
	size_t len = pd_name_parse(w, name);
	return len > 0 && (size_t)(w->pos - start) == len;
}

/*
 * The answer code reads names out of these types' RDATA, so they must be well formed
 * here, whoever built the records: uncompressed names, and nothing left over.
 */
static bool pd__rdata_valid(uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
	pd_wire_t w;
	pd_wire_init(&w, rdata, rdlen);
	switch (type) {
	case PD_TYPE_NS:
	case PD_TYPE_CNAME:
	case PD_TYPE_DNAME:
	case PD_TYPE_PTR:
		if (!pd__rdata_name(&w))
			return false;
		break;
	case PD_TYPE_MX:
		pd_wire_skip(&w, 2);
		if (!pd__rdata_name(&w))
			return false;
		break;
	case PD_TYPE_SRV:
		pd_wire_skip(&w, 6);
		if (!pd__rdata_name(&w))
			return false;
		break;
	case PD_TYPE_SOA:
		if (!pd__rdata_name(&w) || !pd__rdata_name(&w))
			return false;
		pd_wire_skip(&w, 20);
		break;
	default:
		return true;
	}
	return w.err == 0 && pd_wire_left(&w) == 0;
}

int pd_zone_builder_add(pd_zone_builder_t *b, const uint8_t *owner, uint16_t type, uint32_t ttl,
                        const uint8_t *rdata, uint16_t rdlen, int loc)
{
	int line = loc;
	uint8_t lowner[PD_NAME_MAX];
	size_t olen = pd_name_lower(lowner, owner);

	if (!pd_name_is_under(lowner, b->origin)) {
		char o[PD_NAME_TXT_MAX], z[PD_NAME_TXT_MAX];
		pd_name_to_str(o, sizeof(o), owner);
		pd_name_to_str(z, sizeof(z), b->origin);
		return pd__builder_fail(b, line, "owner %s is outside the zone %s", o, z);
	}
	if (type == PD_TYPE_SOA && olen != b->origin_len) {
		char o[PD_NAME_TXT_MAX];
		pd_name_to_str(o, sizeof(o), owner);
		return pd__builder_fail(b, line, "SOA record at %s, not at the zone apex", o);
	}
	if (!pd__rdata_valid(type, rdata, rdlen)) {
		char o[PD_NAME_TXT_MAX], t[16];
		pd_name_to_str(o, sizeof(o), owner);
		return pd__builder_fail(b, line, "malformed %s RDATA at %s",
		                        pd__type_str(type, t, sizeof(t)), o);
	}
	if (pd__grow((void **)&b->recs, &b->recs_cap, b->nrecs + 1, sizeof(*b->recs)) < 0 ||
	    pd__grow((void **)&b->rdata, &b->rdata_cap, b->rdata_len + rdlen + 1, 1) < 0)
		return -ENOMEM;

	pd__rec_t *r = &b->recs[b->nrecs];
	/* Zone files mostly repeat the previous owner: share its bytes. */
	if (b->nrecs > 0 && b->recs[b->nrecs - 1].owner_len == olen &&
	    memcmp(b->names + b->recs[b->nrecs - 1].owner_off, lowner, olen) == 0) {
		r->owner_off = b->recs[b->nrecs - 1].owner_off;
		r->owner_hash = b->recs[b->nrecs - 1].owner_hash;
	} else {
		if (pd__grow((void **)&b->names, &b->names_cap, b->names_len + olen, 1) < 0)
			return -ENOMEM;
		memcpy(b->names + b->names_len, lowner, olen);
		r->owner_off = (uint32_t)b->names_len;
		r->owner_hash = pd_name_hash(lowner, olen);
		b->names_len += olen;
	}
	r->owner_len = (uint8_t)olen;
	r->type = type;
	r->ttl = ttl;
	r->rdlen = rdlen;
	r->rd_off = (uint32_t)b->rdata_len;
	r->seq = (uint32_t)b->nrecs;
	r->line = line;
	if (rdlen)
		memcpy(b->rdata + b->rdata_len, rdata, rdlen);
	b->rdata_len += rdlen;
	b->nrecs++;
	return 0;
}

static int pd__rec_cmp(const void *pa, const void *pb, void *arg)
{
	const pd_zone_builder_t *b = arg;
	const pd__rec_t *a = pa, *c = pb;
	/* Any order that groups owners will do: the hash decides almost every comparison. */
	if (a->owner_hash != c->owner_hash)
		return a->owner_hash < c->owner_hash ? -1 : 1;
	if (a->owner_len != c->owner_len)
		return a->owner_len < c->owner_len ? -1 : 1;
	int d = memcmp(b->names + a->owner_off, b->names + c->owner_off, a->owner_len);
	if (d)
		return d;
	if (a->type != c->type)
		return a->type < c->type ? -1 : 1;
	return a->seq < c->seq ? -1 : (a->seq > c->seq);
}

/* Sorts each run of one owner's records by type, keeping file order within a type. */
static void pd__sort_runs(pd_zone_builder_t *b)
{
	for (size_t i = 0; i < b->nrecs;) {
		size_t j = i + 1;
		while (j < b->nrecs && b->recs[j].owner_off == b->recs[i].owner_off)
			j++;
		for (size_t k = i + 1; k < j; k++) {
			pd__rec_t r = b->recs[k];
			size_t m = k;
			while (m > i && b->recs[m - 1].type > r.type) {
				b->recs[m] = b->recs[m - 1];
				m--;
			}
			b->recs[m] = r;
		}
		i = j;
	}
}

/* Inserts node index idx (whose name is already in z->names) into the hash table. */
static int pd__table_insert(pd_zone_t *z, uint32_t idx, uint32_t *used)
{
	if ((*used + 1) * 2 > z->table_mask + 1) {
		uint32_t ncap = (z->table_mask + 1) * 2;
		uint64_t *nt = calloc(ncap, sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		for (uint32_t i = 0; i <= z->table_mask; i++) {
			uint64_t e = z->table[i];
			if (!e)
				continue;
			uint32_t j = (uint32_t)(e >> 32) & (ncap - 1);
			while (nt[j])
				j = (j + 1) & (ncap - 1);
			nt[j] = e;
		}
		free(z->table);
		z->table = nt;
		z->table_mask = ncap - 1;
	}
	const pd_node_t *n = &z->nodes[idx];
	uint32_t h = pd_name_hash(z->names + n->name_off, n->name_len);
	uint32_t j = h & z->table_mask;
	while (z->table[j])
		j = (j + 1) & z->table_mask;
	z->table[j] = (uint64_t)h << 32 | (idx + 1);
	(*used)++;
	return 0;
}

const pd_node_t *pd_zone_find(const pd_zone_t *z, const uint8_t *lname, size_t len)
{
	uint32_t h = pd_name_hash(lname, len);
	for (uint32_t j = h & z->table_mask;; j = (j + 1) & z->table_mask) {
		uint64_t e = z->table[j];
		if (!e)
			return NULL;
		if ((uint32_t)(e >> 32) != h)
			continue;
		const pd_node_t *n = &z->nodes[(uint32_t)e - 1];
		if (n->name_len == len && memcmp(z->names + n->name_off, lname, len) == 0)
			return n;
	}
}

const pd_rrset_t *pd_zone_rrset(const pd_zone_t *z, const pd_node_t *n, uint16_t type)
{
	const pd_rrset_t *rs = z->rrsets + n->rrset_first;
	for (uint32_t i = 0; i < n->rrset_count; i++)
		if (rs[i].type == type)
			return &rs[i];
	return NULL;
}

/*
 * Leaves a finished array where it is when it is on huge pages and not much larger
 * than needed; otherwise moves it into memory of its own size (huge pages if large).
 * Arrays that had to grow after presizing land here, and so do oversized ones.
 */
static int pd__seal_array(void **p, size_t bytes, size_t cap_bytes)
{
	bool huge_ok = bytes < PD_HUGE_PAGE || (uintptr_t)*p % PD_HUGE_PAGE == 0;
	if (bytes == 0 || (huge_ok && cap_bytes <= bytes + bytes / 4 + 4096))
		return 0;
	void *n = pd__alloc_big(bytes);
	if (!n)
		return -ENOMEM;
	memcpy(n, *p, bytes);
	free(*p);
	*p = n;
	return 0;
}

void pd_zone_free(pd_zone_t *z)
{
	if (!z)
		return;
	free(z->nodes);
	free(z->rrsets);
	free(z->table);
	free(z->names);
	free(z->data);
	free(z);
}

/* Appends a node for a name; the caller makes sure it is not there yet. */
static int pd__zone_add_node(pd_zone_t *z, size_t *nodes_cap, size_t *names_cap,
                             const uint8_t *lname, size_t len, uint32_t *used)
{
	if (pd__grow((void **)&z->nodes, nodes_cap, z->node_count + 1, sizeof(*z->nodes)) < 0 ||
	    pd__grow((void **)&z->names, names_cap, z->names_len + len, 1) < 0)
		return -ENOMEM;
	pd_node_t *n = &z->nodes[z->node_count];
	memset(n, 0, sizeof(*n));
	n->name_off = (uint32_t)z->names_len;
	n->name_len = (uint8_t)len;
	n->labels = (uint8_t)pd_name_labels(lname);
	memcpy(z->names + z->names_len, lname, len);
	z->names_len += len;
	return pd__table_insert(z, z->node_count++, used);
}

/* Checks the node rules that need all of a node's RRsets: CNAME alone, one DNAME. */
static int pd__check_node(pd_zone_builder_t *b, const pd_zone_t *z, const pd_node_t *n,
                          const int *first_line)
{
	const pd_rrset_t *rs = z->rrsets + n->rrset_first;
	const pd_rrset_t *cname = NULL;
	char name[PD_NAME_TXT_MAX], tbuf[16];

	for (uint32_t i = 0; i < n->rrset_count; i++) {
		int line = first_line[n->rrset_first + i];
		if ((rs[i].type == PD_TYPE_CNAME || rs[i].type == PD_TYPE_DNAME) &&
		    rs[i].count > 1) {
			pd_name_to_str(name, sizeof(name), z->names + n->name_off);
			return pd__builder_fail(b, line, "more than one %s record at %s",
			                        pd__type_str(rs[i].type, tbuf, sizeof(tbuf)), name);
		}
		if (rs[i].type == PD_TYPE_CNAME)
			cname = &rs[i];
	}
	if (!cname)
		return 0;
	for (uint32_t i = 0; i < n->rrset_count; i++) {
		uint16_t t = rs[i].type;
		/* RFC 2181 10.1: CNAME stands alone; RFC 4035 lets DNSSEC records sit beside it. */
		if (t == PD_TYPE_CNAME || t == PD_TYPE_RRSIG || t == PD_TYPE_NSEC)
			continue;
		int line = first_line[cname - z->rrsets];
		pd_name_to_str(name, sizeof(name), z->names + n->name_off);
		return pd__builder_fail(b, line, "CNAME at %s beside other data (%s)", name,
		                        pd__type_str(t, tbuf, sizeof(tbuf)));
	}
	return 0;
}

int pd_zone_builder_finish(pd_zone_builder_t *b, pd_zone_t **out)
{
	int ret = -ENOMEM;
	pd_zone_t *z = calloc(1, sizeof(*z));
	int *first_line = NULL;
	uint32_t *order = NULL;
	size_t nodes_cap = 0, names_cap = 0, rrsets_cap = 0, data_cap = 0, table_bytes = 0;
	uint32_t used = 0;
	char origin_txt[PD_NAME_TXT_MAX];

	*out = NULL;
	pd_name_to_str(origin_txt, sizeof(origin_txt), b->origin);
	if (!z)
		goto fail;
	memcpy(z->origin, b->origin, b->origin_len);
	z->origin_len = (uint8_t)b->origin_len;
	z->origin_labels = (uint8_t)pd_name_labels(b->origin);
	/*
	 * Size everything for one node and RRset per record up front (empty non-terminals
	 * may still add a few): growing arrays of a million entries copies them over and
	 * over, and a growing hash table rehashes.
	 */
	/*
	 * Zone files keep an owner's records together, so keep file order (memory is then
	 * read in sequence) and only sort each run of one owner by type. Should an owner
	 * come back later (the hash table below notices), sort everything and start over.
	 */
	bool sorted = false;
	pd__sort_runs(b);
	/*
	 * Size everything once, from the records: growing arrays of a million entries
	 * copies them over and over. The hash table gets twice the distinct owners (it
	 * still grows if empty non-terminals push it past half full); sized by records it
	 * would be twice as large and miss the caches twice as often.
	 */
	{
		size_t owners = 0, table_cap = 16;
		for (size_t i = 0; i < b->nrecs; i++) {
			const pd__rec_t *prev = &b->recs[i - (i > 0)], *r = &b->recs[i];
			if (i == 0 || prev->owner_len != r->owner_len ||
			    memcmp(b->names + prev->owner_off, b->names + r->owner_off,
			           r->owner_len))
				owners++;
		}
		while (table_cap < owners * 2 + 2)
			table_cap *= 2;
		z->table = pd__alloc_big(table_cap * sizeof(*z->table));
		if (!z->table)
			goto fail;
		memset(z->table, 0, table_cap * sizeof(*z->table));
		z->table_mask = (uint32_t)(table_cap - 1);
		table_bytes = table_cap * sizeof(*z->table);
		if (pd__alloc_array((void **)&z->nodes, &nodes_cap, owners + 1, sizeof(*z->nodes)) <
		        0 ||
		    pd__alloc_array((void **)&z->rrsets, &rrsets_cap, b->nrecs + 1,
		                    sizeof(*z->rrsets)) < 0 ||
		    pd__alloc_array((void **)&z->names, &names_cap, b->names_len + 1, 1) < 0 ||
		    pd__alloc_array((void **)&z->data, &data_cap, b->rdata_len + 2 * b->nrecs + 1,
		                    1) < 0)
			goto fail;
	}
	first_line = malloc((b->nrecs + 1) * sizeof(*first_line));
	if (!first_line)
		goto fail;

	/* Group records into nodes and RRsets, dropping duplicate RRs (RFC 2181 5). */
regroup:
	for (size_t i = 0; i < b->nrecs;) {
		const pd__rec_t *r = &b->recs[i];
		const uint8_t *owner = b->names + r->owner_off;
		if (!sorted && pd_zone_find(z, owner, r->owner_len)) {
			qsort_r(b->recs, b->nrecs, sizeof(*b->recs), pd__rec_cmp, b);
			sorted = true;
			z->node_count = z->rrset_count = 0;
			z->data_len = z->names_len = z->record_count = 0;
			used = 0;
			memset(z->table, 0, ((size_t)z->table_mask + 1) * sizeof(*z->table));
			goto regroup;
		}
		ret = pd__zone_add_node(z, &nodes_cap, &names_cap, owner, r->owner_len, &used);
		if (ret < 0)
			goto fail;
		pd_node_t *n = &z->nodes[z->node_count - 1];
		n->rrset_first = z->rrset_count;
		while (i < b->nrecs && b->recs[i].owner_len == r->owner_len &&
		       memcmp(b->names + b->recs[i].owner_off, owner, r->owner_len) == 0) {
			size_t j = i;
			ret = -ENOMEM;
			if (pd__grow((void **)&z->rrsets, &rrsets_cap, z->rrset_count + 1,
			             sizeof(*z->rrsets)) < 0)
				goto fail;
			pd_rrset_t *rs = &z->rrsets[z->rrset_count];
			rs->type = b->recs[i].type;
			rs->ttl =
			    b->recs[i].ttl; /* differing TTLs: the first one wins, as in NSD */
			rs->count = 0;
			rs->data_off = (uint32_t)z->data_len;
			first_line[z->rrset_count] = b->recs[i].line;
			for (; j < b->nrecs && b->recs[j].type == rs->type &&
			       b->recs[j].owner_len == r->owner_len &&
			       memcmp(b->names + b->recs[j].owner_off, owner, r->owner_len) == 0;
			     j++) {
				const pd__rec_t *x = &b->recs[j];
				const uint8_t *rd = b->rdata + x->rd_off;
				bool dup = false;
				for (size_t k = i; k < j && !dup; k++)
					dup =
					    b->recs[k].rdlen == x->rdlen &&
					    memcmp(b->rdata + b->recs[k].rd_off, rd, x->rdlen) == 0;
				if (dup)
					continue;
				if (rs->count == UINT16_MAX) {
					ret = pd__builder_fail(b, x->line,
					                       "RRset has over 65535 records");
					goto fail;
				}
				if (pd__grow((void **)&z->data, &data_cap,
				             z->data_len + 2 + x->rdlen, 1) < 0)
					goto fail;
				pd_put_u16(z->data + z->data_len, x->rdlen);
				memcpy(z->data + z->data_len + 2, rd, x->rdlen);
				z->data_len += 2u + x->rdlen;
				rs->count++;
				z->record_count++;
			}
			rs->data_len = (uint32_t)(z->data_len - rs->data_off);
			z->rrset_count++;
			n->rrset_count++;
			i = j;
		}
		ret = pd__check_node(b, z, n, first_line);
		if (ret < 0)
			goto fail;
	}

	const pd_node_t *apex = pd_zone_find(z, z->origin, z->origin_len);
	if (!apex || !pd_zone_rrset(z, apex, PD_TYPE_SOA)) {
		ret = pd__builder_fail(b, 0, "no SOA record at the zone apex %s", origin_txt);
		goto fail;
	}
	if (pd_zone_rrset(z, apex, PD_TYPE_SOA)->count != 1) {
		ret = pd__builder_fail(b, 0, "more than one SOA record at %s", origin_txt);
		goto fail;
	}
	if (!pd_zone_rrset(z, apex, PD_TYPE_NS)) {
		ret = pd__builder_fail(b, 0, "no NS records at the zone apex %s", origin_txt);
		goto fail;
	}
	z->apex = (uint32_t)(apex - z->nodes);

	/* Empty non-terminals become nodes, so a closest-encloser walk finds them. */
	uint32_t with_data = z->node_count;
	for (uint32_t i = 0; i < with_data; i++) {
		uint8_t name[PD_NAME_MAX];
		memcpy(name, z->names + z->nodes[i].name_off, z->nodes[i].name_len);
		const uint8_t *p = name;
		while (p[0] && (size_t)(name + z->nodes[i].name_len - p) > z->origin_len) {
			p = pd_name_parent(p);
			size_t len = (size_t)(name + z->nodes[i].name_len - p);
			if (pd_zone_find(z, p, len))
				break;
			ret = pd__zone_add_node(z, &nodes_cap, &names_cap, p, len, &used);
			if (ret < 0)
				goto fail;
			z->nodes[z->node_count - 1].rrset_first = z->rrset_count;
		}
	}

	/* Flags, in order of depth so a parent is settled before its children. */
	order = malloc(z->node_count * sizeof(*order));
	if (!order) {
		ret = -ENOMEM;
		goto fail;
	}
	{
		uint32_t start[129] = {0}; /* a name has at most 127 labels */
		for (uint32_t i = 0; i < z->node_count; i++)
			start[z->nodes[i].labels + 1]++;
		for (int d = 1; d < 129; d++)
			start[d] += start[d - 1];
		for (uint32_t i = 0; i < z->node_count; i++)
			order[start[z->nodes[i].labels]++] = i;
	}
	for (uint32_t k = 0; k < z->node_count; k++) {
		pd_node_t *n = &z->nodes[order[k]];
		const uint8_t *name = z->names + n->name_off;
		if (order[k] == z->apex)
			n->flags |= PD_NODE_APEX;
		else if (pd_zone_rrset(z, n, PD_TYPE_NS))
			n->flags |= PD_NODE_DELEG;
		if (pd_zone_rrset(z, n, PD_TYPE_DNAME))
			n->flags |= PD_NODE_DNAME;
		if (order[k] == z->apex)
			continue;
		const uint8_t *pname = pd_name_parent(name);
		size_t plen = n->name_len - 1u - name[0];
		pd_node_t *p = (pd_node_t *)pd_zone_find(z, pname, plen);
		if (pd_name_is_wildcard(name))
			p->flags |= PD_NODE_WILDCARD;
		if (p->flags & PD_NODE_OCCLUDED) {
			n->flags |= PD_NODE_OCCLUDED;
			n->cut = p->cut;
		} else if (p->flags & (PD_NODE_DELEG | PD_NODE_DNAME)) {
			n->flags |= PD_NODE_OCCLUDED;
			n->cut = (uint32_t)(p - z->nodes);
		}
	}

	/* Serial and negative TTL from the SOA: two names, then five 32-bit fields. */
	{
		/* By index: adding empty non-terminals may have moved the node array. */
		const pd_rrset_t *soa = pd_zone_rrset(z, &z->nodes[z->apex], PD_TYPE_SOA);
		const uint8_t *rd = pd_zone_rrset_data(z, soa);
		pd_wire_t w;
		uint8_t tmp[PD_NAME_MAX];
		pd_wire_init(&w, rd + 2, pd_get_u16(rd));
		pd_name_parse(&w, tmp);
		pd_name_parse(&w, tmp);
		z->serial = pd_wire_u32(&w);
		pd_wire_skip(&w, 12);
		uint32_t minimum = pd_wire_u32(&w);
		if (w.err) {
			ret =
			    pd__builder_fail(b, first_line[soa - z->rrsets], "malformed SOA rdata");
			goto fail;
		}
		z->neg_ttl = soa->ttl < minimum ? soa->ttl : minimum;
	}

	ret = -ENOMEM;
	if (pd__seal_array((void **)&z->nodes, z->node_count * sizeof(*z->nodes),
	                   nodes_cap * sizeof(*z->nodes)) < 0 ||
	    pd__seal_array((void **)&z->rrsets, z->rrset_count * sizeof(*z->rrsets),
	                   rrsets_cap * sizeof(*z->rrsets)) < 0 ||
	    pd__seal_array((void **)&z->table, ((size_t)z->table_mask + 1) * sizeof(*z->table),
	                   table_bytes) < 0 ||
	    pd__seal_array((void **)&z->names, z->names_len, names_cap) < 0 ||
	    pd__seal_array((void **)&z->data, z->data_len, data_cap) < 0)
		goto fail;
	free(order);
	free(first_line);
	*out = z;
	return 0;
fail:
	if (ret == -ENOMEM && !b->err[0])
		snprintf(b->err, sizeof(b->err), "out of memory");
	free(order);
	free(first_line);
	pd_zone_free(z);
	return ret;
}
