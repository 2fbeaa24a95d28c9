/* Where the RDATA of a type holds domain names, and what the core does with them. */
#pragma once

#include <stdint.h>

#include "pindns/dns.h"

/* What the core does with a type's names (pd__rdata_names_t.flags). */
#define PD__RDATA_COMPRESS 0x01u   /* compressed in responses: RFC 1035 types only (RFC 3597 4) */
#define PD__RDATA_CHECKED 0x02u    /* read by the answer code, so checked when a zone is built */
#define PD__RDATA_ADDITIONAL 0x04u /* the name's addresses go in the additional section */

/*
 * The names of one type's RDATA: count uncompressed names one after the other, off
 * bytes in, then tail bytes of fixed fields and nothing more. count 0: no names known.
 */
typedef struct pd__rdata_names {
	uint8_t off;
	uint8_t count;
	uint8_t tail;
	uint8_t flags;
} pd__rdata_names_t;

/*
 * The one table of names in RDATA, for the zone checks, the response writer and the
 * additional section alike. Inline: the response writer asks for every record it writes.
 */
static inline pd__rdata_names_t pd__rdata_names(uint16_t type)
{
	enum {
		C = PD__RDATA_COMPRESS,
		K = PD__RDATA_CHECKED,
		A = PD__RDATA_ADDITIONAL,
	};
	switch (type) {
	case PD_TYPE_NS:
		return (pd__rdata_names_t){.off = 0, .count = 1, .flags = C | K | A};
	case PD_TYPE_CNAME:
	case PD_TYPE_PTR:
		return (pd__rdata_names_t){.off = 0, .count = 1, .flags = C | K};
	case PD_TYPE_MD:
	case PD_TYPE_MF:
	case PD_TYPE_MB:
	case PD_TYPE_MG:
	case PD_TYPE_MR:
		return (pd__rdata_names_t){.off = 0, .count = 1, .flags = C};
	case PD_TYPE_MX:
		return (pd__rdata_names_t){.off = 2, .count = 1, .flags = C | K | A};
	case PD_TYPE_SOA: /* MNAME, RNAME, then five 32-bit fields */
		return (pd__rdata_names_t){.off = 0, .count = 2, .tail = 20, .flags = C | K};
	case PD_TYPE_MINFO:
		return (pd__rdata_names_t){.off = 0, .count = 2, .flags = C};
	case PD_TYPE_SRV: /* priority, weight, port, target: not compressed (RFC 2782) */
		return (pd__rdata_names_t){.off = 6, .count = 1, .flags = K | A};
	case PD_TYPE_DNAME: /* not compressed either (RFC 6672 2.5) */
		return (pd__rdata_names_t){.off = 0, .count = 1, .flags = K};
	default:
		return (pd__rdata_names_t){0};
	}
}
