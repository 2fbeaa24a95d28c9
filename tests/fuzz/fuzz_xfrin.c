/*
 * libFuzzer target: transfers in. An input is either raw response messages (TCP framing:
 * a 2-byte length before each) fed to pd_xfr_in_feed(), or a real AXFR or IXFR stream made
 * by pd_xfr_out_next() of a known zone, cut into messages of a size the input picks and
 * changed at the bytes it says. Whatever comes in, the transfer ends in a state, and a
 * stream left untouched must give the zone it was made of.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pindns/query.h"
#include "pindns/xfr.h"

#include "fuzzutil.h"

#define FZ_ID 0x4242

static pd_zone_t *v1, *v2;
static pd_diff_t *diff;

/* example.com at serial with a few records; v 1 changes some and adds names. */
static pd_zone_t *fz_zone(uint32_t serial, int v)
{
	pd_zone_builder_t *b = fz_example_com_at(0, serial);
	fz_add_name(b, "example.com", PD_TYPE_MX, v ? "mail.example.com" : "mx.example.com");
	uint8_t a[4] = {192, 0, 2, 1};
	fz_add(b, "ns.example.com", PD_TYPE_A, a, 4);
	for (int i = 0; i < (v ? 40 : 10); i++) {
		char name[32] = "h00.example.com";
		name[1] = (char)('0' + i / 10);
		name[2] = (char)('0' + i % 10);
		a[3] = (uint8_t)(i + v);
		fz_add(b, name, PD_TYPE_A, a, 4);
	}
	fz_add_name(b, "sub.example.com", PD_TYPE_NS, "ns.sub.example.com");
	fz_add(b, "ns.sub.example.com", PD_TYPE_A, a, 4);
	pd_zone_t *z;
	if (pd_zone_builder_finish(b, &z) < 0)
		abort();
	pd_zone_builder_free(b);
	return z;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	v1 = fz_zone(1, 0);
	v2 = fz_zone(2, 1);
	if (pd_diff_new(v1, v2, &diff) < 0)
		abort();
	return 0;
}

/* Finishes a transfer that said it was complete, and looks at what it made. */
static void fz_finish(pd_xfr_in_t *in, int ret, bool intact)
{
	pd_zone_t *z = NULL;
	if (ret != 1) {
		if (intact)
			abort(); /* an untouched stream must complete */
		return;
	}
	int fin = pd_xfr_in_finish(in, &z);
	if (intact &&
	    (fin < 0 || !z || z->serial != v2->serial || z->record_count != v2->record_count))
		abort();
	if (z) {
		pd_diff_t *d;
		if (pd_diff_new(v1, z, &d) == 0)
			pd_diff_unref(d);
		pd_zone_free(z);
	}
}

/* Raw messages, each after its 2-byte length. */
static void fz_raw(const uint8_t *data, size_t size)
{
	pd_xfr_in_t *in = pd_xfr_in_new(v1->origin, (data[0] & 2) ? v1 : NULL, FZ_ID, 1 << 16);
	int ret = 0;
	size_t p = 1;
	while (ret == 0 && p + 2 <= size) {
		size_t len = pd_get_u16(data + p);
		p += 2;
		if (len > size - p)
			len = size - p;
		uint8_t *m = fz_copy(data + p, len);
		ret = pd_xfr_in_feed(in, m, len);
		free(m);
		p += len;
	}
	fz_finish(in, ret, false);
	pd_xfr_in_free(in);
}

/* The query asking for v2: AXFR, or IXFR from v1's serial. */
static pd_xfr_out_t *fz_out(bool ixfr, uint8_t *qbuf, pd_query_t *q)
{
	size_t n = pd_xfr_query(qbuf, 512, FZ_ID, v1->origin, ixfr ? PD_TYPE_IXFR : PD_TYPE_AXFR,
	                        v1->serial);
	pd_query_parse(q, qbuf, n);
	q->tcp = true;
	pd_xfr_out_t *x = NULL;
	int ret = ixfr ? pd_xfr_out_ixfr(&x, v2, &diff, 1, q) : pd_xfr_out_axfr(&x, v2, q);
	if (ret < 0)
		abort();
	return x;
}

/*
 * A real stream: data[1] picks AXFR or IXFR and the size of its messages, then each
 * 3 bytes (offset, xor) change one byte of the stream; without any the zone must come.
 */
static void fz_stream(const uint8_t *data, size_t size)
{
	static uint8_t msgs[64][PD_MSG_MAX];
	int lens[64], count = 0, n;
	uint8_t qbuf[512];
	pd_query_t q;
	bool ixfr = data[1] & 1;
	size_t cap = 60 + (size_t)(data[1] >> 1) * 8;
	pd_xfr_out_t *x = fz_out(ixfr, qbuf, &q);
	while (count < 64 && (n = pd_xfr_out_next(x, msgs[count], cap, 0)) > 0)
		lens[count++] = n;
	pd_xfr_out_free(x);
	bool intact = size < 5 && n == 0;
	for (size_t p = 2; p + 3 <= size; p += 3) {
		int k = data[p] % (count ? count : 1);
		if (count && lens[k])
			msgs[k][data[p + 1] % lens[k]] ^= data[p + 2];
	}
	pd_xfr_in_t *in = pd_xfr_in_new(v1->origin, v1, FZ_ID, 0);
	int ret = 0;
	for (int k = 0; k < count && ret == 0; k++) {
		uint8_t *m = fz_copy(msgs[k], (size_t)lens[k]);
		ret = pd_xfr_in_feed(in, m, (size_t)lens[k]);
		free(m);
	}
	fz_finish(in, ret, intact);
	if (intact && pd_xfr_in_was_ixfr(in) != ixfr)
		abort();
	pd_xfr_in_free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (data[0] & 1)
		fz_stream(data, size);
	else
		fz_raw(data, size);
	return 0;
}
