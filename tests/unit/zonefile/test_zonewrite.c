/* Unit tests for writing compiled zones back out as zone files (lib/zonefile/zonewrite.c). */
#include "testutil.h"

#include <glob.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pindns/loader.h"
#include "pindns/zonewrite.h"

static pd_zone_t *load(const char *path, const char *origin)
{
	uint8_t o[PD_NAME_MAX];
	char err[1024];
	pd_zone_t *z = NULL;
	tu_name(o, origin);
	int ret = pd_zone_load(path, o, &z, err, sizeof(err));
	if (ret < 0)
		fail_msg("%s", err);
	return z;
}

/* Every record of a zone as one line of text: owner, type, TTL, RDATA in hex. */
typedef struct lines {
	char **v;
	size_t n, cap;
} lines_t;

static void lines_add(lines_t *l, const uint8_t *owner, const pd_rrset_t *rs, const uint8_t *rd,
                      uint16_t rdlen)
{
	char name[PD_NAME_TXT_MAX];
	pd_name_to_str(name, sizeof(name), owner);
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		assert_non_null(l->v);
	}
	char *s = malloc(strlen(name) + 40 + 2 * (size_t)rdlen);
	assert_non_null(s);
	int n = sprintf(s, "%s %u %u ", name, rs->type, rs->ttl);
	for (unsigned i = 0; i < rdlen; i++)
		n += sprintf(s + n, "%02x", rd[i]);
	l->v[l->n++] = s;
}

static void lines_rrsets(lines_t *l, const pd_zone_t *z, const uint8_t *owner, uint32_t first,
                         uint32_t count)
{
	for (uint32_t i = first; i < first + count; i++) {
		const pd_rrset_t *rs = &z->rrsets[i];
		const uint8_t *p = pd_zone_rrset_data(z, rs);
		for (unsigned k = 0; k < rs->count; k++) {
			uint16_t len = (uint16_t)(p[0] << 8 | p[1]);
			lines_add(l, owner, rs, p + 2, len);
			p += 2 + len;
		}
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The zone's records, sorted; walked from the zone's own arrays, not by the writer's code. */
static lines_t records_of(const pd_zone_t *z)
{
	lines_t l = {0};
	for (uint32_t i = 0; i < z->node_count; i++)
		lines_rrsets(&l, z, pd_zone_node_name(z, &z->nodes[i]), z->nodes[i].rrset_first,
		             z->nodes[i].rrset_count);
	for (uint32_t i = 0; i < z->nsec3_count; i++) {
		const pd_nsec3_t *c = &z->nsec3[i];
		lines_rrsets(&l, z, z->names + c->name_off, c->rrset,
		             pd_zone_rrsig(z, pd_zone_nsec3_rrset(z, c)) ? 2 : 1);
	}
	qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	return l;
}

static void lines_free(lines_t *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Loads text, writes the zone out, loads what was written: the same records. */
static void round_trip(const char *origin, const char *text, size_t expect_records)
{
	char src[300], out[300], err[1024];
	snprintf(src, sizeof(src), "%s", tu_put("src.zone", text));
	snprintf(out, sizeof(out), "%s/%s.zone", tu_dir(), origin);
	pd_zone_t *a = load(src, origin);
	assert_non_null(a);
	if (expect_records)
		assert_int_equal(a->record_count, expect_records);
	int ret = pd_zone_write(a, out, err, sizeof(err));
	if (ret < 0)
		fail_msg("%s", err);
	pd_zone_t *b = load(out, origin);
	assert_non_null(b);
	lines_t la = records_of(a), lb = records_of(b);
	assert_int_equal(la.n, a->record_count);
	for (size_t i = 0; i < la.n && i < lb.n; i++)
		assert_string_equal(la.v[i], lb.v[i]);
	assert_int_equal(la.n, lb.n);
	assert_int_equal(a->serial, b->serial);
	assert_int_equal(a->dnssec, b->dnssec);
	assert_int_equal(a->nsec3_count, b->nsec3_count);
	lines_free(&la);
	lines_free(&lb);
	pd_zone_free(a);
	pd_zone_free(b);
}

/* The types of zones/ and tests/integration/data, and more, with awkward text. */
static void writes_every_type(void **state)
{
	round_trip(
	    "example.com",
	    "$ORIGIN example.com.\n"
	    "$TTL 3600\n"
	    "@ IN SOA ns1 hostmaster ( 2026112301 7200 3600 1209600 300 )\n"
	    "  NS ns1\n"
	    "  NS ns2.example.net.\n"
	    "  MX 10 mail\n"
	    "  TXT \"v=spf1 mx -all\"\n"
	    "  TXT \"two\" \"strings; with a semicolon\" \"\" \"quote \\\" and \\\\ \\200\\255\"\n"
	    "  A 192.0.2.1\n"
	    "  AAAA 2001:db8::1\n"
	    "  CAA 0 issue \"letsencrypt.org\"\n"
	    "  HINFO \"PC\" \"Linux\"\n"
	    "  NAPTR 100 10 \"U\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" .\n"
	    "  SSHFP 4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	    "  LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m\n"
	    "  CDS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
	    "  URI 10 1 \"https://www.example.com/\"\n"
	    "  RP hostmaster.example.com. txt\n"
	    "ns1 A 192.0.2.53\n"
	    "_443._tcp.www TLSA 3 1 1 "
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	    "www 300 A 192.0.2.80\n"
	    "    AAAA 2001:db8::80\n"
	    "ftp CNAME www\n"
	    "*.apps A 192.0.2.100\n"
	    "a.b.ent A 192.0.2.7\n"
	    "_sip._udp SRV 10 60 5060 sip\n"
	    "sip A 192.0.2.60\n"
	    "sub NS ns1.sub\n"
	    "    NS ns.example.net.\n"
	    "ns1.sub A 192.0.2.153\n"
	    "secure NS ns1.secure\n"
	    "  DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n"
	    "ns1.secure A 192.0.2.154\n"
	    "old DNAME example.org.\n"
	    "1.2 PTR www\n"
	    "generic TYPE65280 \\# 4 0A000001\n"
	    "empty TYPE65281 \\# 0\n"
	    "www RRSIG A 13 3 300 4026531840 1610612736 1234 example.com. AQIDBA==\n"
	    "spaced\\032name\\.dot A 192.0.2.9\n"
	    "svc SVCB 1 . alpn=h2,h3 port=8443\n"
	    "svc HTTPS 1 . alpn=h2\n",
	    0);
}

static void writes_nsec_signed(void **state)
{
	round_trip(
	    "sig.test",
	    "sig.test. 300 IN SOA ns1.sig.test. hostmaster.sig.test. 7 3600 600 86400 60\n"
	    "sig.test. 300 IN RRSIG SOA 13 2 300 20370101000000 20260101000000 42238 sig.test. "
	    "/FvxG6CFCIz8qZPcbpTqz5djMvIGgK0zPCSig4Z2S8QXIcF0nT4rYkqrJS2mzBMWRV7jwg87hznZge2JjlJaJA"
	    "==\n"
	    "sig.test. 300 IN NS ns1.sig.test.\n"
	    "sig.test. 300 IN RRSIG NS 13 2 300 20370101000000 20260101000000 42238 sig.test. "
	    "Yfsq0TviiiMwB3FPGpAGzgxYQGQqxkzGz//K4suO45ef/"
	    "8iPJfJVB+BF4WkDkUcyDWSRfeRdsWYUUkWdKbCcWw==\n"
	    "sig.test. 300 IN DNSKEY 256 3 13 "
	    "6/0PMm0cyifaeB7OwHPPC48dj44H/ZahKwPJ+EKsPNQFCepQEgHDkQ0t/MkpFnQd17n/MOCKSsXPS/"
	    "+oaAkOnw==\n"
	    "sig.test. 300 IN RRSIG DNSKEY 13 2 300 20370101000000 20260101000000 42238 sig.test. "
	    "l6e/8LBK9jYhEWxi6Z0yycTFZBN57s/619X45/"
	    "KRSA3RmxT+2u8Fx6ebKGn1HANtP6xumCQDG7UklKvhsUag8Q==\n"
	    "sig.test. 60 IN NSEC ns1.sig.test. NS SOA RRSIG NSEC DNSKEY \n"
	    "sig.test. 60 IN RRSIG NSEC 13 2 60 20370101000000 20260101000000 42238 sig.test. "
	    "FQB15i1VmewCm9WYDWcpsneGdTH/aMaHC6CUl79FE6dZe1cLlmbpW5Z39qZN/"
	    "mRiUvpZnSOAFDNZAH39gzxdlg==\n"
	    "ns1.sig.test. 300 IN A 192.0.2.1\n"
	    "ns1.sig.test. 300 IN RRSIG A 13 3 300 20370101000000 20260101000000 42238 sig.test. "
	    "scmeULHC2TmVxAh6Yr72CyFV+454Y7YsJhfVky5NvKSvUmDP1ag/WHFY7zo4/"
	    "5d6DxWGGk9fpn+s2xsBxToSAA==\n"
	    "ns1.sig.test. 60 IN NSEC sub.sig.test. A RRSIG NSEC \n"
	    "ns1.sig.test. 60 IN RRSIG NSEC 13 3 60 20370101000000 20260101000000 42238 sig.test. "
	    "jTr1GvrQJZ1BfGpCpf+uoS7ZamNh/LWghw6mOwL0ClLd0r/"
	    "DNHXAEx4DbBPvy3szYSJ5pxzx8pnjHMn2yJrjNQ==\n"
	    "sub.sig.test. 300 IN NS ns.elsewhere.example.\n"
	    "sub.sig.test. 300 IN DS 12345 13 2 "
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	    "sub.sig.test. 300 IN RRSIG DS 13 3 300 20370101000000 20260101000000 42238 sig.test. "
	    "dKllpjc8uu5znNt4T8H+zG1rXdakhNyfnP3I7s44lkzHsV4vZDpi5uaSagK9oFBIWqf5Zv/mh96uOtK/"
	    "jchK2w==\n"
	    "sub.sig.test. 60 IN NSEC www.sig.test. NS DS RRSIG NSEC \n"
	    "sub.sig.test. 60 IN RRSIG NSEC 13 3 60 20370101000000 20260101000000 42238 sig.test. "
	    "oSxc3e7Npw5fWr6KXS+"
	    "6qp1peBlZSLEQzV05BgA0wBNQWJ5hRUXI2SzoiOVgew6YT36bhMF7AAgJUxl8gCIs7Q==\n"
	    "www.sig.test. 300 IN A 192.0.2.2\n"
	    "www.sig.test. 300 IN RRSIG A 13 3 300 20370101000000 20260101000000 42238 sig.test. "
	    "a93YV0+eY/IBZxXDKuaGBR/L91LjXTJqmBd0kp5PA9wLu49uiyhVXMzPiwrUb/"
	    "pxRIqLWMsIUyB4f43S4dfHTA==\n"
	    "www.sig.test. 300 IN AAAA 2001:db8::2\n"
	    "www.sig.test. 300 IN RRSIG AAAA 13 3 300 20370101000000 20260101000000 42238 "
	    "sig.test. "
	    "lunoGVtK3OsbFpJ/"
	    "fOBAu5NYSTLf+l2OaJcS6sC8mp1DK2sAFf+IpTBUF8ZrgC0m+aWSl4xX48BZAYDQAQfKMw==\n"
	    "www.sig.test. 60 IN NSEC sig.test. A AAAA RRSIG NSEC \n"
	    "www.sig.test. 60 IN RRSIG NSEC 13 3 60 20370101000000 20260101000000 42238 sig.test. "
	    "PRJZ6q1qy91VjFAZa7YdmSYelKsIGt+zfUrP1rOspGxr8jaKzbw3PtFnrTy6d/"
	    "rv+q967Vomq15NY1JaUyz0BQ==\n",
	    0);
}

static void writes_nsec3_signed(void **state)
{
	round_trip(
	    "sig.test",
	    "sig.test. 300 IN SOA ns1.sig.test. hostmaster.sig.test. 7 3600 600 86400 60\n"
	    "sig.test. 300 IN RRSIG SOA 13 2 300 20370101000000 20260101000000 42238 sig.test. "
	    "zR69HdrS1V2JHpjQsMaKLOGDzMqkagSBVxVtw0gYAJMrrTNagZ2B1cqJPSnoZ7Six0DdjQMN3JncfsltFwA0gQ"
	    "==\n"
	    "sig.test. 300 IN NS ns1.sig.test.\n"
	    "sig.test. 300 IN RRSIG NS 13 2 300 20370101000000 20260101000000 42238 sig.test. "
	    "/dplldqVW29hE0DdqHXVtFTA80zSShx+dYJQOank0zdm9+"
	    "T5imCYerJqiwdAYpkXrbmVpb9G0OTo1k8V2oIVvw==\n"
	    "sig.test. 300 IN DNSKEY 256 3 13 "
	    "6/0PMm0cyifaeB7OwHPPC48dj44H/ZahKwPJ+EKsPNQFCepQEgHDkQ0t/MkpFnQd17n/MOCKSsXPS/"
	    "+oaAkOnw==\n"
	    "sig.test. 300 IN RRSIG DNSKEY 13 2 300 20370101000000 20260101000000 42238 sig.test. "
	    "HV02H/wmsgNCruUYmt0XM2sWEPXVAu8QiIcVKDELWHjFL9uBK447iR/"
	    "AbjpDpP4Ex84yCH7C+1V1nX7YCIpEMg==\n"
	    "sig.test. 3600 IN NSEC3PARAM 1 0 0 abcd \n"
	    "sig.test. 3600 IN RRSIG NSEC3PARAM 13 2 3600 20370101000000 20260101000000 42238 "
	    "sig.test. "
	    "psBf2Cpm2CV4s/"
	    "a8GdVT62BTxe9z6dBkRF9tiG88ml3JCsOXPuY511xonhSatm41IO+BxyW9xxFpBY+DE8q+eA==\n"
	    "bovsjs27maiuin7uc4lp003anfh4buq0.sig.test. 60 IN NSEC3 1 0 0 abcd  "
	    "jdp54o0me8rptjj81jpcm6cj5jdknn3o NS SOA RRSIG DNSKEY NSEC3PARAM \n"
	    "bovsjs27maiuin7uc4lp003anfh4buq0.sig.test. 60 IN RRSIG NSEC3 13 3 60 20370101000000 "
	    "20260101000000 42238 sig.test. "
	    "WEtwt2LfiYVdRwR1hWrFUP/k1LLJp4I3suhYb7OR2/cCaPd/7f7BVgF+Tf8y2zO5b5/"
	    "cOAAjwS0t0uomeqDs6g==\n"
	    "ns1.sig.test. 300 IN A 192.0.2.1\n"
	    "ns1.sig.test. 300 IN RRSIG A 13 3 300 20370101000000 20260101000000 42238 sig.test. "
	    "P7bMwWhPKAQH1wiCApRWQppDuFguH9zs8sUF5hHRnthYxXy4ixvBo6PUDe48g6BTP+2zoab10E+"
	    "MkKEdxEWMag==\n"
	    "pkt76q9rih353u9rad6vpi5utu3k7qe2.sig.test. 60 IN NSEC3 1 0 0 abcd  "
	    "7sfgns9evamb4jdiiejhmbpnfdol0bnp A RRSIG \n"
	    "pkt76q9rih353u9rad6vpi5utu3k7qe2.sig.test. 60 IN RRSIG NSEC3 13 3 60 20370101000000 "
	    "20260101000000 42238 sig.test. "
	    "toTbSrijg9YXAqctdIiX2lGRYDZEV1fSgeVXRKfMKRbhFe1N5v9xgJ2yfI1AFvu8TUqwN5/sENcjV/"
	    "YhkrKJCw==\n"
	    "sub.sig.test. 300 IN NS ns.elsewhere.example.\n"
	    "sub.sig.test. 300 IN DS 12345 13 2 "
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
	    "sub.sig.test. 300 IN RRSIG DS 13 3 300 20370101000000 20260101000000 42238 sig.test. "
	    "PcRbgIduwEfSeeRvUMHPea/"
	    "OHftoKxkm+TF9u+s2M+af5mtOH52XM6kjYoKcW+jofLs9cSZrYs22OeLo9nYY0A==\n"
	    "7sfgns9evamb4jdiiejhmbpnfdol0bnp.sig.test. 60 IN NSEC3 1 0 0 abcd  "
	    "bovsjs27maiuin7uc4lp003anfh4buq0 NS DS RRSIG \n"
	    "7sfgns9evamb4jdiiejhmbpnfdol0bnp.sig.test. 60 IN RRSIG NSEC3 13 3 60 20370101000000 "
	    "20260101000000 42238 sig.test. "
	    "iDM/"
	    "BC5DemXPHTMm6lHb97c3nZlTctPZiwlJL8dMvtyYGCmol9rSxzheqKaQg2tZzRIZqe44uhD3M2TfUOm4Cw==\n"
	    "www.sig.test. 300 IN A 192.0.2.2\n"
	    "www.sig.test. 300 IN RRSIG A 13 3 300 20370101000000 20260101000000 42238 sig.test. "
	    "hhe1WEYE8hTsQ0fpXol6r9UeQKwsrD2WGcrIkJfw9DdNN3aLCz4aXDybRPdGWTWUMgNW1oAEn9WzaEu1JZsMeA"
	    "==\n"
	    "www.sig.test. 300 IN AAAA 2001:db8::2\n"
	    "www.sig.test. 300 IN RRSIG AAAA 13 3 300 20370101000000 20260101000000 42238 "
	    "sig.test. "
	    "O40t8qNIb+6Yxt3g/frVaOl5XH7/iRwNWR6wvbcG8xzQmdfr2zZCyODPcP/"
	    "SCakH8XlgEkA6XQu6b5iNGqLhzg==\n"
	    "jdp54o0me8rptjj81jpcm6cj5jdknn3o.sig.test. 60 IN NSEC3 1 0 0 abcd  "
	    "pkt76q9rih353u9rad6vpi5utu3k7qe2 A AAAA RRSIG \n"
	    "jdp54o0me8rptjj81jpcm6cj5jdknn3o.sig.test. 60 IN RRSIG NSEC3 13 3 60 20370101000000 "
	    "20260101000000 42238 sig.test. "
	    "8N/R0uwKZTkoWLyRNBxvg1uF683HhsT9CcUVVLwCh7tXnP92VBqqPNc7dWVwFEu9yt5CtMod5ht/Q9BXC/"
	    "cMcw==\n",
	    0);
}

/* A file in the way is replaced whole; a folder that does not exist fails, and says so. */
static void replaces_atomically(void **state)
{
	char out[300], tmp[310], err[1024];
	snprintf(out, sizeof(out), "%s/keep.zone", tu_dir());
	pd_zone_t *a = load(tu_put("src.zone", "$ORIGIN k.test.\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n"
	                                       "ns A 192.0.2.1\n"),
	                    "k.test");
	tu_put("keep.zone", "garbage that is no zone file at all, and longer than the new one "
	                    "..............................................................\n");
	assert_int_equal(pd_zone_write(a, out, err, sizeof(err)), 0);
	/* No temporary file is left beside it. */
	glob_t g;
	snprintf(tmp, sizeof(tmp), "%s.tmp*", out);
	assert_int_equal(glob(tmp, 0, NULL, &g), GLOB_NOMATCH);
	globfree(&g);
	pd_zone_t *b = load(out, "k.test");
	assert_int_equal(b->record_count, 3);
	pd_zone_free(b);
	snprintf(out, sizeof(out), "%s/no/such/folder/k.zone", tu_dir());
	assert_int_equal(pd_zone_write(a, out, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no/such/folder/k.zone.tmp"));
	pd_zone_free(a);
}

/*
 * Each write has a temporary file of its own: during an upgrade two pindnsd may write the
 * same kept copy at once, and one's temporary file (here ow.zone.tmp, planted as if the
 * other were half-way through it) must be neither truncated nor renamed into place by
 * the other, as it was when every write used PATH.tmp. The copy is still 0644 (a file
 * of mkostemp() is 0600), as readable as before.
 */
static void own_temporary_file(void **state)
{
	char out[300], other[310], err[1024], buf[64] = "";
	snprintf(out, sizeof(out), "%s/ow.zone", tu_dir());
	pd_zone_t *a = load(tu_put("ow-src.zone", "$ORIGIN k.test.\n@ SOA ns hm 1 2 3 4 5\n"
	                                          "@ NS ns\nns A 192.0.2.1\n"),
	                    "k.test");
	snprintf(other, sizeof(other), "%s.tmp", out);
	tu_put("ow.zone.tmp", "the other writer's, half-way\n");
	assert_int_equal(pd_zone_write(a, out, err, sizeof(err)), 0);
	FILE *f = fopen(other, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "the other writer's, half-way\n");
	pd_zone_t *b = load(out, "k.test");
	assert_int_equal(b->record_count, 3);
	pd_zone_free(b);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	unlink(other);
	pd_zone_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(writes_every_type),   cmocka_unit_test(writes_nsec_signed),
	    cmocka_unit_test(writes_nsec3_signed), cmocka_unit_test(replaces_atomically),
	    cmocka_unit_test(own_temporary_file),
	};
	return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
