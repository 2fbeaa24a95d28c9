/* Differences between versions of a zone, and the bounded chain of them IXFR answers from. */
#include <stdlib.h>

#include "pindns/dns.h"
#include "pindns/xfr.h"

#include "xfr_int.h"

struct pd_diff {
	uint32_t refs;
	uint32_t from, to;
	size_t size;
	size_t removed, added;
	pd_rr_t *rrs; /* removed, then added; owners and RDATA in blob */
	uint8_t *blob;
};

/* The records picked from two versions, pointing into them, before they are copied. */
typedef struct pd__pick {
	pd_rr_t *rm, *add;
	size_t nrm, nadd;
} pd__pick_t;

/* Merges the sorted records of old (a) and new (b) into what went and what came. */
static void pd__merge(pd__pick_t *p, const pd_rr_t *a, size_t na, const pd_rr_t *b, size_t nb)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int d = i == na ? 1 : j == nb ? -1 : pd__rr_cmp(&a[i], &b[j]);
		if (d < 0) {
			p->rm[p->nrm++] = a[i++];
		} else if (d > 0) {
			p->add[p->nadd++] = b[j++];
		} else {
			if (a[i].ttl != b[j].ttl) { /* IXFR cannot say "new TTL" otherwise */
				p->rm[p->nrm++] = a[i];
				p->add[p->nadd++] = b[j];
			}
			i++;
			j++;
		}
	}
}

/* Copies the picked records into one diff, owning its bytes. */
static int pd__diff_make(const pd__pick_t *p, pd_diff_t **out)
{
	size_t n = p->nrm + p->nadd, bytes = 0;
	for (size_t k = 0; k < n; k++) {
		const pd_rr_t *r = k < p->nrm ? &p->rm[k] : &p->add[k - p->nrm];
		bytes += r->owner_len + r->rdlen;
	}
	pd_diff_t *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->rrs = malloc(n * sizeof(*d->rrs));
	d->blob = malloc(bytes + 1);
	if (!d->rrs || !d->blob) {
		pd_diff_unref(d);
		return -ENOMEM;
	}
	uint8_t *o = d->blob;
	for (size_t k = 0; k < n; k++) {
		pd_rr_t r = k < p->nrm ? p->rm[k] : p->add[k - p->nrm];
		memcpy(o, r.owner, r.owner_len);
		r.owner = o;
		o += r.owner_len;
		memcpy(o, r.rdata, r.rdlen);
		r.rdata = o;
		o += r.rdlen;
		d->rrs[k] = r;
	}
	d->refs = 1;
	d->removed = p->nrm;
	d->added = p->nadd;
	d->size = sizeof(*d) + n * sizeof(*d->rrs) + bytes;
	*out = d;
	return 0;
}

int pd_diff_new(const pd_zone_t *old, const pd_zone_t *new, pd_diff_t **out)
{
	pd_rr_t *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	pd__pick_t p = {0};
	int ret = -EINVAL;

	*out = NULL;
	if (old->expired || new->expired || old->origin_len != new->origin_len ||
	    memcmp(old->origin, new->origin, old->origin_len) != 0)
		return -EINVAL;
	ret = pd__zone_records(old, &a, &na);
	if (ret == 0)
		ret = pd__zone_records(new, &b, &nb);
	if (ret < 0)
		goto out;
	ret = -ENOMEM;
	p.rm = malloc((na + 1) * sizeof(*p.rm));
	p.add = malloc((nb + 1) * sizeof(*p.add));
	if (!p.rm || !p.add)
		goto out;
	pd_zone_soa(old, &p.rm[p.nrm++]);
	pd_zone_soa(new, &p.add[p.nadd++]);
	pd__merge(&p, a, na, b, nb);
	ret = pd__diff_make(&p, out);
	if (ret == 0) {
		(*out)->from = old->serial;
		(*out)->to = new->serial;
	}
out:
	free(a);
	free(b);
	free(p.rm);
	free(p.add);
	return ret;
}

uint32_t pd_diff_from(const pd_diff_t *d)
{
	return d->from;
}

uint32_t pd_diff_to(const pd_diff_t *d)
{
	return d->to;
}

size_t pd_diff_size(const pd_diff_t *d)
{
	return d->size;
}

const pd_rr_t *pd__diff_rrs(const pd_diff_t *d, size_t *removed, size_t *added)
{
	*removed = d->removed;
	*added = d->added;
	return d->rrs;
}

pd_diff_t *pd_diff_ref(pd_diff_t *d)
{
	__atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED);
	return d;
}

void pd_diff_unref(pd_diff_t *d)
{
	if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free(d->rrs);
	free(d->blob);
	free(d);
}

struct pd_journal {
	size_t max_bytes, bytes;
	pd_diff_t **diffs; /* oldest first */
	size_t n, cap;
};

pd_journal_t *pd_journal_new(size_t max_bytes)
{
	pd_journal_t *j = calloc(1, sizeof(*j));
	if (j)
		j->max_bytes = max_bytes;
	return j;
}

/* Drops the k oldest differences. */
static void pd__journal_drop(pd_journal_t *j, size_t k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k; i++) {
		j->bytes -= j->diffs[i]->size;
		pd_diff_unref(j->diffs[i]);
	}
	memmove(j->diffs, j->diffs + k, (j->n - k) * sizeof(*j->diffs));
	j->n -= k;
}

void pd_journal_free(pd_journal_t *j)
{
	if (!j)
		return;
	pd__journal_drop(j, j->n);
	free(j->diffs);
	free(j);
}

void pd_journal_clear(pd_journal_t *j)
{
	pd__journal_drop(j, j->n);
}

int pd_journal_add(pd_journal_t *j, pd_diff_t *d)
{
	if (j->n && j->diffs[j->n - 1]->to != d->from)
		pd__journal_drop(j, j->n); /* a gap: what came before leads elsewhere */
	if (d->size > j->max_bytes) {
		pd__journal_drop(j, j->n);
		return 0;
	}
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 8;
		pd_diff_t **n = realloc(j->diffs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		j->diffs = n;
		j->cap = cap;
	}
	j->diffs[j->n++] = pd_diff_ref(d);
	j->bytes += d->size;
	size_t k = 0, bytes = j->bytes;
	while (bytes > j->max_bytes)
		bytes -= j->diffs[k++]->size;
	pd__journal_drop(j, k);
	return 0;
}

int pd_journal_since(const pd_journal_t *j, uint32_t from, pd_diff_t **out, size_t cap)
{
	if (!j->n)
		return -ENOENT;
	if (j->diffs[j->n - 1]->to == from)
		return 0;
	/* From the newest back: a serial that came round again means its latest version. */
	size_t i = j->n;
	while (i > 0 && j->diffs[i - 1]->from != from)
		i--;
	if (i == 0)
		return -ENOENT;
	size_t k = j->n - (i - 1);
	if (k > cap)
		return -ENOSPC;
	for (size_t m = 0; m < k; m++)
		out[m] = pd_diff_ref(j->diffs[i - 1 + m]);
	return (int)k;
}
