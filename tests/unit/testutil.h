/* Helpers for unit tests: building zones and reading responses without ldns. */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pindns/dns.h"
#include "pindns/name.h"
#include "pindns/zone.h"

/*
 * Under ASan a freed block stays poisoned while it waits in the quarantine, so a test can
 * tell the zones a release freed from the ones it kept (assert_freed(), assert_live()) (the leak
 * checker alone would miss a zone kept that should have gone, while a stale pointer to it sits on
 * the stack).
 */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#ifdef TU_ASAN
#include <sanitizer/asan_interface.h>
#define assert_freed(z) assert_true(__asan_address_is_poisoned(z))
#define assert_live(z) assert_false(__asan_address_is_poisoned(z))
#else
#define assert_freed(z) ((void)(z))
#define assert_live(z) ((void)(z))
#endif

/* A wire name from text; aborts the test on a bad name. */
static inline size_t tu_name(uint8_t *out, const char *text)
{
	int n = pd_name_from_str(out, text);
	assert_true(n > 0);
	return (size_t)n;
}

static inline void tu_add(pd_zone_builder_t *b, const char *owner, uint16_t type, uint32_t ttl,
                          const void *rdata, size_t rdlen)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, owner);
	assert_int_equal(pd_zone_builder_add(b, o, type, ttl, rdata, (uint16_t)rdlen, 0), 0);
}

static inline void tu_add_a(pd_zone_builder_t *b, const char *owner, uint8_t a, uint8_t b2,
                            uint8_t c, uint8_t d)
{
	uint8_t rd[4] = {a, b2, c, d};
	tu_add(b, owner, PD_TYPE_A, 3600, rd, 4);
}

/* NS, CNAME, DNAME, PTR: RDATA is one name. */
static inline void tu_add_name(pd_zone_builder_t *b, const char *owner, uint16_t type,
                               const char *target)
{
	uint8_t rd[PD_NAME_MAX];
	tu_add(b, owner, type, 3600, rd, tu_name(rd, target));
}

static inline void tu_add_mx(pd_zone_builder_t *b, const char *owner, uint16_t pref,
                             const char *target)
{
	uint8_t rd[PD_NAME_MAX + 2];
	pd_put_u16(rd, pref);
	tu_add(b, owner, PD_TYPE_MX, 3600, rd, 2 + tu_name(rd + 2, target));
}

static inline void tu_add_txt(pd_zone_builder_t *b, const char *owner, const char *text)
{
	uint8_t rd[256];
	size_t n = strlen(text);
	rd[0] = (uint8_t)n;
	memcpy(rd + 1, text, n);
	tu_add(b, owner, PD_TYPE_TXT, 3600, rd, n + 1);
}

/* count TXT strings of 200 bytes, the i-th all of letter first + i: 4 make about 0.9 KB
 * (more than 512, less than 1232), 8 about 1.6 KB (more than 1232). */
static inline void tu_add_txts(pd_zone_builder_t *b, const char *owner, int count, char first)
{
	char t[201];
	for (int i = 0; i < count; i++) {
		memset(t, first + i, 200);
		t[200] = '\0';
		tu_add_txt(b, owner, t);
	}
}

static inline void tu_add_soa(pd_zone_builder_t *b, const char *owner, uint32_t ttl,
                              uint32_t serial, uint32_t minimum)
{
	uint8_t rd[2 * PD_NAME_MAX + 20];
	size_t n = tu_name(rd, "ns1.example.com");
	n += tu_name(rd + n, "hostmaster.example.com");
	uint32_t v[5] = {serial, 7200, 3600, 1209600, minimum};
	for (int i = 0; i < 5; i++) {
		rd[n++] = (uint8_t)(v[i] >> 24);
		rd[n++] = (uint8_t)(v[i] >> 16);
		rd[n++] = (uint8_t)(v[i] >> 8);
		rd[n++] = (uint8_t)v[i];
	}
	tu_add(b, owner, PD_TYPE_SOA, ttl, rd, n);
}

/* A query in wire form. edns_size 0: no OPT record. */
static inline size_t tu_query(uint8_t *out, const char *name, uint16_t qtype, uint16_t qclass,
                              uint16_t edns_size, uint16_t edns_flags_ttl_low)
{
	uint8_t qname[PD_NAME_MAX];
	size_t n = 0;
	/* Names are written as given, so tests can check that letter case is kept. */
	int len = pd_name_from_str(qname, name);
	assert_true(len > 0);
	memset(out, 0, 12);
	out[0] = 0xAB;
	out[1] = 0xCD;
	out[2] = 0x01; /* RD */
	out[5] = 1;
	out[11] = edns_size ? 1 : 0;
	n = 12;
	memcpy(out + n, qname, (size_t)len);
	n += (size_t)len;
	pd_put_u16(out + n, qtype);
	pd_put_u16(out + n + 2, qclass);
	n += 4;
	if (edns_size) {
		out[n++] = 0;
		pd_put_u16(out + n, PD_TYPE_OPT);
		pd_put_u16(out + n + 2, edns_size);
		out[n + 4] = 0;
		out[n + 5] = 0;
		pd_put_u16(out + n + 6, edns_flags_ttl_low);
		pd_put_u16(out + n + 8, 0);
		n += 10;
	}
	return n;
}

/* One record of a parsed response. */
typedef struct tu_rr {
	int section;
	char owner[PD_NAME_TXT_MAX]; /* as written, letter case kept */
	uint16_t type, cls;
	uint32_t ttl;
	uint16_t rdlen;
	const uint8_t *rdata;
	char rname[PD_NAME_TXT_MAX]; /* first name in RDATA for name-bearing types */
} tu_rr_t;

typedef struct tu_resp {
	uint16_t id, flags, qd, an, ns, ar;
	int rcode; /* with the extended bits from OPT */
	int has_opt;
	uint16_t opt_size;
	uint32_t opt_ttl;
	uint16_t opt_rdlen;
	const uint8_t *opt_rdata;
	int nrr;
	tu_rr_t rr[64];
	char qname[PD_NAME_TXT_MAX];
} tu_resp_t;

/* Parses a response fully; fails the test on any malformation. */
static inline void tu_parse(tu_resp_t *r, const uint8_t *buf, size_t len)
{
	pd_wire_t w;
	uint8_t name[PD_NAME_MAX];
	memset(r, 0, sizeof(*r));
	pd_wire_init(&w, buf, len);
	r->id = pd_wire_u16(&w);
	r->flags = pd_wire_u16(&w);
	r->qd = pd_wire_u16(&w);
	r->an = pd_wire_u16(&w);
	r->ns = pd_wire_u16(&w);
	r->ar = pd_wire_u16(&w);
	r->rcode = r->flags & 0xF;
	for (int i = 0; i < r->qd; i++) {
		assert_true(pd_name_parse(&w, name) > 0);
		pd_name_to_str(r->qname, sizeof(r->qname), name);
		pd_wire_skip(&w, 4);
	}
	int total = r->an + r->ns + r->ar;
	for (int i = 0; i < total; i++) {
		tu_rr_t *rr = &r->rr[r->nrr];
		assert_true(pd_name_parse(&w, name) > 0);
		uint16_t type = pd_wire_u16(&w);
		uint16_t cls = pd_wire_u16(&w);
		uint32_t ttl = pd_wire_u32(&w);
		uint16_t rdlen = pd_wire_u16(&w);
		const uint8_t *rd = w.pos;
		size_t rd_off = pd_wire_offset(&w);
		pd_wire_skip(&w, rdlen);
		assert_int_equal(w.err, 0);
		if (type == PD_TYPE_OPT) {
			r->has_opt++;
			r->opt_size = cls;
			r->opt_ttl = ttl;
			r->opt_rdlen = rdlen;
			r->opt_rdata = rd;
			r->rcode |= (int)(ttl >> 24) << 4;
			continue;
		}
		assert_true(r->nrr < 64);
		rr->section = i < r->an ? 0 : i < r->an + r->ns ? 1 : 2;
		pd_name_to_str(rr->owner, sizeof(rr->owner), name);
		rr->type = type;
		rr->cls = cls;
		rr->ttl = ttl;
		rr->rdlen = rdlen;
		rr->rdata = rd;
		size_t skip = type == PD_TYPE_MX ? 2 : type == PD_TYPE_SRV ? 6 : 0;
		if (type == PD_TYPE_NS || type == PD_TYPE_CNAME || type == PD_TYPE_DNAME ||
		    type == PD_TYPE_MX || type == PD_TYPE_SRV || type == PD_TYPE_SOA ||
		    type == PD_TYPE_PTR) {
			pd_wire_t rw = w;
			rw.pos = buf + rd_off + skip;
			assert_true(pd_name_parse(&rw, name) > 0);
			pd_name_to_str(rr->rname, sizeof(rr->rname), name);
		}
		r->nrr++;
	}
	assert_int_equal(w.err, 0);
	assert_int_equal(pd_wire_left(&w), 0);
}

/* Finds the n-th record of a type in a section; NULL when there is none. */
static inline const tu_rr_t *tu_find(const tu_resp_t *r, int section, uint16_t type, int n)
{
	for (int i = 0; i < r->nrr; i++)
		if (r->rr[i].section == section && r->rr[i].type == type && n-- == 0)
			return &r->rr[i];
	return NULL;
}

/* A scratch folder for a test program's files: made by tu_dir_setup(), removed with all
 * it holds by tu_dir_teardown() (cmocka group fixtures); tu_put() writes a file in it. */
static inline char *tu_dir(void)
{
	static char dir[64];
	return dir;
}

static inline int tu_dir_setup(void **state)
{
	(void)state;
	strcpy(tu_dir(), "/tmp/pindns-unit-XXXXXX");
	return mkdtemp(tu_dir()) ? 0 : -1;
}

static inline int tu_dir_teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tu_dir());
	return system(cmd);
}

/* Writes text to the file name in tu_dir(); returns its path (until the next call). */
static inline const char *tu_put(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tu_dir(), name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}
