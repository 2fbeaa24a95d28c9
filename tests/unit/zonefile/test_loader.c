/* Unit tests for loading zone files with ldns (src/loader.c). */
#include "testutil.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pindns/loader.h"

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
	tu_put("hosts.inc", "www A 192.0.2.80\n"
	                    "$ORIGIN sub.example.com.\n"
	                    "deep TXT \"in sub\"\n");
	tu_put("other.inc", "x A 192.0.2.99\n");
	const char *path =
	    tu_put("example.com.zone", APEX "mail 600 IN MX 10 mail\n"
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
	const char *path = tu_put(file, text);
	assert_true(load(path, "example.com", &z, err, sizeof(err)) < 0);
	assert_null(z);
	snprintf(want, sizeof(want), "%s/%s", tu_dir(), want_suffix);
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
	tu_put("broken.inc", "ok A 192.0.2.1\n\nnope AAAA not-an-address\n");
	expect_error("e7.zone", APEX "$INCLUDE broken.inc\n",
	             "broken.inc:3: Syntax error, could not parse the RR's rdata");
	char want[512];
	snprintf(want, sizeof(want),
	         "e8.zone:7: cannot read included %s/missing.inc: No such file or directory",
	         tu_dir());
	expect_error("e8.zone", APEX "$INCLUDE missing.inc\n", want);
}

static void include_loops_are_caught(void **state)
{
	pd_zone_t *z = NULL;
	char err[1024];
	tu_put("loop.inc", "$INCLUDE loop.inc\n");
	const char *path = tu_put("loop.zone", APEX "$INCLUDE loop.inc\n");
	assert_int_equal(load(path, "example.com", &z, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "loop.inc:1: $INCLUDE nested more than 8 deep"));
}

/*
 * A zone file or $INCLUDE that is no regular file (a FIFO would block the reload forever,
 * /dev/zero would fill memory) is refused at once, with what it is.
 */
static void special_files_are_refused(void **state)
{
	pd_zone_t *z = NULL;
	char err[1024], fifo[128], want[256];
	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/pipe.inc", tu_dir());
	assert_int_equal(mkfifo(fifo, 0600), 0);
	const char *path = tu_put("fifo.zone", APEX "$INCLUDE pipe.inc\n");
	assert_true(load(path, "example.com", &z, err, sizeof(err)) < 0);
	snprintf(want, sizeof(want), "cannot read included %s: not a regular file", fifo);
	assert_non_null(strstr(err, want));
	path = tu_put("zero.zone", APEX "$INCLUDE /dev/zero\n");
	assert_true(load(path, "example.com", &z, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "cannot read included /dev/zero: not a regular file"));
	assert_true(load(fifo, "example.com", &z, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "pipe.inc: not a regular file"));
	assert_true(load(tu_dir(), "example.com", &z, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "Is a directory"));
	assert_null(z);
	unlink(fifo);
}

/*
 * Lines the fast parser takes, in the shapes zone files and signers write (relative and
 * absolute names, "@", no owner, TTL and class or not, any case), and lines it must leave
 * to ldns (units, other classes, errors it has to report as ldns would).
 */
static const char *const fast_lines[] = {
    "@\tNS\tns2",
    "\tNS ns3.example.com.",
    "  3600 IN NS @",
    "ns1 a 192.0.2.2 ; a comment",
    "NS2 600 In Aaaa 2001:DB8::1",
    "x.y.z 10 IN MX 10 mail",
    "x.y.z MX 010 .",
    "* A 192.0.2.9",
    "*.w CNAME @",
    "ptr PTR host.example.org.",
    "dn DNAME other.test.",
    "t0 0 A 192.0.2.1",
    "t1 999999999 A 192.0.2.1",
    "t2 1h A 192.0.2.1",
    "@ RRSIG A 13 2 3600 20270301000000 20261202011221 8944 example.com. "
    "kVe8zTD/RKasQSG/wBHHaiugkn1vTwfVrXizb8S8841EwUhU1zNEi9gPPHvGyvKGgImGUSSuxjvdSjAxG52hIg==",
    "@ RRSIG NS 13 2 3600 1806542083 20270231000000 8944 @ AAECAw==",
    "@ RRSIG SOA ECDSAP256SHA256 2 3600 20270301000000 20261202011221 8944 example.com. AAE=",
    "@ RRSIG TXT 8 2 3600 20270301000000 20261202011221 1 sub AAAA AA==",
};

/* A small zone as ldns-signzone writes it, NSEC3 (-n -t 0) and NSEC. */
static const char *const signed_nsec3[] = {
    "t.test.\t300\tIN\tSOA\tns1.t.test. h.t.test. 1 7200 3600 1209600 60",
    "t.test.\t300\tIN\tRRSIG\tSOA 13 2 300 20380101000000 20260101000000 3764 t.test. "
    "n2Y1AeIi/L7rL6trTa8vAa0JZdxyPv0h8fudDHVivIzNbMX5kGMupQKxF7Qa4zWzkNFcaR3PKmkrJOk7E3MUeg==",
    "t.test.\t300\tIN\tNS\tns1.t.test.",
    "t.test.\t300\tIN\tRRSIG\tNS 13 2 300 20380101000000 20260101000000 3764 t.test. "
    "pb+kAgMAlQesV0app3dkSPcMi20SlvWXGN+WasniUN9OTPXN8457w9ZEVvQLbNMZBRYM9Eru2TeUYnD2M9e+ag==",
    "t.test.\t300\tIN\tDNSKEY\t256 3 13 "
    "EZoh7OYq682NKlrYXVC48PbTqemUnt26vqjYhFrzf3V3GVWMFtWKaNA37MV0DxGUCJltKNr8JZq5wCk+ZMATmg== ;{id "
    "= 3764 (zsk), size = 256b}",
    "t.test.\t300\tIN\tDNSKEY\t257 3 13 "
    "fN7NUH4nogBzJIDkDAQL9uqUNcCQIsy8elTeeLshSSpzPhqW8XMnmUnjbih8WN+kambZ1y1BZrktFInOBeFPTQ== ;{id "
    "= 62442 (ksk), size = 256b}",
    "t.test.\t300\tIN\tRRSIG\tDNSKEY 13 2 300 20380101000000 20260101000000 62442 t.test. "
    "iP5uKPYOrAwuf3OMjgQ+XgfKZJ6z179Gt/9RrBtmE/3AEaHFNHuVlb1PbSxCma7NFskpLxsEgwdydW+wrhnoNQ==",
    "t.test.\t3600\tIN\tNSEC3PARAM\t1 0 0 - ",
    "t.test.\t3600\tIN\tRRSIG\tNSEC3PARAM 13 2 3600 20380101000000 20260101000000 3764 t.test. "
    "t9SwBxjYpTjHWzqc+HWJBnjkKWX3s0zxdA+q3j2CXzl799LMmmJbqWoUzPeV7bxpVocI0E+vW79Dd4wHvoot7A==",
    "i1n1oa323bv8vrfqoig21lgdnrsn06vv.t.test.\t60\tIN\tNSEC3\t1 0 0 -  "
    "r302lj26im1ogmmblic3dvh6t120dmft NS SOA RRSIG DNSKEY NSEC3PARAM ",
    "i1n1oa323bv8vrfqoig21lgdnrsn06vv.t.test.\t60\tIN\tRRSIG\tNSEC3 13 3 60 20380101000000 "
    "20260101000000 3764 t.test. "
    "jeV4HgmSJ/ig9cDORZ1yk3A9X9HNMLDFFBnLxWzFgEy53W3Ir/w9JCMXOZqhp5nZrmntiy1rh4xh5xJCiw/RYQ==",
    "r302lj26im1ogmmblic3dvh6t120dmft.t.test.\t60\tIN\tNSEC3\t1 0 0 -  "
    "41b97oj248bvmvbb5uc2k5jc1aqkpjhs",
    "r302lj26im1ogmmblic3dvh6t120dmft.t.test.\t60\tIN\tRRSIG\tNSEC3 13 3 60 20380101000000 "
    "20260101000000 3764 t.test. "
    "1lPNGLY273h5kfOrZGAt7Ba3JTR4QutxNQidPlG5D01O2nBDSg6CBVal+420Rv5wfl9nRugTZr2KqkvFiEZMUg==",
    "a.b.t.test.\t300\tIN\tMX\t10 www.t.test.",
    "a.b.t.test.\t300\tIN\tRRSIG\tMX 13 4 300 20380101000000 20260101000000 3764 t.test. "
    "/dm3sICNlJ7b1uklzULGcJpDVhMUrz904fApb+U8U/AmtM2/kWXCQKc3S9C/jEYeQ1P8+7o5nAhYLAseH6uEnw==",
    "41b97oj248bvmvbb5uc2k5jc1aqkpjhs.t.test.\t60\tIN\tNSEC3\t1 0 0 -  "
    "68apvgp52embnac8qaa6vg50cvr1udc9 MX RRSIG ",
    "41b97oj248bvmvbb5uc2k5jc1aqkpjhs.t.test.\t60\tIN\tRRSIG\tNSEC3 13 3 60 20380101000000 "
    "20260101000000 3764 t.test. "
    "VG9JyV/1BLH6kam9IbeglgOLB8Pucgp8Ns1joJkPpwSVqmvAFDrRrFabsqEhWnlmrYZTr9jYo9/t0GKWt6HDIg==",
    "ns1.t.test.\t300\tIN\tA\t192.0.2.1",
    "ns1.t.test.\t300\tIN\tRRSIG\tA 13 3 300 20380101000000 20260101000000 3764 t.test. "
    "NfmX9Kr8+63ZT012DrUq7ws+8VYfo/9DgWRGTLoiiF8tN40aPx0MFCXC5F40c1qpWNBaj2sDlpxqpYFzXgzkTA==",
    "8niiu0bjgile24kejo10i7ugclnaubi0.t.test.\t60\tIN\tNSEC3\t1 0 0 -  "
    "b51frqft7rvnigrghp2ml2v60enud8kh A RRSIG ",
    "8niiu0bjgile24kejo10i7ugclnaubi0.t.test.\t60\tIN\tRRSIG\tNSEC3 13 3 60 20380101000000 "
    "20260101000000 3764 t.test. "
    "UL+hkoeOylk2+Fr5HOxLnEkjmPS4LcVTki4njPtRMVplNVLm+/flZjS0GX5pzX3p97cQguOBcwn7QAB8cwG/0g==",
    "sub.t.test.\t300\tIN\tNS\tns.sub.t.test.",
    "b51frqft7rvnigrghp2ml2v60enud8kh.t.test.\t60\tIN\tNSEC3\t1 0 0 -  "
    "i1n1oa323bv8vrfqoig21lgdnrsn06vv NS ",
    "b51frqft7rvnigrghp2ml2v60enud8kh.t.test.\t60\tIN\tRRSIG\tNSEC3 13 3 60 20380101000000 "
    "20260101000000 3764 t.test. "
    "0ekVqhJ7irkOv1GRSz5LpBXdLu72o8vAPCALesWKv3FTYk1gpVIv65cdXfwTivGKIMo0AmPeJYhtltGL4091Fw==",
    "ns.sub.t.test.\t300\tIN\tA\t192.0.2.3",
    "www.t.test.\t300\tIN\tA\t192.0.2.2",
    "www.t.test.\t300\tIN\tRRSIG\tA 13 3 300 20380101000000 20260101000000 3764 t.test. "
    "ANMOeLUMGeqGYO4AGNpIFhXcnpUF5GmPoVjCqVaRH2oGvTaiPgs55pD7lpZFtUqHy9KQKu0lD3JUiAFlVoYm1Q==",
    "www.t.test.\t300\tIN\tAAAA\t2001:db8::2",
    "www.t.test.\t300\tIN\tRRSIG\tAAAA 13 3 300 20380101000000 20260101000000 3764 t.test. "
    "COC7OkFaKCEffcR58bcdL0y4tu9owHkP29Rs7A2ggqJMhk4NNMIj4y65l/3TmNp7WsLrdH6pDF0QaKAAwjjZAA==",
    "68apvgp52embnac8qaa6vg50cvr1udc9.t.test.\t60\tIN\tNSEC3\t1 0 0 -  "
    "8niiu0bjgile24kejo10i7ugclnaubi0 A AAAA RRSIG ",
    "68apvgp52embnac8qaa6vg50cvr1udc9.t.test.\t60\tIN\tRRSIG\tNSEC3 13 3 60 20380101000000 "
    "20260101000000 3764 t.test. "
    "6eEFnmG1i3IzaNip1ZpGs98Mn+uNohvk0X/v7c2fOa1OpHZOCXp6n6fG5RW1wcUqwDP0aWY7oIzwXsS4cpyChA==",
};

static const char *const signed_nsec[] = {
    "t.test.\t300\tIN\tSOA\tns1.t.test. h.t.test. 1 7200 3600 1209600 60",
    "t.test.\t300\tIN\tRRSIG\tSOA 13 2 300 20380101000000 20260101000000 3764 t.test. "
    "9RdBqZpOHdCGkJdtldMp3Q/4uLu5+/x9WmQNg+thlDaqwLY/A5wqtSLHOL6akuWEwmevtzkLV4rGEfLXdW8jKQ==",
    "t.test.\t300\tIN\tNS\tns1.t.test.",
    "t.test.\t300\tIN\tRRSIG\tNS 13 2 300 20380101000000 20260101000000 3764 t.test. "
    "k5HKjxIcFo4AMt1q1jI5ugCBFWyAh0rHqZ++7HpR8oJoZBXGzycvBdc8DeXo20xpJme4tR7sQ3pzyqJZP9iniA==",
    "t.test.\t300\tIN\tDNSKEY\t256 3 13 "
    "EZoh7OYq682NKlrYXVC48PbTqemUnt26vqjYhFrzf3V3GVWMFtWKaNA37MV0DxGUCJltKNr8JZq5wCk+ZMATmg== ;{id "
    "= 3764 (zsk), size = 256b}",
    "t.test.\t300\tIN\tDNSKEY\t257 3 13 "
    "fN7NUH4nogBzJIDkDAQL9uqUNcCQIsy8elTeeLshSSpzPhqW8XMnmUnjbih8WN+kambZ1y1BZrktFInOBeFPTQ== ;{id "
    "= 62442 (ksk), size = 256b}",
    "t.test.\t300\tIN\tRRSIG\tDNSKEY 13 2 300 20380101000000 20260101000000 62442 t.test. "
    "ltSDNH7DPlJSE361e4wd1Da9TgRgjVezhThR02/p5C7MIJOjcuReaf8bwVFFwwrA1jA3odDGgVjOFV835HCuoQ==",
    "t.test.\t60\tIN\tNSEC\ta.b.t.test. NS SOA RRSIG NSEC DNSKEY ",
    "t.test.\t60\tIN\tRRSIG\tNSEC 13 2 60 20380101000000 20260101000000 3764 t.test. "
    "JNkVuiCXuWezfZRGTApnzB1i9q4jVYgepQr9CGsjy5jsTpMQ8IWeKnfTzYB1nduhip5oASJ14LcWorNvFQXykQ==",
    "a.b.t.test.\t300\tIN\tMX\t10 www.t.test.",
    "a.b.t.test.\t300\tIN\tRRSIG\tMX 13 4 300 20380101000000 20260101000000 3764 t.test. "
    "YMVDT8xcIAXvGWTeaaUwEcyYWX34sUwUGKGEsla0tYoDiB2ZW543uZULTx1cM5cb3fHNRXYHEtG6DB1942zjIw==",
    "a.b.t.test.\t60\tIN\tNSEC\tns1.t.test. MX RRSIG NSEC ",
    "a.b.t.test.\t60\tIN\tRRSIG\tNSEC 13 4 60 20380101000000 20260101000000 3764 t.test. "
    "mOatvtA54a94areeOqrWMLHA3dd5laRoaEdY+ACW7HiP/RJVMZBlvSv6HiB4dtzgPbOCsEzoVAWAIl8KZkenPQ==",
    "ns1.t.test.\t300\tIN\tA\t192.0.2.1",
    "ns1.t.test.\t300\tIN\tRRSIG\tA 13 3 300 20380101000000 20260101000000 3764 t.test. "
    "nkR47/hPZsdd3aRBmYZmzAHD8ULodzNH+36rcKS8yFENgPj5ZEfiv/erA8DVMPj4Q4cmaDxItKXXLyjkz5dp0Q==",
    "ns1.t.test.\t60\tIN\tNSEC\tsub.t.test. A RRSIG NSEC ",
    "ns1.t.test.\t60\tIN\tRRSIG\tNSEC 13 3 60 20380101000000 20260101000000 3764 t.test. "
    "q2HlPlGshH7AdKbji9xjwL6O4beJoan+mZcS5C7mHzUOaEDOicmuQ/kbQwR7GOX8wScAzPjt45Q18tsN3Xu2IQ==",
    "sub.t.test.\t300\tIN\tNS\tns.sub.t.test.",
    "sub.t.test.\t60\tIN\tNSEC\twww.t.test. NS RRSIG NSEC ",
    "sub.t.test.\t60\tIN\tRRSIG\tNSEC 13 3 60 20380101000000 20260101000000 3764 t.test. "
    "rQkB6dXl8LsCD8pD9sBwWnCSKxDbNbW0b+wBmy3Kt/zeus2c5tj0v4BceCVVkE8q4vEJCPwgcjW661a5+BQOVg==",
    "ns.sub.t.test.\t300\tIN\tA\t192.0.2.3",
    "www.t.test.\t300\tIN\tA\t192.0.2.2",
    "www.t.test.\t300\tIN\tRRSIG\tA 13 3 300 20380101000000 20260101000000 3764 t.test. "
    "X7gODQY3nlWxnLtm72TjCFzxtNU0hGICtPZTQffzxeEKkAOCJLgfCIzpKPIM5KbEK2Gss+vipJ05pSFyyXMonw==",
    "www.t.test.\t300\tIN\tAAAA\t2001:db8::2",
    "www.t.test.\t300\tIN\tRRSIG\tAAAA 13 3 300 20380101000000 20260101000000 3764 t.test. "
    "Y++NLoPrnxuNAnjDRmCknIo9oBFFbQ0MtJJWoSLQgmAjZaOA49nWsTnsFzq/pEiPs4xlaqs1U8pKDQUJEGLGaw==",
    "www.t.test.\t60\tIN\tNSEC\tt.test. A AAAA RRSIG NSEC ",
    "www.t.test.\t60\tIN\tRRSIG\tNSEC 13 3 60 20380101000000 20260101000000 3764 t.test. "
    "J4Mww9soHbiEyL1ZO3LRBMlxhPIQDjAMzVZvTjZJKD9NsmSS1CFRtj32XMbyNLRi0/Apq1irV0KnbN3EQbzTYg==",
};

/* head, then the lines as written or, wrapped, with each record put in parentheses. */
static const char *write_lines(const char *name, const char *head, const char *const *lines,
                               size_t n, bool wrapped)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tu_dir(), name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(head, f);
	for (size_t i = 0; i < n; i++) {
		const char *semi = strchr(lines[i], ';');
		int len = semi ? (int)(semi - lines[i]) : (int)strlen(lines[i]);
		/* Parentheses send a record to ldns; they change nothing else. */
		fprintf(f, wrapped ? "%.*s ( )%s\n" : "%.*s%s\n", len, lines[i], semi ? semi : "");
	}
	fclose(f);
	return path;
}

/*
 * Loads the lines as written (the fast parser takes them) and wrapped (ldns reads them)
 * and wants the same zone; returns the first for more checks.
 */
static pd_zone_t *load_both_ways(const char *origin, const char *head, const char *const *lines,
                                 size_t n)
{
	pd_zone_t *fast = NULL, *slow = NULL;
	char err[1024];
	if (load(write_lines("fast.zone", head, lines, n, false), origin, &fast, err, sizeof(err)) <
	        0 ||
	    load(write_lines("slow.zone", head, lines, n, true), origin, &slow, err, sizeof(err)) <
	        0)
		fail_msg("%s", err);
	assert_int_equal(fast->record_count, slow->record_count);
	assert_int_equal(fast->node_count, slow->node_count);
	assert_int_equal(fast->rrset_count, slow->rrset_count);
	assert_int_equal(fast->names_len, slow->names_len);
	assert_int_equal(fast->data_len, slow->data_len);
	assert_memory_equal(fast->nodes, slow->nodes, fast->node_count * sizeof(*fast->nodes));
	assert_memory_equal(fast->rrsets, slow->rrsets, fast->rrset_count * sizeof(*fast->rrsets));
	assert_memory_equal(fast->names, slow->names, fast->names_len);
	assert_memory_equal(fast->data, slow->data, fast->data_len);
	pd_zone_free(slow);
	return fast;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void fast_lines_read_as_ldns_reads_them(void **state)
{
	pd_zone_t *z = load_both_ways("example.com", APEX, fast_lines, COUNT(fast_lines));
	/* Spot checks that both read what the lines say. */
	const pd_rrset_t *rs = pd_zone_rrset(z, find(z, "t0.example.com"), PD_TYPE_A);
	assert_int_equal(rs->ttl, 0);
	rs = pd_zone_rrset(z, find(z, "t2.example.com"), PD_TYPE_A);
	assert_int_equal(rs->ttl, 3600);
	rs = pd_zone_rrset(z, find(z, "example.com"), PD_TYPE_NS);
	assert_int_equal(rs->count, 4); /* ns1, ns2, ns3 and @ */
	rs = pd_zone_rrset(z, find(z, "x.y.z.example.com"), PD_TYPE_MX);
	assert_int_equal(rs->count, 2);
	pd_zone_free(z);
	/* Signed zones: RRSIG, NSEC, NSEC3, and the DNSKEY and NSEC3PARAM lines ldns reads. */
	pd_zone_free(load_both_ways("t.test", "", signed_nsec3, COUNT(signed_nsec3)));
	z = load_both_ways("t.test", "", signed_nsec, COUNT(signed_nsec));
	assert_non_null(pd_zone_rrset(z, find(z, "www.t.test"), PD_TYPE_NSEC));
	pd_zone_free(z);
}

static void fast_lines_errors_are_ldns_errors(void **state)
{
	/* The fast parser leaves these to ldns, which reports them with their line. */
	expect_error("f1.zone", APEX "a A 192.0.2.1\nb A 192.0.2\n",
	             "f1.zone:8: Syntax error, could not parse the RR's rdata");
	expect_error("f2.zone", APEX "a A 192.0.2.1\n\nb AAAA 2001:db8::g\n",
	             "f2.zone:9: Syntax error, could not parse the RR's rdata");
	expect_error("f3.zone", APEX "a..b A 192.0.2.1\n",
	             "f3.zone:7: Syntax error, could not parse the RR");
	expect_error("f4.zone", APEX "a CH A 192.0.2.1\n",
	             "f4.zone:7: class CH records are not served (only IN)");
	/* A next hash of 31 base32hex digits leaves 3 bits over: ldns refuses it. */
	expect_error("f5.zone",
	             APEX "a A 192.0.2.1\nb NSEC3 1 0 0 - onku906pmtgck84gq73v7ljbodaali8 A\n",
	             "f5.zone:8: Syntax error, could not parse the RR's rdata");
	/*
	 * ldns splits names at some control characters: lines with them are its to read.
	 * (It stops before this line's newline and so names the line before: its count.)
	 */
	pd_zone_t *z = NULL;
	char err[1024];
	assert_true(load(tu_put("f6.zone", APEX "a\vb A 192.0.2.1\n"), "example.com", &z, err,
	                 sizeof(err)) < 0);
	assert_non_null(strstr(err, "could not parse the RR's TTL"));
}

/*
 * Where the fast parser stops short of ldns's own limits and skips: a type word too long
 * for ldns's buffer is refused as ldns refuses it, and the form feed, vertical tab or
 * carriage return ldns skips after a line is skipped after a fast line too.
 */
static void fast_lines_end_where_ldns_lines_end(void **state)
{
	pd_zone_t *z = NULL;
	char err[1024];
	assert_true(load(tu_put("g1.zone", APEX "w 300 TYPE000000000001 192.0.2.1\n"),
	                 "example.com", &z, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "g1.zone:7:"));
	static const char *const seps[] = {"\f", "\v", "\r", "\n\f\r"};
	for (int i = 0; i < 4; i++) {
		char text[512], name[16];
		snprintf(text, sizeof(text), APEX "a A 192.0.2.1\n%sb A 192.0.2.2\nc A 192.0.2.3\n",
		         seps[i]);
		snprintf(name, sizeof(name), "g%d.zone", i + 2);
		assert_int_equal(load(tu_put(name, text), "example.com", &z, err, sizeof(err)), 0);
		assert_non_null(find(z, "b.example.com"));
		assert_non_null(find(z, "c.example.com"));
		assert_int_equal(z->record_count, 6);
		pd_zone_free(z);
	}
	/* The line numbers after them stay right: an error on the line after. */
	expect_error("g6.zone", APEX "a A 192.0.2.1\n\fb A 192.0.2.2\n\nc A 192.0.2\n",
	             "g6.zone:10: Syntax error, could not parse the RR's rdata");
}

/* A large zone with directives and a multi-line record part of the way in. */
static const char *write_large_zone(const char *name, long hosts, const char *tail)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tu_dir(), name);
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

static void large_zone_loads(void **state)
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

/*
 * Signed zones: hand-made NSEC chain and RRSIGs, since only the RRSIG time fields matter
 * to the check (nothing verifies the signatures). Every RRset is signed to expire at
 * FAR, but for the SOA's, which expires at soa_exp; lines as numbered.
 */
#define NOW 1780272000 /* 2026-06-01 00:00:00 UTC */
#define DAY 86400
#define FAR "20300101000000"
#define SIG(type, exp) " RRSIG " type " 8 2 300 " exp " 20260101000000 12345 example.com. AAAA\n"

static const char *put_signed(const char *name, const char *soa_exp)
{
	char text[4096];
	snprintf(text, sizeof(text),
	         APEX                                      /* lines 1-6 */
	         "@ DNSKEY 257 3 8 AwEAAQ==\n"             /* 7 */
	         "@ NSEC ns1 SOA NS RRSIG NSEC DNSKEY\n"   /* 8 */
	         "ns1 NSEC @ A RRSIG NSEC\n"               /* 9 */
	         "@" SIG("SOA", "%s")                      /* 10 */
	         "@" SIG("NS", FAR) "@" SIG("DNSKEY", FAR) /* 11, 12 */
	         "@" SIG("NSEC", FAR)                      /* 13 */
	         "ns1 RRSIG A 8 3 300 " FAR " 20260101000000 12345 example.com. AAAA\n"
	         "ns1 RRSIG NSEC 8 3 300 " FAR " 20260101000000 12345 example.com. AAAA\n",
	         soa_exp);
	return tu_put(name, text);
}

/* The warnings a load gives, one per line, as the loader passes them on. */
typedef struct {
	char text[8192];
	int calls;
} warnings_t;

static void collect(void *arg, const char *line)
{
	warnings_t *w = arg;
	size_t len = strlen(w->text);
	snprintf(w->text + len, sizeof(w->text) - len, "%s\n", line);
	w->calls++;
}

static int load_checked(const char *path, uint32_t window, pd_zone_t **z, warnings_t *w,
                        unsigned *count)
{
	uint8_t o[PD_NAME_MAX];
	char err[1024];
	tu_name(o, "example.com");
	memset(w, 0, sizeof(*w));
	pd_zone_load_opts_t opts = {
	    .sig_warn_secs = window, .now = NOW, .warn = collect, .warn_arg = w};
	int ret = pd_zone_load_ex(path, o, z, err, sizeof(err), &opts);
	if (ret < 0)
		fail_msg("%s", err);
	*count = opts.warnings;
	return ret;
}

static void expired_signature_warns_and_loads(void **state)
{
	pd_zone_t *z = NULL;
	warnings_t w;
	unsigned count;
	char want[512], when[64];
	int64_t at;
	const char *path = put_signed("expired.zone", "20260520000000");
	assert_int_equal(load_checked(path, 7 * DAY, &z, &w, &count), 0);
	assert_non_null(z); /* served all the same, so it can be re-signed meanwhile */
	assert_int_equal(z->dnssec, PD_ZONE_NSEC);
	assert_string_equal(pd_zone_dnssec_str(z), "NSEC");
	assert_int_equal(count, 1);
	assert_int_equal(w.calls, 1);
	snprintf(want, sizeof(want), "%s:10: warning: ", path);
	if (strncmp(w.text, want, strlen(want)) != 0 || !strstr(w.text, "expired"))
		fail_msg("got '%s', want '%s...expired...'", w.text, want);
	/* The earliest expiry is the SOA's, read around now. */
	assert_true(pd_zone_sig_expiry(z, NOW, &at, when, sizeof(when)));
	assert_int_equal(at, NOW - 12 * DAY);
	assert_string_equal(when, "2026-05-20 00:00:00 UTC");
	pd_zone_free(z);
}

static void expiry_window(void **state)
{
	pd_zone_t *z = NULL;
	warnings_t w;
	unsigned count;
	char want[512];
	const char *path = put_signed("soon.zone", "20260603120000"); /* in 2.5 days */
	assert_int_equal(load_checked(path, 7 * DAY, &z, &w, &count), 0);
	assert_int_equal(count, 1);
	snprintf(want, sizeof(want), "%s:10: warning: ", path);
	if (strncmp(w.text, want, strlen(want)) != 0 || strstr(w.text, "expired"))
		fail_msg("got '%s', want '%s' and an expiry to come", w.text, want);
	pd_zone_free(z);
	assert_int_equal(load_checked(path, 2 * DAY, &z, &w, &count), 0);
	assert_int_equal(count, 0); /* outside the window */
	assert_int_equal(w.calls, 0);
	pd_zone_free(z);
	assert_int_equal(load_checked(path, 3 * DAY, &z, &w, &count), 0);
	assert_int_equal(count, 1);
	pd_zone_free(z);
	/* Window 0 turns the check off: not even an expired signature warns. */
	path = put_signed("off.zone", "20200101000000");
	assert_int_equal(load_checked(path, 0, &z, &w, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(z->dnssec, PD_ZONE_NSEC);
	pd_zone_free(z);
	/* Nor does pd_zone_load(), which looks at no signature time. */
	char err[1024];
	assert_int_equal(load(path, "example.com", &z, err, sizeof(err)), 0);
	pd_zone_free(z);
}

/* Past PD_ZONE_WARN_MAX warnings, one line says how many more there were. */
static void many_warnings_are_counted(void **state)
{
	pd_zone_t *z = NULL;
	warnings_t w;
	unsigned count;
	char text[8192], want[512], next[16];
	const int hosts = PD_ZONE_WARN_MAX + 4;
	size_t n = (size_t)snprintf(text, sizeof(text),
	                            APEX "@ NSEC h10 SOA NS RRSIG NSEC\n"
	                                 "ns1 NSEC @ A RRSIG NSEC\n");
	/* h10, h11 ...: canonical order is the text order, and ns1 comes after them. Line
	 * 11 + 3i holds the expired RRSIG of host i. */
	for (int i = 0; i < hosts; i++) {
		snprintf(next, sizeof(next), i + 1 < hosts ? "h%d" : "ns1", 11 + i);
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		                      "h%d A 192.0.2.%d\n"
		                      "h%d NSEC %s A RRSIG NSEC\n"
		                      "h%d RRSIG A 8 3 300 20260501000000 20260101000000 1 "
		                      "example.com. AAAA\n",
		                      10 + i, i, 10 + i, next, 10 + i);
		assert_true(n < sizeof(text));
	}
	const char *path = tu_put("many.zone", text);
	assert_int_equal(load_checked(path, 7 * DAY, &z, &w, &count), 0);
	assert_int_equal(count, (unsigned)hosts);
	assert_int_equal(w.calls, PD_ZONE_WARN_MAX + 1);
	snprintf(want, sizeof(want), "\n%s: ... and 4 more warnings\n", path);
	if (!strstr(w.text, want))
		fail_msg("got '%s', want a last line '%s'", w.text, want + 1);
	/* The kept ones name the lines of RRSIG records, in file order. */
	const char *p = w.text;
	int last = 0;
	for (int k = 0; k < PD_ZONE_WARN_MAX; k++) {
		int line = 0, at = 0;
		snprintf(want, sizeof(want), "%s:%%d: warning: RRSIG %%n", path);
		if (sscanf(p, want, &line, &at) != 1 || at == 0 || (line - 11) % 3 != 0 ||
		    line <= last || line > 11 + 3 * (hosts - 1))
			fail_msg("warning %d: got '%s'", k, p);
		last = line;
		p = strchr(p, '\n') + 1;
	}
	pd_zone_free(z);
}

/* A warning about a record of an included file names that file and its line. */
static void warning_in_included_file(void **state)
{
	pd_zone_t *z = NULL;
	warnings_t w;
	unsigned count;
	char want[512];
	tu_put("sigs.inc", "\n@" SIG("SOA", "20260520000000"));
	const char *path = tu_put("inc.zone", APEX "@ NSEC ns1 SOA NS RRSIG NSEC\n"
	                                           "ns1 NSEC @ A RRSIG NSEC\n"
	                                           "$INCLUDE sigs.inc\n");
	assert_int_equal(load_checked(path, 7 * DAY, &z, &w, &count), 0);
	assert_int_equal(count, 1);
	snprintf(want, sizeof(want), "%s/sigs.inc:2: warning: ", tu_dir());
	if (strncmp(w.text, want, strlen(want)) != 0)
		fail_msg("got '%s', want '%s...'", w.text, want);
	pd_zone_free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(loads_directives_and_types),
	    cmocka_unit_test(errors_have_file_and_line),
	    cmocka_unit_test(include_loops_are_caught),
	    cmocka_unit_test(special_files_are_refused),
	    cmocka_unit_test(missing_file_is_reported),
	    cmocka_unit_test(fast_lines_read_as_ldns_reads_them),
	    cmocka_unit_test(fast_lines_errors_are_ldns_errors),
	    cmocka_unit_test(fast_lines_end_where_ldns_lines_end),
	    cmocka_unit_test(large_zone_loads),
	    cmocka_unit_test(large_zone_error_line_is_exact),
	    cmocka_unit_test(expired_signature_warns_and_loads),
	    cmocka_unit_test(expiry_window),
	    cmocka_unit_test(many_warnings_are_counted),
	    cmocka_unit_test(warning_in_included_file),
	};
	return cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
}
