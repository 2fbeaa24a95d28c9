/* Zone compilation: records in, an immutable hashed node/RRset structure out. */
#define _GNU_SOURCE /* qsort_r */
#include "pindns/zone.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pindns/dns.h"

#include "hashtab.h"
#include "hugemem.h"
#include "rdata.h"
#include "zone_int.h"

int pd__grow(void **buf, size_t *cap, size_t need, size_t elem)
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

/* Makes an array of `cap` elements the size of a presized array. */
static int pd__alloc_array(void **p, size_t *cap, size_t n, size_t elem)
{
	*p = pd__huge_alloc(n * elem, 0);
	if (!*p)
		return -ENOMEM;
	*cap = n;
	return 0;
}

int pd__builder_fail(pd_zone_builder_t *b, int loc, const char *fmt, ...)
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

int pd_zone_builder_error_loc(const pd_zone_builder_t *b)
{
	return b->err_loc;
}

void pd_zone_builder_check_sigs(pd_zone_builder_t *b, int64_t now, uint32_t warn_secs)
{
	b->check_sigs = true;
	b->sig_now = now;
	b->sig_warn_secs = warn_secs;
}

unsigned pd_zone_builder_warning_count(const pd_zone_builder_t *b)
{
	return b->warn_count;
}

const char *pd_zone_builder_warning(const pd_zone_builder_t *b, unsigned i, int *loc)
{
	if (i >= PD_ZONE_WARN_MAX || i >= b->warn_count) {
		if (loc)
			*loc = 0;
		return NULL;
	}
	if (loc)
		*loc = b->warn_loc[i];
	return b->warn[i];
}

void pd__warn(pd_zone_builder_t *b, int loc, const char *fmt, ...)
{
	unsigned i = b->warn_count++;
	if (i >= PD_ZONE_WARN_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->warn[i], sizeof(b->warn[i]), fmt, ap);
	va_end(ap);
	b->warn_loc[i] = loc;
}

const char *pd__type_str(uint16_t type, char *buf, size_t cap)
{
	static const struct {
		uint16_t t;
		const char *s;
	} known[] = {{PD_TYPE_A, "A"},         {PD_TYPE_NS, "NS"},
	             {PD_TYPE_CNAME, "CNAME"}, {PD_TYPE_SOA, "SOA"},
	             {PD_TYPE_PTR, "PTR"},     {PD_TYPE_MX, "MX"},
	             {PD_TYPE_TXT, "TXT"},     {PD_TYPE_AAAA, "AAAA"},
	             {PD_TYPE_SRV, "SRV"},     {PD_TYPE_DNAME, "DNAME"},
	             {PD_TYPE_DS, "DS"},       {PD_TYPE_RRSIG, "RRSIG"},
	             {PD_TYPE_NSEC, "NSEC"},   {PD_TYPE_DNSKEY, "DNSKEY"},
	             {PD_TYPE_NSEC3, "NSEC3"}, {PD_TYPE_NSEC3PARAM, "NSEC3PARAM"}};
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
 * The DNSSEC types whose fields the compiler reads: RRSIG (18 bytes of fields, the
 * signer, the signature), NSEC (the next name, the type bitmap), NSEC3 (algorithm,
 * flags, iterations, salt, next hashed owner, bitmap) and NSEC3PARAM (the same up to the
 * salt, and nothing after it).
 */
static bool pd__dnssec_rdata_valid(uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
	pd_wire_t w;
	pd_wire_init(&w, rdata, rdlen);
	switch (type) {
	case PD_TYPE_RRSIG:
		pd_wire_skip(&w, 18);
		return w.err == 0 && pd__rdata_name(&w);
	case PD_TYPE_NSEC:
		return pd__rdata_name(&w);
	case PD_TYPE_NSEC3:
		pd_wire_skip(&w, 4);
		pd_wire_skip(&w, pd_wire_u8(&w)); /* the salt */
		pd_wire_skip(&w, pd_wire_u8(&w)); /* the next hashed owner */
		return w.err == 0;
	default: /* NSEC3PARAM */
		pd_wire_skip(&w, 4);
		pd_wire_skip(&w, pd_wire_u8(&w));
		return w.err == 0 && pd_wire_left(&w) == 0;
	}
}

/*
 * The answer code reads names out of some types' RDATA (PD__RDATA_CHECKED), so they
 * must be well formed here, whoever built the records: uncompressed names, the fixed
 * fields after them, and nothing left over.
 */
static bool pd__rdata_valid(uint16_t type, const uint8_t *rdata, uint16_t rdlen)
{
	pd__rdata_names_t names = pd__rdata_names(type);
	pd_wire_t w;
	if (type == PD_TYPE_RRSIG || type == PD_TYPE_NSEC || type == PD_TYPE_NSEC3 ||
	    type == PD_TYPE_NSEC3PARAM)
		return pd__dnssec_rdata_valid(type, rdata, rdlen);
	if (!(names.flags & PD__RDATA_CHECKED))
		return true;
	pd_wire_init(&w, rdata, rdlen);
	pd_wire_skip(&w, names.off);
	for (int i = 0; i < names.count; i++)
		if (!pd__rdata_name(&w))
			return false;
	pd_wire_skip(&w, names.tail);
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
	r->key = type == PD_TYPE_RRSIG ? pd_get_u16(rdata) : type;
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

/*
 * The order of one owner's records: by type, except that each RRSIG comes right after
 * the records of the type it covers, where pd_zone_rrsig() looks for it.
 */
static int pd__rec_type_cmp(const pd__rec_t *a, const pd__rec_t *c)
{
	if (a->key != c->key)
		return a->key < c->key ? -1 : 1;
	return (a->type == PD_TYPE_RRSIG) - (c->type == PD_TYPE_RRSIG);
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
	d = pd__rec_type_cmp(a, c);
	if (d)
		return d;
	return a->seq < c->seq ? -1 : (a->seq > c->seq);
}

/* Sorts each run of one owner's records (pd__rec_type_cmp()), keeping file order in a type. */
static void pd__sort_runs(pd_zone_builder_t *b)
{
	for (size_t i = 0; i < b->nrecs;) {
		size_t j = i + 1;
		while (j < b->nrecs && b->recs[j].owner_off == b->recs[i].owner_off)
			j++;
		for (size_t k = i + 1; k < j; k++) {
			pd__rec_t r = b->recs[k];
			size_t m = k;
			while (m > i && pd__rec_type_cmp(&b->recs[m - 1], &r) > 0) {
				b->recs[m] = b->recs[m - 1];
				m--;
			}
			b->recs[m] = r;
		}
		i = j;
	}
}

/* Doubles the hash table once it would be more than half full. */
static int pd__table_grow(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	if ((cc->table_used + 1) * 2 <= z->table_mask + 1)
		return 0;
	uint32_t ncap = (z->table_mask + 1) * 2;
	uint64_t *nt = calloc(ncap, sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	for (uint32_t i = 0; i <= z->table_mask; i++)
		if (z->table[i])
			pd__hashtab_put(nt, ncap - 1, z->table[i]);
	pd__huge_free(z->table);
	z->table = nt;
	z->table_mask = ncap - 1;
	return 0;
}

/* Inserts node index idx, whose name hashes to h, into the hash table. */
static int pd__table_insert(pd__compile_t *cc, uint32_t idx, uint32_t h)
{
	pd_zone_t *z = cc->z;
	int ret = pd__table_grow(cc);
	if (ret < 0)
		return ret;
	pd__hashtab_put(z->table, z->table_mask, pd__hashtab_entry(h, idx));
	cc->table_used++;
	return 0;
}

const pd_node_t *pd_zone_find(const pd_zone_t *z, const uint8_t *lname, size_t len)
{
	return pd_zone_find_hashed(z, lname, len, pd_name_hash(lname, len));
}

const pd_node_t *pd_zone_find_hashed(const pd_zone_t *z, const uint8_t *lname, size_t len,
                                     uint32_t hash)
{
	pd__probe_t p;
	pd__probe_start(&p, z->table, z->table_mask, hash);
	for (uint32_t i; (i = pd__probe_next(&p)) != PD__PROBE_END;) {
		const pd_node_t *n = &z->nodes[i];
		if (n->name_len == len && memcmp(z->names + n->name_off, lname, len) == 0)
			return n;
	}
	return NULL;
}

const pd_rrset_t *pd_zone_rrset(const pd_zone_t *z, const pd_node_t *n, uint16_t type)
{
	const pd_rrset_t *rs = z->rrsets + n->rrset_first;
	for (uint32_t i = 0; i < n->rrset_count; i++)
		if (rs[i].type == type)
			return &rs[i];
	return NULL;
}

pd_zone_t *pd_zone_ref(pd_zone_t *z)
{
	__atomic_add_fetch(&z->refs, 1, __ATOMIC_RELAXED);
	return z;
}

void pd_zone_free(pd_zone_t *z)
{
	if (!z)
		return;
	/* 0: a zone being compiled, or one made by hand, which nobody else can hold. */
	if (__atomic_load_n(&z->refs, __ATOMIC_ACQUIRE) > 1 &&
	    __atomic_sub_fetch(&z->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	pd__huge_free(z->nodes);
	pd__huge_free(z->rrsets);
	pd__huge_free(z->table);
	pd__huge_free(z->names);
	pd__huge_free(z->data);
	pd__huge_free(z->nsec);
	pd__huge_free(z->nsec3);
	free(z->source);
	free(z);
}

/* Appends a node for a name that hashes to h; the caller makes sure it is not there yet. */
static int pd__zone_add_node(pd__compile_t *cc, const uint8_t *lname, size_t len, uint32_t h)
{
	pd_zone_t *z = cc->z;
	if (pd__grow((void **)&z->nodes, &cc->nodes_cap, z->node_count + 1, sizeof(*z->nodes)) <
	        0 ||
	    pd__grow((void **)&z->names, &cc->names_cap, z->names_len + len, 1) < 0)
		return -ENOMEM;
	pd_node_t *n = &z->nodes[z->node_count];
	memset(n, 0, sizeof(*n));
	n->name_off = (uint32_t)z->names_len;
	n->name_len = (uint8_t)len;
	n->labels = (uint8_t)pd_name_labels(lname);
	memcpy(z->names + z->names_len, lname, len);
	z->names_len += len;
	return pd__table_insert(cc, z->node_count++, h);
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

/* Whether two records have the same owner name. */
static bool pd__same_owner(const pd_zone_builder_t *b, const pd__rec_t *r, const pd__rec_t *s)
{
	return r->owner_len == s->owner_len &&
	       memcmp(b->names + r->owner_off, b->names + s->owner_off, r->owner_len) == 0;
}

/*
 * Distinct owners that become nodes, counting one that comes back after others again:
 * enough to size by. NSEC3 owners, as many as the nodes in a signed zone, are no nodes.
 */
static size_t pd__count_owners(const pd_zone_builder_t *b)
{
	size_t owners = 0, nsec3 = 0;
	bool run_nsec3 = false;
	for (size_t i = 0; i < b->nrecs; i++) {
		if (i == 0 || !pd__same_owner(b, &b->recs[i - 1], &b->recs[i])) {
			owners++;
			run_nsec3 = false;
		}
		if (b->recs[i].type == PD_TYPE_NSEC3 && !run_nsec3) {
			run_nsec3 = true;
			nsec3++;
		}
	}
	return owners - nsec3;
}

/*
 * The zone with its origin, and every array sized once, from the records: growing
 * arrays of a million entries copies them over and over, and a growing hash table
 * rehashes. One node per owner (empty non-terminals may still add a few) and one RRset
 * per record. The hash table gets twice the distinct owners (it still grows if empty
 * non-terminals push it past half full); sized by records it would be twice as large
 * and miss the caches twice as often.
 */
static int pd__zone_start(pd__compile_t *cc)
{
	pd_zone_builder_t *b = cc->b;
	pd_zone_t *z = cc->z = calloc(1, sizeof(*z));
	size_t owners = pd__count_owners(b), table_cap = 16;
	if (!z)
		return -ENOMEM;
	memcpy(z->origin, b->origin, b->origin_len);
	z->origin_len = (uint8_t)b->origin_len;
	z->origin_labels = (uint8_t)pd_name_labels(b->origin);
	while (table_cap < owners * 2 + 2)
		table_cap *= 2;
	cc->table_bytes = table_cap * sizeof(*z->table);
	z->table = pd__huge_alloc(cc->table_bytes, 0);
	if (!z->table)
		return -ENOMEM;
	memset(z->table, 0, cc->table_bytes);
	z->table_mask = (uint32_t)(table_cap - 1);
	if (pd__alloc_array((void **)&z->nodes, &cc->nodes_cap, owners + 1, sizeof(*z->nodes)) <
	        0 ||
	    pd__alloc_array((void **)&z->rrsets, &cc->rrsets_cap, b->nrecs + 1,
	                    sizeof(*z->rrsets)) < 0 ||
	    pd__alloc_array((void **)&z->names, &cc->names_cap, b->names_len + 1, 1) < 0 ||
	    pd__alloc_array((void **)&z->data, &cc->data_cap, b->rdata_len + 2 * b->nrecs + 1, 1) <
	        0)
		return -ENOMEM;
	cc->first_line = malloc((b->nrecs + 1) * sizeof(*cc->first_line));
	return cc->first_line ? 0 : -ENOMEM;
}

/* Writes a time in seconds since the epoch as "2026-12-01 00:00:00 UTC". */
static void pd__time_str(char *out, size_t cap, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, cap, "%lld", (long long)t);
}

/*
 * Notes the expiration of an RRSIG that is kept (RFC 4034 3.1.5, serial arithmetic: the
 * 32-bit times wrap every 136 years): the zone's earliest, and a warning when asked for
 * and it is near or past.
 */
static void pd__note_sig(pd__compile_t *cc, const pd__rec_t *x, const uint8_t *rd)
{
	pd_zone_builder_t *b = cc->b;
	uint32_t exp = pd_get_u32(rd + 8);
	if (!cc->have_sig || (int32_t)(exp - cc->z->sig_expire_first) < 0)
		cc->z->sig_expire_first = exp;
	cc->have_sig = true;
	if (!b->check_sigs)
		return;
	int32_t left = (int32_t)(exp - (uint32_t)b->sig_now);
	if (left >= 0 && (uint32_t)left > b->sig_warn_secs)
		return;
	if (b->warn_count >= PD_ZONE_WARN_MAX) {
		b->warn_count++; /* counted, not worth formatting */
		return;
	}
	char name[PD_NAME_TXT_MAX], t[16], when[48];
	pd_name_to_str(name, sizeof(name), b->names + x->owner_off);
	pd__time_str(when, sizeof(when), b->sig_now + left);
	pd__warn(b, x->line, "RRSIG covering %s at %s %s %s", pd__type_str(x->key, t, sizeof(t)),
	         name, left < 0 ? "expired on" : "expires on", when);
}

/* Appends record j to the RRset rs that began at record first, unless it repeats one. */
static int pd__rrset_add(pd__compile_t *cc, pd_rrset_t *rs, size_t first, size_t j)
{
	pd_zone_builder_t *b = cc->b;
	pd_zone_t *z = cc->z;
	const pd__rec_t *x = &b->recs[j];
	const uint8_t *rd = b->rdata + x->rd_off;
	for (size_t k = first; k < j; k++)
		if (b->recs[k].rdlen == x->rdlen &&
		    memcmp(b->rdata + b->recs[k].rd_off, rd, x->rdlen) == 0)
			return 0; /* a duplicate RR (RFC 2181 5) */
	if (rs->count == UINT16_MAX)
		return pd__builder_fail(b, x->line, "RRset has over 65535 records");
	if (pd__grow((void **)&z->data, &cc->data_cap, z->data_len + 2 + x->rdlen, 1) < 0)
		return -ENOMEM;
	pd_put_u16(z->data + z->data_len, x->rdlen);
	memcpy(z->data + z->data_len + 2, rd, x->rdlen);
	z->data_len += 2u + x->rdlen;
	rs->count++;
	z->record_count++;
	if (x->type == PD_TYPE_RRSIG)
		pd__note_sig(cc, x, rd);
	return 0;
}

/*
 * Makes an RRset from record *i and those after it, up to end, of its type (and for an
 * RRSIG, of the type it covers), for node n (NULL: a link of the NSEC3 chain).
 */
static int pd__group_rrset(pd__compile_t *cc, pd_node_t *n, size_t *i, size_t end)
{
	pd_zone_builder_t *b = cc->b;
	pd_zone_t *z = cc->z;
	const pd__rec_t *r = &b->recs[*i];
	if (pd__grow((void **)&z->rrsets, &cc->rrsets_cap, z->rrset_count + 1, sizeof(*z->rrsets)) <
	    0)
		return -ENOMEM;
	pd_rrset_t *rs = &z->rrsets[z->rrset_count];
	rs->type = r->type;
	rs->ttl = r->ttl; /* differing TTLs: the first one wins, as in NSD */
	rs->count = 0;
	rs->data_off = (uint32_t)z->data_len;
	cc->first_line[z->rrset_count] = r->line;
	size_t j = *i;
	for (; j < end && b->recs[j].type == r->type && b->recs[j].key == r->key; j++) {
		int ret = pd__rrset_add(cc, rs, *i, j);
		if (ret < 0)
			return ret;
	}
	rs->data_len = (uint32_t)(z->data_len - rs->data_off);
	z->rrset_count++;
	if (n)
		n->rrset_count++;
	*i = j;
	return 0;
}

/* Skips the RRSIGs from record *i on that cover one type, with nothing there to cover. */
static void pd__drop_orphans(pd__compile_t *cc, size_t *i, size_t end)
{
	pd_zone_builder_t *b = cc->b;
	const pd__rec_t *r = &b->recs[*i];
	char name[PD_NAME_TXT_MAX], t[16];
	pd_name_to_str(name, sizeof(name), b->names + r->owner_off);
	pd__warn(b, r->line, "RRSIG covering %s at %s without such RRset",
	         pd__type_str(r->key, t, sizeof(t)), name);
	while (*i < end && b->recs[*i].type == PD_TYPE_RRSIG && b->recs[*i].key == r->key)
		(*i)++;
}

int pd__group_owner(pd__compile_t *cc, pd_node_t *n, size_t i, size_t end)
{
	pd_zone_t *z = cc->z;
	uint32_t first = z->rrset_count;
	while (i < end) {
		const pd__rec_t *r = &cc->b->recs[i];
		if (r->type == PD_TYPE_RRSIG &&
		    (r->key == PD_TYPE_RRSIG || z->rrset_count == first ||
		     z->rrsets[z->rrset_count - 1].type != r->key)) {
			pd__drop_orphans(cc, &i, end);
			continue;
		}
		int ret = pd__group_rrset(cc, n, &i, end);
		if (ret < 0)
			return ret;
	}
	return 0;
}

#define PD__PREFETCH_RECS 16 /* records ahead whose hash slot pd__group() fetches */

/*
 * The end of the run of records of the owner of record i; *nsec3 tells whether the run
 * has an NSEC3 record, *data whether it has any record but an RRSIG.
 */
static size_t pd__run_end(const pd_zone_builder_t *b, size_t i, bool *nsec3, bool *data)
{
	size_t j = i;
	*nsec3 = *data = false;
	for (; j < b->nrecs && pd__same_owner(b, &b->recs[j], &b->recs[i]); j++) {
		*nsec3 |= b->recs[j].type == PD_TYPE_NSEC3;
		*data |= b->recs[j].type != PD_TYPE_RRSIG;
	}
	return j;
}

/*
 * Groups the records into nodes and RRsets, owner by owner, checking each node, then
 * the NSEC3 owners into the chain. Unless sorted, returns -EAGAIN at an owner that
 * comes back after others, or may: one with only RRSIGs, which may cover what is later.
 */
static int pd__group(pd__compile_t *cc, bool sorted)
{
	pd_zone_builder_t *b = cc->b;
	pd_zone_t *z = cc->z;
	for (size_t i = 0; i < b->nrecs;) {
		const pd__rec_t *r = &b->recs[i];
		const uint8_t *owner = b->names + r->owner_off;
		/*
		 * The table is far larger than the caches and owners land at random in it:
		 * fetch the slot of an owner a few ahead now, so that its miss overlaps
		 * the work on this one instead of stalling the probe later.
		 */
		if (i + PD__PREFETCH_RECS < b->nrecs)
			__builtin_prefetch(
			    &z->table[b->recs[i + PD__PREFETCH_RECS].owner_hash & z->table_mask],
			    1);
		bool nsec3, data;
		size_t end = pd__run_end(b, i, &nsec3, &data);
		int ret;
		/* An NSEC3 owner that is a node too is caught with the chain's checks. */
		if (!sorted && (!data || (!nsec3 && pd_zone_find_hashed(z, owner, r->owner_len,
		                                                        r->owner_hash))))
			return -EAGAIN;
		if (nsec3 || !data) {
			/* NSEC3 owners are not nodes; only RRSIGs: every one an orphan. */
			ret = nsec3 ? pd__nsec3_run(cc, i, end) : pd__group_owner(cc, NULL, i, end);
			if (ret < 0)
				return ret;
			i = end;
			continue;
		}
		ret = pd__zone_add_node(cc, owner, r->owner_len, r->owner_hash);
		if (ret < 0)
			return ret;
		pd_node_t *n = &z->nodes[z->node_count - 1];
		n->rrset_first = z->rrset_count;
		ret = pd__group_owner(cc, n, i, end);
		if (ret < 0)
			return ret;
		i = end;
		ret = pd__check_node(b, z, n, cc->first_line);
		if (ret < 0)
			return ret;
	}
	return pd__group_nsec3(cc, sorted);
}

/* Forgets every node, RRset, record and warning so far; the arrays keep their room. */
static void pd__zone_reset(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	z->node_count = z->rrset_count = z->nsec3_count = z->nsec3_other = 0;
	z->data_len = z->names_len = z->record_count = 0;
	z->sig_expire_first = 0;
	cc->table_used = 0;
	cc->nsec3_runs_len = 0;
	cc->have_sig = false;
	cc->b->warn_count = 0;
	memset(z->table, 0, ((size_t)z->table_mask + 1) * sizeof(*z->table));
}

/*
 * Zone files keep an owner's records together, so keep file order (memory is then read
 * in sequence) and only sort each run of one owner by type. Should an owner come back
 * later (the hash table notices), sort everything and group again.
 */
static int pd__group_records(pd__compile_t *cc)
{
	int ret = pd__group(cc, false);
	if (ret != -EAGAIN)
		return ret;
	qsort_r(cc->b->recs, cc->b->nrecs, sizeof(*cc->b->recs), pd__rec_cmp, cc->b);
	pd__zone_reset(cc);
	return pd__group(cc, true);
}

/* An apex with exactly one SOA record and an NS RRset; remembers where the apex is. */
static int pd__check_apex(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	const pd_node_t *apex = pd_zone_find(z, z->origin, z->origin_len);
	const pd_rrset_t *soa = apex ? pd_zone_rrset(z, apex, PD_TYPE_SOA) : NULL;
	char origin[PD_NAME_TXT_MAX];
	pd_name_to_str(origin, sizeof(origin), z->origin);
	if (!soa)
		return pd__builder_fail(cc->b, 0, "no SOA record at the zone apex %s", origin);
	if (soa->count != 1)
		return pd__builder_fail(cc->b, 0, "more than one SOA record at %s", origin);
	if (!pd_zone_rrset(z, apex, PD_TYPE_NS))
		return pd__builder_fail(cc->b, 0, "no NS records at the zone apex %s", origin);
	z->apex = (uint32_t)(apex - z->nodes);
	return 0;
}

/* Empty non-terminals become nodes, so a closest-encloser walk finds them. */
static int pd__add_empty_nonterminals(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	uint32_t with_data = z->node_count;
	for (uint32_t i = 0; i < with_data; i++) {
		/* A copy: adding nodes may move the names. */
		uint8_t name[PD_NAME_MAX];
		size_t nlen = z->nodes[i].name_len;
		memcpy(name, z->names + z->nodes[i].name_off, nlen);
		/* Up from the name to the first ancestor that is a node (the apex at the latest).
		 */
		const uint8_t *p = name;
		while (p[0] && (size_t)(name + nlen - p) > z->origin_len) {
			p = pd_name_parent(p);
			size_t len = (size_t)(name + nlen - p);
			if (pd_zone_find(z, p, len))
				break;
			int ret = pd__zone_add_node(cc, p, len, pd_name_hash(p, len));
			if (ret < 0)
				return ret;
			z->nodes[z->node_count - 1].rrset_first = z->rrset_count;
		}
	}
	return 0;
}

/* The node indexes by depth (label count), so parents come first; NULL: out of memory. */
static uint32_t *pd__nodes_by_depth(const pd_zone_t *z)
{
	uint32_t *order = malloc(z->node_count * sizeof(*order));
	uint32_t start[129] = {0}; /* a name has at most 127 labels */
	if (!order)
		return NULL;
	for (uint32_t i = 0; i < z->node_count; i++)
		start[z->nodes[i].labels + 1]++;
	for (int d = 1; d < 129; d++)
		start[d] += start[d - 1];
	for (uint32_t i = 0; i < z->node_count; i++)
		order[start[z->nodes[i].labels]++] = i;
	return order;
}

/* The flags of node idx, from its RRsets and its parent's flags, which are settled. */
static void pd__set_node_flags(pd_zone_t *z, uint32_t idx)
{
	pd_node_t *n = &z->nodes[idx];
	const uint8_t *name = z->names + n->name_off;
	if (idx == z->apex)
		n->flags |= PD_NODE_APEX;
	else if (pd_zone_rrset(z, n, PD_TYPE_NS))
		n->flags |= PD_NODE_DELEG;
	if (pd_zone_rrset(z, n, PD_TYPE_DNAME))
		n->flags |= PD_NODE_DNAME;
	if (idx == z->apex)
		return;
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

/* Every node's flags, in order of depth so a parent is settled before its children. */
static int pd__set_flags(pd_zone_t *z)
{
	uint32_t *order = pd__nodes_by_depth(z);
	if (!order)
		return -ENOMEM;
	for (uint32_t k = 0; k < z->node_count; k++)
		pd__set_node_flags(z, order[k]);
	free(order);
	return 0;
}

/* Serial and negative TTL from the SOA: two names, then five 32-bit fields. */
static int pd__read_soa(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
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
	if (w.err)
		return pd__builder_fail(cc->b, cc->first_line[soa - z->rrsets],
		                        "malformed SOA rdata");
	z->neg_ttl = soa->ttl < minimum ? soa->ttl : minimum;
	return 0;
}

/* Settles every array where the query path will read it (pd__huge_seal()). */
static int pd__seal(pd__compile_t *cc)
{
	pd_zone_t *z = cc->z;
	if (pd__huge_seal((void **)&z->nodes, z->node_count * sizeof(*z->nodes),
	                  cc->nodes_cap * sizeof(*z->nodes)) < 0 ||
	    pd__huge_seal((void **)&z->rrsets, z->rrset_count * sizeof(*z->rrsets),
	                  cc->rrsets_cap * sizeof(*z->rrsets)) < 0 ||
	    pd__huge_seal((void **)&z->table, ((size_t)z->table_mask + 1) * sizeof(*z->table),
	                  cc->table_bytes) < 0 ||
	    pd__huge_seal((void **)&z->names, z->names_len, cc->names_cap) < 0 ||
	    pd__huge_seal((void **)&z->data, z->data_len, cc->data_cap) < 0 ||
	    pd__huge_seal((void **)&z->nsec3,
	                  ((size_t)z->nsec3_count + z->nsec3_other) * sizeof(*z->nsec3),
	                  cc->nsec3_cap * sizeof(*z->nsec3)) < 0)
		return -ENOMEM;
	return 0;
}

int pd_zone_builder_finish(pd_zone_builder_t *b, pd_zone_t **out)
{
	pd__compile_t cc = {.b = b};
	int ret;

	*out = NULL;
	b->warn_count = 0;
	pd__sort_runs(b);
	ret = pd__zone_start(&cc);
	if (ret < 0)
		goto fail;
	ret = pd__group_records(&cc);
	if (ret < 0)
		goto fail;
	ret = pd__check_apex(&cc);
	if (ret < 0)
		goto fail;
	ret = pd__add_empty_nonterminals(&cc);
	if (ret < 0)
		goto fail;
	ret = pd__set_flags(cc.z);
	if (ret < 0)
		goto fail;
	ret = pd__read_soa(&cc);
	if (ret < 0)
		goto fail;
	ret = pd__dnssec(&cc);
	if (ret < 0)
		goto fail;
	ret = pd__seal(&cc);
	if (ret < 0)
		goto fail;
	free(cc.first_line);
	free(cc.nsec3_runs);
	cc.z->refs = 1;
	*out = cc.z;
	return 0;
fail:
	if (ret == -ENOMEM && !b->err[0])
		snprintf(b->err, sizeof(b->err), "out of memory");
	free(cc.first_line);
	free(cc.nsec3_runs);
	pd_zone_free(cc.z);
	return ret;
}
