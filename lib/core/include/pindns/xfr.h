/* Zone transfers in the core: records of a zone, differences between versions, AXFR and
 * IXFR messages out (RFC 5936, RFC 1995), and transfers in, applied to a new version. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/query.h"
#include "pindns/zone.h"

/** One record, as a zone or a transfer holds it. owner is lower-cased wire form. */
typedef struct pd_rr {
	const uint8_t *owner;
	uint8_t owner_len;
	uint16_t type;
	uint32_t ttl;
	const uint8_t *rdata; /* uncompressed wire form */
	uint16_t rdlen;
} pd_rr_t;

/** Called for each record; non-zero stops the walk and is returned. */
typedef int (*pd_rr_fn)(void *arg, const pd_rr_t *rr);

/**
 * Calls fn for every record of z: the apex SOA first, then every other record once
 * (RRSIGs, the NSEC3 chain and NSEC3 records of other chains included), RRset by RRset,
 * each with its RRset's TTL. An expired stand-in has none. Returns 0 or what fn returned.
 */
int pd_zone_foreach(const pd_zone_t *z, pd_rr_fn fn, void *arg);

/**
 * The apex SOA of z as a record. A compiled zone always has one; an expired stand-in
 * (pd_zone_expired_new()) has none: out then has the origin, type SOA and rdlen 0.
 */
void pd_zone_soa(const pd_zone_t *z, pd_rr_t *out);

/* ---- differences and the journal ---- */

/**
 * What changed from one version of a zone to the next, as IXFR carries it (RFC 1995 4):
 * the records removed (the old SOA first) and the records added (the new SOA first).
 * Reference counted, immutable once made: a transfer out holds one while it sends it.
 */
typedef struct pd_diff pd_diff_t;

/**
 * The difference from old to new (same origin): records compared by owner, type and
 * RDATA (the names in RDATA without case, as pd_xfr_in_feed() matches deletions); a TTL
 * change is a removal and an addition. Work in proportion to the zones (n log n: both
 * sorted, then merged). Returns 0 and sets *out (a new reference), -ENOMEM, or -EINVAL
 * when the origins differ or either is an expired stand-in.
 */
int pd_diff_new(const pd_zone_t *old, const pd_zone_t *new, pd_diff_t **out);

uint32_t pd_diff_from(const pd_diff_t *d); /* the old version's serial */
uint32_t pd_diff_to(const pd_diff_t *d);   /* the new version's serial */
size_t pd_diff_size(const pd_diff_t *d);   /* bytes it holds, for the journal's bound */
/** Takes another reference to d; returns d. */
pd_diff_t *pd_diff_ref(pd_diff_t *d);

/** Drops a reference to d, freeing it with the last; d may be NULL. */
void pd_diff_unref(pd_diff_t *d);

/**
 * A zone's recent differences, oldest first, in a chain (each one's from is the one
 * before's to), bounded in bytes: the oldest go first. Not thread-safe: its owner locks.
 */
typedef struct pd_journal pd_journal_t;

/** An empty journal keeping at most max_bytes of differences (pd_diff_size()); NULL
 * when out of memory. */
pd_journal_t *pd_journal_new(size_t max_bytes);

/** Drops the journal's references to its differences and frees it; j may be NULL. */
void pd_journal_free(pd_journal_t *j);

/** Forgets every difference j holds (the zone changed without a serial to say so). */
void pd_journal_clear(pd_journal_t *j);

/**
 * Adds d (the journal takes a reference) after the last. A d whose from is not the
 * last's to starts the chain again (the history before it cannot reach the current
 * version). A d bigger than the bound empties the journal. Returns 0 or -ENOMEM.
 */
int pd_journal_add(pd_journal_t *j, pd_diff_t *d);

/**
 * The differences taking serial from to the journal's last version, as new references
 * in out (at most cap); returns how many, 0 when from is the last version, or -ENOENT
 * when the journal does not reach back to from (the client needs AXFR), -ENOSPC when cap
 * is too small.
 */
int pd_journal_since(const pd_journal_t *j, uint32_t from, pd_diff_t **out, size_t cap);

/* ---- transfers out ---- */

/**
 * The messages answering one AXFR or IXFR query, made one at a time into the caller's
 * buffer, so a large zone is sent in bounded memory. It holds pointers into the zone
 * (which must outlive it) and references to the diffs.
 */
typedef struct pd_xfr_out pd_xfr_out_t;

/**
 * AXFR of z (RFC 5936): SOA, every other record, SOA, answering the query q (its ID and
 * RD echoed, its question as sent in the first message only). -ENOMEM, or -ENOENT for
 * an expired zone (which has nothing to send: answer SERVFAIL).
 */
int pd_xfr_out_axfr(pd_xfr_out_t **out, const pd_zone_t *z, const pd_query_t *q);

/**
 * IXFR of z for the serial in q's authority SOA (RFC 1995): the current SOA alone when
 * the client is current or newer (RFC 1982 serial arithmetic) or when q did not come by
 * TCP (q->tcp false: RFC 1995 2, "use TCP"), the n diffs (pd_journal_since()) in the
 * incremental form when they lead from the client's serial to z's, or else (n 0, or
 * diffs that do not) the AXFR form (RFC 1995 4). Takes its own references to the
 * diffs. -ENOMEM, -EINVAL when q has no SOA to read a serial from, -ENOENT for an
 * expired zone.
 */
int pd_xfr_out_ixfr(pd_xfr_out_t **out, const pd_zone_t *z, pd_diff_t *const *diffs, size_t n,
                    const pd_query_t *q);

/**
 * The serial in an IXFR query's authority SOA (its first record, owned by the question's
 * name): 0 and *serial set, or -EINVAL (FORMERR, as Knot answers).
 */
int pd_xfr_ixfr_serial(const pd_query_t *q, uint32_t *serial);

/**
 * Writes the next message (header, question in the first, as many records as fit in cap
 * - reserve bytes, AA set, NSCOUNT and ARCOUNT 0) into msg. Owner names and the names in
 * the RDATA of the RFC 1035 types are compressed (pd_resp_put_rr(): a name's letters may
 * then come from an earlier name that differs only in case). reserve is room kept for a
 * TSIG record; cap is at most 65535. Returns its length, 0 when all were sent, or
 * -EMSGSIZE when a single record does not fit.
 */
int pd_xfr_out_next(pd_xfr_out_t *x, uint8_t *msg, size_t cap, size_t reserve);

/** Frees x and drops its references to the diffs (the zone stays the caller's). */
void pd_xfr_out_free(pd_xfr_out_t *x);

/* ---- transfers in ---- */

/**
 * Writes a query for origin into msg (cap bytes): SOA, AXFR, or IXFR with our serial in
 * the authority section (RFC 1995 3). Returns its length or 0 when cap is too small.
 */
size_t pd_xfr_query(uint8_t *msg, size_t cap, uint16_t id, const uint8_t *origin, uint16_t qtype,
                    uint32_t serial);

/**
 * A transfer being received: the response messages of one AXFR or IXFR, fed in order,
 * made into a new version of the zone (an IXFR applied to the version it starts from).
 */
typedef struct pd_xfr_in pd_xfr_in_t;

/**
 * Starts receiving origin (wire form, any case). old is the version we have (NULL:
 * none), which an IXFR is applied to and must outlive the transfer; id is the query's
 * ID, which every message must carry; max_bytes bounds the records' bytes (0: no bound).
 */
pd_xfr_in_t *pd_xfr_in_new(const uint8_t *origin, const pd_zone_t *old, uint16_t id,
                           size_t max_bytes);

/**
 * Takes the next response message (len bytes; a TSIG record at its end, already checked
 * by the caller, is skipped). Returns 1 when the transfer is complete, 0 when more
 * messages are due, or a negative errno with the reason in pd_xfr_in_error(): -EPROTO
 * (not a response to our query, malformed, a record outside the zone, a serial that does
 * not follow), -ECONNREFUSED (an error rcode: pd_xfr_in_rcode()), -EFBIG (past
 * max_bytes), -ENOENT (an IXFR that does not apply to old: try AXFR), -ENOMEM.
 */
int pd_xfr_in_feed(pd_xfr_in_t *x, const uint8_t *msg, size_t len);

/**
 * After pd_xfr_in_feed() returned 1: the new version (compiled, loc 0 for every record)
 * in *out, or NULL with *out when the primary said we are current (an IXFR answered
 * with an SOA alone not newer than ours). Returns 0, -EINPROGRESS before the end,
 * -EPROTO after a failed feed, or a negative errno with the reason kept (the builder's:
 * a CNAME beside other data, no NS ...). Records an IXFR deletes are matched by owner,
 * type and RDATA, the names in RDATA without case (RFC 4034 6.2), not by TTL.
 */
int pd_xfr_in_finish(pd_xfr_in_t *x, pd_zone_t **out);

bool pd_xfr_in_was_ixfr(const pd_xfr_in_t *x);     /* the response was incremental */
int pd_xfr_in_rcode(const pd_xfr_in_t *x);         /* the response's rcode, once known */
size_t pd_xfr_in_records(const pd_xfr_in_t *x);    /* records received so far */
const char *pd_xfr_in_error(const pd_xfr_in_t *x); /* why it failed, or "" */

/** Frees x and all it received (not old, which stays the caller's). */
void pd_xfr_in_free(pd_xfr_in_t *x);
