/* Unit tests for the transfer configuration's lookups (daemon/xfr_acl.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "pindns/xfrconf.h"

static pd_tsig_key_t keys[2];
static pd_xfr_conf_t conf = {.keys = keys, .nkeys = 2};

static void set_key(pd_tsig_key_t *k, const char *name, uint8_t fill)
{
	memset(k, 0, sizeof(*k));
	k->name_len = (uint8_t)pd_name_from_str(k->name, name);
	pd_name_lower(k->name, k->name);
	k->alg = PD_TSIG_HMAC_SHA256;
	k->secret_len = 32;
	memset(k->secret, fill, 32);
}

static int setup(void **state)
{
	(void)state;
	set_key(&keys[0], "xfr.key", 1);
	set_key(&keys[1], "other.KEY.", 2);
	return 0;
}

static pd_xfr_rule_t rule(const char *addr, uint8_t prefix, const pd_tsig_key_t *key)
{
	pd_xfr_rule_t r = {.prefix = prefix, .key = key};
	r.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(r.family, addr, r.addr), 1);
	return r;
}

/* A peer address as the engine gives it. */
static const struct sockaddr *peer(struct sockaddr_storage *ss, const char *addr)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(40000);
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(40000);
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

static bool allows(const pd_xfr_acl_t *acl, const char *addr, const pd_tsig_key_t *key)
{
	struct sockaddr_storage ss;
	return pd_xfr_acl_allows(acl, peer(&ss, addr), key);
}

static void keys_are_found_by_name_in_any_case(void **state)
{
	(void)state;
	assert_ptr_equal(pd_xfr_key_find(&conf, "xfr.key"), &keys[0]);
	assert_ptr_equal(pd_xfr_key_find(&conf, "XFR.Key."), &keys[0]);
	assert_ptr_equal(pd_xfr_key_find(&conf, "other.key"), &keys[1]);
	assert_null(pd_xfr_key_find(&conf, "xfr"));
	assert_null(pd_xfr_key_find(&conf, "key"));
	assert_null(pd_xfr_key_find(&conf, "a..b"));
	pd_xfr_conf_t none = {0};
	assert_null(pd_xfr_key_find(&none, "xfr.key"));
}

static void prefixes_match_their_bits(void **state)
{
	(void)state;
	pd_xfr_rule_t r[] = {rule("192.0.2.0", 24, NULL), rule("198.51.100.16", 28, NULL),
	                     rule("2001:db8::", 32, NULL), rule("203.0.113.7", 32, NULL)};
	pd_xfr_acl_t acl = {.rules = r, .n = 4};
	assert_true(allows(&acl, "192.0.2.1", NULL));
	assert_true(allows(&acl, "192.0.2.255", NULL));
	assert_false(allows(&acl, "192.0.3.1", NULL));
	assert_true(allows(&acl, "198.51.100.16", NULL));
	assert_true(allows(&acl, "198.51.100.31", NULL));
	assert_false(allows(&acl, "198.51.100.32", NULL));
	assert_false(allows(&acl, "198.51.100.15", NULL));
	assert_true(allows(&acl, "203.0.113.7", NULL));
	assert_false(allows(&acl, "203.0.113.6", NULL));
	assert_true(allows(&acl, "2001:db8:1::5", NULL));
	assert_false(allows(&acl, "2001:db9::1", NULL));
	/* IPv4-mapped IPv6 is the IPv4 address; an IPv6 rule never matches an IPv4 one. */
	assert_true(allows(&acl, "::ffff:192.0.2.9", NULL));
	assert_false(allows(&acl, "::ffff:192.0.3.9", NULL));
	pd_xfr_rule_t v6all = rule("::", 0, NULL);
	pd_xfr_acl_t six = {.rules = &v6all, .n = 1};
	assert_false(allows(&six, "192.0.2.1", NULL));
	assert_true(allows(&six, "::1", NULL));
	pd_xfr_rule_t v4all = rule("0.0.0.0", 0, NULL);
	pd_xfr_acl_t four = {.rules = &v4all, .n = 1};
	assert_true(allows(&four, "127.0.0.1", NULL));
	assert_true(allows(&four, "::ffff:127.0.0.1", NULL));
	assert_false(allows(&four, "::1", NULL));
	/* Empty: nobody. */
	pd_xfr_acl_t empty = {0};
	assert_false(allows(&empty, "127.0.0.1", NULL));
	/* A family no rule names. */
	struct sockaddr_storage ss = {.ss_family = AF_UNIX};
	assert_false(pd_xfr_acl_allows(&four, (const struct sockaddr *)&ss, NULL));
}

static void keyed_rules_want_their_key(void **state)
{
	(void)state;
	pd_xfr_rule_t r[] = {rule("127.0.0.0", 8, &keys[0]), rule("10.0.0.0", 8, NULL)};
	pd_xfr_acl_t acl = {.rules = r, .n = 2};
	assert_true(allows(&acl, "127.0.0.1", &keys[0]));
	assert_false(allows(&acl, "127.0.0.1", NULL));
	assert_false(allows(&acl, "127.0.0.1", &keys[1]));
	/* A copy of the key is the key; a copy with another secret is not. */
	pd_tsig_key_t copy = keys[0];
	assert_true(allows(&acl, "127.0.0.1", &copy));
	copy.secret[0] ^= 1;
	assert_false(allows(&acl, "127.0.0.1", &copy));
	/* Without a key in the rule, signed or not is fine. */
	assert_true(allows(&acl, "10.1.2.3", NULL));
	assert_true(allows(&acl, "10.1.2.3", &keys[1]));
	/* Any rule letting it in is enough: the second one, when the first wants a key. */
	pd_xfr_rule_t both[] = {rule("127.0.0.1", 32, &keys[0]), rule("127.0.0.1", 32, &keys[1])};
	pd_xfr_acl_t two = {.rules = both, .n = 2};
	assert_true(allows(&two, "127.0.0.1", &keys[1]));
	assert_false(allows(&two, "127.0.0.2", &keys[1]));
}

static void secondaries_are_found_by_origin(void **state)
{
	(void)state;
	pd_xfr_secondary_t sec[2] = {{.origin = "example.com"}, {.origin = "Example.NET"}};
	pd_name_from_str(sec[0].wire, "example.com");
	pd_name_from_str(sec[1].wire, "example.net");
	pd_xfr_conf_t c = {.secondaries = sec, .nsecondaries = 2};
	uint8_t w[PD_NAME_MAX];
	pd_name_from_str(w, "example.net");
	assert_ptr_equal(pd_xfr_secondary_find(&c, w), &sec[1]);
	pd_name_from_str(w, "example.com");
	assert_ptr_equal(pd_xfr_secondary_find(&c, w), &sec[0]);
	pd_name_from_str(w, "www.example.com");
	assert_null(pd_xfr_secondary_find(&c, w));
	pd_name_from_str(w, "com");
	assert_null(pd_xfr_secondary_find(&c, w));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(keys_are_found_by_name_in_any_case),
	    cmocka_unit_test(prefixes_match_their_bits),
	    cmocka_unit_test(keyed_rules_want_their_key),
	    cmocka_unit_test(secondaries_are_found_by_origin),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
