/* libFuzzer target: a primary's answer to xfrd's SOA query, read by pd__xfrd_soa_serial(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/name.h"

#include "xfrd_int.h"

/*
 * The first byte picks the zone asked about (the root, a name the answer may name, a
 * long one); the rest is the response as it came. A serial is found only in an SOA
 * record of that zone: checked by finding the zone's name in the input at all, since
 * compression may spell it with pointers, the check is that a found serial's four bytes
 * are in the input.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const zones[] = {".", "example.com", "a.b.c.d.e.f.g.h.example.org"};
	uint8_t origin[PD_NAME_MAX];
	uint32_t serial = 0;
	if (size < 1)
		return 0;
	pd_name_from_str(origin, zones[data[0] % 3]);
	uint8_t *msg = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees overreads */
	if (!msg)
		return 0;
	memcpy(msg, data + 1, size - 1);
	if (pd__xfrd_soa_serial(msg, size - 1, origin, &serial) == 0) {
		uint8_t be[4] = {serial >> 24, serial >> 16, serial >> 8, serial};
		int found = 0;
		for (size_t i = 0; i + 4 <= size - 1 && !found; i++)
			found = memcmp(msg + i, be, 4) == 0;
		if (!found)
			abort();
	}
	free(msg);
	return 0;
}
