/*
 * Building the odd parts of queries in wire form (EDNS options, TSIG records, other
 * opcodes) and answering them over either transport, for the unit and fuzz tests. No
 * cmocka here: the fuzz targets use it too.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pindns/answer.h"
#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/query.h"
#include "pindns/wire.h"

#define MU_TCP_CAP PD_MSG_MAX /* a TCP reply buffer, as the engine gives one */

/* Where the RDLENGTH of the OPT record of a query tu_query() wrote is: right after the
 * question, the OPT's 9 bytes in. */
static inline uint8_t *mu_opt_rdlen(uint8_t *q)
{
	return q + PD_HEADER_LEN + pd_name_len(q + PD_HEADER_LEN) + 4 + 9;
}

/* Appends n raw bytes to the RDATA of the OPT record ending q (*len bytes, as tu_query()
 * writes it with EDNS), raising its RDLENGTH: malformed options. Returns the length. */
static inline size_t mu_add_opt_bytes(uint8_t *q, size_t *len, const void *bytes, uint16_t n)
{
	uint8_t *rdlen = mu_opt_rdlen(q);
	memcpy(q + *len, bytes, n);
	*len += n;
	pd_put_u16(rdlen, (uint16_t)(pd_get_u16(rdlen) + n));
	return *len;
}

/* Appends an option of dlen bytes at data to the OPT record ending q, as above. */
static inline size_t mu_add_option(uint8_t *q, size_t *len, uint16_t code, const void *data,
                                   uint16_t dlen)
{
	uint8_t opt[4 + 512];
	pd_put_u16(opt, code);
	pd_put_u16(opt + 2, dlen);
	if (dlen)
		memcpy(opt + 4, data, dlen);
	return mu_add_opt_bytes(q, len, opt, (uint16_t)(4u + dlen));
}

/* What a TSIG record of a query holds (RFC 8945 4.2). */
typedef struct mu_tsig {
	const char *key;      /* NULL: a compression pointer to the question's name */
	const char *alg;      /* the algorithm name */
	uint64_t time_signed; /* 48 bits */
	uint16_t fudge;
	uint16_t mac_len; /* MAC bytes (0x5A each) */
	uint16_t orig_id;
	uint16_t error;
	uint16_t other_len; /* Other Data bytes (0x01 each) */
	uint16_t cls;       /* 0: ANY, as it must be */
	uint32_t ttl;
} mu_tsig_t;

/* Appends a TSIG record to the query q of *len bytes, raising ARCOUNT; returns the length. */
static inline size_t mu_add_tsig(uint8_t *q, size_t *len, const mu_tsig_t *t)
{
	uint8_t *p = q + *len;
	if (t->key) {
		p += pd_name_from_str(p, t->key);
	} else {
		pd_put_u16(p, 0xC000 | PD_HEADER_LEN);
		p += 2;
	}
	pd_put_u16(p, PD_TYPE_TSIG);
	pd_put_u16(p + 2, t->cls ? t->cls : PD_CLASS_ANY);
	pd_put_u16(p + 4, (uint16_t)(t->ttl >> 16));
	pd_put_u16(p + 6, (uint16_t)t->ttl);
	uint8_t *rdlen = p + 8;
	p += 10;
	uint8_t *rd = p;
	p += pd_name_from_str(p, t->alg);
	pd_put_u16(p, (uint16_t)(t->time_signed >> 32));
	pd_put_u16(p + 2, (uint16_t)(t->time_signed >> 16));
	pd_put_u16(p + 4, (uint16_t)t->time_signed);
	pd_put_u16(p + 6, t->fudge);
	pd_put_u16(p + 8, t->mac_len);
	p += 10;
	memset(p, 0x5A, t->mac_len);
	p += t->mac_len;
	pd_put_u16(p, t->orig_id);
	pd_put_u16(p + 2, t->error);
	pd_put_u16(p + 4, t->other_len);
	p += 6;
	memset(p, 1, t->other_len);
	p += t->other_len;
	pd_put_u16(rdlen, (uint16_t)(p - rd));
	pd_put_u16(q + 10, (uint16_t)(pd_get_u16(q + 10) + 1));
	*len = (size_t)(p - q);
	return *len;
}

/* Sets the opcode of the query q. */
static inline void mu_set_opcode(uint8_t *q, unsigned opcode)
{
	q[2] = (uint8_t)((q[2] & ~(PD_OPCODE_MASK >> 8)) | (opcode << 3));
}

/*
 * Answers the query of len bytes at q as it came over TCP (tcp) or UDP, into resp of
 * cap bytes: what the engine's paths do (pd_query_parse_dgram()).
 */
static inline size_t mu_answer(const pd_zoneset_t *zs, const pd_answer_conf_t *conf,
                               const uint8_t *q, size_t len, bool tcp, uint8_t *resp, size_t cap,
                               pd_answer_info_t *info)
{
	pd_query_t pq;
	pd_query_parse(&pq, q, len);
	pq.tcp = tcp;
	return pd_answer_query(zs, conf, &pq, resp, cap, info);
}

/*
 * Finds the option code in the OPT RDATA of rdlen bytes at rd; returns its data and sets
 * *len, or NULL when it is not there.
 */
static inline const uint8_t *mu_find_option(const uint8_t *rd, uint16_t rdlen, uint16_t code,
                                            uint16_t *len)
{
	for (size_t p = 0; p + 4 <= rdlen; p += 4u + pd_get_u16(rd + p + 2))
		if (pd_get_u16(rd + p) == code) {
			*len = pd_get_u16(rd + p + 2);
			return rd + p + 4;
		}
	return NULL;
}
