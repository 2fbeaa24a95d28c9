/* The answer rules of RFC 1034 4.3.2 and its successors, from parsed query to response. */
#include "pindns/answer.h"

#include <stdbool.h>

#include "pindns/cookie.h"
#include "pindns/dns.h"
#include "pindns/guard.h"
#include "pindns/resp.h"

#include "hashtab.h"
#include "rdata.h"

#define PD_OPT_LEN 11      /* root owner, type, class, TTL, RDLENGTH */
#define PD_OPTION_HDR 4    /* an option's code and length */
#define PD_EDE_LEN 6       /* option code, length, INFO-CODE */
#define PD_KEEPALIVE_LEN 6 /* option code, length, TIMEOUT */
/* Option code, length, client cookie, server cookie: the cache patches its last 24. */
#define PD_COOKIE_OPT_LEN (4 + PD_COOKIE_CLIENT_LEN + PD_COOKIE_SERVER_LEN)
#define PD_TSIG_FIXED 26     /* a TSIG RR without its names and MAC: type to Other Len */
#define PD_ADDITIONAL_MAX 16 /* target names whose addresses one answer carries */
#define PD_NO_EDE (-1)
/* NSEC/NSEC3 RRsets one answer carries: a wildcard proof per chain step and the final
 * denial (3 at most) or no-DS proof (2), so this bound is never reached. */
#define PD_PROOF_MAX (PD_CHAIN_MAX + 8)

/* One NSEC or NSEC3 RRset of a proof and its owner (in the zone's names blob). */
typedef struct pd__proof {
	const uint8_t *owner;
	const pd_rrset_t *rs;
} pd__proof_t;

typedef struct pd__ctx {
	const pd_answer_conf_t *conf;
	const pd_query_t *q;
	pd_resp_t r;    /* its limit leaves room for the OPT record and what it carries */
	size_t limit;   /* the whole response's: pd_answer_limit() */
	uint16_t flags; /* response header flags without rcode */
	int rcode;
	int ede; /* the Extended DNS Error INFO-CODE to send, or PD_NO_EDE */
	bool tc;
	bool question;  /* the question is echoed */
	bool opt;       /* an OPT record goes in, */
	bool opt_bare;  /* ... without DO or options (BADVERS), */
	bool nsid;      /* ... or with our NSID */
	bool keepalive; /* ... and our TCP keepalive */
	bool cookie;    /* ... and the client's cookie with ours, always the last option */
	bool tsig;      /* a TSIG error record ends the additional section */
	const pd_zone_t *zone;
	const pd_node_t *added[PD_ADDITIONAL_MAX]; /* nodes whose addresses are in additional */
	unsigned nadded;
	/* DO asked and the zone is signed: RRSIGs and proofs go in (RFC 4035 3.1). */
	bool dnssec;
	pd__proof_t wild[PD_CHAIN_MAX]; /* each wildcard expansion's proof, sent after the rest */
	unsigned nwild;
	const pd_rrset_t *proven[PD_PROOF_MAX]; /* proof RRsets sent, so none goes twice */
	unsigned nproven;
} pd__ctx_t;

static bool pd__rrset_put(pd__ctx_t *c, int section, const uint8_t *owner, const pd_rrset_t *rs,
                          uint32_t ttl)
{
	if (c->tc)
		return false;
	if (pd_resp_put_rrset(&c->r, section, owner, c->zone, rs, ttl) == 0)
		return true;
	/* A required RRset does not fit: send no partial answer, as NSD (Knot keeps what fit). */
	c->tc = true;
	pd_resp_clear(&c->r, c->q->question_end);
	return false;
}

/* The RRSIG RRset of rs, if it has one, after it (a signed answer's). */
static bool pd__put_rrsig(pd__ctx_t *c, int section, const uint8_t *owner, const pd_rrset_t *rs)
{
	const pd_rrset_t *sig = pd_zone_rrsig(c->zone, rs);
	return !sig || pd__rrset_put(c, section, owner, sig, sig->ttl);
}

/*
 * A required RRset and, in a signed answer, its RRSIG RRset under the same owner. Inline,
 * so that an unsigned answer pays one test for DNSSEC here, not a call.
 */
static inline bool pd__put_signed(pd__ctx_t *c, int section, const uint8_t *owner,
                                  const pd_rrset_t *rs)
{
	if (!pd__rrset_put(c, section, owner, rs, rs->ttl))
		return false;
	return !c->dnssec || pd__put_rrsig(c, section, owner, rs);
}

static void pd__put_soa(pd__ctx_t *c)
{
	/* NSD answers class ANY without the SOA: it is no proof for every class. */
	if (c->q->qclass == PD_CLASS_ANY)
		return;
	const pd_zone_t *z = c->zone;
	const pd_rrset_t *soa = pd_zone_rrset(z, &z->nodes[z->apex], PD_TYPE_SOA);
	if (!pd__rrset_put(c, PD_SEC_AUTHORITY, z->origin, soa, z->neg_ttl) || !c->dnssec)
		return;
	/* Its RRSIG with the SOA's negative TTL, as Knot: neither outlives the other. */
	const pd_rrset_t *sig = pd_zone_rrsig(z, soa);
	if (sig)
		pd__rrset_put(c, PD_SEC_AUTHORITY, z->origin, sig, z->neg_ttl);
}

/* Writes a proof's NSEC or NSEC3 RRset and its RRSIG, unless this answer has it already. */
static void pd__put_proof(pd__ctx_t *c, pd__proof_t p)
{
	if (!p.rs)
		return;
	for (unsigned i = 0; i < c->nproven; i++)
		if (c->proven[i] == p.rs)
			return;
	if (c->nproven < PD_PROOF_MAX)
		c->proven[c->nproven++] = p.rs;
	pd__put_signed(c, PD_SEC_AUTHORITY, p.owner, p.rs);
}

/* PD_ZONE_NSEC: the NSEC matching or covering the name lname of len bytes. */
static pd__proof_t pd__nsec(const pd_zone_t *z, const uint8_t *lname, size_t len)
{
	const pd_node_t *n = pd_zone_nsec_find(z, lname, len);
	pd__proof_t p = {NULL, NULL};
	if (n) {
		p.owner = pd_zone_node_name(z, n);
		p.rs = pd_zone_rrset(z, n, PD_TYPE_NSEC);
	}
	return p;
}

/* PD_ZONE_NSEC3: the NSEC3 matching (*match set) or covering lname; hashes the name. */
static pd__proof_t pd__nsec3(const pd_zone_t *z, const uint8_t *lname, size_t len, bool *match)
{
	const pd_nsec3_t *l = pd_zone_nsec3_find(z, lname, len, match);
	pd__proof_t p = {NULL, NULL};
	if (l) {
		p.owner = z->names + l->name_off;
		p.rs = pd_zone_nsec3_rrset(z, l);
	}
	return p;
}

/* The suffix of name (len bytes) one label longer than its suffix sfx: the next closer name. */
static const uint8_t *pd__next_closer(const uint8_t *name, const uint8_t *sfx)
{
	const uint8_t *p = name;
	while (*p && pd_name_parent(p) != sfx)
		p = pd_name_parent(p);
	return p;
}

/* "*." and the name enc of elen bytes, in wc; returns its length. */
static size_t pd__wildcard_of(uint8_t wc[PD_NAME_MAX + 2], const uint8_t *enc, size_t elen)
{
	wc[0] = 1;
	wc[1] = '*';
	memcpy(wc + 2, enc, elen);
	return elen + 2;
}

/*
 * NSEC3: the closest provable encloser proof for name (len bytes; RFC 5155 7.2.1): the
 * NSEC3 matching its nearest ancestor from the suffix enc up that has one, and the one
 * covering the next closer name. With opt-out the nearest ancestor that exists may have
 * none (an unsigned delegation, or an empty non-terminal above only such), so it climbs
 * as Knot does; the apex always has one. Returns the encloser proven, a suffix of name.
 */
static const uint8_t *pd__nsec3_encloser(pd__ctx_t *c, const uint8_t *name, size_t len,
                                         const uint8_t *enc)
{
	const pd_zone_t *z = c->zone;
	bool match = false;
	pd__proof_t ce;
	for (;;) {
		size_t elen = len - (size_t)(enc - name);
		ce = pd__nsec3(z, enc, elen, &match);
		if (match || elen <= z->origin_len || !*enc)
			break;
		enc = pd_name_parent(enc);
	}
	if (match)
		pd__put_proof(c, ce);
	if (enc != name) {
		const uint8_t *nc = pd__next_closer(name, enc);
		pd__put_proof(c, pd__nsec3(z, nc, len - (size_t)(nc - name), &match));
	}
	return enc;
}

/*
 * The proof that name (len bytes, not in the zone) does not exist: RFC 4035 3.1.3.2, the
 * NSEC covering it and the one covering the wildcard at its closest encloser enc (a suffix
 * of name); RFC 5155 7.2.2, the closest encloser proof and the NSEC3 covering that
 * wildcard.
 */
static void pd__deny_name(pd__ctx_t *c, const uint8_t *name, size_t len, const uint8_t *enc)
{
	const pd_zone_t *z = c->zone;
	uint8_t wc[PD_NAME_MAX + 2];
	bool match;
	if (z->dnssec == PD_ZONE_NSEC) {
		pd__put_proof(c, pd__nsec(z, name, len));
		size_t wlen = pd__wildcard_of(wc, enc, len - (size_t)(enc - name));
		pd__put_proof(c, pd__nsec(z, wc, wlen));
		return;
	}
	enc = pd__nsec3_encloser(c, name, len, enc);
	size_t wlen = pd__wildcard_of(wc, enc, len - (size_t)(enc - name));
	pd__put_proof(c, pd__nsec3(z, wc, wlen, &match));
}

/*
 * The proof that node n has no RRset of the query's type (RFC 4035 3.1.3.1, RFC 5155
 * 7.2.3): its NSEC, or for an empty non-terminal the NSEC covering it; the NSEC3
 * matching it, or without one (opt-out: a DS query at an unsigned delegation, RFC 5155
 * 7.2.4) the closest provable encloser proof. When n is the wildcard that name (len
 * bytes) expanded below its closest encloser enc, NSEC3 adds the closest encloser proof
 * (RFC 5155 7.2.5); NSEC's covering record comes with the expansion's proof.
 */
static void pd__deny_type(pd__ctx_t *c, const pd_node_t *n, const uint8_t *name, size_t len,
                          const uint8_t *enc)
{
	const pd_zone_t *z = c->zone;
	const uint8_t *owner = pd_zone_node_name(z, n);
	bool match = false;
	if (z->dnssec == PD_ZONE_NSEC) {
		const pd_rrset_t *nsec = pd_zone_rrset(z, n, PD_TYPE_NSEC);
		pd__proof_t p = {owner, nsec};
		pd__put_proof(c, nsec ? p : pd__nsec(z, owner, n->name_len));
		return;
	}
	pd__proof_t p = pd__nsec3(z, owner, n->name_len, &match);
	if (match)
		pd__put_proof(c, p);
	if (enc)
		pd__nsec3_encloser(c, name, len, enc);
	else if (!match && *owner)
		pd__nsec3_encloser(c, owner, n->name_len, pd_name_parent(owner));
}

/*
 * Notes the proof that name (len bytes) does not exist itself, for its expansion of the
 * wildcard below enc (RFC 4035 3.1.3.3, RFC 5155 7.2.6): the NSEC covering it, or the
 * NSEC3 covering the next closer name. Sent after the rest of the authority section.
 */
static void pd__note_wildcard(pd__ctx_t *c, const uint8_t *name, size_t len, const uint8_t *enc)
{
	const pd_zone_t *z = c->zone;
	bool match;
	if (c->nwild == PD_CHAIN_MAX)
		return;
	if (z->dnssec == PD_ZONE_NSEC) {
		c->wild[c->nwild++] = pd__nsec(z, name, len);
		return;
	}
	const uint8_t *nc = pd__next_closer(name, enc);
	c->wild[c->nwild++] = pd__nsec3(z, nc, len - (size_t)(nc - name), &match);
}

/*
 * Adds the A and AAAA of a target name to the additional section. glue allows
 * occluded nodes (addresses below a cut). Returns false when required glue did not fit.
 */
static bool pd__add_addresses(pd__ctx_t *c, const uint8_t *target, bool glue)
{
	uint8_t lname[PD_NAME_MAX];
	size_t len = pd_name_lower(lname, target);
	const pd_zone_t *z = c->zone;

	if (!pd_name_is_under(lname, z->origin))
		return true;
	const pd_node_t *n = pd_zone_find(z, lname, len);
	if (!n || ((n->flags & PD_NODE_OCCLUDED) && !glue))
		return true;
	for (unsigned i = 0; i < c->nadded; i++)
		if (c->added[i] == n)
			return true;
	if (c->nadded == PD_ADDITIONAL_MAX)
		return true;
	c->added[c->nadded++] = n;
	static const uint16_t types[] = {PD_TYPE_A, PD_TYPE_AAAA};
	for (int t = 0; t < 2; t++) {
		const pd_rrset_t *rs = pd_zone_rrset(z, n, types[t]);
		if (!rs)
			continue;
		/* Glue is not signed; other addresses go with their RRSIG or not at all. */
		const pd_rrset_t *sig =
		    c->dnssec && !(n->flags & PD_NODE_OCCLUDED) ? pd_zone_rrsig(z, rs) : NULL;
		pd_resp_mark_t m = pd_resp_mark(&c->r);
		if (pd_resp_put_rrset(&c->r, PD_SEC_ADDITIONAL, lname, z, rs, rs->ttl) < 0 ||
		    (sig &&
		     pd_resp_put_rrset(&c->r, PD_SEC_ADDITIONAL, lname, z, sig, sig->ttl) < 0)) {
			pd_resp_rewind(&c->r, &m);
			return false;
		}
	}
	return true;
}

/* Additional-section processing for NS, MX and SRV targets (RFC 1035 3.3, RFC 2782). */
static void pd__additional(pd__ctx_t *c, const pd_rrset_t *rs, bool glue, const uint8_t *cut)
{
	pd__rdata_names_t names = pd__rdata_names(rs->type);
	if (!(names.flags & PD__RDATA_ADDITIONAL) || c->tc)
		return;
	size_t off = names.off;
	const uint8_t *p = pd_zone_rrset_data(c->zone, rs);
	for (uint16_t i = 0; i < rs->count; i++) {
		uint16_t rdlen = pd_get_u16(p);
		if (rdlen > off) {
			uint8_t target[PD_NAME_MAX];
			pd_wire_t w;
			pd_wire_init(&w, p + 2, rdlen);
			pd_wire_skip(&w, off);
			if (pd_name_parse(&w, target) && !pd__add_addresses(c, target, glue)) {
				/* RFC 9471: all in-domain glue, or TC. Other addresses are
				 * optional. */
				if (cut && pd_name_is_under(target, cut))
					c->flags |= PD_FLAG_TC;
				return;
			}
		}
		p += 2u + rdlen;
	}
}

/*
 * The delegation at cut: its NS (never signed), then in a signed answer its DS and RRSIG
 * or the proof that it has none (RFC 4035 3.1.4, RFC 5155 7.2.7). Returns the NS RRset,
 * whose glue goes in once the authority section is complete.
 */
static const pd_rrset_t *pd__referral(pd__ctx_t *c, const pd_node_t *cut, bool first_step)
{
	const pd_zone_t *z = c->zone;
	const uint8_t *name = pd_zone_node_name(z, cut);
	const pd_rrset_t *ns = pd_zone_rrset(z, cut, PD_TYPE_NS);
	if (first_step)
		c->flags &= (uint16_t)~PD_FLAG_AA;
	if (!pd__rrset_put(c, PD_SEC_AUTHORITY, name, ns, ns->ttl) || !c->dnssec)
		return ns;
	const pd_rrset_t *ds = pd_zone_rrset(z, cut, PD_TYPE_DS);
	if (ds)
		pd__put_signed(c, PD_SEC_AUTHORITY, name, ds);
	else
		pd__deny_type(c, cut, name, cut->name_len, NULL);
	return ns;
}

/* The RRset that answers QTYPE ANY: one, as RFC 8482 allows; the SOA at the apex, as NSD. */
static const pd_rrset_t *pd__any_rrset(const pd_zone_t *z, const pd_node_t *n)
{
	if (n->flags & PD_NODE_APEX)
		return pd_zone_rrset(z, n, PD_TYPE_SOA);
	return n->rrset_count ? &z->rrsets[n->rrset_first] : NULL;
}

/* What ends the walk of pd__answer_zone(), for the authority and additional sections. */
typedef struct pd__end {
	const pd_rrset_t *extra; /* whose targets' addresses go in additional, or NULL */
	const uint8_t *cut;      /* a referral's cut, whose glue is required */
} pd__end_t;

/*
 * Follows the query name through CNAMEs and DNAMEs, writing the answer section and
 * then the authority section of the step that ends it; notes in *end what additional
 * processing is left.
 */
static void pd__walk(pd__ctx_t *c, pd__end_t *end)
{
	const pd_zone_t *z = c->zone;
	const uint16_t qtype = c->q->qtype;
	uint8_t name[PD_NAME_MAX];
	size_t len = c->q->qname_len;
	const pd_node_t *visited[PD_CHAIN_MAX];
	unsigned nvisited = 0;

	memcpy(name, c->q->question, len);
	for (int step = 0; step < PD_CHAIN_MAX && !c->tc; step++) {
		/* The first name is the query's, whose hash the parse made. */
		const pd_node_t *n = step == 0 ? pd_zone_find_hashed(z, name, len, c->q->hash)
		                               : pd_zone_find(z, name, len);
		const pd_node_t *enc = n;
		const uint8_t *wild = NULL; /* the closest encloser, in name, when n is its "*" */

		if (!n) {
			/* Closest encloser; the apex at the latest, as name is inside the zone. */
			const uint8_t *p = name;
			do {
				p = pd_name_parent(p);
				enc = pd_zone_find(z, p, len - (size_t)(p - name));
			} while (!enc);
		}
		if (enc->flags & PD_NODE_OCCLUDED)
			enc = &z->nodes[enc->cut];
		if (enc != n || (n->flags & PD_NODE_DELEG)) {
			/* Either at or below a cut, or below a DNAME, or a miss. */
			if ((enc->flags & PD_NODE_DELEG) && !(enc == n && qtype == PD_TYPE_DS)) {
				end->extra = pd__referral(c, enc, step == 0);
				end->cut = pd_zone_node_name(z, enc);
				return;
			}
			if (enc != n && (enc->flags & PD_NODE_DNAME)) {
				const pd_rrset_t *dn = pd_zone_rrset(z, enc, PD_TYPE_DNAME);
				const uint8_t *owner = pd_zone_node_name(z, enc);
				const uint8_t *rd = pd_zone_rrset_data(z, dn);
				uint16_t tlen = pd_get_u16(rd);
				size_t prefix = len - enc->name_len;
				uint8_t target[PD_NAME_MAX + PD_NAME_MAX];

				if (!pd__put_signed(c, PD_SEC_ANSWER, owner, dn))
					return;
				if (prefix + tlen > PD_NAME_MAX) {
					c->rcode = PD_RCODE_YXDOMAIN; /* RFC 6672 2.2 */
					return;
				}
				memcpy(target, name, prefix);
				memcpy(target + prefix, rd + 2, tlen);
				/* The synthesized CNAME carries the DNAME's TTL (RFC 6672 3.1), and
				 * no RRSIG: there is none (5.3.1). */
				if (pd_resp_put_rr(&c->r, PD_SEC_ANSWER, name, PD_TYPE_CNAME,
				                   PD_CLASS_IN, dn->ttl, target,
				                   (uint16_t)(prefix + tlen)) < 0) {
					c->tc = true;
					pd_resp_clear(&c->r, c->q->question_end);
					return;
				}
				len = pd_name_lower(name, target);
				if (!pd_name_is_under(name, z->origin))
					return;
				continue;
			}
			if (enc != n) {
				const uint8_t *ename = name + (len - enc->name_len);
				if (!(enc->flags & PD_NODE_WILDCARD)) {
					c->rcode = PD_RCODE_NXDOMAIN;
					pd__put_soa(c);
					if (c->dnssec && c->q->qclass != PD_CLASS_ANY)
						pd__deny_name(c, name, len, ename);
					return;
				}
				/* RFC 4592: the source of synthesis is "*" under the closest
				 * encloser. */
				uint8_t wc[PD_NAME_MAX + 2];
				n = pd_zone_find(z, wc, pd__wildcard_of(wc, ename, enc->name_len));
				if (n->flags & PD_NODE_DELEG) {
					/* A wildcard NS is a cut (RFC 4592 4.2 discourages it):
					 * refer, as Knot does, rather than answer with it. */
					end->extra = pd__referral(c, n, step == 0);
					end->cut = pd_zone_node_name(z, n);
					return;
				}
				wild = ename;
				if (c->dnssec)
					pd__note_wildcard(c, name, len, ename);
			}
		}
		for (unsigned i = 0; i < nvisited; i++)
			if (visited[i] == n)
				return; /* a CNAME loop: stop with the chain walked, as NSD and Knot
				         */
		visited[nvisited++] = n;

		const pd_rrset_t *rs =
		    qtype == PD_TYPE_ANY ? pd__any_rrset(z, n) : pd_zone_rrset(z, n, qtype);
		if (rs) {
			if (pd__put_signed(c, PD_SEC_ANSWER, name, rs))
				end->extra = rs;
			return;
		}
		const pd_rrset_t *cname = pd_zone_rrset(z, n, PD_TYPE_CNAME);
		if (!cname) {
			pd__put_soa(c); /* NODATA, empty non-terminals included */
			if (c->dnssec && c->q->qclass != PD_CLASS_ANY)
				pd__deny_type(c, n, name, len, wild);
			return;
		}
		if (!pd__put_signed(c, PD_SEC_ANSWER, name, cname))
			return;
		const uint8_t *rd = pd_zone_rrset_data(z, cname);
		pd_wire_t w;
		uint8_t target[PD_NAME_MAX];
		pd_wire_init(&w, rd + 2, pd_get_u16(rd));
		if (!pd_name_parse(&w, target))
			return;
		len = pd_name_lower(name, target);
		if (!pd_name_is_under(name, z->origin))
			return; /* out of this zone: the resolver follows it, as Knot leaves it */
	}
}

static void pd__answer_zone(pd__ctx_t *c)
{
	pd__end_t end = {NULL, NULL};
	pd__walk(c, &end);
	/* The wildcard expansions' proofs follow the final step's, as in Knot. */
	for (unsigned i = 0; i < c->nwild; i++)
		pd__put_proof(c, c->wild[i]);
	if (end.extra)
		pd__additional(c, end.extra, end.cut != NULL, end.cut);
}

/* TXT RDATA from a string, in chunks of at most 255 bytes. */
static uint16_t pd__txt_rdata(uint8_t *out, size_t cap, const char *s)
{
	size_t slen = strlen(s), n = 0;
	do {
		size_t chunk = slen > 255 ? 255 : slen;
		if (n + 1 + chunk > cap)
			break;
		out[n++] = (uint8_t)chunk;
		memcpy(out + n, s, chunk);
		n += chunk;
		s += chunk;
		slen -= chunk;
	} while (slen > 0);
	return (uint16_t)n;
}

/*
 * CH-class TXT queries for the server's identity and version (RFC 4892), as NSD answers
 * them: other types and other names are not supported (REFUSED, EDE 21), a hidden text
 * is prohibited (REFUSED, EDE 18).
 */
static void pd__answer_chaos(pd__ctx_t *c)
{
	static const char *const id_names[] = {"id.server", "hostname.bind"};
	static const char *const ver_names[] = {"version.server", "version.bind"};
	const char *text = NULL;
	uint8_t n[PD_NAME_MAX];

	for (int i = 0; i < 2 && !text; i++) {
		pd_name_from_str(n, id_names[i]);
		if (pd_name_equal(n, c->q->question))
			text = c->conf->identity ? c->conf->identity : "";
		pd_name_from_str(n, ver_names[i]);
		if (pd_name_equal(n, c->q->question))
			text = c->conf->version ? c->conf->version : "";
	}
	if (!text || (c->q->qtype != PD_TYPE_TXT && c->q->qtype != PD_TYPE_ANY)) {
		c->rcode = PD_RCODE_REFUSED;
		c->ede = PD_EDE_NOT_SUPPORTED;
		return;
	}
	if (!*text) {
		c->rcode = PD_RCODE_REFUSED;
		c->ede = PD_EDE_PROHIBITED;
		return;
	}
	uint8_t rdata[1024];
	uint16_t rdlen = pd__txt_rdata(rdata, sizeof(rdata), text);
	if (pd_resp_put_rr(&c->r, PD_SEC_ANSWER, c->q->question, PD_TYPE_TXT, PD_CLASS_CH, 0, rdata,
	                   rdlen) < 0)
		c->tc = true;
}

/* Writes a name lower-cased and uncompressed at out; returns its length. */
static size_t pd__put_lower(uint8_t *out, pd_wire_t *w)
{
	uint8_t name[PD_NAME_MAX];
	size_t len = pd_name_parse(w, name);
	if (len)
		pd_name_lower(out, name);
	return len;
}

/*
 * The TSIG record answering one whose key we do not have (RFC 8945 5.2.2, 5.3.2): the
 * query's key and algorithm names (lower-cased and uncompressed, as NSD writes them), its
 * Time Signed and Fudge, no MAC, its Original ID, error BADKEY and no Other Data;
 * unsigned, there being no key to sign with. Returns its length, or 0 when it does not
 * fit in room bytes at out.
 */
static size_t pd__put_tsig(const pd_query_t *q, uint8_t *out, size_t room)
{
	uint8_t key[PD_NAME_MAX], alg[PD_NAME_MAX], rest[8];
	pd_wire_t w;
	/* The parse checked the record, so these reads cannot fail; w.err guards anyway. */
	pd_wire_init(&w, q->wire, q->len);
	pd_wire_skip(&w, q->tsig_off);
	size_t klen = pd__put_lower(key, &w);
	pd_wire_skip(&w, 10); /* type, class, TTL, RDLENGTH */
	size_t alen = pd__put_lower(alg, &w);
	pd_wire_read(&w, rest, sizeof(rest)); /* Time Signed, Fudge */
	pd_wire_skip(&w, pd_wire_u16(&w));    /* the MAC */
	uint16_t orig_id = pd_wire_u16(&w);
	size_t len = klen + alen + PD_TSIG_FIXED;
	if (w.err || len > room)
		return 0;
	uint8_t *p = out;
	memcpy(p, key, klen);
	p += klen;
	pd_put_u16(p, PD_TYPE_TSIG);
	pd_put_u16(p + 2, PD_CLASS_ANY);
	memset(p + 4, 0, 4); /* TTL */
	pd_put_u16(p + 8, (uint16_t)(alen + PD_TSIG_FIXED - 10));
	p += 10;
	memcpy(p, alg, alen);
	p += alen;
	memcpy(p, rest, sizeof(rest));
	pd_put_u16(p + 8, 0); /* MAC Size */
	pd_put_u16(p + 10, orig_id);
	pd_put_u16(p + 12, PD_RCODE_BADKEY);
	pd_put_u16(p + 14, 0); /* Other Len */
	return len;
}

/* Writes the OPT record at resp + len (its room set aside); returns the new length. */
static size_t pd__put_opt(pd__ctx_t *c, uint8_t *resp, size_t len)
{
	const pd_answer_conf_t *conf = c->conf;
	/* An EDE goes only with empty sections (errors), so no room was held for it: it is
	 * sent when it fits, which in 512 bytes it does beside any question, keepalive and
	 * an NSID of up to 200 bytes. */
	bool ede = c->ede != PD_NO_EDE && c->r.len + PD_EDE_LEN <= c->r.limit;
	uint16_t rdlen = (uint16_t)((c->nsid ? PD_OPTION_HDR + conf->nsid_len : 0) +
	                            (c->keepalive ? PD_KEEPALIVE_LEN : 0) + (ede ? PD_EDE_LEN : 0) +
	                            (c->cookie ? PD_COOKIE_OPT_LEN : 0));
	uint8_t *o = resp + len;
	o[0] = 0;
	pd_put_u16(o + 1, PD_TYPE_OPT);
	pd_put_u16(o + 3, conf->udp_size);
	o[5] = (uint8_t)(c->rcode >> 4); /* extended rcode, upper 8 bits */
	o[6] = 0;                        /* version */
	pd_put_u16(o + 7, c->q->edns_do && !c->opt_bare ? PD_EDNS_DO : 0);
	pd_put_u16(o + 9, rdlen);
	o += PD_OPT_LEN;
	/* In NSD's order: NSID, then (which NSD lacks) keepalive, then EDE. */
	if (c->nsid) {
		pd_put_u16(o, PD_EDNS_OPT_NSID);
		pd_put_u16(o + 2, conf->nsid_len);
		memcpy(o + PD_OPTION_HDR, conf->nsid, conf->nsid_len);
		o += PD_OPTION_HDR + conf->nsid_len;
	}
	if (c->keepalive) {
		pd_put_u16(o, PD_EDNS_OPT_KEEPALIVE);
		pd_put_u16(o + 2, 2);
		pd_put_u16(o + 4, conf->tcp_keepalive);
		o += PD_KEEPALIVE_LEN;
	}
	if (ede) {
		pd_put_u16(o, PD_EDNS_OPT_EDE);
		pd_put_u16(o + 2, 2);
		pd_put_u16(o + 4, (uint16_t)c->ede);
		o += PD_EDE_LEN;
	}
	if (c->cookie) {
		pd_put_u16(o, PD_EDNS_OPT_COOKIE);
		pd_put_u16(o + 2, PD_COOKIE_CLIENT_LEN + PD_COOKIE_SERVER_LEN);
		memcpy(o + 4, c->q->wire + c->q->cookie_off, PD_COOKIE_CLIENT_LEN);
		memcpy(o + 4 + PD_COOKIE_CLIENT_LEN, c->q->cookie_out, PD_COOKIE_SERVER_LEN);
		o += PD_COOKIE_OPT_LEN;
	}
	return (size_t)(o - resp);
}

static size_t pd__finish(pd__ctx_t *c, uint8_t *resp, pd_answer_info_t *info)
{
	size_t len = c->r.len;
	uint16_t arcount = c->r.count[PD_SEC_ADDITIONAL];
	if (c->q->tcp) {
		/* TCP has no room left to ask for: what does not fit in 64 KiB cannot be sent
		 * (as Knot), and missing glue is just missing. */
		if (c->tc)
			c->rcode = PD_RCODE_SERVFAIL;
		c->tc = false;
		c->flags &= (uint16_t)~PD_FLAG_TC;
	}
	if (c->opt) {
		len = pd__put_opt(c, resp, len);
		arcount++;
	}
	if (c->tsig) {
		size_t n = pd__put_tsig(c->q, resp + len, c->limit - len);
		if (n) {
			len += n;
			arcount++;
		} else {
			c->tc = !c->q->tcp; /* key and algorithm names too long for 512 bytes */
		}
	}
	uint16_t flags = c->flags | (uint16_t)(c->rcode & 0xF);
	if (c->tc)
		flags |= PD_FLAG_TC;
	pd_put_u16(resp + 2, flags);
	pd_put_u16(resp + 6, c->r.count[PD_SEC_ANSWER]);
	pd_put_u16(resp + 8, c->r.count[PD_SEC_AUTHORITY]);
	pd_put_u16(resp + 10, arcount);
	if (info) {
		info->rcode = c->rcode;
		info->truncated = (flags & PD_FLAG_TC) != 0;
		info->authoritative = (flags & PD_FLAG_AA) != 0;
	}
	return len;
}

/* The query's zone: remembered from the prefetch, or searched for now. */
static const pd_zone_t *pd__query_zone(const pd_zoneset_t *zs, const pd_query_t *q)
{
	const uint8_t *name = q->question;
	const pd_zone_t *z = q->zone_known ? q->zone
	                                   : pd_zoneset_find_labels(zs, name, q->qname_len, q->hash,
	                                                            q->label_off, q->labels);
	/* DS lives on the parent side of a cut (RFC 4035 3.1.4.1): ask the parent if we have it. */
	if (z && q->qtype == PD_TYPE_DS && z->origin_len == q->qname_len && name[0]) {
		const pd_zone_t *parent = pd_zoneset_find(zs, pd_name_parent(name));
		if (parent)
			z = parent;
	}
	return z;
}

/*
 * NOTIFY (RFC 1996), until zones are kept as secondaries: what NSD answers for a zone it
 * serves but takes no NOTIFY for. A name that is none of our zones' apex is NXDOMAIN,
 * malformed records FORMERR, a TSIG NOTAUTH (BADKEY: we have no keys), the rest REFUSED.
 */
static void pd__answer_notify(pd__ctx_t *c, const pd_zoneset_t *zs)
{
	const pd_query_t *q = c->q;
	const pd_zone_t *z = zs ? pd_zoneset_find_labels(zs, q->question, q->qname_len, q->hash,
	                                                 q->label_off, q->labels)
	                        : NULL;
	if (!z || z->origin_len != q->qname_len) {
		c->rcode = PD_RCODE_NXDOMAIN;
	} else if (q->tsig_malformed) {
		c->rcode = PD_RCODE_FORMERR;
	} else if (q->tsig_off) {
		c->rcode = PD_RCODE_NOTAUTH;
		c->tsig = true;
	} else {
		c->rcode = PD_RCODE_REFUSED;
	}
}

enum pd__next { PD__DONE, PD__CHAOS, PD__ZONE };

/*
 * The rules that answer without a zone, in NSD's order: they set the response's shape
 * (flags, question, OPT) and rcode. Returns what answers the rest. Writes nothing.
 */
static enum pd__next pd__answer_early(pd__ctx_t *c, const pd_zoneset_t *zs)
{
	const pd_query_t *q = c->q;
	/* Errors NSD answers with the query's own flags (QR set, AD cleared), with no
	 * question and no OPT: it gives up before it reads them. */
	uint16_t echoed = PD_FLAG_QR | (q->flags & (uint16_t) ~(PD_FLAG_AD | PD_RCODE_MASK));

	if (q->rcode == PD_RCODE_NOTIMP) {
		c->flags = echoed;
		c->rcode = PD_RCODE_NOTIMP;
		return PD__DONE;
	}
	/* RFC 7828 3.2.1: a client sends keepalive without a TIMEOUT; over UDP the option is
	 * not read at all (3.2.2), over TCP one with a TIMEOUT is malformed (as Unbound). */
	if (q->rcode == PD_RCODE_FORMERR || (q->tcp && q->edns_keepalive_timeout)) {
		c->rcode = PD_RCODE_FORMERR;
		if (q->formerr_qdcount)
			c->flags = PD_FLAG_QR;
		return PD__DONE;
	}
	if (q->opcode == PD_OPCODE_NOTIFY) {
		c->flags = echoed;
		pd__answer_notify(c, zs);
		return PD__DONE;
	}
	c->opt = q->edns;
	if (q->qdcount == 0) {
		/* The parse left only the OPT probe NOERROR: our OPT, no more. With a cookie
		 * it asks for ours (RFC 7873 5.4): BADCOOKIE when it brought a bad one. */
		if (q->badcookie)
			c->rcode = PD_RCODE_BADCOOKIE;
		return PD__DONE;
	}
	if (q->tsig_off) {
		/* RFC 8945 5.2.2: no key we know (we have none), whatever the question. */
		c->flags = echoed;
		c->rcode = PD_RCODE_NOTAUTH;
		c->tsig = true;
		c->opt_bare = q->edns_version != 0;
		return PD__DONE;
	}
	c->question = true;
	if (q->edns && q->edns_version > 0) {
		c->flags = echoed;
		c->rcode = PD_RCODE_BADVERS; /* RFC 6891 6.1.3 */
		c->opt_bare = true;
		return PD__DONE;
	}
	if (q->badcookie) {
		c->rcode = PD_RCODE_BADCOOKIE; /* RFC 7873 5.2.3, 5.2.4: retry with this cookie */
		return PD__DONE;
	}
	if (q->qclass == PD_CLASS_CH)
		return PD__CHAOS;
	if (q->qclass != PD_CLASS_IN && q->qclass != PD_CLASS_ANY) {
		c->question = false; /* as NSD, which answers these as errors */
		c->rcode = PD_RCODE_REFUSED;
		c->ede = PD_EDE_NOT_SUPPORTED;
		return PD__DONE;
	}
	if (q->qtype == PD_TYPE_AXFR && !q->tcp) {
		c->rcode = PD_RCODE_NOTIMP; /* a zone transfer needs TCP (RFC 5936 4.2) */
		return PD__DONE;
	}
	if (q->qtype == PD_TYPE_AXFR || q->qtype == PD_TYPE_IXFR) {
		/* No zone is allowed out yet: what NSD says without provide-xfr. */
		c->rcode = PD_RCODE_REFUSED;
		c->ede = PD_EDE_PROHIBITED;
		return PD__DONE;
	}
	if (!zs) {
		c->rcode = PD_RCODE_REFUSED;
		c->ede = PD_EDE_NOT_AUTHORITATIVE;
		return PD__DONE;
	}
	return PD__ZONE;
}

size_t pd_answer_limit(const pd_answer_conf_t *conf, const pd_query_t *q, size_t resp_cap)
{
	size_t limit = PD_MSG_MAX;
	if (!q->tcp) {
		limit = PD_UDP_MIN;
		if (q->edns) {
			uint16_t ours = conf->udp_size < PD_UDP_MIN ? PD_UDP_MIN : conf->udp_size;
			limit = q->edns_size < ours ? q->edns_size : ours;
		}
	}
	return limit < resp_cap ? limit : resp_cap;
}

/*
 * The header, the question if echoed, and the writer set up within the size limit,
 * with room set aside for the OPT record and the options the query's shape puts in it.
 */
static void pd__start(pd__ctx_t *c, uint8_t *resp, size_t resp_cap)
{
	const pd_query_t *q = c->q;
	const pd_answer_conf_t *conf = c->conf;
	size_t qend = c->question ? q->question_end : PD_HEADER_LEN;
	c->limit = pd_answer_limit(conf, q, resp_cap);
	memcpy(resp, q->wire, 2);
	pd_put_u16(resp + 4, c->question ? 1 : 0);
	memcpy(resp + PD_HEADER_LEN, q->wire + PD_HEADER_LEN, qend - PD_HEADER_LEN);
	size_t reserve = 0;
	if (c->opt) {
		c->keepalive = q->tcp && q->edns_keepalive && !c->opt_bare;
		c->nsid = q->edns_nsid && conf->nsid && conf->nsid_len && !c->opt_bare;
		c->cookie = q->cookie != PD_COOKIE_NONE && !c->opt_bare;
		reserve = PD_OPT_LEN + (c->keepalive ? PD_KEEPALIVE_LEN : 0) +
		          (c->cookie ? PD_COOKIE_OPT_LEN : 0);
		/* An NSID too long for the room is left out, rather than the answer. */
		if (c->nsid && qend + reserve + PD_OPTION_HDR + conf->nsid_len > c->limit)
			c->nsid = false;
		if (c->nsid)
			reserve += PD_OPTION_HDR + conf->nsid_len;
	}
	if (c->question)
		pd_resp_init_labels(&c->r, resp, qend, c->limit - reserve, PD_HEADER_LEN,
		                    q->label_off, q->labels);
	else
		pd_resp_init(&c->r, resp, qend, c->limit - reserve, 0);
}

size_t pd_answer_query(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, const pd_query_t *q,
                       uint8_t *resp, size_t resp_cap, pd_answer_info_t *info)
{
	pd__ctx_t c;

	if (info)
		info->rcode = -1;
	if (q->drop || resp_cap < PD_UDP_MIN)
		return 0;
	c.conf = conf;
	c.q = q;
	/* RD and the opcode are echoed; CD is cleared (RFC 4035 3.1.6: an authoritative
	 * response SHOULD, as NSD and Knot do), AD never set. */
	c.flags = PD_FLAG_QR | (q->flags & (PD_OPCODE_MASK | PD_FLAG_RD));
	c.rcode = PD_RCODE_NOERROR;
	c.ede = PD_NO_EDE;
	c.tc = false;
	c.question = false;
	c.opt = false;
	c.opt_bare = false;
	c.nsid = false;
	c.keepalive = false;
	c.cookie = false;
	c.tsig = false;
	c.zone = NULL;
	c.nadded = 0;
	c.dnssec = false;
	c.nwild = 0;
	c.nproven = 0;
	enum pd__next next = pd__answer_early(&c, zs);
	pd__start(&c, resp, resp_cap);
	if (next == PD__CHAOS) {
		pd__answer_chaos(&c);
	} else if (next == PD__ZONE) {
		c.zone = pd__query_zone(zs, q);
		if (c.zone && c.zone->expired) {
			/* A secondary's copy past its SOA expire has no data to answer from: as
			 * Knot, SERVFAIL before anything else, so without AA. */
			c.rcode = PD_RCODE_SERVFAIL;
		} else if (c.zone) {
			c.dnssec = q->edns_do && c.zone->dnssec != PD_ZONE_UNSIGNED;
			/* Class ANY is answered from IN data, but not as its authority (NSD). */
			if (q->qclass == PD_CLASS_IN)
				c.flags |= PD_FLAG_AA;
			pd__answer_zone(&c);
		} else {
			c.rcode = PD_RCODE_REFUSED;
			c.ede = PD_EDE_NOT_AUTHORITATIVE;
		}
	}
	return pd__finish(&c, resp, info);
}

size_t pd_answer(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, const uint8_t *query,
                 size_t qlen, uint8_t *resp, size_t resp_cap, pd_answer_info_t *info)
{
	pd_query_t q;
	pd_query_parse(&q, query, qlen);
	return pd_answer_query(zs, conf, &q, resp, resp_cap, info);
}

#define PD_PREFETCH_BATCH 32

/* What one query needs between prefetch stages. */
typedef struct pd__pf {
	const pd_zone_t *zone;
	pd__probe_t probe; /* of the name's hash in the zone's table */
	const pd_node_t *node;
	uint16_t qtype;
} pd__pf_t;

/* Stages 2 to 4, for the queries whose zone stage 1 found and whose slot it prefetched. */
static void pd__prefetch_nodes(pd__pf_t *pf, int m)
{
	/* Stage 2: the slot (the first node of the name's hash), then prefetch it. */
	for (int i = 0; i < m; i++) {
		pf[i].node = NULL;
		if (!pf[i].zone)
			continue;
		uint32_t idx = pd__probe_next(&pf[i].probe);
		if (idx != PD__PROBE_END) {
			pf[i].node = &pf[i].zone->nodes[idx];
			__builtin_prefetch(pf[i].node);
		}
	}
	/* Stage 3: the node's name and RRsets. */
	for (int i = 0; i < m; i++) {
		if (!pf[i].node)
			continue;
		__builtin_prefetch(pf[i].zone->names + pf[i].node->name_off);
		__builtin_prefetch(pf[i].zone->rrsets + pf[i].node->rrset_first);
	}
	/* Stage 4: the RDATA of the RRset asked for. */
	for (int i = 0; i < m; i++) {
		if (!pf[i].node)
			continue;
		const pd_rrset_t *rs = pd_zone_rrset(pf[i].zone, pf[i].node, pf[i].qtype);
		if (rs)
			__builtin_prefetch(pd_zone_rrset_data(pf[i].zone, rs));
	}
}

void pd_answer_prefetch(const pd_zoneset_t *zs, pd_query_t *qs, int n, const bool *skip)
{
	pd__pf_t pf[PD_PREFETCH_BATCH];
	if (!zs)
		return;
	for (int start = 0; start < n; start += PD_PREFETCH_BATCH) {
		int m = n - start < PD_PREFETCH_BATCH ? n - start : PD_PREFETCH_BATCH;
		/* Stage 1: find the zone (and remember it), prefetch the hash slot. */
		for (int i = 0; i < m; i++) {
			pd_query_t *q = &qs[start + i];
			pf[i].zone = NULL;
			/* Only those pd__answer_early() sends to a zone. */
			if ((skip && skip[start + i]) || q->drop || q->rcode ||
			    q->opcode != PD_OPCODE_QUERY || q->qdcount != 1 || q->tsig_off)
				continue;
			const pd_zone_t *z = pd_zoneset_find_labels(
			    zs, q->question, q->qname_len, q->hash, q->label_off, q->labels);
			q->zone = z;
			q->zone_known = true;
			if (!z)
				continue;
			pf[i].zone = z;
			pf[i].qtype = q->qtype;
			pd__probe_start(&pf[i].probe, z->table, z->table_mask, q->hash);
			__builtin_prefetch(&z->table[pf[i].probe.pos]);
		}
		pd__prefetch_nodes(pf, m);
	}
}

/*
 * Whether q goes to conf->special first: parsed without error, and a NOTIFY, a transfer
 * or signed. Tested in the order that rejects an ordinary query soonest: its rcode and
 * opcode are read anyway, its qtype is a compare, its tsig_off another.
 */
static inline bool pd__special(const pd_query_t *q)
{
	if (q->drop || q->rcode != PD_RCODE_NOERROR || !q->question_ok)
		return false;
	return q->opcode == PD_OPCODE_NOTIFY || q->qtype == PD_TYPE_AXFR ||
	       q->qtype == PD_TYPE_IXFR || q->tsig_off;
}

void pd_answer_dgram_query(const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                           const pd_query_t *q, pd_dgram_t *d)
{
	pd_answer_info_t info;
	if (conf->special && pd__special(q)) {
		d->out_len = 0;
		d->rcode = 0;
		d->truncated = false;
		d->take = false;
		if (conf->special(conf->special_arg, zs, q, d))
			return;
	}
	d->out_len = pd_answer_query(zs, conf, q, d->out, d->out_cap, &info);
	/* A dropped query sets nothing but info.rcode (-1). */
	d->rcode = (uint8_t)(d->out_len ? info.rcode & PD_RCODE_MASK : 0);
	d->truncated = d->out_len && info.truncated;
}

void pd_answer_dgram(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, pd_dgram_t *d)
{
	pd_query_t q;
	pd_query_parse_dgram(&q, d);
	if (conf->guard)
		pd_guard_queries(conf->guard, &q, d, 1);
	pd_answer_dgram_query(zs, conf, &q, d);
	if (conf->guard)
		pd_guard_replies(conf->guard, zs, conf, &q, d, 1);
}

void pd_answer_batch(const pd_zoneset_t *zs, const pd_answer_conf_t *conf, pd_dgram_t *batch, int n)
{
	pd_query_t qs[PD_PREFETCH_BATCH];
	for (int start = 0; start < n; start += PD_PREFETCH_BATCH) {
		int m = n - start < PD_PREFETCH_BATCH ? n - start : PD_PREFETCH_BATCH;
		for (int i = 0; i < m; i++)
			pd_query_parse_dgram(&qs[i], &batch[start + i]);
		if (conf->guard)
			pd_guard_queries(conf->guard, qs, batch + start, m);
		pd_answer_prefetch(zs, qs, m, NULL);
		for (int i = 0; i < m; i++)
			pd_answer_dgram_query(zs, conf, &qs[i], &batch[start + i]);
		if (conf->guard)
			pd_guard_replies(conf->guard, zs, conf, qs, batch + start, m);
	}
}
