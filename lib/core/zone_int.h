/* What zone.c (the compiler) and zone_dnssec.c (its DNSSEC part) share. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pindns/zone.h"

typedef struct pd__rec {
	uint32_t owner_hash; /* sorts owners together with integer compares */
	uint32_t owner_off;  /* into builder names, lower-cased */
	uint8_t owner_len;
	uint16_t type;
	uint16_t rdlen;
	uint16_t key; /* the type, or the type an RRSIG covers: the order of an owner's records */
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
	bool check_sigs; /* pd_zone_builder_check_sigs() was called */
	int64_t sig_now;
	uint32_t sig_warn_secs;
	unsigned warn_count;
	int warn_loc[PD_ZONE_WARN_MAX];
	char warn[PD_ZONE_WARN_MAX][256];
};

/* A zone being compiled: what its arrays have room for, and where its RRsets came from. */
typedef struct pd__compile {
	pd_zone_builder_t *b;
	pd_zone_t *z;
	int *first_line; /* per RRset: the location of its first record, for errors */
	size_t nodes_cap, rrsets_cap, names_cap, data_cap; /* elements allocated */
	size_t table_bytes;                                /* as presized; it may grow */
	uint32_t table_used;
	size_t (*nsec3_runs)[2]; /* records [first, end) of each NSEC3 owner, while grouping */
	size_t nsec3_runs_len, nsec3_runs_cap, nsec3_cap;
	uint32_t nsec3_other; /* NSEC3 records of another chain than the NSEC3PARAM's: left out */
	bool have_sig;        /* an RRSIG was kept, so z->sig_expire_first is set */
} pd__compile_t;

/* zone.c */

/* Grows *buf, an array of *cap elements of elem bytes, to hold need; 0 or -ENOMEM. */
int pd__grow(void **buf, size_t *cap, size_t need, size_t elem);

/* Sets the builder's error, at location loc; returns -EINVAL. */
int pd__builder_fail(pd_zone_builder_t *b, int loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Counts a warning; only the first PD_ZONE_WARN_MAX are worth formatting. */
void pd__warn(pd_zone_builder_t *b, int loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The mnemonic of a type, or "TYPE<n>" written to buf (cap bytes) for one not known. */
const char *pd__type_str(uint16_t type, char *buf, size_t cap);

/*
 * Groups records [i, end) of one owner, sorted by pd__rec_type_cmp(), into RRsets for
 * node n (NULL: none, or an NSEC3 link). The records an RRSIG covers sort right before
 * it, so it is kept only when the RRset just made is of the type it covers: that is the
 * RRset pd_zone_rrsig() will find it after. RRSIGs do not cover RRSIGs (RFC 4035 2.2).
 */
int pd__group_owner(pd__compile_t *cc, pd_node_t *n, size_t i, size_t end);

/* zone_dnssec.c */

/* Sets aside the records [i, end) of an NSEC3 owner for pd__group_nsec3(). */
int pd__nsec3_run(pd__compile_t *cc, size_t i, size_t end);

/*
 * The NSEC3 chain, its RRsets after every node's (made in file order, where the records
 * are), then put in hash order. Unless the records are sorted, returns -EAGAIN when an
 * owner comes twice.
 */
int pd__group_nsec3(pd__compile_t *cc, bool sorted);

/*
 * How the zone proves denial: NSEC3 when the apex has an NSEC3PARAM, NSEC when it has an
 * NSEC, none otherwise; then that the chain holds, as a resolver would find it broken.
 */
int pd__dnssec(pd__compile_t *cc);
