/* libFuzzer target: arbitrary records compiled into a zone, then queried for their owners. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/answer.h"
#include "pindns/dns.h"
#include "pindns/zoneset.h"

/*
 * Input: records of (name in wire form, u16 type, u8 rdlen, rdata) until it runs out.
 * Names are taken relative to example.com so most land inside the zone.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const pd_answer_conf_t conf = {.udp_size = 1232};
	uint8_t origin[PD_NAME_MAX], owners[16][PD_NAME_MAX];
	int nowners = 0;
	pd_wire_t w;
	pd_zone_t *z = NULL;
	pd_zoneset_t *zs = NULL;

	pd_name_from_str(origin, "example.com");
	pd_zone_builder_t *b = pd_zone_builder_new(origin);
	pd_wire_init(&w, data, size);
	while (pd_wire_left(&w) > 0) {
		uint8_t rel[PD_NAME_MAX], owner[PD_NAME_MAX], rd[256];
		size_t rlen = pd_name_parse(&w, rel);
		uint16_t type = pd_wire_u16(&w);
		uint8_t rdlen = pd_wire_u8(&w);
		pd_wire_read(&w, rd, rdlen);
		if (w.err)
			break;
		if (rlen - 1 + sizeof("\7example\3com") > PD_NAME_MAX)
			continue;
		memcpy(owner, rel, rlen - 1);
		memcpy(owner + rlen - 1, "\7example\3com", sizeof("\7example\3com"));
		if (pd_zone_builder_add(b, owner, type, 60, rd, rdlen, 1) < 0)
			continue;
		if (nowners < 16)
			memcpy(owners[nowners++], owner, pd_name_len(owner));
	}
	if (pd_zone_builder_finish(b, &z) == 0 && pd_zoneset_new(&zs, &z, 1) == 0) {
		static const uint16_t types[] = {PD_TYPE_A, PD_TYPE_ANY, PD_TYPE_DS, PD_TYPE_MX};
		for (int i = 0; i < nowners; i++) {
			uint8_t q[PD_NAME_MAX + 32] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
			uint8_t resp[PD_UDP_MAX];
			size_t n = pd_name_len(owners[i]);
			memcpy(q + 12, owners[i], n);
			pd_put_u16(q + 12 + n, types[i % 4]);
			pd_put_u16(q + 14 + n, PD_CLASS_IN);
			if (pd_answer(zs, &conf, q, 16 + n, resp, sizeof(resp), NULL) > 512)
				abort();
		}
		pd_zoneset_free(zs);
	} else {
		pd_zone_free(z);
	}
	pd_zone_builder_free(b);
	return 0;
}
