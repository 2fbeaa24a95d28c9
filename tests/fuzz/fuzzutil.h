/* Helpers the fuzz targets share: building a zone without cmocka (a failure aborts). */
#pragma once

#include <stdint.h>
#include <stdlib.h>

#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/zone.h"

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
