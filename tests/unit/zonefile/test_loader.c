/* Unit tests for loading zone files with ldns (src/loader.c). */
#include "testutil.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pindns/loader.h"

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/pindns-loader-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static const char *put(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

#define APEX                                                                                       \
	"$ORIGIN example.com.\n"                                                                   \
	"$TTL 300\n"                                                                               \
	"@ IN SOA ns1 hostmaster ( 2026112301 7200 3600\n"                                         \
	"        1209600 60 )\n"                                                                   \
	"  NS ns1\n"                                                                               \
	"ns1 A 192.0.2.53\n"

static int load(const char *path, const char *origin, pd_zone_t **z, char *err, size_t cap)
{
	uint8_t o[PD_NAME_MAX];
	tu_name(o, origin);
	return pd_zone_load(path, o, z, err, cap);
}

static const pd_node_t *find(const pd_zone_t *z, const char *name)
{
	uint8_t n[PD_NAME_MAX];
	size_t len = tu_name(n, name);
	return pd_zone_find(z, n, len);
}

static void loads_directives_and_types(void **state)
{
	pd_zone_t *z = NULL;
	char err[1024];
	put("hosts.inc", "www A 192.0.2.80\n"
	                 "$ORIGIN sub.example.com.\n"
	                 "deep TXT \"in sub\"\n");
	put("other.inc", "x A 192.0.2.99\n");
	const char *path =
	    put("example.com.zone", APEX "mail 600 IN MX 10 mail\n"
	                                 "$INCLUDE hosts.inc\n"
	                                 "after A 192.0.2.1 ; the origin is example.com. again\n"
	                                 "$INCLUDE other.inc other.example.com.\n"
	                                 "generic TYPE65280 \\# 4 0A000001\n"
	                                 "v6 AAAA 2001:db8::1\n"
	                                 "srv._tcp SRV 0 5 443 www\n");
	assert_int_equal(load(path, "example.com", &z, err, sizeof(err)), 0);
	assert_int_equal(z->serial, 2026112301);
	assert_int_equal(z->neg_ttl, 60);
	assert_non_null(find(z, "www.example.com"));
	assert_non_null(find(z, "deep.sub.example.com"));
	assert_non_null(find(z, "after.example.com"));
	assert_non_null(find(z, "x.other.example.com"));
	const pd_rrset_t *mx = pd_zone_rrset(z, find(z, "mail.example.com"), PD_TYPE_MX);
	assert_int_equal(mx->ttl, 600);
	const pd_rrset_t *g = pd_zone_rrset(z, find(z, "generic.example.com"), 65280);
	assert_non_null(g);
	assert_memory_equal(pd_zone_rrset_data(z, g), "\x00\x04\x0A\x00\x00\x01", 6);
	const pd_rrset_t *a = pd_zone_rrset(z, find(z, "ns1.example.com"), PD_TYPE_A);
	assert_int_equal(a->ttl, 300);
	/* Names in RDATA are stored uncompressed and absolute. */
	const uint8_t *d = pd_zone_rrset_data(z, mx);
	assert_memory_equal(d + 4, "\4mail\7example\3com\0", 18);
	pd_zone_free(z);
}

static void expect_error(const char *file, const char *text, const char *want_suffix)
{
	pd_zone_t *z = NULL;
	char err[1024], want[1024];
	const char *path = put(file, text);
	assert_true(load(path, "example.com", &z, err, sizeof(err)) < 0);
	assert_null(z);
	snprintf(want, sizeof(want), "%s/%s", dir, want_suffix);
	if (strcmp(err, want) != 0)
		fail_msg("got '%s'\nwant '%s'", err, want);
}

static void errors_have_file_and_line(void **state)
{
	/* APEX is 6 lines: the first added line is line 7. */
	expect_error("e1.zone", APEX "www A 192.0.2.1\nbad A 999.0.0.1\n",
	             "e1.zone:8: Syntax error, could not parse the RR's rdata");
	expect_error("e2.zone", APEX "www A 192.0.2.1\nwww CNAME other\n",
	             "e2.zone:8: CNAME at www.example.com. beside other data (A)");
	expect_error("e3.zone", APEX "\nwww.example.net. A 192.0.2.1\n",
	             "e3.zone:8: owner www.example.net. is outside the zone example.com.");
	expect_error("e4.zone", "$ORIGIN example.com.\n@ 300 NS ns1\n",
	             "e4.zone: no SOA record at the zone apex example.com.");
	expect_error("e5.zone",
	             "$ORIGIN example.com.\n@ 300 SOA ns1 host 1 2 3 4 5\nwww 300 A 192.0.2.1\n",
	             "e5.zone: no NS records at the zone apex example.com.");
	expect_error("e6.zone", APEX "txt CH TXT \"chaos\"\n",
	             "e6.zone:7: class CH records are not served (only IN)");
	/* An error inside an included file names that file. */
	put("broken.inc", "ok A 192.0.2.1\n\nnope AAAA not-an-address\n");
	expect_error("e7.zone", APEX "$INCLUDE broken.inc\n",
	             "broken.inc:3: Syntax error, could not parse the RR's rdata");
	char want[512];
	snprintf(want, sizeof(want),
	         "e8.zone:7: cannot read included %s/missing.inc: No such file or directory", dir);
	expect_error("e8.zone", APEX "$INCLUDE missing.inc\n", want);
}

static void include_loops_are_caught(void **state)
{
	pd_zone_t *z = NULL;
	char err[1024];
	put("loop.inc", "$INCLUDE loop.inc\n");
	const char *path = put("loop.zone", APEX "$INCLUDE loop.inc\n");
	assert_int_equal(load(path, "example.com", &z, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "loop.inc:1: $INCLUDE nested more than 8 deep"));
}

/* Large enough to be parsed on several threads (chunks of 2 MB or more). */
static const char *write_large_zone(const char *name, long hosts, const char *tail)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(APEX, f);
	for (long i = 0; i < hosts; i++) {
		if (i == hosts / 3)
			fputs("$ORIGIN sub.example.com.\n$TTL 600\n", f);
		if (i == 2 * hosts / 3) {
			fputs("$ORIGIN example.com.\n", f);
			/* A record over three lines, a comment with a parenthesis, and a
			 * line without an owner that belongs to the record before. */
			fputs("multi TXT ( \"first\" ; not ) a close\n \"second\"\n )\n", f);
			fputs("  AAAA 2001:db8::1\n", f);
		}
		fprintf(f, "h%ld A 10.%ld.%ld.%ld\n", i, (i >> 16) & 255, (i >> 8) & 255, i & 255);
	}
	fputs(tail, f);
	fclose(f);
	return path;
}

static void large_zone_parsed_in_parallel(void **state)
{
	pd_zone_t *z = NULL;
	char err[1024];
	const long hosts = 300000; /* about 6 MB */
	const char *path = write_large_zone("large.zone", hosts, "last TXT \"end\"\n");
	assert_int_equal(load(path, "example.com", &z, err, sizeof(err)), 0);
	/* apex SOA + NS + ns1 A, the hosts, multi TXT + AAAA, last TXT. */
	assert_int_equal(z->record_count, 3 + (size_t)hosts + 3);
	const pd_node_t *n = find(z, "h1.example.com");
	assert_int_equal(pd_zone_rrset(z, n, PD_TYPE_A)->ttl, 300);
	n = find(z, "h100000.sub.example.com"); /* after $ORIGIN and $TTL, a third in */
	assert_non_null(n);
	assert_int_equal(pd_zone_rrset(z, n, PD_TYPE_A)->ttl, 600);
	assert_null(find(z, "h100000.example.com"));
	n = find(z, "h200000.example.com"); /* back at the apex origin, TTL still 600 */
	assert_non_null(n);
	assert_int_equal(pd_zone_rrset(z, n, PD_TYPE_A)->ttl, 600);
	n = find(z, "multi.example.com");
	assert_non_null(n);
	assert_int_equal(pd_zone_rrset(z, n, PD_TYPE_TXT)->count, 1);
	assert_non_null(pd_zone_rrset(z, n, PD_TYPE_AAAA));
	assert_non_null(find(z, "h299999.example.com"));
	assert_non_null(find(z, "last.example.com"));
	pd_zone_free(z);
}

static void large_zone_error_line_is_exact(void **state)
{
	pd_zone_t *z = NULL;
	char err[1024], want[600];
	const long hosts = 300000;
	const char *path = write_large_zone("largebad.zone", hosts, "bad A 300.1.1.1\n");
	/* APEX 6 lines, the hosts, 2 + 5 lines put in between, then the bad one. */
	long line = 6 + hosts + 2 + 5 + 1;
	assert_true(load(path, "example.com", &z, err, sizeof(err)) < 0);
	snprintf(want, sizeof(want), "%s:%ld: Syntax error, could not parse the RR's rdata", path,
	         line);
	assert_string_equal(err, want);
}

static void missing_file_is_reported(void **state)
{
	pd_zone_t *z = NULL;
	char err[1024];
	assert_int_equal(load("/nonexistent.zone", "example.com", &z, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent.zone: No such file or directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(loads_directives_and_types),
	    cmocka_unit_test(errors_have_file_and_line),
	    cmocka_unit_test(include_loops_are_caught),
	    cmocka_unit_test(missing_file_is_reported),
	    cmocka_unit_test(large_zone_parsed_in_parallel),
	    cmocka_unit_test(large_zone_error_line_is_exact),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
