/* Helpers the fuzz targets share: zones built without cmocka (a failure aborts), packets. */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/answer.h"
#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/zone.h"

/* A heap copy of exactly len bytes, so ASan sees any read past the packet. */
static inline uint8_t *fz_copy(const uint8_t *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	if (!c)
		abort();
	memcpy(c, p, len);
	return c;
}

static inline void fz_add(pd_zone_builder_t *b, const char *owner, uint16_t type, const void *rd,
                          size_t len)
{
	uint8_t o[PD_NAME_MAX];
	pd_name_from_str(o, owner);
	if (pd_zone_builder_add(b, o, type, 300, rd, (uint16_t)len, 0) < 0)
		abort();
}

/* A record whose RDATA is a name (NS, CNAME, DNAME), or preference 10 and a name (MX). */
static inline void fz_add_name(pd_zone_builder_t *b, const char *owner, uint16_t type,
                               const char *target)
{
	uint8_t rd[PD_NAME_MAX + 2] = {0, 10};
	size_t off = type == PD_TYPE_MX ? 2 : 0;
	int n = pd_name_from_str(rd + off, target);
	fz_add(b, owner, type, rd, off + (size_t)n);
}

/* What the targets answer with: an NSID and a keepalive, so the options the answer adds
 * are fuzzed too. */
static const pd_answer_conf_t fz_conf = {.udp_size = 1232,
                                         .identity = "fuzz",
                                         .version = "v",
                                         .nsid = (const uint8_t *)"fuzz-ns",
                                         .nsid_len = 7,
                                         .tcp_keepalive = 100};

/* A builder for example.com with its SOA (serial and timers all fill bytes, or with serial
 * when it is not negative) and NS ns.example.com. */
static inline pd_zone_builder_t *fz_example_com_at(uint8_t fill, int64_t serial)
{
	uint8_t o[PD_NAME_MAX], soa[64];
	pd_name_from_str(o, "example.com");
	pd_zone_builder_t *b = pd_zone_builder_new(o);
	if (!b)
		abort();
	int n = pd_name_from_str(soa, "ns.example.com");
	n += pd_name_from_str(soa + n, "h.example.com");
	memset(soa + n, fill, 20);
	for (int i = 0; serial >= 0 && i < 4; i++)
		soa[n + i] = (uint8_t)(serial >> (24 - 8 * i));
	fz_add(b, "example.com", PD_TYPE_SOA, soa, (size_t)n + 20);
	fz_add_name(b, "example.com", PD_TYPE_NS, "ns.example.com");
	return b;
}

/* fz_example_com_at() with the serial of the fill bytes too. */
static inline pd_zone_builder_t *fz_example_com(uint8_t fill)
{
	return fz_example_com_at(fill, -1);
}
